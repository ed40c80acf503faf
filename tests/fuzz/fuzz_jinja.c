/* fuzz_jinja.c — arbitrary templates and contexts through the Jinja engine
 * (src/chat/jinja_*.c via wf_template_compile / wf_template_render_json).
 *
 * Input: TEMPLATE \0 MESSAGES-JSON \0 EXTRA-JSON (missing parts: a default
 * conversation, no extra). Every template either fails to compile with a
 * message, or renders / fails with a message within its budgets: 64 KiB of
 * output, 4 MiB of values, 20,000 loop iterations here (the server's are
 * 8 MiB / 64 MiB / 1,000,000), recursion bounded by the engine (400 nested
 * evaluations, 64 macro calls). No input may take longer than 2 s (a hang
 * is a failure: libFuzzer's -timeout, this driver's clock). Successful
 * output is NUL-free up to its length and within the output budget.
 *
 * libFuzzer: -DWF_LIBFUZZER (CMake -DWAFER_FUZZ=ON, `make fuzz`); else the
 * driver in fuzz_main.h (ctest: fuzz_jinja N corpus/jinja). */
#include "chat/template.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char default_msgs[] =
    "[{\"role\":\"system\",\"content\":\"s\"},{\"role\":\"user\",\"content\":\"hi\"},"
    "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":{\"a\":1}}}]},"
    "{\"role\":\"tool\",\"content\":\"r\"}]";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *p = (const char *)data;
    const char *z1 = memchr(p, 0, size);
    size_t tl = z1 ? (size_t)(z1 - p) : size;
    const char *msgs = default_msgs, *extra = NULL;
    size_t ml = sizeof default_msgs - 1;
    char *extra_s = NULL;
    if (z1) {
        const char *m = z1 + 1;
        size_t rest = size - tl - 1;
        const char *z2 = memchr(m, 0, rest);
        ml = z2 ? (size_t)(z2 - m) : rest;
        msgs = m;
        if (z2) {
            size_t el = rest - ml - 1;
            extra_s = malloc(el + 1);
            if (!extra_s) return 0;
            memcpy(extra_s, z2 + 1, el);
            extra_s[el] = 0;
            extra = extra_s;
        }
    }
    clock_t t0 = clock();
    wf_template *t = NULL;
    wf_error err = {0};
    if (wf_template_compile(p, tl, &t, &err) != WF_OK) {
        if (!err.msg[0] || t) abort();
        free(extra_s);
        return 0;
    }
    wf_template_opts o;
    wf_template_opts_init(&o);
    o.bos_token = "<s>";
    o.eos_token = "</s>";
    o.extra_json = extra;
    o.max_output = 64 << 10;
    o.max_memory = 4 << 20;
    o.max_iterations = 20000;
    char *out = NULL;
    size_t n = 0;
    memset(&err, 0, sizeof err);
    wf_status st = wf_template_render_json(t, msgs, ml, &o, &out, &n, &err);
    if (st == WF_OK) {
        if (!out || n > o.max_output || out[n] != 0) abort();
    } else if (!err.msg[0]) {
        abort();
    }
    free(out);
    wf_template_free(t);
    free(extra_s);
    if ((double)(clock() - t0) / CLOCKS_PER_SEC > 2.0) {
        fprintf(stderr, "fuzz_jinja: one input took %.1f s\n", (double)(clock() - t0) / CLOCKS_PER_SEC);
        abort();
    }
    return 0;
}

static const char *const fuzz_dict[] = {"{{", "}}", "{%", "%}", "{#", "#}", "{%-", "-%}", " for ", " in ", " endfor ", " if ",
                                        " elif ", " else ", " endif ", " set ", " macro ", " endmacro ", " call ", " endcall ",
                                        " filter ", " endfilter ", " namespace(", " loop.index ", " loop.last ", "messages",
                                        "message['content']", "message.role", " | tojson", " | length", " | join(',')",
                                        " | map(attribute='x')", " | selectattr('role','equalto','user')", " | trim",
                                        " | replace('a','b')", " | indent(4)", " range(", " * 1000", " ~ ", " + ", "raise_exception(",
                                        " is defined", " is not none", " not ", " and ", " or ", "[::-1]", "[1:]", ".split(",
                                        ".startswith(", ".items()", "tools", "bos_token", "add_generation_prompt", "\"", "'",
                                        "(", ")", "[", "]", "{", "}", ",", ":", "\\n", "9999999999999999999", "-1", NULL};
#define FUZZ_DICT fuzz_dict
#define FUZZ_MAX_LEN 16384
#include "fuzz_main.h"
