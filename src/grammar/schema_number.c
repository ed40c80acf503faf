/* schema_number.c — `minimum` / `maximum` / `exclusive*` on JSON Schema
 * `number`: a grammar for exactly the decimals in a range.
 *
 * Validators compare doubles; the grammar compares decimal digits. The two
 * agree when both sides have at most 15 significant digits (every such
 * decimal survives the trip through a double, so distinct ones stay
 * distinct and keep their order). So the bounds must be written with at
 * most 15 significant digits (their shortest round-trip form), and the
 * generated numbers have at most 15 digits in all and no exponent — a
 * subset of the valid numbers, never a superset.
 *
 * x in [lo, hi] splits at 0: y = x >= 0 written as is, y = -x > 0 after a
 * "-". A non-negative y = I.T (integer part I, fraction digits T, maybe
 * none) lies in [L, H] when I is strictly between L's and H's integer parts
 * (any fraction), or I equals one of them and T compares with that bound's
 * fraction digit by digit (frac()). */
#include "grammar/schema_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

enum { MAX_DIGITS = 15 };

/* A non-negative decimal: integer part and fraction digits (no trailing 0). */
typedef struct dec {
    int64_t ip;
    char fr[MAX_DIGITS + 2];
} dec;

static bool msgf(char *msg, size_t cap, const char *fmt, double d) {
    snprintf(msg, cap, fmt, d);
    return false;
}

/* |d| as a dec in its shortest round-trip form; false when it needs more
 * than 15 significant digits or |d| >= 1e15. */
static bool to_dec(double d, dec *out, char *msg, size_t cap) {
    if (!(fabs(d) < 1e15)) return msgf(msg, cap, "a bound of %g on a 'number' is beyond +-1e15 (not supported)", d);
    char buf[64];
    int fd = 0;
    for (; fd <= MAX_DIGITS; fd++) {
        snprintf(buf, sizeof buf, "%.*f", fd, fabs(d));
        if (strtod(buf, NULL) == fabs(d)) break;
    }
    if (fd > MAX_DIGITS) return msgf(msg, cap, "the bound %.17g on a 'number' needs more than 15 digits (not supported)", d);
    char *dot = strchr(buf, '.');
    out->fr[0] = 0;
    if (dot) {
        *dot = 0;
        snprintf(out->fr, sizeof out->fr, "%s", dot + 1);
        size_t n = strlen(out->fr);
        while (n && out->fr[n - 1] == '0') out->fr[--n] = 0;
    }
    out->ip = strtoll(buf, NULL, 10);
    /* significant digits: the integer part's (if not 0), then the fraction's past its leading zeros */
    size_t sig = out->ip ? strlen(buf) + strlen(out->fr) : strlen(out->fr) - strspn(out->fr, "0");
    if (sig > MAX_DIGITS) return msgf(msg, cap, "the bound %.17g on a 'number' has more than 15 significant digits (not supported)", d);
    return true;
}

static bool all_zero(const char *s) { return s[strspn(s, "0")] == 0; }

/* Digit strings T of length 0..n with 0.T >= 0.l (> when ls) and
 * 0.T <= 0.h (< when hs); l or h NULL: no bound. The non-empty ones are
 * written to o as alternatives; *eps says whether T = "" (value 0) is one.
 * Returns whether any non-empty T was written. */
static bool frac(wf_buf *o, const char *l, bool ls, const char *h, bool hs, int n, bool *eps) {
    if (l && all_zero(l) && !ls) l = NULL;
    *eps = !l && (!h || !hs || !all_zero(h));
    if (n <= 0) return false;
    if (!l && !h) return wf_buf_printf(o, "[0-9]{1,%d}", n), true;
    const int l1 = l ? (l[0] ? l[0] - '0' : 0) : -1, h1 = h ? (h[0] ? h[0] - '0' : 0) : 10;
    const char *lr = l ? (l[0] ? l + 1 : l) : NULL, *hr = h ? (h[0] ? h + 1 : h) : NULL;
    int alts = 0;
    const int a = l ? l1 + 1 : 0, b = h ? h1 - 1 : 9;
    if (a <= b) { /* strictly between: any digits after */
        wf_buf_printf(o, a == b ? "\"%d\"" : "[%d-%d]", a, b);
        if (n > 1) wf_buf_printf(o, " [0-9]{0,%d}", n - 1);
        alts++;
    }
    for (int side = 0; side < 2; side++) { /* the digit equal to l's, then to h's */
        int t = side ? h1 : l1;
        if (t < 0 || t > 9 || (side && l && l1 >= h1)) continue;
        if (!side && h && l1 > h1) continue;
        const char *nl = !side ? lr : (l && l1 == h1 ? lr : NULL);
        const char *nh = side ? hr : (h && l1 == h1 ? hr : NULL);
        wf_buf rest = {0};
        bool reps, any = frac(&rest, nl, ls, nh, hs, n - 1, &reps);
        if (any || reps) {
            if (alts++) wf_buf_str(o, " | ");
            wf_buf_printf(o, "\"%d\"", t);
            if (any) wf_buf_printf(o, reps ? " (%s)?" : " (%s)", rest.p);
        }
        if (rest.failed) o->failed = true;
        free(rest.p);
    }
    return alts > 0;
}

