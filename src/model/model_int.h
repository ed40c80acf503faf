/* model_int.h — private to model/: the layout of wf_model and wf_context,
 * and the forward pass's parts (ops, RoPE, KV cache, attention). Files:
 * model.c (load + validate), forward.c (batched forward pass), moe.c
 * (mixture-of-experts routing and grouped expert FFN), kv_cache.c,
 * attn*.c, rope.c, ops*.c, context.c (public wf_context_* / wf_decode API).
 * Tests and benchmarks of those parts include it too. */
#ifndef WF_MODEL_INT_H
#define WF_MODEL_INT_H

#include "model/model.h"

typedef struct wf_layer {
    const float *attn_norm;              /* (n_embd)                          */
    wf_mat wq, wk, wv, wo;               /* (n_head*hd, n_embd), (n_kv*hd, n_embd) x2, (n_embd, n_head*hd) */
    const float *bq, *bk, *bv;           /* qwen2 biases, or NULL             */
    const float *q_norm, *k_norm;        /* qwen3 (head_dim), or NULL         */
    const float *ffn_norm;               /* (n_embd)                          */
    wf_mat w_gate, w_up, w_down;         /* (n_ff, n_embd) x2, (n_embd, n_ff)  */
    /* MoE (n_expert > 0; then w_gate / w_up / w_down are unused) */
    wf_mat router;                       /* ffn_gate_inp: (n_expert, n_embd)   */
    wf_mat gate_exps, up_exps;           /* (n_expert * n_ff, n_embd): expert e's rows [e*n_ff, (e+1)*n_ff) */
    wf_mat down_exps;                    /* (n_expert * n_embd, n_ff)          */
    /* gpt-oss */
    const float *bo;                     /* attn_output bias (n_embd), or NULL */
    const float *sinks;                  /* attn_sinks (n_head), or NULL       */
    int32_t window;                      /* attention window, 0 = all positions */
    const float *router_b;               /* (n_expert), or NULL                */
    const float *gate_b, *up_b;          /* (n_expert, n_ff), or NULL          */
    const float *down_b;                 /* (n_expert, n_embd), or NULL        */
} wf_layer;

struct wf_model {
    wf_gguf *gguf;           /* owns the mapping                              */
    wf_hparams hp;
    wf_vocab *vocab;
    wf_mat tok_embd;         /* (n_vocab, n_embd)                             */
    const float *output_norm;/* (n_embd)                                      */
    wf_mat output;           /* (n_vocab, n_embd); tok_embd when tied         */
    wf_layer *layers;        /* n_layer                                       */
    const float *rope_freqs; /* (rope_dim/2) frequency divisors (Llama 3.1 "rope_freqs.weight"), or NULL */
    float *f32_owned;        /* norms/biases converted to f32 when stored f16 */
    uint64_t weight_bytes;   /* bytes of weights read per token (MoE: the
                                active experts' share, n_expert_used/n_expert) */
    uint64_t n_params;       /* elements of every tensor                      */
    uint64_t n_params_active;/* elements one token uses (all but the unused
                                experts' share)                               */
    int32_t exact_batch;     /* min gemm_exact over the matmul weights' types */
    wf_kernels kernels;
    wf_cpu_features cpu;
};

/* ---- ops.c: elementwise helpers (plain scalar C; cheap next to matmuls) -- */

/* out = x / rms(x) * w:  x, out (n);  w (n). out may alias x. */
void wf_rmsnorm(float *out, const float *x, const float *w, int64_t n, float eps);
/* gate = silu(gate) * up:  gate, up (n) */
void wf_silu_mul(float *gate, const float *up, int64_t n);
/* y += x:  (n) */
void wf_add(float *y, const float *x, int64_t n);
/* x = softmax(x) in place:  (n) */
void wf_softmax(float *x, int64_t n);
/* sum a[i]*b[i]:  a, b (n) */
float wf_dot_f32(const float *a, const float *b, int64_t n);

/* ---- rope.c ------------------------------------------------------------- */

/* Per-pair rotation frequencies and magnitude scale, computed once per
 * context from the hyper-parameters (linear scaling and YaRN folded in). */
typedef struct wf_rope {
    int32_t rope_dim;      /* rotated dims per head (even)                   */
    wf_rope_order order;
    double *theta;         /* (rope_dim/2) radians per position              */
    float mscale;          /* multiplies cos and sin (YaRN attention factor)  */
} wf_rope;

wf_status wf_rope_init(wf_rope *r, const wf_hparams *hp, const float *freq_factors,
                       wf_error *err);
