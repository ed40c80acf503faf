/* kernels.h — the compute kernels, one table of function pointers chosen once
 * at start-up from CPUID + OS support (XGETBV).
 *
 * kernels_scalar.c is the reference for every entry and builds on any 64-bit
 * target; kernels_avx2.c and kernels_avx512.c override the entries they speed
 * up. Tests check every SIMD entry against the scalar one.
 */
#ifndef WF_KERNELS_H
#define WF_KERNELS_H

#include "format/quant.h"

typedef enum wf_isa {
    WF_ISA_SCALAR = 0,
    WF_ISA_AVX2 = 1,   /* AVX2 + FMA + F16C                                */
    WF_ISA_AVX512 = 2  /* AVX-512 F/BW/VL (+ VNNI, BF16 when present)       */
} wf_isa;

typedef struct wf_cpu_features {
    bool avx2, fma, f16c;
    bool avx512f, avx512bw, avx512vl, avx512dq, avx512vnni, avx512bf16;
    bool os_avx, os_avx512; /* XGETBV says the OS saves the registers */
} wf_cpu_features;

void wf_cpu_detect(wf_cpu_features *f);
wf_isa wf_cpu_best_isa(const wf_cpu_features *f);
const char *wf_isa_name(wf_isa isa);

/* Dot product of one weight row w (n elements of type W) with one activation
 * row a (n elements of W's vec_dot_type). n is a multiple of both block sizes. */
typedef void (*wf_vec_dot_fn)(int64_t n, float *out, const void *w, const void *a);

/* A tile of dot products: for r < nr weight rows and c < nc activation rows,
 *   out[c * out_stride + r] = dot(w + r * w_stride, a + c * a_stride)
 * Strides in bytes for w and a, in floats for out. Kernels may keep a block
 * of w in registers across several activation rows (prefill, speculative
 * verification). */
/* Exactness across batch widths: a call of type t with nc <=
 * gemm_exact[t] (see wf_kernels) computes every column with exactly the
 * arithmetic of a one-column call, bit for bit. Speculative verification
 * checks a draft in one pass and must reproduce one-token decoding exactly,
 * so that greedy output does not depend on speculation; so a model's drafts
 * are capped by its weights' gemm_exact (wf_model_exact_batch). Every
 * entry guarantees at least WF_GEMM_EXACT_TOKENS; wider calls (prefill) may
 * use faster tiles that order the float sums differently (within the tested
 * tolerance of the scalar reference) unless gemm_exact says otherwise:
 * the scalar and by-dot entries and the AVX-512 Q8_0/Q4_0/Q5_0 tiles are
 * exact at every width (WF_GEMM_EXACT_ANY), and so are the AVX-512 K-quant
 * tiles; the AVX2 K-quant tiles up to 32. */
#define WF_GEMM_EXACT_TOKENS 32
#define WF_GEMM_EXACT_ANY INT32_MAX

typedef void (*wf_gemm_fn)(int64_t n, int nr, int nc,
                           const void *w, size_t w_stride,
                           const void *a, size_t a_stride,
                           float *out, size_t out_stride);

typedef struct wf_kernels {
    wf_isa isa;
    wf_vec_dot_fn vec_dot[WF_TYPE_COUNT];    /* indexed by weight type     */
    wf_gemm_fn gemm[WF_TYPE_COUNT];          /* indexed by weight type     */
    int32_t gemm_exact[WF_TYPE_COUNT];       /* widest exact call (above)  */
    wf_from_float_fn quantize_row[WF_TYPE_COUNT]; /* fast activation quantize (Q8_0, Q8_1, Q8_K, F16, BF16) */
    wf_to_float_fn to_float[WF_TYPE_COUNT];  /* fast dequantize (embeddings, KV) */
} wf_kernels;

/* Fill k for the given ISA (which must be supported by the CPU): the scalar
 * table first, then the ISA's overrides. */
void wf_kernels_init(wf_kernels *k, wf_isa isa);

/* Per-ISA fillers (each in its own file). */
void wf_kernels_fill_scalar(wf_kernels *k);
void wf_kernels_fill_avx2(wf_kernels *k);
void wf_kernels_fill_avx512(wf_kernels *k, const wf_cpu_features *f);
/* The low-bit and codebook types (Q2_K, Q3_K, IQ4_NL, IQ4_XS, MXFP4), in
 * their own files; called by the fillers above. */
void wf_kernels_fill_lowbit_avx2(wf_kernels *k);
void wf_kernels_fill_lowbit_avx512(wf_kernels *k);

#endif /* WF_KERNELS_H */
