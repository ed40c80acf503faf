/* test_threadpool.c — the pool runs every thread index exactly once per job,
 * jobs see each other's results in order, idle pools sleep and wake, and
 * create/free can be repeated. */
#include "cpu/threadpool.h"
#include "testutil.h"

#include <stdatomic.h>
#include <time.h>

#define MAX_T 8

typedef struct {
    atomic_int hits[MAX_T];     /* calls per thread index in this job        */
    atomic_int bad_nth;         /* calls that saw the wrong nth              */
    int expect_nth;
} count_job;

static void count_task(void *arg, int ith, int nth) {
    count_job *j = arg;
    if (nth != j->expect_nth || ith < 0 || ith >= MAX_T) {
        atomic_fetch_add(&j->bad_nth, 1);
        return;
    }
    atomic_fetch_add(&j->hits[ith], 1);
}

/* A computation with a data dependency between consecutive jobs: job k
 * reads what job k-1 wrote, split by index. Any overlap between jobs (a
 * worker still running when run() returns) shows up as a wrong sum. */
typedef struct {
    int64_t *a, *b; /* (n) */
    int64_t n;
} step_job;

static void step_task(void *arg, int ith, int nth) {
    step_job *j = arg;
    int64_t per = (j->n + nth - 1) / nth;
    int64_t i0 = ith * per, i1 = i0 + per < j->n ? i0 + per : j->n;
    for (int64_t i = i0; i < i1; i++) {
        /* read a neighbour written by another thread in the previous job */
        int64_t nb = j->a[(i + 1) % j->n];
        j->b[i] = j->a[i] + (nb & 1);
    }
}

/* Chunks from an atomic counter, as the matmul uses. */
typedef struct {
    atomic_int next;
    int n_chunks;
    atomic_int done[256];
} chunk_job;

static void chunk_task(void *arg, int ith, int nth) {
    chunk_job *j = arg;
    for (int c = atomic_fetch_add(&j->next, 1); c < j->n_chunks; c = atomic_fetch_add(&j->next, 1))
        atomic_fetch_add(&j->done[c], 1);
}

static void test_counts(int nt, int jobs) {
    wf_threadpool *tp = NULL;
    wf_error err = {0};
    CHECK(wf_threadpool_create(nt, &tp, &err) == WF_OK, "create %d: %s", nt, err.msg);
    if (!tp) return;
    CHECK(wf_threadpool_n_threads(tp) == nt, "n_threads %d != %d", wf_threadpool_n_threads(tp), nt);
    int bad = 0;
    for (int k = 0; k < jobs; k++) {
        count_job j;
        memset(&j, 0, sizeof j);
        j.expect_nth = nt;
        wf_threadpool_run(tp, count_task, &j);
        for (int i = 0; i < MAX_T; i++) {
            int want = i < nt ? 1 : 0;
            if (atomic_load(&j.hits[i]) != want) bad++;
        }
        if (atomic_load(&j.bad_nth)) bad++;
    }
    CHECK(bad == 0, "%d threads: %d wrong counts over %d jobs", nt, bad, jobs);
    wf_threadpool_free(tp);
}

static void test_dependent_jobs(int nt) {
    wf_threadpool *tp = NULL;
    CHECK(wf_threadpool_create(nt, &tp, NULL) == WF_OK, "create");
    if (!tp) return;
    enum { N = 1000, STEPS = 300 };
    int64_t *a = calloc(N, sizeof *a), *b = calloc(N, sizeof *b);
    int64_t *ra = calloc(N, sizeof *ra), *rb = calloc(N, sizeof *rb);
    for (int i = 0; i < N; i++) a[i] = ra[i] = (i * 7919) % 13;
    for (int s = 0; s < STEPS; s++) {
        step_job j = {a, b, N};
        wf_threadpool_run(tp, step_task, &j);
        int64_t *t = a; a = b; b = t;
        /* the same, serially */
        for (int i = 0; i < N; i++) rb[i] = ra[i] + (ra[(i + 1) % N] & 1);
        t = ra; ra = rb; rb = t;
    }
    int diff = 0;
    for (int i = 0; i < N; i++) diff += a[i] != ra[i];
    CHECK(diff == 0, "%d threads: %d elements differ from the serial run", nt, diff);
    free(a); free(b); free(ra); free(rb);
    wf_threadpool_free(tp);
}

