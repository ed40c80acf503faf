/* gen.h — the generation API: sessions that own one KV sequence and
 * reuse its longest common prefix across requests, a cross-request prefix
 * cache (LRU of KV snapshots), cancellation from another thread or a signal
 * handler, and speculative decoding with candidates from prompt lookup
 * (n-grams of the context), a caller's prediction (OpenAI-style predicted
 * outputs) or a draft model, verified k at a time in one wf_decode.
 *
 * The CLI (`wafer run`) and, later, chat/edit/server build on this.
 * Semantics and the speculative-sampling argument: docs/generate.md.
 */
#ifndef WF_GENERATE_H
#define WF_GENERATE_H

#include "base/common.h"
#include "grammar/grammar.h"
#include "text/tokenizer.h"

/* ---- candidate sources (spec.c) ----------------------------------------- */

typedef enum wf_spec_mode {
    WF_SPEC_NONE = 0,   /* plain decoding (a prediction, if given, still drafts) */
    WF_SPEC_LOOKUP = 1, /* prompt lookup: n-gram matches in the context          */
    WF_SPEC_DRAFT = 2   /* a draft model (wf_session_set_draft) proposes tokens  */
} wf_spec_mode;

typedef enum wf_spec_source {
    WF_SPEC_SRC_NONE = 0,
    WF_SPEC_SRC_PREDICTION = 1,
    WF_SPEC_SRC_LOOKUP = 2,
    WF_SPEC_SRC_DRAFT = 3
} wf_spec_source;

/* The prediction as a draft source (spec_pred.c): its tokens, their bytes,
 * and where in those bytes the output is. Follows the output by bytes, so a
 * model that splits the same text into other tokens stays in step. */
typedef struct wf_spec_pred {
    const wf_vocab *vocab;        /* NULL: ids compared as 4-byte units      */
    int32_t *tok;                 /* (n_tok) the prediction's tokens (a copy) */
    size_t n_tok;
    unsigned char *text;          /* (n_text) their bytes, concatenated      */
    size_t n_text;
    size_t *off;                  /* (n_tok + 1) byte offset of each token   */
    unsigned char *scratch;       /* one token's bytes                       */
    size_t scratch_cap;
    wf_detok dt;                  /* the output as text (ill-formed bytes as U+FFFD) */
    char *piece;                  /* one token's text from dt                */
    size_t piece_cap;
    bool synced;                  /* pos is where the output is in text      */
    size_t pos;                   /* byte position (also the resync hint)    */
    size_t refused;               /* where the output last left the text, or SIZE_MAX */
    size_t n_seen;                /* history tokens followed so far (0: none) */
    bool own_split;               /* the output split the text unlike the prediction */
    /* the model's own splits: the latest place in the history after each
     * pair and each single token (hashed; a slot holds its key) */
    struct wf_spec_seen { int32_t a, b; size_t next; } *seen2, *seen1; /* (WF_PRED_SEEN) */
    /* the model's own token where the prediction had token a at a token
     * boundary of the text (hashed by a; the latest wins) */
    struct wf_spec_subst { int32_t a, z; } *subst; /* (WF_PRED_SEEN) */
    /* the longest vocabulary token spelling the text from each byte (-2:
     * not looked up yet, -1: none), and how often the model wrote it where
     * the tokenizer's split has another token, and the other way round */
    int32_t *longest;             /* (n_text) */
    int32_t n_longest_won, n_split_won;
} wf_spec_pred;

/* tok[n] (ids the caller checked against the vocabulary; v may be NULL). */
wf_status wf_spec_pred_init(wf_spec_pred *p, const int32_t *tok, size_t n, const wf_vocab *v, wf_error *err);
void wf_spec_pred_free(wf_spec_pred *p);
/* Follow the tokens of hist[n_hist] added since the last call, then propose
 * up to max_n tokens of the prediction from where the output is (after a
 * divergence, from where it re-synchronises). *to_end: the draft reaches the
 * prediction's end. Returns the count (0: nothing to propose). */
