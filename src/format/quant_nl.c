/* quant_nl.c — reference (scalar) conversions for the codebook ("non-linear")
 * 4-bit types: IQ4_NL, IQ4_XS and MXFP4. Each 4-bit code indexes a table of
 * 16 levels instead of being the level itself.
 *
 * IQ4_NL: 32-element blocks, fp16 d, value = d * wf_iq4nl_values[q].
 * IQ4_XS: 256-element super-blocks, fp16 d and a 6-bit scale per 32.
 * MXFP4: 32-element blocks of E2M1 codes with an E8M0 (power of two) scale.
 *
 * The quantizers pick a scale per block with a small search (a few
 * candidate scales, each followed by a least-squares refit against the
 * codes it chose, keeping the least squared error) and then choose every
 * code against the scale that is actually stored. */
#include "format/quant.h"
#include "format/quant_int.h"

#include <math.h>

const int8_t wf_iq4nl_values[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                    1,    13,   25,  38,  53,  69,  89,  113};
const int8_t wf_mxfp4_values[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

/* nl_floor_index[t + 128]: the index of the largest IQ4_NL level <= t, for
 * integers t in [-128, 127] (0 below the lowest level). */
static const uint8_t nl_floor_index[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3,
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5,
    5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    7, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 10, 10, 10, 10, 10, 10, 10,
    10, 10, 10, 10, 10, 10, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12,
    12, 12, 12, 12, 12, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 14, 14, 14, 14, 14, 14, 14,
    14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15};

/* Index of the IQ4_NL level nearest to v (a tie goes to the lower level).
 * NaN gives the level nearest 0. The levels are integers, so for v in
 * (-127, 113) the candidates are the largest level <= floor(v) and the next. */
static inline int nl_nearest(float v) {
    if (!(v == v)) return 8;
    if (v <= -127.0f) return 0;
    if (v >= 113.0f) return 15;
    const int i = nl_floor_index[(int)(v + 128.0f)]; /* v + 128 > 0: truncation is floor */
    return v - (float)wf_iq4nl_values[i] <= (float)wf_iq4nl_values[i + 1] - v ? i : i + 1;
}

/* Best signed scale s for x[0..n) ~ s * level(q): candidates map the
 * element of largest magnitude to around -127 (the level of largest
 * magnitude), each refitted by least squares; returns 0 for a zero block. */
static float nl_fit_scale(const float *x, int n) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < n; j++)
        if (fabsf(x[j]) > amax) { amax = fabsf(x[j]); max = x[j]; }
    if (!(amax > 0.0f) || !isfinite(amax)) return 0.0f;
    float best_s = max / -127.0f;
    double best_err = INFINITY;
    for (int k = -9; k <= 9; k++) {
        const float is = (-127.0f + 2.0f * (float)k) / max;
        double sll = 0, slx = 0;
        for (int j = 0; j < n; j++) {
            const double l = wf_iq4nl_values[nl_nearest(x[j] * is)];
            sll += l * l;
            slx += l * x[j];
        }
        if (!(sll > 0)) continue;
        const double s = slx / sll;
        if (s == 0) continue;
        const float is2 = (float)(1.0 / s);
        double err = 0;
        for (int j = 0; j < n; j++) {
            const double e = s * wf_iq4nl_values[nl_nearest(x[j] * is2)] - x[j];
            err += e * e;
        }
        if (err < best_err) { best_err = err; best_s = (float)s; }
    }
    return best_s;
}

/* fp16 of a scale, nearest, but never 0 for a nonzero scale (a tiny block
 * keeps the smallest subnormal scale rather than decoding to zeros). */
static uint16_t nl_fp16(float s) {
    uint16_t h = wf_fp32_to_fp16(s);
    if ((h & 0x7fffu) == 0 && s != 0.0f) h |= 1;
    return h;
}

