/* fim.c — fill-in-the-middle prompt assembly: family detection from the
 * vocabulary (and GGUF metadata), prompt layout per family, token budget.
 *
 * Layouts (ids in capitals, H(x) = x tokenized as untrusted text):
 *   PSM  [BOS] PRE H(prefix) SUF H(suffix) MID         qwen, deepseek, starcoder,
 *                                                      codellama, generic
 *   SPM  [BOS] SUF H(suffix) PRE H(prefix)             codestral
 * With extra files and a file-separator token (Qwen2.5-Coder repo level):
 *   REP H(repo "\n") {SEP H(name "\n" text)}... SEP H(file "\n") PRE H(prefix) ...
 * StarCoder2 (name_in_prefix):
 *   REP H(repo) {SEP H(name "\n" text)}... SEP PRE H(file "\n") H(prefix) ...
 * Without a separator token, extra files become text after the prefix marker:
 *   PRE H("#name\n" text)... H("#file\n") H(prefix) ...   (DeepSeek's repo style)
 * Extra file texts get a final "\n" when they lack one.
 */
#include "chat/fim.h"

#include "base/buf.h"

#include <stdlib.h>
#include <string.h>

/* ---- family tables ------------------------------------------------------ */

#define MAXALT 2

typedef struct fim_texts {
    wf_fim_family family;
    const char *name;
    const char *pre[MAXALT], *suf[MAXALT], *mid[MAXALT];
    const char *pad[MAXALT], *rep[MAXALT], *sep[MAXALT];
    const char *stop[MAXALT]; /* end-of-middle tokens, whatever their type */
} fim_texts;

/* Token texts as stored in GGUF vocabularies (U+2581 for SentencePiece
 * spaces; DeepSeek's markers use fullwidth bars U+FF5C and U+2581). */
static const fim_texts k_families[] = {
    {WF_FIM_QWEN, "qwen", {"<|fim_prefix|>"}, {"<|fim_suffix|>"}, {"<|fim_middle|>"},
     {"<|fim_pad|>"}, {"<|repo_name|>"}, {"<|file_sep|>"}, {0}},
    {WF_FIM_DEEPSEEK, "deepseek", {"<\xef\xbd\x9c" "fim\xe2\x96\x81" "begin\xef\xbd\x9c>"},
     {"<\xef\xbd\x9c" "fim\xe2\x96\x81" "hole\xef\xbd\x9c>"},
     {"<\xef\xbd\x9c" "fim\xe2\x96\x81" "end\xef\xbd\x9c>"}, {0}, {0}, {0}, {0}},
    {WF_FIM_STARCODER, "starcoder", {"<fim_prefix>", "<fim-prefix>"}, {"<fim_suffix>", "<fim-suffix>"},
     {"<fim_middle>", "<fim-middle>"}, {"<fim_pad>", "<fim-pad>"}, {"<repo_name>"}, {"<file_sep>"}, {0}},
    {WF_FIM_CODELLAMA, "codellama", {"\xe2\x96\x81<PRE>", "<PRE>"}, {"\xe2\x96\x81<SUF>", "<SUF>"},
     {"\xe2\x96\x81<MID>", "<MID>"}, {0}, {0}, {0}, {"\xe2\x96\x81<EOT>", "<EOT>"}},
    {WF_FIM_CODESTRAL, "codestral", {"[PREFIX]"}, {"[SUFFIX]"}, {0}, {0}, {0}, {0}, {"[MIDDLE]"}},
};
#define N_FAMILIES (sizeof k_families / sizeof k_families[0])

/* Tokens that end a middle whatever the family, when the vocabulary has them
 * as control tokens (on top of its end-of-generation tokens, the FIM markers
 * and the family's own stop texts). Only control tokens: in Qwen's BPE
 * vocabulary "</s>" is an ordinary token that HTML needs. */
static const char *const k_stop_texts[] = {
    "<|endoftext|>", "<|im_end|>", "<|fim_pad|>", "<|file_sep|>", "<|repo_name|>",
    "<|file_separator|>", "<fim_pad>", "<file_sep>", "<repo_name>",
    "<\xef\xbd\x9c" "end\xe2\x96\x81" "of\xe2\x96\x81" "sentence\xef\xbd\x9c>", "<|EOT|>",
    "\xe2\x96\x81<EOT>", "<EOT>", "[MIDDLE]", "</s>", NULL};

