/* gbnf.c — GBNF text -> wf_grammar, accepting what llama.cpp's grammar
 * parser accepts: `name ::= alternatives` rules (names of letters, digits,
 * '-' and '_'), "literals", [character classes] with ranges and ^, `.`,
 * ( groups ), the repetitions * + ? {m} {m,} {m,n}, # comments, escapes
 * \x.. \u.... \U........ \t \r \n \\ \" \[ \] \- ; a rule's sequence ends at
 * a newline unless inside parentheses or after '|'. The start rule is root.
 *
 * Characters are Unicode code points; they are lowered here to UTF-8 byte
 * sequences so that matching works on token bytes (grammar_int.h). Groups,
 * repetitions and non-ASCII classes become generated rules, as in
 * llama.cpp. Left recursion (which a pushdown matcher cannot run) is an
 * error, as there. */
#include "grammar/grammar_int.h"
#include "base/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct gseq {
    wf_gelem *e;
    int32_t n, cap;
} gseq;

typedef struct grule {
    char *name;
    gseq *alt;
    int32_t n_alt, cap_alt;
    bool defined;
    size_t first_ref; /* source offset of the first reference (for errors) */
    size_t def_at;    /* ... of its definition (or where it was generated) */
} grule;

typedef struct gparser {
    const char *src;
    size_t len, pos;
    grule *rules;
    int32_t n_rules, cap_rules;
    wf_byteset *sets;
    int32_t n_sets, cap_sets;
    int64_t n_elems;
    int depth;
    wf_error *err;
    wf_status st;
} gparser;

enum { MAX_NESTING = 200, MAX_NAME = 256 };

/* ---- errors ------------------------------------------------------------------- */

static void where(const gparser *p, size_t at, int *line, int *col) {
    int l = 1, c = 1;
    for (size_t i = 0; i < at && i < p->len; i++) {
        if (p->src[i] == '\n') l++, c = 1;
        else if (((unsigned char)p->src[i] & 0xc0) != 0x80) c++;
    }
    *line = l;
    *col = c;
}

static bool fail_at(gparser *p, size_t at, const char *fmt, ...) WF_PRINTF(3, 4);
static bool fail_at(gparser *p, size_t at, const char *fmt, ...) {
    if (p->st != WF_OK) return false;
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int line, col;
    where(p, at, &line, &col);
    p->st = wf_fail(p->err, WF_ERR_FORMAT, "grammar: line %d, column %d: %s", line, col, msg);
    return false;
}

static bool nomem(gparser *p) {
    if (p->st == WF_OK) p->st = wf_fail(p->err, WF_ERR_NOMEM, "grammar: out of memory");
    return false;
}

/* ---- building blocks ---------------------------------------------------------- */

/* Room for need elements in an array with an int32 capacity (the grammar's
 * tables index with int32): base/buf.h grows it. */
static bool grow(void **ptr, int32_t *cap, int32_t need, size_t elem) {
    if (need <= *cap) return true;
    size_t c = (size_t)*cap;
    if (need > INT32_MAX / 2 || !wf_array_reserve(ptr, &c, elem, (size_t)need)) return false;
    *cap = c > INT32_MAX ? INT32_MAX : (int32_t)c;
    return true;
}

static bool seq_push(gparser *p, gseq *s, int32_t type, int32_t v) {
    if (++p->n_elems > WF_GRAMMAR_MAX_ELEMS) return fail_at(p, p->pos, "the grammar is too large (over %d elements)", WF_GRAMMAR_MAX_ELEMS);
    if (!grow((void **)&s->e, &s->cap, s->n + 1, sizeof *s->e)) return nomem(p);
    s->e[s->n].type = type;
    s->e[s->n].v = v;
    s->n++;
    return true;
}

static int32_t set_id(gparser *p, const wf_byteset *bs) {
    for (int32_t i = 0; i < p->n_sets; i++)
        if (!memcmp(&p->sets[i], bs, sizeof *bs)) return i;
    if (!grow((void **)&p->sets, &p->cap_sets, p->n_sets + 1, sizeof *p->sets)) return nomem(p), -1;
    p->sets[p->n_sets] = *bs;
    return p->n_sets++;
}

