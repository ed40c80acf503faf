/* kernels_lowbit_avx512.c — AVX-512 (F/BW/VL + VNNI) dot products for the
 * low-bit and codebook weight types: Q2_K, Q3_K, IQ4_XS (Q8_K activations),
 * IQ4_NL (Q8_0 activations). wf_kernels_fill_avx512 installs them through
 * wf_kernels_fill_lowbit_avx512. (MXFP4 went to kernels_avx512.c's
 * 32-element family, whose prefill tiles are dealt; nl32_row's MXFP4 branch
 * is kept for the shared code's sake but not installed.)
 *
 * Every 64 elements take one VPDPBUSD (unsigned weight codes × signed
 * activations). The codebook types look up the level magnitudes with
 * VPSHUFB and move the level's sign onto the activation (a masked negate),
 * so any level works; the K-quants' codes are unsigned already and their
 * offsets (Q3_K's -4) go through the activation's bsums. Sub-block scales
 * multiply the exact dword sums in integers, so every super-block's integer
 * total is exact, as in kernels_scalar.c; only the order of the float
 * accumulation differs.
 *
 * The gemm walks one weight row against up to 4 activation rows at a time:
 * the row's codes and scales are decoded once per 64 elements and serve all
 * of them. Every activation row's accumulators see the same operations
 * whatever the group size, and vec_dot is the 1×1 case, so any batch width
 * computes each column exactly as a one-column call (gemm_exact stays
 * WF_GEMM_EXACT_ANY). */
#include "cpu/kernels.h"

#include <immintrin.h>

static inline float fp16(uint16_t h) { return _cvtsh_ss(h); }

/* Software prefetch this far ahead in the weight row (as kernels_avx512.c
 * does): streaming from DRAM, the hardware prefetchers alone left the
 * one-token rate at a third of the read bandwidth (bench_kernels). A
 * prefetch past the row's end is harmless. Always inlined: as a call, GCC
 * finds the function free of side effects and drops it. */
enum { PF_DIST = 2048 };

static inline __attribute__((always_inline)) void prefetch_lines(const void *p, int bytes) {
    for (int o = 0; o < bytes; o += 64) _mm_prefetch((const char *)p + PF_DIST + o, _MM_HINT_T0);
}

/* Two blocks' 16 bytes of packed nibbles -> 64 codes in element order:
 * block 0's low nibbles (elements 0..15), high nibbles (16..31), then block 1's.
 * 128-bit lanes [qs0, qs0, qs1, qs1], the odd lanes shifted down a nibble. */
static inline __m512i unpack_nibbles2(const uint8_t *qs0, const uint8_t *qs1) {
    const __m512i z = _mm512_mask_broadcast_i32x4(_mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)qs0)),
                                                  0xff00, _mm_loadu_si128((const __m128i *)qs1));
    const __m512i t = _mm512_mask_srli_epi16(z, 0xff00ff00, z, 4);
    return _mm512_and_si512(t, _mm512_set1_epi8(0x0f));
}

/* The magnitudes of the 16 levels (for VPSHUFB in every lane); the negative
 * levels are IQ4_NL's codes 0..7 and MXFP4's codes with bit 3 set. Constants:
 * building them per call cost more than the dot itself on short rows.
 * test_kernels checks them against wf_iq4nl_values / wf_mxfp4_values through
 * the scalar reference. */
static const int8_t iq4nl_mag[16] = {127, 104, 83, 65, 49, 35, 22, 10, 1, 13, 25, 38, 53, 69, 89, 113};
static const int8_t mxfp4_mag[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, 1, 2, 3, 4, 6, 8, 12};

static inline __m512i lut_load(const int8_t t[16]) {
    return _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)t));
}

/* 32-element codebook blocks × Q8_0: one weight row against CB (1..4)
 * activation rows (a: CB rows as_ bytes apart), two blocks per ZMM. The
 * row's codes are decoded once per block pair (magnitudes, sign mask, scales)
 * and serve every activation row. Each activation row's accumulator sees
 * the same operations whatever CB is (per block pair one FMA of the exact
 * dword sums by dw·da; a lone last block pairs with a zero scale and zero
 * activations, adding fma(0, 0, acc)), and one fixed reduction: so a column
 * of a gemm is bit-identical to vec_dot, the 1×1 case. */
