/* jinja_eval.c — the evaluator of the template AST: scopes, statements
 * (if/for/set/macro/break/continue), expressions and operators with Python
 * semantics, bounded recursion and loop iterations. */
#define _GNU_SOURCE /* memmem */
#include "chat/jinja.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define JE_MAX_DEPTH 400
#define JE_MAX_MACRO_DEPTH 64

typedef struct jframe {
    struct jframe *parent;
    jdict *vars;
} jframe;

struct jrender {
    jctx *c;
    jframe *root;
    jdict *globals;
    jbuf *out;
    const jrender_opts *o;
    uint64_t iters;
    int depth, macro_depth;
    int brk; /* 1 break, 2 continue pending */
};

jctx *jinja_ctx(jrender *r) { return r->c; }

static jv eval(jrender *r, jframe *f, const jnode *n);
static void exec_body(jrender *r, jframe *f, const jnodes *body);

static jframe *frame_new(jrender *r, jframe *parent) {
    jframe *f = ja_alloc(r->c, sizeof(jframe));
    f->parent = parent;
    f->vars = jv_dict(r->c).d;
    return f;
}

static jv lookup(jrender *r, jframe *f, const char *name) {
    for (; f; f = f->parent) {
        jv *v = jd_gets(f->vars, name);
        if (v) return *v;
    }
    jv *g = jd_gets(r->globals, name);
    return g ? *g : jv_undef(name);
}

static void assign(jrender *r, jframe *f, const char *name, jv v) {
    jdict *d = f->vars;
    jv *p = jd_gets(d, name);
    if (p) {
        *p = v;
        return;
    }
    /* a loop scope reset for the next iteration keeps its key strings */
    if (d->n < d->cap && d->keys[d->n].t == JV_STR && !strcmp(d->keys[d->n].s->s, name)) {
        d->vals[d->n++] = v;
        return;
    }
    jd_set(r->c, d, jv_strs(r->c, name), v);
}

static bool defines_macro(const jnodes *body) {
    for (size_t i = 0; i < body->n; i++)
        if (body->v[i]->k == N_MACRO) return true;
    return false;
}

_Noreturn void jinja_undefined_error(jrender *r, jv v, int line) {
    if (v.uname) jfail(r->c, WF_ERR_INVALID_ARG, line, "'%s' is undefined", v.uname);
    jfail(r->c, WF_ERR_INVALID_ARG, line, "use of an undefined value");
}

/* ---- iteration ------------------------------------------------------------ */
/* The items a for loop (or a filter) walks over. */
jlist *jinja_iter(jrender *r, jv v, int line) {
    jctx *c = r->c;
    switch (v.t) {
    case JV_UNDEF: return jv_list(c, 0).l;
    case JV_LIST: return v.l;
    case JV_DICT: {
        jv l = jv_list(c, v.d->n);
        for (size_t i = 0; i < v.d->n; i++) jl_push(c, l.l, v.d->keys[i]);
        return l.l;
    }
    case JV_STR: {
        jv l = jv_list(c, 0);
        for (size_t i = 0; i < v.s->len;) {
            size_t k = i + 1;
            while (k < v.s->len && ((unsigned char)v.s->s[k] & 0xC0) == 0x80) k++;
            jl_push(c, l.l, jv_str(c, v.s->s + i, k - i));
            i = k;
        }
        return l.l;
    }
    default:
        jfail(c, WF_ERR_INVALID_ARG, line, "'%s' object is not iterable", jv_type_name(v));
    }
}

void jinja_tick(jrender *r, int line) {
    if (++r->iters > r->o->max_iterations)
        jfail(r->c, WF_ERR_RANGE, line, "loop iteration limit (%llu) exceeded",
              (unsigned long long)r->o->max_iterations);
}

static void bind_targets(jrender *r, jframe *f, const jnode *n, jv item) {
    if (n->n_params == 1) {
        assign(r, f, n->params[0], item);
        return;
    }
    if (item.t != JV_LIST || item.l->n != n->n_params)
        jfail(r->c, WF_ERR_INVALID_ARG, n->line, "cannot unpack a %s into %zu names", jv_type_name(item), n->n_params);
    for (size_t i = 0; i < n->n_params; i++) assign(r, f, n->params[i], item.l->items[i]);
}

