/* sampler.c — the sampling chain: from logits to the distribution the next
 * token is drawn from (public API in wafer.h, the rest in gen/gen.h).
 *
 * Chain, in llama.cpp's order: penalties (repetition, presence, frequency
 * over the last repeat_last_n tokens of the history) → top-k → top-p →
 * min-p → temperature → softmax. With temperature <= 0 the penalised argmax
 * is taken (ties → lowest id). The logits come in as the caller has them:
 * a caller that constrains the output (a grammar) masks them first, by
 * setting banned tokens to -INFINITY; the chain gives those weight 0.
 *
 * One chain (chain_run) serves every caller: wf_sampler_sample draws from it
 * with the sampler's own history and PRNG; wf_sampler_dist writes the same
 * distribution out for a given history (speculative sampling's p and q,
 * spec_accept.c); wf_sampler_argmax is its temperature-0 limit.
 *
 * Built for 150k-entry vocabularies: the penalties touch only the distinct
 * tokens of the window (kept in a list), top-k is a bounded heap selection
 * (no full sort), and top-p sorts a growing prefix of the best candidates
 * only until the probability mass is reached.
 */
#include "gen/gen.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>

typedef struct wf_cand {
    float logit;
    int32_t id;
} wf_cand;

/* What one run of the chain reads, and where it works. */
typedef struct chain {
    const wf_sampler_params *p;
    int32_t n_vocab;
    const int32_t *count;  /* (n_vocab) occurrences in the penalty window     */
    const int32_t *active; /* (n_active) the tokens with count > 0            */
    int32_t n_active;
    wf_cand *cand;         /* (n_vocab) working candidates                    */
    float *wt;             /* (n_vocab) weights of the kept candidates        */
} chain;

struct wf_sampler {
    wf_sampler_params p;
    int32_t n_vocab;
    wf_rng rng;

    /* penalty window */
    int32_t *ring;       /* (ring_cap) last accepted tokens; NULL when window is unbounded */
    size_t ring_cap, ring_len, ring_head; /* head: oldest entry              */
    int32_t *count;      /* (n_vocab) occurrences in the window              */
    int32_t *active;     /* (n_vocab) distinct tokens with count > 0         */
    int32_t *active_pos; /* (n_vocab) index in active, -1 if absent          */
    int32_t n_active;

    wf_cand *cand;       /* (n_vocab) working candidates                     */
    float *work;         /* (n_vocab) scratch: penalised logits, weights    */
    /* the last draw was over every token (no truncation), its weights still
     * in work[] in id order: wf_sampler_redraw_masked may reuse them */
    bool drawn_full;
};

