/* quant_k.c — reference (scalar) conversions for the 256-element "K" super-
 * block types: Q2_K, Q3_K, Q4_K, Q5_K, Q6_K and the activation type Q8_K.
 *
 * Q2_K: 16 sub-blocks of 16, value = d*sc*q - dmin*m with 4-bit sc, m.
 * Q3_K: 16 sub-blocks of 16, value = d*(sc - 32)*(q - 4) with 6-bit sc. *
 * Q4_K/Q5_K: 8 sub-blocks of 32, value = d*sc*q - dmin*m with 6-bit sc, m.
 * Q6_K: 16 sub-blocks of 16, value = d*sc*(q - 32) with int8 sc.
 * Q8_K: float d, value = d*q, plus the sums of each 16 q (bsums).
 *
 * The quantizers fit each sub-block with a small search: a few candidate
 * step sizes around the plain range/levels one, each followed by a least-
 * squares refit of scale (and offset), keeping the one of least squared
 * error. Then the per-sub-block scales are quantized to 6 (8) bits against
 * the fp16 super-block scales and each q is chosen against the scale that is
 * actually stored. */
#include "format/quant.h"
#include "format/quant_int.h"

#include <math.h>

/* ---- scale/min packing shared by Q4_K and Q5_K --------------------------- */

/* Sub-block j (0..7): scale and min, 6 bits each, out of the 12 bytes. */
static inline void k4_get_scale_min(int j, const uint8_t *s, int *sc, int *m) {
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 0x0f) | (s[j - 4] >> 6) << 4;
        *m = (s[j + 4] >> 4) | (s[j] >> 6) << 4;
    }
}

static void k4_pack_scales(const int sc[8], const int mn[8], uint8_t s[WF_K_SCALE_SIZE]) {
    memset(s, 0, WF_K_SCALE_SIZE);
    for (int j = 0; j < 4; j++) {
        s[j] = (uint8_t)sc[j];
        s[j + 4] = (uint8_t)mn[j];
    }
    for (int j = 4; j < 8; j++) {
        s[j + 4] = (uint8_t)((sc[j] & 0x0f) | (mn[j] & 0x0f) << 4);
        s[j - 4] |= (uint8_t)((sc[j] >> 4) << 6);
        s[j] |= (uint8_t)((mn[j] >> 4) << 6);
    }
}

/* Fit x[0..n) ~ s*q - m with q in [0, nmax], s >= 0, m >= 0 (the format
 * stores an unsigned min that is subtracted). */
static void fit_scale_min(const float *x, int n, int nmax, float *s_out, float *m_out) {
    float lo = 0.0f, hi = x[0];
    for (int j = 0; j < n; j++) {
        if (x[j] < lo) lo = x[j];
        if (x[j] > hi) hi = x[j];
    }
    if (!(hi > lo)) { /* constant (or NaN) block */
        *s_out = 0.0f;
        *m_out = lo == lo ? -lo : 0.0f;
        return;
    }
    float best_s = (hi - lo) / (float)nmax, best_b = lo, best_err = INFINITY;
    for (int k = -6; k <= 6; k++) {
        const float is = ((float)nmax + 0.1f * (float)k) / (hi - lo);
        double sq = 0, sqq = 0, sx = 0, sqx = 0;
        for (int j = 0; j < n; j++) {
            const int q = q_round((x[j] - lo) * is, 0, nmax, 0);
            sq += q; sqq += (double)q * q; sx += x[j]; sqx += (double)q * x[j];
        }
        const double det = n * sqq - sq * sq;
        if (!(det > 0)) continue;
        double s = (n * sqx - sq * sx) / det;
        double b = (sqq * sx - sq * sqx) / det;
        if (b > 0) { b = 0; s = sqx / sqq; }
        if (!(s > 0)) continue;
        /* error of this (s, b) with q re-chosen for it */
        double err = 0;
        for (int j = 0; j < n; j++) {
            const int q = q_round((float)((x[j] - b) / s), 0, nmax, 0);
            const double e = s * q + b - x[j];
            err += e * e;
        }
        if (err < best_err) { best_err = err; best_s = (float)s; best_b = (float)b; }
    }
    *s_out = best_s;
    *m_out = -best_b;
}

