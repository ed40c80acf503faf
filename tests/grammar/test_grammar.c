/* test_grammar.c — the grammar engine: GBNF accept/reject cases for every
 * construct, parse errors with line and column, llama.cpp's example
 * grammars, JSON Schema conversion, allowed-token masks checked against a
 * brute-force reference (every token tried on its own) on random walks, and
 * the caches shared across matchers, threads and requests (the automaton a
 * grammar carries, wf_grammar_cache). */
#include "grammar/grammar.h"
#include "testutil.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a byte-level vocabulary: the 256 bytes, some multi-byte tokens, EOG ---- */

static const char *const k_extra[] = {
    "\"", "\",", "\": ", "{\"", "\"}", "true", "false", "null", "ab", "abc", "bc", "12", "345", " \"", "\n",
    "\\n", "\\\"", "é", "\xc3", "\xa9", "日本", "本", "-", "--", "::", "()", "))", "((", "x", "xy", "xyz",
    "name", "\"name", "name\"", "\": \"", "\"}\n", "[", "]", "],", "[\"", "0", "00", "01", "1.5", "e+",
    "int ", "main", "(){", "return 0;", "}", "- item", "\n- ", "=", " = ", "+", "a+b"};
enum { N_EXTRA = sizeof k_extra / sizeof k_extra[0] };

typedef struct tvocab {
    wf_grammar_vocab *gv;
    char *tok[256 + N_EXTRA + 1];
    size_t len[256 + N_EXTRA + 1];
    int32_t n, eog;
} tvocab;

static void tvocab_init(tvocab *v) {
    static char bytes[256];
    v->n = 0;
    for (int i = 0; i < 256; i++) {
        bytes[i] = (char)i;
        v->tok[v->n] = &bytes[i];
        v->len[v->n++] = 1;
    }
    for (int i = 0; i < N_EXTRA; i++) {
        v->tok[v->n] = (char *)k_extra[i];
        v->len[v->n++] = strlen(k_extra[i]);
    }
    v->eog = v->n;
    v->tok[v->n] = "<eos>";
    v->len[v->n++] = 5;
    wf_error err;
    wf_status st = wf_grammar_vocab_from_bytes((const char *const *)v->tok, v->len, v->n, &v->eog, 1, &v->gv, &err);
    if (st != WF_OK) {
        fprintf(stderr, "vocab: %s\n", err.msg);
        exit(1);
    }
}

static tvocab V;

/* Whether grammar g accepts the whole of s. */
static bool accepts(const wf_grammar *g, const char *s, size_t n) {
    wf_grammar_matcher *m;
    if (wf_grammar_matcher_create(g, V.gv, &m, NULL) != WF_OK) return false;
    bool ok = wf_grammar_matcher_accept_bytes(m, s, n) && wf_grammar_matcher_can_end(m);
    wf_grammar_matcher_free(m);
    return ok;
}

static wf_grammar *compile(const char *gbnf) {
    wf_grammar *g = NULL;
    wf_error err;
    if (wf_grammar_from_gbnf(gbnf, strlen(gbnf), &g, &err) != WF_OK) {
        fprintf(stderr, "grammar does not compile: %s\n%s\n", err.msg, gbnf);
        return NULL;
    }
    return g;
}

typedef struct gcase {
    const char *gbnf;
    const char *const yes[6];
    const char *const no[6];
} gcase;

