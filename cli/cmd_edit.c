/* cmd_edit.c — `wafer edit`: rewrite a file by an instruction. The model gets
 * a chat prompt (its own chat template, ChatML when it has none) asking for
 * the complete new file in one fenced block; the file itself (in that fenced
 * form) is the prediction of the answer (OpenAI "Predicted Outputs"), so the
 * unchanged parts are checked k tokens per weight pass instead of one
 * (src/gen/gen.h). The fence is stripped and the result goes to stdout, to
 * -o OUT or back into the file, always by writing a temporary file in the
 * same directory and renaming it over the target: the old file is either
 * untouched or replaced whole. The prompt is documented in docs/edit.md. */
#include "cli.h"

#include "base/buf.h"
#include "gen/gen.h"
#include "model/model.h"
#include "chat/messages.h"
#include "chat/template.h"
#include "text/tokenizer.h"

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define EDIT_SYSTEM \
    "You rewrite a file as the user instructs. Reply with the complete new file in one " \
    "fenced code block and nothing else. Keep everything the instruction does not ask " \
    "to change exactly as it is."

static void usage(FILE *f) {
    fprintf(f, "usage: wafer edit [-m MODEL] FILE -i INSTRUCTION [--in-place | -o OUT] [options]\n\n"
               "Rewrite FILE as instructed. The file is the prediction of the answer, so the\n"
               "parts that do not change are verified many tokens per step. The result\n"
               "(without the code fence the model writes around it) goes to stdout, OUT, or\n"
               "back into FILE (--in-place); files are replaced atomically (temporary file +\n"
               "rename). A summary goes to stderr.\n\n"
               "options:\n");
    cli_print_opts_help(f, CLI_G_MODEL | CLI_G_CTX | CLI_G_GEN | CLI_G_SAMPLE);
    fprintf(f, "  -i, --instruction TEXT  what to change (required)\n"
               "  -o, --output OUT        write the new file to OUT\n"
               "  --in-place              replace FILE (only with a complete answer)\n"
               "  --spec lookup|draft:FILE|none\n"
               "                          speculative decoding besides the prediction: n-gram\n"
               "                          lookup, or a draft model (default none)\n"
               "  --no-predict            do not use the file as the prediction (plain decoding)\n"
               "  --predict FILE          use FILE's text as the prediction instead\n"
               "  --draft-max N           longest draft checked in one step, for every source\n"
               "                          (default 16, and 255 for a prediction's drafts on a\n"
               "                          model of 64 MiB or more; at most 255; 31 where the\n"
               "                          kernels are exact only up to 32 tokens a pass:\n"
               "                          K-quants on AVX2)\n"
               "  --chat-template X       a template file or a built-in format (default: the\n"
               "                          model's tokenizer.chat_template, else chatml)\n"
               "  --print-prompt          print the prompt text and exit (no generation)\n"
               "  -q, --quiet             no progress bar or summary\n"
               "In edit, -n defaults to -1 (until the end of the answer or of the context).\n"
               "An answer cut off by -n or the context is written to stdout / OUT with a\n"
               "warning (exit status 3) and never to FILE with --in-place.\n");
}

/* ---- text helpers ------------------------------------------------------- */


/* Strict UTF-8 without NUL bytes: what a text file to edit must be. Returns
 * the offset of the first bad byte, or n. */
static size_t utf8_bad_at(const char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        if (c == 0) return i;
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (!len || i + len > n) return i;
        uint32_t cp = len == 1 ? c : len == 2 ? c & 0x1F : len == 3 ? c & 0x0F : c & 0x07;
        for (size_t j = 1; j < len; j++) {
            unsigned char d = (unsigned char)s[i + j];
            if ((d & 0xC0) != 0x80) return i;
            cp = (cp << 6) | (d & 0x3F);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return i;
        i += len;
    }
    return n;
}

/* A fence longer than any run of backticks that starts a line of the file,
 * at least 3 (CommonMark: the closing fence is at least as long). */
