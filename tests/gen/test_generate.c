/* test_generate.c — the generation API (src/gen/gen.h) on small synthetic
 * models written with the C GGUF writer.
 *
 * The reference is a plain loop written here: one wf_decode per token and an
 * argmax computed by this file (ties -> lowest id), independent of the
 * sampler and of the session code.
 *  1. greedy output with --spec lookup, and with a prediction (correct,
 *     wrong, partly right, empty), equals the reference token for token, on a
 *     random model and on a "bigram" model built to fall into cycles (so
 *     lookup proposes and accepts; acceptance is printed and must be > 0);
 *  2. prefix reuse: a follow-up request evaluates only its new tokens (counted
 *     by the stats), its logits match a fresh session's and its tokens the
 *     reference;
 *  3. cancellation from another thread stops within one step, leaves the
 *     session holding exactly prompt + emitted tokens, and the next request
 *     continues correctly; also cancellation from inside the callback;
 *  4. sampling with speculation: the distribution of the second generated
 *     token (the one checked against a draft) against the exact distribution
 *     computed here from the model's logits (softmax with the repeat penalty
 *     applied by this file), chi-square at p = 0.001; and per seed, the same
 *     tokens as plain sampling.
 */
#include "gen/gen.h"
#include "format/gguf.h"
#include "format/quant.h"
#include "testutil.h"
#include "wafer.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { E = 64, H = 2, KV = 1, HD = 32, FF = 128, V = 64, NL = 2, NCTX = 512 };

typedef enum { M_RANDOM, M_BIGRAM } model_kind;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* RANDOM: Gaussian weights. BIGRAM: the output matrix is the token
 * embedding with rows permuted (output row f(t) = embedding row t) and small
 * layer weights, so the next token is mostly f(current): greedy decoding
 * falls into the cycles of f, with attention still perturbing it. */
static int write_model(const char *path, model_kind kind, uint64_t seed) {
    t_rng r = {seed};
    wf_error err = {0};
    wf_gguf_writer *w = NULL;
    if (wf_gguf_writer_create(&w, &err) != WF_OK) return 1;
    wf_gguf_writer_set_str(w, "general.architecture", "llama", 5);
    wf_gguf_writer_set_u32(w, "llama.context_length", NCTX);
    wf_gguf_writer_set_u32(w, "llama.embedding_length", E);
    wf_gguf_writer_set_u32(w, "llama.block_count", NL);
    wf_gguf_writer_set_u32(w, "llama.feed_forward_length", FF);
    wf_gguf_writer_set_u32(w, "llama.attention.head_count", H);
    wf_gguf_writer_set_u32(w, "llama.attention.head_count_kv", KV);
    wf_gguf_writer_set_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    /* a vocabulary "t0".."t63" so the text path (detokenizer, stops) runs */
    char names[V][16];
    wf_str items[V];
    for (int i = 0; i < V; i++) {
        snprintf(names[i], sizeof names[i], "t%d", i);
        items[i] = (wf_str){names[i], strlen(names[i])};
    }
    wf_gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2", 4);
    wf_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", items, V);
    wf_gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", items, 0);

    const float ls = kind == M_BIGRAM ? 0.02f : 0.15f;
    float *emb = malloc(sizeof(float) * E * V), *out = malloc(sizeof(float) * E * V);
    for (int i = 0; i < E * V; i++) emb[i] = t_gauss(&r);
    int perm[V];
    for (int i = 0; i < V; i++) perm[i] = i;
    for (int i = V - 1; i > 0; i--) {
        int j = (int)(t_next(&r) % (uint64_t)(i + 1)), t = perm[i];
        perm[i] = perm[j], perm[j] = t;
    }
    for (int t = 0; t < V; t++)
        for (int e = 0; e < E; e++)
            out[perm[t] * E + e] = kind == M_BIGRAM ? emb[t * E + e] * 0.5f : t_gauss(&r) * 0.25f;
    void *bufs[64];
    int nb = 0, rc = 0;
    bufs[nb++] = emb;
    bufs[nb++] = out;
    int64_t ne_emb[2] = {E, V};
    rc |= wf_gguf_writer_add_tensor(w, "token_embd.weight", WF_TYPE_F32, 2, ne_emb, emb, sizeof(float) * E * V, &err) != WF_OK;
    rc |= wf_gguf_writer_add_tensor(w, "output.weight", WF_TYPE_F32, 2, ne_emb, out, sizeof(float) * E * V, &err) != WF_OK;
    struct { const char *name; int64_t ne0, ne1; float scale; } ts[] = {
        {"output_norm.weight", E, 1, 0},
        {"attn_norm.weight", E, 1, 0},
        {"attn_q.weight", E, H * HD, 1},
        {"attn_k.weight", E, KV * HD, 1},
        {"attn_v.weight", E, KV * HD, 1},
        {"attn_output.weight", H * HD, E, 1},
        {"ffn_norm.weight", E, 1, 0},
        {"ffn_gate.weight", E, FF, 1},
        {"ffn_up.weight", E, FF, 1},
        {"ffn_down.weight", FF, E, 1},
    };
    char name[64];
    for (int l = 0; l < NL; l++)
        for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) {
            if (l > 0 && i == 0) continue;
            if (i == 0) snprintf(name, sizeof name, "%s", ts[i].name);
            else snprintf(name, sizeof name, "blk.%d.%s", l, ts[i].name);
            size_t n = (size_t)(ts[i].ne0 * ts[i].ne1);
            float *p = malloc(n * sizeof *p);
            for (size_t j = 0; j < n; j++)
                p[j] = ts[i].scale == 0 ? 1.0f + 0.1f * t_unif(&r) : t_gauss(&r) * ls;
            bufs[nb++] = p;
            int64_t ne[2] = {ts[i].ne0, ts[i].ne1};
            rc |= wf_gguf_writer_add_tensor(w, name, WF_TYPE_F32, ts[i].ne1 == 1 ? 1 : 2, ne, p, n * 4, &err) != WF_OK;
        }
    if (rc == 0 && wf_gguf_writer_write(w, path, NULL, NULL, &err) != WF_OK) rc = 1;
    if (rc) fprintf(stderr, "writer: %s\n", err.msg);
    wf_gguf_writer_free(w);
    for (int i = 0; i < nb; i++) free(bufs[i]);
    return rc;
}