static const gcase k_cases[] = {
    {"root ::= \"abc\"", {"abc"}, {"", "ab", "abcd", "abd"}},
    {"root ::= [a-c]", {"a", "b", "c"}, {"d", "", "ab", "`"}},
    {"root ::= [^a-c]", {"d", "z", "\xc3\xa9", "\n"}, {"a", "c", "", "dd"}},
    {"root ::= [abx-z]+", {"a", "bxyz", "zzz"}, {"", "c", "aw"}},
    {"root ::= .", {"a", "\n", "\xc3\xa9", "\xe6\x97\xa5", "\xf0\x9f\x98\x80"}, {"", "ab", "\xc3", "\xff", "\xed\xa0\x80"}},
    {"root ::= \"a\" | \"b\" | \"cd\"", {"a", "b", "cd"}, {"c", "ab", ""}},
    {"root ::= \"a\"*", {"", "a", "aaaa"}, {"b", "ab"}},
    {"root ::= \"ab\"+", {"ab", "abab"}, {"", "a", "aba"}},
    {"root ::= \"a\"? \"b\"", {"b", "ab"}, {"aab", "a", ""}},
    {"root ::= \"a\"{3}", {"aaa"}, {"aa", "aaaa"}},
    {"root ::= \"a\"{2,}", {"aa", "aaaaaa"}, {"a", ""}},
    {"root ::= \"a\"{1,3} \"b\"", {"ab", "aab", "aaab"}, {"b", "aaaab"}},
    {"root ::= [0-9]{0,2}", {"", "1", "12"}, {"123", "a"}},
    {"root ::= (\"x\" | \"y\")+ \"!\"", {"x!", "xyyx!"}, {"!", "xz!"}},
    {"root ::= (\"(\" root \")\")*", {"", "()", "(())()", "((()))"}, {"(", "())", ")("}},
    {"root ::= item (\",\" item)*\nitem ::= [a-z]+", {"a", "ab,c,def"}, {"", "a,", ",a", "a,,b"}},
    {"root ::= \"\\x41\\u00e9\\U0001F600\\t\\n\\\\\\\"\"", {"A\xc3\xa9\xf0\x9f\x98\x80\t\n\\\""}, {"A"}},
    {"root ::= \"\xc3\xa9t\xc3\xa9\"", {"\xc3\xa9t\xc3\xa9"}, {"ete", "\xc3\xa9t"}},
    {"root ::= [\xc3\xa0-\xc3\xbf]+", {"\xc3\xa0", "\xc3\xa9\xc3\xbf"}, {"a", "\xc3\x9f", "\xc4\x80"}},
    {"root ::= [\\u3041-\\u309F\\u4E00-\\u9FFF]+", {"\xe6\x97\xa5\xe6\x9c\xac", "\xe3\x81\x82"}, {"a", "\xe3\x83\xbc"}},
    {"# a comment\nroot ::= a b # trailing\n\na ::= \"a\" # x\nb ::= \"b\"", {"ab"}, {"a", "ba"}},
    {"root ::= \"a\" |\n  \"b\" |\n  \"c\"", {"a", "b", "c"}, {"d"}},
    {"root ::= (\n  \"a\"\n  \"b\"\n)", {"ab"}, {"a"}},
    {"root ::= \"a\" | ", {"a", ""}, {"b"}},
    {"root ::= rule-with-dash\nrule-with-dash ::= under_score\nunder_score ::= \"ok\"", {"ok"}, {"o"}},
    {"root ::= [\\]\\[\\-]+", {"]", "[-]"}, {"a"}},
    {"root ::= [-a]", {"-", "a"}, {"b"}},
    {"root ::= \"\"", {""}, {"a"}},
    {"root ::= (\"a\" \"b\"?){2}", {"aa", "abab", "aba"}, {"a", "abb"}},
    {"root ::= [^\"\\\\]*", {"", "abc", "\xc3\xa9"}, {"\"", "a\\"}},
    {"root ::= x x\nx ::= \"a\"?", {"", "a", "aa"}, {"aaa"}},
};

static void test_cases(void) {
    for (size_t k = 0; k < sizeof k_cases / sizeof k_cases[0]; k++) {
        const gcase *c = &k_cases[k];
        wf_grammar *g = compile(c->gbnf);
        CHECK(g != NULL, "case %zu compiles", k);
        if (!g) continue;
        for (int i = 0; i < 6 && c->yes[i]; i++)
            CHECK(accepts(g, c->yes[i], strlen(c->yes[i])), "case %zu (%s) accepts '%s'", k, c->gbnf, c->yes[i]);
        for (int i = 0; i < 6 && c->no[i]; i++)
            CHECK(!accepts(g, c->no[i], strlen(c->no[i])), "case %zu (%s) rejects '%s'", k, c->gbnf, c->no[i]);
        wf_grammar_free(g);
    }
}

typedef struct ecase {
    const char *gbnf;
    const char *want; /* substring of the message: "line L, column C: ..." */
} ecase;

static const ecase k_errors[] = {
    {"root ::= foo", "line 1, column 10: undefined rule 'foo'"},
    {"root := \"a\"", "line 1, column 6: expected '::='"},
    {"root ::= \"abc", "line 1, column 10: unterminated literal"},
    {"root ::= \"a\\q\"", "line 1, column 12: unknown escape"},
    {"root ::= [abc", "line 1, column 10: unterminated character class"},
    {"root ::= \"a\"\nroot ::= \"b\"", "line 2, column 1: rule 'root' is defined twice"},
    {"foo ::= \"a\"", "no 'root' rule"},
    {"root ::= expr\nexpr ::= expr \"+\" \"1\" | \"1\"", "line 2, column 1: rule 'expr' is left-recursive"},
    {"root ::= (\"a\"?)*", "left-recursive"},
    {"root ::= (\"a\"", "line 1, column 14: expected ')'"},
    {"root ::= \"a\" )", "line 1, column 14: unexpected ')'"},
    {"root ::= * \"a\"", "line 1, column 10: '*' with nothing before it"},
    {"root ::= \"a\"{3,1}", "maximum is below the minimum"},
    {"root ::= \"a\"{1000000}", "repetition count above"},
    {"root ::= <think>", "token references"},
    {"\n\nroot ::= \"a\" \"b\" $", "line 3, column 18: unexpected '$'"},
    {"root ::= [z-a]", "reversed"},
    {"root ::= \"\\x4\"", "expected 2 hex digits"},
    {"root ::= \"\xff\"", "invalid UTF-8"},
};

