/* test_tokenizer.c — tokenizer tests.
 *
 *   test_tokenizer            synthetic vocabularies built in memory: BPE
 *                             merge order, SentencePiece scores and byte
 *                             fallback, special tokens on/off, streaming
 *                             detokenization of split and invalid UTF-8,
 *                             sanitising invalid UTF-8 (overlongs,
 *                             surrogates, truncation, > U+10FFFF) and
 *                             Unicode normalization (tokenizer.ggml.normalizer).
 *   test_tokenizer vectors    every test vector of $WAFER_SHARED/vocab
 *                             (llama.cpp's ggml-vocab-*.gguf.inp/.out) must
 *                             match exactly, and decode(encode(x)) == x.
 *                             Exit 77 when the folder is absent.
 *   test_tokenizer bench F [GGUF...]  tokenize file F with every shared vocab
 *                             (and the GGUF files named), print MB/s.
 *
 * Expected ids in the synthetic cases are worked out by hand from the merge
 * ranks / scores, not taken from wafer's output.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include "base/common.h"
#include "format/gguf.h"
#include "text/tokenizer.h"
#include "text/tok_int.h" /* pre-tokenizer internals */

#include <dirent.h>
#include <stdbool.h>
#include <string.h>

/* ---- a minimal GGUF v3 writer for in-memory test vocabularies ---------- */

typedef struct gbuf {
    unsigned char *p;
    size_t n, cap;
    uint64_t n_kv;
} gbuf;

static void g_put(gbuf *b, const void *d, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 1024;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void g_u32(gbuf *b, uint32_t x) { g_put(b, &x, 4); }
static void g_u64(gbuf *b, uint64_t x) { g_put(b, &x, 8); }
static void g_str(gbuf *b, const char *s) { g_u64(b, strlen(s)); g_put(b, s, strlen(s)); }
static void kv_str(gbuf *b, const char *k, const char *v) { g_str(b, k); g_u32(b, WF_GGUF_STRING); g_str(b, v); b->n_kv++; }
static void kv_u32(gbuf *b, const char *k, uint32_t v) { g_str(b, k); g_u32(b, WF_GGUF_UINT32); g_u32(b, v); b->n_kv++; }
static void kv_bool(gbuf *b, const char *k, bool v) { g_str(b, k); g_u32(b, WF_GGUF_BOOL); unsigned char c = v; g_put(b, &c, 1); b->n_kv++; }
static void kv_strs(gbuf *b, const char *k, char **v, size_t n) {
    g_str(b, k); g_u32(b, WF_GGUF_ARRAY); g_u32(b, WF_GGUF_STRING); g_u64(b, n);
    for (size_t i = 0; i < n; i++) g_str(b, v[i]);
    b->n_kv++;
}
static void kv_arr(gbuf *b, const char *k, wf_gguf_vtype t, const void *d, size_t n) {
    g_str(b, k); g_u32(b, WF_GGUF_ARRAY); g_u32(b, t); g_u64(b, n); g_put(b, d, n * 4); b->n_kv++;
}
/* Prepend the header once all key/values are in. */
static unsigned char *g_finish(gbuf *kv, size_t *size) {
    gbuf h = {0};
    g_u32(&h, WF_GGUF_MAGIC); g_u32(&h, 3); g_u64(&h, 0); g_u64(&h, kv->n_kv);
    g_put(&h, kv->p, kv->n);
    while (h.n % 32) { unsigned char z = 0; g_put(&h, &z, 1); }
    free(kv->p);
    *size = h.n;
    return h.p;
}

/* GPT-2 byte -> unicode, written out from the published definition. */
static void gpt2_byte_str(int b, char *out) {
    int cp;
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)) cp = b;
    else {
        int n = 0;
        for (int x = 0; x < b; x++)
            if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255))) n++;
        cp = 256 + n;
    }
    if (cp < 0x80) { out[0] = (char)cp; out[1] = 0; }
    else { out[0] = (char)(0xC0 | (cp >> 6)); out[1] = (char)(0x80 | (cp & 0x3F)); out[2] = 0; }
}

typedef struct tvocab {
    unsigned char *mem;
    wf_gguf *g;
    wf_vocab *v;
} tvocab;

static bool tv_open(tvocab *t, gbuf *kv) {
    size_t size;
    wf_error err = {0};
    t->mem = g_finish(kv, &size);
    if (wf_gguf_open_mem(t->mem, size, "test", &t->g, &err) != WF_OK) {
        fprintf(stderr, "gguf: %s\n", err.msg);
        return false;
    }
    if (wf_vocab_load(t->g, &t->v, &err) != WF_OK) {
        fprintf(stderr, "vocab: %s\n", err.msg);
        return false;
    }
    return true;
}
static void tv_close(tvocab *t) {
    wf_vocab_free(t->v);
    wf_gguf_close(t->g);
    free(t->mem);
}

static bool ids_eq(const int32_t *a, size_t na, const int32_t *b, size_t nb) {
    return na == nb && (na == 0 || memcmp(a, b, na * sizeof *a) == 0);
}

static void print_ids(const char *label, const int32_t *ids, size_t n) {
    fprintf(stderr, "  %s:", label);
    for (size_t i = 0; i < n; i++) fprintf(stderr, " %d", ids[i]);
    fputc('\n', stderr);
}

static bool tok_check(const wf_vocab *v, const char *text, size_t len, bool add, bool parse,
                      const int32_t *want, size_t nwant, const char *what) {
    int32_t *ids = NULL;
    size_t n = 0;
    wf_error err = {0};
    wf_status st = wf_tokenize(v, text, len, add, parse, &ids, &n, &err);
    bool ok = st == WF_OK && ids_eq(ids, n, want, nwant);
    CHECK(ok, "%s", what);
    if (!ok) {
        if (st != WF_OK) fprintf(stderr, "  error: %s\n", err.msg);
        print_ids("want", want, nwant);
        print_ids("got ", ids, n);
    }
    free(ids);
    return ok;
}

/* Decode a whole id sequence with the streaming detokenizer. */
static char *detok_all(const wf_vocab *v, const int32_t *ids, size_t n, bool strip, size_t *len) {
    size_t cap = 3 * ((size_t)wf_vocab_max_token_len(v) + 4);
    char *out = malloc(n * cap + 8);
    size_t o = 0;
    wf_detok d;
    wf_detok_init(&d);
    d.strip_space = strip;
    for (size_t i = 0; i < n; i++) {
        int64_t w = wf_detok_push(&d, v, ids[i], out + o, cap);
        if (w < 0) { free(out); return NULL; }
        o += (size_t)w;
    }
    int64_t w = wf_detok_flush(&d, out + o, 8);
    if (w > 0) o += (size_t)w;
    out[o] = 0;
    *len = o;
    return out;
}