const char *wf_fim_family_name(wf_fim_family f) {
    if (f == WF_FIM_AUTO) return "auto";
    if (f == WF_FIM_GENERIC) return "generic";
    for (size_t i = 0; i < N_FAMILIES; i++)
        if (k_families[i].family == f) return k_families[i].name;
    return "unknown";
}

bool wf_fim_family_parse(const char *name, wf_fim_family *out) {
    if (!name || !out) return false;
    if (!strcmp(name, "auto")) { *out = WF_FIM_AUTO; return true; }
    for (size_t i = 0; i < N_FAMILIES; i++)
        if (!strcmp(name, k_families[i].name)) { *out = k_families[i].family; return true; }
    return false;
}

static const fim_texts *family_texts(wf_fim_family f) {
    for (size_t i = 0; i < N_FAMILIES; i++)
        if (k_families[i].family == f) return &k_families[i];
    return NULL;
}

static int32_t find_any(const wf_vocab *v, const char *const *alts) {
    for (int i = 0; i < MAXALT && alts[i]; i++) {
        int32_t id = wf_vocab_find_token(v, alts[i], strlen(alts[i]));
        if (id >= 0) return id;
    }
    return -1;
}

static bool text_is(const wf_vocab *v, int32_t id, const char *const *alts) {
    for (int i = 0; i < MAXALT && alts[i]; i++)
        if (wf_vocab_find_token(v, alts[i], strlen(alts[i])) == id) return true;
    return false;
}

/* ---- detection ---------------------------------------------------------- */

typedef struct meta_ids {
    int32_t pre, suf, mid, pad, rep, sep; /* -1 when the key is absent */
} meta_ids;

static wf_status meta_id(const wf_gguf *g, const char *key, int32_t n_tokens, int32_t *out,
                         wf_error *err) {
    *out = -1;
    if (!g || wf_gguf_find_key(g, key) < 0) return WF_OK;
    int64_t x;
    if (wf_gguf_get_i64(g, key, &x, NULL) != WF_OK)
        return wf_fail(err, WF_ERR_FORMAT, "fim: %s is not an integer", key);
    if (x < 0 || x >= n_tokens)
        return wf_fail(err, WF_ERR_FORMAT, "fim: %s = %lld is not a token id (the vocabulary has %d)",
                       key, (long long)x, n_tokens);
    *out = (int32_t)x;
    return WF_OK;
}

static wf_status read_meta(const wf_gguf *g, int32_t n_tokens, meta_ids *m, wf_error *err) {
    wf_status st;
    if ((st = meta_id(g, "tokenizer.ggml.fim_pre_token_id", n_tokens, &m->pre, err))) return st;
    if ((st = meta_id(g, "tokenizer.ggml.fim_suf_token_id", n_tokens, &m->suf, err))) return st;
    if ((st = meta_id(g, "tokenizer.ggml.fim_mid_token_id", n_tokens, &m->mid, err))) return st;
    if ((st = meta_id(g, "tokenizer.ggml.fim_pad_token_id", n_tokens, &m->pad, err))) return st;
    if ((st = meta_id(g, "tokenizer.ggml.fim_rep_token_id", n_tokens, &m->rep, err))) return st;
    return meta_id(g, "tokenizer.ggml.fim_sep_token_id", n_tokens, &m->sep, err);
}

static int32_t pick(int32_t meta, const wf_vocab *v, const char *const *alts) {
    return meta >= 0 ? meta : find_any(v, alts);
}

/* Fill fmt for family t; false when a required marker is missing (then
 * *missing names its first text). */
