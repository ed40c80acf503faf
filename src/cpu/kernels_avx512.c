/* kernels_avx512.c — AVX-512 (F/BW/VL/DQ + VNNI) gemm tiles and dots for the
 * weight types of wafer's models: Q8_0, Q4_0, Q5_0, MXFP4 (the 32-element
 * family, also the fallback of K-quant mixes for rows that are not a
 * multiple of 256), Q4_K, Q5_K, Q6_K, and Q3_K, Q2_K, IQ4_XS in the
 * K-quant tiles.
 *
 * A tile is RB weight rows x CB activation rows (at most 4 x 4), each (RB, CB)
 * compiled on its own so the accumulators stay in registers; vpdpbusd
 * (u8 x s8 -> s32, 64 MACs a zmm) does the products. Work that does not
 * depend on both sides is done once per gemm call, not once per tile.
 * Wide calls run on "dealt" tiles: both sides rearranged once per call
 * (kp_prepare, ka_prepare) so that four accumulating vpdpbusd cover a
 * 256-element super-block and the sub-block scales are applied afterwards
 * in float, one vpdpbusd per 64 MACs (see the section comment): Q8_0/Q4_0/
 * Q5_0 from 5 tokens, the K-quants from 2. Fewer tokens take the direct
 * tiles (n8_* for the 32-element family, kx*_tile for the K-quants), which
 * compute the dealt tiles' arithmetic from the blocks as stored, so every
 * type is exact at every width; vec_dot is the direct 1 x 1 case.
 * Integer parts are exact; the float accumulation order differs from
 * kernels_scalar.c (tested within 2e-5 of sum|w*a|, tests/cpu/test_kernels.c).
 *
 * Used only when the CPU reports avx512vnni; otherwise the AVX2 entries stay. */
#include "cpu/kernels.h"

#include <immintrin.h>
#include <stddef.h>

#define WF_AI static inline __attribute__((always_inline))

enum { TILE_R = 4, TILE_C = 4 };

/* Q8_0/Q4_0/Q5_0: calls of at least N8_DEALT_FROM tokens take the dealt
 * tiles, fewer the n8 tiles (1-row tiles up to N8_ROW_TILES_UPTO tokens). */
#ifndef N8_DEALT_FROM
#define N8_DEALT_FROM 5
#endif
/* Q4_K/Q5_K/Q6_K: from KQ_DEALT_FROM tokens on the dealt tiles, fewer the
 * direct kx tiles (the same arithmetic). */
#ifndef KQ_DEALT_FROM
#define KQ_DEALT_FROM 2
#endif
#ifndef N8_ROW_TILES_UPTO
#define N8_ROW_TILES_UPTO 8
#endif

/* Software prefetch distance into each weight row. With several rows walked
 * side by side the hardware prefetchers alone left decode from DRAM at well
 * under half of what one row at a time reached (bench_kernels). */
enum { PF_DIST = 2048 };

WF_AI void prefetch_lines(const void *p, int bytes) {
    for (int o = 0; o < bytes; o += 64) _mm_prefetch((const char *)p + PF_DIST + o, _MM_HINT_T0);
}

static inline float fp16(uint16_t h) { return _cvtsh_ss(h); }

/* Two 32-byte halves into one zmm (lo in lanes 0..7, hi in 8..15). */
WF_AI __m512i join256(__m256i lo, __m256i hi) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

WF_AI __m512 join_ps(float lo, float hi) {
    return _mm512_insertf32x8(_mm512_set1_ps(lo), _mm256_set1_ps(hi), 1);
}

/* ---- Q8_0 / Q4_0 / Q5_0 x Q8_0 ------------------------------------------------
 * Two 32-element blocks per zmm. vpdpbusd wants unsigned weights, so each
 * type's codes are taken with a bias: Q8_0 as w ^ 0x80 = w + 128, Q4_0 as the
 * raw nibble (q - 8 + 8), Q5_0 as the raw 5-bit code (q - 16 + 16). The bias
 * times sum(a) is removed by starting each accumulation at -bias * sum(a),
 * computed once per activation block. Any int8 activation is allowed. */

typedef enum { L32_Q8_0, L32_Q4_0, L32_Q5_0, L32_MXFP4 } l32_kind;

WF_AI size_t l32_size(const l32_kind kind) {
    return kind == L32_Q8_0   ? sizeof(wf_block_q8_0)
           : kind == L32_Q4_0 ? sizeof(wf_block_q4_0)
           : kind == L32_Q5_0 ? sizeof(wf_block_q5_0)
                              : sizeof(wf_block_mxfp4);
}

/* MXFP4 joins the family with its doubled E2M1 levels (wf_mxfp4_values,
 * -12..12) taken as level + 12 (mxfp4_u: the code -> unsigned code table;
 * test_kernels checks it against the scalar reference) and bias 12. */
WF_AI char l32_bias(const l32_kind kind) {
    return kind == L32_Q8_0 ? (char)0x80 : kind == L32_Q4_0 ? 8 : kind == L32_Q5_0 ? 16 : 12;
}
static const int8_t mxfp4_u[16] = {12, 13, 14, 15, 16, 18, 20, 24, 12, 11, 10, 9, 8, 6, 4, 0};

/* Unsigned codes of one (two == false: upper half zero) or two blocks. */
WF_AI __m512i l32_codes(const l32_kind kind, const bool two, const uint8_t *x0) {
    const uint8_t *x1 = x0 + l32_size(kind);
    if (kind == L32_Q8_0) {
        const __m256i lo = _mm256_loadu_si256((const __m256i *)((const wf_block_q8_0 *)x0)->qs);
        const __m256i hi = two ? _mm256_loadu_si256((const __m256i *)((const wf_block_q8_0 *)x1)->qs)
                               : _mm256_setzero_si256();
        return _mm512_xor_si512(join256(lo, hi), _mm512_set1_epi8((char)0x80));
    }
    /* 16 bytes of nibbles per block: [b0 | b1] then [that | that >> 4] gives
     * 16-byte quarters b0.lo b1.lo b0.hi b1.hi; reorder to b0.lo b0.hi b1.lo b1.hi. */
    const size_t qs_off = kind == L32_Q4_0   ? offsetof(wf_block_q4_0, qs)
                          : kind == L32_Q5_0 ? offsetof(wf_block_q5_0, qs)
                                             : offsetof(wf_block_mxfp4, qs);
    const __m128i q0 = _mm_loadu_si128((const __m128i *)(x0 + qs_off));
    const __m128i q1 = two ? _mm_loadu_si128((const __m128i *)(x1 + qs_off)) : _mm_setzero_si128();
    const __m256i q = _mm256_inserti128_si256(_mm256_castsi128_si256(q0), q1, 1);
    __m512i z = join256(q, _mm256_srli_epi16(q, 4));
    z = _mm512_and_si512(_mm512_shuffle_i64x2(z, z, _MM_SHUFFLE(3, 1, 2, 0)), _mm512_set1_epi8(0x0f));
    if (kind == L32_Q5_0) { /* fifth bits: bit j of qh is element j */
        uint32_t h0, h1 = 0;
        memcpy(&h0, ((const wf_block_q5_0 *)x0)->qh, 4);
        if (two) memcpy(&h1, ((const wf_block_q5_0 *)x1)->qh, 4);
        const __mmask64 k = (__mmask64)h0 | (__mmask64)h1 << 32;
        z = _mm512_or_si512(z, _mm512_maskz_mov_epi8(k, _mm512_set1_epi8(0x10)));
    }
    if (kind == L32_MXFP4) z = _mm512_shuffle_epi8(_mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)mxfp4_u)), z);
    return z;
}

WF_AI float l32_d(const l32_kind kind, const uint8_t *x) { /* the first field: fp16 d, MXFP4's E8M0 e */
    if (kind == L32_MXFP4) return wf_e8m0_half(x[0]);
    uint16_t d;
    memcpy(&d, x, 2);
    return fp16(d);
}

/* ---- Q4_K x Q8_K --------------------------------------------------------------
 * Per 64-element group g the 32 qs bytes hold sub-block 2g in the low nibbles
 * and 2g+1 in the high ones, so [low | high] as one zmm lines up with the 64
 * contiguous activation bytes. vpdpbusd gives 16 partial sums (each < 2^15),
 * vpdpwssd multiplies them by the 6-bit sub-block scale and accumulates.
 * The min term, -dmin*m_j*da*sum(a over j), is a float dot of per-row
 * (-dmin*m) with per-activation (da*bsum pairs), added with one FMA. */

/* 8 sub-block scales (lanes 0..7) and mins (lanes 8..15 of *m, also 0..7)
 * of a Q4_K/Q5_K block. Decoded in 32-bit words, four sub-blocks at a time:
 * byte j of u0/u1/u2 is scales[j], [4+j], [8+j]; sub-blocks 4..7 take their
 * top two bits from bits 6-7 of u0 (scales) and u1 (mins). */
WF_AI void k4_scales_epi32(const uint8_t s[WF_K_SCALE_SIZE], __m512i *sc, __m512i *m) {
    uint32_t u0, u1, u2;
    memcpy(&u0, s, 4);
    memcpy(&u1, s + 4, 4);
    memcpy(&u2, s + 8, 4);
    const uint32_t sc_lo = u0 & 0x3f3f3f3fu, m_lo = u1 & 0x3f3f3f3fu;
    const uint32_t sc_hi = (u2 & 0x0f0f0f0fu) | ((u0 >> 2) & 0x30303030u);
    const uint32_t m_hi = ((u2 >> 4) & 0x0f0f0f0fu) | ((u1 >> 2) & 0x30303030u);
    const __m128i v = _mm_set_epi32((int)m_hi, (int)m_lo, (int)sc_hi, (int)sc_lo);
    const __m512i all = _mm512_cvtepu8_epi32(v);
    *sc = all;
    *m = _mm512_shuffle_i64x2(all, all, 0xee); /* 128-bit lanes 2,3,2,3: mins in 0..7 */
}

/* ---- K-quants with both sides prepared once per gemm call ------------------
 * For prefill the direct tiles above pay two multiply-class instructions per
 * 64 MACs (vpdpbusd into a fresh register, then vpdpwssd by the sub-block
 * scale), and both share the two VNNI-capable pipes with the float work. The
 * prepared tiles need one: the 256 elements of a super-block are dealt into
 * 4 zmm ("groups") so that dword lane l of every group holds elements of the
 * same sub-block,
 *     group g, lane l  <-  elements 4*D .. 4*D+3,  D = 8*(l%8) + 4*(l/8) + g
 * i.e. lanes l and l+8 cover the two 16-element halves of the 32-element
 * sub-block l%8 (for Q6_K: 16-element sub-blocks 2*(l%8) + l/8). Weights and
 * activations are dealt the same way, so four accumulating vpdpbusd give
 * every lane a whole-super-block partial sum of one sub-block (|P| < 2^24,
 * exact in float). The sub-block scales are then applied in float: one
 * multiply by a per-lane d*sc vector, after folding two tokens into one zmm
 * (fold_pair) where the lane scales allow it.
 *
 * kp_block (one weight row, one super-block): the dealt codes (unsigned:
 * Q4_K/Q5_K as stored, Q6_K as q + 32), per-lane d*sc, and for Q4_K/Q5_K the
 * min vector -dmin*m_j (lanes j and j+8). 384 bytes. */
