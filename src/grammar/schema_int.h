/* schema_int.h — what json_schema.c and pattern.c share: a growable text
 * buffer for the GBNF they write, and the regex-subset translator. */
#ifndef WF_SCHEMA_INT_H
#define WF_SCHEMA_INT_H

#include "grammar/grammar.h"

#include <stdarg.h>

/* Appends set oom (and return false) instead of failing loudly; the caller
 * checks oom once at the end. */
typedef struct wf_sbuf {
    char *s;
    size_t n, cap;
    bool oom;
} wf_sbuf;

bool wf_sbuf_add(wf_sbuf *b, const char *s, size_t n);
bool wf_sbuf_str(wf_sbuf *b, const char *s);
bool wf_sbuf_fmt(wf_sbuf *b, const char *fmt, ...) WF_PRINTF(2, 3);
/* A GBNF literal "..." matching the bytes s[0..n). */
bool wf_sbuf_literal(wf_sbuf *b, const char *s, size_t n);

/* A JSON Schema `pattern` (ECMA-262 subset, docs/grammar.md) -> a GBNF
 * expression for the body of a JSON string (between the quotes) whose
 * decoded text matches it. Uses the rule json-plain (one unescaped
 * character). false with a message in msg when the pattern uses something
 * outside the subset. */
bool wf_regex_to_gbnf(const char *re, size_t n, wf_sbuf *out, char *msg, size_t msg_cap);

#endif /* WF_SCHEMA_INT_H */