static size_t fence_len(const char *s, size_t n) {
    size_t best = 2;
    for (size_t i = 0; i < n; i++) {
        if (i && s[i - 1] != '\n') continue;
        size_t j = i;
        while (j < n && (s[j] == ' ' || s[j] == '\t')) j++;
        size_t k = 0;
        while (j + k < n && s[j + k] == '`') k++;
        if (k > best) best = k;
    }
    return best + 1;
}

/* The info string for the fence, from the file name's extension. */
static const char *lang_of(const char *path) {
    static const char *const map[][2] = {
        {"c", "c"}, {"h", "c"}, {"cc", "cpp"}, {"cpp", "cpp"}, {"cxx", "cpp"}, {"hpp", "cpp"},
        {"py", "python"}, {"js", "javascript"}, {"mjs", "javascript"}, {"ts", "typescript"},
        {"tsx", "tsx"}, {"jsx", "jsx"}, {"rs", "rust"}, {"go", "go"}, {"java", "java"},
        {"kt", "kotlin"}, {"rb", "ruby"}, {"php", "php"}, {"cs", "csharp"}, {"swift", "swift"},
        {"sh", "bash"}, {"bash", "bash"}, {"lua", "lua"}, {"sql", "sql"}, {"html", "html"},
        {"css", "css"}, {"json", "json"}, {"yaml", "yaml"}, {"yml", "yaml"}, {"toml", "toml"},
        {"md", "markdown"}, {"cmake", "cmake"}, {"zig", "zig"}, {"hs", "haskell"},
    };
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    const char *dot = strrchr(base, '.');
    if (!dot || dot == base) return "";
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(dot + 1, map[i][0])) return map[i][1];
    return "";
}

/* The file in its fenced form: FENCE LANG \n text [\n] FENCE \n. This is both
 * the end of the user message and the prediction of the answer. */
static void fenced(wf_buf *b, const char *fence, const char *lang, const char *text, size_t n) {
    wf_buf_str(b, fence);
    wf_buf_str(b, lang);
    wf_buf_str(b, "\n");
    wf_buf_add(b, text, n);
    if (n && text[n - 1] != '\n') wf_buf_str(b, "\n");
    wf_buf_str(b, fence);
    wf_buf_str(b, "\n");
}

