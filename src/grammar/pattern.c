/* pattern.c — JSON Schema `pattern` (a subset of ECMA-262 regexes) to a
 * GBNF expression over the JSON-encoded string body.
 *
 * Supported: literals, escapes of metacharacters, \d \w \s \D \W \S, \n \t
 * \r \f \v, \uXXXX, `.`, [classes] with ranges and ^, groups ( ) and (?: ),
 * alternation |, quantifiers * + ? {m} {m,} {m,n} (a lazy `?` after them
 * changes nothing here), ^ at the start and $ at the end. A pattern without
 * ^ (or $) may have anything before (after) the match, as JSON Schema's
 * unanchored search means. Not supported (an error naming it):
 * backreferences, lookaround, named groups, \b \B, \p{..}, anchors inside.
 *
 * The grammar generates a subset of the matching strings: characters that
 * JSON must escape are produced (as escapes) only where the pattern names
 * them; `.`, negated classes and the unanchored ends produce unescaped
 * characters only. */
#include "grammar/schema_int.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct rx {
    const char *s;
    size_t n, i;
    wf_buf *o;
    char *msg;
    size_t msg_cap;
    int depth;
    bool bad;
} rx;

typedef struct cpr {
    uint32_t lo, hi;
} cpr;

static bool rfail(rx *r, const char *what) {
    if (!r->bad) snprintf(r->msg, r->msg_cap, "%s (at offset %zu)", what, r->i);
    r->bad = true;
    return false;
}

static int32_t rx_utf8(rx *r) {
    const unsigned char *p = (const unsigned char *)r->s + r->i;
    size_t left = r->n - r->i;
    unsigned c = p[0];
    int len = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (!len || (size_t)len > left) return rfail(r, "invalid UTF-8"), -1;
    uint32_t cp = len == 1 ? c : len == 2 ? c & 0x1f : len == 3 ? c & 0x0f : c & 0x07;
    for (int k = 1; k < len; k++) {
        if ((p[k] & 0xc0) != 0x80) return rfail(r, "invalid UTF-8"), -1;
        cp = (cp << 6) | (p[k] & 0x3f);
    }
    r->i += (size_t)len;
    return (int32_t)cp;
}

/* The JSON encoding of one character as a GBNF literal. */
static void emit_char(wf_buf *o, uint32_t cp) {
    char buf[8];
    size_t n = 0;
    if (cp == '"') n = (size_t)snprintf(buf, sizeof buf, "\\\"");
    else if (cp == '\\') n = (size_t)snprintf(buf, sizeof buf, "\\\\");
    else if (cp == '\n') n = (size_t)snprintf(buf, sizeof buf, "\\n");
    else if (cp == '\t') n = (size_t)snprintf(buf, sizeof buf, "\\t");
    else if (cp == '\r') n = (size_t)snprintf(buf, sizeof buf, "\\r");
    else if (cp == '\b') n = (size_t)snprintf(buf, sizeof buf, "\\b");
    else if (cp == '\f') n = (size_t)snprintf(buf, sizeof buf, "\\f");
    else if (cp < 0x20) n = (size_t)snprintf(buf, sizeof buf, "\\u%04x", (unsigned)cp);
    else if (cp < 0x80) buf[n++] = (char)cp;
    else if (cp < 0x800) buf[n++] = (char)(0xc0 | (cp >> 6)), buf[n++] = (char)(0x80 | (cp & 0x3f));
    else if (cp < 0x10000)
        buf[n++] = (char)(0xe0 | (cp >> 12)), buf[n++] = (char)(0x80 | ((cp >> 6) & 0x3f)), buf[n++] = (char)(0x80 | (cp & 0x3f));
    else
        buf[n++] = (char)(0xf0 | (cp >> 18)), buf[n++] = (char)(0x80 | ((cp >> 12) & 0x3f)),
        buf[n++] = (char)(0x80 | ((cp >> 6) & 0x3f)), buf[n++] = (char)(0x80 | (cp & 0x3f));
    wf_gbnf_literal(o, buf, n);
}

