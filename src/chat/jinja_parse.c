/* jinja_parse.c — lexer and parser of the Jinja2 subset: template text ->
 * AST (jinja.h). Whitespace follows Jinja2 with trim_blocks and
 * lstrip_blocks on (as transformers configures it); unsupported tags and
 * unknown filters/tests are errors naming the construct and the line. */
#include "chat/jinja.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#define JP_MAX_DEPTH 200

typedef enum { T_EOF, T_DATA, T_VAR_BEGIN, T_VAR_END, T_BLOCK_BEGIN, T_BLOCK_END,
               T_NAME, T_INT, T_FLOAT, T_STR, T_OP } ttype;

typedef struct tok {
    ttype t;
    int line;
    const char *p;   /* T_NAME/T_OP: text (NUL-terminated copy); T_DATA/T_STR: bytes */
    size_t n;        /* length; for T_VAR_END/T_BLOCK_END: 1 if the text the end
                        tag consumed ended a line (for lstrip_blocks)        */
    int64_t i;
    double f;
} tok;

typedef struct lexer {
    jctx *c;
    const char *s;
    size_t n, pos;
    int line;
    tok *toks;
    size_t nt, cap;
} lexer;

static void push_tok(lexer *L, tok t) {
    if (L->nt == L->cap) {
        size_t nc = L->cap ? L->cap * 2 : 256;
        tok *nt = ja_alloc(L->c, nc * sizeof(tok));
        if (L->nt) memcpy(nt, L->toks, L->nt * sizeof(tok));
        L->toks = nt;
        L->cap = nc;
    }
    L->toks[L->nt++] = t;
}

static int count_lines(const char *s, size_t a, size_t b) {
    int k = 0;
    for (size_t i = a; i < b; i++) k += s[i] == '\n';
    return k;
}

static bool is_ws(char ch) { return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' || ch == '\v'; }

/* Whitespace as Python's \s / str.isspace (Unicode) for the '-' modifiers:
 * the length of the whitespace character at s[i] (0 if none), and the start
 * of the whitespace run that ends at b. */
static size_t uws_at(const char *s, size_t n, size_t i) {
    size_t l;
    return ju_is_space_at(s, n, i, &l) ? l : 0;
}

static size_t uws_skip(lexer *L, size_t pos) {
    size_t l;
    while (pos < L->n && (l = uws_at(L->s, L->n, pos)) > 0) {
        if (L->s[pos] == '\n') L->line++;
        pos += l;
    }
    return pos;
}

static size_t uws_rstrip(const char *s, size_t a, size_t b) {
    while (b > a) {
        size_t st = b - 1;
        while (st > a && ((unsigned char)s[st] & 0xC0) == 0x80) st--;
        if (uws_at(s, b, st) != b - st) break;
        b = st;
    }
    return b;
}

/* Python unicode-escape decoding of a string literal body. */
static void decode_string(lexer *L, const char *s, size_t n, jbuf *b) {
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\\' || i + 1 >= n) {
            jb_put(L->c, b, s + i, 1);
            continue;
        }
        char e = s[++i];
        char ch = 0;
        switch (e) {
        case 'n': ch = '\n'; break;
        case 't': ch = '\t'; break;
        case 'r': ch = '\r'; break;
        case '\\': ch = '\\'; break;
        case '\'': ch = '\''; break;
        case '"': ch = '"'; break;
        case 'a': ch = '\a'; break;
        case 'b': ch = '\b'; break;
        case 'f': ch = '\f'; break;
        case 'v': ch = '\v'; break;
        case '\n': continue; /* line continuation */
        case 'x': case 'u': case 'U': {
            int nd = e == 'x' ? 2 : e == 'u' ? 4 : 8;
            uint32_t cp = 0;
            if (i + (size_t)nd >= n)
                jfail(L->c, WF_ERR_FORMAT, L->line, "truncated \\%c escape in a string literal", e);
            for (int k = 1; k <= nd; k++) {
                char h = s[i + (size_t)k];
                int v = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
                if (v < 0) jfail(L->c, WF_ERR_FORMAT, L->line, "bad \\%c escape in a string literal", e);
                cp = cp * 16 + (uint32_t)v;
            }
            i += (size_t)nd;
            if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
                jfail(L->c, WF_ERR_UNSUPPORTED, L->line, "escape of a surrogate or invalid code point in a string literal");
            char u[4];
            int ul;
            if (cp < 0x80) { u[0] = (char)cp; ul = 1; }
            else if (cp < 0x800) { u[0] = (char)(0xC0 | (cp >> 6)); u[1] = (char)(0x80 | (cp & 0x3F)); ul = 2; }
            else if (cp < 0x10000) { u[0] = (char)(0xE0 | (cp >> 12)); u[1] = (char)(0x80 | ((cp >> 6) & 0x3F)); u[2] = (char)(0x80 | (cp & 0x3F)); ul = 3; }
            else { u[0] = (char)(0xF0 | (cp >> 18)); u[1] = (char)(0x80 | ((cp >> 12) & 0x3F)); u[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); u[3] = (char)(0x80 | (cp & 0x3F)); ul = 4; }
            jb_put(L->c, b, u, (size_t)ul);
            continue;
        }
        case 'N':
            jfail(L->c, WF_ERR_UNSUPPORTED, L->line, "\\N{...} escapes in string literals are not supported");
        default:
            if (e >= '0' && e <= '7') {
                unsigned v = 0;
                int k = 0;
                while (k < 3 && i < n && s[i] >= '0' && s[i] <= '7') { v = v * 8 + (unsigned)(s[i] - '0'); i++; k++; }
                i--;
                if (v >= 0x80) jfail(L->c, WF_ERR_UNSUPPORTED, L->line, "octal escape above \\177 in a string literal");
                ch = (char)v;
                break;
            }
            /* unknown escape: Python keeps the backslash */
            jb_put(L->c, b, s + i - 1, 2);
            continue;
        }
        jb_put(L->c, b, &ch, 1);
    }
}