/* ---- synthetic byte-level BPE ------------------------------------------ */

static void test_bpe_synthetic(void) {
    gbuf kv = {0};
    char *toks[300];
    char bytestr[256][4];
    int n = 0;
    for (int b = 0; b < 256; b++) { gpt2_byte_str(b, bytestr[b]); toks[n++] = bytestr[b]; }
    toks[n++] = "ll";            /* 256 */
    toks[n++] = "he";            /* 257 */
    toks[n++] = "hell";          /* 258 */
    toks[n++] = "aa";            /* 259 */
    toks[n++] = "<|im_start|>";  /* 260 control */
    toks[n++] = "<|user|>";      /* 261 user-defined */
    toks[n++] = "<|endoftext|>"; /* 262 control, eos */
    toks[n++] = "\xc3\x83\xc2\xa9"; /* 263: bytes C3 A9 = "é" (encoded: Ã ©) */
    char *merges[] = {"l l", "h e", "he ll", "a a", "\xc3\x83 \xc2\xa9"};
    int32_t types[300];
    for (int i = 0; i < n; i++) types[i] = 1;
    types[260] = 3; types[261] = 4; types[262] = 3;
    kv_str(&kv, "tokenizer.ggml.model", "gpt2");
    kv_str(&kv, "tokenizer.ggml.pre", "gpt-2");
    kv_strs(&kv, "tokenizer.ggml.tokens", toks, (size_t)n);
    kv_arr(&kv, "tokenizer.ggml.token_type", WF_GGUF_INT32, types, (size_t)n);
    kv_strs(&kv, "tokenizer.ggml.merges", merges, 5);
    kv_u32(&kv, "tokenizer.ggml.bos_token_id", 262);
    kv_u32(&kv, "tokenizer.ggml.eos_token_id", 262);
    tvocab t = {0};
    bool ok = tv_open(&t, &kv);
    CHECK(ok, "open synthetic BPE vocab");
    if (!ok) return;
    const wf_vocab *v = t.v;
    CHECK(wf_vocab_n_tokens(v) == n, "n_tokens %d", wf_vocab_n_tokens(v));
    CHECK(wf_vocab_eos(v) == 262 && wf_vocab_is_eog(v, 262), "eos/eog");
    CHECK(!wf_vocab_is_eog(v, 257), "normal token is not eog");

    /* "hello": l l (rank 0) -> h e (1) -> he ll (2) -> [hell, o] */
    { int32_t w[] = {258, 'o'}; tok_check(v, "hello", 5, false, false, w, 2, "hello merges"); }
    /* "hel lo" pre-splits into "hel", " lo": no "ll" across words */
    {
        /* byte ' ' is GPT-2 non-printable #32 -> U+0120 "Ġ", its token id is the byte value 32 */
        int32_t w[] = {257, 'l', 32, 'l', 'o'};
        tok_check(v, "hel lo", 6, false, false, w, 5, "no merge across pre-tokenizer words");
    }
    /* leftmost tie-break: "aaaaa" -> aa aa a */
    { int32_t w[] = {259, 259, 'a'}; tok_check(v, "aaaaa", 5, false, false, w, 3, "leftmost tie-break"); }
    /* multi-byte char merged through its byte tokens */
    { int32_t w[] = {263}; tok_check(v, "\xc3\xa9", 2, false, false, w, 1, "byte-level merge of U+00E9"); }
    /* invalid UTF-8 becomes U+FFFD = EF BF BD before BPE (no merges: 3 byte tokens) */
    { int32_t w[] = {0xEF, 0xBF, 0xBD}; tok_check(v, "\xff", 1, false, false, w, 3, "invalid byte -> U+FFFD"); }
    /* special tokens */
    {
        const char *s = "<|im_start|>he";
        int32_t on[] = {260, 257};
        tok_check(v, s, strlen(s), false, true, on, 2, "control token parsed with parse_special");
        int32_t *ids; size_t ni;
        wf_tokenize(v, s, strlen(s), false, false, &ids, &ni, NULL);
        bool has = false;
        for (size_t i = 0; i < ni; i++) has |= ids[i] == 260;
        CHECK(!has && ni > 2, "control token text stays plain text without parse_special");
        size_t dl;
        char *d = detok_all(v, ids, ni, false, &dl);
        CHECK(d && dl == strlen(s) && !memcmp(d, s, dl), "plain special text round-trips");
        free(d);
        free(ids);
        const char *u = "he<|user|>he";
        int32_t uw[] = {257, 261, 257};
        tok_check(v, u, strlen(u), false, false, uw, 3, "user-defined token split even without parse_special");
        int32_t aw[] = {257};
        tok_check(v, "he", 2, true, false, aw, 1, "gpt2 vocab: no BOS unless add_bos_token");
    }
    /* a long word: O(n log n) merging, still correct */
    {
        size_t L = 200001;
        char *s = malloc(L);
        memset(s, 'a', L);
        int32_t *ids; size_t ni;
        wf_status st = wf_tokenize(v, s, L, false, false, &ids, &ni, NULL);
        bool ok2 = st == WF_OK && ni == L / 2 + 1 && ids[0] == 259 && ids[ni - 2] == 259 && ids[ni - 1] == 'a';
        CHECK(ok2, "200001 x 'a' -> 100000 x aa + a (got %zu ids)", ni);
        free(ids);
        free(s);
    }
    /* streaming detokenizer */
    {
        char out[64];
        wf_detok d;
        wf_detok_init(&d);
        int64_t a = wf_detok_push(&d, v, 0xC3, out, sizeof out); /* lead byte: held */
        CHECK(a == 0 && d.n_pending == 1, "lead byte is held (%lld)", (long long)a);
        int64_t b = wf_detok_push(&d, v, 0xA9, out, sizeof out);
        CHECK(b == 2 && !memcmp(out, "\xc3\xa9", 2), "completed char is emitted");
        /* 4-byte emoji F0 9F 98 80 split 1 + 1 + 2 */
        char buf[64]; size_t o = 0;
        int32_t seq[] = {0xF0, 0x9F, 0x98, 0x80};
        for (int i = 0; i < 4; i++) { int64_t w = wf_detok_push(&d, v, seq[i], buf + o, 64 - o); o += (size_t)(w > 0 ? w : 0); }
        CHECK(o == 4 && !memcmp(buf, "\xf0\x9f\x98\x80", 4), "4-byte char split over 4 tokens");
        /* stray continuation byte -> U+FFFD */
        int64_t c = wf_detok_push(&d, v, 0xA9, out, sizeof out);
        CHECK(c == 3 && !memcmp(out, "\xef\xbf\xbd", 3), "stray continuation -> U+FFFD");
        /* lead byte followed by ASCII: U+FFFD then the ASCII */
        wf_detok_push(&d, v, 0xE2, out, sizeof out);
        int64_t e = wf_detok_push(&d, v, 'x', out, sizeof out);
        CHECK(e == 4 && !memcmp(out, "\xef\xbf\xbdx", 4), "broken sequence -> U+FFFD + x");
        /* surrogate ED A0 80: three maximal subparts -> three U+FFFD */
        o = 0;
        int32_t sur[] = {0xED, 0xA0, 0x80};
        for (int i = 0; i < 3; i++) { int64_t w = wf_detok_push(&d, v, sur[i], buf + o, 64 - o); o += (size_t)(w > 0 ? w : 0); }
        CHECK(o == 9 && !memcmp(buf, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 9), "surrogate -> 3 x U+FFFD (%zu)", o);
        /* overlong C0 AF -> two U+FFFD */
        o = 0;
        int32_t ovl[] = {0xC0, 0xAF};
        for (int i = 0; i < 2; i++) { int64_t w = wf_detok_push(&d, v, ovl[i], buf + o, 64 - o); o += (size_t)(w > 0 ? w : 0); }
        CHECK(o == 6, "overlong -> 2 x U+FFFD (%zu)", o);
        /* pending at the end -> flush gives U+FFFD */
        wf_detok_push(&d, v, 0xF0, out, sizeof out);
        wf_detok_push(&d, v, 0x9F, out, sizeof out);
        int64_t f = wf_detok_flush(&d, out, sizeof out);
        CHECK(f == 3 && !memcmp(out, "\xef\xbf\xbd", 3) && d.n_pending == 0, "flush of pending -> U+FFFD");
        /* too small a buffer: -1 and no state change */
        wf_detok_push(&d, v, 0xC3, out, sizeof out);
        int64_t g = wf_detok_push(&d, v, 0xA9, out, 1);
        CHECK(g == -1 && d.n_pending == 1, "cap too small -> -1, state kept");
        g = wf_detok_push(&d, v, 0xA9, out, sizeof out);
        CHECK(g == 2, "retry after -1 works");
        /* token_to_bytes */
        char tb[8];
        int32_t r = wf_token_to_bytes(v, 32, tb, sizeof tb);
        CHECK(r == 1 && tb[0] == ' ', "Ġ decodes to a space");
        r = wf_token_to_bytes(v, 263, tb, 1);
        CHECK(r == 2 && (unsigned char)tb[0] == 0xC3, "token_to_bytes reports full length when cap is short");
        CHECK(wf_token_to_bytes(v, -1, tb, 8) < 0 && wf_token_to_bytes(v, n, tb, 8) < 0, "invalid id");
    }
    /* the longest token spelling a prefix of the bytes (worked out from the
     * token list above): never a control token, user-defined ones count */
    {
        int32_t len = 0;
        CHECK(wf_vocab_longest_token(v, "hello", 5, &len) == 258 && len == 4, "longest: hello -> hell");
        CHECK(wf_vocab_longest_token(v, "hex", 3, &len) == 257 && len == 2, "longest: hex -> he");
        CHECK(wf_vocab_longest_token(v, "hel", 3, &len) == 257 && len == 2, "longest: hel -> he (no hel)");
        CHECK(wf_vocab_longest_token(v, "<|im_start|>", 12, &len) == '<' && len == 1, "longest: not a control token");
        CHECK(wf_vocab_longest_token(v, "<|user|>x", 9, &len) == 261 && len == 8, "longest: a user-defined token");
        CHECK(wf_vocab_longest_token(v, "\xc3\xa9!", 3, &len) == 263 && len == 2, "longest: a 2-byte token");
        CHECK(wf_vocab_longest_token(v, " aaa", 1, &len) == ' ' && len == 1, "longest: within n");
        CHECK(wf_vocab_longest_token(v, "", 0, &len) == -1 && len == 0, "longest: empty");
    }
    tv_close(&t);
}

