/* test_kernels.c — every SIMD kernel entry against the scalar reference
 * (kernels_scalar.c, quant_*.c) and against a double-precision dot of the
 * dequantized rows, on seeded random data at many shapes.
 *
 * quantize_row: byte-identical to the reference quantizer (including zero
 *   blocks, NaN elements, ties, values that clamp).
 * vec_dot / gemm: |simd - ref| <= TOL_REL * sum|w_i * a_i| (+ 1e-30), where the
 *   magnitude sum uses the dequantized values: integer block products are
 *   exact in both, only the order of the float accumulation differs.
 * gemm: every nr in 1..9, nc in 1..12 with padded strides; cells outside the tile
 *   must not be written. */
#include "cpu/kernels.h"
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#define TOL_REL 2e-5 /* of sum|w*a|; float accumulation of up to ~4k terms */

static const wf_type weight_types[] = {WF_TYPE_F32, WF_TYPE_F16, WF_TYPE_BF16, WF_TYPE_Q8_0,
                                       WF_TYPE_Q4_0, WF_TYPE_Q5_0, WF_TYPE_Q4_1, WF_TYPE_Q5_1,
                                       WF_TYPE_Q4_K, WF_TYPE_Q5_K, WF_TYPE_Q6_K, WF_TYPE_Q2_K,
                                       WF_TYPE_Q3_K, WF_TYPE_IQ4_NL, WF_TYPE_IQ4_XS, WF_TYPE_MXFP4};
#define N_WT (int)(sizeof weight_types / sizeof weight_types[0])

/* The scalar reference against the double dot of the dequantized rows: Q4_1
 * and Q5_1 use the activation's fp16-rounded s = d*sum(q) (as the format
 * intends), an error of up to 2^-11 of |m*s| per block, hence the looser bound. */
#define TOL_REF 2e-5
#define TOL_REF_Q8_1 2e-3

static double worst_rel[WF_TYPE_COUNT]; /* SIMD vs scalar: worst |err| / sum|w*a| per weight type */
static double worst_ref[WF_TYPE_COUNT]; /* scalar vs double */

/* Random weight row bytes: random codes (all bit patterns, -128 included)
 * with sane fp16 scale fields, so every unpack path is exercised. */
static void random_weight_row(t_rng *r, wf_type t, int64_t n, uint8_t *dst) {
    const wf_type_traits *tr = wf_type_get((uint32_t)t);
    const int64_t nb = n / tr->blck_size;
    if (t == WF_TYPE_F32 || t == WF_TYPE_F16 || t == WF_TYPE_BF16) {
        float *x = malloc((size_t)n * sizeof(float));
        for (int64_t i = 0; i < n; i++) x[i] = t_gauss(r);
        tr->from_float(x, dst, n);
        free(x);
        return;
    }
    for (size_t i = 0; i < (size_t)nb * tr->type_size; i++) dst[i] = (uint8_t)t_next(r);
    for (int64_t b = 0; b < nb; b++) {
        uint8_t *blk = dst + (size_t)b * tr->type_size;
        const uint16_t d = wf_fp32_to_fp16(0.001f + 0.02f * (t_unif(r) + 1.0f));
        const uint16_t m = wf_fp32_to_fp16(0.05f * t_unif(r));
        switch (t) {
        case WF_TYPE_Q6_K: memcpy(blk + 208, &d, 2); break;
        case WF_TYPE_Q3_K: memcpy(blk + 108, &d, 2); break;
        case WF_TYPE_Q2_K: memcpy(blk + 80, &d, 2); memcpy(blk + 82, &m, 2); break;
        case WF_TYPE_MXFP4: blk[0] = (uint8_t)(110 + t_next(r) % 20); break; /* 2^-17 .. 2^1 */
        case WF_TYPE_Q4_1: case WF_TYPE_Q5_1: memcpy(blk, &d, 2); memcpy(blk + 2, &m, 2); break;
        case WF_TYPE_Q4_K: case WF_TYPE_Q5_K: {
            const uint16_t dm = wf_fp32_to_fp16(0.01f * (t_unif(r) + 1.0f));
            memcpy(blk, &d, 2); memcpy(blk + 2, &dm, 2);
            break;
        }
        default: memcpy(blk, &d, 2); break;
        }
    }
}

static void random_floats(t_rng *r, float *x, int64_t n) {
    const float scale = 0.1f + 3.0f * (t_unif(r) + 1.0f);
    for (int64_t i = 0; i < n; i++) x[i] = scale * t_gauss(r);
}

