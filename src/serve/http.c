/* http.c — HTTP glue on libmicrohttpd: routing, auth, body limits,
 * JSON responses and Server-Sent-Events streams.
 *
 * libmicrohttpd (Debian's libmicrohttpd12) runs one thread per connection
 * (keep-alive, chunked responses, header size limits, timeouts handled by
 * the library). A handler parses and tokenizes the request on its own
 * thread, hands it to the engine (engine.c) and then waits on the
 * request's condition variable: a streaming response is a callback
 * response whose reader blocks until the next token and returns it as one
 * SSE event (flushed at once); a non-streaming handler waits for the end.
 * While waiting, the connection's socket is polled for a hang-up every
 * 10 ms, so a client that goes away cancels its generation within a decode
 * step even before a write fails. */
#define _GNU_SOURCE /* POLLRDHUP */
#include "serve/serve_int.h"
#include "base/buf.h"
#include "serve/static.h"
#include "serve/responses.h"

#include "text/tokenizer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/tcp.h> /* struct tcp_info with the byte counts */
#include <stdarg.h>
#include <sys/socket.h>
#include <unistd.h>

#define WAIT_MS 10

typedef enum phase { PH_START = 0, PH_BODY, PH_END } phase;

/* Per-request connection state (MHD's con_cls). */
typedef struct conn {
    wf_server *s;
    struct MHD_Connection *c;
    char *body;
    size_t n_body, cap_body;
    bool too_large;
    double t_start;
    const char *route;       /* a fixed route name (metrics, logs)            */
    int status;
    srv_req *req;            /* a generation, or NULL                          */
    /* streaming */
    phase ph;
    wf_buf pend;             /* bytes to send next, from off_pend on           */
    size_t off_pend;
    size_t sent_text;        /* bytes of req->text already sent                */
    size_t sent_ids;         /* tokens whose log-probabilities were sent       */
    wf_api_logprobs lpv;     /* views of req's log-probability arrays          */
    bool gone;               /* client hung up                                 */
    bool seen;               /* on_request has run once for this request       */
    char rid[48];            /* request id: the generation's id, else req-N   */
    char method[16];         /* as sent (truncated), for the log              */
    char uri[256];           /* the request target as sent (truncated)        */
    srv_conn *sc;            /* the connection's record (conns.c), or NULL     */
    bool large;              /* counted in s->large_bytes (large_enter)        */
    size_t large_bytes;
    char errmsg[448];        /* the error message of a 4xx/5xx, for the log   */
    int tc_n;                /* chat stream: tool calls announced              */
    size_t tc_sent[16];      /* ... and the bytes of their arguments sent      */
    size_t sent_reason;      /* harmony chat stream: reasoning bytes sent      */
    size_t sent_content;     /* ... and content bytes                          */
    bool streamed;           /* a streamed answer began (timeout switched off) */
    bool rx_ok;              /* rx known: the kernel's count of bytes received */
    uint64_t rx;             /* on the connection once the request was all in  */
    uint64_t wire;           /* the request's own bytes on the wire, 0: unknown */
} conn;

/* ---- helpers -------------------------------------------------------------- */

/* libmicrohttpd's own inactivity timeout, a backstop above wafer's (conns.c). */
static unsigned mhd_backstop(const wf_server *s) {
    unsigned t = s->cfg.timeout_s;
    if (s->cfg.header_timeout_s > t) t = s->cfg.header_timeout_s;
    if (s->cfg.body_timeout_s > t) t = s->cfg.body_timeout_s;
    if (s->cfg.send_timeout_s > t) t = s->cfg.send_timeout_s;
    return t + 5;
}

