/* session.c — generation sessions: prefix reuse, streaming, stop
 * conditions, cancellation and speculative decoding with batched
 * verification (API in gen.h, the why in docs/generate.md).
 *
 * A request is a state machine stepped by wf_session_step (prompt chunk ->
 * decode steps -> done) between wf_session_begin and wf_session_end;
 * wf_session_generate runs it to the end, and wf_sessions_step
 * (batch.c) evaluates the decode steps of several sessions in
 * shared forward passes.
 *
 * Invariant kept between steps and after calls: s->tok[0..n_tok) are the tokens of
 * the sequence (prompt + emitted output) and the KV cache holds either all of
 * them or all but the last (a sampled token is evaluated only when the token
 * after it is needed).
 *
 * One step evaluates the pending token plus up to k draft tokens in one
 * wf_decode with all logits; then, position by position, the sampler picks
 * the token the model wants there (one draw, exactly as plain decoding would
 * make it, with the penalties seeing exactly the emitted history). A draft
 * token is accepted when it equals that pick; the first pick that differs is
 * emitted instead and ends the step; when every draft token is accepted the
 * pick after the last one is a bonus token. Rejected tokens are dropped from
 * the cache by truncation.
 *
 * With a draft model at temperature > 0 the check is instead the
 * speculative-sampling rule (spec_accept.c) on the draft's q and the
 * target's p, both from the sampling chain (wf_sampler_dist); the draft's
 * cache always holds a prefix of the session's tokens and is truncated
 * with the target's. With a prefix cache, state about to be dropped is
 * stored there first and a longer cached prefix of the new prompt is
 * restored instead of computed (prefix_cache.c).
 */
#include "gen/gen_int.h"
#include "base/buf.h"

#include "gen/stop.h"
#include "model/model.h"
#include "text/tokenizer.h"

#include <math.h>
#include <stdlib.h>

/* longest draft the draft model proposes in one step (bounds the q rows kept) */
enum { WF_DRAFT_MODEL_K_MAX = 32 };

const char *wf_gen_stop_name(wf_gen_stop s) {
    switch (s) {
    case WF_GEN_STOP_NONE: return "none";
    case WF_GEN_STOP_LENGTH: return "length";
    case WF_GEN_STOP_EOG: return "end of generation";
    case WF_GEN_STOP_STRING: return "stop string";
    case WF_GEN_STOP_CONTEXT: return "context full";
    case WF_GEN_STOP_CALLBACK: return "callback";
    case WF_GEN_STOP_CANCELLED: return "cancelled";
    }
    return "?";
}

wf_gen_params wf_gen_default_params(void) {
    wf_gen_params p;
    memset(&p, 0, sizeof p);
    p.max_tokens = -1;
    p.text = true;
    p.spec = WF_SPEC_NONE;
    return p;
}

/* ---- sessions ------------------------------------------------------------ */

wf_status wf_session_adopt(wf_model *m, wf_context *c, wf_session **out, wf_error *err) {
    if (!out) return wf_fail(err, WF_ERR_INVALID_ARG, "session: NULL output pointer");
    *out = NULL;
    if (!m || !c) return wf_fail(err, WF_ERR_INVALID_ARG, "session: NULL model or context");
    if (wf_context_n_past(c) != 0)
        return wf_fail(err, WF_ERR_INVALID_ARG, "session: the context already holds %d tokens", wf_context_n_past(c));
    wf_session *s = calloc(1, sizeof *s);
    if (!s) return wf_fail(err, WF_ERR_NOMEM, "session: out of memory");
    s->model = m;
    s->ctx = c;
    atomic_init(&s->cancel, false);
    *out = s;
    return WF_OK;
}

wf_status wf_session_create(wf_model *m, const wf_context_params *cp, wf_session **out, wf_error *err) {
    if (!out) return wf_fail(err, WF_ERR_INVALID_ARG, "session: NULL output pointer");
    *out = NULL;
    wf_context *c = NULL;
    wf_status st = wf_context_create(m, cp, &c, err);
    if (st != WF_OK) return st;
    st = wf_session_adopt(m, c, out, err);
    if (st != WF_OK) wf_context_free(c);
    return st;
}

static void drop_run(wf_session *s);

void wf_session_free(wf_session *s) {
    if (!s) return;
    drop_run(s); /* a request still open is abandoned (no callbacks) */
    wf_context_free(s->dctx);
    wf_context_free(s->ctx);
    free(s->tok);
    free(s);
}

wf_context *wf_session_context(wf_session *s) { return s ? s->ctx : NULL; }

const int32_t *wf_session_tokens(const wf_session *s, size_t *n) {
    if (n) *n = s ? s->n_tok : 0;
    return s ? s->tok : NULL;
}

void wf_session_reset(wf_session *s) {
    if (!s) return;
    drop_run(s);
    s->n_tok = 0;
    wf_kv_truncate(s->ctx, 0, NULL);
    if (s->dctx) wf_kv_truncate(s->dctx, 0, NULL);
}

void wf_session_cancel(wf_session *s) {
    if (s) atomic_store(&s->cancel, true);
}

static bool cancelled(wf_session *s) { return atomic_load_explicit(&s->cancel, memory_order_relaxed); }
static bool abort_check(void *s) { return cancelled(s); }

static wf_status tok_reserve(wf_session *s, size_t need, wf_error *err) {
    if (!WF_ARRAY_RESERVE(s->tok, s->cap, need))
        return wf_fail(err, WF_ERR_NOMEM, "session: out of memory for %zu tokens", need);
    return WF_OK;
}

/* ---- one request ----------------------------------------------------------- */

typedef enum gen_phase {
    GEN_PREFILL = 0, /* prompt tokens left to evaluate                       */
    GEN_DECODE,      /* a sampled token is pending: the next step decodes it  */
    GEN_PLANNED,     /* this step's batch (pending token + drafts) is chosen  */
    GEN_DONE         /* finished (any stop reason or an error)                */
} gen_phase;

