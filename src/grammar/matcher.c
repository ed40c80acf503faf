/* matcher.c — one sequence's position in a grammar, and the masks of the
 * tokens allowed next.
 *
 * The parser is a nondeterministic pushdown automaton over bytes (llama.cpp's
 * "stacks"), made cheap by sharing: a stack is a node (pos, parent) in a
 * hash-consed arena, pos the element to match next and parent the stack to
 * return to, so equal stacks are equal ids. A parser state is the sorted
 * set of its leaf stacks (each waiting on a byte set, or node 0: "the
 * grammar may end here"), interned too, so states are ids and
 *   - a byte transition is computed once per (state, byte) and memoized;
 *   - a mask is computed once per state and cached (JSON generation returns
 *     to the same few states over and over);
 *   - computing a mask walks the token trie from the state, one memoized
 *     transition per trie edge, skipping dead subtrees and allowing a whole
 *     subtree at once when the state loops on every byte below it (a string
 *     body: every token without a quote or a backslash).
 * Calls into a rule whose next element is the end of the alternative do not
 * push a return frame (tail calls), so `x*` runs in constant stack depth. */
#include "grammar/grammar_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

enum {
    MAX_NODES = 1 << 22,
    MAX_SETS = 1 << 18,
    MAX_POOL = 1 << 25,
    STATE_ENDED = -3, /* after an end-of-generation token      */
    TRANS_UNKNOWN = -2,
    SUBTREE_MIN = 8   /* try the whole-subtree shortcut above this many tokens */
};
/* An automaton's cached masks stop growing here (later masks are computed
 * into the asking matcher's own buffer), and a new matcher starts a fresh
 * automaton once the old one has grown past a quarter of the hard limits or
 * filled its mask budget: memory stays bounded however many requests share
 * one grammar. */
#define MASK_CACHE_BYTES ((size_t)64 << 20)

typedef struct gnode {
    int32_t pos, parent;
    uint32_t epoch;
} gnode;

typedef struct gset {
    int64_t off;      /* leaves: pool[off .. off + n), sorted node ids */
    int32_t n;
    uint32_t hash;
    bool accept;      /* holds node 0: the grammar may end here */
    int32_t *trans;   /* (256) next state per byte, lazily; -1 dead */
    uint32_t *mask;   /* cached allowed-token mask, or NULL; never freed
                       * before the automaton (matchers hold pointers)  */
} gset;

/* One grammar's states over one vocabulary, shared by every matcher of
 * that grammar (across requests and threads; mu guards everything but
 * refs and next, which the grammar's amu guards). */
typedef struct wf_gauto {
    pthread_mutex_t mu;
    const wf_grammar *g;
    uint64_t vkey;        /* the vocabulary's contents (wf_grammar_vocab.key) */
    int32_t refs;         /* matchers + the grammar's list                   */
    struct wf_gauto *next;
    gnode *nodes;
    int32_t n_nodes, cap_nodes;
    int32_t *nh;          /* node hash: ids, -1 empty */
    uint32_t nh_cap;
    gset *sets;
    int32_t n_sets, cap_sets;
    int32_t *sh;          /* set hash */
    uint32_t sh_cap;
    int32_t *pool;
    int64_t n_pool, cap_pool;
    int32_t start;
    uint32_t epoch;
    int32_t *work;        /* expansion worklist: (pos, parent) pairs */
    int64_t n_work, cap_work;
    int32_t *out;         /* leaves found by an expansion */
    int32_t n_out, cap_out;
    int64_t *walk;        /* trie walk stack: (trie node, state) pairs */
    int64_t cap_walk;
    size_t mask_bytes;
    int64_t n_trans;      /* states with a transition table */
    int64_t n_trie_nodes; /* by the walk in progress (moved to its matcher's stats) */
    atomic_bool failed;   /* set once, after errmsg (read without the lock) */
    char errmsg[160];
} gauto;

struct wf_grammar_matcher {
    wf_grammar *g;        /* a reference: the grammar outlives its matchers */
    const wf_grammar_vocab *gv;
    gauto *a;
    int32_t cur;
    int32_t last_s, last_tok, last_r; /* the last single-token check, for the accept after it */
    uint32_t *own;        /* a mask computed past the cache budget */
    uint32_t *zero;       /* the mask after the end */
    wf_grammar_stats stats;
};

