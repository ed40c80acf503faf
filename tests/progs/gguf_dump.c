/* gguf_dump.c — test tool: print a GGUF file as plain text through wafer's
 * reader, or write a fixed sample file with wafer's writer. The Python test
 * (test_gguf_py.py) compares both against its independent implementation.
 *
 *   gguf_dump FILE                  print, one item per line
 *   gguf_dump --write-sample FILE   write the sample file (see sample())
 *
 * Output lines (strings and names as h:<hex bytes>, floats as their bits):
 *   version V / alignment A / data_offset D / n_kv N / n_tensors N
 *   kv h:KEY TYPE VALUE         TYPE is u8 .. f64, bool, string, array
 *   array VALUE = [ ELEMTYPE COUNT v1 v2 ... ]   (nested arrays recurse)
 *   tensor h:NAME TYPEID NE0,NE1,.. OFFSET NBYTES FNV1A64
 */
#include "format/gguf.h"
#include "format/quant.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_hex(const void *p, uint64_t n) {
    const uint8_t *b = p;
    fputs("h:", stdout);
    for (uint64_t i = 0; i < n; i++) printf("%02x", b[i]);
}

static uint64_t rd_le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* Print one encoded value of type t at p (already validated by the reader);
 * returns the bytes consumed. */
static uint64_t print_value(uint32_t t, const uint8_t *p) {
    uint64_t sz = wf_gguf_vtype_size((wf_gguf_vtype)t);
    switch (t) {
    case WF_GGUF_UINT8: case WF_GGUF_UINT16: case WF_GGUF_UINT32: case WF_GGUF_UINT64:
        printf("%" PRIu64, rd_le(p, (int)sz));
        return sz;
    case WF_GGUF_INT8: printf("%d", (int8_t)p[0]); return 1;
    case WF_GGUF_INT16: printf("%d", (int16_t)rd_le(p, 2)); return 2;
    case WF_GGUF_INT32: printf("%" PRId32, (int32_t)rd_le(p, 4)); return 4;
    case WF_GGUF_INT64: printf("%" PRId64, (int64_t)rd_le(p, 8)); return 8;
    case WF_GGUF_FLOAT32: printf("0x%08" PRIx64, rd_le(p, 4)); return 4;
    case WF_GGUF_FLOAT64: printf("0x%016" PRIx64, rd_le(p, 8)); return 8;
    case WF_GGUF_BOOL: printf("%u", p[0]); return 1;
    case WF_GGUF_STRING: {
        uint64_t n = rd_le(p, 8);
        print_hex(p + 8, n);
        return 8 + n;
    }
    case WF_GGUF_ARRAY: {
        uint32_t e = (uint32_t)rd_le(p, 4);
        uint64_t n = rd_le(p + 4, 8), off = 12;
        printf("[ %s %" PRIu64, wf_gguf_vtype_name((wf_gguf_vtype)e), n);
        for (uint64_t i = 0; i < n; i++) {
            putchar(' ');
            off += print_value(e, p + off);
        }
        fputs(" ]", stdout);
        return off;
    }
    default: return 0;
    }
}

