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
 *     token written;
 *  8. wf_vocab_longest_token against a scan over the whole vocabulary;
 *  9. the longest tokens spelling the text ahead are proposed once the model
 *     has written such a token where the tokenizer's split differs (more
 *     often than the split's), never for a model that writes the split;
 * 10. the draft caps: 255 for the prediction by default, 16 for the others.
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

/* ---- the longest token spelling the text ahead ---------------------------- */

/* Every token's bytes, for the brute-force reference below (control tokens
 * left out, as wf_vocab_longest_token leaves them out). */
static char **TB;
static int32_t *TBL, NT;

static void bytes_init(void) {
    NT = wf_vocab_n_tokens(V);
    TB = calloc((size_t)NT, sizeof *TB);
    TBL = calloc((size_t)NT, sizeof *TBL);
    for (int32_t id = 0; TB && TBL && id < NT; id++) {
        int32_t b = wf_token_to_bytes(V, id, NULL, 0);
        TBL[id] = -1;
        if (b <= 0 || wf_vocab_is_control(V, id) || !(TB[id] = malloc((size_t)b))) continue;
        TBL[id] = wf_token_to_bytes(V, id, TB[id], (size_t)b);
    }
}

static void bytes_free(void) {
    for (int32_t id = 0; TB && id < NT; id++) free(TB[id]);
    free(TB);
    free(TBL);
}

/* Reference: scan the whole vocabulary for the most bytes that begin s[n]. */
static int32_t longest_ref(const char *s, size_t n) {
    int32_t best = 0;
    for (int32_t id = 0; id < NT; id++)
        if (TBL[id] > best && (size_t)TBL[id] <= n && !memcmp(TB[id], s, (size_t)TBL[id])) best = TBL[id];
    return best;
}

/* The text split greedily into the longest tokens, by the reference. */
static size_t longest_parse(const char *s, size_t n, int32_t *out) {
    size_t k = 0;
    for (size_t q = 0; q < n && k < MAXT;) {
        int32_t b = longest_ref(s + q, n - q), id = -1;
        for (int32_t t = 0; b > 0 && t < NT && id < 0; t++)
            if (TBL[t] == b && !memcmp(TB[t], s + q, (size_t)b)) id = t;
        if (id < 0) return 0;
        out[k++] = id;
        q += (size_t)b;
    }
    return k;
}

/* 8. wf_vocab_longest_token against the scan over every token, at every
 * byte of code, Unicode (multi-byte characters, an emoji), ill-formed bytes
 * and a run of spaces. */
static void test_longest_lookup(void) {
    static char s[4096];
    int l = snprintf(s, sizeof s, "%s naïve café — 日本語 \xf0\x9f\x98\x80 \xff\xfe\xc3 x          y\n\n\n\t\tz", TEXT);
    size_t bad = 0, n = (size_t)l;
    for (size_t q = 0; q < n; q++) {
        int32_t len = -1, id = wf_vocab_longest_token(V, s + q, n - q, &len);
        int32_t want = longest_ref(s + q, n - q);
        char tb[256];
        int32_t b = id >= 0 ? wf_token_to_bytes(V, id, tb, sizeof tb) : 0;
        bool ok = want == 0 ? id < 0 : (len == want && b == want && !memcmp(tb, s + q, (size_t)b));
        if (!ok && bad++ < 5) fprintf(stderr, "  at %zu: got id %d (%d bytes), want %d bytes\n", q, id, len, want);
    }
    CHECK(bad == 0, "longest token: %zu of %zu positions differ from the scan over the vocabulary", bad, n);
    CHECK(wf_vocab_longest_token(V, s, 0, NULL) < 0 && wf_vocab_longest_token(NULL, s, n, NULL) < 0, "empty input");
}

/* 9. The longest tokens are proposed only once the model has written them
 * where the tokenizer's split has other tokens, more often than it wrote
 * the split's: a model that writes the tokenizer's split (a trained one)
 * keeps getting the split; one that writes the longest tokens (a random
 * one, measured on the edit benchmark) gets them, first occurrence or not. */
