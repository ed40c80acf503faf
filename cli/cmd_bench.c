/* cmd_bench.c — `wafer bench`: load time, prefill speed, time to first token,
 * decode speed, peak memory, and weight bytes read per token.
 *
 * The prompt is seeded random token ids (no tokenizer needed, so synthetic
 * models from bench/mkmodel work); decoding is greedy (argmax), one token per
 * wf_decode call, exactly as an interactive session decodes. Each repetition
 * starts from an empty KV cache. Rates are medians over repetitions of the
 * per-repetition rate.
 *
 * Weight bytes per token are read from the GGUF tensor table, independently
 * of the engine: every weight matrix a token passes through (all layers'
 * matrices plus the output matrix, which is token_embd when tied). Embedding
 * lookup (one row) and norms/biases are negligible and not counted. This is
 * the numerator of the decode bound: tok/s <= bandwidth / bytes per token.
 */
#include "cli.h"

#include "format/gguf.h"
#include "cpu/kernels.h"
#include "format/quant.h"
#include "cpu/threadpool.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

typedef struct bench_opts {
    const char *model;
    char model_buf[CLI_PATH_MAX]; /* the default model's path when -m is not given */
    int32_t n_prompt, n_gen, threads, ctx, batch, reps;
    wf_kv_type kv;
    uint64_t seed;
    int32_t isa;       /* -1 best, 0 scalar, 1 avx2, 2 avx512 */
    bool json, warmup;
    double membw_gbps; /* optional: prints the bound and % of it */
} bench_opts;

/* Weight matrices a token passes through, summed from the tensor table (of
 * a MoE model's stacked expert tensors, the share of the experts a token
 * uses: <arch>.expert_used_count / expert_count). */
typedef struct weight_stats {
    uint64_t bytes;          /* per token                                      */
    uint64_t elems;          /* per token = int8 MACs per token in prefill     */
    uint64_t n_params;       /* all tensors                                    */
    uint64_t file_bytes;
    uint64_t type_bytes[WF_TYPE_COUNT]; /* per-token bytes by element type    */
    bool tied;
} weight_stats;

static bool is_layer_matrix(const wf_gguf_tensor *t) {
    return t->n_dims >= 2 && !strncmp(t->name, "blk.", 4);
}

static wf_status weight_stats_read(const char *path, weight_stats *ws, wf_error *err) {
    memset(ws, 0, sizeof *ws);
    wf_gguf *g = NULL;
    wf_status st = wf_gguf_open(path, &g, err);
    if (st) return st;
    ws->file_bytes = wf_gguf_file_size(g);
    uint32_t n_exp = 0, n_used = 0;
    wf_str arch;
    if (wf_gguf_get_str(g, "general.architecture", &arch, NULL) == WF_OK && arch.len < 64) {
        char key[128];
        snprintf(key, sizeof key, "%.*s.expert_count", (int)arch.len, arch.ptr);
        if (wf_gguf_get_u32(g, key, &n_exp, NULL) != WF_OK) n_exp = 0;
        snprintf(key, sizeof key, "%.*s.expert_used_count", (int)arch.len, arch.ptr);
        if (wf_gguf_get_u32(g, key, &n_used, NULL) != WF_OK || n_used > n_exp) n_exp = 0;
    }
    const wf_gguf_tensor *out = wf_gguf_find_tensor(g, "output.weight");
    if (!out) out = wf_gguf_find_tensor(g, "token_embd.weight"), ws->tied = true;
    int64_t n = wf_gguf_n_tensors(g);
    for (int64_t i = 0; i < n; i++) {
        const wf_gguf_tensor *t = wf_gguf_tensor_at(g, i);
        uint64_t el = 1;
        for (uint32_t d = 0; d < t->n_dims; d++) el *= (uint64_t)t->ne[d];
        ws->n_params += el;
        if (is_layer_matrix(t) || t == out) {
            uint64_t b = t->nbytes;
            if (n_exp > 0 && strstr(t->name, "_exps.") &&
                (t->ne[2] == (int64_t)n_exp || (t->n_dims == 2 && t->ne[1] == (int64_t)n_exp))) { /* weights, biases */
                b = b / n_exp * n_used;
                el = el / n_exp * n_used;
            }
            ws->bytes += b;
            ws->elems += el;
            if (t->type < WF_TYPE_COUNT) ws->type_bytes[t->type] += b;
        }
    }
    wf_gguf_close(g);
    return WF_OK;
}

