/* test_quant.c — the scalar kernels and the fp16/bf16 helpers.
 *
 * 1. vec_dot of every weight type (weights quantized from random floats, and
 *    random raw blocks) against a double-precision dot of the dequantized
 *    weight and dequantized activation rows; odd numbers of blocks. Tolerance:
 *    2e-6 of sum |w_i * a_i| (float accumulation over <= 1280 terms).
 * 2. gemm equals a loop of vec_dot (bit for bit) and writes only its tile.
 * 3. fp16/bf16 conversions: edge cases, all 65536 round trips, and (where
 *    the compiler has _Float16) agreement with the compiler's own conversion.
 */
#include "cpu/kernels.h"
#include "testutil.h"

#include <float.h>
#include <string.h>

/* ---- 1. vec_dot vs double reference --------------------------------------- */

static const wf_type weight_types[] = {
    WF_TYPE_F32, WF_TYPE_F16, WF_TYPE_BF16, WF_TYPE_Q4_0, WF_TYPE_Q4_1, WF_TYPE_Q5_0,
    WF_TYPE_Q5_1, WF_TYPE_Q8_0, WF_TYPE_Q8_1, WF_TYPE_Q4_K, WF_TYPE_Q5_K, WF_TYPE_Q6_K,
    WF_TYPE_Q8_K, WF_TYPE_Q2_K, WF_TYPE_Q3_K, WF_TYPE_IQ4_NL, WF_TYPE_IQ4_XS, WF_TYPE_MXFP4,
};
#define N_WT (sizeof weight_types / sizeof weight_types[0])

/* Set the scale fields of a block of random bytes to sane values (and make
 * the derived fields, q8_1's s and q8_K's bsums, consistent). */
static void sanitize_block(wf_type t, uint8_t *blk, t_rng *r) {
    uint16_t h;
    float f;
#define PUT16(off, v) (h = wf_fp32_to_fp16(v), memcpy(blk + (off), &h, 2))
    switch (t) {
    case WF_TYPE_Q4_0: case WF_TYPE_Q5_0: case WF_TYPE_Q8_0:
        PUT16(0, t_unif(r) * 0.1f);
        break;
    case WF_TYPE_Q4_1: case WF_TYPE_Q5_1:
        PUT16(0, t_unif(r) * 0.1f);
        PUT16(2, t_unif(r));
        break;
    case WF_TYPE_Q8_1: {
        /* s must be d * sum(qs) for the format to mean anything */
        float d = t_unif(r) * 0.1f;
        PUT16(0, d);
        int sum = 0;
        for (int j = 0; j < 32; j++) sum += (int8_t)blk[4 + j];
        PUT16(2, wf_fp16_to_fp32(h) * (float)sum);
        break;
    }
    case WF_TYPE_Q4_K: case WF_TYPE_Q5_K:
        PUT16(0, fabsf(t_unif(r)) * 0.01f);
        PUT16(2, fabsf(t_unif(r)) * 0.01f);
        break;
    case WF_TYPE_Q6_K:
        PUT16(208, t_unif(r) * 0.01f);
        break;
    case WF_TYPE_Q2_K:
        PUT16(80, fabsf(t_unif(r)) * 0.01f);
        PUT16(82, fabsf(t_unif(r)) * 0.01f);
        break;
    case WF_TYPE_Q3_K:
        PUT16(108, t_unif(r) * 0.01f);
        break;
    case WF_TYPE_IQ4_NL: case WF_TYPE_IQ4_XS:
        PUT16(0, t_unif(r) * 0.001f);
        break;
    case WF_TYPE_MXFP4: /* scales 2^-27 .. 2^2 */
        blk[0] = (uint8_t)(100 + t_next(r) % 30);
        break;
    case WF_TYPE_Q8_K: {
        f = t_unif(r) * 0.01f;
        memcpy(blk, &f, 4);
        int8_t qs[256];
        memcpy(qs, blk + 4, 256);
        for (int k = 0; k < 16; k++) {
            int16_t s = 0;
            for (int l = 0; l < 16; l++) s = (int16_t)(s + qs[16 * k + l]);
            memcpy(blk + 260 + 2 * k, &s, 2);
        }
        break;
    }
    case WF_TYPE_F16:
        PUT16(0, t_gauss(r));
        break;
    case WF_TYPE_BF16:
        h = wf_fp32_to_bf16(t_gauss(r));
        memcpy(blk, &h, 2);
        break;
    case WF_TYPE_F32:
        f = t_gauss(r);
        memcpy(blk, &f, 4);
        break;
    default:
        break;
    }
#undef PUT16
}

