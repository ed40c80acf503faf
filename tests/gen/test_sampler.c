/* test_sampler.c — the sampling chain and the stop-string matcher.
 *
 * The sampler is checked only through what it returns, against expectations
 * computed here from the definitions (full sorts and softmax in double):
 * greedy is the argmax; penalties move a token exactly across a threshold
 * derived by hand; top-k / top-p / min-p draw exactly the allowed sets;
 * temperature draws follow softmax(logits / T) (chi-square); seeds repeat;
 * a draw over every token, redrawn from the allowed ones on a miss
 * (wf_sampler_redraw_masked, constrained decoding), follows the softmax of
 * the allowed tokens alone (chi-square), and the redraw declines where it
 * does not apply; constrained truncated sampling that tests the best tokens
 * (wf_sampler_sample_lazy) follows the masked chain's distribution computed
 * here from the definitions (chi-square).
 * The stop matcher is checked on hand-made cases and against a brute-force
 * oracle over random texts, stop lists and chunkings.
 */
#include "gen/gen.h"
#include "gen/stop.h"
#include "testutil.h"

#include <float.h>

/* ---- helpers ------------------------------------------------------------- */

static wf_sampler *make(wf_sampler_params p, int32_t nv) {
    wf_sampler *s = NULL;
    wf_error err = {0};
    wf_status st = wf_sampler_create(&p, nv, &s, &err);
    CHECK(st == WF_OK, "create: %s", err.msg);
    return s;
}

static wf_sampler_params plain(void) {
    wf_sampler_params p = wf_sampler_default_params();
    p.temperature = 1.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.repeat_penalty = 1.0f;
    p.presence_penalty = 0.0f;
    p.frequency_penalty = 0.0f;
    p.repeat_last_n = 64;
    p.seed = 42;
    return p;
}

/* ---- parameters ---------------------------------------------------------- */