/* Quantize one super-block of 256 to 6-bit scales/mins and q in [0, nmax]. */
static void k4_quantize_block(const float *x, int nmax, uint16_t *d_out, uint16_t *dmin_out,
                              uint8_t scales[WF_K_SCALE_SIZE], uint8_t q[WF_QK_K]) {
    float s[8], m[8], smax = 0.0f, mmax = 0.0f;
    for (int j = 0; j < 8; j++) {
        fit_scale_min(x + 32 * j, 32, nmax, &s[j], &m[j]);
        if (s[j] > smax) smax = s[j];
        if (m[j] > mmax) mmax = m[j];
    }
    *d_out = fp16_scale_up(smax / 63.0f);
    *dmin_out = fp16_scale_up(mmax / 63.0f);
    const float d = wf_fp16_to_fp32(*d_out), dmin = wf_fp16_to_fp32(*dmin_out);
    const float id = d > 0.0f ? 1.0f / d : 0.0f, idmin = dmin > 0.0f ? 1.0f / dmin : 0.0f;
    int sc[8], mn[8];
    for (int j = 0; j < 8; j++) {
        /* rounding the scale and min to 6 bits separately is not always
         * best together: try the neighbours too */
        const int sc0 = q_round(s[j] * id, 0, 63, 0), mn0 = q_round(m[j] * idmin, 0, 63, 0);
        float best = INFINITY;
        sc[j] = sc0;
        mn[j] = mn0;
        for (int a = sc0 - 1; a <= sc0 + 1; a++) {
            for (int c = mn0 - 1; c <= mn0 + 1; c++) {
                if (a < 0 || a > 63 || c < 0 || c > 63) continue;
                const float ds = d * (float)a, dm = dmin * (float)c;
                const float ids = ds > 0.0f ? 1.0f / ds : 0.0f;
                float err = 0.0f;
                for (int l = 0; l < 32; l++) {
                    const float xv = x[32 * j + l];
                    const float e = ds * (float)q_round((xv + dm) * ids, 0, nmax, 0) - dm - xv;
                    err += e * e;
                }
                if (err < best) { best = err; sc[j] = a; mn[j] = c; }
            }
        }
    }
    k4_pack_scales(sc, mn, scales);
    for (int j = 0; j < 8; j++) {
        const float ds = d * (float)sc[j], dm = dmin * (float)mn[j];
        const float ids = ds > 0.0f ? 1.0f / ds : 0.0f;
        for (int l = 0; l < 32; l++) q[32 * j + l] = (uint8_t)q_round((x[32 * j + l] + dm) * ids, 0, nmax, 0);
    }
}

/* ---- Q4_K ----------------------------------------------------------------- */

/* qs: per 64-element group, 32 bytes; low nibbles the first 32 elements,
 * high nibbles the next 32. */
void wf_to_float_q4_K(const void *src, float *dst, int64_t n) {
    const wf_block_q4_K *b = src;
    for (int64_t i = 0; i < n / WF_QK_K; i++) {
        const float d = wf_fp16_to_fp32(b[i].d), dmin = wf_fp16_to_fp32(b[i].dmin);
        const uint8_t *qs = b[i].qs;
        for (int g = 0; g < 4; g++, qs += 32, dst += 64) {
            int sc, m;
            k4_get_scale_min(2 * g, b[i].scales, &sc, &m);
            const float d1 = d * (float)sc, m1 = dmin * (float)m;
            k4_get_scale_min(2 * g + 1, b[i].scales, &sc, &m);
            const float d2 = d * (float)sc, m2 = dmin * (float)m;
            for (int l = 0; l < 32; l++) {
                dst[l] = d1 * (float)(qs[l] & 0x0f) - m1;
                dst[l + 32] = d2 * (float)(qs[l] >> 4) - m2;
            }
        }
    }
}

void wf_from_float_q4_K(const float *src, void *dst, int64_t n) {
    wf_block_q4_K *b = dst;
    uint8_t q[WF_QK_K];
    for (int64_t i = 0; i < n / WF_QK_K; i++, src += WF_QK_K) {
        k4_quantize_block(src, 15, &b[i].d, &b[i].dmin, b[i].scales, q);
        for (int g = 0; g < 4; g++)
            for (int l = 0; l < 32; l++)
                b[i].qs[32 * g + l] = (uint8_t)(q[64 * g + l] | q[64 * g + 32 + l] << 4);
    }
}