typedef struct {
    __m512i w[4];
    __m512 dsc, off;
} kp_block;

enum { KP_Q4_K, KP_Q5_K, KP_Q6_K, KP_Q8_0, KP_Q4_0, KP_Q5_0, KP_MXFP4, KP_Q3_K, KP_Q2_K, KP_IQ4_XS };

/* The low-bit super-block kinds (kp_prepare_lb, kxl tiles below). */
WF_AI bool kp_is_lb(const int kind) { return kind == KP_Q3_K || kind == KP_Q2_K || kind == KP_IQ4_XS; }

/* The 32-element family's dealt kinds (their blocks, the l32 unpacking). */
WF_AI bool kp_is_l32(const int kind) { return kind == KP_Q8_0 || kind == KP_Q4_0 || kind == KP_Q5_0 || kind == KP_MXFP4; }
WF_AI l32_kind kp_l32(const int kind) {
    return kind == KP_Q4_0 ? L32_Q4_0 : kind == KP_Q5_0 ? L32_Q5_0 : kind == KP_MXFP4 ? L32_MXFP4 : L32_Q8_0;
}

/* Deal the 64 dwords of a super-block, given in natural order (nat[q] holds
 * dwords 16q..16q+15), into the 4 groups described above. */
WF_AI void deal_groups(const __m512i nat[4], __m512i out[4]) {
    /* for group g, lane l: source zmm (l%8)/2, position 8*(l%2) + 4*(l/8) + g;
     * lo takes lanes whose source is 0/1 (from nat[0]|nat[1]), hi 2/3 */
    for (int g = 0; g < 4; g++) {
        const __m512i idx = _mm512_set_epi32(16 + 12 + g, 16 + 4 + g, 12 + g, 4 + g, 16 + 12 + g, 16 + 4 + g, 12 + g,
                                              4 + g, 16 + 8 + g, 16 + g, 8 + g, g, 16 + 8 + g, 16 + g, 8 + g, g);
        const __m512i lo = _mm512_permutex2var_epi32(nat[0], idx, nat[1]);
        const __m512i hi = _mm512_permutex2var_epi32(nat[2], idx, nat[3]);
        out[g] = _mm512_mask_blend_epi32(0xf0f0, lo, hi);
    }
}

/* Lane l's sub-block scale index: Q4_K/Q5_K l%8, Q6_K 2*(l%8) + l/8. */
WF_AI __m512i lane_sub_idx(const bool q6) {
    return q6 ? _mm512_set_epi32(15, 13, 11, 9, 7, 5, 3, 1, 14, 12, 10, 8, 6, 4, 2, 0)
              : _mm512_set_epi32(7, 6, 5, 4, 3, 2, 1, 0, 7, 6, 5, 4, 3, 2, 1, 0);
}

/* Q8_0/Q4_0/Q5_0 rows in chunks of 8 blocks (256 elements; the last chunk
 * of a row whose block count is not a multiple of 8 is padded with zero
 * codes and zero scales). Codes are unsigned with the l32 bias (l32_codes):
 * Q8_0 w + 128, Q4_0 q, Q5_0 q; the activation side removes bias*sum(a). */
static void kp_prepare_l32(const l32_kind lk, const uint8_t *row, int64_t nb, kp_block *dst) {
    const size_t bsz = l32_size(lk);
    __m512i nat[4];
    const __m512i lane8 = lane_sub_idx(false);
    for (int64_t b0 = 0; b0 < nb; b0 += 8, dst++) {
        float d[8];
        for (int j = 0; j < 8; j++) d[j] = b0 + j < nb ? l32_d(lk, row + (size_t)(b0 + j) * bsz) : 0.0f;
        for (int g = 0; g < 4; g++) { /* elements 64g..64g+63 of the chunk: blocks 2g, 2g+1 */
            const int64_t j0 = b0 + 2 * g;
            nat[g] = j0 >= nb ? _mm512_setzero_si512() : l32_codes(lk, j0 + 1 < nb, row + (size_t)j0 * bsz);
            if (j0 + 1 >= nb) nat[g] = _mm512_maskz_mov_epi8(0xffffffffull, nat[g]); /* no second block: 0 codes */
        }
        deal_groups(nat, dst->w);
        dst->dsc = _mm512_permutexvar_ps(lane8, _mm512_castps256_ps512(_mm256_loadu_ps(d)));
        dst->off = _mm512_setzero_ps();
    }
}

static void kp_prepare(const int kind, const uint8_t *row, int64_t nsb, kp_block *dst) {
    const __m512i m4 = _mm512_set1_epi8(0x0f), m2 = _mm512_set1_epi8(0x30);
    __m512i nat[4];
    if (kind == KP_Q6_K) {
        const __m512i shl = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(2), 1);
        const __m512i shr = _mm512_inserti64x4(_mm512_set1_epi16(0), _mm256_set1_epi16(2), 1);
        const __m512i sidx = lane_sub_idx(true);
        for (int64_t b = 0; b < nsb; b++, dst++) {
            const wf_block_q6_K *x = (const wf_block_q6_K *)row + b;
            const __m512i sc = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)x->scales));
            dst->dsc = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_permutexvar_epi32(sidx, sc)), _mm512_set1_ps(fp16(x->d)));
            dst->off = _mm512_setzero_ps();
            for (int g = 0; g < 4; g++) { /* elements 64g..64g+63: [q0|q1] or [q2|q3] of half g/2 */
                const int h = g / 2;
                const __m512i L = _mm512_loadu_si512((const void *)(x->ql + 64 * h));
                const __m512i QH = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(x->qh + 32 * h)));
                nat[g] = g % 2 == 0 ? _mm512_or_si512(_mm512_and_si512(L, m4), _mm512_and_si512(_mm512_sllv_epi16(QH, shl), m2))
                                    : _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(L, 4), m4),
                                                      _mm512_and_si512(_mm512_srlv_epi16(QH, shr), m2));
            }
            deal_groups(nat, dst->w);
        }
        return;
    }
    const bool five = kind == KP_Q5_K;
    const size_t bsz = five ? sizeof(wf_block_q5_K) : sizeof(wf_block_q4_K);
    const size_t qs_off = five ? offsetof(wf_block_q5_K, qs) : offsetof(wf_block_q4_K, qs);
    const __m512i sidx = lane_sub_idx(false);
    for (int64_t b = 0; b < nsb; b++, dst++) {
        const uint8_t *x = row + (size_t)b * bsz;
        const wf_block_q4_K *hdr = (const wf_block_q4_K *)x; /* d, dmin, scales: same offsets in Q5_K */
        __m512i sc, m;
        k4_scales_epi32(hdr->scales, &sc, &m);
        dst->dsc = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_permutexvar_epi32(sidx, sc)), _mm512_set1_ps(fp16(hdr->d)));
        dst->off = _mm512_mul_ps(_mm512_cvtepi32_ps(m), _mm512_set1_ps(-fp16(hdr->dmin)));
        for (int g = 0; g < 4; g++) { /* elements 64g..64g+63: [low | high nibbles] of qs[32g..32g+31] */
            const __m256i q = _mm256_loadu_si256((const __m256i *)(x + qs_off + 32 * g));
            __m512i W = _mm512_and_si512(join256(q, _mm256_srli_epi16(q, 4)), m4);
            if (five) {
                const __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(x + offsetof(wf_block_q5_K, qh))));
                const __m512i bit = join256(_mm256_set1_epi8((char)(1 << (2 * g))), _mm256_set1_epi8((char)(2 << (2 * g))));
                W = _mm512_or_si512(W, _mm512_maskz_mov_epi8(_mm512_test_epi8_mask(qh, bit), _mm512_set1_epi8(0x10)));
            }
            nat[g] = W;
        }
        deal_groups(nat, dst->w);
    }
}

/* ---- Q3_K, Q2_K, IQ4_XS in the K-quant tiles ------------------------------
 * The low-bit super-block types fit the dealt layout as they are:
 *  Q3_K: 16-element sub-blocks with signed 6-bit scales, codes q in 0..7,
 *    value q - 4: Q6_K's arrangement (per-lane scales, kp6 tiles) with the
 *    start value -4*bsum instead of -32*bsum;
 *  Q2_K: 16-element sub-blocks, codes 0..3, value d*sc*q - dmin*m: per-lane
 *    scales as Q6_K, plus each token's min term off*bsum (kp2 tiles);
 *  IQ4_XS: 32-element sub-blocks (lanes l, l+8 share a scale, as Q4_K),
 *    codebook levels stored as level + 128 (unsigned), start value
 *    -128*bsum, no mins: exactly the kp8 tiles' arithmetic.
 * lb_codes gives the unsigned codes in element order (nat[g]: elements
 * 64g..64g+63), lb_scales the per-lane d*sc (in the dealt lane order) and
 * the per-lane -dmin*m; both the dealing (kp_prepare_lb) and the one-token
 * tiles (kxl_tile) start from them. */

/* IQ4_XS levels + 128 (wf_iq4nl_values; test_kernels checks them through
 * the scalar reference). */
static const int8_t iq4xs_u[16] = {1, 24, 45, 63, 79, 93, 106, 118,
                                   (int8_t)129, (int8_t)141, (int8_t)153, (int8_t)166,
                                   (int8_t)181, (int8_t)197, (int8_t)217, (int8_t)241};

/* Two 16-byte nibble runs -> 64 codes in element order: p0's low nibbles,
 * p0's high nibbles, p1's low, p1's high. */
WF_AI __m512i lb_nibbles2(const uint8_t *p0, const uint8_t *p1) {
    const __m512i z = _mm512_mask_broadcast_i32x4(_mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)p0)), 0xff00,
                                                  _mm_loadu_si128((const __m128i *)p1));
    return _mm512_and_si512(_mm512_mask_srli_epi16(z, 0xff00ff00, z, 4), _mm512_set1_epi8(0x0f));
}

