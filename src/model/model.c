/* model.c — loading a transformer from GGUF: architecture, hyper-parameters,
 * weight views into the mapping, validation of every tensor's type and shape
 * against the hyper-parameters, and the vocabulary.
 *
 * Norm weights and biases may be stored f32, f16 or bf16; they are converted
 * to f32 once here (model->f32_owned). Matmul weights stay in the mapping.
 */
#include "model/model_int.h"
#include "format/quant.h"
#include "text/tokenizer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int32_t wf_layer_window(const wf_hparams *hp, int32_t l) {
    /* gpt-oss: even layers slide (the model's layer_types) */
    return hp->arch == WF_ARCH_GPTOSS && hp->n_swa > 0 && l % 2 == 0 ? hp->n_swa : 0;
}

const char *wf_arch_name(wf_arch a) {
    switch (a) {
    case WF_ARCH_LLAMA: return "llama";
    case WF_ARCH_QWEN2: return "qwen2";
    case WF_ARCH_QWEN3: return "qwen3";
    case WF_ARCH_QWEN3MOE: return "qwen3moe";
    case WF_ARCH_GPTOSS: return "gpt-oss";
    }
    return "?";
}

wf_model_params wf_model_default_params(void) {
    wf_model_params p = {0};
    p.isa = -1;
    return p;
}

/* ---- loader state ------------------------------------------------------- */

typedef struct loader {
    wf_model *m;
    const char *path;
    const char *arch;     /* key prefix: general.architecture               */
    float *pool;          /* f32 conversions, bump-allocated from f32_owned */
    size_t pool_used, pool_cap;
    uint64_t done, total; /* progress, bytes of tensors                    */
    size_t page;          /* prefault stride                                */
    const wf_model_params *params;
    wf_error *err;
} loader;

static wf_status key_u32(loader *L, const char *suffix, bool required, uint32_t def, uint32_t *out) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", L->arch, suffix);
    wf_status st = wf_gguf_get_u32(L->m->gguf, key, out, L->err);
    if (st == WF_ERR_NOT_FOUND) {
        if (required) return wf_fail(L->err, WF_ERR_FORMAT, "%s: missing hyper-parameter %s", L->path, key);
        *out = def;
        return WF_OK;
    }
    return st;
}

static wf_status key_f32(loader *L, const char *suffix, float def, float *out) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", L->arch, suffix);
    wf_status st = wf_gguf_get_f32(L->m->gguf, key, out, L->err);
    if (st == WF_ERR_NOT_FOUND) {
        *out = def;
        return WF_OK;
    }
    return st;
}

static const wf_gguf_tensor *find(loader *L, const char *name, bool required, wf_status *st) {
    const wf_gguf_tensor *t = wf_gguf_find_tensor(L->m->gguf, name);
    if (!t && required)
        *st = wf_fail(L->err, WF_ERR_FORMAT, "%s: missing tensor '%s' (needed by %s)", L->path, name,
                      wf_arch_name(L->m->hp.arch));
    return t;
}

/* Read one byte per page of a tensor so that the page faults of a cold
 * mapping happen while loading (with progress shown), not inside the first
 * decode, where they would count against time to first token. */
static void prefault(const wf_gguf_tensor *t, size_t page) {
    const volatile unsigned char *p = t->data;
    unsigned char sink = 0;
    for (uint64_t off = 0; off < t->nbytes; off += page) sink ^= p[off];
    if (t->nbytes) sink ^= p[t->nbytes - 1];
    __asm__ volatile("" : : "r"(sink));
}

static wf_status progress(loader *L, const wf_gguf_tensor *t) {
    prefault(t, L->page);
    L->done += t->nbytes;
    if (L->params && L->params->progress &&
        !L->params->progress(L->done, L->total, L->params->progress_user))
        return wf_fail(L->err, WF_ERR_CANCELLED, "%s: loading cancelled", L->path);
    return WF_OK;
}

static bool shape_is(const wf_gguf_tensor *t, int64_t ne0, int64_t ne1) {
    for (uint32_t d = 2; d < WF_GGUF_MAX_DIMS; d++)
        if (t->ne[d] != 1) return false;
    return t->ne[0] == ne0 && t->ne[1] == ne1;
}