/* A line of only backticks (at least fl) and blanks. */
static bool is_fence_line(const char *s, size_t n, size_t fl) {
    size_t i = 0;
    while (i < n && (s[i] == ' ' || s[i] == '\t')) i++;
    size_t k = 0;
    while (i + k < n && s[i + k] == '`') k++;
    if (k < fl) return false;
    for (i += k; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') return false;
    return true;
}

/* The file in the answer: the body of the first fenced block when the answer
 * starts with one (after blank space), else the whole answer. keep_nl: the
 * original ended with a newline (the fenced form adds one when it did not;
 * it is taken away again). */
static void strip_fence(const char *a, size_t n, bool keep_nl, size_t *off, size_t *len) {
    size_t i = 0;
    while (i < n && (a[i] == ' ' || a[i] == '\t' || a[i] == '\n' || a[i] == '\r')) i++;
    size_t k = 0;
    while (i + k < n && a[i + k] == '`') k++;
    if (k < 3) {
        *off = 0;
        *len = n;
        return;
    }
    const char *nl = memchr(a + i, '\n', n - i);
    if (!nl) { /* only the opening fence */
        *off = n;
        *len = 0;
        return;
    }
    size_t start = (size_t)(nl - a) + 1, end = n;
    for (size_t p = start; p < n;) {
        const char *e = memchr(a + p, '\n', n - p);
        size_t le = e ? (size_t)(e - a) : n;
        if (is_fence_line(a + p, le - p, k)) {
            end = p;
            break;
        }
        p = le + 1;
    }
    if (!keep_nl && end > start && a[end - 1] == '\n' && end < n) end--;
    *off = start;
    *len = end - start;
}

/* ---- generation --------------------------------------------------------- */

typedef struct edit_out {
    wf_buf text;         /* the answer so far                                 */
    size_t fl;         /* fence length used in the prompt                   */
    size_t scan;       /* where to look for the next complete line          */
    bool opened;       /* the answer started with a fence line              */
    bool closed;       /* ... and a closing fence line followed             */
    bool decided;      /* whether it opened is known                        */
} edit_out;

/* Collect the answer; stop at the line that closes the opening fence (what
 * the model writes after the block is not needed). */
static bool on_token(void *user, int32_t token, const char *text, size_t n_text) {
    (void)token;
    edit_out *eo = user;
    wf_buf_add(&eo->text, text, n_text);
    if (eo->text.failed) return false;
    for (;;) {
        const char *s = eo->text.p;
        char *nl = memchr(s + eo->scan, '\n', eo->text.n - eo->scan);
        if (!nl) return true;
        size_t ls = eo->scan, le = (size_t)(nl - s);
        eo->scan = le + 1;
        if (!eo->decided) {
            size_t i = ls;
            while (i < le && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r')) i++;
            if (i == le) continue; /* blank lines before the block */
            eo->decided = true;
            eo->opened = le - i >= 3 && !strncmp(s + i, "```", 3);
            if (!eo->opened) return true; /* no fence: take the answer as it is */
            size_t k = 0;
            while (i + k < le && s[i + k] == '`') k++;
            eo->fl = k;
            continue;
        }
        if (eo->opened && is_fence_line(s + ls, le - ls, eo->fl)) {
            eo->closed = true;
            return false;
        }
        if (!eo->opened) return true;
    }
}

/* Write data to path atomically: a temporary file next to it, fsync, rename.
 * mode: the permissions to give it. Prints errors. */
static bool write_atomic(const char *path, const char *data, size_t n, mode_t mode) {
    size_t pl = strlen(path);
    char *tmp = malloc(pl + 32);
    if (!tmp) return false;
    snprintf(tmp, pl + 32, "%s.wafer-XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        fprintf(stderr, "wafer edit: cannot create a temporary file next to %s: %s\n", path, strerror(errno));
        free(tmp);
        return false;
    }
    bool ok = true;
    for (size_t off = 0; ok && off < n;) {
        ssize_t w = write(fd, data + off, n - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) ok = false;
        else off += (size_t)w;
    }
    if (ok && fchmod(fd, mode)) ok = false;
    if (ok && fsync(fd)) ok = false;
    if (close(fd)) ok = false;
    if (ok && rename(tmp, path)) ok = false;
    if (!ok) {
        fprintf(stderr, "wafer edit: cannot write %s: %s\n", path, strerror(errno));
        unlink(tmp);
    }
    free(tmp);
    return ok;
}

/* ---- the command ---------------------------------------------------------- */

typedef struct edit_args {
    cli_opts o;
    cli_spec sp;
    const char *path, *instr, *out_path, *tmpl_arg;
    bool in_place, no_predict, print_prompt;
    char mbuf[CLI_PATH_MAX];
} edit_args;

/* Returns -1 to go on, else the exit code (0 after --help, 2 on bad usage). */
static int parse_args(int argc, char **argv, edit_args *A) {
    cli_opts_init(&A->o);
    A->o.n_predict = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        int r = cli_take_opt(&A->o, CLI_G_MODEL | CLI_G_CTX | CLI_G_GEN | CLI_G_SAMPLE, argc, argv, &i);
        if (r < 0) return 2;
        if (r > 0) continue;
        if ((r = cli_take_spec(&A->sp, "edit", argc, argv, &i)) < 0) return 2;
        if (r > 0) continue;
        if (!strcmp(a, "--in-place")) { A->in_place = true; continue; }
        if (!strcmp(a, "--no-predict")) { A->no_predict = true; continue; }
        if (!strcmp(a, "--print-prompt")) { A->print_prompt = true; continue; }
        if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) { A->o.quiet = true; continue; }
        if (!strcmp(a, "-i") || !strcmp(a, "--instruction") || !strcmp(a, "-o") || !strcmp(a, "--output") ||
            !strcmp(a, "--chat-template")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "wafer edit: %s needs a value\n", a);
                return 2;
            }
            const char *val = argv[++i];
            if (!strcmp(a, "-i") || !strcmp(a, "--instruction")) A->instr = val;
            else if (!strcmp(a, "-o") || !strcmp(a, "--output")) A->out_path = val;
            else A->tmpl_arg = val; /* --chat-template */
            continue;
        }
        if (a[0] == '-' && a[1]) {
            fprintf(stderr, "wafer edit: unknown option '%s'\n\n", a);
            usage(stderr);
            return 2;
        }
        if (A->path) {
            fprintf(stderr, "wafer edit: one file at a time ('%s' and '%s')\n", A->path, a);
            return 2;
        }
        A->path = a;
    }
    if (!(A->o.model = cli_model_or_default(A->o.model, A->mbuf, sizeof A->mbuf))) return 2;
    if (!A->path) { fprintf(stderr, "wafer edit: no file given\n"); return 2; }
    if (!A->instr || !*A->instr) { fprintf(stderr, "wafer edit: no instruction given (use -i TEXT)\n"); return 2; }
    if (A->no_predict && A->sp.predict_path) {
        fprintf(stderr, "wafer edit: give --predict or --no-predict, not both\n");
        return 2;
    }
    if (A->in_place && A->out_path) { fprintf(stderr, "wafer edit: give --in-place or -o, not both\n"); return 2; }
    if (utf8_bad_at(A->instr, strlen(A->instr)) != strlen(A->instr)) {
        fprintf(stderr, "wafer edit: the instruction is not valid UTF-8\n");
        return 2;
    }
    return -1;
}

