/* kv_ring_check.c — the sliding-window layers' ring KV cache against a
 * context that keeps every position (kv_full), on a gpt-oss-shaped model,
 * for test_kv_ring.py:
 *
 *   kv_ring_check MODEL
 *
 * Both contexts see the same calls and must give bit-identical logits:
 * prefill in chunks, single-token decode, rollback of rejected "drafts"
 * (decode k, truncate, decode others), a truncation below what the rings
 * hold (refused, clearly; to the minimum: allowed), snapshots (export,
 * import whole and as a prefix, a prefix whose window is gone refused), and
 * sessions with speculative decoding and a prefix cache. Memory: the ring
 * context's KV bytes against the full one's. Prints "ok ..." / "FAIL ...";
 * exit 1 on any failure.
 */
#include "wafer.h"
#include "gen/gen.h"
#include "model/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures, checks;

static void check(int cond, const char *fmt, const char *detail) {
    checks++;
    if (!cond) failures++;
    printf("%s ", cond ? "ok  " : "FAIL");
    printf(fmt, detail ? detail : "");
    printf("\n");
}

static wf_context *ctx(wf_model *m, bool full) {
    wf_context_params p = wf_context_default_params();
    p.n_ctx = 256;
    p.n_batch = 4;
    p.n_threads = 2;
    p.kv_type = WF_KV_F32;
    p.kv_full = full;
    wf_context *c = NULL;
    wf_error err = {0};
    if (wf_context_create(m, &p, &c, &err) != WF_OK) {
        fprintf(stderr, "context: %s\n", err.msg);
        exit(1);
    }
    return c;
}

/* Decode tokens in both contexts; compare every logit row bit for bit. */
static bool both(wf_context *a, wf_context *b, const int32_t *t, int32_t n, int32_t n_vocab) {
    wf_error ea = {0}, eb = {0};
    if (wf_decode(a, t, n, true, &ea) != WF_OK || wf_decode(b, t, n, true, &eb) != WF_OK) {
        fprintf(stderr, "decode: %s / %s\n", ea.msg, eb.msg);
        return false;
    }
    for (int32_t i = 0; i < n; i++)
        if (memcmp(wf_get_logits(a, i), wf_get_logits(b, i), sizeof(float) * (size_t)n_vocab)) return false;
    return true;
}

typedef struct toks {
    int32_t t[512];
    int n;
} toks;

