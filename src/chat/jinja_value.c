/* jinja_value.c — the template engine's arena, values and their Python-like
 * conversions: str(), repr(), json.dumps (as transformers' tojson calls it),
 * equality and truthiness; JSON input through jansson. */
#include "chat/jinja.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- arena ---------------------------------------------------------------- */
struct ja_chunk {
    ja_chunk *next;
    size_t size, used;
    _Alignas(16) unsigned char mem[];
};

#define JA_CHUNK 65536

void *ja_alloc(jctx *c, size_t n) {
    n = (n + 15) & ~(size_t)15;
    if (n == 0) n = 16;
    ja_chunk *k = c->chunks;
    if (!k || k->size - k->used < n) {
        size_t sz = n > JA_CHUNK / 4 ? n : JA_CHUNK;
        if (c->used + sz > c->cap || sz > c->cap)
            jfail(c, WF_ERR_RANGE, 0, "template memory limit (%zu bytes) exceeded", c->cap);
        ja_chunk *nk = malloc(sizeof *nk + sz);
        if (!nk) jfail(c, WF_ERR_NOMEM, 0, "out of memory rendering template");
        nk->size = sz;
        nk->used = 0;
        c->used += sz;
        if (sz == JA_CHUNK || !k) {
            nk->next = k;
            c->chunks = nk;
        } else { /* a big block: keep the current chunk on top for small ones */
            nk->next = k->next;
            k->next = nk;
        }
        k = nk;
    }
    void *p = k->mem + k->used;
    k->used += n;
    memset(p, 0, n);
    return p;
}

void ja_free_all(jctx *c) {
    ja_chunk *k = c->chunks;
    while (k) {
        ja_chunk *nx = k->next;
        free(k);
        k = nx;
    }
    c->chunks = NULL;
    c->used = 0;
}

void jfail(jctx *c, wf_status code, int line, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (line > 0)
        wf_fail(c->err, code, "template line %d: %s", line, msg);
    else
        wf_fail(c->err, code, "%s", msg);
    c->code = code;
    longjmp(*c->jmp, 1);
}

/* ---- strings, lists, dicts --------------------------------------------- */
jstr *js_new(jctx *c, const char *s, size_t n) {
    if (n > c->cap) jfail(c, WF_ERR_RANGE, 0, "template memory limit exceeded");
    jstr *r = ja_alloc(c, sizeof(jstr) + n + 1);
    r->len = n;
    if (n) memcpy(r->s, s, n);
    r->s[n] = 0;
    return r;
}

jv jv_str(jctx *c, const char *s, size_t n) {
    jv v = {0};
    v.t = JV_STR;
    v.s = js_new(c, s, n);
    return v;
}

jv jv_list(jctx *c, size_t cap) {
    jv v = {0};
    v.t = JV_LIST;
    v.l = ja_alloc(c, sizeof(jlist));
    if (cap) {
        if (cap > c->cap / sizeof(jv)) jfail(c, WF_ERR_RANGE, 0, "template memory limit exceeded");
        v.l->items = ja_alloc(c, cap * sizeof(jv));
        v.l->cap = cap;
    }
    return v;
}

void jl_push(jctx *c, jlist *l, jv v) {
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 4;
        if (nc > c->cap / sizeof(jv)) jfail(c, WF_ERR_RANGE, 0, "template memory limit exceeded");
        jv *ni = ja_alloc(c, nc * sizeof(jv));
        if (l->n) memcpy(ni, l->items, l->n * sizeof(jv));
        l->items = ni;
        l->cap = nc;
    }
    l->items[l->n++] = v;
}

jv jv_dict(jctx *c) {
    jv v = {0};
    v.t = JV_DICT;
    v.d = ja_alloc(c, sizeof(jdict));
    return v;
}

jv *jd_get(const jdict *d, jv key) {
    for (size_t i = 0; i < d->n; i++)
        if (jv_equal(d->keys[i], key)) return &d->vals[i];
    return NULL;
}

jv *jd_gets(const jdict *d, const char *key) {
    size_t n = strlen(key);
    for (size_t i = 0; i < d->n; i++)
        if (d->keys[i].t == JV_STR && d->keys[i].s->len == n && memcmp(d->keys[i].s->s, key, n) == 0)
            return &d->vals[i];
    return NULL;
}

