/* tool_calls.c — tool calls in a model's answer -> OpenAI tool calls, for a
 * finished answer and for one still streaming.
 *
 * Chat templates show the model the request's tools; the model answers a
 * call in its family's own text. Recognised here (several calls per answer):
 *   Hermes / Qwen2.5 / Qwen3:  <tool_call>\n{"name": N, "arguments": {...}}\n</tool_call>
 *   Qwen3-Coder:               <tool_call>\n<function=N>\n<parameter=P>\nvalue\n</parameter>\n...</function>\n</tool_call>
 *   Mistral:                   [TOOL_CALLS][{"name": N, "arguments": {...}}, ...]
 *   Llama 3.x:                 {"name": N, "parameters": {...}} as the whole answer, or after <|python_tag|>
 *                              (several separated by ';')
 *   DeepSeek V3 / R1:          <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>N\n```json\n{...}\n```<｜tool▁call▁end｜>...
 *   DeepSeek V3.1:             <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>N<｜tool▁sep｜>{...}<｜tool▁call▁end｜>...
 *
 * The parser reads any prefix of an answer: a call's name once it is known
 * and its arguments so far, always a prefix of the final arguments (an
 * object's arguments are the model's own text, not re-serialised; a
 * Qwen3-Coder call grows one parameter at a time), so a stream can send
 * them as deltas. A block that is not a call (no string name, bad JSON) is
 * not a call: the answer is then content. Pure (no I/O). */
#include "serve/api.h"
#include "base/common.h"
#include "base/buf.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char HERMES[] = "<tool_call>", HERMES_END[] = "</tool_call>", MISTRAL[] = "[TOOL_CALLS]",
                  PYTAG[] = "<|python_tag|>", DS_BEGIN[] = "<｜tool▁calls▁begin｜>", DS_CALL[] = "<｜tool▁call▁begin｜>",
                  DS_SEP[] = "<｜tool▁sep｜>", DS_CALL_END[] = "<｜tool▁call▁end｜>", DS_END[] = "<｜tool▁calls▁end｜>";
static const char *const MARKERS[] = {HERMES, MISTRAL, PYTAG, DS_BEGIN, DS_CALL};
#define N_MARKERS (sizeof MARKERS / sizeof MARKERS[0])

static const char *find(const char *s, const char *end, const char *pat) {
    size_t m = strlen(pat);
    for (const char *p = s; p + m <= end; p++)
        if (*p == pat[0] && !memcmp(p, pat, m)) return p;
    return NULL;
}

static bool starts(const char *p, const char *end, const char *pat) {
    size_t m = strlen(pat);
    return (size_t)(end - p) >= m && !memcmp(p, pat, m);
}

static const char *skip_ws(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
    return p;
}

/* ---- a JSON scanner that stops where the text does ------------------------ */

/* End of the string starting at p ('"'), or NULL when the text ends first. */
static const char *scan_string(const char *p, const char *end) {
    for (p++; p < end; p++) {
        if (*p == '\\') p++;
        else if (*p == '"') return p + 1;
    }
    return NULL;
}

/* End of the JSON value at p, or NULL when it is cut off. A bare scalar
 * ends at a delimiter (cut off when the text ends inside it). */
static const char *scan_value(const char *p, const char *end) {
    if (p >= end) return NULL;
    if (*p == '"') return scan_string(p, end);
    if (*p != '{' && *p != '[') {
        while (p < end && !strchr(",}] \n\r\t;", *p)) p++;
        return p < end ? p : NULL;
    }
    int depth = 0;
    for (; p < end; p++) {
        if (*p == '"') {
            if (!(p = scan_string(p, end))) return NULL;
            p--;
        } else if (*p == '{' || *p == '[') {
            depth++;
        } else if (*p == '}' || *p == ']') {
            if (--depth == 0) return p + 1;
        }
    }
    return NULL;
}

/* ---- calls ------------------------------------------------------------------ */

typedef struct tc_call {
    char *name;          /* NULL until known            */
    char *args;          /* the arguments so far        */
    size_t args_len;
    bool complete;
} tc_call;