static wf_status shape_error(loader *L, const wf_gguf_tensor *t, int64_t ne0, int64_t ne1) {
    return wf_fail(L->err, WF_ERR_FORMAT,
                   "%s: tensor '%s' has shape [%lld, %lld, %lld, %lld], expected [%lld, %lld] from the hyper-parameters",
                   L->path, t->name, (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2],
                   (long long)t->ne[3], (long long)ne0, (long long)ne1);
}

static wf_status check_mat(loader *L, const wf_gguf_tensor *t, const char *name, bool needs_dot, wf_mat *out);

/* A matrix of ne0 x ne1 (ne0 fastest) that the matmul kernels can use.
 * Absent and not required: out->data stays NULL. */
static wf_status load_mat(loader *L, const char *name, int64_t ne0, int64_t ne1, bool required,
                          bool needs_dot, wf_mat *out) {
    wf_status st = WF_OK;
    memset(out, 0, sizeof *out);
    const wf_gguf_tensor *t = find(L, name, required, &st);
    if (!t) return st;
    if (!shape_is(t, ne0, ne1)) return shape_error(L, t, ne0, ne1);
    if ((st = check_mat(L, t, name, needs_dot, out)) != WF_OK) return st;
    return progress(L, t);
}

/* t (ne[0] x ne[1]) as a matmul weight: a type the kernels can multiply
 * with, whole blocks per row; its bytes count as read per token. */
static wf_status check_mat(loader *L, const wf_gguf_tensor *t, const char *name, bool needs_dot, wf_mat *out) {
    const int64_t ne0 = t->ne[0], ne1 = t->ne[1];
    char buf[32];
    const wf_type_traits *tr = wf_type_get(t->type);
    const wf_kernels *k = &L->m->kernels;
    if (!tr || !tr->can_load || (needs_dot && !k->vec_dot[t->type] && !k->gemm[t->type]) ||
        (!needs_dot && !k->to_float[t->type] && !tr->to_float))
        return wf_fail(L->err, WF_ERR_UNSUPPORTED, "%s: tensor '%s' has type %s, which wafer cannot compute with",
                       L->path, name, wf_type_name(t->type, buf, sizeof buf));
    const size_t rb = wf_row_size((wf_type)t->type, ne0);
    if (rb == 0)
        return wf_fail(L->err, WF_ERR_FORMAT, "%s: tensor '%s': row of %lld elements is not a whole number of %s blocks",
                       L->path, name, (long long)ne0, tr->name);
    out->type = (wf_type)t->type;
    out->n = ne0;
    out->rows = ne1;
    out->row_bytes = rb;
    out->data = t->data;
    L->m->weight_bytes += t->nbytes;
    return WF_OK;
}

/* A stacked expert tensor: ne = [ne0, ne1, n_expert], viewed as one matrix
 * of ne1 * n_expert rows (expert e's rows are [e*ne1, (e+1)*ne1)). Only the
 * active experts' share of its bytes counts as read per token. */
static wf_status load_exps(loader *L, const char *name, int64_t ne0, int64_t ne1, wf_mat *out) {
    const wf_hparams *hp = &L->m->hp;
    wf_status st = WF_OK;
    const wf_gguf_tensor *t = find(L, name, true, &st);
    if (!t) return st;
    if (t->ne[0] != ne0 || t->ne[1] != ne1 || t->ne[2] != hp->n_expert || t->ne[3] != 1)
        return wf_fail(L->err, WF_ERR_FORMAT,
                       "%s: expert tensor '%s' has shape [%lld, %lld, %lld, %lld], expected [%lld, %lld, %d] "
                       "(expert_count %d)",
                       L->path, name, (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2], (long long)t->ne[3],
                       (long long)ne0, (long long)ne1, hp->n_expert, hp->n_expert);
    const uint64_t before = L->m->weight_bytes;
    /* as one 2-D matrix: load_mat checks the type and the row size */
    wf_gguf_tensor flat = *t;
    flat.ne[1] = ne1 * hp->n_expert;
    flat.ne[2] = 1;
    flat.n_dims = 2;
    if ((st = check_mat(L, &flat, name, true, out)) != WF_OK) return st;
    L->m->weight_bytes = before + t->nbytes / (uint64_t)hp->n_expert * (uint64_t)hp->n_expert_used;
    return progress(L, t);
}

/* A vector of n * rows floats (norm weight, bias; rows > 1: one bias per
 * expert), converted to f32 if needed. */
