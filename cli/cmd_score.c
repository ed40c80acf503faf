/* cmd_score.c — `wafer score`: per-position log-probabilities of a file's
 * tokens (and the top-K alternatives), plus perplexity. Used to compare wafer
 * with other engines on the same text. */
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f, "usage: wafer score [-m MODEL] (-f FILE | -p TEXT | --ids \"1 2 3\") [--top K] [--json]\n\n"
               "For every token of the input: the natural-log probability the model gave it\n"
               "(entry i scores token i+1 given tokens 0..i) and the K most likely tokens,\n"
               "then the perplexity. BOS is added only if the model's metadata asks for it.\n"
               "Inputs longer than the context are scored in windows that overlap by one token.\n\n"
               "options:\n");
    cli_print_opts_help(f, CLI_G_MODEL | CLI_G_INPUT | CLI_G_CTX);
    fprintf(f, "  --top K                 also list the K most likely tokens per position (default 0)\n"
               "  --json                  one JSON object: {\"tokens\", \"positions\", \"perplexity\"}\n");
}

int cmd_score(int argc, char **argv) {
    cli_opts o;
    cli_opts_init(&o);
    o.parse_special = false; /* the file is text to score, not a template */
    int32_t k = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { usage(stdout); return 0; }
        int r = cli_take_opt(&o, CLI_G_MODEL | CLI_G_INPUT | CLI_G_CTX, argc, argv, &i);
        if (r < 0) return 2;
        if (r > 0) continue;
        if (!strcmp(argv[i], "--top")) {
            if (i + 1 >= argc || !cli_parse_i32("--top", argv[++i], 0, 1000, &k)) return 2;
            continue;
        }
        if (!strcmp(argv[i], "--json")) { o.json = true; continue; }
        if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet")) { o.quiet = true; continue; }
        fprintf(stderr, "wafer score: unknown option '%s'\n\n", argv[i]);
        usage(stderr);
        return 2;
    }
    int rc = 1;
    wf_model *m = NULL;
    wf_context *c = NULL;
    int32_t *toks = NULL;
    double *lp = NULL;
    int32_t *top_id = NULL;
    double *top = NULL;
    if (!(m = cli_load_model(&o))) goto done;
    size_t n = 0;
    if (!(toks = cli_input_tokens(&o, m, &n))) goto done;
    if (!(c = cli_make_context(m, &o, (int32_t)(n < (1u << 30) ? n : (1u << 30))))) goto done;
    int32_t n_ctx = wf_context_n_ctx(c), n_vocab = wf_model_n_vocab(m);
    if (n_ctx < 2) {
        fprintf(stderr, "wafer score: the context must hold at least 2 tokens\n");
        goto done;
    }
    lp = malloc(n * sizeof *lp);
    top = malloc(((size_t)k * n + 1) * sizeof *top);
    top_id = malloc(((size_t)k * n + 1) * sizeof *top_id);
    int32_t *n_top = calloc(n, sizeof *n_top);
    if (!lp || !top || !top_id || !n_top) {
        free(n_top);
        fprintf(stderr, "wafer score: out of memory\n");
        goto done;
    }
    /* Windows [s, s+L): entry i (s <= i < s+L-1) scores token i+1. The next
     * window starts at the last token of this one. */
    double sum = 0;
    size_t n_scored = 0;
    wf_error err = {0};
    cli_progress bar; /* on a terminal, not with --json */
    if (!o.json) cli_progress_start(&bar, "score");
    for (size_t s = 0;;) {
        size_t L = n - s < (size_t)n_ctx ? n - s : (size_t)n_ctx;
        if (wf_kv_truncate(c, 0, &err)) {
            fprintf(stderr, "wafer score: %s\n", err.msg);
            free(n_top);
            goto done;
        }
        /* Feed the window in pieces of one batch: all logits of a piece are
         * kept (n x n_vocab floats), so a piece must stay small. */
        for (size_t p0 = s; p0 < s + L; p0 += (size_t)o.batch) {
            size_t b = s + L - p0 < (size_t)o.batch ? s + L - p0 : (size_t)o.batch;
            if (!o.json) {
                char what[48];
                snprintf(what, sizeof what, "token %zu/%zu", p0, n);
                cli_progress_update(&bar, (double)p0 / (double)n, what);
            }
            if (wf_decode(c, toks + p0, (int32_t)b, true, &err)) {
                fprintf(stderr, "wafer score: %s\n", err.msg);
                free(n_top);
                goto done;
            }
            for (size_t i = p0; i < p0 + b; i++) {
                bool last = i + 1 >= n;
                if (i + 1 >= s + L && !last) continue; /* scored by the next window */
                const float *lg = wf_get_logits(c, (int32_t)(i - p0));
                double lse = wf_logprobs(lg, n_vocab, k, top_id + (size_t)k * i, top + (size_t)k * i, &n_top[i]);
                if (last) {
                    lp[i] = NAN;
                } else {
                    lp[i] = (double)lg[toks[i + 1]] - lse;
                    sum += lp[i];
                    n_scored++;
                }
            }
        }
        if (s + L >= n) break;
        s += L - 1;
    }
    if (!o.json) cli_progress_end(&bar);
    double ppl = n_scored ? exp(-sum / (double)n_scored) : NAN;
    const wf_vocab *v = wf_model_vocab(m);
    if (o.json) {
        printf("{\"tokens\": [");
        for (size_t i = 0; i < n; i++) printf("%s%d", i ? ", " : "", toks[i]);
        printf("], \"positions\": [");
        for (size_t i = 0; i < n; i++) {
            printf("%s{\"next\": ", i ? ", " : "");
            if (i + 1 < n) printf("%d, \"next_logprob\": %.9g", toks[i + 1], lp[i]);
            else printf("null, \"next_logprob\": null");
            printf(", \"top\": [");
            for (int j = 0; j < n_top[i]; j++)
                printf("%s[%d, %.9g]", j ? ", " : "", top_id[(size_t)k * i + j], top[(size_t)k * i + j]);
            printf("]}");
        }
        if (isnan(ppl)) printf("], \"perplexity\": null}\n");
        else printf("], \"perplexity\": %.9g}\n", ppl);
    } else {
        char buf[256];
        for (size_t i = 0; i < n; i++) {
            int32_t nb = v ? wf_token_to_bytes(v, toks[i], buf, sizeof buf - 1) : -1;
            if (nb < 0) nb = 0;
            if (nb > (int32_t)sizeof buf - 1) nb = (int32_t)sizeof buf - 1;
            for (int32_t j = 0; j < nb; j++)
                if ((unsigned char)buf[j] < 0x20) buf[j] = ' ';
            buf[nb] = 0;
            printf("%6zu %7d %-16s", i, toks[i], buf);
            if (i + 1 < n) printf(" next %7d logprob %10.5f", toks[i + 1], lp[i]);
            for (int j = 0; j < n_top[i]; j++)
                printf("%s%d:%.4f", j ? " " : "  top ", top_id[(size_t)k * i + j], top[(size_t)k * i + j]);
            printf("\n");
        }
        printf("perplexity: %.4f over %zu predictions\n", ppl, n_scored);
    }
    free(n_top);
    rc = 0;
done:
    free(top_id);
    free(top);
    free(lp);
    free(toks);
    wf_context_free(c);
    wf_model_free(m);
    return rc;
}
