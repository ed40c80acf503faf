/* moe.c — the mixture-of-experts feed-forward block (qwen3moe, gpt-oss): a router
 * picks n_expert_used of n_expert experts per token, and the token's output
 * is the weighted sum of those experts' SwiGLU FFNs.
 *
 * Why grouped: an expert's three matrices are the bulk of the weights, and
 * only the chosen ones may be read. For a batch (prefill, speculative
 * verification, several sessions in one pass) the tokens routed to each
 * expert are gathered into one activation batch, so every active expert's
 * weights are read once per batch, and the others not at all.
 *
 * Why exact: a token's result must not depend on which other tokens share
 * its batch (greedy output identical with and without speculation or
 * batching). The router and each expert are plain matmuls whose columns are
 * computed as one-column calls up to wf_model_exact_batch; the SwiGLU runs
 * row by row; and a token's weighted sum adds its experts in ascending expert
 * index, which depends on that token's choice alone.
 *
 * gpt-oss adds biases (router, and each expert's gate/up/down) and its own
 * gated unit (the model card's SwiGLU with clamping, wf_swiglu_oai); its
 * routing (softmax over the chosen logits) is the same as Qwen3-MoE's
 * softmax-then-renormalise.
 */
#include "model/model_int.h"
#include "model/ops_int.h"

#include <math.h>
#include <string.h>

wf_mat wf_mat_expert(const wf_mat *all, int32_t e, int64_t rows_per) {
    wf_mat m = *all;
    m.rows = rows_per;
    m.data = (const char *)all->data + (size_t)e * (size_t)rows_per * all->row_bytes;
    return m;
}

void wf_moe_route(const float *logits, int32_t n, int32_t n_expert, int32_t k, int32_t *sel, float *w) {
    for (int32_t t = 0; t < n; t++) {
        const float *l = logits + (int64_t)t * n_expert;
        int32_t *s = sel + (int64_t)t * k;
        float *wt = w + (int64_t)t * k;
        /* top-k by selection: k is small (8 of 128); softmax is monotonic,
         * so choosing on the logits chooses on the probabilities */
        for (int32_t j = 0; j < k; j++) {
            int32_t best = -1;
            for (int32_t e = 0; e < n_expert; e++) {
                bool taken = false;
                for (int32_t i = 0; i < j && !taken; i++) taken = s[i] == e;
                if (taken) continue;
                /* NaN never wins; the first of equal values does */
                if (best < 0 || l[e] > l[best] || (isnan(l[best]) && !isnan(l[e]))) best = e;
            }
            s[j] = best;
        }
        /* softmax over all experts, then the chosen probabilities divided by
         * their sum (norm_topk_prob): the full denominator cancels, leaving a
         * softmax over the chosen logits. s[0] holds the largest. */
        const double mx = l[s[0]];
        double sum = 0.0;
        for (int32_t j = 0; j < k; j++) sum += exp((double)l[s[j]] - mx);
        for (int32_t j = 0; j < k; j++) wt[j] = (float)(exp((double)l[s[j]] - mx) / sum);
    }
}

void wf_swiglu_oai(float *gate, const float *up, int64_t n) {
    const float limit = 7.0f, alpha = 1.702f;
    for (int64_t i = 0; i < n; i++) {
        const float x = gate[i] < limit ? gate[i] : limit;
        const float y = up[i] < -limit ? -limit : up[i] > limit ? limit : up[i];
        gate[i] = x / (1.0f + expf(-alpha * x)) * (y + 1.0f);
    }
}

/* rows (n, dim) += b (dim) */
static void add_rows(float *x, const float *b, int32_t n, int64_t dim) {
    if (!b) return;
    for (int32_t t = 0; t < n; t++) wf_add(x + (int64_t)t * dim, b, dim);
}


wf_status wf_moe_ffn(wf_context *c, const wf_layer *ly, const float *in, int32_t n, float *out, wf_error *err) {
    const wf_model *m = c->model;
    const wf_hparams *hp = &m->hp;
    const int64_t E = hp->n_embd, FF = hp->n_ff;
    const int32_t NE = hp->n_expert, K = hp->n_expert_used;
    const wf_silu_mul_fn silu_mul = hp->arch == WF_ARCH_GPTOSS ? wf_swiglu_oai : wf_ops_silu_mul_for(m->kernels.isa);
    wf_status st;

    if ((st = wf_ctx_matmul(c, &ly->router, in, n, c->moe_logits, "expert matmul", err)) != WF_OK) return st;
    add_rows(c->moe_logits, ly->router_b, n, NE);
    wf_moe_route(c->moe_logits, n, NE, K, c->moe_sel, c->moe_w);
    memset(out, 0, sizeof(float) * (size_t)n * (size_t)E);

    for (int32_t e = 0; e < NE; e++) {
        /* the tokens routed to e, in batch order, and their weights */
        int32_t cnt = 0;
        for (int32_t t = 0; t < n; t++)
            for (int32_t j = 0; j < K; j++)
                if (c->moe_sel[t * K + j] == e) {
                    c->moe_rows[cnt++] = t * K + j;
                    break;
                }
        if (cnt == 0) continue; /* never read */
        for (int32_t i = 0; i < cnt; i++)
            memcpy(c->moe_x + (int64_t)i * E, in + (int64_t)(c->moe_rows[i] / K) * E, sizeof(float) * (size_t)E);
        const wf_mat g = wf_mat_expert(&ly->gate_exps, e, FF), u = wf_mat_expert(&ly->up_exps, e, FF);
        const wf_mat d = wf_mat_expert(&ly->down_exps, e, E);
        const wf_mat *ws[2] = {&g, &u};
        float *ys[2] = {c->gate, c->up};
        st = wf_matmul_multi(c->tp, &m->kernels, ws, 2, c->moe_x, cnt, ys, &c->mm);
        if (st != WF_OK) return wf_fail(err, st, "expert %d gate/up matmul failed: %s", e, wf_status_name(st));
        add_rows(c->gate, ly->gate_b ? ly->gate_b + (int64_t)e * FF : NULL, cnt, FF);
        add_rows(c->up, ly->up_b ? ly->up_b + (int64_t)e * FF : NULL, cnt, FF);
        for (int32_t i = 0; i < cnt; i++) /* row by row: the same vector tails for any group */
            silu_mul(c->gate + (int64_t)i * FF, c->up + (int64_t)i * FF, FF);
        if ((st = wf_ctx_matmul(c, &d, c->gate, cnt, c->moe_y, "expert matmul", err)) != WF_OK) return st;
        add_rows(c->moe_y, ly->down_b ? ly->down_b + (int64_t)e * E : NULL, cnt, E);
        for (int32_t i = 0; i < cnt; i++) {
            const int32_t r = c->moe_rows[i];
            float *o = out + (int64_t)(r / K) * E;
            const float *y = c->moe_y + (int64_t)i * E;
            const float wt = c->moe_w[r];
            for (int64_t x = 0; x < E; x++) o[x] += wt * y[x];
        }
    }
    return WF_OK;
}
