/* kernels_lowbit_avx512.c — AVX-512 (F/BW/VL + VNNI) dot products for the
 * low-bit and codebook weight types: Q2_K, Q3_K, IQ4_XS (Q8_K activations),
 * IQ4_NL and MXFP4 (Q8_0 activations). wf_kernels_fill_avx512 installs them
 * through wf_kernels_fill_lowbit_avx512.
 *
 * Every 64 elements take one VPDPBUSD (unsigned weight codes × signed
 * activations). The codebook types look up the level magnitudes with
 * VPSHUFB and move the level's sign onto the activation (a masked negate),
 * so any level works; the K-quants' codes are unsigned already and their
 * offsets (Q3_K's -4) go through the activation's bsums. Sub-block scales
 * multiply the exact dword sums in integers, so every super-block's integer
 * total is exact, as in kernels_scalar.c; only the order of the float
 * accumulation differs. The gemm is one dot per (row, token) pair: any
 * batch width computes each column exactly as a one-column call. */
#include "cpu/kernels.h"

#include <immintrin.h>

static inline float fp16(uint16_t h) { return _cvtsh_ss(h); }

/* Two blocks' 16 bytes of packed nibbles -> 64 codes in element order:
 * block 0's low nibbles (elements 0..15), high nibbles (16..31), then block 1's. */
static inline __m512i unpack_nibbles2(const uint8_t *qs0, const uint8_t *qs1) {
    const __m256i t = _mm256_set_m128i(_mm_loadu_si128((const __m128i *)qs1), _mm_loadu_si128((const __m128i *)qs0));
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    const __m256i lo = _mm256_and_si256(t, m4), hi = _mm256_and_si256(_mm256_srli_epi16(t, 4), m4);
    /* 128-bit lanes [lo0, lo1, hi0, hi1] -> [lo0, hi0, lo1, hi1] */
    const __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
    return _mm512_shuffle_i64x2(z, z, _MM_SHUFFLE(3, 1, 2, 0));
}

/* One block's 16 bytes -> 32 codes (low nibbles, then high). */
static inline __m256i unpack_nibbles(const uint8_t *qs) {
    const __m128i t = _mm_loadu_si128((const __m128i *)qs);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(t, 4), t), _mm256_set1_epi8(0x0f));
}

/* The magnitudes of the 16 levels (for VPSHUFB in every lane) and, per
 * level, 0xff where it is negative. Constants: building them per call cost
 * more than the dot itself on short rows. test_kernels checks them against
 * wf_iq4nl_values / wf_mxfp4_values through the scalar reference. */
static const int8_t iq4nl_mag[16] = {127, 104, 83, 65, 49, 35, 22, 10, 1, 13, 25, 38, 53, 69, 89, 113};
static const int8_t iq4nl_neg[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
static const int8_t mxfp4_mag[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, 1, 2, 3, 4, 6, 8, 12};
static const int8_t mxfp4_neg[16] = {0, 0, 0, 0, 0, 0, 0, 0, -1, -1, -1, -1, -1, -1, -1, -1};

typedef struct lut_abs { __m512i mag; } lut_abs;

static inline __m512i lut_load(const int8_t t[16]) {
    return _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)t));
}

/* sum over byte lanes of level(code) * y, as 16 dword partial sums: |level|
 * unsigned, the level's sign applied to y (y must not hold -128). */
static inline __m512i dot_lut(__m512i acc, __m512i codes, __m512i y, __m512i mag, __m512i signs) {
    const __mmask64 negm = _mm512_movepi8_mask(_mm512_shuffle_epi8(signs, codes));
    const __m512i ys = _mm512_mask_sub_epi8(y, negm, _mm512_setzero_si512(), y);
    return _mm512_dpbusd_epi32(acc, _mm512_shuffle_epi8(mag, codes), ys);
}

