/* test_pcache.c — KV snapshots (wf_kv_export / wf_kv_import) and the
 * cross-request prefix cache (wf_prefix_cache, gen.h).
 *
 *  1. export/import: a context restored from a snapshot of another gives
 *     bit-identical logits for the next token (f32 and f16 KV), a partial
 *     import (first n of a longer snapshot) equals a context that decoded
 *     only those n, and bad sizes are refused;
 *  2. a request after an unrelated one restores the shared prefix from the
 *     cache: res.n_prompt_from_cache is the prefix length, wf_decode saw only
 *     the new tokens (res.n_decoded), and the logits equal a fresh session's
 *     (and the tokens a one-token-per-call greedy loop's);
 *  3. LRU by size: a cache holding two snapshots evicts the least recently
 *     used on the third, and lookups then miss / hit accordingly;
 *  4. memory bound: 30 random requests through a cache limited in bytes and
 *     one limited in tokens never exceed the limits; an entry extended by a
 *     longer one is replaced, not duplicated.
 */
#include "gen_models.h"
#include "gen/gen.h"
#include "wafer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { NCTX = 256, V = 64 };

static wf_context_params ctx_params(wf_kv_type kt) {
    wf_context_params cp = wf_context_default_params();
    cp.n_ctx = NCTX;
    cp.n_threads = 1;
    cp.n_batch = 64;
    cp.kv_type = kt;
    return cp;
}

static float max_diff(const float *a, const float *b, int n) {
    float md = 0;
    for (int i = 0; i < n; i++) md = fmaxf(md, fabsf(a[i] - b[i]));
    return md;
}

/* ---- 1. export / import ------------------------------------------------------ */

static void test_snapshot(wf_model *m) {
    t_rng r = {5};
    int32_t tok[60];
    for (int i = 0; i < 60; i++) tok[i] = (int32_t)(t_next(&r) % V);
    const wf_kv_type kts[2] = {WF_KV_F32, WF_KV_F16};
    for (int k = 0; k < 2; k++) {
        wf_context_params cp = ctx_params(kts[k]);
        wf_context *a = NULL, *b = NULL, *c = NULL;
        wf_error err = {0};
        wf_context_create(m, &cp, &a, &err);
        wf_context_create(m, &cp, &b, &err);
        wf_context_create(m, &cp, &c, &err);
        if (!a || !b || !c) { CHECK(0, "contexts: %s", err.msg); return; }
        CHECK(wf_decode(a, tok, 50, false, &err) == WF_OK, "%s", err.msg);
        uint64_t sz = wf_kv_export_size(a, 50);
        CHECK(sz == 50 * wf_kv_export_size(a, 1) && sz > 0, "export size %llu", (unsigned long long)sz);
        void *buf = malloc(sz);
        CHECK(wf_kv_export(a, 50, buf, sz, &err) == WF_OK, "export: %s", err.msg);
        CHECK(wf_kv_export(a, 51, buf, sz, &err) == WF_ERR_RANGE, "export past n_past accepted");
        CHECK(wf_kv_export(a, 50, buf, sz - 1, &err) == WF_ERR_INVALID_ARG, "export with a wrong size accepted");
        /* full import: the next token's logits are bit-identical */
        wf_decode(b, tok + 20, 5, false, NULL); /* some other contents first */
        CHECK(wf_kv_import(b, 50, buf, sz, &err) == WF_OK && wf_context_n_past(b) == 50, "import: %s", err.msg);
        CHECK(wf_get_logits(b, -1) == NULL, "logits readable after an import");
        wf_decode(a, tok + 50, 1, false, NULL);
        wf_decode(b, tok + 50, 1, false, NULL);
        float md = max_diff(wf_get_logits(a, -1), wf_get_logits(b, -1), V);
        CHECK(md == 0.0f, "kv %d: logits after import differ by %g", k, (double)md);
        /* partial import: the first 30 of the 50 */
        CHECK(wf_kv_import(c, 30, buf, sz, &err) == WF_OK && wf_context_n_past(c) == 30, "partial import: %s", err.msg);
        wf_decode(c, tok + 30, 1, false, NULL);
        wf_kv_truncate(a, 30, NULL);
        wf_decode(a, tok + 30, 1, false, NULL);
        md = max_diff(wf_get_logits(a, -1), wf_get_logits(c, -1), V);
        CHECK(md == 0.0f, "kv %d: logits after a partial import differ by %g", k, (double)md);
        printf("  snapshot (%s KV): %llu bytes for 50 positions, logits after import identical\n", k ? "f16" : "f32",
               (unsigned long long)sz);
        CHECK(wf_kv_import(c, 51, buf, sz, &err) == WF_ERR_INVALID_ARG, "import of more positions than the snapshot holds");
        CHECK(wf_kv_import(c, 10, buf, sz + 3, &err) == WF_ERR_INVALID_ARG, "import of a snapshot of the wrong size");
        CHECK(wf_kv_import(c, NCTX + 1, buf, sz, &err) == WF_ERR_RANGE, "import beyond n_ctx");
        free(buf);
        wf_context_free(a), wf_context_free(b), wf_context_free(c);
    }
}

