/* kernels_avx2.c — AVX2 + FMA + F16C versions of the hot kernels: activation
 * quantization (byte-identical to the reference in quant_*.c), dot products
 * of one weight row with one activation row, and fp16/bf16 conversions.
 * Integer parts of the quantized dots are exact; only the order of the float
 * accumulation differs from kernels_scalar.c.
 *
 * Activations must not hold -128 in Q8_0/Q8_1 blocks (wafer's quantizers
 * produce [-127, 127]): the sign trick below relies on it. */
#include "kernels.h"

#include <immintrin.h>
#include <math.h>

/* ---- small helpers --------------------------------------------------------- */

static inline float hsum_ps(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline int32_t hsum_i32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

static inline float hmax_ps(__m256 v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline float fp16(uint16_t h) { return _cvtsh_ss(h); }

/* The reference's rounding of a Q8_0/Q8_1 scale to fp16 (quant_legacy.c):
 * nearest, then one step away from zero if that shrank it, so the largest
 * element never maps past code 127. */
static inline uint16_t fp16_scale_up(float d) {
    uint16_t h = wf_fp32_to_fp16(d);
    if (fabsf(wf_fp16_to_fp32(h)) < fabsf(d) && (h & 0x7fffu) < 0x7bffu) h++;
    return h;
}

/* |x| max over 8 lanes, NaN lanes ignored (MAXPS returns the second operand
 * when either is NaN), like the reference's `fabsf(x) > amax` scan. */
static inline __m256 absmax_acc(__m256 x, __m256 m) {
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    return _mm256_max_ps(_mm256_and_ps(x, absmask), m);
}

/* The reference's q_round(x * id, -127, 127, 0): NaN -> 0, clamp, then
 * round to nearest even (cvtps uses MXCSR's default mode, as rintf does). */
static inline __m256i round_q8(__m256 x, __m256 id) {
    __m256 t = _mm256_mul_ps(x, id);
    t = _mm256_and_ps(t, _mm256_cmp_ps(t, t, _CMP_ORD_Q));
    t = _mm256_min_ps(_mm256_max_ps(t, _mm256_set1_ps(-127.0f)), _mm256_set1_ps(127.0f));
    return _mm256_cvtps_epi32(t);
}

/* Four vectors of 8 int32 (each in [-127, 127]) -> 32 int8 in order. */
static inline __m256i pack_q8(__m256i i0, __m256i i1, __m256i i2, __m256i i3) {
    const __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
    return _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/* Sum of x[i]*y[i] over 32 int8 pairs as 8 int32 partial sums. x may hold
 * -128; y must not (abs/sign trick: |x| is unsigned, sign moved onto y). */
static inline __m256i dot_s8(__m256i x, __m256i y) {
    const __m256i p16 = _mm256_maddubs_epi16(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
    return _mm256_madd_epi16(p16, _mm256_set1_epi16(1));
}

/* Unsigned x (< 128) times signed y, 32 pairs -> 8 int32 partial sums. */
static inline __m256i dot_u8s8(__m256i x, __m256i y) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(x, y), _mm256_set1_epi16(1));
}

/* 16 bytes of packed nibbles -> 32 bytes: low nibbles first, then high. */
static inline __m256i unpack_nibbles(const uint8_t *qs) {
    const __m128i t = _mm_loadu_si128((const __m128i *)qs);
    const __m256i v = _mm256_set_m128i(_mm_srli_epi16(t, 4), t);
    return _mm256_and_si256(v, _mm256_set1_epi8(0x0f));
}

/* Byte j = 0xff where bit j of bits is set (Q5_0/Q5_1 fifth bits). */
static inline __m256i bits_to_bytes(const uint8_t qh[4]) {
    uint32_t bits;
    memcpy(&bits, qh, 4);
    const __m256i shuf = _mm256_setr_epi64x(0x0000000000000000, 0x0101010101010101,
                                            0x0202020202020202, 0x0303030303030303);
    const __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)bits), shuf);
    const __m256i bit = _mm256_set1_epi64x((int64_t)0x8040201008040201ull);
    return _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
}

/* ---- activation quantization (byte-identical to quant_legacy.c/quant_k.c) --- */

