/* test_convert_c.c — the converter's C pieces under ASan/UBSan:
 *   permute    llama's Q/K row permutation has the property it exists for:
 *              rotating adjacent pairs of the permuted rows = rotate_half of
 *              the original rows (the math, not the implementation's formula)
 *   fuzz       the safetensors reader on thousands of mutated and truncated
 *              files: each either opens with every tensor inside the file or
 *              fails with a message; never a crash or an out-of-bounds read
 *   convert    a tiny llama checkpoint written here -> f16, q8_0 and
 *              vocab-only GGUFs that the GGUF reader accepts, with the
 *              expected tensors and keys
 */
#include "convert/convert.h"
#include "format/gguf.h"
#include "format/quant.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[256];

static void test_permute(void) {
    t_rng r = {0x1234};
    for (int hd = 2; hd <= 16; hd += 2) {
        const int n_head = 3, rows = n_head * hd;
        float x[3 * 16], p[3 * 16], y[3 * 16], z[3 * 16];
        for (int i = 0; i < rows; i++) x[i] = t_gauss(&r);
        /* rows of width 1: the vector's elements are the rows */
        wf_conv_permute_rows(x, p, n_head, hd, sizeof(float));
        const int h2 = hd / 2;
        double worst = 0;
        for (int h = 0; h < n_head; h++) {
            const float *xh = x + h * hd, *ph = p + h * hd;
            float *yh = y + h * hd, *zh = z + h * hd;
            for (int i = 0; i < h2; i++) {
                double th = 0.37 * (i + 1) + 0.1 * h, c = cos(th), s = sin(th);
                yh[i] = (float)(xh[i] * c - xh[i + h2] * s);       /* HF rotate_half */
                yh[i + h2] = (float)(xh[i + h2] * c + xh[i] * s);
                zh[2 * i] = (float)(ph[2 * i] * c - ph[2 * i + 1] * s); /* GGUF adjacent pairs */
                zh[2 * i + 1] = (float)(ph[2 * i + 1] * c + ph[2 * i] * s);
            }
        }
        /* z must be y permuted the same way */
        float py[3 * 16];
        wf_conv_permute_rows(y, py, n_head, hd, sizeof(float));
        for (int i = 0; i < rows; i++) worst = fmax(worst, fabs(py[i] - z[i]));
        CHECK(worst < 1e-6, "hd %d: adjacent-pair rope of permuted rows != permuted rotate_half (%g)", hd, worst);
    }
}

static void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) { perror(path); exit(2); }
    fwrite(data, 1, n, f);
    fclose(f);
}

static void write_text(const char *dir, const char *name, const char *text) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    write_file(p, text, strlen(text));
}

/* A safetensors image: header JSON + data for named f32/f16 tensors. */
typedef struct st_entry {
    const char *name;
    const char *dtype;
    int64_t shape[2];
    int nd;
    const float *vals;
} st_entry;

static uint8_t *make_st(const st_entry *e, int n, size_t *size) {
    char hdr[8192];
    size_t hl = 0;
    uint64_t off = 0;
    hl += (size_t)snprintf(hdr + hl, sizeof hdr - hl, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (int i = 0; i < n; i++) {
        uint64_t ne = (uint64_t)e[i].shape[0] * (uint64_t)(e[i].nd > 1 ? e[i].shape[1] : 1);
        uint64_t nb = ne * (strcmp(e[i].dtype, "F32") ? 2 : 4);
        if (e[i].nd == 1)
            hl += (size_t)snprintf(hdr + hl, sizeof hdr - hl, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%lld],\"data_offsets\":[%llu,%llu]}",
                                   e[i].name, e[i].dtype, (long long)e[i].shape[0], (unsigned long long)off,
                                   (unsigned long long)(off + nb));
        else
            hl += (size_t)snprintf(hdr + hl, sizeof hdr - hl,
                                   ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%lld,%lld],\"data_offsets\":[%llu,%llu]}", e[i].name,
                                   e[i].dtype, (long long)e[i].shape[0], (long long)e[i].shape[1], (unsigned long long)off,
                                   (unsigned long long)(off + nb));
        off += nb;
    }
    hl += (size_t)snprintf(hdr + hl, sizeof hdr - hl, "}");
    *size = 8 + hl + off;
    uint8_t *b = malloc(*size);
    for (int k = 0; k < 8; k++) b[k] = (uint8_t)((uint64_t)hl >> (8 * k));
    memcpy(b + 8, hdr, hl);
    uint8_t *d = b + 8 + hl;
    for (int i = 0; i < n; i++) {
        uint64_t ne = (uint64_t)e[i].shape[0] * (uint64_t)(e[i].nd > 1 ? e[i].shape[1] : 1);
        for (uint64_t j = 0; j < ne; j++) {
            if (!strcmp(e[i].dtype, "F32")) { memcpy(d, &e[i].vals[j], 4); d += 4; }
            else { uint16_t h = wf_fp32_to_fp16(e[i].vals[j]); memcpy(d, &h, 2); d += 2; }
        }
    }
    return b;
}

