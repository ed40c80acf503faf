/* vocab.c — the vocabulary: loading tokenizer.ggml.* metadata from a GGUF
 * file (tokens, scores, types, merges, special ids), the text -> id and
 * merge hash maps, special-token handling, and the public entry points
 * wf_tokenize / wf_token_to_bytes / wf_vocab_*.
 *
 * Everything read from the file is treated as hostile: array types and
 * lengths are checked, ids out of range are dropped, sizes are bounded.
 */
#define _GNU_SOURCE /* memmem, qsort_r */
#include "text/tok_int.h"
#include "base/buf.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define WF_VOCAB_MAX_TOKENS (1 << 24)
#define WF_VOCAB_MAX_TOKEN_BYTES (1 << 16)

/* ---- hashing ------------------------------------------------------------ */

static uint64_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

/* The hash of s[n]: a state over its whole 8-byte blocks (hash_block from
 * HASH_SEED), then the tail and the length (hash_end). In two parts so that
 * the hashes of all prefixes of a string cost one pass over it
 * (wf_vocab_longest_token). */
#define HASH_SEED 0x9E3779B97F4A7C15ull

static uint64_t hash_block(uint64_t h, const char *s) {
    uint64_t k;
    memcpy(&k, s, 8);
    return (h ^ mix64(k)) * 0x100000001b3ull;
}

/* s: the whole string (n bytes); h: the state after its n / 8 blocks. */
static uint64_t hash_end(uint64_t h, const char *s, size_t n) {
    uint64_t k = 0;
    memcpy(&k, s + (n & ~(size_t)7), n & 7);
    return mix64(h ^ k ^ ((uint64_t)n << 56));
}

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = HASH_SEED;
    for (size_t i = 0; i + 8 <= n; i += 8) h = hash_block(h, s + i);
    return hash_end(h, s, n);
}

static uint64_t pow2_at_least(uint64_t n) {
    uint64_t c = 16;
    while (c < n) c <<= 1;
    return c;
}

/* wf_vocab_lookup with the hash of s[n] already computed. */
static int32_t lookup_hashed(const wf_vocab *v, const char *s, size_t n, uint64_t hash) {
    uint64_t i = hash & v->map.mask;
    for (;;) {
        uint32_t slot = v->map.slots[i];
        if (slot == 0) return -1;
        int32_t id = (int32_t)(slot - 1);
        if (v->text_len[id] == n && memcmp(wf_vocab_text(v, id), s, n) == 0) return id;
        i = (i + 1) & v->map.mask;
    }
}

int32_t wf_vocab_lookup(const wf_vocab *v, const char *s, size_t n) {
    return lookup_hashed(v, s, n, hash_bytes(s, n));
}

/* Insert id under its text; a later duplicate replaces an earlier one. */
static void map_insert(wf_vocab *v, int32_t id) {
    const char *s = wf_vocab_text(v, id);
    size_t n = v->text_len[id];
    uint64_t i = hash_bytes(s, n) & v->map.mask;
    for (;;) {
        uint32_t slot = v->map.slots[i];
        if (slot == 0) {
            v->map.slots[i] = (uint32_t)id + 1;
            return;
        }
        int32_t o = (int32_t)(slot - 1);
        if (v->text_len[o] == n && memcmp(wf_vocab_text(v, o), s, n) == 0) {
            v->map.slots[i] = (uint32_t)id + 1;
            return;
        }
        i = (i + 1) & v->map.mask;
    }
}

bool wf_vocab_merge_find(const wf_vocab *v, int32_t left, int32_t right,
                         int32_t *rank, int32_t *merged) {
    if (!v->merges.slots) return false;
    uint64_t key = (((uint64_t)(uint32_t)left << 32) | (uint32_t)right) + 1;
    uint64_t i = mix64(key) & v->merges.mask;
    for (;;) {
        const wf_merge_slot *s = &v->merges.slots[i];
        if (s->key == 0) return false;
        if (s->key == key) {
            *rank = s->rank;
            *merged = s->merged;
            return true;
        }
        i = (i + 1) & v->merges.mask;
    }
}

/* First occurrence wins (lowest rank), as in the reference tokenizer. */
static void merge_insert(wf_vocab *v, int32_t left, int32_t right, int32_t rank, int32_t merged) {
    uint64_t key = (((uint64_t)(uint32_t)left << 32) | (uint32_t)right) + 1;
    uint64_t i = mix64(key) & v->merges.mask;
    for (;;) {
        wf_merge_slot *s = &v->merges.slots[i];
        if (s->key == key) return;
        if (s->key == 0) {
            s->key = key;
            s->rank = rank;
            s->merged = merged;
            return;
        }
        i = (i + 1) & v->merges.mask;
    }
}

bool wf_tok_buf_push(wf_tok_buf *b, int32_t id) {
    if (b->n == b->cap && !WF_ARRAY_RESERVE(b->ids, b->cap, b->n + 1)) return false;
    b->ids[b->n++] = id;
    return true;
}

/* ---- loading ------------------------------------------------------------ */