/* Codes of 32 elements against the stored scale ds, packed as Q4_0. */
static void nl_pack32(const float *x, float ds, uint8_t qs[16]) {
    const float ids = ds != 0.0f ? 1.0f / ds : 0.0f;
    for (int j = 0; j < 16; j++)
        qs[j] = (uint8_t)(nl_nearest(x[j] * ids) | nl_nearest(x[j + 16] * ids) << 4);
}

/* ---- IQ4_NL ---------------------------------------------------------------- */

void wf_to_float_iq4_nl(const void *src, float *dst, int64_t n) {
    const wf_block_iq4_nl *b = src;
    for (int64_t i = 0; i < n / WF_QK4_NL; i++, dst += WF_QK4_NL) {
        const float d = wf_fp16_to_fp32(b[i].d);
        for (int j = 0; j < 16; j++) {
            dst[j] = d * (float)wf_iq4nl_values[b[i].qs[j] & 0x0f];
            dst[j + 16] = d * (float)wf_iq4nl_values[b[i].qs[j] >> 4];
        }
    }
}

void wf_from_float_iq4_nl(const float *src, void *dst, int64_t n) {
    wf_block_iq4_nl *b = dst;
    for (int64_t i = 0; i < n / WF_QK4_NL; i++, src += WF_QK4_NL) {
        b[i].d = nl_fp16(nl_fit_scale(src, WF_QK4_NL));
        nl_pack32(src, wf_fp16_to_fp32(b[i].d), b[i].qs);
    }
}

/* ---- IQ4_XS ---------------------------------------------------------------- */

static inline int xs_scale(const wf_block_iq4_xs *b, int j) {
    return ((b->scales_l[j / 2] >> (4 * (j % 2))) & 0x0f) | ((b->scales_h >> (2 * j)) & 3) << 4;
}

void wf_to_float_iq4_xs(const void *src, float *dst, int64_t n) {
    const wf_block_iq4_xs *b = src;
    for (int64_t i = 0; i < n / WF_QK_K; i++) {
        const float d = wf_fp16_to_fp32(b[i].d);
        for (int j = 0; j < 8; j++, dst += 32) {
            const float dl = d * (float)(xs_scale(&b[i], j) - 32);
            const uint8_t *qs = b[i].qs + 16 * j;
            for (int l = 0; l < 16; l++) {
                dst[l] = dl * (float)wf_iq4nl_values[qs[l] & 0x0f];
                dst[l + 16] = dl * (float)wf_iq4nl_values[qs[l] >> 4];
            }
        }
    }
}

/* Squared error of 32 elements coded against the sub-block scale ds. */
static float nl_err32(const float *x, float ds) {
    const float ids = ds != 0.0f ? 1.0f / ds : 0.0f;
    float err = 0.0f;
    for (int l = 0; l < 32; l++) {
        const float e = ds * (float)wf_iq4nl_values[nl_nearest(x[l] * ids)] - x[l];
        err += e * e;
    }
    return err;
}

/* Per sub-block the best float scale; the super-scale d maps the one of
 * largest magnitude to -32 (the 6-bit scales store ls - 32 in [-32, 31]);
 * each ls is then the rounded value or a neighbour, whichever codes the
 * sub-block best. */
void wf_from_float_iq4_xs(const float *src, void *dst, int64_t n) {
    wf_block_iq4_xs *b = dst;
    for (int64_t i = 0; i < n / WF_QK_K; i++, src += WF_QK_K) {
        float s[8], smax = 0.0f, sext = 0.0f;
        for (int j = 0; j < 8; j++) {
            s[j] = nl_fit_scale(src + 32 * j, 32);
            if (fabsf(s[j]) > smax) { smax = fabsf(s[j]); sext = s[j]; }
        }
        b[i].d = fp16_scale_up(sext / -32.0f);
        const float d = wf_fp16_to_fp32(b[i].d);
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].scales_h = 0;
        memset(b[i].scales_l, 0, sizeof b[i].scales_l);
        for (int j = 0; j < 8; j++) {
            const int l0 = q_round(s[j] * id, -32, 31, 0);
            int best_l = l0;
            float best = INFINITY;
            for (int l = l0 - 1; l <= l0 + 1; l++) {
                if (l < -32 || l > 31) continue;
                const float err = nl_err32(src + 32 * j, d * (float)l);
                if (err < best) { best = err; best_l = l; }
            }
            const int ls = best_l + 32;
            b[i].scales_l[j / 2] |= (uint8_t)((ls & 0x0f) << (4 * (j % 2)));
            b[i].scales_h |= (uint16_t)((ls >> 4) << (2 * j));
            nl_pack32(src + 32 * j, d * (float)best_l, b[i].qs + 16 * j);
        }
    }
}

