/* matmul.c — the matmul driver: y = x · Wᵀ over a thread pool.
 *
 * Two phases:
 *  1. the activations x are converted once to W's vec_dot_type (Q8_0, Q8_K,
 *     ...) into the caller's scratch; rows are split across threads when
 *     there are enough of them to pay for a second dispatch;
 *  2. the output (rows × ntok) is cut into tiles, which threads take from an
 *     atomic counter; each tile is one call of the kernels' gemm (or vec_dot
 *     loops for a single token).
 * Every output element is computed by exactly one kernel call over the full
 * row, so the tiling never changes the result of a deterministic kernel.
 * wf_matmul_multi runs several matrices that read the same x as one job
 * (their tiles numbered one after another); wf_matmul is its one-matrix case.
 */
#include "cpu/matmul.h"

#include <stdatomic.h>
#include <stdlib.h>

/* Decode (ntok == 1): aim for this many row chunks per thread so a thread
 * that got a slow core or was preempted does not hold up the others, but
 * never chunks smaller than WF_MM_MIN_ROWS (dispatch overhead). */
#ifndef WF_MM_CHUNKS_PER_THREAD
#define WF_MM_CHUNKS_PER_THREAD 4
#endif
#define WF_MM_MIN_ROWS 16
#ifndef WF_MM_MIN_CHUNK_BYTES
#define WF_MM_MIN_CHUNK_BYTES (16 * 1024)
#endif
/* Prefill tiles: about WF_MM_TILE_BYTES of weight rows (at least
 * WF_MM_TILE_ROWS_MIN rows, at most WF_MM_TILE_ROWS_MAX) stay in L2 while up
 * to WF_MM_TILE_TOKS activation rows stream past them. Larger tiles amortise
 * the per-call work of the gemm kernels (the AVX-512 K-quant/Q8_0 tiles deal
 * every weight row once per call and every activation row once per call):
 * 64 tokens x up to 256 rows took ~10% fewer cycles than 32 x 64 on the
 * Qwen2.5-1.5B Q4_K_M prefill; 128 tokens, which repacks each weight row
 * half as often, gave 1-9% more prefill in 8 of 9 side-by-side rounds on
 * the Xeon host (docs/kernels.md). */
#define WF_MM_TILE_BYTES (512 * 1024)
#define WF_MM_TILE_ROWS_MIN 64
#define WF_MM_TILE_ROWS_MAX 256
#define WF_MM_TILE_TOKS 128
/* Convert activations on several threads from this many rows and this many
 * elements on: below, one thread converts them in about the time a hand-off
 * to the pool takes (a 32-token batch of a 256-wide model is 8k floats). */
#define WF_MM_PAR_CONVERT_TOKS 4
#ifndef WF_MM_PAR_CONVERT_ELEMS
#define WF_MM_PAR_CONVERT_ELEMS (32 * 1024)
#endif

void wf_matmul_scratch_free(wf_matmul_scratch *s) {
    if (!s) return;
    wf_free_aligned(s->buf);
    s->buf = NULL;
    s->cap = 0;
}

static wf_status scratch_reserve(wf_matmul_scratch *s, size_t need) {
    if (s->cap >= need && s->buf) return WF_OK;
    size_t cap = s->cap ? s->cap : 4096;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) {
            cap = need;
            break;
        }
        cap *= 2;
    }
    void *p = wf_alloc_aligned(cap);
    if (!p) return WF_ERR_NOMEM;
    wf_free_aligned(s->buf);
    s->buf = p;
    s->cap = cap;
    return WF_OK;
}

/* ---- phase 1: activation conversion ------------------------------------- */

typedef struct convert_job {
    wf_from_float_fn quantize;
    const float *x;      /* (ntok, n)                 */
    int64_t n, ntok;
    void *a;             /* (ntok, a_row_bytes) bytes */
    size_t a_row_bytes;
} convert_job;

static void convert_task(void *arg, int ith, int nth) {
    const convert_job *j = arg;
    /* contiguous ranges: each thread writes its own stretch of scratch */
    int64_t per = (j->ntok + nth - 1) / nth;
    int64_t t0 = (int64_t)ith * per, t1 = t0 + per < j->ntok ? t0 + per : j->ntok;
    for (int64_t t = t0; t < t1; t++)
        j->quantize(j->x + t * j->n, (char *)j->a + (size_t)t * j->a_row_bytes, j->n);
}

/* ---- phase 2: tiles ------------------------------------------------------ */

