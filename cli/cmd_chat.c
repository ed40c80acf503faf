/* cmd_chat.c — `wafer chat`: an interactive chat on the generation session
 * API. Each turn re-renders the whole conversation with the chat template;
 * the session's prefix reuse makes only the new tokens cost (the previous
 * prompt and answer tokens are spliced in as they are, see build_prompt).
 * The answer streams from a worker thread while the main thread watches the
 * terminal: Ctrl-C (SIGINT -> wf_session_cancel) stops it within one decode
 * step, and a line typed + Enter while it streams redirects it. Line editing
 * and history: libedit's readline interface. When stdin is not a terminal,
 * each line is one user message (or all of stdin with --once). A gpt-oss
 * model's harmony channels are split (harmony_view.c): its reasoning shown
 * apart from the answer, the history keeping the answer as the template
 * takes it. */
#include "cli.h"

#include "base/buf.h"
#include "gen/gen.h"
#include "model/model.h"
#include "chat/messages.h"
#include "chat/template.h"
#include "text/tokenizer.h"

#include <editline/readline.h>
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A signal handler can only reach globals: the flag and the session it
 * cancels are the one piece of process-wide state here (set once). */
static volatile sig_atomic_t chat_sigint;
static wf_session *volatile chat_sig_session;

static void on_sigint(int sig) {
    (void)sig;
    chat_sigint = 1;
    if (chat_sig_session) wf_session_cancel(chat_sig_session); /* one atomic store */
}

static void usage(FILE *f) {
    fprintf(f, "usage: wafer chat [-m MODEL] [--system TEXT] [--chat-template FILE|NAME] [options]\n\n"
               "Chat with the model using its chat template (tokenizer.chat_template).\n"
               "The answer streams as it is written. While it streams: Ctrl-C stops it and\n"
               "returns to the prompt (the partial answer stays in the conversation); typing\n"
               "a new instruction and Enter stops it and answers the new instruction. Ctrl-C\n"
               "at an empty prompt, or Ctrl-D, exits. A line ending in '\\' continues on the\n"
               "next line. Commands: /clear (forget the conversation), /exit, /help.\n"
               "When stdin is not a terminal, each input line is one user message.\n\n"
               "options:\n");
    cli_print_opts_help(f, CLI_G_MODEL | CLI_G_CTX | CLI_G_GEN | CLI_G_SAMPLE);
    fprintf(f, "  --system TEXT           system message at the start of the conversation\n"
               "  --chat-template X       a template file or a built-in format:");
    for (const char *const *n = wf_template_builtin_names(); *n; n++) fprintf(f, " %s", *n);
    fprintf(f, "\n"
               "                          (default: the model's tokenizer.chat_template)\n"
               "  --spec lookup|draft:FILE|none\n"
               "                          speculative decoding: candidates from n-gram matches in\n"
               "                          the conversation, or from a small draft model with the\n"
               "                          same vocabulary (default none)\n"
               "  --draft-max N           longest draft checked in one step (default 16, at most\n"
               "                          255; 31 where the kernels are exact only\n"
               "                          up to 32 tokens a pass: K-quants on AVX2)\n"
               "  --once                  read all of stdin as one message, answer, exit\n"
               "  --save FILE             write the conversation (JSON messages) after each answer\n"
               "  --reasoning show|hide|raw\n"
               "                          gpt-oss (harmony) answers: show the reasoning apart\n"
               "                          (dimmed on a terminal, on stderr otherwise), hide it,\n"
               "                          or print the channel markup as written (default show)\n"
               "  -q, --quiet             no banner, progress bar or timings\n"
               "In chat, -n defaults to -1 (until the end of the turn or of the context).\n");
}

/* ---- text helpers ------------------------------------------------------- */

/* Terminal input is untrusted bytes: replace malformed UTF-8 by U+FFFD so the
 * template engine, the tokenizer and the JSON transcript see valid text. */
static char *utf8_clean(const char *s, size_t n, size_t *out_n) {
    char *o = malloc(3 * n + 1);
    if (!o) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        bool ok = len > 0 && i + len <= n;
        uint32_t cp = len == 1 ? c : len == 2 ? c & 0x1F : len == 3 ? c & 0x0F : c & 0x07;
        for (size_t j = 1; ok && j < len; j++) {
            unsigned char d = (unsigned char)s[i + j];
            if ((d & 0xC0) != 0x80) ok = false;
            cp = (cp << 6) | (d & 0x3F);
        }
        if (ok && ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
                   cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)))
            ok = false;
        if (ok) {
            memcpy(o + k, s + i, len);
            k += len;
            i += len;
        } else {
            memcpy(o + k, "\xEF\xBF\xBD", 3);
            k += 3;
            i++;
        }
    }
    o[k] = 0;
    *out_n = k;
    return o;
}

static bool is_blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') return false;
    return true;
}