/* ---- synthetic SentencePiece ------------------------------------------- */

static void test_spm_synthetic(void) {
    gbuf kv = {0};
    char *toks[300];
    char bytes[256][8];
    float scores[300];
    int32_t types[300];
    int n = 0;
    toks[n] = "<unk>"; types[n] = 2; scores[n++] = 0;
    toks[n] = "<s>"; types[n] = 3; scores[n++] = 0;
    toks[n] = "</s>"; types[n] = 3; scores[n++] = 0;
    for (int b = 0; b < 256; b++) {
        snprintf(bytes[b], sizeof bytes[b], "<0x%02X>", b);
        toks[n] = bytes[b]; types[n] = 6; scores[n++] = 0;
    }
    /* 259.. */
    toks[n] = "\xe2\x96\x81"; types[n] = 1; scores[n++] = -10;          /* 259 ▁ */
    toks[n] = "a"; types[n] = 1; scores[n++] = -5;                       /* 260 */
    toks[n] = "b"; types[n] = 1; scores[n++] = -5;                       /* 261 */
    toks[n] = "\xe2\x96\x81" "a"; types[n] = 1; scores[n++] = -1;        /* 262 ▁a */
    toks[n] = "ab"; types[n] = 1; scores[n++] = -2;                      /* 263 */
    toks[n] = "\xe2\x96\x81" "ab"; types[n] = 1; scores[n++] = -3;       /* 264 ▁ab */
    toks[n] = "bb"; types[n] = 1; scores[n++] = -0.5f;                   /* 265 */
    kv_str(&kv, "tokenizer.ggml.model", "llama");
    kv_strs(&kv, "tokenizer.ggml.tokens", toks, (size_t)n);
    kv_arr(&kv, "tokenizer.ggml.scores", WF_GGUF_FLOAT32, scores, (size_t)n);
    kv_arr(&kv, "tokenizer.ggml.token_type", WF_GGUF_INT32, types, (size_t)n);
    kv_u32(&kv, "tokenizer.ggml.bos_token_id", 1);
    kv_u32(&kv, "tokenizer.ggml.eos_token_id", 2);
    kv_bool(&kv, "tokenizer.ggml.add_bos_token", true);
    tvocab t = {0};
    bool ok = tv_open(&t, &kv);
    CHECK(ok, "open synthetic SPM vocab");
    if (!ok) return;
    const wf_vocab *v = t.v;
    /* "ab" -> "▁ab": ▁a (-1) beats ab (-2), then ▁a+b = ▁ab */
    { int32_t w[] = {264}; tok_check(v, "ab", 2, false, false, w, 1, "spm score order"); }
    { int32_t w[] = {1, 264}; tok_check(v, "ab", 2, true, false, w, 2, "spm BOS with add_special"); }
    /* "abb": ▁a(-1) vs ab(-2) vs bb(-0.5): bb first -> ▁ a bb; then ▁a -> [▁a, bb] */
    { int32_t w[] = {262, 265}; tok_check(v, "abb", 3, false, false, w, 2, "spm highest score first"); }
    /* byte fallback: 'x' -> <0x78>, é -> <0xC3><0xA9> */
    { int32_t w[] = {259, 3 + 'x', 3 + 0xC3, 3 + 0xA9}; tok_check(v, "x\xc3\xa9", 3, false, false, w, 4, "byte fallback"); }
    /* </s> as text: only with parse_special */
    { int32_t w[] = {262, 2}; tok_check(v, "a</s>", 5, false, true, w, 2, "spm special parsed"); }
    {
        const char *s = "ab x\xc3\xa9 b";
        int32_t *ids; size_t ni, dl;
        wf_tokenize(v, s, strlen(s), false, false, &ids, &ni, NULL);
        char *d = detok_all(v, ids, ni, wf_vocab_add_space_prefix(v), &dl);
        CHECK(d && dl == strlen(s) && !memcmp(d, s, dl), "spm round trip with strip_space: '%s'", d ? d : "(null)");
        free(d);
        free(ids);
    }
    /* the longest token: U+2581 stands for a space; bytes with no token of
     * their own are the <0xXX> tokens (ids 3 + byte) */
    {
        int32_t len = 0;
        CHECK(wf_vocab_longest_token(v, " abx", 4, &len) == 264 && len == 3, "spm longest: ' ab'");
        CHECK(wf_vocab_longest_token(v, "bbb", 3, &len) == 265 && len == 2, "spm longest: bb");
        CHECK(wf_vocab_longest_token(v, "ba", 2, &len) == 261 && len == 1, "spm longest: b");
        CHECK(wf_vocab_longest_token(v, "\xe4\xb8", 2, &len) == 3 + 0xe4 && len == 1, "spm longest: byte fallback");
        /* a literal U+2581 in the text is not a space */
        CHECK(wf_vocab_longest_token(v, "\xe2\x96\x81" "a", 4, &len) == 3 + 0xe2 && len == 1,
              "spm longest: literal U+2581");
    }
    tv_close(&t);
}

