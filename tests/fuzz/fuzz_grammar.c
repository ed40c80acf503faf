/* fuzz_grammar.c — fuzzing the GBNF parser, the JSON Schema converter and
 * the matcher built from whatever compiles.
 *
 * LLVMFuzzerTestOneInput: the first byte picks GBNF or JSON Schema, the rest
 * is the text. A text that compiles gets a matcher over a small byte
 * vocabulary; a few masks are taken and random allowed tokens accepted (every
 * allowed token must be accepted; nothing may crash, leak or hang). A text
 * that fails must leave a message.
 *
 * As a ctest (fuzz_grammar, fuzz_grammar_san under ASan+UBSan) the driver
 * below runs N inputs (argv[1]): random grammars and schemas assembled from
 * syntax fragments, plus byte mutations (flips, insertions, truncations,
 * splices) of seed texts. With clang, build as a libFuzzer target:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -DWF_LIBFUZZER -Iinclude -Isrc -Itests/common \
 *     tests/fuzz/fuzz_grammar.c src/grammar/[a-z]*.c src/text/[a-z]*.c src/format/[a-z]*.c src/base/[a-z]*.c \
 *     $(pkg-config --cflags --libs jansson libpcre2-8 libutf8proc) -lm
 *   ./a.out -max_total_time=600 */
#include "grammar/grammar.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static wf_grammar_vocab *g_vocab;
static long n_ok[2], n_total[2];

static void init_vocab(void) {
    if (g_vocab) return;
    static const char *const extra[] = {"\"", "{\"", "\":", "ab", "true", "12", "\xc3\xa9", "\xc3", "<eos>", "]", ", "};
    enum { N = 256 + sizeof extra / sizeof extra[0] };
    static char bytes[256];
    const char *tok[N];
    size_t len[N];
    for (int i = 0; i < 256; i++) bytes[i] = (char)i, tok[i] = &bytes[i], len[i] = 1;
    for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++) tok[256 + i] = extra[i], len[256 + i] = strlen(extra[i]);
    int32_t eog = 256 + 8;
    if (wf_grammar_vocab_from_bytes(tok, len, N, &eog, 1, &g_vocab, NULL) != WF_OK) abort();
}

static void exercise(const wf_grammar *g, uint64_t seed) {
    wf_grammar_matcher *m;
    if (wf_grammar_matcher_create(g, g_vocab, &m, NULL) != WF_OK) return;
    const int32_t n = wf_grammar_vocab_n_tokens(g_vocab);
    t_rng r = {seed | 1};
    for (int step = 0; step < 12; step++) {
        const uint32_t *mask = wf_grammar_matcher_mask(m);
        if (!mask) {
            if (!wf_grammar_matcher_error(m)) abort(); /* NULL only with a reason */
            break;
        }
        int32_t cand[8], nc = 0;
        for (int32_t t = (int32_t)(t_next(&r) % (uint64_t)n), k = 0; k < n && nc < 8; k++, t = (t + 1) % n)
            if ((mask[t >> 5] >> (t & 31)) & 1u) cand[nc++] = t;
        if (nc == 0) break;
        int32_t pick = cand[t_next(&r) % (uint64_t)nc];
        if (!wf_grammar_matcher_accept_token(m, pick)) abort(); /* the mask said yes */
    }
    wf_grammar_matcher_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    init_vocab();
    if (size < 1) return 0;
    const int kind = data[0] & 1;
    const char *text = (const char *)data + 1;
    size_t n = size - 1;
    wf_grammar *g = NULL;
    wf_error err;
    err.msg[0] = 0;
    wf_status st = kind ? wf_grammar_from_json_schema(text, n, &g, &err) : wf_grammar_from_gbnf(text, n, &g, &err);
    n_total[kind]++;
    if (st == WF_OK) {
        if (!g) abort();
        n_ok[kind]++;
        exercise(g, size * 31 + data[size - 1]);
        wf_grammar_free(g);
    } else if (!err.msg[0] || g) {
        abort(); /* a failure always says why and returns nothing */
    }
    return 0;
}

#ifndef WF_LIBFUZZER
static const char *const gbnf_seeds[] = {
    "root ::= \"{\" ws (kv (\",\" ws kv)*)? \"}\"\nkv ::= str \":\" ws val\nval ::= str | [0-9]+ | root\nstr ::= \"\\\"\" [^\"\\\\]* \"\\\"\"\nws ::= \" \"?\n",
    "root ::= (expr \"=\" ws term \"\\n\")+\nexpr ::= term ([-+*/] term)*\nterm ::= [a-z]+ ws | [0-9]+ ws | \"(\" ws expr \")\" ws\nws ::= [ \\t\\n]*\n",
    "root ::= item+\nitem ::= \"- \" [^\\r\\n\\x0b\\x0c\\x85\\u2028\\u2029]+ \"\\n\"\n",
    "root ::= [\\u3041-\\u309F]{1,3} (\" \" .)? \"x\"{2,} | \"a\"? # c\n",
};
static const char *const schema_seeds[] = {
    "{\"type\": \"object\", \"properties\": {\"a\": {\"type\": \"string\", \"pattern\": \"^[a-z]+(-[0-9]{2})?$\"}, \"b\": {\"type\": \"array\", \"items\": {\"type\": \"integer\", \"minimum\": -5, \"maximum\": 300}, \"maxItems\": 3}}, \"required\": [\"a\"], \"additionalProperties\": {\"type\": \"boolean\"}}",
    "{\"$defs\": {\"n\": {\"anyOf\": [{\"type\": \"null\"}, {\"type\": \"object\", \"properties\": {\"next\": {\"$ref\": \"#/$defs/n\"}}}]}}, \"$ref\": \"#/$defs/n\"}",
    "{\"type\": [\"string\", \"null\"], \"enum\": [\"x\", null, 1], \"format\": \"date\"}",
    "{\"type\": \"array\", \"prefixItems\": [{\"const\": 1}, {\"type\": \"string\", \"minLength\": 1, \"maxLength\": 2}], \"minItems\": 1}",
    "{\"type\": \"number\", \"exclusiveMinimum\": -2.5, \"maximum\": 10.125}",
    "{\"oneOf\": [{\"type\": \"object\", \"properties\": {\"k\": {\"const\": \"a\"}}, \"required\": [\"k\"]}, {\"enum\": [1, 2.5]}, {\"$ref\": \"#/$defs/s\"}], \"$defs\": {\"s\": {\"type\": \"string\"}}}",
};
static const char *const gbnf_frags[] = {
    "root", " ::= ", "\"a\"", "\"\\\"\"", "[a-z]", "[^\"]", ".", "*", "+", "?", "{2}", "{1,3}", "{0,}", "(", ")", " | ", "\n",
    "x", " x ::= ", "\"\xc3\xa9\"", "[\\u00e0-\\u00ff]", "# c\n", "\\", "\"", "[", "]", " ", "root ::= x\n", "::=", "{", "}"};
