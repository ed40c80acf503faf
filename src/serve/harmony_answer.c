/* harmony_answer.c — a gpt-oss answer (harmony channels) as the API shows
 * it: reasoning, content and OpenAI tool calls (api.h). The channel split
 * is chat/harmony.c's; this adds what a server needs on top: a stream's
 * prefix held back where a marker may be cut (so every field only grows),
 * the calls as wf_api_tool_call_part (for argument deltas) and as the
 * tool_calls JSON array, and the fallback for text that is not harmony
 * (all of it is content: nothing is lost). Pure (no I/O). */
#include "serve/api.h"
#include "base/common.h"
#include "chat/harmony.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const MARKERS[] = {"<|start|>", "<|channel|>", "<|message|>", "<|constrain|>",
                                      "<|end|>",   "<|return|>",  "<|call|>"};

/* n without a tail that may be the start of a marker ("<", "<|ch", ...). */
static size_t hold_back(const char *t, size_t n) {
    size_t from = n > 12 ? n - 12 : 0;
    for (size_t i = from; i < n; i++) {
        if (t[i] != '<') continue;
        for (size_t k = 0; k < sizeof MARKERS / sizeof MARKERS[0]; k++) {
            size_t m = strlen(MARKERS[k]);
            if (n - i < m && !memcmp(t + i, MARKERS[k], n - i)) return i;
        }
    }
    return n;
}

static bool calls_json(wf_api_harmony *h, const char *id_prefix) {
    if (h->n_calls == 0) return true;
    json_t *a = json_array();
    for (int i = 0; a && i < h->n_calls; i++) {
        char id[96];
        snprintf(id, sizeof id, "call_%s_%d", id_prefix ? id_prefix : "x", i);
        json_t *o = json_pack("{s:s, s:s, s:{s:s, s:s%}}", "id", id, "type", "function", "function", "name", h->calls[i].name,
                              "arguments", h->calls[i].args, h->calls[i].args_len);
        if (!o || json_array_append_new(a, o)) {
            json_decref(a);
            a = NULL;
        }
    }
    h->calls_json = a ? json_dumps(a, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(a);
    return h->calls_json != NULL;
}

/* Text a JSON string can hold (valid UTF-8, no NUL). */
static bool text_ok(const char *s, size_t n) {
    if (memchr(s, 0, n)) return false;
    json_t *j = json_stringn(s, n);
    json_decref(j);
    return j != NULL;
}

bool wf_api_harmony_answer(const char *text, size_t n, bool final, bool closed, const char *id_prefix, wf_api_harmony *h) {
    memset(h, 0, sizeof *h);
    if (!text) text = "", n = 0;
    const size_t use = final ? n : hold_back(text, n);
    wf_harmony_out o;
    wf_error err = {0};
    wf_status st = wf_harmony_parse(text, use, &o, &err);
    if (st == WF_ERR_NOMEM) return false;
    bool ok = true, parsed = st == WF_OK;
    if (parsed && o.n_calls > WF_API_HARMONY_CALLS) st = WF_ERR_FORMAT; /* more than a response carries */
    for (int i = 0; parsed && i < o.n_calls && st == WF_OK; i++) /* names and arguments JSON strings can hold */
        if (!text_ok(o.calls[i].name, strlen(o.calls[i].name)) || !text_ok(o.calls[i].arguments, strlen(o.calls[i].arguments)))
            st = WF_ERR_FORMAT;
    if (st != WF_OK) { /* not harmony after all: the text is the content */
        if (parsed) wf_harmony_free(&o);
        h->raw = true;
        h->reasoning = wf_dup_bytes("", 0);
        h->content = wf_dup_bytes(text, use);
        h->content_len = use;
        if (!h->reasoning || !h->content) ok = false;
        if (!ok) wf_api_harmony_free(h);
        return ok;
    }
    h->reasoning = o.reasoning;
    h->reasoning_len = strlen(o.reasoning);
    h->content = o.content;
    h->content_len = strlen(o.content);
    for (int i = 0; i < o.n_calls; i++) {
        wf_api_tool_call_part *c = &h->calls[i];
        c->name = o.calls[i].name;
        c->args = o.calls[i].arguments;
        c->args_len = strlen(c->args);
        /* the last message is whole unless the text stops inside it */
        c->complete = i + 1 < o.n_calls || !o.truncated || closed;
        o.calls[i].name = o.calls[i].arguments = NULL;
    }
    h->n_calls = o.n_calls;
    o.reasoning = o.content = NULL;
    if (final && h->n_calls && !h->calls[h->n_calls - 1].complete) {
        /* a call cut off by the token limit is no call: its text is content */
        wf_api_tool_call_part *c = &h->calls[h->n_calls - 1];
        size_t add = c->args_len + (h->content_len ? 1 : 0);
        char *g = realloc(h->content, h->content_len + add + 1);
        if (!g) ok = false;
        else {
            if (h->content_len) g[h->content_len++] = '\n';
            memcpy(g + h->content_len, c->args, c->args_len);
            h->content_len += c->args_len;
            g[h->content_len] = 0;
            h->content = g;
            wf_api_tool_parts_free(c, 1);
            h->n_calls--;
        }
    }
    o.n_calls = 0;
    wf_harmony_free(&o);
    if (!ok || !calls_json(h, id_prefix)) {
        wf_api_harmony_free(h);
        return false;
    }
    return true;
}

void wf_api_harmony_free(wf_api_harmony *h) {
    if (!h) return;
    free(h->reasoning);
    free(h->content);
    free(h->calls_json);
    wf_api_tool_parts_free(h->calls, h->n_calls);
    memset(h, 0, sizeof *h);
}