/* Everything a request holds between wf_session_begin and wf_session_end. */
typedef struct gen_run {
    wf_session *s;
    wf_gen_params p;      /* a copy; its pointers are cleared (copies below) */
    wf_gen_callbacks cb;  /* a copy                                        */
    wf_gen_result res;
    const wf_vocab *vocab;
    wf_sampler *smp;
    wf_stop stop;
    bool stop_on;
    bool text;
    wf_detok dt;
    char *piece;          /* (piece_cap) detokenized bytes of one token */
    size_t piece_cap;
    wf_spec spec;
    double t_start;
    /* the request's state machine */
    gen_phase phase;
    int32_t *prompt;      /* (n_prompt) a copy of the prompt              */
    size_t n_prompt;
    size_t at;            /* prompt tokens evaluated or reused so far    */
    size_t keep;          /* of those, reused (not evaluated)            */
    wf_status st;         /* the error that ended the request, or WF_OK  */
    wf_error err;         /* ... and its message                         */
    /* the planned step: buf[0] the pending token, buf[1..1+k) drafts */
    int32_t buf[1 + 256];
    int32_t k;
    bool model_draft;     /* the drafts come from the draft model         */
    int32_t base;         /* cache length before the step                 */
    /* draft model */
    bool use_draft;       /* WF_SPEC_DRAFT with a draft attached          */
    bool sampled;         /* temperature > 0: the p/q acceptance rule     */
    wf_sampler_params sp; /* the chain, for p and q                       */
    wf_rng rng;           /* draws of the acceptance rule                 */
    int32_t n_vocab;
    float *q;             /* (WF_DRAFT_MODEL_K_MAX, n_vocab) draft dists  */
    float *pd;            /* (n_vocab) the target's dist at one position  */
    void *work;           /* wf_sampler_dist scratch                      */
    /* constrained decoding */
    wf_grammar_matcher *gm; /* the output's position in the grammar, or NULL */
    float *masked;        /* (n_vocab) logits with disallowed tokens at -inf */
} gen_run;

static const float *gram_logits(gen_run *g, const float *l, wf_status *st);

static void run_free(gen_run *g) {
    if (!g) return;
    wf_grammar_matcher_free(g->gm);
    free(g->masked);
    free(g->q);
    free(g->pd);
    free(g->work);
    wf_spec_free(&g->spec);
    if (g->stop_on) wf_stop_free(&g->stop);
    free(g->piece);
    wf_sampler_free(g->smp);
    free(g->prompt);
    free(g);
}

static void drop_run(wf_session *s) {
    if (s->run) wf_context_set_abort(s->ctx, NULL, NULL);
    run_free(s->run);
    s->run = NULL;
}

static wf_status decode(gen_run *g, const int32_t *t, int32_t n, bool all, wf_error *err) {
    wf_status st = wf_decode(g->s->ctx, t, n, all, err);
    if (st == WF_OK) {
        g->res.n_decoded += n;
        g->res.n_decode_calls++;
    }
    return st;
}

/* Stream the text of tok through the stop matcher to the callback; sets
 * *stop_hit when a stop string completed. Returns the callback's verdict. */
static bool push_text(gen_run *g, int32_t tok, bool *stop_hit, wf_error *err, wf_status *st) {
    const char *out = NULL;
    size_t n_out = 0;
    if (g->text) {
        int64_t k = wf_detok_push(&g->dt, g->vocab, tok, g->piece, g->piece_cap);
        if (k < 0) { /* a huge token: grow and retry */
            int32_t need = wf_token_to_bytes(g->vocab, tok, NULL, 0);
            size_t cap = 3 * ((size_t)(need > 0 ? need : 0) + 4) + 64; /* stray bytes become 3-byte U+FFFD */
            if (!WF_ARRAY_RESERVE(g->piece, g->piece_cap, cap)) {
                *st = wf_fail(err, WF_ERR_NOMEM, "generate: out of memory for a token's text");
                return false;
            }
            k = wf_detok_push(&g->dt, g->vocab, tok, g->piece, g->piece_cap);
        }
        if (g->stop_on)
            *stop_hit = wf_stop_feed(&g->stop, g->piece, k > 0 ? (size_t)k : 0, &out, &n_out);
        else
            out = g->piece, n_out = k > 0 ? (size_t)k : 0;
    }
    if (g->cb.on_token) return g->cb.on_token(g->cb.user, tok, out, n_out);
    return true;
}

/* Emit one sampled token. Returns true to continue; otherwise res.stop is
 * set (or *st holds an error). The token is appended to the session unless
 * it is an end-of-generation token. */
static bool emit_token(gen_run *g, int32_t tok, wf_status *st, wf_error *err) {
    wf_session *s = g->s;
    wf_gen_result *res = &g->res;
    if (res->n_generated == 0) res->t_first = wf_time_now() - g->t_start;
    res->n_generated++;
    const double tg = wf_time_now();
    const bool gram_ok = !g->gm || wf_grammar_matcher_accept_token(g->gm, tok);
    if (g->gm) res->t_grammar += wf_time_now() - tg;
    if (!gram_ok) {
        *st = wf_fail(err, WF_ERR_INTERNAL, "generate: token %d is outside the grammar%s%s", tok,
                      wf_grammar_matcher_error(g->gm) ? ": " : "", wf_grammar_matcher_error(g->gm) ? wf_grammar_matcher_error(g->gm) : "");
        return false;
    }
    if (g->vocab && wf_vocab_is_eog(g->vocab, tok)) {
        res->stop = WF_GEN_STOP_EOG;
        return false;
    }
    if ((*st = tok_reserve(s, s->n_tok + 1, err)) != WF_OK) return false;
    s->tok[s->n_tok++] = tok;
    wf_sampler_accept(g->smp, tok);
    bool stop_hit = false;
    bool go_on = push_text(g, tok, &stop_hit, err, st);
    if (*st != WF_OK) return false;
    if (stop_hit) { res->stop = WF_GEN_STOP_STRING; return false; }
    if (!go_on) { res->stop = WF_GEN_STOP_CALLBACK; return false; }
    if (g->p.max_tokens >= 0 && res->n_generated >= g->p.max_tokens) { res->stop = WF_GEN_STOP_LENGTH; return false; }
    /* the cache must take the token before the next one can be made */
    if (s->n_tok - 1 >= (size_t)wf_context_n_ctx(s->ctx)) { res->stop = WF_GEN_STOP_CONTEXT; return false; }
    return true;
}

