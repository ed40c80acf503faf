/* cmd_serve.c — `wafer serve`: load the model, start the OpenAI-compatible
 * HTTP server (src/serve/server.h), wait for SIGTERM / SIGINT, drain, exit. */
#include "cli.h"

#include "serve/server.h"
#include "chat/template.h"

#include <errno.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The signal handler reaches only this pipe (set once before the handlers). */
static int serve_sig_pipe[2] = {-1, -1};

static void on_signal(int sig) {
    unsigned char c = (unsigned char)sig;
    int e = errno;
    ssize_t w = write(serve_sig_pipe[1], &c, 1);
    (void)w;
    errno = e;
}

static void usage(FILE *f) {
    fprintf(f, "usage: wafer serve [-m MODEL] [--host 127.0.0.1] [--port 8080] [--parallel N] [options]\n\n"
               "An OpenAI-compatible HTTP server (/v1/chat/completions, /v1/responses, /v1/completions,\n"
               "/v1/models)\n"
               "that also speaks llama.cpp's server API (/completion, /infill, /tokenize,\n"
               "/detokenize, /health), with /metrics (Prometheus) and\n"
               "POST /v1/requests/{id}/cancel. SIGTERM or Ctrl-C drains: new requests get 503,\n"
               "running ones may finish (--drain-timeout), then the rest are cancelled.\n\n"
               "options:\n");
    cli_print_opts_help(f, CLI_G_MODEL | CLI_G_CTX);
    fprintf(f, "  --host ADDR             address to bind (default 127.0.0.1: this machine only)\n"
               "  --port N                TCP port (default 8080; 0 = any free port, printed)\n"
               "  -np, --parallel N       slots decoded together, continuous batching (default 4)\n"
               "  --queue N               requests waiting for a slot before 429 (default 64)\n"
               "                          (-c is per slot; default min(training context, 16384))\n"
               "  --api-key KEY           require Authorization: Bearer KEY (not for /health)\n"
               "  --api-key-file FILE     the same, the key read from the first line of FILE\n"
               "  --alias NAME            model id reported by /v1/models (default: file name)\n"
               "  --chat-template X       a template file or built-in name:");
    for (const char *const *n = wf_template_builtin_names(); *n; n++) fprintf(f, " %s", *n);
    fprintf(f, "\n"
               "                          (default: the model's tokenizer.chat_template, else chatml)\n"
               "  --spec lookup|none      speculative decoding by prompt lookup (default none;\n"
               "                          requests with `prediction` always draft from it)\n"
               "  --draft MODEL           a small draft model with the same vocabulary\n"
               "  --draft-max N           longest draft checked in one step, for every source\n"
               "                          (default 16, and 255 for a prediction's drafts on a\n"
               "                          model of 64 MiB or more; at most 255; 31 where the\n"
               "                          kernels are exact only up to 32 tokens a pass:\n"
               "                          K-quants on AVX2)\n"
               "  -n, --n-predict N       default token limit when a request sets none (-1: context)\n"
               "  --prefill-chunk N       prompt tokens per engine step (default 256)\n"
               "  --cache-mb N            cross-request prefix cache in MiB (default 256; 0 = off)\n"
               "  --max-body N            largest request body in bytes (default 8388608)\n"
               "  --responses-max N       /v1/responses kept for previous_response_id and GET\n"
               "                          (default 256; 0 = none kept; least recently used go first)\n"
               "  --responses-mb N        ... and at most N MiB of them (default 64)\n"
               "  --timeout S             keep-alive idle: a connection that sends no request line\n"
               "                          for S seconds is closed (default 30)\n"
               "  --header-timeout S      request line to the end of the headers (default 10)\n"
               "  --body-timeout S        end of the headers to the end of the body (default 60)\n"
               "  --send-timeout S        a client that stops reading a stream: cancelled and\n"
               "                          closed after S seconds (default 30)\n"
               "  --max-connections N     open connections; at the limit the oldest idle one is\n"
               "                          closed, or the new one gets 503 (default 1024)\n"
               "  --max-connections-per-ip N  the same per client address (default 256)\n"
               "  --drain-timeout S       on SIGTERM, wait this long for running requests (default 30)\n"
               "  --log-format text|json  one line per request on stderr (default text)\n"
               "  -q, --quiet             no request log\n"
               "  --no-ui                 do not serve the web app at / (chat, edit, complete)\n");
}

static void log_line(void *user, const char *line) {
    (void)user;
    fprintf(stderr, "%s\n", line);
    fflush(stderr);
}

static char *read_key_file(const char *path) {
    size_t len = 0;
    char *t = cli_read_file(path, &len);
    if (!t) return NULL;
    size_t n = strcspn(t, "\r\n");
    t[n] = 0;
    if (n == 0) {
        fprintf(stderr, "wafer serve: %s: the key is empty\n", path);
        free(t);
        return NULL;
    }
    return t;
}

static const char *base_name(const char *p) {
    const char *b = strrchr(p, '/');
    return b ? b + 1 : p;
}

