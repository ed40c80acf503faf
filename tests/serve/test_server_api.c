/* test_server_api.c — unit tests of the server's pure layer: request
 * parsing (src/serve/api_request.c), response shapes (src/serve/api_response.c) and
 * tool-call parsing (src/serve/tool_calls.c). Expected values are written here
 * from the OpenAI / llama.cpp API descriptions, not taken from wafer. The
 * api files are compiled into this program (they need only jansson and the
 * sampler defaults). */
#include "serve/api_fields.c"
#include "serve/api_request.c"
#include "serve/api_response.c"
#include "serve/tool_calls.c"
#include "serve/constraint.c"
#include "serve/api_responses.c"

#include "testutil.h"

static bool parse(wf_api_kind k, const char *body, wf_api_request *r, wf_api_error *e) {
    wf_api_limits lim = {0};
    lim.n_vocab = 500;
    return wf_api_parse(k, body, strlen(body), &lim, r, e);
}

static json_t *J(char *s) { /* parse a builder's output (and free it) */
    json_t *j = s ? json_loads(s, 0, NULL) : NULL;
    free(s);
    return j;
}

static void test_requests(void) {
    wf_api_request r;
    wf_api_error e;
    bool ok = parse(WF_API_CHAT,
                    "{\"messages\":[{\"role\":\"developer\",\"content\":\"d\"},{\"role\":\"user\",\"content\":"
                    "[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"text\",\"text\":\"b\"}]},{\"role\":\"assistant\","
                    "\"content\":null,\"tool_calls\":[{\"id\":\"1\",\"type\":\"function\",\"function\":{\"name\":\"f\","
                    "\"arguments\":\"{\\\"x\\\":2}\"}}]}],\"max_completion_tokens\":7,\"stop\":\"END\","
                    "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}],\"logprobs\":true,\"top_logprobs\":2}",
                    &r, &e);
    CHECK(ok, "chat parses: %s", e.message);
    if (ok) {
        const wf_chat_message *m = r.msgs.m;
        CHECK(r.msgs.n == 3, "3 messages");
        CHECK(r.msgs.n == 3 && !strcmp(m[0].role, "system"), "developer -> system");
        CHECK(r.msgs.n == 3 && m[1].content_len == 2 && !strcmp(m[1].content, "ab"), "text parts joined");
        json_t *f = r.msgs.n == 3 && m[2].fields_json ? json_loads(m[2].fields_json, 0, NULL) : NULL;
        json_t *args = json_object_get(json_object_get(json_array_get(json_object_get(f, "tool_calls"), 0), "function"),
                                       "arguments");
        CHECK(json_is_object(args) && json_integer_value(json_object_get(args, "x")) == 2, "tool arguments -> object");
        json_decref(f);
        CHECK(r.max_tokens == 7 && r.n_stops == 1 && !strcmp(r.stops[0], "END"), "max_completion_tokens, stop string");
        CHECK(r.msgs.n == 3 && m[0].fields_json == NULL && m[2].content_len == 0, "contents kept for the prompt builder");
        CHECK(r.tools && r.logprobs == 2, "tools flag, top_logprobs");
        CHECK(r.sp.temperature == 1.0f && r.sp.top_p == 1.0f && r.sp.top_k == 0, "OpenAI sampling defaults");
    }
    wf_api_request_free(&r);

    ok = parse(WF_API_COMPLETION, "{\"prompt\":\"x\"}", &r, &e);
    CHECK(ok && r.max_tokens == -1 && fabsf(r.sp.temperature - 0.8f) < 1e-6f && r.sp.top_k == 40,
          "llama.cpp defaults: n_predict -1, temperature 0.8, top_k 40");
    wf_api_request_free(&r);

    /* predicted outputs on /v1/completions too; wafer's per-request `speculative` */
    ok = parse(WF_API_COMPLETIONS, "{\"prompt\":[1,2],\"prediction\":{\"type\":\"content\",\"content\":\"ab\"},"
               "\"speculative\":\"lookup\"}", &r, &e);
    CHECK(ok && r.prediction_len == 2 && !memcmp(r.prediction, "ab", 2) && r.spec == WF_API_SPEC_LOOKUP,
          "completions: prediction and speculative (%s)", e.message);
    wf_api_request_free(&r);
    ok = parse(WF_API_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"speculative\":\"none\"}", &r, &e);
    CHECK(ok && r.spec == WF_API_SPEC_NONE, "chat: speculative none");
    wf_api_request_free(&r);
    ok = parse(WF_API_INFILL, "{\"input_prefix\":\"a\"}", &r, &e);
    CHECK(ok && r.spec == WF_API_SPEC_DEFAULT, "no speculative: the server's setting");
    wf_api_request_free(&r);

    struct { wf_api_kind k; const char *body; int status; const char *param; } bad[] = {
        {WF_API_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"top_logprobs\":3}", 400, "top_logprobs"},
        {WF_API_CHAT, "{\"messages\":[{\"role\":\"user\"}]}", 400, "messages[0]"},
        {WF_API_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stream_options\":{\"include_usage\":true}}", 400, "stream_options"},
        {WF_API_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":0}", 400, "max_tokens"},
        {WF_API_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stop\":[1]}", 400, "stop"},
        {WF_API_COMPLETION, "{\"prompt\":[1,2,500]}", 400, "prompt"},
        {WF_API_COMPLETIONS, "{\"prompt\":\"a\",\"echo\":true,\"suffix\":\"b\"}", 400, "echo"},
        {WF_API_INFILL, "{\"input_extra\":[{\"filename\":3}]}", 400, "filename"},
        {WF_API_DETOKENIZE, "{\"tokens\":[-1]}", 400, "tokens"},
        {WF_API_TOKENIZE, "{\"content\":5}", 400, "content"},
        {WF_API_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"speculative\":\"fast\"}", 400, "speculative"},
        {WF_API_COMPLETIONS, "{\"prompt\":\"a\",\"speculative\":1}", 400, "speculative"},
        {WF_API_COMPLETIONS, "{\"prompt\":\"a\",\"prediction\":{\"type\":\"x\"}}", 400, "prediction"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ok = parse(bad[i].k, bad[i].body, &r, &e);
        CHECK(!ok && e.status == bad[i].status && !strcmp(e.param, bad[i].param) && e.message[0],
              "case %zu: status %d param '%s' (%s)", i, e.status, e.param, e.message);
        wf_api_request_free(&r);
    }
}

static void test_tools(void) {
    char *calls = NULL;
    size_t cl = 0;
    const char *t1 = "Let me look.\n<tool_call>\n{\"name\": \"read\", \"arguments\": {\"path\": \"a.c\"}}\n</tool_call>\n"
                     "<tool_call>{\"name\": \"ls\", \"arguments\": {}}</tool_call>";
    int k = wf_api_tool_calls(t1, strlen(t1), "r1", &calls, &cl);
    CHECK(k == 2 && cl == strlen("Let me look."), "two Hermes calls after content (%d, %zu)", k, cl);
    json_t *a = calls ? json_loads(calls, 0, NULL) : NULL;
    json_t *f0 = json_object_get(json_array_get(a, 0), "function");
    CHECK(json_is_string(json_object_get(f0, "arguments")) &&
              !strcmp(json_string_value(json_object_get(f0, "arguments")), "{\"path\":\"a.c\"}") &&
              !strcmp(json_string_value(json_object_get(f0, "name")), "read") &&
              !strcmp(json_string_value(json_object_get(json_array_get(a, 0), "id")), "call_r1_0") &&
              !strcmp(json_string_value(json_object_get(json_array_get(a, 0), "type")), "function"),
          "call 0: id, type, name, arguments as a JSON string (%s)", calls ? calls : "null");
    json_decref(a);
    free(calls);

    const char *t2 = "[TOOL_CALLS][{\"name\": \"f\", \"arguments\": \"{\\\"q\\\": 1}\"}]";
    k = wf_api_tool_calls(t2, strlen(t2), "r2", &calls, &cl);
    CHECK(k == 1 && cl == 0, "Mistral [TOOL_CALLS] (%d)", k);
    free(calls);
    const char *t3 = "<tool_call>\n{\"name\": \"cut\", \"arguments\": {\"a\": 1}}"; /* closing tag cut off */
    k = wf_api_tool_calls(t3, strlen(t3), "r3", &calls, &cl);
    CHECK(k == 1, "unterminated last block still parses (%d)", k);
    free(calls);
    const char *t4 = "see <tool_call>not json</tool_call>";
    k = wf_api_tool_calls(t4, strlen(t4), "r4", &calls, &cl);
    CHECK(k == 0 && !calls && cl == strlen(t4), "a block that is not a call: plain content");
    const char *t5 = "plain answer";
    k = wf_api_tool_calls(t5, strlen(t5), "r5", &calls, &cl);
    CHECK(k == 0 && cl == strlen(t5), "no calls");

    CHECK(wf_api_tool_safe_len("abc<tool", 8) == 3, "held: a marker prefix at the end");
    CHECK(wf_api_tool_safe_len("abc<tox", 7) == 7, "not a marker prefix: all");
    CHECK(wf_api_tool_safe_len("ab<tool_call>{", 14) == 2, "up to the marker");
    CHECK(wf_api_tool_safe_len("x[TOOL_", 7) == 1, "Mistral marker prefix held");
}

static void test_responses(void) {
    wf_api_result r;
    memset(&r, 0, sizeof r);
    r.id = "chatcmpl-1";
    r.model = "m";
    r.created = 1700000000;
    r.text = "hi \xc3\xa9";
    r.text_len = strlen(r.text);
    r.finish = "length";
    r.usage = (wf_api_usage){.prompt_tokens = 10, .cached_tokens = 4, .completion_tokens = 3, .reasoning_tokens = 2,
                             .accepted_prediction_tokens = 2, .rejected_prediction_tokens = 1, .prompt_ms = 5.0,
                             .predicted_ms = 7.0, .draft_n = 6, .draft_n_accepted = 5};
    json_t *j = J(wf_api_chat_response(&r));
    json_t *ch = json_array_get(json_object_get(j, "choices"), 0);
    json_t *u = json_object_get(j, "usage");
    CHECK(!strcmp(json_string_value(json_object_get(j, "object")), "chat.completion") &&
              !strcmp(json_string_value(json_object_get(json_object_get(ch, "message"), "content")), "hi \xc3\xa9") &&
              !strcmp(json_string_value(json_object_get(ch, "finish_reason")), "length") &&
              json_integer_value(json_object_get(u, "total_tokens")) == 13 &&
              json_integer_value(json_object_get(json_object_get(u, "prompt_tokens_details"), "cached_tokens")) == 4 &&
              json_integer_value(json_object_get(json_object_get(u, "completion_tokens_details"), "accepted_prediction_tokens")) == 2 &&
              json_integer_value(json_object_get(json_object_get(u, "completion_tokens_details"), "rejected_prediction_tokens")) == 1 &&
              json_integer_value(json_object_get(json_object_get(u, "completion_tokens_details"), "reasoning_tokens")) == 2,
          "chat.completion shape and usage");
    json_t *tm = json_object_get(j, "timings");
    CHECK(json_integer_value(json_object_get(tm, "draft_n")) == 6 && json_integer_value(json_object_get(tm, "draft_n_accepted")) == 5,
          "timings: draft_n, draft_n_accepted (llama.cpp's names)");
    json_decref(j);

    j = J(wf_api_chat_chunk_role(&r, true));
    ch = json_array_get(json_object_get(j, "choices"), 0);
    CHECK(!strcmp(json_string_value(json_object_get(j, "object")), "chat.completion.chunk") &&
              !strcmp(json_string_value(json_object_get(json_object_get(ch, "delta"), "role")), "assistant") &&
              json_is_null(json_object_get(ch, "finish_reason")) && json_is_null(json_object_get(j, "usage")),
          "role chunk");
    json_decref(j);
    j = J(wf_api_chat_chunk_usage(&r));
    CHECK(json_array_size(json_object_get(j, "choices")) == 0 && json_is_object(json_object_get(j, "usage")), "usage chunk");
    json_decref(j);

    r.tool_calls = "[{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]";
    r.text_len = 0;
    j = J(wf_api_chat_response(&r));
    ch = json_array_get(json_object_get(j, "choices"), 0);
    json_t *msg = json_object_get(ch, "message");
    CHECK(json_is_null(json_object_get(msg, "content")) && json_array_size(json_object_get(msg, "tool_calls")) == 1 &&
              !strcmp(json_string_value(json_object_get(ch, "finish_reason")), "tool_calls"),
          "tool calls: content null, finish_reason tool_calls");
    json_decref(j);
    j = J(wf_api_chat_chunk_tool_calls(&r, false));
    ch = json_array_get(json_object_get(j, "choices"), 0);
    json_t *tc = json_array_get(json_object_get(json_object_get(ch, "delta"), "tool_calls"), 0);
    CHECK(json_integer_value(json_object_get(tc, "index")) == 0 && json_is_object(json_object_get(tc, "function")),
          "tool-call chunk: indexed delta.tool_calls");
    json_decref(j);

    wf_api_error e;
    wf_api_fail(&e, 400, "invalid_request_error", "", "x", "bad \"quote\"");
    j = J(wf_api_error_json(&e));
    json_t *er = json_object_get(j, "error");
    CHECK(json_object_size(er) == 4 && json_is_null(json_object_get(er, "param")) &&
              !strcmp(json_string_value(json_object_get(er, "message")), "bad \"quote\""),
          "error object: four fields, empty param is null");
    json_decref(j);

    /* an unknown field whose name is cut inside a character by the error's
     * param buffer (lf_api found it: the error object could not be built and
     * the server answered 500 "out of memory" instead of the 400) */
    char body[256], key[160] = "";
    for (int i = 0; i < 40; i++) strcat(key, "\xef\xbd\x9c"); /* U+FF5C, 3 bytes each */
    snprintf(body, sizeof body, "{\"model\": \"m\", \"prompt\": \"x\", \"a%s\": 1}", key);
    wf_api_request rq;
    wf_api_limits lim = {0};
    lim.n_vocab = 1000;
    CHECK(!wf_api_parse(WF_API_COMPLETIONS, body, strlen(body), &lim, &rq, &e) && e.status == 400,
          "a long unknown multibyte field name is a 400");
    wf_api_request_free(&rq);
    char *ej = wf_api_error_json(&e);
    CHECK(ej != NULL, "its error object is built (param and message cut on whole characters)");
    j = ej ? json_loads(ej, 0, NULL) : NULL;
    er = json_object_get(j, "error");
    const char *pm = json_string_value(json_object_get(er, "param"));
    CHECK(pm && pm[0] == 'a' && strlen(pm) % 3 == 1 && !strcmp(json_string_value(json_object_get(er, "code")),
                                                               "unknown_parameter"),
          "param: the field's name up to its last whole character");
    json_decref(j);
    free(ej);
    wf_api_fail(&e, 400, NULL, "\xc3", "x", "m");
    ej = wf_api_error_json(&e);
    CHECK(ej && !strstr(ej, "\"param\":\"\xc3"), "a lone lead byte in param is not sent");
    free(ej);

    CHECK(wf_api_utf8_complete("ab\xc3", 3) == 2 && wf_api_utf8_complete("ab\xc3\xa9", 4) == 4 &&
              wf_api_utf8_complete("\xe2\x82", 2) == 0 && wf_api_utf8_complete("abc", 3) == 3,
          "utf8_complete cuts before a partial character");
}

/* Accepted by g as a whole, over a byte vocabulary. */
static bool gram_accepts(const wf_grammar *g, const char *text) {
    static wf_grammar_vocab *gv;
    if (!gv) {
        static char bytes[256];
        const char *tok[257];
        size_t len[257];
        for (int i = 0; i < 256; i++) bytes[i] = (char)i, tok[i] = &bytes[i], len[i] = 1;
        tok[256] = "</s>", len[256] = 4;
        int32_t eog = 256;
        if (wf_grammar_vocab_from_bytes(tok, len, 257, &eog, 1, &gv, NULL) != WF_OK) return false;
    }
    wf_grammar_matcher *m;
    if (wf_grammar_matcher_create(g, gv, &m, NULL) != WF_OK) return false;
    bool ok = wf_grammar_matcher_accept_bytes(m, text, strlen(text)) && wf_grammar_matcher_can_end(m);
    wf_grammar_matcher_free(m);
    return ok;
}

/* Forced tool calls in both families' formats: what the grammar accepts is
 * what tool_calls.c parses back into the call; the Responses API's flat
 * text.format; the family from the template. */
static void test_constraint(void) {
    wf_api_request r;
    wf_api_error e;
    const char *body = "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"tool_choice\": \"required\", \"tools\": ["
                       "{\"type\": \"function\", \"function\": {\"name\": \"add\", \"parameters\": {\"type\": \"object\", "
                       "\"properties\": {\"a\": {\"type\": \"integer\"}}, \"required\": [\"a\"], \"additionalProperties\": false}}},"
                       "{\"type\": \"function\", \"function\": {\"name\": \"now\"}}]}";
    CHECK(parse(WF_API_CHAT, body, &r, &e), "tool_choice required parses: %s", e.message);
    CHECK(r.constraint.kind == WF_API_CONSTRAINT_TOOL_CALL && r.tools, "a forced tool call");
    static const struct { wf_api_tool_format fmt; const char *good, *good2, *bad; } k[] = {
        {WF_API_TOOLS_HERMES, "<tool_call>\n{\"name\": \"add\", \"arguments\": {\"a\": 5}}\n</tool_call>",
         "<tool_call>\n{\"name\":\"now\",\"arguments\":{}}\n</tool_call>",
         "<tool_call>\n{\"name\": \"add\", \"arguments\": {\"a\": \"5\"}}\n</tool_call>"},
        {WF_API_TOOLS_MISTRAL, "[TOOL_CALLS][{\"name\": \"add\", \"arguments\": {\"a\": -3}}]",
         "[TOOL_CALLS][{\"name\": \"now\", \"arguments\": {\"extra\": [1]}}]",
         "[TOOL_CALLS][{\"name\": \"sub\", \"arguments\": {\"a\": 1}}]"},
    };
    for (int i = 0; i < 2; i++) {
        char *gbnf = NULL;
        CHECK(wf_api_constraint_gbnf(&r.constraint, k[i].fmt, &gbnf, &e) && gbnf, "format %d: GBNF", i);
        wf_grammar *g = NULL;
        CHECK(gbnf && wf_grammar_from_gbnf(gbnf, strlen(gbnf), &g, NULL) == WF_OK, "format %d compiles", i);
        CHECK(g && gram_accepts(g, k[i].good) && gram_accepts(g, k[i].good2), "format %d: the calls are in the grammar", i);
        CHECK(g && !gram_accepts(g, k[i].bad), "format %d: bad arguments or an unknown tool are not", i);
        char *calls = NULL;
        size_t clen = 0;
        json_t *j = NULL;
        CHECK(wf_api_tool_calls(k[i].good, strlen(k[i].good), "t", &calls, &clen) == 1 && (j = json_loads(calls, 0, NULL)) &&
                  !strcmp(json_string_value(json_object_get(json_object_get(json_array_get(j, 0), "function"), "name")), "add"),
              "format %d: the parser reads the call back", i);
        json_decref(j);
        free(calls);
        wf_grammar_free(g);
        free(gbnf);
    }
    /* parallel_tool_calls true: several calls in a row; absent or false: exactly one */
    static const char *const two[2] = {
        "<tool_call>\n{\"name\": \"add\", \"arguments\": {\"a\": 1}}\n</tool_call>\n<tool_call>\n{\"name\": \"now\", \"arguments\": {}}\n</tool_call>",
        "[TOOL_CALLS][{\"name\": \"add\", \"arguments\": {\"a\": 1}}, {\"name\": \"now\", \"arguments\": {}}]"};
    for (int par = 0; par < 2; par++)
        for (int i = 0; i < 2; i++) {
            r.constraint.parallel = par;
            char *gbnf = NULL;
            wf_grammar *g = NULL;
            CHECK(wf_api_constraint_gbnf(&r.constraint, k[i].fmt, &gbnf, &e) && wf_grammar_from_gbnf(gbnf, strlen(gbnf), &g, NULL) == WF_OK,
                  "format %d parallel %d compiles", i, par);
            CHECK(g && gram_accepts(g, k[i].good) && gram_accepts(g, two[i]) == (par == 1),
                  "format %d parallel %d: one call in, two calls %s", i, par, par ? "in" : "out");
            char *calls = NULL;
            size_t clen = 0;
            CHECK(!par || wf_api_tool_calls(two[i], strlen(two[i]), "t", &calls, &clen) == 2, "format %d: the parser reads two calls back", i);
            free(calls);
            wf_grammar_free(g);
            free(gbnf);
        }
    wf_api_request_free(&r);
    const char *one_only = "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"tool_choice\": \"required\", "
                           "\"parallel_tool_calls\": false, \"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"now\"}}]}";
    CHECK(parse(WF_API_CHAT, one_only, &r, &e) && !r.constraint.parallel, "parallel_tool_calls false is read");
    wf_api_request_free(&r);
    CHECK(parse(WF_API_CHAT, body, &r, &e) && !r.constraint.parallel, "one forced call unless parallel_tool_calls is true");
    wf_api_request_free(&r);
    const char *several = "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"tool_choice\": \"required\", "
                          "\"parallel_tool_calls\": true, \"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"now\"}}]}";
    CHECK(parse(WF_API_CHAT, several, &r, &e) && r.constraint.parallel, "parallel_tool_calls true is read");
    wf_api_request_free(&r);
    /* a named function limits the choice */
    const char *named = "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"tool_choice\": {\"type\": \"function\", "
                        "\"function\": {\"name\": \"now\"}}, \"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"add\"}},"
                        "{\"type\": \"function\", \"function\": {\"name\": \"now\"}}]}";
    CHECK(parse(WF_API_CHAT, named, &r, &e), "named tool parses");
    char *gbnf = NULL;
    wf_grammar *g = NULL;
    CHECK(wf_api_constraint_gbnf(&r.constraint, WF_API_TOOLS_HERMES, &gbnf, &e) && wf_grammar_from_gbnf(gbnf, strlen(gbnf), &g, NULL) == WF_OK,
          "named: compiles");
    CHECK(g && gram_accepts(g, "<tool_call>\n{\"name\": \"now\", \"arguments\": {}}\n</tool_call>") &&
              !gram_accepts(g, "<tool_call>\n{\"name\": \"add\", \"arguments\": {}}\n</tool_call>"),
          "named: only that function");
    wf_grammar_free(g);
    free(gbnf);
    wf_api_request_free(&r);
    /* the Responses API's flat text.format */
    wf_api_constraint c;
    memset(&c, 0, sizeof c);
    json_t *f = json_loads("{\"type\": \"json_schema\", \"name\": \"n\", \"schema\": {\"type\": \"integer\"}, \"strict\": true}", 0, NULL);
    CHECK(wf_api_constraint_format(f, "text.format", true, &c, &e) && c.kind == WF_API_CONSTRAINT_JSON_SCHEMA, "flat json_schema");
    json_decref(f);
    wf_api_constraint_free(&c);
    f = json_loads("{\"type\": \"json_schema\", \"name\": \"n\", \"schema\": {\"type\": \"integer\", \"multipleOf\": 2}}", 0, NULL);
    char *g2 = NULL;
    CHECK(wf_api_constraint_format(f, "text.format", true, &c, &e) && !wf_api_constraint_gbnf(&c, WF_API_TOOLS_HERMES, &g2, &e) &&
              e.status == 400 && strstr(e.message, "multipleOf") && !strcmp(e.param, "text.format"),
          "an unsupported keyword in text.format is a 400 naming it (%s, %s)", e.message, e.param);
    json_decref(f);
    wf_api_constraint_free(&c);
    CHECK(wf_api_tool_format_of("{{ '[TOOL_CALLS]' }}", 19) == WF_API_TOOLS_MISTRAL && wf_api_tool_format_of("<|im_start|>", 12) == WF_API_TOOLS_HERMES,
          "tool-call format from the template");
}

int main(void) {
    test_requests();
    test_constraint();
    test_tools();
    test_responses();
    return t_done("test_server_api");
}
