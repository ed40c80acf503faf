/* test_step.c — step-wise generation and batched decoding of several
 * sessions (wf_session_begin / _step / _end, wf_sessions_step,
 * wf_decode_seqs / wf_decode_multi) on small synthetic models
 * (tests/common/gen_models.h).
 *
 * The references are independent of the session code: a plain loop written
 * here (one wf_decode per token, an argmax computed by this file for greedy,
 * wf_sampler for seeded sampling), and for the shared passes the logits of
 * twin contexts that evaluate the same tokens with a lone wf_decode.
 *  a. begin/step/end emits exactly the tokens, text and result counts of
 *     wf_session_generate (greedy, seeded sampling, lookup, prediction, a
 *     draft model, a stop string, a follow-up request), and the tokens of
 *     the reference loop (every configuration whose output does not depend
 *     on speculation); with a small prefill chunk too; API misuse;
 *  b. wf_decode_multi: logits bit-identical to single-context wf_decode for
 *     k = 1..33 contexts of mixed lengths (some past one attention chunk)
 *     and KV types, on f32, q8_0, q4_0 (also with the AVX2 kernels) and
 *     q4_K_M models, 2 threads; bad arguments refused with nothing
 *     evaluated; wf_decode_seqs with speculative-sized batches per context;
 *     wf_sessions_step over 1..5 sessions with different prompts, lengths
 *     and max_tokens, joining and leaving at different steps, one cancelled
 *     midway, some speculating: every session's tokens equal its reference;
 *  c. a long prompt proceeds chunk by chunk while another session emits one
 *     token per wf_sessions_step call; a cancel stops it between chunks.
 */
#include "gen_models.h"
#include "gen/gen.h"
#include "model/model_int.h"
#include "convert/quantize.h"
#include "testutil.h"
#include "wafer.h"

#include <string.h>

enum { NCTX = 1024, MAXTOK = 256 };

static wf_context_params ctx_params(int32_t n_threads, wf_kv_type kv) {
    wf_context_params cp = wf_context_default_params();
    cp.n_ctx = NCTX;
    cp.n_threads = n_threads;
    cp.n_batch = 64;
    cp.kv_type = kv;
    return cp;
}

static int32_t argmax_ref(const float *l, int V) {
    int32_t b = 0;
    for (int32_t i = 1; i < V; i++)
        if (l[i] > l[b]) b = i;
    return b;
}

/* The reference: the prompt in chunks of `chunk` tokens, then one wf_decode
 * per token; greedy by this file's argmax (sp NULL) or wf_sampler with the
 * prompt fed to its penalties. Returns the number of tokens written. */
static int ref_run(wf_model *m, const int32_t *prompt, int n_prompt, int chunk, const wf_sampler_params *sp,
                   int n_gen, int32_t *out) {
    wf_context_params cp = ctx_params(1, WF_KV_F32);
    wf_context *c = NULL;
    wf_sampler *smp = NULL;
    if (wf_context_create(m, &cp, &c, NULL) != WF_OK) return -1;
    const int V = wf_model_n_vocab(m);
    if (sp && wf_sampler_create(sp, V, &smp, NULL) != WF_OK) { wf_context_free(c); return -1; }
    int n = 0;
    for (int at = 0; at < n_prompt; at += chunk) {
        int k = n_prompt - at < chunk ? n_prompt - at : chunk;
        if (wf_decode(c, prompt + at, k, false, NULL) != WF_OK) goto out;
    }
    for (int i = 0; smp && i < n_prompt; i++) wf_sampler_accept(smp, prompt[i]);
    for (; n < n_gen; n++) {
        const float *l = wf_get_logits(c, -1);
        out[n] = smp ? wf_sampler_sample(smp, l) : argmax_ref(l, V);
        if (smp) wf_sampler_accept(smp, out[n]);
        if (n + 1 < n_gen && wf_decode(c, &out[n], 1, false, NULL) != WF_OK) { n++; break; }
    }
out:
    wf_sampler_free(smp);
    wf_context_free(c);
    return n;
}

/* What a request's callback saw. */
typedef struct collect {
    int32_t tok[MAXTOK];
    int n;
    char text[4096];
    size_t n_text;
    int n_calls_step;      /* token callbacks since the counter was reset */
    wf_session *cancel_s;  /* cancel this session ...                     */
    int cancel_at;         /* ... after this many tokens (> 0)            */
} collect;

static bool on_tok(void *user, int32_t tok, const char *text, size_t n_text) {
    collect *c = user;
    if (tok >= 0 && c->n < MAXTOK) c->tok[c->n++] = tok;
    if (tok >= 0) c->n_calls_step++;
    if (text && c->n_text + n_text < sizeof c->text) {
        memcpy(c->text + c->n_text, text, n_text);
        c->n_text += n_text;
    }
    if (tok >= 0 && c->cancel_s && c->n == c->cancel_at) wf_session_cancel(c->cancel_s);
    return true;
}

static bool same_counts(const wf_gen_result *a, const wf_gen_result *b, bool calls) {
    return a->stop == b->stop && a->n_prompt == b->n_prompt && a->n_prompt_cached == b->n_prompt_cached &&
           a->n_generated == b->n_generated && a->n_decoded == b->n_decoded &&
           (!calls || a->n_decode_calls == b->n_decode_calls) && a->n_draft_proposed == b->n_draft_proposed &&
           a->n_draft_accepted == b->n_draft_accepted && a->n_draft_rejected == b->n_draft_rejected &&
           a->n_pred_accepted == b->n_pred_accepted && a->n_pred_rejected == b->n_pred_rejected &&
           a->n_draft_decoded == b->n_draft_decoded && a->n_draft_calls == b->n_draft_calls &&
           a->n_prompt_from_cache == b->n_prompt_from_cache;
}

/* Begin, step until done (counting steps and checking the per-step token
 * count of plain decoding), end. */