/* Special id from metadata: -1 when absent, negative or out of range. */
static int32_t get_id(const wf_gguf *g, const char *key, int32_t n_tokens, int32_t dflt) {
    int64_t x;
    if (wf_gguf_find_key(g, key) < 0) return dflt;
    if (wf_gguf_get_i64(g, key, &x, NULL) != WF_OK) return -1;
    return x >= 0 && x < n_tokens ? (int32_t)x : -1;
}

static bool get_flag(const wf_gguf *g, const char *key, bool dflt) {
    bool b;
    return wf_gguf_get_bool(g, key, &b, NULL) == WF_OK ? b : dflt;
}

static int cmp_special(const void *a, const void *b, void *ctx) {
    const wf_vocab *v = ctx;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (v->text_len[x] != v->text_len[y]) return v->text_len[x] > v->text_len[y] ? -1 : 1;
    return x < y ? -1 : x > y;
}

static bool name_has(const char *s, const char *sub) {
    char low[256];
    size_t n = strlen(s);
    if (n >= sizeof low) n = sizeof low - 1;
    for (size_t i = 0; i < n; i++) low[i] = (char)tolower((unsigned char)s[i]);
    low[n] = '\0';
    return strstr(low, sub) != NULL;
}

static void set_attr_by_text(wf_vocab *v, const char *text, uint8_t bit, bool on) {
    int32_t id = wf_vocab_lookup(v, text, strlen(text));
    if (id < 0) return;
    if (on) v->attrs[id] |= bit;
    else v->attrs[id] &= (uint8_t)~bit;
}

static wf_status load_tokens(const wf_gguf *g, wf_vocab *v, wf_error *err) {
    int64_t kv = wf_gguf_find_key(g, "tokenizer.ggml.tokens");
    if (kv < 0) return wf_fail(err, WF_ERR_NOT_FOUND, "vocab: tokenizer.ggml.tokens missing");
    wf_gguf_vtype et;
    uint64_t n;
    if (wf_gguf_arr_info_at(g, kv, &et, &n) != WF_OK || et != WF_GGUF_STRING)
        return wf_fail(err, WF_ERR_FORMAT, "vocab: tokenizer.ggml.tokens is not a string array");
    if (n == 0 || n > WF_VOCAB_MAX_TOKENS)
        return wf_fail(err, WF_ERR_FORMAT, "vocab: bad token count %llu", (unsigned long long)n);
    v->n_tokens = (int32_t)n;
    v->text_off = malloc(n * sizeof *v->text_off);
    v->text_len = malloc(n * sizeof *v->text_len);
    v->types = malloc(n);
    v->attrs = calloc(n, 1);
    if (!v->text_off || !v->text_len || !v->types || !v->attrs)
        return wf_fail(err, WF_ERR_NOMEM, "vocab: out of memory");
    uint64_t total = 0;
    for (uint64_t i = 0; i < n; i++) {
        wf_str s;
        if (wf_gguf_arr_str(g, kv, i, &s) != WF_OK)
            return wf_fail(err, WF_ERR_FORMAT, "vocab: cannot read token %llu", (unsigned long long)i);
        if (s.len > WF_VOCAB_MAX_TOKEN_BYTES)
            return wf_fail(err, WF_ERR_FORMAT, "vocab: token %llu is %llu bytes long",
                           (unsigned long long)i, (unsigned long long)s.len);
        total += s.len + 1;
    }
    v->arena = malloc(total ? total : 1);
    if (!v->arena) return wf_fail(err, WF_ERR_NOMEM, "vocab: out of memory");
    uint64_t off = 0;
    v->max_token_len = 8;
    for (uint64_t i = 0; i < n; i++) {
        wf_str s;
        wf_gguf_arr_str(g, kv, i, &s);
        memcpy(v->arena + off, s.ptr, s.len);
        v->arena[off + s.len] = '\0';
        v->text_off[i] = off;
        v->text_len[i] = (uint32_t)s.len;
        if ((int32_t)s.len > v->max_token_len) v->max_token_len = (int32_t)s.len;
        off += s.len + 1;
    }
    /* scores (SPM needs them; optional otherwise) */
    wf_gguf_vtype e2;
    uint64_t n2;
    const void *data;
    wf_status st = wf_gguf_get_arr(g, "tokenizer.ggml.scores", &e2, &n2, &data, NULL);
    if (st == WF_OK) {
        if (e2 != WF_GGUF_FLOAT32 || n2 != n)
            return wf_fail(err, WF_ERR_FORMAT, "vocab: tokenizer.ggml.scores must be %llu float32",
                           (unsigned long long)n);
        v->scores = malloc(n * sizeof *v->scores);
        if (!v->scores) return wf_fail(err, WF_ERR_NOMEM, "vocab: out of memory");
        memcpy(v->scores, data, n * sizeof *v->scores);
    }
    memset(v->types, WF_TOKTYPE_NORMAL, n);
    st = wf_gguf_get_arr(g, "tokenizer.ggml.token_type", &e2, &n2, &data, NULL);
    if (st == WF_OK) {
        if ((e2 != WF_GGUF_INT32 && e2 != WF_GGUF_UINT32) || n2 != n)
            return wf_fail(err, WF_ERR_FORMAT, "vocab: tokenizer.ggml.token_type must be %llu int32",
                           (unsigned long long)n);
        for (uint64_t i = 0; i < n; i++) {
            int32_t t;
            memcpy(&t, (const char *)data + 4 * i, 4);
            v->types[i] = (uint8_t)(t >= 0 && t <= 6 ? t : WF_TOKTYPE_NORMAL);
        }
    }
    /* text -> id map */
    v->map.mask = pow2_at_least(n * 2) - 1;
    v->map.slots = calloc(v->map.mask + 1, sizeof *v->map.slots);
    if (!v->map.slots) return wf_fail(err, WF_ERR_NOMEM, "vocab: out of memory");
    for (uint64_t i = 0; i < n; i++)
        if (v->text_len[i] > 0) map_insert(v, (int32_t)i);
    return WF_OK;
}

