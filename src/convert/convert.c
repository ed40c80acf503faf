/* convert.c — Hugging Face checkpoint folder -> GGUF for llama, qwen2, qwen3.
 *
 * config.json gives the architecture and hyper-parameters, the safetensors
 * the weights, the tokenizer files the vocabulary (convert_vocab.c). The
 * metadata keys and tensor names are llama.cpp's (convert_hf_to_gguf.py),
 * so a file from either converter loads in either engine:
 *   model.embed_tokens.weight              -> token_embd.weight
 *   model.layers.N.input_layernorm         -> blk.N.attn_norm
 *   model.layers.N.self_attn.{q,k,v,o}_proj-> blk.N.attn_{q,k,v,output}
 *   model.layers.N.self_attn.{q,k}_norm    -> blk.N.attn_{q,k}_norm   (qwen3)
 *   model.layers.N.post_attention_layernorm-> blk.N.ffn_norm
 *   model.layers.N.mlp.{gate,up,down}_proj -> blk.N.ffn_{gate,up,down}
 *   model.norm.weight                      -> output_norm.weight
 *   lm_head.weight                         -> output.weight (not when tied)
 * For llama the Q and K rows (weights and biases) are permuted per head: HF
 * rotates halves (x[i], x[i + d/2]), GGUF's llama rope rotates adjacent pairs
 * (x[2i], x[2i+1]); qwen2/qwen3 use the halves order in GGUF too (NEOX).
 *
 * Output types: f32, f16, bf16 directly (1-D norms and biases stay f32);
 * quantized types write a lossless intermediate GGUF (each matrix in its
 * checkpoint type) and run wf_quantize_file on it.
 */
#include "convert/convert.h"
#include "base/buf.h"

#include "format/quant.h"
#include "convert/quantize.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#define MAX_DIM (1 << 20)

typedef struct conv {
    const char *dir;
    const wf_convert_params *p;
    wf_error *err;
    char *cfg_path;
    json_t *cfg;
    const char *arch;           /* "llama", "qwen2", "qwen3"              */
    bool permute_qk;            /* llama                                   */
    int64_t n_embd, n_layer, n_head, n_kv, hd, n_ff, n_vocab, n_ctx;
    bool head_dim_given, tied;
    uint32_t mat_type;          /* type of 2-D tensors in the file written */
    bool quantize;              /* then run wf_quantize_file on it         */
    wf_safetensors *st;
    wf_gguf_writer *w;
    struct conv_buf { void *p; size_t size; bool mapped; } *bufs; /* converted data, alive until written */
    size_t n_bufs, cap_bufs;
    char *scratch_dir;          /* where large buffers get their backing files */
} conv;

/* ---- config.json ------------------------------------------------------------- */

static wf_status cfg_int(conv *c, const char *key, bool req, int64_t def, int64_t lo, int64_t hi, int64_t *out) {
    const json_t *v = json_object_get(c->cfg, key);
    if (!v || json_is_null(v)) {
        if (req) return wf_fail(c->err, WF_ERR_FORMAT, "%s: \"%s\" is missing", c->cfg_path, key);
        *out = def;
        return WF_OK;
    }
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return wf_fail(c->err, WF_ERR_FORMAT, "%s: \"%s\" must be an integer in %lld..%lld", c->cfg_path, key,
                       (long long)lo, (long long)hi);
    *out = json_integer_value(v);
    return WF_OK;
}

static wf_status cfg_num(conv *c, const json_t *obj, const char *where, const char *key, bool req, double def,
                         double *out) {
    const json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        if (req) return wf_fail(c->err, WF_ERR_FORMAT, "%s: \"%s\" is missing", where, key);
        *out = def;
        return WF_OK;
    }
    if (!json_is_number(v) || !isfinite(json_number_value(v)) || json_number_value(v) <= 0)
        return wf_fail(c->err, WF_ERR_FORMAT, "%s: \"%s\" must be a positive number", where, key);
    *out = json_number_value(v);
    return WF_OK;
}

