/* batch.c — continuous batching: one step of each of several
 * sessions, with every session whose step is an evaluation of its pending
 * token (plus, in a speculative step, its drafts) evaluated in shared
 * forward passes (wf_decode_seqs: the weights are read once per pass for
 * all of them). Prompt chunks run one session at a time through
 * wf_session_step. API in gen.h, the why in docs/generate.md.
 */
#include "gen/gen_int.h"

#include "model/model.h"

#include <stdlib.h>

/* Per call: the sessions planned into shared passes, grouped by model. */
typedef struct step_plan {
    size_t *idx;      /* (n) index in ss of each planned session          */
    wf_seq *seq;      /* (n) its batch: context, tokens, count, logits     */
    int32_t *base;    /* (n) its cache length before the step              */
    bool *stepped;    /* (n_ss) nothing more to do for ss[i] in this call  */
} step_plan;

/* Evaluate the planned batches seq[0..n) (one model) together; then finish
 * the steps of the sessions whose context took its tokens. On a failure
 * (out of memory) the others keep their planned step, which is then
 * evaluated alone by wf_session_step. */
static void eval_group(wf_session *const *ss, step_plan *pl, size_t a, size_t n) {
    wf_status st = wf_decode_seqs(pl->seq + a, (int32_t)n, NULL);
    for (size_t i = a; i < a + n; i++) {
        const bool took = st == WF_OK || wf_context_n_past(pl->seq[i].ctx) == pl->base[i] + pl->seq[i].n;
        if (took) wf_gen_finish_evaluated(ss[pl->idx[i]]);
        else pl->stepped[pl->idx[i]] = false;
    }
}

void wf_sessions_step(wf_session *const *ss, size_t n, bool *done) {
    if (!ss) return;
    const size_t cap = n ? n : 1;
    step_plan pl = {
        .idx = malloc(cap * sizeof *pl.idx), .seq = malloc(cap * sizeof *pl.seq),
        .base = malloc(cap * sizeof *pl.base), .stepped = calloc(cap, sizeof *pl.stepped),
    };
    if (pl.idx && pl.seq && pl.base && pl.stepped && n <= INT32_MAX) {
        /* plan every session in the decode phase and collect the batches
         * that fit a shared pass (a session listed twice is stepped once) */
        size_t n_plan = 0;
        for (size_t i = 0; i < n; i++) {
            if (!ss[i] || wf_gen_done(ss[i])) continue;
            bool dup = false;
            for (size_t j = 0; j < i && !dup; j++) dup = ss[j] == ss[i];
            if (dup) { pl.stepped[i] = true; continue; }
            wf_seq *q = &pl.seq[n_plan];
            if (wf_gen_plan(ss[i], wf_decode_multi_cols(ss[i]->model), &q->tokens, &q->n, &q->all_logits, &pl.base[n_plan])) {
                q->ctx = ss[i]->ctx;
                pl.idx[n_plan++] = i;
                pl.stepped[i] = true;
            }
        }
        /* one wf_decode_seqs per model (a stable partition: sessions keep
         * their order, so the first listed leads the first pass) */
        for (size_t a = 0; a < n_plan;) {
            const wf_model *m = ss[pl.idx[a]]->model;
            size_t e = a + 1;
            for (size_t b = a + 1; b < n_plan; b++) {
                if (ss[pl.idx[b]]->model != m) continue;
                const size_t ti = pl.idx[b];
                const wf_seq tq = pl.seq[b];
                const int32_t tb = pl.base[b];
                memmove(pl.idx + e + 1, pl.idx + e, (b - e) * sizeof *pl.idx);
                memmove(pl.seq + e + 1, pl.seq + e, (b - e) * sizeof *pl.seq);
                memmove(pl.base + e + 1, pl.base + e, (b - e) * sizeof *pl.base);
                pl.idx[e] = ti, pl.seq[e] = tq, pl.base[e] = tb;
                e++;
            }
            eval_group(ss, &pl, a, e - a);
            a = e;
        }
    }
    /* everything else one session at a time (everything, if the bookkeeping
     * above could not be allocated) */
    for (size_t i = 0; i < n; i++) {
        bool d = true;
        if (ss[i] && !(pl.stepped && pl.stepped[i]) && !wf_gen_done(ss[i])) wf_session_step(ss[i], &d, NULL);
        if (done) done[i] = wf_gen_done(ss[i]);
    }
    free(pl.idx), free(pl.seq), free(pl.base), free(pl.stepped);
}
