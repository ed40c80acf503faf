/* conns.c — every open connection, so that idle and slow clients can never
 * lock others out (issue 18).
 *
 * libmicrohttpd runs one thread per connection and stops accepting at its
 * connection limit; its one timeout is for inactivity, which a client
 * dribbling a byte every few seconds never trips. So wafer keeps its own
 * list (libmicrohttpd's connection notifications: opened, closed) with each
 * connection's phase and since when:
 *
 *   IDLE    waiting for a request line (new, or keep-alive between requests)
 *   HEADERS request line seen, headers not complete
 *   BODY    headers complete, body arriving
 *   BUSY    the request is being answered
 *
 * and a reaper thread that closes a connection whose phase outlasts its
 * limit (--idle-timeout, --header-timeout, --body-timeout), and a streaming
 * answer whose client stopped reading (the response reader not called again
 * for --send-timeout: the socket's send buffer stayed full), which cancels
 * its generation and frees the slot. Closing is shutdown(2) on the socket:
 * the connection's own thread sees the end and cleans up; the record is
 * removed, under the lock, before libmicrohttpd closes the descriptor, so a
 * descriptor in the list is always the connection's own.
 *
 * Limits: a new connection over --max-connections-per-ip for its address,
 * or over --max-connections in all, closes the oldest IDLE/HEADERS
 * connection (of that address, or of all); when every one is busy, the new
 * connection gets a 503 and is closed at once. */
#include "serve/serve_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct srv_conn {
    srv_conn *prev, *next;    /* oldest first                                 */
    int fd;
    struct sockaddr_storage addr;
    socklen_t alen;
    srv_conn_phase phase;
    double t_phase;           /* when the phase began (wf_time_now)           */
    bool streaming;           /* BUSY with a streamed answer                  */
    bool in_reader;           /* the stream's reader is running (waiting)     */
    double t_reader;          /* when the reader last returned                */
    bool closing;             /* shut down by us                              */
    bool refused;             /* answered 503 at once (never counted live)    */
    unsigned n_req;           /* requests begun (request lines read)          */
    unsigned n_done;          /* requests ended (srv_conns_request_end)       */
    bool kept;                /* the last one ended whole, its body all read  */
    bool answered;            /* libmicrohttpd answered since it ended        */
    uint64_t rx_mark;         /* the kernel's bytes received when it ended    */
    bool pos_ok;              /* pos known (every request's end so far was)    */
    uint64_t pos;             /* where the last request ended on the wire     */
    pthread_t thr;            /* the connection's thread, once a request began */
};

static bool same_addr(const srv_conn *a, const struct sockaddr *b, unsigned blen) {
    if (a->addr.ss_family != b->sa_family) return false;
    if (b->sa_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)&a->addr, *y = (const void *)b;
        return x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    if (b->sa_family == AF_INET6) {
        const struct sockaddr_in6 *x = (const void *)&a->addr, *y = (const void *)b;
        return !memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr);
    }
    return a->alen == blen && !memcmp(&a->addr, b, blen);
}

static void kill_conn(srv_conns *cs, srv_conn *c, int reason) {
    if (c->closing) return;
    c->closing = true;
    shutdown(c->fd, SHUT_RDWR);
    cs->n_closed[reason]++;
}

static bool evictable(const srv_conn *c) {
    return !c->closing && (c->phase == SRV_CONN_IDLE || c->phase == SRV_CONN_HEADERS);
}