static void emit_cp_in_class(wf_buf *o, uint32_t cp) {
    if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9') || cp == ' ' || cp == '_')
        wf_buf_printf(o, "%c", (char)cp);
    else if (cp < 0x100) wf_buf_printf(o, "\\x%02X", (unsigned)cp);
    else if (cp < 0x10000) wf_buf_printf(o, "\\u%04X", (unsigned)cp);
    else wf_buf_printf(o, "\\U%08X", (unsigned)cp);
}

/* Ranges of a class escape (\d \w \s); n set to 0 for others. */
static int class_escape(char c, cpr *out) {
    switch (c) {
    case 'd': out[0] = (cpr){'0', '9'}; return 1;
    case 'w': out[0] = (cpr){'a', 'z'}, out[1] = (cpr){'A', 'Z'}, out[2] = (cpr){'0', '9'}, out[3] = (cpr){'_', '_'}; return 4;
    case 's': out[0] = (cpr){' ', ' '}, out[1] = (cpr){'\t', '\r'}; return 2;
    default: return 0;
    }
}

/* One escaped character (after the backslash), or -1. */
static int32_t escaped_char(rx *r) {
    if (r->i >= r->n) return rfail(r, "a pattern ending in '\\'"), -1;
    char c = r->s[r->i];
    switch (c) {
    case 'n': r->i++; return '\n';
    case 't': r->i++; return '\t';
    case 'r': r->i++; return '\r';
    case 'f': r->i++; return '\f';
    case 'v': r->i++; return '\v';
    case '0': r->i++; return 0;
    case 'u': case 'x': {
        int nd = c == 'u' ? 4 : 2;
        uint32_t v = 0;
        if (r->i + 1 + (size_t)nd > r->n) return rfail(r, "a short \\u or \\x escape"), -1;
        for (int k = 1; k <= nd; k++) {
            char h = r->s[r->i + (size_t)k];
            int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
            if (d < 0) return rfail(r, "a bad hex digit in an escape"), -1;
            v = v * 16 + (uint32_t)d;
        }
        r->i += 1 + (size_t)nd;
        if (v >= 0xd800 && v <= 0xdfff) return rfail(r, "surrogate escapes are not supported"), -1;
        return (int32_t)v;
    }
    case 'b': case 'B': return rfail(r, "word boundaries (\\b, \\B) are not supported"), -1;
    case 'p': case 'P': return rfail(r, "Unicode property escapes (\\p) are not supported"), -1;
    case 'k': return rfail(r, "named backreferences are not supported"), -1;
    default:
        if (c >= '1' && c <= '9') return rfail(r, "backreferences are not supported"), -1;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return rfail(r, "an unknown escape"), -1;
        return rx_utf8(r);
    }
}

/* Positive class: unescaped characters as one GBNF class, plus JSON escapes
 * for the characters that need them. Negated: unescaped characters only. */
static void emit_class(wf_buf *o, const cpr *rg, int n, bool negate) {
    if (negate) {
        wf_buf_str(o, "[^\"\\\\\\x00-\\x1F");
        for (int i = 0; i < n; i++) {
            emit_cp_in_class(o, rg[i].lo);
            if (rg[i].hi != rg[i].lo) wf_buf_str(o, "-"), emit_cp_in_class(o, rg[i].hi);
        }
        wf_buf_str(o, "]");
        return;
    }
    wf_buf_str(o, "(");
    int alts = 0;
    wf_buf plain = {0};
    for (int i = 0; i < n; i++) {
        uint32_t lo = rg[i].lo, hi = rg[i].hi;
        for (uint32_t c = lo; c <= hi && c < 0x20; c++) { /* control characters: escapes */
            if (alts++) wf_buf_str(o, " | ");
            emit_char(o, c);
        }
        if (lo < 0x20) lo = 0x20;
        /* split off '"' and '\\' */
        uint32_t cuts[] = {'"', '\\'};
        for (int k = 0; k < 2; k++)
            if (lo <= cuts[k] && cuts[k] <= hi) {
                if (alts++) wf_buf_str(o, " | ");
                emit_char(o, cuts[k]);
            }
        const uint32_t piece[3][2] = {{lo, hi < 0x21 ? hi : 0x21}, {lo > 0x23 ? lo : 0x23, hi < 0x5b ? hi : 0x5b},
                                      {lo > 0x5d ? lo : 0x5d, hi}};
        for (int k = 0; k < 3; k++) {
            if (piece[k][0] > piece[k][1]) continue;
            emit_cp_in_class(&plain, piece[k][0]);
            if (piece[k][1] != piece[k][0]) wf_buf_str(&plain, "-"), emit_cp_in_class(&plain, piece[k][1]);
        }
    }
    if (plain.n) {
        if (alts++) wf_buf_str(o, " | ");
        wf_buf_str(o, "[");
        wf_buf_add(o, plain.p, plain.n);
        wf_buf_str(o, "]");
    }
    free(plain.p);
    if (!alts) wf_buf_str(o, "[^\\x00-\\U0010FFFF]"); /* matches nothing: refused by the caller */
    wf_buf_str(o, ")");
}

