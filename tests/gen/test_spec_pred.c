/* test_spec_pred.c — the prediction draft source follows the output by its
 * text, not its token ids (src/gen/spec_pred.c).
 *
 * With the embedded model's tokenizer (byte-level BPE; only the vocabulary
 * is loaded), every check is on what a draft spells, computed here from the
 * tokens' bytes:
 *  1. an output that split the prediction's text into other tokens (single
 *     bytes) stays in step: the draft spells the text right after it, also
 *     when the output stopped inside one of the prediction's tokens;
 *  2. after an inserted line the draft resumes where the output rejoined the
 *     prediction's text;
 *  3. bytes that form no character (later written as U+FFFD in the
 *     prediction, as the edit benchmark's self-prediction has them) keep the
 *     source in step; the draft spells the text after the U+FFFD;
 *  4. the model's own split of text it wrote before is proposed (copied from
 *     the history after the same two tokens), not the tokenizer's;
 *  5. without a vocabulary, ids are matched as they are (resync on an
 *     n-gram of ids, never at the spot just refused);
 *  6. the model's own token for one of the prediction's tokens is proposed
 *     where the history has no split after the same token;
 *  7. the draft length (wf_spec, spec.c): the first draft is 32 long, a
 *     draft cut short while the output stays in step with the text keeps
 *     its length (halves the second time in a row that under a quarter was
 *     accepted), output that
 *     leaves the text drops it to one more than what was accepted, and a
 *     wrong prediction wastes at most the first draft plus one token per
 *     token written.
 * argv[1]: the embedded model (committed).
 */
#include "gen/gen.h"
#include "testutil.h"
#include "text/tokenizer.h"
#include "wafer.h"

#include <stdlib.h>
#include <string.h>

enum { MAXT = 4096 };

static const wf_vocab *V;

static size_t tok_text(const int32_t *t, size_t n, char *out, size_t cap) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t b = wf_token_to_bytes(V, t[i], out ? out + o : NULL, out ? cap - o : 0);
        if (b < 0 || (out && o + (size_t)b > cap)) return SIZE_MAX;
        o += (size_t)b;
    }
    return o;
}

static size_t tokenize(const char *s, size_t n, int32_t *out) {
    int32_t *ids = NULL;
    size_t k = 0;
    if (wf_tokenize(V, s, n, false, false, &ids, &k, NULL) != WF_OK || k > MAXT) return 0;
    memcpy(out, ids, k * sizeof *ids);
    free(ids);
    return k;
}

/* The byte token of b (GPT-2 byte-to-character map), or -1. */
static int32_t byte_token(unsigned char b) {
    unsigned cp = b;
    if (!((b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae))) {
        unsigned n = 0;
        for (unsigned x = 0; x < b; x++)
            if (!((x >= 0x21 && x <= 0x7e) || (x >= 0xa1 && x <= 0xac) || (x >= 0xae))) n++;
        cp = 256 + n;
    }
    char u[3];
    size_t l = 0;
    if (cp < 0x80) {
        u[l++] = (char)cp;
    } else {
        u[l++] = (char)(0xc0 | (cp >> 6));
        u[l++] = (char)(0x80 | (cp & 0x3f));
    }
    return wf_vocab_find_token(V, u, l);
}

/* Propose from a fresh source for prediction text pred after the output
 * history hist (prompt token first); the draft's text into got. */
static size_t draft_after(const char *pred, const int32_t *hist, size_t n_hist, int32_t *draft, int32_t max_n,
                          char *got, size_t cap, int32_t *n_draft) {
    static int32_t pt[MAXT];
    size_t np = tokenize(pred, strlen(pred), pt);
    wf_spec_pred p;
    if (wf_spec_pred_init(&p, pt, np, V, NULL) != WF_OK) return SIZE_MAX;
    bool end = false;
    /* as generation calls it: first after the first output token, then once more with the rest */
    wf_spec_pred_propose(&p, hist, 2, draft, max_n, &end);
    int32_t k = wf_spec_pred_propose(&p, hist, n_hist, draft, max_n, &end);
    wf_spec_pred_free(&p);
    *n_draft = k;
    return tok_text(draft, (size_t)k, got, cap);
}

static const char *TEXT =
    "def load_config(path):\n    with open(path) as f:\n        return json.load(f)\n\n"
    "def save_config(path, cfg):\n    with open(path, 'w') as f:\n        json.dump(cfg, f)\n";

/* The history: a prompt token, then out[0..n) as the output. */
static size_t hist_of(const int32_t *out, size_t n, int32_t *hist) {
    hist[0] = wf_vocab_bos(V) >= 0 ? wf_vocab_bos(V) : 0;
    memcpy(hist + 1, out, n * sizeof *out);
    return n + 1;
}