static inline __attribute__((always_inline)) void nl32_row(const int CB, const bool mx, int64_t nb, const uint8_t *w,
                                                          size_t wsz, const uint8_t *a, size_t as_, float *out,
                                                          size_t os, __m512i magt) {
#define WSCALE(p) (mx ? wf_e8m0_half((p)[0]) : fp16((uint16_t)((p)[0] | (p)[1] << 8)))
#define WQS(p) ((p) + (mx ? 1 : 2))
    const __m512i pair_idx = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
    __m512 acc[4];
    for (int c = 0; c < CB; c++) acc[c] = _mm512_setzero_ps();
    for (int64_t i = 0; i < nb; i += 2) {
        const bool two = i + 1 < nb;
        const uint8_t *b0 = w + (size_t)i * wsz, *b1 = two ? b0 + wsz : b0;
        if (i % 4 == 0) prefetch_lines(b0, 64); /* 4 pairs: 68-72 bytes */
        const __m512i codes = unpack_nibbles2(WQS(b0), WQS(b1));
        const __m512i mag = _mm512_shuffle_epi8(magt, codes);
        /* negative levels: IQ4_NL codes 0..7, MXFP4 codes with bit 3 set */
        const __mmask64 negm = mx ? _mm512_test_epi8_mask(codes, _mm512_set1_epi8(8))
                                  : _mm512_cmplt_epu8_mask(codes, _mm512_set1_epi8(8));
        const __m512 dwv = _mm512_insertf32x8(_mm512_set1_ps(WSCALE(b0)), _mm256_set1_ps(two ? WSCALE(b1) : 0.0f), 1);
        for (int c = 0; c < CB; c++) {
            const wf_block_q8_0 *y = (const wf_block_q8_0 *)(a + (size_t)c * as_) + i;
            const __m256i y0 = _mm256_loadu_si256((const __m256i *)y[0].qs);
            const __m512i yv = two ? _mm512_inserti64x4(_mm512_castsi256_si512(y0),
                                                        _mm256_loadu_si256((const __m256i *)y[1].qs), 1)
                                   : _mm512_zextsi256_si512(y0);
            const __m512i ys = _mm512_mask_sub_epi8(yv, negm, _mm512_setzero_si512(), yv);
            const __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), mag, ys);
            /* both fp16 activation scales in one conversion, spread to 8 lanes each */
            const uint32_t dd = (uint32_t)y[0].d | (two ? (uint32_t)y[1].d << 16 : 0u);
            const __m512 dav = _mm512_permutexvar_ps(pair_idx, _mm512_castps128_ps512(_mm_cvtph_ps(_mm_cvtsi32_si128((int)dd))));
            const __m512 sc = _mm512_mul_ps(dwv, dav);
            acc[c] = _mm512_fmadd_ps(sc, _mm512_cvtepi32_ps(p), acc[c]);
        }
    }
    for (int c = 0; c < CB; c++) out[(size_t)c * os] = _mm512_reduce_add_ps(acc[c]);
#undef WSCALE
#undef WQS
}

/* w: nr rows ws bytes apart (nb blocks of wsz bytes); a: nc q8_0 rows as
 * bytes apart; out[c * os + r]. Rows outer, tokens in groups of 4. */
static inline __attribute__((always_inline)) void nl32_gemm(const bool mx, int64_t n, int nr, int nc, const void *w,
                                                           size_t ws, const void *a, size_t as, float *out,
                                                           size_t os) {
    const int64_t nb = n / 32;
    const size_t wsz = mx ? sizeof(wf_block_mxfp4) : sizeof(wf_block_iq4_nl);
    const __m512i magt = lut_load(mx ? mxfp4_mag : iq4nl_mag);
    for (int r = 0; r < nr; r++) {
        const uint8_t *wr = (const uint8_t *)w + (size_t)r * ws;
        int c = 0;
        for (; c + 4 <= nc; c += 4)
            nl32_row(4, mx, nb, wr, wsz, (const uint8_t *)a + (size_t)c * as, as, out + (size_t)c * os + r, os, magt);
        const uint8_t *ac = (const uint8_t *)a + (size_t)c * as;
        float *oc = out + (size_t)c * os + r;
        switch (nc - c) {
        case 3: nl32_row(3, mx, nb, wr, wsz, ac, as, oc, os, magt); break;
        case 2: nl32_row(2, mx, nb, wr, wsz, ac, as, oc, os, magt); break;
        case 1: nl32_row(1, mx, nb, wr, wsz, ac, as, oc, os, magt); break;
        default: break;
        }
    }
}

static void gemm_iq4_nl(int64_t n, int nr, int nc, const void *w, size_t ws, const void *a, size_t as, float *out,
                        size_t os) {
    nl32_gemm(false, n, nr, nc, w, ws, a, as, out, os);
}

