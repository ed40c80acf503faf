/* attn.c — causal self-attention against the KV cache.
 *
 * Positions 0..pos of a query token are cut into fixed chunks of
 * WF_ATTN_CHUNK positions (aligned to absolute positions). Inside a chunk the
 * cache is streamed in tiles of WF_ATTN_TILE with an online softmax (running
 * max m, running sum l, accumulator rescaled by exp(m_old - m_new)), for all
 * query heads that share one kv head (GQA: head h reads kv head
 * h / (n_head / n_head_kv)), so each K/V tile is decoded once per group.
 * Each chunk yields a partial (m, l, acc) per head; partials are folded in
 * chunk order. No n×n score matrix is ever formed.
 *
 * A tile step is either the ISA's fused kernel (wf_attn_tile_fn: decode,
 * scores, vector exp and weighted sum in registers) or the generic path
 * (decode the tile to float, scores / accum loops, the ISA's exp_weights
 * or scalar expf).
 *
 * Work items: for big batches (prefill) one item is (block of up to
 * ATTN_QBLOCK tokens, kv head): the block's queries walk the chunks
 * together, so each tile is read once for the whole block (the queries
 * that see the whole tile go through one call; the few near the diagonal
 * that see only part of it go one token at a time). For a few tokens
 * (decode, speculative checks) one item is (token, kv head, chunk) —
 * split-K, so a single token still keeps every thread busy at long context
 * — and a second pass folds the partials. Every query meets the same tiles
 * with the same lengths and folds the same chunks in the same order in all
 * paths, and a tile step's per-query arithmetic does not depend on which
 * other queries share the call, so the result does not depend on batching,
 * blocking or thread count.
 */
#include "model/model_int.h"
#include "format/quant.h"

#include <math.h>

/* floats of one head's partial: m, l, acc[hd] */
#define PART(hd) ((size_t)(hd) + 2)
/* tokens per prefill work item (their queries share each tile) */
#define ATTN_QBLOCK 8

/* Per-thread scratch, in floats from the thread's slice:
 *   ktile, vtile (TILE, hd)   generic path's decoded tiles
 *   s (TILE)                  generic path's scores / weights
 *   qb (QBLOCK * group, hd)   a block's queries, contiguous
 *   part, run (QBLOCK * group, hd + 2)  chunk partials and running fold */
typedef struct attn_scratch {
    float *ktile, *vtile, *s, *qb, *part, *run;
} attn_scratch;

static attn_scratch scratch_at(float *base, int32_t hd, int32_t group) {
    attn_scratch a;
    const size_t nq = (size_t)ATTN_QBLOCK * (size_t)group;
    a.ktile = base;
    a.vtile = a.ktile + (size_t)WF_ATTN_TILE * hd;
    a.s = a.vtile + (size_t)WF_ATTN_TILE * hd;
    a.qb = a.s + WF_ATTN_TILE;
    a.part = a.qb + nq * hd;
    a.run = a.part + nq * PART(hd);
    return a;
}

size_t wf_attn_scratch_floats(int32_t head_dim, int32_t group) {
    const size_t nq = (size_t)ATTN_QBLOCK * (size_t)group;
    size_t n = 2 * (size_t)WF_ATTN_TILE * (size_t)head_dim + WF_ATTN_TILE + nq * (size_t)head_dim +
               2 * nq * PART(head_dim);
    return (n + 15) & ~(size_t)15; /* keep threads' slices on separate lines */
}

size_t wf_attn_partial_floats(int32_t n_head, int32_t head_dim, int32_t n_ctx) {
    const size_t chunks = (size_t)n_ctx / WF_ATTN_CHUNK + 1;
    return (size_t)WF_ATTN_SPLIT_MAX_TOK * chunks * (size_t)n_head * PART(head_dim);
}

/* ---- inner loops: scalar reference ---- */

static void scores_scalar(const float *q, const float *K, int32_t nt, int32_t hd, float scale, float *s) {
    for (int32_t j = 0; j < nt; j++) s[j] = wf_dot_f32(q, K + (size_t)j * hd, hd) * scale;
}

static void accum_scalar(float *acc, const float *p, const float *V, int32_t nt, int32_t hd) {
    for (int32_t j = 0; j < nt; j++) {
        const float *vr = V + (size_t)j * hd;
        for (int32_t i = 0; i < hd; i++) acc[i] += p[j] * vr[i];
    }
}

