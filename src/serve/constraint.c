/* constraint.c — what a request asks its answer to look like, as one
 * grammar: OpenAI's response_format (chat) and text.format (Responses API),
 * tool_choice "required" or a named function, llama.cpp's `grammar` and
 * `json_schema` fields. The endpoints parse their own shapes into a
 * wf_api_constraint (these helpers), and wf_api_constraint_gbnf is the one
 * place that turns any of them into GBNF for the grammar engine. Pure: no
 * model, no I/O; bad schemas and grammars are 400s naming what is wrong. */
#include "serve/api.h"

#include "base/buf.h"
#include "grammar/grammar.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void wf_api_constraint_free(wf_api_constraint *c) {
    if (!c) return;
    free(c->text);
    free(c->tools);
    memset(c, 0, sizeof *c);
}

static bool constraint_oom(wf_api_error *e) { return wf_api_fail(e, 500, "server_error", "", "", "Out of memory."); }

static bool set_text(wf_api_constraint *c, int kind, const char *s, wf_api_error *e) {
    free(c->text);
    c->text = s ? strdup(s) : NULL;
    if (s && !c->text) return constraint_oom(e);
    c->kind = kind;
    return true;
}

/* Set a JSON Schema constraint from a schema value (object or boolean). */
static bool set_schema(wf_api_constraint *c, json_t *schema, const char *param, wf_api_error *e) {
    if (!json_is_object(schema) && !json_is_boolean(schema))
        return wf_api_fail(e, 400, "invalid_request_error", param, "invalid_value", "Invalid '%s': expected a JSON Schema object.", param);
    char *t = json_dumps(schema, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!t) return constraint_oom(e);
    free(c->text);
    c->text = t;
    c->kind = WF_API_CONSTRAINT_JSON_SCHEMA;
    return true;
}

bool wf_api_constraint_format(void *fmt_, const char *param, bool flat, wf_api_constraint *c, wf_api_error *e) {
    json_t *fmt = fmt_;
    if (!fmt || json_is_null(fmt)) return true;
    json_t *t = json_is_object(fmt) ? json_object_get(fmt, "type") : NULL;
    if (!json_is_string(t))
        return wf_api_fail(e, 400, "invalid_request_error", param, "invalid_type", "Invalid '%s': expected an object with a 'type'.", param);
    const char *type = json_string_value(t);
    if (!strcmp(type, "text")) return true;
    snprintf(c->param, sizeof c->param, "%s", param);
    if (!strcmp(type, "json_object")) return set_text(c, WF_API_CONSTRAINT_JSON_OBJECT, NULL, e);
    if (strcmp(type, "json_schema") != 0)
        return wf_api_fail(e, 400, "invalid_request_error", param, "unsupported_value",
                           "Invalid '%s.type': '%.40s' is not supported (text, json_object, json_schema).", param, type);
    json_t *js = flat ? fmt : json_object_get(fmt, "json_schema");
    char p2[96];
    snprintf(p2, sizeof p2, "%s%s", param, flat ? "" : ".json_schema");
    if (!json_is_object(js))
        return wf_api_fail(e, 400, "invalid_request_error", p2, "missing_required_parameter", "Missing required parameter: '%s'.", p2);
    json_t *name = json_object_get(js, "name");
    if (name && !json_is_string(name))
        return wf_api_fail(e, 400, "invalid_request_error", p2, "invalid_type", "Invalid '%s.name': expected a string.", p2);
    json_t *strict = json_object_get(js, "strict");
    if (strict && !json_is_boolean(strict) && !json_is_null(strict))
        return wf_api_fail(e, 400, "invalid_request_error", p2, "invalid_type", "Invalid '%s.strict': expected a boolean.", p2);
    json_t *schema = json_object_get(js, "schema");
    char p3[112];
    snprintf(p3, sizeof p3, "%s.schema", p2);
    /* OpenAI: a missing schema means any JSON object */
    if (!schema) return set_text(c, WF_API_CONSTRAINT_JSON_OBJECT, NULL, e);
    return set_schema(c, schema, p3, e);
}