static wf_status run_steps(wf_session *s, const int32_t *prompt, size_t n, const wf_gen_params *gp, collect *col,
                           int32_t chunk, bool plain, wf_gen_result *res, int *n_steps) {
    wf_gen_callbacks cb = {on_tok, col};
    wf_error err = {0};
    wf_session_set_prefill_chunk(s, chunk);
    wf_status st = wf_session_begin(s, prompt, n, gp, &cb, &err);
    if (st != WF_OK) return st;
    CHECK(wf_session_busy(s), "not busy after begin");
    *n_steps = 0;
    for (bool done = false; !done;) {
        col->n_calls_step = 0;
        int32_t before = wf_context_n_past(wf_session_context(s));
        wf_session_step(s, &done, NULL);
        (*n_steps)++;
        int32_t after = wf_context_n_past(wf_session_context(s));
        if (plain && col->n > 0 && col->n_calls_step > 1) CHECK(0, "a plain decode step emitted %d tokens", col->n_calls_step);
        if (chunk > 0 && after - before > chunk && col->n == 0) CHECK(0, "a prompt step evaluated %d > %d tokens", after - before, chunk);
        if (*n_steps > 10000) { CHECK(0, "no end"); break; }
    }
    st = wf_session_end(s, res, &err);
    CHECK(!wf_session_busy(s), "busy after end");
    return st;
}

/* ---- a. begin/step/end against wf_session_generate and the reference ---------- */

typedef struct gen_case {
    const char *name;
    wf_model *m;
    bool sample;           /* seeded sampling (else greedy)                */
    wf_spec_mode spec;
    bool predict;          /* a partly right prediction                    */
    const char *stop;      /* a stop string or NULL                        */
    bool ref_exact;        /* the output must equal the reference loop's   */
    int max_tokens;
} gen_case;

