/* test_matmul.c — the matmul driver against independent references.
 *
 * For every weight type with a kernel, odd row counts, several token counts
 * and 1-3 threads:
 *  - wf_matmul with the scalar table is bit-identical to wf_matmul_ref (the
 *    tiling and the threads must not change any result);
 *  - wf_matmul_ref agrees with a double-precision loop over the weights
 *    dequantized by the traits' to_float and the activations round-tripped
 *    through the vec_dot_type (tight tolerance), and with the exact float
 *    activations within the activation quantization error bound;
 *  - wf_matmul with the best ISA table agrees with wf_matmul_ref within a
 *    tolerance (SIMD sums in a different order, and its activation quantizer
 *    may round a few values differently).
 * The worst differences are printed.
 */
#include "cpu/matmul.h"
#include "testutil.h"

#ifdef WF_TEST_OWN_KERNELS
/* Bring-up: the kernels module is missing, so provide an F32-only scalar
 * table here (wf_matmul_ref links against wf_kernels_fill_scalar). */
static void own_dot_f32(int64_t n, float *out, const void *w, const void *a) {
    const float *x = w, *y = a;
    float s = 0;
    for (int64_t i = 0; i < n; i++) s += x[i] * y[i];
    *out = s;
}
static void own_gemm_f32(int64_t n, int nr, int nc, const void *w, size_t ws, const void *a,
                         size_t as, float *out, size_t os) {
    for (int c = 0; c < nc; c++)
        for (int r = 0; r < nr; r++)
            own_dot_f32(n, &out[(size_t)c * os + r], (const char *)w + r * ws, (const char *)a + c * as);
}
void wf_kernels_fill_scalar(wf_kernels *k) {
    memset(k, 0, sizeof *k);
    k->vec_dot[WF_TYPE_F32] = own_dot_f32;
    k->gemm[WF_TYPE_F32] = own_gemm_f32;
}
static void best_kernels(wf_kernels *k) { wf_kernels_fill_scalar(k); }
#else
static void best_kernels(wf_kernels *k) {
    wf_cpu_features f;
    wf_cpu_detect(&f);
    wf_kernels_init(k, wf_cpu_best_isa(&f));
}
#endif

typedef struct worst {
    double ratio; /* |diff| / tolerance, worst seen */
    char where[128];
} worst;

static void note(worst *w, double diff, double tol, const char *tname, int64_t rows, int64_t ntok) {
    double r = diff / tol;
    if (r > w->ratio) {
        w->ratio = r;
        snprintf(w->where, sizeof w->where, "%s rows=%lld ntok=%lld", tname, (long long)rows,
                 (long long)ntok);
    }
}

static const int64_t ROWS[] = {1, 7, 33, 257};
static const int64_t NTOK[] = {1, 2, 3, 5, 8, 17, 64, 130}; /* 130: two prefill token tiles, the second partial */

/* Elements per row for a type: several blocks, odd count of them where
 * possible; float types get an n that is no multiple of any vector width. */
static int64_t pick_n(const wf_type_traits *tr, const wf_type_traits *vt) {
    int64_t b = tr->blck_size > vt->blck_size ? tr->blck_size : vt->blck_size;
    if (b == 1) return 37;
    if (b == 32) return 5 * 32;
    return 2 * b;
}

