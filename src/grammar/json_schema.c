/* json_schema.c — JSON Schema -> GBNF text -> wf_grammar, and JSON mode.
 *
 * Every schema node becomes a GBNF rule whose sentences are JSON texts that
 * validate against it (a subset of them where the schema is wider than the
 * grammar can say cheaply, never a superset):
 *   type (one or a list), properties / required / additionalProperties,
 *   enum, const, items / prefixItems / minItems / maxItems, minLength /
 *   maxLength, pattern (regex subset: pattern.c), format (date, time,
 *   date-time, uuid, ipv4, email), minimum / maximum / exclusiveMinimum /
 *   exclusiveMaximum, anyOf, oneOf (branches that provably cannot both
 *   match: schema_disjoint.c; others are refused), $ref to "#..." JSON
 *   pointers ($defs, definitions), nullable, boolean schemas.
 * Annotations (title, description, default, examples, ...) are ignored.
 * Anything else is an error naming the keyword and where it is: a request
 * must never get an unconstrained answer labelled as constrained.
 * Properties come in the schema's order; optional ones may be left out;
 * extra properties (additionalProperties true or a schema) follow them,
 * with keys that differ from the declared ones. docs/grammar.md lists the
 * choices made where JSON Schema allows more than the grammar generates. */
#include "grammar/schema_int.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

enum { MAX_DEPTH = 64, MAX_LIST = 10000 };

static const char *const k_annotations[] = {
    "title", "description", "$schema", "$id", "$comment", "default", "examples", "deprecated",
    "readOnly", "writeOnly", "$defs", "definitions", "strict", NULL};
static const char *const k_keywords[] = {
    "type", "properties", "required", "additionalProperties", "enum", "const", "items", "prefixItems",
    "minItems", "maxItems", "minLength", "maxLength", "pattern", "format", "minimum", "maximum",
    "exclusiveMinimum", "exclusiveMaximum", "anyOf", "oneOf", "$ref", "nullable", NULL};

static bool in_list(const char *k, const char *const *list) {
    for (int i = 0; list[i]; i++)
        if (!strcmp(k, list[i])) return true;
    return false;
}

/* ---- GBNF text ------------------------------------------------------------------- */

bool wf_gbnf_literal(wf_buf *b, const char *s, size_t n) {
    wf_buf_add(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') wf_buf_printf(b, "\\%c", c);
        else if (c < 0x20 || c == 0x7f) wf_buf_printf(b, "\\x%02X", c);
        else wf_buf_add(b, (const char *)&c, 1);
    }
    return wf_buf_add(b, "\"", 1) && !b->failed;
}

/* ---- the converter ------------------------------------------------------------------ */

typedef struct ref_entry {
    char *ref;
    char *rule;
} ref_entry;

typedef struct conv {
    json_t *root;
    wf_buf rules;        /* the generated rules, one per line */
    unsigned prims;       /* primitives used (PRIM_* bits) */
    int counter;
    ref_entry *refs;
    int n_refs;
    size_t cap_refs;
    int depth;
    wf_error *err;
    wf_status st;
} conv;

enum {
    PRIM_SPACE = 1, PRIM_CHAR = 2, PRIM_STRING = 4, PRIM_NUMBER = 8, PRIM_INTEGER = 16, PRIM_BOOLEAN = 32,
    PRIM_NULL = 64, PRIM_VALUE = 128, PRIM_OBJECT = 256, PRIM_ARRAY = 512, PRIM_PLAIN = 1024
};

static bool cfail(conv *c, wf_status code, const char *path, const char *fmt, ...) WF_PRINTF(4, 5);
static bool cfail(conv *c, wf_status code, const char *path, const char *fmt, ...) {
    if (c->st != WF_OK) return false;
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->st = wf_fail(c->err, code, "json_schema: %s (at %s)", msg, path[0] ? path : "/");
    return false;
}

static bool oom(conv *c) {
    if (c->st == WF_OK) c->st = wf_fail(c->err, WF_ERR_NOMEM, "json_schema: out of memory");
    return false;
}

/* The primitives, each written once when first used (PRIM_VALUE pulls in
 * all of them). */
static void write_prims(conv *c, wf_buf *o) {
    unsigned p = c->prims;
    if (p & PRIM_VALUE) p |= PRIM_OBJECT | PRIM_ARRAY | PRIM_STRING | PRIM_NUMBER | PRIM_BOOLEAN | PRIM_NULL;
    if (p & (PRIM_OBJECT | PRIM_ARRAY)) p |= PRIM_VALUE | PRIM_STRING | PRIM_NUMBER | PRIM_BOOLEAN | PRIM_NULL;
    if (p & PRIM_STRING) p |= PRIM_CHAR;
    p |= PRIM_SPACE;
    wf_buf_str(o, "space ::= \" \"?\n");
    if (p & PRIM_CHAR) wf_buf_str(o, "json-char ::= [^\"\\\\\\x00-\\x1F] | \"\\\\\" ([\"\\\\/bfnrt] | \"u\" [0-9a-fA-F]{4})\n");
    if (p & PRIM_PLAIN) wf_buf_str(o, "json-plain ::= [^\"\\\\\\x00-\\x1F]\n");
    if (p & PRIM_STRING) wf_buf_str(o, "json-string ::= \"\\\"\" json-char* \"\\\"\" space\n");
    if (p & PRIM_INTEGER) wf_buf_str(o, "json-integer ::= \"-\"? (\"0\" | [1-9] [0-9]{0,15}) space\n");
    if (p & PRIM_NUMBER)
        wf_buf_str(o, "json-number ::= \"-\"? (\"0\" | [1-9] [0-9]{0,15}) (\".\" [0-9]{1,16})? ([eE] [-+]? [0-9]{1,3})? space\n");
    if (p & PRIM_BOOLEAN) wf_buf_str(o, "json-boolean ::= (\"true\" | \"false\") space\n");
    if (p & PRIM_NULL) wf_buf_str(o, "json-null ::= \"null\" space\n");
    if (p & PRIM_VALUE)
        wf_buf_str(o, "json-value ::= json-object | json-array | json-string | json-number | json-boolean | json-null\n"
                       "json-object ::= \"{\" space (json-string \":\" space json-value (\",\" space json-string \":\" space json-value)*)? \"}\" space\n"
                       "json-array ::= \"[\" space (json-value (\",\" space json-value)*)? \"]\" space\n");
}