static bool on_tok(void *u, int32_t token, const char *text, size_t n) {
    (void)text, (void)n;
    toks *k = u;
    if (token >= 0 && k->n < 512) k->t[k->n++] = token;
    return true;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: kv_ring_check MODEL\n");
        return 2;
    }
    wf_error err = {0};
    wf_model *m = NULL;
    wf_model_params mp = wf_model_default_params();
    if (wf_model_load(argv[1], &mp, &m, &err) != WF_OK) {
        fprintf(stderr, "load: %s\n", err.msg);
        return 1;
    }
    const int32_t V = wf_model_n_vocab(m), W = wf_model_hparams(m)->n_swa;
    wf_context *full = ctx(m, true), *ring = ctx(m, false);
    char buf[256];
    snprintf(buf, sizeof buf, "%llu vs %llu bytes (window %d, ring %d rows)",
             (unsigned long long)wf_context_kv_bytes(ring), (unsigned long long)wf_context_kv_bytes(full), W,
             wf_kv_ring_rows(W, 256, 4));
    const wf_hparams *hp = wf_model_hparams(m);
    int n_slide = 0;
    for (int l = 0; l < hp->n_layer; l++) n_slide += wf_layer_window(hp, l) > 0;
    const uint64_t per_layer = wf_context_kv_bytes(full) / (uint64_t)hp->n_layer;
    const uint64_t expect = per_layer * (uint64_t)(hp->n_layer - n_slide) + per_layer / 256 * (uint64_t)(W + 8) * (uint64_t)n_slide;
    check(n_slide > 0 && wf_kv_ring_rows(W, 256, 4) == W + 8 && wf_context_kv_bytes(ring) == expect,
          "memory: the sliding half keeps window + 2 n_batch rows: %s", buf);

    int32_t seq[400];
    uint32_t r = 12345;
    for (int i = 0; i < 400; i++) r = r * 1103515245u + 12345u, seq[i] = (int32_t)((r >> 8) % (uint32_t)V);
    /* prefill in uneven calls (chunks of n_batch inside), then one by one */
    bool ok = true;
    int at = 0;
    const int calls[] = {7, 1, 3, 13, 4, 2, 9, 5};
    for (int i = 0; ok && at < 120; i++) {
        int n = calls[i % 8];
        ok = both(full, ring, seq + at, n, V);
        at += n;
    }
    check(ok, "prefill and decode past the window: identical logits%s", "");
    /* rejected drafts: decode k, roll back k - acc, decode others */
    ok = true;
    for (int round = 0; ok && round < 20; round++) {
        const int k = 1 + round % 4, acc = round % (k + 1);
        ok = both(full, ring, seq + 200 + round * 4, k, V);
        const int32_t keep = wf_context_n_past(full) - k + acc;
        ok = ok && wf_kv_truncate(full, keep, &err) == WF_OK && wf_kv_truncate(ring, keep, &err) == WF_OK;
        ok = ok && both(full, ring, seq + at + round, 1, V);
    }
    check(ok, "rollback of up to n_batch rejected tokens: identical logits after%s", err.msg);

    /* too far back for the rings: refused, nothing changed; the minimum works */
    const int32_t np = wf_context_n_past(ring), lo = wf_kv_truncate_min(ring);
    wf_error e2 = {0};
    wf_status st = wf_kv_truncate(ring, lo - 1, &e2);
    check(lo > 0 && lo <= np && st == WF_ERR_RANGE && strstr(e2.msg, "sliding-window") && wf_context_n_past(ring) == np,
          "truncation before the rings' window is refused: %s", e2.msg);
    check(wf_kv_truncate(ring, lo, &err) == WF_OK && wf_kv_truncate(full, lo, &err) == WF_OK &&
          both(full, ring, seq + 300, 6, V), "truncation to wf_kv_truncate_min, then decode: identical%s", "");
    /* snapshots: whole, as a prefix, and a prefix whose window is gone */
    ok = both(full, ring, seq + 310, 12, V);
    const int32_t N = wf_context_n_past(ring);
    const uint64_t sz = wf_kv_export_size(ring, N);
    void *snap = malloc(sz);
    st = wf_kv_export(ring, N, snap, sz, &err);
    snprintf(buf, sizeof buf, "%llu bytes vs %llu for every position", (unsigned long long)sz,
             (unsigned long long)wf_kv_export_size(full, N));
    check(ok && st == WF_OK && sz < wf_kv_export_size(full, N), "export from the ring context: %s", buf);
    wf_context *r2 = ctx(m, false);
    ok = wf_kv_import(r2, N, snap, sz, &err) == WF_OK && both(full, r2, seq + 330, 5, V);
    check(ok, "import of the whole snapshot, then decode: identical to the full context%s", err.msg);
    /* a snapshot keeps window + n_batch = W + 4 rows of the rings: prefixes
     * down to N - 5 have their window in it */
    const int32_t good = N - 3, bad = N - 6;
    ok = wf_kv_snapshot_serves(r2, N, good) && !wf_kv_snapshot_serves(r2, N, bad);
    ok = ok && wf_kv_import(r2, good, snap, sz, &err) == WF_OK && wf_kv_truncate(full, good, &err) == WF_OK &&
         both(full, r2, seq + 340, 7, V);
    check(ok, "import of a prefix whose window the snapshot holds: identical%s", err.msg);
    e2 = (wf_error){0};
    st = wf_kv_import(r2, bad, snap, sz, &e2);
    check(st == WF_ERR_RANGE && strstr(e2.msg, "sliding window"), "import of a prefix whose window is gone: refused (%s)", e2.msg);
    /* export after a rollback beyond what a snapshot keeps: refused */
    wf_kv_truncate(r2, wf_kv_truncate_min(r2), NULL);
    const int32_t n2 = wf_context_n_past(r2);
    const uint64_t sz2 = wf_kv_export_size(r2, n2);
    void *snap2 = malloc(sz2);
    e2 = (wf_error){0};
    st = wf_kv_export(r2, n2, snap2, sz2, &e2);
    check(st == WF_ERR_RANGE, "export of positions the rings lost: refused (%s)", e2.msg);
    free(snap2);
    free(snap);
    wf_context_free(r2);

    /* sessions: speculative decoding (lookup) and a prefix cache, ring vs full */
    wf_prefix_cache *pcs[2] = {NULL, NULL};
    toks out[2][2];
    wf_gen_result res[2][2];
    memset(out, 0, sizeof out);
    int32_t prompt[160];
    for (int i = 0; i < 160; i++) prompt[i] = seq[i % 23]; /* repetitive: lookup drafts */
    for (int v = 0; v < 2; v++) {
        wf_context_params p = wf_context_default_params();
        p.n_ctx = 256;
        p.n_batch = 4;
        p.n_threads = 2;
        p.kv_type = WF_KV_F32;
        p.kv_full = v == 0;
        wf_session *s = NULL;
        if (wf_session_create(m, &p, &s, &err) != WF_OK || wf_prefix_cache_create(64u << 20, 0, &pcs[v], &err) != WF_OK) {
            fprintf(stderr, "session: %s\n", err.msg);
            return 1;
        }
        wf_session_set_prefix_cache(s, pcs[v]);
        wf_gen_params gp = wf_gen_default_params();
        gp.max_tokens = 40;
        gp.spec = WF_SPEC_LOOKUP;
        wf_gen_callbacks cb = {on_tok, &out[v][0]};
        st = wf_session_generate(s, prompt, 120, &gp, &cb, &res[v][0], &err);
        /* turn 2: the first 120 tokens again, then something else: the
         * session's cache cannot roll back that far through the ring; the
         * prefix cache has the prompt's end */
        cb.user = &out[v][1];
        if (st == WF_OK) st = wf_session_generate(s, prompt, 150, &gp, &cb, &res[v][1], &err);
        if (st != WF_OK) fprintf(stderr, "generate: %s\n", err.msg);
        wf_session_free(s);
    }
    ok = out[0][0].n == 40 && out[0][1].n == 40 && !memcmp(&out[0], &out[1], sizeof out[0]);
    snprintf(buf, sizeof buf, "drafts %lld/%lld accepted; turn 2: %d of 150 prompt tokens cached (%d from the prefix cache)",
             (long long)res[1][0].n_draft_accepted, (long long)res[1][0].n_draft_proposed, res[1][1].n_prompt_cached,
             res[1][1].n_prompt_from_cache);
    check(ok && res[1][0].n_draft_proposed > 0 && res[0][0].n_draft_proposed == res[1][0].n_draft_proposed,
          "sessions with lookup drafts: the same tokens with and without the ring: %s", buf);
    check(res[1][1].n_prompt_cached >= 120 && res[1][1].n_prompt_from_cache >= 120,
          "turn 2 with the ring: the prompt comes back from the prefix cache: %s", buf);
    wf_prefix_cache_free(pcs[0]);
    wf_prefix_cache_free(pcs[1]);
    wf_context_free(full);
    wf_context_free(ring);
    wf_model_free(m);
    printf("kv_ring_check: %d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
