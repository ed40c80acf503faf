/* spec_pred.c — the prediction (OpenAI-style predicted outputs) as a draft
 * source, kept in step with the output by its bytes rather than its ids.
 *
 * The prediction arrives as tokens (the caller tokenized the expected text),
 * but the model need not split that text the same way: after an edit it
 * rejoins the text wherever its own tokens fall, and a model's tokens are
 * not always the tokenizer's. Matching ids then lost the prediction at every
 * such split until an n-gram of ids happened to recur, which broke long
 * drafts (measured on the edit benchmark: runs of 30+ steps without a
 * draft). So the source keeps the prediction's bytes and follows the output
 * in bytes:
 *  - an emitted token whose text continues the prediction text at the
 *    current position keeps it in step, whatever the split (the output is
 *    read as the user gets it, through the streaming detokenizer: bytes
 *    that form no character are U+FFFD, as in a prediction made from an
 *    earlier output's text);
 *  - a draft that starts inside one of the prediction's tokens tokenizes the
 *    rest of that token's text, then goes on with the prediction's tokens;
 *  - after a real divergence (different bytes) it re-synchronises on the
 *    longest tail of the output text (counted up to WF_PRED_TAIL bytes) that
 *    occurs in the prediction with text after it: the occurrence nearest at
 *    or after the old position, else the last one before it, never the spot
 *    the output just left.
 * Which tokens to propose for the text ahead: the prediction's, until the
 * output has once split the text otherwise (a token in step with the text
 * that is not the prediction's token there); from then on the model's own
 * split where its history shows one — the latest place in the history (prompt and
 * output) after the same pair of tokens (else the same token), as long as
 * what followed there has exactly the prediction's next bytes — else the
 * prediction's tokens. A model that split some text its own way before
 * tends to split it so again (measured on random-weight models, whose
 * output repeats itself and is split unlike the tokenizer's choice in up
 * to one token in five); a model that splits as the tokenizer does gets the
 * same tokens either way. Where neither applies and the model once wrote
 * another token where the prediction had this one (at a token boundary:
 * `sell` where the prediction has `s` + `ell`), that token if it spells
 * the text ahead: a random-weight model repeats its own splits across
 * contexts (on the edit benchmark most of the drafts cut short were the
 * same pair of tokens again). Before all of these, for a model that writes
 * the longest tokens: the longest vocabulary token spelling the text ahead,
 * once the model has written that token more often than the tokenizer's
 * split where the two differ (judged at every token written in step). A
 * random-weight model's output is a run of whole tokens, which the
 * tokenizer, splitting the text by its merges, mostly re-splits at their
 * first occurrence (on the edit benchmark's 1.5B shape 5-19 drafts a task
 * were cut so, almost all where the model's token was the longest one); a
 * trained model writes the tokenizer's split, the count stays with the
 * split, and its drafts are as before. Every proposal spells the
 * prediction's text. A resync match counts whole characters only (a tail
 * matched from inside a character, after the model wrote a character that
 * normalization changed in the prediction, resumed at random places).
 * Without a vocabulary every id is one 4-byte unit and positions stay on
 * unit boundaries: the same rules on ids.
 */
#include "gen/gen.h"
#include "text/tokenizer.h"

#include <stdlib.h>

enum { WF_PRED_TAIL = 16, WF_PRED_SEEN = 1 << 14 };

static size_t unit_of(const wf_spec_pred *p) { return p->vocab ? 1 : 4; }

/* The bytes of token id into p->scratch; returns their count, or -1. */
static int32_t tok_bytes(const wf_spec_pred *p, int32_t id) {
    if (!p->vocab) {
        uint32_t u = (uint32_t)id;
        for (int i = 0; i < 4; i++) p->scratch[i] = (unsigned char)(u >> (8 * i));
        return 4;
    }
    int32_t n = wf_token_to_bytes(p->vocab, id, (char *)p->scratch, p->scratch_cap);
    return n >= 0 && (size_t)n <= p->scratch_cap ? n : -1;
}

