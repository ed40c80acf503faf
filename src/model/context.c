/* context.c — one sequence's state: the KV cache, scratch buffers sized for
 * n_batch tokens, the thread pool, and the public wf_context_* / wf_decode /
 * wf_get_logits / wf_kv_truncate calls. Picks the defaults (context size
 * capped by available memory, thread count, batch size) and records what it
 * decided in a notice the CLI can print.
 */
#include "model/model_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WF_MAX_CTX (1 << 24)

wf_context_params wf_context_default_params(void) {
    wf_context_params p = {.n_ctx = 0, .n_threads = 0, .n_batch = 512, .kv_type = WF_KV_F16};
    return p;
}

uint64_t wf_context_scratch_bytes(const wf_hparams *hp, int32_t n_batch, int32_t n_threads, int32_t n_ctx) {
    const uint64_t E = (uint64_t)hp->n_embd, HD = (uint64_t)hp->head_dim, FF = (uint64_t)hp->n_ff;
    const uint64_t QD = (uint64_t)hp->n_head * HD, KD = (uint64_t)hp->n_head_kv * HD;
    const uint64_t per_tok = 2 * E + 2 * QD + 2 * KD + 2 * FF + (uint64_t)hp->rope_dim;
    uint64_t floats = per_tok * (uint64_t)n_batch +
                      (uint64_t)n_threads * wf_attn_scratch_floats(hp->head_dim, hp->n_head / hp->n_head_kv);
    floats += (uint64_t)hp->n_vocab; /* one row of logits */
    floats += wf_attn_partial_floats(hp->n_head, hp->head_dim, n_ctx);
    if (hp->n_expert > 0) /* router logits, weights and choices, gathered inputs, outputs, sums */
        floats += (uint64_t)n_batch * ((uint64_t)hp->n_expert + 3 * (uint64_t)hp->n_expert_used + 3 * E);
    /* matmul activation scratch: at most the widest input as f32-sized rows */
    const uint64_t widest = FF > QD ? (FF > E ? FF : E) : (QD > E ? QD : E);
    return floats * 4 + widest * (uint64_t)n_batch * 4;
}

static void free_scratch(wf_context *c) {
    float **bufs[] = {&c->x, &c->xn, &c->q, &c->k, &c->v, &c->att, &c->gate, &c->up, &c->rope_cs,
                      &c->attn_scratch, &c->attn_partial, &c->logits, &c->moe_logits, &c->moe_w,
                      &c->moe_x, &c->moe_y, &c->moe_acc};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) {
        wf_free_aligned(*bufs[i]);
        *bufs[i] = NULL;
    }
    wf_free_aligned(c->moe_sel);
    wf_free_aligned(c->moe_rows);
    c->moe_sel = c->moe_rows = NULL;
}

static wf_status alloc_scratch(wf_context *c, wf_error *err) {
    const wf_hparams *hp = &c->model->hp;
    const size_t B = (size_t)c->params.n_batch, E = (size_t)hp->n_embd, HD = (size_t)hp->head_dim;
    const size_t QD = (size_t)hp->n_head * HD, KD = (size_t)hp->n_head_kv * HD, FF = (size_t)hp->n_ff;
    struct { float **p; size_t n; } want[] = {
        {&c->x, B * E}, {&c->xn, B * E}, {&c->q, B * QD}, {&c->k, B * KD}, {&c->v, B * KD},
        {&c->att, B * QD}, {&c->gate, B * FF}, {&c->up, B * FF}, {&c->rope_cs, B * (size_t)hp->rope_dim},
        {&c->attn_scratch, (size_t)c->n_threads * wf_attn_scratch_floats(hp->head_dim, hp->n_head / hp->n_head_kv)},
        {&c->attn_partial, wf_attn_partial_floats(hp->n_head, hp->head_dim, c->params.n_ctx)},
        {&c->logits, (size_t)hp->n_vocab},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        *want[i].p = wf_alloc_aligned(want[i].n * sizeof(float));
        if (!*want[i].p) return wf_fail(err, WF_ERR_NOMEM, "cannot allocate context scratch (%zu floats)", want[i].n);
    }
    if (hp->n_expert > 0) {
        const size_t NE = (size_t)hp->n_expert, K = (size_t)hp->n_expert_used;
        struct { void **p; size_t n; } moe[] = {
            {(void **)&c->moe_logits, B * NE * sizeof(float)}, {(void **)&c->moe_w, B * K * sizeof(float)},
            {(void **)&c->moe_sel, B * K * sizeof(int32_t)}, {(void **)&c->moe_rows, B * K * sizeof(int32_t)},
            {(void **)&c->moe_x, B * E * sizeof(float)}, {(void **)&c->moe_y, B * E * sizeof(float)},
            {(void **)&c->moe_acc, B * E * sizeof(float)},
        };
        for (size_t i = 0; i < sizeof moe / sizeof moe[0]; i++) {
            *moe[i].p = wf_alloc_aligned(moe[i].n);
            if (!*moe[i].p) return wf_fail(err, WF_ERR_NOMEM, "cannot allocate MoE scratch (%zu bytes)", moe[i].n);
        }
    }
    c->logits_cap = 1;
    c->scratch_bytes = wf_context_scratch_bytes(hp, c->params.n_batch, c->n_threads, c->params.n_ctx);
    return WF_OK;
}