/* ---- PRNG: xoshiro256**, seeded through splitmix64 ---------------------- */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void wf_rng_seed(wf_rng *r, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

/* uniform in [0, 1) with 53 random bits */
double wf_rng_unif(wf_rng *r) {
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return (double)(out >> 11) * 0x1.0p-53;
}

/* ---- parameters ---------------------------------------------------------- */

wf_sampler_params wf_sampler_default_params(void) {
    wf_sampler_params p;
    memset(&p, 0, sizeof p);
    p.temperature = 0.8f;
    p.top_k = 40;
    p.top_p = 0.95f;
    p.min_p = 0.05f;
    p.repeat_penalty = 1.0f;
    p.repeat_last_n = 64;
    p.presence_penalty = 0.0f;
    p.frequency_penalty = 0.0f;
    p.seed = 0x5eed;
    return p;
}

static wf_status check_params(const wf_sampler_params *p, wf_error *err) {
    if (isnan(p->temperature) || isinf(p->temperature))
        return wf_fail(err, WF_ERR_INVALID_ARG, "sampler: temperature must be a finite number (<= 0 for greedy), got %g",
                       (double)p->temperature);
    if (isnan(p->top_p) || p->top_p <= 0.0f)
        return wf_fail(err, WF_ERR_INVALID_ARG, "sampler: top_p must be in (0, 1] (>= 1 turns it off), got %g",
                       (double)p->top_p);
    if (isnan(p->min_p) || p->min_p > 1.0f)
        return wf_fail(err, WF_ERR_INVALID_ARG, "sampler: min_p must be in [0, 1] (<= 0 turns it off), got %g",
                       (double)p->min_p);
    if (!isfinite(p->repeat_penalty) || p->repeat_penalty <= 0.0f)
        return wf_fail(err, WF_ERR_INVALID_ARG, "sampler: repeat_penalty must be > 0 (1 turns it off), got %g",
                       (double)p->repeat_penalty);
    if (p->repeat_last_n < -1)
        return wf_fail(err, WF_ERR_INVALID_ARG, "sampler: repeat_last_n must be >= -1 (-1: whole history, 0: off), got %d",
                       (int)p->repeat_last_n);
    if (!isfinite(p->presence_penalty))
        return wf_fail(err, WF_ERR_INVALID_ARG, "sampler: presence_penalty must be finite, got %g",
                       (double)p->presence_penalty);
    if (!isfinite(p->frequency_penalty))
        return wf_fail(err, WF_ERR_INVALID_ARG, "sampler: frequency_penalty must be finite, got %g",
                       (double)p->frequency_penalty);
    return WF_OK;
}

static bool penalties_on(const wf_sampler_params *p) {
    return p->repeat_last_n != 0 &&
           (p->repeat_penalty != 1.0f || p->presence_penalty != 0.0f || p->frequency_penalty != 0.0f);
}

/* ---- life cycle ---------------------------------------------------------- */

wf_status wf_sampler_create(const wf_sampler_params *p, int32_t n_vocab,
                            wf_sampler **out, wf_error *err) {
    if (!out) return wf_fail(err, WF_ERR_INVALID_ARG, "sampler: NULL output pointer");
    *out = NULL;
    wf_sampler_params def = wf_sampler_default_params();
    if (!p) p = &def;
    if (n_vocab <= 0)
        return wf_fail(err, WF_ERR_INVALID_ARG, "sampler: vocabulary size must be > 0, got %d", (int)n_vocab);
    wf_status st = check_params(p, err);
    if (st != WF_OK) return st;

    wf_sampler *s = calloc(1, sizeof *s);
    if (!s) goto nomem;
    s->p = *p;
    s->n_vocab = n_vocab;
    size_t nv = (size_t)n_vocab;
    s->count = calloc(nv, sizeof *s->count);
    s->active = malloc(nv * sizeof *s->active);
    s->active_pos = malloc(nv * sizeof *s->active_pos);
    s->cand = malloc(nv * sizeof *s->cand);
    s->work = malloc(nv * sizeof *s->work);
    if (!s->count || !s->active || !s->active_pos || !s->cand || !s->work) goto nomem;
    if (p->repeat_last_n > 0) {
        s->ring_cap = (size_t)p->repeat_last_n;
        s->ring = malloc(s->ring_cap * sizeof *s->ring);
        if (!s->ring) goto nomem;
    }
    wf_sampler_reset(s);
    *out = s;
    return WF_OK;
nomem:
    wf_sampler_free(s);
    return wf_fail(err, WF_ERR_NOMEM, "sampler: out of memory for a vocabulary of %d", (int)n_vocab);
}

void wf_sampler_free(wf_sampler *s) {
    if (!s) return;
    free(s->ring);
    free(s->count);
    free(s->active);
    free(s->active_pos);
    free(s->cand);
    free(s->work);
    free(s);
}

/* Forget the history and restart the PRNG from the seed, so a reset sampler
 * repeats its sequence. */
void wf_sampler_reset(wf_sampler *s) {
    if (!s) return;
    for (int32_t i = 0; i < s->n_active; i++) s->count[s->active[i]] = 0;
    memset(s->active_pos, 0xff, (size_t)s->n_vocab * sizeof *s->active_pos); /* all -1 */
    s->n_active = 0;
    s->ring_len = s->ring_head = 0;
    s->drawn_full = false;
    wf_rng_seed(&s->rng, s->p.seed);
}

static void count_add(wf_sampler *s, int32_t t, int32_t d) {
    int32_t c = s->count[t] += d;
    if (c > 0 && s->active_pos[t] < 0) {
        s->active_pos[t] = s->n_active;
        s->active[s->n_active++] = t;
    } else if (c == 0 && s->active_pos[t] >= 0) {
        int32_t i = s->active_pos[t], last = s->active[--s->n_active];
        s->active[i] = last;
        s->active_pos[last] = i;
        s->active_pos[t] = -1;
    }
}

void wf_sampler_accept(wf_sampler *s, int32_t token) {
    if (s) s->drawn_full = false; /* the penalties move: the weights are stale */
    if (!s || token < 0 || token >= s->n_vocab || s->p.repeat_last_n == 0) return;
    if (s->ring) {
        if (s->ring_len == s->ring_cap) { /* evict the oldest */
            count_add(s, s->ring[s->ring_head], -1);
            s->ring[s->ring_head] = token;
            s->ring_head = (s->ring_head + 1) % s->ring_cap;
        } else {
            s->ring[(s->ring_head + s->ring_len++) % s->ring_cap] = token;
        }
    }
    if (s->count[token] < INT32_MAX) count_add(s, token, +1);
}

/* ---- the chain ----------------------------------------------------------- */

/* NaN logits (a broken model) rank below everything else. */
static inline float clean(float x) { return isnan(x) ? -INFINITY : x > FLT_MAX ? FLT_MAX : x; }

static float penalize(const wf_sampler_params *p, float l, int32_t count) {
    if (p->repeat_penalty != 1.0f) l = l > 0.0f ? l / p->repeat_penalty : l * p->repeat_penalty;
    l -= (float)count * p->frequency_penalty;
    l -= p->presence_penalty; /* count > 0 here */
    return l;
}

/* Strict total order used everywhere: higher logit first, then lower id. */
static inline bool better(const wf_cand *a, const wf_cand *b) {
    return a->logit > b->logit || (a->logit == b->logit && a->id < b->id);
}

/* Min-heap on `better` (root = worst kept candidate). */
static void heap_sift_down(wf_cand *h, size_t n, size_t i) {
    wf_cand x = h[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && better(&h[c], &h[c + 1])) c++; /* the worse child */
        if (!better(&x, &h[c])) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = x;
}

/* Move the m best of c[0..n) to c[0..m), sorted best first. O(n log m). */
static void select_best(wf_cand *c, size_t n, size_t m) {
    if (m > n) m = n;
    if (m == 0) return;
    for (size_t i = m / 2; i-- > 0;) heap_sift_down(c, m, i);
    for (size_t i = m; i < n; i++) {
        if (better(&c[i], &c[0])) {
            wf_cand t = c[0];
            c[0] = c[i];
            c[i] = t;
            heap_sift_down(c, m, 0);
        }
    }
    /* heap sort: pop the worst to the end */
    for (size_t e = m; e-- > 1;) {
        wf_cand t = c[0];
        c[0] = c[e];
        c[e] = t;
        heap_sift_down(c, e, 0);
    }
}

/* Fill ch->cand with the penalised logits; returns the count (n_vocab). */
static size_t load_candidates(const chain *ch, const float *logits) {
    wf_cand *c = ch->cand;
    for (int32_t i = 0; i < ch->n_vocab; i++) {
        c[i].logit = clean(logits[i]);
        c[i].id = i;
    }
    if (penalties_on(ch->p))
        for (int32_t i = 0; i < ch->n_active; i++) {
            int32_t t = ch->active[i];
            c[t].logit = penalize(ch->p, c[t].logit, ch->count[t]);
        }
    return (size_t)ch->n_vocab;
}

/* The k best penalised candidates, sorted best first, into ch->cand; returns
 * how many (min(k, n_vocab)). One pass over the logits with a heap of
 * k + n_active: the best k tokens that have no penalty are among the best
 * k + n_active raw logits, and the penalised tokens are added by hand. */
static size_t top_k_direct(const chain *ch, const float *logits, size_t k) {
    size_t nv = (size_t)ch->n_vocab;
    bool pen = penalties_on(ch->p) && ch->n_active > 0;
    size_t m = k + (pen ? (size_t)ch->n_active : 0);
    if (k >= nv || m >= nv) { /* small vocabulary: plain path */
        size_t n = load_candidates(ch, logits);
        if (k > n) k = n;
        select_best(ch->cand, n, k);
        return k;
    }
    wf_cand *h = ch->cand;
    for (size_t i = 0; i < m; i++) h[i] = (wf_cand){clean(logits[i]), (int32_t)i};
    for (size_t i = m / 2; i-- > 0;) heap_sift_down(h, m, i);
    for (size_t i = m; i < nv; i++) {
        float v = clean(logits[i]);
        if (v > h[0].logit) { /* on a tie the heap's lower id stays */
            h[0] = (wf_cand){v, (int32_t)i};
            heap_sift_down(h, m, 0);
        }
    }
    size_t n = m;
    if (pen) {
        n = 0;
        for (size_t i = 0; i < m; i++)
            if (ch->count[h[i].id] == 0) h[n++] = h[i]; /* not penalised */
        for (int32_t i = 0; i < ch->n_active; i++) {
            int32_t t = ch->active[i];
            h[n++] = (wf_cand){penalize(ch->p, clean(logits[t]), ch->count[t]), t};
        }
    }
    select_best(h, n, k);
    return k;
}

static int32_t argmax(const chain *ch, const float *logits) {
    top_k_direct(ch, logits, 1);
    return ch->cand[0].id;
}

static float max_logit(const wf_cand *c, size_t n) {
    float m = -INFINITY;
    for (size_t i = 0; i < n; i++)
        if (c[i].logit > m) m = c[i].logit;
    return m;
}

/* Keep the smallest best-first set whose probability reaches p; returns the
 * new count (the kept candidates first, in no particular order).
 * Without a full sort: the weights exp(l - max) are binned by logit into
 * buckets of equal width below the max; whole buckets are kept until the
 * one where the mass is crossed, and only that bucket is ordered. */
#define WF_TOP_P_BUCKETS 512
#define WF_TOP_P_RANGE 32.0 /* logits below max - 32 share the last bucket */
static inline size_t bucket_of(float mx, float l, float scale) {
    float d = (mx - l) * scale; /* >= 0; +inf for -inf logits */
    return d < (float)(WF_TOP_P_BUCKETS - 1) ? (size_t)d : WF_TOP_P_BUCKETS - 1;
}
static size_t apply_top_p(wf_cand *c, size_t n, bool sorted, float p, float *wt) {
    float mx = max_logit(c, n);
    double total = 0.0;
    for (size_t i = 0; i < n; i++) {
        wt[i] = expf(c[i].logit - mx);
        total += wt[i];
    }
    double need = (double)p * total;
    if (sorted) { /* top-k already ordered them */
        double cum = 0.0;
        for (size_t i = 0; i < n; i++) {
            cum += wt[i];
            if (cum >= need) return i + 1;
        }
        return n;
    }

    double mass[WF_TOP_P_BUCKETS] = {0};
    const float scale = (float)(WF_TOP_P_BUCKETS / WF_TOP_P_RANGE);
#define BUCKET(l) bucket_of(mx, (l), scale)
    for (size_t i = 0; i < n; i++) mass[BUCKET(c[i].logit)] += wt[i];
    double cum = 0.0;
    size_t b = 0;
    while (b < WF_TOP_P_BUCKETS - 1 && cum + mass[b] < need) cum += mass[b++];
    /* move buckets < b to the front, then bucket b */
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (BUCKET(c[i].logit) < b) {
            wf_cand t = c[k]; c[k] = c[i]; c[i] = t;
            k++;
        }
    size_t nb = k;
    for (size_t i = k; i < n; i++)
        if (BUCKET(c[i].logit) == b) {
            wf_cand t = c[nb]; c[nb] = c[i]; c[i] = t;
            nb++;
        }
#undef BUCKET
    /* order the crossing bucket only as far as needed */
    wf_cand *cb = c + k;
    size_t len = nb - k;
    for (size_t m = 64;; m *= 8) {
        if (m > len) m = len;
        select_best(cb, len, m);
        double cc = cum;
        for (size_t i = 0; i < m; i++) {
            cc += expf(cb[i].logit - mx); /* as summed into mass[] */
            if (cc >= need) return k + i + 1;
        }
        if (m == len) return nb > 0 ? nb : n; /* rounding: keep the bucket */
    }
}

/* Runs the chain on logits (n_vocab; masked or not, see the top). Returns
 * the number n of candidates kept, ch->cand[0..n) with their weights
 * ch->wt[0..n) (probability = weight / *total), in the order a draw walks
 * them; or 0 when the result is the penalised argmax alone (temperature
 * <= 0, or nothing finite left), which is then ch->cand[0].id. */
/* The chain after the candidates are loaded (c[0..n), sorted best first
 * or not): top-p, min-p, temperature weights. Returns the count kept, or 0
 * when nothing finite is left (the caller takes the argmax). */
static size_t chain_rest(const chain *ch, size_t n, bool sorted, double *total) {
    const wf_sampler_params *p = ch->p;
    wf_cand *c = ch->cand;
    if (p->top_p < 1.0f) {
        n = apply_top_p(c, n, sorted, p->top_p, ch->wt);
        sorted = true;
    }
    float mx = max_logit(c, n);
    if (!(mx > -INFINITY)) return 0; /* nothing finite left */
    if (p->min_p > 0.0f) {
        /* p_i >= min_p * p_max  <=>  logit_i >= max + log(min_p) */
        float thr = mx + logf(p->min_p);
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (c[i].logit >= thr) c[k++] = c[i];
        n = k; /* the max itself always passes */
    }

    /* weights exp((l - max) / T) */
    float inv_t = (float)(1.0 / (double)p->temperature);
    if (!isfinite(inv_t)) return 0; /* T ~ 0: the limit is greedy */
    float *wt = ch->wt;
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        wt[i] = expf((c[i].logit - mx) * inv_t);
        sum += wt[i];
    }
    if (!(sum > 0.0) || !isfinite(sum)) return 0;
    *total = sum;
    return n;
}

