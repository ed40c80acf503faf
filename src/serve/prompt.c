/* prompt.c — a parsed request -> prompt tokens and generation
 * parameters, on the HTTP thread (the vocabulary and the compiled template
 * are read-only, so requests are prepared in parallel with the engine).
 *
 * Chat: the conversation is rendered with the chat template and tokenized
 * with special-token text parsed only where the template put it: a message
 * whose content contains such text ("<|im_end|>") has its content tokenized
 * as plain text, so a user cannot forge turns. FIM (/infill, /v1/completions
 * with `suffix`): wf_fim_build with the model's markers. Raw prompts
 * (/v1/completions, /completion) parse special-token text, as llama.cpp's
 * server does: the caller writes the whole prompt. */
#define _GNU_SOURCE /* memmem */
#include "serve/serve_int.h"
#include "base/buf.h"

#include "chat/messages.h"
#include "serve/responses.h"
#include "text/tokenizer.h"

#include <jansson.h>
#include <stdint.h>

#include <stdlib.h>
#include <string.h>

static bool tok_fail(wf_api_error *e, const wf_error *err) {
    if (err->code == WF_ERR_NOMEM) return wf_api_fail(e, 500, "server_error", NULL, NULL, "out of memory while tokenizing");
    return wf_api_fail(e, 400, "invalid_request_error", NULL, NULL, "tokenize: %s", err->msg);
}

typedef struct tokv {
    int32_t *p;
    size_t n, cap;
} tokv;

static bool tokv_add(tokv *t, const int32_t *ids, size_t n) { return WF_ARRAY_APPEND(t->p, t->n, t->cap, ids, n); }

/* Tokenize s[0..n) (special text parsed or not) and append. */
static bool add_piece(const wf_vocab *v, tokv *t, const char *s, size_t n, bool special, wf_api_error *e) {
    if (n == 0) return true;
    int32_t *ids = NULL;
    size_t k = 0;
    wf_error err = {0};
    wf_status st = special ? wf_tokenize(v, s, n, false, true, &ids, &k, &err)
                           : wf_tokenize_text(v, s, n, false, NULL, 0, &ids, &k, &err);
    if (st) return tok_fail(e, &err);
    bool ok = tokv_add(t, ids, k);
    free(ids);
    return ok ? true : wf_api_fail(e, 500, "server_error", NULL, NULL, "out of memory");
}

/* wafer's default tool prompt (docs/agents.md), for templates that do not
 * show `tools`: the tools as JSON and how to call them in the format the
 * server parses (tool_calls.c). malloc'd, or NULL. */
