/* kernels_lowbit_avx2.c — AVX2 dot products for the low-bit and codebook
 * weight types: Q2_K, Q3_K, IQ4_XS (Q8_K activations), IQ4_NL and MXFP4
 * (Q8_0 activations). Kept apart from kernels_avx2.c so each file stays
 * readable; wf_kernels_fill_avx2 installs these through
 * wf_kernels_fill_lowbit_avx2.
 *
 * The integer part of every block is exact (as in kernels_scalar.c); only
 * the order of the float accumulation differs. The gemm is one dot per
 * (row, token) pair for the super-block types, and for IQ4_NL / MXFP4 one
 * weight row against 4 tokens at a time with vec_dot's operations per
 * column, so any batch width computes each column exactly as a one-column
 * call (gemm_exact stays WF_GEMM_EXACT_ANY).
 *
 * Codebook types look their 16 levels up with PSHUFB. Activations must not
 * hold -128 (the sign trick; wafer's quantizers produce [-127, 127]). */
#include "cpu/kernels.h"

#include <immintrin.h>

static inline float hsum_ps(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline float fp16(uint16_t h) { return _cvtsh_ss(h); }

/* Software prefetch this far ahead in the weight row: streaming from DRAM,
 * the hardware prefetchers alone left the one-token rate at about half of
 * what it reaches with it (bench_kernels). Always inlined: as a call, GCC
 * finds the function free of side effects and drops it. */
enum { PF_DIST = 2048 };

static inline __attribute__((always_inline)) void prefetch_lines(const void *p, int bytes) {
    for (int o = 0; o < bytes; o += 64) _mm_prefetch((const char *)p + PF_DIST + o, _MM_HINT_T0);
}

/* 16 bytes of packed nibbles -> 32 codes: low nibbles first, then high. */
static inline __m256i unpack_nibbles(const uint8_t *qs) {
    const __m128i t = _mm_loadu_si128((const __m128i *)qs);
    const __m256i v = _mm256_set_m128i(_mm_srli_epi16(t, 4), t);
    return _mm256_and_si256(v, _mm256_set1_epi8(0x0f));
}

/* Signed x (|x| <= 127) times signed y (no -128), pairs summed to int16:
 * |x| is unsigned, the sign moves onto y. */
static inline __m256i madd_s8(__m256i x, __m256i y) {
    return _mm256_maddubs_epi16(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}

static inline __m256i lut16(const int8_t values[16]) {
    return _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)values));
}

/* ---- 32-element codebook blocks × Q8_0 ---------------------------------- */

/* w: (n/32) iq4_nl blocks; a: (n/32) q8_0 blocks */
static void vec_dot_iq4_nl(int64_t n, float *out, const void *w, const void *a) {
    const wf_block_iq4_nl *x = w;
    const wf_block_q8_0 *y = a;
    const __m256i lut = lut16(wf_iq4nl_values), one = _mm256_set1_epi16(1);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / WF_QK4_NL; i++) {
        if (i % 4 == 0) prefetch_lines(x + i, 64);
        const __m256i q = _mm256_shuffle_epi8(lut, unpack_nibbles(x[i].qs));
        const __m256i p = _mm256_madd_epi16(madd_s8(q, _mm256_loadu_si256((const __m256i *)y[i].qs)), one);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(fp16(x[i].d) * fp16(y[i].d)), _mm256_cvtepi32_ps(p), acc);
    }
    *out = hsum_ps(acc);
}

/* w: (n/32) mxfp4 blocks; a: (n/32) q8_0 blocks */
static void vec_dot_mxfp4(int64_t n, float *out, const void *w, const void *a) {
    const wf_block_mxfp4 *x = w;
    const wf_block_q8_0 *y = a;
    const __m256i lut = lut16(wf_mxfp4_values), one = _mm256_set1_epi16(1);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / WF_QK_MXFP4; i++) {
        if (i % 4 == 0) prefetch_lines(x + i, 64);
        const __m256i q = _mm256_shuffle_epi8(lut, unpack_nibbles(x[i].qs));
        const __m256i p = _mm256_madd_epi16(madd_s8(q, _mm256_loadu_si256((const __m256i *)y[i].qs)), one);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(wf_e8m0_half(x[i].e) * fp16(y[i].d)), _mm256_cvtepi32_ps(p), acc);
    }
    *out = hsum_ps(acc);
}

/* One weight row of 32-element codebook blocks (IQ4_NL: fp16 d; MXFP4:
 * E8M0 e) against CB (1..4) Q8_0 activation rows as_ bytes apart: the row's
 * levels, their magnitudes and its scale are decoded once per block and
 * serve every activation row, and each row's accumulator sees exactly
 * vec_dot's operations, so a gemm column is bit-identical to vec_dot. */