/* A new rule name: "s<N>" plus a readable hint. */
static void new_name(conv *c, const char *hint, char *out, size_t cap) {
    char h[40];
    size_t k = 0;
    for (size_t i = 0; hint && hint[i] && k < sizeof h - 1; i++) {
        char ch = hint[i];
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')) h[k++] = ch;
        else if (k && h[k - 1] != '-') h[k++] = '-';
    }
    h[k] = 0;
    snprintf(out, cap, "s%d%s%s", ++c->counter, k ? "-" : "", h);
}

static bool add_rule(conv *c, const char *name, const wf_buf *body) {
    wf_buf_str(&c->rules, name);
    wf_buf_str(&c->rules, " ::= ");
    wf_buf_add(&c->rules, body->p ? body->p : "", body->n);
    wf_buf_str(&c->rules, "\n");
    return c->rules.failed ? oom(c) : true;
}

static bool gen(conv *c, json_t *s, const char *path, const char *hint, wf_buf *o);

/* The schema at s as a rule; its name goes to o. */
static bool gen_rule(conv *c, json_t *s, const char *path, const char *hint, wf_buf *o) {
    char name[64];
    new_name(c, hint, name, sizeof name);
    wf_buf body = {0};
    bool ok = gen(c, s, path, hint, &body);
    if (ok) ok = add_rule(c, name, &body);
    free(body.p);
    if (ok) wf_buf_str(o, name);
    return ok;
}

static void child_path(char *out, size_t cap, const char *path, const char *key) {
    snprintf(out, cap, "%s/%s", path, key);
}

/* A JSON value as a literal (compact, as jansson writes it) + space. */
static bool gen_literal(conv *c, json_t *v, wf_buf *o) {
    char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!t) return oom(c);
    wf_gbnf_literal(o, t, strlen(t));
    free(t);
    wf_buf_str(o, " space");
    return true;
}

static bool type_matches(json_t *v, const char *type) {
    if (!strcmp(type, "string")) return json_is_string(v);
    if (!strcmp(type, "integer")) return json_is_integer(v) || (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)));
    if (!strcmp(type, "number")) return json_is_number(v);
    if (!strcmp(type, "boolean")) return json_is_boolean(v);
    if (!strcmp(type, "null")) return json_is_null(v);
    if (!strcmp(type, "object")) return json_is_object(v);
    if (!strcmp(type, "array")) return json_is_array(v);
    return false;
}

/* Whether v has one of the schema's types (no "type": any). */
static bool value_fits_type(json_t *s, json_t *v) {
    json_t *t = json_object_get(s, "type");
    if (json_is_string(t)) return type_matches(v, json_string_value(t));
    if (json_is_array(t)) {
        size_t i;
        json_t *x;
        json_array_foreach(t, i, x) if (json_is_string(x) && type_matches(v, json_string_value(x))) return true;
        return false;
    }
    return true;
}

static bool gen_enum(conv *c, json_t *s, json_t *vals, const char *path, wf_buf *o) {
    if (!json_is_array(vals) || json_array_size(vals) == 0) return cfail(c, WF_ERR_FORMAT, path, "'enum' must be a non-empty array");
    size_t i, k = 0;
    json_t *v;
    wf_buf_str(o, "(");
    json_array_foreach(vals, i, v) {
        if (!value_fits_type(s, v)) continue;
        if (k++) wf_buf_str(o, " | ");
        if (!gen_literal(c, v, o)) return false;
    }
    wf_buf_str(o, ")");
    if (k == 0) return cfail(c, WF_ERR_FORMAT, path, "no value of 'enum' has the schema's 'type'");
    return true;
}

/* ---- integers in a range -------------------------------------------------------------------- */

/* Decimal numbers of the same length from lo to hi (digit strings). */
void wf_gbnf_same_len(wf_buf *o, const char *lo, const char *hi, size_t n) {
    if (n == 0) return;
    if (lo[0] == hi[0]) {
        wf_buf_printf(o, "\"%c\"", lo[0]);
        if (n > 1) {
            wf_buf_str(o, " (");
            wf_gbnf_same_len(o, lo + 1, hi + 1, n - 1);
            wf_buf_str(o, ")");
        }
        return;
    }
    bool lo_zeros = true, hi_nines = true;
    for (size_t i = 1; i < n; i++) lo_zeros &= lo[i] == '0', hi_nines &= hi[i] == '9';
    char first_lo = lo_zeros ? lo[0] : (char)(lo[0] + 1), last_hi = hi_nines ? hi[0] : (char)(hi[0] - 1);
    int alts = 0;
    if (!lo_zeros) {
        char nines[24];
        memset(nines, '9', n - 1);
        wf_buf_printf(o, "\"%c\" (", lo[0]);
        wf_gbnf_same_len(o, lo + 1, nines, n - 1);
        wf_buf_str(o, ")");
        alts++;
    }
    if (first_lo <= last_hi) {
        if (alts++) wf_buf_str(o, " | ");
        wf_buf_printf(o, "[%c-%c]", first_lo, last_hi);
        if (n > 1) wf_buf_printf(o, " [0-9]{%zu}", n - 1);
    }
    if (!hi_nines) {
        char zeros[24];
        memset(zeros, '0', n - 1);
        if (alts++) wf_buf_str(o, " | ");
        wf_buf_printf(o, "\"%c\" (", hi[0]);
        wf_gbnf_same_len(o, zeros, hi + 1, n - 1);
        wf_buf_str(o, ")");
    }
}

void wf_gbnf_int_range(wf_buf *o, int64_t a, int64_t b, int max_len, int frac_digits, int *alts) {
    int64_t p10 = 1;
    for (int d = 1; d <= max_len && a <= b; d++, p10 *= 10) { /* by length: each length is one same_len run */
        int64_t lo = d == 1 ? 0 : p10, hi = p10 * 10 - 1;
        if (lo < a) lo = a;
        if (hi > b) hi = b;
        if (lo > hi) continue;
        char ls[24], hs[24];
        snprintf(ls, sizeof ls, "%lld", (long long)lo);
        snprintf(hs, sizeof hs, "%lld", (long long)hi);
        if ((*alts)++) wf_buf_str(o, " | ");
        wf_buf_str(o, "(");
        wf_gbnf_same_len(o, ls, hs, strlen(ls));
        wf_buf_str(o, ")");
        if (d < frac_digits) wf_buf_printf(o, " (\".\" [0-9]{1,%d})?", frac_digits - d);
    }
}

