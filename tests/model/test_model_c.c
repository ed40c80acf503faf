/* test_model_c.c — model loading errors, decode range errors, truncation.
 *
 * Writes small models with the C GGUF writer (a valid one, then one broken
 * variant per error: wrong architecture, missing tensor, wrong shape,
 * unsupported weight type, bad head counts, missing hyper-parameter, qwen2
 * without biases), checks each load fails with the right status and a
 * message naming the problem (ASan/LSan check that failed loads free
 * everything), then exercises wf_decode's range checks and checks that
 * truncating the cache and decoding again reproduces the first logits.
 * qwen3moe: hostile expert counts and expert tensor shapes, and contexts
 * in shared passes (tokens of several contexts grouped per expert) giving
 * the logits of each context alone, bit for bit.
 * Unit checks: the SIMD attention loops against the scalar reference at odd
 * sizes; the AVX-512 exp against double exp; the fused tile kernels against
 * wf_attn_tile_ref (and batched vs one query per call, bit for bit); and
 * wf_attention (every ISA; whole, blocked prefill, one token per call and
 * split-K, several thread counts, f32 / f16 / q8_0 cache) against the
 * two-pass reference wf_attention_ref.
 */
#include "format/gguf.h"
#include "model/model_int.h"
#include "format/quant.h"
#include "testutil.h"
#include "wafer.h"

#include <string.h>
#include <unistd.h>

enum { E = 256, H = 4, KV = 2, HD = 64, FF = 256, V = 40, NCTX = 64 };

typedef struct variant {
    const char *arch;
    const char *skip_tensor;   /* leave this tensor out                      */
    const char *bad_shape;     /* give this tensor one row too many          */
    const char *i8_tensor;     /* store this tensor as i8 (not a weight type) */
    int n_head_kv;
    bool skip_head_count;
    int vocab_n;               /* > 0: add a gpt2 vocabulary of this many tokens */
    const char *u32_key;       /* "{arch}." + this key set to u32_val (override) */
    uint32_t u32_val;
    const char *str_key;       /* "{arch}." + this key set to str_val           */
    const char *str_val;
    /* qwen3moe (arch "qwen3moe"): NEXP experts in the tensors, 2 used */
    const char *exp_bad_experts; /* this expert tensor gets NEXP - 1 experts  */
    const char *exp_bad_rows;    /* this expert tensor gets one row too many  */
    const char *exp_bad_cols;    /* this expert tensor gets one column too many */
} variant;

enum { NEXP = 4, FFE = 64 };

static float *rand_buf(t_rng *r, size_t n, float scale) {
    float *p = malloc(n * sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = t_gauss(r) * scale;
    return p;
}

/* Writes the model; returns 0 on success. */
static int write_model(const char *path, const variant *vr) {
    t_rng r = {0x1234567u};
    wf_error err = {0};
    wf_gguf_writer *w = NULL;
    if (wf_gguf_writer_create(&w, &err) != WF_OK) return 1;
    const char *a = vr->arch ? vr->arch : "llama";
    char key[128];
    wf_gguf_writer_set_str(w, "general.architecture", a, strlen(a));
#define KEYU(suffix, v) (snprintf(key, sizeof key, "%s.%s", a, suffix), wf_gguf_writer_set_u32(w, key, v))
    KEYU("context_length", 128);
    KEYU("embedding_length", E);
    KEYU("block_count", 1);
    KEYU("feed_forward_length", FF);
    if (!vr->skip_head_count) KEYU("attention.head_count", H);
    KEYU("attention.head_count_kv", vr->n_head_kv ? vr->n_head_kv : KV);
    snprintf(key, sizeof key, "%s.attention.layer_norm_rms_epsilon", a);
    wf_gguf_writer_set_f32(w, key, 1e-5f);
    const bool moe = !strcmp(a, "qwen3moe") || !strcmp(a, "gpt-oss");
    if (moe) {
        KEYU("expert_count", NEXP);
        KEYU("expert_used_count", 2);
        KEYU("expert_feed_forward_length", FFE);
    }
    if (vr->u32_key) KEYU(vr->u32_key, vr->u32_val); /* replaces a key written above */
    if (vr->str_key) {
        snprintf(key, sizeof key, "%s.%s", a, vr->str_key);
        wf_gguf_writer_set_str(w, key, vr->str_val, strlen(vr->str_val));
    }
#undef KEYU
    if (vr->vocab_n > 0) {
        char (*names)[16] = calloc((size_t)vr->vocab_n, 16);
        wf_str *items = calloc((size_t)vr->vocab_n, sizeof *items);
        for (int i = 0; i < vr->vocab_n; i++) {
            snprintf(names[i], 16, "t%d", i);
            items[i] = (wf_str){names[i], strlen(names[i])};
        }
        wf_gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2", 4);
        wf_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", items, (uint64_t)vr->vocab_n);
        wf_gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", items, 0);
        free(names);
        free(items);
    }
    struct { const char *name; int64_t ne0, ne1; float scale; } ts[] = {
        {"token_embd.weight", E, V, 1.0f},
        {"output_norm.weight", E, 1, 0},
        {"output.weight", E, V, 0.1f},
        {"blk.0.attn_norm.weight", E, 1, 0},
        {"blk.0.attn_q.weight", E, H * HD, 0.1f},
        {"blk.0.attn_k.weight", E, KV * HD, 0.1f},
        {"blk.0.attn_v.weight", E, KV * HD, 0.1f},
        {"blk.0.attn_output.weight", H * HD, E, 0.06f},
        {"blk.0.ffn_norm.weight", E, 1, 0},
        {"blk.0.ffn_gate.weight", E, FF, 0.06f},
        {"blk.0.ffn_up.weight", E, FF, 0.06f},
        {"blk.0.ffn_down.weight", FF, E, 0.06f},
    };
    /* qwen3moe: q/k norms, router and stacked experts instead of the dense FFN */
    struct { const char *name; int64_t ne0, ne1, ne2; float scale; } mts[] = {
        {"blk.0.attn_q_norm.weight", HD, 1, 1, 0},
        {"blk.0.attn_k_norm.weight", HD, 1, 1, 0},
        {"blk.0.ffn_gate_inp.weight", E, NEXP, 1, 0.1f},
        {"blk.0.ffn_gate_exps.weight", E, FFE, NEXP, 0.06f},
        {"blk.0.ffn_up_exps.weight", E, FFE, NEXP, 0.06f},
        {"blk.0.ffn_down_exps.weight", FFE, E, NEXP, 0.06f},
    };
    const size_t n_dense = sizeof ts / sizeof ts[0], n_moe = sizeof mts / sizeof mts[0];
    void *bufs[32] = {0};
    int nb = 0, rc = 0;
    for (size_t i = 0; i < n_dense + (moe ? n_moe : 0); i++) {
        const char *name = i < n_dense ? ts[i].name : mts[i - n_dense].name;
        if (moe && i < n_dense && strstr(name, "ffn_") && !strstr(name, "ffn_norm")) continue;
        if (vr->skip_tensor && !strcmp(vr->skip_tensor, name)) continue;
        int64_t ne[3] = {i < n_dense ? ts[i].ne0 : mts[i - n_dense].ne0, i < n_dense ? ts[i].ne1 : mts[i - n_dense].ne1,
                         i < n_dense ? 1 : mts[i - n_dense].ne2};
        const float scale = i < n_dense ? ts[i].scale : mts[i - n_dense].scale;
        if (vr->bad_shape && !strcmp(vr->bad_shape, name)) ne[1]++;
        if (vr->exp_bad_experts && !strcmp(vr->exp_bad_experts, name)) ne[2]--;
        if (vr->exp_bad_rows && !strcmp(vr->exp_bad_rows, name)) ne[1]++;
        if (vr->exp_bad_cols && !strcmp(vr->exp_bad_cols, name)) ne[0]++;
        const uint32_t nd = ne[2] > 1 ? 3 : ne[1] == 1 ? 1 : 2;
        size_t n = (size_t)(ne[0] * ne[1] * ne[2]);
        if (vr->i8_tensor && !strcmp(vr->i8_tensor, name)) {
            size_t bytes = n;
            bufs[nb] = calloc(1, bytes);
            if (wf_gguf_writer_add_tensor(w, name, (wf_type)24 /* i8 */, nd, ne, bufs[nb], bytes, &err) != WF_OK) rc = 1;
        } else {
            float *p = rand_buf(&r, n, scale);
            if (scale == 0)
                for (size_t j = 0; j < n; j++) p[j] = 1.0f + 0.1f * t_unif(&r);
            bufs[nb] = p;
            if (wf_gguf_writer_add_tensor(w, name, WF_TYPE_F32, nd, ne, p, n * 4, &err) != WF_OK) rc = 1;
        }
        nb++;
    }
    if (rc == 0 && wf_gguf_writer_write(w, path, NULL, NULL, &err) != WF_OK) rc = 1;
    if (rc) fprintf(stderr, "writer: %s\n", err.msg);
    wf_gguf_writer_free(w);
    for (int i = 0; i < nb; i++) free(bufs[i]);
    return rc;
}

static void expect_load_error(const char *dir, const char *name, const variant *vr, wf_status want,
                              const char *needle) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s.gguf", dir, name);
    CHECK(write_model(path, vr) == 0, "%s: could not write", name);
    wf_model *m = NULL;
    wf_error err = {0};
    wf_status st = wf_model_load(path, NULL, &m, &err);
    CHECK(st == want, "%s: status %s, want %s (%s)", name, wf_status_name(st), wf_status_name(want), err.msg);
    CHECK(m == NULL, "%s: model returned on failure", name);
    CHECK(strstr(err.msg, needle) != NULL, "%s: message '%s' should mention '%s'", name, err.msg, needle);
    printf("  %-14s -> %s: %s\n", name, wf_status_name(st), err.msg);
    wf_model_free(m);
    unlink(path);
}