/* One tool's {name, parameters}, from chat's {type, function: {...}} or the
 * Responses API's flat {type, name, parameters}. */
static bool tool_entry(json_t *tool, size_t i, const char *param, json_t **out, wf_api_error *e) {
    *out = NULL;
    if (!json_is_object(tool))
        return wf_api_fail(e, 400, "invalid_request_error", param, "invalid_type", "Invalid '%s[%zu]': expected an object.", param, i);
    json_t *type = json_object_get(tool, "type");
    if (json_is_string(type) && strcmp(json_string_value(type), "function") != 0) return true; /* not a function tool */
    json_t *fn = json_object_get(tool, "function");
    if (!json_is_object(fn)) fn = tool;
    json_t *name = json_object_get(fn, "name");
    if (!json_is_string(name) || json_string_length(name) == 0 || json_string_length(name) > 64)
        return wf_api_fail(e, 400, "invalid_request_error", param, "invalid_value", "Invalid '%s[%zu]': a function needs a 'name' (1 to 64 characters).", param, i);
    json_t *params = json_object_get(fn, "parameters");
    if (params && !json_is_object(params))
        return wf_api_fail(e, 400, "invalid_request_error", param, "invalid_type", "Invalid '%s[%zu].parameters': expected a JSON Schema object.", param, i);
    json_t *p = params ? json_incref(params) : json_pack("{s:s}", "type", "object"); /* no parameters: an object */
    *out = p ? json_pack("{s:O, s:o}", "name", name, "parameters", p) : NULL;
    return *out ? true : constraint_oom(e);
}

