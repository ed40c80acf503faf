/* detok.c — streaming detokenizer: token ids in, valid UTF-8 out.
 *
 * A token may end in the middle of a multi-byte character (byte-level BPE
 * and <0xXX> byte tokens split characters freely); those bytes are held
 * until the character completes. Bytes that cannot be part of a valid
 * character (RFC 3629: no overlongs, no surrogates, <= U+10FFFF) come out as
 * U+FFFD, one per maximal invalid subpart, so the output is always valid.
 */
#include "text/tok_int.h"

#include <stdlib.h>
#include <string.h>

static const char k_fffd[3] = {(char)0xEF, (char)0xBF, (char)0xBD};

void wf_detok_init(wf_detok *d) {
    memset(d, 0, sizeof *d);
}

/* Decode bytes s[0..n) into out (if out != NULL). Returns the output length;
 * *keep receives how many trailing bytes form an incomplete character. */
static size_t run(const unsigned char *s, size_t n, char *out, bool strip, size_t *keep) {
    size_t i = 0, o = 0;
    *keep = 0;
    while (i < n) {
        uint32_t cp;
        int bad;
        int l = wf_utf8_decode_strict(s + i, n - i, &cp, &bad);
        if (l == 0) { /* incomplete at the end: hold it */
            *keep = n - i;
            break;
        }
        if (l < 0) {
            if (out) memcpy(out + o, k_fffd, 3);
            o += 3;
            i += (size_t)bad;
            strip = false;
            continue;
        }
        if (strip && l == 1 && s[i] == ' ') { /* dropped leading space */
            strip = false;
            i++;
            continue;
        }
        strip = false;
        if (out) memcpy(out + o, s + i, (size_t)l);
        o += (size_t)l;
        i += (size_t)l;
    }
    return o;
}

int64_t wf_detok_push(wf_detok *d, const wf_vocab *v, int32_t id, char *out, size_t cap) {
    if (!v || id < 0 || id >= v->n_tokens) return 0;
    unsigned char stack[512];
    size_t need = (size_t)d->n_pending + (size_t)v->max_token_len + 8;
    unsigned char *buf = need <= sizeof stack ? stack : malloc(need);
    if (!buf) return -1;
    memcpy(buf, d->pending, (size_t)d->n_pending);
    int32_t tl = wf_token_to_bytes(v, id, (char *)buf + d->n_pending, need - (size_t)d->n_pending);
    if (tl < 0 || (size_t)tl > need - (size_t)d->n_pending) tl = 0;
    size_t n = (size_t)d->n_pending + (size_t)tl, keep;
    size_t olen = run(buf, n, NULL, d->strip_space, &keep);
    if (olen > cap) {
        if (buf != stack) free(buf);
        return -1;
    }
    run(buf, n, out, d->strip_space, &keep);
    if (n - keep > 0) d->strip_space = false; /* something was consumed */
    memmove(d->pending, buf + (n - keep), keep);
    d->n_pending = (int)keep;
    if (buf != stack) free(buf);
    return (int64_t)olen;
}

int64_t wf_detok_flush(wf_detok *d, char *out, size_t cap) {
    if (d->n_pending == 0) return 0;
    if (cap < 3) return -1;
    memcpy(out, k_fffd, 3); /* an incomplete character is one maximal subpart */
    d->n_pending = 0;
    d->strip_space = false;
    return 3;
}
