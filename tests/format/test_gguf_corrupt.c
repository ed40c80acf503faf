/* test_gguf_corrupt.c — the GGUF reader against broken and hostile files:
 * truncation at every byte, bad magic/version, absurd counts and lengths,
 * bad shapes, offsets, types, alignments, duplicates, and seeded random
 * mutations. Every case must fail with a message (or open cleanly) and never
 * crash; the _san build makes ASan/UBSan the judge of "never crash". Buffers
 * are malloc'd at their exact size so any over-read is caught. */
#include "format/gguf.h"
#include "format/quant.h"
#include "testutil.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NAME "corrupt.gguf"

/* ---- a tiny byte builder (independent of the writer) ------------------ */

typedef struct buf {
    uint8_t *p;
    size_t n, cap;
} buf;

static void b_raw(buf *b, const void *p, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
    }
    if (n) memcpy(b->p + b->n, p, n);
    b->n += n;
}
static void b_le(buf *b, uint64_t v, int k) {
    uint8_t t[8];
    for (int i = 0; i < k; i++) t[i] = (uint8_t)(v >> (8 * i));
    b_raw(b, t, (size_t)k);
}
static void b_u32(buf *b, uint32_t v) { b_le(b, v, 4); }
static void b_u64(buf *b, uint64_t v) { b_le(b, v, 8); }
static void b_str(buf *b, const char *s) {
    b_u64(b, strlen(s));
    b_raw(b, s, strlen(s));
}
static void b_pad(buf *b, size_t a) {
    while (b->n % a) b_le(b, 0, 1);
}
static void b_header(buf *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    b_u32(b, WF_GGUF_MAGIC);
    b_u32(b, version);
    b_u64(b, n_tensors);
    b_u64(b, n_kv);
}
static void b_kv_u32(buf *b, const char *k, uint32_t v) {
    b_str(b, k);
    b_u32(b, WF_GGUF_UINT32);
    b_u32(b, v);
}
static void b_tensor(buf *b, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type, uint64_t off) {
    b_str(b, name);
    b_u32(b, n_dims);
    for (uint32_t d = 0; d < n_dims; d++) b_u64(b, ne[d]);
    b_u32(b, type);
    b_u64(b, off);
}
static void b_zeros(buf *b, size_t n) {
    for (size_t i = 0; i < n; i++) b_le(b, 0, 1);
}

/* Open a private exact-size copy; returns the status, message in err. */
static wf_status try_open(const uint8_t *p, size_t n, wf_error *err) {
    uint8_t *copy = malloc(n ? n : 1);
    if (n) memcpy(copy, p, n);
    wf_gguf *g = NULL;
    wf_error_clear(err);
    wf_status s = wf_gguf_open_mem(copy, n, NAME, &g, err);
    if (s == WF_OK) {
        /* touch everything the handle exposes */
        char tmp[256];
        for (int64_t i = 0; i < wf_gguf_n_kv(g); i++) {
            wf_gguf_format_value(g, i, tmp, sizeof tmp);
            wf_gguf_vtype et;
            uint64_t cnt;
            if (wf_gguf_arr_info_at(g, i, &et, &cnt) == WF_OK && et == WF_GGUF_STRING) {
                for (uint64_t j = 0; j < cnt; j++) {
                    wf_str s2;
                    if (wf_gguf_arr_str(g, i, j, &s2) == WF_OK && s2.len) tmp[0] ^= s2.ptr[s2.len - 1];
                }
            }
        }
        uint8_t acc = 0;
        for (int64_t i = 0; i < wf_gguf_n_tensors(g); i++) {
            const wf_gguf_tensor *t = wf_gguf_tensor_at(g, i);
            for (uint64_t j = 0; j < t->nbytes; j++) acc ^= ((const uint8_t *)t->data)[j];
        }
        (void)acc;
        wf_gguf_close(g);
    } else {
        CHECK(g == NULL, "handle must stay NULL on failure");
        CHECK(err->msg[0] != '\0', "failure without a message (status %d)", s);
        CHECK(strstr(err->msg, NAME) != NULL, "message does not name the file: %s", err->msg);
    }
    free(copy);
    return s;
}

