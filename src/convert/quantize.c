/* quantize.c — rewrite a GGUF model with its weight matrices in another
 * element type. Metadata is copied; general.file_type is set to the
 * llama.cpp file-type number so other tools describe the file correctly.
 *
 * Which tensors change: 2-D (or higher) weight tensors. 1-D tensors (norms,
 * biases) stay as they are: they are tiny and their precision matters. The
 * mixes keep more bits where it pays, as llama.cpp's mixes do: the output
 * matrix in Q6_K (the token embedding when the output is tied to it), and
 * attn_v / ffn_down (and for Q2_K/Q3_K attn_output) in a larger type in some
 * or all layers (mix_type; docs/quant.md states each rule); ffn_down_exps,
 * the stacked experts of a MoE model, counts as ffn_down. A MoE router
 * (ffn_gate_inp) keeps its type, as llama.cpp's quantizer keeps it: it is
 * small, and a rounding error there changes which experts run.
 * A row length the target's block does not divide falls back to a type whose
 * block does (256-element type -> 32-element type -> F16).
 */
#include "convert/quantize.h"

#include "format/gguf.h"
#include "format/quant.h"
#include "cpu/threadpool.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *const wf_quantize_ftype_names =
    "q8_0 q4_0 q4_1 q5_0 q5_1 q4_K_M q4_K_S q5_K_M q5_K_S q6_K q3_K_S q3_K_M q3_K_L q2_K iq4_xs iq4_nl "
    "mxfp4_moe f16 bf16 f32";

/* How a file type spreads its types over the tensors (docs/quant.md):
 *   MIX_PLAIN  every weight matrix in base, the output matrix in output;
 *   MIX_K_M    as plain, plus attn_v / ffn_down in "more bits" layers in more;
 *   MIX_Q2_K   attn_v, attn_output and ffn_down one step up (more);
 *   MIX_Q3_K_M attn_v in Q5_K for layers 0-1 and Q4_K after; ffn_down in
 *              Q5_K for the first 1/16 of the layers, Q4_K in "more bits"
 *              layers, base elsewhere; attn_output in Q4_K;
 *   MIX_Q3_K_L attn_v, attn_output and ffn_down in more (Q5_K);
 *   MIX_EXPERTS expert tensors (*_exps.weight) in base, everything else in
 *              more. */
typedef enum { MIX_PLAIN, MIX_K_M, MIX_Q2_K, MIX_Q3_K_M, MIX_Q3_K_L, MIX_EXPERTS } mix_kind;

typedef struct ftype_info {
    const char *name;
    wf_type base;      /* most weights                              */
    wf_type more;      /* the tensors the mix gives more bits to    */
    wf_type output;    /* output.weight                             */
    uint32_t file_type;/* llama.cpp's LLAMA_FTYPE_* value            */
    mix_kind mix;
} ftype_info;

