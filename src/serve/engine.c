/* engine.c — the engine thread: a bounded queue of requests, the slot
 * sessions and continuous batching.
 *
 * Between steps the engine admits waiting requests into free slots
 * (interactive ones -- streaming chat and FIM -- before batch ones, FIFO
 * otherwise, but a batch request that has waited 10 s goes first), choosing the free slot whose cached tokens share the longest
 * prefix with the prompt, then calls wf_sessions_step on every busy slot:
 * plain decode steps of all slots run in one batched forward pass, a long
 * prompt advances one chunk per step so it never stalls the others for
 * long. Tokens go to the request's buffer (s->mu) and wake its HTTP thread.
 * A cancel (client gone, POST /v1/requests/{id}/cancel, drain) is a
 * wf_session_cancel on the slot: the session stops inside the current step
 * (the abort hook checks it per layer) and the slot is free at the next. */
#include "serve/serve_int.h"
#include "serve/responses.h"
#include "base/buf.h"
#include "chat/harmony.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- requests ------------------------------------------------------------ */

srv_req *srv_req_new(wf_server *s, const char *prefix, const char *path) {
    srv_req *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    if (pthread_cond_init(&r->cv, NULL)) {
        free(r);
        return NULL;
    }
    r->refs = 1;
    r->srv = s;
    r->slot = -1;
    r->t_arrive = wf_time_now();
    r->created = (int64_t)time(NULL);
    snprintf(r->path, sizeof r->path, "%s", path);
    pthread_mutex_lock(&s->mu);
    uint64_t n = ++s->next_id;
    /* ids are unique per server run and not guessable from the count alone
     * (they authorize a cancel when no API key is set) */
    uint64_t h = (n * 0x9E3779B97F4A7C15ull) ^ ((uint64_t)s->started << 20) ^ (uint64_t)(uintptr_t)r;
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 32;
    snprintf(r->id, sizeof r->id, "%s-%llu%012llx", prefix, (unsigned long long)n, (unsigned long long)(h & 0xFFFFFFFFFFFFull));
    r->all_next = s->all;
    if (s->all) s->all->all_prev = r;
    s->all = r;
    pthread_mutex_unlock(&s->mu);
    return r;
}

static void req_free(srv_req *r) {
    wf_api_request_free(&r->api);
    wf_grammar_free(r->grammar);
    free(r->prompt);
    free(r->pred);
    free(r->echo);
    free(r->text);
    free(r->ids);
    free(r->lp);
    free(r->top_id);
    free(r->top_lp);
    srv_resp_free(r->resp);
    pthread_cond_destroy(&r->cv);
    free(r);
}

/* Drop a reference; s->mu held by the caller. Returns true when r must be
 * freed (after unlocking). */
static bool release_locked(wf_server *s, srv_req *r) {
    if (--r->refs > 0) return false;
    if (r->all_prev) r->all_prev->all_next = r->all_next;
    else s->all = r->all_next;
    if (r->all_next) r->all_next->all_prev = r->all_prev;
    return true;
}

void srv_req_release(wf_server *s, srv_req *r) {
    if (!r) return;
    pthread_mutex_lock(&s->mu);
    bool f = release_locked(s, r);
    pthread_mutex_unlock(&s->mu);
    if (f) req_free(r);
}

void srv_req_wait(wf_server *s, srv_req *r, int ms) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += (long)ms * 1000000L;
    ts.tv_sec += ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    pthread_cond_timedwait(&r->cv, &s->mu, &ts);
}

