/* cmd_run.c — `wafer run`: raw completion of a prompt, streamed to stdout
 * token by token (never half a UTF-8 character), timings on stderr. The
 * loop itself is the generation API (src/gen/gen.h): speculative decoding
 * with prompt lookup (--spec lookup), a draft model (--spec draft:FILE) and
 * predicted outputs (--predict). A gpt-oss model's harmony channels are
 * split as `wafer chat` splits them (harmony_view.c, --reasoning). */
#include "cli.h"

#include "chat/template.h"
#include "gen/gen.h"
#include "model/model.h"
#include "text/tokenizer.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f) {
    fprintf(f, "usage: wafer run [-m MODEL] (-p PROMPT | -f FILE | --ids \"1 2 3\") [options]\n\n"
               "Complete the prompt with the model, streaming the text as it is produced.\n"
               "Generation ends at the model's end-of-generation token, a --stop string,\n"
               "-n tokens, or the end of the context. Timings go to stderr.\n\n"
               "options:\n");
    cli_print_opts_help(f, CLI_G_MODEL | CLI_G_INPUT | CLI_G_CTX | CLI_G_GEN | CLI_G_SAMPLE);
    fprintf(f, "  --spec lookup|draft:FILE|none\n"
               "                          speculative decoding: candidates from n-gram matches in\n"
               "                          the context, or from a smaller model with the same\n"
               "                          vocabulary, checked k at a time (default none)\n"
               "  --predict FILE          the expected output (e.g. the file being edited); its\n"
               "                          tokens are proposed and checked k at a time\n"
               "  --draft-max N           longest draft checked in one step, for every source\n"
               "                          (default 16, and 255 for a prediction's drafts on a\n"
               "                          model of 64 MiB or more; at most 255; 31 where the\n"
               "                          kernels are exact only up to 32 tokens a pass:\n"
               "                          K-quants on AVX2)\n"
               "  --grammar FILE          constrain the output to a GBNF grammar (llama.cpp's syntax)\n"
               "  --json-schema FILE      constrain the output to JSON valid against a JSON Schema\n"
               "  --json                  constrain the output to a JSON object\n"
               "  --print-ids             print token ids instead of text\n"
               "  --reasoning show|hide|raw\n"
               "                          gpt-oss (harmony) output: the reasoning apart from the\n"
               "                          answer (dimmed on a terminal, on stderr otherwise),\n"
               "                          hidden, or the channel markup as written (default show)\n"
               "  -q, --quiet             no progress bar or timings\n");
}

static void emit(const char *s, size_t n) {
    if (n) {
        fwrite(s, 1, n, stdout);
        fflush(stdout);
    }
}

typedef struct run_out {
    bool print_ids;
    bool any;           /* a token came (the prompt is done)                */
    cli_harmony *hv;    /* harmony output: split channels, or NULL          */
    bool oom;
    cli_progress *bar;  /* prefill progress, cleared at the first token, or NULL */
} run_out;

static bool on_token(void *user, int32_t token, const char *text, size_t n_text) {
    run_out *ro = user;
    if (!ro->any && ro->bar) cli_progress_end(ro->bar);
    ro->any = true;
    if (ro->print_ids) {
        if (token >= 0) {
            printf("%d ", token);
            fflush(stdout);
        }
    } else if (ro->hv) {
        if (n_text && !cli_harmony_feed(ro->hv, text, n_text, false, false)) ro->oom = true;
    } else {
        emit(text, n_text);
    }
    return !ro->oom;
}

