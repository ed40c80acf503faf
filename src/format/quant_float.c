/* quant_float.c — reference conversions for the unquantized element types
 * (F32, F16, BF16). "Blocks" are single elements; n is any count >= 0. */
#include "format/quant.h"

void wf_to_float_f32(const void *src, float *dst, int64_t n) {
    if (n > 0) memcpy(dst, src, (size_t)n * sizeof(float));
}

void wf_from_float_f32(const float *src, void *dst, int64_t n) {
    if (n > 0) memcpy(dst, src, (size_t)n * sizeof(float));
}

/* src: (n) IEEE half bits; dst: (n) */
void wf_to_float_f16(const void *src, float *dst, int64_t n) {
    const uint16_t *h = src;
    for (int64_t i = 0; i < n; i++) dst[i] = wf_fp16_to_fp32(h[i]);
}

/* Round to nearest even; out-of-range values become +-Inf. */
void wf_from_float_f16(const float *src, void *dst, int64_t n) {
    uint16_t *h = dst;
    for (int64_t i = 0; i < n; i++) h[i] = wf_fp32_to_fp16(src[i]);
}

/* src: (n) bfloat16 bits (the top half of an IEEE float); dst: (n) */
void wf_to_float_bf16(const void *src, float *dst, int64_t n) {
    const uint16_t *h = src;
    for (int64_t i = 0; i < n; i++) dst[i] = wf_bf16_to_fp32(h[i]);
}

void wf_from_float_bf16(const float *src, void *dst, int64_t n) {
    uint16_t *h = dst;
    for (int64_t i = 0; i < n; i++) h[i] = wf_fp32_to_bf16(src[i]);
}
