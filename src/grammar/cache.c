/* cache.c — compiled grammars kept by their GBNF text, so that the next
 * request with the same grammar (the same schema, the same forced tool
 * call) skips the compile and finds the masks the earlier requests computed
 * (they live in the grammar's shared automaton, matcher.c).
 *
 * Bounded: at most max_entries grammars and about max_bytes of their
 * caches; past either, the least recently used grammar is dropped from the
 * cache (a request still using it keeps its own reference). Thread-safe:
 * one mutex around the table; compiling happens outside it. */
#include "grammar/grammar_int.h"

#include <stdlib.h>

typedef struct centry {
    char *text;
    size_t len;
    uint64_t hash;
    wf_grammar *g;
    uint64_t used; /* LRU tick */
} centry;

struct wf_grammar_cache {
    pthread_mutex_t mu;
    centry *e;
    int32_t n, cap;
    size_t max_bytes;
    uint64_t tick;
    wf_grammar_cache_stats st;
};

static uint64_t text_hash(const char *s, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    return h;
}

wf_status wf_grammar_cache_create(int32_t max_entries, size_t max_bytes, wf_grammar_cache **out, wf_error *err) {
    if (!out) return wf_fail(err, WF_ERR_INVALID_ARG, "grammar cache: NULL output pointer");
    *out = NULL;
    if (max_entries < 1 || max_entries > 4096)
        return wf_fail(err, WF_ERR_INVALID_ARG, "grammar cache: entries must be in [1, 4096], got %d", (int)max_entries);
    wf_grammar_cache *c = calloc(1, sizeof *c);
    if (!c || !(c->e = calloc((size_t)max_entries, sizeof *c->e)) || pthread_mutex_init(&c->mu, NULL)) {
        if (c) free(c->e);
        free(c);
        return wf_fail(err, WF_ERR_NOMEM, "grammar cache: out of memory");
    }
    c->cap = max_entries;
    c->max_bytes = max_bytes;
    *out = c;
    return WF_OK;
}

static void entry_drop(wf_grammar_cache *c, int32_t i) {
    free(c->e[i].text);
    wf_grammar_free(c->e[i].g);
    c->e[i] = c->e[--c->n];
    c->st.n_evicted++;
}

void wf_grammar_cache_free(wf_grammar_cache *c) {
    if (!c) return;
    for (int32_t i = 0; i < c->n; i++) {
        free(c->e[i].text);
        wf_grammar_free(c->e[i].g);
    }
    free(c->e);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static int32_t find(const wf_grammar_cache *c, const char *text, size_t len, uint64_t h) {
    for (int32_t i = 0; i < c->n; i++)
        if (c->e[i].hash == h && c->e[i].len == len && !memcmp(c->e[i].text, text, len)) return i;
    return -1;
}

/* Drop least recently used entries while over a bound (need_slots: room
 * for that many new entries). mu held. */
static void trim(wf_grammar_cache *c, int32_t need_slots) {
    for (;;) {
        size_t bytes = 0;
        for (int32_t i = 0; i < c->n; i++) bytes += wf_grammar_cache_bytes(c->e[i].g);
        c->st.bytes = bytes;
        if (c->n == 0 || (c->n + need_slots <= c->cap && bytes <= c->max_bytes)) return;
        int32_t lru = 0;
        for (int32_t i = 1; i < c->n; i++)
            if (c->e[i].used < c->e[lru].used) lru = i;
        entry_drop(c, lru);
    }
}

wf_status wf_grammar_cache_get(wf_grammar_cache *c, const char *gbnf, size_t len, wf_grammar **out, bool *hit,
                               wf_error *err) {
    if (!out) return wf_fail(err, WF_ERR_INVALID_ARG, "grammar cache: NULL output pointer");
    *out = NULL;
    if (hit) *hit = false;
    if (!c) return wf_fail(err, WF_ERR_INVALID_ARG, "grammar cache: NULL cache");
    if (!gbnf && len) return wf_fail(err, WF_ERR_INVALID_ARG, "grammar: NULL text");
    const uint64_t h = text_hash(gbnf, len);
    pthread_mutex_lock(&c->mu);
    int32_t i = find(c, gbnf, len, h);
    if (i >= 0) {
        c->e[i].used = ++c->tick;
        *out = wf_grammar_ref(c->e[i].g);
        c->st.n_hits++;
        trim(c, 0); /* its masks may have grown the cache past the bound */
        pthread_mutex_unlock(&c->mu);
        if (hit) *hit = true;
        return WF_OK;
    }
    pthread_mutex_unlock(&c->mu);
    wf_grammar *g = NULL;
    wf_status st = wf_grammar_from_gbnf(gbnf, len, &g, err); /* a bad grammar is not kept */
    if (st != WF_OK) return st;
    char *text = malloc(len + 1);
    if (!text) {
        wf_grammar_free(g);
        return wf_fail(err, WF_ERR_NOMEM, "grammar cache: out of memory");
    }
    if (len) memcpy(text, gbnf, len);
    text[len] = 0;
    pthread_mutex_lock(&c->mu);
    c->st.n_misses++;
    if ((i = find(c, gbnf, len, h)) >= 0) { /* compiled meanwhile by another request: share that one */
        wf_grammar_free(g);
        free(text);
        c->e[i].used = ++c->tick;
        *out = wf_grammar_ref(c->e[i].g);
    } else {
        trim(c, 1);
        c->e[c->n++] = (centry){text, len, h, g, ++c->tick};
        *out = wf_grammar_ref(g);
    }
    c->st.n_entries = c->n;
    pthread_mutex_unlock(&c->mu);
    return WF_OK;
}

void wf_grammar_cache_get_stats(wf_grammar_cache *c, wf_grammar_cache_stats *st) {
    if (!st) return;
    memset(st, 0, sizeof *st);
    if (!c) return;
    pthread_mutex_lock(&c->mu);
    *st = c->st;
    st->n_entries = c->n;
    size_t bytes = 0;
    for (int32_t i = 0; i < c->n; i++) bytes += wf_grammar_cache_bytes(c->e[i].g);
    st->bytes = bytes;
    pthread_mutex_unlock(&c->mu);
}
