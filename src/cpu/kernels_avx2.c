/* kernels_avx2.c — AVX2 + FMA + F16C versions of the hot kernels: activation
 * quantization (byte-identical to the reference in quant_*.c), dot products
 * of one weight row with one activation row, fp16/bf16 conversions, and
 * register-blocked gemm tiles for the K-quants (prefill).
 * Integer parts of the quantized dots are exact; only the order of the float
 * accumulation differs from kernels_scalar.c.
 *
 * Activations must not hold -128 in Q8_0/Q8_1 blocks (wafer's quantizers
 * produce [-127, 127]): the sign trick below relies on it. */
#include "cpu/kernels.h"

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
 * activation row passes over them. The K-quants have register-blocked tiles
 * below. */
static inline __attribute__((always_inline)) void gemm_by_dot(wf_vec_dot_fn dot, int64_t n, int nr, int nc,
                                                             const void *w, size_t w_stride, const void *a,
                                                             size_t a_stride, float *out, size_t out_stride) {
    const char *wb = w, *ab = a;
    for (int r0 = 0; r0 < nr; r0 += 4)
        for (int c = 0; c < nc; c++)
            for (int r = r0; r < nr && r < r0 + 4; r++)
                dot(n, &out[(size_t)c * out_stride + (size_t)r], wb + (size_t)r * w_stride, ab + (size_t)c * a_stride);
}

/* ---- register-blocked K-quant tiles (prefill) ------------------------------
 * The idea of the AVX-512 file's dealt tiles in 256 bits, with maddubs/madd
 * (no VNNI): the 256 elements of a super-block are dealt into 8 groups of 32
 * bytes so that 16-bit lane k of every group holds a pair of elements of the
 * same sub-block,
 *     group g, 16-bit lane k  <-  elements 2*P, 2*P+1,  P = 8*k + g
 * i.e. elements 16k + 2g + {0,1}: lane k belongs to the 32-element sub-block
 * k/2 (Q4_K/Q5_K) and to the 16-element sub-block k (Q6_K). Weights and
 * activations are dealt the same way, once per gemm call, so a tile needs
 * per 32 elements and (row, token) one vpmaddubsw and one 16-bit add: the
 * pair sums of several groups add up in int16 (Q4_K 8 groups: 8*2*15*128 <
 * 2^15; Q5_K 4; Q6_K 2) before one vpmaddwd applies the sub-block scales.
 * One weight unpack serves all tokens of the call; one activation deal all
 * rows. */
typedef struct {
    __m256i w[8];
    __m256i s;  /* int16 scale of lane k's sub-block                        */
    __m256i x;  /* Q4_K/Q5_K: -dmin*m_j (8 floats); Q6_K: -32*sc_k (int16)  */
    __m256 d;   /* d, broadcast                                             */
} kp2_block; /* one weight row, one super-block: 352 bytes */

typedef struct {
    __m256i q[8];
    __m256i bs; /* the 16 bsums (Q6_K's -32 term)                             */
    __m256 oa;  /* da * (bsum[2j] + bsum[2j+1]), j = 0..7 (Q4_K/Q5_K mins)   */
    __m256 da;
} ka2_block; /* one token, one super-block: 352 bytes */

enum { K2_Q4, K2_Q5, K2_Q6 };
enum { K2_RB = 2, K2_CB = 2, K2_CHUNK = 8 }; /* tile rows x tokens; super-blocks per column chunk */

/* nat: 256 codes in element order -> the 8 groups. With V_q = bytes
 * 32q..32q+31 of nat, group g takes word g of each 128-bit half of every V_q
 * (lane k = 2q + half): an 8x8 transpose of 16-bit words within 128-bit
 * lanes, then the two halves interleaved. */