wf_status wf_spec_pred_init(wf_spec_pred *p, const int32_t *tok, size_t n, const wf_vocab *v, wf_error *err) {
    memset(p, 0, sizeof *p);
    p->vocab = v;
    p->refused = SIZE_MAX;
    if (!n) return WF_OK;
    int32_t ml = v ? wf_vocab_max_token_len(v) : 4;
    p->scratch_cap = (size_t)(ml > 4 ? ml : 4);
    if (n > (SIZE_MAX / sizeof *p->off) - 1 || !(p->scratch = malloc(p->scratch_cap)) ||
        !(p->tok = malloc(n * sizeof *p->tok)) || !(p->off = malloc((n + 1) * sizeof *p->off)))
        goto nomem;
    memcpy(p->tok, tok, n * sizeof *tok);
    p->n_tok = n;
    for (size_t i = 0; v && i < n; i++)
        if (tok_bytes(p, tok[i]) < 0) p->vocab = NULL; /* an id past the vocabulary: match ids */
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t b = tok_bytes(p, tok[i]);
        p->off[i] = total;
        if ((size_t)b > SIZE_MAX - total) goto nomem;
        total += (size_t)b;
    }
    p->off[n] = total;
    if (!(p->text = malloc(total ? total : 1))) goto nomem;
    for (size_t i = 0; i < n; i++) {
        int32_t b = tok_bytes(p, tok[i]);
        memcpy(p->text + p->off[i], p->scratch, (size_t)b);
    }
    p->n_text = total;
    p->piece_cap = 3 * (p->scratch_cap + 4);
    wf_detok_init(&p->dt);
    if (p->vocab && (!(p->piece = malloc(p->piece_cap)) || !(p->seen2 = malloc(WF_PRED_SEEN * sizeof *p->seen2)) ||
                     !(p->seen1 = malloc(WF_PRED_SEEN * sizeof *p->seen1))))
        goto nomem;
    if (p->vocab && (!(p->subst = malloc(WF_PRED_SEEN * sizeof *p->subst)) ||
                     !(p->longest = malloc((total ? total : 1) * sizeof *p->longest))))
        goto nomem;
    for (size_t i = 0; p->vocab && i < total; i++) p->longest[i] = -2;
    for (size_t i = 0; p->vocab && i < WF_PRED_SEEN; i++) {
        p->seen2[i].next = p->seen1[i].next = SIZE_MAX;
        p->subst[i].a = -1;
    }
    p->synced = true; /* the output is expected to start where the prediction does */
    return WF_OK;
nomem:
    wf_spec_pred_free(p);
    return wf_fail(err, WF_ERR_NOMEM, "spec: out of memory for a prediction of %zu tokens", n);
}

void wf_spec_pred_free(wf_spec_pred *p) {
    free(p->tok);
    free(p->off);
    free(p->text);
    free(p->scratch);
    free(p->seen2);
    free(p->seen1);
    free(p->subst);
    free(p->longest);
    free(p->piece);
    memset(p, 0, sizeof *p);
    p->refused = SIZE_MAX;
}

static size_t seen_slot(int32_t a, int32_t b) {
    uint64_t h = ((uint64_t)(uint32_t)a * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)(uint32_t)b * 0xc2b2ae3d27d4eb4full);
    return (size_t)(h >> 50) & (WF_PRED_SEEN - 1);
}

/* Record that hist[j] followed hist[j - 2], hist[j - 1] (the latest wins). */
static void seen_add(wf_spec_pred *p, const int32_t *hist, size_t j) {
    if (!p->seen1 || j == 0) return;
    int32_t b = hist[j - 1], a = j >= 2 ? hist[j - 2] : -1;
    p->seen1[seen_slot(-1, b)] = (struct wf_spec_seen){-1, b, j};
    if (a >= 0) p->seen2[seen_slot(a, b)] = (struct wf_spec_seen){a, b, j};
}

/* Where the history went on after a, b (a < 0: after b alone), or SIZE_MAX. */
static size_t seen_find(const wf_spec_pred *p, int32_t a, int32_t b) {
    const struct wf_spec_seen *t = a >= 0 ? p->seen2 : p->seen1;
    if (!t) return SIZE_MAX;
    const struct wf_spec_seen *e = &t[seen_slot(a, b)];
    return e->next != SIZE_MAX && e->a == a && e->b == b ? e->next : SIZE_MAX;
}

/* The model's token where the prediction had a (-1: none seen). */
static int32_t subst_find(const wf_spec_pred *p, int32_t a) {
    if (!p->subst) return -1;
    const struct wf_spec_subst *e = &p->subst[seen_slot(a, a)];
    return e->a == a ? e->z : -1;
}

/* Index of the prediction token whose bytes hold position pos (< n_text). */
static size_t token_at(const wf_spec_pred *p, size_t pos) {
    size_t lo = 0, hi = p->n_tok; /* off[lo] <= pos < off[hi] */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (p->off[mid] <= pos) lo = mid;
        else hi = mid;
    }
    return lo;
}