static bool fill_family(const wf_vocab *v, const meta_ids *m, const fim_texts *t,
                        wf_fim_format *fmt, const char **missing) {
    fmt->family = t->family;
    fmt->pre = pick(m->pre, v, t->pre);
    fmt->suf = pick(m->suf, v, t->suf);
    fmt->mid = t->mid[0] ? pick(m->mid, v, t->mid) : -1; /* codestral: no middle marker */
    fmt->pad = pick(m->pad, v, t->pad);
    fmt->rep = pick(m->rep, v, t->rep);
    fmt->sep = pick(m->sep, v, t->sep);
    fmt->suffix_first = t->family == WF_FIM_CODESTRAL;
    fmt->name_in_prefix = t->family == WF_FIM_STARCODER;
    *missing = fmt->pre < 0 ? t->pre[0] : fmt->suf < 0 ? t->suf[0]
             : (t->mid[0] && fmt->mid < 0) ? t->mid[0] : NULL;
    return *missing == NULL;
}

static void add_stop(wf_fim_format *fmt, int32_t id) {
    if (id < 0 || fmt->n_stop >= WF_FIM_MAX_STOP) return;
    for (int32_t i = 0; i < fmt->n_stop; i++)
        if (fmt->stop[i] == id) return;
    fmt->stop[fmt->n_stop++] = id;
}

static void fill_stops(const wf_vocab *v, wf_fim_format *fmt) {
    fmt->n_stop = 0;
    add_stop(fmt, fmt->pad);
    add_stop(fmt, fmt->sep);
    add_stop(fmt, fmt->rep);
    add_stop(fmt, wf_vocab_eos(v));
    add_stop(fmt, wf_vocab_eot(v));
    const fim_texts *t = family_texts(fmt->family);
    if (t) add_stop(fmt, find_any(v, t->stop));
    for (int i = 0; k_stop_texts[i]; i++) {
        int32_t id = wf_vocab_find_token(v, k_stop_texts[i], strlen(k_stop_texts[i]));
        if (id >= 0 && wf_vocab_is_control(v, id)) add_stop(fmt, id);
    }
    /* A model that writes a marker has lost the thread: stop there too. */
    add_stop(fmt, fmt->pre);
    add_stop(fmt, fmt->suf);
    add_stop(fmt, fmt->mid);
    int32_t n = wf_vocab_n_tokens(v);
    for (int32_t id = 0; id < n && fmt->n_stop < WF_FIM_MAX_STOP; id++)
        if (wf_vocab_is_eog(v, id)) add_stop(fmt, id);
}

wf_status wf_fim_detect(const wf_vocab *v, const wf_gguf *meta, wf_fim_family want,
                        wf_fim_format *fmt, wf_error *err) {
    if (!v || !fmt) return wf_fail(err, WF_ERR_INVALID_ARG, "fim: NULL argument");
    memset(fmt, 0, sizeof *fmt);
    fmt->family = WF_FIM_AUTO;
    meta_ids m;
    wf_status st = read_meta(meta, wf_vocab_n_tokens(v), &m, err);
    if (st) return st;

    const char *missing = NULL;
    bool ok = false;
    if (want == WF_FIM_GENERIC) {
        if (m.pre < 0 || m.suf < 0 || m.mid < 0)
            return wf_fail(err, WF_ERR_NOT_FOUND, "fim: the generic format needs the "
                           "tokenizer.ggml.fim_{pre,suf,mid}_token_id keys");
        ok = true;
    } else if (want != WF_FIM_AUTO) {
        const fim_texts *t = family_texts(want);
        if (!t) return wf_fail(err, WF_ERR_INVALID_ARG, "fim: unknown format %d", (int)want);
        if (!fill_family(v, &m, t, fmt, &missing))
            return wf_fail(err, WF_ERR_NOT_FOUND, "fim: the vocabulary has no %s token, so it "
                           "cannot use the %s fill-in-the-middle format", missing, t->name);
    } else if (m.pre >= 0) {
        /* The file names its prefix marker: its text tells the family. */
        for (size_t i = 0; i < N_FAMILIES && !ok; i++)
            if (text_is(v, m.pre, k_families[i].pre))
                ok = fill_family(v, &m, &k_families[i], fmt, &missing);
        if (!ok && m.suf >= 0 && m.mid >= 0) want = WF_FIM_GENERIC;
        else if (!ok)
            return wf_fail(err, WF_ERR_NOT_FOUND, "fim: tokenizer.ggml.fim_pre_token_id is set but "
                           "the suffix/middle markers are not known");
    } else {
        for (size_t i = 0; i < N_FAMILIES && !ok; i++) {
            wf_fim_format f;
            memset(&f, 0, sizeof f);
            if (fill_family(v, &m, &k_families[i], &f, &missing)) {
                *fmt = f;
                ok = true;
            }
        }
        if (!ok)
            return wf_fail(err, WF_ERR_NOT_FOUND, "fim: the vocabulary has no fill-in-the-middle "
                           "tokens (looked for <|fim_prefix|>, <\xef\xbd\x9c" "fim\xe2\x96\x81"
                           "begin\xef\xbd\x9c>, <fim_prefix>, \xe2\x96\x81<PRE> and [PREFIX]/[SUFFIX]); "
                           "is this a code model trained for infilling?");
    }
    if (want == WF_FIM_GENERIC) {
        fmt->family = WF_FIM_GENERIC;
        fmt->pre = m.pre;
        fmt->suf = m.suf;
        fmt->mid = m.mid;
        fmt->pad = m.pad;
        fmt->rep = m.rep;
        fmt->sep = m.sep;
        fmt->suffix_first = false;
        fmt->name_in_prefix = false;
    }
    fmt->bos = wf_vocab_add_bos(v) ? wf_vocab_bos(v) : -1;
    fmt->suffix_no_space = wf_vocab_add_space_prefix(v);
    fill_stops(v, fmt);
    return WF_OK;
}

