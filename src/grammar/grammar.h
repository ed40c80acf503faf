/* grammar.h — constrained decoding: GBNF grammars (llama.cpp's syntax),
 * JSON Schema and JSON mode compiled to one byte-level pushdown automaton,
 * and per-sequence matchers that say which tokens may come next.
 *
 * Three objects, each with its own lifetime:
 *   wf_grammar          a compiled grammar, reference-counted; its rules
 *                       are immutable, and it carries the caches every
 *                       matcher of it shares (parser states, transitions,
 *                       allowed-token masks per state, one set per
 *                       vocabulary), guarded by locks: any number of
 *                       matchers in any threads, request after request.
 *   wf_grammar_vocab    a token trie over a vocabulary (built once per
 *                       model, immutable, shareable).
 *   wf_grammar_matcher  one sequence's position in the grammar. Not
 *                       thread-safe itself; one per sequence / server slot.
 * A matcher holds a reference to its grammar (wf_grammar_free by the
 * creator is safe while matchers live); the vocabulary index must outlive
 * its matchers. A new matcher of a grammar used before starts with the
 * masks the earlier ones computed (bounded: 64 MB of masks per grammar and
 * vocabulary, then a fresh cache for new matchers).
 *
 * Masks are computed by walking the token trie with the parser state, with
 * byte transitions and whole masks memoized per state, never by trying each
 * token (docs/grammar.md has the algorithm and its costs). */
#ifndef WF_GRAMMAR_H
#define WF_GRAMMAR_H

#include "base/common.h"

typedef struct wf_grammar wf_grammar;
typedef struct wf_grammar_vocab wf_grammar_vocab;
typedef struct wf_grammar_matcher wf_grammar_matcher;

/* ---- compiling (gbnf.c, json_schema.c) ------------------------------------- */

/* Parse GBNF text (len bytes, any content) as llama.cpp's server accepts it;
 * the start rule is `root`. A syntax error, an undefined rule or a
 * left-recursive rule fails with WF_ERR_FORMAT and a message naming the line
 * and column ("grammar: line 3, column 7: expected ..."). */
wf_status wf_grammar_from_gbnf(const char *text, size_t len, wf_grammar **out, wf_error *err);

/* JSON Schema (text of len bytes) -> grammar for JSON text that validates
 * against it. Supported keywords: docs/grammar.md. An unsupported keyword,
 * a bad value or an unresolvable $ref fails with WF_ERR_UNSUPPORTED /
 * WF_ERR_FORMAT and a message naming it and its JSON pointer. */
wf_status wf_grammar_from_json_schema(const char *schema, size_t len, wf_grammar **out, wf_error *err);
/* The same conversion to GBNF text (malloc'd, caller frees): what
 * wf_grammar_from_json_schema compiles. */
wf_status wf_grammar_json_schema_to_gbnf(const char *schema, size_t len, char **gbnf, wf_error *err);
/* Several schemas in one grammar (e.g. a tool call whose arguments follow
 * one of several tools' schemas): add each schema (its top rule's name goes
 * to rule, cap >= 64), add rules of your own (rule names: letters, digits,
 * '-'; the names s<N>..., json-..., space are taken), then finish with the
 * body of root. The primitives json-value, json-string, space ... are
 * available to your rules (wf_gbnf_builder_use_value adds them all). */
typedef struct wf_gbnf_builder wf_gbnf_builder;
wf_status wf_gbnf_builder_create(wf_gbnf_builder **out, wf_error *err);
wf_status wf_gbnf_builder_add_schema(wf_gbnf_builder *b, const char *schema, size_t len, char *rule, size_t cap,
                                     wf_error *err);
wf_status wf_gbnf_builder_add_rule(wf_gbnf_builder *b, const char *name, const char *body, wf_error *err);
void wf_gbnf_builder_use_value(wf_gbnf_builder *b);
/* *gbnf: malloc'd text, caller frees. */
wf_status wf_gbnf_builder_finish(wf_gbnf_builder *b, const char *root_body, char **gbnf, wf_error *err);
void wf_gbnf_builder_free(wf_gbnf_builder *b);

/* JSON mode: any JSON object. */
wf_status wf_grammar_json_object(wf_grammar **out, wf_error *err);

/* Another reference (for a cache of compiled grammars): returns g. */
wf_grammar *wf_grammar_ref(wf_grammar *g);
/* Drop a reference; the last one frees the grammar and its caches. */
void wf_grammar_free(wf_grammar *g);

/* ---- a cache of compiled grammars (cache.c) ------------------------------------ */

/* Compiled grammars kept by their GBNF text for the next request with the
 * same text (a server: the same schema or forced tool call), with the masks
 * their matchers computed. At most max_entries grammars and about
 * max_bytes of their caches (masks, states); past either the least
 * recently used is dropped (requests using it keep their reference).
 * Thread-safe. */
typedef struct wf_grammar_cache wf_grammar_cache;
typedef struct wf_grammar_cache_stats {
    int64_t n_hits;    /* lookups answered by a kept grammar          */
    int64_t n_misses;  /* lookups that compiled (bad grammars not counted) */
    int64_t n_evicted; /* grammars dropped for the bounds             */
    int32_t n_entries;
    size_t bytes;      /* the kept grammars' caches                   */
} wf_grammar_cache_stats;
wf_status wf_grammar_cache_create(int32_t max_entries, size_t max_bytes, wf_grammar_cache **out, wf_error *err);
/* The grammar of GBNF text (as wf_grammar_from_gbnf; errors the same),
 * kept or compiled: a reference the caller drops with wf_grammar_free.
 * *hit (may be NULL): it was kept. */