/* The longest vocabulary token spelling the text from q (memoized), or -1;
 * *b its byte count. */
static int32_t longest_at(wf_spec_pred *p, size_t q, int32_t *b) {
    *b = -1;
    if (!p->longest || q >= p->n_text) return -1;
    if (p->longest[q] == -2) p->longest[q] = wf_vocab_longest_token(p->vocab, (const char *)p->text + q, p->n_text - q, NULL);
    int32_t id = p->longest[q];
    if (id >= 0) *b = tok_bytes(p, id);
    return *b > 0 ? id : -1;
}

/* The tokenizer's first token for the text from q: the prediction's token
 * starting there, or inside one, the first token of the rest of its text;
 * -1 when that does not spell the text. */
static int32_t split_at(const wf_spec_pred *p, size_t q) {
    size_t i = token_at(p, q);
    if (p->off[i] == q) return p->tok[i];
    int32_t *ids = NULL, t = -1;
    size_t n_ids = 0;
    if (wf_tokenize_text(p->vocab, (const char *)p->text + q, p->off[i + 1] - q, false, NULL, 0, &ids, &n_ids, NULL) ==
            WF_OK &&
        n_ids > 0) {
        int32_t b = tok_bytes(p, ids[0]);
        if (b > 0 && (size_t)b <= p->off[i + 1] - q && !memcmp(p->text + q, p->scratch, (size_t)b)) t = ids[0];
    }
    free(ids);
    return t;
}

/* The model wrote z in step at q: where the tokenizer's split and the
 * longest token differ there, count which one it was. */
static void judge(wf_spec_pred *p, size_t q, int32_t z) {
    int32_t b, l = longest_at(p, q, &b);
    if (l < 0) return;
    int32_t t = split_at(p, q);
    if (t == l) return;
    if (z == l) p->n_longest_won++;
    else if (z == t) p->n_split_won++;
}

/* Follow the tokens emitted since the last call: in step while their bytes
 * continue the text. The first call sees only the last token (the first one
 * emitted; the history before it is the prompt). Every token also goes into
 * the tables of what followed what. */
static void follow(wf_spec_pred *p, const int32_t *hist, size_t n_hist) {
    size_t from = p->n_seen && p->n_seen <= n_hist ? p->n_seen : n_hist - 1;
    for (size_t j = p->n_seen && p->n_seen <= n_hist ? p->n_seen : 1; j < n_hist; j++) seen_add(p, hist, j);
    for (size_t j = from; j < n_hist; j++) {
        int64_t b;
        const void *bytes;
        if (p->vocab) {
            b = wf_detok_push(&p->dt, p->vocab, hist[j], p->piece, p->piece_cap);
            bytes = p->piece;
        } else {
            b = tok_bytes(p, hist[j]);
            bytes = p->scratch;
        }
        if (!p->synced) continue; /* the detokenizer still follows */
        if (b >= 0 && (size_t)b <= p->n_text - p->pos && !memcmp(p->text + p->pos, bytes, (size_t)b)) {
            if (b > 0 && p->pos < p->n_text) { /* in step, but not on the prediction's own token? */
                size_t i = token_at(p, p->pos);
                bool other = p->off[i] != p->pos || p->tok[i] != hist[j];
                p->own_split = p->own_split || other;
                if (other && p->off[i] == p->pos && p->subst)
                    p->subst[seen_slot(p->tok[i], p->tok[i])] = (struct wf_spec_subst){p->tok[i], hist[j]};
                if (p->longest) judge(p, p->pos, hist[j]);
            }
            p->pos += (size_t)b;
            if (b > 0) p->refused = SIZE_MAX;
        } else {
            p->synced = false;
            p->refused = p->pos;
        }
    }
    p->n_seen = n_hist;
}

/* The start of the text still to come: pos plus the bytes the detokenizer
 * holds (a character not yet complete) when the text goes on with them;
 * after the U+FFFD the text has there when it does not (the held bytes come
 * out as one U+FFFD once a token that cannot complete them follows: a
 * prediction made from an earlier output's text, where the model wrote
 * bytes that form no character); else SIZE_MAX. */
static size_t ahead(const wf_spec_pred *p) {
    size_t n = (size_t)p->dt.n_pending, left = p->n_text - p->pos;
    if (!n) return p->pos;
    if (n <= left && !memcmp(p->text + p->pos, p->dt.pending, n)) return p->pos + n;
    if (left > 3 && !memcmp(p->text + p->pos, "\xef\xbf\xbd", 3) && (p->text[p->pos + 3] & 0xC0) != 0x80)
        return p->pos + 3;
    return SIZE_MAX;
}