/* At the end: release the text the detokenizer and the stop matcher hold. */
static void flush_text(gen_run *g) {
    if (!g->text || g->res.stop == WF_GEN_STOP_STRING) return;
    const char *out = NULL;
    size_t n_out = 0;
    int64_t k = wf_detok_flush(&g->dt, g->piece, g->piece_cap);
    size_t nk = k > 0 ? (size_t)k : 0;
    bool hit = false;
    if (g->stop_on) {
        hit = wf_stop_feed(&g->stop, g->piece, nk, &out, &n_out);
        if (n_out && g->cb.on_token) g->cb.on_token(g->cb.user, -1, out, n_out);
        if (!hit) {
            wf_stop_flush(&g->stop, &out, &n_out);
            if (n_out && g->cb.on_token) g->cb.on_token(g->cb.user, -1, out, n_out);
        }
    } else if (nk && g->cb.on_token) {
        g->cb.on_token(g->cb.user, -1, g->piece, nk);
    }
}

/* Emitted tokens that are not yet in the cache are fine (the last one);
 * extra cached tokens (drafts past a stop) are dropped. */
static void settle_cache(wf_session *s) {
    int32_t np = wf_context_n_past(s->ctx);
    if ((size_t)np > s->n_tok) wf_kv_truncate(s->ctx, (int32_t)s->n_tok, NULL);
}

/* ---- the draft model ------------------------------------------------------ */

static wf_status draft_decode(gen_run *g, const int32_t *t, int32_t n, wf_error *err) {
    wf_status st = wf_decode(g->s->dctx, t, n, false, err);
    if (st == WF_OK) {
        g->res.n_draft_decoded += n;
        g->res.n_draft_calls++;
    }
    return st;
}

/* Bring the draft cache to all n_tok session tokens (it holds a prefix). */
static wf_status draft_catch_up(gen_run *g, bool *stopped, wf_error *err) {
    wf_session *s = g->s;
    wf_context *d = s->dctx;
    int32_t dn = wf_context_n_past(d);
    if ((size_t)dn >= s->n_tok) { /* its logits for the last token are needed */
        dn = (int32_t)s->n_tok - 1;
        wf_status st = wf_kv_truncate(d, dn, err);
        if (st != WF_OK) return st;
    }
    const size_t nb = (size_t)(wf_context_n_batch(d) > 0 ? wf_context_n_batch(d) : 512);
    for (size_t at = (size_t)dn; at < s->n_tok;) {
        if (at > (size_t)dn && cancelled(s)) { *stopped = true; return WF_OK; }
        size_t m = s->n_tok - at < nb ? s->n_tok - at : nb;
        wf_status st = draft_decode(g, s->tok + at, (int32_t)m, err);
        if (st != WF_OK) return st;
        at += m;
    }
    return WF_OK;
}

/* The draft model proposes up to max_n tokens after the session's tokens,
 * one wf_decode each (the last proposal is not evaluated: if the target
 * accepts it, the next step's catch-up feeds it). At temperature > 0 the
 * i-th token is drawn from the draft's distribution q_i (kept in g->q for
 * the acceptance rule), computed with the same chain and the same history
 * (session tokens + drafts so far) as the target's p_i. */
static int32_t draft_propose(gen_run *g, int32_t *out, int32_t max_n, wf_status *st, wf_error *err) {
    wf_session *s = g->s;
    wf_context *d = s->dctx;
    const double t0 = wf_time_now();
    const int32_t gpos = g->gm ? wf_grammar_matcher_pos(g->gm) : -1;
    int32_t n = 0;
    if (max_n > WF_DRAFT_MODEL_K_MAX) max_n = WF_DRAFT_MODEL_K_MAX;
    /* room in the draft's own context: all tokens + max_n - 1 proposals */
    int64_t room = (int64_t)wf_context_n_ctx(d) - (int64_t)s->n_tok + 1;
    if (room < max_n) max_n = room > 0 ? (int32_t)room : 0;
    bool stopped = false;
    if (max_n <= 0) goto done;
    if ((*st = draft_catch_up(g, &stopped, err)) != WF_OK || stopped) goto done;
    for (; n < max_n;) {
        const float *l = wf_get_logits(d, -1);
        if (!l) { *st = wf_fail(err, WF_ERR_INTERNAL, "draft: no logits"); goto done; }
        if (g->gm) { /* the draft follows the grammar too: q is masked like p */
            wf_status gst;
            if (!(l = gram_logits(g, l, &gst))) {
                *st = gst;
                break;
            }
        }
        int32_t x;
        if (g->sampled) {
            float *q = g->q + (size_t)n * (size_t)g->n_vocab;
            wf_sampler_dist(&g->sp, l, g->n_vocab, s->tok, s->n_tok, out, (size_t)n, q, g->work);
            x = wf_spec_draw(q, g->n_vocab, &g->rng);
        } else {
            x = wf_sampler_argmax(&g->sp, l, g->n_vocab, s->tok, s->n_tok, out, (size_t)n, g->work);
        }
        out[n++] = x;
        if (g->gm && !wf_grammar_matcher_accept_token(g->gm, x)) {
            n--; /* cannot happen: x was drawn from the masked logits */
            break;
        }
        if (n == max_n || cancelled(s)) break;
        if ((*st = draft_decode(g, &x, 1, err)) != WF_OK) goto done;
    }
done:
    if (g->gm) wf_grammar_matcher_rewind(g->gm, gpos);
    g->res.t_draft += wf_time_now() - t0;
    return *st == WF_OK ? n : 0;
}

