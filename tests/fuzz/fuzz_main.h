/* fuzz_main.h — the driver of a fuzz harness when it is not built for
 * libFuzzer: a bounded, deterministic random + mutation run for ctest (gcc
 * or clang, plain or under ASan+UBSan).
 *
 *   fuzz_X N [CORPUS_DIR]
 *
 * runs every file of CORPUS_DIR (the committed seeds, tests/fuzz/corpus/X)
 * through LLVMFuzzerTestOneInput, then N inputs made from them: bit flips,
 * byte and dictionary-token insertions, deletions, duplications,
 * truncations, splices of two seeds, and fully random bytes. A harness may
 * define FUZZ_DICT (a NULL-terminated array of tokens) before including
 * this, and FUZZ_INIT() (called once before the first input).
 *
 * Built with -DWF_LIBFUZZER the file adds nothing: libFuzzer's main runs. */
#ifndef WF_FUZZ_MAIN_H
#define WF_FUZZ_MAIN_H

#include <stdint.h>
#include <stddef.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#ifndef WF_LIBFUZZER

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef FUZZ_MAX_LEN
#define FUZZ_MAX_LEN 65536
#endif

typedef struct fz_buf {
    uint8_t *p;
    size_t n;
} fz_buf;

static uint64_t fz_next(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static size_t fz_rnd(uint64_t *s, size_t n) { return n ? (size_t)(fz_next(s) % n) : 0; }

static int fz_load_dir(const char *dir, fz_buf **seeds, size_t *n) {
    DIR *d = dir ? opendir(dir) : NULL;
    if (!d) return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        if (!f) continue;
        fz_buf b = {malloc(FUZZ_MAX_LEN), 0};
        if (b.p) b.n = fread(b.p, 1, FUZZ_MAX_LEN, f);
        fclose(f);
        fz_buf *ns = b.p ? realloc(*seeds, (*n + 1) * sizeof **seeds) : NULL;
        if (!ns) {
            free(b.p);
            continue;
        }
        *seeds = ns;
        (*seeds)[(*n)++] = b;
    }
    closedir(d);
    return 0;
}

/* One mutation of in (n bytes) into out (cap bytes); returns the length. */
static size_t fz_mutate(uint64_t *s, const fz_buf *seeds, size_t n_seeds, const char *const *dict, uint8_t *out, size_t cap) {
    const fz_buf *a = n_seeds ? &seeds[fz_rnd(s, n_seeds)] : NULL;
    size_t n = a ? (a->n < cap ? a->n : cap) : 0;
    if (n) memcpy(out, a->p, n);
    int rounds = 1 + (int)fz_rnd(s, 8);
    for (int r = 0; r < rounds; r++) {
        switch (fz_rnd(s, 9)) {
        case 0: /* flip a bit */
            if (n) out[fz_rnd(s, n)] ^= (uint8_t)(1u << fz_rnd(s, 8));
            break;
        case 1: /* set a byte to an interesting value */
            if (n) {
                static const uint8_t v[] = {0, 1, 0x7f, 0x80, 0xff, '"', '\\', '{', '}', '[', ']', '\n', ' ', '%', '<', '>'};
                out[fz_rnd(s, n)] = v[fz_rnd(s, sizeof v)];
            }
            break;
        case 2: /* insert a random byte */
            if (n < cap) {
                size_t at = fz_rnd(s, n + 1);
                memmove(out + at + 1, out + at, n - at);
                out[at] = (uint8_t)fz_next(s);
                n++;
            }
            break;
        case 3: /* insert a dictionary token */
            if (dict && dict[0]) {
                size_t nd = 0;
                while (dict[nd]) nd++;
                const char *t = dict[fz_rnd(s, nd)];
                size_t tl = strlen(t);
                if (n + tl <= cap) {
                    size_t at = fz_rnd(s, n + 1);
                    memmove(out + at + tl, out + at, n - at);
                    memcpy(out + at, t, tl);
                    n += tl;
                }
            }
            break;
        case 4: /* delete a range */
            if (n) {
                size_t at = fz_rnd(s, n), len = 1 + fz_rnd(s, n - at < 64 ? n - at : 64);
                memmove(out + at, out + at + len, n - at - len);
                n -= len;
            }
            break;
        case 5: /* duplicate a range */
            if (n) {
                size_t at = fz_rnd(s, n), len = 1 + fz_rnd(s, n - at < 64 ? n - at : 64);
                if (n + len <= cap) {
                    size_t to = fz_rnd(s, n + 1);
                    uint8_t tmp[64];
                    memcpy(tmp, out + at, len);
                    memmove(out + to + len, out + to, n - to);
                    memcpy(out + to, tmp, len);
                    n += len;
                }
            }
            break;
        case 6: /* truncate */
            if (n) n = fz_rnd(s, n + 1);
            break;
        case 7: /* splice: the tail of another seed */
            if (n_seeds) {
                const fz_buf *b = &seeds[fz_rnd(s, n_seeds)];
                size_t at = fz_rnd(s, n + 1), from = fz_rnd(s, b->n + 1), len = b->n - from;
                if (at + len > cap) len = cap - at;
                memcpy(out + at, b->p + from, len);
                n = at + len;
            }
            break;
        default: /* overwrite a range with random bytes */
            if (n) {
                size_t at = fz_rnd(s, n), len = 1 + fz_rnd(s, n - at < 16 ? n - at : 16);
                for (size_t i = 0; i < len; i++) out[at + i] = (uint8_t)fz_next(s);
            }
        }
    }
    if (!n_seeds || fz_rnd(s, 16) == 0) { /* now and then: random bytes */
        n = fz_rnd(s, 256);
        for (size_t i = 0; i < n; i++) out[i] = (uint8_t)fz_next(s);
    }
    return n;
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 10000;
    const char *dir = argc > 2 ? argv[2] : NULL;
#ifdef FUZZ_INIT
    FUZZ_INIT();
#endif
#ifdef FUZZ_DICT
    const char *const *dict = FUZZ_DICT;
#else
    const char *const *dict = NULL;
#endif
    fz_buf *seeds = NULL;
    size_t n_seeds = 0;
    fz_load_dir(dir, &seeds, &n_seeds);
    uint8_t *buf = malloc(FUZZ_MAX_LEN);
    if (!buf) return 1;
    clock_t t0 = clock();
    for (size_t i = 0; i < n_seeds; i++) {
        memcpy(buf, seeds[i].p, seeds[i].n);
        LLVMFuzzerTestOneInput(buf, seeds[i].n);
    }
    uint64_t rng = 0x5EEDF00Dull;
    for (long i = 0; i < n; i++) {
        size_t len = fz_mutate(&rng, seeds, n_seeds, dict, buf, FUZZ_MAX_LEN);
        LLVMFuzzerTestOneInput(buf, len);
    }
    printf("%s: %zu seeds + %ld mutated inputs in %.1f s, no crash\n", argv[0], n_seeds, n,
           (double)(clock() - t0) / CLOCKS_PER_SEC);
    for (size_t i = 0; i < n_seeds; i++) free(seeds[i].p);
    free(seeds);
    free(buf);
    return 0;
}

#endif /* WF_LIBFUZZER */
#endif /* WF_FUZZ_MAIN_H */