/* VmHWM / VmRSS from /proc/self/status, in bytes (0 if unavailable). */
static uint64_t proc_status_kb(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    uint64_t v = 0;
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, kl) && line[kl] == ':') {
            v = strtoull(line + kl + 1, NULL, 10) * 1024u;
            break;
        }
    fclose(f);
    return v;
}

static int32_t argmax(const float *x, int32_t n) {
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median and percentiles of a copy of v (n >= 1). */
static double quantile(const double *v, int n, double q) {
    double *s = malloc((size_t)n * sizeof *s);
    if (!s) return v[0];
    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    double pos = q * (n - 1);
    int lo = (int)pos;
    double r = lo + 1 < n ? s[lo] + (pos - lo) * (s[lo + 1] - s[lo]) : s[lo];
    free(s);
    return r;
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: wafer bench [-m MODEL] [options]\n\n"
            "Measures load time, prefill speed, time to first token, decode speed and\n"
            "peak memory on seeded random token ids (no tokenizer needed).\n\n"
            "  -m, --model PATH     GGUF model (default: the embedded model)\n"
            "  -p, --prompt N       prompt tokens to prefill (default 512)\n"
            "  -n, --gen N          tokens to decode greedily, one at a time (default 128)\n"
            "  -t, --threads N      worker threads (default: all cores)\n"
            "  -c, --ctx-size N     context size (default: prompt + gen, rounded up)\n"
            "  -b, --batch N        prefill chunk (default: the whole prompt, at most 4096)\n"
            "      --kv f16|q8_0|f32  KV cache type (default f16)\n"
            "  -r, --reps R         repetitions; rates are medians (default 3)\n"
            "      --seed S         seed of the random prompt (default 42)\n"
            "      --isa auto|scalar|avx2|avx512  kernels (default: the best the CPU has)\n"
            "      --no-warmup      time the first run too (includes page-in)\n"
            "      --membw GBPS     memory bandwidth: also print the decode bound\n"
            "      --json           one JSON object instead of text\n");
}

static bool parse_i32(const char *flag, const char *s, int64_t lo, int64_t hi, int32_t *out) {
    char *end;
    errno = 0;
    long long v = s ? strtoll(s, &end, 10) : 0;
    if (!s || !*s || *end || errno || v < lo || v > hi) {
        fprintf(stderr, "wafer bench: %s expects an integer in [%lld, %lld], got '%s'\n", flag,
                (long long)lo, (long long)hi, s ? s : "");
        return false;
    }
    *out = (int32_t)v;
    return true;
}