int32_t wf_context_cap_n_ctx(int32_t n_train, uint64_t kv_per_tok, uint64_t fixed, uint64_t avail) {
    if (avail == 0 || kv_per_tok == 0) return n_train; /* unknown: trust the model */
    const uint64_t usable = avail / 10 * 9;
    const uint64_t room = usable > fixed ? usable - fixed : 0;
    const uint64_t fit = room / kv_per_tok;
    if (fit >= (uint64_t)n_train) return n_train;
    int32_t capped = (int32_t)(fit / 256 * 256);
    if (capped < 256) capped = n_train < 256 ? n_train : 256; /* tiny, but usable */
    return capped;
}

int32_t wf_context_default_n_ctx(const wf_model *m, const wf_context_params *p, char *why, size_t why_cap) {
    if (why && why_cap) why[0] = 0;
    if (!m) return 0;
    const wf_hparams *hp = &m->hp;
    wf_context_params def = wf_context_default_params();
    if (!p) p = &def;
    const int32_t threads = p->n_threads > 0 ? p->n_threads : wf_n_cores();
    const int32_t batch = p->n_batch > 0 ? p->n_batch : 512;
    const int32_t nb = batch < hp->n_ctx_train ? batch : hp->n_ctx_train;
    const uint64_t scratch = wf_context_scratch_bytes(hp, nb, threads, hp->n_ctx_train);
    const uint64_t avail = wf_mem_available();
    const uint64_t per_tok = wf_kv_bytes(hp, 1, p->kv_type);
    const uint64_t fixed = wf_gguf_file_size(m->gguf) + scratch;
    const int32_t n_ctx = wf_context_cap_n_ctx(hp->n_ctx_train, per_tok, fixed, avail);
    if (n_ctx < hp->n_ctx_train && why && why_cap)
        snprintf(why, why_cap,
                 "context capped at %d tokens (training context %d): the %s KV cache needs %.1f MiB per 1k tokens "
                 "and %.1f GiB of memory is available",
                 n_ctx, hp->n_ctx_train, wf_kv_type_name(p->kv_type), (double)per_tok * 1024 / (1024.0 * 1024.0),
                 (double)avail / (1024.0 * 1024.0 * 1024.0));
    return n_ctx;
}