/* ---- 2. restore after an unrelated request --------------------------------------- */

static int ref_greedy(wf_model *m, const int32_t *prompt, int n_prompt, int n_gen, int32_t *out) {
    wf_context_params cp = ctx_params(WF_KV_F32);
    wf_context *c = NULL;
    if (wf_context_create(m, &cp, &c, NULL) != WF_OK) return -1;
    int n = 0;
    if (wf_decode(c, prompt, n_prompt, false, NULL) == WF_OK) {
        for (; n < n_gen; n++) {
            const float *l = wf_get_logits(c, -1);
            int32_t b = 0;
            for (int32_t i = 1; i < V; i++)
                if (l[i] > l[b]) b = i;
            out[n] = b;
            if (n + 1 < n_gen && wf_decode(c, &out[n], 1, false, NULL) != WF_OK) break;
        }
    }
    wf_context_free(c);
    return n;
}

typedef struct collect { int32_t tok[256]; int n; } collect;
static bool on_tok(void *user, int32_t tok, const char *t, size_t nt) {
    (void)t, (void)nt;
    collect *c = user;
    if (tok >= 0 && c->n < 256) c->tok[c->n++] = tok;
    return true;
}

static wf_status gen(wf_session *s, const int32_t *p, int n, int max_tokens, collect *col, wf_gen_result *res) {
    wf_gen_params gp = wf_gen_default_params();
    gp.max_tokens = max_tokens;
    gp.text = false;
    wf_gen_callbacks cb = {on_tok, col};
    col->n = 0;
    wf_error err = {0};
    wf_status st = wf_session_generate(s, p, (size_t)n, &gp, &cb, res, &err);
    if (st != WF_OK) fprintf(stderr, "generate: %s\n", err.msg);
    return st;
}