typedef struct tc_parse {
    tc_call *c;
    size_t n, cap;
    size_t content_len;  /* text before the calls        */
    bool bad;            /* not calls after all: content */
    bool oom;
} tc_parse;

static tc_call *tc_add_call(tc_parse *ps) {
    if (!WF_ARRAY_RESERVE(ps->c, ps->cap, ps->n + 1)) {
        ps->oom = true;
        return NULL;
    }
    tc_call *c = &ps->c[ps->n++];
    memset(c, 0, sizeof *c);
    return c;
}

static void tc_parse_free(tc_parse *ps) {
    for (size_t i = 0; i < ps->n; i++) {
        free(ps->c[i].name);
        free(ps->c[i].args);
    }
    free(ps->c);
    memset(ps, 0, sizeof *ps);
}

static void tc_set_args(tc_parse *ps, tc_call *c, const char *s, size_t n) {
    free(c->args);
    c->args = wf_dup_bytes(s, n);
    c->args_len = n;
    if (!c->args) ps->oom = true;
}

/* The model's JSON text without the white space between tokens (as
 * OpenAI sends arguments). Removing it is local, so the compacted prefix of
 * a text is a prefix of the compacted text: deltas stay consistent. */
static void tc_set_json_args(tc_parse *ps, tc_call *c, const char *s, size_t n) {
    tc_set_args(ps, c, s, n);
    if (!c->args) return;
    size_t o = 0;
    bool in_str = false, esc = false;
    for (size_t i = 0; i < n; i++) {
        char ch = c->args[i];
        if (in_str) {
            if (esc) esc = false;
            else if (ch == '\\') esc = true;
            else if (ch == '"') in_str = false;
        } else if (ch == '"') {
            in_str = true;
        } else if (ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t') {
            continue;
        }
        c->args[o++] = ch;
    }
    c->args[o] = 0;
    c->args_len = o;
}

/* The text of a JSON string token [p, q) (NULL when it is not valid). */
static char *tc_string_value(const char *p, const char *q) {
    json_t *j = json_loadb(p, (size_t)(q - p), JSON_DECODE_ANY, NULL);
    char *s = json_is_string(j) ? strdup(json_string_value(j)) : NULL;
    json_decref(j);
    return s;
}

/* One JSON call object {"name": N, "arguments"|"parameters": {...}} at p.
 * Returns the end of the object (NULL: cut off or not a call: ps->bad). */
static const char *json_call(tc_parse *ps, const char *p, const char *end, bool final) {
    p = skip_ws(p, end);
    if (p >= end) return NULL;
    if (*p != '{') {
        ps->bad = true;
        return NULL;
    }
    tc_call *c = tc_add_call(ps);
    if (!c) return NULL;
    const char *args_at = NULL, *args_end = NULL;
    const char *q = p + 1;
    for (;;) {
        q = skip_ws(q, end);
        if (q >= end) break;
        if (*q == '}') {
            q++;
            c->complete = true;
            break;
        }
        if (*q == ',') {
            q++;
            continue;
        }
        if (*q != '"') {
            ps->bad = true;
            return NULL;
        }
        const char *k = q, *ke = scan_string(q, end);
        if (!ke) break;
        q = skip_ws(ke, end);
        if (q >= end) break;
        if (*q != ':') {
            ps->bad = true;
            return NULL;
        }
        q = skip_ws(q + 1, end);
        const char *v = q, *ve = scan_value(q, end);
        bool is_name = (size_t)(ke - k) == 6 && !memcmp(k, "\"name\"", 6);
        bool is_args = ((size_t)(ke - k) == 11 && !memcmp(k, "\"arguments\"", 11)) ||
                       ((size_t)(ke - k) == 12 && !memcmp(k, "\"parameters\"", 12));
        if (is_args && v < end) args_at = v, args_end = ve; /* (text cut right after the colon: not yet) */
        if (!ve) break;
        /* a repeated "name": the first one stays (a stream has announced it) */
        if (is_name && !c->name) {
            if (*v != '"' || !(c->name = tc_string_value(v, ve))) {
                ps->bad = true;
                return NULL;
            }
        }
        q = ve;
    }
    if (c->complete && !c->name) {
        ps->bad = true;
        return NULL;
    }
    /* the arguments: an object as the model wrote it (so far, once the name
     * is known); a string-encoded object once it is whole */
    if (args_at && *args_at == '{' && c->name) {
        const char *ae = args_end ? args_end : end;
        tc_set_json_args(ps, c, args_at, wf_api_utf8_complete(args_at, (size_t)(ae - args_at)));
    } else if (args_at && args_end && *args_at == '"') {
        char *s = tc_string_value(args_at, args_end);
        if (s) tc_set_args(ps, c, s, strlen(s));
        else ps->bad = true;
        free(s);
    } else if (c->complete && !args_at) {
        tc_set_args(ps, c, "{}", 2);
    }
    if (c->complete && args_at && !args_end) ps->bad = true;
    (void)final;
    return c->complete ? q : NULL;
}

