/* tokenizer.h — vocabularies from GGUF metadata and text <-> token ids.
 *
 * tokenizer.ggml.model "gpt2": byte-level BPE with merges, pre-tokenized by
 * PCRE2 with the patterns tokenizer.ggml.pre names. "llama": SentencePiece
 * BPE with scores and byte fallback. The public calls (wf_tokenize,
 * wf_token_to_bytes, ...) are declared in wafer.h.
 */
#ifndef WF_TOKENIZER_H
#define WF_TOKENIZER_H

#include "format/gguf.h"

wf_status wf_vocab_load(const wf_gguf *g, wf_vocab **out, wf_error *err);
void wf_vocab_free(wf_vocab *v);
/* tokenizer.ggml.model / .pre as loaded, for `wafer info`. */
const char *wf_vocab_model_name(const wf_vocab *v);
const char *wf_vocab_pre_name(const wf_vocab *v);
bool wf_vocab_add_bos(const wf_vocab *v);
/* A non-fatal note from loading (e.g. an unknown tokenizer.ggml.pre was
 * replaced by the default pre-tokenizer), or NULL. */
const char *wf_vocab_warning(const wf_vocab *v);
/* Unicode normalization applied to text before encoding: "NFC", "NFD",
 * "NFKC", "NFKD" or "none" (tokenizer.ggml.normalizer; without that key NFC
 * for the qwen2 pre-tokenizer, else none). */
const char *wf_vocab_normalizer(const wf_vocab *v);
/* Longest token text in bytes; no token decodes to more bytes than this. */
int32_t wf_vocab_max_token_len(const wf_vocab *v);
/* SentencePiece vocabulary that prefixes text with a space when encoding
 * (decoders then drop the first leading space: wf_detok.strip_space). */
bool wf_vocab_add_space_prefix(const wf_vocab *v);
/* Token type is "control" (<|im_start|>, <s>, ...). */
bool wf_vocab_is_control(const wf_vocab *v, int32_t id);

/* Tokenize untrusted text (a file's contents, an editor's buffer) for a
 * prompt the caller assembles from ids: no BOS/EOS, control tokens are never
 * parsed, and the ids in deny[n_deny] (e.g. user-defined FIM markers such as
 * DeepSeek's <｜fim▁begin｜>) are not matched either, whatever their type;
 * other user-defined tokens are matched as in wf_tokenize. space_prefix:
 * SentencePiece vocabularies that add a leading space (add_space_prefix) do
 * so only when true (an infilling suffix is encoded without it). *out is
 * malloc'd (non-NULL even when empty); the caller frees it. */
wf_status wf_tokenize_text(const wf_vocab *v, const char *text, size_t len, bool space_prefix,
                           const int32_t *deny, size_t n_deny,
                           int32_t **out, size_t *n_out, wf_error *err);
/* Id of the token whose text (as stored in the vocabulary: GPT-2 byte
 * characters, U+2581 for SentencePiece spaces) is text[0..len), or -1. */
int32_t wf_vocab_find_token(const wf_vocab *v, const char *text, size_t len);
/* The token (not a control token) with the most bytes that are a prefix of
 * s[0..n) (bytes as wf_token_to_bytes gives them), or -1; *len (may be
 * NULL) gets its byte count. Costs up to wf_vocab_max_token_len probes of
 * the token map (the hashes of all prefixes in one pass): meant for the
 * text ahead of a draft, not for bulk tokenizing. */
int32_t wf_vocab_longest_token(const wf_vocab *v, const char *s, size_t n, int32_t *len);

/* Streaming detokenizer: feeds token bytes, emits only complete UTF-8
 * characters; bytes that can never form a valid character come out as
 * U+FFFD, so the output is always valid UTF-8. */
typedef struct wf_detok {
    unsigned char pending[4];
    int n_pending;
    bool strip_space; /* drop one leading ' ' of the output (set by the caller
                         for SentencePiece vocabularies with add_space_prefix
                         when decoding a whole sequence; init clears it) */
} wf_detok;

void wf_detok_init(wf_detok *d);
/* Appends the text of token id to out (cap bytes); returns bytes written or
 * -1 if cap is too small (state unchanged then, out contents unspecified).
 * An invalid id appends nothing. Control tokens come out as their text.
 * cap >= 3 * (wf_vocab_max_token_len + 4) is always enough (every stray byte
 * may become a 3-byte U+FFFD); 64 + the longest token is enough for any
 * token whose bytes are not malformed UTF-8. */
int64_t wf_detok_push(wf_detok *d, const wf_vocab *v, int32_t id, char *out, size_t cap);
/* Emit what is still pending (as U+FFFD) at the end of generation
 * (needs cap >= 3). */
int64_t wf_detok_flush(wf_detok *d, char *out, size_t cap);

#endif /* WF_TOKENIZER_H */
