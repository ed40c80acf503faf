/* responses.c — the server side of POST /v1/responses: the response store
 * (kept responses for previous_response_id and GET / DELETE, bounded by a
 * count and by bytes, least recently used first out), a request's
 * conversation completed from the response it follows, the response object
 * and the stream's events as the generation goes, and the
 * /v1/responses/{id} routes.
 *
 * A stored response keeps its conversation as chat messages (input items
 * without the instructions, which OpenAI does not carry over, then the
 * answer), so a follow-up renders the same text again and the prefix cache
 * finds its tokens: only the new items are computed. */
#include "serve/responses.h"

#include "base/buf.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the store ------------------------------------------------------------ */

typedef struct rs_entry rs_entry;
struct rs_entry {
    rs_entry *prev, *next;   /* most recently used first */
    char id[48];
    char *json;              /* the response object      */
    wf_chat_list conv;       /* its conversation         */
    size_t bytes;
};

struct srv_rstore {
    pthread_mutex_t mu;
    rs_entry *head, *tail;
    size_t n, bytes, max_n, max_bytes;
};

srv_rstore *srv_rstore_new(size_t max_n, size_t max_bytes) {
    srv_rstore *st = calloc(1, sizeof *st);
    if (!st) return NULL;
    if (pthread_mutex_init(&st->mu, NULL)) {
        free(st);
        return NULL;
    }
    st->max_n = max_n;
    st->max_bytes = max_bytes;
    return st;
}

static void entry_free(rs_entry *e) {
    free(e->json);
    wf_chat_list_free(&e->conv);
    free(e);
}

static void unlink_entry(srv_rstore *st, rs_entry *e) {
    if (e->prev) e->prev->next = e->next;
    else st->head = e->next;
    if (e->next) e->next->prev = e->prev;
    else st->tail = e->prev;
    e->prev = e->next = NULL;
    st->n--;
    st->bytes -= e->bytes;
}

static void push_front(srv_rstore *st, rs_entry *e) {
    e->prev = NULL;
    e->next = st->head;
    if (st->head) st->head->prev = e;
    st->head = e;
    if (!st->tail) st->tail = e;
    st->n++;
    st->bytes += e->bytes;
}

static rs_entry *find(srv_rstore *st, const char *id) {
    for (rs_entry *e = st->head; e; e = e->next)
        if (!strcmp(e->id, id)) return e;
    return NULL;
}

void srv_rstore_free(srv_rstore *st) {
    if (!st) return;
    while (st->head) {
        rs_entry *e = st->head;
        unlink_entry(st, e);
        entry_free(e);
    }
    pthread_mutex_destroy(&st->mu);
    free(st);
}

void srv_rstore_stats(srv_rstore *st, size_t *n, size_t *bytes) {
    pthread_mutex_lock(&st->mu);
    *n = st->n;
    *bytes = st->bytes;
    pthread_mutex_unlock(&st->mu);
}

/* Keep json and conv (taken in every case) under id. false when the store
 * is off or the response alone is larger than the store. */
static bool rstore_put(srv_rstore *st, const char *id, char *json, wf_chat_list *conv) {
    size_t bytes = sizeof(rs_entry) + strlen(json) + 1;
    for (size_t i = 0; i < conv->n; i++)
        bytes += sizeof(wf_chat_message) + conv->m[i].content_len + 1 + (conv->m[i].role ? strlen(conv->m[i].role) + 1 : 0) +
                 (conv->m[i].fields_json ? strlen(conv->m[i].fields_json) + 1 : 0);
    rs_entry *e = st && st->max_n && bytes <= st->max_bytes ? calloc(1, sizeof *e) : NULL;
    if (!e) {
        free(json);
        wf_chat_list_free(conv);
        return false;
    }
    snprintf(e->id, sizeof e->id, "%s", id);
    e->json = json;
    e->conv = *conv;
    memset(conv, 0, sizeof *conv);
    e->bytes = bytes;
    pthread_mutex_lock(&st->mu);
    rs_entry *old = find(st, id);
    if (old) {
        unlink_entry(st, old);
        entry_free(old);
    }
    while (st->tail && (st->n + 1 > st->max_n || st->bytes + bytes > st->max_bytes)) {
        rs_entry *lru = st->tail;
        unlink_entry(st, lru);
        entry_free(lru);
    }
    push_front(st, e);
    pthread_mutex_unlock(&st->mu);
    return true;
}