int32_t wf_spec_pred_propose(wf_spec_pred *p, const int32_t *hist, size_t n_hist, int32_t *draft, int32_t max_n,
                             bool *to_end);
/* Follow hist[n_hist] as wf_spec_pred_propose does and say whether the
 * output is still in step with the prediction's text (a token split unlike
 * the prediction's keeps it in step; different bytes do not). */
bool wf_spec_pred_in_step(wf_spec_pred *p, const int32_t *hist, size_t n_hist);
/* The model wrote z where a draft from the prediction had t (the output in
 * step with the text): propose z for t where z spells the text ahead. */
void wf_spec_pred_learn(wf_spec_pred *p, int32_t t, int32_t z);

/* Drafting state for one request. Holds no model state: it reads the token
 * history the caller passes and learns from the verification feedback. */
typedef struct wf_spec {
    wf_spec_mode mode;
    int32_t ngram_min, ngram_max; /* n-gram sizes tried, longest first       */
    int32_t draft_min, draft_max; /* bounds of the adaptive draft length     */
    int32_t pred_max;             /* ... of the prediction's drafts          */
    int32_t k_lookup, k_pred;     /* current draft length per source         */
    int32_t k_draft;              /* ... and for the draft model             */
    int32_t draft_miss;           /* draft-model steps in a row with nothing accepted */
    int32_t draft_pause;          /* steps left without drafting (backoff)   */

    wf_spec_pred pred;            /* the prediction (n_tok 0: none)          */

    wf_spec_source last_src;      /* source of the last proposal             */
    int32_t last_n;               /* its length                              */
    bool last_to_end;             /* a prediction draft that reached its end */
    bool pred_broke;              /* the last prediction draft was cut short ... */
    int32_t pred_acc;             /* ... after this many tokens (judged at the next proposal) */
    int32_t pred_refused;         /* ... at this draft token              */
    int32_t pred_poor;            /* in-step drafts in a row mostly refused */
    int32_t pred_draft[256];      /* the last prediction draft (<= WF_SPEC_DRAFT_MAX_LIMIT) */
    size_t pred_hist;             /* the history's length when it was proposed */

    /* totals over the request */
    int64_t n_proposed, n_accepted;           /* all sources      */
    int64_t n_pred_accepted, n_pred_rejected; /* prediction only  */
    int64_t n_lookup_accepted, n_lookup_rejected;
    int64_t n_model_accepted, n_model_rejected; /* draft model only */
} wf_spec;

/* The longest draft a caller may ask for. A model may allow less: a
 * verification pass (the pending token + the draft) must stay within the
 * model's exact width (wf_model_exact_batch: the passes whose every column
 * is computed bit for bit as one-token decoding computes it; wider ones
 * take prefill tiles and greedy output could then depend on speculation),
 * so generation caps drafts at that width - 1 (wf_spec_cap): this limit
 * with the AVX-512 or scalar kernels, 31 for K-quant weights on AVX2. */
#define WF_SPEC_DRAFT_MAX_LIMIT 255
_Static_assert(WF_SPEC_DRAFT_MAX_LIMIT <= 256, "wf_spec.pred_draft holds a longest draft");
/* The longest draft of a prediction when the caller leaves draft_max at
 * its default: a prediction is usually right for long stretches (the file
 * being edited), so its drafts may grow past the other sources' 16 (see
 * docs/generate.md, "Adaptive draft length"). */
#define WF_SPEC_PRED_MAX_DEFAULT 255
/* ... for a model that streams at least this many bytes of weights per
 * token; one whose weights stay in the CPU's caches (the embedded model's
 * 9 MB) is compute-bound already at short drafts, so a wide pass cut short
 * costs more than it saves: its prediction keeps the others' default. */