/* What the model gets: prompt tokens and the prediction's tokens. */
typedef struct edit_prompt {
    int32_t *prompt, *pred; /* (n_prompt), (n_pred); caller frees */
    size_t n_prompt, n_pred;
    bool raw;               /* the raw edit format: no code fence */
} edit_prompt;

/* The <|file_sep|> control token when the model has no chat template (and
 * none is given) and its vocabulary has one (the embedded model), else -1. */
static int32_t raw_format_sep(const edit_args *A, const wf_model *m, const wf_vocab *v) {
    const char *src = NULL;
    size_t len = 0;
    if (A->tmpl_arg || !wf_template_from_gguf(wf_model_gguf(m), &src, &len, NULL)) return -1;
    int32_t sep = wf_vocab_find_token(v, "<|file_sep|>", 12);
    return sep >= 0 && wf_vocab_is_control(v, sep) ? sep : -1;
}

/* The raw edit format the embedded model was trained on:
 *   BOS INSTRUCTION \n <|file_sep|> FILE <|file_sep|> -> NEW FILE <|endoftext|>
 * as tools/build_data.py writes edits: in training every document follows an
 * end-of-text token, and the file right after a separator lets the copy
 * start by matching (what followed the last separator). The prediction is
 * predt, or the file itself (without a fence). Returns an exit code, -1 to
 * go on. */
static int raw_prompt(const edit_args *A, const wf_vocab *v, int32_t sep, const char *text, size_t n_text,
                      const wf_buf *predt, edit_prompt *ep) {
    const int32_t bos = wf_vocab_bos(v);
    const size_t nbos = bos >= 0 ? 1 : 0;
    if (A->print_prompt) {
        char *bs = nbos ? wf_token_to_str(v, bos) : NULL;
        printf("%s%s\n<|file_sep|>%s<|file_sep|>", bs ? bs : "", A->instr, text);
        free(bs);
        return 0;
    }
    wf_error err = {0};
    int32_t *a = NULL, *b = NULL;
    size_t na = 0, nb = 0, il = strlen(A->instr);
    char *il_nl = malloc(il + 2);
    if (!il_nl) { fprintf(stderr, "wafer edit: out of memory\n"); return 1; }
    memcpy(il_nl, A->instr, il);
    memcpy(il_nl + il, "\n", 2);
    bool ok = !wf_tokenize(v, text, n_text, false, false, &a, &na, &err) &&
              !wf_tokenize(v, il_nl, il + 1, false, false, &b, &nb, &err) &&
              (ep->prompt = malloc((nbos + na + nb + 2) * sizeof *ep->prompt));
    free(il_nl);
    if (ok) {
        int32_t *p = ep->prompt;
        if (nbos) p[0] = bos;
        if (nb) memcpy(p + nbos, b, nb * sizeof *p);
        p[nbos + nb] = sep;
        if (na) memcpy(p + nbos + nb + 1, a, na * sizeof *p);
        p[nbos + nb + 1 + na] = sep;
        ep->n_prompt = nbos + na + nb + 2;
    }
    free(a);
    free(b);
    const char *pt = A->sp.predict_path ? (predt->p ? predt->p : "") : text;
    size_t pn = A->sp.predict_path ? predt->n : n_text;
    if (!ok || wf_tokenize(v, pt, pn, false, false, &ep->pred, &ep->n_pred, &err)) {
        fprintf(stderr, "wafer edit: tokenize: %s\n", ep->prompt ? err.msg : "out of memory");
        return 1;
    }
    ep->raw = true;
    if (!A->o.quiet) fprintf(stderr, "wafer edit: the model has no chat template: using its raw edit format\n");
    return -1;
}