WF_AI void lb_codes(const int kind, const uint8_t *x, __m512i nat[4]) {
    if (kind == KP_IQ4_XS) {
        const wf_block_iq4_xs *b = (const wf_block_iq4_xs *)x;
        const __m512i lut = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)iq4xs_u));
        for (int g = 0; g < 4; g++) /* sub-blocks 2g, 2g+1 */
            nat[g] = _mm512_shuffle_epi8(lut, lb_nibbles2(b->qs + 32 * g, b->qs + 32 * g + 16));
        return;
    }
    /* Q2_K/Q3_K: elements 64g..: quarters j = 2(g%2), j+1 of half h = g/2,
     * the 2-bit fields at bits 2j (low 256 bits) and 2j+2 (high) */
    const bool q3 = kind == KP_Q3_K;
    const uint8_t *qs = q3 ? ((const wf_block_q3_K *)x)->qs : ((const wf_block_q2_K *)x)->qs;
    const __m512i hm = q3 ? _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)((const wf_block_q3_K *)x)->hmask))
                          : _mm512_setzero_si512();
    for (int g = 0; g < 4; g++) {
        const int h = g / 2, j = 2 * (g % 2);
        const __m512i qv = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(qs + 32 * h)));
        const __m512i sh = join256(_mm256_set1_epi16((short)(2 * j)), _mm256_set1_epi16((short)(2 * j + 2)));
        __m512i q = _mm512_and_si512(_mm512_srlv_epi16(qv, sh), _mm512_set1_epi8(3));
        if (q3) { /* third bit: bit 4h + j (low half), 4h + j + 1 (high) of hmask[l], worth 4 */
            const __m512i hs = join256(_mm256_set1_epi16((short)(4 * h + j)), _mm256_set1_epi16((short)(4 * h + j + 1)));
            const __m512i hb = _mm512_and_si512(_mm512_srlv_epi16(hm, hs), _mm512_set1_epi8(1));
            q = _mm512_or_si512(q, _mm512_slli_epi16(hb, 2));
        }
        nat[g] = q;
    }
}

/* Per-lane d*sc and -dmin*m (zero but for Q2_K) in the dealt lane order:
 * Q2_K/Q3_K lane l -> 16-element sub-block 2(l%8) + l/8; IQ4_XS lane l ->
 * 32-element sub-block l%8. */
WF_AI void lb_scales(const int kind, const uint8_t *x, __m512 *dsc, __m512 *off) {
    if (kind == KP_IQ4_XS) {
        const wf_block_iq4_xs *b = (const wf_block_iq4_xs *)x;
        uint32_t sl;
        memcpy(&sl, b->scales_l, 4);
        const __m256i lo = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32((int)sl), _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28)),
                                            _mm256_set1_epi32(0x0f));
        const __m256i hi = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(b->scales_h), _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14)),
                                            _mm256_set1_epi32(3));
        const __m256i ls = _mm256_sub_epi32(_mm256_or_si256(lo, _mm256_slli_epi32(hi, 4)), _mm256_set1_epi32(32));
        const __m512i l16 = _mm512_permutexvar_epi32(lane_sub_idx(false), _mm512_castsi256_si512(ls));
        *dsc = _mm512_mul_ps(_mm512_cvtepi32_ps(l16), _mm512_set1_ps(fp16(b->d)));
        *off = _mm512_setzero_ps();
        return;
    }
    const __m512i sidx = lane_sub_idx(true);
    if (kind == KP_Q3_K) {
        const wf_block_q3_K *b = (const wf_block_q3_K *)x;
        const __m128i v = _mm_loadl_epi64((const __m128i *)b->scales), m4 = _mm_set1_epi8(0x0f);
        const __m128i lo = _mm_unpacklo_epi64(_mm_and_si128(v, m4), _mm_and_si128(_mm_srli_epi16(v, 4), m4));
        uint32_t h4;
        memcpy(&h4, b->scales + 8, 4);
        const __m128i hi = _mm_and_si128(_mm_srlv_epi32(_mm_set1_epi32((int)h4), _mm_setr_epi32(0, 2, 4, 6)), _mm_set1_epi8(3));
        const __m128i sc = _mm_sub_epi8(_mm_or_si128(lo, _mm_slli_epi16(hi, 4)), _mm_set1_epi8(32));
        *dsc = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_permutexvar_epi32(sidx, _mm512_cvtepi8_epi32(sc))), _mm512_set1_ps(fp16(b->d)));
        *off = _mm512_setzero_ps();
        return;
    }
    const wf_block_q2_K *b = (const wf_block_q2_K *)x;
    const __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)b->scales));
    const __m512i sc = _mm512_and_si512(v, _mm512_set1_epi32(0x0f)), m = _mm512_srli_epi32(v, 4);
    *dsc = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_permutexvar_epi32(sidx, sc)), _mm512_set1_ps(fp16(b->d)));
    *off = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_permutexvar_epi32(sidx, m)), _mm512_set1_ps(-fp16(b->dmin)));
}

WF_AI size_t lb_size(const int kind) {
    return kind == KP_Q3_K ? sizeof(wf_block_q3_K) : kind == KP_Q2_K ? sizeof(wf_block_q2_K) : sizeof(wf_block_iq4_xs);
}

static void kp_prepare_lb(const int kind, const uint8_t *row, int64_t nsb, kp_block *dst) {
    for (int64_t b = 0; b < nsb; b++, dst++) {
        const uint8_t *x = row + (size_t)b * lb_size(kind);
        __m512i nat[4];
        lb_codes(kind, x, nat);
        deal_groups(nat, dst->w);
        lb_scales(kind, x, &dst->dsc, &dst->off);
    }
}

/* The activation side, once per gemm call, per pair of tokens (c, c+1) and
 * super-block: the dealt codes of both tokens; dap = [da_c x8 | da_c+1 x8];
 * for Q4_K/Q5_K oap = [da_c*sum_c(sub-block j) | da_c+1*sum_c+1(j)], j = 0..7;
 * for Q6_K the start of each token's accumulator, -32*sum over the lane's
 * sub-block (this removes the +32 of the codes). A missing second token
 * (odd nc) is all zeros. 768 bytes. */
typedef struct {
    __m512i q[2][4];
    __m512 dap, oap;
    __m512i neg[2];
    __m512 bsf[2]; /* Q2_K: each token's bsum of the lane's sub-block, as float */
} ka_block;

static void ka_prepare(const int kind, int64_t nsb, const uint8_t *a0, const uint8_t *a1, ka_block *dst) {
    const __m512i sidx = lane_sub_idx(true);
    /* the start value removes the codes' offset: -off * sum over the lane's
     * 16-element sub-block (Q6_K +32, Q3_K +4, IQ4_XS +128) */
    const int shift = kind == KP_Q6_K ? 5 : kind == KP_Q3_K ? 2 : kind == KP_IQ4_XS ? 7 : -1;
    const bool mins = kind == KP_Q4_K || kind == KP_Q5_K;
    for (int64_t b = 0; b < nsb; b++, dst++) {
        const wf_block_q8_K *y[2] = {(const wf_block_q8_K *)a0 + b, a1 ? (const wf_block_q8_K *)a1 + b : NULL};
        __m256i sums[2];
        for (int t = 0; t < 2; t++) {
            if (!y[t]) {
                for (int g = 0; g < 4; g++) dst->q[t][g] = _mm512_setzero_si512();
                dst->neg[t] = _mm512_setzero_si512();
                dst->bsf[t] = _mm512_setzero_ps();
                sums[t] = _mm256_setzero_si256();
                continue;
            }
            __m512i nat[4];
            for (int g = 0; g < 4; g++) nat[g] = _mm512_loadu_si512((const void *)(y[t]->qs + 64 * g));
            deal_groups(nat, dst->q[t]);
            const __m256i bs = _mm256_loadu_si256((const __m256i *)y[t]->bsums);
            sums[t] = _mm256_madd_epi16(bs, _mm256_set1_epi16(1));
            const __m512i bsl = _mm512_permutexvar_epi32(sidx, _mm512_cvtepi16_epi32(bs));
            dst->neg[t] = shift >= 0 ? _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_sll_epi32(bsl, _mm_cvtsi32_si128(shift)))
                                     : _mm512_setzero_si512();
            dst->bsf[t] = kind == KP_Q2_K ? _mm512_cvtepi32_ps(bsl) : _mm512_setzero_ps();
        }
        dst->dap = join_ps(y[0]->d, y[1] ? y[1]->d : 0.0f);
        dst->oap = mins ? _mm512_mul_ps(_mm512_cvtepi32_ps(join256(sums[0], sums[1])), dst->dap) : _mm512_setzero_ps();
    }
}

/* Q8_0 activations (of Q8_0/Q4_0/Q5_0 weights), chunks of 8 blocks
 * (zero-padded like the weights): dap holds each lane's block scale,
 * neg = -bias * sum of the lane's codes (bias: the weights' l32 bias). */
static void ka_prepare_l32(const l32_kind lk, int64_t nb, const uint8_t *a0, const uint8_t *a1, ka_block *dst) {
    const __m512i bias = _mm512_set1_epi8(l32_bias(lk));
    for (int64_t b0 = 0; b0 < nb; b0 += 8, dst++) {
        float d[16];
        for (int t = 0; t < 2; t++) {
            const wf_block_q8_0 *y = (const wf_block_q8_0 *)(t == 0 ? a0 : a1);
            __m512i nat[4];
            for (int j = 0; j < 8; j++) d[8 * t + j] = y && b0 + j < nb ? fp16(y[b0 + j].d) : 0.0f;
            for (int g = 0; g < 4; g++) {
                const int64_t j0 = b0 + 2 * g, j1 = j0 + 1;
                const __m256i lo = y && j0 < nb ? _mm256_loadu_si256((const __m256i *)y[j0].qs) : _mm256_setzero_si256();
                const __m256i hi = y && j1 < nb ? _mm256_loadu_si256((const __m256i *)y[j1].qs) : _mm256_setzero_si256();
                nat[g] = join256(lo, hi);
            }
            deal_groups(nat, dst->q[t]);
            __m512i sum = _mm512_setzero_si512();
            for (int g = 0; g < 4; g++) sum = _mm512_dpbusd_epi32(sum, bias, dst->q[t][g]);
            dst->neg[t] = _mm512_sub_epi32(_mm512_setzero_si512(), sum);
        }
        /* lanes 0..7: token 0's blocks 0..7, lanes 8..15: token 1's */
        dst->dap = _mm512_loadu_ps(d);
        dst->oap = _mm512_setzero_ps();
    }
}

WF_AI float hsum256(__m256 v) {
    __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    return _mm_cvtss_f32(_mm_add_ss(x, _mm_movehdup_ps(x)));
}

/* Lanes 0..7: a's two halves summed; lanes 8..15: b's. */
WF_AI __m512i fold_pair(__m512i a, __m512i b) {
    const __m512i lo = _mm512_mask_blend_epi64(0xf0, a, b);                /* a.lo | b.hi */
    const __m512i hi = _mm512_shuffle_i64x2(a, b, _MM_SHUFFLE(1, 0, 3, 2)); /* a.hi | b.lo */
    return _mm512_add_epi32(lo, hi);
}
WF_AI __m512 fold_pair_ps(__m512 a, __m512 b) {
    const __m512 lo = _mm512_mask_blend_ps(0xff00, a, b);
    const __m512 hi = _mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(1, 0, 3, 2));
    return _mm512_add_ps(lo, hi);
}

/* w: (RB) rows of kp_block, ws bytes apart; ka: (CB/2 rounded up) rows of
 * ka_block (n/256 each), kas bytes apart; out[c*os + r].
 * Per super-block and (row, token): 4 vpdpbusd into P (lanes: see above).
 * Q4_K/Q5_K: the lane scales of halves l and l+8 are equal, so two tokens
 * fold into one zmm in integers; then one convert, one multiply (d*sc by the
 * two tokens' da) and one FMA for both, plus one FMA for both tokens' mins.
 * Q6_K (and Q3_K, Q2_K): the lane scales differ, so each token is converted
 * and multiplied by d*sc first (Q2_K then adds -dmin*m times the lane's
 * bsum), and folded in float. Registers: RB*CB P + RB*ceil(CB/2)
 * accumulators + 2 <= 26 zmm for 4x4. */