static void test_equivalence(wf_model *t, wf_model *draft, wf_model *rnd) {
    const wf_sampler_params base_sp = {0.8f, 20, 0.95f, 0.0f, 1.1f, 64, 0.0f, 0.0f, 1234};
    const gen_case cases[] = {
        {"greedy", t, false, WF_SPEC_NONE, false, NULL, true, 40},
        {"greedy lookup", t, false, WF_SPEC_LOOKUP, false, NULL, true, 60},
        {"greedy prediction", t, false, WF_SPEC_NONE, true, NULL, true, 50},
        {"sampled", rnd, true, WF_SPEC_NONE, false, NULL, true, 40},
        {"sampled lookup", t, true, WF_SPEC_LOOKUP, false, NULL, true, 50},
        {"sampled prediction", rnd, true, WF_SPEC_NONE, true, NULL, true, 40},
        {"greedy draft", t, false, WF_SPEC_DRAFT, false, NULL, true, 50},
        {"sampled draft", t, true, WF_SPEC_DRAFT, false, NULL, false, 50},
        {"stop string", t, false, WF_SPEC_NONE, false, "t1", false, 60},
    };
    t_rng r = {4242};
    int32_t prompt[50];
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const gen_case *gc = &cases[ci];
        const int V = wf_model_n_vocab(gc->m);
        for (int i = 0; i < 50; i++) prompt[i] = (int32_t)(t_next(&r) % (uint64_t)V);
        const int n_prompt = 10 + (int)ci * 2; /* <= 32: one exact pass however it is chunked */
        wf_sampler_params sp = base_sp;
        sp.seed += ci;
        int32_t ref[MAXTOK];
        const int n_ref = ref_run(gc->m, prompt, n_prompt, 64, gc->sample ? &sp : NULL, gc->max_tokens, ref);
        int32_t pred[64];
        for (int i = 0; i < 64; i++) pred[i] = i < n_ref && i % 9 != 5 ? ref[i] : (int32_t)(i % V);
        const char *stops[1] = {gc->stop};
        wf_gen_params gp = wf_gen_default_params();
        gp.max_tokens = gc->max_tokens;
        gp.sampling = gc->sample ? &sp : NULL;
        gp.spec = gc->spec;
        if (gc->predict) gp.prediction = pred, gp.n_prediction = 40;
        if (gc->stop) gp.stops = stops, gp.n_stops = 1;

        /* A: the blocking call; B: steps, default chunk; C: steps, chunk 7 */
        collect ca = {0}, cb_ = {0}, cc = {0};
        wf_gen_result ra, rb, rc;
        wf_session *sa = NULL, *sb = NULL, *sc = NULL;
        wf_context_params cp = ctx_params(1, WF_KV_F32);
        wf_error err = {0};
        CHECK(wf_session_create(gc->m, &cp, &sa, &err) == WF_OK && wf_session_create(gc->m, &cp, &sb, &err) == WF_OK &&
                  wf_session_create(gc->m, &cp, &sc, &err) == WF_OK,
              "%s", err.msg);
        if (!sa || !sb || !sc) return;
        if (gc->spec == WF_SPEC_DRAFT) {
            CHECK(wf_session_set_draft(sa, draft, NULL, &err) == WF_OK && wf_session_set_draft(sb, draft, NULL, &err) == WF_OK &&
                      wf_session_set_draft(sc, draft, NULL, &err) == WF_OK,
                  "%s", err.msg);
        }
        wf_gen_callbacks cba = {on_tok, &ca};
        CHECK(wf_session_generate(sa, prompt, (size_t)n_prompt, &gp, &cba, &ra, &err) == WF_OK, "%s: %s", gc->name, err.msg);
        int steps_b = 0, steps_c = 0;
        const bool plain = gc->spec == WF_SPEC_NONE && !gc->predict;
        CHECK(run_steps(sb, prompt, (size_t)n_prompt, &gp, &cb_, 0, plain, &rb, &steps_b) == WF_OK, "%s: steps failed", gc->name);
        CHECK(run_steps(sc, prompt, (size_t)n_prompt, &gp, &cc, 7, plain, &rc, &steps_c) == WF_OK, "%s: steps failed", gc->name);
        CHECK(ca.n == cb_.n && !memcmp(ca.tok, cb_.tok, sizeof(int32_t) * (size_t)ca.n), "%s: step tokens differ from generate (%d vs %d)",
              gc->name, cb_.n, ca.n);
        CHECK(ca.n_text == cb_.n_text && !memcmp(ca.text, cb_.text, ca.n_text), "%s: step text differs", gc->name);
        CHECK(same_counts(&ra, &rb, true), "%s: result counts differ (calls %lld vs %lld, drafts %lld/%lld vs %lld/%lld)", gc->name,
              (long long)rb.n_decode_calls, (long long)ra.n_decode_calls, (long long)rb.n_draft_accepted,
              (long long)rb.n_draft_proposed, (long long)ra.n_draft_accepted, (long long)ra.n_draft_proposed);
        /* chunk 7: the prompt takes ceil(n/7) calls instead of one */
        const int64_t extra = (n_prompt + 6) / 7 - 1;
        (void)extra;
        if (gc->ref_exact) { /* (with a draft model at T > 0, KV rounding of another chunking may flip a draw) */
            CHECK(cc.n == ca.n && !memcmp(ca.tok, cc.tok, sizeof(int32_t) * (size_t)ca.n), "%s: chunk-7 tokens differ", gc->name);
            if (gc->spec != WF_SPEC_DRAFT)
                CHECK(same_counts(&ra, &rc, false) && rc.n_decode_calls == ra.n_decode_calls + extra,
                      "%s: chunk-7 counts differ (calls %lld vs %lld + %lld)", gc->name, (long long)rc.n_decode_calls,
                      (long long)ra.n_decode_calls, (long long)extra);
        }
        CHECK(steps_c >= (n_prompt + 6) / 7, "%s: %d steps for a %d-token prompt in chunks of 7", gc->name, steps_c, n_prompt);
        if (gc->ref_exact)
            CHECK(cb_.n == n_ref && !memcmp(cb_.tok, ref, sizeof(int32_t) * (size_t)n_ref), "%s: tokens differ from the reference loop (%d vs %d)",
                  gc->name, cb_.n, n_ref);
        if (gc->stop) CHECK(rb.stop == WF_GEN_STOP_STRING && ra.stop == WF_GEN_STOP_STRING, "%s: stop %s", gc->name, wf_gen_stop_name(rb.stop));
        if (plain) CHECK(steps_b == cb_.n, "%s: %d steps for %d tokens (the prompt step emits the first)", gc->name, steps_b, cb_.n);
        printf("  %-18s %3d tokens, %3d steps (chunk 7: %3d), drafts %lld/%lld accepted\n", gc->name, cb_.n, steps_b, steps_c,
               (long long)rb.n_draft_accepted, (long long)rb.n_draft_proposed);

        /* a follow-up request (prefix reuse) on the same sessions */
        if (ci == 0 || ci == 6) {
            int32_t follow[MAXTOK + 64];
            size_t nf = 0;
            for (int i = 0; i < n_prompt; i++) follow[nf++] = prompt[i];
            for (int i = 0; i < ca.n; i++) follow[nf++] = ca.tok[i];
            for (int i = 0; i < 5; i++) follow[nf++] = (int32_t)(i * 3 % V);
            collect fa = {0}, fb = {0};
            wf_gen_result fra, frb;
            wf_gen_callbacks cfa = {on_tok, &fa};
            CHECK(wf_session_generate(sa, follow, nf, &gp, &cfa, &fra, &err) == WF_OK, "%s", err.msg);
            CHECK(run_steps(sb, follow, nf, &gp, &fb, 0, plain, &frb, &steps_b) == WF_OK, "follow-up steps failed");
            CHECK(fa.n == fb.n && !memcmp(fa.tok, fb.tok, sizeof(int32_t) * (size_t)fa.n) && same_counts(&fra, &frb, true),
                  "%s follow-up: differs from generate", gc->name);
            CHECK(frb.n_prompt_cached >= (int32_t)nf - 6, "%s follow-up: only %d of %zu prompt tokens reused", gc->name, frb.n_prompt_cached, nf);
        }
        wf_session_free(sa);
        wf_session_free(sb);
        wf_session_free(sc);
    }
}

