/* quant_tool.c — test helper: convert raw little-endian files between f32
 * and any element type with the reference conversions of the traits table.
 *   quant_tool quantize TYPE IN.f32 OUT.bin
 *   quant_tool dequantize TYPE IN.bin OUT.f32
 *   quant_tool info TYPE                      (prints "blck_size type_size")
 */
#include "format/quant.h"

#include <stdio.h>
#include <stdlib.h>

static void *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    unsigned char *buf = malloc(cap);
    for (;;) {
        if (!buf) break;
        if (n == cap) {
            unsigned char *nb = realloc(buf, cap * 2);
            if (!nb) { free(buf); buf = NULL; break; }
            buf = nb;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) break;
    }
    fclose(f);
    *len = n;
    return buf;
}

static int write_all(const char *path, const void *p, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = len ? fwrite(p, 1, len, f) : 0;
    int rc = fclose(f);
    return (w == len && rc == 0) ? 0 : -1;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s quantize|dequantize TYPE IN OUT | info TYPE\n", argv[0]);
        return 2;
    }
    int t = wf_type_from_name(argv[2]);
    const wf_type_traits *tr = t < 0 ? NULL : wf_type_get((uint32_t)t);
    if (!tr) {
        fprintf(stderr, "unknown type %s\n", argv[2]);
        return 2;
    }
    if (!strcmp(argv[1], "info")) {
        printf("%d %zu\n", tr->blck_size, tr->type_size);
        return 0;
    }
    if (argc != 5) {
        fprintf(stderr, "need IN and OUT\n");
        return 2;
    }
    int quant = !strcmp(argv[1], "quantize");
    if (!quant && strcmp(argv[1], "dequantize")) {
        fprintf(stderr, "unknown command %s\n", argv[1]);
        return 2;
    }
    if ((quant && !tr->from_float) || (!quant && !tr->to_float)) {
        fprintf(stderr, "type %s has no %s\n", tr->name, argv[1]);
        return 2;
    }
    size_t len = 0;
    void *in = read_all(argv[3], &len);
    if (!in) {
        fprintf(stderr, "cannot read %s\n", argv[3]);
        return 1;
    }
    int64_t n;
    size_t out_len;
    if (quant) {
        if (len % 4 || (len / 4) % (size_t)tr->blck_size) {
            fprintf(stderr, "input is not a whole number of %d-float blocks\n", tr->blck_size);
            free(in);
            return 1;
        }
        n = (int64_t)(len / 4);
        out_len = wf_row_size((wf_type)t, n);
    } else {
        if (len % tr->type_size) {
            fprintf(stderr, "input is not a whole number of %zu-byte blocks\n", tr->type_size);
            free(in);
            return 1;
        }
        n = (int64_t)(len / tr->type_size) * tr->blck_size;
        out_len = (size_t)n * 4;
    }
    void *out = malloc(out_len ? out_len : 1);
    if (!out) {
        free(in);
        return 1;
    }
    if (quant) tr->from_float(in, out, n);
    else tr->to_float(in, out, n);
    int rc = write_all(argv[4], out, out_len);
    free(in);
    free(out);
    if (rc) fprintf(stderr, "cannot write %s\n", argv[4]);
    return rc ? 1 : 0;
}