/* ---- pre-tokenizers ------------------------------------------------------ */

/* Split text with pre-tokenizer `name` and compare with the words worked
 * out by hand from the regex list (NULL-terminated). */
static void split_check(const char *name, const char *text, const char *const *want) {
    wf_pretok *p = NULL;
    bool im;
    char warn[160] = "";
    wf_error err = {0};
    wf_status st = wf_pretok_create(name, &p, &im, warn, sizeof warn, &err);
    CHECK(st == WF_OK && !warn[0], "pre-tokenizer %s compiles (%s%s)", name, err.msg, warn);
    if (st != WF_OK) return;
    wf_span_buf sp = {0};
    st = wf_pretok_split(p, text, strlen(text), &sp, &err);
    size_t nw = 0;
    while (want[nw]) nw++;
    bool ok = st == WF_OK && sp.n == nw;
    for (size_t i = 0; ok && i < nw; i++)
        ok = sp.s[i].len == strlen(want[i]) && !memcmp(text + sp.s[i].off, want[i], sp.s[i].len);
    CHECK(ok, "pre-tokenizer %s on '%s'", name, text);
    if (!ok) {
        for (size_t i = 0; i < sp.n; i++) fprintf(stderr, "  got [%.*s]\n", (int)sp.s[i].len, text + sp.s[i].off);
    }
    free(sp.s);
    wf_pretok_free(p);
}

static void test_pretok(void) {
    const char *names[] = {"default", "gpt-2", "llama-bpe", "llama3", "qwen2", "deepseek-coder",
                           "deepseek-llm", "starcoder", "refact", "falcon", "mpt", "phi-2",
                           "stablelm2", "command-r", "smaug-bpe", "poro-chat", "olmo", NULL};
    for (int i = 0; names[i]; i++) {
        const char *none[] = {NULL};
        split_check(names[i], "", none);
    }
    const char *t = "Hello  world123456 's\n\n";
    const char *llama3[] = {"Hello", " ", " world", "123", "456", " '", "s", "\n\n", NULL};
    split_check("llama-bpe", t, llama3);
    const char *qwen2[] = {"Hello", " ", " world", "1", "2", "3", "4", "5", "6", " '", "s", "\n\n", NULL};
    split_check("qwen2", t, qwen2);
    const char *gpt2[] = {"Hello", " ", " world", "123456", " '", "s", "\n\n", NULL};
    split_check("gpt-2", t, gpt2);
    const char *star[] = {"Hello", " ", " world", "1", "2", "3", "4", "5", "6", " '", "s", "\n\n", NULL};
    split_check("starcoder", t, star);
    /* llama3 contractions are case-insensitive, gpt2's are not */
    const char *l3c[] = {"I", "'M", " ok", NULL};
    split_check("llama-bpe", "I'M ok", l3c);
    const char *g2c[] = {"I", "'", "M", " ok", NULL};
    split_check("gpt-2", "I'M ok", g2c);
    /* default: punctuation run split first, then digits in threes */
    const char *def[] = {"a", "+=", "123", "45", NULL};
    split_check("default", "a+=12345", def);
    /* deepseek-coder: newlines alone, letters with one leading space, digits single */
    /* ('=' is a math symbol, not \p{P}: it stays in the gap " = ") */
    const char *dsc[] = {"\n", "x", " = ", "4", "2", ";", NULL};
    split_check("deepseek-coder", "\nx = 42;", dsc);
    /* deepseek-llm: letters, ASCII punctuation, CJK run, digits in sequence */
    const char *dsl[] = {"Hello", ",", " ", "\xe4\xb8\x96\xe7\x95\x8c", " ", "123", NULL};
    split_check("deepseek-llm", "Hello, \xe4\xb8\x96\xe7\x95\x8c 123", dsl);
    /* U+0085 (NEL) counts as whitespace like llama.cpp's tables */
    const char *nel[] = {"a", "\xc2\x85", "b", NULL};
    split_check("gpt-2", "a\xc2\x85" "b", nel);
    /* 1 MB of spaces then a letter: no JIT stack trouble */
    {
        size_t L = 1 << 20;
        char *s = malloc(L + 2);
        memset(s, ' ', L);
        s[L] = 'x';
        s[L + 1] = 0;
        wf_pretok *p = NULL;
        bool im;
        wf_pretok_create("llama-bpe", &p, &im, NULL, 0, NULL);
        wf_span_buf sp = {0};
        wf_status st = p ? wf_pretok_split(p, s, L + 1, &sp, NULL) : WF_ERR_INTERNAL;
        CHECK(st == WF_OK && sp.n == 2 && sp.s[0].len == L - 1 && sp.s[1].len == 2, "long whitespace run (%zu words)", sp.n);
        free(sp.s);
        wf_pretok_free(p);
        free(s);
    }
}