static wf_status load_merges(const wf_gguf *g, wf_vocab *v, wf_error *err) {
    int64_t kv = wf_gguf_find_key(g, "tokenizer.ggml.merges");
    if (kv < 0) return wf_fail(err, WF_ERR_FORMAT, "vocab: gpt2 tokenizer without tokenizer.ggml.merges");
    wf_gguf_vtype et;
    uint64_t n;
    if (wf_gguf_arr_info_at(g, kv, &et, &n) != WF_OK || et != WF_GGUF_STRING)
        return wf_fail(err, WF_ERR_FORMAT, "vocab: tokenizer.ggml.merges is not a string array");
    if (n > WF_VOCAB_MAX_TOKENS)
        return wf_fail(err, WF_ERR_FORMAT, "vocab: %llu merges is too many", (unsigned long long)n);
    v->merges.mask = pow2_at_least(n * 2 + 1) - 1;
    v->merges.slots = calloc(v->merges.mask + 1, sizeof *v->merges.slots);
    char *cat = malloc(2 * (size_t)WF_VOCAB_MAX_TOKEN_BYTES + 2);
    if (!v->merges.slots || !cat) {
        free(cat);
        return wf_fail(err, WF_ERR_NOMEM, "vocab: out of memory");
    }
    for (uint64_t i = 0; i < n; i++) {
        wf_str s;
        if (wf_gguf_arr_str(g, kv, i, &s) != WF_OK || s.len > 2 * (uint64_t)WF_VOCAB_MAX_TOKEN_BYTES) {
            free(cat);
            return wf_fail(err, WF_ERR_FORMAT, "vocab: bad merge %llu", (unsigned long long)i);
        }
        /* "left right": the separator is the first space after position 0 */
        const char *sp = s.len > 1 ? memchr(s.ptr + 1, ' ', s.len - 1) : NULL;
        if (!sp) {
            free(cat);
            return wf_fail(err, WF_ERR_FORMAT, "vocab: merge %llu has no space", (unsigned long long)i);
        }
        size_t ll = (size_t)(sp - s.ptr), rl = s.len - ll - 1;
        int32_t l = wf_vocab_lookup(v, s.ptr, ll), r = wf_vocab_lookup(v, sp + 1, rl);
        if (l < 0 || r < 0) continue;
        memcpy(cat, s.ptr, ll);
        memcpy(cat + ll, sp + 1, rl);
        merge_insert(v, l, r, (int32_t)i, wf_vocab_lookup(v, cat, ll + rl));
    }
    free(cat);
    v->n_merges = (int64_t)n;
    return WF_OK;
}

/* Texts that end generation when they are tokens of the vocabulary. */
static const char *const eog_texts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>",
    "<EOT>", "_<EOT>", "<|end_of_text|>", "<end_of_utterance>", "<｜end▁of▁sentence｜>",
    "<|EOT|>", "<|fim_pad|>", "<fim_pad>", "<fim-pad>", "<|repo_name|>", "<|file_sep|>", "<|return|>", "<|call|>", NULL};
/* Candidates for the end-of-turn token when the file names none. */
static const char *const eot_texts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<EOT>", "_<EOT>",
    "<｜end▁of▁sentence｜>", NULL};