void wf_attn_kernels_fill_scalar(wf_attn_kernels *k) {
    k->isa = WF_ISA_SCALAR;
    k->scores = scores_scalar;
    k->accum = accum_scalar;
    k->q8_0_to_float = NULL;
    k->exp_weights = NULL;
    k->tile_f32 = k->tile_f16 = k->tile_q8_0 = NULL;
}

void wf_attn_kernels_init(wf_attn_kernels *k, wf_isa isa, int32_t head_dim) {
    wf_attn_kernels_fill_scalar(k);
#if defined(WF_X86)
    if (isa >= WF_ISA_AVX2) wf_attn_kernels_fill_avx2(k, head_dim);
    if (isa >= WF_ISA_AVX512) wf_attn_kernels_fill_avx512(k, head_dim);
#else
    (void)isa;
    (void)head_dim;
#endif
}

static wf_attn_tile_fn tile_fn_for(const wf_attn_kernels *ak, wf_type elem) {
    switch (elem) {
    case WF_TYPE_F32: return ak->tile_f32;
    case WF_TYPE_F16: return ak->tile_f16;
    case WF_TYPE_Q8_0: return ak->tile_q8_0;
    default: return NULL;
    }
}

/* One online-softmax step of query g:  s (nt) scores in, weights out;
 * pg (hd + 2) = (m, l, acc). */
static void softmax_step(const wf_attn_kernels *ak, float *s, int32_t nt, float *pg, int32_t hd) {
    float *acc = pg + 2;
    float m = pg[0], l = pg[1];
    float mt = -INFINITY;
    for (int32_t j = 0; j < nt; j++) mt = s[j] > mt ? s[j] : mt;
    if (mt > m) {
        const float corr = expf(m - mt); /* exp(-inf) = 0 on the first tile */
        l *= corr;
        for (int32_t i = 0; i < hd; i++) acc[i] *= corr;
        m = mt;
    }
    if (ak && ak->exp_weights) {
        l += ak->exp_weights(s, nt, m);
    } else {
        for (int32_t j = 0; j < nt; j++) {
            s[j] = expf(s[j] - m); /* scores become weights */
            l += s[j];
        }
    }
    pg[0] = m;
    pg[1] = l;
}

void wf_attn_tile_ref(wf_type elem, const float *q, int32_t nq, const void *K, const void *V,
                      size_t row_bytes, int32_t nt, int32_t hd, float scale, float *part) {
    const wf_type_traits *tr = wf_type_get(elem);
    float row[hd > 0 ? hd : 1], s[WF_ATTN_TILE];
    for (int32_t g = 0; g < nq; g++) {
        const float *qg = q + (size_t)g * hd;
        float *pg = part + (size_t)g * PART(hd);
        for (int32_t j = 0; j < nt; j++) {
            tr->to_float((const uint8_t *)K + (size_t)j * row_bytes, row, hd);
            s[j] = wf_dot_f32(qg, row, hd) * scale;
        }
        softmax_step(NULL, s, nt, pg, hd);
        for (int32_t j = 0; j < nt; j++) {
            tr->to_float((const uint8_t *)V + (size_t)j * row_bytes, row, hd);
            for (int32_t i = 0; i < hd; i++) pg[2 + i] += s[j] * row[i];
        }
    }
}

/* Tile step for nq queries q (nq, hd) of kv head kvh over positions
 * [j0, j0 + nt); part (nq, hd + 2) updated in place. */