/* Tokens inside {{ }} / {% %}; returns position after the end tag. */
static size_t lex_tag(lexer *L, size_t pos, bool block) {
    const char *s = L->s;
    size_t n = L->n;
    int depth = 0;
    const char *endtag = block ? "%}" : "}}";
    for (;;) {
        while (pos < n && is_ws(s[pos])) {
            if (s[pos] == '\n') L->line++;
            pos++;
        }
        if (pos >= n) jfail(L->c, WF_ERR_FORMAT, L->line, "unclosed %s tag", block ? "{% %}" : "{{ }}");
        if (depth == 0) {
            bool minus = s[pos] == '-' && pos + 2 < n && s[pos + 1] == endtag[0] && s[pos + 2] == endtag[1];
            if (minus || (pos + 1 < n && s[pos] == endtag[0] && s[pos + 1] == endtag[1])) {
                tok t = {block ? T_BLOCK_END : T_VAR_END, L->line, NULL, 0, 0, 0};
                pos += minus ? 3 : 2;
                if (minus) {
                    pos = uws_skip(L, pos);
                    t.n = s[pos - 1] == '\n'; /* consumed text ended a line */
                } else if (block && pos < n && s[pos] == '\n') { /* trim_blocks */
                    pos++;
                    L->line++;
                    t.n = 1;
                }
                push_tok(L, t);
                return pos;
            }
        }
        char ch = s[pos];
        tok t = {T_OP, L->line, NULL, 0, 0, 0};
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_') {
            size_t a = pos;
            while (pos < n && ((s[pos] >= 'a' && s[pos] <= 'z') || (s[pos] >= 'A' && s[pos] <= 'Z') ||
                               (s[pos] >= '0' && s[pos] <= '9') || s[pos] == '_'))
                pos++;
            t.t = T_NAME;
            t.p = js_new(L->c, s + a, pos - a)->s;
            t.n = pos - a;
        } else if (ch >= '0' && ch <= '9') {
            size_t a = pos;
            bool fl = false;
            while (pos < n && ((s[pos] >= '0' && s[pos] <= '9') || s[pos] == '_')) pos++;
            if (pos + 1 < n && s[pos] == '.' && s[pos + 1] >= '0' && s[pos + 1] <= '9') {
                fl = true;
                pos++;
                while (pos < n && ((s[pos] >= '0' && s[pos] <= '9') || s[pos] == '_')) pos++;
            }
            if (pos < n && (s[pos] == 'e' || s[pos] == 'E')) {
                size_t q = pos + 1;
                if (q < n && (s[q] == '+' || s[q] == '-')) q++;
                if (q < n && s[q] >= '0' && s[q] <= '9') {
                    fl = true;
                    pos = q;
                    while (pos < n && s[pos] >= '0' && s[pos] <= '9') pos++;
                }
            }
            char num[64];
            size_t k = 0;
            for (size_t i = a; i < pos && k < sizeof num - 1; i++)
                if (s[i] != '_') num[k++] = s[i];
            num[k] = 0;
            if (pos - a >= sizeof num - 1) jfail(L->c, WF_ERR_UNSUPPORTED, L->line, "number literal too long");
            if (fl) {
                t.t = T_FLOAT;
                t.f = strtod(num, NULL);
            } else {
                t.t = T_INT;
                char *e;
                errno = 0;
                long long v = strtoll(num, &e, 10);
                if (errno) jfail(L->c, WF_ERR_UNSUPPORTED, L->line, "integer literal out of range");
                t.i = v;
            }
        } else if (ch == '\'' || ch == '"') {
            size_t a = ++pos;
            int line0 = L->line;
            while (pos < n && s[pos] != ch) {
                if (s[pos] == '\\' && pos + 1 < n) pos++;
                if (s[pos] == '\n') L->line++;
                pos++;
            }
            if (pos >= n) jfail(L->c, WF_ERR_FORMAT, line0, "unterminated string literal");
            jbuf b = {0};
            int save = L->line;
            L->line = line0;
            decode_string(L, s + a, pos - a, &b);
            L->line = save;
            pos++;
            t.t = T_STR;
            t.line = line0;
            t.p = b.p ? b.p : "";
            t.n = b.n;
        } else {
            static const char *const ops2[] = {"//", "**", "==", "!=", "<=", ">=", NULL};
            static const char ops1[] = "+-*/%~<>=.,:|()[]{}";
            const char *op = NULL;
            for (int k = 0; ops2[k]; k++)
                if (pos + 1 < n && s[pos] == ops2[k][0] && s[pos + 1] == ops2[k][1]) op = ops2[k];
            if (op) {
                pos += 2;
            } else if (strchr(ops1, ch) && ch) {
                char one[2] = {ch, 0};
                op = js_new(L->c, one, 1)->s;
                pos++;
            } else {
                jfail(L->c, WF_ERR_FORMAT, L->line, "unexpected character '%c' (0x%02x) in a tag",
                      ch >= 0x20 && ch < 0x7f ? ch : '?', (unsigned char)ch);
            }
            if (op[0] == '(' || op[0] == '[' || op[0] == '{') depth++;
            if ((op[0] == ')' || op[0] == ']' || op[0] == '}') && depth > 0) depth--;
            t.p = op;
            t.n = strlen(op);
        }
        push_tok(L, t);
    }
}