static bool peer_gone(conn *k) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(k->c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci) return false;
    struct pollfd p = {ci->connect_fd, POLLRDHUP, 0};
    if (poll(&p, 1, 0) <= 0) return false;
    return (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

static enum MHD_Result send_body(conn *k, int status, const char *ctype, char *body, const char *extra_hdr,
                                 const char *extra_val) {
    if (!body) {
        status = 500;
        ctype = "application/json";
        static const char oom[] = "{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\",\"param\":null,\"code\":null}}";
        body = malloc(sizeof oom);
        if (!body) return MHD_NO;
        memcpy(body, oom, sizeof oom);
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", ctype);
    MHD_add_response_header(resp, "X-Request-Id", k->req ? k->req->id : k->rid);
    if (extra_hdr) MHD_add_response_header(resp, extra_hdr, extra_val);
    k->status = status;
    enum MHD_Result ret = MHD_queue_response(k->c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result send_json(conn *k, int status, char *json) {
    return send_body(k, status, "application/json", json, NULL, NULL);
}

static enum MHD_Result send_error(conn *k, const wf_api_error *e) {
    snprintf(k->errmsg, sizeof k->errmsg, "%s", e->message);
    char *j = wf_api_error_json(e);
    if (e->status == 429) return send_body(k, 429, "application/json", j, "Retry-After", "1");
    if (e->status == 401) return send_body(k, 401, "application/json", j, "WWW-Authenticate", "Bearer");
    return send_body(k, e->status, "application/json", j, NULL, NULL);
}

static enum MHD_Result fail(conn *k, int status, const char *type, const char *code, const char *msg) {
    wf_api_error e;
    wf_api_fail(&e, status, type, NULL, code, "%s", msg);
    return send_error(k, &e);
}

/* Constant-time comparison of the presented key with the configured one
 * (the time depends only on the presented length). */
static bool key_ok(const char *want, const char *got) {
    size_t nw = strlen(want), ng = strlen(got);
    unsigned char d = (unsigned char)(nw != ng);
    for (size_t i = 0; i < ng; i++) d |= (unsigned char)(got[i] ^ want[nw ? i % nw : 0]);
    return d == 0 && nw > 0;
}

static bool authorized(conn *k, wf_api_error *e) {
    const char *key = k->s->cfg.api_key;
    if (!key || !*key) return true;
    const char *h = MHD_lookup_connection_value(k->c, MHD_HEADER_KIND, "Authorization");
    if (!h) return wf_api_fail(e, 401, "invalid_request_error", NULL, "invalid_api_key",
                               "You didn't provide an API key. Provide it in the Authorization header (Authorization: Bearer YOUR_KEY).");
    if (strncasecmp(h, "Bearer ", 7) != 0 || !key_ok(key, h + 7))
        return wf_api_fail(e, 401, "invalid_request_error", NULL, "invalid_api_key", "Incorrect API key provided.");
    return true;
}

/* ---- generation responses ------------------------------------------------ */

static int32_t token_bytes(const void *user, int32_t id, char *buf, size_t cap) {
    return wf_token_to_bytes((const wf_vocab *)user, id, buf, cap);
}

static void fill_result(conn *k, wf_api_result *res) {
    srv_req *r = k->req;
    memset(res, 0, sizeof *res);
    res->id = r->id;
    res->model = r->api.model && *r->api.model ? r->api.model : k->s->model_name;
    res->created = r->created;
    res->text = r->text;
    res->text_len = r->n_text;
    res->ids = r->ids;
    res->n_ids = r->n_ids;
    res->finish = srv_finish_reason(r);
    res->stop_type = srv_stop_type(r);
    res->echo_prompt = r->echo;
    res->echo_len = r->echo_len;
    res->slot = r->slot;
    res->n_ctx = k->s->n_ctx;
    res->n_predict = r->gp.max_tokens;
    if (r->api.logprobs >= 0) {
        k->lpv = (wf_api_logprobs){r->lp, r->top_id, r->top_lp, r->api.logprobs, token_bytes, k->s->v};
        res->logprobs = &k->lpv;
        res->lp_from = 0;
        res->lp_to = r->n_ids;
    }
    srv_fill_usage(r, &res->usage);
}

/* One SSE event with the JSON text json (taken). */
static bool pend_add(conn *k, char *json) {
    bool ok = json && wf_buf_str(&k->pend, "data: ") && wf_buf_str(&k->pend, json) && wf_buf_str(&k->pend, "\n\n");
    free(json);
    return ok;
}

/* Ready-made SSE text (the Responses API's "event:" lines), taken. */
static bool pend_raw(conn *k, char *sse) {
    bool ok = sse && wf_buf_str(&k->pend, sse);
    free(sse);
    return ok;
}

static bool pend_done(conn *k) { return wf_buf_str(&k->pend, "data: [DONE]\n\n"); }

/* Chat stream with tools: the calls written so far as tool_calls deltas
 * (a call's id, type and name when it first appears, then its arguments as
 * they grow; tool_calls.c keeps each prefix's arguments a prefix of the
 * final ones). *added: whether a chunk was queued. */
static bool chat_calls_progress(conn *k, bool final, bool *added) {
    srv_req *r = k->req;
    wf_api_tool_call_part p[16];
    size_t cl;
    *added = false;
    int n = wf_api_tool_calls_partial(r->text, r->n_text, final, p, 16, &cl);
    if (n < 0) return false;
    bool ok = true;
    wf_api_result res;
    fill_result(k, &res);
    res.logprobs = NULL;
    for (int i = 0; ok && i < n; i++) {
        bool first = i >= k->tc_n;
        if (!first && p[i].args_len <= k->tc_sent[i]) continue;
        size_t from = first ? 0 : k->tc_sent[i];
        char id[96];
        snprintf(id, sizeof id, "call_%s_%d", r->id, i);
        ok = pend_add(k, wf_api_chat_chunk_tool_delta(&res, i, first ? id : NULL, first ? p[i].name : NULL, p[i].args + from,
                                                      p[i].args_len - from, r->api.include_usage));
        if (first) k->tc_n = i + 1;
        k->tc_sent[i] = p[i].args_len;
        *added = true;
    }
    wf_api_tool_parts_free(p, n);
    return ok;
}

/* The unsent part of a field that grew from *sent to n bytes: whole UTF-8
 * characters only while the answer runs. */
static size_t grown(const char *t, size_t n, size_t sent, bool final) {
    if (n <= sent) return 0;
    return final ? n - sent : wf_api_utf8_complete(t + sent, n - sent);
}

static bool stream_final(conn *k);

/* Chat stream of a harmony model (gpt-oss): the reasoning, content and
 * tool-call deltas written since the last call, as the channels grow
 * (harmony_answer.c keeps each field of a prefix a prefix of the final
 * one). *added: whether a chunk was queued. s->mu held. */
static bool harmony_chat_progress(conn *k, bool *added) {
    srv_req *r = k->req;
    wf_api_harmony h;
    *added = false;
    if (!srv_harmony_view(k->s, r, &h)) return false;
    const bool final = r->state == SRV_DONE, iu = r->api.include_usage;
    wf_api_result res;
    fill_result(k, &res);
    res.logprobs = NULL;
    bool ok = true;
    size_t n = grown(h.reasoning, h.reasoning_len, k->sent_reason, final);
    if (n) {
        ok = pend_add(k, wf_api_chat_chunk_reasoning(&res, h.reasoning + k->sent_reason, n, iu));
        k->sent_reason += n;
        *added = true;
    }
    n = grown(h.content, h.content_len, k->sent_content, final);
    if (ok && n) {
        ok = pend_add(k, wf_api_chat_chunk_text(&res, h.content + k->sent_content, n, iu));
        k->sent_content += n;
        *added = true;
    }
    for (int i = 0; ok && i < h.n_calls; i++) {
        const wf_api_tool_call_part *c = &h.calls[i];
        bool first = i >= k->tc_n;
        size_t from = first ? 0 : k->tc_sent[i];
        if (!first && c->args_len <= from) continue;
        char id[96];
        snprintf(id, sizeof id, "call_%s_%d", r->id, i);
        ok = pend_add(k, wf_api_chat_chunk_tool_delta(&res, i, first ? id : NULL, first ? c->name : NULL, c->args + from,
                                                      c->args_len - from, iu));
        if (first) k->tc_n = i + 1;
        k->tc_sent[i] = c->args_len;
        *added = true;
    }
    wf_api_harmony_free(&h);
    return ok;
}

/* A harmony chat stream's closing chunks (r done, every delta sent). */
static bool harmony_chat_final(conn *k) {
    srv_req *r = k->req;
    wf_api_harmony h;
    if (!srv_harmony_view(k->s, r, &h)) return false;
    wf_api_result res;
    fill_result(k, &res);
    res.tool_calls = h.calls_json;
    bool iu = r->api.include_usage;
    bool ok = pend_add(k, wf_api_chat_chunk_finish(&res, iu)) && (!iu || pend_add(k, wf_api_chat_chunk_usage(&res))) &&
              pend_done(k);
    wf_api_harmony_free(&h);
    return ok;
}

/* Stream a harmony chat answer (s->mu held): the next deltas, or the end. */
static bool harmony_chat_next(conn *k) {
    wf_server *s = k->s;
    srv_req *r = k->req;
    for (;;) {
        bool added = false;
        if (r->st == WF_OK && !harmony_chat_progress(k, &added)) return false;
        if (added) return true;
        if (r->state == SRV_DONE) {
            k->ph = PH_END;
            return r->st == WF_OK ? harmony_chat_final(k) : stream_final(k);
        }
        srv_req_wait(s, r, WAIT_MS);
        if (r->state != SRV_DONE) {
            pthread_mutex_unlock(&s->mu);
            bool gone = peer_gone(k);
            pthread_mutex_lock(&s->mu);
            if (gone) {
                k->gone = true;
                return false;
            }
        }
    }
}

/* The final events of a stream (r is done; s->mu held). */
static bool stream_final(conn *k) {
    srv_req *r = k->req;
    wf_api_result res;
    fill_result(k, &res);
    bool openai = r->api.kind == WF_API_CHAT || r->api.kind == WF_API_COMPLETIONS;
    if (r->api.kind == WF_API_RESPONSES) { /* its own closing events, errors included */
        if (r->st != WF_OK) {
            k->status = 500;
            snprintf(k->errmsg, sizeof k->errmsg, "generation failed: %.400s", r->errmsg);
        }
        return pend_raw(k, srv_responses_stream_end(k->s, r));
    }
    if (r->st != WF_OK) {
        wf_api_error e;
        wf_api_fail(&e, 500, "server_error", NULL, NULL, "generation failed: %s", r->errmsg);
        k->status = 500;
        snprintf(k->errmsg, sizeof k->errmsg, "%s", e.message);
        return pend_add(k, wf_api_error_json(&e)) && (!openai || pend_done(k));
    }
    bool iu = r->api.include_usage;
    switch (r->api.kind) {
    case WF_API_CHAT: {
        bool ok = true;
        char *calls = NULL;
        if (srv_parse_tool_calls(r)) { /* the held text: content before the calls, then the calls */
            size_t clen = r->n_text;
            if (wf_api_tool_calls(r->text, r->n_text, r->id, &calls, &clen) <= 0) clen = r->n_text;
            if (clen > k->sent_text) {
                res.logprobs = NULL;
                ok = pend_add(k, wf_api_chat_chunk_text(&res, r->text + k->sent_text, clen - k->sent_text, iu));
                k->sent_text = clen;
            }
            res.tool_calls = calls;
            bool added;
            if (ok && calls && k->tc_n > 0) ok = chat_calls_progress(k, true, &added); /* the rest of the streamed calls */
            else if (ok && calls) ok = pend_add(k, wf_api_chat_chunk_tool_calls(&res, iu));
        }
        ok = ok && pend_add(k, wf_api_chat_chunk_finish(&res, iu)) && (!iu || pend_add(k, wf_api_chat_chunk_usage(&res))) &&
             pend_done(k);
        free(calls);
        return ok;
    }
    case WF_API_COMPLETIONS:
        return pend_add(k, wf_api_completions_chunk_finish(&res, iu)) &&
               (!iu || pend_add(k, wf_api_completions_chunk_usage(&res))) && pend_done(k);
    default:
        return pend_add(k, wf_api_llama_response(&res, true, true));
    }
}

/* Fill k->pend with the next events, waiting for them; false when the
 * client is gone or memory ran out. */
static bool stream_next(conn *k) {
    wf_server *s = k->s;
    srv_req *r = k->req;
    bool ok = true;
    pthread_mutex_lock(&s->mu);
    if (k->ph == PH_START) {
        k->ph = PH_BODY;
        wf_api_result res;
        fill_result(k, &res);
        if (r->api.kind == WF_API_CHAT) ok = pend_add(k, wf_api_chat_chunk_role(&res, r->api.include_usage));
        if (r->api.kind == WF_API_RESPONSES) ok = pend_raw(k, srv_responses_stream_begin(s, r));
        /* completions with echo: the prompt comes first, as its own chunk */
        if (r->api.kind == WF_API_COMPLETIONS && r->echo) {
            res.logprobs = NULL;
            ok = pend_add(k, wf_api_completions_chunk_text(&res, r->echo, r->echo_len, r->api.include_usage));
        }
        if (!ok || k->pend.n) {
            pthread_mutex_unlock(&s->mu);
            return ok;
        }
    }
    if (s->harmony && r->api.kind == WF_API_CHAT) {
        ok = harmony_chat_next(k);
        pthread_mutex_unlock(&s->mu);
        return ok;
    }
    /* (a harmony model's Responses stream is always parsed: its reasoning) */
    const bool tools = (r->api.kind == WF_API_CHAT || r->api.kind == WF_API_RESPONSES) &&
                       (r->api.tools || (s->harmony && r->api.kind == WF_API_RESPONSES));
    /* Responses with tools: content and calls as they are written (responses.c) */
    const bool resp_calls = tools && r->api.kind == WF_API_RESPONSES;
    for (;;) {
        if (tools && r->api.kind == WF_API_CHAT && r->state != SRV_DONE && k->sent_text >= wf_api_tool_safe_len(r->text, r->n_text)) {
            bool added = false; /* the content before the calls is out: stream the calls */
            if (!chat_calls_progress(k, false, &added)) {
                ok = false;
                break;
            }
            if (added) break;
        }
        if (resp_calls && r->state != SRV_DONE) {
            char *ev = NULL;
            if (!srv_responses_stream_progress(s, r, &ev)) {
                ok = false;
                break;
            }
            if (ev) {
                ok = pend_raw(k, ev);
                break;
            }
        }
        /* with tools, text from a tool-call marker on is held for the end */
        size_t avail = r->n_text;
        if (tools) avail = r->state == SRV_DONE ? k->sent_text : wf_api_tool_safe_len(r->text, r->n_text);
        if (avail < k->sent_text) avail = k->sent_text;
        if (avail > k->sent_text && !resp_calls) {
            size_t n = avail - k->sent_text;
            const char *t = r->text + k->sent_text;
            wf_api_result res;
            fill_result(k, &res);
            res.lp_from = k->sent_ids; /* this chunk's tokens */
            res.text_len = k->sent_text; /* completions text_offset base */
            k->sent_ids = r->n_ids;
            bool iu = r->api.include_usage;
            char *j = r->api.kind == WF_API_RESPONSES     ? NULL
                      : r->api.kind == WF_API_CHAT        ? wf_api_chat_chunk_text(&res, t, n, iu)
                      : r->api.kind == WF_API_COMPLETIONS ? wf_api_completions_chunk_text(&res, t, n, iu)
                                                          : wf_api_llama_chunk_text(t, n, r->slot);
            k->sent_text = avail;
            ok = r->api.kind == WF_API_RESPONSES ? pend_raw(k, srv_responses_stream_text(s, r, t, n)) : pend_add(k, j);
            break;
        }
        if (r->state == SRV_DONE) {
            ok = stream_final(k);
            k->ph = PH_END;
            break;
        }
        srv_req_wait(s, r, WAIT_MS);
        if (r->state != SRV_DONE && (tools || r->n_text == k->sent_text)) {
            pthread_mutex_unlock(&s->mu);
            bool gone = peer_gone(k);
            pthread_mutex_lock(&s->mu);
            if (gone) {
                k->gone = true;
                ok = false;
                break;
            }
        }
    }
    pthread_mutex_unlock(&s->mu);
    return ok;
}

static ssize_t stream_read(conn *k, char *buf, size_t max) {
    for (;;) {
        if (k->off_pend < k->pend.n) {
            size_t n = k->pend.n - k->off_pend;
            if (n > max) n = max;
            memcpy(buf, k->pend.p + k->off_pend, n);
            k->off_pend += n;
            return (ssize_t)n;
        }
        wf_buf_clear(&k->pend);
        k->off_pend = 0;
        if (k->ph == PH_END) return MHD_CONTENT_READER_END_OF_STREAM;
        if (!stream_next(k)) {
            srv_cancel(k->s, k->req, false);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
    }
}

/* libmicrohttpd calls this when it can send more: the time between a
 * return and the next call is what the client's reading costs, bounded by
 * the send timeout (conns.c). */
static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max) {
    conn *k = cls;
    (void)pos;
    srv_conns_reader(&k->s->conns, k->sc, true);
    ssize_t n = stream_read(k, buf, max);
    srv_conns_reader(&k->s->conns, k->sc, false);
    return n;
}

/* Non-streaming: wait for the end (cancelling if the client leaves). */
static enum MHD_Result wait_and_respond(conn *k) {
    wf_server *s = k->s;
    srv_req *r = k->req;
    pthread_mutex_lock(&s->mu);
    while (r->state != SRV_DONE) {
        srv_req_wait(s, r, WAIT_MS);
        if (r->state == SRV_DONE || r->cancel) continue;
        pthread_mutex_unlock(&s->mu);
        if (peer_gone(k)) {
            k->gone = true;
            srv_cancel(s, r, false);
        }
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    if (k->gone) return MHD_NO; /* nobody to answer: close */
    if (r->st != WF_OK) {
        wf_api_error e;
        wf_api_fail(&e, 500, "server_error", NULL, NULL, "generation failed: %s", r->errmsg);
        return send_error(k, &e);
    }
    wf_api_result res;
    fill_result(k, &res);
    switch (r->api.kind) {
    case WF_API_CHAT: {
        if (s->harmony) { /* reasoning, content, tool calls from the channels */
            wf_api_harmony h;
            if (!srv_harmony_view(s, r, &h)) return fail(k, 500, "server_error", NULL, "out of memory");
            res.text = h.content;
            res.text_len = h.content_len;
            res.reasoning = h.reasoning;
            res.reasoning_len = h.reasoning_len;
            res.tool_calls = h.calls_json;
            enum MHD_Result ret = send_json(k, 200, wf_api_chat_response(&res));
            wf_api_harmony_free(&h);
            return ret;
        }
        char *calls = NULL;
        size_t clen = r->n_text;
        if (srv_parse_tool_calls(r) && wf_api_tool_calls(r->text, r->n_text, r->id, &calls, &clen) > 0) {
            res.tool_calls = calls;
            res.text_len = clen;
        }
        enum MHD_Result ret = send_json(k, 200, wf_api_chat_response(&res));
        free(calls);
        return ret;
    }
    case WF_API_COMPLETIONS: return send_json(k, 200, wf_api_completions_response(&res));
    case WF_API_RESPONSES: return send_json(k, 200, srv_responses_final(s, r));
    default: return send_json(k, 200, wf_api_llama_response(&res, true, false));
    }
}

/* Large bodies (parsing and tokenizing cost several times their size, up
 * to ~70x for one long word) are prepared while the large bodies in
 * preparation add up to at most SRV_LARGE_BUDGET bytes (one at a time
 * always passes); the others wait their turn, up to SRV_LARGE_WAIT_S, then
 * get a 503. Bodies under SRV_LARGE_BODY never wait. */
#define SRV_LARGE_BODY (1u << 20)
#define SRV_LARGE_BUDGET (8u << 20)
#define SRV_LARGE_WAIT_S 30.0

static bool large_enter(conn *k, wf_api_error *e) {
    wf_server *s = k->s;
    if (k->n_body < SRV_LARGE_BODY) return true;
    double t_end = wf_time_now() + SRV_LARGE_WAIT_S;
    pthread_mutex_lock(&s->mu);
#define LARGE_FULL (s->large_bytes && s->large_bytes + k->n_body > SRV_LARGE_BUDGET)
    while (LARGE_FULL && wf_time_now() < t_end && !s->draining) {
        pthread_mutex_unlock(&s->mu);
        if (peer_gone(k)) {
            k->gone = true;
            return wf_api_fail(e, 499, "invalid_request_error", NULL, NULL, "client closed the connection");
        }
        usleep(5000);
        pthread_mutex_lock(&s->mu);
    }
    bool ok = !LARGE_FULL && !s->draining;
#undef LARGE_FULL
    if (ok) s->large_bytes += k->n_body;
    k->large_bytes = k->n_body;
    pthread_mutex_unlock(&s->mu);
    k->large = ok;
    if (!ok)
        return wf_api_fail(e, 503, "server_error", NULL, "server_busy",
                           "Too many large requests are being prepared; retry shortly.");
    return true;
}

static void large_leave(conn *k) {
    if (!k->large) return;
    k->large = false;
    pthread_mutex_lock(&k->s->mu);
    k->s->large_bytes -= k->large_bytes;
    pthread_mutex_unlock(&k->s->mu);
}

static enum MHD_Result generate(conn *k, wf_api_kind kind) {
    wf_server *s = k->s;
    static const char *const prefix[] = {"chatcmpl", "cmpl", "cmpl", "infill", "", "", "resp"};
    wf_api_limits lim = {0};
    lim.n_vocab = s->n_vocab;
    wf_api_request a;
    wf_api_error e;
    if (!large_enter(k, &e)) return k->gone ? MHD_NO : send_error(k, &e);
    bool parsed = wf_api_parse(kind, k->body, k->n_body, &lim, &a, &e);
    free(k->body); /* the request holds what it needs */
    k->body = NULL;
    k->n_body = k->cap_body = 0;
    if (!parsed) {
        large_leave(k);
        return send_error(k, &e);
    }
    srv_req *r = srv_req_new(s, prefix[kind], k->route);
    if (!r) {
        large_leave(k);
        wf_api_request_free(&a);
        return fail(k, 500, "server_error", NULL, "out of memory");
    }
    r->api = a;
    k->req = r;
    if (kind == WF_API_RESPONSES) /* OpenAI's form: resp_<hex> */
        for (char *p = r->id; *p; p++) *p = *p == '-' ? '_' : *p;
    snprintf(k->rid, sizeof k->rid, "%s", r->id);
    bool prepared = srv_prepare(s, r, &e);
    large_leave(k);
    if (!prepared || !srv_submit(s, r, &e)) return send_error(k, &e);
    if (!r->api.stream) return wait_and_respond(k);
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, stream_reader, k, NULL);
    if (!resp) {
        srv_cancel(s, r, false);
        return MHD_NO;
    }
    /* a stream is paced by tokens: a small send buffer is enough, and it
     * makes a client that stops reading visible within a few events (the
     * send timeout, conns.c) instead of after megabytes */
    const union MHD_ConnectionInfo *fi = MHD_get_connection_info(k->c, MHD_CONNECTION_INFO_CONNECTION_FD);
    int sndbuf = 64 * 1024;
    if (fi) setsockopt(fi->connect_fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    /* the stream may send nothing for minutes (queued behind busy slots, a
     * long prefill): libmicrohttpd's inactivity timeout would close it as
     * its first token arrives. Off while it streams; wafer's send timeout
     * and peer_gone still end it when the client stops reading or leaves */
    MHD_set_connection_option(k->c, MHD_CONNECTION_OPTION_TIMEOUT, 0u);
    k->streamed = true;
    MHD_add_response_header(resp, "Content-Type", "text/event-stream");
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    MHD_add_response_header(resp, "X-Request-Id", r->id);
    k->status = 200;
    enum MHD_Result ret = MHD_queue_response(k->c, 200, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* ---- the other endpoints --------------------------------------------------- */

static enum MHD_Result tokenize_locked(conn *k);

static enum MHD_Result tokenize(conn *k) {
    wf_api_error e;
    if (!large_enter(k, &e)) return k->gone ? MHD_NO : send_error(k, &e);
    enum MHD_Result ret = tokenize_locked(k);
    large_leave(k);
    return ret;
}

static enum MHD_Result tokenize_locked(conn *k) {
    wf_server *s = k->s;
    wf_api_request a;
    wf_api_error e;
    bool parsed = wf_api_parse(WF_API_TOKENIZE, k->body, k->n_body, NULL, &a, &e);
    free(k->body); /* the request holds its own copy of the text */
    k->body = NULL;
    k->n_body = k->cap_body = 0;
    if (!parsed) return send_error(k, &e);
    int32_t *ids = NULL;
    size_t n = 0;
    wf_error err = {0};
    if (wf_tokenize(s->v, a.prompt, a.prompt_len, a.add_special, a.parse_special, &ids, &n, &err)) {
        wf_api_request_free(&a);
        return fail(k, 400, "invalid_request_error", NULL, err.msg);
    }
    /* the answer's text is written directly: a tree of 3.7 M json_t
     * integers (a 7 MB one-word text) cost ~200 MB; this is ~8 bytes a token */
    wf_buf b = {0};
    wf_buf_str(&b, "{\"tokens\":[");
    char piece[512];
    for (size_t i = 0; i < n && !b.failed; i++) {
        if (i) wf_buf_add(&b, ",", 1);
        if (!a.with_pieces) {
            wf_buf_printf(&b, "%d", ids[i]);
            continue;
        }
        int32_t len = wf_token_to_bytes(s->v, ids[i], piece, sizeof piece);
        if (len < 0) len = 0;
        if (len > (int32_t)sizeof piece) len = (int32_t)sizeof piece;
        wf_buf_printf(&b, "{\"id\":%d,\"piece\":", ids[i]);
        json_t *p = json_stringn(piece, (size_t)len);
        char *q = p ? json_dumps(p, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
        json_decref(p);
        if (q) {
            wf_buf_str(&b, q);
        } else { /* not valid UTF-8 on its own: bytes, as llama.cpp sends */
            wf_buf_add(&b, "[", 1);
            for (int32_t c = 0; c < len; c++) wf_buf_printf(&b, c ? ",%d" : "%d", (unsigned char)piece[c]);
            wf_buf_add(&b, "]", 1);
        }
        free(q);
        wf_buf_add(&b, "}", 1);
    }
    wf_buf_str(&b, "]}");
    free(ids);
    wf_api_request_free(&a);
    if (b.failed) {
        wf_buf_free(&b);
        return send_json(k, 200, NULL);
    }
    return send_json(k, 200, wf_buf_take(&b, NULL));
}

static enum MHD_Result detokenize(conn *k) {
    wf_server *s = k->s;
    wf_api_limits lim = {0};
    lim.n_vocab = s->n_vocab;
    wf_api_request a;
    wf_api_error e;
    if (!wf_api_parse(WF_API_DETOKENIZE, k->body, k->n_body, &lim, &a, &e)) return send_error(k, &e);
    size_t cap = 3 * ((size_t)wf_vocab_max_token_len(s->v) + 4) + 64;
    char *tmp = malloc(cap);
    char *outp = malloc(a.n_tokens * cap + 8);
    size_t o = 0;
    if (tmp && outp) {
        wf_detok d;
        wf_detok_init(&d);
        for (size_t i = 0; i < a.n_tokens; i++) {
            int64_t w = wf_detok_push(&d, s->v, a.tokens[i], outp + o, cap);
            if (w > 0) o += (size_t)w;
        }
        int64_t w = wf_detok_flush(&d, outp + o, cap);
        if (w > 0) o += (size_t)w;
    }
    free(tmp);
    wf_api_request_free(&a);
    if (!outp) return fail(k, 500, "server_error", NULL, "out of memory");
    json_t *obj = json_pack("{s:s%}", "content", outp, o);
    free(outp);
    char *t = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    return send_json(k, 200, t);
}

static enum MHD_Result metrics(conn *k) {
    wf_server *s = k->s;
    wf_prefix_cache_stats pcs;
    if (s->pc) wf_prefix_cache_get_stats(s->pc, &pcs);
    pthread_mutex_lock(&s->mu);
    int busy = 0;
    for (int i = 0; i < s->cfg.n_parallel; i++) busy += s->slots[i].req != NULL;
    wf_grammar_cache_stats gcs;
    wf_grammar_cache_get_stats(s->gcache, &gcs);
    char *t = srv_metrics_text(&s->metrics, s->n_queued, busy, s->cfg.n_parallel, s->pc ? &pcs : NULL, &gcs);
    pthread_mutex_unlock(&s->mu);
    char ct[1024];
    srv_conns_metrics(&s->conns, ct, sizeof ct);
    size_t nt = t ? strlen(t) : 0, nc = strlen(ct);
    char *all = t ? realloc(t, nt + nc + 1) : NULL;
    if (all) memcpy(all + nt, ct, nc + 1);
    else free(t);
    t = all;
    return send_body(k, 200, "text/plain; version=0.0.4; charset=utf-8", t, NULL, NULL);
}

static enum MHD_Result cancel_request(conn *k, const char *id) {
    if (!*id || strlen(id) >= sizeof ((srv_req *)0)->id)
        return fail(k, 404, "invalid_request_error", "not_found", "No such request.");
    if (!srv_cancel_id(k->s, id)) return fail(k, 404, "invalid_request_error", "not_found", "No running or queued request with this id.");
    json_t *o = json_pack("{s:s, s:s, s:b}", "id", id, "object", "request.cancelled", "cancelled", 1);
    char *t = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return send_json(k, 200, t);
}

/* ---- routing --------------------------------------------------------------- */

typedef enum route_kind { R_GEN, R_TOKENIZE, R_DETOKENIZE, R_HEALTH, R_MODELS, R_METRICS, R_PROPS } route_kind;

static const struct route {
    const char *path;
    const char *method;
    route_kind kind;
    wf_api_kind api;
} routes[] = {
    {"/v1/chat/completions", "POST", R_GEN, WF_API_CHAT},
    {"/chat/completions", "POST", R_GEN, WF_API_CHAT},
    {"/v1/completions", "POST", R_GEN, WF_API_COMPLETIONS},
    {"/completions", "POST", R_GEN, WF_API_COMPLETIONS},
    {"/completion", "POST", R_GEN, WF_API_COMPLETION},
    {"/infill", "POST", R_GEN, WF_API_INFILL},
    {"/tokenize", "POST", R_TOKENIZE, 0},
    {"/detokenize", "POST", R_DETOKENIZE, 0},
    {"/health", "GET", R_HEALTH, 0},
    {"/v1/health", "GET", R_HEALTH, 0},
    {"/v1/models", "GET", R_MODELS, 0},
    {"/models", "GET", R_MODELS, 0},
    {"/metrics", "GET", R_METRICS, 0},
    {"/props", "GET", R_PROPS, 0},
    {"/v1/responses", "POST", R_GEN, WF_API_RESPONSES},
    {"/responses", "POST", R_GEN, WF_API_RESPONSES},
};

/* llama.cpp's GET /props: what clients probe for (slots, context, model). */
static enum MHD_Result props(conn *k) {
    wf_server *s = k->s;
    json_t *o = json_pack("{s:{s:i, s:i, s:s}, s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:{s:b, s:b}}",
                          "default_generation_settings", "n_ctx", s->n_ctx, "n_predict", s->cfg.max_tokens_default,
                          "model", s->model_name, "total_slots", s->cfg.n_parallel, "model_alias", s->model_name,
                          "model_path", s->model_name, "build_info", "wafer " WAFER_VERSION,
                          "bos_token", s->bos_text ? s->bos_text : "", "eos_token", s->eos_text ? s->eos_text : "",
                          "chat_template_source", s->tmpl_source, "modalities", "vision", 0, "audio", 0);
    /* what agents need to know: the context each slot has, how tools reach
     * the model and how its calls are read */
    if (o) {
        json_object_set_new(o, "n_ctx_per_slot", json_integer(s->n_ctx));
        json_object_set_new(o, "tool_call_format",
                            json_string(s->harmony ? "harmony" : s->tool_format == WF_API_TOOLS_MISTRAL ? "mistral" : "hermes"));
        json_object_set_new(o, "tool_prompt", json_string(s->tmpl_tools ? "chat template" : "wafer default"));
    }
    char *t = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return send_json(k, 200, t);
}

/* The metrics label of a request target (the query left out): a known
 * endpoint's path, or "other" (unknown paths would make the label set
 * unbounded). */
static const char *route_label(const char *uri) {
    size_t n = strcspn(uri, "?");
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (strlen(routes[i].path) == n && !strncmp(uri, routes[i].path, n)) return routes[i].path;
    static const char pre[] = "/v1/requests/", suf[] = "/cancel";
    if (n > sizeof pre + sizeof suf - 2 && !strncmp(uri, pre, sizeof pre - 1) && !strncmp(uri + n - (sizeof suf - 1), suf, sizeof suf - 1))
        return "/v1/requests/cancel";
    if (!strncmp(uri, "/v1/responses/", 14) || !strncmp(uri, "/responses/", 11))
        return n > 7 && !strncmp(uri + n - 7, "/cancel", 7) ? "/v1/responses/{id}/cancel" : "/v1/responses/{id}";
    return "other";
}

static enum MHD_Result dispatch(conn *k, const char *url, const char *method) {
    wf_server *s = k->s;
    const struct route *rt = NULL;
    bool path_known = false;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (!strcmp(url, routes[i].path)) {
            path_known = true;
            if (!strcmp(method, routes[i].method) || (!strcmp(method, "HEAD") && !strcmp(routes[i].method, "GET"))) rt = &routes[i];
        }
    static const char cancel_pre[] = "/v1/requests/", cancel_suf[] = "/cancel";
    size_t ul = strlen(url);
    bool is_cancel = ul > sizeof cancel_pre + sizeof cancel_suf - 2 && !strncmp(url, cancel_pre, sizeof cancel_pre - 1) &&
                     !strcmp(url + ul - (sizeof cancel_suf - 1), cancel_suf);
    if (rt) k->route = rt->path;
    if (rt && rt->kind == R_HEALTH) {
        char *t = malloc(32);
        if (t) snprintf(t, 32, "%s", s->draining ? "{\"status\":\"draining\"}" : "{\"status\":\"ok\"}");
        return send_json(k, s->draining ? 503 : 200, t);
    }
    if (!rt && !is_cancel && !s->cfg.no_ui && (!strcmp(method, "GET") || !strcmp(method, "HEAD"))) {
        const wf_static_file *f = wf_static_find(url); /* the web app: no key needed, it holds no secret */
        if (f) {
            k->route = "/ (app)";
            return (enum MHD_Result)wf_static_send(k->c, f, &k->status);
        }
    }
    wf_api_error e;
    if (!authorized(k, &e)) return send_error(k, &e);
    const char *rest = !strncmp(url, "/v1/responses/", 14) ? url + 14 : !strncmp(url, "/responses/", 11) ? url + 11 : NULL;
    if (rest) { /* GET / DELETE /v1/responses/{id}, POST .../cancel */
        char *body = NULL;
        int st = srv_responses_route(s, method, rest, &body, &e);
        return st == 200 ? send_json(k, 200, body) : send_error(k, &e);
    }
    if (is_cancel) {
        if (strcmp(method, "POST")) return fail(k, 405, "invalid_request_error", "method_not_allowed", "Use POST.");
        char id[64];
        size_t n = ul - (sizeof cancel_pre - 1) - (sizeof cancel_suf - 1);
        if (n >= sizeof id) n = sizeof id - 1;
        memcpy(id, url + sizeof cancel_pre - 1, n);
        id[n] = 0;
        return cancel_request(k, id);
    }
    if (!rt) {
        char msg[160];
        snprintf(msg, sizeof msg, "Invalid URL (%.8s %.100s)", method, url);
        if (path_known) return fail(k, 405, "invalid_request_error", "method_not_allowed", msg);
        return fail(k, 404, "invalid_request_error", "unknown_url", msg);
    }
    switch (rt->kind) {
    case R_GEN: return generate(k, rt->api);
    case R_TOKENIZE: return tokenize(k);
    case R_DETOKENIZE: return detokenize(k);
    case R_MODELS: return send_json(k, 200, wf_api_models_json(s->model_name, s->started, s->n_ctx, s->n_vocab));
    case R_METRICS: return metrics(k);
    case R_PROPS: return props(k);
    default: return fail(k, 404, "invalid_request_error", "unknown_url", "Unknown URL.");
    }
}

/* Called by libmicrohttpd once the request line has arrived, before the
 * headers: the per-request state starts here, so that every request that
 * got this far is logged and counted, including those libmicrohttpd
 * answers itself (bad chunked bodies, oversized headers). */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c) {
    wf_server *s = cls;
    conn *k = calloc(1, sizeof *k);
    if (!k) return NULL;
    k->s = s;
    k->c = c;
    k->t_start = wf_time_now();
    snprintf(k->uri, sizeof k->uri, "%s", uri ? uri : "");
    k->route = route_label(k->uri);
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    k->sc = ci ? ci->socket_context : NULL;
    srv_conns_phase(&s->conns, k->sc, SRV_CONN_HEADERS);
    snprintf(k->rid, sizeof k->rid, "req-%llu", (unsigned long long)atomic_fetch_add(&s->next_http_id, 1) + 1);
    return k;
}

/* The kernel's view of connection c's socket (false when unknown). */
static bool tcp_info_of(struct MHD_Connection *c, struct tcp_info *ti) {
    const union MHD_ConnectionInfo *fi = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    socklen_t tl = sizeof *ti;
    memset(ti, 0, sizeof *ti);
    return fi && !getsockopt(fi->connect_fd, IPPROTO_TCP, TCP_INFO, ti, &tl);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    wf_server *s = cls;
    conn *k = *con_cls;
    (void)version;
    if (!k) { /* on_uri ran out of memory */
        if (!(k = on_uri(s, url, c))) return MHD_NO;
        *con_cls = k;
    }
    if (!k->seen) {
        k->seen = true;
        srv_conns_phase(&s->conns, k->sc, SRV_CONN_BODY);
        snprintf(k->method, sizeof k->method, "%s", method);
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl) {
            char *end;
            unsigned long long v = strtoull(cl, &end, 10);
            if (*end || v > s->cfg.max_body) {
                k->too_large = true;
                char msg[96];
                snprintf(msg, sizeof msg, "The request body is larger than %zu bytes.", s->cfg.max_body);
                return fail(k, 413, "invalid_request_error", "request_too_large", msg);
            }
        }
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (k->too_large) return MHD_YES;
        if (k->n_body + n > s->cfg.max_body) {
            k->too_large = true;
            free(k->body);
            k->body = NULL;
            k->n_body = k->cap_body = 0;
            return MHD_YES;
        }
        if (!WF_ARRAY_RESERVE(k->body, k->cap_body, k->n_body + n + 1)) return MHD_NO;
        memcpy(k->body + k->n_body, upload, n);
        k->n_body += n;
        return MHD_YES;
    }
    if (k->status) return MHD_YES; /* already answered (413 at the headers) */
    if (k->too_large) {
        char msg[96];
        snprintf(msg, sizeof msg, "The request body is larger than %zu bytes.", s->cfg.max_body);
        return fail(k, 413, "invalid_request_error", "request_too_large", msg);
    }
    srv_conns_phase(&s->conns, k->sc, SRV_CONN_BUSY);
    /* the request is all in, its answer not begun: what arrives after its
     * answer (a client may send as soon as it has read it, before
     * on_completed runs) is past this count */
    struct tcp_info ti;
    k->rx_ok = tcp_info_of(c, &ti);
    k->rx = ti.tcpi_bytes_received;
    /* ... but bytes pipelined behind it in the same write are in that count
     * too: its own size tells them apart (libmicrohttpd's measure of the
     * header block, request line to the blank line; a chunked body's
     * framing is not known) */
    const union MHD_ConnectionInfo *hi = MHD_get_connection_info(c, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
    bool chunked = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL;
    k->wire = hi && hi->header_size && !chunked ? (uint64_t)hi->header_size + k->n_body : 0;
    return dispatch(k, url, method);
}

/* What libmicrohttpd's own error answers mean (it queues them without
 * calling the handler: wafer has no message of its own for them). */
static const char *protocol_error(int status) {
    switch (status) {
    case 400: return "malformed HTTP request (answered by libmicrohttpd: bad request line, header or chunked body)";
    case 413: return "request too large (answered by libmicrohttpd)";
    case 414: return "request target too long (answered by libmicrohttpd)";
    case 431: return "request header fields too large (answered by libmicrohttpd)";
    case 501: return "not implemented (answered by libmicrohttpd)";
    case 505: return "HTTP version not supported (answered by libmicrohttpd)";
    default: return "answered by libmicrohttpd";
    }
}

/* The status the client received: the one queued on the connection (ours
 * or libmicrohttpd's); none queued means the connection closed first:
 * 499 (nginx's "client closed request") when the client left, else 0. */
static int wire_status(conn *k, enum MHD_RequestTerminationCode tc) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(k->c, MHD_CONNECTION_INFO_HTTP_STATUS);
    int st = ci ? (int)ci->http_status : k->status;
    if (st && !k->status && !k->errmsg[0] && st >= 400) snprintf(k->errmsg, sizeof k->errmsg, "%s", protocol_error(st));
    if (!st) st = tc == MHD_REQUEST_TERMINATED_CLIENT_ABORT || tc == MHD_REQUEST_TERMINATED_READ_ERROR || k->gone ? 499 : 0;
    if (!k->errmsg[0] && !st) snprintf(k->errmsg, sizeof k->errmsg, "%s", tc == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED ? "connection timed out before a response" : "connection closed before a response");
    /* a non-streaming request whose client left: nothing was sent */
    if (k->gone && k->req && !k->req->api.stream) st = 499;
    return st;
}

/* Whether the peer's FIN may have arrived (it counts as one byte
 * received): the socket is in one of these states (Linux's numbering,
 * tcp_states.h, which <linux/tcp.h> does not carry). CLOSE is also where
 * a reset leaves it: one byte less is then counted, never one more. */
enum { WF_TCP_TIME_WAIT = 6, WF_TCP_CLOSE = 7, WF_TCP_CLOSE_WAIT = 8, WF_TCP_LAST_ACK = 9, WF_TCP_CLOSING = 11 };
static bool peer_fin(const struct tcp_info *ti) {
    unsigned st = ti->tcpi_state;
    return st == WF_TCP_CLOSE_WAIT || st == WF_TCP_LAST_ACK || st == WF_TCP_CLOSING || st == WF_TCP_TIME_WAIT || st == WF_TCP_CLOSE;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode tc) {
    wf_server *s = cls;
    conn *k = *con_cls;
    if (!k) return;
    *con_cls = NULL;
    if (k->req) {
        if (tc != MHD_REQUEST_TERMINATED_COMPLETED_OK) k->gone = true;
        srv_cancel(s, k->req, false); /* a no-op when it finished */
        /* the engine stops it within a step: wait (bounded) so the log line
         * and the metrics see the final counts */
        pthread_mutex_lock(&s->mu);
        for (int i = 0; i < 500 && k->req->submitted && k->req->state != SRV_DONE; i++) srv_req_wait(s, k->req, WAIT_MS);
        pthread_mutex_unlock(&s->mu);
    }
    int status = wire_status(k, tc);
    pthread_mutex_lock(&s->mu);
    srv_metrics_count_status(&s->metrics, k->route, status);
    pthread_mutex_unlock(&s->mu);
    if (status != 200 || (strcmp(k->route, "/health") && strcmp(k->route, "/metrics"))) {
        srv_log_info li = {k->rid, k->method[0] ? k->method : "-", k->uri, k->route, status >= 400 || !status ? k->errmsg : NULL,
                           status, k->t_start};
        srv_log_request(s, k->req, &li);
    }
    large_leave(k);
    srv_req_release(s, k->req);
    srv_conns_phase(&s->conns, k->sc, SRV_CONN_IDLE);
    if (k->streamed) MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, mhd_backstop(s));
    /* what arrives after this request and is never answered is counted at close */
    bool whole = tc == MHD_REQUEST_TERMINATED_COMPLETED_OK && k->status && !k->too_large && k->rx_ok;
    srv_conns_request_end(&s->conns, k->sc, whole, k->rx_ok ? k->rx : 0, k->too_large ? 0 : k->wire);
    free(k->body);
    wf_buf_free(&k->pend);
    free(k);
}

/* A request that never reached wafer's handler (no request line read):
 * counted and logged under "other" with the status the client received. */
static void count_unrouted(wf_server *s, int status, const char *why) {
    char rid[48];
    snprintf(rid, sizeof rid, "req-%llu", (unsigned long long)atomic_fetch_add(&s->next_http_id, 1) + 1);
    pthread_mutex_lock(&s->mu);
    srv_metrics_count_status(&s->metrics, "other", status);
    pthread_mutex_unlock(&s->mu);
    srv_log_info li = {rid, "-", "-", "other", why, status, wf_time_now()};
    srv_log_request(s, NULL, &li);
}

/* libmicrohttpd's error log (on the connection's own thread). Its error
 * answers name their status ("HTTP response code is N"); one sent while no
 * request of this connection is under way (a malformed request line, an
 * HTTP version it does not speak) reaches no handler, so it is counted
 * here. Everything else it logs is left out, as before. */
static void on_mhd_log(void *cls, const char *fm, va_list ap) {
    wf_server *s = cls;
    char msg[256];
    vsnprintf(msg, sizeof msg, fm, ap);
    const char *p = strstr(msg, "HTTP response code is ");
    if (!p) return;
    int st = atoi(p + strlen("HTTP response code is "));
    if (st < 400 || st > 599 || srv_conns_thread_busy(&s->conns)) return;
    srv_conns_answered_here(&s->conns);
    count_unrouted(s, st, protocol_error(st));
}

/* A connection closing that sent bytes after its last answered request (or
 * since it opened) that never became a request line libmicrohttpd could
 * read, and got no answer for them (it closes on a malformed line; wafer's
 * timeouts close one that stopped mid-line): status 0. The kernel's byte
 * counts say what crossed the wire (each includes the FIN). After an
 * earlier request, the bytes past it: past the kernel's count when it was
 * all in (sent later), or past the requests' own sizes (pipelined behind it
 * in the same write); a client may send a stray CRLF before each request
 * line, so up to 2 bytes a request are let pass. */
static void count_unanswered(wf_server *s, struct MHD_Connection *c, const srv_conn *sc) {
    srv_conn_tail t;
    if (!srv_conns_unasked(&s->conns, sc, &t)) return;
    bool timed_out = t.timed_out;
    uint64_t mark = t.rx_mark;
    struct tcp_info ti;
    if (!tcp_info_of(c, &ti)) return;
    if (t.n_req == 0) {
        if (ti.tcpi_bytes_received <= 1 || ti.tcpi_bytes_acked > 1) return; /* nothing asked, or an answer sent */
        count_unrouted(s, 0, timed_out ? "closed by the server before a whole request line arrived (timeout or connection limit)"
                                       : "malformed request line: closed by libmicrohttpd without an answer");
        return;
    }
    uint64_t got = ti.tcpi_bytes_received - (peer_fin(&ti) ? 1 : 0);
    bool later = mark && got > mark + 2;
    bool along = t.pos_ok && got > t.pos + 2 * (uint64_t)t.n_req;
    if (!later && !along) return; /* nothing (or a CRLF) after the last request */
    count_unrouted(s, 0, timed_out ? "closed by the server before a whole request line arrived after an earlier request on "
                                     "this keep-alive connection (timeout or connection limit)"
                                   : "bytes after an earlier request on this connection that never became a request (a "
                                     "malformed request line, or anything after Connection: close): closed by libmicrohttpd "
                                     "without an answer");
}

/* libmicrohttpd's connection notifications: the record of every open
 * connection (conns.c), made before its first byte is read and removed
 * before its socket is closed. */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context, enum MHD_ConnectionNotificationCode code) {
    wf_server *s = cls;
    if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        count_unanswered(s, c, *socket_context);
        srv_conns_close(&s->conns, *socket_context);
        *socket_context = NULL;
        return;
    }
    const union MHD_ConnectionInfo *fi = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    const union MHD_ConnectionInfo *ai = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!fi) return;
    const struct sockaddr *sa = ai ? ai->client_addr : NULL;
    unsigned alen = !sa ? 0 : sa->sa_family == AF_INET6 ? (unsigned)sizeof(struct sockaddr_in6) : (unsigned)sizeof(struct sockaddr_in);
    *socket_context = srv_conns_open(&s->conns, fi->connect_fd, sa, alen);
}

/* ---- daemon ------------------------------------------------------------- */

/* Bind and listen ourselves (without SO_REUSEPORT, so that a second server
 * on the same port fails instead of sharing it) to name the cause. */
static wf_status listen_on(const wf_server *s, int *out_fd, bool *v6, wf_error *err) {
    *out_fd = -1;
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    char port[16];
    snprintf(port, sizeof port, "%d", s->cfg.port);
    int g = getaddrinfo(s->cfg.host, port, &hints, &ai);
    if (g || !ai) return wf_fail(err, WF_ERR_INVALID_ARG, "serve: cannot resolve host '%s': %s", s->cfg.host, gai_strerror(g));
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        freeaddrinfo(ai);
        return wf_fail(err, WF_ERR_IO, "serve: socket: %s", strerror(errno));
    }
    int one = 1; /* SO_REUSEADDR: rebind over TIME_WAIT, never over a listener */
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    *v6 = ai->ai_family == AF_INET6;
    wf_status st = WF_OK;
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 511)) {
        int e = errno;
        if (e == EADDRINUSE)
            st = wf_fail(err, WF_ERR_IO, "serve: port %d on %s is already in use (another server is listening there; pick another --port)",
                    s->cfg.port, s->cfg.host);
        else
            st = wf_fail(err, WF_ERR_IO, "serve: cannot listen on %s port %d: %s", s->cfg.host, s->cfg.port, strerror(e));
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    *out_fd = fd;
    return st;
}