/* The *_1 dots use m_w * s_a with s_a = fp16(d_a * sum(q_a)) stored in the
 * activation block, not the exact sum of the dequantized activations: the
 * reference takes the stored s too, adding m_w * (s_a - sum_j a_j) per block.
 * ad: (n) dequantized activations. */
static double s_correction(wf_type wt, const void *w, const void *a, const float *ad, int64_t n) {
    if (wt != WF_TYPE_Q4_1 && wt != WF_TYPE_Q5_1) return 0.0;
    const size_t wsz = wf_type_get((uint32_t)wt)->type_size;
    const wf_block_q8_1 *ab = a;
    double corr = 0.0;
    for (int64_t i = 0; i < n / 32; i++) {
        uint16_t m;
        memcpy(&m, (const uint8_t *)w + (size_t)i * wsz + 2, 2);
        double exact = 0.0;
        for (int j = 0; j < 32; j++) exact += ad[32 * i + j];
        corr += (double)wf_fp16_to_fp32(m) * ((double)wf_fp16_to_fp32(ab[i].s) - exact);
    }
    return corr;
}

static void test_vec_dot(const wf_kernels *k, wf_type wt, int raw_weights, t_rng *r) {
    const wf_type_traits *tw = wf_type_get((uint32_t)wt);
    const wf_type at = tw->vec_dot_type;
    const wf_type_traits *ta = wf_type_get((uint32_t)at);
    /* odd block counts: 13 blocks of 32, 5 super-blocks of 256, 333 floats */
    const int64_t n = tw->blck_size == 256 || ta->blck_size == 256 ? 5 * 256
                      : tw->blck_size == 32 ? 13 * 32 : 333;
    float *wf = malloc((size_t)n * sizeof(float)), *af = malloc((size_t)n * sizeof(float));
    float *wd = malloc((size_t)n * sizeof(float)), *ad = malloc((size_t)n * sizeof(float));
    const size_t wbytes = wf_row_size(wt, n), abytes = wf_row_size(at, n);
    uint8_t *w = malloc(wbytes), *a = malloc(abytes);
    CHECK(wf && af && wd && ad && w && a && wbytes && abytes, "alloc %s", tw->name);
    if (!(wf && af && wd && ad && w && a && wbytes && abytes)) goto out;

    for (int64_t i = 0; i < n; i++) {
        wf[i] = t_gauss(r);
        af[i] = t_gauss(r) * (i % 97 == 0 ? 8.0f : 1.0f);
    }
    if (raw_weights) {
        for (size_t i = 0; i < wbytes; i++) w[i] = (uint8_t)t_next(r);
        for (int64_t b = 0; b < n / tw->blck_size; b++) sanitize_block(wt, w + (size_t)b * tw->type_size, r);
    } else {
        tw->from_float(wf, w, n);
    }
    ta->from_float(af, a, n);
    tw->to_float(w, wd, n);
    ta->to_float(a, ad, n);

    double ref = 0.0, mag = 0.0;
    for (int64_t i = 0; i < n; i++) {
        ref += (double)wd[i] * (double)ad[i];
        mag += fabs((double)wd[i] * (double)ad[i]);
    }
    /* float accumulation over <= 1280 terms */
    ref += s_correction(wt, w, a, ad, n);
    const double tol = 2e-6 * mag + 1e-30;
    float got = NAN;
    CHECK(k->vec_dot[wt] != NULL, "no vec_dot for %s", tw->name);
    if (k->vec_dot[wt]) k->vec_dot[wt](n, &got, w, a);
    const double err = fabs((double)got - ref);
    printf("vec_dot %-5s x %-5s n=%5lld %s: got %+.6e ref %+.6e err %.2e (tol %.2e)\n", tw->name,
           ta->name, (long long)n, raw_weights ? "raw  " : "quant", got, ref, err, tol);
    CHECK(err <= tol, "vec_dot %s (%s): |%g - %g| = %g > %g", tw->name,
          raw_weights ? "raw" : "quantized", (double)got, ref, err, tol);

    /* ---- 2. gemm tile == vec_dot loop, padding untouched ---- */
    if (k->gemm[wt] && k->vec_dot[wt]) {
        enum { NR = 3, NC = 5, OS = 7 };
        const size_t ws = wbytes + 64, as = abytes + 32;
        uint8_t *W = calloc(NR, ws), *A = calloc(NC, as);
        float out[NC * OS];
        if (W && A) {
            for (int i = 0; i < NR; i++) {
                for (int64_t j = 0; j < n; j++) wf[j] = t_gauss(r);
                tw->from_float(wf, W + (size_t)i * ws, n);
            }
            for (int c = 0; c < NC; c++) {
                for (int64_t j = 0; j < n; j++) af[j] = t_gauss(r);
                ta->from_float(af, A + (size_t)c * as, n);
            }
            for (int i = 0; i < NC * OS; i++) out[i] = -12345.0f;
            k->gemm[wt](n, NR, NC, W, ws, A, as, out, OS);
            int bad = 0, pad = 0;
            for (int c = 0; c < NC; c++) {
                for (int rr = 0; rr < OS; rr++) {
                    if (rr >= NR) {
                        pad += out[c * OS + rr] != -12345.0f;
                        continue;
                    }
                    float v;
                    k->vec_dot[wt](n, &v, W + (size_t)rr * ws, A + (size_t)c * as);
                    bad += memcmp(&v, &out[c * OS + rr], sizeof v) != 0;
                }
            }
            CHECK(bad == 0, "gemm %s: %d outputs differ from vec_dot", tw->name, bad);
            CHECK(pad == 0, "gemm %s: wrote %d values outside the tile", tw->name, pad);
        }
        free(W);
        free(A);
    }
out:
    free(wf); free(af); free(wd); free(ad); free(w); free(a);
}