#define WF_SPEC_PRED_LONG_MIN_BYTES (64ull << 20)
/* pred may be NULL (n_pred 0). draft_max > 0 caps every source's drafts
 * (more than WF_SPEC_DRAFT_MAX_LIMIT is capped there); <= 0 picks the
 * defaults: 16 for lookup and a draft model, WF_SPEC_PRED_MAX_DEFAULT for
 * the prediction (generation lowers it to 16 for a model under
 * WF_SPEC_PRED_LONG_MIN_BYTES). vocab (may be NULL: ids are then matched as they are)
 * gives the prediction's bytes. */
wf_status wf_spec_init(wf_spec *s, wf_spec_mode mode, const int32_t *pred, size_t n_pred,
                       int32_t draft_max, const wf_vocab *vocab, wf_error *err);
/* Lower the longest draft (of every source) to cap (>= 1) if it is above. */
void wf_spec_cap(wf_spec *s, int32_t cap);
/* Lower the prediction's longest draft to cap (>= 1) if it is above. */
void wf_spec_cap_pred(wf_spec *s, int32_t cap);
/* The longest draft any of the request's sources may propose. */
int32_t wf_spec_longest(const wf_spec *s);
void wf_spec_free(wf_spec *s);
/* Propose up to max_n tokens to follow hist (n_hist tokens: prompt and
 * output so far, hist[n_hist-1] the last one). Writes them to draft[];
 * returns how many (0: nothing to propose). The prediction is tried first,
 * then lookup (when the mode asks for it). */
int32_t wf_spec_propose(wf_spec *s, const int32_t *hist, size_t n_hist, int32_t *draft, int32_t max_n);
/* After verification: n_accepted of the last proposal's tokens were kept
 * (0 .. last_n). Adapts the draft length and the prediction position. */
void wf_spec_feedback(wf_spec *s, int32_t n_accepted);
/* The draft model's proposals go through the same bookkeeping: record that
 * n tokens were proposed by it (feedback then adapts k_draft; after 3 steps
 * in a row with nothing accepted, drafting pauses for 1, 2, 4 ... 32 steps,
 * so a draft that never agrees costs little). wf_spec_draft_wanted says
 * whether to draft this step (and counts the pause down). */
bool wf_spec_draft_wanted(wf_spec *s);
void wf_spec_note_draft(wf_spec *s, int32_t n);

/* ---- the sampling chain for a given history (sampler.c) ---------------- */

/* The PRNG of the sampler and of speculative sampling's own draws
 * (xoshiro256**, seeded through splitmix64). */
typedef struct wf_rng { uint64_t s[4]; } wf_rng;
void wf_rng_seed(wf_rng *r, uint64_t seed);
double wf_rng_unif(wf_rng *r); /* [0, 1) */

/* The probabilities with which wf_sampler_sample (same params, same
 * accepted history) picks each token — the same chain, written out:
 * penalties over the last repeat_last_n tokens of the history
 * hist1 ++ hist2 (repetition, presence, frequency), then top-k, top-p (on
 * the softmax at temperature 1, smallest best-first set reaching the mass),
 * min-p, then softmax at the temperature. Ties order by lower id. At
 * temperature <= 0 (or when nothing finite is left) all mass is on the
 * penalised argmax.
 *   logits (n_vocab): the model's, or masked by the caller (-INFINITY bans
 *   a token: it gets probability 0); out (n_vocab) probabilities summing
 *   to 1. work: scratch of wf_sampler_dist_work_size(n_vocab) bytes. */
size_t wf_sampler_dist_work_size(int32_t n_vocab);
void wf_sampler_dist(const wf_sampler_params *sp, const float *logits, int32_t n_vocab,
                     const int32_t *hist1, size_t n1, const int32_t *hist2, size_t n2,
                     float *out, void *work);
/* The penalised argmax (what wf_sampler_sample returns at temperature 0). */
int32_t wf_sampler_argmax(const wf_sampler_params *sp, const float *logits, int32_t n_vocab,
                          const int32_t *hist1, size_t n1, const int32_t *hist2, size_t n2, void *work);