static void test_longest_mode(void) {
    static int32_t pt[MAXT], lp[MAXT], hist[MAXT], draft[64];
    static char text[4096];
    snprintf(text, sizeof text, "%s%s", TEXT, "    for key, value in sorted(cfg.items()):\n        print(key, value)\n");
    size_t tl = strlen(text), np = tokenize(text, tl, pt), nl = longest_parse(text, tl, lp);
    size_t d = 0, at = 0; /* the first token where the two splits differ; its byte */
    while (d < np && d < nl && pt[d] == lp[d]) at += (size_t)TBL[pt[d++]];
    CHECK(np > 0 && nl > 0 && d < np && d < nl, "the tokenizer's split and the longest tokens differ in the text");
    if (!(np > 0 && nl > 0 && d < np && d < nl)) return;
    /* a model that wrote the longest tokens up to the first difference (the
     * same as the split so far): the draft is still the split's */
    int32_t k = 0;
    char got[4096];
    size_t gl = draft_after(text, hist, hist_of(lp, d, hist), draft, 8, got, sizeof got, &k);
    CHECK(k > 0 && draft[0] == pt[d], "before any evidence: the draft starts with the split's token %d, got %d", pt[d],
          k ? draft[0] : -1);
    /* ... and one more, its longer token where the split differs: from then
     * on the longest tokens, exactly */
    size_t m = d + 1;
    gl = draft_after(text, hist, hist_of(lp, m, hist), draft, 16, got, sizeof got, &k);
    size_t same = 0;
    while ((int32_t)same < k && m + same < nl && draft[same] == lp[m + same]) same++;
    CHECK(k > 0 && (int32_t)same == k && gl != SIZE_MAX && !memcmp(got, text + at + (size_t)TBL[lp[d]], gl),
          "after the model wrote a longer token: %zu of %d draft tokens are the longest tokens", same, k);
    /* a model that writes the tokenizer's split all along: every draft is the split */
    size_t mismatch = 0, lpw = 0;
    for (size_t n = 2; n + 8 < np; n += 5) {
        gl = draft_after(text, hist, hist_of(pt, n, hist), draft, 8, got, sizeof got, &k);
        for (int32_t i = 0; i < k; i++) mismatch += draft[i] != pt[n + (size_t)i];
    }
    wf_spec_pred p;
    CHECK(wf_spec_pred_init(&p, pt, np, V, NULL) == WF_OK, "init");
    bool end = false;
    wf_spec_pred_propose(&p, hist, hist_of(pt, 1, hist), draft, 8, &end);
    wf_spec_pred_propose(&p, hist, hist_of(pt, np, hist), draft, 8, &end);
    lpw = (size_t)p.n_longest_won;
    CHECK(mismatch == 0 && lpw == 0 && p.n_split_won > 0,
          "the tokenizer's split written: %zu draft tokens not the split's; longest won %zu, split won %d", mismatch,
          lpw, (int)p.n_split_won);
    wf_spec_pred_free(&p);
}

/* 10. The draft caps: by default 16 for lookup and a draft model, 255 for
 * the prediction (its drafts double 32 -> 64 -> 128 -> 255 while accepted
 * whole); a draft_max given caps every source; the model's exact width
 * caps both. */
static void test_caps(void) {
    static int32_t pt[MAXT], hist[2 * MAXT], draft[256];
    static char text[16384];
    size_t o = 0;
    for (int i = 0; i < 24 && o + strlen(TEXT) < sizeof text; i++) o += (size_t)snprintf(text + o, sizeof text - o, "%s", TEXT);
    size_t np = tokenize(text, o, pt);
    wf_spec s;
    CHECK(np > 600 && wf_spec_init(&s, WF_SPEC_LOOKUP, pt, np, 0, V, NULL) == WF_OK, "init (%zu tokens)", np);
    CHECK(s.draft_max == 16 && s.pred_max == WF_SPEC_PRED_MAX_DEFAULT && wf_spec_longest(&s) == 255,
          "default caps: %d, prediction %d, longest %d", s.draft_max, s.pred_max, wf_spec_longest(&s));
    /* a prediction accepted whole: 32, 64, 128, then 255 */
    size_t nh = hist_of(pt, 1, hist), at = 1;
    const int32_t want[] = {32, 64, 128, 255, 255};
    for (int r = 0; r < 5; r++) {
        int32_t k = wf_spec_propose(&s, hist, nh, draft, wf_spec_longest(&s));
        CHECK(k == want[r] && !memcmp(draft, pt + at, (size_t)k * sizeof *draft), "round %d: a draft of %d, want %d", r,
              k, want[r]);
        wf_spec_feedback(&s, k);
        push(hist, &nh, pt + at, (size_t)k + 1);
        at += (size_t)k + 1;
    }
    wf_spec_free(&s);
    /* no prediction: the longest draft is the other sources' */
    CHECK(wf_spec_init(&s, WF_SPEC_LOOKUP, NULL, 0, 0, V, NULL) == WF_OK && wf_spec_longest(&s) == 16, "no prediction");
    wf_spec_free(&s);
    /* a draft_max given caps the prediction too; the model's width caps both */
    CHECK(wf_spec_init(&s, WF_SPEC_LOOKUP, pt, np, 20, V, NULL) == WF_OK && s.pred_max == 20 && wf_spec_longest(&s) == 20,
          "draft_max 20: prediction %d", s.pred_max);
    wf_spec_free(&s);
    CHECK(wf_spec_init(&s, WF_SPEC_LOOKUP, pt, np, 0, V, NULL) == WF_OK, "init");
    wf_spec_cap(&s, 31);
    CHECK(s.pred_max == 31 && s.draft_max == 16 && s.k_pred <= 31, "capped at 31: prediction %d, others %d", s.pred_max,
          s.draft_max);
    /* the prediction's alone (a small model: generation lowers it to 16) */
    wf_spec_cap_pred(&s, 16);
    CHECK(s.pred_max == 16 && s.k_pred == 16 && s.draft_max == 16 && wf_spec_longest(&s) == 16, "prediction capped at 16");
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
    test_caps();
    bytes_init();
    CHECK(TB && TBL, "out of memory");
    if (TB && TBL) {
        test_longest_lookup();
        test_longest_mode();
    }
    bytes_free();
    wf_model_free(m);
    return t_done("test_spec_pred");
}