/* 0: parsed, 1: --help shown, 2: error (message printed). */
static int parse_args(int argc, char **argv, bench_opts *o) {
    memset(o, 0, sizeof *o);
    o->n_prompt = 512;
    o->n_gen = 128;
    o->reps = 3;
    o->kv = WF_KV_F16;
    o->seed = 42;
    o->warmup = true;
    o->isa = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define IS(x, y) (!strcmp(a, x) || !strcmp(a, y))
#define NEED()                                                                 \
    do {                                                                       \
        if (!v) {                                                              \
            fprintf(stderr, "wafer bench: %s needs a value\n", a);             \
            return 2;                                                          \
        }                                                                      \
        i++;                                                                   \
    } while (0)
        if (IS("-h", "--help")) {
            usage(stdout);
            return 1;
        } else if (IS("-m", "--model")) {
            NEED();
            o->model = v;
        } else if (IS("-p", "--prompt")) {
            NEED();
            if (!parse_i32(a, v, 1, 1 << 20, &o->n_prompt)) return 2;
        } else if (IS("-n", "--gen")) {
            NEED();
            if (!parse_i32(a, v, 0, 1 << 20, &o->n_gen)) return 2;
        } else if (IS("-t", "--threads")) {
            NEED();
            if (!parse_i32(a, v, 1, 1024, &o->threads)) return 2;
        } else if (IS("-c", "--ctx-size")) {
            NEED();
            if (!parse_i32(a, v, 1, 1 << 24, &o->ctx)) return 2;
        } else if (IS("-b", "--batch")) {
            NEED();
            if (!parse_i32(a, v, 1, 1 << 20, &o->batch)) return 2;
        } else if (IS("-r", "--reps")) {
            NEED();
            if (!parse_i32(a, v, 1, 1000, &o->reps)) return 2;
        } else if (IS("--seed", "--seed")) {
            NEED();
            int32_t s;
            if (!parse_i32(a, v, 0, INT32_MAX, &s)) return 2;
            o->seed = (uint64_t)s;
        } else if (IS("--kv", "--kv")) {
            NEED();
            if (!strcmp(v, "f16")) o->kv = WF_KV_F16;
            else if (!strcmp(v, "q8_0")) o->kv = WF_KV_Q8_0;
            else if (!strcmp(v, "f32")) o->kv = WF_KV_F32;
            else {
                fprintf(stderr, "wafer bench: --kv expects f16, q8_0 or f32, got '%s'\n", v);
                return 2;
            }
        } else if (IS("--isa", "--isa")) {
            NEED();
            if (!strcmp(v, "auto")) o->isa = -1;
            else if (!strcmp(v, "scalar")) o->isa = WF_ISA_SCALAR;
            else if (!strcmp(v, "avx2")) o->isa = WF_ISA_AVX2;
            else if (!strcmp(v, "avx512")) o->isa = WF_ISA_AVX512;
            else {
                fprintf(stderr, "wafer bench: --isa expects auto, scalar, avx2 or avx512, got '%s'\n", v);
                return 2;
            }
        } else if (IS("--membw", "--membw")) {
            NEED();
            char *end;
            o->membw_gbps = strtod(v, &end);
            if (*end || !(o->membw_gbps > 0 && o->membw_gbps < 1e6)) {
                fprintf(stderr, "wafer bench: --membw expects GB/s, got '%s'\n", v);
                return 2;
            }
        } else if (IS("--no-warmup", "--no-warmup")) {
            o->warmup = false;
        } else if (IS("--json", "--json")) {
            o->json = true;
        } else {
            fprintf(stderr, "wafer bench: unknown option '%s'\n\n", a);
            usage(stderr);
            return 2;
        }
#undef IS
#undef NEED
    }
    if (o->ctx && o->ctx < (int64_t)o->n_prompt + o->n_gen + 1) {
        fprintf(stderr, "wafer bench: --ctx-size %d is smaller than prompt + gen + 1 = %lld\n",
                o->ctx, (long long)o->n_prompt + o->n_gen + 1);
        return 2;
    }
    if (!(o->model = cli_model_or_default(o->model, o->model_buf, sizeof o->model_buf))) return 2;
    return 0;
}

typedef struct bench_result {
    double load_s, warmup_s;
    double *prefill_tps, *ttft_ms, *decode_tps; /* (reps)               */
    double *tok_ms;                              /* (reps * n_gen)       */
    int n_tok_ms;
    uint64_t rss_after_load, peak_rss;
    double cpu_s, wall_s; /* this process, load to end: cpu/wall near the thread
                             count means the cores were ours                    */
    int32_t n_ctx, n_vocab, last_token;
} bench_result;

/* Progress on a terminal (cli_progress prints nothing elsewhere; none
 * with --json): the share of all reps' tokens done. */
typedef struct bench_prog {
    cli_progress bar;
    bool on;
    int rep, reps;
    int64_t per_rep; /* prompt + generated tokens */
} bench_prog;

static void prog(bench_prog *p, int64_t done_in_rep, const char *phase, int64_t i, int64_t n) {
    if (!p->on) return;
    char what[64];
    snprintf(what, sizeof what, "rep %d/%d %s %lld/%lld", p->rep + 1, p->reps, phase, (long long)i, (long long)n);
    cli_progress_update(&p->bar, (double)(p->rep * p->per_rep + done_in_rep) / (double)(p->reps * p->per_rep), what);
}

/* Prefill prompt[0..n) in chunks of batch tokens; logits of the last only. */
static wf_status prefill(wf_context *c, const int32_t *prompt, int32_t n, int32_t batch, bench_prog *p,
                         wf_error *err) {
    for (int32_t i = 0; i < n; i += batch) {
        int32_t k = n - i < batch ? n - i : batch;
        prog(p, i, "prefill", i, n);
        wf_status st = wf_decode(c, prompt + i, k, false, err);
        if (st) return st;
    }
    return WF_OK;
}

