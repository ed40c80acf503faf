/* quant.h — tensor element types: block layouts (bit-compatible with GGUF
 * files written by llama.cpp), one traits row per type, and the reference
 * (scalar) conversions to and from float.
 *
 * A quantized row of n elements is n / blck_size blocks of type_size bytes.
 */
#ifndef WF_QUANT_H
#define WF_QUANT_H

#include "base/common.h"

#include <assert.h>

/* Type ids are GGUF's (ggml's) numbering, so they can be read from files as is. */
typedef enum wf_type {
    WF_TYPE_F32 = 0,
    WF_TYPE_F16 = 1,
    WF_TYPE_Q4_0 = 2,
    WF_TYPE_Q4_1 = 3,
    WF_TYPE_Q5_0 = 6,
    WF_TYPE_Q5_1 = 7,
    WF_TYPE_Q8_0 = 8,
    WF_TYPE_Q8_1 = 9,
    WF_TYPE_Q2_K = 10,
    WF_TYPE_Q3_K = 11,
    WF_TYPE_Q4_K = 12,
    WF_TYPE_Q5_K = 13,
    WF_TYPE_Q6_K = 14,
    WF_TYPE_Q8_K = 15,
    WF_TYPE_IQ4_NL = 20,
    WF_TYPE_IQ4_XS = 23,
    WF_TYPE_BF16 = 30,
    WF_TYPE_MXFP4 = 39,
    WF_TYPE_COUNT = 40 /* table size: ids up to here are looked up */
} wf_type;

#define WF_QK4_0 32
#define WF_QK4_1 32
#define WF_QK5_0 32
#define WF_QK5_1 32
#define WF_QK8_0 32
#define WF_QK8_1 32
#define WF_QK_K 256
#define WF_K_SCALE_SIZE 12
#define WF_QK4_NL 32
#define WF_QK_MXFP4 32

/* value = (q - 8) * d; qs[j] low nibble holds element j, high nibble j + 16 */
typedef struct { uint16_t d; uint8_t qs[WF_QK4_0 / 2]; } wf_block_q4_0;
/* value = q * d + m */
typedef struct { uint16_t d; uint16_t m; uint8_t qs[WF_QK4_1 / 2]; } wf_block_q4_1;
/* 5th bit of element j is bit j of qh (little-endian u32); value = (q - 16) * d */
typedef struct { uint16_t d; uint8_t qh[4]; uint8_t qs[WF_QK5_0 / 2]; } wf_block_q5_0;
typedef struct { uint16_t d; uint16_t m; uint8_t qh[4]; uint8_t qs[WF_QK5_1 / 2]; } wf_block_q5_1;
/* value = q * d */
typedef struct { uint16_t d; int8_t qs[WF_QK8_0]; } wf_block_q8_0;
/* s = d * sum(qs): lets Q4_1/Q5_1 dots add the minimum term cheaply */
typedef struct { uint16_t d; uint16_t s; int8_t qs[WF_QK8_1]; } wf_block_q8_1;
/* 8 sub-blocks of 32; 6-bit scales and mins packed in scales[12];
 * value = d * sc * q - dmin * m */
typedef struct {
    uint16_t d, dmin;
    uint8_t scales[WF_K_SCALE_SIZE];
    uint8_t qs[WF_QK_K / 2];
} wf_block_q4_K;
typedef struct {
    uint16_t d, dmin;
    uint8_t scales[WF_K_SCALE_SIZE];
    uint8_t qh[WF_QK_K / 8];
    uint8_t qs[WF_QK_K / 2];
} wf_block_q5_K;
/* 16 sub-blocks of 16, int8 scales; value = d * scale * (q - 32) */
typedef struct {
    uint8_t ql[WF_QK_K / 2];
    uint8_t qh[WF_QK_K / 4];
    int8_t scales[WF_QK_K / 16];
    uint16_t d;
} wf_block_q6_K;
/* Intermediate for K-quant dots: float scale, sums of each 16 values. */
typedef struct {
    float d;
    int8_t qs[WF_QK_K];
    int16_t bsums[WF_QK_K / 16];
} wf_block_q8_K;

/* 16 sub-blocks of 16, 2-bit q; scales[s] = sc | m << 4 (4 bits each);
 * value = d*sc*q - dmin*m. Element 128h + 32j + l (l < 32) is bits 2j..2j+1
 * of qs[32h + l], sub-block 8h + 2j + l/16. */
typedef struct {
    uint8_t scales[WF_QK_K / 16];
    uint8_t qs[WF_QK_K / 4];
    uint16_t d, dmin;
} wf_block_q2_K;
/* 16 sub-blocks of 16, 3-bit q: 2 low bits as in Q2_K, the third bit is bit
 * 4h + j of hmask[l]; value = d*(sc - 32)*(q - 4), with 6-bit sc packed in
 * 12 bytes (low 4 bits: scales[s] or scales[s-8] >> 4; high 2 bits: bits
 * 2*(s/4) of scales[8 + s%4]). */