static void quantize_q8_0(const float *x, void *dst, int64_t n) { /* x: (n), dst: n/32 blocks */
    wf_block_q8_0 *b = dst;
    for (int64_t i = 0; i < n / WF_QK8_0; i++, x += WF_QK8_0) {
        __m256 v[4], m = _mm256_setzero_ps();
        for (int k = 0; k < 4; k++) m = absmax_acc(v[k] = _mm256_loadu_ps(x + 8 * k), m);
        const float amax = hmax_ps(m);
        b[i].d = fp16_scale_up(amax / 127.0f);
        const float d = fp16(b[i].d);
        const __m256 id = _mm256_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
        const __m256i q = pack_q8(round_q8(v[0], id), round_q8(v[1], id), round_q8(v[2], id), round_q8(v[3], id));
        _mm256_storeu_si256((__m256i *)b[i].qs, q);
    }
}

static void quantize_q8_1(const float *x, void *dst, int64_t n) {
    wf_block_q8_1 *b = dst;
    for (int64_t i = 0; i < n / WF_QK8_1; i++, x += WF_QK8_1) {
        __m256 v[4], m = _mm256_setzero_ps();
        for (int k = 0; k < 4; k++) m = absmax_acc(v[k] = _mm256_loadu_ps(x + 8 * k), m);
        const float amax = hmax_ps(m);
        b[i].d = fp16_scale_up(amax / 127.0f);
        const float d = fp16(b[i].d);
        const __m256 id = _mm256_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
        __m256i q[4];
        for (int k = 0; k < 4; k++) q[k] = round_q8(v[k], id);
        const int32_t sum = hsum_i32(_mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3])));
        _mm256_storeu_si256((__m256i *)b[i].qs, pack_q8(q[0], q[1], q[2], q[3]));
        b[i].s = wf_fp32_to_fp16(d * (float)sum);
    }
}

static void quantize_q8_K(const float *x, void *dst, int64_t n) {
    wf_block_q8_K *b = dst;
    for (int64_t i = 0; i < n / WF_QK_K; i++, x += WF_QK_K) {
        __m256 m = _mm256_setzero_ps();
        for (int k = 0; k < 32; k++) m = absmax_acc(_mm256_loadu_ps(x + 8 * k), m);
        const float amax = hmax_ps(m);
        if (!(amax > 0.0f)) {
            memset(&b[i], 0, sizeof b[i]);
            continue;
        }
        /* The reference keeps the first element of largest magnitude, sign included. */
        float max = 0.0f;
        const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
        for (int k = 0; k < 32; k++) {
            const __m256 ax = _mm256_and_ps(_mm256_loadu_ps(x + 8 * k), absmask);
            const int mask = _mm256_movemask_ps(_mm256_cmp_ps(ax, _mm256_set1_ps(amax), _CMP_EQ_OQ));
            if (mask) {
                max = x[8 * k + __builtin_ctz((unsigned)mask)];
                break;
            }
        }
        const float iscale = -127.0f / max;
        const __m256 is = _mm256_set1_ps(iscale);
        for (int g = 0; g < 8; g++) { /* 32 elements = 2 bsums */
            __m256i q[4];
            for (int k = 0; k < 4; k++) q[k] = round_q8(_mm256_loadu_ps(x + 32 * g + 8 * k), is);
            _mm256_storeu_si256((__m256i *)(b[i].qs + 32 * g), pack_q8(q[0], q[1], q[2], q[3]));
            b[i].bsums[2 * g] = (int16_t)hsum_i32(_mm256_add_epi32(q[0], q[1]));
            b[i].bsums[2 * g + 1] = (int16_t)hsum_i32(_mm256_add_epi32(q[2], q[3]));
        }
        b[i].d = 1.0f / iscale;
    }
}

static void quantize_f16(const float *x, void *dst, int64_t n) { /* RNE, as wf_fp32_to_fp16 */
    uint16_t *y = dst;
    int64_t j = 0;
    for (; j + 8 <= n; j += 8)
        _mm_storeu_si128((__m128i *)(y + j), _mm256_cvtps_ph(_mm256_loadu_ps(x + j), _MM_FROUND_TO_NEAREST_INT));
    for (; j < n; j++) y[j] = wf_fp32_to_fp16(x[j]);
}