/* ---- sanitising hostile UTF-8 ------------------------------------------- */

/* Expected outputs worked out by hand from the Unicode / WHATWG rule: each
 * maximal subpart of an ill-formed sequence (the longest prefix of a valid
 * sequence present, else one byte) -> one U+FFFD (EF BF BD). */
#define FFFD "\xef\xbf\xbd"
static void san_check(const char *in, size_t n, const char *want, size_t nwant, const char *what) {
    char *out = malloc(3 * n + 1);
    size_t o = wf_utf8_sanitize(in, n, out);
    bool ok = o == nwant && !memcmp(out, want, o);
    CHECK(ok, "sanitize: %s", what);
    if (!ok) {
        fprintf(stderr, "  got %zu bytes:", o);
        for (size_t i = 0; i < o; i++) fprintf(stderr, " %02x", (unsigned char)out[i]);
        fputc('\n', stderr);
    }
    size_t vp = wf_utf8_valid_prefix(in, n);
    bool valid = nwant == n && !memcmp(in, want, n);
    CHECK(valid ? vp == n : vp < n, "valid_prefix: %s (%zu of %zu)", what, vp, n);
    free(out);
}
#define SAN(in, want, what) san_check(in, sizeof(in) - 1, want, sizeof(want) - 1, what)

static void test_sanitize(void) {
    SAN("a\xc0\xaf" "b", "a" FFFD FFFD "b", "overlong '/' C0 AF -> 2 x U+FFFD");
    SAN("\xc1\xbf", FFFD FFFD, "overlong C1 BF");
    SAN("\xe0\x80\xaf", FFFD FFFD FFFD, "3-byte overlong '/' -> 3 x U+FFFD");
    SAN("\xf0\x80\x80\xaf", FFFD FFFD FFFD FFFD, "4-byte overlong '/'");
    SAN("x\xed\xa0\x80y", "x" FFFD FFFD FFFD "y", "surrogate D800 -> 3 x U+FFFD");
    SAN("\xed\xbf\xbf", FFFD FFFD FFFD, "surrogate DFFF");
    SAN("\xed\x9f\xbf", "\xed\x9f\xbf", "U+D7FF (just below the surrogates) is valid");
    SAN("x\xe2\x82", "x" FFFD, "truncated 3-byte at the end -> one U+FFFD");
    SAN("\xf0\x9f\x98", FFFD, "truncated 4-byte at the end -> one U+FFFD");
    SAN("\xf0", FFFD, "lone lead at the end");
    SAN(" \xe2\x82 ", " " FFFD " ", "truncated in the middle (space after)");
    SAN("a\xf0\x9f\x98" "b", "a" FFFD "b", "truncated 4-byte in the middle");
    SAN("\xe4\xb8\xe4\xb8\xad", FFFD "\xe4\xb8\xad", "truncated then a valid char: the valid one is kept");
    SAN("\xf4\x90\x80\x80", FFFD FFFD FFFD FFFD, "> U+10FFFF (F4 90 80 80) -> 4 x U+FFFD");
    SAN("\xf5\x80\x80\x80", FFFD FFFD FFFD FFFD, "F5 lead -> 4 x U+FFFD");
    SAN("\xf8\x88\x80\x80\x80", FFFD FFFD FFFD FFFD FFFD, "5-byte form");
    SAN("\xff\xfe", FFFD FFFD, "FF FE");
    SAN("\x80\xbf", FFFD FFFD, "stray continuation bytes");
    SAN("\xc3(", FFFD "(", "lead followed by ASCII");
    SAN("\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80", "valid 4-byte emoji untouched");
    SAN("\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf", "U+10FFFF untouched");
    SAN("\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf", "\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf", "2/3-byte bounds untouched");
    SAN("a\0b", "a\0b", "NUL is a character");
    /* through the tokenizer: no stage may see the overlong as '/' */
    gbuf kv = {0};
    char *toks[256];
    char bytestr[256][4];
    for (int b = 0; b < 256; b++) { gpt2_byte_str(b, bytestr[b]); toks[b] = bytestr[b]; }
    kv_str(&kv, "tokenizer.ggml.model", "gpt2");
    kv_str(&kv, "tokenizer.ggml.pre", "llama-bpe");
    kv_strs(&kv, "tokenizer.ggml.tokens", toks, 256);
    kv_strs(&kv, "tokenizer.ggml.merges", NULL, 0);
    tvocab t = {0};
    if (!tv_open(&t, &kv)) { CHECK(0, "open byte vocab"); return; }
    { int32_t w[] = {'a', 0xEF, 0xBF, 0xBD, 0xEF, 0xBF, 0xBD}; tok_check(t.v, "a\xc0\xaf", 3, false, false, w, 7, "tokenize: overlong -> 2 x U+FFFD, never '/'"); }
    { int32_t w[] = {' ', 0xEF, 0xBF, 0xBD}; tok_check(t.v, " \xe2\x82", 3, false, false, w, 4, "tokenize: ' ' + truncated -> ' ' U+FFFD"); }
    { int32_t w[] = {0xF0, 0x9F, 0x98, 0x80}; tok_check(t.v, "\xf0\x9f\x98\x80", 4, false, false, w, 4, "tokenize: emoji bytes unchanged"); }
    tv_close(&t);
}

/* ---- normalization ------------------------------------------------------- */

/* A byte-level vocabulary with the composed "é" (256, merged from C3 A9) and
 * a user-defined token (257); pre and norm (tokenizer.ggml.normalizer, NULL
 * = absent) vary. */
static bool norm_vocab(tvocab *t, const char *pre, const char *norm) {
    gbuf kv = {0};
    char *toks[258];
    char bytestr[256][4];
    for (int b = 0; b < 256; b++) { gpt2_byte_str(b, bytestr[b]); toks[b] = bytestr[b]; }
    toks[256] = "\xc3\x83\xc2\xa9";
    toks[257] = "<|user|>";
    int32_t types[258];
    for (int i = 0; i < 258; i++) types[i] = 1;
    types[257] = 4;
    char *merges[] = {"\xc3\x83 \xc2\xa9"};
    kv_str(&kv, "tokenizer.ggml.model", "gpt2");
    kv_str(&kv, "tokenizer.ggml.pre", pre);
    if (norm) kv_str(&kv, "tokenizer.ggml.normalizer", norm);
    kv_strs(&kv, "tokenizer.ggml.tokens", toks, 258);
    kv_arr(&kv, "tokenizer.ggml.token_type", WF_GGUF_INT32, types, 258);
    kv_strs(&kv, "tokenizer.ggml.merges", merges, 1);
    return tv_open(t, &kv);
}

