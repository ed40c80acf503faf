/* template.c — chat templates, public side (template.h): compile/render
 * entry points over the Jinja engine (jinja_*.c), the variables transformers
 * passes to a chat template, OpenAI-style message parsing, built-in named
 * formats and the GGUF tokenizer.chat_template lookup. */
#include "chat/template.h"
#include "base/buf.h"

#include "chat/jinja.h"
#include "chat/messages.h"

#include <jansson.h>
#include <stdlib.h>
#include <time.h>

#define TMPL_DEFAULT_OUTPUT (8u << 20)
#define TMPL_DEFAULT_MEMORY (64u << 20)
#define TMPL_DEFAULT_ITERS 1000000u
#define TMPL_MAX_SOURCE (1u << 20)

struct wf_template {
    jctx c;           /* owns the AST */
    jnodes *body;
};

void wf_template_opts_init(wf_template_opts *o) {
    memset(o, 0, sizeof *o);
    o->add_generation_prompt = true;
}

/* Jinja normalises \r\n and \r to \n and drops one trailing newline
 * (keep_trailing_newline=False). */
static char *normalise_source(const char *src, size_t len, size_t *out_len) {
    char *s = malloc(len + 1);
    if (!s) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (src[i] == '\r') {
            s[o++] = '\n';
            if (i + 1 < len && src[i + 1] == '\n') i++;
        } else {
            s[o++] = src[i];
        }
    }
    if (o > 0 && s[o - 1] == '\n') o--;
    s[o] = 0;
    *out_len = o;
    return s;
}

/* Parse into t's arena; errors unwind to here. */
static wf_status compile_into(wf_template *t, const char *s, size_t n, wf_error *err) {
    jmp_buf jb;
    t->c.cap = TMPL_DEFAULT_MEMORY;
    t->c.jmp = &jb;
    t->c.err = err;
    if (setjmp(jb) != 0) return t->c.code;
    jstr *copy = js_new(&t->c, s, n); /* the AST points into the arena only */
    t->body = jinja_parse(&t->c, copy->s, copy->len);
    t->c.jmp = NULL;
    t->c.err = NULL;
    return WF_OK;
}

wf_status wf_template_compile(const char *src, size_t len, wf_template **out, wf_error *err) {
    *out = NULL;
    if (!src && len) return wf_fail(err, WF_ERR_INVALID_ARG, "template: no source");
    if (len > TMPL_MAX_SOURCE) return wf_fail(err, WF_ERR_RANGE, "template: source too large (%zu bytes)", len);
    if (len && memchr(src, 0, len)) return wf_fail(err, WF_ERR_FORMAT, "template: source contains a NUL byte");
    wf_template *t = calloc(1, sizeof *t);
    size_t n = 0;
    char *s = t ? normalise_source(src ? src : "", len, &n) : NULL;
    if (!s) {
        free(t);
        return wf_fail(err, WF_ERR_NOMEM, "template: out of memory");
    }
    wf_status st = compile_into(t, s, n, err);
    free(s);
    if (st != WF_OK) {
        wf_template_free(t);
        return st;
    }
    *out = t;
    return WF_OK;
}

void wf_template_free(wf_template *t) {
    if (!t) return;
    ja_free_all(&t->c);
    free(t);
}

