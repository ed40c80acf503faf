/* messages.c — conversation -> prompt tokens (messages.h): message lists,
 * the one place text parts are joined, and the one rule for special-token
 * text in a rendered prompt. */
#define _GNU_SOURCE /* memmem */
#include "chat/messages.h"
#include "base/buf.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

wf_status wf_chat_list_push(wf_chat_list *l, const char *role, const char *content, size_t len,
                            const char *fields_json, wf_error *err) {
    if (l->n == l->cap && !WF_ARRAY_RESERVE(l->m, l->cap, l->n + 1))
        return wf_fail(err, WF_ERR_NOMEM, "messages: out of memory");
    wf_chat_message m = {0};
    m.role = role ? strdup(role) : NULL;
    m.content = content ? wf_dup_bytes(content, len) : NULL;
    m.content_len = content ? len : 0;
    m.fields_json = fields_json ? strdup(fields_json) : NULL;
    if ((role && !m.role) || (content && !m.content) || (fields_json && !m.fields_json)) {
        wf_chat_message_clear(&m);
        return wf_fail(err, WF_ERR_NOMEM, "messages: out of memory");
    }
    l->m[l->n++] = m;
    return WF_OK;
}

void wf_chat_message_clear(wf_chat_message *m) {
    free((char *)m->role);
    free((char *)m->content);
    free((char *)m->fields_json);
    memset(m, 0, sizeof *m);
}

void wf_chat_list_pop(wf_chat_list *l) {
    if (l->n) wf_chat_message_clear(&l->m[--l->n]);
}

void wf_chat_list_free(wf_chat_list *l) {
    while (l->n) wf_chat_list_pop(l);
    free(l->m);
    memset(l, 0, sizeof *l);
}

static bool type_ok(const char *t, const char *const *types) {
    static const char *const text_only[] = {"text", NULL};
    for (const char *const *p = types ? types : text_only; *p; p++)
        if (!strcmp(t, *p)) return true;
    return false;
}

wf_status wf_chat_content_join(const json_t *content, const char *const *types, char **out, size_t *len,
                               size_t *bad_part, wf_error *err) {
    *out = NULL;
    *len = 0;
    if (bad_part) *bad_part = SIZE_MAX;
    if (json_is_string(content)) {
        if (!(*out = wf_dup_bytes(json_string_value(content), json_string_length(content))))
            return wf_fail(err, WF_ERR_NOMEM, "messages: out of memory");
        *len = json_string_length(content);
        return WF_OK;
    }
    if (!json_is_array(content)) return wf_fail(err, WF_ERR_FORMAT, "content: expected a string or an array of text parts");
    size_t i, total = 0;
    json_t *p;
    json_array_foreach(content, i, p) {
        json_t *type = json_object_get(p, "type"), *text = json_object_get(p, "text");
        if (!json_is_object(p) || !json_is_string(type)) {
            if (bad_part) *bad_part = i;
            return wf_fail(err, WF_ERR_FORMAT, "content[%zu]: expected a content part object with a 'type'", i);
        }
        if (!type_ok(json_string_value(type), types)) {
            if (bad_part) *bad_part = i;
            return wf_fail(err, WF_ERR_UNSUPPORTED, "content[%zu]: parts of type '%.40s' are not supported (text only)", i,
                           json_string_value(type));
        }
        if (!json_is_string(text)) {
            if (bad_part) *bad_part = i;
            return wf_fail(err, WF_ERR_FORMAT, "content[%zu].text: expected a string", i);
        }
        total += json_string_length(text);
    }
    char *s = malloc(total + 1);
    if (!s) return wf_fail(err, WF_ERR_NOMEM, "messages: out of memory");
    size_t o = 0;
    json_array_foreach(content, i, p) {
        json_t *text = json_object_get(p, "text");
        memcpy(s + o, json_string_value(text), json_string_length(text));
        o += json_string_length(text);
    }
    s[o] = 0;
    *out = s;
    *len = o;
    return WF_OK;
}

wf_status wf_chat_message_from_json(const json_t *msg, wf_chat_message *out, wf_error *err) {
    memset(out, 0, sizeof *out);
    if (!json_is_object(msg)) return wf_fail(err, WF_ERR_FORMAT, "expected a message object");
    json_t *role = json_object_get(msg, "role"), *content = json_object_get(msg, "content");
    if (json_is_string(role) && !(out->role = strdup(json_string_value(role))))
        return wf_fail(err, WF_ERR_NOMEM, "messages: out of memory");
    bool joined = json_is_string(content) || json_is_array(content);
    if (joined) {
        wf_status st = wf_chat_content_join(content, NULL, (char **)&out->content, &out->content_len, NULL, err);
        if (st) {
            wf_chat_message_clear(out);
            return st;
        }
    }
    /* the other members (tool_calls, name, tool_call_id ...; a null content)
     * reach the template as they are, in their order; role and content come
     * from the struct, which the caller may have normalised */
    bool others = (content && !joined) || (role && !json_is_string(role));
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)msg, key, v) others |= strcmp(key, "role") != 0 && strcmp(key, "content") != 0;
    if (!others) return WF_OK;
    json_t *copy = json_copy((json_t *)msg);
    if (copy && joined) json_object_set_new(copy, "content", json_stringn(out->content, out->content_len));
    out->fields_json = copy ? json_dumps(copy, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(copy);
    if (!out->fields_json) {
        wf_chat_message_clear(out);
        return wf_fail(err, WF_ERR_NOMEM, "messages: out of memory");
    }
    return WF_OK;
}