/* Reference magnitude and value: dequantize both rows, dot in double. */
static double deq_dot(wf_type wt, int64_t n, const void *w, const void *a, double *mag) {
    const wf_type_traits *tw = wf_type_get((uint32_t)wt);
    const wf_type_traits *ta = wf_type_get((uint32_t)tw->vec_dot_type);
    float *x = malloc((size_t)n * sizeof(float)), *y = malloc((size_t)n * sizeof(float));
    tw->to_float(w, x, n);
    ta->to_float(a, y, n);
    double s = 0, m = 0;
    for (int64_t i = 0; i < n; i++) s += (double)x[i] * y[i], m += fabs((double)x[i] * y[i]);
    free(x);
    free(y);
    *mag = m;
    return s;
}

static void check_close(const char *what, wf_type wt, const char *isa, int64_t n, double got, double want,
                        double mag, double tol, double *worst) {
    const double err = fabs(got - want), rel = err / (mag + 1e-30);
    if (rel > worst[wt]) worst[wt] = rel;
    CHECK(err <= tol * mag + 1e-30, "%s %s %s n=%lld: got %.9g want %.9g (mag %.3g)", isa, what,
          wf_type_get((uint32_t)wt)->name, (long long)n, got, want, mag);
}

/* ---- quantize_row ---------------------------------------------------------- */

static void test_quantize(const wf_kernels *ks, const wf_kernels *k, t_rng *r) {
    static const wf_type acts[] = {WF_TYPE_Q8_0, WF_TYPE_Q8_1, WF_TYPE_Q8_K, WF_TYPE_F16, WF_TYPE_BF16, WF_TYPE_F32};
    for (size_t ai = 0; ai < sizeof acts / sizeof acts[0]; ai++) {
        const wf_type t = acts[ai];
        if (k->quantize_row[t] == ks->quantize_row[t]) continue;
        const wf_type_traits *tr = wf_type_get((uint32_t)t);
        for (int nb = 1; nb <= 12; nb++) {
            const int64_t n = (int64_t)nb * tr->blck_size + (tr->blck_size == 1 ? nb % 7 : 0);
            float *x = malloc((size_t)n * sizeof(float));
            random_floats(r, x, n);
            /* special cases, spread over the blocks */
            if (nb >= 2) memset(x, 0, (size_t)(n / nb) * sizeof(float)); /* all-zero block */
            if (nb >= 3) x[n - 1] = NAN;
            if (nb >= 4) x[n / 2] = -x[n / 2 + 1]; /* equal magnitudes, both signs */
            if (nb >= 5) for (int64_t i = 0; i < n / nb; i++) x[i] = 0.5f * (float)(i - 16); /* exact ties */
            if (nb >= 6) x[n / 3] = 1e-39f;                                 /* subnormal */
            if (nb >= 7) x[2 * n / 3] = 7e4f;                              /* > fp16 max */
            size_t sz = wf_row_size(t, n);
            uint8_t *want = malloc(sz), *got = malloc(sz);
            memset(want, 0xaa, sz);
            memset(got, 0x55, sz);
            ks->quantize_row[t](x, want, n);
            k->quantize_row[t](x, got, n);
            CHECK(memcmp(want, got, sz) == 0, "%s quantize_row %s n=%lld differs from reference",
                  wf_isa_name(k->isa), tr->name, (long long)n);
            free(want);
            free(got);
            free(x);
        }
    }
}

static void test_to_float(const wf_kernels *ks, const wf_kernels *k, t_rng *r) {
    for (wf_type t = 0; t < WF_TYPE_COUNT; t++) {
        if (!k->to_float[t] || k->to_float[t] == ks->to_float[t]) continue;
        const wf_type_traits *tr = wf_type_get((uint32_t)t);
        for (int nb = 1; nb <= 40; nb += 3) {
            const int64_t n = (int64_t)nb * tr->blck_size;
            const size_t sz = wf_row_size(t, n);
            uint8_t *src = malloc(sz);
            for (size_t i = 0; i < sz; i++) src[i] = (uint8_t)t_next(r); /* all bit patterns, NaN/Inf too */
            float *want = malloc((size_t)n * 4), *got = malloc((size_t)n * 4);
            ks->to_float[t](src, want, n);
            k->to_float[t](src, got, n);
            /* bit-identical, except that a NaN may come back with its quiet bit
             * set (the F16C conversion quiets signalling NaNs) */
            int bad = 0;
            for (int64_t i = 0; i < n; i++)
                if (memcmp(&want[i], &got[i], 4) != 0 && !(isnan(want[i]) && isnan(got[i]))) bad++;
            CHECK(bad == 0, "%s to_float %s n=%lld: %d values differ", wf_isa_name(k->isa), tr->name, (long long)n, bad);
            free(src);
            free(want);
            free(got);
        }
    }
}