static void test_errors(void) {
    for (size_t k = 0; k < sizeof k_errors / sizeof k_errors[0]; k++) {
        wf_grammar *g = NULL;
        wf_error err;
        memset(&err, 0, sizeof err);
        wf_status st = wf_grammar_from_gbnf(k_errors[k].gbnf, strlen(k_errors[k].gbnf), &g, &err);
        CHECK(st == WF_ERR_FORMAT && !g, "error case %zu fails (status %d)", k, st);
        CHECK(strstr(err.msg, k_errors[k].want) != NULL, "error case %zu: message '%s' should contain '%s'", k, err.msg,
              k_errors[k].want);
        wf_grammar_free(g);
    }
}

/* ---- masks against the brute-force reference ----------------------------------- */

static int g_mask_mismatch = 0;

/* Walk n_steps tokens from the grammar's start, at each step comparing the
 * mask with every token tried alone, then taking a random allowed token. */
static void random_walk(const wf_grammar *g, uint64_t seed, int n_steps, int *ended) {
    wf_grammar_matcher *m;
    if (wf_grammar_matcher_create(g, V.gv, &m, NULL) != WF_OK) {
        CHECK(0, "matcher");
        return;
    }
    t_rng r = {seed * 2654435761u + 1};
    int32_t *allowed = malloc((size_t)V.n * sizeof *allowed);
    for (int step = 0; step < n_steps; step++) {
        const uint32_t *mask = wf_grammar_matcher_mask(m);
        CHECK(mask != NULL, "mask");
        if (!mask) break;
        int32_t na = 0;
        for (int32_t t = 0; t < V.n; t++) {
            bool bit = (mask[t >> 5] >> (t & 31)) & 1u;
            bool ref = wf_grammar_matcher_check(m, &t, 1) == 1;
            if (bit != ref && g_mask_mismatch++ < 10)
                CHECK(0, "mask bit of token %d (%.*s) is %d, trying it says %d (step %d)", t, (int)V.len[t], V.tok[t], bit, ref, step);
            if (bit) allowed[na++] = t;
        }
        if (na == 0) break;
        int32_t pick = allowed[t_next(&r) % (uint64_t)na];
        /* prefer ending late: skip EOG while other tokens exist, mostly */
        if (pick == V.eog && na > 1 && step < n_steps / 2) pick = allowed[(t_next(&r) % (uint64_t)(na - 1))];
        if (pick == V.eog) pick = allowed[0] == V.eog && na > 1 ? allowed[1] : pick;
        CHECK(wf_grammar_matcher_accept_token(m, pick), "an allowed token is accepted");
        if (pick == V.eog) {
            (*ended)++;
            CHECK(wf_grammar_matcher_done(m), "done after EOG");
            break;
        }
    }
    free(allowed);
    wf_grammar_matcher_free(m);
}

static void test_masks(void) {
    const char *const gs[] = {
        "root ::= \"{\" ws (kv (\",\" ws kv)*)? \"}\"\nkv ::= str \":\" ws val\nval ::= str | [0-9]+ | \"true\" | root\nstr ::= \"\\\"\" ([^\"\\\\] | \"\\\\\" [\"n])* \"\\\"\" ws\nws ::= \" \"?",
        "root ::= (\"ab\" | \"abc\" | \"x\"+ \"yz\")+",
        "root ::= [^a]* \"a\"",
        "root ::= \"\xc3\xa9\"+ | \"\xe6\x97\xa5\xe6\x9c\xac\"",
        "root ::= (\"(\" root \")\")* \"x\"?",
        "root ::= [0-9]{1,3} (\".\" [0-9]+)?",
    };
    for (size_t k = 0; k < sizeof gs / sizeof gs[0]; k++) {
        wf_grammar *g = compile(gs[k]);
        CHECK(g != NULL, "mask grammar %zu", k);
        if (!g) continue;
        int ended = 0;
        for (uint64_t seed = 1; seed <= 12; seed++) random_walk(g, seed + k * 100, 40, &ended);
        wf_grammar_free(g);
    }
}

