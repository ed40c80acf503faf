/* spec.c — draft candidates for speculative decoding without a draft model
 * (and the shared adaptive-length bookkeeping, which the draft model's
 * proposals in session.c go through too).
 *
 * Two sources, both free to compute next to a forward pass:
 *  - a prediction (OpenAI-style predicted outputs: the file being edited),
 *    followed by bytes (spec_pred.c);
 *  - prompt lookup: the most recent earlier occurrence of the context's last
 *    n-gram (prompt and output), proposing what followed it.
 * The draft length adapts per source: it doubles after a fully accepted
 * draft and falls to one more than what was accepted otherwise. The
 * prediction differs in two ways (measured on the edit benchmark, whose
 * tasks are short enough that the ramp from a short draft was a large part
 * of each run): its first draft is already long (WF_SPEC_PRED_K0: the
 * prediction is usually the file, so the output starts where it does), and
 * a draft cut short while the output stays in step with the prediction's
 * text (the model split the text into other tokens, or wrote bytes that
 * form no character) keeps its length, since the text ahead is still the
 * prediction's: only the second draft in a row that was mostly refused
 * (under a quarter accepted) halves it, so a model that keeps splitting
 * otherwise costs shorter and shorter drafts. Output that leaves the text (different
 * bytes) falls to one more than what was accepted, as before, so a wrong
 * prediction costs one long draft and then drafts of a token or two.
 * And its cap: by default a prediction's drafts grow to 255 tokens
 * (WF_SPEC_PRED_MAX_DEFAULT), the other sources' to 16: a prediction that
 * is right is right for long stretches, and the 16 capped a fully accepted
 * draft at about 3.7x one-token decoding on a 0.5B-shaped model. Not on a
 * model whose weights stay in cache (session.c lowers it there: the
 * embedded model's edits replayed 10% slower with drafts past 16).
 */
#include "gen/gen.h"
#include "cpu/kernels.h"

#include <stdlib.h>

enum { WF_SPEC_DRAFT_MAX_DEFAULT = 16, WF_SPEC_NGRAM_MAX = 4, WF_SPEC_PRED_K0 = 32 };

wf_status wf_spec_init(wf_spec *s, wf_spec_mode mode, const int32_t *pred, size_t n_pred,
                       int32_t draft_max, const wf_vocab *vocab, wf_error *err) {
    if (!s) return wf_fail(err, WF_ERR_INVALID_ARG, "spec: NULL state");
    memset(s, 0, sizeof *s);
    if (mode != WF_SPEC_NONE && mode != WF_SPEC_LOOKUP && mode != WF_SPEC_DRAFT)
        return wf_fail(err, WF_ERR_INVALID_ARG, "spec: unknown mode %d", (int)mode);
    if (n_pred && !pred) return wf_fail(err, WF_ERR_INVALID_ARG, "spec: NULL prediction of %zu tokens", n_pred);
    s->mode = mode;
    s->ngram_min = 1;
    s->ngram_max = WF_SPEC_NGRAM_MAX;
    s->draft_min = 1;
    s->draft_max = draft_max > 0 ? draft_max : WF_SPEC_DRAFT_MAX_DEFAULT;
    if (s->draft_max > WF_SPEC_DRAFT_MAX_LIMIT) s->draft_max = WF_SPEC_DRAFT_MAX_LIMIT;
    s->pred_max = draft_max > 0 ? s->draft_max : WF_SPEC_PRED_MAX_DEFAULT;
    s->k_lookup = s->k_draft = 4;
    s->k_pred = WF_SPEC_PRED_K0;
    wf_spec_cap(s, WF_SPEC_DRAFT_MAX_LIMIT); /* the lengths within their bounds */
    return wf_spec_pred_init(&s->pred, pred, n_pred, vocab, err);
}

void wf_spec_cap(wf_spec *s, int32_t cap) {
    if (!s) return;
    if (cap < 1) cap = 1;
    if (s->draft_max > cap) s->draft_max = cap;
    if (s->pred_max > cap) s->pred_max = cap;
    if (s->k_lookup > s->draft_max) s->k_lookup = s->draft_max;
    if (s->k_pred > s->pred_max) s->k_pred = s->pred_max;
    if (s->k_draft > s->draft_max) s->k_draft = s->draft_max;
}

void wf_spec_free(wf_spec *s) {
    if (s) wf_spec_pred_free(&s->pred);
}

static bool same(const int32_t *a, const int32_t *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i]) return false;
    return true;
}

/* Prompt lookup: the most recent earlier occurrence of the last g tokens of
 * hist (g from ngram_max down), returns the index in hist of what followed
 * it, or SIZE_MAX. */
static size_t lookup_match(const wf_spec *s, const int32_t *hist, size_t n_hist) {
    for (int32_t g = s->ngram_max; g >= s->ngram_min; g--) {
        if ((size_t)g + 1 > n_hist) continue;
        const int32_t *tail = hist + n_hist - (size_t)g;
        /* occurrence at i (i + g < n_hist, i.e. it ends before the tail's end) */
        for (size_t i = n_hist - (size_t)g; i-- > 0;) {
            if (hist[i] == tail[0] && same(hist + i, tail, (size_t)g)) return i + (size_t)g;
        }
    }
    return SIZE_MAX;
}

