/* kernels_scalar.c — the scalar reference kernels: dot products of a weight
 * row with an activation row for every loadable weight type (Q2_K, Q3_K,
 * IQ4_XS with Q8_K activations; IQ4_NL and MXFP4 with Q8_0), the gemm tile
 * built from them, and the reference conversions as quantize_row/to_float.
 *
 * Quantized dots work as a real engine does: integer products within a block
 * (weight codes x activation codes), scaled and accumulated in float once per
 * block or sub-block. Every SIMD kernel is tested against these. */
#include "cpu/kernels.h"

/* ---- float weights, F32 activations --------------------------------------- */

/* w: (n) f32; a: (n) f32 */
static void vec_dot_f32(int64_t n, float *out, const void *w, const void *a) {
    const float *x = w, *y = a;
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i++) sum += x[i] * y[i];
    *out = sum;
}

/* w: (n) f16; a: (n) f32 */
static void vec_dot_f16(int64_t n, float *out, const void *w, const void *a) {
    const uint16_t *x = w;
    const float *y = a;
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i++) sum += wf_fp16_to_fp32(x[i]) * y[i];
    *out = sum;
}

/* w: (n) bf16; a: (n) f32 */
static void vec_dot_bf16(int64_t n, float *out, const void *w, const void *a) {
    const uint16_t *x = w;
    const float *y = a;
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i++) sum += wf_bf16_to_fp32(x[i]) * y[i];
    *out = sum;
}

/* ---- 32-element blocks × Q8_0 / Q8_1 ---------------------------------------- */

static inline uint32_t load_u32le(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* w: (n/32) q4_0 blocks; a: (n/32) q8_0 blocks */
static void vec_dot_q4_0(int64_t n, float *out, const void *w, const void *a) {
    const wf_block_q4_0 *x = w;
    const wf_block_q8_0 *y = a;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / WF_QK4_0; i++) {
        int32_t s = 0;
        for (int j = 0; j < WF_QK4_0 / 2; j++) {
            s += ((x[i].qs[j] & 0x0f) - 8) * y[i].qs[j];
            s += ((x[i].qs[j] >> 4) - 8) * y[i].qs[j + WF_QK4_0 / 2];
        }
        sum += (float)s * (wf_fp16_to_fp32(x[i].d) * wf_fp16_to_fp32(y[i].d));
    }
    *out = sum;
}

/* w: (n/32) q5_0 blocks; a: (n/32) q8_0 blocks */
static void vec_dot_q5_0(int64_t n, float *out, const void *w, const void *a) {
    const wf_block_q5_0 *x = w;
    const wf_block_q8_0 *y = a;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / WF_QK5_0; i++) {
        const uint32_t qh = load_u32le(x[i].qh);
        int32_t s = 0;
        for (int j = 0; j < WF_QK5_0 / 2; j++) {
            const int q0 = ((x[i].qs[j] & 0x0f) | (int)((qh >> j) & 1) << 4) - 16;
            const int q1 = ((x[i].qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4) - 16;
            s += q0 * y[i].qs[j] + q1 * y[i].qs[j + WF_QK5_0 / 2];
        }
        sum += (float)s * (wf_fp16_to_fp32(x[i].d) * wf_fp16_to_fp32(y[i].d));
    }
    *out = sum;
}

/* w: (n/32) q8_0 blocks; a: (n/32) q8_0 blocks */
static void vec_dot_q8_0(int64_t n, float *out, const void *w, const void *a) {
    const wf_block_q8_0 *x = w;
    const wf_block_q8_0 *y = a;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / WF_QK8_0; i++) {
        int32_t s = 0;
        for (int j = 0; j < WF_QK8_0; j++) s += x[i].qs[j] * y[i].qs[j];
        sum += (float)s * (wf_fp16_to_fp32(x[i].d) * wf_fp16_to_fp32(y[i].d));
    }
    *out = sum;
}