/* One matrix of a job: its kernels, activations, output and tile shape. */
typedef struct mm_part {
    const wf_mat *w;
    wf_gemm_fn gemm;       /* may be NULL: then vec_dot loops */
    wf_vec_dot_fn vec_dot; /* may be NULL: then gemm          */
    const void *a;         /* (ntok, a_row_bytes) bytes       */
    size_t a_row_bytes;
    float *y;              /* (ntok, rows)                    */
    int64_t tile_rows, tile_toks;
    int64_t n_tok_tiles, n_tiles;
    int64_t first;         /* its first tile in the job's numbering */
} mm_part;

/* Tiles of all parts are numbered part after part and taken from one
 * counter, so several matrices reading the same activations cost one
 * hand-off to the pool. */
typedef struct tile_job {
    mm_part part[WF_MATMUL_MULTI_MAX];
    int n_parts;
    int64_t ntok;
    int64_t n_tiles;
    _Alignas(64) atomic_int_fast64_t next; /* next tile to take       */
} tile_job;

static void run_tile(const tile_job *j, int64_t t) {
    int p = 0;
    while (p + 1 < j->n_parts && t >= j->part[p + 1].first) p++;
    const mm_part *pt = &j->part[p];
    const wf_mat *w = pt->w;
    t -= pt->first;
    int64_t rt = t / pt->n_tok_tiles, ct = t % pt->n_tok_tiles;
    int64_t r0 = rt * pt->tile_rows, c0 = ct * pt->tile_toks;
    int64_t nr = w->rows - r0 < pt->tile_rows ? w->rows - r0 : pt->tile_rows;
    int64_t nc = j->ntok - c0 < pt->tile_toks ? j->ntok - c0 : pt->tile_toks;
    const char *wp = (const char *)w->data + (size_t)r0 * w->row_bytes;
    const char *ap = (const char *)pt->a + (size_t)c0 * pt->a_row_bytes;
    float *yp = pt->y + c0 * w->rows + r0;

    if (pt->gemm) { /* SIMD gemm prepares activations once per call: faster even for one token */
        pt->gemm(w->n, (int)nr, (int)nc, wp, w->row_bytes, ap, pt->a_row_bytes, yp, (size_t)w->rows);
        return;
    }
    for (int64_t c = 0; c < nc; c++)
        for (int64_t r = 0; r < nr; r++)
            pt->vec_dot(w->n, yp + c * w->rows + r, wp + (size_t)r * w->row_bytes,
                        ap + (size_t)c * pt->a_row_bytes);
}

static void tile_task(void *arg, int ith, int nth) {
    tile_job *j = arg;
    (void)nth;
    /* the first tile of each thread is fixed; the rest come from the counter */
    for (int64_t t = ith; t < j->n_tiles;
         t = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed))
        run_tile(j, t);
}

/* Choose the tile shapes for nth threads and number the tiles. */
static void plan_tiles(tile_job *j, int nth) {
    int64_t total_bytes = 0;
    for (int p = 0; p < j->n_parts; p++) total_bytes += j->part[p].w->rows * (int64_t)j->part[p].w->row_bytes;
    /* decode: chunks of equal bytes across the parts, about
     * WF_MM_CHUNKS_PER_THREAD per thread */
    int64_t chunk_bytes = total_bytes / ((int64_t)nth * WF_MM_CHUNKS_PER_THREAD);
    if (chunk_bytes < WF_MM_MIN_CHUNK_BYTES) chunk_bytes = WF_MM_MIN_CHUNK_BYTES;
    int64_t first = 0;
    for (int p = 0; p < j->n_parts; p++) {
        mm_part *pt = &j->part[p];
        int64_t rows = pt->w->rows;
        if (j->ntok == 1) {
            int64_t chunk = (chunk_bytes + (int64_t)pt->w->row_bytes - 1) / (int64_t)pt->w->row_bytes;
            if (chunk < WF_MM_MIN_ROWS) chunk = WF_MM_MIN_ROWS;
            chunk = (chunk + 3) & ~(int64_t)3; /* kernels like multiples of 4 rows */
            pt->tile_rows = chunk;
            pt->tile_toks = 1;
        } else {
            int64_t tr = (int64_t)(WF_MM_TILE_BYTES / pt->w->row_bytes) & ~(int64_t)15;
            pt->tile_rows = tr < WF_MM_TILE_ROWS_MIN ? WF_MM_TILE_ROWS_MIN : tr > WF_MM_TILE_ROWS_MAX ? WF_MM_TILE_ROWS_MAX : tr;
            pt->tile_toks = j->ntok < WF_MM_TILE_TOKS ? j->ntok : WF_MM_TILE_TOKS;
            /* small matrices with few tiles: cut rows finer so all threads work */
            int64_t n_tok_tiles = (j->ntok + pt->tile_toks - 1) / pt->tile_toks;
            while (pt->tile_rows > WF_MM_MIN_ROWS &&
                   ((rows + pt->tile_rows - 1) / pt->tile_rows) * n_tok_tiles < 2 * (int64_t)nth)
                pt->tile_rows /= 2;
        }
        pt->n_tok_tiles = (j->ntok + pt->tile_toks - 1) / pt->tile_toks;
        pt->n_tiles = ((rows + pt->tile_rows - 1) / pt->tile_rows) * pt->n_tok_tiles;
        pt->first = first;
        first += pt->n_tiles;
    }
    j->n_tiles = first;
}

