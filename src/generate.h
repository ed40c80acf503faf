/* generate.h — the generation API: sessions that own one KV sequence and
 * reuse its longest common prefix across requests, cancellation from another
 * thread or a signal handler, and speculative decoding with candidates from
 * prompt lookup (n-grams of the context) and from a caller's prediction
 * (OpenAI-style predicted outputs), verified k at a time in one wf_decode.
 *
 * The CLI (`wafer run`) and, later, chat/edit/server build on this.
 * Semantics and the speculative-sampling argument: docs/generate.md.
 */
#ifndef WF_GENERATE_H
#define WF_GENERATE_H

#include "common.h"

/* ---- candidate sources (spec.c) ----------------------------------------- */

typedef enum wf_spec_mode {
    WF_SPEC_NONE = 0,   /* plain decoding (a prediction, if given, still drafts) */
    WF_SPEC_LOOKUP = 1  /* prompt lookup: n-gram matches in the context          */
} wf_spec_mode;

typedef enum wf_spec_source {
    WF_SPEC_SRC_NONE = 0,
    WF_SPEC_SRC_PREDICTION = 1,
    WF_SPEC_SRC_LOOKUP = 2
} wf_spec_source;

/* Drafting state for one request. Holds no model state: it reads the token
 * history the caller passes and learns from the verification feedback. */
typedef struct wf_spec {
    wf_spec_mode mode;
    int32_t ngram_min, ngram_max; /* n-gram sizes tried, longest first       */
    int32_t draft_min, draft_max; /* bounds of the adaptive draft length     */
    int32_t k_lookup, k_pred;     /* current draft length per source         */

    int32_t *pred;                /* (n_pred) prediction tokens (a copy)     */
    size_t n_pred;
    bool pred_synced;             /* pred_next is where the output is in pred */
    size_t pred_next;             /* index in pred of the token expected next */
    size_t pred_rejected;         /* index of the last refused pred token, or SIZE_MAX */

    wf_spec_source last_src;      /* source of the last proposal             */
    int32_t last_n;               /* its length                              */
    size_t last_pred_start;       /* where in pred it started                */

    /* totals over the request */
    int64_t n_proposed, n_accepted;           /* all sources      */
    int64_t n_pred_accepted, n_pred_rejected; /* prediction only  */
    int64_t n_lookup_accepted, n_lookup_rejected;
} wf_spec;

/* pred may be NULL (n_pred 0). draft_max <= 0 picks the default (16). */
wf_status wf_spec_init(wf_spec *s, wf_spec_mode mode, const int32_t *pred, size_t n_pred,
                       int32_t draft_max, wf_error *err);
void wf_spec_free(wf_spec *s);
/* Propose up to max_n tokens to follow hist (n_hist tokens: prompt and
 * output so far, hist[n_hist-1] the last one). Writes them to draft[];
 * returns how many (0: nothing to propose). The prediction is tried first,
 * then lookup (when the mode asks for it). */
int32_t wf_spec_propose(wf_spec *s, const int32_t *hist, size_t n_hist, int32_t *draft, int32_t max_n);
/* After verification: n_accepted of the last proposal's tokens were kept
 * (0 .. last_n). Adapts the draft length and the prediction position. */
void wf_spec_feedback(wf_spec *s, int32_t n_accepted);

/* ---- sessions (generate.c) ---------------------------------------------- */

typedef struct wf_session wf_session;

typedef enum wf_gen_stop {
    WF_GEN_STOP_NONE = 0,
    WF_GEN_STOP_LENGTH,     /* max_tokens generated                       */
    WF_GEN_STOP_EOG,        /* the model's end-of-generation token        */
    WF_GEN_STOP_STRING,     /* a stop string                              */
    WF_GEN_STOP_CONTEXT,    /* the context is full                        */
    WF_GEN_STOP_CALLBACK,   /* the token callback returned false          */
    WF_GEN_STOP_CANCELLED   /* wf_session_cancel                          */
} wf_gen_stop;