static bool push_byte_range(gparser *p, gseq *s, unsigned lo, unsigned hi) {
    wf_byteset bs = {{0, 0, 0, 0}};
    for (unsigned b = lo; b <= hi; b++) bs.w[b >> 6] |= 1ull << (b & 63);
    int32_t id = set_id(p, &bs);
    return id >= 0 && seq_push(p, s, GE_BYTES, id);
}

/* A new rule (name NULL: generated, named after the rule being parsed). */
static int32_t rule_new(gparser *p, const char *name, size_t n, int32_t parent) {
    if (!grow((void **)&p->rules, &p->cap_rules, p->n_rules + 1, sizeof *p->rules)) return nomem(p), -1;
    grule *r = &p->rules[p->n_rules];
    memset(r, 0, sizeof *r);
    char buf[MAX_NAME + 32];
    if (!name) {
        snprintf(buf, sizeof buf, "%s_%d", parent >= 0 ? p->rules[parent].name : "gen", (int)p->n_rules);
        name = buf;
        n = strlen(buf);
        r->defined = true;
    }
    if (!(r->name = malloc(n + 1))) return nomem(p), -1;
    memcpy(r->name, name, n);
    r->name[n] = 0;
    r->first_ref = SIZE_MAX;
    r->def_at = p->pos;
    return p->n_rules++;
}

static int32_t rule_find(gparser *p, const char *name, size_t n) {
    for (int32_t i = 0; i < p->n_rules; i++)
        if (strlen(p->rules[i].name) == n && !memcmp(p->rules[i].name, name, n)) return i;
    return -1;
}

static gseq *rule_add_alt(gparser *p, int32_t r) {
    grule *g = &p->rules[r];
    if (!grow((void **)&g->alt, &g->cap_alt, g->n_alt + 1, sizeof *g->alt)) return nomem(p), NULL;
    memset(&g->alt[g->n_alt], 0, sizeof *g->alt);
    return &g->alt[g->n_alt++];
}

/* ---- characters ------------------------------------------------------------------ */

