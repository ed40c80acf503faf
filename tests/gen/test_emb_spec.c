/* test_emb_spec.c — speculative decoding on the embedded model
 * (models/wafer-embedded.gguf, a real small code model: its drafts are
 * accepted often, unlike a random model's).
 *
 * References are written here, independent of the session code:
 *  1. greedy: one wf_decode per token and an argmax computed by this file
 *     (ties -> lowest id). wf_session_generate with prompt lookup, with a
 *     prediction that is the right answer, one with a wrong line spliced in,
 *     and lookup + prediction, must give the same tokens; lookup and the
 *     prediction must be accepted (the model copies from its context).
 *  2. sampling (temperature 0.9, top-k 12): the exact distribution of the
 *     second generated token, summed over the 12 possible first tokens from
 *     the model's logits (softmax over the top 12 computed here). 4000 seeded
 *     runs whose second token is checked against a prediction draft (the most
 *     likely second token) must match it (chi-square, p = 0.001), with both
 *     acceptance and rejection happening; and per seed the tokens equal those
 *     of plain sampling without a draft.
 * argv[1]: the model path. Missing model -> failure (it is committed).
 */
#include "gen/gen.h"
#include "cpu/kernels.h"
#include "model/model.h"
#include "testutil.h"
#include "text/tokenizer.h"
#include "wafer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { TOPK = 12, RUNS = 4000, NG = 120 };

static wf_context_params ctx_params(void) {
    wf_context_params cp = wf_context_default_params();
    cp.n_ctx = 512;
    cp.n_threads = 2;
    cp.n_batch = 64;
    cp.kv_type = WF_KV_F32;
    return cp;
}

static int32_t argmax_ref(const float *l, int32_t nv) {
    int32_t b = 0;
    for (int32_t i = 1; i < nv; i++)
        if (l[i] > l[b]) b = i;
    return b;
}

static int ref_greedy(wf_model *m, const int32_t *prompt, int np, int ng, int32_t *out) {
    wf_context_params cp = ctx_params();
    wf_context *c = NULL;
    if (wf_context_create(m, &cp, &c, NULL) != WF_OK) return -1;
    int32_t nv = wf_model_n_vocab(m);
    int n = 0;
    if (wf_decode(c, prompt, np, false, NULL) == WF_OK) {
        for (; n < ng; n++) {
            out[n] = argmax_ref(wf_get_logits(c, -1), nv);
            if (n + 1 < ng && wf_decode(c, &out[n], 1, false, NULL) != WF_OK) break;
        }
    }
    wf_context_free(c);
    return n;
}

typedef struct collect {
    int32_t tok[NG + 8];
    int n;
} collect;

static bool on_tok(void *user, int32_t tok, const char *text, size_t n_text) {
    (void)text, (void)n_text;
    collect *c = user;
    if (tok >= 0 && c->n < NG + 8) c->tok[c->n++] = tok;
    return true;
}

static bool same(const int32_t *a, const int32_t *b, int n) {
    for (int i = 0; i < n; i++)
        if (a[i] != b[i]) return false;
    return true;
}

static int32_t *tokenize(wf_model *m, const char *text, size_t *n) {
    int32_t *ids = NULL;
    wf_error err = {0};
    if (wf_tokenize(wf_model_vocab(m), text, strlen(text), false, false, &ids, n, &err) != WF_OK) {
        CHECK(0, "tokenize: %s", err.msg);
        return NULL;
    }
    return ids;
}

static const char PROMPT[] =
    "import os\n\n\ndef read_lines(path):\n    with open(path) as f:\n        return f.read().splitlines()\n\n\n"
    "def write_lines(path, lines):\n    with open(path, \"w\") as f:\n        for line in lines:\n"
    "            f.write(line + \"\\n\")\n\n\ndef copy_lines(src, dst):";

