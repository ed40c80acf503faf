/* stop.c — streaming stop-string matcher (contract in stop.h).
 *
 * Generated text arrives a token at a time, and a stop string may span token
 * boundaries. Whatever could still be the beginning of a stop string is held
 * back: after each feed the held text is the longest suffix of the stream
 * that is a proper prefix of some stop string, so nothing emitted can ever
 * turn out to belong to a stop string, and only up to max_len - 1 bytes wait.
 *
 * Matching rule: the stop is the occurrence that *ends* first in the stream
 * (longest when several end at the same byte). A streaming matcher cannot do
 * better without looking ahead, and this rule gives the same answer however
 * the text is split into pieces.
 */
#include "gen/stop.h"
#include "base/buf.h"

#include <stdlib.h>

wf_status wf_stop_init(wf_stop *s, const char *const *strs, size_t n, wf_error *err) {
    if (!s) return wf_fail(err, WF_ERR_INVALID_ARG, "stop strings: NULL matcher");
    memset(s, 0, sizeof *s);
    if (n > 0 && !strs) return wf_fail(err, WF_ERR_INVALID_ARG, "stop strings: NULL list of %zu", n);
    if (n > 0) {
        s->strs = calloc(n, sizeof *s->strs);
        if (!s->strs) return wf_fail(err, WF_ERR_NOMEM, "stop strings: out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        if (!strs[i]) {
            wf_stop_free(s);
            return wf_fail(err, WF_ERR_INVALID_ARG, "stop strings: entry %zu is NULL", i);
        }
        size_t len = strlen(strs[i]);
        if (len == 0) continue; /* would match everywhere: ignore */
        char *copy = malloc(len + 1);
        if (!copy) {
            wf_stop_free(s);
            return wf_fail(err, WF_ERR_NOMEM, "stop strings: out of memory");
        }
        memcpy(copy, strs[i], len + 1);
        s->strs[s->n++] = copy;
        if (len > s->max_len) s->max_len = len;
    }
    return WF_OK;
}

void wf_stop_free(wf_stop *s) {
    if (!s) return;
    for (size_t i = 0; i < s->n; i++) free(s->strs[i]);
    free(s->strs);
    free(s->held);
    memset(s, 0, sizeof *s);
}

/* Make room for `need` bytes starting at held[0]. */
static bool reserve(wf_stop *s, size_t need) { return WF_ARRAY_RESERVE(s->held, s->cap, need); }

/* Length of the longest suffix of buf[0..len) that is a proper prefix of
 * some stop string. */
static size_t hold_len(const wf_stop *s, const char *buf, size_t len) {
    size_t k = s->max_len > 0 ? s->max_len - 1 : 0;
    if (k > len) k = len;
    for (; k > 0; k--) {
        const char *suf = buf + len - k;
        for (size_t i = 0; i < s->n; i++)
            if (strlen(s->strs[i]) > k && memcmp(suf, s->strs[i], k) == 0) return k;
    }
    return 0;
}

bool wf_stop_feed(wf_stop *s, const char *text, size_t len, const char **emit, size_t *n_emit) {
    *emit = "";
    *n_emit = 0;
    if (!text) len = 0;
    /* held text moves to the front, the new text goes after it */
    size_t old = s->n_held;
    if (len > SIZE_MAX - old || !reserve(s, old + len)) {
        /* out of memory: stop generating rather than lose or garble text */
        *emit = s->held ? s->held + s->off : "";
        *n_emit = s->n_held;
        s->n_held = s->off = 0;
        return true;
    }
    if (!s->held) return false; /* nothing held, nothing fed */
    memmove(s->held, s->held + s->off, old);
    if (len) memcpy(s->held + old, text, len);
    s->off = 0;
    size_t total = old + len;
    char *buf = s->held;

    /* Earliest end first; occurrences ending inside the old held text were
     * ruled out by the previous call. */
    for (size_t e = old + 1; e <= total; e++) {
        size_t best = 0;
        for (size_t i = 0; i < s->n; i++) {
            size_t l = strlen(s->strs[i]);
            if (l <= e && l > best && memcmp(buf + e - l, s->strs[i], l) == 0) best = l;
        }
        if (best) {
            *emit = buf;
            *n_emit = e - best;
            s->n_held = 0;
            return true;
        }
    }

    size_t h = hold_len(s, buf, total);
    *emit = buf;
    *n_emit = total - h;
    s->off = total - h;
    s->n_held = h;
    return false;
}

void wf_stop_flush(wf_stop *s, const char **emit, size_t *n_emit) {
    *emit = s->held ? s->held + s->off : "";
    *n_emit = s->n_held;
    s->n_held = 0;
    s->off = 0;
}
