/* test_gguf.c — GGUF writer -> reader round trips (every value type, arrays,
 * alignments 1..4096, tensors of several types and shapes), a hand-built v2
 * file, typed getters and their errors, copy_kv, progress and cancellation. */
#include "format/gguf.h"
#include "format/quant.h"
#include "testutil.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_dir[64];

static bool msg_has(const wf_error *e, const char *needle) { return strstr(e->msg, needle) != NULL; }

static bool str_eq(wf_str s, const char *c) { return s.len == strlen(c) && memcmp(s.ptr, c, s.len) == 0; }

static bool file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

/* ---- sample content ------------------------------------------------------ */

enum { N_TENSORS = 6 };
typedef struct sample_tensor {
    const char *name;
    uint32_t type;
    uint32_t n_dims;
    int64_t ne[4];
    uint8_t *data;
    uint64_t nbytes;
} sample_tensor;

static sample_tensor g_t[N_TENSORS] = {
    {"tok_embd.weight", WF_TYPE_F32, 2, {7, 3, 1, 1}, NULL, 0},
    {"blk.0.attn_q.weight", WF_TYPE_F16, 2, {5, 3, 1, 1}, NULL, 0},
    {"blk.0.ffn_up.weight", WF_TYPE_Q8_0, 2, {64, 2, 1, 1}, NULL, 0},
    {"blk.0.ffn_down.weight", WF_TYPE_Q4_K, 3, {256, 1, 2, 1}, NULL, 0},
    {"output_norm.weight", WF_TYPE_BF16, 4, {2, 2, 2, 2}, NULL, 0},
    {"a.single", WF_TYPE_F32, 1, {1, 1, 1, 1}, NULL, 0},
};

static void make_tensors(void) {
    t_rng r = {12345};
    for (int i = 0; i < N_TENSORS; i++) {
        const wf_type_traits *tr = wf_type_get(g_t[i].type);
        uint64_t n = (uint64_t)(g_t[i].ne[0] / tr->blck_size) * tr->type_size;
        for (int d = 1; d < 4; d++) n *= (uint64_t)g_t[i].ne[d];
        g_t[i].nbytes = n;
        g_t[i].data = malloc(n);
        for (uint64_t j = 0; j < n; j++) g_t[i].data[j] = (uint8_t)t_next(&r);
    }
}

static const char *g_strs[] = {"<s>", "", "hello world", "\xc3\xa9\xe2\x82\xac", "a\nb"};
static const int32_t g_i32s[] = {-1, 0, 2147483647, -2147483647 - 1};
static const float g_f32s[] = {0.5f, -1.25f, 3.0e38f};
static const uint8_t g_u8s[] = {0, 1, 255};
static const int8_t g_i8s[] = {-128, 127};
static const uint16_t g_u16s[] = {65535, 1};
static const int16_t g_i16s[] = {-32768, 5};
static const uint32_t g_u32s[] = {4000000000u};
static const uint64_t g_u64s[] = {UINT64_MAX, 0};
static const int64_t g_i64s[] = {INT64_MIN, INT64_MAX};
static const double g_f64s[] = {1.0 / 3.0, -0.0};
static const bool g_bools[] = {true, false, true};

#define ARR(elem, a) CHECK(wf_gguf_writer_set_arr(w, "arr." #a, elem, a, sizeof a / sizeof a[0]) == WF_OK, #a)

