/* schema_walk.c — random sentences of a JSON Schema's grammar, and which
 * given texts the grammar accepts, for test_schema_exact.py to check with
 * an independent validator (python3-jsonschema).
 *
 *   schema_walk SCHEMA_FILE SEED N   N random sentences, one a line (a
 *                                     byte-level random walk: every allowed
 *                                     byte equally likely, the end taken
 *                                     with probability 1/4 where allowed);
 *                                     "ERROR <message>" when the schema is
 *                                     refused
 *   schema_walk --check SCHEMA_FILE  for each line of stdin: 1 if the
 *                                     grammar accepts it whole, else 0 */
#include "grammar/grammar.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_LEN = 400 };

static char *slurp(FILE *f, size_t *n) {
    size_t cap = 4096, len = 0;
    char *p = malloc(cap);
    for (size_t k; p && (k = fread(p + len, 1, cap - len - 1, f)) > 0;) {
        len += k;
        if (len + 1 == cap) {
            char *q = realloc(p, cap *= 2);
            if (!q) free(p);
            p = q;
        }
    }
    if (p) p[len] = 0;
    *n = len;
    return p;
}

static uint64_t next(uint64_t *s) { /* splitmix64 */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

int main(int argc, char **argv) {
    bool check = argc == 3 && !strcmp(argv[1], "--check");
    if (!check && argc != 4) {
        fprintf(stderr, "usage: schema_walk SCHEMA_FILE SEED N | --check SCHEMA_FILE\n");
        return 2;
    }
    FILE *f = fopen(argv[check ? 2 : 1], "rb");
    if (!f) return perror(argv[1]), 2;
    size_t n;
    char *schema = slurp(f, &n);
    fclose(f);
    if (!schema) return 2;
    wf_error err;
    wf_grammar *g = NULL;
    if (wf_grammar_from_json_schema(schema, n, &g, &err) != WF_OK) {
        printf("ERROR %s\n", err.msg);
        free(schema);
        return 0;
    }
    /* the vocabulary: the 256 bytes, and an end token */
    static char bytes[256];
    const char *tok[257];
    size_t len[257];
    for (int i = 0; i < 256; i++) bytes[i] = (char)i, tok[i] = &bytes[i], len[i] = 1;
    tok[256] = "<end>", len[256] = 5;
    int32_t eog = 256;
    wf_grammar_vocab *gv = NULL;
    wf_grammar_matcher *m = NULL;
    if (wf_grammar_vocab_from_bytes(tok, len, 257, &eog, 1, &gv, &err) != WF_OK ||
        wf_grammar_matcher_create(g, gv, &m, &err) != WF_OK) {
        fprintf(stderr, "schema_walk: %s\n", err.msg);
        return 1;
    }
    if (check) {
        char line[8192];
        while (fgets(line, sizeof line, stdin)) {
            size_t k = strcspn(line, "\n");
            wf_grammar_matcher_reset(m);
            printf("%d\n", wf_grammar_matcher_accept_bytes(m, line, k) && wf_grammar_matcher_can_end(m));
        }
    } else {
        uint64_t rng = strtoull(argv[2], NULL, 10);
        long want = atol(argv[3]), got = 0;
        char out[MAX_LEN + 1];
        for (long tries = 0; got < want && tries < want * 50; tries++) {
            wf_grammar_matcher_reset(m);
            size_t k = 0;
            bool ended = false;
            while (k < MAX_LEN) {
                const uint32_t *mask = wf_grammar_matcher_mask(m);
                if (!mask) break;
                if (wf_grammar_matcher_can_end(m) && (next(&rng) % 4 == 0 || !(mask[0] | mask[1] | mask[2] | mask[3] | mask[4] |
                                                                                 mask[5] | mask[6] | mask[7]))) {
                    ended = true;
                    break;
                }
                int allowed[256], na = 0;
                for (int b = 0; b < 256; b++)
                    if ((mask[b >> 5] >> (b & 31)) & 1u) allowed[na++] = b;
                if (!na) break;
                int b = allowed[next(&rng) % (uint64_t)na];
                out[k++] = (char)b;
                if (!wf_grammar_matcher_accept_token(m, b)) break;
            }
            if (!ended) continue;
            fwrite(out, 1, k, stdout);
            putchar('\n');
            got++;
        }
    }
    wf_grammar_matcher_free(m);
    wf_grammar_vocab_free(gv);
    wf_grammar_free(g);
    free(schema);
    return 0;
}