static bool cancel_cb(uint64_t done, uint64_t total, void *user) {
    (void)total;
    (*(int *)user)++;
    return done == 0;
}

static float max_diff(const float *a, const float *b, size_t n) {
    float d = 0;
    for (size_t i = 0; i < n; i++) {
        float x = fabsf(a[i] - b[i]);
        if (!(x <= d)) d = x; /* NaN-aware */
    }
    return d;
}

/* ---- attention kernels and attention against references ---- */

static float rel_err(const float *a, const float *b, size_t n) {
    float d = 0, m = 1e-6f;
    for (size_t i = 0; i < n; i++) {
        float x = fabsf(a[i] - b[i]);
        if (!(x <= d)) d = x;
        if (fabsf(b[i]) > m) m = fabsf(b[i]);
    }
    return d / m;
}

static void test_attn_kernels(void) {
    wf_cpu_features f;
    wf_cpu_detect(&f);
    const wf_isa best = wf_cpu_best_isa(&f);
    t_rng r = {99};
    const int hds[] = {8, 16, 24, 64, 128, 136};
    const int nts[] = {1, 2, 3, 63, 64};
    float q[136], K[64 * 136], V[64 * 136], s0[64], s1[64], a0[136], a1[136], p[64];
    for (size_t a = 0; a < sizeof hds / sizeof hds[0]; a++) {
        const int hd = hds[a];
        wf_attn_kernels ref, fast;
        wf_attn_kernels_fill_scalar(&ref);
        wf_attn_kernels_init(&fast, best, hd);
        for (size_t b = 0; b < sizeof nts / sizeof nts[0]; b++) {
            const int nt = nts[b];
            for (int i = 0; i < hd; i++) q[i] = t_gauss(&r);
            for (int i = 0; i < nt * hd; i++) K[i] = t_gauss(&r), V[i] = t_gauss(&r);
            for (int j = 0; j < nt; j++) p[j] = (t_unif(&r) + 1) * 0.5f;
            ref.scores(q, K, nt, hd, 0.125f, s0);
            fast.scores(q, K, nt, hd, 0.125f, s1);
            CHECK(rel_err(s1, s0, (size_t)nt) < 1e-5f, "scores hd %d nt %d isa %d: %g", hd, nt, fast.isa,
                  rel_err(s1, s0, (size_t)nt));
            for (int i = 0; i < hd; i++) a0[i] = a1[i] = t_gauss(&r);
            ref.accum(a0, p, V, nt, hd);
            fast.accum(a1, p, V, nt, hd);
            CHECK(rel_err(a1, a0, (size_t)hd) < 1e-5f, "accum hd %d nt %d: %g", hd, nt, rel_err(a1, a0, (size_t)hd));
        }
        if (fast.q8_0_to_float) {
            float src[8 * 32], x0[8 * 32], x1[8 * 32];
            wf_block_q8_0 blk[8];
            for (int i = 0; i < 8 * 32; i++) src[i] = t_gauss(&r) * 3;
            const wf_type_traits *tr = wf_type_get(WF_TYPE_Q8_0);
            tr->from_float(src, blk, 8 * 32);
            tr->to_float(blk, x0, 8 * 32);
            fast.q8_0_to_float(blk, x1, 8 * 32);
            CHECK(memcmp(x0, x1, sizeof x0) == 0, "q8_0 decode differs from the reference");
        }
    }
}

