/* mkmodel.c — write a synthetic GGUF model shaped exactly like a real one
 * (Qwen2.5-Coder-0.5B / -1.5B, Qwen3-Coder-30B-A3B), with seeded random
 * weights, for benchmarks.
 *
 * Speed depends on shapes and element types, not on the values, so random
 * weights (gaussian * std, std 0.02 like the models' initializer_range) give
 * the same timings as the real checkpoint while needing no download. Weights
 * are written as F16 by default (then `wafer quantize` makes Q8_0, Q4_K_M,
 * ...), or directly in another type through the reference quantizers.
 * Norm weights are 1, biases small gaussians. No tokenizer unless
 * --dummy-vocab: `wafer bench` feeds token ids.
 *
 * Each tensor has its own RNG stream seeded from (seed, tensor name), so a
 * tensor's values do not depend on which other tensors are written.
 *
 * Mixture-of-experts presets (qwen3moe) are too large to hold in memory
 * (the 30B-A3B shape is ~18 GB at Q4_K_M), so --share-layers (the default
 * for them) writes layer 0's values again for every later layer: each layer
 * still has its own bytes in the file (the same bytes read per token), but
 * only one layer's buffers are in memory. --mix mxfp4_moe writes the experts
 * in MXFP4 and the other matrices in Q8_0 (gpt-oss). --mix q4_K_M stores the tensors as
 * llama.cpp's (and wafer quantize's) Q4_K_M does: Q4_K, with attn_v and
 * ffn_down(_exps) in Q6_K in the first and last eighth of the layers and
 * every third layer between, the output matrix Q6_K, the router f32.
 */
#include "format/gguf.h"
#include "format/quant.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct preset {
    const char *name;
    const char *title;  /* general.name                                  */
    int32_t n_vocab, n_embd, n_layer, n_head, n_head_kv, n_ff, n_ctx;
    float rope_theta, rms_eps;
    bool tied;          /* output matrix shares token_embd               */
    const char *arch;   /* NULL: qwen2                                   */
    int32_t head_dim;   /* 0: n_embd / n_head                            */
    int32_t n_expert, n_expert_used, n_ff_exp; /* MoE (qwen3moe)         */
} preset;

/* From the models' config.json (hidden_size, num_hidden_layers,
 * num_attention_heads, num_key_value_heads, intermediate_size, vocab_size,
 * max_position_embeddings, rope_theta, rms_norm_eps, tie_word_embeddings). */
static const preset presets[] = {
    {"qwen2.5-coder-0.5b", "synthetic Qwen2.5-Coder-0.5B (random weights)",
     151936, 896, 24, 14, 2, 4864, 32768, 1000000.0f, 1e-6f, true, NULL, 0, 0, 0, 0},
    {"qwen2.5-coder-1.5b", "synthetic Qwen2.5-Coder-1.5B (random weights)",
     151936, 1536, 28, 12, 2, 8960, 32768, 1000000.0f, 1e-6f, true, NULL, 0, 0, 0, 0},
    /* small, for tests: every dimension a multiple of 256 */
    {"tiny", "synthetic tiny qwen2 (random weights)",
     1024, 256, 2, 4, 2, 512, 4096, 1000000.0f, 1e-6f, true, NULL, 0, 0, 0, 0},
    /* Qwen3-Coder-30B-A3B-Instruct's config.json: hidden 2048, 48 layers, 32
     * heads / 4 KV heads of head_dim 128, 128 experts of moe_intermediate
     * 768, 8 per token, intermediate 6144 (unused), vocab 151936, context
     * 262144, rope_theta 1e7, untied */
    {"qwen3-coder-30b-a3b", "synthetic Qwen3-Coder-30B-A3B (random weights)",
     151936, 2048, 48, 32, 4, 6144, 262144, 10000000.0f, 1e-6f, false, "qwen3moe", 128, 128, 8, 768},
    /* gpt-oss-20b's config.json: hidden 2880, 24 layers, 64 heads / 8 KV heads
     * of head_dim 64, 32 experts of 2880, 4 per token, vocab 201088, context
     * 131072, rope_theta 150000 with YaRN x32 from 4096, sliding window 128 */
    {"gpt-oss-20b", "synthetic gpt-oss-20b (random weights)",
     201088, 2880, 24, 64, 8, 2880, 131072, 150000.0f, 1e-5f, false, "gpt-oss", 64, 32, 4, 2880},
    {"tiny-moe", "synthetic tiny qwen3moe (random weights)",
     1024, 256, 2, 4, 2, 512, 4096, 1000000.0f, 1e-6f, false, "qwen3moe", 64, 8, 2, 256},
};