static size_t chain_run(const chain *ch, const float *logits, double *total) {
    const wf_sampler_params *p = ch->p;
    if (p->temperature <= 0.0f) return argmax(ch, logits), 0;
    size_t n;
    bool sorted = false;
    if (p->top_k > 0 && p->top_k < ch->n_vocab) {
        n = top_k_direct(ch, logits, (size_t)p->top_k);
        sorted = true;
    } else {
        n = load_candidates(ch, logits);
    }
    n = chain_rest(ch, n, sorted, total);
    if (n == 0) argmax(ch, logits);
    return n;
}

/* One draw over the weights wt[0..n) of c[0..n) (sum total). */
static int32_t draw_from(wf_sampler *s, size_t n, double total) {
    const wf_cand *c = s->cand;
    const float *wt = s->work;
    double r = wf_rng_unif(&s->rng) * total, cum = 0.0;
    size_t last = 0; /* the last candidate with weight > 0 */
    for (size_t i = 0; i < n; i++) {
        if (wt[i] > 0.0f) last = i;
        cum += wt[i];
        if (r < cum) return c[i].id;
    }
    return c[last].id; /* r landed in the rounding gap at the top */
}

/* The chain on the allowed tokens only (gen.h): candidates from the mask's
 * set bits (zero words skipped), top-k by selection among them (the masked
 * chain's top-k of the masked logits keeps the same tokens, banned ones
 * adding weight 0), then the same top-p, min-p and temperature. */