static void expect_fail(buf *b, const char *needle, const char *what) {
    wf_error err;
    wf_status s = try_open(b->p, b->n, &err);
    CHECK(s != WF_OK, "%s: opened but should fail", what);
    if (s != WF_OK && needle)
        CHECK(strstr(err.msg, needle) != NULL, "%s: message lacks '%s': %s", what, needle, err.msg);
    free(b->p);
    memset(b, 0, sizeof *b);
}

static void expect_ok(buf *b, const char *what) {
    wf_error err;
    wf_status s = try_open(b->p, b->n, &err);
    CHECK(s == WF_OK, "%s: %s", what, err.msg);
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* ---- the valid sample, made by the writer --------------------------------- */

static uint8_t *sample(size_t *size, uint64_t *data_end) {
    wf_error err = {0};
    wf_gguf_writer *w;
    wf_gguf_writer_create(&w, &err);
    wf_gguf_writer_set_str(w, "general.architecture", "llama", 5);
    wf_gguf_writer_set_u32(w, "llama.block_count", 2);
    wf_gguf_writer_set_f32(w, "llama.rope.freq_base", 10000.0f);
    wf_gguf_writer_set_bool(w, "flag", true);
    wf_str toks[4] = {{"a", 1}, {"", 0}, {"<s>", 3}, {"xyz", 3}};
    wf_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, 4);
    float scores[4] = {0, -1, -2, -3};
    wf_gguf_writer_set_arr(w, "tokenizer.ggml.scores", WF_GGUF_FLOAT32, scores, 4);
    wf_gguf_writer_set_alignment(w, 16);
    static float a[12], c[3];
    static uint8_t q[34 * 2];
    for (int i = 0; i < 12; i++) a[i] = (float)i;
    int64_t ne_a[2] = {4, 3}, ne_q[2] = {32, 2}, ne_c[1] = {3};
    wf_gguf_writer_add_tensor(w, "a", WF_TYPE_F32, 2, ne_a, a, sizeof a, &err);
    wf_gguf_writer_add_tensor(w, "q", WF_TYPE_Q8_0, 2, ne_q, q, sizeof q, &err);
    wf_gguf_writer_add_tensor(w, "c", WF_TYPE_F32, 1, ne_c, c, sizeof c, &err);
    char path[] = "/tmp/wf_gguf_corrupt_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    CHECK(wf_gguf_writer_write(w, path, NULL, NULL, &err) == WF_OK, "write sample: %s", err.msg);
    wf_gguf_writer_free(w);
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    *size = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc(*size);
    CHECK(fread(p, 1, *size, f) == *size, "read sample");
    fclose(f);
    remove(path);
    /* where the last tensor's data ends: the file may be cut after it */
    wf_gguf *g = NULL;
    CHECK(wf_gguf_open_mem(p, *size, NAME, &g, &err) == WF_OK, "sample opens: %s", err.msg);
    *data_end = 0;
    for (int64_t i = 0; g && i < wf_gguf_n_tensors(g); i++) {
        const wf_gguf_tensor *t = wf_gguf_tensor_at(g, i);
        uint64_t e = wf_gguf_data_offset(g) + t->offset + t->nbytes;
        if (e > *data_end) *data_end = e;
    }
    wf_gguf_close(g);
    return p;
}

static void test_truncation(const uint8_t *p, size_t size, uint64_t data_end) {
    int bad = 0;
    for (size_t cut = 0; cut <= size; cut++) {
        wf_error err;
        wf_status s = try_open(p, cut, &err);
        bool want_ok = cut >= data_end;
        if ((s == WF_OK) != want_ok) {
            bad++;
            CHECK(false, "cut at %zu of %zu (data end %llu): status %d %s", cut, size,
                  (unsigned long long)data_end, s, err.msg);
        }
        if (s != WF_OK) /* every cut is reported as some kind of "too short" */
            CHECK(strstr(err.msg, "truncated") || strstr(err.msg, "exceeds") || strstr(err.msg, "fit") ||
                      strstr(err.msg, "past end") || strstr(err.msg, "past the end") ||
                      strstr(err.msg, "not a GGUF file (only"),
                  "cut at %zu: %s", cut, err.msg);
        if (bad > 10) break;
    }
    CHECK(data_end < size, "sample has trailing padding (%llu < %zu)", (unsigned long long)data_end, size);
}