static void test_params(void) {
    struct { const char *what; wf_sampler_params p; int32_t nv; } bad[16];
    int nb = 0;
    wf_sampler_params p;
#define BAD(field, value) \
    (p = plain(), p.field = (value), bad[nb].what = #field " = " #value, bad[nb].p = p, bad[nb++].nv = 10)
    BAD(temperature, NAN);
    BAD(temperature, INFINITY);
    BAD(top_p, 0.0f);
    BAD(top_p, -0.5f);
    BAD(top_p, NAN);
    BAD(min_p, NAN);
    BAD(min_p, 1.5f);
    BAD(repeat_penalty, 0.0f);
    BAD(repeat_penalty, -1.0f);
    BAD(repeat_penalty, NAN);
    BAD(repeat_last_n, -2);
    BAD(presence_penalty, NAN);
    BAD(frequency_penalty, INFINITY);
#undef BAD
    for (int i = 0; i < nb; i++) {
        wf_sampler *s = NULL;
        wf_error err = {0};
        wf_status st = wf_sampler_create(&bad[i].p, bad[i].nv, &s, &err);
        CHECK(st == WF_ERR_INVALID_ARG && s == NULL && err.msg[0], "%s accepted", bad[i].what);
    }
    wf_sampler *s = NULL;
    wf_error err = {0};
    p = plain();
    CHECK(wf_sampler_create(&p, 0, &s, &err) == WF_ERR_INVALID_ARG, "n_vocab 0 accepted");
    /* fine: negative temperature (greedy), top_p above 1 (off), NULL params */
    p.temperature = -1.0f;
    p.top_p = 1.5f;
    CHECK(wf_sampler_create(&p, 10, &s, &err) == WF_OK, "valid params refused: %s", err.msg);
    wf_sampler_free(s);
    s = NULL;
    CHECK(wf_sampler_create(NULL, 10, &s, &err) == WF_OK && s, "NULL params (defaults) refused");
    wf_sampler_free(s);
    wf_sampler_free(NULL);
}

/* ---- greedy -------------------------------------------------------------- */

static void test_greedy(void) {
    t_rng rng = {99};
    wf_sampler_params p = plain();
    p.temperature = 0.0f;
    enum { NV = 1000 };
    wf_sampler *s = make(p, NV);
    float *l = malloc(NV * sizeof *l);
    int bad = 0;
    for (int k = 0; k < 200; k++) {
        int32_t best = 0;
        for (int i = 0; i < NV; i++) {
            l[i] = t_gauss(&rng) * 5.0f;
            if (l[i] > l[best]) best = i;
        }
        if (wf_sampler_sample(s, l) != best) bad++;
    }
    CHECK(bad == 0, "greedy differs from argmax %d times", bad);
    /* ties go to the lowest id; NaN never wins */
    for (int i = 0; i < NV; i++) l[i] = 1.0f;
    l[500] = l[700] = 2.0f;
    l[3] = NAN;
    CHECK(wf_sampler_sample(s, l) == 500, "tie -> lowest id");
    l[0] = NAN;
    l[500] = l[700] = 1.0f;
    CHECK(wf_sampler_sample(s, l) == 1, "all equal (with NaNs) -> lowest non-NaN id, got %d",
          wf_sampler_sample(s, l));
    wf_sampler_free(s);
    /* negative temperature is greedy too */
    p.temperature = -0.5f;
    s = make(p, NV);
    for (int i = 0; i < NV; i++) l[i] = (float)(i % 97);
    CHECK(wf_sampler_sample(s, l) == 96, "negative temperature is greedy");
    wf_sampler_free(s);
    free(l);
}

/* ---- penalties ------------------------------------------------------------ */

/* Token 0 has logit a and has been seen `count` times; token 1 has logit
 * `pen` +- a margin, where pen is the penalised value computed by hand.
 * The argmax must flip exactly there, in greedy mode and through the
 * sampling path (top_k = 1). */
static void penalty_case(const char *what, wf_sampler_params p, float a, int count, float pen) {
    for (int mode = 0; mode < 2; mode++) {
        p.temperature = mode ? 1.0f : 0.0f;
        p.top_k = mode ? 1 : 0;
        wf_sampler *s = make(p, 4);
        if (!s) return;
        for (int i = 0; i < count; i++) wf_sampler_accept(s, 0);
        float margin = 1e-3f * (fabsf(pen) + 1.0f);
        float above[4] = {a, pen + margin, -100.0f, -100.0f};
        float below[4] = {a, pen - margin, -100.0f, -100.0f};
        int32_t ta = wf_sampler_sample(s, above), tb = wf_sampler_sample(s, below);
        CHECK(ta == 1 && tb == 0, "%s (%s): penalised value should be %g; got %d above, %d below", what,
              mode ? "sampling" : "greedy", (double)pen, ta, tb);
        wf_sampler_free(s);
    }
}

static void test_penalties(void) {
    wf_sampler_params p = plain();
    p.repeat_penalty = 1.5f;
    penalty_case("repeat, positive logit", p, 3.0f, 1, 2.0f);        /* 3 / 1.5 */
    penalty_case("repeat, negative logit", p, -2.0f, 1, -3.0f);      /* -2 * 1.5 */
    penalty_case("repeat, count does not matter", p, 3.0f, 5, 2.0f);
    p.repeat_penalty = 0.5f; /* < 1 rewards repeats */
    penalty_case("repeat 0.5, positive logit", p, 3.0f, 1, 6.0f);
    p = plain();
    p.presence_penalty = 0.75f;
    penalty_case("presence", p, 1.0f, 3, 0.25f);                     /* once, not per count */
    p = plain();
    p.frequency_penalty = 0.5f;
    penalty_case("frequency", p, 1.0f, 3, -0.5f);                    /* 1 - 3 * 0.5 */
    p = plain();
    p.repeat_penalty = 2.0f;
    p.presence_penalty = 0.5f;
    p.frequency_penalty = 0.25f;
    penalty_case("all three", p, 4.0f, 2, 4.0f / 2.0f - 0.5f - 2 * 0.25f);
    penalty_case("all three, negative", p, -1.0f, 2, -1.0f * 2.0f - 0.5f - 2 * 0.25f);

    /* the window: only the last repeat_last_n accepted tokens count */
    p = plain();
    p.frequency_penalty = 1.0f;
    p.repeat_last_n = 4;
    p.temperature = 0.0f;
    wf_sampler *s = make(p, 4);
    int32_t hist[] = {0, 0, 2, 2, 2, 0}; /* window now: 2 2 2 0 -> count(0) = 1 */
    for (int i = 0; i < 6; i++) wf_sampler_accept(s, hist[i]);
    float l1[4] = {3.0f, 2.0f - 1e-3f, -9.0f, -9.0f}; /* 0 -> 2.0 */
    float l2[4] = {3.0f, 2.0f + 1e-3f, -9.0f, -9.0f};
    CHECK(wf_sampler_sample(s, l1) == 0 && wf_sampler_sample(s, l2) == 1, "window of 4: count(0) must be 1");
    float l3[4] = {-9.0f, -9.0f, 3.0f, 0.0f - 1e-3f}; /* 2 -> 3 - 3 = 0 */
    float l4[4] = {-9.0f, -9.0f, 3.0f, 0.0f + 1e-3f};
    CHECK(wf_sampler_sample(s, l3) == 2 && wf_sampler_sample(s, l4) == 3, "window of 4: count(2) must be 3");
    wf_sampler_reset(s); /* forgets the history */
    float l5[4] = {3.0f, 2.9f, -9.0f, -9.0f};
    CHECK(wf_sampler_sample(s, l5) == 0, "reset clears the penalties");
    wf_sampler_accept(s, -1); /* out of range: ignored */
    wf_sampler_accept(s, 4);
    CHECK(wf_sampler_sample(s, l5) == 0, "out-of-range accept ignored");
    wf_sampler_free(s);

    /* -1: the whole history; 0: off */
    p.repeat_last_n = -1;
    s = make(p, 4);
    for (int i = 0; i < 300; i++) wf_sampler_accept(s, i < 3 ? 0 : 3);
    float l6[4] = {3.0f, 0.0f + 1e-3f, -9.0f, -9.0f}; /* 0 -> 3 - 3 = 0 */
    float l7[4] = {3.0f, 0.0f - 1e-3f, -9.0f, -9.0f};
    CHECK(wf_sampler_sample(s, l6) == 1 && wf_sampler_sample(s, l7) == 0, "repeat_last_n -1 keeps all");
    wf_sampler_free(s);
    p.repeat_last_n = 0;
    s = make(p, 4);
    for (int i = 0; i < 10; i++) wf_sampler_accept(s, 0);
    CHECK(wf_sampler_sample(s, l5) == 0, "repeat_last_n 0 turns penalties off");
    wf_sampler_free(s);
}

/* ---- truncation: top-k, top-p, min-p ------------------------------------- */

typedef struct { double l; int32_t id; } ref_c;
static int ref_cmp(const void *a, const void *b) {
    const ref_c *x = a, *y = b;
    if (x->l != y->l) return x->l > y->l ? -1 : 1;
    return x->id - y->id;
}

/* The allowed set by the definitions: sort, keep k, then the smallest
 * prefix with mass >= top_p (of the renormalised top-k), then those with
 * p >= min_p * p_max. Returns the count; ids in keep[]. Sets *fragile when
 * the cut-off lies within 1e-6 of a decision boundary (caller retries). */
static int ref_allowed(const float *l, int nv, int k, double top_p, double min_p, int32_t *keep,
                       bool *fragile) {
    ref_c *c = malloc(sizeof *c * (size_t)nv);
    for (int i = 0; i < nv; i++) c[i].l = l[i], c[i].id = i;
    qsort(c, (size_t)nv, sizeof *c, ref_cmp);
    int n = (k > 0 && k < nv) ? k : nv;
    *fragile = false;
    if (top_p < 1.0) {
        double sum = 0, cum = 0;
        for (int i = 0; i < n; i++) sum += exp(c[i].l - c[0].l);
        int m = n;
        for (int i = 0; i < n; i++) {
            cum += exp(c[i].l - c[0].l) / sum;
            if (fabs(cum - top_p) < 1e-6) *fragile = true;
            if (cum >= top_p) { m = i + 1; break; }
        }
        n = m;
    }
    if (min_p > 0.0) {
        int m = 0;
        for (int i = 0; i < n; i++) {
            double r = exp(c[i].l - c[0].l);
            if (fabs(r - min_p) < 1e-6) *fragile = true;
            if (r >= min_p) m = i + 1;
        }
        n = m;
    }
    for (int i = 0; i < n; i++) keep[i] = c[i].id;
    free(c);
    return n;
}

/* Penalties on a vocabulary large enough for the one-pass top-k path:
 * greedy and top-k 10 against the penalised logits computed here. */
static void test_penalties_large(void) {
    enum { NV = 3000, K = 10 };
    t_rng rng = {4242};
    float *l = malloc(sizeof *l * NV), *pl = malloc(sizeof *pl * NV);
    int32_t *order = malloc(sizeof *order * NV);
    int *cnt = calloc(NV, sizeof *cnt), *hits = calloc(NV, sizeof *hits);
    int bad_greedy = 0, bad_set = 0;
    for (int trial = 0; trial < 20; trial++) {
        wf_sampler_params p = plain();
        p.repeat_penalty = 1.3f;
        p.presence_penalty = 0.2f;
        p.frequency_penalty = 0.1f;
        p.repeat_last_n = 32;
        p.temperature = 0.0f;
        wf_sampler *g = make(p, NV);
        p.temperature = 1.0f;
        p.top_k = K;
        p.seed = (uint64_t)trial;
        wf_sampler *s = make(p, NV);
        for (int i = 0; i < NV; i++) l[i] = t_gauss(&rng) * 2.0f;
        /* history biased to the best raw tokens, so penalties reorder them */
        for (int i = 0; i < NV; i++) order[i] = i;
        for (int i = 0; i < 20; i++) /* partial selection sort: 20 best first */
            for (int j = i + 1; j < NV; j++)
                if (l[order[j]] > l[order[i]]) { int32_t t = order[i]; order[i] = order[j]; order[j] = t; }
        memset(cnt, 0, sizeof *cnt * NV);
        int32_t hist[40];
        for (int i = 0; i < 40; i++) {
            hist[i] = (t_next(&rng) % 3) ? order[t_next(&rng) % 20] : (int32_t)(t_next(&rng) % NV);
            wf_sampler_accept(g, hist[i]);
            wf_sampler_accept(s, hist[i]);
        }
        for (int i = 40 - 32; i < 40; i++) cnt[hist[i]]++;
        for (int i = 0; i < NV; i++) {
            double v = l[i];
            if (cnt[i]) {
                v = v > 0 ? v / 1.3 : v * 1.3;
                v -= 0.2 + 0.1 * cnt[i];
            }
            pl[i] = (float)v;
        }
        int32_t best = 0;
        for (int i = 1; i < NV; i++)
            if (pl[i] > pl[best]) best = i;
        if (wf_sampler_sample(g, l) != best) bad_greedy++;
        /* the allowed set: the K best penalised */
        bool fragile = false;
        int32_t keep[K];
        ref_allowed(pl, NV, K, 1.0, 0.0, keep, &fragile);
        memset(hits, 0, sizeof *hits * NV);
        for (int d = 0; d < 3000; d++) {
            int32_t t = wf_sampler_sample(s, l);
            if (t >= 0 && t < NV) hits[t]++;
        }
        int in = 0, total = 0;
        for (int i = 0; i < NV; i++) total += hits[i] > 0;
        for (int i = 0; i < K; i++) in += hits[keep[i]] > 0;
        if (in != K || total != K) bad_set++;
        wf_sampler_free(g);
        wf_sampler_free(s);
    }
    CHECK(bad_greedy == 0, "penalised greedy on vocab %d wrong in %d of 20 trials", NV, bad_greedy);
    CHECK(bad_set == 0, "penalised top-k %d on vocab %d drew the wrong set in %d of 20 trials", K, NV, bad_set);
    free(l); free(pl); free(order); free(cnt); free(hits);
}

static void truncation_case(const char *what, int nv, int k, float top_p, float min_p, int draws,
                            bool need_all, t_rng *rng) {
    float *l = malloc(sizeof *l * (size_t)nv);
    int32_t *keep = malloc(sizeof *keep * (size_t)nv);
    int *hits = calloc((size_t)nv, sizeof *hits);
    bool fragile = true;
    int n = 0;
    for (int tries = 0; fragile && tries < 50; tries++) {
        for (int i = 0; i < nv; i++) l[i] = t_unif(rng) * 2.0f;
        n = ref_allowed(l, nv, k, top_p, min_p, keep, &fragile);
    }
    wf_sampler_params p = plain();
    p.top_k = k;
    p.top_p = top_p;
    p.min_p = min_p;
    p.seed = 7;
    wf_sampler *s = make(p, nv);
    for (int d = 0; d < draws; d++) {
        int32_t t = wf_sampler_sample(s, l);
        if (t >= 0 && t < nv) hits[t]++;
    }
    bool *allowed = calloc((size_t)nv, 1);
    for (int i = 0; i < n; i++) allowed[keep[i]] = true;
    int stray = 0, missing = 0;
    for (int i = 0; i < nv; i++) {
        if (hits[i] && !allowed[i]) stray++;
        if (!hits[i] && allowed[i]) missing++;
    }
    CHECK(stray == 0, "%s: %d tokens outside the allowed set of %d were drawn", what, stray, n);
    if (need_all)
        CHECK(missing == 0, "%s: %d of the %d allowed tokens never drawn", what, missing, n);
    else
        CHECK(missing * 10 <= n, "%s: %d of the %d allowed tokens never drawn", what, missing, n);
    printf("  %-34s vocab %6d: %5d allowed, %d drawn\n", what, nv, n, n - missing);
    wf_sampler_free(s);
    free(l); free(keep); free(hits); free(allowed);
}

static void test_truncation(void) {
    t_rng rng = {2024};
    truncation_case("top-k 5", 50, 5, 1.0f, 0.0f, 5000, true, &rng);
    truncation_case("top-k 1", 50, 1, 1.0f, 0.0f, 200, true, &rng);
    truncation_case("top-p 0.5", 50, 0, 0.5f, 0.0f, 20000, true, &rng);
    truncation_case("top-p 0.9", 50, 0, 0.9f, 0.0f, 20000, true, &rng);
    truncation_case("min-p 0.2", 50, 0, 1.0f, 0.2f, 20000, true, &rng);
    truncation_case("top-k 20, top-p 0.7, min-p 0.1", 50, 20, 0.7f, 0.1f, 20000, true, &rng);
    truncation_case("top-k 30, top-p 0.95", 50, 30, 0.95f, 0.0f, 20000, true, &rng);
    truncation_case("top-p 0.6 (large vocab)", 3000, 0, 0.6f, 0.0f, 10000, false, &rng);
    truncation_case("top-k 40 (large vocab)", 20000, 40, 1.0f, 0.0f, 2000, true, &rng);
}

/* ---- temperature: frequencies follow softmax(l / T) ----------------------- */

static void test_temperature(void) {
    enum { NV = 10, DRAWS = 60000 };
    const float temps[] = {0.5f, 1.0f, 1.7f};
    t_rng rng = {555};
    for (int ti = 0; ti < 3; ti++) {
        float l[NV];
        for (int i = 0; i < NV; i++) l[i] = t_unif(&rng) * 1.5f;
        wf_sampler_params p = plain();
        p.temperature = temps[ti];
        p.seed = 1000 + (uint64_t)ti;
        wf_sampler *s = make(p, NV);
        int hits[NV] = {0};
        for (int d = 0; d < DRAWS; d++) {
            int32_t t = wf_sampler_sample(s, l);
            if (t >= 0 && t < NV) hits[t]++;
        }
        double mx = l[0], sum = 0, chi2 = 0;
        for (int i = 1; i < NV; i++) mx = fmax(mx, l[i]);
        for (int i = 0; i < NV; i++) sum += exp((l[i] - mx) / temps[ti]);
        for (int i = 0; i < NV; i++) {
            double e = DRAWS * exp((l[i] - mx) / temps[ti]) / sum;
            chi2 += (hits[i] - e) * (hits[i] - e) / e;
        }
        /* 9 degrees of freedom: P(chi2 > 27.9) = 0.001 */
        CHECK(chi2 < 27.9, "T = %g: chi-square %.2f over 9 dof", (double)temps[ti], chi2);
        printf("  temperature %.1f: chi-square %.2f (9 dof, limit 27.9)\n", (double)temps[ti], chi2);
        wf_sampler_free(s);
    }
}

/* ---- constrained sampling: draw, then redraw from the allowed ones on a miss */

static void test_redraw(void) {
    enum { NV = 70, DRAWS = 40000 };
    t_rng rng = {777};
    float l[NV];
    uint32_t mask[(NV + 31) / 32 + 1] = {0};
    for (int i = 0; i < NV; i++) {
        l[i] = t_unif(&rng) * 3.0f;
        if (i % 5 == 2 || i == 69) mask[i / 32] |= 1u << (i % 32), l[i] -= 1.5f; /* allowed: less likely */
    }
    const float temp = 1.3f;
    wf_sampler_params p = plain();
    p.temperature = temp;
    p.seed = 4242;
    wf_sampler *s = make(p, NV);
    int hits[NV] = {0}, misses = 0, outside = 0;
    for (int d = 0; d < DRAWS; d++) {
        int32_t t = wf_sampler_sample(s, l);
        if (t >= 0 && !((mask[t / 32] >> (t % 32)) & 1u)) {
            misses++;
            t = wf_sampler_redraw_masked(s, mask);
        }
        if (t < 0 || t >= NV || !((mask[t / 32] >> (t % 32)) & 1u)) outside++;
        else hits[t]++;
    }
    double mx = -1e30, sum = 0, chi2 = 0;
    int bins = 0;
    for (int i = 0; i < NV; i++)
        if ((mask[i / 32] >> (i % 32)) & 1u) mx = fmax(mx, l[i]);
    for (int i = 0; i < NV; i++)
        if ((mask[i / 32] >> (i % 32)) & 1u) sum += exp((l[i] - mx) / temp);
    for (int i = 0; i < NV; i++)
        if ((mask[i / 32] >> (i % 32)) & 1u) {
            double e = DRAWS * exp((l[i] - mx) / temp) / sum;
            chi2 += (hits[i] - e) * (hits[i] - e) / e;
            bins++;
        }
    /* 15 allowed tokens, 14 degrees of freedom: P(chi2 > 36.1) = 0.001 */
    CHECK(bins == 15 && outside == 0, "redraw: %d allowed bins, %d draws outside the mask", bins, outside);
    CHECK(chi2 < 36.1, "redraw: chi-square %.2f over 14 dof against the masked softmax", chi2);
    CHECK(misses > DRAWS / 4, "redraw: the miss path was taken (%d of %d)", misses, DRAWS);
    printf("  draw + redraw on a miss (%d of %d missed): chi-square %.2f (14 dof, limit 36.1)\n", misses, DRAWS, chi2);

    /* a mask of whole words (a string body) and a ragged tail: 200 tokens,
     * all allowed but those in [40, 50) and every 9th; chi-square over the
     * allowed ones pooled in 8 bins of similar mass */
    {
        enum { NV2 = 200 };
        float l2[NV2];
        uint32_t m2[(NV2 + 31) / 32 + 1] = {0};
        double e2[NV2] = {0}, z2 = 0;
        for (int i = 0; i < NV2; i++) {
            l2[i] = t_unif(&rng) * 4.0f;
            bool ok = !(i >= 40 && i < 50) && i % 9 != 0;
            if (ok) m2[i / 32] |= 1u << (i % 32);
            else l2[i] += 3.0f; /* the forbidden ones likely: misses */
        }
        for (int i = 0; i < NV2; i++)
            if ((m2[i / 32] >> (i % 32)) & 1u) z2 += e2[i] = exp(l2[i] / temp);
        wf_sampler *s2 = make(p, NV2);
        int bin_of[NV2], n_bin = 8, miss2 = 0, out2 = 0;
        double be[8] = {0}, cum = 0;
        long bo[8] = {0};
        for (int i = 0; i < NV2; i++) {
            double pi = e2[i] / z2;
            int b = (int)((cum + pi / 2) * n_bin);
            bin_of[i] = b < n_bin ? b : n_bin - 1;
            be[bin_of[i]] += pi * DRAWS;
            cum += pi;
        }
        for (int d = 0; d < DRAWS; d++) {
            int32_t t = wf_sampler_sample(s2, l2);
            if (t >= 0 && !((m2[t / 32] >> (t % 32)) & 1u)) miss2++, t = wf_sampler_redraw_masked(s2, m2);
            if (t < 0 || t >= NV2 || !((m2[t / 32] >> (t % 32)) & 1u)) out2++;
            else bo[bin_of[t]]++;
        }
        double c2 = 0;
        for (int b = 0; b < n_bin; b++) c2 += (bo[b] - be[b]) * (bo[b] - be[b]) / be[b];
        /* 7 dof: P(chi2 > 24.3) = 0.001 */
        CHECK(out2 == 0 && c2 < 24.3 && miss2 > 1000, "redraw, whole words: chi-square %.2f (7 dof), %d outside, %d misses",
              c2, out2, miss2);
        printf("  whole-word mask (%d of %d missed): chi-square %.2f (7 dof, limit 24.3)\n", miss2, DRAWS, c2);
        wf_sampler_free(s2);
    }

    /* where it does not apply: -1 */
    wf_sampler_reset(s);
    CHECK(wf_sampler_redraw_masked(s, mask) == -1, "redraw without a draw before");
    wf_sampler_sample(s, l);
    wf_sampler_accept(s, 0);
    CHECK(wf_sampler_redraw_masked(s, mask) == -1, "redraw after accept (stale weights)");
    wf_sampler_sample(s, l);
    CHECK(wf_sampler_redraw_masked(s, mask) >= 0 && wf_sampler_redraw_masked(s, mask) == -1, "one redraw per draw");
    uint32_t none[(NV + 31) / 32 + 1] = {0};
    wf_sampler_sample(s, l);
    CHECK(wf_sampler_redraw_masked(s, none) == -1, "redraw with nothing allowed");
    float far[NV];
    for (int i = 0; i < NV; i++) far[i] = (mask[i / 32] >> (i % 32)) & 1u ? -40.0f : 0.0f; /* allowed: e^-30 below */
    wf_sampler_sample(s, far);
    CHECK(wf_sampler_redraw_masked(s, mask) == -1, "redraw declines where the allowed weights may underflow");
    wf_sampler_free(s);
    p.top_k = 10;
    s = make(p, NV);
    wf_sampler_sample(s, l);
    CHECK(wf_sampler_redraw_masked(s, mask) == -1, "redraw declines after a truncated (top-k) draw");
    wf_sampler_free(s);
    p.top_k = 0;
    p.temperature = 0.0f;
    s = make(p, NV);
    wf_sampler_sample(s, l);
    CHECK(wf_sampler_redraw_masked(s, mask) == -1, "redraw declines after a greedy pick");
    wf_sampler_free(s);
}

/* ---- constrained sampling by testing the best tokens (wf_sampler_sample_lazy) */

static wf_sampler_params plain_greedy(void) {
    wf_sampler_params p = plain();
    p.temperature = 0.0f;
    return p;
}

static bool lazy_ok(void *u, int32_t t) {
    const uint32_t *mask = u;
    return (mask[t >> 5] >> (t & 31)) & 1u;
}

/* The distribution of the chain on the logits masked to the allowed
 * tokens, from the definitions (independent of sampler.c): the allowed
 * tokens sorted, top-k, the smallest prefix with mass >= top_p, those with
 * p >= min_p p_max, softmax at temperature T. prob[] (nv). Returns false
 * when a cut lies within 1e-6 of its boundary (the caller draws new logits). */
static bool ref_masked(const float *l, const uint32_t *mask, int nv, int k, double top_p, double min_p, double T,
                       double *prob) {
    ref_c *c = malloc(sizeof *c * (size_t)nv);
    int n = 0;
    for (int i = 0; i < nv; i++)
        if (lazy_ok((void *)mask, i)) c[n].l = l[i], c[n].id = i, n++;
    qsort(c, (size_t)n, sizeof *c, ref_cmp);
    if (k > 0 && k < n) n = k;
    bool firm = true;
    if (top_p < 1.0) {
        double sum = 0, cum = 0;
        for (int i = 0; i < n; i++) sum += exp(c[i].l - c[0].l);
        for (int i = 0; i < n; i++) {
            cum += exp(c[i].l - c[0].l) / sum;
            if (fabs(cum - top_p) < 1e-6) firm = false;
            if (cum >= top_p) { n = i + 1; break; }
        }
    }
    if (min_p > 0.0) {
        int m = 0;
        for (int i = 0; i < n; i++) {
            double r = exp(c[i].l - c[0].l);
            if (fabs(r - min_p) < 1e-6) firm = false;
            if (r >= min_p) m = i + 1;
        }
        n = m;
    }
    memset(prob, 0, sizeof *prob * (size_t)nv);
    double z = 0;
    for (int i = 0; i < n; i++) z += exp((c[i].l - c[0].l) / T);
    for (int i = 0; i < n; i++) prob[c[i].id] = exp((c[i].l - c[0].l) / T) / z;
    free(c);
    return firm;
}

/* Chi-square at P = 0.001 for dof degrees of freedom (Wilson-Hilferty). */
static double chi2_limit(int dof) {
    double a = 2.0 / (9.0 * dof), x = 1.0 - a + 3.09 * sqrt(a);
    return dof * x * x * x;
}

/* One case: logits l = spread * gauss, allowed tokens from `pattern`;
 * DRAWS draws with wf_sampler_sample_lazy (a -1 falls back, counted, in
 * turn to the chain on the allowed tokens, wf_sampler_sample_masked, as
 * generation does, and to the chain on masked logits), chi-square against
 * ref_masked over bins of expected count >= 5 (the rest pooled). */
static void lazy_case(const char *what, int nv, int k, float top_p, float min_p, float T, float spread, int pattern,
                      double min_lazy, t_rng *rng) {
    enum { DRAWS = 8000 };
    float *l = malloc(sizeof *l * (size_t)nv), *ml = malloc(sizeof *ml * (size_t)nv);
    uint32_t *mask = calloc((size_t)nv / 32 + 1, sizeof *mask);
    double *prob = malloc(sizeof *prob * (size_t)nv);
    int *hits = calloc((size_t)nv, sizeof *hits);
    bool firm = false;
    for (int tries = 0; !firm && tries < 50; tries++) {
        memset(mask, 0, sizeof *mask * ((size_t)nv / 32 + 1));
        for (int i = 0; i < nv; i++) {
            l[i] = t_gauss(rng) * spread;
            /* 0: a third allowed at random; 1: few allowed, mostly weak (a
             * grammar's structural position); 2: nearly all allowed */
            bool a = pattern == 0 ? t_next(rng) % 3 == 0 : pattern != 2 ? t_next(rng) % 97 == 0 : t_next(rng) % 20 != 0;
            if (a) mask[i >> 5] |= 1u << (i & 31);
            if (a && pattern == 3) l[i] += 6.0f; /* 3: as 1, the model's favourites among them */
        }
        firm = ref_masked(l, mask, nv, k, top_p, min_p, T, prob);
    }
    for (int i = 0; i < nv; i++) ml[i] = lazy_ok(mask, i) ? l[i] : -INFINITY;
    wf_sampler_params p = plain();
    p.temperature = T, p.top_k = k, p.top_p = top_p, p.min_p = min_p, p.seed = 99;
    wf_sampler *s = make(p, nv);
    int lazy = 0, outside = 0;
    for (int d = 0; d < DRAWS; d++) {
        int32_t t = wf_sampler_sample_lazy(s, l, lazy_ok, mask);
        if (t >= 0) lazy++;
        else t = (d & 1) ? wf_sampler_sample_masked(s, l, mask) : wf_sampler_sample(s, ml); /* both fallbacks */
        if (t < 0 || t >= nv || prob[t] == 0) outside++;
        else hits[t]++;
    }
    double chi2 = 0, pe = 0, po = 0;
    int bins = 0;
    for (int i = 0; i < nv; i++) {
        double e = prob[i] * DRAWS;
        if (e >= 5) chi2 += (hits[i] - e) * (hits[i] - e) / e, bins++;
        else if (prob[i] > 0) pe += e, po += hits[i];
    }
    if (pe >= 5) chi2 += (po - pe) * (po - pe) / pe, bins++;
    const double lim = bins > 1 ? chi2_limit(bins - 1) : 0;
    CHECK(firm && outside == 0, "%s: %d draws outside the masked chain's set", what, outside);
    CHECK(bins < 2 || chi2 < lim, "%s: chi-square %.2f over %d dof (limit %.1f)", what, chi2, bins - 1, lim);
    CHECK(lazy >= min_lazy * DRAWS, "%s: only %d of %d draws decided by the best tokens", what, lazy, DRAWS);
    printf("  lazy %-40s vocab %5d: %5d of %d decided lazily, chi-square %.2f (%d dof, limit %.1f)\n", what, nv, lazy,
           DRAWS, chi2, bins - 1, lim);
    /* greedy: the best allowed token, always decided when one is among the best 1024 */
    p.temperature = 0.0f;
    wf_sampler *g = make(p, nv);
    int32_t best = -1;
    for (int i = 0; i < nv; i++)
        if (lazy_ok(mask, i) && (best < 0 || l[i] > l[best])) best = i;
    int32_t gz = wf_sampler_sample_lazy(g, l, lazy_ok, mask);
    CHECK(gz == best || (gz == -1 && wf_sampler_sample(g, ml) == best), "%s: greedy %d, best allowed %d", what, gz, best);
    wf_sampler_free(g);
    wf_sampler_free(s);
    free(l); free(ml); free(mask); free(prob); free(hits);
}

static void test_lazy(void) {
    t_rng rng = {777};
    /* llama.cpp's defaults (top-k 40, top-p 0.95, min-p 0.05, T 0.8) */
    lazy_case("defaults, a third allowed", 2000, 40, 0.95f, 0.05f, 0.8f, 2.0f, 0, 0.99, &rng);
    lazy_case("defaults, nearly all allowed", 2000, 40, 0.95f, 0.05f, 0.8f, 2.0f, 2, 0.99, &rng);
    /* few allowed tokens: decided when the model favours some of them,
     * masked when they lie deep in the tail (the unseen ones could hold the cut) */
    lazy_case("defaults, 1% allowed, favoured", 2000, 40, 0.95f, 0.05f, 0.8f, 2.0f, 3, 0.99, &rng);
    lazy_case("defaults, 1% allowed, in the tail (masks)", 2000, 40, 0.95f, 0.05f, 0.8f, 2.0f, 1, 0.0, &rng);
    lazy_case("top-k 10, a third allowed", 1500, 10, 1.0f, 0.0f, 1.0f, 2.0f, 0, 0.99, &rng);
    /* a pure top-k needs k allowed among the best 1024, else it masks */
    lazy_case("top-k 10, 1% allowed (masks)", 1500, 10, 1.0f, 0.0f, 1.0f, 2.0f, 1, 0.0, &rng);
    lazy_case("top-p 0.9, a third allowed, peaked", 1500, 0, 0.9f, 0.0f, 1.0f, 6.0f, 0, 0.99, &rng);
    lazy_case("min-p 0.1, 1% allowed, favoured", 1500, 0, 1.0f, 0.1f, 1.5f, 2.0f, 3, 0.99, &rng);
    lazy_case("top-k 5, small vocabulary (all seen)", 40, 5, 0.8f, 0.02f, 0.7f, 1.0f, 0, 0.99, &rng);
    lazy_case("top-p 0.5, flat logits (masks)", 1500, 0, 0.5f, 0.0f, 1.0f, 0.1f, 0, 0.0, &rng);
    /* the cases with penalties: lazily tested candidates are the penalised best */
    enum { NV = 2000 };
    float l[NV], ml[NV];
    uint32_t mask[NV / 32 + 1] = {0};
    for (int i = 0; i < NV; i++) {
        l[i] = t_gauss(&rng) * 2.0f;
        if (i % 2) mask[i >> 5] |= 1u << (i & 31);
        ml[i] = i % 2 ? l[i] : -INFINITY;
    }
    wf_sampler_params p = plain();
    p.temperature = 0.0f, p.repeat_penalty = 1.5f, p.presence_penalty = 1.0f, p.repeat_last_n = 64;
    wf_sampler *a = make(p, NV), *b = make(p, NV);
    int bad = 0, bad_m = 0;
    for (int step = 0; step < 50; step++) {
        int32_t x = wf_sampler_sample_lazy(a, l, lazy_ok, mask), y = wf_sampler_sample(b, ml);
        int32_t xm = wf_sampler_argmax_masked(a, l, mask);
        if (x != y) bad++;
        if (xm != y) bad_m++;
        wf_sampler_accept(a, y);
        wf_sampler_accept(b, y);
    }
    CHECK(bad == 0, "lazy greedy with penalties differs from the masked chain in %d of 50 steps", bad);
    CHECK(bad_m == 0, "greedy over the mask with penalties differs from the masked chain in %d of 50 steps", bad_m);
    /* ties go to the lowest allowed id; nothing finite allowed: -1 */
    float tie[64];
    uint32_t tm[2] = {0x0000f0f0u, 0x1u};
    for (int i = 0; i < 64; i++) tie[i] = i == 12 || i == 13 || i == 32 ? 3.0f : 1.0f;
    wf_sampler *t = make(plain_greedy(), 64);
    CHECK(wf_sampler_argmax_masked(t, tie, tm) == 12, "greedy over the mask: tie to the lowest allowed id");
    for (int i = 0; i < 64; i++) tie[i] = -INFINITY;
    CHECK(wf_sampler_argmax_masked(t, tie, tm) == -1, "greedy over the mask: nothing finite");
    wf_sampler_free(t);
    wf_sampler_free(a);
    wf_sampler_free(b);
}

/* ---- seeds ------------------------------------------------------------------ */

static void draw_seq(wf_sampler *s, const float *l, int32_t *out, int n) {
    for (int i = 0; i < n; i++) {
        out[i] = wf_sampler_sample(s, l);
        wf_sampler_accept(s, out[i]);
    }
}

static void test_seeds(void) {
    enum { NV = 100, N = 64 };
    float l[NV];
    t_rng rng = {3};
    for (int i = 0; i < NV; i++) l[i] = t_unif(&rng);
    wf_sampler_params p = plain();
    p.repeat_penalty = 1.1f;
    p.seed = 12345;
    wf_sampler *a = make(p, NV), *b = make(p, NV);
    p.seed = 12346;
    wf_sampler *c = make(p, NV);
    int32_t sa[N], sb[N], sc[N], sr[N];
    draw_seq(a, l, sa, N);
    draw_seq(b, l, sb, N);
    draw_seq(c, l, sc, N);
    wf_sampler_reset(a);
    draw_seq(a, l, sr, N);
    CHECK(memcmp(sa, sb, sizeof sa) == 0, "same seed, different sequences");
    CHECK(memcmp(sa, sc, sizeof sa) != 0, "different seeds, same sequence");
    CHECK(memcmp(sa, sr, sizeof sa) == 0, "reset does not replay the sequence");
    wf_sampler_free(a);
    wf_sampler_free(b);
    wf_sampler_free(c);
}

/* ---- hostile logits ------------------------------------------------------- */

static void test_hostile(void) {
    enum { NV = 64 };
    float l[NV];
    wf_sampler_params p = plain();
    p.top_p = 0.9f;
    p.top_k = 10;
    wf_sampler *s = make(p, NV);
    for (int i = 0; i < NV; i++) l[i] = NAN;
    int32_t t = wf_sampler_sample(s, l);
    CHECK(t >= 0 && t < NV, "all-NaN logits gave %d", t);
    for (int i = 0; i < NV; i++) l[i] = -INFINITY;
    t = wf_sampler_sample(s, l);
    CHECK(t >= 0 && t < NV, "all -inf logits gave %d", t);
    for (int i = 0; i < NV; i++) l[i] = (i % 3) ? NAN : (float)i;
    l[10] = INFINITY;
    t = wf_sampler_sample(s, l);
    CHECK(t == 10, "+inf logit should win, got %d", t);
    for (int i = 0; i < NV; i++) l[i] = (i == 5) ? 1e30f : -1e30f;
    t = wf_sampler_sample(s, l);
    CHECK(t == 5, "huge logits: got %d", t);
    wf_sampler_free(s);
    p = plain();
    p.temperature = 1e-38f; /* underflows 1/T: treated as greedy */
    s = make(p, NV);
    for (int i = 0; i < NV; i++) l[i] = (float)(i % 13);
    t = wf_sampler_sample(s, l);
    CHECK(t == 12, "tiny temperature should be greedy, got %d", t);
    wf_sampler_free(s);
}

/* ---- speed on a 150k vocabulary (printed, not asserted) ------------------- */

static void test_speed(void) {
    enum { NV = 151936, N = 20 };
    float *l = malloc(sizeof *l * NV);
    t_rng rng = {77};
    for (int i = 0; i < NV; i++) l[i] = t_gauss(&rng) * 3.0f;
    struct { const char *what; float temp; int k; float top_p, min_p; } cfg[] = {
        {"greedy", 0.0f, 0, 1.0f, 0.0f},
        {"defaults (T 0.8, k 40, p 0.95, min-p 0.05)", 0.8f, 40, 0.95f, 0.05f},
        {"T 1.0, top-p 0.95 (no top-k)", 1.0f, 0, 0.95f, 0.0f},
        {"T 1.0, min-p 0.05 (no top-k)", 1.0f, 0, 1.0f, 0.05f},
    };
    for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
        wf_sampler_params p = plain();
        p.temperature = cfg[c].temp;
        p.top_k = cfg[c].k;
        p.top_p = cfg[c].top_p;
        p.min_p = cfg[c].min_p;
        p.repeat_penalty = 1.1f;
        wf_sampler *s = make(p, NV);
        double t0 = wf_time_now();
        for (int i = 0; i < N; i++) wf_sampler_accept(s, wf_sampler_sample(s, l));
        double us = (wf_time_now() - t0) / N * 1e6;
        printf("  sample, vocab %d, %-44s %8.1f us\n", NV, cfg[c].what, us);
        wf_sampler_free(s);
    }
    free(l);
}

