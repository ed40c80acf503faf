/* test_harmony.c — wf_harmony_parse on gpt-oss outputs written by hand from
 * the harmony format's description: reasoning then answer, a tool call in
 * either header order, a preamble, several calls, a cut-off message, text
 * outside the format, and malformed headers (clear errors, nothing leaked). */
#include "testutil.h"

#include "base/common.h"
#include "chat/harmony.h"

#include <string.h>

static wf_harmony_out parse_ok(const char *s) {
    wf_harmony_out o;
    wf_error err = {0};
    wf_status st = wf_harmony_parse(s, strlen(s), &o, &err);
    CHECK(st == WF_OK, "parse '%s': %s", s, err.msg);
    if (st != WF_OK) memset(&o, 0, sizeof o);
    return o;
}

static void expect_error(const char *s, const char *needle) {
    wf_harmony_out o;
    wf_error err = {0};
    wf_status st = wf_harmony_parse(s, strlen(s), &o, &err);
    CHECK(st == WF_ERR_FORMAT, "'%s' should fail, got %s", s, wf_status_name(st));
    CHECK(strstr(err.msg, needle) != NULL, "message '%s' should mention '%s'", err.msg, needle);
    CHECK(o.reasoning == NULL && o.content == NULL && o.n_calls == 0, "nothing kept on error");
}

/* wf_harmony_reasoning_tokens on tokens given as their pieces (NULL-ended). */
static size_t reasoning_of(const char *const *pieces) {
    char text[1024];
    size_t ends[64], n = 0, len = 0;
    for (; pieces[n]; n++) {
        size_t k = strlen(pieces[n]);
        memcpy(text + len, pieces[n], k);
        len += k;
        ends[n] = len;
    }
    return wf_harmony_reasoning_tokens(text, len, ends, n);
}

static void reasoning_token_counts(void) {
    /* header (3) + body (4) + <|end|>: 8; the final message's 7 are not */
    static const char *const a[] = {"<|channel|>", "analysis", "<|message|>", "User", " asks", " 2+2", ".", "<|end|>",
                                    "<|start|>", "assistant", "<|channel|>", "final", "<|message|>", "4", "<|return|>", NULL};
    CHECK(reasoning_of(a) == 8, "reasoning then final: %zu (want 8)", reasoning_of(a));
    /* two analysis messages before a call: 5 + 7 (the second with its <|start|>assistant); the call's 7 are not */
    static const char *const b[] = {"<|channel|>", "analysis", "<|message|>", "one", "<|end|>",
                                    "<|start|>", "assistant", "<|channel|>", "analysis", "<|message|>", "two", "<|end|>",
                                    "<|start|>", "assistant", "<|channel|>", "commentary to=functions.f ", "<|message|>", "{}",
                                    "<|call|>", NULL};
    CHECK(reasoning_of(b) == 12, "two analysis messages and a call: %zu (want 12)", reasoning_of(b));
    /* cut off inside the reasoning: every token so far is reasoning */
    static const char *const c[] = {"<|channel|>", "analysis", "<|message|>", "Thin", NULL};
    CHECK(reasoning_of(c) == 4, "cut-off reasoning: %zu (want 4)", reasoning_of(c));
    /* a header cut off before <|message|>: no message yet */
    static const char *const d[] = {"<|channel|>", "analysis", NULL};
    CHECK(reasoning_of(d) == 0, "cut-off header: %zu (want 0)", reasoning_of(d));
    /* no harmony at all, and text the parser refuses (unknown channel): content, none */
    static const char *const e[] = {"Hello", " world", NULL};
    static const char *const f[] = {"<|channel|>", "bogus", "<|message|>", "x", "<|end|>", NULL};
    CHECK(reasoning_of(e) == 0 && reasoning_of(f) == 0, "plain text / refused text: no reasoning");
    /* text before the first header is content; a token spanning "x<|channel|>" counts where it starts */
    static const char *const g[] = {"pre", "x<|channel|>", "analysis", "<|message|>", "r", "<|end|>", NULL};
    CHECK(reasoning_of(g) == 4, "content before the header: %zu (want 4)", reasoning_of(g));
    /* empty tokens and no tokens */
    CHECK(wf_harmony_reasoning_tokens("", 0, NULL, 0) == 0, "no tokens");
}