static wf_status load_vecs(loader *L, const char *name, int64_t n, int64_t rows, bool required, const float **out) {
    wf_status st = WF_OK;
    *out = NULL;
    const wf_gguf_tensor *t = find(L, name, required, &st);
    if (!t) return st;
    if (!shape_is(t, n, rows)) return shape_error(L, t, n, rows);
    n *= rows;
    if (t->type == WF_TYPE_F32 && ((uintptr_t)t->data % sizeof(float)) == 0) {
        *out = t->data;
    } else {
        char buf[32];
        const wf_type_traits *tr = wf_type_get(t->type);
        if (!tr || !tr->to_float || tr->blck_size != 1)
            return wf_fail(L->err, WF_ERR_UNSUPPORTED, "%s: tensor '%s' has type %s; norms and biases must be f32, f16 or bf16",
                           L->path, name, wf_type_name(t->type, buf, sizeof buf));
        if (L->pool_used + (size_t)n > L->pool_cap)
            return wf_fail(L->err, WF_ERR_INTERNAL, "%s: f32 pool too small", L->path);
        float *dst = L->pool + L->pool_used;
        tr->to_float(t->data, dst, n);
        L->pool_used += (size_t)n;
        *out = dst;
    }
    return progress(L, t);
}

static wf_status load_vec(loader *L, const char *name, int64_t n, bool required, const float **out) {
    return load_vecs(L, name, n, 1, required, out);
}

/* Per-expert biases: [n, n_expert], required. */
static wf_status load_vec2(loader *L, const char *name, int64_t n, int64_t rows, const float **out) {
    return load_vecs(L, name, n, rows, true, out);
}

/* ---- hyper-parameters ---------------------------------------------------- */

#define LIMIT_DIM 65536
#define LIMIT_EXPERTS 4096

