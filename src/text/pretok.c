/* pretok.c — pre-tokenization for byte-level BPE: the text is cut into
 * words by a sequence of regular expressions chosen by tokenizer.ggml.pre.
 *
 * Semantics follow llama.cpp's unicode_regex_split: each expression of the
 * list is applied inside every piece produced by the previous ones; both the
 * matches and the text between matches become pieces. Patterns are compiled
 * once (PCRE2, UTF + UCP, JIT) and only read afterwards, so a wf_pretok may
 * be shared by threads; match data is created per call.
 *
 * "\s" in the pattern tables below is rewritten at compile time to the
 * explicit whitespace set llama.cpp uses (PCRE2's Unicode \s lacks U+0085).
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "text/tok_int.h"
#include "base/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WF_PRETOK_MAX 8

struct wf_pretok {
    int n;
    pcre2_code *re[WF_PRETOK_MAX];
};

/* ---- the pattern lists (public facts: llama.cpp's per-pre-type regexes) ---- */

#define GPT2_RE "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
#define LLAMA3_CONTRACTIONS "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"

static const char *const re_default[] = {
    "[\\p{P}\\$\\+<=>\\^~\\|]+", GPT2_RE, "\\p{N}+", "[0-9][0-9][0-9]", NULL};
static const char *const re_gpt2[] = {GPT2_RE, NULL};
static const char *const re_starcoder[] = {"\\p{N}", GPT2_RE, NULL};
static const char *const re_falcon[] = {
    "[\\p{P}\\$\\+<=>\\^~\\|`]+", GPT2_RE, "[0-9][0-9][0-9]", NULL};
static const char *const re_llama3[] = {
    LLAMA3_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
    "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+", NULL};
static const char *const re_qwen2[] = {
    LLAMA3_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
    "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+", NULL};
/* CJK ideographs U+4E00..U+9FA5, U+0800..U+4E00, Hangul U+AC00..U+D7FF */
#define CJK_RE "[\\x{4E00}-\\x{9FA5}\\x{0800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+"
static const char *const re_deepseek_coder[] = {
    "[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", CJK_RE, "\\p{N}", NULL};
/* Cased letters (Lu/Ll/Lt ranges) as DeepSeek's tokenizer lists them; kept
 * as escapes because several of these code points change under Unicode
 * normalisation when typed. */
static const char *const re_deepseek_llm[] = {
    "[\r\n]",
    "\\s?[A-Za-z"
    "\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}\\x{1BC}-\\x{1BF}\\x{1C4}-"
    "\\x{293}\\x{295}-\\x{2AF}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37B}-\\x{37D}"
    "\\x{37F}\\x{386}\\x{388}-\\x{38A}\\x{38C}\\x{38E}-\\x{3A1}\\x{3A3}-\\x{3F5}"
    "\\x{3F7}-\\x{481}\\x{48A}-\\x{52F}\\x{531}-\\x{556}\\x{10A0}-\\x{10C5}\\x{13A0}-"
    "\\x{13F5}\\x{13F8}-\\x{13FD}\\x{1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}\\x{1D00}-"
    "\\x{1D2B}\\x{1D6B}-\\x{1D77}\\x{1D79}-\\x{1D9A}\\x{1E00}-\\x{1F15}\\x{1F18}-"
    "\\x{1F1D}\\x{1F20}-\\x{1F45}\\x{1F48}-\\x{1F4D}\\x{1F50}-\\x{1F57}\\x{1F59}"
    "\\x{1F5B}\\x{1F5D}\\x{1F5F}-\\x{1F7D}\\x{1F80}-\\x{1FB4}\\x{1FB6}-\\x{1FBC}"
    "\\x{1FBE}\\x{1FC2}-\\x{1FC4}\\x{1FC6}-\\x{1FCC}\\x{1FD0}-\\x{1FD3}\\x{1FD6}-"
    "\\x{1FDB}\\x{1FE0}-\\x{1FEC}\\x{1FF2}-\\x{1FF4}\\x{1FF6}-\\x{1FFC}\\x{2102}"
    "\\x{2107}\\x{210A}-\\x{2113}\\x{2115}\\x{2119}-\\x{211D}\\x{2124}\\x{2126}"
    "\\x{2128}\\x{212A}-\\x{212D}\\x{212F}-\\x{2134}\\x{2139}\\x{213C}-\\x{213F}"
    "\\x{2145}-\\x{2149}\\x{214E}\\x{2183}\\x{2184}\\x{2C00}-\\x{2C7B}\\x{2C7E}-"
    "\\x{2CE4}\\x{2CEB}-\\x{2CEE}\\x{2CF2}\\x{2CF3}\\x{A640}-\\x{A66D}\\x{A680}-"
    "\\x{A69B}\\x{A722}-\\x{A76F}\\x{A771}-\\x{A787}\\x{A78B}-\\x{A78E}\\x{AB70}-"
    "\\x{ABBF}\\x{FB00}-\\x{FB06}\\x{FB13}-\\x{FB17}\\x{FF21}-\\x{FF3A}\\x{FF41}-"
    "\\x{FF5A}\\x{10400}-\\x{1044F}\\x{104B0}-\\x{104D3}\\x{104D8}-\\x{104FB}"
    "\\x{10C80}-\\x{10CB2}\\x{10CC0}-\\x{10CF2}\\x{118A0}-\\x{118DF}\\x{1E900}-"
    "\\x{1E943}"
    "]+",
    "\\s?[!-/:-~\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}\\x{2018}-\\x{201F}\\x{3000}-\\x{3002}]+",
    "\\s+$", CJK_RE, "\\p{N}+", NULL};