/* The last (at most WF_PRED_TAIL) bytes of the history's text into
 * tail[WF_PRED_TAIL - m ..]; returns m. */
static size_t tail_bytes(const wf_spec_pred *p, const int32_t *hist, size_t n_hist, unsigned char *tail) {
    size_t m = 0;
    for (size_t j = n_hist; j-- > 0 && m < WF_PRED_TAIL;) {
        int32_t b = tok_bytes(p, hist[j]);
        if (b < 0) break;
        size_t take = (size_t)b < WF_PRED_TAIL - m ? (size_t)b : WF_PRED_TAIL - m;
        memcpy(tail + WF_PRED_TAIL - m - take, p->scratch + (size_t)b - take, take);
        m += take;
    }
    return m;
}

/* The position after the best occurrence of the tail in the text (see the
 * header), or SIZE_MAX. */
static size_t resync(const wf_spec_pred *p, const int32_t *hist, size_t n_hist) {
    unsigned char buf[WF_PRED_TAIL];
    const size_t u = unit_of(p), m = tail_bytes(p, hist, n_hist, buf);
    const unsigned char *tail = buf + WF_PRED_TAIL - m;
    if (m < u) return SIZE_MAX;
    size_t best = SIZE_MAX, best_len = 0;
    const size_t hint = p->pos;
    for (size_t e = u; e < p->n_text; e += u) {
        if (p->text[e - 1] != tail[m - 1] || e == p->refused) continue;
        if (p->vocab && (p->text[e] & 0xC0) == 0x80) continue; /* not inside a character */
        size_t len = 0;
        while (len < m && len < e && p->text[e - 1 - len] == tail[m - 1 - len]) len++;
        len -= len % u;
        while (p->vocab && len > 0 && (p->text[e - len] & 0xC0) == 0x80) len--; /* whole characters */
        if (len < u) continue;
        /* longer first; then the first at or after the hint; else the last before it */
        bool better = len > best_len || (len == best_len && (best == SIZE_MAX || best < hint));
        if (better) {
            best = e;
            best_len = len;
            if (len == m && e >= hint) break; /* nothing later beats it */
        }
    }
    return best;
}

/* Tokens for text[pos .. off[i + 1]) (the rest of token i) into draft;
 * returns how many, or -1 when they are more than max_n or cannot be made
 * so that their bytes are exactly that text (an invalid UTF-8 fragment: the
 * tokenizer reads it as U+FFFD). */
static int32_t fragment(const wf_spec_pred *p, size_t i, size_t pos, int32_t *draft, int32_t max_n) {
    int32_t *ids = NULL;
    size_t n_ids = 0, len = p->off[i + 1] - pos;
    if (wf_tokenize_text(p->vocab, (const char *)p->text + pos, len, false, NULL, 0, &ids, &n_ids, NULL) != WF_OK)
        return -1;
    if (n_ids > (size_t)max_n) {
        free(ids);
        return -1;
    }
    size_t at = pos;
    int32_t k = 0;
    for (size_t j = 0; j < n_ids; j++) {
        int32_t b = tok_bytes(p, ids[j]);
        if (b < 0 || (size_t)b > p->off[i + 1] - at || memcmp(p->text + at, p->scratch, (size_t)b)) {
            free(ids);
            return -1;
        }
        at += (size_t)b;
        draft[k++] = ids[j];
    }
    free(ids);
    return at == p->off[i + 1] ? k : -1;
}

/* Whether b[n] (n > 0) are bytes past ASCII that do not form UTF-8
 * characters (the output shows such bytes as U+FFFD). */
static bool no_char(const unsigned char *b, size_t n) {
    bool bad = false;
    for (size_t i = 0; i < n;) {
        if (b[i] < 0x80) return false;
        size_t len = b[i] >= 0xF0 && b[i] <= 0xF4 ? 4 : b[i] >= 0xE0 && b[i] < 0xF0 ? 3 : b[i] >= 0xC2 && b[i] < 0xE0 ? 2 : 0;
        size_t j = 1;
        while (len && j < len && i + j < n && (b[i + j] & 0xC0) == 0x80) j++;
        if (!len || j < len) bad = true;
        i += len && j == len ? len : 1;
    }
    return n > 0 && bad;
}

