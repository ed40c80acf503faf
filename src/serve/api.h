/* api.h — the server's request and response layer, with no model, socket or
 * thread in it: JSON request bodies of the OpenAI API (/v1/chat/completions,
 * /v1/completions) and of llama.cpp's server (/completion, /infill,
 * /tokenize, /detokenize) are parsed and validated into a wf_api_request
 * (api_request.c), and responses, Server-Sent-Events chunks and error
 * objects are built as JSON text (api_response.c).
 *
 * Request bodies are hostile: every field is type-checked, every number
 * range-checked, every string length bounded; a rejection is a wf_api_error
 * carrying the HTTP status and OpenAI's error fields. tests/fuzz/fuzz_api.c drives
 * wf_api_parse with random and mutated bodies under ASan+UBSan. */
#ifndef WF_API_H
#define WF_API_H

#include "wafer.h"
#include "chat/messages.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum wf_api_kind {
    WF_API_CHAT = 0,        /* POST /v1/chat/completions                     */
    WF_API_COMPLETIONS,     /* POST /v1/completions (OpenAI, `suffix` = FIM)  */
    WF_API_COMPLETION,      /* POST /completion (llama.cpp)                   */
    WF_API_INFILL,          /* POST /infill (llama.cpp)                       */
    WF_API_TOKENIZE,        /* POST /tokenize                                 */
    WF_API_DETOKENIZE,      /* POST /detokenize                               */
    WF_API_RESPONSES        /* POST /v1/responses (OpenAI Responses API)      */
} wf_api_kind;

/* A rejection: HTTP status and the fields of OpenAI's error object
 * {"error": {"message", "type", "param", "code"}}. Empty param / code are
 * sent as null. */
typedef struct wf_api_error {
    int status;             /* 400, 401, 404, 413, 429, 500, 503 ...          */
    char type[40];          /* "invalid_request_error", "server_error", ...   */
    char param[64];
    char code[48];
    char message[448];
} wf_api_error;

/* Fill e and return false (for `return wf_api_fail(...)`). */
bool wf_api_fail(wf_api_error *e, int status, const char *type, const char *param,
                 const char *code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 6, 7)))
#endif
    ;

/* Bounds applied while parsing (0 fields take the defaults below). */
typedef struct wf_api_limits {
    int32_t max_tokens;      /* largest max_tokens / n_predict accepted (1<<20) */
    int32_t max_stops;       /* stop strings (16)                                */
    int32_t max_stop_len;    /* bytes per stop string (256)                      */
    int32_t max_messages;    /* chat messages (4096)                             */
    int32_t max_extra;       /* /infill input_extra files (256)                  */
    int32_t n_vocab;         /* token ids must be < n_vocab (0: unchecked)       */
} wf_api_limits;

typedef struct wf_api_extra {
    char *name;              /* "" when absent */
    char *text;
    size_t len;
} wf_api_extra;

/* A request's `speculative` field (a wafer extension): "none", "lookup" or
 * "draft" (the server's --draft model); absent: as the server was started. */
typedef enum wf_api_spec { WF_API_SPEC_DEFAULT = 0, WF_API_SPEC_NONE, WF_API_SPEC_LOOKUP, WF_API_SPEC_DRAFT } wf_api_spec;
/* What the answer must look like (constraint.c): response_format /
 * text.format, a forced tool call, llama.cpp's grammar / json_schema. */
enum {
    WF_API_CONSTRAINT_NONE = 0,
    WF_API_CONSTRAINT_GBNF,        /* text: GBNF                               */
    WF_API_CONSTRAINT_JSON_SCHEMA, /* text: the schema (JSON)                  */
    WF_API_CONSTRAINT_JSON_OBJECT, /* any JSON object                          */
    WF_API_CONSTRAINT_TOOL_CALL    /* tools: [{"name", "parameters"}] allowed  */
};
typedef struct wf_api_constraint {
    int kind;
    char *text;
    char *tools;
    char param[48];          /* the request field it came from (for errors)  */
    bool parallel;           /* TOOL_CALL: one or more calls (parallel_tool_calls
                                given true); else exactly one               */
} wf_api_constraint;

