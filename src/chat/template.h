/* template.h — chat templates: a Jinja2-subset renderer that runs the
 * `tokenizer.chat_template` of a model the way Hugging Face transformers does
 * (sandboxed Jinja2, trim_blocks, lstrip_blocks, loop controls, tojson,
 * raise_exception, strftime_now), plus built-in named formats.
 *
 * Templates and messages are untrusted: recursion depth, loop iterations,
 * memory and output size are bounded; anything the engine does not support
 * is an error naming the construct and its line, never a silently wrong
 * prompt. */
#ifndef WF_TEMPLATE_H
#define WF_TEMPLATE_H

#include "wafer.h"
#include "format/gguf.h"

#include <stddef.h>
#include <stdint.h>

typedef struct wf_template wf_template;

/* One chat message; content is UTF-8 text (already normalised: an OpenAI
 * array of text parts is joined into one string, chat/messages.h). */
typedef struct wf_chat_message {
    const char *role;        /* NULL: "" (or as fields_json has it)            */
    const char *content;     /* NULL: "" (or as fields_json has it)            */
    size_t content_len;
    const char *fields_json; /* NULL, or the message as a JSON object: its other
                                members (tool_calls with arguments as objects,
                                tool_call_id, name ...) reach the template as
                                they are; role and content above win         */
} wf_chat_message;

typedef struct wf_template_opts {
    bool add_generation_prompt;  /* default true                              */
    const char *bos_token;       /* NULL = ""                                 */
    const char *eos_token;       /* NULL = ""                                 */
    int64_t now;                 /* strftime_now's clock (unix s); 0 = time() */
    const char *extra_json;      /* NULL, or a JSON object of extra variables
                                    (e.g. {"enable_thinking": false,
                                    "tools": [...]}); tools/documents are
                                    none unless given here                  */
    size_t max_output;           /* 0 = 8 MiB                                 */
    size_t max_memory;           /* 0 = 64 MiB (values made while rendering)  */
    uint64_t max_iterations;     /* 0 = 1,000,000 loop iterations in total    */
} wf_template_opts;

void wf_template_opts_init(wf_template_opts *o);

/* Compile template source (any bytes; CRLF is normalised as Jinja does). */
wf_status wf_template_compile(const char *src, size_t len, wf_template **out, wf_error *err);
void wf_template_free(wf_template *t);

/* Render with the messages. *out is malloc'd, NUL-terminated (caller frees);
 * *out_len excludes the NUL. A template's raise_exception(msg) fails with
 * WF_ERR_INVALID_ARG and the message "template error: msg". */
wf_status wf_template_render(const wf_template *t, const wf_chat_message *msgs, size_t n,
                             const wf_template_opts *opts, char **out, size_t *out_len,
                             wf_error *err);
/* The same with the messages as a JSON array text (OpenAI style: role,
 * content as a string or [{"type":"text","text":..}], other fields such as
 * tool_calls kept as they are), read with wf_chat_message_from_json. */
wf_status wf_template_render_json(const wf_template *t, const char *messages_json, size_t len,
                                  const wf_template_opts *opts, char **out, size_t *out_len,
                                  wf_error *err);

/* Parse an OpenAI-style messages array into messages (content parts joined,
 * a null content as "", other members in fields_json). Free with
 * wf_chat_messages_free. */
wf_status wf_chat_messages_parse(const char *json, size_t len, wf_chat_message **out, size_t *n,
                                 wf_error *err);
void wf_chat_messages_free(wf_chat_message *m, size_t n);

/* Built-in named formats: "chatml", "deepseek-coder", "llama3", "qwen2.5"
 * (without tools). NULL if unknown. */
const char *wf_template_builtin(const char *name);
/* The names, NULL-terminated, for --help. */
const char *const *wf_template_builtin_names(void);

/* The model's tokenizer.chat_template (points into the mapped file). */
wf_status wf_template_from_gguf(const wf_gguf *g, const char **src, size_t *len, wf_error *err);

#endif /* WF_TEMPLATE_H */