static inline __m256i dot_lut256(__m256i acc, __m256i codes, __m256i y, __m512i mag, __m512i signs) {
    const __mmask32 negm = _mm256_movepi8_mask(_mm256_shuffle_epi8(_mm512_castsi512_si256(signs), codes));
    const __m256i ys = _mm256_mask_sub_epi8(y, negm, _mm256_setzero_si256(), y);
    return _mm256_dpbusd_epi32(acc, _mm256_shuffle_epi8(_mm512_castsi512_si256(mag), codes), ys);
}

/* 32-element codebook blocks × Q8_0, two blocks per ZMM; a lone last block
 * in a YMM. Block scales: wf_e8m0_half(e) (MXFP4) or fp16 d (IQ4_NL). */
static inline __attribute__((always_inline)) void dot_nl32(int64_t nb, float *out, const uint8_t *w, size_t wsz,
                                                          const wf_block_q8_0 *y, const int8_t mag_t[16],
                                                          const int8_t neg_t[16], bool mx) {
    const lut_abs l = {lut_load(mag_t)};
    const __m512i signs = lut_load(neg_t);
    __m512 acc = _mm512_setzero_ps();
    int64_t i = 0;
#define WSCALE(p) (mx ? wf_e8m0_half((p)[0]) : fp16((uint16_t)((p)[0] | (p)[1] << 8)))
#define WQS(p) ((p) + (mx ? 1 : 2))
    for (; i + 2 <= nb; i += 2) {
        const uint8_t *b0 = w + (size_t)i * wsz, *b1 = b0 + wsz;
        const __m512i codes = unpack_nibbles2(WQS(b0), WQS(b1));
        const __m512i yv = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)y[i].qs)),
                                              _mm256_loadu_si256((const __m256i *)y[i + 1].qs), 1);
        const __m512i p = dot_lut(_mm512_setzero_si512(), codes, yv, l.mag, signs);
        const __m512 sc = _mm512_insertf32x8(_mm512_set1_ps(WSCALE(b0) * fp16(y[i].d)),
                                             _mm256_set1_ps(WSCALE(b1) * fp16(y[i + 1].d)), 1);
        acc = _mm512_fmadd_ps(sc, _mm512_cvtepi32_ps(p), acc);
    }
    float sum = _mm512_reduce_add_ps(acc);
    if (i < nb) {
        const uint8_t *b0 = w + (size_t)i * wsz;
        const __m256i p = dot_lut256(_mm256_setzero_si256(), unpack_nibbles(WQS(b0)),
                                     _mm256_loadu_si256((const __m256i *)y[i].qs), l.mag, signs);
        const __m256 v = _mm256_mul_ps(_mm256_set1_ps(WSCALE(b0) * fp16(y[i].d)), _mm256_cvtepi32_ps(p));
        __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        sum += _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
    }
#undef WSCALE
#undef WQS
    *out = sum;
}

/* w: (n/32) iq4_nl blocks; a: (n/32) q8_0 blocks */
static void vec_dot_iq4_nl(int64_t n, float *out, const void *w, const void *a) {
    dot_nl32(n / WF_QK4_NL, out, w, sizeof(wf_block_iq4_nl), a, iq4nl_mag, iq4nl_neg, false);
}

/* w: (n/32) mxfp4 blocks; a: (n/32) q8_0 blocks */
static void vec_dot_mxfp4(int64_t n, float *out, const void *w, const void *a) {
    dot_nl32(n / WF_QK_MXFP4, out, w, sizeof(wf_block_mxfp4), a, mxfp4_mag, mxfp4_neg, true);
}

/* ---- 256-element super-blocks × Q8_K ------------------------------------ */

/* 16 dwords, 4 per sub-block s0..s0+3 (int32 scales), times those scales. */
static inline __m512i scale4(__m512i p, const int32_t sc[4]) {
    const __m512i s = _mm512_permutexvar_epi32(_mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3),
                                               _mm512_castsi128_si512(_mm_setr_epi32(sc[0], sc[1], sc[2], sc[3])));
    return _mm512_mullo_epi32(p, s);
}

