/* quantize.h — convert a GGUF model's weights to another element type
 * (`wafer quantize`), with llama.cpp's file-type names and mixes. */
#ifndef WF_QUANTIZE_H
#define WF_QUANTIZE_H

#include "base/common.h"

typedef struct wf_quantize_params {
    const char *ftype;      /* "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q4_K_M",
                               "q4_K_S", "q5_K_M", "q5_K_S", "q6_K", "q3_K_S",
                               "q3_K_M", "q3_K_L", "q2_K", "iq4_xs", "iq4_nl",
                               "mxfp4_moe", "f16", "bf16", "f32"
                               (case-insensitive)                             */
    int n_threads;          /* <= 0: cores                                     */
    /* Called before each tensor: (index, count, name). May be NULL. */
    void (*on_tensor)(int64_t i, int64_t n, const char *name, void *user);
    void *user;
} wf_quantize_params;

/* Names of the accepted file types, for help text. */
extern const char *const wf_quantize_ftype_names;

wf_status wf_quantize_file(const char *in_path, const char *out_path,
                           const wf_quantize_params *p, wf_error *err);

#endif
