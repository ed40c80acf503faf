/* bench_grammar.c — what constrained decoding costs (docs/grammar.md).
 *
 *   bench_grammar MODEL [--tokens N] [--reps R] [--threads T] [--temp X] [--chain]
 *
 * 1. Decoding speed, free against constrained, interleaved rep by rep on one
 *    session: the same prompt, greedy (or --temp; --chain: llama.cpp's
 *    default truncation top-k 40, top-p 0.95, min-p 0.05), N tokens at
 *    most; the constrained runs follow a JSON Schema of eight properties
 *    (strings, integers, an enum, an array): one grammar compiled once and
 *    used by every rep (its masks kept across requests, as a server's
 *    grammar cache does) and one compiled anew for each rep (a first
 *    request: every mask cold). tok/s is wf_gen_result.decode_tok_s; medians and their
 *    ratio, and the median of each rep's own ratio over the reps whose two
 *    runs made the same number of tokens (equal lengths: equal contexts;
 *    neighbours in time: less moved by a drifting load; with --tokens
 *    below the JSON answer's length, every rep whose free run does not
 *    stop early).
 * 2. Mask time per token: a fixed JSON answer (valid for the schema) is
 *    tokenized with the model's vocabulary and replayed through a fresh
 *    matcher (cold caches, as a new request) and again through the same one
 *    (warm): wf_grammar_matcher_mask per token.
 * 3. Compile time of a 100-property schema (JSON Schema -> GBNF -> grammar)
 *    and its first mask on this vocabulary; median of R runs.
 * 4. The sampling step at temperature 1 when the unconstrained draw misses
 *    the grammar: masked logits and a second run of the chain (the way
 *    before wf_sampler_redraw_masked) against the redraw; per step. */
#include "gen/gen.h"
#include "grammar/grammar.h"
#include "text/tokenizer.h"
#include "wafer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char k_schema[] =
    "{\"type\": \"object\", \"properties\": {"
    "\"name\": {\"type\": \"string\", \"maxLength\": 24}, \"id\": {\"type\": \"integer\", \"minimum\": 0, \"maximum\": 99999},"
    "\"kind\": {\"enum\": [\"file\", \"directory\", \"link\"]}, \"size\": {\"type\": \"integer\"},"
    "\"path\": {\"type\": \"string\", \"maxLength\": 64}, \"tags\": {\"type\": \"array\", \"items\": {\"type\": \"string\", \"maxLength\": 12}, \"maxItems\": 4},"
    "\"owner\": {\"type\": \"string\", \"maxLength\": 16}, \"hidden\": {\"type\": \"boolean\"}},"
    "\"required\": [\"name\", \"id\", \"kind\", \"size\", \"path\", \"tags\", \"owner\", \"hidden\"], \"additionalProperties\": false}";
static const char k_answer[] =
    "{\"name\": \"grammar.c\", \"id\": 4107, \"kind\": \"file\", \"size\": 28731, \"path\": \"src/grammar/matcher.c\", "
    "\"tags\": [\"c\", \"engine\", \"masks\"], \"owner\": \"wafer\", \"hidden\": false}";
/* one prompt for both runs (code, so that free decoding does not end at
 * once; the grammar makes the constrained run JSON whatever the prompt) */
static const char k_prompt[] = "# parse the arguments\nimport sys\n\ndef main(argv):\n    args = ";

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* The median of the entries >= 0 (0 when there are none). */
static double median_valid(double *v, int n) {
    int k = 0;
    for (int i = 0; i < n; i++)
        if (v[i] >= 0) v[k++] = v[i];
    return k ? median(v, k) : 0.0;
}

static bool no_cb(void *u, int32_t t, const char *s, size_t n) {
    (void)u, (void)t, (void)s, (void)n;
    return true;
}

