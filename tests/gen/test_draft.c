/* test_draft.c — speculative decoding with a draft model (src/gen/gen.h,
 * WF_SPEC_DRAFT) and the acceptance rule, on synthetic models.
 *
 * References are written here, independent of the session code:
 *  1. vocabulary check: a draft with another n_vocab or other token texts
 *     is refused;
 *  2. temperature 0: output equals a one-token-per-call argmax loop, token
 *     for token, for several prompts, lengths and draft lengths, with a
 *     related draft (accepts) and an unrelated one (mostly rejects); after
 *     each run the draft's and the target's caches hold exactly the
 *     session's cached tokens: same n_past, and K/V rows (wf_kv_export)
 *     equal to fresh contexts that decoded those tokens;
 *     cancellation from the callback mid-generation leaves both caches
 *     consistent and the next request equal to the reference;
 *  3. the acceptance rule on synthetic p/q (200k draws per pair): the
 *     emitted token's distribution is p (chi-square, p = 0.001), and the
 *     acceptance rate is sum_x min(p(x), q(x)) (within 5 sigma);
 *  4. wf_sampler_dist against the chain written from its definition here, and
 *     against wf_sampler_sample's empirical distribution (chi-square), for
 *     three settings (penalty; top-k + top-p + min-p; top-p alone over
 *     hundreds of candidates) on a 700-token vocabulary;
 *  5. end to end at temperature > 0 on a 16-token vocabulary: over 3000
 *     seeds, the 2nd and 3rd generated tokens (the first step's drafts) and
 *     their pair follow the exact distribution computed here by enumeration
 *     (chi-square, p = 0.001), for two sampler settings (repeat penalty;
 *     top-k + top-p + min-p + temperature).
 */
#include "gen_models.h"
#include "gen/gen.h"
#include "wafer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { NCTX = 256 };

static wf_context_params ctx_params(void) {
    wf_context_params cp = wf_context_default_params();
    cp.n_ctx = NCTX;
    cp.n_threads = 1;
    cp.n_batch = 64;
    cp.kv_type = WF_KV_F32;
    return cp;
}

static int32_t argmax_ref(const float *l, int V) {
    int32_t b = 0;
    for (int32_t i = 1; i < V; i++)
        if (l[i] > l[b]) b = i;
    return b;
}

static int ref_greedy(wf_model *m, const int32_t *prompt, int n_prompt, int n_gen, int32_t *out) {
    wf_context_params cp = ctx_params();
    wf_context *c = NULL;
    if (wf_context_create(m, &cp, &c, NULL) != WF_OK) return -1;
    const int V = wf_model_n_vocab(m);
    int n = 0;
    if (wf_decode(c, prompt, n_prompt, false, NULL) == WF_OK) {
        for (; n < n_gen; n++) {
            out[n] = argmax_ref(wf_get_logits(c, -1), V);
            if (n + 1 < n_gen && wf_decode(c, &out[n], 1, false, NULL) != WF_OK) break;
        }
    }
    wf_context_free(c);
    return n;
}

typedef struct collect {
    int32_t tok[512];
    int n;
    int cancel_at;   /* > 0: wf_session_cancel after this many tokens */
    wf_session *s;
} collect;

static bool on_tok(void *user, int32_t tok, const char *text, size_t n_text) {
    (void)text, (void)n_text;
    collect *c = user;
    if (tok >= 0 && c->n < 512) c->tok[c->n++] = tok;
    if (tok >= 0 && c->cancel_at > 0 && c->n == c->cancel_at) wf_session_cancel(c->s);
    return true;
}

/* max |a - b| over the K/V rows of c's first n positions and those of a
 * fresh context of model m that decoded tok[0..n) */
static double kv_diff_vs_fresh(wf_model *m, wf_context *c, const int32_t *tok, int32_t n) {
    if (n == 0) return 0;
    wf_context_params cp = ctx_params();
    wf_context *f = NULL;
    if (wf_context_create(m, &cp, &f, NULL) != WF_OK) return 1e30;
    double md = 1e30;
    uint64_t sz = wf_kv_export_size(c, n);
    float *a = malloc(sz), *b = malloc(sz);
    if (wf_decode(f, tok, n, false, NULL) == WF_OK && wf_kv_export(c, n, a, sz, NULL) == WF_OK &&
        wf_kv_export(f, n, b, sz, NULL) == WF_OK) {
        md = 0;
        for (size_t i = 0; i < sz / 4; i++) md = fmax(md, fabs((double)a[i] - (double)b[i]));
    }
    free(a);
    free(b);
    wf_context_free(f);
    return md;
}