enum { TILE_CP = (TILE_C + 1) / 2 };

/* The float accumulators of one tile between column chunks: (TILE_R, TILE_CP). */
typedef struct {
    __m512 v[TILE_R][TILE_CP];
} kp_acc;

/* acc_io: NULL, or where the accumulators of a tile that spans several calls
 * (column chunks) live: read unless first, written back unless last; out is
 * written only on the last call. */
WF_AI void kp_tile(const int kt, const int RB, const int CB, int64_t nsb, const uint8_t *w, size_t ws,
                   const ka_block *ka, size_t kas, kp_acc *acc_io, int flags, float *out, size_t os) {
    const bool q2 = kt == KP_Q2_K, q6 = kt == KP_Q6_K || q2, q8 = kt == KP_Q8_0;
    const bool first = flags & 1, last = flags & 2;
    const int PB = (CB + 1) / 2;
    __m512 acc[TILE_R][TILE_CP];
    for (int r = 0; r < RB; r++)
        for (int p = 0; p < PB; p++) acc[r][p] = first ? _mm512_setzero_ps() : acc_io->v[r][p];
    for (int64_t b = 0; b < nsb; b++) {
        __m512i P[TILE_R][TILE_C];
#pragma GCC unroll 4
        for (int g = 0; g < 4; g++)
            for (int r = 0; r < RB; r++) {
                const kp_block *x = (const kp_block *)(const void *)(w + (size_t)r * ws) + b;
                const __m512i W = _mm512_load_si512((const void *)&x->w[g]);
                for (int c = 0; c < CB; c++) {
                    const ka_block *k = (const ka_block *)(const void *)((const uint8_t *)ka + (size_t)(c / 2) * kas) + b;
                    const __m512i start = (q6 && !q2) || q8 ? k->neg[c % 2] : _mm512_setzero_si512();
                    P[r][c] = _mm512_dpbusd_epi32(g == 0 ? start : P[r][c], W, k->q[c % 2][g]);
                }
            }
        for (int p = 0; p < PB; p++) {
            const ka_block *k = (const ka_block *)(const void *)((const uint8_t *)ka + (size_t)p * kas) + b;
            const bool two = 2 * p + 1 < CB;
            for (int r = 0; r < RB; r++) {
                const kp_block *x = (const kp_block *)(const void *)(w + (size_t)r * ws) + b;
                if (q6) {
                    __m512 f0 = _mm512_mul_ps(_mm512_cvtepi32_ps(P[r][2 * p]), x->dsc);
                    __m512 f1 = two ? _mm512_mul_ps(_mm512_cvtepi32_ps(P[r][2 * p + 1]), x->dsc) : _mm512_setzero_ps();
                    if (q2) { /* the mins: -dmin*m times the lane's bsum */
                        f0 = _mm512_fmadd_ps(x->off, k->bsf[0], f0);
                        if (two) f1 = _mm512_fmadd_ps(x->off, k->bsf[1], f1);
                    }
                    acc[r][p] = _mm512_fmadd_ps(fold_pair_ps(f0, f1), k->dap, acc[r][p]);
                } else {
                    const __m512i X = fold_pair(P[r][2 * p], two ? P[r][2 * p + 1] : _mm512_setzero_si512());
                    acc[r][p] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(X), _mm512_mul_ps(x->dsc, k->dap), acc[r][p]);
                    if (!q8) acc[r][p] = _mm512_fmadd_ps(x->off, k->oap, acc[r][p]);
                }
            }
        }
    }
    if (!last) {
        for (int r = 0; r < RB; r++)
            for (int p = 0; p < PB; p++) acc_io->v[r][p] = acc[r][p];
        return;
    }
    for (int r = 0; r < RB; r++)
        for (int p = 0; p < PB; p++) {
            out[(size_t)(2 * p) * os + r] = hsum256(_mm512_castps512_ps256(acc[r][p]));
            if (2 * p + 1 < CB)
                out[(size_t)(2 * p + 1) * os + r] = hsum256(_mm512_extractf32x8_ps(acc[r][p], 1));
        }
}

typedef void (*kp_fn)(int64_t nsb, const uint8_t *w, size_t ws, const ka_block *ka, size_t kas, kp_acc *acc,
                      int flags, float *out, size_t os);
#define WF_KP_ONE(T, R, C)                                                                                  \
    static void T##_##R##x##C(int64_t nsb, const uint8_t *w, size_t ws, const ka_block *ka, size_t kas,     \
                              kp_acc *acc, int flags, float *o, size_t os) {                               \
        T##_tile(R, C, nsb, w, ws, ka, kas, acc, flags, o, os);                                            \
    }
#define WF_KP_INSTANCES(T)                                                                                 \
    WF_KP_ONE(T, 1, 1) WF_KP_ONE(T, 1, 2) WF_KP_ONE(T, 1, 3) WF_KP_ONE(T, 1, 4)                             \
    WF_KP_ONE(T, 2, 1) WF_KP_ONE(T, 2, 2) WF_KP_ONE(T, 2, 3) WF_KP_ONE(T, 2, 4)                             \
    WF_KP_ONE(T, 3, 1) WF_KP_ONE(T, 3, 2) WF_KP_ONE(T, 3, 3) WF_KP_ONE(T, 3, 4)                             \
    WF_KP_ONE(T, 4, 1) WF_KP_ONE(T, 4, 2) WF_KP_ONE(T, 4, 3) WF_KP_ONE(T, 4, 4)                             \
    static const kp_fn T##_tiles[TILE_R][TILE_C] = {{T##_1x1, T##_1x2, T##_1x3, T##_1x4},                   \
                                                    {T##_2x1, T##_2x2, T##_2x3, T##_2x4},                   \
                                                    {T##_3x1, T##_3x2, T##_3x3, T##_3x4},                   \
                                                    {T##_4x1, T##_4x2, T##_4x3, T##_4x4}};

WF_AI void kp4_tile(const int RB, const int CB, int64_t nsb, const uint8_t *w, size_t ws, const ka_block *ka,
                    size_t kas, kp_acc *acc, int flags, float *out, size_t os) {
    kp_tile(KP_Q4_K, RB, CB, nsb, w, ws, ka, kas, acc, flags, out, os);
}
WF_AI void kp6_tile(const int RB, const int CB, int64_t nsb, const uint8_t *w, size_t ws, const ka_block *ka,
                    size_t kas, kp_acc *acc, int flags, float *out, size_t os) {
    kp_tile(KP_Q6_K, RB, CB, nsb, w, ws, ka, kas, acc, flags, out, os);
}
WF_AI void kp8_tile(const int RB, const int CB, int64_t nsb, const uint8_t *w, size_t ws, const ka_block *ka,
                    size_t kas, kp_acc *acc, int flags, float *out, size_t os) {
    kp_tile(KP_Q8_0, RB, CB, nsb, w, ws, ka, kas, acc, flags, out, os);
}
WF_AI void kp2_tile(const int RB, const int CB, int64_t nsb, const uint8_t *w, size_t ws, const ka_block *ka,
                    size_t kas, kp_acc *acc, int flags, float *out, size_t os) {
    kp_tile(KP_Q2_K, RB, CB, nsb, w, ws, ka, kas, acc, flags, out, os);
}
WF_KP_INSTANCES(kp4)
WF_KP_INSTANCES(kp6)
WF_KP_INSTANCES(kp2)
WF_KP_INSTANCES(kp8)
#undef WF_KP_INSTANCES
#undef WF_KP_ONE

/* ---- Q8_0 / Q4_0 / Q5_0 for few tokens, exact at every batch width ---------
 * The dealt kp8 tiles compute a row's dot as: per 32-element block b the
 * exact integer dot I_b (bias removed), then, over the blocks in order,
 *     acc[b % 8] = fma(float(I_b), dw_b * da_b, acc[b % 8])
 * and finally hsum256(acc). The n8 tiles compute exactly that, bit for bit,
 * from the blocks as stored, so that decode (1 token), a short verification
 * pass and a long one (dealt) give every column the same float result and
 * speculative verification may use the fast dealt tiles at any width.
 *
 * Per 8 blocks (a "chunk", 256 elements) and (row, token): four vpdpbusd
 * give 16 dword partials per block pair; three rounds of permutes and adds
 * reduce them to one int32 per block in lanes 0..7 of a ymm (integer sums:
 * the order does not matter); then one convert, one multiply (dw * da) and
 * one FMA into the token's 8 float accumulators. A row's last chunk may hold
 * fewer than 8 blocks: the missing lanes get zero codes and scales, as the
 * dealt tiles' zero padding (fma(0, 0, acc) leaves acc as it is). */

/* One token's chunk, prepared once per gemm call: codes, bias * sum of each
 * block's codes, block scales (zero past the row's end). 320 bytes. */
typedef struct {
    __m512i q[4];
    __m256i bsum;
    __m256 d;
} n8_act;

/* Eight fp16 scales from blocks bsz bytes apart (cnt of them; the rest 0). */
WF_AI __m256 n8_scales(const uint8_t *x, size_t bsz, int cnt) {
    uint16_t h[8];
    for (int j = 0; j < 8; j++) {
        h[j] = 0;
        if (j < cnt) memcpy(&h[j], x + (size_t)j * bsz, 2);
    }
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)h));
}

/* The weight blocks' scales (MXFP4: E8M0, exact as floats). */
WF_AI __m256 n8_wscales(const l32_kind kind, const uint8_t *x, size_t bsz, int cnt) {
    if (kind != L32_MXFP4) return n8_scales(x, bsz, cnt);
    float d[8];
    for (int j = 0; j < 8; j++) d[j] = j < cnt ? wf_e8m0_half(x[(size_t)j * bsz]) : 0.0f;
    return _mm256_loadu_ps(d);
}

/* Lanes of a and b (indices 0..31 over both) picked by i and by j, added:
 * one round of a permute-and-add reduction tree. */
WF_AI __m512i pick_add(__m512i a, __m512i b, __m512i i, __m512i j) {
    return _mm512_add_epi32(_mm512_permutex2var_epi32(a, i, b), _mm512_permutex2var_epi32(a, j, b));
}

/* D[g]: lanes 0..7 partials of block 2g, 8..15 of block 2g+1. Returns lanes
 * 0..7 = the sum of each block's 8 partials. */