static bool mfail(gauto *m, const char *msg) {
    if (!m->failed) {
        m->failed = true;
        snprintf(m->errmsg, sizeof m->errmsg, "grammar: %s", msg);
    }
    return false;
}

static inline uint32_t mix(uint32_t h, uint32_t x) {
    h ^= x * 0x9e3779b1u;
    h = (h << 13) | (h >> 19);
    return h * 5u + 0xe6546b64u;
}

/* ---- the node arena -------------------------------------------------------------- */

static bool nh_rehash(gauto *m, uint32_t cap) {
    int32_t *nh = malloc((size_t)cap * sizeof *nh);
    if (!nh) return mfail(m, "out of memory");
    memset(nh, 0xff, (size_t)cap * sizeof *nh);
    for (int32_t i = 0; i < m->n_nodes; i++) {
        uint32_t h = mix(mix(0, (uint32_t)m->nodes[i].pos), (uint32_t)m->nodes[i].parent) & (cap - 1);
        while (nh[h] >= 0) h = (h + 1) & (cap - 1);
        nh[h] = i;
    }
    free(m->nh);
    m->nh = nh;
    m->nh_cap = cap;
    return true;
}

/* The id of stack (pos, parent), created if new; -1 on failure. */
static int32_t node_get(gauto *m, int32_t pos, int32_t parent) {
    uint32_t h = mix(mix(0, (uint32_t)pos), (uint32_t)parent) & (m->nh_cap - 1);
    for (int32_t id; (id = m->nh[h]) >= 0; h = (h + 1) & (m->nh_cap - 1))
        if (m->nodes[id].pos == pos && m->nodes[id].parent == parent) return id;
    if (m->n_nodes >= MAX_NODES) return mfail(m, "the parse state grew too large"), -1;
    if (m->n_nodes == m->cap_nodes) {
        int32_t cap = m->cap_nodes * 2;
        gnode *nn = realloc(m->nodes, (size_t)cap * sizeof *nn);
        if (!nn) return mfail(m, "out of memory"), -1;
        m->nodes = nn;
        m->cap_nodes = cap;
    }
    int32_t id = m->n_nodes++;
    m->nodes[id] = (gnode){pos, parent, 0};
    if ((uint32_t)m->n_nodes * 2 > m->nh_cap) return nh_rehash(m, m->nh_cap * 2) ? id : -1;
    m->nh[h] = id;
    return id;
}

/* ---- states ------------------------------------------------------------------------- */

static bool sh_rehash(gauto *m, uint32_t cap) {
    int32_t *sh = malloc((size_t)cap * sizeof *sh);
    if (!sh) return mfail(m, "out of memory");
    memset(sh, 0xff, (size_t)cap * sizeof *sh);
    for (int32_t i = 0; i < m->n_sets; i++) {
        uint32_t h = m->sets[i].hash & (cap - 1);
        while (sh[h] >= 0) h = (h + 1) & (cap - 1);
        sh[h] = i;
    }
    free(m->sh);
    m->sh = sh;
    m->sh_cap = cap;
    return true;
}

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return x < y ? -1 : x > y;
}

