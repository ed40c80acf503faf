/* wafer.h — the public API of libwafer.
 *
 * Opaque handles, status codes, and an error record the caller owns. The
 * library keeps no global mutable state, never exits and never prints: every
 * call returns a wf_status and, on failure, leaves a message in the
 * caller's wf_error (which may be NULL when the caller does not care).
 */
#ifndef WAFER_H
#define WAFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WAFER_VERSION "0.1.0"

/* ---- status codes ------------------------------------------------------ */

typedef enum wf_status {
    WF_OK = 0,
    WF_ERR_INVALID_ARG = 1, /* the caller passed something wrong          */
    WF_ERR_IO = 2,          /* open/read/write/mmap failed                */
    WF_ERR_FORMAT = 3,      /* malformed or hostile file or input         */
    WF_ERR_UNSUPPORTED = 4, /* valid, but not something wafer handles     */
    WF_ERR_NOMEM = 5,       /* allocation failed or would be too large    */
    WF_ERR_NOT_FOUND = 6,   /* key / tensor / token missing               */
    WF_ERR_RANGE = 7,       /* exceeds a limit (context size, ...)        */
    WF_ERR_CANCELLED = 8,   /* stopped on request                         */
    WF_ERR_INTERNAL = 9     /* a bug in wafer                             */
} wf_status;

/* The message of the last failure of a call that was given this record. */
typedef struct wf_error {
    wf_status code;
    char msg[512];
} wf_error;

const char *wf_status_name(wf_status s);

/* ---- opaque handles ---------------------------------------------------- */

typedef struct wf_model wf_model;       /* weights + hyper-parameters + vocab */
typedef struct wf_context wf_context;   /* KV cache + scratch for one sequence */
typedef struct wf_vocab wf_vocab;       /* tokenizer                           */
typedef struct wf_sampler wf_sampler;   /* sampling chain + RNG                */

/* ---- models ------------------------------------------------------------ */

/* Called while a model loads; done and total in bytes. Return false to abort
 * (the load then fails with WF_ERR_CANCELLED). */
typedef bool (*wf_progress_fn)(uint64_t done, uint64_t total, void *user);

typedef struct wf_model_params {
    wf_progress_fn progress; /* may be NULL */
    void *progress_user;
    bool vocab_only;         /* load only the tokenizer (vocab-only GGUF)    */
    int32_t isa;             /* kernels: -1 the best the CPU has (default),
                                0 scalar reference, 1 AVX2, 2 AVX-512; a
                                choice the CPU lacks falls back to the best  */
} wf_model_params;

wf_model_params wf_model_default_params(void);
wf_status wf_model_load(const char *path, const wf_model_params *params,
                        wf_model **out, wf_error *err);
void wf_model_free(wf_model *m);
const wf_vocab *wf_model_vocab(const wf_model *m);
int32_t wf_model_n_vocab(const wf_model *m);
int32_t wf_model_n_ctx_train(const wf_model *m);
/* The most tokens one forward pass may hold while every token's logits stay
 * bit-identical to decoding it alone: INT32_MAX when the kernels of all the
 * model's matmul weight types are exact at any width (every type with the
 * AVX-512 or scalar kernels), else at least 32 (K-quants on AVX2).
 * Speculative drafts are capped one below it. */
int32_t wf_model_exact_batch(const wf_model *m);

/* ---- contexts (one KV sequence each) ------------------------------------ */

typedef enum wf_kv_type {
    WF_KV_F16 = 0,
    WF_KV_Q8_0 = 1,
    WF_KV_F32 = 2
} wf_kv_type;

typedef struct wf_context_params {
    int32_t n_ctx;       /* 0: the model's training context, capped by memory */
    int32_t n_threads;   /* 0: number of cores                                */
    int32_t n_batch;     /* max tokens per forward pass (prefill chunk)       */
    wf_kv_type kv_type;
    bool kv_full;        /* sliding-window layers keep every position too (no
                            ring; the default false bounds their memory)     */
} wf_context_params;

wf_context_params wf_context_default_params(void);
wf_status wf_context_create(wf_model *m, const wf_context_params *p,
                            wf_context **out, wf_error *err);
void wf_context_free(wf_context *c);
int32_t wf_context_n_ctx(const wf_context *c);
int32_t wf_context_n_past(const wf_context *c); /* tokens held in the KV cache */

/* Evaluate n tokens appended after the n_past tokens already in the cache.
 * all_logits: keep logits for every token of the batch (needed for scoring and
 * speculative verification); otherwise only for the last one. */
wf_status wf_decode(wf_context *c, const int32_t *tokens, int32_t n,
                    bool all_logits, wf_error *err);
/* Logits (n_vocab floats) of the i-th token of the last wf_decode batch;
 * i = -1 means the last token. NULL if not kept. */
const float *wf_get_logits(const wf_context *c, int32_t i);
/* An abort check for long evaluations: wf_decode calls fn(user) before each
 * layer and, when it returns true, stops and returns WF_ERR_CANCELLED. The
 * cache then holds the tokens of the n_batch chunks completed before the one
 * interrupted (wf_context_n_past tells). fn must be cheap and thread-safe
 * (e.g. read an atomic flag). NULL removes it. */
