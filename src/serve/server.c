/* server.c — the server's life cycle (create the slots, template and prefix
 * cache; start; drain; free) and the per-request log line. */
#include "serve/serve_int.h"
#include "serve/responses.h"

#include "model/model.h"
#include "text/tokenizer.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void wf_server_config_init(wf_server_config *c) {
    memset(c, 0, sizeof *c);
    c->host = "127.0.0.1";
    c->port = 8080;
    c->n_parallel = 4;
    c->n_queue = 64;
    c->ctx = wf_context_default_params();
    c->ctx.n_ctx = 0;
    c->prefill_chunk = 256;
    c->model_name = "wafer";
    c->max_body = 8u << 20;
    c->timeout_s = 30;
    c->header_timeout_s = 10;
    c->body_timeout_s = 60;
    c->send_timeout_s = 30;
    c->max_conns = 1024;
    c->max_conns_per_ip = 256;
    c->max_tokens_default = -1;
    c->spec = WF_SPEC_NONE;
    c->cache_bytes = 256ull << 20;
    c->responses_max = 256;
    c->responses_bytes = 64ull << 20;
}

int32_t wf_server_default_n_ctx(const wf_model *m) {
    int32_t t = wf_model_n_ctx_train(m);
    return t > 0 && t < WF_SERVER_SLOT_CTX_MAX ? t : WF_SERVER_SLOT_CTX_MAX;
}

static char *dup_s(const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (d) memcpy(d, s, n + 1);
    return d;
}

static void note(wf_server *s, const char *msg) {
    if (s->cfg.log) s->cfg.log(s->cfg.log_user, msg);
}