static void test_header(void) {
    buf b = {0};
    b_u32(&b, 0x46554748); /* "HGUF" */
    b_u32(&b, 3);
    b_u64(&b, 0);
    b_u64(&b, 0);
    expect_fail(&b, "bad magic", "magic");
    b_header(&b, 1, 0, 0);
    expect_fail(&b, "version 1", "v1");
    b_header(&b, 99, 0, 0);
    expect_fail(&b, "version 99", "v99");
    b_header(&b, 0x03000000u, 0, 0);
    expect_fail(&b, "big-endian", "big-endian");
    b_header(&b, 3, 0, 0);
    expect_ok(&b, "empty v3 file");
    b_header(&b, 2, 0, 0);
    expect_ok(&b, "empty v2 file");
    expect_fail(&b, "not a GGUF", "zero bytes");
}

static void test_counts(void) {
    const uint64_t big[] = {1ull << 63, 1ull << 40, UINT64_MAX, 1000};
    for (int i = 0; i < 4; i++) {
        buf b = {0};
        b_header(&b, 3, 0, big[i]);
        b_kv_u32(&b, "x", 1);
        expect_fail(&b, "cannot fit", "n_kv");
        b_header(&b, 3, big[i], 1);
        b_kv_u32(&b, "x", 1);
        expect_fail(&b, "cannot fit", "n_tensors");
        b_header(&b, 3, big[i], big[i]);
        expect_fail(&b, "cannot fit", "both");
    }
    buf b = {0};
    /* key length */
    b_header(&b, 3, 0, 1);
    b_u64(&b, 1ull << 63);
    b_zeros(&b, 16);
    expect_fail(&b, "string length", "key length 2^63");
    b_header(&b, 3, 0, 1);
    b_u64(&b, UINT64_MAX);
    b_zeros(&b, 16);
    expect_fail(&b, "string length", "key length 2^64-1");
    /* string value length */
    b_header(&b, 3, 0, 1);
    b_str(&b, "k");
    b_u32(&b, WF_GGUF_STRING);
    b_u64(&b, 1ull << 40);
    b_zeros(&b, 8);
    expect_fail(&b, "string length", "value length");
    /* array counts: numeric (mul overflow and plain too big), strings, arrays */
    const uint32_t elems[] = {WF_GGUF_UINT8, WF_GGUF_UINT32, WF_GGUF_FLOAT64, WF_GGUF_STRING, WF_GGUF_ARRAY,
                              WF_GGUF_BOOL};
    const uint64_t counts[] = {1ull << 62, 1ull << 40, UINT64_MAX, 1ull << 63};
    for (int e = 0; e < 6; e++) {
        for (int c = 0; c < 4; c++) {
            b_header(&b, 3, 0, 1);
            b_str(&b, "arr");
            b_u32(&b, WF_GGUF_ARRAY);
            b_u32(&b, elems[e]);
            b_u64(&b, counts[c]);
            b_zeros(&b, 64);
            expect_fail(&b, "arr", "array count");
        }
    }
    /* nested arrays: fine at depth 2, refused past the depth limit */
    b_header(&b, 3, 0, 1);
    b_str(&b, "nest");
    b_u32(&b, WF_GGUF_ARRAY);
    b_u32(&b, WF_GGUF_ARRAY);
    b_u64(&b, 2);
    b_u32(&b, WF_GGUF_UINT8);
    b_u64(&b, 1);
    b_le(&b, 5, 1);
    b_u32(&b, WF_GGUF_STRING);
    b_u64(&b, 1);
    b_str(&b, "s");
    expect_ok(&b, "nested arrays");
    b_header(&b, 3, 0, 1);
    b_str(&b, "deep");
    b_u32(&b, WF_GGUF_ARRAY);
    for (int d = 0; d < 20; d++) {
        b_u32(&b, WF_GGUF_ARRAY);
        b_u64(&b, 1);
    }
    b_u32(&b, WF_GGUF_UINT8);
    b_u64(&b, 0);
    expect_fail(&b, "nested deeper", "deep nesting");
    /* unknown value type, unknown element type, bad bool, NUL in key */
    b_header(&b, 3, 0, 1);
    b_str(&b, "k");
    b_u32(&b, 13);
    b_zeros(&b, 8);
    expect_fail(&b, "unknown value type 13", "value type");
    b_header(&b, 3, 0, 1);
    b_str(&b, "k");
    b_u32(&b, WF_GGUF_ARRAY);
    b_u32(&b, 77);
    b_u64(&b, 1);
    b_zeros(&b, 8);
    expect_fail(&b, "element type 77", "elem type");
    b_header(&b, 3, 0, 1);
    b_str(&b, "k");
    b_u32(&b, WF_GGUF_BOOL);
    b_le(&b, 2, 1);
    expect_fail(&b, "bool", "bool 2");
    b_header(&b, 3, 0, 1);
    b_u64(&b, 3);
    b_raw(&b, "a\0b", 3);
    b_u32(&b, WF_GGUF_UINT8);
    b_le(&b, 2, 1);
    expect_fail(&b, "NUL", "NUL in key");
}

