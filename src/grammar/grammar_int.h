/* grammar_int.h — the compiled form shared by the parser (gbnf.c), the
 * vocabulary index (vocab.c) and the matcher (matcher.c).
 *
 * A grammar is a set of rules over BYTES: every terminal is a set of byte
 * values (UTF-8 character classes are lowered to byte sequences when parsed),
 * so tokens, which are byte strings, are matched without decoding. Rule r's
 * alternatives start at el[alt[rule_alt[r]]] .. el[alt[rule_alt[r + 1] - 1]];
 * each alternative is a run of elements ended by GE_END. */
#ifndef WF_GRAMMAR_INT_H
#define WF_GRAMMAR_INT_H

#include "grammar/grammar.h"

#include <pthread.h>
#include <stdatomic.h>

enum { GE_END = 0, GE_REF = 1, GE_BYTES = 2 };

typedef struct wf_gelem {
    int32_t type; /* GE_*                                     */
    int32_t v;    /* GE_REF: rule id; GE_BYTES: byte-set id     */
} wf_gelem;

typedef struct wf_byteset {
    uint64_t w[4]; /* bit b set: byte b matches */
} wf_byteset;

static inline bool wf_byteset_has(const wf_byteset *s, unsigned b) { return (s->w[b >> 6] >> (b & 63)) & 1u; }

struct wf_grammar {
    wf_gelem *el;       /* (n_el) every alternative, GE_END after each   */
    int32_t n_el;
    int32_t *alt;       /* (n_alt) index in el of each alternative       */
    int32_t n_alt;
    int32_t *rule_alt;  /* (n_rules + 1) rule r: alt[rule_alt[r] .. rule_alt[r+1]) */
    int32_t n_rules;
    int32_t root;
    wf_byteset *sets;   /* (n_sets) the terminals                        */
    int32_t n_sets;
    /* the mutable part, shared by every matcher of this grammar: one
     * automaton (states, transitions, masks) per vocabulary (matcher.c) */
    atomic_int refs;            /* wf_grammar_ref / wf_grammar_free          */
    pthread_mutex_t amu;        /* guards autos and the automata's refs       */
    struct wf_gauto *autos;     /* the live automata, newest first            */
};

/* matcher.c: release the grammar's automata (wf_grammar_free, last ref). */
void wf_grammar_drop_autos(wf_grammar *g);

/* Grammars past these sizes are refused (hostile input). */
enum {
    WF_GRAMMAR_MAX_ELEMS = 1 << 22,
    WF_GRAMMAR_MAX_REPEAT = 100000
};

/* The trie of token bytes in preorder: node 0 is the root (the empty
 * string); node i's subtree is [i, end), its children are i + 1, then
 * end of that child, ... Tokens are sorted by their bytes (tok[]): the
 * tokens whose bytes start with node i's string are tok[lo .. hi), and the
 * first n_end of them end exactly there. */
typedef struct wf_gtrie_node {
    int32_t end;
    int32_t lo, hi;
    int32_t n_end;
    uint8_t byte;       /* the edge from the parent */
    wf_byteset below;   /* every byte on an edge inside the subtree */
} wf_gtrie_node;

/* The walk's hot fields of node i, 8 bytes (the full nodes are 60). */
typedef struct wf_gtrie_edge {
    int32_t end;
    uint8_t byte;
} wf_gtrie_edge;

struct wf_grammar_vocab {
    int32_t n_tokens;
    wf_gtrie_node *node; /* (n_node) */
    wf_gtrie_edge *edge; /* (n_node) end and byte of each node, for the walk */
    int32_t n_node;
    int32_t *tok;        /* (n_sorted) token ids in trie order */
    int32_t n_sorted;
    char *bytes;         /* every token's bytes: token i at bytes[off[i] .. off[i+1]) */
    size_t *off;         /* (n_tokens + 1) */
    uint8_t *kind;       /* (n_tokens) GV_* */
    int32_t *eog;        /* (n_eog) end-of-generation ids */
    int32_t n_eog;
    uint64_t key;        /* a hash of the contents: equal vocabularies share masks */
};

enum { GV_TEXT = 0, GV_EOG = 1, GV_NEVER = 2 };

#endif /* WF_GRAMMAR_INT_H */
