/* api_responses.c — OpenAI's Responses API (POST /v1/responses) as a pure
 * layer: the request's input items, instructions and tools -> the chat
 * messages and template variables every chat prompt is built from
 * (chat/messages.h), and the response object and stream events back.
 *
 * Input items become chat messages: `message` (roles system, developer,
 * user, assistant; content a string or input_text / output_text parts),
 * `function_call` (joined to the assistant message before it as a
 * tool_calls entry, its call_id the id), `function_call_output` (a `tool`
 * message), `reasoning` (its text — the `reasoning_text` content, else the
 * `summary_text` summary — becomes the `reasoning_content` of the assistant
 * message after it, which the chat message layer also passes as `thinking`:
 * templates that keep an earlier turn's reasoning read one of them). Tools
 * of type `function` reach the template in chat-completions form; the other types
 * clients send (web_search, custom, local_shell, namespace, ...) are
 * skipped, as docs/agents.md says. Bodies are hostile: every item is
 * type-checked and an unknown item or part type is a 400 naming it. */
#include "serve/api_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef E400
#define E400 400, "invalid_request_error"
#endif
#define MAX_INPUT_ITEMS 100000

static json_t *rs_get(const json_t *o, const char *key) {
    json_t *v = json_object_get(o, key);
    return v && !json_is_null(v) ? v : NULL;
}

static const char *const INPUT_PARTS[] = {"input_text", "output_text", NULL};

/* The chat conversation being built from the input items. */
typedef struct conv {
    json_t *msgs;        /* chat messages                                     */
    json_t *open_calls;  /* tool_calls of the last assistant message, or NULL */
    json_t *open_msg;    /* that assistant message, or NULL                   */
    json_t *reasoning;   /* reasoning items' text for the next assistant
                            message (a string), or NULL                      */
} conv;

/* The pending reasoning onto assistant message m (joined to what m has). */
static bool attach_reasoning(conv *c, json_t *m) {
    if (!c->reasoning) return true;
    json_t *had = json_object_get(m, "reasoning_content");
    bool ok;
    if (json_is_string(had)) {
        size_t a = json_string_length(had), b = json_string_length(c->reasoning);
        char *j = malloc(a + b + 2);
        ok = j != NULL;
        if (ok) {
            memcpy(j, json_string_value(had), a);
            j[a] = '\n';
            memcpy(j + a + 1, json_string_value(c->reasoning), b);
            ok = !json_object_set_new(m, "reasoning_content", json_stringn(j, a + 1 + b));
            free(j);
        }
    } else {
        ok = !json_object_set(m, "reasoning_content", c->reasoning);
    }
    json_decref(c->reasoning);
    c->reasoning = NULL;
    return ok;
}

static bool item_message(conv *c, json_t *it, const char *param, wf_api_error *e) {
    json_t *role = json_object_get(it, "role");
    static const char *const roles[] = {"system", "developer", "user", "assistant"};
    bool ok = false;
    for (size_t i = 0; json_is_string(role) && i < 4; i++) ok |= !strcmp(json_string_value(role), roles[i]);
    if (!ok)
        return wf_api_fail(e, E400, param, "invalid_value", "Invalid '%s.role': '%.40s' is not one of system, developer, user, assistant.",
                           param, json_is_string(role) ? json_string_value(role) : "(not a string)");
    json_t *content = rs_get(it, "content");
    char cparam[64];
    snprintf(cparam, sizeof cparam, "%s.content", param);
    if (!content) return wf_api_fail(e, E400, cparam, "missing_required_parameter", "Missing required parameter: '%s'.", cparam);
    char *text = NULL;
    size_t len = 0;
    if (!wf_api_text_parts(content, INPUT_PARTS, cparam, &text, &len, e)) return false;
    json_t *m = json_pack("{s:O, s:s%}", "role", role, "content", text, len);
    free(text);
    if (!m || json_array_append_new(c->msgs, m)) return wf_api_oom(e);
    c->open_calls = NULL;
    c->open_msg = NULL;
    if (!strcmp(json_string_value(role), "assistant")) {
        c->open_calls = json_array();
        c->open_msg = m;
        if (!c->open_calls || json_object_set_new(m, "tool_calls", c->open_calls) || !attach_reasoning(c, m))
            return wf_api_oom(e);
    }
    return true;
}