srv_conn *srv_conns_open(srv_conns *cs, int fd, const struct sockaddr *addr, unsigned alen) {
    srv_conn *c = calloc(1, sizeof *c);
    pthread_mutex_lock(&cs->mu);
    if (!c) { /* no memory for the record: refuse the connection */
        cs->n_refused++;
        pthread_mutex_unlock(&cs->mu);
        shutdown(fd, SHUT_RDWR);
        return NULL;
    }
    c->fd = fd;
    if (addr && alen <= sizeof c->addr) {
        memcpy(&c->addr, addr, alen);
        c->alen = (socklen_t)alen;
    }
    c->phase = SRV_CONN_IDLE;
    c->t_phase = wf_time_now();
    /* over the per-address limit: the oldest idle one of that address goes */
    int same = 0;
    srv_conn *oldest_same = NULL, *oldest = NULL;
    for (srv_conn *o = cs->head; o; o = o->next) {
        if (o->closing) continue;
        bool sa = addr && same_addr(o, addr, alen);
        same += sa;
        if (sa && !oldest_same && evictable(o)) oldest_same = o;
        if (!oldest && evictable(o)) oldest = o;
    }
    bool refuse = false;
    if (cs->max_per_ip > 0 && same + 1 > cs->max_per_ip) {
        if (oldest_same) {
            kill_conn(cs, oldest_same, SRV_CLOSE_EVICT_IP);
            if (oldest == oldest_same) oldest = NULL;
        } else {
            refuse = true;
        }
    }
    if (!refuse && cs->max_conns > 0 && cs->n_live + 1 > cs->max_conns) {
        if (!oldest)
            for (srv_conn *o = cs->head; o && !oldest; o = o->next)
                if (evictable(o)) oldest = o;
        if (oldest) kill_conn(cs, oldest, SRV_CLOSE_EVICT_ALL);
        else refuse = true;
    }
    /* the new one joins the list either way (libmicrohttpd will report its close) */
    c->prev = cs->tail;
    if (cs->tail) cs->tail->next = c;
    else cs->head = c;
    cs->tail = c;
    cs->n_open++;
    if (refuse) {
        static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\n"
                                   "Retry-After: 1\r\nContent-Length: 129\r\n\r\n"
                                   "{\"error\":{\"message\":\"Too many open connections; retry shortly.\",\"type\":\"server_error\","
                                   "\"param\":null,\"code\":\"too_many_connections\"}}\n";
        ssize_t w = send(fd, busy, sizeof busy - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
        (void)w;
        c->closing = c->refused = true;
        shutdown(fd, SHUT_RDWR);
        cs->n_refused++;
    } else {
        cs->n_live++;
    }
    pthread_mutex_unlock(&cs->mu);
    return c;
}

void srv_conns_close(srv_conns *cs, srv_conn *c) {
    if (!c) return;
    pthread_mutex_lock(&cs->mu);
    if (c->prev) c->prev->next = c->next;
    else cs->head = c->next;
    if (c->next) c->next->prev = c->prev;
    else cs->tail = c->prev;
    cs->n_open--;
    if (!c->refused) cs->n_live--;
    pthread_mutex_unlock(&cs->mu);
    free(c);
}

bool srv_conns_thread_busy(srv_conns *cs) {
    bool busy = false;
    if (!cs->started) return false;
    pthread_t self = pthread_self();
    pthread_mutex_lock(&cs->mu);
    for (srv_conn *c = cs->head; c && !busy; c = c->next)
        busy = c->n_req && c->phase != SRV_CONN_IDLE && pthread_equal(c->thr, self);
    pthread_mutex_unlock(&cs->mu);
    return busy;
}

void srv_conns_request_end(srv_conns *cs, srv_conn *c, bool whole, uint64_t rx, uint64_t wire) {
    if (!c) return;
    pthread_mutex_lock(&cs->mu);
    if (c->n_done == 0) c->pos_ok = true;
    /* its own bytes when known; else the kernel's count when it was all in
     * (at or past its end: what came along with it is then not seen) */
    if (wire) c->pos += wire;
    else if (rx) c->pos = rx > c->pos ? rx : c->pos;
    else c->pos_ok = false;
    c->n_done = c->n_req;
    c->kept = whole;
    c->answered = false;
    c->rx_mark = rx;
    pthread_mutex_unlock(&cs->mu);
}

void srv_conns_answered_here(srv_conns *cs) {
    if (!cs->started) return;
    pthread_t self = pthread_self();
    pthread_mutex_lock(&cs->mu);
    for (srv_conn *c = cs->head; c; c = c->next)
        if (c->n_req && pthread_equal(c->thr, self)) {
            c->answered = true;
            break;
        }
    pthread_mutex_unlock(&cs->mu);
}

bool srv_conns_unasked(srv_conns *cs, const srv_conn *c, srv_conn_tail *t) {
    if (!c) return false;
    pthread_mutex_lock(&cs->mu);
    bool unasked = !c->refused && (c->n_req == 0 || (c->n_done == c->n_req && c->kept && !c->answered));
    t->n_req = c->n_req;
    t->rx_mark = c->n_req ? c->rx_mark : 0;
    t->pos_ok = c->n_req && c->pos_ok;
    t->pos = c->pos;
    t->timed_out = c->closing;
    pthread_mutex_unlock(&cs->mu);
    return unasked;
}

int srv_conns_n_busy(srv_conns *cs) {
    int n = 0;
    if (!cs->started) return 0; /* no record (and no lock) without a daemon */
    pthread_mutex_lock(&cs->mu);
    for (srv_conn *c = cs->head; c; c = c->next) n += !c->refused && c->phase == SRV_CONN_BUSY;
    pthread_mutex_unlock(&cs->mu);
    return n;
}

void srv_conns_phase(srv_conns *cs, srv_conn *c, srv_conn_phase p) {
    if (!c) return;
    pthread_mutex_lock(&cs->mu);
    c->phase = p;
    c->t_phase = wf_time_now();
    if (p == SRV_CONN_HEADERS) { /* called on the connection's own thread */
        c->thr = pthread_self();
        c->n_req++;
    }
    if (p != SRV_CONN_BUSY) c->streaming = c->in_reader = false;
    pthread_mutex_unlock(&cs->mu);
}

long srv_conns_unread(srv_conns *cs) {
    long n = 0;
    if (!cs->started) return 0;
    pthread_mutex_lock(&cs->mu);
    for (srv_conn *c = cs->head; c; c = c->next) {
        int k = 0;
        if (!c->closing && !ioctl(c->fd, FIONREAD, &k)) n += k;
    }
    pthread_mutex_unlock(&cs->mu);
    return n;
}

void srv_conns_reader(srv_conns *cs, srv_conn *c, bool entering) {
    if (!c) return;
    pthread_mutex_lock(&cs->mu);
    c->streaming = true;
    c->in_reader = entering;
    if (!entering) c->t_reader = wf_time_now();
    pthread_mutex_unlock(&cs->mu);
}

/* One pass of the reaper: close what outlasted its phase's limit. */
static void reap(srv_conns *cs) {
    double now = wf_time_now();
    pthread_mutex_lock(&cs->mu);
    for (srv_conn *c = cs->head; c; c = c->next) {
        if (c->closing) continue;
        double age = now - c->t_phase;
        switch (c->phase) {
        case SRV_CONN_IDLE:
            if (age > cs->idle_s) kill_conn(cs, c, SRV_CLOSE_IDLE);
            break;
        case SRV_CONN_HEADERS:
            if (age > cs->header_s) kill_conn(cs, c, SRV_CLOSE_HEADERS);
            break;
        case SRV_CONN_BODY:
            if (age > cs->body_s) kill_conn(cs, c, SRV_CLOSE_BODY);
            break;
        case SRV_CONN_BUSY:
            if (c->streaming && !c->in_reader && c->t_reader > 0 && now - c->t_reader > cs->send_s)
                kill_conn(cs, c, SRV_CLOSE_SEND);
            break;
        }
    }
    pthread_mutex_unlock(&cs->mu);
}

static void *reaper_main(void *arg) {
    srv_conns *cs = arg;
    pthread_mutex_lock(&cs->mu);
    while (!cs->quit) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&cs->cv, &cs->mu, &ts);
        if (cs->quit) break;
        pthread_mutex_unlock(&cs->mu);
        reap(cs);
        pthread_mutex_lock(&cs->mu);
    }
    pthread_mutex_unlock(&cs->mu);
    return NULL;
}

