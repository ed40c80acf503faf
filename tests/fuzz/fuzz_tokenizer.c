/* fuzz_tokenizer.c — arbitrary bytes through every kind of vocabulary
 * wafer reads, encode -> decode round trip checked.
 *
 * The vocabularies are built here with the C GGUF writer (then loaded by
 * wf_vocab_load like any model's): byte-level BPE with merges under the
 * "llama3", "qwen2" (NFC), "deepseek-coder" and "starcoder" pre-tokenizers,
 * and SentencePiece BPE with scores and byte fallback (with and without a
 * space prefix); plus the embedded model's own vocabulary when the source
 * tree is found (WAFER_SRC, or the tree this was built from). The first byte
 * of an input picks the vocabulary and whether special-token text is
 * parsed; the rest is the text.
 *
 * Checks: tokenizing never fails on any bytes (byte-level and byte-fallback
 * vocabularies cover every byte); every id is in range; the tokens' bytes
 * concatenated are the input exactly (byte-level BPE without a normalizer;
 * SentencePiece when the text has no U+2581, which decodes to a space),
 * NFC of the input for qwen2 when the input is ASCII (else only valid ids);
 * the streaming detokenizer's output is valid UTF-8 and, for valid UTF-8
 * input, equal to the raw bytes.
 *
 * libFuzzer: -DWF_LIBFUZZER (CMake -DWAFER_FUZZ=ON, `make fuzz`); else the
 * driver in fuzz_main.h (ctest: fuzz_tokenizer N corpus/tokenizer). */
#define _GNU_SOURCE /* memmem */
#include "format/gguf.h"
#include "text/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef WAFER_SOURCE_DIR
#define WAFER_SOURCE_DIR "."
#endif

enum { N_BPE_PRE = 4, N_VOCABS = N_BPE_PRE + 2 + 1 };
static const char *const bpe_pre[N_BPE_PRE] = {"llama3", "qwen2", "deepseek-coder", "starcoder"};
static wf_vocab *vocabs[N_VOCABS];
static bool exact[N_VOCABS]; /* byte-exact round trip expected */
static int n_vocabs;

static size_t utf8_put(uint32_t cp, char *o) {
    if (cp < 0x80) return o[0] = (char)cp, 1;
    if (cp < 0x800) return o[0] = (char)(0xC0 | cp >> 6), o[1] = (char)(0x80 | (cp & 63)), 2;
    o[0] = (char)(0xE0 | cp >> 12), o[1] = (char)(0x80 | ((cp >> 6) & 63)), o[2] = (char)(0x80 | (cp & 63));
    return 3;
}

/* GPT-2's byte -> printable character table. */
static void gpt2_byte_char(int b, char *out, size_t *len) {
    static uint32_t map[256];
    if (!map['!']) {
        int n = 0;
        for (int i = 0; i < 256; i++) {
            bool keep = (i >= 33 && i <= 126) || (i >= 161 && i <= 172) || (i >= 174);
            map[i] = keep ? (uint32_t)i : (uint32_t)(256 + n++);
        }
    }
    *len = utf8_put(map[b], out);
}

static wf_vocab *load_written(wf_gguf_writer *w, const char *tag) {
    char path[256];
    snprintf(path, sizeof path, "/tmp/wf_fuzz_tok_%d_%s.gguf", (int)getpid(), tag);
    wf_error err = {0};
    wf_vocab *v = NULL;
    wf_gguf *g = NULL;
    if (wf_gguf_writer_write(w, path, NULL, NULL, &err) || wf_gguf_open(path, &g, &err) || wf_vocab_load(g, &v, &err)) {
        fprintf(stderr, "fuzz_tokenizer: vocabulary %s: %s\n", tag, err.msg);
        abort();
    }
    wf_gguf_close(g);
    unlink(path);
    return v;
}

static const char *const words[] = {"th", "he", "in", "er", "an", "re", "on", "the", "def", "ret", "urn", "return", "self",
                                    "  ", "    ", "==", "()", "):", "\n\n", "in", "is", "ing", "ion", "é", "中文", NULL};

