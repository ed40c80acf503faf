/* kernels_lowbit_avx2.c — AVX2 dot products for the low-bit and codebook
 * weight types: Q2_K, Q3_K, IQ4_XS (Q8_K activations), IQ4_NL and MXFP4
 * (Q8_0 activations). Kept apart from kernels_avx2.c so each file stays
 * readable; wf_kernels_fill_avx2 installs these through
 * wf_kernels_fill_lowbit_avx2.
 *
 * The integer part of every block is exact (as in kernels_scalar.c); only
 * the order of the float accumulation differs. The gemm walks one weight
 * row against 4 tokens at a time, decoding the row's codes and scales once
 * for all of them (prefill, verification), with vec_dot's operations per
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

#define WF_AI_ROW static inline __attribute__((always_inline))

/* The super-block types take one weight row against CB (1..4) Q8_K
 * activation rows (as_ bytes apart): the row's codes and sub-block scales
 * are decoded once per 32 elements and serve every activation row, and each
 * row's accumulators see exactly the operations of the one-row case, which
 * is vec_dot; so a gemm column is bit-identical to vec_dot at any width. */

WF_AI_ROW void xs_row(const int CB, int64_t nsb, const wf_block_iq4_xs *x, const uint8_t *a, size_t as_, float *out,
                      size_t os) {
    const __m256i lut = lut16(wf_iq4nl_values);
    __m256 acc[4];
    for (int c = 0; c < CB; c++) acc[c] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nsb; i++) {
        prefetch_lines(x + i, (int)sizeof *x);
        __m256i sumi[4];
        for (int c = 0; c < CB; c++) sumi[c] = _mm256_setzero_si256();
        for (int j = 0; j < 8; j++) {
            const int ls = (((x[i].scales_l[j / 2] >> (4 * (j % 2))) & 0x0f) | ((x[i].scales_h >> (2 * j)) & 3) << 4) - 32;
            const __m256i q = _mm256_shuffle_epi8(lut, unpack_nibbles(x[i].qs + 16 * j));
            const __m256i qa = _mm256_sign_epi8(q, q), lsv = _mm256_set1_epi16((int16_t)ls);
            for (int c = 0; c < CB; c++) {
                const wf_block_q8_K *y = (const wf_block_q8_K *)(a + (size_t)c * as_) + i;
                const __m256i ys = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)(y->qs + 32 * j)), q);
                sumi[c] = _mm256_add_epi32(sumi[c], _mm256_madd_epi16(_mm256_maddubs_epi16(qa, ys), lsv));
            }
        }
        const float dw = fp16(x[i].d);
        for (int c = 0; c < CB; c++) {
            const wf_block_q8_K *y = (const wf_block_q8_K *)(a + (size_t)c * as_) + i;
            acc[c] = _mm256_fmadd_ps(_mm256_set1_ps(dw * y->d), _mm256_cvtepi32_ps(sumi[c]), acc[c]);
        }
    }
    for (int c = 0; c < CB; c++) out[(size_t)c * os] = hsum_ps(acc[c]);
}

/* Scales of the two 16-element sub-blocks of a 32-byte vector: low 128-bit
 * lane lo, high lane hi, as int16 (for madd). */
static inline __m256i scale_pair(int lo, int hi) {
    return _mm256_set_m128i(_mm_set1_epi16((int16_t)hi), _mm_set1_epi16((int16_t)lo));
}

/* The 16 six-bit Q3_K scales minus 32, as int16. */
static inline void q3_scales(const uint8_t s[12], int16_t out[16]) {
    for (int j = 0; j < 16; j++) {
        const int lo = j < 8 ? s[j] & 0x0f : s[j - 8] >> 4;
        out[j] = (int16_t)((lo | ((s[8 + j % 4] >> (2 * (j / 4))) & 3) << 4) - 32);
    }
}

/* Q2_K / Q3_K. Per half h and quarter j, the 32 elements 128h + 32j + l are
 * the 2-bit fields at bit 2j of qs[32h + l]: sub-blocks 8h + 2j (l < 16)
 * and +1. Q2_K: codes 0..3, the min term sum_s m_s * bsums[s] per row;
 * Q3_K: q = low 2 bits | third bit << 2 in 0..7, value (q - 4): the -4 is
 * applied once per super-block through the bsums, as Q6_K's -32. */