/* w: (n/256) iq4_xs blocks; a: (n/256) q8_K blocks */
static void vec_dot_iq4_xs(int64_t n, float *out, const void *w, const void *a) {
    const wf_block_iq4_xs *x = w;
    const wf_block_q8_K *y = a;
    const lut_abs l = {lut_load(iq4nl_mag)};
    const __m512i signs = lut_load(iq4nl_neg);
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < n / WF_QK_K; i++) {
        __m512i sumi = _mm512_setzero_si512();
        for (int j = 0; j < 8; j += 2) { /* sub-blocks j, j+1: 8 dwords each */
            int32_t sc[4];
            for (int k = 0; k < 2; k++) {
                const int jj = j + k;
                sc[2 * k] = sc[2 * k + 1] =
                    (((x[i].scales_l[jj / 2] >> (4 * (jj % 2))) & 0x0f) | ((x[i].scales_h >> (2 * jj)) & 3) << 4) - 32;
            }
            const __m512i codes = unpack_nibbles2(x[i].qs + 16 * j, x[i].qs + 16 * j + 16);
            const __m512i p = dot_lut(_mm512_setzero_si512(), codes,
                                      _mm512_loadu_si512((const void *)(y[i].qs + 32 * j)), l.mag, signs);
            sumi = _mm512_add_epi32(sumi, scale4(p, sc));
        }
        acc = _mm512_fmadd_ps(_mm512_set1_ps(fp16(x[i].d) * y[i].d), _mm512_cvtepi32_ps(sumi), acc);
    }
    *out = _mm512_reduce_add_ps(acc);
}

/* The 2-bit fields at bit 2j and 2j+2 of 32 bytes: elements 128h + 32j + l
 * and 128h + 32(j+1) + l, i.e. 64 elements in order (sub-blocks 8h+2j..+3). */
static inline __m512i two_bit_pair(__m256i qv, int j) {
    const __m256i m3 = _mm256_set1_epi8(3);
    const __m256i a = _mm256_and_si256(_mm256_srli_epi16(qv, 2 * j), m3);
    const __m256i b = _mm256_and_si256(_mm256_srli_epi16(qv, 2 * j + 2), m3);
    return _mm512_inserti64x4(_mm512_castsi256_si512(a), b, 1);
}

/* w: (n/256) q2_K blocks; a: (n/256) q8_K blocks */
static void vec_dot_q2_K(int64_t n, float *out, const void *w, const void *a) {
    const wf_block_q2_K *x = w;
    const wf_block_q8_K *y = a;
    __m512 acc = _mm512_setzero_ps();
    float summ = 0.0f;
    for (int64_t i = 0; i < n / WF_QK_K; i++) {
        const uint8_t *scb = x[i].scales;
        __m512i sumi = _mm512_setzero_si512();
        for (int h = 0; h < 2; h++) {
            const __m256i qv = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * h));
            for (int j = 0; j < 4; j += 2) {
                const int s0 = 8 * h + 2 * j;
                const int32_t sc[4] = {scb[s0] & 0x0f, scb[s0 + 1] & 0x0f, scb[s0 + 2] & 0x0f, scb[s0 + 3] & 0x0f};
                const __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), two_bit_pair(qv, j),
                                                      _mm512_loadu_si512((const void *)(y[i].qs + 128 * h + 32 * j)));
                sumi = _mm512_add_epi32(sumi, scale4(p, sc));
            }
        }
        /* min term: sum_s m_s * bsums[s] (exact in int32) */
        const __m256i mv = _mm256_cvtepu8_epi16(
            _mm_and_si128(_mm_srli_epi16(_mm_loadu_si128((const __m128i *)scb), 4), _mm_set1_epi8(0x0f)));
        const __m256i msum = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)y[i].bsums), mv);
        acc = _mm512_fmadd_ps(_mm512_set1_ps(fp16(x[i].d) * y[i].d), _mm512_cvtepi32_ps(sumi), acc);
        __m128i m4 = _mm_add_epi32(_mm256_castsi256_si128(msum), _mm256_extracti128_si256(msum, 1));
        m4 = _mm_add_epi32(m4, _mm_shuffle_epi32(m4, 0x4e));
        m4 = _mm_add_epi32(m4, _mm_shuffle_epi32(m4, 0xb1));
        summ += fp16(x[i].dmin) * y[i].d * (float)_mm_cvtsi128_si32(m4);
    }
    *out = _mm512_reduce_add_ps(acc) - summ;
}