static void test_restore(wf_model *m) {
    enum { SYS = 70 };
    t_rng r = {77};
    int32_t a[100], b[50], c[90];
    for (int i = 0; i < SYS; i++) a[i] = c[i] = (int32_t)(t_next(&r) % V);          /* shared "system prompt" */
    for (int i = SYS; i < 100; i++) a[i] = (int32_t)(t_next(&r) % V);
    for (int i = 0; i < 50; i++) b[i] = (int32_t)((t_next(&r) % (V - 1)) + 1);
    b[0] = (a[0] + 1) % V;                                                             /* unrelated from token 0 */
    for (int i = SYS; i < 90; i++) c[i] = (int32_t)(t_next(&r) % V);
    c[SYS] = (a[SYS] + 7) % V;                                                         /* diverges right after */
    wf_prefix_cache *pc = NULL;
    wf_error err = {0};
    CHECK(wf_prefix_cache_create(64u << 20, 0, &pc, &err) == WF_OK, "%s", err.msg);
    wf_context_params cp = ctx_params(WF_KV_F32);
    wf_session *s = NULL, *f = NULL;
    CHECK(wf_session_create(m, &cp, &s, &err) == WF_OK && wf_session_create(m, &cp, &f, &err) == WF_OK, "%s", err.msg);
    if (!s || !f) return;
    wf_session_set_prefix_cache(s, pc);
    collect col = {0};
    wf_gen_result res;
    CHECK(gen(s, a, 100, 8, &col, &res) == WF_OK && res.n_prompt_from_cache == 0, "request A");
    CHECK(gen(s, b, 50, 8, &col, &res) == WF_OK && res.n_prompt_cached == 0 && res.n_prompt_from_cache == 0, "request B: %d cached",
          res.n_prompt_cached);
    wf_prefix_cache_stats st;
    wf_prefix_cache_get_stats(pc, &st);
    CHECK(st.n_entries == 1 && st.n_tokens == 100 + 7, "after B the cache holds A's state: %d entries, %lld tokens", st.n_entries,
          (long long)st.n_tokens);
    /* C shares the 70-token prefix with A: only its 20 new tokens are computed */
    CHECK(gen(s, c, 90, 1, &col, &res) == WF_OK, "request C");
    printf("  request C: %d prompt tokens, %d cached (%d from the prefix cache), %lld decoded, first token after %.2f ms\n",
           res.n_prompt, res.n_prompt_cached, res.n_prompt_from_cache, (long long)res.n_decoded, 1e3 * res.t_first);
    CHECK(res.n_prompt_from_cache == SYS && res.n_prompt_cached == SYS, "C: %d restored, want %d", res.n_prompt_from_cache, SYS);
    CHECK(res.n_decoded == 90 - SYS, "C: %lld tokens decoded, want %d", (long long)res.n_decoded, 90 - SYS);
    float lr[V];
    memcpy(lr, wf_get_logits(wf_session_context(s), -1), sizeof lr);
    collect cf = {0};
    CHECK(gen(f, c, 90, 1, &cf, &res) == WF_OK && res.n_decoded == 90, "fresh C");
    float md = max_diff(lr, wf_get_logits(wf_session_context(f), -1), V);
    printf("  logits after restore vs a fresh session: max |diff| %.3g\n", (double)md);
    CHECK(md <= 1e-5f, "logits after restore differ from a fresh computation by %g", (double)md);
    /* and a longer continuation equals the reference */
    int32_t ref[24];
    ref_greedy(m, c, 90, 24, ref);
    CHECK(gen(s, c, 90, 24, &col, &res) == WF_OK && col.n == 24 && !memcmp(col.tok, ref, sizeof ref), "C continuation");
    /* B again: its state went to the cache when C replaced it */
    CHECK(gen(s, b, 50, 1, &col, &res) == WF_OK && res.n_prompt_from_cache == 49, "B again: %d restored", res.n_prompt_from_cache);
    wf_prefix_cache_get_stats(pc, &st);
    printf("  cache: %d entries, %lld tokens, %.1f KiB, %lld lookups, %lld hits, %lld tokens restored\n", st.n_entries,
           (long long)st.n_tokens, st.bytes / 1024.0, (long long)st.n_lookups, (long long)st.n_hits, (long long)st.n_tokens_restored);
    wf_session_free(s);
    wf_session_free(f);
    wf_prefix_cache_free(pc);
}

/* ---- 3. LRU by size -------------------------------------------------------------- */