/* sum_j (q_j*d + m) * y_j = d*dy*sum(q*qy) + m*s_y, s_y = dy*sum(qy). */
/* w: (n/32) q4_1 blocks; a: (n/32) q8_1 blocks */
static void vec_dot_q4_1(int64_t n, float *out, const void *w, const void *a) {
    const wf_block_q4_1 *x = w;
    const wf_block_q8_1 *y = a;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / WF_QK4_1; i++) {
        int32_t s = 0;
        for (int j = 0; j < WF_QK4_1 / 2; j++) {
            s += (x[i].qs[j] & 0x0f) * y[i].qs[j];
            s += (x[i].qs[j] >> 4) * y[i].qs[j + WF_QK4_1 / 2];
        }
        sum += (float)s * (wf_fp16_to_fp32(x[i].d) * wf_fp16_to_fp32(y[i].d)) +
               wf_fp16_to_fp32(x[i].m) * wf_fp16_to_fp32(y[i].s);
    }
    *out = sum;
}

/* w: (n/32) q5_1 blocks; a: (n/32) q8_1 blocks */
static void vec_dot_q5_1(int64_t n, float *out, const void *w, const void *a) {
    const wf_block_q5_1 *x = w;
    const wf_block_q8_1 *y = a;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / WF_QK5_1; i++) {
        const uint32_t qh = load_u32le(x[i].qh);
        int32_t s = 0;
        for (int j = 0; j < WF_QK5_1 / 2; j++) {
            const int q0 = (x[i].qs[j] & 0x0f) | (int)((qh >> j) & 1) << 4;
            const int q1 = (x[i].qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
            s += q0 * y[i].qs[j] + q1 * y[i].qs[j + WF_QK5_1 / 2];
        }
        sum += (float)s * (wf_fp16_to_fp32(x[i].d) * wf_fp16_to_fp32(y[i].d)) +
               wf_fp16_to_fp32(x[i].m) * wf_fp16_to_fp32(y[i].s);
    }
    *out = sum;
}

/* w: (n/32) q8_1 blocks; a: (n/32) q8_1 blocks */
static void vec_dot_q8_1(int64_t n, float *out, const void *w, const void *a) {
    const wf_block_q8_1 *x = w;
    const wf_block_q8_1 *y = a;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / WF_QK8_1; i++) {
        int32_t s = 0;
        for (int j = 0; j < WF_QK8_1; j++) s += x[i].qs[j] * y[i].qs[j];
        sum += (float)s * (wf_fp16_to_fp32(x[i].d) * wf_fp16_to_fp32(y[i].d));
    }
    *out = sum;
}

/* ---- K-quants × Q8_K ---------------------------------------------------------- */

static inline void k4_scale_min(int j, const uint8_t *s, int *sc, int *m) {
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 0x0f) | (s[j - 4] >> 6) << 4;
        *m = (s[j + 4] >> 4) | (s[j] >> 6) << 4;
    }
}

/* value = d*sc*q - dmin*m, so per super-block
 *   dot = dy*d*sum_j sc_j*sum(q*qy) - dy*dmin*sum_j m_j*sum(qy over j),
 * the last sums being two bsums of the activation per 32-element sub-block. */
/* w: (n/256) q4_K blocks; a: (n/256) q8_K blocks */
static void vec_dot_q4_K(int64_t n, float *out, const void *w, const void *a) {
    const wf_block_q4_K *x = w;
    const wf_block_q8_K *y = a;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / WF_QK_K; i++) {
        int32_t isum = 0, msum = 0;
        for (int g = 0; g < 4; g++) {
            const uint8_t *qs = x[i].qs + 32 * g;
            const int8_t *q8 = y[i].qs + 64 * g;
            int32_t s1 = 0, s2 = 0;
            for (int l = 0; l < 32; l++) {
                s1 += (qs[l] & 0x0f) * q8[l];
                s2 += (qs[l] >> 4) * q8[l + 32];
            }
            int sc, m;
            k4_scale_min(2 * g, x[i].scales, &sc, &m);
            isum += sc * s1;
            msum += m * (y[i].bsums[4 * g] + y[i].bsums[4 * g + 1]);
            k4_scale_min(2 * g + 1, x[i].scales, &sc, &m);
            isum += sc * s2;
            msum += m * (y[i].bsums[4 * g + 2] + y[i].bsums[4 * g + 3]);
        }
        sum += y[i].d * wf_fp16_to_fp32(x[i].d) * (float)isum -
               y[i].d * wf_fp16_to_fp32(x[i].dmin) * (float)msum;
    }
    *out = sum;
}