static void test_fuzz(void) {
    float v[64];
    for (int i = 0; i < 64; i++) v[i] = (float)i * 0.5f;
    st_entry e[] = {{"a", "F32", {4, 8}, 2, v}, {"b", "F16", {16, 0}, 1, v}, {"c", "BF16", {2, 3}, 2, v}};
    size_t size;
    uint8_t *img = make_st(e, 3, &size);
    char path[512];
    snprintf(path, sizeof path, "%s/fuzz.safetensors", tmpdir);
    write_file(path, img, size);
    wf_safetensors *s = NULL;
    wf_error err = {0};
    wf_status st = wf_st_open_file(path, &s, &err);
    CHECK(st == WF_OK, "valid file: %s", err.msg);
    if (st == WF_OK) {
        CHECK(wf_st_n_tensors(s) == 3, "3 tensors");
        const wf_st_tensor *a = wf_st_find(s, "a");
        CHECK(a && a->type == WF_TYPE_F32 && a->shape[0] == 4 && a->shape[1] == 8 && a->nbytes == 128, "tensor a");
        float f;
        if (a) { memcpy(&f, (const uint8_t *)a->data + 4 * 5, 4); CHECK(f == 2.5f, "a[5] = %g", f); }
        wf_st_close(s);
    }
    uint64_t hl = 0;
    for (int k = 7; k >= 0; k--) hl = (hl << 8) | img[k];
    t_rng r = {0xfeed};
    int opened = 0, failed = 0;
    uint8_t *m = malloc(size);
    for (int it = 0; it < 1500; it++) {
        memcpy(m, img, size);
        size_t n = size;
        int kind = (int)(t_next(&r) % 4);
        if (kind == 0) { /* flip bytes of the header */
            int k = 1 + (int)(t_next(&r) % 4);
            while (k--) m[8 + t_next(&r) % hl] = (uint8_t)t_next(&r);
        } else if (kind == 1) { /* truncate */
            n = (size_t)(t_next(&r) % size);
        } else if (kind == 2) { /* digits in the header change */
            for (uint64_t j = 8; j < 8 + hl; j++)
                if (m[j] >= '0' && m[j] <= '9' && t_next(&r) % 8 == 0) m[j] = (uint8_t)('0' + t_next(&r) % 10);
        } else { /* the header length */
            uint64_t nl = hl + (t_next(&r) % 64) - 32;
            if (t_next(&r) % 4 == 0) nl = t_next(&r);
            for (int k = 0; k < 8; k++) m[k] = (uint8_t)(nl >> (8 * k));
        }
        write_file(path, m, n);
        s = NULL;
        wf_error_clear(&err);
        st = wf_st_open_file(path, &s, &err);
        if (st == WF_OK) {
            opened++;
            for (int64_t i = 0; i < wf_st_n_tensors(s); i++) {
                const wf_st_tensor *t = wf_st_tensor_at(s, i);
                volatile uint8_t sum = 0;
                for (uint64_t j = 0; j < t->nbytes; j++) sum ^= ((const uint8_t *)t->data)[j]; /* ASan checks */
                (void)sum;
            }
            wf_st_close(s);
        } else {
            failed++;
            CHECK(err.msg[0] != 0, "failure without a message (status %d)", (int)st);
            CHECK(s == NULL, "failure returns no handle");
        }
    }
    printf("fuzz: 1500 mutated files, %d opened, %d rejected with a message\n", opened, failed);
    CHECK(failed > 500, "most mutations must be rejected");
    free(m);
    free(img);
}

