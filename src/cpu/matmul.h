/* matmul.h — weight matrix times activations, multithreaded.
 *
 * A weight matrix W is (rows, n): rows of n elements of one wf_type, laid out
 * as GGUF stores a 2-D tensor with ne[0] = n, ne[1] = rows.
 */
#ifndef WF_MATMUL_H
#define WF_MATMUL_H

#include "cpu/kernels.h"
#include "cpu/threadpool.h"

typedef struct wf_mat {
    wf_type type;
    int64_t n;         /* elements per row (ne[0])  */
    int64_t rows;      /* ne[1]                     */
    size_t row_bytes;  /* wf_row_size(type, n)      */
    const void *data;  /* rows * row_bytes bytes    */
} wf_mat;

/* Scratch for quantized activations, grown on demand, owned by the caller
 * (one per context). */
typedef struct wf_matmul_scratch {
    void *buf;
    size_t cap;
} wf_matmul_scratch;

void wf_matmul_scratch_free(wf_matmul_scratch *s);

/* y = x · Wᵀ:  x (ntok, n) floats, row stride n;  y (ntok, rows) floats,
 * row stride rows.  Activations are converted once to W's vec_dot_type, then
 * threads take tiles of (rows × tokens) from an atomic counter, so one pass
 * over the weights serves all ntok tokens.
 * Returns WF_ERR_NOMEM if the scratch cannot grow, WF_ERR_UNSUPPORTED for a
 * type with no kernel. */
wf_status wf_matmul(wf_threadpool *tp, const wf_kernels *k, const wf_mat *w,
                    const float *x, int64_t ntok, float *y,
                    wf_matmul_scratch *scratch);

/* Up to this many matrices in one wf_matmul_multi call. */
#define WF_MATMUL_MULTI_MAX 4

/* ys[i] = x · ws[i]ᵀ for n_w matrices that read the same activations (Q/K/V;
 * gate/up): ws[i] (rows_i, n) with one common n;  x (ntok, n);  ys[i]
 * (ntok, rows_i).  The activations are converted once per distinct
 * vec_dot_type and the tiles of all matrices go to the pool as one job (one
 * hand-off instead of n_w). Each output is bit-identical to a wf_matmul call
 * on its matrix alone. WF_ERR_INVALID_ARG if n_w is outside
 * 1..WF_MATMUL_MULTI_MAX or the n differ. */
wf_status wf_matmul_multi(wf_threadpool *tp, const wf_kernels *k, const wf_mat *const *ws, int n_w,
                          const float *x, int64_t ntok, float *const *ys,
                          wf_matmul_scratch *scratch);

/* Same, single-threaded, with the scalar reference kernels only (tests). */
wf_status wf_matmul_ref(const wf_mat *w, const float *x, int64_t ntok, float *y);

/* Dequantize row r of W into dst (n floats). */
void wf_mat_get_row(const wf_kernels *k, const wf_mat *w, int64_t r, float *dst);

#endif /* WF_MATMUL_H */