static wf_status load_hparams(loader *L) {
    wf_hparams *hp = &L->m->hp;
    wf_status st;
    uint32_t u;
#define U32(field, suffix, req, def)                                 \
    do {                                                             \
        if ((st = key_u32(L, suffix, req, def, &u)) != WF_OK) return st; \
        if (u > INT32_MAX)                                           \
            return wf_fail(L->err, WF_ERR_FORMAT, "%s: %s.%s = %u is too large", L->path, L->arch, suffix, u); \
        hp->field = (int32_t)u;                                      \
    } while (0)
    U32(n_ctx_train, "context_length", true, 0);
    U32(n_embd, "embedding_length", true, 0);
    U32(n_layer, "block_count", true, 0);
    const bool moe = hp->arch == WF_ARCH_QWEN3MOE || hp->arch == WF_ARCH_GPTOSS;
    if (moe) { /* the feed-forward width is one expert's; a dense width key, if any, is unused */
        U32(n_expert, "expert_count", true, 0);
        U32(n_expert_used, "expert_used_count", true, 0);
        U32(n_ff, "expert_feed_forward_length", true, 0);
        if (hp->n_expert <= 0 || hp->n_expert > LIMIT_EXPERTS)
            return wf_fail(L->err, WF_ERR_FORMAT, "%s: %s.expert_count = %d out of range (1..%d)", L->path, L->arch,
                           hp->n_expert, LIMIT_EXPERTS);
        if (hp->n_expert_used <= 0 || hp->n_expert_used > hp->n_expert)
            return wf_fail(L->err, WF_ERR_FORMAT, "%s: %s.expert_used_count = %d must be in 1..expert_count (%d)",
                           L->path, L->arch, hp->n_expert_used, hp->n_expert);
    } else {
        U32(n_ff, "feed_forward_length", true, 0);
    }
    if (hp->arch == WF_ARCH_GPTOSS) { /* sliding-window layers alternate with full ones */
        U32(n_swa, "attention.sliding_window", true, 0);
        if (hp->n_swa <= 0)
            return wf_fail(L->err, WF_ERR_FORMAT, "%s: %s.attention.sliding_window = %d must be positive", L->path,
                           L->arch, hp->n_swa);
    }
    U32(n_head, "attention.head_count", true, 0);
    U32(n_head_kv, "attention.head_count_kv", false, (uint32_t)hp->n_head);
    if (hp->n_embd <= 0 || hp->n_embd > LIMIT_DIM)
        return wf_fail(L->err, WF_ERR_FORMAT, "%s: embedding_length %d out of range", L->path, hp->n_embd);
    if (hp->n_layer <= 0 || hp->n_layer > 4096)
        return wf_fail(L->err, WF_ERR_FORMAT, "%s: block_count %d out of range", L->path, hp->n_layer);
    if (hp->n_ff <= 0 || hp->n_ff > 16 * LIMIT_DIM)
        return wf_fail(L->err, WF_ERR_FORMAT, "%s: feed_forward_length %d out of range", L->path, hp->n_ff);
    if (hp->n_head <= 0 || hp->n_head > 4096 || hp->n_head_kv <= 0 || hp->n_head_kv > hp->n_head ||
        hp->n_head % hp->n_head_kv)
        return wf_fail(L->err, WF_ERR_FORMAT, "%s: head counts %d (query) / %d (kv) are invalid: need 0 < kv <= query and query %% kv == 0",
                       L->path, hp->n_head, hp->n_head_kv);
    if (hp->n_ctx_train <= 0)
        return wf_fail(L->err, WF_ERR_FORMAT, "%s: context_length %d must be positive", L->path, hp->n_ctx_train);
    uint32_t kl, vl;
    const uint32_t hd_def = hp->n_embd % hp->n_head == 0 ? (uint32_t)(hp->n_embd / hp->n_head) : 0;
    if ((st = key_u32(L, "attention.key_length", false, hd_def, &kl)) != WF_OK) return st;
    if ((st = key_u32(L, "attention.value_length", false, kl, &vl)) != WF_OK) return st;
    if (kl == 0 || kl > 1024 || kl % 2)
        return wf_fail(L->err, WF_ERR_FORMAT, "%s: head dimension %u invalid (n_embd %d, %d heads)", L->path, kl,
                       hp->n_embd, hp->n_head);
    if (vl != kl)
        return wf_fail(L->err, WF_ERR_UNSUPPORTED, "%s: key length %u != value length %u is not supported", L->path, kl, vl);
    hp->head_dim = (int32_t)kl;
    if ((int64_t)hp->n_head * hp->head_dim > LIMIT_DIM)
        return wf_fail(L->err, WF_ERR_FORMAT, "%s: n_head * head_dim too large", L->path);
    U32(rope_dim, "rope.dimension_count", false, (uint32_t)hp->head_dim);
    if (hp->rope_dim <= 0 || hp->rope_dim > hp->head_dim || hp->rope_dim % 2)
        return wf_fail(L->err, WF_ERR_FORMAT, "%s: rope.dimension_count %d must be even and in 1..head_dim (%d)",
                       L->path, hp->rope_dim, hp->head_dim);
    if ((st = key_f32(L, "attention.layer_norm_rms_epsilon", 1e-5f, &hp->rms_eps)) != WF_OK) return st;
    if (!(hp->rms_eps > 0 && hp->rms_eps < 1))
        return wf_fail(L->err, WF_ERR_FORMAT, "%s: layer_norm_rms_epsilon %g out of range", L->path, hp->rms_eps);
    if ((st = key_f32(L, "rope.freq_base", 10000.0f, &hp->rope_base)) != WF_OK) return st;
    if (!(hp->rope_base > 1 && isfinite(hp->rope_base)))
        return wf_fail(L->err, WF_ERR_FORMAT, "%s: rope.freq_base %g out of range", L->path, hp->rope_base);
    hp->rope_order = hp->arch == WF_ARCH_LLAMA ? WF_ROPE_NORM : WF_ROPE_NEOX;

    /* context scaling */
    float factor, legacy;
    if ((st = key_f32(L, "rope.scaling.factor", 0.0f, &factor)) != WF_OK) return st;
    if ((st = key_f32(L, "rope.scale_linear", 0.0f, &legacy)) != WF_OK) return st;
    if (factor == 0.0f) factor = legacy;
    char key[128];
    snprintf(key, sizeof key, "%s.rope.scaling.type", L->arch);
    wf_str type = {0};
    st = wf_gguf_get_str(L->m->gguf, key, &type, L->err);
    if (st != WF_OK && st != WF_ERR_NOT_FOUND) return st;
    hp->rope_scaling = factor > 0 && factor != 1.0f ? WF_ROPE_SCALING_LINEAR : WF_ROPE_SCALING_NONE;
    if (st == WF_OK) {
        if (type.len == 4 && !memcmp(type.ptr, "none", 4)) hp->rope_scaling = WF_ROPE_SCALING_NONE;
        else if (type.len == 6 && !memcmp(type.ptr, "linear", 6)) hp->rope_scaling = WF_ROPE_SCALING_LINEAR;
        else if (type.len == 4 && !memcmp(type.ptr, "yarn", 4)) hp->rope_scaling = WF_ROPE_SCALING_YARN;
        else
            return wf_fail(L->err, WF_ERR_UNSUPPORTED, "%s: rope scaling type '%.*s' is not supported (none, linear, yarn)",
                           L->path, (int)(type.len > 64 ? 64 : type.len), type.ptr);
    }
    if (factor == 0.0f) factor = 1.0f;
    if (!(factor > 0 && factor <= 1024))
        return wf_fail(L->err, WF_ERR_FORMAT, "%s: rope scaling factor %g out of range", L->path, factor);
    hp->rope_factor = factor;
    U32(rope_orig_ctx, "rope.scaling.original_context_length", false, (uint32_t)hp->n_ctx_train);
    if (hp->rope_orig_ctx <= 0) hp->rope_orig_ctx = hp->n_ctx_train;
    if ((st = key_f32(L, "rope.scaling.yarn_beta_fast", 32.0f, &hp->yarn_beta_fast)) != WF_OK) return st;
    if ((st = key_f32(L, "rope.scaling.yarn_beta_slow", 1.0f, &hp->yarn_beta_slow)) != WF_OK) return st;
    if ((st = key_f32(L, "rope.scaling.attn_factor", 1.0f, &hp->yarn_attn_factor)) != WF_OK) return st;
    if (hp->rope_scaling == WF_ROPE_SCALING_YARN &&
        !(hp->yarn_beta_fast > 0 && hp->yarn_beta_slow > 0 && hp->yarn_attn_factor > 0 &&
          isfinite(hp->yarn_beta_fast) && isfinite(hp->yarn_beta_slow) && isfinite(hp->yarn_attn_factor)))
        return wf_fail(L->err, WF_ERR_FORMAT, "%s: YaRN parameters out of range", L->path);
#undef U32
    return WF_OK;
}

