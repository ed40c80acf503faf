/* api_fields.c — every top-level request field wafer knows, per endpoint,
 * and what it does with it: nothing a client sends is silently dropped.
 *
 * A field is honoured (the parser in api_request.c reads it), accepted and
 * ignored on purpose (documented in docs/server.md: it has no meaning for a
 * local single-model server), accepted only at its no-op value (anything
 * else is a 400 naming it, because wafer cannot honour it), or refused.
 * A field in no row is a 400 "Unrecognized request argument supplied",
 * OpenAI's own answer to an unknown field. The table is the one in
 * docs/server.md; tests/serve/test_server_fields.py checks the two agree. */
#include "serve/api.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* endpoints, as bits of a mask */
#define CH (1u << WF_API_CHAT)
#define CO (1u << WF_API_COMPLETIONS)
#define LC (1u << WF_API_COMPLETION)
#define IN (1u << WF_API_INFILL)
#define TK (1u << WF_API_TOKENIZE)
#define DT (1u << WF_API_DETOKENIZE)
#define GEN (CH | CO | LC | IN)
#define ALL (GEN | TK | DT)

typedef enum field_use {
    F_HONOURED = 0, /* read by the parser                                     */
    F_IGNORED,      /* accepted, has no effect (documented)                    */
    F_NOOP_ONLY,    /* accepted at its no-op value (null, false, {}, [], 0, 1) */
    F_REFUSED,      /* a 400 naming it, with the reason                       */
} field_use;

typedef struct field {
    const char *name;
    unsigned endpoints;
    field_use use;
    const char *why; /* for F_IGNORED / F_NOOP_ONLY / F_REFUSED               */
} field;

static const field fields[] = {
    /* honoured: read by api_request.c */
    {"model", ALL, F_HONOURED, NULL},
    {"messages", CH, F_HONOURED, NULL},
    {"prompt", CO | LC | IN, F_HONOURED, NULL},
    {"suffix", CO, F_HONOURED, NULL},
    {"echo", CO, F_HONOURED, NULL},
    {"temperature", GEN, F_HONOURED, NULL},
    {"top_p", GEN, F_HONOURED, NULL},
    {"top_k", GEN, F_HONOURED, NULL},
    {"min_p", GEN, F_HONOURED, NULL},
    {"presence_penalty", GEN, F_HONOURED, NULL},
    {"frequency_penalty", GEN, F_HONOURED, NULL},
    {"repeat_penalty", GEN, F_HONOURED, NULL},
    {"repeat_last_n", GEN, F_HONOURED, NULL},
    {"seed", GEN, F_HONOURED, NULL},
    {"stream", GEN, F_HONOURED, NULL},
    {"stream_options", GEN, F_HONOURED, NULL},
    {"stop", GEN, F_HONOURED, NULL},
    {"speculative", GEN, F_HONOURED, NULL},
    {"prediction", CH | CO, F_HONOURED, NULL},
    {"max_tokens", GEN, F_HONOURED, NULL},
    {"max_completion_tokens", CH, F_HONOURED, NULL},
    {"n_predict", LC | IN, F_HONOURED, NULL},
    {"n", CH | CO, F_HONOURED, "1 only: other values are a 400"},
    {"best_of", CO, F_HONOURED, "1 only: other values are a 400"},
    {"logprobs", CH | CO, F_HONOURED, NULL},
    {"top_logprobs", CH, F_HONOURED, NULL},
    {"n_probs", LC | IN, F_HONOURED, "0 only (use logprobs): other values are a 400"},
    {"tools", CH, F_HONOURED, NULL},
    {"tool_choice", CH, F_HONOURED, NULL},
    {"parallel_tool_calls", CH, F_HONOURED, "with a forced tool_choice, true allows one or more calls, absent or false exactly one (a weak model would keep calling until max_tokens); otherwise every call the model writes is returned"},
    {"chat_template_kwargs", CH, F_HONOURED, NULL},
    {"response_format", CH, F_HONOURED, NULL},
    {"cache_prompt", LC | IN, F_HONOURED, NULL},
    {"t_max_predict_ms", LC | IN, F_HONOURED, NULL},
    {"input_prefix", IN, F_HONOURED, NULL},
    {"input_suffix", IN, F_HONOURED, NULL},
    {"input_extra", IN, F_HONOURED, NULL},
    {"content", TK, F_HONOURED, NULL},
    {"add_special", TK, F_HONOURED, NULL},
    {"parse_special", TK, F_HONOURED, NULL},
    {"with_pieces", TK, F_HONOURED, NULL},
    {"tokens", DT, F_HONOURED, NULL},
    /* llama.cpp's constrained decoding (serve/constraint.c) */
    {"grammar", GEN, F_HONOURED, NULL},
    {"json_schema", GEN, F_HONOURED, NULL},

    /* accepted and ignored: no effect on a local single-model server */
    {"user", GEN, F_IGNORED, "an end-user id for the provider's abuse monitoring"},
    {"safety_identifier", CH | CO, F_IGNORED, "an end-user id for the provider's abuse monitoring"},
    {"store", CH, F_IGNORED, "nothing is stored"},
    {"metadata", CH, F_IGNORED, "nothing is stored"},
    {"service_tier", CH | CO, F_IGNORED, "one tier"},
    {"prompt_cache_key", CH | CO, F_IGNORED, "prompt prefixes are cached automatically"},
    {"samplers", LC | IN, F_IGNORED, "the sampler order is fixed (docs/sampling.md)"},
    {"t_max_prompt_ms", LC | IN, F_IGNORED, "prompts are always processed whole"},
    {"n_indent", LC | IN, F_IGNORED, "no indentation-based stop"},
    {"id_slot", LC | IN, F_IGNORED, "slots are chosen by the server"},
    {"n_keep", LC | IN, F_IGNORED, "no context shifting: a prompt that does not fit is a 400"},
    {"penalize_nl", LC | IN, F_IGNORED, "newlines are penalized like any token"},
    {"return_tokens", LC | IN, F_IGNORED, "tokens are returned in 'tokens' with the text"},

    /* accepted only at their no-op value */
    {"logit_bias", CH | CO | LC | IN, F_NOOP_ONLY, "logit biases are not supported"},
    {"ignore_eos", LC | IN, F_NOOP_ONLY, "generation always stops at the end-of-generation token"},
    {"reasoning_effort", CH, F_NOOP_ONLY, "the model does not reason in a separate channel"},
    {"modalities", CH, F_NOOP_ONLY, "text only"},
    {"audio", CH, F_NOOP_ONLY, "text only"},
    {"web_search_options", CH, F_NOOP_ONLY, "no web search"},
    {"typical_p", LC | IN, F_NOOP_ONLY, "typical sampling is not supported (1 only)"},
    {"mirostat", LC | IN, F_NOOP_ONLY, "mirostat sampling is not supported (0 only)"},
    {"dynatemp_range", LC | IN, F_NOOP_ONLY, "dynamic temperature is not supported (0 only)"},
    {"xtc_probability", LC | IN, F_NOOP_ONLY, "XTC sampling is not supported (0 only)"},
    {"dry_multiplier", LC | IN, F_NOOP_ONLY, "DRY sampling is not supported (0 only)"},

    /* refused */
    {"functions", CH, F_REFUSED, "deprecated by OpenAI: use 'tools'"},
    {"function_call", CH, F_REFUSED, "deprecated by OpenAI: use 'tool_choice'"},
};