wf_status wf_context_create(wf_model *m, const wf_context_params *p, wf_context **out, wf_error *err) {
    if (!m || !out) return wf_fail(err, WF_ERR_INVALID_ARG, "wf_context_create: NULL argument");
    *out = NULL;
    if (!m->layers) return wf_fail(err, WF_ERR_INVALID_ARG, "wf_context_create: the model was loaded vocab-only");
    wf_context_params def = wf_context_default_params();
    if (!p) p = &def;
    if (p->n_ctx < 0 || p->n_ctx > WF_MAX_CTX)
        return wf_fail(err, WF_ERR_INVALID_ARG, "context size %d out of range (0..%d)", p->n_ctx, WF_MAX_CTX);
    if (p->n_batch < 0 || p->n_threads < 0 || p->n_threads > 1024)
        return wf_fail(err, WF_ERR_INVALID_ARG, "n_batch %d / n_threads %d out of range", p->n_batch, p->n_threads);
    if (p->kv_type != WF_KV_F16 && p->kv_type != WF_KV_Q8_0 && p->kv_type != WF_KV_F32)
        return wf_fail(err, WF_ERR_INVALID_ARG, "unknown KV cache type %d", (int)p->kv_type);
    wf_context *c = calloc(1, sizeof *c);
    if (!c) return wf_fail(err, WF_ERR_NOMEM, "out of memory");
    c->model = m;
    c->params = *p;
    c->n_threads = p->n_threads > 0 ? p->n_threads : wf_n_cores();
    c->params.n_threads = c->n_threads;
    if (c->params.n_batch == 0) c->params.n_batch = 512;
    wf_status st;
    if (p->n_ctx > 0) {
        c->params.n_ctx = p->n_ctx;
        if (p->n_ctx > m->hp.n_ctx_train && m->hp.rope_scaling == WF_ROPE_SCALING_NONE)
            snprintf(c->notice, sizeof c->notice,
                     "context %d exceeds the model's training context %d without RoPE scaling: expect degraded output beyond it",
                     p->n_ctx, m->hp.n_ctx_train);
    } else {
        c->params.n_ctx = wf_context_default_n_ctx(m, &c->params, c->notice, sizeof c->notice);
    }
    if (c->params.n_batch > c->params.n_ctx) c->params.n_batch = c->params.n_ctx;
    if ((st = wf_kv_init(&c->kv, &m->hp, c->params.n_ctx, c->params.kv_full ? 0 : c->params.n_batch, c->params.kv_type,
                         &m->kernels, err)) != WF_OK)
        goto fail;
    if ((st = wf_rope_init(&c->rope, &m->hp, m->rope_freqs, err)) != WF_OK) goto fail;
    wf_attn_kernels_init(&c->attn, m->kernels.isa, m->hp.head_dim);
    if (c->kv.elem == WF_TYPE_Q8_0 && c->attn.q8_0_to_float) c->kv.to_float = c->attn.q8_0_to_float;
    if ((st = alloc_scratch(c, err)) != WF_OK) goto fail;
    if ((st = wf_threadpool_create(c->n_threads, &c->tp, err)) != WF_OK) goto fail;
    *out = c;
    return WF_OK;
fail:
    wf_context_free(c);
    return st;
}

void wf_context_free(wf_context *c) {
    if (!c) return;
    if (c->tp) wf_threadpool_free(c->tp);
    wf_matmul_scratch_free(&c->mm);
    wf_kv_free(&c->kv);
    wf_rope_free(&c->rope);
    free_scratch(c);
    free(c);
}

int32_t wf_context_n_ctx(const wf_context *c) { return c ? c->params.n_ctx : 0; }
int32_t wf_context_n_past(const wf_context *c) { return c ? c->n_past : 0; }

void wf_context_set_abort(wf_context *c, wf_abort_fn fn, void *user) {
    if (!c) return;
    c->abort_fn = fn;
    c->abort_user = user;
}
int32_t wf_context_n_threads(const wf_context *c) { return c ? c->n_threads : 0; }
int32_t wf_context_n_batch(const wf_context *c) { return c ? c->params.n_batch : 0; }
const char *wf_context_notice(const wf_context *c) { return c ? c->notice : ""; }
uint64_t wf_context_kv_bytes(const wf_context *c) {
    return c ? wf_kv_bytes_ctx(&c->model->hp, c->params.n_ctx, c->params.kv_full ? 0 : c->params.n_batch, c->params.kv_type) : 0;
}
uint64_t wf_context_scratch_bytes_used(const wf_context *c) {
    return c ? c->scratch_bytes + (uint64_t)(c->logits_cap - 1) * (uint64_t)c->model->hp.n_vocab * 4 + c->mm.cap : 0;
}

wf_status wf_decode(wf_context *c, const int32_t *tokens, int32_t n, bool all_logits, wf_error *err) {
    if (!c || (!tokens && n > 0)) return wf_fail(err, WF_ERR_INVALID_ARG, "wf_decode: NULL argument");
    if (n <= 0) return wf_fail(err, WF_ERR_INVALID_ARG, "wf_decode: %d tokens (need at least 1)", n);
    const int32_t n_vocab = c->model->hp.n_vocab;
    if ((int64_t)c->n_past + n > c->params.n_ctx)
        return wf_fail(err, WF_ERR_RANGE, "context full: %d cached + %d new tokens exceed the context size %d",
                       c->n_past, n, c->params.n_ctx);
    for (int32_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= n_vocab)
            return wf_fail(err, WF_ERR_INVALID_ARG, "token id %d (batch index %d) is out of range: the vocabulary has %d tokens",
                           tokens[i], i, n_vocab);
    const int64_t rows = all_logits ? n : 1;
    if (rows > c->logits_cap) {
        float *nl = wf_alloc_aligned((size_t)rows * (size_t)n_vocab * sizeof(float));
        if (!nl) return wf_fail(err, WF_ERR_NOMEM, "cannot allocate logits for %d tokens", n);
        wf_free_aligned(c->logits);
        c->logits = nl;
        c->logits_cap = rows;
    }
    c->n_logits = 0;
    c->last_n = 0;
    const int32_t nb = c->params.n_batch;
    for (int32_t s = 0; s < n; s += nb) {
        const int32_t m = n - s < nb ? n - s : nb;
        const bool last = s + m == n;
        const int32_t keep_from = all_logits ? 0 : (last ? m - 1 : m);
        float *dst = all_logits ? c->logits + (size_t)s * n_vocab : c->logits;
        wf_status st = wf_forward(c, tokens + s, m, c->n_past, keep_from, dst, err);
        if (st != WF_OK) return st; /* chunks already done stay in the cache */
        c->n_past += m;
    }
    c->last_n = n;
    c->n_logits = (int32_t)rows;
    c->logits_first = all_logits ? 0 : n - 1;
    return WF_OK;
}

