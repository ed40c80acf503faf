/* test_template.c — unit tests of the chat-template engine (template.h):
 * each language construct against outputs rendered by Python's jinja2 with
 * transformers' settings (trim_blocks, lstrip_blocks, loopcontrols, tojson),
 * error cases (unknown filter/test, unclosed tags, bad syntax, runtime type
 * errors, raise_exception), limits (recursion, loop iterations, output and
 * memory), hostile input (random token soup, deep nesting, bad JSON) and
 * the message/JSON helpers. Built also with ASan+UBSan. */
#include "chat/template.h"
#include "testutil.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct tcase {
    const char *name;
    const char *tmpl;
    const char *expect; /* NULL: must fail */
    const char *err;    /* substring of the error message */
} tcase;

/* Expected outputs (test_template_cases.py writes the table): rendered by
 * /usr/bin/python3 jinja2 3.1 with ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
 * extensions=[loopcontrols]), transformers' tojson, messages = MSGS,
 * bos_token "<s>", eos_token "</s>", add_generation_prompt true, tools none,
 * strftime_now at NOW in UTC. Error cases: jinja2 fails too, except where
 * wafer refuses a construct it does not support (raw blocks, big integers,
 * %-formatting, recursive loops, non-ASCII case mapping). */
#define MSGS "[{\"role\":\"system\",\"content\":\"sys\"},{\"role\":\"user\",\"content\":\"hi \303\251\"},{\"role\":\"assistant\",\"content\":\"yo\"}]"
#define NOW 1721995200

#include "test_template_cases.inc"

static wf_status render_str(const char *tmpl, const char *msgs, const wf_template_opts *o, char **out,
                            size_t *len, wf_error *err) {
    wf_template *t = NULL;
    wf_status st = wf_template_compile(tmpl, strlen(tmpl), &t, err);
    if (st != WF_OK) return st;
    st = wf_template_render_json(t, msgs, strlen(msgs), o, out, len, err);
    wf_template_free(t);
    return st;
}

static void default_opts(wf_template_opts *o) {
    wf_template_opts_init(o);
    o->bos_token = "<s>";
    o->eos_token = "</s>";
    o->now = NOW;
}

static void test_cases(void) {
    wf_template_opts o;
    default_opts(&o);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const tcase *c = &cases[i];
        char *out = NULL;
        size_t len = 0;
        wf_error err = {0};
        wf_status st = render_str(c->tmpl, MSGS, &o, &out, &len, &err);
        if (c->expect) {
            CHECK(st == WF_OK, "%s: failed: %s", c->name, err.msg);
            if (st == WF_OK) {
                CHECK(len == strlen(c->expect) && memcmp(out, c->expect, len) == 0,
                      "%s:\n  got      [%s]\n  expected [%s]", c->name, out, c->expect);
            }
        } else {
            CHECK(st != WF_OK, "%s: rendered [%s] but should fail", c->name, out ? out : "");
            CHECK(strstr(err.msg, c->err) != NULL, "%s: error [%s] lacks [%s]", c->name, err.msg, c->err);
        }
        free(out);
    }
}

static void expect_fail(const char *name, const char *tmpl, const char *msgs, const wf_template_opts *o,
                        const char *sub) {
    char *out = NULL;
    size_t len = 0;
    wf_error err = {0};
    wf_status st = render_str(tmpl, msgs, o, &out, &len, &err);
    CHECK(st != WF_OK, "%s: should fail", name);
    CHECK(sub == NULL || strstr(err.msg, sub) != NULL, "%s: error [%s] lacks [%s]", name, err.msg, sub);
    free(out);
}