/* Non-negative integers a..b (b < 10^16), no leading zeros, as alternatives. */
static void pos_range(wf_buf *o, int64_t a, int64_t b, int *alts) {
    wf_gbnf_int_range(o, a, b, 16, 0, alts);
}

static bool get_bound(conv *c, json_t *s, const char *key, bool lower, const char *path, bool *has, int64_t *v) {
    json_t *x = json_object_get(s, key);
    if (!x) return true;
    if (json_is_boolean(x)) return cfail(c, WF_ERR_UNSUPPORTED, path, "boolean '%s' (draft 4) is not supported", key);
    if (!json_is_number(x)) return cfail(c, WF_ERR_FORMAT, path, "'%s' must be a number", key);
    double d = json_number_value(x);
    const double lim = 1e15;
    if (!(fabs(d) <= lim)) return cfail(c, WF_ERR_UNSUPPORTED, path, "'%s' beyond +-1e15 is not supported", key);
    bool excl = !strncmp(key, "exclusive", 9);
    int64_t b;
    if (lower) b = excl ? (int64_t)floor(d) + 1 : (int64_t)ceil(d);
    else b = excl ? (int64_t)ceil(d) - 1 : (int64_t)floor(d);
    if (!*has || (lower ? b > *v : b < *v)) *v = b;
    *has = true;
    return true;
}

static bool gen_integer(conv *c, json_t *s, const char *path, wf_buf *o) {
    bool has_lo = false, has_hi = false;
    int64_t lo = 0, hi = 0;
    if (!get_bound(c, s, "minimum", true, path, &has_lo, &lo) || !get_bound(c, s, "exclusiveMinimum", true, path, &has_lo, &lo) ||
        !get_bound(c, s, "maximum", false, path, &has_hi, &hi) || !get_bound(c, s, "exclusiveMaximum", false, path, &has_hi, &hi))
        return false;
    if (!has_lo && !has_hi) {
        c->prims |= PRIM_INTEGER;
        wf_buf_str(o, "json-integer");
        return true;
    }
    const int64_t big = 9999999999999999LL;
    if (!has_lo) lo = -big;
    if (!has_hi) hi = big;
    if (lo > hi) return cfail(c, WF_ERR_FORMAT, path, "no integer lies between the minimum and the maximum");
    int alts = 0;
    wf_buf_str(o, "(");
    if (lo < 0) { /* -x for x in [max(1, -hi), -lo] */
        int64_t a = hi < 0 ? -hi : 1, b = -lo;
        wf_buf_str(o, "\"-\" (");
        int inner = 0;
        pos_range(o, a, b, &inner);
        wf_buf_str(o, ")");
        alts++;
    }
    if (hi >= 0) pos_range(o, lo > 0 ? lo : 0, hi, &alts); /* adds its own " | " after the negative part */
    wf_buf_str(o, ") space");
    return true;
}

/* A number, in a range when bounds are given (schema_number.c). */
static bool gen_number(conv *c, json_t *s, const char *path, wf_buf *o) {
    static const char *const keys[4] = {"minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"};
    bool has[2] = {false, false}, ex[2] = {false, false};
    double b[2] = {0, 0};
    for (int k = 0; k < 4; k++) {
        json_t *x = json_object_get(s, keys[k]);
        if (!x) continue;
        if (json_is_boolean(x)) return cfail(c, WF_ERR_UNSUPPORTED, path, "boolean '%s' (draft 4) is not supported", keys[k]);
        if (!json_is_number(x)) return cfail(c, WF_ERR_FORMAT, path, "'%s' must be a number", keys[k]);
        const int side = k / 2; /* 0: lower, 1: upper */
        const double d = json_number_value(x);
        const bool e = k % 2;
        /* the tighter of two bounds on one side */
        if (!has[side] || (side ? d < b[side] || (d == b[side] && e) : d > b[side] || (d == b[side] && e)))
            b[side] = d, ex[side] = e;
        has[side] = true;
    }
    if (!has[0] && !has[1]) {
        c->prims |= PRIM_NUMBER;
        return wf_buf_str(o, "json-number");
    }
    c->prims |= PRIM_SPACE;
    char msg[200];
    if (!wf_gbnf_number_range(o, has[0], b[0], ex[0], has[1], b[1], ex[1], msg, sizeof msg))
        return o->failed ? oom(c) : cfail(c, WF_ERR_UNSUPPORTED, path, "%s", msg);
    return wf_buf_str(o, " space");
}

/* ---- strings -------------------------------------------------------------------------------------- */

static bool get_count(conv *c, json_t *s, const char *key, const char *path, int64_t *v) {
    json_t *x = json_object_get(s, key);
    if (!x) return true;
    if (!json_is_integer(x) || json_integer_value(x) < 0)
        return cfail(c, WF_ERR_FORMAT, path, "'%s' must be a non-negative integer", key);
    if (json_integer_value(x) > MAX_LIST) return cfail(c, WF_ERR_UNSUPPORTED, path, "'%s' above %d is not supported", key, MAX_LIST);
    *v = json_integer_value(x);
    return true;
}

static const char *format_rule(const char *f) {
    static const struct { const char *name, *gbnf; } k[] = {
        {"date", "[0-9]{4} \"-\" (\"0\" [1-9] | \"1\" [0-2]) \"-\" (\"0\" [1-9] | [12] [0-9] | \"3\" [01])"},
        {"time", "([01] [0-9] | \"2\" [0-3]) \":\" [0-5] [0-9] \":\" [0-5] [0-9] (\".\" [0-9]{1,6})? (\"Z\" | [+-] ([01] [0-9] | \"2\" [0-3]) \":\" [0-5] [0-9])"},
        {"date-time", "[0-9]{4} \"-\" (\"0\" [1-9] | \"1\" [0-2]) \"-\" (\"0\" [1-9] | [12] [0-9] | \"3\" [01]) \"T\" ([01] [0-9] | \"2\" [0-3]) \":\" [0-5] [0-9] \":\" [0-5] [0-9] (\".\" [0-9]{1,6})? (\"Z\" | [+-] ([01] [0-9] | \"2\" [0-3]) \":\" [0-5] [0-9])"},
        {"uuid", "[0-9a-f]{8} \"-\" [0-9a-f]{4} \"-\" [0-9a-f]{4} \"-\" [0-9a-f]{4} \"-\" [0-9a-f]{12}"},
        {"ipv4", "(\"25\" [0-5] | \"2\" [0-4] [0-9] | \"1\" [0-9] [0-9] | [1-9]? [0-9]) (\".\" (\"25\" [0-5] | \"2\" [0-4] [0-9] | \"1\" [0-9] [0-9] | [1-9]? [0-9])){3}"},
        {"email", "[a-zA-Z0-9._+-]{1,64} \"@\" [a-zA-Z0-9-]{1,63} (\".\" [a-zA-Z0-9-]{1,63}){1,4}"},
    };
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
        if (!strcmp(f, k[i].name)) return k[i].gbnf;
    return NULL;
}

