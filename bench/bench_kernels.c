/* bench_kernels.c — single-thread speed of the kernel table, per ISA:
 *
 *   matvec: one activation row against a whole weight matrix (decode), as a
 *           vec_dot per row and as one gemm call with nc = 1. Weight bytes
 *           per second is the figure to compare with memory bandwidth
 *           (bench_membw); the matrices rotate through a working set several
 *           times the L3 so they really come from DRAM.
 *   gemm:   nc activation rows against a cache-resident weight matrix
 *           (prefill / speculative verification), in GMAC/s (1e9 weight x
 *           activation multiply-adds per second), to compare with the int8
 *           peak (bench_peak).
 *
 * Weights are random codes with sane scales (speed does not depend on the
 * values); activations come from the ISA's own quantize_row.
 *
 * usage: bench_kernels [--quick] [--gemm] [--nc N] [--isa I] [--tile-rows R] [--cputime] [--type T] [--ws MiB] [--rows R] [--cols K]
 *   --gemm: only the cache-resident gemm table (skips the DRAM matvec runs)
 *   --nc N: only that gemm width (one of 1, 2, 4, ..., 128)
 *   --isa avx2|avx512: only that ISA's gemm
 *   --tile-rows R: cut each gemm into calls of R rows, as the matmul driver does (64)
 *   --cputime: time gemm by this thread's CPU time (shared, busy machines)
 */
#include "cpu/kernels.h"

#include <stdio.h>
#include <stdlib.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif
#include <string.h>
#include <time.h>

static uint64_t rng_state = 0x243f6a8885a308d3ull;
static uint64_t rng_next(void) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}
static float rng_gauss(void) { /* sum of uniforms: good enough for timing data */
    float s = 0;
    for (int i = 0; i < 4; i++) s += (float)(rng_next() >> 40) * (1.0f / 16777216.0f);
    return s - 2.0f;
}

/* Random codes; every fp16 scale field set to a small normal value. */
static void fill_weights(wf_type t, uint8_t *dst, int64_t rows, int64_t cols) {
    const wf_type_traits *tr = wf_type_get((uint32_t)t);
    const size_t row = wf_row_size(t, cols), total = row * (size_t)rows;
    if (!tr->is_quantized) {
        float *x = malloc((size_t)cols * sizeof(float));
        for (int64_t r = 0; r < rows; r++) {
            for (int64_t i = 0; i < cols; i++) x[i] = rng_gauss();
            tr->from_float(x, dst + (size_t)r * row, cols);
        }
        free(x);
        return;
    }
    for (size_t i = 0; i + 8 <= total; i += 8) {
        const uint64_t v = rng_next();
        memcpy(dst + i, &v, 8);
    }
    const uint16_t d = wf_fp32_to_fp16(0.01f);
    for (size_t b = 0; b < total / tr->type_size; b++) {
        uint8_t *blk = dst + b * tr->type_size;
        if (t == WF_TYPE_Q6_K) memcpy(blk + 208, &d, 2);
        else if (t == WF_TYPE_Q3_K) memcpy(blk + 108, &d, 2);
        else if (t == WF_TYPE_Q2_K) { memcpy(blk + 80, &d, 2); memcpy(blk + 82, &d, 2); }
        else if (t == WF_TYPE_MXFP4) blk[0] = 120; /* 2^-7 */
        else if (t == WF_TYPE_Q4_K || t == WF_TYPE_Q5_K || t == WF_TYPE_Q4_1 || t == WF_TYPE_Q5_1) {
            memcpy(blk, &d, 2);
            memcpy(blk + 2, &d, 2);
        } else memcpy(blk, &d, 2);
    }
}

/* --cputime: this thread's CPU time instead of wall time, so that other jobs
 * on a shared machine (which deschedule us) do not count. */
