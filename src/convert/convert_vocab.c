/* convert_vocab.c — Hugging Face tokenizer files -> GGUF tokenizer keys.
 *
 * Reads tokenizer.json (byte-level BPE: vocab, merges as "a b" strings or
 * [a, b] pairs, added_tokens), tokenizer_config.json (chat_template,
 * add_bos_token / add_eos_token, bos/eos/pad/unk tokens), config.json and
 * generation_config.json (fallback token ids), and writes what llama.cpp's
 * convert_hf_to_gguf.py writes for a "gpt2" tokenizer:
 *   tokenizer.ggml.model = "gpt2", .pre, .tokens, .token_type, .merges,
 *   .bos/eos/padding/unknown_token_id, .add_bos_token, .add_eos_token,
 *   tokenizer.chat_template (+ tokenizer.chat_template.NAME for named ones),
 * and wafer's own tokenizer.ggml.normalizer (tokenizer.json's "normalizer":
 * "NFC" for Qwen, "none" for Llama 3; llama.cpp ignores the key).
 * Token table: ids 0..n-1 with n = config vocab_size when given (missing ids
 * become "[PAD<id>]", type unused), added tokens are control when flagged
 * special or when they look special (<|...|>), else user-defined.
 */
#include "convert/convert.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { TT_NORMAL = 1, TT_UNKNOWN = 2, TT_CONTROL = 3, TT_USER = 4, TT_UNUSED = 5, TT_BYTE = 6 };

#define MAX_TOKENS (1 << 24)

/* The pre-tokenizer regexes of the vocabularies wafer knows, as they appear
 * in tokenizer.json (public facts). */