static void lex(lexer *L) {
    const char *s = L->s;
    size_t n = L->n, pos = 0;
    bool line_starting = true; /* the text consumed last ended a line */
    L->line = 1;
    for (;;) {
        /* next tag start */
        size_t q = pos;
        char kind = 0;
        while (q + 1 < n) {
            if (s[q] == '{' && (s[q + 1] == '{' || s[q + 1] == '%' || s[q + 1] == '#')) {
                kind = s[q + 1];
                break;
            }
            q++;
        }
        if (!kind) q = n;
        size_t a = pos, b = q;
        char mod = kind && q + 2 < n ? s[q + 2] : 0;
        if (kind && mod == '-') {
            b = uws_rstrip(s, a, b);
        } else if (kind && mod != '+' && (kind == '%' || kind == '#')) {
            /* lstrip_blocks: spaces/tabs between the line start and the tag */
            size_t lp = b;
            while (lp > a && s[lp - 1] != '\n') lp--;
            if (lp > a || line_starting) {
                bool blank = true;
                for (size_t i = lp; i < b; i++)
                    if (s[i] != ' ' && s[i] != '\t') { blank = false; break; }
                if (blank) b = lp;
            }
        }
        if (b > a) {
            tok t = {T_DATA, L->line, s + a, b - a, 0, 0};
            push_tok(L, t);
        }
        L->line += count_lines(s, pos, q);
        if (!kind) break;
        size_t p = q + 2 + (mod == '-' || mod == '+');
        if (kind == '#') {
            size_t e = p;
            while (e + 1 < n && !(s[e] == '#' && s[e + 1] == '}')) e++;
            if (e + 1 >= n) jfail(L->c, WF_ERR_FORMAT, L->line, "unclosed comment {# #}");
            bool minus = e > p && s[e - 1] == '-';
            L->line += count_lines(s, p, e);
            pos = e + 2;
            if (minus) {
                pos = uws_skip(L, pos);
            } else if (pos < n && s[pos] == '\n') { /* trim_blocks applies to comments */
                pos++;
                L->line++;
            }
            line_starting = s[pos - 1] == '\n';
            continue;
        }
        bool block = kind == '%';
        tok t = {block ? T_BLOCK_BEGIN : T_VAR_BEGIN, L->line, NULL, 0, 0, 0};
        push_tok(L, t);
        /* a raw block is lexed specially in Jinja; not supported here */
        size_t k = p;
        while (k < n && is_ws(s[k])) k++;
        if (block && n - k >= 3 && memcmp(s + k, "raw", 3) == 0 &&
            (k + 3 >= n || !((s[k + 3] >= 'a' && s[k + 3] <= 'z') || s[k + 3] == '_')))
            jfail(L->c, WF_ERR_UNSUPPORTED, L->line, "unsupported tag 'raw'");
        pos = lex_tag(L, p, block);
        line_starting = L->toks[L->nt - 1].n != 0;
    }
    tok e = {T_EOF, L->line, NULL, 0, 0, 0};
    push_tok(L, e);
}

/* ---- parser ------------------------------------------------------------- */
typedef struct parser {
    jctx *c;
    tok *t;
    size_t i, nt;
    int depth;
} parser;

static tok *cur(parser *P) { return &P->t[P->i]; }
static tok *peek(parser *P, size_t k) { return &P->t[P->i + k < P->nt ? P->i + k : P->nt - 1]; }
static bool is_op(tok *t, const char *op) { return t->t == T_OP && strcmp(t->p, op) == 0; }
static bool is_name(tok *t, const char *nm) { return t->t == T_NAME && strcmp(t->p, nm) == 0; }

