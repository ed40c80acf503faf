/* forward.c — the batched forward pass: n tokens at positions
 * n_past..n_past+n-1 through every layer, one pass over each weight matrix
 * for the whole batch (wf_matmul), attention over the cache, and logits for
 * the tokens whose logits are kept. No allocation: all buffers live in the
 * context and are sized for n_batch tokens.
 */
#include "model/model_int.h"
#include "model/ops_int.h"

#include <math.h>
#include <string.h>

wf_status wf_ctx_matmul(wf_context *c, const wf_mat *w, const float *x, int32_t n, float *y, const char *what,
                         wf_error *err) {
    wf_status st = wf_matmul(c->tp, &c->model->kernels, w, x, n, y, &c->mm);
    if (st != WF_OK) {
        char buf[32];
        return wf_fail(err, st, "%s on a %s weight (%lld x %lld) failed: %s", what,
                       wf_type_name(w->type, buf, sizeof buf), (long long)w->rows, (long long)w->n,
                       wf_status_name(st));
    }
    return WF_OK;
}

/* Matrices that read the same input x (n, E) in one pool job. */
static wf_status mm_multi(wf_context *c, const wf_mat *const *ws, int n_w, const float *x, int32_t n,
                          float *const *ys, wf_error *err) {
    wf_status st = wf_matmul_multi(c->tp, &c->model->kernels, ws, n_w, x, n, ys, &c->mm);
    if (st != WF_OK)
        return wf_fail(err, st, "matmul on %d weights of %lld columns failed: %s", n_w, (long long)ws[0]->n,
                       wf_status_name(st));
    return WF_OK;
}

/* x (n, dim) += b (dim) for each row */
static void add_bias(float *x, const float *b, int32_t n, int64_t dim) {
    if (!b) return;
    for (int32_t t = 0; t < n; t++) wf_add(x + (int64_t)t * dim, b, dim);
}

/* per-head RMSNorm (qwen3):  x (n * n_heads, head_dim);  w (head_dim) */
static void head_norm(float *x, const float *w, int64_t rows, int32_t hd, float eps) {
    if (!w) return;
    for (int64_t r = 0; r < rows; r++) wf_rmsnorm(x + r * hd, x + r * hd, w, hd, eps);
}

/* A run of consecutive batch tokens that belong to one context: their K/V
 * rows go to its cache at positions pos0.., and they attend to its cache. */
typedef struct fwd_seg {
    wf_context *ctx;
    int32_t t0, n;     /* batch rows [t0, t0 + n)                    */
    int32_t pos0;      /* position of row t0 in ctx's cache           */
    int32_t keep_from; /* logits for rows [t0 + keep_from, t0 + n)    */
} fwd_seg;

/* The forward pass for a batch of n <= c->params.n_batch tokens made of
 * segments (one context each, in batch order). c owns the thread pool and
 * the scratch; every matmul runs once over all n tokens, so the weights are
 * read once for the whole batch. The logits of each segment's kept rows go
 * to logits (rows of n_vocab), segment after segment. check_abort: c's
 * abort hook before each layer. */
