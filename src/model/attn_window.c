/* attn_window.c — causal attention with a sliding window and per-head
 * "sink" logits (gpt-oss), kept apart from attn.c's chunked/split-K path.
 *
 * gpt-oss alternates layers that see only the last `window` positions with
 * layers that see all of them, and every head has a learned sink logit: an
 * extra softmax term that takes probability mass but adds no value, so
 *   out = sum_j exp(s_j - M) v_j / (sum_j exp(s_j - M) + exp(sink - M)).
 * One work item is one (token, kv head): the cache rows of the token's
 * range are decoded a tile at a time (tiles at absolute multiples of
 * WF_ATTN_TILE, so a token's arithmetic does not depend on the batch it is
 * in), scored for the group's query heads with the ISA's scores/accum loops
 * and folded by an online softmax; the sink is folded in last.
 */
#include "model/model_int.h"

#include <math.h>
#include <stdatomic.h>
#include <string.h>

typedef struct win_job {
    const wf_attn_kernels *ak;
    const wf_kv_cache *kv;
    int32_t layer, n_head, group, n_tok, pos0, window;
    const float *q, *sinks;
    float *out, *scratch;
    size_t scratch_floats;
    float scale;
    atomic_int next;
} win_job;

/* One (token, kv head): run (group, hd + 2) = (m, l, acc) per query head. */
static void attend_one(const win_job *j, int32_t t, int32_t kvh, float *sc) {
    const wf_kv_cache *kv = j->kv;
    const int32_t hd = kv->head_dim, G = j->group, T = WF_ATTN_TILE;
    float *Kt = sc, *Vt = Kt + (size_t)T * hd, *s = Vt + (size_t)T * hd, *run = s + T;
    const int32_t pos = j->pos0 + t;
    const int32_t lo = j->window > 0 && pos - j->window + 1 > 0 ? pos - j->window + 1 : 0;
    for (int32_t g = 0; g < G; g++) {
        float *r = run + (size_t)g * (hd + 2);
        r[0] = -INFINITY;
        r[1] = 0.0f;
        memset(r + 2, 0, sizeof(float) * (size_t)hd);
    }
    for (int32_t j0 = lo; j0 <= pos;) {
        const int32_t j1 = (j0 / T + 1) * T < pos + 1 ? (j0 / T + 1) * T : pos + 1;
        const int32_t nt = j1 - j0;
        for (int32_t p = j0; p < j1; p++) {
            kv->to_float(wf_kv_k_row(kv, j->layer, kvh, p), Kt + (size_t)(p - j0) * hd, hd);
            kv->to_float(wf_kv_v_row(kv, j->layer, kvh, p), Vt + (size_t)(p - j0) * hd, hd);
        }
        for (int32_t g = 0; g < G; g++) {
            const float *qg = j->q + ((size_t)t * j->n_head + (size_t)kvh * G + g) * hd;
            float *r = run + (size_t)g * (hd + 2);
            j->ak->scores(qg, Kt, nt, hd, j->scale, s);
            float mt = s[0];
            for (int32_t i = 1; i < nt; i++) mt = s[i] > mt ? s[i] : mt;
            const float m = r[0] > mt ? r[0] : mt;
            const float a = r[0] == -INFINITY ? 0.0f : expf(r[0] - m);
            float sum = 0.0f;
            for (int32_t i = 0; i < nt; i++) sum += (s[i] = expf(s[i] - m));
            r[0] = m;
            r[1] = r[1] * a + sum;
            for (int32_t i = 0; i < hd; i++) r[2 + i] *= a;
            j->ak->accum(r + 2, s, Vt, nt, hd);
        }
        j0 = j1;
    }
    for (int32_t g = 0; g < G; g++) {
        const int32_t h = kvh * G + g;
        float *r = run + (size_t)g * (hd + 2);
        float l = r[1], a = 1.0f;
        if (j->sinks) { /* the sink: mass in the denominator, no value */
            const float m = r[0] > j->sinks[h] ? r[0] : j->sinks[h];
            a = expf(r[0] - m);
            l = l * a + expf(j->sinks[h] - m);
        }
        const float inv = a / l;
        float *o = j->out + ((size_t)t * j->n_head + h) * hd;
        for (int32_t i = 0; i < hd; i++) o[i] = r[2 + i] * inv;
    }
}

static void task(void *arg, int ith, int nth) {
    (void)nth;
    win_job *j = arg;
    const int32_t n_kv = j->kv->n_head_kv, total = j->n_tok * n_kv;
    float *sc = j->scratch + (size_t)ith * j->scratch_floats;
    for (;;) {
        const int w = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (w >= total) break;
        attend_one(j, w / n_kv, w % n_kv, sc);
    }
}

void wf_attention_window(wf_threadpool *tp, const wf_attn_kernels *ak, const wf_kv_cache *kv, int32_t layer,
                         int32_t n_head, const float *q, float *out, int32_t n_tok, int32_t pos0, float scale,
                         int32_t window, const float *sinks, float *scratch, int32_t n_threads) {
    win_job j = {.ak = ak, .kv = kv, .layer = layer, .n_head = n_head, .group = n_head / kv->n_head_kv,
                 .n_tok = n_tok, .pos0 = pos0, .window = window, .q = q, .sinks = sinks, .out = out,
                 .scratch = scratch, .scratch_floats = wf_attn_scratch_floats(kv->head_dim, n_head / kv->n_head_kv),
                 .scale = scale};
    atomic_init(&j.next, 0);
    if (tp && n_threads > 1 && n_tok * kv->n_head_kv > 1) wf_threadpool_run(tp, task, &j);
    else task(&j, 0, 1);
}