static wf_context_params ctx_params(void) {
    wf_context_params cp = wf_context_default_params();
    cp.n_ctx = NCTX;
    cp.n_threads = 1;
    cp.n_batch = 64;
    cp.kv_type = WF_KV_F32;
    return cp;
}

static int32_t argmax_ref(const float *l) {
    int32_t b = 0;
    for (int32_t i = 1; i < V; i++)
        if (l[i] > l[b]) b = i;
    return b;
}

/* Plain greedy: one token per wf_decode, argmax here. Returns n generated. */
static int ref_greedy(wf_model *m, const int32_t *prompt, int n_prompt, int n_gen, int32_t *out) {
    wf_context_params cp = ctx_params();
    wf_context *c = NULL;
    if (wf_context_create(m, &cp, &c, NULL) != WF_OK) return -1;
    int n = 0;
    if (wf_decode(c, prompt, n_prompt, false, NULL) == WF_OK) {
        for (; n < n_gen; n++) {
            out[n] = argmax_ref(wf_get_logits(c, -1));
            if (n + 1 < n_gen && wf_decode(c, &out[n], 1, false, NULL) != WF_OK) break;
        }
    }
    wf_context_free(c);
    return n;
}

typedef struct collect {
    int32_t tok[1024];
    int n;
    int cancel_at;         /* > 0: call wf_session_cancel after this many */
    wf_session *s;
    int sleep_us;
    atomic_bool cancel_sent;
    int after_cancel;      /* callbacks entered once the cancel was sent */
    size_t text_bytes;
} collect;

static bool on_tok(void *user, int32_t tok, const char *text, size_t n_text) {
    collect *c = user;
    if (atomic_load(&c->cancel_sent) && tok >= 0) c->after_cancel++;
    c->text_bytes += n_text;
    if (tok < 0) return true;
    if (c->n < 1024) c->tok[c->n++] = tok;
    if (c->cancel_at > 0 && c->n == c->cancel_at) {
        atomic_store(&c->cancel_sent, true);
        wf_session_cancel(c->s); /* as a signal handler would */
    }
    if (c->sleep_us) usleep((useconds_t)c->sleep_us);
    return true;
}

static bool same_tokens(const int32_t *a, const int32_t *b, int n) {
    for (int i = 0; i < n; i++)
        if (a[i] != b[i]) return false;
    return true;
}

/* ---- 1. speculation is exact at temperature 0 ------------------------------ */