/* The state of sorted leaves l[0..n) (n >= 1), created if new; -1 on failure. */
static int32_t set_get(gauto *m, const int32_t *l, int32_t n) {
    uint32_t hash = 0x12345u;
    for (int32_t i = 0; i < n; i++) hash = mix(hash, (uint32_t)l[i]);
    uint32_t h = hash & (m->sh_cap - 1);
    for (int32_t id; (id = m->sh[h]) >= 0; h = (h + 1) & (m->sh_cap - 1)) {
        gset *s = &m->sets[id];
        if (s->hash == hash && s->n == n && !memcmp(m->pool + s->off, l, (size_t)n * sizeof *l)) return id;
    }
    if (m->n_sets >= MAX_SETS || m->n_pool + n > MAX_POOL) return mfail(m, "too many parse states"), -1;
    if (m->n_sets == m->cap_sets) {
        int32_t cap = m->cap_sets * 2;
        gset *ns = realloc(m->sets, (size_t)cap * sizeof *ns);
        if (!ns) return mfail(m, "out of memory"), -1;
        m->sets = ns;
        m->cap_sets = cap;
    }
    if (m->n_pool + n > m->cap_pool) {
        int64_t cap = m->cap_pool * 2;
        while (cap < m->n_pool + n) cap *= 2;
        int32_t *np = realloc(m->pool, (size_t)cap * sizeof *np);
        if (!np) return mfail(m, "out of memory"), -1;
        m->pool = np;
        m->cap_pool = cap;
    }
    memcpy(m->pool + m->n_pool, l, (size_t)n * sizeof *l);
    int32_t id = m->n_sets++;
    m->sets[id] = (gset){m->n_pool, n, hash, l[0] == 0, NULL, NULL};
    m->n_pool += n;
    if ((uint32_t)m->n_sets * 2 > m->sh_cap) return sh_rehash(m, m->sh_cap * 2) ? id : -1;
    m->sh[h] = id;
    return id;
}

static bool work_push(gauto *m, int32_t pos, int32_t parent) {
    if (m->n_work + 2 > m->cap_work) {
        int64_t cap = m->cap_work * 2;
        int32_t *nw = realloc(m->work, (size_t)cap * sizeof *nw);
        if (!nw) return mfail(m, "out of memory");
        m->work = nw;
        m->cap_work = cap;
    }
    m->work[m->n_work++] = pos;
    m->work[m->n_work++] = parent;
    return true;
}

static bool out_push(gauto *m, int32_t id) {
    if (m->n_out == m->cap_out) {
        int32_t cap = m->cap_out * 2;
        int32_t *no = realloc(m->out, (size_t)cap * sizeof *no);
        if (!no) return mfail(m, "out of memory");
        m->out = no;
        m->cap_out = cap;
    }
    m->out[m->n_out++] = id;
    return true;
}

/* Add to m->out every leaf reachable from stack (pos, parent) without
 * consuming a byte: through rule calls and returns. Nodes visited in this
 * epoch are skipped (the same stack expands the same way). */
static bool expand(gauto *m, int32_t pos, int32_t parent) {
    const wf_grammar *g = m->g;
    if (!work_push(m, pos, parent)) return false;
    while (m->n_work) {
        parent = m->work[--m->n_work];
        pos = m->work[--m->n_work];
        if (pos < 0) { /* every frame returned: the end */
            if (m->nodes[0].epoch != m->epoch) {
                m->nodes[0].epoch = m->epoch;
                if (!out_push(m, 0)) return false;
            }
            continue;
        }
        int32_t id = node_get(m, pos, parent);
        if (id < 0) return false;
        if (m->nodes[id].epoch == m->epoch) continue;
        m->nodes[id].epoch = m->epoch;
        const wf_gelem e = g->el[pos];
        if (e.type == GE_BYTES) {
            if (!out_push(m, id)) return false;
        } else if (e.type == GE_END) {
            if (parent < 0) {
                if (!work_push(m, -1, -1)) return false;
            } else if (!work_push(m, m->nodes[parent].pos, m->nodes[parent].parent)) {
                return false;
            }
        } else { /* GE_REF: call the rule; return to pos + 1 unless that ends the alternative */
            int32_t cont = parent;
            if (g->el[pos + 1].type != GE_END && (cont = node_get(m, pos + 1, parent)) < 0) return false;
            for (int32_t a = g->rule_alt[e.v]; a < g->rule_alt[e.v + 1]; a++)
                if (!work_push(m, g->alt[a], cont)) return false;
        }
    }
    return true;
}

/* The state m->out describes (sorted, interned), or -1 when empty / failed. */
static int32_t finish_out(gauto *m) {
    if (m->n_out == 0 || m->failed) return -1;
    qsort(m->out, (size_t)m->n_out, sizeof *m->out, cmp_i32);
    return set_get(m, m->out, m->n_out);
}

