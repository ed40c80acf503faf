/* serve_int.h — the server's private state, shared by server.c (life
 * cycle, logging), engine.c (queue, slots, the engine thread),
 * prompt.c (requests -> prompt tokens), http.c (libmicrohttpd
 * glue, routing, streaming) and metrics.c (Prometheus text).
 * Not an API: other modules use server.h. */
#ifndef WF_SERVER_INT_H
#define WF_SERVER_INT_H

#include "serve/api.h"
#include "chat/fim.h"
#include "serve/server.h"
#include "chat/template.h"
#include "grammar/grammar.h"

#include <pthread.h>
#include <stdatomic.h>

/* ---- one request, shared by its HTTP thread and the engine ---------------- */

typedef enum srv_state { SRV_QUEUED = 0, SRV_RUNNING, SRV_DONE } srv_state;

typedef struct srv_req srv_req;
typedef struct srv_resp srv_resp;     /* responses.c: a stream's progress     */
typedef struct srv_rstore srv_rstore; /* responses.c: kept responses          */
struct srv_req {
    srv_req *q_next;          /* waiting queue (engine)                       */
    srv_req *all_prev, *all_next; /* every live request (cancel by id)        */
    int refs;                 /* HTTP side + engine side; freed at 0          */
    wf_server *srv;
    char id[48];              /* "chatcmpl-..." / "cmpl-..." / "infill-..."    */
    char path[40];            /* endpoint, for logs and metrics               */
    wf_api_request api;       /* the parsed request (owns stops, texts)       */
    bool interactive;         /* streaming chat / FIM: admitted first         */

    /* what the engine runs */
    int32_t *prompt;          /* (n_prompt) */
    size_t n_prompt;
    int32_t *pred;            /* (n_pred) prediction tokens, or NULL          */
    size_t n_pred;
    wf_sampler_params sp;
    wf_gen_params gp;
    bool fim;                 /* stop at the FIM end tokens                    */
    wf_grammar *grammar;      /* the answer's constraint, or NULL             */
    char *echo;               /* completions echo: the prompt text            */
    size_t echo_len;

    /* progress (under srv->mu) */
    srv_state state;
    bool submitted;           /* accepted by srv_submit (the engine holds it) */
    bool cancel;              /* client gone / cancelled: stop at once         */
    bool cancel_explicit;     /* by POST /v1/requests/{id}/cancel              */
    bool time_limited;        /* stopped by t_max_predict_ms                   */
    int slot;                 /* -1 while queued                               */
    char *text;               /* (n_text) text emitted so far                  */
    size_t n_text, cap_text;
    int32_t *ids;             /* (n_ids) emitted token ids                     */
    size_t n_ids, cap_ids;
    float *lp;                /* (n_ids) log-probability of each, when asked   */
    int32_t *top_id;          /* (n_ids * api.logprobs) alternatives, best first */
    float *top_lp;
    size_t cap_lp;
    bool fim_stopped;
    bool oom;
    wf_gen_result res;
    wf_status st;
    char errmsg[600];
    pthread_cond_t cv;        /* signalled on new text and when done          */

    double t_arrive, t_admit, t_first, t_end; /* wf_time_now()                */
    int64_t created;          /* unix seconds                                 */
    int http_status;          /* for the log line                             */
    srv_resp *resp;           /* /v1/responses only (responses.c)             */
};

/* ---- metrics ----------------------------------------------------------- */

#define SRV_HIST_N 14
typedef struct srv_hist {
    uint64_t counts[SRV_HIST_N + 1]; /* per bucket (last: +Inf)             */
    double sum;
    uint64_t n;
} srv_hist;

#define SRV_MAX_STATUS_ROWS 48
typedef struct srv_metrics {
    struct { char path[40]; int status; uint64_t n; } rows[SRV_MAX_STATUS_ROWS];
    int n_rows;
    uint64_t prompt_tokens, cached_tokens, generated_tokens;
    uint64_t requests_cancelled, requests_rejected_queue;
    uint64_t draft_proposed, draft_accepted, pred_accepted, pred_rejected;
    srv_hist ttft, per_token, queue_wait;
} srv_metrics;

void srv_metrics_count_status(srv_metrics *m, const char *path, int status);
void srv_metrics_observe(srv_hist *h, double seconds);
/* Prometheus text exposition of m plus the live gauges. malloc'd. */
char *srv_metrics_text(const srv_metrics *m, int queue_depth, int slots_busy, int n_slots,
                       const wf_prefix_cache_stats *pc, const wf_grammar_cache_stats *gc);

/* ---- connections (conns.c) --------------------------------------------- */

