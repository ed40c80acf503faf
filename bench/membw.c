/* membw.c — memory read bandwidth, the ceiling for decode speed.
 *
 * Decoding one token streams every weight matrix from memory once, so
 * tokens/s can never beat bandwidth / (weight bytes per token). This program
 * measures that bandwidth: each thread sums its share of a buffer far larger
 * than the caches (default 1 GiB) with the widest loads the CPU has; the
 * result is the median over several runs, in GB/s (1e9 bytes/s).
 *
 * --file PATH reads a file through a read-only mapping instead (the engine
 * reads its weights that way, in 4 KiB page-cache pages rather than the
 * anonymous buffer's possibly huge pages), after one untimed pass that pulls
 * it into the page cache.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

typedef uint64_t (*sum_fn)(const void *p, size_t n); /* n: multiple of 256 bytes */

/* Scalar reference: eight independent 64-bit accumulators. */
static uint64_t sum_scalar(const void *p, size_t n) {
    const uint64_t *x = p;
    uint64_t a[8] = {0};
    for (size_t i = 0; i < n / 8; i += 8)
        for (int k = 0; k < 8; k++) a[k] += x[i + k];
    return a[0] + a[1] + a[2] + a[3] + a[4] + a[5] + a[6] + a[7];
}

#if defined(__x86_64__)
__attribute__((target("avx2"))) static uint64_t sum_avx2(const void *p, size_t n) {
    const __m256i *x = p;
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i < n / 32; i += 8) {
        a0 = _mm256_add_epi64(a0, _mm256_add_epi64(_mm256_load_si256(x + i), _mm256_load_si256(x + i + 4)));
        a1 = _mm256_add_epi64(a1, _mm256_add_epi64(_mm256_load_si256(x + i + 1), _mm256_load_si256(x + i + 5)));
        a2 = _mm256_add_epi64(a2, _mm256_add_epi64(_mm256_load_si256(x + i + 2), _mm256_load_si256(x + i + 6)));
        a3 = _mm256_add_epi64(a3, _mm256_add_epi64(_mm256_load_si256(x + i + 3), _mm256_load_si256(x + i + 7)));
    }
    __m256i s = _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3));
    uint64_t v[4];
    _mm256_storeu_si256((__m256i *)v, s);
    return v[0] + v[1] + v[2] + v[3];
}

__attribute__((target("avx512f"))) static uint64_t sum_avx512(const void *p, size_t n) {
    const __m512i *x = p;
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i < n / 64; i += 4) {
        a0 = _mm512_add_epi64(a0, _mm512_load_si512(x + i));
        a1 = _mm512_add_epi64(a1, _mm512_load_si512(x + i + 1));
        a2 = _mm512_add_epi64(a2, _mm512_load_si512(x + i + 2));
        a3 = _mm512_add_epi64(a3, _mm512_load_si512(x + i + 3));
    }
    return (uint64_t)_mm512_reduce_add_epi64(_mm512_add_epi64(_mm512_add_epi64(a0, a1),
                                                              _mm512_add_epi64(a2, a3)));
}
#endif

/* ---- threads ------------------------------------------------------------- */

typedef struct job {
    const char *buf;
    size_t size;             /* multiple of 256 * nth                      */
    int nth;
    sum_fn fn;
    pthread_barrier_t start, done;
    volatile bool quit;
    uint64_t sums[64];
} job;

typedef struct worker_arg {
    job *j;
    int ith;
} worker_arg;

static void run_share(job *j, int ith) {
    size_t share = j->size / (size_t)j->nth;
    j->sums[ith] = j->fn(j->buf + (size_t)ith * share, share);
}