/* Grow c's logits buffer to rows rows (its contents are not kept). */
static wf_status logits_reserve(wf_context *c, int64_t rows, wf_error *err) {
    if (rows <= c->logits_cap) return WF_OK;
    float *nl = wf_alloc_aligned((size_t)rows * (size_t)c->model->hp.n_vocab * sizeof(float));
    if (!nl) return wf_fail(err, WF_ERR_NOMEM, "cannot allocate logits for %lld tokens", (long long)rows);
    wf_free_aligned(c->logits);
    c->logits = nl;
    c->logits_cap = rows;
    c->n_logits = 0;
    return WF_OK;
}

static int32_t seq_rows(const wf_seq *q) { return q->all_logits ? q->n : 1; }

int32_t wf_decode_multi_cols(const wf_model *m) {
    const int32_t e = wf_model_exact_batch(m);
    return e < WF_DECODE_MULTI_MAX ? e : WF_DECODE_MULTI_MAX;
}

/* Columns a shared pass led by c may hold: the model's bound and c's batch. */
static int32_t pass_cap(const wf_context *c) {
    const int32_t multi = wf_decode_multi_cols(c->model);
    return c->params.n_batch < multi ? c->params.n_batch : multi;
}

/* The end of the pass starting at seqs[s]: sequences are added while the
 * columns fit the exact-matmul bound and the first context's batch. */
static int32_t pass_end(const wf_seq *seqs, int32_t n_seqs, int32_t s) {
    const int32_t cap = pass_cap(seqs[s].ctx);
    int32_t cols = 0, e = s;
    while (e < n_seqs && cols + seqs[e].n <= cap) cols += seqs[e++].n;
    return e;
}

