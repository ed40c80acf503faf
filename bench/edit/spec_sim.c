/* spec_sim.c — the prediction draft source (src/gen/spec.c, spec_pred.c)
 * replayed against a model's recorded greedy output, without the model.
 *
 * With greedy decoding the model's tokens do not depend on the drafts, so
 * which draft tokens a verification pass accepts is known from the output
 * alone: the longest prefix of the draft equal to the tokens the model
 * wrote next. Replaying the draft source through that output gives the
 * passes a real run makes (draft length, tokens accepted) in milliseconds
 * instead of minutes of a 1.5B-shaped model, which is what changes to the
 * draft source are judged on first; bench/edit/replay.py then prices the
 * passes, and bench/edit/run.py confirms with real runs.
 *
 *   bench_spec_sim VOCAB.gguf IDS PREDICTION [DRAFT_MAX]
 *
 * IDS: a text file "N_PROMPT id id ..." (the prompt's ids, then the output's)
 * as a run's token history (wafer edit does not print ids: a local print of
 * the request's prompt length and s->tok in finish(), src/gen/session.c,
 * run with the plain command of bench/edit/run.py, as replay.py's TRACE
 * lines come from one); PREDICTION: the prediction's text (tokenized as
 * `wafer edit --predict` does; for the file as the prediction, the file
 * fenced as wafer edit fences it). Prints one "TRACE src=S k=K acc=A" line
 * per pass (replay.py reads them) and a summary line; with SIM_VERBOSE set,
 * a pass cut short also shows the model's token and the draft's there.
 */
#include "gen/gen.h"
#include "text/tokenizer.h"
#include "wafer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int32_t *read_ids(const char *path, size_t *n, size_t *n_prompt) {
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    size_t cap = 1024, k = 0;
    int32_t *ids = malloc(cap * sizeof *ids);
    long np = -1, x;
    if (!ids || fscanf(f, "%ld", &np) != 1 || np < 1) {
        free(ids);
        fclose(f);
        return NULL;
    }
    while (fscanf(f, "%ld", &x) == 1) {
        if (k == cap) {
            int32_t *t = realloc(ids, 2 * cap * sizeof *ids);
            if (!t) break;
            ids = t, cap *= 2;
        }
        ids[k++] = (int32_t)x;
    }
    fclose(f);
    *n = k;
    *n_prompt = (size_t)np;
    return ids;
}

static char *read_text(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16;
    char *s = malloc(cap);
    *n = s ? fread(s, 1, cap, f) : 0;
    fclose(f);
    return s;
}