static wf_status load_specials(const wf_gguf *g, wf_vocab *v, wf_error *err) {
    int32_t n = v->n_tokens;
    bool spm = v->kind == WF_VOCAB_SPM;
    v->bos = get_id(g, "tokenizer.ggml.bos_token_id", n, spm && n > 1 ? 1 : -1);
    v->eos = get_id(g, "tokenizer.ggml.eos_token_id", n, spm && n > 2 ? 2 : -1);
    v->unk = get_id(g, "tokenizer.ggml.unknown_token_id", n, spm ? 0 : -1);
    v->pad = get_id(g, "tokenizer.ggml.padding_token_id", n, -1);
    v->eot = get_id(g, "tokenizer.ggml.eot_token_id", n, -1);
    v->eom = get_id(g, "tokenizer.ggml.eom_token_id", n, -1);
    v->add_bos = get_flag(g, "tokenizer.ggml.add_bos_token", spm || v->ignore_merges);
    v->add_eos = get_flag(g, "tokenizer.ggml.add_eos_token", false);
    v->add_space_prefix = get_flag(g, "tokenizer.ggml.add_space_prefix", spm);

    if (v->eot < 0)
        for (int i = 0; eot_texts[i] && v->eot < 0; i++)
            v->eot = wf_vocab_lookup(v, eot_texts[i], strlen(eot_texts[i]));
    for (int i = 0; eog_texts[i]; i++) set_attr_by_text(v, eog_texts[i], WF_TATTR_EOG, true);
    if (v->eos >= 0) v->attrs[v->eos] |= WF_TATTR_EOG;
    if (v->eot >= 0) v->attrs[v->eot] |= WF_TATTR_EOG;
    if (v->eom >= 0) v->attrs[v->eom] |= WF_TATTR_EOG;
    /* gpt-oss's harmony format: <|end|> closes one message (the reasoning)
     * and the answer follows; the turn ends at <|return|> or <|call|> */
    if (wf_vocab_lookup(v, "<|return|>", 10) >= 0 && wf_vocab_lookup(v, "<|call|>", 8) >= 0 &&
        wf_vocab_lookup(v, "<|channel|>", 11) >= 0) {
        set_attr_by_text(v, "<|end|>", WF_TATTR_EOG, false);
        if (v->eot >= 0 && v->eot == wf_vocab_lookup(v, "<|end|>", 7)) v->eot = wf_vocab_lookup(v, "<|return|>", 10);
    }

    /* byte tokens */
    for (int b = 0; b < 256; b++) {
        char buf[8];
        int32_t id;
        if (spm) {
            snprintf(buf, sizeof buf, "<0x%02X>", b);
            id = wf_vocab_lookup(v, buf, 6);
            if (id < 0) {
                buf[0] = (char)b;
                id = wf_vocab_lookup(v, buf, 1);
            }
        } else {
            int l = wf_utf8_encode(wf_gpt2_byte_to_cp((uint8_t)b), buf);
            id = wf_vocab_lookup(v, buf, (size_t)l);
        }
        v->byte_tok[b] = id;
    }

    /* special tokens matched in text: control, user-defined, unknown */
    int32_t cnt = 0;
    for (int32_t i = 0; i < n; i++) {
        uint8_t t = v->types[i];
        if ((t == WF_TOKTYPE_CONTROL || t == WF_TOKTYPE_USER_DEFINED || t == WF_TOKTYPE_UNKNOWN) &&
            v->text_len[i] > 0)
            cnt++;
    }
    v->special = malloc((size_t)(cnt ? cnt : 1) * sizeof *v->special);
    if (!v->special) return wf_fail(err, WF_ERR_NOMEM, "vocab: out of memory");
    for (int32_t i = 0; i < n; i++) {
        uint8_t t = v->types[i];
        if ((t == WF_TOKTYPE_CONTROL || t == WF_TOKTYPE_USER_DEFINED || t == WF_TOKTYPE_UNKNOWN) &&
            v->text_len[i] > 0)
            v->special[v->n_special++] = i;
    }
    qsort_r(v->special, (size_t)v->n_special, sizeof *v->special, cmp_special, v);

    /* Phi-3's special tokens swallow the spaces after them (as llama.cpp sets
     * by model name; the GGUF has no field for it). */
    int64_t nk = wf_gguf_find_key(g, "general.name");
    wf_str name;
    if (nk >= 0 && wf_gguf_get_str(g, "general.name", &name, NULL) == WF_OK) {
        char buf[128];
        size_t l = name.len < sizeof buf - 1 ? name.len : sizeof buf - 1;
        memcpy(buf, name.ptr, l);
        buf[l] = '\0';
        if (name_has(buf, "phi-3") || name_has(buf, "phi3")) {
            for (int32_t i = 0; i < v->n_special; i++) v->attrs[v->special[i]] |= WF_TATTR_RSTRIP;
            set_attr_by_text(v, "</s>", WF_TATTR_RSTRIP, true);
            set_attr_by_text(v, "<unk>", WF_TATTR_RSTRIP, false);
            set_attr_by_text(v, "<s>", WF_TATTR_RSTRIP, false);
            set_attr_by_text(v, "<|endoftext|>", WF_TATTR_RSTRIP, false);
        }
    }
    return WF_OK;
}

/* tokenizer.ggml.normalizer (wafer's own key; llama.cpp ignores it): the
 * Unicode normalization the Hugging Face tokenizer.json asks for, written by
 * `wafer convert` as "NFC" / "NFD" / "NFKC" / "NFKD" or "none". Files from
 * llama.cpp's converter carry no such key: for them the Qwen2 pre-tokenizer
 * means NFC (Qwen's tokenizers, Qwen1.5 .. Qwen3, normalize to NFC),
 * everything else none. An unknown value leaves the text as is and
 * a warning. Must run after pre_name is set. */
