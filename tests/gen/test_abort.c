/* test_abort.c — wf_context_set_abort: wf_decode stops between layers when
 * the check says so, returns WF_ERR_CANCELLED, leaves the cache holding
 * exactly the chunks completed before, and the next evaluation gives the
 * same logits as a context that was never interrupted. (The generation
 * session installs such a check during prefill, so a cancel stops a long
 * prompt between layers rather than after its n_batch chunk.) */
#include "gen_models.h"
#include <math.h>
#include <stdlib.h>

typedef struct { int calls, fire_at; } countdown;

static bool fire(void *u) {
    countdown *c = u;
    return ++c->calls >= c->fire_at;
}

int main(void) {
    char dir[] = "/tmp/wf_abort_XXXXXX";
    if (!mkdtemp(dir)) return 1;
    enum { V = 96, N = 40, NL = 3 };
    gm_cfg mc = {64, 2, 1, 32, 128, V, NL, 256, GM_RANDOM, 0.15f, 0x1234, 0x5678, "t", NULL};
    wf_model *m = gm_make(dir, "m", &mc);
    CHECK(m != NULL, "model");
    if (!m) return t_done("test_abort");
    wf_context_params cp = wf_context_default_params();
    cp.n_ctx = 256;
    cp.n_batch = 16;
    cp.n_threads = 2;
    cp.kv_type = WF_KV_F32;
    wf_context *a = NULL, *b = NULL;
    wf_error err = {0};
    CHECK(wf_context_create(m, &cp, &a, &err) == WF_OK, "%s", err.msg);
    CHECK(wf_context_create(m, &cp, &b, &err) == WF_OK, "%s", err.msg);
    int32_t toks[N];
    t_rng r = {7};
    for (int i = 0; i < N; i++) toks[i] = (int32_t)(t_next(&r) % V);

    /* reference: b evaluates everything */
    CHECK(wf_decode(b, toks, N, true, &err) == WF_OK, "%s", err.msg);

    /* a: the check fires in the 2nd layer of the 2nd chunk (16 tokens each) */
    countdown cd = {0, NL + 2};
    wf_context_set_abort(a, fire, &cd);
    wf_status st = wf_decode(a, toks, N, true, &err);
    CHECK(st == WF_ERR_CANCELLED, "status %d (%s)", (int)st, err.msg);
    CHECK(wf_context_n_past(a) == 16, "after the abort the cache holds %d tokens, want 16", wf_context_n_past(a));
    CHECK(cd.calls == NL + 2, "the check ran %d times, want %d (it must stop at once)", cd.calls, NL + 2);
    wf_context_set_abort(a, NULL, NULL);
    /* continue where the cache stands: identical logits to b */
    CHECK(wf_decode(a, toks + 16, N - 16, true, &err) == WF_OK, "%s", err.msg);
    double worst = 0;
    for (int i = 0; i < N - 16; i++) {
        const float *la = wf_get_logits(a, i), *lb = wf_get_logits(b, 16 + i);
        for (int v = 0; v < V; v++) {
            double d = fabs((double)la[v] - (double)lb[v]);
            if (d > worst) worst = d;
        }
    }
    CHECK(worst == 0.0, "logits after an aborted chunk differ from uninterrupted ones by %g", worst);

    wf_context_free(a);
    wf_context_free(b);
    wf_model_free(m);
    rmdir(dir);
    return t_done("test_abort");
}
