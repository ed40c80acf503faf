/* convert.h — Hugging Face checkpoint folder -> GGUF (`wafer convert`).
 *
 * Three parts:
 *   safetensors.c     a validating, mmap-based reader for *.safetensors files
 *                     (single or sharded through model.safetensors.index.json)
 *   convert_vocab.c   tokenizer.json / tokenizer_config.json /
 *                     generation_config.json -> tokenizer.ggml.* keys
 *   convert.c         config.json -> hyper-parameter keys, HF tensor names ->
 *                     GGUF names (llama Q/K rows permuted), type conversion,
 *                     quantized outputs through wf_quantize_file
 * The keys and tensor names are the ones llama.cpp's convert_hf_to_gguf.py
 * writes for llama / qwen2 / qwen3, so files from either tool load in either.
 */
#ifndef WF_CONVERT_H
#define WF_CONVERT_H

#include "base/common.h"
#include "format/gguf.h"

#include <jansson.h>

/* ---- safetensors ---------------------------------------------------------- */

#define WF_ST_MAX_DIMS 4

typedef struct wf_st_tensor {
    char *name;            /* NUL-terminated copy                                */
    uint32_t type;         /* WF_TYPE_F32 / WF_TYPE_F16 / WF_TYPE_BF16            */
    uint32_t n_dims;       /* 1..4                                               */
    int64_t shape[WF_ST_MAX_DIMS]; /* HF (row-major) order: shape[0] slowest      */
    uint64_t n_elem;
    uint64_t nbytes;
    const void *data;      /* into the mapping of its shard                      */
    const char *file;      /* the shard's path (for messages)                    */
} wf_st_tensor;

typedef struct wf_safetensors wf_safetensors;

/* Open the safetensors of a folder: model.safetensors.index.json when present
 * (every shard it names, every tensor it maps must be found in its shard),
 * else every *.safetensors file in it. Every header length, JSON entry,
 * dtype, shape and data offset is checked against the file size. */
wf_status wf_st_open_dir(const char *dir, wf_safetensors **out, wf_error *err);
/* One file (tests, tools). */
wf_status wf_st_open_file(const char *path, wf_safetensors **out, wf_error *err);
void wf_st_close(wf_safetensors *s);
int64_t wf_st_n_tensors(const wf_safetensors *s);
const wf_st_tensor *wf_st_tensor_at(const wf_safetensors *s, int64_t i);
const wf_st_tensor *wf_st_find(const wf_safetensors *s, const char *name);

/* ---- JSON helpers shared by the converter files ------------------------------ */

/* Load a JSON file; WF_ERR_NOT_FOUND (message set) when absent and !required
 * is just reported by the status; errors name the file. */
wf_status wf_conv_load_json(const char *path, json_t **out, wf_error *err);
/* dir + "/" + name (no double slash), malloc'd; NULL when out of memory. */
char *wf_conv_path_join(const char *dir, const char *name);

/* ---- vocabulary -------------------------------------------------------------- */

typedef struct wf_conv_vocab_opts {
    const char *pre;        /* tokenizer.ggml.pre override, NULL = detect      */
    int64_t n_vocab;        /* token table size (config vocab_size), 0 = from tokenizer.json */
} wf_conv_vocab_opts;

/* Write the tokenizer.* keys from the tokenizer files in dir. config may be
 * NULL (vocab-only without config.json). *n_tokens receives the size of the
 * token table written. */
wf_status wf_conv_vocab(const char *dir, const json_t *config, const wf_conv_vocab_opts *o,
                        wf_gguf_writer *w, int64_t *n_tokens, wf_error *err);

/* The pre-tokenizer name for a tokenizer.json's "pre_tokenizer" object
 * (NULL if it is not recognised). Rule: the Split regex of the Llama 3
 * pattern -> "llama-bpe", of the Qwen2 pattern -> "qwen2"; a plain
 * ByteLevel with use_regex -> "gpt2". */
const char *wf_conv_detect_pre(const json_t *pre_tokenizer);

/* ---- the converter ------------------------------------------------------------ */

typedef struct wf_convert_params {
    const char *out_type;   /* "f32", "f16" (default), "bf16", or a wafer
                               quantize file type ("q8_0", "q4_K_M", ...)      */
    bool vocab_only;
    const char *pre;        /* tokenizer.ggml.pre override, NULL = detect      */
    const char *name;       /* general.name, NULL = folder name                */
    int n_threads;          /* quantization threads, <= 0: cores              */
    /* Called per tensor (index, count, GGUF name); may be NULL. */
    void (*on_tensor)(int64_t i, int64_t n, const char *name, void *user);
    void *user;
} wf_convert_params;

wf_status wf_convert(const char *hf_dir, const char *out_path, const wf_convert_params *p,
                     wf_error *err);

/* llama's Q/K row permutation (HF rotate_half order -> GGUF's adjacent
 * pairs): within each of n_head heads of hd rows, output row 2*i + j takes
 * input row j*hd/2 + i. Rows are row_bytes each. */
void wf_conv_permute_rows(const void *src, void *dst, int64_t n_head, int64_t hd,
                          size_t row_bytes);

#endif /* WF_CONVERT_H */
