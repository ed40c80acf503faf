/* tok_int.h — private layout of wf_vocab, shared by the tokenizer files
 * (vocab.c, bpe.c, spm.c, pretok.c, detok.c, unicode.c). Not a contract:
 * other modules use tokenizer.h and wafer.h only.
 *
 * The vocabulary is read-only after wf_vocab_load, so one wf_vocab may be
 * used by many threads at once; per-call scratch lives on the caller's side
 * (wf_tok_buf, PCRE2 match data created per call).
 */
#ifndef WF_TOK_IMPL_H
#define WF_TOK_IMPL_H

#include "text/tokenizer.h"

#include <stddef.h>
#include <stdint.h>

/* tokenizer.ggml.token_type values */
enum {
    WF_TOKTYPE_UNDEFINED = 0,
    WF_TOKTYPE_NORMAL = 1,
    WF_TOKTYPE_UNKNOWN = 2,
    WF_TOKTYPE_CONTROL = 3,
    WF_TOKTYPE_USER_DEFINED = 4,
    WF_TOKTYPE_UNUSED = 5,
    WF_TOKTYPE_BYTE = 6
};

/* Per-token attribute bits. */
enum {
    WF_TATTR_LSTRIP = 1u << 0, /* special token eats spaces on its left  */
    WF_TATTR_RSTRIP = 1u << 1, /* ... and on its right                    */
    WF_TATTR_EOG = 1u << 2     /* ends generation                         */
};

/* Unicode normalization forms (tokenizer.ggml.normalizer). */
typedef enum wf_norm {
    WF_NORM_NONE = 0,
    WF_NORM_NFC,
    WF_NORM_NFD,
    WF_NORM_NFKC,
    WF_NORM_NFKD
} wf_norm;

typedef enum wf_vocab_kind {
    WF_VOCAB_BPE = 1, /* "gpt2": byte-level BPE with merges          */
    WF_VOCAB_SPM = 2  /* "llama": SentencePiece BPE with scores       */
} wf_vocab_kind;

/* Open-addressing hash map from token text to id (text lives in the vocab's
 * string arena). Slots hold id+1; 0 is empty. */
typedef struct wf_tokmap {
    uint32_t *slots; /* (cap) */
    uint64_t mask;   /* cap - 1, cap a power of two */
} wf_tokmap;

/* Merge map: (left id, right id) -> rank and merged id. */
typedef struct wf_merge_slot {
    uint64_t key;   /* (left << 32 | right) + 1; 0 = empty */
    int32_t rank;
    int32_t merged; /* id of the concatenation, -1 if not a token */
} wf_merge_slot;

typedef struct wf_mergemap {
    wf_merge_slot *slots; /* (cap) */
    uint64_t mask;
} wf_mergemap;

typedef struct wf_pretok wf_pretok; /* compiled pre-tokenizer patterns */

struct wf_vocab {
    wf_vocab_kind kind;
    char *model_name; /* tokenizer.ggml.model */
    char *pre_name;   /* tokenizer.ggml.pre (or "default") */
    char warning[160]; /* non-fatal note from loading (e.g. fallback pre-tokenizer) */

    int32_t n_tokens;
    char *arena;        /* all token texts, each NUL-terminated */
    uint64_t *text_off; /* (n_tokens) offset of token i's text in arena */
    uint32_t *text_len; /* (n_tokens) */
    float *scores;      /* (n_tokens) or NULL */
    uint8_t *types;     /* (n_tokens) WF_TOKTYPE_* */
    uint8_t *attrs;     /* (n_tokens) WF_TATTR_* */
    int32_t max_token_len; /* longest decoded token in bytes */

    wf_tokmap map;
    wf_mergemap merges;
    int64_t n_merges;

    int32_t *special;   /* control/user-defined/unknown ids, longest text first */
    int32_t n_special;

    int32_t byte_tok[256]; /* SPM: id of <0xXX>, or -1 */

    int32_t bos, eos, eot, eom, pad, unk; /* -1 when absent */
    bool add_bos, add_eos, add_space_prefix;
    bool ignore_merges; /* Llama 3: a word that is a whole token skips merging */
    wf_norm norm;       /* applied to text between special tokens before encoding */

    wf_pretok *pretok;  /* BPE only */
};

static inline const char *wf_vocab_text(const wf_vocab *v, int32_t id) {
    return v->arena + v->text_off[id];
}