wf_status wf_server_create(wf_model *m, const wf_server_config *cfg_in, wf_server **out, wf_error *err) {
    *out = NULL;
    wf_server_config def;
    if (!cfg_in) {
        wf_server_config_init(&def);
        cfg_in = &def;
    }
    const wf_vocab *v = wf_model_vocab(m);
    if (!v) return wf_fail(err, WF_ERR_UNSUPPORTED, "serve: the model has no tokenizer (tokenizer.ggml.* metadata)");
    if (cfg_in->n_parallel < 1 || cfg_in->n_parallel > 256)
        return wf_fail(err, WF_ERR_INVALID_ARG, "serve: --parallel must be in [1, 256]");
    if (cfg_in->n_queue < 0) return wf_fail(err, WF_ERR_INVALID_ARG, "serve: --queue must be >= 0");
    wf_server *s = calloc(1, sizeof *s);
    if (!s) return wf_fail(err, WF_ERR_NOMEM, "serve: out of memory");
    s->cfg = *cfg_in;
    s->m = m;
    s->v = v;
    s->n_vocab = wf_model_n_vocab(m);
    s->started = (int64_t)time(NULL);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->engine_cv, NULL);
    s->host = dup_s(cfg_in->host ? cfg_in->host : "127.0.0.1");
    s->api_key = dup_s(cfg_in->api_key);
    s->model_name = dup_s(cfg_in->model_name ? cfg_in->model_name : "wafer");
    s->cfg.host = s->host;
    s->cfg.api_key = s->api_key;
    s->cfg.model_name = s->model_name;
    s->cfg.chat_template = NULL;
    if (!s->host || !s->model_name || (cfg_in->api_key && !s->api_key)) goto nomem;
    if (s->cfg.max_body == 0) s->cfg.max_body = 8u << 20;
    if (s->cfg.timeout_s == 0) s->cfg.timeout_s = 30;
    if (s->cfg.header_timeout_s == 0) s->cfg.header_timeout_s = 10;
    if (s->cfg.body_timeout_s == 0) s->cfg.body_timeout_s = 60;
    if (s->cfg.send_timeout_s == 0) s->cfg.send_timeout_s = 30;
    if (s->cfg.max_conns <= 0) s->cfg.max_conns = 1024;
    if (s->cfg.max_conns_per_ip <= 0) s->cfg.max_conns_per_ip = s->cfg.max_conns;
    if (s->cfg.prefill_chunk <= 0) s->cfg.prefill_chunk = 256;

    /* the template: given, the model's, or ChatML */
    wf_status st;
    const char *src = cfg_in->chat_template;
    size_t len = src ? strlen(src) : 0;
    if (!src && wf_template_from_gguf(wf_model_gguf(m), &src, &len, NULL) != WF_OK) src = NULL;
    if (src) {
        wf_error te = {0};
        if ((st = wf_template_compile(src, len, &s->tmpl, &te)) != WF_OK) {
            if (cfg_in->chat_template) {
                wf_fail(err, st, "serve: chat template: %s", te.msg);
                goto fail;
            }
            char msg[640];
            snprintf(msg, sizeof msg, "wafer serve: note: the model's chat template does not compile (%s); using ChatML", te.msg);
            note(s, msg);
            s->tmpl = NULL;
        }
    } else {
        note(s, "wafer serve: note: the model has no chat template; using ChatML");
    }
    s->tmpl_source = s->tmpl ? (cfg_in->chat_template ? "option" : "model") : "none";
    if (!s->tmpl) {
        const char *cm = wf_template_builtin("chatml");
        if ((st = wf_template_compile(cm, strlen(cm), &s->tmpl, err)) != WF_OK) goto fail;
    }
    s->tool_format = wf_api_tool_format_of(src, src ? len : 0);
    /* gpt-oss (or a template written in its format): harmony channels */
    {
        bool marks = wf_vocab_find_token(v, "<|channel|>", 11) >= 0 && wf_vocab_find_token(v, "<|message|>", 11) >= 0;
        bool in_tmpl = false;
        for (size_t i = 0; src && !in_tmpl && i + 11 <= len; i++) in_tmpl = !memcmp(src + i, "<|channel|>", 11);
        s->harmony = marks && (wf_model_hparams(m)->arch == WF_ARCH_GPTOSS || in_tmpl);
    }
    s->tmpl_tools = srv_template_shows_tools(s);
    if ((st = wf_grammar_vocab_create(v, &s->gvocab, err)) != WF_OK) goto fail;
    /* 32 grammars, 256 MB of their masks (a 151k vocabulary: ~13k masks) */
    if ((st = wf_grammar_cache_create(32, (size_t)256 << 20, &s->gcache, err)) != WF_OK) goto fail;
    s->bos_text = wf_token_to_str(v, wf_vocab_bos(v));
    s->eos_text = wf_token_to_str(v, wf_vocab_eos(v));
    s->has_fim = wf_fim_detect(v, wf_model_gguf(m), WF_FIM_AUTO, &s->fim, NULL) == WF_OK;

    /* slots */
    wf_context_params cp = s->cfg.ctx;
    if (cp.n_ctx <= 0) cp.n_ctx = wf_server_default_n_ctx(m);
    /* the KV caches commit as they fill: a context too large for this
     * machine would fail mid-request; refuse it now, with the numbers */
    if (cp.n_ctx > 0) {
        uint64_t kv = wf_kv_bytes_ctx(wf_model_hparams(m), cp.n_ctx, cp.kv_full ? 0 : (cp.n_batch > 0 ? cp.n_batch : 512), cp.kv_type) *
                      (uint64_t)s->cfg.n_parallel;
        uint64_t weights = wf_gguf_file_size(wf_model_gguf(m)), avail = wf_mem_available();
        if (avail && kv + weights > avail) {
            const double G = 1024.0 * 1024.0 * 1024.0;
            st = wf_fail(err, WF_ERR_NOMEM,
                         "serve: %d slots of %d tokens need %.1f GiB of KV cache (%s) plus %.1f GiB of weights, but this machine "
                         "has %.1f GiB of memory available: lower -c or --parallel (or --kv q8_0)",
                         s->cfg.n_parallel, cp.n_ctx, (double)kv / G, cp.kv_type == WF_KV_F32 ? "f32" : cp.kv_type == WF_KV_Q8_0 ? "q8_0" : "f16", (double)weights / G,
                         (double)avail / G);
            goto fail;
        }
    }
    if (s->cfg.cache_bytes && (st = wf_prefix_cache_create(s->cfg.cache_bytes, 0, &s->pc, err)) != WF_OK) goto fail;
    if (s->cfg.responses_max > 0 &&
        !(s->rstore = srv_rstore_new((size_t)s->cfg.responses_max, (size_t)s->cfg.responses_bytes)))
        goto nomem;
    if (!(s->slots = calloc((size_t)s->cfg.n_parallel, sizeof *s->slots))) goto nomem;
    for (int i = 0; i < s->cfg.n_parallel; i++) {
        if ((st = wf_session_create(m, &cp, &s->slots[i].sess, err)) != WF_OK) goto fail;
        wf_session_set_prefill_chunk(s->slots[i].sess, s->cfg.prefill_chunk);
        if (s->pc) wf_session_set_prefix_cache(s->slots[i].sess, s->pc);
        if (s->cfg.draft && (st = wf_session_set_draft(s->slots[i].sess, s->cfg.draft, NULL, err)) != WF_OK) goto fail;
    }
    s->n_ctx = wf_context_n_ctx(wf_session_context(s->slots[0].sess));
    const char *cn = wf_context_notice(wf_session_context(s->slots[0].sess));
    if (cn && *cn) {
        char msg[600];
        snprintf(msg, sizeof msg, "wafer serve: %s", cn);
        note(s, msg);
    }
    *out = s;
    return WF_OK;
