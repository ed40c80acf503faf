/* api_request.c — request bodies (untrusted JSON) -> wf_api_request.
 *
 * A pure layer: no model, no I/O. Every field is type- and range-checked
 * and a rejection names the offending parameter the way the OpenAI API
 * does ("Invalid type for 'temperature': expected a number ..."). Unknown
 * fields are ignored (clients send many optional ones). jansson rejects
 * malformed JSON, invalid UTF-8 and NUL characters in strings. */
#include "serve/api.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define E400 400, "invalid_request_error"

bool wf_api_fail(wf_api_error *e, int status, const char *type, const char *param,
                 const char *code, const char *fmt, ...) {
    if (!e) return false;
    memset(e, 0, sizeof *e);
    e->status = status;
    snprintf(e->type, sizeof e->type, "%s", type ? type : "invalid_request_error");
    snprintf(e->param, sizeof e->param, "%s", param ? param : "");
    snprintf(e->code, sizeof e->code, "%s", code ? code : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    /* a field cut by its buffer ends on a whole character: a request field
     * named in Japanese must not leave half a character behind */
    e->param[wf_api_utf8_complete(e->param, strlen(e->param))] = 0;
    e->code[wf_api_utf8_complete(e->code, strlen(e->code))] = 0;
    e->message[wf_api_utf8_complete(e->message, strlen(e->message))] = 0;
    return false;
}

static const char *type_name(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE: case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

static bool bad_type(wf_api_error *e, const char *param, const char *want, const json_t *v) {
    return wf_api_fail(e, E400, param, "invalid_type",
                       "Invalid type for '%s': expected %s, but got %s instead.", param, want, type_name(v));
}

static bool oom(wf_api_error *e) {
    return wf_api_fail(e, 500, "server_error", NULL, NULL, "out of memory while reading the request");
}

/* A present, non-null member (NULL when absent or JSON null). */
static json_t *get(json_t *o, const char *key) {
    json_t *v = json_object_get(o, key);
    return v && !json_is_null(v) ? v : NULL;
}

static bool get_bool(json_t *o, const char *key, bool *out, wf_api_error *e) {
    json_t *v = get(o, key);
    if (!v) return true;
    if (!json_is_boolean(v)) return bad_type(e, key, "a boolean", v);
    *out = json_is_true(v);
    return true;
}

/* A number in [lo, hi]; *present says whether it was given. */
static bool get_num(json_t *o, const char *key, double lo, double hi, double *out, bool *present,
                    wf_api_error *e) {
    json_t *v = get(o, key);
    if (present) *present = v != NULL;
    if (!v) return true;
    if (!json_is_number(v)) return bad_type(e, key, "a number", v);
    double x = json_number_value(v);
    if (!isfinite(x) || x < lo || x > hi)
        return wf_api_fail(e, E400, key, "invalid_value", "Invalid value for '%s': %g is not in [%g, %g].",
                           key, x, lo, hi);
    *out = x;
    return true;
}

static bool get_f32(json_t *o, const char *key, double lo, double hi, float *out, wf_api_error *e) {
    double x = 0;
    bool present = false;
    if (!get_num(o, key, lo, hi, &x, &present, e)) return false;
    if (present) *out = (float)x;
    return true;
}

/* An integer in [lo, hi] (a number with an integral value is accepted). */
static bool get_int(json_t *o, const char *key, int64_t lo, int64_t hi, int64_t *out, bool *present,
                    wf_api_error *e) {
    json_t *v = get(o, key);
    if (present) *present = v != NULL;
    if (!v) return true;
    int64_t x = 0;
    if (json_is_integer(v)) {
        x = (int64_t)json_integer_value(v);
    } else if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!(d == floor(d)) || d < -9.0e18 || d > 9.0e18) return bad_type(e, key, "an integer", v);
        x = (int64_t)d;
    } else {
        return bad_type(e, key, "an integer", v);
    }
    if (x < lo || x > hi)
        return wf_api_fail(e, E400, key, "invalid_value", "Invalid value for '%s': %lld is not in [%lld, %lld].",
                           key, (long long)x, (long long)lo, (long long)hi);
    *out = x;
    return true;
}

/* A string member (copied); absent/null leaves *out NULL. */
static bool get_str(json_t *o, const char *key, char **out, size_t *len, wf_api_error *e) {
    json_t *v = get(o, key);
    if (!v) return true;
    if (!json_is_string(v)) return bad_type(e, key, "a string", v);
    size_t n = json_string_length(v);
    if (!(*out = wf_dup_bytes(json_string_value(v), n))) return oom(e);
    if (len) *len = n;
    return true;
}