static wf_status load_config(conv *c) {
    c->cfg_path = wf_conv_path_join(c->dir, "config.json");
    if (!c->cfg_path) return wf_fail(c->err, WF_ERR_NOMEM, "out of memory");
    wf_status st = wf_conv_load_json(c->cfg_path, &c->cfg, c->err);
    if (st == WF_ERR_NOT_FOUND)
        return wf_fail(c->err, st, "%s: not found (is %s a Hugging Face model folder?)", c->cfg_path, c->dir);
    if (st) return st;
    if (!json_is_object(c->cfg)) return wf_fail(c->err, WF_ERR_FORMAT, "%s: not a JSON object", c->cfg_path);
    static const struct { const char *hf, *arch; } archs[] = {
        {"LlamaForCausalLM", "llama"}, {"Qwen2ForCausalLM", "qwen2"}, {"Qwen3ForCausalLM", "qwen3"}};
    const json_t *a = json_object_get(c->cfg, "architectures");
    size_t i;
    const json_t *x;
    json_array_foreach(a, i, x) {
        for (size_t k = 0; k < sizeof archs / sizeof archs[0] && !c->arch; k++)
            if (json_is_string(x) && !strcmp(json_string_value(x), archs[k].hf)) c->arch = archs[k].arch;
    }
    if (!c->arch) {
        const char *first = json_string_value(json_array_get(a, 0));
        return wf_fail(c->err, WF_ERR_UNSUPPORTED,
                       "%s: architecture '%.64s' is not supported (LlamaForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM)",
                       c->cfg_path, first ? first : "(no \"architectures\" list)");
    }
    c->permute_qk = !strcmp(c->arch, "llama");
    if ((st = cfg_int(c, "hidden_size", true, 0, 1, MAX_DIM, &c->n_embd)) ||
        (st = cfg_int(c, "num_hidden_layers", true, 0, 1, 4096, &c->n_layer)) ||
        (st = cfg_int(c, "num_attention_heads", true, 0, 1, 4096, &c->n_head)) ||
        (st = cfg_int(c, "num_key_value_heads", false, c->n_head, 1, 4096, &c->n_kv)) ||
        (st = cfg_int(c, "intermediate_size", true, 0, 1, 16 * MAX_DIM, &c->n_ff)) ||
        (st = cfg_int(c, "max_position_embeddings", true, 0, 1, INT32_MAX, &c->n_ctx)) ||
        (st = cfg_int(c, "vocab_size", false, 0, 1, 1 << 24, &c->n_vocab)))
        return st;
    c->head_dim_given = json_is_integer(json_object_get(c->cfg, "head_dim"));
    if ((st = cfg_int(c, "head_dim", false, c->n_embd / c->n_head, 1, 4096, &c->hd))) return st;
    if (!c->head_dim_given && c->n_embd % c->n_head)
        return wf_fail(c->err, WF_ERR_FORMAT, "%s: hidden_size %lld is not a multiple of num_attention_heads %lld (and no head_dim)",
                       c->cfg_path, (long long)c->n_embd, (long long)c->n_head);
    if (c->hd % 2) return wf_fail(c->err, WF_ERR_FORMAT, "%s: head dimension %lld must be even", c->cfg_path, (long long)c->hd);
    if (c->n_kv > c->n_head || c->n_head % c->n_kv)
        return wf_fail(c->err, WF_ERR_FORMAT, "%s: num_attention_heads %lld is not a multiple of num_key_value_heads %lld",
                       c->cfg_path, (long long)c->n_head, (long long)c->n_kv);
    c->tied = json_is_true(json_object_get(c->cfg, "tie_word_embeddings"));
    return WF_OK;
}

/* Memory for converted data that must live until the file is written.
 * Buffers of 1 MiB and more are mappings of unlinked files beside the output,
 * so a model larger than RAM is paged to disk instead of exhausting memory. */
#define SCRATCH_MIN (1u << 20)

static void *scratch_map(const conv *c, size_t bytes) {
    size_t n = strlen(c->scratch_dir);
    char *path = malloc(n + 40);
    if (!path) return NULL;
    snprintf(path, n + 40, "%s/.wafer-convert-XXXXXX", c->scratch_dir);
    int fd = mkstemp(path);
    if (fd < 0) { free(path); return NULL; }
    unlink(path);
    free(path);
    void *p = ftruncate(fd, (off_t)bytes) == 0 ? mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) : MAP_FAILED;
    close(fd);
    return p == MAP_FAILED ? NULL : p;
}

