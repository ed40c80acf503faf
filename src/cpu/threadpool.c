/* threadpool.c — persistent worker threads for wf_threadpool_run.
 *
 * A job is published by bumping an atomic generation counter. Workers spin on
 * that counter for a short while after each job (a decode step issues a few
 * hundred small jobs back to back, and waking a sleeping thread costs tens of
 * microseconds), then yield, then sleep on a condition variable so an idle
 * pool costs no CPU. The caller runs its share as thread 0 and then waits for
 * the workers' completion count.
 *
 * Hand-off protocol (all atomics sequentially consistent where it matters):
 *   run():    fn/arg/n_done written, gen++ (seq_cst), then if n_sleeping > 0
 *             lock + broadcast.
 *   worker:   lock, n_sleeping++ (seq_cst), re-check gen, wait, n_sleeping--.
 * Either the dispatcher sees the sleeper and broadcasts under the mutex, or
 * the sleeper's re-check sees the new generation; no wake-up is lost.
 */
#include "cpu/threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define WF_CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define WF_CPU_RELAX() __asm__ __volatile__("yield" ::: "memory")
#else
#define WF_CPU_RELAX() ((void)0)
#endif

/* How long an idle worker polls before sleeping. Decode jobs come every few
 * microseconds and the gap between tokens (sampling, detokenizing) is a few
 * hundred; a condvar wake-up costs 50-100 us on a busy machine, so poll
 * across that gap but not much longer. */
#define WF_TP_SPIN_SECONDS 1e-3
/* Polls between clock reads / between yields while waiting. */
#define WF_TP_SPIN_CHECK 256

typedef struct wf_worker {
    wf_threadpool *tp;
    int ith;
    pthread_t thread;
} wf_worker;

struct wf_threadpool {
    int n_threads;            /* including the caller (thread 0)           */
    wf_worker *workers;       /* n_threads - 1                             */
    int n_started;            /* workers actually created                  */

    /* current job; written by the caller before the generation bump */
    wf_task_fn fn;
    void *arg;

    _Alignas(64) atomic_uint_fast64_t gen; /* job generation               */
    _Alignas(64) atomic_int n_done;        /* workers finished this job    */
    _Alignas(64) atomic_int n_sleeping;    /* workers blocked on cv        */
    atomic_bool stop;

    pthread_mutex_t mu;
    pthread_cond_t cv;
};

int wf_n_cores(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1) return 1;
    if (n > 4096) return 4096;
    return (int)n;
}

/* Wait until the generation differs from last (returns it) or stop is set
 * (returns last). Spins first, then yields, then sleeps. */
static uint64_t worker_wait(wf_threadpool *tp, uint64_t last) {
    double t0 = 0.0;
    for (unsigned i = 1;; i++) {
        uint64_t g = atomic_load_explicit(&tp->gen, memory_order_acquire);
        if (g != last || atomic_load_explicit(&tp->stop, memory_order_acquire)) return g;
        WF_CPU_RELAX();
        if (i % WF_TP_SPIN_CHECK == 0) {
            double now = wf_time_now();
            if (t0 == 0.0) t0 = now;
            else if (now - t0 > WF_TP_SPIN_SECONDS) break;
            /* more threads than cores: let the thread we wait for run */
            sched_yield();
        }
    }
    pthread_mutex_lock(&tp->mu);
    atomic_fetch_add(&tp->n_sleeping, 1);
    uint64_t g;
    while ((g = atomic_load(&tp->gen)) == last && !atomic_load(&tp->stop))
        pthread_cond_wait(&tp->cv, &tp->mu);
    atomic_fetch_sub(&tp->n_sleeping, 1);
    pthread_mutex_unlock(&tp->mu);
    return g;
}

static void *worker_main(void *p) {
    wf_worker *w = p;
    wf_threadpool *tp = w->tp;
    uint64_t last = 0; /* gen starts at 0; the first job makes it 1 */
    for (;;) {
        uint64_t g = worker_wait(tp, last);
        if (atomic_load_explicit(&tp->stop, memory_order_acquire)) break;
        last = g;
        tp->fn(tp->arg, w->ith, tp->n_threads);
        atomic_fetch_add_explicit(&tp->n_done, 1, memory_order_release);
    }
    return NULL;
}