/* The state after byte b from state s; -1 when b is not allowed. */
static int32_t advance(gauto *m, int32_t s, unsigned b) {
    if (s < 0 || m->failed) return -1;
    if (!m->sets[s].trans) {
        int32_t *t = malloc(256 * sizeof *t);
        if (!t) return mfail(m, "out of memory"), -1;
        for (int i = 0; i < 256; i++) t[i] = TRANS_UNKNOWN;
        m->sets[s].trans = t;
        m->n_trans++;
    }
    int32_t r = m->sets[s].trans[b];
    if (r != TRANS_UNKNOWN) return r;
    m->n_out = 0;
    m->epoch++;
    const int64_t off = m->sets[s].off;
    const int32_t n = m->sets[s].n;
    for (int32_t i = 0; i < n; i++) {
        int32_t leaf = m->pool[off + i];
        if (leaf == 0) continue;
        const gnode nd = m->nodes[leaf];
        if (wf_byteset_has(&m->g->sets[m->g->el[nd.pos].v], b) && !expand(m, nd.pos + 1, nd.parent)) return -1;
    }
    r = finish_out(m);
    if (m->failed) return -1;
    m->sets[s].trans[b] = r;
    return r;
}

/* ---- automata: one per (grammar, vocabulary), shared ------------------------------------ */

static void auto_free(gauto *a) {
    if (!a) return;
    for (int32_t i = 0; i < a->n_sets; i++) {
        free(a->sets[i].trans);
        free(a->sets[i].mask);
    }
    free(a->nodes);
    free(a->nh);
    free(a->sets);
    free(a->sh);
    free(a->pool);
    free(a->work);
    free(a->out);
    free(a->walk);
    pthread_mutex_destroy(&a->mu);
    free(a);
}

/* A new automaton at the grammar's start; NULL with *err set. */
static gauto *auto_new(const wf_grammar *g, uint64_t vkey, wf_status *st, wf_error *err) {
    gauto *a = calloc(1, sizeof *a);
    if (!a) return *st = wf_fail(err, WF_ERR_NOMEM, "grammar: out of memory"), NULL;
    if (pthread_mutex_init(&a->mu, NULL)) {
        free(a);
        return *st = wf_fail(err, WF_ERR_NOMEM, "grammar: out of memory"), NULL;
    }
    a->g = g;
    a->vkey = vkey;
    a->cap_nodes = 1024;
    a->cap_sets = 256;
    a->cap_pool = 4096;
    a->cap_work = 1024;
    a->cap_out = 256;
    a->cap_walk = 1024;
    a->nodes = malloc((size_t)a->cap_nodes * sizeof *a->nodes);
    a->sets = malloc((size_t)a->cap_sets * sizeof *a->sets);
    a->pool = malloc((size_t)a->cap_pool * sizeof *a->pool);
    a->work = malloc((size_t)a->cap_work * sizeof *a->work);
    a->out = malloc((size_t)a->cap_out * sizeof *a->out);
    a->walk = malloc((size_t)a->cap_walk * sizeof *a->walk);
    if (!a->nodes || !a->sets || !a->pool || !a->work || !a->out || !a->walk || !nh_rehash(a, 2048) ||
        !sh_rehash(a, 512)) {
        auto_free(a);
        *st = wf_fail(err, WF_ERR_NOMEM, "grammar: out of memory");
        return NULL;
    }
    a->nodes[0] = (gnode){-1, -1, 0}; /* node 0: the end; never looked up by (pos, parent) */
    a->n_nodes = 1;
    a->epoch++;
    for (int32_t i = g->rule_alt[g->root]; i < g->rule_alt[g->root + 1]; i++)
        if (!expand(a, g->alt[i], -1)) break;
    a->start = finish_out(a);
    if (a->start < 0) {
        *st = wf_fail(err, a->failed ? WF_ERR_NOMEM : WF_ERR_FORMAT, "%s",
                      a->failed ? a->errmsg : "grammar: the root rule matches nothing");
        auto_free(a);
        return NULL;
    }
    return a;
}

/* Past this, new matchers start a fresh automaton (the old one lives on
 * until its last matcher goes). */
static bool auto_spent(gauto *a) {
    pthread_mutex_lock(&a->mu);
    bool spent = a->failed || a->n_nodes > MAX_NODES / 4 || a->n_sets > MAX_SETS / 4 || a->n_pool > MAX_POOL / 4 ||
                 a->mask_bytes >= MASK_CACHE_BYTES;
    pthread_mutex_unlock(&a->mu);
    return spent;
}