static wf_status load_normalizer(const wf_gguf *g, wf_vocab *v, wf_error *err) {
    static const char *const names[] = {"none", "NFC", "NFD", "NFKC", "NFKD"};
    static const wf_norm forms[] = {WF_NORM_NONE, WF_NORM_NFC, WF_NORM_NFD, WF_NORM_NFKC, WF_NORM_NFKD};
    const char *key = "tokenizer.ggml.normalizer";
    if (wf_gguf_find_key(g, key) < 0) {
        v->norm = !strcmp(v->pre_name, "qwen2") ? WF_NORM_NFC : WF_NORM_NONE;
        return WF_OK;
    }
    wf_str s;
    if (wf_gguf_get_str(g, key, &s, NULL) != WF_OK)
        return wf_fail(err, WF_ERR_FORMAT, "vocab: %s is not a string", key);
    v->norm = WF_NORM_NONE;
    if (s.len == 0) return WF_OK;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (s.len == strlen(names[i]) && !strncasecmp(s.ptr, names[i], s.len)) {
            v->norm = forms[i];
            return WF_OK;
        }
    if (!v->warning[0])
        snprintf(v->warning, sizeof v->warning, "unknown normalizer '%.*s': text is not normalized "
                 "(tokens may differ from the model's own tokenizer)", (int)(s.len < 40 ? s.len : 40), s.ptr);
    return WF_OK;
}

wf_status wf_vocab_load(const wf_gguf *g, wf_vocab **out, wf_error *err) {
    if (!g || !out) return wf_fail(err, WF_ERR_INVALID_ARG, "vocab: NULL argument");
    *out = NULL;
    wf_str model;
    wf_status st = wf_gguf_get_str(g, "tokenizer.ggml.model", &model, NULL);
    if (st != WF_OK) return wf_fail(err, WF_ERR_NOT_FOUND, "vocab: tokenizer.ggml.model missing");
    wf_vocab *v = calloc(1, sizeof *v);
    if (!v) return wf_fail(err, WF_ERR_NOMEM, "vocab: out of memory");
    v->model_name = wf_dup_bytes(model.ptr, model.len);
    if (!v->model_name) {
        st = wf_fail(err, WF_ERR_NOMEM, "vocab: out of memory");
        goto fail;
    }
    if (!strcmp(v->model_name, "gpt2")) v->kind = WF_VOCAB_BPE;
    else if (!strcmp(v->model_name, "llama")) v->kind = WF_VOCAB_SPM;
    else {
        st = wf_fail(err, WF_ERR_UNSUPPORTED, "vocab: tokenizer model '%.64s' is not supported "
                     "(gpt2 and llama are)", v->model_name);
        goto fail;
    }
    wf_str pre = {"default", 7};
    if (wf_gguf_find_key(g, "tokenizer.ggml.pre") >= 0 &&
        wf_gguf_get_str(g, "tokenizer.ggml.pre", &pre, NULL) != WF_OK) {
        st = wf_fail(err, WF_ERR_FORMAT, "vocab: tokenizer.ggml.pre is not a string");
        goto fail;
    }
    v->pre_name = wf_dup_bytes(pre.ptr, pre.len);
    if (!v->pre_name) {
        st = wf_fail(err, WF_ERR_NOMEM, "vocab: out of memory");
        goto fail;
    }
    if ((st = load_normalizer(g, v, err)) != WF_OK) goto fail;
    if ((st = load_tokens(g, v, err)) != WF_OK) goto fail;
    if (v->kind == WF_VOCAB_BPE) {
        const char *pn = v->pre_name[0] ? v->pre_name : "default";
        st = wf_pretok_create(pn, &v->pretok, &v->ignore_merges, v->warning, sizeof v->warning, err);
        if (st != WF_OK) goto fail;
        if ((st = load_merges(g, v, err)) != WF_OK) goto fail;
    }
    if ((st = load_specials(g, v, err)) != WF_OK) goto fail;
    *out = v;
    return WF_OK;
fail:
    wf_vocab_free(v);
    return st;
}

void wf_vocab_free(wf_vocab *v) {
    if (!v) return;
    wf_pretok_free(v->pretok);
    free(v->model_name);
    free(v->pre_name);
    free(v->arena);
    free(v->text_off);
    free(v->text_len);
    free(v->scores);
    free(v->types);
    free(v->attrs);
    free(v->map.slots);
    free(v->merges.slots);
    free(v->special);
    free(v);
}

const char *wf_vocab_model_name(const wf_vocab *v) { return v->model_name; }
const char *wf_vocab_pre_name(const wf_vocab *v) { return v->pre_name; }
const char *wf_vocab_warning(const wf_vocab *v) { return v->warning[0] ? v->warning : NULL; }
const char *wf_vocab_normalizer(const wf_vocab *v) { return wf_norm_name(v->norm); }
bool wf_vocab_add_bos(const wf_vocab *v) { return v->add_bos; }
int32_t wf_vocab_max_token_len(const wf_vocab *v) { return v->max_token_len; }
bool wf_vocab_add_space_prefix(const wf_vocab *v) {
    return v->kind == WF_VOCAB_SPM && v->add_space_prefix;
}
int32_t wf_vocab_n_tokens(const wf_vocab *v) { return v ? v->n_tokens : 0; }
int32_t wf_vocab_bos(const wf_vocab *v) { return v->bos; }
int32_t wf_vocab_eos(const wf_vocab *v) { return v->eos; }
int32_t wf_vocab_eot(const wf_vocab *v) { return v->eot; }
bool wf_vocab_is_eog(const wf_vocab *v, int32_t id) {
    return v && id >= 0 && id < v->n_tokens && (v->attrs[id] & WF_TATTR_EOG);
}
bool wf_vocab_is_control(const wf_vocab *v, int32_t id) {
    return v && id >= 0 && id < v->n_tokens && v->types[id] == WF_TOKTYPE_CONTROL;
}

