/* prefix_cache.c — the cross-request prefix cache: a bounded LRU of KV
 * snapshots (wf_kv_export) keyed by exact token sequences.
 *
 * Any prefix of an entry is a valid state for that prefix (causal
 * attention: position i's K/V rows depend only on tokens 0..i), so a lookup
 * takes the longest common prefix of the prompt with any entry, and one
 * entry serves every prompt that starts with part of it — except where the
 * model's sliding-window layers keep a ring: a snapshot then holds their
 * last rows only, and serves its own length and the prefixes whose window
 * it holds (wf_kv_snapshot_serves). A new entry that extends an old one
 * replaces it when it serves the old one's length; one that an entry
 * already serves only refreshes that entry. Memory is bounded by max_bytes (snapshot bytes +
 * token ids + the entry record) and/or max_tokens; the least recently used
 * entries go first. A mutex makes it safe to share between sessions on
 * different threads.
 */
#include "gen/gen_int.h"
#include "base/buf.h"

#include <pthread.h>
#include <stdlib.h>

typedef struct pc_entry {
    const wf_model *model;
    uint64_t per_tok;     /* snapshot bytes per position (model + KV type) */
    int32_t ring;         /* wf_kv_snapshot_ring of the context it came from */
    int32_t *tok;         /* (n) the key                                   */
    int32_t n;
    void *kv;             /* (kv_bytes) wf_kv_export of n positions        */
    uint64_t kv_bytes;
    uint64_t bytes;       /* what counts against max_bytes                 */
    uint64_t last_use;
} pc_entry;

struct wf_prefix_cache {
    pthread_mutex_t mu;
    uint64_t max_bytes;
    int64_t max_tokens;
    int32_t min_tokens;
    pc_entry *e;          /* (cap) entries, n used, in no particular order */
    int32_t n;
    size_t cap;
    uint64_t clock;
    wf_prefix_cache_stats st;
};

wf_status wf_prefix_cache_create(uint64_t max_bytes, int64_t max_tokens, wf_prefix_cache **out, wf_error *err) {
    if (!out) return wf_fail(err, WF_ERR_INVALID_ARG, "prefix cache: NULL output pointer");
    *out = NULL;
    if (max_bytes == 0 && max_tokens <= 0)
        return wf_fail(err, WF_ERR_INVALID_ARG, "prefix cache: set a limit in bytes or tokens");
    if (max_tokens < 0) return wf_fail(err, WF_ERR_INVALID_ARG, "prefix cache: negative token limit %lld", (long long)max_tokens);
    wf_prefix_cache *pc = calloc(1, sizeof *pc);
    if (!pc) return wf_fail(err, WF_ERR_NOMEM, "prefix cache: out of memory");
    if (pthread_mutex_init(&pc->mu, NULL) != 0) {
        free(pc);
        return wf_fail(err, WF_ERR_INTERNAL, "prefix cache: cannot create a mutex");
    }
    pc->max_bytes = max_bytes;
    pc->max_tokens = max_tokens;
    pc->min_tokens = 16;
    *out = pc;
    return WF_OK;
}

static void entry_free(pc_entry *e) {
    free(e->tok);
    free(e->kv);
}

void wf_prefix_cache_free(wf_prefix_cache *pc) {
    if (!pc) return;
    for (int32_t i = 0; i < pc->n; i++) entry_free(&pc->e[i]);
    free(pc->e);
    pthread_mutex_destroy(&pc->mu);
    free(pc);
}

void wf_prefix_cache_set_min_tokens(wf_prefix_cache *pc, int32_t n) {
    if (!pc) return;
    pthread_mutex_lock(&pc->mu);
    pc->min_tokens = n > 1 ? n : 1;
    pthread_mutex_unlock(&pc->mu);
}

void wf_prefix_cache_get_stats(wf_prefix_cache *pc, wf_prefix_cache_stats *st) {
    if (!st) return;
    memset(st, 0, sizeof *st);
    if (!pc) return;
    pthread_mutex_lock(&pc->mu);
    *st = pc->st;
    pthread_mutex_unlock(&pc->mu);
}

/* Drop entry i (swap with the last). */
static void drop(wf_prefix_cache *pc, int32_t i, bool evicted) {
    pc->st.bytes -= pc->e[i].bytes;
    pc->st.n_tokens -= pc->e[i].n;
    pc->st.n_entries--;
    if (evicted) pc->st.n_evictions++;
    entry_free(&pc->e[i]);
    pc->e[i] = pc->e[--pc->n];
}

static bool over(const wf_prefix_cache *pc, uint64_t add_bytes, int64_t add_tok) {
    return (pc->max_bytes && pc->st.bytes + add_bytes > pc->max_bytes) ||
           (pc->max_tokens && pc->st.n_tokens + add_tok > pc->max_tokens);
}