static bool need_str(json_t *it, const char *key, const char *param, json_t **out, wf_api_error *e) {
    char p[80];
    snprintf(p, sizeof p, "%s.%s", param, key);
    json_t *v = rs_get(it, key);
    if (!v) return wf_api_fail(e, E400, p, "missing_required_parameter", "Missing required parameter: '%s'.", p);
    if (!json_is_string(v)) return wf_api_bad_type(e, p, "a string", v);
    *out = v;
    return true;
}

/* A function_call item: a tool_calls entry of the assistant message before
 * it (a new one, with empty content, when there is none). */
static bool item_function_call(conv *c, json_t *it, const char *param, wf_api_error *e) {
    json_t *call_id = NULL, *name = NULL, *args = NULL;
    if (!need_str(it, "call_id", param, &call_id, e) || !need_str(it, "name", param, &name, e) ||
        !need_str(it, "arguments", param, &args, e))
        return false;
    if (!c->open_calls) {
        json_t *m = json_pack("{s:s, s:s, s:[]}", "role", "assistant", "content", "", "tool_calls");
        if (!m || json_array_append_new(c->msgs, m)) return wf_api_oom(e);
        c->open_calls = json_object_get(m, "tool_calls");
        c->open_msg = m;
    }
    if (!attach_reasoning(c, c->open_msg)) return wf_api_oom(e);
    json_t *tc = json_pack("{s:O, s:s, s:{s:O, s:O}}", "id", call_id, "type", "function", "function", "name", name,
                           "arguments", args);
    if (!tc || json_array_append_new(c->open_calls, tc)) return wf_api_oom(e);
    return true;
}

static bool item_function_output(conv *c, json_t *it, const char *param, wf_api_error *e) {
    json_t *call_id = NULL;
    if (!need_str(it, "call_id", param, &call_id, e)) return false;
    char p[80];
    snprintf(p, sizeof p, "%s.output", param);
    json_t *out = rs_get(it, "output");
    if (!out) return wf_api_fail(e, E400, p, "missing_required_parameter", "Missing required parameter: '%s'.", p);
    char *text = NULL;
    size_t len = 0;
    if (!wf_api_text_parts(out, INPUT_PARTS, p, &text, &len, e)) return false;
    json_t *m = json_pack("{s:s, s:O, s:s%}", "role", "tool", "tool_call_id", call_id, "content", text, len);
    free(text);
    if (!m || json_array_append_new(c->msgs, m)) return wf_api_oom(e);
    c->open_calls = NULL;
    c->open_msg = NULL;
    return true;
}

static const char *const REASONING_PARTS[] = {"reasoning_text", NULL};
static const char *const SUMMARY_PARTS[] = {"summary_text", NULL};

/* A reasoning item (an earlier answer's reasoning, as clients send it
 * back): its `content` text (reasoning_text parts), else its `summary`
 * (summary_text parts), kept for the next assistant message. An item with
 * only encrypted_content has no text wafer can use. */