static void test_normalize(void) {
    const int32_t E = 256, U = 257;
    tvocab t = {0};
    /* no key, gpt-2: untouched */
    if (norm_vocab(&t, "gpt-2", NULL)) {
        CHECK(!strcmp(wf_vocab_normalizer(t.v), "none"), "gpt-2 default: none");
        { int32_t w[] = {'e', 0xCC, 0x81}; tok_check(t.v, "e\xcc\x81", 3, false, false, w, 3, "no normalizer: decomposed e + U+0301 untouched"); }
        { int32_t w[] = {E}; tok_check(t.v, "\xc3\xa9", 2, false, false, w, 1, "composed é"); }
    } else CHECK(0, "open gpt-2 vocab");
    tv_close(&t);
    /* explicit NFC */
    if (norm_vocab(&t, "gpt-2", "NFC")) {
        const wf_vocab *v = t.v;
        CHECK(!strcmp(wf_vocab_normalizer(v), "NFC") && !wf_vocab_warning(v), "key NFC");
        { int32_t w[] = {E}; tok_check(v, "e\xcc\x81", 3, false, false, w, 1, "NFC: e + U+0301 -> é"); }
        { int32_t w[] = {'x', E, 'y'}; tok_check(v, "xe\xcc\x81y", 5, false, false, w, 3, "NFC inside a word"); }
        { int32_t w[] = {E}; tok_check(v, "\xc3\xa9", 2, false, false, w, 1, "NFC: composed é stays"); }
        /* canonical order: dot above (ccc 230) after dot below (ccc 220); q has no precomposed form */
        { int32_t w[] = {'q', 0xCC, 0xA3, 0xCC, 0x87}; tok_check(v, "q\xcc\x87\xcc\xa3", 5, false, false, w, 5, "NFC reorders combining marks"); }
        /* U+212B ANGSTROM SIGN -> U+00C5 (C3 85), a singleton decomposition */
        { int32_t w[] = {0xC3, 0x85}; tok_check(v, "\xe2\x84\xab", 3, false, false, w, 2, "NFC: U+212B -> U+00C5"); }
        /* HF normalizes the text between added tokens, each piece alone */
        { int32_t w[] = {'e', U, 0xCC, 0x81}; tok_check(v, "e<|user|>\xcc\x81", 11, false, false, w, 4, "NFC per fragment, not across a user token"); }
        { int32_t w[] = {E, 0, 'x'}; tok_check(v, "e\xcc\x81\0x", 5, false, false, w, 3, "NFC with an embedded NUL"); }
        /* sanitising comes first: the U+FFFD is a starter, nothing composes across it */
        { int32_t w[] = {'e', 0xEF, 0xBF, 0xBD, 0xCC, 0x81}; tok_check(v, "e\xff\xcc\x81", 4, false, false, w, 6, "invalid byte then a mark"); }
    } else CHECK(0, "open NFC vocab");
    tv_close(&t);
    /* qwen2 without the key (llama.cpp's files): NFC */
    if (norm_vocab(&t, "qwen2", NULL)) {
        CHECK(!strcmp(wf_vocab_normalizer(t.v), "NFC"), "qwen2 default: NFC");
        { int32_t w[] = {E}; tok_check(t.v, "e\xcc\x81", 3, false, false, w, 1, "qwen2 default NFC"); }
    } else CHECK(0, "open qwen2 vocab");
    tv_close(&t);
    /* qwen2 with "none": the key wins */
    if (norm_vocab(&t, "qwen2", "none")) {
        CHECK(!strcmp(wf_vocab_normalizer(t.v), "none"), "qwen2 + none");
        { int32_t w[] = {'e', 0xCC, 0x81}; tok_check(t.v, "e\xcc\x81", 3, false, false, w, 3, "key none overrides the qwen2 default"); }
    } else CHECK(0, "open qwen2/none vocab");
    tv_close(&t);
    /* NFKC: U+FB01 (ﬁ) -> "fi" */
    if (norm_vocab(&t, "gpt-2", "NFKC")) {
        { int32_t w[] = {'f', 'i'}; tok_check(t.v, "\xef\xac\x81", 3, false, false, w, 2, "NFKC: U+FB01 -> fi"); }
        { int32_t w[] = {E}; tok_check(t.v, "e\xcc\x81", 3, false, false, w, 1, "NFKC composes"); }
    } else CHECK(0, "open NFKC vocab");
    tv_close(&t);
    /* NFD: é -> e + U+0301 */
    if (norm_vocab(&t, "gpt-2", "nfd")) {
        { int32_t w[] = {'e', 0xCC, 0x81}; tok_check(t.v, "\xc3\xa9", 2, false, false, w, 3, "NFD (key case-insensitive): é decomposed"); }
    } else CHECK(0, "open NFD vocab");
    tv_close(&t);
    /* unknown value: warning, untouched */
    if (norm_vocab(&t, "gpt-2", "Lowercase")) {
        CHECK(wf_vocab_warning(t.v) && strstr(wf_vocab_warning(t.v), "Lowercase"), "unknown normalizer warns");
        { int32_t w[] = {'e', 0xCC, 0x81}; tok_check(t.v, "e\xcc\x81", 3, false, false, w, 3, "unknown normalizer: untouched"); }
    } else CHECK(0, "open unknown-normalizer vocab");
    tv_close(&t);
    /* not a string: rejected */
    {
        gbuf kv = {0};
        char *toks[] = {"a"};
        kv_str(&kv, "tokenizer.ggml.model", "gpt2");
        kv_u32(&kv, "tokenizer.ggml.normalizer", 1);
        kv_strs(&kv, "tokenizer.ggml.tokens", toks, 1);
        kv_strs(&kv, "tokenizer.ggml.merges", NULL, 0);
        size_t size;
        unsigned char *mem = g_finish(&kv, &size);
        wf_gguf *g = NULL;
        wf_vocab *v = NULL;
        wf_error err = {0};
        bool opened = wf_gguf_open_mem(mem, size, "bad", &g, &err) == WF_OK;
        CHECK(opened && wf_vocab_load(g, &v, &err) != WF_OK && strstr(err.msg, "normalizer"),
              "non-string normalizer rejected (%s)", err.msg);
        wf_vocab_free(v);
        wf_gguf_close(g);
        free(mem);
    }
}

/* ---- hostile metadata --------------------------------------------------- */