static inline __attribute__((always_inline)) void nl32_row(const int CB, const bool mx, int64_t nb, const uint8_t *w,
                                                          const uint8_t *a, size_t as_, float *out, size_t os,
                                                          __m256i lut) {
    const size_t wsz = mx ? sizeof(wf_block_mxfp4) : sizeof(wf_block_iq4_nl);
    const __m256i one = _mm256_set1_epi16(1);
    __m256 acc[4];
    for (int c = 0; c < CB; c++) acc[c] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *b = w + (size_t)i * wsz;
        if (i % 4 == 0) prefetch_lines(b, 64);
        const __m256i q = _mm256_shuffle_epi8(lut, unpack_nibbles(b + (mx ? 1 : 2)));
        const __m256i qa = _mm256_sign_epi8(q, q);
        const float dw = mx ? wf_e8m0_half(b[0]) : fp16((uint16_t)(b[0] | b[1] << 8));
        for (int c = 0; c < CB; c++) {
            const wf_block_q8_0 *y = (const wf_block_q8_0 *)(a + (size_t)c * as_) + i;
            const __m256i ys = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)y->qs), q);
            const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(qa, ys), one);
            acc[c] = _mm256_fmadd_ps(_mm256_set1_ps(dw * fp16(y->d)), _mm256_cvtepi32_ps(p), acc[c]);
        }
    }
    for (int c = 0; c < CB; c++) out[(size_t)c * os] = hsum_ps(acc[c]);
}

/* w: nr rows ws bytes apart; a: nc q8_0 rows as bytes apart; out[c*os + r]:
 * rows outer, tokens in groups of 4. */
static inline __attribute__((always_inline)) void nl32_gemm(const bool mx, int64_t n, int nr, int nc, const void *w,
                                                           size_t ws, const void *a, size_t as, float *out,
                                                           size_t os) {
    const int64_t nb = n / 32;
    const __m256i lut = lut16(mx ? wf_mxfp4_values : wf_iq4nl_values);
    for (int r = 0; r < nr; r++) {
        const uint8_t *wr = (const uint8_t *)w + (size_t)r * ws;
        int c = 0;
        for (; c + 4 <= nc; c += 4)
            nl32_row(4, mx, nb, wr, (const uint8_t *)a + (size_t)c * as, as, out + (size_t)c * os + r, os, lut);
        const uint8_t *ac = (const uint8_t *)a + (size_t)c * as;
        float *oc = out + (size_t)c * os + r;
        switch (nc - c) {
        case 3: nl32_row(3, mx, nb, wr, ac, as, oc, os, lut); break;
        case 2: nl32_row(2, mx, nb, wr, ac, as, oc, os, lut); break;
        case 1: nl32_row(1, mx, nb, wr, ac, as, oc, os, lut); break;
        default: break;
        }
    }
}

static void gemm_iq4_nl(int64_t n, int nr, int nc, const void *w, size_t ws, const void *a, size_t as, float *out,
                        size_t os) {
    nl32_gemm(false, n, nr, nc, w, ws, a, as, out, os);
}

static void gemm_mxfp4(int64_t n, int nr, int nc, const void *w, size_t ws, const void *a, size_t as, float *out,
                       size_t os) {
    nl32_gemm(true, n, nr, nc, w, ws, a, as, out, os);
}

/* ---- 256-element super-blocks × Q8_K ------------------------------------ */

/* w: (n/256) iq4_xs blocks; a: (n/256) q8_K blocks */
static void vec_dot_iq4_xs(int64_t n, float *out, const void *w, const void *a) {
    const wf_block_iq4_xs *x = w;
    const wf_block_q8_K *y = a;
    const __m256i lut = lut16(wf_iq4nl_values);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / WF_QK_K; i++) {
        prefetch_lines(x + i, (int)sizeof *x);
        __m256i sumi = _mm256_setzero_si256();
        for (int j = 0; j < 8; j++) {
            const int ls = (((x[i].scales_l[j / 2] >> (4 * (j % 2))) & 0x0f) | ((x[i].scales_h >> (2 * j)) & 3) << 4) - 32;
            const __m256i q = _mm256_shuffle_epi8(lut, unpack_nibbles(x[i].qs + 16 * j));
            const __m256i p = madd_s8(q, _mm256_loadu_si256((const __m256i *)(y[i].qs + 32 * j)));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, _mm256_set1_epi16((int16_t)ls)));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(fp16(x[i].d) * y[i].d), _mm256_cvtepi32_ps(sumi), acc);
    }
    *out = hsum_ps(acc);
}

/* Scales of the two 16-element sub-blocks of a 32-byte vector: low 128-bit
 * lane lo, high lane hi, as int16 (for madd). */
static inline __m256i scale_pair(int lo, int hi) {
    return _mm256_set_m128i(_mm_set1_epi16((int16_t)hi), _mm_set1_epi16((int16_t)lo));
}

/* Per half h and quarter j, the 32 elements 128h + 32j + l are the 2-bit
 * fields at bit 2j of qs[32h + l]: sub-blocks 8h + 2j (l < 16) and +1. */
