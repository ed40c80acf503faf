/* schema_int.h — what json_schema.c and pattern.c share: writing GBNF text
 * into a wf_buf (base/buf.h; the callers check its failed flag), and the
 * regex-subset translator. */
#ifndef WF_SCHEMA_INT_H
#define WF_SCHEMA_INT_H

#include "base/buf.h"
#include "grammar/grammar.h"

/* A GBNF literal "..." matching the bytes s[0..n). */
bool wf_gbnf_literal(wf_buf *b, const char *s, size_t n);

/* A JSON Schema `pattern` (ECMA-262 subset, docs/grammar.md) -> a GBNF
 * expression for the body of a JSON string (between the quotes) whose
 * decoded text matches it. Uses the rule json-plain (one unescaped
 * character). false with a message in msg when the pattern uses something
 * outside the subset. */
bool wf_regex_to_gbnf(const char *re, size_t n, wf_buf *out, char *msg, size_t msg_cap);

#endif /* WF_SCHEMA_INT_H */