/* Clone, check and EOG semantics. */
static void test_matcher_api(void) {
    wf_grammar *g = compile("root ::= \"ab\" \"c\"?");
    wf_grammar_matcher *m, *c;
    CHECK(wf_grammar_matcher_create(g, V.gv, &m, NULL) == WF_OK, "create");
    int32_t ab = 256 + 8, abc = 256 + 9, c_tok = 'c', eog = V.eog;
    CHECK(!wf_grammar_matcher_accept_token(m, eog), "no EOG at the start");
    int32_t seq[] = {'a', 'b', 'c', 'c'};
    CHECK(wf_grammar_matcher_check(m, seq, 4) == 3, "check counts the accepted run");
    CHECK(wf_grammar_matcher_accept_token(m, ab), "ab");
    CHECK(wf_grammar_matcher_can_end(m) && !wf_grammar_matcher_done(m), "can end after ab, c still possible");
    CHECK(wf_grammar_matcher_clone(m, &c, NULL) == WF_OK, "clone");
    CHECK(wf_grammar_matcher_accept_token(c, c_tok) && wf_grammar_matcher_done(c), "clone takes c and is done");
    CHECK(!wf_grammar_matcher_accept_token(c, c_tok), "nothing after done but EOG");
    CHECK(wf_grammar_matcher_accept_token(c, eog), "EOG when done");
    const uint32_t *mk = wf_grammar_matcher_mask(c);
    int any = 0;
    for (int32_t t = 0; t < V.n; t++) any += (mk[t >> 5] >> (t & 31)) & 1u;
    CHECK(any == 0, "nothing allowed after EOG (%d)", any);
    CHECK(!wf_grammar_matcher_done(m) && wf_grammar_matcher_can_end(m), "the original did not move");
    CHECK(!wf_grammar_matcher_accept_token(m, abc), "abc refused after ab");
    float logits[512];
    for (int i = 0; i < V.n; i++) logits[i] = 1.0f;
    CHECK(wf_grammar_matcher_apply(m, logits), "apply");
    CHECK(logits['c'] == 1.0f && logits[eog] == 1.0f && logits['a'] < -1e30f, "apply masks what is not allowed");
    wf_grammar_matcher_reset(m);
    CHECK(wf_grammar_matcher_accept_token(m, abc) && wf_grammar_matcher_done(m), "after reset abc in one token");
    wf_grammar_stats st;
    wf_grammar_matcher_stats(m, &st);
    CHECK(st.n_masks >= 1, "stats count masks");
    wf_grammar_matcher_free(m);
    wf_grammar_matcher_free(c);
    wf_grammar_free(g);
}

/* ---- llama.cpp example grammars (tests/grammar/) ------------------------------ */

static char *read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)sz + 1);
    if (b && fread(b, 1, (size_t)sz, f) != (size_t)sz) sz = 0;
    fclose(f);
    if (b) b[sz] = 0;
    *n = (size_t)sz;
    return b;
}

typedef struct filecase {
    const char *file;
    const char *const yes[4];
    const char *const no[4];
} filecase;

static const filecase k_files[] = {
    {"json.gbnf", {"{}", "{\"a\": [1, 2.5e3, \"x\\n\", true, null]}", "{\n  \"k\": {\"n\": -0.5}}"}, {"[]", "{\"a\" 1}", "{\"a\": 01}", "{'a': 1}"}},
    {"json_arr.gbnf", {"[\n]", "[\n{\"a\": 1},\n{}]"}, {"{}", "[1]"}},
    {"arithmetic.gbnf", {"1+2=3\n", "(a*b)/c= x\n"}, {"1+2", "=3\n", "1+=3\n"}},
    {"list.gbnf", {"- milk\n", "- eggs\n- bread\n"}, {"milk\n", "- \n", "- a"}},
    {"c.gbnf", {"int main(){return 0;}", "int f(int x){x = x+1;while(x<3){x = x*2;}return x;}"}, {"main(){}", "int main(){return;}"}},
    {"chess.gbnf", {"1. e4 e5\n2. Nf3 Nc6\n3. Bb5 a6\n", "1. d4 d5\n2. O-O Qxd8#\n"}, {"1. e9 e5\n2. a3 a4\n", "e4 e5", "1. e4 e5\n"}},
    {"japanese.gbnf", {"\xe6\x97\xa5\xe6\x9c\xac\xe3\x81\xae\xe6\x96\x87"}, {"abc"}},
};

static void test_files(void) {
    const char *src = getenv("WAFER_SRC");
    if (!src) src = ".";
    for (size_t k = 0; k < sizeof k_files / sizeof k_files[0]; k++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/tests/grammar/%s", src, k_files[k].file);
        size_t n;
        char *text = read_file(path, &n);
        CHECK(text != NULL, "read %s", path);
        if (!text) continue;
        wf_grammar *g = NULL;
        wf_error err;
        wf_status st = wf_grammar_from_gbnf(text, n, &g, &err);
        CHECK(st == WF_OK, "%s parses: %s", k_files[k].file, st == WF_OK ? "" : err.msg);
        for (int i = 0; g && i < 4 && k_files[k].yes[i]; i++)
            CHECK(accepts(g, k_files[k].yes[i], strlen(k_files[k].yes[i])), "%s accepts '%s'", k_files[k].file, k_files[k].yes[i]);
        for (int i = 0; g && i < 4 && k_files[k].no[i]; i++)
            CHECK(!accepts(g, k_files[k].no[i], strlen(k_files[k].no[i])), "%s rejects '%s'", k_files[k].file, k_files[k].no[i]);
        if (g) { /* and constrains: masks agree with the reference on walks */
            int ended = 0;
            for (uint64_t seed = 1; seed <= 3; seed++) random_walk(g, seed * 7 + k, 30, &ended);
        }
        wf_grammar_free(g);
        free(text);
    }
}