static bool item_reasoning(conv *c, json_t *it, const char *param, wf_api_error *e) {
    char p[80];
    char *text = NULL;
    size_t len = 0;
    json_t *content = rs_get(it, "content"), *summary = rs_get(it, "summary"), *enc = rs_get(it, "encrypted_content");
    if (enc && !json_is_string(enc)) {
        snprintf(p, sizeof p, "%s.encrypted_content", param);
        return wf_api_bad_type(e, p, "a string", enc);
    }
    if (summary && !json_is_array(summary)) {
        snprintf(p, sizeof p, "%s.summary", param);
        return wf_api_bad_type(e, p, "an array of summary_text parts", summary);
    }
    if (content && !json_is_array(content)) {
        snprintf(p, sizeof p, "%s.content", param);
        return wf_api_bad_type(e, p, "an array of reasoning_text parts", content);
    }
    if (content) {
        snprintf(p, sizeof p, "%s.content", param);
        if (!wf_api_text_parts(content, REASONING_PARTS, p, &text, &len, e)) return false;
    }
    if (summary && len == 0) {
        free(text);
        text = NULL;
        snprintf(p, sizeof p, "%s.summary", param);
        if (!wf_api_text_parts(summary, SUMMARY_PARTS, p, &text, &len, e)) return false;
    } else if (summary) { /* checked even when the content is used */
        char *t2 = NULL;
        size_t l2 = 0;
        snprintf(p, sizeof p, "%s.summary", param);
        bool ok = wf_api_text_parts(summary, SUMMARY_PARTS, p, &t2, &l2, e);
        free(t2);
        if (!ok) {
            free(text);
            return false;
        }
    }
    if (!len) {
        free(text);
        return true; /* nothing to show the model */
    }
    json_t *r = NULL;
    if (c->reasoning) { /* several items before one message: joined */
        size_t a = json_string_length(c->reasoning);
        char *j = malloc(a + 1 + len);
        if (j) {
            memcpy(j, json_string_value(c->reasoning), a);
            j[a] = '\n';
            memcpy(j + a + 1, text, len);
            r = json_stringn(j, a + 1 + len);
            free(j);
        }
    } else {
        r = json_stringn(text, len);
    }
    free(text);
    if (!r) return wf_api_oom(e);
    json_decref(c->reasoning);
    c->reasoning = r;
    /* the reasoning belongs to the answer after it, never to a turn before */
    c->open_calls = NULL;
    c->open_msg = NULL;
    return true;
}


static bool parse_input(const json_t *o, const wf_api_limits *lim, wf_api_request *r, wf_api_error *e) {
    (void)lim;
    json_t *in = rs_get(o, "input");
    conv c = {json_array(), NULL, NULL, NULL};
    if (!c.msgs) return wf_api_oom(e);
    bool ok = true;
    if (!in) {
        ok = r->previous_response_id || r->instructions
                 ? true
                 : wf_api_fail(e, E400, "input", "missing_required_parameter", "Missing required parameter: 'input'.");
    } else if (json_is_string(in)) {
        json_t *m = json_pack("{s:s, s:O}", "role", "user", "content", in);
        ok = m && !json_array_append_new(c.msgs, m) ? true : wf_api_oom(e);
    } else if (!json_is_array(in)) {
        ok = wf_api_bad_type(e, "input", "a string or an array of input items", in);
    } else if (json_array_size(in) > MAX_INPUT_ITEMS) {
        ok = wf_api_fail(e, E400, "input", "invalid_value", "Invalid 'input': more than %d items.", MAX_INPUT_ITEMS);
    }
    for (size_t i = 0; ok && json_is_array(in) && i < json_array_size(in); i++) {
        json_t *it = json_array_get(in, i);
        char param[40];
        snprintf(param, sizeof param, "input[%zu]", i);
        if (!json_is_object(it)) {
            ok = wf_api_bad_type(e, param, "an input item object", it);
            break;
        }
        json_t *type = rs_get(it, "type");
        if (type && !json_is_string(type)) {
            ok = wf_api_bad_type(e, param, "an item with a string 'type'", type);
            break;
        }
        const char *t = type ? json_string_value(type) : json_object_get(it, "role") ? "message" : "";
        if (!strcmp(t, "message")) ok = item_message(&c, it, param, e);
        else if (!strcmp(t, "function_call")) ok = item_function_call(&c, it, param, e);
        else if (!strcmp(t, "function_call_output")) ok = item_function_output(&c, it, param, e);
        else if (!strcmp(t, "reasoning")) ok = item_reasoning(&c, it, param, e);
        else
            ok = wf_api_fail(e, E400, param, "unsupported_value",
                             *t ? "Invalid '%s.type': input items of type '%.40s' are not supported (message, function_call, "
                                  "function_call_output, reasoning)."
                                : "Invalid '%s': an input item needs a 'type' (or a 'role' for a message).%.0s",
                             param, t);
    }
    for (size_t i = 0; ok && i < json_array_size(c.msgs); i++) {
        json_t *m = json_array_get(c.msgs, i);
        json_t *tc = json_object_get(m, "tool_calls");
        if (json_is_array(tc) && json_array_size(tc) == 0) json_object_del(m, "tool_calls");
        ok = wf_api_chat_message(m, i, r, e);
    }
    json_decref(c.reasoning); /* reasoning with no assistant message after it: no turn to show it in */
    json_decref(c.msgs);
    return ok;
}