static bool gen_string(conv *c, json_t *s, const char *path, wf_buf *o) {
    int64_t mn = 0, mx = -1;
    if (!get_count(c, s, "minLength", path, &mn) || !get_count(c, s, "maxLength", path, &mx)) return false;
    if (mx >= 0 && mx < mn) return cfail(c, WF_ERR_FORMAT, path, "'maxLength' is below 'minLength'");
    json_t *pat = json_object_get(s, "pattern"), *fmt = json_object_get(s, "format");
    bool lens = json_object_get(s, "minLength") || json_object_get(s, "maxLength");
    if ((pat || fmt) && lens) return cfail(c, WF_ERR_UNSUPPORTED, path, "'%s' together with 'minLength'/'maxLength' is not supported", pat ? "pattern" : "format");
    if (pat && fmt) return cfail(c, WF_ERR_UNSUPPORTED, path, "'pattern' together with 'format' is not supported");
    if (fmt) {
        if (!json_is_string(fmt)) return cfail(c, WF_ERR_FORMAT, path, "'format' must be a string");
        const char *r = format_rule(json_string_value(fmt));
        if (!r) return cfail(c, WF_ERR_UNSUPPORTED, path, "unsupported 'format': '%.60s' (supported: date, time, date-time, uuid, ipv4, email)", json_string_value(fmt));
        wf_buf_printf(o, "\"\\\"\" %s \"\\\"\" space", r);
        return true;
    }
    if (pat) {
        if (!json_is_string(pat)) return cfail(c, WF_ERR_FORMAT, path, "'pattern' must be a string");
        char msg[200];
        wf_buf body = {0};
        bool ok = wf_regex_to_gbnf(json_string_value(pat), json_string_length(pat), &body, msg, sizeof msg);
        if (ok) {
            c->prims |= PRIM_PLAIN;
            wf_buf_str(o, "\"\\\"\" ");
            wf_buf_add(o, body.p ? body.p : "", body.n);
            wf_buf_str(o, " \"\\\"\" space");
        }
        free(body.p);
        if (body.failed) return oom(c);
        if (!ok) return cfail(c, WF_ERR_UNSUPPORTED, path, "'pattern': %s", msg);
        return true;
    }
    c->prims |= PRIM_STRING;
    if (!lens) {
        wf_buf_str(o, "json-string");
        return true;
    }
    if (mx < 0) wf_buf_printf(o, "\"\\\"\" json-char{%lld,} \"\\\"\" space", (long long)mn);
    else wf_buf_printf(o, "\"\\\"\" json-char{%lld,%lld} \"\\\"\" space", (long long)mn, (long long)mx);
    return true;
}

/* ---- arrays ---------------------------------------------------------------------------------------- */

static bool gen_array(conv *c, json_t *s, const char *path, wf_buf *o) {
    json_t *items = json_object_get(s, "items"), *prefix = json_object_get(s, "prefixItems");
    int64_t mn = 0, mx = -1;
    if (!get_count(c, s, "minItems", path, &mn) || !get_count(c, s, "maxItems", path, &mx)) return false;
    if (prefix && !json_is_array(prefix)) return cfail(c, WF_ERR_FORMAT, path, "'prefixItems' must be an array");
    if (json_is_array(items)) return cfail(c, WF_ERR_UNSUPPORTED, path, "'items' as an array (draft 4 tuples) is not supported: use 'prefixItems'");
    size_t k = prefix ? json_array_size(prefix) : 0;
    if (k > MAX_LIST) return cfail(c, WF_ERR_UNSUPPORTED, path, "too many 'prefixItems'");
    if (json_is_false(items) && (mx < 0 || mx > (int64_t)k)) mx = (int64_t)k;
    if (mx >= 0 && mx < mn) return cfail(c, WF_ERR_FORMAT, path, "no array length satisfies 'minItems'/'maxItems'/'items'");
    /* the element rules */
    char (*names)[64] = calloc(k + 1, sizeof *names);
    if (!names) return oom(c);
    char cp[512];
    bool ok = true;
    for (size_t i = 0; i < k && ok; i++) {
        char key[32];
        snprintf(key, sizeof key, "prefixItems/%zu", i);
        child_path(cp, sizeof cp, path, key);
        wf_buf nb = {0};
        ok = gen_rule(c, json_array_get(prefix, i), cp, "item", &nb);
        if (ok) snprintf(names[i], sizeof names[i], "%s", nb.p ? nb.p : "");
        free(nb.p);
    }
    char item[64] = "json-value";
    if (ok && (mx < 0 || mx > (int64_t)k)) {
        if (items && !json_is_true(items)) {
            child_path(cp, sizeof cp, path, "items");
            wf_buf nb = {0};
            ok = gen_rule(c, items, cp, "item", &nb);
            if (ok) snprintf(item, sizeof item, "%s", nb.p ? nb.p : "");
            free(nb.p);
        } else {
            c->prims |= PRIM_VALUE;
        }
    }
    if (!ok) {
        free(names);
        return false;
    }
    /* "[" elements "]": position i is required below mn, optional after;
     * the optional ones nest so that none is skipped before a later one */
    wf_buf_str(o, "\"[\" space ");
    int open = 0;
    int64_t i = 0;
    for (; i < (int64_t)k && (mx < 0 || i < mx); i++) {
        if (i >= mn) wf_buf_str(o, "("), open++;
        if (i) wf_buf_str(o, "\",\" space ");
        wf_buf_str(o, names[i]);
        wf_buf_str(o, " ");
    }
    if (mx < 0 || i < mx) { /* the homogeneous rest */
        int64_t req = mn > i ? mn - i : 0;
        int64_t opt = mx < 0 ? -1 : mx - i - req;
        if (i == 0) {
            if (req > 0) {
                wf_buf_printf(o, "%s ", item);
                if (req > 1) wf_buf_printf(o, "(\",\" space %s){%lld} ", item, (long long)(req - 1));
                if (opt < 0) wf_buf_printf(o, "(\",\" space %s)* ", item);
                else if (opt > 0) wf_buf_printf(o, "(\",\" space %s){0,%lld} ", item, (long long)opt);
            } else if (opt != 0) {
                if (opt < 0) wf_buf_printf(o, "(%s (\",\" space %s)*)? ", item, item);
                else if (opt == 1) wf_buf_printf(o, "(%s)? ", item);
                else wf_buf_printf(o, "(%s (\",\" space %s){0,%lld})? ", item, item, (long long)(opt - 1));
            }
        } else {
            if (req > 0) wf_buf_printf(o, "(\",\" space %s){%lld} ", item, (long long)req);
            if (opt < 0) wf_buf_printf(o, "(\",\" space %s)* ", item);
            else if (opt > 0) wf_buf_printf(o, "(\",\" space %s){0,%lld} ", item, (long long)opt);
        }
    }
    for (; open > 0; open--) wf_buf_str(o, ")? ");
    wf_buf_str(o, "\"]\" space");
    free(names);
    return true;
}

