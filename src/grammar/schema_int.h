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

/* The decimal numbers from digit string lo to hi, both n digits (n < 24). */
void wf_gbnf_same_len(wf_buf *o, const char *lo, const char *hi, size_t n);

/* The integers a..b (0 <= a, at most max_len digits, no leading zeros) as
 * alternatives, " | " between them, counted in *alts. With frac_digits > 0 an
 * integer part of d < frac_digits digits may be followed by "." and up to
 * frac_digits - d digits. */
void wf_gbnf_int_range(wf_buf *o, int64_t a, int64_t b, int max_len, int frac_digits, int *alts);

typedef struct json_t json_t;

/* The schema a local reference "#/a/b" (JSON pointer, ~0 ~1) points to in
 * the document root, or NULL. */
json_t *wf_schema_resolve(json_t *root, const char *ref);

/* Whether no value matches two of the schemas list[0..n) (of document
 * root) — what makes `oneOf` the same as `anyOf` (schema_disjoint.c). A
 * sufficient test: false means "may overlap", with the first such pair in
 * *bad_i < *bad_j. */
bool wf_schemas_disjoint(json_t *root, json_t *list, size_t *bad_i, size_t *bad_j);

/* A GBNF expression (without the trailing space rule) for the JSON numbers
 * x with lo <= x <= hi (< with the exclusive flags; has_lo/has_hi false: no
 * bound) written without an exponent and with at most 15 digits, so that
 * comparing them as decimals and as doubles agrees (schema_number.c). The
 * bounds must have at most 15 significant digits and |b| < 1e15; false
 * with a message in msg otherwise, or when no such number exists. */
bool wf_gbnf_number_range(wf_buf *o, bool has_lo, double lo, bool lo_ex, bool has_hi, double hi, bool hi_ex, char *msg,
                          size_t msg_cap);

#endif /* WF_SCHEMA_INT_H */