static const struct {
    const char *name;
    const char *regex;
} known_pre[] = {
    {"llama-bpe", "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
    {"qwen2", "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
};

/* Collect the Split regexes and ByteLevel use_regex flags of a pre_tokenizer
 * (possibly a Sequence). */
static void scan_pre(const json_t *p, const char **regex, int *n_split, int *n_bytelevel_re, int *n_other) {
    if (!json_is_object(p)) return;
    const char *type = json_string_value(json_object_get(p, "type"));
    if (!type) { (*n_other)++; return; }
    if (!strcmp(type, "Sequence")) {
        const json_t *a = json_object_get(p, "pretokenizers");
        size_t i;
        const json_t *x;
        json_array_foreach(a, i, x) scan_pre(x, regex, n_split, n_bytelevel_re, n_other);
        return;
    }
    if (!strcmp(type, "Split")) {
        const json_t *pat = json_object_get(p, "pattern");
        const char *re = json_string_value(json_object_get(pat, "Regex"));
        if (re) *regex = re;
        (*n_split)++;
        return;
    }
    if (!strcmp(type, "ByteLevel")) {
        const json_t *ur = json_object_get(p, "use_regex");
        if (!ur || json_is_true(ur)) (*n_bytelevel_re)++;
        return;
    }
    (*n_other)++;
}

const char *wf_conv_detect_pre(const json_t *pre_tokenizer) {
    const char *regex = NULL;
    int n_split = 0, n_bl = 0, n_other = 0;
    scan_pre(pre_tokenizer, &regex, &n_split, &n_bl, &n_other);
    if (n_other) return NULL;
    if (n_split == 1 && n_bl == 0 && regex) {
        for (size_t i = 0; i < sizeof known_pre / sizeof known_pre[0]; i++)
            if (!strcmp(regex, known_pre[i].regex)) return known_pre[i].name;
        return NULL;
    }
    if (n_split == 0 && n_bl == 1) return "gpt2";
    return NULL;
}

/* tokenizer_config's "bos_token": a string or {"content": ...}. */
static const char *token_text(const json_t *v) {
    if (json_is_string(v)) return json_string_value(v);
    if (json_is_object(v)) return json_string_value(json_object_get(v, "content"));
    return NULL;
}

static bool looks_special(const char *s) {
    size_t n = strlen(s);
    if (n >= 4 && !strncmp(s, "<|", 2) && !strcmp(s + n - 2, "|>")) return true;
    /* DeepSeek's full-width bars: "<｜" ... "｜>" */
    if (n >= 8 && !strncmp(s, "<\xef\xbd\x9c", 4) && !strcmp(s + n - 4, "\xef\xbd\x9c>")) return true;
    if (!strcmp(s, "<pad>") || !strcmp(s, "<mask>")) return true;
    return false;
}

typedef struct vocab_build {
    const char *dir;
    char *tj_path;
    json_t *tj, *tc, *cfg_own, *gen;
    const json_t *cfg;
    const json_t *added; /* tokenizer.json added_tokens (array) */
    int64_t n;
    const char **text;   /* [n] borrowed from tj; NULL = pad */
    char **owned;        /* [n] "[PAD<id>]" strings we made */
    int32_t *type;       /* [n] */
} vocab_build;

/* Optional JSON file in the folder: NULL result when absent. */
static wf_status load_opt(const char *dir, const char *name, json_t **out, wf_error *err) {
    char *p = wf_conv_path_join(dir, name);
    if (!p) return wf_fail(err, WF_ERR_NOMEM, "out of memory");
    wf_status st = wf_conv_load_json(p, out, err);
    free(p);
    if (st == WF_ERR_NOT_FOUND) {
        wf_error_clear(err);
        return WF_OK;
    }
    return st;
}

/* Id of an added token by its text (llama.cpp looks special tokens up among
 * the added tokens only). */
static int64_t added_id(const vocab_build *b, const char *text) {
    size_t i;
    const json_t *x;
    json_array_foreach(b->added, i, x) {
        const char *c = json_string_value(json_object_get(x, "content"));
        if (c && !strcmp(c, text) && json_is_integer(json_object_get(x, "id")))
            return (int64_t)json_integer_value(json_object_get(x, "id"));
    }
    return -1;
}

static wf_status build_table(vocab_build *b, const wf_conv_vocab_opts *o, wf_error *err) {
    const char *tp = b->tj_path;
    const json_t *model = json_object_get(b->tj, "model");
    if (!json_is_object(model)) return wf_fail(err, WF_ERR_FORMAT, "%s: no \"model\" object", tp);
    const char *mt = json_string_value(json_object_get(model, "type"));
    if (!mt || strcmp(mt, "BPE"))
        return wf_fail(err, WF_ERR_UNSUPPORTED, "%s: model type '%.32s' is not supported (the converter handles byte-level BPE)",
                       tp, mt ? mt : "(none)");
    if (json_is_true(json_object_get(model, "byte_fallback")))
        return wf_fail(err, WF_ERR_UNSUPPORTED,
                       "%s: a BPE model with byte_fallback (SentencePiece style) is not supported; only byte-level BPE", tp);
    const json_t *vocab = json_object_get(model, "vocab");
    if (!json_is_object(vocab) || json_object_size(vocab) == 0)
        return wf_fail(err, WF_ERR_FORMAT, "%s: model.vocab is missing or empty", tp);
    b->added = json_object_get(b->tj, "added_tokens");
    if (b->added && !json_is_array(b->added))
        return wf_fail(err, WF_ERR_FORMAT, "%s: added_tokens is not an array", tp);

    /* table size */
    int64_t max_id = -1;
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)vocab, key, v) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= MAX_TOKENS)
            return wf_fail(err, WF_ERR_FORMAT, "%s: vocab['%.64s'] is not a token id in 0..%d", tp, key, MAX_TOKENS - 1);
        if (json_integer_value(v) > max_id) max_id = json_integer_value(v);
    }
    int64_t max_base = max_id;
    size_t i;
    json_array_foreach(b->added, i, v) {
        const json_t *id = json_object_get(v, "id");
        if (!json_is_string(json_object_get(v, "content")) || !json_is_integer(id) || json_integer_value(id) < 0 ||
            json_integer_value(id) >= MAX_TOKENS)
            return wf_fail(err, WF_ERR_FORMAT, "%s: added_tokens[%zu] needs a \"content\" string and an \"id\" in 0..%d", tp,
                           i, MAX_TOKENS - 1);
        if (json_integer_value(id) > max_id) max_id = json_integer_value(id);
    }
    int64_t n = max_id + 1;
    /* ids from the tokenizer alone: a few tokens with a huge id would be a
     * table of millions of "[PAD<id>]" entries (found by lf_convert: 4
     * tokens, id 9,999,994). Real vocabularies are dense; a gap past 65,536
     * ids that outnumbers the tokens is refused. (config.json's vocab_size
     * is the model's own: its embedding has that many rows.) */
    int64_t n_def = (int64_t)json_object_size(vocab) + (int64_t)json_array_size(b->added);
    if (!(o && o->n_vocab > 0) && n - n_def > 65536 && n - n_def > n_def)
        return wf_fail(err, WF_ERR_FORMAT,
                       "%s: token ids run to %lld but only %lld tokens are defined: a vocabulary this sparse is not "
                       "supported (give config.json's vocab_size for a padded table)",
                       tp, (long long)max_id, (long long)n_def);
    if (o && o->n_vocab > 0) {
        /* as llama.cpp: the model's vocab_size decides; base tokens must fit,
         * added tokens past it are dropped */
        if (max_base >= o->n_vocab)
            return wf_fail(err, WF_ERR_FORMAT, "%s: token id %lld is beyond config.json's vocab_size %lld", tp,
                           (long long)max_base, (long long)o->n_vocab);
        n = o->n_vocab;
    }
    b->n = n;
    b->text = calloc((size_t)n, sizeof *b->text);
    b->owned = calloc((size_t)n, sizeof *b->owned);
    b->type = malloc((size_t)n * sizeof *b->type);
    if (!b->text || !b->owned || !b->type) return wf_fail(err, WF_ERR_NOMEM, "out of memory (%lld tokens)", (long long)n);
    json_object_foreach((json_t *)vocab, key, v) {
        int64_t id = json_integer_value(v);
        if (b->text[id])
            return wf_fail(err, WF_ERR_FORMAT, "%s: tokens '%.64s' and '%.64s' share id %lld", tp, b->text[id], key,
                           (long long)id);
        b->text[id] = key;
        b->type[id] = TT_NORMAL;
    }
    json_array_foreach(b->added, i, v) {
        int64_t id = json_integer_value(json_object_get(v, "id"));
        if (id >= n) continue;
        const char *c = json_string_value(json_object_get(v, "content"));
        b->text[id] = c;
        b->type[id] = json_is_true(json_object_get(v, "special")) || looks_special(c) ? TT_CONTROL : TT_USER;
    }
    for (int64_t k = 0; k < n; k++) {
        if (b->text[k]) continue;
        char buf[32];
        snprintf(buf, sizeof buf, "[PAD%lld]", (long long)k);
        if (!(b->owned[k] = strdup(buf))) return wf_fail(err, WF_ERR_NOMEM, "out of memory");
        b->text[k] = b->owned[k];
        b->type[k] = TT_UNUSED;
    }
    return WF_OK;
}

