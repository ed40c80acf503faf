/* kv_cache.c — the per-sequence key/value cache.
 *
 * Per layer one K and one V buffer laid out (n_head_kv, cap, head_dim): the
 * positions of one kv head are contiguous, so attention streams them in tiles
 * and decodes a whole tile with one call. Elements are f32, f16 or q8_0
 * (head_dim must then be a multiple of 32). Buffers come from aligned_alloc
 * and are never cleared: pages are only touched when a position is written,
 * so a large n_ctx costs address space, not memory, until it is used.
 *
 * A layer that attends only to the last `window` positions (gpt-oss's
 * sliding layers) keeps a ring of cap = window + 2 * n_batch rows, position
 * p in row p % cap: a batch writes at most n_batch rows before it attends,
 * so the window of each of its tokens is still there, and a rollback of up
 * to n_batch positions (rejected draft tokens) finds its window intact.
 * ring_lo, the oldest position the rings still hold, is what a truncation
 * (wf_kv_min_keep) and a snapshot (kv_snapshot.c) must respect.
 */
#include "model/model_int.h"
#include "format/quant.h"

#include <stdlib.h>

static void f32_copy_to(const void *src, float *dst, int64_t n) { memcpy(dst, src, (size_t)n * 4); }
static void f32_copy_from(const float *src, void *dst, int64_t n) { memcpy(dst, src, (size_t)n * 4); }

wf_type wf_kv_elem_type(wf_kv_type t) {
    switch (t) {
    case WF_KV_F16: return WF_TYPE_F16;
    case WF_KV_Q8_0: return WF_TYPE_Q8_0;
    case WF_KV_F32: return WF_TYPE_F32;
    }
    return WF_TYPE_F16;
}

const char *wf_kv_type_name(wf_kv_type t) {
    switch (t) {
    case WF_KV_F16: return "f16";
    case WF_KV_Q8_0: return "q8_0";
    case WF_KV_F32: return "f32";
    }
    return "?";
}

uint64_t wf_kv_bytes(const wf_hparams *hp, int32_t n_ctx, wf_kv_type t) {
    const size_t row = wf_row_size(wf_kv_elem_type(t), hp->head_dim);
    return 2ull * (uint64_t)hp->n_layer * (uint64_t)hp->n_head_kv * (uint64_t)(n_ctx > 0 ? n_ctx : 0) * row;
}

int32_t wf_kv_ring_rows(int32_t window, int32_t n_ctx, int32_t n_batch) {
    if (window <= 0 || n_batch <= 0) return n_ctx;
    const int64_t r = (int64_t)window + 2 * (int64_t)n_batch;
    return r < n_ctx ? (int32_t)r : n_ctx;
}

uint64_t wf_kv_bytes_ctx(const wf_hparams *hp, int32_t n_ctx, int32_t n_batch, wf_kv_type t) {
    const size_t row = wf_row_size(wf_kv_elem_type(t), hp->head_dim);
    if (n_ctx <= 0) return 0;
    uint64_t rows = 0;
    for (int32_t l = 0; l < hp->n_layer; l++) rows += (uint64_t)wf_kv_ring_rows(wf_layer_window(hp, l), n_ctx, n_batch);
    return 2ull * (uint64_t)hp->n_head_kv * rows * row;
}