wf_status srv_http_start(wf_server *s, wf_error *err) {
    bool v6 = false;
    int fd;
    wf_status st = listen_on(s, &fd, &v6, err);
    if (st != WF_OK) return st;
    /* MHD_USE_ERROR_LOG: its messages go to on_mhd_log (never printed) */
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    if (v6) flags |= MHD_USE_IPv6;
    if ((st = srv_conns_start(&s->conns, &s->cfg, err)) != WF_OK) {
        close(fd);
        return st;
    }
    /* libmicrohttpd's own limits sit above wafer's (conns.c), which act
     * first: its connection limit stops accepting, its timeout is for
     * inactivity only, a backstop here */
    unsigned hard = (unsigned)s->cfg.max_conns + 64 + (unsigned)s->cfg.max_conns / 8;
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s, MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd, MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
        MHD_OPTION_CONNECTION_TIMEOUT, mhd_backstop(s), MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
        MHD_OPTION_CONNECTION_LIMIT, hard, MHD_OPTION_END);
    if (!d) {
        srv_conns_stop(&s->conns);
        close(fd);
        return wf_fail(err, WF_ERR_IO, "serve: cannot start the HTTP daemon on %s port %d", s->cfg.host, s->cfg.port);
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : s->cfg.port;
    s->mhd = d;
    return WF_OK;
}

void srv_http_quiesce(wf_server *s) {
    if (!s->mhd) return;
    MHD_socket fd = MHD_quiesce_daemon(s->mhd);
    if (fd != MHD_INVALID_SOCKET) close(fd);
}

void srv_http_stop(wf_server *s) {
    if (!s->mhd) return;
    MHD_stop_daemon(s->mhd);
    s->mhd = NULL;
    srv_conns_stop(&s->conns);
}
