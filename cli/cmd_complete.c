/* cmd_complete.c — `wafer complete`: fill in the middle at a cursor. Builds
 * the model family's FIM prompt (src/chat/fim.h) from a file and a line/column, or
 * from --prefix/--suffix, and streams the middle to stdout (never half a
 * UTF-8 character). --print-prompt shows the prompt without loading weights,
 * so a vocabulary-only GGUF is enough for it. Generation runs on the session
 * API (src/gen/gen.h), so --spec / --predict work as in `wafer run`. */
#include "cli.h"

#include "chat/fim.h"
#include "gen/gen.h"
#include "format/gguf.h"
#include "gen/stop.h"
#include "text/tokenizer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_EXTRA 64

static void usage(FILE *f) {
    fprintf(f,
        "usage: wafer complete [-m MODEL] (--file F --line L --column C | --prefix TEXT [--suffix TEXT])\n"
        "                      [--extra FILE]... [--fim-format FMT] [-n N] [options]\n\n"
        "Fill in the middle: the model sees the code before and after the cursor and\n"
        "writes what goes between, streamed to stdout as it is produced (nothing else\n"
        "goes to stdout; timings go to stderr). Generation ends at the family's\n"
        "end-of-middle / end-of-text tokens, a --stop string, -n tokens or the context.\n\n"
        "input:\n"
        "  --file F                the file being edited (\"-\" reads stdin)\n"
        "  --line L, --column C    the cursor, both 1-based; C counts characters\n"
        "                          (UTF-8 code points, a tab is one); C may be one past\n"
        "                          the end of the line; L may be one past the last\n"
        "                          newline (the end of the file)\n"
        "  --byte-column           count C in bytes instead of characters\n"
        "  --prefix TEXT           the text before the cursor (instead of --file)\n"
        "  --suffix TEXT           the text after the cursor (default empty)\n"
        "  --extra FILE            another file of the project as context (repeatable,\n"
        "                          up to %d; dropped whole when the context is full)\n"
        "  --filename NAME         the current file's path as shown to the model\n"
        "                          (default: --file, or \"untitled\")\n"
        "  --repo NAME             repository name for repo-level prompts (default: \"project\")\n"
        "  --fim-format FMT        auto (default: from the vocabulary), qwen, deepseek,\n"
        "                          starcoder, codellama, codestral\n\n"
        "output:\n"
        "  --print-prompt          print the assembled prompt (special tokens as text)\n"
        "                          and a summary on stderr; no generation, no weights\n"
        "                          needed (a vocabulary-only GGUF works)\n"
        "  --ids-only              print the prompt's token ids instead (implies\n"
        "                          --print-prompt)\n"
        "  --print-ids             print the generated token ids instead of text\n"
        "  -q, --quiet             no progress bar, summary or timings\n\n"
        "speculative decoding (the output is the same at --temp 0):\n"
        "  --spec lookup|draft:FILE|none\n"
        "                          candidates from n-gram matches in the prompt, or from a\n"
        "                          smaller model with the same vocabulary (default none)\n"
        "  --predict FILE          the expected middle; its tokens are checked k at a time\n"
        "  --draft-max N           longest draft checked in one step, for every source\n"
               "                          (default 16, and 255 for a prediction's drafts on a\n"
               "                          model of 64 MiB or more; at most 255; 31 where the\n"
               "                          kernels are exact only up to 32 tokens a pass:\n"
               "                          K-quants on AVX2)\n\n"
        "options:\n", MAX_EXTRA);
    cli_print_opts_help(f, CLI_G_MODEL | CLI_G_CTX | CLI_G_GEN | CLI_G_SAMPLE);
    fprintf(f, "\nWithout -c the context is the model's training context, at most 4096 tokens.\n"
               "The prompt fits in the context minus -n tokens (a quarter of the context,\n"
               "at most 512, when -n is -1): the prefix keeps its end, the suffix its start,\n"
               "split 3:1; extra files get what is left. See docs/fim.md.\n");
}

/* Whole file or stdin ("-"), NUL-terminated. Prints errors. */
static char *read_input(const char *path, size_t *len) {
    return strcmp(path, "-") ? cli_read_file(path, len) : cli_read_stdin("complete", (size_t)1 << 40, len);
}