static void *keep(conv *c, size_t bytes) {
    if (c->n_bufs == c->cap_bufs && !WF_ARRAY_RESERVE(c->bufs, c->cap_bufs, c->n_bufs + 1)) return NULL;
    bool mapped = bytes >= SCRATCH_MIN && c->scratch_dir;
    void *p = mapped ? scratch_map(c, bytes) : NULL;
    if (!p) { /* small, or no room for a scratch file: plain memory */
        mapped = false;
        p = malloc(bytes ? bytes : 1);
    }
    if (p) c->bufs[c->n_bufs++] = (struct conv_buf){p, bytes, mapped};
    return p;
}

static void release_bufs(conv *c) {
    for (size_t i = 0; i < c->n_bufs; i++) {
        if (c->bufs[i].mapped) munmap(c->bufs[i].p, c->bufs[i].size);
        else free(c->bufs[i].p);
    }
    c->n_bufs = 0;
}

#define KEY(buf, suffix) (snprintf(buf, sizeof buf, "%s." suffix, c->arch), buf)

/* llama 3.1's frequency factors as llama.cpp computes them at conversion:
 * rope_freqs[i] divides inverse frequency i. */
static wf_status llama3_freqs(conv *c, const json_t *rs, const char *where) {
    double factor, lo, hi, orig, base;
    wf_status st;
    if ((st = cfg_num(c, rs, where, "factor", false, 8.0, &factor)) ||
        (st = cfg_num(c, rs, where, "low_freq_factor", false, 1.0, &lo)) ||
        (st = cfg_num(c, rs, where, "high_freq_factor", false, 4.0, &hi)) ||
        (st = cfg_num(c, rs, where, "original_max_position_embeddings", false, 8192.0, &orig)) ||
        (st = cfg_num(c, c->cfg, c->cfg_path, "rope_theta", false, 10000.0, &base)))
        return st;
    if (!(hi > lo)) return wf_fail(c->err, WF_ERR_FORMAT, "%s: high_freq_factor must exceed low_freq_factor", where);
    int64_t n = c->hd / 2;
    float *f = keep(c, (size_t)n * sizeof *f);
    if (!f) return wf_fail(c->err, WF_ERR_NOMEM, "out of memory");
    const double lo_wl = orig / lo, hi_wl = orig / hi;
    for (int64_t i = 0; i < n; i++) {
        /* float32 like the reference: base ** (arange(0, d, 2) / d) */
        float freq = (float)(1.0 / pow(base, (double)(float)((double)(2 * i) / (double)c->hd)));
        double wl = 2 * M_PI / freq;
        if (wl < hi_wl) f[i] = 1.0f;
        else if (wl > lo_wl) f[i] = (float)factor;
        else {
            double smooth = (orig / wl - lo) / (hi - lo);
            f[i] = (float)(1.0 / ((1 - smooth) / factor + smooth));
        }
    }
    return wf_gguf_writer_add_tensor(c->w, "rope_freqs.weight", WF_TYPE_F32, 1, &n, f, (uint64_t)n * 4, c->err);
}