void jd_set(jctx *c, jdict *d, jv key, jv val) {
    jv *p = jd_get(d, key);
    if (p) {
        *p = val;
        return;
    }
    if (d->n == d->cap) {
        size_t nc = d->cap ? d->cap * 2 : 4;
        if (nc > c->cap / sizeof(jv)) jfail(c, WF_ERR_RANGE, 0, "template memory limit exceeded");
        jv *nk = ja_alloc(c, nc * sizeof(jv)), *nv = ja_alloc(c, nc * sizeof(jv));
        if (d->n) {
            memcpy(nk, d->keys, d->n * sizeof(jv));
            memcpy(nv, d->vals, d->n * sizeof(jv));
        }
        d->keys = nk;
        d->vals = nv;
        d->cap = nc;
    }
    d->keys[d->n] = key;
    d->vals[d->n] = val;
    d->n++;
}

/* ---- truthiness, equality -------------------------------------------- */
bool jv_truthy(jv v) {
    switch (v.t) {
    case JV_UNDEF: case JV_NONE: return false;
    case JV_BOOL: return v.b;
    case JV_INT: return v.i != 0;
    case JV_FLOAT: return v.f != 0.0;
    case JV_STR: return v.s->len != 0;
    case JV_LIST: return v.l->n != 0 || v.l->lazy == JL_GENERATOR;
    case JV_DICT: return v.d->n != 0;
    default: return true;
    }
}

static bool jv_is_num(jv v) { return v.t == JV_INT || v.t == JV_FLOAT || v.t == JV_BOOL; }
static double jv_num(jv v) { return v.t == JV_FLOAT ? v.f : v.t == JV_INT ? (double)v.i : (double)v.b; }

/* 1 equal, 0 not, -1 nested too deeply to tell */
int jv_equal_depth(jv a, jv b, int depth) {
    if (depth > 100) return -1;
    if (jv_is_num(a) && jv_is_num(b)) {
        if (a.t != JV_FLOAT && b.t != JV_FLOAT) {
            int64_t x = a.t == JV_INT ? a.i : a.b, y = b.t == JV_INT ? b.i : b.b;
            return x == y;
        }
        return jv_num(a) == jv_num(b);
    }
    if (a.t != b.t) return false;
    switch (a.t) {
    case JV_UNDEF: case JV_NONE: return true;
    case JV_STR: return a.s->len == b.s->len && memcmp(a.s->s, b.s->s, a.s->len) == 0;
    case JV_LIST:
        if (a.l->tuple != b.l->tuple || a.l->n != b.l->n) return false;
        for (size_t i = 0; i < a.l->n; i++) {
            int e = jv_equal_depth(a.l->items[i], b.l->items[i], depth + 1);
            if (e != 1) return e;
        }
        return true;
    case JV_DICT:
        if (a.d->n != b.d->n) return false;
        for (size_t i = 0; i < a.d->n; i++) {
            jv *o = jd_get(b.d, a.d->keys[i]);
            if (!o) return false;
            int e = jv_equal_depth(a.d->vals[i], *o, depth + 1);
            if (e != 1) return e;
        }
        return true;
    case JV_NS: return a.d == b.d;
    case JV_MACRO: return a.macro->node == b.macro->node;
    case JV_FUNC: return a.aux == b.aux;
    case JV_LOOP: return a.loop == b.loop;
    case JV_METHOD: return a.aux == b.aux && a.self == b.self;
    default: return false;
    }
}

bool jv_equal(jv a, jv b) { return jv_equal_depth(a, b, 0) == 1; }

const char *jv_type_name(jv v) {
    static const char *const names[] = {"undefined", "NoneType", "bool", "int", "float", "str",
                                        "list", "dict", "Namespace", "macro", "function",
                                        "method", "LoopContext"};
    if (v.t == JV_LIST && v.l->tuple) return "tuple";
    return v.t < sizeof names / sizeof names[0] ? names[v.t] : "?";
}

