/* threadpool.h — a persistent pool of worker threads.
 *
 * wf_threadpool_run() runs fn on every thread (the caller is thread 0) and
 * returns when all have finished. Workers spin briefly between jobs (decode
 * issues hundreds of small jobs per token), then sleep on a condition variable.
 * Work splitting is the job's business, typically chunks taken from an atomic
 * counter.
 */
#ifndef WF_THREADPOOL_H
#define WF_THREADPOOL_H

#include "base/common.h"

typedef struct wf_threadpool wf_threadpool;
typedef void (*wf_task_fn)(void *arg, int ith, int nth);

/* n_threads <= 0: number of online cores. */
wf_status wf_threadpool_create(int n_threads, wf_threadpool **out, wf_error *err);
void wf_threadpool_free(wf_threadpool *tp);
int wf_threadpool_n_threads(const wf_threadpool *tp);
void wf_threadpool_run(wf_threadpool *tp, wf_task_fn fn, void *arg);

/* Number of online cores (>= 1). */
int wf_n_cores(void);

#endif /* WF_THREADPOOL_H */
