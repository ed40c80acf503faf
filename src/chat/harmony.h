/* harmony.h — the output channels of gpt-oss's "harmony" format.
 *
 * gpt-oss writes its answer as messages, each
 *   [<|start|>assistant] [to=RECIPIENT] <|channel|>CHANNEL [to=RECIPIENT]
 *   [<|constrain|>TYPE] <|message|>TEXT (<|end|> | <|return|> | <|call|>)
 * (the <|start|>assistant header is part of the prompt for the first one).
 * Channels: "analysis" is reasoning, "final" the answer, "commentary" with a
 * recipient "functions.NAME" a tool call whose TEXT is the JSON arguments
 * (commentary without a recipient is shown as content, as the format's
 * description says preambles are).
 *
 * wf_harmony_parse splits the generated text (special tokens rendered as
 * their text) into those parts; the server's chat completions
 * (reasoning_content, content, tool_calls) and the Responses API (a
 * reasoning item, a message, function calls) read them. A message cut off
 * by the token limit (no end marker) is kept as far as it got.
 */
#ifndef WF_HARMONY_H
#define WF_HARMONY_H

#include "base/common.h"

#define WF_HARMONY_MAX_CALLS 64

typedef struct wf_harmony_call {
    char *name;       /* the function name (recipient without "functions.") */
    char *arguments;  /* the message text: JSON arguments as written         */
} wf_harmony_call;

typedef struct wf_harmony_out {
    char *reasoning;  /* analysis messages, joined by "\n"; "" when none     */
    char *content;    /* final (and recipient-less commentary) messages      */
    wf_harmony_call calls[WF_HARMONY_MAX_CALLS];
    int n_calls;
    bool truncated;   /* the last message had no end marker                  */
} wf_harmony_out;

/* Parse text (len bytes). WF_ERR_FORMAT for a header that is not harmony
 * (a message marker without a channel, an unknown channel, a recipient
 * that is not a function in a tool call, more than WF_HARMONY_MAX_CALLS
 * calls), WF_ERR_NOMEM; on error out holds nothing to free. Text before
 * the first header (a model that skipped the format) counts as content. */
wf_status wf_harmony_parse(const char *text, size_t len, wf_harmony_out *out, wf_error *err);
void wf_harmony_free(wf_harmony_out *out);

/* How many of n generated tokens are reasoning (the usage's
 * reasoning_tokens): text[0..len) is the tokens' bytes joined, ends[i] the
 * end offset of token i's (nondecreasing, at most len). A message spans its
 * header (from <|start|> or <|channel|>), body and end marker; a token counts
 * for the message its first byte is in. Messages are split as
 * wf_harmony_parse splits them; text it refuses (not harmony: all content)
 * has none. */
size_t wf_harmony_reasoning_tokens(const char *text, size_t len, const size_t *ends, size_t n);

#endif /* WF_HARMONY_H */