static void test_split(void) {
    static int32_t out[MAXT], hist[MAXT], draft[64];
    static char got[4096];
    const size_t tl = strlen(TEXT);
    /* 1a. the first 30 bytes as single-byte tokens (nothing like the tokenizer's split) */
    size_t n = 0;
    for (size_t i = 0; i < 30; i++) {
        int32_t b = byte_token((unsigned char)TEXT[i]);
        CHECK(b >= 0, "no byte token for %02x", (unsigned char)TEXT[i]);
        out[n++] = b;
    }
    int32_t k = 0;
    size_t gl = draft_after(TEXT, hist, hist_of(out, n, hist), draft, 32, got, sizeof got, &k);
    CHECK(k == 32 && gl != SIZE_MAX && gl <= tl - 30 && !memcmp(got, TEXT + 30, gl),
          "split output: draft of %d tokens spells %.*s, want the text from byte 30", k, (int)(gl == SIZE_MAX ? 0 : gl), got);
    /* 1b. the tokenizer's tokens up to a point inside one of them: the output
     * wrote the first byte of the token at index 7 alone */
    static int32_t pt[MAXT];
    size_t np = tokenize(TEXT, tl, pt);
    size_t at = tok_text(pt, 7, NULL, 0);
    memcpy(out, pt, 7 * sizeof *pt);
    out[7] = byte_token((unsigned char)TEXT[at]);
    CHECK(tok_text(pt + 7, 1, NULL, 0) > 1 && out[7] >= 0, "token 7 is a single byte");
    gl = draft_after(TEXT, hist, hist_of(out, 8, hist), draft, 16, got, sizeof got, &k);
    CHECK(k > 0 && gl != SIZE_MAX && !memcmp(got, TEXT + at + 1, gl) && gl >= 16,
          "mid-token: draft spells %.*s, want the text from byte %zu", (int)(gl == SIZE_MAX ? 0 : gl), got, at + 1);
    (void)np;
}

static void test_insert(void) {
    static int32_t out[MAXT], hist[MAXT], draft[64];
    static char got[4096], buf[4096];
    /* the output inserted a line after the first one, then went on with the file */
    const char *nl = strchr(TEXT, '\n') + 1;
    size_t head = (size_t)(nl - TEXT), more = 40;
    int l = snprintf(buf, sizeof buf, "%.*s    \"\"\"Read the settings.\"\"\"\n%.*s", (int)head, TEXT, (int)more, nl);
    size_t n = tokenize(buf, (size_t)l, out);
    /* keep the output's tokens up to a token boundary at or after the rejoin + 12 bytes */
    size_t keep = 0, bytes = 0;
    while (keep < n && bytes < (size_t)l - more + 12) bytes += tok_text(out + keep++, 1, NULL, 0);
    size_t rejoin = head + (bytes - ((size_t)l - more)); /* where in TEXT the output is */
    int32_t k = 0;
    size_t gl = draft_after(TEXT, hist, hist_of(out, keep, hist), draft, 16, got, sizeof got, &k);
    CHECK(k > 0 && gl != SIZE_MAX && !memcmp(got, TEXT + rejoin, gl) && gl >= 16,
          "after an insertion: draft spells %.*s, want the text from byte %zu", (int)(gl == SIZE_MAX ? 0 : gl), got, rejoin);
}

static void test_fffd(void) {
    static int32_t out[MAXT], hist[MAXT], draft[64];
    static char got[4096], pred[512];
    /* the model wrote E5 B1 (the start of a 3-byte character) then " x = 1":
     * its text (and so the prediction made from it) has U+FFFD there */
    const char *before = "a = 2\n", *after = " x = 1\nprint(x)\nprint(x + 1)\nprint(x + 2)\n";
    snprintf(pred, sizeof pred, "%s\xef\xbf\xbd%s", before, after);
    size_t n = tokenize(before, strlen(before), out);
    out[n++] = byte_token(0xe5);
    out[n++] = byte_token(0xb1);
    CHECK(out[n - 1] >= 0 && out[n - 2] >= 0, "byte tokens");
    int32_t k = 0;
    size_t gl = draft_after(pred, hist, hist_of(out, n, hist), draft, 8, got, sizeof got, &k);
    CHECK(k > 0 && gl != SIZE_MAX && gl <= strlen(after) && !memcmp(got, after, gl),
          "held bytes: draft spells %.*s, want %s", (int)(gl == SIZE_MAX ? 0 : gl), got, after);
    /* the next token came: the U+FFFD is out and the source is still in step */
    size_t n2 = n + tokenize(" x", 2, out + n);
    gl = draft_after(pred, hist, hist_of(out, n2, hist), draft, 8, got, sizeof got, &k);
    CHECK(k > 0 && gl != SIZE_MAX && !memcmp(got, after + 2, gl), "after U+FFFD: draft spells %.*s, want %s",
          (int)(gl == SIZE_MAX ? 0 : gl), got, after + 2);
}