/* ---- 1. vocabulary check ----------------------------------------------------- */

static void test_vocab_check(wf_model *t, wf_model *d, wf_model *other_v, wf_model *other_text) {
    wf_error err = {0};
    CHECK(wf_draft_check_vocab(t, d, &err) == WF_OK, "same vocabulary refused: %s", err.msg);
    CHECK(wf_draft_check_vocab(t, other_v, &err) == WF_ERR_UNSUPPORTED && strstr(err.msg, "vocabulary"),
          "another n_vocab accepted (%s)", err.msg);
    printf("  other n_vocab: %s\n", err.msg);
    CHECK(wf_draft_check_vocab(t, other_text, &err) == WF_ERR_UNSUPPORTED && strstr(err.msg, "token 0"),
          "other token texts accepted (%s)", err.msg);
    printf("  other texts:   %s\n", err.msg);
    wf_session *s = NULL;
    wf_context_params cp = ctx_params();
    CHECK(wf_session_create(t, &cp, &s, &err) == WF_OK, "%s", err.msg);
    CHECK(wf_session_set_draft(s, other_text, NULL, &err) == WF_ERR_UNSUPPORTED, "set_draft took a mismatching draft");
    int32_t p[3] = {1, 2, 3};
    wf_gen_params gp = wf_gen_default_params();
    gp.spec = WF_SPEC_DRAFT;
    gp.max_tokens = 2;
    CHECK(wf_session_generate(s, p, 3, &gp, NULL, NULL, &err) == WF_ERR_INVALID_ARG, "WF_SPEC_DRAFT without a draft ran");
    wf_session_free(s);
}

/* ---- 2. greedy: exact, and both caches consistent -------------------------------- */

static void test_greedy(wf_model *t, wf_model *d, const char *dname, bool expect_accepts) {
    const int V = wf_model_n_vocab(t);
    t_rng r = {99};
    int32_t rnd[20], rep[30], one[1] = {7};
    for (int i = 0; i < 20; i++) rnd[i] = (int32_t)(t_next(&r) % (uint64_t)V);
    for (int i = 0; i < 30; i++) rep[i] = rnd[i % 6];
    struct { const char *name; const int32_t *p; int n; } prompts[] = {{"random", rnd, 20}, {"repeats", rep, 30}, {"one", one, 1}};
    const int lens[] = {1, 7, 80};
    const int kmax[] = {1, 3, 8, 16};
    int64_t acc_total = 0, rej_total = 0;
    for (size_t pi = 0; pi < 3; pi++)
        for (size_t li = 0; li < 3; li++)
            for (size_t ki = 0; ki < 4; ki++) {
                const int NG = lens[li];
                int32_t ref[128];
                CHECK(ref_greedy(t, prompts[pi].p, prompts[pi].n, NG, ref) == NG, "reference");
                wf_session *s = NULL;
                wf_context_params cp = ctx_params();
                wf_error err = {0};
                if (wf_session_create(t, &cp, &s, &err) != WF_OK || wf_session_set_draft(s, d, &cp, &err) != WF_OK) {
                    CHECK(0, "session: %s", err.msg);
                    wf_session_free(s);
                    return;
                }
                wf_gen_params gp = wf_gen_default_params();
                gp.max_tokens = NG;
                gp.spec = WF_SPEC_DRAFT;
                gp.draft_max = kmax[ki];
                collect col = {0};
                wf_gen_callbacks cb = {on_tok, &col};
                wf_gen_result res;
                /* twice: the second request extends the first (prefix reuse with a draft) */
                for (int round = 0; round < 2; round++) {
                    int32_t prm[256];
                    int np = prompts[pi].n;
                    memcpy(prm, prompts[pi].p, sizeof(int32_t) * (size_t)np);
                    if (round == 1) {
                        size_t nt;
                        const int32_t *held = wf_session_tokens(s, &nt);
                        memcpy(prm, held, nt * sizeof(int32_t));
                        np = (int)nt;
                        prm[np++] = 3;
                        CHECK(ref_greedy(t, prm, np, NG, ref) == NG, "reference 2");
                    }
                    col.n = 0;
                    wf_status st = wf_session_generate(s, prm, (size_t)np, &gp, &cb, &res, &err);
                    CHECK(st == WF_OK, "%s: %s", dname, err.msg);
                    bool same = col.n == NG && !memcmp(col.tok, ref, sizeof(int32_t) * (size_t)NG);
                    CHECK(same, "%s/%s len %d k %d round %d: output differs from plain greedy", dname, prompts[pi].name, NG,
                          kmax[ki], round);
                    acc_total += res.n_draft_accepted;
                    rej_total += res.n_draft_rejected;
                    /* one target call per step: prefill + steps, each 1 + drafts */
                    CHECK(res.n_decoded == (np - res.n_prompt_cached) + (res.n_decode_calls - 1) + res.n_draft_proposed,
                          "%s: decode counts", dname);
                    size_t nt;
                    const int32_t *held = wf_session_tokens(s, &nt);
                    int32_t tn = wf_context_n_past(wf_session_context(s));
                    int32_t dn = wf_context_n_past(wf_session_draft_context(s));
                    CHECK(tn == dn && ((size_t)tn == nt || (size_t)tn + 1 == nt),
                          "%s len %d k %d: target cache %d, draft cache %d, session %zu tokens", dname, NG, kmax[ki], tn, dn, nt);
                    double dt = kv_diff_vs_fresh(t, wf_session_context(s), held, tn);
                    double dd = kv_diff_vs_fresh(d, wf_session_draft_context(s), held, dn);
                    CHECK(dt < 1e-4 && dd < 1e-4, "%s: caches differ from fresh ones (target %.3g, draft %.3g)", dname, dt, dd);
                }
                wf_session_free(s);
            }
    printf("  greedy with draft %-9s: identical to plain greedy in 72 runs; drafts accepted %lld, rejected %lld\n", dname,
           (long long)acc_total, (long long)rej_total);
    if (expect_accepts) CHECK(acc_total > rej_total, "related draft: %lld accepted, %lld rejected", (long long)acc_total, (long long)rej_total);
    CHECK(rej_total > 0 || expect_accepts, "unrelated draft never rejected");
}