typedef bool (*wf_abort_fn)(void *user);
void wf_context_set_abort(wf_context *c, wf_abort_fn fn, void *user);

/* Drop cached tokens from position n_keep on (prefix reuse, rejection).
 * The logits of the last wf_decode call stay readable. Layers with a
 * sliding window (gpt-oss) keep a ring of recent positions, so n_keep must
 * be 0 or at least wf_kv_truncate_min (WF_ERR_RANGE otherwise); a rollback
 * of up to n_batch positions from the end is always possible. */
wf_status wf_kv_truncate(wf_context *c, int32_t n_keep, wf_error *err);
int32_t wf_kv_truncate_min(const wf_context *c); /* 0: any n_keep works */
/* KV snapshots (cross-request prefix cache): the K/V rows of cached
 * positions [0, n) of every layer, in the context's KV element type (for a
 * sliding-window layer with a ring, only its last wf_kv_snapshot_ring(c)
 * positions before n). wf_kv_export_size is the exact byte count for n
 * positions (0 for a bad n); wf_kv_export copies them out (n <= n_past;
 * size must match exactly; WF_ERR_RANGE when the rings no longer hold
 * those rows). wf_kv_import takes a snapshot of n_src positions (told by
 * its size) exported from a context of the same model, KV type, head
 * layout and ring, and replaces the cache by its first n positions (n_past
 * becomes n); wf_kv_snapshot_serves says whether such an n is possible (with
 * rings: n_src itself, or n whose window the snapshot holds). The logits of
 * the last wf_decode are not part of a snapshot (none are readable after an
 * import). */
uint64_t wf_kv_export_size(const wf_context *c, int32_t n);
wf_status wf_kv_export(const wf_context *c, int32_t n, void *buf, size_t size, wf_error *err);
wf_status wf_kv_import(wf_context *c, int32_t n, const void *buf, size_t size, wf_error *err);
int32_t wf_kv_snapshot_ring(const wf_context *c); /* 0: no ring */
bool wf_kv_snapshot_serves(const wf_context *c, int32_t n_src, int32_t n);
/* What wf_context_create decided on the caller's behalf (e.g. "context capped
 * at 32768 tokens to fit in memory ..."), or "" when nothing to say. Valid
 * while the context lives; the CLI may print it. */
const char *wf_context_notice(const wf_context *c);
/* Bytes allocated for the KV cache (n_ctx tokens) and for scratch buffers. */
uint64_t wf_context_kv_bytes(const wf_context *c);
uint64_t wf_context_scratch_bytes_used(const wf_context *c);
int32_t wf_context_n_threads(const wf_context *c);
int32_t wf_context_n_batch(const wf_context *c);

/* ---- tokenizer --------------------------------------------------------- */

/* Tokenize len bytes of text. add_special: add BOS/EOS as the vocabulary's
 * metadata asks; parse_special: text such as "<|im_start|>" becomes its control
 * token (otherwise it is tokenized as plain text). On success *out is a
 * malloc'd array the caller frees. */
wf_status wf_tokenize(const wf_vocab *v, const char *text, size_t len,
                      bool add_special, bool parse_special,
                      int32_t **out, size_t *n_out, wf_error *err);
/* The bytes of one token (byte-level BPE decoded, SentencePiece spaces
 * restored). Returns the number of bytes, which may exceed cap (then nothing
 * beyond cap is written); negative for an invalid id. */
int32_t wf_token_to_bytes(const wf_vocab *v, int32_t id, char *buf, size_t cap);
/* The same bytes as a malloc'd NUL-terminated string (e.g. BOS/EOS text for
 * chat templates); NULL for an invalid id or when out of memory. */
char *wf_token_to_str(const wf_vocab *v, int32_t id);
int32_t wf_vocab_n_tokens(const wf_vocab *v);
int32_t wf_vocab_bos(const wf_vocab *v); /* -1 when the model has none */
int32_t wf_vocab_eos(const wf_vocab *v);
int32_t wf_vocab_eot(const wf_vocab *v);
bool wf_vocab_is_eog(const wf_vocab *v, int32_t id); /* end of generation */

/* ---- sampling ---------------------------------------------------------- */

typedef struct wf_sampler_params {
    float temperature;       /* <= 0: greedy                                */
    int32_t top_k;           /* <= 0: off                                   */
    float top_p;             /* >= 1: off                                   */
    float min_p;             /* <= 0: off                                   */
    float repeat_penalty;    /* 1: off                                      */
    int32_t repeat_last_n;   /* window for the three penalties; -1: all     */
    float presence_penalty;  /* 0: off                                      */
    float frequency_penalty; /* 0: off                                      */
    uint64_t seed;
} wf_sampler_params;

wf_sampler_params wf_sampler_default_params(void);
wf_status wf_sampler_create(const wf_sampler_params *p, int32_t n_vocab,
                            wf_sampler **out, wf_error *err);
void wf_sampler_free(wf_sampler *s);
/* Pick the next token from logits (n_vocab floats, not modified). */
int32_t wf_sampler_sample(wf_sampler *s, const float *logits);
/* Tell the sampler a token was emitted (feeds the penalties). */
void wf_sampler_accept(wf_sampler *s, int32_t token);
void wf_sampler_reset(wf_sampler *s);

#ifdef __cplusplus
}
#endif
#endif /* WAFER_H */