static void tile_step(const wf_attn_kernels *ak, const wf_kv_cache *kv, int32_t layer, int32_t kvh,
                      const float *q, int32_t nq, int32_t j0, int32_t nt, float scale,
                      const attn_scratch *sc, float *part) {
    const int32_t hd = kv->head_dim;
    const wf_attn_tile_fn fused = tile_fn_for(ak, kv->elem);
    if (fused) {
        fused(q, nq, wf_kv_k_row(kv, layer, kvh, j0), wf_kv_v_row(kv, layer, kvh, j0), kv->row_bytes, nt, hd,
              scale, part);
        return;
    }
    const float *K, *V;
    if (kv->elem == WF_TYPE_F32) { /* no decode needed */
        K = wf_kv_k_row(kv, layer, kvh, j0);
        V = wf_kv_v_row(kv, layer, kvh, j0);
    } else {
        kv->to_float(wf_kv_k_row(kv, layer, kvh, j0), sc->ktile, (int64_t)nt * hd);
        kv->to_float(wf_kv_v_row(kv, layer, kvh, j0), sc->vtile, (int64_t)nt * hd);
        K = sc->ktile;
        V = sc->vtile;
    }
    for (int32_t g = 0; g < nq; g++) {
        float *pg = part + (size_t)g * PART(hd);
        ak->scores(q + (size_t)g * hd, K, nt, hd, scale, sc->s);
        softmax_step(ak, sc->s, nt, pg, hd);
        ak->accum(pg + 2, sc->s, V, nt, hd);
    }
}

/* part (n, hd + 2) = (m = -inf, l = 0, acc = 0) */
static void part_init(float *part, int32_t n, int32_t hd) {
    for (int32_t g = 0; g < n; g++) {
        float *r = part + (size_t)g * PART(hd);
        r[0] = -INFINITY;
        for (int32_t i = 1; i < hd + 2; i++) r[i] = 0.0f;
    }
}

/* run (n, hd+2) ⊕= part (n, hd+2); run starts from part_init */
static void fold(float *run, const float *part, int32_t n, int32_t hd) {
    for (int32_t g = 0; g < n; g++) {
        float *r = run + (size_t)g * PART(hd);
        const float *p = part + (size_t)g * PART(hd);
        const float m = r[0] > p[0] ? r[0] : p[0];
        const float a = expf(r[0] - m), b = expf(p[0] - m);
        r[0] = m;
        r[1] = r[1] * a + p[1] * b;
        for (int32_t i = 0; i < hd; i++) r[2 + i] = r[2 + i] * a + p[2 + i] * b;
    }
}

/* out (n, hd) = acc / l */
static void fold_finish(const float *run, float *out, int32_t n, int32_t hd) {
    for (int32_t g = 0; g < n; g++) {
        const float *r = run + (size_t)g * PART(hd);
        const float inv = 1.0f / r[1];
        for (int32_t i = 0; i < hd; i++) out[(size_t)g * hd + i] = r[2 + i] * inv;
    }
}

static inline int32_t n_chunks_of(int32_t pos) { return pos / WF_ATTN_CHUNK + 1; }

/* Attend `group` query heads q (group, hd) of one token at position pos to
 * chunk c of its positions; part (group, hd + 2) receives the partial. */
static void attend_chunk(const wf_attn_kernels *ak, const wf_kv_cache *kv, int32_t layer, int32_t kvh,
                         const float *q, int32_t group, int32_t pos, int32_t c, float scale,
                         const attn_scratch *sc, float *part) {
    const int32_t p0 = c * WF_ATTN_CHUNK;
    const int32_t p1 = p0 + WF_ATTN_CHUNK < pos + 1 ? p0 + WF_ATTN_CHUNK : pos + 1;
    part_init(part, group, kv->head_dim);
    for (int32_t j0 = p0; j0 < p1; j0 += WF_ATTN_TILE)
        tile_step(ak, kv, layer, kvh, q, group, j0, p1 - j0 < WF_ATTN_TILE ? p1 - j0 : WF_ATTN_TILE, scale, sc,
                  part);
}

typedef struct attn_job {
    const wf_attn_kernels *ak;
    const wf_kv_cache *kv;
    int32_t layer, n_head, n_kv, n_tok, pos0, group, max_chunks, qblock;
    const float *q;
    float *out;
    float scale;
    float *scratch;
    size_t scratch_floats;
    float *partial; /* split mode: (n_tok, n_kv, max_chunks, group, hd+2) */
    atomic_int next;
} attn_job;

/* whole mode: item = (block of tokens [t0, t1), kv head), largest blocks
 * (latest positions) first so the causal imbalance evens out */