/* w: (n/32) iq4_nl blocks; a: (n/32) q8_0 blocks */
static void vec_dot_iq4_nl(int64_t n, float *out, const void *w, const void *a) {
    gemm_iq4_nl(n, 1, 1, w, 0, a, 0, out, 1);
}

/* ---- 256-element super-blocks × Q8_K ------------------------------------ */

/* IQ4_XS × Q8_K: one weight row against CB (1..4) activation rows, as
 * nl32_row: each sub-block pair's codes and scales are decoded once and serve
 * every activation row; per row the exact integer super-block sum (dword
 * partials times the sub-block scales), then one FMA by d·d_a per
 * super-block, the same operations for every CB. */
static inline __attribute__((always_inline)) void xs_row(const int CB, int64_t nsb, const wf_block_iq4_xs *x,
                                                        const uint8_t *a, size_t as_, float *out, size_t os,
                                                        __m512i magt) {
    __m512 acc[4];
    for (int c = 0; c < CB; c++) acc[c] = _mm512_setzero_ps();
    for (int64_t i = 0; i < nsb; i++) {
        prefetch_lines(x + i, (int)sizeof *x);
        __m512i sumi[4];
        for (int c = 0; c < CB; c++) sumi[c] = _mm512_setzero_si512();
        for (int j = 0; j < 8; j += 2) { /* sub-blocks j, j+1: 8 dwords each */
            int ls[2];
            for (int k = 0; k < 2; k++)
                ls[k] = (((x[i].scales_l[(j + k) / 2] >> (4 * ((j + k) % 2))) & 0x0f) |
                         ((x[i].scales_h >> (2 * (j + k))) & 3) << 4) - 32;
            const __m512i sv = _mm512_mask_blend_epi32(0xff00, _mm512_set1_epi32(ls[0]), _mm512_set1_epi32(ls[1]));
            const __m512i codes = unpack_nibbles2(x[i].qs + 16 * j, x[i].qs + 16 * j + 16);
            const __m512i wm = _mm512_shuffle_epi8(magt, codes);
            const __mmask64 negm = _mm512_cmplt_epu8_mask(codes, _mm512_set1_epi8(8));
            for (int c = 0; c < CB; c++) {
                const wf_block_q8_K *y = (const wf_block_q8_K *)(a + (size_t)c * as_) + i;
                const __m512i yv = _mm512_loadu_si512((const void *)(y->qs + 32 * j));
                const __m512i ys = _mm512_mask_sub_epi8(yv, negm, _mm512_setzero_si512(), yv);
                const __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wm, ys);
                sumi[c] = _mm512_add_epi32(sumi[c], _mm512_mullo_epi32(p, sv));
            }
        }
        const float dw = fp16(x[i].d);
        for (int c = 0; c < CB; c++) {
            const wf_block_q8_K *y = (const wf_block_q8_K *)(a + (size_t)c * as_) + i;
            acc[c] = _mm512_fmadd_ps(_mm512_set1_ps(dw * y->d), _mm512_cvtepi32_ps(sumi[c]), acc[c]);
        }
    }
    for (int c = 0; c < CB; c++) out[(size_t)c * os] = _mm512_reduce_add_ps(acc[c]);
}

/* w: nr iq4_xs rows ws bytes apart; a: nc q8_K rows as bytes apart;
 * out[c * os + r]. Rows outer, tokens in groups of 4. */
static void gemm_iq4_xs(int64_t n, int nr, int nc, const void *w, size_t ws, const void *a, size_t as, float *out,
                        size_t os) {
    const int64_t nsb = n / WF_QK_K;
    const __m512i magt = lut_load(iq4nl_mag);
    for (int r = 0; r < nr; r++) {
        const wf_block_iq4_xs *wr = (const wf_block_iq4_xs *)((const uint8_t *)w + (size_t)r * ws);
        int c = 0;
        for (; c + 4 <= nc; c += 4)
            xs_row(4, nsb, wr, (const uint8_t *)a + (size_t)c * as, as, out + (size_t)c * os + r, os, magt);
        const uint8_t *ac = (const uint8_t *)a + (size_t)c * as;
        float *oc = out + (size_t)c * os + r;
        switch (nc - c) {
        case 3: xs_row(3, nsb, wr, ac, as, oc, os, magt); break;
        case 2: xs_row(2, nsb, wr, ac, as, oc, os, magt); break;
        case 1: xs_row(1, nsb, wr, ac, as, oc, os, magt); break;
        default: break;
        }
    }
}

/* w: (n/256) iq4_xs blocks; a: (n/256) q8_K blocks */
static void vec_dot_iq4_xs(int64_t n, float *out, const void *w, const void *a) {
    gemm_iq4_xs(n, 1, 1, w, 0, a, 0, out, 1);
}

