/* attn_avx512.c — AVX-512 fused attention tile step (wf_attn_tile_fn).
 *
 * One pass over a tile of cached positions does, for a GQA group of queries:
 * scores (K rows decoded in registers: vcvtph2ps for f16, sign-extend and
 * scale for q8_0, nothing for f32), the running max, a vectorised exp, and
 * the weighted sum of V rows (decoded the same way). Nothing is written to a
 * float tile buffer.
 *
 * Queries are taken three at a time: their q rows (3 × head_dim/16 zmm)
 * stay in registers while each K row is decoded once for the three, and
 * their accumulators (3 × head_dim/16 zmm) stay in registers while each V
 * row is decoded once for the three. A query's dot product is always the
 * same chain of FMAs over its 16-wide chunks followed by the same
 * transposing reduction, whatever the number of queries in the call or
 * their position in it, so batching cannot change a result.
 *
 * Instantiated for head_dim 32, 64 and 128 (other sizes keep the generic
 * path in attn.c). The exp is a degree-7 polynomial after range reduction
 * by ln 2 (Cody-Waite split), scaled with vscalefps; the test bounds its
 * error against double-precision exp.
 */
#include "model/model_int.h"
#include "format/quant.h"

#include <immintrin.h>
#include <math.h>

#include "model/exp_avx512_int.h"

enum { QB = 3 };            /* queries per pass (their rows stay in registers) */
enum { EL_F32, EL_F16, EL_Q8_0 };

#define ALWAYS_INLINE static inline __attribute__((always_inline))

float wf_attn_exp_avx512(float x) { return _mm512_cvtss_f32(wf_exp16_avx512(_mm512_set1_ps(x))); }

/* Chunk c (16 elements) of one encoded cache row, as floats. The q8_0 value
 * is q * d with one rounding, exactly as the reference decoder. */
ALWAYS_INLINE __m512 load_chunk(const int el, const uint8_t *row, int c) {
    if (el == EL_F32) return _mm512_loadu_ps((const float *)row + 16 * c);
    if (el == EL_F16) return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(row + 32 * c)));
    const wf_block_q8_0 *b = (const wf_block_q8_0 *)row + c / 2;
    const __m512 q = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(b->qs + 16 * (c & 1)))));
    return _mm512_mul_ps(q, _mm512_set1_ps(_cvtsh_ss(b->d)));
}

/* r[j] = sum of the 16 lanes of row j of A (16, 16): a transposing add tree
 * (45 shuffles/adds for 16 dot products instead of 16 separate reductions). */
