/* quant_legacy.c — reference (scalar) conversions for the 32-element block
 * types: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1.
 *
 * Layouts are GGUF's (see quant.h). Quantizers round the scales to fp16
 * first and then pick each q against the rounded scale, so what is stored
 * is what the quantization decisions were made against. Non-finite input
 * never causes undefined behaviour (NaN elements quantize to the middle
 * code), but the result for such blocks is meaningless. */
#include "format/quant.h"
#include "format/quant_int.h"

#include <math.h>

/* The element of largest magnitude (with its sign) and that magnitude. */
static inline float signed_absmax(const float *x, int n, float *amax_out) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < n; j++) {
        float a = fabsf(x[j]);
        if (a > amax) { amax = a; max = x[j]; }
    }
    *amax_out = amax;
    return max;
}

static inline void min_max(const float *x, int n, float *mn, float *mx) {
    float lo = x[0], hi = x[0];
    for (int j = 1; j < n; j++) {
        if (x[j] < lo) lo = x[j];
        if (x[j] > hi) hi = x[j];
    }
    *mn = lo;
    *mx = hi;
}

static inline uint32_t load_u32le(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void store_u32le(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}

/* ---- Q4_0: value = (q - 8) * d ------------------------------------------- */

void wf_to_float_q4_0(const void *src, float *dst, int64_t n) {
    const wf_block_q4_0 *b = src;
    for (int64_t i = 0; i < n / WF_QK4_0; i++, dst += WF_QK4_0) {
        const float d = wf_fp16_to_fp32(b[i].d);
        for (int j = 0; j < WF_QK4_0 / 2; j++) {
            dst[j] = (float)((b[i].qs[j] & 0x0f) - 8) * d;
            dst[j + WF_QK4_0 / 2] = (float)((b[i].qs[j] >> 4) - 8) * d;
        }
    }
}

/* d = max / -8 with max the signed element of largest magnitude: that
 * element maps exactly to q = 0 and the other side gets 7 steps. */
void wf_from_float_q4_0(const float *src, void *dst, int64_t n) {
    wf_block_q4_0 *b = dst;
    for (int64_t i = 0; i < n / WF_QK4_0; i++, src += WF_QK4_0) {
        float amax;
        const float max = signed_absmax(src, WF_QK4_0, &amax);
        b[i].d = fp16_scale_up(max / -8.0f);
        const float d = wf_fp16_to_fp32(b[i].d);
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        for (int j = 0; j < WF_QK4_0 / 2; j++) {
            int q0 = q_round(src[j] * id + 8.0f, 0, 15, 8);
            int q1 = q_round(src[j + WF_QK4_0 / 2] * id + 8.0f, 0, 15, 8);
            b[i].qs[j] = (uint8_t)(q0 | q1 << 4);
        }
    }
}

/* ---- Q4_1: value = q * d + m --------------------------------------------- */

void wf_to_float_q4_1(const void *src, float *dst, int64_t n) {
    const wf_block_q4_1 *b = src;
    for (int64_t i = 0; i < n / WF_QK4_1; i++, dst += WF_QK4_1) {
        const float d = wf_fp16_to_fp32(b[i].d);
        const float m = wf_fp16_to_fp32(b[i].m);
        for (int j = 0; j < WF_QK4_1 / 2; j++) {
            dst[j] = (float)(b[i].qs[j] & 0x0f) * d + m;
            dst[j + WF_QK4_1 / 2] = (float)(b[i].qs[j] >> 4) * d + m;
        }
    }
}

void wf_from_float_q4_1(const float *src, void *dst, int64_t n) {
    wf_block_q4_1 *b = dst;
    for (int64_t i = 0; i < n / WF_QK4_1; i++, src += WF_QK4_1) {
        float mn, mx;
        min_max(src, WF_QK4_1, &mn, &mx);
        b[i].d = fp16_scale_up((mx - mn) / 15.0f);
        b[i].m = wf_fp32_to_fp16(mn);
        const float d = wf_fp16_to_fp32(b[i].d);
        const float m = wf_fp16_to_fp32(b[i].m);
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        for (int j = 0; j < WF_QK4_1 / 2; j++) {
            int q0 = q_round((src[j] - m) * id, 0, 15, 0);
            int q1 = q_round((src[j + WF_QK4_1 / 2] - m) * id, 0, 15, 0);
            b[i].qs[j] = (uint8_t)(q0 | q1 << 4);
        }
    }
}

/* ---- Q5_0: value = (q - 16) * d, bit 4 of element j = bit j of qh -------- */

void wf_to_float_q5_0(const void *src, float *dst, int64_t n) {
    const wf_block_q5_0 *b = src;
    for (int64_t i = 0; i < n / WF_QK5_0; i++, dst += WF_QK5_0) {
        const float d = wf_fp16_to_fp32(b[i].d);
        const uint32_t qh = load_u32le(b[i].qh);
        for (int j = 0; j < WF_QK5_0 / 2; j++) {
            int q0 = (b[i].qs[j] & 0x0f) | (int)((qh >> j) & 1) << 4;
            int q1 = (b[i].qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
            dst[j] = (float)(q0 - 16) * d;
            dst[j + WF_QK5_0 / 2] = (float)(q1 - 16) * d;
        }
    }
}

void wf_from_float_q5_0(const float *src, void *dst, int64_t n) {
    wf_block_q5_0 *b = dst;
    for (int64_t i = 0; i < n / WF_QK5_0; i++, src += WF_QK5_0) {
        float amax;
        const float max = signed_absmax(src, WF_QK5_0, &amax);
        b[i].d = fp16_scale_up(max / -16.0f);
        const float d = wf_fp16_to_fp32(b[i].d);
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        uint32_t qh = 0;
        for (int j = 0; j < WF_QK5_0 / 2; j++) {
            int q0 = q_round(src[j] * id + 16.0f, 0, 31, 16);
            int q1 = q_round(src[j + WF_QK5_0 / 2] * id + 16.0f, 0, 31, 16);
            b[i].qs[j] = (uint8_t)((q0 & 0x0f) | (q1 & 0x0f) << 4);
            qh |= (uint32_t)(q0 >> 4) << j | (uint32_t)(q1 >> 4) << (j + 16);
        }
        store_u32le(b[i].qh, qh);
    }
}

/* ---- Q5_1: value = q * d + m --------------------------------------------- */

void wf_to_float_q5_1(const void *src, float *dst, int64_t n) {
    const wf_block_q5_1 *b = src;
    for (int64_t i = 0; i < n / WF_QK5_1; i++, dst += WF_QK5_1) {
        const float d = wf_fp16_to_fp32(b[i].d);
        const float m = wf_fp16_to_fp32(b[i].m);
        const uint32_t qh = load_u32le(b[i].qh);
        for (int j = 0; j < WF_QK5_1 / 2; j++) {
            int q0 = (b[i].qs[j] & 0x0f) | (int)((qh >> j) & 1) << 4;
            int q1 = (b[i].qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
            dst[j] = (float)q0 * d + m;
            dst[j + WF_QK5_1 / 2] = (float)q1 * d + m;
        }
    }
}

void wf_from_float_q5_1(const float *src, void *dst, int64_t n) {
    wf_block_q5_1 *b = dst;
    for (int64_t i = 0; i < n / WF_QK5_1; i++, src += WF_QK5_1) {
        float mn, mx;
        min_max(src, WF_QK5_1, &mn, &mx);
        b[i].d = fp16_scale_up((mx - mn) / 31.0f);
        b[i].m = wf_fp32_to_fp16(mn);
        const float d = wf_fp16_to_fp32(b[i].d);
        const float m = wf_fp16_to_fp32(b[i].m);
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        uint32_t qh = 0;
        for (int j = 0; j < WF_QK5_1 / 2; j++) {
            int q0 = q_round((src[j] - m) * id, 0, 31, 0);
            int q1 = q_round((src[j + WF_QK5_1 / 2] - m) * id, 0, 31, 0);
            b[i].qs[j] = (uint8_t)((q0 & 0x0f) | (q1 & 0x0f) << 4);
            qh |= (uint32_t)(q0 >> 4) << j | (uint32_t)(q1 >> 4) << (j + 16);
        }
        store_u32le(b[i].qh, qh);
    }
}

/* ---- Q8_0: value = q * d ------------------------------------------------- */

void wf_to_float_q8_0(const void *src, float *dst, int64_t n) {
    const wf_block_q8_0 *b = src;
    for (int64_t i = 0; i < n / WF_QK8_0; i++, dst += WF_QK8_0) {
        const float d = wf_fp16_to_fp32(b[i].d);
        for (int j = 0; j < WF_QK8_0; j++) dst[j] = (float)b[i].qs[j] * d;
    }
}

/* Symmetric: d = amax / 127, q in [-127, 127]. */
void wf_from_float_q8_0(const float *src, void *dst, int64_t n) {
    wf_block_q8_0 *b = dst;
    for (int64_t i = 0; i < n / WF_QK8_0; i++, src += WF_QK8_0) {
        float amax;
        signed_absmax(src, WF_QK8_0, &amax);
        b[i].d = fp16_scale_up(amax / 127.0f);
        const float d = wf_fp16_to_fp32(b[i].d);
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        for (int j = 0; j < WF_QK8_0; j++) b[i].qs[j] = (int8_t)q_round(src[j] * id, -127, 127, 0);
    }
}

/* ---- Q8_1: value = q * d; s = d * sum(q) (activation side of Q4_1/Q5_1) -- */

void wf_to_float_q8_1(const void *src, float *dst, int64_t n) {
    const wf_block_q8_1 *b = src;
    for (int64_t i = 0; i < n / WF_QK8_1; i++, dst += WF_QK8_1) {
        const float d = wf_fp16_to_fp32(b[i].d);
        for (int j = 0; j < WF_QK8_1; j++) dst[j] = (float)b[i].qs[j] * d;
    }
}

void wf_from_float_q8_1(const float *src, void *dst, int64_t n) {
    wf_block_q8_1 *b = dst;
    for (int64_t i = 0; i < n / WF_QK8_1; i++, src += WF_QK8_1) {
        float amax;
        signed_absmax(src, WF_QK8_1, &amax);
        b[i].d = fp16_scale_up(amax / 127.0f);
        const float d = wf_fp16_to_fp32(b[i].d);
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        int sum = 0;
        for (int j = 0; j < WF_QK8_1; j++) {
            b[i].qs[j] = (int8_t)q_round(src[j] * id, -127, 127, 0);
            sum += b[i].qs[j];
        }
        b[i].s = wf_fp32_to_fp16(d * (float)sum);
    }
}