/* The model's own token z where the prediction has t at q (learned where
 * the model refused t): its byte count if it spells the text at q; 3 when
 * the text there is U+FFFD and z's bytes form no character (the model wrote
 * such bytes before where its earlier output, now the prediction, has
 * U+FFFD); else -1. */
static int32_t subst_at(const wf_spec_pred *p, int32_t t, size_t q, int32_t *z) {
    *z = subst_find(p, t);
    if (*z < 0) return -1;
    int32_t b = tok_bytes(p, *z);
    if (b <= 0) return -1;
    if ((size_t)b <= p->n_text - q && !memcmp(p->text + q, p->scratch, (size_t)b)) return b;
    if (p->n_text - q >= 3 && !memcmp(p->text + q, "\xef\xbf\xbd", 3) && no_char(p->scratch, (size_t)b)) return 3;
    return -1;
}

/* Whether the text at q is U+FFFD (where the model wrote bytes that form
 * no character, if the prediction is an earlier output's text). */
static bool is_fffd(const wf_spec_pred *p, size_t q) {
    return p->n_text - q >= 3 && !memcmp(p->text + q, "\xef\xbf\xbd", 3);
}

/* Bytes of token id if they are the text at q, else -1. */
static int32_t spells(const wf_spec_pred *p, int32_t id, size_t q) {
    int32_t b = tok_bytes(p, id);
    return b > 0 && (size_t)b <= p->n_text - q && !memcmp(p->text + q, p->scratch, (size_t)b) ? b : -1;
}

void wf_spec_pred_learn(wf_spec_pred *p, int32_t t, int32_t z) {
    if (p->subst && t >= 0 && z >= 0 && t != z) p->subst[seen_slot(t, t)] = (struct wf_spec_subst){t, z};
}

bool wf_spec_pred_in_step(wf_spec_pred *p, const int32_t *hist, size_t n_hist) {
    if (!p->n_tok || !hist || n_hist == 0) return false;
    follow(p, hist, n_hist);
    return p->synced;
}

int32_t wf_spec_pred_propose(wf_spec_pred *p, const int32_t *hist, size_t n_hist, int32_t *draft, int32_t max_n,
                             bool *to_end) {
    *to_end = false;
    if (!p->n_tok || !hist || n_hist == 0 || max_n <= 0) return 0;
    follow(p, hist, n_hist);
    if (!p->synced) {
        size_t e = resync(p, hist, n_hist);
        if (e == SIZE_MAX) return 0;
        p->pos = e;
        p->synced = true;
    }
    size_t q = ahead(p), h = SIZE_MAX; /* h: copying the history from there */
    if (q == SIZE_MAX) return 0;
    int32_t k = 0, prev2 = n_hist >= 2 ? hist[n_hist - 2] : -1, prev1 = hist[n_hist - 1];
    const bool longest = p->n_longest_won > p->n_split_won; /* the model writes the longest tokens */
    while (k < max_n && q < p->n_text) {
        int32_t t = -1, b = -1;
        if (longest && !is_fffd(p, q) && (t = longest_at(p, q, &b)) >= 0) {
            h = SIZE_MAX;
        } else if (h < n_hist && (b = spells(p, hist[h], q)) > 0) {
            t = hist[h++];
        } else {
            h = p->own_split ? seen_find(p, prev2, prev1) : SIZE_MAX;
            if (p->own_split && (h == SIZE_MAX || h >= n_hist || (b = spells(p, hist[h], q)) <= 0))
                h = seen_find(p, -1, prev1);
            if (h < n_hist && (b = spells(p, hist[h], q)) > 0) t = hist[h++];
            else h = SIZE_MAX;
        }
        if (t < 0) { /* the prediction's own tokens */
            size_t i = token_at(p, q);
            int32_t z = -1;
            if (p->off[i] == q && (b = subst_at(p, p->tok[i], q, &z)) > 0) {
                t = z;
            } else if (p->off[i] == q) {
                t = p->tok[i];
                b = (int32_t)(p->off[i + 1] - q);
            } else {
                int32_t f = fragment(p, i, q, draft + k, max_n - k);
                if (f <= 0) break;
                if ((b = subst_at(p, draft[k], q, &z)) <= 0) {
                    k += f;
                    q = p->off[i + 1];
                    prev2 = k >= 2 ? draft[k - 2] : prev1;
                    prev1 = draft[k - 1];
                    continue;
                }
                t = z; /* the model's own token for the fragment's first */
            }
        }
        draft[k++] = t;
        q += (size_t)b;
        prev2 = prev1;
        prev1 = t;
    }
    *to_end = q >= p->n_text;
    return k;
}