/* A copy of the stored object's JSON (NULL: unknown id or out of memory). */
static char *rstore_get_json(srv_rstore *st, const char *id) {
    if (!st) return NULL;
    pthread_mutex_lock(&st->mu);
    rs_entry *e = find(st, id);
    char *j = e ? strdup(e->json) : NULL;
    if (e) {
        unlink_entry(st, e);
        push_front(st, e);
    }
    pthread_mutex_unlock(&st->mu);
    return j;
}

/* Append a copy of the stored conversation to out: 1 found, 0 unknown,
 * -1 out of memory. */
static int rstore_get_conv(srv_rstore *st, const char *id, wf_chat_list *out) {
    if (!st) return 0;
    int rc = 0;
    pthread_mutex_lock(&st->mu);
    rs_entry *e = find(st, id);
    if (e) {
        rc = 1;
        wf_error err;
        for (size_t i = 0; rc == 1 && i < e->conv.n; i++) {
            const wf_chat_message *m = &e->conv.m[i];
            if (wf_chat_list_push(out, m->role, m->content, m->content_len, m->fields_json, &err)) rc = -1;
        }
        unlink_entry(st, e);
        push_front(st, e);
    }
    pthread_mutex_unlock(&st->mu);
    return rc;
}

static bool rstore_delete(srv_rstore *st, const char *id) {
    if (!st) return false;
    pthread_mutex_lock(&st->mu);
    rs_entry *e = find(st, id);
    if (e) {
        unlink_entry(st, e);
        entry_free(e);
    }
    pthread_mutex_unlock(&st->mu);
    return e != NULL;
}

/* ---- a request ------------------------------------------------------------ */

#define STREAM_CALLS 64

struct srv_resp {
    uint64_t seq;            /* next sequence_number                      */
    bool msg_open;           /* the message item was announced            */
    bool msg_closed;         /* ... and closed (a call came after it)      */
    size_t sent;             /* text bytes sent as deltas                 */
    char msg_id[64];
    int n_calls;             /* function_call items announced             */
    size_t args_sent[STREAM_CALLS];
    bool call_done[STREAM_CALLS];
    int call_index[STREAM_CALLS]; /* their output_index                    */
    int n_items;             /* output items announced                    */
    int msg_index;           /* the message's output_index                */
    bool rs_open, rs_closed; /* harmony: the reasoning item               */
    size_t rs_sent;          /* ... its text bytes sent                   */
    int rs_index;
    char rs_id[64];
};

void srv_resp_free(srv_resp *x) { free(x); }

bool srv_responses_prepare(wf_server *s, srv_req *r, wf_api_error *e) {
    wf_api_request *a = &r->api;
    if (!(r->resp = calloc(1, sizeof *r->resp))) return wf_api_fail(e, 500, "server_error", NULL, NULL, "out of memory");
    const char *suffix = strchr(r->id, '_') ? strchr(r->id, '_') + 1 : r->id;
    snprintf(r->resp->msg_id, sizeof r->resp->msg_id, "msg_%s", suffix);
    snprintf(r->resp->rs_id, sizeof r->resp->rs_id, "rs_%s", suffix);
    if (a->previous_response_id) {
        wf_chat_list conv = {0};
        int rc = rstore_get_conv(s->rstore, a->previous_response_id, &conv);
        if (rc <= 0) {
            wf_chat_list_free(&conv);
            if (rc < 0) return wf_api_fail(e, 500, "server_error", NULL, NULL, "out of memory");
            return wf_api_fail(e, 400, "invalid_request_error", "previous_response_id", "previous_response_not_found",
                               "Previous response with id '%.64s' not found (it was never stored, was deleted, or the store "
                               "(--responses-max / --responses-mb) dropped it).",
                               a->previous_response_id);
        }
        wf_error err;
        for (size_t i = 0; i < a->msgs.n; i++) {
            const wf_chat_message *m = &a->msgs.m[i];
            if (wf_chat_list_push(&conv, m->role, m->content, m->content_len, m->fields_json, &err)) {
                wf_chat_list_free(&conv);
                return wf_api_fail(e, 500, "server_error", NULL, NULL, "out of memory");
            }
        }
        wf_chat_list_free(&a->msgs);
        a->msgs = conv;
    }
    if (a->msgs.n == 0 && !a->instructions)
        return wf_api_fail(e, 400, "invalid_request_error", "input", "empty_input", "Invalid 'input': there is nothing to answer.");
    return true;
}

