/* rope.c — rotary position embeddings, with linear and YaRN context scaling.
 *
 * Pair i (0 <= i < rope_dim/2) rotates by angle pos * theta[i], where
 *   theta_extrap[i] = base^(-2i/rope_dim) / freq_factor[i]
 *   linear:  theta = theta_extrap / factor
 *   YaRN (as llama.cpp's ggml rope does it): with corr dims
 *     low  = max(0, floor(d(beta_fast))), high = min(rope_dim-1, ceil(d(beta_slow))),
 *     d(b) = rope_dim * ln(orig_ctx / (2*pi*b)) / (2 ln base),
 *   mix = 1 - clamp((i - low) / max(0.001, high - low), 0, 1)
 *   theta = theta_extrap/factor * (1 - mix) + theta_extrap * mix
 *   and cos/sin are scaled by mscale = attn_factor * (1 + 0.1 ln factor),
 *   so q·k grows by mscale² (HF transformers' attention_factor does the same).
 * Angles are formed in double: pos * theta at 100k+ positions loses whole
 * milliradians in float.
 */
#include "model/model_int.h"

#include <math.h>
#include <stdlib.h>

static double yarn_corr_dim(int32_t n_dims, int32_t n_ctx_orig, double n_rot, double base) {
    return n_dims * log((double)n_ctx_orig / (n_rot * 2.0 * M_PI)) / (2.0 * log(base));
}

wf_status wf_rope_init(wf_rope *r, const wf_hparams *hp, const float *freq_factors,
                       wf_error *err) {
    memset(r, 0, sizeof *r);
    const int32_t nd = hp->rope_dim;
    if (nd <= 0 || nd % 2) return wf_fail(err, WF_ERR_FORMAT, "rope dimension %d must be even and positive", nd);
    r->rope_dim = nd;
    r->order = hp->rope_order;
    r->mscale = 1.0f;
    r->theta = malloc(sizeof(double) * (size_t)(nd / 2));
    if (!r->theta) return wf_fail(err, WF_ERR_NOMEM, "rope table");
    const double base = hp->rope_base;
    const double factor = hp->rope_factor > 0 ? hp->rope_factor : 1.0;
    double low = 0, high = 0;
    const bool yarn = hp->rope_scaling == WF_ROPE_SCALING_YARN && factor != 1.0;
    if (yarn) {
        low = floor(yarn_corr_dim(nd, hp->rope_orig_ctx, hp->yarn_beta_fast, base));
        high = ceil(yarn_corr_dim(nd, hp->rope_orig_ctx, hp->yarn_beta_slow, base));
        if (low < 0) low = 0;
        if (high > nd - 1) high = nd - 1;
        r->mscale = (float)(hp->yarn_attn_factor * (1.0 + 0.1 * log(factor)));
    } else if (hp->rope_scaling == WF_ROPE_SCALING_YARN) {
        r->mscale = hp->yarn_attn_factor;
    }
    for (int32_t i = 0; i < nd / 2; i++) {
        double extrap = pow(base, -2.0 * i / nd);
        if (freq_factors) extrap /= freq_factors[i];
        double th = extrap;
        if (hp->rope_scaling == WF_ROPE_SCALING_LINEAR) {
            th = extrap / factor;
        } else if (yarn) {
            double span = high - low;
            if (span < 0.001) span = 0.001;
            double y = (i - low) / span;
            y = y < 0 ? 0 : (y > 1 ? 1 : y);
            const double mix = 1.0 - y; /* 1: keep (extrapolate), 0: interpolate */
            th = extrap / factor * (1.0 - mix) + extrap * mix;
        }
        r->theta[i] = th;
    }
    return WF_OK;
}

void wf_rope_free(wf_rope *r) {
    if (!r) return;
    free(r->theta);
    r->theta = NULL;
}

void wf_rope_table(const wf_rope *r, int64_t pos, float *cs) {
    for (int32_t i = 0; i < r->rope_dim / 2; i++) {
        const double a = (double)pos * r->theta[i];
        cs[2 * i] = (float)cos(a) * r->mscale;
        cs[2 * i + 1] = (float)sin(a) * r->mscale;
    }
}

void wf_rope_apply(const wf_rope *r, float *x, int32_t n_heads, int32_t head_dim,
                   const float *cs) {
    const int32_t half = r->rope_dim / 2;
    for (int32_t h = 0; h < n_heads; h++) {
        float *xh = x + (int64_t)h * head_dim;
        for (int32_t i = 0; i < half; i++) {
            const float c = cs[2 * i], s = cs[2 * i + 1];
            /* NORM: adjacent pairs; NEOX: element i with element i + half */
            const int32_t a = r->order == WF_ROPE_NORM ? 2 * i : i;
            const int32_t b = r->order == WF_ROPE_NORM ? 2 * i + 1 : i + half;
            const float x0 = xh[a], x1 = xh[b];
            xh[a] = x0 * c - x1 * s;
            xh[b] = x0 * s + x1 * c;
        }
        /* dims beyond rope_dim pass through; llama.cpp scales them by
         * nothing either (mscale only touches the rotated part). */
    }
}
