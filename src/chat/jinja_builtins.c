/* jinja_builtins.c — the filters, tests and methods the template engine
 * knows: Jinja2's built-in filters/tests that chat templates use, transformers'
 * tojson, and Python's str/dict methods (strip, split, startswith, items,
 * get, ...). Names not listed here are errors. */
#define _GNU_SOURCE /* memmem */
#include "chat/jinja.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- tables ---------------------------------------------------------------- */
enum {
    F_ABS, F_ATTR, F_CAPITALIZE, F_COUNT, F_D, F_DEFAULT, F_E, F_ESCAPE, F_FIRST, F_FLOAT,
    F_INDENT, F_INT, F_ITEMS, F_JOIN, F_LAST, F_LENGTH, F_LIST, F_LOWER, F_MAP, F_REJECT,
    F_REJECTATTR, F_REPLACE, F_REVERSE, F_SAFE, F_SELECT, F_SELECTATTR, F_STRING, F_TITLE,
    F_TOJSON, F_TRIM, F_UPPER, F_N
};
static const char *const filter_names[F_N] = {
    "abs", "attr", "capitalize", "count", "d", "default", "e", "escape", "first", "float",
    "indent", "int", "items", "join", "last", "length", "list", "lower", "map", "reject",
    "rejectattr", "replace", "reverse", "safe", "select", "selectattr", "string", "title",
    "tojson", "trim", "upper"};

enum {
    T_DEFINED, T_UNDEFINED, T_NONE, T_BOOLEAN, T_FALSE, T_TRUE, T_INTEGER, T_FLOAT, T_NUMBER,
    T_STRING, T_MAPPING, T_ITERABLE, T_SEQUENCE, T_CALLABLE, T_SAMEAS, T_EQ, T_NE, T_LT, T_LE,
    T_GT, T_GE, T_IN, T_ODD, T_EVEN, T_DIVISIBLEBY, T_LOWER, T_UPPER, T_N
};
static const struct { const char *name; int id; } test_names[] = {
    {"defined", T_DEFINED}, {"undefined", T_UNDEFINED}, {"none", T_NONE}, {"boolean", T_BOOLEAN},
    {"false", T_FALSE}, {"true", T_TRUE}, {"integer", T_INTEGER}, {"float", T_FLOAT},
    {"number", T_NUMBER}, {"string", T_STRING}, {"mapping", T_MAPPING}, {"iterable", T_ITERABLE},
    {"sequence", T_SEQUENCE}, {"callable", T_CALLABLE}, {"sameas", T_SAMEAS}, {"equalto", T_EQ},
    {"eq", T_EQ}, {"==", T_EQ}, {"ne", T_NE}, {"!=", T_NE}, {"lt", T_LT}, {"lessthan", T_LT},
    {"<", T_LT}, {"le", T_LE}, {"<=", T_LE}, {"gt", T_GT}, {"greaterthan", T_GT}, {">", T_GT},
    {"ge", T_GE}, {">=", T_GE}, {"in", T_IN}, {"odd", T_ODD}, {"even", T_EVEN},
    {"divisibleby", T_DIVISIBLEBY}, {"lower", T_LOWER}, {"upper", T_UPPER}, {NULL, 0}};

enum {
    M_STRIP, M_LSTRIP, M_RSTRIP, M_SPLIT, M_RSPLIT, M_STARTSWITH, M_ENDSWITH, M_UPPER, M_LOWER,
    M_TITLE, M_CAPITALIZE, M_REPLACE, M_FIND, M_COUNT, M_JOIN, M_ISDIGIT, M_ISSPACE,
    M_STR_N, /* dict methods follow */
    M_ITEMS = M_STR_N, M_KEYS, M_VALUES, M_GET, M_DICT_N,
    M_CYCLE = M_DICT_N
};
static const char *const method_names[] = {
    "strip", "lstrip", "rstrip", "split", "rsplit", "startswith", "endswith", "upper", "lower",
    "title", "capitalize", "replace", "find", "count", "join", "isdigit", "isspace",
    "items", "keys", "values", "get", "cycle"};

int jinja_filter_id(const char *name) {
    for (int i = 0; i < F_N; i++)
        if (!strcmp(filter_names[i], name)) return i;
    return -1;
}

int jinja_test_id(const char *name) {
    for (int i = 0; test_names[i].name; i++)
        if (!strcmp(test_names[i].name, name)) return test_names[i].id;
    return -1;
}

/* ---- argument helpers ------------------------------------------------------- */
typedef struct fargs {
    const jv *a;
    size_t n;
    const char **kwn;
    const jv *kwv;
    size_t nkw;
    const char *fname;
    int line;
} fargs;

/* Argument `pos` (positional index, -1 = keyword only) or keyword `name`. */
static bool arg(jrender *r, const fargs *A, int pos, const char *name, jv *out) {
    bool found = false;
    if (pos >= 0 && (size_t)pos < A->n) {
        *out = A->a[pos];
        found = true;
    }
    for (size_t k = 0; k < A->nkw; k++)
        if (name && !strcmp(A->kwn[k], name)) {
            if (found) jfail(jinja_ctx(r), WF_ERR_INVALID_ARG, A->line, "%s() got multiple values for '%s'", A->fname, name);
            *out = A->kwv[k];
            found = true;
        }
    return found;
}

static void check_args(jrender *r, const fargs *A, size_t max_pos, const char *const *kw) {
    if (A->n > max_pos)
        jfail(jinja_ctx(r), WF_ERR_INVALID_ARG, A->line, "%s() takes at most %zu positional argument(s)", A->fname, max_pos);
    for (size_t k = 0; k < A->nkw; k++) {
        bool ok = false;
        for (int i = 0; kw && kw[i]; i++) ok |= !strcmp(kw[i], A->kwn[k]);
        if (!ok) jfail(jinja_ctx(r), WF_ERR_UNSUPPORTED, A->line, "%s(): unsupported keyword argument '%s'", A->fname, A->kwn[k]);
    }
}

static jstr *need_str(jrender *r, jv v, const char *what, int line) {
    if (v.t != JV_STR) {
        if (v.t == JV_UNDEF) jinja_undefined_error(r, v, line);
        jfail(jinja_ctx(r), WF_ERR_INVALID_ARG, line, "%s: expected a string, got %s", what, jv_type_name(v));
    }
    return v.s;
}