static void task_whole(void *arg, int ith, int nth) {
    (void)nth;
    attn_job *j = arg;
    const int32_t hd = j->kv->head_dim, G = j->group;
    const attn_scratch sc = scratch_at(j->scratch + (size_t)ith * j->scratch_floats, hd, G);
    const int32_t n_blk = (j->n_tok + j->qblock - 1) / j->qblock;
    const int total = n_blk * j->n_kv;
    for (;;) {
        const int w = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (w >= total) break;
        const int32_t kvh = w % j->n_kv, b = n_blk - 1 - w / j->n_kv;
        const int32_t t0 = b * j->qblock, t1 = t0 + j->qblock < j->n_tok ? t0 + j->qblock : j->n_tok;
        const int32_t pos_last = j->pos0 + t1 - 1;
        /* gather the block's queries: qb (t1 - t0, group, hd) */
        for (int32_t t = t0; t < t1; t++)
            memcpy(sc.qb + (size_t)(t - t0) * G * hd, j->q + ((size_t)t * j->n_head + (size_t)kvh * G) * hd,
                   sizeof(float) * (size_t)G * hd);
        part_init(sc.run, (t1 - t0) * G, hd);
        for (int32_t c = 0; c < n_chunks_of(pos_last); c++) {
            const int32_t p0 = c * WF_ATTN_CHUNK, pc = p0 + WF_ATTN_CHUNK; /* chunk [p0, pc) */
            /* tokens that reach into this chunk: pos >= p0 */
            const int32_t ta = p0 - j->pos0 > t0 ? p0 - j->pos0 : t0;
            const size_t qa = (size_t)(ta - t0) * G;
            part_init(sc.part + qa * PART(hd), (t1 - ta) * G, hd);
            const int32_t pend = pc < pos_last + 1 ? pc : pos_last + 1;
            for (int32_t j0 = p0; j0 < pend; j0 += WF_ATTN_TILE) {
                const int32_t full = pc - j0 < WF_ATTN_TILE ? pc - j0 : WF_ATTN_TILE;
                /* token t sees min(full, pos_t + 1 - j0) positions of this tile:
                 * all of it from tf on, part of it in [tr, tf), none before tr */
                int32_t tf = j0 + full - 1 - j->pos0, tr = j0 - j->pos0;
                if (tf < ta) tf = ta;
                if (tr < ta) tr = ta;
                for (int32_t t = tr; t < tf && t < t1; t++) {
                    const size_t qi = (size_t)(t - t0) * G;
                    tile_step(j->ak, j->kv, j->layer, kvh, sc.qb + qi * hd, G, j0, j->pos0 + t + 1 - j0, j->scale, &sc,
                              sc.part + qi * PART(hd));
                }
                if (tf < t1) {
                    const size_t qi = (size_t)(tf - t0) * G;
                    tile_step(j->ak, j->kv, j->layer, kvh, sc.qb + qi * hd, (t1 - tf) * G, j0, full, j->scale, &sc,
                              sc.part + qi * PART(hd));
                }
            }
            fold(sc.run + qa * PART(hd), sc.part + qa * PART(hd), (t1 - ta) * G, hd);
        }
        for (int32_t t = t0; t < t1; t++)
            fold_finish(sc.run + (size_t)(t - t0) * G * PART(hd), j->out + ((size_t)t * j->n_head + (size_t)kvh * G) * hd,
                        G, hd);
    }
}

/* split mode, pass 1: item = (token, kv head, chunk) */
static void task_split(void *arg, int ith, int nth) {
    (void)nth;
    attn_job *j = arg;
    const int32_t hd = j->kv->head_dim;
    const attn_scratch sc = scratch_at(j->scratch + (size_t)ith * j->scratch_floats, hd, j->group);
    const int total = j->n_tok * j->n_kv * j->max_chunks;
    for (;;) {
        const int w = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (w >= total) break;
        const int32_t c = w % j->max_chunks, tk = w / j->max_chunks;
        const int32_t t = tk / j->n_kv, kvh = tk % j->n_kv, pos = j->pos0 + t;
        if (c >= n_chunks_of(pos)) continue;
        const size_t off = ((size_t)t * j->n_head + (size_t)kvh * j->group) * hd;
        attend_chunk(j->ak, j->kv, j->layer, kvh, j->q + off, j->group, pos, c, j->scale, &sc,
                     j->partial + (size_t)w * j->group * PART(hd));
    }
}