wf_status wf_kv_init(wf_kv_cache *kv, const wf_hparams *hp, int32_t n_ctx, int32_t n_batch, wf_kv_type t,
                     const wf_kernels *k, wf_error *err) {
    memset(kv, 0, sizeof *kv);
    if (t != WF_KV_F16 && t != WF_KV_Q8_0 && t != WF_KV_F32)
        return wf_fail(err, WF_ERR_INVALID_ARG, "unknown KV cache type %d", (int)t);
    if (n_ctx <= 0) return wf_fail(err, WF_ERR_INVALID_ARG, "context size %d must be positive", n_ctx);
    kv->kv_type = t;
    kv->elem = wf_kv_elem_type(t);
    kv->n_layer = hp->n_layer;
    kv->n_head_kv = hp->n_head_kv;
    kv->head_dim = hp->head_dim;
    kv->n_ctx = n_ctx;
    kv->row_bytes = wf_row_size(kv->elem, hp->head_dim);
    if (kv->row_bytes == 0)
        return wf_fail(err, WF_ERR_UNSUPPORTED, "KV cache type %s needs head_dim (%d) to be a multiple of its block size",
                       wf_kv_type_name(t), hp->head_dim);
    if (t == WF_KV_F32) {
        kv->to_float = f32_copy_to;
        kv->from_float = f32_copy_from;
    } else {
        const wf_type_traits *tr = wf_type_get(kv->elem);
        kv->to_float = k && k->to_float[kv->elem] ? k->to_float[kv->elem] : tr->to_float;
        kv->from_float = k && k->quantize_row[kv->elem] ? k->quantize_row[kv->elem] : tr->from_float;
        if (!kv->to_float || !kv->from_float)
            return wf_fail(err, WF_ERR_UNSUPPORTED, "no conversion for KV cache type %s", wf_kv_type_name(t));
    }
    kv->k = calloc((size_t)kv->n_layer, sizeof(void *));
    kv->v = calloc((size_t)kv->n_layer, sizeof(void *));
    kv->cap = calloc((size_t)kv->n_layer, sizeof(int32_t));
    if (!kv->k || !kv->v || !kv->cap) goto nomem;
    for (int32_t l = 0; l < kv->n_layer; l++) {
        const int32_t w = wf_layer_window(hp, l);
        kv->cap[l] = wf_kv_ring_rows(w, n_ctx, n_batch);
        if (kv->cap[l] < n_ctx) { /* every sliding layer has the same window */
            kv->ring = kv->cap[l];
            kv->window = w;
            kv->snap = kv->ring - n_batch;
        }
        uint64_t per_layer;
        if (!wf_mul_u64((uint64_t)kv->n_head_kv * (uint64_t)kv->cap[l], kv->row_bytes, &per_layer) ||
            per_layer > (uint64_t)SIZE_MAX / 2) {
            wf_kv_free(kv);
            return wf_fail(err, WF_ERR_NOMEM, "KV cache of %d tokens is too large", n_ctx);
        }
        kv->k[l] = wf_alloc_aligned((size_t)per_layer);
        kv->v[l] = wf_alloc_aligned((size_t)per_layer);
        if (!kv->k[l] || !kv->v[l]) goto nomem;
    }
    return WF_OK;
nomem:
    wf_kv_free(kv);
    return wf_fail(err, WF_ERR_NOMEM, "cannot allocate the KV cache (%d tokens, %s, %.1f MiB)", n_ctx,
                   wf_kv_type_name(t), (double)wf_kv_bytes_ctx(hp, n_ctx, n_batch, t) / (1024.0 * 1024.0));
}

void wf_kv_free(wf_kv_cache *kv) {
    if (!kv) return;
    for (int32_t l = 0; l < kv->n_layer; l++) {
        if (kv->k) wf_free_aligned(kv->k[l]);
        if (kv->v) wf_free_aligned(kv->v[l]);
    }
    free(kv->k);
    free(kv->v);
    free(kv->cap);
    kv->k = kv->v = NULL;
    kv->cap = NULL;
}

static inline size_t row_off(const wf_kv_cache *kv, int32_t layer, int32_t head, int32_t pos) {
    const int32_t cap = kv->cap[layer];
    return ((size_t)head * (size_t)cap + (size_t)(pos % cap)) * kv->row_bytes;
}

wf_status wf_kv_will_write(wf_kv_cache *kv, int32_t pos0, int32_t n, wf_error *err) {
    if (!kv->ring) return WF_OK;
    if (n > kv->ring - kv->window + 1)
        return wf_fail(err, WF_ERR_RANGE, "a batch of %d tokens is more than the sliding-window cache (%d rows, window %d) takes",
                       n, kv->ring, kv->window);
    const int32_t lost = pos0 + n - kv->ring; /* rows of positions < lost are overwritten */
    if (lost > kv->ring_lo) kv->ring_lo = lost;
    return WF_OK;
}

int32_t wf_kv_min_keep(const wf_kv_cache *kv) {
    return kv->ring && kv->ring_lo > 0 ? kv->ring_lo + kv->window - 1 : 0;
}

void wf_kv_store(wf_kv_cache *kv, int32_t layer, int32_t pos, const float *k, const float *v) {
    for (int32_t h = 0; h < kv->n_head_kv; h++) {
        const size_t off = row_off(kv, layer, h, pos);
        kv->from_float(k + (int64_t)h * kv->head_dim, (char *)kv->k[layer] + off, kv->head_dim);
        kv->from_float(v + (int64_t)h * kv->head_dim, (char *)kv->v[layer] + off, kv->head_dim);
    }
}

const void *wf_kv_k_row(const wf_kv_cache *kv, int32_t layer, int32_t head, int32_t pos) {
    return (const char *)kv->k[layer] + row_off(kv, layer, head, pos);
}

const void *wf_kv_v_row(const wf_kv_cache *kv, int32_t layer, int32_t head, int32_t pos) {
    return (const char *)kv->v[layer] + row_off(kv, layer, head, pos);
}