/* tools: type "function" -> chat form; other types are skipped. */
static bool parse_tools(const json_t *o, json_t *extra, json_t *echo, wf_api_request *r, wf_api_error *e) {
    json_t *tools = rs_get(o, "tools");
    if (!tools) return true;
    if (!json_is_array(tools)) return wf_api_bad_type(e, "tools", "an array", tools);
    json_t *chat = json_array(), *kept = json_array();
    if (!chat || !kept) {
        json_decref(chat);
        json_decref(kept);
        return wf_api_oom(e);
    }
    bool ok = true;
    for (size_t i = 0; ok && i < json_array_size(tools); i++) {
        json_t *t = json_array_get(tools, i), *type = json_object_get(t, "type");
        char param[40];
        snprintf(param, sizeof param, "tools[%zu]", i);
        if (!json_is_object(t) || !json_is_string(type)) {
            ok = wf_api_bad_type(e, param, "a tool object with a 'type'", t);
            break;
        }
        if (strcmp(json_string_value(type), "function") != 0) continue; /* web_search, custom, ...: skipped */
        json_t *name = json_object_get(t, "name"), *desc = rs_get(t, "description"), *params = rs_get(t, "parameters");
        if (!json_is_string(name) || json_string_length(name) == 0) {
            char p[56];
            snprintf(p, sizeof p, "%s.name", param);
            ok = wf_api_fail(e, E400, p, "missing_required_parameter", "Missing required parameter: '%s'.", p);
            break;
        }
        if ((desc && !json_is_string(desc)) || (params && !json_is_object(params))) {
            ok = wf_api_bad_type(e, param, "a function tool with a string 'description' and an object 'parameters'", t);
            break;
        }
        json_t *f = json_pack("{s:O}", "name", name);
        if (f && desc) json_object_set(f, "description", desc);
        if (f && params) json_object_set(f, "parameters", params);
        json_t *ct = f ? json_pack("{s:s, s:o}", "type", "function", "function", f) : NULL;
        ok = ct && !json_array_append_new(chat, ct) && !json_array_append(kept, t) ? true : wf_api_oom(e);
    }
    if (ok && json_array_size(chat)) {
        json_object_set(extra, "tools", chat);
        r->tools = true;
    }
    if (ok) json_object_set(echo, "tools", kept);
    json_decref(chat);
    json_decref(kept);
    return ok;
}

/* tool_choice: "auto", "none", "required" or a named function; the last
 * two are exact: the answer is constrained to a call (constraint.c). */
static bool parse_tool_choice(const json_t *o, json_t *echo, wf_api_request *r, wf_api_error *e) {
    json_t *tc = rs_get(o, "tool_choice");
    if (!wf_api_constraint_tools(rs_get(o, "tools"), tc, "tools", &r->constraint, e)) return false;
    r->constraint.parallel = json_is_true(rs_get(o, "parallel_tool_calls")); /* several forced calls: only when asked for */
    if (!tc) tc = json_string("auto");
    else json_incref(tc);
    if (!tc) return wf_api_oom(e);
    if (json_is_string(tc) && !strcmp(json_string_value(tc), "none")) r->tools = false;
    if (r->constraint.kind == WF_API_CONSTRAINT_TOOL_CALL) r->tools = true;
    return json_object_set_new(echo, "tool_choice", tc) ? wf_api_oom(e) : true;
}

/* text: {"format": {"type": "text" | "json_object" | "json_schema", ...}}
 * (the JSON formats are exact: constraint.c), "verbosity". */
static bool parse_text(const json_t *o, json_t *echo, wf_api_request *r, wf_api_error *e) {
    json_t *t = rs_get(o, "text");
    json_t *def = json_pack("{s:{s:s}}", "format", "type", "text");
    if (!def) return wf_api_oom(e);
    if (!t) return json_object_set_new(echo, "text", def) ? wf_api_oom(e) : true;
    json_decref(def);
    if (!json_is_object(t)) return wf_api_bad_type(e, "text", "an object", t);
    json_t *f = rs_get(t, "format");
    if (f && r->constraint.kind == WF_API_CONSTRAINT_TOOL_CALL && json_is_object(f) &&
        json_is_string(json_object_get(f, "type")) && strcmp(json_string_value(json_object_get(f, "type")), "text") != 0)
        return wf_api_fail(e, E400, "text.format", "invalid_value",
                           "A forced tool call ('tool_choice') cannot be combined with a JSON 'text.format'.");
    if (f && !wf_api_constraint_format(f, "text.format", true, &r->constraint, e)) return false;
    json_object_set(echo, "text", t);
    return true;
}