bool wf_api_constraint_tools(void *tools_, void *tool_choice_, const char *param, wf_api_constraint *c, wf_api_error *e) {
    json_t *tools = tools_, *tool_choice = tool_choice_;
    if (!tool_choice || json_is_null(tool_choice)) return true;
    const char *want = NULL; /* a named function */
    if (json_is_string(tool_choice)) {
        const char *v = json_string_value(tool_choice);
        if (!strcmp(v, "auto") || !strcmp(v, "none")) return true;
        if (strcmp(v, "required") != 0)
            return wf_api_fail(e, 400, "invalid_request_error", "tool_choice", "invalid_value",
                               "Invalid 'tool_choice': '%.40s' (expected 'none', 'auto', 'required' or a function).", v);
    } else if (json_is_object(tool_choice)) {
        json_t *fn = json_object_get(tool_choice, "function");
        json_t *name = json_object_get(json_is_object(fn) ? fn : tool_choice, "name");
        if (!json_is_string(name))
            return wf_api_fail(e, 400, "invalid_request_error", "tool_choice", "invalid_value",
                               "Invalid 'tool_choice': expected {\"type\": \"function\", \"function\": {\"name\": ...}}.");
        want = json_string_value(name);
    } else {
        return wf_api_fail(e, 400, "invalid_request_error", "tool_choice", "invalid_type", "Invalid 'tool_choice': expected a string or an object.");
    }
    if (!json_is_array(tools) || json_array_size(tools) == 0)
        return wf_api_fail(e, 400, "invalid_request_error", "tool_choice", "invalid_value",
                           "Invalid 'tool_choice': it asks for a tool call but the request has no 'tools'.");
    json_t *list = json_array();
    if (!list) return constraint_oom(e);
    size_t i;
    json_t *t;
    json_array_foreach(tools, i, t) {
        json_t *entry;
        if (!tool_entry(t, i, param, &entry, e)) {
            json_decref(list);
            return false;
        }
        if (!entry) continue;
        if (!want || !strcmp(json_string_value(json_object_get(entry, "name")), want)) json_array_append(list, entry);
        json_decref(entry);
    }
    if (json_array_size(list) == 0) {
        json_decref(list);
        if (want)
            return wf_api_fail(e, 400, "invalid_request_error", "tool_choice", "invalid_value",
                               "Invalid 'tool_choice': no function named '%.64s' in 'tools'.", want);
        return wf_api_fail(e, 400, "invalid_request_error", "tool_choice", "invalid_value", "Invalid 'tool_choice': 'tools' has no functions.");
    }
    if (c->kind != WF_API_CONSTRAINT_NONE) {
        json_decref(list);
        return wf_api_fail(e, 400, "invalid_request_error", "tool_choice", "invalid_value",
                           "A forced tool call ('tool_choice') cannot be combined with a JSON response format.");
    }
    free(c->tools);
    snprintf(c->param, sizeof c->param, "%s", param);
    c->tools = json_dumps(list, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(list);
    if (!c->tools) return constraint_oom(e);
    c->kind = WF_API_CONSTRAINT_TOOL_CALL;
    return true;
}

bool wf_api_constraint_llama(void *o_, wf_api_constraint *c, wf_api_error *e) {
    json_t *o = o_;
    json_t *g = json_object_get(o, "grammar"), *js = json_object_get(o, "json_schema");
    if (g && json_is_null(g)) g = NULL;
    if (js && json_is_null(js)) js = NULL;
    if (g && !json_is_string(g))
        return wf_api_fail(e, 400, "invalid_request_error", "grammar", "invalid_type", "Invalid 'grammar': expected a string (GBNF).");
    if (g && json_string_length(g) == 0) g = NULL; /* llama.cpp: an empty grammar is none */
    if (g && js)
        return wf_api_fail(e, 400, "invalid_request_error", "json_schema", "invalid_value", "Give either 'grammar' or 'json_schema', not both.");
    snprintf(c->param, sizeof c->param, "%s", g ? "grammar" : "json_schema");
    if (g) return set_text(c, WF_API_CONSTRAINT_GBNF, json_string_value(g), e);
    if (js) return set_schema(c, js, "json_schema", e);
    return true;
}

wf_api_tool_format wf_api_tool_format_of(const char *template_src, size_t len) {
    static const char mistral[] = "[TOOL_CALLS]";
    for (size_t i = 0; template_src && i + sizeof mistral - 1 <= len; i++)
        if (!memcmp(template_src + i, mistral, sizeof mistral - 1)) return WF_API_TOOLS_MISTRAL;
    return WF_API_TOOLS_HERMES;
}

/* A forced call in the family's format, arguments per each tool's schema:
 *   Hermes/Qwen: <tool_call>\n{"name": "f", "arguments": {...}}\n</tool_call>
 *   Mistral:     [TOOL_CALLS][{"name": "f", "arguments": {...}}]
 * With parallel, one or more: Hermes blocks one after another (a newline
 * between), Mistral's list with ", " between the calls. */
static wf_status tool_gbnf(const char *tools_json, wf_api_tool_format fmt, bool parallel, char **gbnf, wf_error *err) {
    json_t *list = json_loads(tools_json, 0, NULL);
    if (!json_is_array(list)) {
        json_decref(list);
        return wf_fail(err, WF_ERR_INTERNAL, "tool list is not an array");
    }
    wf_gbnf_builder *b;
    wf_status st = wf_gbnf_builder_create(&b, err);
    if (st != WF_OK) {
        json_decref(list);
        return st;
    }
    /* call ::= "{" space "\"name\"" space ":" space ( NAME1 args1 | ... ) "}" space */
    wf_buf body = {0};
    size_t i;
    json_t *t;
    wf_buf_str(&body, "\"{\" space \"\\\"name\\\"\" space \":\" space (");
    json_array_foreach(list, i, t) {
        if (st != WF_OK) break;
        char rule[64];
        char *schema = json_dumps(json_object_get(t, "parameters"), JSON_COMPACT | JSON_ENCODE_ANY);
        char *name = json_dumps(json_object_get(t, "name"), JSON_ENCODE_ANY);
        if (!schema || !name) st = wf_fail(err, WF_ERR_NOMEM, "out of memory");
        if (st == WF_OK) {
            st = wf_gbnf_builder_add_schema(b, schema, strlen(schema), rule, sizeof rule, err);
            if (st != WF_OK) {
                wf_error inner = *err;
                st = wf_fail(err, st, "tool '%s' parameters: %s", json_string_value(json_object_get(t, "name")), inner.msg);
            }
        }
        /* the name as a GBNF literal of its JSON text */
        if (st == WF_OK) {
            wf_buf_printf(&body, "%s\"", i ? " | " : "");
            for (const char *p = name; *p; p++) {
                if (*p == '"' || *p == '\\') wf_buf_add(&body, "\\", 1);
                wf_buf_add(&body, p, 1);
            }
            wf_buf_printf(&body, "\" space \",\" space \"\\\"arguments\\\"\" space \":\" space %s", rule);
        }
        free(schema);
        free(name);
    }
    if (st == WF_OK && (!wf_buf_str(&body, ") \"}\"") || body.failed)) st = wf_fail(err, WF_ERR_NOMEM, "out of memory");
    if (st == WF_OK) st = wf_gbnf_builder_add_rule(b, "tool-call", body.p, err);
    /* several calls (parallel_tool_calls): Mistral's list grows, Hermes blocks follow one another */
    static const char *const roots[2][2] = {
        {"\"<tool_call>\\n\" tool-call \"\\n</tool_call>\"",
         "\"<tool_call>\\n\" tool-call \"\\n</tool_call>\" (\"\\n<tool_call>\\n\" tool-call \"\\n</tool_call>\")*"},
        {"\"[TOOL_CALLS]\" \"[\" tool-call \"]\"", "\"[TOOL_CALLS]\" \"[\" tool-call (\", \" tool-call)* \"]\""}};
    if (st == WF_OK) st = wf_gbnf_builder_finish(b, roots[fmt == WF_API_TOOLS_MISTRAL][parallel], gbnf, err);
    wf_buf_free(&body);
    wf_gbnf_builder_free(b);
    json_decref(list);
    return st;
}

bool wf_api_constraint_gbnf(const wf_api_constraint *c, wf_api_tool_format fmt, char **gbnf, wf_api_error *e) {
    *gbnf = NULL;
    wf_error err;
    err.msg[0] = 0;
    wf_status st = WF_OK;
    const char *param = "response_format";
    switch (c->kind) {
    case WF_API_CONSTRAINT_NONE: return true;
    case WF_API_CONSTRAINT_GBNF: {
        /* compile once here so that a bad grammar is a 400 with its line and column */
        wf_grammar *g = NULL;
        param = "grammar";
        st = wf_grammar_from_gbnf(c->text, strlen(c->text), &g, &err);
        wf_grammar_free(g);
        if (st == WF_OK && !(*gbnf = strdup(c->text))) return constraint_oom(e);
        break;
    }
    case WF_API_CONSTRAINT_JSON_SCHEMA: param = "json_schema"; st = wf_grammar_json_schema_to_gbnf(c->text, strlen(c->text), gbnf, &err); break;
    case WF_API_CONSTRAINT_JSON_OBJECT: {
        wf_gbnf_builder *b;
        if ((st = wf_gbnf_builder_create(&b, &err)) == WF_OK) {
            wf_gbnf_builder_use_value(b);
            st = wf_gbnf_builder_finish(b, "json-object", gbnf, &err);
            wf_gbnf_builder_free(b);
        }
        break;
    }
    case WF_API_CONSTRAINT_TOOL_CALL: param = "tools"; st = tool_gbnf(c->tools, fmt, c->parallel, gbnf, &err); break;
    default: return wf_api_fail(e, 500, "server_error", "", "", "Unknown constraint kind %d.", c->kind);
    }
    if (st == WF_ERR_NOMEM) return constraint_oom(e);
    if (c->param[0]) param = c->param;
    if (st != WF_OK) return wf_api_fail(e, 400, "invalid_request_error", param, "invalid_value", "%s", err.msg);
    return true;
}
