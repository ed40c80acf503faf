/* peak.c — measured int8 multiply-add peak of this CPU, the ceiling for
 * prefill (which is compute-bound: one pass over the weights serves many
 * tokens, and wafer's quantized kernels do u8 x s8 -> s32 dot products).
 *
 * A tight loop of independent dot-product-accumulate instructions, as many in
 * flight as the core can issue, per thread:
 *   avx512vnni  vpdpbusd zmm: 64 int8 MACs each
 *   avxvnni     vpdpbusd ymm: 32
 *   avx2        vpmaddubsw + vpmaddwd + vpaddd: 32 MACs per three instructions
 * Reported as GMAC/s (1e9 multiply-adds per second), median of several runs,
 * for 1 and 2 threads, with the core clock estimated from a chain of
 * dependent adds, so MACs per cycle can be checked against the core's
 * documented issue rate. The ISA-specific code is in functions carrying their
 * own target attribute, so the rest of the file runs on any x86-64 and the
 * choice is made at run time from CPUID.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

/* Runs `iters` iterations; returns a value derived from every accumulator so
 * that nothing is dead code. *macs_per_iter: MACs one iteration performs. */
typedef int64_t (*loop_fn)(int64_t iters, int64_t *macs_per_iter);

#define NACC 16 /* independent chains: covers latency 4-5 x 2-4 issue ports */

#if defined(__x86_64__)
__attribute__((target("avx512f,avx512vnni"), noinline)) static int64_t
loop_avx512vnni(int64_t iters, int64_t *macs) {
    volatile int seed = 3;
    __m512i a = _mm512_set1_epi8((char)seed), b = _mm512_set1_epi8((char)(seed + 1));
    __m512i acc[NACC];
    for (int k = 0; k < NACC; k++) acc[k] = _mm512_set1_epi32(k);
    for (int64_t i = 0; i < iters; i++) {
        for (int k = 0; k < NACC; k++) acc[k] = _mm512_dpbusd_epi32(acc[k], a, b);
        __asm__ volatile("" : "+v"(a), "+v"(b)); /* opaque inputs each iteration */
    }
    __m512i s = acc[0];
    for (int k = 1; k < NACC; k++) s = _mm512_add_epi32(s, acc[k]);
    *macs = NACC * 64;
    return _mm512_reduce_add_epi32(s);
}

__attribute__((target("avx2,avxvnni"), noinline)) static int64_t
loop_avxvnni(int64_t iters, int64_t *macs) {
    volatile int seed = 3;
    __m256i a = _mm256_set1_epi8((char)seed), b = _mm256_set1_epi8((char)(seed + 1));
    __m256i acc[NACC];
    for (int k = 0; k < NACC; k++) acc[k] = _mm256_set1_epi32(k);
    for (int64_t i = 0; i < iters; i++) {
        for (int k = 0; k < NACC; k++) acc[k] = _mm256_dpbusd_avx_epi32(acc[k], a, b);
        __asm__ volatile("" : "+v"(a), "+v"(b));
    }
    __m256i s = acc[0];
    for (int k = 1; k < NACC; k++) s = _mm256_add_epi32(s, acc[k]);
    int32_t v[8];
    _mm256_storeu_si256((__m256i *)v, s);
    *macs = NACC * 32;
    return (int64_t)v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
}

__attribute__((target("avx2"), noinline)) static int64_t loop_avx2(int64_t iters, int64_t *macs) {
    volatile int seed = 3;
    __m256i a = _mm256_set1_epi8((char)seed), b = _mm256_set1_epi8((char)(seed + 1));
    __m256i ones = _mm256_set1_epi16(1);
    __m256i acc[NACC / 2];
    for (int k = 0; k < NACC / 2; k++) acc[k] = _mm256_set1_epi32(k);
    for (int64_t i = 0; i < iters; i++) {
        for (int k = 0; k < NACC / 2; k++)
            acc[k] = _mm256_add_epi32(acc[k], _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), ones));
        __asm__ volatile("" : "+v"(a), "+v"(b));
    }
    __m256i s = acc[0];
    for (int k = 1; k < NACC / 2; k++) s = _mm256_add_epi32(s, acc[k]);
    int32_t v[8];
    _mm256_storeu_si256((__m256i *)v, s);
    *macs = NACC / 2 * 32;
    return (int64_t)v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
}
#endif

/* Core clock estimate: a chain of dependent 64-bit adds retires one per
 * cycle on every x86-64 core of the last decade, so adds / second ~ Hz. */
static double clock_ghz(int64_t iters) {
#if defined(__x86_64__)
    struct timespec a, b;
    uint64_t x = 1;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int64_t i = 0; i < iters; i++)
        __asm__ volatile("add %0, %0\n\tadd %0, %0\n\tadd %0, %0\n\tadd %0, %0\n\t"
                         "add %0, %0\n\tadd %0, %0\n\tadd %0, %0\n\tadd %0, %0"
                         : "+r"(x));
    clock_gettime(CLOCK_MONOTONIC, &b);
    double dt = (double)(b.tv_sec - a.tv_sec) + 1e-9 * (double)(b.tv_nsec - a.tv_nsec);
    return x == 42 ? 0 : 8.0 * (double)iters / dt / 1e9;