WF_AI __m256i n8_reduce(const __m512i D[4]) {
    /* lanes 4k..4k+3: block k (e01: blocks 0..3, e23: 4..7) */
    const __m512i ia = _mm512_set_epi32(27, 26, 25, 24, 19, 18, 17, 16, 11, 10, 9, 8, 3, 2, 1, 0);
    const __m512i ib = _mm512_set_epi32(31, 30, 29, 28, 23, 22, 21, 20, 15, 14, 13, 12, 7, 6, 5, 4);
    const __m512i e01 = pick_add(D[0], D[1], ia, ib), e23 = pick_add(D[2], D[3], ia, ib);
    /* lanes k and 8+k: two partials of block k */
    const __m512i ic = _mm512_set_epi32(29, 25, 21, 17, 13, 9, 5, 1, 28, 24, 20, 16, 12, 8, 4, 0);
    const __m512i id = _mm512_set_epi32(31, 27, 23, 19, 15, 11, 7, 3, 30, 26, 22, 18, 14, 10, 6, 2);
    const __m512i f = pick_add(e01, e23, ic, id);
    return _mm256_add_epi32(_mm512_castsi512_si256(f), _mm512_extracti64x4_epi64(f, 1));
}

/* The weight codes of a chunk's (up to) 8 blocks, 2 per zmm (beyond cnt:
 * anything; the activation side is zero there). */
WF_AI void n8_codes(const l32_kind kind, const uint8_t *x, int cnt, __m512i U[4]) {
    const size_t bsz = l32_size(kind);
    for (int g = 0; g < 4; g++)
        U[g] = 2 * g < cnt ? l32_codes(kind, 2 * g + 1 < cnt, x + (size_t)(2 * g) * bsz) : _mm512_setzero_si512();
}

static void n8_prepare(const l32_kind kind, int64_t nb, const uint8_t *a, n8_act *act, size_t act_stride) {
    const __m512i bias = _mm512_set1_epi8(l32_bias(kind));
    const wf_block_q8_0 *y = (const wf_block_q8_0 *)a;
    for (int64_t b0 = 0; b0 < nb; b0 += 8, act += act_stride) {
        const int cnt = nb - b0 < 8 ? (int)(nb - b0) : 8;
        __m512i S[4];
        for (int g = 0; g < 4; g++) {
            const int64_t j0 = b0 + 2 * g, j1 = j0 + 1;
            const __m256i lo = 2 * g < cnt ? _mm256_loadu_si256((const __m256i *)y[j0].qs) : _mm256_setzero_si256();
            const __m256i hi = 2 * g + 1 < cnt ? _mm256_loadu_si256((const __m256i *)y[j1].qs) : _mm256_setzero_si256();
            act->q[g] = join256(lo, hi);
            S[g] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), bias, act->q[g]);
        }
        act->bsum = n8_reduce(S);
        act->d = n8_scales((const uint8_t *)&y[b0].d, sizeof *y, cnt);
    }
}

/* One chunk of an RB x CB tile; act: the chunk's CB prepared tokens. */
WF_AI void n8_step(const l32_kind kind, const int RB, const int CB, int cnt, const uint8_t *w, size_t ws,
                   const n8_act *act, __m256 acc[TILE_R][TILE_C]) {
    const size_t bsz = l32_size(kind);
    for (int r = 0; r < RB; r++) {
        const uint8_t *x = w + (size_t)r * ws;
        prefetch_lines(x, 8 * (int)bsz);
        __m512i U[4];
        n8_codes(kind, x, cnt, U);
        const __m256 dw = n8_wscales(kind, x, bsz, cnt);
        for (int c = 0; c < CB; c++) {
            __m512i D[4];
            for (int g = 0; g < 4; g++) D[g] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), U[g], act[c].q[g]);
            const __m256i I = _mm256_sub_epi32(n8_reduce(D), act[c].bsum);
            acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(I), _mm256_mul_ps(dw, act[c].d), acc[r][c]);
        }
    }
}

/* w: (RB, n) rows ws bytes apart; a: n8_act, chunk k of token c at
 * a[k * TILE_C + c] (as unused); out[c*os + r]. */
WF_AI void n8_tile(const l32_kind kind, const int RB, const int CB, int64_t n, const uint8_t *w, size_t ws,
                   const uint8_t *a, size_t as, float *out, size_t os) {
    (void)as;
    const n8_act *act = (const n8_act *)(const void *)a;
    const size_t bsz = l32_size(kind);
    __m256 acc[TILE_R][TILE_C];
    for (int r = 0; r < RB; r++)
        for (int c = 0; c < CB; c++) acc[r][c] = _mm256_setzero_ps();
    const int64_t nb = n / WF_QK8_0;
    int64_t b0 = 0;
    for (; b0 + 8 <= nb; b0 += 8, act += TILE_C) n8_step(kind, RB, CB, 8, w + (size_t)b0 * bsz, ws, act, acc);
    if (b0 < nb) n8_step(kind, RB, CB, (int)(nb - b0), w + (size_t)b0 * bsz, ws, act, acc);
    for (int r = 0; r < RB; r++)
        for (int c = 0; c < CB; c++) out[(size_t)c * os + r] = hsum256(acc[r][c]);
}

WF_AI void q8_0n_tile(const int RB, const int CB, int64_t n, const uint8_t *w, size_t ws, const uint8_t *a,
                      size_t as, float *out, size_t os) {
    n8_tile(L32_Q8_0, RB, CB, n, w, ws, a, as, out, os);
}
WF_AI void q4_0n_tile(const int RB, const int CB, int64_t n, const uint8_t *w, size_t ws, const uint8_t *a,
                      size_t as, float *out, size_t os) {
    n8_tile(L32_Q4_0, RB, CB, n, w, ws, a, as, out, os);
}
WF_AI void q5_0n_tile(const int RB, const int CB, int64_t n, const uint8_t *w, size_t ws, const uint8_t *a,
                      size_t as, float *out, size_t os) {
    n8_tile(L32_Q5_0, RB, CB, n, w, ws, a, as, out, os);
}
WF_AI void mxfp4n_tile(const int RB, const int CB, int64_t n, const uint8_t *w, size_t ws, const uint8_t *a,
                       size_t as, float *out, size_t os) {
    n8_tile(L32_MXFP4, RB, CB, n, w, ws, a, as, out, os);
}

/* One row by one token straight from the blocks (vec_dot, and the gemm
 * when scratch memory cannot be had): the same arithmetic, with the bias
 * removed per dword lane before the reduction (the integer result is the
 * same). */
WF_AI void n8_dot(const l32_kind kind, int64_t n, float *out, const uint8_t *w, const uint8_t *a) {
    const __m512i bias = _mm512_set1_epi8(l32_bias(kind));
    const size_t bsz = l32_size(kind);
    const wf_block_q8_0 *y = (const wf_block_q8_0 *)a;
    const int64_t nb = n / WF_QK8_0;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b0 = 0; b0 < nb; b0 += 8) {
        const int cnt = nb - b0 < 8 ? (int)(nb - b0) : 8;
        const uint8_t *x = w + (size_t)b0 * bsz;
        prefetch_lines(x, 8 * (int)bsz);
        __m512i U[4], D[4];
        n8_codes(kind, x, cnt, U);
        for (int g = 0; g < 4; g++) {
            const int64_t j0 = b0 + 2 * g;
            const __m256i lo = 2 * g < cnt ? _mm256_loadu_si256((const __m256i *)y[j0].qs) : _mm256_setzero_si256();
            const __m256i hi = 2 * g + 1 < cnt ? _mm256_loadu_si256((const __m256i *)y[j0 + 1].qs) : _mm256_setzero_si256();
            const __m512i A = join256(lo, hi);
            const __m512i N = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_dpbusd_epi32(_mm512_setzero_si512(), bias, A));
            D[g] = _mm512_dpbusd_epi32(N, U[g], A);
        }
        const __m256 s = _mm256_mul_ps(n8_wscales(kind, x, bsz, cnt), n8_scales((const uint8_t *)&y[b0].d, sizeof *y, cnt));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(n8_reduce(D)), s, acc);
    }
    *out = hsum256(acc);
}

/* A tile of one or more weight rows by activation rows (strides in bytes;
 * out[c*os + r]). */
typedef void (*tile_fn)(int64_t n, const uint8_t *w, size_t ws, const uint8_t *a, size_t as, float *out,
                        size_t os);

/* ---- Q4_K / Q5_K / Q6_K for few tokens, exact at every batch width ---------
 * The dealt kp4/kp6 tiles' arithmetic, bit for bit, from the blocks as
 * stored: one weight row by 1..4 tokens (decode, and the direct path when
 * scratch memory is short). Per super-block and (row, token):
 *  Q4_K/Q5_K: the exact integer sum X_j of each 32-element sub-block (four
 *    vpdpbusd, n8_reduce), then acc = fma(float(X_j), (float(sc_j)*d)*da, acc)
 *    and acc = fma(float(m_j)*(-dmin), float(bsum_j)*da, acc) in 8 lanes;
 *  Q6_K: the exact sum of each 16-element sub-block s (codes q + 32, minus
 *    32*bsum_s) in the dealt lanes (lane l < 8: s = 2l; lane 8 + l: 2l + 1),
 *    times float(sc_s)*d, the two lanes of each 32-element pair added, then
 *    acc = fma(that, da, acc);
 * and the 8 accumulators summed by hsum256, as the dealt tiles do. */

/* Q4_K/Q5_K codes of super-block x, elements 64g..64g+63 in W[g]. */
WF_AI void kx4_codes(const bool five, const uint8_t *x, __m512i W[4]) {
    const size_t qs_off = five ? offsetof(wf_block_q5_K, qs) : offsetof(wf_block_q4_K, qs);
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    for (int g = 0; g < 4; g++) { /* [low | high nibbles] of qs[32g..32g+31] */
        const __m256i q = _mm256_loadu_si256((const __m256i *)(x + qs_off + 32 * g));
        W[g] = _mm512_and_si512(join256(q, _mm256_srli_epi16(q, 4)), m4);
        if (five) {
            const __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(x + offsetof(wf_block_q5_K, qh))));
            const __m512i bit = join256(_mm256_set1_epi8((char)(1 << (2 * g))), _mm256_set1_epi8((char)(2 << (2 * g))));
            W[g] = _mm512_or_si512(W[g], _mm512_maskz_mov_epi8(_mm512_test_epi8_mask(qh, bit), _mm512_set1_epi8(0x10)));
        }
    }
}

/* w: one row; a: (CB, n) q8_K rows as bytes apart; out[c*os] */
WF_AI void kx4_tile(const bool five, const int CB, int64_t n, const uint8_t *w, const uint8_t *a, size_t as,
                    float *out, size_t os) {
    const size_t bsz = five ? sizeof(wf_block_q5_K) : sizeof(wf_block_q4_K);
    __m256 acc[TILE_C];
    for (int c = 0; c < CB; c++) acc[c] = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / WF_QK_K; b++) {
        const uint8_t *x = w + (size_t)b * bsz;
        prefetch_lines(x, (int)bsz);
        const wf_block_q4_K *hdr = (const wf_block_q4_K *)x; /* d, dmin, scales: same offsets in Q5_K */
        __m512i sc, m;
        k4_scales_epi32(hdr->scales, &sc, &m);
        const __m256 dsc = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm512_castsi512_si256(sc)), _mm256_set1_ps(fp16(hdr->d)));
        const __m256 off = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm512_castsi512_si256(m)), _mm256_set1_ps(-fp16(hdr->dmin)));
        __m512i W[4];
        kx4_codes(five, x, W);
        for (int c = 0; c < CB; c++) {
            const wf_block_q8_K *y = (const wf_block_q8_K *)(a + (size_t)c * as) + b;
            __m512i D[4];
            for (int g = 0; g < 4; g++)
                D[g] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), W[g], _mm512_loadu_si512((const void *)(y->qs + 64 * g)));
            const __m256 da = _mm256_set1_ps(y->d);
            const __m256i sums = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)y->bsums), _mm256_set1_epi16(1));
            acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(n8_reduce(D)), _mm256_mul_ps(dsc, da), acc[c]);
            acc[c] = _mm256_fmadd_ps(off, _mm256_mul_ps(_mm256_cvtepi32_ps(sums), da), acc[c]);
        }
    }
    for (int c = 0; c < CB; c++) out[(size_t)c * os] = hsum256(acc[c]);
}