static void deal2(const uint8_t nat[WF_QK_K], __m256i out[8]) {
    __m256i a[8], t[8], u[8];
    for (int q = 0; q < 8; q++) a[q] = _mm256_loadu_si256((const __m256i *)(nat + 32 * q));
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_epi16(a[2 * i], a[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_epi16(a[2 * i], a[2 * i + 1]);
    }
    for (int i = 0; i < 2; i++) {
        u[4 * i + 0] = _mm256_unpacklo_epi32(t[4 * i + 0], t[4 * i + 2]);
        u[4 * i + 1] = _mm256_unpackhi_epi32(t[4 * i + 0], t[4 * i + 2]);
        u[4 * i + 2] = _mm256_unpacklo_epi32(t[4 * i + 1], t[4 * i + 3]);
        u[4 * i + 3] = _mm256_unpackhi_epi32(t[4 * i + 1], t[4 * i + 3]);
    }
    /* r_g (word q of each half = word g of that half of V_q), then
     * [h0 q0-3 | h1 q0-3 | h0 q4-7 | h1 q4-7] and words interleaved */
    const __m256i inter = _mm256_setr_epi8(0, 1, 8, 9, 2, 3, 10, 11, 4, 5, 12, 13, 6, 7, 14, 15,
                                           0, 1, 8, 9, 2, 3, 10, 11, 4, 5, 12, 13, 6, 7, 14, 15);
    for (int i = 0; i < 4; i++) {
        const __m256i lo = _mm256_unpacklo_epi64(u[i], u[i + 4]), hi = _mm256_unpackhi_epi64(u[i], u[i + 4]);
        out[2 * i] = _mm256_shuffle_epi8(_mm256_permute4x64_epi64(lo, _MM_SHUFFLE(3, 1, 2, 0)), inter);
        out[2 * i + 1] = _mm256_shuffle_epi8(_mm256_permute4x64_epi64(hi, _MM_SHUFFLE(3, 1, 2, 0)), inter);
    }
}

static void kp2_prepare(const int kind, const uint8_t *row, int64_t nsb, kp2_block *dst) {
    const __m256i m4 = _mm256_set1_epi8(0x0f), m2 = _mm256_set1_epi8(0x30), b4 = _mm256_set1_epi8(0x10);
    _Alignas(32) uint8_t nat[WF_QK_K];
    for (int64_t i = 0; i < nsb; i++, dst++) {
        if (kind == K2_Q6) {
            const wf_block_q6_K *x = (const wf_block_q6_K *)row + i;
            for (int h = 0; h < 2; h++) { /* as vec_dot_q6_K: elements 128h + 32j .. +31 */
                const uint8_t *ql = x->ql + 64 * h;
                const __m256i l0 = _mm256_loadu_si256((const __m256i *)ql);
                const __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
                const __m256i qh = _mm256_loadu_si256((const __m256i *)(x->qh + 32 * h));
                __m256i *o = (__m256i *)(void *)(nat + 128 * h);
                _mm256_store_si256(o + 0, _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m2)));
                _mm256_store_si256(o + 1, _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m2)));
                _mm256_store_si256(o + 2, _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(qh, m2)));
                _mm256_store_si256(o + 3, _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                                          _mm256_and_si256(_mm256_srli_epi16(qh, 2), m2)));
            }
            const __m256i sc = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x->scales));
            dst->s = sc;
            dst->x = _mm256_slli_epi16(_mm256_sub_epi16(_mm256_setzero_si256(), sc), 5);
            dst->d = _mm256_set1_ps(fp16(x->d));
        } else {
            const bool five = kind == K2_Q5;
            const wf_block_q4_K *h4 = five ? NULL : (const wf_block_q4_K *)row + i;
            const wf_block_q5_K *h5 = five ? (const wf_block_q5_K *)row + i : NULL;
            const uint8_t *qs = five ? h5->qs : h4->qs, *scales = five ? h5->scales : h4->scales;
            __m256i qh = five ? _mm256_loadu_si256((const __m256i *)h5->qh) : _mm256_setzero_si256();
            for (int g = 0; g < 4; g++) { /* elements 64g..+31: low nibbles of qs[32g..]; +32..+63: high */
                const __m256i q = _mm256_loadu_si256((const __m256i *)(qs + 32 * g));
                __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
                if (five) { /* bit 2g of qh[l]: 5th bit of the low nibble, 2g+1 of the high */
                    lo = _mm256_or_si256(lo, _mm256_and_si256(_mm256_slli_epi16(qh, 4), b4));
                    qh = _mm256_srli_epi16(qh, 1);
                    hi = _mm256_or_si256(hi, _mm256_and_si256(_mm256_slli_epi16(qh, 4), b4));
                    qh = _mm256_srli_epi16(qh, 1);
                }
                _mm256_store_si256((__m256i *)(void *)(nat + 64 * g), lo);
                _mm256_store_si256((__m256i *)(void *)(nat + 64 * g + 32), hi);
            }
            uint8_t sc[8], m[8];
            k4_scales(scales, sc, m);
            int16_t s16[16];
            float off[8];
            const float dmin = fp16(five ? h5->dmin : h4->dmin);
            for (int k = 0; k < 16; k++) s16[k] = sc[k / 2];
            for (int j = 0; j < 8; j++) off[j] = -dmin * (float)m[j];
            dst->s = _mm256_loadu_si256((const __m256i *)s16);
            dst->x = _mm256_castps_si256(_mm256_loadu_ps(off));
            dst->d = _mm256_set1_ps(fp16(five ? h5->d : h4->d));
        }
        deal2(nat, dst->w);
    }
}

