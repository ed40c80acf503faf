/* exp_avx512_int.h — exp(x) on 16 float lanes, for files built with the
 * AVX-512 flags (*_avx512*.c). The same range reduction and polynomial as
 * the attention kernel's exp (attn_avx512.c), in a header so that other
 * vector code (SwiGLU in ops_avx512.c) shares one definition.
 *
 * x = n ln2 + r with |r| <= ln2/2 (Cody-Waite split of ln2), e^r by its
 * Taylor polynomial to degree 7 (truncation error < 6e-9 relative), times
 * 2^n by vscalefps: x below ~-104 gives 0 (or a denormal), x above ~88.7
 * gives +inf, NaN stays NaN. Measured against double exp in
 * tests/model/test_ops_simd.c.
 */
#ifndef WF_SIMD_EXP_AVX512_H
#define WF_SIMD_EXP_AVX512_H

#include <immintrin.h>

static inline __attribute__((always_inline)) __m512 wf_exp16_avx512(__m512 x) {
    x = _mm512_max_ps(x, _mm512_set1_ps(-104.0f)); /* also maps -inf to a tiny value */
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x); /* ln2 high part: n*C1 exact */
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);     /* ln2 - C1 */
    __m512 p = _mm512_set1_ps(1.0f / 5040.0f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

#endif /* WF_SIMD_EXP_AVX512_H */