/* ---- buffers ------------------------------------------------------------- */
void jb_put(jctx *c, jbuf *b, const char *s, size_t n) {
    if (n == 0) return;
    if (b->max && (b->n + n > b->max || b->n + n < b->n))
        jfail(c, WF_ERR_RANGE, 0, "template output limit (%zu bytes) exceeded", b->max);
    if (b->n + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        while (nc < b->n + n + 1) {
            if (nc > c->cap) jfail(c, WF_ERR_RANGE, 0, "template memory limit exceeded");
            nc *= 2;
        }
        char *np = ja_alloc(c, nc);
        if (b->n) memcpy(np, b->p, b->n);
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

void jb_printf(jctx *c, jbuf *b, const char *fmt, ...) {
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k > 0) jb_put(c, b, tmp, (size_t)k < sizeof tmp ? (size_t)k : sizeof tmp - 1);
}

/* ---- Python float repr ------------------------------------------------ */
void jv_float_repr(double f, char *buf, size_t cap) {
    if (isnan(f)) { snprintf(buf, cap, "nan"); return; }
    if (isinf(f)) { snprintf(buf, cap, f < 0 ? "-inf" : "inf"); return; }
    if (f == 0) { snprintf(buf, cap, signbit(f) ? "-0.0" : "0.0"); return; }
    char e[40];
    int p;
    for (p = 1; p <= 17; p++) { /* shortest round-tripping digits */
        snprintf(e, sizeof e, "%.*e", p - 1, f);
        if (strtod(e, NULL) == f) break;
    }
    /* e = [-]d[.ddd]e[+-]XX : split digits and exponent */
    char digits[24];
    int nd = 0, neg = e[0] == '-';
    const char *q = e + neg;
    for (; *q && *q != 'e'; q++)
        if (*q >= '0' && *q <= '9') digits[nd++] = *q;
    int exp10 = atoi(q + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    digits[nd] = 0;
    char out[64];
    size_t o = 0;
    if (neg) out[o++] = '-';
    if (exp10 >= -5 + 1 && exp10 < 16) { /* fixed: -4 <= exp < 16 */
        if (exp10 < 0) {
            out[o++] = '0';
            out[o++] = '.';
            for (int i = 0; i < -exp10 - 1; i++) out[o++] = '0';
            for (int i = 0; i < nd; i++) out[o++] = digits[i];
        } else {
            for (int i = 0; i <= exp10; i++) out[o++] = i < nd ? digits[i] : '0';
            out[o++] = '.';
            if (nd > exp10 + 1)
                for (int i = exp10 + 1; i < nd; i++) out[o++] = digits[i];
            else
                out[o++] = '0';
        }
        out[o] = 0;
    } else {
        out[o++] = digits[0];
        if (nd > 1) {
            out[o++] = '.';
            for (int i = 1; i < nd; i++) out[o++] = digits[i];
        }
        out[o] = 0;
        snprintf(out + o, sizeof out - o, "e%c%02d", exp10 < 0 ? '-' : '+', exp10 < 0 ? -exp10 : exp10);
    }
    snprintf(buf, cap, "%s", out);
}

/* ---- str() / repr() ---------------------------------------------------- */
static void repr_str(jctx *c, jbuf *b, const jstr *s) {
    bool has_sq = memchr(s->s, '\'', s->len) != NULL, has_dq = memchr(s->s, '"', s->len) != NULL;
    char q = has_sq && !has_dq ? '"' : '\'';
    jb_put(c, b, &q, 1);
    size_t run = 0;
    for (size_t i = 0; i < s->len; i++) {
        unsigned char ch = (unsigned char)s->s[i];
        const char *esc = NULL;
        char tmp[8];
        if (ch == '\\') esc = "\\\\";
        else if (ch == (unsigned char)q) esc = q == '\'' ? "\\'" : "\\\"";
        else if (ch == '\n') esc = "\\n";
        else if (ch == '\r') esc = "\\r";
        else if (ch == '\t') esc = "\\t";
        else if (ch < 0x20 || ch == 0x7f) {
            snprintf(tmp, sizeof tmp, "\\x%02x", ch);
            esc = tmp;
        }
        if (esc) {
            jb_put(c, b, s->s + run, i - run);
            jb_puts(c, b, esc);
            run = i + 1;
        }
    }
    jb_put(c, b, s->s + run, s->len - run);
    jb_put(c, b, &q, 1);
}

static void to_str_rec(jctx *c, jbuf *b, jv v, bool repr, int depth) {
    if (depth > 100) jfail(c, WF_ERR_RANGE, 0, "value nested too deeply to print");
    char tmp[64];
    switch (v.t) {
    case JV_UNDEF: if (repr) jb_puts(c, b, "Undefined"); return;
    case JV_NONE: jb_puts(c, b, "None"); return;
    case JV_BOOL: jb_puts(c, b, v.b ? "True" : "False"); return;
    case JV_INT: jb_printf(c, b, "%lld", (long long)v.i); return;
    case JV_FLOAT: jv_float_repr(v.f, tmp, sizeof tmp); jb_puts(c, b, tmp); return;
    case JV_STR:
        if (repr) repr_str(c, b, v.s);
        else jb_put(c, b, v.s->s, v.s->len);
        return;
    case JV_LIST:
        if (v.l->lazy == JL_GENERATOR)
            jfail(c, WF_ERR_UNSUPPORTED, 0, "cannot print a generator (Jinja would print a Python object repr); add |list");
        if (v.l->lazy) /* dict_keys([...]) etc. */
            jb_puts(c, b, v.l->lazy == JL_VIEW_KEYS ? "dict_keys(" : v.l->lazy == JL_VIEW_VALUES ? "dict_values(" : "dict_items(");
        jb_puts(c, b, v.l->tuple ? "(" : "[");
        for (size_t i = 0; i < v.l->n; i++) {
            if (i) jb_puts(c, b, ", ");
            to_str_rec(c, b, v.l->items[i], true, depth + 1);
        }
        if (v.l->tuple && v.l->n == 1) jb_puts(c, b, ",");
        jb_puts(c, b, v.l->tuple ? ")" : "]");
        if (v.l->lazy) jb_puts(c, b, ")");
        return;
    case JV_DICT: case JV_NS:
        jb_puts(c, b, v.t == JV_NS ? "<Namespace {" : "{");
        for (size_t i = 0; i < v.d->n; i++) {
            if (i) jb_puts(c, b, ", ");
            to_str_rec(c, b, v.d->keys[i], true, depth + 1);
            jb_puts(c, b, ": ");
            to_str_rec(c, b, v.d->vals[i], true, depth + 1);
        }
        jb_puts(c, b, v.t == JV_NS ? "}>" : "}");
        return;
    case JV_LOOP:
        jb_printf(c, b, "<LoopContext %zu/%zu>", v.loop->idx + 1, v.loop->items->n);
        return;
    default:
        jfail(c, WF_ERR_UNSUPPORTED, 0, "cannot convert a %s to a string", jv_type_name(v));
    }
}

void jv_to_str(jctx *c, jbuf *b, jv v) { to_str_rec(c, b, v, false, 0); }
void jv_repr(jctx *c, jbuf *b, jv v) { to_str_rec(c, b, v, true, 0); }

jstr *jv_as_str(jctx *c, jv v) {
    if (v.t == JV_STR) return v.s;
    jbuf b = {0};
    jv_to_str(c, &b, v);
    return js_new(c, b.p ? b.p : "", b.n);
}

/* ---- JSON out ----------------------------------------------------------- */
static void json_str(jctx *c, jbuf *b, const char *s, size_t n) {
    jb_puts(c, b, "\"");
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        const char *esc = NULL;
        char tmp[8];
        switch (ch) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        default:
            if (ch < 0x20) {
                snprintf(tmp, sizeof tmp, "\\u%04x", ch);
                esc = tmp;
            }
        }
        if (esc) {
            jb_put(c, b, s + run, i - run);
            jb_puts(c, b, esc);
            run = i + 1;
        }
    }
    jb_put(c, b, s + run, n - run);
    jb_puts(c, b, "\"");
}