/* Byte offset of the cursor at 1-based (line, col). Prints errors. */
static bool cursor_offset(const char *t, size_t n, int32_t line, int32_t col, bool bytes, size_t *off) {
    size_t p = 0;
    for (int32_t l = 1; l < line; l++) {
        const char *nl = memchr(t + p, '\n', n - p);
        if (!nl) {
            fprintf(stderr, "wafer complete: --line %d is past the end of the file (%d lines)\n", line, l);
            return false;
        }
        p = (size_t)(nl - t) + 1;
    }
    const char *nl = memchr(t + p, '\n', n - p);
    size_t end = nl ? (size_t)(nl - t) : n;
    if (end > p && t[end - 1] == '\r') end--; /* CRLF: the cursor cannot sit inside it */
    size_t q = p;
    int32_t chars = 0;
    while (chars < col - 1 && q < end) {
        size_t k = 1;
        if (!bytes) { /* one code point; stray bytes count as one character each */
            unsigned char c = (unsigned char)t[q];
            size_t want = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
            while (k < want && q + k < end && ((unsigned char)t[q + k] & 0xC0) == 0x80) k++;
        }
        q += k;
        chars++;
    }
    if (chars < col - 1) {
        fprintf(stderr, "wafer complete: --column %d is past the end of line %d (%d %s; the column may be 1..%d)\n",
                col, line, chars, bytes ? "bytes" : "characters", chars + 1);
        return false;
    }
    *off = q;
    return true;
}

/* context_length of the model's architecture, or 0. */
static int32_t ctx_train(const wf_gguf *g) {
    wf_str a;
    if (wf_gguf_get_str(g, "general.architecture", &a, NULL) || a.len == 0 || a.len > 64) return 0;
    char key[96];
    snprintf(key, sizeof key, "%.*s.context_length", (int)a.len, a.ptr);
    uint32_t n;
    return wf_gguf_get_u32(g, key, &n, NULL) == WF_OK && n <= (1u << 24) ? (int32_t)n : 0;
}

/* Text of ids through the streaming decoder (valid UTF-8 out). */
static void print_text(const wf_vocab *v, const int32_t *ids, size_t n) {
    size_t cap = 3 * ((size_t)wf_vocab_max_token_len(v) + 4) + 64;
    char *buf = malloc(cap);
    if (!buf) return;
    wf_detok d;
    wf_detok_init(&d);
    for (size_t i = 0; i < n; i++) {
        int64_t k = wf_detok_push(&d, v, ids[i], buf, cap);
        if (k > 0) fwrite(buf, 1, (size_t)k, stdout);
    }
    int64_t k = wf_detok_flush(&d, buf, cap);
    if (k > 0) fwrite(buf, 1, (size_t)k, stdout);
    free(buf);
}

static void print_summary(const wf_fim_format *f, const wf_fim_stats *st, size_t n_ids,
                          int32_t budget, int32_t n_ctx) {
    fprintf(stderr, "fim: format %s, markers pre %d suf %d mid %d, pad %d rep %d sep %d, bos %d\n",
            wf_fim_family_name(f->family), f->pre, f->suf, f->mid, f->pad, f->rep, f->sep, f->bos);
    fprintf(stderr, "fim: stop ids");
    for (int32_t i = 0; i < f->n_stop; i++) fprintf(stderr, " %d", f->stop[i]);
    fprintf(stderr, "\nfim: prompt %zu tokens (fixed %d, prefix %d/%d, suffix %d/%d, extra %d/%d in %d files), "
                    "budget %d of context %d\n",
            n_ids, st->n_fixed, st->n_prefix_kept, st->n_prefix, st->n_suffix_kept, st->n_suffix,
            st->n_extra_kept, st->n_extra, st->n_extra_files_kept, budget, n_ctx);
}

static void emit(const char *s, size_t n) {
    if (n) {
        fwrite(s, 1, n, stdout);
        fflush(stdout);
    }
}

