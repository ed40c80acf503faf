/* test_tool_calls.c — tool-call parsing in each model family's own format
 * (src/serve/tool_calls.c), finished and streamed: every answer is cut at
 * every byte boundary and the calls read from each prefix must be a prefix
 * of the final calls (names whole, arguments growing only at the end), so
 * that argument deltas sent as the answer streams add up to the final
 * arguments. The formats and the expected calls are written here from each
 * family's published chat template / documentation, not taken from wafer. */
#include "serve/api_response.c"
#include "serve/tool_calls.c"

#include "testutil.h"

#include <string.h>

typedef struct want {
    const char *name;
    const char *args; /* compact JSON */
} want;

typedef struct tcase {
    const char *family;
    const char *text;
    const char *content; /* the text before the calls */
    want calls[4];
    int n;
} tcase;

static const tcase CASES[] = {
    {"hermes", "Let me look.\n<tool_call>\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"a.c\", \"n\": [1, 2]}}\n</tool_call>\n"
               "<tool_call>\n{\"name\": \"ls\", \"arguments\": {}}\n</tool_call>",
     "Let me look.", {{"read_file", "{\"path\":\"a.c\",\"n\":[1,2]}"}, {"ls", "{}"}}, 2},
    /* a repeated "name" (found by lf_api: the first copy leaked): the first
     * stays, as a stream has already announced it */
    {"hermes repeated name", "<tool_call>\n{\"name\": \"f\", \"name\": \"g\", \"arguments\": {\"a\": 1}}\n</tool_call>", "",
     {{"f", "{\"a\":1}"}}, 1},
    {"hermes string arguments", "<tool_call>{\"arguments\": \"{\\\"x\\\": 1}\", \"name\": \"f\"}</tool_call>", "",
     {{"f", "{\"x\": 1}"}}, 1},
    {"qwen3-coder xml",
     "I will edit it.\n<tool_call>\n<function=write_file>\n<parameter=path>\nsrc/a.c\n</parameter>\n<parameter=content>\n"
     "int main(void) {\n  return 0;\n}\n</parameter>\n<parameter=mode>\n420\n</parameter>\n</function>\n</tool_call>\n"
     "<tool_call>\n<function=run>\n<parameter=cmd>\nmake test\n</parameter>\n</function>\n</tool_call>",
     "I will edit it.",
     {{"write_file", "{\"path\":\"src/a.c\",\"content\":\"int main(void) {\\n  return 0;\\n}\",\"mode\":420}"},
      {"run", "{\"cmd\":\"make test\"}"}},
     2},
    {"mistral", "[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Z\\u00fcrich\"}}, {\"name\": \"now\", \"arguments\": {}}]",
     "", {{"get_weather", "{\"city\":\"Z\\u00fcrich\"}"}, {"now", "{}"}}, 2},
    {"llama3 json", "{\"name\": \"search\", \"parameters\": {\"query\": \"gguf \\\"format\\\"\", \"k\": 3}}", "",
     {{"search", "{\"query\":\"gguf \\\"format\\\"\",\"k\":3}"}}, 1},
    {"llama3 python_tag", "<|python_tag|>{\"name\": \"a\", \"parameters\": {\"x\": 1}}; {\"name\": \"b\", \"parameters\": {\"y\": \"z\"}}", "",
     {{"a", "{\"x\":1}"}, {"b", "{\"y\":\"z\"}"}}, 2},
    {"deepseek v3",
     "Checking.<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>read_file\n```json\n{\"path\": \"b.c\"}\n```"
     "<｜tool▁call▁end｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>ls\n```json\n{}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>",
     "Checking.", {{"read_file", "{\"path\":\"b.c\"}"}, {"ls", "{}"}}, 2},
    {"deepseek v3.1",
     "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>grep<｜tool▁sep｜>{\"pattern\": \"TODO\", \"dir\": \"src\"}<｜tool▁call▁end｜><｜tool▁calls▁end｜>",
     "", {{"grep", "{\"pattern\":\"TODO\",\"dir\":\"src\"}"}}, 1},
};

static bool is_prefix(const char *a, size_t na, const char *b) { return na <= strlen(b) && !memcmp(a, b, na); }