static void test_greedy_exact(wf_model *m, const char *mname, bool expect_accepts) {
    enum { NG = 96 };
    t_rng r = {77};
    int32_t rnd[24], rep[30];
    for (int i = 0; i < 24; i++) rnd[i] = (int32_t)(t_next(&r) % V);
    for (int i = 0; i < 30; i++) rep[i] = rnd[i % 10]; /* a 10-token pattern, three times */
    struct { const char *name; const int32_t *p; int n; } prompts[] = {{"random", rnd, 24}, {"repeats", rep, 30}};
    for (int pi = 0; pi < 2; pi++) {
        int32_t ref[NG];
        int nr = ref_greedy(m, prompts[pi].p, prompts[pi].n, NG, ref);
        CHECK(nr == NG, "%s: reference made %d tokens", mname, nr);
        if (getenv("WF_TEST_VERBOSE")) {
            printf("  %s/%s reference:", mname, prompts[pi].name);
            for (int i = 0; i < NG; i++) printf(" %d", ref[i]);
            printf("\n");
        }
        /* predictions: correct, wrong, partly right (a deletion, an insertion, a
         * substitution), empty */
        int32_t wrong[NG], part[NG + 8];
        for (int i = 0; i < NG; i++) wrong[i] = (ref[i] + 1 + (int32_t)(t_next(&r) % (V - 1))) % V;
        int np = 0;
        for (int i = 0; i < NG; i++) {
            if (i >= 10 && i < 14) continue;           /* deleted */
            if (i == 30) for (int j = 0; j < 3; j++) part[np++] = (int32_t)(t_next(&r) % V); /* inserted */
            part[np++] = i == 50 ? (ref[i] + 1) % V : ref[i];
        }
        struct { const char *name; wf_spec_mode mode; const int32_t *pred; int n_pred; } cases[] = {
            {"none", WF_SPEC_NONE, NULL, 0},
            {"lookup", WF_SPEC_LOOKUP, NULL, 0},
            {"pred-correct", WF_SPEC_NONE, ref, NG},
            {"pred-wrong", WF_SPEC_NONE, wrong, NG},
            {"pred-partial", WF_SPEC_NONE, part, np},
            {"pred-empty", WF_SPEC_NONE, ref, 0},
            {"lookup+partial", WF_SPEC_LOOKUP, part, np},
        };
        for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
            wf_session *s = NULL;
            wf_context_params cp = ctx_params();
            wf_error err = {0};
            if (wf_session_create(m, &cp, &s, &err) != WF_OK) { CHECK(0, "session: %s", err.msg); return; }
            wf_gen_params gp = wf_gen_default_params();
            gp.max_tokens = NG;
            gp.spec = cases[ci].mode;
            gp.prediction = cases[ci].pred;
            gp.n_prediction = (size_t)cases[ci].n_pred;
            collect col = {0};
            wf_gen_callbacks cb = {on_tok, &col};
            wf_gen_result res;
            wf_status st = wf_session_generate(s, prompts[pi].p, (size_t)prompts[pi].n, &gp, &cb, &res, &err);
            CHECK(st == WF_OK, "%s/%s/%s: %s", mname, prompts[pi].name, cases[ci].name, err.msg);
            CHECK(col.n == NG && same_tokens(col.tok, ref, NG), "%s/%s/%s: output differs from plain greedy (%d tokens)",
                  mname, prompts[pi].name, cases[ci].name, col.n);
            int first_diff = -1;
            for (int i = 0; i < col.n && i < NG; i++)
                if (col.tok[i] != ref[i]) { first_diff = i; break; }
            if (first_diff >= 0) fprintf(stderr, "  first difference at %d\n", first_diff);
            CHECK(res.stop == WF_GEN_STOP_LENGTH && res.n_generated == NG, "%s: stop %s, %d generated",
                  cases[ci].name, wf_gen_stop_name(res.stop), res.n_generated);
            size_t nt;
            const int32_t *held = wf_session_tokens(s, &nt);
            CHECK(nt == (size_t)(prompts[pi].n + NG) && same_tokens(held, prompts[pi].p, prompts[pi].n) &&
                      same_tokens(held + prompts[pi].n, ref, NG),
                  "%s: session holds %zu tokens", cases[ci].name, nt);
            int32_t np_ = wf_context_n_past(wf_session_context(s));
            CHECK((size_t)np_ + 1 == nt || (size_t)np_ == nt, "%s: cache holds %d of %zu tokens", cases[ci].name, np_, nt);
            CHECK(res.n_draft_accepted + res.n_draft_rejected == res.n_draft_proposed, "%s: draft counts", cases[ci].name);
            /* one prefill call, then one call per step of 1 pending + drafts */
            CHECK(res.n_decoded == prompts[pi].n + (res.n_decode_calls - 1) + res.n_draft_proposed,
                  "%s: %lld tokens decoded, want prompt + steps + drafts", cases[ci].name, (long long)res.n_decoded);
            printf("  %-7s %-8s %-15s accepted %3lld rejected %3lld  pred %3lld/%3lld  decode calls %3lld\n", mname,
                   prompts[pi].name, cases[ci].name, (long long)res.n_draft_accepted, (long long)res.n_draft_rejected,
                   (long long)res.n_pred_accepted, (long long)res.n_pred_rejected, (long long)res.n_decode_calls);
            if (!strcmp(cases[ci].name, "pred-correct"))
                CHECK(res.n_pred_accepted >= NG * 3 / 4 && res.n_decode_calls < NG / 4,
                      "correct prediction: %lld accepted in %lld calls", (long long)res.n_pred_accepted,
                      (long long)res.n_decode_calls);
            if (!strcmp(cases[ci].name, "pred-partial"))
                CHECK(res.n_pred_accepted >= NG / 2, "partial prediction: %lld accepted", (long long)res.n_pred_accepted);
            if (!strcmp(cases[ci].name, "none") || !strcmp(cases[ci].name, "pred-empty"))
                CHECK(res.n_draft_proposed == 0, "%s: drafted %lld", cases[ci].name, (long long)res.n_draft_proposed);
            if (expect_accepts && !strcmp(cases[ci].name, "lookup"))
                CHECK(res.n_draft_accepted > NG / 4, "%s lookup accepted only %lld", mname, (long long)res.n_draft_accepted);
            wf_session_free(s);
        }
    }
}