/* Text that may be a string or an array of {"type": "text", "text"} parts
 * (joined by chat/messages.c, the one place that does it). */
static bool text_parts(json_t *v, const char *param, char **out, size_t *len, wf_api_error *e) {
    size_t bad = SIZE_MAX;
    wf_error err = {0};
    wf_status st = wf_chat_content_join(v, NULL, out, len, &bad, &err);
    if (st == WF_OK) return true;
    if (st == WF_ERR_NOMEM) return oom(e);
    if (bad == SIZE_MAX) return bad_type(e, param, "a string or an array of text parts", v);
    json_t *p = json_array_get(v, bad), *type = json_object_get(p, "type"), *text = json_object_get(p, "text");
    if (!json_is_object(p) || !json_is_string(type))
        return wf_api_fail(e, E400, param, "invalid_type", "Invalid '%s[%zu]': expected a content part object with a 'type'.", param, bad);
    if (st == WF_ERR_UNSUPPORTED)
        return wf_api_fail(e, E400, param, "unsupported_content",
                           "Invalid '%s[%zu]': content parts of type '%s' are not supported (text only).",
                           param, bad, json_string_value(type));
    return bad_type(e, "text", "a string", text ? text : json_null());
}

static bool get_stops(json_t *o, const char *key, const wf_api_limits *lim, wf_api_request *r, wf_api_error *e) {
    json_t *v = get(o, key);
    if (!v) return true;
    json_t *one = json_is_string(v) ? v : NULL;
    if (!one && !json_is_array(v)) return bad_type(e, key, "a string or an array of strings", v);
    size_t n = one ? 1 : json_array_size(v);
    if (n > (size_t)lim->max_stops)
        return wf_api_fail(e, E400, key, "invalid_value", "Invalid '%s': at most %d stop sequences.", key, lim->max_stops);
    if (n == 0) return true;
    if (!(r->stops = calloc(n, sizeof *r->stops))) return oom(e);
    for (size_t i = 0; i < n; i++) {
        json_t *s = one ? one : json_array_get(v, i);
        if (!json_is_string(s)) return bad_type(e, key, "a string or an array of strings", s);
        size_t len = json_string_length(s);
        if (len > (size_t)lim->max_stop_len)
            return wf_api_fail(e, E400, key, "invalid_value", "Invalid '%s': a stop sequence is longer than %d bytes.",
                               key, lim->max_stop_len);
        if (len == 0) continue; /* empty stops never match: drop them */
        if (!(r->stops[r->n_stops] = wf_dup_bytes(json_string_value(s), len))) return oom(e);
        r->n_stops++;
    }
    return true;
}

/* Token ids: an array of integers in [0, n_vocab). */
static bool get_ids(json_t *v, const char *param, const wf_api_limits *lim, int32_t **out, size_t *n,
                    wf_api_error *e) {
    size_t k = json_array_size(v);
    if (!(*out = malloc((k ? k : 1) * sizeof **out))) return oom(e);
    for (size_t i = 0; i < k; i++) {
        json_t *t = json_array_get(v, i);
        if (!json_is_integer(t)) return bad_type(e, param, "an array of token ids (integers)", t);
        json_int_t id = json_integer_value(t);
        if (id < 0 || id > INT32_MAX || (lim->n_vocab > 0 && id >= lim->n_vocab))
            return wf_api_fail(e, E400, param, "invalid_value", "Invalid '%s': token id %lld is out of range (the vocabulary has %d tokens).",
                               param, (long long)id, lim->n_vocab);
        (*out)[i] = (int32_t)id;
    }
    *n = k;
    return true;
}

static bool is_ids(json_t *v) {
    if (!json_is_array(v) || json_array_size(v) == 0) return false;
    return json_is_integer(json_array_get(v, 0));
}

/* The prompt of /v1/completions and /completion: a string, token ids, or a
 * one-element array of either (batches of several prompts are refused). */
static bool get_prompt(json_t *o, bool required, const wf_api_limits *lim, wf_api_request *r, wf_api_error *e) {
    json_t *v = get(o, "prompt");
    if (!v) {
        if (required) return wf_api_fail(e, E400, "prompt", "missing_required_parameter", "Missing required parameter: 'prompt'.");
        if (!(r->prompt = wf_dup_bytes("", 0))) return oom(e);
        return true;
    }
    if (json_is_array(v) && !is_ids(v)) {
        if (json_array_size(v) != 1)
            return wf_api_fail(e, E400, "prompt", "unsupported_value",
                               json_array_size(v) ? "Invalid 'prompt': only one prompt per request is supported."
                                                  : "Invalid 'prompt': empty array.");
        v = json_array_get(v, 0);
    }
    if (json_is_string(v)) {
        r->prompt_len = json_string_length(v);
        if (!(r->prompt = wf_dup_bytes(json_string_value(v), r->prompt_len))) return oom(e);
        return true;
    }
    if (is_ids(v)) return get_ids(v, "prompt", lim, &r->prompt_ids, &r->n_prompt_ids, e);
    return bad_type(e, "prompt", "a string or an array of token ids", v);
}