/* One tensor file: header, optional alignment kv, tensor infos, data. */
static void tensor_file(buf *b, uint32_t n_dims, const uint64_t *ne, uint32_t type, uint64_t off, size_t data) {
    b_header(b, 3, 1, 0);
    b_tensor(b, "blk.0.attn_q.weight", n_dims, ne, type, off);
    b_pad(b, 32);
    b_zeros(b, data);
}

static void test_tensors(void) {
    buf b = {0};
    uint64_t ne[5] = {4, 2, 1, 1, 1};
    tensor_file(&b, 2, ne, WF_TYPE_F32, 0, 32);
    expect_ok(&b, "plain tensor");
    tensor_file(&b, 0, ne, WF_TYPE_F32, 0, 32);
    expect_fail(&b, "0 dimensions", "n_dims 0");
    tensor_file(&b, 5, ne, WF_TYPE_F32, 0, 32);
    expect_fail(&b, "5 dimensions", "n_dims 5");
    uint64_t huge[4] = {1ull << 40, 1ull << 40, 1, 1};
    tensor_file(&b, 2, huge, WF_TYPE_F32, 0, 32);
    expect_fail(&b, "overflows", "ne product overflow");
    uint64_t huge2[4] = {1ull << 32, 1ull << 20, 1, 1}; /* 2^52 elements: bytes overflow? no: past EOF */
    tensor_file(&b, 2, huge2, WF_TYPE_F32, 0, 32);
    expect_fail(&b, "past end of file", "huge but no overflow");
    uint64_t huge3[4] = {1ull << 62, 4, 1, 1};
    tensor_file(&b, 2, huge3, WF_TYPE_F32, 0, 32);
    expect_fail(&b, "overflows", "element count overflows int64");
    uint64_t neg[4] = {1ull << 63, 1, 1, 1};
    tensor_file(&b, 1, neg, WF_TYPE_F32, 0, 32);
    expect_fail(&b, "out of range", "ne 2^63");
    uint64_t q[4] = {33, 1, 1, 1};
    tensor_file(&b, 1, q, WF_TYPE_Q8_0, 0, 64);
    expect_fail(&b, "block size", "ne[0] not a block multiple");
    tensor_file(&b, 2, ne, 99, 0, 32);
    expect_fail(&b, "unknown type id 99", "type 99");
    tensor_file(&b, 2, ne, WF_TYPE_F32, 1ull << 20, 32);
    expect_fail(&b, "past end of file", "offset out of range");
    tensor_file(&b, 2, ne, WF_TYPE_F32, UINT64_MAX - 31, 32);
    expect_fail(&b, "blk.0.attn_q.weight", "offset overflow");
    tensor_file(&b, 2, ne, WF_TYPE_F32, 4, 64);
    expect_fail(&b, "not a multiple of the alignment", "misaligned");
    tensor_file(&b, 2, ne, WF_TYPE_F32, 32, 32);
    expect_fail(&b, "past end of file", "data cut short");

    /* overlap and duplicates */
    b_header(&b, 3, 2, 0);
    b_tensor(&b, "x", 1, ne, WF_TYPE_F32, 0);
    b_tensor(&b, "y", 2, ne, WF_TYPE_F32, 0);
    b_pad(&b, 32);
    b_zeros(&b, 64);
    expect_fail(&b, "overlap", "overlap at 0");
    uint64_t ne64[1] = {16};
    b_header(&b, 3, 2, 0);
    b_tensor(&b, "x", 1, ne64, WF_TYPE_F32, 32); /* [32, 96) */
    b_tensor(&b, "y", 1, ne, WF_TYPE_F32, 64);   /* [64, 80) */
    b_pad(&b, 32);
    b_zeros(&b, 128);
    expect_fail(&b, "overlap", "overlap inside");
    b_header(&b, 3, 2, 0);
    b_tensor(&b, "x", 1, ne, WF_TYPE_F32, 0);
    b_tensor(&b, "y", 1, ne, WF_TYPE_F32, 32);
    b_pad(&b, 32);
    b_zeros(&b, 64);
    expect_ok(&b, "adjacent tensors");
    b_header(&b, 3, 2, 0);
    b_tensor(&b, "x", 1, ne, WF_TYPE_F32, 0);
    b_tensor(&b, "x", 1, ne, WF_TYPE_F32, 32);
    b_pad(&b, 32);
    b_zeros(&b, 64);
    expect_fail(&b, "duplicate tensor name 'x'", "dup tensor");
    b_header(&b, 3, 1, 0);
    b_u64(&b, 3);
    b_raw(&b, "a\0b", 3);
    b_u32(&b, 1);
    b_u64(&b, 4);
    b_u32(&b, WF_TYPE_F32);
    b_u64(&b, 0);
    b_pad(&b, 32);
    b_zeros(&b, 32);
    expect_fail(&b, "NUL", "NUL in tensor name");
    b_header(&b, 3, 0, 2);
    b_kv_u32(&b, "k", 1);
    b_kv_u32(&b, "k", 2);
    expect_fail(&b, "duplicate key 'k'", "dup key");
}

