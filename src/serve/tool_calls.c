/* tool_calls.c — tool calls in a model's answer -> OpenAI `tool_calls`.
 *
 * Chat templates show the model the request's `tools`; the model answers a
 * call in its family's text format. Recognised here:
 *   Hermes / Qwen2.5 / Qwen3:  <tool_call>\n{"name": N, "arguments": {...}}\n</tool_call>
 *                              (several blocks; the closing tag may be cut off at the end)
 *   Mistral:                   [TOOL_CALLS][{"name": N, "arguments": {...}}, ...]
 * Each call becomes {"id", "type": "function", "function": {"name",
 * "arguments"}} with the arguments as a JSON string (as OpenAI sends them).
 * A block that is not a JSON object with a string "name" is not a call: the
 * answer is then returned as plain content. Pure (no I/O). */
#include "serve/api.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char OPEN[] = "<tool_call>", CLOSE[] = "</tool_call>", MISTRAL[] = "[TOOL_CALLS]";

static const char *find(const char *s, size_t n, const char *pat) {
    size_t m = strlen(pat);
    for (size_t i = 0; i + m <= n; i++)
        if (s[i] == pat[0] && !memcmp(s + i, pat, m)) return s + i;
    return NULL;
}

size_t wf_api_tool_safe_len(const char *text, size_t n) {
    const char *a = find(text, n, OPEN), *b = find(text, n, MISTRAL);
    const char *first = a && (!b || a < b) ? a : b;
    if (first) return (size_t)(first - text);
    /* hold back a tail that may still become a marker */
    size_t hold = 0;
    const char *const marks[] = {OPEN, MISTRAL};
    for (int k = 0; k < 2; k++) {
        size_t m = strlen(marks[k]);
        for (size_t l = m - 1; l > hold; l--)
            if (l <= n && !memcmp(text + n - l, marks[k], l)) {
                hold = l;
                break;
            }
    }
    return n - hold;
}

/* {"id", "type", "function": {"name", "arguments" as a string}} from a
 * parsed call object, or NULL when it is not one. */
static json_t *one_call(json_t *c, const char *id_prefix, size_t idx) {
    json_t *name = json_is_object(c) ? json_object_get(c, "name") : NULL;
    if (!json_is_string(name)) return NULL;
    json_t *args = json_object_get(c, "arguments");
    if (!args) args = json_object_get(c, "parameters");
    char *astr = NULL;
    if (json_is_string(args)) astr = strdup(json_string_value(args));
    else if (args) astr = json_dumps(args, JSON_COMPACT | JSON_ENCODE_ANY);
    else astr = strdup("{}");
    if (!astr) return NULL;
    char id[96];
    snprintf(id, sizeof id, "call_%s_%zu", id_prefix ? id_prefix : "x", idx);
    json_t *o = json_pack("{s:s, s:s, s:{s:O, s:s}}", "id", id, "type", "function", "function", "name", name,
                          "arguments", astr);
    free(astr);
    return o;
}

int wf_api_tool_calls(const char *text, size_t n, const char *id_prefix, char **calls_json, size_t *content_len) {
    *calls_json = NULL;
    *content_len = n;
    const char *start = NULL;
    json_t *calls = json_array();
    if (!calls) return -1;
    const char *m = find(text, n, MISTRAL), *h = find(text, n, OPEN);
    if (m && (!h || m < h)) {
        start = m;
        const char *p = m + strlen(MISTRAL);
        json_error_t je;
        json_t *arr = json_loadb(p, n - (size_t)(p - text), JSON_DISABLE_EOF_CHECK, &je);
        size_t i;
        json_t *c;
        if (json_is_object(arr)) { /* a single call without the brackets */
            json_t *w = json_array();
            json_array_append_new(w, arr);
            arr = w;
        }
        json_array_foreach(arr, i, c) {
            json_t *o = one_call(c, id_prefix, json_array_size(calls));
            if (!o) {
                json_array_clear(calls);
                break;
            }
            json_array_append_new(calls, o);
        }
        json_decref(arr);
    } else if (h) {
        start = h;
        const char *p = h;
        while (p) {
            const char *body = p + strlen(OPEN);
            const char *end = find(body, n - (size_t)(body - text), CLOSE);
            size_t blen = end ? (size_t)(end - body) : n - (size_t)(body - text);
            json_t *c = json_loadb(body, blen, JSON_DECODE_ANY, NULL);
            json_t *o = c ? one_call(c, id_prefix, json_array_size(calls)) : NULL;
            json_decref(c);
            if (!o) {
                json_array_clear(calls);
                break;
            }
            json_array_append_new(calls, o);
            if (!end) break;
            const char *after = end + strlen(CLOSE);
            p = find(after, n - (size_t)(after - text), OPEN);
        }
    }
    int k = (int)json_array_size(calls);
    if (k > 0) {
        *calls_json = json_dumps(calls, JSON_COMPACT | JSON_PRESERVE_ORDER);
        size_t cl = (size_t)(start - text);
        while (cl > 0 && (text[cl - 1] == ' ' || text[cl - 1] == '\n' || text[cl - 1] == '\r' || text[cl - 1] == '\t')) cl--;
        *content_len = cl;
        if (!*calls_json) k = -1;
    }
    json_decref(calls);
    return k;
}