WF_AI_ROW void k23_row(const int CB, const bool q3, int64_t nsb, const uint8_t *w, const uint8_t *a, size_t as_,
                       float *out, size_t os) {
    const __m256i m3 = _mm256_set1_epi8(3), m1 = _mm256_set1_epi8(1);
    __m256 acc[4], accm[4];
    for (int c = 0; c < CB; c++) acc[c] = _mm256_setzero_ps(), accm[c] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nsb; i++) {
        /* only the row's own type is dereferenced (q3 is a constant) */
        const uint8_t *blk = w + (size_t)i * (q3 ? sizeof(wf_block_q3_K) : sizeof(wf_block_q2_K));
        prefetch_lines(blk, q3 ? (int)sizeof(wf_block_q3_K) : (int)sizeof(wf_block_q2_K));
        const wf_block_q2_K *x2 = (const wf_block_q2_K *)blk;
        const wf_block_q3_K *x3 = (const wf_block_q3_K *)blk;
        int16_t sc[16];
        if (q3) q3_scales(x3->scales, sc);
        else
            for (int s = 0; s < 16; s++) sc[s] = (int16_t)(x2->scales[s] & 0x0f);
        const __m256i hm = q3 ? _mm256_loadu_si256((const __m256i *)x3->hmask) : _mm256_setzero_si256();
        __m256i sumi[4];
        for (int c = 0; c < CB; c++) sumi[c] = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const __m256i qv = _mm256_loadu_si256((const __m256i *)((q3 ? x3->qs : x2->qs) + 32 * h));
            for (int j = 0; j < 4; j++) {
                __m256i q = _mm256_and_si256(_mm256_srli_epi16(qv, 2 * j), m3);
                if (q3) q = _mm256_or_si256(q, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hm, 4 * h + j), m1), 2));
                const int s = 8 * h + 2 * j;
                const __m256i sp = scale_pair(sc[s], sc[s + 1]);
                for (int c = 0; c < CB; c++) {
                    const wf_block_q8_K *y = (const wf_block_q8_K *)(a + (size_t)c * as_) + i;
                    const __m256i p = _mm256_maddubs_epi16(q, _mm256_loadu_si256((const __m256i *)(y->qs + 128 * h + 32 * j)));
                    sumi[c] = _mm256_add_epi32(sumi[c], _mm256_madd_epi16(p, sp));
                }
            }
        }
        /* Q2_K: the mins (high nibbles); Q3_K: the scales, for the -4 */
        const __m256i mv = q3 ? _mm256_loadu_si256((const __m256i *)sc)
                              : _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(_mm_loadu_si128((const __m128i *)x2->scales), 4),
                                                                   _mm_set1_epi8(0x0f)));
        const float dw = fp16(q3 ? x3->d : x2->d);
        for (int c = 0; c < CB; c++) {
            const wf_block_q8_K *y = (const wf_block_q8_K *)(a + (size_t)c * as_) + i;
            const __m256i t = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)y->bsums), mv);
            if (q3) sumi[c] = _mm256_sub_epi32(sumi[c], _mm256_slli_epi32(t, 2));
            else accm[c] = _mm256_fmadd_ps(_mm256_set1_ps(fp16(x2->dmin) * y->d), _mm256_cvtepi32_ps(t), accm[c]);
            acc[c] = _mm256_fmadd_ps(_mm256_set1_ps(dw * y->d), _mm256_cvtepi32_ps(sumi[c]), acc[c]);
        }
    }
    for (int c = 0; c < CB; c++) out[(size_t)c * os] = q3 ? hsum_ps(acc[c]) : hsum_ps(acc[c]) - hsum_ps(accm[c]);
}

/* w: nr rows ws bytes apart; a: nc q8_K rows as bytes apart; out[c*os + r]:
 * rows outer, tokens in groups of 4 (kind: 0 IQ4_XS, 2 Q2_K, 3 Q3_K). */
WF_AI_ROW void sb_row(const int kind, const int CB, int64_t nsb, const uint8_t *wr, const uint8_t *ac, size_t as,
                      float *oc, size_t os) {
    if (kind == 0) xs_row(CB, nsb, (const wf_block_iq4_xs *)(const void *)wr, ac, as, oc, os);
    else k23_row(CB, kind == 3, nsb, wr, ac, as, oc, os);
}

WF_AI_ROW void sb_gemm(const int kind, int64_t n, int nr, int nc, const void *w, size_t ws, const void *a, size_t as,
                       float *out, size_t os) {
    const int64_t nsb = n / WF_QK_K;
    for (int r = 0; r < nr; r++) {
        const uint8_t *wr = (const uint8_t *)w + (size_t)r * ws;
        int c = 0;
        for (; c + 4 <= nc; c += 4) sb_row(kind, 4, nsb, wr, (const uint8_t *)a + (size_t)c * as, as, out + (size_t)c * os + r, os);
        const uint8_t *ac = (const uint8_t *)a + (size_t)c * as;
        float *oc = out + (size_t)c * os + r;
        switch (nc - c) {
        case 3: sb_row(kind, 3, nsb, wr, ac, as, oc, os); break;
        case 2: sb_row(kind, 2, nsb, wr, ac, as, oc, os); break;
        case 1: sb_row(kind, 1, nsb, wr, ac, as, oc, os); break;
        default: break;
        }
    }
}

static void gemm_iq4_xs(int64_t n, int nr, int nc, const void *w, size_t ws, const void *a, size_t as, float *out,
                        size_t os) {
    sb_gemm(0, n, nr, nc, w, ws, a, as, out, os);
}
static void gemm_q2_K(int64_t n, int nr, int nc, const void *w, size_t ws, const void *a, size_t as, float *out,
                      size_t os) {
    sb_gemm(2, n, nr, nc, w, ws, a, as, out, os);
}
static void gemm_q3_K(int64_t n, int nr, int nc, const void *w, size_t ws, const void *a, size_t as, float *out,
                      size_t os) {
    sb_gemm(3, n, nr, nc, w, ws, a, as, out, os);
}

/* w: (n/256) blocks; a: (n/256) q8_K blocks */
static void vec_dot_iq4_xs(int64_t n, float *out, const void *w, const void *a) {
    xs_row(1, n / WF_QK_K, w, a, 0, out, 1);
}
static void vec_dot_q2_K(int64_t n, float *out, const void *w, const void *a) {
    k23_row(1, false, n / WF_QK_K, w, a, 0, out, 1);
}
static void vec_dot_q3_K(int64_t n, float *out, const void *w, const void *a) {
    k23_row(1, true, n / WF_QK_K, w, a, 0, out, 1);
}

void wf_kernels_fill_lowbit_avx2(wf_kernels *k) {
#define SET(T, t) (k->vec_dot[T] = vec_dot_##t, k->gemm[T] = gemm_##t)
    SET(WF_TYPE_Q2_K, q2_K);
    SET(WF_TYPE_Q3_K, q3_K);
    SET(WF_TYPE_IQ4_NL, iq4_nl);
    SET(WF_TYPE_IQ4_XS, iq4_xs);
    SET(WF_TYPE_MXFP4, mxfp4);
#undef SET
}