static void test_case(const tcase *c) {
    size_t n = strlen(c->text);
    /* finished */
    char *json = NULL;
    size_t cl = 0;
    int k = wf_api_tool_calls(c->text, n, "t", &json, &cl);
    CHECK(k == c->n, "%s: %d calls (want %d)", c->family, k, c->n);
    CHECK(cl == strlen(c->content) && !memcmp(c->text, c->content, cl), "%s: content '%.*s'", c->family, (int)cl, c->text);
    json_t *a = json ? json_loads(json, 0, NULL) : NULL;
    for (int i = 0; i < c->n && i < (int)json_array_size(a); i++) {
        json_t *f = json_object_get(json_array_get(a, (size_t)i), "function");
        const char *name = json_string_value(json_object_get(f, "name")), *args = json_string_value(json_object_get(f, "arguments"));
        CHECK(name && !strcmp(name, c->calls[i].name), "%s: call %d name %s", c->family, i, name ? name : "(none)");
        CHECK(args && !strcmp(args, c->calls[i].args), "%s: call %d arguments %s (want %s)", c->family, i, args ? args : "(none)",
              c->calls[i].args);
        json_t *pa = args ? json_loads(args, 0, NULL) : NULL;
        CHECK(json_is_object(pa), "%s: call %d arguments are a JSON object", c->family, i);
        json_decref(pa);
    }
    json_decref(a);
    free(json);

    /* streamed: every byte boundary; deltas accumulate */
    char *acc[4] = {0};
    size_t acc_len[4] = {0};
    int seen = 0;
    size_t safe_prev = 0;
    bool prefix_ok = true, names_ok = true, safe_ok = true;
    for (size_t cut = 0; cut <= n; cut++) {
        wf_api_tool_call_part p[8];
        size_t pcl = 0;
        /* each prefix in a buffer of its exact size: a read past the cut is
         * an ASan error (lf_api found one after "arguments":) */
        char *t = malloc(cut ? cut : 1);
        if (!t) continue;
        memcpy(t, c->text, cut);
        int pk = wf_api_tool_calls_partial(t, cut, false, p, 8, &pcl);
        size_t safe = wf_api_tool_safe_len(t, cut);
        free(t);
        if (safe < safe_prev || safe > strlen(c->content) + 1) safe_ok = false;
        if (safe > safe_prev) safe_prev = safe;
        for (int i = 0; i < pk && i < 4; i++) {
            if (i >= c->n || strcmp(p[i].name, c->calls[i].name)) {
                names_ok = false;
                continue;
            }
            if (!is_prefix(p[i].args, p[i].args_len, c->calls[i].args) || p[i].args_len < acc_len[i]) {
                prefix_ok = false;
                fprintf(stderr, "  %s cut %zu call %d: '%.*s'\n", c->family, cut, i, (int)p[i].args_len, p[i].args);
                continue;
            }
            char *na = realloc(acc[i], p[i].args_len + 1);
            if (!na) continue;
            acc[i] = na;
            memcpy(acc[i] + acc_len[i], p[i].args + acc_len[i], p[i].args_len - acc_len[i]); /* the delta */
            acc_len[i] = p[i].args_len;
            acc[i][acc_len[i]] = 0;
            if (i + 1 > seen) seen = i + 1;
        }
        if (pk > 0) wf_api_tool_parts_free(p, pk);
    }
    CHECK(names_ok, "%s: every prefix names only the right calls", c->family);
    CHECK(prefix_ok, "%s: arguments from every prefix are prefixes of the final ones", c->family);
    CHECK(safe_ok, "%s: streamed content never runs past the calls (held tail grows monotonically)", c->family);
    CHECK(seen == c->n, "%s: every call streamed (%d)", c->family, seen);
    for (int i = 0; i < c->n; i++) {
        CHECK(acc[i] && !strcmp(acc[i], c->calls[i].args), "%s: call %d deltas add up (%s)", c->family, i, acc[i] ? acc[i] : "");
        free(acc[i]);
    }
}

static void test_not_calls(void) {
    const char *plain[] = {
        "Just an answer, no calls.",
        "<tool_call>\n{\"arguments\": {}}\n</tool_call>",         /* no name */
        "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": \n", /* cut off */
        "{\"name\": \"f\", \"parameters\": {}} and then more text",  /* not a whole-answer call */
        "{\"answer\": 42}",                                        /* JSON content */
    };
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
        char *json = NULL;
        size_t cl = 0;
        int k = wf_api_tool_calls(plain[i], strlen(plain[i]), "t", &json, &cl);
        CHECK(k == 0 && !json && cl == strlen(plain[i]), "not calls: '%s' -> %d", plain[i], k);
        free(json);
    }
    CHECK(wf_api_tool_safe_len("abc<tool", 8) == 3, "held: a marker prefix at the end");
    CHECK(wf_api_tool_safe_len("abc<|python", 11) == 3, "held: <|python_tag|> prefix");
    CHECK(wf_api_tool_safe_len("abc<｜tool", strlen("abc<｜tool")) == 3, "held: DeepSeek marker prefix");
    CHECK(wf_api_tool_safe_len("  {\"na", 6) == 0, "held: may be a Llama JSON call");
}

int main(void) {
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) test_case(&CASES[i]);
    test_not_calls();
    return t_done("test_tool_calls");
}