/* ---- load ---------------------------------------------------------------- */

static wf_status load_arch(loader *L) {
    wf_str a = {0};
    wf_status st = wf_gguf_get_str(L->m->gguf, "general.architecture", &a, L->err);
    if (st == WF_ERR_NOT_FOUND) return wf_fail(L->err, WF_ERR_FORMAT, "%s: no general.architecture key", L->path);
    if (st != WF_OK) return st;
    static const struct { const char *name; wf_arch arch; } known[] = {
        {"llama", WF_ARCH_LLAMA}, {"qwen2", WF_ARCH_QWEN2}, {"qwen3", WF_ARCH_QWEN3},
        {"qwen3moe", WF_ARCH_QWEN3MOE}, {"gpt-oss", WF_ARCH_GPTOSS}};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        if (a.len == strlen(known[i].name) && !memcmp(a.ptr, known[i].name, a.len)) {
            L->m->hp.arch = known[i].arch;
            L->arch = known[i].name;
            return WF_OK;
        }
    }
    return wf_fail(L->err, WF_ERR_UNSUPPORTED, "%s: architecture '%.*s' is not supported (wafer runs llama, qwen2, qwen3, qwen3moe, gpt-oss)",
                   L->path, (int)(a.len > 64 ? 64 : a.len), a.ptr);
}