/* The AVX-512 exp against double exp: relative error where the result is
 * a normal float, absolute error below that (denormal / flushed range). */
static void test_attn_exp(void) {
#if defined(WF_X86)
    wf_cpu_features f;
    wf_cpu_detect(&f);
    if (wf_cpu_best_isa(&f) < WF_ISA_AVX512) { printf("  (no AVX-512: exp skipped)\n"); return; }
    double worst_rel = 0, worst_abs = 0;
    float at = 0;
    for (int i = 0; i <= 2000000; i++) {
        const float x = -104.0f * (float)i / 2000000.0f;
        const double e = exp((double)x), y = wf_attn_exp_avx512(x);
        if (e > 1.2e-38) {
            const double rel = fabs(y - e) / e;
            if (!(rel <= worst_rel)) worst_rel = rel, at = x;
        } else if (!(fabs(y - e) <= worst_abs)) worst_abs = fabs(y - e);
    }
    /* exact points and the edges the online softmax relies on */
    CHECK(wf_attn_exp_avx512(0.0f) == 1.0f, "exp(0) = %.9g", wf_attn_exp_avx512(0.0f));
    CHECK(wf_attn_exp_avx512(-INFINITY) <= 1.5e-45f && wf_attn_exp_avx512(-INFINITY) >= 0, "exp(-inf) = %g",
          wf_attn_exp_avx512(-INFINITY));
    CHECK(wf_attn_exp_avx512(-1e30f) <= 1.5e-45f, "exp(-1e30) = %g", wf_attn_exp_avx512(-1e30f));
    CHECK(worst_rel < 1.2e-7, "exp: max rel err %.3g at x = %.9g", worst_rel, at);
    CHECK(worst_abs < 2e-44, "exp: max abs err below the normal range %.3g", worst_abs);
    printf("  avx512 exp on [-104, 0] (2M points): max rel err %.3g (%.2f ulp at 2^-24) at x = %.7g; "
           "denormal range abs %.2g\n", worst_rel, worst_rel / 5.96e-8, at, worst_abs);
#endif
}

/* The ISA's exp_weights (scores -> exp(s - m), their sum) against double
 * exp: a sweep of s - m over [-87, 0] in tiles of every length up to 64
 * (so every tail path runs), relative error of each weight and of the sum. */
static void test_attn_exp_weights(void) {
    wf_cpu_features f;
    wf_cpu_detect(&f);
    const wf_isa best = wf_cpu_best_isa(&f);
    for (wf_isa isa = WF_ISA_AVX2; isa <= best; isa++) {
        wf_attn_kernels ak;
        wf_attn_kernels_init(&ak, isa, 128);
        if (!ak.exp_weights) continue;
        double worst = 0, worst_sum = 0;
        float s[WF_ATTN_TILE];
        long cnt = 0;
        for (int rep = 0; rep < 400; rep++)
            for (int nt = 1; nt <= WF_ATTN_TILE; nt++) {
                const float m = rep % 3 == 0 ? 0.0f : 3.5f * (float)(rep % 7); /* m >= every s */
                double want_sum = 0;
                double want[WF_ATTN_TILE];
                for (int j = 0; j < nt; j++) {
                    const float x = -87.0f * (float)((cnt++ * 7919) % 1000003) / 1000003.0f;
                    s[j] = m + x;
                    want[j] = exp((double)s[j] - (double)m);
                    want_sum += want[j];
                }
                const double got_sum = ak.exp_weights(s, nt, m);
                for (int j = 0; j < nt; j++) {
                    const double e = fabs(s[j] - want[j]) / want[j];
                    if (want[j] > 1.2e-38 && !(e <= worst)) worst = e;
                }
                const double es = fabs(got_sum - want_sum) / want_sum;
                if (!(es <= worst_sum)) worst_sum = es;
            }
        /* s = m + x is built so that s - m is exact in float */
        CHECK(worst < 1.5e-7, "isa %d exp_weights: max rel err %g", isa, worst);
        CHECK(worst_sum < 6e-7, "isa %d exp_weights sum: max rel err %g", isa, worst_sum);
        printf("  %s exp_weights over [-87, 0]: max rel err %.3g per weight, %.3g for the sum\n", wf_isa_name(isa),
               worst, worst_sum);
    }
}

/* Fused tile kernels (each ISA up to the best) against wf_attn_tile_ref,
 * at odd tile lengths and query counts, two steps (first tile, then a tile
 * that rescales or not); and per-query independence: the same queries in one
 * call, one by one and in an uneven split give bit-identical partials. */