/* cancellation mid-draft leaves both caches consistent and the next request exact */
static void test_cancel(wf_model *t, wf_model *d) {
    const int32_t prompt[6] = {4, 8, 15, 16, 23, 42};
    wf_context_params cp = ctx_params();
    wf_error err = {0};
    for (int at = 1; at <= 13; at += 4) {
        wf_session *s = NULL;
        if (wf_session_create(t, &cp, &s, &err) != WF_OK || wf_session_set_draft(s, d, &cp, &err) != WF_OK) {
            CHECK(0, "%s", err.msg);
            wf_session_free(s);
            return;
        }
        wf_gen_params gp = wf_gen_default_params();
        gp.max_tokens = 60;
        gp.spec = WF_SPEC_DRAFT;
        collect col = {0};
        col.cancel_at = at;
        col.s = s;
        wf_gen_callbacks cb = {on_tok, &col};
        wf_gen_result res;
        CHECK(wf_session_generate(s, prompt, 6, &gp, &cb, &res, &err) == WF_OK, "%s", err.msg);
        CHECK(res.stop == WF_GEN_STOP_CANCELLED && col.n == at, "cancel at %d: stop %s after %d", at, wf_gen_stop_name(res.stop), col.n);
        size_t nt;
        const int32_t *held = wf_session_tokens(s, &nt);
        int32_t tn = wf_context_n_past(wf_session_context(s)), dn = wf_context_n_past(wf_session_draft_context(s));
        CHECK(nt == (size_t)(6 + at) && ((size_t)tn == nt || (size_t)tn + 1 == nt) && dn <= tn, "cancel at %d: session %zu, target %d, draft %d",
              at, nt, tn, dn);
        CHECK(kv_diff_vs_fresh(t, wf_session_context(s), held, tn) < 1e-4 && kv_diff_vs_fresh(d, wf_session_draft_context(s), held, dn) < 1e-4,
              "cancel at %d: caches differ from fresh ones", at);
        /* continue: everything so far + 2 tokens */
        int32_t next[128], ref[20];
        memcpy(next, held, nt * sizeof(int32_t));
        int nn = (int)nt;
        next[nn++] = 9, next[nn++] = 10;
        ref_greedy(t, next, nn, 20, ref);
        collect c2 = {0};
        cb.user = &c2;
        gp.max_tokens = 20;
        CHECK(wf_session_generate(s, next, (size_t)nn, &gp, &cb, &res, &err) == WF_OK, "%s", err.msg);
        CHECK(c2.n == 20 && !memcmp(c2.tok, ref, sizeof ref), "cancel at %d: the next request differs from the reference", at);
        wf_session_free(s);
    }
}

