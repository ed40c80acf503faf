/* responses.h — the server side of the Responses API (responses.c): the
 * response store and what http.c and prompt.c call for /v1/responses.
 * Private to src/serve. */
#ifndef WF_SERVE_RESPONSES_H
#define WF_SERVE_RESPONSES_H

#include "serve/serve_int.h"

/* The store: at most max_n responses and max_bytes bytes (0 max_n: off). */
srv_rstore *srv_rstore_new(size_t max_n, size_t max_bytes);
void srv_rstore_free(srv_rstore *st);
void srv_rstore_stats(srv_rstore *st, size_t *n, size_t *bytes);

/* Before tokenizing: the response id in OpenAI's form, the conversation
 * continued from previous_response_id (400 when it is not stored). */
bool srv_responses_prepare(wf_server *s, srv_req *r, wf_api_error *e);
void srv_resp_free(srv_resp *x);

/* After the generation (r done): the response object (stored when asked). */
char *srv_responses_final(wf_server *s, srv_req *r);
/* Stream events (SSE text, malloc'd; NULL when out of memory):
 * created + in_progress; text deltas; the closing events (s->mu held by
 * the caller for all three). */
char *srv_responses_stream_begin(wf_server *s, srv_req *r);
char *srv_responses_stream_text(wf_server *s, srv_req *r, const char *t, size_t n);
char *srv_responses_stream_end(wf_server *s, srv_req *r);
/* With tools, while it runs: the content and the calls written since the
 * last call (*sse NULL: nothing new). false when out of memory. */
bool srv_responses_stream_progress(wf_server *s, srv_req *r, char **sse);

/* GET / DELETE /v1/responses/{id}, POST /v1/responses/{id}/cancel: rest is
 * the path after "/v1/responses/". Returns the HTTP status; *body (200) is
 * malloc'd JSON, else *e says why. */
int srv_responses_route(wf_server *s, const char *method, const char *rest, char **body, wf_api_error *e);

#endif /* WF_SERVE_RESPONSES_H */
