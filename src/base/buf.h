/* buf.h — growable arrays and byte strings: the one place where a buffer
 * grows (capacity doubling, sizes checked for overflow), instead of a
 * realloc loop in every file that collects tokens, messages or text.
 *
 *   int32_t *ids = NULL; size_t n = 0, cap = 0;     typed array, any element
 *   if (!WF_ARRAY_APPEND(ids, n, cap, src, k)) ...  out of memory
 *
 *   wf_buf b = {0};                                 bytes, NUL-terminated
 *   wf_buf_str(&b, "x = "); wf_buf_printf(&b, "%d\n", 3);
 *   if (b.failed) ...                               some add failed
 *   use b.p[0..b.n); wf_buf_free(&b);
 */
#ifndef WF_BUF_H
#define WF_BUF_H

#include "base/common.h"

#include <stdbool.h>
#include <stddef.h>

/* Room for need elements of elem bytes in the array *arr whose capacity is
 * *cap: doubles the capacity (16 at least) until need fits. Returns false,
 * leaving *arr and *cap as they were, when out of memory or when need * elem
 * overflows. arr is the address of the caller's typed pointer (T **); it is
 * read and written as a void * (one representation for all object pointers
 * on the platforms wafer builds for). */
bool wf_array_reserve(void *arr, size_t *cap, size_t elem, size_t need);
/* Append count elements from src (may be NULL when count is 0) to the array
 * *arr holding *n of *cap elements. False as wf_array_reserve (nothing
 * appended). */
bool wf_array_append(void *arr, size_t *n, size_t *cap, size_t elem, const void *src, size_t count);

/* The same for a typed array a (an lvalue of type T *) with size and
 * capacity lvalues: the element size is sizeof *a. */
#define WF_ARRAY_RESERVE(a, cap, need) wf_array_reserve(&(a), &(cap), sizeof *(a), (need))
#define WF_ARRAY_APPEND(a, n, cap, src, count) wf_array_append(&(a), &(n), &(cap), sizeof *(a), (src), (count))

/* A growable byte string: p[0..n), with p[n] == 0 once anything was added
 * (p is NULL before). An add that cannot grow the buffer returns false and
 * changes nothing but failed, which turns true and stays true (until
 * wf_buf_free): a caller may check each add, or build a whole text and
 * check failed once at the end. */
typedef struct wf_buf {
    char *p;
    size_t n, cap;
    bool failed;
} wf_buf;

bool wf_buf_add(wf_buf *b, const void *s, size_t n);
bool wf_buf_str(wf_buf *b, const char *s);
bool wf_buf_printf(wf_buf *b, const char *fmt, ...) WF_PRINTF(2, 3);
bool wf_buf_vprintf(wf_buf *b, const char *fmt, va_list ap);
/* Empty the string, keeping its memory (and its failed flag). */
void wf_buf_clear(wf_buf *b);
/* Take the string (NULL if nothing was added): the caller frees it; b is
 * left empty. */
char *wf_buf_take(wf_buf *b, size_t *n);
void wf_buf_free(wf_buf *b);

#endif