int32_t wf_sampler_sample_masked(wf_sampler *s, const float *logits, const uint32_t *mask) {
    if (!s || !logits || !mask || s->p.temperature <= 0.0f) return -1;
    s->drawn_full = false;
    const wf_sampler_params *p = &s->p;
    const chain ch = {&s->p, s->n_vocab, s->count, s->active, s->n_active, s->cand, s->work};
    const bool pen = penalties_on(p) && s->n_active > 0;
    const int32_t nv = s->n_vocab;
    wf_cand *c = s->cand;
    size_t n = 0;
    for (int32_t w = 0; w * 32 < nv; w++)
        for (uint32_t bits = mask[w]; bits; bits &= bits - 1) {
            const int32_t i = w * 32 + __builtin_ctz(bits);
            if (i >= nv) break;
            float v = clean(logits[i]);
            if (pen && s->count[i] > 0) v = penalize(p, v, s->count[i]);
            c[n++] = (wf_cand){v, i};
        }
    if (n == 0) return -1;
    bool sorted = false;
    if (p->top_k > 0 && (size_t)p->top_k < n) {
        select_best(c, n, (size_t)p->top_k);
        n = (size_t)p->top_k;
        sorted = true;
    }
    double total = 0.0;
    if ((n = chain_rest(&ch, n, sorted, &total)) == 0) return -1;
    return draw_from(s, n, total);
}