/* ---- attribute / item access ------------------------------------------- */
static jv loop_attr(jrender *r, struct jloop *lp, const char *name, int line) {
    size_t len = lp->items->n, i = lp->idx;
    if (!strcmp(name, "index")) return jv_int((int64_t)i + 1);
    if (!strcmp(name, "index0")) return jv_int((int64_t)i);
    if (!strcmp(name, "revindex")) return jv_int((int64_t)(len - i));
    if (!strcmp(name, "revindex0")) return jv_int((int64_t)(len - i - 1));
    if (!strcmp(name, "first")) return jv_bool(i == 0);
    if (!strcmp(name, "last")) return jv_bool(i + 1 == len);
    if (!strcmp(name, "length")) return jv_int((int64_t)len);
    if (!strcmp(name, "depth")) return jv_int(1);
    if (!strcmp(name, "depth0")) return jv_int(0);
    if (!strcmp(name, "previtem")) return i > 0 ? lp->items->items[i - 1] : jv_undef("previtem");
    if (!strcmp(name, "nextitem")) return i + 1 < len ? lp->items->items[i + 1] : jv_undef("nextitem");
    if (!strcmp(name, "cycle")) {
        jv self = {0};
        self.t = JV_LOOP;
        self.loop = lp;
        return jinja_method_lookup(r, self, name);
    }
    return jv_undef(NULL);
}

static jv get_index(jrender *r, jv obj, jv key, int line) {
    jctx *c = r->c;
    if (obj.t == JV_UNDEF) jinja_undefined_error(r, obj, line);
    if (obj.t == JV_DICT) {
        jv *v = jd_get(obj.d, key);
        if (v) return *v;
        if (key.t == JV_STR) return jinja_getattr(r, obj, key.s->s, line);
        return jv_undef(NULL);
    }
    if (obj.t == JV_LIST && obj.l->lazy) return jv_undef(NULL); /* not subscriptable */
    if ((obj.t == JV_LIST || obj.t == JV_STR) && (key.t == JV_INT || key.t == JV_BOOL)) {
        int64_t i = key.t == JV_INT ? key.i : key.b;
        size_t n = obj.t == JV_LIST ? obj.l->n : ju_count(obj.s->s, obj.s->len);
        if (i < 0) i += (int64_t)n;
        if (i < 0 || (uint64_t)i >= n) return jv_undef(NULL);
        if (obj.t == JV_LIST) return obj.l->items[i];
        size_t a = ju_offset(obj.s->s, obj.s->len, (size_t)i), b = ju_offset(obj.s->s, obj.s->len, (size_t)i + 1);
        return jv_str(c, obj.s->s + a, b - a);
    }
    if (key.t == JV_STR) return jinja_getattr(r, obj, key.s->s, line);
    if (obj.t == JV_NONE) return jv_undef(NULL);
    if (obj.t == JV_LIST || obj.t == JV_STR)
        jfail(c, WF_ERR_INVALID_ARG, line, "%s indices must be integers, not %s", jv_type_name(obj), jv_type_name(key));
    return jv_undef(NULL);
}

jv jinja_getattr(jrender *r, jv obj, const char *name, int line) {
    if (obj.t == JV_UNDEF) jinja_undefined_error(r, obj, line);
    if (obj.t == JV_LOOP) return loop_attr(r, obj.loop, name, line);
    if (obj.t == JV_NS) {
        jv *v = jd_gets(obj.d, name);
        return v ? *v : jv_undef(NULL);
    }
    /* methods first (Python getattr), then dict items */
    jv m = jinja_method_lookup(r, obj, name);
    if (m.t == JV_METHOD) return m;
    if (obj.t == JV_DICT) {
        jv *v = jd_gets(obj.d, name);
        return v ? *v : jv_undef(NULL);
    }
    return jv_undef(NULL);
}