/* w: (n/256) q3_K blocks; a: (n/256) q8_K blocks */
static void vec_dot_q3_K(int64_t n, float *out, const void *w, const void *a) {
    const wf_block_q3_K *x = w;
    const wf_block_q8_K *y = a;
    const __m256i m1 = _mm256_set1_epi8(1);
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < n / WF_QK_K; i++) {
        int32_t sc[16];
        int16_t sc16[16];
        for (int s = 0; s < 16; s++) {
            const uint8_t *b = x[i].scales;
            const int lo = s < 8 ? b[s] & 0x0f : b[s - 8] >> 4;
            sc[s] = (lo | ((b[8 + s % 4] >> (2 * (s / 4))) & 3) << 4) - 32;
            sc16[s] = (int16_t)sc[s];
        }
        const __m256i hm = _mm256_loadu_si256((const __m256i *)x[i].hmask);
        __m512i sumi = _mm512_setzero_si512();
        for (int h = 0; h < 2; h++) {
            const __m256i qv = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * h));
            for (int j = 0; j < 4; j += 2) {
                const __m256i h0 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hm, 4 * h + j), m1), 2);
                const __m256i h1 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hm, 4 * h + j + 1), m1), 2);
                const __m512i q = _mm512_or_si512(two_bit_pair(qv, j),
                                                  _mm512_inserti64x4(_mm512_castsi256_si512(h0), h1, 1));
                const __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q,
                                                      _mm512_loadu_si512((const void *)(y[i].qs + 128 * h + 32 * j)));
                sumi = _mm512_add_epi32(sumi, scale4(p, sc + 8 * h + 2 * j));
            }
        }
        /* the -4 offset: 4 * sum_s sc_s * bsums[s], once per super-block */
        const __m256i corr = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)y[i].bsums),
                                               _mm256_loadu_si256((const __m256i *)sc16));
        sumi = _mm512_sub_epi32(sumi, _mm512_zextsi256_si512(_mm256_slli_epi32(corr, 2)));
        acc = _mm512_fmadd_ps(_mm512_set1_ps(fp16(x[i].d) * y[i].d), _mm512_cvtepi32_ps(sumi), acc);
    }
    *out = _mm512_reduce_add_ps(acc);
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
WF_LOWBIT_GEMM(q2_K) WF_LOWBIT_GEMM(q3_K) WF_LOWBIT_GEMM(iq4_nl) WF_LOWBIT_GEMM(iq4_xs) WF_LOWBIT_GEMM(mxfp4)
#undef WF_LOWBIT_GEMM

void wf_kernels_fill_lowbit_avx512(wf_kernels *k, bool slower_too) {
#define SET(T, t) (k->vec_dot[T] = vec_dot_##t, k->gemm[T] = gemm_##t)
    SET(WF_TYPE_Q2_K, q2_K);
    if (!slower_too) return; /* the AVX2 entries stay: measured faster (docs/kernels.md) */
    SET(WF_TYPE_Q3_K, q3_K);
    SET(WF_TYPE_IQ4_NL, iq4_nl);
    SET(WF_TYPE_IQ4_XS, iq4_xs);
    SET(WF_TYPE_MXFP4, mxfp4);
#undef SET
}