/* ---- the sampler: its own history and PRNG -------------------------------- */

int32_t wf_sampler_sample(wf_sampler *s, const float *logits) {
    if (!s || !logits) return -1;
    const chain ch = {&s->p, s->n_vocab, s->count, s->active, s->n_active, s->cand, s->work};
    double total = 0.0;
    const size_t n = chain_run(&ch, logits, &total);
    s->drawn_full = n == (size_t)s->n_vocab && wf_sampler_untruncated(&s->p);
    if (n == 0) return s->cand[0].id;
    return draw_from(s, n, total); /* one draw over the weights' sum */
}

bool wf_sampler_untruncated(const wf_sampler_params *p) {
    return p && p->temperature > 0.0f && p->top_k <= 0 && p->top_p >= 1.0f && p->min_p <= 0.0f;
}

/* Constrained sampling without building masked logits (gen.h). After an
 * untruncated draw, work[i] is token i's weight exp((l_i - max) / T) and
 * cand[i].id == i. The allowed tokens' weights are summed from the mask's
 * set bits and one of them drawn; a first draw that missed plus this one
 * pick x in A with w_x/W + (1 - W_A/W) * w_x/W_A = w_x/W_A, exactly the
 * masked distribution. When the best allowed weight is tiny (< 1e-8 of the
 * best token's), allowed tokens far below it could have underflowed to 0
 * although they carry mass among A: -1, and the caller masks the logits. */