static const char *const re_bloom[] = {" ?[^(\\s|.,!?…。，、।۔،)]+", NULL};

static const struct {
    const char *name;
    const char *const *re;
    bool ignore_merges;
} pre_table[] = {
    {"default", re_default, false},
    {"gpt-2", re_gpt2, false},
    {"gpt2", re_gpt2, false},
    {"phi-2", re_gpt2, false},
    {"mpt", re_gpt2, false},
    {"olmo", re_gpt2, false},
    {"jais", re_gpt2, false},
    {"roberta-bpe", re_gpt2, false},
    {"jina-es", re_gpt2, false},
    {"jina-de", re_gpt2, false},
    {"jina-v1-en", re_gpt2, false},
    {"jina-v2-es", re_gpt2, false},
    {"jina-v2-de", re_gpt2, false},
    {"jina-v2-code", re_gpt2, false},
    {"gigachat", re_gpt2, false},
    {"starcoder", re_starcoder, false},
    {"refact", re_starcoder, false},
    {"command-r", re_starcoder, false},
    {"smollm", re_starcoder, false},
    {"codeshell", re_starcoder, false},
    {"exaone", re_starcoder, false},
    {"minerva-7b", re_starcoder, false},
    {"falcon", re_falcon, false},
    {"llama3", re_llama3, true},
    {"llama-v3", re_llama3, true},
    {"llama-bpe", re_llama3, true},
    {"falcon3", re_llama3, true},
    {"dbrx", re_llama3, false},
    {"smaug-bpe", re_llama3, false},
    {"qwen2", re_qwen2, false},
    {"deepseek-r1-qwen", re_qwen2, false},
    {"stablelm2", re_qwen2, false},
    {"deepseek-coder", re_deepseek_coder, false},
    {"deepseek-llm", re_deepseek_llm, false},
    {"poro-chat", re_bloom, false},
    {"bloom", re_bloom, false},
    {"gpt3-finnish", re_bloom, false},
};

/* The whitespace set of llama.cpp's unicode tables, as class contents. */
#define WS_CLASS "\\t-\\r \\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}"

/* Rewrite \s and \S (outside and inside character classes) to WS_CLASS.
 * Returns a malloc'd pattern or NULL on allocation failure. */
static char *rewrite_ws(const char *pat) {
    size_t n = strlen(pat), cap = n * 4 + 256;
    size_t extra = 0;
    for (size_t i = 0; i + 1 < n; i++)
        if (pat[i] == '\\') { extra += sizeof WS_CLASS + 4; i++; }
    cap += extra;
    char *out = malloc(cap);
    if (!out) return NULL;
    size_t o = 0;
    bool in_class = false;
    for (size_t i = 0; i < n; i++) {
        char c = pat[i];
        if (c == '\\' && i + 1 < n) {
            char d = pat[i + 1];
            if (d == 's' || d == 'S') {
                const char *pre = in_class ? "" : (d == 's' ? "[" : "[^");
                const char *post = in_class ? "" : "]";
                o += (size_t)snprintf(out + o, cap - o, "%s%s%s", pre, WS_CLASS, post);
            } else {
                out[o++] = c;
                out[o++] = d;
            }
            i++;
            continue;
        }
        if (c == '[' && !in_class) {
            in_class = true;
            out[o++] = c;
            /* a ']' right after '[' or '[^' is literal */
            if (i + 1 < n && pat[i + 1] == '^') out[o++] = pat[++i];
            if (i + 1 < n && pat[i + 1] == ']') out[o++] = pat[++i];
            continue;
        }
        if (c == ']' && in_class) in_class = false;
        out[o++] = c;
    }
    out[o] = '\0';
    return out;
}

void wf_pretok_free(wf_pretok *p) {
    if (!p) return;
    for (int i = 0; i < p->n; i++) pcre2_code_free(p->re[i]);
    free(p);
}