bool wf_fim_is_stop(const wf_fim_format *fmt, int32_t id) {
    if (!fmt || id < 0) return false;
    for (int32_t i = 0; i < fmt->n_stop && i < WF_FIM_MAX_STOP; i++)
        if (fmt->stop[i] == id) return true;
    return false;
}

/* ---- prompt assembly ---------------------------------------------------- */

typedef struct ibuf {
    int32_t *p;
    size_t n, cap;
} ibuf;

static bool ib_append(ibuf *b, const int32_t *ids, size_t n) {
    return WF_ARRAY_APPEND(b->p, b->n, b->cap, ids, n);
}

static bool ib_push(ibuf *b, int32_t id) {
    return id < 0 || ib_append(b, &id, 1); /* absent markers are skipped */
}

/* Tokenization context: the vocabulary and the ids user text must never form. */
typedef struct tokctx {
    const wf_vocab *v;
    int32_t deny[WF_FIM_MAX_STOP + 8];
    size_t n_deny;
} tokctx;

/* H(a b c): the concatenation of up to three pieces, tokenized as plain text. */
static wf_status tok3(const tokctx *c, const char *a, size_t na, const char *b, size_t nb,
                      const char *d, size_t nd, bool space_prefix, ibuf *out, wf_error *err) {
    const char *text = a;
    size_t len = na;
    char *tmp = NULL;
    if (nb || nd) {
        if (na > SIZE_MAX - 1 - nb || na + nb > SIZE_MAX - 1 - nd)
            return wf_fail(err, WF_ERR_RANGE, "fim: text too long");
        len = na + nb + nd;
        if (!(tmp = malloc(len + 1))) return wf_fail(err, WF_ERR_NOMEM, "fim: out of memory");
        if (na) memcpy(tmp, a, na);
        if (nb) memcpy(tmp + na, b, nb);
        if (nd) memcpy(tmp + na + nb, d, nd);
        text = tmp;
    }
    int32_t *ids = NULL;
    size_t n = 0;
    wf_status st = WF_OK;
    if (len > 0) {
        st = wf_tokenize_text(c->v, text, len, space_prefix, c->deny, c->n_deny, &ids, &n, err);
        if (st == WF_OK && !ib_append(out, ids, n)) st = wf_fail(err, WF_ERR_NOMEM, "fim: out of memory");
    }
    free(ids);
    free(tmp);
    return st;
}

static size_t slen(const char *s) { return s ? strlen(s) : 0; }

/* "\n" when text does not already end with one (extra files end in a newline
 * so the next separator starts a line). */
static const char *nl_if_needed(const char *t, size_t n, size_t *len) {
    *len = n && t[n - 1] == '\n' ? 0 : 1;
    return "\n";
}

