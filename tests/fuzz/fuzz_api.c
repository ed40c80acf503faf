/* fuzz_api.c — fuzzing the server's JSON -> request layer (src/serve/api_request.c)
 * and the response builders (src/serve/api_response.c).
 *
 * LLVMFuzzerTestOneInput parses one body for every endpoint kind; a body
 * that parses is fed through the response builders, a rejection must carry
 * a 4xx/5xx status and a message. Invariants of accepted requests are
 * checked (limits, no empty stops, ids in range).
 *
 * As a ctest (fuzz_api, fuzz_api_san under ASan+UBSan) the plain driver
 * below runs N inputs (argv[1]): structured random requests built from the
 * fields the parser knows, plus byte-level mutations (flips, insertions of
 * JSON tokens, truncation, splicing) of seed bodies. With clang, build as a
 * libFuzzer target instead:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -DWF_LIBFUZZER -Iinclude \
 *     -Isrc tests/fuzz/fuzz_api.c src/base/common.c $(pkg-config --cflags --libs jansson) -lm
 * The two api files are compiled into this program (they depend on jansson
 * only), so the harness needs neither the model nor libmicrohttpd. */
#include "serve/api_fields.c"
#include "serve/api_request.c"
#include "serve/api_response.c"
#include "serve/tool_calls.c"
#include "serve/constraint.c"
#include "serve/api_responses.c"

#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static long n_accepted[WF_API_RESPONSES + 1]; /* statistics for the driver */

/* Token "bytes" for the builders: id 7 is a lone UTF-8 lead byte. */
static int32_t fake_token_bytes(const void *u, int32_t id, char *buf, size_t cap) {
    (void)u;
    char t[16];
    int n = id == 7 ? 1 : snprintf(t, sizeof t, "t%d", id);
    if (id == 7) t[0] = (char)0xE2;
    if (cap) memcpy(buf, t, (size_t)n < cap ? (size_t)n : cap);
    return n;
}

static void exercise(const wf_api_request *r) {
    wf_api_result res;
    memset(&res, 0, sizeof res);
    res.id = "x";
    res.model = r->model ? r->model : "m";
    res.text = r->prompt ? r->prompt : "";
    res.text_len = r->prompt ? r->prompt_len : 0;
    res.ids = r->prompt_ids;
    res.n_ids = r->n_prompt_ids;
    res.finish = "stop";
    res.echo_prompt = r->suffix;
    res.echo_len = r->suffix_len;
    /* log-probabilities of the "generated" ids, when there are some */
    static float lp[64], top_lp[64 * 3];
    static int32_t top_id[64 * 3];
    for (int i = 0; i < 64 * 3; i++) top_id[i] = i % 1000, top_lp[i] = -(float)i;
    wf_api_logprobs L = {lp, top_id, top_lp, 3, fake_token_bytes, NULL};
    if (res.n_ids && res.n_ids <= 64) {
        res.logprobs = &L;
        res.lp_from = 0;
        res.lp_to = res.n_ids;
    }
    char *outs[8] = {wf_api_chat_response(&res), wf_api_completions_response(&res), wf_api_llama_response(&res, true, false),
                     wf_api_chat_chunk_text(&res, res.text, res.text_len, r->include_usage),
                     wf_api_completions_chunk_text(&res, res.text, res.text_len, true),
                     wf_api_llama_chunk_text(res.text, res.text_len, 0), wf_api_chat_chunk_usage(&res), NULL};
    for (int i = 0; outs[i]; i++) {
        /* every builder output is JSON that parses back */
        json_t *j = json_loads(outs[i], 0, NULL);
        if (!j) abort();
        json_decref(j);
        free(outs[i]);
    }
}