static wf_status write_hparams(conv *c) {
    char k[128];
    wf_status st;
    wf_gguf_writer *w = c->w;
    if ((st = wf_gguf_writer_set_u32(w, KEY(k, "context_length"), (uint32_t)c->n_ctx)) ||
        (st = wf_gguf_writer_set_u32(w, KEY(k, "embedding_length"), (uint32_t)c->n_embd)) ||
        (st = wf_gguf_writer_set_u32(w, KEY(k, "block_count"), (uint32_t)c->n_layer)) ||
        (st = wf_gguf_writer_set_u32(w, KEY(k, "feed_forward_length"), (uint32_t)c->n_ff)) ||
        (st = wf_gguf_writer_set_u32(w, KEY(k, "attention.head_count"), (uint32_t)c->n_head)) ||
        (st = wf_gguf_writer_set_u32(w, KEY(k, "attention.head_count_kv"), (uint32_t)c->n_kv)))
        goto fail;
    double v;
    if ((st = cfg_num(c, c->cfg, c->cfg_path, "rope_theta", false, 0, &v))) return st;
    if (v > 0 && (st = wf_gguf_writer_set_f32(w, KEY(k, "rope.freq_base"), (float)v))) goto fail;
    if ((st = cfg_num(c, c->cfg, c->cfg_path, "rms_norm_eps", false, 0, &v))) return st;
    if (v > 0 && (st = wf_gguf_writer_set_f32(w, KEY(k, "attention.layer_norm_rms_epsilon"), (float)v))) goto fail;
    if (c->head_dim_given && ((st = wf_gguf_writer_set_u32(w, KEY(k, "attention.key_length"), (uint32_t)c->hd)) ||
                              (st = wf_gguf_writer_set_u32(w, KEY(k, "attention.value_length"), (uint32_t)c->hd))))
        goto fail;
    if (c->permute_qk && (st = wf_gguf_writer_set_u32(w, KEY(k, "rope.dimension_count"), (uint32_t)c->hd))) goto fail;

    const json_t *rs = json_object_get(c->cfg, "rope_scaling");
    if (!rs || json_is_null(rs)) return WF_OK;
    char where[600];
    snprintf(where, sizeof where, "%s: rope_scaling", c->cfg_path);
    if (!json_is_object(rs)) return wf_fail(c->err, WF_ERR_FORMAT, "%s is not an object", where);
    const char *type = json_string_value(json_object_get(rs, "rope_type"));
    if (!type) type = json_string_value(json_object_get(rs, "type"));
    if (!type || !strcmp(type, "default")) return WF_OK;
    double factor;
    if (!strcmp(type, "linear")) {
        if ((st = cfg_num(c, rs, where, "factor", true, 1, &factor))) return st;
        if ((st = wf_gguf_writer_set_str(w, KEY(k, "rope.scaling.type"), "linear", 6)) ||
            (st = wf_gguf_writer_set_f32(w, KEY(k, "rope.scaling.factor"), (float)factor)))
            goto fail;
        return WF_OK;
    }
    if (!strcmp(type, "yarn")) {
        double orig, bf, bs;
        if (json_object_get(rs, "attention_factor") || json_object_get(rs, "mscale") ||
            json_object_get(rs, "mscale_all_dim"))
            return wf_fail(c->err, WF_ERR_UNSUPPORTED,
                           "%s: YaRN with attention_factor / mscale is not supported (only factor, "
                           "original_max_position_embeddings, beta_fast, beta_slow)",
                           where);
        if ((st = cfg_num(c, rs, where, "factor", true, 1, &factor)) ||
            (st = cfg_num(c, rs, where, "original_max_position_embeddings", false, (double)c->n_ctx, &orig)) ||
            (st = cfg_num(c, rs, where, "beta_fast", false, 0, &bf)) || (st = cfg_num(c, rs, where, "beta_slow", false, 0, &bs)))
            return st;
        if (orig > INT32_MAX) return wf_fail(c->err, WF_ERR_FORMAT, "%s: original_max_position_embeddings too large", where);
        if ((st = wf_gguf_writer_set_str(w, KEY(k, "rope.scaling.type"), "yarn", 4)) ||
            (st = wf_gguf_writer_set_f32(w, KEY(k, "rope.scaling.factor"), (float)factor)) ||
            (st = wf_gguf_writer_set_u32(w, KEY(k, "rope.scaling.original_context_length"), (uint32_t)orig)))
            goto fail;
        if (bf > 0 && (st = wf_gguf_writer_set_f32(w, KEY(k, "rope.scaling.yarn_beta_fast"), (float)bf))) goto fail;
        if (bs > 0 && (st = wf_gguf_writer_set_f32(w, KEY(k, "rope.scaling.yarn_beta_slow"), (float)bs))) goto fail;
        return WF_OK;
    }
    if (!strcmp(type, "llama3")) return llama3_freqs(c, rs, where);
    return wf_fail(c->err, WF_ERR_UNSUPPORTED, "%s: rope type '%.32s' is not supported (default, linear, yarn, llama3)",
                   where, type);
fail:
    return wf_fail(c->err, st, "writing the hyper-parameters failed");
}

/* ---- tensors ------------------------------------------------------------------- */

enum { R_NORM_E, R_Q, R_K, R_V, R_O, R_QB, R_KB, R_VB, R_HDNORM, R_GATEUP, R_DOWN, R_EMBD };