/* ---- JSON Schema ------------------------------------------------------------------------ */

typedef struct scase {
    const char *schema;
    const char *const yes[5];
    const char *const no[5];
} scase;

static const scase k_schemas[] = {
    {"{\"type\": \"object\", \"properties\": {\"name\": {\"type\": \"string\"}, \"age\": {\"type\": \"integer\"}}, \"required\": [\"name\"], \"additionalProperties\": false}",
     {"{\"name\": \"x\"}", "{\"name\":\"x\",\"age\":3}", "{ \"name\": \"a\\\"b\", \"age\": -12 }"},
     {"{}", "{\"age\": 3}", "{\"name\": 1}", "{\"name\": \"x\", \"other\": 1}", "{\"name\": \"x\", \"age\": 1.5}"}},
    {"{\"type\": \"array\", \"items\": {\"type\": \"number\"}, \"minItems\": 2, \"maxItems\": 3}",
     {"[1, 2]", "[1.5,-2e3,0]"}, {"[1]", "[1, 2, 3, 4]", "[\"a\", 1]", "[]"}},
    {"{\"enum\": [\"red\", \"green\", 3, null]}", {"\"red\"", "3", "null"}, {"\"blue\"", "\"Red\"", "4"}},
    {"{\"const\": {\"a\": [1, true]}}", {"{\"a\":[1,true]}"}, {"{\"a\": [1, false]}"}},
    {"{\"type\": \"integer\", \"minimum\": -15, \"maximum\": 123}", {"-15", "0", "99", "123", "-1"}, {"-16", "124", "", "1000", "-0"}},
    {"{\"type\": \"integer\", \"exclusiveMinimum\": 7}", {"8", "10", "123456"}, {"7", "0", "-8"}},
    {"{\"type\": \"integer\", \"exclusiveMinimum\": -10, \"exclusiveMaximum\": 10}", {"-9", "0", "9"}, {"", "-10", "10", "-", "-0"}},
    {"{\"type\": \"number\", \"minimum\": -2.5, \"exclusiveMaximum\": 10.25}", {"-2.5", "0", "10.2499", "3.75", "-0.001"},
     {"-2.50001", "10.25", "11", "-0", "1e2"}},
    {"{\"oneOf\": [{\"type\": \"object\", \"properties\": {\"k\": {\"const\": \"a\"}}, \"required\": [\"k\"]}, {\"type\": \"string\"}]}",
     {"{\"k\": \"a\"}", "\"b\""}, {"{\"k\": \"b\"}", "1"}},
    {"{\"type\": \"integer\", \"minimum\": -100, \"maximum\": 100}", {"-100", "-7", "0", "100", "42"}, {"", "101", "-101", "007"}},
    {"{\"type\": \"string\", \"minLength\": 2, \"maxLength\": 3}", {"\"ab\"", "\"a\\nb\"", "\"\xc3\xa9\xc3\xa9\""}, {"\"a\"", "\"abcd\""}},
    {"{\"type\": \"string\", \"pattern\": \"^[A-Z]{2}-[0-9]+$\"}", {"\"AB-1\"", "\"ZZ-0099\""}, {"\"A-1\"", "\"AB-\"", "\"ab-1\"", "\"AB-1x\""}},
    {"{\"type\": \"string\", \"pattern\": \"(cat|dog)s?\"}", {"\"cats\"", "\"a dog!\""}, {"\"cow\""}},
    {"{\"type\": \"string\", \"format\": \"date\"}", {"\"2024-02-29\""}, {"\"2024-13-01\"", "\"24-01-01\""}},
    {"{\"type\": \"string\", \"format\": \"uuid\"}", {"\"123e4567-e89b-12d3-a456-426614174000\""}, {"\"123\""}},
    {"{\"type\": [\"string\", \"null\"]}", {"\"x\"", "null"}, {"1"}},
    {"{\"type\": \"boolean\", \"nullable\": true}", {"true", "null"}, {"\"true\""}},
    {"{\"anyOf\": [{\"type\": \"integer\"}, {\"type\": \"array\", \"items\": {\"type\": \"integer\"}}]}", {"1", "[1, 2]"}, {"\"1\"", "[\"a\"]"}},
    {"{\"$defs\": {\"node\": {\"type\": \"object\", \"properties\": {\"v\": {\"type\": \"integer\"}, \"next\": {\"anyOf\": [{\"$ref\": \"#/$defs/node\"}, {\"type\": \"null\"}]}}, \"required\": [\"v\", \"next\"], \"additionalProperties\": false}}, \"$ref\": \"#/$defs/node\"}",
     {"{\"v\": 1, \"next\": {\"v\": 2, \"next\": null}}"}, {"{\"v\": 1}", "{\"v\": 1, \"next\": {\"v\": 2}}"}},
    {"{\"type\": \"array\", \"prefixItems\": [{\"type\": \"string\"}, {\"type\": \"integer\"}], \"items\": false}", {"[\"a\", 1]", "[\"a\"]", "[]"}, {"[1, \"a\"]", "[\"a\", 1, 2]"}},
    {"{\"type\": \"object\", \"properties\": {\"a\": {\"type\": \"integer\"}}, \"additionalProperties\": {\"type\": \"string\"}}",
     {"{\"a\": 1, \"b\": \"x\"}", "{\"zz\": \"y\"}", "{}", "{\"ab\": \"x\"}"}, {"{\"a\": \"x\"}", "{\"b\": 1}"}},
    {"{\"type\": \"object\", \"properties\": {\"x\": {\"type\": \"integer\"}, \"y\": {\"type\": \"integer\"}}}", {"{}", "{\"y\": 1}", "{\"x\": 1, \"y\": 2}"}, {"{\"y\": 1, \"x\": 2}", "{,}"}},
    {"{\"type\": \"object\"}", {"{}", "{\"any\": [1, {\"b\": null}]}"}, {"[]"}},
    {"true", {"1", "\"s\"", "{\"a\": []}"}, {"tru"}},
};