#else
    (void)iters;
    return 0;
#endif
}

typedef struct thread_arg {
    loop_fn fn;
    int64_t iters;
    int64_t result;
    pthread_barrier_t *bar;
} thread_arg;

static void *thread_main(void *p) {
    thread_arg *a = p;
    int64_t macs;
    pthread_barrier_wait(a->bar);
    a->result = a->fn(a->iters, &macs);
    return NULL;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* GMAC/s of nth threads each running iters iterations (the caller is one). */
static double run_once(loop_fn fn, int nth, int64_t iters, int64_t *sink) {
    pthread_t tid[64];
    thread_arg args[64];
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, (unsigned)nth);
    for (int t = 1; t < nth; t++) {
        args[t] = (thread_arg){fn, iters, 0, &bar};
        if (pthread_create(&tid[t], NULL, thread_main, &args[t])) {
            fprintf(stderr, "peak: cannot start thread\n");
            exit(1);
        }
    }
    int64_t macs = 0;
    pthread_barrier_wait(&bar);
    double t0 = now();
    int64_t r = fn(iters, &macs);
    for (int t = 1; t < nth; t++) {
        pthread_join(tid[t], NULL);
        r += args[t].result;
    }
    double dt = now() - t0;
    pthread_barrier_destroy(&bar);
    *sink += r;
    return (double)macs * (double)iters * nth / dt / 1e9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    bool json = false;
    int reps = 5;
    const char *isa_arg = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) json = true;
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--isa") && i + 1 < argc) isa_arg = argv[++i];
        else {
            fprintf(stderr, "usage: bench_peak [--reps N (5)] [--isa avx512vnni|avxvnni|avx2] [--json]\n");
            return strcmp(argv[i], "--help") ? 2 : 0;
        }
    }
    if (reps < 1 || reps > 99) reps = 5;
    loop_fn fn = NULL;
    const char *isa = NULL;
#if defined(__x86_64__)
    __builtin_cpu_init();
    bool has512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vnni");
    bool hasvnni = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("avxvnni");
    bool has2 = __builtin_cpu_supports("avx2");
    if (!isa_arg) isa_arg = has512 ? "avx512vnni" : hasvnni ? "avxvnni" : "avx2";
    if (!strcmp(isa_arg, "avx512vnni") && has512) fn = loop_avx512vnni, isa = isa_arg;
    else if (!strcmp(isa_arg, "avxvnni") && hasvnni) fn = loop_avxvnni, isa = isa_arg;
    else if (!strcmp(isa_arg, "avx2") && has2) fn = loop_avx2, isa = isa_arg;
#endif
    if (!fn) {
        fprintf(stderr, "peak: no int8 dot-product instructions available (%s)\n",
                isa_arg ? isa_arg : "not x86-64");
        return 1;
    }
    /* calibrate: about 0.2 s per run on one thread */
    int64_t sink = 0, iters = 1 << 16;
    for (;;) {
        double t0 = now();
        int64_t m;
        sink += fn(iters, &m);
        double dt = now() - t0;
        if (dt > 0.05 || iters > (1ll << 40)) {
            iters = (int64_t)((double)iters * 0.2 / dt) + 1;
            break;
        }
        iters *= 4;
    }
    int nths[2] = {1, 2};
    double med[2], best[2];
    for (int k = 0; k < 2; k++) {
        double runs[99];
        for (int r = 0; r < reps; r++) runs[r] = run_once(fn, nths[k], iters, &sink);
        qsort(runs, (size_t)reps, sizeof(double), cmp_double);
        med[k] = reps % 2 ? runs[reps / 2] : 0.5 * (runs[reps / 2 - 1] + runs[reps / 2]);
        best[k] = runs[reps - 1];
    }
    double ghz = 0; /* best of 5: sharing the core can only make a run look slower */
    for (int r = 0; r < 5; r++) {
        double g = clock_ghz(50000000);
        ghz = g > ghz ? g : ghz;
    }
    if (json)
        printf("{\"isa\": \"%s\", \"reps\": %d, \"gmacs_1t\": %.2f, \"gmacs_2t\": %.2f, "
               "\"best_gmacs_1t\": %.2f, \"best_gmacs_2t\": %.2f, \"clock_ghz\": %.3f, "
               "\"macs_per_cycle\": %.1f, \"sink\": %lld}\n",
               isa, reps, med[0], med[1], best[0], best[1], ghz, med[0] / ghz,
               (long long)(sink & 0xff));
    else
        printf("int8 multiply-add peak (%s, median of %d):\n  1 thread  %8.1f GMAC/s\n"
               "  2 threads %8.1f GMAC/s\n  clock ~%.2f GHz (dependent adds): %.1f MACs/cycle/core\n",
               isa, reps, med[0], med[1], ghz, med[0] / ghz);
    return 0;
}
