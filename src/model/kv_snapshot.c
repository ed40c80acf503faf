/* kv_snapshot.c — copying the K/V rows of positions [0, n) out of and into a
 * context (wf_kv_export / wf_kv_import in wafer.h), for the generation
 * API's cross-request prefix cache.
 *
 * Snapshot layout, for each layer l: K of kv head 0, K of head 1, ..., then
 * V the same way; per head the rows of positions [a, n), where a = 0 for a
 * layer that holds every position and a = max(0, n - snap) for a
 * sliding-window layer with a ring (kv_cache.c: snap = ring - n_batch, so a
 * context whose last batch or rollback wrote at most n_batch rows past n
 * still holds them). Each row is row_bytes of the cache's element type,
 * copied byte for byte, so a restored cache gives exactly the logits of the
 * one it came from. A snapshot of n_src positions restores any n <= n_src
 * whose window it holds: all of them without rings.
 */
#include "model/model_int.h"

static int32_t ring_from(const wf_kv_cache *kv, int32_t n) { return kv->ring && n > kv->snap ? n - kv->snap : 0; }

/* Bytes of all heads' K and V rows of one position, over the layers that
 * keep every position (full) and over the ring layers (ring). */
static void per_pos(const wf_kv_cache *kv, uint64_t *full, uint64_t *ring) {
    const uint64_t one = 2ull * (uint64_t)kv->n_head_kv * (uint64_t)kv->row_bytes;
    *full = *ring = 0;
    for (int32_t l = 0; l < kv->n_layer; l++) {
        if (kv->ring && kv->cap[l] == kv->ring) *ring += one;
        else *full += one;
    }
}

static uint64_t snapshot_bytes(const wf_kv_cache *kv, int32_t n) {
    uint64_t full, ring;
    per_pos(kv, &full, &ring);
    return full * (uint64_t)n + ring * (uint64_t)(n - ring_from(kv, n));
}

uint64_t wf_kv_export_size(const wf_context *c, int32_t n) {
    if (!c || n < 0 || n > c->kv.n_ctx) return 0;
    return snapshot_bytes(&c->kv, n);
}

int32_t wf_kv_snapshot_ring(const wf_context *c) { return c && c->kv.ring ? c->kv.snap : 0; }

bool wf_kv_snapshot_serves(const wf_context *c, int32_t n_src, int32_t n) {
    if (!c || n < 0 || n > n_src) return false;
    const wf_kv_cache *kv = &c->kv;
    const int32_t a = ring_from(kv, n_src);
    return n == n_src || a == 0 || n - kv->window + 1 >= a;
}

/* Copy rows [a, b) of one head between a layer buffer (ring-aware) and a
 * flat run; to_snap: cache -> run. */
static void copy_rows(const wf_kv_cache *kv, int32_t l, void *layer, int32_t h, int32_t a, int32_t b, char *run,
                      bool to_snap) {
    const int32_t cap = kv->cap[l];
    char *base = (char *)layer + (size_t)h * (size_t)cap * kv->row_bytes;
    for (int32_t p = a; p < b;) {
        const int32_t r = p % cap, m = cap - r < b - p ? cap - r : b - p; /* contiguous up to the ring's end */
        char *row = base + (size_t)r * kv->row_bytes;
        const size_t bytes = (size_t)m * kv->row_bytes;
        if (to_snap) memcpy(run, row, bytes);
        else memcpy(row, run, bytes);
        run += bytes;
        p += m;
    }
}

wf_status wf_kv_export(const wf_context *c, int32_t n, void *buf, size_t size, wf_error *err) {
    if (!c || (!buf && n > 0)) return wf_fail(err, WF_ERR_INVALID_ARG, "wf_kv_export: NULL argument");
    if (n < 0 || n > c->n_past)
        return wf_fail(err, WF_ERR_RANGE, "wf_kv_export: %d positions requested, %d cached", n, c->n_past);
    const wf_kv_cache *kv = &c->kv;
    const uint64_t need = snapshot_bytes(kv, n);
    if ((uint64_t)size != need)
        return wf_fail(err, WF_ERR_INVALID_ARG, "wf_kv_export: buffer of %zu bytes, need %llu", size,
                       (unsigned long long)need);
    const int32_t a = ring_from(kv, n);
    if (kv->ring && a < kv->ring_lo)
        return wf_fail(err, WF_ERR_RANGE, "wf_kv_export: the sliding-window layers no longer hold positions %d..%d", a, n);
    char *dst = buf;
    for (int32_t l = 0; n > 0 && l < kv->n_layer; l++) {
        const int32_t from = kv->cap[l] == kv->n_ctx ? 0 : a;
        const size_t run = (size_t)(n - from) * kv->row_bytes;
        for (int32_t h = 0; h < kv->n_head_kv; h++, dst += run) copy_rows(kv, l, kv->k[l], h, from, n, dst, true);
        for (int32_t h = 0; h < kv->n_head_kv; h++, dst += run) copy_rows(kv, l, kv->v[l], h, from, n, dst, true);
    }
    return WF_OK;
}

/* The n_src of a snapshot of size bytes (-1: no such snapshot). */
static int64_t snapshot_n(const wf_kv_cache *kv, size_t size) {
    uint64_t full, ring;
    per_pos(kv, &full, &ring);
    const uint64_t both = full + ring, s = (uint64_t)size;
    if (both == 0) return -1;
    if (!kv->ring || s <= both * (uint64_t)kv->snap) return s % both == 0 ? (int64_t)(s / both) : -1;
    if (full == 0) return -1; /* every layer a ring: beyond snap the size says nothing more */
    const uint64_t rest = s - ring * (uint64_t)kv->snap;
    return rest % full == 0 ? (int64_t)(rest / full) : -1;
}

wf_status wf_kv_import(wf_context *c, int32_t n, const void *buf, size_t size, wf_error *err) {
    if (!c || (!buf && n > 0)) return wf_fail(err, WF_ERR_INVALID_ARG, "wf_kv_import: NULL argument");
    wf_kv_cache *kv = &c->kv;
    if (n < 0 || n > kv->n_ctx)
        return wf_fail(err, WF_ERR_RANGE, "wf_kv_import: %d positions do not fit the context (%d)", n, kv->n_ctx);
    const int64_t n_src = snapshot_n(kv, size);
    if (n_src < n || n_src > INT32_MAX)
        return wf_fail(err, WF_ERR_INVALID_ARG,
                       "wf_kv_import: a snapshot of %zu bytes does not hold %d positions (another model, KV type or ring?)",
                       size, n);
    if (!wf_kv_snapshot_serves(c, (int32_t)n_src, n))
        return wf_fail(err, WF_ERR_RANGE,
                       "wf_kv_import: a snapshot of %lld positions lacks the sliding window before position %d",
                       (long long)n_src, n);
    const int32_t a = ring_from(kv, (int32_t)n_src);
    const char *src = buf;
    for (int32_t l = 0; n > 0 && l < kv->n_layer; l++) {
        const bool is_ring = kv->cap[l] != kv->n_ctx;
        const int32_t from = is_ring ? a : 0;
        const size_t src_run = (size_t)(n_src - from) * kv->row_bytes;
        for (int pass = 0; pass < 2; pass++) {
            void *layer = pass ? kv->v[l] : kv->k[l];
            for (int32_t h = 0; h < kv->n_head_kv; h++, src += src_run)
                if (n > from) copy_rows(kv, l, layer, h, from, n, (char *)src, false);
        }
    }
    kv->ring_lo = a;
    c->n_past = n;
    c->n_logits = 0; /* the last batch's logits belong to the old contents */
    c->last_n = 0;
    return WF_OK;
}