/* Drop one reference; g->amu held. */
static void auto_unref_locked(gauto *a) {
    if (a && --a->refs == 0) auto_free(a);
}

/* The grammar's automaton for vocabulary key vkey, with a reference for the caller. */
static gauto *auto_acquire(wf_grammar *g, uint64_t vkey, wf_status *st, wf_error *err) {
    pthread_mutex_lock(&g->amu);
    gauto **pp = &g->autos;
    for (; *pp; pp = &(*pp)->next)
        if ((*pp)->vkey == vkey) break;
    gauto *a = *pp;
    if (a && auto_spent(a)) { /* retire it from the list */
        *pp = a->next;
        a->next = NULL;
        auto_unref_locked(a);
        a = NULL;
    }
    if (!a && (a = auto_new(g, vkey, st, err))) {
        a->refs = 1; /* the list's */
        a->next = g->autos;
        g->autos = a;
    }
    if (a) a->refs++;
    pthread_mutex_unlock(&g->amu);
    return a;
}

static void auto_release(wf_grammar *g, gauto *a) {
    if (!a) return;
    pthread_mutex_lock(&g->amu);
    auto_unref_locked(a);
    pthread_mutex_unlock(&g->amu);
}

size_t wf_grammar_cache_bytes(const wf_grammar *cg) {
    if (!cg) return 0;
    wf_grammar *g = (wf_grammar *)cg; /* the lock only */
    size_t bytes = 0;
    pthread_mutex_lock(&g->amu);
    for (gauto *a = g->autos; a; a = a->next) {
        pthread_mutex_lock(&a->mu);
        const int64_t n_trans = a->n_trans;
        bytes += a->mask_bytes + (size_t)a->cap_nodes * sizeof *a->nodes + (size_t)a->nh_cap * sizeof *a->nh +
                 (size_t)a->cap_sets * sizeof *a->sets + (size_t)a->sh_cap * sizeof *a->sh +
                 (size_t)a->cap_pool * sizeof *a->pool + (size_t)n_trans * 256 * sizeof(int32_t);
        pthread_mutex_unlock(&a->mu);
    }
    pthread_mutex_unlock(&g->amu);
    return bytes;
}

void wf_grammar_drop_autos(wf_grammar *g) {
    pthread_mutex_lock(&g->amu);
    while (g->autos) {
        gauto *a = g->autos;
        g->autos = a->next;
        auto_unref_locked(a);
    }
    pthread_mutex_unlock(&g->amu);
}

/* ---- matchers ---------------------------------------------------------------------------- */

static wf_status matcher_new(wf_grammar *g, const wf_grammar_vocab *gv, wf_grammar_matcher **out, wf_error *err) {
    wf_grammar_matcher *m = calloc(1, sizeof *m);
    if (!m) return wf_fail(err, WF_ERR_NOMEM, "grammar: out of memory");
    m->zero = calloc(((size_t)gv->n_tokens + 31) / 32 + 1, sizeof *m->zero);
    if (!m->zero) {
        free(m);
        return wf_fail(err, WF_ERR_NOMEM, "grammar: out of memory");
    }
    wf_status st = WF_OK;
    if (!(m->a = auto_acquire(g, gv->key, &st, err))) {
        free(m->zero);
        free(m);
        return st;
    }
    m->g = wf_grammar_ref(g);
    m->gv = gv;
    m->cur = m->a->start; /* set once, never changes */
    m->last_s = -1;
    *out = m;
    return WF_OK;
}

wf_status wf_grammar_matcher_create(const wf_grammar *g, const wf_grammar_vocab *gv, wf_grammar_matcher **out,
                                    wf_error *err) {
    if (!out) return wf_fail(err, WF_ERR_INVALID_ARG, "grammar: NULL output pointer");
    *out = NULL;
    if (!g || !gv) return wf_fail(err, WF_ERR_INVALID_ARG, "grammar: NULL grammar or vocabulary");
    /* the grammar's rules never change; its automata are guarded by amu */
    return matcher_new((wf_grammar *)g, gv, out, err);
}