static const char *const schema_frags[] = {
    "{", "}", "[", "]", ",", ":", "\"type\"", "\"object\"", "\"string\"", "\"integer\"", "\"array\"", "\"properties\"",
    "\"required\"", "\"items\"", "\"enum\"", "\"anyOf\"", "\"$ref\"", "\"#/$defs/a\"", "\"$defs\"", "\"a\"", "\"pattern\"",
    "\"^(a|b)+$\"", "\"minimum\"", "\"maximum\"", "-3", "7", "1e400", "true", "false", "null", "\"minItems\"", "2",
    "\"additionalProperties\"", "\"format\"", "\"date\"", "\"const\"", "\"nullable\"", "\"prefixItems\"", "\"oneOf\"",
    "\"number\"", "\"exclusiveMinimum\"", "\"exclusiveMaximum\"", "0.1", "-0.75", "123456.789", "0.1234567890123456"};

static size_t rnd(t_rng *g, size_t n) { return n ? (size_t)(t_next(g) % n) : 0; }

static size_t assemble(t_rng *g, uint8_t *buf, size_t cap, int kind) {
    const char *const *fr = kind ? schema_frags : gbnf_frags;
    size_t nf = kind ? sizeof schema_frags / sizeof *schema_frags : sizeof gbnf_frags / sizeof *gbnf_frags;
    size_t n = 1;
    buf[0] = (uint8_t)kind;
    if (!kind) {
        memcpy(buf + 1, "root ::= ", 9);
        n = 10;
    }
    size_t parts = 1 + rnd(g, 30);
    for (size_t i = 0; i < parts; i++) {
        const char *f = fr[rnd(g, nf)];
        size_t l = strlen(f);
        if (n + l >= cap) break;
        memcpy(buf + n, f, l);
        n += l;
    }
    return n;
}

static size_t mutate(t_rng *g, uint8_t *buf, size_t n, size_t cap) {
    int edits = 1 + (int)rnd(g, 6);
    for (int e = 0; e < edits; e++) {
        switch (rnd(g, 5)) {
        case 0: if (n > 1) buf[1 + rnd(g, n - 1)] ^= (uint8_t)(1u << rnd(g, 8)); break;
        case 1: if (n > 1) buf[1 + rnd(g, n - 1)] = (uint8_t)rnd(g, 256); break;
        case 2: if (n > 2) n = 1 + rnd(g, n - 1); break; /* truncate */
        case 3: { /* insert a fragment */
            const char *f = buf[0] & 1 ? schema_frags[rnd(g, sizeof schema_frags / sizeof *schema_frags)]
                                       : gbnf_frags[rnd(g, sizeof gbnf_frags / sizeof *gbnf_frags)];
            size_t l = strlen(f), at = 1 + rnd(g, n);
            if (n + l >= cap) break;
            memmove(buf + at + l, buf + at, n - at);
            memcpy(buf + at, f, l);
            n += l;
            break;
        }
        default: { /* duplicate a span */
            if (n < 3) break;
            size_t a = 1 + rnd(g, n - 1), l = 1 + rnd(g, n - a);
            if (n + l >= cap) break;
            memmove(buf + a + l, buf + a, n - a);
            n += l;
            break;
        }
        }
    }
    return n;
}

int main(int argc, char **argv) {
    long iters = argc > 1 ? atol(argv[1]) : 2000;
    t_rng g = {0x9e3779b97f4a7c15ull};
    static uint8_t buf[8192];
    for (long it = 0; it < iters; it++) {
        size_t n;
        int kind = (int)(it & 1);
        if (it % 3 == 0) {
            n = assemble(&g, buf, sizeof buf, kind);
        } else {
            const char *s = kind ? schema_seeds[rnd(&g, 4)] : gbnf_seeds[rnd(&g, 4)];
            buf[0] = (uint8_t)kind;
            n = 1 + strlen(s);
            memcpy(buf + 1, s, n - 1);
            if (it % 7) n = mutate(&g, buf, n, sizeof buf);
        }
        LLVMFuzzerTestOneInput(buf, n);
    }
    wf_grammar_vocab_free(g_vocab);
    printf("fuzz_grammar: %ld inputs; GBNF %ld/%ld compiled, JSON Schema %ld/%ld compiled\n", iters, n_ok[0], n_total[0], n_ok[1],
           n_total[1]);
    if (n_ok[0] == 0 || n_ok[1] == 0) {
        printf("fuzz_grammar: FAIL: nothing compiled (the driver is not reaching the matcher)\n");
        return 1;
    }
    return 0;
}
#endif