/* Sampling fields common to every generating endpoint. OpenAI's ranges for
 * its own fields; llama.cpp's extra fields (top_k, min_p, repeat_*) too. */
static bool get_sampling(json_t *o, bool openai, wf_api_request *r, wf_api_error *e) {
    wf_sampler_params *sp = &r->sp;
    if (!get_f32(o, "temperature", 0, openai ? 2 : 100, &sp->temperature, e)) return false;
    if (!get_f32(o, "top_p", 0, 1, &sp->top_p, e)) return false;
    if (!get_f32(o, "min_p", 0, 1, &sp->min_p, e)) return false;
    if (!get_f32(o, "presence_penalty", -2, 2, &sp->presence_penalty, e)) return false;
    if (!get_f32(o, "frequency_penalty", -2, 2, &sp->frequency_penalty, e)) return false;
    if (!get_f32(o, "repeat_penalty", 0.01, 100, &sp->repeat_penalty, e)) return false;
    int64_t x = 0;
    bool present = false;
    if (!get_int(o, "top_k", 0, 1 << 30, &x, &present, e)) return false;
    if (present) sp->top_k = (int32_t)x;
    if (!get_int(o, "repeat_last_n", -1, 1 << 24, &x, &present, e)) return false;
    if (present) sp->repeat_last_n = (int32_t)x;
    json_t *seed = get(o, "seed");
    if (seed) {
        if (!json_is_integer(seed)) return bad_type(e, "seed", "an integer", seed);
        json_int_t s = json_integer_value(seed);
        if (s == -1 && !openai) {
            r->has_seed = false; /* llama.cpp: -1 = random */
        } else {
            sp->seed = (uint64_t)s;
            r->has_seed = true;
        }
    }
    return true;
}

static bool get_max_tokens(json_t *o, const char *key, int64_t lo, const wf_api_limits *lim, wf_api_request *r,
                           wf_api_error *e) {
    int64_t x = 0;
    bool present = false;
    if (!get_int(o, key, lo, lim->max_tokens, &x, &present, e)) return false;
    if (present) r->max_tokens = (int32_t)x;
    return true;
}

static bool get_stream(json_t *o, wf_api_request *r, wf_api_error *e) {
    if (!get_bool(o, "stream", &r->stream, e)) return false;
    json_t *so = get(o, "stream_options");
    if (so) {
        if (!json_is_object(so)) return bad_type(e, "stream_options", "an object", so);
        if (!r->stream)
            return wf_api_fail(e, E400, "stream_options", "invalid_value",
                               "Invalid 'stream_options': only allowed when 'stream' is true.");
        if (!get_bool(so, "include_usage", &r->include_usage, e)) return false;
    }
    return true;
}

static bool only_one_choice(json_t *o, const char *key, wf_api_error *e) {
    int64_t n = 1;
    bool present = false;
    if (!get_int(o, key, 1, 128, &n, &present, e)) return false;
    if (present && n != 1)
        return wf_api_fail(e, E400, key, "unsupported_value", "Invalid '%s': only 1 is supported.", key);
    return true;
}

/* ---- chat --------------------------------------------------------------- */

static bool role_ok(const char *r) {
    static const char *const roles[] = {"system", "developer", "user", "assistant", "tool", "function"};
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
        if (!strcmp(r, roles[i])) return true;
    return false;
}

/* tool_calls[].function.arguments is a JSON string in the OpenAI API; chat
 * templates expect an object: parse it when it is valid JSON. */
static void tool_args_to_objects(json_t *m) {
    json_t *tc = json_object_get(m, "tool_calls");
    size_t i;
    json_t *c;
    if (!json_is_array(tc)) return;
    json_array_foreach(tc, i, c) {
        json_t *f = json_object_get(c, "function");
        json_t *a = f ? json_object_get(f, "arguments") : NULL;
        if (!json_is_string(a)) continue;
        json_t *parsed = json_loadb(json_string_value(a), json_string_length(a), JSON_DECODE_ANY, NULL);
        if (parsed && json_is_object(parsed)) json_object_set_new(f, "arguments", parsed);
        else json_decref(parsed);
    }
}