/* ---- the conversation --------------------------------------------------- */

typedef struct conv {
    wf_chat_message *m; /* role points to a string literal; content and
                           fields_json (NULL, or the whole message) are owned */
    size_t n, cap;
} conv;

/* Append a message; fields (may be NULL) is taken. */
static bool conv_push_fields(conv *c, const char *role, const char *text, size_t len, char *fields) {
    char *s = NULL;
    if ((c->n == c->cap && !WF_ARRAY_RESERVE(c->m, c->cap, c->n + 1)) || !(s = malloc(len + 1))) {
        free(fields);
        return false;
    }
    memcpy(s, text, len);
    s[len] = 0;
    c->m[c->n++] = (wf_chat_message){role, s, len, fields};
    return true;
}

static bool conv_push(conv *c, const char *role, const char *text, size_t len) {
    return conv_push_fields(c, role, text, len, NULL);
}

static void conv_pop(conv *c) {
    if (!c->n) return;
    c->n--;
    free((char *)c->m[c->n].content);
    free((char *)c->m[c->n].fields_json);
}

/* Remove message i (shifting the rest down). */
static void conv_remove(conv *c, size_t i) {
    free((char *)c->m[i].content);
    free((char *)c->m[i].fields_json);
    memmove(c->m + i, c->m + i + 1, (c->n - i - 1) * sizeof *c->m);
    c->n--;
}

static void conv_free(conv *c) {
    while (c->n) conv_pop(c);
    free(c->m);
}

static bool conv_save(const conv *c, const char *path) {
    json_t *a = json_array();
    for (size_t i = 0; a && i < c->n; i++) {
        json_t *o = c->m[i].fields_json ? json_loads(c->m[i].fields_json, 0, NULL)
                                        : json_pack("{s:s, s:s%}", "role", c->m[i].role, "content", c->m[i].content,
                                                    c->m[i].content_len);
        if (!o || json_array_append_new(a, o)) {
            json_decref(a);
            a = NULL;
        }
    }
    bool ok = a && json_dump_file(a, path, JSON_INDENT(1) | JSON_ENSURE_ASCII) == 0;
    json_decref(a);
    if (!ok) fprintf(stderr, "wafer chat: cannot write the conversation to %s\n", path);
    return ok;
}

/* ---- chat state --------------------------------------------------------- */

typedef struct chat {
    wf_model *m;
    const wf_vocab *v;
    wf_session *sess;
    wf_template *tmpl;
    wf_template_opts topts;
    char *bos_text, *eos_text;
    cli_opts o;
    wf_gen_params gp;
    int32_t n_ctx;
    conv c;
    size_t n_fixed;      /* leading messages never dropped (the system message) */
    const char *save_path;
    bool tty;            /* stdin is a terminal: readline, redirect      */
    bool noted_rerender; /* said once that the template re-renders turns */
    bool base_stale;     /* the conversation changed under the base (/clear,
                            a dropped turn): a mismatch is expected       */
    bool interrupted;    /* the last answer was stopped by Ctrl-C         */
    bool show_raw;       /* stdout is not a terminal: no control escaping */
    bool harmony;        /* gpt-oss: answers are harmony channels         */
    cli_reasoning reasoning; /* --reasoning                              */

    /* What the session's tokens stand for, so the next prompt can reuse them
     * as they are: base_toks (n_base) is exactly the text base_text (both
     * the previous prompt + answer, or the previous prompt alone). */
    char *base_text;
    size_t base_len;
    int32_t *base_toks;
    size_t n_base;
    size_t base_prompt_len;  /* the previous prompt alone: text bytes ...   */
    size_t n_base_prompt;    /* ... and tokens                              */
} chat;

/* Tokenize template output from byte `from` on, by the library's one rule
 * (chat/messages.h): the template's special-token text (<|im_start|>)
 * becomes control tokens, message contents never do; no BOS/EOS added (the
 * template writes them itself), as transformers' apply_chat_template does. */
static bool tokenize_rendered(chat *ch, const char *s, size_t n, size_t from, int32_t **toks, size_t *nt) {
    wf_error err = {0};
    if (wf_chat_tokenize(ch->v, s, n, from, ch->c.m, ch->c.n, toks, nt, NULL, &err)) {
        fprintf(stderr, "wafer chat: tokenize: %s\n", err.msg);
        return false;
    }
    return true;
}

/* Concatenate a ++ b into a new array. */
static int32_t *cat_toks(const int32_t *a, size_t na, const int32_t *b, size_t nb) {
    int32_t *o = malloc((na + nb + 1) * sizeof *o);
    if (!o) return NULL;
    if (na) memcpy(o, a, na * sizeof *o);
    if (nb) memcpy(o + na, b, nb * sizeof *o);
    return o;
}