/* ---- 2. prefix reuse --------------------------------------------------------- */

static void test_prefix_reuse(wf_model *m) {
    t_rng r = {1234};
    int32_t p1[40], p2[128], p3[32];
    for (int i = 0; i < 40; i++) p1[i] = (int32_t)(t_next(&r) % V);
    wf_session *s = NULL;
    wf_context_params cp = ctx_params();
    wf_error err = {0};
    if (wf_session_create(m, &cp, &s, &err) != WF_OK) { CHECK(0, "session: %s", err.msg); return; }
    wf_gen_params gp = wf_gen_default_params();
    gp.max_tokens = 16;
    gp.spec = WF_SPEC_LOOKUP;
    collect c1 = {0};
    wf_gen_callbacks cb = {on_tok, &c1};
    wf_gen_result res;
    CHECK(wf_session_generate(s, p1, 40, &gp, &cb, &res, &err) == WF_OK, "first: %s", err.msg);
    CHECK(res.n_prompt_cached == 0 && res.n_prompt == 40, "first request cached %d", res.n_prompt_cached);
    /* follow-up: the whole first exchange + 10 new tokens */
    int n2 = 0;
    memcpy(p2, p1, sizeof p1);
    n2 = 40;
    for (int i = 0; i < c1.n; i++) p2[n2++] = c1.tok[i];
    for (int i = 0; i < 10; i++) p2[n2++] = (int32_t)(t_next(&r) % V);
    collect c2 = {0};
    cb.user = &c2;
    gp.max_tokens = 1; /* then the context's logits are those of p2's last token */
    CHECK(wf_session_generate(s, p2, (size_t)n2, &gp, &cb, &res, &err) == WF_OK, "second: %s", err.msg);
    /* the last sampled token of request 1 was never evaluated: 40 + 15 cached */
    CHECK(res.n_prompt_cached == 40 + c1.n - 1, "second request: %d cached, want %d", res.n_prompt_cached, 40 + c1.n - 1);
    CHECK(res.n_decoded == n2 - res.n_prompt_cached, "second request decoded %lld tokens, want %d",
          (long long)res.n_decoded, n2 - res.n_prompt_cached);
    float *l_reuse = malloc(V * sizeof(float));
    memcpy(l_reuse, wf_get_logits(wf_session_context(s), -1), V * sizeof(float));
    /* a fresh session on p2 */
    wf_session *f = NULL;
    CHECK(wf_session_create(m, &cp, &f, &err) == WF_OK, "fresh: %s", err.msg);
    collect c3 = {0};
    cb.user = &c3;
    CHECK(wf_session_generate(f, p2, (size_t)n2, &gp, &cb, &res, &err) == WF_OK, "fresh: %s", err.msg);
    const float *l_fresh = wf_get_logits(wf_session_context(f), -1);
    float md = 0;
    for (int i = 0; i < V; i++) md = fmaxf(md, fabsf(l_fresh[i] - l_reuse[i]));
    printf("  prefix reuse: %d of %d prompt tokens cached; logits max |diff| vs fresh session %.3g\n",
           40 + c1.n - 1, n2, (double)md);
    CHECK(md <= 1e-4f, "logits after reuse differ from a fresh session by %g", (double)md);
    CHECK(c2.n == 1 && c3.n == 1 && c2.tok[0] == c3.tok[0], "first token after reuse differs");
    /* a longer continuation after reuse equals the reference */
    int32_t ref[24];
    ref_greedy(m, p2, n2, 24, ref);
    collect c4 = {0};
    cb.user = &c4;
    gp.max_tokens = 24;
    CHECK(wf_session_generate(s, p2, (size_t)n2, &gp, &cb, &res, &err) == WF_OK, "third: %s", err.msg);
    CHECK(res.n_prompt_cached == n2 - 1, "same prompt again: %d cached, want %d", res.n_prompt_cached, n2 - 1);
    CHECK(c4.n == 24 && same_tokens(c4.tok, ref, 24), "continuation after reuse differs from the reference");
    /* a prompt that diverges at 20: only the first 20 are reused */
    memcpy(p3, p1, 20 * sizeof *p3);
    for (int i = 20; i < 32; i++) p3[i] = (p1[i] + 5) % V;
    ref_greedy(m, p3, 32, 24, ref);
    collect c5 = {0};
    cb.user = &c5;
    CHECK(wf_session_generate(s, p3, 32, &gp, &cb, &res, &err) == WF_OK, "fourth: %s", err.msg);
    CHECK(res.n_prompt_cached == 20, "diverging prompt: %d cached, want 20", res.n_prompt_cached);
    CHECK(c5.n == 24 && same_tokens(c5.tok, ref, 24), "output after a diverging prompt differs from the reference");
    /* errors leave the session usable */
    int32_t bad[2] = {1, V + 3};
    CHECK(wf_session_generate(s, bad, 2, &gp, &cb, &res, &err) == WF_ERR_INVALID_ARG, "bad token accepted");
    CHECK(wf_session_generate(s, bad, 0, &gp, &cb, &res, &err) == WF_ERR_INVALID_ARG, "empty prompt accepted");
    free(l_reuse);
    wf_session_free(f);
    wf_session_free(s);
}