/* OpenAI's predicted outputs: {"type": "content", "content": text or parts}. */
static bool get_prediction(json_t *o, wf_api_request *r, wf_api_error *e) {
    json_t *pred = get(o, "prediction");
    if (!pred) return true;
    json_t *t = json_is_object(pred) ? json_object_get(pred, "type") : NULL;
    if (!json_is_string(t) || strcmp(json_string_value(t), "content") != 0)
        return wf_api_fail(e, E400, "prediction", "invalid_value", "Invalid 'prediction': expected {\"type\": \"content\", \"content\": ...}.");
    json_t *c = json_object_get(pred, "content");
    if (!c) return wf_api_fail(e, E400, "prediction.content", "missing_required_parameter", "Missing required parameter: 'prediction.content'.");
    return text_parts(c, "prediction.content", &r->prediction, &r->prediction_len, e);
}

/* wafer's `speculative`: "none", "lookup" or "draft" for this request. */
static bool get_spec(json_t *o, wf_api_request *r, wf_api_error *e) {
    json_t *v = get(o, "speculative");
    if (!v) return true;
    if (!json_is_string(v)) return bad_type(e, "speculative", "a string", v);
    const char *s = json_string_value(v);
    if (!strcmp(s, "none")) r->spec = WF_API_SPEC_NONE;
    else if (!strcmp(s, "lookup")) r->spec = WF_API_SPEC_LOOKUP;
    else if (!strcmp(s, "draft")) r->spec = WF_API_SPEC_DRAFT;
    else return wf_api_fail(e, E400, "speculative", "invalid_value", "Invalid 'speculative': '%.40s' (expected none, lookup or draft).", s);
    return true;
}

/* An assistant message's reasoning_content (the field OpenAI-style clients
 * send back, and Qwen3's templates read) also as `thinking` (the field
 * gpt-oss's own template reads), as llama.cpp passes it — except on a
 * message with tool calls and content, where that template refuses both
 * (the content, a preamble, is kept). nm: the message's copy. */
static void reasoning_as_thinking(json_t *nm, const char *role, size_t content_len) {
    json_t *rc = json_object_get(nm, "reasoning_content"), *tc = json_object_get(nm, "tool_calls");
    if (strcmp(role, "assistant") != 0 || !json_is_string(rc) || json_string_length(rc) == 0 ||
        json_object_get(nm, "thinking"))
        return;
    if (json_is_array(tc) && json_array_size(tc) > 0 && content_len > 0) return;
    json_object_set(nm, "thinking", rc);
}

/* messages[i] -> r->msgs: role checked ("developer" is the newer name of
 * "system", which templates know), content joined ("" for an assistant
 * message that only calls tools), the other members (tool_calls with their
 * arguments as objects, tool_call_id, name, reasoning_content — also as
 * thinking) kept for the template. */
static bool chat_message(json_t *m, size_t i, wf_api_request *r, wf_api_error *e) {
    char param[40];
    snprintf(param, sizeof param, "messages[%zu]", i);
    if (!json_is_object(m)) return bad_type(e, param, "an object", m);
    json_t *role = json_object_get(m, "role");
    if (!json_is_string(role) || !role_ok(json_string_value(role))) {
        if (!json_is_string(role)) return wf_api_fail(e, E400, param, "invalid_value", "Invalid '%s.role': expected one of system, developer, user, assistant, tool.", param);
        return wf_api_fail(e, E400, param, "invalid_value", "Invalid '%s.role': '%.40s' is not one of system, developer, user, assistant, tool.",
                           param, json_string_value(role));
    }
    const char *rs = !strcmp(json_string_value(role), "developer") ? "system" : json_string_value(role);
    json_t *content = json_object_get(m, "content");
    char *text = NULL;
    size_t len = 0;
    if (content && !json_is_null(content)) {
        char cparam[56];
        snprintf(cparam, sizeof cparam, "%s.content", param);
        if (!text_parts(content, cparam, &text, &len, e)) return false;
    } else {
        json_t *tc = json_object_get(m, "tool_calls");
        if (!(json_is_array(tc) && !strcmp(rs, "assistant")))
            return wf_api_fail(e, E400, param, "missing_required_parameter", "Missing required parameter: '%s.content'.", param);
        if (!(text = calloc(1, 1))) return oom(e);
    }
    bool others = false;
    const char *key;
    json_t *v;
    json_object_foreach(m, key, v) others |= strcmp(key, "role") != 0 && strcmp(key, "content") != 0;
    char *fields = NULL;
    if (others) {
        json_t *nm = json_deep_copy(m);
        if (nm) {
            json_object_set_new(nm, "role", json_string(rs));
            json_object_set_new(nm, "content", json_stringn(text, len));
            tool_args_to_objects(nm);
            reasoning_as_thinking(nm, rs, len);
            fields = json_dumps(nm, JSON_COMPACT | JSON_PRESERVE_ORDER);
        }
        json_decref(nm);
        if (!fields) {
            free(text);
            return oom(e);
        }
    }
    wf_error err = {0};
    wf_status st = wf_chat_list_push(&r->msgs, rs, text, len, fields, &err);
    free(text);
    free(fields);
    return st == WF_OK ? true : oom(e);
}