bool srv_submit(wf_server *s, srv_req *r, wf_api_error *e) {
    pthread_mutex_lock(&s->mu);
    if (s->draining || s->quit) {
        pthread_mutex_unlock(&s->mu);
        return wf_api_fail(e, 503, "server_error", NULL, "server_shutting_down", "The server is shutting down.");
    }
    int free_slots = 0;
    for (int i = 0; i < s->cfg.n_parallel; i++) free_slots += s->slots[i].req == NULL;
    if (s->n_queued - free_slots >= s->cfg.n_queue) {
        s->metrics.requests_rejected_queue++;
        pthread_mutex_unlock(&s->mu);
        return wf_api_fail(e, 429, "rate_limit_error", NULL, "rate_limit_exceeded",
                           "The server is busy: all %d slots are in use and %d requests are waiting. Retry later.",
                           s->cfg.n_parallel, s->n_queued);
    }
    r->refs++; /* the engine's */
    r->state = SRV_QUEUED;
    r->submitted = true;
    r->q_next = NULL;
    if (s->q_tail) s->q_tail->q_next = r;
    else s->q_head = r;
    s->q_tail = r;
    s->n_queued++;
    s->n_live++;
    pthread_cond_signal(&s->engine_cv);
    pthread_mutex_unlock(&s->mu);
    return true;
}

void srv_cancel(wf_server *s, srv_req *r, bool explicit_cancel) {
    pthread_mutex_lock(&s->mu);
    if (r->submitted && r->state != SRV_DONE && !r->cancel) {
        r->cancel = true;
        r->cancel_explicit = explicit_cancel;
        if (r->state == SRV_RUNNING && r->slot >= 0) wf_session_cancel(s->slots[r->slot].sess);
        pthread_cond_signal(&s->engine_cv);
    }
    pthread_mutex_unlock(&s->mu);
}

bool srv_cancel_id(wf_server *s, const char *id) {
    pthread_mutex_lock(&s->mu);
    srv_req *r = s->all;
    while (r && strcmp(r->id, id) != 0) r = r->all_next;
    bool found = r && r->submitted && r->state != SRV_DONE;
    if (found) r->refs++;
    pthread_mutex_unlock(&s->mu);
    if (!found) return false;
    srv_cancel(s, r, true);
    srv_req_release(s, r);
    return true;
}

const char *srv_finish_reason(const srv_req *r) {
    switch (r->res.stop) {
    case WF_GEN_STOP_LENGTH:
    case WF_GEN_STOP_CONTEXT: return "length";
    case WF_GEN_STOP_CANCELLED: return r->time_limited ? "length" : "stop";
    default: return "stop";
    }
}

bool srv_harmony_view(const wf_server *s, const srv_req *r, wf_api_harmony *h) {
    (void)s;
    const bool final = r->state == SRV_DONE;
    return wf_api_harmony_answer(r->text, r->n_text, final, final && r->res.stop == WF_GEN_STOP_EOG, r->id, h);
}

bool srv_parse_tool_calls(const srv_req *r) {
    /* a forced call cut by max_tokens is reported as text with finish_reason
     * "length", never as a call */
    return r->api.tools && !(r->api.constraint.kind == WF_API_CONSTRAINT_TOOL_CALL && !strcmp(srv_finish_reason(r), "length"));
}

const char *srv_stop_type(const srv_req *r) {
    switch (r->res.stop) {
    case WF_GEN_STOP_EOG:
    case WF_GEN_STOP_CALLBACK: return "eos";
    case WF_GEN_STOP_STRING: return "word";
    case WF_GEN_STOP_LENGTH:
    case WF_GEN_STOP_CONTEXT: return "limit";
    case WF_GEN_STOP_CANCELLED: return r->time_limited ? "limit" : "none";
    default: return "none";
    }
}

/* A finished harmony answer's reasoning tokens: the emitted tokens of its
 * analysis messages (chat/harmony.h), from each token's own bytes (the
 * streamed text may differ: stop strings, held-back bytes); 0 for an answer
 * the API shows whole as content (not harmony after all), and when out of
 * memory (the count is informational; the answer itself is unaffected). */