/* ---- stop strings ---------------------------------------------------------- */

typedef struct { char buf[512]; size_t n; bool stopped; } out_t;

/* Feed pieces (NULL-terminated list) and collect the emitted text. */
static out_t run_stop(const char *const *stops, size_t n_stops, const char *const *pieces) {
    wf_stop st;
    wf_error err = {0};
    out_t o = {{0}, 0, false};
    CHECK(wf_stop_init(&st, stops, n_stops, &err) == WF_OK, "stop init: %s", err.msg);
    for (size_t i = 0; pieces[i] && !o.stopped; i++) {
        const char *e;
        size_t ne;
        o.stopped = wf_stop_feed(&st, pieces[i], strlen(pieces[i]), &e, &ne);
        if (o.n + ne < sizeof o.buf) memcpy(o.buf + o.n, e, ne), o.n += ne;
    }
    if (!o.stopped) {
        const char *e;
        size_t ne;
        wf_stop_flush(&st, &e, &ne);
        if (o.n + ne < sizeof o.buf) memcpy(o.buf + o.n, e, ne), o.n += ne;
    }
    o.buf[o.n] = 0;
    wf_stop_free(&st);
    return o;
}

#define STOP_CASE(stops, pieces, want, want_stop)                                                   \
    do {                                                                                            \
        static const char *const s_[] = stops;                                                      \
        static const char *const p_[] = pieces;                                                     \
        out_t o_ = run_stop(s_, sizeof s_ / sizeof s_[0], p_);                                      \
        CHECK(strcmp(o_.buf, want) == 0 && o_.stopped == (want_stop), "stop case %d: got \"%s\"%s", \
              __LINE__, o_.buf, o_.stopped ? " (stopped)" : "");                                    \
    } while (0)
