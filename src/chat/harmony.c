/* harmony.c — splitting gpt-oss output into reasoning, content and tool
 * calls by its channels (harmony.h). One pass over the text: a header runs
 * from <|start|> or <|channel|> to <|message|>, the body from there to the
 * next end marker (<|end|>, <|return|>, <|call|>) or header. */
#include "chat/harmony.h"
#include "base/buf.h"

#include <stdlib.h>
#include <string.h>


static const char *find(const char *s, const char *end, const char *pat) {
    const size_t m = strlen(pat);
    for (const char *p = s; p + m <= end; p++)
        if (*p == pat[0] && !memcmp(p, pat, m)) return p;
    return NULL;
}

static bool starts(const char *s, const char *end, const char *pat) {
    const size_t m = strlen(pat);
    return (size_t)(end - s) >= m && !memcmp(s, pat, m);
}

/* The word after key in [h, he) (up to a space or '<'), or NULL. */
static const char *word_after(const char *h, const char *he, const char *key, size_t *n) {
    const char *k = find(h, he, key);
    if (!k) return NULL;
    const char *w = k + strlen(key), *e = w;
    while (e < he && *e != ' ' && *e != '<' && *e != '\n') e++;
    *n = (size_t)(e - w);
    return w;
}

/* The first end marker or header start at or after s. */
static const char *body_end(const char *s, const char *end, size_t *marker_len, bool *closed) {
    static const char *const ends[] = {"<|end|>", "<|return|>", "<|call|>"};
    static const char *const heads[] = {"<|start|>", "<|channel|>"};
    for (const char *p = s; p < end; p++) {
        if (*p != '<') continue;
        for (size_t i = 0; i < 3; i++)
            if (starts(p, end, ends[i])) {
                *marker_len = strlen(ends[i]);
                *closed = true;
                return p;
            }
        for (size_t i = 0; i < 2; i++)
            if (starts(p, end, heads[i])) {
                *marker_len = 0;
                *closed = false;
                return p;
            }
    }
    *marker_len = 0;
    *closed = false;
    return end;
}

static wf_status add_message(wf_harmony_out *out, wf_buf *reason, wf_buf *content, const char *h, const char *he,
                             const char *b, size_t bn, wf_error *err) {
    size_t cn = 0, rn = 0;
    const char *ch = word_after(h, he, "<|channel|>", &cn);
    const char *to = word_after(h, he, "to=", &rn);
    if (!ch) return wf_fail(err, WF_ERR_FORMAT, "harmony: a message without a channel (header '%.*s')",
                            (int)(he - h > 80 ? 80 : he - h), h);
    wf_buf *dst = NULL;
    if (cn == 8 && !memcmp(ch, "analysis", 8)) dst = reason;
    else if (cn == 5 && !memcmp(ch, "final", 5)) dst = content;
    else if (cn == 10 && !memcmp(ch, "commentary", 10)) dst = to ? NULL : content;
    else return wf_fail(err, WF_ERR_FORMAT, "harmony: unknown channel '%.*s'", (int)(cn > 40 ? 40 : cn), ch);
    if (dst) {
        if (dst->n && !wf_buf_add(dst, "\n", 1)) return wf_fail(err, WF_ERR_NOMEM, "harmony: out of memory");
        if (!wf_buf_add(dst, b, bn)) return wf_fail(err, WF_ERR_NOMEM, "harmony: out of memory");
        return WF_OK;
    }
    if (out->n_calls >= WF_HARMONY_MAX_CALLS)
        return wf_fail(err, WF_ERR_FORMAT, "harmony: more than %d tool calls", WF_HARMONY_MAX_CALLS);
    if (rn > 10 && !memcmp(to, "functions.", 10)) to += 10, rn -= 10;
    if (rn == 0) return wf_fail(err, WF_ERR_FORMAT, "harmony: a tool call without a function name");
    wf_harmony_call *c = &out->calls[out->n_calls];
    c->name = malloc(rn + 1);
    c->arguments = malloc(bn + 1);
    if (!c->name || !c->arguments) {
        free(c->name);
        free(c->arguments);
        c->name = c->arguments = NULL;
        return wf_fail(err, WF_ERR_NOMEM, "harmony: out of memory");
    }
    memcpy(c->name, to, rn);
    c->name[rn] = 0;
    memcpy(c->arguments, b, bn);
    c->arguments[bn] = 0;
    out->n_calls++;
    return WF_OK;
}