static int n_digits(int64_t v) {
    int d = 1;
    while (v >= 10) v /= 10, d++;
    return d;
}

/* Integer part exactly ip, then a fraction per frac(); counts alternatives. */
static void at_int(wf_buf *o, int64_t ip, const char *l, bool ls, const char *h, bool hs, int *alts) {
    wf_buf f = {0};
    bool eps, any = frac(&f, l, ls, h, hs, MAX_DIGITS - n_digits(ip), &eps);
    if (any || eps) {
        if ((*alts)++) wf_buf_str(o, " | ");
        wf_buf_printf(o, "\"%lld\"", (long long)ip);
        if (any) wf_buf_printf(o, eps ? " (\".\" (%s))?" : " \".\" (%s)", f.p);
    }
    if (f.failed) o->failed = true;
    free(f.p);
}

/* Non-negative y with L <= y (< when lx) and y <= H (< when hx; H NULL: no
 * bound), as alternatives; counts them. */
static void urange(wf_buf *o, const dec *L, bool lx, const dec *H, bool hx, int *alts) {
    const int64_t top = 999999999999999LL; /* 15 digits */
    if (H && L->ip > H->ip) return;
    if (H && L->ip == H->ip) {
        at_int(o, L->ip, L->fr, lx, H->fr, hx, alts);
        return;
    }
    at_int(o, L->ip, L->fr, lx, NULL, false, alts);
    int64_t a = L->ip + 1, b = H ? H->ip - 1 : top;
    wf_gbnf_int_range(o, a, b, MAX_DIGITS, MAX_DIGITS, alts); /* the integer parts in between, with fractions */
    if (H) at_int(o, H->ip, NULL, false, H->fr, hx, alts);
}

bool wf_gbnf_number_range(wf_buf *o, bool has_lo, double lo, bool lo_ex, bool has_hi, double hi, bool hi_ex, char *msg,
                          size_t msg_cap) {
    dec dl = {0}, dh = {0}, zero = {0};
    if ((has_lo && !to_dec(lo, &dl, msg, msg_cap)) || (has_hi && !to_dec(hi, &dh, msg, msg_cap))) return false;
    int alts = 0;
    wf_buf_str(o, "(");
    /* x >= 0 */
    if (!has_hi || hi > 0 || (hi == 0 && !hi_ex)) {
        if (has_lo && lo >= 0) urange(o, &dl, lo_ex, has_hi ? &dh : NULL, hi_ex, &alts);
        else urange(o, &zero, false, has_hi ? &dh : NULL, hi_ex, &alts);
    }
    /* x < 0: "-" y with max(0, -hi) < y <= -lo */
    if (!has_lo || lo < 0) {
        wf_buf neg = {0};
        int na = 0;
        if (has_hi && hi < 0) urange(&neg, &dh, hi_ex, has_lo ? &dl : NULL, lo_ex, &na);
        else urange(&neg, &zero, true, has_lo ? &dl : NULL, lo_ex, &na);
        if (na) {
            if (alts++) wf_buf_str(o, " | ");
            wf_buf_printf(o, "\"-\" (%s)", neg.p);
        }
        if (neg.failed) o->failed = true;
        free(neg.p);
    }
    wf_buf_str(o, ")");
    if (!alts) {
        snprintf(msg, msg_cap, "no number with at most 15 digits lies between the 'number''s bounds");
        return false;
    }
    return true;
}