static jv slice(jrender *r, jv obj, const jnode *n, jframe *f) {
    jctx *c = r->c;
    int64_t parts[3];
    bool has[3];
    const jnode *pn[3] = {n->b, n->c, n->d};
    for (int k = 0; k < 3; k++) {
        has[k] = false;
        if (!pn[k]) continue;
        jv v = eval(r, f, pn[k]);
        if (v.t == JV_NONE) continue;
        if (v.t != JV_INT) jfail(c, WF_ERR_INVALID_ARG, n->line, "slice indices must be integers or None");
        parts[k] = v.i;
        has[k] = true;
    }
    if (obj.t == JV_UNDEF) jinja_undefined_error(r, obj, n->line);
    if ((obj.t != JV_LIST && obj.t != JV_STR) || (obj.t == JV_LIST && obj.l->lazy))
        jfail(c, WF_ERR_INVALID_ARG, n->line, "'%s' object is not subscriptable with a slice", jv_type_name(obj));
    int64_t len = obj.t == JV_LIST ? (int64_t)obj.l->n : (int64_t)ju_count(obj.s->s, obj.s->len);
    int64_t step = has[2] ? parts[2] : 1;
    if (step == 0) jfail(c, WF_ERR_INVALID_ARG, n->line, "slice step cannot be zero");
    int64_t start, stop;
    if (step > 0) {
        start = has[0] ? parts[0] : 0;
        stop = has[1] ? parts[1] : len;
        if (start < 0) start = start + len < 0 ? 0 : start + len;
        if (start > len) start = len;
        if (stop < 0) stop = stop + len < 0 ? 0 : stop + len;
        if (stop > len) stop = len;
    } else {
        start = has[0] ? parts[0] : len - 1;
        stop = has[1] ? parts[1] : -1 - len; /* "before the start" */
        if (start < 0) start = start + len < 0 ? -1 : start + len;
        if (start >= len) start = len - 1;
        if (stop < 0) stop = stop + len < 0 ? -1 : stop + len;
        if (stop >= len) stop = len - 1;
    }
    if (obj.t == JV_LIST) {
        jv l = jv_list(c, 0);
        l.l->tuple = obj.l->tuple;
        for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) jl_push(c, l.l, obj.l->items[i]);
        return l;
    }
    /* strings: by code point; ASCII-only strings index bytes directly */
    bool ascii = (size_t)len == obj.s->len;
    if (ascii && step == 1) return jv_str(c, obj.s->s + start, stop > start ? (size_t)(stop - start) : 0);
    jbuf b = {0};
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
        size_t a = ascii ? (size_t)i : ju_offset(obj.s->s, obj.s->len, (size_t)i);
        size_t e = a + 1;
        while (e < obj.s->len && ((unsigned char)obj.s->s[e] & 0xC0) == 0x80) e++;
        jb_put(c, &b, obj.s->s + a, e - a);
    }
    return jv_str(c, b.p ? b.p : "", b.n);
}

/* ---- operators ------------------------------------------------------------ */
static bool is_num(jv v) { return v.t == JV_INT || v.t == JV_FLOAT || v.t == JV_BOOL; }
static bool is_intlike(jv v) { return v.t == JV_INT || v.t == JV_BOOL; }
static int64_t ival(jv v) { return v.t == JV_INT ? v.i : (int64_t)v.b; }
static double fval(jv v) { return v.t == JV_FLOAT ? v.f : (double)ival(v); }

static const char *op_name(int op) {
    static const char *const names[] = {"", "+", "-", "*", "/", "//", "%", "**", "==", "!=", "<", "<=", ">", ">=", "in", "not in"};
    return op > 0 && op <= OP_NOTIN ? names[op] : "?";
}

static _Noreturn void bad_operands(jrender *r, int op, jv a, jv b, int line) {
    if (a.t == JV_UNDEF) jinja_undefined_error(r, a, line);
    if (b.t == JV_UNDEF) jinja_undefined_error(r, b, line);
    jfail(r->c, WF_ERR_INVALID_ARG, line, "unsupported operand type(s) for %s: '%s' and '%s'", op_name(op),
          jv_type_name(a), jv_type_name(b));
}

static jv repeat(jrender *r, jv seq, int64_t k, int line) {
    jctx *c = r->c;
    if (k < 0) k = 0;
    if (seq.t == JV_STR) {
        if (seq.s->len && (uint64_t)k > c->cap / seq.s->len) jfail(c, WF_ERR_RANGE, line, "string repetition too large");
        jbuf b = {0};
        for (int64_t i = 0; i < k; i++) jb_put(c, &b, seq.s->s, seq.s->len);
        return jv_str(c, b.p ? b.p : "", b.n);
    }
    if (seq.l->n && (uint64_t)k > c->cap / (seq.l->n * sizeof(jv))) jfail(c, WF_ERR_RANGE, line, "list repetition too large");
    jv l = jv_list(c, 0);
    l.l->tuple = seq.l->tuple;
    for (int64_t i = 0; i < k; i++)
        for (size_t j = 0; j < seq.l->n; j++) jl_push(c, l.l, seq.l->items[j]);
    return l;
}