static void test_attn_tile(void) {
    wf_cpu_features f;
    wf_cpu_detect(&f);
    const wf_isa best = wf_cpu_best_isa(&f);
    t_rng r = {1234};
    const int hds[] = {32, 64, 96, 128};
    const int nts[] = {1, 5, 15, 16, 17, 33, 63, 64};
    const wf_type els[] = {WF_TYPE_F32, WF_TYPE_F16, WF_TYPE_Q8_0};
    enum { MQ = 7, MHD = 128, T = WF_ATTN_TILE };
    float *q = malloc(sizeof(float) * MQ * MHD), *src = malloc(sizeof(float) * 2 * T * MHD);
    uint8_t *K = malloc(2 * T * MHD * 4), *Vb = malloc(2 * T * MHD * 4);
    float p0[MQ * (MHD + 2)], p1[MQ * (MHD + 2)], p2[MQ * (MHD + 2)];
    int n_fused = 0;
    float worst = 0;
    for (wf_isa isa = WF_ISA_AVX2; isa <= best; isa++)
        for (size_t a = 0; a < sizeof hds / sizeof hds[0]; a++) {
            const int hd = hds[a];
            wf_attn_kernels ak;
            wf_attn_kernels_init(&ak, isa, hd);
            for (size_t e = 0; e < 3; e++) {
                const wf_type el = els[e];
                const wf_attn_tile_fn fn = el == WF_TYPE_F32 ? ak.tile_f32 : el == WF_TYPE_F16 ? ak.tile_f16 : ak.tile_q8_0;
                if (!fn) continue;
                const wf_type_traits *tr = wf_type_get(el);
                const size_t rb = wf_row_size(el, hd);
                for (size_t b = 0; b < sizeof nts / sizeof nts[0]; b++)
                    for (int nq = 1; nq <= MQ; nq++) {
                        const int nt = nts[b];
                        for (int i = 0; i < nq * hd; i++) q[i] = t_gauss(&r) * 0.5f;
                        for (int i = 0; i < 2 * nt * hd; i++) src[i] = t_gauss(&r);
                        for (int j = 0; j < 2 * nt; j++) {
                            tr->from_float(src + (size_t)j * hd, K + j * rb, hd);
                            for (int i = 0; i < hd; i++) src[(size_t)j * hd + i] = t_gauss(&r);
                            tr->from_float(src + (size_t)j * hd, Vb + j * rb, hd);
                        }
                        for (int g = 0; g < nq; g++) {
                            float *pg = p0 + g * (hd + 2);
                            pg[0] = -INFINITY;
                            for (int i = 1; i < hd + 2; i++) pg[i] = 0;
                        }
                        memcpy(p1, p0, sizeof p0);
                        /* step 1 (m = -inf), step 2 with the second half, scale
                         * 0.3 then 0.6 so some queries rescale and some do not */
                        for (int step = 0; step < 2; step++) {
                            const float sc = step ? 0.6f : 0.3f;
                            wf_attn_tile_ref(el, q, nq, K + step * nt * rb, Vb + step * nt * rb, rb, nt, hd, sc, p0);
                            fn(q, nq, K + step * nt * rb, Vb + step * nt * rb, rb, nt, hd, sc, p1);
                            if (step == 0) memcpy(p2, p1, sizeof p1);
                        }
                        /* second step again, one query per call: must equal p1 bit for bit */
                        for (int g = 0; g < nq; g++)
                            fn(q + g * hd, 1, K + nt * rb, Vb + nt * rb, rb, nt, hd, 0.6f, p2 + g * (hd + 2));
                        CHECK(memcmp(p1, p2, sizeof(float) * nq * (hd + 2)) == 0,
                              "tile isa %d hd %d el %d nt %d nq %d: one-by-one differs from batched", isa, hd, (int)el, nt, nq);
                        for (int g = 0; g < nq; g++) {
                            const float *a0 = p0 + g * (hd + 2), *a1 = p1 + g * (hd + 2);
                            /* compare normalised outputs and m, l */
                            float o0[MHD], o1[MHD];
                            for (int i = 0; i < hd; i++) o0[i] = a0[2 + i] / a0[1], o1[i] = a1[2 + i] / a1[1];
                            float err = rel_err(o1, o0, (size_t)hd);
                            const float em = fabsf(a1[0] - a0[0]) / (fabsf(a0[0]) + 1), el_ = fabsf(a1[1] - a0[1]) / a0[1];
                            if (em > err) err = em;
                            if (el_ > err) err = el_;
                            if (!(err <= worst)) worst = err;
                            CHECK(err < 1e-5f, "tile isa %d hd %d el %d nt %d nq %d q %d: rel err %g", isa, hd, (int)el, nt,
                                  nq, g, err);
                        }
                        n_fused++;
                    }
            }
        }
    printf("  fused attention tiles: %d cases vs scalar reference, worst rel err %.2e\n", n_fused, worst);
    free(q), free(src), free(K), free(Vb);
}

static void test_attention(void) {
    enum { NH = 6, NKV = 2, AHD = 64, ACTX = 1100 };
    wf_hparams hp = {.n_layer = 1, .n_head = NH, .n_head_kv = NKV, .head_dim = AHD};
    wf_threadpool *tp = NULL;
    wf_error err = {0};
    CHECK(wf_threadpool_create(2, &tp, &err) == WF_OK, "pool: %s", err.msg);
    wf_cpu_features f;
    wf_cpu_detect(&f);
    wf_kernels kern;
    wf_kernels_init(&kern, wf_cpu_best_isa(&f));
    t_rng r = {7};
    const wf_kv_type types[] = {WF_KV_F32, WF_KV_F16, WF_KV_Q8_0};
    float *kbuf = malloc(sizeof(float) * NKV * AHD), *vbuf = malloc(sizeof(float) * NKV * AHD);
    enum { NT = 40 };
    float *q = malloc(sizeof(float) * NT * NH * AHD);
    float *o1 = malloc(sizeof(float) * NT * NH * AHD), *o2 = malloc(sizeof(float) * NT * NH * AHD);
    float *o3 = malloc(sizeof(float) * NT * NH * AHD);
    float ref[AHD];
    for (size_t ti = 0; ti < 3; ti++) {
        wf_kv_cache kv;
        CHECK(wf_kv_init(&kv, &hp, ACTX, ACTX, types[ti], &kern, &err) == WF_OK, "kv init: %s", err.msg);
        for (int pos = 0; pos < ACTX; pos++) {
            for (int i = 0; i < NKV * AHD; i++) kbuf[i] = t_gauss(&r), vbuf[i] = t_gauss(&r);
            wf_kv_store(&kv, 0, pos, kbuf, vbuf);
        }
        const wf_to_float_fn kv_decode = kv.to_float;
        /* every ISA up to the best: generic path (scalar, avx2) and fused tiles */
        for (wf_isa isa = WF_ISA_SCALAR; isa <= kern.isa; isa++) {
            wf_attn_kernels ak;
            wf_attn_kernels_init(&ak, isa, AHD);
            kv.to_float = kv.elem == WF_TYPE_Q8_0 && ak.q8_0_to_float ? ak.q8_0_to_float : kv_decode;
            const size_t sf = wf_attn_scratch_floats(AHD, NH / NKV);
            float *scr = malloc(sizeof(float) * sf * 8);
            float *part = malloc(sizeof(float) * wf_attn_partial_floats(NH, AHD, ACTX));
            /* (pos0, n_tok, qscale): prefill from 0; a few tokens late in the
             * cache (split-K when allowed); sharp scores to stress rescaling;
             * prefill blocks across the chunk boundary at 512 and at odd
             * tile offsets */
            const struct { int pos0, n; float qs; } cs[] = {
                {0, NT, 0.3f}, {1090, 3, 0.3f}, {1097, 1, 4.0f}, {600, 4, 1.0f}, {493, NT, 1.0f}, {1043, NT, 2.0f}};
            for (size_t c = 0; c < sizeof cs / sizeof cs[0]; c++) {
                const int n = cs[c].n;
                for (int i = 0; i < n * NH * AHD; i++) q[i] = t_gauss(&r) * cs[c].qs;
                /* whole mode (no partial buffer), single thread: blocks of 8 tokens */
                wf_attention(NULL, &ak, &kv, 0, NH, q, o1, n, cs[c].pos0, 0.125f, scr, NULL, 1);
                /* split-K allowed, pool with a thread count that makes it split
                 * (or, for big batches, smaller blocks) */
                wf_attention(tp, &ak, &kv, 0, NH, q, o2, n, cs[c].pos0, 0.125f, scr, part, 8);
                CHECK(memcmp(o1, o2, sizeof(float) * n * NH * AHD) == 0,
                      "isa %d kv %d case %zu: split-K / pool differs from whole", isa, (int)types[ti], c);
                /* one token per call */
                for (int t = 0; t < n; t++)
                    wf_attention(NULL, &ak, &kv, 0, NH, q + (size_t)t * NH * AHD, o3 + (size_t)t * NH * AHD, 1,
                                 cs[c].pos0 + t, 0.125f, scr, NULL, 1);
                CHECK(memcmp(o1, o3, sizeof(float) * n * NH * AHD) == 0,
                      "isa %d kv %d case %zu: one token per call differs from the batch", isa, (int)types[ti], c);
                float worst = 0;
                for (int t = 0; t < n; t++)
                    for (int h = 0; h < NH; h++) {
                        wf_attention_ref(&kv, 0, h / (NH / NKV), q + ((size_t)t * NH + h) * AHD, ref, cs[c].pos0 + t,
                                         0.125f);
                        float e = rel_err(o1 + ((size_t)t * NH + h) * AHD, ref, AHD);
                        if (!(e <= worst)) worst = e;
                    }
                CHECK(worst < 2e-5f, "isa %d kv %d case %zu: attention vs reference rel %g", isa, (int)types[ti], c,
                      worst);
                printf("  attention isa=%s kv=%d pos0=%d n=%d: rel err vs two-pass reference %.2e\n", wf_isa_name(isa),
                       (int)types[ti], cs[c].pos0, n, worst);
            }
            free(scr);
            free(part);
        }
        kv.to_float = kv_decode;
        wf_kv_free(&kv);
    }
    free(kbuf); free(vbuf); free(q); free(o1); free(o2); free(o3);
    wf_threadpool_free(tp);
}