/* The no-op value of a field: null, false, 0, an empty array or object, or
 * ["text"] for modalities and 1 for typical_p. */
static bool is_noop(const char *name, const json_t *v) {
    if (json_is_null(v) || json_is_false(v)) return true;
    if (json_is_array(v) && json_array_size(v) == 0) return true;
    if (json_is_object(v) && json_object_size(v) == 0) return true;
    if (json_is_string(v) && json_string_length(v) == 0) return true;
    if (json_is_number(v)) {
        double x = json_number_value(v);
        return !strcmp(name, "typical_p") ? x == 1.0 : x == 0.0;
    }
    if (!strcmp(name, "modalities") && json_is_array(v) && json_array_size(v) == 1) {
        const json_t *m = json_array_get(v, 0);
        return json_is_string(m) && !strcmp(json_string_value(m), "text");
    }
    return false;
}

bool wf_api_check_fields(wf_api_kind kind, const json_t *obj, wf_api_error *e) {
    if ((unsigned)kind > WF_API_DETOKENIZE) return true;
    unsigned bit = 1u << kind;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        const field *f = NULL;
        for (size_t i = 0; i < sizeof fields / sizeof fields[0] && !f; i++)
            if ((fields[i].endpoints & bit) && !strcmp(fields[i].name, key)) f = &fields[i];
        if (!f)
            return wf_api_fail(e, 400, "invalid_request_error", key, "unknown_parameter",
                               "Unrecognized request argument supplied: %.64s", key);
        if (f->use == F_REFUSED || (f->use == F_NOOP_ONLY && !is_noop(key, v)))
            return wf_api_fail(e, 400, "invalid_request_error", key, "unsupported_parameter",
                               "Unsupported parameter: '%s' (%s).", key, f->why);
    }
    return true;
}

/* For docs and tests: the n-th row (false past the end). */
bool wf_api_field_row(size_t i, const char **name, unsigned *endpoints, const char **use, const char **why) {
    if (i >= sizeof fields / sizeof fields[0]) return false;
    static const char *const uses[] = {"honoured", "ignored", "no-op value only", "refused"};
    *name = fields[i].name;
    *endpoints = fields[i].endpoints;
    *use = uses[fields[i].use];
    *why = fields[i].why;
    return true;
}
