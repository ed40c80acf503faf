/* buf.c — growable arrays and byte strings (buf.h). */
#include "base/buf.h"

#include <stdio.h>
#include <stdlib.h>

bool wf_array_reserve(void *arr, size_t *cap, size_t elem, size_t need) {
    if (need <= *cap) return true;
    if (elem == 0 || need > SIZE_MAX / elem) return false;
    size_t c = *cap > 16 ? *cap : 16;
    while (c < need) c = c > SIZE_MAX / 2 ? need : c * 2;
    if (c > SIZE_MAX / elem) c = need;
    void *p;
    memcpy(&p, arr, sizeof p);
    void *np = realloc(p, c * elem);
    if (!np) return false;
    memcpy(arr, &np, sizeof np);
    *cap = c;
    return true;
}

bool wf_array_append(void *arr, size_t *n, size_t *cap, size_t elem, const void *src, size_t count) {
    if (count > SIZE_MAX - *n || !wf_array_reserve(arr, cap, elem, *n + count)) return false;
    if (count) {
        char *p;
        memcpy(&p, arr, sizeof p);
        memcpy(p + *n * elem, src, count * elem);
    }
    *n += count;
    return true;
}

bool wf_buf_add(wf_buf *b, const void *s, size_t n) {
    /* room for the bytes and the NUL */
    if (n >= SIZE_MAX - b->n || !wf_array_reserve(&b->p, &b->cap, 1, b->n + n + 1)) {
        b->failed = true;
        return false;
    }
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
    return true;
}

bool wf_buf_str(wf_buf *b, const char *s) { return wf_buf_add(b, s, strlen(s)); }

bool wf_buf_vprintf(wf_buf *b, const char *fmt, va_list ap) {
    va_list ap2;
    va_copy(ap2, ap);
    int k = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    /* the formatted text and its NUL, written in place */
    if (k < 0 || (size_t)k >= SIZE_MAX - b->n || !wf_array_reserve(&b->p, &b->cap, 1, b->n + (size_t)k + 1)) {
        b->failed = true;
        return false;
    }
    vsnprintf(b->p + b->n, (size_t)k + 1, fmt, ap);
    b->n += (size_t)k;
    return true;
}

bool wf_buf_printf(wf_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    bool ok = wf_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return ok;
}

void wf_buf_clear(wf_buf *b) {
    b->n = 0;
    if (b->p) b->p[0] = 0;
}

char *wf_buf_take(wf_buf *b, size_t *n) {
    char *p = b->p;
    if (n) *n = b->n;
    *b = (wf_buf){0};
    return p;
}

void wf_buf_free(wf_buf *b) {
    free(b->p);
    *b = (wf_buf){0};
}