static const char *tok_desc(tok *t) {
    switch (t->t) {
    case T_EOF: return "end of template";
    case T_DATA: return "text";
    case T_VAR_END: return "'}}'";
    case T_BLOCK_END: return "'%}'";
    case T_VAR_BEGIN: return "'{{'";
    case T_BLOCK_BEGIN: return "'{%'";
    case T_NAME: case T_OP: return t->p;
    case T_STR: return "string literal";
    default: return "number";
    }
}

static _Noreturn void expected(parser *P, const char *what) {
    tok *t = cur(P);
    jfail(P->c, WF_ERR_FORMAT, t->line, "syntax error: expected %s, got %s%s%s", what,
          t->t == T_NAME || t->t == T_OP ? "'" : "", tok_desc(t), t->t == T_NAME || t->t == T_OP ? "'" : "");
}

static void expect_op(parser *P, const char *op) {
    if (!is_op(cur(P), op)) {
        char w[16];
        snprintf(w, sizeof w, "'%s'", op);
        expected(P, w);
    }
    P->i++;
}

static const char *expect_name(parser *P) {
    if (cur(P)->t != T_NAME) expected(P, "a name");
    return P->t[P->i++].p;
}

static jnode *mk(parser *P, jnode_kind k, int line) {
    jnode *n = ja_alloc(P->c, sizeof(jnode));
    n->k = k;
    n->line = line;
    return n;
}

static void np(parser *P, jnodes *l, jnode *n) {
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 4;
        jnode **nv = ja_alloc(P->c, nc * sizeof(jnode *));
        if (l->n) memcpy(nv, l->v, l->n * sizeof(jnode *));
        l->v = nv;
        l->cap = nc;
    }
    l->v[l->n++] = n;
}

static void enter(parser *P) {
    if (++P->depth > JP_MAX_DEPTH) jfail(P->c, WF_ERR_RANGE, cur(P)->line, "template nested too deeply");
}

static jnode *parse_expr(parser *P);
static jnode *parse_or(parser *P);
static jnode *parse_unary(parser *P, bool with_filter);
static jnode *parse_primary(parser *P);

static jnode *mkconst(parser *P, jv v, int line) {
    jnode *n = mk(P, E_CONST, line);
    n->value = v;
    return n;
}

/* (args, kw=val) after '(' has been seen as current token */
static void parse_call_args(parser *P, jnode *n) {
    expect_op(P, "(");
    while (!is_op(cur(P), ")")) {
        if (n->args.n || n->kwnames_vals.n) expect_op(P, ",");
        if (is_op(cur(P), ")")) break;
        if (is_op(cur(P), "*") || is_op(cur(P), "**"))
            jfail(P->c, WF_ERR_UNSUPPORTED, cur(P)->line, "unsupported construct: *args/**kwargs in a call");
        if (cur(P)->t == T_NAME && is_op(peek(P, 1), "=")) {
            tok *nm = cur(P);
            P->i += 2;
            np(P, &n->kwnames_vals, mkconst(P, jv_str(P->c, nm->p, nm->n), nm->line));
            np(P, &n->kwnames_vals, parse_expr(P));
        } else {
            if (n->kwnames_vals.n) jfail(P->c, WF_ERR_FORMAT, cur(P)->line, "positional argument after keyword argument");
            np(P, &n->args, parse_expr(P));
        }
    }
    P->i++;
}

static jnode *parse_postfix(parser *P, jnode *n) {
    for (;;) {
        tok *t = cur(P);
        if (is_op(t, ".")) {
            P->i++;
            tok *a = cur(P);
            jnode *g = mk(P, E_ATTR, t->line);
            g->a = n;
            if (a->t == T_NAME) {
                g->name = a->p;
            } else if (a->t == T_INT) {
                g->k = E_ITEM;
                g->b = mkconst(P, jv_int(a->i), a->line);
            } else {
                expected(P, "an attribute name");
            }
            P->i++;
            n = g;
        } else if (is_op(t, "[")) {
            P->i++;
            jnode *parts[3] = {NULL, NULL, NULL};
            int np_ = 0;
            bool slice = false;
            for (;;) {
                if (is_op(cur(P), ":")) {
                    slice = true;
                    if (++np_ > 2) expected(P, "']'");
                    P->i++;
                    continue;
                }
                if (is_op(cur(P), "]")) break;
                if (parts[np_]) expected(P, "']'");
                parts[np_] = parse_expr(P);
            }
            P->i++;
            jnode *g;
            if (slice) {
                g = mk(P, E_SLICE, t->line);
                g->b = parts[0];
                g->c = parts[1];
                g->d = parts[2];
            } else {
                if (!parts[0]) expected(P, "a subscript");
                g = mk(P, E_ITEM, t->line);
                g->b = parts[0];
            }
            g->a = n;
            n = g;
        } else if (is_op(t, "(")) {
            jnode *g = mk(P, E_CALL, t->line);
            g->a = n;
            parse_call_args(P, g);
            n = g;
        } else {
            return n;
        }
    }
}