/* ---- MXFP4 ------------------------------------------------------------------ */

void wf_to_float_mxfp4(const void *src, float *dst, int64_t n) {
    const wf_block_mxfp4 *b = src;
    for (int64_t i = 0; i < n / WF_QK_MXFP4; i++, dst += WF_QK_MXFP4) {
        const float d = wf_e8m0_half(b[i].e);
        for (int j = 0; j < 16; j++) {
            dst[j] = (float)wf_mxfp4_values[b[i].qs[j] & 0x0f] * d;
            dst[j + 16] = (float)wf_mxfp4_values[b[i].qs[j] >> 4] * d;
        }
    }
}

/* E2M1 code of v (already divided by the block scale): nearest magnitude,
 * ties to the even code (the OCP rule), beyond 6 saturates; NaN gives 0. */
static int e2m1_code(float v) {
    /* midpoints between the magnitudes 0 .5 1 1.5 2 3 4 6, and whether a tie
     * rounds up (the upper neighbour has the even code) */
    static const float mid[7] = {0.25f, 0.75f, 1.25f, 1.75f, 2.5f, 3.5f, 5.0f};
    static const bool tie_up[7] = {false, true, false, true, false, true, false};
    const float a = fabsf(v);
    if (!(a == a)) return 0;
    int q = 0;
    while (q < 7 && (a > mid[q] || (tie_up[q] && a == mid[q]))) q++;
    return q == 0 ? 0 : (v < 0.0f ? q | 8 : q);
}

static float mxfp4_err(const float *x, int e) {
    const float d = wf_e8m0_half((uint8_t)e), id = ldexpf(1.0f, 127 - e);
    float err = 0.0f;
    for (int l = 0; l < WF_QK_MXFP4; l++) {
        const float r = (float)wf_mxfp4_values[e2m1_code(x[l] * id)] * d - x[l];
        err += r * r;
    }
    return err;
}

/* The shared exponent as the OCP spec sets it, floor(log2(amax)) - 2 (so
 * the largest element lands in [4, 8) and saturates to 6 above 6), or one
 * more (no saturation, coarser steps), whichever codes the block better. */
void wf_from_float_mxfp4(const float *src, void *dst, int64_t n) {
    wf_block_mxfp4 *b = dst;
    for (int64_t i = 0; i < n / WF_QK_MXFP4; i++, src += WF_QK_MXFP4) {
        float amax = 0.0f;
        for (int l = 0; l < WF_QK_MXFP4; l++)
            if (fabsf(src[l]) > amax) amax = fabsf(src[l]);
        int e = 0;
        if (!isfinite(amax)) {
            e = 254;
        } else if (amax > 0.0f) {
            int ex;
            frexpf(amax, &ex); /* amax = m * 2^ex, m in [0.5, 1) */
            e = ex - 1 - 2 + 127;
            if (e < 0) e = 0;
            if (e > 254) e = 254;
            if (e < 254 && mxfp4_err(src, e + 1) < mxfp4_err(src, e)) e++;
        }
        b[i].e = (uint8_t)e;
        const float id = ldexpf(1.0f, 127 - e);
        for (int j = 0; j < 16; j++)
            b[i].qs[j] = (uint8_t)(e2m1_code(src[j] * id) | e2m1_code(src[j + 16] * id) << 4);
    }
}