/* ---- 3. cancellation --------------------------------------------------------- */

typedef struct canceller {
    wf_session *s;
    collect *col;
    int delay_us;
    double t_cancel;
} canceller;

static void *cancel_thread(void *arg) {
    canceller *k = arg;
    usleep((useconds_t)k->delay_us);
    k->t_cancel = now_s();
    atomic_store(&k->col->cancel_sent, true);
    wf_session_cancel(k->s);
    return NULL;
}

static void check_consistent_and_continue(wf_model *m, wf_session *s, const int32_t *prompt, int n_prompt,
                                          const collect *col, const char *what) {
    size_t nt;
    const int32_t *held = wf_session_tokens(s, &nt);
    CHECK(nt == (size_t)(n_prompt + col->n) && same_tokens(held, prompt, n_prompt) &&
              same_tokens(held + n_prompt, col->tok, col->n),
          "%s: session holds %zu tokens, want prompt %d + emitted %d", what, nt, n_prompt, col->n);
    int32_t np = wf_context_n_past(wf_session_context(s));
    CHECK((size_t)np == nt || (size_t)np + 1 == nt, "%s: cache %d vs %zu tokens", what, np, nt);
    /* the emitted tokens are the reference's */
    int32_t ref[300];
    int nr = ref_greedy(m, prompt, n_prompt, col->n, ref);
    CHECK(nr == col->n && same_tokens(ref, col->tok, col->n), "%s: emitted tokens differ from the reference", what);
    /* next request: everything so far + 3 tokens, continues like a fresh run */
    int32_t next[600];
    int nn = 0;
    for (size_t i = 0; i < nt; i++) next[nn++] = held[i];
    next[nn++] = 3, next[nn++] = 4, next[nn++] = 5;
    int32_t ref2[16];
    ref_greedy(m, next, nn, 16, ref2);
    collect c2 = {0};
    wf_gen_callbacks cb = {on_tok, &c2};
    wf_gen_params gp = wf_gen_default_params();
    gp.max_tokens = 16;
    gp.spec = WF_SPEC_LOOKUP;
    wf_gen_result res;
    wf_error err = {0};
    CHECK(wf_session_generate(s, next, (size_t)nn, &gp, &cb, &res, &err) == WF_OK, "%s: next: %s", what, err.msg);
    CHECK(res.n_prompt_cached >= nn - 4, "%s: next request reused only %d of %d", what, res.n_prompt_cached, nn);
    CHECK(res.stop == WF_GEN_STOP_LENGTH && c2.n == 16 && same_tokens(c2.tok, ref2, 16),
          "%s: next request after cancel differs from the reference (%s)", what, wf_gen_stop_name(res.stop));
}