wf_status wf_pretok_create(const char *name, wf_pretok **out, bool *ignore_merges,
                           char *warn, size_t warn_cap, wf_error *err) {
    *out = NULL;
    *ignore_merges = false;
    const char *const *re = NULL;
    for (size_t i = 0; i < sizeof pre_table / sizeof pre_table[0]; i++)
        if (!strcmp(pre_table[i].name, name)) {
            re = pre_table[i].re;
            *ignore_merges = pre_table[i].ignore_merges;
            break;
        }
    if (!re) {
        if (warn && warn_cap)
            snprintf(warn, warn_cap, "unknown pre-tokenizer '%.60s': using 'default' "
                     "(tokens may differ from the model's own tokenizer)", name);
        re = re_default;
    }
    wf_pretok *p = calloc(1, sizeof *p);
    if (!p) return wf_fail(err, WF_ERR_NOMEM, "pre-tokenizer: out of memory");
    for (int i = 0; re[i]; i++) {
        if (i >= WF_PRETOK_MAX) {
            wf_pretok_free(p);
            return wf_fail(err, WF_ERR_INTERNAL, "pre-tokenizer: too many patterns");
        }
        char *pat = rewrite_ws(re[i]);
        if (!pat) {
            wf_pretok_free(p);
            return wf_fail(err, WF_ERR_NOMEM, "pre-tokenizer: out of memory");
        }
        int ec;
        PCRE2_SIZE eo;
        pcre2_code *code = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED,
                                         PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY, &ec, &eo, NULL);
        if (!code) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(ec, msg, sizeof msg);
            wf_fail(err, WF_ERR_INTERNAL, "pre-tokenizer '%s' pattern %d: %s at %zu",
                    name, i, (const char *)msg, (size_t)eo);
            free(pat);
            wf_pretok_free(p);
            return WF_ERR_INTERNAL;
        }
        free(pat);
        pcre2_jit_compile(code, PCRE2_JIT_COMPLETE); /* falls back to the interpreter if JIT is unavailable */
        p->re[p->n++] = code;
    }
    *out = p;
    return WF_OK;
}

static bool span_push(wf_span_buf *b, size_t off, size_t len) {
    if (b->n == b->cap && !WF_ARRAY_RESERVE(b->s, b->cap, b->n + 1)) return false;
    b->s[b->n].off = off;
    b->s[b->n].len = len;
    b->n++;
    return true;
}

/* Split one piece [off, off+len) of text with one pattern, appending the
 * matches and the gaps between them. */
static wf_status split_one(const pcre2_code *re, pcre2_match_data *md, pcre2_match_context *mc,
                           const char *text, size_t off, size_t len, wf_span_buf *out,
                           wf_error *err) {
    PCRE2_SPTR subj = (PCRE2_SPTR)(text + off);
    size_t pos = 0, last = 0;
    while (pos <= len) {
        int rc = pcre2_match(re, subj, len, pos, PCRE2_NO_UTF_CHECK, md, mc);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return wf_fail(err, WF_ERR_INTERNAL, "pre-tokenizer match: %s", (const char *)msg);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t ms = ov[0], me = ov[1];
        if (me <= ms) { /* empty match: step over one character */
            if (ms >= len) break;
            pos = ms + 1;
            while (pos < len && (subj[pos] & 0xC0) == 0x80) pos++;
            continue;
        }
        if (ms > last && !span_push(out, off + last, ms - last)) goto nomem;
        if (!span_push(out, off + ms, me - ms)) goto nomem;
        last = pos = me;
    }
    if (last < len && !span_push(out, off + last, len - last)) goto nomem;
    return WF_OK;
nomem:
    return wf_fail(err, WF_ERR_NOMEM, "pre-tokenizer: out of memory");
}

wf_status wf_pretok_split(const wf_pretok *p, const char *text, size_t len,
                          wf_span_buf *out, wf_error *err) {
    if (len == 0) return WF_OK;
    wf_span_buf a = {0}, b = {0};
    wf_status st = WF_OK;
    pcre2_match_data *md = pcre2_match_data_create(4, NULL);
    pcre2_match_context *mc = pcre2_match_context_create(NULL);
    pcre2_jit_stack *js = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, NULL);
    if (!md || !mc || !js) {
        st = wf_fail(err, WF_ERR_NOMEM, "pre-tokenizer: out of memory");
        goto done;
    }
    pcre2_jit_stack_assign(mc, NULL, js);
    if (!span_push(&a, 0, len)) {
        st = wf_fail(err, WF_ERR_NOMEM, "pre-tokenizer: out of memory");
        goto done;
    }
    for (int r = 0; r < p->n; r++) {
        b.n = 0;
        for (size_t i = 0; i < a.n; i++) {
            st = split_one(p->re[r], md, mc, text, a.s[i].off, a.s[i].len, &b, err);
            if (st != WF_OK) goto done;
        }
        wf_span_buf t = a;
        a = b;
        b = t;
    }
    for (size_t i = 0; i < a.n; i++)
        if (!span_push(out, a.s[i].off, a.s[i].len)) {
            st = wf_fail(err, WF_ERR_NOMEM, "pre-tokenizer: out of memory");
            goto done;
        }
done:
    free(a.s);
    free(b.s);
    pcre2_jit_stack_free(js);
    pcre2_match_context_free(mc);
    pcre2_match_data_free(md);
    return st;
}