static bool use_cputime = false;
static double now(void) {
    if (!use_cputime) return wf_time_now();
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct {
    const wf_kernels *k;
    wf_type t;
    int64_t rows, cols;
    uint8_t *w;        /* n_mats matrices, each rows x row bytes */
    int n_mats;
    size_t row;        /* bytes per weight row */
    uint8_t *a;        /* activation rows (vec_dot_type) */
    size_t arow;
    float *out;
} bench_ctx;

/* Reading the same bytes with no compute: the bandwidth the matvec is held to. */
#if defined(__x86_64__)
__attribute__((target("avx2"))) static uint64_t read_bytes(const uint8_t *p, size_t n) {
    __m256i acc[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
    size_t i = 0;
    for (; i + 128 <= n; i += 128)
        for (int k = 0; k < 4; k++) acc[k] = _mm256_xor_si256(acc[k], _mm256_loadu_si256((const __m256i *)(p + i + 32 * k)));
    __m256i x = _mm256_xor_si256(_mm256_xor_si256(acc[0], acc[1]), _mm256_xor_si256(acc[2], acc[3]));
    uint64_t r = (uint64_t)_mm256_extract_epi64(x, 0) ^ (uint64_t)_mm256_extract_epi64(x, 3);
    for (; i < n; i++) r += p[i];
    return r;
}
#else
static uint64_t read_bytes(const uint8_t *p, size_t n) {
    uint64_t r = 0;
    for (size_t i = 0; i < n; i++) r += p[i];
    return r;
}
#endif

static double time_read(bench_ctx *b, int reps, uint64_t *sink) {
    double ts[64];
    if (reps > 64) reps = 64;
    const size_t mat = b->row * (size_t)b->rows;
    for (int rep = 0; rep < reps; rep++) {
        const double t0 = now();
        *sink += read_bytes(b->w + (size_t)(rep % b->n_mats) * mat, mat);
        ts[rep] = now() - t0;
    }
    qsort(ts, (size_t)reps, sizeof ts[0], cmp_double);
    return ts[reps / 2];
}

/* Median seconds of one matvec (1 activation row against every weight row). */
static double time_matvec(bench_ctx *b, bool use_gemm, int nc, int reps) {
    double ts[64];
    if (reps > 64) reps = 64;
    for (int rep = 0; rep < reps; rep++) {
        const uint8_t *w = b->w + (size_t)(rep % b->n_mats) * b->row * (size_t)b->rows;
        const double t0 = now();
        if (use_gemm)
            b->k->gemm[b->t](b->cols, (int)b->rows, nc, w, b->row, b->a, b->arow, b->out, (size_t)b->rows);
        else
            for (int64_t r = 0; r < b->rows; r++) b->k->vec_dot[b->t](b->cols, &b->out[r], w + (size_t)r * b->row, b->a);
        ts[rep] = now() - t0;
    }
    qsort(ts, (size_t)reps, sizeof ts[0], cmp_double);
    return ts[reps / 2];
}

/* Median seconds of one gemm of all rows x nc activation rows (matrix 0 only,
 * so the weights stay in cache after the first pass). */
static double time_gemm(bench_ctx *b, int nc, int reps, int64_t tile_rows) {
    double ts[64];
    if (reps > 64) reps = 64;
    if (tile_rows <= 0) tile_rows = b->rows;
    for (int rep = 0; rep < reps; rep++) {
        const double t0 = now();
        for (int64_t r0 = 0; r0 < b->rows; r0 += tile_rows) /* as the matmul driver cuts it (--tile-rows) */
            b->k->gemm[b->t](b->cols, (int)(b->rows - r0 < tile_rows ? b->rows - r0 : tile_rows), nc,
                             b->w + (size_t)r0 * b->row, b->row, b->a, b->arow, b->out + r0, (size_t)b->rows);
        ts[rep] = now() - t0;
    }
    qsort(ts, (size_t)reps, sizeof ts[0], cmp_double);
    return ts[reps / 2];
}

int main(int argc, char **argv) {
    bool quick = false, gemm_only = false;
    int only_nc = 0;  /* --nc N: just that gemm width */
    int only_isa = -1; /* --isa avx2|avx512: just that ISA's gemm */
    int64_t tile_rows = 0; /* --tile-rows R: gemm calls of R rows */
    int only = -1;       /* --type NAME: just that weight type */
    int64_t ws_mib = 0;  /* --ws MiB: matvec working set (default 256, 64 with --quick) */
    int64_t rows = 8960, cols = 1536; /* Qwen2.5-1.5B ffn_up: 8960 x 1536 */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) quick = true;
        else if (!strcmp(argv[i], "--gemm")) gemm_only = true;
        else if (!strcmp(argv[i], "--nc") && i + 1 < argc) only_nc = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--tile-rows") && i + 1 < argc) tile_rows = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--cputime")) use_cputime = true;
        else if (!strcmp(argv[i], "--isa") && i + 1 < argc) {
            ++i;
            only_isa = !strcmp(argv[i], "avx2") ? WF_ISA_AVX2 : !strcmp(argv[i], "avx512") ? WF_ISA_AVX512 : -2;
        }
        else if (!strcmp(argv[i], "--rows") && i + 1 < argc) rows = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--cols") && i + 1 < argc) cols = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--type") && i + 1 < argc) only = wf_type_from_name(argv[++i]);
        else if (!strcmp(argv[i], "--ws") && i + 1 < argc) ws_mib = atoll(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--quick] [--gemm] [--nc N] [--isa I] [--tile-rows R] [--cputime] [--type T] [--ws MiB] [--rows R] [--cols K]\n", argv[0]);
            return 2;
        }
    }
    if (rows < 1 || cols < 256 || cols % 256) {
        fprintf(stderr, "cols must be a positive multiple of 256, rows >= 1\n");
        return 2;
    }
    wf_cpu_features f;
    wf_cpu_detect(&f);
    const wf_isa best = wf_cpu_best_isa(&f);
    printf("# bench_kernels: %lld x %lld weights, 1 thread, best ISA %s (vnni %d)\n", (long long)rows,
           (long long)cols, wf_isa_name(best), f.avx512vnni);

    static const wf_type types[] = {WF_TYPE_Q8_0, WF_TYPE_Q4_K, WF_TYPE_Q6_K, WF_TYPE_Q5_K,
                                    WF_TYPE_Q5_0, WF_TYPE_Q4_0, WF_TYPE_F16, WF_TYPE_F32,
                                    WF_TYPE_Q2_K, WF_TYPE_Q3_K, WF_TYPE_IQ4_NL, WF_TYPE_IQ4_XS,
                                    WF_TYPE_MXFP4};
    static const int ncs[] = {1, 2, 4, 8, 16, 32, 64, 128};
    const int max_nc = 128;
    if (ws_mib <= 0) ws_mib = quick ? 64 : 256;
    const size_t target_bytes = (size_t)ws_mib << 20; /* working set for matvec: >> L3 */

    printf("\n## matvec (decode): weight GB/s, median\n");
    printf("%-5s %-7s %9s %12s %12s %12s\n", "type", "isa", "MB", "vec_dot", "gemm nc=1", "gemm nc=4");
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        const wf_type t = types[ti];
        if (only >= 0 && (int)t != only) continue;
        const wf_type_traits *tr = wf_type_get((uint32_t)t);
        const wf_type at = tr->vec_dot_type;
        bench_ctx b = {.t = t, .rows = rows, .cols = cols};
        b.row = wf_row_size(t, cols);
        b.arow = wf_row_size(at, cols);
        const size_t mat = b.row * (size_t)rows;
        b.n_mats = (int)((target_bytes + mat - 1) / mat);
        if (b.n_mats < 2) b.n_mats = 2;
        b.w = wf_alloc_aligned(mat * (size_t)b.n_mats);
        b.a = wf_alloc_aligned(b.arow * (size_t)max_nc);
        b.out = wf_alloc_aligned(sizeof(float) * (size_t)rows * (size_t)max_nc);
        float *x = malloc(sizeof(float) * (size_t)cols);
        if (!b.w || !b.a || !b.out || !x) {
            fprintf(stderr, "out of memory\n");
            return 1;
        }
        for (int m = 0; m < (gemm_only ? 1 : b.n_mats); m++) fill_weights(t, b.w + (size_t)m * mat, rows, cols);
        uint64_t sink = 0;
        if (gemm_only) goto gemm;
        const double tr_ = time_read(&b, quick ? 2 * b.n_mats : 4 * b.n_mats, &sink);
        printf("%-5s %-7s %9.1f %12.2f   (plain read of the same matrices, %d of them)\n", tr->name, "read",
               (double)mat / 1e6, (double)mat / tr_ / 1e9 + (double)(sink & 1) * 1e-12, b.n_mats);
        for (int isa = WF_ISA_SCALAR; isa <= (int)best; isa++) {
            wf_kernels k;
            wf_kernels_init(&k, (wf_isa)isa);
            b.k = &k;
            for (int c = 0; c < max_nc; c++) {
                for (int64_t i = 0; i < cols; i++) x[i] = rng_gauss();
                k.quantize_row[at](x, b.a + (size_t)c * b.arow, cols);
            }
            const int reps = isa == WF_ISA_SCALAR ? (quick ? 2 : 3) : (quick ? 2 * b.n_mats : 4 * b.n_mats);
            const double tv = time_matvec(&b, false, 1, reps), tg = time_matvec(&b, true, 1, reps);
            const double t4 = time_matvec(&b, true, 4, reps);
            printf("%-5s %-7s %9.1f %12.2f %12.2f %12.2f\n", tr->name, wf_isa_name((wf_isa)isa), (double)mat / 1e6,
                   (double)mat / tv / 1e9, (double)mat / tg / 1e9, (double)mat / t4 / 1e9);
        }
        fflush(stdout);
    gemm:
        wf_free_aligned(b.w);
        /* gemm on a cache-resident slice: 1024 rows (<= 2 MB for the quantized types) */
        const int64_t grows = rows < 1024 ? rows : 1024;
        b.rows = grows;
        b.w = wf_alloc_aligned(b.row * (size_t)grows);
        fill_weights(t, b.w, grows, cols);
        printf("   gemm %lld x %lld, GMAC/s by nc:", (long long)grows, (long long)cols);
        for (int isa = WF_ISA_AVX2; isa <= (int)best; isa++) {
            if (only_isa != -1 && isa != only_isa) continue;
            wf_kernels k;
            wf_kernels_init(&k, (wf_isa)isa);
            b.k = &k;
            printf("\n     %-7s", wf_isa_name((wf_isa)isa));
            for (int c = 0; c < max_nc; c++) { /* same data for every ISA (and with --gemm) */
                rng_state = 0x9e3779b97f4a7c15ull + (uint64_t)c;
                for (int64_t i = 0; i < cols; i++) x[i] = rng_gauss();
                k.quantize_row[at](x, b.a + (size_t)c * b.arow, cols);
            }
            for (size_t ni = 0; ni < sizeof ncs / sizeof ncs[0]; ni++) {
                const int nc = ncs[ni];
                if (only_nc > 0 && nc != only_nc) continue;
                const double tg = time_gemm(&b, nc, quick ? 3 : 7, tile_rows);
                printf(" nc=%d:%.1f", nc, (double)grows * (double)cols * nc / tg / 1e9);
            }
        }
        printf("\n");
        fflush(stdout);
        wf_free_aligned(b.w);
        wf_free_aligned(b.a);
        wf_free_aligned(b.out);
        free(x);
    }
    return 0;
}