static void test_bad_vocab(void) {
    struct { const char *what; int mode; } cases[] = {
        {"unsupported model", 0}, {"merges missing", 1}, {"scores length mismatch", 2}, {"unknown pre", 3}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        gbuf kv = {0};
        char *toks[] = {"a", "b", "ab"};
        char *merges[] = {"a b"};
        float sc[] = {0, 0};
        int mode = cases[c].mode;
        kv_str(&kv, "tokenizer.ggml.model", mode == 0 ? "bert" : mode == 2 ? "llama" : "gpt2");
        if (mode == 3) kv_str(&kv, "tokenizer.ggml.pre", "no-such-pre");
        kv_strs(&kv, "tokenizer.ggml.tokens", toks, 3);
        if (mode == 3) kv_strs(&kv, "tokenizer.ggml.merges", merges, 1);
        if (mode == 2) kv_arr(&kv, "tokenizer.ggml.scores", WF_GGUF_FLOAT32, sc, 2);
        size_t size;
        unsigned char *mem = g_finish(&kv, &size);
        wf_gguf *g = NULL;
        wf_vocab *v = NULL;
        wf_error err = {0};
        if (wf_gguf_open_mem(mem, size, "bad", &g, &err) != WF_OK) {
            CHECK(0, "open_mem: %s", err.msg);
            free(mem);
            continue;
        }
        wf_status st = wf_vocab_load(g, &v, &err);
        if (mode == 3) {
            CHECK(st == WF_OK && wf_vocab_warning(v) && strstr(wf_vocab_warning(v), "no-such-pre"),
                  "unknown pre-tokenizer falls back with a warning");
            if (st == WF_OK) {
                int32_t w[] = {2};
                tok_check(v, "ab", 2, false, false, w, 1, "fallback vocab works");
            }
        } else {
            CHECK(st != WF_OK && err.msg[0], "%s is rejected (%s)", cases[c].what, err.msg);
        }
        wf_vocab_free(v);
        wf_gguf_close(g);
        free(mem);
    }
}

/* ---- shared test vectors ------------------------------------------------ */

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)n + 1);
    if (fread(p, 1, (size_t)n, f) != (size_t)n) { free(p); fclose(f); return NULL; }
    p[n] = 0;
    fclose(f);
    *len = (size_t)n;
    return p;
}

static const char *k_families[] = {"deepseek-coder", "gpt-2", "llama-spm", "phi-3", "refact",
                                   "starcoder", "qwen2", "llama-bpe", NULL};

static int run_vectors(const char *dir) {
    int n_files = 0;
    for (int fi = 0; k_families[fi]; fi++) {
        char path[1100], pin[1200], pout[1200];
        snprintf(path, sizeof path, "%s/ggml-vocab-%s.gguf", dir, k_families[fi]);
        snprintf(pin, sizeof pin, "%s.inp", path);
        snprintf(pout, sizeof pout, "%s.out", path);
        FILE *probe = fopen(path, "rb");
        if (!probe) {
            bool big = !strcmp(k_families[fi], "qwen2") || !strcmp(k_families[fi], "llama-bpe");
            printf("skip %s: no vocab file%s\n", k_families[fi],
                   big ? " (not shipped in shared/: needs the tokenizer.json converter)" : "");
            continue;
        }
        fclose(probe);
        wf_gguf *g = NULL;
        wf_vocab *v = NULL;
        wf_error err = {0};
        if (wf_gguf_open(path, &g, &err) != WF_OK || wf_vocab_load(g, &v, &err) != WF_OK) {
            CHECK(0, "%s: %s", k_families[fi], err.msg);
            wf_gguf_close(g);
            continue;
        }
        n_files++;
        size_t il, ol;
        char *inp = read_file(pin, &il), *outp = read_file(pout, &ol);
        CHECK(inp && outp, "%s: read .inp/.out", k_families[fi]);
        if (!inp || !outp) { free(inp); free(outp); wf_vocab_free(v); wf_gguf_close(g); continue; }
        const char *sep = "\n__ggml_vocab_test__\n";
        size_t seplen = strlen(sep);
        char *ip = inp, *op = outp;
        int n_cases = 0, n_bad = 0, n_rt_bad = 0;
        for (;;) {
            char *e = memmem(ip, il - (size_t)(ip - inp), sep, seplen);
            if (!e) break;
            size_t tl = (size_t)(e - ip);
            char *nl = strchr(op, '\n');
            if (!nl) { CHECK(0, "%s: .out has fewer lines than .inp", k_families[fi]); break; }
            *nl = 0;
            int32_t want[4096];
            size_t nw = 0;
            for (char *q = op; *q && nw < 4096;) {
                char *end;
                long x = strtol(q, &end, 10);
                if (end == q) break;
                want[nw++] = (int32_t)x;
                q = end;
            }
            int32_t *ids = NULL;
            size_t ni = 0;
            wf_status st = wf_tokenize(v, ip, tl, false, false, &ids, &ni, &err);
            n_cases++;
            if (st != WF_OK || !ids_eq(ids, ni, want, nw)) {
                n_bad++;
                CHECK(0, "%s case %d", k_families[fi], n_cases);
                fprintf(stderr, "  text: '%.*s'\n", (int)tl, ip);
                print_ids("want", want, nw);
                print_ids("got ", ids, ni);
            } else {
                size_t dl;
                char *d = detok_all(v, ids, ni, wf_vocab_add_space_prefix(v), &dl);
                bool rt = d && dl == tl && !memcmp(d, ip, tl);
                if (!rt) {
                    n_rt_bad++;
                    CHECK(0, "%s case %d: decode(encode(x)) != x", k_families[fi], n_cases);
                    fprintf(stderr, "  text: '%.*s'\n  got:  '%s'\n", (int)tl, ip, d ? d : "(null)");
                }
                free(d);
            }
            free(ids);
            ip = e + seplen;
            op = nl + 1;
        }
        printf("%-15s %d cases, %d mismatched, %d round-trip failures\n", k_families[fi], n_cases, n_bad, n_rt_bad);
        CHECK(n_cases > 0, "%s: no cases read", k_families[fi]);
        free(inp);
        free(outp);
        wf_vocab_free(v);
        wf_gguf_close(g);
    }
    CHECK(n_files > 0, "no vocab files found in %s", dir);
    return t_done("test_tokenizer vectors");
}