/* Log-probabilities as OpenAI reports them and `wafer score` prints them:
 * the model's own distribution (temperature 1, before any sampling
 * transform). Returns the log-sum-exp of the logits (a token's
 * log-probability is logits[t] minus it, in double) and writes the k most
 * likely ids and their log-probabilities, best first, ties lower id first:
 * min(k, n_vocab) of them, the count in *n_top. k is small (a sorted list). */
double wf_logprobs(const float *logits, int32_t n_vocab, int32_t k, int32_t *top_id, double *top_lp, int32_t *n_top);

/* Whether the chain truncates nothing: temperature > 0 and no top-k,
 * top-p or min-p. Then a draw over every token that lands on an allowed one
 * is a draw from the allowed ones. */
bool wf_sampler_untruncated(const wf_sampler_params *p);
/* Constrained sampling's second draw. After wf_sampler_sample drew a token
 * from an untruncated chain (and before wf_sampler_accept), and that token
 * is not allowed: draw again from the same weights restricted to the tokens
 * whose bit is set in mask (n_vocab bits). The first draw and this one
 * together draw exactly from the distribution of the masked logits, without
 * copying them or running the chain again. Returns the token; -1 when it
 * does not apply (no such draw just before, nothing allowed has weight, or
 * the allowed tokens are so unlikely next to the best token that their
 * weights may have underflowed): sample from masked logits then. */
int32_t wf_sampler_redraw_masked(wf_sampler *s, const uint32_t *mask);
/* Constrained sampling without a mask: the chain's best tokens are tested
 * with ok(user, token) in order (a grammar's check), and the draw is made
 * from exactly the distribution the chain gives the logits masked to the
 * allowed tokens (penalties, top-k, top-p, min-p, temperature; greedy: the
 * best allowed token), when the few best tokens decide it (sampler.c says
 * when). Returns the token (the sampler's PRNG moves), or -1 when they do
 * not decide it: mask the logits and call wf_sampler_sample then. */
/* Greedy constrained by a mask (n_vocab bits): the penalised argmax over
 * the allowed tokens (ties: lowest id), as over the masked logits; -1 when
 * no allowed token has a finite logit, or the sampler is not greedy. */
int32_t wf_sampler_argmax_masked(wf_sampler *s, const float *logits, const uint32_t *mask);
/* Sampling (temperature > 0) from the chain on the logits masked to the
 * set bits of mask (n_vocab bits), without copying the logits: the chain
 * runs on the allowed tokens only. Same distribution as wf_sampler_sample
 * on the masked logits; -1 when nothing allowed is finite (or greedy):
 * mask the logits then. */
int32_t wf_sampler_sample_masked(wf_sampler *s, const float *logits, const uint32_t *mask);
typedef bool (*wf_token_test)(void *user, int32_t token);
int32_t wf_sampler_sample_lazy(wf_sampler *s, const float *logits, wf_token_test ok, void *user);

/* ---- speculative sampling's acceptance rule (spec_accept.c) ------------ */

/* Draw from a distribution p (n). */
int32_t wf_spec_draw(const float *p, int32_t n, wf_rng *r);
/* The speculative-sampling rule for a draft token x drawn from q: accept x
 * with probability min(1, p(x)/q(x)); otherwise draw from the residual
 * max(0, p - q) renormalised (from p when the residual is empty: p == q up
 * to rounding). Returns the emitted token; *accepted says which branch.
 *   p, q: (n) probabilities (wf_sampler_dist). */
int32_t wf_spec_accept(const float *p, const float *q, int32_t n, int32_t x, wf_rng *r, bool *accepted);

