/* model.h — transformer models from GGUF: hyper-parameters, weights (views
 * into the mapped file), and the per-sequence context (KV cache, scratch).
 *
 * Architectures: llama (Llama 2/3, DeepSeek-Coder, CodeLlama, Mistral),
 * qwen2 (QKV bias), qwen3 (per-head RMSNorm on Q and K).
 */
#ifndef WF_MODEL_H
#define WF_MODEL_H

#include "gguf.h"
#include "matmul.h"

typedef enum wf_arch {
    WF_ARCH_LLAMA = 0,
    WF_ARCH_QWEN2 = 1,
    WF_ARCH_QWEN3 = 2
} wf_arch;

typedef enum wf_rope_order {
    WF_ROPE_NORM = 0, /* rotate adjacent pairs (x[2i], x[2i+1]): llama        */
    WF_ROPE_NEOX = 1  /* rotate halves (x[i], x[i + d/2]): qwen2, qwen3       */
} wf_rope_order;

typedef enum wf_rope_scaling {
    WF_ROPE_SCALING_NONE = 0,
    WF_ROPE_SCALING_LINEAR = 1,
    WF_ROPE_SCALING_YARN = 2
} wf_rope_scaling;

typedef struct wf_hparams {
    wf_arch arch;
    int32_t n_vocab;
    int32_t n_embd;       /* model width                                     */
    int32_t n_layer;
    int32_t n_head;
    int32_t n_head_kv;    /* GQA: n_head is a multiple of n_head_kv          */
    int32_t head_dim;     /* key/value length per head                       */
    int32_t n_ff;         /* feed-forward width                              */
    int32_t n_ctx_train;
    float rms_eps;
    /* RoPE */
    wf_rope_order rope_order;
    int32_t rope_dim;     /* dimensions rotated per head (<= head_dim)       */
    float rope_base;
    wf_rope_scaling rope_scaling;
    float rope_factor;    /* context extension factor (linear, YaRN)        */
    int32_t rope_orig_ctx;/* YaRN: original training context                 */
    float yarn_beta_fast, yarn_beta_slow;
    float yarn_attn_factor;
} wf_hparams;

typedef struct wf_layer {
    const float *attn_norm;              /* (n_embd)                          */
    wf_mat wq, wk, wv, wo;               /* (n_head*hd, n_embd), (n_kv*hd, n_embd) x2, (n_embd, n_head*hd) */
    const float *bq, *bk, *bv;           /* qwen2 biases, or NULL             */
    const float *q_norm, *k_norm;        /* qwen3 (head_dim), or NULL         */
    const float *ffn_norm;               /* (n_embd)                          */
    wf_mat w_gate, w_up, w_down;         /* (n_ff, n_embd) x2, (n_embd, n_ff)  */
} wf_layer;

struct wf_model {
    wf_gguf *gguf;           /* owns the mapping                              */
    wf_hparams hp;
    wf_vocab *vocab;
    wf_mat tok_embd;         /* (n_vocab, n_embd)                             */
    const float *output_norm;/* (n_embd)                                      */
    wf_mat output;           /* (n_vocab, n_embd); tok_embd when tied         */
    wf_layer *layers;        /* n_layer                                       */
    float *f32_owned;        /* norms/biases converted to f32 when stored f16 */
    uint64_t weight_bytes;   /* bytes of weights read per token               */
    wf_kernels kernels;
    wf_cpu_features cpu;
};

const char *wf_arch_name(wf_arch a);

/* Bytes of KV cache for n_ctx tokens with the given element type. */
uint64_t wf_kv_bytes(const wf_hparams *hp, int32_t n_ctx, wf_kv_type t);

#endif /* WF_MODEL_H */
