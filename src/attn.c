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
 * Work items: for big batches (prefill) one item is (token, kv head) and
 * walks its chunks in order; for a few tokens (decode, speculative checks)
 * one item is (token, kv head, chunk) — split-K, so a single token still
 * keeps every thread busy at long context — and a second pass folds the
 * partials. Both paths do the same arithmetic in the same order, so the
 * result does not depend on batching or thread count.
 */
#include "model.h"

#include <math.h>

/* floats of one head's partial: m, l, acc[hd] */
#define PART(hd) ((size_t)(hd) + 2)

size_t wf_attn_scratch_floats(int32_t head_dim, int32_t group) {
    /* K tile, V tile, scores, chunk partials and running fold for a group */
    size_t n = 2 * (size_t)WF_ATTN_TILE * (size_t)head_dim + WF_ATTN_TILE +
               2 * (size_t)group * PART(head_dim);
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
}

void wf_attn_kernels_init(wf_attn_kernels *k, wf_isa isa, int32_t head_dim) {
    wf_attn_kernels_fill_scalar(k);
#if defined(WF_X86)
    if (isa >= WF_ISA_AVX2) wf_attn_kernels_fill_avx2(k, head_dim);
#else
    (void)isa;
    (void)head_dim;
#endif
}

/* Attend `group` query heads q (group, hd) sharing kv head kvh to positions
 * [p0, p1); write unnormalised partials part (group, hd + 2). */
static void attend_chunk(const wf_attn_kernels *ak, const wf_kv_cache *kv, int32_t layer, int32_t kvh, const float *q,
                         int32_t group, int32_t p0, int32_t p1, float scale, float *scr,
                         float *part) {
    const int32_t hd = kv->head_dim;
    float *ktile = scr;
    float *vtile = ktile + (size_t)WF_ATTN_TILE * hd;
    float *s = vtile + (size_t)WF_ATTN_TILE * hd;
    const bool direct = kv->elem == WF_TYPE_F32; /* no decode needed */
    for (int32_t g = 0; g < group; g++) {
        float *pg = part + (size_t)g * PART(hd);
        pg[0] = -INFINITY;
        pg[1] = 0.0f;
        for (int32_t i = 0; i < hd; i++) pg[2 + i] = 0.0f;
    }
    for (int32_t j0 = p0; j0 < p1; j0 += WF_ATTN_TILE) {
        const int32_t nt = p1 - j0 < WF_ATTN_TILE ? p1 - j0 : WF_ATTN_TILE;
        const float *K, *V;
        if (direct) {
            K = wf_kv_k_row(kv, layer, kvh, j0);
            V = wf_kv_v_row(kv, layer, kvh, j0);
        } else {
            kv->to_float(wf_kv_k_row(kv, layer, kvh, j0), ktile, (int64_t)nt * hd);
            kv->to_float(wf_kv_v_row(kv, layer, kvh, j0), vtile, (int64_t)nt * hd);
            K = ktile;
            V = vtile;
        }
        for (int32_t g = 0; g < group; g++) {
            const float *qg = q + (size_t)g * hd;
            float *pg = part + (size_t)g * PART(hd);
            float *acc = pg + 2;
            float m = pg[0], l = pg[1];
            ak->scores(qg, K, nt, hd, scale, s);
            float mt = -INFINITY;
            for (int32_t j = 0; j < nt; j++) mt = s[j] > mt ? s[j] : mt;
            if (mt > m) {
                const float corr = expf(m - mt); /* exp(-inf) = 0 on the first tile */
                l *= corr;
                for (int32_t i = 0; i < hd; i++) acc[i] *= corr;
                m = mt;
            }
            for (int32_t j = 0; j < nt; j++) {
                s[j] = expf(s[j] - m); /* scores become weights */
                l += s[j];
            }
            ak->accum(acc, s, V, nt, hd);
            pg[0] = m;
            pg[1] = l;
        }
    }
}

/* run (group, hd+2) ⊕= part (group, hd+2); run starts as m=-inf, l=0, acc=0 */
static void fold(float *run, const float *part, int32_t group, int32_t hd) {
    for (int32_t g = 0; g < group; g++) {
        float *r = run + (size_t)g * PART(hd);
        const float *p = part + (size_t)g * PART(hd);
        const float m = r[0] > p[0] ? r[0] : p[0];
        const float a = expf(r[0] - m), b = expf(p[0] - m);
        r[0] = m;
        r[1] = r[1] * a + p[1] * b;
        for (int32_t i = 0; i < hd; i++) r[2 + i] = r[2 + i] * a + p[2 + i] * b;
    }
}