/* A constraint must compile (a bad schema or grammar is a 400 now, not at
 * generation), and stop strings could cut its answer inside the JSON: refused
 * for OpenAI's JSON formats and forced tool calls. */
static bool check_constraint(wf_api_request *r, wf_api_error *e) {
    if (r->constraint.kind == WF_API_CONSTRAINT_NONE) return true;
    char *gbnf = NULL;
    if (!wf_api_constraint_gbnf(&r->constraint, WF_API_TOOLS_HERMES, &gbnf, e)) return false;
    free(gbnf);
    if (r->n_stops && (r->kind == WF_API_CHAT || r->kind == WF_API_RESPONSES) && r->constraint.kind != WF_API_CONSTRAINT_GBNF)
        return wf_api_fail(e, E400, "stop", "invalid_value",
                           "'stop' cannot be combined with a JSON response format or a forced tool call (a stop string could cut the answer inside the JSON).");
    return true;
}

static bool parse_chat(json_t *o, const wf_api_limits *lim, wf_api_request *r, wf_api_error *e) {
    json_t *msgs = get(o, "messages");
    if (!msgs) return wf_api_fail(e, E400, "messages", "missing_required_parameter", "Missing required parameter: 'messages'.");
    if (!json_is_array(msgs)) return bad_type(e, "messages", "an array", msgs);
    size_t n = json_array_size(msgs);
    if (n == 0) return wf_api_fail(e, E400, "messages", "empty_array", "Invalid 'messages': empty array. Expected an array with minimum length 1.");
    if (n > (size_t)lim->max_messages)
        return wf_api_fail(e, E400, "messages", "invalid_value", "Invalid 'messages': more than %d messages.", lim->max_messages);
    for (size_t i = 0; i < n; i++)
        if (!chat_message(json_array_get(msgs, i), i, r, e)) return false;

    /* extra template variables: tools, chat_template_kwargs */
    json_t *extra = json_object();
    if (!extra) return oom(e);
    json_t *tools = get(o, "tools");
    if (tools) {
        if (!json_is_array(tools)) {
            json_decref(extra);
            return bad_type(e, "tools", "an array", tools);
        }
        json_object_set(extra, "tools", tools);
        r->tools = json_array_size(tools) > 0;
    }
    json_t *tc = get(o, "tool_choice");
    if (tc) {
        if (!json_is_string(tc) && !json_is_object(tc)) {
            json_decref(extra);
            return bad_type(e, "tool_choice", "a string or an object", tc);
        }
        if (json_is_string(tc) && !strcmp(json_string_value(tc), "none")) r->tools = false;
    }
    json_t *kw = get(o, "chat_template_kwargs");
    if (kw) {
        if (!json_is_object(kw)) {
            json_decref(extra);
            return bad_type(e, "chat_template_kwargs", "an object", kw);
        }
        json_object_update(extra, kw);
    }
    if (json_object_size(extra)) r->template_extra = json_dumps(extra, JSON_COMPACT);
    json_decref(extra);
    if ((tools || kw) && !r->template_extra) return oom(e);

    if (!get_max_tokens(o, "max_tokens", 1, lim, r, e)) return false;
    if (!get_max_tokens(o, "max_completion_tokens", 1, lim, r, e)) return false;
    if (!only_one_choice(o, "n", e)) return false;
    bool lp = false;
    if (!get_bool(o, "logprobs", &lp, e)) return false;
    int64_t top = 0;
    bool has_top = false;
    if (!get_int(o, "top_logprobs", 0, 20, &top, &has_top, e)) return false;
    if (has_top && !lp)
        return wf_api_fail(e, E400, "top_logprobs", "invalid_value", "Invalid 'top_logprobs': 'logprobs' must be true when 'top_logprobs' is set.");
    if (lp) r->logprobs = (int32_t)top;

    /* the answer's shape: llama.cpp's grammar / json_schema, response_format, tool_choice */
    if (!wf_api_constraint_llama(o, &r->constraint, e)) return false;
    json_t *rf = get(o, "response_format");
    if (rf && r->constraint.kind != WF_API_CONSTRAINT_NONE && !json_is_null(rf))
        return wf_api_fail(e, E400, "response_format", "invalid_value", "Give either 'response_format' or 'grammar' / 'json_schema', not both.");
    if (!wf_api_constraint_format(rf, "response_format", false, &r->constraint, e)) return false;
    if (!wf_api_constraint_tools(tools, tc, "tools", &r->constraint, e)) return false;
    /* several forced calls only when asked for: after a call the grammar
     * would let a model that keeps writing go on calling until max_tokens */
    bool par = false;
    if (!get_bool(o, "parallel_tool_calls", &par, e)) return false;
    r->parallel_tool_calls = par;
    r->constraint.parallel = par;
    if (!check_constraint(r, e)) return false;
    return get_prediction(o, r, e);
}