/* API misuse: step/end without begin, begin twice, end early. */
static void test_misuse(wf_model *t) {
    wf_context_params cp = ctx_params(1, WF_KV_F32);
    wf_session *s = NULL;
    wf_error err = {0};
    if (wf_session_create(t, &cp, &s, &err) != WF_OK) { CHECK(0, "%s", err.msg); return; }
    bool done = false;
    wf_gen_result res;
    CHECK(wf_session_step(s, &done, &err) == WF_ERR_INVALID_ARG && done, "step without begin");
    CHECK(wf_session_end(s, &res, &err) == WF_ERR_INVALID_ARG, "end without begin");
    int32_t p[30];
    for (int i = 0; i < 30; i++) p[i] = i;
    wf_gen_params gp = wf_gen_default_params();
    gp.max_tokens = 20;
    CHECK(wf_session_begin(s, p, 30, &gp, NULL, &err) == WF_OK, "%s", err.msg);
    CHECK(wf_session_begin(s, p, 30, &gp, NULL, &err) == WF_ERR_INVALID_ARG, "begin on a busy session");
    CHECK(wf_session_generate(s, p, 30, &gp, NULL, &res, &err) == WF_ERR_INVALID_ARG, "generate on a busy session");
    int32_t bad = 1 << 20;
    wf_session *s2 = NULL;
    CHECK(wf_session_create(t, &cp, &s2, &err) == WF_OK, "%s", err.msg);
    CHECK(wf_session_begin(s2, &bad, 1, &gp, NULL, &err) == WF_ERR_INVALID_ARG && !wf_session_busy(s2), "bad token accepted");
    wf_session_free(s2);
    for (int i = 0; i < 4; i++) wf_session_step(s, &done, NULL); /* prompt + 3 decode steps */
    CHECK(wf_session_end(s, &res, &err) == WF_OK && res.stop == WF_GEN_STOP_CANCELLED && res.n_generated == 4,
          "early end: stop %s, %d generated", wf_gen_stop_name(res.stop), res.n_generated);
    size_t nt = 0;
    wf_session_tokens(s, &nt);
    CHECK(nt == 34 && wf_context_n_past(wf_session_context(s)) == 33, "early end left %zu tokens, %d cached", nt,
          wf_context_n_past(wf_session_context(s)));
    /* the session goes on: a continuation equals the reference */
    int32_t ref[8], cont[40];
    const int32_t *tk = wf_session_tokens(s, &nt);
    memcpy(cont, tk, nt * sizeof *cont);
    int n_ref = ref_run(t, cont, (int)nt, 1, NULL, 8, ref);
    collect col = {0};
    int steps = 0;
    gp.max_tokens = 8;
    CHECK(run_steps(s, cont, nt, &gp, &col, 0, true, &res, &steps) == WF_OK, "continuation failed");
    CHECK(col.n == n_ref && !memcmp(col.tok, ref, sizeof(int32_t) * (size_t)n_ref) && res.n_prompt_cached == 33,
          "continuation after an early end differs (cached %d)", res.n_prompt_cached);
    /* a session freed while busy */
    CHECK(wf_session_begin(s, p, 30, &gp, NULL, &err) == WF_OK, "%s", err.msg);
    wf_session_step(s, &done, NULL);
    wf_session_free(s);
}

/* ---- b. wf_decode_multi bit for bit -------------------------------------------- */

enum { KMAX = 65 }; /* across the shared-pass cap (64 on AVX-512, 32 on AVX2 K-quants) */

static void test_decode_multi(wf_model *m, const char *name) {
    const int V = wf_model_n_vocab(m);
    wf_context *a[KMAX] = {0}, *b[KMAX] = {0};
    const wf_kv_type kvs[3] = {WF_KV_F16, WF_KV_F32, WF_KV_Q8_0};
    wf_error err = {0};
    t_rng r = {777};
    int32_t buf[700];
    bool ok = true;
    for (int i = 0; i < KMAX && ok; i++) {
        wf_context_params cp = ctx_params(2, kvs[i % 3]);
        if (i == 5) cp.n_batch = 16; /* another batch size, same results */
        ok = wf_context_create(m, &cp, &a[i], &err) == WF_OK && wf_context_create(m, &cp, &b[i], &err) == WF_OK;
        /* lengths 1..~650: several past one attention chunk (512), where a
         * lone token splits its positions across threads */
        int len = 1 + (i * 97) % 650;
        for (int j = 0; j < len; j++) buf[j] = (int32_t)(t_next(&r) % (uint64_t)V);
        ok = ok && wf_decode(a[i], buf, len, false, &err) == WF_OK && wf_decode(b[i], buf, len, false, &err) == WF_OK;
    }
    CHECK(ok, "%s: setup: %s", name, err.msg);
    int n_bad = 0;
    for (int k = 1; k <= KMAX && ok; k++) {
        int32_t tok[KMAX];
        for (int i = 0; i < k; i++) tok[i] = (int32_t)(t_next(&r) % (uint64_t)V);
        /* rotate which context leads (its pool and scratch run the pass) */
        wf_context *cs[KMAX];
        for (int i = 0; i < k; i++) cs[i] = a[(i + k) % KMAX];
        int32_t t2[KMAX];
        for (int i = 0; i < k; i++) t2[i] = tok[i];
        if (wf_decode_multi(cs, t2, k, &err) != WF_OK) { CHECK(0, "%s k=%d: %s", name, k, err.msg); break; }
        for (int i = 0; i < k; i++) {
            wf_context *tw = b[(i + k) % KMAX];
            if (wf_decode(tw, &tok[i], 1, false, &err) != WF_OK) { CHECK(0, "%s", err.msg); ok = false; break; }
            const float *la = wf_get_logits(cs[i], -1), *lb = wf_get_logits(tw, -1);
            if (!la || !lb || memcmp(la, lb, sizeof(float) * (size_t)V) != 0 ||
                wf_context_n_past(cs[i]) != wf_context_n_past(tw)) {
                if (n_bad++ < 5) {
                    double md = 0;
                    for (int v = 0; la && lb && v < V; v++) md = fmax(md, fabs((double)la[v] - lb[v]));
                    fprintf(stderr, "  %s k=%d ctx %d (pos %d): max |diff| %g\n", name, k, i, wf_context_n_past(tw) - 1, md);
                }
            }
        }
    }
    CHECK(n_bad == 0, "%s: %d of the multi-context logits differ from single-context ones", name, n_bad);
    printf("  wf_decode_multi %-9s k = 1..%d: %s\n", name, KMAX, n_bad ? "DIFFERS" : "bit-identical");

    /* bad arguments: nothing evaluated */
    int32_t before0 = wf_context_n_past(a[0]), before1 = wf_context_n_past(a[1]);
    wf_context *dup[2] = {a[0], a[0]}, *two[2] = {a[0], a[1]};
    int32_t tt[2] = {1, 2}, tbad[2] = {1, V};
    CHECK(wf_decode_multi(dup, tt, 2, &err) == WF_ERR_INVALID_ARG, "a repeated context accepted");
    CHECK(wf_decode_multi(two, tbad, 2, &err) == WF_ERR_INVALID_ARG, "an out-of-range token accepted");
    CHECK(wf_decode_multi(two, tt, 0, &err) == WF_ERR_INVALID_ARG, "0 contexts accepted");
    CHECK(wf_context_n_past(a[0]) == before0 && wf_context_n_past(a[1]) == before1, "a refused call evaluated something");
    for (int i = 0; i < KMAX; i++) wf_context_free(a[i]), wf_context_free(b[i]);
}

