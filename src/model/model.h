/* model.h — transformer models from GGUF, as the modules above model/ see
 * them: architectures, hyper-parameters, accessors, and several contexts
 * decoded in shared passes. The layout of wf_model and wf_context, and the
 * forward pass's parts, are private to model/ (model_int.h). Loading,
 * contexts and decoding are public API (include/wafer.h).
 *
 * Architectures: llama (Llama 2/3, DeepSeek-Coder, CodeLlama, Mistral),
 * qwen2 (QKV bias), qwen3 (per-head RMSNorm on Q and K), qwen3moe (qwen3's
 * attention with a mixture-of-experts feed-forward block, model/moe.c),
 * gpt-oss (MoE with biases and a clamped SwiGLU, attention sinks, sliding-
 * window layers alternating with full ones, model/attn_window.c).
 *
 * Files: model.c (load + validate), forward.c (batched forward pass),
 * kv_cache.c, attn.c, rope.c, ops.c (scalar elementwise helpers),
 * context.c (public wf_context_* / wf_decode API).
 */
#ifndef WF_MODEL_H
#define WF_MODEL_H

#include "format/gguf.h"
#include "cpu/matmul.h"

#include <stdatomic.h>

typedef enum wf_arch {
    WF_ARCH_LLAMA = 0,
    WF_ARCH_QWEN2 = 1,
    WF_ARCH_QWEN3 = 2,
    WF_ARCH_QWEN3MOE = 3,
    WF_ARCH_GPTOSS = 4
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
    int32_t n_ff;         /* feed-forward width (one expert's for MoE)       */
    int32_t n_expert;     /* experts per MoE layer; 0 for a dense model       */
    int32_t n_expert_used;/* experts each token is routed to (top-k)          */
    int32_t n_swa;        /* sliding window of the windowed layers (gpt-oss: the
                             even layers), 0 when none                        */
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

const char *wf_arch_name(wf_arch a);

/* Bytes of KV cache for n_ctx tokens with the given element type, every
 * layer holding all n_ctx positions. */
uint64_t wf_kv_bytes(const wf_hparams *hp, int32_t n_ctx, wf_kv_type t);
/* The same for a context that decodes in batches of n_batch: the layers with
 * a sliding window keep only a ring of wf_kv_ring_rows positions. */
uint64_t wf_kv_bytes_ctx(const wf_hparams *hp, int32_t n_ctx, int32_t n_batch, wf_kv_type t);
/* The attention window of layer l (0: the layer sees every position). */
int32_t wf_layer_window(const wf_hparams *hp, int32_t l);
/* Rows a sliding layer's ring keeps: window + 2 * n_batch (a batch writes
 * up to n_batch rows before it attends, and a rollback of up to n_batch
 * positions (rejected draft tokens) must find its window intact), or
 * n_ctx when that is no smaller (then there is no ring). */
int32_t wf_kv_ring_rows(int32_t window, int32_t n_ctx, int32_t n_batch);
/* "f16", "q8_0", "f32". */
const char *wf_kv_type_name(wf_kv_type t);

/* ---- accessors (model.c) ------------------------------------------------- */

const wf_hparams *wf_model_hparams(const wf_model *m);
/* The model file's metadata (chat template, FIM markers, ...); valid while
 * the model lives. */
const wf_gguf *wf_model_gguf(const wf_model *m);
/* true when the output matrix is the token embedding matrix */
bool wf_model_output_tied(const wf_model *m);
/* bytes of weights read per decoded token */
uint64_t wf_model_weight_bytes(const wf_model *m);
/* elements of every tensor, and of those one token uses (all but the
 * unused experts' share of a MoE model's stacked expert tensors) */
uint64_t wf_model_n_params(const wf_model *m);
uint64_t wf_model_n_params_active(const wf_model *m);

/* ---- several contexts in one forward pass (forward.c / context.c) -------- */

/* Columns (tokens, over all contexts) per shared forward pass: at most
 * WF_DECODE_MULTI_MAX and never more than the model's exact width
 * (wf_model_exact_batch: the kernels compute every column of such a call
 * exactly as a one-column call), so each context's logits stay
 * bit-identical to a wf_decode of its tokens alone. 64 with the AVX-512 or
 * scalar kernels, 32 for K-quant weights on AVX2. */
#define WF_DECODE_MULTI_MAX 64
int32_t wf_decode_multi_cols(const wf_model *m);

/* One context's share of a shared pass: n tokens appended after its n_past
 * cached ones; all_logits as in wf_decode (else the last token's only). */
typedef struct wf_seq {
    wf_context *ctx;
    const int32_t *tokens; /* (n) */
    int32_t n;
    bool all_logits;
} wf_seq;


/* Evaluate several contexts' tokens in shared forward passes: sequences are
 * packed in order into passes of at most wf_decode_multi_cols(model) columns (and
 * at most the pass's first context's n_batch), so the weights are read once
 * per pass instead of once per context. Afterwards each context is as after
 * wf_decode(seq.ctx, seq.tokens, seq.n, seq.all_logits): n_past + n, and
 * the logits at wf_get_logits bit-identical to that call's. Each sequence
 * needs 1 <= n <= min(wf_decode_multi_cols(model), its context's n_batch); the
 * contexts must be distinct, of one model, with room for their tokens;
 * everything is checked and every logits buffer grown before anything is
 * evaluated. A pass runs on its first context's thread pool (the others'
 * pools idle). On a failure inside a pass (out of memory in a matmul) the
 * contexts of that pass and of later ones have not advanced, those of
 * earlier passes have (wf_context_n_past tells). */
wf_status wf_decode_seqs(const wf_seq *seqs, int32_t n_seqs, wf_error *err);

/* The one-token case: tokens[i] appended to cs[i] for i < n (n >= 1), as
 * wf_decode(cs[i], &tokens[i], 1, false) would. */
wf_status wf_decode_multi(wf_context *const *cs, const int32_t *tokens, int32_t n, wf_error *err);

/* The default context size: n_train, or fewer (a multiple of 256, at least
 * 256) so that n_ctx * kv_per_tok + fixed fits in 90% of avail bytes
 * (avail 0: unknown, n_train). */
int32_t wf_context_cap_n_ctx(int32_t n_train, uint64_t kv_per_tok, uint64_t fixed, uint64_t avail);

/* The context wf_context_create gives when p->n_ctx is 0 (p NULL: the
 * default parameters): the model's training context (<arch>.context_length,
 * as llama.cpp's n_ctx 0 reads it; RoPE scaling does not raise it), capped
 * by wf_context_cap_n_ctx for p's KV type, batch and threads against the
 * memory available now. When capped, why (if not NULL) says so. */
int32_t wf_context_default_n_ctx(const wf_model *m, const wf_context_params *p, char *why, size_t why_cap);

/* Scratch bytes a context needs for n_batch tokens and n_threads threads. */
uint64_t wf_context_scratch_bytes(const wf_hparams *hp, int32_t n_batch, int32_t n_threads, int32_t n_ctx);

#endif /* WF_MODEL_H */