jv jinja_binop(jrender *r, int op, jv a, jv b, int line) {
    jctx *c = r->c;
    if (is_num(a) && is_num(b)) {
        bool ints = is_intlike(a) && is_intlike(b);
        int64_t x = ints ? ival(a) : 0, y = ints ? ival(b) : 0, z;
        double p = fval(a), q = fval(b);
        switch (op) {
        case OP_ADD:
            if (!ints) return jv_float(p + q);
            if (__builtin_add_overflow(x, y, &z)) break;
            return jv_int(z);
        case OP_SUB:
            if (!ints) return jv_float(p - q);
            if (__builtin_sub_overflow(x, y, &z)) break;
            return jv_int(z);
        case OP_MUL:
            if (!ints) return jv_float(p * q);
            if (__builtin_mul_overflow(x, y, &z)) break;
            return jv_int(z);
        case OP_DIV:
            if (q == 0) jfail(c, WF_ERR_INVALID_ARG, line, "division by zero");
            return jv_float(p / q);
        case OP_FDIV:
        case OP_MOD:
            if (q == 0) jfail(c, WF_ERR_INVALID_ARG, line, "integer division or modulo by zero");
            if (ints) {
                if (x == INT64_MIN && y == -1) break;
                int64_t d = x / y, m = x % y;
                if (m != 0 && ((m < 0) != (y < 0))) { d--; m += y; }
                return jv_int(op == OP_FDIV ? d : m);
            } else {
                double m = fmod(p, q);
                if (m != 0 && ((m < 0) != (q < 0))) m += q;
                return jv_float(op == OP_FDIV ? floor(p / q) : m);
            }
        case OP_POW:
            if (ints && y >= 0) {
                int64_t acc = 1;
                for (int64_t i = 0; i < y; i++) {
                    if (__builtin_mul_overflow(acc, x, &acc)) goto overflow;
                    if (acc == 0 || acc == 1) break;
                }
                if (acc == 1 && x == -1 && (y & 1)) acc = -1;
                return jv_int(acc);
            }
            return jv_float(pow(p, q));
        }
    overflow:
        jfail(c, WF_ERR_UNSUPPORTED, line, "integer overflow in '%s' (big integers are not supported)", op_name(op));
    }
    if (op == OP_ADD && a.t == JV_STR && b.t == JV_STR) {
        jbuf buf = {0};
        jb_put(c, &buf, a.s->s, a.s->len);
        jb_put(c, &buf, b.s->s, b.s->len);
        return jv_str(c, buf.p ? buf.p : "", buf.n);
    }
    if (op == OP_ADD && a.t == JV_LIST && b.t == JV_LIST && !a.l->lazy && !b.l->lazy) {
        jv l = jv_list(c, a.l->n + b.l->n);
        l.l->tuple = a.l->tuple && b.l->tuple;
        if (a.l->tuple != b.l->tuple) bad_operands(r, op, a, b, line);
        for (size_t i = 0; i < a.l->n; i++) jl_push(c, l.l, a.l->items[i]);
        for (size_t i = 0; i < b.l->n; i++) jl_push(c, l.l, b.l->items[i]);
        return l;
    }
    if ((a.t == JV_LIST && a.l->lazy) || (b.t == JV_LIST && b.l->lazy)) bad_operands(r, op, a, b, line);
    if (op == OP_MUL && (a.t == JV_STR || a.t == JV_LIST) && is_intlike(b)) return repeat(r, a, ival(b), line);
    if (op == OP_MUL && (b.t == JV_STR || b.t == JV_LIST) && is_intlike(a)) return repeat(r, b, ival(a), line);
    if (op == OP_MOD && a.t == JV_STR)
        jfail(c, WF_ERR_UNSUPPORTED, line, "unsupported construct: printf-style string formatting with '%%'");
    bad_operands(r, op, a, b, line);
}

static int cmp_order(jrender *r, int op, jv a, jv b, int line) {
    if (is_num(a) && is_num(b)) {
        if (is_intlike(a) && is_intlike(b)) return (ival(a) > ival(b)) - (ival(a) < ival(b));
        double p = fval(a), q = fval(b);
        if (isnan(p) || isnan(q)) return 2; /* unordered */
        return (p > q) - (p < q);
    }
    if (a.t == JV_STR && b.t == JV_STR) {
        size_t n = a.s->len < b.s->len ? a.s->len : b.s->len;
        int k = memcmp(a.s->s, b.s->s, n);
        if (k) return k < 0 ? -1 : 1;
        return (a.s->len > b.s->len) - (a.s->len < b.s->len);
    }
    if (a.t == JV_UNDEF) jinja_undefined_error(r, a, line);
    if (b.t == JV_UNDEF) jinja_undefined_error(r, b, line);
    jfail(r->c, WF_ERR_INVALID_ARG, line, "'%s' not supported between instances of '%s' and '%s'", op_name(op),
          jv_type_name(a), jv_type_name(b));
}