/* ---- Q5_K: as Q4_K plus a 5th bit: element 64g+l uses bit 2g of qh[l],
 * element 64g+32+l bit 2g+1. -------------------------------------------------- */

void wf_to_float_q5_K(const void *src, float *dst, int64_t n) {
    const wf_block_q5_K *b = src;
    for (int64_t i = 0; i < n / WF_QK_K; i++) {
        const float d = wf_fp16_to_fp32(b[i].d), dmin = wf_fp16_to_fp32(b[i].dmin);
        const uint8_t *qs = b[i].qs, *qh = b[i].qh;
        for (int g = 0; g < 4; g++, qs += 32, dst += 64) {
            int sc, m;
            k4_get_scale_min(2 * g, b[i].scales, &sc, &m);
            const float d1 = d * (float)sc, m1 = dmin * (float)m;
            k4_get_scale_min(2 * g + 1, b[i].scales, &sc, &m);
            const float d2 = d * (float)sc, m2 = dmin * (float)m;
            for (int l = 0; l < 32; l++) {
                const int h1 = (qh[l] >> (2 * g)) & 1, h2 = (qh[l] >> (2 * g + 1)) & 1;
                dst[l] = d1 * (float)((qs[l] & 0x0f) | h1 << 4) - m1;
                dst[l + 32] = d2 * (float)((qs[l] >> 4) | h2 << 4) - m2;
            }
        }
    }
}

void wf_from_float_q5_K(const float *src, void *dst, int64_t n) {
    wf_block_q5_K *b = dst;
    uint8_t q[WF_QK_K];
    for (int64_t i = 0; i < n / WF_QK_K; i++, src += WF_QK_K) {
        k4_quantize_block(src, 31, &b[i].d, &b[i].dmin, b[i].scales, q);
        memset(b[i].qh, 0, sizeof b[i].qh);
        for (int g = 0; g < 4; g++) {
            for (int l = 0; l < 32; l++) {
                const int q1 = q[64 * g + l], q2 = q[64 * g + 32 + l];
                b[i].qs[32 * g + l] = (uint8_t)((q1 & 0x0f) | (q2 & 0x0f) << 4);
                b[i].qh[l] |= (uint8_t)((q1 >> 4) << (2 * g) | (q2 >> 4) << (2 * g + 1));
            }
        }
    }
}

/* ---- Q6_K ------------------------------------------------------------------
 * Per 128-element half h: element 128h + 32k + l (k = 0..3, l = 0..31) has its
 * low 4 bits in ql[64h + l + 32*(k & 1)] (low nibble for k < 2, high for
 * k >= 2) and its top 2 bits at bit 2k of qh[32h + l]. scales[s] covers
 * elements 16s..16s+15. */

void wf_to_float_q6_K(const void *src, float *dst, int64_t n) {
    const wf_block_q6_K *b = src;
    for (int64_t i = 0; i < n / WF_QK_K; i++) {
        const float d = wf_fp16_to_fp32(b[i].d);
        for (int h = 0; h < 2; h++, dst += 128) {
            const uint8_t *ql = b[i].ql + 64 * h, *qh = b[i].qh + 32 * h;
            const int8_t *sc = b[i].scales + 8 * h;
            for (int k = 0; k < 4; k++) {
                const float ds0 = d * (float)sc[2 * k], ds1 = d * (float)sc[2 * k + 1];
                const uint8_t *lo = ql + 32 * (k & 1);
                const int shift = k < 2 ? 0 : 4;
                for (int l = 0; l < 32; l++) {
                    const int q = (((lo[l] >> shift) & 0x0f) | ((qh[l] >> (2 * k)) & 3) << 4) - 32;
                    dst[32 * k + l] = (l < 16 ? ds0 : ds1) * (float)q;
                }
            }
        }
    }
}

/* Fit x[0..n) ~ s*q, q in [qmin, -qmin - 1], s signed (so the larger-
 * magnitude side gets the extra level). */