static void to_float_f16(const void *src, float *dst, int64_t n) {
    const uint16_t *h = src;
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) _mm256_storeu_ps(dst + j, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + j))));
    for (; j < n; j++) dst[j] = wf_fp16_to_fp32(h[j]);
}

static inline __m256 load_bf16(const uint16_t *p) {
    const __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

static void to_float_bf16(const void *src, float *dst, int64_t n) {
    const uint16_t *h = src;
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) _mm256_storeu_ps(dst + j, load_bf16(h + j));
    for (; j < n; j++) dst[j] = wf_bf16_to_fp32(h[j]);
}

/* ---- float dots (any n) ------------------------------------------------------ */

static void vec_dot_f32(int64_t n, float *out, const void *w, const void *a) { /* w, a: (n) f32 */
    const float *x = w, *y = a;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    int64_t j = 0;
    for (; j + 32 <= n; j += 32)
        for (int k = 0; k < 4; k++)
            acc[k] = _mm256_fmadd_ps(_mm256_loadu_ps(x + j + 8 * k), _mm256_loadu_ps(y + j + 8 * k), acc[k]);
    for (; j + 8 <= n; j += 8) acc[0] = _mm256_fmadd_ps(_mm256_loadu_ps(x + j), _mm256_loadu_ps(y + j), acc[0]);
    float s = hsum_ps(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
    for (; j < n; j++) s += x[j] * y[j];
    *out = s;
}

static void vec_dot_f16(int64_t n, float *out, const void *w, const void *a) { /* w: (n) f16, a: (n) f32 */
    const uint16_t *x = w;
    const float *y = a;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    int64_t j = 0;
    for (; j + 32 <= n; j += 32)
        for (int k = 0; k < 4; k++) {
            const __m256 xf = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + j + 8 * k)));
            acc[k] = _mm256_fmadd_ps(xf, _mm256_loadu_ps(y + j + 8 * k), acc[k]);
        }
    for (; j + 8 <= n; j += 8)
        acc[0] = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + j))), _mm256_loadu_ps(y + j), acc[0]);
    float s = hsum_ps(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
    for (; j < n; j++) s += wf_fp16_to_fp32(x[j]) * y[j];
    *out = s;
}

static void vec_dot_bf16(int64_t n, float *out, const void *w, const void *a) { /* w: (n) bf16, a: (n) f32 */
    const uint16_t *x = w;
    const float *y = a;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    int64_t j = 0;
    for (; j + 32 <= n; j += 32)
        for (int k = 0; k < 4; k++)
            acc[k] = _mm256_fmadd_ps(load_bf16(x + j + 8 * k), _mm256_loadu_ps(y + j + 8 * k), acc[k]);
    for (; j + 8 <= n; j += 8) acc[0] = _mm256_fmadd_ps(load_bf16(x + j), _mm256_loadu_ps(y + j), acc[0]);
    float s = hsum_ps(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
    for (; j < n; j++) s += wf_bf16_to_fp32(x[j]) * y[j];
    *out = s;
}

/* ---- 32-element block dots -------------------------------------------------- */

static void vec_dot_q8_0(int64_t n, float *out, const void *w, const void *a) { /* w: q8_0, a: q8_0 */
    const wf_block_q8_0 *x = w, *y = a;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / WF_QK8_0; i++) {
        const __m256i p = dot_s8(_mm256_loadu_si256((const __m256i *)x[i].qs), _mm256_loadu_si256((const __m256i *)y[i].qs));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(fp16(x[i].d) * fp16(y[i].d)), _mm256_cvtepi32_ps(p), acc);
    }
    *out = hsum_ps(acc);
}

static void vec_dot_q4_0(int64_t n, float *out, const void *w, const void *a) { /* w: q4_0, a: q8_0 */
    const wf_block_q4_0 *x = w;
    const wf_block_q8_0 *y = a;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / WF_QK4_0; i++) {
        const __m256i q = _mm256_sub_epi8(unpack_nibbles(x[i].qs), _mm256_set1_epi8(8));
        const __m256i p = dot_s8(q, _mm256_loadu_si256((const __m256i *)y[i].qs));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(fp16(x[i].d) * fp16(y[i].d)), _mm256_cvtepi32_ps(p), acc);
    }
    *out = hsum_ps(acc);
}

