/* fuzz_convert.c — the Hugging Face converter's inputs: safetensors files
 * (src/convert/safetensors.c) and tokenizer.json / tokenizer_config.json /
 * config.json (src/convert/convert_vocab.c).
 *
 * The first byte picks the target; the rest is the file's bytes, written to
 * a private temporary folder (the converter reads files) in /dev/shm, a
 * memory file system, when there is one: on /tmp (ext4 here) each input's
 * rewrite, fsync and discard cost ~1 ms of waiting for the disk, most of
 * an input's time (perf; docs/reliability.md). The files, paths and code
 * that read them are the same either way:
 *   even  model.safetensors: opens or fails with a message; whatever opens
 *         is walked (every tensor's name, shape, byte count within the file,
 *         data read);
 *   odd   tokenizer.json (up to a \0) then tokenizer_config.json (after it):
 *         the vocabulary keys are written to a GGUF writer or it fails with
 *         a message; the written keys are then read back as a GGUF.
 *
 * libFuzzer: -DWF_LIBFUZZER (CMake -DWAFER_FUZZ=ON, `make fuzz`); else the
 * driver in fuzz_main.h (ctest: fuzz_convert N corpus/convert). */
#include "convert/convert.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[128];

static void cleanup(void) {
    static const char *const names[] = {"model.safetensors", "tokenizer.json", "tokenizer_config.json", "out.gguf", NULL};
    char p[256];
    for (int i = 0; names[i]; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(dir);
}

static void init(void) {
    if (dir[0]) return;
    const char *base = access("/dev/shm", W_OK | X_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(dir, sizeof dir, "%s/wf_fuzz_conv_%d", base, (int)getpid());
    if (mkdtemp(strcat(dir, "_XXXXXX")) == NULL) abort();
    atexit(cleanup);
}
#define FUZZ_INIT init

static void put(const char *name, const void *data, size_t n) {
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    if (!data) {
        unlink(p);
        return;
    }
    unlink(p); /* a new file, not a truncated one (no flush-on-truncate on ext4) */
    FILE *f = fopen(p, "wb");
    if (!f || fwrite(data, 1, n, f) != n) abort();
    fclose(f);
}

static void fuzz_safetensors(const uint8_t *d, size_t n) {
    put("model.safetensors", d, n);
    char p[256];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    wf_safetensors *s = NULL;
    wf_error err = {0};
    if (wf_st_open_file(p, &s, &err) != WF_OK) {
        if (!err.msg[0] || s) abort();
        return;
    }
    volatile uint8_t acc = 0;
    for (int64_t i = 0; i < wf_st_n_tensors(s); i++) {
        const wf_st_tensor *t = wf_st_tensor_at(s, i);
        if (!t || !t->name || t->n_dims < 1 || t->n_dims > WF_ST_MAX_DIMS || t->nbytes > n) abort();
        uint64_t ne = 1;
        for (uint32_t k = 0; k < t->n_dims; k++) ne *= (uint64_t)t->shape[k];
        if (ne != t->n_elem || wf_st_find(s, t->name) != t) abort();
        for (uint64_t j = 0; j < t->nbytes; j++) acc ^= ((const uint8_t *)t->data)[j];
    }
    wf_st_close(s);
}

static void fuzz_vocab(const uint8_t *d, size_t n) {
    const uint8_t *z = memchr(d, 0, n);
    size_t tl = z ? (size_t)(z - d) : n;
    put("tokenizer.json", d, tl);
    put("tokenizer_config.json", z ? z + 1 : NULL, z ? n - tl - 1 : 0);
    wf_gguf_writer *w = NULL;
    if (wf_gguf_writer_create(&w, NULL) != WF_OK) abort();
    wf_error err = {0};
    int64_t nt = 0;
    wf_conv_vocab_opts o = {0};
    if (wf_conv_vocab(dir, NULL, &o, w, &nt, &err) != WF_OK) {
        if (!err.msg[0]) abort();
    } else {
        char p[256];
        snprintf(p, sizeof p, "%s/out.gguf", dir);
        wf_gguf *g = NULL;
        if (wf_gguf_writer_write(w, p, NULL, NULL, &err) != WF_OK || wf_gguf_open(p, &g, &err) != WF_OK) abort();
        if (nt < 0) abort();
        wf_gguf_close(g);
    }
    wf_gguf_writer_free(w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    init();
    if (size < 1) return 0;
    if (data[0] & 1) fuzz_vocab(data + 1, size - 1);
    else fuzz_safetensors(data + 1, size - 1);
    return 0;
}

static const char *const fuzz_dict[] = {"{\"", "\":", "\"dtype\":\"F32\"", "\"dtype\":\"BF16\"", "\"dtype\":\"F16\"", "\"shape\":[",
                                        "\"data_offsets\":[", "\"__metadata__\":{}", "\"model\":{", "\"type\":\"BPE\"",
                                        "\"vocab\":{", "\"merges\":[", "\"added_tokens\":[", "\"special\":true", "\"content\":",
                                        "\"id\":", "\"pre_tokenizer\":", "\"ByteLevel\"", "\"Split\"", "\"bos_token\":",
                                        "\"chat_template\":", "\"byte_fallback\":true", "18446744073709551615", "-1", NULL};
#define FUZZ_DICT fuzz_dict
#include "fuzz_main.h"
