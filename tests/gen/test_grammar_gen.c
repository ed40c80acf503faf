/* test_grammar_gen.c — constrained generation on the embedded model
 * (models/wafer-embedded.gguf).
 *
 * The reference is written here, apart from the session code and the
 * trie masks: one wf_decode per token, every token of the vocabulary tried
 * against the grammar on its own (wf_grammar_matcher_check), the argmax of
 * the allowed ones (ties -> lowest id). Then, for three grammars (a JSON
 * Schema, JSON mode, a GBNF), wf_session_generate at temperature 0 must give
 * exactly the reference tokens:
 *   - plain; with prompt lookup; with a prediction equal to the answer and
 *     one with wrong tokens in it; with the model drafting for itself (the
 *     draft follows the grammar); the drafts must be accepted sometimes;
 *   - three sessions with different grammars stepped together in shared
 *     passes (wf_sessions_step);
 *   - a second request on the same session reusing the prompt's prefix.
 * At temperature 1, 12 seeds per grammar: every answer that ends at EOG is
 * a complete sentence of the grammar, the others are prefixes of one.
 * Sampling without truncation draws from all tokens first and masks only
 * on a miss: 1200 seeded first tokens under a digits-only grammar must
 * follow softmax(logits) restricted to the allowed tokens, computed here
 * (chi-square, p = 0.001), with both the hit and the miss path taken.
 * argv[1]: the model path. */
#include "gen/gen.h"
#include "grammar/grammar.h"
#include "testutil.h"
#include "text/tokenizer.h"
#include "wafer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { NG = 72 };

static const char *const k_grammars[3][2] = {
    {"schema", "{\"type\": \"object\", \"properties\": {\"name\": {\"type\": \"string\", \"maxLength\": 12}, \"size\": {\"type\": \"integer\", \"minimum\": 0, \"maximum\": 500}, \"tags\": {\"type\": \"array\", \"items\": {\"enum\": [\"a\", \"b\", \"list\"]}, \"maxItems\": 3}}, \"required\": [\"name\", \"size\"], \"additionalProperties\": false}"},
    {"json", NULL},
    {"gbnf", "root ::= \"def \" name \"(\" (name (\", \" name)*)? \"):\\n    return \" expr \"\\n\"\nname ::= [a-z_] [a-z0-9_]{0,8}\nexpr ::= term ((\" + \" | \" * \") term){0,3}\nterm ::= name | [0-9]{1,3}\n"},
};

static wf_grammar *make_grammar(int k) {
    wf_grammar *g = NULL;
    wf_error err;
    wf_status st = k == 1 ? wf_grammar_json_object(&g, &err)
                   : k == 0 ? wf_grammar_from_json_schema(k_grammars[0][1], strlen(k_grammars[0][1]), &g, &err)
                            : wf_grammar_from_gbnf(k_grammars[2][1], strlen(k_grammars[2][1]), &g, &err);
    if (st != WF_OK) {
        fprintf(stderr, "grammar %d: %s\n", k, err.msg);
        exit(1);
    }
    return g;
}

static wf_context_params ctx_params(void) {
    wf_context_params cp = wf_context_default_params();
    cp.n_ctx = 512;
    cp.n_threads = 2;
    cp.n_batch = 64;
    cp.kv_type = WF_KV_F32;
    return cp;
}

/* The reference: *n tokens (the EOG included when reached). */
static void ref_constrained(wf_model *m, const wf_grammar *g, const wf_grammar_vocab *gv, const int32_t *prompt, int np,
                            int32_t *out, int *n) {
    wf_context_params cp = ctx_params();
    wf_context *c = NULL;
    wf_grammar_matcher *gm = NULL;
    *n = 0;
    if (wf_context_create(m, &cp, &c, NULL) != WF_OK || wf_grammar_matcher_create(g, gv, &gm, NULL) != WF_OK) goto out;
    const int32_t nv = wf_model_n_vocab(m);
    if (wf_decode(c, prompt, np, false, NULL) != WF_OK) goto out;
    const wf_vocab *v = wf_model_vocab(m);
    for (; *n < NG;) {
        const float *l = wf_get_logits(c, -1);
        int32_t best = -1;
        for (int32_t t = 0; t < nv; t++)
            if (wf_grammar_matcher_check(gm, &t, 1) == 1 && (best < 0 || l[t] > l[best])) best = t;
        if (best < 0) break;
        out[(*n)++] = best;
        wf_grammar_matcher_accept_token(gm, best);
        if (wf_vocab_is_eog(v, best)) break;
        if (wf_decode(c, &best, 1, false, NULL) != WF_OK) break;
    }
out:
    wf_grammar_matcher_free(gm);
    wf_context_free(c);
}