static void vec_dot_q5_0(int64_t n, float *out, const void *w, const void *a) { /* w: q5_0, a: q8_0 */
    const wf_block_q5_0 *x = w;
    const wf_block_q8_0 *y = a;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / WF_QK5_0; i++) {
        const __m256i hi = _mm256_and_si256(bits_to_bytes(x[i].qh), _mm256_set1_epi8(0x10));
        const __m256i q = _mm256_sub_epi8(_mm256_or_si256(unpack_nibbles(x[i].qs), hi), _mm256_set1_epi8(16));
        const __m256i p = dot_s8(q, _mm256_loadu_si256((const __m256i *)y[i].qs));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(fp16(x[i].d) * fp16(y[i].d)), _mm256_cvtepi32_ps(p), acc);
    }
    *out = hsum_ps(acc);
}

/* value = q*d + m: dot = d*dy*sum(q*qy) + m*s_y, with s_y = dy*sum(qy) stored. */
static void vec_dot_q4_1(int64_t n, float *out, const void *w, const void *a) { /* w: q4_1, a: q8_1 */
    const wf_block_q4_1 *x = w;
    const wf_block_q8_1 *y = a;
    __m256 acc = _mm256_setzero_ps();
    float summ = 0.0f;
    for (int64_t i = 0; i < n / WF_QK4_1; i++) {
        const __m256i p = dot_u8s8(unpack_nibbles(x[i].qs), _mm256_loadu_si256((const __m256i *)y[i].qs));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(fp16(x[i].d) * fp16(y[i].d)), _mm256_cvtepi32_ps(p), acc);
        summ += fp16(x[i].m) * fp16(y[i].s);
    }
    *out = hsum_ps(acc) + summ;
}

static void vec_dot_q5_1(int64_t n, float *out, const void *w, const void *a) { /* w: q5_1, a: q8_1 */
    const wf_block_q5_1 *x = w;
    const wf_block_q8_1 *y = a;
    __m256 acc = _mm256_setzero_ps();
    float summ = 0.0f;
    for (int64_t i = 0; i < n / WF_QK5_1; i++) {
        const __m256i hi = _mm256_and_si256(bits_to_bytes(x[i].qh), _mm256_set1_epi8(0x10));
        const __m256i p = dot_u8s8(_mm256_or_si256(unpack_nibbles(x[i].qs), hi), _mm256_loadu_si256((const __m256i *)y[i].qs));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(fp16(x[i].d) * fp16(y[i].d)), _mm256_cvtepi32_ps(p), acc);
        summ += fp16(x[i].m) * fp16(y[i].s);
    }
    *out = hsum_ps(acc) + summ;
}

/* ---- K-quant dots (activation Q8_K) ----------------------------------------- */

/* The 8 six-bit scales and mins of a Q4_K/Q5_K super-block. */
static inline void k4_scales(const uint8_t s[WF_K_SCALE_SIZE], uint8_t sc[8], uint8_t m[8]) {
    for (int j = 0; j < 4; j++) {
        sc[j] = s[j] & 63;
        m[j] = s[j + 4] & 63;
        sc[j + 4] = (uint8_t)((s[j + 8] & 0x0f) | (s[j] >> 6) << 4);
        m[j + 4] = (uint8_t)((s[j + 8] >> 4) | (s[j + 4] >> 6) << 4);
    }
}

/* sum_j m[j] * (bsums[2j] + bsums[2j+1]) as 8 int32 lanes. */
static inline __m256i k4_min_terms(const uint8_t m[8], const int16_t bsums[16]) {
    const __m256i pairs = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)bsums), _mm256_set1_epi16(1));
    const __m256i mv = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)m));
    return _mm256_mullo_epi32(pairs, mv);
}

static void vec_dot_q4_K(int64_t n, float *out, const void *w, const void *a) { /* w: q4_K, a: q8_K */
    const wf_block_q4_K *x = w;
    const wf_block_q8_K *y = a;
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    __m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / WF_QK_K; i++) {
        uint8_t sc[8], m[8];
        k4_scales(x[i].scales, sc, m);
        __m256i sumi = _mm256_setzero_si256();
        for (int g = 0; g < 4; g++) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * g));
            const __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
            const __m256i p0 = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)(y[i].qs + 64 * g)));
            const __m256i p1 = _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(y[i].qs + 64 * g + 32)));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p0, _mm256_set1_epi16(sc[2 * g])));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p1, _mm256_set1_epi16(sc[2 * g + 1])));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(fp16(x[i].d) * y[i].d), _mm256_cvtepi32_ps(sumi), acc);
        accm = _mm256_fmadd_ps(_mm256_set1_ps(fp16(x[i].dmin) * y[i].d),
                               _mm256_cvtepi32_ps(k4_min_terms(m, y[i].bsums)), accm);
    }
    *out = hsum_ps(acc) - hsum_ps(accm);
}