/* ---- tokenize ----------------------------------------------------------- */

typedef struct frag {
    int32_t id;       /* >= 0: a special token; -1: raw text */
    size_t off, len;  /* raw text range */
} frag;

typedef struct frag_buf {
    frag *f;
    size_t n, cap;
} frag_buf;

static bool frag_push(frag_buf *b, int32_t id, size_t off, size_t len) {
    if (b->n == b->cap && !WF_ARRAY_RESERVE(b->f, b->cap, b->n + 1)) return false;
    b->f[b->n++] = (frag){id, off, len};
    return true;
}

static bool id_in(const int32_t *ids, size_t n, int32_t id) {
    for (size_t i = 0; i < n; i++)
        if (ids[i] == id) return true;
    return false;
}

/* Cut raw fragments at occurrences of special tokens, longest tokens first.
 * Control and unknown tokens are only recognised with parse_special;
 * user-defined tokens always are (as Hugging Face tokenizers do), except the
 * ids in deny (FIM markers in untrusted text, see wf_tokenize_text). */
static wf_status partition(const wf_vocab *v, const char *text, size_t len, bool parse_special,
                           const int32_t *deny, size_t n_deny, frag_buf *cur, wf_error *err) {
    frag_buf nxt = {0};
    if (!frag_push(cur, -1, 0, len)) goto nomem;
    for (int32_t si = 0; si < v->n_special; si++) {
        int32_t id = v->special[si];
        uint8_t t = v->types[id];
        if (!parse_special && (t == WF_TOKTYPE_CONTROL || t == WF_TOKTYPE_UNKNOWN)) continue;
        if (n_deny && id_in(deny, n_deny, id)) continue;
        const char *st = wf_vocab_text(v, id);
        size_t sl = v->text_len[id];
        nxt.n = 0;
        bool changed = false;
        for (size_t fi = 0; fi < cur->n; fi++) {
            frag f = cur->f[fi];
            if (f.id >= 0 || f.len < sl) {
                if (!frag_push(&nxt, f.id, f.off, f.len)) goto nomem;
                continue;
            }
            size_t off = f.off, end = f.off + f.len;
            while (off < end) {
                const char *m = memmem(text + off, end - off, st, sl);
                if (!m) break;
                changed = true;
                size_t mpos = (size_t)(m - text);
                size_t left_len = mpos - off;
                if (v->attrs[id] & WF_TATTR_LSTRIP)
                    while (left_len > 0 && isspace((unsigned char)text[off + left_len - 1])) left_len--;
                if (left_len > 0 && !frag_push(&nxt, -1, off, left_len)) goto nomem;
                if (!frag_push(&nxt, id, 0, 0)) goto nomem;
                off = mpos + sl;
                if (v->attrs[id] & WF_TATTR_RSTRIP)
                    while (off < end && isspace((unsigned char)text[off])) off++;
            }
            if (off < end && !frag_push(&nxt, -1, off, end - off)) goto nomem;
        }
        if (changed) {
            frag_buf t2 = *cur;
            *cur = nxt;
            nxt = t2;
        }
    }
    free(nxt.f);
    return WF_OK;
nomem:
    free(nxt.f);
    return wf_fail(err, WF_ERR_NOMEM, "tokenize: out of memory");
}

/* SentencePiece fragment: optional leading space, ' ' -> U+2581. */
static wf_status spm_fragment(const wf_vocab *v, const char *s, size_t n, bool prefix,
                              wf_tok_buf *out, wf_error *err) {
    if (n > (SIZE_MAX - 8) / 3) return wf_fail(err, WF_ERR_RANGE, "tokenize: text too long");
    char *buf = malloc(3 * n + 4);
    if (!buf) return wf_fail(err, WF_ERR_NOMEM, "tokenize: out of memory");
    size_t o = 0;
    if (prefix) { memcpy(buf, "\xe2\x96\x81", 3); o = 3; }
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ' ') { memcpy(buf + o, "\xe2\x96\x81", 3); o += 3; }
        else buf[o++] = s[i];
    }
    wf_status st = wf_spm_encode(v, buf, o, out, err);
    free(buf);
    return st;
}