/* The chat format: --chat-template (a built-in name or a file), the model's
 * template, or ChatML; a system message and the user's instruction with the
 * fenced file. Returns an exit code, -1 to go on. */
static int chat_prompt(const edit_args *A, const wf_model *m, const wf_vocab *v, const wf_buf *user,
                       const wf_buf *predt, edit_prompt *ep) {
    wf_error err = {0};
    const char *src = NULL;
    size_t src_len = 0, rn = 0;
    char *tmpl_file = NULL, *rendered = NULL, *bos = NULL, *eos = NULL;
    wf_template *tmpl = NULL;
    int rc = 1;
    if (A->tmpl_arg) {
        if ((src = wf_template_builtin(A->tmpl_arg))) {
            src_len = strlen(src);
        } else if ((tmpl_file = cli_read_file(A->tmpl_arg, &src_len))) {
            src = tmpl_file;
        } else {
            fprintf(stderr, "wafer edit: --chat-template is neither a file nor a built-in format\n");
            goto done;
        }
    } else if (wf_template_from_gguf(wf_model_gguf(m), &src, &src_len, &err)) {
        if (!A->o.quiet) fprintf(stderr, "wafer edit: the model has no chat template: using chatml\n");
        src = wf_template_builtin("chatml");
        src_len = src ? strlen(src) : 0;
    }
    if (!src || wf_template_compile(src, src_len, &tmpl, &err)) {
        fprintf(stderr, "wafer edit: chat template: %s\n", src ? err.msg : "chatml is missing");
        goto done;
    }
    wf_template_opts topts;
    wf_template_opts_init(&topts);
    bos = wf_token_to_str(v, wf_vocab_bos(v));
    eos = wf_token_to_str(v, wf_vocab_eos(v));
    topts.bos_token = bos ? bos : "";
    topts.eos_token = eos ? eos : "";
    topts.add_generation_prompt = true;
    wf_chat_message msgs[2] = {{"system", EDIT_SYSTEM, strlen(EDIT_SYSTEM), NULL}, {"user", user->p, user->n, NULL}};
    if (wf_template_render(tmpl, msgs, 2, &topts, &rendered, &rn, &err)) {
        fprintf(stderr, "wafer edit: %s\n", err.msg);
        goto done;
    }
    if (A->print_prompt) {
        fwrite(rendered, 1, rn, stdout);
        rc = 0;
        goto done;
    }
    /* the library's one rule (chat/messages.h): the instruction and the
     * file are never read as special tokens */
    if (wf_chat_tokenize(v, rendered, rn, 0, msgs, 2, &ep->prompt, &ep->n_prompt, NULL, &err) ||
        wf_tokenize(v, predt->p ? predt->p : "", predt->n, false, false, &ep->pred, &ep->n_pred, &err)) {
        fprintf(stderr, "wafer edit: tokenize: %s\n", err.msg);
        goto done;
    }
    rc = -1;
done:
    free(rendered);
    free(bos);
    free(eos);
    free(tmpl_file);
    wf_template_free(tmpl);
    return rc;
}