static bool contains(jrender *r, jv hay, jv needle, int line) {
    switch (hay.t) {
    case JV_STR:
        if (needle.t != JV_STR)
            jfail(r->c, WF_ERR_INVALID_ARG, line, "'in <string>' requires string as left operand, not %s", jv_type_name(needle));
        if (needle.s->len == 0) return true;
        return memmem(hay.s->s, hay.s->len, needle.s->s, needle.s->len) != NULL;
    case JV_LIST:
        for (size_t i = 0; i < hay.l->n; i++) {
            int e = jv_equal_depth(hay.l->items[i], needle, 0);
            if (e < 0) jfail(r->c, WF_ERR_RANGE, line, "values nested too deeply to compare");
            if (e) return true;
            jinja_tick(r, line);
        }
        return false;
    case JV_DICT: return jd_get(hay.d, needle) != NULL;
    case JV_UNDEF: return false;
    default:
        jfail(r->c, WF_ERR_INVALID_ARG, line, "argument of type '%s' is not iterable", jv_type_name(hay));
    }
}

bool jinja_compare(jrender *r, int op, jv a, jv b, int line) {
    int e;
    switch (op) {
    case OP_EQ: case OP_NE:
        e = jv_equal_depth(a, b, 0);
        if (e < 0) jfail(r->c, WF_ERR_RANGE, line, "values nested too deeply to compare");
        return op == OP_EQ ? e == 1 : e == 0;
    case OP_IN: return contains(r, b, a, line);
    case OP_NOTIN: return !contains(r, b, a, line);
    default: {
        int k = cmp_order(r, op, a, b, line);
        if (k == 2) return false;
        return op == OP_LT ? k < 0 : op == OP_LE ? k <= 0 : op == OP_GT ? k > 0 : k >= 0;
    }
    }
}

/* ---- calls -------------------------------------------------------------- */
static jv call_macro(jrender *r, const struct jmacro *mac, const jv *args, size_t n, const char **kwn, const jv *kwv,
                     size_t nkw, int line) {
    const jnode *m = mac->node;
    jinja_tick(r, line); /* a macro call counts as an iteration: no exponential recursion */
    if (++r->macro_depth > JE_MAX_MACRO_DEPTH)
        jfail(r->c, WF_ERR_RANGE, line, "macro recursion too deep (limit %d)", JE_MAX_MACRO_DEPTH);
    if (n > m->n_params) jfail(r->c, WF_ERR_INVALID_ARG, line, "macro '%s' takes not more than %zu argument(s)", m->name, m->n_params);
    jframe *f = frame_new(r, mac->scope);
    for (size_t i = 0; i < m->n_params; i++) {
        jv v = jv_undef(m->params[i]);
        bool set = false;
        if (i < n) { v = args[i]; set = true; }
        for (size_t k = 0; k < nkw; k++)
            if (!strcmp(kwn[k], m->params[i])) {
                if (set) jfail(r->c, WF_ERR_INVALID_ARG, line, "macro '%s' got multiple values for argument '%s'", m->name, kwn[k]);
                v = kwv[k];
                set = true;
            }
        if (!set && m->defaults[i]) v = eval(r, f, m->defaults[i]);
        assign(r, f, m->params[i], v);
    }
    for (size_t k = 0; k < nkw; k++) {
        bool found = false;
        for (size_t i = 0; i < m->n_params; i++) found |= !strcmp(kwn[k], m->params[i]);
        if (!found) jfail(r->c, WF_ERR_INVALID_ARG, line, "macro '%s' takes no keyword argument '%s'", m->name, kwn[k]);
    }
    jbuf out = {0};
    out.max = r->o->max_output;
    jbuf *saved = r->out;
    r->out = &out;
    exec_body(r, f, &m->body);
    if (r->brk) jfail(r->c, WF_ERR_FORMAT, line, "'break' or 'continue' outside a loop");
    r->out = saved;
    r->macro_depth--;
    return jv_str(r->c, out.p ? out.p : "", out.n);
}

