/* unicode.c — the UTF-8 helpers the tokenizer needs: lenient and strict
 * decoding, sanitising hostile text to valid UTF-8, and GPT-2's byte-level
 * byte <-> code point mapping (computed, no tables or global state). */
#include "tok_impl.h"

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

size_t wf_utf8_sanitize(const char *in, size_t n, char *out) {
    const unsigned char *s = (const unsigned char *)in;
    size_t i = 0, o = 0;
    while (i < n) {
        if (s[i] < 0x80) { out[o++] = (char)s[i++]; continue; }
        uint32_t cp;
        int len = wf_utf8_decode_lax(s + i, n - i, &cp);
        if (len == 0) { cp = 0xFFFD; len = 1; }
        if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) cp = 0xFFFD;
        o += (size_t)wf_utf8_encode(cp, out + o);
        i += (size_t)len;
    }
    return o;
}