/* ---- objects ---------------------------------------------------------------------------------------- */

/* GBNF for the body of a JSON string (plain characters, no escapes) that
 * is none of keys[0..n) — additional properties must not repeat a
 * declared one. A trie of the keys' code points: at each node, end here
 * (unless a key ends here), leave the trie with any other character, or
 * follow a child. */
static bool gen_other_key(conv *c, const char *const *keys, size_t n, size_t depth, const char *prefix, size_t plen,
                          wf_buf *o) {
    /* the keys that start with prefix */
    bool ends_here = false;
    wf_buf kids = {0}; /* distinct next characters (as UTF-8) */
    wf_buf_str(o, "(");
    int alts = 0;
    for (size_t i = 0; i < n; i++) {
        size_t kl = strlen(keys[i]);
        if (kl < plen || memcmp(keys[i], prefix, plen)) continue;
        if (kl == plen) { ends_here = true; continue; }
        size_t cl = 1;
        while (plen + cl < kl && ((unsigned char)keys[i][plen + cl] & 0xc0) == 0x80) cl++;
        bool seen = false;
        for (size_t j = 0; j < kids.n;) {
            size_t jl = 1;
            while (j + jl < kids.n && ((unsigned char)kids.p[j + jl] & 0xc0) == 0x80) jl++;
            if (jl == cl && !memcmp(kids.p + j, keys[i] + plen, cl)) seen = true;
            j += jl;
        }
        if (seen) continue;
        wf_buf_add(&kids, keys[i] + plen, cl);
        if (alts++) wf_buf_str(o, " | ");
        wf_gbnf_literal(o, keys[i] + plen, cl);
        wf_buf_str(o, " ");
        if (depth > 200) { free(kids.p); return cfail(c, WF_ERR_UNSUPPORTED, "", "property names too long to exclude"); }
        char *np = malloc(plen + cl + 1);
        if (!np) { free(kids.p); return oom(c); }
        memcpy(np, prefix, plen);
        memcpy(np + plen, keys[i] + plen, cl);
        bool ok = gen_other_key(c, keys, n, depth + 1, np, plen + cl, o);
        free(np);
        if (!ok) { free(kids.p); return false; }
    }
    /* any other character, then anything */
    if (alts++) wf_buf_str(o, " | ");
    wf_buf_str(o, "[^\"\\\\\\x00-\\x1F");
    for (size_t j = 0; j < kids.n;) {
        size_t jl = 1;
        while (j + jl < kids.n && ((unsigned char)kids.p[j + jl] & 0xc0) == 0x80) jl++;
        unsigned char ch = (unsigned char)kids.p[j];
        if (jl == 1 && (ch == ']' || ch == '[' || ch == '-' || ch == '^')) wf_buf_printf(o, "\\%c", ch);
        else wf_buf_add(o, kids.p + j, jl);
        j += jl;
    }
    wf_buf_str(o, "] json-plain*");
    if (!ends_here) wf_buf_str(o, " | ");
    wf_buf_str(o, ")");
    free(kids.p);
    c->prims |= PRIM_PLAIN;
    return !o->failed || oom(c);
}