static int32_t reasoning_tokens(const srv_req *r) {
    const wf_vocab *v = r->srv->v;
    wf_api_harmony view; /* an answer shown whole as content has no reasoning */
    if (!srv_harmony_view(r->srv, r, &view)) return 0;
    const bool raw = view.raw;
    wf_api_harmony_free(&view);
    if (raw) return 0;
    size_t *ends = malloc((r->n_ids ? r->n_ids : 1) * sizeof *ends);
    wf_buf b = {0};
    char piece[256];
    for (size_t i = 0; ends && i < r->n_ids && !b.failed; i++) {
        int32_t k = wf_token_to_bytes(v, r->ids[i], piece, sizeof piece);
        if (k > (int32_t)sizeof piece) { /* a long token */
            char *big = malloc((size_t)k);
            if (!big || !wf_buf_add(&b, big, (size_t)wf_token_to_bytes(v, r->ids[i], big, (size_t)k))) b.failed = true;
            free(big);
        } else if (k > 0) {
            wf_buf_add(&b, piece, (size_t)k);
        }
        ends[i] = b.n;
    }
    size_t n = ends && !b.failed ? wf_harmony_reasoning_tokens(b.p ? b.p : "", b.n, ends, r->n_ids) : 0;
    free(ends);
    wf_buf_free(&b);
    return n > INT32_MAX ? INT32_MAX : (int32_t)n;
}

void srv_fill_usage(const srv_req *r, wf_api_usage *u) {
    memset(u, 0, sizeof *u);
    u->prompt_tokens = r->res.n_prompt ? r->res.n_prompt : (int32_t)r->n_prompt;
    u->cached_tokens = r->res.n_prompt_cached;
    u->completion_tokens = r->res.n_generated;
    if (r->srv && r->srv->harmony && r->state == SRV_DONE) u->reasoning_tokens = reasoning_tokens(r);
    u->accepted_prediction_tokens = (int32_t)r->res.n_pred_accepted;
    u->rejected_prediction_tokens = (int32_t)r->res.n_pred_rejected;
    u->prompt_ms = r->res.t_prompt * 1000.0;
    u->predicted_ms = r->res.t_gen * 1000.0;
    u->draft_n = (int32_t)r->res.n_draft_proposed;
    u->draft_n_accepted = (int32_t)r->res.n_draft_accepted;
}

/* ---- token callback (engine thread, inside wf_sessions_step) -------------- */

/* The emitted token's log-probability and the k best alternatives (k <= 20;
 * wf_logprobs). Requests asking for this run without speculation, so the
 * context's last logits are the ones the token was sampled from. */
#define SRV_MAX_TOP 20
static void token_logprobs(const float *l, int32_t n_vocab, int32_t token, int32_t k, float *lp, int32_t *top_id,
                           float *top_lp) {
    double top[SRV_MAX_TOP];
    int32_t n = 0;
    const double lse = wf_logprobs(l, n_vocab, k, top_id, top, &n);
    *lp = (float)((double)l[token] - lse);
    for (int32_t j = 0; j < n; j++) top_lp[j] = (float)top[j];
}

static bool on_token(void *user, int32_t token, const char *text, size_t n_text) {
    srv_req *r = user;
    wf_server *s = r->srv;
    bool fim_end = token >= 0 && r->fim && s->has_fim && wf_fim_is_stop(&s->fim, token);
    const int32_t k = r->api.logprobs;
    float lp = 0, top_lp[SRV_MAX_TOP];
    int32_t top_id[SRV_MAX_TOP];
    const float *logits = NULL;
    if (token >= 0 && !fim_end && k >= 0 && r->slot >= 0) {
        logits = wf_get_logits(wf_session_context(s->slots[r->slot].sess), -1);
        if (logits) token_logprobs(logits, s->n_vocab, token, k, &lp, top_id, top_lp);
    }
    pthread_mutex_lock(&s->mu);
    if (token >= 0) {
        if (r->t_first == 0) r->t_first = wf_time_now();
        if (!fim_end) {
            if (k >= 0) {
                size_t kk = k > 0 ? (size_t)k : 1;
                if (r->n_ids + 1 > r->cap_lp) { /* the three arrays grow together: cap_lp tokens */
                    size_t c = r->cap_lp ? 2 * r->cap_lp : 256;
                    float *a = realloc(r->lp, c * sizeof *a);
                    if (a) r->lp = a;
                    int32_t *b = a ? realloc(r->top_id, c * kk * sizeof *b) : NULL;
                    if (b) r->top_id = b;
                    float *d = b ? realloc(r->top_lp, c * kk * sizeof *d) : NULL;
                    if (d) {
                        r->top_lp = d;
                        r->cap_lp = c;
                    }
                }
                if (r->n_ids + 1 <= r->cap_lp) {
                    r->lp[r->n_ids] = logits ? lp : 0.0f;
                    for (int32_t j = 0; j < k; j++) {
                        r->top_id[r->n_ids * kk + (size_t)j] = logits ? top_id[j] : token;
                        r->top_lp[r->n_ids * kk + (size_t)j] = logits ? top_lp[j] : 0.0f;
                    }
                } else {
                    r->oom = true;
                }
            }
            if (WF_ARRAY_RESERVE(r->ids, r->cap_ids, r->n_ids + 1)) r->ids[r->n_ids++] = token;
            else r->oom = true;
        }
    }
    if (fim_end) r->fim_stopped = true;
    if (n_text && !fim_end && !r->fim_stopped) {
        if (WF_ARRAY_RESERVE(r->text, r->cap_text, r->n_text + n_text + 1)) {
            memcpy(r->text + r->n_text, text, n_text);
            r->n_text += n_text;
            r->text[r->n_text] = 0;
        } else {
            r->oom = true;
        }
    }
    bool go = !r->cancel && !r->oom && !fim_end;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&s->mu);
    return go;
}