static void test_cancel(wf_model *m) {
    int32_t prompt[20];
    for (int i = 0; i < 20; i++) prompt[i] = (int32_t)((i * 7 + 3) % V);
    wf_context_params cp = ctx_params();
    wf_error err = {0};
    for (int mode = 0; mode < 2; mode++) {
        /* (a) from inside the callback at the 10th token (a signal handler's view) */
        wf_session *s = NULL;
        if (wf_session_create(m, &cp, &s, &err) != WF_OK) { CHECK(0, "%s", err.msg); return; }
        collect col = {0};
        col.cancel_at = 10;
        col.s = s;
        wf_gen_callbacks cb = {on_tok, &col};
        wf_gen_params gp = wf_gen_default_params();
        gp.max_tokens = 200;
        gp.spec = mode ? WF_SPEC_LOOKUP : WF_SPEC_NONE;
        wf_gen_result res;
        CHECK(wf_session_generate(s, prompt, 20, &gp, &cb, &res, &err) == WF_OK, "%s", err.msg);
        CHECK(res.stop == WF_GEN_STOP_CANCELLED && col.n == 10 && col.after_cancel == 0,
              "cancel in callback: stop %s, %d emitted (%d after the cancel)", wf_gen_stop_name(res.stop), col.n,
              col.after_cancel);
        check_consistent_and_continue(m, s, prompt, 20, &col, mode ? "cancel-in-callback lookup" : "cancel-in-callback");
        wf_session_free(s);

        /* (b) from another thread, while tokens stream (1 ms per token) */
        if (wf_session_create(m, &cp, &s, &err) != WF_OK) { CHECK(0, "%s", err.msg); return; }
        collect c2 = {0};
        c2.sleep_us = 1000;
        cb.user = &c2;
        gp.max_tokens = 280;
        canceller k = {s, &c2, 30000, 0};
        pthread_t th;
        double t0 = now_s();
        pthread_create(&th, NULL, cancel_thread, &k);
        CHECK(wf_session_generate(s, prompt, 20, &gp, &cb, &res, &err) == WF_OK, "%s", err.msg);
        double t_ret = now_s();
        pthread_join(th, NULL);
        printf("  cancel from a thread (%s): %d tokens in %.1f ms, returned %.2f ms after the cancel, %d emitted after it\n",
               mode ? "lookup" : "plain", c2.n, 1e3 * (t_ret - t0), 1e3 * (t_ret - k.t_cancel), c2.after_cancel);
        CHECK(res.stop == WF_GEN_STOP_CANCELLED, "thread cancel: stop %s after %d tokens", wf_gen_stop_name(res.stop), c2.n);
        CHECK(c2.after_cancel <= 1, "thread cancel: %d tokens emitted after the cancel", c2.after_cancel);
        CHECK(t_ret - k.t_cancel < 0.25, "thread cancel took %.1f ms", 1e3 * (t_ret - k.t_cancel));
        check_consistent_and_continue(m, s, prompt, 20, &c2, mode ? "thread-cancel lookup" : "thread-cancel");
        wf_session_free(s);
    }
}

/* ---- 4. sampling: the distribution is preserved ------------------------------ */

/* exact next-token probabilities from logits with the repeat penalty over
 * hist (n tokens) and temperature T, written from the definitions */