wf_status wf_grammar_matcher_clone(const wf_grammar_matcher *src, wf_grammar_matcher **out, wf_error *err) {
    if (!out) return wf_fail(err, WF_ERR_INVALID_ARG, "grammar: NULL output pointer");
    *out = NULL;
    if (!src) return wf_fail(err, WF_ERR_INVALID_ARG, "grammar: NULL matcher");
    wf_grammar_matcher *m = calloc(1, sizeof *m);
    if (!m || !(m->zero = calloc(((size_t)src->gv->n_tokens + 31) / 32 + 1, sizeof *m->zero))) {
        free(m);
        return wf_fail(err, WF_ERR_NOMEM, "grammar: out of memory cloning a matcher");
    }
    pthread_mutex_lock(&src->g->amu);
    src->a->refs++; /* the same automaton: its states are the clone's too */
    pthread_mutex_unlock(&src->g->amu);
    m->a = src->a;
    m->g = wf_grammar_ref(src->g);
    m->gv = src->gv;
    m->cur = src->cur;
    m->last_s = -1;
    *out = m;
    return WF_OK;
}

void wf_grammar_matcher_free(wf_grammar_matcher *m) {
    if (!m) return;
    auto_release(m->g, m->a);
    wf_grammar_free(m->g);
    free(m->own);
    free(m->zero);
    free(m);
}

void wf_grammar_matcher_reset(wf_grammar_matcher *m) {
    if (m) m->cur = m->a->start;
}

/* ---- moving (every entry point below holds a->mu) ------------------------------------------ */

static int32_t run_bytes(gauto *a, int32_t s, const unsigned char *b, size_t n) {
    for (size_t i = 0; i < n && s >= 0; i++) {
        const int32_t *tr = a->sets[s].trans; /* the memo, read inline */
        int32_t r = tr ? tr[b[i]] : TRANS_UNKNOWN;
        s = r != TRANS_UNKNOWN ? r : advance(a, s, b[i]);
    }
    return s;
}

/* The state after token tok from s (STATE_ENDED after an end token), -1 if refused. */
static int32_t after_token(wf_grammar_matcher *m, int32_t s, int32_t tok) {
    const wf_grammar_vocab *gv = m->gv;
    gauto *a = m->a;
    if (s < 0 || tok < 0 || tok >= gv->n_tokens || a->failed) return -1;
    if (gv->kind[tok] == GV_EOG) return a->sets[s].accept ? STATE_ENDED : -1;
    if (gv->kind[tok] != GV_TEXT) return -1;
    return run_bytes(a, s, (const unsigned char *)gv->bytes + gv->off[tok], gv->off[tok + 1] - gv->off[tok]);
}

bool wf_grammar_matcher_accept_token(wf_grammar_matcher *m, int32_t tok) {
    if (!m) return false;
    int32_t s;
    if (m->cur == m->last_s && tok == m->last_tok) { /* just checked: no lock, no walk */
        s = m->last_r;
    } else {
        pthread_mutex_lock(&m->a->mu);
        s = after_token(m, m->cur, tok);
        pthread_mutex_unlock(&m->a->mu);
    }
    if (s == -1) return false;
    m->cur = s;
    return true;
}

bool wf_grammar_matcher_accept_bytes(wf_grammar_matcher *m, const char *s, size_t n) {
    if (!m || m->cur < 0 || (n && !s)) return false;
    pthread_mutex_lock(&m->a->mu);
    int32_t r = m->a->failed ? -1 : run_bytes(m->a, m->cur, (const unsigned char *)s, n);
    pthread_mutex_unlock(&m->a->mu);
    if (r < 0) return false;
    m->cur = r;
    return true;
}

int32_t wf_grammar_matcher_check(wf_grammar_matcher *m, const int32_t *toks, int32_t n) {
    if (!m || !toks) return 0;
    int32_t s = m->cur, i = 0;
    pthread_mutex_lock(&m->a->mu);
    for (; i < n; i++)
        if ((s = after_token(m, s, toks[i])) == -1) break;
    pthread_mutex_unlock(&m->a->mu);
    if (n == 1 && !m->a->failed) m->last_s = m->cur, m->last_tok = toks[0], m->last_r = s;
    return i;
}