/* ---- the engine loop ------------------------------------------------------ */

static size_t common_prefix(const int32_t *a, size_t na, const int32_t *b, size_t nb) {
    size_t i = 0, n = na < nb ? na : nb;
    while (i < n && a[i] == b[i]) i++;
    return i;
}

/* A batch request waits at most this long behind interactive ones: then
 * it goes first (without it, 64 streaming clients that resubmit at once
 * starved non-streaming requests past their clients' timeouts: the soak). */
#define SRV_BATCH_MAX_WAIT_S 10.0

/* Take the next request to admit (s->mu held): the first interactive one,
 * else the oldest; the oldest first when it has waited too long. */
static srv_req *dequeue(wf_server *s) {
    srv_req *p = NULL, *q = s->q_head;
    bool overdue = q && !q->interactive && wf_time_now() - q->t_arrive > SRV_BATCH_MAX_WAIT_S;
    while (q && !q->interactive && !overdue) p = q, q = q->q_next;
    if (!q) p = NULL, q = s->q_head;
    if (!q) return NULL;
    if (p) p->q_next = q->q_next;
    else s->q_head = q->q_next;
    if (s->q_tail == q) s->q_tail = p;
    q->q_next = NULL;
    s->n_queued--;
    return q;
}

static int pick_slot(wf_server *s, const srv_req *r) {
    int best = -1;
    size_t best_n = 0;
    for (int i = 0; i < s->cfg.n_parallel; i++) {
        if (s->slots[i].req) continue;
        size_t n = 0;
        const int32_t *t = wf_session_tokens(s->slots[i].sess, &n);
        size_t k = common_prefix(t, n, r->prompt, r->n_prompt);
        if (best < 0 || k > best_n) best = i, best_n = k;
    }
    return best;
}

/* Mark r finished (s->mu held); the engine's reference is dropped by the
 * caller. */
static void finish_locked(wf_server *s, srv_req *r) {
    r->state = SRV_DONE;
    r->t_end = wf_time_now();
    s->n_live--;
    srv_metrics *m = &s->metrics;
    m->prompt_tokens += (uint64_t)(r->res.n_prompt > 0 ? r->res.n_prompt : 0);
    m->cached_tokens += (uint64_t)(r->res.n_prompt_cached > 0 ? r->res.n_prompt_cached : 0);
    m->generated_tokens += (uint64_t)(r->res.n_generated > 0 ? r->res.n_generated : 0);
    m->draft_proposed += (uint64_t)(r->res.n_draft_proposed > 0 ? r->res.n_draft_proposed : 0);
    m->draft_accepted += (uint64_t)(r->res.n_draft_accepted > 0 ? r->res.n_draft_accepted : 0);
    m->pred_accepted += (uint64_t)(r->res.n_pred_accepted > 0 ? r->res.n_pred_accepted : 0);
    m->pred_rejected += (uint64_t)(r->res.n_pred_rejected > 0 ? r->res.n_pred_rejected : 0);
    if (r->cancel && !r->time_limited) m->requests_cancelled++;
    if (r->t_admit > 0) srv_metrics_observe(&m->queue_wait, r->t_admit - r->t_arrive);
    if (r->t_first > 0) srv_metrics_observe(&m->ttft, r->t_first - r->t_arrive);
    if (r->res.n_generated > 1 && r->res.t_gen > 0)
        srv_metrics_observe(&m->per_token, r->res.t_gen / (double)(r->res.n_generated - 1));
    pthread_cond_broadcast(&r->cv);
}