static const struct {
    const char *hf, *gguf;
    int role;
} layer_map[] = {
    {"input_layernorm.weight", "attn_norm.weight", R_NORM_E},
    {"self_attn.q_proj.weight", "attn_q.weight", R_Q},
    {"self_attn.q_proj.bias", "attn_q.bias", R_QB},
    {"self_attn.k_proj.weight", "attn_k.weight", R_K},
    {"self_attn.k_proj.bias", "attn_k.bias", R_KB},
    {"self_attn.v_proj.weight", "attn_v.weight", R_V},
    {"self_attn.v_proj.bias", "attn_v.bias", R_VB},
    {"self_attn.o_proj.weight", "attn_output.weight", R_O},
    {"self_attn.q_norm.weight", "attn_q_norm.weight", R_HDNORM},
    {"self_attn.k_norm.weight", "attn_k_norm.weight", R_HDNORM},
    {"post_attention_layernorm.weight", "ffn_norm.weight", R_NORM_E},
    {"mlp.gate_proj.weight", "ffn_gate.weight", R_GATEUP},
    {"mlp.up_proj.weight", "ffn_up.weight", R_GATEUP},
    {"mlp.down_proj.weight", "ffn_down.weight", R_DOWN},
};
#define N_LAYER_MAP ((int)(sizeof layer_map / sizeof layer_map[0]))

typedef struct mapped {
    const wf_st_tensor *t;
    int64_t order;     /* output order                                     */
    int role;
    char gguf[96];
} mapped;