static void test_own_split(void) {
    static int32_t out[MAXT], hist[MAXT], draft[64], pt[MAXT];
    static char got[4096];
    /* "alpha = beta\n" twice; the first time the output wrote " beta" as
     * " b" + "eta"; the prediction (the tokenizer's) has " beta" as it splits it */
    const char *line = "alpha = beta\n";
    const char *pred = "alpha = beta\nalpha = beta\nalpha = beta\n";
    size_t n = tokenize("alpha =", 7, out);
    size_t nb = tokenize(" b", 2, out + n);
    size_t ne = tokenize("eta\n", 4, out + n + nb);
    size_t n1 = n + nb + ne;
    size_t n2 = tokenize("alpha =", 7, out + n1);
    size_t np = tokenize(pred, strlen(pred), pt);
    /* the tokenizer must split " beta" otherwise for the check to mean anything */
    int32_t tb[8];
    size_t ntb = tokenize(" beta", 5, tb);
    CHECK(ntb >= 1 && tb[0] != out[n], "the tokenizer splits ' beta' as the output did");
    int32_t k = 0;
    size_t gl = draft_after(pred, hist, hist_of(out, n1 + n2, hist), draft, 8, got, sizeof got, &k);
    CHECK(k >= (int32_t)nb && gl != SIZE_MAX && !memcmp(got, pred + strlen(line) + 7, gl), "own split: spells %.*s",
          (int)(gl == SIZE_MAX ? 0 : gl), got);
    CHECK(!memcmp(draft, out + n, nb * sizeof *draft), "own split: the draft starts with the output's own ' b' tokens");
    (void)np;
}