static wf_status load_tensors(loader *L) {
    wf_model *m = L->m;
    const wf_hparams *hp = &m->hp;
    const int64_t E = hp->n_embd, HD = hp->head_dim;
    const int64_t QD = (int64_t)hp->n_head * HD, KD = (int64_t)hp->n_head_kv * HD;
    wf_status st;
    if (wf_gguf_n_tensors(m->gguf) == 0)
        return wf_fail(L->err, WF_ERR_FORMAT, "%s: the file has no tensors (a vocabulary-only file? load it vocab_only)",
                       L->path);
    for (int64_t i = 0; i < wf_gguf_n_tensors(m->gguf); i++) L->total += wf_gguf_tensor_at(m->gguf, i)->nbytes;

    /* every f32 vector that may need converting */
    L->pool_cap = (size_t)hp->n_layer * (size_t)(2 * E + QD + 2 * KD + 2 * HD) + (size_t)E + (size_t)hp->rope_dim;
    if (hp->arch == WF_ARCH_GPTOSS) /* output bias, sinks, router and expert biases */
        L->pool_cap += (size_t)hp->n_layer * ((size_t)E + (size_t)hp->n_head + (size_t)hp->n_expert +
                                              (size_t)hp->n_expert * (2 * (size_t)hp->n_ff + (size_t)E));
    m->f32_owned = malloc(L->pool_cap * sizeof(float));
    L->pool = m->f32_owned;
    if (!m->f32_owned) return wf_fail(L->err, WF_ERR_NOMEM, "%s: out of memory", L->path);

    const wf_gguf_tensor *te = find(L, "token_embd.weight", true, &st);
    if (!te) return st;
    if (te->ne[1] <= 0 || te->ne[1] > (1 << 24))
        return wf_fail(L->err, WF_ERR_FORMAT, "%s: token_embd.weight has %lld rows", L->path, (long long)te->ne[1]);
    uint32_t nv;
    if ((st = key_u32(L, "vocab_size", false, (uint32_t)te->ne[1], &nv)) != WF_OK) return st;
    if (nv == 0 || nv > (1u << 24)) return wf_fail(L->err, WF_ERR_FORMAT, "%s: vocab_size %u out of range", L->path, nv);
    m->hp.n_vocab = (int32_t)nv;
    if ((st = load_mat(L, "token_embd.weight", E, hp->n_vocab, true, false, &m->tok_embd)) != WF_OK) return st;
    m->weight_bytes -= te->nbytes; /* one row per token is read, not the table */
    if ((st = load_vec(L, "output_norm.weight", E, true, &m->output_norm)) != WF_OK) return st;
    if ((st = load_mat(L, "output.weight", E, hp->n_vocab, false, true, &m->output)) != WF_OK) return st;
    if (!m->output.data) { /* tied embeddings */
        char buf[32];
        if (!m->kernels.vec_dot[m->tok_embd.type] && !m->kernels.gemm[m->tok_embd.type])
            return wf_fail(L->err, WF_ERR_UNSUPPORTED, "%s: tied output uses token_embd.weight of type %s, which has no matmul kernel",
                           L->path, wf_type_name(m->tok_embd.type, buf, sizeof buf));
        m->output = m->tok_embd;
        m->weight_bytes += te->nbytes;
    }
    const wf_gguf_tensor *rf = wf_gguf_find_tensor(m->gguf, "rope_freqs.weight");
    if (rf && (st = load_vec(L, "rope_freqs.weight", hp->rope_dim / 2, true, &m->rope_freqs)) != WF_OK) return st;

    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers) return wf_fail(L->err, WF_ERR_NOMEM, "%s: out of memory", L->path);
    const bool gptoss = hp->arch == WF_ARCH_GPTOSS;
    const bool need_bias = hp->arch == WF_ARCH_QWEN2 || gptoss, need_qk_norm = hp->arch == WF_ARCH_QWEN3 || hp->arch == WF_ARCH_QWEN3MOE;
    for (int32_t l = 0; l < hp->n_layer; l++) {
        wf_layer *ly = &m->layers[l];
        char nm[96];
#define NAME(s) (snprintf(nm, sizeof nm, "blk.%d.%s", l, s), nm)
        if ((st = load_vec(L, NAME("attn_norm.weight"), E, true, &ly->attn_norm)) != WF_OK) return st;
        if ((st = load_mat(L, NAME("attn_q.weight"), E, QD, true, true, &ly->wq)) != WF_OK) return st;
        if ((st = load_mat(L, NAME("attn_k.weight"), E, KD, true, true, &ly->wk)) != WF_OK) return st;
        if ((st = load_mat(L, NAME("attn_v.weight"), E, KD, true, true, &ly->wv)) != WF_OK) return st;
        if ((st = load_mat(L, NAME("attn_output.weight"), QD, E, true, true, &ly->wo)) != WF_OK) return st;
        if ((st = load_vec(L, NAME("attn_q.bias"), QD, need_bias, &ly->bq)) != WF_OK) return st;
        if ((st = load_vec(L, NAME("attn_k.bias"), KD, need_bias, &ly->bk)) != WF_OK) return st;
        if ((st = load_vec(L, NAME("attn_v.bias"), KD, need_bias, &ly->bv)) != WF_OK) return st;
        if ((st = load_vec(L, NAME("attn_q_norm.weight"), HD, need_qk_norm, &ly->q_norm)) != WF_OK) return st;
        if ((st = load_vec(L, NAME("attn_k_norm.weight"), HD, need_qk_norm, &ly->k_norm)) != WF_OK) return st;
        /* gpt-oss names its feed-forward norm post_attention_norm */
        if ((st = load_vec(L, gptoss ? NAME("post_attention_norm.weight") : NAME("ffn_norm.weight"), E, true,
                           &ly->ffn_norm)) != WF_OK)
            return st;
        if (gptoss) {
            if ((st = load_vec(L, NAME("attn_output.bias"), E, true, &ly->bo)) != WF_OK) return st;
            if ((st = load_vec(L, NAME("attn_sinks.weight"), hp->n_head, true, &ly->sinks)) != WF_OK) return st;
            if ((st = load_vec(L, NAME("ffn_gate_inp.bias"), hp->n_expert, true, &ly->router_b)) != WF_OK) return st;
            if ((st = load_vec2(L, NAME("ffn_gate_exps.bias"), hp->n_ff, hp->n_expert, &ly->gate_b)) != WF_OK) return st;
            if ((st = load_vec2(L, NAME("ffn_up_exps.bias"), hp->n_ff, hp->n_expert, &ly->up_b)) != WF_OK) return st;
            if ((st = load_vec2(L, NAME("ffn_down_exps.bias"), E, hp->n_expert, &ly->down_b)) != WF_OK) return st;
            ly->window = wf_layer_window(hp, l);
        }
        if (hp->n_expert > 0) {
            if ((st = load_mat(L, NAME("ffn_gate_inp.weight"), E, hp->n_expert, true, true, &ly->router)) != WF_OK) return st;
            if ((st = load_exps(L, NAME("ffn_gate_exps.weight"), E, hp->n_ff, &ly->gate_exps)) != WF_OK) return st;
            if ((st = load_exps(L, NAME("ffn_up_exps.weight"), E, hp->n_ff, &ly->up_exps)) != WF_OK) return st;
            if ((st = load_exps(L, NAME("ffn_down_exps.weight"), hp->n_ff, E, &ly->down_exps)) != WF_OK) return st;
        } else {
            if ((st = load_mat(L, NAME("ffn_gate.weight"), E, hp->n_ff, true, true, &ly->w_gate)) != WF_OK) return st;
            if ((st = load_mat(L, NAME("ffn_up.weight"), E, hp->n_ff, true, true, &ly->w_up)) != WF_OK) return st;
            if ((st = load_mat(L, NAME("ffn_down.weight"), hp->n_ff, E, true, true, &ly->w_down)) != WF_OK) return st;
        }
        if ((ly->q_norm == NULL) != (ly->k_norm == NULL))
            return wf_fail(L->err, WF_ERR_FORMAT, "%s: layer %d has only one of attn_q_norm / attn_k_norm", L->path, l);
#undef NAME
    }
    return WF_OK;
}