static int32_t lcp(const int32_t *a, int32_t na, const int32_t *b, int32_t nb) {
    int32_t i = 0;
    while (i < na && i < nb && a[i] == b[i]) i++;
    return i;
}

wf_status wf_pc_store(wf_prefix_cache *pc, const wf_model *m, const wf_context *c, const int32_t *tok, int32_t n,
                      wf_error *err) {
    if (!pc || !m || !c || !tok || n <= 0) return WF_OK;
    if (n > wf_context_n_past(c)) n = wf_context_n_past(c);
    const uint64_t per_tok = wf_kv_export_size(c, 1), kv_bytes = wf_kv_export_size(c, n);
    const uint64_t bytes = kv_bytes + (uint64_t)n * sizeof(int32_t) + sizeof(pc_entry);
    wf_status st = WF_OK;
    pthread_mutex_lock(&pc->mu);
    const int32_t ring = wf_kv_snapshot_ring(c);
    if (n < pc->min_tokens || per_tok == 0) goto out;
    if ((pc->max_bytes && bytes > pc->max_bytes) || (pc->max_tokens && n > pc->max_tokens)) goto out;
    for (int32_t i = 0; i < pc->n; i++) {
        pc_entry *e = &pc->e[i];
        if (e->model != m || e->per_tok != per_tok || e->ring != ring) continue;
        const int32_t l = lcp(e->tok, e->n, tok, n);
        if (l == n && wf_kv_snapshot_serves(c, e->n, n)) { /* covered: refresh */
            e->last_use = ++pc->clock;
            goto out;
        }
        if (l == e->n && wf_kv_snapshot_serves(c, n, e->n)) { /* superseded by the longer one */
            drop(pc, i, false);
            i--;
        }
    }
    while (pc->n > 0 && over(pc, bytes, n)) {
        int32_t lru = 0;
        for (int32_t i = 1; i < pc->n; i++)
            if (pc->e[i].last_use < pc->e[lru].last_use) lru = i;
        drop(pc, lru, true);
    }
    if (!WF_ARRAY_RESERVE(pc->e, pc->cap, (size_t)pc->n + 1)) {
        st = wf_fail(err, WF_ERR_NOMEM, "prefix cache: out of memory");
        goto out;
    }
    pc_entry e = {.model = m, .per_tok = per_tok, .ring = ring, .n = n, .kv_bytes = kv_bytes, .bytes = bytes};
    e.tok = malloc((size_t)n * sizeof *e.tok);
    e.kv = malloc((size_t)kv_bytes);
    if (!e.tok || !e.kv) {
        entry_free(&e);
        st = wf_fail(err, WF_ERR_NOMEM, "prefix cache: out of memory for %d tokens (%.1f MiB)", n,
                     (double)kv_bytes / (1024.0 * 1024.0));
        goto out;
    }
    memcpy(e.tok, tok, (size_t)n * sizeof *e.tok);
    if ((st = wf_kv_export(c, n, e.kv, (size_t)kv_bytes, err)) != WF_OK) {
        entry_free(&e);
        goto out;
    }
    e.last_use = ++pc->clock;
    pc->e[pc->n++] = e;
    pc->st.n_entries++;
    pc->st.n_tokens += n;
    pc->st.bytes += bytes;
    pc->st.n_inserts++;
out:
    pthread_mutex_unlock(&pc->mu);
    return st;
}

int32_t wf_pc_restore(wf_prefix_cache *pc, const wf_model *m, wf_context *c, const int32_t *prompt, int32_t n,
                      int32_t max_n, int32_t at_least) {
    if (!pc || !m || !c || !prompt || n <= 0) return 0;
    const uint64_t per_tok = wf_kv_export_size(c, 1);
    const int32_t ring = wf_kv_snapshot_ring(c);
    int32_t got = 0;
    pthread_mutex_lock(&pc->mu);
    pc->st.n_lookups++;
    int32_t best = -1, best_l = 0;
    for (int32_t i = 0; i < pc->n; i++) {
        const pc_entry *e = &pc->e[i];
        if (e->model != m || e->per_tok != per_tok || e->ring != ring) continue;
        int32_t l = lcp(e->tok, e->n, prompt, n);
        if (l > max_n) l = max_n;
        if (l > best_l && wf_kv_snapshot_serves(c, e->n, l)) best = i, best_l = l;
    }
    if (best >= 0 && best_l > at_least && best_l <= wf_context_n_ctx(c)) {
        pc_entry *e = &pc->e[best];
        if (wf_kv_import(c, best_l, e->kv, (size_t)e->kv_bytes, NULL) == WF_OK) {
            got = best_l;
            e->last_use = ++pc->clock;
            pc->st.n_hits++;
            pc->st.n_tokens_restored += got;
        }
    }
    pthread_mutex_unlock(&pc->mu);
    return got;
}