ALWAYS_INLINE __m512 reduce16(const float *A) {
    __m512 t[8], u[4], w[2];
    for (int k = 0; k < 8; k++) {
        const __m512 a = _mm512_load_ps(A + 32 * k), b = _mm512_load_ps(A + 32 * k + 16);
        t[k] = _mm512_add_ps(_mm512_unpacklo_ps(a, b), _mm512_unpackhi_ps(a, b));
    }
    for (int k = 0; k < 4; k++) {
        const __m512d a = _mm512_castps_pd(t[2 * k]), b = _mm512_castps_pd(t[2 * k + 1]);
        u[k] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(a, b)), _mm512_castpd_ps(_mm512_unpackhi_pd(a, b)));
    }
    for (int k = 0; k < 2; k++)
        w[k] = _mm512_add_ps(_mm512_shuffle_f32x4(u[2 * k], u[2 * k + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                             _mm512_shuffle_f32x4(u[2 * k], u[2 * k + 1], _MM_SHUFFLE(3, 1, 3, 1)));
    return _mm512_add_ps(_mm512_shuffle_f32x4(w[0], w[1], _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_f32x4(w[0], w[1], _MM_SHUFFLE(3, 1, 3, 1)));
}

ALWAYS_INLINE __mmask16 tail_mask(int32_t n) { return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1); }

/* nqb (<= QB) queries q (nqb, 16*nc) against nt (<= WF_ATTN_TILE) rows;
 * part (nqb, 16*nc + 2) updated in place. */
ALWAYS_INLINE void pass(const int nc, const int el, const int nqb, const float *q, const uint8_t *K,
                        const uint8_t *V, size_t rb, int32_t nt, float scale, float *part) {
    const int hd = 16 * nc;
    _Alignas(64) float s[QB][WF_ATTN_TILE];
    _Alignas(64) float A[QB][16 * 16];

    /* scores */
    {
        __m512 qr[QB][8];
        for (int g = 0; g < nqb; g++)
            for (int c = 0; c < nc; c++) qr[g][c] = _mm512_loadu_ps(q + (size_t)g * hd + 16 * c);
        for (int32_t j0 = 0; j0 < nt; j0 += 16) {
            const int32_t jn = nt - j0 < 16 ? nt - j0 : 16;
            for (int32_t jj = 0; jj < jn; jj++) {
                const uint8_t *row = K + (size_t)(j0 + jj) * rb;
                __m512 acc[QB];
                const __m512 k0 = load_chunk(el, row, 0);
                for (int g = 0; g < nqb; g++) acc[g] = _mm512_mul_ps(qr[g][0], k0);
                for (int c = 1; c < nc; c++) {
                    const __m512 kc = load_chunk(el, row, c);
                    for (int g = 0; g < nqb; g++) acc[g] = _mm512_fmadd_ps(qr[g][c], kc, acc[g]);
                }
                for (int g = 0; g < nqb; g++) _mm512_store_ps(A[g] + 16 * jj, acc[g]);
            }
            for (int32_t jj = jn; jj < 16; jj++)
                for (int g = 0; g < nqb; g++) _mm512_store_ps(A[g] + 16 * jj, _mm512_setzero_ps());
            const __m512 vs = _mm512_set1_ps(scale);
            for (int g = 0; g < nqb; g++) _mm512_store_ps(s[g] + j0, _mm512_mul_ps(reduce16(A[g]), vs));
        }
    }

    /* online softmax: new max, rescale, scores -> weights */
    for (int g = 0; g < nqb; g++) {
        float *pg = part + (size_t)g * (hd + 2);
        float m = pg[0], l = pg[1];
        __m512 vmax = _mm512_set1_ps(-INFINITY);
        for (int32_t j0 = 0; j0 < nt; j0 += 16)
            vmax = _mm512_mask_max_ps(vmax, tail_mask(nt - j0), vmax, _mm512_load_ps(s[g] + j0));
        const float mt = _mm512_reduce_max_ps(vmax);
        if (mt > m) {
            const float corr = wf_attn_exp_avx512(m - mt); /* ~0 on the first tile (m = -inf) */
            l *= corr;
            const __m512 vc = _mm512_set1_ps(corr);
            for (int c = 0; c < nc; c++)
                _mm512_storeu_ps(pg + 2 + 16 * c, _mm512_mul_ps(_mm512_loadu_ps(pg + 2 + 16 * c), vc));
            m = mt;
        }
        const __m512 vm = _mm512_set1_ps(m);
        __m512 vl = _mm512_setzero_ps();
        for (int32_t j0 = 0; j0 < nt; j0 += 16) {
            const __m512 p = _mm512_maskz_mov_ps(tail_mask(nt - j0), wf_exp16_avx512(_mm512_sub_ps(_mm512_load_ps(s[g] + j0), vm)));
            _mm512_store_ps(s[g] + j0, p);
            vl = _mm512_add_ps(vl, p);
        }
        pg[0] = m;
        pg[1] = l + _mm512_reduce_add_ps(vl);
    }

    /* acc += sum_j p[j] * V[j] */
    {
        __m512 a[QB][8];
        for (int g = 0; g < nqb; g++)
            for (int c = 0; c < nc; c++) a[g][c] = _mm512_loadu_ps(part + (size_t)g * (hd + 2) + 2 + 16 * c);
        for (int32_t j = 0; j < nt; j++) {
            const uint8_t *row = V + (size_t)j * rb;
            for (int c = 0; c < nc; c++) {
                const __m512 vc = load_chunk(el, row, c);
                for (int g = 0; g < nqb; g++) a[g][c] = _mm512_fmadd_ps(_mm512_set1_ps(s[g][j]), vc, a[g][c]);
            }
        }
        for (int g = 0; g < nqb; g++)
            for (int c = 0; c < nc; c++) _mm512_storeu_ps(part + (size_t)g * (hd + 2) + 2 + 16 * c, a[g][c]);
    }
}

ALWAYS_INLINE void tile(const int nc, const int el, const float *q, int32_t nq, const void *K, const void *V,
                        size_t rb, int32_t nt, float scale, float *part) {
    const int hd = 16 * nc;
    int32_t g = 0;
    for (; g + QB <= nq; g += QB)
        pass(nc, el, QB, q + (size_t)g * hd, K, V, rb, nt, scale, part + (size_t)g * (hd + 2));
    if (nq - g == 2) pass(nc, el, 2, q + (size_t)g * hd, K, V, rb, nt, scale, part + (size_t)g * (hd + 2));
    if (nq - g == 1) pass(nc, el, 1, q + (size_t)g * hd, K, V, rb, nt, scale, part + (size_t)g * (hd + 2));
}

/* One entry per (head_dim, element type); hd is implied by the entry. */
#define TILE_FN(NAME, NC, EL)                                                                         \
    static void NAME(const float *q, int32_t nq, const void *K, const void *V, size_t rb, int32_t nt, \
                     int32_t hd, float scale, float *part) {                                        \
        (void)hd;                                                                                   \
        tile(NC, EL, q, nq, K, V, rb, nt, scale, part);                                             \
    }
TILE_FN(tile32_f32, 2, EL_F32)
TILE_FN(tile32_f16, 2, EL_F16)
TILE_FN(tile32_q8_0, 2, EL_Q8_0)
TILE_FN(tile64_f32, 4, EL_F32)
TILE_FN(tile64_f16, 4, EL_F16)
TILE_FN(tile64_q8_0, 4, EL_Q8_0)
TILE_FN(tile128_f32, 8, EL_F32)
TILE_FN(tile128_f16, 8, EL_F16)
TILE_FN(tile128_q8_0, 8, EL_Q8_0)
#undef TILE_FN

void wf_attn_kernels_fill_avx512(wf_attn_kernels *k, int32_t head_dim) {
    switch (head_dim) {
    case 32: k->tile_f32 = tile32_f32, k->tile_f16 = tile32_f16, k->tile_q8_0 = tile32_q8_0; break;
    case 64: k->tile_f32 = tile64_f32, k->tile_f16 = tile64_f16, k->tile_q8_0 = tile64_q8_0; break;
    case 128: k->tile_f32 = tile128_f32, k->tile_f16 = tile128_f16, k->tile_q8_0 = tile128_q8_0; break;
    default: return; /* generic path (AVX2 loops) */
    }
    k->isa = WF_ISA_AVX512;
}
