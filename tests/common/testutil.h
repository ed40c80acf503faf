/* testutil.h — tiny helpers shared by the C tests. */
#ifndef WF_TESTUTIL_H
#define WF_TESTUTIL_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static int t_failures = 0;
static int t_checks = 0;

#define CHECK(cond, ...)                                                      \
    do {                                                                      \
        t_checks++;                                                           \
        if (!(cond)) {                                                        \
            t_failures++;                                                     \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);   \
            fprintf(stderr, __VA_ARGS__);                                     \
            fputc('\n', stderr);                                              \
        }                                                                     \
    } while (0)

/* Print the summary and return the exit code for main. */
static inline int t_done(const char *name) {
    printf("%s: %d checks, %d failed\n", name, t_checks, t_failures);
    return t_failures ? 1 : 0;
}

/* Deterministic xorshift64* for test data. */
typedef struct { uint64_t s; } t_rng;
static inline uint64_t t_next(t_rng *r) {
    r->s ^= r->s >> 12; r->s ^= r->s << 25; r->s ^= r->s >> 27;
    return r->s * 2685821657736338717ull;
}
/* uniform in [-1, 1) */
static inline float t_unif(t_rng *r) {
    return (float)((double)(t_next(r) >> 11) * (1.0 / 9007199254740992.0) * 2.0 - 1.0);
}
static inline float t_gauss(t_rng *r) {
    double u1 = ((double)(t_next(r) >> 11) + 1.0) * (1.0 / 9007199254740993.0);
    double u2 = (double)(t_next(r) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

/* The shared/ test data folder, or NULL (then the test reports a skip). */
static inline const char *t_shared_dir(void) {
    const char *d = getenv("WAFER_SHARED");
    return d && *d ? d : NULL;
}

#endif