static wf_status render(const wf_template *t, const wf_chat_message *msgs, size_t n,
                        const wf_template_opts *opts_in, char **out, size_t *out_len, wf_error *err) {
    *out = NULL;
    if (out_len) *out_len = 0;
    wf_template_opts opts;
    if (opts_in) opts = *opts_in;
    else wf_template_opts_init(&opts);
    jctx c = {0};
    c.cap = opts.max_memory ? opts.max_memory : TMPL_DEFAULT_MEMORY;
    c.err = err;
    jmp_buf jb;
    c.jmp = &jb;
    if (setjmp(jb) != 0) {
        ja_free_all(&c);
        return c.code;
    }
    jdict *g = jv_dict(&c).d;
    jv messages = jv_list(&c, n);
    for (size_t i = 0; i < n; i++) {
        const wf_chat_message *mi = &msgs[i];
        jv m = mi->fields_json ? jv_from_json_text(&c, mi->fields_json, strlen(mi->fields_json)) : jv_dict(&c);
        if (m.t != JV_DICT) jfail(&c, WF_ERR_FORMAT, 0, "messages[%zu]: expected an object", i);
        if (mi->role || !mi->fields_json) jd_set(&c, m.d, jv_strs(&c, "role"), jv_strs(&c, mi->role ? mi->role : ""));
        if (mi->content || !mi->fields_json)
            jd_set(&c, m.d, jv_strs(&c, "content"), jv_str(&c, mi->content ? mi->content : "", mi->content_len));
        jl_push(&c, messages.l, m);
    }
    jd_set(&c, g, jv_strs(&c, "messages"), messages);
    jd_set(&c, g, jv_strs(&c, "tools"), jv_none());
    jd_set(&c, g, jv_strs(&c, "documents"), jv_none());
    jd_set(&c, g, jv_strs(&c, "add_generation_prompt"), jv_bool(opts.add_generation_prompt));
    jd_set(&c, g, jv_strs(&c, "bos_token"), jv_strs(&c, opts.bos_token ? opts.bos_token : ""));
    jd_set(&c, g, jv_strs(&c, "eos_token"), jv_strs(&c, opts.eos_token ? opts.eos_token : ""));
    static const struct { const char *name; int id; } funcs[] = {
        {"raise_exception", JF_RAISE}, {"strftime_now", JF_STRFTIME}, {"namespace", JF_NAMESPACE},
        {"range", JF_RANGE}, {"dict", JF_DICT}};
    for (size_t i = 0; i < sizeof funcs / sizeof funcs[0]; i++) {
        jv f = {0};
        f.t = JV_FUNC;
        f.aux = (uint16_t)funcs[i].id;
        jd_set(&c, g, jv_strs(&c, funcs[i].name), f);
    }
    if (opts.extra_json) {
        jv extra = jv_from_json_text(&c, opts.extra_json, strlen(opts.extra_json));
        if (extra.t != JV_DICT) jfail(&c, WF_ERR_FORMAT, 0, "extra template variables: expected a JSON object");
        for (size_t i = 0; i < extra.d->n; i++) jd_set(&c, g, extra.d->keys[i], extra.d->vals[i]);
    }
    jrender_opts ro;
    ro.now = opts.now ? opts.now : (int64_t)time(NULL);
    ro.max_output = opts.max_output ? opts.max_output : TMPL_DEFAULT_OUTPUT;
    ro.max_iterations = opts.max_iterations ? opts.max_iterations : TMPL_DEFAULT_ITERS;
    jbuf buf = {0};
    buf.max = ro.max_output;
    jinja_render(&c, t->body, g, &ro, &buf);
    char *res = malloc(buf.n + 1);
    if (!res) jfail(&c, WF_ERR_NOMEM, 0, "template: out of memory");
    if (buf.n) memcpy(res, buf.p, buf.n);
    res[buf.n] = 0;
    *out = res;
    if (out_len) *out_len = buf.n;
    ja_free_all(&c);
    return WF_OK;
}

wf_status wf_template_render(const wf_template *t, const wf_chat_message *msgs, size_t n,
                             const wf_template_opts *opts, char **out, size_t *out_len, wf_error *err) {
    return render(t, msgs, n, opts, out, out_len, err);
}

/* Messages JSON text -> messages; strict: every message needs a string
 * role, and a null content becomes "" (wf_chat_messages_parse). */
static wf_status messages_from_text(const char *json, size_t len, bool strict, wf_chat_list *l, wf_error *err) {
    json_error_t je;
    json_t *root = json_loadb(json, len, 0, &je);
    if (!root) return wf_fail(err, WF_ERR_FORMAT, "messages: bad JSON at line %d column %d: %s", je.line, je.column, je.text);
    if (!json_is_array(root)) {
        json_decref(root);
        return wf_fail(err, WF_ERR_FORMAT, "messages: expected a JSON array of {\"role\", \"content\"}");
    }
    wf_status st = WF_OK;
    size_t i;
    json_t *o;
    json_array_foreach(root, i, o) {
        json_t *content = json_object_get(o, "content");
        if (!json_is_object(o) || (strict && !json_is_string(json_object_get(o, "role")))) {
            st = wf_fail(err, WF_ERR_FORMAT, strict ? "messages[%zu]: expected an object with a string \"role\""
                                                    : "messages[%zu]: expected an object", i);
            break;
        }
        if (strict && content && !json_is_null(content) && !json_is_string(content) && !json_is_array(content)) {
            st = wf_fail(err, WF_ERR_FORMAT, "messages[%zu].content: expected a string or an array of text parts", i);
            break;
        }
        wf_chat_message m;
        wf_error e2 = {0};
        st = wf_chat_message_from_json(o, &m, &e2);
        if (st) {
            wf_fail(err, st, "messages[%zu].%s", i, e2.msg);
            break;
        }
        if (strict && !m.content && !(m.content = calloc(1, 1))) st = wf_fail(err, WF_ERR_NOMEM, "messages: out of memory");
        if (!st && l->n == l->cap && !WF_ARRAY_RESERVE(l->m, l->cap, l->n + 1))
            st = wf_fail(err, WF_ERR_NOMEM, "messages: out of memory");
        if (st) {
            wf_chat_message_clear(&m);
            break;
        }
        l->m[l->n++] = m;
    }
    json_decref(root);
    if (st) wf_chat_list_free(l);
    return st;
}

wf_status wf_template_render_json(const wf_template *t, const char *messages_json, size_t len,
                                  const wf_template_opts *opts, char **out, size_t *out_len, wf_error *err) {
    *out = NULL;
    if (!messages_json) return wf_fail(err, WF_ERR_INVALID_ARG, "messages: no JSON given");
    wf_chat_list l = {0};
    wf_status s = messages_from_text(messages_json, len, false, &l, err);
    if (!s) s = render(t, l.m, l.n, opts, out, out_len, err);
    wf_chat_list_free(&l);
    return s;
}

