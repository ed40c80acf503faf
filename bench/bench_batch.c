/* bench_batch.c — decode throughput of k sessions stepped together
 * (wf_sessions_step: one forward pass, one read of the weights, per step for
 * all k) against the same k sessions stepped one after another
 * (wf_session_step each: k passes per step), and one session alone.
 *
 *   bench_batch MODEL.gguf [threads=2] [tokens=32] [prompt=128] [k...=1 2 4 8]
 *
 * Greedy, token ids only (no vocabulary needed); prompts are random ids,
 * different per session; prompt evaluation is not timed. Prints aggregate
 * generated tokens per second for each k, the ratio batched / one-by-one,
 * and batched / one session alone (the k = 1 row, when it is measured): the
 * one-by-one loop also pays for each context's own pool spinning after its
 * turn, so the second ratio is the cleaner one.
 */
#include "gen/gen.h"
#include "wafer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { KMAX = 64 };

static uint64_t rng_next(uint64_t *s) {
    *s ^= *s >> 12, *s ^= *s << 25, *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

/* Begin a request on each session and run its prompt step (untimed). */
static int start(wf_session **ss, int k, int n_prompt, int n_tok, int32_t V, uint64_t seed) {
    int32_t *p = malloc(sizeof *p * (size_t)n_prompt);
    if (!p) return 1;
    wf_gen_params gp = wf_gen_default_params();
    gp.text = false;
    gp.max_tokens = n_tok + 1; /* the prompt step makes the first one */
    wf_error err = {0};
    for (int i = 0; i < k; i++) {
        wf_session_reset(ss[i]);
        for (int j = 0; j < n_prompt; j++) p[j] = (int32_t)(rng_next(&seed) % (uint64_t)V);
        bool done = false;
        if (wf_session_begin(ss[i], p, (size_t)n_prompt, &gp, NULL, &err) != WF_OK ||
            wf_session_step(ss[i], &done, &err) != WF_OK) {
            fprintf(stderr, "begin: %s\n", err.msg);
            free(p);
            return 1;
        }
    }
    free(p);
    return 0;
}

static void finish(wf_session **ss, int k) {
    for (int i = 0; i < k; i++) wf_session_end(ss[i], NULL, NULL);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL.gguf [threads=2] [tokens=32] [prompt=128] [k...=1 2 4 8]\n", argv[0]);
        return 2;
    }
    const int n_threads = argc > 2 ? atoi(argv[2]) : 2, n_tok = argc > 3 ? atoi(argv[3]) : 32;
    const int n_prompt = argc > 4 ? atoi(argv[4]) : 128;
    int ks[16] = {1, 2, 4, 8}, nk = 4;
    if (argc > 5) {
        nk = 0;
        for (int i = 5; i < argc && nk < 16; i++) ks[nk++] = atoi(argv[i]);
    }
    if (n_threads < 1 || n_tok < 1 || n_prompt < 1) return 2;
    for (int i = 0; i < nk; i++)
        if (ks[i] < 1 || ks[i] > KMAX) return 2;
    wf_error err = {0};
    wf_model *m = NULL;
    if (wf_model_load(argv[1], NULL, &m, &err) != WF_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    const int32_t V = wf_model_n_vocab(m);
    int kmax = 1;
    for (int i = 0; i < nk; i++) kmax = ks[i] > kmax ? ks[i] : kmax;
    wf_session *ss[KMAX] = {0};
    wf_context_params cp = wf_context_default_params();
    cp.n_ctx = n_prompt + n_tok + 64;
    cp.n_threads = n_threads;
    cp.n_batch = 128;
    for (int i = 0; i < kmax; i++)
        if (wf_session_create(m, &cp, &ss[i], &err) != WF_OK) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
    printf("model %s, %d threads, %d prompt + %d generated tokens per session\n", argv[1], n_threads, n_prompt, n_tok);
    printf("%4s %14s %14s %8s %10s\n", "k", "batched tok/s", "one-by-one", "ratio", "vs k=1");
    double rate1 = 0;
    for (int ki = 0; ki < nk; ki++) {
        const int k = ks[ki];
        bool done[KMAX];
        /* batched */
        if (start(ss, k, n_prompt, n_tok, V, 1234 + (uint64_t)k)) return 1;
        double t0 = wf_time_now();
        for (int live = k; live > 0;) {
            wf_sessions_step(ss, (size_t)k, done);
            live = 0;
            for (int i = 0; i < k; i++) live += !done[i];
        }
        const double tb = wf_time_now() - t0;
        finish(ss, k);
        /* one after another, round robin */
        if (start(ss, k, n_prompt, n_tok, V, 1234 + (uint64_t)k)) return 1;
        t0 = wf_time_now();
        for (int live = k; live > 0;) {
            live = 0;
            for (int i = 0; i < k; i++) {
                bool d = true;
                wf_session_step(ss[i], &d, NULL);
                live += !d;
            }
        }
        const double ts = wf_time_now() - t0;
        finish(ss, k);
        const double total = (double)k * n_tok;
        if (k == 1 || rate1 == 0) rate1 = k == 1 ? total / tb : rate1;
        printf("%4d %14.1f %14.1f %8.2f %10.2f\n", k, total / tb, total / ts, ts / tb, rate1 > 0 ? total / tb / rate1 : 0.0);
        fflush(stdout);
    }
    for (int i = 0; i < kmax; i++) wf_session_free(ss[i]);
    wf_model_free(m);
    return 0;
}