void wf_rope_free(wf_rope *r);
/* cs (rope_dim): cos/sin pairs for one position: cs[2i] = cos, cs[2i+1] = sin. */
void wf_rope_table(const wf_rope *r, int64_t pos, float *cs);
/* Rotate n_heads heads of x in place:  x (n_heads, head_dim);  cs (rope_dim). */
void wf_rope_apply(const wf_rope *r, float *x, int32_t n_heads, int32_t head_dim,
                   const float *cs);

/* ---- kv_cache.c --------------------------------------------------------- */

/* Per layer, K and V as (n_head_kv, cap, head_dim) rows of elem type, so
 * one kv head's positions are contiguous for streaming attention. cap is
 * n_ctx, except for the layers with a sliding window when the context is
 * larger than their ring (wf_kv_ring_rows): they keep position p in row
 * p % ring, so their memory does not grow with the context. */
typedef struct wf_kv_cache {
    wf_kv_type kv_type;
    wf_type elem;          /* WF_TYPE_F16 / Q8_0 / F32                        */
    int32_t n_layer, n_head_kv, head_dim, n_ctx;
    size_t row_bytes;      /* bytes of one (pos, head) row of head_dim        */
    void **k, **v;         /* n_layer buffers of n_head_kv*cap[l]*row_bytes   */
    int32_t *cap;          /* (n_layer) rows per head: n_ctx or ring           */
    int32_t ring;          /* ring rows of the sliding layers (0: no ring)     */
    int32_t window;        /* their window                                     */
    int32_t snap;          /* ring rows a snapshot keeps (ring - n_batch)      */
    int32_t ring_lo;       /* the oldest position the rings still hold         */
    wf_to_float_fn to_float;     /* row decode (fast kernel or reference)     */
    wf_from_float_fn from_float; /* row encode                                */
} wf_kv_cache;

wf_type wf_kv_elem_type(wf_kv_type t);
wf_status wf_kv_init(wf_kv_cache *kv, const wf_hparams *hp, int32_t n_ctx, int32_t n_batch, wf_kv_type t,
                     const wf_kernels *k, wf_error *err);
void wf_kv_free(wf_kv_cache *kv);
/* Store K and V of one token:  k, v (n_head_kv, head_dim). */
void wf_kv_store(wf_kv_cache *kv, int32_t layer, int32_t pos, const float *k, const float *v);
/* Row pointers:  (head_dim) encoded elements at (layer, head, pos). */
const void *wf_kv_k_row(const wf_kv_cache *kv, int32_t layer, int32_t head, int32_t pos);
const void *wf_kv_v_row(const wf_kv_cache *kv, int32_t layer, int32_t head, int32_t pos);
/* Before positions [pos0, pos0 + n) are written: the rings lose what those
 * rows held. WF_ERR_RANGE when n is more than a ring can take in one batch. */
wf_status wf_kv_will_write(wf_kv_cache *kv, int32_t pos0, int32_t n, wf_error *err);
/* The smallest n_keep > 0 a truncation may keep (the rings must still hold
 * the window before it); 0 when any n_keep works. */
int32_t wf_kv_min_keep(const wf_kv_cache *kv);

/* ---- attn.c ------------------------------------------------------------- */

#define WF_ATTN_TILE 64          /* cached positions per online-softmax step  */
#define WF_ATTN_CHUNK 512        /* positions per partial (multiple of TILE)  */
#define WF_ATTN_SPLIT_MAX_TOK 4  /* batches up to this size may split by chunk */

/* One fused online-softmax step over a tile of the cache: decode, scores,
 * exp and weighted sum in one pass, for nq queries sharing one kv head.
 *   q (nq, hd);  K, V: nt rows of row_bytes encoded elements (cache rows);
 *   part (nq, hd + 2): running (m, l, acc[hd]) per query, updated in place.
 * Each query's arithmetic must not depend on nq or on the other queries
 * (batched and one-by-one evaluation stay bit-identical). */
typedef void (*wf_attn_tile_fn)(const float *q, int32_t nq, const void *K, const void *V,
                                size_t row_bytes, int32_t nt, int32_t hd, float scale, float *part);