static wf_status run_reps(wf_context *c, const bench_opts *o, const int32_t *prompt,
                          int32_t batch, bench_result *r, bench_prog *p, wf_error *err) {
    for (int rep = 0; rep < o->reps; rep++) {
        p->rep = rep;
        wf_status st = wf_kv_truncate(c, 0, err);
        if (st) return st;
        double t0 = wf_time_now();
        if ((st = prefill(c, prompt, o->n_prompt, batch, p, err))) return st;
        const float *lg = wf_get_logits(c, -1);
        if (!lg) return wf_fail(err, WF_ERR_INTERNAL, "no logits after prefill");
        int32_t tok = argmax(lg, r->n_vocab);
        double t1 = wf_time_now();
        r->prefill_tps[rep] = o->n_prompt / (t1 - t0);
        r->ttft_ms[rep] = (t1 - t0) * 1e3;
        for (int32_t g = 0; g < o->n_gen; g++) {
            if (g % 8 == 0) prog(p, o->n_prompt + g, "decode", g, o->n_gen);
            double s0 = wf_time_now();
            if ((st = wf_decode(c, &tok, 1, false, err))) return st;
            if (!(lg = wf_get_logits(c, -1))) return wf_fail(err, WF_ERR_INTERNAL, "no logits");
            tok = argmax(lg, r->n_vocab);
            r->tok_ms[r->n_tok_ms++] = (wf_time_now() - s0) * 1e3;
        }
        double t2 = wf_time_now();
        r->decode_tps[rep] = o->n_gen > 0 ? o->n_gen / (t2 - t1) : 0.0;
        r->last_token = tok;
    }
    return WF_OK;
}

static void print_runs(const char *key, const double *v, int n) {
    printf(", \"%s\": [", key);
    for (int i = 0; i < n; i++) printf("%s%.3f", i ? ", " : "", v[i]);
    printf("]");
}

static void print_json(const bench_opts *o, const weight_stats *ws, const bench_result *r,
                       const char *isa, int threads) {
    double dec = o->n_gen ? quantile(r->decode_tps, o->reps, 0.5) : 0;
    printf("{\"model\": \"");
    for (const char *s = o->model; *s; s++) { /* JSON-escape the path */
        if (*s == '"' || *s == '\\') printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20) printf("\\u%04x", *s);
        else putchar(*s);
    }
    printf("\", \"wafer_version\": \"%s\", \"isa\": \"%s\", \"threads\": %d, \"n_ctx\": %d, "
           "\"kv\": \"%s\", \"n_prompt\": %d, \"n_gen\": %d, \"reps\": %d, \"n_vocab\": %d, ",
           WAFER_VERSION, isa, threads, r->n_ctx,
           o->kv == WF_KV_Q8_0 ? "q8_0" : o->kv == WF_KV_F32 ? "f32" : "f16", o->n_prompt,
           o->n_gen, o->reps, r->n_vocab);
    printf("\"n_params\": %llu, \"file_bytes\": %llu, \"tied_output\": %s, "
           "\"weight_bytes_per_token\": %llu, \"weight_elems_per_token\": %llu, \"weight_types\": {",
           (unsigned long long)ws->n_params, (unsigned long long)ws->file_bytes,
           ws->tied ? "true" : "false", (unsigned long long)ws->bytes, (unsigned long long)ws->elems);
    bool first = true;
    for (int t = 0; t < WF_TYPE_COUNT; t++)
        if (ws->type_bytes[t]) {
            char b[24];
            printf("%s\"%s\": %llu", first ? "" : ", ", wf_type_name((uint32_t)t, b, sizeof b),
                   (unsigned long long)ws->type_bytes[t]);
            first = false;
        }
    printf("}, \"load_s\": %.4f, \"warmup_s\": %.4f", r->load_s, r->warmup_s);
    printf(", \"prefill_tok_s\": %.3f, \"ttft_ms\": %.3f, \"decode_tok_s\": %.3f",
           quantile(r->prefill_tps, o->reps, 0.5), quantile(r->ttft_ms, o->reps, 0.5), dec);
    if (r->n_tok_ms)
        printf(", \"decode_ms_p50\": %.3f, \"decode_ms_p90\": %.3f, \"decode_ms_max\": %.3f",
               quantile(r->tok_ms, r->n_tok_ms, 0.5), quantile(r->tok_ms, r->n_tok_ms, 0.9),
               quantile(r->tok_ms, r->n_tok_ms, 1.0));
    print_runs("prefill_tok_s_runs", r->prefill_tps, o->reps);
    print_runs("ttft_ms_runs", r->ttft_ms, o->reps);
    print_runs("decode_tok_s_runs", r->decode_tps, o->reps);
    printf(", \"decode_gbps\": %.3f", dec * (double)ws->bytes / 1e9);
    if (o->membw_gbps > 0) {
        double bound = o->membw_gbps * 1e9 / (double)ws->bytes;
        printf(", \"membw_gbps\": %.3f, \"bound_tok_s\": %.3f, \"pct_of_bound\": %.2f",
               o->membw_gbps, bound, 100.0 * dec / bound);
    }
    printf(", \"process_cpu_s\": %.3f, \"process_wall_s\": %.3f", r->cpu_s, r->wall_s);
    printf(", \"rss_after_load_bytes\": %llu, \"peak_rss_bytes\": %llu, \"last_token\": %d}\n",
           (unsigned long long)r->rss_after_load, (unsigned long long)r->peak_rss, r->last_token);
}