#define L(...) {__VA_ARGS__}

/* The oracle: the first position where a stop string ends (longest on a
 * tie); the output is the text before that occurrence. */
static size_t oracle(const char *text, const char *const *stops, size_t n, bool *stopped) {
    size_t len = strlen(text);
    for (size_t e = 1; e <= len; e++) {
        size_t best = 0;
        for (size_t i = 0; i < n; i++) {
            size_t l = strlen(stops[i]);
            if (l && l <= e && strncmp(text + e - l, stops[i], l) == 0 && l > best) best = l;
        }
        if (best) {
            *stopped = true;
            return e - best;
        }
    }
    *stopped = false;
    return len;
}

static void test_stop(void) {
    /* empty list: everything passes through */
    {
        static const char *const p_[] = {"abc", "def", NULL};
        out_t o = run_stop(NULL, 0, p_);
        CHECK(strcmp(o.buf, "abcdef") == 0 && !o.stopped, "empty list: got \"%s\"", o.buf);
    }
    STOP_CASE(L("</s>"), L("hello </", "s> world", NULL), "hello ", true);
    STOP_CASE(L("</s>"), L("hello <", "/", "s", ">", NULL), "hello ", true);
    STOP_CASE(L("</s>"), L("a</x", "yz", NULL), "a</xyz", false);             /* false start */
    STOP_CASE(L("abc"), L("ab", "x", "ab", NULL), "abxab", false);           /* held, then flushed */
    STOP_CASE(L("ab"), L("a", "a", "b", NULL), "a", true);
    STOP_CASE(L("ab", "abcd"), L("abcd", NULL), "", true);                   /* overlapping prefixes */
    STOP_CASE(L("xyz", "y"), L("axyz", NULL), "ax", true);                   /* first to end wins */
    STOP_CASE(L("bcd", "abcde"), L("zabcde", NULL), "za", true);
    STOP_CASE(L("aab"), L("aaa", "ab", NULL), "aa", true);                     /* self-overlap */
    STOP_CASE(L("", "END"), L("the END", NULL), "the ", true);               /* empty entry ignored */
    STOP_CASE(L("\n\n", "```"), L("x = 1\n", "\n", "y", NULL), "x = 1", true);
    STOP_CASE(L("STOP"), L("", "ST", "", "OP", NULL), "", true);             /* empty pieces */
    {
        static const char *const bad[] = {"a", NULL};
        wf_stop st;
        wf_error err = {0};
        CHECK(wf_stop_init(&st, bad, 2, &err) == WF_ERR_INVALID_ARG && err.msg[0], "NULL entry accepted");
    }

    /* random texts, stop lists and chunkings against the oracle */
    t_rng rng = {31337};
    int bad = 0;
    for (int k = 0; k < 3000; k++) {
        char text[64], stopbuf[4][8];
        const char *stops[4];
        size_t len = 1 + t_next(&rng) % 40, ns = t_next(&rng) % 4;
        for (size_t i = 0; i < len; i++) text[i] = (char)('a' + t_next(&rng) % 3);
        text[len] = 0;
        for (size_t j = 0; j < ns; j++) {
            size_t sl = 1 + t_next(&rng) % 5;
            for (size_t i = 0; i < sl; i++) stopbuf[j][i] = (char)('a' + t_next(&rng) % 3);
            stopbuf[j][sl] = 0;
            stops[j] = stopbuf[j];
        }
        bool want_stop;
        size_t want = oracle(text, stops, ns, &want_stop);
        /* cut the text into random pieces */
        char pieces[64][64];
        const char *pp[65];
        size_t np = 0, pos = 0;
        while (pos < len) {
            size_t pl = t_next(&rng) % 5; /* 0: an empty piece */
            if (pl > len - pos) pl = len - pos;
            memcpy(pieces[np], text + pos, pl);
            pieces[np][pl] = 0;
            pp[np] = pieces[np];
            np++;
            pos += pl;
        }
        pp[np] = NULL;
        out_t o = run_stop(stops, ns, pp);
        if (o.stopped != want_stop || o.n != want || memcmp(o.buf, text, want) != 0) {
            if (bad < 5)
                fprintf(stderr, "stop oracle: text \"%s\" (%zu stops, first \"%s\"): got \"%s\"%s, want %zu bytes%s\n",
                        text, ns, ns ? stops[0] : "", o.buf, o.stopped ? " stopped" : "", want,
                        want_stop ? " stopped" : "");
            bad++;
        }
    }
    CHECK(bad == 0, "%d random stop cases differ from the oracle", bad);
}

