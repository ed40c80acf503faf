/* ops_int.h — vector forms of the forward pass's elementwise ops, chosen
 * once per model from the kernels' instruction set. The scalar forms in
 * ops.c (declared in model.h) stay the reference. */
#ifndef WF_OPS_SIMD_H
#define WF_OPS_SIMD_H

#include "cpu/kernels.h"

/* gate = silu(gate) * up:  gate, up (n) */
typedef void (*wf_silu_mul_fn)(float *gate, const float *up, int64_t n);

/* The fastest wf_silu_mul for isa (wf_silu_mul itself for scalar). */
wf_silu_mul_fn wf_ops_silu_mul_for(wf_isa isa);

#if defined(__x86_64__) || defined(_M_X64)
/* ops_avx512.c: exp by wf_exp16_avx512 (relative error of silu ~1e-7). */
void wf_silu_mul_avx512(float *gate, const float *up, int64_t n);
#endif

#endif /* WF_OPS_SIMD_H */