/* After a generation: the draft cache holds exactly what the target's does
 * (catching up unless the request was cancelled or failed; then a prefix). */
static void settle_draft(gen_run *g, bool catch_up) {
    wf_session *s = g->s;
    if (!s->dctx) return;
    int32_t tn = wf_context_n_past(s->ctx), dn = wf_context_n_past(s->dctx);
    if (dn > tn) wf_kv_truncate(s->dctx, tn, NULL), dn = tn;
    if (catch_up && g->use_draft && dn < tn) {
        const double t0 = wf_time_now();
        if (draft_decode(g, s->tok + dn, tn - dn, NULL) != WF_OK) wf_kv_truncate(s->dctx, dn, NULL);
        g->res.t_draft += wf_time_now() - t0;
    }
}

/* ---- the steps ------------------------------------------------------------- */

/* The request ends: with an error (st != WF_OK, message in g->err) or a
 * stop reason already in res.stop. */
static void finish(gen_run *g, wf_status st) {
    g->st = st;
    g->phase = GEN_DONE;
}

static void finish_stop(gen_run *g, wf_gen_stop why) {
    g->res.stop = why;
    finish(g, WF_OK);
}

/* The logits the sampling chain sees: l itself, or with a grammar a copy
 * with every token it does not allow at -inf. NULL when nothing is allowed
 * (*why says whether that is the grammar's end or an error). */
static const float *gram_logits(gen_run *g, const float *l, wf_status *st) {
    *st = WF_OK;
    if (!g->gm || !l) return l;
    const double t0 = wf_time_now();
    memcpy(g->masked, l, (size_t)g->n_vocab * sizeof *l);
    const uint32_t *mask = wf_grammar_matcher_mask(g->gm);
    g->res.n_grammar_masks++;
    if (!mask) {
        *st = wf_fail(&g->err, WF_ERR_NOMEM, "generate: %s", wf_grammar_matcher_error(g->gm) ? wf_grammar_matcher_error(g->gm) : "grammar mask failed");
        return NULL;
    }
    bool any = false;
    for (int32_t w = 0; w * 32 < g->n_vocab; w++) {
        uint32_t bits = mask[w];
        any |= bits != 0;
        if (bits == 0xffffffffu) continue;
        int32_t end = w * 32 + 32 < g->n_vocab ? w * 32 + 32 : g->n_vocab;
        for (int32_t i = w * 32; i < end; i++)
            if (!((bits >> (i & 31)) & 1u)) g->masked[i] = -INFINITY;
    }
    g->res.t_grammar += wf_time_now() - t0;
    if (!any) {
        if (!wf_grammar_matcher_can_end(g->gm))
            *st = wf_fail(&g->err, WF_ERR_UNSUPPORTED, "generate: no token of the vocabulary can continue the grammar here");
        return NULL; /* complete, and the vocabulary has no end token: stop as at one */
    }
    return g->masked;
}

/* The grammar's test of one token for wf_sampler_sample_lazy: a bit of
 * the state's cached mask when it has one, else a walk of the token's bytes. */
typedef struct gram_probe {
    wf_grammar_matcher *gm;
    const uint32_t *mask;
} gram_probe;

static bool probe_ok(void *u, int32_t tok) {
    gram_probe *pr = u;
    if (pr->mask) return (pr->mask[tok >> 5] >> (tok & 31)) & 1u;
    return wf_grammar_matcher_check(pr->gm, &tok, 1) == 1;
}

/* Sample at logits l (grammar applied). Returns the token, or -1 after
 * finishing the request (the grammar is complete with no end token, or an
 * error).
 * Greedy: when the grammar allows the (penalised) argmax over every token,
 * it is also the argmax over the allowed ones (ties go to the lowest id
 * either way); else the best among the set bits of the state's mask (built
 * once per state and grammar, kept across requests; wf_sampler_argmax_masked,
 * no copy of the logits). Sampling without truncation: a draw over every
 * token that lands in the allowed set A is kept; on a miss a second draw
 * from the same weights restricted to A (wf_sampler_redraw_masked): x in A
 * comes out with p(x) + (1 - p(A)) p(x) / p(A) = p(x) / p(A), exactly the
 * masked distribution. With truncation (top-k, top-p, min-p): when the
 * state's mask is kept, the chain runs on its allowed tokens only
 * (wf_sampler_sample_masked); when not, the best tokens are tested in order
 * and the truncation worked out on the allowed ones (wf_sampler_sample_lazy),
 * and only when they do not decide is the mask built. All exact. The
 * logits are copied and masked only in the rare cases where these decline
 * (nothing allowed is finite; the redraw's underflow guard). */