int cmd_serve(int argc, char **argv) {
    cli_opts o;
    cli_opts_init(&o);
    wf_server_config cfg;
    wf_server_config_init(&cfg);
    const char *key_file = NULL, *tmpl_arg = NULL, *draft_path = NULL, *alias = NULL;
    float drain_s = 30.0f;
    int32_t port = 8080, cache_mb = 256, timeout_s = 30, hdr_s = 10, body_s = 60, send_s = 30, max_conns = 1024, max_ip = 256, max_body = 8 << 20, n_predict = -1, responses_mb = 64;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int r = cli_take_opt(&o, CLI_G_MODEL | CLI_G_CTX, argc, argv, &i);
        if (r < 0) return 2;
        if (r > 0) continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            o.quiet = true;
            continue;
        }
        if (!strcmp(a, "--no-ui")) {
            cfg.no_ui = true;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "wafer serve: unknown option or missing value: %s\n", a);
            return 2;
        }
        const char *v = argv[++i];
        if (!strcmp(a, "--host")) cfg.host = v;
        else if (!strcmp(a, "--port")) { if (!cli_parse_i32(a, v, 0, 65535, &port)) return 2; }
        else if (!strcmp(a, "-np") || !strcmp(a, "--parallel")) { if (!cli_parse_i32(a, v, 1, 256, &cfg.n_parallel)) return 2; }
        else if (!strcmp(a, "--queue")) { if (!cli_parse_i32(a, v, 0, 1 << 20, &cfg.n_queue)) return 2; }
        else if (!strcmp(a, "--api-key")) cfg.api_key = v;
        else if (!strcmp(a, "--api-key-file")) key_file = v;
        else if (!strcmp(a, "--alias")) alias = v;
        else if (!strcmp(a, "--chat-template")) tmpl_arg = v;
        else if (!strcmp(a, "--draft")) draft_path = v;
        else if (!strcmp(a, "--draft-max")) { if (!cli_parse_i32(a, v, 1, WF_SPEC_DRAFT_MAX_LIMIT, &cfg.draft_max)) return 2; }
        else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) { if (!cli_parse_i32(a, v, -1, 1 << 24, &n_predict)) return 2; }
        else if (!strcmp(a, "--prefill-chunk")) { if (!cli_parse_i32(a, v, 1, 1 << 16, &cfg.prefill_chunk)) return 2; }
        else if (!strcmp(a, "--cache-mb")) { if (!cli_parse_i32(a, v, 0, 1 << 20, &cache_mb)) return 2; }
        else if (!strcmp(a, "--responses-max")) { if (!cli_parse_i32(a, v, 0, 1 << 20, &cfg.responses_max)) return 2; }
        else if (!strcmp(a, "--responses-mb")) { if (!cli_parse_i32(a, v, 0, 1 << 20, &responses_mb)) return 2; }
        else if (!strcmp(a, "--max-body")) { if (!cli_parse_i32(a, v, 1024, 1 << 30, &max_body)) return 2; }
        else if (!strcmp(a, "--timeout")) { if (!cli_parse_i32(a, v, 1, 86400, &timeout_s)) return 2; }
        else if (!strcmp(a, "--header-timeout")) { if (!cli_parse_i32(a, v, 1, 86400, &hdr_s)) return 2; }
        else if (!strcmp(a, "--body-timeout")) { if (!cli_parse_i32(a, v, 1, 86400, &body_s)) return 2; }
        else if (!strcmp(a, "--send-timeout")) { if (!cli_parse_i32(a, v, 1, 86400, &send_s)) return 2; }
        else if (!strcmp(a, "--max-connections")) { if (!cli_parse_i32(a, v, 1, 1 << 16, &max_conns)) return 2; }
        else if (!strcmp(a, "--max-connections-per-ip")) { if (!cli_parse_i32(a, v, 1, 1 << 16, &max_ip)) return 2; }
        else if (!strcmp(a, "--drain-timeout")) { if (!cli_parse_f32(a, v, 0, 86400, &drain_s)) return 2; }
        else if (!strcmp(a, "--spec")) {
            if (!strcmp(v, "lookup")) cfg.spec = WF_SPEC_LOOKUP;
            else if (!strcmp(v, "none")) cfg.spec = WF_SPEC_NONE;
            else { fprintf(stderr, "wafer serve: --spec takes lookup or none (a draft model: --draft FILE)\n"); return 2; }
        } else if (!strcmp(a, "--log-format")) {
            if (!strcmp(v, "json")) cfg.log_json = true;
            else if (!strcmp(v, "text")) cfg.log_json = false;
            else { fprintf(stderr, "wafer serve: --log-format takes text or json\n"); return 2; }
        } else {
            fprintf(stderr, "wafer serve: unknown option: %s (see wafer serve --help)\n", a);
            return 2;
        }
    }
    char model_buf[CLI_PATH_MAX];
    const char *model_path = cli_model_or_default(o.model, model_buf, sizeof model_buf);
    if (!model_path) return 2;
    o.model = model_path;
    int rc = 1;
    char *key = NULL, *tmpl_text = NULL;
    wf_model *m = NULL, *dm = NULL;
    wf_server *srv = NULL;
    if (key_file) {
        if (!(key = read_key_file(key_file))) return 2;
        cfg.api_key = key;
    }
    if (tmpl_arg) {
        const char *b = wf_template_builtin(tmpl_arg);
        size_t len = 0;
        if (b) cfg.chat_template = b;
        else if ((tmpl_text = cli_read_file(tmpl_arg, &len))) cfg.chat_template = tmpl_text;
        else goto done;
    }
    if (!(m = cli_load_model(&o))) goto done;
    cli_note_draft_max(m, cfg.draft_max);
    if (draft_path) {
        cli_opts d = o;
        d.model = draft_path;
        if (!(dm = cli_load_model(&d))) goto done;
        cfg.draft = dm;
        cfg.spec = WF_SPEC_DRAFT;
    }
    cfg.port = port;
    cfg.ctx.n_ctx = o.ctx_size;
    cfg.ctx.n_threads = o.threads;
    cfg.ctx.n_batch = o.batch;
    cfg.ctx.kv_type = o.kv;
    cfg.cache_bytes = (uint64_t)cache_mb << 20;
    cfg.responses_bytes = (uint64_t)responses_mb << 20;
    cfg.max_body = (size_t)max_body;
    cfg.timeout_s = (unsigned)timeout_s;
    cfg.header_timeout_s = (unsigned)hdr_s;
    cfg.body_timeout_s = (unsigned)body_s;
    cfg.send_timeout_s = (unsigned)send_s;
    cfg.max_conns = max_conns;
    cfg.max_conns_per_ip = max_ip;
    cfg.max_tokens_default = n_predict;
    cfg.model_name = alias ? alias : base_name(o.model);
    cfg.log = log_line;
    if (o.quiet) cfg.log = NULL;

    /* descriptors for every connection libmicrohttpd may hold (the soft
     * limit is often 1024): raise the soft limit, or lower the cap */
    struct rlimit nf;
    if (!getrlimit(RLIMIT_NOFILE, &nf)) {
        rlim_t want = (rlim_t)max_conns + (rlim_t)max_conns / 8 + 64 + 64;
        if (nf.rlim_cur < want) {
            nf.rlim_cur = nf.rlim_max < want ? nf.rlim_max : want;
            setrlimit(RLIMIT_NOFILE, &nf);
            getrlimit(RLIMIT_NOFILE, &nf);
        }
        if (nf.rlim_cur < want) {
            int32_t cap = (int32_t)((nf.rlim_cur > 256 ? nf.rlim_cur - 128 : 128) * 8 / 9);
            fprintf(stderr, "wafer serve: warning: only %llu file descriptors allowed (ulimit -n): --max-connections %d -> %d\n",
                    (unsigned long long)nf.rlim_cur, cfg.max_conns, cap);
            cfg.max_conns = cap;
            if (cfg.max_conns_per_ip > cap) cfg.max_conns_per_ip = cap;
        }
    }

    wf_error err = {0};
    if (wf_server_create(m, &cfg, &srv, &err)) {
        fprintf(stderr, "wafer serve: %s\n", strncmp(err.msg, "serve: ", 7) ? err.msg : err.msg + 7);
        goto done;
    }
    if (pipe(serve_sig_pipe)) {
        fprintf(stderr, "wafer serve: pipe: %s\n", strerror(errno));
        goto done;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (wf_server_start(srv, &err)) {
        fprintf(stderr, "wafer serve: %s\n", strncmp(err.msg, "serve: ", 7) ? err.msg : err.msg + 7);
        goto done;
    }
    fprintf(stderr, "wafer serve: listening on http://%s%s%s:%d (model %s, %d slots of %d tokens%s)\n",
            strchr(cfg.host, ':') ? "[" : "", cfg.host, strchr(cfg.host, ':') ? "]" : "", wf_server_port(srv),
            cfg.model_name, cfg.n_parallel, wf_server_n_ctx(srv), cfg.api_key ? ", API key required" : "");
    if (!cfg.no_ui) {
        /* a wildcard address is not something to type in a browser */
        bool any = !strcmp(cfg.host, "0.0.0.0") || !strcmp(cfg.host, "::");
        const char *h = any ? (strchr(cfg.host, ':') ? "::1" : "127.0.0.1") : cfg.host;
        fprintf(stderr, "wafer serve: the app (chat, edit, complete): open http://%s%s%s:%d/ in a browser\n",
                strchr(h, ':') ? "[" : "", h, strchr(h, ':') ? "]" : "", wf_server_port(srv));
    }
    fflush(stderr);
    unsigned char sig = 0;
    for (;;) {
        ssize_t r = read(serve_sig_pipe[0], &sig, 1);
        if (r == 1) break;
        if (r < 0 && errno == EINTR) continue;
        break;
    }
    fprintf(stderr, "wafer serve: %s: draining (up to %.0f s)\n", sig == SIGINT ? "interrupt" : "terminate", drain_s);
    fflush(stderr);
    wf_server_drain(srv, drain_s);
    rc = 0;
done:
    wf_server_free(srv);
    wf_model_free(dm);
    wf_model_free(m);
    free(key);
    free(tmpl_text);
    if (rc == 0) fprintf(stderr, "wafer serve: stopped\n");
    return rc;
}
