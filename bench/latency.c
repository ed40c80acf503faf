/* latency.c — real-time latency of the generation API (src/gen/gen.h),
 * measured in-process:
 *   1. interrupt latency: a thread calls wf_session_cancel while tokens
 *      stream; we report the time from the cancel call to the return of
 *      wf_session_generate and to the last token emitted, and how many tokens
 *      came after the cancel (must be 0), over several trials; the same while
 *      the prompt is being read (cancellation is checked between n_batch
 *      chunks);
 *   2. follow-up time to first token after H tokens of shared history:
 *      cold (nothing cached: what a runner without reuse pays), the same
 *      session's follow-up (only the new turn is computed), and a request
 *      served from the cross-request prefix cache after the session did an
 *      unrelated request in between.
 * The prompts are random token ids (the bench models have no tokenizer).
 * usage: bench_latency MODEL [-t N] [--hist 1024,4096,16384] [--reps N] [--trials N] */
#include "gen/gen.h"
#include "base/common.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct cancel_job {
    wf_session *s;
    int32_t after;          /* cancel once this many tokens were emitted   */
    int32_t extra_us;       /* ... plus this delay (a random point of a step) */
    volatile int32_t n_tok; /* tokens emitted so far                        */
    double t_cancel;        /* when wf_session_cancel was called            */
    double t_last;          /* the last token's callback                    */
    int32_t n_after;        /* tokens emitted after the cancel              */
    pthread_mutex_t mu;
} cancel_job;

static bool on_tok(void *user, int32_t token, const char *text, size_t n) {
    (void)text;
    (void)n;
    cancel_job *j = user;
    if (token < 0) return true;
    double t = wf_time_now();
    pthread_mutex_lock(&j->mu);
    j->t_last = t;
    if (j->t_cancel > 0) j->n_after++;
    j->n_tok++;
    pthread_mutex_unlock(&j->mu);
    return true;
}

static void *canceller(void *arg) {
    cancel_job *j = arg;
    while (j->n_tok < j->after) usleep(200);
    usleep((useconds_t)j->extra_us);
    pthread_mutex_lock(&j->mu);
    j->t_cancel = wf_time_now();
    pthread_mutex_unlock(&j->mu);
    wf_session_cancel(j->s);
    return NULL;
}