/* The tokenized pieces of a FIM prompt, before the budget is applied. */
typedef struct fim_parts {
    ibuf pre, suf;      /* prefix and suffix text                            */
    ibuf repo_hdr;      /* REP repo-name (repository-level formats), or empty */
    ibuf cur_hdr;       /* the current file's header, or empty               */
    ibuf *chunk;        /* (n_extra) each extra file with its header          */
    bool *keep;         /* (n_extra) whether the budget keeps it              */
    size_t n_extra;
    bool repo;          /* repository-level layout (SEP-separated files)      */
} fim_parts;

static void parts_free(fim_parts *pt) {
    if (pt->chunk)
        for (size_t i = 0; i < pt->n_extra; i++) free(pt->chunk[i].p);
    free(pt->chunk);
    free(pt->keep);
    free(pt->pre.p);
    free(pt->suf.p);
    free(pt->repo_hdr.p);
    free(pt->cur_hdr.p);
}

static wf_status check_build_args(const wf_vocab *v, const wf_fim_format *fmt, const wf_fim_input *in,
                                  int32_t budget, wf_error *err) {
    if ((!in->prefix && in->prefix_len) || (!in->suffix && in->suffix_len) || (!in->extra && in->n_extra))
        return wf_fail(err, WF_ERR_INVALID_ARG, "fim: NULL text with a non-zero length");
    for (size_t i = 0; i < in->n_extra; i++)
        if (!in->extra[i].text && in->extra[i].len)
            return wf_fail(err, WF_ERR_INVALID_ARG, "fim: extra file %zu has NULL text", i);
    if (budget < 0) return wf_fail(err, WF_ERR_INVALID_ARG, "fim: negative budget %d", budget);
    int32_t nv = wf_vocab_n_tokens(v);
    if (fmt->pre < 0 || fmt->suf < 0 || fmt->pre >= nv || fmt->suf >= nv || fmt->mid >= nv ||
        fmt->rep >= nv || fmt->sep >= nv || fmt->bos >= nv || (fmt->mid < 0 && !fmt->suffix_first))
        return wf_fail(err, WF_ERR_INVALID_ARG, "fim: the format has no usable markers (call wf_fim_detect)");
    return WF_OK;
}

/* One extra file with its header, in one piece so that merges across "\n"
 * match training: SEP name\n text (repository formats) or #name\n text. */
static wf_status tok_extra(tokctx *c, const wf_fim_format *fmt, const wf_fim_extra *e, bool repo, ibuf *out,
                           wf_error *err) {
    const char *name = e->name && *e->name ? e->name : "untitled";
    size_t nl;
    const char *nls = nl_if_needed(e->text, e->len, &nl);
    size_t hl = slen(name) + 2;
    char *hdr = malloc(hl + 1);
    if (!hdr) return wf_fail(err, WF_ERR_NOMEM, "fim: out of memory");
    if (repo) {
        memcpy(hdr, name, hl - 2);
        hdr[hl - 2] = '\n';
        hl--;
        if (!ib_push(out, fmt->sep)) {
            free(hdr);
            return wf_fail(err, WF_ERR_NOMEM, "fim: out of memory");
        }
    } else {
        hdr[0] = '#';
        memcpy(hdr + 1, name, hl - 2);
        hdr[hl - 1] = '\n';
    }
    wf_status st = tok3(c, hdr, hl, e->text, e->len, nls, nl, false, out, err);
    free(hdr);
    return st;
}