static wf_status tokenize_core(const wf_vocab *v, const char *text, size_t len,
                               bool add_special, bool parse_special, bool space_prefix,
                               const int32_t *deny, size_t n_deny,
                               int32_t **out, size_t *n_out, wf_error *err) {
    if (!v || !out || !n_out || (!text && len))
        return wf_fail(err, WF_ERR_INVALID_ARG, "tokenize: NULL argument");
    *out = NULL;
    *n_out = 0;
    wf_tok_buf ids = {0};
    frag_buf frags = {0};
    char *clean = NULL;
    wf_status st = WF_OK;
    if (add_special && v->add_bos && v->bos >= 0 && !wf_tok_buf_push(&ids, v->bos)) goto nomem;
    /* Hostile bytes are read the way the reference tokenizers get their text
     * (decoded to a string first): every ill-formed sequence, overlongs
     * included, becomes U+FFFD before anything looks at the text, so no
     * later stage can decode an overlong '/' or a surrogate. */
    size_t valid = len ? wf_utf8_valid_prefix(text, len) : 0;
    if (valid < len) {
        if (len > (SIZE_MAX - 4) / 3) {
            st = wf_fail(err, WF_ERR_RANGE, "tokenize: text too long");
            goto done;
        }
        if (!(clean = malloc(3 * len + 4))) goto nomem;
        memcpy(clean, text, valid);
        len = valid + wf_utf8_sanitize(text + valid, len - valid, clean + valid);
        text = clean;
    }
    if (len > 0) {
        st = partition(v, text, len, parse_special, deny, n_deny, &frags, err);
        if (st != WF_OK) goto done;
    }
    bool prev_special = true; /* SPM: the first fragment gets the space prefix */
    for (size_t i = 0; i < frags.n; i++) {
        const frag *f = &frags.f[i];
        if (f->id >= 0) {
            if (!wf_tok_buf_push(&ids, f->id)) goto nomem;
            prev_special = true;
            continue;
        }
        /* Normalized per fragment, after special tokens are cut out (as
         * Hugging Face does for added tokens that are not "normalized"). */
        const char *ft = text + f->off;
        size_t fl = f->len, nl = 0;
        char *normed = NULL;
        if (v->norm != WF_NORM_NONE) {
            if ((st = wf_utf8_normalize(v->norm, ft, fl, &normed, &nl, err)) != WF_OK) goto done;
            if (normed) {
                ft = normed;
                fl = nl;
            }
        }
        if (v->kind == WF_VOCAB_SPM) {
            st = spm_fragment(v, ft, fl, space_prefix && v->add_space_prefix && prev_special, &ids, err);
            prev_special = false;
        } else {
            st = wf_bpe_encode(v, ft, fl, &ids, err);
        }
        free(normed);
        if (st != WF_OK) goto done;
    }
    if (add_special && v->add_eos && v->eos >= 0 && !wf_tok_buf_push(&ids, v->eos)) goto nomem;
    if (!ids.ids && !(ids.ids = malloc(sizeof(int32_t)))) goto nomem; /* non-NULL even when empty */
    *out = ids.ids;
    *n_out = ids.n;
    free(frags.f);
    free(clean);
    return WF_OK;
nomem:
    st = wf_fail(err, WF_ERR_NOMEM, "tokenize: out of memory");
done:
    free(ids.ids);
    free(frags.f);
    free(clean);
    return st;
}

wf_status wf_tokenize(const wf_vocab *v, const char *text, size_t len,
                      bool add_special, bool parse_special,
                      int32_t **out, size_t *n_out, wf_error *err) {
    return tokenize_core(v, text, len, add_special, parse_special, true, NULL, 0, out, n_out, err);
}

wf_status wf_tokenize_text(const wf_vocab *v, const char *text, size_t len, bool space_prefix,
                           const int32_t *deny, size_t n_deny,
                           int32_t **out, size_t *n_out, wf_error *err) {
    if (n_deny && !deny) return wf_fail(err, WF_ERR_INVALID_ARG, "tokenize: NULL deny list");
    return tokenize_core(v, text, len, false, false, space_prefix, deny, n_deny, out, n_out, err);
}

int32_t wf_vocab_find_token(const wf_vocab *v, const char *text, size_t len) {
    if (!v || (!text && len)) return -1;
    return wf_vocab_lookup(v, text, len);
}

/* ---- token -> bytes ----------------------------------------------------- */

static size_t put(char *buf, size_t cap, size_t o, const char *s, size_t n) {
    if (o < cap) memcpy(buf + o, s, o + n <= cap ? n : cap - o);
    return o + n;
}

char *wf_token_to_str(const wf_vocab *v, int32_t id) {
    int32_t n = wf_token_to_bytes(v, id, NULL, 0);
    if (n < 0) return NULL;
    char *s = malloc((size_t)n + 1);
    if (!s) return NULL;
    wf_token_to_bytes(v, id, s, (size_t)n);
    s[n] = 0;
    return s;
}

