/* attn_avx2.c — AVX2 + FMA versions of attention's inner loops (scores of a
 * K tile, weighted sum of a V tile, scores -> exp weights, q8_0 KV decode).
 * Checked against the scalar ones by test_model_c. scores/accum need
 * head_dim % 8 == 0. (AVX-512 machines use the fused tiles of
 * attn_avx512.c instead of these for head_dim 32/64/128.) */
#include "model/model_int.h"
#include "format/quant.h"

#include <immintrin.h>

static inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* s (nt) = scale * K (nt, hd) · q (hd) */
static void scores_avx2(const float *q, const float *K, int32_t nt, int32_t hd, float scale, float *s) {
    int32_t j = 0;
    for (; j + 2 <= nt; j += 2) { /* two rows per pass share the loads of q */
        const float *k0 = K + (size_t)j * hd, *k1 = k0 + hd;
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
        __m256 b0 = _mm256_setzero_ps(), b1 = _mm256_setzero_ps();
        int32_t i = 0;
        for (; i + 16 <= hd; i += 16) {
            const __m256 q0 = _mm256_loadu_ps(q + i), q1 = _mm256_loadu_ps(q + i + 8);
            a0 = _mm256_fmadd_ps(q0, _mm256_loadu_ps(k0 + i), a0);
            a1 = _mm256_fmadd_ps(q1, _mm256_loadu_ps(k0 + i + 8), a1);
            b0 = _mm256_fmadd_ps(q0, _mm256_loadu_ps(k1 + i), b0);
            b1 = _mm256_fmadd_ps(q1, _mm256_loadu_ps(k1 + i + 8), b1);
        }
        for (; i < hd; i += 8) {
            const __m256 q0 = _mm256_loadu_ps(q + i);
            a0 = _mm256_fmadd_ps(q0, _mm256_loadu_ps(k0 + i), a0);
            b0 = _mm256_fmadd_ps(q0, _mm256_loadu_ps(k1 + i), b0);
        }
        s[j] = hsum(_mm256_add_ps(a0, a1)) * scale;
        s[j + 1] = hsum(_mm256_add_ps(b0, b1)) * scale;
    }
    for (; j < nt; j++) {
        const float *k0 = K + (size_t)j * hd;
        __m256 a0 = _mm256_setzero_ps();
        for (int32_t i = 0; i < hd; i += 8)
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_loadu_ps(k0 + i), a0);
        s[j] = hsum(a0) * scale;
    }
}

/* acc (hd) += sum_j p[j] * V[j]:  V (nt, hd) */
static void accum_avx2(float *acc, const float *p, const float *V, int32_t nt, int32_t hd) {
    int32_t i = 0;
    for (; i + 64 <= hd; i += 64) { /* 8 accumulators stay in registers over the tile */
        __m256 r[8];
        for (int u = 0; u < 8; u++) r[u] = _mm256_loadu_ps(acc + i + 8 * u);
        for (int32_t j = 0; j < nt; j++) {
            const __m256 pj = _mm256_set1_ps(p[j]);
            const float *v = V + (size_t)j * hd + i;
            for (int u = 0; u < 8; u++) r[u] = _mm256_fmadd_ps(pj, _mm256_loadu_ps(v + 8 * u), r[u]);
        }
        for (int u = 0; u < 8; u++) _mm256_storeu_ps(acc + i + 8 * u, r[u]);
    }
    for (; i < hd; i += 8) {
        __m256 r = _mm256_loadu_ps(acc + i);
        for (int32_t j = 0; j < nt; j++)
            r = _mm256_fmadd_ps(_mm256_set1_ps(p[j]), _mm256_loadu_ps(V + (size_t)j * hd + i), r);
        _mm256_storeu_ps(acc + i, r);
    }
}

/* exp(x), 8 lanes, for x <= 0: x = n ln2 + r (|r| <= ln2/2, Cody-Waite
 * split of ln2), e^r by its Taylor polynomial to degree 7, times 2^n built
 * in the exponent field; x below -87 (2^n not a normal float) gives 0. */
static inline __m256 exp8(__m256 x) {
    const __m256 tiny = _mm256_cmp_ps(x, _mm256_set1_ps(-87.0f), _CMP_LT_OQ); /* also -inf */
    x = _mm256_max_ps(x, _mm256_set1_ps(-87.0f));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.0f / 5040.0f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    /* 2^n for n in [-126, 0]: (n + 127) << 23 */
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_andnot_ps(tiny, _mm256_mul_ps(p, _mm256_castsi256_ps(e)));
}

/* s (nt) = exp(s - m); returns the sum of the new s */
static float exp_weights_avx2(float *s, int32_t nt, float m) {
    const __m256 vm = _mm256_set1_ps(m);
    __m256 sum = _mm256_setzero_ps();
    int32_t j = 0;
    for (; j + 8 <= nt; j += 8) {
        const __m256 p = exp8(_mm256_sub_ps(_mm256_loadu_ps(s + j), vm));
        _mm256_storeu_ps(s + j, p);
        sum = _mm256_add_ps(sum, p);
    }
    if (j < nt) { /* tail through a padded copy */
        float t[8] = {0};
        for (int32_t i = 0; i < nt - j; i++) t[i] = s[j + i];
        const __m256 keep = _mm256_castsi256_ps(
            _mm256_cmpgt_epi32(_mm256_set1_epi32(nt - j), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)));
        const __m256 p = _mm256_and_ps(keep, exp8(_mm256_sub_ps(_mm256_loadu_ps(t), vm)));
        _mm256_storeu_ps(t, p);
        for (int32_t i = 0; i < nt - j; i++) s[j + i] = t[i];
        sum = _mm256_add_ps(sum, p);
    }
    return hsum(sum);
}

/* q8_0 KV rows to float (n a multiple of 32): q * d, the same single
 * rounding as the reference decoder, so results match it bit for bit. */
static void q8_0_to_float_avx2(const void *src, float *dst, int64_t n) {
    const wf_block_q8_0 *b = src;
    for (int64_t i = 0; i < n / WF_QK8_0; i++) {
        const __m256 d = _mm256_set1_ps(wf_fp16_to_fp32(b[i].d));
        for (int u = 0; u < 4; u++) {
            const __m128i q8 = _mm_loadl_epi64((const __m128i *)(b[i].qs + 8 * u));
            const __m256 q = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q8));
            _mm256_storeu_ps(dst + i * WF_QK8_0 + 8 * u, _mm256_mul_ps(q, d));
        }
    }
}

void wf_attn_kernels_fill_avx2(wf_attn_kernels *k, int32_t head_dim) {
    k->q8_0_to_float = q8_0_to_float_avx2;
    k->exp_weights = exp_weights_avx2;
    if (head_dim % 8) return;
    k->scores = scores_avx2;
    k->accum = accum_avx2;
    k->isa = WF_ISA_AVX2;
}
