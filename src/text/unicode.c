/* unicode.c — the UTF-8 helpers the tokenizer needs: lenient and strict
 * decoding, sanitising hostile text to valid UTF-8 (the WHATWG decoder's
 * rule), Unicode normalization (NFC & co., through utf8proc), and GPT-2's
 * byte-level byte <-> code point mapping (computed, no tables or global
 * state). */
#include "text/tok_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* GPT-2 bytes_to_unicode: the 188 "printable" bytes ('!'..'~', 0xA1..0xAC,
 * 0xAE..0xFF) map to themselves; the other 68 map, in byte order, to
 * U+0100, U+0101, ... */
static bool gpt2_printable(unsigned b) {
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
}

uint32_t wf_gpt2_byte_to_cp(uint8_t b) {
    if (gpt2_printable(b)) return b;
    /* rank of b among non-printable bytes: 0x00..0x20 (33), 0x7F..0xA0 (34), 0xAD (1) */
    unsigned n;
    if (b <= 0x20) n = b;
    else if (b <= 0xA0) n = 33 + (b - 0x7F);
    else n = 67; /* 0xAD */
    return 256 + n;
}

int wf_gpt2_cp_to_byte(uint32_t cp) {
    if (cp < 256) return gpt2_printable(cp) ? (int)cp : -1;
    if (cp >= 256 + 68) return -1;
    unsigned n = cp - 256;
    if (n <= 32) return (int)n;
    if (n <= 66) return (int)(0x7F + (n - 33));
    return 0xAD;
}

int wf_utf8_encode(uint32_t cp, char *out) {
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) { o[0] = (unsigned char)cp; return 1; }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

int wf_utf8_decode_lax(const unsigned char *s, size_t n, uint32_t *cp) {
    unsigned c = s[0];
    if (c < 0x80) { *cp = c; return 1; }
    if (!(c & 0x40)) return 0; /* stray continuation byte */
    int len = (c & 0x20) == 0 ? 2 : (c & 0x10) == 0 ? 3 : (c & 0x08) == 0 ? 4 : 0;
    if (len == 0 || (size_t)len > n) return 0;
    uint32_t v = c & (0x7Fu >> len);
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    *cp = v;
    return len;
}

int wf_utf8_decode_strict(const unsigned char *s, size_t n, uint32_t *cp, int *bad) {
    unsigned c = s[0];
    *bad = 1;
    if (c < 0x80) { *cp = c; return 1; }
    int len;
    unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else return -1;
    uint32_t v = c & (0x7Fu >> len);
    for (int i = 1; i < len; i++) {
        if ((size_t)i >= n) return 0; /* valid so far, incomplete */
        unsigned b = s[i];
        unsigned l = i == 1 ? lo : 0x80, h = i == 1 ? hi : 0xBF;
        if (b < l || b > h) { *bad = i; return -1; }
        v = (v << 6) | (b & 0x3F);
    }
    *cp = v;
    return len;
}

/* A text is left as is when every byte sequence in it is valid (the common
 * case: no copy). */
size_t wf_utf8_valid_prefix(const char *in, size_t n) {
    const unsigned char *s = (const unsigned char *)in;
    size_t i = 0;
    while (i < n) {
        if (s[i] < 0x80) { i++; continue; }
        uint32_t cp;
        int bad;
        int len = wf_utf8_decode_strict(s + i, n - i, &cp, &bad);
        if (len <= 0) return i;
        i += (size_t)len;
    }
    return n;
}

/* Strict, as a WHATWG / Unicode decoder reads bytes ("U+FFFD substitution of
 * maximal subparts"): each maximal subpart of an ill-formed sequence -- the
 * longest prefix of a valid sequence that is there, or else one byte --
 * becomes one U+FFFD. So C0 AF (overlong '/') is two U+FFFD, ED A0 80 (a
 * surrogate) three, F4 90 80 80 (> U+10FFFF) four, and E2 82 before a
 * space or at the end one. A valid character is never swallowed. */
size_t wf_utf8_sanitize(const char *in, size_t n, char *out) {
    const unsigned char *s = (const unsigned char *)in;
    size_t i = 0, o = 0;
    while (i < n) {
        if (s[i] < 0x80) { out[o++] = (char)s[i++]; continue; }
        uint32_t cp;
        int bad;
        int len = wf_utf8_decode_strict(s + i, n - i, &cp, &bad);
        if (len > 0) {
            memcpy(out + o, s + i, (size_t)len);
            o += (size_t)len;
            i += (size_t)len;
            continue;
        }
        /* len == 0: a valid prefix cut off by the end of the text */
        size_t skip = len == 0 ? n - i : (size_t)bad;
        memcpy(out + o, "\xef\xbf\xbd", 3);
        o += 3;
        i += skip;
    }
    return o;
}

/* ---- normalization (utf8proc) ------------------------------------------ */

/* Every code point below U+0300 is NFC_Quick_Check=Yes with combining class
 * 0, so a text made only of them is already NFC: no byte >= 0xCC (the lead
 * bytes of U+0300 and up) means nothing to do. Source code is mostly such
 * text. (NFD and the K forms change some of these, e.g. U+00E9, U+00A0.) */
static bool nfc_stable_fast(const unsigned char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] >= 0xCC) return false;
    return true;
}

static bool ascii_only(const unsigned char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] >= 0x80) return false;
    return true;
}

const char *wf_norm_name(wf_norm form) {
    switch (form) {
    case WF_NORM_NFC: return "NFC";
    case WF_NORM_NFD: return "NFD";
    case WF_NORM_NFKC: return "NFKC";
    case WF_NORM_NFKD: return "NFKD";
    default: return "none";
    }
}

wf_status wf_utf8_normalize(wf_norm form, const char *in, size_t n, char **out, size_t *out_n,
                            wf_error *err) {
    *out = NULL;
    *out_n = 0;
    const unsigned char *s = (const unsigned char *)in;
    if (form == WF_NORM_NONE || n == 0 || ascii_only(s, n)) return WF_OK;
    if (form == WF_NORM_NFC && nfc_stable_fast(s, n)) return WF_OK;
    if (n > (size_t)PTRDIFF_MAX / 8) return wf_fail(err, WF_ERR_RANGE, "normalize: text too long");
    int opt = UTF8PROC_STABLE;
    switch (form) {
    case WF_NORM_NFC: opt |= UTF8PROC_COMPOSE; break;
    case WF_NORM_NFD: opt |= UTF8PROC_DECOMPOSE; break;
    case WF_NORM_NFKC: opt |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT; break;
    case WF_NORM_NFKD: opt |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT; break;
    default: return wf_fail(err, WF_ERR_INVALID_ARG, "normalize: bad form %d", (int)form);
    }
    utf8proc_uint8_t *res = NULL;
    utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)in, (utf8proc_ssize_t)n, &res,
                                      (utf8proc_option_t)opt);
    if (r < 0) {
        free(res);
        if (r == UTF8PROC_ERROR_NOMEM) return wf_fail(err, WF_ERR_NOMEM, "normalize: out of memory");
        return wf_fail(err, WF_ERR_INVALID_ARG, "normalize: %s", utf8proc_errmsg(r));
    }
    *out = (char *)res;
    *out_n = (size_t)r;
    return WF_OK;
}