static const ftype_info ftypes[] = {
    {"f32", WF_TYPE_F32, WF_TYPE_F32, WF_TYPE_F32, 0, MIX_PLAIN},
    {"f16", WF_TYPE_F16, WF_TYPE_F16, WF_TYPE_F16, 1, MIX_PLAIN},
    {"q4_0", WF_TYPE_Q4_0, WF_TYPE_Q4_0, WF_TYPE_Q6_K, 2, MIX_PLAIN},
    {"q4_1", WF_TYPE_Q4_1, WF_TYPE_Q4_1, WF_TYPE_Q6_K, 3, MIX_PLAIN},
    {"q8_0", WF_TYPE_Q8_0, WF_TYPE_Q8_0, WF_TYPE_Q8_0, 7, MIX_PLAIN},
    {"q5_0", WF_TYPE_Q5_0, WF_TYPE_Q5_0, WF_TYPE_Q6_K, 8, MIX_PLAIN},
    {"q5_1", WF_TYPE_Q5_1, WF_TYPE_Q5_1, WF_TYPE_Q6_K, 9, MIX_PLAIN},
    {"q2_K", WF_TYPE_Q2_K, WF_TYPE_Q3_K, WF_TYPE_Q6_K, 10, MIX_Q2_K},
    {"q3_K_S", WF_TYPE_Q3_K, WF_TYPE_Q3_K, WF_TYPE_Q6_K, 11, MIX_PLAIN},
    {"q3_K_M", WF_TYPE_Q3_K, WF_TYPE_Q4_K, WF_TYPE_Q6_K, 12, MIX_Q3_K_M},
    {"q3_K_L", WF_TYPE_Q3_K, WF_TYPE_Q5_K, WF_TYPE_Q6_K, 13, MIX_Q3_K_L},
    {"q4_K_S", WF_TYPE_Q4_K, WF_TYPE_Q4_K, WF_TYPE_Q6_K, 14, MIX_PLAIN},
    {"q4_K_M", WF_TYPE_Q4_K, WF_TYPE_Q6_K, WF_TYPE_Q6_K, 15, MIX_K_M},
    {"q5_K_S", WF_TYPE_Q5_K, WF_TYPE_Q5_K, WF_TYPE_Q6_K, 16, MIX_PLAIN},
    {"q5_K_M", WF_TYPE_Q5_K, WF_TYPE_Q6_K, WF_TYPE_Q6_K, 17, MIX_K_M},
    {"q6_K", WF_TYPE_Q6_K, WF_TYPE_Q6_K, WF_TYPE_Q6_K, 18, MIX_PLAIN},
    {"iq4_nl", WF_TYPE_IQ4_NL, WF_TYPE_IQ4_NL, WF_TYPE_Q6_K, 25, MIX_PLAIN},
    {"iq4_xs", WF_TYPE_IQ4_XS, WF_TYPE_IQ4_XS, WF_TYPE_Q6_K, 30, MIX_PLAIN},
    {"bf16", WF_TYPE_BF16, WF_TYPE_BF16, WF_TYPE_BF16, 32, MIX_PLAIN},
    {"mxfp4_moe", WF_TYPE_MXFP4, WF_TYPE_Q8_0, WF_TYPE_Q8_0, 38, MIX_EXPERTS},
};

static const ftype_info *ftype_find(const char *name) {
    for (size_t i = 0; i < sizeof ftypes / sizeof ftypes[0]; i++)
        if (!strcasecmp(ftypes[i].name, name)) return &ftypes[i];
    return NULL;
}

/* The layer index of "blk.N.xxx", or -1. */
static int layer_of(const char *name) {
    if (strncmp(name, "blk.", 4)) return -1;
    char *end;
    long v = strtol(name + 4, &end, 10);
    if (end == name + 4 || *end != '.' || v < 0 || v > 1000000) return -1;
    return (int)v;
}

static bool more_bits_layer(int i, int n) {
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !memcmp(s + a - b, suffix, b);
}

/* The type a mix gives one weight matrix that is not the output matrix. */
static wf_type mix_type(const ftype_info *ft, const char *name, int n_layer) {
    const bool attn_v = strstr(name, "attn_v.weight") != NULL;
    const bool ffn_down = strstr(name, "ffn_down.weight") != NULL || strstr(name, "ffn_down_exps.weight") != NULL;
    const bool attn_out = strstr(name, "attn_output.weight") != NULL;
    const int il = layer_of(name);
    const bool more_layer = il >= 0 && n_layer > 0 && more_bits_layer(il, n_layer);
    switch (ft->mix) {
    case MIX_PLAIN: return ft->base;
    case MIX_K_M: return (attn_v || ffn_down) && more_layer ? ft->more : ft->base;
    case MIX_Q2_K:
    case MIX_Q3_K_L: return attn_v || ffn_down || attn_out ? ft->more : ft->base;
    case MIX_Q3_K_M:
        if (attn_v) return il >= 0 && il < 2 ? WF_TYPE_Q5_K : WF_TYPE_Q4_K;
        if (ffn_down) {
            if (il >= 0 && n_layer > 0 && il < n_layer / 16) return WF_TYPE_Q5_K;
            return more_layer ? WF_TYPE_Q4_K : ft->base;
        }
        return attn_out ? WF_TYPE_Q4_K : ft->base;
    case MIX_EXPERTS: return ends_with(name, "_exps.weight") ? ft->base : ft->more;
    }
    return ft->base;
}

/* Pick the type for one tensor. With no output.weight the token embedding
 * doubles as the output matrix (tied), so it gets the output's type. */