static bool parse_class(rx *r) {
    r->i++; /* [ */
    bool negate = false;
    if (r->i < r->n && r->s[r->i] == '^') negate = true, r->i++;
    cpr rg[256];
    int n = 0;
    bool first = true;
    while (r->i < r->n && (r->s[r->i] != ']' || (first && false))) {
        first = false;
        int32_t lo;
        if (r->s[r->i] == '\\') {
            r->i++;
            if (r->i < r->n) {
                char c = r->s[r->i];
                cpr tmp[4];
                int k = class_escape(c, tmp);
                if (k) {
                    if (n + k > 256) return rfail(r, "a class with too many ranges");
                    for (int j = 0; j < k; j++) rg[n++] = tmp[j];
                    r->i++;
                    continue;
                }
                if (c == 'D' || c == 'W' || c == 'S') return rfail(r, "\\D, \\W, \\S inside a class are not supported");
            }
            if ((lo = escaped_char(r)) < 0) return false;
        } else if ((lo = rx_utf8(r)) < 0) {
            return false;
        }
        int32_t hi = lo;
        if (r->i + 1 < r->n && r->s[r->i] == '-' && r->s[r->i + 1] != ']') {
            r->i++;
            if (r->s[r->i] == '\\') {
                r->i++;
                if ((hi = escaped_char(r)) < 0) return false;
            } else if ((hi = rx_utf8(r)) < 0) {
                return false;
            }
            if (hi < lo) return rfail(r, "a reversed class range");
        }
        if (n == 256) return rfail(r, "a class with too many ranges");
        rg[n++] = (cpr){(uint32_t)lo, (uint32_t)hi};
    }
    if (r->i >= r->n) return rfail(r, "an unterminated class");
    r->i++;
    if (n == 0) return rfail(r, "an empty class");
    emit_class(r->o, rg, n, negate);
    return true;
}

static bool parse_alt(rx *r);

static bool parse_atom(rx *r) {
    char c = r->s[r->i];
    if (c == '(') {
        if (++r->depth > 100) return rfail(r, "groups nested too deeply");
        r->i++;
        if (r->i < r->n && r->s[r->i] == '?') {
            if (r->i + 1 < r->n && r->s[r->i + 1] == ':') r->i += 2;
            else return rfail(r, "lookaround and named groups are not supported");
        }
        wf_buf_str(r->o, "(");
        if (!parse_alt(r)) return false;
        if (r->i >= r->n || r->s[r->i] != ')') return rfail(r, "an unclosed group");
        r->i++;
        r->depth--;
        wf_buf_str(r->o, ")");
        return true;
    }
    if (c == '[') return parse_class(r);
    if (c == '.') {
        r->i++;
        wf_buf_str(r->o, "json-plain");
        return true;
    }
    if (c == '^' || c == '$') return rfail(r, "anchors inside the pattern are not supported");
    if (c == '*' || c == '+' || c == '?' || c == '{') return rfail(r, "a quantifier with nothing to repeat");
    if (c == '\\') {
        r->i++;
        if (r->i < r->n) {
            char e = r->s[r->i];
            cpr tmp[4];
            int k = class_escape(e == 'D' ? 'd' : e == 'W' ? 'w' : e == 'S' ? 's' : e, tmp);
            if (k) {
                r->i++;
                emit_class(r->o, tmp, k, e == 'D' || e == 'W' || e == 'S');
                return true;
            }
        }
        int32_t cp = escaped_char(r);
        if (cp < 0) return false;
        emit_char(r->o, (uint32_t)cp);
        return true;
    }
    int32_t cp = rx_utf8(r);
    if (cp < 0) return false;
    emit_char(r->o, (uint32_t)cp);
    return true;
}

