/* cmd_run.c — `wafer run`: raw completion of a prompt, streamed to stdout
 * token by token (never half a UTF-8 character), timings on stderr. */
#include "cli.h"

#include "sampler.h"
#include "tokenizer.h"

#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f, "usage: wafer run -m MODEL (-p PROMPT | -f FILE | --ids \"1 2 3\") [options]\n\n"
               "Complete the prompt with the model, streaming the text as it is produced.\n"
               "Generation ends at the model's end-of-generation token, a --stop string,\n"
               "-n tokens, or the end of the context. Timings go to stderr.\n\n"
               "options:\n");
    cli_print_opts_help(f, CLI_G_MODEL | CLI_G_INPUT | CLI_G_CTX | CLI_G_GEN | CLI_G_SAMPLE);
    fprintf(f, "  --print-ids             print token ids instead of text\n"
               "  -q, --quiet             no progress bar or timings\n");
}

static void emit(const char *s, size_t n) {
    if (n) {
        fwrite(s, 1, n, stdout);
        fflush(stdout);
    }
}

int cmd_run(int argc, char **argv) {
    cli_opts o;
    cli_opts_init(&o);
    bool print_ids = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { usage(stdout); return 0; }
        int r = cli_take_opt(&o, CLI_G_MODEL | CLI_G_INPUT | CLI_G_CTX | CLI_G_GEN | CLI_G_SAMPLE, argc, argv, &i);
        if (r < 0) return 2;
        if (r > 0) continue;
        if (!strcmp(argv[i], "--print-ids")) { print_ids = true; continue; }
        if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet")) { o.quiet = true; continue; }
        fprintf(stderr, "wafer run: unknown option '%s'\n\n", argv[i]);
        usage(stderr);
        return 2;
    }

    int rc = 1;
    wf_model *m = NULL;
    wf_context *c = NULL;
    wf_sampler *s = NULL;
    int32_t *prompt = NULL;
    char *piece = NULL;
    wf_stop stop = {0};
    bool stop_ok = false;
    wf_error err = {0};

    double t_start = wf_time_now_cli();
    if (!(m = cli_load_model(&o))) goto done;
    double t_loaded = wf_time_now_cli();
    size_t n_prompt = 0;
    if (!(prompt = cli_input_tokens(&o, m, &n_prompt))) goto done;
    int32_t want = (int32_t)n_prompt + (o.n_predict < 0 ? 0 : o.n_predict);
    if (!(c = cli_make_context(m, &o, want))) goto done;
    int32_t n_ctx = wf_context_n_ctx(c);
    if ((int64_t)n_prompt >= n_ctx) {
        fprintf(stderr, "wafer run: the prompt has %zu tokens but the context holds %d (use -c)\n", n_prompt, n_ctx);
        goto done;
    }
    if (wf_sampler_create(&o.sp, wf_model_n_vocab(m), &s, &err)) {
        fprintf(stderr, "wafer run: %s\n", err.msg);
        goto done;
    }
    if (wf_stop_init(&stop, o.stops, (size_t)o.n_stops, &err)) {
        fprintf(stderr, "wafer run: %s\n", err.msg);
        goto done;
    }
    stop_ok = true;
    const wf_vocab *v = wf_model_vocab(m);
    if (!v && !print_ids) {
        fprintf(stderr, "wafer run: the model has no tokenizer: printing token ids\n");
        print_ids = true;
    }
    for (size_t i = 0; i < n_prompt; i++) wf_sampler_accept(s, prompt[i]);

    double t0 = wf_time_now_cli();
    if (wf_decode(c, prompt, (int32_t)n_prompt, false, &err)) {
        fprintf(stderr, "wafer run: %s\n", err.msg);
        goto done;
    }
    double t_prefill = wf_time_now_cli(), t_first = 0;
    size_t piece_cap = 4096;
    piece = malloc(piece_cap);
    if (!piece) goto done;
    wf_detok dt;
    wf_detok_init(&dt);
    int32_t n_gen = 0;
    const char *why = "length";
    for (;;) {
        if (o.n_predict >= 0 && n_gen >= o.n_predict) break;
        int32_t tok = wf_sampler_sample(s, wf_get_logits(c, -1));
        if (tok < 0) {
            fprintf(stderr, "\nwafer run: sampling failed (no logits)\n");
            goto done;
        }
        if (n_gen == 0) t_first = wf_time_now_cli();
        n_gen++;
        if (v && wf_vocab_is_eog(v, tok)) { why = "end of generation"; break; }
        wf_sampler_accept(s, tok);
        bool stopped = false;
        if (print_ids) {
            printf("%d ", tok);
            fflush(stdout);
        } else {
            int64_t k = wf_detok_push(&dt, v, tok, piece, piece_cap);
            if (k < 0) { /* a huge token: grow and retry */
                int32_t need = wf_token_to_bytes(v, tok, NULL, 0);
                size_t cap = 3 * ((size_t)need + 4) + 64; /* stray bytes become 3-byte U+FFFD */
                char *np = realloc(piece, cap);
                if (!np) goto done;
                piece = np;
                piece_cap = cap;
                k = wf_detok_push(&dt, v, tok, piece, piece_cap);
            }
            const char *out;
            size_t n_out;
            stopped = wf_stop_feed(&stop, piece, k > 0 ? (size_t)k : 0, &out, &n_out);
            emit(out, n_out);
        }
        if (stopped) { why = "stop string"; break; }
        if (wf_context_n_past(c) >= n_ctx) { why = "context full"; break; }
        if (wf_decode(c, &tok, 1, false, &err)) {
            fprintf(stderr, "\nwafer run: %s\n", err.msg);
            goto done;
        }
    }
    if (!print_ids && strcmp(why, "stop string")) {
        int64_t k = wf_detok_flush(&dt, piece, piece_cap);
        const char *out;
        size_t n_out;
        bool stopped = wf_stop_feed(&stop, piece, k > 0 ? (size_t)k : 0, &out, &n_out);
        emit(out, n_out);
        if (!stopped) {
            wf_stop_flush(&stop, &out, &n_out);
            emit(out, n_out);
        }
    }
    if (print_ids) printf("\n");
    double t_end = wf_time_now_cli();
    if (!o.quiet) {
        double pre = t_prefill - t0, dec = t_end - (t_first ? t_first : t_end);
        fprintf(stderr, "\n\n[wafer] load %.2f s | prompt %zu tokens in %.3f s (%.1f tok/s) | "
                        "first token after %.3f s | %d generated, %.1f tok/s | stopped: %s\n",
                t_loaded - t_start, n_prompt, pre, pre > 0 ? (double)n_prompt / pre : 0.0,
                t_first ? t_first - t0 : 0.0, n_gen,
                n_gen > 1 && dec > 0 ? (double)(n_gen - 1) / dec : 0.0, why);
    }
    rc = 0;
done:
    if (stop_ok) wf_stop_free(&stop);
    free(piece);
    free(prompt);
    wf_sampler_free(s);
    wf_context_free(c);
    wf_model_free(m);
    return rc;
}
