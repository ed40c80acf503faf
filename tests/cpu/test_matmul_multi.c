/* test_matmul_multi.c — wf_matmul_multi (several matrices, one input, one
 * pool job) against the single-matrix paths.
 *
 * For sets of 1-4 matrices of mixed types (same and different vec_dot
 * types, F32 activations too), odd row counts, 1/2/5/17 tokens and 1-3
 * threads:
 *  - with the scalar table every output is bit-identical to wf_matmul_ref on
 *    its matrix alone (wf_matmul_ref is checked against a double-precision
 *    reference in test_matmul);
 *  - with the best ISA table every output is bit-identical to a wf_matmul
 *    call on its matrix alone (fusing must not change any result);
 * plus argument errors (count out of range, differing n, missing scratch).
 */
#include "cpu/matmul.h"
#include "testutil.h"

#define N 256 /* one Q8_K/Q4_K block; 8 Q8_0 blocks */
#define MAXR 203
#define MAXT 17

typedef struct set { int n_w; wf_type t[4]; int64_t rows[4]; } set;

static void fill(wf_type t, int64_t rows, void *dst, t_rng *rng) {
    const wf_type_traits *tr = wf_type_get((uint32_t)t);
    float row[N];
    size_t rb = wf_row_size(t, N);
    for (int64_t r = 0; r < rows; r++) {
        for (int i = 0; i < N; i++) row[i] = t_gauss(rng);
        tr->from_float(row, (char *)dst + (size_t)r * rb, N);
    }
}

static int usable(const wf_kernels *k, wf_type t) {
    const wf_type_traits *tr = wf_type_get((uint32_t)t);
    return tr && tr->can_load && tr->from_float && (k->vec_dot[t] || k->gemm[t]);
}

