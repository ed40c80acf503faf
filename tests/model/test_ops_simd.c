/* test_ops_simd.c — the vector SwiGLU (ops_avx512.c) against a double-
 * precision silu(g) * up, and the scalar reference wf_silu_mul too.
 * Inputs: a sweep of g over [-120, 120] (exp underflow and overflow), random
 * gaussians, special values (0, -0, ±inf for the overflow side), and every
 * length 0..40 so the masked tail is exercised; elements past n must stay
 * untouched. Prints the worst relative error. Skips (77) without AVX-512.
 */
#include "cpu/kernels.h"
#include "model/model_int.h"
#include "model/ops_int.h"
#include "testutil.h"

#include <math.h>

static double silu_ref(double g, double u) { return g / (1.0 + exp(-g)) * u; }

/* |got - want| within rel * |want| + an absolute floor of 1e-30: for g below
 * about -88.7, e^-g overflows float and both forms give ±0 where the true
 * value is ~1e-37 */
static double err_ratio(float got, double want, double rel) {
    if (isnan(want)) return isnan(got) ? 0 : INFINITY;
    if (isinf(want)) return (double)got == want ? 0 : INFINITY;
    return fabs((double)got - want) / (rel * fabs(want) + 1e-30);
}

int main(void) {
    wf_cpu_features f;
    wf_cpu_detect(&f);
    CHECK(wf_ops_silu_mul_for(WF_ISA_SCALAR) == wf_silu_mul, "scalar isa gives the reference");
    if (wf_cpu_best_isa(&f) < WF_ISA_AVX512) {
        printf("test_ops_simd: no AVX-512, skipped\n");
        return 77;
    }
#if defined(__x86_64__) || defined(_M_X64)
    CHECK(wf_ops_silu_mul_for(WF_ISA_AVX512) == wf_silu_mul_avx512, "avx512 picks the vector form");
    enum { N = 4096 };
    static float g[N + 16], u[N + 16], gv[N + 16], gs[N + 16];
    t_rng rng = {42};
    for (int i = 0; i < N; i++) {
        g[i] = i < 2048 ? -120.0f + 240.0f * (float)i / 2047.0f : 4.0f * t_gauss(&rng);
        u[i] = t_gauss(&rng);
    }
    g[0] = 0.0f; g[1] = -0.0f; g[2] = INFINITY; g[3] = 88.0f; g[4] = 89.0f; g[5] = -88.0f; g[6] = 1e-30f;
    const double REL = 1e-6; /* polynomial exp < 6e-9 rel + a few float roundings */
    double worst = 0, worst_s = 0;
    float worst_g = 0;
    memcpy(gv, g, sizeof g);
    memcpy(gs, g, sizeof g);
    wf_silu_mul_avx512(gv, u, N);
    wf_silu_mul(gs, u, N);
    for (int i = 0; i < N; i++) {
        const double want = silu_ref(g[i], u[i]);
        double r = err_ratio(gv[i], want, REL);
        if (r > worst) { worst = r; worst_g = g[i]; }
        double rs = err_ratio(gs[i], want, REL);
        if (rs > worst_s) worst_s = rs;
        CHECK(r <= 1.0, "g=%g u=%g: avx512 %g, double %g", (double)g[i], (double)u[i], (double)gv[i], want);
        CHECK(rs <= 1.0, "g=%g u=%g: scalar %g, double %g", (double)g[i], (double)u[i], (double)gs[i], want);
    }
    /* every length: tail mask, nothing written past n */
    for (int n = 0; n <= 40; n++) {
        memcpy(gv, g + 100, sizeof(float) * 48);
        wf_silu_mul_avx512(gv, u + 100, n);
        for (int i = 0; i < 48; i++) {
            if (i < n) CHECK(err_ratio(gv[i], silu_ref(g[100 + i], u[100 + i]), REL) <= 1.0, "n=%d i=%d", n, i);
            else CHECK(gv[i] == g[100 + i], "n=%d: element %d past the end was written", n, i);
        }
    }
    printf("worst relative error / 1e-6: avx512 %.3g (at g=%g), scalar %.3g\n", worst, (double)worst_g, worst_s);
#endif
    return t_done("test_ops_simd");
}