/* Fields accepted with no effect beyond being repeated in the response
 * (type-checked so that a wrong type is still a 400). */
static bool parse_accepted(const json_t *o, json_t *echo, wf_api_error *e) {
    static const struct { const char *key; int type; } acc[] = {
        {"metadata", JSON_OBJECT}, {"user", JSON_STRING}, {"safety_identifier", JSON_STRING},
        {"prompt_cache_key", JSON_STRING}, {"include", JSON_ARRAY}, {"reasoning", JSON_OBJECT},
        {"client_metadata", JSON_OBJECT}, {"truncation", JSON_STRING}, {"service_tier", JSON_STRING},
    };
    for (size_t i = 0; i < sizeof acc / sizeof acc[0]; i++) {
        json_t *v = rs_get(o, acc[i].key);
        if (!v) continue;
        if ((int)json_typeof(v) != acc[i].type)
            return wf_api_bad_type(e, acc[i].key,
                                   acc[i].type == JSON_OBJECT ? "an object" : acc[i].type == JSON_ARRAY ? "an array" : "a string", v);
        if (strcmp(acc[i].key, "client_metadata") != 0 && strcmp(acc[i].key, "include") != 0) json_object_set(echo, acc[i].key, v);
    }
    json_t *bg = rs_get(o, "background");
    if (bg && !json_is_boolean(bg)) return wf_api_bad_type(e, "background", "a boolean", bg);
    if (json_is_true(bg))
        return wf_api_fail(e, E400, "background", "unsupported_value", "Invalid 'background': background responses are not supported; "
                                                                       "stream or wait for the answer.");
    return true;
}

static bool get_bool_field(const json_t *o, const char *key, bool *out, wf_api_error *e) {
    json_t *v = rs_get(o, key);
    if (!v) return true;
    if (!json_is_boolean(v)) return wf_api_bad_type(e, key, "a boolean", v);
    *out = json_is_true(v);
    return true;
}

static bool dup_str(const json_t *o, const char *key, char **out, size_t *len, wf_api_error *e) {
    json_t *v = rs_get(o, key);
    if (!v) return true;
    if (!json_is_string(v)) return wf_api_bad_type(e, key, "a string", v);
    size_t n = json_string_length(v);
    if (!(*out = malloc(n + 1))) return wf_api_oom(e);
    memcpy(*out, json_string_value(v), n + 1);
    if (len) *len = n;
    return true;
}

/* Every top-level field is known (docs/agents.md): an unknown one is a
 * 400, as OpenAI answers, never silently ignored. */
static bool known_fields(const json_t *o, wf_api_error *e) {
    static const char *const known[] = {
        "model", "input", "instructions", "tools", "tool_choice", "parallel_tool_calls", "max_output_tokens",
        "temperature", "top_p", "text", "store", "previous_response_id", "stream", "stream_options", "metadata", "user",
        "safety_identifier", "prompt_cache_key", "include", "reasoning", "client_metadata", "truncation", "service_tier",
        "background", "prediction", "stop", "seed", "speculative", "top_k", "min_p", "presence_penalty",
        "frequency_penalty", "repeat_penalty", "repeat_last_n", "max_tool_calls", "top_logprobs"};
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)o, key, v) {
        bool ok = false;
        for (size_t i = 0; i < sizeof known / sizeof known[0] && !ok; i++) ok = !strcmp(key, known[i]);
        if (!ok)
            return wf_api_fail(e, E400, key, "unknown_parameter", "Unrecognized request argument supplied: %.64s", key);
    }
    json_t *tl = rs_get(o, "top_logprobs");
    if (tl && !(json_is_integer(tl) && json_integer_value(tl) == 0))
        return wf_api_fail(e, E400, "top_logprobs", "unsupported_parameter", "Unsupported parameter: 'top_logprobs' (0 only on /v1/responses).");
    json_t *mtc = rs_get(o, "max_tool_calls");
    if (mtc && !json_is_integer(mtc)) return wf_api_bad_type(e, "max_tool_calls", "an integer", mtc);
    return true;
}