int main(void) {
    wf_kernels scalar, best;
    wf_kernels_fill_scalar(&scalar);
    wf_cpu_features f;
    wf_cpu_detect(&f);
    wf_kernels_init(&best, wf_cpu_best_isa(&f));
    wf_threadpool *tps[3] = {0};
    for (int i = 0; i < 3; i++) {
        wf_error err = {0};
        CHECK(wf_threadpool_create(i + 1, &tps[i], &err) == WF_OK, "pool: %s", err.msg);
    }
    t_rng rng = {0xdec0de};
    const set sets[] = {
        {3, {WF_TYPE_Q8_0, WF_TYPE_Q8_0, WF_TYPE_Q8_0}, {129, 33, 33}},          /* Q/K/V, q8_0 */
        {3, {WF_TYPE_Q4_K, WF_TYPE_Q4_K, WF_TYPE_Q6_K}, {128, 32, 32}},          /* Q/K/V, q4_K_M */
        {2, {WF_TYPE_Q4_K, WF_TYPE_Q4_K}, {203, 203}},                            /* gate/up */
        {4, {WF_TYPE_Q5_0, WF_TYPE_Q4_K, WF_TYPE_F32, WF_TYPE_Q8_0}, {7, 0, 45, 61}}, /* mixed */
        {2, {WF_TYPE_F16, WF_TYPE_Q6_K}, {1, 99}},
        {1, {WF_TYPE_Q8_0}, {77}},
    };
    const int64_t ntoks[] = {1, 2, 5, 17};
    float *x = malloc(sizeof(float) * N * MAXT);
    for (int i = 0; i < N * MAXT; i++) x[i] = t_gauss(&rng);
    void *w[4];
    float *y[4], *yr[4];
    for (int i = 0; i < 4; i++) {
        w[i] = malloc(wf_row_size(WF_TYPE_F32, N) * MAXR);
        y[i] = malloc(sizeof(float) * MAXR * MAXT);
        yr[i] = malloc(sizeof(float) * MAXR * MAXT);
    }
    wf_matmul_scratch s1 = {0}, s2 = {0};
    int n_sets = 0, n_cmp = 0;
    for (size_t si = 0; si < sizeof sets / sizeof sets[0]; si++) {
        const set *st = &sets[si];
        int ok = 1;
        for (int i = 0; i < st->n_w; i++) ok &= usable(&scalar, st->t[i]) && usable(&best, st->t[i]);
        if (!ok) continue;
        n_sets++;
        wf_mat m[4];
        const wf_mat *ms[4];
        for (int i = 0; i < st->n_w; i++) {
            fill(st->t[i], st->rows[i], w[i], &rng);
            m[i] = (wf_mat){st->t[i], N, st->rows[i], wf_row_size(st->t[i], N), w[i]};
            ms[i] = &m[i];
        }
        for (size_t ti = 0; ti < sizeof ntoks / sizeof ntoks[0]; ti++) {
            int64_t nt = ntoks[ti];
            for (int th = 0; th < 3; th++) {
                for (int kk = 0; kk < 2; kk++) {
                    const wf_kernels *k = kk ? &best : &scalar;
                    for (int i = 0; i < st->n_w; i++) {
                        memset(y[i], 0xff, sizeof(float) * MAXR * MAXT); /* NaN: unwritten shows */
                        if (kk) CHECK(wf_matmul(tps[th], k, &m[i], x, nt, yr[i], &s2) == WF_OK, "single");
                        else CHECK(wf_matmul_ref(&m[i], x, nt, yr[i]) == WF_OK, "ref");
                    }
                    CHECK(wf_matmul_multi(tps[th], k, ms, st->n_w, x, nt, y, &s1) == WF_OK, "multi set %zu", si);
                    for (int i = 0; i < st->n_w; i++) {
                        size_t nb = sizeof(float) * (size_t)(st->rows[i] * nt);
                        n_cmp++;
                        CHECK(memcmp(y[i], yr[i], nb) == 0, "set %zu matrix %d (%s) ntok %lld threads %d %s: differs",
                              si, i, wf_type_get((uint32_t)st->t[i])->name, (long long)nt, th + 1,
                              kk ? "best vs wf_matmul" : "scalar vs wf_matmul_ref");
                    }
                }
            }
        }
    }
    CHECK(n_sets >= 3, "only %d sets had kernels", n_sets);

    /* errors */
    float wz[64] = {0}, yz[8];
    wf_mat a = {WF_TYPE_F32, 16, 2, 64, wz}, b = {WF_TYPE_F32, 8, 2, 32, wz};
    const wf_mat *ab[2] = {&a, &b}, *aa[5] = {&a, &a, &a, &a, &a};
    float *ys[5] = {yz, yz, yz, yz, yz};
    CHECK(wf_matmul_multi(tps[1], &best, ab, 2, x, 1, ys, &s1) == WF_ERR_INVALID_ARG, "differing n");
    CHECK(wf_matmul_multi(tps[1], &best, aa, 0, x, 1, ys, &s1) == WF_ERR_INVALID_ARG, "n_w 0");
    CHECK(wf_matmul_multi(tps[1], &best, aa, 5, x, 1, ys, &s1) == WF_ERR_INVALID_ARG, "n_w 5");
    CHECK(wf_matmul_multi(tps[1], &best, aa, 2, x, 0, ys, &s1) == WF_OK, "ntok 0");
    if (usable(&best, WF_TYPE_Q8_0)) {
        wf_mat q = {WF_TYPE_Q8_0, N, 1, wf_row_size(WF_TYPE_Q8_0, N), w[0]};
        const wf_mat *qq[2] = {&a, &q};
        a.n = N; a.row_bytes = wf_row_size(WF_TYPE_F32, N); a.rows = 1;
        CHECK(wf_matmul_multi(tps[1], &best, qq, 2, x, 1, ys, NULL) == WF_ERR_INVALID_ARG, "needs scratch");
    }
    printf("sets tested: %d, outputs compared bit-exactly: %d\n", n_sets, n_cmp);
    for (int i = 0; i < 4; i++) { free(w[i]); free(y[i]); free(yr[i]); }
    free(x);
    wf_matmul_scratch_free(&s1);
    wf_matmul_scratch_free(&s2);
    for (int i = 0; i < 3; i++) wf_threadpool_free(tps[i]);
    return t_done("test_matmul_multi");
}