wf_status wf_threadpool_create(int n_threads, wf_threadpool **out, wf_error *err) {
    if (!out) return wf_fail(err, WF_ERR_INVALID_ARG, "threadpool: NULL output pointer");
    *out = NULL;
    if (n_threads <= 0) n_threads = wf_n_cores();
    if (n_threads > 1024)
        return wf_fail(err, WF_ERR_INVALID_ARG, "threadpool: %d threads is too many (max 1024)", n_threads);

    wf_threadpool *tp = calloc(1, sizeof *tp);
    if (!tp) return wf_fail(err, WF_ERR_NOMEM, "threadpool: out of memory");
    tp->n_threads = n_threads;
    atomic_init(&tp->gen, 0);
    atomic_init(&tp->n_done, 0);
    atomic_init(&tp->n_sleeping, 0);
    atomic_init(&tp->stop, false);
    if (pthread_mutex_init(&tp->mu, NULL) != 0) {
        free(tp);
        return wf_fail(err, WF_ERR_INTERNAL, "threadpool: pthread_mutex_init failed");
    }
    if (pthread_cond_init(&tp->cv, NULL) != 0) {
        pthread_mutex_destroy(&tp->mu);
        free(tp);
        return wf_fail(err, WF_ERR_INTERNAL, "threadpool: pthread_cond_init failed");
    }
    if (n_threads > 1) {
        tp->workers = calloc((size_t)(n_threads - 1), sizeof *tp->workers);
        if (!tp->workers) {
            wf_threadpool_free(tp);
            return wf_fail(err, WF_ERR_NOMEM, "threadpool: out of memory");
        }
        for (int i = 0; i < n_threads - 1; i++) {
            wf_worker *w = &tp->workers[i];
            w->tp = tp;
            w->ith = i + 1;
            if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
                wf_threadpool_free(tp); /* joins the ones already started */
                return wf_fail(err, WF_ERR_INTERNAL,
                               "threadpool: could not start thread %d of %d", i + 1, n_threads);
            }
            tp->n_started++;
        }
    }
    *out = tp;
    return WF_OK;
}

void wf_threadpool_free(wf_threadpool *tp) {
    if (!tp) return;
    pthread_mutex_lock(&tp->mu);
    atomic_store(&tp->stop, true);
    pthread_cond_broadcast(&tp->cv);
    pthread_mutex_unlock(&tp->mu);
    for (int i = 0; i < tp->n_started; i++) pthread_join(tp->workers[i].thread, NULL);
    pthread_cond_destroy(&tp->cv);
    pthread_mutex_destroy(&tp->mu);
    free(tp->workers);
    free(tp);
}

int wf_threadpool_n_threads(const wf_threadpool *tp) { return tp ? tp->n_threads : 1; }

/* Not reentrant: one caller thread at a time, and fn must not call run. */
void wf_threadpool_run(wf_threadpool *tp, wf_task_fn fn, void *arg) {
    if (!tp || tp->n_threads == 1) {
        fn(arg, 0, 1);
        return;
    }
    tp->fn = fn;
    tp->arg = arg;
    atomic_store_explicit(&tp->n_done, 0, memory_order_relaxed);
    atomic_fetch_add(&tp->gen, 1); /* seq_cst: publishes fn/arg/n_done */
    if (atomic_load(&tp->n_sleeping) > 0) {
        pthread_mutex_lock(&tp->mu);
        pthread_cond_broadcast(&tp->cv);
        pthread_mutex_unlock(&tp->mu);
    }

    fn(arg, 0, tp->n_threads);

    /* Wait for the workers. This only lasts as long as the slowest share of
     * the job, so poll; yield now and then in case threads outnumber cores. */
    const int want = tp->n_threads - 1;
    for (unsigned i = 1; atomic_load_explicit(&tp->n_done, memory_order_acquire) != want; i++) {
        WF_CPU_RELAX();
        if (i % WF_TP_SPIN_CHECK == 0) sched_yield();
    }
}