static void ka2_prepare(int64_t nsb, const uint8_t *a, ka2_block *dst) {
    const wf_block_q8_K *y = (const wf_block_q8_K *)a;
    for (int64_t i = 0; i < nsb; i++, dst++) {
        deal2((const uint8_t *)y[i].qs, dst->q);
        dst->bs = _mm256_loadu_si256((const __m256i *)y[i].bsums);
        dst->da = _mm256_set1_ps(y[i].d);
        dst->oa = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(dst->bs, _mm256_set1_epi16(1))), dst->da);
    }
}

/* The float accumulators of one tile between column chunks. */
typedef struct {
    __m256 v[K2_RB][K2_CB];
} k2_acc;

/* w: RB rows of kp2_block, ws bytes apart; ka: CB rows of ka2_block, kas
 * bytes apart; nsb super-blocks; accumulators from/to acc (flags: 1 first
 * chunk, 2 last: then out[c*os + r] is written). */
static inline __attribute__((always_inline)) void k2_tile(const int kind, const int RB, const int CB, int64_t nsb,
                                                          const uint8_t *w, size_t ws, const uint8_t *ka, size_t kas,
                                                          k2_acc *acc_io, int flags, float *out, size_t os) {
    const int F = kind == K2_Q4 ? 8 : kind == K2_Q5 ? 4 : 2; /* groups summed in int16 */
    __m256 acc[K2_RB][K2_CB];
    for (int r = 0; r < RB; r++)
        for (int c = 0; c < CB; c++) acc[r][c] = (flags & 1) ? _mm256_setzero_ps() : acc_io->v[r][c];
    for (int64_t b = 0; b < nsb; b++) {
        __m256i T[K2_RB][K2_CB], I[K2_RB][K2_CB];
        for (int r = 0; r < RB; r++)
            for (int c = 0; c < CB; c++) {
                const kp2_block *x = (const kp2_block *)(const void *)(w + (size_t)r * ws) + b;
                const ka2_block *y = (const ka2_block *)(const void *)(ka + (size_t)c * kas) + b;
                I[r][c] = kind == K2_Q6 ? _mm256_madd_epi16(y->bs, x->x) : _mm256_setzero_si256();
            }
#pragma GCC unroll 8
        for (int g = 0; g < 8; g++)
            for (int r = 0; r < RB; r++) {
                const kp2_block *x = (const kp2_block *)(const void *)(w + (size_t)r * ws) + b;
                const __m256i W = _mm256_load_si256(&x->w[g]);
                for (int c = 0; c < CB; c++) {
                    const ka2_block *y = (const ka2_block *)(const void *)(ka + (size_t)c * kas) + b;
                    const __m256i t = _mm256_maddubs_epi16(W, _mm256_load_si256(&y->q[g]));
                    T[r][c] = g % F == 0 ? t : _mm256_add_epi16(T[r][c], t);
                    if (g % F == F - 1) I[r][c] = _mm256_add_epi32(I[r][c], _mm256_madd_epi16(T[r][c], x->s));
                }
            }
        for (int r = 0; r < RB; r++) {
            const kp2_block *x = (const kp2_block *)(const void *)(w + (size_t)r * ws) + b;
            for (int c = 0; c < CB; c++) {
                const ka2_block *y = (const ka2_block *)(const void *)(ka + (size_t)c * kas) + b;
                acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(I[r][c]), _mm256_mul_ps(x->d, y->da), acc[r][c]);
                if (kind != K2_Q6) acc[r][c] = _mm256_fmadd_ps(_mm256_castsi256_ps(x->x), y->oa, acc[r][c]);
            }
        }
    }
    if (!(flags & 2)) {
        for (int r = 0; r < RB; r++)
            for (int c = 0; c < CB; c++) acc_io->v[r][c] = acc[r][c];
        return;
    }
    for (int r = 0; r < RB; r++)
        for (int c = 0; c < CB; c++) out[(size_t)c * os + (size_t)r] = hsum_ps(acc[r][c]);
}