static void test_ctx_cap(void) {
    const uint64_t MiB = 1024 * 1024, per_tok = 28672; /* Qwen2.5-1.5B f16 KV */
    CHECK(wf_context_cap_n_ctx(32768, per_tok, 100 * MiB, 0) == 32768, "unknown memory");
    CHECK(wf_context_cap_n_ctx(32768, per_tok, 100 * MiB, 64 * 1024 * MiB) == 32768, "fits");
    /* 4 GiB available: 0.9*4096 - 1100 MiB = 2586.4 MiB -> 94585 tokens -> 94464 */
    int32_t n = wf_context_cap_n_ctx(131072, per_tok, 1100 * MiB, 4096 * MiB);
    CHECK(n == 94464, "capped to %d", n);
    CHECK(wf_context_cap_n_ctx(131072, per_tok, 4000 * MiB, 4096 * MiB) == 256, "floor of 256");
    CHECK(wf_context_cap_n_ctx(100, per_tok, 4000 * MiB, 4096 * MiB) == 100, "tiny training context");
}

/* The shared vocabulary-only GGUFs: vocab_only loads them; a full load
 * says what is wrong instead of failing somewhere deep. */
static void test_shared_vocab(void) {
    const char *dir = t_shared_dir();
    if (!dir) { printf("  (no shared dir: vocab-only files skipped)\n"); return; }
    char path[1024];
    snprintf(path, sizeof path, "%s/vocab/ggml-vocab-deepseek-coder.gguf", dir);
    if (access(path, R_OK) != 0) { printf("  (%s absent: skipped)\n", path); return; }
    wf_model_params p = wf_model_default_params();
    p.vocab_only = true;
    wf_model *m = NULL;
    wf_error e = {0};
    CHECK(wf_model_load(path, &p, &m, &e) == WF_OK, "vocab_only: %s", e.msg);
    CHECK(m && wf_model_n_vocab(m) == 32256 && wf_model_vocab(m), "deepseek-coder vocab: %d", m ? wf_model_n_vocab(m) : -1);
    wf_model_free(m);
    m = NULL;
    p.vocab_only = false;
    wf_status st = wf_model_load(path, &p, &m, &e);
    CHECK(st == WF_ERR_FORMAT && strstr(e.msg, "vocab"), "full load of a vocab file: %s %s", wf_status_name(st), e.msg);
    wf_model_free(m);
}

