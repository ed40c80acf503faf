/* kernels_lowbit_avx512.c — AVX-512 (F/BW/VL + VNNI) dot products for the
 * IQ4_NL codebook type (Q8_0 activations). wf_kernels_fill_avx512 installs
 * them through wf_kernels_fill_lowbit_avx512. (MXFP4 went to
 * kernels_avx512.c's 32-element family and Q2_K, Q3_K, IQ4_XS to its
 * K-quant tiles, whose prefill tiles are dealt; nl32_row's MXFP4 branch is
 * kept for the shared code's sake but not installed.)
 *
 * Every 64 elements take one VPDPBUSD (unsigned level magnitudes × signed
 * activations): VPSHUFB looks the magnitudes up and the level's sign moves
 * onto the activation (a masked negate), so any level works. The integer
 * part of every block is exact, as in kernels_scalar.c; only the order of
 * the float accumulation differs.
 *
 * The gemm walks one weight row against up to 4 activation rows at a time:
 * the row's codes and scale are decoded once per 64 elements and serve all
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

void wf_kernels_fill_lowbit_avx512(wf_kernels *k) {
#define SET(T, t) (k->vec_dot[T] = vec_dot_##t, k->gemm[T] = gemm_##t)
    SET(WF_TYPE_IQ4_NL, iq4_nl);
#undef SET
}