static void test_greedy(wf_model *m) {
    size_t np = 0;
    int32_t *prompt = tokenize(m, PROMPT, &np);
    if (!prompt) return;
    int32_t ref[NG];
    int nr = ref_greedy(m, prompt, (int)np, NG, ref);
    CHECK(nr == NG, "reference made %d tokens", nr);
    int32_t wrong[NG + 6];
    memcpy(wrong, ref, sizeof ref);
    memmove(wrong + NG / 2 + 6, wrong + NG / 2, (NG - NG / 2) * sizeof *wrong);
    for (int i = 0; i < 6; i++) wrong[NG / 2 + i] = ref[(i * 7) % NG]; /* a spliced-in wrong run */
    /* draft_max WF_SPEC_DRAFT_MAX_LIMIT: the embedded model's Q8_0 weights
     * are exact at any width, so drafts grow to 64 tokens here (8, 16, 32,
     * 64: the passes go through the dealt gemm tiles) */
    struct { const char *name; wf_spec_mode mode; const int32_t *pred; size_t n_pred; int32_t draft_max; } cases[] = {
        {"lookup", WF_SPEC_LOOKUP, NULL, 0, 0},
        {"prediction (right)", WF_SPEC_NONE, ref, NG, 0},
        {"prediction (wrong run inside)", WF_SPEC_NONE, wrong, NG + 6, 0},
        {"lookup + prediction", WF_SPEC_LOOKUP, wrong, NG + 6, 0},
        {"prediction (right), long drafts", WF_SPEC_NONE, ref, NG, WF_SPEC_DRAFT_MAX_LIMIT},
        {"prediction (wrong run), long", WF_SPEC_NONE, wrong, NG + 6, WF_SPEC_DRAFT_MAX_LIMIT},
    };
    CHECK(wf_model_exact_batch(m) == WF_GEMM_EXACT_ANY, "Q8_0 model: exact width %d, want any",
          (int)wf_model_exact_batch(m));
    wf_context_params cp = ctx_params();
    cp.n_batch = 256;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        wf_session *s = NULL;
        wf_error err = {0};
        if (wf_session_create(m, &cp, &s, &err) != WF_OK) { CHECK(0, "%s", err.msg); break; }
        wf_gen_params gp = wf_gen_default_params();
        gp.max_tokens = NG;
        gp.text = false;
        gp.draft_max = cases[k].draft_max;
        gp.spec = cases[k].mode;
        gp.prediction = cases[k].pred;
        gp.n_prediction = cases[k].n_pred;
        collect col = {0};
        wf_gen_callbacks cb = {on_tok, &col};
        wf_gen_result res;
        wf_status st = wf_session_generate(s, prompt, np, &gp, &cb, &res, &err);
        /* an end-of-generation token ends both runs at the same place */
        bool eog_early = res.stop == WF_GEN_STOP_EOG && col.n <= NG;
        CHECK(st == WF_OK && (col.n == NG || eog_early) && same(col.tok, ref, col.n < NG ? col.n : NG),
              "%s: tokens differ from plain greedy (n %d, stop %s)", cases[k].name, col.n, wf_gen_stop_name(res.stop));
        printf("  greedy %-30s %d tokens in %lld decode calls; drafts accepted %lld, rejected %lld "
               "(prediction %lld / %lld)\n",
               cases[k].name, col.n, (long long)res.n_decode_calls, (long long)res.n_draft_accepted,
               (long long)res.n_draft_rejected, (long long)res.n_pred_accepted, (long long)res.n_pred_rejected);
        CHECK(res.n_draft_accepted > 0, "%s: nothing accepted on a code model", cases[k].name);
        if (cases[k].pred == ref)
            CHECK(res.n_decode_calls * 4 <= (int64_t)NG, "right prediction: %lld decode calls for %d tokens",
                  (long long)res.n_decode_calls, NG);
        /* the default: 16, also for a prediction on this model, whose 9 MB
         * of weights stay in cache (WF_SPEC_PRED_LONG_MIN_BYTES) */
        const int32_t want_max = cases[k].draft_max ? cases[k].draft_max : 16;
        CHECK(wf_model_weight_bytes(m) < WF_SPEC_PRED_LONG_MIN_BYTES, "the embedded model is a small one");
        CHECK(res.draft_max == want_max, "%s: draft_max %d, want %d", cases[k].name, (int)res.draft_max, (int)want_max);
        /* 119 tokens after the first need 5 steps if no pass exceeds 33 tokens
         * (9 + 17 + 33 + 33 + 33); 4 steps (+ the prompt's call) mean one did */
        if (cases[k].pred == ref && cases[k].draft_max)
            CHECK(res.n_decode_calls <= 5, "long drafts: %lld decode calls", (long long)res.n_decode_calls);
        wf_session_free(s);
    }
    free(prompt);
}

