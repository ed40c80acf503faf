/* cmd_convert.c — `wafer convert HF_DIR OUT.gguf`: a Hugging Face checkpoint
 * folder (llama / qwen2 / qwen3) to a GGUF file. */
#include "cli.h"

#include "convert/convert.h"
#include "convert/quantize.h"

#include <string.h>

static void usage(FILE *f) {
    fprintf(f, "usage: wafer convert HF_DIR OUT.gguf [--type TYPE] [--vocab-only] [--pre NAME] [--name NAME] [-t THREADS]\n\n"
               "Convert a Hugging Face checkpoint folder (config.json, *.safetensors or a sharded\n"
               "model.safetensors.index.json, tokenizer.json, tokenizer_config.json,\n"
               "generation_config.json) of a LlamaForCausalLM, Qwen2ForCausalLM or Qwen3ForCausalLM\n"
               "model to GGUF, with the keys and tensor names llama.cpp's converter writes.\n\n"
               "  --type TYPE     f16 (default), bf16, f32, or a quantized type: %s\n"
               "                  (1-D norms and biases stay f32)\n"
               "  --vocab-only    write only the tokenizer (config.json optional)\n"
               "  --pre NAME      tokenizer.ggml.pre to write instead of the detected one\n"
               "                  (detected: Llama 3 regex -> llama-bpe, Qwen2 regex -> qwen2,\n"
               "                  plain ByteLevel -> gpt2)\n"
               "  --name NAME     general.name (default: the folder's name)\n"
               "  -t THREADS      quantization threads (default: cores)\n",
            wf_quantize_ftype_names);
}

static void on_tensor(int64_t i, int64_t n, const char *name, void *user) {
    cli_progress_update(user, (double)i / (double)(n ? n : 1), name);
}

int cmd_convert(int argc, char **argv) {
    const char *pos[2];
    int n_pos = 0;
    wf_convert_params p = {.out_type = "f16"};
    int32_t threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        if (!strcmp(a, "--vocab-only")) { p.vocab_only = true; continue; }
        if (!strcmp(a, "--type") || !strcmp(a, "--outtype") || !strcmp(a, "--pre") || !strcmp(a, "--name")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "wafer convert: %s needs a value\n", a);
                return 2;
            }
            const char *v = argv[++i];
            if (!strcmp(a, "--pre")) p.pre = v;
            else if (!strcmp(a, "--name")) p.name = v;
            else p.out_type = v;
            continue;
        }
        if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (i + 1 >= argc || !cli_parse_i32("--threads", argv[++i], 1, 1024, &threads)) return 2;
            continue;
        }
        if (a[0] == '-' && a[1]) {
            fprintf(stderr, "wafer convert: unknown option '%s'\n\n", a);
            usage(stderr);
            return 2;
        }
        if (n_pos == 2) { usage(stderr); return 2; }
        pos[n_pos++] = a;
    }
    if (n_pos != 2) { usage(stderr); return 2; }
    cli_progress pr;
    cli_progress_start(&pr, "convert");
    p.n_threads = threads;
    p.on_tensor = on_tensor;
    p.user = &pr;
    wf_error err = {0};
    double t0 = wf_time_now_cli();
    wf_status st = wf_convert(pos[0], pos[1], &p, &err);
    cli_progress_update(&pr, 1.0, "done");
    cli_progress_end(&pr);
    if (st) {
        fprintf(stderr, "wafer convert: %s\n", err.msg[0] ? err.msg : wf_status_name(st));
        return 1;
    }
    fprintf(stderr, "wafer convert: wrote %s (%s) in %.1f s\n", pos[1], p.vocab_only ? "vocab only" : p.out_type,
            wf_time_now_cli() - t0);
    return 0;
}