jv jinja_call(jrender *r, jv fn, const jv *args, size_t n, const char **kwn, const jv *kwv, size_t nkw, int line) {
    jctx *c = r->c;
    switch (fn.t) {
    case JV_MACRO: return call_macro(r, fn.macro, args, n, kwn, kwv, nkw, line);
    case JV_METHOD: return jinja_call_method(r, fn, args, n, kwn, kwv, nkw, line);
    case JV_FUNC:
        switch (fn.aux) {
        case JF_NAMESPACE:
        case JF_DICT: {
            jv d = jv_dict(c);
            if (fn.aux == JF_NAMESPACE) d.t = JV_NS;
            for (size_t i = 0; i < n; i++) {
                if (args[i].t != JV_DICT) jfail(c, WF_ERR_UNSUPPORTED, line, "%s() takes keyword arguments or a dict",
                                                fn.aux == JF_NAMESPACE ? "namespace" : "dict");
                for (size_t k = 0; k < args[i].d->n; k++) jd_set(c, d.d, args[i].d->keys[k], args[i].d->vals[k]);
            }
            for (size_t k = 0; k < nkw; k++) jd_set(c, d.d, jv_strs(c, kwn[k]), kwv[k]);
            return d;
        }
        case JF_RANGE: {
            int64_t a = 0, b = 0, s = 1;
            if (nkw || n < 1 || n > 3) jfail(c, WF_ERR_INVALID_ARG, line, "range() takes 1 to 3 integer arguments");
            for (size_t i = 0; i < n; i++)
                if (!is_intlike(args[i])) jfail(c, WF_ERR_INVALID_ARG, line, "range() arguments must be integers");
            if (n == 1) b = ival(args[0]);
            else { a = ival(args[0]); b = ival(args[1]); if (n == 3) s = ival(args[2]); }
            if (s == 0) jfail(c, WF_ERR_INVALID_ARG, line, "range() arg 3 must not be zero");
            jv l = jv_list(c, 0);
            for (int64_t i = a; s > 0 ? i < b : i > b; i += s) {
                jinja_tick(r, line);
                if (l.l->n >= 100000) jfail(c, WF_ERR_RANGE, line, "range() too big (the sandbox allows 100000 items)");
                jl_push(c, l.l, jv_int(i));
            }
            return l;
        }
        case JF_RAISE: {
            jstr *m = n ? jv_as_str(c, args[0]) : js_new(c, "", 0);
            jfail(c, WF_ERR_INVALID_ARG, 0, "template error: %s", m->s);
        }
        case JF_STRFTIME: {
            if (n != 1 || args[0].t != JV_STR) jfail(c, WF_ERR_INVALID_ARG, line, "strftime_now() takes one format string");
            time_t t = (time_t)r->o->now;
            struct tm tmv;
            if (!localtime_r(&t, &tmv)) jfail(c, WF_ERR_INVALID_ARG, line, "strftime_now: bad time");
            char buf[512];
            if (args[0].s->len > 128) jfail(c, WF_ERR_RANGE, line, "strftime_now: format too long");
            size_t k = strftime(buf, sizeof buf, args[0].s->s, &tmv);
            if (k == 0 && args[0].s->len) jfail(c, WF_ERR_RANGE, line, "strftime_now: result too long");
            return jv_str(c, buf, k);
        }
        }
        break;
    case JV_UNDEF: jinja_undefined_error(r, fn, line);
    default: break;
    }
    jfail(c, WF_ERR_INVALID_ARG, line, "'%s' object is not callable", jv_type_name(fn));
}

typedef struct evargs {
    jv *args;
    const char **kwn;
    jv *kwv;
    size_t n, nkw;
} evargs;

static evargs eval_args(jrender *r, jframe *f, const jnode *n) {
    evargs a = {0};
    a.n = n->args.n;
    a.nkw = n->kwnames_vals.n / 2;
    a.args = ja_alloc(r->c, (a.n + 1) * sizeof(jv));
    a.kwn = ja_alloc(r->c, (a.nkw + 1) * sizeof(char *));
    a.kwv = ja_alloc(r->c, (a.nkw + 1) * sizeof(jv));
    for (size_t i = 0; i < a.n; i++) a.args[i] = eval(r, f, n->args.v[i]);
    for (size_t i = 0; i < a.nkw; i++) {
        a.kwn[i] = n->kwnames_vals.v[2 * i]->value.s->s;
        a.kwv[i] = eval(r, f, n->kwnames_vals.v[2 * i + 1]);
    }
    return a;
}