/* top-TOPK softmax at temperature T of logits (no penalties); p (nv) zeroed elsewhere */
static void probs_ref(const float *l, int32_t nv, double T, double *p) {
    int32_t idx[TOPK];
    int k = 0;
    for (int32_t i = 0; i < nv; i++) {
        if (k < TOPK) {
            int j = k++;
            while (j > 0 && l[idx[j - 1]] < l[i]) { idx[j] = idx[j - 1]; j--; }
            idx[j] = i;
        } else if (l[i] > l[idx[TOPK - 1]]) {
            int j = TOPK - 1;
            while (j > 0 && l[idx[j - 1]] < l[i]) { idx[j] = idx[j - 1]; j--; }
            idx[j] = i;
        }
    }
    for (int32_t i = 0; i < nv; i++) p[i] = 0;
    double mx = l[idx[0]], s = 0;
    for (int j = 0; j < TOPK; j++) s += exp(((double)l[idx[j]] - mx) / T);
    for (int j = 0; j < TOPK; j++) p[idx[j]] = exp(((double)l[idx[j]] - mx) / T) / s;
}

/* upper quantile of chi-square with df degrees (Wilson-Hilferty), z = 3.09 -> p = 0.001 */
static double chi2_crit(int df) {
    double a = 2.0 / (9.0 * df), z = 3.09;
    return df * pow(1 - a + z * sqrt(a), 3);
}