static bool gen_object(conv *c, json_t *s, const char *path, wf_buf *o) {
    json_t *props = json_object_get(s, "properties"), *req = json_object_get(s, "required"),
           *addl = json_object_get(s, "additionalProperties");
    if (props && !json_is_object(props)) return cfail(c, WF_ERR_FORMAT, path, "'properties' must be an object");
    if (req && !json_is_array(req)) return cfail(c, WF_ERR_FORMAT, path, "'required' must be an array");
    if (addl && !json_is_boolean(addl) && !json_is_object(addl))
        return cfail(c, WF_ERR_FORMAT, path, "'additionalProperties' must be a boolean or a schema");
    size_t np = props ? json_object_size(props) : 0;
    if (np > MAX_LIST) return cfail(c, WF_ERR_UNSUPPORTED, path, "too many properties");
    /* required names must be declared (else the grammar could not produce them) */
    size_t i;
    json_t *r;
    json_array_foreach(req, i, r) {
        if (!json_is_string(r)) return cfail(c, WF_ERR_FORMAT, path, "'required' must hold strings");
        if (!json_object_get(props, json_string_value(r)))
            return cfail(c, WF_ERR_UNSUPPORTED, path, "required property '%.60s' is not in 'properties'", json_string_value(r));
    }
    bool extra = addl && !json_is_false(addl);
    if (!props && !addl) extra = true; /* a bare {"type": "object"}: any object */
    const char **keys = calloc(np + 1, sizeof *keys);
    char (*kv)[64] = calloc(np + 2, sizeof *kv);
    bool *isreq = calloc(np + 1, sizeof *isreq);
    if (!keys || !kv || !isreq) {
        free(keys), free(kv), free(isreq);
        return oom(c);
    }
    bool ok = true;
    size_t k = 0, n_req = 0;
    const char *key;
    json_t *ps;
    char cp[512];
    json_object_foreach(props, key, ps) {
        keys[k] = key;
        json_array_foreach(req, i, r) if (!strcmp(json_string_value(r), key)) isreq[k] = true;
        n_req += isreq[k];
        char sub[300];
        snprintf(sub, sizeof sub, "properties/%s", key);
        child_path(cp, sizeof cp, path, sub);
        wf_buf v = {0}, body = {0};
        json_t *ks = json_string(key);
        ok = ks && gen_rule(c, ps, cp, key, &v);
        if (ok) {
            gen_literal(c, ks, &body);
            wf_buf_str(&body, " \":\" space ");
            wf_buf_add(&body, v.p, v.n);
            new_name(c, key, kv[k], sizeof kv[k]);
            ok = add_rule(c, kv[k], &body);
        } else if (!ks) {
            oom(c);
        }
        json_decref(ks);
        free(v.p);
        free(body.p);
        if (!ok) break;
        k++;
    }
    if (ok && extra) { /* the extra key-value rule, kv[np] */
        wf_buf v = {0}, body = {0};
        if (json_is_object(addl)) {
            child_path(cp, sizeof cp, path, "additionalProperties");
            ok = gen_rule(c, addl, cp, "extra", &v);
        } else {
            c->prims |= PRIM_VALUE;
            wf_buf_str(&v, "json-value");
        }
        if (ok) {
            wf_buf_str(&body, "\"\\\"\" ");
            ok = gen_other_key(c, keys, np, 0, "", 0, &body);
            wf_buf_str(&body, " \"\\\"\" space \":\" space ");
            wf_buf_add(&body, v.p, v.n);
            new_name(c, "extra-kv", kv[np], sizeof kv[np]);
            if (ok) ok = add_rule(c, kv[np], &body);
        }
        free(v.p);
        free(body.p);
    }
    if (ok) {
        /* required ones in order, then each optional one maybe, then extras */
        wf_buf_str(o, "\"{\" space ");
        if (n_req > 0) {
            size_t seen = 0;
            for (size_t j = 0; j < np; j++) {
                if (isreq[j]) {
                    if (seen++) wf_buf_str(o, "\",\" space ");
                    wf_buf_printf(o, "%s ", kv[j]);
                } else if (seen == n_req || seen > 0) {
                    wf_buf_printf(o, "(\",\" space %s)? ", kv[j]);
                } else {
                    /* an optional property before the first required one */
                    wf_buf_printf(o, "(%s \",\" space)? ", kv[j]);
                }
            }
            if (extra) wf_buf_printf(o, "(\",\" space %s)* ", kv[np]);
        } else if (np > 0 || extra) {
            /* no required ones: the first present item has no comma; tails
             * t_j = ("," kv_j)? t_{j+1} as rules */
            char tail[64] = "";
            char prev[64] = "";
            if (extra) {
                new_name(c, "tail", tail, sizeof tail);
                wf_buf b = {0};
                wf_buf_printf(&b, "(\",\" space %s)*", kv[np]);
                ok = add_rule(c, tail, &b);
                free(b.p);
            }
            snprintf(prev, sizeof prev, "%s", tail);
            char (*tails)[64] = calloc(np + 1, sizeof *tails);
            if (!tails) ok = oom(c);
            for (size_t j = np; ok && j-- > 0;) { /* tails[j]: what may follow item j */
                snprintf(tails[j], sizeof tails[j], "%s", prev);
                char t[64];
                new_name(c, "tail", t, sizeof t);
                wf_buf b = {0};
                wf_buf_printf(&b, "(\",\" space %s)? %s", kv[j], prev);
                ok = add_rule(c, t, &b);
                free(b.p);
                snprintf(prev, sizeof prev, "%s", t);
            }
            if (ok) {
                wf_buf_str(o, "(");
                for (size_t j = 0; j < np; j++) wf_buf_printf(o, "%s%s %s", j ? " | " : "", kv[j], tails[j]);
                if (extra) wf_buf_printf(o, "%s%s %s", np ? " | " : "", kv[np], tail);
                wf_buf_str(o, ")? ");
            }
            free(tails);
        }
        wf_buf_str(o, "\"}\" space");
    }
    free(keys);
    free(kv);
    free(isreq);
    return ok && (!o->failed || oom(c));
}

/* ---- $ref ---------------------------------------------------------------------------------------- */

/* The schema a local reference "#/a/b" points to (JSON pointer, ~0 ~1). */
json_t *wf_schema_resolve(json_t *root, const char *ref) {
    if (ref[0] != '#') return NULL;
    const char *p = ref + 1;
    json_t *cur = root;
    while (*p) {
        if (*p != '/') return NULL;
        p++;
        char tok[256];
        size_t n = 0;
        while (*p && *p != '/') {
            char ch = *p++;
            if (ch == '~') {
                if (*p == '0') ch = '~';
                else if (*p == '1') ch = '/';
                else return NULL;
                p++;
            }
            if (n + 1 >= sizeof tok) return NULL;
            tok[n++] = ch;
        }
        tok[n] = 0;
        if (json_is_object(cur)) {
            cur = json_object_get(cur, tok);
        } else if (json_is_array(cur)) {
            char *end;
            unsigned long idx = strtoul(tok, &end, 10);
            if (!n || *end) return NULL;
            cur = json_array_get(cur, idx);
        } else {
            return NULL;
        }
        if (!cur) return NULL;
    }
    return cur;
}

static bool gen_ref(conv *c, json_t *ref, const char *path, wf_buf *o) {
    if (!json_is_string(ref)) return cfail(c, WF_ERR_FORMAT, path, "'$ref' must be a string");
    const char *r = json_string_value(ref);
    for (int i = 0; i < c->n_refs; i++)
        if (!strcmp(c->refs[i].ref, r)) return wf_buf_str(o, c->refs[i].rule) || oom(c);
    json_t *target = wf_schema_resolve(c->root, r);
    if (!target) return cfail(c, WF_ERR_FORMAT, path, "unresolvable $ref '%.200s'", r);
    if (!WF_ARRAY_RESERVE(c->refs, c->cap_refs, (size_t)c->n_refs + 1)) return oom(c);
    char name[64];
    const char *slash = strrchr(r, '/');
    new_name(c, slash ? slash + 1 : "root", name, sizeof name);
    ref_entry *e = &c->refs[c->n_refs];
    e->ref = strdup(r);
    e->rule = strdup(name);
    if (!e->ref || !e->rule) {
        free(e->ref), free(e->rule);
        return oom(c);
    }
    c->n_refs++;
    /* the name exists before the body, so recursive schemas refer to it */
    wf_buf body = {0};
    char tp[300];
    snprintf(tp, sizeof tp, "%s", r + 1);
    bool ok = gen(c, target, tp, name, &body) && add_rule(c, name, &body);
    free(body.p);
    return ok && wf_buf_str(o, name);
}