static void invariants(const wf_api_request *r) {
    if (r->max_tokens < -1 || r->max_tokens > (1 << 20)) abort();
    if (r->n_stops > 16) abort();
    for (size_t i = 0; i < r->n_stops; i++)
        if (!r->stops[i] || !r->stops[i][0] || strlen(r->stops[i]) > 256) abort();
    if (r->kind == WF_API_CHAT && (r->msgs.n == 0 || r->msgs.n > 4096)) abort();
    for (size_t i = 0; i < r->msgs.n; i++)
        if (!r->msgs.m[i].role || !r->msgs.m[i].content) abort();
    for (size_t i = 0; i < r->n_prompt_ids; i++)
        if (r->prompt_ids[i] < 0 || r->prompt_ids[i] >= 1000) abort();
    for (size_t i = 0; i < r->n_tokens; i++)
        if (r->tokens[i] < 0 || r->tokens[i] >= 1000) abort();
    if (!(r->sp.temperature >= 0 && r->sp.temperature <= 100) || !(r->sp.top_p >= 0 && r->sp.top_p <= 1)) abort();
    if (r->kind == WF_API_INFILL && (!r->input_prefix || !r->input_suffix)) abort();
    if (r->stream == false && r->include_usage) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* the same bytes as a model's answer: tool-call parsing */
    char *calls = NULL;
    size_t cl = 0;
    int nc = wf_api_tool_calls((const char *)data, size, "f", &calls, &cl);
    if (nc > 0 && (!calls || cl > size)) abort();
    if (nc == 0 && (calls || cl != size)) abort();
    if (calls) {
        json_t *j = json_loads(calls, 0, NULL);
        if (!json_is_array(j) || (int)json_array_size(j) != nc) abort();
        json_decref(j);
        free(calls);
    }
    if (wf_api_tool_safe_len((const char *)data, size) > size) abort();
    wf_api_tool_call_part parts[8];
    size_t pcl = 0;
    int np = wf_api_tool_calls_partial((const char *)data, size, false, parts, 8, &pcl);
    if (np > 8 || pcl > size) abort();
    for (int i = 0; i < np; i++)
        if (!parts[i].name || !parts[i].args) abort();
    if (np > 0) wf_api_tool_parts_free(parts, np);
    wf_api_limits lim = {0};
    lim.n_vocab = 1000;
    for (int k = WF_API_CHAT; k <= WF_API_RESPONSES; k++) {
        wf_api_request r;
        wf_api_error e;
        if (wf_api_parse((wf_api_kind)k, (const char *)data, size, &lim, &r, &e)) {
            n_accepted[k]++;
            invariants(&r);
            exercise(&r);
        } else {
            if (e.status < 400 || e.status > 599 || !e.message[0]) abort();
            char *j = wf_api_error_json(&e);
            if (!j) abort();
            free(j);
        }
        wf_api_request_free(&r);
    }
    return 0;
}

#ifndef WF_LIBFUZZER

/* A /v1/responses body, mutated on its own (api_responses.c). */
static const char RESPONSES_SEED[] =
    "{\"model\":\"m\",\"instructions\":\"be brief\",\"input\":[{\"type\":\"message\",\"role\":\"developer\",\"content\":"
    "[{\"type\":\"input_text\",\"text\":\"d\"}]},{\"role\":\"user\",\"content\":\"u\"},{\"type\":\"reasoning\","
    "\"summary\":[{\"type\":\"summary_text\",\"text\":\"s\"}],\"content\":[{\"type\":\"reasoning_text\",\"text\":\"r\"}]},"
    "{\"type\":\"function_call\","
    "\"call_id\":\"c\",\"name\":\"f\",\"arguments\":\"{}\"},{\"type\":\"function_call_output\",\"call_id\":\"c\","
    "\"output\":\"o\"},{\"type\":\"reasoning\",\"summary\":[],\"encrypted_content\":\"e\"},{\"type\":\"reasoning\","
    "\"summary\":[{\"type\":\"summary_text\",\"text\":\"t\"}]},{\"type\":\"message\",\"role\":\"assistant\","
    "\"content\":\"a\"},{\"type\":\"reasoning\",\"summary\":[]}],\"tools\":[{\"type\":\"function\",\"name\":\"f\","
    "\"parameters\":{\"type\":\"object\"}},{\"type\":\"web_search\"}],\"tool_choice\":\"auto\",\"max_output_tokens\":9,"
    "\"store\":false,\"stream\":true,\"text\":{\"format\":{\"type\":\"text\"}},\"metadata\":{\"a\":\"b\"}}";

