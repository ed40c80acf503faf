/* common.h — small shared helpers: error reporting, checked arithmetic,
 * half/bfloat16 conversion, aligned allocation. Header-only where hot. */
#ifndef WF_COMMON_H
#define WF_COMMON_H

#include "wafer.h"

#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__)
#define WF_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define WF_UNUSED __attribute__((unused))
#else
#define WF_PRINTF(a, b)
#define WF_UNUSED
#endif

/* Set err (if non-NULL) and return code, so failures read as
 * `return wf_fail(err, WF_ERR_FORMAT, "%s: bad magic", path);` */
wf_status wf_fail(wf_error *err, wf_status code, const char *fmt, ...) WF_PRINTF(3, 4);
void wf_error_clear(wf_error *err);

/* Checked arithmetic: return false on overflow. */
static inline bool wf_add_u64(uint64_t a, uint64_t b, uint64_t *r) {
    return !__builtin_add_overflow(a, b, r);
}
static inline bool wf_mul_u64(uint64_t a, uint64_t b, uint64_t *r) {
    return !__builtin_mul_overflow(a, b, r);
}

/* 64-byte aligned allocation (cache line / AVX-512), freed with wf_free_aligned.
 * Returns NULL on failure or when size is 0. */
void *wf_alloc_aligned(size_t size);
/* A NUL-terminated copy of the n bytes at s (NUL bytes among them are kept;
 * s may be NULL when n is 0). NULL when out of memory. Caller frees. */
char *wf_dup_bytes(const char *s, size_t n);
void wf_free_aligned(void *p);

/* IEEE half <-> float, round to nearest even; NaN/Inf/subnormals preserved. */
static inline float wf_fp16_to_fp32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: renormalise */
            int e = -1;
            do { e++; man <<= 1; } while (!(man & 0x400u));
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ffu) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static inline uint16_t wf_fp32_to_fp16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) /* Inf or NaN (keep NaN quiet and non-zero) */
        return (uint16_t)(sign | 0x7c00u | (ax > 0x7f800000u ? 0x200u | ((ax >> 13) & 0x3ffu) : 0));
    if (ax >= 0x477ff000u) /* rounds to >= 65520: overflow to Inf */
        return (uint16_t)(sign | 0x7c00u);
    if (ax < 0x38800000u) { /* below smallest normal half: subnormal or zero */
        if (ax < 0x33000000u) return (uint16_t)sign; /* < 2^-25 rounds to 0 */
        uint32_t e = ax >> 23;
        uint32_t m = (ax & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126 - e; /* 14..24 */
        uint32_t v = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1);
        uint32_t half = 1u << (shift - 1);
        if (rem > half || (rem == half && (v & 1))) v++;
        return (uint16_t)(sign | v);
    }
    uint32_t v = ((ax >> 13) - ((127 - 15) << 10));
    uint32_t rem = ax & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (v & 1))) v++;
    return (uint16_t)(sign | v);
}

static inline float wf_bf16_to_fp32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static inline uint16_t wf_fp32_to_bf16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40u); /* quiet NaN */
    x += 0x7fffu + ((x >> 16) & 1u); /* round to nearest even */
    return (uint16_t)(x >> 16);
}

/* Monotonic clock in seconds. */
double wf_time_now(void);
/* MemAvailable from /proc/meminfo in bytes; 0 when unknown. */
uint64_t wf_mem_available(void);

#endif /* WF_COMMON_H */