static bool parse_number(rx *r, long *v) {
    if (r->i >= r->n || r->s[r->i] < '0' || r->s[r->i] > '9') return rfail(r, "a bad {m,n} quantifier");
    long x = 0;
    while (r->i < r->n && r->s[r->i] >= '0' && r->s[r->i] <= '9') {
        x = x * 10 + (r->s[r->i++] - '0');
        if (x > 1000) return rfail(r, "a repetition count above 1000");
    }
    *v = x;
    return true;
}

static bool parse_seq(rx *r) {
    bool any = false;
    while (r->i < r->n && r->s[r->i] != '|' && r->s[r->i] != ')') {
        size_t mark = r->o->n;
        if (!parse_atom(r)) return false;
        any = true;
        if (r->i >= r->n) break;
        char q = r->s[r->i];
        if (q != '*' && q != '+' && q != '?' && q != '{') {
            wf_buf_str(r->o, " ");
            continue;
        }
        /* wrap the atom: ( atom )quantifier */
        size_t alen = r->o->n - mark;
        char *atom = malloc(alen + 1);
        if (!atom) return rfail(r, "out of memory");
        memcpy(atom, r->o->p + mark, alen);
        r->o->n = mark;
        wf_buf_str(r->o, "(");
        wf_buf_add(r->o, atom, alen);
        wf_buf_str(r->o, ")");
        free(atom);
        if (q == '{') {
            r->i++;
            long mn, mx;
            if (!parse_number(r, &mn)) return false;
            mx = mn;
            if (r->i < r->n && r->s[r->i] == ',') {
                r->i++;
                if (r->i < r->n && r->s[r->i] == '}') mx = -1;
                else if (!parse_number(r, &mx)) return false;
            }
            if (r->i >= r->n || r->s[r->i] != '}') return rfail(r, "a bad {m,n} quantifier");
            r->i++;
            if (mx >= 0 && mx < mn) return rfail(r, "a {m,n} quantifier with n < m");
            if (mx < 0) wf_buf_printf(r->o, "{%ld,}", mn);
            else wf_buf_printf(r->o, "{%ld,%ld}", mn, mx);
        } else {
            r->i++;
            wf_buf_printf(r->o, "%c", q);
        }
        if (r->i < r->n && r->s[r->i] == '?') r->i++; /* lazy: the same strings */
        if (r->i < r->n && (r->s[r->i] == '*' || r->s[r->i] == '+' || r->s[r->i] == '{'))
            return rfail(r, "a quantifier after a quantifier");
        wf_buf_str(r->o, " ");
    }
    if (!any) wf_buf_str(r->o, "\"\"");
    return true;
}

static bool parse_alt(rx *r) {
    wf_buf_str(r->o, "(");
    if (!parse_seq(r)) return false;
    while (r->i < r->n && r->s[r->i] == '|') {
        r->i++;
        wf_buf_str(r->o, " | ");
        if (!parse_seq(r)) return false;
    }
    wf_buf_str(r->o, ")");
    return true;
}

bool wf_regex_to_gbnf(const char *re, size_t n, wf_buf *out, char *msg, size_t msg_cap) {
    size_t start = 0, end = n;
    bool head = n > 0 && re[0] == '^';
    if (head) start = 1;
    bool tail = false;
    if (end > start && re[end - 1] == '$') {
        size_t bs = 0; /* an escaped \$ is a literal */
        for (size_t k = end - 1; k > start && re[k - 1] == '\\'; k--) bs++;
        if (bs % 2 == 0) tail = true, end--;
    }
    rx r = {.s = re + start, .n = end - start, .o = out, .msg = msg, .msg_cap = msg_cap};
    if (!head) wf_buf_str(out, "json-plain* ");
    if (!parse_alt(&r)) return false;
    if (r.i != r.n) return rfail(&r, "an unmatched ')'");
    if (!tail) wf_buf_str(out, " json-plain*");
    return !out->failed || rfail(&r, "out of memory");
}
