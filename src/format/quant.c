/* quant.c — the traits table: one row per element type. Adding a type means
 * adding a row here and its conversion functions (quant_*.c), not touching
 * switches elsewhere. */
#include "format/quant.h"

#include <ctype.h>
#include <stdio.h>

/* Reference conversions, defined in quant_float.c, quant_legacy.c, quant_k.c,
 * quant_nl.c. */
#define WF_DECL(t)                                                \
    void wf_to_float_##t(const void *src, float *dst, int64_t n); \
    void wf_from_float_##t(const float *src, void *dst, int64_t n);
WF_DECL(f32) WF_DECL(f16) WF_DECL(bf16)
WF_DECL(q4_0) WF_DECL(q4_1) WF_DECL(q5_0) WF_DECL(q5_1) WF_DECL(q8_0) WF_DECL(q8_1)
WF_DECL(q2_K) WF_DECL(q3_K) WF_DECL(q4_K) WF_DECL(q5_K) WF_DECL(q6_K) WF_DECL(q8_K)
WF_DECL(iq4_nl) WF_DECL(iq4_xs) WF_DECL(mxfp4)
#undef WF_DECL

#define ROW(id, nm, bs, ts, q, t, vdt) \
    [id] = {nm, bs, ts, q, true, wf_to_float_##t, wf_from_float_##t, vdt}

static const wf_type_traits traits[WF_TYPE_COUNT] = {
    ROW(WF_TYPE_F32, "f32", 1, 4, false, f32, WF_TYPE_F32),
    ROW(WF_TYPE_F16, "f16", 1, 2, false, f16, WF_TYPE_F32),
    ROW(WF_TYPE_BF16, "bf16", 1, 2, false, bf16, WF_TYPE_F32),
    ROW(WF_TYPE_Q4_0, "q4_0", WF_QK4_0, sizeof(wf_block_q4_0), true, q4_0, WF_TYPE_Q8_0),
    ROW(WF_TYPE_Q4_1, "q4_1", WF_QK4_1, sizeof(wf_block_q4_1), true, q4_1, WF_TYPE_Q8_1),
    ROW(WF_TYPE_Q5_0, "q5_0", WF_QK5_0, sizeof(wf_block_q5_0), true, q5_0, WF_TYPE_Q8_0),
    ROW(WF_TYPE_Q5_1, "q5_1", WF_QK5_1, sizeof(wf_block_q5_1), true, q5_1, WF_TYPE_Q8_1),
    ROW(WF_TYPE_Q8_0, "q8_0", WF_QK8_0, sizeof(wf_block_q8_0), true, q8_0, WF_TYPE_Q8_0),
    ROW(WF_TYPE_Q8_1, "q8_1", WF_QK8_1, sizeof(wf_block_q8_1), true, q8_1, WF_TYPE_Q8_1),
    ROW(WF_TYPE_Q4_K, "q4_K", WF_QK_K, sizeof(wf_block_q4_K), true, q4_K, WF_TYPE_Q8_K),
    ROW(WF_TYPE_Q5_K, "q5_K", WF_QK_K, sizeof(wf_block_q5_K), true, q5_K, WF_TYPE_Q8_K),
    ROW(WF_TYPE_Q6_K, "q6_K", WF_QK_K, sizeof(wf_block_q6_K), true, q6_K, WF_TYPE_Q8_K),
    ROW(WF_TYPE_Q8_K, "q8_K", WF_QK_K, sizeof(wf_block_q8_K), true, q8_K, WF_TYPE_Q8_K),
    ROW(WF_TYPE_Q2_K, "q2_K", WF_QK_K, sizeof(wf_block_q2_K), true, q2_K, WF_TYPE_Q8_K),
    ROW(WF_TYPE_Q3_K, "q3_K", WF_QK_K, sizeof(wf_block_q3_K), true, q3_K, WF_TYPE_Q8_K),
    ROW(WF_TYPE_IQ4_NL, "iq4_nl", WF_QK4_NL, sizeof(wf_block_iq4_nl), true, iq4_nl, WF_TYPE_Q8_0),
    ROW(WF_TYPE_IQ4_XS, "iq4_xs", WF_QK_K, sizeof(wf_block_iq4_xs), true, iq4_xs, WF_TYPE_Q8_K),
    ROW(WF_TYPE_MXFP4, "mxfp4", WF_QK_MXFP4, sizeof(wf_block_mxfp4), true, mxfp4, WF_TYPE_Q8_0),
    /* Known to the format but not computed by wafer: sizes let the GGUF reader
     * validate files that hold them; loading a model with them is refused. */
    [24] = {"i8", 1, 1, false, false, NULL, NULL, WF_TYPE_F32},
    [25] = {"i16", 1, 2, false, false, NULL, NULL, WF_TYPE_F32},
    [26] = {"i32", 1, 4, false, false, NULL, NULL, WF_TYPE_F32},
    [27] = {"i64", 1, 8, false, false, NULL, NULL, WF_TYPE_F32},
    [28] = {"f64", 1, 8, false, false, NULL, NULL, WF_TYPE_F32},
};

const wf_type_traits *wf_type_get(uint32_t type) {
    if (type >= WF_TYPE_COUNT || traits[type].name == NULL) return NULL;
    return &traits[type];
}

const char *wf_type_name(uint32_t type, char *buf, size_t cap) {
    const wf_type_traits *t = wf_type_get(type);
    if (t) return t->name;
    if (buf && cap) snprintf(buf, cap, "type %u", type);
    return buf ? buf : "unknown type";
}

int wf_type_from_name(const char *name) {
    if (!name) return -1;
    for (int i = 0; i < WF_TYPE_COUNT; i++) {
        if (!traits[i].name) continue;
        const char *a = traits[i].name, *b = name;
        while (*a && *b && tolower((unsigned char)*a) == tolower((unsigned char)*b)) a++, b++;
        if (!*a && !*b) return i;
    }
    return -1;
}

size_t wf_row_size(wf_type t, int64_t n) {
    const wf_type_traits *tr = wf_type_get((uint32_t)t);
    if (!tr || n < 0 || n % tr->blck_size) return 0;
    return (size_t)(n / tr->blck_size) * tr->type_size;
}
