/* api_response.c — response bodies and stream chunks as JSON text: OpenAI's
 * chat.completion / chat.completion.chunk / text_completion objects and
 * error object, llama.cpp's /completion and /infill objects, the model list.
 * Pure functions of their arguments (no I/O). */
#include "serve/api.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

size_t wf_api_utf8_complete(const char *s, size_t n) {
    /* walk back over at most 3 continuation bytes to the last lead byte */
    size_t i = n, back = 0;
    while (i > 0 && back < 4 && ((unsigned char)s[i - 1] & 0xC0) == 0x80) i--, back++;
    if (i == 0) return n;
    unsigned char c = (unsigned char)s[i - 1];
    size_t need = c >= 0xF0 && c < 0xF8 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    if (c >= 0xF8) need = 1;
    return back + 1 >= need ? n : i - 1;
}

static char *dump(json_t *o) {
    if (!o) return NULL;
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return s;
}

/* A JSON string of s[0..n) (valid UTF-8 expected; anything else becomes
 * U+FFFD so a response is never dropped). */
static json_t *jstr(const char *s, size_t n) {
    if (!s) return json_string("");
    json_t *j = json_stringn(s, n);
    if (j) return j;
    char *t = malloc(3 * n + 1);
    if (!t) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80 && c) t[o++] = (char)c;
        else { memcpy(t + o, "\xEF\xBF\xBD", 3); o += 3; }
    }
    j = json_stringn(t, o);
    free(t);
    return j;
}

static json_t *jnull_or(const char *s) { return s && *s ? jstr(s, strlen(s)) : json_null(); }

/* ---- log-probabilities --------------------------------------------------- */

static double finite_lp(float x) { return x > -1e30f ? (double)x : -9999.0; }

/* The token's text (lossy UTF-8) and, when bytes_out, its exact bytes. */
static json_t *token_text(const wf_api_logprobs *L, int32_t id, json_t **bytes_out) {
    char buf[512];
    int32_t n = L->token_bytes ? L->token_bytes(L->token_user, id, buf, sizeof buf) : 0;
    if (n < 0) n = 0;
    if (n > (int32_t)sizeof buf) n = (int32_t)sizeof buf;
    if (bytes_out) {
        *bytes_out = json_array();
        for (int32_t i = 0; *bytes_out && i < n; i++) json_array_append_new(*bytes_out, json_integer((unsigned char)buf[i]));
    }
    return jstr(buf, (size_t)n);
}

/* OpenAI chat: {"content": [{token, logprob, bytes, top_logprobs: [...]}], "refusal": null} */
static json_t *chat_logprobs(const wf_api_result *r) {
    const wf_api_logprobs *L = r->logprobs;
    if (!L) return json_null();
    json_t *content = json_array();
    for (size_t i = r->lp_from; content && i < r->lp_to && i < r->n_ids; i++) {
        json_t *bytes = NULL, *tops = json_array();
        json_t *tok = token_text(L, r->ids[i], &bytes);
        for (int32_t k = 0; tops && k < L->n_top; k++) {
            json_t *tb = NULL;
            json_t *tt = token_text(L, L->top_id[i * (size_t)L->n_top + (size_t)k], &tb);
            json_array_append_new(tops, json_pack("{s:o, s:f, s:o}", "token", tt, "logprob",
                                                  finite_lp(L->top_lp[i * (size_t)L->n_top + (size_t)k]), "bytes", tb));
        }
        json_array_append_new(content, json_pack("{s:o, s:f, s:o, s:o}", "token", tok, "logprob", finite_lp(L->lp[i]),
                                                 "bytes", bytes, "top_logprobs", tops));
    }
    return json_pack("{s:o, s:n}", "content", content, "refusal");
}

