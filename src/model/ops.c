/* ops.c — elementwise helpers of the forward pass: RMSNorm, SwiGLU, residual
 * add, softmax, dot. Plain scalar C: they touch each activation once and cost
 * little next to the matmuls. The exception is SwiGLU, whose scalar expf is
 * worth vectorising: wf_ops_silu_mul_for picks ops_avx512.c's form. */
#include "model/model_int.h"
#include "model/ops_int.h"

#include <math.h>

wf_silu_mul_fn wf_ops_silu_mul_for(wf_isa isa) {
#if defined(__x86_64__) || defined(_M_X64)
    if (isa == WF_ISA_AVX512) return wf_silu_mul_avx512;
#endif
    (void)isa;
    return wf_silu_mul;
}

void wf_rmsnorm(float *out, const float *x, const float *w, int64_t n, float eps) {
    double ss = 0.0; /* double: the sum of squares of a wide row loses bits in float */
    for (int64_t i = 0; i < n; i++) ss += (double)x[i] * x[i];
    const float inv = (float)(1.0 / sqrt(ss / (double)n + (double)eps));
    for (int64_t i = 0; i < n; i++) out[i] = x[i] * inv * w[i];
}

void wf_silu_mul(float *gate, const float *up, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        const float g = gate[i];
        gate[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

void wf_add(float *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += x[i];
}

void wf_softmax(float *x, int64_t n) {
    if (n <= 0) return;
    float m = x[0];
    for (int64_t i = 1; i < n; i++) m = x[i] > m ? x[i] : m;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - m);
        sum += x[i];
    }
    const float inv = (float)(1.0 / sum);
    for (int64_t i = 0; i < n; i++) x[i] *= inv;
}

float wf_dot_f32(const float *a, const float *b, int64_t n) {
    /* four partial sums: lets the compiler vectorise without -ffast-math */
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += a[i] * b[i];
        s1 += a[i + 1] * b[i + 1];
        s2 += a[i + 2] * b[i + 2];
        s3 += a[i + 3] * b[i + 3];
    }
    for (; i < n; i++) s0 += a[i] * b[i];
    return (s0 + s1) + (s2 + s3);
}