/* ---- vec_dot and gemm ------------------------------------------------------- */

static void test_dots(const wf_kernels *ks, const wf_kernels *k, t_rng *r, wf_type wt) {
    const wf_type_traits *tw = wf_type_get((uint32_t)wt);
    const wf_type at = tw->vec_dot_type;
    const bool diff_dot = k->vec_dot[wt] != ks->vec_dot[wt];
    const bool diff_gemm = k->gemm[wt] != ks->gemm[wt];
    if (!diff_dot && !diff_gemm) return;
    const int bs = tw->blck_size;
    static const int nblocks[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 33};
    for (size_t ni = 0; ni < sizeof nblocks / sizeof nblocks[0]; ni++) {
        int64_t n = (int64_t)nblocks[ni] * bs;
        if (bs == 1) n = nblocks[ni] * 37 + (int64_t)ni; /* odd lengths for float rows */
        const size_t wrow = wf_row_size(wt, n), arow = wf_row_size(at, n);
        /* nc up to 12: every tile tail; 31..36: around WF_GEMM_EXACT_TOKENS,
         * where the K-quants' batched (dealt) tiles take over; up to 70:
         * several 64-column tiles, exact where gemm_exact says so */
        enum { NR = 9, NC = 70 };
        static const int ncs[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 17, 31, 32, 33, 34, 36, 64, 65, 70};
        const size_t wpad = (ni % 3) * 4, apad = (ni % 2) * 12; /* keep 4-byte alignment */
        const size_t ws = wrow + wpad, as = arow + apad;
        uint8_t *w = malloc(ws * NR), *a = malloc(as * NC);
        float *x = malloc((size_t)n * sizeof(float));
        for (int i = 0; i < NR; i++) random_weight_row(r, wt, n, w + i * ws);
        for (int c = 0; c < NC; c++) {
            random_floats(r, x, n);
            ks->quantize_row[at](x, a + c * as, n);
        }
        static double want[NC][NR], mag[NC][NR];
        for (int c = 0; c < NC; c++)
            for (int i = 0; i < NR; i++) {
                float ref;
                ks->vec_dot[wt](n, &ref, w + i * ws, a + c * as);
                double dq = deq_dot(wt, n, w + i * ws, a + c * as, &mag[c][i]);
                want[c][i] = ref;
                /* the scalar reference itself must agree with the double dot */
                check_close("scalar-vs-double", wt, "scalar", n, ref, dq, mag[c][i],
                            at == WF_TYPE_Q8_1 ? TOL_REF_Q8_1 : TOL_REF, worst_ref);
            }
        if (diff_dot)
            for (int c = 0; c < NC; c++)
                for (int i = 0; i < NR; i++) {
                    float got = NAN;
                    k->vec_dot[wt](n, &got, w + i * ws, a + c * as);
                    check_close("vec_dot", wt, wf_isa_name(k->isa), n, got, want[c][i], mag[c][i], TOL_REL, worst_rel);
                    if (k->gemm[wt]) { /* a gemm's fallback without scratch: the same bits */
                        float one = NAN;
                        k->gemm[wt](n, 1, 1, w + i * ws, ws, a + c * as, as, &one, 1);
                        CHECK(memcmp(&one, &got, sizeof one) == 0, "%s %s n=%lld: vec_dot differs from a 1x1 gemm",
                              wf_isa_name(k->isa), tw->name, (long long)n);
                    }
                }
        if (diff_gemm && (ni < 6 || ni >= 8)) /* 9 and 33 blocks: Q8_0 chunks of 8 with a tail */
            for (int nr = 1; nr <= NR; nr++)
                for (size_t nci = 0; nci < sizeof ncs / sizeof ncs[0]; nci++) {
                    const int nc = ncs[nci];
                    const size_t os = (size_t)nr + (size_t)(nc % 3); /* padded output rows */
                    float *out = malloc(sizeof(float) * os * (size_t)nc);
                    for (size_t i = 0; i < os * (size_t)nc; i++) out[i] = -12345.0f;
                    /* exact-size copies so ASan sees any read past the tile */
                    uint8_t *wt_ = malloc(ws * (size_t)(nr - 1) + wrow), *at_ = malloc(as * (size_t)(nc - 1) + arow);
                    memcpy(wt_, w, ws * (size_t)(nr - 1) + wrow);
                    memcpy(at_, a, as * (size_t)(nc - 1) + arow);
                    k->gemm[wt](n, nr, nc, wt_, ws, at_, as, out, os);
                    CHECK(k->gemm_exact[wt] >= WF_GEMM_EXACT_TOKENS, "%s gemm %s: gemm_exact %d below %d",
                          wf_isa_name(k->isa), tw->name, (int)k->gemm_exact[wt], WF_GEMM_EXACT_TOKENS);
                    if (nc <= k->gemm_exact[wt] && nc > 1) {
                        /* speculative verification relies on this: every column
                         * bit-identical to a one-column call */
                        float one[NR];
                        for (int c = 0; c < nc; c++) {
                            k->gemm[wt](n, nr, 1, wt_, ws, at_ + (size_t)c * as, as, one, (size_t)nr);
                            CHECK(memcmp(one, out + (size_t)c * os, sizeof(float) * (size_t)nr) == 0,
                                  "%s gemm %s n=%lld nr=%d nc=%d: column %d differs from a one-column call",
                                  wf_isa_name(k->isa), tw->name, (long long)n, nr, nc, c);
                        }
                    }
                    for (int c = 0; c < nc; c++)
                        for (size_t i = 0; i < os; i++) {
                            const float v = out[(size_t)c * os + i];
                            if (i < (size_t)nr)
                                check_close("gemm", wt, wf_isa_name(k->isa), n, v, want[c][i], mag[c][i], TOL_REL,
                                            worst_rel);
                            else
                                CHECK(v == -12345.0f, "%s gemm %s wrote outside the tile (r=%zu c=%d nr=%d)",
                                      wf_isa_name(k->isa), tw->name, i, c, nr);
                        }
                    free(wt_);
                    free(at_);
                    free(out);
                }
        free(w);
        free(a);
        free(x);
    }
}