/* ---- the other endpoints ------------------------------------------------ */

static bool parse_completions(json_t *o, const wf_api_limits *lim, wf_api_request *r, wf_api_error *e) {
    if (!get_prompt(o, true, lim, r, e)) return false;
    if (!get_str(o, "suffix", &r->suffix, &r->suffix_len, e)) return false;
    if (!get_max_tokens(o, "max_tokens", 0, lim, r, e)) return false;
    if (!get_bool(o, "echo", &r->echo, e)) return false;
    if (!only_one_choice(o, "n", e) || !only_one_choice(o, "best_of", e)) return false;
    int64_t lp = 0;
    bool present;
    if (!get_int(o, "logprobs", 0, 5, &lp, &present, e)) return false;
    if (present) r->logprobs = (int32_t)lp;
    if (r->echo && r->suffix)
        return wf_api_fail(e, E400, "echo", "invalid_value", "Invalid 'echo': cannot be combined with 'suffix'.");
    if (!wf_api_constraint_llama(o, &r->constraint, e) || !check_constraint(r, e)) return false;
    return get_prediction(o, r, e);
}

static bool parse_llama(json_t *o, const wf_api_limits *lim, wf_api_request *r, wf_api_error *e) {
    if (!get_prompt(o, r->kind == WF_API_COMPLETION, lim, r, e)) return false;
    if (r->kind == WF_API_INFILL && r->prompt_ids)
        return bad_type(e, "prompt", "a string", json_object_get(o, "prompt"));
    if (!get_max_tokens(o, "max_tokens", -1, lim, r, e)) return false;
    if (!get_max_tokens(o, "n_predict", -1, lim, r, e)) return false;
    if (!get_bool(o, "cache_prompt", &r->cache_prompt, e)) return false;
    double t = 0;
    if (!get_num(o, "t_max_predict_ms", -1, 1e9, &t, NULL, e)) return false;
    r->t_max_predict_ms = t > 0 ? t : 0;
    int64_t np = 0;
    if (!get_int(o, "n_probs", 0, 100, &np, NULL, e)) return false;
    if (np > 0) return wf_api_fail(e, E400, "n_probs", "unsupported_parameter", "Unsupported parameter: 'n_probs' is not supported by this server yet.");
    if (!wf_api_constraint_llama(o, &r->constraint, e) || !check_constraint(r, e)) return false;
    if (r->kind != WF_API_INFILL) return true;
    if (!get_str(o, "input_prefix", &r->input_prefix, &r->input_prefix_len, e)) return false;
    if (!get_str(o, "input_suffix", &r->input_suffix, &r->input_suffix_len, e)) return false;
    if ((!r->input_prefix && !(r->input_prefix = wf_dup_bytes("", 0))) || (!r->input_suffix && !(r->input_suffix = wf_dup_bytes("", 0))))
        return oom(e);
    json_t *x = get(o, "input_extra");
    if (!x) return true;
    if (!json_is_array(x)) return bad_type(e, "input_extra", "an array of {filename, text} objects", x);
    size_t n = json_array_size(x);
    if (n > (size_t)lim->max_extra)
        return wf_api_fail(e, E400, "input_extra", "invalid_value", "Invalid 'input_extra': more than %d chunks.", lim->max_extra);
    if (n && !(r->extra = calloc(n, sizeof *r->extra))) return oom(e);
    for (size_t i = 0; i < n; i++) {
        json_t *c = json_array_get(x, i);
        if (!json_is_object(c)) return bad_type(e, "input_extra", "an array of {filename, text} objects", c);
        wf_api_extra *ex = &r->extra[r->n_extra++];
        if (!get_str(c, "filename", &ex->name, NULL, e) || !get_str(c, "text", &ex->text, &ex->len, e)) return false;
        if ((!ex->name && !(ex->name = wf_dup_bytes("", 0))) || (!ex->text && !(ex->text = wf_dup_bytes("", 0)))) return oom(e);
    }
    return true;
}