/* JSON calls one after another at p (Llama: separated by ';'; Mistral: a
 * JSON array of them). Returns where the last whole call (or the array)
 * ends. */
static const char *json_calls(tc_parse *ps, const char *p, const char *end, bool final, bool array) {
    p = skip_ws(p, end);
    if (array && p < end && *p == '[') p++;
    while (!ps->bad && !ps->oom) {
        const char *s = skip_ws(p, end);
        if (s < end && (*s == ',' || *s == ';')) s = skip_ws(s + 1, end);
        if (s >= end) return p;
        if (*s == ']') return s + 1;
        const char *q = json_call(ps, s, end, final);
        if (!q) return p;
        p = q;
    }
    return p;
}

/* A Qwen3-Coder parameter value as JSON: itself when it is JSON (a number,
 * true, an object ...), else a string. malloc'd. */
static char *xml_value(const char *v, size_t n) {
    if (n && v[0] == '\n') v++, n--;
    if (n && v[n - 1] == '\n') n--;
    json_error_t je;
    json_t *j = json_loadb(v, n, JSON_DECODE_ANY, &je);
    if (!j) j = json_stringn(v, n);
    char *s = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(j);
    return s;
}

/* <function=N><parameter=P>value</parameter>...</function> at p; the
 * arguments grow one whole parameter at a time. */
static const char *xml_call(tc_parse *ps, const char *p, const char *end) {
    p = skip_ws(p, end);
    const char *ne = find(p, end, ">");
    if (!ne) return NULL;
    tc_call *c = tc_add_call(ps);
    if (!c || !(c->name = wf_dup_bytes(p + 10, (size_t)(ne - p - 10)))) {
        ps->oom = true;
        return NULL;
    }
    size_t cap = 64, len = 1;
    char *a = malloc(cap);
    if (!a) {
        ps->oom = true;
        return NULL;
    }
    a[0] = '{';
    const char *q = ne + 1;
    for (;;) {
        q = skip_ws(q, end);
        if (starts(q, end, "</function>")) {
            c->complete = true;
            q += 11;
            break;
        }
        if (!starts(q, end, "<parameter=")) {
            if ((size_t)(end - q) >= 11 && !starts(q, end, "</function")) ps->bad = true;
            break;
        }
        const char *pn = q + 11, *pe = find(pn, end, ">");
        const char *close = pe ? find(pe, end, "</parameter>") : NULL;
        if (!close) break;
        char *val = xml_value(pe + 1, (size_t)(close - pe - 1));
        json_t *key = json_stringn(pn, (size_t)(pe - pn));
        char *ks = key ? json_dumps(key, JSON_ENCODE_ANY) : NULL;
        json_decref(key);
        size_t need = len + (ks ? strlen(ks) : 0) + (val ? strlen(val) : 0) + 8;
        if (!val || !ks || (need > cap && !(a = realloc(a, cap = 2 * need)))) {
            free(val);
            free(ks);
            free(a);
            ps->oom = true;
            return NULL;
        }
        len += (size_t)sprintf(a + len, "%s%s:%s", len > 1 ? "," : "", ks, val);
        free(val);
        free(ks);
        q = close + 12;
    }
    if (c->complete) a[len++] = '}';
    c->args = a;
    c->args_len = len;
    return c->complete ? q : NULL;
}