static float fit_scale_sym(const float *x, int n, int qmin) {
    const int qmax = -qmin - 1;
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < n; j++) {
        if (fabsf(x[j]) > amax) { amax = fabsf(x[j]); max = x[j]; }
    }
    if (!(amax > 0.0f)) return 0.0f;
    float best_s = max / (float)qmin;
    double best_err = INFINITY;
    for (int k = -6; k <= 6; k++) {
        const float is = ((float)qmin + 0.1f * (float)k) / max;
        double sqq = 0, sqx = 0;
        for (int j = 0; j < n; j++) {
            const int q = q_round(x[j] * is, qmin, qmax, 0);
            sqq += (double)q * q; sqx += (double)q * x[j];
        }
        if (!(sqq > 0)) continue;
        const double s = sqx / sqq;
        if (s == 0) continue;
        double err = 0;
        for (int j = 0; j < n; j++) {
            const double e = s * q_round((float)(x[j] / s), qmin, qmax, 0) - x[j];
            err += e * e;
        }
        if (err < best_err) { best_err = err; best_s = (float)s; }
    }
    return best_s;
}

void wf_from_float_q6_K(const float *src, void *dst, int64_t n) {
    wf_block_q6_K *b = dst;
    for (int64_t i = 0; i < n / WF_QK_K; i++, src += WF_QK_K) {
        float s[16], smax = 0.0f;
        for (int j = 0; j < 16; j++) {
            s[j] = fit_scale_sym(src + 16 * j, 16, -32);
            if (fabsf(s[j]) > smax) smax = fabsf(s[j]);
        }
        b[i].d = fp16_scale_up(smax / 127.0f);
        const float d = wf_fp16_to_fp32(b[i].d);
        const float id = d > 0.0f ? 1.0f / d : 0.0f;
        uint8_t q[WF_QK_K];
        for (int j = 0; j < 16; j++) {
            /* the 8-bit scale and its neighbours: keep the best of the three */
            const int sc0 = q_round(s[j] * id, -128, 127, 0);
            float best = INFINITY;
            b[i].scales[j] = (int8_t)sc0;
            for (int a = sc0 - 1; a <= sc0 + 1; a++) {
                if (a < -128 || a > 127) continue;
                const float ds = d * (float)a, ids = ds != 0.0f ? 1.0f / ds : 0.0f;
                float err = 0.0f;
                for (int l = 0; l < 16; l++) {
                    const float xv = src[16 * j + l];
                    const float e = ds * (float)q_round(xv * ids, -32, 31, 0) - xv;
                    err += e * e;
                }
                if (err < best) { best = err; b[i].scales[j] = (int8_t)a; }
            }
            const float ds = d * (float)b[i].scales[j];
            const float ids = ds != 0.0f ? 1.0f / ds : 0.0f;
            for (int l = 0; l < 16; l++) q[16 * j + l] = (uint8_t)(q_round(src[16 * j + l] * ids, -32, 31, 0) + 32);
        }
        memset(b[i].qh, 0, sizeof b[i].qh);
        for (int h = 0; h < 2; h++) {
            for (int k = 0; k < 4; k++) {
                for (int l = 0; l < 32; l++) {
                    const int v = q[128 * h + 32 * k + l];
                    uint8_t *lo = &b[i].ql[64 * h + l + 32 * (k & 1)];
                    if (k < 2) *lo = (uint8_t)(v & 0x0f);
                    else *lo |= (uint8_t)((v & 0x0f) << 4);
                    b[i].qh[32 * h + l] |= (uint8_t)((v >> 4) << (2 * k));
                }
            }
        }
    }
}

/* ---- Q2_K ------------------------------------------------------------------
 * 16 sub-blocks of 16: value = d*sc*q - dmin*m, q in 0..3, sc and m 4 bits
 * (scales[s] = sc | m << 4). Element 128h + 32j + l is bits 2j of
 * qs[32h + l]. */

void wf_to_float_q2_K(const void *src, float *dst, int64_t n) {
    const wf_block_q2_K *b = src;
    for (int64_t i = 0; i < n / WF_QK_K; i++) {
        const float d = wf_fp16_to_fp32(b[i].d), dmin = wf_fp16_to_fp32(b[i].dmin);
        for (int s = 0; s < 16; s++, dst += 16) {
            const float dl = d * (float)(b[i].scales[s] & 0x0f), ml = dmin * (float)(b[i].scales[s] >> 4);
            const uint8_t *q = b[i].qs + 32 * (s / 8) + 16 * (s % 2);
            const int shift = 2 * ((s % 8) / 2);
            for (int l = 0; l < 16; l++) dst[l] = dl * (float)((q[l] >> shift) & 3) - ml;
        }
    }
}