static bool parse_tokenize(json_t *o, wf_api_request *r, wf_api_error *e) {
    json_t *c = get(o, "content");
    if (!c) return wf_api_fail(e, E400, "content", "missing_required_parameter", "Missing required parameter: 'content'.");
    if (!json_is_string(c)) return bad_type(e, "content", "a string", c);
    r->prompt_len = json_string_length(c);
    if (!(r->prompt = wf_dup_bytes(json_string_value(c), r->prompt_len))) return oom(e);
    return get_bool(o, "add_special", &r->add_special, e) && get_bool(o, "parse_special", &r->parse_special, e) &&
           get_bool(o, "with_pieces", &r->with_pieces, e);
}

static bool parse_detokenize(json_t *o, const wf_api_limits *lim, wf_api_request *r, wf_api_error *e) {
    json_t *t = get(o, "tokens");
    if (!t) return wf_api_fail(e, E400, "tokens", "missing_required_parameter", "Missing required parameter: 'tokens'.");
    if (!json_is_array(t)) return bad_type(e, "tokens", "an array of token ids (integers)", t);
    return get_ids(t, "tokens", lim, &r->tokens, &r->n_tokens, e);
}

/* ---- lone surrogates ------------------------------------------------------ */

static int hex4(const char *p) {
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

/* JavaScript strings cut in the middle of a pair leave a lone UTF-16
 * surrogate escape (\ud800) that strict parsers (jansson) refuse; OpenAI's
 * API accepts it and reads U+FFFD. Returns a copy of body with every lone
 * surrogate escape inside a string rewritten to \ufffd (same length), or
 * NULL when there is none (or no memory: the parser then reports it). */
static char *fix_lone_surrogates(const char *body, size_t len) {
    char *out = NULL;
    bool in_str = false;
    for (size_t i = 0; i < len; i++) {
        char c = body[i];
        if (!in_str) {
            in_str = c == '"';
            continue;
        }
        if (c == '"') {
            in_str = false;
            continue;
        }
        if (c != '\\' || i + 1 >= len) continue;
        if (body[i + 1] != 'u' || i + 6 > len) {
            i++; /* a two-character escape */
            continue;
        }
        int u = hex4(body + i + 2);
        if (u < 0xD800 || u > 0xDFFF) {
            i += 5;
            continue;
        }
        bool paired = u < 0xDC00 && i + 12 <= len && body[i + 6] == '\\' && body[i + 7] == 'u' &&
                      hex4(body + i + 8) >= 0xDC00 && hex4(body + i + 8) <= 0xDFFF;
        if (paired) {
            i += 11;
            continue;
        }
        if (!out) {
            if (!(out = malloc(len ? len : 1))) return NULL;
            memcpy(out, body, len);
        }
        memcpy(out + i + 2, "fffd", 4);
        i += 5;
    }
    return out;
}

bool wf_api_parse(wf_api_kind kind, const char *body, size_t len, const wf_api_limits *lim_in,
                  wf_api_request *r, wf_api_error *e) {
    memset(r, 0, sizeof *r);
    wf_api_limits lim = {1 << 20, 16, 256, 4096, 256, 0};
    if (lim_in) {
        if (lim_in->max_tokens > 0) lim.max_tokens = lim_in->max_tokens;
        if (lim_in->max_stops > 0) lim.max_stops = lim_in->max_stops;
        if (lim_in->max_stop_len > 0) lim.max_stop_len = lim_in->max_stop_len;
        if (lim_in->max_messages > 0) lim.max_messages = lim_in->max_messages;
        if (lim_in->max_extra > 0) lim.max_extra = lim_in->max_extra;
        lim.n_vocab = lim_in->n_vocab;
    }
    r->kind = kind;
    r->max_tokens = -1;
    r->logprobs = -1;
    r->parse_special = true;
    r->cache_prompt = true;
    r->sp = wf_sampler_default_params();
    bool openai = kind == WF_API_CHAT || kind == WF_API_COMPLETIONS || kind == WF_API_RESPONSES;
    if (openai) { /* OpenAI's defaults: plain softmax sampling at temperature 1 */
        r->sp.temperature = 1.0f;
        r->sp.top_p = 1.0f;
        r->sp.top_k = 0;
        r->sp.min_p = 0.0f;
    }
    if (!body || len == 0) {
        wf_api_fail(e, E400, NULL, "invalid_json", "The request body is empty; expected a JSON object.");
        return false;
    }
    json_error_t je;
    char *fixed = fix_lone_surrogates(body, len);
    json_t *o = json_loadb(fixed ? fixed : body, len, JSON_REJECT_DUPLICATES, &je);
    free(fixed);
    if (!o) {
        wf_api_fail(e, E400, NULL, "invalid_json",
                    "We could not parse the JSON body of your request: %s (line %d, column %d).", je.text, je.line, je.column);
        return false;
    }
    bool ok;
    if (!json_is_object(o)) {
        ok = wf_api_fail(e, E400, NULL, "invalid_json", "The request body must be a JSON object.");
    } else {
        ok = wf_api_check_fields(kind, o, e) && get_str(o, "model", &r->model, NULL, e);
        if (ok && kind <= WF_API_INFILL) {
            ok = get_sampling(o, openai, r, e) && get_stream(o, r, e) && get_stops(o, "stop", &lim, r, e) &&
                 get_spec(o, r, e);
        }
        if (ok) {
            switch (kind) {
            case WF_API_CHAT: ok = parse_chat(o, &lim, r, e); break;
            case WF_API_COMPLETIONS: ok = parse_completions(o, &lim, r, e); break;
            case WF_API_COMPLETION:
            case WF_API_INFILL: ok = parse_llama(o, &lim, r, e); break;
            case WF_API_TOKENIZE: ok = parse_tokenize(o, r, e); break;
            case WF_API_DETOKENIZE: ok = parse_detokenize(o, &lim, r, e); break;
            case WF_API_RESPONSES:
                ok = get_sampling(o, true, r, e) && get_stream(o, r, e) && get_stops(o, "stop", &lim, r, e) &&
                     get_spec(o, r, e) && get_prediction(o, r, e) && wf_api_parse_responses(o, &lim, r, e);
                break;
            default: ok = wf_api_fail(e, 404, "invalid_request_error", NULL, "unknown_url", "Unknown endpoint.");
            }
        }
    }
    json_decref(o);
    if (!ok) wf_api_request_free(r);
    return ok;
}

void wf_api_request_free(wf_api_request *r) {
    if (!r) return;
    free(r->model);
    for (size_t i = 0; i < r->n_stops; i++) free(r->stops[i]);
    free(r->stops);
    wf_chat_list_free(&r->msgs);
    free(r->template_extra);
    free(r->prediction);
    wf_api_constraint_free(&r->constraint);
    free(r->prompt);
    free(r->prompt_ids);
    free(r->suffix);
    free(r->input_prefix);
    free(r->input_suffix);
    for (size_t i = 0; i < r->n_extra; i++) {
        free(r->extra[i].name);
        free(r->extra[i].text);
    }
    free(r->extra);
    free(r->tokens);
    free(r->instructions);
    free(r->previous_response_id);
    free(r->echo_json);
    wf_api_kind k = r->kind;
    memset(r, 0, sizeof *r);
    r->kind = k;
}

/* For api_responses.c (serve/api_int.h): the same checks, same messages. */
bool wf_api_text_parts(json_t *v, const char *const *types, const char *param, char **out, size_t *len, wf_api_error *e) {
    if (!types) return text_parts(v, param, out, len, e);
    size_t bad = SIZE_MAX;
    wf_error err = {0};
    wf_status st = wf_chat_content_join(v, types, out, len, &bad, &err);
    if (st == WF_OK) return true;
    if (st == WF_ERR_NOMEM) return oom(e);
    if (bad == SIZE_MAX) return bad_type(e, param, "a string or an array of content parts", v);
    json_t *p = json_array_get(v, bad), *type = json_object_get(p, "type");
    if (!json_is_object(p) || !json_is_string(type))
        return wf_api_fail(e, E400, param, "invalid_type", "Invalid '%s[%zu]': expected a content part object with a 'type'.", param, bad);
    if (st == WF_ERR_UNSUPPORTED)
        return wf_api_fail(e, E400, param, "unsupported_content",
                           "Invalid '%s[%zu]': content parts of type '%.40s' are not supported (%s%s%s only).", param, bad,
                           json_string_value(type), types[0], types[1] ? " and " : "", types[1] ? types[1] : "");
    return wf_api_fail(e, E400, param, "invalid_type", "Invalid '%s[%zu].text': expected a string.", param, bad);
}

bool wf_api_chat_message(json_t *m, size_t i, wf_api_request *r, wf_api_error *e) { return chat_message(m, i, r, e); }
bool wf_api_check_constraint(wf_api_request *r, wf_api_error *e) { return check_constraint(r, e); }
bool wf_api_bad_type(wf_api_error *e, const char *param, const char *want, const json_t *v) {
    return bad_type(e, param, want, v);
}
bool wf_api_oom(wf_api_error *e) { return oom(e); }
bool wf_api_get_int(json_t *o, const char *key, int64_t lo, int64_t hi, int64_t *out, bool *present, wf_api_error *e) {
    return get_int(o, key, lo, hi, out, present, e);
}