static wf_type choose_type(const ftype_info *ft, const wf_gguf_tensor *t, int n_layer, bool tied) {
    if (t->n_dims < 2 || !ends_with(t->name, ".weight") || strstr(t->name, "ffn_gate_inp.")) return (wf_type)t->type;
    wf_type want;
    if (!strcmp(t->name, "output.weight") || (tied && !strcmp(t->name, "token_embd.weight")))
        want = ft->output;
    else
        want = mix_type(ft, t->name, n_layer);
    /* Fall back when the row length is not a multiple of the block size
     * (the 256-element types to a 32-element one of about as many bits). */
    for (int guard = 0; guard < 4; guard++) {
        const wf_type_traits *tr = wf_type_get(want);
        if (tr && t->ne[0] % tr->blck_size == 0) return want;
        switch (want) {
        case WF_TYPE_Q2_K: case WF_TYPE_Q3_K: case WF_TYPE_IQ4_XS: want = WF_TYPE_IQ4_NL; break;
        case WF_TYPE_Q4_K: want = WF_TYPE_Q5_0; break;
        case WF_TYPE_Q5_K: want = WF_TYPE_Q5_1; break;
        case WF_TYPE_Q6_K: want = WF_TYPE_Q8_0; break;
        default: want = WF_TYPE_F16; break;
        }
    }
    return WF_TYPE_F16;
}

/* One tensor's conversion, split by rows across the pool. */
typedef struct convert_job {
    const wf_type_traits *src, *dst;
    const uint8_t *in;
    uint8_t *out;
    int64_t n;        /* row length                    */
    int64_t rows;
    size_t in_row, out_row;
    float **tmp;      /* one row buffer per thread     */
} convert_job;

static void convert_rows(void *arg, int ith, int nth) {
    convert_job *j = arg;
    int64_t per = (j->rows + nth - 1) / nth;
    int64_t r0 = per * ith, r1 = r0 + per < j->rows ? r0 + per : j->rows;
    float *row = j->tmp[ith];
    for (int64_t r = r0; r < r1; r++) {
        j->src->to_float(j->in + (size_t)r * j->in_row, row, j->n);
        j->dst->from_float(row, j->out + (size_t)r * j->out_row, j->n);
    }
}