/* The engine loop's per-step arrays, one entry per slot. */
typedef struct engine_step {
    wf_session **busy;   /* (n_parallel) sessions stepped together        */
    int *busy_slot;      /* (n_parallel) their slots                      */
    bool *done;          /* (n_parallel) which ended in this step         */
    srv_req **admitted;  /* (n_parallel) requests admitted in this step    */
    srv_req **to_free;   /* (n_parallel + 1) requests to free unlocked     */
} engine_step;

/* Queued requests cancelled before they ran (or all, when quitting) end
 * here. Called and returns with s->mu held. */
static void drop_cancelled_locked(wf_server *s) {
    for (srv_req **pp = &s->q_head, *prev = NULL; *pp;) {
        srv_req *r = *pp;
        if (!r->cancel && !s->quit) {
            prev = r;
            pp = &r->q_next;
            continue;
        }
        *pp = r->q_next;
        if (s->q_tail == r) s->q_tail = prev;
        s->n_queued--;
        r->res.stop = WF_GEN_STOP_CANCELLED;
        r->cancel = true;
        finish_locked(s, r);
        bool f = release_locked(s, r);
        if (f) {
            pthread_mutex_unlock(&s->mu);
            req_free(r);
            pthread_mutex_lock(&s->mu);
            pp = &s->q_head; /* restart: the list may have changed */
            prev = NULL;
        }
    }
}

/* Queued requests into free slots; returns how many (in admitted[]). With
 * s->mu held. */
static int admit_locked(wf_server *s, srv_req **admitted) {
    const int ns = s->cfg.n_parallel;
    int n_adm = 0;
    while (s->q_head) {
        int slot = -1;
        for (int i = 0; i < ns && slot < 0; i++)
            if (!s->slots[i].req) slot = i;
        if (slot < 0) break;
        srv_req *r = dequeue(s);
        if (!r) break;
        slot = pick_slot(s, r);
        r->slot = slot;
        r->state = SRV_RUNNING;
        r->t_admit = wf_time_now();
        s->slots[slot].req = r;
        admitted[n_adm++] = r;
    }
    return n_adm;
}

/* Begin the admitted requests' generation (prefix reuse happens here); a
 * request that cannot begin ends with its error. Without s->mu. */
static void start_admitted(wf_server *s, srv_req **admitted, int n_adm) {
    for (int k = 0; k < n_adm; k++) {
        srv_req *r = admitted[k];
        wf_session *sess = s->slots[r->slot].sess;
        wf_gen_callbacks cb = {on_token, r};
        wf_error err = {0};
        wf_status st = wf_session_begin(sess, r->prompt, r->n_prompt, &r->gp, &cb, &err);
        pthread_mutex_lock(&s->mu);
        if (st != WF_OK) {
            r->st = st;
            snprintf(r->errmsg, sizeof r->errmsg, "%s", err.msg[0] ? err.msg : wf_status_name(st));
            s->slots[r->slot].req = NULL;
            finish_locked(s, r);
            bool f = release_locked(s, r);
            pthread_mutex_unlock(&s->mu);
            if (f) req_free(r);
            continue;
        }
        if (r->cancel) wf_session_cancel(sess); /* begin cleared an earlier one */
        pthread_mutex_unlock(&s->mu);
    }
}