/* w: (n/256) q5_K blocks; a: (n/256) q8_K blocks */
static void vec_dot_q5_K(int64_t n, float *out, const void *w, const void *a) {
    const wf_block_q5_K *x = w;
    const wf_block_q8_K *y = a;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / WF_QK_K; i++) {
        int32_t isum = 0, msum = 0;
        for (int g = 0; g < 4; g++) {
            const uint8_t *qs = x[i].qs + 32 * g, *qh = x[i].qh;
            const int8_t *q8 = y[i].qs + 64 * g;
            int32_t s1 = 0, s2 = 0;
            for (int l = 0; l < 32; l++) {
                s1 += ((qs[l] & 0x0f) | ((qh[l] >> (2 * g)) & 1) << 4) * q8[l];
                s2 += ((qs[l] >> 4) | ((qh[l] >> (2 * g + 1)) & 1) << 4) * q8[l + 32];
            }
            int sc, m;
            k4_scale_min(2 * g, x[i].scales, &sc, &m);
            isum += sc * s1;
            msum += m * (y[i].bsums[4 * g] + y[i].bsums[4 * g + 1]);
            k4_scale_min(2 * g + 1, x[i].scales, &sc, &m);
            isum += sc * s2;
            msum += m * (y[i].bsums[4 * g + 2] + y[i].bsums[4 * g + 3]);
        }
        sum += y[i].d * wf_fp16_to_fp32(x[i].d) * (float)isum -
               y[i].d * wf_fp16_to_fp32(x[i].dmin) * (float)msum;
    }
    *out = sum;
}

/* w: (n/256) q6_K blocks; a: (n/256) q8_K blocks */
static void vec_dot_q6_K(int64_t n, float *out, const void *w, const void *a) {
    const wf_block_q6_K *x = w;
    const wf_block_q8_K *y = a;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / WF_QK_K; i++) {
        int32_t isum = 0;
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = x[i].ql + 64 * h, *qh = x[i].qh + 32 * h;
            const int8_t *q8 = y[i].qs + 128 * h;
            const int8_t *sc = x[i].scales + 8 * h;
            for (int k = 0; k < 4; k++) {
                int32_t s[2] = {0, 0};
                for (int l = 0; l < 32; l++) {
                    const uint8_t lo = ql[l + 32 * (k & 1)];
                    const int q = ((k < 2 ? lo & 0x0f : lo >> 4) | ((qh[l] >> (2 * k)) & 3) << 4) - 32;
                    s[l / 16] += q * q8[32 * k + l];
                }
                isum += sc[2 * k] * s[0] + sc[2 * k + 1] * s[1];
            }
        }
        sum += y[i].d * wf_fp16_to_fp32(x[i].d) * (float)isum;
    }
    *out = sum;
}

/* w: (n/256) q8_K blocks; a: (n/256) q8_K blocks */
static void vec_dot_q8_K(int64_t n, float *out, const void *w, const void *a) {
    const wf_block_q8_K *x = w;
    const wf_block_q8_K *y = a;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / WF_QK_K; i++) {
        int32_t s = 0;
        for (int j = 0; j < WF_QK_K; j++) s += x[i].qs[j] * y[i].qs[j];
        sum += x[i].d * y[i].d * (float)s;
    }
    *out = sum;
}

/* ---- low-bit K-quants and codebook types ------------------------------------ */

/* value = d*sc*q - dmin*m per 16-element sub-block: the min term uses the
 * activation's bsums directly (one per sub-block). */
/* w: (n/256) q2_K blocks; a: (n/256) q8_K blocks */
static void vec_dot_q2_K(int64_t n, float *out, const void *w, const void *a) {
    const wf_block_q2_K *x = w;
    const wf_block_q8_K *y = a;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / WF_QK_K; i++) {
        int32_t isum = 0, msum = 0;
        for (int s = 0; s < 16; s++) { /* elements 16s.. = 128h + 32j + 16(s%2) */
            const uint8_t *q = x[i].qs + 32 * (s / 8) + 16 * (s % 2);
            const int shift = 2 * ((s % 8) / 2);
            int32_t d = 0;
            for (int l = 0; l < 16; l++) d += ((q[l] >> shift) & 3) * y[i].qs[16 * s + l];
            isum += (x[i].scales[s] & 0x0f) * d;
            msum += (x[i].scales[s] >> 4) * y[i].bsums[s];
        }
        sum += y[i].d * wf_fp16_to_fp32(x[i].d) * (float)isum -
               y[i].d * wf_fp16_to_fp32(x[i].dmin) * (float)msum;
    }
    *out = sum;
}