wf_status wf_decode_seqs(const wf_seq *seqs, int32_t n_seqs, wf_error *err) {
    if (!seqs) return wf_fail(err, WF_ERR_INVALID_ARG, "wf_decode_seqs: NULL argument");
    if (n_seqs <= 0) return wf_fail(err, WF_ERR_INVALID_ARG, "wf_decode_seqs: %d sequences (need at least 1)", n_seqs);
    const wf_model *m = seqs[0].ctx ? seqs[0].ctx->model : NULL;
    for (int32_t i = 0; i < n_seqs; i++) {
        const wf_seq *q = &seqs[i];
        const wf_context *c = q->ctx;
        if (!c || !q->tokens) return wf_fail(err, WF_ERR_INVALID_ARG, "wf_decode_seqs: sequence %d: NULL context or tokens", i);
        if (c->model != m) return wf_fail(err, WF_ERR_INVALID_ARG, "wf_decode_seqs: sequence %d belongs to another model", i);
        const int32_t cap = pass_cap(c);
        if (q->n < 1 || q->n > cap)
            return wf_fail(err, WF_ERR_INVALID_ARG, "wf_decode_seqs: sequence %d has %d tokens (1..%d in a shared pass)", i, q->n, cap);
        if ((int64_t)c->n_past + q->n > c->params.n_ctx)
            return wf_fail(err, WF_ERR_RANGE, "wf_decode_seqs: sequence %d: %d cached + %d new tokens exceed the context size %d", i,
                           c->n_past, q->n, c->params.n_ctx);
        for (int32_t t = 0; t < q->n; t++)
            if (q->tokens[t] < 0 || q->tokens[t] >= m->hp.n_vocab)
                return wf_fail(err, WF_ERR_INVALID_ARG, "wf_decode_seqs: token id %d (sequence %d) is out of range: the vocabulary has %d tokens",
                               q->tokens[t], i, m->hp.n_vocab);
        for (int32_t j = 0; j < i; j++) /* two rows at one position of one cache */
            if (seqs[j].ctx == c) return wf_fail(err, WF_ERR_INVALID_ARG, "wf_decode_seqs: sequence %d repeats the context of %d", i, j);
    }
    /* every buffer first: a pass stages all its logits in its first context's buffer */
    for (int32_t s = 0; s < n_seqs;) {
        const int32_t e = pass_end(seqs, n_seqs, s);
        int32_t rows = 0;
        for (int32_t i = s; i < e; i++) {
            rows += seq_rows(&seqs[i]);
            wf_status st = logits_reserve(seqs[i].ctx, seq_rows(&seqs[i]), err);
            if (st != WF_OK) return st;
        }
        wf_status st = logits_reserve(seqs[s].ctx, rows, err);
        if (st != WF_OK) return st;
        s = e;
    }
    const size_t row_floats = (size_t)m->hp.n_vocab;
    for (int32_t s = 0; s < n_seqs;) {
        const int32_t e = pass_end(seqs, n_seqs, s);
        wf_context *lead = seqs[s].ctx;
        wf_status st = wf_forward_seqs(seqs + s, e - s, lead->logits, err);
        if (st != WF_OK) {
            lead->n_logits = 0; /* its buffer may hold a partial result */
            return st;
        }
        /* the lead's rows come first and stay; the others' are copied out */
        size_t at = (size_t)seq_rows(&seqs[s]) * row_floats;
        for (int32_t i = s; i < e; i++) {
            const wf_seq *q = &seqs[i];
            wf_context *c = q->ctx;
            if (i > s) {
                memcpy(c->logits, lead->logits + at, (size_t)seq_rows(q) * row_floats * sizeof(float));
                at += (size_t)seq_rows(q) * row_floats;
            }
            c->n_past += q->n;
            c->last_n = q->n;
            c->n_logits = seq_rows(q);
            c->logits_first = q->all_logits ? 0 : q->n - 1;
        }
        s = e;
    }
    return WF_OK;
}

wf_status wf_decode_multi(wf_context *const *cs, const int32_t *tokens, int32_t n, wf_error *err) {
    if (!cs || !tokens) return wf_fail(err, WF_ERR_INVALID_ARG, "wf_decode_multi: NULL argument");
    if (n <= 0) return wf_fail(err, WF_ERR_INVALID_ARG, "wf_decode_multi: %d contexts (need at least 1)", n);
    wf_seq *seqs = malloc(sizeof *seqs * (size_t)n);
    if (!seqs) return wf_fail(err, WF_ERR_NOMEM, "wf_decode_multi: out of memory for %d contexts", n);
    for (int32_t i = 0; i < n; i++) seqs[i] = (wf_seq){.ctx = cs[i], .tokens = &tokens[i], .n = 1, .all_logits = false};
    wf_status st = wf_decode_seqs(seqs, n, err);
    free(seqs);
    return st;
}

const float *wf_get_logits(const wf_context *c, int32_t i) {
    if (!c || c->n_logits == 0) return NULL;
    if (i == -1) i = c->last_n - 1;
    if (i < c->logits_first || i >= c->last_n) return NULL;
    return c->logits + (size_t)(i - c->logits_first) * (size_t)c->model->hp.n_vocab;
}

int32_t wf_kv_truncate_min(const wf_context *c) { return c ? wf_kv_min_keep(&c->kv) : 0; }

wf_status wf_kv_truncate(wf_context *c, int32_t n_keep, wf_error *err) {
    if (!c) return wf_fail(err, WF_ERR_INVALID_ARG, "wf_kv_truncate: NULL context");
    if (n_keep < 0 || n_keep > c->n_past)
        return wf_fail(err, WF_ERR_RANGE, "wf_kv_truncate: n_keep %d outside 0..%d (tokens cached)", n_keep, c->n_past);
    const int32_t lo = wf_kv_min_keep(&c->kv);
    if (n_keep > 0 && n_keep < lo)
        return wf_fail(err, WF_ERR_RANGE,
                       "wf_kv_truncate: n_keep %d is before what the sliding-window layers still hold (%d..%d, or 0)", n_keep,
                       lo, c->n_past);
    if (n_keep == 0) c->kv.ring_lo = 0; /* every row is written again from position 0 */
    c->n_past = n_keep;
    return WF_OK;
}
