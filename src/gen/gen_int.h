/* gen_int.h — what session.c, draft.c and prefix_cache.c
 * share inside the gen module: the session record and the prefix cache's
 * internal calls. Not part of the API (that is gen.h). */
#ifndef WF_GENERATE_INT_H
#define WF_GENERATE_INT_H

#include "gen/gen.h"

#include <stdatomic.h>

struct wf_session {
    wf_model *model;
    wf_context *ctx;
    int32_t *tok;         /* (cap) tokens of the sequence          */
    size_t n_tok, cap;
    atomic_bool cancel;
    /* draft model (WF_SPEC_DRAFT): its cache holds a prefix of tok */
    wf_model *draft;
    wf_context *dctx;
    /* cross-request prefix cache (not owned) */
    wf_prefix_cache *pc;
    /* step-wise generation (session.c) */
    struct gen_run *run;   /* the request between begin and end, or NULL */
    int32_t prefill_chunk; /* prompt tokens per step; <= 0: n_batch      */
};

/* Store tok[0..n) whose K/V rows are the first n positions of c. Declines
 * quietly (WF_OK) when n is below the cache's minimum, already covered by
 * an entry, or larger than the limits. */
wf_status wf_pc_store(wf_prefix_cache *pc, const wf_model *m, const wf_context *c, const int32_t *tok, int32_t n,
                      wf_error *err);
/* The longest common prefix of prompt (n) with an entry of model m, capped at
 * max_n; when it is longer than at_least, imports those rows into c and
 * returns their count; otherwise returns 0 and leaves c alone. */
int32_t wf_pc_restore(wf_prefix_cache *pc, const wf_model *m, wf_context *c, const int32_t *prompt, int32_t n,
                      int32_t max_n, int32_t at_least);

/* For wf_sessions_step (batch.c), from session.c. wf_gen_plan
 * starts a busy session's step when it is in the decode phase (cancel
 * check, draft proposals) and returns true when the step is an evaluation
 * that can join a shared pass: the pending token plus any drafts, *n <=
 * max_n tokens at *tok (all logits kept when *all), on top of *n_past
 * cached tokens. The caller evaluates it (wf_decode_seqs) and calls
 * wf_gen_finish_evaluated. Otherwise (a prompt chunk, a batch too long,
 * done) it returns false and leaves the rest of the step to
 * wf_session_step, which also evaluates a planned step that the caller
 * could not. */
bool wf_gen_plan(wf_session *s, int32_t max_n, const int32_t **tok, int32_t *n, bool *all, int32_t *n_past);
void wf_gen_finish_evaluated(wf_session *s);
/* The request has finished (wf_session_end is due), or s is not busy. */
bool wf_gen_done(const wf_session *s);

#endif /* WF_GENERATE_INT_H */
