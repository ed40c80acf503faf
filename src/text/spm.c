/* spm.c — SentencePiece-style BPE (tokenizer.ggml.model = "llama").
 *
 * The fragment (spaces already replaced by U+2581, prefix space added by the
 * caller) starts as one symbol per UTF-8 character. The adjacent pair whose
 * concatenation is a token with the highest score is merged first (ties: the
 * leftmost), with a heap of candidates and a linked list of symbols. Symbols
 * that are not tokens at the end fall back to <0xXX> byte tokens.
 */
#include "text/tok_int.h"
#include "base/buf.h"

#include <stdlib.h>
#include <string.h>

typedef struct spm_sym {
    int32_t prev, next;
    uint32_t start, n; /* bytes of the fragment; n = 0 once merged away */
} spm_sym;

typedef struct spm_pair {
    float score;
    int32_t left, right;
    uint32_t size;
    int32_t id;
} spm_pair;

typedef struct spm_heap {
    spm_pair *a;
    size_t n, cap;
} spm_heap;

static bool pair_before(const spm_pair *x, const spm_pair *y) {
    return x->score > y->score || (x->score == y->score && x->left < y->left);
}

static bool heap_push(spm_heap *h, spm_pair p) {
    if (h->n == h->cap && !WF_ARRAY_RESERVE(h->a, h->cap, h->n + 1)) return false;
    size_t i = h->n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!pair_before(&p, &h->a[parent])) break;
        h->a[i] = h->a[parent];
        i = parent;
    }
    h->a[i] = p;
    return true;
}

static spm_pair heap_pop(spm_heap *h) {
    spm_pair top = h->a[0];
    spm_pair last = h->a[--h->n];
    size_t i = 0, n = h->n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && pair_before(&h->a[c + 1], &h->a[c])) c++;
        if (!pair_before(&h->a[c], &last)) break;
        h->a[i] = h->a[c];
        i = c;
    }
    if (n) h->a[i] = last;
    return top;
}

static bool try_pair(const wf_vocab *v, const char *text, spm_sym *sym, spm_heap *h,
                     int32_t l, int32_t r) {
    if (l < 0 || r < 0) return true;
    uint32_t size = sym[l].n + sym[r].n;
    if (size > (uint32_t)v->max_token_len) return true;
    int32_t id = wf_vocab_lookup(v, text + sym[l].start, size);
    if (id < 0) return true;
    spm_pair p = {v->scores ? v->scores[id] : 0.0f, l, r, size, id};
    return heap_push(h, p);
}

wf_status wf_spm_encode(const wf_vocab *v, const char *text, size_t len,
                        wf_tok_buf *out, wf_error *err) {
    if (len == 0) return WF_OK;
    if (len > UINT32_MAX / 2) return wf_fail(err, WF_ERR_RANGE, "tokenize: text too long");
    spm_sym *sym = malloc(len * sizeof *sym);
    spm_heap h = {0};
    if (!sym) return wf_fail(err, WF_ERR_NOMEM, "tokenize: out of memory");
    int32_t n = 0;
    for (size_t off = 0; off < len;) {
        size_t cl = (size_t)wf_utf8_len((unsigned char)text[off]);
        if (cl > len - off) cl = len - off;
        sym[n].prev = n - 1;
        sym[n].next = off + cl == len ? -1 : n + 1;
        sym[n].start = (uint32_t)off;
        sym[n].n = (uint32_t)cl;
        n++;
        off += cl;
    }
    for (int32_t i = 1; i < n; i++)
        if (!try_pair(v, text, sym, &h, i - 1, i)) goto nomem;
    while (h.n) {
        spm_pair p = heap_pop(&h);
        spm_sym *a = &sym[p.left], *b = &sym[p.right];
        if (a->n == 0 || b->n == 0 || a->next != p.right || a->n + b->n != p.size) continue;
        a->n += b->n;
        b->n = 0;
        a->next = b->next;
        if (b->next >= 0) sym[b->next].prev = p.left;
        if (!try_pair(v, text, sym, &h, a->prev, p.left)) goto nomem;
        if (!try_pair(v, text, sym, &h, p.left, a->next)) goto nomem;
    }
    for (int32_t i = 0; i != -1; i = sym[i].next) {
        const spm_sym *y = &sym[i];
        if (y->n == 0) continue;
        int32_t id = wf_vocab_lookup(v, text + y->start, y->n);
        if (id >= 0) {
            if (!wf_tok_buf_push(out, id)) goto nomem;
            continue;
        }
        for (uint32_t k = 0; k < y->n; k++) { /* byte fallback */
            unsigned char b = (unsigned char)text[y->start + k];
            int32_t bid = v->byte_tok[b];
            if (bid < 0) bid = v->unk;
            if (bid >= 0 && !wf_tok_buf_push(out, bid)) goto nomem;
        }
    }
    free(sym);
    free(h.a);
    return WF_OK;
nomem:
    free(sym);
    free(h.a);
    return wf_fail(err, WF_ERR_NOMEM, "tokenize: out of memory");
}