typedef struct {
    uint8_t hmask[WF_QK_K / 8];
    uint8_t qs[WF_QK_K / 4];
    uint8_t scales[12];
    uint16_t d;
} wf_block_q3_K;
/* Non-linear 4-bit codes: value = d * wf_iq4nl_values[q]; nibbles as Q4_0. */
typedef struct { uint16_t d; uint8_t qs[WF_QK4_NL / 2]; } wf_block_iq4_nl;
/* 8 sub-blocks of 32 with 6-bit scales ls (low 4 bits in scales_l[j/2]
 * nibble j%2, high 2 bits at bit 2j of scales_h); value = d*(ls - 32) *
 * wf_iq4nl_values[q]; each sub-block's nibbles as IQ4_NL. */
typedef struct {
    uint16_t d;
    uint16_t scales_h;
    uint8_t scales_l[WF_QK_K / 64];
    uint8_t qs[WF_QK_K / 2];
} wf_block_iq4_xs;
/* OCP microscaling FP4: E2M1 codes (sign bit 3; magnitudes 0, 0.5, 1, 1.5,
 * 2, 3, 4, 6) sharing one E8M0 exponent e: value = E2M1(q) * 2^(e - 127).
 * Nibbles as Q4_0. Every e is a finite scale here, 255 too (as llama.cpp
 * reads it; the OCP spec reserves 255 for NaN). */
typedef struct { uint8_t e; uint8_t qs[WF_QK_MXFP4 / 2]; } wf_block_mxfp4;

/* The 16 IQ4_NL/IQ4_XS levels, and the E2M1 values doubled (so they are
 * integers; the scale 2^(e - 128) absorbs the factor 2). */
extern const int8_t wf_iq4nl_values[16];
extern const int8_t wf_mxfp4_values[16];

/* 2^(e - 128) as a float: the scale of wf_mxfp4_values (exact; e = 0 and 1
 * are subnormal). */
static inline float wf_e8m0_half(uint8_t e) {
    const uint32_t bits = e < 2 ? 0x00200000u << e : (uint32_t)(e - 1) << 23;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static_assert(sizeof(wf_block_q2_K) == 84, "q2_K layout");
static_assert(sizeof(wf_block_q3_K) == 110, "q3_K layout");
static_assert(sizeof(wf_block_iq4_nl) == 18, "iq4_nl layout");
static_assert(sizeof(wf_block_iq4_xs) == 136, "iq4_xs layout");
static_assert(sizeof(wf_block_mxfp4) == 17, "mxfp4 layout");
static_assert(sizeof(wf_block_q4_0) == 18, "q4_0 layout");
static_assert(sizeof(wf_block_q4_1) == 20, "q4_1 layout");
static_assert(sizeof(wf_block_q5_0) == 22, "q5_0 layout");
static_assert(sizeof(wf_block_q5_1) == 24, "q5_1 layout");
static_assert(sizeof(wf_block_q8_0) == 34, "q8_0 layout");
static_assert(sizeof(wf_block_q8_1) == 36, "q8_1 layout");
static_assert(sizeof(wf_block_q4_K) == 144, "q4_K layout");
static_assert(sizeof(wf_block_q5_K) == 176, "q5_K layout");
static_assert(sizeof(wf_block_q6_K) == 210, "q6_K layout");
static_assert(sizeof(wf_block_q8_K) == 292, "q8_K layout");

typedef void (*wf_to_float_fn)(const void *src, float *dst, int64_t n);
typedef void (*wf_from_float_fn)(const float *src, void *dst, int64_t n);

typedef struct wf_type_traits {
    const char *name;          /* "q4_K", as llama.cpp names it            */
    int32_t blck_size;         /* elements per block                       */
    size_t type_size;          /* bytes per block                          */
    bool is_quantized;
    bool can_load;             /* wafer computes with weights of this type */
    wf_to_float_fn to_float;   /* reference dequantization (scalar)        */
    wf_from_float_fn from_float; /* reference quantization (scalar)        */
    wf_type vec_dot_type;      /* activations are converted to this type   */
} wf_type_traits;

/* NULL for an id wafer does not know at all. */
const wf_type_traits *wf_type_get(uint32_t type);
/* Name for messages, "type 17" style for unknown ids (buf used then). */
const char *wf_type_name(uint32_t type, char *buf, size_t cap);
/* Parse "q4_K", "Q4_K", "f16", ... ; -1 if unknown. */
int wf_type_from_name(const char *name);
/* Bytes of a row of n elements; 0 if n is not a multiple of the block size. */
size_t wf_row_size(wf_type t, int64_t n);

#endif /* WF_QUANT_H */