typedef struct complete_out {
    const wf_fim_format *fmt;
    const wf_vocab *v;
    wf_detok dt;
    wf_stop *stop;
    char *piece;          /* (piece_cap) bytes of one token */
    size_t piece_cap;
    bool print_ids;
    bool fim_stop;        /* a FIM end token ended the middle (not printed) */
    bool stop_hit;        /* a stop string completed                         */
} complete_out;

static bool complete_token(void *user, int32_t tok, const char *text, size_t n_text) {
    (void)text;
    (void)n_text;
    complete_out *co = user;
    if (tok < 0) return true;
    if (wf_fim_is_stop(co->fmt, tok)) {
        co->fim_stop = true;
        return false;
    }
    if (co->print_ids) {
        printf("%d ", tok);
        fflush(stdout);
        return true;
    }
    int64_t k = wf_detok_push(&co->dt, co->v, tok, co->piece, co->piece_cap);
    const char *out;
    size_t n_out;
    co->stop_hit = wf_stop_feed(co->stop, co->piece, k > 0 ? (size_t)k : 0, &out, &n_out);
    emit(out, n_out);
    return !co->stop_hit;
}

/* ---- the command ---------------------------------------------------------- */

typedef struct complete_args {
    cli_opts o;
    cli_spec sp;
    const char *file, *prefix, *suffix, *fname, *repo;
    const char *extra_paths[MAX_EXTRA];
    int n_extra;
    int32_t line, column;
    bool byte_col, print_prompt, ids_only, print_ids;
    wf_fim_family want;
    char mbuf[CLI_PATH_MAX];
} complete_args;