static void print_stats(const edit_args *A, const wf_gen_result *res, const edit_out *eo) {
    int64_t pd = res->n_pred_accepted + res->n_pred_rejected;
    int64_t dd = res->n_draft_accepted + res->n_draft_rejected;
    fprintf(stderr, "[wafer edit] prompt %d tokens, first token after %.3f s | generated %d tokens in %.3f s, %.1f tok/s "
                    "effective | prediction%s: %lld accepted, %lld rejected (%.0f%%) | all drafts: %lld "
                    "accepted, %lld rejected (%.0f%%) | %lld decode calls | stopped: %s\n",
            res->n_prompt, res->t_first, res->n_generated, res->t_gen, res->decode_tok_s,
            A->no_predict ? " (off)" : "", (long long)res->n_pred_accepted, (long long)res->n_pred_rejected,
            pd ? 100.0 * (double)res->n_pred_accepted / (double)pd : 0.0,
            (long long)res->n_draft_accepted, (long long)res->n_draft_rejected,
            dd ? 100.0 * (double)res->n_draft_accepted / (double)dd : 0.0,
            (long long)res->n_decode_calls, eo->closed ? "closing fence" : wf_gen_stop_name(res->stop));
}

/* The new file to stdout, -o or (only when complete) over the old one.
 * Returns the exit code: 0, 1 on a write error, 3 when cut off. */
static int write_result(const edit_args *A, const struct stat *st_in, const char *body, size_t len, bool complete,
                        wf_gen_stop stop) {
    if (A->in_place) {
        if (!complete) {
            fprintf(stderr, "wafer edit: the answer was cut off (%s); %s was not changed\n", wf_gen_stop_name(stop),
                    A->path);
            return 3;
        }
        /* through a symlink: replace the file it points to, not the link */
        char *real = realpath(A->path, NULL);
        bool ok = write_atomic(real ? real : A->path, body, len, st_in->st_mode & 07777);
        free(real);
        if (!ok) return 1;
    } else if (A->out_path) {
        mode_t um = umask(0);
        umask(um);
        if (!write_atomic(A->out_path, body, len, 0666 & ~um)) return 1;
    } else {
        fwrite(body, 1, len, stdout);
        fflush(stdout);
    }
    if (!complete) {
        fprintf(stderr, "wafer edit: warning: the answer was cut off (%s)\n", wf_gen_stop_name(stop));
        return 3;
    }
    return 0;
}

/* Generate with the prompt and prediction; write the result. */
static int generate(const edit_args *A, wf_model *m, const edit_prompt *ep, const char *text, size_t n_text,
                    const struct stat *st_in) {
    wf_error err = {0};
    wf_model *dm = NULL;
    wf_session *sess = NULL;
    edit_out eo = {.decided = ep->raw}; /* no code fence in the raw format */
    int rc = 1;
    /* the context must hold the prompt and a rewritten file about as long */
    wf_context *c = cli_make_context(m, &A->o, (int32_t)(ep->n_prompt + ep->n_pred + 64));
    if (!c) goto done;
    if (wf_session_adopt(m, c, &sess, &err)) {
        wf_context_free(c);
        fprintf(stderr, "wafer edit: %s\n", err.msg);
        goto done;
    }
    int32_t n_ctx = wf_context_n_ctx(c);
    if ((int64_t)ep->n_prompt + (int64_t)ep->n_pred >= n_ctx) {
        fprintf(stderr, "wafer edit: %s is too long: the prompt has %zu tokens and the new file needs about "
                        "%zu more, but the context holds %d (use -c); the file was not changed\n",
                A->path, ep->n_prompt, ep->n_pred, n_ctx);
        goto done;
    }
    if (!cli_spec_attach_draft(&A->sp, "edit", &A->o, sess, &dm)) goto done;

    wf_gen_params gp = wf_gen_default_params();
    gp.max_tokens = A->o.n_predict;
    gp.sampling = &A->o.sp;
    gp.text = true;
    gp.stops = A->o.stops;
    gp.n_stops = (size_t)A->o.n_stops;
    cli_spec_params(&A->sp, &gp);
    if (!A->no_predict) {
        gp.prediction = ep->pred;
        gp.n_prediction = ep->n_pred;
    }
    wf_gen_callbacks cb = {on_token, &eo};
    wf_gen_result res;
    if (wf_session_generate(sess, ep->prompt, ep->n_prompt, &gp, &cb, &res, &err)) {
        fprintf(stderr, "wafer edit: %s; the file was not changed\n", err.msg);
        goto done;
    }
    if (eo.text.failed) { fprintf(stderr, "wafer edit: out of memory\n"); goto done; }
    bool complete = res.stop == WF_GEN_STOP_EOG || res.stop == WF_GEN_STOP_STRING || eo.closed;
    size_t off = 0, len = 0;
    if (ep->raw) len = eo.text.n; /* the raw format has no fence to strip */
    else strip_fence(eo.text.p ? eo.text.p : "", eo.text.n, n_text == 0 || text[n_text - 1] == '\n', &off, &len);
    if (!A->o.quiet) print_stats(A, &res, &eo);
    if (res.stop == WF_GEN_STOP_CANCELLED) {
        fprintf(stderr, "wafer edit: interrupted; nothing written\n");
        goto done;
    }
    rc = write_result(A, st_in, eo.text.p ? eo.text.p + off : "", len, complete, res.stop);
done:
    free(eo.text.p);
    wf_session_free(sess);
    wf_model_free(dm);
    return rc;
}