static void fill_writer(wf_gguf_writer *w, uint32_t align) {
    uint8_t u8 = 200;
    int8_t i8 = -100;
    uint16_t u16 = 60000;
    int16_t i16 = -30000;
    CHECK(wf_gguf_writer_set_scalar(w, "v.u8", WF_GGUF_UINT8, &u8) == WF_OK, "u8");
    CHECK(wf_gguf_writer_set_scalar(w, "v.i8", WF_GGUF_INT8, &i8) == WF_OK, "i8");
    CHECK(wf_gguf_writer_set_scalar(w, "v.u16", WF_GGUF_UINT16, &u16) == WF_OK, "u16");
    CHECK(wf_gguf_writer_set_scalar(w, "v.i16", WF_GGUF_INT16, &i16) == WF_OK, "i16");
    CHECK(wf_gguf_writer_set_u32(w, "v.u32", 4000000000u) == WF_OK, "u32");
    CHECK(wf_gguf_writer_set_i32(w, "v.i32", -7) == WF_OK, "i32");
    CHECK(wf_gguf_writer_set_f32(w, "v.f32", 1.5f) == WF_OK, "f32");
    CHECK(wf_gguf_writer_set_bool(w, "v.bool", true) == WF_OK, "bool");
    CHECK(wf_gguf_writer_set_str(w, "v.str", "llama", 5) == WF_OK, "str");
    CHECK(wf_gguf_writer_set_str(w, "v.empty", "", 0) == WF_OK, "empty str");
    CHECK(wf_gguf_writer_set_u64(w, "v.u64", UINT64_MAX) == WF_OK, "u64");
    CHECK(wf_gguf_writer_set_i64(w, "v.i64", INT64_MIN) == WF_OK, "i64");
    CHECK(wf_gguf_writer_set_f64(w, "v.f64", 0.1) == WF_OK, "f64");
    CHECK(wf_gguf_writer_set_u32(w, "v.replaced", 1) == WF_OK, "set");
    CHECK(wf_gguf_writer_set_str(w, "v.replaced", "second", 6) == WF_OK, "replace");
    ARR(WF_GGUF_INT32, g_i32s);
    ARR(WF_GGUF_FLOAT32, g_f32s);
    ARR(WF_GGUF_UINT8, g_u8s);
    ARR(WF_GGUF_INT8, g_i8s);
    ARR(WF_GGUF_UINT16, g_u16s);
    ARR(WF_GGUF_INT16, g_i16s);
    ARR(WF_GGUF_UINT32, g_u32s);
    ARR(WF_GGUF_UINT64, g_u64s);
    ARR(WF_GGUF_INT64, g_i64s);
    ARR(WF_GGUF_FLOAT64, g_f64s);
    ARR(WF_GGUF_BOOL, g_bools);
    CHECK(wf_gguf_writer_set_arr(w, "arr.empty", WF_GGUF_FLOAT32, NULL, 0) == WF_OK, "empty arr");
    wf_str items[5];
    for (int i = 0; i < 5; i++) items[i] = (wf_str){g_strs[i], strlen(g_strs[i])};
    CHECK(wf_gguf_writer_set_arr_str(w, "arr.str", items, 5) == WF_OK, "str arr");
    CHECK(wf_gguf_writer_set_arr_str(w, "arr.str_empty", NULL, 0) == WF_OK, "empty str arr");
    if (align) CHECK(wf_gguf_writer_set_alignment(w, align) == WF_OK, "align %u", align);
    wf_error err = {0};
    for (int i = 0; i < N_TENSORS; i++)
        CHECK(wf_gguf_writer_add_tensor(w, g_t[i].name, g_t[i].type, g_t[i].n_dims, g_t[i].ne, g_t[i].data,
                                        g_t[i].nbytes, &err) == WF_OK,
              "add %s: %s", g_t[i].name, err.msg);
}