/* ---- 3. fp16 / bf16 ----------------------------------------------------- */

static uint32_t f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

static void test_fp16(t_rng *r) {
    static const struct { uint32_t f; uint16_t h; } to16[] = {
        {0x00000000u, 0x0000}, /* +0 */
        {0x80000000u, 0x8000}, /* -0 */
        {0x3f800000u, 0x3c00}, /* 1 */
        {0x3f801000u, 0x3c00}, /* 1 + 2^-11: tie, to even */
        {0x3f803000u, 0x3c02}, /* 1 + 3*2^-11: tie, to even (up) */
        {0x3f801001u, 0x3c01}, /* just above the tie */
        {0x477fe000u, 0x7bff}, /* 65504, max finite */
        {0x477fefffu, 0x7bff}, /* 65519.99: still max finite */
        {0x477ff000u, 0x7c00}, /* 65520: rounds to Inf */
        {0x49742400u, 0x7c00}, /* 1e6: overflow */
        {0xc9742400u, 0xfc00}, /* -1e6 */
        {0x7f800000u, 0x7c00}, /* Inf */
        {0xff800000u, 0xfc00}, /* -Inf */
        {0x38800000u, 0x0400}, /* 2^-14, smallest normal */
        {0x387fc000u, 0x03ff}, /* largest subnormal */
        {0x33800000u, 0x0001}, /* 2^-24, smallest subnormal */
        {0x33000000u, 0x0000}, /* 2^-25: tie between 0 and 1 ulp, to even 0 */
        {0x33000001u, 0x0001}, /* just above: 1 ulp */
        {0x33c00000u, 0x0002}, /* 1.5 * 2^-24: tie, to even 2 */
        {0x34200000u, 0x0002}, /* 2.5 * 2^-24: tie, to even 2 */
        {0x32ffffffu, 0x0000}, /* below 2^-25 */
        {0xb3800000u, 0x8001}, /* -2^-24 */
        {0x387fe000u, 0x0400}, /* largest subnormal + half ulp: tie rounds up to normal */
    };
    for (size_t i = 0; i < sizeof to16 / sizeof to16[0]; i++) {
        uint16_t h = wf_fp32_to_fp16(u2f(to16[i].f));
        CHECK(h == to16[i].h, "fp32_to_fp16(%#010x) = %#06x, want %#06x", to16[i].f, h, to16[i].h);
    }
    CHECK(f2u(wf_fp16_to_fp32(0x0001)) == 0x33800000u, "fp16 min subnormal");
    CHECK(f2u(wf_fp16_to_fp32(0x03ff)) == 0x387fc000u, "fp16 max subnormal");
    CHECK(f2u(wf_fp16_to_fp32(0x8000)) == 0x80000000u, "fp16 -0");
    CHECK(f2u(wf_fp16_to_fp32(0x7bff)) == 0x477fe000u, "fp16 max");
    CHECK(f2u(wf_fp16_to_fp32(0xfc00)) == 0xff800000u, "fp16 -inf");
    {
        float nan = wf_fp16_to_fp32(0x7e00);
        CHECK(nan != nan, "fp16 NaN decodes to NaN");
        uint16_t h = wf_fp32_to_fp16(u2f(0x7fc00000u));
        CHECK((h & 0x7c00) == 0x7c00 && (h & 0x3ff), "fp32 NaN -> fp16 %#06x not NaN", h);
        h = wf_fp32_to_fp16(u2f(0x7f800001u)); /* NaN whose payload is all in low bits */
        CHECK((h & 0x7c00) == 0x7c00 && (h & 0x3ff), "fp32 sNaN -> fp16 %#06x not NaN", h);
    }
    /* every half: decode then encode gives it back (NaN: stays NaN) */
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = wf_fp16_to_fp32((uint16_t)h);
        uint16_t back = wf_fp32_to_fp16(f);
        int is_nan = (h & 0x7c00) == 0x7c00 && (h & 0x3ff);
        if (is_nan ? !((back & 0x7c00) == 0x7c00 && (back & 0x3ff)) : back != h) bad++;
    }
    CHECK(bad == 0, "fp16 round trip: %d halves differ", bad);