int32_t wf_grammar_matcher_pos(const wf_grammar_matcher *m) { return m ? m->cur : -1; }

void wf_grammar_matcher_rewind(wf_grammar_matcher *m, int32_t pos) {
    if (!m) return;
    pthread_mutex_lock(&m->a->mu);
    if (pos == STATE_ENDED || (pos >= 0 && pos < m->a->n_sets)) m->cur = pos;
    pthread_mutex_unlock(&m->a->mu);
}

/* Whether state s accepts / is final; NULL-safe readers under the lock. */
static bool state_test(const wf_grammar_matcher *m, bool final) {
    if (!m) return false;
    if (m->cur == STATE_ENDED) return !m->a->failed;
    if (m->cur < 0) return false;
    pthread_mutex_lock(&m->a->mu);
    const gset *st = &m->a->sets[m->cur];
    bool r = !m->a->failed && st->accept && (!final || st->n == 1);
    pthread_mutex_unlock(&m->a->mu);
    return r;
}

bool wf_grammar_matcher_can_end(const wf_grammar_matcher *m) { return state_test(m, false); }

bool wf_grammar_matcher_done(const wf_grammar_matcher *m) { return state_test(m, true); }

const char *wf_grammar_matcher_error(const wf_grammar_matcher *m) {
    return m && m->a->failed ? m->a->errmsg : NULL; /* written once, before failed is set */
}

/* ---- masks ------------------------------------------------------------------------------------- */

static inline void set_bit(uint32_t *mask, int32_t id) { mask[id >> 5] |= 1u << (id & 31); }

/* Whether every byte in below keeps state s where it is. */
static bool loops_on(gauto *m, int32_t s, const wf_byteset *below) {
    for (int w = 0; w < 4; w++)
        for (uint64_t bits = below->w[w]; bits; bits &= bits - 1) {
            unsigned b = (unsigned)(w * 64 + __builtin_ctzll(bits));
            if (advance(m, s, b) != s) return false;
        }
    return true;
}

static bool walk_push(gauto *m, int64_t *n, int32_t node, int32_t s) {
    if (*n + 2 > m->cap_walk) {
        int64_t cap = m->cap_walk * 2;
        int64_t *nw = realloc(m->walk, (size_t)cap * sizeof *nw);
        if (!nw) return mfail(m, "out of memory");
        m->walk = nw;
        m->cap_walk = cap;
    }
    m->walk[(*n)++] = node;
    m->walk[(*n)++] = s;
    return true;
}

/* Walk the token trie gv from state s, setting the bit of every token
 * whose bytes the grammar accepts from s. */
static bool walk_trie(gauto *m, const wf_grammar_vocab *gv, int32_t s, uint32_t *mask) {
    const wf_gtrie_node *tn = gv->node;
    const wf_gtrie_edge *te = gv->edge;
    int64_t n = 0;
    if (!walk_push(m, &n, 0, s)) return false;
    while (n) {
        int32_t st = (int32_t)m->walk[--n];
        int32_t t = (int32_t)m->walk[--n];
        const int32_t *tr = m->sets[st].trans; /* the memo, read inline */
        int64_t visited = 0;
        for (int32_t c = t + 1, end = te[t].end; c < end; c = te[c].end) {
            visited++;
            int32_t s2 = tr ? tr[te[c].byte] : TRANS_UNKNOWN;
            if (s2 == TRANS_UNKNOWN) {
                s2 = advance(m, st, te[c].byte);
                tr = m->sets[st].trans;
            }
            if (s2 < 0) {
                if (m->failed) return false;
                continue;
            }
            for (int32_t j = tn[c].lo; j < tn[c].lo + tn[c].n_end; j++) set_bit(mask, gv->tok[j]);
            if (te[c].end == c + 1) continue; /* a leaf */
            int32_t inner = tn[c].hi - tn[c].lo - tn[c].n_end;
            if (inner > SUBTREE_MIN && loops_on(m, s2, &tn[c].below)) {
                for (int32_t j = tn[c].lo + tn[c].n_end; j < tn[c].hi; j++) set_bit(mask, gv->tok[j]);
                continue;
            }
            if (m->failed || !walk_push(m, &n, c, s2)) return false;
        }
        m->n_trie_nodes += visited;
    }
    return !m->failed;
}