/* wf_decode_seqs: each context gets 1..17 tokens per round (the sizes of
 * speculative verification batches), all logits or the last; the passes are
 * packed up to wf_decode_multi_cols columns; every kept row equals its
 * twin's lone wf_decode. */
static void test_decode_seqs(wf_model *m, const char *name) {
    enum { NC = 9, ROUNDS = 12 };
    const int V = wf_model_n_vocab(m);
    wf_context *a[NC] = {0}, *b[NC] = {0};
    wf_error err = {0};
    t_rng r = {4711};
    int32_t buf[600];
    bool ok = true;
    for (int i = 0; i < NC && ok; i++) {
        wf_context_params cp = ctx_params(2, i % 2 ? WF_KV_F16 : WF_KV_Q8_0);
        ok = wf_context_create(m, &cp, &a[i], &err) == WF_OK && wf_context_create(m, &cp, &b[i], &err) == WF_OK;
        int len = 1 + (i * 131) % 560;
        for (int j = 0; j < len; j++) buf[j] = (int32_t)(t_next(&r) % (uint64_t)V);
        ok = ok && wf_decode(a[i], buf, len, false, &err) == WF_OK && wf_decode(b[i], buf, len, false, &err) == WF_OK;
    }
    CHECK(ok, "%s: setup: %s", name, err.msg);
    int n_bad = 0, n_rows = 0, max_cols = 0;
    for (int round = 0; round < ROUNDS && ok; round++) {
        int32_t toks[NC][17];
        wf_seq seqs[NC];
        int cols = 0;
        for (int i = 0; i < NC; i++) {
            const int n = round % 3 == 0 ? 1 : 1 + (int)(t_next(&r) % (round % 3 == 1 ? 4 : 17));
            for (int t = 0; t < n; t++) toks[i][t] = (int32_t)(t_next(&r) % (uint64_t)V);
            seqs[i] = (wf_seq){.ctx = a[(i + round) % NC], .tokens = toks[i], .n = n, .all_logits = (t_next(&r) & 1) != 0};
            cols += n;
        }
        if (cols > max_cols) max_cols = cols;
        if (wf_decode_seqs(seqs, NC, &err) != WF_OK) { CHECK(0, "%s round %d: %s", name, round, err.msg); break; }
        for (int i = 0; i < NC; i++) {
            wf_context *tw = b[(i + round) % NC];
            if (wf_decode(tw, seqs[i].tokens, seqs[i].n, seqs[i].all_logits, &err) != WF_OK) { CHECK(0, "%s", err.msg); ok = false; break; }
            for (int t = seqs[i].all_logits ? 0 : seqs[i].n - 1; t < seqs[i].n; t++) {
                const float *la = wf_get_logits(seqs[i].ctx, t), *lb = wf_get_logits(tw, t);
                n_rows++;
                if (!la || !lb || memcmp(la, lb, sizeof(float) * (size_t)V) != 0) n_bad++;
            }
            if (wf_context_n_past(seqs[i].ctx) != wf_context_n_past(tw) || (seqs[i].n > 1 && !seqs[i].all_logits && wf_get_logits(seqs[i].ctx, 0)))
                n_bad++;
        }
    }
    CHECK(n_bad == 0, "%s: %d of %d kept logits rows differ from lone wf_decode", name, n_bad, n_rows);
    printf("  wf_decode_seqs  %-9s %d rows (up to %d columns a round): %s\n", name, n_rows, max_cols, n_bad ? "DIFFERS" : "bit-identical");
    /* a sequence longer than one shared pass is refused, nothing evaluated */
    const int32_t cap = wf_decode_multi_cols(m);
    CHECK(cap >= WF_GEMM_EXACT_TOKENS && cap <= WF_DECODE_MULTI_MAX && cap <= wf_model_exact_batch(m),
          "%s: shared-pass cap %d", name, (int)cap);
    int32_t before = wf_context_n_past(a[0]), many[WF_DECODE_MULTI_MAX + 1] = {0};
    wf_seq big = {.ctx = a[0], .tokens = many, .n = cap + 1, .all_logits = true};
    CHECK(wf_decode_seqs(&big, 1, &err) == WF_ERR_INVALID_ARG && wf_context_n_past(a[0]) == before,
          "%s: a %d-token sequence accepted (cap %d)", name, (int)cap + 1, (int)cap);
    for (int i = 0; i < NC; i++) wf_context_free(a[i]), wf_context_free(b[i]);
}

/* ---- b. wf_sessions_step: joining, leaving, cancelling --------------------------- */

typedef struct slot_req {
    int join;            /* step at which it begins                      */
    int n_prompt;
    int max_tokens;
    bool sample;
    wf_spec_mode spec;
    int cancel_at;       /* > 0: cancelled (by the test, between steps) after this many tokens;
                            -1: given a prediction (its reference, every 7th token wrong) */
} slot_req;