/* The 2-bit fields at bit 2j and 2j+2 of 32 bytes: elements 128h + 32j + l
 * and 128h + 32(j+1) + l, i.e. 64 elements in order (sub-blocks 8h+2j..+3). */
static inline __m512i two_bit_pair(__m256i qv, int j) {
    const __m256i m3 = _mm256_set1_epi8(3);
    const __m256i a = _mm256_and_si256(_mm256_srli_epi16(qv, 2 * j), m3);
    const __m256i b = _mm256_and_si256(_mm256_srli_epi16(qv, 2 * j + 2), m3);
    return _mm512_inserti64x4(_mm512_castsi256_si512(a), b, 1);
}

/* Q2_K / Q3_K × Q8_K: one weight row against CB (1..4) activation rows.
 * Per 64 elements (half h, quarters j, j+1) the unsigned codes and the four
 * sub-block scales are decoded once; per activation row one VPDPBUSD and a
 * VPMULLD by the scales into the exact integer super-block sum. Q2_K's mins
 * and Q3_K's -4 offset go through the activation's bsums (per 16 elements,
 * one per sub-block). Then, per super-block and row, Q2_K:
 * fma(d·d_a, sum) and a scalar dmin·d_a·msum; Q3_K: fma(d·d_a, sum - 4·corr).
 * The same operations for every CB, so gemm columns equal vec_dot. */
static inline __attribute__((always_inline)) void k23_row(const int CB, const bool q3, int64_t nsb, const uint8_t *w,
                                                         const uint8_t *a, size_t as_, float *out, size_t os) {
    __m512 acc[4];
    float summ[4];
    for (int c = 0; c < CB; c++) acc[c] = _mm512_setzero_ps(), summ[c] = 0.0f;
    for (int64_t i = 0; i < nsb; i++) {
        /* only the row's own type is dereferenced (q3 is a constant) */
        const uint8_t *blk = w + (size_t)i * (q3 ? sizeof(wf_block_q3_K) : sizeof(wf_block_q2_K));
        prefetch_lines(blk, q3 ? (int)sizeof(wf_block_q3_K) : (int)sizeof(wf_block_q2_K));
        const wf_block_q2_K *x2 = (const wf_block_q2_K *)blk;
        const wf_block_q3_K *x3 = (const wf_block_q3_K *)blk;
        /* the 16 sub-block scales as signed bytes (Q3_K: 6-bit minus 32; Q2_K:
         * the low nibbles) and the second factor of the bsums term (Q3_K the
         * scales, Q2_K the mins) */
        __m128i sc8, bs8;
        if (q3) {
            const __m128i x = _mm_loadl_epi64((const __m128i *)x3->scales);
            const __m128i m4 = _mm_set1_epi8(0x0f);
            const __m128i lo = _mm_unpacklo_epi64(_mm_and_si128(x, m4), _mm_and_si128(_mm_srli_epi16(x, 4), m4));
            uint32_t h4;
            memcpy(&h4, x3->scales + 8, 4);
            const __m128i hi = _mm_and_si128(_mm_srlv_epi32(_mm_set1_epi32((int)h4), _mm_setr_epi32(0, 2, 4, 6)),
                                             _mm_set1_epi8(3));
            sc8 = _mm_sub_epi8(_mm_or_si128(lo, _mm_slli_epi16(hi, 4)), _mm_set1_epi8(32));
            bs8 = sc8;
        } else {
            const __m128i x = _mm_loadu_si128((const __m128i *)x2->scales);
            sc8 = _mm_and_si128(x, _mm_set1_epi8(0x0f));
            bs8 = _mm_and_si128(_mm_srli_epi16(x, 4), _mm_set1_epi8(0x0f));
        }
        const __m512i sc32 = _mm512_cvtepi8_epi32(sc8);
        __m512i sumi[4];
        for (int c = 0; c < CB; c++) sumi[c] = _mm512_setzero_si512();
        const __m256i hm = q3 ? _mm256_loadu_si256((const __m256i *)x3->hmask) : _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const __m256i qv = _mm256_loadu_si256((const __m256i *)((q3 ? x3->qs : x2->qs) + 32 * h));
            for (int j = 0; j < 4; j += 2) {
                __m512i q = two_bit_pair(qv, j);
                if (q3) {
                    const __m256i m1 = _mm256_set1_epi8(1);
                    const __m256i h0 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hm, 4 * h + j), m1), 2);
                    const __m256i h1 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hm, 4 * h + j + 1), m1), 2);
                    q = _mm512_or_si512(q, _mm512_inserti64x4(_mm512_castsi256_si512(h0), h1, 1));
                }
                /* sub-blocks s0..s0+3 (s0 = 8h + 2j), 4 dwords each */
                const __m512i sv = _mm512_permutexvar_epi32(
                    _mm512_add_epi32(_mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3),
                                     _mm512_set1_epi32(8 * h + 2 * j)),
                    sc32);
                for (int c = 0; c < CB; c++) {
                    const wf_block_q8_K *y = (const wf_block_q8_K *)(a + (size_t)c * as_) + i;
                    const __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q,
                                                          _mm512_loadu_si512((const void *)(y->qs + 128 * h + 32 * j)));
                    sumi[c] = _mm512_add_epi32(sumi[c], _mm512_mullo_epi32(p, sv));
                }
            }
        }
        const __m256i s16 = _mm256_cvtepi8_epi16(bs8);
        const float dw = fp16(q3 ? x3->d : x2->d);
        for (int c = 0; c < CB; c++) {
            const wf_block_q8_K *y = (const wf_block_q8_K *)(a + (size_t)c * as_) + i;
            const __m256i t = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)y->bsums), s16);
            if (q3) {
                sumi[c] = _mm512_sub_epi32(sumi[c], _mm512_zextsi256_si512(_mm256_slli_epi32(t, 2)));
            } else {
                __m128i m4 = _mm_add_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));
                m4 = _mm_add_epi32(m4, _mm_shuffle_epi32(m4, 0x4e));
                m4 = _mm_add_epi32(m4, _mm_shuffle_epi32(m4, 0xb1));
                summ[c] += fp16(x2->dmin) * y->d * (float)_mm_cvtsi128_si32(m4);
            }
            acc[c] = _mm512_fmadd_ps(_mm512_set1_ps(dw * y->d), _mm512_cvtepi32_ps(sumi[c]), acc[c]);
        }
    }
    for (int c = 0; c < CB; c++) out[(size_t)c * os] = _mm512_reduce_add_ps(acc[c]) - summ[c];
}