static void test_convert(void) {
    char dir[300];
    snprintf(dir, sizeof dir, "%s/ckpt", tmpdir);
    mkdir(dir, 0755);
    enum { E = 32, HD = 16, H = 2, KV = 1, FF = 32, V = 40 };
    static float embd[V * E], q[H * HD * E], k[KV * HD * E], vv[KV * HD * E], o[E * H * HD], g[FF * E], u[FF * E],
        dn[E * FF], n1[E], n2[E], nf[E];
    t_rng r = {77};
    float *all[] = {embd, q, k, vv, o, g, u, dn};
    size_t sizes[] = {V * E, H * HD * E, KV * HD * E, KV * HD * E, E * H * HD, FF * E, FF * E, E * FF};
    for (int a = 0; a < 8; a++)
        for (size_t i = 0; i < sizes[a]; i++) all[a][i] = t_gauss(&r) * 0.2f;
    for (int i = 0; i < E; i++) n1[i] = n2[i] = nf[i] = 1.0f + 0.01f * (float)i;
    st_entry e[] = {
        {"model.embed_tokens.weight", "F16", {V, E}, 2, embd},
        {"model.layers.0.input_layernorm.weight", "F32", {E, 0}, 1, n1},
        {"model.layers.0.self_attn.q_proj.weight", "F32", {H * HD, E}, 2, q},
        {"model.layers.0.self_attn.k_proj.weight", "F32", {KV * HD, E}, 2, k},
        {"model.layers.0.self_attn.v_proj.weight", "F32", {KV * HD, E}, 2, vv},
        {"model.layers.0.self_attn.o_proj.weight", "F32", {E, H * HD}, 2, o},
        {"model.layers.0.post_attention_layernorm.weight", "F32", {E, 0}, 1, n2},
        {"model.layers.0.mlp.gate_proj.weight", "F32", {FF, E}, 2, g},
        {"model.layers.0.mlp.up_proj.weight", "F32", {FF, E}, 2, u},
        {"model.layers.0.mlp.down_proj.weight", "F32", {E, FF}, 2, dn},
        {"model.norm.weight", "F32", {E, 0}, 1, nf},
    };
    size_t size;
    uint8_t *img = make_st(e, (int)(sizeof e / sizeof e[0]), &size);
    char p[512];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    write_file(p, img, size);
    free(img);
    write_text(dir, "config.json",
               "{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":32,\"num_hidden_layers\":1,"
               "\"num_attention_heads\":2,\"num_key_value_heads\":1,\"intermediate_size\":32,\"rms_norm_eps\":1e-6,"
               "\"rope_theta\":10000.0,\"max_position_embeddings\":64,\"vocab_size\":40,\"tie_word_embeddings\":true,"
               "\"bos_token_id\":3}");
    write_text(dir, "tokenizer.json",
               "{\"added_tokens\":[{\"id\":3,\"content\":\"<|bos|>\",\"special\":true},{\"id\":4,\"content\":\"<x>\",\"special\":false}],"
               "\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":true},"
               "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},\"merges\":[[\"a\",\"b\"]]}}");
    write_text(dir, "tokenizer_config.json", "{\"chat_template\":\"{{ x }}\",\"add_bos_token\":true,\"model_max_length\":1000000000000000019884624838656}");

    const char *types[] = {"f16", "q8_0", "vocab"};
    for (int t = 0; t < 3; t++) {
        char out[512];
        snprintf(out, sizeof out, "%s/out-%s.gguf", tmpdir, types[t]);
        wf_convert_params cp = {.out_type = t == 2 ? "f16" : types[t], .vocab_only = t == 2, .n_threads = 1};
        wf_error err = {0};
        wf_status st = wf_convert(dir, out, &cp, &err);
        CHECK(st == WF_OK, "convert %s: %s", types[t], err.msg);
        if (st) continue;
        wf_gguf *gg = NULL;
        st = wf_gguf_open(out, &gg, &err);
        CHECK(st == WF_OK, "open %s: %s", out, err.msg);
        if (st) continue;
        CHECK(wf_gguf_n_tensors(gg) == (t == 2 ? 0 : 11), "%s: %lld tensors", types[t], (long long)wf_gguf_n_tensors(gg));
        wf_str s;
        CHECK(wf_gguf_get_str(gg, "tokenizer.ggml.pre", &s, &err) == WF_OK && s.len == 4 && !memcmp(s.ptr, "gpt2", 4),
              "pre gpt2");
        uint32_t bos = 0;
        CHECK(wf_gguf_get_u32(gg, "tokenizer.ggml.bos_token_id", &bos, &err) == WF_OK && bos == 3, "bos %u", bos);
        bool add = false;
        CHECK(wf_gguf_get_bool(gg, "tokenizer.ggml.add_bos_token", &add, &err) == WF_OK && add, "add_bos");
        wf_gguf_vtype et;
        uint64_t n;
        const void *data;
        CHECK(wf_gguf_get_arr(gg, "tokenizer.ggml.tokens", &et, &n, &data, &err) == WF_OK && n == V, "%llu tokens",
              (unsigned long long)n);
        if (t == 0) {
            const wf_gguf_tensor *tq = wf_gguf_find_tensor(gg, "blk.0.attn_q.weight");
            CHECK(tq && tq->type == WF_TYPE_F16 && tq->ne[0] == E && tq->ne[1] == H * HD, "attn_q f16 [32, 32]");
            if (tq) {
                /* GGUF row h*hd + 2i + j = HF row h*hd + j*hd/2 + i */
                double worst = 0;
                for (int h = 0; h < H; h++)
                    for (int i = 0; i < HD / 2; i++)
                        for (int j = 0; j < 2; j++)
                            for (int c = 0; c < E; c++) {
                                uint16_t hv;
                                memcpy(&hv, (const uint8_t *)tq->data + 2 * ((size_t)(h * HD + 2 * i + j) * E + c), 2);
                                float want = wf_fp16_to_fp32(wf_fp32_to_fp16(q[(h * HD + j * HD / 2 + i) * E + c]));
                                worst = fmax(worst, fabs(wf_fp16_to_fp32(hv) - want));
                            }
                CHECK(worst == 0, "attn_q rows permuted: worst %g", worst);
            }
            const wf_gguf_tensor *tn = wf_gguf_find_tensor(gg, "blk.0.attn_norm.weight");
            CHECK(tn && tn->type == WF_TYPE_F32 && tn->n_dims == 1, "norm stays f32");
            CHECK(!wf_gguf_find_tensor(gg, "output.weight"), "tied: no output.weight");
        }
        if (t == 1) {
            const wf_gguf_tensor *tq = wf_gguf_find_tensor(gg, "blk.0.ffn_up.weight");
            CHECK(tq && tq->type == WF_TYPE_Q8_0, "ffn_up q8_0");
        }
        wf_gguf_close(gg);
    }
    /* a missing config.json is an error naming it */
    snprintf(p, sizeof p, "%s/config.json", dir);
    unlink(p);
    char out[512];
    snprintf(out, sizeof out, "%s/bad.gguf", tmpdir);
    wf_convert_params cp = {.out_type = "f16"};
    wf_error err = {0};
    CHECK(wf_convert(dir, out, &cp, &err) != WF_OK && strstr(err.msg, "config.json"), "missing config.json: %s", err.msg);
}