static void test_sessions(wf_model *t, int n_sessions) {
    const int V = wf_model_n_vocab(t);
    /* requests: each goes to session (index % n_sessions) when that is free */
    const slot_req reqs[] = {
        {0, 12, 30, false, WF_SPEC_NONE, 0},  {0, 40, 25, true, WF_SPEC_NONE, 0}, {2, 5, 40, false, WF_SPEC_NONE, 17},
        {3, 90, 20, false, WF_SPEC_LOOKUP, 0}, {5, 3, 35, true, WF_SPEC_NONE, 0},  {9, 25, 12, false, WF_SPEC_NONE, 0},
        {12, 60, 0, false, WF_SPEC_NONE, 0},  {14, 8, 18, true, WF_SPEC_NONE, 0},  {15, 30, 40, false, WF_SPEC_LOOKUP, 0},
        {16, 20, 30, true, WF_SPEC_LOOKUP, 0}, {17, 14, 36, false, WF_SPEC_NONE, -1},
    };
    enum { NR = sizeof reqs / sizeof reqs[0] };
    const wf_sampler_params sp0 = {0.9f, 0, 1.0f, 0.05f, 1.0f, 64, 0.0f, 0.0f, 99};
    wf_sampler_params sps[NR];
    int32_t prompts[NR][100];
    int32_t refs[NR][MAXTOK];
    int n_refs[NR];
    collect cols[NR];
    memset(cols, 0, sizeof cols);
    t_rng r = {31337 + (uint64_t)n_sessions};
    for (int q = 0; q < NR; q++) {
        for (int i = 0; i < reqs[q].n_prompt; i++) prompts[q][i] = (int32_t)(t_next(&r) % (uint64_t)V);
        sps[q] = sp0;
        sps[q].seed += (uint64_t)q;
        n_refs[q] = ref_run(t, prompts[q], reqs[q].n_prompt, 16, reqs[q].sample ? &sps[q] : NULL, reqs[q].max_tokens, refs[q]);
    }
    wf_session *ss[5] = {0};
    int owner[5] = {-1, -1, -1, -1, -1};
    wf_error err = {0};
    for (int i = 0; i < n_sessions; i++) {
        wf_context_params cp = ctx_params(1, WF_KV_F32);
        if (wf_session_create(t, &cp, &ss[i], &err) != WF_OK) { CHECK(0, "%s", err.msg); return; }
        wf_session_set_prefill_chunk(ss[i], 16);
    }
    int next = 0, finished = 0, max_batched = 0;
    int64_t drafts_accepted = 0;
    wf_gen_result res[NR];
    wf_gen_params gps[NR];
    for (int step = 0; finished < NR && step < 2000; step++) {
        /* admit: the next request, when its time has come and a session is free */
        while (next < NR && reqs[next].join <= step) {
            int slot = -1;
            for (int i = 0; i < n_sessions && slot < 0; i++)
                if (owner[i] < 0) slot = i;
            if (slot < 0) break;
            wf_gen_params *gp = &gps[next];
            *gp = wf_gen_default_params();
            gp->max_tokens = reqs[next].max_tokens;
            gp->sampling = reqs[next].sample ? &sps[next] : NULL;
            gp->spec = reqs[next].spec;
            int32_t pred[MAXTOK];
            if (reqs[next].cancel_at < 0) {
                for (int i = 0; i < n_refs[next]; i++) pred[i] = i % 7 == 3 ? (refs[next][i] + 1) % V : refs[next][i];
                gp->prediction = pred, gp->n_prediction = (size_t)n_refs[next];
            }
            wf_gen_callbacks cb = {on_tok, &cols[next]};
            if (wf_session_begin(ss[slot], prompts[next], (size_t)reqs[next].n_prompt, gp, &cb, &err) != WF_OK) {
                CHECK(0, "begin: %s", err.msg);
                return;
            }
            owner[slot] = next++;
        }
        /* cancel, between steps, the request that asks for it */
        for (int i = 0; i < n_sessions; i++)
            if (owner[i] >= 0 && reqs[owner[i]].cancel_at > 0 && cols[owner[i]].n >= reqs[owner[i]].cancel_at)
                wf_session_cancel(ss[i]);
        wf_session *busy[5];
        int slot_of[5], nb = 0, n_decoding = 0;
        for (int i = 0; i < n_sessions; i++)
            if (owner[i] >= 0) {
                slot_of[nb] = i;
                busy[nb++] = ss[i];
                n_decoding += cols[owner[i]].n > 0;
            }
        bool done[5] = {0};
        wf_sessions_step(busy, (size_t)nb, done);
        if (n_decoding > max_batched) max_batched = n_decoding;
        for (int j = 0; j < nb; j++) {
            if (!done[j]) continue;
            int i = slot_of[j], q = owner[i];
            CHECK(wf_session_end(ss[i], &res[q], &err) == WF_OK, "request %d: %s", q, err.msg);
            drafts_accepted += res[q].n_draft_accepted;
            owner[i] = -1;
            finished++;
        }
    }
    CHECK(finished == NR, "%d sessions: only %d of %d requests finished", n_sessions, finished, NR);
    int n_bad = 0;
    for (int q = 0; q < NR; q++) {
        const collect *c = &cols[q];
        if (reqs[q].cancel_at > 0) {
            bool ok = res[q].stop == WF_GEN_STOP_CANCELLED && c->n >= reqs[q].cancel_at && c->n <= reqs[q].cancel_at + 1 &&
                      !memcmp(c->tok, refs[q], sizeof(int32_t) * (size_t)c->n);
            CHECK(ok, "%d sessions: cancelled request %d: stop %s after %d tokens", n_sessions, q, wf_gen_stop_name(res[q].stop), c->n);
            n_bad += !ok;
        } else {
            bool ok = c->n == n_refs[q] && !memcmp(c->tok, refs[q], sizeof(int32_t) * (size_t)c->n) &&
                      res[q].stop == WF_GEN_STOP_LENGTH;
            CHECK(ok, "%d sessions: request %d: %d tokens (reference %d), stop %s", n_sessions, q, c->n, n_refs[q],
                  wf_gen_stop_name(res[q].stop));
            n_bad += !ok;
        }
    }
    CHECK(drafts_accepted > 0, "no draft token was accepted (the speculative requests did not speculate)");
    printf("  wf_sessions_step, %d session(s): %d requests, up to %d decoding together, %lld draft tokens accepted: %s\n", n_sessions,
           NR, max_batched, (long long)drafts_accepted, n_bad ? "MISMATCH" : "every request equals its reference");
    for (int i = 0; i < n_sessions; i++) wf_session_free(ss[i]);
}