static wf_vocab *make_bpe(const char *pre) {
    wf_gguf_writer *w = NULL;
    wf_gguf_writer_create(&w, NULL);
    wf_str toks[400];
    char store[400][24];
    int32_t types[400];
    wf_str merges[64];
    char mstore[64][64];
    int n = 0, nm = 0;
    for (int b = 0; b < 256; b++) {
        size_t l;
        gpt2_byte_char(b, store[n], &l);
        toks[n] = (wf_str){store[n], l};
        types[n++] = 1;
    }
    /* merged tokens from pairs of byte characters: "a b" -> "ab" */
    for (int i = 0; words[i]; i++) {
        const unsigned char *t = (const unsigned char *)words[i];
        size_t tl = strlen(words[i]);
        char enc[24];
        size_t el = 0;
        for (size_t j = 0; j < tl; j++) {
            size_t l;
            gpt2_byte_char(t[j], enc + el, &l);
            el += l;
        }
        if (tl == 2) { /* a merge of two bytes */
            char a[4], b[4];
            size_t la, lb;
            gpt2_byte_char(t[0], a, &la);
            gpt2_byte_char(t[1], b, &lb);
            int m = snprintf(mstore[nm], sizeof mstore[nm], "%.*s %.*s", (int)la, a, (int)lb, b);
            merges[nm] = (wf_str){mstore[nm], (size_t)m};
            nm++;
        } else {
            continue; /* longer words: only byte pairs have merges here */
        }
        memcpy(store[n], enc, el);
        toks[n] = (wf_str){store[n], el};
        types[n++] = 1;
    }
    static const char *const specials[] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|fim_prefix|>"};
    for (int i = 0; i < 4; i++) {
        toks[n] = (wf_str){specials[i], strlen(specials[i])};
        types[n++] = 3;
    }
    wf_gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2", 4);
    wf_gguf_writer_set_str(w, "tokenizer.ggml.pre", pre, strlen(pre));
    wf_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, (uint64_t)n);
    wf_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", WF_GGUF_INT32, types, (uint64_t)n);
    wf_gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", merges, (uint64_t)nm);
    wf_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)(n - 4));
    wf_vocab *v = load_written(w, pre);
    wf_gguf_writer_free(w);
    return v;
}

static wf_vocab *make_spm(bool space_prefix) {
    wf_gguf_writer *w = NULL;
    wf_gguf_writer_create(&w, NULL);
    wf_str toks[400];
    char store[400][24];
    float scores[400];
    int32_t types[400];
    int n = 0;
    static const char *const head[] = {"<unk>", "<s>", "</s>"};
    for (int i = 0; i < 3; i++) {
        toks[n] = (wf_str){head[i], strlen(head[i])};
        scores[n] = 0;
        types[n++] = i == 0 ? 2 : 3;
    }
    for (int b = 0; b < 256; b++) {
        int l = snprintf(store[n], sizeof store[n], "<0x%02X>", b);
        toks[n] = (wf_str){store[n], (size_t)l};
        scores[n] = 0;
        types[n++] = 6;
    }
    /* pieces: "▁" (U+2581) for a space */
    static const char *const pieces[] = {"\xe2\x96\x81", "\xe2\x96\x81t", "\xe2\x96\x81the", "he", "th", "e", "t", "h", "a",
                                         "in", "i", "n", "\xe2\x96\x81\xe2\x96\x81", "re", "r", "o", "on", "\xc3\xa9", NULL};
    for (int i = 0; pieces[i]; i++) {
        toks[n] = (wf_str){pieces[i], strlen(pieces[i])};
        scores[n] = -(float)i;
        types[n++] = 1;
    }
    wf_gguf_writer_set_str(w, "tokenizer.ggml.model", "llama", 5);
    wf_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, (uint64_t)n);
    wf_gguf_writer_set_arr(w, "tokenizer.ggml.scores", WF_GGUF_FLOAT32, scores, (uint64_t)n);
    wf_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", WF_GGUF_INT32, types, (uint64_t)n);
    wf_gguf_writer_set_bool(w, "tokenizer.ggml.add_space_prefix", space_prefix);
    wf_vocab *v = load_written(w, space_prefix ? "spm_sp" : "spm");
    wf_gguf_writer_free(w);
    return v;
}

