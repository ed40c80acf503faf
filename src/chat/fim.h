/* fim.h — fill-in-the-middle prompts for code models (editor completion).
 *
 * A FIM prompt shows the model the code before the cursor (prefix) and after
 * it (suffix) between marker tokens, and the model writes the middle. Each
 * model family has its own markers and order:
 *
 *   qwen       <|fim_prefix|>P<|fim_suffix|>S<|fim_middle|>          (Qwen2.5-Coder, CodeGemma)
 *   deepseek   BOS <｜fim▁begin｜>P<｜fim▁hole｜>S<｜fim▁end｜>        (DeepSeek-Coder)
 *   starcoder  <fim_prefix>P<fim_suffix>S<fim_middle>                (StarCoder, StarCoder2, Refact)
 *   codellama  BOS ▁<PRE> P ▁<SUF>S ▁<MID>   ("<PRE> {pre} <SUF>{suf} <MID>")
 *   codestral  BOS [SUFFIX]S[PREFIX] P        (suffix first, no middle marker)
 *
 * Markers are token ids (from tokenizer.ggml.fim_*_token_id when the file
 * has them, else from the known token texts), user text is tokenized so it
 * can never produce a marker, and prefix / suffix / extra context files are
 * trimmed to a token budget. See docs/fim.md for the exact layouts.
 */
#ifndef WF_FIM_H
#define WF_FIM_H

#include "format/gguf.h"
#include "text/tokenizer.h"

typedef enum wf_fim_family {
    WF_FIM_AUTO = 0,      /* detect from the vocabulary (wf_fim_detect only) */
    WF_FIM_QWEN = 1,
    WF_FIM_DEEPSEEK = 2,
    WF_FIM_STARCODER = 3,
    WF_FIM_CODELLAMA = 4,
    WF_FIM_CODESTRAL = 5,
    WF_FIM_GENERIC = 6    /* markers only known from metadata ids: PSM order */
} wf_fim_family;

#define WF_FIM_MAX_STOP 32

/* What a vocabulary needs for FIM; filled by wf_fim_detect. Ids are -1 when
 * absent. */
typedef struct wf_fim_format {
    wf_fim_family family;
    int32_t pre, suf, mid;  /* markers (mid is -1 for codestral)            */
    int32_t pad;            /* <|fim_pad|>: a stop token                     */
    int32_t rep, sep;       /* repo-name / file-separator markers            */
    int32_t bos;            /* put first when the vocabulary adds BOS        */
    bool suffix_first;      /* codestral: [SUFFIX] S [PREFIX] P              */
    bool name_in_prefix;    /* repo layout: starcoder2 puts the current file's
                               name after the prefix marker
                               (<file_sep><fim_prefix>name\nP, repo name with
                               no newline); qwen before it
                               (<|file_sep|>name\n<|fim_prefix|>P)          */
    bool suffix_no_space;   /* SentencePiece: the suffix is encoded without
                               the leading ▁ (CodeLlama, Codestral)         */
    int32_t stop[WF_FIM_MAX_STOP]; /* tokens that end the middle            */
    int32_t n_stop;
} wf_fim_format;

/* One extra context file (another file of the repository). */
typedef struct wf_fim_extra {
    const char *name;      /* path shown to the model (NUL-terminated)       */
    const char *text;
    size_t len;
} wf_fim_extra;

/* What to complete. Text need not be NUL-terminated; any bytes are allowed. */
typedef struct wf_fim_input {
    const char *prefix;
    size_t prefix_len;
    const char *suffix;
    size_t suffix_len;
    const char *filename;  /* current file's path, or NULL (repo layout only) */
    const char *repo;      /* repository name, or NULL ("project")            */
    const wf_fim_extra *extra;
    size_t n_extra;
} wf_fim_input;

/* How the budget was spent (token counts before and after trimming). */
typedef struct wf_fim_stats {
    int32_t n_fixed;               /* markers, BOS, repo/file headers          */
    int32_t n_prefix, n_prefix_kept;
    int32_t n_suffix, n_suffix_kept;
    int32_t n_extra, n_extra_kept; /* tokens of extra files incl. headers      */
    int32_t n_extra_files_kept;
} wf_fim_stats;

/* Find the family and marker ids. meta (may be NULL) is the GGUF the
 * vocabulary came from: its tokenizer.ggml.fim_{pre,suf,mid,pad,rep,sep}_token_id
 * keys take precedence over token texts. want = WF_FIM_AUTO detects the
 * family; any other value insists on it (WF_ERR_NOT_FOUND, naming the missing
 * token, when the vocabulary lacks its markers). */
wf_status wf_fim_detect(const wf_vocab *v, const wf_gguf *meta, wf_fim_family want,
                        wf_fim_format *fmt, wf_error *err);

/* Assemble the prompt as token ids in *ids (malloc'd, caller frees), at most
 * budget tokens (the context size minus the tokens reserved for the middle).
 * Extra files switch on the repository layout (qwen, starcoder2: repo-name
 * and file-separator tokens; other families: "#name\n" text headers).
 * Trimming keeps the end of the prefix and the start of the suffix: the
 * budget left after the fixed tokens is split 3:1 between prefix and suffix,
 * a part that needs less than its share leaves the rest to the other; extra
 * files get what prefix and suffix leave, whole files only, nearest (last
 * given) first. WF_ERR_RANGE when even the fixed tokens do not fit. stats may
 * be NULL. */
wf_status wf_fim_build(const wf_vocab *v, const wf_fim_format *fmt, const wf_fim_input *in,
                       int32_t budget, int32_t **ids, size_t *n_ids, wf_fim_stats *stats,
                       wf_error *err);

/* Does token id end the middle (end of text, FIM pad / separators, EOG)? */
bool wf_fim_is_stop(const wf_fim_format *fmt, int32_t id);

/* "qwen", "deepseek", ... ; parse accepts those names and "auto" (returns
 * false for anything else). */
const char *wf_fim_family_name(wf_fim_family f);
bool wf_fim_family_parse(const char *name, wf_fim_family *out);

#endif /* WF_FIM_H */