static const char *const seeds[] = {
    "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"s\"},{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hi\"}]}],"
    "\"max_tokens\":16,\"temperature\":0.5,\"top_p\":0.9,\"stop\":[\"\\n\",\"x\"],\"seed\":3,\"stream\":true,"
    "\"stream_options\":{\"include_usage\":true},\"prediction\":{\"type\":\"content\",\"content\":\"abc\"}}",
    "{\"messages\":[{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"1\",\"type\":\"function\","
    "\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"a\\\":1}\"}}]},{\"role\":\"tool\",\"content\":\"r\"}],"
    "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}],\"chat_template_kwargs\":{\"x\":true}}",
    "{\"prompt\":\"def f():\",\"suffix\":\"\\n\",\"max_tokens\":8,\"echo\":false,\"logprobs\":0,\"n\":1}",
    "{\"prompt\":[1,2,3],\"n_predict\":-1,\"top_k\":40,\"min_p\":0.05,\"repeat_penalty\":1.1,\"seed\":-1}",
    "{\"input_prefix\":\"a\",\"input_suffix\":\"b\",\"input_extra\":[{\"filename\":\"f.py\",\"text\":\"t\"}],\"prompt\":\"p\","
    "\"n_predict\":0,\"t_max_predict_ms\":500,\"samplers\":[],\"cache_prompt\":true}",
    "{\"content\":\"ab<|x|>\",\"add_special\":true,\"with_pieces\":true,\"parse_special\":false}",
    "{\"tokens\":[0,1,999]}",
    "ok <tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": [1, 2]}}\n</tool_call>",
};

static const char *const tokens_[] = {"{", "}", "[", "]", ",", ":", "\"", "null", "true", "false", "-1", "0", "1e999",
                                      "1.5", "9223372036854775807", "\"\\u0000\"", "\"\\ud800\"", "\xff", "\xc0\xaf",
                                      "\"messages\"", "\"prompt\"", "\"role\"", "\"content\"", "\"max_tokens\"",
                                      "\"stop\"", "\"tokens\"", "\"text\"", "\"type\"", "\"input_extra\"", "\"n\"",
                                      "\"stream\"", "\"suffix\"", "\"seed\"", "\"tool_calls\"", "\"arguments\""};

static size_t rnd(t_rng *g, size_t n) { return n ? (size_t)(t_next(g) % n) : 0; }

/* A structured random JSON value of bounded depth. */
static void rand_value(t_rng *g, char *o, size_t *n, size_t cap, int depth) {
#define PUT(s) do { const char *s_ = (s); size_t l_ = strlen(s_); if (*n + l_ < cap) { memcpy(o + *n, s_, l_); *n += l_; } } while (0)
    static const char *const keys[] = {"messages", "role", "content", "prompt", "suffix", "max_tokens", "n_predict",
                                       "max_completion_tokens", "temperature", "top_p", "top_k", "stop", "stream",
                                       "stream_options", "include_usage", "seed", "n", "echo", "logprobs",
                                       "top_logprobs", "prediction", "type", "text", "tokens", "input_prefix",
                                       "input_suffix", "input_extra", "filename", "tool_calls", "function",
                                       "arguments", "tools", "response_format", "with_pieces", "user"};
    static const char *const atoms[] = {"null", "true", "false", "0", "1", "-1", "16", "2.5", "-0.5", "1e308",
                                        "\"user\"", "\"assistant\"", "\"system\"", "\"text\"", "\"content\"",
                                        "\"hi\"", "\"\"", "\"\\n\"", "\"\\u00e9\"", "\"<|im_end|>\"", "4096",
                                        "100000000000"};
    int kind = depth > 4 ? 0 : (int)rnd(g, 4);
    if (kind == 0) {
        PUT(atoms[rnd(g, sizeof atoms / sizeof atoms[0])]);
    } else if (kind == 1) {
        PUT("[");
        size_t k = rnd(g, 4);
        for (size_t i = 0; i < k; i++) {
            if (i) PUT(",");
            rand_value(g, o, n, cap, depth + 1);
        }
        PUT("]");
    } else {
        PUT("{");
        size_t k = rnd(g, 6);
        for (size_t i = 0; i < k; i++) {
            if (i) PUT(",");
            PUT("\"");
            PUT(keys[rnd(g, sizeof keys / sizeof keys[0])]);
            PUT("\":");
            rand_value(g, o, n, cap, depth + 1);
        }
        PUT("}");
    }
#undef PUT
}