static void fold_init(float *run, int32_t group, int32_t hd) {
    for (int32_t g = 0; g < group; g++) {
        float *r = run + (size_t)g * PART(hd);
        r[0] = -INFINITY;
        for (int32_t i = 1; i < hd + 2; i++) r[i] = 0.0f;
    }
}

/* out (group, hd) = acc / l */
static void fold_finish(const float *run, float *out, int32_t group, int32_t hd) {
    for (int32_t g = 0; g < group; g++) {
        const float *r = run + (size_t)g * PART(hd);
        const float inv = 1.0f / r[1];
        for (int32_t i = 0; i < hd; i++) out[(size_t)g * hd + i] = r[2 + i] * inv;
    }
}

typedef struct attn_job {
    const wf_attn_kernels *ak;
    const wf_kv_cache *kv;
    int32_t layer, n_head, n_kv, n_tok, pos0, group, max_chunks;
    const float *q;
    float *out;
    float scale;
    float *scratch;
    size_t scratch_floats;
    float *partial; /* split mode: (n_tok, n_kv, max_chunks, group, hd+2) */
    atomic_int next;
} attn_job;

static inline int32_t n_chunks_of(int32_t pos) { return pos / WF_ATTN_CHUNK + 1; }

/* whole mode: item = (token, kv head) */
static void task_whole(void *arg, int ith, int nth) {
    (void)nth;
    attn_job *j = arg;
    const int32_t hd = j->kv->head_dim;
    float *scr = j->scratch + (size_t)ith * j->scratch_floats;
    float *part = scr + 2 * (size_t)WF_ATTN_TILE * hd + WF_ATTN_TILE;
    float *run = part + (size_t)j->group * PART(hd);
    const int total = j->n_tok * j->n_kv;
    for (;;) {
        const int w = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (w >= total) break;
        const int32_t t = w / j->n_kv, kvh = w % j->n_kv, pos = j->pos0 + t;
        const size_t off = ((size_t)t * j->n_head + (size_t)kvh * j->group) * hd;
        fold_init(run, j->group, hd);
        for (int32_t c = 0; c < n_chunks_of(pos); c++) {
            const int32_t p0 = c * WF_ATTN_CHUNK;
            const int32_t p1 = p0 + WF_ATTN_CHUNK < pos + 1 ? p0 + WF_ATTN_CHUNK : pos + 1;
            attend_chunk(j->ak, j->kv, j->layer, kvh, j->q + off, j->group, p0, p1, j->scale, scr, part);
            fold(run, part, j->group, hd);
        }
        fold_finish(run, j->out + off, j->group, hd);
    }
}

/* split mode, pass 1: item = (token, kv head, chunk) */
static void task_split(void *arg, int ith, int nth) {
    (void)nth;
    attn_job *j = arg;
    const int32_t hd = j->kv->head_dim;
    float *scr = j->scratch + (size_t)ith * j->scratch_floats;
    const int total = j->n_tok * j->n_kv * j->max_chunks;
    for (;;) {
        const int w = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (w >= total) break;
        const int32_t c = w % j->max_chunks, tk = w / j->max_chunks;
        const int32_t t = tk / j->n_kv, kvh = tk % j->n_kv, pos = j->pos0 + t;
        if (c >= n_chunks_of(pos)) continue;
        const int32_t p0 = c * WF_ATTN_CHUNK;
        const int32_t p1 = p0 + WF_ATTN_CHUNK < pos + 1 ? p0 + WF_ATTN_CHUNK : pos + 1;
        const size_t off = ((size_t)t * j->n_head + (size_t)kvh * j->group) * hd;
        attend_chunk(j->ak, j->kv, j->layer, kvh, j->q + off, j->group, p0, p1, j->scale, scr,
                     j->partial + (size_t)w * j->group * PART(hd));
    }
}

/* split mode, pass 2: item = (token, kv head): fold its chunks in order */
static void task_reduce(void *arg, int ith, int nth) {
    (void)nth;
    attn_job *j = arg;
    const int32_t hd = j->kv->head_dim;
    float *scr = j->scratch + (size_t)ith * j->scratch_floats;
    float *run = scr + 2 * (size_t)WF_ATTN_TILE * hd + WF_ATTN_TILE + (size_t)j->group * PART(hd);
    const int total = j->n_tok * j->n_kv;
    for (;;) {
        const int w = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (w >= total) break;
        const int32_t t = w / j->n_kv, kvh = w % j->n_kv;
        const size_t off = ((size_t)t * j->n_head + (size_t)kvh * j->group) * hd;
        fold_init(run, j->group, hd);
        for (int32_t c = 0; c < n_chunks_of(j->pos0 + t); c++)
            fold(run, j->partial + ((size_t)w * j->max_chunks + c) * j->group * PART(hd), j->group, hd);
        fold_finish(run, j->out + off, j->group, hd);
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