/* Decode one UTF-8 character at src[*i] (strict); -1 when invalid. */
static int32_t utf8_next(const char *src, size_t len, size_t *i) {
    const unsigned char *s = (const unsigned char *)src + *i;
    size_t left = len - *i;
    unsigned c = s[0];
    int n;
    uint32_t cp;
    if (c < 0x80) { *i += 1; return (int32_t)c; }
    if (c >= 0xc2 && c <= 0xdf) n = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef) n = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4) n = 4, cp = c & 0x07;
    else return -1;
    if (left < (size_t)n) return -1;
    for (int k = 1; k < n; k++) {
        if ((s[k] & 0xc0) != 0x80) return -1;
        cp = (cp << 6) | (s[k] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
        return -1;
    *i += (size_t)n;
    return (int32_t)cp;
}

static int utf8_encode(uint32_t cp, unsigned char out[4]) {
    if (cp < 0x80) { out[0] = (unsigned char)cp; return 1; }
    if (cp < 0x800) { out[0] = (unsigned char)(0xc0 | (cp >> 6)); out[1] = (unsigned char)(0x80 | (cp & 0x3f)); return 2; }
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xe0 | (cp >> 12));
        out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (unsigned char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (unsigned char)(0xf0 | (cp >> 18));
    out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (unsigned char)(0x80 | (cp & 0x3f));
    return 4;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* One character of a literal or class (escapes included); -1 on error. */
static int32_t parse_char(gparser *p) {
    size_t at = p->pos;
    if (p->pos >= p->len) return fail_at(p, at, "unexpected end of input"), -1;
    if (p->src[p->pos] == '\\') {
        if (p->pos + 1 >= p->len) return fail_at(p, at, "unexpected end of input after '\\'"), -1;
        char c = p->src[p->pos + 1];
        int nhex = c == 'x' ? 2 : c == 'u' ? 4 : c == 'U' ? 8 : 0;
        if (nhex) {
            uint32_t v = 0;
            for (int k = 0; k < nhex; k++) {
                int h = p->pos + 2 + (size_t)k < p->len ? hexval(p->src[p->pos + 2 + k]) : -1;
                if (h < 0) return fail_at(p, at, "expected %d hex digits after '\\%c'", nhex, c), -1;
                v = v * 16 + (uint32_t)h;
            }
            if (v > 0x10ffff) return fail_at(p, at, "code point U+%X is beyond U+10FFFF", (unsigned)v), -1;
            p->pos += 2 + (size_t)nhex;
            return (int32_t)v;
        }
        int32_t r;
        switch (c) {
        case 't': r = '\t'; break;
        case 'r': r = '\r'; break;
        case 'n': r = '\n'; break;
        case '\\': case '"': case '[': case ']': case '-': case '/': r = c; break;
        default: return fail_at(p, at, "unknown escape '\\%c'", c), -1;
        }
        p->pos += 2;
        return r;
    }
    int32_t cp = utf8_next(p->src, p->len, &p->pos);
    if (cp < 0) return fail_at(p, at, "invalid UTF-8"), -1;
    return cp;
}

/* ---- character classes -> byte sequences ----------------------------------------------- */

typedef struct cprange {
    uint32_t lo, hi;
} cprange;

static int cmp_range(const void *a, const void *b) {
    const cprange *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Emit one alternative for each UTF-8 byte-range sequence that covers
 * [lo, hi] (the classic split by encoded length and continuation bytes). */
static bool utf8_split(gparser *p, int32_t rule, uint32_t lo, uint32_t hi, int depth) {
    if (lo > hi) return true;
    static const uint32_t bounds[] = {0x7f, 0x7ff, 0xffff};
    for (int k = 0; k < 3; k++)
        if (lo <= bounds[k] && hi > bounds[k])
            return utf8_split(p, rule, lo, bounds[k], depth + 1) && utf8_split(p, rule, bounds[k] + 1, hi, depth + 1);
    if (lo >= 0x80) {
        for (int i = 1; i < 4; i++) {
            uint32_t m = (1u << (6 * i)) - 1;
            if ((lo & ~m) != (hi & ~m)) {
                if (lo & m) return utf8_split(p, rule, lo, lo | m, depth + 1) && utf8_split(p, rule, (lo | m) + 1, hi, depth + 1);
                if ((hi & m) != m) return utf8_split(p, rule, lo, (hi & ~m) - 1, depth + 1) && utf8_split(p, rule, hi & ~m, hi, depth + 1);
            }
        }
    }
    unsigned char a[4], b[4];
    int n = utf8_encode(lo, a);
    utf8_encode(hi, b);
    gseq *s = rule_add_alt(p, rule);
    if (!s) return false;
    for (int k = 0; k < n; k++)
        if (!push_byte_range(p, s, a[k], b[k])) return false;
    return true;
}

/* Append the class (ranges, possibly negated) to s: one byte-set element
 * when it is all ASCII, else a generated rule of byte sequences. */
static bool emit_class(gparser *p, gseq *s, int32_t parent, cprange *r, int32_t n, bool negate) {
    qsort(r, (size_t)n, sizeof *r, cmp_range);
    /* merge, then complement if negated (surrogates are never characters) */
    int32_t m = 0;
    for (int32_t i = 0; i < n; i++) {
        if (m && r[i].lo <= r[m - 1].hi + 1) {
            if (r[i].hi > r[m - 1].hi) r[m - 1].hi = r[i].hi;
        } else {
            r[m++] = r[i];
        }
    }
    cprange out[130];
    int32_t no = 0;
    cprange *use = r;
    if (negate) {
        uint32_t next = 0;
        for (int32_t i = 0; i < m && no < 126; i++) {
            if (r[i].lo > next) out[no++] = (cprange){next, r[i].lo - 1};
            next = r[i].hi + 1;
        }
        if (next <= 0x10ffff) out[no++] = (cprange){next, 0x10ffff};
        use = out;
        m = no;
    }
    /* split out the surrogate block */
    cprange fin[260];
    int32_t nf = 0;
    for (int32_t i = 0; i < m && nf < 258; i++) {
        uint32_t lo = use[i].lo, hi = use[i].hi;
        if (lo <= 0xdfff && hi >= 0xd800) {
            if (lo < 0xd800) fin[nf++] = (cprange){lo, 0xd7ff};
            if (hi > 0xdfff) fin[nf++] = (cprange){0xe000, hi};
        } else {
            fin[nf++] = use[i];
        }
    }
    if (nf == 0) return fail_at(p, p->pos, "the character class matches nothing");
    wf_byteset ascii = {{0, 0, 0, 0}};
    bool any_ascii = false, wide = false;
    for (int32_t i = 0; i < nf; i++) {
        for (uint32_t c = fin[i].lo; c <= fin[i].hi && c < 0x80; c++) ascii.w[c >> 6] |= 1ull << (c & 63), any_ascii = true;
        if (fin[i].hi >= 0x80) wide = true;
    }
    if (!wide) {
        int32_t id = set_id(p, &ascii);
        return id >= 0 && seq_push(p, s, GE_BYTES, id);
    }
    int32_t rule = rule_new(p, NULL, 0, parent);
    if (rule < 0) return false;
    if (any_ascii) {
        int32_t id = set_id(p, &ascii);
        gseq *a = rule_add_alt(p, rule);
        if (id < 0 || !a || !seq_push(p, a, GE_BYTES, id)) return false;
    }
    for (int32_t i = 0; i < nf; i++) {
        uint32_t lo = fin[i].lo < 0x80 ? 0x80 : fin[i].lo;
        if (fin[i].hi >= 0x80 && !utf8_split(p, rule, lo, fin[i].hi, 0)) return false;
    }
    return seq_push(p, s, GE_REF, rule);
}

/* ---- syntax ------------------------------------------------------------------------------ */

static bool is_word(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

static void skip_space(gparser *p, bool newline_ok) {
    while (p->pos < p->len) {
        char c = p->src[p->pos];
        if (c == '#') {
            while (p->pos < p->len && p->src[p->pos] != '\n' && p->src[p->pos] != '\r') p->pos++;
        } else if (c == ' ' || c == '\t' || (newline_ok && (c == '\n' || c == '\r'))) {
            p->pos++;
        } else {
            break;
        }
    }
}

static bool parse_alternates(gparser *p, int32_t rule, bool nested);

/* The literal "...": its characters' bytes, one element each. */
static bool parse_literal(gparser *p, gseq *s) {
    size_t at = p->pos;
    p->pos++; /* " */
    while (p->pos < p->len && p->src[p->pos] != '"') {
        if (p->src[p->pos] == '\n' || p->src[p->pos] == '\r') return fail_at(p, at, "unterminated literal (a newline inside quotes)");
        int32_t c = parse_char(p);
        if (c < 0) return false;
        unsigned char b[4];
        int n = utf8_encode((uint32_t)c, b);
        for (int k = 0; k < n; k++)
            if (!push_byte_range(p, s, b[k], b[k])) return false;
    }
    if (p->pos >= p->len) return fail_at(p, at, "unterminated literal: expected '\"'");
    p->pos++;
    return true;
}

static bool parse_class(gparser *p, gseq *s, int32_t parent) {
    size_t at = p->pos;
    p->pos++; /* [ */
    bool negate = false;
    if (p->pos < p->len && p->src[p->pos] == '^') negate = true, p->pos++;
    cprange r[128];
    int32_t n = 0;
    while (p->pos < p->len && p->src[p->pos] != ']') {
        int32_t lo = parse_char(p);
        if (lo < 0) return false;
        int32_t hi = lo;
        if (p->pos + 1 < p->len && p->src[p->pos] == '-' && p->src[p->pos + 1] != ']') {
            p->pos++;
            if ((hi = parse_char(p)) < 0) return false;
            if (hi < lo) return fail_at(p, at, "character range %X-%X is reversed", (unsigned)lo, (unsigned)hi);
        }
        if (n == 128) return fail_at(p, at, "too many ranges in one character class (128 at most)");
        r[n++] = (cprange){(uint32_t)lo, (uint32_t)hi};
    }
    if (p->pos >= p->len) return fail_at(p, at, "unterminated character class: expected ']'");
    p->pos++;
    if (n == 0 && !negate) return fail_at(p, at, "empty character class");
    return emit_class(p, s, parent, r, n, negate);
}

/* Wrap s->e[from..n) into a generated rule when it is longer than one
 * element, so that a repetition applies to one element. */
static bool as_one(gparser *p, gseq *s, int32_t from, int32_t parent) {
    if (s->n - from == 1) return true;
    int32_t r = rule_new(p, NULL, 0, parent);
    if (r < 0) return false;
    gseq *a = rule_add_alt(p, r);
    if (!a) return false;
    for (int32_t i = from; i < s->n; i++)
        if (!seq_push(p, a, s->e[i].type, s->e[i].v)) return false;
    p->n_elems -= s->n - from;
    s->n = from;
    return seq_push(p, s, GE_REF, r);
}

/* x{min,max} (max < 0: unbounded) on the single element at s->e[n - 1]:
 * min copies, then x* as `R ::= x R |` or the optional chain
 * `O1 ::= x |`, `Ok ::= x O(k-1) |` (llama.cpp's expansion). */
static bool repeat(gparser *p, gseq *s, int32_t parent, int64_t min, int64_t max) {
    wf_gelem x = s->e[s->n - 1];
    p->n_elems--;
    s->n--;
    for (int64_t i = 0; i < min; i++)
        if (!seq_push(p, s, x.type, x.v)) return false;
    if (max == min) return true;
    if (max < 0) {
        int32_t r = rule_new(p, NULL, 0, parent);
        gseq *a = r >= 0 ? rule_add_alt(p, r) : NULL;
        if (!a || !seq_push(p, a, x.type, x.v) || !seq_push(p, a, GE_REF, r) || !rule_add_alt(p, r)) return false;
        return seq_push(p, s, GE_REF, r);
    }
    int32_t prev = -1;
    for (int64_t k = 0; k < max - min; k++) {
        int32_t r = rule_new(p, NULL, 0, parent);
        gseq *a = r >= 0 ? rule_add_alt(p, r) : NULL;
        if (!a || !seq_push(p, a, x.type, x.v)) return false;
        if (prev >= 0 && !seq_push(p, a, GE_REF, prev)) return false;
        if (!rule_add_alt(p, r)) return false;
        prev = r;
    }
    return seq_push(p, s, GE_REF, prev);
}

static bool parse_int(gparser *p, int64_t *v) {
    size_t at = p->pos;
    int64_t x = 0;
    if (p->pos >= p->len || p->src[p->pos] < '0' || p->src[p->pos] > '9') return fail_at(p, at, "expected a number");
    while (p->pos < p->len && p->src[p->pos] >= '0' && p->src[p->pos] <= '9') {
        x = x * 10 + (p->src[p->pos++] - '0');
        if (x > WF_GRAMMAR_MAX_REPEAT) return fail_at(p, at, "repetition count above %d", WF_GRAMMAR_MAX_REPEAT);
    }
    *v = x;
    return true;
}

/* {m}, {m,}, {m,n} after the '{'. */
static bool parse_braces(gparser *p, int64_t *min, int64_t *max) {
    size_t at = p->pos;
    p->pos++;
    skip_space(p, false);
    if (!parse_int(p, min)) return false;
    skip_space(p, false);
    *max = *min;
    if (p->pos < p->len && p->src[p->pos] == ',') {
        p->pos++;
        skip_space(p, false);
        if (p->pos < p->len && p->src[p->pos] == '}') *max = -1;
        else if (!parse_int(p, max)) return false;
        skip_space(p, false);
    }
    if (p->pos >= p->len || p->src[p->pos] != '}') return fail_at(p, p->pos, "expected '}' to close the repetition");
    p->pos++;
    if (*max >= 0 && *max < *min) return fail_at(p, at, "repetition {%lld,%lld}: the maximum is below the minimum", (long long)*min, (long long)*max);
    return true;
}

static bool parse_sequence(gparser *p, int32_t rule, gseq *s, bool nested) {
    int32_t last = -1; /* start of the last symbol in s, for repetitions */
    while (p->pos < p->len) {
        char c = p->src[p->pos];
        size_t at = p->pos;
        if (c == '"') {
            last = s->n;
            if (!parse_literal(p, s)) return false;
            if (s->n == last) last = -1; /* "" is nothing to repeat */
        } else if (c == '[') {
            last = s->n;
            if (!parse_class(p, s, rule)) return false;
        } else if (c == '.') {
            last = s->n;
            p->pos++;
            if (!emit_class(p, s, rule, (cprange[1]){{0, 0}}, 0, true)) return false;
        } else if (is_word(c)) {
            size_t b = p->pos;
            while (p->pos < p->len && is_word(p->src[p->pos])) p->pos++;
            if (p->pos - b > MAX_NAME) return fail_at(p, b, "rule name longer than %d bytes", MAX_NAME);
            int32_t r = rule_find(p, p->src + b, p->pos - b);
            if (r < 0 && (r = rule_new(p, p->src + b, p->pos - b, -1)) < 0) return false;
            if (p->rules[r].first_ref == SIZE_MAX) p->rules[r].first_ref = b;
            last = s->n;
            if (!seq_push(p, s, GE_REF, r)) return false;
        } else if (c == '(') {
            if (++p->depth > MAX_NESTING) return fail_at(p, at, "groups nested deeper than %d", MAX_NESTING);
            p->pos++;
            skip_space(p, true);
            int32_t g = rule_new(p, NULL, 0, rule);
            if (g < 0 || !parse_alternates(p, g, true)) return false;
            if (p->pos >= p->len || p->src[p->pos] != ')') return fail_at(p, p->pos, "expected ')' to close the group opened at offset %zu", at);
            p->pos++;
            p->depth--;
            last = s->n;
            if (!seq_push(p, s, GE_REF, g)) return false;
        } else if (c == '*' || c == '+' || c == '?' || c == '{') {
            if (last < 0) return fail_at(p, at, "'%c' with nothing before it to repeat", c);
            int64_t min = 0, max = -1;
            if (c == '{') {
                if (!parse_braces(p, &min, &max)) return false;
            } else {
                p->pos++;
                if (c == '+') min = 1;
                if (c == '?') max = 1;
            }
            if (!as_one(p, s, last, rule) || !repeat(p, s, rule, min, max)) return false;
            last = -1;
        } else if (c == '<') {
            return fail_at(p, at, "token references (<...>) are not supported");
        } else {
            break;
        }
        skip_space(p, nested);
    }
    return true;
}

static bool parse_alternates(gparser *p, int32_t rule, bool nested) {
    for (;;) {
        gseq *s = rule_add_alt(p, rule);
        if (!s) return false;
        /* s may move when rules grow: parse into a local sequence */
        gseq local = {0};
        int32_t idx = p->rules[rule].n_alt - 1;
        bool ok = parse_sequence(p, rule, &local, nested);
        p->rules[rule].alt[idx] = local;
        if (!ok) return false;
        if (p->pos < p->len && p->src[p->pos] == '|') {
            p->pos++;
            skip_space(p, true);
            continue;
        }
        return true;
    }
}

static bool parse_rule(gparser *p) {
    size_t at = p->pos;
    size_t b = p->pos;
    while (p->pos < p->len && is_word(p->src[p->pos])) p->pos++;
    if (p->pos == b) return fail_at(p, at, "expected a rule name");
    if (p->pos - b > MAX_NAME) return fail_at(p, b, "rule name longer than %d bytes", MAX_NAME);
    int32_t r = rule_find(p, p->src + b, p->pos - b);
    if (r >= 0 && p->rules[r].defined) return fail_at(p, at, "rule '%s' is defined twice", p->rules[r].name);
    if (r < 0 && (r = rule_new(p, p->src + b, p->pos - b, -1)) < 0) return false;
    p->rules[r].defined = true;
    p->rules[r].def_at = at;
    skip_space(p, false);
    if (p->len - p->pos < 3 || memcmp(p->src + p->pos, "::=", 3)) return fail_at(p, p->pos, "expected '::=' after the rule name '%s'", p->rules[r].name);
    p->pos += 3;
    skip_space(p, true);
    if (!parse_alternates(p, r, false)) return false;
    if (p->pos < p->len) {
        char c = p->src[p->pos];
        if (c != '\n' && c != '\r') {
            if (c == ')') return fail_at(p, p->pos, "unexpected ')'");
            return fail_at(p, p->pos, "unexpected '%c': expected a newline or the end of the grammar", c);
        }
    }
    skip_space(p, true);
    return true;
}

/* ---- checks and the compiled form --------------------------------------------------------- */

/* Left recursion (a rule that can reach itself without consuming input)
 * would make the matcher loop; refuse it, naming the rule. */
static bool check_left_recursion(gparser *p) {
    int32_t n = p->n_rules;
    bool *nullable = calloc((size_t)n, 1);
    uint8_t *mark = calloc((size_t)n, 1);
    int32_t *stack = malloc((size_t)n * 2 * sizeof *stack);
    if (!nullable || !mark || !stack) {
        free(nullable), free(mark), free(stack);
        return nomem(p);
    }
    for (bool changed = true; changed;) {
        changed = false;
        for (int32_t r = 0; r < n; r++) {
            if (nullable[r]) continue;
            for (int32_t a = 0; a < p->rules[r].n_alt && !nullable[r]; a++) {
                gseq *s = &p->rules[r].alt[a];
                bool all = true;
                for (int32_t i = 0; i < s->n && all; i++) all = s->e[i].type == GE_REF && nullable[s->e[i].v];
                if (all) nullable[r] = changed = true;
            }
        }
    }
    bool ok = true;
    /* iterative DFS over "r can start with s" edges; mark 1 = on the path, 2 = done */
    for (int32_t root = 0; root < n && ok; root++) {
        if (mark[root]) continue;
        int32_t sp = 0;
        stack[sp++] = root;
        stack[sp++] = 0; /* edge cursor: alt * 65536 + elem is too small; use a flat counter */
        mark[root] = 1;
        while (sp && ok) {
            int32_t r = stack[sp - 2], cur = stack[sp - 1];
            /* enumerate edges of r in order: (alt, element) pairs flattened */
            int32_t k = 0, target = -1;
            for (int32_t a = 0; a < p->rules[r].n_alt && target < 0; a++) {
                gseq *s = &p->rules[r].alt[a];
                for (int32_t i = 0; i < s->n; i++) {
                    if (s->e[i].type != GE_REF) break;
                    if (k++ == cur) { target = s->e[i].v; break; }
                    if (!nullable[s->e[i].v]) break;
                }
            }
            if (target < 0) {
                mark[r] = 2;
                sp -= 2;
                continue;
            }
            stack[sp - 1] = cur + 1;
            if (mark[target] == 1) {
                size_t at = p->rules[target].def_at;
                ok = fail_at(p, at, "rule '%s' is left-recursive (it can reach itself without consuming input)", p->rules[target].name);
            } else if (!mark[target]) {
                mark[target] = 1;
                stack[sp++] = target;
                stack[sp++] = 0;
            }
        }
    }
    free(nullable);
    free(mark);
    free(stack);
    return ok;
}

static wf_status build(gparser *p, int32_t root, wf_grammar **out) {
    wf_grammar *g = calloc(1, sizeof *g);
    if (!g) return nomem(p), p->st;
    atomic_init(&g->refs, 1);
    if (pthread_mutex_init(&g->amu, NULL)) {
        free(g);
        return nomem(p), p->st;
    }
    int64_t n_el = 0, n_alt = 0;
    for (int32_t r = 0; r < p->n_rules; r++)
        for (int32_t a = 0; a < p->rules[r].n_alt; a++) n_el += p->rules[r].alt[a].n + 1, n_alt++;
    g->el = malloc((size_t)(n_el + 1) * sizeof *g->el);
    g->alt = malloc((size_t)(n_alt + 1) * sizeof *g->alt);
    g->rule_alt = malloc((size_t)(p->n_rules + 1) * sizeof *g->rule_alt);
    g->sets = malloc((size_t)(p->n_sets + 1) * sizeof *g->sets);
    if (!g->el || !g->alt || !g->rule_alt || !g->sets) {
        wf_grammar_free(g);
        return nomem(p), p->st;
    }
    int32_t e = 0, k = 0;
    for (int32_t r = 0; r < p->n_rules; r++) {
        g->rule_alt[r] = k;
        for (int32_t a = 0; a < p->rules[r].n_alt; a++) {
            gseq *s = &p->rules[r].alt[a];
            g->alt[k++] = e;
            if (s->n) memcpy(g->el + e, s->e, (size_t)s->n * sizeof *s->e);
            e += s->n;
            g->el[e].type = GE_END;
            g->el[e].v = 0;
            e++;
        }
    }
    g->rule_alt[p->n_rules] = k;
    g->n_el = e;
    g->n_alt = k;
    g->n_rules = p->n_rules;
    g->root = root;
    if (p->n_sets) memcpy(g->sets, p->sets, (size_t)p->n_sets * sizeof *g->sets);
    g->n_sets = p->n_sets;
    *out = g;
    return WF_OK;
}

wf_status wf_grammar_from_gbnf(const char *text, size_t len, wf_grammar **out, wf_error *err) {
    if (!out) return wf_fail(err, WF_ERR_INVALID_ARG, "grammar: NULL output pointer");
    *out = NULL;
    if (!text && len) return wf_fail(err, WF_ERR_INVALID_ARG, "grammar: NULL text");
    gparser p = {.src = text, .len = len, .err = err, .st = WF_OK};
    skip_space(&p, true);
    while (p.pos < p.len && p.st == WF_OK)
        if (!parse_rule(&p)) break;
    int32_t root = -1;
    if (p.st == WF_OK) {
        for (int32_t r = 0; r < p.n_rules; r++)
            if (!p.rules[r].defined) {
                fail_at(&p, p.rules[r].first_ref, "undefined rule '%s'", p.rules[r].name);
                break;
            }
    }
    if (p.st == WF_OK) {
        root = rule_find(&p, "root", 4);
        if (root < 0) p.st = wf_fail(err, WF_ERR_FORMAT, "grammar: no 'root' rule (the start rule)");
    }
    if (p.st == WF_OK) check_left_recursion(&p);
    wf_status st = p.st;
    if (st == WF_OK) st = build(&p, root, out);
    for (int32_t r = 0; r < p.n_rules; r++) {
        for (int32_t a = 0; a < p.rules[r].n_alt; a++) free(p.rules[r].alt[a].e);
        free(p.rules[r].alt);
        free(p.rules[r].name);
    }
    free(p.rules);
    free(p.sets);
    return st;
}

wf_grammar *wf_grammar_ref(wf_grammar *g) {
    if (g) atomic_fetch_add(&g->refs, 1);
    return g;
}

void wf_grammar_free(wf_grammar *g) {
    if (!g || atomic_fetch_sub(&g->refs, 1) != 1) return;
    wf_grammar_drop_autos(g);
    pthread_mutex_destroy(&g->amu);
    free(g->el);
    free(g->alt);
    free(g->rule_alt);
    free(g->sets);
    free(g);
}