void wf_from_float_q2_K(const float *src, void *dst, int64_t n) {
    wf_block_q2_K *b = dst;
    for (int64_t i = 0; i < n / WF_QK_K; i++, src += WF_QK_K) {
        float s[16], m[16], smax = 0.0f, mmax = 0.0f;
        for (int j = 0; j < 16; j++) {
            fit_scale_min(src + 16 * j, 16, 3, &s[j], &m[j]);
            if (s[j] > smax) smax = s[j];
            if (m[j] > mmax) mmax = m[j];
        }
        b[i].d = fp16_scale_up(smax / 15.0f);
        b[i].dmin = fp16_scale_up(mmax / 15.0f);
        const float d = wf_fp16_to_fp32(b[i].d), dmin = wf_fp16_to_fp32(b[i].dmin);
        const float id = d > 0.0f ? 1.0f / d : 0.0f, idmin = dmin > 0.0f ? 1.0f / dmin : 0.0f;
        uint8_t q[WF_QK_K];
        for (int j = 0; j < 16; j++) {
            const int sc0 = q_round(s[j] * id, 0, 15, 0), mn0 = q_round(m[j] * idmin, 0, 15, 0);
            int sc = sc0, mn = mn0;
            float best = INFINITY;
            for (int a = sc0 - 1; a <= sc0 + 1; a++)
                for (int c = mn0 - 1; c <= mn0 + 1; c++) {
                    if (a < 0 || a > 15 || c < 0 || c > 15) continue;
                    const float ds = d * (float)a, dm = dmin * (float)c;
                    const float ids = ds > 0.0f ? 1.0f / ds : 0.0f;
                    float err = 0.0f;
                    for (int l = 0; l < 16; l++) {
                        const float xv = src[16 * j + l];
                        const float e = ds * (float)q_round((xv + dm) * ids, 0, 3, 0) - dm - xv;
                        err += e * e;
                    }
                    if (err < best) { best = err; sc = a; mn = c; }
                }
            b[i].scales[j] = (uint8_t)(sc | mn << 4);
            const float ds = d * (float)sc, dm = dmin * (float)mn;
            const float ids = ds > 0.0f ? 1.0f / ds : 0.0f;
            for (int l = 0; l < 16; l++) q[16 * j + l] = (uint8_t)q_round((src[16 * j + l] + dm) * ids, 0, 3, 0);
        }
        memset(b[i].qs, 0, sizeof b[i].qs);
        for (int e = 0; e < WF_QK_K; e++) /* e = 128h + 32j + l */
            b[i].qs[32 * (e / 128) + e % 32] |= (uint8_t)(q[e] << (2 * ((e % 128) / 32)));
    }
}

/* ---- Q3_K ------------------------------------------------------------------
 * 16 sub-blocks of 16: value = d*(sc - 32)*(q - 4), q in 0..7 with its low
 * 2 bits as Q2_K's and its third bit at bit 4h + j of hmask[l]; the 6-bit sc
 * are packed in 12 bytes (see quant.h). */

static inline int q3_scale(const uint8_t s[12], int j) {
    const int lo = j < 8 ? s[j] & 0x0f : s[j - 8] >> 4;
    return lo | ((s[8 + j % 4] >> (2 * (j / 4))) & 3) << 4;
}

void wf_to_float_q3_K(const void *src, float *dst, int64_t n) {
    const wf_block_q3_K *b = src;
    for (int64_t i = 0; i < n / WF_QK_K; i++) {
        const float d = wf_fp16_to_fp32(b[i].d);
        for (int s = 0; s < 16; s++, dst += 16) {
            const float dl = d * (float)(q3_scale(b[i].scales, s) - 32);
            const int h = s / 8, j = (s % 8) / 2, l0 = 16 * (s % 2);
            const uint8_t *q = b[i].qs + 32 * h;
            for (int l = l0; l < l0 + 16; l++) {
                const int v = ((q[l] >> (2 * j)) & 3) | ((b[i].hmask[l] >> (4 * h + j)) & 1) << 2;
                dst[l - l0] = dl * (float)(v - 4);
            }
        }
    }
}