/* Hermes-style blocks from p (the first <tool_call>). */
static void hermes_calls(tc_parse *ps, const char *p, const char *end, bool final) {
    while (p && !ps->bad && !ps->oom) {
        const char *body = skip_ws(p + strlen(HERMES), end);
        const char *q = starts(body, end, "<function=") ? xml_call(ps, body, end) : json_call(ps, body, end, final);
        if (!q) return;
        p = find(q, end, HERMES);
    }
}

/* DeepSeek: <｜tool▁call▁begin｜> ... <｜tool▁call▁end｜> blocks from p. */
static void deepseek_calls(tc_parse *ps, const char *p, const char *end) {
    while ((p = find(p, end, DS_CALL)) && !ps->bad && !ps->oom) {
        const char *h = p + strlen(DS_CALL), *sep = find(h, end, DS_SEP);
        if (!sep) return;
        const char *a = sep + strlen(DS_SEP), *name = h, *name_end = sep;
        if ((size_t)(sep - h) == 8 && !memcmp(h, "function", 8)) { /* V3: NAME\n```json\n{...}\n``` */
            const char *nl = find(a, end, "\n");
            if (!nl) return;
            name = a, name_end = nl;
            a = skip_ws(nl, end);
            if (starts(a, end, "```json")) a += 7;
            else if (starts(a, end, "```")) a += 3;
        }
        tc_call *c = tc_add_call(ps);
        if (!c || !(c->name = wf_dup_bytes(name, (size_t)(name_end - name)))) {
            ps->oom = true;
            return;
        }
        a = skip_ws(a, end);
        const char *ae = scan_value(a, end);
        if (a < end && *a != '{') {
            ps->bad = true;
            return;
        }
        tc_set_json_args(ps, c, a, wf_api_utf8_complete(a, (size_t)((ae ? ae : end) - a)));
        if (!ae) return;
        const char *ce = find(ae, end, DS_CALL_END);
        if (!ce) return;
        c->complete = true;
        p = ce + strlen(DS_CALL_END);
    }
}

/* The first call marker in text[0..n), and which (or -1). */
static const char *first_marker(const char *text, size_t n, int *which) {
    const char *best = NULL;
    *which = -1;
    for (size_t k = 0; k < N_MARKERS; k++) {
        const char *f = find(text, text + n, MARKERS[k]);
        if (f && (!best || f < best)) best = f, *which = (int)k;
    }
    return best;
}

/* Parse text[0..n), finished or not. */
static void tc_parse_text(const char *text, size_t n, bool final, tc_parse *ps) {
    memset(ps, 0, sizeof *ps);
    const char *end = text + n;
    int which;
    const char *m = first_marker(text, n, &which);
    const char *lead = skip_ws(text, end);
    if (!m && lead < end && *lead == '{') { /* Llama 3.x: the whole answer is a JSON tc_call */
        ps->content_len = 0;
        const char *after = json_calls(ps, lead, end, final, false);
        if (final && (ps->n == 0 || skip_ws(after, end) != end)) ps->bad = true; /* text after it: not a tc_call */
        return;
    }
    if (!m) {
        ps->content_len = n;
        return;
    }
    ps->content_len = (size_t)(m - text);
    if (which == 0) hermes_calls(ps, m, end, final);
    else if (which == 1) json_calls(ps, m + strlen(MISTRAL), end, final, true);
    else if (which == 2) json_calls(ps, m + strlen(PYTAG), end, final, false);
    else deepseek_calls(ps, m, end);
    (void)DS_END;
    (void)HERMES_END;
}

/* ---- the API ------------------------------------------------------------------ */