typedef struct wf_api_request {
    wf_api_kind kind;
    char *model;             /* as sent, or NULL                               */
    bool stream;
    bool include_usage;      /* stream_options.include_usage                   */
    int32_t max_tokens;      /* -1: until end of generation or context         */
    wf_sampler_params sp;    /* OpenAI defaults: temperature 1, top_p 1        */
    bool has_seed;
    char **stops;            /* (n_stops) NUL-terminated, non-empty            */
    size_t n_stops;
    int32_t logprobs;        /* -1: none; else how many alternatives per token
                                (chat: top_logprobs 0..20; completions: logprobs 0..5) */
    bool echo;               /* /v1/completions: prompt text before the answer */

    /* chat */
    wf_chat_list msgs;       /* the messages (content joined, "developer" as
                                "system", tool_calls arguments as objects)     */
    char *template_extra;    /* JSON object: tools, chat_template_kwargs; or NULL */
    bool tools;              /* tools given (and tool_choice not "none"): the
                                answer is parsed for tool calls (tool_calls.c) */
    char *prediction;        /* prediction.content (predicted outputs), or NULL
                                (chat and /v1/completions)                     */
    size_t prediction_len;
    wf_api_spec spec;        /* wafer's `speculative`: per-request speculation  */
    wf_api_constraint constraint; /* response_format / tool_choice / grammar */

    /* responses (api_responses.c): input items become msgs above, tools and
     * tool_choice become template_extra / tools as for chat */
    char *instructions;      /* NULL when absent                               */
    size_t instructions_len;
    char *previous_response_id; /* NULL when absent                            */
    bool store;              /* keep the response for previous_response_id (true) */
    bool parallel_tool_calls;/* false: only the first call is returned (true)   */
    char *echo_json;         /* JSON object: the request fields a response object
                                repeats (tools, tool_choice, metadata, ...)    */

    /* completions / completion / infill / tokenize */
    char *prompt;            /* text, or NULL when the prompt is token ids     */
    size_t prompt_len;
    int32_t *prompt_ids;     /* (n_prompt_ids) when the prompt was token ids   */
    size_t n_prompt_ids;
    char *suffix;            /* /v1/completions suffix; NULL when absent       */
    size_t suffix_len;
    char *input_prefix, *input_suffix; /* /infill                               */
    size_t input_prefix_len, input_suffix_len;
    wf_api_extra *extra;     /* (n_extra) /infill input_extra                  */
    size_t n_extra;
    double t_max_predict_ms; /* /infill, /completion: 0 = no limit             */
    bool cache_prompt;       /* accepted; prompts are always cached            */

    /* tokenize / detokenize */
    bool add_special;        /* /tokenize: BOS as the vocabulary asks (false)  */
    bool parse_special;      /* /tokenize, /completion: special-token text (true) */
    bool with_pieces;        /* /tokenize: [{id, piece}]                       */
    int32_t *tokens;         /* (n_tokens) /detokenize                         */
    size_t n_tokens;
} wf_api_request;

/* Parse and validate body[0..len) (any bytes) for endpoint kind. On
 * failure *e says why (status 400 for client errors, 500 when out of memory)
 * and r is left empty. lim may be NULL. r is always safe to free. */
bool wf_api_parse(wf_api_kind kind, const char *body, size_t len, const wf_api_limits *lim,
                  wf_api_request *r, wf_api_error *e);
void wf_api_request_free(wf_api_request *r);

/* ---- constraints (constraint.c) -------------------------------------- */

/* Tool-call text formats (api_tools.c parses both). */
typedef enum wf_api_tool_format {
    WF_API_TOOLS_HERMES = 0,  /* <tool_call>\n{json}\n</tool_call> (Qwen, Hermes) */
    WF_API_TOOLS_MISTRAL = 1  /* [TOOL_CALLS][{json}]                             */
} wf_api_tool_format;
/* The format a chat template uses (Mistral when it mentions [TOOL_CALLS]). */
wf_api_tool_format wf_api_tool_format_of(const char *template_src, size_t len);

