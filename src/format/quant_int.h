/* quant_int.h — rounding helpers shared by the reference quantizers
 * (quant_legacy.c, quant_k.c). Their exact behaviour is part of the formats'
 * reference bytes: the SIMD activation quantizers reproduce it bit for bit. */
#ifndef WF_QUANT_ROUND_H
#define WF_QUANT_ROUND_H

#include "base/common.h"

#include <math.h>

/* round(v) clamped to [lo, hi] (|lo|, |hi| < 2^22); NaN gives mid. The
 * clamp comes first, so no out-of-range float->int conversion happens. */
static inline int q_round(float v, int lo, int hi, int mid) {
    if (!(v == v)) return mid;
    if (v <= (float)lo) return lo;
    if (v >= (float)hi) return hi;
    /* round half to even by adding 1.5 * 2^23 (|v| < 2^22 here): the
     * integer lands in the low mantissa bits; no libm call */
    float t = v + 12582912.0f;
    int32_t bits;
    memcpy(&bits, &t, 4);
    return (bits & 0x007fffff) - 0x00400000;
}

/* fp16 of a scale, rounded away from zero when round-to-nearest would shrink
 * it: the largest element then never maps past the last code, and a scale
 * below the fp16 range becomes the smallest subnormal instead of 0. */
static inline uint16_t fp16_scale_up(float d) {
    uint16_t h = wf_fp32_to_fp16(d);
    if (fabsf(wf_fp16_to_fp32(h)) < fabsf(d) && (h & 0x7fffu) < 0x7bffu) h++;
    return h;
}

#endif /* WF_QUANT_ROUND_H */
