/* kv_snapshot.c — copying the K/V rows of positions [0, n) out of and into a
 * context (wf_kv_export / wf_kv_import in wafer.h), for the generation
 * API's cross-request prefix cache.
 *
 * Snapshot layout, for each layer l: K of kv head 0 positions 0..n-1, K of
 * head 1, ..., then V the same way; each row row_bytes of the cache's
 * element type (f32, f16 or q8_0), copied byte for byte, so a restored
 * cache gives exactly the logits of the one it came from.
 */
#include "model/model_int.h"

static uint64_t snapshot_bytes(const wf_kv_cache *kv, int32_t n) {
    return 2ull * (uint64_t)kv->n_layer * (uint64_t)kv->n_head_kv * (uint64_t)n * (uint64_t)kv->row_bytes;
}

uint64_t wf_kv_export_size(const wf_context *c, int32_t n) {
    if (!c || n < 0 || n > c->kv.n_ctx) return 0;
    return snapshot_bytes(&c->kv, n);
}

/* The byte range of head h's rows [0, n) in a layer buffer is contiguous:
 * the cache is laid out (n_head_kv, n_ctx, head_dim). */
static size_t head_off(const wf_kv_cache *kv, int32_t h) {
    return (size_t)h * (size_t)kv->n_ctx * kv->row_bytes;
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
    const size_t run = (size_t)n * kv->row_bytes;
    char *dst = buf;
    for (int32_t l = 0; n > 0 && l < kv->n_layer; l++) {
        for (int32_t h = 0; h < kv->n_head_kv; h++, dst += run) memcpy(dst, (const char *)kv->k[l] + head_off(kv, h), run);
        for (int32_t h = 0; h < kv->n_head_kv; h++, dst += run) memcpy(dst, (const char *)kv->v[l] + head_off(kv, h), run);
    }
    return WF_OK;
}

wf_status wf_kv_import(wf_context *c, int32_t n, const void *buf, size_t size, wf_error *err) {
    if (!c || (!buf && n > 0)) return wf_fail(err, WF_ERR_INVALID_ARG, "wf_kv_import: NULL argument");
    wf_kv_cache *kv = &c->kv;
    if (n < 0 || n > kv->n_ctx)
        return wf_fail(err, WF_ERR_RANGE, "wf_kv_import: %d positions do not fit the context (%d)", n, kv->n_ctx);
    const uint64_t per_pos = snapshot_bytes(kv, 1);
    if (per_pos == 0 || (uint64_t)size % per_pos != 0 || (uint64_t)size / per_pos < (uint64_t)n)
        return wf_fail(err, WF_ERR_INVALID_ARG,
                       "wf_kv_import: a snapshot of %zu bytes does not hold %d positions of %llu bytes (another model or KV type?)",
                       size, n, (unsigned long long)per_pos);
    const size_t n_src = (size_t)((uint64_t)size / per_pos); /* positions in the snapshot: its run length */
    const size_t src_run = n_src * kv->row_bytes;
    const size_t run = (size_t)n * kv->row_bytes;
    const char *src = buf;
    for (int32_t l = 0; n > 0 && l < kv->n_layer; l++) {
        for (int32_t h = 0; h < kv->n_head_kv; h++, src += src_run) memcpy((char *)kv->k[l] + head_off(kv, h), src, run);
        for (int32_t h = 0; h < kv->n_head_kv; h++, src += src_run) memcpy((char *)kv->v[l] + head_off(kv, h), src, run);
    }
    c->n_past = n;
    c->n_logits = 0; /* the last batch's logits belong to the old contents */
    c->last_n = 0;
    return WF_OK;
}