int32_t wf_sampler_redraw_masked(wf_sampler *s, const uint32_t *mask) {
    if (!s || !mask || !s->drawn_full) return -1;
    s->drawn_full = false;
    const float *wt = s->work;
    const int32_t nv = s->n_vocab, full_words = nv / 32;
    /* the allowed mass, 32 tokens at a time: whole words (a string body
     * allows nearly everything) as plain sums, the others bit by bit */
    double sum = 0.0;
    float best = 0.0f;
    for (int32_t w = 0; w * 32 < nv; w++) {
        uint32_t bits = mask[w];
        if (!bits) continue;
        const float *x = wt + (size_t)w * 32;
        float ws = 0.0f, wb = 0.0f;
        if (bits == 0xffffffffu && w < full_words) {
            for (int i = 0; i < 32; i++) ws += x[i], wb = x[i] > wb ? x[i] : wb;
        } else {
            for (; bits; bits &= bits - 1) {
                int i = __builtin_ctz(bits);
                if (w * 32 + i >= nv) break;
                ws += x[i], wb = x[i] > wb ? x[i] : wb;
            }
        }
        sum += ws;
        best = wb > best ? wb : best;
    }
    if (!(best >= 1e-8f) || !(sum > 0.0) || !isfinite(sum)) return -1;
    double r = wf_rng_unif(&s->rng) * sum, cum = 0.0;
    int32_t last = -1; /* the last allowed token with weight > 0 */
    for (int32_t w = 0; w * 32 < nv; w++) {
        uint32_t bits = mask[w];
        if (!bits) continue;
        const float *x = wt + (size_t)w * 32;
        if (bits == 0xffffffffu && w < full_words) { /* skip the word when r lies past it */
            float ws = 0.0f;
            for (int i = 0; i < 32; i++) ws += x[i];
            if (cum + ws < r) {
                cum += ws;
                for (int i = 31; i >= 0; i--)
                    if (x[i] > 0.0f) { last = w * 32 + i; break; }
                continue;
            }
        }
        for (; bits; bits &= bits - 1) {
            int i = __builtin_ctz(bits);
            if (w * 32 + i >= nv) break;
            if (x[i] > 0.0f) last = w * 32 + i;
            cum += x[i];
            if (r < cum) return w * 32 + i;
        }
    }
    return last; /* r landed in the rounding gap at the top */
}

/* Constrained sampling that tests the best tokens one by one instead of
 * masking the vocabulary (gen.h). The m best penalised candidates, sorted
 * (top_k_direct), are filtered by ok() in order: a_1 > a_2 > ... > a_n are
 * then exactly the n best allowed tokens, and every token past the m has a
 * logit <= l_m, so the allowed ones there that the chain could keep weigh
 * at most U = u exp(l_m - l_1) at temperature 1 (relative to a_1), with u
 * = top_k - n under a top-k, else n_vocab - m.
 * The masked chain keeps top-k, then top-p, then min-p of the allowed
 * tokens; its kept set is known from a_1..a_n when
 *   - n >= top_k (the allowed top-k are a_1..a_k), or all tokens were seen;
 *   - or top-p cuts inside a_1..a_n for every allowed mass T in
 *     [C_n, C_n + U]: C_j >= p (C_n + U) and C_(j-1) < p C_n;
 *   - or without top-p, min-p cuts below l_m (l_m < l_1 + log min_p).
 * Then the draw is over exactly that set with the chain's weights; else -1
 * (after a second try with 1024 candidates): mask and run the chain. */
