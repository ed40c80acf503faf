/* stop.h — the streaming stop-string matcher (token sampling itself is
 * public, in wafer.h). */
#ifndef WF_GEN_STOP_H
#define WF_GEN_STOP_H

#include "base/common.h"

/* Stop-string matcher over streamed text: text that could still be the start
 * of a stop string is held back until it is decided. */
typedef struct wf_stop {
    char **strs;
    size_t n;
    size_t max_len;
    char *held;      /* text held back: held[off .. off + n_held) */
    size_t n_held;
    size_t off;      /* start of the held text in held[]          */
    size_t cap;      /* bytes allocated for held[]                */
} wf_stop;

wf_status wf_stop_init(wf_stop *s, const char *const *strs, size_t n, wf_error *err);
void wf_stop_free(wf_stop *s);
/* Stop strings match bytes; empty strings in the list are ignored. A stop is
 * reported where a stop string first *ends* in the stream (the longest one
 * when several end at the same byte), so the result does not depend on how
 * the text is cut into pieces. After a stop, the held text is dropped.
 * Feed text; writes what is safe to emit to *emit (points into internal
 * storage valid until the next call) and returns true when a stop string
 * was found (the text before it is emitted, the stop string is not). */
bool wf_stop_feed(wf_stop *s, const char *text, size_t len, const char **emit, size_t *n_emit);
/* At the end: release everything held. */
void wf_stop_flush(wf_stop *s, const char **emit, size_t *n_emit);

#endif /* WF_GEN_STOP_H */
