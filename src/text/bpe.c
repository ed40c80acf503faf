/* bpe.c — byte-level BPE (tokenizer.ggml.model = "gpt2").
 *
 * Text (made valid UTF-8 by the caller, vocab.c) is cut into words by the
 * pre-tokenizer, and each word's bytes start as one symbol each (the token
 * of the byte's GPT-2 code point). Adjacent pairs are merged lowest merge
 * rank first (ties: the leftmost pair), using a binary heap of candidate
 * pairs and a linked list of symbols, so a word of n bytes costs
 * O(n log n), not O(n^2).
 */
#include "text/tok_int.h"
#include "base/buf.h"

#include <stdlib.h>
#include <string.h>

typedef struct bpe_sym {
    int32_t id;         /* token of this symbol's bytes, -1 if none */
    int32_t prev, next; /* neighbours in the list, -1 at the ends   */
    uint32_t start, n;  /* bytes [start, start+n) of the word; n = 0 once merged away */
} bpe_sym;

typedef struct bpe_pair {
    int32_t rank;
    int32_t left, right;
    uint32_t size; /* n of left + right when queued; stale if it changed */
    int32_t merged;
} bpe_pair;

typedef struct bpe_scratch {
    bpe_sym *sym;
    size_t sym_cap;
    bpe_pair *heap;
    size_t heap_n, heap_cap;
    char *enc; /* GPT-2 encoded bytes of a symbol (fallback path) */
} bpe_scratch;

static bool pair_less(const bpe_pair *a, const bpe_pair *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

static bool heap_push(bpe_scratch *s, bpe_pair p) {
    if (s->heap_n == s->heap_cap && !WF_ARRAY_RESERVE(s->heap, s->heap_cap, s->heap_n + 1)) return false;
    size_t i = s->heap_n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!pair_less(&p, &s->heap[parent])) break;
        s->heap[i] = s->heap[parent];
        i = parent;
    }
    s->heap[i] = p;
    return true;
}

static bpe_pair heap_pop(bpe_scratch *s) {
    bpe_pair top = s->heap[0];
    bpe_pair last = s->heap[--s->heap_n];
    size_t i = 0, n = s->heap_n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && pair_less(&s->heap[c + 1], &s->heap[c])) c++;
        if (!pair_less(&s->heap[c], &last)) break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (n) s->heap[i] = last;
    return top;
}

static bool try_pair(const wf_vocab *v, bpe_scratch *s, int32_t l, int32_t r) {
    if (l < 0 || r < 0) return true;
    const bpe_sym *a = &s->sym[l], *b = &s->sym[r];
    if (a->id < 0 || b->id < 0) return true;
    int32_t rank, merged;
    if (!wf_vocab_merge_find(v, a->id, b->id, &rank, &merged)) return true;
    bpe_pair p = {rank, l, r, a->n + b->n, merged};
    return heap_push(s, p);
}

/* Emit the final symbols of one word. word: raw bytes (not yet encoded). */
static bool emit_word(const wf_vocab *v, bpe_scratch *s, const unsigned char *word,
                      wf_tok_buf *out) {
    for (int32_t i = 0; i != -1; i = s->sym[i].next) {
        const bpe_sym *y = &s->sym[i];
        if (y->n == 0) continue;
        if (y->id >= 0) {
            if (!wf_tok_buf_push(out, y->id)) return false;
            continue;
        }
        /* No token for the whole symbol: like llama.cpp, try each byte of
         * the encoded text as a one-byte token and drop the rest. */
        for (uint32_t k = 0; k < y->n; k++) {
            char e[4];
            int el = wf_utf8_encode(wf_gpt2_byte_to_cp(word[y->start + k]), e);
            for (int j = 0; j < el; j++) {
                int32_t id = wf_vocab_lookup(v, &e[j], 1);
                if (id >= 0 && !wf_tok_buf_push(out, id)) return false;
            }
        }
    }
    return true;
}

/* Encode one pre-tokenized word (raw bytes, valid UTF-8). */
static wf_status encode_word(const wf_vocab *v, bpe_scratch *s, const unsigned char *w, size_t n,
                             wf_tok_buf *out, wf_error *err) {
    if (n == 0) return WF_OK;
    if (n > UINT32_MAX / 2) return wf_fail(err, WF_ERR_RANGE, "tokenize: word too long");
    if (v->ignore_merges && n <= (size_t)v->max_token_len) {
        /* Llama 3: a word that is a whole token is taken as is. */
        char *enc = s->enc;
        size_t el = 0;
        for (size_t i = 0; i < n; i++) el += (size_t)wf_utf8_encode(wf_gpt2_byte_to_cp(w[i]), enc + el);
        int32_t id = wf_vocab_lookup(v, enc, el);
        if (id >= 0) return wf_tok_buf_push(out, id) ? WF_OK : wf_fail(err, WF_ERR_NOMEM, "tokenize: out of memory");
    }
    if (!WF_ARRAY_RESERVE(s->sym, s->sym_cap, n)) return wf_fail(err, WF_ERR_NOMEM, "tokenize: out of memory");
    for (size_t i = 0; i < n; i++) {
        bpe_sym *y = &s->sym[i];
        y->id = v->byte_tok[w[i]];
        y->prev = (int32_t)i - 1;
        y->next = i + 1 == n ? -1 : (int32_t)i + 1;
        y->start = (uint32_t)i;
        y->n = 1;
    }
    s->heap_n = 0;
    for (size_t i = 1; i < n; i++)
        if (!try_pair(v, s, (int32_t)i - 1, (int32_t)i)) goto nomem;
    while (s->heap_n) {
        bpe_pair p = heap_pop(s);
        bpe_sym *a = &s->sym[p.left], *b = &s->sym[p.right];
        if (a->n == 0 || b->n == 0 || a->next != p.right || a->n + b->n != p.size) continue;
        a->n += b->n;
        a->id = p.merged;
        b->n = 0;
        a->next = b->next;
        if (b->next >= 0) s->sym[b->next].prev = p.left;
        if (!try_pair(v, s, a->prev, p.left)) goto nomem;
        if (!try_pair(v, s, p.left, a->next)) goto nomem;
    }
    if (!emit_word(v, s, w, out)) goto nomem;
    return WF_OK;
nomem:
    return wf_fail(err, WF_ERR_NOMEM, "tokenize: out of memory");
}

wf_status wf_bpe_encode(const wf_vocab *v, const char *text, size_t len,
                        wf_tok_buf *out, wf_error *err) {
    if (len == 0) return WF_OK;
    if (len > SIZE_MAX / 3 - 16) return wf_fail(err, WF_ERR_RANGE, "tokenize: text too long");
    wf_status st = WF_OK;
    bpe_scratch s = {0};
    wf_span_buf words = {0};
    s.enc = malloc((size_t)v->max_token_len * 2 + 8);
    if (!s.enc) {
        st = wf_fail(err, WF_ERR_NOMEM, "tokenize: out of memory");
        goto done;
    }
    st = wf_pretok_split(v->pretok, text, len, &words, err);
    if (st != WF_OK) goto done;
    for (size_t i = 0; i < words.n; i++) {
        st = encode_word(v, &s, (const unsigned char *)text + words.s[i].off, words.s[i].len, out, err);
        if (st != WF_OK) goto done;
    }
done:
    free(words.s);
    free(s.enc);
    free(s.sym);
    free(s.heap);
    return st;
}