static void print_text(const bench_opts *o, const weight_stats *ws, const bench_result *r,
                       const char *isa, int threads) {
    printf("model        %s\n", o->model);
    printf("             %.1f M parameters, %.1f MB file, weights read per token %.1f MB (",
           (double)ws->n_params / 1e6, (double)ws->file_bytes / 1e6, (double)ws->bytes / 1e6);
    bool first = true;
    for (int t = 0; t < WF_TYPE_COUNT; t++)
        if (ws->type_bytes[t]) {
            char b[24];
            printf("%s%s %.1f", first ? "" : ", ", wf_type_name((uint32_t)t, b, sizeof b),
                   (double)ws->type_bytes[t] / 1e6);
            first = false;
        }
    printf(")%s\n", ws->tied ? ", output tied to token_embd" : "");
    printf("setup        %d threads, %s, n_ctx %d, kv %s, %d reps (medians)\n", threads, isa,
           r->n_ctx, o->kv == WF_KV_Q8_0 ? "q8_0" : o->kv == WF_KV_F32 ? "f32" : "f16", o->reps);
    printf("load         %.3f s", r->load_s);
    if (o->warmup) printf(" (+ %.3f s first token after load: page-in, warm-up)", r->warmup_s);
    printf("\nprefill      %d tokens: %.1f tok/s\n", o->n_prompt, quantile(r->prefill_tps, o->reps, 0.5));
    printf("TTFT         %.1f ms (prefill + first greedy token)\n", quantile(r->ttft_ms, o->reps, 0.5));
    if (o->n_gen) {
        double dec = quantile(r->decode_tps, o->reps, 0.5);
        printf("decode       %d tokens: %.2f tok/s  (per token p50 %.2f ms, p90 %.2f ms, max %.2f ms)\n",
               o->n_gen, dec, quantile(r->tok_ms, r->n_tok_ms, 0.5),
               quantile(r->tok_ms, r->n_tok_ms, 0.9), quantile(r->tok_ms, r->n_tok_ms, 1.0));
        printf("             = %.1f GB/s of weights streamed\n", dec * (double)ws->bytes / 1e9);
        if (o->membw_gbps > 0) {
            double bound = o->membw_gbps * 1e9 / (double)ws->bytes;
            printf("bound        %.2f tok/s at %.1f GB/s: decode is %.1f%% of it\n", bound,
                   o->membw_gbps, 100.0 * dec / bound);
        }
    }
    printf("memory       peak RSS %.1f MB (after load %.1f MB; mapped weights count once touched)\n",
           (double)r->peak_rss / 1e6, (double)r->rss_after_load / 1e6);
}