/* w: (n/256) q2_K blocks; a: (n/256) q8_K blocks */
static void vec_dot_q2_K(int64_t n, float *out, const void *w, const void *a) {
    const wf_block_q2_K *x = w;
    const wf_block_q8_K *y = a;
    const __m256i m3 = _mm256_set1_epi8(3);
    __m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / WF_QK_K; i++) {
        prefetch_lines(x + i, (int)sizeof *x);
        const uint8_t *sc = x[i].scales;
        __m256i sumi = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const __m256i qv = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * h));
            for (int j = 0; j < 4; j++) {
                const __m256i q = _mm256_and_si256(_mm256_srli_epi16(qv, 2 * j), m3);
                const __m256i p = _mm256_maddubs_epi16(q, _mm256_loadu_si256((const __m256i *)(y[i].qs + 128 * h + 32 * j)));
                const int s = 8 * h + 2 * j;
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, scale_pair(sc[s] & 0x0f, sc[s + 1] & 0x0f)));
            }
        }
        /* min term: sum_s m_s * bsums[s] */
        const __m128i s16 = _mm_loadu_si128((const __m128i *)sc);
        const __m256i mv = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(s16, 4), _mm_set1_epi8(0x0f)));
        const __m256i msum = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)y[i].bsums), mv);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(fp16(x[i].d) * y[i].d), _mm256_cvtepi32_ps(sumi), acc);
        accm = _mm256_fmadd_ps(_mm256_set1_ps(fp16(x[i].dmin) * y[i].d), _mm256_cvtepi32_ps(msum), accm);
    }
    *out = hsum_ps(acc) - hsum_ps(accm);
}

/* The 16 six-bit Q3_K scales minus 32, as int16. */
static inline void q3_scales(const uint8_t s[12], int16_t out[16]) {
    for (int j = 0; j < 16; j++) {
        const int lo = j < 8 ? s[j] & 0x0f : s[j - 8] >> 4;
        out[j] = (int16_t)((lo | ((s[8 + j % 4] >> (2 * (j / 4))) & 3) << 4) - 32);
    }
}

/* q = low 2 bits | third bit << 2 in 0..7, value (q - 4): the -4 is applied
 * once per super-block through the bsums, as Q6_K's -32. */
/* w: (n/256) q3_K blocks; a: (n/256) q8_K blocks */
static void vec_dot_q3_K(int64_t n, float *out, const void *w, const void *a) {
    const wf_block_q3_K *x = w;
    const wf_block_q8_K *y = a;
    const __m256i m3 = _mm256_set1_epi8(3), m1 = _mm256_set1_epi8(1);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / WF_QK_K; i++) {
        prefetch_lines(x + i, (int)sizeof *x);
        int16_t sc[16];
        q3_scales(x[i].scales, sc);
        const __m256i hm = _mm256_loadu_si256((const __m256i *)x[i].hmask);
        __m256i sumi = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const __m256i qv = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * h));
            for (int j = 0; j < 4; j++) {
                const __m256i hb = _mm256_and_si256(_mm256_srli_epi16(hm, 4 * h + j), m1);
                const __m256i q = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qv, 2 * j), m3),
                                                  _mm256_slli_epi16(hb, 2));
                const __m256i p = _mm256_maddubs_epi16(q, _mm256_loadu_si256((const __m256i *)(y[i].qs + 128 * h + 32 * j)));
                const int s = 8 * h + 2 * j;
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, scale_pair(sc[s], sc[s + 1])));
            }
        }
        const __m256i corr = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)y[i].bsums),
                                               _mm256_loadu_si256((const __m256i *)sc));
        sumi = _mm256_sub_epi32(sumi, _mm256_slli_epi32(corr, 2));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(fp16(x[i].d) * y[i].d), _mm256_cvtepi32_ps(sumi), acc);
    }
    *out = hsum_ps(acc);
}

/* ---- gemm: one dot per (weight row, activation row) pair, rows in groups
 * of 4 so a group's weights stay in L1 while the activation rows pass. */
#define WF_LOWBIT_GEMM(t)                                                                              \
    static void gemm_##t(int64_t n, int nr, int nc, const void *w, size_t ws, const void *a, size_t as, \
                         float *out, size_t os) {                                                      \
        const char *wb = w, *ab = a;                                                                   \
        for (int r0 = 0; r0 < nr; r0 += 4)                                                             \
            for (int c = 0; c < nc; c++)                                                               \
                for (int r = r0; r < nr && r < r0 + 4; r++)                                            \
                    vec_dot_##t(n, &out[(size_t)c * os + (size_t)r], wb + (size_t)r * ws,              \
                                ab + (size_t)c * as);                                                  \
    }
WF_LOWBIT_GEMM(q2_K) WF_LOWBIT_GEMM(q3_K) WF_LOWBIT_GEMM(iq4_xs)
#undef WF_LOWBIT_GEMM

void wf_kernels_fill_lowbit_avx2(wf_kernels *k) {
#define SET(T, t) (k->vec_dot[T] = vec_dot_##t, k->gemm[T] = gemm_##t)
    SET(WF_TYPE_Q2_K, q2_K);
    SET(WF_TYPE_Q3_K, q3_K);
    SET(WF_TYPE_IQ4_NL, iq4_nl);
    SET(WF_TYPE_IQ4_XS, iq4_xs);
    SET(WF_TYPE_MXFP4, mxfp4);
#undef SET
}