static uint64_t fnv1a(const uint8_t *p, uint64_t n) {
    uint64_t h = 1469598103934665603ull;
    for (uint64_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

static int dump(const char *path) {
    wf_gguf *g;
    wf_error err = {0};
    if (wf_gguf_open(path, &g, &err) != WF_OK) {
        fprintf(stderr, "gguf_dump: %s\n", err.msg);
        return 1;
    }
    printf("version %u\nalignment %" PRIu64 "\ndata_offset %" PRIu64 "\nn_kv %" PRId64 "\nn_tensors %" PRId64 "\n",
           wf_gguf_version(g), wf_gguf_alignment(g), wf_gguf_data_offset(g), wf_gguf_n_kv(g), wf_gguf_n_tensors(g));
    for (int64_t i = 0; i < wf_gguf_n_kv(g); i++) {
        wf_str k = wf_gguf_key_at(g, i);
        wf_gguf_vtype t = wf_gguf_type_at(g, i);
        const void *raw;
        uint64_t n;
        wf_gguf_raw_value_at(g, i, &raw, &n);
        fputs("kv ", stdout);
        print_hex(k.ptr, k.len);
        printf(" %s ", wf_gguf_vtype_name(t));
        uint64_t used = print_value(t, raw);
        putchar('\n');
        if (used != n) {
            fprintf(stderr, "gguf_dump: kv %" PRId64 ": value size %" PRIu64 " != %" PRIu64 "\n", i, used, n);
            wf_gguf_close(g);
            return 1;
        }
        /* string arrays also through the indexed accessor */
        wf_gguf_vtype et;
        uint64_t cnt;
        if (wf_gguf_arr_info_at(g, i, &et, &cnt) == WF_OK && et == WF_GGUF_STRING) {
            printf("strs ");
            print_hex(k.ptr, k.len);
            for (uint64_t j = 0; j < cnt; j++) {
                wf_str s;
                wf_gguf_arr_str(g, i, j, &s);
                putchar(' ');
                print_hex(s.ptr, s.len);
            }
            putchar('\n');
        }
    }
    for (int64_t i = 0; i < wf_gguf_n_tensors(g); i++) {
        const wf_gguf_tensor *t = wf_gguf_tensor_at(g, i);
        fputs("tensor ", stdout);
        print_hex(t->name, strlen(t->name));
        printf(" %u ", t->type);
        for (uint32_t d = 0; d < t->n_dims; d++) printf("%s%" PRId64, d ? "," : "", t->ne[d]);
        printf(" %" PRIu64 " %" PRIu64 " %016" PRIx64 "\n", t->offset, t->nbytes, fnv1a(t->data, t->nbytes));
    }
    wf_gguf_close(g);
    return 0;
}

/* The sample: values mirrored in test_gguf_py.py (SAMPLE_*). */
static int sample(const char *path) {
    wf_gguf_writer *w;
    wf_error err = {0};
    if (wf_gguf_writer_create(&w, &err)) return 1;
    uint8_t u8 = 250;
    int8_t i8 = -120;
    uint16_t u16 = 65000;
    int16_t i16 = -32000;
    double f64 = -2.5e-300;
    wf_gguf_writer_set_str(w, "general.architecture", "llama", 5);
    wf_gguf_writer_set_scalar(w, "s.u8", WF_GGUF_UINT8, &u8);
    wf_gguf_writer_set_scalar(w, "s.i8", WF_GGUF_INT8, &i8);
    wf_gguf_writer_set_scalar(w, "s.u16", WF_GGUF_UINT16, &u16);
    wf_gguf_writer_set_scalar(w, "s.i16", WF_GGUF_INT16, &i16);
    wf_gguf_writer_set_u32(w, "s.u32", 4294967295u);
    wf_gguf_writer_set_i32(w, "s.i32", -2147483647 - 1);
    wf_gguf_writer_set_f32(w, "s.f32", 0.15625f);
    wf_gguf_writer_set_bool(w, "s.bool", false);
    wf_gguf_writer_set_str(w, "s.str", "caf\xc3\xa9 \xf0\x9f\x98\x80", 10);
    wf_gguf_writer_set_str(w, "s.empty", "", 0);
    wf_gguf_writer_set_u64(w, "s.u64", 18446744073709551615ull);
    wf_gguf_writer_set_i64(w, "s.i64", -9223372036854775807ll);
    wf_gguf_writer_set_f64(w, "s.f64", f64);
    const int32_t ids[] = {1, -2, 3};
    const float sc[] = {-1.5f, 0.0f, 1e-3f};
    const bool bs[] = {true, true, false};
    const uint64_t big[] = {0, 1ull << 60};
    wf_gguf_writer_set_arr(w, "a.i32", WF_GGUF_INT32, ids, 3);
    wf_gguf_writer_set_arr(w, "a.f32", WF_GGUF_FLOAT32, sc, 3);
    wf_gguf_writer_set_arr(w, "a.bool", WF_GGUF_BOOL, bs, 3);
    wf_gguf_writer_set_arr(w, "a.u64", WF_GGUF_UINT64, big, 2);
    wf_gguf_writer_set_arr(w, "a.empty", WF_GGUF_UINT8, NULL, 0);
    wf_str toks[] = {{"<unk>", 5}, {"", 0}, {"\xc4\xa0the", 5}, {"a b", 3}};
    wf_gguf_writer_set_arr_str(w, "a.str", toks, 4);
    wf_gguf_writer_set_alignment(w, 64);
    /* tensors: byte k of tensor j is (k * 7 + j * 13) & 255 */
    static uint8_t d[4][34 * 4];
    for (int j = 0; j < 4; j++)
        for (int k = 0; k < 34 * 4; k++) d[j][k] = (uint8_t)((k * 7 + j * 13) & 255);
    int64_t ne0[2] = {3, 2}, ne1[3] = {2, 2, 2}, ne2[2] = {64, 2}, ne3[1] = {5};
    wf_status s = wf_gguf_writer_add_tensor(w, "t.f32", WF_TYPE_F32, 2, ne0, d[0], 24, &err);
    if (!s) s = wf_gguf_writer_add_tensor(w, "t.f16", WF_TYPE_F16, 3, ne1, d[1], 16, &err);
    if (!s) s = wf_gguf_writer_add_tensor(w, "t.q8_0", WF_TYPE_Q8_0, 2, ne2, d[2], 34 * 4, &err);
    if (!s) s = wf_gguf_writer_add_tensor(w, "t.bf16", WF_TYPE_BF16, 1, ne3, d[3], 10, &err);
    if (!s) s = wf_gguf_writer_write(w, path, NULL, NULL, &err);
    wf_gguf_writer_free(w);
    if (s) {
        fprintf(stderr, "gguf_dump: %s\n", err.msg);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--write-sample") == 0) return sample(argv[2]);
    if (argc == 2) return dump(argv[1]);
    fprintf(stderr, "usage: gguf_dump FILE | gguf_dump --write-sample FILE\n");
    return 2;
}