static inline __attribute__((always_inline)) void k23_gemm(const bool q3, int64_t n, int nr, int nc, const void *w,
                                                          size_t ws, const void *a, size_t as, float *out,
                                                          size_t os) {
    const int64_t nsb = n / WF_QK_K;
    for (int r = 0; r < nr; r++) {
        const uint8_t *wr = (const uint8_t *)w + (size_t)r * ws;
        int c = 0;
        for (; c + 4 <= nc; c += 4) k23_row(4, q3, nsb, wr, (const uint8_t *)a + (size_t)c * as, as, out + (size_t)c * os + r, os);
        const uint8_t *ac = (const uint8_t *)a + (size_t)c * as;
        float *oc = out + (size_t)c * os + r;
        switch (nc - c) {
        case 3: k23_row(3, q3, nsb, wr, ac, as, oc, os); break;
        case 2: k23_row(2, q3, nsb, wr, ac, as, oc, os); break;
        case 1: k23_row(1, q3, nsb, wr, ac, as, oc, os); break;
        default: break;
        }
    }
}

static void gemm_q2_K(int64_t n, int nr, int nc, const void *w, size_t ws, const void *a, size_t as, float *out,
                      size_t os) {
    k23_gemm(false, n, nr, nc, w, ws, a, as, out, os);
}

static void gemm_q3_K(int64_t n, int nr, int nc, const void *w, size_t ws, const void *a, size_t as, float *out,
                      size_t os) {
    k23_gemm(true, n, nr, nc, w, ws, a, as, out, os);
}

/* w: (n/256) q2_K blocks; a: (n/256) q8_K blocks */
static void vec_dot_q2_K(int64_t n, float *out, const void *w, const void *a) {
    gemm_q2_K(n, 1, 1, w, 0, a, 0, out, 1);
}

/* w: (n/256) q3_K blocks; a: (n/256) q8_K blocks */
static void vec_dot_q3_K(int64_t n, float *out, const void *w, const void *a) {
    gemm_q3_K(n, 1, 1, w, 0, a, 0, out, 1);
}

void wf_kernels_fill_lowbit_avx512(wf_kernels *k) {
#define SET(T, t) (k->vec_dot[T] = vec_dot_##t, k->gemm[T] = gemm_##t)
    SET(WF_TYPE_Q2_K, q2_K);
    SET(WF_TYPE_IQ4_NL, iq4_nl);
    SET(WF_TYPE_IQ4_XS, iq4_xs);
    SET(WF_TYPE_Q3_K, q3_K);
#undef SET
}
