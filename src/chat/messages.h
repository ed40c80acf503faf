/* messages.h — one path from a conversation to prompt tokens, shared by
 * `wafer chat`, `wafer edit`, the server's chat completions and its
 * Responses endpoint:
 *
 *   OpenAI-style JSON message  --wf_chat_message_from_json-->  wf_chat_message
 *   wf_chat_message[] + tools  --wf_template_render----------> prompt text
 *   prompt text + messages     --wf_chat_tokenize-----------> token ids
 *
 * Content made of text parts is joined in one place (wf_chat_content_join).
 * Special-token text has one rule: the template's own text is tokenized with
 * special tokens parsed; a message whose content would tokenize to a control
 * token ("<|im_end|>" typed by a user) has its content tokenized as plain
 * text where the template put it, so nobody can forge turns through content.
 * When such content is not in the rendered text verbatim it cannot be kept
 * apart and the prompt is refused (WF_ERR_INVALID_ARG, *bad_msg says which). */
#ifndef WF_CHAT_MESSAGES_H
#define WF_CHAT_MESSAGES_H

#include "chat/template.h"
#include "text/tokenizer.h"

#include <stddef.h>
#include <stdint.h>

struct json_t; /* jansson */

/* A growable list of messages that owns its strings. */
typedef struct wf_chat_list {
    wf_chat_message *m; /* (n) role, content and fields_json are malloc'd */
    size_t n, cap;
} wf_chat_list;

/* Append a message (copies role, content[0..len) and fields_json, which may be
 * NULL). */
wf_status wf_chat_list_push(wf_chat_list *l, const char *role, const char *content, size_t len,
                            const char *fields_json, wf_error *err);
void wf_chat_list_pop(wf_chat_list *l);
void wf_chat_list_free(wf_chat_list *l);

/* The text of an OpenAI content value: a string, or an array of
 * {"type": T, "text": ...} parts joined, where T is one of types (a
 * NULL-terminated list; NULL = {"text"}: chat completions' parts).
 * WF_ERR_FORMAT: neither a string nor an array, or a part that is not an
 * object with a string "type" and "text"; WF_ERR_UNSUPPORTED: a part of
 * another type. *bad_part (may be NULL) is the offending part's index, or
 * SIZE_MAX when the value itself is wrong. *out is malloc'd, NUL-terminated. */
wf_status wf_chat_content_join(const struct json_t *content, const char *const *types, char **out,
                               size_t *len, size_t *bad_part, wf_error *err);

/* One message object -> *out (owned strings; free with wf_chat_message_clear).
 * role: the "role" string (NULL when absent or not a string); content: the
 * string or the joined text parts, NULL otherwise (absent, null: then it
 * stays in fields_json as it is); fields_json: the whole object (content
 * joined) when it has any other member, else NULL. */
wf_status wf_chat_message_from_json(const struct json_t *msg, wf_chat_message *out, wf_error *err);
void wf_chat_message_clear(wf_chat_message *m);

/* Tokenize rendered prompt text[from..len) under the rule above (no BOS/EOS
 * added: the template writes them). msgs are the messages rendered into
 * text; their content is found in order. *ids is malloc'd (non-NULL). */
wf_status wf_chat_tokenize(const wf_vocab *v, const char *text, size_t len, size_t from,
                           const wf_chat_message *msgs, size_t n, int32_t **ids, size_t *n_ids,
                           size_t *bad_msg, wf_error *err);

/* Render and tokenize: *text (may be NULL: not kept) is the rendered prompt
 * (malloc'd), *ids its tokens. Render errors come back as they are. */
wf_status wf_chat_prompt(const wf_template *t, const wf_vocab *v, const wf_chat_message *msgs, size_t n,
                         const wf_template_opts *o, char **text, size_t *text_len, int32_t **ids,
                         size_t *n_ids, size_t *bad_msg, wf_error *err);

#endif /* WF_CHAT_MESSAGES_H */