bool wf_api_parse_responses(const json_t *o_in, const wf_api_limits *lim, wf_api_request *r, wf_api_error *e) {
    json_t *o = (json_t *)o_in;
    if (!known_fields(o, e)) return false;
    r->store = true;
    r->parallel_tool_calls = true;
    if (!dup_str(o, "instructions", &r->instructions, &r->instructions_len, e)) return false;
    if (!dup_str(o, "previous_response_id", &r->previous_response_id, NULL, e)) return false;
    if (!get_bool_field(o, "store", &r->store, e) || !get_bool_field(o, "parallel_tool_calls", &r->parallel_tool_calls, e))
        return false;
    int64_t x = 0;
    bool present = false;
    if (!wf_api_get_int(o, "max_output_tokens", 1, lim && lim->max_tokens > 0 ? lim->max_tokens : 1 << 20, &x, &present, e))
        return false;
    if (present) r->max_tokens = (int32_t)x;
    if (!parse_input(o, lim, r, e)) return false;
    json_t *extra = json_object(), *echo = json_object();
    bool ok = extra && echo ? true : wf_api_oom(e);
    ok = ok && parse_tools(o, extra, echo, r, e) && parse_tool_choice(o, echo, r, e) && parse_text(o, echo, r, e) &&
         parse_accepted(o, echo, e) && wf_api_check_constraint(r, e);
    if (ok) {
        json_object_set_new(echo, "parallel_tool_calls", json_boolean(r->parallel_tool_calls));
        json_object_set_new(echo, "store", json_boolean(r->store));
        json_object_set_new(echo, "temperature", json_real(r->sp.temperature));
        json_object_set_new(echo, "top_p", json_real(r->sp.top_p));
        json_object_set_new(echo, "max_output_tokens", r->max_tokens > 0 ? json_integer(r->max_tokens) : json_null());
        json_object_set_new(echo, "instructions", r->instructions ? json_stringn(r->instructions, r->instructions_len) : json_null());
        if (!(r->echo_json = json_dumps(echo, JSON_COMPACT | JSON_PRESERVE_ORDER))) ok = wf_api_oom(e);
    }
    if (ok && json_object_size(extra) && !(r->template_extra = json_dumps(extra, JSON_COMPACT))) ok = wf_api_oom(e);
    json_decref(extra);
    json_decref(echo);
    return ok;
}

/* ---- the response object and its stream events ------------------------- */

/* Output items: a harmony model's reasoning, the message (when there is
 * text or no call), then one function_call per tool call. Ids derive from
 * the response id. */
static json_t *output_items(const wf_api_resp_view *v) {
    json_t *out = json_array();
    if (!out) return NULL;
    const char *suffix = strchr(v->id, '_') ? strchr(v->id, '_') + 1 : v->id;
    json_t *calls = v->calls_json ? json_loads(v->calls_json, 0, NULL) : NULL;
    bool has_calls = json_array_size(calls) > 0;
    if (v->reasoning && v->reasoning_len) { /* the reasoning, as OpenAI's reasoning items carry it */
        char id[96];
        snprintf(id, sizeof id, "rs_%s", suffix);
        json_t *rs = json_pack("{s:s, s:s, s:[], s:[{s:s, s:s%}], s:s}", "id", id, "type", "reasoning", "summary", "content",
                               "type", "reasoning_text", "text", v->reasoning, v->reasoning_len, "status",
                               !strcmp(v->status, "in_progress") ? "in_progress" : "completed");
        if (!rs || json_array_append_new(out, rs)) goto fail;
    }
    if (v->text_len || !has_calls) {
        char id[96];
        snprintf(id, sizeof id, "msg_%s", suffix);
        json_t *m = json_pack("{s:s, s:s, s:s, s:s, s:[{s:s, s:s%, s:[], s:[]}]}", "id", id, "type", "message", "status",
                              !strcmp(v->status, "in_progress") ? "in_progress" : "completed", "role", "assistant", "content",
                              "type", "output_text", "text", v->text ? v->text : "", v->text ? v->text_len : 0, "annotations",
                              "logprobs");
        if (!m || json_array_append_new(out, m)) goto fail;
    }
    size_t i;
    json_t *c;
    json_array_foreach(calls, i, c) {
        json_t *f = json_object_get(c, "function");
        char id[96];
        snprintf(id, sizeof id, "fc_%s_%zu", suffix, i);
        json_t *fc = json_pack("{s:s, s:s, s:s, s:O, s:O, s:O}", "id", id, "type", "function_call", "status", "completed",
                               "call_id", json_object_get(c, "id"), "name", json_object_get(f, "name"), "arguments",
                               json_object_get(f, "arguments"));
        if (!fc || json_array_append_new(out, fc)) goto fail;
    }
    json_decref(calls);
    return out;
fail:
    json_decref(calls);
    json_decref(out);
    return NULL;
}