size_t wf_api_tool_safe_len(const char *text, size_t n) {
    int which;
    const char *m = first_marker(text, n, &which);
    if (m) return (size_t)(m - text);
    const char *lead = skip_ws(text, text + n);
    if (lead == text + n || *lead == '{') return 0; /* may still be a Llama JSON tc_call */
    size_t hold = 0; /* a tail that may still become a marker */
    for (size_t k = 0; k < N_MARKERS; k++) {
        size_t len = strlen(MARKERS[k]);
        for (size_t l = len - 1; l > hold; l--)
            if (l <= n && !memcmp(text + n - l, MARKERS[k], l)) {
                hold = l;
                break;
            }
    }
    return n - hold;
}

/* Text a JSON string can hold: valid UTF-8 without NUL. */
static bool text_ok(const char *s, size_t n) {
    if (memchr(s, 0, n)) return false;
    json_t *j = json_stringn(s, n);
    json_decref(j);
    return j != NULL;
}

int wf_api_tool_calls_partial(const char *text, size_t n, bool final, wf_api_tool_call_part *out, int max, size_t *content_len) {
    tc_parse ps;
    tc_parse_text(text, n, final, &ps);
    if (ps.oom) {
        tc_parse_free(&ps);
        return -1;
    }
    int k = 0;
    *content_len = ps.content_len;
    if (ps.bad || (final && (ps.n == 0 || !ps.c[ps.n - 1].complete))) {
        if (final || ps.bad) *content_len = n;
        tc_parse_free(&ps);
        return 0;
    }
    for (size_t i = 0; i < ps.n && k < max; i++) {
        if (!ps.c[i].name) break;
        if (!text_ok(ps.c[i].name, strlen(ps.c[i].name)) || (ps.c[i].args && !text_ok(ps.c[i].args, ps.c[i].args_len))) {
            if (final) *content_len = n; /* NUL or invalid UTF-8: not a call */
            wf_api_tool_parts_free(out, k);
            tc_parse_free(&ps);
            return 0;
        }
        out[k].name = ps.c[i].name;
        out[k].args = ps.c[i].args ? ps.c[i].args : strdup("");
        out[k].args_len = ps.c[i].args ? ps.c[i].args_len : 0;
        out[k].complete = ps.c[i].complete;
        ps.c[i].name = ps.c[i].args = NULL;
        if (!out[k].args) {
            free(out[k].name);
            tc_parse_free(&ps);
            wf_api_tool_parts_free(out, k);
            return -1;
        }
        k++;
    }
    tc_parse_free(&ps);
    return k;
}

void wf_api_tool_parts_free(wf_api_tool_call_part *p, int n) {
    for (int i = 0; i < n; i++) {
        free(p[i].name);
        free(p[i].args);
    }
}

int wf_api_tool_calls(const char *text, size_t n, const char *id_prefix, char **calls_json, size_t *content_len) {
    *calls_json = NULL;
    *content_len = n;
    enum { MAX_CALLS = 64 };
    wf_api_tool_call_part parts[MAX_CALLS];
    size_t cl = n;
    int k = wf_api_tool_calls_partial(text, n, true, parts, MAX_CALLS, &cl);
    if (k <= 0) return k;
    json_t *calls = json_array();
    for (int i = 0; calls && i < k; i++) {
        char id[96];
        snprintf(id, sizeof id, "call_%s_%d", id_prefix ? id_prefix : "x", i);
        json_t *o = json_pack("{s:s, s:s, s:{s:s, s:s%}}", "id", id, "type", "function", "function", "name", parts[i].name,
                              "arguments", parts[i].args, parts[i].args_len);
        if (!o || json_array_append_new(calls, o)) {
            json_decref(calls);
            calls = NULL;
        }
    }
    wf_api_tool_parts_free(parts, k);
    if (!calls) return -1;
    *calls_json = json_dumps(calls, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(calls);
    if (!*calls_json) return -1;
    while (cl > 0 && (text[cl - 1] == ' ' || text[cl - 1] == '\n' || text[cl - 1] == '\r' || text[cl - 1] == '\t')) cl--;
    *content_len = cl;
    return k;
}