/* OpenAI completions: {"tokens", "token_logprobs", "top_logprobs", "text_offset"}. */
static json_t *completions_logprobs(const wf_api_result *r, size_t offset) {
    const wf_api_logprobs *L = r->logprobs;
    if (!L) return json_null();
    json_t *toks = json_array(), *lps = json_array(), *tops = json_array(), *offs = json_array();
    for (size_t i = r->lp_from; toks && lps && tops && offs && i < r->lp_to && i < r->n_ids; i++) {
        char buf[512];
        int32_t n = L->token_bytes ? L->token_bytes(L->token_user, r->ids[i], buf, sizeof buf) : 0;
        json_array_append_new(toks, token_text(L, r->ids[i], NULL));
        json_array_append_new(lps, json_real(finite_lp(L->lp[i])));
        json_t *t = json_object();
        for (int32_t k = 0; t && k < L->n_top; k++) {
            json_t *tt = token_text(L, L->top_id[i * (size_t)L->n_top + (size_t)k], NULL);
            if (tt && json_is_string(tt))
                json_object_set_new(t, json_string_value(tt), json_real(finite_lp(L->top_lp[i * (size_t)L->n_top + (size_t)k])));
            json_decref(tt);
        }
        json_array_append_new(tops, t);
        json_array_append_new(offs, json_integer((json_int_t)offset));
        offset += n > 0 ? (size_t)n : 0;
    }
    return json_pack("{s:o, s:o, s:o, s:o}", "tokens", toks, "token_logprobs", lps, "top_logprobs", tops, "text_offset", offs);
}

char *wf_api_error_json(const wf_api_error *e) {
    return dump(json_pack("{s:{s:o, s:s, s:o, s:o}}", "error", "message", jstr(e->message, strlen(e->message)),
                          "type", e->type[0] ? e->type : "invalid_request_error", "param", jnull_or(e->param),
                          "code", jnull_or(e->code)));
}

static json_t *usage_json(const wf_api_usage *u) {
    return json_pack("{s:i, s:i, s:i, s:{s:i, s:i}, s:{s:i, s:i, s:i, s:i}}",
                     "prompt_tokens", u->prompt_tokens, "completion_tokens", u->completion_tokens,
                     "total_tokens", u->prompt_tokens + u->completion_tokens,
                     "prompt_tokens_details", "cached_tokens", u->cached_tokens, "audio_tokens", 0,
                     "completion_tokens_details", "reasoning_tokens", u->reasoning_tokens, "audio_tokens", 0,
                     "accepted_prediction_tokens", u->accepted_prediction_tokens,
                     "rejected_prediction_tokens", u->rejected_prediction_tokens);
}

/* llama.cpp's timings object (also sent, as llama.cpp does, with OpenAI
 * responses). */
static json_t *timings_json(const wf_api_usage *u) {
    int32_t np = u->prompt_tokens - u->cached_tokens;
    return json_pack("{s:i, s:i, s:f, s:f, s:f, s:i, s:f, s:f, s:f, s:i, s:i}",
                     "cache_n", u->cached_tokens, "prompt_n", np, "prompt_ms", u->prompt_ms,
                     "prompt_per_token_ms", np > 0 ? u->prompt_ms / np : 0.0,
                     "prompt_per_second", u->prompt_ms > 0 ? np * 1000.0 / u->prompt_ms : 0.0,
                     "predicted_n", u->completion_tokens, "predicted_ms", u->predicted_ms,
                     "predicted_per_token_ms", u->completion_tokens > 0 ? u->predicted_ms / u->completion_tokens : 0.0,
                     "predicted_per_second", u->predicted_ms > 0 ? u->completion_tokens * 1000.0 / u->predicted_ms : 0.0,
                     "draft_n", u->draft_n, "draft_n_accepted", u->draft_n_accepted);
}

static json_t *head(const wf_api_result *r, const char *object) {
    return json_pack("{s:s, s:s, s:I, s:s, s:s}", "id", r->id ? r->id : "", "object", object,
                     "created", (json_int_t)r->created, "model", r->model ? r->model : "", "system_fingerprint", "wafer-" WAFER_VERSION);
}

static char *with_choices(json_t *o, json_t *choice, bool include_usage) {
    if (!o || !choice) {
        json_decref(o);
        json_decref(choice);
        return NULL;
    }
    json_object_set_new(o, "choices", json_pack("[o]", choice));
    if (include_usage) json_object_set_new(o, "usage", json_null());
    return dump(o);
}

/* A whole (non-streamed) response: o with its one choice, usage and timings. */
static char *with_choice_usage(json_t *o, json_t *choice, const wf_api_result *r) {
    if (!o || !choice) {
        json_decref(o);
        json_decref(choice);
        return NULL;
    }
    json_object_set_new(o, "choices", json_pack("[o]", choice));
    json_object_set_new(o, "usage", usage_json(&r->usage));
    json_object_set_new(o, "timings", timings_json(&r->usage));
    return dump(o);
}