/* A tokenizer.json whose few tokens have huge ids (lf_convert found one
 * with id 9,999,994: ten million padding entries, past the fuzzer's 10 s)
 * is refused at once; small gaps, and gaps config.json's vocab_size
 * pads, are kept. */
static void test_sparse_vocab(void) {
    char dir[256];
    snprintf(dir, sizeof dir, "%.200s/sparse", tmpdir);
    mkdir(dir, 0700);
    static const struct {
        const char *ids;
        int64_t n_vocab, want; /* want: table size, 0 = refused */
    } cases[] = {{"\"a\": 0, \"b\": 9999994", 0, 0},
                 {"\"a\": 0, \"b\": 70000", 0, 0},
                 {"\"a\": 0, \"b\": 1000", 0, 1001},
                 {"\"a\": 0, \"b\": 70000", 200000, 200000}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char tj[512];
        snprintf(tj, sizeof tj, "{\"pre_tokenizer\": {\"type\": \"ByteLevel\", \"use_regex\": true}, "
                           "\"model\": {\"type\": \"BPE\", \"vocab\": {%s}, \"merges\": []}}", cases[i].ids);
        write_text(dir, "tokenizer.json", tj);
        wf_gguf_writer *w = NULL;
        CHECK(wf_gguf_writer_create(&w, NULL) == WF_OK, "writer");
        wf_error err = {0};
        int64_t nt = -1;
        wf_conv_vocab_opts o = {.n_vocab = cases[i].n_vocab};
        double t0 = wf_time_now();
        wf_status st = wf_conv_vocab(dir, NULL, &o, w, &nt, &err);
        double dt = wf_time_now() - t0;
        if (cases[i].want)
            CHECK(st == WF_OK && nt == cases[i].want, "{%s} (vocab_size %lld): a table of %lld (got %lld: %s)", cases[i].ids,
                  (long long)cases[i].n_vocab, (long long)cases[i].want, (long long)nt, err.msg);
        else
            CHECK(st == WF_ERR_FORMAT && strstr(err.msg, "sparse") && dt < 1.0, "{%s}: refused as sparse in %.3f s (%s)",
                  cases[i].ids, dt, err.msg);
        wf_gguf_writer_free(w);
    }
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/wafer_convert_c_XXXXXX");
    if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 2; }
    test_permute();
    test_fuzz();
    test_convert();
    test_sparse_vocab();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return t_done("test_convert_c");
}