int cmd_run(int argc, char **argv) {
    cli_opts o;
    cli_opts_init(&o);
    bool print_ids = false;
    cli_spec sp = {0};
    const char *grammar_path = NULL, *schema_path = NULL;
    bool json_mode = false;
    cli_reasoning reasoning = CLI_REASONING_SHOW;
    bool reasoning_given = false;
    cli_harmony hv;
    cli_harmony_init(&hv, reasoning, false);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { usage(stdout); return 0; }
        int r = cli_take_opt(&o, CLI_G_MODEL | CLI_G_INPUT | CLI_G_CTX | CLI_G_GEN | CLI_G_SAMPLE, argc, argv, &i);
        if (r < 0) return 2;
        if (r > 0) continue;
        if (!strcmp(argv[i], "--print-ids")) { print_ids = true; continue; }
        if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet")) { o.quiet = true; continue; }
        if (!strcmp(argv[i], "--json")) { json_mode = true; continue; }
        if (!strcmp(argv[i], "--grammar") || !strcmp(argv[i], "--json-schema")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "wafer run: %s needs a file\n", argv[i]);
                return 2;
            }
            if (!strcmp(argv[i], "--grammar")) grammar_path = argv[++i];
            else schema_path = argv[++i];
            continue;
        }
        if ((r = cli_take_spec(&sp, "run", argc, argv, &i)) < 0) return 2;
        if (r > 0) continue;
        if ((r = cli_take_reasoning(&reasoning, "run", argc, argv, &i)) < 0) return 2;
        if (r > 0) {
            reasoning_given = true;
            continue;
        }
        fprintf(stderr, "wafer run: unknown option '%s'\n\n", argv[i]);
        usage(stderr);
        return 2;
    }

    if (!!grammar_path + !!schema_path + json_mode > 1) {
        fprintf(stderr, "wafer run: give one of --grammar, --json-schema and --json\n");
        return 2;
    }
    int rc = 1;
    wf_grammar *gram = NULL;
    wf_grammar_vocab *gvocab = NULL;
    wf_model *m = NULL, *dm = NULL;
    wf_session *sess = NULL;
    int32_t *prompt = NULL, *pred = NULL;
    size_t n_pred = 0;
    char *pred_text = NULL;
    wf_error err = {0};

    if (grammar_path || schema_path || json_mode) { /* compile first: a bad grammar fails before the model loads */
        size_t len = 0;
        char *text = json_mode ? NULL : cli_read_file(grammar_path ? grammar_path : schema_path, &len);
        if (!json_mode && !text) goto done;
        wf_status gst = json_mode ? wf_grammar_json_object(&gram, &err)
                        : grammar_path ? wf_grammar_from_gbnf(text, len, &gram, &err)
                                       : wf_grammar_from_json_schema(text, len, &gram, &err);
        free(text);
        if (gst != WF_OK) {
            fprintf(stderr, "wafer run: %s: %s\n", json_mode ? "--json" : grammar_path ? grammar_path : schema_path, err.msg);
            goto done;
        }
    }

    double t_start = wf_time_now_cli();
    if (!(m = cli_load_model(&o))) goto done;
    cli_note_draft_max(m, sp.draft_max);
    double t_loaded = wf_time_now_cli();
    size_t n_prompt = 0;
    if (!(prompt = cli_input_tokens(&o, m, &n_prompt))) goto done;
    int32_t want = (int32_t)n_prompt + (o.n_predict < 0 ? 0 : o.n_predict);
    wf_context *c = cli_make_context(m, &o, want);
    if (!c) goto done;
    if (wf_session_adopt(m, c, &sess, &err)) {
        wf_context_free(c);
        fprintf(stderr, "wafer run: %s\n", err.msg);
        goto done;
    }
    if (!cli_spec_attach_draft(&sp, "run", &o, sess, &dm)) goto done;
    int32_t n_ctx = wf_context_n_ctx(c);
    if ((int64_t)n_prompt >= n_ctx) {
        fprintf(stderr, "wafer run: the prompt has %zu tokens but the context holds %d (use -c)\n", n_prompt, n_ctx);
        goto done;
    }
    const wf_vocab *v = wf_model_vocab(m);
    if (!v && !print_ids) {
        fprintf(stderr, "wafer run: the model has no tokenizer: printing token ids\n");
        print_ids = true;
    }
    if (sp.predict_path) {
        size_t len = 0;
        if (!v) {
            fprintf(stderr, "wafer run: --predict needs a model with a tokenizer\n");
            goto done;
        }
        if (!(pred_text = cli_read_file(sp.predict_path, &len))) goto done;
        if (wf_tokenize_text(v, pred_text, len, false, NULL, 0, &pred, &n_pred, &err)) {
            fprintf(stderr, "wafer run: %s: %s\n", sp.predict_path, err.msg);
            goto done;
        }
    }

    if (gram) {
        if (!v) {
            fprintf(stderr, "wafer run: a grammar needs a model with a tokenizer\n");
            goto done;
        }
        if (wf_grammar_vocab_create(v, &gvocab, &err)) {
            fprintf(stderr, "wafer run: %s\n", err.msg);
            goto done;
        }
    }

    wf_gen_params gp = wf_gen_default_params();
    gp.grammar = gram;
    gp.grammar_vocab = gvocab;
    gp.max_tokens = o.n_predict;
    gp.sampling = &o.sp;
    gp.text = !print_ids;
    gp.stops = print_ids ? NULL : o.stops;
    gp.n_stops = print_ids ? 0 : (size_t)o.n_stops;
    cli_spec_params(&sp, &gp);
    gp.prediction = pred;
    gp.n_prediction = n_pred;
    /* a long prompt shows its prefill on a terminal (cli_progress prints
     * only there; -q: never): generate step by step, which is what
     * wf_session_generate does */
    cli_progress bar;
    run_out ro = {print_ids, false, NULL, NULL, false};
    {   /* gpt-oss: its channels split (raw: as written) */
        const char *tsrc = NULL;
        size_t tlen = 0;
        wf_error te = {0};
        if (wf_template_from_gguf(wf_model_gguf(m), &tsrc, &tlen, &te) != WF_OK) tsrc = NULL, tlen = 0;
        bool harmony = v && cli_is_harmony(m, tsrc, tlen);
        if (harmony && !print_ids && reasoning != CLI_REASONING_RAW) {
            cli_harmony_init(&hv, reasoning, isatty(1));
            ro.hv = &hv;
        } else if (reasoning_given && !harmony && !o.quiet) {
            fprintf(stderr, "wafer run: note: --reasoning applies to models that answer in harmony channels "
                            "(gpt-oss); this one's output is printed as it is\n");
        }
    }
    if (!o.quiet && n_prompt > 2048) {
        cli_progress_start(&bar, "prompt");
        ro.bar = &bar;
    }
    wf_gen_callbacks cb = {on_token, &ro};
    wf_gen_result res;
    wf_status gst = wf_session_begin(sess, prompt, n_prompt, &gp, &cb, &err);
    for (bool fin = false; gst == WF_OK && !fin;) {
        gst = wf_session_step(sess, &fin, &err);
        if (ro.bar && !ro.any) {
            size_t n_done = 0;
            wf_session_tokens(sess, &n_done);
            char what[48];
            snprintf(what, sizeof what, "%zu/%zu tokens", n_done, n_prompt);
            cli_progress_update(&bar, (double)n_done / (double)n_prompt, what);
        }
    }
    if (ro.bar && !ro.any) cli_progress_end(&bar);
    wf_error end_err = {0};
    wf_status est = gst == WF_OK || wf_session_busy(sess) ? wf_session_end(sess, &res, gst == WF_OK ? &err : &end_err) : gst;
    if (gst == WF_OK) gst = est;
    if (gst == WF_OK && ro.oom) gst = wf_fail(&err, WF_ERR_NOMEM, "out of memory");
    if (gst == WF_OK && ro.hv && !cli_harmony_feed(&hv, NULL, 0, true, res.stop == WF_GEN_STOP_EOG))
        gst = wf_fail(&err, WF_ERR_NOMEM, "out of memory");
    if (gst) {
        fprintf(stderr, "\nwafer run: %s\n", err.msg);
        goto done;
    }
    if (print_ids) printf("\n");
    if (!o.quiet) {
        char specs[384] = "";
        if (sp.mode != WF_SPEC_NONE || sp.predict_path) {
            int64_t drafted = res.n_draft_accepted + res.n_draft_rejected;
            snprintf(specs, sizeof specs, " | spec %s%s: %lld accepted, %lld rejected (%.0f%%)",
                     sp.mode == WF_SPEC_LOOKUP ? "lookup" : sp.mode == WF_SPEC_DRAFT ? "draft" : "none",
                     sp.predict_path ? "+prediction" : "",
                     (long long)res.n_draft_accepted, (long long)res.n_draft_rejected,
                     drafted ? 100.0 * (double)res.n_draft_accepted / (double)drafted : 0.0);
            if (sp.predict_path) {
                size_t l = strlen(specs);
                snprintf(specs + l, sizeof specs - l, " | prediction: %lld accepted, %lld rejected",
                         (long long)res.n_pred_accepted, (long long)res.n_pred_rejected);
            }
            size_t l = strlen(specs);
            snprintf(specs + l, sizeof specs - l, " | %lld decode calls", (long long)res.n_decode_calls);
            if (sp.mode == WF_SPEC_DRAFT) {
                l = strlen(specs);
                snprintf(specs + l, sizeof specs - l, " | draft model: %lld tokens in %lld calls, %.3f s",
                         (long long)res.n_draft_decoded, (long long)res.n_draft_calls, res.t_draft);
            }
        }
        if (gram) {
            size_t l = strlen(specs);
            snprintf(specs + l, sizeof specs - l, " | grammar: %.1f ms, %lld masks", res.t_grammar * 1e3,
                     (long long)res.n_grammar_masks);
        }
        fprintf(stderr, "\n\n[wafer] load %.2f s | prompt %d tokens in %.3f s (%.1f tok/s) | "
                        "first token after %.3f s | %d generated, %.1f tok/s%s | stopped: %s\n",
                t_loaded - t_start, res.n_prompt, res.t_prompt, res.prompt_tok_s, res.t_first,
                res.n_generated, res.decode_tok_s, specs, wf_gen_stop_name(res.stop));
    }
    rc = 0;
done:
    cli_harmony_free(&hv);
    wf_grammar_free(gram);
    wf_grammar_vocab_free(gvocab);
    free(pred);
    free(pred_text);
    free(prompt);
    wf_session_free(sess);
    wf_model_free(dm);
    wf_model_free(m);
    return rc;
}