int main(int argc, char **argv) {
    long iters = argc > 1 ? atol(argv[1]) : 20000;
    t_rng g = {0x5EEDF00Dull};
    enum { CAP = 8192 };
    char *buf = malloc(CAP);
    if (!buf) return 1;
    const size_t n_seeds = sizeof seeds / sizeof seeds[0];
    /* the seeds themselves must parse for their endpoint */
    static const wf_api_kind seed_kind[] = {WF_API_CHAT, WF_API_CHAT, WF_API_COMPLETIONS, WF_API_COMPLETION,
                                            WF_API_INFILL, WF_API_TOKENIZE, WF_API_DETOKENIZE};
    for (size_t i = 0; i < sizeof seed_kind / sizeof seed_kind[0]; i++) {
        wf_api_request r;
        wf_api_error e;
        wf_api_limits lim = {0};
        lim.n_vocab = 1000;
        bool ok = wf_api_parse(seed_kind[i], seeds[i], strlen(seeds[i]), &lim, &r, &e);
        CHECK(ok, "seed %zu: %s", i, e.message);
        wf_api_request_free(&r);
    }
    {   /* the Responses seed parses; byte-mutated copies fail cleanly or pass the invariants */
        wf_api_request r;
        wf_api_error e;
        bool ok = wf_api_parse(WF_API_RESPONSES, RESPONSES_SEED, strlen(RESPONSES_SEED), NULL, &r, &e);
        CHECK(ok, "the /v1/responses seed: %s", e.message);
        wf_api_request_free(&r);
        uint64_t x = 0x9E3779B97F4A7C15ull;
        size_t n = strlen(RESPONSES_SEED);
        char *m = malloc(n + 1);
        for (long it = 0; m && it < iters / 4; it++) {
            memcpy(m, RESPONSES_SEED, n + 1);
            for (int f = 0; f < 1 + (int)(it % 4); f++) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                m[x % n] = (char)(x >> 40);
            }
            LLVMFuzzerTestOneInput((const uint8_t *)m, n);
        }
        free(m);
    }
    for (long it = 0; it < iters; it++) {
        size_t n = 0;
        if (it % 3 == 0) {
            rand_value(&g, buf, &n, CAP, 0);
        } else {
            const char *s = seeds[rnd(&g, n_seeds)];
            n = strlen(s);
            memcpy(buf, s, n);
            size_t muts = 1 + rnd(&g, 4);
            for (size_t m = 0; m < muts; m++) {
                switch (rnd(&g, 5)) {
                case 0: /* flip a byte */
                    if (n) buf[rnd(&g, n)] ^= (char)(1u << rnd(&g, 8));
                    break;
                case 1: { /* insert a JSON token */
                    const char *t = tokens_[rnd(&g, sizeof tokens_ / sizeof tokens_[0])];
                    size_t l = strlen(t), at = rnd(&g, n + 1);
                    if (n + l < CAP) {
                        memmove(buf + at + l, buf + at, n - at);
                        memcpy(buf + at, t, l);
                        n += l;
                    }
                    break;
                }
                case 2: /* truncate */
                    n = rnd(&g, n + 1);
                    break;
                case 3: { /* delete a range */
                    size_t a = rnd(&g, n + 1), l = rnd(&g, n - a + 1);
                    memmove(buf + a, buf + a + l, n - a - l);
                    n -= l;
                    break;
                }
                default: { /* splice the tail of another seed */
                    const char *o = seeds[rnd(&g, n_seeds)];
                    size_t ol = strlen(o), from = rnd(&g, ol), at = rnd(&g, n + 1);
                    if (at + (ol - from) < CAP) {
                        memcpy(buf + at, o + from, ol - from);
                        n = at + (ol - from);
                    }
                }
                }
            }
        }
        LLVMFuzzerTestOneInput((const uint8_t *)buf, n);
    }
    free(buf);
    printf("fuzz_api: %ld inputs; accepted as chat %ld, completions %ld, completion %ld, infill %ld, tokenize %ld, "
           "detokenize %ld\n", iters, n_accepted[0], n_accepted[1], n_accepted[2], n_accepted[3], n_accepted[4], n_accepted[5]);
    /* the generator must reach the accepting paths, or the run proves little.
     * Measured: 0.09-0.15% of the inputs are accepted by each endpoint but
     * infill (~3%) at 20,000, 100,000 and 300,000 inputs; a floor of 0.1%
     * failed by chance from 100,000 on, so it is a quarter of that */
    for (int k = 0; k <= WF_API_DETOKENIZE; k++) CHECK(n_accepted[k] > iters / 4000, "kind %d accepted only %ld times", k, n_accepted[k]);
    return t_done("fuzz_api");
}

#endif
