/* main.c — the `wafer` command: dispatch to subcommands. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
} commands[] = {
    {"run", cmd_run, "complete a prompt, streaming tokens"},
    {"chat", cmd_chat, "interactive chat with the model's chat template"},
    {"info", cmd_info, "describe a GGUF model"},
    {"quantize", cmd_quantize, "convert a model's weights to another type"},
    {"score", cmd_score, "per-token log-probabilities and perplexity of a file"},
    {"bench", cmd_bench, "prefill/decode speed, time to first token, memory"},
    {"tokenize", cmd_tokenize, "text to token ids"},
    {"detokenize", cmd_detokenize, "token ids to text"},
    {"template", cmd_template, "render a chat template with messages"},
    {"edit", cmd_edit, "rewrite a file by an instruction (the file is the prediction)"},
    {"complete", cmd_complete, "fill in the middle: complete code at a cursor"},
    {"serve", cmd_serve, "OpenAI-compatible HTTP server (and llama.cpp's /completion, /infill)"},
    {"convert", cmd_convert, "convert a Hugging Face checkpoint to GGUF"},
};

static void usage(FILE *f) {
    fprintf(f, "wafer %s — latency-first inference for code models\n\n"
               "usage: wafer COMMAND [options]   (wafer COMMAND --help for details)\n\n"
               "commands:\n", WAFER_VERSION);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("wafer %s\n", WAFER_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "wafer: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