/* The helpers take jansson values (json_t *, declared void * here so this
 * header needs no jansson). Each returns false with a 400 in *e.
 * Output format: chat's response_format {type, json_schema: {name, schema,
 * strict}} (flat false) or the Responses API's text.format {type, name,
 * schema, strict} (flat true); param names the field in errors. */
bool wf_api_constraint_format(void *fmt, const char *param, bool flat, wf_api_constraint *c, wf_api_error *e);
/* tool_choice "required" or a named function over tools (chat's
 * {type, function: {name, parameters}} or the flat Responses shape):
 * constraint TOOL_CALL; "auto"/"none"/absent change nothing. */
bool wf_api_constraint_tools(void *tools, void *tool_choice, const char *param, wf_api_constraint *c, wf_api_error *e);
/* llama.cpp's `grammar` (GBNF) and `json_schema` fields of object o. */
bool wf_api_constraint_llama(void *o, wf_api_constraint *c, wf_api_error *e);
/* THE conversion: constraint -> GBNF text (*gbnf malloc'd; NULL when there
 * is no constraint). A schema or grammar the engine cannot take is a 400
 * naming the keyword / line and column. fmt: the model's tool-call format. */
bool wf_api_constraint_gbnf(const wf_api_constraint *c, wf_api_tool_format fmt, char **gbnf, wf_api_error *e);
void wf_api_constraint_free(wf_api_constraint *c);

/* ---- responses (api_response.c) ----------------------------------------- */

/* Token accounting sent as `usage` (OpenAI) or `timings` (llama.cpp). */
typedef struct wf_api_usage {
    int32_t prompt_tokens;
    int32_t cached_tokens;           /* prompt tokens reused from a cache        */
    int32_t completion_tokens;
    int32_t reasoning_tokens;        /* of completion_tokens: harmony analysis   */
    int32_t accepted_prediction_tokens;
    int32_t rejected_prediction_tokens;
    double prompt_ms;                /* evaluating the new prompt tokens         */
    double predicted_ms;             /* first token -> end                       */
    int32_t draft_n;                 /* speculative draft tokens proposed        */
    int32_t draft_n_accepted;        /* ... and accepted (llama.cpp's timings)   */
} wf_api_usage;

/* The bytes of token id (wf_token_to_bytes' contract). */
typedef int32_t (*wf_api_token_fn)(const void *user, int32_t id, char *buf, size_t cap);

/* Log-probabilities of emitted tokens: lp[i] of ids[i]; n_top alternatives
 * per token in top_id / top_lp[i * n_top ...] (best first). */
typedef struct wf_api_logprobs {
    const float *lp;
    const int32_t *top_id;
    const float *top_lp;
    int32_t n_top;
    wf_api_token_fn token_bytes;
    const void *token_user;
} wf_api_logprobs;

/* What a finished (or finishing) generation looks like to a response. */
typedef struct wf_api_result {
    const char *id;          /* "chatcmpl-..." / "cmpl-..."                      */
    const char *model;
    int64_t created;         /* unix seconds                                     */
    const char *text;        /* the generated text                               */
    size_t text_len;
    const int32_t *ids;      /* (n_ids) generated token ids (llama.cpp `tokens`) */
    size_t n_ids;
    const char *finish;      /* "stop", "length" or NULL (still running)         */
    const char *stop_type;   /* llama.cpp: "eos", "word", "limit", "none"        */
    const char *stopping_word;
    const char *echo_prompt; /* /v1/completions echo: text put before the answer */
    size_t echo_len;
    wf_api_usage usage;
    int32_t slot;
    const wf_api_logprobs *logprobs; /* NULL: "logprobs": null                     */
    const char *tool_calls;  /* JSON array of calls (wf_api_tool_calls), or NULL;
                                then text[0..text_len) is the content before them */
    const char *reasoning;   /* harmony models: the reasoning (message
                                reasoning_content when not empty), or NULL      */
    size_t reasoning_len;
    size_t lp_from, lp_to;   /* tokens [from, to) of ids this response covers    */
    int32_t n_ctx;           /* llama.cpp generation_settings                    */
    int32_t n_predict;
} wf_api_result;

