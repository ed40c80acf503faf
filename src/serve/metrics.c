/* metrics.c — counters and histograms of the server, written out in
 * the Prometheus text exposition format (version 0.0.4) for GET /metrics.
 * The caller holds the server's lock around updates and the snapshot. */
#include "serve/serve_int.h"

#include "base/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bucket upper bounds in seconds, shared by the three histograms. */
static const double bounds[SRV_HIST_N] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                          0.25, 0.5, 1, 2.5, 5, 10, 30};

void srv_metrics_count_status(srv_metrics *m, const char *path, int status) {
    for (int i = 0; i < m->n_rows; i++)
        if (m->rows[i].status == status && !strcmp(m->rows[i].path, path)) {
            m->rows[i].n++;
            return;
        }
    int i = m->n_rows;
    if (i < SRV_MAX_STATUS_ROWS - 1) {
        snprintf(m->rows[i].path, sizeof m->rows[i].path, "%s", path);
        m->rows[i].status = status;
        m->n_rows++;
    } else { /* the last row counts whatever does not fit */
        i = SRV_MAX_STATUS_ROWS - 1;
        if (m->n_rows < SRV_MAX_STATUS_ROWS) {
            snprintf(m->rows[i].path, sizeof m->rows[i].path, "other");
            m->rows[i].status = 0;
            m->n_rows++;
        }
    }
    m->rows[i].n++;
}

void srv_metrics_observe(srv_hist *h, double seconds) {
    if (!(seconds >= 0)) seconds = 0;
    int b = 0;
    while (b < SRV_HIST_N && seconds > bounds[b]) b++;
    h->counts[b]++;
    h->sum += seconds;
    h->n++;
}

static void counter(wf_buf *o, const char *name, const char *help, uint64_t v) {
    wf_buf_printf(o, "# HELP wafer_%s %s\n# TYPE wafer_%s counter\nwafer_%s %llu\n", name, help, name, name, (unsigned long long)v);
}

static void gauge(wf_buf *o, const char *name, const char *help, double v) {
    wf_buf_printf(o, "# HELP wafer_%s %s\n# TYPE wafer_%s gauge\nwafer_%s %.17g\n", name, help, name, name, v);
}

static void hist(wf_buf *o, const char *name, const char *help, const srv_hist *h) {
    wf_buf_printf(o, "# HELP wafer_%s %s\n# TYPE wafer_%s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (int b = 0; b < SRV_HIST_N; b++) {
        cum += h->counts[b];
        wf_buf_printf(o, "wafer_%s_bucket{le=\"%g\"} %llu\n", name, bounds[b], (unsigned long long)cum);
    }
    cum += h->counts[SRV_HIST_N];
    wf_buf_printf(o, "wafer_%s_bucket{le=\"+Inf\"} %llu\nwafer_%s_sum %.9g\nwafer_%s_count %llu\n", name,
        (unsigned long long)cum, name, h->sum, name, (unsigned long long)h->n);
}

char *srv_metrics_text(const srv_metrics *m, int queue_depth, int slots_busy, int n_slots,
                       const wf_prefix_cache_stats *pc, const wf_grammar_cache_stats *gc) {
    wf_buf o = {0};
    wf_buf_printf(&o, "# HELP wafer_http_requests_total HTTP requests by endpoint and status code.\n"
            "# TYPE wafer_http_requests_total counter\n");
    for (int i = 0; i < m->n_rows; i++)
        wf_buf_printf(&o, "wafer_http_requests_total{endpoint=\"%s\",status=\"%d\"} %llu\n", m->rows[i].path, m->rows[i].status,
            (unsigned long long)m->rows[i].n);
    counter(&o, "prompt_tokens_total", "Prompt tokens of finished generations.", m->prompt_tokens);
    counter(&o, "prompt_tokens_cached_total", "Prompt tokens reused from a slot or the prefix cache.", m->cached_tokens);
    counter(&o, "generated_tokens_total", "Tokens generated.", m->generated_tokens);
    counter(&o, "requests_cancelled_total", "Generations cancelled (client gone, explicit cancel, shutdown).",
            m->requests_cancelled);
    counter(&o, "requests_rejected_queue_full_total", "Requests refused with 429 because the queue was full.",
            m->requests_rejected_queue);
    counter(&o, "spec_draft_tokens_total", "Draft tokens proposed by speculative decoding.", m->draft_proposed);
    counter(&o, "spec_accepted_tokens_total", "Draft tokens accepted.", m->draft_accepted);
    counter(&o, "prediction_accepted_tokens_total", "Predicted-output tokens accepted.", m->pred_accepted);
    counter(&o, "prediction_rejected_tokens_total", "Predicted-output tokens rejected.", m->pred_rejected);
    gauge(&o, "queue_depth", "Requests waiting for a slot.", queue_depth);
    gauge(&o, "slots_busy", "Slots running a request.", slots_busy);
    gauge(&o, "slots_total", "Slots (--parallel).", n_slots);
    if (pc) {
        gauge(&o, "prefix_cache_entries", "Entries in the prefix cache.", pc->n_entries);
        gauge(&o, "prefix_cache_bytes", "Bytes held by the prefix cache.", (double)pc->bytes);
        counter(&o, "prefix_cache_hits_total", "Prefix cache lookups that restored tokens.", (uint64_t)pc->n_hits);
    }
    if (gc) {
        gauge(&o, "grammar_cache_entries", "Compiled grammars kept for later requests with the same constraint.",
              gc->n_entries);
        gauge(&o, "grammar_cache_bytes", "Bytes of the kept grammars' masks and parser states.", (double)gc->bytes);
        counter(&o, "grammar_cache_hits_total", "Constrained requests that reused a kept grammar and its masks.",
                (uint64_t)gc->n_hits);
        counter(&o, "grammar_cache_misses_total", "Constrained requests that compiled their grammar.",
                (uint64_t)gc->n_misses);
    }
    hist(&o, "time_to_first_token_seconds", "Request arrival to first generated token.", &m->ttft);
    hist(&o, "time_per_output_token_seconds", "Mean time between generated tokens, per request.", &m->per_token);
    hist(&o, "queue_wait_seconds", "Request arrival to admission into a slot.", &m->queue_wait);
    if (o.failed) {
        free(o.p);
        return NULL;
    }
    return o.p;
}