/* ---- 3. the acceptance rule ------------------------------------------------------- */

/* upper quantile of chi-square with df degrees (Wilson-Hilferty), z = 3.09 -> p = 0.001 */
static double chi2_crit(int df) {
    double z = 3.09, a = 2.0 / (9.0 * df);
    return df * pow(1 - a + z * sqrt(a), 3);
}

/* chi-square of counts against probabilities p (n bins, N draws), bins with
 * expected < 5 pooled; *df out */
static double chi2(const long *count, const double *p, int n, long N, int *df) {
    double chi = 0, pe = 0, po = 0;
    int bins = 0;
    for (int i = 0; i < n; i++) {
        double e = p[i] * (double)N;
        if (e < 5) {
            pe += e, po += (double)count[i];
            CHECK(p[i] > 0 || count[i] == 0, "a token of probability 0 was drawn %ld times", count[i]);
            continue;
        }
        chi += ((double)count[i] - e) * ((double)count[i] - e) / e;
        bins++;
    }
    if (pe >= 1) {
        chi += (po - pe) * (po - pe) / pe;
        bins++;
    }
    *df = bins - 1;
    return chi;
}

static void test_accept_rule(void) {
    enum { N = 12, DRAWS = 200000 };
    const float P[4][N] = {
        {.30f, .20f, .10f, .10f, .08f, .07f, .05f, .04f, .03f, .02f, .01f, 0},
        {.05f, .05f, .40f, .0f, .0f, .10f, .10f, .10f, .05f, .05f, .05f, .05f},
        {.9f, .1f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
        {1.f / 12, 1.f / 12, 1.f / 12, 1.f / 12, 1.f / 12, 1.f / 12, 1.f / 12, 1.f / 12, 1.f / 12, 1.f / 12, 1.f / 12, 1.f / 12},
    };
    const float Q[4][N] = {
        {.02f, .03f, .05f, .10f, .10f, .10f, .10f, .10f, .10f, .10f, .10f, .10f}, /* q > 0 where p = 0 */
        {.05f, .05f, .10f, .30f, .20f, .10f, .05f, .05f, .05f, .05f, 0, 0},       /* p > 0 where q = 0 */
        {.1f, .9f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
        {1.f / 12, 1.f / 12, 1.f / 12, 1.f / 12, 1.f / 12, 1.f / 12, 1.f / 12, 1.f / 12, 1.f / 12, 1.f / 12, 1.f / 12, 1.f / 12}, /* p == q */
    };
    for (int c = 0; c < 4; c++) {
        wf_rng rng;
        wf_rng_seed(&rng, 4242 + (uint64_t)c);
        long count[N] = {0}, acc = 0;
        for (long i = 0; i < DRAWS; i++) {
            int32_t x = wf_spec_draw(Q[c], N, &rng);
            bool a = false;
            int32_t z = wf_spec_accept(P[c], Q[c], N, x, &rng, &a);
            if (z < 0 || z >= N) { CHECK(0, "token %d out of range", z); return; }
            count[z]++;
            acc += a;
            if (a && z != x) { CHECK(0, "accepted a token other than the draft"); return; }
        }
        double p[N], want = 0;
        for (int i = 0; i < N; i++) p[i] = P[c][i], want += fmin(P[c][i], Q[c][i]);
        int df;
        double chi = chi2(count, p, N, DRAWS, &df), crit = chi2_crit(df);
        double rate = (double)acc / DRAWS, sd = sqrt(fmax(0.0, want * (1 - want)) / DRAWS);
        printf("  accept rule case %d: chi-square %.1f (df %d, p=0.001 threshold %.1f); acceptance %.4f, sum min(p,q) %.4f\n", c,
               chi, df, crit, rate, want);
        CHECK(chi < crit, "case %d: emitted distribution differs from p (chi-square %.1f >= %.1f)", c, chi, crit);
        CHECK(fabs(rate - want) <= 5 * sd + 1e-6, "case %d: acceptance rate %.4f, want %.4f", c, rate, want);
    }
}

/* ---- 4. the chain as a distribution ----------------------------------------------- */

typedef struct idl { double l; int id; } idl;
static int cmp_idl(const void *a, const void *b) {
    const idl *x = a, *y = b;
    if (x->l != y->l) return x->l > y->l ? -1 : 1;
    return x->id - y->id;
}

/* the sampler chain from its definition: penalties over the last w tokens
 * of hist, top-k, top-p (softmax at T = 1), min-p, softmax at T */
static void chain_ref(const wf_sampler_params *sp, const float *logits, int V, const int32_t *hist, int nh, double *out) {
    idl *c = malloc(sizeof *c * (size_t)V);
    int cnt[1024] = {0};
    int from = sp->repeat_last_n < 0 ? 0 : (nh > sp->repeat_last_n ? nh - sp->repeat_last_n : 0);
    for (int i = from; i < nh; i++) cnt[hist[i]]++;
    for (int i = 0; i < V; i++) {
        double l = logits[i];
        if (cnt[i] > 0 && sp->repeat_last_n != 0) {
            if (sp->repeat_penalty != 1.0f) l = l > 0 ? l / sp->repeat_penalty : l * sp->repeat_penalty;
            l -= cnt[i] * sp->frequency_penalty + sp->presence_penalty;
        }
        c[i] = (idl){(float)l, i};
    }
    qsort(c, (size_t)V, sizeof *c, cmp_idl);
    int n = V;
    if (sp->top_k > 0 && sp->top_k < n) n = sp->top_k;
    if (sp->top_p < 1.0f) {
        double tot = 0, cum = 0;
        for (int i = 0; i < n; i++) tot += exp(c[i].l - c[0].l);
        for (int i = 0; i < n; i++) {
            cum += exp(c[i].l - c[0].l);
            if (cum >= sp->top_p * tot) { n = i + 1; break; }
        }
    }
    int k = 0;
    for (int i = 0; i < n; i++)
        if (sp->min_p <= 0 || c[i].l >= c[0].l + log(sp->min_p)) c[k++] = c[i];
    n = k;
    double tot = 0;
    for (int i = 0; i < V; i++) out[i] = 0;
    for (int i = 0; i < n; i++) tot += exp((c[i].l - c[0].l) / sp->temperature);
    for (int i = 0; i < n; i++) out[c[i].id] = exp((c[i].l - c[0].l) / sp->temperature) / tot;
    free(c);
}

static wf_sampler_params setting(int which) {
    wf_sampler_params sp = wf_sampler_default_params();
    sp.top_k = 0, sp.top_p = 1.0f, sp.min_p = 0.0f;
    if (which == 0) {
        sp.temperature = 1.0f;
        sp.repeat_penalty = 1.3f;
        sp.repeat_last_n = 64;
    } else if (which == 2) { /* top-p alone, over many candidates */
        sp.temperature = 1.2f;
        sp.top_p = 0.8f;
        sp.repeat_penalty = 1.1f;
    } else {
        sp.temperature = 0.7f;
        sp.top_k = 6;
        sp.top_p = 0.9f;
        sp.min_p = 0.05f;
        sp.presence_penalty = 0.2f;
        sp.frequency_penalty = 0.1f;
        sp.repeat_last_n = 8;
    }
    return sp;
}

static void test_dist(void) {
    enum { V = 700, DRAWS = 60000 };
    t_rng r = {31337};
    float logits[V];
    int32_t hist[20];
    for (int i = 0; i < V; i++) logits[i] = 0.7f * t_gauss(&r);
    logits[5] = logits[6]; /* a tie */
    for (int i = 0; i < 20; i++) hist[i] = (int32_t)(t_next(&r) % 10);
    void *work = malloc(wf_sampler_dist_work_size(V));
    float d[V];
    for (int which = 0; which < 3; which++) {
        wf_sampler_params sp = setting(which);
        double ref[V], md = 0;
        int support = 0;
        chain_ref(&sp, logits, V, hist, 20, ref);
        wf_sampler_dist(&sp, logits, V, hist, 12, hist + 12, 8, d, work); /* history in two pieces */
        for (int i = 0; i < V; i++) md = fmax(md, fabs(ref[i] - d[i])), support += ref[i] > 0;
        CHECK(md < 1e-5, "setting %d: wf_sampler_dist differs from the definition by %g", which, md);
        /* and from what the sampler actually draws */
        wf_sampler *smp = NULL;
        sp.seed = 77;
        wf_sampler_create(&sp, V, &smp, NULL);
        for (int i = 0; i < 20; i++) wf_sampler_accept(smp, hist[i]);
        long count[V] = {0};
        for (int i = 0; i < DRAWS; i++) count[wf_sampler_sample(smp, logits)]++;
        wf_sampler_free(smp);
        int df;
        double chi = chi2(count, ref, V, DRAWS, &df), crit = chi2_crit(df);
        printf("  chain setting %d (%d of %d tokens kept): max |dist - definition| %.2g; sampler draws vs dist chi-square %.1f "
               "(df %d, threshold %.1f)\n",
               which, support, V, md, chi, df, crit);
        CHECK(chi < crit, "setting %d: the sampler does not draw from wf_sampler_dist (%.1f >= %.1f)", which, chi, crit);
        int32_t am = wf_sampler_argmax(&sp, logits, V, hist, 20, NULL, 0, work);
        int32_t best = 0;
        for (int i = 1; i < V; i++)
            if (ref[i] > ref[best]) best = i;
        CHECK(am == best, "penalised argmax %d, want %d", am, best);
    }
    free(work);
}

/* ---- 5. end to end: the distribution of the first tokens -------------------------- */

static void test_e2e(wf_model *t, wf_model *d) {
    enum { V = 16, NP = 5, RUNS = 3000 };
    const int32_t prompt[NP] = {3, 9, 1, 14, 6};
    wf_context_params cp = ctx_params();
    wf_error err = {0};
    for (int which = 0; which < 2; which++) {
        wf_sampler_params sp = setting(which);
        /* exact: p1(a), p2(b|a), p3(c|a,b) -> marginals of tokens 2, 3 and their pair */
        double p1[V], p2[V], p3[V], m2[V] = {0}, m3[V] = {0}, j23[V * V] = {0};
        wf_context *c = NULL;
        if (wf_context_create(t, &cp, &c, &err) != WF_OK) { CHECK(0, "%s", err.msg); return; }
        int32_t h[NP + 2];
        memcpy(h, prompt, sizeof prompt);
        wf_decode(c, prompt, NP, false, NULL);
        chain_ref(&sp, wf_get_logits(c, -1), V, h, NP, p1);
        for (int a = 0; a < V; a++) {
            if (p1[a] == 0) continue;
            wf_kv_truncate(c, NP, NULL);
            h[NP] = a;
            wf_decode(c, &h[NP], 1, false, NULL);
            chain_ref(&sp, wf_get_logits(c, -1), V, h, NP + 1, p2);
            for (int b = 0; b < V; b++) {
                if (p2[b] == 0) continue;
                wf_kv_truncate(c, NP + 1, NULL);
                h[NP + 1] = b;
                wf_decode(c, &h[NP + 1], 1, false, NULL);
                chain_ref(&sp, wf_get_logits(c, -1), V, h, NP + 2, p3);
                m2[b] += p1[a] * p2[b];
                for (int x = 0; x < V; x++) {
                    m3[x] += p1[a] * p2[b] * p3[x];
                    j23[b * V + x] += p1[a] * p2[b] * p3[x];
                }
            }
        }
        wf_context_free(c);

        wf_session *s = NULL;
        if (wf_session_create(t, &cp, &s, &err) != WF_OK || wf_session_set_draft(s, d, &cp, &err) != WF_OK) {
            CHECK(0, "%s", err.msg);
            wf_session_free(s);
            return;
        }
        wf_gen_params gp = wf_gen_default_params();
        gp.max_tokens = 5; /* the first step may draft 3 */
        gp.sampling = &sp;
        gp.text = false;
        gp.spec = WF_SPEC_DRAFT;
        gp.draft_max = 4;
        long c2[V] = {0}, c3[V] = {0}, c23[V * V] = {0};
        int64_t acc = 0, rej = 0;
        for (int run = 0; run < RUNS; run++) {
            sp.seed = 5000 + (uint64_t)run;
            collect col = {0};
            wf_gen_callbacks cb = {on_tok, &col};
            wf_gen_result res;
            wf_session_reset(s);
            if (wf_session_generate(s, prompt, NP, &gp, &cb, &res, &err) != WF_OK) { CHECK(0, "%s", err.msg); break; }
            acc += res.n_draft_accepted;
            rej += res.n_draft_rejected;
            if (col.n < 3) { CHECK(0, "run %d made %d tokens", run, col.n); break; }
            c2[col.tok[1]]++;
            c3[col.tok[2]]++;
            c23[col.tok[1] * V + col.tok[2]]++;
        }
        int df2, df3, df23;
        double x2 = chi2(c2, m2, V, RUNS, &df2), x3 = chi2(c3, m3, V, RUNS, &df3), x23 = chi2(c23, j23, V * V, RUNS, &df23);
        printf("  end to end, setting %d, %d seeds: drafts accepted %lld, rejected %lld; chi-square token 2 %.1f (df %d, "
               "threshold %.1f), token 3 %.1f (df %d, %.1f), pair %.1f (df %d, %.1f)\n",
               which, RUNS, (long long)acc, (long long)rej, x2, df2, chi2_crit(df2), x3, df3, chi2_crit(df3), x23, df23,
               chi2_crit(df23));
        CHECK(acc > RUNS / 10 && rej > RUNS / 10, "setting %d: both branches should occur (%lld accepted, %lld rejected)", which,
              (long long)acc, (long long)rej);
        CHECK(x2 < chi2_crit(df2), "setting %d: token 2 distribution (%.1f)", which, x2);
        CHECK(x3 < chi2_crit(df3), "setting %d: token 3 distribution (%.1f)", which, x3);
        CHECK(x23 < chi2_crit(df23), "setting %d: (token 2, token 3) distribution (%.1f)", which, x23);
        /* caches consistent after sampled runs too */
        size_t nt;
        const int32_t *held = wf_session_tokens(s, &nt);
        int32_t tn = wf_context_n_past(wf_session_context(s)), dn = wf_context_n_past(wf_session_draft_context(s));
        CHECK(tn == dn && kv_diff_vs_fresh(d, wf_session_draft_context(s), held, dn) < 1e-4, "sampled: draft cache");
        wf_session_free(s);
    }
}

int main(void) {
    char dir[] = "/tmp/wf_draft_XXXXXX";
    if (!mkdtemp(dir)) return 1;
    /* V = 64: target 2 layers; related draft 1 layer, narrower FFN, other
     * layer weights; unrelated draft: other embedding and output */
    gm_cfg tc = {64, 2, 1, 32, 128, 64, 2, NCTX, GM_BIGRAM, 0.02f, 0x7777, 0x1111, "t", NULL};
    gm_cfg dc = tc, uc = tc, ov = tc, ot = tc;
    dc.NL = 1, dc.FF = 64, dc.layer_seed = 0x2222;
    uc.kind = GM_RANDOM, uc.shared_seed = 0x9999, uc.layer_scale = 0.15f;
    ov.V = 65;
    ot.tok_prefix = "u";
    /* V = 16 for the end-to-end distribution test */
    gm_cfg sc = {64, 2, 1, 32, 128, 16, 2, NCTX, GM_RANDOM, 0.15f, 0x5151, 0x3333, "t", NULL};
    gm_cfg sd = sc;
    sd.NL = 1, sd.layer_seed = 0x4444, sd.layer_scale = 0.3f;
    wf_model *t = gm_make(dir, "t", &tc), *d = gm_make(dir, "d", &dc), *u = gm_make(dir, "u", &uc);
    wf_model *mv = gm_make(dir, "ov", &ov), *mt = gm_make(dir, "ot", &ot);
    wf_model *st = gm_make(dir, "st", &sc), *sdm = gm_make(dir, "sd", &sd);
    rmdir(dir);
    CHECK(t && d && u && mv && mt && st && sdm, "models");
    if (t && d && u && mv && mt && st && sdm) {
        test_vocab_check(t, d, mv, mt);
        test_greedy(t, d, "related", true);
        test_greedy(t, u, "unrelated", false);
        test_cancel(t, d);
        test_accept_rule();
        test_dist();
        test_e2e(st, sdm);
    }
    wf_model_free(t), wf_model_free(d), wf_model_free(u), wf_model_free(mv), wf_model_free(mt);
    wf_model_free(st), wf_model_free(sdm);
    return t_done("test_draft");
}