int cmd_bench(int argc, char **argv) {
    bench_opts o;
    int pr = parse_args(argc, argv, &o);
    if (pr) return pr == 1 ? 0 : 2;

    wf_error err = {0};
    weight_stats ws;
    if (weight_stats_read(o.model, &ws, &err)) {
        fprintf(stderr, "wafer bench: %s\n", err.msg);
        return 1;
    }
    if (!ws.bytes) {
        fprintf(stderr, "wafer bench: %s: no weight matrices found\n", o.model);
        return 1;
    }

    int rc = 1;
    wf_model *m = NULL;
    wf_context *c = NULL;
    int32_t *prompt = NULL;
    bench_result r;
    memset(&r, 0, sizeof r);
    r.prefill_tps = calloc((size_t)o.reps, sizeof(double));
    r.ttft_ms = calloc((size_t)o.reps, sizeof(double));
    r.decode_tps = calloc((size_t)o.reps, sizeof(double));
    r.tok_ms = calloc((size_t)o.reps * (size_t)(o.n_gen ? o.n_gen : 1), sizeof(double));
    prompt = malloc((size_t)o.n_prompt * sizeof *prompt);
    if (!r.prefill_tps || !r.ttft_ms || !r.decode_tps || !r.tok_ms || !prompt) {
        fprintf(stderr, "wafer bench: out of memory\n");
        goto out;
    }

    wf_model_params mp = wf_model_default_params();
    mp.isa = o.isa;
    double t0 = wf_time_now();
    if (wf_model_load(o.model, &mp, &m, &err)) {
        fprintf(stderr, "wafer bench: %s\n", err.msg);
        goto out;
    }
    r.load_s = wf_time_now() - t0;
    r.rss_after_load = proc_status_kb("VmRSS");
    r.n_vocab = wf_model_n_vocab(m);
    if (r.n_vocab <= 0) {
        fprintf(stderr, "wafer bench: model has no vocabulary size\n");
        goto out;
    }

    int64_t need = (int64_t)o.n_prompt + o.n_gen + 1;
    wf_context_params cp = wf_context_default_params();
    cp.n_threads = o.threads;
    cp.kv_type = o.kv;
    cp.n_ctx = o.ctx ? o.ctx : (int32_t)((need + 255) / 256 * 256);
    /* default chunk: the whole prompt up to 4096 tokens (a longer prompt is
     * prefilled in 4096-token chunks, as a server would, and the progress
     * line moves between them) */
    int32_t batch = o.batch ? o.batch : o.n_prompt < 4096 ? o.n_prompt : 4096;
    cp.n_batch = batch;
    if (wf_context_create(m, &cp, &c, &err)) {
        fprintf(stderr, "wafer bench: %s\n", err.msg);
        goto out;
    }
    r.n_ctx = wf_context_n_ctx(c);

    uint64_t s = o.seed;
    for (int32_t i = 0; i < o.n_prompt; i++)
        prompt[i] = (int32_t)(splitmix64(&s) % (uint64_t)r.n_vocab);

    if (o.warmup) { /* touch every weight page once, so reps measure steady state */
        double w0 = wf_time_now();
        if (wf_decode(c, prompt, 1, false, &err) || wf_kv_truncate(c, 0, &err)) {
            fprintf(stderr, "wafer bench: warm-up: %s\n", err.msg);
            goto out;
        }
        r.warmup_s = wf_time_now() - w0;
    }
    bench_prog bp = {.on = !o.json, .reps = o.reps, .per_rep = (int64_t)o.n_prompt + o.n_gen};
    if (bp.on) cli_progress_start(&bp.bar, "bench");
    wf_status rst = run_reps(c, &o, prompt, batch, &r, &bp, &err);
    if (bp.on) cli_progress_end(&bp.bar);
    if (rst) {
        fprintf(stderr, "wafer bench: %s\n", err.msg);
        goto out;
    }
    r.peak_rss = proc_status_kb("VmHWM");
    r.wall_s = wf_time_now() - t0;
    struct rusage ru;
    if (!getrusage(RUSAGE_SELF, &ru))
        r.cpu_s = (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec +
                  (double)ru.ru_stime.tv_sec + 1e-6 * (double)ru.ru_stime.tv_usec;

    wf_cpu_features cpu;
    wf_cpu_detect(&cpu);
    wf_isa best = wf_cpu_best_isa(&cpu); /* the model falls back the same way */
    const char *isa = wf_isa_name(o.isa >= 0 && o.isa < (int32_t)best ? (wf_isa)o.isa : best);
    int threads = o.threads ? o.threads : wf_n_cores();
    if (o.json) print_json(&o, &ws, &r, isa, threads);
    else print_text(&o, &ws, &r, isa, threads);
    rc = 0;
out:
    if (c) wf_context_free(c);
    if (m) wf_model_free(m);
    free(prompt);
    free(r.prefill_tps);
    free(r.ttft_ms);
    free(r.decode_tps);
    free(r.tok_ms);
    return rc;
}