int cmd_edit(int argc, char **argv) {
    edit_args A = {0};
    int rc = parse_args(argc, argv, &A);
    if (rc >= 0) return rc;
    rc = 1;
    wf_model *m = NULL;
    char *text = NULL;
    size_t n_text = 0;
    wf_buf user = {0}, predt = {0};
    edit_prompt ep = {0};
    struct stat st_in;

    /* the file: a regular file of UTF-8 text */
    if (!(text = cli_read_file(A.path, &n_text))) goto done;
    if (stat(A.path, &st_in)) {
        fprintf(stderr, "wafer edit: %s: %s\n", A.path, strerror(errno));
        goto done;
    }
    size_t bad = utf8_bad_at(text, n_text);
    if (bad != n_text) {
        fprintf(stderr, "wafer edit: %s is not a text file (%s at byte %zu); it was not changed\n", A.path,
                text[bad] ? "invalid UTF-8" : "a NUL byte", bad);
        goto done;
    }

    /* the user message (instruction, name, fenced file) and the prediction */
    char fence[64];
    size_t fl = fence_len(text, n_text);
    if (fl >= sizeof fence) fl = sizeof fence - 1;
    memset(fence, '`', fl);
    fence[fl] = 0;
    const char *slash = strrchr(A.path, '/');
    wf_buf_str(&user, A.instr);
    wf_buf_str(&user, "\n\nFile: ");
    wf_buf_str(&user, slash ? slash + 1 : A.path);
    wf_buf_str(&user, "\n");
    fenced(&user, fence, lang_of(A.path), text, n_text);
    if (A.sp.predict_path) {
        size_t pl = 0;
        char *pt = cli_read_file(A.sp.predict_path, &pl);
        if (!pt) goto done;
        wf_buf_add(&predt, pt, pl);
        free(pt);
    } else {
        fenced(&predt, fence, lang_of(A.path), text, n_text);
    }
    if (user.failed || predt.failed) { fprintf(stderr, "wafer edit: out of memory\n"); goto done; }

    if (!(m = cli_load_model(&A.o))) goto done;
    cli_note_draft_max(m, A.sp.draft_max);
    const wf_vocab *v = wf_model_vocab(m);
    if (!v) { fprintf(stderr, "wafer edit: the model has no tokenizer\n"); goto done; }
    int32_t sep = raw_format_sep(&A, m, v);
    rc = sep >= 0 ? raw_prompt(&A, v, sep, text, n_text, &predt, &ep) : chat_prompt(&A, m, v, &user, &predt, &ep);
    if (rc < 0) rc = generate(&A, m, &ep, text, n_text, &st_in);
done:
    free(user.p);
    free(predt.p);
    free(ep.prompt);
    free(ep.pred);
    free(text);
    wf_model_free(m);
    return rc;
}
