/* cmd_tokenize.c — `wafer tokenize` (text -> ids) and `wafer detokenize`
 * (ids -> text). They open the GGUF file and load only the vocabulary, so
 * vocab-only files work. */
#include "cli.h"

#include "format/gguf.h"
#include "text/tokenizer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void tokenize_help(FILE *f) {
    fprintf(f,
            "usage: wafer tokenize [-m MODEL] (-p TEXT | -f FILE) [options]\n\n"
            "Print the token ids of a text, separated by spaces, on one line.\n\n"
            "  -m, --model FILE   GGUF model or vocabulary-only file (default: the embedded model)\n"
            "  -p, --prompt TEXT  text to tokenize\n"
            "  -f, --file FILE    read the text from a file\n"
            "  --pieces           one token per line: id, a tab, and its text (escaped)\n"
            "  --json             JSON output: [ids] or [{\"id\":..,\"piece\":..}]\n"
            "  --add-special      add BOS/EOS as the vocabulary asks\n"
            "  --parse-special    text such as <|im_start|> becomes its special token\n"
            "  -h, --help         this help\n");
}

static void detokenize_help(FILE *f) {
    fprintf(f,
            "usage: wafer detokenize [-m MODEL] IDS...\n\n"
            "Print the text of token ids (given as arguments, separated by spaces\n"
            "or commas). The text is printed exactly, without a newline added.\n"
            "Bytes that do not form valid UTF-8 are printed as U+FFFD.\n\n"
            "  -m, --model FILE   GGUF model or vocabulary-only file (default: the embedded model)\n"
            "  -h, --help         this help\n");
}

static wf_vocab *open_vocab(const char *cmd, const char *path, wf_gguf **g) {
    wf_error err = {0};
    wf_vocab *v = NULL;
    if (wf_gguf_open(path, g, &err) != WF_OK) {
        fprintf(stderr, "wafer %s: %s\n", cmd, err.msg);
        return NULL;
    }
    if (wf_vocab_load(*g, &v, &err) != WF_OK) {
        fprintf(stderr, "wafer %s: %s: %s\n", cmd, path, err.msg);
        wf_gguf_close(*g);
        *g = NULL;
        return NULL;
    }
    if (wf_vocab_warning(v)) fprintf(stderr, "wafer %s: warning: %s\n", cmd, wf_vocab_warning(v));
    return v;
}

/* Print token bytes readably: printable ASCII and complete UTF-8 characters
 * as they are, everything else escaped (\n, \t, \\, \xNN; JSON: \uNNNN and
 * U+FFFD for bytes that are not UTF-8). */
static void print_piece(FILE *f, const unsigned char *s, size_t n, bool json) {
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        if (c == '\\') { fputs("\\\\", f); i++; continue; }
        if (json && c == '"') { fputs("\\\"", f); i++; continue; }
        if (c == '\n') { fputs("\\n", f); i++; continue; }
        if (c == '\t') { fputs("\\t", f); i++; continue; }
        if (c == '\r') { fputs("\\r", f); i++; continue; }
        if (c < 0x20 || c == 0x7F) {
            fprintf(f, json ? "\\u%04x" : "\\x%02x", c);
            i++;
            continue;
        }
        if (c < 0x80) { fputc((int)c, f); i++; continue; }
        /* a complete, valid multi-byte character? */
        int len = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 0;
        bool ok = len > 0 && i + (size_t)len <= n;
        for (int k = 1; ok && k < len; k++) ok = (s[i + k] & 0xC0) == 0x80;
        if (ok && len == 3 && ((c == 0xE0 && s[i + 1] < 0xA0) || (c == 0xED && s[i + 1] > 0x9F))) ok = false;
        if (ok && len == 4 && ((c == 0xF0 && s[i + 1] < 0x90) || (c == 0xF4 && s[i + 1] > 0x8F))) ok = false;
        if (ok) {
            fwrite(s + i, 1, (size_t)len, f);
            i += (size_t)len;
        } else {
            if (json) fputs("\\ufffd", f);
            else fprintf(f, "\\x%02x", c);
            i++;
        }
    }
}