/* ---- string helpers ---------------------------------------------------------- */
static uint32_t dec(const char *s, size_t n, size_t i, size_t *len) {
    unsigned char b = (unsigned char)s[i];
    size_t l = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
    if (i + l > n) l = 1;
    uint32_t cp = l == 1 ? b : (uint32_t)(b & (0x3F >> (l - 1)));
    for (size_t k = 1; k < l; k++) cp = (cp << 6) | ((unsigned char)s[i + k] & 0x3F);
    *len = l;
    return cp;
}

static bool cased_nonascii(uint32_t cp) {
    static const uint32_t ranges[][2] = {
        {0xB5, 0xB5}, {0xC0, 0x24F}, {0x370, 0x52F}, {0x531, 0x587}, {0x10A0, 0x10FF},
        {0x13A0, 0x13FF}, {0x1C80, 0x1CBF}, {0x1E00, 0x1FFF}, {0x2160, 0x217F}, {0x24B6, 0x24E9},
        {0x2C00, 0x2D2F}, {0xA640, 0xA69F}, {0xA720, 0xA7FF}, {0xAB70, 0xABBF}, {0xFB00, 0xFB17},
        {0xFF21, 0xFF5A}, {0x10400, 0x104FF}, {0x10C80, 0x10CFF}, {0x118A0, 0x118DF},
        {0x16E40, 0x16E9F}, {0x1E900, 0x1E95F}};
    for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++)
        if (cp >= ranges[i][0] && cp <= ranges[i][1]) return true;
    return false;
}