/* Shared checks; on success *vdt is the activation type and *a_row_bytes
 * its row size. */
static wf_status check_args(const wf_mat *w, const float *x, int64_t ntok, const float *y,
                            wf_type *vdt, size_t *a_row_bytes) {
    if (!w || ntok < 0 || (ntok > 0 && (!x || !y))) return WF_ERR_INVALID_ARG;
    const wf_type_traits *tr = wf_type_get((uint32_t)w->type);
    if (!tr || !tr->can_load) return WF_ERR_UNSUPPORTED;
    if (w->n <= 0 || w->rows < 0 || w->rows > INT32_MAX ||
        wf_row_size(w->type, w->n) != w->row_bytes || w->row_bytes == 0)
        return WF_ERR_INVALID_ARG;
    if (w->rows > 0 && !w->data) return WF_ERR_INVALID_ARG;
    *vdt = tr->vec_dot_type;
    *a_row_bytes = wf_row_size(*vdt, w->n);
    if (*a_row_bytes == 0) return WF_ERR_INVALID_ARG; /* n not a multiple of its block */
    uint64_t tot;
    if (!wf_mul_u64((uint64_t)ntok, *a_row_bytes, &tot) || tot > SIZE_MAX / WF_MATMUL_MULTI_MAX - 64 ||
        !wf_mul_u64((uint64_t)ntok, (uint64_t)w->rows, &tot) || tot > SIZE_MAX / sizeof(float))
        return WF_ERR_INVALID_ARG;
    return WF_OK;
}

wf_status wf_matmul_multi(wf_threadpool *tp, const wf_kernels *k, const wf_mat *const *ws, int n_w,
                          const float *x, int64_t ntok, float *const *ys,
                          wf_matmul_scratch *scratch) {
    if (!k || !ws || !ys || n_w < 1 || n_w > WF_MATMUL_MULTI_MAX) return WF_ERR_INVALID_ARG;
    wf_type vdt[WF_MATMUL_MULTI_MAX];
    size_t arb[WF_MATMUL_MULTI_MAX];
    int src[WF_MATMUL_MULTI_MAX];   /* part whose converted activations part p reuses */
    size_t off[WF_MATMUL_MULTI_MAX]; /* scratch offset of part p's own conversion */
    size_t need = 0;
    for (int p = 0; p < n_w; p++) {
        wf_status st = check_args(ws[p], x, ntok, ys[p], &vdt[p], &arb[p]);
        if (st != WF_OK) return st;
        if (ws[p]->n != ws[0]->n) return WF_ERR_INVALID_ARG;
        if (!k->gemm[ws[p]->type] && !k->vec_dot[ws[p]->type]) return WF_ERR_UNSUPPORTED;
        src[p] = p;
        for (int q = 0; q < p; q++)
            if (ws[q]->rows > 0 && vdt[q] == vdt[p]) {
                src[p] = src[q];
                break;
            }
        off[p] = need;
        if (src[p] == p && vdt[p] != WF_TYPE_F32 && ws[p]->rows > 0)
            need += ((size_t)ntok * arb[p] + 63) & ~(size_t)63;
    }
    if (ntok == 0) return WF_OK;

    int nth = wf_threadpool_n_threads(tp);
    if (need > 0) {
        if (!scratch) return WF_ERR_INVALID_ARG;
        if (scratch_reserve(scratch, need) != WF_OK) return WF_ERR_NOMEM;
    }
    tile_job job = {0};
    job.ntok = ntok;
    for (int p = 0; p < n_w; p++) {
        if (ws[p]->rows == 0) continue;
        mm_part *pt = &job.part[job.n_parts++];
        pt->w = ws[p];
        pt->gemm = k->gemm[ws[p]->type];
        pt->vec_dot = k->vec_dot[ws[p]->type];
        pt->y = ys[p];
        pt->a_row_bytes = arb[p];
        if (vdt[p] == WF_TYPE_F32) {
            pt->a = x; /* a_row_bytes == n * 4: x rows are already the right type */
            continue;
        }
        pt->a = (char *)scratch->buf + off[src[p]];
        if (src[p] != p) continue; /* converted already for an earlier part */
        wf_from_float_fn q = k->quantize_row[vdt[p]];
        if (!q) q = wf_type_get((uint32_t)vdt[p])->from_float;
        if (!q) return WF_ERR_UNSUPPORTED;
        convert_job cj = {q, x, ws[p]->n, ntok, (char *)scratch->buf + off[p], arb[p]};
        if (ntok >= WF_MM_PAR_CONVERT_TOKS && ntok * ws[p]->n >= WF_MM_PAR_CONVERT_ELEMS && nth > 1)
            wf_threadpool_run(tp, convert_task, &cj);
        else
            convert_task(&cj, 0, 1);
    }
    if (job.n_parts == 0) return WF_OK;

    plan_tiles(&job, nth);
    atomic_init(&job.next, nth);
    if (job.n_tiles == 1 || nth == 1)
        tile_task(&job, 0, 1); /* skip the dispatch: nothing to share */
    else
        wf_threadpool_run(tp, tile_task, &job);
    return WF_OK;
}