/* The inner loops, chosen once per context by instruction set. */
typedef struct wf_attn_kernels {
    wf_isa isa;
    /* s (nt) = scale * K (nt, hd) · q (hd) */
    void (*scores)(const float *q, const float *K, int32_t nt, int32_t hd, float scale, float *s);
    /* acc (hd) += sum_j p[j] * V[j]:  p (nt), V (nt, hd) */
    void (*accum)(float *acc, const float *p, const float *V, int32_t nt, int32_t hd);
    /* q8_0 KV decode when faster than the kernel table's, else NULL */
    wf_to_float_fn q8_0_to_float;
    /* s (nt) = exp(s - m), returns their sum (m >= every s); NULL: expf loop */
    float (*exp_weights)(float *s, int32_t nt, float m);
    /* fused tile steps per cache element type, or NULL: then attention
     * decodes tiles to float and uses scores / accum with scalar expf */
    wf_attn_tile_fn tile_f32, tile_f16, tile_q8_0;
} wf_attn_kernels;

/* Scalar reference first, then the ISA's overrides (up to isa). */
void wf_attn_kernels_init(wf_attn_kernels *k, wf_isa isa, int32_t head_dim);
void wf_attn_kernels_fill_scalar(wf_attn_kernels *k);
void wf_attn_kernels_fill_avx2(wf_attn_kernels *k, int32_t head_dim);   /* attn_avx2.c, x86 only */
void wf_attn_kernels_fill_avx512(wf_attn_kernels *k, int32_t head_dim); /* attn_avx512.c, x86 only */
/* Scalar reference of a wf_attn_tile_fn for cache element type elem (the
 * same math with expf and the reference decoders; tests). */
void wf_attn_tile_ref(wf_type elem, const float *q, int32_t nq, const void *K, const void *V,
                      size_t row_bytes, int32_t nt, int32_t hd, float scale, float *part);
/* The AVX-512 exp used by the fused tiles, one value at a time (tests):
 * exp(x) for x <= 0 (inputs below -104 give 0 or the smallest denormal). */
float wf_attn_exp_avx512(float x);

/* Per-thread scratch floats needed by wf_attention (group = n_head/n_head_kv). */
size_t wf_attn_scratch_floats(int32_t head_dim, int32_t group);
/* Floats of the split-K partial buffer for a context of n_ctx positions. */
size_t wf_attn_partial_floats(int32_t n_head, int32_t head_dim, int32_t n_ctx);

/* Causal attention for n_tok query tokens at positions pos0..pos0+n_tok-1
 * against the cache (which already holds those tokens' K and V):
 *   q (n_tok, n_head*head_dim);  out (n_tok, n_head*head_dim).
 * scratch: wf_attn_scratch_floats() floats per thread; partial:
 * wf_attn_partial_floats() floats, or NULL (never split by chunk). */
void wf_attention(wf_threadpool *tp, const wf_attn_kernels *ak, const wf_kv_cache *kv,
                  int32_t layer, int32_t n_head, const float *q, float *out, int32_t n_tok,
                  int32_t pos0, float scale, float *scratch, float *partial,
                  int32_t n_threads);
/* Single-threaded reference for one (token, head): full softmax over
 * positions 0..pos (tests). q, out (head_dim). */
void wf_attention_ref(const wf_kv_cache *kv, int32_t layer, int32_t kv_head,
                      const float *q, float *out, int32_t pos, float scale);

/* ---- attn_window.c ------------------------------------------------------ */

/* Causal attention like wf_attention, but each token at position p sees
 * positions max(0, p - window + 1)..p (window 0: all), and head h's softmax
 * has the extra term exp(sinks[h]) in its denominator (sinks NULL: none).
 * scratch: wf_attn_scratch_floats() floats per thread. A token's result does
 * not depend on the other tokens of the batch. */
void wf_attention_window(wf_threadpool *tp, const wf_attn_kernels *ak, const wf_kv_cache *kv, int32_t layer,
                         int32_t n_head, const float *q, float *out, int32_t n_tok, int32_t pos0, float scale,
                         int32_t window, const float *sinks, float *scratch, int32_t n_threads);

/* ---- moe.c -------------------------------------------------------------- */

/* The expert view e of a stacked expert tensor (rows_per rows per expert). */
wf_mat wf_mat_expert(const wf_mat *all, int32_t e, int64_t rows_per);

/* Route each token (softmax over the experts, top n_expert_used, weights
 * renormalised to sum 1):  logits (n, n_expert) in, sel / w (n, k) out.
 * A token's choice depends on its logits alone; ties go to the lower index. */
void wf_moe_route(const float *logits, int32_t n, int32_t n_expert, int32_t k, int32_t *sel, float *w);

/* gpt-oss's gated unit: gate = min(gate, 7) * sigmoid(1.702 * min(gate, 7))
 * * (clamp(up, -7, 7) + 1):  gate, up (n) */