/* The widest forward pass whose every token gets the logits of one-token
 * decoding bit for bit: the narrowest gemm_exact of the matmul weights'
 * types (attention and the other ops do not depend on the batch). */
static int32_t exact_batch(const wf_model *m) {
    int32_t e = m->kernels.gemm_exact[m->output.type];
    for (int32_t l = 0; l < m->hp.n_layer; l++) {
        const wf_layer *y = &m->layers[l];
        const bool moe = m->hp.n_expert > 0;
        const wf_mat *ws[] = {&y->wq, &y->wk, &y->wv, &y->wo, moe ? &y->router : &y->w_gate,
                              moe ? &y->gate_exps : &y->w_up, moe ? &y->up_exps : &y->w_down,
                              moe ? &y->down_exps : &y->wq};
        for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++)
            if (m->kernels.gemm_exact[ws[i]->type] < e) e = m->kernels.gemm_exact[ws[i]->type];
    }
    return e;
}

/* Parameters in the file, and those one token uses: all but the inactive
 * experts' share of the stacked expert tensors. */
static void count_params(wf_model *m) {
    m->n_params = m->n_params_active = 0;
    for (int64_t i = 0; i < wf_gguf_n_tensors(m->gguf); i++) {
        const wf_gguf_tensor *t = wf_gguf_tensor_at(m->gguf, i);
        uint64_t ne = 1;
        for (uint32_t d = 0; d < t->n_dims; d++) ne *= (uint64_t)t->ne[d];
        m->n_params += ne;
        const bool exps = m->hp.n_expert > 0 && strstr(t->name, "_exps.") != NULL;
        m->n_params_active += exps ? ne / (uint64_t)m->hp.n_expert * (uint64_t)m->hp.n_expert_used : ne;
    }
}

