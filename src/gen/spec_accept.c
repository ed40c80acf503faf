/* spec_sample.c — the sampling chain written out as a probability vector,
 * and the speculative-sampling acceptance rule, for a draft model at
 * temperature > 0 (docs/generate.md has the proof that the rule preserves
 * the target's distribution).
 *
 * wf_spec_dist follows the definitions wf_sampler_sample uses (sampler.c):
 * penalties over the history window, top-k, top-p at temperature 1, min-p,
 * softmax at the temperature; ties order by lower id. It makes no draw, so
 * both the target's p and the draft's q come from the same code.
 */
#include "gen/gen.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>

/* ---- PRNG: xoshiro256** seeded through splitmix64 ------------------------- */

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

/* ---- the chain ------------------------------------------------------------ */

typedef struct cand {
    float logit;
    int32_t id;
} cand;

size_t wf_spec_dist_work_size(int32_t n_vocab) {
    return (size_t)(n_vocab > 0 ? n_vocab : 0) * (sizeof(cand) + sizeof(int32_t));
}

static inline float clean(float x) { return isnan(x) ? -INFINITY : x > FLT_MAX ? FLT_MAX : x; }

static bool penalties_on(const wf_sampler_params *p) {
    return p->repeat_last_n != 0 &&
           (p->repeat_penalty != 1.0f || p->presence_penalty != 0.0f || p->frequency_penalty != 0.0f);
}

/* The order of the chain: higher logit first, then lower id. */
static inline bool better(const cand *a, const cand *b) {
    return a->logit > b->logit || (a->logit == b->logit && a->id < b->id);
}

static void sift_down(cand *h, size_t n, size_t i) { /* min-heap on better: root = worst kept */
    cand x = h[i];
    for (;;) {
        size_t ch = 2 * i + 1;
        if (ch >= n) break;
        if (ch + 1 < n && better(&h[ch], &h[ch + 1])) ch++;
        if (!better(&x, &h[ch])) break;
        h[i] = h[ch];
        i = ch;
    }
    h[i] = x;
}

/* Move the m best of c[0..n) to c[0..m), sorted best first: O(n log m),
 * so a 150k vocabulary costs one pass, not a full sort. */
static void select_best(cand *c, size_t n, size_t m) {
    if (m > n) m = n;
    if (m == 0) return;
    for (size_t i = m / 2; i-- > 0;) sift_down(c, m, i);
    for (size_t i = m; i < n; i++)
        if (better(&c[i], &c[0])) {
            cand t = c[0];
            c[0] = c[i];
            c[i] = t;
            sift_down(c, m, 0);
        }
    for (size_t e = m; e-- > 1;) {
        cand t = c[0];
        c[0] = c[e];
        c[e] = t;
        sift_down(c, e, 0);
    }
}

/* Penalised, cleaned logits into c[0..n_vocab) (c[i].id = i). count is
 * n_vocab zeroed int32 scratch, left zeroed. */
static void load(const wf_sampler_params *sp, const float *logits, int32_t nv, const int32_t *h1, size_t n1,
                 const int32_t *h2, size_t n2, cand *c, int32_t *count) {
    for (int32_t i = 0; i < nv; i++) c[i] = (cand){clean(logits[i]), i};
    if (!penalties_on(sp)) return;
    size_t n = n1 + n2, w = sp->repeat_last_n < 0 ? n : (size_t)sp->repeat_last_n;
    size_t from = n > w ? n - w : 0;
    for (size_t i = from; i < n; i++) {
        int32_t t = i < n1 ? h1[i] : h2[i - n1];
        if (t >= 0 && t < nv && count[t] < INT32_MAX) count[t]++;
    }
    for (size_t i = from; i < n; i++) {
        int32_t t = i < n1 ? h1[i] : h2[i - n1];
        if (t < 0 || t >= nv || count[t] == 0) continue;
        float l = c[t].logit;
        if (sp->repeat_penalty != 1.0f) l = l > 0.0f ? l / sp->repeat_penalty : l * sp->repeat_penalty;
        l -= (float)count[t] * sp->frequency_penalty;
        l -= sp->presence_penalty;
        c[t].logit = l;
        count[t] = 0; /* once per distinct token; leaves the scratch zeroed */
    }
}

static int32_t best_of(const cand *c, int32_t n) {
    int32_t b = 0;
    for (int32_t i = 1; i < n; i++)
        if (c[i].logit > c[b].logit) b = i; /* ties keep the lower id (c is in id order) */
    return c[b].id;
}

