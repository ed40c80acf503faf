/* fuzz_http.c — raw bytes into the real server: libmicrohttpd's parser and
 * wafer's handler (routing, auth, body limits, JSON requests, generation,
 * streaming, connection limits) over a loopback socket.
 *
 * One server runs for the whole process (a synthetic model of one layer,
 * width 32, with the embedded model's vocabulary, merges and chat template
 * copied in; when the source tree is not found, a synthetic vocabulary —
 * it reaches ~60% of the coverage: it turns most text away; 2 slots
 * of 128 tokens, 16 tokens unless a request asks, 64 KiB bodies, 1 s
 * header/body/idle timeouts). Each input
 * is sent on a new connection; bit 0 of the first byte chooses whether the
 * client then half-closes (the server sees the end of the request) or just
 * closes. The client reads answers until the server closes, or until the
 * server is idle with nothing arriving (checked twice, 0.2 ms apart: no
 * request being answered, every byte sent read by libmicrohttpd —
 * srv_conns_unread — and every other thread of the process asleep in
 * /proc/self/task: the server is waiting for more input and there is
 * nothing more to see), capped at 3 s. Checks: whatever comes back starts
 * with an HTTP/1.x status line with a 3-digit status; every 32 inputs, GET
 * /health on a fresh connection answers 200 (within five tries over ~15 s:
 * the fuzzer runs at the lowest priority on a busy machine) — the server
 * stays up and serving: no crash, deadlock, slot or connection leak.
 *
 * Speed: the first version waited a fixed 150 ms (2 s after a half-close)
 * for each answer: ~25 inputs/s; the second until 5 ms passed with nothing
 * arriving and no request being answered: ~160/s, nearly all of it that
 * wait; this one stops as soon as the server is idle (docs/reliability.md).
 * Generation then took 35-80% of the time: hence the cheap model, and
 * scripts/fuzz.sh runs this harness with -entropic_scale_per_exec_time=1.
 *
 * libFuzzer: -DWF_LIBFUZZER (CMake -DWAFER_FUZZ=ON, `make fuzz`); else the
 * driver in fuzz_main.h (ctest: fuzz_http N corpus/http). */
#define _GNU_SOURCE 1 /* ppoll */
#include "serve/server.h"
#include "serve/serve_int.h" /* srv_conns_n_busy: is a request being answered */

#include "gen_models.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef WAFER_SOURCE_DIR
#define WAFER_SOURCE_DIR "."
#endif

static wf_server *srv;
static wf_model *model;
static int port;
static long n_inputs;

static void stop(void) {
    wf_server_free(srv);
    wf_model_free(model);
}

static void init(void) {
    if (srv) return;
    const char *src = getenv("WAFER_SRC");
    char path[4096];
    snprintf(path, sizeof path, "%s/models/wafer-embedded.gguf", src ? src : WAFER_SOURCE_DIR);
    wf_error err = {0};
    /* The embedded model's vocabulary and chat template on weights ~100x
     * cheaper (1 layer, width 32): generation was 35-45% of the time */
    gm_cfg real = {32, 2, 1, 16, 64, 0, 1, 256, GM_RANDOM, 0.02f, 1, 2, "t", path};
    char name[64]; /* several harnesses run side by side */
    snprintf(name, sizeof name, "wf_fuzz_http_%ld", (long)getpid());
    model = access(path, R_OK) == 0 ? gm_make("/tmp", name, &real) : NULL;
    if (!model) {
        gm_cfg c = {64, 4, 2, 16, 128, 300, 2, 256, GM_RANDOM, 0.02f, 1, 2, "t", NULL};
        model = gm_make("/tmp", name, &c);
        if (!model) abort();
    }
    wf_server_config cfg;
    wf_server_config_init(&cfg);
    cfg.port = 0;
    cfg.n_parallel = 2;
    cfg.n_queue = 8;
    cfg.ctx.n_ctx = 128;
    cfg.ctx.n_threads = 1;
    cfg.max_body = 64 << 10;
    cfg.timeout_s = 1;
    cfg.header_timeout_s = 1;
    cfg.body_timeout_s = 1;
    cfg.send_timeout_s = 1;
    cfg.cache_bytes = 1 << 20;
    cfg.max_tokens_default = 16;
    if (wf_server_create(model, &cfg, &srv, &err) != WF_OK || wf_server_start(srv, &err) != WF_OK) {
        fprintf(stderr, "fuzz_http: %s\n", err.msg);
        abort();
    }
    port = wf_server_port(srv);
    atexit(stop);
}
#define FUZZ_INIT init

/* A new loopback connection to the server. At ~1,000 inputs/s the closed
 * connections' TIME_WAIT entries can use up the ephemeral ports for a
 * moment (one run stopped here after 1.2 million inputs; the input alone
 * replays cleanly): a failed connect is retried for up to 5 s, then the
 * harness stops with the reason. */
static int dial(void) {
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int err = 0;
    for (int t = 0; t < 1000; t++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0) return fd;
        err = errno;
        if (fd >= 0) close(fd);
        struct timespec ms5 = {0, 5 * 1000 * 1000};
        nanosleep(&ms5, NULL);
    }
    fprintf(stderr, "fuzz_http: cannot connect to the server for 5 s after %ld inputs: %s\n", n_inputs, strerror(err));
    abort();
}

/* Whether every other thread of this process is asleep (/proc: state S, I
 * or T, not R or D): the server's connection threads are blocked waiting
 * for input, its engine has nothing to decode. A thread being woken is
 * already R. */