/* Tokenize every piece of the prompt (markers are never produced from text). */
static wf_status tok_parts(const wf_vocab *v, const wf_fim_format *fmt, const wf_fim_input *in, fim_parts *pt,
                           wf_error *err) {
    tokctx c = {.v = v};
    const int32_t marks[] = {fmt->pre, fmt->suf, fmt->mid, fmt->pad, fmt->rep, fmt->sep, fmt->bos};
    for (size_t i = 0; i < sizeof marks / sizeof marks[0]; i++)
        if (marks[i] >= 0) c.deny[c.n_deny++] = marks[i];
    for (int32_t i = 0; i < fmt->n_stop && i < WF_FIM_MAX_STOP; i++) c.deny[c.n_deny++] = fmt->stop[i];

    const bool has_extra = in->n_extra > 0;
    const bool repo = pt->repo = has_extra && fmt->sep >= 0 && !fmt->suffix_first;
    const bool text_extra = has_extra && !repo;
    const char *fname = in->filename && *in->filename ? in->filename : "untitled";
    const char *rname = in->repo && *in->repo ? in->repo : "project";
    /* SentencePiece adds its leading space to the first text after the prefix
     * marker: the prefix itself unless a header or extra files come first. */
    const bool pre_space = !text_extra && !(repo && fmt->name_in_prefix);
    wf_status st;
    if ((st = tok3(&c, in->prefix, in->prefix_len, NULL, 0, NULL, 0, pre_space, &pt->pre, err))) return st;
    if ((st = tok3(&c, in->suffix, in->suffix_len, NULL, 0, NULL, 0, !fmt->suffix_no_space, &pt->suf, err)))
        return st;
    if (repo) {
        if (fmt->rep >= 0) {
            if (!ib_push(&pt->repo_hdr, fmt->rep)) return wf_fail(err, WF_ERR_NOMEM, "fim: out of memory");
            if ((st = tok3(&c, rname, slen(rname), fmt->name_in_prefix ? NULL : "\n", fmt->name_in_prefix ? 0 : 1,
                           NULL, 0, true, &pt->repo_hdr, err)))
                return st;
        }
        /* the current file: SEP name\n PRE (qwen) or SEP PRE name\n (starcoder2) */
        if (!ib_push(&pt->cur_hdr, fmt->sep)) return wf_fail(err, WF_ERR_NOMEM, "fim: out of memory");
        if ((st = tok3(&c, fname, slen(fname), "\n", 1, NULL, 0, fmt->name_in_prefix, &pt->cur_hdr, err)))
            return st;
    } else if (text_extra) {
        if ((st = tok3(&c, "#", 1, fname, slen(fname), "\n", 1, false, &pt->cur_hdr, err))) return st;
    }
    if (!in->n_extra) return WF_OK;
    pt->n_extra = in->n_extra;
    if (!(pt->chunk = calloc(in->n_extra, sizeof *pt->chunk)) || !(pt->keep = calloc(in->n_extra, sizeof *pt->keep)))
        return wf_fail(err, WF_ERR_NOMEM, "fim: out of memory");
    for (size_t i = 0; i < in->n_extra; i++)
        if ((st = tok_extra(&c, fmt, &in->extra[i], repo, &pt->chunk[i], err))) return st;
    return WF_OK;
}

/* The budget: markers and headers first; the rest 3/4 prefix (its end) and
 * 1/4 suffix (its start), either side taking what the other leaves; extra
 * files in what remains, the last (closest) first. Fills the stats. */
static wf_status plan_budget(const wf_fim_format *fmt, fim_parts *pt, int32_t budget, int64_t *pre_take,
                             int64_t *suf_take, wf_fim_stats *stats, wf_error *err) {
    int64_t fixed = (fmt->bos >= 0) + 2 + (fmt->mid >= 0) + (int64_t)pt->repo_hdr.n + (int64_t)pt->cur_hdr.n;
    if (fixed > budget)
        return wf_fail(err, WF_ERR_RANGE, "fim: the prompt needs %lld tokens for its markers and headers "
                       "but only %d fit (context too small for the generation budget)", (long long)fixed, budget);
    int64_t R = budget - fixed;
    int64_t pre_share = R * 3 / 4, suf_share = R - pre_share;
    int64_t npre = (int64_t)pt->pre.n, nsuf = (int64_t)pt->suf.n;
    if (npre <= pre_share) {
        *pre_take = npre;
        *suf_take = nsuf < R - *pre_take ? nsuf : R - *pre_take;
    } else if (nsuf <= suf_share) {
        *suf_take = nsuf;
        *pre_take = npre < R - *suf_take ? npre : R - *suf_take;
    } else {
        *pre_take = pre_share;
        *suf_take = suf_share;
    }
    int64_t left = R - *pre_take - *suf_take, extra_total = 0, extra_kept = 0, files_kept = 0;
    for (size_t i = pt->n_extra; i-- > 0;) {
        int64_t cl = (int64_t)pt->chunk[i].n;
        extra_total += cl;
        if (cl <= left) {
            pt->keep[i] = true;
            left -= cl;
            extra_kept += cl;
            files_kept++;
        }
    }
    if (stats) {
        stats->n_fixed = (int32_t)fixed;
        stats->n_prefix = npre > INT32_MAX ? INT32_MAX : (int32_t)npre;
        stats->n_prefix_kept = (int32_t)*pre_take;
        stats->n_suffix = nsuf > INT32_MAX ? INT32_MAX : (int32_t)nsuf;
        stats->n_suffix_kept = (int32_t)*suf_take;
        stats->n_extra = extra_total > INT32_MAX ? INT32_MAX : (int32_t)extra_total;
        stats->n_extra_kept = (int32_t)extra_kept;
        stats->n_extra_files_kept = (int32_t)files_kept;
    }
    return WF_OK;
}

