/* test_harmony_answer.c — a gpt-oss (harmony) answer as the server shows it
 * (src/serve/harmony_answer.c): reasoning, content and tool calls of whole
 * answers written here from the format's description, and, for streaming,
 * every prefix of each answer (cut at every byte) must give fields that are
 * prefixes of the final ones (so deltas add up), with calls' names whole
 * once they appear. Also: a call cut off by the token limit is content, text
 * that is not harmony is content whole, more calls than a response carries
 * is not harmony. */
#include "serve/harmony_answer.c"

#include "testutil.h"

#include <jansson.h>
#include <string.h>

/* tool_calls.c's (not linked here: its other statics clash) */
void wf_api_tool_parts_free(wf_api_tool_call_part *p, int n) {
    for (int i = 0; i < n; i++) {
        free(p[i].name);
        free(p[i].args);
    }
}

typedef struct hcase {
    const char *name;
    const char *text;  /* as generated (the ending <|return|> / <|call|> is not in the text) */
    bool closed;       /* ended at an end-of-generation token */
    const char *reasoning, *content;
    const char *call_name[2], *call_args[2];
    int n_calls;
    bool raw;
} hcase;

static const hcase CASES[] = {
    {"answer", "<|channel|>analysis<|message|>The user greets.<|end|><|start|>assistant<|channel|>final<|message|>Hello!", true,
     "The user greets.", "Hello!", {NULL}, {NULL}, 0, false},
    {"call", "<|channel|>analysis<|message|>Read it first.<|end|><|start|>assistant<|channel|>commentary to=functions.read_file "
             "<|constrain|>json<|message|>{\"path\": \"a.c\"}",
     true, "Read it first.", "", {"read_file"}, {"{\"path\": \"a.c\"}"}, 1, false},
    {"preamble+2calls", "<|channel|>analysis<|message|>Two files.<|end|><|start|>assistant<|channel|>commentary<|message|>Looking."
                        "<|end|><|start|>assistant to=functions.ls<|channel|>commentary json<|message|>{}<|call|>"
                        "<|start|>assistant<|channel|>commentary to=functions.cat <|constrain|>json<|message|>{\"f\": [1, 2]}",
     true, "Two files.", "Looking.", {"ls", "cat"}, {"{}", "{\"f\": [1, 2]}"}, 2, false},
    {"two analyses", "<|channel|>analysis<|message|>One.<|end|><|start|>assistant<|channel|>analysis<|message|>Two.<|end|>"
                     "<|start|>assistant<|channel|>final<|message|>Done \xc3\xa9.",
     true, "One.\nTwo.", "Done \xc3\xa9.", {NULL}, {NULL}, 0, false},
    {"no format", "Just text <| not a marker", true, "", "Just text <| not a marker", {NULL}, {NULL}, 0, false},
    {"unknown channel", "<|channel|>secret<|message|>x<|end|>", true, "", "<|channel|>secret<|message|>x<|end|>", {NULL},
     {NULL}, 0, true},
    /* cut by max_tokens inside the call: no call, its arguments are content */
    {"cut call", "<|channel|>analysis<|message|>Hm.<|end|><|start|>assistant<|channel|>commentary to=functions.w "
                 "<|constrain|>json<|message|>{\"a\":",
     false, "Hm.", "{\"a\":", {NULL}, {NULL}, 0, false},
};

static bool is_prefix(const char *a, size_t na, const char *b, size_t nb) { return na <= nb && !memcmp(a, b, na); }