static void json_newline(jctx *c, jbuf *b, const char *indent, int level) {
    jb_puts(c, b, "\n");
    for (int i = 0; i < level; i++) jb_puts(c, b, indent);
}

static int key_cmp(const void *a, const void *b) {
    const jv *x = *(const jv *const *)a, *y = *(const jv *const *)b;
    size_t n = x->s->len < y->s->len ? x->s->len : y->s->len;
    int r = memcmp(x->s->s, y->s->s, n);
    return r ? r : (x->s->len > y->s->len) - (x->s->len < y->s->len);
}

void jv_to_json(jctx *c, jbuf *b, jv v, const char *indent, const char *item_sep,
                const char *key_sep, bool sort_keys, int depth) {
    if (depth > 100) jfail(c, WF_ERR_RANGE, 0, "tojson: value nested too deeply");
    char tmp[64];
    switch (v.t) {
    case JV_NONE: jb_puts(c, b, "null"); return;
    case JV_BOOL: jb_puts(c, b, v.b ? "true" : "false"); return;
    case JV_INT: jb_printf(c, b, "%lld", (long long)v.i); return;
    case JV_FLOAT:
        if (isnan(v.f)) jb_puts(c, b, "NaN");
        else if (isinf(v.f)) jb_puts(c, b, v.f < 0 ? "-Infinity" : "Infinity");
        else { jv_float_repr(v.f, tmp, sizeof tmp); jb_puts(c, b, tmp); }
        return;
    case JV_STR: json_str(c, b, v.s->s, v.s->len); return;
    case JV_LIST:
        if (v.l->lazy) jfail(c, WF_ERR_INVALID_ARG, 0, "tojson: a generator or dict view is not JSON serializable");
        if (v.l->n == 0) { jb_puts(c, b, "[]"); return; }
        jb_puts(c, b, "[");
        for (size_t i = 0; i < v.l->n; i++) {
            if (i) jb_puts(c, b, item_sep);
            if (indent) json_newline(c, b, indent, depth + 1);
            jv_to_json(c, b, v.l->items[i], indent, item_sep, key_sep, sort_keys, depth + 1);
        }
        if (indent) json_newline(c, b, indent, depth);
        jb_puts(c, b, "]");
        return;
    case JV_DICT: {
        if (v.d->n == 0) { jb_puts(c, b, "{}"); return; }
        size_t n = v.d->n;
        const jv **order = ja_alloc(c, n * sizeof *order);
        for (size_t i = 0; i < n; i++) {
            jv k = v.d->keys[i];
            if (k.t != JV_STR) jfail(c, WF_ERR_UNSUPPORTED, 0, "tojson: only string dict keys are supported");
            order[i] = &v.d->keys[i];
        }
        if (sort_keys) qsort(order, n, sizeof *order, key_cmp);
        jb_puts(c, b, "{");
        for (size_t i = 0; i < n; i++) {
            size_t ki = (size_t)(order[i] - v.d->keys);
            if (i) jb_puts(c, b, item_sep);
            if (indent) json_newline(c, b, indent, depth + 1);
            json_str(c, b, v.d->keys[ki].s->s, v.d->keys[ki].s->len);
            jb_puts(c, b, key_sep);
            jv_to_json(c, b, v.d->vals[ki], indent, item_sep, key_sep, sort_keys, depth + 1);
        }
        if (indent) json_newline(c, b, indent, depth);
        jb_puts(c, b, "}");
        return;
    }
    default:
        jfail(c, WF_ERR_INVALID_ARG, 0, "tojson: Object of type %s is not JSON serializable",
              v.t == JV_UNDEF ? "Undefined" : jv_type_name(v));
    }
}