/* The prompt for the conversation so far. When the rendered text starts with
 * the text the session's tokens stand for, those tokens are reused as they
 * are and only the rest is tokenized: the cache is reused in full even when
 * the model's own answer tokens are not how the tokenizer would split the
 * text. A template that renders earlier turns differently (e.g. one that
 * drops an answer's reasoning) falls back to the previous prompt alone, then
 * to tokenizing everything; the session still reuses the common prefix. */
static bool build_prompt(chat *ch, char **text, size_t *len, int32_t **toks, size_t *nt) {
    wf_error err = {0};
    char *r = NULL;
    size_t rn = 0;
    if (wf_template_render(ch->tmpl, ch->c.m, ch->c.n, &ch->topts, &r, &rn, &err)) {
        fprintf(stderr, "wafer chat: %s\n", err.msg);
        return false;
    }
    size_t keep_txt = 0, keep_tok = 0;
    if (ch->base_text && rn >= ch->base_len && !memcmp(r, ch->base_text, ch->base_len)) {
        keep_txt = ch->base_len, keep_tok = ch->n_base;
    } else if (ch->base_text && rn >= ch->base_prompt_len && !memcmp(r, ch->base_text, ch->base_prompt_len)) {
        keep_txt = ch->base_prompt_len, keep_tok = ch->n_base_prompt;
    } else if (ch->base_text && !ch->base_stale && !ch->noted_rerender && !ch->o.quiet) {
        fprintf(stderr, "wafer chat: note: the chat template renders earlier turns differently; "
                        "the conversation is re-read from the first difference\n");
        ch->noted_rerender = true;
    }
    int32_t *rest = NULL;
    size_t n_rest = 0;
    if (!tokenize_rendered(ch, r, rn, keep_txt, &rest, &n_rest)) {
        free(r);
        return false;
    }
    *toks = cat_toks(ch->base_toks, keep_tok, rest, n_rest);
    free(rest);
    if (!*toks) {
        free(r);
        fprintf(stderr, "wafer chat: out of memory\n");
        return false;
    }
    *nt = keep_tok + n_rest;
    *text = r;
    *len = rn;
    return true;
}

/* ---- one answer on a worker thread -------------------------------------- */

typedef struct answer {
    bool show_raw;       /* print the text as it is (not a terminal)      */
    cli_harmony *hv;     /* a harmony answer's split and printing, or NULL */
    wf_buf text;         /* the text as generated                        */
    int32_t *ids;        /* (n_ids) emitted tokens                       */
    size_t n_ids, cap_ids;
    bool oom;
    bool ends_nl;        /* the last text shown ended with a newline      */
} answer;

static bool on_token(void *user, int32_t token, const char *text, size_t n_text) {
    answer *a = user;
    if (n_text && a->hv) {
        if (!cli_harmony_feed(a->hv, text, n_text, false, false)) a->oom = true;
        if (!wf_buf_add(&a->text, text, n_text)) a->oom = true;
    } else if (n_text) {
        /* on a terminal control bytes are shown as ^X; the conversation
         * keeps the text as it is */
        cli_put_text(stdout, text, n_text, !a->show_raw);
        fflush(stdout);
        a->ends_nl = text[n_text - 1] == '\n';
        if (!wf_buf_add(&a->text, text, n_text)) a->oom = true;
    }
    if (token >= 0) {
        if (a->n_ids == a->cap_ids && !WF_ARRAY_RESERVE(a->ids, a->cap_ids, a->n_ids + 1)) {
            a->oom = true;
            return false;
        }
        a->ids[a->n_ids++] = token;
    }
    return !a->oom;
}

typedef struct gen_job {
    wf_session *sess;
    const int32_t *toks;
    size_t n;
    const wf_gen_params *gp;
    wf_gen_callbacks cb;
    wf_gen_result res;
    wf_error err;
    wf_status st;
    int done_fd; /* write end of a pipe: one byte when finished */
} gen_job;

static void *gen_worker(void *arg) {
    gen_job *j = arg;
    j->st = wf_session_generate(j->sess, j->toks, j->n, j->gp, &j->cb, &j->res, &j->err);
    ssize_t w;
    do w = write(j->done_fd, "x", 1); while (w < 0 && errno == EINTR);
    return NULL;
}

typedef enum turn_end {
    TURN_DONE = 0,   /* answered (or stopped by Ctrl-C)                  */
    TURN_REDIRECT,   /* a new instruction arrived: *redirect holds it     */
    TURN_HANGUP,     /* the terminal went away                           */
    TURN_ERROR
} turn_end;

/* Run the generation on a worker thread; the calling thread waits for it and,
 * when watch_stdin, reads the terminal: a complete line cancels the answer and
 * becomes the redirect (the terminal is in cooked mode here, so typing is
 * echoed and poll reports input only once Enter is pressed). */