int main(void) {
    test_ctx_cap();
    test_shared_vocab();
    test_attn_kernels();
    test_attn_exp();
    test_attn_exp_weights();
    test_attn_tile();
    test_attention();

    char dir[] = "/tmp/wf_model_c_XXXXXX";
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }

    /* ---- loading errors ---- */
    variant v;
    v = (variant){.arch = "gpt2"};
    expect_load_error(dir, "arch", &v, WF_ERR_UNSUPPORTED, "gpt2");
    v = (variant){.skip_tensor = "blk.0.ffn_up.weight"};
    expect_load_error(dir, "missing", &v, WF_ERR_FORMAT, "blk.0.ffn_up.weight");
    v = (variant){.bad_shape = "blk.0.attn_k.weight"};
    expect_load_error(dir, "shape", &v, WF_ERR_FORMAT, "blk.0.attn_k.weight");
    v = (variant){.bad_shape = "output_norm.weight"};
    expect_load_error(dir, "shape_norm", &v, WF_ERR_FORMAT, "output_norm.weight");
    v = (variant){.i8_tensor = "blk.0.ffn_gate.weight"};
    expect_load_error(dir, "i8", &v, WF_ERR_UNSUPPORTED, "i8");
    v = (variant){.n_head_kv = 3};
    expect_load_error(dir, "heads", &v, WF_ERR_FORMAT, "head counts");
    v = (variant){.skip_head_count = true};
    expect_load_error(dir, "no_hparam", &v, WF_ERR_FORMAT, "attention.head_count");
    v = (variant){.arch = "qwen2"};
    expect_load_error(dir, "qwen2_bias", &v, WF_ERR_FORMAT, "attn_q.bias");
    v = (variant){.vocab_n = V + 1};
    expect_load_error(dir, "vocab_size", &v, WF_ERR_FORMAT, "tokenizer");
    /* hostile hyper-parameters */
    v = (variant){.u32_key = "attention.head_count_kv", .u32_val = 0};
    expect_load_error(dir, "kv_heads_0", &v, WF_ERR_FORMAT, "head counts");
    v = (variant){.u32_key = "embedding_length", .u32_val = 0};
    expect_load_error(dir, "n_embd_0", &v, WF_ERR_FORMAT, "embedding_length");
    v = (variant){.u32_key = "embedding_length", .u32_val = 0xFFFFFFFFu};
    expect_load_error(dir, "n_embd_huge", &v, WF_ERR_FORMAT, "embedding_length");
    v = (variant){.u32_key = "block_count", .u32_val = 3};
    expect_load_error(dir, "layers_3", &v, WF_ERR_FORMAT, "blk.1.attn_norm.weight");
    v = (variant){.u32_key = "rope.dimension_count", .u32_val = 63};
    expect_load_error(dir, "rope_odd", &v, WF_ERR_FORMAT, "rope.dimension_count");
    v = (variant){.u32_key = "attention.key_length", .u32_val = 48};
    expect_load_error(dir, "key_length", &v, WF_ERR_FORMAT, "attn_q.weight");
    v = (variant){.u32_key = "context_length", .u32_val = 0};
    expect_load_error(dir, "ctx_0", &v, WF_ERR_FORMAT, "context_length");
    v = (variant){.str_key = "rope.scaling.type", .str_val = "longrope"};
    expect_load_error(dir, "longrope", &v, WF_ERR_UNSUPPORTED, "longrope");
    v = (variant){.u32_key = "vocab_size", .u32_val = V + 5};
    expect_load_error(dir, "vocab_key", &v, WF_ERR_FORMAT, "token_embd.weight");
    /* hostile mixtures of experts (the tensors hold NEXP = 4 experts, 2 used) */
    v = (variant){.arch = "qwen3moe", .u32_key = "expert_count", .u32_val = 0};
    expect_load_error(dir, "experts_0", &v, WF_ERR_FORMAT, "expert_count = 0");
    v = (variant){.arch = "qwen3moe", .u32_key = "expert_count", .u32_val = 0xFFFFFFFFu};
    expect_load_error(dir, "experts_huge", &v, WF_ERR_FORMAT, "expert_count");
    v = (variant){.arch = "qwen3moe", .u32_key = "expert_count", .u32_val = NEXP + 4};
    expect_load_error(dir, "experts_8", &v, WF_ERR_FORMAT, "ffn_gate_inp.weight");
    v = (variant){.arch = "qwen3moe", .u32_key = "expert_count", .u32_val = NEXP - 1}; /* fewer than the tensors hold */
    expect_load_error(dir, "experts_3", &v, WF_ERR_FORMAT, "ffn_gate_inp.weight");
    v = (variant){.arch = "qwen3moe", .u32_key = "expert_used_count", .u32_val = NEXP + 1};
    expect_load_error(dir, "used_5", &v, WF_ERR_FORMAT, "expert_used_count = 5");
    v = (variant){.arch = "qwen3moe", .u32_key = "expert_used_count", .u32_val = 0};
    expect_load_error(dir, "used_0", &v, WF_ERR_FORMAT, "expert_used_count = 0");
    v = (variant){.arch = "qwen3moe", .u32_key = "expert_feed_forward_length", .u32_val = 0};
    expect_load_error(dir, "exp_ff_0", &v, WF_ERR_FORMAT, "feed_forward_length");
    v = (variant){.arch = "qwen3moe", .exp_bad_experts = "blk.0.ffn_down_exps.weight"};
    expect_load_error(dir, "exps_3", &v, WF_ERR_FORMAT, "ffn_down_exps.weight");
    v = (variant){.arch = "qwen3moe", .exp_bad_rows = "blk.0.ffn_gate_exps.weight"};
    expect_load_error(dir, "exps_rows", &v, WF_ERR_FORMAT, "ffn_gate_exps.weight");
    v = (variant){.arch = "qwen3moe", .exp_bad_cols = "blk.0.ffn_down_exps.weight"};
    expect_load_error(dir, "exps_cols", &v, WF_ERR_FORMAT, "ffn_down_exps.weight");
    v = (variant){.arch = "qwen3moe", .exp_bad_experts = "blk.0.ffn_gate_exps.weight"};
    expect_load_error(dir, "exps_gate_3", &v, WF_ERR_FORMAT, "ffn_gate_exps.weight");
    v = (variant){.arch = "qwen3moe", .skip_tensor = "blk.0.ffn_up_exps.weight"};
    expect_load_error(dir, "exps_missing", &v, WF_ERR_FORMAT, "ffn_up_exps.weight");
    v = (variant){.arch = "qwen3moe", .skip_tensor = "blk.0.attn_k_norm.weight"};
    expect_load_error(dir, "moe_qk_norm", &v, WF_ERR_FORMAT, "attn_k_norm.weight");
    /* gpt-oss: the window is required and positive; its biases are required */
    v = (variant){.arch = "gpt-oss"};
    expect_load_error(dir, "oss_no_window", &v, WF_ERR_FORMAT, "gpt-oss.attention.sliding_window");
    v = (variant){.arch = "gpt-oss", .u32_key = "attention.sliding_window", .u32_val = 0};
    expect_load_error(dir, "oss_window_0", &v, WF_ERR_FORMAT, "sliding_window = 0");
    v = (variant){.arch = "gpt-oss", .u32_key = "attention.sliding_window", .u32_val = 128};
    expect_load_error(dir, "oss_no_bias", &v, WF_ERR_FORMAT, "attn_q.bias");
    v = (variant){.arch = "gpt-oss", .u32_key = "expert_used_count", .u32_val = 9};
    expect_load_error(dir, "oss_used_9", &v, WF_ERR_FORMAT, "expert_used_count = 9");
    v = (variant){.arch = "gpt-oss", .u32_key = "expert_count", .u32_val = 0};
    expect_load_error(dir, "oss_experts_0", &v, WF_ERR_FORMAT, "expert_count = 0");
    {   /* the same file whole: it loads, and counts the active experts' share */
        char mp_[512];
        snprintf(mp_, sizeof mp_, "%s/moe.gguf", dir);
        v = (variant){.arch = "qwen3moe"};
        CHECK(write_model(mp_, &v) == 0, "write moe model");
        wf_model *mm = NULL;
        wf_error e = {0};
        CHECK(wf_model_load(mp_, NULL, &mm, &e) == WF_OK, "moe model: %s", e.msg);
        if (mm) {
            const uint64_t exp_elems = (uint64_t)3 * E * FFE * NEXP;
            CHECK(mm->hp.n_expert == NEXP && mm->hp.n_expert_used == 2 && mm->hp.n_ff == FFE, "moe hparams");
            CHECK(mm->n_params - mm->n_params_active == exp_elems / 2, "active params: %llu of %llu",
                  (unsigned long long)mm->n_params_active, (unsigned long long)mm->n_params);
            wf_context *cm = NULL;
            CHECK(wf_context_create(mm, NULL, &cm, &e) == WF_OK, "moe context: %s", e.msg);
            int32_t toks[5] = {1, 2, 3, 4, 5};
            CHECK(cm && wf_decode(cm, toks, 5, true, &e) == WF_OK, "moe decode: %s", e.msg);
            wf_context_free(cm);
            /* three contexts in shared passes (their tokens grouped per expert
             * together) vs each alone: bit-identical logits */
            enum { NS = 3, NT = 7 };
            wf_context *cs[NS] = {0}, *solo = NULL;
            int32_t seq_t[NS][NT];
            for (int i = 0; i < NS; i++)
                for (int j = 0; j < NT; j++) seq_t[i][j] = (int32_t)((i * 13 + j * 7 + 3) % V);
            bool ok = wf_context_create(mm, NULL, &solo, &e) == WF_OK;
            for (int i = 0; i < NS; i++) ok = ok && wf_context_create(mm, NULL, &cs[i], &e) == WF_OK;
            CHECK(ok, "moe contexts: %s", e.msg);
            for (int step = 0; ok && step < 2; step++) { /* a prompt of NT, then one token each */
                wf_seq sq[NS];
                for (int i = 0; i < NS; i++)
                    sq[i] = (wf_seq){.ctx = cs[i], .tokens = step ? &seq_t[i][i] : seq_t[i], .n = step ? 1 : NT, .all_logits = true};
                CHECK(wf_decode_seqs(sq, NS, &e) == WF_OK, "moe decode_seqs: %s", e.msg);
                for (int i = 0; i < NS; i++) {
                    if (step == 0) CHECK(wf_kv_truncate(solo, 0, &e) == WF_OK, "truncate");
                    if (step == 0) CHECK(wf_decode(solo, seq_t[i], NT, true, &e) == WF_OK, "solo: %s", e.msg);
                    else {
                        CHECK(wf_kv_truncate(solo, 0, &e) == WF_OK, "truncate");
                        CHECK(wf_decode(solo, seq_t[i], NT, false, &e) == WF_OK, "solo prompt: %s", e.msg);
                        CHECK(wf_decode(solo, &seq_t[i][i], 1, true, &e) == WF_OK, "solo step: %s", e.msg);
                    }
                    for (int j = 0; j < sq[i].n; j++) {
                        const float *a = wf_get_logits(cs[i], j), *b = wf_get_logits(solo, j);
                        CHECK(a && b && !memcmp(a, b, sizeof(float) * V), "moe seq %d step %d row %d: shared pass differs", i, step, j);
                    }
                }
            }
            for (int i = 0; i < NS; i++) wf_context_free(cs[i]);
            wf_context_free(solo);
        }
        wf_model_free(mm);
        unlink(mp_);
    }

    /* with a vocabulary: loaded and sized */
    {
        char vp[512];
        snprintf(vp, sizeof vp, "%s/vocab.gguf", dir);
        v = (variant){.vocab_n = V};
        CHECK(write_model(vp, &v) == 0, "write vocab model");
        wf_model *mv = NULL;
        wf_error e = {0};
        CHECK(wf_model_load(vp, NULL, &mv, &e) == WF_OK, "vocab model: %s", e.msg);
        CHECK(mv && wf_model_vocab(mv) != NULL, "vocabulary not loaded");
        if (mv && wf_model_vocab(mv)) CHECK(wf_vocab_n_tokens(wf_model_vocab(mv)) == V, "vocab tokens");
        wf_model_free(mv);
        wf_model_params vp_only = wf_model_default_params();
        vp_only.vocab_only = true;
        mv = NULL;
        CHECK(wf_model_load(vp, &vp_only, &mv, &e) == WF_OK, "vocab-only: %s", e.msg);
        wf_context *cv = NULL;
        CHECK(mv && wf_context_create(mv, NULL, &cv, &e) == WF_ERR_INVALID_ARG, "context on vocab-only model");
        wf_model_free(mv);
        unlink(vp);
    }

    /* ---- a valid model ---- */
    char path[512];
    snprintf(path, sizeof path, "%s/ok.gguf", dir);
    v = (variant){0};
    CHECK(write_model(path, &v) == 0, "write valid model");
    wf_error err = {0};
    wf_model *m = NULL;

    int calls = 0;
    wf_model_params mp = wf_model_default_params();
    mp.progress = cancel_cb;
    mp.progress_user = &calls;
    wf_status st = wf_model_load(path, &mp, &m, &err);
    CHECK(st == WF_ERR_CANCELLED && m == NULL && calls == 1, "cancel: %s, %d calls", wf_status_name(st), calls);

    st = wf_model_load(path, NULL, &m, &err);
    CHECK(st == WF_OK, "load: %s", err.msg);
    if (st != WF_OK) return t_done("test_model_c");
    CHECK(wf_model_n_vocab(m) == V, "n_vocab %d", wf_model_n_vocab(m));
    CHECK(wf_model_n_ctx_train(m) == 128, "n_ctx_train %d", wf_model_n_ctx_train(m));
    CHECK(wf_model_vocab(m) == NULL, "no tokenizer in the file: vocab must be NULL");

    wf_context_params cp = wf_context_default_params();
    cp.n_ctx = 0; /* default: training context, capped by memory (not here) */
    wf_context *c = NULL;
    CHECK(wf_context_create(m, &cp, &c, &err) == WF_OK, "context: %s", err.msg);
    CHECK(wf_context_n_ctx(c) == 128, "default n_ctx %d", wf_context_n_ctx(c));
    CHECK(wf_context_n_threads(c) >= 1, "threads");
    wf_context_free(c);

    cp.n_ctx = NCTX;
    cp.n_batch = 8; /* forces chunking */
    cp.n_threads = 2;
    cp.kv_type = WF_KV_F32;
    c = NULL;
    CHECK(wf_context_create(m, &cp, &c, &err) == WF_OK, "context: %s", err.msg);
    CHECK(wf_context_notice(c)[0] == 0, "notice '%s'", wf_context_notice(c));
    int32_t toks[NCTX];
    t_rng r = {42};
    for (int i = 0; i < NCTX; i++) toks[i] = (int32_t)(t_next(&r) % V);

    /* range errors */
    int32_t bad = V;
    st = wf_decode(c, &bad, 1, false, &err);
    CHECK(st == WF_ERR_INVALID_ARG && strstr(err.msg, "40"), "bad id: %s %s", wf_status_name(st), err.msg);
    bad = -1;
    CHECK(wf_decode(c, &bad, 1, false, &err) == WF_ERR_INVALID_ARG, "negative id");
    CHECK(wf_decode(c, toks, 0, false, &err) == WF_ERR_INVALID_ARG, "zero tokens");
    CHECK(wf_context_n_past(c) == 0, "n_past after errors %d", wf_context_n_past(c));

    /* first pass: 20 tokens with all logits */
    enum { N1 = 20, KEEP = 7 };
    CHECK(wf_decode(c, toks, N1, true, &err) == WF_OK, "decode: %s", err.msg);
    CHECK(wf_context_n_past(c) == N1, "n_past %d", wf_context_n_past(c));
    float *first = malloc(sizeof(float) * N1 * V);
    for (int i = 0; i < N1; i++) {
        const float *lg = wf_get_logits(c, i);
        CHECK(lg != NULL, "logits %d", i);
        if (lg) memcpy(first + (size_t)i * V, lg, sizeof(float) * V);
    }
    CHECK(wf_get_logits(c, N1) == NULL, "logits past the batch");
    CHECK(wf_get_logits(c, -1) == wf_get_logits(c, N1 - 1), "-1 is the last");
    bool finite = true;
    for (int i = 0; i < N1 * V; i++) finite &= isfinite(first[i]);
    CHECK(finite, "logits finite");

    /* too many tokens: range error, cache unchanged */
    st = wf_decode(c, toks, NCTX - N1 + 1, false, &err);
    CHECK(st == WF_ERR_RANGE, "overflow: %s", wf_status_name(st));
    CHECK(strstr(err.msg, "context") != NULL, "message: %s", err.msg);
    CHECK(wf_context_n_past(c) == N1, "n_past after overflow %d", wf_context_n_past(c));

    CHECK(wf_kv_truncate(c, N1 + 1, &err) == WF_ERR_RANGE, "truncate past n_past");
    CHECK(wf_kv_truncate(c, -1, &err) == WF_ERR_RANGE, "truncate negative");

    /* truncate, decode other tokens over the dropped positions, truncate
     * again, decode the originals: same logits as the first time */
    CHECK(wf_kv_truncate(c, KEEP, &err) == WF_OK, "truncate: %s", err.msg);
    CHECK(wf_context_n_past(c) == KEEP, "n_past %d", wf_context_n_past(c));
    int32_t other[N1];
    for (int i = 0; i < N1; i++) other[i] = (toks[i] + 5) % V;
    CHECK(wf_decode(c, other + KEEP, N1 - KEEP, false, &err) == WF_OK, "decode other: %s", err.msg);
    CHECK(wf_get_logits(c, 0) == NULL && wf_get_logits(c, -1) != NULL, "last-only logits");
    CHECK(wf_kv_truncate(c, KEEP, &err) == WF_OK, "truncate 2");
    CHECK(wf_decode(c, toks + KEEP, N1 - KEEP, true, &err) == WF_OK, "redecode: %s", err.msg);
    float worst = 0;
    for (int i = KEEP; i < N1; i++) {
        const float *lg = wf_get_logits(c, i - KEEP);
        if (!lg) { CHECK(0, "no logits %d", i); break; }
        float d = max_diff(lg, first + (size_t)i * V, V);
        if (!(d <= worst)) worst = d;
    }
    /* the same cache entries and per-token math; only the batch split
     * differs (13 tokens vs 20), which the matmul must not depend on */
    CHECK(worst <= 1e-5f, "truncate+redecode differs by %g", worst);
    printf("  truncate + redecode: max |diff| = %g\n", worst);

    /* one by one from the start gives the same logits within float noise */
    CHECK(wf_kv_truncate(c, 0, &err) == WF_OK, "truncate 0");
    float worst1 = 0;
    for (int i = 0; i < N1; i++) {
        CHECK(wf_decode(c, toks + i, 1, false, &err) == WF_OK, "decode %d", i);
        float d = max_diff(wf_get_logits(c, -1), first + (size_t)i * V, V);
        if (!(d <= worst1)) worst1 = d;
    }
    CHECK(worst1 <= 1e-4f, "one-by-one differs by %g", worst1);
    printf("  one-by-one vs batch: max |diff| = %g\n", worst1);

    /* fill the context exactly, then one more is a range error */
    CHECK(wf_decode(c, toks, NCTX - N1, false, &err) == WF_OK, "fill: %s", err.msg);
    CHECK(wf_decode(c, toks, 1, false, &err) == WF_ERR_RANGE, "full context");

    free(first);
    wf_context_free(c);

    /* q8_0 KV needs head_dim % 32 == 0 (64 here): works */
    cp.kv_type = WF_KV_Q8_0;
    CHECK(wf_context_create(m, &cp, &c, &err) == WF_OK, "q8_0 context: %s", err.msg);
    CHECK(wf_decode(c, toks, 9, false, &err) == WF_OK, "q8_0 decode: %s", err.msg);
    wf_context_free(c);
    cp.kv_type = (wf_kv_type)7;
    CHECK(wf_context_create(m, &cp, &c, &err) == WF_ERR_INVALID_ARG, "bad kv type");
    cp.kv_type = WF_KV_F16;
    cp.n_ctx = -5;
    CHECK(wf_context_create(m, &cp, &c, &err) == WF_ERR_INVALID_ARG, "bad n_ctx");

    wf_model_free(m);
    unlink(path);
    rmdir(dir);
    return t_done("test_model_c");
}