static void vec_dot_q5_K(int64_t n, float *out, const void *w, const void *a) { /* w: q5_K, a: q8_K */
    const wf_block_q5_K *x = w;
    const wf_block_q8_K *y = a;
    const __m256i m4 = _mm256_set1_epi8(0x0f), b4 = _mm256_set1_epi8(0x10);
    __m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / WF_QK_K; i++) {
        uint8_t sc[8], m[8];
        k4_scales(x[i].scales, sc, m);
        __m256i qh = _mm256_loadu_si256((const __m256i *)x[i].qh);
        __m256i sumi = _mm256_setzero_si256();
        for (int g = 0; g < 4; g++) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * g));
            /* bit 2g of qh[l] is the 5th bit of the low nibble, bit 2g+1 of the high:
             * shift qh right one bit at a time and move bit 0 to bit 4. */
            const __m256i h0 = _mm256_and_si256(_mm256_slli_epi16(qh, 4), b4);
            qh = _mm256_srli_epi16(qh, 1);
            const __m256i h1 = _mm256_and_si256(_mm256_slli_epi16(qh, 4), b4);
            qh = _mm256_srli_epi16(qh, 1);
            const __m256i lo = _mm256_or_si256(_mm256_and_si256(q, m4), h0);
            const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4), h1);
            const __m256i p0 = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)(y[i].qs + 64 * g)));
            const __m256i p1 = _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(y[i].qs + 64 * g + 32)));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p0, _mm256_set1_epi16(sc[2 * g])));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p1, _mm256_set1_epi16(sc[2 * g + 1])));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(fp16(x[i].d) * y[i].d), _mm256_cvtepi32_ps(sumi), acc);
        accm = _mm256_fmadd_ps(_mm256_set1_ps(fp16(x[i].dmin) * y[i].d),
                               _mm256_cvtepi32_ps(k4_min_terms(m, y[i].bsums)), accm);
    }
    *out = hsum_ps(acc) - hsum_ps(accm);
}

/* Q6_K: q in [0, 63], value = d*sc*(q - 32). The -32 is applied once per
 * super-block through the bsums: sum(sc*(q-32)*y) = sum(sc*q*y) - 32*sum(sc*bsum). */
static void vec_dot_q6_K(int64_t n, float *out, const void *w, const void *a) { /* w: q6_K, a: q8_K */
    const wf_block_q6_K *x = w;
    const wf_block_q8_K *y = a;
    const __m256i m4 = _mm256_set1_epi8(0x0f), m2 = _mm256_set1_epi8(0x30);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / WF_QK_K; i++) {
        __m256i sumi = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = x[i].ql + 64 * h, *qhp = x[i].qh + 32 * h;
            const int8_t *sc = x[i].scales + 8 * h, *q8 = y[i].qs + 128 * h;
            const __m256i l0 = _mm256_loadu_si256((const __m256i *)ql);
            const __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
            const __m256i qh = _mm256_loadu_si256((const __m256i *)qhp);
            __m256i q[4];
            q[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m2));
            q[1] = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m2));
            q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(qh, m2));
            q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                   _mm256_and_si256(_mm256_srli_epi16(qh, 2), m2));
            for (int k = 0; k < 4; k++) {
                const __m256i p = _mm256_maddubs_epi16(q[k], _mm256_loadu_si256((const __m256i *)(q8 + 32 * k)));
                const __m256i s = _mm256_set_m128i(_mm_set1_epi16(sc[2 * k + 1]), _mm_set1_epi16(sc[2 * k]));
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, s));
            }
        }
        const __m256i scv = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x[i].scales));
        const __m256i corr = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)y[i].bsums), scv);
        sumi = _mm256_sub_epi32(sumi, _mm256_slli_epi32(corr, 5));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(fp16(x[i].d) * y[i].d), _mm256_cvtepi32_ps(sumi), acc);
    }
    *out = hsum_ps(acc);
}