/* Each returns a malloc'd NUL-terminated JSON text (caller frees), or NULL
 * when out of memory. */
char *wf_api_error_json(const wf_api_error *e);
char *wf_api_chat_response(const wf_api_result *r);
char *wf_api_completions_response(const wf_api_result *r);
char *wf_api_llama_response(const wf_api_result *r, bool final, bool stream);
/* Chat stream chunks: role (the first chunk: delta {role, content ""}),
 * content (delta {content}), finish (delta {}, finish_reason), usage
 * (choices [], usage). include_usage adds "usage": null to the others. */
char *wf_api_chat_chunk_role(const wf_api_result *r, bool include_usage);
char *wf_api_chat_chunk_text(const wf_api_result *r, const char *text, size_t n, bool include_usage);
char *wf_api_chat_chunk_finish(const wf_api_result *r, bool include_usage);
/* delta {reasoning_content} (harmony models' analysis channel). */
char *wf_api_chat_chunk_reasoning(const wf_api_result *r, const char *text, size_t n, bool include_usage);
char *wf_api_chat_chunk_usage(const wf_api_result *r);
/* Completions stream chunks: text (finish_reason null), finish, usage. */
char *wf_api_completions_chunk_text(const wf_api_result *r, const char *text, size_t n, bool include_usage);
char *wf_api_completions_chunk_finish(const wf_api_result *r, bool include_usage);
char *wf_api_completions_chunk_usage(const wf_api_result *r);
/* llama.cpp /completion and /infill stream chunk of text (stop false). */
char *wf_api_llama_chunk_text(const char *text, size_t n, int32_t slot);
char *wf_api_models_json(const char *model, int64_t created, int32_t n_ctx, int32_t n_vocab);

/* Chat stream chunk with the tool calls (delta.tool_calls, indexed). */
char *wf_api_chat_chunk_tool_calls(const wf_api_result *r, bool include_usage);
/* Chat stream chunk with one call's delta: its id, type and name when id is
 * given (the call's first chunk), and args[0..n) of its arguments. */
char *wf_api_chat_chunk_tool_delta(const wf_api_result *r, int index, const char *id, const char *name, const char *args,
                                   size_t n, bool include_usage);

/* ---- tool calls (tool_calls.c) -------------------------------------------- */

/* Parse the tool calls of an answer (Hermes/Qwen <tool_call> blocks with JSON
 * or Qwen3-Coder's XML, Mistral [TOOL_CALLS], Llama 3.x JSON and
 * <|python_tag|>, DeepSeek's tool-call tokens). Returns how many (0: none, the answer is content;
 * -1: out of memory); with calls, *calls_json is a malloc'd JSON array of
 * OpenAI tool_calls (ids "call_<id_prefix>_<i>") and *content_len the length
 * of the text before them (trailing white space dropped). */
int wf_api_tool_calls(const char *text, size_t n, const char *id_prefix, char **calls_json, size_t *content_len);
/* How much of a streamed answer can be sent as content: up to a tool-call
 * marker, holding back a tail that may be the start of one (and everything
 * while the answer may still be a Llama-style JSON call). */
size_t wf_api_tool_safe_len(const char *text, size_t n);
/* A call as far as the answer has written it. */
typedef struct wf_api_tool_call_part {
    char *name;              /* malloc'd                                       */
    char *args;              /* malloc'd: the arguments so far, always a prefix
                                of the final arguments (a JSON object's text)  */
    size_t args_len;
    bool complete;
} wf_api_tool_call_part;
/* The calls in text[0..n) (a finished answer when final) whose names are
 * known, at most max; *content_len: the text before them. Returns how many
 * (0: none, or not calls after all: then *content_len = n when final; -1: out
 * of memory). Free the parts with wf_api_tool_parts_free. */
int wf_api_tool_calls_partial(const char *text, size_t n, bool final, wf_api_tool_call_part *out, int max,
                              size_t *content_len);
void wf_api_tool_parts_free(wf_api_tool_call_part *p, int n);