void wf_from_float_q3_K(const float *src, void *dst, int64_t n) {
    wf_block_q3_K *b = dst;
    for (int64_t i = 0; i < n / WF_QK_K; i++, src += WF_QK_K) {
        float s[16], smax = 0.0f, sext = 0.0f;
        for (int j = 0; j < 16; j++) {
            s[j] = fit_scale_sym(src + 16 * j, 16, -4);
            if (fabsf(s[j]) > smax) { smax = fabsf(s[j]); sext = s[j]; }
        }
        /* the 6-bit scales hold sc - 32 in [-32, 31]: the largest maps to -32 */
        b[i].d = fp16_scale_up(sext / -32.0f);
        const float d = wf_fp16_to_fp32(b[i].d);
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        uint8_t q[WF_QK_K];
        memset(b[i].scales, 0, sizeof b[i].scales);
        for (int j = 0; j < 16; j++) {
            const int sc0 = q_round(s[j] * id, -32, 31, 0);
            int sc = sc0;
            float best = INFINITY;
            for (int a = sc0 - 1; a <= sc0 + 1; a++) {
                if (a < -32 || a > 31) continue;
                const float ds = d * (float)a, ids = ds != 0.0f ? 1.0f / ds : 0.0f;
                float err = 0.0f;
                for (int l = 0; l < 16; l++) {
                    const float xv = src[16 * j + l];
                    const float e = ds * (float)q_round(xv * ids, -4, 3, 0) - xv;
                    err += e * e;
                }
                if (err < best) { best = err; sc = a; }
            }
            const int u = sc + 32;
            if (j < 8) b[i].scales[j] |= (uint8_t)(u & 0x0f);
            else b[i].scales[j - 8] |= (uint8_t)((u & 0x0f) << 4);
            b[i].scales[8 + j % 4] |= (uint8_t)((u >> 4) << (2 * (j / 4)));
            const float ds = d * (float)sc, ids = ds != 0.0f ? 1.0f / ds : 0.0f;
            for (int l = 0; l < 16; l++) q[16 * j + l] = (uint8_t)(q_round(src[16 * j + l] * ids, -4, 3, 0) + 4);
        }
        memset(b[i].qs, 0, sizeof b[i].qs);
        memset(b[i].hmask, 0, sizeof b[i].hmask);
        for (int e = 0; e < WF_QK_K; e++) { /* e = 128h + 32j + l */
            const int h = e / 128, j = (e % 128) / 32, l = e % 32;
            b[i].qs[32 * h + l] |= (uint8_t)((q[e] & 3) << (2 * j));
            b[i].hmask[l] |= (uint8_t)((q[e] >> 2) << (4 * h + j));
        }
    }
}

/* ---- Q8_K: activation format of the K-quant dots ---------------------------- */

void wf_to_float_q8_K(const void *src, float *dst, int64_t n) {
    const wf_block_q8_K *b = src;
    for (int64_t i = 0; i < n / WF_QK_K; i++, dst += WF_QK_K)
        for (int j = 0; j < WF_QK_K; j++) dst[j] = b[i].d * (float)b[i].qs[j];
}

/* d = max / -127 with max the signed element of largest magnitude (stored as
 * float, unrounded), q in [-127, 127]; bsums[k] = sum of qs[16k..16k+15]. */
void wf_from_float_q8_K(const float *src, void *dst, int64_t n) {
    wf_block_q8_K *b = dst;
    for (int64_t i = 0; i < n / WF_QK_K; i++, src += WF_QK_K) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < WF_QK_K; j++) {
            if (fabsf(src[j]) > amax) { amax = fabsf(src[j]); max = src[j]; }
        }
        if (!(amax > 0.0f)) { /* all zero: d = 0 (Inf input gives d = -Inf, NaN out) */
            b[i].d = 0.0f;
            memset(b[i].qs, 0, sizeof b[i].qs);
            memset(b[i].bsums, 0, sizeof b[i].bsums);
            continue;
        }
        const float iscale = -127.0f / max;
        for (int j = 0; j < WF_QK_K; j++) b[i].qs[j] = (int8_t)q_round(src[j] * iscale, -127, 127, 0);
        for (int k = 0; k < WF_QK_K / 16; k++) {
            int sum = 0;
            for (int l = 0; l < 16; l++) sum += b[i].qs[16 * k + l];
            b[i].bsums[k] = (int16_t)sum;
        }
        b[i].d = 1.0f / iscale;
    }
}