#ifdef __FLT16_MAX__
    /* The compiler's _Float16 conversions (libgcc soft-float on plain x86-64)
     * are an independent reference. */
    int mism = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) continue;
        _Float16 x;
        uint16_t hh = (uint16_t)h;
        memcpy(&x, &hh, 2);
        if (f2u((float)x) != f2u(wf_fp16_to_fp32(hh))) mism++;
    }
    for (int i = 0; i < 200000; i++) {
        float f = u2f((uint32_t)t_next(r));
        if (f != f) continue;
        _Float16 x = (_Float16)f;
        uint16_t want;
        memcpy(&want, &x, 2);
        if (wf_fp32_to_fp16(f) != want) mism++;
    }
    CHECK(mism == 0, "fp16 vs _Float16: %d mismatches", mism);
#else
    printf("(no _Float16: compiler cross-check skipped)\n");
#endif
}

static void test_bf16(void) {
    static const struct { uint32_t f; uint16_t h; } tob[] = {
        {0x00000000u, 0x0000}, {0x80000000u, 0x8000}, {0x3f800000u, 0x3f80},
        {0x3f808000u, 0x3f80}, /* tie, to even (down) */
        {0x3f818000u, 0x3f82}, /* tie, to even (up) */
        {0x3f808001u, 0x3f81}, /* above the tie */
        {0x7f800000u, 0x7f80}, {0xff800000u, 0xff80},
        {0x7f7fffffu, 0x7f80}, /* FLT_MAX rounds to Inf */
        {0x7f7f7fffu, 0x7f7f}, /* largest that stays finite */
        {0x00000001u, 0x0000}, /* smallest fp32 subnormal */
        {0x00008000u, 0x0000}, /* subnormal tie, to even 0 */
        {0x00018000u, 0x0002}, /* subnormal tie, to even 2 */
        {0x007fffffu, 0x0080}, /* largest subnormal rounds to smallest normal */
    };
    for (size_t i = 0; i < sizeof tob / sizeof tob[0]; i++) {
        uint16_t h = wf_fp32_to_bf16(u2f(tob[i].f));
        CHECK(h == tob[i].h, "fp32_to_bf16(%#010x) = %#06x, want %#06x", tob[i].f, h, tob[i].h);
    }
    uint16_t hn = wf_fp32_to_bf16(u2f(0x7f800001u)); /* NaN with payload only in low bits */
    CHECK((hn & 0x7f80) == 0x7f80 && (hn & 0x7f), "bf16 NaN -> %#06x not NaN", hn);
    hn = wf_fp32_to_bf16(u2f(0xffffffffu));
    CHECK((hn & 0x7f80) == 0x7f80 && (hn & 0x7f), "bf16 NaN (all ones) -> %#06x not NaN", hn);
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = wf_bf16_to_fp32((uint16_t)h);
        if (f2u(f) != h << 16) bad++;
        uint16_t back = wf_fp32_to_bf16(f);
        int is_nan = (h & 0x7f80) == 0x7f80 && (h & 0x7f);
        if (is_nan ? !((back & 0x7f80) == 0x7f80 && (back & 0x7f)) : back != h) bad++;
    }
    CHECK(bad == 0, "bf16 round trip: %d differ", bad);
}