char *wf_api_chat_response(const wf_api_result *r) {
    json_t *o = head(r, "chat.completion");
    json_t *calls = r->tool_calls ? json_loads(r->tool_calls, 0, NULL) : NULL;
    json_t *content = calls && r->text_len == 0 ? json_null() : jstr(r->text, r->text_len);
    json_t *msg = json_pack("{s:s, s:o, s:n}", "role", "assistant", "content", content, "refusal");
    if (msg && calls) json_object_set_new(msg, "tool_calls", calls);
    else json_decref(calls);
    if (msg && r->reasoning && r->reasoning_len) json_object_set_new(msg, "reasoning_content", jstr(r->reasoning, r->reasoning_len));
    json_t *ch = json_pack("{s:i, s:o, s:o, s:s}", "index", 0, "message", msg, "logprobs", chat_logprobs(r),
                           "finish_reason", r->tool_calls ? "tool_calls" : r->finish ? r->finish : "stop");
    return with_choice_usage(o, ch, r);
}

char *wf_api_chat_chunk_role(const wf_api_result *r, bool include_usage) {
    return with_choices(head(r, "chat.completion.chunk"),
                        json_pack("{s:i, s:{s:s, s:s, s:n}, s:n, s:n}", "index", 0, "delta", "role", "assistant",
                                  "content", "", "refusal", "logprobs", "finish_reason"),
                        include_usage);
}

char *wf_api_chat_chunk_text(const wf_api_result *r, const char *text, size_t n, bool include_usage) {
    return with_choices(head(r, "chat.completion.chunk"),
                        json_pack("{s:i, s:{s:o}, s:o, s:n}", "index", 0, "delta", "content", jstr(text, n), "logprobs",
                                  chat_logprobs(r), "finish_reason"),
                        include_usage);
}

char *wf_api_chat_chunk_reasoning(const wf_api_result *r, const char *text, size_t n, bool include_usage) {
    return with_choices(head(r, "chat.completion.chunk"),
                        json_pack("{s:i, s:{s:o}, s:n, s:n}", "index", 0, "delta", "reasoning_content", jstr(text, n),
                                  "logprobs", "finish_reason"),
                        include_usage);
}

char *wf_api_chat_chunk_finish(const wf_api_result *r, bool include_usage) {
    return with_choices(head(r, "chat.completion.chunk"),
                        json_pack("{s:i, s:{}, s:n, s:s}", "index", 0, "delta", "logprobs", "finish_reason",
                                  r->tool_calls ? "tool_calls" : r->finish ? r->finish : "stop"),
                        include_usage);
}

char *wf_api_chat_chunk_tool_calls(const wf_api_result *r, bool include_usage) {
    json_t *calls = r->tool_calls ? json_loads(r->tool_calls, 0, NULL) : NULL;
    if (!json_is_array(calls)) {
        json_decref(calls);
        return NULL;
    }
    size_t i;
    json_t *c;
    json_array_foreach(calls, i, c) json_object_set_new(c, "index", json_integer((json_int_t)i));
    return with_choices(head(r, "chat.completion.chunk"),
                        json_pack("{s:i, s:{s:o}, s:n, s:n}", "index", 0, "delta", "tool_calls", calls, "logprobs",
                                  "finish_reason"),
                        include_usage);
}

char *wf_api_chat_chunk_tool_delta(const wf_api_result *r, int index, const char *id, const char *name, const char *args,
                                   size_t n, bool include_usage) {
    json_t *f = json_pack("{s:s%}", "arguments", args, n);
    json_t *c = json_pack("{s:i}", "index", index);
    if (f && name) json_object_set_new(f, "name", json_string(name));
    if (c && id) {
        json_object_set_new(c, "id", json_string(id));
        json_object_set_new(c, "type", json_string("function"));
    }
    if (!f || !c) {
        json_decref(f);
        json_decref(c);
        return NULL;
    }
    if (json_object_set_new(c, "function", f)) {
        json_decref(c);
        return NULL;
    }
    return with_choices(head(r, "chat.completion.chunk"),
                        json_pack("{s:i, s:{s:[o]}, s:n, s:n}", "index", 0, "delta", "tool_calls", c, "logprobs", "finish_reason"),
                        include_usage);
}