wf_status wf_matmul(wf_threadpool *tp, const wf_kernels *k, const wf_mat *w,
                    const float *x, int64_t ntok, float *y,
                    wf_matmul_scratch *scratch) {
    const wf_mat *ws[1] = {w};
    float *ys[1] = {y};
    if (!w) return WF_ERR_INVALID_ARG;
    return wf_matmul_multi(tp, k, ws, 1, x, ntok, ys, scratch);
}

wf_status wf_matmul_ref(const wf_mat *w, const float *x, int64_t ntok, float *y) {
    wf_type vdt;
    size_t a_row_bytes;
    wf_status st = check_args(w, x, ntok, y, &vdt, &a_row_bytes);
    if (st != WF_OK) return st;
    if (ntok == 0 || w->rows == 0) return WF_OK;

    wf_kernels k;
    memset(&k, 0, sizeof k);
    wf_kernels_fill_scalar(&k);
    wf_vec_dot_fn dot = k.vec_dot[w->type];
    if (!dot) return WF_ERR_UNSUPPORTED;

    const void *a = x;
    void *buf = NULL;
    if (vdt != WF_TYPE_F32) {
        wf_from_float_fn q = k.quantize_row[vdt];
        if (!q) q = wf_type_get((uint32_t)vdt)->from_float;
        if (!q) return WF_ERR_UNSUPPORTED;
        buf = wf_alloc_aligned((size_t)ntok * a_row_bytes);
        if (!buf) return WF_ERR_NOMEM;
        for (int64_t t = 0; t < ntok; t++) q(x + t * w->n, (char *)buf + (size_t)t * a_row_bytes, w->n);
        a = buf;
    }
    for (int64_t t = 0; t < ntok; t++)
        for (int64_t r = 0; r < w->rows; r++)
            dot(w->n, y + t * w->rows + r, (const char *)w->data + (size_t)r * w->row_bytes,
                (const char *)a + (size_t)t * a_row_bytes);
    wf_free_aligned(buf);
    return WF_OK;
}

void wf_mat_get_row(const wf_kernels *k, const wf_mat *w, int64_t r, float *dst) {
    if (!w || !dst || w->n <= 0) return;
    const wf_type_traits *tr = wf_type_get((uint32_t)w->type);
    wf_to_float_fn f = (tr && k) ? k->to_float[w->type] : NULL;
    if (!f && tr) f = tr->to_float;
    if (!f || r < 0 || r >= w->rows || !w->data) { /* caller bug: leave a visible zero row */
        memset(dst, 0, (size_t)w->n * sizeof *dst);
        return;
    }
    f((const char *)w->data + (size_t)r * w->row_bytes, dst, w->n);
}
