/* common.c — error records, aligned allocation, clocks. */
#include "base/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

wf_status wf_fail(wf_error *err, wf_status code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

void wf_error_clear(wf_error *err) {
    if (err) {
        err->code = WF_OK;
        err->msg[0] = '\0';
    }
}

const char *wf_status_name(wf_status s) {
    switch (s) {
    case WF_OK: return "ok";
    case WF_ERR_INVALID_ARG: return "invalid argument";
    case WF_ERR_IO: return "I/O error";
    case WF_ERR_FORMAT: return "format error";
    case WF_ERR_UNSUPPORTED: return "unsupported";
    case WF_ERR_NOMEM: return "out of memory";
    case WF_ERR_NOT_FOUND: return "not found";
    case WF_ERR_RANGE: return "out of range";
    case WF_ERR_CANCELLED: return "cancelled";
    case WF_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

void *wf_alloc_aligned(size_t size) {
    if (size == 0) return NULL;
    size_t rounded = (size + 63) & ~(size_t)63;
    if (rounded < size) return NULL;
    return aligned_alloc(64, rounded);
}

void wf_free_aligned(void *p) { free(p); }

uint64_t wf_mem_available(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return 0;
    char line[256];
    uint64_t kb = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long long v;
        if (sscanf(line, "MemAvailable: %llu kB", &v) == 1) {
            kb = v;
            break;
        }
    }
    fclose(f);
    return kb * 1024;
}

double wf_time_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

char *wf_dup_bytes(const char *s, size_t n) {
    if (n == SIZE_MAX) return NULL;
    char *d = malloc(n + 1);
    if (!d) return NULL;
    if (n) memcpy(d, s, n);
    d[n] = 0;
    return d;
}