typedef struct collect {
    int32_t tok[NG + 8];
    int n;
    char text[4096];
    size_t n_text;
} collect;

static bool on_tok(void *user, int32_t tok, const char *text, size_t n_text) {
    collect *c = user;
    if (tok >= 0 && c->n < NG + 8) c->tok[c->n++] = tok;
    if (text && c->n_text + n_text < sizeof c->text) memcpy(c->text + c->n_text, text, n_text), c->n_text += n_text;
    return true;
}

static wf_gen_params gen_params(const wf_grammar *g, const wf_grammar_vocab *gv) {
    wf_gen_params p = wf_gen_default_params();
    p.max_tokens = NG;
    p.grammar = g;
    p.grammar_vocab = gv;
    return p;
}

static bool same_run(const collect *c, const int32_t *ref, int n_ref, const wf_vocab *v) {
    /* the session counts an EOG as generated but does not emit it */
    int want = n_ref > 0 && wf_vocab_is_eog(v, ref[n_ref - 1]) ? n_ref - 1 : n_ref;
    if (c->n != want) return false;
    for (int i = 0; i < want; i++)
        if (c->tok[i] != ref[i]) return false;
    return true;
}

int main(int argc, char **argv) {
    if (argc < 2) return 77;
    wf_model *m = NULL, *dm = NULL;
    wf_model_params mp = wf_model_default_params();
    wf_error err;
    if (wf_model_load(argv[1], &mp, &m, &err) != WF_OK || wf_model_load(argv[1], &mp, &dm, &err) != WF_OK) {
        fprintf(stderr, "load %s: %s\n", argv[1], err.msg);
        return 1;
    }
    const wf_vocab *v = wf_model_vocab(m);
    wf_grammar_vocab *gv = NULL;
    CHECK(wf_grammar_vocab_create(v, &gv, &err) == WF_OK, "grammar vocab");
    static const char prompt_text[] = "# a record\ndef record(name, size):\n    return {\"name\": name, \"size\": size}\n\nx = record";
    int32_t *prompt = NULL;
    size_t np = 0;
    CHECK(wf_tokenize(v, prompt_text, strlen(prompt_text), true, false, &prompt, &np, &err) == WF_OK, "tokenize");
    wf_context_params cp = ctx_params();
    wf_grammar *gs[3];
    int32_t ref[3][NG + 1];
    int n_ref[3];
    for (int k = 0; k < 3; k++) {
        gs[k] = make_grammar(k);
        ref_constrained(m, gs[k], gv, prompt, (int)np, ref[k], &n_ref[k]);
        CHECK(n_ref[k] > 3, "reference %s has tokens (%d)", k_grammars[k][0], n_ref[k]);
    }

    wf_session *s = NULL, *sd = NULL;
    CHECK(wf_session_create(m, &cp, &s, &err) == WF_OK, "session");
    CHECK(wf_session_create(m, &cp, &sd, &err) == WF_OK && wf_session_set_draft(sd, dm, NULL, &err) == WF_OK, "draft session");
    int64_t accepted = 0;
    for (int k = 0; k < 3; k++) {
        const char *name = k_grammars[k][0];
        /* a prediction that is the answer, and one with wrong tokens */
        int32_t good[NG + 1], bad[NG + 1];
        int n_pred = n_ref[k] > 0 && wf_vocab_is_eog(v, ref[k][n_ref[k] - 1]) ? n_ref[k] - 1 : n_ref[k];
        memcpy(good, ref[k], sizeof good);
        memcpy(bad, ref[k], sizeof bad);
        for (int i = 2; i < n_pred; i += 5) bad[i] = (bad[i] + 17) % wf_model_n_vocab(m);
        for (int mode = 0; mode < 5; mode++) {
            wf_gen_params p = gen_params(gs[k], gv);
            wf_session *use = s;
            if (mode == 1) p.spec = WF_SPEC_LOOKUP;
            if (mode == 2) p.prediction = good, p.n_prediction = (size_t)n_pred;
            if (mode == 3) p.prediction = bad, p.n_prediction = (size_t)n_pred, p.spec = WF_SPEC_LOOKUP;
            if (mode == 4) p.spec = WF_SPEC_DRAFT, use = sd;
            collect c = {0};
            wf_gen_callbacks cb = {on_tok, &c};
            wf_gen_result res;
            wf_session_reset(use);
            CHECK(wf_session_generate(use, prompt, np, &p, &cb, &res, &err) == WF_OK, "generate %s mode %d: %s", name, mode, err.msg);
            CHECK(same_run(&c, ref[k], n_ref[k], v), "%s mode %d: the same tokens as the reference (%d vs %d)", name, mode, c.n, n_ref[k]);
            if (mode > 0) accepted += res.n_draft_accepted;
            if (mode == 2) CHECK(res.n_draft_accepted > 0, "%s: the right prediction is accepted", name);
            if (mode == 4) CHECK(res.n_draft_accepted > 0, "%s: the draft model's drafts are accepted", name);
            /* the text is in the grammar */
            wf_grammar_matcher *gm;
            wf_grammar_matcher_create(gs[k], gv, &gm, NULL);
            bool in = wf_grammar_matcher_accept_bytes(gm, c.text, c.n_text);
            CHECK(in, "%s mode %d: the output is in the grammar: %.*s", name, mode, (int)c.n_text, c.text);
            if (res.stop == WF_GEN_STOP_EOG) CHECK(wf_grammar_matcher_can_end(gm), "%s: complete at EOG", name);
            wf_grammar_matcher_free(gm);
        }
        /* prefix reuse: the same prompt again on the warm session */
        collect c = {0};
        wf_gen_callbacks cb = {on_tok, &c};
        wf_gen_params p = gen_params(gs[k], gv);
        wf_gen_result res;
        CHECK(wf_session_generate(s, prompt, np, &p, &cb, &res, &err) == WF_OK, "generate again");
        CHECK(res.n_prompt_cached > 0, "%s: prefix reused (%d)", name, res.n_prompt_cached);
        CHECK(same_run(&c, ref[k], n_ref[k], v), "%s: after prefix reuse, the same tokens", name);
    }
    CHECK(accepted > 0, "drafts accepted under grammars");

    /* three sessions, three grammars, shared passes */
    wf_session *ss[3];
    collect cs[3];
    memset(cs, 0, sizeof cs);
    for (int k = 0; k < 3; k++) {
        CHECK(wf_session_create(m, &cp, &ss[k], &err) == WF_OK, "batch session");
        wf_gen_params p = gen_params(gs[k], gv);
        wf_gen_callbacks cb = {on_tok, &cs[k]};
        CHECK(wf_session_begin(ss[k], prompt, np, &p, &cb, &err) == WF_OK, "begin %d", k);
    }
    bool done[3] = {false, false, false};
    for (int it = 0; it < 4 * NG && !(done[0] && done[1] && done[2]); it++) wf_sessions_step(ss, 3, done);
    for (int k = 0; k < 3; k++) {
        wf_gen_result res;
        CHECK(wf_session_end(ss[k], &res, &err) == WF_OK, "end %d", k);
        CHECK(same_run(&cs[k], ref[k], n_ref[k], v), "%s in a batch of three: the same tokens", k_grammars[k][0]);
        wf_session_free(ss[k]);
    }

    /* sampling: every answer is in the grammar */
    for (int k = 0; k < 3; k++) {
        int complete = 0;
        for (uint64_t seed = 1; seed <= 12; seed++) {
            wf_sampler_params sp = wf_sampler_default_params();
            sp.temperature = 1.0f;
            sp.top_k = 0;
            sp.top_p = 1.0f;
            sp.min_p = 0.0f;
            sp.seed = seed;
            wf_gen_params p = gen_params(gs[k], gv);
            p.sampling = &sp;
            p.spec = seed % 2 ? WF_SPEC_LOOKUP : WF_SPEC_NONE;
            collect c = {0};
            wf_gen_callbacks cb = {on_tok, &c};
            wf_gen_result res;
            CHECK(wf_session_generate(s, prompt, np, &p, &cb, &res, &err) == WF_OK, "sample");
            wf_grammar_matcher *gm;
            wf_grammar_matcher_create(gs[k], gv, &gm, NULL);
            CHECK(wf_grammar_matcher_accept_bytes(gm, c.text, c.n_text), "%s seed %d: in the grammar: %.*s", k_grammars[k][0],
                  (int)seed, (int)c.n_text, c.text);
            if (res.stop == WF_GEN_STOP_EOG) {
                CHECK(wf_grammar_matcher_can_end(gm), "%s seed %d: complete when it stopped", k_grammars[k][0], (int)seed);
                complete++;
            }
            wf_grammar_matcher_free(gm);
        }
        printf("%s: %d of 12 sampled answers complete within %d tokens\n", k_grammars[k][0], complete, NG);
    }

    /* the distribution of the first sampled token */
    {
        static const char digits_gbnf[] = "root ::= [0-9]+ \";\"\n";
        wf_grammar *gd = NULL;
        CHECK(wf_grammar_from_gbnf(digits_gbnf, strlen(digits_gbnf), &gd, &err) == WF_OK, "digits grammar");
        static const char dprompt_text[] = "size = ";
        int32_t *dp = NULL;
        size_t ndp = 0;
        CHECK(wf_tokenize(v, dprompt_text, strlen(dprompt_text), true, false, &dp, &ndp, &err) == WF_OK, "tokenize");
        const int32_t nv = wf_model_n_vocab(m);
        double *pr = calloc((size_t)nv, sizeof *pr);
        long *cnt = calloc((size_t)nv, sizeof *cnt);
        wf_context *c = NULL;
        wf_grammar_matcher *gm = NULL;
        CHECK(wf_context_create(m, &cp, &c, NULL) == WF_OK && wf_decode(c, dp, (int32_t)ndp, false, NULL) == WF_OK &&
                  wf_grammar_matcher_create(gd, gv, &gm, NULL) == WF_OK, "reference context");
        const float *l = wf_get_logits(c, -1);
        double mx = -1e30, z = 0, p_allowed_raw = 0, z_all = 0;
        for (int32_t t = 0; t < nv; t++) mx = l[t] > mx ? l[t] : mx;
        for (int32_t t = 0; t < nv; t++) {
            double e = exp((double)l[t] - mx);
            z_all += e;
            if (wf_grammar_matcher_check(gm, &t, 1) == 1) pr[t] = e, z += e;
        }
        p_allowed_raw = z / z_all;
        for (int32_t t = 0; t < nv; t++) pr[t] /= z;
        const int runs = 1200;
        int hits = 0, misses = 0;
        for (int r = 0; r < runs; r++) {
            wf_sampler_params sp = wf_sampler_default_params();
            sp.temperature = 1.0f, sp.top_k = 0, sp.top_p = 1.0f, sp.min_p = 0.0f, sp.repeat_penalty = 1.0f;
            sp.presence_penalty = 0.0f, sp.frequency_penalty = 0.0f;
            sp.seed = 9000 + (uint64_t)r;
            wf_gen_params p = gen_params(gd, gv);
            p.sampling = &sp;
            p.max_tokens = 1;
            collect cl = {0};
            wf_gen_callbacks cb = {on_tok, &cl};
            wf_gen_result res;
            if (wf_session_generate(s, dp, ndp, &p, &cb, &res, &err) != WF_OK || cl.n != 1) {
                CHECK(0, "sample run %d", r);
                break;
            }
            cnt[cl.tok[0]]++;
            (res.n_grammar_masks ? &misses : &hits)[0]++;
        }
        /* chi-square over the tokens expected >= 5 times, the rest pooled */
        double chi = 0, rest_e = 0, rest_o = 0;
        int bins = 0;
        bool outside = false;
        for (int32_t t = 0; t < nv; t++) {
            double e = pr[t] * runs;
            if (cnt[t] && pr[t] == 0) outside = true;
            if (e >= 5) chi += (cnt[t] - e) * (cnt[t] - e) / e, bins++;
            else rest_e += e, rest_o += (double)cnt[t];
        }
        if (rest_e >= 5) chi += (rest_o - rest_e) * (rest_o - rest_e) / rest_e, bins++;
        int df = bins - 1;
        double h = 2.0 / (9.0 * df), crit = df * pow(1 - h + 3.09 * sqrt(h), 3); /* Wilson-Hilferty, p = 0.001 */
        printf("first token under [0-9]+: p(allowed) before masking %.3f, %d draws hit, %d missed; chi-square %.1f (%d bins, "
               "critical %.1f)\n", p_allowed_raw, hits, misses, chi, bins, crit);
        CHECK(!outside, "no token outside the grammar was sampled");
        CHECK(df >= 1 && chi < crit, "the first token follows the masked distribution (chi-square %.1f < %.1f)", chi, crit);
        CHECK(hits > 0 && misses > 0, "both paths taken (%d hits, %d misses)", hits, misses);
        wf_grammar_matcher_free(gm);
        wf_context_free(c);
        free(pr);
        free(cnt);
        free(dp);
        wf_grammar_free(gd);
    }

    for (int k = 0; k < 3; k++) wf_grammar_free(gs[k]);
    wf_session_free(s);
    wf_session_free(sd);
    wf_grammar_vocab_free(gv);
    free(prompt);
    wf_model_free(dm);
    wf_model_free(m);
    return t_done("test_grammar_gen");
}