static void test_chunks(int nt) {
    wf_threadpool *tp = NULL;
    CHECK(wf_threadpool_create(nt, &tp, NULL) == WF_OK, "create");
    if (!tp) return;
    int bad = 0;
    for (int k = 0; k < 200; k++) {
        chunk_job *j = calloc(1, sizeof *j);
        j->n_chunks = 1 + k % 256;
        wf_threadpool_run(tp, chunk_task, j);
        for (int c = 0; c < 256; c++) bad += atomic_load(&j->done[c]) != (c < j->n_chunks);
        free(j);
    }
    CHECK(bad == 0, "%d threads: %d chunks not run exactly once", nt, bad);
    wf_threadpool_free(tp);
}

/* Jobs separated by pauses longer than the spin time: workers must go to
 * sleep and wake up again. */
static void test_sleep_wake(int nt) {
    wf_threadpool *tp = NULL;
    CHECK(wf_threadpool_create(nt, &tp, NULL) == WF_OK, "create");
    if (!tp) return;
    int bad = 0;
    for (int k = 0; k < 10; k++) {
        struct timespec ts = {0, 3 * 1000 * 1000}; /* 3 ms */
        nanosleep(&ts, NULL);
        count_job j;
        memset(&j, 0, sizeof j);
        j.expect_nth = nt;
        wf_threadpool_run(tp, count_task, &j);
        for (int i = 0; i < nt; i++) bad += atomic_load(&j.hits[i]) != 1;
    }
    CHECK(bad == 0, "%d threads: %d wrong counts after sleeping", nt, bad);
    wf_threadpool_free(tp);
}

int main(void) {
    for (int nt = 1; nt <= 4; nt++) {
        test_counts(nt, 2000);
        test_dependent_jobs(nt);
        test_chunks(nt);
        test_sleep_wake(nt);
    }
    /* create/free repeatedly, with and without a job in between */
    for (int k = 0; k < 50; k++) {
        wf_threadpool *tp = NULL;
        int nt = 1 + k % 4;
        CHECK(wf_threadpool_create(nt, &tp, NULL) == WF_OK, "create #%d", k);
        if (k % 2) {
            count_job j;
            memset(&j, 0, sizeof j);
            j.expect_nth = nt;
            wf_threadpool_run(tp, count_task, &j);
            int bad = 0;
            for (int i = 0; i < nt; i++) bad += atomic_load(&j.hits[i]) != 1;
            CHECK(bad == 0, "create/free #%d", k);
        }
        wf_threadpool_free(tp);
    }
    /* n_threads <= 0: one per core */
    wf_threadpool *tp = NULL;
    CHECK(wf_threadpool_create(0, &tp, NULL) == WF_OK, "create(0)");
    CHECK(tp && wf_threadpool_n_threads(tp) == wf_n_cores(), "create(0) gave %d threads, cores %d",
          tp ? wf_threadpool_n_threads(tp) : -1, wf_n_cores());
    wf_threadpool_free(tp);
    CHECK(wf_n_cores() >= 1, "cores");
    wf_error err = {0};
    CHECK(wf_threadpool_create(100000, &tp, &err) == WF_ERR_INVALID_ARG && err.msg[0], "absurd thread count");
    CHECK(wf_threadpool_create(2, NULL, &err) == WF_ERR_INVALID_ARG, "NULL out");
    wf_threadpool_free(NULL);
    return t_done("test_threadpool");
}