wf_status wf_quantize_file(const char *in_path, const char *out_path,
                           const wf_quantize_params *p, wf_error *err) {
    if (!in_path || !out_path || !p || !p->ftype)
        return wf_fail(err, WF_ERR_INVALID_ARG, "quantize: missing argument");
    const ftype_info *ft = ftype_find(p->ftype);
    if (!ft)
        return wf_fail(err, WF_ERR_INVALID_ARG, "quantize: unknown type '%s' (known: %s)",
                       p->ftype, wf_quantize_ftype_names);
    if (!strcmp(in_path, out_path))
        return wf_fail(err, WF_ERR_INVALID_ARG, "quantize: input and output are the same file");

    wf_gguf *g = NULL;
    wf_gguf_writer *w = NULL;
    wf_threadpool *tp = NULL;
    uint8_t **bufs = NULL;
    float **tmp = NULL;
    int n_threads = p->n_threads > 0 ? p->n_threads : wf_n_cores();
    wf_status st = wf_gguf_open(in_path, &g, err);
    if (st) return st;
    int64_t nt = wf_gguf_n_tensors(g);

    /* Layer count for the mixes: from {arch}.block_count, else from names. */
    int n_layer = 0;
    wf_str arch;
    if (wf_gguf_get_str(g, "general.architecture", &arch, NULL) == WF_OK && arch.len < 64) {
        char key[128];
        uint32_t v;
        snprintf(key, sizeof key, "%.*s.block_count", (int)arch.len, arch.ptr);
        if (wf_gguf_get_u32(g, key, &v, NULL) == WF_OK && v < 100000) n_layer = (int)v;
    }
    if (n_layer == 0)
        for (int64_t i = 0; i < nt; i++) {
            int il = layer_of(wf_gguf_tensor_at(g, i)->name);
            if (il + 1 > n_layer) n_layer = il + 1;
        }

    const bool tied = wf_gguf_find_tensor(g, "output.weight") == NULL;
    if ((st = wf_gguf_writer_create(&w, err))) goto done;
    for (int64_t i = 0; i < wf_gguf_n_kv(g); i++) {
        wf_str k = wf_gguf_key_at(g, i);
        if ((k.len == 17 && !memcmp(k.ptr, "general.file_type", 17)) ||
            (k.len == 28 && !memcmp(k.ptr, "general.quantization_version", 28)) ||
            (k.len == 17 && !memcmp(k.ptr, "general.alignment", 17)))
            continue;
        if ((st = wf_gguf_writer_copy_kv(w, g, i))) {
            st = wf_fail(err, st, "%s: cannot copy metadata key %.*s", in_path, (int)k.len, k.ptr);
            goto done;
        }
    }
    if ((st = wf_gguf_writer_set_u32(w, "general.file_type", ft->file_type)) ||
        (st = wf_gguf_writer_set_u32(w, "general.quantization_version", 2))) {
        st = wf_fail(err, st, "quantize: cannot set metadata");
        goto done;
    }

    if ((st = wf_threadpool_create(n_threads, &tp, err))) goto done;
    bufs = calloc((size_t)nt + 1, sizeof *bufs);
    tmp = calloc((size_t)n_threads, sizeof *tmp);
    if (!bufs || !tmp) {
        st = wf_fail(err, WF_ERR_NOMEM, "quantize: out of memory");
        goto done;
    }
    int64_t max_row = 1;
    for (int64_t i = 0; i < nt; i++)
        if (wf_gguf_tensor_at(g, i)->ne[0] > max_row) max_row = wf_gguf_tensor_at(g, i)->ne[0];
    for (int t = 0; t < n_threads; t++)
        if (!(tmp[t] = malloc((size_t)max_row * sizeof(float)))) {
            st = wf_fail(err, WF_ERR_NOMEM, "quantize: out of memory");
            goto done;
        }

    for (int64_t i = 0; i < nt; i++) {
        const wf_gguf_tensor *t = wf_gguf_tensor_at(g, i);
        if (p->on_tensor) p->on_tensor(i, nt, t->name, p->user);
        wf_type dt = choose_type(ft, t, n_layer, tied);
        const void *data = t->data;
        uint64_t nbytes = t->nbytes;
        if (dt != (wf_type)t->type) {
            const wf_type_traits *src = wf_type_get(t->type), *dst = wf_type_get(dt);
            char tb[32];
            if (!src || !src->to_float) {
                st = wf_fail(err, WF_ERR_UNSUPPORTED, "%s: tensor '%s' has type %s, which wafer cannot convert",
                             in_path, t->name, wf_type_name(t->type, tb, sizeof tb));
                goto done;
            }
            if (!dst || !dst->from_float) {
                st = wf_fail(err, WF_ERR_UNSUPPORTED, "quantize: no quantizer for %s",
                             wf_type_name(dt, tb, sizeof tb));
                goto done;
            }
            int64_t rows = 1;
            for (uint32_t d = 1; d < t->n_dims; d++) rows *= t->ne[d];
            convert_job j = {src, dst, t->data, NULL, t->ne[0], rows,
                             wf_row_size((wf_type)t->type, t->ne[0]), wf_row_size(dt, t->ne[0]), tmp};
            nbytes = (uint64_t)j.out_row * (uint64_t)rows;
            if (!(bufs[i] = wf_alloc_aligned(nbytes ? nbytes : 1))) {
                st = wf_fail(err, WF_ERR_NOMEM, "quantize: out of memory for tensor '%s' (%llu bytes)",
                             t->name, (unsigned long long)nbytes);
                goto done;
            }
            j.out = bufs[i];
            wf_threadpool_run(tp, convert_rows, &j);
            data = bufs[i];
        }
        if ((st = wf_gguf_writer_add_tensor(w, t->name, dt, t->n_dims, t->ne, data, nbytes, err)))
            goto done;
    }
    st = wf_gguf_writer_write(w, out_path, NULL, NULL, err);

done:
    if (bufs)
        for (int64_t i = 0; i < nt; i++) wf_free_aligned(bufs[i]);
    free(bufs);
    if (tmp)
        for (int t = 0; t < n_threads; t++) free(tmp[t]);
    free(tmp);
    wf_threadpool_free(tp);
    wf_gguf_writer_free(w);
    wf_gguf_close(g);
    return st;
}