int32_t wf_spec_propose(wf_spec *s, const int32_t *hist, size_t n_hist, int32_t *draft, int32_t max_n) {
    if (!s || !draft || max_n <= 0 || !hist || n_hist == 0) {
        if (s) s->last_src = WF_SPEC_SRC_NONE, s->last_n = 0;
        return 0;
    }
    s->last_src = WF_SPEC_SRC_NONE;
    s->last_n = 0;
    if (s->pred.n_tok) {
        if (s->pred_broke) { /* judge the last cut-short draft now that its tokens are in hist */
            int32_t acc = s->pred_acc;
            size_t at = s->pred_hist + (size_t)acc; /* where the model's own token went */
            if (!wf_spec_pred_in_step(&s->pred, hist, n_hist)) {
                s->k_pred = acc + 1 > s->draft_min ? acc + 1 : s->draft_min;
                s->pred_poor = 0;
            } else {
                if (at < n_hist && hist[at] != s->pred_refused) wf_spec_pred_learn(&s->pred, s->pred_refused, hist[at]);
                if (acc * 4 >= s->k_pred) {
                    s->pred_poor = 0;
                } else if (++s->pred_poor >= 2) {
                    int32_t half = s->k_pred / 2;
                    s->k_pred = acc + 1 > half ? acc + 1 : half;
                    if (s->k_pred < s->draft_min) s->k_pred = s->draft_min;
                }
            }
            s->pred_broke = false;
        }
        bool to_end = false;
        int32_t k = wf_spec_pred_propose(&s->pred, hist, n_hist, draft, s->k_pred < max_n ? s->k_pred : max_n, &to_end);
        if (k > 0) {
            s->pred_hist = n_hist;
            memcpy(s->pred_draft, draft, (size_t)k * sizeof *draft);
            s->last_src = WF_SPEC_SRC_PREDICTION;
            s->last_n = k;
            s->last_to_end = to_end;
            s->n_proposed += k;
            return k;
        }
    }
    if (s->mode == WF_SPEC_LOOKUP) {
        size_t at = lookup_match(s, hist, n_hist);
        if (at != SIZE_MAX && at < n_hist) {
            int32_t k = s->k_lookup < max_n ? s->k_lookup : max_n;
            if ((size_t)k > n_hist - at) k = (int32_t)(n_hist - at);
            memcpy(draft, hist + at, (size_t)k * sizeof *draft);
            s->last_src = WF_SPEC_SRC_LOOKUP;
            s->last_n = k;
            s->n_proposed += k;
            return k;
        }
    }
    return 0;
}

void wf_spec_cap_pred(wf_spec *s, int32_t cap) {
    if (!s) return;
    if (cap < 1) cap = 1;
    if (s->pred_max > cap) s->pred_max = cap;
    if (s->k_pred > s->pred_max) s->k_pred = s->pred_max;
}

int32_t wf_spec_longest(const wf_spec *s) {
    if (!s) return 0;
    return s->pred.n_tok && s->pred_max > s->draft_max ? s->pred_max : s->draft_max;
}

static int32_t adapt(const wf_spec *s, int32_t k, int32_t max, int32_t proposed, int32_t accepted) {
    if (accepted >= proposed) {
        k = k * 2 > max ? max : k * 2;
    } else {
        k = accepted + 1;
        if (k < s->draft_min) k = s->draft_min;
    }
    return k;
}

void wf_spec_feedback(wf_spec *s, int32_t n_accepted) {
    if (!s || s->last_src == WF_SPEC_SRC_NONE) return;
    int32_t n = s->last_n;
    if (n_accepted < 0) n_accepted = 0;
    if (n_accepted > n) n_accepted = n;
    s->n_accepted += n_accepted;
    if (s->last_src == WF_SPEC_SRC_PREDICTION) {
        s->n_pred_accepted += n_accepted;
        s->n_pred_rejected += n - n_accepted;
        /* where the output went is followed by bytes at the next proposal,
         * which also judges a draft cut short (the header); a short draft
         * that ended at the prediction's end says nothing */
        if (n_accepted < n) {
            s->pred_broke = true;
            s->pred_acc = n_accepted;
            s->pred_refused = s->pred_draft[n_accepted];
        } else if (!s->last_to_end) {
            s->k_pred = adapt(s, s->k_pred, s->pred_max, n, n_accepted);
            s->pred_poor = 0;
        }
    } else if (s->last_src == WF_SPEC_SRC_DRAFT) {
        s->n_model_accepted += n_accepted;
        s->n_model_rejected += n - n_accepted;
        /* a draft cut short by the room left says nothing about the model */
        if (n_accepted < n || n >= s->k_draft) s->k_draft = adapt(s, s->k_draft, s->draft_max, n, n_accepted);
        if (n_accepted > 0) {
            s->draft_miss = 0;
        } else if (++s->draft_miss >= 3) {
            int32_t e = s->draft_miss - 3;
            s->draft_pause = 1 << (e < 5 ? e : 5);
        }
    } else {
        s->n_lookup_accepted += n_accepted;
        s->n_lookup_rejected += n - n_accepted;
        s->k_lookup = adapt(s, s->k_lookup, s->draft_max, n, n_accepted);
    }
    s->last_src = WF_SPEC_SRC_NONE;
    s->last_n = 0;
}

void wf_spec_note_draft(wf_spec *s, int32_t n) {
    if (!s) return;
    s->last_src = n > 0 ? WF_SPEC_SRC_DRAFT : WF_SPEC_SRC_NONE;
    s->last_n = n > 0 ? n : 0;
    if (n > 0) s->n_proposed += n;
}

bool wf_spec_draft_wanted(wf_spec *s) {
    if (!s) return false;
    if (s->draft_pause > 0) {
        s->draft_pause--;
        return false;
    }
    return true;
}