static char *default_tool_prompt(const char *extra_json, wf_api_tool_format fmt) {
    json_t *extra = extra_json ? json_loads(extra_json, 0, NULL) : NULL;
    json_t *tools = json_object_get(extra, "tools");
    wf_buf b = {0};
    wf_buf_str(&b, "# Tools\n\nYou may call one or more functions to help with the request. "
                   "The functions, as JSON Schema, are:\n<tools>\n");
    size_t i;
    json_t *t;
    json_array_foreach(tools, i, t) {
        char *d = json_dumps(t, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (!d || !wf_buf_str(&b, d) || !wf_buf_str(&b, "\n")) b.failed = true;
        free(d);
    }
    if (fmt == WF_API_TOOLS_MISTRAL)
        wf_buf_str(&b, "</tools>\n\nTo call functions, answer with [TOOL_CALLS] followed by a JSON array of the calls:\n"
                       "[TOOL_CALLS][{\"name\": <function-name>, \"arguments\": <arguments-json-object>}]");
    else
        wf_buf_str(&b, "</tools>\n\nTo call a function, answer with a JSON object of its name and arguments inside "
                       "<tool_call></tool_call> tags, one block per call:\n<tool_call>\n"
                       "{\"name\": <function-name>, \"arguments\": <arguments-json-object>}\n</tool_call>");
    json_decref(extra);
    if (b.failed) {
        wf_buf_free(&b);
        return NULL;
    }
    return wf_buf_take(&b, NULL);
}

bool srv_template_shows_tools(const wf_server *s) {
    static const char probe[] = "{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"wafer_probe_tool\","
                                "\"description\":\"probe\",\"parameters\":{\"type\":\"object\",\"properties\":{}}}}]}";
    wf_chat_message m = {"user", "probe", 5, NULL};
    wf_template_opts o;
    wf_template_opts_init(&o);
    o.bos_token = s->bos_text;
    o.eos_token = s->eos_text;
    o.extra_json = probe;
    char *r = NULL;
    size_t rn = 0;
    if (wf_template_render(s->tmpl, &m, 1, &o, &r, &rn, NULL) != WF_OK) return false;
    bool shows = strstr(r, "wafer_probe_tool") != NULL;
    free(r);
    return shows;
}

bool srv_chat_tokens(wf_server *s, const wf_api_request *a, int32_t **out, size_t *n_out, wf_api_error *e) {
    wf_template_opts o;
    wf_template_opts_init(&o);
    o.bos_token = s->bos_text;
    o.eos_token = s->eos_text;
    o.extra_json = a->template_extra;
    /* A system text first: Responses' instructions, then wafer's default
     * tool prompt when the template cannot show the tools; joined with a
     * leading system message (templates want one system turn at most) */
    const wf_chat_message *msgs = a->msgs.m;
    size_t n = a->msgs.n;
    wf_chat_message *with = NULL;
    char *tool_text = a->tools && !s->tmpl_tools ? default_tool_prompt(a->template_extra, s->tool_format) : NULL;
    char *joined = NULL;
    if (a->instructions || tool_text) {
        bool lead = n && msgs[0].role && !strcmp(msgs[0].role, "system");
        wf_buf b = {0};
        if (a->instructions) wf_buf_add(&b, a->instructions, a->instructions_len);
        if (tool_text) {
            if (b.n) wf_buf_str(&b, "\n\n");
            wf_buf_str(&b, tool_text);
        }
        if (lead) {
            wf_buf_str(&b, "\n\n");
            wf_buf_add(&b, msgs[0].content, msgs[0].content_len);
        }
        free(tool_text);
        size_t jl = 0;
        joined = b.failed ? (wf_buf_free(&b), NULL) : wf_buf_take(&b, &jl);
        with = malloc((n + 1) * sizeof *with);
        if (!with || !joined) {
            free(with);
            free(joined);
            return wf_api_fail(e, 500, "server_error", NULL, NULL, "out of memory");
        }
        with[0] = (wf_chat_message){"system", joined, jl, lead ? msgs[0].fields_json : NULL};
        if (n > (size_t)lead) memcpy(with + 1, msgs + lead, (n - lead) * sizeof *with);
        n = n - lead + 1;
        msgs = with;
    }
    char *r = NULL;
    size_t rn = 0, bad = SIZE_MAX;
    wf_error err = {0};
    wf_status st = wf_template_render(s->tmpl, msgs, n, &o, &r, &rn, &err);
    if (st) {
        free(with);
        free(joined);
        if (st == WF_ERR_NOMEM) return wf_api_fail(e, 500, "server_error", NULL, NULL, "out of memory rendering the chat template");
        return wf_api_fail(e, 400, "invalid_request_error", "messages", "chat_template_error", "chat template: %s", err.msg);
    }
    st = wf_chat_tokenize(s->v, r, rn, 0, msgs, n, out, n_out, &bad, &err);
    free(r);
    free(with);
    free(joined);
    if (st == WF_OK) return true;
    if (bad != SIZE_MAX)
        return wf_api_fail(e, 400, "invalid_request_error", "messages", "special_tokens_in_content", "%s", err.msg);
    return tok_fail(e, &err);
}

/* Reserve for the answer in FIM budgets: what the request allows, at most
 * half the context. */
static int32_t answer_reserve(const wf_server *s, int32_t max_tokens) {
    int32_t half = s->n_ctx / 2;
    if (max_tokens < 0) return s->n_ctx / 4 > 0 ? s->n_ctx / 4 : 1;
    if (max_tokens == 0) return 1;
    return max_tokens < half ? max_tokens : half;
}

static bool fim_tokens(wf_server *s, srv_req *r, const char *pre, size_t npre, const char *suf, size_t nsuf,
                       const char *tail, size_t ntail, wf_api_error *e) {
    if (!s->has_fim)
        return wf_api_fail(e, 400, "invalid_request_error", NULL, "fim_not_supported",
                           "This model has no fill-in-the-middle tokens: infill and 'suffix' are not available.");
    const wf_api_request *a = &r->api;
    tokv tail_ids = {0};
    if (ntail && !add_piece(s->v, &tail_ids, tail, ntail, false, e)) return false;
    wf_fim_extra *ex = a->n_extra ? calloc(a->n_extra, sizeof *ex) : NULL;
    if (a->n_extra && !ex) {
        free(tail_ids.p);
        return wf_api_fail(e, 500, "server_error", NULL, NULL, "out of memory");
    }
    for (size_t i = 0; i < a->n_extra; i++) ex[i] = (wf_fim_extra){a->extra[i].name, a->extra[i].text, a->extra[i].len};
    wf_fim_input in = {0};
    in.prefix = pre;
    in.prefix_len = npre;
    in.suffix = suf;
    in.suffix_len = nsuf;
    in.extra = ex;
    in.n_extra = a->n_extra;
    int64_t budget = (int64_t)s->n_ctx - answer_reserve(s, r->gp.max_tokens) - (int64_t)tail_ids.n;
    int32_t *ids = NULL;
    size_t n = 0;
    wf_error err = {0};
    wf_status st = budget > 0 ? wf_fim_build(s->v, &s->fim, &in, (int32_t)budget, &ids, &n, NULL, &err) : WF_ERR_RANGE;
    free(ex);
    if (st) {
        free(tail_ids.p);
        if (st == WF_ERR_RANGE)
            return wf_api_fail(e, 400, "invalid_request_error", NULL, "context_length_exceeded",
                               "The infill prompt does not fit the context of %d tokens per slot (wafer serve -c).", s->n_ctx);
        return tok_fail(e, &err);
    }
    tokv t = {ids, n, n};
    if (!tokv_add(&t, tail_ids.p, tail_ids.n)) {
        free(t.p);
        free(tail_ids.p);
        return wf_api_fail(e, 500, "server_error", NULL, NULL, "out of memory");
    }
    free(tail_ids.p);
    r->prompt = t.p;
    r->n_prompt = t.n;
    r->fim = true;
    return true;
}

static bool raw_tokens(wf_server *s, srv_req *r, wf_api_error *e) {
    const wf_api_request *a = &r->api;
    if (a->prompt_ids) {
        if (!(r->prompt = malloc((a->n_prompt_ids + 1) * sizeof *r->prompt)))
            return wf_api_fail(e, 500, "server_error", NULL, NULL, "out of memory");
        memcpy(r->prompt, a->prompt_ids, a->n_prompt_ids * sizeof *r->prompt);
        r->n_prompt = a->n_prompt_ids;
        return true;
    }
    wf_error err = {0};
    if (wf_tokenize(s->v, a->prompt, a->prompt_len, true, a->parse_special, &r->prompt, &r->n_prompt, &err))
        return tok_fail(e, &err);
    return true;
}

/* A prompt that cannot fit, refused by its length in bytes before it is
 * tokenized (tokenizing megabytes costs tens of times their size): a token
 * stands for at most wf_vocab_max_token_len bytes of text, 3 times that
 * before normalization (NFC composes at most 3 bytes into 1), so a text of
 * B bytes is at least B / (3 L) tokens. FIM prompts are trimmed to fit,
 * not refused; the rest is the same check as after tokenizing. */
static bool bytes_can_fit(const wf_server *s, const wf_api_request *a, wf_api_error *e) {
    size_t bytes = 0;
    if (a->kind == WF_API_CHAT)
        for (size_t i = 0; i < a->msgs.n; i++) bytes += a->msgs.m[i].content_len;
    else if (a->kind == WF_API_COMPLETION || (a->kind == WF_API_COMPLETIONS && !a->suffix))
        bytes = a->prompt ? a->prompt_len : 0;
    size_t per_token = 3 * (size_t)(wf_vocab_max_token_len(s->v) > 0 ? wf_vocab_max_token_len(s->v) : 1);
    size_t min_tokens = bytes / per_token;
    if (min_tokens < (size_t)s->n_ctx) return true;
    bool chat = a->kind == WF_API_CHAT;
    return wf_api_fail(e, 400, "invalid_request_error", chat ? "messages" : "prompt", "context_length_exceeded",
                       "This model's maximum context length is %d tokens. However, your %s (%zu bytes) cannot be fewer "
                       "than %zu tokens.", s->n_ctx, chat ? "messages" : "prompt", bytes, min_tokens);
}

bool srv_prepare(wf_server *s, srv_req *r, wf_api_error *e) {
    wf_api_request *a = &r->api;
    r->sp = a->sp;
    if (!a->has_seed) {
        uint64_t h = (uint64_t)(wf_time_now() * 1e9) ^ ((uint64_t)(uintptr_t)r << 16);
        h ^= h >> 31;
        h *= 0x94D049BB133111EBull;
        r->sp.seed = h ^ (h >> 29);
    }
    r->gp = wf_gen_default_params();
    r->gp.max_tokens = a->max_tokens >= 0 ? a->max_tokens : s->cfg.max_tokens_default;
    r->gp.sampling = &r->sp;
    r->gp.stops = (const char *const *)a->stops;
    r->gp.n_stops = a->n_stops;
    r->gp.text = true;
    r->gp.spec = s->cfg.spec;
    r->gp.draft_max = s->cfg.draft_max;
    if (a->spec == WF_API_SPEC_NONE) r->gp.spec = WF_SPEC_NONE;
    else if (a->spec == WF_API_SPEC_LOOKUP) r->gp.spec = WF_SPEC_LOOKUP;
    else if (a->spec == WF_API_SPEC_DRAFT) {
        if (!s->cfg.draft)
            return wf_api_fail(e, 400, "invalid_request_error", "speculative", "invalid_value",
                               "Invalid 'speculative': 'draft' needs a server started with --draft MODEL.");
        r->gp.spec = WF_SPEC_DRAFT;
    }

    if (!bytes_can_fit(s, a, e)) return false;
    bool ok = true;
    switch (a->kind) {
    case WF_API_RESPONSES: /* its conversation is a chat */
    case WF_API_CHAT:
        if (a->kind == WF_API_RESPONSES && !srv_responses_prepare(s, r, e)) return false;
        ok = srv_chat_tokens(s, a, &r->prompt, &r->n_prompt, e);
        r->interactive = a->stream;
        break;
    case WF_API_COMPLETIONS:
        if (a->suffix && !a->prompt_ids) {
            ok = fim_tokens(s, r, a->prompt, a->prompt_len, a->suffix, a->suffix_len, NULL, 0, e);
            r->interactive = true;
        } else {
            if (a->suffix) return wf_api_fail(e, 400, "invalid_request_error", "suffix", "invalid_value", "'suffix' needs a text prompt.");
            ok = raw_tokens(s, r, e);
        }
        if (ok && a->echo && a->prompt) {
            if (!(r->echo = malloc(a->prompt_len + 1))) return wf_api_fail(e, 500, "server_error", NULL, NULL, "out of memory");
            memcpy(r->echo, a->prompt, a->prompt_len);
            r->echo_len = a->prompt_len;
        }
        break;
    case WF_API_COMPLETION:
        ok = raw_tokens(s, r, e);
        break;
    case WF_API_INFILL:
        ok = fim_tokens(s, r, a->input_prefix, a->input_prefix_len, a->input_suffix, a->input_suffix_len, a->prompt,
                        a->prompt_len, e);
        r->interactive = true;
        break;
    default:
        return wf_api_fail(e, 500, "server_error", NULL, NULL, "not a generating request");
    }
    if (!ok) return false;
    if (r->n_prompt == 0)
        return wf_api_fail(e, 400, "invalid_request_error", "prompt", "empty_prompt", "The prompt is empty.");
    if (r->n_prompt >= (size_t)s->n_ctx) {
        const char *what = a->kind == WF_API_CHAT ? "messages" : a->kind == WF_API_RESPONSES ? "input" : "prompt";
        return wf_api_fail(e, 400, "invalid_request_error", what, "context_length_exceeded",
                           "This model's maximum context length is %d tokens. However, your %s resulted in %zu tokens. "
                           "The context is %d tokens per slot: start wafer serve with a larger -c (per slot), or fewer "
                           "--parallel slots for the same memory.",
                           s->n_ctx, what, r->n_prompt, s->n_ctx);
    }
    if (s->harmony && a->constraint.kind == WF_API_CONSTRAINT_TOOL_CALL)
        return wf_api_fail(e, 400, "invalid_request_error", "tool_choice", "unsupported_value",
                           "This model answers in gpt-oss's harmony channels, whose tool calls are control tokens a "
                           "grammar cannot force: use tool_choice \"auto\" (or \"none\").");
    if (a->constraint.kind != WF_API_CONSTRAINT_NONE) {
        /* the grammar, in the model family's tool-call format (checked at parse) */
        char *gbnf = NULL;
        if (!wf_api_constraint_gbnf(&a->constraint, s->tool_format, &gbnf, e)) return false;
        wf_error err = {0};
        wf_status st = wf_grammar_cache_get(s->gcache, gbnf, strlen(gbnf), &r->grammar, NULL, &err);
        free(gbnf);
        if (st != WF_OK)
            return wf_api_fail(e, st == WF_ERR_NOMEM ? 500 : 400, st == WF_ERR_NOMEM ? "server_error" : "invalid_request_error",
                               a->kind == WF_API_CHAT ? "response_format" : "grammar", NULL, "%s", err.msg);
        r->gp.grammar = r->grammar;
        r->gp.grammar_vocab = s->gvocab;
    }
    if (a->logprobs >= 0) {
        /* log-probabilities are read from the context's last logits, which
         * needs one token per step: no speculation, no prediction */
        r->gp.spec = WF_SPEC_NONE;
        return true;
    }
    if (a->prediction && a->prediction_len) {
        wf_error err = {0};
        if (wf_tokenize_text(s->v, a->prediction, a->prediction_len, false, NULL, 0, &r->pred, &r->n_pred, &err))
            return tok_fail(e, &err);
        r->gp.prediction = r->pred;
        r->gp.n_prediction = r->n_pred;
    }
    return true;
}