/* ---- one schema --------------------------------------------------------------------------------------- */

static bool gen_type(conv *c, json_t *s, const char *t, const char *path, wf_buf *o) {
    if (!strcmp(t, "object")) return gen_object(c, s, path, o);
    if (!strcmp(t, "array")) return gen_array(c, s, path, o);
    if (!strcmp(t, "string")) return gen_string(c, s, path, o);
    if (!strcmp(t, "integer")) return gen_integer(c, s, path, o);
    if (!strcmp(t, "number")) return gen_number(c, s, path, o);
    if (!strcmp(t, "boolean")) return c->prims |= PRIM_BOOLEAN, wf_buf_str(o, "json-boolean");
    if (!strcmp(t, "null")) return c->prims |= PRIM_NULL, wf_buf_str(o, "json-null");
    return cfail(c, WF_ERR_FORMAT, path, "unknown type '%.40s'", t);
}

/* The type a schema without "type" implies from its keywords, or NULL. */
static const char *implied_type(json_t *s) {
    if (json_object_get(s, "properties") || json_object_get(s, "additionalProperties") || json_object_get(s, "required"))
        return "object";
    if (json_object_get(s, "items") || json_object_get(s, "prefixItems") || json_object_get(s, "minItems") ||
        json_object_get(s, "maxItems"))
        return "array";
    if (json_object_get(s, "pattern") || json_object_get(s, "format") || json_object_get(s, "minLength") ||
        json_object_get(s, "maxLength"))
        return "string";
    if (json_object_get(s, "minimum") || json_object_get(s, "maximum") || json_object_get(s, "exclusiveMinimum") ||
        json_object_get(s, "exclusiveMaximum"))
        return "number";
    return NULL;
}

static bool gen(conv *c, json_t *s, const char *path, const char *hint, wf_buf *o) {
    if (c->st != WF_OK) return false;
    if (json_is_true(s)) return c->prims |= PRIM_VALUE, wf_buf_str(o, "json-value");
    if (json_is_false(s)) return cfail(c, WF_ERR_UNSUPPORTED, path, "the schema 'false' matches nothing");
    if (!json_is_object(s)) return cfail(c, WF_ERR_FORMAT, path, "a schema must be an object or a boolean");
    if (++c->depth > MAX_DEPTH) return cfail(c, WF_ERR_UNSUPPORTED, path, "schema nested deeper than %d", MAX_DEPTH);
    bool ok = true;
    const char *key;
    json_t *v;
    int constraining = 0;
    json_object_foreach(s, key, v) {
        if (in_list(key, k_annotations)) continue;
        if (!in_list(key, k_keywords)) {
            ok = cfail(c, WF_ERR_UNSUPPORTED, path, "unsupported JSON Schema keyword '%.60s'", key);
            break;
        }
        if (strcmp(key, "nullable")) constraining++;
    }
    json_t *nullable = json_object_get(s, "nullable");
    bool add_null = json_is_true(nullable);
    if (ok && nullable && !json_is_boolean(nullable)) ok = cfail(c, WF_ERR_FORMAT, path, "'nullable' must be a boolean");
    json_t *ref = json_object_get(s, "$ref"), *any = json_object_get(s, "anyOf"), *one = json_object_get(s, "oneOf");
    json_t *en = json_object_get(s, "enum"), *cn = json_object_get(s, "const"), *type = json_object_get(s, "type");
    if (ok && add_null) {
        c->prims |= PRIM_NULL;
        wf_buf_str(o, "(json-null | ");
    }
    if (!ok) {
    } else if (ref || any || one) {
        const char *which = ref ? "$ref" : any ? "anyOf" : "oneOf";
        if (constraining > 1) {
            ok = cfail(c, WF_ERR_UNSUPPORTED, path, "'%s' beside other constraining keywords is not supported", which);
        } else if (ref) {
            ok = gen_ref(c, ref, path, o);
        } else {
            json_t *list = any ? any : one;
            size_t bi = 0, bj = 0;
            if (!json_is_array(list) || json_array_size(list) == 0) {
                ok = cfail(c, WF_ERR_FORMAT, path, "'%s' must be a non-empty array", which);
            } else if (one && !wf_schemas_disjoint(c->root, list, &bi, &bj)) {
                /* oneOf = anyOf only when no value matches two branches */
                ok = cfail(c, WF_ERR_UNSUPPORTED, path,
                           "'oneOf' whose branches %zu and %zu may both match a value is not supported (exactly one must "
                           "match; supported: branches of different types, different const/enum values, number ranges "
                           "that do not meet, or objects told apart by a required property; 'anyOf' allows overlap)",
                           bi, bj);
            } else {
                size_t i;
                json_t *x;
                wf_buf_str(o, "(");
                json_array_foreach(list, i, x) {
                    char cp[512], k2[32];
                    snprintf(k2, sizeof k2, "%s/%zu", which, i);
                    child_path(cp, sizeof cp, path, k2);
                    if (i) wf_buf_str(o, " | ");
                    if (!(ok = gen_rule(c, x, cp, hint, o))) break;
                }
                wf_buf_str(o, ")");
            }
        }
    } else if (en) {
        ok = gen_enum(c, s, en, path, o);
    } else if (cn) {
        ok = value_fits_type(s, cn) ? gen_literal(c, cn, o) : cfail(c, WF_ERR_FORMAT, path, "'const' does not have the schema's 'type'");
    } else if (json_is_string(type)) {
        ok = gen_type(c, s, json_string_value(type), path, o);
    } else if (json_is_array(type)) {
        if (json_array_size(type) == 0) ok = cfail(c, WF_ERR_FORMAT, path, "'type' is an empty list");
        size_t i;
        json_t *x;
        wf_buf_str(o, "(");
        json_array_foreach(type, i, x) {
            if (!ok) break;
            if (!json_is_string(x)) { ok = cfail(c, WF_ERR_FORMAT, path, "'type' must hold strings"); break; }
            if (i) wf_buf_str(o, " | ");
            ok = gen_type(c, s, json_string_value(x), path, o);
        }
        wf_buf_str(o, ")");
    } else if (type) {
        ok = cfail(c, WF_ERR_FORMAT, path, "'type' must be a string or a list of strings");
    } else {
        const char *t = implied_type(s);
        if (t) ok = gen_type(c, s, t, path, o);
        else c->prims |= PRIM_VALUE, ok = wf_buf_str(o, "json-value");
    }
    if (ok && add_null) wf_buf_str(o, ")");
    c->depth--;
    if (ok && o->failed) ok = oom(c);
    return ok;
}