/* value = d*(sc - 32)*(q - 4): exact integer sum per super-block. */
/* w: (n/256) q3_K blocks; a: (n/256) q8_K blocks */
static void vec_dot_q3_K(int64_t n, float *out, const void *w, const void *a) {
    const wf_block_q3_K *x = w;
    const wf_block_q8_K *y = a;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / WF_QK_K; i++) {
        const uint8_t *sc = x[i].scales;
        int32_t isum = 0;
        for (int s = 0; s < 16; s++) {
            const int h = s / 8, j = (s % 8) / 2, l0 = 16 * (s % 2);
            const int scale = ((s < 8 ? sc[s] & 0x0f : sc[s - 8] >> 4) | ((sc[8 + s % 4] >> (2 * (s / 4))) & 3) << 4) - 32;
            int32_t d = 0;
            for (int l = l0; l < l0 + 16; l++) {
                const int q = (((x[i].qs[32 * h + l] >> (2 * j)) & 3) | ((x[i].hmask[l] >> (4 * h + j)) & 1) << 2) - 4;
                d += q * y[i].qs[16 * s + l - l0];
            }
            isum += scale * d;
        }
        sum += y[i].d * wf_fp16_to_fp32(x[i].d) * (float)isum;
    }
    *out = sum;
}

/* w: (n/32) iq4_nl blocks; a: (n/32) q8_0 blocks */
static void vec_dot_iq4_nl(int64_t n, float *out, const void *w, const void *a) {
    const wf_block_iq4_nl *x = w;
    const wf_block_q8_0 *y = a;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / WF_QK4_NL; i++) {
        int32_t s = 0;
        for (int j = 0; j < 16; j++)
            s += wf_iq4nl_values[x[i].qs[j] & 0x0f] * y[i].qs[j] + wf_iq4nl_values[x[i].qs[j] >> 4] * y[i].qs[j + 16];
        sum += (float)s * (wf_fp16_to_fp32(x[i].d) * wf_fp16_to_fp32(y[i].d));
    }
    *out = sum;
}

/* value = d*(ls - 32)*level(q) per 32-element sub-block: exact integer sum
 * per super-block (|sum| < 8 * 32 * 32 * 127 * 127). */
/* w: (n/256) iq4_xs blocks; a: (n/256) q8_K blocks */
static void vec_dot_iq4_xs(int64_t n, float *out, const void *w, const void *a) {
    const wf_block_iq4_xs *x = w;
    const wf_block_q8_K *y = a;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / WF_QK_K; i++) {
        int32_t isum = 0;
        for (int j = 0; j < 8; j++) {
            const int ls = (((x[i].scales_l[j / 2] >> (4 * (j % 2))) & 0x0f) | ((x[i].scales_h >> (2 * j)) & 3) << 4) - 32;
            const uint8_t *qs = x[i].qs + 16 * j;
            const int8_t *q8 = y[i].qs + 32 * j;
            int32_t d = 0;
            for (int l = 0; l < 16; l++)
                d += wf_iq4nl_values[qs[l] & 0x0f] * q8[l] + wf_iq4nl_values[qs[l] >> 4] * q8[l + 16];
            isum += ls * d;
        }
        sum += y[i].d * wf_fp16_to_fp32(x[i].d) * (float)isum;
    }
    *out = sum;
}

/* The doubled E2M1 values are integers, so the block sum is exact; its
 * scale 2^(e-128) times the activation's d is exact too (a power of two). */
/* w: (n/32) mxfp4 blocks; a: (n/32) q8_0 blocks */
static void vec_dot_mxfp4(int64_t n, float *out, const void *w, const void *a) {
    const wf_block_mxfp4 *x = w;
    const wf_block_q8_0 *y = a;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / WF_QK_MXFP4; i++) {
        int32_t s = 0;
        for (int j = 0; j < 16; j++)
            s += wf_mxfp4_values[x[i].qs[j] & 0x0f] * y[i].qs[j] + wf_mxfp4_values[x[i].qs[j] >> 4] * y[i].qs[j + 16];
        sum += (float)s * (wf_e8m0_half(x[i].e) * wf_fp16_to_fp32(y[i].d));
    }
    *out = sum;
}