static void test_lru(wf_model *m) {
    wf_context_params cp = ctx_params(WF_KV_F32);
    wf_error err = {0};
    wf_session *s = NULL;
    CHECK(wf_session_create(m, &cp, &s, &err) == WF_OK, "%s", err.msg);
    if (!s) return;
    const uint64_t per_tok = wf_kv_export_size(wf_session_context(s), 1);
    /* room for two 40-token entries (plus ids and records), not three */
    const uint64_t limit = per_tok * 40 * 2 + 2048;
    wf_prefix_cache *pc = NULL;
    CHECK(wf_prefix_cache_create(limit, 0, &pc, &err) == WF_OK, "%s", err.msg);
    wf_session_set_prefix_cache(s, pc);
    int32_t p[3][41];
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < 41; i++) p[k][i] = (int32_t)((k * 13 + i * 5 + (i * i) % 7) % V);
    for (int k = 0; k < 3; k++) p[k][0] = (int32_t)k; /* distinct from the first token */
    collect col = {0};
    wf_gen_result res;
    wf_prefix_cache_stats st;
    /* each prompt is 41 tokens; with max_tokens 1 the session holds 40 in its cache */
    gen(s, p[0], 41, 1, &col, &res);
    gen(s, p[1], 41, 1, &col, &res); /* stores p0 */
    gen(s, p[0], 41, 1, &col, &res); /* stores p1, restores p0 (touches it) */
    CHECK(res.n_prompt_from_cache == 40, "p0 restored %d", res.n_prompt_from_cache);
    gen(s, p[2], 41, 1, &col, &res); /* stores p0 again (covered: refresh) */
    wf_prefix_cache_get_stats(pc, &st);
    CHECK(st.n_entries == 2 && st.n_evictions == 0, "two entries: %d, %lld evictions", st.n_entries, (long long)st.n_evictions);
    CHECK(wf_session_cache_store(s, &err) == WF_OK, "store p2: %s", err.msg); /* third: evicts p1, the LRU */
    wf_prefix_cache_get_stats(pc, &st);
    printf("  LRU: limit %llu bytes; %d entries, %llu bytes, %lld evictions\n", (unsigned long long)limit, st.n_entries,
           (unsigned long long)st.bytes, (long long)st.n_evictions);
    CHECK(st.n_entries == 2 && st.n_evictions == 1 && st.bytes <= limit, "after the third: %d entries, %lld evictions, %llu bytes",
          st.n_entries, (long long)st.n_evictions, (unsigned long long)st.bytes);
    wf_session *t = NULL;
    CHECK(wf_session_create(m, &cp, &t, &err) == WF_OK, "%s", err.msg);
    wf_session_set_prefix_cache(t, pc);
    gen(t, p[1], 41, 1, &col, &res);
    CHECK(res.n_prompt_from_cache == 0, "p1 should have been evicted (%d restored)", res.n_prompt_from_cache);
    wf_session_reset(t);
    gen(t, p[0], 41, 1, &col, &res);
    CHECK(res.n_prompt_from_cache == 40, "p0 should be cached (%d restored)", res.n_prompt_from_cache);
    wf_session_reset(t);
    gen(t, p[2], 41, 1, &col, &res);
    CHECK(res.n_prompt_from_cache == 40, "p2 should be cached (%d restored)", res.n_prompt_from_cache);
    /* an entry larger than the whole limit is declined */
    wf_prefix_cache *tiny = NULL;
    CHECK(wf_prefix_cache_create(per_tok * 10, 0, &tiny, &err) == WF_OK, "%s", err.msg);
    wf_session_set_prefix_cache(t, tiny);
    CHECK(wf_session_cache_store(t, &err) == WF_OK, "store into a tiny cache");
    wf_prefix_cache_get_stats(tiny, &st);
    CHECK(st.n_entries == 0 && st.bytes == 0, "an entry over the limit was stored");
    wf_prefix_cache *none = NULL;
    CHECK(wf_prefix_cache_create(0, 0, &none, &err) == WF_ERR_INVALID_ARG && !none, "a cache without limits was created");
    wf_session_free(t);
    wf_session_free(s);
    wf_prefix_cache_free(pc);
    wf_prefix_cache_free(tiny);
}

/* ---- 4. memory stays bounded --------------------------------------------------- */

