/* jinja.h — internals of the Jinja2-subset engine behind template.h:
 * arena, values, lexer/parser (AST) and evaluator. Errors inside the engine
 * unwind with longjmp to the entry point (jinja_compile / jinja_render), which
 * turns them into a wf_status; every allocation lives in an arena, so an
 * error never leaks. */
#ifndef WF_JINJA_H
#define WF_JINJA_H

#include "base/common.h"

#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- arena + error unwinding ------------------------------------------- */
typedef struct ja_chunk ja_chunk;
typedef struct jctx {
    ja_chunk *chunks;
    size_t used, cap;     /* bytes allocated / limit                          */
    jmp_buf *jmp;         /* where errors unwind to                           */
    wf_error *err;
    wf_status code;
} jctx;

void *ja_alloc(jctx *c, size_t n);               /* zeroed; unwinds on limit  */
void ja_free_all(jctx *c);
_Noreturn void jfail(jctx *c, wf_status code, int line, const char *fmt, ...) WF_PRINTF(4, 5);

/* ---- values ------------------------------------------------------------ */
typedef enum {
    JV_UNDEF, JV_NONE, JV_BOOL, JV_INT, JV_FLOAT, JV_STR, JV_LIST, JV_DICT,
    JV_NS, JV_MACRO, JV_FUNC, JV_METHOD, JV_LOOP
} jv_type;

typedef struct jstr { size_t len; char s[]; } jstr;  /* NUL-terminated bytes */
typedef struct jv jv;
/* lazy: what Python would hold as a generator (map/select/... results:
 * printing or len() is an error, always truthy) or a dict view (keys(),
 * values(), items(): printing is an error). */
enum { JL_LIST = 0, JL_GENERATOR = 1, JL_VIEW_KEYS, JL_VIEW_VALUES, JL_VIEW_ITEMS };
typedef struct jlist { size_t n, cap; jv *items; bool tuple; uint8_t lazy; } jlist;
typedef struct jdict { size_t n, cap; jv *keys; jv *vals; } jdict;
struct jnode;
struct jmacro {
    const struct jnode *node;
    struct jframe *scope;     /* where it was defined: macros are closures */
};
struct jloop {
    jlist *items;   /* what the loop walks over (after its if-filter) */
    size_t idx;     /* current position                                */
};

struct jv {
    uint8_t t;      /* jv_type                                               */
    uint16_t aux;   /* JV_FUNC / JV_METHOD: which one                         */
    union {
        bool b;
        int64_t i;
        double f;
        jstr *s;
        jlist *l;
        jdict *d;                 /* JV_DICT, JV_NS                           */
        struct jmacro *macro;     /* JV_MACRO: node + defining scope         */
        struct jloop *loop;
        jv *self;                 /* JV_METHOD: the bound object             */
        const char *uname;        /* JV_UNDEF: the missing name, may be NULL  */
    };
};

static inline jv jv_undef(const char *name) { jv v = {0}; v.t = JV_UNDEF; v.uname = name; return v; }
static inline jv jv_none(void) { jv v = {0}; v.t = JV_NONE; return v; }
static inline jv jv_bool(bool b) { jv v = {0}; v.t = JV_BOOL; v.b = b; return v; }
static inline jv jv_int(int64_t i) { jv v = {0}; v.t = JV_INT; v.i = i; return v; }
static inline jv jv_float(double f) { jv v = {0}; v.t = JV_FLOAT; v.f = f; return v; }

jstr *js_new(jctx *c, const char *s, size_t n);
jv jv_str(jctx *c, const char *s, size_t n);
static inline jv jv_strs(jctx *c, const char *s) { return jv_str(c, s, strlen(s)); }
jv jv_list(jctx *c, size_t cap);
void jl_push(jctx *c, jlist *l, jv v);
jv jv_dict(jctx *c);
jv *jd_get(const jdict *d, jv key);               /* NULL if absent          */
jv *jd_gets(const jdict *d, const char *key);
void jd_set(jctx *c, jdict *d, jv key, jv val);

bool jv_truthy(jv v);
bool jv_equal(jv a, jv b);                 /* false if nested too deeply */
int jv_equal_depth(jv a, jv b, int depth); /* 1, 0, or -1: too deep     */
const char *jv_type_name(jv v);

/* Growing byte buffer in the arena, bounded by max (unwinds past it). */
typedef struct jbuf { char *p; size_t n, cap, max; } jbuf;
void jb_put(jctx *c, jbuf *b, const char *s, size_t n);
static inline void jb_puts(jctx *c, jbuf *b, const char *s) { jb_put(c, b, s, strlen(s)); }
void jb_printf(jctx *c, jbuf *b, const char *fmt, ...) WF_PRINTF(3, 4);

/* Python str() / repr() of a value, appended to b. */
void jv_to_str(jctx *c, jbuf *b, jv v);
void jv_repr(jctx *c, jbuf *b, jv v);
jstr *jv_as_str(jctx *c, jv v);                   /* str(v) as a jstr        */
void jv_float_repr(double f, char *buf, size_t cap); /* Python repr(float)   */
/* json.dumps(v, ensure_ascii=False, indent, separators, sort_keys);
 * indent NULL = none. Unwinds on values JSON cannot hold. */