static void probs_ref(const float *logits, const int32_t *hist, int n, float pen, double T, double *p) {
    double l[V], mx = -1e300, sum = 0;
    for (int i = 0; i < V; i++) l[i] = logits[i];
    bool seen[V] = {0};
    for (int i = 0; i < n; i++) seen[hist[i]] = true;
    for (int i = 0; i < V; i++)
        if (seen[i]) l[i] = l[i] > 0 ? l[i] / pen : l[i] * pen;
    for (int i = 0; i < V; i++) mx = fmax(mx, l[i] / T);
    for (int i = 0; i < V; i++) sum += p[i] = exp(l[i] / T - mx);
    for (int i = 0; i < V; i++) p[i] /= sum;
}

/* upper quantile of chi-square with df degrees (Wilson-Hilferty), z = 3.09 -> p = 0.001 */
static double chi2_crit(int df) {
    double z = 3.09, a = 2.0 / (9.0 * df);
    return df * pow(1 - a + z * sqrt(a), 3);
}

static void test_sampling(wf_model *m) {
    enum { NP = 6, RUNS = 3000 };
    const int32_t prompt[NP] = {5, 17, 33, 2, 48, 9};
    const float pen = 1.3f;
    const double T = 1.0;
    wf_context_params cp = ctx_params();
    wf_error err = {0};
    /* exact distribution of the second token: sum over the first */
    double p1[V], p2[V] = {0}, pc[V];
    wf_context *c = NULL;
    if (wf_context_create(m, &cp, &c, &err) != WF_OK) { CHECK(0, "%s", err.msg); return; }
    wf_decode(c, prompt, NP, false, NULL);
    probs_ref(wf_get_logits(c, -1), prompt, NP, pen, T, p1);
    int32_t hist[NP + 1];
    memcpy(hist, prompt, sizeof prompt);
    for (int t = 0; t < V; t++) {
        wf_kv_truncate(c, NP, NULL);
        hist[NP] = t;
        wf_decode(c, &hist[NP], 1, false, NULL);
        probs_ref(wf_get_logits(c, -1), hist, NP + 1, pen, T, pc);
        for (int u = 0; u < V; u++) p2[u] += p1[t] * pc[u];
    }
    wf_context_free(c);
    /* a prediction "v d v d ..." makes the draft after any first token v be d,
     * the most likely second token: both acceptance and rejection happen */
    int d = 0;
    for (int u = 1; u < V; u++)
        if (p2[u] > p2[d]) d = u;
    int32_t pred[2 * V];
    for (int v = 0; v < V; v++) pred[2 * v] = v, pred[2 * v + 1] = d;

    wf_session *s = NULL, *s0 = NULL;
    if (wf_session_create(m, &cp, &s, &err) != WF_OK || wf_session_create(m, &cp, &s0, &err) != WF_OK) {
        CHECK(0, "%s", err.msg);
        wf_session_free(s);
        return;
    }
    wf_sampler_params sp = wf_sampler_default_params();
    sp.temperature = (float)T;
    sp.top_k = 0;
    sp.top_p = 1.0f;
    sp.min_p = 0.0f;
    sp.repeat_penalty = pen;
    sp.repeat_last_n = 64;
    wf_gen_params gp = wf_gen_default_params();
    gp.max_tokens = 3;
    gp.sampling = &sp;
    gp.text = false;
    gp.prediction = pred;
    gp.n_prediction = 2 * V;
    wf_gen_params g0 = gp;
    g0.prediction = NULL;
    g0.n_prediction = 0;
    long count[V] = {0};
    int64_t acc = 0, rej = 0;
    int same = 0;
    for (int run = 0; run < RUNS; run++) {
        sp.seed = 1000 + (uint64_t)run;
        collect a = {0}, b = {0};
        wf_gen_callbacks ca = {on_tok, &a}, cb0 = {on_tok, &b};
        wf_gen_result res;
        wf_session_reset(s); /* each run from the prompt alone */
        wf_session_reset(s0);
        if (wf_session_generate(s, prompt, NP, &gp, &ca, &res, &err) != WF_OK) { CHECK(0, "%s", err.msg); break; }
        acc += res.n_draft_accepted;
        rej += res.n_draft_rejected;
        if (a.n >= 2) count[a.tok[1]]++;
        if (run < 300) {
            wf_session_generate(s0, prompt, NP, &g0, &cb0, &res, &err);
            same += a.n == b.n && same_tokens(a.tok, b.tok, a.n);
        }
    }
    /* chi-square, bins with expected < 5 pooled */
    double chi = 0, pool_e = 0, pool_o = 0;
    int bins = 0;
    for (int u = 0; u < V; u++) {
        double e = p2[u] * RUNS;
        if (e < 5) { pool_e += e; pool_o += (double)count[u]; continue; }
        chi += ((double)count[u] - e) * ((double)count[u] - e) / e;
        bins++;
    }
    if (pool_e > 0) {
        chi += (pool_o - pool_e) * (pool_o - pool_e) / pool_e;
        bins++;
    }
    double crit = chi2_crit(bins - 1);
    printf("  sampling T=%.1f, repeat penalty %.1f, %d runs: draft token %d accepted %lld, rejected %lld; second token "
           "chi-square %.1f (df %d, p=0.001 threshold %.1f); same tokens as plain sampling in %d of 300 seeds\n",
           T, (double)pen, RUNS, d, (long long)acc, (long long)rej, chi, bins - 1, crit, same);
    CHECK(acc > RUNS / 20 && rej > RUNS / 20, "both branches should occur: %lld accepted, %lld rejected", (long long)acc,
          (long long)rej);
    CHECK(chi < crit, "second-token distribution with speculation: chi-square %.1f >= %.1f", chi, crit);
    CHECK(same == 300, "speculative sampling made different tokens than plain sampling for %d of 300 seeds", 300 - same);
    wf_session_free(s);
    wf_session_free(s0);
}