wf_status wf_model_load(const char *path, const wf_model_params *params, wf_model **out, wf_error *err) {
    if (!path || !out) return wf_fail(err, WF_ERR_INVALID_ARG, "wf_model_load: NULL argument");
    *out = NULL;
    wf_model *m = calloc(1, sizeof *m);
    if (!m) return wf_fail(err, WF_ERR_NOMEM, "out of memory");
    long pg = sysconf(_SC_PAGESIZE);
    loader L = {.m = m, .path = path, .params = params, .err = err, .page = pg > 0 ? (size_t)pg : 4096};
    wf_status st = wf_gguf_open(path, &m->gguf, err);
    if (st != WF_OK) goto fail;
    wf_cpu_detect(&m->cpu);
    wf_isa isa = wf_cpu_best_isa(&m->cpu);
    if (params && params->isa >= 0 && params->isa < (int32_t)isa) isa = (wf_isa)params->isa;
    wf_kernels_init(&m->kernels, isa);

    if (wf_gguf_find_key(m->gguf, "tokenizer.ggml.tokens") >= 0) {
        if ((st = wf_vocab_load(m->gguf, &m->vocab, err)) != WF_OK) goto fail;
    } else if (params && params->vocab_only) {
        st = wf_fail(err, WF_ERR_FORMAT, "%s: no tokenizer in the file (tokenizer.ggml.tokens)", path);
        goto fail;
    }
    if (params && params->vocab_only) {
        m->hp.n_vocab = wf_vocab_n_tokens(m->vocab);
        *out = m;
        return WF_OK;
    }
    if ((st = load_arch(&L)) != WF_OK) goto fail;
    if ((st = load_hparams(&L)) != WF_OK) goto fail;
    if ((st = load_tensors(&L)) != WF_OK) goto fail;
    m->exact_batch = exact_batch(m);
    count_params(m);
    if (m->vocab && wf_vocab_n_tokens(m->vocab) > m->hp.n_vocab) {
        st = wf_fail(err, WF_ERR_FORMAT, "%s: the tokenizer has %d tokens but the model only %d embeddings", path,
                     wf_vocab_n_tokens(m->vocab), m->hp.n_vocab);
        goto fail;
    }
    wf_error_clear(err); /* optional keys looked up on the way may have left a message */
    *out = m;
    return WF_OK;
fail:
    wf_model_free(m);
    return st;
}

void wf_model_free(wf_model *m) {
    if (!m) return;
    if (m->vocab) wf_vocab_free(m->vocab);
    free(m->layers);
    free(m->f32_owned);
    if (m->gguf) wf_gguf_close(m->gguf);
    free(m);
}

const wf_vocab *wf_model_vocab(const wf_model *m) { return m ? m->vocab : NULL; }
int32_t wf_model_n_vocab(const wf_model *m) { return m ? m->hp.n_vocab : 0; }
int32_t wf_model_n_ctx_train(const wf_model *m) { return m ? m->hp.n_ctx_train : 0; }
int32_t wf_model_exact_batch(const wf_model *m) { return m ? m->exact_batch : 0; }

/* ---- accessors ----------------------------------------------------------- */

const wf_hparams *wf_model_hparams(const wf_model *m) { return &m->hp; }
const wf_gguf *wf_model_gguf(const wf_model *m) { return m->gguf; }
bool wf_model_output_tied(const wf_model *m) { return m->output.data == m->tok_embd.data; }
uint64_t wf_model_weight_bytes(const wf_model *m) { return m->weight_bytes; }
uint64_t wf_model_n_params(const wf_model *m) { return m ? m->n_params : 0; }
uint64_t wf_model_n_params_active(const wf_model *m) { return m ? m->n_params_active : 0; }