void wf_swiglu_oai(float *gate, const float *up, int64_t n);

struct wf_context;
/* The MoE feed-forward block for n tokens: in (n, n_embd) the normed
 * inputs, out (n, n_embd) the weighted sum of each token's experts. Each
 * expert's matrices are multiplied once with all the tokens routed to it
 * (gathered into one batch), and a token's sum runs over its experts in
 * index order: its result does not depend on the other tokens in the batch
 * as long as the matmuls are exact at the group widths (wf_model_exact_batch). */
wf_status wf_moe_ffn(struct wf_context *c, const wf_layer *ly, const float *in, int32_t n, float *out,
                     wf_error *err);

/* ---- context (context.c / forward.c) ------------------------------------ */

struct wf_context {
    wf_model *model;
    wf_context_params params;  /* resolved (no zeros left)                    */
    wf_threadpool *tp;
    int32_t n_threads;
    wf_kv_cache kv;
    int32_t n_past;
    wf_rope rope;
    wf_attn_kernels attn;
    wf_matmul_scratch mm;
    /* scratch, sized for n_batch tokens */
    float *x;       /* (n_batch, n_embd) residual stream                    */
    float *xn;      /* (n_batch, n_embd) normed input / projection output   */
    float *q;       /* (n_batch, n_head*hd)                                 */
    float *k;       /* (n_batch, n_kv*hd)                                   */
    float *v;       /* (n_batch, n_kv*hd)                                   */
    float *att;     /* (n_batch, n_head*hd) attention output                */
    float *gate;    /* (n_batch, n_ff)                                      */
    float *up;      /* (n_batch, n_ff)                                      */
    float *rope_cs; /* (n_batch, rope_dim) cos/sin per token                */
    /* MoE scratch (NULL for dense models) */
    float *moe_logits;   /* (n_batch, n_expert) router output                */
    float *moe_w;        /* (n_batch, n_expert_used) routing weights         */
    int32_t *moe_sel;    /* (n_batch, n_expert_used) chosen experts          */
    int32_t *moe_rows;   /* (n_batch) tokens routed to the current expert    */
    float *moe_x;        /* (n_batch, n_embd) gathered inputs of one expert  */
    float *moe_y;        /* (n_batch, n_embd) one expert's outputs           */
    float *moe_acc;      /* (n_batch, n_embd) weighted sum over experts      */
    float *attn_scratch; /* (n_threads, wf_attn_scratch_floats)             */
    float *attn_partial; /* (wf_attn_partial_floats) split-K partials        */
    /* logits of the last wf_decode call */
    float *logits;       /* (logits_cap, n_vocab)                            */
    int64_t logits_cap;  /* rows allocated                                   */
    int32_t n_logits;    /* rows valid                                       */
    int32_t logits_first;/* batch index of row 0 (n-1 when only the last)    */
    int32_t last_n;      /* tokens in the last wf_decode batch               */
    uint64_t scratch_bytes;
    char notice[256];
    wf_abort_fn abort_fn; /* checked before each layer (wf_context_set_abort) */
    void *abort_user;
};

/* Run the forward pass for n <= n_batch tokens at positions n_past.. and
 * write logits for the tokens in [keep_from, n) to logits (rows of n_vocab).
 * Caller checks ranges; advances nothing (the caller updates n_past). */
/* y = w x for n tokens on the context's pool and scratch; a failure names
 * what ("matmul", "expert matmul"), the weight's type and shape. */
wf_status wf_ctx_matmul(wf_context *c, const wf_mat *w, const float *x, int32_t n, float *y, const char *what,
                        wf_error *err);
wf_status wf_forward(wf_context *c, const int32_t *tokens, int32_t n, int32_t n_past,
                     int32_t keep_from, float *logits, wf_error *err);

/* ---- several contexts in one pass (forward.c) ---------------------------- */

/* One forward pass over seqs[0..n_seqs) (already checked; their n add up to
 * <= wf_decode_multi_cols(model) and <= seqs[0].ctx's n_batch): the matmuls run
 * once on the concatenated columns in seqs[0].ctx's scratch and thread pool;
 * RoPE, the K/V writes and attention use each context's own cache from its
 * n_past. Abort hooks are not consulted. logits: the kept rows (all, or the
 * last, of each sequence in order; rows of n_vocab). Advances nothing. */
wf_status wf_forward_seqs(const wf_seq *seqs, int32_t n_seqs, float *logits, wf_error *err);

#endif /* WF_MODEL_INT_H */