/* A token's bytes, quoted, to stdout. */
static void show(const wf_vocab *v, int32_t id) {
    char b[512];
    int32_t n = wf_token_to_bytes(v, id, b, sizeof b);
    putchar('"');
    for (int32_t i = 0; i < n && i < (int32_t)sizeof b; i++) {
        unsigned char c = (unsigned char)b[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') putchar(c);
        else printf("\\x%02x", c);
    }
    putchar('"');
}

int main(int argc, char **argv) {
    const bool verbose = getenv("SIM_VERBOSE") != NULL;
    if (argc < 4) {
        fprintf(stderr, "usage: bench_spec_sim VOCAB.gguf IDS PREDICTION [DRAFT_MAX]\n");
        return 2;
    }
    wf_model_params mp = wf_model_default_params();
    mp.vocab_only = true;
    wf_model *m = NULL;
    wf_error err = {0};
    if (wf_model_load(argv[1], &mp, &m, &err) != WF_OK) {
        fprintf(stderr, "bench_spec_sim: %s: %s\n", argv[1], err.msg);
        return 1;
    }
    const wf_vocab *v = wf_model_vocab(m);
    size_t n = 0, np = 0, nt = 0;
    int32_t *ids = read_ids(argv[2], &n, &np);
    char *text = read_text(argv[3], &nt);
    int32_t *pred = NULL;
    size_t n_pred = 0;
    if (!ids || np >= n || !text || wf_tokenize(v, text, nt, false, false, &pred, &n_pred, &err) != WF_OK) {
        fprintf(stderr, "bench_spec_sim: cannot read %s / %s\n", argv[2], argv[3]);
        return 1;
    }
    wf_spec s;
    if (wf_spec_init(&s, WF_SPEC_NONE, pred, n_pred, argc > 4 ? atoi(argv[4]) : 0, v, &err) != WF_OK) {
        fprintf(stderr, "bench_spec_sim: %s\n", err.msg);
        return 1;
    }
    /* as generation runs: the first output token comes from the prompt's
     * pass; every later pass evaluates the pending token and a draft, and
     * emits the accepted drafts and the model's token after them */
    const size_t n_out = n - np, max_tokens = n_out;
    size_t at = np + 1, passes = 0, cut = 0;
    int32_t draft[WF_SPEC_DRAFT_MAX_LIMIT];
    long acc_total = 0, prop_total = 0;
    while (at < n) {
        size_t gen = at - np;
        int32_t room = (int32_t)(max_tokens - gen - 1 < (size_t)wf_spec_longest(&s) ? max_tokens - gen - 1 : (size_t)wf_spec_longest(&s));
        int32_t k = room > 0 ? wf_spec_propose(&s, ids, at, draft, room) : 0;
        int32_t acc = 0;
        while (acc < k && at + (size_t)acc < n && draft[acc] == ids[at + (size_t)acc]) acc++;
        printf("TRACE src=%d k=%d acc=%d", (int)s.last_src, (int)k, (int)acc);
        if (verbose) printf(" [longest %d split %d]", (int)s.pred.n_longest_won, (int)s.pred.n_split_won);
        if (verbose && acc < k && at + (size_t)acc < n) { /* what the model wrote, what the draft had */
            printf(" got=");
            show(v, ids[at + (size_t)acc]);
            printf(" want=");
            show(v, draft[acc]);
            /* the longest token spelling the output's bytes from there */
            char ob[1024];
            size_t o = 0;
            for (size_t j = at + (size_t)acc; j < n && o < 512; j++) {
                int32_t b = wf_token_to_bytes(v, ids[j], ob + o, sizeof ob - o);
                if (b < 0 || o + (size_t)b > sizeof ob) break;
                o += (size_t)b;
            }
            int32_t ll = 0, lp = wf_vocab_longest_token(v, ob, o, &ll);
            printf(" longest=");
            show(v, lp);
            printf("%s", lp == ids[at + (size_t)acc] ? " (=got)" : "");
        }
        printf("\n");
        wf_spec_feedback(&s, acc);
        at += (size_t)acc + 1;
        passes++;
        cut += acc < k;
        acc_total += acc;
        prop_total += k;
    }
    /* how often the model wrote the longest token spelling its own text ahead */
    size_t n_long = 0;
    for (size_t j = np; verbose && j < n; j++) {
        char ob[1024];
        size_t o = 0;
        for (size_t i = j; i < n && o < 512; i++) {
            int32_t b = wf_token_to_bytes(v, ids[i], ob + o, sizeof ob - o);
            if (b < 0 || o + (size_t)b > sizeof ob) break;
            o += (size_t)b;
        }
        n_long += wf_vocab_longest_token(v, ob, o, NULL) == ids[j];
    }
    if (verbose) printf("LONGEST %zu of %zu output tokens are the longest token spelling the text ahead\n", n_long, n_out);
    printf("SUMMARY %zu tokens, %zu passes (+1 prompt), %zu cut short, %ld/%ld accepted; where the tokenizer's split "
           "and the longest token differed the model wrote the longest %d times, the split %d times\n",
           n_out, passes, cut, acc_total, prop_total, (int)s.pred.n_longest_won, (int)s.pred.n_split_won);
    wf_spec_free(&s);
    free(pred);
    free(ids);
    free(text);
    wf_model_free(m);
    return 0;
}