nomem:
    st = wf_fail(err, WF_ERR_NOMEM, "serve: out of memory");
fail:
    wf_server_free(s);
    return st;
}

wf_status wf_server_start(wf_server *s, wf_error *err) {
    if (pthread_create(&s->engine, NULL, srv_engine_main, s)) return wf_fail(err, WF_ERR_INTERNAL, "serve: cannot start the engine thread");
    s->engine_started = true;
    wf_status st = srv_http_start(s, err);
    if (st != WF_OK) {
        pthread_mutex_lock(&s->mu);
        s->quit = true;
        pthread_cond_signal(&s->engine_cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->engine, NULL);
        s->engine_started = false;
    }
    return st;
}

int wf_server_port(const wf_server *s) { return s->port; }
int32_t wf_server_n_ctx(const wf_server *s) { return s->n_ctx; }

void wf_server_drain(wf_server *s, double timeout_s) {
    pthread_mutex_lock(&s->mu);
    s->draining = true;
    pthread_mutex_unlock(&s->mu);
    srv_http_quiesce(s);
    double t_end = wf_time_now() + (timeout_s > 0 ? timeout_s : 0);
    for (bool cancelled = false;;) {
        pthread_mutex_lock(&s->mu);
        int live = s->n_live;
        if (live && !cancelled && wf_time_now() >= t_end) {
            /* time is up: cancel what is left (queued ones are dropped by the engine) */
            for (srv_req *r = s->all; r; r = r->all_next)
                if (r->state != SRV_DONE && !r->cancel) {
                    r->cancel = true;
                    if (r->state == SRV_RUNNING && r->slot >= 0) wf_session_cancel(s->slots[r->slot].sess);
                }
            pthread_cond_signal(&s->engine_cv);
            cancelled = true;
        }
        pthread_mutex_unlock(&s->mu);
        if (!live) break;
        usleep(5000);
    }
    /* The engine is done; the answers may still be on their way (a
     * cancelled request's cut-short answer too): let libmicrohttpd finish
     * sending them before the caller stops it, for at most 5 s. */
    for (double t_flush = wf_time_now() + 5.0; srv_conns_n_busy(&s->conns) > 0 && wf_time_now() < t_flush;)
        usleep(5000);
}