static int mapped_cmp(const void *a, const void *b) {
    const mapped *x = a, *y = b;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* HF name -> GGUF name, role and order; 0 = mapped, 1 = skip, -1 = unknown. */
static int map_name(const conv *c, const char *n, mapped *m) {
    const int64_t last = (c->n_layer + 2) * 64;
    if (!strcmp(n, "model.embed_tokens.weight")) {
        snprintf(m->gguf, sizeof m->gguf, "token_embd.weight");
        m->role = R_EMBD;
        m->order = 0;
        return 0;
    }
    if (!strcmp(n, "model.norm.weight")) {
        snprintf(m->gguf, sizeof m->gguf, "output_norm.weight");
        m->role = R_NORM_E;
        m->order = last;
        return 0;
    }
    if (!strcmp(n, "lm_head.weight")) {
        if (c->tied) return 1; /* the same matrix as token_embd */
        snprintf(m->gguf, sizeof m->gguf, "output.weight");
        m->role = R_EMBD;
        m->order = last + 1;
        return 0;
    }
    static const char inv_freq[] = ".rotary_emb.inv_freq"; /* recomputed by the engine */
    size_t ln = strlen(n), ls = sizeof inv_freq - 1;
    if (ln > ls && !strcmp(n + ln - ls, inv_freq)) return 1;
    if (strncmp(n, "model.layers.", 13)) return -1;
    const char *p = n + 13;
    int64_t L = 0;
    if (*p < '0' || *p > '9') return -1;
    while (*p >= '0' && *p <= '9' && L < 1000000) L = L * 10 + (*p++ - '0');
    if (*p != '.' || L >= c->n_layer) return -1;
    p++;
    for (int k = 0; k < N_LAYER_MAP; k++) {
        if (!strcmp(p, layer_map[k].hf)) {
            snprintf(m->gguf, sizeof m->gguf, "blk.%lld.%s", (long long)L, layer_map[k].gguf);
            m->role = layer_map[k].role;
            m->order = (L + 1) * 64 + k;
            return 0;
        }
    }
    return -1;
}

/* Expected HF shape for a role: rows, cols (cols 0 = a vector). */
static void role_shape(const conv *c, int role, int64_t *rows, int64_t *cols) {
    const int64_t E = c->n_embd, QD = c->n_head * c->hd, KD = c->n_kv * c->hd;
    *cols = 0;
    switch (role) {
    case R_NORM_E: *rows = E; break;
    case R_Q: *rows = QD; *cols = E; break;
    case R_K: case R_V: *rows = KD; *cols = E; break;
    case R_O: *rows = E; *cols = QD; break;
    case R_QB: *rows = QD; break;
    case R_KB: case R_VB: *rows = KD; break;
    case R_HDNORM: *rows = c->hd; break;
    case R_GATEUP: *rows = c->n_ff; *cols = E; break;
    case R_DOWN: *rows = E; *cols = c->n_ff; break;
    default: *rows = c->n_vocab; *cols = E; break;
    }
}

void wf_conv_permute_rows(const void *src, void *dst, int64_t n_head, int64_t hd, size_t row_bytes) {
    const uint8_t *s = src;
    uint8_t *d = dst;
    const int64_t half = hd / 2;
    for (int64_t h = 0; h < n_head; h++)
        for (int64_t i = 0; i < half; i++)
            for (int64_t j = 0; j < 2; j++)
                memcpy(d + (size_t)(h * hd + 2 * i + j) * row_bytes, s + (size_t)(h * hd + j * half + i) * row_bytes,
                       row_bytes);
}

static void convert_elems(const void *src, uint32_t st, void *dst, uint32_t dt, uint64_t n) {
    if (st == dt) {
        memcpy(dst, src, (size_t)(n * (st == WF_TYPE_F32 ? 4 : 2)));
        return;
    }
    const uint8_t *s = src;
    for (uint64_t i = 0; i < n; i++) {
        float f;
        uint16_t h;
        if (st == WF_TYPE_F32) memcpy(&f, s + 4 * i, 4);
        else {
            memcpy(&h, s + 2 * i, 2);
            f = st == WF_TYPE_F16 ? wf_fp16_to_fp32(h) : wf_bf16_to_fp32(h);
        }
        if (dt == WF_TYPE_F32) memcpy((uint8_t *)dst + 4 * i, &f, 4);
        else {
            h = dt == WF_TYPE_F16 ? wf_fp32_to_fp16(f) : wf_fp32_to_bf16(f);
            memcpy((uint8_t *)dst + 2 * i, &h, 2);
        }
    }
}

static wf_status emit(conv *c, const mapped *m) {
    const wf_st_tensor *t = m->t;
    int64_t rows, cols;
    role_shape(c, m->role, &rows, &cols);
    bool ok = cols ? (t->n_dims == 2 && t->shape[0] == rows && t->shape[1] == cols) : (t->n_dims == 1 && t->shape[0] == rows);
    if (!ok) {
        char got[96] = "", exp[64];
        for (uint32_t d = 0; d < t->n_dims; d++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", d ? ", " : "", (long long)t->shape[d]);
        if (cols) snprintf(exp, sizeof exp, "%lld, %lld", (long long)rows, (long long)cols);
        else snprintf(exp, sizeof exp, "%lld", (long long)rows);
        return wf_fail(c->err, WF_ERR_FORMAT, "%s: tensor '%.64s' has shape [%s], config.json implies [%s]", t->file,
                       t->name, got, exp);
    }
    uint32_t out = cols ? (c->quantize ? t->type : c->mat_type) : WF_TYPE_F32;
    const void *src = t->data;
    bool perm = c->permute_qk && (m->role == R_Q || m->role == R_K || m->role == R_QB || m->role == R_KB);
    const uint64_t esz = t->type == WF_TYPE_F32 ? 4 : 2;
    if (perm) {
        int64_t heads = m->role == R_Q || m->role == R_QB ? c->n_head : c->n_kv;
        void *tmp = keep(c, (size_t)t->nbytes);
        if (!tmp) return wf_fail(c->err, WF_ERR_NOMEM, "out of memory converting %s", t->name);
        wf_conv_permute_rows(src, tmp, heads, c->hd, (size_t)((cols ? cols : 1) * esz));
        src = tmp;
    }
    const void *data = src;
    uint64_t nbytes = t->n_elem * (out == WF_TYPE_F32 ? 4 : 2);
    if (out != t->type) {
        void *buf = keep(c, (size_t)nbytes);
        if (!buf) return wf_fail(c->err, WF_ERR_NOMEM, "out of memory converting %s", t->name);
        convert_elems(src, t->type, buf, out, t->n_elem);
        data = buf;
    }
    int64_t ne[2] = {cols ? cols : rows, rows};
    return wf_gguf_writer_add_tensor(c->w, m->gguf, out, cols ? 2 : 1, ne, data, nbytes, c->err);
}

/* Every tensor mapped (unknown names are errors, as in llama.cpp), every
 * tensor the architecture needs present, then written in a fixed order. */
static wf_status write_tensors(conv *c) {
    int64_t n = wf_st_n_tensors(c->st);
    mapped *m = calloc((size_t)(n ? n : 1), sizeof *m);
    if (!m) return wf_fail(c->err, WF_ERR_NOMEM, "out of memory");
    wf_status st = WF_OK;
    int64_t k = 0;
    const wf_st_tensor *embd = wf_st_find(c->st, "model.embed_tokens.weight");
    if (!embd) {
        st = wf_fail(c->err, WF_ERR_FORMAT, "%s: the checkpoint has no model.embed_tokens.weight", c->dir);
        goto done;
    }
    if (c->n_vocab == 0) c->n_vocab = embd->shape[0];
    for (int64_t i = 0; i < n; i++) {
        const wf_st_tensor *t = wf_st_tensor_at(c->st, i);
        int r = map_name(c, t->name, &m[k]);
        if (r < 0) {
            st = wf_fail(c->err, WF_ERR_UNSUPPORTED, "%s: cannot map tensor '%.96s' to a GGUF name for %s (%lld layers)",
                         t->file, t->name, c->arch, (long long)c->n_layer);
            goto done;
        }
        if (r > 0) continue;
        m[k++].t = t;
    }
    /* presence: per layer, the tensors the architecture cannot do without */
    for (int64_t L = 0; L < c->n_layer; L++) {
        for (int j = 0; j < N_LAYER_MAP; j++) {
            int role = layer_map[j].role;
            bool need = role != R_QB && role != R_KB && role != R_VB && role != R_HDNORM;
            if (!strcmp(c->arch, "qwen2") && (role == R_QB || role == R_KB || role == R_VB)) need = true;
            if (!strcmp(c->arch, "qwen3") && role == R_HDNORM) need = true;
            if (!need) continue;
            char name[160];
            snprintf(name, sizeof name, "model.layers.%lld.%s", (long long)L, layer_map[j].hf);
            if (!wf_st_find(c->st, name)) {
                st = wf_fail(c->err, WF_ERR_FORMAT, "%s: the checkpoint has no %s (%s)", c->dir, name, c->arch);
                goto done;
            }
        }
    }
    if (!wf_st_find(c->st, "model.norm.weight")) {
        st = wf_fail(c->err, WF_ERR_FORMAT, "%s: the checkpoint has no model.norm.weight", c->dir);
        goto done;
    }
    /* no lm_head.weight: no output.weight, the engine uses token_embd (as tied) */
    qsort(m, (size_t)k, sizeof *m, mapped_cmp);
    for (int64_t i = 0; i < k && !st; i++) {
        if (c->p->on_tensor) c->p->on_tensor(i, k, m[i].gguf, c->p->user);
        st = emit(c, &m[i]);
    }
done:
    free(m);
    return st;
}

/* ---- driver ------------------------------------------------------------------------ */

static bool is_quant_ftype(const char *t) {
    const char *s = wf_quantize_ftype_names;
    size_t n = strlen(t);
    while (*s) {
        while (*s == ' ') s++;
        size_t w = strcspn(s, " ");
        if (w == n && !strncasecmp(s, t, n)) return true;
        s += w;
    }
    return false;
}

static const char *dir_name(const char *dir, char *buf, size_t cap) {
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') n--;
    size_t b = n;
    while (b > 0 && dir[b - 1] != '/') b--;
    size_t len = n - b;
    if (len >= cap) len = cap - 1;
    memcpy(buf, dir + b, len);
    buf[len] = 0;
    return buf;
}

wf_status wf_convert(const char *hf_dir, const char *out_path, const wf_convert_params *p, wf_error *err) {
    if (!hf_dir || !out_path || !p) return wf_fail(err, WF_ERR_INVALID_ARG, "convert: missing argument");
    conv c = {.dir = hf_dir, .p = p, .err = err};
    wf_status st = WF_OK;
    char *tmp_path = NULL;
    const char *type = p->out_type ? p->out_type : "f16";
    {
        const char *slash = strrchr(out_path, '/');
        size_t dl = slash ? (size_t)(slash - out_path) : 1;
        if (slash && dl == 0) dl = 1; /* "/x.gguf" */
        c.scratch_dir = malloc(dl + 1);
        if (!c.scratch_dir) return wf_fail(err, WF_ERR_NOMEM, "out of memory");
        memcpy(c.scratch_dir, slash ? out_path : ".", dl);
        c.scratch_dir[dl] = 0;
    }
    uint32_t file_type = 1;
    if (!strcasecmp(type, "f32")) { c.mat_type = WF_TYPE_F32; file_type = 0; }
    else if (!strcasecmp(type, "f16")) { c.mat_type = WF_TYPE_F16; file_type = 1; }
    else if (!strcasecmp(type, "bf16")) { c.mat_type = WF_TYPE_BF16; file_type = 32; }
    else if (is_quant_ftype(type)) c.quantize = true;
    else {
        st = wf_fail(err, WF_ERR_INVALID_ARG, "convert: unknown output type '%.32s' (%s)", type, wf_quantize_ftype_names);
        goto done;
    }
    if (p->vocab_only) c.quantize = false;

    if (p->vocab_only) {
        /* config.json is optional here: it only names the architecture */
        char *cp = wf_conv_path_join(hf_dir, "config.json");
        if (!cp) { st = wf_fail(err, WF_ERR_NOMEM, "out of memory"); goto done; }
        bool have = access(cp, F_OK) == 0;
        free(cp);
        if (have && (st = load_config(&c))) goto done;
    } else if ((st = load_config(&c))) {
        goto done;
    }
    if ((st = wf_gguf_writer_create(&c.w, err))) goto done;
    char nbuf[256];
    const char *name = p->name ? p->name : dir_name(hf_dir, nbuf, sizeof nbuf);
    const char *arch = c.arch ? c.arch : "llama";
    if ((st = wf_gguf_writer_set_str(c.w, "general.architecture", arch, strlen(arch))) ||
        (st = wf_gguf_writer_set_str(c.w, "general.name", name, strlen(name))) ||
        (!p->vocab_only && (st = wf_gguf_writer_set_u32(c.w, "general.quantization_version", 2)))) {
        st = wf_fail(err, st, "writing metadata failed");
        goto done;
    }
    int64_t n_tok = 0;
    if (p->vocab_only) {
        wf_conv_vocab_opts vo = {.pre = p->pre, .n_vocab = c.cfg ? c.n_vocab : 0};
        if ((st = wf_conv_vocab(hf_dir, c.cfg, &vo, c.w, &n_tok, err))) goto done;
        st = wf_gguf_writer_write(c.w, out_path, NULL, NULL, err);
        goto done;
    }
    if ((st = wf_st_open_dir(hf_dir, &c.st, err))) goto done;
    if ((st = write_hparams(&c))) goto done;
    if ((st = write_tensors(&c))) goto done; /* sets n_vocab from token_embd when config has none */
    {
        const wf_st_tensor *e = wf_st_find(c.st, "model.embed_tokens.weight");
        wf_conv_vocab_opts vo = {.pre = p->pre, .n_vocab = e->shape[0]};
        if ((st = wf_conv_vocab(hf_dir, c.cfg, &vo, c.w, &n_tok, err))) goto done;
    }
    if (!c.quantize) {
        if ((st = wf_gguf_writer_set_u32(c.w, "general.file_type", file_type))) {
            st = wf_fail(err, st, "writing metadata failed");
            goto done;
        }
        st = wf_gguf_writer_write(c.w, out_path, NULL, NULL, err);
        goto done;
    }
    size_t ol = strlen(out_path);
    tmp_path = malloc(ol + 32);
    if (!tmp_path) { st = wf_fail(err, WF_ERR_NOMEM, "out of memory"); goto done; }
    snprintf(tmp_path, ol + 32, "%s.convert.tmp.gguf", out_path);
    if ((st = wf_gguf_writer_write(c.w, tmp_path, NULL, NULL, err))) goto done;
    wf_gguf_writer_free(c.w);
    c.w = NULL;
    release_bufs(&c);
    wf_quantize_params qp = {.ftype = type, .n_threads = p->n_threads};
    st = wf_quantize_file(tmp_path, out_path, &qp, err);
    unlink(tmp_path);
done:
    free(tmp_path);
    release_bufs(&c);
    free(c.bufs);
    free(c.scratch_dir);
    wf_gguf_writer_free(c.w);
    wf_st_close(c.st);
    json_decref(c.cfg);
    free(c.cfg_path);
    return st;
}
