/* bench_verify.c — what speculative decoding can gain on a model at best:
 * the cost of one forward pass over k tokens with logits for all k (what a
 * verification pass of a k-1 token draft costs) against k passes of one token
 * (what plain decoding of k tokens costs).
 *
 *   bench_verify MODEL.gguf [threads=2] [history=128] [reps=200] [k...=1 2 4 8 16 32 64]
 *
 * Each pass runs after `history` cached tokens (random ids) and is undone with
 * wf_kv_truncate, so every rep sees the same cache. The k values take turns
 * (per round: two untimed passes of a k, then a timed one), so drifting
 * machine speed hits them alike while each pass still finds warm caches.
 * Prints, per k, the median
 * time of a pass, per token, and the ceiling k * t(1) / t(k): the speedup of
 * a draft that is always fully accepted, before sampling and bookkeeping.
 */
#include "base/common.h"
#include "wafer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { KMAX = 256, RMAX = 10000 };

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_verify MODEL.gguf [threads=2] [history=128] [reps=200] [k...]\n");
        return 2;
    }
    int threads = argc > 2 ? atoi(argv[2]) : 2;
    int hist = argc > 3 ? atoi(argv[3]) : 128;
    int reps = argc > 4 ? atoi(argv[4]) : 200;
    int ks[32], nk = 0;
    for (int i = 5; i < argc && nk < 32; i++) ks[nk++] = atoi(argv[i]);
    if (nk == 0) {
        const int def[] = {1, 2, 4, 8, 16, 32, 64};
        for (nk = 0; nk < 7; nk++) ks[nk] = def[nk];
    }
    if (threads < 1 || hist < 1 || reps < 1 || reps > RMAX) {
        fprintf(stderr, "bench_verify: bad arguments\n");
        return 2;
    }
    for (int i = 0; i < nk; i++)
        if (ks[i] < 1 || ks[i] > KMAX) {
            fprintf(stderr, "bench_verify: k must be 1..%d\n", KMAX);
            return 2;
        }

    wf_error err = {0};
    wf_model *m = NULL;
    wf_model_params mp = wf_model_default_params();
    if (wf_model_load(argv[1], &mp, &m, &err)) {
        fprintf(stderr, "bench_verify: %s\n", err.msg);
        return 1;
    }
    wf_context_params cp = wf_context_default_params();
    cp.n_ctx = hist + KMAX;
    cp.n_threads = threads;
    cp.n_batch = hist > KMAX ? hist : KMAX;
    wf_context *c = NULL;
    if (wf_context_create(m, &cp, &c, &err)) {
        fprintf(stderr, "bench_verify: %s\n", err.msg);
        wf_model_free(m);
        return 1;
    }
    int32_t V = wf_model_n_vocab(m);
    int32_t *tok = malloc(sizeof *tok * (size_t)(hist + KMAX));
    double *t = malloc(sizeof *t * RMAX * 32);
    if (!tok || !t) return 1;
    uint64_t s = 42;
    for (int i = 0; i < hist + KMAX; i++) {
        s ^= s >> 12, s ^= s << 25, s ^= s >> 27;
        tok[i] = (int32_t)((s * 2685821657736338717ull) % (uint64_t)V);
    }
    if (wf_decode(c, tok, hist, false, &err)) {
        fprintf(stderr, "bench_verify: %s\n", err.msg);
        return 1;
    }
    printf("bench_verify: %s, %d threads, %d cached tokens, median of %d rounds (every k once per round)\n",
           argv[1], threads, hist, reps);
    printf("%6s %12s %12s %10s\n", "k", "pass us", "us/token", "ceiling");
    /* rounds: every k in turn, so a machine whose speed drifts (shared
     * cores, shared L3) affects all k alike; per round and k, WARM untimed
     * passes first (caches as in back-to-back decoding), then one timed */
    enum { WARM = 2 };
    for (int r = 0; r < reps; r++)
        for (int i = 0; i < nk; i++)
            for (int w = 0; w <= WARM; w++) {
                double a = wf_time_now();
                if (wf_decode(c, tok + hist, ks[i], true, &err) || wf_kv_truncate(c, hist, &err)) {
                    fprintf(stderr, "bench_verify: %s\n", err.msg);
                    return 1;
                }
                if (w == WARM) t[(size_t)i * (size_t)reps + (size_t)r] = wf_time_now() - a;
            }
    double t1 = 0;
    for (int i = 0; i < nk; i++) {
        double *ti = t + (size_t)i * (size_t)reps;
        qsort(ti, (size_t)reps, sizeof *ti, cmp_d);
        double med = ti[reps / 2];
        if (ks[i] == 1) t1 = med;
        printf("%6d %12.1f %12.2f", ks[i], med * 1e6, med * 1e6 / ks[i]);
        if (t1 > 0) printf(" %9.2fx", ks[i] * t1 / med);
        printf("\n");
    }
    free(tok);
    free(t);
    wf_context_free(c);
    wf_model_free(m);
    return 0;
}