static void test_schemas(void) {
    for (size_t k = 0; k < sizeof k_schemas / sizeof k_schemas[0]; k++) {
        wf_grammar *g = NULL;
        wf_error err;
        wf_status st = wf_grammar_from_json_schema(k_schemas[k].schema, strlen(k_schemas[k].schema), &g, &err);
        CHECK(st == WF_OK, "schema %zu compiles: %s", k, st == WF_OK ? "" : err.msg);
        if (st != WF_OK) continue;
        for (int i = 0; i < 5 && k_schemas[k].yes[i]; i++)
            CHECK(accepts(g, k_schemas[k].yes[i], strlen(k_schemas[k].yes[i])), "schema %zu accepts %s", k, k_schemas[k].yes[i]);
        for (int i = 0; i < 5 && k_schemas[k].no[i]; i++)
            CHECK(!accepts(g, k_schemas[k].no[i], strlen(k_schemas[k].no[i])), "schema %zu rejects %s", k, k_schemas[k].no[i]);
        wf_grammar_free(g);
    }
    /* errors name the keyword / the reference and where */
    static const struct { const char *schema, *want; } bad[] = {
        {"{\"type\": \"object\", \"properties\": {\"a\": {\"type\": \"string\", \"contentEncoding\": \"base64\"}}}", "unsupported JSON Schema keyword 'contentEncoding' (at /properties/a)"},
        {"{\"$ref\": \"#/$defs/missing\"}", "unresolvable $ref '#/$defs/missing'"},
        {"{\"$ref\": \"https://example.com/s.json\"}", "unresolvable $ref"},
        {"{\"type\": \"number\", \"minimum\": 0.12345678901234567}", "more than 15 digits"},
        {"{\"oneOf\": [{\"type\": \"integer\"}, {\"type\": \"number\"}]}", "'oneOf' whose branches 0 and 1 may both match"},
        {"{\"type\": \"string\", \"format\": \"hostname\"}", "unsupported 'format': 'hostname'"},
        {"{\"type\": \"string\", \"pattern\": \"(?=a)b\"}", "lookaround"},
        {"{\"type\": \"string\", \"pattern\": \"(a)\\\\1\"}", "backreferences"},
        {"{\"type\": \"strin\"}", "unknown type 'strin'"},
        {"{\"not\": {}}", "unsupported JSON Schema keyword 'not'"},
        {"{\"allOf\": [{}]}", "unsupported JSON Schema keyword 'allOf'"},
        {"{\"type\": \"object\", \"required\": [\"x\"]}", "required property 'x' is not in 'properties'"},
        {"{\"type\": \"integer\", \"minimum\": 5, \"maximum\": 4}", "no integer"},
        {"{\"type\":", "not JSON"},
        {"false", "matches nothing"},
        {"{\"enum\": []}", "non-empty array"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        wf_grammar *g = NULL;
        wf_error err;
        memset(&err, 0, sizeof err);
        wf_status st = wf_grammar_from_json_schema(bad[k].schema, strlen(bad[k].schema), &g, &err);
        CHECK(st != WF_OK && !g, "bad schema %zu refused", k);
        CHECK(strstr(err.msg, bad[k].want) != NULL, "bad schema %zu: '%s' should contain '%s'", k, err.msg, bad[k].want);
        wf_grammar_free(g);
    }
    /* JSON mode */
    wf_grammar *g = NULL;
    CHECK(wf_grammar_json_object(&g, NULL) == WF_OK, "json_object");
    CHECK(g && accepts(g, "{\"a\": [1, {}]}", 14), "json mode accepts an object");
    CHECK(g && !accepts(g, "[1]", 3) && !accepts(g, "\"s\"", 3), "json mode wants an object");
    wf_grammar_free(g);
    /* a large schema: 100 properties compile */
    char *big = malloc(100 * 64 + 256);
    size_t n = (size_t)sprintf(big, "{\"type\": \"object\", \"properties\": {");
    for (int i = 0; i < 100; i++) n += (size_t)sprintf(big + n, "%s\"p%d\": {\"type\": \"%s\"}", i ? ", " : "", i, i % 2 ? "string" : "integer");
    n += (size_t)sprintf(big + n, "}, \"required\": [\"p0\", \"p99\"]}");
    wf_grammar *gb = NULL;
    CHECK(wf_grammar_from_json_schema(big, n, &gb, NULL) == WF_OK, "100 properties");
    const char *sparse = "{\"p0\": 1, \"p5\": \"x\", \"p99\": \"y\"}";
    CHECK(gb && accepts(gb, sparse, strlen(sparse)), "sparse object of the big schema");
    wf_grammar_free(gb);
    free(big);
}

/* ---- shared caches: across matchers, threads and requests ------------------------- */

static const char k_shared_g[] =
    "root ::= \"{\" ws (kv (\",\" ws kv)*)? \"}\"\nkv ::= str \":\" ws val\nval ::= str | [0-9]+ | \"true\" | root\n"
    "str ::= \"\\\"\" ([^\"\\\\] | \"\\\\\" [\"n])* \"\\\"\" ws\nws ::= \" \"?";

/* A random walk like random_walk's, thread-safe: returns the number of
 * mask bits that disagree with trying the token alone. */
typedef struct walk_job {
    const wf_grammar *g;
    uint64_t seed;
    int steps, bad, done;
} walk_job;

static void *walk_thread(void *u) {
    walk_job *j = u;
    wf_grammar_matcher *m;
    if (wf_grammar_matcher_create(j->g, V.gv, &m, NULL) != WF_OK) {
        j->bad = -1;
        return NULL;
    }
    t_rng r = {j->seed};
    int32_t allowed[1024];
    for (int step = 0; step < j->steps; step++) {
        const uint32_t *mask = wf_grammar_matcher_mask(m);
        if (!mask) { j->bad++; break; }
        int32_t na = 0;
        for (int32_t t = 0; t < V.n; t++) {
            bool bit = (mask[t >> 5] >> (t & 31)) & 1u;
            if (bit != (wf_grammar_matcher_check(m, &t, 1) == 1)) j->bad++;
            if (bit && t != V.eog && na < 1024) allowed[na++] = t;
        }
        if (na == 0) break;
        if (!wf_grammar_matcher_accept_token(m, allowed[t_next(&r) % (uint64_t)na])) j->bad++;
        j->done++;
    }
    wf_grammar_matcher_free(m);
    return NULL;
}

static void test_shared(void) {
    wf_grammar *g = compile(k_shared_g);
    /* a second matcher (a second request) replays the first one's tokens: every mask is a cache hit */
    wf_grammar_matcher *a, *b;
    CHECK(wf_grammar_matcher_create(g, V.gv, &a, NULL) == WF_OK, "matcher a");
    int32_t toks[64];
    int n = 0;
    t_rng r = {31};
    const uint32_t *ma[64];
    for (; n < 64; n++) {
        const uint32_t *mk = wf_grammar_matcher_mask(a);
        int32_t cand[1024], nc = 0;
        for (int32_t t = 0; t < V.n; t++)
            if (((mk[t >> 5] >> (t & 31)) & 1u) && t != V.eog) cand[nc++] = t;
        if (!nc) break;
        ma[n] = mk;
        toks[n] = cand[t_next(&r) % (uint64_t)nc];
        CHECK(wf_grammar_matcher_accept_token(a, toks[n]), "walk a");
    }
    wf_grammar_stats sa, sb;
    wf_grammar_matcher_stats(a, &sa);
    wf_grammar_matcher_free(a);
    CHECK(wf_grammar_matcher_create(g, V.gv, &b, NULL) == WF_OK, "matcher b");
    int same = 0;
    for (int i = 0; i < n; i++) {
        same += wf_grammar_matcher_cached_mask(b) == ma[i] && wf_grammar_matcher_mask(b) == ma[i];
        CHECK(wf_grammar_matcher_accept_token(b, toks[i]), "replay b");
    }
    wf_grammar_matcher_stats(b, &sb);
    CHECK(n > 20 && same == n, "the second matcher found the first one's %d masks (%d)", n, same);
    CHECK(sb.n_masks == n && sb.n_mask_hits == n && sb.n_trie_nodes == 0 && sa.n_trie_nodes > 0,
          "second matcher: %lld masks, %lld hits, %lld trie nodes (first: %lld hits, %lld nodes)", (long long)sb.n_masks,
          (long long)sb.n_mask_hits, (long long)sb.n_trie_nodes, (long long)sa.n_mask_hits, (long long)sa.n_trie_nodes);
    CHECK(sb.n_cached_masks > 0 && sb.n_states == sa.n_states, "shared states %lld / %lld", (long long)sb.n_states,
          (long long)sa.n_states);
    /* the matcher keeps the grammar alive after its creator lets go */
    wf_grammar_matcher_reset(b);
    wf_grammar_free(g);
    CHECK(wf_grammar_matcher_accept_token(b, '{') && wf_grammar_matcher_mask(b) != NULL, "matcher outlives the creator's reference");
    wf_grammar_matcher_free(b);

    /* threads: 4 walkers on one fresh grammar at once, masks against trying each token */
    g = compile(k_shared_g);
    pthread_t th[4];
    walk_job jobs[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (walk_job){g, 1000u + (uint64_t)i * 77, 60, 0, 0};
        pthread_create(&th[i], NULL, walk_thread, &jobs[i]);
    }
    int bad = 0, done = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        bad += jobs[i].bad, done += jobs[i].done;
    }
    CHECK(bad == 0 && done > 100, "4 threads sharing one grammar: %d mask bits wrong over %d steps", bad, done);
    wf_grammar_free(g);

    /* the cache of compiled grammars: hits, LRU eviction, bad text, the byte bound */
    wf_grammar_cache *c;
    wf_error err;
    CHECK(wf_grammar_cache_create(2, (size_t)1 << 30, &c, &err) == WF_OK, "cache");
    const char *ta = "root ::= \"a\"+", *tb = "root ::= \"b\"+", *tc = "root ::= \"c\"+";
    wf_grammar *g1, *g2, *g3, *g4;
    bool hit = true;
    CHECK(wf_grammar_cache_get(c, ta, strlen(ta), &g1, &hit, &err) == WF_OK && !hit, "first get: compiled");
    CHECK(wf_grammar_cache_get(c, ta, strlen(ta), &g2, &hit, &err) == WF_OK && hit && g2 == g1, "second get: the same grammar");
    wf_grammar_free(g2);
    CHECK(wf_grammar_cache_get(c, tb, strlen(tb), &g2, &hit, &err) == WF_OK && !hit, "other text: compiled");
    CHECK(wf_grammar_cache_get(c, tc, strlen(tc), &g3, &hit, &err) == WF_OK && !hit, "third text: compiled");
    wf_grammar_cache_stats cs;
    wf_grammar_cache_get_stats(c, &cs);
    CHECK(cs.n_entries == 2 && cs.n_evicted == 1 && cs.n_hits == 1 && cs.n_misses == 3, "two kept, one evicted: %d %lld %lld %lld",
          cs.n_entries, (long long)cs.n_evicted, (long long)cs.n_hits, (long long)cs.n_misses);
    CHECK(accepts(g1, "aaa", 3), "an evicted grammar still works for its holder");
    CHECK(wf_grammar_cache_get(c, ta, strlen(ta), &g4, &hit, &err) == WF_OK && !hit && g4 != g1, "evicted: compiled again");
    wf_grammar_free(g4);
    CHECK(wf_grammar_cache_get(c, "root ::= (", 10, &g4, &hit, &err) != WF_OK && !g4 && strstr(err.msg, "line 1"),
          "a bad grammar is an error with its place: %s", err.msg);
    wf_grammar_free(g1);
    wf_grammar_free(g2);
    wf_grammar_free(g3);
    wf_grammar_cache_free(c);
    CHECK(wf_grammar_cache_create(8, 1, &c, &err) == WF_OK, "small cache");
    CHECK(wf_grammar_cache_get(c, ta, strlen(ta), &g1, &hit, &err) == WF_OK, "get a");
    CHECK(accepts(g1, "aa", 2) && wf_grammar_cache_bytes(g1) > 1, "a's caches hold bytes");
    CHECK(wf_grammar_cache_get(c, tb, strlen(tb), &g2, &hit, &err) == WF_OK, "get b");
    wf_grammar_cache_get_stats(c, &cs);
    CHECK(cs.n_evicted >= 1, "over the byte bound the oldest goes (%lld evicted)", (long long)cs.n_evicted);
    wf_grammar_free(g1);
    wf_grammar_free(g2);
    wf_grammar_cache_free(c);
}

int main(void) {
    tvocab_init(&V);
    test_cases();
    test_errors();
    test_matcher_api();
    test_masks();
    test_files();
    test_schemas();
    test_shared();
    wf_grammar_vocab_free(V.gv);
    return t_done("test_grammar");
}