static void test_alignment(void) {
    const uint32_t bad[] = {0, 3, 48, 0x80000001u};
    uint64_t ne[1] = {4};
    for (int i = 0; i < 4; i++) {
        buf b = {0};
        b_header(&b, 3, 1, 1);
        b_kv_u32(&b, "general.alignment", bad[i]);
        b_tensor(&b, "t", 1, ne, WF_TYPE_F32, 0);
        b_pad(&b, 64);
        b_zeros(&b, 64);
        expect_fail(&b, "power of two", "bad alignment");
    }
    buf b = {0};
    b_header(&b, 3, 0, 1);
    b_str(&b, "general.alignment");
    b_u32(&b, WF_GGUF_UINT64);
    b_u64(&b, 32);
    expect_fail(&b, "must be u32", "alignment u64");
    /* alignment 1: tensor data right after the infos */
    b_header(&b, 3, 1, 1);
    b_kv_u32(&b, "general.alignment", 1);
    b_tensor(&b, "t", 1, ne, WF_TYPE_F32, 0);
    b_zeros(&b, 16);
    expect_ok(&b, "alignment 1");
}

/* Many keys and tensors (long shared prefixes): opens, finds every one. */
static void test_many(void) {
    enum { NK = 20000, NT = 5000 };
    buf b = {0};
    char name[64];
    b_header(&b, 3, NT, NK);
    for (int i = NK - 1; i >= 0; i--) { /* reverse order: the index must sort */
        snprintf(name, sizeof name, "blk.%d.some.rather.long.common.key.prefix", i);
        b_kv_u32(&b, name, (uint32_t)i);
    }
    uint64_t ne[1] = {8};
    for (int i = 0; i < NT; i++) {
        snprintf(name, sizeof name, "blk.%d.attn_q.weight", i);
        b_tensor(&b, name, 1, ne, WF_TYPE_F32, (uint64_t)i * 32);
    }
    b_pad(&b, 32);
    b_zeros(&b, (size_t)NT * 32);
    wf_gguf *g = NULL;
    wf_error err = {0};
    double t0 = wf_time_now();
    CHECK(wf_gguf_open_mem(b.p, b.n, NAME, &g, &err) == WF_OK, "many: %s", err.msg);
    double t1 = wf_time_now();
    int found = 0;
    for (int i = 0; g && i < NK; i += 7) {
        snprintf(name, sizeof name, "blk.%d.some.rather.long.common.key.prefix", i);
        uint32_t v = 0;
        found += wf_gguf_get_u32(g, name, &v, &err) == WF_OK && v == (uint32_t)i;
    }
    for (int i = 0; g && i < NT; i += 3) {
        snprintf(name, sizeof name, "blk.%d.attn_q.weight", i);
        const wf_gguf_tensor *t = wf_gguf_find_tensor(g, name);
        found += t && t->offset == (uint64_t)i * 32;
    }
    CHECK(found == (NK + 6) / 7 + (NT + 2) / 3, "found %d", found);
    CHECK(!g || wf_gguf_find_key(g, "blk.1.some") < 0, "prefix is not a match");
    printf("open with %d keys and %d tensors: %.1f ms\n", NK, NT, (t1 - t0) * 1e3);
    wf_gguf_close(g);
    free(b.p);
}