static jnode *parse_filter_expr(parser *P, jnode *n) {
    for (;;) {
        tok *t = cur(P);
        if (is_op(t, "|")) {
            P->i++;
            tok *nm = cur(P);
            const char *name = expect_name(P);
            if (is_op(cur(P), ".")) /* Jinja allows dotted names; none are known here */
                jfail(P->c, WF_ERR_UNSUPPORTED, nm->line, "unknown filter '%s.%s'", name,
                      peek(P, 1)->t == T_NAME ? peek(P, 1)->p : "");
            int id = jinja_filter_id(name);
            if (id < 0) jfail(P->c, WF_ERR_UNSUPPORTED, nm->line, "unknown filter '%s'", name);
            jnode *f = mk(P, E_FILTER, nm->line);
            f->name = name;
            f->filter_id = id;
            f->a = n;
            if (is_op(cur(P), "(")) parse_call_args(P, f);
            n = f;
        } else if (is_name(t, "is")) {
            P->i++;
            jnode *f = mk(P, E_TEST, t->line);
            if (is_name(cur(P), "not")) {
                f->op = 1;
                P->i++;
            }
            tok *nm = cur(P);
            const char *name = expect_name(P);
            int id = jinja_test_id(name);
            if (id < 0) jfail(P->c, WF_ERR_UNSUPPORTED, nm->line, "unknown test '%s'", name);
            f->name = name;
            f->filter_id = id;
            f->a = n;
            tok *x = cur(P);
            if (is_op(x, "(")) {
                parse_call_args(P, f);
            } else if ((x->t == T_NAME && !is_name(x, "else") && !is_name(x, "or") && !is_name(x, "and") &&
                        !is_name(x, "if") && !is_name(x, "in") && !is_name(x, "not") && !is_name(x, "is") &&
                        !is_name(x, "recursive")) ||
                       x->t == T_STR || x->t == T_INT || x->t == T_FLOAT || is_op(x, "[") || is_op(x, "{") ||
                       is_op(x, "-")) {
                jnode *arg = is_op(x, "-") ? parse_unary(P, false) : parse_postfix(P, parse_primary(P));
                np(P, &f->args, arg);
            }
            n = f;
        } else if (is_op(t, "(")) {
            jnode *g = mk(P, E_CALL, t->line);
            g->a = n;
            parse_call_args(P, g);
            n = g;
        } else {
            return n;
        }
    }
}

static jnode *parse_tuple_or_expr_in_parens(parser *P, int line) {
    /* after '(' */
    if (is_op(cur(P), ")")) {
        P->i++;
        return mk(P, E_TUPLE, line);
    }
    jnode *e = parse_expr(P);
    if (is_op(cur(P), ",")) {
        jnode *t = mk(P, E_TUPLE, line);
        np(P, &t->args, e);
        while (is_op(cur(P), ",")) {
            P->i++;
            if (is_op(cur(P), ")")) break;
            np(P, &t->args, parse_expr(P));
        }
        e = t;
    }
    expect_op(P, ")");
    return e;
}

static jnode *parse_primary(parser *P) {
    enter(P);
    tok *t = cur(P);
    jnode *n = NULL;
    switch (t->t) {
    case T_NAME:
        P->i++;
        if (!strcmp(t->p, "true") || !strcmp(t->p, "True")) n = mkconst(P, jv_bool(true), t->line);
        else if (!strcmp(t->p, "false") || !strcmp(t->p, "False")) n = mkconst(P, jv_bool(false), t->line);
        else if (!strcmp(t->p, "none") || !strcmp(t->p, "None")) n = mkconst(P, jv_none(), t->line);
        else {
            n = mk(P, E_NAME, t->line);
            n->name = t->p;
        }
        break;
    case T_STR: {
        jbuf b = {0};
        while (cur(P)->t == T_STR) { /* adjacent literals concatenate */
            jb_put(P->c, &b, cur(P)->p, cur(P)->n);
            P->i++;
        }
        n = mkconst(P, jv_str(P->c, b.p ? b.p : "", b.n), t->line);
        break;
    }
    case T_INT: P->i++; n = mkconst(P, jv_int(t->i), t->line); break;
    case T_FLOAT: P->i++; n = mkconst(P, jv_float(t->f), t->line); break;
    case T_OP:
        if (is_op(t, "(")) {
            P->i++;
            n = parse_tuple_or_expr_in_parens(P, t->line);
        } else if (is_op(t, "[")) {
            P->i++;
            n = mk(P, E_LIST, t->line);
            while (!is_op(cur(P), "]")) {
                if (n->args.n) expect_op(P, ",");
                if (is_op(cur(P), "]")) break;
                np(P, &n->args, parse_expr(P));
            }
            P->i++;
        } else if (is_op(t, "{")) {
            P->i++;
            n = mk(P, E_DICT, t->line);
            while (!is_op(cur(P), "}")) {
                if (n->args.n) expect_op(P, ",");
                if (is_op(cur(P), "}")) break;
                np(P, &n->args, parse_expr(P));
                expect_op(P, ":");
                np(P, &n->args, parse_expr(P));
            }
            P->i++;
        } else {
            expected(P, "an expression");
        }
        break;
    default:
        expected(P, "an expression");
    }
    P->depth--;
    return n;
}