/* ---- expressions -------------------------------------------------------- */
static jv eval(jrender *r, jframe *f, const jnode *n) {
    jctx *c = r->c;
    if (++r->depth > JE_MAX_DEPTH) jfail(c, WF_ERR_RANGE, n->line, "template evaluation nested too deeply");
    jv v;
    switch (n->k) {
    case E_CONST: v = n->value; break;
    case E_NAME: v = lookup(r, f, n->name); break;
    case E_ATTR: v = jinja_getattr(r, eval(r, f, n->a), n->name, n->line); break;
    case E_ITEM: {
        jv o = eval(r, f, n->a);
        v = get_index(r, o, eval(r, f, n->b), n->line);
        break;
    }
    case E_SLICE: v = slice(r, eval(r, f, n->a), n, f); break;
    case E_CALL: {
        jv fn = eval(r, f, n->a);
        if (fn.t == JV_UNDEF && n->a->k == E_ATTR) {
            jv obj = eval(r, f, n->a->a);
            jfail(c, WF_ERR_UNSUPPORTED, n->line, "unknown or unsupported method %s.%s()", jv_type_name(obj), n->a->name);
        }
        evargs a = eval_args(r, f, n);
        v = jinja_call(r, fn, a.args, a.n, a.kwn, a.kwv, a.nkw, n->line);
        break;
    }
    case E_FILTER: {
        jv x = eval(r, f, n->a);
        evargs a = eval_args(r, f, n);
        v = jinja_apply_filter(r, n->filter_id, x, a.args, a.n, a.kwn, a.kwv, a.nkw, n->line);
        break;
    }
    case E_TEST: {
        jv x = eval(r, f, n->a);
        evargs a = eval_args(r, f, n);
        if (a.nkw) jfail(c, WF_ERR_UNSUPPORTED, n->line, "keyword arguments to test '%s'", n->name);
        bool b = jinja_apply_test(r, n->filter_id, x, a.args, a.n, n->line);
        v = jv_bool(n->op ? !b : b);
        break;
    }
    case E_BIN: {
        jv a = eval(r, f, n->a);
        v = jinja_binop(r, n->op, a, eval(r, f, n->b), n->line);
        break;
    }
    case E_NEG: case E_POS: {
        jv a = eval(r, f, n->a);
        if (!is_num(a)) {
            if (a.t == JV_UNDEF) jinja_undefined_error(r, a, n->line);
            jfail(c, WF_ERR_INVALID_ARG, n->line, "bad operand type for unary %s: '%s'", n->k == E_NEG ? "-" : "+", jv_type_name(a));
        }
        if (n->k == E_POS) v = a.t == JV_BOOL ? jv_int(a.b) : a;
        else if (a.t == JV_FLOAT) v = jv_float(-a.f);
        else if (ival(a) == INT64_MIN) jfail(c, WF_ERR_UNSUPPORTED, n->line, "integer overflow");
        else v = jv_int(-ival(a));
        break;
    }
    case E_NOT: v = jv_bool(!jv_truthy(eval(r, f, n->a))); break;
    case E_AND: {
        jv a = eval(r, f, n->a);
        v = jv_truthy(a) ? eval(r, f, n->b) : a;
        break;
    }
    case E_OR: {
        jv a = eval(r, f, n->a);
        v = jv_truthy(a) ? a : eval(r, f, n->b);
        break;
    }
    case E_COND:
        if (jv_truthy(eval(r, f, n->a))) v = eval(r, f, n->b);
        else v = n->c ? eval(r, f, n->c) : jv_undef(NULL);
        break;
    case E_LIST: case E_TUPLE:
        v = jv_list(c, n->args.n);
        v.l->tuple = n->k == E_TUPLE;
        for (size_t i = 0; i < n->args.n; i++) jl_push(c, v.l, eval(r, f, n->args.v[i]));
        break;
    case E_DICT:
        v = jv_dict(c);
        for (size_t i = 0; i + 1 < n->args.n; i += 2) {
            jv k = eval(r, f, n->args.v[i]);
            if (k.t != JV_STR && k.t != JV_INT && k.t != JV_BOOL && k.t != JV_NONE && k.t != JV_FLOAT)
                jfail(c, WF_ERR_INVALID_ARG, n->line, "unhashable dict key of type '%s'", jv_type_name(k));
            jd_set(c, v.d, k, eval(r, f, n->args.v[i + 1]));
        }
        break;
    case E_CMP: {
        jv a = eval(r, f, n->a);
        v = jv_bool(true);
        for (size_t i = 0; i < n->ops.n; i++) {
            jv b = eval(r, f, n->ops.v[i]->a);
            if (!jinja_compare(r, n->ops.v[i]->op, a, b, n->ops.v[i]->line)) {
                v = jv_bool(false);
                break;
            }
            a = b;
        }
        break;
    }
    case E_CONCAT: {
        jbuf b = {0};
        for (size_t i = 0; i < n->args.n; i++) jv_to_str(c, &b, eval(r, f, n->args.v[i]));
        v = jv_str(c, b.p ? b.p : "", b.n);
        break;
    }
    default:
        jfail(c, WF_ERR_INTERNAL, n->line, "bad expression node %d", (int)n->k);
    }
    r->depth--;
    return v;
}

/* ---- statements ------------------------------------------------------------- */
static jstr *capture(jrender *r, jframe *f, const jnodes *body) {
    jbuf out = {0};
    out.max = r->o->max_output;
    jbuf *saved = r->out;
    r->out = &out;
    exec_body(r, f, body);
    r->out = saved;
    return js_new(r->c, out.p ? out.p : "", out.n);
}