int main(int argc, char **argv) {
    const char *path = NULL;
    int n_tok = 64, reps = 5, threads = 2;
    float temp = 0.0f;
    bool trunc = false;
    for (int i = 1; i < argc; i++) {
        /* the inputs, for running llama.cpp on the same (bench/grammar.sh) */
        if (!strcmp(argv[i], "--print-schema")) return printf("%s\n", k_schema) < 0;
        if (!strcmp(argv[i], "--print-prompt")) return printf("%s", k_prompt) < 0;
        if (!strcmp(argv[i], "--tokens") && i + 1 < argc) n_tok = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--temp") && i + 1 < argc) temp = (float)atof(argv[++i]);
        else if (!strcmp(argv[i], "--chain")) trunc = true;
        else if (argv[i][0] != '-') path = argv[i];
        else {
            fprintf(stderr, "usage: bench_grammar MODEL [--tokens N] [--reps R] [--threads T] [--temp X]\n");
            return 2;
        }
    }
    if (!path || n_tok < 2 || reps < 1 || reps > 100) {
        fprintf(stderr, "usage: bench_grammar MODEL [--tokens N] [--reps R] [--threads T]\n");
        return 2;
    }
    wf_error err;
    wf_model *m = NULL;
    wf_model_params mp = wf_model_default_params();
    if (wf_model_load(path, &mp, &m, &err)) {
        fprintf(stderr, "bench_grammar: %s: %s\n", path, err.msg);
        return 1;
    }
    const wf_vocab *v = wf_model_vocab(m);
    if (!v) {
        fprintf(stderr, "bench_grammar: the model has no vocabulary\n");
        return 1;
    }
    double t0 = wf_time_now();
    wf_grammar_vocab *gv = NULL;
    wf_grammar *g = NULL;
    if (wf_grammar_vocab_create(v, &gv, &err) || wf_grammar_from_json_schema(k_schema, strlen(k_schema), &g, &err)) {
        fprintf(stderr, "bench_grammar: %s\n", err.msg);
        return 1;
    }
    const double t_vocab = wf_time_now() - t0 - 0.0;
    wf_context_params cp = wf_context_default_params();
    cp.n_ctx = 512;
    cp.n_threads = threads;
    wf_session *s = NULL;
    if (wf_session_create(m, &cp, &s, &err)) {
        fprintf(stderr, "bench_grammar: %s\n", err.msg);
        return 1;
    }
    int32_t *prompt = NULL;
    size_t np = 0;
    if (wf_tokenize(v, k_prompt, strlen(k_prompt), true, false, &prompt, &np, &err)) return 1;

    /* 1. free vs constrained, interleaved */
    double *tf = calloc((size_t)reps, sizeof *tf), *tc = calloc((size_t)reps, sizeof *tc);
    double *share = calloc((size_t)reps, sizeof *share);
    double *tn = calloc((size_t)reps, sizeof *tn), *share_n = calloc((size_t)reps, sizeof *share_n);
    int64_t n_lazy = 0, n_masks_n = 0;
    int32_t *len_f = calloc((size_t)reps, sizeof *len_f), *len_c = calloc((size_t)reps, sizeof *len_c);
    int64_t n_masks = 0;
    int32_t nf = 0, nc = 0;
    for (int r = 0; r < reps; r++) {
        for (int k = 0; k < 3; k++) {
            wf_gen_params p = wf_gen_default_params();
            p.max_tokens = n_tok;
            wf_sampler_params sp = wf_sampler_default_params();
            sp.temperature = temp; /* > 0: plain softmax sampling, seeded per rep */
            if (!trunc) {
                sp.top_k = 0;
                sp.top_p = 1.0f;
                sp.min_p = 0.0f;
            }
            sp.seed = 1000 + (uint64_t)r;
            p.sampling = &sp;
            wf_grammar *fresh = NULL;
            if (k == 2 && wf_grammar_from_json_schema(k_schema, strlen(k_schema), &fresh, &err)) return 1;
            if (k) p.grammar = k == 1 ? g : fresh, p.grammar_vocab = gv;
            wf_gen_callbacks cb = {no_cb, NULL};
            wf_gen_result res;
            wf_session_reset(s); /* the same work each time: the whole prompt */
            if (wf_session_generate(s, prompt, np, &p, &cb, &res, &err)) {
                fprintf(stderr, "bench_grammar: generate: %s\n", err.msg);
                return 1;
            }
            wf_grammar_free(fresh);
            /* a run that ended within a few tokens (EOG) says little about speed */
            const double rate = res.n_generated >= 8 ? res.decode_tok_s : -1.0;
            const double sh = res.t_total > 0 ? res.t_grammar / res.t_total : 0;
            if (k == 2) {
                tn[r] = rate, share_n[r] = sh, n_masks_n = res.n_grammar_masks;
                continue;
            }
            (k ? tc : tf)[r] = rate;
            if (k) share[r] = sh, n_masks = res.n_grammar_masks, n_lazy = res.n_grammar_lazy;
            (k ? &nc : &nf)[0] = res.n_generated;
            (k ? len_c : len_f)[r] = res.n_generated;
        }
    }
    /* each rep's constrained / free rate where both runs made the same
     * number of tokens (a step costs more as the context grows, so runs of
     * different lengths differ in rate without the grammar); the two runs
     * sit side by side in time, so a load that drifts moves both */
    double *pr = calloc((size_t)reps, sizeof *pr);
    int n_pairs = 0;
    for (int r = 0; r < reps; r++)
        pr[r] = tf[r] > 0 && tc[r] > 0 && len_f[r] == len_c[r] ? (n_pairs++, tc[r] / tf[r]) : -1.0;
    const double mpr = median_valid(pr, reps);
    free(pr);
    double mf = median_valid(tf, reps), mc = median_valid(tc, reps), mn = median_valid(tn, reps);

    /* 2. masks per token, replaying a fixed answer */
    int32_t *ans = NULL;
    size_t na = 0;
    if (wf_tokenize_text(v, k_answer, strlen(k_answer), false, NULL, 0, &ans, &na, &err)) return 1;
    wf_grammar_matcher *gm = NULL;
    double cold = 0, warm = 0;
    wf_grammar *g_new = NULL; /* cold: a grammar no matcher has used (g's masks are warm from part 1) */
    bool replay_ok = wf_grammar_from_json_schema(k_schema, strlen(k_schema), &g_new, &err) == WF_OK &&
                     wf_grammar_matcher_create(g_new, gv, &gm, &err) == WF_OK;
    for (int pass = 0; pass < 2 && replay_ok; pass++) {
        wf_grammar_matcher_reset(gm);
        double t = wf_time_now();
        for (size_t i = 0; i < na && replay_ok; i++) {
            replay_ok = wf_grammar_matcher_mask(gm) != NULL && wf_grammar_matcher_accept_token(gm, ans[i]);
        }
        replay_ok = replay_ok && wf_grammar_matcher_mask(gm) != NULL && wf_grammar_matcher_can_end(gm);
        (pass ? &warm : &cold)[0] = (wf_time_now() - t) / (double)(na + 1);
    }
    wf_grammar_stats gst;
    wf_grammar_matcher_stats(gm, &gst);
    wf_grammar_matcher_free(gm);
    wf_grammar_free(g_new);

    /* 3. a 100-property schema */
    char *big = malloc(100 * 96 + 256);
    size_t bn = (size_t)sprintf(big, "{\"type\": \"object\", \"properties\": {");
    for (int i = 0; i < 100; i++)
        bn += (size_t)sprintf(big + bn, "%s\"field_%d\": {\"type\": \"%s\"%s}", i ? ", " : "", i,
                              i % 3 == 0 ? "string" : i % 3 == 1 ? "integer" : "boolean", i % 3 == 0 ? ", \"maxLength\": 32" : "");
    bn += (size_t)sprintf(big + bn, "}, \"required\": [\"field_0\", \"field_50\", \"field_99\"], \"additionalProperties\": false}");
    double *tcomp = calloc((size_t)reps, sizeof *tcomp), *tmask = calloc((size_t)reps, sizeof *tmask);
    for (int r = 0; r < reps; r++) {
        wf_grammar *bg = NULL;
        double t = wf_time_now();
        if (wf_grammar_from_json_schema(big, bn, &bg, &err)) {
            fprintf(stderr, "bench_grammar: 100 properties: %s\n", err.msg);
            return 1;
        }
        tcomp[r] = wf_time_now() - t;
        wf_grammar_matcher *bm = NULL;
        t = wf_time_now();
        if (wf_grammar_matcher_create(bg, gv, &bm, &err) || !wf_grammar_matcher_mask(bm)) return 1;
        tmask[r] = wf_time_now() - t;
        wf_grammar_matcher_free(bm);
        wf_grammar_free(bg);
    }

    /* 4. the sampling step when the first draw misses the grammar, on the
     * prompt's real logits at the answer's first position (only "{" fits):
     * masked logits + a second chain run (before) against the redraw from
     * the first draw's weights (wf_sampler_redraw_masked, now) */
    double t_old = 0, t_new = 0;
    int miss_old = 0, miss_new = 0;
    {
        const int32_t nv = wf_model_n_vocab(m);
        wf_session_reset(s);
        wf_context *ctx = wf_session_context(s);
        float *lg = malloc((size_t)nv * sizeof *lg), *cp2 = malloc((size_t)nv * sizeof *cp2);
        wf_grammar_matcher *sm = NULL;
        if (!lg || !cp2 || wf_decode(ctx, prompt, (int32_t)np, false, &err) || wf_grammar_matcher_create(g, gv, &sm, &err)) return 1;
        memcpy(lg, wf_get_logits(ctx, -1), (size_t)nv * sizeof *lg);
        wf_sampler_params sp = wf_sampler_default_params();
        sp.temperature = 1.0f, sp.top_k = 0, sp.top_p = 1.0f, sp.min_p = 0.0f;
        wf_sampler *smp = NULL;
        if (wf_sampler_create(&sp, nv, &smp, &err)) return 1;
        (void)wf_grammar_matcher_mask(sm); /* warm: the cost here is the sampling's */
        const int iters = 400;
        for (int pass = 0; pass < 2 * reps; pass++) {
            const bool redraw = pass % 2;
            double t = wf_time_now();
            for (int i = 0; i < iters; i++) {
                int32_t z = wf_sampler_sample(smp, lg);
                if (wf_grammar_matcher_check(sm, &z, 1) == 1) continue;
                (redraw ? &miss_new : &miss_old)[0]++;
                if (redraw) {
                    z = wf_sampler_redraw_masked(smp, wf_grammar_matcher_mask(sm));
                } else {
                    memcpy(cp2, lg, (size_t)nv * sizeof *cp2);
                    wf_grammar_matcher_apply(sm, cp2);
                    z = wf_sampler_sample(smp, cp2);
                }
                if (wf_grammar_matcher_check(sm, &z, 1) != 1) return fprintf(stderr, "bench_grammar: sampled outside\n"), 1;
            }
            (redraw ? &t_new : &t_old)[0] += wf_time_now() - t;
        }
        t_old /= (double)reps * iters, t_new /= (double)reps * iters;
        wf_sampler_free(smp);
        wf_grammar_matcher_free(sm);
        free(lg);
        free(cp2);
    }

    printf("model %s: %d tokens in the vocabulary (token trie built in %.1f ms)\n", path, wf_model_n_vocab(m), t_vocab * 1e3);
    printf("decode, %s, %d threads, median of %d interleaved runs (those of 8 tokens or more): free %.1f tok/s (%d tokens in the last), constrained %.1f tok/s (%d tokens): %.3fx\n",
           temp > 0 ? "temperature > 0" : "greedy", threads, reps, mf, nf, mc, nc, mf > 0 ? mc / mf : 0.0);
    printf("paired: median of each rep's constrained / free rate %.3fx (%d reps whose two runs made the same number of tokens)\n", mpr, n_pairs);
    printf("grammar work in the constrained runs: %.2f%% of their time (median), %lld full masks and %lld steps decided "
           "lazily for %d tokens (last run)\n", 100.0 * median(share, reps), (long long)n_masks, (long long)n_lazy, nc);
    printf("a grammar compiled anew for each request: %.1f tok/s, %.3fx of free, grammar work %.2f%% (%lld full masks in the last)\n",
           mn, mf > 0 ? mn / mf : 0.0, 100.0 * median(share_n, reps), (long long)n_masks_n);
    printf("mask per token, replaying a %zu-token JSON answer: cold %.1f us, warm %.2f us (%lld states, %lld trie nodes visited)%s\n",
           na, cold * 1e6, warm * 1e6, (long long)gst.n_states, (long long)gst.n_trie_nodes, replay_ok ? "" : " REPLAY FAILED");
    printf("100-property schema: compile %.2f ms, first mask %.2f ms (median of %d)\n", median(tcomp, reps) * 1e3,
           median(tmask, reps) * 1e3, reps);
    printf("sampling step at temperature 1 where the first draw misses (%d and %d of %d): masked logits + second chain run %.1f us, "
           "redraw from the first draw's weights %.1f us\n", miss_old, miss_new, 400 * reps, t_old * 1e6, t_new * 1e6);
    printf("JSON {\"model\": \"%s\", \"temp\": %.2f, \"free_tok_s\": %.2f, \"constrained_tok_s\": %.2f, \"ratio\": %.4f, \"ratio_paired\": %.4f, \"n_pairs\": %d, \"grammar_share\": %.5f, \"fresh_tok_s\": %.2f, \"ratio_fresh\": %.4f, \"grammar_share_fresh\": %.5f, \"mask_cold_us\": %.2f, "
           "\"mask_warm_us\": %.3f, \"compile100_ms\": %.3f, \"first_mask100_ms\": %.3f, \"sample_miss_old_us\": %.2f, \"sample_miss_new_us\": %.2f}\n",
           path, temp, mf, mc, mf > 0 ? mc / mf : 0.0, mpr, n_pairs, median(share, reps), mn, mf > 0 ? mn / mf : 0.0, median(share_n, reps), cold * 1e6, warm * 1e6, median(tcomp, reps) * 1e3, median(tmask, reps) * 1e3, t_old * 1e6, t_new * 1e6);
    free(big);
    free(tcomp);
    free(tmask);
    free(share);
    free(tn);
    free(share_n);
    free(len_f);
    free(len_c);
    free(tf);
    free(tc);
    free(ans);
    free(prompt);
    wf_session_free(s);
    wf_grammar_free(g);
    wf_grammar_vocab_free(gv);
    wf_model_free(m);
    return replay_ok ? 0 : 1;
}