/* ---- gpt-oss "harmony" answers (harmony_answer.c) ------------------------ */

/* An answer written in harmony channels (chat/harmony.h) as the API shows
 * it: analysis -> reasoning, final -> content, commentary to=functions.NAME
 * -> tool calls. */
#define WF_API_HARMONY_CALLS 16
typedef struct wf_api_harmony {
    char *reasoning;         /* malloc'd, "" when none                           */
    size_t reasoning_len;
    char *content;           /* malloc'd, "" when none                           */
    size_t content_len;
    wf_api_tool_call_part calls[WF_API_HARMONY_CALLS];
    int n_calls;
    char *calls_json;        /* OpenAI tool_calls (ids "call_<id_prefix>_<i>"), or
                                NULL when there are no calls                     */
    bool raw;                /* the text was not harmony: content is all of it  */
} wf_api_harmony;
/* Split text[0..n). final: the generation is over (else a trailing partial
 * marker such as "<|chan" is held back, so every field of a later call
 * extends this one's); closed: it ended at an end-of-generation token
 * (<|return|> / <|call|>, whose text the answer does not hold), so the last
 * message is whole. A final answer's call cut off by the token limit is
 * no call: its arguments so far end the content. False only when out of
 * memory. */
bool wf_api_harmony_answer(const char *text, size_t n, bool final, bool closed, const char *id_prefix, wf_api_harmony *h);
void wf_api_harmony_free(wf_api_harmony *h);

/* Length of the longest prefix of s[0..n) made of whole UTF-8 characters
 * (a character cut at the end is left out; invalid bytes count as whole). */
size_t wf_api_utf8_complete(const char *s, size_t n);

/* ---- the Responses API (api_responses.c) --------------------------------- */

/* Parse the fields of a POST /v1/responses body (obj is its JSON object). */
bool wf_api_parse_responses(const struct json_t *obj, const wf_api_limits *lim, wf_api_request *r,
                            wf_api_error *e);

/* What a response object is made of. */
typedef struct wf_api_resp_view {
    const char *id;          /* "resp_..."                                      */
    const char *model;
    int64_t created;
    const char *status;      /* "completed", "incomplete", "in_progress",
                                "cancelled", "failed"                           */
    const char *incomplete;  /* incomplete_details.reason, or NULL              */
    const char *error;       /* error message (status "failed"), or NULL        */
    const char *text;        /* assistant text before any tool call             */
    size_t text_len;
    const char *reasoning;   /* harmony models: a reasoning item before the
                                message when not empty (else NULL)              */
    size_t reasoning_len;
    const char *calls_json;  /* JSON array of chat tool_calls (tool_calls.c), or NULL */
    const char *echo_json;   /* wf_api_request.echo_json                        */
    const char *previous_response_id;
    bool with_output;        /* false: "output": [] (response.created)          */
    bool prediction;         /* add the prediction counts to usage              */
    wf_api_usage usage;
} wf_api_resp_view;

/* The response object ({"id", "object": "response", "status", "output", ...,
 * "usage"}), as a jansson object (caller decrefs) or NULL when out of memory. */
struct json_t *wf_api_resp_object(const wf_api_resp_view *v);
/* One Server-Sent Event "event: TYPE\ndata: {...,"type","sequence_number"}\n\n"
 * built from payload (stolen) with *seq as its number (then incremented).
 * malloc'd, or NULL when out of memory. */
char *wf_api_resp_event(const char *type, struct json_t *payload, uint64_t *seq);

/* api_fields.c: every top-level field of obj is known to the endpoint and
 * usable as given; else false + a 400 naming it (docs/server.md's table). */
struct json_t;
bool wf_api_check_fields(wf_api_kind kind, const struct json_t *obj, wf_api_error *e);
/* Row i of that table (false past the end): the field, a mask of
 * (1 << wf_api_kind) endpoints, "honoured" / "ignored" / "no-op value only" /
 * "refused", and why (NULL for honoured fields). */
bool wf_api_field_row(size_t i, const char **name, unsigned *endpoints, const char **use, const char **why);

#endif /* WF_API_H */