static void test_ids(void) {
    int32_t pred[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, draft[8];
    wf_spec_pred p;
    CHECK(wf_spec_pred_init(&p, pred, 12, NULL, NULL) == WF_OK, "init without vocabulary");
    bool end = false;
    int32_t h1[] = {99, 1};
    int32_t k = wf_spec_pred_propose(&p, h1, 2, draft, 3, &end);
    CHECK(k == 3 && draft[0] == 2 && draft[2] == 4 && !end, "ids: in step, got %d tokens from %d", k, k ? draft[0] : -1);
    int32_t h2[] = {99, 1, 2, 3, 50, 51, 6, 7};
    k = wf_spec_pred_propose(&p, h2, 8, draft, 8, &end);
    CHECK(k == 5 && draft[0] == 8 && draft[4] == 12 && end, "ids: resync after 6 7, got %d from %d", k, k ? draft[0] : -1);
    wf_spec_pred_free(&p);
}

static void test_subst(void) {
    static int32_t out[MAXT], hist[MAXT], draft[64];
    static char got[4096];
    /* the output wrote " beta" as " b" + "eta" after "alpha ="; the text goes
     * on with "return beta", where the history has nothing after "return" */
    const char *pred = "alpha = beta\nreturn beta\n";
    size_t n = tokenize("alpha =", 7, out);
    size_t nb = tokenize(" b", 2, out + n);
    size_t ne = tokenize("eta\n", 4, out + n + nb);
    size_t n2 = tokenize("return", 6, out + n + nb + ne);
    int32_t tb[8];
    size_t ntb = tokenize(" beta", 5, tb);
    CHECK(nb == 1 && n2 == 1 && ntb >= 1 && tb[0] != out[n], "the tokenizer splits ' beta' unlike the output");
    int32_t k = 0;
    size_t gl = draft_after(pred, hist, hist_of(out, n + nb + ne + n2, hist), draft, 8, got, sizeof got, &k);
    const char *want = pred + strlen("alpha = beta\nreturn");
    CHECK(k >= 1 && gl != SIZE_MAX && gl <= strlen(want) && !memcmp(got, want, gl), "subst: spells %.*s",
          (int)(gl == SIZE_MAX ? 0 : gl), got);
    CHECK(k >= 1 && draft[0] == out[n], "subst: the draft starts with the output's own ' b' token");
}

/* Append tokens t[n] to hist (at *nh). */
static void push(int32_t *hist, size_t *nh, const int32_t *t, size_t n) {
    memcpy(hist + *nh, t, n * sizeof *t);
    *nh += n;
}

static void test_length(void) {
    static int32_t pt[MAXT], hist[MAXT], draft[256];
    static char text[4096], b1[64];
    snprintf(text, sizeof text, "%s%s%s", TEXT, TEXT, TEXT);
    size_t np = tokenize(text, strlen(text), pt);
    wf_spec s;
    CHECK(np > 100 && wf_spec_init(&s, WF_SPEC_NONE, pt, np, 64, V, NULL) == WF_OK, "init (%zu tokens)", np);
    size_t nh = hist_of(pt, 1, hist);
    int32_t k = wf_spec_propose(&s, hist, nh, draft, 64);
    CHECK(k == 32 && !memcmp(draft, pt + 1, 32 * sizeof *draft), "first draft: %d tokens, want 32", k);
    /* accepted up to a token of several bytes (a >= 8), where the model
     * wrote that token's first byte alone: still in step */
    int32_t a = 8;
    while (a < 31 && tok_text(draft + a, 1, NULL, 0) < 2) a++;
    CHECK(a < 31 && tok_text(draft + a, 1, b1, sizeof b1) >= 2, "a token of several bytes in the draft");
    int32_t by = byte_token((unsigned char)b1[0]);
    CHECK(by >= 0 && by != draft[a], "byte token");
    push(hist, &nh, draft, (size_t)a);
    push(hist, &nh, &by, 1);
    wf_spec_feedback(&s, a);
    k = wf_spec_propose(&s, hist, nh, draft, 64);
    CHECK(k == 32, "in step after %d of 32 (a re-split): %d tokens, want 32 (kept)", a, k);
    /* twice: (almost) nothing accepted, the model wrote the first byte of a
     * draft token of several bytes */
    for (int r = 0; r < 2; r++) {
        a = 0;
        while (a < 7 && tok_text(draft + a, 1, NULL, 0) < 2) a++;
        CHECK(a < 7 && tok_text(draft + a, 1, b1, sizeof b1) >= 2, "a token of several bytes early in the draft");
        by = byte_token((unsigned char)b1[0]);
        push(hist, &nh, draft, (size_t)a);
        push(hist, &nh, &by, 1);
        wf_spec_feedback(&s, a);
        k = wf_spec_propose(&s, hist, nh, draft, 64);
        CHECK(k == (r ? 16 : 32), "in step after %d of 32, %s: %d tokens, want %d", a, r ? "twice" : "once", k,
              r ? 16 : 32);
    }
    /* the output leaves the text */
    int32_t odd[8];
    size_t no = tokenize("@@~~", 4, odd);
    CHECK(no >= 1, "tokens");
    wf_spec_feedback(&s, 0);
    push(hist, &nh, odd, no);
    k = wf_spec_propose(&s, hist, nh, draft, 64);
    CHECK(k <= 1, "after leaving the text: %d tokens, want at most 1", k);
    wf_spec_free(&s);

    /* a wrong prediction: the output is other text; count the refused tokens */
    static int32_t outt[MAXT];
    const char *other = "The quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs. "
                        "Sphinx of black quartz, judge my vow! How vexingly quick daft zebras jump.\n";
    snprintf(text, sizeof text, "%s%s%s", other, other, other);
    size_t no2 = tokenize(text, strlen(text), outt);
    CHECK(no2 > 60 && wf_spec_init(&s, WF_SPEC_NONE, pt, np, 64, V, NULL) == WF_OK, "init");
    nh = hist_of(outt, 1, hist);
    size_t at = 1, refused = 0, passes = 0;
    while (at < no2) {
        k = wf_spec_propose(&s, hist, nh, draft, 64);
        int32_t acc = 0;
        while (acc < k && at + (size_t)acc < no2 && draft[acc] == outt[at + acc]) acc++;
        wf_spec_feedback(&s, acc);
        refused += (size_t)(k - acc);
        size_t step = (size_t)acc + 1 < no2 - at ? (size_t)acc + 1 : no2 - at;
        push(hist, &nh, outt + at, step);
        at += step;
        passes++;
    }
    CHECK(refused <= 32 + passes, "a wrong prediction: %zu tokens refused over %zu passes (at most 32 + one a pass)",
          refused, passes);
    printf("a wrong prediction: %zu tokens refused over %zu passes, %zu tokens written\n", refused, passes, no2);
    wf_spec_free(&s);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: test_spec_pred MODEL.gguf\n");
        return 1;
    }
    wf_model_params mp = wf_model_default_params();
    mp.vocab_only = true;
    wf_model *m = NULL;
    wf_error err = {0};
    if (wf_model_load(argv[1], &mp, &m, &err) != WF_OK || !(V = wf_model_vocab(m))) {
        fprintf(stderr, "test_spec_pred: %s: %s\n", argv[1], err.msg);
        return 1;
    }
    test_split();
    test_insert();
    test_fffd();
    test_own_split();
    test_ids();
    test_subst();
    test_length();
    wf_model_free(m);
    return t_done("test_spec_pred");
}