/* ---- c. a long prompt does not stall the others ------------------------------------ */

static void test_long_prompt(wf_model *t) {
    const int V = wf_model_n_vocab(t);
    enum { NLONG = 600, CH = 32 };
    static int32_t longp[NLONG];
    int32_t shortp[10];
    t_rng r = {555};
    for (int i = 0; i < NLONG; i++) longp[i] = (int32_t)(t_next(&r) % (uint64_t)V);
    for (int i = 0; i < 10; i++) shortp[i] = (int32_t)(t_next(&r) % (uint64_t)V);
    int32_t ref_long[10], ref_short[MAXTOK];
    int n_rl = ref_run(t, longp, NLONG, CH, NULL, 10, ref_long);
    int n_rs = ref_run(t, shortp, 10, CH, NULL, 60, ref_short);
    wf_context_params cp = ctx_params(1, WF_KV_F32);
    wf_session *a = NULL, *b = NULL;
    wf_error err = {0};
    if (wf_session_create(t, &cp, &a, &err) != WF_OK || wf_session_create(t, &cp, &b, &err) != WF_OK) {
        CHECK(0, "%s", err.msg);
        return;
    }
    wf_session_set_prefill_chunk(a, CH);
    wf_session_set_prefill_chunk(b, CH);
    collect ca = {0}, cb_ = {0};
    wf_gen_params ga = wf_gen_default_params(), gb = wf_gen_default_params();
    ga.max_tokens = 10;
    gb.max_tokens = 60;
    wf_gen_callbacks cba = {on_tok, &ca}, cbb = {on_tok, &cb_};
    CHECK(wf_session_begin(b, shortp, 10, &gb, &cbb, &err) == WF_OK, "%s", err.msg);
    bool d1 = false;
    wf_session_step(b, &d1, NULL); /* b: prompt + first token */
    CHECK(wf_session_begin(a, longp, NLONG, &ga, &cba, &err) == WF_OK, "%s", err.msg);
    wf_session *both[2] = {a, b};
    int steps = 0, stalls = 0, bad_chunks = 0;
    bool done[2] = {false, false};
    while (!done[0] && steps < 200) {
        cb_.n_calls_step = 0;
        int32_t before = wf_context_n_past(wf_session_context(a));
        wf_sessions_step(both, 2, done);
        steps++;
        int32_t adv = wf_context_n_past(wf_session_context(a)) - before;
        if (ca.n == 0 && adv != CH && before + adv != NLONG) bad_chunks++;
        if (!done[1] && cb_.n_calls_step != 1) stalls++;
    }
    CHECK(steps == (NLONG + CH - 1) / CH + 9, "the long prompt took %d steps (chunks of %d, then 9 decode steps)", steps, CH);
    CHECK(bad_chunks == 0 && stalls == 0, "%d steps advanced the prompt by another amount than a chunk; %d steps where the short session emitted != 1 token",
          bad_chunks, stalls);
    CHECK(ca.n == n_rl && !memcmp(ca.tok, ref_long, sizeof(int32_t) * (size_t)n_rl), "long-prompt session differs from its reference");
    while (!done[1]) wf_sessions_step(&both[1], 1, &done[1]);
    CHECK(cb_.n == n_rs && !memcmp(cb_.tok, ref_short, sizeof(int32_t) * (size_t)n_rs), "short session differs from its reference");
    wf_gen_result res;
    CHECK(wf_session_end(a, &res, &err) == WF_OK && wf_session_end(b, &res, &err) == WF_OK, "%s", err.msg);
    printf("  long prompt (%d tokens, chunks of %d): %d steps; the other session emitted one token in each\n", NLONG, CH, steps);

    /* a cancel (from the other session's callback) stops the prompt between chunks */
    wf_session_reset(a);
    wf_session_reset(b);
    collect cc = {0}, cd = {0};
    cd.cancel_s = a;
    cd.cancel_at = 4; /* b's 4th token, a few chunks into a's prompt */
    wf_gen_callbacks cbc = {on_tok, &cc}, cbd = {on_tok, &cd};
    CHECK(wf_session_begin(b, shortp, 10, &gb, &cbd, &err) == WF_OK, "%s", err.msg);
    wf_session_step(b, &d1, NULL);
    CHECK(wf_session_begin(a, longp, NLONG, &ga, &cbc, &err) == WF_OK, "%s", err.msg);
    done[0] = done[1] = false;
    for (int i = 0; i < 20 && !done[0]; i++) wf_sessions_step(both, 2, done);
    CHECK(done[0] && wf_session_end(a, &res, &err) == WF_OK && res.stop == WF_GEN_STOP_CANCELLED && res.n_generated == 0,
          "cancelled prompt: stop %s", wf_gen_stop_name(res.stop));
    int32_t np = wf_context_n_past(wf_session_context(a));
    size_t nt = 0;
    wf_session_tokens(a, &nt);
    CHECK(np % CH == 0 && np > 0 && np < NLONG && nt == (size_t)np, "after the cancel: %d cached, %zu tokens", np, nt);
    printf("  cancelled inside the prompt after %d of %d tokens\n", np, NLONG);
    wf_session_end(b, &res, &err);
    wf_session_free(a);
    wf_session_free(b);
}

/* The batched path is taken: three sessions in the decode phase, the
 * middle one with a correct prediction (so its step verifies 1 + 3 tokens),
 * one wf_sessions_step, and the first one's context grew its logits buffer
 * to the 1 + 4 + 1 rows of one shared pass (a plain wf_decode of one token
 * keeps one row). White-box: reads the context's fields (model.h). */