/* What the answer shows: its text (content), reasoning and calls. */
typedef struct answer {
    const char *text;        /* content (r->text, or the harmony content)  */
    size_t text_len;
    const char *reasoning;   /* harmony models' analysis channel, or NULL  */
    size_t reasoning_len;
    char *calls;             /* JSON array of chat tool_calls, or NULL      */
    wf_api_harmony h;        /* harmony: owns text and reasoning            */
    bool harmony;
} answer;

static void answer_free(answer *a) {
    free(a->calls);
    if (a->harmony) wf_api_harmony_free(&a->h);
    memset(a, 0, sizeof *a);
}

/* parallel_tool_calls false: only the first call. */
static void first_call_only(char **calls_json) {
    json_t *c = json_loads(*calls_json, 0, NULL);
    while (json_array_size(c) > 1) json_array_remove(c, json_array_size(c) - 1);
    char *one = c ? json_dumps(c, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(c);
    if (one) {
        free(*calls_json);
        *calls_json = one;
    }
}

/* The answer's parts; false when out of memory. */
static bool answer_of(const wf_server *s, const srv_req *r, answer *a) {
    memset(a, 0, sizeof *a);
    a->text = r->text;
    a->text_len = r->n_text;
    if (s->harmony) {
        if (!srv_harmony_view(s, r, &a->h)) return false;
        a->harmony = true;
        a->text = a->h.content;
        a->text_len = a->h.content_len;
        a->reasoning = a->h.reasoning;
        a->reasoning_len = a->h.reasoning_len;
        a->calls = a->h.calls_json;
        a->h.calls_json = NULL;
    } else if (!r->api.tools || wf_api_tool_calls(r->text, r->n_text, r->id, &a->calls, &a->text_len) <= 0) {
        free(a->calls);
        a->calls = NULL;
        a->text_len = r->n_text;
    }
    if (a->calls && !r->api.parallel_tool_calls) first_call_only(&a->calls);
    return true;
}

static const char *status_of(const srv_req *r, const char **incomplete) {
    *incomplete = NULL;
    if (r->st != WF_OK) return "failed";
    if (r->cancel_explicit) return "cancelled";
    const char *f = srv_finish_reason(r);
    if (f && !strcmp(f, "length")) {
        *incomplete = "max_output_tokens";
        return "incomplete";
    }
    return r->cancel ? "cancelled" : "completed";
}

static void view_of(wf_server *s, const srv_req *r, wf_api_resp_view *v, const answer *a) {
    memset(v, 0, sizeof *v);
    v->id = r->id;
    v->model = r->api.model && *r->api.model ? r->api.model : s->model_name;
    v->created = r->created;
    v->status = r->state == SRV_DONE ? status_of(r, &v->incomplete) : "in_progress";
    v->error = r->st != WF_OK ? r->errmsg : NULL;
    v->text = a ? a->text : r->text;
    v->text_len = a ? a->text_len : 0;
    v->reasoning = a ? a->reasoning : NULL;
    v->reasoning_len = a ? a->reasoning_len : 0;
    v->calls_json = a ? a->calls : NULL;
    v->echo_json = r->api.echo_json;
    v->previous_response_id = r->api.previous_response_id;
    v->with_output = r->state == SRV_DONE;
    v->prediction = r->api.prediction != NULL;
    srv_fill_usage(r, &v->usage);
}

/* Keep a finished response (object + conversation) when it asked to be. */
static void store_response(wf_server *s, const srv_req *r, json_t *obj, const answer *a) {
    const char *calls = a->calls, *text = a->text ? a->text : "";
    size_t text_len = a->text_len;
    if (!r->api.store || !s->rstore || r->st != WF_OK) return;
    char *json = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    wf_chat_list conv = {0};
    wf_error err;
    bool ok = json != NULL;
    for (size_t i = 0; ok && i < r->api.msgs.n; i++) {
        const wf_chat_message *m = &r->api.msgs.m[i];
        ok = !wf_chat_list_push(&conv, m->role, m->content, m->content_len, m->fields_json, &err);
    }
    char *fields = NULL;
    if (ok && calls) { /* the assistant turn as chat templates take it */
        json_t *tc = json_loads(calls, 0, NULL), *c;
        size_t i;
        json_array_foreach(tc, i, c) {
            json_t *f = json_object_get(c, "function"), *a = json_object_get(f, "arguments");
            json_t *parsed = json_is_string(a) ? json_loads(json_string_value(a), JSON_DECODE_ANY, NULL) : NULL;
            if (json_is_object(parsed)) json_object_set_new(f, "arguments", parsed);
            else json_decref(parsed);
        }
        json_t *m = tc ? json_pack("{s:s, s:s%, s:O}", "role", "assistant", "content", text, text_len, "tool_calls", tc) : NULL;
        /* a harmony model's reasoning before its call: its template shows it
         * again while the call's turn goes on (the rendered text then matches
         * the cached tokens further); as `thinking` too (gpt-oss's own
         * template's field, which it refuses next to content) */
        if (m && a->reasoning && a->reasoning_len) {
            json_object_set_new(m, "reasoning_content", json_stringn(a->reasoning, a->reasoning_len));
            if (!text_len) json_object_set_new(m, "thinking", json_stringn(a->reasoning, a->reasoning_len));
        }
        fields = m ? json_dumps(m, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        json_decref(m);
        json_decref(tc);
        ok = fields != NULL;
    }
    if (ok) ok = !wf_chat_list_push(&conv, "assistant", text, text_len, fields, &err);
    free(fields);
    if (!ok) {
        free(json);
        wf_chat_list_free(&conv);
        return;
    }
    rstore_put(s->rstore, r->id, json, &conv);
}

char *srv_responses_final(wf_server *s, srv_req *r) {
    answer a;
    if (!answer_of(s, r, &a)) return NULL;
    wf_api_resp_view v;
    view_of(s, r, &v, &a);
    json_t *o = wf_api_resp_object(&v);
    char *t = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    if (o) store_response(s, r, o, &a);
    json_decref(o);
    answer_free(&a);
    return t;
}

/* ---- the stream ----------------------------------------------------------- */

/* Append one SSE event; after a failure (failed set) the rest is skipped. */
static void sb_event(wf_buf *b, srv_req *r, const char *type, json_t *payload) {
    char *ev = b->failed ? (json_decref(payload), NULL) : wf_api_resp_event(type, payload, &r->resp->seq);
    if (!ev || !wf_buf_str(b, ev)) b->failed = true;
    free(ev);
}

static char *sb_done(wf_buf *b) {
    if (!b->failed) return b->p;
    free(b->p);
    return NULL;
}

static json_t *resp_snapshot(wf_server *s, srv_req *r) {
    wf_api_resp_view v;
    view_of(s, r, &v, NULL);
    v.status = "in_progress";
    v.incomplete = v.error = NULL;
    v.with_output = false;
    return wf_api_resp_object(&v);
}

char *srv_responses_stream_begin(wf_server *s, srv_req *r) {
    wf_buf b = {0};
    sb_event(&b, r, "response.created", json_pack("{s:o}", "response", resp_snapshot(s, r)));
    sb_event(&b, r, "response.in_progress", json_pack("{s:o}", "response", resp_snapshot(s, r)));
    return sb_done(&b);
}

static json_t *msg_item(srv_req *r, const char *status, const char *text, size_t n, bool with_part) {
    json_t *content = json_array();
    if (with_part)
        json_array_append_new(content, json_pack("{s:s, s:s%, s:[], s:[]}", "type", "output_text", "text", text, n,
                                                 "annotations", "logprobs"));
    return json_pack("{s:s, s:s, s:s, s:s, s:o}", "id", r->resp->msg_id, "type", "message", "status", status, "role",
                     "assistant", "content", content);
}

static void open_message(wf_buf *b, srv_req *r) {
    srv_resp *x = r->resp;
    if (x->msg_open) return;
    x->msg_open = true;
    x->msg_index = x->n_items++;
    sb_event(b, r, "response.output_item.added",
             json_pack("{s:i, s:o}", "output_index", x->msg_index, "item", msg_item(r, "in_progress", "", 0, false)));
    sb_event(b, r, "response.content_part.added",
             json_pack("{s:s, s:i, s:i, s:{s:s, s:s, s:[], s:[]}}", "item_id", x->msg_id, "output_index", x->msg_index,
                       "content_index", 0, "part", "type", "output_text", "text", "", "annotations", "logprobs"));
}

static void text_delta(wf_buf *b, srv_req *r, const char *t, size_t n) {
    if (!n) return;
    open_message(b, r);
    sb_event(b, r, "response.output_text.delta",
             json_pack("{s:s, s:i, s:i, s:s%, s:[]}", "item_id", r->resp->msg_id, "output_index", r->resp->msg_index,
                       "content_index", 0, "delta", t, n, "logprobs"));
    r->resp->sent += n;
}

char *srv_responses_stream_text(wf_server *s, srv_req *r, const char *t, size_t n) {
    (void)s;
    wf_buf b = {0};
    text_delta(&b, r, t, n);
    return sb_done(&b);
}

/* The message item's closing events (its text: what was sent of t). */
static void close_message(wf_buf *b, srv_req *r, const char *t) {
    srv_resp *x = r->resp;
    if (!x->msg_open || x->msg_closed) return;
    x->msg_closed = true;
    if (!t) t = "";
    size_t n = x->sent;
    const int oi = x->msg_index;
    sb_event(b, r, "response.output_text.done",
             json_pack("{s:s, s:i, s:i, s:s%, s:[]}", "item_id", x->msg_id, "output_index", oi, "content_index", 0, "text", t, n,
                       "logprobs"));
    sb_event(b, r, "response.content_part.done",
             json_pack("{s:s, s:i, s:i, s:{s:s, s:s%, s:[], s:[]}}", "item_id", x->msg_id, "output_index", oi, "content_index", 0,
                       "part", "type", "output_text", "text", t, n, "annotations", "logprobs"));
    sb_event(b, r, "response.output_item.done", json_pack("{s:i, s:o}", "output_index", oi, "item", msg_item(r, "completed", t, n, true)));
}

/* Function call items for the calls parsed so far: announced once, then
 * argument deltas, then done when the call is whole. */
static void emit_calls(wf_buf *b, srv_req *r, const wf_api_tool_call_part *p, int k, const char *text) {
    srv_resp *x = r->resp;
    const char *suffix = strchr(r->id, '_') ? strchr(r->id, '_') + 1 : r->id;
    for (int i = 0; i < k && i < STREAM_CALLS; i++) {
        char id[96], call_id[96];
        snprintf(id, sizeof id, "fc_%s_%d", suffix, i);
        snprintf(call_id, sizeof call_id, "call_%s_%d", r->id, i);
        if (i >= x->n_calls) {
            close_message(b, r, text);
            x->call_index[i] = x->n_items++;
            sb_event(b, r, "response.output_item.added",
                     json_pack("{s:i, s:{s:s, s:s, s:s, s:s, s:s, s:s}}", "output_index", x->call_index[i], "item", "id", id, "type",
                               "function_call", "status", "in_progress", "call_id", call_id, "name", p[i].name, "arguments", ""));
            x->n_calls = i + 1;
        }
        if (p[i].args_len > x->args_sent[i]) {
            sb_event(b, r, "response.function_call_arguments.delta",
                     json_pack("{s:s, s:i, s:s%}", "item_id", id, "output_index", x->call_index[i], "delta", p[i].args + x->args_sent[i],
                               p[i].args_len - x->args_sent[i]));
            x->args_sent[i] = p[i].args_len;
        }
        if (p[i].complete && !x->call_done[i]) {
            x->call_done[i] = true;
            sb_event(b, r, "response.function_call_arguments.done",
                     json_pack("{s:s, s:i, s:s, s:s%}", "item_id", id, "output_index", x->call_index[i], "name", p[i].name, "arguments",
                               p[i].args, p[i].args_len));
            sb_event(b, r, "response.output_item.done",
                     json_pack("{s:i, s:{s:s, s:s, s:s, s:s, s:s, s:s%}}", "output_index", x->call_index[i], "item", "id", id, "type",
                               "function_call", "status", "completed", "call_id", call_id, "name", p[i].name, "arguments",
                               p[i].args, p[i].args_len));
        }
    }
}

/* ---- a harmony model's stream: reasoning item, message, calls ----------- */

static json_t *rs_item(srv_req *r, const char *status, const char *t, size_t n, bool with_part) {
    json_t *content = json_array();
    if (with_part) json_array_append_new(content, json_pack("{s:s, s:s%}", "type", "reasoning_text", "text", t, n));
    return json_pack("{s:s, s:s, s:[], s:o, s:s}", "id", r->resp->rs_id, "type", "reasoning", "summary", "content", content,
                     "status", status);
}

static void open_reasoning(wf_buf *b, srv_req *r) {
    srv_resp *x = r->resp;
    if (x->rs_open) return;
    x->rs_open = true;
    x->rs_index = x->n_items++;
    sb_event(b, r, "response.output_item.added",
             json_pack("{s:i, s:o}", "output_index", x->rs_index, "item", rs_item(r, "in_progress", "", 0, false)));
    sb_event(b, r, "response.content_part.added",
             json_pack("{s:s, s:i, s:i, s:{s:s, s:s}}", "item_id", x->rs_id, "output_index", x->rs_index, "content_index", 0,
                       "part", "type", "reasoning_text", "text", ""));
}

static void close_reasoning(wf_buf *b, srv_req *r, const char *t) {
    srv_resp *x = r->resp;
    if (!x->rs_open || x->rs_closed) return;
    x->rs_closed = true;
    const size_t n = x->rs_sent;
    const int oi = x->rs_index;
    sb_event(b, r, "response.reasoning_text.done",
             json_pack("{s:s, s:i, s:i, s:s%}", "item_id", x->rs_id, "output_index", oi, "content_index", 0, "text", t, n));
    sb_event(b, r, "response.content_part.done",
             json_pack("{s:s, s:i, s:i, s:{s:s, s:s%}}", "item_id", x->rs_id, "output_index", oi, "content_index", 0, "part",
                       "type", "reasoning_text", "text", t, n));
    sb_event(b, r, "response.output_item.done", json_pack("{s:i, s:o}", "output_index", oi, "item", rs_item(r, "completed", t, n, true)));
}

/* Bytes of a field grown from sent to n that can go out now. */
static size_t grown(const char *t, size_t n, size_t sent, bool final) {
    if (n <= sent) return 0;
    return final ? n - sent : wf_api_utf8_complete(t + sent, n - sent);
}

/* The events for what the answer a has written since the last call: the
 * reasoning while nothing else has started (then its item closes), the
 * message's text until the first call, the calls. */
static void harmony_events(wf_buf *b, srv_req *r, const answer *a, bool final) {
    srv_resp *x = r->resp;
    const wf_api_harmony *h = &a->h;
    size_t n = x->rs_closed ? 0 : grown(h->reasoning, h->reasoning_len, x->rs_sent, final);
    if (n) {
        open_reasoning(b, r);
        sb_event(b, r, "response.reasoning_text.delta",
                 json_pack("{s:s, s:i, s:i, s:s%}", "item_id", x->rs_id, "output_index", x->rs_index, "content_index", 0, "delta",
                           h->reasoning + x->rs_sent, n));
        x->rs_sent += n;
    }
    if (final || h->content_len || h->n_calls) close_reasoning(b, r, h->reasoning);
    n = x->n_calls ? 0 : grown(h->content, h->content_len, x->sent, final);
    if (n) text_delta(b, r, h->content + x->sent, n);
    const int k = h->n_calls < (r->api.parallel_tool_calls ? STREAM_CALLS : 1) ? h->n_calls : (r->api.parallel_tool_calls ? STREAM_CALLS : 1);
    if (k > 0) emit_calls(b, r, h->calls, k, h->content);
    if (final) {
        if (!x->msg_open && x->n_calls == 0) open_message(b, r);
        close_message(b, r, h->content);
    }
}

/* Content that can be sent: before any call marker, not a trailing run of
 * white space (it is dropped when a call follows), whole characters. */
static size_t content_ready(const srv_req *r) {
    size_t safe = wf_api_tool_safe_len(r->text, r->n_text);
    while (safe > r->resp->sent && strchr(" \n\r\t", r->text[safe - 1])) safe--;
    if (safe <= r->resp->sent) return r->resp->sent;
    return r->resp->sent + wf_api_utf8_complete(r->text + r->resp->sent, safe - r->resp->sent);
}

bool srv_responses_stream_progress(wf_server *s, srv_req *r, char **sse) {
    *sse = NULL;
    wf_buf b = {0};
    if (s->harmony) {
        answer a;
        if (!answer_of(s, r, &a)) return false;
        harmony_events(&b, r, &a, false);
        answer_free(&a);
    } else {
        if (r->resp->n_calls == 0) {
            size_t ready = content_ready(r);
            if (ready > r->resp->sent) text_delta(&b, r, r->text + r->resp->sent, ready - r->resp->sent);
        }
        wf_api_tool_call_part parts[STREAM_CALLS];
        size_t cl;
        int k = r->n_text ? wf_api_tool_calls_partial(r->text, r->n_text, false, parts, r->api.parallel_tool_calls ? STREAM_CALLS : 1, &cl) : 0;
        if (k < 0) b.failed = true;
        if (k > 0) emit_calls(&b, r, parts, k, r->text);
        if (k > 0) wf_api_tool_parts_free(parts, k);
    }
    if (b.failed) {
        free(b.p);
        return false;
    }
    *sse = b.p;
    return true;
}

char *srv_responses_stream_end(wf_server *s, srv_req *r) {
    wf_buf b = {0};
    if (r->st != WF_OK) {
        sb_event(&b, r, "error", json_pack("{s:s, s:s, s:n}", "code", "server_error", "message", r->errmsg, "param"));
        wf_api_resp_view v;
        view_of(s, r, &v, NULL);
        sb_event(&b, r, "response.failed", json_pack("{s:o}", "response", wf_api_resp_object(&v)));
        return sb_done(&b);
    }
    answer a;
    if (!answer_of(s, r, &a)) {
        free(b.p);
        return NULL;
    }
    if (a.harmony) {
        harmony_events(&b, r, &a, true);
    } else {
        wf_api_tool_call_part parts[STREAM_CALLS];
        size_t cl = r->n_text;
        int k = a.calls ? wf_api_tool_calls_partial(r->text, r->n_text, true, parts, r->api.parallel_tool_calls ? STREAM_CALLS : 1, &cl) : 0;
        if (k < 0) k = 0, b.failed = true;
        if (r->resp->n_calls == 0 && a.text_len > r->resp->sent) text_delta(&b, r, r->text + r->resp->sent, a.text_len - r->resp->sent);
        if (!r->resp->msg_open && k == 0 && r->resp->n_calls == 0) open_message(&b, r);
        if (k > 0) emit_calls(&b, r, parts, k, r->text);
        close_message(&b, r, r->text);
        if (k > 0) wf_api_tool_parts_free(parts, k);
    }
    wf_api_resp_view v;
    view_of(s, r, &v, &a);
    json_t *o = wf_api_resp_object(&v);
    if (o) store_response(s, r, o, &a);
    const char *ev = !strcmp(v.status, "completed") ? "response.completed" : "response.incomplete";
    sb_event(&b, r, ev, o ? json_pack("{s:o}", "response", o) : NULL);
    answer_free(&a);
    return sb_done(&b);
}

/* ---- /v1/responses/{id}[/cancel] ------------------------------------------ */

static srv_req *live_request(wf_server *s, const char *id) {
    for (srv_req *q = s->all; q; q = q->all_next)
        if (q->api.kind == WF_API_RESPONSES && !strcmp(q->id, id)) return q;
    return NULL;
}

int srv_responses_route(wf_server *s, const char *method, const char *rest, char **body, wf_api_error *e) {
    *body = NULL;
    char id[64];
    size_t n = strcspn(rest, "/");
    const char *action = rest[n] ? rest + n + 1 : "";
    if (n == 0 || n >= sizeof id || strchr(action, '/'))
        return wf_api_fail(e, 404, "invalid_request_error", NULL, "not_found", "No such response."), 404;
    memcpy(id, rest, n);
    id[n] = 0;
    if (!strcmp(action, "cancel")) {
        if (strcmp(method, "POST")) return wf_api_fail(e, 405, "invalid_request_error", NULL, "method_not_allowed", "Use POST."), 405;
        pthread_mutex_lock(&s->mu);
        srv_req *q = live_request(s, id);
        if (q) {
            q->refs++;
            pthread_mutex_unlock(&s->mu);
            srv_cancel(s, q, true);
            pthread_mutex_lock(&s->mu);
            for (int i = 0; i < 500 && q->submitted && q->state != SRV_DONE; i++) srv_req_wait(s, q, 10);
            answer a;
            json_t *o = NULL;
            if (answer_of(s, q, &a)) {
                wf_api_resp_view v;
                view_of(s, q, &v, &a);
                if (q->state != SRV_DONE) v.status = "cancelled";
                o = wf_api_resp_object(&v);
                answer_free(&a);
            }
            *body = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
            json_decref(o);
            pthread_mutex_unlock(&s->mu);
            srv_req_release(s, q);
            return 200;
        }
        pthread_mutex_unlock(&s->mu);
        /* a finished response: cancelling it changes nothing */
        if ((*body = rstore_get_json(s->rstore, id))) return 200;
        return wf_api_fail(e, 404, "invalid_request_error", NULL, "not_found", "No response with id '%.64s'.", id), 404;
    }
    if (*action) return wf_api_fail(e, 404, "invalid_request_error", NULL, "not_found", "Unknown URL."), 404;
    if (!strcmp(method, "GET") || !strcmp(method, "HEAD")) {
        if ((*body = rstore_get_json(s->rstore, id))) return 200;
        return wf_api_fail(e, 404, "invalid_request_error", NULL, "not_found",
                           "No stored response with id '%.64s' (store false, deleted, or dropped from the store).", id), 404;
    }
    if (!strcmp(method, "DELETE")) {
        if (!rstore_delete(s->rstore, id))
            return wf_api_fail(e, 404, "invalid_request_error", NULL, "not_found", "No stored response with id '%.64s'.", id), 404;
        json_t *o = json_pack("{s:s, s:s, s:b}", "id", id, "object", "response.deleted", "deleted", 1);
        *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        return 200;
    }
    return wf_api_fail(e, 405, "invalid_request_error", NULL, "method_not_allowed", "Use GET, DELETE or POST .../cancel."), 405;
}