#define ARR_CHECK(elem_t, vt, a)                                                                    \
    do {                                                                                            \
        wf_gguf_vtype et;                                                                           \
        uint64_t n;                                                                                 \
        const void *d;                                                                              \
        CHECK(wf_gguf_get_arr(g, "arr." #a, &et, &n, &d, &err) == WF_OK, "%s", err.msg);            \
        CHECK(et == vt && n == sizeof a / sizeof a[0], #a " type %d n %llu", et, (unsigned long long)n); \
        for (uint64_t k = 0; k < n && k < sizeof a / sizeof a[0]; k++) {                            \
            elem_t x;                                                                               \
            memcpy(&x, (const uint8_t *)d + k * sizeof x, sizeof x);                                \
            CHECK(memcmp(&x, &a[k], sizeof x) == 0, #a "[%llu]", (unsigned long long)k);            \
        }                                                                                           \
    } while (0)

static void check_file(const wf_gguf *g, uint32_t want_align) {
    wf_error err = {0};
    CHECK(wf_gguf_version(g) == 3, "version %u", wf_gguf_version(g));
    CHECK(wf_gguf_alignment(g) == (want_align ? want_align : 32), "alignment %llu",
          (unsigned long long)wf_gguf_alignment(g));
    CHECK(wf_gguf_data_offset(g) % wf_gguf_alignment(g) == 0, "data offset aligned");

    uint32_t u32;
    uint64_t u64;
    int64_t i64;
    float f;
    bool b;
    wf_str s;
    CHECK(wf_gguf_get_u32(g, "v.u8", &u32, &err) == WF_OK && u32 == 200, "u8 %u", u32);
    CHECK(wf_gguf_get_i64(g, "v.i8", &i64, &err) == WF_OK && i64 == -100, "i8");
    CHECK(wf_gguf_get_u32(g, "v.u16", &u32, &err) == WF_OK && u32 == 60000, "u16");
    CHECK(wf_gguf_get_i64(g, "v.i16", &i64, &err) == WF_OK && i64 == -30000, "i16");
    CHECK(wf_gguf_get_u32(g, "v.u32", &u32, &err) == WF_OK && u32 == 4000000000u, "u32");
    CHECK(wf_gguf_get_i64(g, "v.i32", &i64, &err) == WF_OK && i64 == -7, "i32");
    CHECK(wf_gguf_get_f32(g, "v.f32", &f, &err) == WF_OK && f == 1.5f, "f32");
    CHECK(wf_gguf_get_bool(g, "v.bool", &b, &err) == WF_OK && b, "bool");
    CHECK(wf_gguf_get_str(g, "v.str", &s, &err) == WF_OK && str_eq(s, "llama"), "str");
    CHECK(wf_gguf_get_str(g, "v.empty", &s, &err) == WF_OK && s.len == 0, "empty str");
    CHECK(wf_gguf_get_u64(g, "v.u64", &u64, &err) == WF_OK && u64 == UINT64_MAX, "u64");
    CHECK(wf_gguf_get_i64(g, "v.i64", &i64, &err) == WF_OK && i64 == INT64_MIN, "i64");
    CHECK(wf_gguf_get_f32(g, "v.f64", &f, &err) == WF_OK && f == 0.1f, "f64 as f32");
    CHECK(wf_gguf_get_str(g, "v.replaced", &s, &err) == WF_OK && str_eq(s, "second"), "replaced");
    int64_t ki = wf_gguf_find_key(g, "v.f64");
    CHECK(ki >= 0 && wf_gguf_type_at(g, ki) == WF_GGUF_FLOAT64, "f64 type");
    const void *raw;
    uint64_t rawn;
    double d;
    CHECK(wf_gguf_raw_value_at(g, ki, &raw, &rawn) == WF_OK && rawn == 8, "raw f64");
    memcpy(&d, raw, 8);
    CHECK(d == 0.1, "f64 exact");

    ARR_CHECK(int32_t, WF_GGUF_INT32, g_i32s);
    ARR_CHECK(float, WF_GGUF_FLOAT32, g_f32s);
    ARR_CHECK(uint8_t, WF_GGUF_UINT8, g_u8s);
    ARR_CHECK(int8_t, WF_GGUF_INT8, g_i8s);
    ARR_CHECK(uint16_t, WF_GGUF_UINT16, g_u16s);
    ARR_CHECK(int16_t, WF_GGUF_INT16, g_i16s);
    ARR_CHECK(uint32_t, WF_GGUF_UINT32, g_u32s);
    ARR_CHECK(uint64_t, WF_GGUF_UINT64, g_u64s);
    ARR_CHECK(int64_t, WF_GGUF_INT64, g_i64s);
    ARR_CHECK(double, WF_GGUF_FLOAT64, g_f64s);
    ARR_CHECK(bool, WF_GGUF_BOOL, g_bools);
    wf_gguf_vtype et;
    uint64_t n;
    CHECK(wf_gguf_get_arr(g, "arr.empty", &et, &n, NULL, &err) == WF_OK && et == WF_GGUF_FLOAT32 && n == 0,
          "empty arr");
    int64_t si = wf_gguf_find_key(g, "arr.str");
    CHECK(si >= 0 && wf_gguf_arr_info_at(g, si, &et, &n) == WF_OK && et == WF_GGUF_STRING && n == 5, "str arr");
    for (uint64_t k = 0; k < 5; k++)
        CHECK(wf_gguf_arr_str(g, si, k, &s) == WF_OK && str_eq(s, g_strs[k]), "str arr [%llu]",
              (unsigned long long)k);
    CHECK(wf_gguf_arr_str(g, si, 5, &s) != WF_OK, "str arr out of range");
    CHECK(wf_gguf_arr_str(g, wf_gguf_find_key(g, "arr.g_i32s"), 0, &s) == WF_ERR_INVALID_ARG, "not str arr");
    int64_t ei = wf_gguf_find_key(g, "arr.str_empty");
    CHECK(ei >= 0 && wf_gguf_arr_info_at(g, ei, &et, &n) == WF_OK && et == WF_GGUF_STRING && n == 0,
          "empty str arr");
    CHECK(wf_gguf_arr_info_at(g, wf_gguf_find_key(g, "v.u8"), &et, &n) == WF_ERR_INVALID_ARG, "not arr");

    /* keys keep the order they were set in */
    CHECK(wf_gguf_n_kv(g) == 28 + (want_align ? 1 : 0), "n_kv %lld", (long long)wf_gguf_n_kv(g));
    CHECK(str_eq(wf_gguf_key_at(g, 0), "v.u8"), "first key");

    CHECK(wf_gguf_n_tensors(g) == N_TENSORS, "n_tensors");
    uint64_t align = wf_gguf_alignment(g);
    for (int i = 0; i < N_TENSORS; i++) {
        const wf_gguf_tensor *t = wf_gguf_find_tensor(g, g_t[i].name);
        CHECK(t != NULL && t == wf_gguf_tensor_at(g, i), "find %s", g_t[i].name);
        if (!t) continue;
        CHECK(strcmp(t->name, g_t[i].name) == 0, "name");
        CHECK(t->type == g_t[i].type && t->n_dims == g_t[i].n_dims, "type/dims of %s", t->name);
        for (int d2 = 0; d2 < 4; d2++) CHECK(t->ne[d2] == g_t[i].ne[d2], "%s ne[%d]", t->name, d2);
        CHECK(t->nbytes == g_t[i].nbytes, "%s nbytes", t->name);
        CHECK(t->offset % align == 0, "%s offset aligned", t->name);
        CHECK(memcmp(t->data, g_t[i].data, g_t[i].nbytes) == 0, "%s data", t->name);
    }
    CHECK(wf_gguf_find_tensor(g, "missing") == NULL, "missing tensor");
    CHECK(wf_gguf_tensor_at(g, N_TENSORS) == NULL && wf_gguf_tensor_at(g, -1) == NULL, "tensor_at range");
}

static void test_roundtrip(void) {
    const uint32_t aligns[] = {0, 1, 8, 32, 64, 4096};
    for (size_t a = 0; a < sizeof aligns / sizeof aligns[0]; a++) {
        char path[128];
        snprintf(path, sizeof path, "%s/rt_%u.gguf", g_dir, aligns[a]);
        wf_gguf_writer *w;
        wf_error err = {0};
        CHECK(wf_gguf_writer_create(&w, &err) == WF_OK, "create");
        fill_writer(w, aligns[a]);
        CHECK(wf_gguf_writer_write(w, path, NULL, NULL, &err) == WF_OK, "write: %s", err.msg);
        wf_gguf_writer_free(w);
        char tmp[140];
        snprintf(tmp, sizeof tmp, "%s.tmp", path);
        CHECK(!file_exists(tmp), "tmp file removed");

        wf_gguf *g = NULL;
        CHECK(wf_gguf_open(path, &g, &err) == WF_OK, "open %s: %s", path, err.msg);
        if (!g) continue;
        check_file(g, aligns[a]);
        CHECK(strcmp(wf_gguf_path(g), path) == 0, "path");

        /* the same bytes through the in-memory entry point */
        FILE *f = fopen(path, "rb");
        size_t size = (size_t)wf_gguf_file_size(g);
        uint8_t *buf = malloc(size);
        CHECK(f && fread(buf, 1, size, f) == size, "read back");
        if (f) fclose(f);
        wf_gguf *m = NULL;
        CHECK(wf_gguf_open_mem(buf, size, "mem", &m, &err) == WF_OK, "open_mem: %s", err.msg);
        if (m) {
            check_file(m, aligns[a]);
            wf_gguf_close(m);
        }
        free(buf);

        /* copy_kv of every key reproduces the metadata byte for byte */
        wf_gguf_writer *w2;
        CHECK(wf_gguf_writer_create(&w2, &err) == WF_OK, "create2");
        for (int64_t i = 0; i < wf_gguf_n_kv(g); i++) CHECK(wf_gguf_writer_copy_kv(w2, g, i) == WF_OK, "copy");
        for (int i = 0; i < N_TENSORS; i++) {
            const wf_gguf_tensor *t = wf_gguf_tensor_at(g, i);
            CHECK(wf_gguf_writer_add_tensor(w2, t->name, t->type, t->n_dims, t->ne, t->data, t->nbytes, &err) ==
                      WF_OK,
                  "re-add");
        }
        char path2[140];
        snprintf(path2, sizeof path2, "%s/copy.gguf", g_dir);
        CHECK(wf_gguf_writer_write(w2, path2, NULL, NULL, &err) == WF_OK, "write copy: %s", err.msg);
        wf_gguf_writer_free(w2);
        wf_gguf *g2 = NULL;
        CHECK(wf_gguf_open(path2, &g2, &err) == WF_OK, "open copy: %s", err.msg);
        if (g2) {
            check_file(g2, aligns[a]);
            for (int64_t i = 0; i < wf_gguf_n_kv(g); i++) {
                const void *p1, *p2;
                uint64_t n1, n2;
                wf_gguf_raw_value_at(g, i, &p1, &n1);
                wf_gguf_raw_value_at(g2, i, &p2, &n2);
                CHECK(n1 == n2 && memcmp(p1, p2, n1) == 0, "copied kv %lld", (long long)i);
            }
            CHECK(wf_gguf_file_size(g2) == wf_gguf_file_size(g), "same size");
            wf_gguf_close(g2);
        }
        remove(path2);
        wf_gguf_close(g);
        remove(path);
    }
}

static void test_getter_errors(void) {
    char path[128];
    snprintf(path, sizeof path, "%s/getters.gguf", g_dir);
    wf_gguf_writer *w;
    wf_error err = {0};
    wf_gguf_writer_create(&w, &err);
    wf_gguf_writer_set_u32(w, "a.u32", 7);
    wf_gguf_writer_set_i32(w, "a.neg", -5);
    wf_gguf_writer_set_u64(w, "a.big", 1ull << 40);
    wf_gguf_writer_set_str(w, "a.str", "x", 1);
    wf_gguf_writer_set_f32(w, "a.f32", 2.0f);
    wf_gguf_writer_set_u64(w, "a.huge", UINT64_MAX);
    CHECK(wf_gguf_writer_write(w, path, NULL, NULL, &err) == WF_OK, "write: %s", err.msg);
    wf_gguf_writer_free(w);
    wf_gguf *g = NULL;
    CHECK(wf_gguf_open(path, &g, &err) == WF_OK, "open: %s", err.msg);
    if (!g) return;
    uint32_t u32 = 0;
    uint64_t u64 = 0;
    int64_t i64 = 0;
    float f;
    bool b;
    wf_str s;
    const void *d;
    CHECK(wf_gguf_get_u32(g, "nope", &u32, &err) == WF_ERR_NOT_FOUND && msg_has(&err, "nope"), "%s", err.msg);
    CHECK(wf_gguf_get_str(g, "a.u32", &s, &err) == WF_ERR_FORMAT && msg_has(&err, "a.u32") && msg_has(&err, "u32"),
          "%s", err.msg);
    CHECK(wf_gguf_get_u32(g, "a.str", &u32, &err) == WF_ERR_FORMAT && msg_has(&err, "string"), "%s", err.msg);
    CHECK(wf_gguf_get_u32(g, "a.neg", &u32, &err) == WF_ERR_FORMAT && msg_has(&err, "-5"), "%s", err.msg);
    CHECK(wf_gguf_get_u64(g, "a.neg", &u64, &err) == WF_ERR_FORMAT, "neg u64");
    CHECK(wf_gguf_get_i64(g, "a.neg", &i64, &err) == WF_OK && i64 == -5, "neg i64");
    CHECK(wf_gguf_get_u32(g, "a.big", &u32, &err) == WF_ERR_FORMAT && msg_has(&err, "does not fit"), "%s", err.msg);
    CHECK(wf_gguf_get_u64(g, "a.big", &u64, &err) == WF_OK && u64 == 1ull << 40, "big u64");
    CHECK(wf_gguf_get_i64(g, "a.huge", &i64, &err) == WF_ERR_FORMAT, "huge i64");
    CHECK(wf_gguf_get_i64(g, "a.u32", &i64, &err) == WF_OK && i64 == 7, "u32 as i64");
    CHECK(wf_gguf_get_f32(g, "a.u32", &f, &err) == WF_ERR_FORMAT, "u32 as f32");
    CHECK(wf_gguf_get_u32(g, "a.f32", &u32, &err) == WF_ERR_FORMAT, "f32 as u32");
    CHECK(wf_gguf_get_bool(g, "a.u32", &b, &err) == WF_ERR_FORMAT && msg_has(&err, "bool"), "%s", err.msg);
    CHECK(wf_gguf_get_arr(g, "a.str", NULL, NULL, &d, &err) == WF_ERR_FORMAT && msg_has(&err, "array"), "%s",
          err.msg);
    CHECK(wf_gguf_get_arr(g, "nope", NULL, NULL, &d, &err) == WF_ERR_NOT_FOUND, "arr not found");
    char buf[64];
    wf_gguf_format_value(g, wf_gguf_find_key(g, "a.neg"), buf, sizeof buf);
    CHECK(strcmp(buf, "-5") == 0, "format neg: %s", buf);
    wf_gguf_format_value(g, wf_gguf_find_key(g, "a.f32"), buf, sizeof buf);
    CHECK(strcmp(buf, "2") == 0, "format f32: %s", buf);
    wf_gguf_format_value(g, wf_gguf_find_key(g, "a.str"), buf, 2);
    CHECK(strlen(buf) <= 1, "format cap");
    wf_gguf_close(g);
    remove(path);
}

static void test_writer_errors(void) {
    wf_gguf_writer *w;
    wf_error err = {0};
    wf_gguf_writer_create(&w, &err);
    float data[8] = {0};
    int64_t ne[2] = {4, 2};
    CHECK(wf_gguf_writer_add_tensor(w, "t", WF_TYPE_F32, 2, ne, data, 32, &err) == WF_OK, "add");
    CHECK(wf_gguf_writer_add_tensor(w, "t", WF_TYPE_F32, 2, ne, data, 32, &err) == WF_ERR_INVALID_ARG &&
              msg_has(&err, "duplicate"),
          "dup: %s", err.msg);
    CHECK(wf_gguf_writer_add_tensor(w, "u", WF_TYPE_F32, 2, ne, data, 28, &err) == WF_ERR_INVALID_ARG, "size");
    CHECK(wf_gguf_writer_add_tensor(w, "u", WF_TYPE_Q8_0, 2, ne, data, 32, &err) == WF_ERR_INVALID_ARG &&
              msg_has(&err, "block size"),
          "block: %s", err.msg);
    CHECK(wf_gguf_writer_add_tensor(w, "u", 99, 2, ne, data, 32, &err) == WF_ERR_INVALID_ARG, "type");
    CHECK(wf_gguf_writer_add_tensor(w, "u", WF_TYPE_F32, 5, ne, data, 32, &err) == WF_ERR_INVALID_ARG, "dims");
    CHECK(wf_gguf_writer_set_alignment(w, 3) == WF_ERR_INVALID_ARG, "align 3");
    CHECK(wf_gguf_writer_set_alignment(w, 0) == WF_ERR_INVALID_ARG, "align 0");
    CHECK(wf_gguf_writer_set_arr(w, "x", WF_GGUF_STRING, data, 1) == WF_ERR_INVALID_ARG, "arr of str");
    /* a general.alignment that is not a power of two is refused at write */
    wf_gguf_writer_set_u32(w, "general.alignment", 48);
    char path[128];
    snprintf(path, sizeof path, "%s/bad_align.gguf", g_dir);
    CHECK(wf_gguf_writer_write(w, path, NULL, NULL, &err) == WF_ERR_INVALID_ARG && !file_exists(path),
          "bad align write: %s", err.msg);
    wf_gguf_writer_free(w);
}

typedef struct prog {
    int calls;
    uint64_t last_done, total;
    int cancel_at;
    bool monotone;
} prog;

static bool on_progress(uint64_t done, uint64_t total, void *user) {
    prog *p = user;
    p->calls++;
    if (done < p->last_done) p->monotone = false;
    p->last_done = done;
    p->total = total;
    return p->calls != p->cancel_at;
}

static void test_progress(void) {
    char path[128];
    snprintf(path, sizeof path, "%s/prog.gguf", g_dir);
    wf_error err = {0};
    wf_gguf_writer *w;
    wf_gguf_writer_create(&w, &err);
    fill_writer(w, 0);
    prog p = {0, 0, 0, -1, true};
    CHECK(wf_gguf_writer_write(w, path, on_progress, &p, &err) == WF_OK, "write");
    uint64_t total = 0;
    for (int i = 0; i < N_TENSORS; i++) total += g_t[i].nbytes;
    CHECK(p.calls == N_TENSORS && p.monotone && p.last_done == total && p.total == total, "progress calls %d",
          p.calls);
    remove(path);
    prog q = {0, 0, 0, 2, true};
    CHECK(wf_gguf_writer_write(w, path, on_progress, &q, &err) == WF_ERR_CANCELLED, "cancel");
    char tmp[140];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    CHECK(!file_exists(path) && !file_exists(tmp), "nothing left after cancel");
    CHECK(wf_gguf_writer_write(w, "/nonexistent-dir/x.gguf", NULL, NULL, &err) == WF_ERR_IO, "io error");
    wf_gguf_writer_free(w);
}

/* A v2 file built byte by byte (no writer involved). */
static void test_v2(void) {
    uint8_t b[256] = {0};
    size_t n = 0;
#define PUT(v, k) do { uint64_t v_ = (v); for (int i_ = 0; i_ < (k); i_++) b[n++] = (uint8_t)(v_ >> (8 * i_)); } while (0)
#define PUTS(s) do { PUT(strlen(s), 8); memcpy(b + n, s, strlen(s)); n += strlen(s); } while (0)
    PUT(WF_GGUF_MAGIC, 4);
    PUT(2, 4);
    PUT(1, 8); /* tensors */
    PUT(2, 8); /* kv */
    PUTS("general.architecture");
    PUT(WF_GGUF_STRING, 4);
    PUTS("llama");
    PUTS("x");
    PUT(WF_GGUF_UINT32, 4);
    PUT(7, 4);
    PUTS("w");
    PUT(1, 4);
    PUT(4, 8);
    PUT(WF_TYPE_F32, 4);
    PUT(0, 8);
    while (n % 32) b[n++] = 0;
    size_t data_at = n;
    const float vals[4] = {1, 2, 3, 4};
    memcpy(b + n, vals, 16);
    n += 16;
    wf_gguf *g = NULL;
    wf_error err = {0};
    CHECK(wf_gguf_open_mem(b, n, "v2.gguf", &g, &err) == WF_OK, "v2: %s", err.msg);
    if (!g) return;
    wf_str s;
    uint32_t u;
    CHECK(wf_gguf_version(g) == 2, "version");
    CHECK(wf_gguf_get_str(g, "general.architecture", &s, &err) == WF_OK && str_eq(s, "llama"), "arch");
    CHECK(wf_gguf_get_u32(g, "x", &u, &err) == WF_OK && u == 7, "x");
    const wf_gguf_tensor *t = wf_gguf_find_tensor(g, "w");
    CHECK(t && t->ne[0] == 4 && t->n_dims == 1 && t->nbytes == 16, "tensor");
    CHECK(t && t->data == b + data_at && memcmp(t->data, vals, 16) == 0, "tensor data");
    CHECK(wf_gguf_data_offset(g) == data_at, "data offset");
    wf_gguf_close(g);
#undef PUT
#undef PUTS
}

static void test_open_errors(void) {
    wf_gguf *g = NULL;
    wf_error err = {0};
    CHECK(wf_gguf_open("/nonexistent/model.gguf", &g, &err) == WF_ERR_IO && msg_has(&err, "model.gguf"), "%s",
          err.msg);
    CHECK(wf_gguf_open(g_dir, &g, &err) != WF_OK && g == NULL, "directory");
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/wf_gguf_XXXXXX");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 1;
    }
    make_tensors();
    test_roundtrip();
    test_getter_errors();
    test_writer_errors();
    test_progress();
    test_v2();
    test_open_errors();
    for (int i = 0; i < N_TENSORS; i++) free(g_t[i].data);
    rmdir(g_dir);
    return t_done("test_gguf");
}