wf_status wf_grammar_cache_get(wf_grammar_cache *c, const char *gbnf, size_t len, wf_grammar **out, bool *hit,
                               wf_error *err);
void wf_grammar_cache_get_stats(wf_grammar_cache *c, wf_grammar_cache_stats *st);
void wf_grammar_cache_free(wf_grammar_cache *c);
/* Bytes held by a grammar's shared caches (masks, states, transitions). */
size_t wf_grammar_cache_bytes(const wf_grammar *g);

/* ---- the vocabulary index (vocab.c) ------------------------------------------ */

/* Every token's bytes in a trie. Control tokens are never allowed by a
 * grammar (their text is not generated), except end-of-generation tokens,
 * allowed exactly where the grammar can end. */
wf_status wf_grammar_vocab_create(const wf_vocab *v, wf_grammar_vocab **out, wf_error *err);
/* For tests and vocabulary-less uses: n tokens with the given bytes
 * (tok[i], len[i]); eog[] (n_eog ids) end the text. */
wf_status wf_grammar_vocab_from_bytes(const char *const *tok, const size_t *len, int32_t n,
                                      const int32_t *eog, int32_t n_eog, wf_grammar_vocab **out, wf_error *err);
void wf_grammar_vocab_free(wf_grammar_vocab *gv);
int32_t wf_grammar_vocab_n_tokens(const wf_grammar_vocab *gv);

/* ---- matching (matcher.c) ------------------------------------------------------ */

wf_status wf_grammar_matcher_create(const wf_grammar *g, const wf_grammar_vocab *gv, wf_grammar_matcher **out,
                                    wf_error *err);
/* An independent copy at the same position (sharing the grammar's caches). */
wf_status wf_grammar_matcher_clone(const wf_grammar_matcher *m, wf_grammar_matcher **out, wf_error *err);
void wf_grammar_matcher_free(wf_grammar_matcher *m);
/* Back to the start of the grammar. */
void wf_grammar_matcher_reset(wf_grammar_matcher *m);

/* Advance by one token. Returns false (position unchanged) when the grammar
 * does not allow it. An end-of-generation token is accepted where the
 * grammar can end and moves the matcher to its final state. */
bool wf_grammar_matcher_accept_token(wf_grammar_matcher *m, int32_t tok);
/* Advance by raw bytes (e.g. a forced prefix); false (unchanged) if rejected. */
bool wf_grammar_matcher_accept_bytes(wf_grammar_matcher *m, const char *s, size_t n);
/* How many of toks[0..n) the grammar accepts in a row from here, without
 * moving (a speculative draft is cut at the first rejected token). */
int32_t wf_grammar_matcher_check(wf_grammar_matcher *m, const int32_t *toks, int32_t n);
/* A position to come back to (a speculative draft walked ahead and
 * rejected): valid for this matcher until it is freed. Cheap: states are
 * interned, so both calls are O(1) and the caches stay warm. */
int32_t wf_grammar_matcher_pos(const wf_grammar_matcher *m);
void wf_grammar_matcher_rewind(wf_grammar_matcher *m, int32_t pos);
/* The text so far is a complete sentence of the grammar. */
bool wf_grammar_matcher_can_end(const wf_grammar_matcher *m);
/* Nothing but the end can follow (the answer is complete). */
bool wf_grammar_matcher_done(const wf_grammar_matcher *m);

/* Whether token tok may come next, without moving: one bit of the cached
 * mask when this state has one, else a walk of tok's bytes (no mask is
 * built: for testing the few best tokens of a distribution). */
bool wf_grammar_matcher_allowed(wf_grammar_matcher *m, int32_t tok);
/* The mask of the current state if some matcher of this grammar computed
 * it already (valid as wf_grammar_matcher_mask's), else NULL; builds nothing. */
const uint32_t *wf_grammar_matcher_cached_mask(wf_grammar_matcher *m);
/* The tokens allowed next: a bitset of n_tokens bits (bit i of word i/32),
 * valid until the matcher next moves or is freed. NULL only when out of
 * memory (then wf_grammar_matcher_error says so). */
const uint32_t *wf_grammar_matcher_mask(wf_grammar_matcher *m);
/* Set logits[i] = -INFINITY for every token not allowed (logits: n_tokens
 * floats). Returns false when out of memory (logits unchanged). */
bool wf_grammar_matcher_apply(wf_grammar_matcher *m, float *logits);
/* The first failure of the matcher (allocation, or a grammar whose parse
 * state grew past the limits), or NULL. After one, nothing is allowed (for
 * every matcher sharing the failed cache; new matchers start a fresh one). */
const char *wf_grammar_matcher_error(const wf_grammar_matcher *m);

/* Counters for benchmarks and tests. */
typedef struct wf_grammar_stats {
    int64_t n_masks;        /* masks asked for                        */
    int64_t n_mask_hits;    /* ... answered from the per-state cache (computed
                             * by this matcher or any other of the grammar) */
    int64_t n_trie_nodes;   /* trie nodes visited computing masks     */
    int64_t n_states;       /* distinct parser states of the automaton (shared) */
    int64_t n_cached_masks; /* masks the shared automaton holds        */
    double t_mask;          /* seconds spent in wf_grammar_matcher_mask */
} wf_grammar_stats;
void wf_grammar_matcher_stats(const wf_grammar_matcher *m, wf_grammar_stats *st);

#endif /* WF_GRAMMAR_H */