/* Returns -1 to go on, else the exit code (0 after --help, 2 on bad usage). */
static int parse_args(int argc, char **argv, complete_args *A) {
    cli_opts_init(&A->o);
    A->want = WF_FIM_AUTO;
    const int groups = CLI_G_MODEL | CLI_G_CTX | CLI_G_GEN | CLI_G_SAMPLE;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        int r = cli_take_opt(&A->o, groups, argc, argv, &i);
        if (r < 0) return 2;
        if (r > 0) continue;
        if ((r = cli_take_spec(&A->sp, "complete", argc, argv, &i)) < 0) return 2;
        if (r > 0) continue;
        bool takes_value = !strcmp(a, "--file") || !strcmp(a, "--line") || !strcmp(a, "--column") ||
                           !strcmp(a, "--prefix") || !strcmp(a, "--suffix") || !strcmp(a, "--extra") ||
                           !strcmp(a, "--filename") || !strcmp(a, "--repo") || !strcmp(a, "--fim-format");
        if (takes_value && i + 1 >= argc) {
            fprintf(stderr, "wafer complete: option %s needs a value\n", a);
            return 2;
        }
        if (!strcmp(a, "--file")) A->file = argv[++i];
        else if (!strcmp(a, "--line")) { if (!cli_parse_i32(a, argv[++i], 1, INT32_MAX, &A->line)) return 2; }
        else if (!strcmp(a, "--column")) { if (!cli_parse_i32(a, argv[++i], 1, INT32_MAX, &A->column)) return 2; }
        else if (!strcmp(a, "--prefix")) A->prefix = argv[++i];
        else if (!strcmp(a, "--suffix")) A->suffix = argv[++i];
        else if (!strcmp(a, "--filename")) A->fname = argv[++i];
        else if (!strcmp(a, "--repo")) A->repo = argv[++i];
        else if (!strcmp(a, "--extra")) {
            if (A->n_extra >= MAX_EXTRA) { fprintf(stderr, "wafer complete: at most %d --extra files\n", MAX_EXTRA); return 2; }
            A->extra_paths[A->n_extra++] = argv[++i];
        } else if (!strcmp(a, "--fim-format")) {
            if (!wf_fim_family_parse(argv[++i], &A->want)) {
                fprintf(stderr, "wafer complete: --fim-format expects auto, qwen, deepseek, starcoder, "
                                "codellama or codestral, got '%s'\n", argv[i]);
                return 2;
            }
        }
        else if (!strcmp(a, "--byte-column")) A->byte_col = true;
        else if (!strcmp(a, "--print-prompt")) A->print_prompt = true;
        else if (!strcmp(a, "--ids-only")) A->ids_only = A->print_prompt = true;
        else if (!strcmp(a, "--print-ids")) A->print_ids = true;
        else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) A->o.quiet = true;
        else {
            fprintf(stderr, "wafer complete: unknown option '%s'\n\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!(A->o.model = cli_model_or_default(A->o.model, A->mbuf, sizeof A->mbuf))) return 2;
    if (A->file && (A->prefix || A->suffix)) {
        fprintf(stderr, "wafer complete: give either --file with --line/--column, or --prefix/--suffix\n");
        return 2;
    }
    if (A->file && (!A->line || !A->column)) { fprintf(stderr, "wafer complete: --file needs --line and --column\n"); return 2; }
    if (!A->file && (A->line || A->column)) { fprintf(stderr, "wafer complete: --line/--column need --file\n"); return 2; }
    if (!A->file && !A->prefix && !A->suffix) {
        fprintf(stderr, "wafer complete: nothing to complete (use --file F --line L --column C, or --prefix)\n");
        return 2;
    }
    return -1;
}

/* The text around the cursor (from --file, or --prefix/--suffix) and the
 * extra files. The texts read go to *text and extra_text[] (caller frees). */
static bool read_fim_input(const complete_args *A, char **text, char **extra_text, wf_fim_extra *extra,
                           wf_fim_input *in) {
    if (A->file) {
        size_t len = 0, off = 0;
        if (!(*text = read_input(A->file, &len))) return false;
        if (!cursor_offset(*text, len, A->line, A->column, A->byte_col, &off)) return false;
        in->prefix = *text;
        in->prefix_len = off;
        in->suffix = *text + off;
        in->suffix_len = len - off;
        in->filename = A->fname ? A->fname : strcmp(A->file, "-") ? A->file : NULL;
    } else {
        in->prefix = A->prefix ? A->prefix : "";
        in->prefix_len = strlen(in->prefix);
        in->suffix = A->suffix ? A->suffix : "";
        in->suffix_len = strlen(in->suffix);
        in->filename = A->fname;
    }
    for (int i = 0; i < A->n_extra; i++) {
        size_t len = 0;
        if (!(extra_text[i] = read_input(A->extra_paths[i], &len))) return false;
        extra[i] = (wf_fim_extra){A->extra_paths[i], extra_text[i], len};
    }
    in->extra = extra;
    in->n_extra = (size_t)A->n_extra;
    in->repo = A->repo;
    return true;
}

/* Tokens kept for the middle: -n, else a quarter of the context up to 512. */
static int32_t middle_reserve(const cli_opts *o, int32_t n_ctx) {
    return o->n_predict >= 0 ? o->n_predict : (n_ctx / 4 < 512 ? n_ctx / 4 : 512);
}

/* --print-prompt / --ids-only: the prompt, exactly. */
static void print_prompt(const complete_args *A, const wf_vocab *v, const int32_t *prompt, size_t n_prompt) {
    if (A->ids_only) {
        for (size_t i = 0; i < n_prompt; i++) printf(i ? " %d" : "%d", prompt[i]);
        printf("\n");
    } else {
        print_text(v, prompt, n_prompt);
        if (isatty(1)) putchar('\n'); /* the prompt is exact; a terminal gets a line end */
    }
    fflush(stdout);
}

static void print_timings(const complete_args *A, const wf_gen_result *res, const complete_out *co, size_t n_prompt,
                          double t_load) {
    const char *why = co->fim_stop || res->stop == WF_GEN_STOP_EOG ? "end of middle"
                    : co->stop_hit ? "stop string"
                    : res->stop == WF_GEN_STOP_CONTEXT ? "context full"
                    : res->stop == WF_GEN_STOP_LENGTH ? "length" : wf_gen_stop_name(res->stop);
    char specs[256] = "";
    if (A->sp.mode != WF_SPEC_NONE || A->sp.predict_path) {
        int64_t drafted = res->n_draft_accepted + res->n_draft_rejected;
        snprintf(specs, sizeof specs, " | spec %s%s: %lld accepted, %lld rejected (%.0f%%) | %lld decode calls",
                 A->sp.mode == WF_SPEC_LOOKUP ? "lookup" : A->sp.mode == WF_SPEC_DRAFT ? "draft" : "none",
                 A->sp.predict_path ? "+prediction" : "", (long long)res->n_draft_accepted,
                 (long long)res->n_draft_rejected, drafted ? 100.0 * (double)res->n_draft_accepted / (double)drafted : 0.0,
                 (long long)res->n_decode_calls);
    }
    fprintf(stderr, "\n[wafer] load %.2f s | prompt %zu tokens in %.3f s | first token after %.3f s | "
                    "%d generated, %.1f tok/s%s | stopped: %s\n",
            t_load, n_prompt, res->t_prompt, res->t_first, res->n_generated, res->decode_tok_s, specs, why);
}

/* The middle, streamed to stdout: the session generates (speculation
 * included); the text, the FIM stop tokens and the stop strings are handled
 * here, as tokens arrive. */
static int generate_middle(const complete_args *A, wf_session *sess, const wf_vocab *v, const wf_fim_format *fmt,
                           const int32_t *prompt, size_t n_prompt, const int32_t *pred, size_t n_pred, double t_load) {
    wf_error err = {0};
    wf_stop stop = {0};
    if (wf_stop_init(&stop, A->o.stops, (size_t)A->o.n_stops, &err)) {
        fprintf(stderr, "wafer complete: %s\n", err.msg);
        return 1;
    }
    int rc = 1;
    size_t piece_cap = 3 * ((size_t)wf_vocab_max_token_len(v) + 4) + 64;
    char *piece = malloc(piece_cap);
    if (!piece) goto done;
    complete_out co = {.fmt = fmt, .v = v, .stop = &stop, .piece = piece, .piece_cap = piece_cap,
                       .print_ids = A->print_ids};
    wf_detok_init(&co.dt);
    wf_gen_params gp = wf_gen_default_params();
    gp.max_tokens = A->o.n_predict;
    gp.sampling = &A->o.sp;
    cli_spec_params(&A->sp, &gp);
    gp.prediction = pred;
    gp.n_prediction = n_pred;
    wf_gen_callbacks cb = {complete_token, &co};
    wf_gen_result res;
    if (wf_session_generate(sess, prompt, n_prompt, &gp, &cb, &res, &err)) {
        fprintf(stderr, "\nwafer complete: %s\n", err.msg);
        goto done;
    }
    if (!A->print_ids && !co.stop_hit) {
        int64_t k = wf_detok_flush(&co.dt, piece, piece_cap);
        const char *out;
        size_t n_out;
        bool stopped = wf_stop_feed(&stop, piece, k > 0 ? (size_t)k : 0, &out, &n_out);
        emit(out, n_out);
        if (!stopped) {
            wf_stop_flush(&stop, &out, &n_out);
            emit(out, n_out);
        }
    }
    if (A->print_ids) printf("\n");
    fflush(stdout);
    if (!A->o.quiet) print_timings(A, &res, &co, n_prompt, t_load);
    rc = 0;
done:
    wf_stop_free(&stop);
    free(piece);
    return rc;
}

int cmd_complete(int argc, char **argv) {
    complete_args A = {0};
    int rc = parse_args(argc, argv, &A);
    if (rc >= 0) return rc;
    rc = 1;
    cli_opts *o = &A.o;
    wf_gguf *g = NULL;
    wf_vocab *v = NULL;
    wf_model *m = NULL, *dm = NULL;
    wf_context *c = NULL;
    wf_session *sess = NULL;
    int32_t *prompt = NULL, *pred = NULL;
    size_t n_prompt = 0, n_pred = 0;
    char *text = NULL, *pred_text = NULL;
    char *extra_text[MAX_EXTRA] = {0};
    wf_fim_extra extra[MAX_EXTRA];
    wf_error err = {0};
    double t_start = wf_time_now_cli();

    /* the vocabulary and metadata (enough for --print-prompt) */
    if (wf_gguf_open(o->model, &g, &err)) { fprintf(stderr, "wafer complete: %s\n", err.msg); goto done; }
    if (wf_vocab_load(g, &v, &err)) { fprintf(stderr, "wafer complete: %s: %s\n", o->model, err.msg); goto done; }
    if (wf_vocab_warning(v) && !o->quiet) fprintf(stderr, "wafer complete: note: %s\n", wf_vocab_warning(v));
    wf_fim_format fmt;
    if (wf_fim_detect(v, g, A.want, &fmt, &err)) { fprintf(stderr, "wafer complete: %s: %s\n", o->model, err.msg); goto done; }
    wf_fim_input in = {0};
    if (!read_fim_input(&A, &text, extra_text, extra, &in)) goto done;

    /* budget: the context minus what the middle may take */
    int32_t n_ctx = o->ctx_size;
    if (n_ctx <= 0) {
        int32_t train = ctx_train(g);
        n_ctx = train > 0 && train < CLI_COMPLETE_CTX_MAX ? train : CLI_COMPLETE_CTX_MAX;
    }
    int32_t reserve = middle_reserve(o, n_ctx);
    if (reserve >= n_ctx) {
        fprintf(stderr, "wafer complete: -n %d leaves no room for the prompt in a context of %d tokens (use -c)\n",
                o->n_predict, n_ctx);
        goto done;
    }
    wf_fim_stats st;
    if (wf_fim_build(v, &fmt, &in, n_ctx - reserve, &prompt, &n_prompt, &st, &err)) {
        fprintf(stderr, "wafer complete: %s\n", err.msg);
        goto done;
    }
    if (A.print_prompt) {
        print_prompt(&A, v, prompt, n_prompt);
        if (!o->quiet) print_summary(&fmt, &st, n_prompt, n_ctx - reserve, n_ctx);
        rc = 0;
        goto done;
    }

    /* the model and its context; the prompt again if the context was capped */
    if (!(m = cli_load_model(o))) goto done;
    cli_note_draft_max(m, A.sp.draft_max);
    double t_loaded = wf_time_now_cli();
    o->ctx_size = n_ctx;
    if (!(c = cli_make_context(m, o, n_ctx))) goto done;
    if (wf_context_n_ctx(c) < n_ctx) { /* capped to fit in memory: rebuild smaller */
        n_ctx = wf_context_n_ctx(c);
        reserve = middle_reserve(o, n_ctx);
        free(prompt);
        prompt = NULL;
        if (reserve >= n_ctx || wf_fim_build(v, &fmt, &in, n_ctx - reserve, &prompt, &n_prompt, &st, &err)) {
            fprintf(stderr, "wafer complete: the context (%d tokens) is too small: %s\n", n_ctx,
                    reserve >= n_ctx ? "lower -n" : err.msg);
            goto done;
        }
    }
    int32_t n_vocab = wf_model_n_vocab(m);
    for (size_t i = 0; i < n_prompt; i++)
        if (prompt[i] >= n_vocab) {
            fprintf(stderr, "wafer complete: token %d of the prompt is outside the model's %d embeddings\n",
                    prompt[i], n_vocab);
            goto done;
        }
    if (!o->quiet) print_summary(&fmt, &st, n_prompt, n_ctx - reserve, n_ctx);
    if (wf_session_adopt(m, c, &sess, &err)) { fprintf(stderr, "wafer complete: %s\n", err.msg); goto done; }
    c = NULL; /* the session owns it now */
    if (!cli_spec_attach_draft(&A.sp, "complete", o, sess, &dm)) goto done;
    if (A.sp.predict_path) {
        size_t len = 0;
        if (!(pred_text = read_input(A.sp.predict_path, &len))) goto done;
        if (wf_tokenize_text(v, pred_text, len, false, NULL, 0, &pred, &n_pred, &err)) {
            fprintf(stderr, "wafer complete: %s: %s\n", A.sp.predict_path, err.msg);
            goto done;
        }
    }
    rc = generate_middle(&A, sess, v, &fmt, prompt, n_prompt, pred, n_pred, t_loaded - t_start);
done:
    free(prompt);
    for (int i = 0; i < A.n_extra; i++) free(extra_text[i]);
    free(text);
    free(pred);
    free(pred_text);
    wf_session_free(sess);
    wf_context_free(c);
    wf_model_free(dm);
    wf_model_free(m);
    wf_vocab_free(v);
    wf_gguf_close(g);
    return rc;
}