static char *usage_chunk(const wf_api_result *r, const char *object) {
    json_t *o = head(r, object);
    if (!o) return NULL;
    json_object_set_new(o, "choices", json_array());
    json_object_set_new(o, "usage", usage_json(&r->usage));
    json_object_set_new(o, "timings", timings_json(&r->usage));
    return dump(o);
}

char *wf_api_chat_chunk_usage(const wf_api_result *r) { return usage_chunk(r, "chat.completion.chunk"); }

char *wf_api_completions_response(const wf_api_result *r) {
    json_t *o = head(r, "text_completion");
    json_t *text;
    if (r->echo_prompt) {
        size_t n = r->echo_len + r->text_len;
        char *t = malloc(n + 1);
        if (!t) {
            json_decref(o);
            return NULL;
        }
        memcpy(t, r->echo_prompt, r->echo_len);
        if (r->text_len) memcpy(t + r->echo_len, r->text, r->text_len);
        text = jstr(t, n);
        free(t);
    } else {
        text = jstr(r->text, r->text_len);
    }
    json_t *ch = json_pack("{s:o, s:i, s:o, s:s}", "text", text, "index", 0, "logprobs", completions_logprobs(r, r->echo_len),
                           "finish_reason", r->finish ? r->finish : "stop");
    return with_choice_usage(o, ch, r);
}

char *wf_api_completions_chunk_text(const wf_api_result *r, const char *text, size_t n, bool include_usage) {
    return with_choices(head(r, "text_completion"),
                        json_pack("{s:o, s:i, s:o, s:n}", "text", jstr(text, n), "index", 0, "logprobs",
                                  completions_logprobs(r, r->text_len), "finish_reason"),
                        include_usage);
}

char *wf_api_completions_chunk_finish(const wf_api_result *r, bool include_usage) {
    return with_choices(head(r, "text_completion"),
                        json_pack("{s:s, s:i, s:n, s:s}", "text", "", "index", 0, "logprobs", "finish_reason",
                                  r->finish ? r->finish : "stop"),
                        include_usage);
}

char *wf_api_completions_chunk_usage(const wf_api_result *r) { return usage_chunk(r, "text_completion"); }

char *wf_api_llama_chunk_text(const char *text, size_t n, int32_t slot) {
    return dump(json_pack("{s:i, s:o, s:b, s:i}", "index", 0, "content", jstr(text, n), "stop", 0, "id_slot", slot));
}

/* The /completion and /infill result; final stream chunk when stream (then
 * content is "" since it was streamed). */
char *wf_api_llama_response(const wf_api_result *r, bool final, bool stream) {
    json_t *toks = json_array();
    for (size_t i = 0; toks && !stream && i < r->n_ids; i++) json_array_append_new(toks, json_integer(r->ids[i]));
    const wf_api_usage *u = &r->usage;
    json_t *o = json_pack("{s:i, s:o, s:o, s:i, s:b, s:s, s:i, s:i, s:i, s:b, s:s, s:s, s:o}",
                          "index", 0, "content", stream ? json_string("") : jstr(r->text, r->text_len), "tokens", toks,
                          "id_slot", r->slot, "stop", final, "model", r->model ? r->model : "",
                          "tokens_predicted", u->completion_tokens, "tokens_evaluated", u->prompt_tokens,
                          "tokens_cached", u->cached_tokens, "truncated", 0,
                          "stop_type", r->stop_type ? r->stop_type : "none",
                          "stopping_word", r->stopping_word ? r->stopping_word : "", "timings", timings_json(u));
    if (o && r->id) json_object_set_new(o, "id", json_string(r->id));
    /* llama.vscode reads generation_settings (model, n_ctx, limits) */
    if (o) json_object_set_new(o, "generation_settings", json_pack("{s:s, s:i, s:i}", "model", r->model ? r->model : "",
                                                                   "n_ctx", r->n_ctx, "n_predict", r->n_predict));
    return dump(o);
}

char *wf_api_models_json(const char *model, int64_t created, int32_t n_ctx, int32_t n_vocab) {
    return dump(json_pack("{s:s, s:[{s:s, s:s, s:I, s:s, s:{s:i, s:i}}]}", "object", "list", "data", "id", model,
                          "object", "model", "created", (json_int_t)created, "owned_by", "wafer", "meta", "n_ctx_slot",
                          n_ctx, "n_vocab", n_vocab));
}
