/* gen_models.h — synthetic llama GGUF models for the generation tests,
 * written with the C GGUF writer: a target and drafts that share the token
 * embedding and output matrix (so they tend to agree) but differ in depth,
 * width and layer weights. Vocabulary "t0".."t{V-1}" (prefix configurable,
 * to make a mismatching one).
 *
 * kind BIGRAM: the output row of perm(t) is embedding row t and the layer
 * weights are small, so the next token is mostly perm(current) and greedy
 * output falls into cycles. kind RANDOM: Gaussian output matrix.
 *
 * vocab_from (optional): a GGUF whose tokenizer.* keys (vocabulary, merges,
 * special ids, chat template) are copied instead of "t0".."t{V-1}"; V is
 * then its token count — a real tokenizer and template on cheap weights. */
#ifndef WF_GEN_MODELS_H
#define WF_GEN_MODELS_H

#include "format/gguf.h"
#include "format/quant.h"
#include "testutil.h"

#include <string.h>
#include <unistd.h>

typedef enum { GM_RANDOM, GM_BIGRAM } gm_kind;

typedef struct gm_cfg {
    int E, H, KV, HD, FF, V, NL, NCTX;
    gm_kind kind;
    float layer_scale;      /* std of the layer weights                   */
    uint64_t shared_seed;   /* embedding, output matrix, permutation      */
    uint64_t layer_seed;    /* everything else                            */
    const char *tok_prefix; /* "t" */
    const char *vocab_from; /* NULL, or a GGUF whose tokenizer.* to copy */
} gm_cfg;

/* Copy every tokenizer.* key of the GGUF at path into w; *V = its token
 * count. 0 on success. */
static int gm_copy_vocab(wf_gguf_writer *w, const char *path, int *V) {
    wf_error err = {0};
    wf_gguf *g = NULL;
    if (wf_gguf_open(path, &g, &err) != WF_OK) {
        fprintf(stderr, "gm_copy_vocab: %s\n", err.msg);
        return 1;
    }
    int rc = 0;
    for (int64_t i = 0; i < wf_gguf_n_kv(g) && !rc; i++) {
        wf_str k = wf_gguf_key_at(g, i);
        if (k.len >= 10 && !memcmp(k.ptr, "tokenizer.", 10)) rc = wf_gguf_writer_copy_kv(w, g, i) != WF_OK;
    }
    wf_gguf_vtype elem;
    uint64_t n = 0;
    int64_t kv = wf_gguf_find_key(g, "tokenizer.ggml.tokens");
    if (rc || kv < 0 || wf_gguf_arr_info_at(g, kv, &elem, &n) != WF_OK || n == 0 || n > (1u << 20)) rc = 1;
    else *V = (int)n;
    wf_gguf_close(g);
    return rc;
}