int main(void) {
    reasoning_token_counts();
    /* the usual answer: the prompt ended with <|start|>assistant */
    wf_harmony_out o = parse_ok("<|channel|>analysis<|message|>User asks 2+2. Simple.<|end|>"
                                "<|start|>assistant<|channel|>final<|message|>4<|return|>");
    CHECK(o.reasoning && !strcmp(o.reasoning, "User asks 2+2. Simple."), "reasoning '%s'", o.reasoning);
    CHECK(o.content && !strcmp(o.content, "4"), "content '%s'", o.content);
    CHECK(o.n_calls == 0 && !o.truncated, "no calls, complete");
    wf_harmony_free(&o);

    /* a tool call, recipient after the channel, constrained to json */
    o = parse_ok("<|channel|>analysis<|message|>Need weather.<|end|>"
                 "<|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json"
                 "<|message|>{\"location\":\"San Francisco\"}<|call|>");
    CHECK(o.n_calls == 1 && !strcmp(o.calls[0].name, "get_weather") &&
          !strcmp(o.calls[0].arguments, "{\"location\":\"San Francisco\"}"), "call: %d", o.n_calls);
    CHECK(!strcmp(o.content, "") && !strcmp(o.reasoning, "Need weather."), "content empty, reasoning kept");
    wf_harmony_free(&o);

    /* recipient in the role part of the header; two calls; a preamble */
    o = parse_ok("<|channel|>commentary<|message|>Let me look both up.<|end|>"
                 "<|start|>assistant to=functions.a<|channel|>commentary json<|message|>{}<|call|>"
                 "<|start|>assistant to=functions.b<|channel|>commentary json<|message|>{\"x\":1}<|call|>");
    CHECK(o.n_calls == 2 && !strcmp(o.calls[0].name, "a") && !strcmp(o.calls[1].name, "b") &&
          !strcmp(o.calls[1].arguments, "{\"x\":1}"), "two calls");
    CHECK(!strcmp(o.content, "Let me look both up."), "preamble as content: '%s'", o.content);
    wf_harmony_free(&o);

    /* two analysis messages joined; final cut off by the token limit */
    o = parse_ok("<|channel|>analysis<|message|>one<|end|><|start|>assistant<|channel|>analysis<|message|>two<|end|>"
                 "<|start|>assistant<|channel|>final<|message|>The answ");
    CHECK(!strcmp(o.reasoning, "one\ntwo") && !strcmp(o.content, "The answ") && o.truncated, "joined, truncated");
    wf_harmony_free(&o);

    /* cut inside a header: nothing of it shown */
    o = parse_ok("<|channel|>analysis<|message|>x<|end|><|start|>assistant<|channel|>fin");
    CHECK(!strcmp(o.reasoning, "x") && !strcmp(o.content, "") && o.truncated, "header cut");
    wf_harmony_free(&o);

    /* no format at all: everything is content; empty input */
    o = parse_ok("plain text answer");
    CHECK(!strcmp(o.content, "plain text answer") && !strcmp(o.reasoning, ""), "plain");
    wf_harmony_free(&o);
    o = parse_ok("");
    CHECK(o.content && !strcmp(o.content, "") && o.reasoning && !strcmp(o.reasoning, ""), "empty");
    wf_harmony_free(&o);

    /* malformed */
    expect_error("<|start|>assistant<|message|>no channel<|end|>", "without a channel");
    expect_error("<|channel|>secret<|message|>x<|end|>", "unknown channel 'secret'");
    expect_error("<|channel|>commentary to=<|message|>{}<|call|>", "without a function name");
    {
        char big[64 * 80 + 200] = "";
        for (int i = 0; i < WF_HARMONY_MAX_CALLS + 1; i++)
            strcat(big, "<|start|>assistant<|channel|>commentary to=functions.f<|message|>{}<|call|>");
        expect_error(big, "more than");
    }
    return t_done("test_harmony");
}