wf_status wf_harmony_parse(const char *text, size_t len, wf_harmony_out *out, wf_error *err) {
    memset(out, 0, sizeof *out);
    if (!text && len) return wf_fail(err, WF_ERR_INVALID_ARG, "harmony: NULL text");
    const char *s = text ? text : "", *end = s + len;
    wf_buf reason = {0}, content = {0};
    wf_status st = WF_OK;
    while (s < end && st == WF_OK) {
        if (!starts(s, end, "<|start|>") && !starts(s, end, "<|channel|>")) {
            /* text outside a message (before any header): content */
            size_t ml;
            bool closed;
            const char *e = body_end(s, end, &ml, &closed);
            if (e > s && !wf_buf_add(&content, s, (size_t)(e - s))) st = wf_fail(err, WF_ERR_NOMEM, "harmony: out of memory");
            s = e + ml;
            continue;
        }
        const char *h = s, *m = find(s, end, "<|message|>");
        if (!m) { /* a header cut off by the token limit: nothing to show yet */
            out->truncated = true;
            break;
        }
        const char *b = m + strlen("<|message|>");
        size_t ml;
        bool closed;
        const char *e = body_end(b, end, &ml, &closed);
        st = add_message(out, &reason, &content, h, m, b, (size_t)(e - b), err);
        if (!closed && e == end) out->truncated = true;
        s = e + ml;
    }
    if (st == WF_OK && ((!reason.p && !wf_buf_add(&reason, "", 0)) || (!content.p && !wf_buf_add(&content, "", 0))))
        st = wf_fail(err, WF_ERR_NOMEM, "harmony: out of memory");
    out->reasoning = reason.p;
    out->content = content.p;
    if (st != WF_OK) wf_harmony_free(out);
    return st;
}

/* Tokens whose first byte is in [from, to): from the *i-th on (the walk
 * goes forward, the messages come in order). */
static size_t tokens_in(const size_t *ends, size_t n, size_t *i, size_t from, size_t to) {
    size_t k = 0;
    for (; *i < n; (*i)++) {
        size_t start = *i ? ends[*i - 1] : 0;
        if (start >= to) break;
        if (start >= from) k++;
    }
    return k;
}

size_t wf_harmony_reasoning_tokens(const char *text, size_t len, const size_t *ends, size_t n) {
    if (!text || !ends || !n) return 0;
    wf_harmony_out o;
    wf_error err = {0};
    if (wf_harmony_parse(text, len, &o, &err) != WF_OK) return 0; /* not harmony: all content */
    wf_harmony_free(&o);
    const char *s = text, *end = text + len;
    size_t i = 0, count = 0;
    while (s < end) {
        const char *ms = s;
        size_t ml;
        bool closed;
        if (!starts(s, end, "<|start|>") && !starts(s, end, "<|channel|>")) { /* text outside a message */
            const char *e = body_end(s, end, &ml, &closed);
            s = e + ml;
            tokens_in(ends, n, &i, (size_t)(ms - text), (size_t)(s - text));
            continue;
        }
        const char *m = find(s, end, "<|message|>");
        if (!m) break; /* a cut-off header: not yet a message of any channel */
        const char *e = body_end(m + strlen("<|message|>"), end, &ml, &closed);
        size_t cn = 0;
        const char *ch = word_after(s, m, "<|channel|>", &cn);
        s = e + ml;
        size_t k = tokens_in(ends, n, &i, (size_t)(ms - text), (size_t)(s - text));
        if (ch && cn == 8 && !memcmp(ch, "analysis", 8)) count += k;
    }
    return count;
}

void wf_harmony_free(wf_harmony_out *out) {
    if (!out) return;
    free(out->reasoning);
    free(out->content);
    for (int i = 0; i < out->n_calls; i++) {
        free(out->calls[i].name);
        free(out->calls[i].arguments);
    }
    memset(out, 0, sizeof *out);
}