/* ---- stop strings and the text path ------------------------------------------ */

static void test_stops(wf_model *m) {
    int32_t prompt[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    int32_t ref[40];
    ref_greedy(m, prompt, 8, 40, ref);
    /* stop at the text of the 12th generated token */
    char stop[16];
    snprintf(stop, sizeof stop, "t%dt%d", ref[11], ref[12]);
    const char *stops[1] = {stop};
    for (int mode = 0; mode < 2; mode++) {
        wf_session *s = NULL;
        wf_context_params cp = ctx_params();
        wf_error err = {0};
        if (wf_session_create(m, &cp, &s, &err) != WF_OK) { CHECK(0, "%s", err.msg); return; }
        wf_gen_params gp = wf_gen_default_params();
        gp.max_tokens = 40;
        gp.stops = stops;
        gp.n_stops = 1;
        gp.spec = mode ? WF_SPEC_LOOKUP : WF_SPEC_NONE;
        gp.prediction = mode ? ref : NULL;
        gp.n_prediction = mode ? 40 : 0;
        collect col = {0};
        wf_gen_callbacks cb = {on_tok, &col};
        wf_gen_result res;
        CHECK(wf_session_generate(s, prompt, 8, &gp, &cb, &res, &err) == WF_OK, "%s", err.msg);
        /* the stop may be found earlier if the text happens to occur before */
        CHECK(res.stop == WF_GEN_STOP_STRING && col.n <= 13 && same_tokens(col.tok, ref, col.n),
              "stop string (%s): stop %s after %d tokens", mode ? "spec" : "plain", wf_gen_stop_name(res.stop), col.n);
        size_t nt;
        wf_session_tokens(s, &nt);
        int32_t np = wf_context_n_past(wf_session_context(s));
        CHECK(nt == (size_t)(8 + col.n) && ((size_t)np == nt || (size_t)np + 1 == nt), "stop: session %zu, cache %d", nt, np);
        wf_session_free(s);
    }
}

int main(void) {
    char dir[] = "/tmp/wf_gen_XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char p_rand[256], p_bi[256];
    snprintf(p_rand, sizeof p_rand, "%s/random.gguf", dir);
    snprintf(p_bi, sizeof p_bi, "%s/bigram.gguf", dir);
    CHECK(write_model(p_rand, M_RANDOM, 0x5151) == 0, "write random");
    CHECK(write_model(p_bi, M_BIGRAM, 0x7777) == 0, "write bigram");
    wf_model *mr = NULL, *mb = NULL;
    wf_error err = {0};
    CHECK(wf_model_load(p_rand, NULL, &mr, &err) == WF_OK, "load random: %s", err.msg);
    CHECK(wf_model_load(p_bi, NULL, &mb, &err) == WF_OK, "load bigram: %s", err.msg);
    unlink(p_rand);
    unlink(p_bi);
    rmdir(dir);
    if (!mr || !mb) return t_done("test_generate");

    test_greedy_exact(mr, "random", false);
    test_greedy_exact(mb, "bigram", true);
    test_prefix_reuse(mr);
    test_cancel(mb);
    test_sampling(mr);
    test_stops(mr);

    wf_model_free(mr);
    wf_model_free(mb);
    return t_done("test_generate");
}