/* The table: every loadable type has a dot and a gemm; activation types have
 * quantize_row; conversions are the traits' ones. */
static void test_table(const wf_kernels *k) {
    CHECK(k->isa == WF_ISA_SCALAR, "isa");
    for (uint32_t t = 0; t < WF_TYPE_COUNT; t++) {
        const wf_type_traits *tr = wf_type_get(t);
        if (!tr) continue;
        if (tr->can_load) {
            CHECK(k->vec_dot[t] && k->gemm[t], "type %s: no vec_dot/gemm", tr->name);
            CHECK(tr->to_float && tr->from_float, "type %s: conversions missing", tr->name);
        }
        CHECK(k->to_float[t] == tr->to_float, "type %s: to_float is not the reference", tr->name);
    }
    const wf_type act[] = {WF_TYPE_F32, WF_TYPE_F16, WF_TYPE_BF16, WF_TYPE_Q8_0, WF_TYPE_Q8_1, WF_TYPE_Q8_K};
    for (size_t i = 0; i < sizeof act / sizeof act[0]; i++)
        CHECK(k->quantize_row[act[i]] != NULL, "no quantize_row for type %d", (int)act[i]);
}

int main(void) {
    wf_kernels k;
    wf_kernels_fill_scalar(&k);
    t_rng r = {0x9e3779b97f4a7c15ull};
    test_table(&k);
    for (size_t i = 0; i < N_WT; i++) {
        test_vec_dot(&k, weight_types[i], 0, &r);
        test_vec_dot(&k, weight_types[i], 1, &r);
    }
    test_fp16(&r);
    test_bf16();
    return t_done("test_quant");
}