static int run_bench(const char *dir, const char *file, char **extra, int n_extra) {
    size_t len;
    char *text = read_file(file, &len);
    if (!text) { fprintf(stderr, "cannot read %s\n", file); return 1; }
    int n_fam = 0;
    while (k_families[n_fam]) n_fam++;
    for (int fi = 0; fi < n_fam + n_extra; fi++) {
        char path[1100];
        const char *label = fi < n_fam ? k_families[fi] : strrchr(extra[fi - n_fam], '/') ? strrchr(extra[fi - n_fam], '/') + 1 : extra[fi - n_fam];
        if (fi < n_fam) snprintf(path, sizeof path, "%s/ggml-vocab-%s.gguf", dir, k_families[fi]);
        else snprintf(path, sizeof path, "%s", extra[fi - n_fam]);
        wf_gguf *g = NULL;
        wf_vocab *v = NULL;
        if (wf_gguf_open(path, &g, NULL) != WF_OK) continue;
        if (wf_vocab_load(g, &v, NULL) != WF_OK) { wf_gguf_close(g); continue; }
        int32_t *ids;
        size_t n;
        double t0 = wf_time_now();
        wf_status st = wf_tokenize(v, text, len, false, false, &ids, &n, NULL);
        double t1 = wf_time_now();
        if (st == WF_OK) {
            size_t dl;
            char *d = detok_all(v, ids, n, wf_vocab_add_space_prefix(v), &dl);
            double t2 = wf_time_now();
            printf("%-15s %.2f MB -> %zu tokens: tokenize %.3f s (%.1f MB/s), detok %.3f s, round trip %s\n",
                   label, len / 1e6, n, t1 - t0, len / 1e6 / (t1 - t0), t2 - t1,
                   d && dl == len && !memcmp(d, text, len) ? "exact" : "DIFFERS");
            free(d);
            free(ids);
        }
        wf_vocab_free(v);
        wf_gguf_close(g);
    }
    free(text);
    return 0;
}

/* Long words against a plain reference BPE (written here from the rule:
 * merge the adjacent pair of lowest rank, leftmost on ties, until none is
 * left; O(n^2)). "abab...": the rank-0 merges each queue two new pairs while
 * the (b, a) pairs of a worse rank linger, so the heap passes 1.25 n and
 * bpe.c drops its stale pairs (heap_compact) — the path a 7 MB one-word
 * request takes. Random a/b words and a run of one letter too. */
enum { LW_MAX = 300 };
static int lw_rank[LW_MAX][LW_MAX], lw_merged[LW_MAX][LW_MAX];

static size_t lw_reference(const char *w, size_t n, int32_t *ids) {
    for (size_t i = 0; i < n; i++) ids[i] = (unsigned char)w[i];
    for (;;) {
        int best = -1;
        size_t bi = 0;
        for (size_t i = 0; i + 1 < n; i++) {
            int r = lw_rank[ids[i]][ids[i + 1]];
            if (r >= 0 && (best < 0 || r < best)) best = r, bi = i;
        }
        if (best < 0) return n;
        ids[bi] = lw_merged[ids[bi]][ids[bi + 1]];
        memmove(ids + bi + 1, ids + bi + 2, (n - bi - 2) * sizeof *ids);
        n--;
    }
}

static void test_bpe_long_words(void) {
    static const char *const mg[][2] = {{"a", "b"}, {"ab", "ab"}, {"ab", "a"}, {"b", "a"}, {"abab", "abab"},
                                        {"abab", "ab"}, {"ba", "ba"}, {"a", "a"}, {"b", "b"}, {"aa", "b"},
                                        {"abab", "a"}, {"bb", "a"}, {"abababab", "abab"}, {"aa", "aa"}, {"aab", "ab"}};
    enum { NM = sizeof mg / sizeof mg[0] };
    char bytestr[256][4], names[NM][32], merges_s[NM][64];
    char *toks[256 + NM], *merges[NM];
    int n = 0;
    for (int b = 0; b < 256; b++) { gpt2_byte_str(b, bytestr[b]); toks[n++] = bytestr[b]; }
    for (int i = 0; i < LW_MAX; i++)
        for (int j = 0; j < LW_MAX; j++) lw_rank[i][j] = -1;
    for (int r = 0; r < NM; r++) {
        snprintf(names[r], sizeof names[r], "%s%s", mg[r][0], mg[r][1]);
        snprintf(merges_s[r], sizeof merges_s[r], "%s %s", mg[r][0], mg[r][1]);
        merges[r] = merges_s[r];
        int id[3] = {-1, -1, -1};
        const char *want[3] = {mg[r][0], mg[r][1], names[r]};
        for (int k = 0; k < 3; k++)
            for (int t = 0; t < n && id[k] < 0; t++)
                if (!strcmp(toks[t], want[k])) id[k] = t;
        if (id[2] < 0) { toks[n] = names[r]; id[2] = n++; }
        lw_rank[id[0]][id[1]] = r;
        lw_merged[id[0]][id[1]] = id[2];
    }
    int32_t types[256 + NM];
    for (int i = 0; i < n; i++) types[i] = 1;
    gbuf kv = {0};
    kv_str(&kv, "tokenizer.ggml.model", "gpt2");
    kv_str(&kv, "tokenizer.ggml.pre", "gpt-2");
    kv_strs(&kv, "tokenizer.ggml.tokens", toks, (size_t)n);
    kv_arr(&kv, "tokenizer.ggml.token_type", WF_GGUF_INT32, types, (size_t)n);
    kv_strs(&kv, "tokenizer.ggml.merges", merges, NM);
    tvocab t = {0};
    bool ok = tv_open(&t, &kv);
    CHECK(ok, "open the long-word BPE vocab");
    if (!ok) return;
    enum { LEN = 6000 };
    char *w = malloc(LEN);
    int32_t *want = malloc(LEN * sizeof *want);
    t_rng rng = {7};
    for (int k = 0; k < 24; k++) {
        size_t len = k == 0 ? LEN : k == 1 ? LEN - 1 : 1 + (size_t)(t_next(&rng) % LEN);
        for (size_t i = 0; i < len; i++)
            w[i] = k == 0 ? "ab"[i % 2] : k == 1 ? 'a' : "ab"[t_next(&rng) % (k % 3 ? 2 : 1 + (i / 64) % 2)];
        size_t nw = lw_reference(w, len, want);
        char what[64];
        snprintf(what, sizeof what, "long word %d (%zu bytes, %zu tokens) as the reference BPE", k, len, nw);
        tok_check(t.v, w, len, false, false, want, nw, what);
    }
    free(w);
    free(want);
    tv_close(&t);
}

int main(int argc, char **argv) {
    if (argc >= 2 && (!strcmp(argv[1], "vectors") || !strcmp(argv[1], "bench"))) {
        const char *sh = t_shared_dir();
        char dir[1024];
        if (!sh) { printf("skip: WAFER_SHARED not set\n"); return 77; }
        snprintf(dir, sizeof dir, "%s/vocab", sh);
        DIR *d = opendir(dir);
        if (!d) { printf("skip: %s absent\n", dir); return 77; }
        closedir(d);
        if (!strcmp(argv[1], "bench")) return argc >= 3 ? run_bench(dir, argv[2], argv + 3, argc - 3) : 2;
        return run_vectors(dir);
    }
    test_bpe_synthetic();
    test_bpe_long_words();
    test_spm_synthetic();
    test_bad_vocab();
    test_sanitize();
    test_normalize();
    test_pretok();
    return t_done("test_tokenizer");
}