json_t *wf_api_resp_object(const wf_api_resp_view *v) {
    json_t *o = v->echo_json ? json_loads(v->echo_json, 0, NULL) : json_object();
    if (!o) return NULL;
    json_t *u = json_pack("{s:i, s:{s:i}, s:i, s:{s:i}, s:i}", "input_tokens", v->usage.prompt_tokens, "input_tokens_details",
                          "cached_tokens", v->usage.cached_tokens, "output_tokens", v->usage.completion_tokens,
                          "output_tokens_details", "reasoning_tokens", v->usage.reasoning_tokens, "total_tokens",
                          v->usage.prompt_tokens + v->usage.completion_tokens);
    if (u && v->prediction) {
        json_t *d = json_object_get(u, "output_tokens_details");
        json_object_set_new(d, "accepted_prediction_tokens", json_integer(v->usage.accepted_prediction_tokens));
        json_object_set_new(d, "rejected_prediction_tokens", json_integer(v->usage.rejected_prediction_tokens));
    }
    json_t *out = v->with_output ? output_items(v) : json_array();
    bool done = strcmp(v->status, "in_progress") != 0;
    json_t *head = json_pack("{s:s, s:s, s:I, s:s, s:o, s:o, s:s, s:o, s:o}", "id", v->id, "object", "response", "created_at",
                             (json_int_t)v->created, "status", v->status, "error",
                             v->error ? json_pack("{s:s, s:s}", "code", "server_error", "message", v->error) : json_null(),
                             "incomplete_details", v->incomplete ? json_pack("{s:s}", "reason", v->incomplete) : json_null(),
                             "model", v->model ? v->model : "", "output", out ? out : json_null(), "usage",
                             done && u ? u : (json_decref(u), json_null()));
    if (!head || !out) {
        json_decref(head);
        json_decref(o);
        return NULL;
    }
    json_object_set_new(head, "previous_response_id",
                        v->previous_response_id ? json_string(v->previous_response_id) : json_null());
    /* the SDKs' convenience: every output_text part joined */
    if (v->with_output) json_object_set_new(head, "output_text", json_stringn(v->text ? v->text : "", v->text ? v->text_len : 0));
    json_object_update(head, o); /* tools, tool_choice, metadata... */
    json_decref(o);
    if (!json_object_get(head, "metadata")) json_object_set_new(head, "metadata", json_object());
    json_object_set_new(head, "reasoning", json_pack("{s:n, s:n}", "effort", "summary"));
    if (!json_object_get(head, "truncation")) json_object_set_new(head, "truncation", json_string("disabled"));
    return head;
}

char *wf_api_resp_event(const char *type, json_t *payload, uint64_t *seq) {
    if (!payload) return NULL;
    json_t *o = json_pack("{s:s, s:I}", "type", type, "sequence_number", (json_int_t)(*seq)++);
    if (!o) {
        json_decref(payload);
        return NULL;
    }
    json_object_update(o, payload);
    json_decref(payload);
    char *d = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!d) return NULL;
    size_t n = strlen(d), tl = strlen(type);
    size_t cap = tl + n + sizeof "event: \ndata: \n\n";
    char *ev = malloc(cap);
    if (ev) snprintf(ev, cap, "event: %s\ndata: %s\n\n", type, d);
    free(d);
    return ev;
}