/* ---- JSON in ------------------------------------------------------------ */
static jv from_json(jctx *c, json_t *j, int depth) {
    if (depth > 100) jfail(c, WF_ERR_FORMAT, 0, "JSON nested too deeply");
    switch (json_typeof(j)) {
    case JSON_NULL: return jv_none();
    case JSON_TRUE: return jv_bool(true);
    case JSON_FALSE: return jv_bool(false);
    case JSON_INTEGER: return jv_int((int64_t)json_integer_value(j));
    case JSON_REAL: return jv_float(json_real_value(j));
    case JSON_STRING: return jv_str(c, json_string_value(j), json_string_length(j));
    case JSON_ARRAY: {
        jv l = jv_list(c, json_array_size(j));
        for (size_t i = 0; i < json_array_size(j); i++)
            jl_push(c, l.l, from_json(c, json_array_get(j, i), depth + 1));
        return l;
    }
    case JSON_OBJECT: {
        jv d = jv_dict(c);
        const char *k;
        json_t *val;
        json_object_foreach(j, k, val) jd_set(c, d.d, jv_strs(c, k), from_json(c, val, depth + 1));
        return d;
    }
    }
    return jv_none();
}

jv jv_from_json_text(jctx *c, const char *text, size_t len) {
    json_error_t je;
    json_t *j = json_loadb(text, len, 0, &je);
    if (!j) jfail(c, WF_ERR_FORMAT, 0, "bad JSON at line %d column %d: %s", je.line, je.column, je.text);
    /* convert; on an error inside, the json_t leaks unless we catch it here */
    jmp_buf here, *saved = c->jmp;
    jv r;
    if (setjmp(here) == 0) {
        c->jmp = &here;
        r = from_json(c, j, 0);
        c->jmp = saved;
        json_decref(j);
        return r;
    }
    c->jmp = saved;
    json_decref(j);
    longjmp(*saved, 1);
}

/* ---- UTF-8 ---------------------------------------------------------------- */
size_t ju_count(const char *s, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += ((unsigned char)s[i] & 0xC0) != 0x80;
    return k;
}

size_t ju_offset(const char *s, size_t n, size_t cp) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (((unsigned char)s[i] & 0xC0) != 0x80) {
            if (k == cp) return i;
            k++;
        }
    }
    return n;
}

/* Python str.isspace() for the character at s[i]; *len its byte length. */
bool ju_is_space_at(const char *s, size_t n, size_t i, size_t *len) {
    unsigned char b = (unsigned char)s[i];
    *len = 1;
    if (b < 0x80) return b == ' ' || (b >= 0x09 && b <= 0x0d) || (b >= 0x1c && b <= 0x1f);
    uint32_t cp = 0;
    size_t l = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
    if (i + l > n || l == 1) return false;
    cp = b & (0x3F >> (l - 1));
    for (size_t k = 1; k < l; k++) cp = (cp << 6) | ((unsigned char)s[i + k] & 0x3F);
    *len = l;
    return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
           cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}
