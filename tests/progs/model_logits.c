/* model_logits.c — evaluate token ids with the public API and dump every
 * logit as raw float32 (n_tokens x n_vocab), for test_model.py.
 *
 *   model_logits MODEL IDS OUT [--split K | --one-by-one] [--batch N]
 *                [--kv f16|q8_0|f32] [--threads N] [--n-ctx N] [--last-only]
 *
 * IDS: comma-separated ids, or @FILE with whitespace-separated ids.
 * --split K: call wf_decode with K tokens at a time (--one-by-one = 1);
 * --batch N: the context's n_batch (wf_decode chunks internally);
 * --last-only: only the final token's logits are kept and written (1 row);
 * --tail N: the last N tokens are decoded one at a time (decode latency is
 * printed as tail_ms_per_token).
 * Prints "n_ctx=... kv_bytes=... time=..." on stdout.
 */
#include "wafer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int32_t *read_ids(const char *spec, int32_t *n) {
    size_t cap = 1024, len = 0;
    int32_t *ids = malloc(cap * sizeof *ids);
    FILE *f = NULL;
    const char *p = spec;
    char *text = NULL;
    if (spec[0] == '@') {
        f = fopen(spec + 1, "rb");
        if (!f) { free(ids); return NULL; }
        fseek(f, 0, SEEK_END);
        long sz = ftell(f);
        fseek(f, 0, SEEK_SET);
        text = malloc((size_t)sz + 1);
        size_t got = fread(text, 1, (size_t)sz, f);
        text[got] = 0;
        fclose(f);
        p = text;
    }
    while (*p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p) { p++; continue; }
        if (len == cap) ids = realloc(ids, (cap *= 2) * sizeof *ids);
        ids[len++] = (int32_t)v;
        p = end;
    }
    free(text);
    *n = (int32_t)len;
    return ids;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: model_logits MODEL IDS OUT [--split K|--one-by-one] [--batch N] "
                        "[--kv f16|q8_0|f32] [--threads N] [--n-ctx N] [--last-only]\n");
        return 2;
    }
    wf_context_params cp = wf_context_default_params();
    int split = 0;
    bool last_only = false;
    int tail = 0;
    for (int i = 4; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : "";
        if (!strcmp(a, "--one-by-one")) split = 1;
        else if (!strcmp(a, "--last-only")) last_only = true;
        else if (!strcmp(a, "--split")) split = atoi(v), i++;
        else if (!strcmp(a, "--tail")) tail = atoi(v), i++;
        else if (!strcmp(a, "--batch")) cp.n_batch = atoi(v), i++;
        else if (!strcmp(a, "--threads")) cp.n_threads = atoi(v), i++;
        else if (!strcmp(a, "--n-ctx")) cp.n_ctx = atoi(v), i++;
        else if (!strcmp(a, "--kv")) {
            i++;
            if (!strcmp(v, "f16")) cp.kv_type = WF_KV_F16;
            else if (!strcmp(v, "q8_0")) cp.kv_type = WF_KV_Q8_0;
            else if (!strcmp(v, "f32")) cp.kv_type = WF_KV_F32;
            else { fprintf(stderr, "bad --kv %s\n", v); return 2; }
        } else {
            fprintf(stderr, "unknown option %s\n", a);
            return 2;
        }
    }
    int32_t n = 0;
    int32_t *ids = read_ids(argv[2], &n);
    if (!ids || n == 0) { fprintf(stderr, "no token ids\n"); free(ids); return 2; }
    wf_error err = {0};
    wf_model *m = NULL;
    wf_model_params mp = wf_model_default_params();
    if (wf_model_load(argv[1], &mp, &m, &err) != WF_OK) {
        fprintf(stderr, "load: %s\n", err.msg);
        free(ids);
        return 1;
    }
    if (cp.n_ctx == 0 && n > wf_model_n_ctx_train(m)) cp.n_ctx = n;
    wf_context *c = NULL;
    if (wf_context_create(m, &cp, &c, &err) != WF_OK) {
        fprintf(stderr, "context: %s\n", err.msg);
        wf_model_free(m);
        free(ids);
        return 1;
    }
    const int32_t nv = wf_model_n_vocab(m);
    FILE *out = fopen(argv[3], "wb");
    if (!out) { perror(argv[3]); return 1; }
    if (split <= 0) split = n;
    if (tail < 0 || tail > n) tail = n;
    int rc = 0;
    double t0 = now(), t_tail = 0;
    for (int32_t s = 0; s < n && rc == 0;) {
        const int32_t head_end = n - tail;
        int32_t k = s < head_end ? (head_end - s < split ? head_end - s : split) : 1;
        if (s == head_end) t_tail = now();
        const bool final = s + k == n;
        if (wf_decode(c, ids + s, k, !last_only, &err) != WF_OK) {
            fprintf(stderr, "decode at %d: %s\n", s, err.msg);
            rc = 1;
            break;
        }
        if (last_only) {
            if (final) fwrite(wf_get_logits(c, -1), sizeof(float), (size_t)nv, out);
        } else for (int32_t i = 0; i < k; i++) {
            const float *lg = wf_get_logits(c, i);
            if (!lg) { fprintf(stderr, "no logits for %d\n", s + i); rc = 1; break; }
            fwrite(lg, sizeof(float), (size_t)nv, out);
        }
        s += k;
    }
    double t1 = now();
    if (fclose(out) != 0) rc = 1;
    printf("n_ctx=%d n_threads=%d n_batch=%d kv_bytes=%llu scratch_bytes=%llu time=%.3f",
           wf_context_n_ctx(c), wf_context_n_threads(c), wf_context_n_batch(c),
           (unsigned long long)wf_context_kv_bytes(c), (unsigned long long)wf_context_scratch_bytes_used(c),
           t1 - t0);
    if (tail > 0) printf(" tail_ms_per_token=%.3f", (t1 - t_tail) * 1e3 / tail);
    printf(" notice=%s\n", wf_context_notice(c));
    wf_context_free(c);
    wf_model_free(m);
    free(ids);
    return rc;
}