#define WF_LAZY_M1 64
#define WF_LAZY_M2 1024
int32_t wf_sampler_sample_lazy(wf_sampler *s, const float *logits, wf_token_test ok, void *user) {
    if (!s || !logits || !ok) return -1;
    s->drawn_full = false;
    const wf_sampler_params *p = &s->p;
    const chain ch = {&s->p, s->n_vocab, s->count, s->active, s->n_active, s->cand, s->work};
    const size_t nv = (size_t)s->n_vocab;
    const bool greedy = p->temperature <= 0.0f;
    const size_t kk = greedy ? 1 : p->top_k > 0 && (size_t)p->top_k < nv ? (size_t)p->top_k : nv;
    wf_cand *c = s->cand;
    float *wt = s->work;
    size_t m = kk < WF_LAZY_M1 / 2 || kk == nv ? WF_LAZY_M1 : 2 * kk;
    for (int round = 0; round < 2; round++) {
        if (round) {
            if (m >= WF_LAZY_M2 || m >= nv) return -1;
            m = WF_LAZY_M2;
        }
        if (m > nv) m = nv;
        const size_t got = top_k_direct(&ch, logits, m);
        if (got == 0) return -1;
        const float l_m = c[got - 1].logit;
        const bool all = got == nv;
        size_t n = 0;
        for (size_t i = 0; i < got && n < kk; i++)
            if (ok(user, c[i].id)) c[n++] = c[i];
        if (n == 0) continue;
        const float l1 = c[0].logit;
        if (!(l1 > -INFINITY)) return -1; /* nothing finite allowed: the chain's argmax rule */
        if (greedy) return c[0].id;
        const bool known = n >= kk || all; /* the allowed top-k are a_1..a_n */
        size_t keep = n;
        if (p->top_p < 1.0f) {
            double total = 0.0;
            for (size_t i = 0; i < n; i++) total += wt[i] = expf(c[i].logit - l1);
            /* at most kk - n unseen tokens can join the top-k, each <= l_m */
            const size_t unseen = kk < nv ? kk - n : nv - got;
            const double u = known ? 0.0 : (double)unseen * exp((double)l_m - (double)l1);
            const double need_lo = (double)p->top_p * total, need_hi = (double)p->top_p * (total + u);
            double cum = 0.0;
            keep = 0;
            for (size_t i = 0; i < n; i++) {
                if (cum >= need_lo) break; /* the cut depends on the unseen mass */
                cum += wt[i];
                if (cum >= need_hi) { keep = i + 1; break; }
            }
            if (keep == 0) continue;
        } else if (!known && !(p->min_p > 0.0f && l_m < l1 + logf(p->min_p))) {
            continue;
        }
        if (p->min_p > 0.0f) {
            const float thr = l1 + logf(p->min_p);
            size_t k = 0;
            for (size_t i = 0; i < keep; i++)
                if (c[i].logit >= thr) c[k++] = c[i];
            keep = k;
        }
        const float inv_t = (float)(1.0 / (double)p->temperature);
        if (!isfinite(inv_t)) return c[0].id; /* T ~ 0: greedy */
        double sum = 0.0;
        for (size_t i = 0; i < keep; i++) sum += wt[i] = expf((c[i].logit - l1) * inv_t);
        if (!(sum > 0.0) || !isfinite(sum)) return -1;
        double r = wf_rng_unif(&s->rng) * sum, cum = 0.0;
        size_t last = 0;
        for (size_t i = 0; i < keep; i++) {
            if (wt[i] > 0.0f) last = i;
            cum += wt[i];
            if (r < cum) return c[i].id;
        }
        return c[last].id;
    }
    return -1;
}

/* Greedy over a mask (gen.h): the best penalised logit among the set bits,
 * ties to the lowest id, as argmax over the masked logits picks. Whole
 * zero words are skipped, so a state that allows few tokens costs n/32. */