static int test_type(wf_type type, wf_threadpool *tps[3], const wf_kernels *scalar,
                     const wf_kernels *best, t_rng *rng, worst *w_exact, worst *w_deq,
                     worst *w_best) {
    const wf_type_traits *tr = wf_type_get((uint32_t)type);
    const wf_type_traits *vt = wf_type_get((uint32_t)tr->vec_dot_type);
    int64_t n = pick_n(tr, vt);
    int64_t max_rows = ROWS[sizeof ROWS / sizeof ROWS[0] - 1], max_tok = NTOK[sizeof NTOK / sizeof NTOK[0] - 1];
    size_t row_bytes = wf_row_size(type, n);
    size_t a_row_bytes = wf_row_size(tr->vec_dot_type, n);

    /* weights: quantized from gaussian floats, then dequantized as the truth */
    float *wf = malloc(sizeof(float) * (size_t)(n * max_rows));
    void *wq = malloc(row_bytes * (size_t)max_rows);
    double *wd = malloc(sizeof(double) * (size_t)(n * max_rows));
    float *x = malloc(sizeof(float) * (size_t)(n * max_tok));
    float *xq = malloc(sizeof(float) * (size_t)(n * max_tok)); /* x through vec_dot_type */
    float *amax = malloc(sizeof(float) * (size_t)(n * max_tok)); /* block max |x| per element */
    void *xb = malloc(a_row_bytes);
    float *y = malloc(sizeof(float) * (size_t)(max_rows * max_tok));
    float *yr = malloc(sizeof(float) * (size_t)(max_rows * max_tok));
    float *row = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n * max_rows; i++) wf[i] = t_gauss(rng);
    for (int64_t r = 0; r < max_rows; r++) {
        tr->from_float(wf + r * n, (char *)wq + r * row_bytes, n);
        tr->to_float((char *)wq + r * row_bytes, row, n);
        for (int64_t i = 0; i < n; i++) wd[r * n + i] = row[i];
    }
    for (int64_t i = 0; i < n * max_tok; i++) x[i] = t_gauss(rng) * (i % 7 == 0 ? 3.0f : 1.0f);
    for (int64_t t = 0; t < max_tok; t++) {
        float *xt = x + t * n;
        if (tr->vec_dot_type == WF_TYPE_F32) {
            memcpy(xq + t * n, xt, sizeof(float) * (size_t)n);
        } else {
            vt->from_float(xt, xb, n);
            vt->to_float(xb, xq + t * n, n);
        }
        for (int64_t b0 = 0; b0 < n; b0 += vt->blck_size) {
            float m = 0;
            for (int64_t i = b0; i < b0 + vt->blck_size; i++) m = fmaxf(m, fabsf(xt[i]));
            for (int64_t i = b0; i < b0 + vt->blck_size; i++) amax[t * n + i] = vt->blck_size > 1 ? m : 0;
        }
    }

    int fails = 0;
    wf_matmul_scratch scratch = {0};
    for (size_t ri = 0; ri < sizeof ROWS / sizeof ROWS[0]; ri++) {
        for (size_t ti = 0; ti < sizeof NTOK / sizeof NTOK[0]; ti++) {
            int64_t rows = ROWS[ri], ntok = NTOK[ti];
            wf_mat m = {type, n, rows, row_bytes, wq};
            CHECK(wf_matmul_ref(&m, x, ntok, yr) == WF_OK, "ref %s", tr->name);

            /* references in double */
            for (int64_t t = 0; t < ntok; t++)
                for (int64_t r = 0; r < rows; r++) {
                    double se = 0, sq = 0, sabs = 0, sqabs = 0, qerr = 0;
                    for (int64_t i = 0; i < n; i++) {
                        double wv = wd[r * n + i];
                        se += wv * x[t * n + i];
                        sq += wv * xq[t * n + i];
                        sabs += fabs(wv * x[t * n + i]);
                        sqabs += fabs(wv * xq[t * n + i]);
                        qerr += fabs(wv) * amax[t * n + i] / 254.0;
                    }
                    double got = yr[t * rows + r];
                    /* same activations: float accumulation, fp16 scale sums */
                    double tol_d = 2e-3 * sqabs + 1e-5;
                    /* exact activations: plus the activation rounding */
                    double tol_e = 1.05 * qerr + 2e-3 * (sabs + qerr * 254.0 / 127.0) + 1e-5;
                    note(w_deq, fabs(got - sq), tol_d, tr->name, rows, ntok);
                    note(w_exact, fabs(got - se), tol_e, tr->name, rows, ntok);
                    if (fabs(got - sq) > tol_d || fabs(got - se) > tol_e) fails++;
                }

            for (int th = 0; th < 3; th++) {
                memset(y, 0xff, sizeof(float) * (size_t)(rows * ntok)); /* NaN: unwritten shows */
                wf_status st = wf_matmul(tps[th], scalar, &m, x, ntok, y, &scratch);
                CHECK(st == WF_OK, "scalar %s: %s", tr->name, wf_status_name(st));
                int differ = memcmp(y, yr, sizeof(float) * (size_t)(rows * ntok)) != 0;
                CHECK(!differ, "scalar table, %s rows=%lld ntok=%lld threads=%d: not identical to wf_matmul_ref",
                      tr->name, (long long)rows, (long long)ntok, th + 1);

                if (!best->vec_dot[type] && !best->gemm[type]) continue;
                memset(y, 0xff, sizeof(float) * (size_t)(rows * ntok));
                st = wf_matmul(tps[th], best, &m, x, ntok, y, &scratch);
                CHECK(st == WF_OK, "best %s: %s", tr->name, wf_status_name(st));
                int bad = 0;
                for (int64_t t = 0; t < ntok; t++)
                    for (int64_t r = 0; r < rows; r++) {
                        /* The SIMD activation quantizer may round a scale or
                         * a value differently from the reference one, so the
                         * tolerance allows a few activation steps (step =
                         * block amax / 127) besides the summation order. */
                        double sqabs = 0, step = 0;
                        for (int64_t i = 0; i < n; i++) {
                            sqabs += fabs(wd[r * n + i] * xq[t * n + i]);
                            step = fmax(step, fabs(wd[r * n + i]) * amax[t * n + i] / 127.0);
                        }
                        double tol = 2e-3 * sqabs + 4.0 * step + 1e-5;
                        double d = fabs((double)y[t * rows + r] - yr[t * rows + r]);
                        note(w_best, d, tol, tr->name, rows, ntok);
                        if (!(d <= tol)) bad++;
                    }
                CHECK(bad == 0, "best table, %s rows=%lld ntok=%lld threads=%d: %d results off",
                      tr->name, (long long)rows, (long long)ntok, th + 1, bad);
            }
        }
    }
    CHECK(fails == 0, "%s: %d results of wf_matmul_ref off the double-precision reference", tr->name, fails);

    /* wf_mat_get_row is the traits' dequantization */
    wf_mat m = {type, n, max_rows, row_bytes, wq};
    int bad = 0;
    for (int64_t r = 0; r < max_rows; r += 31) {
        wf_mat_get_row(scalar, &m, r, row);
        for (int64_t i = 0; i < n; i++) bad += row[i] != (float)wd[r * n + i];
        wf_mat_get_row(best, &m, r, row);
        for (int64_t i = 0; i < n; i++) bad += fabs(row[i] - wd[r * n + i]) > 1e-6 * fabs(wd[r * n + i]);
    }
    CHECK(bad == 0, "%s: wf_mat_get_row differs from to_float in %d elements", tr->name, bad);

    wf_matmul_scratch_free(&scratch);
    free(wf); free(wq); free(wd); free(x); free(xq); free(amax); free(xb); free(y); free(yr); free(row);
    return 1;
}