static void test_limits(void) {
    wf_template_opts o;
    default_opts(&o);
    expect_fail("macro recursion", "{% macro r(n) %}{{ r(n + 1) }}{% endmacro %}{{ r(0) }}", "[]", &o, "recursion");
    expect_fail("loop limit", "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
                "[]", &o, "iteration limit");
    expect_fail("range limit", "{{ range(1000000)|length }}", "[]", &o, "range");
    expect_fail("output limit", "{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}", "[]", &o, "output limit");
    expect_fail("memory limit",
                "{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}", "[]",
                &o, "memory limit");
    expect_fail("huge repeat", "{{ 'x' * 10000000000 }}", "[]", &o, "too large");
    expect_fail("exponential macro calls",
                "{% macro f(n) %}{% if n < 60 %}{{ f(n+1) }}{{ f(n+1) }}{% endif %}{% endmacro %}{{ f(0) }}", "[]", &o,
                "limit");
    expect_fail("deep structure compare",
                "{% set ns = namespace(x=[]) %}{% for i in range(100000) %}{% set ns.x = [ns.x] %}{% endfor %}"
                "{{ ns.x == ns.x }}", "[]", &o, "nested too deeply");
    expect_fail("deep structure print",
                "{% set ns = namespace(x=[]) %}{% for i in range(1000) %}{% set ns.x = [ns.x] %}{% endfor %}{{ ns.x }}",
                "[]", &o, "nested too deeply");
    /* smaller limits from the options */
    wf_template_opts small = o;
    small.max_output = 10;
    expect_fail("max_output option", "{{ 'x' * 11 }}", "[]", &small, "output limit");
    small = o;
    small.max_iterations = 5;
    expect_fail("max_iterations option", "{% for i in [1,2,3,4,5,6] %}{% endfor %}", "[]", &small, "iteration limit");

    /* deep nesting: expressions, blocks, JSON */
    size_t depth = 5000;
    char *deep = malloc(depth * 2 + 16);
    size_t k = 0;
    k += (size_t)sprintf(deep, "{{ ");
    for (size_t i = 0; i < depth; i++) deep[k++] = '(';
    deep[k++] = '1';
    for (size_t i = 0; i < depth; i++) deep[k++] = ')';
    strcpy(deep + k, " }}");
    expect_fail("deep parens", deep, "[]", &o, "nested too deeply");
    free(deep);

    size_t nb = 1000, cap = nb * 24 + 16;
    char *blocks = malloc(cap);
    k = 0;
    for (size_t i = 0; i < nb; i++) k += (size_t)snprintf(blocks + k, cap - k, "{%% if true %%}");
    k += (size_t)snprintf(blocks + k, cap - k, "x");
    for (size_t i = 0; i < nb; i++) k += (size_t)snprintf(blocks + k, cap - k, "{%% endif %%}");
    expect_fail("deep blocks", blocks, "[]", &o, "nested too deeply");
    free(blocks);

    size_t jd = 100000;
    char *json = malloc(jd * 2 + 1);
    memset(json, '[', jd);
    memset(json + jd, ']', jd);
    json[jd * 2] = 0;
    expect_fail("deep JSON", "{{ messages|length }}", json, &o, NULL);
    free(json);

    expect_fail("bad JSON", "x", "[{\"role\": ", &o, "JSON");
    expect_fail("messages not an array", "x", "{\"role\": \"user\"}", &o, "array");
    expect_fail("bad content part", "x", "[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\"}]}]", &o, "text");
    wf_template_opts ex = o;
    ex.extra_json = "[1]";
    expect_fail("extra vars not an object", "x", "[]", &ex, "object");

    /* NUL in the source, and no crash on an empty template */
    wf_template *t = NULL;
    wf_error err = {0};
    CHECK(wf_template_compile("a\0b", 3, &t, &err) != WF_OK, "NUL byte accepted");
    CHECK(wf_template_compile("", 0, &t, &err) == WF_OK, "empty template: %s", err.msg);
    wf_template_free(t);
}