static void test_batched_path(wf_model *t) {
    wf_session *ss[3] = {0};
    wf_context_params cp = ctx_params(1, WF_KV_F32);
    wf_gen_params gp = wf_gen_default_params();
    gp.max_tokens = 5;
    int32_t p[3][4] = {{1, 2, 3, 4}, {5, 6, 7, 8}, {9, 10, 11, 12}};
    int32_t ref[5];
    const int n_ref = ref_run(t, p[1], 4, 64, NULL, 5, ref);
    bool done[3] = {0};
    collect col = {0};
    wf_gen_callbacks cb = {on_tok, &col};
    for (int i = 0; i < 3; i++) {
        wf_gen_params g = gp;
        if (i == 1) g.prediction = ref, g.n_prediction = (size_t)n_ref;
        if (wf_session_create(t, &cp, &ss[i], NULL) != WF_OK || wf_session_begin(ss[i], p[i], 4, &g, i == 1 ? &cb : NULL, NULL) != WF_OK) {
            CHECK(0, "setup");
            return;
        }
        wf_session_step(ss[i], &done[i], NULL); /* the prompt and the first token */
    }
    wf_sessions_step(ss, 3, done);
    wf_context *c0 = wf_session_context(ss[0]), *c1 = wf_session_context(ss[1]), *c2 = wf_session_context(ss[2]);
    CHECK(c0->logits_cap == 6 && c1->logits_cap == 4 && c2->logits_cap == 1 && col.n == 5 && done[1],
          "three sessions (one verifying 3 drafts) were not evaluated in one pass (logits rows %lld, %lld, %lld; %d tokens)",
          (long long)c0->logits_cap, (long long)c1->logits_cap, (long long)c2->logits_cap, col.n);
    CHECK(col.n == n_ref && !memcmp(col.tok, ref, sizeof(int32_t) * (size_t)n_ref), "the verifying session's tokens differ");
    for (int i = 0; i < 3; i++) wf_session_free(ss[i]);
}

/* A quantized copy of cfg's model (isa: wf_model_params.isa). */
static wf_model *make_quant(const char *dir, const char *name, const gm_cfg *c, const char *ftype, int32_t isa) {
    char in[512], out[512];
    snprintf(in, sizeof in, "%s/%s-f32.gguf", dir, name);
    snprintf(out, sizeof out, "%s/%s.gguf", dir, name);
    if (gm_write(in, c) != 0) return NULL;
    wf_quantize_params qp = {.ftype = ftype, .n_threads = 1};
    wf_error err = {0};
    wf_model *m = NULL;
    if (wf_quantize_file(in, out, &qp, &err) != WF_OK) {
        fprintf(stderr, "quantize %s: %s\n", ftype, err.msg);
        unlink(in);
        return NULL;
    }
    wf_model_params mp = wf_model_default_params();
    mp.isa = isa;
    if (!m && wf_model_load(out, &mp, &m, &err) != WF_OK) fprintf(stderr, "load %s: %s\n", out, err.msg);
    unlink(in);
    unlink(out);
    return m;
}

int main(void) {
    char dir[] = "/tmp/wf_test_step_XXXXXX";
    if (!mkdtemp(dir)) return 1;
    gm_cfg tc = {64, 2, 1, 32, 128, 64, 2, NCTX, GM_BIGRAM, 0.02f, 0x7777, 0x1111, "t", NULL};
    gm_cfg dc = tc, rc = {64, 4, 2, 16, 96, 48, 2, NCTX, GM_RANDOM, 0.15f, 0x5151, 0x3333, "t", NULL};
    dc.NL = 1, dc.layer_seed = 0x2222;
    gm_cfg qc = {128, 4, 2, 32, 256, 96, 2, NCTX, GM_RANDOM, 0.1f, 0x9999, 0x4444, "t", NULL};
    wf_model *t = gm_make(dir, "t", &tc), *d = gm_make(dir, "d", &dc), *rnd = gm_make(dir, "r", &rc);
    gm_cfg kc = {256, 4, 2, 64, 512, 96, 1, NCTX, GM_RANDOM, 0.05f, 0xabab, 0x5555, "t", NULL};
    wf_model *q8 = make_quant(dir, "q8", &qc, "q8_0", -1), *q4 = make_quant(dir, "q4", &qc, "q4_0", -1);
    wf_model *q8a = make_quant(dir, "q8a", &qc, "q8_0", 1), *q4k = make_quant(dir, "q4k", &kc, "q4_K_M", -1);
    /* K-quants with the AVX2 kernels: exact only up to 32 columns a pass */
    wf_model *q4ka = make_quant(dir, "q4ka", &kc, "q4_K_M", 1);
    rmdir(dir);
    if (!t || !d || !rnd || !q8 || !q4 || !q8a || !q4k || !q4ka) {
        fprintf(stderr, "could not build the test models\n");
        return 1;
    }
    printf("a. begin/step/end vs wf_session_generate and the reference loop\n");
    test_equivalence(t, d, rnd);
    test_misuse(t);
    printf("b. one forward for several contexts; sessions stepped together\n");
    test_decode_multi(t, "f32");
    test_decode_multi(q8, "q8_0");
    test_decode_multi(q4, "q4_0");
    test_decode_multi(q8a, "q8_0 avx2");
    test_decode_multi(q4k, "q4_K_M");
    test_decode_seqs(t, "f32");
    test_decode_seqs(q8, "q8_0");
    test_decode_seqs(q4k, "q4_K_M");
    test_decode_multi(q4ka, "q4_K_M avx2");
    test_decode_seqs(q4ka, "q4_K_M avx2");
    test_batched_path(t);
    for (int n = 1; n <= 5; n++) test_sessions(t, n);
    printf("c. a long prompt next to a decoding session\n");
    test_long_prompt(t);
    wf_model_free(t);
    wf_model_free(d);
    wf_model_free(rnd);
    wf_model_free(q8);
    wf_model_free(q4);
    wf_model_free(q8a);
    wf_model_free(q4k);
    wf_model_free(q4ka);
    return t_done("test_step");
}