void wf_server_free(wf_server *s) {
    if (!s) return;
    if (s->engine_started) {
        wf_server_drain(s, 0);
        srv_http_stop(s);
        pthread_mutex_lock(&s->mu);
        s->quit = true;
        pthread_cond_signal(&s->engine_cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->engine, NULL);
    } else {
        srv_http_stop(s);
    }
    for (int i = 0; s->slots && i < s->cfg.n_parallel; i++) wf_session_free(s->slots[i].sess);
    free(s->slots);
    wf_prefix_cache_free(s->pc);
    srv_rstore_free(s->rstore);
    wf_template_free(s->tmpl);
    wf_grammar_cache_free(s->gcache);
    wf_grammar_vocab_free(s->gvocab);
    free(s->bos_text);
    free(s->eos_text);
    free(s->host);
    free(s->api_key);
    free(s->model_name);
    pthread_cond_destroy(&s->engine_cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* ---- logging ------------------------------------------------------------- */

/* The request target for a log line: bytes outside printable ASCII (and
 * the quote and backslash) as %XX, so that a hostile path cannot forge a
 * line or send terminal escapes. */
static void log_path(char *out, size_t cap, const char *p) {
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (; *p && o + 4 < cap; p++) {
        unsigned char c = (unsigned char)*p;
        if (c > 32 && c < 127 && c != '"' && c != '\\' && c != '%') out[o++] = (char)c;
        else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = 0;
}

void srv_log_request(wf_server *s, const srv_req *r, const srv_log_info *li) {
    if (!s->cfg.log) return;
    double now = wf_time_now();
    double total_ms = (now - li->t_start) * 1000.0;
    char path[300];
    log_path(path, sizeof path, li->path ? li->path : "");
    const char *err = li->error && *li->error ? li->error : NULL;
    if (s->cfg.log_json) {
        json_t *o = json_pack("{s:s, s:I, s:s, s:s, s:s, s:s, s:i, s:f}", "event", "request", "time", (json_int_t)time(NULL),
                              "id", li->id, "method", li->method, "path", path, "endpoint", li->route, "status", li->status,
                              "total_ms", total_ms);
        if (o && err) json_object_set_new(o, "error", json_string(err));
        if (o && r && r->t_admit > 0) {
            json_object_set_new(o, "prompt_tokens", json_integer(r->res.n_prompt ? r->res.n_prompt : (json_int_t)r->n_prompt));
            json_object_set_new(o, "cached_tokens", json_integer(r->res.n_prompt_cached));
            json_object_set_new(o, "generated_tokens", json_integer(r->res.n_generated));
            json_object_set_new(o, "queue_ms", json_real(r->t_admit > 0 ? (r->t_admit - r->t_arrive) * 1000.0 : 0));
            json_object_set_new(o, "ttft_ms", json_real(r->t_first > 0 ? (r->t_first - r->t_arrive) * 1000.0 : 0));
            json_object_set_new(o, "decode_tok_s", json_real(r->res.decode_tok_s));
            json_object_set_new(o, "stop", json_string(r->cancel && !r->time_limited ? "cancelled" : wf_gen_stop_name(r->res.stop)));
            json_object_set_new(o, "slot", json_integer(r->slot));
        }
        char *t = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        json_decref(o);
        if (t) {
            s->cfg.log(s->cfg.log_user, t);
            free(t);
        }
        return;
    }
    char line[1200];
    int n = snprintf(line, sizeof line, "request %s %s %s %d:", li->id, li->method, path, li->status);
    if (n < 0 || (size_t)n >= sizeof line) n = (int)sizeof line - 1;
    size_t o = (size_t)n;
    if (r && r->t_admit > 0)
        snprintf(line + o, sizeof line - o,
                 " prompt %d tokens (%d cached), %d generated, queue %.1f ms, ttft %.1f ms, "
                 "%.1f tok/s, total %.1f ms, stop: %s, slot %d%s%s",
                 r->res.n_prompt ? r->res.n_prompt : (int)r->n_prompt, r->res.n_prompt_cached, r->res.n_generated,
                 r->t_admit > 0 ? (r->t_admit - r->t_arrive) * 1000.0 : 0.0, r->t_first > 0 ? (r->t_first - r->t_arrive) * 1000.0 : 0.0,
                 r->res.decode_tok_s, total_ms, r->cancel && !r->time_limited ? "cancelled" : wf_gen_stop_name(r->res.stop), r->slot,
                 err ? ", error: " : "", err ? err : "");
    else
        snprintf(line + o, sizeof line - o, " total %.1f ms%s%s", total_ms, err ? ", error: " : "", err ? err : "");
    s->cfg.log(s->cfg.log_user, line);
}