/* D[k]: lanes 4i..4i+3 partials of 16-element sub-block 4k+i. Returns the
 * 16 sums in the dealt order: lane l < 8 sub-block 2l, lane 8 + l 2l + 1. */
WF_AI __m512i kx6_reduce(const __m512i D[4]) {
    /* lanes 2s, 2s+1: two partials of sub-block s (e01: 0..7, e23: 8..15) */
    const __m512i ia = _mm512_set_epi32(29, 28, 25, 24, 21, 20, 17, 16, 13, 12, 9, 8, 5, 4, 1, 0);
    const __m512i ib = _mm512_set_epi32(31, 30, 27, 26, 23, 22, 19, 18, 15, 14, 11, 10, 7, 6, 3, 2);
    const __m512i e01 = pick_add(D[0], D[1], ia, ib), e23 = pick_add(D[2], D[3], ia, ib);
    const __m512i ic = _mm512_set_epi32(30, 26, 22, 18, 14, 10, 6, 2, 28, 24, 20, 16, 12, 8, 4, 0);
    const __m512i id = _mm512_set_epi32(31, 27, 23, 19, 15, 11, 7, 3, 29, 25, 21, 17, 13, 9, 5, 1);
    return pick_add(e01, e23, ic, id);
}

WF_AI void kx6_tile(const int CB, int64_t n, const uint8_t *w, const uint8_t *a, size_t as, float *out, size_t os) {
    const __m512i m4 = _mm512_set1_epi8(0x0f), m2 = _mm512_set1_epi8(0x30);
    const __m512i shl = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(2), 1);
    const __m512i shr = _mm512_inserti64x4(_mm512_set1_epi16(0), _mm256_set1_epi16(2), 1);
    const __m512i sidx = lane_sub_idx(true);
    __m256 acc[TILE_C];
    for (int c = 0; c < CB; c++) acc[c] = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / WF_QK_K; b++) {
        const wf_block_q6_K *x = (const wf_block_q6_K *)w + b;
        prefetch_lines(x, (int)sizeof *x);
        const __m512i sc = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)x->scales));
        const __m512 dsc = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_permutexvar_epi32(sidx, sc)), _mm512_set1_ps(fp16(x->d)));
        __m512i W[4];
        for (int g = 0; g < 4; g++) { /* elements 64g..64g+63: [q0|q1] or [q2|q3] of half g/2 */
            const int h = g / 2;
            const __m512i L = _mm512_loadu_si512((const void *)(x->ql + 64 * h));
            const __m512i QH = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(x->qh + 32 * h)));
            W[g] = g % 2 == 0 ? _mm512_or_si512(_mm512_and_si512(L, m4), _mm512_and_si512(_mm512_sllv_epi16(QH, shl), m2))
                              : _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(L, 4), m4),
                                                _mm512_and_si512(_mm512_srlv_epi16(QH, shr), m2));
        }
        for (int c = 0; c < CB; c++) {
            const wf_block_q8_K *y = (const wf_block_q8_K *)(a + (size_t)c * as) + b;
            __m512i D[4];
            for (int g = 0; g < 4; g++)
                D[g] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), W[g], _mm512_loadu_si512((const void *)(y->qs + 64 * g)));
            const __m512i bs = _mm512_permutexvar_epi32(sidx, _mm512_cvtepi16_epi32(_mm256_loadu_si256((const __m256i *)y->bsums)));
            const __m512i P = _mm512_sub_epi32(kx6_reduce(D), _mm512_slli_epi32(bs, 5));
            const __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(P), dsc);
            const __m256 pair = _mm256_add_ps(_mm512_castps512_ps256(f), _mm512_extractf32x8_ps(f, 1));
            acc[c] = _mm256_fmadd_ps(pair, _mm256_set1_ps(y->d), acc[c]);
        }
    }
    for (int c = 0; c < CB; c++) out[(size_t)c * os] = hsum256(acc[c]);
}

/* Q3_K, Q2_K, IQ4_XS: the dealt tiles' arithmetic (kp6, kp2, kp8) from the
 * blocks as stored, one row by 1..4 tokens. Per super-block and token:
 *  Q3_K/Q2_K: the 16 sub-block sums in the dealt lanes (kx6_reduce; Q3_K
 *    minus 4*bsum), times d*sc; Q2_K then fma(-dmin*m, bsum); the two
 *    lanes of each pair added, acc = fma(that, da, acc);
 *  IQ4_XS: the 8 sub-block sums (n8_reduce) minus 128*(bsum pair), then
 *    acc = fma(float(X), d*ls*da, acc). */
WF_AI void kxl_tile(const int kind, const int CB, int64_t n, const uint8_t *w, const uint8_t *a, size_t as,
                    float *out, size_t os) {
    const size_t bsz = lb_size(kind);
    const __m512i sidx = lane_sub_idx(true);
    __m256 acc[TILE_C];
    for (int c = 0; c < CB; c++) acc[c] = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / WF_QK_K; b++) {
        const uint8_t *x = w + (size_t)b * bsz;
        prefetch_lines(x, (int)bsz);
        __m512 dsc, off;
        lb_scales(kind, x, &dsc, &off);
        __m512i W[4];
        lb_codes(kind, x, W);
        for (int c = 0; c < CB; c++) {
            const wf_block_q8_K *y = (const wf_block_q8_K *)(a + (size_t)c * as) + b;
            __m512i D[4];
            for (int g = 0; g < 4; g++)
                D[g] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), W[g], _mm512_loadu_si512((const void *)(y->qs + 64 * g)));
            const __m256i bs16 = _mm256_loadu_si256((const __m256i *)y->bsums);
            if (kind == KP_IQ4_XS) {
                const __m256i sums = _mm256_madd_epi16(bs16, _mm256_set1_epi16(1));
                const __m256i X = _mm256_sub_epi32(n8_reduce(D), _mm256_slli_epi32(sums, 7));
                acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(X), _mm256_mul_ps(_mm512_castps512_ps256(dsc), _mm256_set1_ps(y->d)),
                                         acc[c]);
                continue;
            }
            const __m512i bs = _mm512_permutexvar_epi32(sidx, _mm512_cvtepi16_epi32(bs16));
            __m512i P = kx6_reduce(D);
            if (kind == KP_Q3_K) P = _mm512_sub_epi32(P, _mm512_slli_epi32(bs, 2));
            __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(P), dsc);
            if (kind == KP_Q2_K) f = _mm512_fmadd_ps(off, _mm512_cvtepi32_ps(bs), f);
            const __m256 pair = _mm256_add_ps(_mm512_castps512_ps256(f), _mm512_extractf32x8_ps(f, 1));
            acc[c] = _mm256_fmadd_ps(pair, _mm256_set1_ps(y->d), acc[c]);
        }
    }
    for (int c = 0; c < CB; c++) out[(size_t)c * os] = hsum256(acc[c]);
}

/* One row by 1..4 tokens: the K-quants' direct tiles (strides as tile_fn). */
#define WF_KX_INSTANCES(T, CALL)                                                                                \
    static void T##_1x1(int64_t n, const uint8_t *w, size_t ws, const uint8_t *a, size_t as, float *o, size_t os) { (void)ws; CALL(1); } \
    static void T##_1x2(int64_t n, const uint8_t *w, size_t ws, const uint8_t *a, size_t as, float *o, size_t os) { (void)ws; CALL(2); } \
    static void T##_1x3(int64_t n, const uint8_t *w, size_t ws, const uint8_t *a, size_t as, float *o, size_t os) { (void)ws; CALL(3); } \
    static void T##_1x4(int64_t n, const uint8_t *w, size_t ws, const uint8_t *a, size_t as, float *o, size_t os) { (void)ws; CALL(4); } \
    static const tile_fn T##_row_tiles[TILE_C] = {T##_1x1, T##_1x2, T##_1x3, T##_1x4};
#define KX4(CB) kx4_tile(false, CB, n, w, a, as, o, os)
#define KX5(CB) kx4_tile(true, CB, n, w, a, as, o, os)
#define KX6(CB) kx6_tile(CB, n, w, a, as, o, os)
#define KX3(CB) kxl_tile(KP_Q3_K, CB, n, w, a, as, o, os)
#define KX2(CB) kxl_tile(KP_Q2_K, CB, n, w, a, as, o, os)
#define KXI(CB) kxl_tile(KP_IQ4_XS, CB, n, w, a, as, o, os)
WF_KX_INSTANCES(q4_K, KX4)
WF_KX_INSTANCES(q5_K, KX5)
WF_KX_INSTANCES(q6_K, KX6)
WF_KX_INSTANCES(q3_K, KX3)
WF_KX_INSTANCES(q2_K, KX2)
WF_KX_INSTANCES(iq4_xs, KXI)
#undef KX4
#undef KX5
#undef KX6
#undef KX3
#undef KX2
#undef KXI
#undef WF_KX_INSTANCES

/* ---- tile drivers ----------------------------------------------------------------
 * Every (RB, CB) in 1..4 is its own compiled instance, so the accumulators
 * stay in registers; the drivers pick full tiles and then smaller ones for
 * the ragged edges. */