typedef enum srv_conn_phase { SRV_CONN_IDLE = 0, SRV_CONN_HEADERS, SRV_CONN_BODY, SRV_CONN_BUSY } srv_conn_phase;
/* why the server closed a connection (metrics) */
enum { SRV_CLOSE_IDLE = 0, SRV_CLOSE_HEADERS, SRV_CLOSE_BODY, SRV_CLOSE_SEND, SRV_CLOSE_EVICT_IP, SRV_CLOSE_EVICT_ALL, SRV_CLOSE_N };

typedef struct srv_conn srv_conn;
typedef struct srv_conns {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t reaper;
    bool started, quit;
    srv_conn *head, *tail;    /* every open connection, oldest first          */
    int n_open;               /* in the list                                  */
    int n_live;               /* in the list and not refused                  */
    int max_conns, max_per_ip;
    double idle_s, header_s, body_s, send_s;
    uint64_t n_refused;
    uint64_t n_closed[SRV_CLOSE_N];
} srv_conns;

wf_status srv_conns_start(srv_conns *cs, const wf_server_config *cfg, wf_error *err);
void srv_conns_stop(srv_conns *cs);
struct sockaddr;
/* A new connection (libmicrohttpd's "started" notification): applies the
 * limits (may close an older idle connection, or answer this one 503).
 * NULL when out of memory (the connection is then shut down). */
srv_conn *srv_conns_open(srv_conns *cs, int fd, const struct sockaddr *addr, unsigned alen);
void srv_conns_close(srv_conns *cs, srv_conn *c); /* "closed": before the fd is */
void srv_conns_phase(srv_conns *cs, srv_conn *c, srv_conn_phase p);
/* Whether the calling thread is a connection's whose request is under way
 * (libmicrohttpd runs one thread per connection): an error libmicrohttpd
 * answers on this thread is then that request's, counted when it ends. */
bool srv_conns_thread_busy(srv_conns *cs);
/* A request on connection c ended (on its own thread, before libmicrohttpd
 * reads the next): whole when it was answered by wafer and its body read
 * to the end (the connection may carry another); rx is the kernel's count
 * of bytes received on it when the request was all in, before its answer
 * began (TCP_INFO), 0 when unknown; wire is the request's own size on the
 * wire (header block + Content-Length body), 0 when unknown (chunked). */
void srv_conns_request_end(srv_conns *cs, srv_conn *c, bool whole, uint64_t rx, uint64_t wire);
/* libmicrohttpd answered an error on the calling thread's connection while
 * no request of it was under way (counted by http.c's log hook). */
void srv_conns_answered_here(srv_conns *cs);
/* What a closing connection had asked: see srv_conns_unasked. */
typedef struct srv_conn_tail {
    unsigned n_req;     /* requests begun on it                                */
    uint64_t rx_mark;   /* the kernel's bytes received when the last was all in (0: none) */
    bool pos_ok;        /* pos is known                                       */
    uint64_t pos;       /* the sum of its requests' sizes on the wire: where the
                           last ended, less any blank lines before a request line
                           (libmicrohttpd skips them uncounted)                 */
    bool timed_out;     /* closed by wafer (a timeout or eviction)            */
} srv_conn_tail;
/* Whether connection c (not yet closed) is waiting for a request line with
 * nothing answered since its last request ended whole (or it never had
 * one); *t says how far its requests went. */
bool srv_conns_unasked(srv_conns *cs, const srv_conn *c, srv_conn_tail *t);
/* Connections whose request is being answered (phase BUSY): the answer has
 * not been sent whole yet. */
int srv_conns_n_busy(srv_conns *cs);
/* Bytes that arrived on open connections and libmicrohttpd has not read
 * yet (FIONREAD); fuzz_http waits for 0 before judging the server idle. */
long srv_conns_unread(srv_conns *cs);
/* A streamed answer's reader starts (true: it may wait for tokens) or
 * returns (false); the send timeout counts from the last return. */
void srv_conns_reader(srv_conns *cs, srv_conn *c, bool entering);
/* The connection gauges and counters, Prometheus text, into buf. */
void srv_conns_metrics(srv_conns *cs, char *buf, size_t cap);

/* ---- the server ---------------------------------------------------------- */

typedef struct srv_slot {
    wf_session *sess;
    srv_req *req;             /* running request, or NULL (free)              */
} srv_slot;

struct wf_server {
    wf_model *m;
    const wf_vocab *v;
    wf_server_config cfg;     /* strings below are owned copies              */
    char *host, *api_key, *model_name;
    int32_t n_ctx;            /* per slot                                    */
    int32_t n_vocab;

