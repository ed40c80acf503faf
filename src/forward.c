/* forward.c — the batched forward pass: n tokens at positions
 * n_past..n_past+n-1 through every layer, one pass over each weight matrix
 * for the whole batch (wf_matmul), attention over the cache, and logits for
 * the tokens whose logits are kept. No allocation: all buffers live in the
 * context and are sized for n_batch tokens.
 */
#include "model.h"
#include "ops_simd.h"

#include <math.h>

static wf_status mm(wf_context *c, const wf_mat *w, const float *x, int32_t n, float *y, wf_error *err) {
    wf_status st = wf_matmul(c->tp, &c->model->kernels, w, x, n, y, &c->mm);
    if (st != WF_OK) {
        char buf[32];
        return wf_fail(err, st, "matmul on a %s weight (%lld x %lld) failed: %s",
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

wf_status wf_forward(wf_context *c, const int32_t *tokens, int32_t n, int32_t n_past,
                     int32_t keep_from, float *logits, wf_error *err) {
    const wf_model *m = c->model;
    const wf_hparams *hp = &m->hp;
    const int64_t E = hp->n_embd, HD = hp->head_dim, FF = hp->n_ff;
    const int64_t QD = (int64_t)hp->n_head * HD, KD = (int64_t)hp->n_head_kv * HD;
    const int32_t RD = hp->rope_dim;
    const float scale = 1.0f / sqrtf((float)HD);
    const wf_silu_mul_fn silu_mul = wf_ops_silu_mul_for(m->kernels.isa);
    wf_status st;

    for (int32_t t = 0; t < n; t++) {
        wf_mat_get_row(&m->kernels, &m->tok_embd, tokens[t], c->x + t * E);
        wf_rope_table(&c->rope, (int64_t)n_past + t, c->rope_cs + (int64_t)t * RD);
    }

    for (int32_t l = 0; l < hp->n_layer; l++) {
        /* the chunk's K/V rows written so far lie past n_past, which the
         * caller does not advance on failure: the cache stays consistent */
        if (c->abort_fn && c->abort_fn(c->abort_user))
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
        for (int32_t t = 0; t < n; t++) {
            const float *cs = c->rope_cs + (int64_t)t * RD;
            wf_rope_apply(&c->rope, c->q + t * QD, hp->n_head, (int32_t)HD, cs);
            wf_rope_apply(&c->rope, c->k + t * KD, hp->n_head_kv, (int32_t)HD, cs);
            wf_kv_store(&c->kv, l, n_past + t, c->k + t * KD, c->v + t * KD);
        }
        wf_attention(c->tp, &c->attn, &c->kv, l, hp->n_head, c->q, c->att, n, n_past, scale, c->attn_scratch,
                     c->attn_partial, c->n_threads);
        if ((st = mm(c, &ly->wo, c->att, n, c->xn, err)) != WF_OK) return st;
        wf_add(c->x, c->xn, (int64_t)n * E);

        /* feed-forward block: down(silu(gate(x)) * up(x)) */
        for (int32_t t = 0; t < n; t++) wf_rmsnorm(c->xn + t * E, c->x + t * E, ly->ffn_norm, E, hp->rms_eps);
        {
            const wf_mat *ws[2] = {&ly->w_gate, &ly->w_up};
            float *ys[2] = {c->gate, c->up};
            if ((st = mm_multi(c, ws, 2, c->xn, n, ys, err)) != WF_OK) return st;
        }
        silu_mul(c->gate, c->up, (int64_t)n * FF);
        if ((st = mm(c, &ly->w_down, c->gate, n, c->xn, err)) != WF_OK) return st;
        wf_add(c->x, c->xn, (int64_t)n * E);
    }

    if (keep_from >= n) return WF_OK;
    for (int32_t t = keep_from; t < n; t++)
        wf_rmsnorm(c->xn + t * E, c->x + t * E, m->output_norm, E, hp->rms_eps);
    return mm(c, &m->output, c->xn + (int64_t)keep_from * E, n - keep_from, logits, err);
}