/* ---- vocab.c ---- */
int32_t wf_vocab_lookup(const wf_vocab *v, const char *s, size_t n); /* -1 if absent */
bool wf_vocab_merge_find(const wf_vocab *v, int32_t left, int32_t right,
                         int32_t *rank, int32_t *merged);

/* Growable id output shared by the encoders. */
typedef struct wf_tok_buf {
    int32_t *ids;
    size_t n, cap;
} wf_tok_buf;
bool wf_tok_buf_push(wf_tok_buf *b, int32_t id);

/* ---- unicode.c ---- */
/* GPT-2 byte-level mapping: byte -> code point, and back (-1 if cp is not in
 * the 256-entry image). */
uint32_t wf_gpt2_byte_to_cp(uint8_t b);
int wf_gpt2_cp_to_byte(uint32_t cp);
/* Encode cp as UTF-8 into out (4 bytes room); returns length. */
int wf_utf8_encode(uint32_t cp, char *out);
/* Decode one code point the lenient way llama.cpp does (continuation bytes
 * checked, overlong forms accepted). Returns bytes used, 0 if invalid. */
int wf_utf8_decode_lax(const unsigned char *s, size_t n, uint32_t *cp);
/* Strict decode (RFC 3629): returns length 1..4 for a valid char, 0 when the
 * bytes are a valid but incomplete prefix, -1 when invalid (then *bad is the
 * number of bytes forming the maximal invalid subpart, >= 1). */
int wf_utf8_decode_strict(const unsigned char *s, size_t n, uint32_t *cp, int *bad);
/* Length of the longest prefix of in[0..n) that is valid UTF-8 (RFC 3629:
 * no overlongs, surrogates, > U+10FFFF or truncated sequences); n if all. */
size_t wf_utf8_valid_prefix(const char *in, size_t n);
/* Rewrite text as valid UTF-8 the way a WHATWG / Unicode decoder reads it:
 * each maximal subpart of an ill-formed sequence becomes one U+FFFD
 * (overlongs, surrogates, > U+10FFFF, truncated sequences included); valid
 * characters are copied. out must have room for 3 * n bytes. Returns the
 * output length. */
size_t wf_utf8_sanitize(const char *in, size_t n, char *out);

const char *wf_norm_name(wf_norm form); /* "NFC", ..., "none" */
/* Normalize valid UTF-8 in[0..n) to form. When the text is already in that
 * form by a quick check (ASCII; for NFC, nothing at or above U+0300), *out is
 * NULL and the caller keeps using in; otherwise *out is a malloc'd copy of
 * *out_n bytes (caller frees). */
wf_status wf_utf8_normalize(wf_norm form, const char *in, size_t n, char **out, size_t *out_n,
                            wf_error *err);
/* Length of the UTF-8 sequence a lead byte announces (1 for stray bytes). */
static inline int wf_utf8_len(unsigned char c) {
    static const unsigned char lens[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return lens[c >> 4];
}

/* ---- pretok.c ---- */
/* Compile the patterns for tokenizer.ggml.pre = name. Unknown names fall back
 * to the default patterns and leave a note in warn (cap bytes). */
wf_status wf_pretok_create(const char *name, wf_pretok **out, bool *ignore_merges,
                           char *warn, size_t warn_cap, wf_error *err);
void wf_pretok_free(wf_pretok *p);

typedef struct wf_span {
    size_t off, len;
} wf_span;

typedef struct wf_span_buf {
    wf_span *s;
    size_t n, cap;
} wf_span_buf;

/* Split valid UTF-8 text into words (spans), appended to out (PCRE2 runs
 * without its UTF check: the text must be valid). */
wf_status wf_pretok_split(const wf_pretok *p, const char *text, size_t len,
                          wf_span_buf *out, wf_error *err);

/* ---- bpe.c / spm.c ---- */
/* Byte-level BPE of one raw-text fragment (valid UTF-8: the caller
 * sanitises), ids appended to out. */
wf_status wf_bpe_encode(const wf_vocab *v, const char *text, size_t len,
                        wf_tok_buf *out, wf_error *err);
/* SentencePiece BPE of one fragment (spaces already escaped, prefix added). */
wf_status wf_spm_encode(const wf_vocab *v, const char *text, size_t len,
                        wf_tok_buf *out, wf_error *err);

#endif /* WF_TOK_IMPL_H */