void jv_to_json(jctx *c, jbuf *b, jv v, const char *indent, const char *item_sep,
                const char *key_sep, bool sort_keys, int depth);

/* JSON text (jansson) -> values. */
jv jv_from_json_text(jctx *c, const char *text, size_t len);

/* UTF-8 helpers. */
size_t ju_count(const char *s, size_t n);            /* code points           */
size_t ju_offset(const char *s, size_t n, size_t cp); /* byte offset of cp-th  */
bool ju_is_space_at(const char *s, size_t n, size_t i, size_t *len);

/* ---- AST --------------------------------------------------------------- */
typedef enum {
    /* statements */
    N_TEXT, N_OUTPUT, N_IF, N_FOR, N_SET, N_SET_BLOCK, N_MACRO, N_BREAK, N_CONTINUE,
    N_FILTER_BLOCK,
    /* expressions */
    E_CONST, E_NAME, E_ATTR, E_ITEM, E_SLICE, E_CALL, E_FILTER, E_TEST, E_BIN, E_NEG, E_POS,
    E_NOT, E_AND, E_OR, E_COND, E_LIST, E_TUPLE, E_DICT, E_CMP, E_CONCAT
} jnode_kind;

typedef struct jnode jnode;
typedef struct jnodes { size_t n, cap; jnode **v; } jnodes;

struct jnode {
    jnode_kind k;
    int line;
    int op;                 /* E_BIN / E_CMP operator, E_TEST negated        */
    const char *name;       /* E_NAME, E_ATTR, E_FILTER, E_TEST, N_MACRO     */
    jv value;               /* E_CONST, N_TEXT                               */
    jnode *a, *b, *c, *d;   /* operands: see the parser                      */
    jnodes args;            /* call/filter/test args, list items, body...    */
    jnodes kwnames_vals;    /* kwargs: E_CONST name, value pairs (flattened) */
    jnodes body, else_body;
    jnodes ops;             /* E_CMP: ops in `op` of each item, operands     */
    const char **params;    /* N_MACRO / N_FOR targets                       */
    jnode **defaults;       /* N_MACRO defaults (NULL = none)                */
    size_t n_params;
    int filter_id;          /* E_FILTER / E_TEST resolved id                 */
};

/* binary / comparison operators */
enum { OP_ADD = 1, OP_SUB, OP_MUL, OP_DIV, OP_FDIV, OP_MOD, OP_POW,
       OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_IN, OP_NOTIN };

/* Parse (normalised) template text into a statement list. */
jnodes *jinja_parse(jctx *c, const char *src, size_t len);

/* ---- builtins (jinja_builtins.c) --------------------------------------- */
int jinja_filter_id(const char *name);  /* -1 if unknown                     */
int jinja_test_id(const char *name);
typedef struct jrender jrender;
jv jinja_apply_filter(jrender *r, int id, jv v, const jv *args, size_t n,
                      const char **kwn, const jv *kwv, size_t nkw, int line);
bool jinja_apply_test(jrender *r, int id, jv v, const jv *args, size_t n, int line);
/* attribute of a value: dict key / string, dict methods; undefined if none */
jv jinja_getattr(jrender *r, jv obj, const char *name, int line);
/* obj.name as a bound method (JV_METHOD), or undefined if obj has none. */
jv jinja_method_lookup(jrender *r, jv obj, const char *name);
jv jinja_call_method(jrender *r, jv m, const jv *args, size_t n, const char **kwn,
                     const jv *kwv, size_t nkw, int line);
jctx *jinja_ctx(jrender *r);
/* Shared with the builtins (defined in jinja_eval.c). */
jlist *jinja_iter(jrender *r, jv v, int line);          /* for-loop items  */
bool jinja_compare(jrender *r, int op, jv a, jv b, int line);
jv jinja_binop(jrender *r, int op, jv a, jv b, int line);   /* arithmetic */
void jinja_tick(jrender *r, int line);                  /* one unit of work */
_Noreturn void jinja_undefined_error(jrender *r, jv v, int line);
jv jinja_call(jrender *r, jv f, const jv *args, size_t n, const char **kwn, const jv *kwv,
              size_t nkw, int line);
/* Global functions (namespace, range, raise_exception, strftime_now, dict). */
enum { JF_NAMESPACE = 1, JF_RANGE, JF_RAISE, JF_STRFTIME, JF_DICT };

/* ---- render entry (jinja_eval.c) --------------------------------------- */
typedef struct jrender_opts {
    int64_t now;
    size_t max_output;
    uint64_t max_iterations;
} jrender_opts;
/* Render body with globals (a dict); output appended to out. */
void jinja_render(jctx *c, const jnodes *body, jdict *globals, const jrender_opts *o, jbuf *out);

#endif /* WF_JINJA_H */