/* Messages, extra variables, built-ins and text parts. */
static void test_api(void) {
    const char *json =
        "[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"text\",\"text\":\"b\\u00e9\"}]},"
        "{\"role\":\"assistant\",\"content\":null}]";
    wf_chat_message *m = NULL;
    size_t n = 0;
    wf_error err = {0};
    CHECK(wf_chat_messages_parse(json, strlen(json), &m, &n, &err) == WF_OK, "parse: %s", err.msg);
    CHECK(n == 2, "n = %zu", n);
    if (n == 2) {
        CHECK(!strcmp(m[0].role, "user") && !strcmp(m[1].role, "assistant"), "roles");
        CHECK(m[0].content_len == 4 && !memcmp(m[0].content, "ab\303\251", 4), "joined parts [%s]", m[0].content);
        CHECK(m[1].content_len == 0, "null content");
    }

    wf_template *t = NULL;
    CHECK(wf_template_compile(wf_template_builtin("chatml"), strlen(wf_template_builtin("chatml")), &t, &err) == WF_OK,
          "chatml: %s", err.msg);
    wf_template_opts o;
    wf_template_opts_init(&o);
    char *out = NULL;
    size_t len = 0;
    CHECK(wf_template_render(t, m, n, &o, &out, &len, &err) == WF_OK, "render: %s", err.msg);
    const char *exp = "<|im_start|>user\nab\303\251<|im_end|>\n<|im_start|>assistant\n<|im_end|>\n<|im_start|>assistant\n";
    CHECK(out && !strcmp(out, exp) && len == strlen(exp), "chatml render [%s]", out ? out : "");
    free(out);
    o.add_generation_prompt = false;
    CHECK(wf_template_render(t, m, 1, &o, &out, &len, &err) == WF_OK, "render: %s", err.msg);
    CHECK(out && !strcmp(out, "<|im_start|>user\nab\303\251<|im_end|>\n"), "no gen prompt [%s]", out ? out : "");
    free(out);
    wf_template_free(t);
    wf_chat_messages_free(m, n);

    CHECK(wf_template_builtin("deepseek-coder") != NULL, "deepseek-coder built-in");
    CHECK(wf_template_builtin("nope") == NULL, "unknown built-in");

    /* extra variables reach the template; tools default to none */
    const char *tv = "{{ tools is none }} {{ enable_thinking }} {{ x.y[1] }}";
    wf_template_opts_init(&o);
    o.extra_json = "{\"enable_thinking\": false, \"x\": {\"y\": [1, 2.5]}}";
    CHECK(wf_template_compile(tv, strlen(tv), &t, &err) == WF_OK, "compile: %s", err.msg);
    CHECK(wf_template_render_json(t, "[]", 2, &o, &out, &len, &err) == WF_OK, "render: %s", err.msg);
    CHECK(out && !strcmp(out, "True False 2.5"), "extra vars [%s]", out ? out : "");
    free(out);
    wf_template_free(t);
    const char *tt = "{{ tools is none }}{{ tools[0].name }}";
    o.extra_json = "{\"tools\": [{\"name\": \"f\"}]}";
    CHECK(wf_template_compile(tt, strlen(tt), &t, &err) == WF_OK, "compile: %s", err.msg);
    CHECK(wf_template_render_json(t, "[]", 2, &o, &out, &len, &err) == WF_OK, "render: %s", err.msg);
    CHECK(out && !strcmp(out, "Falsef"), "tools given [%s]", out ? out : "");
    free(out);
    wf_template_free(t);

    /* a template is reusable and renders the same twice */
    const char *rt = "{% for m in messages %}{{ m.content }}{% endfor %}";
    CHECK(wf_template_compile(rt, strlen(rt), &t, &err) == WF_OK, "compile");
    char *a = NULL, *b = NULL;
    wf_template_render_json(t, MSGS, strlen(MSGS), NULL, &a, &len, &err);
    wf_template_render_json(t, MSGS, strlen(MSGS), NULL, &b, &len, &err);
    CHECK(a && b && !strcmp(a, b) && !strcmp(a, "syshi \303\251yo"), "re-render [%s] [%s]", a ? a : "", b ? b : "");
    free(a);
    free(b);
    wf_template_free(t);
}

/* Random token soup: must never crash, hang or leak; every failure has a message. */
static void test_fuzz(void) {
    static const char *const atoms[] = {
        "{{", "}}", "{%", "%}", "{#", "#}", "{%-", "-%}", "{{-", "-}}", " if ", " for ", " in ", " else ",
        " endif ", " endfor ", " set ", " macro ", " endmacro ", " x ", " messages ", " loop.", "index",
        "(", ")", "[", "]", "{", "}", ",", ":", "|", " trim", " tojson", " length", "'", "\"", "a", "1", "-",
        "+", "*", "/", "%", "~", "==", " not ", " and ", " or ", " is ", " defined", " none", ".", "=",
        "\n", " ", "\\", "ns", " namespace(", "break", "continue", "[::-1]", "\xc3\xa9", "\xff", "range(",
        "99999", " filter ", " endfilter ", " raise_exception(", "'x'", "m.content", " items"};
    uint64_t s = 0x9E3779B97F4A7C15ull;
    wf_template_opts o;
    wf_template_opts_init(&o);
    o.max_iterations = 20000;
    o.max_output = 1 << 16;
    o.max_memory = 8 << 20;
    int ok = 0, failed = 0;
    for (int it = 0; it < 3000; it++) {
        char src[512];
        size_t k = 0;
        int natoms = 1 + (int)(s % 40);
        for (int j = 0; j < natoms; j++) {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            const char *a = atoms[s % (sizeof atoms / sizeof atoms[0])];
            size_t l = strlen(a);
            if (k + l >= sizeof src) break;
            memcpy(src + k, a, l);
            k += l;
        }
        src[k] = 0;
        wf_template *t = NULL;
        wf_error err = {0};
        if (wf_template_compile(src, k, &t, &err) != WF_OK) {
            CHECK(err.msg[0] != 0, "compile failure without a message: [%s]", src);
            failed++;
            continue;
        }
        char *out = NULL;
        size_t len = 0;
        if (wf_template_render_json(t, MSGS, strlen(MSGS), &o, &out, &len, &err) == WF_OK) {
            CHECK(out && strlen(out) == len, "length mismatch");
            ok++;
        } else {
            CHECK(err.msg[0] != 0, "render failure without a message: [%s]", src);
            failed++;
        }
        free(out);
        wf_template_free(t);
    }
    printf("fuzz: %d rendered, %d rejected with a message\n", ok, failed);
}

int main(void) {
    setenv("TZ", "UTC", 1);
    tzset();
    test_cases();
    test_limits();
    test_api();
    test_fuzz();
    return t_done("test_template");
}