/* The mask of state s, a->mu held: cached in the automaton (shared by
 * every matcher of the grammar), or past the budget in m->own. */
static const uint32_t *mask_locked(wf_grammar_matcher *m, int32_t s) {
    gauto *a = m->a;
    if (a->sets[s].mask) {
        m->stats.n_mask_hits++;
        return a->sets[s].mask;
    }
    const size_t words = ((size_t)m->gv->n_tokens + 31) / 32;
    const bool cache = a->mask_bytes + words * 4 <= MASK_CACHE_BYTES;
    uint32_t *mask = cache ? calloc(words + 1, sizeof *mask) : m->own;
    if (!cache && !mask && !(mask = m->own = malloc((words + 1) * sizeof *mask))) return mfail(a, "out of memory"), NULL;
    if (!mask) return mfail(a, "out of memory"), NULL;
    if (!cache) memset(mask, 0, (words + 1) * sizeof *mask);
    if (a->sets[s].accept)
        for (int32_t i = 0; i < m->gv->n_eog; i++) set_bit(mask, m->gv->eog[i]);
    a->n_trie_nodes = 0;
    const bool ok = walk_trie(a, m->gv, s, mask);
    m->stats.n_trie_nodes += a->n_trie_nodes;
    if (!ok) {
        if (cache) free(mask);
        return NULL;
    }
    if (cache) {
        a->sets[s].mask = mask;
        a->mask_bytes += words * 4;
    }
    return mask;
}

const uint32_t *wf_grammar_matcher_mask(wf_grammar_matcher *m) {
    if (!m || m->a->failed) return NULL;
    const double t0 = wf_time_now();
    m->stats.n_masks++;
    const uint32_t *mask = m->zero;
    if (m->cur != STATE_ENDED) {
        pthread_mutex_lock(&m->a->mu);
        mask = m->a->failed ? NULL : mask_locked(m, m->cur);
        pthread_mutex_unlock(&m->a->mu);
    }
    m->stats.t_mask += wf_time_now() - t0;
    return mask;
}

const uint32_t *wf_grammar_matcher_cached_mask(wf_grammar_matcher *m) {
    if (!m || m->a->failed) return NULL;
    if (m->cur == STATE_ENDED) return m->zero;
    if (m->cur < 0) return NULL;
    pthread_mutex_lock(&m->a->mu);
    const uint32_t *mk = m->a->sets[m->cur].mask;
    pthread_mutex_unlock(&m->a->mu);
    return mk;
}

bool wf_grammar_matcher_allowed(wf_grammar_matcher *m, int32_t tok) {
    if (!m || tok < 0 || tok >= m->gv->n_tokens) return false;
    const uint32_t *mk = wf_grammar_matcher_cached_mask(m);
    if (mk) return (mk[tok >> 5] >> (tok & 31)) & 1u;
    return wf_grammar_matcher_check(m, &tok, 1) == 1;
}

bool wf_grammar_matcher_apply(wf_grammar_matcher *m, float *logits) {
    const uint32_t *mask = wf_grammar_matcher_mask(m);
    if (!mask) return false;
    const int32_t n = m->gv->n_tokens;
    for (int32_t w = 0; w * 32 < n; w++) {
        uint32_t bits = mask[w];
        if (bits == 0xffffffffu) continue;
        int32_t end = w * 32 + 32 < n ? w * 32 + 32 : n;
        for (int32_t i = w * 32; i < end; i++)
            if (!((bits >> (i & 31)) & 1u)) logits[i] = -INFINITY;
    }
    return true;
}

void wf_grammar_matcher_stats(const wf_grammar_matcher *m, wf_grammar_stats *st) {
    if (!st) return;
    memset(st, 0, sizeof *st);
    if (!m) return;
    *st = m->stats;
    pthread_mutex_lock(&m->a->mu);
    st->n_states = m->a->n_sets;
    st->n_cached_masks = 0;
    for (int32_t i = 0; i < m->a->n_sets; i++) st->n_cached_masks += m->a->sets[i].mask != NULL;
    pthread_mutex_unlock(&m->a->mu);
}