/* ---- gemm tiles: a loop of the type's dot ------------------------------------ */

/* w: (nr, n) rows w_stride bytes apart; a: (nc, n) rows a_stride bytes apart;
 * out: (nc, out_stride) floats, out[c * out_stride + r]. */
#define WF_SCALAR_GEMM(t)                                                                 \
    static void gemm_##t(int64_t n, int nr, int nc, const void *w, size_t w_stride,       \
                         const void *a, size_t a_stride, float *out, size_t out_stride) { \
        for (int c = 0; c < nc; c++)                                                      \
            for (int r = 0; r < nr; r++)                                                  \
                vec_dot_##t(n, &out[(size_t)c * out_stride + (size_t)r],                  \
                            (const char *)w + (size_t)r * w_stride,                       \
                            (const char *)a + (size_t)c * a_stride);                      \
    }
WF_SCALAR_GEMM(f32) WF_SCALAR_GEMM(f16) WF_SCALAR_GEMM(bf16)
WF_SCALAR_GEMM(q4_0) WF_SCALAR_GEMM(q4_1) WF_SCALAR_GEMM(q5_0) WF_SCALAR_GEMM(q5_1)
WF_SCALAR_GEMM(q8_0) WF_SCALAR_GEMM(q8_1)
WF_SCALAR_GEMM(q4_K) WF_SCALAR_GEMM(q5_K) WF_SCALAR_GEMM(q6_K) WF_SCALAR_GEMM(q8_K)
WF_SCALAR_GEMM(q2_K) WF_SCALAR_GEMM(q3_K) WF_SCALAR_GEMM(iq4_nl) WF_SCALAR_GEMM(iq4_xs) WF_SCALAR_GEMM(mxfp4)
#undef WF_SCALAR_GEMM

void wf_kernels_fill_scalar(wf_kernels *k) {
    memset(k, 0, sizeof *k);
    k->isa = WF_ISA_SCALAR;
#define SET(T, t) (k->vec_dot[T] = vec_dot_##t, k->gemm[T] = gemm_##t)
    SET(WF_TYPE_F32, f32);
    SET(WF_TYPE_F16, f16);
    SET(WF_TYPE_BF16, bf16);
    SET(WF_TYPE_Q4_0, q4_0);
    SET(WF_TYPE_Q4_1, q4_1);
    SET(WF_TYPE_Q5_0, q5_0);
    SET(WF_TYPE_Q5_1, q5_1);
    SET(WF_TYPE_Q8_0, q8_0);
    SET(WF_TYPE_Q8_1, q8_1);
    SET(WF_TYPE_Q4_K, q4_K);
    SET(WF_TYPE_Q5_K, q5_K);
    SET(WF_TYPE_Q6_K, q6_K);
    SET(WF_TYPE_Q8_K, q8_K);
    SET(WF_TYPE_Q2_K, q2_K);
    SET(WF_TYPE_Q3_K, q3_K);
    SET(WF_TYPE_IQ4_NL, iq4_nl);
    SET(WF_TYPE_IQ4_XS, iq4_xs);
    SET(WF_TYPE_MXFP4, mxfp4);
#undef SET
    for (uint32_t t = 0; t < WF_TYPE_COUNT; t++) k->gemm_exact[t] = WF_GEMM_EXACT_ANY; /* one dot per column */
    /* Conversions come from the traits table, so a type is converted the
     * same way everywhere. Activation types get a quantize_row. */
    static const wf_type act[] = {WF_TYPE_F32, WF_TYPE_F16, WF_TYPE_BF16,
                                  WF_TYPE_Q8_0, WF_TYPE_Q8_1, WF_TYPE_Q8_K};
    for (size_t i = 0; i < sizeof act / sizeof act[0]; i++) {
        const wf_type_traits *tr = wf_type_get((uint32_t)act[i]);
        if (tr) k->quantize_row[act[i]] = tr->from_float;
    }
    for (uint32_t t = 0; t < WF_TYPE_COUNT; t++) {
        const wf_type_traits *tr = wf_type_get(t);
        if (tr) k->to_float[t] = tr->to_float;
    }
}