static turn_end generate_watching(chat *ch, const int32_t *toks, size_t n, answer *a, gen_job *j,
                                  bool watch_stdin, wf_buf *redirect) {
    int pfd[2];
    if (pipe(pfd)) {
        fprintf(stderr, "wafer chat: pipe: %s\n", strerror(errno));
        return TURN_ERROR;
    }
    *j = (gen_job){.sess = ch->sess, .toks = toks, .n = n, .gp = &ch->gp,
                   .cb = {on_token, a}, .done_fd = pfd[1]};
    /* SIGINT must reach this thread (to interrupt poll), not the worker. */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    pthread_t th;
    int e = pthread_create(&th, NULL, gen_worker, j);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e) {
        close(pfd[0]);
        close(pfd[1]);
        fprintf(stderr, "wafer chat: cannot start a thread: %s\n", strerror(e));
        return TURN_ERROR;
    }
    turn_end end = TURN_DONE;
    bool watching = watch_stdin;
    for (;;) {
        /* A Ctrl-C that came before the generation cleared the flag is
         * repeated here (cancelling twice is harmless). */
        if (chat_sigint) wf_session_cancel(ch->sess);
        struct pollfd p[2] = {{pfd[0], POLLIN, 0}, {watching ? 0 : -1, POLLIN, 0}};
        int r = poll(p, 2, chat_sigint ? 20 : 200);
        if (r < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (p[0].revents) break;
        if (!watching || !p[1].revents) continue;
        char tmp[4096];
        ssize_t got = -1;
        if (p[1].revents & POLLIN) {
            got = read(0, tmp, sizeof tmp);
            if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
            if (got == 0 && !(p[1].revents & POLLHUP)) continue; /* Ctrl-D on an empty line */
        }
        if (got <= 0) { /* the terminal is gone */
            end = TURN_HANGUP;
            watching = false;
            wf_session_cancel(ch->sess);
            continue;
        }
        if (end == TURN_REDIRECT) {
            wf_buf_add(redirect, tmp, (size_t)got); /* typed ahead: the next turns */
            continue;
        }
        size_t start = redirect->n;
        if (!wf_buf_add(redirect, tmp, (size_t)got)) continue;
        /* Blank lines (Enter alone) do not redirect: they are dropped. */
        for (char *nl; (nl = memchr(redirect->p + start, '\n', redirect->n - start));) {
            size_t line_end = (size_t)(nl - redirect->p) + 1;
            size_t line_start = start;
            while (line_start > 0 && redirect->p[line_start - 1] != '\n') line_start--;
            if (!is_blank(redirect->p + line_start, line_end - line_start)) {
                end = TURN_REDIRECT;
                wf_session_cancel(ch->sess);
                break;
            }
            memmove(redirect->p + line_start, redirect->p + line_end, redirect->n - line_end);
            redirect->n -= line_end - line_start;
            start = line_start;
        }
    }
    pthread_join(th, NULL);
    close(pfd[0]);
    close(pfd[1]);
    if (j->st != WF_OK) {
        fprintf(stderr, "\nwafer chat: %s\n", j->err.msg);
        return TURN_ERROR;
    }
    if (a->oom) {
        fprintf(stderr, "\nwafer chat: out of memory\n");
        return TURN_ERROR;
    }
    return end;
}

/* Decode ids to text the way the stream would show it (for the splice check). */
static bool ids_text_equals(const wf_vocab *v, const int32_t *ids, size_t n, const char *text, size_t len) {
    wf_detok d;
    wf_detok_init(&d);
    size_t cap = 3 * ((size_t)wf_vocab_max_token_len(v) + 4) + 64, at = 0;
    char *piece = malloc(cap);
    if (!piece) return false;
    bool same = true;
    for (size_t i = 0; same && i <= n; i++) {
        int64_t k = i < n ? wf_detok_push(&d, v, ids[i], piece, cap) : wf_detok_flush(&d, piece, cap);
        if (k < 0 || at + (size_t)k > len || memcmp(text + at, piece, (size_t)k)) same = false;
        else at += (size_t)k;
    }
    free(piece);
    return same && at == len;
}

/* A harmony answer into the history as chat templates take an assistant
 * message: the final channel as its content, the reasoning as
 * reasoning_content and thinking (gpt-oss's template reads `thinking` and
 * drops it after a final answer; the template decides). */
