/* server.h — `wafer serve`: an OpenAI-compatible (and llama.cpp-server
 * compatible) HTTP server over the generation session API.
 *
 * One engine thread owns the model's slot sessions (--parallel) and the
 * prefix cache and steps every busy slot together (wf_sessions_step:
 * continuous batching); HTTP connection threads (libmicrohttpd, one thread
 * per connection) parse and tokenize requests, hand them to the engine
 * through a bounded queue and stream the tokens back. See docs/server.md. */
#ifndef WF_SERVER_H
#define WF_SERVER_H

#include "gen/gen.h"

typedef struct wf_server wf_server;

/* Receives one finished log line (no newline), from any thread. */
typedef void (*wf_server_log_fn)(void *user, const char *line);

typedef struct wf_server_config {
    const char *host;          /* address to bind ("127.0.0.1")                 */
    int port;                  /* 8080; 0 picks a free port (wf_server_port)    */
    int32_t n_parallel;        /* slots decoded together (4)                    */
    int32_t n_queue;           /* requests waiting for a slot before 429 (64)   */
    wf_context_params ctx;     /* per slot; n_ctx 0: wf_server_default_n_ctx    */
    int32_t prefill_chunk;     /* prompt tokens per engine step (0: 256)        */
    const char *api_key;       /* NULL: no auth; else Bearer required (not /health) */
    const char *model_name;    /* id reported by /v1/models ("wafer")           */
    const char *chat_template; /* template source; NULL: the model's, else ChatML */
    size_t max_body;           /* larger request bodies get 413 (8 MiB)         */
    unsigned timeout_s;        /* keep-alive idle: no request line for this long closes (30 s) */
    unsigned header_timeout_s; /* request line to the end of the headers (10 s) */
    unsigned body_timeout_s;   /* end of the headers to the end of the body (60 s) */
    unsigned send_timeout_s;   /* a client that stops reading a stream (30 s)   */
    int32_t max_conns;         /* open connections; the oldest idle one goes (1024) */
    int32_t max_conns_per_ip;  /* open connections per client address (256)     */
    int32_t max_tokens_default;/* when a request sets no limit (-1: context)    */
    wf_spec_mode spec;         /* speculative decoding for every request        */
    int32_t draft_max;         /* <= 0: default                                 */
    wf_model *draft;           /* draft model for WF_SPEC_DRAFT, or NULL        */
    uint64_t cache_bytes;      /* prefix cache size (0: off)                    */
    int32_t responses_max;     /* /v1/responses kept for previous_response_id
                                  (256; 0: none kept)                           */
    uint64_t responses_bytes;  /* and at most this many bytes (64 MiB)          */
    bool log_json;             /* one JSON object per request line              */
    bool no_ui;                /* do not serve the web app at / (static.h)      */
    wf_server_log_fn log;      /* NULL: no logging                              */
    void *log_user;
} wf_server_config;

void wf_server_config_init(wf_server_config *c);

/* Most tokens of context a slot gets by default: every slot's KV cache must
 * fit at once (wf_server_create refuses a size that does not), and an
 * agent's first request (6-12k tokens) fits in 16k. */
#define WF_SERVER_SLOT_CTX_MAX 16384
/* The per-slot context when the config's ctx.n_ctx is 0: the model's
 * training context, at most WF_SERVER_SLOT_CTX_MAX. */
int32_t wf_server_default_n_ctx(const wf_model *m);

/* Create the slots, the prefix cache and the template (the model must
 * outlive the server). Nothing is bound yet. */
wf_status wf_server_create(wf_model *m, const wf_server_config *cfg, wf_server **out, wf_error *err);
/* Bind, start the engine and the HTTP threads. */
wf_status wf_server_start(wf_server *s, wf_error *err);
/* The port bound (useful with port 0). */
int wf_server_port(const wf_server *s);
/* Tokens of context per slot. */
int32_t wf_server_n_ctx(const wf_server *s);
/* Graceful stop: refuse new requests (503; the listening socket is closed),
 * let running and queued requests finish for up to timeout_s seconds, then
 * cancel what is left; returns when every request has ended. */
void wf_server_drain(wf_server *s, double timeout_s);
/* Stop everything and free (drains with timeout 0 if still running). */
void wf_server_free(wf_server *s);

#endif /* WF_SERVER_H */
