/* vocab.c — the token trie a matcher walks to compute allowed-token masks.
 *
 * Built once per vocabulary: tokens sorted by their bytes, so that every
 * trie node's tokens form one contiguous run (a whole subtree can be allowed
 * with one loop over a range), laid out in preorder with each node's subtree
 * end, and with the set of bytes below each node (the matcher uses it to
 * allow a whole subtree when its parser state loops on all of them). */
#include "grammar/grammar_int.h"

#include "text/tokenizer.h"

#include <stdlib.h>

typedef struct sort_ctx {
    const char *bytes;
    const size_t *off;
} sort_ctx;

/* qsort has no context argument: sort (id, pointer, length) records. */
typedef struct tokref {
    const unsigned char *s;
    size_t n;
    int32_t id;
} tokref;

static int cmp_tok(const void *a, const void *b) {
    const tokref *x = a, *y = b;
    size_t n = x->n < y->n ? x->n : y->n;
    int c = n ? memcmp(x->s, y->s, n) : 0;
    if (c) return c;
    if (x->n != y->n) return x->n < y->n ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static wf_status build_trie(wf_grammar_vocab *gv, wf_error *err) {
    int32_t n = 0;
    for (int32_t i = 0; i < gv->n_tokens; i++)
        if (gv->kind[i] == GV_TEXT) n++;
    tokref *t = malloc(((size_t)n + 1) * sizeof *t);
    gv->tok = malloc(((size_t)n + 1) * sizeof *gv->tok);
    /* a trie has at most 1 + total bytes nodes */
    size_t total = 1;
    for (int32_t i = 0; i < gv->n_tokens; i++)
        if (gv->kind[i] == GV_TEXT) total += gv->off[i + 1] - gv->off[i];
    if (total > INT32_MAX / 2) {
        free(t);
        return wf_fail(err, WF_ERR_RANGE, "grammar: the vocabulary's tokens hold too many bytes");
    }
    gv->node = malloc(total * sizeof *gv->node);
    int32_t *path = malloc((total + 1) * sizeof *path);
    if (!t || !gv->tok || !gv->node || !path) {
        free(t);
        free(path);
        return wf_fail(err, WF_ERR_NOMEM, "grammar: out of memory for the token trie");
    }
    int32_t k = 0;
    for (int32_t i = 0; i < gv->n_tokens; i++)
        if (gv->kind[i] == GV_TEXT)
            t[k++] = (tokref){(const unsigned char *)gv->bytes + gv->off[i], gv->off[i + 1] - gv->off[i], i};
    qsort(t, (size_t)n, sizeof *t, cmp_tok);
    int32_t nn = 1, depth = 0;
    memset(&gv->node[0], 0, sizeof gv->node[0]);
    gv->node[0].lo = 0;
    path[0] = 0;
    const unsigned char *prev = NULL;
    size_t prev_n = 0;
    for (int32_t j = 0; j < n; j++) {
        gv->tok[j] = t[j].id;
        size_t lcp = 0;
        while (prev && lcp < prev_n && lcp < t[j].n && prev[lcp] == t[j].s[lcp]) lcp++;
        while ((size_t)depth > lcp) { /* close nodes off the shared prefix */
            int32_t c = path[depth--];
            gv->node[c].end = nn;
            gv->node[c].hi = j;
        }
        for (size_t d = lcp; d < t[j].n; d++) {
            wf_gtrie_node *x = &gv->node[nn];
            memset(x, 0, sizeof *x);
            x->byte = t[j].s[d];
            x->lo = j;
            path[++depth] = nn++;
        }
        gv->node[path[depth]].n_end++;
        prev = t[j].s;
        prev_n = t[j].n;
    }
    while (depth >= 0) {
        int32_t c = path[depth--];
        gv->node[c].end = nn;
        gv->node[c].hi = n;
    }
    /* bytes below each node, children first (reverse preorder) */
    for (int32_t i = nn - 1; i >= 0; i--) {
        wf_gtrie_node *x = &gv->node[i];
        for (int32_t c = i + 1; c < x->end; c = gv->node[c].end) {
            for (int w = 0; w < 4; w++) x->below.w[w] |= gv->node[c].below.w[w];
            x->below.w[gv->node[c].byte >> 6] |= 1ull << (gv->node[c].byte & 63);
        }
    }
    gv->n_node = nn;
    gv->n_sorted = n;
    if (!(gv->edge = malloc((size_t)nn * sizeof *gv->edge))) {
        free(t);
        free(path);
        return wf_fail(err, WF_ERR_NOMEM, "grammar: out of memory for the token trie");
    }
    for (int32_t i = 0; i < nn; i++) gv->edge[i] = (wf_gtrie_edge){gv->node[i].end, gv->node[i].byte};
    free(t);
    free(path);
    return WF_OK;
}

/* FNV-1a over what decides a mask: the bytes, the token boundaries and kinds. */
static void set_key(wf_grammar_vocab *gv) {
    uint64_t h = 0xcbf29ce484222325ull;
#define FNV(x) (h = (h ^ (uint64_t)(x)) * 0x100000001b3ull)
    FNV(gv->n_tokens);
    for (size_t i = 0; i < gv->off[gv->n_tokens]; i++) FNV((unsigned char)gv->bytes[i]);
    for (int32_t i = 0; i <= gv->n_tokens; i++) FNV(gv->off[i]);
    for (int32_t i = 0; i < gv->n_tokens; i++) FNV(gv->kind[i]);
#undef FNV
    gv->key = h;
}

static wf_status gv_alloc(int32_t n, size_t total, wf_grammar_vocab **out, wf_error *err) {
    wf_grammar_vocab *gv = calloc(1, sizeof *gv);
    if (!gv) return wf_fail(err, WF_ERR_NOMEM, "grammar: out of memory");
    gv->n_tokens = n;
    gv->off = calloc((size_t)n + 1, sizeof *gv->off);
    gv->kind = calloc((size_t)n + 1, 1);
    gv->bytes = malloc(total + 1);
    gv->eog = malloc(((size_t)n + 1) * sizeof *gv->eog);
    if (!gv->off || !gv->kind || !gv->bytes || !gv->eog) {
        wf_grammar_vocab_free(gv);
        return wf_fail(err, WF_ERR_NOMEM, "grammar: out of memory for %d tokens", n);
    }
    *out = gv;
    return WF_OK;
}

wf_status wf_grammar_vocab_from_bytes(const char *const *tok, const size_t *len, int32_t n,
                                      const int32_t *eog, int32_t n_eog, wf_grammar_vocab **out, wf_error *err) {
    if (!out) return wf_fail(err, WF_ERR_INVALID_ARG, "grammar: NULL output pointer");
    *out = NULL;
    if (n <= 0 || !tok || !len) return wf_fail(err, WF_ERR_INVALID_ARG, "grammar: empty vocabulary");
    size_t total = 0;
    for (int32_t i = 0; i < n; i++) total += len[i];
    wf_grammar_vocab *gv;
    wf_status st = gv_alloc(n, total, &gv, err);
    if (st != WF_OK) return st;
    size_t at = 0;
    for (int32_t i = 0; i < n; i++) {
        gv->off[i] = at;
        if (len[i]) memcpy(gv->bytes + at, tok[i], len[i]);
        at += len[i];
        gv->kind[i] = len[i] ? GV_TEXT : GV_NEVER;
    }
    gv->off[n] = at;
    for (int32_t i = 0; i < n_eog; i++) {
        if (eog[i] < 0 || eog[i] >= n) continue;
        gv->kind[eog[i]] = GV_EOG;
        gv->eog[gv->n_eog++] = eog[i];
    }
    if ((st = build_trie(gv, err)) != WF_OK) {
        wf_grammar_vocab_free(gv);
        return st;
    }
    set_key(gv);
    *out = gv;
    return WF_OK;
}

wf_status wf_grammar_vocab_create(const wf_vocab *v, wf_grammar_vocab **out, wf_error *err) {
    if (!out) return wf_fail(err, WF_ERR_INVALID_ARG, "grammar: NULL output pointer");
    *out = NULL;
    if (!v) return wf_fail(err, WF_ERR_INVALID_ARG, "grammar: NULL vocabulary");
    const int32_t n = wf_vocab_n_tokens(v);
    if (n <= 0) return wf_fail(err, WF_ERR_INVALID_ARG, "grammar: empty vocabulary");
    size_t total = 0;
    for (int32_t i = 0; i < n; i++) {
        int32_t k = wf_token_to_bytes(v, i, NULL, 0);
        if (k > 0) total += (size_t)k;
    }
    wf_grammar_vocab *gv;
    wf_status st = gv_alloc(n, total, &gv, err);
    if (st != WF_OK) return st;
    size_t at = 0;
    for (int32_t i = 0; i < n; i++) {
        gv->off[i] = at;
        int32_t k = wf_token_to_bytes(v, i, gv->bytes + at, total - at + 1);
        if (k < 0 || (size_t)k > total - at) k = 0;
        at += (size_t)k;
        if (wf_vocab_is_eog(v, i)) {
            gv->kind[i] = GV_EOG;
            gv->eog[gv->n_eog++] = i;
        } else {
            gv->kind[i] = k == 0 || wf_vocab_is_control(v, i) ? GV_NEVER : GV_TEXT;
        }
    }
    gv->off[n] = at;
    if ((st = build_trie(gv, err)) != WF_OK) {
        wf_grammar_vocab_free(gv);
        return st;
    }
    set_key(gv);
    *out = gv;
    return WF_OK;
}

void wf_grammar_vocab_free(wf_grammar_vocab *gv) {
    if (!gv) return;
    free(gv->node);
    free(gv->edge);
    free(gv->tok);
    free(gv->bytes);
    free(gv->off);
    free(gv->kind);
    free(gv->eog);
    free(gv);
}

int32_t wf_grammar_vocab_n_tokens(const wf_grammar_vocab *gv) { return gv ? gv->n_tokens : 0; }