static wf_status write_tokens(vocab_build *b, wf_gguf_writer *w, wf_error *err) {
    wf_str *items = malloc((size_t)b->n * sizeof *items);
    if (!items) return wf_fail(err, WF_ERR_NOMEM, "out of memory");
    for (int64_t k = 0; k < b->n; k++) items[k] = (wf_str){b->text[k], strlen(b->text[k])};
    wf_status st = wf_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", items, (uint64_t)b->n);
    free(items);
    if (!st) st = wf_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", WF_GGUF_INT32, b->type, (uint64_t)b->n);
    if (st) return wf_fail(err, st, "writing the token table failed");
    return WF_OK;
}

static wf_status write_merges(vocab_build *b, wf_gguf_writer *w, wf_error *err) {
    const json_t *m = json_object_get(json_object_get(b->tj, "model"), "merges");
    if (!m) return WF_OK; /* a BPE without merges is legal, if unusual */
    if (!json_is_array(m)) return wf_fail(err, WF_ERR_FORMAT, "%s: model.merges is not an array", b->tj_path);
    size_t n = json_array_size(m);
    wf_str *items = calloc(n ? n : 1, sizeof *items);
    char **own = calloc(n ? n : 1, sizeof *own);
    wf_status st = WF_OK;
    if (!items || !own) { st = wf_fail(err, WF_ERR_NOMEM, "out of memory"); goto done; }
    size_t i;
    const json_t *x;
    json_array_foreach(m, i, x) {
        if (json_is_string(x)) {
            const char *s = json_string_value(x);
            const char *sp = strchr(s, ' ');
            if (!sp || sp == s || !sp[1] || strchr(sp + 1, ' ')) {
                st = wf_fail(err, WF_ERR_FORMAT, "%s: merges[%zu] '%.64s' is not \"a b\"", b->tj_path, i, s);
                goto done;
            }
            items[i] = (wf_str){s, json_string_length(x)};
        } else if (json_is_array(x) && json_array_size(x) == 2 && json_is_string(json_array_get(x, 0)) &&
                   json_is_string(json_array_get(x, 1))) {
            const char *a = json_string_value(json_array_get(x, 0)), *c = json_string_value(json_array_get(x, 1));
            size_t la = strlen(a), lc = strlen(c);
            if (!la || !lc || strchr(a, ' ') || strchr(c, ' ')) {
                st = wf_fail(err, WF_ERR_FORMAT, "%s: merges[%zu] has an empty part or a space (cannot be written as \"a b\")",
                             b->tj_path, i);
                goto done;
            }
            own[i] = malloc(la + lc + 2);
            if (!own[i]) { st = wf_fail(err, WF_ERR_NOMEM, "out of memory"); goto done; }
            memcpy(own[i], a, la);
            own[i][la] = ' ';
            memcpy(own[i] + la + 1, c, lc + 1);
            items[i] = (wf_str){own[i], la + lc + 1};
        } else {
            st = wf_fail(err, WF_ERR_FORMAT, "%s: merges[%zu] is neither \"a b\" nor [\"a\", \"b\"]", b->tj_path, i);
            goto done;
        }
    }
    if ((st = wf_gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", items, n)) != WF_OK)
        st = wf_fail(err, st, "writing the merges failed");
done:
    for (size_t k = 0; own && k < n; k++) free(own[k]);
    free(own);
    free(items);
    return st;
}

/* bos/eos/pad/unk ids: tokenizer_config.json's token texts looked up among
 * the added tokens, then config.json's *_token_id, then (eos only)
 * generation_config.json's eos_token_id (first of a list). */
static wf_status write_special(vocab_build *b, wf_gguf_writer *w, wf_error *err) {
    static const struct {
        const char *typ, *key;
    } sp[] = {{"bos", "tokenizer.ggml.bos_token_id"},
              {"eos", "tokenizer.ggml.eos_token_id"},
              {"unk", "tokenizer.ggml.unknown_token_id"},
              {"pad", "tokenizer.ggml.padding_token_id"}};
    for (size_t k = 0; k < sizeof sp / sizeof sp[0]; k++) {
        char name[32];
        int64_t id = -1;
        snprintf(name, sizeof name, "%s_token", sp[k].typ);
        const char *t = b->tc ? token_text(json_object_get(b->tc, name)) : NULL;
        if (t) id = added_id(b, t);
        snprintf(name, sizeof name, "%s_token_id", sp[k].typ);
        if (id < 0 && b->cfg) {
            const json_t *x = json_object_get(b->cfg, name);
            if (json_is_integer(x)) id = json_integer_value(x);
        }
        if (id < 0 && b->gen) {
            const json_t *x = json_object_get(b->gen, name);
            if (json_is_array(x)) x = json_array_get(x, 0);
            if (json_is_integer(x)) id = json_integer_value(x);
        }
        if (id < 0) continue;
        if (id >= b->n)
            return wf_fail(err, WF_ERR_FORMAT, "%s token id %lld is outside the vocabulary (%lld tokens)", sp[k].typ,
                           (long long)id, (long long)b->n);
        wf_status st = wf_gguf_writer_set_u32(w, sp[k].key, (uint32_t)id);
        if (st) return wf_fail(err, st, "writing %s failed", sp[k].key);
    }
    return WF_OK;
}

/* add_bos_token / add_eos_token: tokenizer_config.json's booleans, else what
 * a TemplateProcessing post-processor in tokenizer.json adds. */
static wf_status write_add_flags(vocab_build *b, wf_gguf_writer *w, wf_error *err) {
    int add[2] = {-1, -1};
    const char *typ[2] = {"bos", "eos"};
    for (int k = 0; k < 2; k++) {
        char name[32];
        snprintf(name, sizeof name, "add_%s_token", typ[k]);
        const json_t *x = b->tc ? json_object_get(b->tc, name) : NULL;
        if (json_is_boolean(x)) add[k] = json_is_true(x);
    }
    const json_t *pp = json_object_get(b->tj, "post_processor");
    const json_t *single = NULL;
    const char *ptype = json_string_value(json_object_get(pp, "type"));
    if (ptype && !strcmp(ptype, "TemplateProcessing")) single = json_object_get(pp, "single");
    if (ptype && !strcmp(ptype, "Sequence")) {
        size_t i;
        const json_t *x;
        json_array_foreach(json_object_get(pp, "processors"), i, x) {
            const char *t = json_string_value(json_object_get(x, "type"));
            if (t && !strcmp(t, "TemplateProcessing")) single = json_object_get(x, "single");
        }
    }
    if (json_is_array(single) && json_array_size(single) > 0) {
        size_t n = json_array_size(single);
        bool first_sp = json_object_get(json_array_get(single, 0), "SpecialToken") != NULL;
        bool last_sp = n > 1 && json_object_get(json_array_get(single, n - 1), "SpecialToken") != NULL;
        if (add[0] < 0) add[0] = first_sp;
        if (add[1] < 0) add[1] = last_sp;
    }
    for (int k = 0; k < 2; k++) {
        if (add[k] < 0) continue;
        char key[64];
        snprintf(key, sizeof key, "tokenizer.ggml.add_%s_token", typ[k]);
        wf_status st = wf_gguf_writer_set_bool(w, key, add[k] != 0);
        if (st) return wf_fail(err, st, "writing %s failed", key);
    }
    return WF_OK;
}

/* chat_template: a string, or a list of {"name", "template"} (the one named
 * "default" becomes tokenizer.chat_template, the others
 * tokenizer.chat_template.NAME); else a chat_template.jinja file. */
static wf_status write_template(vocab_build *b, wf_gguf_writer *w, wf_error *err) {
    const json_t *ct = b->tc ? json_object_get(b->tc, "chat_template") : NULL;
    wf_status st = WF_OK;
    if (json_is_string(ct)) {
        st = wf_gguf_writer_set_str(w, "tokenizer.chat_template", json_string_value(ct), json_string_length(ct));
    } else if (json_is_array(ct)) {
        size_t i;
        const json_t *x;
        json_array_foreach(ct, i, x) {
            const char *name = json_string_value(json_object_get(x, "name"));
            const json_t *tpl = json_object_get(x, "template");
            if (!name || !json_is_string(tpl))
                return wf_fail(err, WF_ERR_FORMAT, "tokenizer_config.json: chat_template[%zu] needs \"name\" and \"template\"", i);
            char key[256];
            if (!strcmp(name, "default")) snprintf(key, sizeof key, "tokenizer.chat_template");
            else snprintf(key, sizeof key, "tokenizer.chat_template.%.200s", name);
            if ((st = wf_gguf_writer_set_str(w, key, json_string_value(tpl), json_string_length(tpl))) != WF_OK) break;
        }
    } else if (ct && !json_is_null(ct)) {
        return wf_fail(err, WF_ERR_FORMAT, "tokenizer_config.json: chat_template is neither a string nor a list");
    } else {
        char *p = wf_conv_path_join(b->dir, "chat_template.jinja");
        if (!p) return wf_fail(err, WF_ERR_NOMEM, "out of memory");
        FILE *f = fopen(p, "rb");
        if (f) {
            char *buf = NULL;
            long len = -1;
            if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && len < (64L << 20) && fseek(f, 0, SEEK_SET) == 0 &&
                (buf = malloc((size_t)len + 1)) && fread(buf, 1, (size_t)len, f) == (size_t)len)
                st = wf_gguf_writer_set_str(w, "tokenizer.chat_template", buf, (size_t)len);
            else
                st = wf_fail(err, WF_ERR_IO, "%s: cannot read", p);
            free(buf);
            fclose(f);
        }
        free(p);
        return st;
    }
    if (st) return wf_fail(err, st, "writing the chat template failed");
    return WF_OK;
}

/* tokenizer.json's "normalizer" -> tokenizer.ggml.normalizer (wafer's own
 * key, which llama.cpp ignores): "NFC" / "NFD" / "NFKC" / "NFKD" for that
 * normalizer alone or in a Sequence of one form, "none" for null or an empty
 * Sequence. Written always, so a converted file never falls back to the
 * tokenizer's per-pre-tokenizer default. Other normalizers (Replace,
 * Lowercase, Prepend, ...) are not implemented by wafer's tokenizer: refused
 * rather than silently tokenizing differently. */
static const char *norm_form(const json_t *n) {
    static const char *const forms[] = {"NFC", "NFD", "NFKC", "NFKD"};
    const char *t = json_string_value(json_object_get(n, "type"));
    for (size_t i = 0; t && i < sizeof forms / sizeof forms[0]; i++)
        if (!strcmp(t, forms[i])) return forms[i];
    return NULL;
}

static wf_status write_normalizer(vocab_build *b, wf_gguf_writer *w, wf_error *err) {
    const json_t *n = json_object_get(b->tj, "normalizer");
    const char *form = NULL;
    if (!n || json_is_null(n)) {
        form = "none";
    } else if ((form = norm_form(n)) == NULL) {
        const char *t = json_string_value(json_object_get(n, "type"));
        const json_t *seq = json_object_get(n, "normalizers");
        if (t && !strcmp(t, "Sequence") && json_is_array(seq)) {
            size_t i;
            const json_t *x;
            form = "none";
            json_array_foreach(seq, i, x) {
                const char *f = norm_form(x);
                if (!f || (strcmp(form, "none") && strcmp(form, f))) {
                    form = NULL;
                    break;
                }
                form = f;
            }
        }
        if (!form)
            return wf_fail(err, WF_ERR_UNSUPPORTED, "%s: normalizer '%.40s' is not supported (wafer applies "
                           "NFC, NFD, NFKC or NFKD, alone or in a Sequence)", b->tj_path, t ? t : "?");
    }
    wf_status st = wf_gguf_writer_set_str(w, "tokenizer.ggml.normalizer", form, strlen(form));
    return st ? wf_fail(err, st, "writing tokenizer.ggml.normalizer failed") : WF_OK;
}

wf_status wf_conv_vocab(const char *dir, const json_t *config, const wf_conv_vocab_opts *o, wf_gguf_writer *w,
                        int64_t *n_tokens, wf_error *err) {
    vocab_build b = {.dir = dir, .cfg = config};
    wf_status st;
    b.tj_path = wf_conv_path_join(dir, "tokenizer.json");
    if (!b.tj_path) return wf_fail(err, WF_ERR_NOMEM, "out of memory");
    if ((st = wf_conv_load_json(b.tj_path, &b.tj, err)) != WF_OK) {
        if (st == WF_ERR_NOT_FOUND)
            wf_fail(err, st, "%s: not found (the converter needs a tokenizer.json with a byte-level BPE)", b.tj_path);
        goto done;
    }
    if (!json_is_object(b.tj)) { st = wf_fail(err, WF_ERR_FORMAT, "%s: not a JSON object", b.tj_path); goto done; }
    if ((st = load_opt(dir, "tokenizer_config.json", &b.tc, err)) != WF_OK) goto done;
    if ((st = load_opt(dir, "generation_config.json", &b.gen, err)) != WF_OK) goto done;
    if (!b.cfg) {
        if ((st = load_opt(dir, "config.json", &b.cfg_own, err)) != WF_OK) goto done;
        b.cfg = b.cfg_own;
    }
    if (b.tc && !json_is_object(b.tc)) { st = wf_fail(err, WF_ERR_FORMAT, "%s/tokenizer_config.json: not an object", dir); goto done; }

    const char *pre = o && o->pre ? o->pre : wf_conv_detect_pre(json_object_get(b.tj, "pre_tokenizer"));
    if (!pre) {
        st = wf_fail(err, WF_ERR_UNSUPPORTED,
                     "%s: the pre_tokenizer is not one the converter recognises (Llama 3 -> llama-bpe, Qwen2 -> qwen2, "
                     "plain ByteLevel -> gpt2); name it with --pre NAME",
                     b.tj_path);
        goto done;
    }
    if ((st = build_table(&b, o, err)) != WF_OK) goto done;
    if ((st = wf_gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2", 4)) ||
        (st = wf_gguf_writer_set_str(w, "tokenizer.ggml.pre", pre, strlen(pre)))) {
        st = wf_fail(err, st, "writing tokenizer keys failed");
        goto done;
    }
    if ((st = write_normalizer(&b, w, err)) || (st = write_tokens(&b, w, err)) || (st = write_merges(&b, w, err)) ||
        (st = write_special(&b, w, err)) ||
        (st = write_add_flags(&b, w, err)) || (st = write_template(&b, w, err)))
        goto done;
    if (n_tokens) *n_tokens = b.n;
done:
    /* the writer copies strings, so the JSON can go now */
    for (int64_t k = 0; b.owned && k < b.n; k++) free(b.owned[k]);
    free(b.owned);
    free(b.text);
    free(b.type);
    free(b.tj_path);
    json_decref(b.tj);
    json_decref(b.tc);
    json_decref(b.gen);
    json_decref(b.cfg_own);
    return st;
}
