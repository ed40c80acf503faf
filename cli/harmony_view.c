/* harmony_view.c — what `wafer chat` and `wafer run` print of a gpt-oss
 * answer: its harmony channels split by the parser the server uses
 * (serve/api.h wf_api_harmony_answer: each field of a prefix is a prefix of
 * the final field, so printing the new bytes as the text grows never takes
 * anything back). The reasoning (analysis channel) is shown apart from the
 * answer (final channel): dimmed on a terminal, on stderr otherwise (stdout
 * then carries the answer alone); hidden with --reasoning hide; --reasoning
 * raw prints the markup as the model wrote it. */
#include "cli.h"

#include "base/buf.h"
#include "model/model.h"
#include "serve/api.h"
#include "text/tokenizer.h"

#include <stdlib.h>
#include <string.h>

#define DIM "\x1b[2m"
#define UNDIM "\x1b[0m"

int cli_take_reasoning(cli_reasoning *r, const char *cmd, int argc, char **argv, int *i) {
    if (strcmp(argv[*i], "--reasoning") != 0) return 0;
    const char *v = *i + 1 < argc ? argv[++*i] : NULL;
    if (v && !strcmp(v, "show")) *r = CLI_REASONING_SHOW;
    else if (v && !strcmp(v, "hide")) *r = CLI_REASONING_HIDE;
    else if (v && !strcmp(v, "raw")) *r = CLI_REASONING_RAW;
    else {
        fprintf(stderr, "wafer %s: --reasoning takes show, hide or raw%s%s%s\n", cmd, v ? " (not '" : "", v ? v : "",
                v ? "')" : "");
        return -1;
    }
    return 1;
}

bool cli_is_harmony(const wf_model *m, const char *tmpl, size_t tmpl_len) {
    const wf_vocab *v = wf_model_vocab(m);
    if (!v || wf_vocab_find_token(v, "<|channel|>", 11) < 0 || wf_vocab_find_token(v, "<|message|>", 11) < 0) return false;
    if (wf_model_hparams(m)->arch == WF_ARCH_GPTOSS) return true;
    for (size_t i = 0; tmpl && i + 11 <= tmpl_len; i++)
        if (!memcmp(tmpl + i, "<|channel|>", 11)) return true;
    return false;
}

/* Model output is untrusted: on a terminal control bytes (escape sequences
 * could move the cursor or retitle the window) are shown as ^X. */
void cli_put_text(FILE *f, const char *s, size_t n, bool escape) {
    if (!escape) {
        fwrite(s, 1, n, f);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\n' && c != '\t' && c != '\r') || c == 0x7F) {
            fputc('^', f);
            fputc(c == 0x7F ? '?' : c + 0x40, f);
        } else {
            fputc(c, f);
        }
    }
}

void cli_harmony_init(cli_harmony *h, cli_reasoning mode, bool tty) {
    memset(h, 0, sizeof *h);
    h->mode = mode;
    h->tty = tty;
}

/* Switch the output between the reasoning and the answer. */
static void enter(cli_harmony *h, bool reasoning) {
    if (h->in_reasoning == reasoning) return;
    if (h->tty && reasoning) fputs(DIM, stdout);
    if (!reasoning && h->in_reasoning) {
        if (h->tty) fputs(UNDIM "\n\n", stdout);
        else fputc('\n', stderr);
    }
    h->in_reasoning = reasoning;
}

bool cli_harmony_feed(cli_harmony *h, const char *text, size_t n, bool final, bool closed) {
    if (n && !wf_buf_add(&h->raw, text, n)) return false;
    const bool raw = h->mode == CLI_REASONING_RAW;
    if (raw) { /* the markup as it comes; split once at the end (history) */
        cli_put_text(stdout, text, n, h->tty);
        if (n) h->ends_nl = text[n - 1] == '\n';
        fflush(stdout);
        if (!final) return true;
    }
    wf_api_harmony v;
    if (!wf_api_harmony_answer(h->raw.p ? h->raw.p : "", h->raw.n, final, closed, "cli", &v)) return false;
    if (raw) {
        h->sent_r = v.reasoning_len, h->sent_c = v.content_len, h->calls_shown = v.n_calls;
    }
    if (v.reasoning_len > h->sent_r) {
        if (h->mode == CLI_REASONING_SHOW) {
            if (h->sent_c) { /* reasoning again after some answer: on its own line */
                if (h->tty) fputs("\n", stdout);
            }
            enter(h, true);
            cli_put_text(h->tty ? stdout : stderr, v.reasoning + h->sent_r, v.reasoning_len - h->sent_r, h->tty);
            if (!h->tty) fflush(stderr);
        }
        h->sent_r = v.reasoning_len;
    }
    if (v.content_len > h->sent_c) {
        enter(h, false);
        cli_put_text(stdout, v.content + h->sent_c, v.content_len - h->sent_c, h->tty);
        h->ends_nl = v.content[v.content_len - 1] == '\n';
        h->sent_c = v.content_len;
    }
    for (int i = h->calls_shown; final && i < v.n_calls; i++) { /* a tool call: no tools here, but shown */
        enter(h, false);
        fprintf(stdout, "%s[tool call %s: ", h->sent_c && !h->ends_nl ? "\n" : "", v.calls[i].name);
        cli_put_text(stdout, v.calls[i].args, v.calls[i].args_len, h->tty);
        fputs("]\n", stdout);
        h->ends_nl = true;
        h->calls_shown = i + 1;
    }
    if (final) {
        enter(h, false);
        free(h->reasoning);
        free(h->content);
        h->reasoning = v.reasoning, h->reasoning_len = v.reasoning_len;
        h->content = v.content, h->content_len = v.content_len;
        v.reasoning = v.content = NULL;
    }
    fflush(stdout);
    wf_api_harmony_free(&v);
    return true;
}

void cli_harmony_free(cli_harmony *h) {
    wf_buf_free(&h->raw);
    free(h->reasoning);
    free(h->content);
    memset(h, 0, sizeof *h);
}