static void *worker(void *p) {
    worker_arg *a = p;
    for (;;) {
        pthread_barrier_wait(&a->j->start);
        if (a->j->quit) break;
        run_share(a->j, a->ith);
        pthread_barrier_wait(&a->j->done);
    }
    return NULL;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median GB/s over reps timed passes of nth threads (the caller is thread 0). */
static int measure(const char *buf, size_t size, int nth, sum_fn fn, int reps,
                   double *runs, double *median, uint64_t *checksum) {
    job j;
    memset(&j, 0, sizeof j);
    j.buf = buf;
    j.nth = nth;
    j.fn = fn;
    j.size = size - size % (256u * (size_t)nth);
    pthread_barrier_init(&j.start, NULL, (unsigned)nth);
    pthread_barrier_init(&j.done, NULL, (unsigned)nth);
    pthread_t tid[64];
    worker_arg args[64];
    for (int t = 1; t < nth; t++) {
        args[t] = (worker_arg){&j, t};
        if (pthread_create(&tid[t], NULL, worker, &args[t])) {
            fprintf(stderr, "membw: cannot start thread %d\n", t);
            exit(1);
        }
    }
    uint64_t check = 0;
    for (int r = -1; r < reps; r++) { /* r = -1: warm-up, not timed */
        double t0 = now();
        pthread_barrier_wait(&j.start);
        run_share(&j, 0);
        pthread_barrier_wait(&j.done);
        double dt = now() - t0;
        for (int t = 0; t < nth; t++) check += j.sums[t];
        if (r >= 0) runs[r] = (double)j.size / dt / 1e9;
    }
    j.quit = true;
    pthread_barrier_wait(&j.start);
    for (int t = 1; t < nth; t++) pthread_join(tid[t], NULL);
    pthread_barrier_destroy(&j.start);
    pthread_barrier_destroy(&j.done);
    double sorted[256];
    memcpy(sorted, runs, (size_t)reps * sizeof(double));
    qsort(sorted, (size_t)reps, sizeof(double), cmp_double);
    *median = reps % 2 ? sorted[reps / 2] : 0.5 * (sorted[reps / 2 - 1] + sorted[reps / 2]);
    *checksum = check;
    return 0;
}

static void usage(FILE *f) {
    fprintf(f, "usage: bench_membw [--size MiB (1024)] [--reps N (7)] [--threads 1,2]\n"
               "                   [--file PATH] [--isa scalar|avx2|avx512] [--json]\n");
}

int main(int argc, char **argv) {
    long size_mib = 1024, reps = 7;
    const char *threads_arg = NULL, *file = NULL, *isa_arg = NULL;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool nx = i + 1 < argc;
        if (!strcmp(a, "--size") && nx) size_mib = strtol(argv[++i], NULL, 10);
        else if (!strcmp(a, "--reps") && nx) reps = strtol(argv[++i], NULL, 10);
        else if (!strcmp(a, "--threads") && nx) threads_arg = argv[++i];
        else if (!strcmp(a, "--file") && nx) file = argv[++i];
        else if (!strcmp(a, "--isa") && nx) isa_arg = argv[++i];
        else if (!strcmp(a, "--json")) json = true;
        else if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 0; }
        else { usage(stderr); return 2; }
    }
    if (size_mib < 1 || size_mib > (1L << 20) || reps < 1 || reps > 256) {
        usage(stderr);
        return 2;
    }
    int thread_list[16], n_list = 0;
    if (threads_arg) {
        const char *s = threads_arg;
        while (*s && n_list < 16) {
            char *end;
            long v = strtol(s, &end, 10);
            if (end == s || v < 1 || v > 64) { usage(stderr); return 2; }
            thread_list[n_list++] = (int)v;
            s = *end == ',' ? end + 1 : end;
            if (*end && *end != ',') { usage(stderr); return 2; }
        }
    } else {
        thread_list[n_list++] = 1;
        thread_list[n_list++] = 2;
    }

    sum_fn fn = sum_scalar;
    const char *isa = "scalar";
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) fn = sum_avx512, isa = "avx512";
    else if (__builtin_cpu_supports("avx2")) fn = sum_avx2, isa = "avx2";
    if (isa_arg) {
        if (!strcmp(isa_arg, "scalar")) fn = sum_scalar, isa = "scalar";
        else if (!strcmp(isa_arg, "avx2") && __builtin_cpu_supports("avx2")) fn = sum_avx2, isa = "avx2";
        else if (!strcmp(isa_arg, "avx512") && __builtin_cpu_supports("avx512f")) fn = sum_avx512, isa = "avx512";
        else { fprintf(stderr, "membw: ISA '%s' not available\n", isa_arg); return 2; }
    }
#endif

    char *buf = NULL;
    size_t size = 0, map_size = 0;
    if (file) {
        int fd = open(file, O_RDONLY);
        struct stat stt;
        if (fd < 0 || fstat(fd, &stt) || stt.st_size < 65536) {
            fprintf(stderr, "membw: %s: %s\n", file, fd < 0 ? strerror(errno) : "too small");
            return 1;
        }
        map_size = (size_t)stt.st_size;
        buf = mmap(NULL, map_size, PROT_READ, MAP_PRIVATE, fd, 0);
        close(fd);
        if (buf == MAP_FAILED) {
            fprintf(stderr, "membw: mmap %s: %s\n", file, strerror(errno));
            return 1;
        }
        size = map_size & ~(size_t)4095; /* the mapping starts page-aligned */
    } else {
        size = (size_t)size_mib << 20;
        buf = aligned_alloc(1u << 21, size);
        if (!buf) {
            fprintf(stderr, "membw: cannot allocate %ld MiB\n", size_mib);
            return 1;
        }
        for (size_t i = 0; i < size; i += 8) { /* touch every page, non-constant data */
            uint64_t v = i * 0x9e3779b97f4a7c15ull;
            memcpy(buf + i, &v, 8);
        }
    }

    double runs[16][256], med[16];
    uint64_t check = 0;
    for (int k = 0; k < n_list; k++) {
        uint64_t c;
        measure(buf, size, thread_list[k], fn, (int)reps, runs[k], &med[k], &c);
        check += c;
    }

    if (json) {
        printf("{\"source\": \"%s\", \"bytes\": %zu, \"isa\": \"%s\", \"reps\": %ld, "
               "\"checksum\": %llu, \"results\": [",
               file ? "file" : "anonymous", size, isa, reps, (unsigned long long)check);
        for (int k = 0; k < n_list; k++) {
            double best = 0;
            for (long r = 0; r < reps; r++) best = runs[k][r] > best ? runs[k][r] : best;
            printf("%s{\"threads\": %d, \"gbps\": %.3f, \"best_gbps\": %.3f, \"runs\": [",
                   k ? ", " : "", thread_list[k], med[k], best);
            for (long r = 0; r < reps; r++) printf("%s%.3f", r ? ", " : "", runs[k][r]);
            printf("]}");
        }
        printf("]}\n");
    } else {
        printf("memory read bandwidth: %s, %.0f MiB, %s loads, median of %ld runs\n",
               file ? file : "anonymous buffer", (double)size / 1048576.0, isa, reps);
        for (int k = 0; k < n_list; k++)
            printf("  %2d thread%s %8.2f GB/s\n", thread_list[k], thread_list[k] > 1 ? "s" : " ", med[k]);
        if (check == 42) printf("(checksum %llu)\n", (unsigned long long)check); /* keep the sums live */
    }
    if (file) munmap(buf, map_size);
    else free(buf);
    return 0;
}