/* split mode, pass 2: item = (token, kv head): fold its chunks in order */
static void task_reduce(void *arg, int ith, int nth) {
    (void)nth;
    attn_job *j = arg;
    const int32_t hd = j->kv->head_dim;
    const attn_scratch sc = scratch_at(j->scratch + (size_t)ith * j->scratch_floats, hd, j->group);
    const int total = j->n_tok * j->n_kv;
    for (;;) {
        const int w = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (w >= total) break;
        const int32_t t = w / j->n_kv, kvh = w % j->n_kv;
        const size_t off = ((size_t)t * j->n_head + (size_t)kvh * j->group) * hd;
        part_init(sc.run, j->group, hd);
        for (int32_t c = 0; c < n_chunks_of(j->pos0 + t); c++)
            fold(sc.run, j->partial + ((size_t)w * j->max_chunks + c) * j->group * PART(hd), j->group, hd);
        fold_finish(sc.run, j->out + off, j->group, hd);
    }
}

void wf_attention(wf_threadpool *tp, const wf_attn_kernels *ak, const wf_kv_cache *kv,
                  int32_t layer, int32_t n_head, const float *q, float *out, int32_t n_tok,
                  int32_t pos0, float scale, float *scratch, float *partial, int32_t n_threads) {
    attn_job j = {
        .ak = ak, .kv = kv, .layer = layer, .n_head = n_head, .n_kv = kv->n_head_kv, .n_tok = n_tok,
        .pos0 = pos0, .group = n_head / kv->n_head_kv, .q = q, .out = out, .scale = scale,
        .scratch = scratch, .partial = partial,
        .scratch_floats = wf_attn_scratch_floats(kv->head_dim, n_head / kv->n_head_kv),
        .max_chunks = n_chunks_of(pos0 + n_tok - 1),
    };
    const bool pool = tp && n_threads > 1;
    atomic_init(&j.next, 0);
    /* split positions only when (token, kv head) items cannot feed the threads */
    const bool split = partial && n_tok <= WF_ATTN_SPLIT_MAX_TOK && j.max_chunks > 1 &&
                       n_tok * j.n_kv < 2 * n_threads;
    if (!split) {
        /* blocks as large as ATTN_QBLOCK while leaving ~4 items per thread
         * (the block size changes no result, only the tile reuse) */
        const int32_t nt = pool ? n_threads : 1;
        int32_t qb = n_tok * j.n_kv / (4 * nt);
        j.qblock = qb < 1 ? 1 : qb > ATTN_QBLOCK ? ATTN_QBLOCK : qb;
        if (pool && n_tok * j.n_kv > 1) wf_threadpool_run(tp, task_whole, &j);
        else task_whole(&j, 0, 1);
        return;
    }
    if (pool) wf_threadpool_run(tp, task_split, &j);
    else task_split(&j, 0, 1);
    atomic_store(&j.next, 0);
    if (pool && n_tok * j.n_kv > 1) wf_threadpool_run(tp, task_reduce, &j);
    else task_reduce(&j, 0, 1);
}

void wf_attention_ref(const wf_kv_cache *kv, int32_t layer, int32_t kv_head,
                      const float *q, float *out, int32_t pos, float scale) {
    const int32_t hd = kv->head_dim;
    float row[hd > 0 ? hd : 1];
    double sc_max = -INFINITY;
    /* two passes over the positions: max, then weights; no tiling */
    for (int32_t j = 0; j <= pos; j++) {
        kv->to_float(wf_kv_k_row(kv, layer, kv_head, j), row, hd);
        double s = 0;
        for (int32_t i = 0; i < hd; i++) s += (double)q[i] * row[i];
        s *= scale;
        if (s > sc_max) sc_max = s;
    }
    double acc[hd > 0 ? hd : 1];
    for (int32_t i = 0; i < hd; i++) acc[i] = 0;
    double l = 0;
    for (int32_t j = 0; j <= pos; j++) {
        kv->to_float(wf_kv_k_row(kv, layer, kv_head, j), row, hd);
        double s = 0;
        for (int32_t i = 0; i < hd; i++) s += (double)q[i] * row[i];
        const double p = exp(s * scale - sc_max);
        l += p;
        kv->to_float(wf_kv_v_row(kv, layer, kv_head, j), row, hd);
        for (int32_t i = 0; i < hd; i++) acc[i] += p * row[i];
    }
    for (int32_t i = 0; i < hd; i++) out[i] = (float)(acc[i] / l);
}