int32_t wf_sampler_argmax_masked(wf_sampler *s, const float *logits, const uint32_t *mask) {
    if (!s || !logits || !mask || s->p.temperature > 0.0f) return -1;
    s->drawn_full = false;
    const bool pen = penalties_on(&s->p) && s->n_active > 0;
    const int32_t nv = s->n_vocab;
    int32_t best = -1;
    float bv = -INFINITY;
    for (int32_t w = 0; w * 32 < nv; w++)
        for (uint32_t bits = mask[w]; bits; bits &= bits - 1) {
            const int32_t i = w * 32 + __builtin_ctz(bits);
            if (i >= nv) break;
            float v = clean(logits[i]);
            if (pen && s->count[i] > 0) v = penalize(&s->p, v, s->count[i]);
            if (v > bv) bv = v, best = i;
        }
    return best; /* -1: nothing allowed is finite (the caller masks: the chain's rule) */
}

/* ---- the chain for a given history (speculative sampling) ----------------- */

size_t wf_sampler_dist_work_size(int32_t n_vocab) {
    size_t nv = (size_t)(n_vocab > 0 ? n_vocab : 0);
    return nv * (sizeof(wf_cand) + sizeof(float) + 2 * sizeof(int32_t));
}

/* A chain working in work (wf_sampler_dist_work_size bytes) whose penalty
 * window is the last repeat_last_n tokens of h1 ++ h2 (the sampler's window
 * is the tokens it was told about with wf_sampler_accept). */
static chain history_chain(const wf_sampler_params *sp, int32_t nv, const int32_t *h1, size_t n1,
                           const int32_t *h2, size_t n2, void *work) {
    wf_cand *cand = work;
    float *wt = (float *)(cand + nv);
    int32_t *count = (int32_t *)(wt + nv), *active = count + nv;
    memset(count, 0, (size_t)nv * sizeof *count);
    int32_t n_active = 0;
    if (penalties_on(sp)) {
        size_t n = n1 + n2, w = sp->repeat_last_n < 0 ? n : (size_t)sp->repeat_last_n;
        for (size_t i = n > w ? n - w : 0; i < n; i++) {
            int32_t t = i < n1 ? h1[i] : h2[i - n1];
            if (t < 0 || t >= nv || count[t] == INT32_MAX) continue;
            if (count[t]++ == 0) active[n_active++] = t;
        }
    }
    return (chain){sp, nv, count, active, n_active, cand, wt};
}

void wf_sampler_dist(const wf_sampler_params *sp, const float *logits, int32_t n_vocab, const int32_t *h1,
                     size_t n1, const int32_t *h2, size_t n2, float *out, void *work) {
    const chain ch = history_chain(sp, n_vocab, h1, n1, h2, n2, work);
    memset(out, 0, (size_t)n_vocab * sizeof *out);
    double total = 0.0;
    const size_t n = chain_run(&ch, logits, &total);
    if (n == 0) {
        out[ch.cand[0].id] = 1.0f;
        return;
    }
    for (size_t i = 0; i < n; i++) out[ch.cand[i].id] = (float)(ch.wt[i] / total);
}

int32_t wf_sampler_argmax(const wf_sampler_params *sp, const float *logits, int32_t n_vocab, const int32_t *h1,
                          size_t n1, const int32_t *h2, size_t n2, void *work) {
    const chain ch = history_chain(sp, n_vocab, h1, n1, h2, n2, work);
    return argmax(&ch, logits);
}

double wf_logprobs(const float *logits, int32_t n_vocab, int32_t k, int32_t *top_id, double *top_lp, int32_t *n_top) {
    double mx = -INFINITY;
    for (int32_t i = 0; i < n_vocab; i++)
        if (logits[i] > mx) mx = logits[i];
    double sum = 0;
    for (int32_t i = 0; i < n_vocab; i++) sum += exp((double)logits[i] - mx);
    const double lse = mx + log(sum);
    int32_t n = 0; /* insertion into a sorted list; an equal value goes after */
    for (int32_t i = 0; i < n_vocab && k > 0; i++) {
        const float v = logits[i];
        if (n == k && !(v > logits[top_id[n - 1]])) continue;
        int32_t j = n < k ? n++ : k - 1;
        while (j > 0 && v > logits[top_id[j - 1]]) {
            top_id[j] = top_id[j - 1];
            j--;
        }
        top_id[j] = i;
    }
    for (int32_t j = 0; j < n; j++) top_lp[j] = (double)logits[top_id[j]] - lse;
    if (n_top) *n_top = n;
    return lse;
}
