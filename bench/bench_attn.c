/* bench_attn.c — attention speed per instruction set, in one run.
 *
 * Fills a one-layer KV cache of the given shape with random rows, then times
 * wf_attention for decode (one token at the last position) and for a
 * prefill batch (the last B positions), for each KV type and each ISA up to
 * the CPU's best (avx2 = the decode-to-float-tile path, avx512 = the fused
 * tiles). Prints the median of R repetitions in ms per call (one layer), and
 * checks that every ISA's output agrees with the scalar ISA's to 1e-4.
 *
 *   bench_attn [--ctx N] [--batch B] [--threads T] [--reps R] [--heads H]
 *              [--kv-heads K] [--hd D] [--kv f16,q8_0,f32] [--isa scalar,avx2,avx512]
 */
#include "model/model_int.h"
#include "cpu/threadpool.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static int cmp_d(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static uint64_t rng_state = 88172645463325252ull;
static float frand(void) { /* uniform in [-1, 1) */
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
    return (float)((rng_state >> 40) * (1.0 / 8388608.0)) - 1.0f;
}

int main(int argc, char **argv) {
    int ctx = 8192, batch = 256, threads = 1, reps = 5, nh = 12, nkv = 2, hd = 128;
    const char *kvs = "f16,q8_0,f32", *isas = "scalar,avx2,avx512";
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (!strcmp(a, "--ctx")) ctx = atoi(v);
        else if (!strcmp(a, "--batch")) batch = atoi(v);
        else if (!strcmp(a, "--threads")) threads = atoi(v);
        else if (!strcmp(a, "--reps")) reps = atoi(v);
        else if (!strcmp(a, "--heads")) nh = atoi(v);
        else if (!strcmp(a, "--kv-heads")) nkv = atoi(v);
        else if (!strcmp(a, "--hd")) hd = atoi(v);
        else if (!strcmp(a, "--kv")) kvs = v;
        else if (!strcmp(a, "--isa")) isas = v;
        else {
            fprintf(stderr, "unknown option %s\n", a);
            return 2;
        }
    }
    if (ctx < 2 || batch < 1 || batch > ctx || threads < 1 || reps < 1 || nkv < 1 || nh % nkv || hd % 32) {
        fprintf(stderr, "bad sizes\n");
        return 2;
    }
    wf_cpu_features f;
    wf_cpu_detect(&f);
    const wf_isa best = wf_cpu_best_isa(&f);
    wf_error err = {0};
    wf_threadpool *tp = NULL;
    if (threads > 1 && wf_threadpool_create(threads, &tp, &err) != WF_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    wf_hparams hp = {.n_layer = 1, .n_head = nh, .n_head_kv = nkv, .head_dim = hd};
    const size_t qn = (size_t)batch * nh * hd;
    float *q = malloc(sizeof(float) * qn), *out = malloc(sizeof(float) * qn), *ref = malloc(sizeof(float) * 2 * qn);
    float *kb = malloc(sizeof(float) * nkv * hd), *vb = malloc(sizeof(float) * nkv * hd);
    float *scr = malloc(sizeof(float) * wf_attn_scratch_floats(hd, nh / nkv) * (size_t)threads);
    float *part = malloc(sizeof(float) * wf_attn_partial_floats(nh, hd, ctx));
    double *t = malloc(sizeof(double) * (size_t)reps);
    for (size_t i = 0; i < qn; i++) q[i] = frand() * 0.3f;
    const float scale = 1.0f / sqrtf((float)hd);
    printf("attention, 1 layer: %d heads, %d kv heads, head_dim %d, %d positions, %d thread(s), median of %d\n", nh, nkv,
           hd, ctx, threads, reps);
    printf("%-5s %-7s %14s %14s %16s\n", "kv", "isa", "decode ms", "prefill ms", "prefill ms/tok");
    const wf_kv_type kvt[] = {WF_KV_F16, WF_KV_Q8_0, WF_KV_F32};
    const wf_isa isl[] = {WF_ISA_SCALAR, WF_ISA_AVX2, WF_ISA_AVX512};
    for (int ki = 0; ki < 3; ki++) {
        if (!strstr(kvs, wf_kv_type_name(kvt[ki]))) continue;
        wf_kernels kern;
        wf_kernels_init(&kern, best);
        wf_kv_cache kv;
        if (wf_kv_init(&kv, &hp, ctx, ctx, kvt[ki], &kern, &err) != WF_OK) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        for (int p = 0; p < ctx; p++) {
            for (int i = 0; i < nkv * hd; i++) kb[i] = frand(), vb[i] = frand();
            wf_kv_store(&kv, 0, p, kb, vb);
        }
        for (int ii = 0; ii < 3; ii++) {
            if (isl[ii] > best || !strstr(isas, wf_isa_name(isl[ii]))) continue;
            wf_attn_kernels ak;
            wf_attn_kernels_init(&ak, isl[ii], hd);
            /* as context.c does: the ISA's q8_0 row decoder when it has one */
            wf_kv_cache kvi = kv;
            if (kv.elem == WF_TYPE_Q8_0 && ak.q8_0_to_float) kvi.to_float = ak.q8_0_to_float;
            double med[2];
            for (int mode = 0; mode < 2; mode++) {
                const int n = mode ? batch : 1, pos0 = ctx - n;
                for (int r = 0; r < reps; r++) {
                    const double t0 = now_ms();
                    wf_attention(tp, &ak, &kvi, 0, nh, q, out, n, pos0, scale, scr, part, threads);
                    t[r] = now_ms() - t0;
                }
                qsort(t, (size_t)reps, sizeof *t, cmp_d);
                med[mode] = t[reps / 2];
                if (ii == 0) memcpy(ref + mode * qn, out, sizeof(float) * (size_t)n * nh * hd);
                else if (isl[0] == WF_ISA_SCALAR && strstr(isas, "scalar")) {
                    double d = 0;
                    for (size_t i = 0; i < (size_t)n * nh * hd; i++) d = fmax(d, fabs(out[i] - ref[mode * qn + i]));
                    if (!(d < 1e-4)) printf("  !! %s differs from scalar by %g\n", wf_isa_name(isl[ii]), d);
                }
            }
            printf("%-5s %-7s %14.3f %14.2f %16.4f\n", wf_kv_type_name(kvt[ki]), wf_isa_name(isl[ii]), med[0], med[1],
                   med[1] / batch);
        }
        wf_kv_free(&kv);
    }
    wf_threadpool_free(tp);
    free(q), free(out), free(ref), free(kb), free(vb), free(scr), free(part), free(t);
    return 0;
}