int cmd_tokenize(int argc, char **argv) {
    const char *model = NULL, *prompt = NULL, *file = NULL;
    bool pieces = false, json = false, add_special = false, parse_special = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            tokenize_help(stdout);
            return 0;
        } else if ((!strcmp(a, "-m") || !strcmp(a, "--model") || !strcmp(a, "-p") ||
                    !strcmp(a, "--prompt") || !strcmp(a, "-f") || !strcmp(a, "--file"))) {
            if (i + 1 >= argc) {
                fprintf(stderr, "wafer tokenize: %s needs a value\n", a);
                return 1;
            }
            const char *val = argv[++i];
            if (a[1] == 'm' || !strcmp(a, "--model")) model = val;
            else if (a[1] == 'p' || !strcmp(a, "--prompt")) prompt = val;
            else file = val;
        } else if (!strcmp(a, "--pieces")) pieces = true;
        else if (!strcmp(a, "--json")) json = true;
        else if (!strcmp(a, "--add-special")) add_special = true;
        else if (!strcmp(a, "--parse-special")) parse_special = true;
        else {
            fprintf(stderr, "wafer tokenize: unknown option '%s'\n", a);
            tokenize_help(stderr);
            return 1;
        }
    }
    char mbuf[CLI_PATH_MAX];
    if (!prompt == !file) {
        fprintf(stderr, "wafer tokenize: need one of -p TEXT or -f FILE\n");
        tokenize_help(stderr);
        return 1;
    }
    if (!(model = cli_model_or_default(model, mbuf, sizeof mbuf))) {
        tokenize_help(stderr);
        return 1;
    }
    char *text = NULL;
    size_t len = 0;
    if (file) {
        text = cli_read_file(file, &len);
        if (!text) {
            fprintf(stderr, "wafer tokenize: cannot read '%s': %s\n", file, strerror(errno));
            return 1;
        }
    }
    wf_gguf *g = NULL;
    wf_vocab *v = open_vocab("tokenize", model, &g);
    if (!v) {
        free(text);
        return 1;
    }
    int32_t *ids = NULL;
    size_t n = 0;
    wf_error err = {0};
    const char *src = text ? text : prompt;
    if (!text) len = strlen(prompt);
    int rc = 0;
    if (wf_tokenize(v, src, len, add_special, parse_special, &ids, &n, &err) != WF_OK) {
        fprintf(stderr, "wafer tokenize: %s\n", err.msg);
        rc = 1;
        goto done;
    }
    size_t cap = (size_t)wf_vocab_max_token_len(v) + 8;
    char *piece = malloc(cap);
    if (!piece) {
        fprintf(stderr, "wafer tokenize: out of memory\n");
        rc = 1;
        goto done;
    }
    if (json) fputc('[', stdout);
    for (size_t i = 0; i < n; i++) {
        int32_t pl = 0;
        if (pieces) {
            pl = wf_token_to_bytes(v, ids[i], piece, cap);
            if (pl < 0) pl = 0;
            if ((size_t)pl > cap) pl = (int32_t)cap;
        }
        if (json && pieces) {
            printf("%s{\"id\":%d,\"piece\":\"", i ? "," : "", ids[i]);
            print_piece(stdout, (const unsigned char *)piece, (size_t)pl, true);
            fputs("\"}", stdout);
        } else if (json) {
            printf(i ? ",%d" : "%d", ids[i]);
        } else if (pieces) {
            printf("%d\t", ids[i]);
            print_piece(stdout, (const unsigned char *)piece, (size_t)pl, false);
            fputc('\n', stdout);
        } else {
            printf(i ? " %d" : "%d", ids[i]);
        }
    }
    if (json) fputs("]\n", stdout);
    else if (!pieces) fputc('\n', stdout);
    free(piece);
done:
    free(ids);
    free(text);
    wf_vocab_free(v);
    wf_gguf_close(g);
    if (fflush(stdout) != 0) rc = 1;
    return rc;
}

int cmd_detokenize(int argc, char **argv) {
    const char *model = NULL;
    int first_id = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            detokenize_help(stdout);
            return 0;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "wafer detokenize: %s needs a value\n", a);
                return 1;
            }
            model = argv[++i];
        } else if (a[0] == '-' && !(a[1] >= '0' && a[1] <= '9')) {
            fprintf(stderr, "wafer detokenize: unknown option '%s'\n", a);
            detokenize_help(stderr);
            return 1;
        } else if (first_id < 0) {
            first_id = i;
        }
    }
    char mbuf[CLI_PATH_MAX];
    if (!(model = cli_model_or_default(model, mbuf, sizeof mbuf))) return 1;
    wf_gguf *g = NULL;
    wf_vocab *v = open_vocab("detokenize", model, &g);
    if (!v) return 1;
    int rc = 0;
    int32_t n_vocab = wf_vocab_n_tokens(v);
    size_t cap = 3 * ((size_t)wf_vocab_max_token_len(v) + 4);
    char *out = malloc(cap);
    wf_detok d;
    wf_detok_init(&d);
    d.strip_space = wf_vocab_add_space_prefix(v);
    if (!out) {
        fprintf(stderr, "wafer detokenize: out of memory\n");
        rc = 1;
        goto done;
    }
    for (int i = first_id < 0 ? argc : first_id; i < argc && rc == 0; i++) {
        if (!strcmp(argv[i], "-m") || !strcmp(argv[i], "--model")) {
            i++;
            continue;
        }
        const char *p = argv[i];
        while (*p) {
            if (*p == ' ' || *p == ',' || *p == '\t' || *p == '\n' || *p == '[' || *p == ']') {
                p++;
                continue;
            }
            char *end;
            errno = 0;
            long long id = strtoll(p, &end, 10);
            if (end == p || errno || id < 0 || id >= n_vocab) {
                fprintf(stderr, "wafer detokenize: bad token id '%.*s' (vocabulary has %d tokens)\n",
                        (int)strcspn(p, " ,\t\n"), p, n_vocab);
                rc = 1;
                break;
            }
            p = end;
            int64_t w = wf_detok_push(&d, v, (int32_t)id, out, cap);
            if (w < 0) {
                fprintf(stderr, "wafer detokenize: internal error (buffer)\n");
                rc = 1;
                break;
            }
            fwrite(out, 1, (size_t)w, stdout);
        }
    }
    if (rc == 0) {
        int64_t w = wf_detok_flush(&d, out, cap);
        if (w > 0) fwrite(out, 1, (size_t)w, stdout);
    }
done:
    free(out);
    wf_vocab_free(v);
    wf_gguf_close(g);
    if (fflush(stdout) != 0) rc = 1;
    return rc;
}