static bool put_kept_extras(ibuf *out, const fim_parts *pt) {
    for (size_t i = 0; i < pt->n_extra; i++)
        if (pt->keep[i] && !ib_append(out, pt->chunk[i].p, pt->chunk[i].n)) return false;
    return true;
}

/* The prompt in the family's order; false when out of memory. */
static bool assemble(const wf_fim_format *fmt, const fim_parts *pt, int64_t pre_take, int64_t suf_take, ibuf *out) {
    const int32_t *pre_ids = pt->pre.p ? pt->pre.p + (pt->pre.n - (size_t)pre_take) : NULL;
    if (!ib_push(out, fmt->bos)) return false;
    if (fmt->suffix_first) {
        return ib_push(out, fmt->suf) && ib_append(out, pt->suf.p, (size_t)suf_take) && ib_push(out, fmt->pre) &&
               put_kept_extras(out, pt) && ib_append(out, pt->cur_hdr.p, pt->cur_hdr.n) &&
               ib_append(out, pre_ids, (size_t)pre_take) && ib_push(out, fmt->mid); /* codestral has none */
    }
    if (!ib_append(out, pt->repo_hdr.p, pt->repo_hdr.n)) return false;
    if (pt->repo) {
        if (!put_kept_extras(out, pt)) return false;
        if (fmt->name_in_prefix) {
            /* SEP PRE name\n: cur_hdr is SEP + H(name\n) */
            if (!ib_push(out, fmt->sep) || !ib_push(out, fmt->pre) ||
                !ib_append(out, pt->cur_hdr.p + 1, pt->cur_hdr.n - 1))
                return false;
        } else if (!ib_append(out, pt->cur_hdr.p, pt->cur_hdr.n) || !ib_push(out, fmt->pre)) {
            return false;
        }
    } else if (!ib_push(out, fmt->pre) || !put_kept_extras(out, pt) ||
               !ib_append(out, pt->cur_hdr.p, pt->cur_hdr.n)) {
        return false;
    }
    return ib_append(out, pre_ids, (size_t)pre_take) && ib_push(out, fmt->suf) &&
           ib_append(out, pt->suf.p, (size_t)suf_take) && ib_push(out, fmt->mid);
}

wf_status wf_fim_build(const wf_vocab *v, const wf_fim_format *fmt, const wf_fim_input *in,
                       int32_t budget, int32_t **ids, size_t *n_ids, wf_fim_stats *stats,
                       wf_error *err) {
    if (!v || !fmt || !in || !ids || !n_ids) return wf_fail(err, WF_ERR_INVALID_ARG, "fim: NULL argument");
    *ids = NULL;
    *n_ids = 0;
    wf_status st = check_build_args(v, fmt, in, budget, err);
    if (st) return st;
    fim_parts pt = {0};
    ibuf out = {0};
    int64_t pre_take = 0, suf_take = 0;
    if (!(st = tok_parts(v, fmt, in, &pt, err)) && !(st = plan_budget(fmt, &pt, budget, &pre_take, &suf_take, stats, err))) {
        if (!assemble(fmt, &pt, pre_take, suf_take, &out) || (!out.p && !(out.p = malloc(sizeof(int32_t))))) {
            st = wf_fail(err, WF_ERR_NOMEM, "fim: out of memory");
        } else {
            *ids = out.p;
            *n_ids = out.n;
            out.p = NULL;
        }
    }
    parts_free(&pt);
    free(out.p);
    return st;
}