static int32_t sample_at(gen_run *g, const float *l) {
    if (g->gm && l) {
        int32_t z = -1;
        bool ok = false;
        const bool hit_first = g->sp.temperature <= 0.0f || wf_sampler_untruncated(&g->sp);
        if (hit_first) z = wf_sampler_sample(g->smp, l);
        const double t0 = wf_time_now();
        if (hit_first) ok = z >= 0 && wf_grammar_matcher_check(g->gm, &z, 1) == 1;
        if (!ok && z >= 0 && g->sp.temperature > 0.0f) {
            const uint32_t *mask = wf_grammar_matcher_mask(g->gm);
            g->res.n_grammar_masks++;
            z = mask ? wf_sampler_redraw_masked(g->smp, mask) : -1;
            ok = z >= 0; /* else: masked logits below (they also report errors) */
        } else if (!ok) {
            /* (its chain work is counted as the grammar's: an overestimate) */
            gram_probe pr = {g->gm, wf_grammar_matcher_cached_mask(g->gm)};
            if (g->sp.temperature <= 0.0f) {
                /* greedy: the best among the set bits of the state's mask,
                 * built once and kept for every later request of the grammar
                 * (cheaper over a request or two than testing the best 64
                 * at every miss, which never builds one) */
                if (!pr.mask && (pr.mask = wf_grammar_matcher_mask(g->gm))) g->res.n_grammar_masks++;
                z = pr.mask ? wf_sampler_argmax_masked(g->smp, l, pr.mask) : -1;
            } else if (!pr.mask && (z = wf_sampler_sample_lazy(g->smp, l, probe_ok, &pr)) >= 0) {
                /* no mask yet: the best tokens tested in order decided */
                g->res.n_grammar_lazy++;
            } else if (pr.mask || (pr.mask = wf_grammar_matcher_mask(g->gm))) {
                /* the state's mask is kept (built by an earlier step or
                 * request), or the best tokens did not decide: the chain on
                 * the mask's allowed tokens only, the logits not copied */
                g->res.n_grammar_masks++;
                z = wf_sampler_sample_masked(g->smp, l, pr.mask);
            }
            ok = z >= 0;
        }
        g->res.t_grammar += wf_time_now() - t0;
        if (ok) return z;
    }
    wf_status st;
    const float *x = gram_logits(g, l, &st);
    if (!x && l) {
        if (st != WF_OK) finish(g, st);
        else finish_stop(g, WF_GEN_STOP_EOG);
        return -1;
    }
    int32_t z = wf_sampler_sample(g->smp, x);
    if (z < 0) finish(g, wf_fail(&g->err, WF_ERR_INTERNAL, "generate: sampling failed (no logits)"));
    return z;
}

/* The first token, from the last prompt token's logits. */
static void first_token(gen_run *g) {
    wf_status st = WF_OK;
    if (g->p.max_tokens == 0) { finish_stop(g, WF_GEN_STOP_LENGTH); return; }
    int32_t y = sample_at(g, wf_get_logits(g->s->ctx, -1));
    if (y < 0) return;
    if (!emit_token(g, y, &st, &g->err)) { finish(g, st); return; }
    g->phase = GEN_DECODE;
}

/* One chunk of the prompt, checking for cancellation before it and (the
 * abort hook) between layers inside it; the session's tokens follow what
 * the cache holds. After the last chunk, the first token. */
static void step_prefill(gen_run *g) {
    wf_session *s = g->s;
    if (cancelled(s)) { finish_stop(g, WF_GEN_STOP_CANCELLED); return; }
    size_t nb = (size_t)(wf_context_n_batch(s->ctx) > 0 ? wf_context_n_batch(s->ctx) : 512);
    if (s->prefill_chunk > 0 && (size_t)s->prefill_chunk < nb) nb = (size_t)s->prefill_chunk;
    const size_t m = g->n_prompt - g->at < nb ? g->n_prompt - g->at : nb;
    const double t0 = wf_time_now();
    wf_context_set_abort(s->ctx, abort_check, s);
    wf_status st = decode(g, g->prompt + g->at, (int32_t)m, false, &g->err);
    wf_context_set_abort(s->ctx, NULL, NULL);
    g->res.t_prompt += wf_time_now() - t0;
    if (st == WF_ERR_CANCELLED) { /* the chunk is not in the cache */
        wf_error_clear(&g->err);
        finish_stop(g, WF_GEN_STOP_CANCELLED);
        return;
    }
    if (st != WF_OK) { finish(g, st); return; }
    memcpy(s->tok + g->at, g->prompt + g->at, m * sizeof *g->prompt);
    g->at += m;
    s->n_tok = g->at;
    if (g->at == g->n_prompt) {
        /* sliding-window rings forget the prompt's end as the answer grows:
         * the prefix cache keeps it now, for the next turn (best effort) */
        if (s->pc && wf_kv_snapshot_ring(s->ctx) > 0) wf_pc_store(s->pc, s->model, s->ctx, s->tok, (int32_t)g->at, NULL);
        first_token(g);
    }
}

/* Choose this decode step's batch: the pending token y = s->tok[n_tok - 1]
 * (sampled, not yet evaluated) and up to k drafts that fit the cache, the
 * batch and max_tokens. The draft model's proposals are computed here. */
static void step_plan(gen_run *g) {
    wf_session *s = g->s;
    wf_context *c = s->ctx;
    if (cancelled(s)) { finish_stop(g, WF_GEN_STOP_CANCELLED); return; }
    const int32_t n_ctx = wf_context_n_ctx(c), n_batch = wf_context_n_batch(c);
    int32_t room = n_ctx - wf_context_n_past(c) - 1;          /* drafts that fit the cache  */
    if (room > n_batch - 1) room = n_batch - 1;
    if (g->p.max_tokens >= 0) {                                /* a step emits k + 1 at most */
        int32_t left = g->p.max_tokens - g->res.n_generated - 1;
        if (room > left) room = left;
    }
    if (room > wf_spec_longest(&g->spec)) room = wf_spec_longest(&g->spec);
    g->buf[0] = s->tok[s->n_tok - 1];
    int32_t k = room > 0 ? wf_spec_propose(&g->spec, s->tok, s->n_tok, g->buf + 1, room) : 0;
    if (k > 0 && g->gm) { /* the draft ends at its first token the grammar rejects */
        const double t0 = wf_time_now();
        k = wf_grammar_matcher_check(g->gm, g->buf + 1, k);
        g->res.t_grammar += wf_time_now() - t0;
    }
    bool model_draft = false;
    if (k == 0 && room > 0 && g->use_draft && wf_spec_draft_wanted(&g->spec)) {
        wf_status st = WF_OK;
        k = draft_propose(g, g->buf + 1, room < g->spec.k_draft ? room : g->spec.k_draft, &st, &g->err);
        if (st != WF_OK) { finish(g, st); return; }
        wf_spec_note_draft(&g->spec, k);
        model_draft = k > 0;
        if (cancelled(s)) { /* y stays pending: the cache holds exactly the emitted tokens but y */
            wf_spec_feedback(&g->spec, 0);
            g->res.n_draft_proposed += k;
            g->res.n_draft_rejected += k;
            finish_stop(g, WF_GEN_STOP_CANCELLED);
            return;
        }
    }
    g->k = k;
    g->model_draft = model_draft;
    g->base = wf_context_n_past(c);
    g->phase = GEN_PLANNED;
}