static wf_status forward_segs(wf_context *c, const fwd_seg *segs, int32_t n_segs, const int32_t *tokens, int32_t n,
                              float *logits, bool check_abort, wf_error *err) {
    const wf_model *m = c->model;
    const wf_hparams *hp = &m->hp;
    const int64_t E = hp->n_embd, HD = hp->head_dim, FF = hp->n_ff;
    const int64_t QD = (int64_t)hp->n_head * HD, KD = (int64_t)hp->n_head_kv * HD;
    const int32_t RD = hp->rope_dim;
    const float scale = 1.0f / sqrtf((float)HD);
    const wf_silu_mul_fn silu_mul = wf_ops_silu_mul_for(m->kernels.isa);
    wf_status st;

    for (int32_t s = 0; s < n_segs; s++) /* sliding layers' rings: what these rows overwrite is gone */
        if ((st = wf_kv_will_write(&segs[s].ctx->kv, segs[s].pos0, segs[s].n, err)) != WF_OK) return st;
    for (int32_t s = 0; s < n_segs; s++)
        for (int32_t t = segs[s].t0; t < segs[s].t0 + segs[s].n; t++) {
            wf_mat_get_row(&m->kernels, &m->tok_embd, tokens[t], c->x + t * E);
            wf_rope_table(&segs[s].ctx->rope, (int64_t)segs[s].pos0 + (t - segs[s].t0), c->rope_cs + (int64_t)t * RD);
        }

    for (int32_t l = 0; l < hp->n_layer; l++) {
        /* the chunk's K/V rows written so far lie past n_past, which the
         * caller does not advance on failure: the cache stays consistent */
        if (check_abort && c->abort_fn && c->abort_fn(c->abort_user))
            return wf_fail(err, WF_ERR_CANCELLED, "evaluation cancelled");
        const wf_layer *ly = &m->layers[l];
        /* attention block */
        for (int32_t t = 0; t < n; t++) wf_rmsnorm(c->xn + t * E, c->x + t * E, ly->attn_norm, E, hp->rms_eps);
        {
            const wf_mat *ws[3] = {&ly->wq, &ly->wk, &ly->wv};
            float *ys[3] = {c->q, c->k, c->v};
            if ((st = mm_multi(c, ws, 3, c->xn, n, ys, err)) != WF_OK) return st;
        }
        add_bias(c->q, ly->bq, n, QD);
        add_bias(c->k, ly->bk, n, KD);
        add_bias(c->v, ly->bv, n, KD);
        head_norm(c->q, ly->q_norm, (int64_t)n * hp->n_head, (int32_t)HD, hp->rms_eps);
        head_norm(c->k, ly->k_norm, (int64_t)n * hp->n_head_kv, (int32_t)HD, hp->rms_eps);
        for (int32_t s = 0; s < n_segs; s++) {
            const fwd_seg *g = &segs[s];
            for (int32_t t = g->t0; t < g->t0 + g->n; t++) {
                const float *cs = c->rope_cs + (int64_t)t * RD;
                wf_rope_apply(&g->ctx->rope, c->q + t * QD, hp->n_head, (int32_t)HD, cs);
                wf_rope_apply(&g->ctx->rope, c->k + t * KD, hp->n_head_kv, (int32_t)HD, cs);
                wf_kv_store(&g->ctx->kv, l, g->pos0 + (t - g->t0), c->k + t * KD, c->v + t * KD);
            }
            /* c's pool and per-thread scratch; the segment's own split-K
             * partials (sized for its n_ctx). The split choice depends only
             * on the token count and threads, and both modes fold the same
             * chunk partials in the same order, so the result is that of
             * evaluating the segment alone. */
            if (ly->window > 0 || ly->sinks) /* gpt-oss (attn_window.c) */
                wf_attention_window(c->tp, &g->ctx->attn, &g->ctx->kv, l, hp->n_head, c->q + g->t0 * QD,
                                    c->att + g->t0 * QD, g->n, g->pos0, scale, ly->window, ly->sinks, c->attn_scratch,
                                    c->n_threads);
            else
                wf_attention(c->tp, &g->ctx->attn, &g->ctx->kv, l, hp->n_head, c->q + g->t0 * QD, c->att + g->t0 * QD,
                             g->n, g->pos0, scale, c->attn_scratch, g->ctx->attn_partial, c->n_threads);
        }
        if ((st = wf_ctx_matmul(c, &ly->wo, c->att, n, c->xn, "matmul", err)) != WF_OK) return st;
        add_bias(c->xn, ly->bo, n, E);
        wf_add(c->x, c->xn, (int64_t)n * E);

        /* feed-forward block: down(silu(gate(x)) * up(x)) */
        for (int32_t t = 0; t < n; t++) wf_rmsnorm(c->xn + t * E, c->x + t * E, ly->ffn_norm, E, hp->rms_eps);
        if (hp->n_expert > 0) { /* mixture of experts (moe.c) */
            if ((st = wf_moe_ffn(c, ly, c->xn, n, c->moe_acc, err)) != WF_OK) return st;
            wf_add(c->x, c->moe_acc, (int64_t)n * E);
            continue;
        }
        {
            const wf_mat *ws[2] = {&ly->w_gate, &ly->w_up};
            float *ys[2] = {c->gate, c->up};
            if ((st = mm_multi(c, ws, 2, c->xn, n, ys, err)) != WF_OK) return st;
        }
        if (n_segs == 1) {
            silu_mul(c->gate, c->up, (int64_t)n * FF);
        } else { /* row by row: a vector kernel's tail then falls where it does for one context */
            for (int32_t s = 0; s < n_segs; s++)
                silu_mul(c->gate + segs[s].t0 * FF, c->up + segs[s].t0 * FF, (int64_t)segs[s].n * FF);
        }
        if ((st = wf_ctx_matmul(c, &ly->w_down, c->gate, n, c->xn, "matmul", err)) != WF_OK) return st;
        wf_add(c->x, c->xn, (int64_t)n * E);
    }

    /* the kept rows, normed into consecutive rows of xn (row j <= t: no overlap issue, x and xn differ) */
    int32_t j = 0;
    for (int32_t s = 0; s < n_segs; s++)
        for (int32_t t = segs[s].t0 + segs[s].keep_from; t < segs[s].t0 + segs[s].n; t++, j++)
            wf_rmsnorm(c->xn + j * E, c->x + t * E, m->output_norm, E, hp->rms_eps);
    if (j == 0) return WF_OK;
    return wf_ctx_matmul(c, &m->output, c->xn, j, logits, "matmul", err);
}

wf_status wf_forward(wf_context *c, const int32_t *tokens, int32_t n, int32_t n_past,
                     int32_t keep_from, float *logits, wf_error *err) {
    const fwd_seg seg = {.ctx = c, .t0 = 0, .n = n, .pos0 = n_past, .keep_from = keep_from < n ? keep_from : n};
    return forward_segs(c, &seg, 1, tokens, n, logits, true, err);
}

wf_status wf_forward_seqs(const wf_seq *seqs, int32_t n_seqs, float *logits, wf_error *err) {
    enum { MAX_COLS = WF_DECODE_MULTI_MAX };
    fwd_seg segs[MAX_COLS];
    int32_t tokens[MAX_COLS];
    int32_t n = 0;
    const int32_t cap = n_seqs > 0 ? wf_decode_multi_cols(seqs[0].ctx->model) : 0;
    if (n_seqs <= 0 || n_seqs > cap) return wf_fail(err, WF_ERR_INTERNAL, "wf_forward_seqs: %d sequences in one pass", n_seqs);
    for (int32_t i = 0; i < n_seqs; i++) {
        const wf_seq *q = &seqs[i];
        if (q->n <= 0 || n + q->n > cap || n + q->n > seqs[0].ctx->params.n_batch)
            return wf_fail(err, WF_ERR_INTERNAL, "wf_forward_seqs: %d + %d columns in one pass", n, q->n);
        segs[i] = (fwd_seg){.ctx = q->ctx, .t0 = n, .n = q->n, .pos0 = q->ctx->n_past, .keep_from = q->all_logits ? 0 : q->n - 1};
        memcpy(tokens + n, q->tokens, sizeof(int32_t) * (size_t)q->n);
        n += q->n;
    }
    return forward_segs(seqs[0].ctx, segs, n_seqs, tokens, n, logits, false, err);
}