static bool others_asleep(void) {
    DIR *d = opendir("/proc/self/task");
    if (!d) return false;
    long me = syscall(SYS_gettid);
    bool asleep = true;
    struct dirent *e;
    while (asleep && (e = readdir(d))) {
        if (e->d_name[0] == '.' || atol(e->d_name) == me) continue;
        char path[300], st[512];
        snprintf(path, sizeof path, "/proc/self/task/%s/stat", e->d_name);
        int f = open(path, O_RDONLY);
        if (f < 0) continue; /* exited */
        ssize_t n = read(f, st, sizeof st - 1);
        close(f);
        if (n <= 0) continue;
        st[n] = 0;
        const char *p = strrchr(st, ')'); /* "tid (name) S ..." */
        if (p && p[1] == ' ' && (p[2] == 'R' || p[2] == 'D')) asleep = false;
    }
    closedir(d);
    return asleep;
}

/* The server has nothing more to say until the client sends or closes: no
 * request being answered, every byte sent read by libmicrohttpd, and every
 * server thread asleep. */
static bool server_idle(void) {
    return srv_conns_n_busy(&srv->conns) == 0 && srv_conns_unread(&srv->conns) == 0 && others_asleep();
}

/* Read answers into buf (up to cap; the rest is drained) until the server
 * closes, or (unless until_close) the server is idle twice in a row with
 * nothing new arriving, or max_ms pass in all. */
static size_t slurp(int fd, char *buf, size_t cap, bool until_close, int max_ms) {
    size_t n = 0;
    int calm = 0;
    double t_end = wf_time_now() + max_ms / 1000.0;
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        struct timespec tick = {0, 200 * 1000}; /* 0.2 ms */
        int r = ppoll(&p, 1, &tick, NULL);
        if (r < 0) break;
        if (r == 0) {
            if (wf_time_now() > t_end) break;
            if (!until_close && server_idle()) {
                if (++calm >= 2) break;
            } else {
                calm = 0;
            }
            continue;
        }
        calm = 0;
        char scratch[4096];
        ssize_t k = recv(fd, n < cap ? buf + n : scratch, n < cap ? cap - n : sizeof scratch, 0);
        if (k <= 0) break;
        if (n < cap) n += (size_t)k;
        if (wf_time_now() > t_end) break;
    }
    return n;
}

static void check_status_line(const char *b, size_t n) {
    if (n == 0) return;
    if (n < 12 || memcmp(b, "HTTP/1.", 7) || (b[7] != '0' && b[7] != '1') || b[8] != ' ' || b[9] < '1' || b[9] > '5' ||
        b[10] < '0' || b[10] > '9' || b[11] < '0' || b[11] > '9') {
        fprintf(stderr, "fuzz_http: not a status line: %.40s\n", b);
        abort();
    }
}

/* GET /health answers 200: five tries over ~15 s (this runs at the lowest
 * CPU priority on a busy machine; a lost server stays lost), then abort
 * with what the server holds. */
static void check_health(void) {
    char buf[4096];
    size_t n = 0;
    for (int t = 0; t < 5; t++) {
        if (t) sleep(2);
        int h = dial();
        static const char req[] = "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        if (send(h, req, sizeof req - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof req - 1)) abort();
        n = slurp(h, buf, sizeof buf - 1, true, 3000);
        close(h);
        if (n >= 12 && !memcmp(buf + 9, "200", 3)) return;
        buf[n] = 0;
        fprintf(stderr, "fuzz_http: /health try %d after %ld inputs: %.60s\n", t + 1, n_inputs, n ? buf : "(nothing)");
    }
    pthread_mutex_lock(&srv->mu);
    int live = srv->n_live, queued = srv->n_queued;
    pthread_mutex_unlock(&srv->mu);
    pthread_mutex_lock(&srv->conns.mu);
    int open = srv->conns.n_open;
    pthread_mutex_unlock(&srv->conns.mu);
    fprintf(stderr, "fuzz_http: /health did not answer 200 after %ld inputs: %d connections open, %d answering, %d requests live, %d queued\n",
            n_inputs, open, srv_conns_n_busy(&srv->conns), live, queued);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    init();
    if (size < 1) return 0;
    bool half_close = data[0] & 1;
    int fd = dial();
    size_t off = 1;
    while (off < size) {
        ssize_t k = send(fd, data + off, size - off, MSG_NOSIGNAL);
        if (k <= 0) break;
        off += (size_t)k;
    }
    char buf[4096];
    size_t n = slurp(fd, buf, sizeof buf, false, 3000);
    if (half_close) {
        shutdown(fd, SHUT_WR);
        n += slurp(fd, buf + n, sizeof buf - n, false, 3000);
    }
    check_status_line(buf, n);
    close(fd);
    if (++n_inputs % 32 == 0) check_health();
    return 0;
}

static const char *const fuzz_dict[] = {"GET ", "POST ", "HEAD ", "OPTIONS ", " HTTP/1.1\r\n", " HTTP/1.0\r\n", "\r\n", "\r\n\r\n",
                                        "Host: x\r\n", "Content-Length: ", "Transfer-Encoding: chunked\r\n", "Connection: close\r\n",
                                        "Connection: keep-alive\r\n", "Authorization: Bearer k\r\n", "Expect: 100-continue\r\n",
                                        "/v1/chat/completions", "/v1/completions", "/completion", "/infill", "/tokenize",
                                        "/detokenize", "/health", "/metrics", "/v1/models", "/props", "/v1/requests/x/cancel",
                                        "/", "?a=b", "%00", "%2e%2e/", "0\r\n\r\n", "ffffffff\r\n", "{\"messages\":[{\"role\":\"user\",\"content\":\"",
                                        "\"}]", ",\"stream\":true", ",\"max_tokens\":3", "{\"prompt\":\"", "{\"content\":\"", "{\"tokens\":[1,2]}",
                                        NULL};
#define FUZZ_DICT fuzz_dict
#include "fuzz_main.h"