/* ---- sessions (session.c) ---------------------------------------------- */

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
    int32_t draft_max;              /* <= 0: the defaults (16; a prediction's
                                       drafts WF_SPEC_PRED_MAX_DEFAULT on a
                                       model of WF_SPEC_PRED_LONG_MIN_BYTES
                                       or more); at most
                                       WF_SPEC_DRAFT_MAX_LIMIT (255) and the
                                       model's exact width - 1 (capped)      */
    const int32_t *prediction;      /* (n_prediction) tokens; may be NULL    */
    size_t n_prediction;
    /* Constrained decoding: only tokens the grammar allows are sampled
     * (the logits of the others are set to -inf before the sampling chain),
     * drafts are cut at their first token the grammar rejects, and an
     * end-of-generation token is allowed only where the grammar can end.
     * Both must outlive the request (until wf_session_end); grammar_vocab
     * must be built from the model's vocabulary. NULL: unconstrained. */
    const wf_grammar *grammar;
    const wf_grammar_vocab *grammar_vocab;
} wf_gen_params;
/* WF_SPEC_DRAFT needs a draft model attached with wf_session_set_draft; a
 * prediction, when given, is still tried first. */

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
    /* added with the draft model and the prefix cache */
    int32_t n_prompt_from_cache; /* of n_prompt_cached, restored from the prefix cache */
    int64_t n_draft_decoded;   /* tokens passed to the draft model's wf_decode */
    int64_t n_draft_calls;     /* its wf_decode calls                          */
    double t_draft;            /* s: spent in the draft model                  */
    /* added with constrained decoding */
    double t_grammar;          /* s: grammar work (masks, checks, advancing)   */
    int64_t n_grammar_masks;   /* full allowed-token masks applied             */
    int64_t n_grammar_lazy;    /* steps decided by testing the best tokens     */
    int32_t draft_max;         /* the longest draft of any source after the model's cap (0: no speculation) */
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

/* ---- step-wise generation (session.c) ------------------------------------ */

/* wf_session_generate is wf_session_begin, wf_session_step until done, then
 * wf_session_end. Stepping lets a caller interleave several sessions (a
 * server's slots) and admit or cancel requests between steps.
 *
 * Start a request on s (copies prompt and everything p points to: sampling
 * params, stop strings, prediction -- the caller may free them after this
 * returns; cb is copied too, cb->user must stay valid until wf_session_end).
 * Validates and prepares (prefix reuse, prefix-cache restore); evaluates
 * nothing yet. Fails with WF_ERR_INVALID_ARG when s is already busy. Clears
 * a pending wf_session_cancel. */
wf_status wf_session_begin(wf_session *s, const int32_t *prompt, size_t n,
                           const wf_gen_params *p, const wf_gen_callbacks *cb, wf_error *err);
/* One unit of work: at most `chunk` prompt tokens (wf_session_set_prefill_chunk,
 * default the context's n_batch; after the last chunk the first token is
 * sampled in the same step), or one decode / speculative step. Calls
 * cb->on_token for every token emitted in it. *done becomes true when the
 * request has finished (any stop reason, incl. cancel, or an error; the
 * error is returned here and again by wf_session_end). Stepping a session
 * that is done is a no-op (WF_OK, *done true). */
wf_status wf_session_step(wf_session *s, bool *done, wf_error *err);
/* Finish: fill *res (same fields as wf_session_generate; res may be NULL),
 * flush held text to the callback, leave the session ready for the next
 * request (cache consistent as documented). Returns the error that ended the
 * request, if any (WF_OK also when cancelled). Callable at any point after
 * begin: ending early counts as a cancel. WF_ERR_INVALID_ARG when not busy. */
wf_status wf_session_end(wf_session *s, wf_gen_result *res, wf_error *err);
/* Between wf_session_begin and wf_session_end. */
bool wf_session_busy(const wf_session *s);
/* Prompt tokens evaluated per step (<= 0: the context's n_batch; larger
 * values are capped at n_batch). Takes effect at the next step. */