int main(void) {
    wf_kernels ks, k0;
    wf_kernels_fill_scalar(&ks);
    wf_kernels_init(&k0, WF_ISA_SCALAR);
    CHECK(memcmp(&ks, &k0, sizeof ks) == 0, "wf_kernels_init(SCALAR) is not the plain scalar table");
    CHECK(k0.isa == WF_ISA_SCALAR, "isa %d", (int)k0.isa);

    wf_cpu_features f;
    wf_cpu_detect(&f);
    const wf_isa best = wf_cpu_best_isa(&f);
    printf("cpu: avx2=%d fma=%d f16c=%d avx512f=%d bw=%d vl=%d dq=%d vnni=%d bf16=%d os_avx=%d os_avx512=%d -> %s\n",
           f.avx2, f.fma, f.f16c, f.avx512f, f.avx512bw, f.avx512vl, f.avx512dq, f.avx512vnni, f.avx512bf16,
           f.os_avx, f.os_avx512, wf_isa_name(best));
    CHECK(strcmp(wf_isa_name(WF_ISA_AVX512), "avx512") == 0, "isa name");

    for (int isa = WF_ISA_AVX2; isa <= (int)best; isa++) {
        wf_kernels k;
        wf_kernels_init(&k, (wf_isa)isa);
        CHECK(k.isa == (wf_isa)isa, "init(%d) gave isa %d", isa, (int)k.isa);
        for (int t = 0; t < WF_TYPE_COUNT; t++) /* every entry the reference has must stay filled */
            CHECK(!ks.vec_dot[t] == !k.vec_dot[t] && !ks.gemm[t] == !k.gemm[t] &&
                  !ks.quantize_row[t] == !k.quantize_row[t] && !ks.to_float[t] == !k.to_float[t],
                  "%s: entry presence differs for type %d", wf_isa_name((wf_isa)isa), t);
        t_rng r = {0x9e3779b97f4a7c15ull + (uint64_t)isa};
        test_quantize(&ks, &k, &r);
        test_to_float(&ks, &k, &r);
        for (int i = 0; i < N_WT; i++) test_dots(&ks, &k, &r, weight_types[i]);
    }
    if (best == WF_ISA_SCALAR) printf("no SIMD ISA on this CPU: only the scalar table was checked\n");
    for (int i = 0; i < N_WT; i++)
        printf("  %-5s worst |err|/sum|w*a|: simd vs scalar %.3g (tol %.0e), scalar vs double %.3g\n",
               wf_type_get((uint32_t)weight_types[i])->name, worst_rel[weight_types[i]], TOL_REL,
               worst_ref[weight_types[i]]);
    return t_done("test_kernels");
}