wf_status wf_chat_messages_parse(const char *json, size_t len, wf_chat_message **out, size_t *n, wf_error *err) {
    *out = NULL;
    *n = 0;
    wf_chat_list l = {0};
    wf_status st = messages_from_text(json, len, true, &l, err);
    if (st) return st;
    if (!l.m && !(l.m = calloc(1, sizeof *l.m))) return wf_fail(err, WF_ERR_NOMEM, "messages: out of memory");
    *out = l.m;
    *n = l.n;
    return WF_OK;
}

void wf_chat_messages_free(wf_chat_message *m, size_t n) {
    wf_chat_list l = {m, n, n};
    wf_chat_list_free(&l);
}

/* ---- built-in formats ------------------------------------------------------ */
/* Written for wafer from the formats' descriptions. ChatML: every message
 * as <|im_start|>role\ncontent<|im_end|>\n, generation prompt
 * <|im_start|>assistant\n. */
static const char tmpl_chatml[] =
    "{%- for message in messages %}\n"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}\n"
    "{%- endfor %}\n"
    "{%- if add_generation_prompt %}\n"
    "{{- '<|im_start|>assistant\\n' }}\n"
    "{%- endif %}\n";

/* DeepSeek-Coder-Instruct: BOS, the default system prompt unless a system
 * message is given, "### Instruction:\n...\n" for user turns,
 * "### Response:\n...\n<|EOT|>\n" for assistant turns, and "### Response:\n"
 * as the generation prompt. */
static const char tmpl_deepseek_coder[] =
    "{%- set ns = namespace(found=false) %}\n"
    "{%- for message in messages %}\n"
    "{%- if message['role'] == 'system' %}{% set ns.found = true %}{% endif %}\n"
    "{%- endfor %}\n"
    "{{- bos_token }}\n"
    "{%- if not ns.found %}\n"
    "{{- 'You are an AI programming assistant, utilizing the Deepseek Coder model, developed by Deepseek "
    "Company, and you only answer questions related to computer science. For politically sensitive "
    "questions, security and privacy issues, and other non-computer science questions, you will refuse "
    "to answer\\n' }}\n"
    "{%- endif %}\n"
    "{%- for message in messages %}\n"
    "{%- if message['role'] == 'system' %}\n"
    "{{- message['content'] + '\\n' }}\n"
    "{%- elif message['role'] == 'user' %}\n"
    "{{- '### Instruction:\\n' + message['content'] + '\\n' }}\n"
    "{%- else %}\n"
    "{{- '### Response:\\n' + message['content'] + '\\n<|EOT|>\\n' }}\n"
    "{%- endif %}\n"
    "{%- endfor %}\n"
    "{%- if add_generation_prompt %}\n"
    "{{- '### Response:\\n' }}\n"
    "{%- endif %}\n";

/* Llama 3 Instruct: BOS, then per message
 * <|start_header_id|>role<|end_header_id|>\n\n + trimmed content + <|eot_id|>;
 * generation prompt: the assistant header. */
static const char tmpl_llama3[] =
    "{{- bos_token }}\n"
    "{%- for message in messages %}\n"
    "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}\n"
    "{%- endfor %}\n"
    "{%- if add_generation_prompt %}\n"
    "{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}\n"
    "{%- endif %}\n";

/* Qwen2.5 Instruct without tools: ChatML with Qwen's default system prompt
 * when the conversation does not start with a system message. */
static const char tmpl_qwen25[] =
    "{%- if messages and messages[0]['role'] == 'system' %}\n"
    "{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}\n"
    "{%- else %}\n"
    "{{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}\n"
    "{%- endif %}\n"
    "{%- for message in messages %}\n"
    "{%- if not (loop.first and message['role'] == 'system') %}\n"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}\n"
    "{%- endif %}\n"
    "{%- endfor %}\n"
    "{%- if add_generation_prompt %}\n"
    "{{- '<|im_start|>assistant\\n' }}\n"
    "{%- endif %}\n";

static const char *const builtin_names[] = {"chatml", "deepseek-coder", "llama3", "qwen2.5", NULL};
static const char *const builtin_texts[] = {tmpl_chatml, tmpl_deepseek_coder, tmpl_llama3, tmpl_qwen25};

const char *wf_template_builtin(const char *name) {
    for (int i = 0; builtin_names[i]; i++)
        if (!strcmp(builtin_names[i], name)) return builtin_texts[i];
    return NULL;
}

const char *const *wf_template_builtin_names(void) { return builtin_names; }

wf_status wf_template_from_gguf(const wf_gguf *g, const char **src, size_t *len, wf_error *err) {
    wf_str s;
    wf_error e = {0};
    if (wf_gguf_get_str(g, "tokenizer.chat_template", &s, &e) != WF_OK)
        return wf_fail(err, WF_ERR_NOT_FOUND, "%s: no tokenizer.chat_template in the model (use --chat-template)",
                       wf_gguf_path(g) ? wf_gguf_path(g) : "model");
    *src = s.ptr;
    *len = (size_t)s.len;
    return WF_OK;
}