/* A second fuzzing base with nested arrays and odd types. */
static uint8_t *nested_base(size_t *size) {
    buf b = {0};
    b_header(&b, 3, 1, 4);
    b_str(&b, "nest");
    b_u32(&b, WF_GGUF_ARRAY);
    b_u32(&b, WF_GGUF_ARRAY);
    b_u64(&b, 3);
    b_u32(&b, WF_GGUF_UINT16);
    b_u64(&b, 2);
    b_le(&b, 1, 2);
    b_le(&b, 2, 2);
    b_u32(&b, WF_GGUF_STRING);
    b_u64(&b, 2);
    b_str(&b, "ab");
    b_str(&b, "");
    b_u32(&b, WF_GGUF_ARRAY);
    b_u64(&b, 1);
    b_u32(&b, WF_GGUF_BOOL);
    b_u64(&b, 1);
    b_le(&b, 1, 1);
    b_str(&b, "f64");
    b_u32(&b, WF_GGUF_FLOAT64);
    b_u64(&b, 0x3ff0000000000000ull);
    b_str(&b, "strs");
    b_u32(&b, WF_GGUF_ARRAY);
    b_u32(&b, WF_GGUF_STRING);
    b_u64(&b, 3);
    b_str(&b, "x");
    b_str(&b, "yy");
    b_str(&b, "zzz");
    b_kv_u32(&b, "general.alignment", 8);
    uint64_t ne[2] = {32, 1};
    b_tensor(&b, "q", 2, ne, WF_TYPE_Q8_0, 0);
    b_pad(&b, 8);
    b_zeros(&b, 34);
    *size = b.n;
    return b.p;
}

static void test_mutations(const uint8_t *p, size_t size) {
    t_rng r = {0x9e3779b97f4a7c15ull ^ size};
    uint8_t *m = malloc(size);
    int opened = 0, failed = 0;
    const int N = 10000;
    for (int it = 0; it < N; it++) {
        memcpy(m, p, size);
        int k = 1 + (int)(t_next(&r) % 6);
        for (int j = 0; j < k; j++) {
            size_t at = (size_t)(t_next(&r) % size);
            switch (t_next(&r) % 4) {
            case 0: m[at] = (uint8_t)t_next(&r); break;
            case 1: m[at] ^= (uint8_t)(1u << (t_next(&r) % 8)); break;
            case 2: { /* an extreme 8-byte value */
                static const uint64_t vals[] = {0, 1, UINT64_MAX, 1ull << 63, 1ull << 32, 0xffffffffull};
                uint64_t v = vals[t_next(&r) % 6];
                for (int q = 0; q < 8 && at + q < size; q++) m[at + q] = (uint8_t)(v >> (8 * q));
                break;
            }
            default: m[at] = (uint8_t)(m[at] + 1); break;
            }
        }
        size_t len = size;
        if (t_next(&r) % 8 == 0) len = (size_t)(t_next(&r) % (size + 1));
        wf_error err;
        if (try_open(m, len, &err) == WF_OK)
            opened++;
        else
            failed++;
    }
    free(m);
    printf("mutations: %d opened, %d rejected\n", opened, failed);
    CHECK(failed > N / 4, "most mutations should be rejected (%d)", failed);
}

int main(void) {
    size_t size;
    uint64_t data_end;
    uint8_t *p = sample(&size, &data_end);
    test_truncation(p, size, data_end);
    test_header();
    test_counts();
    test_tensors();
    test_alignment();
    test_mutations(p, size);
    free(p);
    p = nested_base(&size);
    {
        wf_error err;
        CHECK(try_open(p, size, &err) == WF_OK, "nested base opens: %s", err.msg);
    }
    test_mutations(p, size);
    free(p);
    test_many();
    return t_done("test_gguf_corrupt");
}