static jnode *parse_unary(parser *P, bool with_filter) {
    enter(P);
    tok *t = cur(P);
    jnode *n;
    if (is_op(t, "-") || is_op(t, "+")) {
        P->i++;
        n = mk(P, is_op(t, "-") ? E_NEG : E_POS, t->line);
        n->a = parse_unary(P, false);
    } else {
        n = parse_primary(P);
    }
    n = parse_postfix(P, n);
    if (with_filter) n = parse_filter_expr(P, n);
    P->depth--;
    return n;
}

static jnode *bin(parser *P, int op, jnode *a, jnode *b, int line) {
    jnode *n = mk(P, E_BIN, line);
    n->op = op;
    n->a = a;
    n->b = b;
    return n;
}

static jnode *parse_pow(parser *P) {
    jnode *n = parse_unary(P, true);
    while (is_op(cur(P), "**")) {
        int line = cur(P)->line;
        P->i++;
        n = bin(P, OP_POW, n, parse_unary(P, true), line);
    }
    return n;
}

static jnode *parse_math2(parser *P) {
    jnode *n = parse_pow(P);
    for (;;) {
        tok *t = cur(P);
        int op = is_op(t, "*") ? OP_MUL : is_op(t, "/") ? OP_DIV : is_op(t, "//") ? OP_FDIV : is_op(t, "%") ? OP_MOD : 0;
        if (!op) return n;
        P->i++;
        n = bin(P, op, n, parse_pow(P), t->line);
    }
}

/* Jinja's precedence: + - bind looser than ~, which binds looser than * / // % */
static jnode *parse_concat(parser *P) {
    jnode *n = parse_math2(P);
    if (!is_op(cur(P), "~")) return n;
    jnode *c = mk(P, E_CONCAT, cur(P)->line);
    np(P, &c->args, n);
    while (is_op(cur(P), "~")) {
        P->i++;
        np(P, &c->args, parse_math2(P));
    }
    return c;
}

static jnode *parse_math1(parser *P) {
    jnode *n = parse_concat(P);
    for (;;) {
        tok *t = cur(P);
        int op = is_op(t, "+") ? OP_ADD : is_op(t, "-") ? OP_SUB : 0;
        if (!op) return n;
        P->i++;
        n = bin(P, op, n, parse_concat(P), t->line);
    }
}

static jnode *parse_compare(parser *P) {
    jnode *first = parse_math1(P);
    jnode *cmp = NULL;
    for (;;) {
        tok *t = cur(P);
        int op = 0;
        if (is_op(t, "==")) op = OP_EQ;
        else if (is_op(t, "!=")) op = OP_NE;
        else if (is_op(t, "<")) op = OP_LT;
        else if (is_op(t, "<=")) op = OP_LE;
        else if (is_op(t, ">")) op = OP_GT;
        else if (is_op(t, ">=")) op = OP_GE;
        else if (is_name(t, "in")) op = OP_IN;
        else if (is_name(t, "not") && is_name(peek(P, 1), "in")) { op = OP_NOTIN; P->i++; }
        if (!op) break;
        P->i++;
        if (!cmp) {
            cmp = mk(P, E_CMP, t->line);
            cmp->a = first;
        }
        jnode *rhs = parse_math1(P);
        jnode *holder = mk(P, E_CONST, t->line); /* carries op + operand */
        holder->op = op;
        holder->a = rhs;
        np(P, &cmp->ops, holder);
    }
    return cmp ? cmp : first;
}

static jnode *parse_not(parser *P) {
    if (is_name(cur(P), "not")) {
        enter(P);
        jnode *n = mk(P, E_NOT, cur(P)->line);
        P->i++;
        n->a = parse_not(P);
        P->depth--;
        return n;
    }
    return parse_compare(P);
}

static jnode *parse_and(parser *P) {
    jnode *n = parse_not(P);
    while (is_name(cur(P), "and")) {
        jnode *a = mk(P, E_AND, cur(P)->line);
        P->i++;
        a->a = n;
        a->b = parse_not(P);
        n = a;
    }
    return n;
}

static jnode *parse_or(parser *P) {
    jnode *n = parse_and(P);
    while (is_name(cur(P), "or")) {
        jnode *a = mk(P, E_OR, cur(P)->line);
        P->i++;
        a->a = n;
        a->b = parse_and(P);
        n = a;
    }
    return n;
}