static bool push_harmony_answer(chat *ch, const cli_harmony *hv) {
    char *fields = NULL;
    if (hv->reasoning_len) {
        json_t *m = json_pack("{s:s, s:s%, s:s%, s:s%}", "role", "assistant", "content", hv->content, hv->content_len,
                              "reasoning_content", hv->reasoning, hv->reasoning_len, "thinking", hv->reasoning,
                              hv->reasoning_len);
        fields = m ? json_dumps(m, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        json_decref(m);
        if (!fields) return false;
    }
    return conv_push_fields(&ch->c, "assistant", hv->content ? hv->content : "", hv->content_len, fields);
}

/* One turn: the user's message, the streamed answer, timings, and the
 * conversation updated. On TURN_REDIRECT, *redirect holds the typed line(s). */
static turn_end chat_turn(chat *ch, const char *msg, size_t msg_len, wf_buf *redirect) {
    if (!conv_push(&ch->c, "user", msg, msg_len)) {
        fprintf(stderr, "wafer chat: out of memory\n");
        return TURN_ERROR;
    }
    char *text = NULL;
    size_t len = 0, n = 0;
    int32_t *toks = NULL;
    bool dropped = false;
    int32_t reserve = ch->o.n_predict > 0 ? ch->o.n_predict : 256;
    if (reserve > ch->n_ctx / 4) reserve = ch->n_ctx / 4;
    for (;;) {
        if (!build_prompt(ch, &text, &len, &toks, &n)) {
            conv_pop(&ch->c);
            return TURN_DONE; /* the message is dropped; the chat goes on */
        }
        if ((int64_t)n + reserve <= ch->n_ctx) break;
        free(text);
        free(toks);
        /* Too long: forget the oldest exchange after the system message. */
        if (ch->c.n - ch->n_fixed <= 1) {
            fprintf(stderr, "wafer chat: this message needs %zu tokens (+ %d for the answer) but the "
                            "context holds %d (use -c)\n", n, reserve, ch->n_ctx);
            conv_pop(&ch->c);
            return TURN_DONE;
        }
        conv_remove(&ch->c, ch->n_fixed);
        ch->base_stale = true;
        while (ch->c.n - ch->n_fixed > 1 && strcmp(ch->c.m[ch->n_fixed].role, "user"))
            conv_remove(&ch->c, ch->n_fixed);
        dropped = true;
    }
    if (dropped && !ch->o.quiet)
        fprintf(stderr, "wafer chat: note: the oldest turns were dropped to fit the context (%d tokens)\n",
                ch->n_ctx);

    cli_harmony hv;
    cli_harmony_init(&hv, ch->reasoning, !ch->show_raw);
    answer a = {.show_raw = ch->show_raw, .hv = ch->harmony ? &hv : NULL};
    gen_job j;
    /* chat_sigint is cleared before the user's line is read, so a Ctrl-C
     * pressed right after Enter still stops this answer. */
    turn_end end = generate_watching(ch, toks, n, &a, &j, ch->tty, redirect);
    bool interrupted = chat_sigint;
    chat_sigint = 0;
    ch->interrupted = interrupted;
    if (end == TURN_ERROR) {
        /* The session is consistent but the turn is lost: forget it. */
        conv_pop(&ch->c);
        goto out;
    }
    const wf_gen_result *res = &j.res;
    if (a.hv) { /* the split of the whole answer, for the history */
        if (!cli_harmony_feed(&hv, NULL, 0, true, res->stop == WF_GEN_STOP_EOG)) {
            fprintf(stderr, "wafer chat: out of memory\n");
            conv_pop(&ch->c);
            end = TURN_ERROR;
            goto out;
        }
        a.ends_nl = hv.ends_nl || (!hv.sent_c && !hv.calls_shown && ch->reasoning != CLI_REASONING_RAW);
    }
    if ((a.text.n && !a.ends_nl)) fputc('\n', stdout);
    fflush(stdout);
    if (!ch->o.quiet) {
        const char *why = end == TURN_REDIRECT ? "redirected"
                        : interrupted && res->stop == WF_GEN_STOP_CANCELLED ? "interrupted"
                        : wf_gen_stop_name(res->stop);
        char specs[128] = "";
        if (ch->gp.spec != WF_SPEC_NONE)
            snprintf(specs, sizeof specs, " | spec: %lld accepted, %lld rejected",
                     (long long)res->n_draft_accepted, (long long)res->n_draft_rejected);
        fprintf(stderr, "[wafer] prompt %d tokens, %d cached, %d new in %.3f s | first token after %.3f s | "
                        "%d generated, %.1f tok/s%s | stopped: %s\n",
                res->n_prompt, res->n_prompt_cached, res->n_prompt - res->n_prompt_cached, res->t_prompt,
                res->t_first, res->n_generated, res->decode_tok_s, specs, why);
    }

    if (a.n_ids == 0 && a.text.n == 0 && res->stop == WF_GEN_STOP_CANCELLED) {
        /* Stopped before the first token: the question goes unanswered (the
         * session keeps what it read; the next prompt reuses its prefix). */
        conv_pop(&ch->c);
        ch->base_stale = true;
        goto out;
    }
    if (!(a.hv ? push_harmony_answer(ch, &hv) : conv_push(&ch->c, "assistant", a.text.p ? a.text.p : "", a.text.n))) {
        fprintf(stderr, "wafer chat: out of memory\n");
        end = TURN_ERROR;
        goto out;
    }
    /* What the session holds now, for the next prompt (build_prompt). */
    ch->base_stale = false;
    free(ch->base_text);
    free(ch->base_toks);
    ch->base_text = NULL;
    ch->base_toks = NULL;
    bool whole = ids_text_equals(ch->v, a.ids, a.n_ids, a.text.p ? a.text.p : "", a.text.n);
    wf_buf bt = {0};
    if (wf_buf_add(&bt, text, len) && (!whole || wf_buf_add(&bt, a.text.p ? a.text.p : "", a.text.n))) {
        ch->base_toks = cat_toks(toks, n, a.ids, whole ? a.n_ids : 0);
        if (ch->base_toks) {
            ch->base_text = bt.p;
            ch->base_len = bt.n;
            ch->n_base = n + (whole ? a.n_ids : 0);
            ch->base_prompt_len = len;
            ch->n_base_prompt = n;
        }
    }
    if (!ch->base_text) free(bt.p);
out:
    free(text);
    free(toks);
    free(a.text.p);
    free(a.ids);
    cli_harmony_free(&hv);
    if (ch->save_path && end != TURN_ERROR) conv_save(&ch->c, ch->save_path);
    return end;
}

/* ---- input loops -------------------------------------------------------- */

/* Commands typed at the prompt. Returns 1 handled, -1 exit, 0 not a command. */
static int chat_command(chat *ch, const char *line) {
    if (!strcmp(line, "/exit") || !strcmp(line, "/quit")) return -1;
    if (!strcmp(line, "/clear")) {
        while (ch->c.n > ch->n_fixed) conv_pop(&ch->c);
        ch->base_stale = true;
        fprintf(stderr, "(conversation cleared)\n");
        return 1;
    }
    if (!strcmp(line, "/help")) {
        fprintf(stderr, "Ctrl-C stops an answer; Enter on a new line while it streams redirects it;\n"
                        "Ctrl-C at an empty prompt or Ctrl-D exits; end a line with '\\' to continue it;\n"
                        "/clear forgets the conversation; /exit quits.\n");
        return 1;
    }
    return 0;
}

/* libedit reads keys through this: it counts what was typed at this prompt
 * (so Ctrl-C can tell an empty prompt from a line being edited) and makes
 * Ctrl-C end readline(). */
static int chat_typed;

static int chat_getc(FILE *f) {
    unsigned char c;
    for (;;) {
        ssize_t r = read(fileno(f), &c, 1);
        if (r == 1) {
            chat_typed++;
            return c;
        }
        if (r < 0 && errno == EINTR) {
            if (chat_sigint) return EOF;
            continue;
        }
        return EOF;
    }
}

/* Take the first line (without its newline) out of b into a new string. */
static char *take_line(wf_buf *b) {
    char *nl = memchr(b->p, '\n', b->n);
    size_t k = nl ? (size_t)(nl - b->p) : b->n;
    char *s = malloc(k + 1);
    if (!s) return NULL;
    memcpy(s, b->p, k);
    s[k] = 0;
    size_t skip = nl ? k + 1 : k;
    memmove(b->p, b->p + skip, b->n - skip);
    b->n -= skip;
    if (b->p) b->p[b->n] = 0;
    return s;
}

static int loop_tty(chat *ch) {
    rl_catch_signals = 0;
    rl_getc_function = chat_getc;
    if (!isatty(1)) rl_outstream = stderr; /* keep stdout for the answers */
    wf_buf pending = {0}; /* lines typed while an answer streamed */
    wf_buf msg = {0};     /* a message continued with '\' */
    int rc = 0;
    for (;;) {
        char *line = NULL;
        bool from_redirect = pending.n && memchr(pending.p, '\n', pending.n);
        if (from_redirect) {
            line = take_line(&pending);
            if (!line) { rc = 1; break; }
            fprintf(rl_outstream ? rl_outstream : stdout, "%s%s\n", msg.n ? "... " : "> ", line);
            fflush(rl_outstream ? rl_outstream : stdout);
        } else {
            pending.n = 0; /* a partial line (Ctrl-D mid-line) is dropped */
            chat_sigint = 0;
            chat_typed = 0;
            line = readline(msg.n ? "... " : "> ");
            if (!line) {
                if (chat_sigint && (chat_typed > 0 || msg.n)) {
                    chat_sigint = 0;
                    msg.n = 0;
                    printf("\n");
                    continue; /* Ctrl-C while editing: drop the line */
                }
                printf("\n");
                break; /* Ctrl-D, or Ctrl-C at an empty prompt */
            }
        }
        size_t ln = strlen(line);
        if (ln && !from_redirect && !is_blank(line, ln)) add_history(line);
        if (ln && line[ln - 1] == '\\') { /* continued on the next line */
            line[ln - 1] = '\n';
            bool ok = wf_buf_add(&msg, line, ln);
            free(line);
            if (!ok) { rc = 1; break; }
            continue;
        }
        if (!msg.n) {
            int k = chat_command(ch, line);
            if (k) {
                free(line);
                if (k < 0) break;
                continue;
            }
        }
        bool ok = wf_buf_add(&msg, line, ln);
        free(line);
        if (!ok) { rc = 1; break; }
        if (is_blank(msg.p, msg.n)) {
            msg.n = 0;
            continue;
        }
        size_t cn = 0;
        char *clean = utf8_clean(msg.p, msg.n, &cn);
        msg.n = 0;
        if (!clean) { rc = 1; break; }
        turn_end e = chat_turn(ch, clean, cn, &pending);
        free(clean);
        if (e == TURN_HANGUP) break;
        /* TURN_REDIRECT: the typed line is in pending and is taken next. */
    }
    free(pending.p);
    free(msg.p);
    return rc;
}

/* stdin is a file or a pipe: one message per line, or everything with once. */
static int loop_pipe(chat *ch, bool once) {
    char *in = NULL;
    int rc = 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    if (once) {
        size_t n_in = 0;
        if (!(in = cli_read_stdin("chat", SIZE_MAX, &n_in))) { rc = 1; goto done; }
        if (n_in && !is_blank(in, n_in)) {
            size_t cn = 0;
            char *clean = utf8_clean(in, n_in, &cn);
            if (!clean) { rc = 1; goto done; }
            turn_end e = chat_turn(ch, clean, cn, NULL);
            free(clean);
            if (e == TURN_ERROR) rc = 1;
        }
        goto done;
    }
    while ((got = getline(&line, &cap, stdin)) > 0) {
        size_t ln = (size_t)got;
        while (ln && (line[ln - 1] == '\n' || line[ln - 1] == '\r')) ln--;
        if (is_blank(line, ln)) continue;
        line[ln] = 0;
        int k = chat_command(ch, line);
        if (k < 0) break;
        if (k > 0) continue;
        size_t cn = 0;
        char *clean = utf8_clean(line, ln, &cn);
        if (!clean) { rc = 1; break; }
        turn_end e = chat_turn(ch, clean, cn, NULL);
        free(clean);
        if (e == TURN_ERROR) { rc = 1; break; }
        if (ch->interrupted) { rc = 130; break; } /* Ctrl-C in a script: stop */
    }
done:
    free(line);
    free(in);
    return rc;
}

/* ---- the command -------------------------------------------------------- */

int cmd_chat(int argc, char **argv) {
    chat ch = {0};
    cli_opts_init(&ch.o);
    ch.o.n_predict = -1; /* until the end of the turn */
    const char *system = NULL, *tmpl_arg = NULL;
    bool once = false, reasoning_given = false;
    wf_spec_mode spec = WF_SPEC_NONE;
    const char *draft_path = NULL;
    int32_t draft_max = 0;
    wf_model *dm = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { usage(stdout); return 0; }
        int r = cli_take_opt(&ch.o, CLI_G_MODEL | CLI_G_CTX | CLI_G_GEN | CLI_G_SAMPLE, argc, argv, &i);
        if (r < 0) return 2;
        if (r > 0) continue;
        if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet")) { ch.o.quiet = true; continue; }
        if (!strcmp(argv[i], "--once")) { once = true; continue; }
        if ((r = cli_take_reasoning(&ch.reasoning, "chat", argc, argv, &i)) < 0) return 2;
        if (r > 0) {
            reasoning_given = true;
            continue;
        }
        if (!strcmp(argv[i], "--system") || !strcmp(argv[i], "--chat-template") ||
            !strcmp(argv[i], "--spec") || !strcmp(argv[i], "--save") || !strcmp(argv[i], "--draft-max")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "wafer chat: %s needs a value\n", argv[i]);
                return 2;
            }
            const char *flag = argv[i], *val = argv[++i];
            if (!strcmp(flag, "--system")) system = val;
            else if (!strcmp(flag, "--chat-template")) tmpl_arg = val;
            else if (!strcmp(flag, "--save")) ch.save_path = val;
            else if (!strcmp(flag, "--draft-max")) {
                if (!cli_parse_i32(flag, val, 1, WF_SPEC_DRAFT_MAX_LIMIT, &draft_max)) return 2;
            } else if (!strcmp(val, "lookup")) spec = WF_SPEC_LOOKUP;
            else if (!strcmp(val, "none")) spec = WF_SPEC_NONE;
            else if (!strncmp(val, "draft:", 6) && val[6]) spec = WF_SPEC_DRAFT, draft_path = val + 6;
            else {
                fprintf(stderr, "wafer chat: --spec takes lookup, draft:MODEL.gguf or none, not '%s'\n", val);
                return 2;
            }
            continue;
        }
        fprintf(stderr, "wafer chat: unknown option '%s'\n\n", argv[i]);
        usage(stderr);
        return 2;
    }
    ch.tty = isatty(0) && !once;
    ch.show_raw = !isatty(1);

    int rc = 1;
    wf_error err = {0};
    char *file_src = NULL;
    if (!(ch.m = cli_load_model(&ch.o))) goto done;
    cli_note_draft_max(ch.m, draft_max);
    if (!(ch.v = wf_model_vocab(ch.m))) {
        fprintf(stderr, "wafer chat: the model has no tokenizer\n");
        goto done;
    }

    /* The template: a built-in name, a file, or the model's own. */
    const char *src = NULL;
    size_t src_len = 0;
    if (tmpl_arg) {
        if ((src = wf_template_builtin(tmpl_arg))) {
            src_len = strlen(src);
        } else {
            if (!(file_src = cli_read_file(tmpl_arg, &src_len))) {
                fprintf(stderr, "wafer chat: --chat-template is neither a file nor a built-in format\n");
                goto done;
            }
            src = file_src;
        }
    } else if (wf_template_from_gguf(wf_model_gguf(ch.m), &src, &src_len, &err)) {
        fprintf(stderr, "wafer chat: %s (give --chat-template FILE or a format:", err.msg);
        for (const char *const *nm = wf_template_builtin_names(); *nm; nm++) fprintf(stderr, " %s", *nm);
        fprintf(stderr, ")\n");
        goto done;
    }
    if (wf_template_compile(src, src_len, &ch.tmpl, &err)) {
        fprintf(stderr, "wafer chat: chat template: %s\n", err.msg);
        goto done;
    }
    ch.harmony = cli_is_harmony(ch.m, src, src_len);
    if (reasoning_given && !ch.harmony && !ch.o.quiet)
        fprintf(stderr, "wafer chat: note: --reasoning applies to models that answer in harmony channels (gpt-oss); "
                        "this one's answers are printed as they are\n");
    wf_template_opts_init(&ch.topts);
    ch.bos_text = wf_token_to_str(ch.v, wf_vocab_bos(ch.v));
    ch.eos_text = wf_token_to_str(ch.v, wf_vocab_eos(ch.v));
    ch.topts.bos_token = ch.bos_text ? ch.bos_text : "";
    ch.topts.eos_token = ch.eos_text ? ch.eos_text : "";
    ch.topts.add_generation_prompt = true;

    if (draft_path) {
        cli_opts od = ch.o;
        od.model = draft_path;
        if (!(dm = cli_load_model(&od))) goto done;
    }

    /* The contexts' worker threads must not take SIGINT (it has to interrupt
     * the main thread's poll or readline): block it while they are made. */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    wf_context *c = cli_make_context(ch.m, &ch.o, 4096);
    bool ok = c != NULL;
    if (ok && wf_session_adopt(ch.m, c, &ch.sess, &err)) {
        wf_context_free(c);
        fprintf(stderr, "wafer chat: %s\n", err.msg);
        ok = false;
    }
    if (ok && dm && wf_session_set_draft(ch.sess, dm, NULL, &err)) {
        fprintf(stderr, "wafer chat: --spec draft:%s: %s\n", draft_path, err.msg);
        ok = false;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!ok) goto done;
    ch.n_ctx = wf_context_n_ctx(c);

    ch.gp = wf_gen_default_params();
    ch.gp.max_tokens = ch.o.n_predict;
    ch.gp.sampling = &ch.o.sp;
    ch.gp.text = true;
    ch.gp.stops = ch.o.stops;
    ch.gp.n_stops = (size_t)ch.o.n_stops;
    ch.gp.spec = spec;
    ch.gp.draft_max = draft_max;

    if (system) {
        size_t cn = 0;
        char *clean = utf8_clean(system, strlen(system), &cn);
        bool ok = clean && conv_push(&ch.c, "system", clean, cn);
        free(clean);
        if (!ok) goto done;
        ch.n_fixed = 1;
    }

    chat_sig_session = ch.sess;
    struct sigaction sa, old_sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: Ctrl-C must interrupt read/poll */
    sigaction(SIGINT, &sa, &old_sa);
    if (ch.tty && !ch.o.quiet)
        fprintf(stderr, "wafer chat: %d tokens of context. Ctrl-C stops an answer, Enter while it streams "
                        "redirects it, Ctrl-D exits; /help for more.\n", ch.n_ctx);
    rc = ch.tty ? loop_tty(&ch) : loop_pipe(&ch, once);
    sigaction(SIGINT, &old_sa, NULL);
    chat_sig_session = NULL;
done:
    conv_free(&ch.c);
    free(ch.base_text);
    free(ch.base_toks);
    free(ch.bos_text);
    free(ch.eos_text);
    free(file_src);
    wf_template_free(ch.tmpl);
    wf_session_free(ch.sess);
    wf_model_free(dm);
    wf_model_free(ch.m);
    return rc;
}