/* ---- building grammars from several schemas -------------------------------------------- */

struct wf_gbnf_builder {
    conv c;
};

wf_status wf_gbnf_builder_create(wf_gbnf_builder **out, wf_error *err) {
    if (!out) return wf_fail(err, WF_ERR_INVALID_ARG, "json_schema: NULL output pointer");
    if (!(*out = calloc(1, sizeof **out))) return wf_fail(err, WF_ERR_NOMEM, "json_schema: out of memory");
    return WF_OK;
}

void wf_gbnf_builder_free(wf_gbnf_builder *b) {
    if (!b) return;
    for (int i = 0; i < b->c.n_refs; i++) free(b->c.refs[i].ref), free(b->c.refs[i].rule);
    free(b->c.refs);
    free(b->c.rules.p);
    free(b);
}

wf_status wf_gbnf_builder_add_schema(wf_gbnf_builder *b, const char *schema, size_t len, char *rule, size_t cap,
                                     wf_error *err) {
    if (!b || !rule || cap < 64) return wf_fail(err, WF_ERR_INVALID_ARG, "json_schema: bad builder arguments");
    if (!schema && len) return wf_fail(err, WF_ERR_INVALID_ARG, "json_schema: NULL schema");
    json_error_t je;
    json_t *root = json_loadb(schema ? schema : "", len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
    if (!root) return wf_fail(err, WF_ERR_FORMAT, "json_schema: not JSON: %s (line %d, column %d)", je.text, je.line, je.column);
    conv *c = &b->c;
    /* references are relative to this document */
    for (int i = 0; i < c->n_refs; i++) free(c->refs[i].ref), free(c->refs[i].rule);
    c->n_refs = 0;
    c->root = root;
    c->err = err;
    c->st = WF_OK;
    c->depth = 0;
    wf_buf top = {0};
    if (gen(c, root, "", "schema", &top)) {
        new_name(c, "schema", rule, cap);
        add_rule(c, rule, &top);
    }
    free(top.p);
    c->root = NULL;
    json_decref(root);
    wf_status st = c->st;
    c->st = WF_OK;
    return st;
}

wf_status wf_gbnf_builder_add_rule(wf_gbnf_builder *b, const char *name, const char *body, wf_error *err) {
    if (!b || !name || !body) return wf_fail(err, WF_ERR_INVALID_ARG, "json_schema: bad builder arguments");
    wf_buf t = {0};
    wf_buf_str(&t, body);
    bool ok = !t.failed && add_rule(&b->c, name, &t);
    free(t.p);
    if (!ok) return wf_fail(err, WF_ERR_NOMEM, "json_schema: out of memory");
    return WF_OK;
}

void wf_gbnf_builder_use_value(wf_gbnf_builder *b) {
    if (b) b->c.prims |= PRIM_VALUE;
}

wf_status wf_gbnf_builder_finish(wf_gbnf_builder *b, const char *root_body, char **gbnf, wf_error *err) {
    if (!b || !root_body || !gbnf) return wf_fail(err, WF_ERR_INVALID_ARG, "json_schema: bad builder arguments");
    wf_buf out = {0};
    wf_buf_str(&out, "root ::= ");
    wf_buf_str(&out, root_body);
    wf_buf_str(&out, "\n");
    wf_buf_add(&out, b->c.rules.p ? b->c.rules.p : "", b->c.rules.n);
    write_prims(&b->c, &out);
    if (out.failed) {
        free(out.p);
        return wf_fail(err, WF_ERR_NOMEM, "json_schema: out of memory");
    }
    *gbnf = out.p;
    return WF_OK;
}

wf_status wf_grammar_json_schema_to_gbnf(const char *schema, size_t len, char **gbnf, wf_error *err) {
    if (!gbnf) return wf_fail(err, WF_ERR_INVALID_ARG, "json_schema: NULL output pointer");
    *gbnf = NULL;
    wf_gbnf_builder *b;
    wf_status st = wf_gbnf_builder_create(&b, err);
    if (st != WF_OK) return st;
    char rule[64];
    if ((st = wf_gbnf_builder_add_schema(b, schema, len, rule, sizeof rule, err)) == WF_OK)
        st = wf_gbnf_builder_finish(b, rule, gbnf, err);
    wf_gbnf_builder_free(b);
    return st;
}

wf_status wf_grammar_from_json_schema(const char *schema, size_t len, wf_grammar **out, wf_error *err) {
    if (!out) return wf_fail(err, WF_ERR_INVALID_ARG, "json_schema: NULL output pointer");
    *out = NULL;
    char *gbnf = NULL;
    wf_status st = wf_grammar_json_schema_to_gbnf(schema, len, &gbnf, err);
    if (st != WF_OK) return st;
    wf_error e2;
    st = wf_grammar_from_gbnf(gbnf, strlen(gbnf), out, &e2);
    if (st != WF_OK) st = wf_fail(err, WF_ERR_INTERNAL, "json_schema: the generated grammar does not compile: %s", e2.msg);
    free(gbnf);
    return st;
}

wf_status wf_grammar_json_object(wf_grammar **out, wf_error *err) {
    static const char k_gbnf[] = "root ::= json-object\n";
    conv c = {.prims = PRIM_VALUE};
    wf_buf b = {0};
    wf_buf_str(&b, k_gbnf);
    write_prims(&c, &b);
    if (b.failed) {
        free(b.p);
        return wf_fail(err, WF_ERR_NOMEM, "json_schema: out of memory");
    }
    wf_status st = wf_grammar_from_gbnf(b.p, b.n, out, err);
    free(b.p);
    return st;
}