/* One step of every busy slot in shared passes; returns how many stepped
 * (busy[], busy_slot[], done[]). Without s->mu. */
static int step_busy(wf_server *s, engine_step *e) {
    int nb = 0;
    for (int i = 0; i < s->cfg.n_parallel; i++)
        if (s->slots[i].req && wf_session_busy(s->slots[i].sess)) {
            e->busy_slot[nb] = i;
            e->busy[nb] = s->slots[i].sess;
            e->done[nb] = false;
            nb++;
        }
    if (nb) wf_sessions_step(e->busy, (size_t)nb, e->done);
    return nb;
}

/* Time limits (llama.cpp's t_max_predict_ms): cancel what ran too long. */
static void apply_time_limits(wf_server *s, const engine_step *e, int nb) {
    double now = wf_time_now();
    pthread_mutex_lock(&s->mu);
    for (int k = 0; k < nb; k++) {
        srv_req *r = s->slots[e->busy_slot[k]].req;
        if (!e->done[k] && r->api.t_max_predict_ms > 0 && r->t_first > 0 &&
            (now - r->t_first) * 1000.0 > r->api.t_max_predict_ms && !r->cancel) {
            r->time_limited = true;
            r->cancel = true;
            wf_session_cancel(e->busy[k]);
        }
    }
    pthread_mutex_unlock(&s->mu);
}

/* End the requests whose generation ended in this step and free their
 * slots. Without s->mu. */
static void finish_done(wf_server *s, engine_step *e, int nb) {
    int n_free = 0;
    for (int k = 0; k < nb; k++) {
        if (!e->done[k]) continue;
        int i = e->busy_slot[k];
        srv_req *r = s->slots[i].req;
        wf_gen_result res;
        wf_error err = {0};
        memset(&res, 0, sizeof res);
        wf_status st = wf_session_end(e->busy[k], &res, &err); /* may flush text: takes s->mu */
        pthread_mutex_lock(&s->mu);
        r->res = res;
        r->st = st;
        if (st != WF_OK) snprintf(r->errmsg, sizeof r->errmsg, "%s", err.msg[0] ? err.msg : wf_status_name(st));
        if (r->oom && st == WF_OK) {
            r->st = WF_ERR_NOMEM;
            snprintf(r->errmsg, sizeof r->errmsg, "out of memory for the response");
        }
        s->slots[i].req = NULL;
        finish_locked(s, r);
        if (release_locked(s, r)) e->to_free[n_free++] = r;
        pthread_mutex_unlock(&s->mu);
    }
    for (int k = 0; k < n_free; k++) req_free(e->to_free[k]);
}

void *srv_engine_main(void *arg) {
    wf_server *s = arg;
    const size_t ns = (size_t)s->cfg.n_parallel;
    engine_step e = {calloc(ns, sizeof *e.busy), calloc(ns, sizeof *e.busy_slot), calloc(ns, sizeof *e.done),
                     calloc(ns, sizeof *e.admitted), calloc(ns + 1, sizeof *e.to_free)};
    if (!e.busy || !e.busy_slot || !e.done || !e.admitted || !e.to_free) {
        /* cannot run: fail every request as it comes */
        pthread_mutex_lock(&s->mu);
        s->quit = true;
        pthread_mutex_unlock(&s->mu);
        goto out;
    }
    pthread_mutex_lock(&s->mu);
    for (;;) {
        drop_cancelled_locked(s);
        int n_adm = admit_locked(s, e.admitted);
        int n_busy = 0;
        for (size_t i = 0; i < ns; i++) n_busy += s->slots[i].req != NULL;
        if (n_busy == 0) {
            if (s->quit) break;
            pthread_cond_wait(&s->engine_cv, &s->mu);
            continue;
        }
        pthread_mutex_unlock(&s->mu);
        start_admitted(s, e.admitted, n_adm);
        int nb = step_busy(s, &e);
        apply_time_limits(s, &e, nb);
        finish_done(s, &e, nb);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
out:
    free(e.busy);
    free(e.busy_slot);
    free(e.done);
    free(e.admitted);
    free(e.to_free);
    return NULL;
}