static void check_case(const hcase *c) {
    const size_t n = strlen(c->text);
    wf_api_harmony f;
    CHECK(wf_api_harmony_answer(c->text, n, true, c->closed, "chatcmpl-x", &f), "%s: parse", c->name);
    CHECK(f.raw == c->raw, "%s: raw %d", c->name, (int)f.raw);
    CHECK(!strcmp(f.reasoning, c->reasoning) && f.reasoning_len == strlen(c->reasoning), "%s: reasoning '%s'", c->name,
          f.reasoning);
    CHECK(!strcmp(f.content, c->content) && f.content_len == strlen(c->content), "%s: content '%s'", c->name, f.content);
    CHECK(f.n_calls == c->n_calls, "%s: %d calls", c->name, f.n_calls);
    for (int i = 0; i < f.n_calls && i < c->n_calls; i++)
        CHECK(!strcmp(f.calls[i].name, c->call_name[i]) && !strcmp(f.calls[i].args, c->call_args[i]) && f.calls[i].complete,
              "%s: call %d %s(%s)", c->name, i, f.calls[i].name, f.calls[i].args);
    if (c->n_calls) { /* the OpenAI array: ids, names, the arguments string as written */
        json_t *a = json_loads(f.calls_json, 0, NULL);
        CHECK(json_array_size(a) == (size_t)c->n_calls, "%s: tool_calls JSON %s", c->name, f.calls_json);
        json_t *fn = json_object_get(json_array_get(a, 0), "function");
        CHECK(!strcmp(json_string_value(json_object_get(json_array_get(a, 0), "id")), "call_chatcmpl-x_0") &&
                  !strcmp(json_string_value(json_object_get(fn, "arguments")), c->call_args[0]),
              "%s: call 0 as JSON", c->name);
        json_decref(a);
    } else {
        CHECK(f.calls_json == NULL, "%s: no tool_calls JSON", c->name);
    }
    /* every prefix, as a stream sees it: fields only grow toward the final ones */
    for (size_t k = 0; k <= n && !c->raw; k++) {
        wf_api_harmony p;
        CHECK(wf_api_harmony_answer(c->text, k, false, false, "chatcmpl-x", &p), "%s: prefix %zu", c->name, k);
        bool ok = !p.raw && is_prefix(p.reasoning, p.reasoning_len, f.reasoning, f.reasoning_len);
        /* the cut call's arguments join the content only at the end */
        if (c->closed) ok = ok && is_prefix(p.content, p.content_len, f.content, f.content_len);
        ok = ok && (p.n_calls <= f.n_calls || !c->closed);
        for (int i = 0; ok && i < p.n_calls && i < f.n_calls; i++)
            ok = !strcmp(p.calls[i].name, f.calls[i].name) && is_prefix(p.calls[i].args, p.calls[i].args_len, f.calls[i].args,
                                                                       f.calls[i].args_len);
        for (int i = 0; ok && i < p.n_calls; i++) ok = strstr(p.calls[i].args, "<|") == NULL;
        ok = ok && strstr(p.reasoning, "<|") == NULL && (c->raw || strstr(p.content, "<|c") == NULL);
        CHECK(ok, "%s: prefix %zu: reasoning '%s' content '%s' calls %d", c->name, k, p.reasoning, p.content, p.n_calls);
        wf_api_harmony_free(&p);
    }
    wf_api_harmony_free(&f);
}

int main(void) {
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) check_case(&CASES[i]);
    /* more calls than a response carries: not harmony, all content */
    char big[8192] = "";
    for (int i = 0; i < WF_API_HARMONY_CALLS + 1; i++)
        strcat(big, "<|start|>assistant<|channel|>commentary to=functions.f <|constrain|>json<|message|>{}<|call|>");
    wf_api_harmony h;
    CHECK(wf_api_harmony_answer(big, strlen(big), true, true, "x", &h) && h.raw && h.n_calls == 0 &&
              h.content_len == strlen(big),
          "%d calls: raw content", WF_API_HARMONY_CALLS + 1);
    wf_api_harmony_free(&h);
    /* NULL text: empty fields */
    CHECK(wf_api_harmony_answer(NULL, 0, true, true, "x", &h) && h.content_len == 0 && h.reasoning_len == 0, "empty answer");
    wf_api_harmony_free(&h);
    return t_done("test_harmony_answer");
}