int32_t wf_token_to_bytes(const wf_vocab *v, int32_t id, char *buf, size_t cap) {
    if (!v || id < 0 || id >= v->n_tokens) return -1;
    const char *t = wf_vocab_text(v, id);
    size_t n = v->text_len[id], o = 0;
    uint8_t type = v->types[id];
    if (type == WF_TOKTYPE_CONTROL || type == WF_TOKTYPE_USER_DEFINED ||
        (type == WF_TOKTYPE_UNKNOWN && v->kind == WF_VOCAB_BPE))
        return (int32_t)put(buf, cap, 0, t, n);
    if (v->kind == WF_VOCAB_SPM) {
        if (type == WF_TOKTYPE_UNKNOWN) return (int32_t)put(buf, cap, 0, "\xe2\x96\x85", 3);
        if (type == WF_TOKTYPE_BYTE && n == 6 && t[0] == '<' && t[1] == '0' && t[2] == 'x') {
            char hex[3] = {t[3], t[4], 0};
            char *end;
            long b = strtol(hex, &end, 16);
            if (*end == '\0') {
                char c = (char)b;
                return (int32_t)put(buf, cap, 0, &c, 1);
            }
        }
        for (size_t i = 0; i < n;) {
            if (i + 3 <= n && memcmp(t + i, "\xe2\x96\x81", 3) == 0) {
                o = put(buf, cap, o, " ", 1);
                i += 3;
            } else {
                o = put(buf, cap, o, t + i, 1);
                i++;
            }
        }
        return (int32_t)o;
    }
    /* byte-level BPE: each code point of the text stands for one byte */
    const unsigned char *s = (const unsigned char *)t;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int l = wf_utf8_decode_lax(s + i, n - i, &cp);
        if (l == 0) { /* not UTF-8: pass the byte through */
            o = put(buf, cap, o, t + i, 1);
            i++;
            continue;
        }
        int b = wf_gpt2_cp_to_byte(cp);
        if (b >= 0) {
            char c = (char)b;
            o = put(buf, cap, o, &c, 1);
        } else {
            o = put(buf, cap, o, t + i, (size_t)l);
        }
        i += (size_t)l;
    }
    return (int32_t)o;
}

/* ---- bytes -> the longest token spelling them ------------------------------ */

/* Each byte of s in the vocabulary's stored form (byte-level BPE: the GPT-2
 * character of the byte; SentencePiece: U+2581 for a space, other bytes as
 * they are) into conv, with off[i] the start of byte i's form (off[n] the
 * end). conv holds at least 3 bytes per byte of s. */
static void stored_form(const wf_vocab *v, const unsigned char *s, size_t n, char *conv, size_t *off) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        off[i] = o;
        if (v->kind == WF_VOCAB_BPE) {
            o += (size_t)wf_utf8_encode(wf_gpt2_byte_to_cp(s[i]), conv + o);
        } else if (s[i] == ' ') {
            memcpy(conv + o, "\xe2\x96\x81", 3);
            o += 3;
        } else {
            conv[o++] = (char)s[i];
        }
    }
    off[n] = o;
}

int32_t wf_vocab_longest_token(const wf_vocab *v, const char *s, size_t n, int32_t *len) {
    if (len) *len = 0;
    if (!v || !s || n == 0 || v->max_token_len <= 0) return -1;
    enum { STACK = 256 };
    const size_t m = n < (size_t)v->max_token_len ? n : (size_t)v->max_token_len;
    char stack_buf[4 * STACK + 8];
    size_t stack_off[STACK + 1];
    uint64_t stack_h[3 * STACK / 8 + 1];
    /* conv: 3 bytes per byte at most (+ 8 so that a tail never reads past);
     * tok: one token's bytes (m at most); hs: the hash state after each
     * 8-byte block of conv */
    char *buf = m <= STACK ? stack_buf : malloc(4 * m + 8);
    size_t *off = m <= STACK ? stack_off : malloc((m + 1) * sizeof *off);
    uint64_t *hs = m <= STACK ? stack_h : malloc((3 * m / 8 + 1) * sizeof *hs);
    int32_t best = -1;
    if (!buf || !off || !hs) goto done; /* only a proposal is lost: no token */
    char *conv = buf, *tok = buf + 3 * m + 8;
    stored_form(v, (const unsigned char *)s, m, conv, off);
    hs[0] = HASH_SEED;
    for (size_t b = 0; b + 8 <= off[m]; b += 8) hs[b / 8 + 1] = hash_block(hs[b / 8], conv + b);
    for (size_t l = m; l > 0 && best < 0; l--) {
        const size_t cl = off[l];
        int32_t id = lookup_hashed(v, conv, cl, hash_end(hs[cl / 8], conv, cl));
        if (id < 0 || v->types[id] == WF_TOKTYPE_CONTROL) continue;
        /* the stored form is not always one to one (a literal U+2581 in
         * SentencePiece text): the token's own bytes decide */
        int32_t b = wf_token_to_bytes(v, id, tok, m);
        if (b == (int32_t)l && !memcmp(tok, s, l)) {
            best = id;
            if (len) *len = b;
        }
    }
    if (best < 0 && v->kind == WF_VOCAB_SPM && v->byte_tok[(unsigned char)s[0]] >= 0) { /* byte fallback */
        best = v->byte_tok[(unsigned char)s[0]];
        if (len) *len = 1;
    }
done:
    if (buf != stack_buf) free(buf);
    if (off != stack_off) free(off);
    if (hs != stack_h) free(hs);
    return best;
}