/* wf_logprobs against a brute force written here: log-sum-exp by direct
 * summation in long double, the top k by repeated scans for the largest
 * value not yet taken (the lowest id among equals) — on random logits with
 * many ties, k from 0 past n_vocab. */
static void test_logprobs(void) {
    t_rng r = {77};
    int bad = 0;
    for (int it = 0; it < 300; it++) {
        const int32_t n = 1 + (int32_t)(t_next(&r) % 300), k = (int32_t)(t_next(&r) % 25);
        float *l = malloc(sizeof *l * (size_t)n);
        bool *taken = calloc((size_t)n, 1);
        for (int32_t i = 0; i < n; i++) l[i] = (float)(t_next(&r) % 40) * 0.5f - 10.0f; /* many ties */
        long double mx = l[0], sum = 0;
        for (int32_t i = 0; i < n; i++) mx = l[i] > mx ? l[i] : mx;
        for (int32_t i = 0; i < n; i++) sum += expl((long double)l[i] - mx);
        const double lse_ref = (double)(mx + logl(sum));
        int32_t ids[32], nt = -1;
        double lps[32];
        const double lse = wf_logprobs(l, n, k, ids, lps, &nt);
        bool ok = fabs(lse - lse_ref) < 1e-9 && nt == (k < n ? k : n);
        for (int32_t j = 0; ok && j < nt; j++) {
            int32_t best = -1;
            for (int32_t i = 0; i < n; i++)
                if (!taken[i] && (best < 0 || l[i] > l[best])) best = i;
            taken[best] = true;
            ok = ids[j] == best && fabs(lps[j] - ((double)l[best] - lse_ref)) < 1e-9;
        }
        bad += !ok;
        free(l);
        free(taken);
    }
    CHECK(bad == 0, "wf_logprobs differs from the brute force in %d of 300 cases", bad);
}

int main(void) {
    test_params();
    test_greedy();
    test_penalties();
    test_truncation();
    test_penalties_large();
    test_temperature();
    test_redraw();
    test_lazy();
    test_seeds();
    test_hostile();
    test_speed();
    test_stop();
    test_logprobs();
    return t_done("test_sampler");
}