/* condexpr: or ['if' or ['else' condexpr]] */
static jnode *parse_expr_nocond(parser *P) { return parse_or(P); }

static jnode *parse_expr(parser *P) {
    enter(P);
    jnode *n = parse_or(P);
    while (is_name(cur(P), "if")) {
        jnode *c = mk(P, E_COND, cur(P)->line);
        P->i++;
        c->a = parse_or(P);
        c->b = n;
        if (is_name(cur(P), "else")) {
            P->i++;
            c->c = parse_expr(P);
        }
        n = c;
    }
    P->depth--;
    return n;
}

/* ---- statements --------------------------------------------------------- */
static void parse_body(parser *P, jnodes *out, const char *const *ends, const char **which);

static void expect_block_end(parser *P) {
    if (cur(P)->t != T_BLOCK_END) expected(P, "'%}'");
    P->i++;
}

/* for/set targets: name | name, name | ns.attr (set only) */
static void parse_targets(parser *P, jnode *n, bool allow_attr) {
    const char *names[16];
    size_t k = 0;
    bool paren = is_op(cur(P), "(");
    if (paren) P->i++;
    for (;;) {
        if (k == 16) jfail(P->c, WF_ERR_UNSUPPORTED, cur(P)->line, "too many assignment targets");
        names[k++] = expect_name(P);
        if (allow_attr && k == 1 && is_op(cur(P), ".")) {
            P->i++;
            n->name = expect_name(P); /* attribute on names[0] */
            break;
        }
        if (!is_op(cur(P), ",")) break;
        P->i++;
    }
    if (paren) expect_op(P, ")");
    n->params = ja_alloc(P->c, k * sizeof(char *));
    memcpy(n->params, names, k * sizeof(char *));
    n->n_params = k;
}

/* Jinja's parse_tuple: an expression or a bare tuple `a, b`; for-loop
 * iterables take no condexpr (the `if` there filters the loop). */
static jnode *parse_tuple(parser *P, bool with_cond) {
    jnode *e = with_cond ? parse_expr(P) : parse_expr_nocond(P);
    if (is_op(cur(P), ",")) {
        jnode *t = mk(P, E_TUPLE, e->line);
        np(P, &t->args, e);
        while (is_op(cur(P), ",")) {
            P->i++;
            if (cur(P)->t == T_BLOCK_END || cur(P)->t == T_VAR_END) break;
            np(P, &t->args, with_cond ? parse_expr(P) : parse_expr_nocond(P));
        }
        e = t;
    }
    return e;
}