static void test_errors(const wf_kernels *k, wf_threadpool *tp) {
    float w[64] = {0}, x[64] = {0}, y[4];
    wf_matmul_scratch s = {0};
    wf_mat m = {WF_TYPE_F32, 16, 4, 16 * 4, w};
    CHECK(wf_matmul(tp, k, &m, x, 0, y, &s) == WF_OK, "ntok 0");
    CHECK(wf_matmul(tp, k, &m, x, -1, y, &s) == WF_ERR_INVALID_ARG, "ntok -1");
    wf_mat bad = m;
    bad.row_bytes = 60;
    CHECK(wf_matmul(tp, k, &bad, x, 1, y, &s) == WF_ERR_INVALID_ARG, "row_bytes mismatch");
    bad = m;
    bad.type = (wf_type)17;
    CHECK(wf_matmul(tp, k, &bad, x, 1, y, &s) == WF_ERR_UNSUPPORTED, "unknown type");
    bad.type = (wf_type)24; /* i8: known to GGUF, not a weight type */
    CHECK(wf_matmul(tp, k, &bad, x, 1, y, &s) == WF_ERR_UNSUPPORTED, "type that cannot load");
    CHECK(wf_matmul_ref(&bad, x, 1, y) == WF_ERR_UNSUPPORTED, "ref: type that cannot load");
    bad = m;
    bad.data = NULL;
    CHECK(wf_matmul(tp, k, &bad, x, 1, y, &s) == WF_ERR_INVALID_ARG, "NULL data");
    if (k->vec_dot[WF_TYPE_Q8_0]) {
        /* n = 16 is not a multiple of the 32-element block */
        wf_mat q = {WF_TYPE_Q8_0, 16, 1, 0, w};
        CHECK(wf_matmul(tp, k, &q, x, 1, y, &s) == WF_ERR_INVALID_ARG, "n not a block multiple");
        wf_mat q2 = {WF_TYPE_Q8_0, 32, 1, wf_row_size(WF_TYPE_Q8_0, 32), w};
        CHECK(wf_matmul(tp, k, &q2, x, 1, y, NULL) == WF_ERR_INVALID_ARG, "quantized W needs scratch");
    }
    /* out-of-range row: zeros, no crash */
    float row[16];
    row[0] = 1;
    wf_mat_get_row(k, &m, 4, row);
    CHECK(row[0] == 0, "get_row out of range");
    wf_matmul_scratch_free(&s);
}

int main(void) {
    wf_kernels scalar, best;
    wf_kernels_fill_scalar(&scalar);
    best_kernels(&best);
    wf_threadpool *tps[3] = {0};
    for (int i = 0; i < 3; i++) {
        wf_error err = {0};
        CHECK(wf_threadpool_create(i + 1, &tps[i], &err) == WF_OK, "pool: %s", err.msg);
    }
    t_rng rng = {0x1234567};
    worst w_exact = {0}, w_deq = {0}, w_best = {0};
    int tested = 0;
    char names[512] = "";
    for (uint32_t t = 0; t < WF_TYPE_COUNT; t++) {
        const wf_type_traits *tr = wf_type_get(t);
        if (!tr || !tr->can_load || !tr->to_float || !tr->from_float) continue;
        const wf_type_traits *vt = wf_type_get((uint32_t)tr->vec_dot_type);
        if (!vt || !vt->to_float || !vt->from_float) continue;
        if (!scalar.vec_dot[t]) continue;
        tested += test_type((wf_type)t, tps, &scalar, &best, &rng, &w_exact, &w_deq, &w_best);
        strncat(names, tr->name, sizeof names - strlen(names) - 2);
        strncat(names, " ", sizeof names - strlen(names) - 1);
    }
    CHECK(tested > 0, "no type could be tested");
    test_errors(&scalar, tps[1]);
    printf("types tested: %s\n", names);
    printf("best ISA table: %d\n", (int)best.isa);
    printf("worst |ref - double, same activations| / tol = %.3g (%s)\n", w_deq.ratio, w_deq.where);
    printf("worst |ref - double, exact activations| / tol = %.3g (%s)\n", w_exact.ratio, w_exact.where);
    printf("worst |best ISA - ref| / tol = %.3g (%s)\n", w_best.ratio, w_best.where);
    for (int i = 0; i < 3; i++) wf_threadpool_free(tps[i]);
    return t_done("test_matmul");
}