static void exec_for(jrender *r, jframe *f, const jnode *n) {
    jctx *c = r->c;
    jv it = eval(r, f, n->a);
    jlist *items = jinja_iter(r, it, n->line);
    jframe *lf = frame_new(r, f);
    if (n->b) { /* {% for x in y if cond %}: filter first (loop.* counts the kept items) */
        jv kept = jv_list(c, 0);
        for (size_t i = 0; i < items->n; i++) {
            jinja_tick(r, n->line);
            bind_targets(r, lf, n, items->items[i]);
            if (jv_truthy(eval(r, lf, n->b))) jl_push(c, kept.l, items->items[i]);
        }
        items = kept.l;
    }
    struct jloop *lp = ja_alloc(c, sizeof *lp);
    bool fresh = defines_macro(&n->body);
    lp->items = items;
    jv lv = {0};
    lv.t = JV_LOOP;
    lv.loop = lp;
    for (size_t i = 0; i < items->n; i++) {
        jinja_tick(r, n->line);
        lp->idx = i;
        /* like Jinja, each iteration has its own scope: a {% set %} in the
         * body does not carry over to the next iteration or out of the loop.
         * The scope is emptied and reused unless a macro may capture it. */
        if (i == 0 || fresh) lf = frame_new(r, f);
        else lf->vars->n = 0;
        bind_targets(r, lf, n, items->items[i]);
        assign(r, lf, "loop", lv);
        exec_body(r, lf, &n->body);
        if (r->brk == 1) { r->brk = 0; break; }
        r->brk = 0;
    }
    if (items->n == 0 && n->else_body.n) exec_body(r, lf, &n->else_body);
}

static void exec_stmt(jrender *r, jframe *f, const jnode *n) {
    jctx *c = r->c;
    switch (n->k) {
    case N_TEXT: jb_put(c, r->out, n->value.s->s, n->value.s->len); return;
    case N_OUTPUT: jv_to_str(c, r->out, eval(r, f, n->a)); return;
    case N_IF:
        if (jv_truthy(eval(r, f, n->a))) exec_body(r, f, &n->body);
        else exec_body(r, f, &n->else_body);
        return;
    case N_FOR: exec_for(r, f, n); return;
    case N_SET:
    case N_SET_BLOCK: {
        jv v;
        if (n->k == N_SET) v = eval(r, f, n->a);
        else v = (jv){.t = JV_STR, .s = capture(r, f, &n->body)};
        if (n->name) { /* ns.attr = v */
            jv ns = lookup(r, f, n->params[0]);
            if (ns.t != JV_NS) jfail(c, WF_ERR_INVALID_ARG, n->line, "cannot assign attribute on non-namespace object");
            jd_set(c, ns.d, jv_strs(c, n->name), v);
            return;
        }
        if (n->n_params == 1) assign(r, f, n->params[0], v);
        else bind_targets(r, f, n, v);
        return;
    }
    case N_MACRO: {
        jv m = {0};
        m.t = JV_MACRO;
        m.macro = ja_alloc(c, sizeof(struct jmacro));
        m.macro->node = n;
        m.macro->scope = f;
        assign(r, f, n->name, m);
        return;
    }
    case N_BREAK: r->brk = 1; return;
    case N_CONTINUE: r->brk = 2; return;
    case N_FILTER_BLOCK: {
        jstr *s = capture(r, f, &n->body);
        evargs a = eval_args(r, f, n);
        jv v = jinja_apply_filter(r, n->filter_id, (jv){.t = JV_STR, .s = s}, a.args, a.n, a.kwn, a.kwv, a.nkw, n->line);
        jv_to_str(c, r->out, v);
        return;
    }
    default:
        jfail(c, WF_ERR_INTERNAL, n->line, "bad statement node %d", (int)n->k);
    }
}

static void exec_body(jrender *r, jframe *f, const jnodes *body) {
    if (++r->depth > JE_MAX_DEPTH) jfail(r->c, WF_ERR_RANGE, 0, "template evaluation nested too deeply");
    for (size_t i = 0; i < body->n && !r->brk; i++) exec_stmt(r, f, body->v[i]);
    r->depth--;
}

void jinja_render(jctx *c, const jnodes *body, jdict *globals, const jrender_opts *o, jbuf *out) {
    jrender r = {0};
    r.c = c;
    r.globals = globals;
    r.o = o;
    r.out = out;
    r.root = frame_new(&r, NULL);
    exec_body(&r, r.root, body);
    if (r.brk) jfail(c, WF_ERR_FORMAT, 0, "'break' or 'continue' outside a loop");
}
