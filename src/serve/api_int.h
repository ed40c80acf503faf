/* api_int.h — request-parsing helpers of api_request.c shared with
 * api_responses.c, so both endpoints check fields with the same words. */
#ifndef WF_API_INT_H
#define WF_API_INT_H

#include "serve/api.h"

#include <jansson.h>

/* A content value joined as text: types NULL = chat's {"type":"text"} parts,
 * else the part types allowed (NULL-terminated, at most two named in the
 * error). */
bool wf_api_text_parts(json_t *v, const char *const *types, const char *param, char **out, size_t *len,
                       wf_api_error *e);
/* A chat message object (role, content, tool_calls...) appended to r->msgs
 * as /v1/chat/completions reads it; i names it in errors ("messages[i]"). */
bool wf_api_chat_message(json_t *m, size_t i, wf_api_request *r, wf_api_error *e);
/* The request's constraint compiles and no stop string could cut it. */
bool wf_api_check_constraint(wf_api_request *r, wf_api_error *e);
bool wf_api_bad_type(wf_api_error *e, const char *param, const char *want, const json_t *v);
bool wf_api_oom(wf_api_error *e);
bool wf_api_get_int(json_t *o, const char *key, int64_t lo, int64_t hi, int64_t *out, bool *present, wf_api_error *e);

#endif /* WF_API_INT_H */
