/* fuzz_gguf.c — the GGUF reader. libFuzzer: -DWF_LIBFUZZER (CMake
 * -DWAFER_FUZZ=ON, `make fuzz`); else the driver in fuzz_main.h (ctest:
 * fuzz_gguf N corpus/gguf). By hand:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Isrc \
 *     tests/fuzz/fuzz_gguf.c src/gguf*.c src/format/quant.c src/format/quant_float.c \
 *     src/format/quant_legacy.c src/format/quant_k.c src/base/common.c -lm -o fuzz_gguf
 * Every input must open or fail with a message; whatever opens is walked
 * completely (values, string arrays, tensor bytes). */
#include "format/gguf.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    wf_gguf *g = NULL;
    wf_error err = {0};
    if (wf_gguf_open_mem(data, size, "fuzz", &g, &err) != WF_OK) {
        if (!err.msg[0] || g) abort();
        return 0;
    }
    char buf[128];
    volatile uint8_t acc = 0;
    for (int64_t i = 0; i < wf_gguf_n_kv(g); i++) {
        wf_gguf_format_value(g, i, buf, sizeof buf);
        wf_gguf_vtype et;
        uint64_t n;
        if (wf_gguf_arr_info_at(g, i, &et, &n) == WF_OK && et == WF_GGUF_STRING)
            for (uint64_t j = 0; j < n; j++) {
                wf_str s;
                if (wf_gguf_arr_str(g, i, j, &s) != WF_OK) abort();
                if (s.len) acc ^= (uint8_t)s.ptr[s.len - 1];
            }
        wf_str k = wf_gguf_key_at(g, i);
        char key[256];
        if (k.len < sizeof key) {
            memcpy(key, k.ptr, k.len);
            key[k.len] = '\0';
            if (wf_gguf_find_key(g, key) != i) abort();
        }
    }
    for (int64_t i = 0; i < wf_gguf_n_tensors(g); i++) {
        const wf_gguf_tensor *t = wf_gguf_tensor_at(g, i);
        if (wf_gguf_find_tensor(g, t->name) != t) abort();
        for (uint64_t j = 0; j < t->nbytes; j++) acc ^= ((const uint8_t *)t->data)[j];
    }
    wf_gguf_close(g);
    return 0;
}

static const char *const fuzz_dict[] = {"GGUF", "\x03\x00\x00\x00", "general.architecture", "tokenizer.ggml.tokens",
                                        "\xff\xff\xff\xff\xff\xff\xff\xff", "\x00\x00\x00\x00\x00\x00\x00\x00",
                                        "\x08\x00\x00\x00", "\x09\x00\x00\x00", NULL};
#define FUZZ_DICT fuzz_dict
#include "fuzz_main.h"