static jnode *parse_stmt(parser *P) {
    tok *t = cur(P);
    if (t->t != T_NAME) expected(P, "a tag name");
    const char *kw = t->p;
    int line = t->line;
    P->i++;
    const char *which = NULL;
    if (!strcmp(kw, "if")) {
        jnode *n = mk(P, N_IF, line);
        n->a = parse_expr(P);
        expect_block_end(P);
        static const char *const ends[] = {"elif", "else", "endif", NULL};
        parse_body(P, &n->body, ends, &which);
        jnode *tail = n;
        while (!strcmp(which, "elif")) {
            jnode *e = mk(P, N_IF, cur(P)->line);
            e->a = parse_expr(P);
            expect_block_end(P);
            parse_body(P, &e->body, ends, &which);
            np(P, &tail->else_body, e);
            tail = e;
        }
        if (!strcmp(which, "else")) {
            expect_block_end(P);
            static const char *const ends2[] = {"endif", NULL};
            parse_body(P, &tail->else_body, ends2, &which);
        }
        expect_block_end(P);
        return n;
    }
    if (!strcmp(kw, "for")) {
        jnode *n = mk(P, N_FOR, line);
        parse_targets(P, n, false);
        if (!is_name(cur(P), "in")) expected(P, "'in'");
        P->i++;
        n->a = parse_tuple(P, false);
        if (is_name(cur(P), "if")) {
            P->i++;
            n->b = parse_expr_nocond(P);
        }
        if (is_name(cur(P), "recursive"))
            jfail(P->c, WF_ERR_UNSUPPORTED, cur(P)->line, "unsupported construct: recursive for loops");
        expect_block_end(P);
        static const char *const ends[] = {"else", "endfor", NULL};
        parse_body(P, &n->body, ends, &which);
        if (!strcmp(which, "else")) {
            expect_block_end(P);
            static const char *const ends2[] = {"endfor", NULL};
            parse_body(P, &n->else_body, ends2, &which);
        }
        expect_block_end(P);
        return n;
    }
    if (!strcmp(kw, "set")) {
        jnode *n = mk(P, N_SET, line);
        parse_targets(P, n, true);
        if (is_op(cur(P), "=")) {
            P->i++;
            n->a = parse_tuple(P, true); /* `set a, b = 1, 2` */
            expect_block_end(P);
            return n;
        }
        n->k = N_SET_BLOCK;
        if (is_op(cur(P), "|"))
            jfail(P->c, WF_ERR_UNSUPPORTED, cur(P)->line, "unsupported construct: filtered set block");
        expect_block_end(P);
        static const char *const ends[] = {"endset", NULL};
        parse_body(P, &n->body, ends, &which);
        expect_block_end(P);
        return n;
    }
    if (!strcmp(kw, "macro")) {
        jnode *n = mk(P, N_MACRO, line);
        n->name = expect_name(P);
        expect_op(P, "(");
        const char *names[64];
        jnode *defs[64];
        size_t k = 0;
        while (!is_op(cur(P), ")")) {
            if (k) expect_op(P, ",");
            if (is_op(cur(P), ")")) break;
            if (k == 64) jfail(P->c, WF_ERR_UNSUPPORTED, line, "too many macro parameters");
            names[k] = expect_name(P);
            defs[k] = NULL;
            if (is_op(cur(P), "=")) {
                P->i++;
                defs[k] = parse_expr(P);
            }
            k++;
        }
        P->i++;
        n->params = ja_alloc(P->c, (k + 1) * sizeof(char *));
        n->defaults = ja_alloc(P->c, (k + 1) * sizeof(jnode *));
        if (k) {
            memcpy(n->params, names, k * sizeof(char *));
            memcpy(n->defaults, defs, k * sizeof(jnode *));
        }
        n->n_params = k;
        expect_block_end(P);
        static const char *const ends[] = {"endmacro", NULL};
        parse_body(P, &n->body, ends, &which);
        if (cur(P)->t == T_NAME) P->i++; /* {% endmacro name %} */
        expect_block_end(P);
        return n;
    }
    if (!strcmp(kw, "break") || !strcmp(kw, "continue")) {
        jnode *n = mk(P, kw[0] == 'b' ? N_BREAK : N_CONTINUE, line);
        expect_block_end(P);
        return n;
    }
    if (!strcmp(kw, "filter")) {
        jnode *n = mk(P, N_FILTER_BLOCK, line);
        tok *nm = cur(P);
        n->name = expect_name(P);
        n->filter_id = jinja_filter_id(n->name);
        if (n->filter_id < 0) jfail(P->c, WF_ERR_UNSUPPORTED, nm->line, "unknown filter '%s'", n->name);
        if (is_op(cur(P), "(")) parse_call_args(P, n);
        expect_block_end(P);
        static const char *const ends[] = {"endfilter", NULL};
        parse_body(P, &n->body, ends, &which);
        expect_block_end(P);
        return n;
    }
    jfail(P->c, WF_ERR_UNSUPPORTED, line, "unsupported tag '%s'", kw);
}

/* Statements until one of `ends` (NULL-terminated) or EOF (ends == NULL).
 * Leaves the parser just after the end keyword; *which names it. */
static void parse_body(parser *P, jnodes *out, const char *const *ends, const char **which) {
    enter(P);
    int start_line = cur(P)->line;
    for (;;) {
        tok *t = cur(P);
        if (t->t == T_EOF) {
            if (ends) {
                jfail(P->c, WF_ERR_FORMAT, t->line, "unexpected end of template: missing {%% %s %%} (block opened before line %d)",
                      ends[0 + (ends[1] ? (ends[2] ? 2 : 1) : 0)], start_line);
            }
            P->depth--;
            return;
        }
        if (t->t == T_DATA) {
            jnode *n = mk(P, N_TEXT, t->line);
            n->value = jv_str(P->c, t->p, t->n);
            np(P, out, n);
            P->i++;
        } else if (t->t == T_VAR_BEGIN) {
            P->i++;
            jnode *n = mk(P, N_OUTPUT, t->line);
            n->a = parse_tuple(P, true);
            if (cur(P)->t != T_VAR_END) expected(P, "'}}'");
            P->i++;
            np(P, out, n);
        } else if (t->t == T_BLOCK_BEGIN) {
            P->i++;
            tok *k = cur(P);
            if (ends && k->t == T_NAME) {
                for (int e = 0; ends[e]; e++) {
                    if (!strcmp(k->p, ends[e])) {
                        *which = ends[e];
                        P->i++;
                        P->depth--;
                        return;
                    }
                }
            }
            if (k->t == T_NAME && (!strncmp(k->p, "end", 3) || !strcmp(k->p, "elif") || !strcmp(k->p, "else")))
                jfail(P->c, WF_ERR_FORMAT, k->line, "unexpected {%% %s %%}", k->p);
            np(P, out, parse_stmt(P));
        } else {
            expected(P, "text or a tag");
        }
    }
}

jnodes *jinja_parse(jctx *c, const char *src, size_t len) {
    lexer L = {c, src, len, 0, 1, NULL, 0, 0};
    lex(&L);
    parser P = {c, L.toks, 0, L.nt, 0};
    jnodes *body = ja_alloc(c, sizeof(jnodes));
    parse_body(&P, body, NULL, NULL);
    return body;
}