const char *wf_gen_stop_name(wf_gen_stop s);

typedef struct wf_gen_params {
    int32_t max_tokens;             /* < 0: until EOG / stop / context full  */
    const wf_sampler_params *sampling; /* NULL: greedy                        */
    const char *const *stops;       /* stop strings (need a vocabulary)      */
    size_t n_stops;
    bool text;                      /* detokenize for the callback (needs a
                                       vocabulary); else text is always NULL */
    wf_spec_mode spec;
    int32_t draft_max;              /* <= 0: default (16)                    */
    const int32_t *prediction;      /* (n_prediction) tokens; may be NULL    */
    size_t n_prediction;
} wf_gen_params;

wf_gen_params wf_gen_default_params(void);

/* Called once per emitted token (token >= 0), with the text that is safe to
 * show now (complete UTF-8, stop strings held back; may be empty), and once
 * at the end with token -1 for the text still held (only when text is on).
 * Return false to stop generating (the token counts as emitted). */
typedef bool (*wf_gen_token_fn)(void *user, int32_t token, const char *text, size_t n_text);

typedef struct wf_gen_callbacks {
    wf_gen_token_fn on_token; /* may be NULL */
    void *user;
} wf_gen_callbacks;

typedef struct wf_gen_result {
    wf_gen_stop stop;
    int32_t n_prompt;          /* tokens in the request's prompt              */
    int32_t n_prompt_cached;   /* of those, reused from the session's cache   */
    int32_t n_generated;       /* tokens sampled (an EOG counts, as in run)   */
    int64_t n_decoded;         /* tokens passed to wf_decode (prompt + steps) */
    int64_t n_decode_calls;
    int64_t n_draft_proposed, n_draft_accepted, n_draft_rejected;
    int64_t n_pred_accepted, n_pred_rejected;   /* prediction tokens only     */
    double t_prompt;           /* s: evaluating the new prompt tokens         */
    double t_first;            /* s: call start -> first token sampled        */
    double t_gen;              /* s: first token -> end                       */
    double t_total;            /* s: the whole call                           */
    double prompt_tok_s;       /* new prompt tokens / t_prompt                */
    double decode_tok_s;       /* (n_generated - 1) / t_gen: effective speed  */
} wf_gen_result;

/* A session owns a context (created here) and the ids of the tokens it
 * holds. The model must outlive the session. */
wf_status wf_session_create(wf_model *m, const wf_context_params *cp, wf_session **out, wf_error *err);
/* Adopt an existing context (its cache must be empty); freed with the session. */
wf_status wf_session_adopt(wf_model *m, wf_context *c, wf_session **out, wf_error *err);
void wf_session_free(wf_session *s);
wf_context *wf_session_context(wf_session *s);
/* The tokens the session holds: the last request's prompt and its emitted
 * output (n via *n). The KV cache holds all of them, or all but the last
 * (a sampled token is evaluated only when the next one is needed). */
const int32_t *wf_session_tokens(const wf_session *s, size_t *n);
/* Forget everything (empty the cache). */
void wf_session_reset(wf_session *s);

/* Generate a continuation of prompt (n >= 1 tokens). Only the tokens after
 * the longest common prefix with the session's tokens are evaluated. Returns
 * WF_OK also when stopped by cancellation (res->stop says why); on an error
 * the session is left consistent (possibly with a shorter cache). */
wf_status wf_session_generate(wf_session *s, const int32_t *prompt, size_t n,
                              const wf_gen_params *p, const wf_gen_callbacks *cb,
                              wf_gen_result *res, wf_error *err);

/* Ask the running (or next) generation to stop before its next decode step
 * completes. Async-signal-safe and thread-safe (a lock-free atomic store).
 * wf_session_generate clears the flag when it starts. */
void wf_session_cancel(wf_session *s);

#endif /* WF_GENERATE_H */