typedef void (*k2_fn)(int64_t nsb, const uint8_t *w, size_t ws, const uint8_t *ka, size_t kas, k2_acc *acc,
                      int flags, float *out, size_t os);
#define WF_K2_ONE(K, R, C)                                                                                 \
    static void k2_##K##_##R##x##C(int64_t nsb, const uint8_t *w, size_t ws, const uint8_t *ka, size_t kas, \
                                   k2_acc *acc, int flags, float *o, size_t os) {                          \
        k2_tile(K2_##K, R, C, nsb, w, ws, ka, kas, acc, flags, o, os);                                     \
    }
#define WF_K2_TILES(K)                                                                                     \
    WF_K2_ONE(K, 1, 1) WF_K2_ONE(K, 1, 2) WF_K2_ONE(K, 2, 1) WF_K2_ONE(K, 2, 2)                             \
    static const k2_fn k2_##K##_tiles[K2_RB][K2_CB] = {{k2_##K##_1x1, k2_##K##_1x2},                       \
                                                      {k2_##K##_2x1, k2_##K##_2x2}};
WF_K2_TILES(Q4)
WF_K2_TILES(Q5)
WF_K2_TILES(Q6)
#undef WF_K2_TILES
#undef WF_K2_ONE

/* Column chunks of K2_CHUNK super-blocks: per chunk every token is dealt
 * once (nc * 2.8 KiB), then K2_RB rows at a time (5.6 KiB, stays in L1)
 * meet every pair of tokens. Below 8 tokens (where the dealing does not pay:
 * bench_kernels) or without scratch memory: one dot per pair. 2x2 tiles
 * measured faster than 3x2, 2x3 and 3x3 (16 ymm registers). */
static void gemm_k2(const int kind, const k2_fn tiles[K2_RB][K2_CB], wf_vec_dot_fn dot, int64_t n, int nr, int nc,
                    const void *w, size_t ws, const void *a, size_t as, float *out, size_t os) {
    const int64_t nsb = n / WF_QK_K;
    const int nrg = (nr + K2_RB - 1) / K2_RB, ncg = (nc + K2_CB - 1) / K2_CB;
    kp2_block *kp = NULL;
    ka2_block *ka = NULL;
    k2_acc *acc = NULL;
    if (nc > WF_GEMM_EXACT_TOKENS && nsb > 0) {
        kp = wf_alloc_aligned(sizeof(kp2_block) * K2_CHUNK * K2_RB);
        ka = wf_alloc_aligned(sizeof(ka2_block) * K2_CHUNK * (size_t)nc);
        acc = wf_alloc_aligned(sizeof(k2_acc) * (size_t)nrg * (size_t)ncg);
    }
    if (!kp || !ka || !acc) {
        wf_free_aligned(kp);
        wf_free_aligned(ka);
        wf_free_aligned(acc);
        gemm_by_dot(dot, n, nr, nc, w, ws, a, as, out, os);
        return;
    }
    const size_t bsz = kind == K2_Q6 ? sizeof(wf_block_q6_K) : kind == K2_Q5 ? sizeof(wf_block_q5_K) : sizeof(wf_block_q4_K);
    const size_t kps = sizeof(kp2_block) * K2_CHUNK, kas = sizeof(ka2_block) * K2_CHUNK;
    const uint8_t *wb = w, *ab = a;
    for (int64_t s0 = 0; s0 < nsb; s0 += K2_CHUNK) {
        const int64_t sn = nsb - s0 < K2_CHUNK ? nsb - s0 : K2_CHUNK;
        const int flags = (s0 == 0 ? 1 : 0) | (s0 + sn == nsb ? 2 : 0);
        for (int c = 0; c < nc; c++)
            ka2_prepare(sn, ab + (size_t)c * as + (size_t)s0 * sizeof(wf_block_q8_K), ka + (size_t)c * K2_CHUNK);
        for (int r0 = 0; r0 < nr; r0 += K2_RB) {
            const int rb = nr - r0 < K2_RB ? nr - r0 : K2_RB;
            for (int r = 0; r < rb; r++)
                kp2_prepare(kind, wb + (size_t)(r0 + r) * ws + (size_t)s0 * bsz, sn, kp + (size_t)r * K2_CHUNK);
            for (int c0 = 0; c0 < nc; c0 += K2_CB) {
                const int cb = nc - c0 < K2_CB ? nc - c0 : K2_CB;
                tiles[rb - 1][cb - 1](sn, (const uint8_t *)kp, kps, (const uint8_t *)(ka + (size_t)c0 * K2_CHUNK), kas,
                                      acc + (size_t)(r0 / K2_RB) * (size_t)ncg + (size_t)(c0 / K2_CB), flags,
                                      out + (size_t)c0 * os + (size_t)r0, os);
            }
        }
    }
    wf_free_aligned(kp);
    wf_free_aligned(ka);
    wf_free_aligned(acc);
}

static void gemm_q4_K(int64_t n, int nr, int nc, const void *w, size_t ws, const void *a, size_t as, float *out,
                      size_t os) {
    gemm_k2(K2_Q4, k2_Q4_tiles, vec_dot_q4_K, n, nr, nc, w, ws, a, as, out, os);
}
static void gemm_q5_K(int64_t n, int nr, int nc, const void *w, size_t ws, const void *a, size_t as, float *out,
                      size_t os) {
    gemm_k2(K2_Q5, k2_Q5_tiles, vec_dot_q5_K, n, nr, nc, w, ws, a, as, out, os);
}
static void gemm_q6_K(int64_t n, int nr, int nc, const void *w, size_t ws, const void *a, size_t as, float *out,
                      size_t os) {
    gemm_k2(K2_Q6, k2_Q6_tiles, vec_dot_q6_K, n, nr, nc, w, ws, a, as, out, os);
}

#define WF_GEMM_BY_DOT(t)                                                                              \
    static void gemm_##t(int64_t n, int nr, int nc, const void *w, size_t ws, const void *a, size_t as, \
                         float *out, size_t os) {                                                      \
        gemm_by_dot(vec_dot_##t, n, nr, nc, w, ws, a, as, out, os);                                    \
    }
WF_GEMM_BY_DOT(f32) WF_GEMM_BY_DOT(f16) WF_GEMM_BY_DOT(bf16)
WF_GEMM_BY_DOT(q8_0) WF_GEMM_BY_DOT(q4_0) WF_GEMM_BY_DOT(q5_0) WF_GEMM_BY_DOT(q4_1) WF_GEMM_BY_DOT(q5_1)
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
    /* the K-quants switch to dealt tiles above 32 columns; the rest are dots */
    k->gemm_exact[WF_TYPE_Q4_K] = k->gemm_exact[WF_TYPE_Q5_K] = k->gemm_exact[WF_TYPE_Q6_K] = WF_GEMM_EXACT_TOKENS;
    wf_kernels_fill_lowbit_avx2(k);
}