static wf_vocab *load_embedded(void) {
    const char *src = getenv("WAFER_SRC");
    char path[4096];
    snprintf(path, sizeof path, "%s/models/wafer-embedded.gguf", src ? src : WAFER_SOURCE_DIR);
    wf_gguf *g = NULL;
    wf_vocab *v = NULL;
    if (wf_gguf_open(path, &g, NULL) != WF_OK) return NULL;
    if (wf_vocab_load(g, &v, NULL) != WF_OK) v = NULL;
    wf_gguf_close(g);
    return v;
}

static void init(void) {
    if (n_vocabs) return;
    for (int i = 0; i < N_BPE_PRE; i++) {
        exact[n_vocabs] = strcmp(bpe_pre[i], "qwen2") != 0;
        vocabs[n_vocabs++] = make_bpe(bpe_pre[i]);
    }
    exact[n_vocabs] = true;
    vocabs[n_vocabs++] = make_spm(false);
    exact[n_vocabs] = false; /* the space prefix */
    vocabs[n_vocabs++] = make_spm(true);
    wf_vocab *e = load_embedded();
    if (e) {
        exact[n_vocabs] = false; /* its normalizer is whatever the file says */
        vocabs[n_vocabs++] = e;
    }
}
#define FUZZ_INIT init

static bool valid_utf8(const unsigned char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t k = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (!k || i + k > n) return false;
        uint32_t cp = k == 1 ? c : c & (0x7F >> k);
        for (size_t j = 1; j < k; j++) {
            if ((s[i + j] & 0xC0) != 0x80) return false;
            cp = cp << 6 | (s[i + j] & 63);
        }
        if ((k == 2 && cp < 0x80) || (k == 3 && cp < 0x800) || (k == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += k;
    }
    return true;
}

/* The text as the tokenizer is documented to read it: the WHATWG UTF-8
 * decoder's U+FFFD for every maximal ill-formed subpart (written here from
 * the WHATWG Encoding Standard's algorithm, not taken from src/text). out
 * holds 3 * n bytes. */
static size_t whatwg_clean(const unsigned char *in, size_t n, char *out) {
    size_t o = 0;
    uint32_t cp = 0;
    int need = 0, seen = 0;
    unsigned lower = 0x80, upper = 0xBF;
    for (size_t i = 0; i < n; i++) {
        unsigned b = in[i];
        if (need == 0) {
            if (b <= 0x7F) out[o++] = (char)b;
            else if (b >= 0xC2 && b <= 0xDF) need = 1, cp = b & 0x1F;
            else if (b >= 0xE0 && b <= 0xEF) {
                if (b == 0xE0) lower = 0xA0;
                if (b == 0xED) upper = 0x9F;
                need = 2, cp = b & 0xF;
            } else if (b >= 0xF0 && b <= 0xF4) {
                if (b == 0xF0) lower = 0x90;
                if (b == 0xF4) upper = 0x8F;
                need = 3, cp = b & 7;
            } else {
                memcpy(out + o, "\xef\xbf\xbd", 3), o += 3;
            }
            continue;
        }
        if (b < lower || b > upper) {
            cp = 0, need = seen = 0, lower = 0x80, upper = 0xBF;
            memcpy(out + o, "\xef\xbf\xbd", 3), o += 3;
            i--; /* the byte is read again */
            continue;
        }
        lower = 0x80, upper = 0xBF;
        cp = cp << 6 | (b & 0x3F);
        if (++seen == need) {
            if (cp < 0x800) out[o++] = (char)(0xC0 | cp >> 6), out[o++] = (char)(0x80 | (cp & 63));
            else if (cp < 0x10000) o += utf8_put(cp, out + o);
            else {
                out[o++] = (char)(0xF0 | cp >> 18), out[o++] = (char)(0x80 | ((cp >> 12) & 63));
                out[o++] = (char)(0x80 | ((cp >> 6) & 63)), out[o++] = (char)(0x80 | (cp & 63));
            }
            cp = 0, need = seen = 0;
        }
    }
    if (need) memcpy(out + o, "\xef\xbf\xbd", 3), o += 3;
    return o;
}

/* A failed check: say which, on what, and stop (libFuzzer saves the input). */
static void fail(int which, const char *what, const uint8_t *data, size_t size) {
    fprintf(stderr, "fuzz_tokenizer: vocabulary %d: %s; input (%zu bytes):", which, what, size);
    for (size_t i = 0; i < size && i < 96; i++) fprintf(stderr, " %02x", data[i]);
    fprintf(stderr, "\n");
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    init();
    if (size < 1) return 0;
    int which = data[0] % n_vocabs;
    bool special = (data[0] / n_vocabs) & 1;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    const wf_vocab *v = vocabs[which];
    int32_t *ids = NULL;
    size_t n = 0;
    wf_error err = {0};
    wf_status st = special ? wf_tokenize(v, text, len, false, true, &ids, &n, &err)
                           : wf_tokenize_text(v, text, len, false, NULL, 0, &ids, &n, &err);
    if (st != WF_OK) {
        /* only out of memory may fail: every byte has a token */
        fprintf(stderr, "tokenize failed on vocabulary %d: %s\n", which, err.msg);
        abort();
    }
    int32_t nv = wf_vocab_n_tokens(v);
    size_t cap = 3 * ((size_t)wf_vocab_max_token_len(v) + 4);
    char *raw = malloc(n * cap + 1), *dt = malloc(n * cap + 8);
    if (!raw || !dt) abort();
    size_t nr = 0, nd = 0;
    wf_detok d;
    wf_detok_init(&d);
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= nv) fail(which, "id out of range", data, size);
        int32_t k = wf_token_to_bytes(v, ids[i], raw + nr, cap);
        if (k < 0 || (size_t)k > cap) fail(which, "token bytes", data, size);
        nr += (size_t)k;
        int64_t w = wf_detok_push(&d, v, ids[i], dt + nd, cap);
        if (w < 0) fail(which, "detok push", data, size);
        nd += (size_t)w;
    }
    int64_t w = wf_detok_flush(&d, dt + nd, cap);
    if (w < 0) fail(which, "detok flush", data, size);
    nd += (size_t)w;
    if (!valid_utf8((const unsigned char *)dt, nd)) fail(which, "detokenized text is not UTF-8", data, size);
    char *clean = malloc(3 * len + 4);
    if (!clean) abort();
    size_t cl = whatwg_clean((const unsigned char *)text, len, clean);
    bool has_space_char = cl >= 3 && memmem(clean, cl, "\xe2\x96\x81", 3);
    if (!special && exact[which] && !(which == N_BPE_PRE && has_space_char)) {
        if (nr != cl || memcmp(raw, clean, cl)) fail(which, "decode(encode(x)) != x (ill-formed bytes as U+FFFD)", data, size);
        if (nd != cl || memcmp(dt, clean, cl)) fail(which, "streaming decode != x (ill-formed bytes as U+FFFD)", data, size);
    }
    if (!special && !exact[which] && which < N_BPE_PRE) { /* qwen2: NFC; ASCII is its own NFC */
        bool ascii = true;
        for (size_t i = 0; i < len && ascii; i++) ascii = (unsigned char)text[i] < 0x80;
        if (ascii && (nr != len || memcmp(raw, text, len))) fail(which, "qwen2: decode(encode(ascii)) != x", data, size);
    }
    free(clean);
    free(raw);
    free(dt);
    free(ids);
    return 0;
}

static const char *const fuzz_dict[] = {"<|endoftext|>", "<|im_start|>", "<s>", "</s>", "\xe2\x96\x81", "\xc3\xa9", "e\xcc\x81",
                                        "\xef\xbf\xbd", "\xed\xa0\x80", "\xf0\x9f\x98\x80", "\r\n", "    ", "'s", "'ll", "123456",
                                        "中文", "\t", NULL};
#define FUZZ_DICT fuzz_dict
#include "fuzz_main.h"