    wf_template *tmpl;
    const char *tmpl_source;  /* /props: "model", "option" or "none" (ChatML)  */
    wf_api_tool_format tool_format; /* how the template's model writes tool calls */
    bool tmpl_tools;          /* the template renders `tools` (else prompt.c adds
                                 wafer's default tool prompt)                  */
    bool harmony;             /* gpt-oss: answers are harmony channels, shown as
                                 reasoning, content and tool calls (harmony_answer.c) */
    wf_grammar_vocab *gvocab; /* token trie for constrained requests         */
    wf_grammar_cache *gcache; /* compiled grammars by GBNF text, with their masks,
                                 for the next request with the same constraint */
    char *bos_text, *eos_text;
    bool has_fim;
    wf_fim_format fim;

    srv_slot *slots;          /* (cfg.n_parallel) owned by the engine thread */
    wf_prefix_cache *pc;
    srv_rstore *rstore;       /* kept responses (responses.c), or NULL        */

    pthread_mutex_t mu;       /* queue, slots' req, requests' progress, metrics */
    pthread_cond_t engine_cv; /* work for the engine                          */
    srv_req *q_head, *q_tail;
    int n_queued;
    srv_req *all;             /* every live request                          */
    int n_live;               /* requests accepted and not yet finished      */
    bool quit;                /* engine thread: exit                         */
    bool draining;            /* refuse new requests                         */
    size_t large_bytes;       /* large bodies being parsed / tokenized (http.c) */
    uint64_t next_id;
    atomic_ullong next_http_id; /* ids of requests that do not generate       */
    srv_metrics metrics;

    pthread_t engine;
    bool engine_started;
    void *mhd;                /* struct MHD_Daemon *                          */
    srv_conns conns;          /* every open connection, limits, timeouts      */
    int port;
    int64_t started;          /* unix seconds                                */
};

/* engine.c */
void *srv_engine_main(void *arg);
/* Queue r (taking a reference for the engine). false + *e when the queue is
 * full (429) or the server is draining (503). */
bool srv_submit(wf_server *s, srv_req *r, wf_api_error *e);
/* Ask r to stop (client gone, or explicit); safe at any state. */
void srv_cancel(wf_server *s, srv_req *r, bool explicit_cancel);
/* Cancel by id; false when no such live request. */
bool srv_cancel_id(wf_server *s, const char *id);
srv_req *srv_req_new(wf_server *s, const char *prefix, const char *path);
void srv_req_release(wf_server *s, srv_req *r); /* drops one reference */
/* Wait (under s->mu, which the caller holds) up to ms for news on r. */
void srv_req_wait(wf_server *s, srv_req *r, int ms);
/* Whether a chat answer is parsed for tool calls: tools given, and not a
 * forced call cut by max_tokens. */
bool srv_parse_tool_calls(const srv_req *r);
/* The OpenAI finish_reason / llama.cpp stop_type of a finished request. */
const char *srv_finish_reason(const srv_req *r);
/* A harmony server's view of r's answer so far (final once r is done);
 * false when out of memory. */
bool srv_harmony_view(const wf_server *s, const srv_req *r, wf_api_harmony *h);
const char *srv_stop_type(const srv_req *r);
void srv_fill_usage(const srv_req *r, wf_api_usage *u);

/* prompt.c: the prompt tokens (and generation parameters) for a
 * parsed generating request; false + *e (400 / 500) when it cannot be
 * built or does not fit the context. */
bool srv_prepare(wf_server *s, srv_req *r, wf_api_error *e);
/* Chat prompt: render the template, tokenize with special tokens parsed in
 * template text only (never inside message contents). */
bool srv_chat_tokens(wf_server *s, const wf_api_request *a, int32_t **ids, size_t *n, wf_api_error *e);
/* Does the template show the model a request's tools? (a probe render) */
bool srv_template_shows_tools(const wf_server *s);

/* server.c */
/* What the log line says of any request. */
typedef struct srv_log_info {
    const char *id;           /* the response's id / X-Request-Id              */
    const char *method;
    const char *path;         /* the request target as sent                   */
    const char *route;        /* the metrics endpoint label                    */
    const char *error;        /* the error message of a 4xx/5xx, or NULL       */
    int status;               /* as received by the client (0: none)           */
    double t_start;
} srv_log_info;
/* One line per request: r may be NULL (requests that did not generate). */
void srv_log_request(wf_server *s, const srv_req *r, const srv_log_info *li);
/* http.c */
wf_status srv_http_start(wf_server *s, wf_error *err);
void srv_http_quiesce(wf_server *s); /* stop accepting connections */
void srv_http_stop(wf_server *s);

#endif /* WF_SERVER_INT_H */