/* ---- seeded gaussian stream ---------------------------------------------- */

typedef struct rng {
    uint64_t s;
    bool have_spare;
    float spare;
} rng;

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t hash_name(const char *s) { /* FNV-1a */
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

/* Uniform in (0, 1]. */
static double rng_unit(rng *r) {
    return ((double)(splitmix64(&r->s) >> 11) + 1.0) * (1.0 / 9007199254740992.0);
}

/* Standard normal (Box-Muller, both values used). */
static float rng_gauss(rng *r) {
    if (r->have_spare) {
        r->have_spare = false;
        return r->spare;
    }
    double u = rng_unit(r), v = rng_unit(r);
    double m = sqrt(-2.0 * log(u));
    r->spare = (float)(m * sin(6.283185307179586 * v));
    r->have_spare = true;
    return (float)(m * cos(6.283185307179586 * v));
}

/* ---- tensors ------------------------------------------------------------- */

typedef enum fill { FILL_GAUSS, FILL_ONES } fill;

typedef struct maker {
    wf_gguf_writer *w;
    uint64_t seed;
    float std;
    wf_type wtype;      /* for 2-D weights                                 */
    void **bufs;        /* kept until the file is written                  */
    size_t n_bufs, cap_bufs;
    uint64_t n_params, n_bytes;
    bool share_layers;  /* blk.N (N > 0) reuses blk.0's data of equal type/shape */
    int mix;            /* 0, MIX_Q4_K_M, MIX_MXFP4_MOE (--mix)            */
    long n_layer;
    struct shared { char suffix[64]; wf_type type; int64_t ne[3]; void *data; } shared[64];
    int n_shared;
} maker;

/* "blk.N.rest" -> "rest" and N, or NULL */
static const char *layer_suffix(const char *name, long *layer) {
    if (strncmp(name, "blk.", 4)) return NULL;
    char *end;
    *layer = strtol(name + 4, &end, 10);
    return *end == '.' ? end + 1 : NULL;
}

/* The type a row of n elements is stored in: the requested one if its block
 * divides n, else Q8_0 (32), else F16. */
static wf_type fit_type(wf_type want, int64_t n) {
    if (wf_row_size(want, n)) return want;
    if (wf_row_size(WF_TYPE_Q8_0, n)) return WF_TYPE_Q8_0;
    return WF_TYPE_F16;
}

static wf_status add_tensor3(maker *mk, const char *name, wf_type type, uint32_t n_dims,
                             int64_t ne0, int64_t ne1, int64_t ne2, fill how, float std, wf_error *err) {
    const wf_type_traits *tr = wf_type_get(type);
    long layer = -1;
    const char *suffix = mk->share_layers ? layer_suffix(name, &layer) : NULL;
    if (suffix && strlen(suffix) < sizeof mk->shared[0].suffix) {
        for (int i = 0; i < mk->n_shared; i++) {
            struct shared *sh = &mk->shared[i];
            if (!strcmp(sh->suffix, suffix) && sh->type == type && sh->ne[0] == ne0 && sh->ne[1] == ne1 &&
                sh->ne[2] == ne2) {
                int64_t ne[3] = {ne0, ne1, ne2};
                const uint64_t nb = wf_row_size(type, ne0) * (uint64_t)(ne1 * ne2);
                mk->n_params += (uint64_t)(ne0 * ne1 * ne2);
                mk->n_bytes += nb;
                return wf_gguf_writer_add_tensor(mk->w, name, (uint32_t)type, n_dims, ne, sh->data, nb, err);
            }
        }
    }
    ne1 *= ne2; /* rows of all experts */
    if (!tr || !tr->from_float)
        return wf_fail(err, WF_ERR_UNSUPPORTED, "%s: no quantizer for type %u", name, type);
    size_t row = wf_row_size(type, ne0);
    if (!row) return wf_fail(err, WF_ERR_INVALID_ARG, "%s: row of %lld does not fit %s",
                             name, (long long)ne0, tr->name);
    uint64_t nbytes;
    if (!wf_mul_u64(row, (uint64_t)ne1, &nbytes) || nbytes > SIZE_MAX)
        return wf_fail(err, WF_ERR_NOMEM, "%s: too large", name);
    void *data = malloc(nbytes ? nbytes : 1);
    float *tmp = malloc((size_t)ne0 * sizeof(float));
    if (!data || !tmp) {
        free(data);
        free(tmp);
        return wf_fail(err, WF_ERR_NOMEM, "%s: cannot allocate %llu bytes", name,
                       (unsigned long long)nbytes);
    }
    rng r = {mk->seed ^ hash_name(name), false, 0.0f};
    for (int64_t i = 0; i < ne1; i++) {
        for (int64_t j = 0; j < ne0; j++) tmp[j] = how == FILL_ONES ? 1.0f : std * rng_gauss(&r);
        tr->from_float(tmp, (char *)data + (size_t)i * row, ne0);
    }
    free(tmp);
    if (mk->n_bufs == mk->cap_bufs) {
        size_t nc = mk->cap_bufs ? 2 * mk->cap_bufs : 64;
        void **nb = realloc(mk->bufs, nc * sizeof *nb);
        if (!nb) {
            free(data);
            return wf_fail(err, WF_ERR_NOMEM, "out of memory");
        }
        mk->bufs = nb;
        mk->cap_bufs = nc;
    }
    mk->bufs[mk->n_bufs++] = data;
    int64_t ne[3] = {ne0, ne1 / ne2, ne2};
    wf_status st = wf_gguf_writer_add_tensor(mk->w, name, (uint32_t)type, n_dims, ne, data,
                                             nbytes, err);
    mk->n_params += (uint64_t)(ne0 * ne1);
    mk->n_bytes += nbytes;
    if (suffix && mk->n_shared < (int)(sizeof mk->shared / sizeof mk->shared[0]) &&
        strlen(suffix) < sizeof mk->shared[0].suffix) {
        struct shared *sh = &mk->shared[mk->n_shared++];
        snprintf(sh->suffix, sizeof sh->suffix, "%s", suffix);
        sh->type = type;
        sh->ne[0] = ne0;
        sh->ne[1] = ne1 / ne2;
        sh->ne[2] = ne2;
        sh->data = data;
    }
    return st;
}

static wf_status add_tensor(maker *mk, const char *name, wf_type type, uint32_t n_dims,
                            int64_t ne0, int64_t ne1, fill how, float std, wf_error *err) {
    return add_tensor3(mk, name, type, n_dims, ne0, ne1, 1, how, std, err);
}

/* llama.cpp's Q4_K_M rule for attn_v / ffn_down: Q6_K in the first and last
 * eighth of the layers and every third layer between */
static bool more_bits_layer(long i, long n) {
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

enum { MIX_Q4_K_M = 1, MIX_MXFP4_MOE = 2 };

/* The type of a weight matrix: mk->wtype, or under --mix mxfp4_moe the
 * stacked experts in MXFP4 and the rest Q8_0 (gpt-oss's release keeps
 * its experts MXFP4; wafer quantize's mxfp4_moe mix), or under --mix q4_K_M (mk->mix)
 * the Q4_K_M rule for it. */
static wf_type matrix_type(const maker *mk, const char *name, int64_t n) {
    wf_type t = mk->wtype;
    if (mk->mix == MIX_MXFP4_MOE) {
        t = strstr(name, "_exps.") ? WF_TYPE_MXFP4 : WF_TYPE_Q8_0;
    } else if (mk->mix) {
        long layer = -1;
        const char *suf = layer_suffix(name, &layer);
        if (!strcmp(name, "output.weight")) t = WF_TYPE_Q6_K;
        else if (suf && (!strncmp(suf, "attn_v.", 7) || !strncmp(suf, "ffn_down", 8)) &&
                 more_bits_layer(layer, mk->n_layer))
            t = WF_TYPE_Q6_K;
        else t = WF_TYPE_Q4_K;
    }
    return fit_type(t, n);
}

/* A weight matrix W with rows of n elements: GGUF ne = (n, rows). */
static wf_status add_matrix(maker *mk, const char *name, int64_t n, int64_t rows, wf_error *err) {
    return add_tensor(mk, name, matrix_type(mk, name, n), 2, n, rows, FILL_GAUSS, mk->std, err);
}

/* Stacked experts: ne = (n, rows, n_expert). */
static wf_status add_experts(maker *mk, const char *name, int64_t n, int64_t rows, int64_t n_exp, wf_error *err) {
    return add_tensor3(mk, name, matrix_type(mk, name, n), 3, n, rows, n_exp, FILL_GAUSS, mk->std, err);
}

static wf_status add_vector(maker *mk, const char *name, int64_t n, fill how, wf_error *err) {
    return add_tensor(mk, name, WF_TYPE_F32, 1, n, 1, how, mk->std, err);
}

/* llama.cpp file-type number for general.file_type (all-one-type files). */
static uint32_t file_type_of(wf_type t) {
    switch (t) {
    case WF_TYPE_F32: return 0;
    case WF_TYPE_F16: return 1;
    case WF_TYPE_Q4_0: return 2;
    case WF_TYPE_Q4_1: return 3;
    case WF_TYPE_Q8_0: return 7;
    case WF_TYPE_Q5_0: return 8;
    case WF_TYPE_Q5_1: return 9;
    case WF_TYPE_Q4_K: return 14;
    case WF_TYPE_Q5_K: return 16;
    case WF_TYPE_Q6_K: return 18;
    case WF_TYPE_BF16: return 32;
    default: return 0;
    }
}

/* A placeholder byte-level vocabulary: the 256 byte tokens GPT-2 style, then
 * "<|wf_N|>" tokens, no merges. Only for loaders that insist on a tokenizer. */
static wf_status add_dummy_vocab(maker *mk, int32_t n_vocab, char ***names_out, wf_error *err) {
    char **names = calloc((size_t)n_vocab, sizeof *names);
    wf_str *items = calloc((size_t)n_vocab, sizeof *items);
    int32_t *types = calloc((size_t)n_vocab, sizeof *types);
    if (!names || !items || !types) goto nomem;
    for (int32_t i = 0; i < n_vocab; i++) {
        char buf[32];
        if (i < 256) {
            /* GPT-2 byte-to-unicode: printable latin-1 bytes map to themselves,
             * the rest to U+0100 + k in order. */
            int b = i, cp;
            bool direct = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
            if (direct) {
                cp = b;
            } else {
                int k = 0;
                for (int x = 0; x < b; x++) {
                    bool d = (x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255);
                    if (!d) k++;
                }
                cp = 256 + k;
            }
            if (cp < 0x80) {
                buf[0] = (char)cp;
                buf[1] = 0;
            } else {
                buf[0] = (char)(0xc0 | (cp >> 6));
                buf[1] = (char)(0x80 | (cp & 0x3f));
                buf[2] = 0;
            }
        } else {
            snprintf(buf, sizeof buf, "<|wf_%d|>", (int)i);
        }
        names[i] = strdup(buf);
        if (!names[i]) goto nomem;
        items[i].ptr = names[i];
        items[i].len = strlen(names[i]);
        types[i] = i < 256 ? 1 : 3; /* normal, control */
    }
    wf_status st = wf_gguf_writer_set_str(mk->w, "tokenizer.ggml.model", "gpt2", 4);
    if (!st) st = wf_gguf_writer_set_str(mk->w, "tokenizer.ggml.pre", "qwen2", 5);
    if (!st) st = wf_gguf_writer_set_arr_str(mk->w, "tokenizer.ggml.tokens", items, (uint64_t)n_vocab);
    if (!st) st = wf_gguf_writer_set_arr(mk->w, "tokenizer.ggml.token_type", WF_GGUF_INT32, types,
                                         (uint64_t)n_vocab);
    if (!st) st = wf_gguf_writer_set_arr_str(mk->w, "tokenizer.ggml.merges", items, 0);
    if (!st) st = wf_gguf_writer_set_u32(mk->w, "tokenizer.ggml.eos_token_id", (uint32_t)(n_vocab - 1));
    free(items);
    free(types);
    *names_out = names;
    if (st) return wf_fail(err, st, "writing the dummy vocabulary failed");
    return WF_OK;
nomem:
    if (names)
        for (int32_t i = 0; i < n_vocab; i++) free(names[i]);
    free(names);
    free(items);
    free(types);
    return wf_fail(err, WF_ERR_NOMEM, "out of memory (vocabulary)");
}

/* The tokenizer of another GGUF (every tokenizer.* key), e.g. a real
 * 151k-token vocabulary for benchmarks that look at token text. */
static wf_status copy_vocab(wf_gguf_writer *w, const wf_gguf *src, wf_error *err) {
    for (int64_t i = 0; i < wf_gguf_n_kv(src); i++) {
        wf_str k = wf_gguf_key_at(src, i);
        if (k.len < 10 || memcmp(k.ptr, "tokenizer.", 10)) continue;
        wf_status st = wf_gguf_writer_copy_kv(w, src, i);
        if (st) return wf_fail(err, st, "copying %.*s failed", (int)k.len, k.ptr);
    }
    return WF_OK;
}

static wf_status make_model(const preset *p, wf_type wtype, uint64_t seed, float std,
                            bool dummy_vocab, const wf_gguf *vocab_src, bool share, int mix, const char *path,
                            wf_error *err) {
    maker mk = {0};
    mk.seed = seed;
    mk.std = std;
    mk.wtype = wtype;
    mk.share_layers = share;
    mk.mix = mix;
    mk.n_layer = p->n_layer;
    char **vocab_names = NULL;
    wf_status st = wf_gguf_writer_create(&mk.w, err);
    if (st) return st;

    const int64_t hd = p->head_dim ? p->head_dim : p->n_embd / p->n_head;
    const char *arch = p->arch ? p->arch : "qwen2";
    const bool moe = p->n_expert > 0;
    char key[128];
#define K(s) (snprintf(key, sizeof key, "%s.%s", arch, s), key)
    const int64_t n_q = hd * p->n_head, n_kv = hd * p->n_head_kv;
    wf_gguf_writer *w = mk.w;
#define SET(call)                                                              \
    do {                                                                       \
        if ((st = (call)) != WF_OK) {                                          \
            wf_fail(err, st, "setting metadata failed: %s", #call);            \
            goto out;                                                          \
        }                                                                      \
    } while (0)
    SET(wf_gguf_writer_set_str(w, "general.architecture", arch, strlen(arch)));
    SET(wf_gguf_writer_set_str(w, "general.name", p->title, strlen(p->title)));
    SET(wf_gguf_writer_set_u32(w, "general.file_type", mix == MIX_Q4_K_M ? 15 : mix ? 38 : file_type_of(wtype)));
    SET(wf_gguf_writer_set_u32(w, K("context_length"), (uint32_t)p->n_ctx));
    SET(wf_gguf_writer_set_u32(w, K("embedding_length"), (uint32_t)p->n_embd));
    SET(wf_gguf_writer_set_u32(w, K("block_count"), (uint32_t)p->n_layer));
    SET(wf_gguf_writer_set_u32(w, K("feed_forward_length"), (uint32_t)p->n_ff));
    SET(wf_gguf_writer_set_u32(w, K("attention.head_count"), (uint32_t)p->n_head));
    SET(wf_gguf_writer_set_u32(w, K("attention.head_count_kv"), (uint32_t)p->n_head_kv));
    SET(wf_gguf_writer_set_f32(w, K("rope.freq_base"), p->rope_theta));
    SET(wf_gguf_writer_set_f32(w, K("attention.layer_norm_rms_epsilon"), p->rms_eps));
    if (p->head_dim) {
        SET(wf_gguf_writer_set_u32(w, K("attention.key_length"), (uint32_t)hd));
        SET(wf_gguf_writer_set_u32(w, K("attention.value_length"), (uint32_t)hd));
    }
    const bool oss = !strcmp(arch, "gpt-oss");
    if (oss) {
        SET(wf_gguf_writer_set_u32(w, K("attention.sliding_window"), 128));
        SET(wf_gguf_writer_set_str(w, K("rope.scaling.type"), "yarn", 4));
        SET(wf_gguf_writer_set_f32(w, K("rope.scaling.factor"), 32.0f));
        SET(wf_gguf_writer_set_u32(w, K("rope.scaling.original_context_length"), 4096));
    }
    if (moe) {
        SET(wf_gguf_writer_set_u32(w, K("expert_count"), (uint32_t)p->n_expert));
        SET(wf_gguf_writer_set_u32(w, K("expert_used_count"), (uint32_t)p->n_expert_used));
        SET(wf_gguf_writer_set_u32(w, K("expert_feed_forward_length"), (uint32_t)p->n_ff_exp));
    }
    SET(wf_gguf_writer_set_u32(w, "general.synthetic_seed", (uint32_t)seed));
#undef SET
#undef K
    if (dummy_vocab && (st = add_dummy_vocab(&mk, p->n_vocab, &vocab_names, err))) goto out;
    if (vocab_src && (st = copy_vocab(w, vocab_src, err))) goto out;

    if ((st = add_matrix(&mk, "token_embd.weight", p->n_embd, p->n_vocab, err))) goto out;
    for (int32_t l = 0; l < p->n_layer; l++) {
        char name[96];
#define NAME(s) (snprintf(name, sizeof name, "blk.%d." s, (int)l), name)
        if (oss) { /* biases, sinks, post_attention_norm, router + stacked experts with biases */
            if ((st = add_vector(&mk, NAME("attn_norm.weight"), p->n_embd, FILL_ONES, err)) ||
                (st = add_matrix(&mk, NAME("attn_q.weight"), p->n_embd, n_q, err)) ||
                (st = add_vector(&mk, NAME("attn_q.bias"), n_q, FILL_GAUSS, err)) ||
                (st = add_matrix(&mk, NAME("attn_k.weight"), p->n_embd, n_kv, err)) ||
                (st = add_vector(&mk, NAME("attn_k.bias"), n_kv, FILL_GAUSS, err)) ||
                (st = add_matrix(&mk, NAME("attn_v.weight"), p->n_embd, n_kv, err)) ||
                (st = add_vector(&mk, NAME("attn_v.bias"), n_kv, FILL_GAUSS, err)) ||
                (st = add_matrix(&mk, NAME("attn_output.weight"), n_q, p->n_embd, err)) ||
                (st = add_vector(&mk, NAME("attn_output.bias"), p->n_embd, FILL_GAUSS, err)) ||
                (st = add_vector(&mk, NAME("attn_sinks.weight"), p->n_head, FILL_GAUSS, err)) ||
                (st = add_vector(&mk, NAME("post_attention_norm.weight"), p->n_embd, FILL_ONES, err)) ||
                (st = add_tensor(&mk, NAME("ffn_gate_inp.weight"), WF_TYPE_F32, 2, p->n_embd, p->n_expert,
                                 FILL_GAUSS, mk.std, err)) ||
                (st = add_vector(&mk, NAME("ffn_gate_inp.bias"), p->n_expert, FILL_GAUSS, err)) ||
                (st = add_experts(&mk, NAME("ffn_gate_exps.weight"), p->n_embd, p->n_ff_exp, p->n_expert, err)) ||
                (st = add_tensor(&mk, NAME("ffn_gate_exps.bias"), WF_TYPE_F32, 2, p->n_ff_exp, p->n_expert,
                                 FILL_GAUSS, mk.std, err)) ||
                (st = add_experts(&mk, NAME("ffn_up_exps.weight"), p->n_embd, p->n_ff_exp, p->n_expert, err)) ||
                (st = add_tensor(&mk, NAME("ffn_up_exps.bias"), WF_TYPE_F32, 2, p->n_ff_exp, p->n_expert,
                                 FILL_GAUSS, mk.std, err)) ||
                (st = add_experts(&mk, NAME("ffn_down_exps.weight"), p->n_ff_exp, p->n_embd, p->n_expert, err)) ||
                (st = add_tensor(&mk, NAME("ffn_down_exps.bias"), WF_TYPE_F32, 2, p->n_embd, p->n_expert,
                                 FILL_GAUSS, mk.std, err)))
                goto out;
            continue;
        }
        if (moe) { /* qwen3moe: q/k norms, no biases, router + stacked experts */
            if ((st = add_vector(&mk, NAME("attn_norm.weight"), p->n_embd, FILL_ONES, err)) ||
                (st = add_matrix(&mk, NAME("attn_q.weight"), p->n_embd, n_q, err)) ||
                (st = add_matrix(&mk, NAME("attn_k.weight"), p->n_embd, n_kv, err)) ||
                (st = add_matrix(&mk, NAME("attn_v.weight"), p->n_embd, n_kv, err)) ||
                (st = add_matrix(&mk, NAME("attn_output.weight"), n_q, p->n_embd, err)) ||
                (st = add_vector(&mk, NAME("attn_q_norm.weight"), hd, FILL_ONES, err)) ||
                (st = add_vector(&mk, NAME("attn_k_norm.weight"), hd, FILL_ONES, err)) ||
                (st = add_vector(&mk, NAME("ffn_norm.weight"), p->n_embd, FILL_ONES, err)) ||
                (st = add_tensor(&mk, NAME("ffn_gate_inp.weight"), WF_TYPE_F32, 2, p->n_embd, p->n_expert,
                                 FILL_GAUSS, mk.std, err)) ||
                (st = add_experts(&mk, NAME("ffn_gate_exps.weight"), p->n_embd, p->n_ff_exp, p->n_expert, err)) ||
                (st = add_experts(&mk, NAME("ffn_up_exps.weight"), p->n_embd, p->n_ff_exp, p->n_expert, err)) ||
                (st = add_experts(&mk, NAME("ffn_down_exps.weight"), p->n_ff_exp, p->n_embd, p->n_expert, err)))
                goto out;
            continue;
        }
        if ((st = add_vector(&mk, NAME("attn_norm.weight"), p->n_embd, FILL_ONES, err)) ||
            (st = add_matrix(&mk, NAME("attn_q.weight"), p->n_embd, n_q, err)) ||
            (st = add_vector(&mk, NAME("attn_q.bias"), n_q, FILL_GAUSS, err)) ||
            (st = add_matrix(&mk, NAME("attn_k.weight"), p->n_embd, n_kv, err)) ||
            (st = add_vector(&mk, NAME("attn_k.bias"), n_kv, FILL_GAUSS, err)) ||
            (st = add_matrix(&mk, NAME("attn_v.weight"), p->n_embd, n_kv, err)) ||
            (st = add_vector(&mk, NAME("attn_v.bias"), n_kv, FILL_GAUSS, err)) ||
            (st = add_matrix(&mk, NAME("attn_output.weight"), n_q, p->n_embd, err)) ||
            (st = add_vector(&mk, NAME("ffn_norm.weight"), p->n_embd, FILL_ONES, err)) ||
            (st = add_matrix(&mk, NAME("ffn_gate.weight"), p->n_embd, p->n_ff, err)) ||
            (st = add_matrix(&mk, NAME("ffn_up.weight"), p->n_embd, p->n_ff, err)) ||
            (st = add_matrix(&mk, NAME("ffn_down.weight"), p->n_ff, p->n_embd, err)))
            goto out;
#undef NAME
    }
    if ((st = add_vector(&mk, "output_norm.weight", p->n_embd, FILL_ONES, err))) goto out;
    if (!p->tied && (st = add_matrix(&mk, "output.weight", p->n_embd, p->n_vocab, err))) goto out;

    st = wf_gguf_writer_write(w, path, NULL, NULL, err);
    if (!st)
        printf("%s: %s, %d layers, %.1f M parameters, %.1f MB of tensors\n", path, p->title,
               (int)p->n_layer, (double)mk.n_params / 1e6, (double)mk.n_bytes / 1e6);
out:
    wf_gguf_writer_free(mk.w);
    for (size_t i = 0; i < mk.n_bufs; i++) free(mk.bufs[i]);
    free(mk.bufs);
    if (vocab_names) {
        for (int32_t i = 0; i < p->n_vocab; i++) free(vocab_names[i]);
        free(vocab_names);
    }
    return st;
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: bench_mkmodel [options] OUT.gguf\n"
            "  --preset NAME     qwen2.5-coder-0.5b (default), qwen2.5-coder-1.5b, tiny,\n"
            "                    qwen3-coder-30b-a3b, gpt-oss-20b, tiny-moe\n"
            "  --type T          weight type: f16 (default), f32, bf16, q8_0, q4_0, q4_K, ...\n"
            "                    (rows the type's block does not divide fall back to q8_0/f16)\n"
            "  --layers N        override the number of layers (quick tests)\n"
            "  --vocab N         override the vocabulary size\n"
            "  --seed S          RNG seed (default 1234)\n"
            "  --std X           weight standard deviation (default 0.02)\n"
            "  --untied          write a separate output.weight\n"
            "  --dummy-vocab     add a placeholder byte-level tokenizer\n"
            "  --vocab-from F    copy the tokenizer of GGUF file F (its size sets the vocabulary)\n"
            "  --mix q4_K_M      llama.cpp's Q4_K_M mix instead of one --type\n"
            "  --mix mxfp4_moe   experts MXFP4, other matrices Q8_0 (gpt-oss)\n"
            "  --share-layers    write layer 0's values for every layer (one layer in memory;\n"
            "                    the default for the MoE presets)\n");
}

static bool parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

int main(int argc, char **argv) {
    const char *preset_name = "qwen2.5-coder-0.5b", *type_name = "f16", *out = NULL;
    int64_t layers = -1, vocab = -1, seed = 1234;
    double std = 0.02;
    bool untied = false, dummy_vocab = false, share = false;
    int mix = 0;
    const char *vocab_from = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_next = i + 1 < argc;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--preset") && has_next) {
            preset_name = argv[++i];
        } else if (!strcmp(a, "--type") && has_next) {
            type_name = argv[++i];
        } else if (!strcmp(a, "--layers") && has_next) {
            if (!parse_i64(argv[++i], 1, 1000, &layers)) goto bad;
        } else if (!strcmp(a, "--vocab") && has_next) {
            if (!parse_i64(argv[++i], 2, 10000000, &vocab)) goto bad;
        } else if (!strcmp(a, "--seed") && has_next) {
            if (!parse_i64(argv[++i], 0, INT64_MAX, &seed)) goto bad;
        } else if (!strcmp(a, "--std") && has_next) {
            char *end;
            std = strtod(argv[++i], &end);
            if (*end || !(std > 0 && std < 100)) goto bad;
        } else if (!strcmp(a, "--untied")) {
            untied = true;
        } else if (!strcmp(a, "--dummy-vocab")) {
            dummy_vocab = true;
        } else if (!strcmp(a, "--vocab-from") && has_next) {
            vocab_from = argv[++i];
        } else if (!strcmp(a, "--share-layers")) {
            share = true;
        } else if (!strcmp(a, "--mix") && has_next) {
            ++i;
            if (!strcmp(argv[i], "q4_K_M")) mix = MIX_Q4_K_M;
            else if (!strcmp(argv[i], "mxfp4_moe")) mix = MIX_MXFP4_MOE;
            else goto bad;
        } else if (a[0] != '-' && !out) {
            out = a;
        } else {
            goto bad;
        }
        continue;
    bad:
        fprintf(stderr, "bench_mkmodel: bad argument '%s'\n", a);
        usage(stderr);
        return 2;
    }
    if (!out) {
        usage(stderr);
        return 2;
    }
    const preset *pp = NULL;
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++)
        if (!strcmp(presets[i].name, preset_name)) pp = &presets[i];
    if (!pp) {
        fprintf(stderr, "bench_mkmodel: unknown preset '%s'\n", preset_name);
        return 2;
    }
    int t = wf_type_from_name(type_name);
    const wf_type_traits *tr = t >= 0 ? wf_type_get((uint32_t)t) : NULL;
    if (!tr || !tr->from_float) {
        fprintf(stderr, "bench_mkmodel: cannot write type '%s'\n", type_name);
        return 2;
    }
    preset p = *pp;
    if (layers > 0) p.n_layer = (int32_t)layers;
    if (vocab > 0) p.n_vocab = (int32_t)vocab;
    if (untied) p.tied = false;
    wf_error err = {0};
    wf_gguf *vsrc = NULL;
    if (vocab_from) { /* its token count becomes the model's n_vocab */
        int64_t kv;
        uint64_t n = 0;
        wf_gguf_vtype et;
        if (wf_gguf_open(vocab_from, &vsrc, &err) || (kv = wf_gguf_find_key(vsrc, "tokenizer.ggml.tokens")) < 0 ||
            wf_gguf_arr_info_at(vsrc, kv, &et, &n) || n == 0 || n > 10000000) {
            fprintf(stderr, "bench_mkmodel: --vocab-from %s: %s\n", vocab_from, err.msg[0] ? err.msg : "no tokenizer.ggml.tokens");
            wf_gguf_close(vsrc);
            return 1;
        }
        p.n_vocab = (int32_t)n;
        dummy_vocab = false;
    }
    if (p.n_expert > 0) share = true;
    wf_status st = make_model(&p, (wf_type)t, (uint64_t)seed, (float)std, dummy_vocab, vsrc, share, mix, out, &err);
    wf_gguf_close(vsrc);
    if (st) {
        fprintf(stderr, "bench_mkmodel: %s\n", err.msg);
        return 1;
    }
    return 0;
}