static bool is_alpha_ascii(char ch) { return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z'); }

/* mode: 'U' upper, 'L' lower, 'T' Python str.title, 'C' capitalize,
 * 'J' Jinja's title filter (words start after -, space, (, {, [, <). */
static jv case_map(jrender *r, jstr *s, char mode, int line) {
    jctx *c = jinja_ctx(r);
    jstr *o = js_new(c, s->s, s->len);
    bool prev_cased = false, word_start = true, first = true;
    for (size_t i = 0; i < s->len;) {
        size_t l;
        uint32_t cp = dec(s->s, s->len, i, &l);
        if (cp >= 0x80) {
            if (cased_nonascii(cp))
                jfail(c, WF_ERR_UNSUPPORTED, line, "case conversion of non-ASCII letters is not supported");
            prev_cased = false;
            if (mode == 'J') word_start = ju_is_space_at(s->s, s->len, i, &l);
            first = false;
            dec(s->s, s->len, i, &l);
            i += l;
            continue;
        }
        char ch = (char)cp;
        bool up;
        switch (mode) {
        case 'U': up = true; break;
        case 'L': up = false; break;
        case 'C': up = first; break;
        case 'T': up = !prev_cased; break;
        default: up = word_start; break;
        }
        if (is_alpha_ascii(ch)) o->s[i] = up ? (char)(ch & ~0x20) : (char)(ch | 0x20);
        prev_cased = is_alpha_ascii(ch);
        word_start = mode == 'J' ? (ch == '-' || ch == ' ' || (ch >= 9 && ch <= 13) || ch == '(' || ch == '{' ||
                                    ch == '[' || ch == '<')
                                 : word_start;
        first = false;
        i += l;
    }
    return (jv){.t = JV_STR, .s = o};
}

static bool in_chars(uint32_t cp, const jstr *chars) {
    for (size_t i = 0; i < chars->len;) {
        size_t l;
        if (dec(chars->s, chars->len, i, &l) == cp) return true;
        i += l;
    }
    return false;
}

/* Python str.strip/lstrip/rstrip (chars NULL = whitespace). */
static jv strip(jrender *r, jstr *s, const jstr *chars, bool left, bool right) {
    size_t a = 0, b = s->len, l;
    if (left)
        while (a < b) {
            bool m = chars ? in_chars(dec(s->s, b, a, &l), chars) : ju_is_space_at(s->s, b, a, &l);
            if (!m) break;
            a += l;
        }
    if (right)
        while (b > a) {
            size_t st = b - 1;
            while (st > a && ((unsigned char)s->s[st] & 0xC0) == 0x80) st--;
            bool m = chars ? in_chars(dec(s->s, b, st, &l), chars) : ju_is_space_at(s->s, b, st, &l);
            if (!m) break;
            b = st;
        }
    return jv_str(jinja_ctx(r), s->s + a, b - a);
}

static jv split(jrender *r, jstr *s, jv sepv, int64_t maxsplit, bool from_right, int line) {
    jctx *c = jinja_ctx(r);
    jv out = jv_list(c, 0);
    if (sepv.t == JV_NONE || sepv.t == JV_UNDEF) { /* runs of whitespace, no empties */
        if (from_right && maxsplit >= 0)
            jfail(c, WF_ERR_UNSUPPORTED, line, "rsplit() with maxsplit and no separator is not supported");
        size_t i = 0, l;
        int64_t done = 0;
        while (i < s->len) {
            while (i < s->len && ju_is_space_at(s->s, s->len, i, &l)) i += l;
            if (i >= s->len) break;
            if (maxsplit >= 0 && done == maxsplit) { /* the rest, right-stripped */
                jl_push(c, out.l, strip(r, js_new(c, s->s + i, s->len - i), NULL, false, true));
                return out;
            }
            size_t a = i;
            while (i < s->len && !ju_is_space_at(s->s, s->len, i, &l)) i += l;
            jl_push(c, out.l, jv_str(c, s->s + a, i - a));
            done++;
            jinja_tick(r, line);
        }
        return out;
    }
    jstr *sep = need_str(r, sepv, "split", line);
    if (sep->len == 0) jfail(c, WF_ERR_INVALID_ARG, line, "split(): empty separator");
    if (!from_right) {
        size_t i = 0;
        int64_t done = 0;
        for (;;) {
            const char *p = maxsplit >= 0 && done >= maxsplit ? NULL : memmem(s->s + i, s->len - i, sep->s, sep->len);
            if (!p) {
                jl_push(c, out.l, jv_str(c, s->s + i, s->len - i));
                return out;
            }
            jl_push(c, out.l, jv_str(c, s->s + i, (size_t)(p - (s->s + i))));
            i = (size_t)(p - s->s) + sep->len;
            done++;
            jinja_tick(r, line);
        }
    }
    /* rsplit with a separator: collect from the right, then reverse */
    jv tmp = jv_list(c, 0);
    size_t e = s->len;
    int64_t done = 0;
    for (;;) {
        const char *p = NULL;
        if (!(maxsplit >= 0 && done >= maxsplit) && e >= sep->len)
            for (size_t k = e - sep->len + 1; k-- > 0;)
                if (memcmp(s->s + k, sep->s, sep->len) == 0) { p = s->s + k; break; }
        if (!p) {
            jl_push(c, tmp.l, jv_str(c, s->s, e));
            break;
        }
        size_t k = (size_t)(p - s->s);
        jl_push(c, tmp.l, jv_str(c, s->s + k + sep->len, e - k - sep->len));
        e = k;
        done++;
        jinja_tick(r, line);
    }
    for (size_t i = tmp.l->n; i-- > 0;) jl_push(c, out.l, tmp.l->items[i]);
    return out;
}

static jv replace(jrender *r, jstr *s, jstr *old, jstr *new_, int64_t count, int line) {
    jctx *c = jinja_ctx(r);
    jbuf b = {0};
    int64_t done = 0;
    if (old->len == 0) { /* Python inserts between characters */
        for (size_t i = 0; i <= s->len;) {
            if (count < 0 || done < count) { jb_put(c, &b, new_->s, new_->len); done++; }
            if (i == s->len) break;
            size_t l;
            dec(s->s, s->len, i, &l);
            jb_put(c, &b, s->s + i, l);
            i += l;
            jinja_tick(r, line);
        }
        return jv_str(c, b.p ? b.p : "", b.n);
    }
    size_t i = 0;
    for (;;) {
        const char *p = count >= 0 && done >= count ? NULL : memmem(s->s + i, s->len - i, old->s, old->len);
        if (!p) break;
        jb_put(c, &b, s->s + i, (size_t)(p - (s->s + i)));
        jb_put(c, &b, new_->s, new_->len);
        i = (size_t)(p - s->s) + old->len;
        done++;
    }
    jb_put(c, &b, s->s + i, s->len - i);
    return jv_str(c, b.p ? b.p : "", b.n);
}

static bool affix(jrender *r, jstr *s, jv what, bool end, int line) {
    if (what.t == JV_LIST && what.l->tuple) {
        for (size_t i = 0; i < what.l->n; i++)
            if (affix(r, s, what.l->items[i], end, line)) return true;
        return false;
    }
    jstr *x = need_str(r, what, end ? "endswith" : "startswith", line);
    if (x->len > s->len) return false;
    return memcmp(end ? s->s + s->len - x->len : s->s, x->s, x->len) == 0;
}

static int64_t length_of(jrender *r, jv v, int line) {
    switch (v.t) {
    case JV_STR: return (int64_t)ju_count(v.s->s, v.s->len);
    case JV_LIST:
        if (v.l->lazy == JL_GENERATOR) jfail(jinja_ctx(r), WF_ERR_INVALID_ARG, line, "object of type 'generator' has no len() (add |list)");
        return (int64_t)v.l->n;
    case JV_DICT: return (int64_t)v.d->n;
    case JV_LOOP: return (int64_t)v.loop->items->n;
    case JV_UNDEF: return 0;
    default:
        jfail(jinja_ctx(r), WF_ERR_INVALID_ARG, line, "object of type '%s' has no len()", jv_type_name(v));
    }
}

/* ---- tests ------------------------------------------------------------------ */
bool jinja_apply_test(jrender *r, int id, jv v, const jv *args, size_t n, int line) {
    jctx *c = jinja_ctx(r);
    size_t need = (id == T_SAMEAS || id == T_EQ || id == T_NE || id == T_LT || id == T_LE || id == T_GT ||
                   id == T_GE || id == T_IN || id == T_DIVISIBLEBY) ? 1 : 0;
    if (n != need) jfail(c, WF_ERR_INVALID_ARG, line, "test takes %zu argument(s), got %zu", need, n);
    switch (id) {
    case T_DEFINED: return v.t != JV_UNDEF;
    case T_UNDEFINED: return v.t == JV_UNDEF;
    case T_NONE: return v.t == JV_NONE;
    case T_BOOLEAN: return v.t == JV_BOOL;
    case T_FALSE: return v.t == JV_BOOL && !v.b;
    case T_TRUE: return v.t == JV_BOOL && v.b;
    case T_INTEGER: return v.t == JV_INT;
    case T_FLOAT: return v.t == JV_FLOAT;
    case T_NUMBER: return v.t == JV_INT || v.t == JV_FLOAT || v.t == JV_BOOL;
    case T_STRING: return v.t == JV_STR;
    case T_MAPPING: return v.t == JV_DICT;
    case T_ITERABLE: return v.t == JV_STR || v.t == JV_LIST || v.t == JV_DICT || v.t == JV_UNDEF;
    case T_SEQUENCE: /* has len() and [] */
        return v.t == JV_STR || (v.t == JV_LIST && !v.l->lazy) || v.t == JV_DICT || v.t == JV_UNDEF;
    case T_CALLABLE: return v.t == JV_MACRO || v.t == JV_FUNC || v.t == JV_METHOD;
    case T_SAMEAS:
        if (v.t != args[0].t) return false;
        if (v.t == JV_NONE || v.t == JV_UNDEF) return true;
        if (v.t == JV_BOOL) return v.b == args[0].b;
        if (v.t == JV_INT) return v.i == args[0].i && v.i >= -5 && v.i <= 256; /* CPython small ints */
        if (v.t == JV_STR) return v.s == args[0].s;
        if (v.t == JV_LIST) return v.l == args[0].l;
        if (v.t == JV_DICT || v.t == JV_NS) return v.d == args[0].d;
        return jv_equal(v, args[0]);
    case T_EQ: return jinja_compare(r, OP_EQ, v, args[0], line);
    case T_NE: return jinja_compare(r, OP_NE, v, args[0], line);
    case T_LT: return jinja_compare(r, OP_LT, v, args[0], line);
    case T_LE: return jinja_compare(r, OP_LE, v, args[0], line);
    case T_GT: return jinja_compare(r, OP_GT, v, args[0], line);
    case T_GE: return jinja_compare(r, OP_GE, v, args[0], line);
    case T_IN: return jinja_compare(r, OP_IN, v, args[0], line);
    case T_ODD: case T_EVEN: case T_DIVISIBLEBY: { /* Python: value % k == 0 (or == 1) */
        jv k = id == T_DIVISIBLEBY ? args[0] : jv_int(2);
        bool num_v = v.t == JV_INT || v.t == JV_BOOL || v.t == JV_FLOAT;
        bool num_k = k.t == JV_INT || k.t == JV_BOOL || k.t == JV_FLOAT;
        if (!num_v || !num_k)
            jfail(c, WF_ERR_INVALID_ARG, line, "odd/even/divisibleby need numbers, got %s", jv_type_name(num_v ? k : v));
        jv m = jinja_binop(r, OP_MOD, v, k, line);
        double mv = m.t == JV_FLOAT ? m.f : (double)m.i;
        return id == T_ODD ? mv == 1.0 : mv == 0.0;
    }
    case T_LOWER: case T_UPPER: {
        if (v.t != JV_STR) return false;
        jv m = case_map(r, v.s, id == T_LOWER ? 'L' : 'U', line);
        bool has_cased = false;
        for (size_t i = 0; i < v.s->len; i++) has_cased |= is_alpha_ascii(v.s->s[i]);
        return has_cased && jv_equal(m, v);
    }
    }
    jfail(c, WF_ERR_INTERNAL, line, "bad test id %d", id);
}

/* ---- filters ---------------------------------------------------------------- */
static jv to_list(jrender *r, jv v, int line) {
    jlist *l = jinja_iter(r, v, line);
    jv o = jv_list(jinja_ctx(r), l->n);
    for (size_t i = 0; i < l->n; i++) jl_push(jinja_ctx(r), o.l, l->items[i]);
    return o;
}

/* getattr for filters' attribute= arguments: "a.b" walks, digits index */
static jv attr_path(jrender *r, jv v, jstr *path, int line) {
    const char *p = path->s;
    while (*p) {
        const char *e = strchr(p, '.');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        jstr *k = js_new(jinja_ctx(r), p, n);
        bool digits = n > 0;
        for (size_t i = 0; i < n; i++) digits &= p[i] >= '0' && p[i] <= '9';
        if (v.t == JV_UNDEF) return v;
        if (digits && v.t == JV_LIST) {
            size_t idx = (size_t)atoll(k->s);
            v = idx < v.l->n ? v.l->items[idx] : jv_undef(NULL);
        } else {
            jv *d = v.t == JV_DICT ? jd_gets(v.d, k->s) : NULL;
            v = d ? *d : jinja_getattr(r, v, k->s, line);
        }
        p += n;
        if (*p == '.') p++;
    }
    return v;
}

/* select / reject / selectattr / rejectattr */
static jv select_items(jrender *r, jv seq, const fargs *A, bool attr, bool keep) {
    jctx *c = jinja_ctx(r);
    /* Jinja only iterates a truthy value: false/none/0 give nothing */
    jlist *l = jv_truthy(seq) ? jinja_iter(r, seq, A->line) : jv_list(c, 0).l;
    size_t k = 0;
    jstr *path = NULL;
    if (attr) {
        if (A->n < 1) jfail(c, WF_ERR_INVALID_ARG, A->line, "%s() needs an attribute name", A->fname);
        path = need_str(r, A->a[0], A->fname, A->line);
        k = 1;
    }
    int test = -1;
    if (A->n > k) {
        jstr *tn = need_str(r, A->a[k], A->fname, A->line);
        test = jinja_test_id(tn->s);
        if (test < 0) jfail(c, WF_ERR_UNSUPPORTED, A->line, "unknown test '%s'", tn->s);
        k++;
    }
    if (A->nkw) jfail(c, WF_ERR_UNSUPPORTED, A->line, "%s(): keyword arguments are not supported", A->fname);
    jv out = jv_list(c, 0);
    out.l->lazy = JL_GENERATOR;
    for (size_t i = 0; i < l->n; i++) {
        jinja_tick(r, A->line);
        jv x = attr ? attr_path(r, l->items[i], path, A->line) : l->items[i];
        bool ok = test < 0 ? jv_truthy(x) : jinja_apply_test(r, test, x, A->a + k, A->n - k, A->line);
        if (ok == keep) jl_push(c, out.l, l->items[i]);
    }
    return out;
}

static void html_escape(jctx *c, jbuf *b, jstr *s) {
    for (size_t i = 0; i < s->len; i++) {
        switch (s->s[i]) {
        case '&': jb_puts(c, b, "&amp;"); break;
        case '<': jb_puts(c, b, "&lt;"); break;
        case '>': jb_puts(c, b, "&gt;"); break;
        case '"': jb_puts(c, b, "&#34;"); break;
        case '\'': jb_puts(c, b, "&#39;"); break;
        default: jb_put(c, b, s->s + i, 1);
        }
    }
}

static bool parse_int_str(const char *s, int64_t *out) {
    while (*s == ' ' || (*s >= 9 && *s <= 13)) s++;
    char *e;
    errno = 0;
    long long v = strtoll(s, &e, 10);
    if (e == s || errno) return false;
    while (*e == ' ' || (*e >= 9 && *e <= 13)) e++;
    if (*e) return false;
    *out = v;
    return true;
}

static bool parse_float_str(const char *s, double *out) {
    while (*s == ' ' || (*s >= 9 && *s <= 13)) s++;
    char *e;
    double v = strtod(s, &e);
    if (e == s) return false;
    while (*e == ' ' || (*e >= 9 && *e <= 13)) e++;
    if (*e) return false;
    *out = v;
    return true;
}

/* ---- filters: one function each ---------------------------------------------- */
static jv f_abs(jrender *r, int id, jv v, const fargs *A) {
    jctx *c = jinja_ctx(r);
    int line = A->line;
    check_args(r, A, 0, NULL);
    if (v.t == JV_INT) {
        if (v.i == INT64_MIN) jfail(c, WF_ERR_UNSUPPORTED, line, "integer overflow");
        return jv_int(v.i < 0 ? -v.i : v.i);
    }
    if (v.t == JV_BOOL) return jv_int(v.b);
    if (v.t == JV_FLOAT) return jv_float(fabs(v.f));
    jfail(c, WF_ERR_INVALID_ARG, line, "bad operand type for abs(): '%s'", jv_type_name(v));
}

static jv f_attr(jrender *r, int id, jv v, const fargs *A) {
    jctx *c = jinja_ctx(r);
    int line = A->line;
    check_args(r, A, 1, NULL);
    if (A->n != 1) jfail(c, WF_ERR_INVALID_ARG, line, "attr() takes one name");
    jstr *nm = need_str(r, A->a[0], "attr", line);
    if (v.t == JV_DICT) { /* attr() does not look at items */
        jv m = jinja_method_lookup(r, v, nm->s);
        return m;
    }
    return jinja_getattr(r, v, nm->s, line);
}

static jv f_capitalize(jrender *r, int id, jv v, const fargs *A) {
    jctx *c = jinja_ctx(r);
    int line = A->line;
    check_args(r, A, 0, NULL); return case_map(r, jv_as_str(c, v), 'C', line);
}

static jv f_lower(jrender *r, int id, jv v, const fargs *A) {
    jctx *c = jinja_ctx(r);
    int line = A->line;
    check_args(r, A, 0, NULL); return case_map(r, jv_as_str(c, v), 'L', line);
}

static jv f_upper(jrender *r, int id, jv v, const fargs *A) {
    jctx *c = jinja_ctx(r);
    int line = A->line;
    check_args(r, A, 0, NULL); return case_map(r, jv_as_str(c, v), 'U', line);
}

static jv f_title(jrender *r, int id, jv v, const fargs *A) {
    jctx *c = jinja_ctx(r);
    int line = A->line;
    check_args(r, A, 0, NULL); return case_map(r, jv_as_str(c, v), 'J', line);
}

static jv f_count(jrender *r, int id, jv v, const fargs *A) {
    int line = A->line;
    check_args(r, A, 0, NULL); return jv_int(length_of(r, v, line));
}

static jv f_d(jrender *r, int id, jv v, const fargs *A) {
    jctx *c = jinja_ctx(r);
    static const char *const kw[] = {"default_value", "boolean", NULL};
    check_args(r, A, 2, kw);
    jv dv = jv_str(c, "", 0), bo = jv_bool(false);
    arg(r, A, 0, "default_value", &dv);
    arg(r, A, 1, "boolean", &bo);
    if (v.t == JV_UNDEF || (jv_truthy(bo) && !jv_truthy(v))) return dv;
    return v;
}

static jv f_e(jrender *r, int id, jv v, const fargs *A) {
    jctx *c = jinja_ctx(r);
    check_args(r, A, 0, NULL);
    jbuf b = {0};
    html_escape(c, &b, jv_as_str(c, v));
    return jv_str(c, b.p ? b.p : "", b.n);
}

static jv f_first(jrender *r, int id, jv v, const fargs *A) {
    jctx *c = jinja_ctx(r);
    int line = A->line;
    check_args(r, A, 0, NULL);
    if (id == F_LAST && v.t == JV_LIST && v.l->lazy == JL_GENERATOR)
        jfail(c, WF_ERR_INVALID_ARG, line, "last: a generator is not reversible (add |list)");
    jlist *l = jinja_iter(r, v, line);
    if (l->n == 0) return jv_undef(NULL);
    return l->items[id == F_FIRST ? 0 : l->n - 1];
}

static jv f_float(jrender *r, int id, jv v, const fargs *A) {
    int line = A->line;
    static const char *const kw[] = {"default", NULL};
    check_args(r, A, 1, kw);
    jv dv = jv_float(0.0);
    arg(r, A, 0, "default", &dv);
    double d;
    if (v.t == JV_UNDEF) jinja_undefined_error(r, v, line);
    if (v.t == JV_FLOAT) return v;
    if (v.t == JV_INT || v.t == JV_BOOL) return jv_float(v.t == JV_INT ? (double)v.i : v.b);
    if (v.t == JV_STR && parse_float_str(v.s->s, &d)) return jv_float(d);
    return dv;
}

static jv f_int(jrender *r, int id, jv v, const fargs *A) {
    jctx *c = jinja_ctx(r);
    int line = A->line;
    static const char *const kw[] = {"default", "base", NULL};
    check_args(r, A, 2, kw);
    jv dv = jv_int(0), base = jv_int(10);
    arg(r, A, 0, "default", &dv);
    if (arg(r, A, 1, "base", &base) && !(base.t == JV_INT && base.i == 10))
        jfail(c, WF_ERR_UNSUPPORTED, line, "int(): only base 10 is supported");
    int64_t i;
    double d;
    if (v.t == JV_UNDEF) jinja_undefined_error(r, v, line);
    if (v.t == JV_INT) return v;
    if (v.t == JV_BOOL) return jv_int(v.b);
    if (v.t == JV_FLOAT) {
        if (!(fabs(v.f) < 9.2e18)) jfail(c, WF_ERR_UNSUPPORTED, line, "int(): value out of range");
        return jv_int((int64_t)v.f);
    }
    if (v.t == JV_STR) {
        if (parse_int_str(v.s->s, &i)) return jv_int(i);
        if (parse_float_str(v.s->s, &d) && fabs(d) < 9.2e18) return jv_int((int64_t)d);
    }
    return dv;
}

static jv f_indent(jrender *r, int id, jv v, const fargs *A) {
    jctx *c = jinja_ctx(r);
    int line = A->line;
    static const char *const kw[] = {"width", "first", "blank", NULL};
    check_args(r, A, 3, kw);
    jv w = jv_int(4), first = jv_bool(false), blank = jv_bool(false);
    arg(r, A, 0, "width", &w);
    arg(r, A, 1, "first", &first);
    arg(r, A, 2, "blank", &blank);
    jbuf pad = {0};
    if (w.t == JV_INT) {
        if (w.i < 0 || w.i > 1000) jfail(c, WF_ERR_RANGE, line, "indent(): width out of range");
        for (int64_t i = 0; i < w.i; i++) jb_puts(c, &pad, " ");
    } else {
        jstr *ws = need_str(r, w, "indent", line);
        jb_put(c, &pad, ws->s, ws->len);
    }
    /* Jinja: s += "\n"; lines = s.splitlines(); the first line is not
     * indented (unless first=True), empty lines only when blank=True. */
    jstr *s0 = jv_as_str(c, v);
    jbuf t = {0};
    jb_put(c, &t, s0->s, s0->len);
    jb_puts(c, &t, "\n");
    jbuf b = {0};
    if (jv_truthy(first)) jb_put(c, &b, pad.p ? pad.p : "", pad.n);
    size_t i = 0;
    for (size_t li = 0; i < t.n; li++) {
        size_t e = i, brk = 0; /* the line ends at a Python line boundary */
        while (!brk) {
            unsigned char ch = (unsigned char)t.p[e];
            if (ch == '\r') brk = e + 1 < t.n && t.p[e + 1] == '\n' ? 2 : 1;
            else if (ch == '\n' || ch == '\v' || ch == '\f' || (ch >= 0x1c && ch <= 0x1e)) brk = 1;
            else if (ch == 0xC2 && e + 1 < t.n && (unsigned char)t.p[e + 1] == 0x85) brk = 2;
            else if (ch == 0xE2 && e + 2 < t.n && (unsigned char)t.p[e + 1] == 0x80 &&
                     ((unsigned char)t.p[e + 2] == 0xA8 || (unsigned char)t.p[e + 2] == 0xA9)) brk = 3;
            else e++;
        }
        if (li > 0) {
            jb_puts(c, &b, "\n");
            if ((e > i || jv_truthy(blank)) && pad.n) jb_put(c, &b, pad.p, pad.n);
        }
        jb_put(c, &b, t.p + i, e - i);
        i = e + brk;
    }
    return jv_str(c, b.p ? b.p : "", b.n);
}

static jv f_items(jrender *r, int id, jv v, const fargs *A) {
    jctx *c = jinja_ctx(r);
    int line = A->line;
    check_args(r, A, 0, NULL);
    if (v.t == JV_UNDEF) {
        jv e = jv_list(c, 0);
        e.l->lazy = JL_GENERATOR;
        return e;
    }
    if (v.t != JV_DICT) jfail(c, WF_ERR_INVALID_ARG, line, "items: can only get item pairs from a mapping");
    jv o = jv_list(c, v.d->n);
    o.l->lazy = JL_GENERATOR;
    for (size_t i = 0; i < v.d->n; i++) {
        jv t = jv_list(c, 2);
        t.l->tuple = true;
        jl_push(c, t.l, v.d->keys[i]);
        jl_push(c, t.l, v.d->vals[i]);
        jl_push(c, o.l, t);
    }
    return o;
}

static jv f_join(jrender *r, int id, jv v, const fargs *A) {
    jctx *c = jinja_ctx(r);
    int line = A->line;
    static const char *const kw[] = {"d", "attribute", NULL};
    check_args(r, A, 2, kw);
    jv sep = jv_str(c, "", 0), at = jv_none();
    arg(r, A, 0, "d", &sep);
    arg(r, A, 1, "attribute", &at);
    jstr *ss = jv_as_str(c, sep);
    jlist *l = jinja_iter(r, v, line);
    jbuf b = {0};
    for (size_t i = 0; i < l->n; i++) {
        jinja_tick(r, line);
        if (i) jb_put(c, &b, ss->s, ss->len);
        jv item = at.t == JV_NONE ? l->items[i] : attr_path(r, l->items[i], jv_as_str(c, at), line);
        jv_to_str(c, &b, item);
    }
    return jv_str(c, b.p ? b.p : "", b.n);
}

static jv f_list(jrender *r, int id, jv v, const fargs *A) {
    int line = A->line;
    check_args(r, A, 0, NULL); return to_list(r, v, line);
}

static jv f_map(jrender *r, int id, jv v, const fargs *A) {
    jctx *c = jinja_ctx(r);
    int line = A->line;
    jlist *l = jv_truthy(v) ? jinja_iter(r, v, line) : jv_list(c, 0).l; /* as select */
    jv out = jv_list(c, l->n);
    out.l->lazy = JL_GENERATOR;
    jv at;
    if (arg(r, A, -1, "attribute", &at)) {
        static const char *const kw[] = {"attribute", "default", NULL};
        check_args(r, A, 0, kw);
        jv dv = jv_undef(NULL);
        bool has_def = arg(r, A, -1, "default", &dv);
        jstr *path = need_str(r, at, "map", line);
        for (size_t i = 0; i < l->n; i++) {
            jinja_tick(r, line);
            jv x = attr_path(r, l->items[i], path, line);
            jl_push(c, out.l, x.t == JV_UNDEF && has_def ? dv : x);
        }
        return out;
    }
    if (A->n < 1) jfail(c, WF_ERR_INVALID_ARG, line, "map() needs a filter name or attribute=");
    jstr *fname = need_str(r, A->a[0], "map", line);
    int fid = jinja_filter_id(fname->s);
    if (fid < 0) jfail(c, WF_ERR_UNSUPPORTED, line, "unknown filter '%s'", fname->s);
    for (size_t i = 0; i < l->n; i++) {
        jinja_tick(r, line);
        jl_push(c, out.l, jinja_apply_filter(r, fid, l->items[i], A->a + 1, A->n - 1, A->kwn, A->kwv, A->nkw, line));
    }
    return out;
}

static jv f_select(jrender *r, int id, jv v, const fargs *A) {
    return select_items(r, v, A, false, true);
}

static jv f_reject(jrender *r, int id, jv v, const fargs *A) {
    return select_items(r, v, A, false, false);
}

static jv f_selectattr(jrender *r, int id, jv v, const fargs *A) {
    return select_items(r, v, A, true, true);
}

static jv f_rejectattr(jrender *r, int id, jv v, const fargs *A) {
    return select_items(r, v, A, true, false);
}

static jv f_replace(jrender *r, int id, jv v, const fargs *A) {
    jctx *c = jinja_ctx(r);
    int line = A->line;
    static const char *const kw[] = {"old", "new", "count", NULL};
    check_args(r, A, 3, kw);
    jv o, nw, cnt = jv_none();
    if (!arg(r, A, 0, "old", &o) || !arg(r, A, 1, "new", &nw))
        jfail(c, WF_ERR_INVALID_ARG, line, "replace() needs old and new");
    arg(r, A, 2, "count", &cnt);
    return replace(r, jv_as_str(c, v), jv_as_str(c, o), jv_as_str(c, nw), cnt.t == JV_INT ? cnt.i : -1, line);
}

static jv f_reverse(jrender *r, int id, jv v, const fargs *A) {
    jctx *c = jinja_ctx(r);
    int line = A->line;
    check_args(r, A, 0, NULL);
    if (v.t == JV_STR) {
        jbuf b = {0};
        for (size_t e = v.s->len; e > 0;) {
            size_t st = e - 1;
            while (st > 0 && ((unsigned char)v.s->s[st] & 0xC0) == 0x80) st--;
            jb_put(c, &b, v.s->s + st, e - st);
            e = st;
        }
        return jv_str(c, b.p ? b.p : "", b.n);
    }
    jlist *l = jinja_iter(r, v, line);
    jv o = jv_list(c, l->n);
    o.l->lazy = JL_GENERATOR; /* reversed(...) */
    for (size_t i = l->n; i-- > 0;) jl_push(c, o.l, l->items[i]);
    return o;
}

static jv f_safe(jrender *r, int id, jv v, const fargs *A) {
    jctx *c = jinja_ctx(r);
    check_args(r, A, 0, NULL); return v.t == JV_STR ? v : (jv){.t = JV_STR, .s = jv_as_str(c, v)};
}

static jv f_string(jrender *r, int id, jv v, const fargs *A) {
    jctx *c = jinja_ctx(r);
    check_args(r, A, 0, NULL); return (jv){.t = JV_STR, .s = jv_as_str(c, v)};
}

static jv f_tojson(jrender *r, int id, jv v, const fargs *A) {
    jctx *c = jinja_ctx(r);
    int line = A->line;
    static const char *const kw[] = {"ensure_ascii", "indent", "separators", "sort_keys", NULL};
    check_args(r, A, 4, kw);
    jv ea = jv_bool(false), ind = jv_none(), seps = jv_none(), sk = jv_bool(false);
    arg(r, A, 0, "ensure_ascii", &ea);
    arg(r, A, 1, "indent", &ind);
    arg(r, A, 2, "separators", &seps);
    arg(r, A, 3, "sort_keys", &sk);
    if (jv_truthy(ea)) jfail(c, WF_ERR_UNSUPPORTED, line, "tojson(ensure_ascii=True) is not supported");
    const char *indent = NULL, *isep = ", ", *ksep = ": ";
    if (ind.t == JV_INT) {
        if (ind.i < 0 || ind.i > 64) jfail(c, WF_ERR_RANGE, line, "tojson(): indent out of range");
        char *p = ja_alloc(c, (size_t)ind.i + 1);
        memset(p, ' ', (size_t)ind.i);
        indent = p;
        isep = ",";
    } else if (ind.t == JV_STR) {
        indent = ind.s->s;
        isep = ",";
    } else if (ind.t != JV_NONE) {
        jfail(c, WF_ERR_UNSUPPORTED, line, "tojson(): indent must be an integer or a string");
    }
    if (seps.t == JV_LIST && seps.l->n == 2 && seps.l->items[0].t == JV_STR && seps.l->items[1].t == JV_STR) {
        isep = seps.l->items[0].s->s;
        ksep = seps.l->items[1].s->s;
    } else if (seps.t != JV_NONE) {
        jfail(c, WF_ERR_INVALID_ARG, line, "tojson(): separators must be a pair of strings");
    }
    jbuf b = {0};
    jv_to_json(c, &b, v, indent, isep, ksep, jv_truthy(sk), 0);
    return jv_str(c, b.p ? b.p : "", b.n);
}

static jv f_trim(jrender *r, int id, jv v, const fargs *A) {
    jctx *c = jinja_ctx(r);
    int line = A->line;
    static const char *const kw[] = {"chars", NULL};
    check_args(r, A, 1, kw);
    jv ch = jv_none();
    arg(r, A, 0, "chars", &ch);
    return strip(r, jv_as_str(c, v), ch.t == JV_NONE ? NULL : need_str(r, ch, "trim", line), true, true);
}

typedef jv (*filter_fn)(jrender *r, int id, jv v, const fargs *A);

/* One function per filter, indexed by filter id (filter_names). */
static const filter_fn filters[F_N] = {
    [F_ABS] = f_abs,
    [F_ATTR] = f_attr,
    [F_CAPITALIZE] = f_capitalize,
    [F_COUNT] = f_count,
    [F_D] = f_d,
    [F_DEFAULT] = f_d,
    [F_E] = f_e,
    [F_ESCAPE] = f_e,
    [F_FIRST] = f_first,
    [F_FLOAT] = f_float,
    [F_INDENT] = f_indent,
    [F_INT] = f_int,
    [F_ITEMS] = f_items,
    [F_JOIN] = f_join,
    [F_LAST] = f_first,
    [F_LENGTH] = f_count,
    [F_LIST] = f_list,
    [F_LOWER] = f_lower,
    [F_MAP] = f_map,
    [F_REJECT] = f_reject,
    [F_REJECTATTR] = f_rejectattr,
    [F_REPLACE] = f_replace,
    [F_REVERSE] = f_reverse,
    [F_SAFE] = f_safe,
    [F_SELECT] = f_select,
    [F_SELECTATTR] = f_selectattr,
    [F_STRING] = f_string,
    [F_TITLE] = f_title,
    [F_TOJSON] = f_tojson,
    [F_TRIM] = f_trim,
    [F_UPPER] = f_upper,
};

jv jinja_apply_filter(jrender *r, int id, jv v, const jv *args, size_t n, const char **kwn, const jv *kwv,
                      size_t nkw, int line) {
    if (id < 0 || id >= F_N) jfail(jinja_ctx(r), WF_ERR_INTERNAL, line, "bad filter id %d", id);
    fargs A = {args, n, kwn, kwv, nkw, filter_names[id], line};
    return filters[id](r, id, v, &A);
}

/* ---- methods ----------------------------------------------------------------- */
jv jinja_method_lookup(jrender *r, jv obj, const char *name) {
    int lo, hi;
    if (obj.t == JV_STR) { lo = 0; hi = M_STR_N; }
    else if (obj.t == JV_DICT) { lo = M_STR_N; hi = M_DICT_N; }
    else if (obj.t == JV_LOOP) { lo = M_CYCLE; hi = M_CYCLE + 1; }
    else return jv_undef(NULL);
    for (int i = lo; i < hi; i++) {
        if (!strcmp(method_names[i], name)) {
            jv m = {0};
            m.t = JV_METHOD;
            m.aux = (uint16_t)i;
            m.self = ja_alloc(jinja_ctx(r), sizeof(jv));
            *m.self = obj;
            return m;
        }
    }
    return jv_undef(NULL);
}

jv jinja_call_method(jrender *r, jv m, const jv *args, size_t n, const char **kwn, const jv *kwv, size_t nkw,
                     int line) {
    jctx *c = jinja_ctx(r);
    jv self = *m.self;
    fargs A = {args, n, kwn, kwv, nkw, method_names[m.aux], line};
    switch (m.aux) {
    case M_STRIP: case M_LSTRIP: case M_RSTRIP: {
        static const char *const kw[] = {"chars", NULL};
        check_args(r, &A, 1, kw);
        jv ch = jv_none();
        arg(r, &A, 0, "chars", &ch);
        return strip(r, self.s, ch.t == JV_NONE ? NULL : need_str(r, ch, A.fname, line), m.aux != M_RSTRIP,
                     m.aux != M_LSTRIP);
    }
    case M_SPLIT: case M_RSPLIT: {
        static const char *const kw[] = {"sep", "maxsplit", NULL};
        check_args(r, &A, 2, kw);
        jv sep = jv_none(), mx = jv_int(-1);
        arg(r, &A, 0, "sep", &sep);
        arg(r, &A, 1, "maxsplit", &mx);
        if (mx.t != JV_INT) jfail(c, WF_ERR_INVALID_ARG, line, "maxsplit must be an integer");
        return split(r, self.s, sep, mx.i, m.aux == M_RSPLIT, line);
    }
    case M_STARTSWITH: case M_ENDSWITH:
        check_args(r, &A, 1, NULL);
        if (n != 1) jfail(c, WF_ERR_UNSUPPORTED, line, "%s() with start/end positions is not supported", A.fname);
        return jv_bool(affix(r, self.s, args[0], m.aux == M_ENDSWITH, line));
    case M_UPPER: check_args(r, &A, 0, NULL); return case_map(r, self.s, 'U', line);
    case M_LOWER: check_args(r, &A, 0, NULL); return case_map(r, self.s, 'L', line);
    case M_TITLE: check_args(r, &A, 0, NULL); return case_map(r, self.s, 'T', line);
    case M_CAPITALIZE: check_args(r, &A, 0, NULL); return case_map(r, self.s, 'C', line);
    case M_REPLACE: {
        check_args(r, &A, 3, NULL);
        if (n < 2) jfail(c, WF_ERR_INVALID_ARG, line, "replace() needs old and new");
        int64_t cnt = -1;
        if (n == 3) {
            if (args[2].t != JV_INT) jfail(c, WF_ERR_INVALID_ARG, line, "replace(): count must be an integer");
            cnt = args[2].i;
        }
        return replace(r, self.s, need_str(r, args[0], "replace", line), need_str(r, args[1], "replace", line), cnt, line);
    }
    case M_FIND: case M_COUNT: {
        check_args(r, &A, 1, NULL);
        if (n != 1) jfail(c, WF_ERR_UNSUPPORTED, line, "%s() with start/end positions is not supported", A.fname);
        jstr *x = need_str(r, args[0], A.fname, line);
        if (m.aux == M_FIND) {
            const char *p = x->len ? memmem(self.s->s, self.s->len, x->s, x->len) : self.s->s;
            return jv_int(p ? (int64_t)ju_count(self.s->s, (size_t)(p - self.s->s)) : -1);
        }
        if (x->len == 0) return jv_int((int64_t)ju_count(self.s->s, self.s->len) + 1);
        int64_t k = 0;
        for (const char *p = self.s->s; (p = memmem(p, self.s->len - (size_t)(p - self.s->s), x->s, x->len)); p += x->len) k++;
        return jv_int(k);
    }
    case M_JOIN: {
        check_args(r, &A, 1, NULL);
        if (n != 1) jfail(c, WF_ERR_INVALID_ARG, line, "join() takes one iterable");
        jlist *l = jinja_iter(r, args[0], line);
        jbuf b = {0};
        for (size_t i = 0; i < l->n; i++) {
            jinja_tick(r, line);
            if (i) jb_put(c, &b, self.s->s, self.s->len);
            jb_put(c, &b, need_str(r, l->items[i], "join", line)->s, l->items[i].s->len);
        }
        return jv_str(c, b.p ? b.p : "", b.n);
    }
    case M_ISDIGIT: case M_ISSPACE: {
        check_args(r, &A, 0, NULL);
        if (self.s->len == 0) return jv_bool(false);
        for (size_t i = 0; i < self.s->len;) {
            size_t l;
            if (m.aux == M_ISSPACE) {
                if (!ju_is_space_at(self.s->s, self.s->len, i, &l)) return jv_bool(false);
            } else {
                uint32_t cp = dec(self.s->s, self.s->len, i, &l);
                if (cp >= 0x80) jfail(c, WF_ERR_UNSUPPORTED, line, "isdigit() of non-ASCII text is not supported");
                if (cp < '0' || cp > '9') return jv_bool(false);
            }
            i += l;
        }
        return jv_bool(true);
    }
    case M_ITEMS: {
        check_args(r, &A, 0, NULL);
        jv o = jinja_apply_filter(r, F_ITEMS, self, NULL, 0, NULL, NULL, 0, line);
        o.l->lazy = JL_VIEW_ITEMS;
        return o;
    }
    case M_KEYS: case M_VALUES: {
        check_args(r, &A, 0, NULL);
        jv o = jv_list(c, self.d->n);
        o.l->lazy = m.aux == M_KEYS ? JL_VIEW_KEYS : JL_VIEW_VALUES;
        for (size_t i = 0; i < self.d->n; i++) jl_push(c, o.l, m.aux == M_KEYS ? self.d->keys[i] : self.d->vals[i]);
        return o;
    }
    case M_GET: {
        check_args(r, &A, 2, NULL);
        if (n < 1) jfail(c, WF_ERR_INVALID_ARG, line, "get() needs a key");
        jv *x = jd_get(self.d, args[0]);
        return x ? *x : n > 1 ? args[1] : jv_none();
    }
    case M_CYCLE: {
        check_args(r, &A, 64, NULL);
        if (n == 0) jfail(c, WF_ERR_INVALID_ARG, line, "no items for cycling given");
        return args[self.loop->idx % n];
    }
    }
    jfail(c, WF_ERR_INTERNAL, line, "bad method id %d", m.aux);
}
