/* bpe.c — byte-level BPE (tokenizer.ggml.model = "gpt2").
 *
 * Text (made valid UTF-8 by the caller, vocab.c) is cut into words by the
 * pre-tokenizer, and each word's bytes start as one symbol each (the token
 * of the byte's GPT-2 code point). Adjacent pairs are merged lowest merge
 * rank first (ties: the leftmost pair), using a binary heap of candidate
 * pairs and a linked list of symbols, so a word of n bytes costs
 * O(n log n), not O(n^2).
 *
 * Memory is linear in the longest word with a small constant, since one
 * word can be a whole request body (7 MB of "a"): a symbol is 12 bytes (it
 * starts at its own index, as merging keeps the left one, and ends where
 * its next begins), a queued pair 8 (rank and left symbol: whether it is
 * still live is looked up again when it is popped), and the heap never
 * outgrows 1.25 n + 16 pairs — when full, the pairs that went stale are
 * dropped (at most n - 1 are live) instead of growing it. At most 22
 * bytes per byte of the longest word, ~20 in use (it was 40-60 and grew by
 * doubling).
 */
#include "text/tok_int.h"
#include "base/buf.h"

#include <stdlib.h>
#include <string.h>

/* Symbol i holds the word's bytes [i, next) (to the word's end when next
 * is -1): merging keeps the left symbol, so a symbol starts at its index. */
#define SYM_DEAD (-2) /* next of a symbol merged into its left neighbour */
typedef struct bpe_sym {
    int32_t id;         /* token of this symbol's bytes, -1 if none */
    int32_t prev, next; /* neighbours in the list, -1 at the ends   */
} bpe_sym;

/* A candidate merge of sym[left] and its next, queued with the rank of
 * the merge rule their tokens had then. It is live when the two tokens
 * now there still make a rule of that rank: ranks are one per rule, and a
 * position's tokens only grow, so an old pair never comes back. */
typedef struct bpe_pair {
    int32_t rank;
    int32_t left;
} bpe_pair;

typedef struct bpe_scratch {
    bpe_sym *sym;
    size_t sym_cap;
    size_t n;  /* bytes in the word */
    bpe_pair *heap;
    size_t heap_n, heap_cap;
    char *enc; /* GPT-2 encoded bytes of a symbol (fallback path) */
} bpe_scratch;

static bool pair_less(const bpe_pair *a, const bpe_pair *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

/* The symbol right of a live pair (and the token the two merge into), or
 * -1 when the pair went stale. */
static int32_t pair_right(const wf_vocab *v, const bpe_scratch *s, const bpe_pair *p, int32_t *merged) {
    const bpe_sym *a = &s->sym[p->left];
    if (a->next < 0) return -1;
    const bpe_sym *b = &s->sym[a->next];
    int32_t rank;
    if (a->id < 0 || b->id < 0 || !wf_vocab_merge_find(v, a->id, b->id, &rank, merged) || rank != p->rank) return -1;
    return a->next;
}

static void sift_down(bpe_pair *h, size_t n, size_t i) {
    bpe_pair x = h[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && pair_less(&h[c + 1], &h[c])) c++;
        if (!pair_less(&h[c], &x)) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = x;
}

/* Drop the stale pairs and rebuild the heap (Floyd): O(heap). */
static void heap_compact(const wf_vocab *v, bpe_scratch *s) {
    size_t k = 0;
    int32_t merged;
    for (size_t i = 0; i < s->heap_n; i++)
        if (pair_right(v, s, &s->heap[i], &merged) >= 0) s->heap[k++] = s->heap[i];
    s->heap_n = k;
    for (size_t i = k / 2; i-- > 0;) sift_down(s->heap, k, i);
}

static bool heap_push(const wf_vocab *v, bpe_scratch *s, bpe_pair p) {
    if (s->heap_n == s->heap_cap) heap_compact(v, s);
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
    s->heap[0] = s->heap[--s->heap_n];
    if (s->heap_n) sift_down(s->heap, s->heap_n, 0);
    return top;
}

static bool try_pair(const wf_vocab *v, bpe_scratch *s, int32_t l, int32_t r) {
    if (l < 0 || r < 0) return true;
    const bpe_sym *a = &s->sym[l], *b = &s->sym[r];
    if (a->id < 0 || b->id < 0) return true;
    int32_t rank, merged;
    if (!wf_vocab_merge_find(v, a->id, b->id, &rank, &merged)) return true;
    (void)merged;
    bpe_pair p = {rank, l};
    return heap_push(v, s, p);
}

/* Emit the final symbols of one word. word: raw bytes (not yet encoded). */
static bool emit_word(const wf_vocab *v, bpe_scratch *s, const unsigned char *word,
                      wf_tok_buf *out) {
    for (int32_t i = 0; i != -1; i = s->sym[i].next) {
        const bpe_sym *y = &s->sym[i];
        if (y->id >= 0) {
            if (!wf_tok_buf_push(out, y->id)) return false;
            continue;
        }
        /* No token for the whole symbol: like llama.cpp, try each byte of
         * the encoded text as a one-byte token and drop the rest. */
        size_t end = y->next >= 0 ? (size_t)y->next : s->n;
        for (size_t k = 0; k < end - (size_t)i; k++) {
            char e[4];
            int el = wf_utf8_encode(wf_gpt2_byte_to_cp(word[(size_t)i + k]), e);
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
    if (n > INT32_MAX / 2) return wf_fail(err, WF_ERR_RANGE, "tokenize: word too long");
    if (v->ignore_merges && n <= (size_t)v->max_token_len) {
        /* Llama 3: a word that is a whole token is taken as is. */
        char *enc = s->enc;
        size_t el = 0;
        for (size_t i = 0; i < n; i++) el += (size_t)wf_utf8_encode(wf_gpt2_byte_to_cp(w[i]), enc + el);
        int32_t id = wf_vocab_lookup(v, enc, el);
        if (id >= 0) return wf_tok_buf_push(out, id) ? WF_OK : wf_fail(err, WF_ERR_NOMEM, "tokenize: out of memory");
    }
    /* exact sizes (no doubling past them): a 7 MB word is 7 M symbols */
    size_t want_heap = n + n / 4 + 16;
    if (s->sym_cap < n) {
        free(s->sym);
        s->sym_cap = 0;
        if (!(s->sym = malloc(n * sizeof *s->sym))) return wf_fail(err, WF_ERR_NOMEM, "tokenize: out of memory");
        s->sym_cap = n;
    }
    if (s->heap_cap < want_heap) {
        free(s->heap);
        s->heap_cap = 0;
        if (!(s->heap = malloc(want_heap * sizeof *s->heap))) return wf_fail(err, WF_ERR_NOMEM, "tokenize: out of memory");
        s->heap_cap = want_heap;
    }
    for (size_t i = 0; i < n; i++) {
        bpe_sym *y = &s->sym[i];
        y->id = v->byte_tok[w[i]];
        y->prev = (int32_t)i - 1;
        y->next = i + 1 == n ? -1 : (int32_t)i + 1;
    }
    s->n = n;
    s->heap_n = 0;
    for (size_t i = 1; i < n; i++)
        if (!try_pair(v, s, (int32_t)i - 1, (int32_t)i)) goto nomem;
    while (s->heap_n) {
        bpe_pair p = heap_pop(s);
        int32_t merged, right = pair_right(v, s, &p, &merged);
        if (right < 0) continue;
        bpe_sym *a = &s->sym[p.left], *b = &s->sym[right];
        a->id = merged;
        a->next = b->next;
        if (b->next >= 0) s->sym[b->next].prev = p.left;
        b->next = SYM_DEAD;
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