/* ---- gemm: one dot per (weight row, activation row) pair --------------------
 * Rows are visited in groups of 4 so a group's weights stay in L1 while every
 * activation row passes over them; register-blocked tiles live in the
 * AVX-512 file (this machine class). */
static inline __attribute__((always_inline)) void gemm_by_dot(wf_vec_dot_fn dot, int64_t n, int nr, int nc,
                                                             const void *w, size_t w_stride, const void *a,
                                                             size_t a_stride, float *out, size_t out_stride) {
    const char *wb = w, *ab = a;
    for (int r0 = 0; r0 < nr; r0 += 4)
        for (int c = 0; c < nc; c++)
            for (int r = r0; r < nr && r < r0 + 4; r++)
                dot(n, &out[(size_t)c * out_stride + (size_t)r], wb + (size_t)r * w_stride, ab + (size_t)c * a_stride);
}

#define WF_GEMM_BY_DOT(t)                                                                              \
    static void gemm_##t(int64_t n, int nr, int nc, const void *w, size_t ws, const void *a, size_t as, \
                         float *out, size_t os) {                                                      \
        gemm_by_dot(vec_dot_##t, n, nr, nc, w, ws, a, as, out, os);                                    \
    }
WF_GEMM_BY_DOT(f32) WF_GEMM_BY_DOT(f16) WF_GEMM_BY_DOT(bf16)
WF_GEMM_BY_DOT(q8_0) WF_GEMM_BY_DOT(q4_0) WF_GEMM_BY_DOT(q5_0) WF_GEMM_BY_DOT(q4_1) WF_GEMM_BY_DOT(q5_1)
WF_GEMM_BY_DOT(q4_K) WF_GEMM_BY_DOT(q5_K) WF_GEMM_BY_DOT(q6_K)
#undef WF_GEMM_BY_DOT

void wf_kernels_fill_avx2(wf_kernels *k) {
    k->quantize_row[WF_TYPE_Q8_0] = quantize_q8_0;
    k->quantize_row[WF_TYPE_Q8_1] = quantize_q8_1;
    k->quantize_row[WF_TYPE_Q8_K] = quantize_q8_K;
    k->quantize_row[WF_TYPE_F16] = quantize_f16;
    k->to_float[WF_TYPE_F16] = to_float_f16;
    k->to_float[WF_TYPE_BF16] = to_float_bf16;

    k->vec_dot[WF_TYPE_F32] = vec_dot_f32;
    k->vec_dot[WF_TYPE_F16] = vec_dot_f16;
    k->vec_dot[WF_TYPE_BF16] = vec_dot_bf16;
    k->vec_dot[WF_TYPE_Q8_0] = vec_dot_q8_0;
    k->vec_dot[WF_TYPE_Q4_0] = vec_dot_q4_0;
    k->vec_dot[WF_TYPE_Q5_0] = vec_dot_q5_0;
    k->vec_dot[WF_TYPE_Q4_1] = vec_dot_q4_1;
    k->vec_dot[WF_TYPE_Q5_1] = vec_dot_q5_1;
    k->vec_dot[WF_TYPE_Q4_K] = vec_dot_q4_K;
    k->vec_dot[WF_TYPE_Q5_K] = vec_dot_q5_K;
    k->vec_dot[WF_TYPE_Q6_K] = vec_dot_q6_K;

    k->gemm[WF_TYPE_F32] = gemm_f32;
    k->gemm[WF_TYPE_F16] = gemm_f16;
    k->gemm[WF_TYPE_BF16] = gemm_bf16;
    k->gemm[WF_TYPE_Q8_0] = gemm_q8_0;
    k->gemm[WF_TYPE_Q4_0] = gemm_q4_0;
    k->gemm[WF_TYPE_Q5_0] = gemm_q5_0;
    k->gemm[WF_TYPE_Q4_1] = gemm_q4_1;
    k->gemm[WF_TYPE_Q5_1] = gemm_q5_1;
    k->gemm[WF_TYPE_Q4_K] = gemm_q4_K;
    k->gemm[WF_TYPE_Q5_K] = gemm_q5_K;
    k->gemm[WF_TYPE_Q6_K] = gemm_q6_K;
}