/* After the planned batch was evaluated (its logits in the context): pick
 * the token at each position, accept drafts while they agree, emit. */
static void step_accept(gen_run *g) {
    wf_session *s = g->s;
    wf_context *c = s->ctx;
    const int32_t k = g->k, base = g->base;
    const bool pq = g->model_draft && g->sampled; /* the p/q rule, not one draw per position */
    wf_status st = WF_OK;
    g->res.n_draft_proposed += k;
    g->phase = GEN_DECODE;
    if (cancelled(s)) { /* stop within one step: y is evaluated and emitted */
        wf_spec_feedback(&g->spec, 0);
        g->res.n_draft_rejected += k;
        finish_stop(g, WF_GEN_STOP_CANCELLED);
        return;
    }
    int32_t i = 0; /* position in the batch */
    bool match = false, go_on = true, ended = false; /* ended: finished while sampling */
    for (;; i++) {
        if (i > 0 && cancelled(s)) { /* the rest of the batch is not emitted */
            match = false;
            go_on = false;
            g->res.stop = WF_GEN_STOP_CANCELLED;
            break;
        }
        int32_t z;
        if (pq) {
            /* p_i with the emitted history (which now ends with the
             * accepted drafts, as q_i's did) */
            const float *l = wf_get_logits(c, i);
            if (!l) { finish(g, wf_fail(&g->err, WF_ERR_INTERNAL, "generate: no logits at %d", i)); return; }
            wf_status gst;
            const float *gl = gram_logits(g, l, &gst);
            if (!gl) {
                if (gst != WF_OK) finish(g, gst);
                else finish_stop(g, WF_GEN_STOP_EOG);
                match = go_on = false, ended = true;
                break;
            }
            wf_sampler_dist(&g->sp, gl, g->n_vocab, s->tok, s->n_tok, NULL, 0, g->pd, g->work);
            if (i < k) {
                z = wf_spec_accept(g->pd, g->q + (size_t)i * (size_t)g->n_vocab, g->n_vocab, g->buf[1 + i], &g->rng, &match);
            } else {
                z = wf_spec_draw(g->pd, g->n_vocab, &g->rng); /* the bonus token */
                match = false;
            }
        } else {
            z = sample_at(g, wf_get_logits(c, i));
            if (z < 0) { /* finished (grammar complete, or an error) */
                match = go_on = false, ended = true;
                break;
            }
            match = i < k && z == g->buf[1 + i];
        }
        go_on = emit_token(g, z, &st, &g->err);
        if (st != WF_OK) { finish(g, st); return; }
        if (!match || !go_on) break;
    }
    /* draft tokens emitted: those before position i, and the one at i if it matched */
    const int32_t acc = i + (match ? 1 : 0);
    wf_spec_feedback(&g->spec, acc);
    g->res.n_draft_accepted += acc;
    g->res.n_draft_rejected += k - acc;
    /* the draft keeps y and the accepted proposals it evaluated */
    if (g->model_draft && wf_context_n_past(s->dctx) > base + 1 + acc) {
        st = wf_kv_truncate(s->dctx, base + 1 + acc, &g->err);
        if (st != WF_OK) { finish(g, st); return; }
    }
    if (ended) return;
    if (!go_on) { finish(g, WF_OK); return; }
    /* keep y and the accepted drafts; the new pending token is not cached */
    st = wf_kv_truncate(c, base + 1 + acc, &g->err);
    if (st != WF_OK) finish(g, st);
}

/* Evaluate the planned batch in the session's own context, then accept. */
static void step_eval(gen_run *g) {
    wf_status st = decode(g, g->buf, 1 + g->k, g->k > 0, &g->err);
    if (st != WF_OK) { finish(g, st); return; }
    step_accept(g);
}

static void step_run(gen_run *g) {
    switch (g->phase) {
    case GEN_PREFILL: step_prefill(g); break;
    case GEN_DECODE:
        step_plan(g);
        if (g->phase == GEN_PLANNED) step_eval(g);
        break;
    case GEN_PLANNED: step_eval(g); break;
    case GEN_DONE: break;
    }
}

bool wf_gen_plan(wf_session *s, int32_t max_n, const int32_t **tok, int32_t *n, bool *all, int32_t *n_past) {
    gen_run *g = s ? s->run : NULL;
    if (!g || g->phase != GEN_DECODE) return false;
    step_plan(g);
    if (g->phase != GEN_PLANNED || 1 + g->k > max_n) return false;
    *tok = g->buf;
    *n = 1 + g->k;
    *all = g->k > 0; /* as step_eval's wf_decode */
    *n_past = g->base;
    return true;
}

void wf_gen_finish_evaluated(wf_session *s) {
    gen_run *g = s ? s->run : NULL;
    if (!g || g->phase != GEN_PLANNED) return;
    g->res.n_decoded += 1 + g->k;
    g->res.n_decode_calls++;
    step_accept(g);
}

bool wf_gen_done(const wf_session *s) { return !s || !s->run || s->run->phase == GEN_DONE; }

/* ---- begin / step / end ------------------------------------------------------ */

bool wf_session_busy(const wf_session *s) { return s && s->run; }

void wf_session_set_prefill_chunk(wf_session *s, int32_t n_tokens) {
    if (s) s->prefill_chunk = n_tokens > 0 ? n_tokens : 0;
}

