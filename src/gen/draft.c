/* draft.c — attaching a draft model and a prefix cache to a
 * session: the vocabulary check (a draft must use exactly the target's
 * tokens, or its proposals would mean other text), the draft's own context,
 * and the explicit prefix-cache store. The drafting itself is a step of the
 * generation loop in session.c.
 */
#include "gen/gen_int.h"

#include <stdlib.h>

wf_status wf_draft_check_vocab(const wf_model *target, const wf_model *draft, wf_error *err) {
    if (!target || !draft) return wf_fail(err, WF_ERR_INVALID_ARG, "draft: NULL model");
    const int32_t nt = wf_model_n_vocab(target), nd = wf_model_n_vocab(draft);
    if (nt != nd)
        return wf_fail(err, WF_ERR_UNSUPPORTED, "draft model: its vocabulary has %d tokens, the target's %d (they must be the same)",
                       nd, nt);
    const wf_vocab *vt = wf_model_vocab(target), *vd = wf_model_vocab(draft);
    if (!vt && !vd) return WF_OK;
    if (!vt || !vd)
        return wf_fail(err, WF_ERR_UNSUPPORTED, "draft model: only one of the two models has a tokenizer");
    if (wf_vocab_n_tokens(vt) != wf_vocab_n_tokens(vd))
        return wf_fail(err, WF_ERR_UNSUPPORTED, "draft model: the tokenizers have %d and %d tokens", wf_vocab_n_tokens(vd),
                       wf_vocab_n_tokens(vt));
    char a[256], b[256];
    const int32_t nv = wf_vocab_n_tokens(vt);
    for (int32_t id = 0; id < nv; id++) {
        const int32_t la = wf_token_to_bytes(vt, id, a, sizeof a), lb = wf_token_to_bytes(vd, id, b, sizeof b);
        bool same = la == lb;
        if (same && la > (int32_t)sizeof a) { /* long tokens: compare in full */
            char *x = malloc((size_t)la), *y = malloc((size_t)lb);
            if (!x || !y) {
                free(x);
                free(y);
                return wf_fail(err, WF_ERR_NOMEM, "draft: out of memory");
            }
            wf_token_to_bytes(vt, id, x, (size_t)la);
            wf_token_to_bytes(vd, id, y, (size_t)lb);
            same = !memcmp(x, y, (size_t)la);
            free(x);
            free(y);
        } else if (same && la > 0) {
            same = !memcmp(a, b, (size_t)la);
        }
        if (!same)
            return wf_fail(err, WF_ERR_UNSUPPORTED,
                           "draft model: token %d differs between the tokenizers (%d vs %d bytes%s): the draft must share "
                           "the target's vocabulary",
                           id, la, lb, la == lb ? ", other bytes" : "");
    }
    /* end-of-generation ids must agree too, or the draft would propose past the end */
    if (wf_vocab_eos(vt) != wf_vocab_eos(vd) || wf_vocab_eot(vt) != wf_vocab_eot(vd))
        return wf_fail(err, WF_ERR_UNSUPPORTED, "draft model: the end-of-text tokens differ (eos %d/%d, eot %d/%d)",
                       wf_vocab_eos(vd), wf_vocab_eos(vt), wf_vocab_eot(vd), wf_vocab_eot(vt));
    return WF_OK;
}

wf_status wf_session_set_draft(wf_session *s, wf_model *draft, const wf_context_params *cp, wf_error *err) {
    if (!s) return wf_fail(err, WF_ERR_INVALID_ARG, "draft: NULL session");
    if (s->run) return wf_fail(err, WF_ERR_INVALID_ARG, "draft: the session is generating (wf_session_end first)");
    if (!draft) {
        wf_context_free(s->dctx);
        s->dctx = NULL;
        s->draft = NULL;
        return WF_OK;
    }
    wf_status st = wf_draft_check_vocab(s->model, draft, err);
    if (st != WF_OK) return st;
    wf_context_params p = wf_context_default_params();
    if (cp) {
        p = *cp;
    } else {
        p.n_ctx = wf_context_n_ctx(s->ctx);
        p.n_batch = wf_context_n_batch(s->ctx);
        p.n_threads = wf_context_n_threads(s->ctx);
    }
    wf_context *d = NULL;
    if ((st = wf_context_create(draft, &p, &d, err)) != WF_OK) return st;
    wf_context_free(s->dctx);
    s->dctx = d;
    s->draft = draft;
    return WF_OK;
}

wf_context *wf_session_draft_context(wf_session *s) { return s ? s->dctx : NULL; }

void wf_session_set_prefix_cache(wf_session *s, wf_prefix_cache *pc) {
    if (s) s->pc = pc;
}

wf_status wf_session_cache_store(wf_session *s, wf_error *err) {
    if (!s) return wf_fail(err, WF_ERR_INVALID_ARG, "prefix cache: NULL session");
    if (!s->pc) return WF_OK;
    int32_t n = wf_context_n_past(s->ctx);
    if ((size_t)n > s->n_tok) n = (int32_t)s->n_tok;
    return wf_pc_store(s->pc, s->model, s->ctx, s->tok, n, err);
}