static int gm_write(const char *path, const gm_cfg *c) {
    t_rng rs = {c->shared_seed}, rl = {c->layer_seed};
    wf_error err = {0};
    wf_gguf_writer *w = NULL;
    if (wf_gguf_writer_create(&w, &err) != WF_OK) return 1;
    const int E = c->E;
    int V = c->V;
    wf_gguf_writer_set_str(w, "general.architecture", "llama", 5);
    wf_gguf_writer_set_u32(w, "llama.context_length", (uint32_t)c->NCTX);
    wf_gguf_writer_set_u32(w, "llama.embedding_length", (uint32_t)E);
    wf_gguf_writer_set_u32(w, "llama.block_count", (uint32_t)c->NL);
    wf_gguf_writer_set_u32(w, "llama.feed_forward_length", (uint32_t)c->FF);
    wf_gguf_writer_set_u32(w, "llama.attention.head_count", (uint32_t)c->H);
    wf_gguf_writer_set_u32(w, "llama.attention.head_count_kv", (uint32_t)c->KV);
    wf_gguf_writer_set_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    char (*names)[16] = NULL;
    wf_str *items = NULL;
    if (c->vocab_from) {
        if (gm_copy_vocab(w, c->vocab_from, &V)) {
            wf_gguf_writer_free(w);
            return 1;
        }
    } else {
        names = malloc(sizeof *names * (size_t)V);
        items = malloc(sizeof *items * (size_t)V);
        for (int i = 0; i < V; i++) {
            snprintf(names[i], sizeof names[i], "%s%d", c->tok_prefix ? c->tok_prefix : "t", i);
            items[i] = (wf_str){names[i], strlen(names[i])};
        }
        wf_gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2", 4);
        wf_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", items, (size_t)V);
        wf_gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", items, 0);
    }

    float *emb = malloc(sizeof(float) * (size_t)(E * V)), *out = malloc(sizeof(float) * (size_t)(E * V));
    for (int i = 0; i < E * V; i++) emb[i] = t_gauss(&rs);
    int *perm = malloc(sizeof *perm * (size_t)V);
    for (int i = 0; i < V; i++) perm[i] = i;
    for (int i = V - 1; i > 0; i--) {
        int j = (int)(t_next(&rs) % (uint64_t)(i + 1)), t = perm[i];
        perm[i] = perm[j], perm[j] = t;
    }
    for (int t = 0; t < V; t++)
        for (int e = 0; e < E; e++)
            out[perm[t] * E + e] = c->kind == GM_BIGRAM ? emb[t * E + e] * 0.5f : t_gauss(&rs) * 0.25f;
    void *bufs[256];
    int nb = 0, rc = 0;
    bufs[nb++] = emb;
    bufs[nb++] = out;
    int64_t ne_emb[2] = {E, V};
    rc |= wf_gguf_writer_add_tensor(w, "token_embd.weight", WF_TYPE_F32, 2, ne_emb, emb, sizeof(float) * (size_t)(E * V), &err) != WF_OK;
    rc |= wf_gguf_writer_add_tensor(w, "output.weight", WF_TYPE_F32, 2, ne_emb, out, sizeof(float) * (size_t)(E * V), &err) != WF_OK;
    struct { const char *name; int64_t ne0, ne1; int norm; } ts[] = {
        {"output_norm.weight", E, 1, 1},
        {"attn_norm.weight", E, 1, 1},
        {"attn_q.weight", E, c->H * c->HD, 0},
        {"attn_k.weight", E, c->KV * c->HD, 0},
        {"attn_v.weight", E, c->KV * c->HD, 0},
        {"attn_output.weight", c->H * c->HD, E, 0},
        {"ffn_norm.weight", E, 1, 1},
        {"ffn_gate.weight", E, c->FF, 0},
        {"ffn_up.weight", E, c->FF, 0},
        {"ffn_down.weight", c->FF, E, 0},
    };
    char name[64];
    for (int l = 0; l < c->NL; l++)
        for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) {
            if (l > 0 && i == 0) continue;
            if (i == 0) snprintf(name, sizeof name, "%s", ts[i].name);
            else snprintf(name, sizeof name, "blk.%d.%s", l, ts[i].name);
            size_t n = (size_t)(ts[i].ne0 * ts[i].ne1);
            float *p = malloc(n * sizeof *p);
            for (size_t j = 0; j < n; j++)
                p[j] = ts[i].norm ? 1.0f + 0.1f * t_unif(&rl) : t_gauss(&rl) * c->layer_scale;
            if (nb < 256) bufs[nb++] = p;
            int64_t ne[2] = {ts[i].ne0, ts[i].ne1};
            rc |= wf_gguf_writer_add_tensor(w, name, WF_TYPE_F32, ts[i].ne1 == 1 ? 1 : 2, ne, p, n * 4, &err) != WF_OK;
        }
    if (rc == 0 && wf_gguf_writer_write(w, path, NULL, NULL, &err) != WF_OK) rc = 1;
    if (rc) fprintf(stderr, "writer: %s\n", err.msg);
    wf_gguf_writer_free(w);
    for (int i = 0; i < nb; i++) free(bufs[i]);
    free(perm);
    free(names);
    free(items);
    return rc;
}

/* Write cfg to dir/name.gguf and load it (NULL on failure). */
static wf_model *gm_make(const char *dir, const char *name, const gm_cfg *c) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s.gguf", dir, name);
    if (gm_write(path, c) != 0) return NULL;
    wf_model *m = NULL;
    wf_error err = {0};
    if (wf_model_load(path, NULL, &m, &err) != WF_OK) fprintf(stderr, "load %s: %s\n", path, err.msg);
    unlink(path);
    return m;
}

#endif