/* ---- tokens -------------------------------------------------------------- */

typedef struct tokv {
    int32_t *p;
    size_t n, cap;
} tokv;

static wf_status tokv_add(tokv *t, const int32_t *ids, size_t n, wf_error *err) {
    if (!WF_ARRAY_APPEND(t->p, t->n, t->cap, ids, n)) return wf_fail(err, WF_ERR_NOMEM, "out of memory");
    return WF_OK;
}

/* Tokenize s[0..n) (special-token text parsed or not) and append. */
static wf_status add_piece(const wf_vocab *v, tokv *t, const char *s, size_t n, bool special, wf_error *err) {
    if (n == 0) return WF_OK;
    int32_t *ids = NULL;
    size_t k = 0;
    wf_status st = special ? wf_tokenize(v, s, n, false, true, &ids, &k, err)
                           : wf_tokenize_text(v, s, n, false, NULL, 0, &ids, &k, err);
    if (!st) st = tokv_add(t, ids, k, err);
    free(ids);
    return st;
}

/* Would text tokenize to a control token with special text parsed? */
static wf_status has_control_text(const wf_vocab *v, const char *text, size_t len, bool *hostile, wf_error *err) {
    *hostile = false;
    if (len == 0) return WF_OK;
    int32_t *ids = NULL;
    size_t n = 0;
    wf_status st = wf_tokenize(v, text, len, false, true, &ids, &n, err);
    for (size_t i = 0; !st && i < n && !*hostile; i++) *hostile = wf_vocab_is_control(v, ids[i]);
    free(ids);
    return st;
}

/* text[a..b) clipped to [from, len) and appended. */
static wf_status add_span(const wf_vocab *v, tokv *t, const char *text, size_t a, size_t b, size_t from, bool special,
                          wf_error *err) {
    if (a < from) a = from;
    return b > a ? add_piece(v, t, text + a, b - a, special, err) : WF_OK;
}

wf_status wf_chat_tokenize(const wf_vocab *v, const char *text, size_t len, size_t from,
                           const wf_chat_message *msgs, size_t n, int32_t **ids, size_t *n_ids,
                           size_t *bad_msg, wf_error *err) {
    *ids = NULL;
    *n_ids = 0;
    if (bad_msg) *bad_msg = SIZE_MAX;
    if (from > len) from = len;
    bool *hostile = calloc(n + 1, sizeof *hostile);
    if (!hostile) return wf_fail(err, WF_ERR_NOMEM, "out of memory");
    bool any = false;
    wf_status st = WF_OK;
    for (size_t i = 0; !st && i < n; i++) {
        if (msgs[i].content) st = has_control_text(v, msgs[i].content, msgs[i].content_len, &hostile[i], err);
        any |= hostile[i];
    }
    tokv t = {0};
    size_t pos = 0;
    /* Without hostile content the whole text is the template's; otherwise
     * each message's content is found in order and tokenized as plain text,
     * the rest with special tokens. */
    for (size_t i = 0; any && !st && i < n; i++) {
        const wf_chat_message *m = &msgs[i];
        if (!m->content || m->content_len == 0) continue;
        const char *f = m->content_len <= len - pos ? memmem(text + pos, len - pos, m->content, m->content_len) : NULL;
        if (!f) {
            if (hostile[i]) {
                if (bad_msg) *bad_msg = i;
                st = wf_fail(err, WF_ERR_INVALID_ARG,
                             "messages[%zu]: the content contains special-token text and the chat template does not "
                             "render it verbatim, so it cannot be kept apart from the template's own tokens.", i);
            }
            continue;
        }
        size_t off = (size_t)(f - text);
        st = add_span(v, &t, text, pos, off, from, true, err);
        if (!st) st = add_span(v, &t, text, off, off + m->content_len, from, false, err);
        pos = off + m->content_len;
    }
    if (!st) st = add_span(v, &t, text, pos, len, from, true, err);
    free(hostile);
    if (!st && !t.p && !(t.p = malloc(sizeof *t.p))) st = wf_fail(err, WF_ERR_NOMEM, "out of memory");
    if (st) {
        free(t.p);
        return st;
    }
    *ids = t.p;
    *n_ids = t.n;
    return WF_OK;
}

wf_status wf_chat_prompt(const wf_template *t, const wf_vocab *v, const wf_chat_message *msgs, size_t n,
                         const wf_template_opts *o, char **text, size_t *text_len, int32_t **ids,
                         size_t *n_ids, size_t *bad_msg, wf_error *err) {
    char *r = NULL;
    size_t rn = 0;
    if (text) *text = NULL;
    if (text_len) *text_len = 0;
    wf_status st = wf_template_render(t, msgs, n, o, &r, &rn, err);
    if (st) return st;
    st = wf_chat_tokenize(v, r, rn, 0, msgs, n, ids, n_ids, bad_msg, err);
    if (st || !text) {
        free(r);
        return st;
    }
    *text = r;
    if (text_len) *text_len = rn;
    return WF_OK;
}