/* Copy what p points to into g (the caller may free it after begin). */
static wf_status run_setup(gen_run *g, const wf_gen_params *p, wf_error *err) {
    wf_session *s = g->s;
    const int32_t n_vocab = wf_model_n_vocab(s->model);
    wf_sampler_params greedy = wf_sampler_default_params();
    greedy.temperature = 0.0f;
    g->sp = p->sampling ? *p->sampling : greedy;
    g->p = *p;
    g->p.sampling = &g->sp;
    wf_status st = wf_sampler_create(&g->sp, n_vocab, &g->smp, err);
    if (st != WF_OK) return st;
    if ((st = wf_spec_init(&g->spec, p->spec, p->prediction, p->n_prediction, p->draft_max, g->vocab, err)) != WF_OK) return st;
    /* a verification pass (pending token + draft) within the exact width */
    wf_spec_cap(&g->spec, wf_model_exact_batch(s->model) - 1);
    /* long prediction drafts pay where a one-token step streams the weights
     * from memory, not where they stay in cache (gen.h) */
    if (p->draft_max <= 0 && wf_model_weight_bytes(s->model) < WF_SPEC_PRED_LONG_MIN_BYTES)
        wf_spec_cap_pred(&g->spec, g->spec.draft_max);
    g->res.draft_max = p->spec != WF_SPEC_NONE || p->n_prediction ? wf_spec_longest(&g->spec) : 0;
    g->p.prediction = NULL; /* the spec state holds its copy */
    if (p->n_stops) {
        if ((st = wf_stop_init(&g->stop, p->stops, p->n_stops, err)) != WF_OK) return st;
        g->stop_on = true;
    }
    g->p.stops = NULL; /* the matcher holds copies */
    if (g->text) {
        g->piece_cap = 4096;
        if (!(g->piece = malloc(g->piece_cap))) return wf_fail(err, WF_ERR_NOMEM, "generate: out of memory");
    }
    g->use_draft = p->spec == WF_SPEC_DRAFT && s->dctx;
    g->n_vocab = n_vocab;
    if (p->grammar) {
        if (!p->grammar_vocab || wf_grammar_vocab_n_tokens(p->grammar_vocab) != n_vocab)
            return wf_fail(err, WF_ERR_INVALID_ARG, "generate: a grammar needs the model's grammar vocabulary (wf_grammar_vocab_create)");
        if ((st = wf_grammar_matcher_create(p->grammar, p->grammar_vocab, &g->gm, err)) != WF_OK) return st;
        if (!(g->masked = malloc((size_t)n_vocab * sizeof *g->masked)))
            return wf_fail(err, WF_ERR_NOMEM, "generate: out of memory");
    }
    g->p.grammar = NULL; /* the matcher holds what it needs */
    g->p.grammar_vocab = NULL;
    if (g->use_draft) {
        g->sampled = g->sp.temperature > 0.0f;
        wf_rng_seed(&g->rng, g->sp.seed ^ 0x5bec5bec5bec5becull);
        size_t kq = (size_t)(g->spec.draft_max < WF_DRAFT_MODEL_K_MAX ? g->spec.draft_max : WF_DRAFT_MODEL_K_MAX);
        g->work = malloc(wf_sampler_dist_work_size(n_vocab));
        if (g->sampled) {
            g->q = malloc(kq * (size_t)n_vocab * sizeof *g->q);
            g->pd = malloc((size_t)n_vocab * sizeof *g->pd);
        }
        if (!g->work || (g->sampled && (!g->q || !g->pd)))
            return wf_fail(err, WF_ERR_NOMEM, "generate: out of memory for draft distributions");
    }
    return WF_OK;
}

/* Prefix reuse: keep what the cache holds of the common prefix; at least
 * the last prompt token is evaluated again (its logits are needed). */
static wf_status run_reuse_prefix(gen_run *g, wf_error *err) {
    wf_session *s = g->s;
    wf_context *c = s->ctx;
    const int32_t *prompt = g->prompt;
    const size_t n = g->n_prompt;
    wf_status st;
    size_t lcp = 0;
    while (lcp < n && lcp < s->n_tok && s->tok[lcp] == prompt[lcp]) lcp++;
    size_t keep = lcp;
    if (keep > (size_t)wf_context_n_past(c)) keep = (size_t)wf_context_n_past(c);
    if (keep >= n) keep = n - 1;
    /* sliding-window rings: a prefix whose window they no longer hold is
     * computed again (or restored from the prefix cache below) */
    if (keep > 0 && (int32_t)keep < wf_kv_truncate_min(c)) keep = 0;
    if (s->dctx && keep > 0 && (int32_t)keep < wf_kv_truncate_min(s->dctx)) keep = 0;
    if ((st = tok_reserve(s, n + 1, err)) != WF_OK) return st;
    /* the draft cache keeps its part of the common prefix */
    if (s->dctx && (size_t)wf_context_n_past(s->dctx) > keep && (st = wf_kv_truncate(s->dctx, (int32_t)keep, err)) != WF_OK)
        return st;
    if (s->pc) {
        /* the state about to be dropped goes to the prefix cache first; then
         * the cache may know more of this prompt than the session does */
        const int32_t held = wf_context_n_past(c) < (int32_t)s->n_tok ? wf_context_n_past(c) : (int32_t)s->n_tok;
        if ((size_t)held > keep) wf_pc_store(s->pc, s->model, c, s->tok, held, NULL); /* best effort */
        int32_t got = wf_pc_restore(s->pc, s->model, c, prompt, (int32_t)n, (int32_t)n - 1, (int32_t)keep);
        if (got > 0) {
            keep = (size_t)got;
            g->res.n_prompt_from_cache = got;
            memcpy(s->tok, prompt, keep * sizeof *prompt);
        }
    }
    if ((st = wf_kv_truncate(c, (int32_t)keep, err)) != WF_OK) return st;
    s->n_tok = keep;
    g->res.n_prompt_cached = (int32_t)keep;
    g->keep = g->at = keep;
    return WF_OK;
}