void wf_session_set_prefill_chunk(wf_session *s, int32_t n_tokens);
/* One step of each of n busy sessions (NULL entries and sessions that are
 * done are skipped, done[i] then true). Every session whose step this time
 * is an evaluation of its pending token -- a plain one-token decode, or a
 * speculative step's pending token + drafts (up to 32 tokens) -- is
 * evaluated in shared forward passes (wf_decode_seqs: up to 32 tokens over
 * all sessions per pass, one pass over the weights each; normally ONE pass
 * for all plain decodes), on the first such session's thread pool. Sessions
 * of different models get separate passes. Prompt chunks then run one
 * session at a time. Tokens and logits are exactly those of stepping each
 * session alone. done[i] as in wf_session_step; errors are kept per session
 * and returned by wf_session_end. */
void wf_sessions_step(wf_session *const *ss, size_t n, bool *done);

/* ---- draft model (draft.c) -------------------------------------- */

/* Whether draft can draft for target: the same number of tokens and the
 * same bytes for every token id (both with a vocabulary), or both without
 * a vocabulary and the same n_vocab. Fails with WF_ERR_UNSUPPORTED and the
 * first difference otherwise. */
wf_status wf_draft_check_vocab(const wf_model *target, const wf_model *draft, wf_error *err);
/* Attach a draft model for WF_SPEC_DRAFT (checked with wf_draft_check_vocab).
 * The session creates and owns a context for it: cp NULL means the target
 * context's size and batch, f16 KV. draft must outlive the session; NULL
 * detaches. The draft cache always holds a prefix of the session's tokens,
 * and after a generation exactly the tokens the target's cache holds. */
wf_status wf_session_set_draft(wf_session *s, wf_model *draft, const wf_context_params *cp, wf_error *err);
wf_context *wf_session_draft_context(wf_session *s); /* NULL without a draft */

/* ---- cross-request prefix cache (prefix_cache.c) ------------------------- */

/* A bounded LRU of KV snapshots keyed by exact token prefixes, shared by
 * any number of sessions of one model (thread-safe). A session with a cache
 * attached stores its state there before a request overwrites it (the new
 * prompt diverges from what the session holds) and, when the cache has a
 * longer common prefix with the new prompt than the session, restores those
 * rows instead of computing them. */
typedef struct wf_prefix_cache wf_prefix_cache;

typedef struct wf_prefix_cache_stats {
    int32_t n_entries;
    int64_t n_tokens;       /* tokens held over all entries                 */
    uint64_t bytes;         /* KV rows + token ids + bookkeeping            */
    int64_t n_lookups, n_hits, n_tokens_restored;
    int64_t n_inserts, n_evictions;
} wf_prefix_cache_stats;

/* max_bytes / max_tokens: limits (0: none); at least one must be set. */
wf_status wf_prefix_cache_create(uint64_t max_bytes, int64_t max_tokens, wf_prefix_cache **out, wf_error *err);
void wf_prefix_cache_free(wf_prefix_cache *pc); /* after the sessions using it */
void wf_prefix_cache_get_stats(wf_prefix_cache *pc, wf_prefix_cache_stats *st);
/* Snapshots shorter than this are not stored (default 16). */
void wf_prefix_cache_set_min_tokens(wf_prefix_cache *pc, int32_t n);
/* Use pc (not owned; NULL detaches) for this session's requests. */
void wf_session_set_prefix_cache(wf_session *s, wf_prefix_cache *pc);
/* Store the session's cached tokens in its prefix cache now (e.g. after a
 * shared system prompt). WF_OK also when the cache declines (too small). */
wf_status wf_session_cache_store(wf_session *s, wf_error *err);

/* Ask the running (or next) generation to stop before its next decode step
 * completes. Async-signal-safe and thread-safe (a lock-free atomic store).
 * wf_session_generate clears the flag when it starts. */
void wf_session_cancel(wf_session *s);

#endif /* WF_GENERATE_H */
