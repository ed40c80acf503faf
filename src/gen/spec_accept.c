/* spec_accept.c — the speculative-sampling acceptance rule, for a draft
 * model at temperature > 0 (docs/generate.md has the proof that the rule
 * preserves the target's distribution).
 *
 * The target's p and the draft's q both come from the sampling chain
 * (wf_sampler_dist, sampler.c), with the same parameters and history; this
 * file only draws from them and decides which token is emitted.
 */
#include "gen/gen.h"

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