wf_status wf_session_begin(wf_session *s, const int32_t *prompt, size_t n,
                           const wf_gen_params *p, const wf_gen_callbacks *cb, wf_error *err) {
    if (!s || !prompt) return wf_fail(err, WF_ERR_INVALID_ARG, "generate: NULL session or prompt");
    if (s->run) return wf_fail(err, WF_ERR_INVALID_ARG, "generate: the session is busy with a request (wf_session_end first)");
    if (n == 0) return wf_fail(err, WF_ERR_INVALID_ARG, "generate: empty prompt (need at least one token)");
    wf_gen_params defp = wf_gen_default_params();
    if (!p) p = &defp;
    const int32_t n_ctx = wf_context_n_ctx(s->ctx);
    if (n >= (size_t)n_ctx)
        return wf_fail(err, WF_ERR_RANGE, "generate: the prompt has %zu tokens but the context holds %d", n, n_ctx);
    const int32_t n_vocab = wf_model_n_vocab(s->model);
    for (size_t i = 0; i < n; i++)
        if (prompt[i] < 0 || prompt[i] >= n_vocab)
            return wf_fail(err, WF_ERR_INVALID_ARG, "generate: prompt token %d (index %zu) is out of range: the vocabulary has %d tokens",
                           prompt[i], i, n_vocab);
    for (size_t i = 0; i < p->n_prediction; i++)
        if (!p->prediction || p->prediction[i] < 0 || p->prediction[i] >= n_vocab)
            return wf_fail(err, WF_ERR_INVALID_ARG, "generate: prediction token %d is out of range", p->prediction ? p->prediction[i] : -1);
    if (p->n_stops && !p->text)
        return wf_fail(err, WF_ERR_INVALID_ARG, "generate: stop strings need text output (params.text)");
    if (p->spec == WF_SPEC_DRAFT && !s->dctx)
        return wf_fail(err, WF_ERR_INVALID_ARG, "generate: speculative decoding with a draft model needs wf_session_set_draft");
    atomic_store(&s->cancel, false);

    gen_run *g = calloc(1, sizeof *g);
    if (!g) return wf_fail(err, WF_ERR_NOMEM, "generate: out of memory");
    g->s = s;
    g->t_start = wf_time_now();
    g->vocab = wf_model_vocab(s->model);
    g->text = p->text && g->vocab;
    if (cb) g->cb = *cb;
    g->res.n_prompt = (int32_t)n;
    wf_detok_init(&g->dt);
    wf_status st;
    g->prompt = malloc(n * sizeof *g->prompt);
    if (!g->prompt) { st = wf_fail(err, WF_ERR_NOMEM, "generate: out of memory for a %zu-token prompt", n); goto fail; }
    memcpy(g->prompt, prompt, n * sizeof *prompt);
    g->n_prompt = n;
    if ((st = run_setup(g, p, err)) != WF_OK) goto fail;
    if ((st = run_reuse_prefix(g, err)) != WF_OK) goto fail;
    for (size_t i = 0; i < n; i++) wf_sampler_accept(g->smp, prompt[i]);
    g->phase = GEN_PREFILL;
    s->run = g;
    return WF_OK;
fail:
    run_free(g);
    return st;
}

wf_status wf_session_step(wf_session *s, bool *done, wf_error *err) {
    bool dummy;
    if (!done) done = &dummy;
    *done = true;
    if (!s) return wf_fail(err, WF_ERR_INVALID_ARG, "generate: NULL session");
    gen_run *g = s->run;
    if (!g) return wf_fail(err, WF_ERR_INVALID_ARG, "generate: wf_session_step without wf_session_begin");
    if (g->phase == GEN_DONE) return WF_OK;
    step_run(g);
    *done = g->phase == GEN_DONE;
    if (g->st != WF_OK) {
        if (err) *err = g->err;
        return g->st;
    }
    return WF_OK;
}

wf_status wf_session_end(wf_session *s, wf_gen_result *res, wf_error *err) {
    if (res) memset(res, 0, sizeof *res);
    if (!s) return wf_fail(err, WF_ERR_INVALID_ARG, "generate: NULL session");
    gen_run *g = s->run;
    if (!g) return wf_fail(err, WF_ERR_INVALID_ARG, "generate: wf_session_end without wf_session_begin");
    wf_context *c = s->ctx;
    if (g->phase != GEN_DONE) { /* ended early: as a cancel between steps (the invariant holds) */
        if (g->phase == GEN_PLANNED) { /* the planned drafts were never evaluated */
            wf_spec_feedback(&g->spec, 0);
            g->res.n_draft_proposed += g->k;
            g->res.n_draft_rejected += g->k;
        }
        finish_stop(g, WF_GEN_STOP_CANCELLED);
    }
    const wf_status st = g->st;
    wf_gen_result *r = &g->res;
    if (st == WF_OK) flush_text(g);
    if (st != WF_OK) s->n_tok = s->n_tok < (size_t)wf_context_n_past(c) ? s->n_tok : (size_t)wf_context_n_past(c);
    settle_cache(s);
    settle_draft(g, st == WF_OK && r->stop != WF_GEN_STOP_CANCELLED);
    r->t_total = wf_time_now() - g->t_start;
    if (r->n_generated > 0) r->t_gen = r->t_total - r->t_first;
    const int32_t n_new = (int32_t)g->at - (int32_t)g->keep;
    r->prompt_tok_s = r->t_prompt > 0 ? n_new / r->t_prompt : 0.0;
    r->decode_tok_s = r->n_generated > 1 && r->t_gen > 0 ? (r->n_generated - 1) / r->t_gen : 0.0;
    r->n_pred_accepted = g->spec.n_pred_accepted;
    r->n_pred_rejected = g->spec.n_pred_rejected;
    if (res) *res = *r;
    if (st != WF_OK && err) *err = g->err;
    drop_run(s);
    return st;
}

wf_status wf_session_generate(wf_session *s, const int32_t *prompt, size_t n,
                              const wf_gen_params *p, const wf_gen_callbacks *cb,
                              wf_gen_result *res, wf_error *err) {
    if (res) memset(res, 0, sizeof *res);
    wf_status st = wf_session_begin(s, prompt, n, p, cb, err);
    if (st != WF_OK) return st;
    for (bool done = false; !done;) wf_session_step(s, &done, NULL);
    return wf_session_end(s, res, err);
}