int32_t wf_spec_argmax(const wf_sampler_params *sp, const float *logits, int32_t nv, const int32_t *h1, size_t n1,
                       const int32_t *h2, size_t n2, void *work) {
    cand *c = work;
    int32_t *count = (int32_t *)(c + nv);
    memset(count, 0, (size_t)nv * sizeof *count);
    load(sp, logits, nv, h1, n1, h2, n2, c, count);
    return best_of(c, nv);
}

void wf_spec_dist(const wf_sampler_params *sp, const float *logits, int32_t nv, const int32_t *h1, size_t n1,
                  const int32_t *h2, size_t n2, float *out, void *work) {
    cand *c = work;
    int32_t *count = (int32_t *)(c + nv);
    memset(count, 0, (size_t)nv * sizeof *count);
    memset(out, 0, (size_t)nv * sizeof *out);
    load(sp, logits, nv, h1, n1, h2, n2, c, count);
    const int32_t am = best_of(c, nv);
    if (sp->temperature <= 0.0f) { out[am] = 1.0f; return; }
    size_t n = (size_t)nv;
    bool sorted = false;
    if (sp->top_k > 0 && sp->top_k < nv) {
        n = (size_t)sp->top_k;
        select_best(c, (size_t)nv, n);
        sorted = true;
    }
    if (sp->top_p < 1.0f) {
        /* the smallest best-first set reaching top_p of the mass: order a
         * growing prefix of the best until the mass is reached */
        float mx = -INFINITY;
        for (size_t i = 0; i < n; i++) mx = c[i].logit > mx ? c[i].logit : mx;
        double total = 0.0;
        for (size_t i = 0; i < n; i++) total += expf(c[i].logit - mx);
        const double need = (double)sp->top_p * total;
        size_t keep = n;
        for (size_t m = sorted ? n : 64;; m *= 8) {
            if (m > n) m = n;
            if (!sorted) select_best(c, n, m);
            double cum = 0.0;
            size_t i = 0;
            for (; i < m; i++) {
                cum += expf(c[i].logit - mx);
                if (cum >= need) break;
            }
            if (i < m) { keep = i + 1; break; }
            if (m == n) break; /* rounding: keep all */
        }
        n = keep;
    }
    float mx = -INFINITY;
    for (size_t i = 0; i < n; i++) mx = c[i].logit > mx ? c[i].logit : mx;
    if (!(mx > -INFINITY)) { out[am] = 1.0f; return; }
    if (sp->min_p > 0.0f) {
        const float thr = mx + logf(sp->min_p);
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (c[i].logit >= thr) c[k++] = c[i];
        n = k;
    }
    const double inv_t = 1.0 / (double)sp->temperature;
    if (!isfinite(inv_t)) { out[am] = 1.0f; return; }
    double total = 0.0;
    for (size_t i = 0; i < n; i++) total += exp(((double)c[i].logit - mx) * inv_t);
    if (!(total > 0.0) || !isfinite(total)) { out[am] = 1.0f; return; }
    for (size_t i = 0; i < n; i++) out[c[i].id] = (float)(exp(((double)c[i].logit - mx) * inv_t) / total);
}

/* ---- draws and the acceptance rule ---------------------------------------- */

int32_t wf_spec_draw(const float *p, int32_t n, wf_rng *r) {
    double total = 0.0;
    int32_t last = -1;
    for (int32_t i = 0; i < n; i++)
        if (p[i] > 0.0f) total += p[i], last = i;
    if (last < 0) return 0;
    double u = wf_rng_unif(r) * total, cum = 0.0;
    for (int32_t i = 0; i < n; i++) {
        if (!(p[i] > 0.0f)) continue;
        cum += p[i];
        if (u < cum) return i;
    }
    return last; /* u landed in the rounding gap at the top */
}

int32_t wf_spec_accept(const float *p, const float *q, int32_t n, int32_t x, wf_rng *r, bool *accepted) {
    *accepted = false;
    if (x >= 0 && x < n && q[x] > 0.0f) {
        /* u < p/q with u uniform in [0,1): probability min(1, p/q) */
        if (wf_rng_unif(r) * (double)q[x] < (double)p[x]) {
            *accepted = true;
            return x;
        }
    }
    double total = 0.0;
    for (int32_t i = 0; i < n; i++) {
        double d = (double)p[i] - (double)q[i];
        if (d > 0) total += d;
    }
    if (!(total > 1e-12)) return wf_spec_draw(p, n, r);
    double u = wf_rng_unif(r) * total, cum = 0.0;
    int32_t last = 0;
    for (int32_t i = 0; i < n; i++) {
        double d = (double)p[i] - (double)q[i];
        if (!(d > 0)) continue;
        cum += d;
        last = i;
        if (u < cum) return i;
    }
    return last;
}