wf_status srv_conns_start(srv_conns *cs, const wf_server_config *cfg, wf_error *err) {
    memset(cs, 0, sizeof *cs);
    pthread_mutex_init(&cs->mu, NULL);
    pthread_cond_init(&cs->cv, NULL);
    cs->max_conns = cfg->max_conns;
    cs->max_per_ip = cfg->max_conns_per_ip;
    cs->idle_s = cfg->timeout_s;
    cs->header_s = cfg->header_timeout_s;
    cs->body_s = cfg->body_timeout_s;
    cs->send_s = cfg->send_timeout_s;
    if (pthread_create(&cs->reaper, NULL, reaper_main, cs)) {
        pthread_cond_destroy(&cs->cv);
        pthread_mutex_destroy(&cs->mu);
        return wf_fail(err, WF_ERR_INTERNAL, "serve: cannot start the connection reaper thread");
    }
    cs->started = true;
    return WF_OK;
}

void srv_conns_stop(srv_conns *cs) {
    if (!cs->started) return;
    pthread_mutex_lock(&cs->mu);
    cs->quit = true;
    pthread_cond_signal(&cs->cv);
    pthread_mutex_unlock(&cs->mu);
    pthread_join(cs->reaper, NULL);
    pthread_cond_destroy(&cs->cv);
    pthread_mutex_destroy(&cs->mu);
    cs->started = false;
}

void srv_conns_metrics(srv_conns *cs, char *buf, size_t cap) {
    static const char *const reason[SRV_CLOSE_N] = {"idle_timeout", "header_timeout", "body_timeout", "send_timeout",
                                                    "evicted_per_ip_limit", "evicted_global_limit"};
    pthread_mutex_lock(&cs->mu);
    size_t o = 0;
    int n = snprintf(buf, cap,
                     "# HELP wafer_connections_open Open HTTP connections.\n# TYPE wafer_connections_open gauge\n"
                     "wafer_connections_open %d\n"
                     "# HELP wafer_connections_refused_total Connections answered 503 at once: every slot of the "
                     "connection limit busy.\n# TYPE wafer_connections_refused_total counter\nwafer_connections_refused_total %llu\n"
                     "# HELP wafer_connections_closed_total Connections closed by the server, by reason.\n"
                     "# TYPE wafer_connections_closed_total counter\n",
                     cs->n_open, (unsigned long long)cs->n_refused);
    if (n > 0) o = (size_t)n < cap ? (size_t)n : cap;
    for (int i = 0; i < SRV_CLOSE_N && o < cap; i++) {
        n = snprintf(buf + o, cap - o, "wafer_connections_closed_total{reason=\"%s\"} %llu\n", reason[i],
                     (unsigned long long)cs->n_closed[i]);
        if (n > 0) o += (size_t)n < cap - o ? (size_t)n : cap - o;
    }
    pthread_mutex_unlock(&cs->mu);
}