#define WF_TILE_INSTANCES(T)                                                                               \
    static void T##_1x1(int64_t n, const uint8_t *w, size_t ws, const uint8_t *a, size_t as, float *o, size_t os) { T##_tile(1, 1, n, w, ws, a, as, o, os); } \
    static void T##_1x2(int64_t n, const uint8_t *w, size_t ws, const uint8_t *a, size_t as, float *o, size_t os) { T##_tile(1, 2, n, w, ws, a, as, o, os); } \
    static void T##_1x3(int64_t n, const uint8_t *w, size_t ws, const uint8_t *a, size_t as, float *o, size_t os) { T##_tile(1, 3, n, w, ws, a, as, o, os); } \
    static void T##_1x4(int64_t n, const uint8_t *w, size_t ws, const uint8_t *a, size_t as, float *o, size_t os) { T##_tile(1, 4, n, w, ws, a, as, o, os); } \
    static void T##_2x1(int64_t n, const uint8_t *w, size_t ws, const uint8_t *a, size_t as, float *o, size_t os) { T##_tile(2, 1, n, w, ws, a, as, o, os); } \
    static void T##_2x2(int64_t n, const uint8_t *w, size_t ws, const uint8_t *a, size_t as, float *o, size_t os) { T##_tile(2, 2, n, w, ws, a, as, o, os); } \
    static void T##_2x3(int64_t n, const uint8_t *w, size_t ws, const uint8_t *a, size_t as, float *o, size_t os) { T##_tile(2, 3, n, w, ws, a, as, o, os); } \
    static void T##_2x4(int64_t n, const uint8_t *w, size_t ws, const uint8_t *a, size_t as, float *o, size_t os) { T##_tile(2, 4, n, w, ws, a, as, o, os); } \
    static void T##_3x1(int64_t n, const uint8_t *w, size_t ws, const uint8_t *a, size_t as, float *o, size_t os) { T##_tile(3, 1, n, w, ws, a, as, o, os); } \
    static void T##_3x2(int64_t n, const uint8_t *w, size_t ws, const uint8_t *a, size_t as, float *o, size_t os) { T##_tile(3, 2, n, w, ws, a, as, o, os); } \
    static void T##_3x3(int64_t n, const uint8_t *w, size_t ws, const uint8_t *a, size_t as, float *o, size_t os) { T##_tile(3, 3, n, w, ws, a, as, o, os); } \
    static void T##_3x4(int64_t n, const uint8_t *w, size_t ws, const uint8_t *a, size_t as, float *o, size_t os) { T##_tile(3, 4, n, w, ws, a, as, o, os); } \
    static void T##_4x1(int64_t n, const uint8_t *w, size_t ws, const uint8_t *a, size_t as, float *o, size_t os) { T##_tile(4, 1, n, w, ws, a, as, o, os); } \
    static void T##_4x2(int64_t n, const uint8_t *w, size_t ws, const uint8_t *a, size_t as, float *o, size_t os) { T##_tile(4, 2, n, w, ws, a, as, o, os); } \
    static void T##_4x3(int64_t n, const uint8_t *w, size_t ws, const uint8_t *a, size_t as, float *o, size_t os) { T##_tile(4, 3, n, w, ws, a, as, o, os); } \
    static void T##_4x4(int64_t n, const uint8_t *w, size_t ws, const uint8_t *a, size_t as, float *o, size_t os) { T##_tile(4, 4, n, w, ws, a, as, o, os); } \
    static const tile_fn T##_tiles[TILE_R][TILE_C] = {{T##_1x1, T##_1x2, T##_1x3, T##_1x4},                 \
                                                      {T##_2x1, T##_2x2, T##_2x3, T##_2x4},                 \
                                                      {T##_3x1, T##_3x2, T##_3x3, T##_3x4},                 \
                                                      {T##_4x1, T##_4x2, T##_4x3, T##_4x4}};
WF_TILE_INSTANCES(q8_0n)
WF_TILE_INSTANCES(q4_0n)
WF_TILE_INSTANCES(q5_0n)
WF_TILE_INSTANCES(mxfp4n)
#undef WF_TILE_INSTANCES

/* Rows per tile. Walking several weight rows side by side defeats the
 * hardware prefetchers: from DRAM (bench_kernels, 8960 x 1536, one thread)
 * 4-row tiles streamed Q8_0/Q6_K at ~25 GB/s against ~45 for one row at a
 * time. So in the l32 tiles (Q4_0/Q5_0, and Q8_0 up to 4 tokens) up to 8
 * activation rows (decode, speculative verification: the
 * weights come from DRAM) use 1-row tiles; more (prefill: compute-bound, the
 * matmul driver's tiles are cache-resident) use 4-row tiles. */

/* One row by one activation row, straight from the blocks (no scratch). */
static void vec_dot_q8_0(int64_t n, float *out, const void *w, const void *a) { n8_dot(L32_Q8_0, n, out, w, a); }
static void vec_dot_q4_0(int64_t n, float *out, const void *w, const void *a) { n8_dot(L32_Q4_0, n, out, w, a); }
static void vec_dot_q5_0(int64_t n, float *out, const void *w, const void *a) { n8_dot(L32_Q5_0, n, out, w, a); }
static void vec_dot_mxfp4(int64_t n, float *out, const void *w, const void *a) { n8_dot(L32_MXFP4, n, out, w, a); }

/* The 32-element family for few tokens: activations prepared once per call
 * (n8_prepare), column groups outer so one group's prepared data (320 bytes
 * per chunk and token, 4 tokens) serves every row tile. Without scratch
 * memory: one direct dot per (row, token), the same arithmetic. */
static void gemm_n8(const l32_kind kind, const tile_fn tiles[TILE_R][TILE_C], int64_t n, int nr, int nc,
                    const void *w, size_t ws, const void *a, size_t as, float *out, size_t os) {
    const int tr = nc <= N8_ROW_TILES_UPTO ? 1 : 4;
    const int64_t nb = n / WF_QK8_0, nch = (nb + 7) / 8;
    n8_act *act = nch > 0 ? wf_alloc_aligned(sizeof(n8_act) * TILE_C * (size_t)nch) : NULL;
    const uint8_t *wb = w, *ab = a;
    if (!act) {
        for (int c = 0; c < nc; c++)
            for (int r = 0; r < nr; r++)
                n8_dot(kind, n, &out[(size_t)c * os + (size_t)r], wb + (size_t)r * ws, ab + (size_t)c * as);
        return;
    }
    for (int c0 = 0; c0 < nc; c0 += TILE_C) {
        const int cb = nc - c0 < TILE_C ? nc - c0 : TILE_C;
        for (int c = 0; c < cb; c++) n8_prepare(kind, nb, ab + (size_t)(c0 + c) * as, act + c, TILE_C);
        for (int r0 = 0; r0 < nr; r0 += tr) {
            const int rb = nr - r0 < tr ? nr - r0 : tr;
            tiles[rb - 1][cb - 1](n, wb + (size_t)r0 * ws, ws, (const uint8_t *)act, 0,
                                  out + (size_t)c0 * os + (size_t)r0, os);
        }
    }
    wf_free_aligned(act);
}

/* K-quants: one token (decode) straight from the blocks (kx tiles), one row at a time;
 * from 2 tokens on, the activations are dealt once per call (ka_prepare,
 * 768 bytes per token pair and super-block) and KP_ROWS weight rows at a
 * time into a small scratch (KP_ROWS * 384 bytes per super-block) that every
 * group of 4 tokens then reuses. The prepared path won from 2 tokens on, even
 * with the weights streaming from DRAM (bench_kernels: Q4_K 4 tokens 25 GB/s
 * against 18 for the direct tiles). Without scratch memory: the direct tiles. */

enum { KP_ROWS = 4, KP_CHUNK = 8 };

/* Bytes of one weight / activation row up to super-block (chunk) s. */
WF_AI size_t dealt_offset(const int kind, int64_t s) {
    const size_t bsz = kp_is_l32(kind) ? 8 * l32_size(kp_l32(kind))
                       : kind == KP_Q6_K ? sizeof(wf_block_q6_K)
                       : kind == KP_Q3_K ? sizeof(wf_block_q3_K)
                       : kind == KP_Q2_K ? sizeof(wf_block_q2_K)
                       : kind == KP_IQ4_XS ? sizeof(wf_block_iq4_xs)
                       : kind == KP_Q5_K ? sizeof(wf_block_q5_K)
                                         : sizeof(wf_block_q4_K);
    return bsz * (size_t)s;
}

/* The dealt gemm, in column chunks of KP_CHUNK super-blocks (2048 elements):
 * per chunk the activations of all nc tokens are dealt (nc * KP_CHUNK * 384
 * bytes, 192 KiB for 64 tokens: stays in L2), then KP_ROWS weight rows at a
 * time (12 KiB: stays in L1) while every group of TILE_C tokens passes over
 * them. The float accumulators of each (row group, token group) wait in acc
 * between chunks. Scratch: kp (KP_ROWS * KP_CHUNK kp_blocks), ka (npair *
 * KP_CHUNK ka_blocks), acc (row groups * token groups). */
static void gemm_dealt(const int kind, const kp_fn prepared[TILE_R][TILE_C], int64_t n, int nr, int nc, const void *w,
                       size_t ws, const void *a, size_t as, float *out, size_t os, kp_block *kp, ka_block *ka,
                       kp_acc *acc) {
    const int64_t nb = n / WF_QK8_0; /* Q8_0 blocks */
    const int64_t nsb = kp_is_l32(kind) ? (nb + 7) / 8 : n / WF_QK_K;
    const int npair = (nc + 1) / 2, ncg = (nc + TILE_C - 1) / TILE_C;
    const size_t kps = sizeof(kp_block) * KP_CHUNK, kas = sizeof(ka_block) * KP_CHUNK; /* bytes per row / pair */
    const uint8_t *wb = w, *ab = a;
    for (int64_t s0 = 0; s0 < nsb; s0 += KP_CHUNK) {
        const int64_t sn = nsb - s0 < KP_CHUNK ? nsb - s0 : KP_CHUNK;
        const int64_t nb0 = 8 * s0, nbn = nb - nb0 < 8 * sn ? nb - nb0 : 8 * sn; /* Q8_0 blocks of the chunk */
        const size_t off = dealt_offset(kind, s0);
        const int flags = (s0 == 0 ? 1 : 0) | (s0 + sn == nsb ? 2 : 0);
        for (int p = 0; p < npair; p++) {
            const uint8_t *a0 = ab + (size_t)(2 * p) * as, *a1 = 2 * p + 1 < nc ? a0 + as : NULL;
            ka_block *dst = (ka_block *)(void *)((uint8_t *)ka + (size_t)p * kas);
            const size_t aoff = kp_is_l32(kind) ? (size_t)nb0 * sizeof(wf_block_q8_0) : 0;
            if (kp_is_l32(kind))
                ka_prepare_l32(kp_l32(kind), nbn, a0 + aoff, a1 ? a1 + aoff : NULL, dst);
            else
                ka_prepare(kind, sn, a0 + (size_t)s0 * sizeof(wf_block_q8_K),
                           a1 ? a1 + (size_t)s0 * sizeof(wf_block_q8_K) : NULL, dst);
        }
        for (int r0 = 0; r0 < nr; r0 += KP_ROWS) {
            const int rb = nr - r0 < KP_ROWS ? nr - r0 : KP_ROWS;
            for (int r = 0; r < rb; r++) {
                const uint8_t *row = wb + (size_t)(r0 + r) * ws + off;
                if (kp_is_l32(kind)) kp_prepare_l32(kp_l32(kind), row, nbn, kp + (size_t)r * KP_CHUNK);
                else if (kp_is_lb(kind)) kp_prepare_lb(kind, row, sn, kp + (size_t)r * KP_CHUNK);
                else kp_prepare(kind, row, sn, kp + (size_t)r * KP_CHUNK);
            }
            for (int c0 = 0; c0 < nc; c0 += TILE_C) {
                const int cb = nc - c0 < TILE_C ? nc - c0 : TILE_C;
                prepared[rb - 1][cb - 1](sn, (const uint8_t *)kp, kps,
                                         (const ka_block *)(const void *)((const uint8_t *)ka + (size_t)(c0 / 2) * kas),
                                         kas, acc + (size_t)(r0 / KP_ROWS) * (size_t)ncg + (size_t)(c0 / TILE_C), flags,
                                         out + (size_t)c0 * os + (size_t)r0, os);
            }
        }
    }
}

static void dealt_free(kp_block *kp, ka_block *ka, kp_acc *acc) {
    wf_free_aligned(kp);
    wf_free_aligned(ka);
    wf_free_aligned(acc);
}

/* Scratch for gemm_dealt; false if it cannot be had (the caller then takes
 * its direct tiles). */
static bool dealt_alloc(int64_t n, int nr, int nc, kp_block **kp, ka_block **ka, kp_acc **acc) {
    *kp = NULL;
    *ka = NULL;
    *acc = NULL;
    if (n < WF_QK8_0) return false;
    *kp = wf_alloc_aligned(sizeof(kp_block) * KP_CHUNK * KP_ROWS);
    *ka = wf_alloc_aligned(sizeof(ka_block) * KP_CHUNK * (size_t)((nc + 1) / 2));
    *acc = wf_alloc_aligned(sizeof(kp_acc) * (size_t)((nr + KP_ROWS - 1) / KP_ROWS) *
                            (size_t)((nc + TILE_C - 1) / TILE_C));
    if (*kp && *ka && *acc) return true;
    dealt_free(*kp, *ka, *acc);
    return false;
}

static void gemm_kquant(const int kind, const kp_fn prepared[TILE_R][TILE_C], const tile_fn direct[TILE_C],
                        int64_t n, int nr, int nc, const void *w, size_t ws, const void *a, size_t as, float *out,
                        size_t os) {
    kp_block *kp;
    ka_block *ka;
    kp_acc *acc;
    if (nc >= KQ_DEALT_FROM && dealt_alloc(n, nr, nc, &kp, &ka, &acc)) {
        gemm_dealt(kind, prepared, n, nr, nc, w, ws, a, as, out, os, kp, ka, acc);
        dealt_free(kp, ka, acc);
        return;
    }
    const uint8_t *wb = w, *ab = a;
    for (int r = 0; r < nr; r++)
        for (int c0 = 0; c0 < nc; c0 += TILE_C) {
            const int cb = nc - c0 < TILE_C ? nc - c0 : TILE_C;
            direct[cb - 1](n, wb + (size_t)r * ws, ws, ab + (size_t)c0 * as, as, out + (size_t)c0 * os + (size_t)r, os);
        }
}

/* Q8_0/Q4_0/Q5_0: few tokens with the n8 tiles, more dealt like the K-quants
 * (kp8 tiles, 8 blocks per 256-element chunk). Both compute the same float
 * operations in the same order, so the switch is invisible in the results
 * (tests/cpu/test_kernels.c checks every width against one-column calls). */
static void gemm_l32_dealt(const int kind, int64_t n, int nr, int nc, const void *w, size_t ws, const void *a,
                           size_t as, float *out, size_t os) {
    const l32_kind lk = kp_l32(kind);
    kp_block *kp;
    ka_block *ka;
    kp_acc *acc;
    if (nc >= N8_DEALT_FROM && dealt_alloc(n, nr, nc, &kp, &ka, &acc)) {
        gemm_dealt(kind, kp8_tiles, n, nr, nc, w, ws, a, as, out, os, kp, ka, acc);
        dealt_free(kp, ka, acc);
        return;
    }
    if (lk == L32_Q8_0) gemm_n8(L32_Q8_0, q8_0n_tiles, n, nr, nc, w, ws, a, as, out, os);
    else if (lk == L32_Q4_0) gemm_n8(L32_Q4_0, q4_0n_tiles, n, nr, nc, w, ws, a, as, out, os);
    else if (lk == L32_Q5_0) gemm_n8(L32_Q5_0, q5_0n_tiles, n, nr, nc, w, ws, a, as, out, os);
    else gemm_n8(L32_MXFP4, mxfp4n_tiles, n, nr, nc, w, ws, a, as, out, os);
}
static void gemm_q8_0(int64_t n, int nr, int nc, const void *w, size_t ws, const void *a, size_t as, float *out,
                      size_t os) {
    gemm_l32_dealt(KP_Q8_0, n, nr, nc, w, ws, a, as, out, os);
}
static void gemm_q4_0(int64_t n, int nr, int nc, const void *w, size_t ws, const void *a, size_t as, float *out,
                      size_t os) {
    gemm_l32_dealt(KP_Q4_0, n, nr, nc, w, ws, a, as, out, os);
}
static void gemm_q5_0(int64_t n, int nr, int nc, const void *w, size_t ws, const void *a, size_t as, float *out,
                      size_t os) {
    gemm_l32_dealt(KP_Q5_0, n, nr, nc, w, ws, a, as, out, os);
}
static void gemm_mxfp4(int64_t n, int nr, int nc, const void *w, size_t ws, const void *a, size_t as, float *out,
                       size_t os) {
    gemm_l32_dealt(KP_MXFP4, n, nr, nc, w, ws, a, as, out, os);
}

static void gemm_q4_K(int64_t n, int nr, int nc, const void *w, size_t ws, const void *a, size_t as, float *out,
                      size_t os) {
    gemm_kquant(KP_Q4_K, kp4_tiles, q4_K_row_tiles, n, nr, nc, w, ws, a, as, out, os);
}
static void gemm_q5_K(int64_t n, int nr, int nc, const void *w, size_t ws, const void *a, size_t as, float *out,
                      size_t os) {
    gemm_kquant(KP_Q5_K, kp4_tiles, q5_K_row_tiles, n, nr, nc, w, ws, a, as, out, os);
}
static void gemm_q6_K(int64_t n, int nr, int nc, const void *w, size_t ws, const void *a, size_t as, float *out,
                      size_t os) {
    gemm_kquant(KP_Q6_K, kp6_tiles, q6_K_row_tiles, n, nr, nc, w, ws, a, as, out, os);
}

static void gemm_q3_K(int64_t n, int nr, int nc, const void *w, size_t ws, const void *a, size_t as, float *out,
                      size_t os) {
    gemm_kquant(KP_Q3_K, kp6_tiles, q3_K_row_tiles, n, nr, nc, w, ws, a, as, out, os);
}
static void gemm_q2_K(int64_t n, int nr, int nc, const void *w, size_t ws, const void *a, size_t as, float *out,
                      size_t os) {
    gemm_kquant(KP_Q2_K, kp2_tiles, q2_K_row_tiles, n, nr, nc, w, ws, a, as, out, os);
}
static void gemm_iq4_xs(int64_t n, int nr, int nc, const void *w, size_t ws, const void *a, size_t as, float *out,
                        size_t os) {
    gemm_kquant(KP_IQ4_XS, kp8_tiles, iq4_xs_row_tiles, n, nr, nc, w, ws, a, as, out, os);
}

/* w, a: one row each */
static void vec_dot_q3_K(int64_t n, float *out, const void *w, const void *a) { q3_K_1x1(n, w, 0, a, 0, out, 0); }
static void vec_dot_q2_K(int64_t n, float *out, const void *w, const void *a) { q2_K_1x1(n, w, 0, a, 0, out, 0); }
static void vec_dot_iq4_xs(int64_t n, float *out, const void *w, const void *a) { iq4_xs_1x1(n, w, 0, a, 0, out, 0); }
static void vec_dot_q4_K(int64_t n, float *out, const void *w, const void *a) { q4_K_1x1(n, w, 0, a, 0, out, 0); }
static void vec_dot_q5_K(int64_t n, float *out, const void *w, const void *a) { q5_K_1x1(n, w, 0, a, 0, out, 0); }
static void vec_dot_q6_K(int64_t n, float *out, const void *w, const void *a) { q6_K_1x1(n, w, 0, a, 0, out, 0); }

void wf_kernels_fill_avx512(wf_kernels *k, const wf_cpu_features *f) {
    if (!f->avx512vnni) return; /* nothing here without VNNI: keep the AVX2 entries */
    k->gemm[WF_TYPE_Q8_0] = gemm_q8_0;
    k->gemm[WF_TYPE_Q4_0] = gemm_q4_0;
    k->gemm[WF_TYPE_Q5_0] = gemm_q5_0;
    k->gemm[WF_TYPE_Q4_K] = gemm_q4_K;
    k->gemm[WF_TYPE_Q5_K] = gemm_q5_K;
    k->gemm[WF_TYPE_Q6_K] = gemm_q6_K;
    k->vec_dot[WF_TYPE_Q8_0] = vec_dot_q8_0;
    k->vec_dot[WF_TYPE_Q4_0] = vec_dot_q4_0;
    k->vec_dot[WF_TYPE_Q5_0] = vec_dot_q5_0;
    k->vec_dot[WF_TYPE_Q4_K] = vec_dot_q4_K;
    k->vec_dot[WF_TYPE_Q5_K] = vec_dot_q5_K;
    k->vec_dot[WF_TYPE_Q6_K] = vec_dot_q6_K;
    k->gemm_exact[WF_TYPE_Q8_0] = k->gemm_exact[WF_TYPE_Q4_0] = k->gemm_exact[WF_TYPE_Q5_0] = WF_GEMM_EXACT_ANY;
    k->gemm_exact[WF_TYPE_Q4_K] = k->gemm_exact[WF_TYPE_Q5_K] = k->gemm_exact[WF_TYPE_Q6_K] = WF_GEMM_EXACT_ANY;
    wf_kernels_fill_lowbit_avx512(k);
    /* MXFP4 as a member of the 32-element family (dealt from N8_DEALT_FROM
     * tokens): replaces kernels_lowbit_avx512.c's one-row tiles */
    k->gemm[WF_TYPE_MXFP4] = gemm_mxfp4;
    k->vec_dot[WF_TYPE_MXFP4] = vec_dot_mxfp4;
    k->gemm_exact[WF_TYPE_MXFP4] = WF_GEMM_EXACT_ANY;
    /* Q3_K, Q2_K, IQ4_XS in the K-quant tiles (dealt from KQ_DEALT_FROM
     * tokens, the kxl tiles below): replace the one-row tiles there */
    k->gemm[WF_TYPE_Q3_K] = gemm_q3_K;
    k->gemm[WF_TYPE_Q2_K] = gemm_q2_K;
    k->gemm[WF_TYPE_IQ4_XS] = gemm_iq4_xs;
    k->vec_dot[WF_TYPE_Q3_K] = vec_dot_q3_K;
    k->vec_dot[WF_TYPE_Q2_K] = vec_dot_q2_K;
    k->vec_dot[WF_TYPE_IQ4_XS] = vec_dot_iq4_xs;
    k->gemm_exact[WF_TYPE_Q3_K] = k->gemm_exact[WF_TYPE_Q2_K] = k->gemm_exact[WF_TYPE_IQ4_XS] = WF_GEMM_EXACT_ANY;
}