static void test_sampling(wf_model *m) {
    const double T = 0.9;
    size_t np = 0;
    int32_t *prompt = tokenize(m, "def fibonacci(n):", &np);
    if (!prompt) return;
    int32_t nv = wf_model_n_vocab(m);
    double *p1 = calloc((size_t)nv, sizeof *p1), *p2 = calloc((size_t)nv, sizeof *p2),
           *pc = calloc((size_t)nv, sizeof *pc);
    long *count = calloc((size_t)nv, sizeof *count);
    int32_t *hist = malloc((np + 1) * sizeof *hist);
    wf_context_params cp = ctx_params();
    wf_context *c = NULL;
    wf_error err = {0};
    if (!p1 || !p2 || !pc || !count || !hist || wf_context_create(m, &cp, &c, &err) != WF_OK) {
        CHECK(0, "setup: %s", err.msg);
        goto out;
    }
    wf_decode(c, prompt, (int32_t)np, false, NULL);
    probs_ref(wf_get_logits(c, -1), nv, T, p1);
    memcpy(hist, prompt, np * sizeof *hist);
    /* a first token that ends the generation has no second token: the
     * distribution below is conditioned on the first token not being one */
    const wf_vocab *voc = wf_model_vocab(m);
    int32_t firsts[TOPK];
    int nf = 0;
    double p_end = 0;
    for (int32_t t = 0; t < nv; t++) {
        if (p1[t] == 0) continue;
        if (wf_vocab_is_eog(voc, t)) { p_end += p1[t]; continue; }
        if (nf < TOPK) firsts[nf++] = t;
        wf_kv_truncate(c, (int32_t)np, NULL);
        hist[np] = t;
        wf_decode(c, &hist[np], 1, false, NULL);
        probs_ref(wf_get_logits(c, -1), nv, T, pc);
        for (int32_t u = 0; u < nv; u++) p2[u] += p1[t] * pc[u];
    }
    wf_context_free(c);
    c = NULL;
    for (int32_t u = 0; u < nv; u++) p2[u] /= 1.0 - p_end;
    int32_t d = 0;
    for (int32_t u = 1; u < nv; u++)
        if (p2[u] > p2[d]) d = u;
    /* "v d" for every possible first token v: after any v the draft is d */
    int32_t pred[2 * TOPK];
    for (int i = 0; i < nf; i++) pred[2 * i] = firsts[i], pred[2 * i + 1] = d;

    wf_session *s = NULL, *s0 = NULL;
    if (wf_session_create(m, &cp, &s, &err) != WF_OK || wf_session_create(m, &cp, &s0, &err) != WF_OK) {
        CHECK(0, "%s", err.msg);
        wf_session_free(s);
        goto out;
    }
    wf_sampler_params sp = wf_sampler_default_params();
    sp.temperature = (float)T;
    sp.top_k = TOPK;
    sp.top_p = 1.0f;
    sp.min_p = 0.0f;
    sp.repeat_penalty = 1.0f;
    wf_gen_params gp = wf_gen_default_params();
    gp.max_tokens = 3; /* the draft for token 2 is proposed only when a token follows it */
    gp.sampling = &sp;
    gp.text = false;
    gp.prediction = pred;
    gp.n_prediction = (size_t)(2 * nf);
    wf_gen_params g0 = gp;
    g0.prediction = NULL;
    g0.n_prediction = 0;
    int64_t acc = 0, rej = 0;
    int same_n = 0, nsame = 400;
    long n_second = 0; /* runs whose first token did not end the generation */
    for (int run = 0; run < RUNS; run++) {
        sp.seed = 5000 + (uint64_t)run;
        collect a = {0}, b = {0};
        wf_gen_callbacks ca = {on_tok, &a}, cb0 = {on_tok, &b};
        wf_gen_result res;
        wf_session_reset(s);
        if (wf_session_generate(s, prompt, np, &gp, &ca, &res, &err) != WF_OK) { CHECK(0, "%s", err.msg); break; }
        acc += res.n_draft_accepted;
        rej += res.n_draft_rejected;
        if (a.n >= 2) count[a.tok[1]]++, n_second++;
        else if (a.n == 1 && res.stop == WF_GEN_STOP_EOG && res.n_generated == 2) { /* the second ended it */
            for (int32_t u = 0; u < nv; u++)
                if (wf_vocab_is_eog(voc, u) && p2[u] > 0) { count[u]++; n_second++; break; }
        }
        if (run < nsame) {
            wf_session_reset(s0);
            wf_session_generate(s0, prompt, np, &g0, &cb0, &res, &err);
            same_n += a.n == b.n && same(a.tok, b.tok, a.n);
        }
    }
    double chi = 0, pool_e = 0, pool_o = 0;
    int bins = 0;
    for (int32_t u = 0; u < nv; u++) {
        double e = p2[u] * (double)n_second;
        if (e < 5) { pool_e += e; pool_o += (double)count[u]; continue; }
        chi += ((double)count[u] - e) * ((double)count[u] - e) / e;
        bins++;
    }
    if (pool_e > 0) {
        chi += (pool_o - pool_e) * (pool_o - pool_e) / pool_e;
        bins++;
    }
    double crit = chi2_crit(bins - 1);
    printf("  sampling T=%.1f top-k %d, %d runs (%ld with a second token; end-of-text first: p %.3f): draft token %d "
           "(p %.3f) accepted %lld, rejected %lld; second token chi-square %.1f (df %d, p=0.001 threshold %.1f); "
           "same tokens as plain sampling in %d of %d seeds\n",
           T, TOPK, RUNS, n_second, p_end, d, p2[d], (long long)acc, (long long)rej, chi, bins - 1, crit, same_n, nsame);
    CHECK(bins >= 5, "too few bins (%d) for the test", bins);
    CHECK(n_second > RUNS / 2, "too few runs with a second token: %ld", n_second);
    CHECK(acc > RUNS / 20 && rej > RUNS / 20, "both branches should occur: %lld accepted, %lld rejected",
          (long long)acc, (long long)rej);
    CHECK(chi < crit, "second-token distribution with speculation: chi-square %.1f >= %.1f", chi, crit);
    CHECK(same_n == nsame, "speculative sampling differs from plain sampling for %d of %d seeds", nsame - same_n, nsame);
    wf_session_free(s);
    wf_session_free(s0);
out:
    wf_context_free(c);
    free(p1);
    free(p2);
    free(pc);
    free(count);
    free(hist);
    free(prompt);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: test_emb_spec MODEL.gguf\n");
        return 1;
    }
    wf_model *m = NULL;
    wf_error err = {0};
    CHECK(wf_model_load(argv[1], NULL, &m, &err) == WF_OK, "load %s: %s", argv[1], err.msg);
    if (!m) return t_done("test_emb_spec");
    CHECK(wf_model_vocab(m) != NULL, "the embedded model has a vocabulary");
    if (wf_model_vocab(m)) {
        test_greedy(m);
        test_sampling(m);
    }
    wf_model_free(m);
    return t_done("test_emb_spec");
}