static void test_bound(wf_model *m) {
    wf_context_params cp = ctx_params(WF_KV_F16);
    wf_error err = {0};
    wf_session *s = NULL;
    CHECK(wf_session_create(m, &cp, &s, &err) == WF_OK, "%s", err.msg);
    if (!s) return;
    const uint64_t per_tok = wf_kv_export_size(wf_session_context(s), 1);
    wf_prefix_cache *pb = NULL, *pt = NULL;
    const uint64_t lim_b = per_tok * 150;
    const int64_t lim_t = 120;
    CHECK(wf_prefix_cache_create(lim_b, 0, &pb, &err) == WF_OK && wf_prefix_cache_create(0, lim_t, &pt, &err) == WF_OK, "%s",
          err.msg);
    t_rng r = {2024};
    uint64_t max_b = 0;
    int64_t max_t = 0;
    for (int req = 0; req < 30; req++) {
        wf_session_set_prefix_cache(s, req % 2 ? pt : pb);
        int32_t p[80];
        int n = 20 + (int)(t_next(&r) % 60);
        for (int i = 0; i < n; i++) p[i] = (int32_t)(t_next(&r) % V);
        collect col = {0};
        wf_gen_result res;
        CHECK(gen(s, p, n, 4, &col, &res) == WF_OK, "request %d", req);
        wf_prefix_cache_stats sb, stt;
        wf_prefix_cache_get_stats(pb, &sb);
        wf_prefix_cache_get_stats(pt, &stt);
        max_b = sb.bytes > max_b ? sb.bytes : max_b;
        max_t = stt.n_tokens > max_t ? stt.n_tokens : max_t;
    }
    wf_prefix_cache_stats sb, stt;
    wf_prefix_cache_get_stats(pb, &sb);
    wf_prefix_cache_get_stats(pt, &stt);
    printf("  bound: byte-limited cache peaked at %llu of %llu bytes (%lld evictions); token-limited at %lld of %lld tokens "
           "(%lld evictions)\n",
           (unsigned long long)max_b, (unsigned long long)lim_b, (long long)sb.n_evictions, (long long)max_t, (long long)lim_t,
           (long long)stt.n_evictions);
    CHECK(max_b <= lim_b && max_t <= lim_t, "limits exceeded");
    CHECK(sb.n_evictions > 0 && stt.n_evictions > 0, "no evictions: the test does not exercise the limits");
    /* an entry extended by a longer one is replaced */
    wf_prefix_cache *pe = NULL;
    CHECK(wf_prefix_cache_create(64u << 20, 0, &pe, &err) == WF_OK, "%s", err.msg);
    wf_session_reset(s);
    wf_session_set_prefix_cache(s, pe);
    int32_t p[60];
    for (int i = 0; i < 60; i++) p[i] = (int32_t)(t_next(&r) % V);
    collect col = {0};
    wf_gen_result res;
    gen(s, p, 30, 1, &col, &res);
    wf_session_cache_store(s, &err);
    gen(s, p, 60, 1, &col, &res); /* extends: the 30 held are reused */
    CHECK(res.n_prompt_cached == 30, "extension reused %d", res.n_prompt_cached);
    wf_session_cache_store(s, &err);
    wf_prefix_cache_get_stats(pe, &sb);
    CHECK(sb.n_entries == 1 && sb.n_tokens == 60, "extension: %d entries, %lld tokens", sb.n_entries, (long long)sb.n_tokens);
    wf_session_free(s);
    wf_prefix_cache_free(pb);
    wf_prefix_cache_free(pt);
    wf_prefix_cache_free(pe);
}

int main(void) {
    char dir[] = "/tmp/wf_pcache_XXXXXX";
    if (!mkdtemp(dir)) return 1;
    gm_cfg mc = {64, 2, 1, 32, 128, V, 2, NCTX, GM_RANDOM, 0.15f, 0x5151, 0x6161, "t", NULL};
    wf_model *m = gm_make(dir, "m", &mc);
    rmdir(dir);
    CHECK(m != NULL, "model");
    if (m) {
        test_snapshot(m);
        test_restore(m);
        test_lru(m);
        test_bound(m);
    }
    wf_model_free(m);
    return t_done("test_pcache");
}