/* wait for the prefill to have started, then cancel after delay_us */
static void *canceller_prefill(void *arg) {
    cancel_job *j = arg;
    usleep((useconds_t)j->extra_us);
    pthread_mutex_lock(&j->mu);
    j->t_cancel = wf_time_now();
    pthread_mutex_unlock(&j->mu);
    wf_session_cancel(j->s);
    return NULL;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

static void fill(int32_t *t, size_t n, int32_t n_vocab) {
    for (size_t i = 0; i < n; i++) t[i] = (int32_t)(rnd() % (uint32_t)n_vocab);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_latency MODEL [-t N] [--hist 1024,4096,16384] [--reps N] [--trials N] [--batch N]\n");
        return 2;
    }
    const char *path = argv[1];
    int threads = 2, reps = 3, trials = 9, batch = 512;
    int32_t hist[8] = {1024, 4096, 16384};
    int n_hist = 3;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "-t")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--trials")) trials = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--batch")) batch = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--hist")) {
            n_hist = 0;
            for (char *p = argv[i + 1]; *p && n_hist < 8;) {
                hist[n_hist++] = (int32_t)strtol(p, &p, 10);
                if (*p == ',') p++;
            }
        }
    }
    if (reps < 1) reps = 1;
    if (trials < 1) trials = 1;
    if (trials > 64) trials = 64;
    wf_error err = {0};
    wf_model *m = NULL;
    wf_model_params mp = wf_model_default_params();
    if (wf_model_load(path, &mp, &m, &err)) {
        fprintf(stderr, "bench_latency: %s\n", err.msg);
        return 1;
    }
    int32_t n_vocab = wf_model_n_vocab(m);
    int32_t max_hist = 0;
    for (int i = 0; i < n_hist; i++) max_hist = hist[i] > max_hist ? hist[i] : max_hist;
    wf_context_params cp = wf_context_default_params();
    cp.n_ctx = (max_hist > 1024 ? max_hist : 1024) + 512;
    cp.n_threads = threads;
    cp.n_batch = batch;
    wf_session *s = NULL;
    if (wf_session_create(m, &cp, &s, &err)) {
        fprintf(stderr, "bench_latency: %s\n", err.msg);
        return 1;
    }
    size_t cap = (size_t)cp.n_ctx;
    int32_t *prompt = malloc(cap * sizeof *prompt);
    if (!prompt) return 1;
    printf("model %s, %d threads, n_batch %d, n_ctx %d\n", path, threads, batch, cp.n_ctx);

    /* 1. interrupt while decoding */
    double lat_ret[64], lat_last[64], step[64];
    int bad = 0;
    for (int t = 0; t < trials; t++) {
        fill(prompt, 64, n_vocab);
        wf_session_reset(s);
        cancel_job j = {.s = s, .after = 8 + (int32_t)(rnd() % 8), .extra_us = (int32_t)(rnd() % 8000)};
        pthread_mutex_init(&j.mu, NULL);
        pthread_t th;
        pthread_create(&th, NULL, canceller, &j);
        wf_gen_params gp = wf_gen_default_params();
        gp.max_tokens = 4096;
        wf_gen_callbacks cb = {on_tok, &j};
        wf_gen_result res;
        if (wf_session_generate(s, prompt, 64, &gp, &cb, &res, &err)) {
            fprintf(stderr, "bench_latency: %s\n", err.msg);
            return 1;
        }
        double t_ret = wf_time_now();
        pthread_join(th, NULL);
        lat_ret[t] = (t_ret - j.t_cancel) * 1e3;
        lat_last[t] = j.t_last > j.t_cancel ? (j.t_last - j.t_cancel) * 1e3 : 0.0;
        step[t] = res.n_generated > 1 ? res.t_gen / (res.n_generated - 1) * 1e3 : 0.0;
        if (j.n_after || res.stop != WF_GEN_STOP_CANCELLED) bad++;
        pthread_mutex_destroy(&j.mu);
    }
    double ms_step = median(step, trials);
    printf("interrupt while decoding: %d trials, median cancel->return %.2f ms (max ", trials, median(lat_ret, trials));
    double mx = 0;
    for (int t = 0; t < trials; t++) mx = lat_ret[t] > mx ? lat_ret[t] : mx;
    printf("%.2f ms), median cancel->last token %.2f ms, decode step %.2f ms, trials with a token after the cancel or another stop: %d\n",
           mx, median(lat_last, trials), ms_step, bad);

    /* 1b. interrupt while reading a long prompt */
    int32_t np = max_hist < 4096 ? max_hist : 4096;
    for (int t = 0; t < trials && t < 5; t++) {
        fill(prompt, (size_t)np, n_vocab);
        wf_session_reset(s);
        cancel_job j = {.s = s, .extra_us = 100000 + (int32_t)(rnd() % 400000)};
        pthread_mutex_init(&j.mu, NULL);
        pthread_t th;
        pthread_create(&th, NULL, canceller_prefill, &j);
        wf_gen_params gp = wf_gen_default_params();
        gp.max_tokens = 16;
        wf_gen_callbacks cb = {on_tok, &j};
        wf_gen_result res;
        if (wf_session_generate(s, prompt, (size_t)np, &gp, &cb, &res, &err)) return 1;
        double t_ret = wf_time_now();
        pthread_join(th, NULL);
        lat_ret[t] = (t_ret - j.t_cancel) * 1e3;
        pthread_mutex_destroy(&j.mu);
    }
    int tp = trials < 5 ? trials : 5;
    printf("interrupt while reading a %d-token prompt (n_batch %d): %d trials, median cancel->return %.1f ms\n", np, batch,
           tp, median(lat_ret, tp));

    /* 2. follow-up time to first token */
    wf_prefix_cache *pc = NULL;
    if (wf_prefix_cache_create((uint64_t)4 << 30, 0, &pc, &err)) return 1;
    wf_session_set_prefix_cache(s, pc);
    printf("| shared history | cold TTFT ms (no reuse) | same-session follow-up TTFT ms | prefix-cache follow-up TTFT ms | tokens restored |\n");
    printf("|---:|---:|---:|---:|---:|\n");
    for (int h = 0; h < n_hist; h++) {
        int32_t H = hist[h];
        double cold[16], same[16], cached[16];
        int r_here = H >= 16384 ? 1 : reps;
        if (r_here > 16) r_here = 16;
        int32_t restored = 0;
        for (int r = 0; r < r_here; r++) {
            /* history + turn 1 (32 tokens), cold */
            fill(prompt, (size_t)H + 32, n_vocab);
            wf_session_reset(s);
            wf_gen_params gp = wf_gen_default_params();
            gp.max_tokens = 1;
            wf_gen_result res;
            wf_session_set_prefix_cache(s, NULL);
            if (wf_session_generate(s, prompt, (size_t)H + 32, &gp, NULL, &res, &err)) return 1;
            cold[r] = res.t_first * 1e3;
            /* same session: history + turn 1 + its answer + turn 2 */
            size_t nt = 0;
            const int32_t *held = wf_session_tokens(s, &nt);
            int32_t *p2 = malloc((nt + 32) * sizeof *p2);
            memcpy(p2, held, nt * sizeof *p2);
            fill(p2 + nt, 32, n_vocab);
            if (wf_session_generate(s, p2, nt + 32, &gp, NULL, &res, &err)) return 1;
            same[r] = res.t_first * 1e3;
            /* an unrelated request (the session's state goes to the cache),
             * then history + another turn: restored from the cache */
            wf_session_set_prefix_cache(s, pc);
            int32_t other[64];
            fill((int32_t *)other, 64, n_vocab);
            if (wf_session_generate(s, other, 64, &gp, NULL, &res, &err)) return 1;
            fill(prompt + H, 32, n_vocab);
            if (wf_session_generate(s, prompt, (size_t)H + 32, &gp, NULL, &res, &err)) return 1;
            cached[r] = res.t_first * 1e3;
            restored = res.n_prompt_from_cache;
            free(p2);
        }
        printf("| %d | %.1f | %.1f | %.1f | %d |\n", H, median(cold, r_here), median(same, r_here),
               median(cached, r_here), restored);
        fflush(stdout);
    }
    wf_session_free(s);
    wf_prefix_cache_free(pc);
    wf_model_free(m);
    free(prompt);
    return bad ? 3 : 0;
}
