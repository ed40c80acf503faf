/* cmd_quantize.c — `wafer quantize IN.gguf OUT.gguf TYPE`. */
#include "cli.h"

#include "convert/quantize.h"

#include <string.h>

static void usage(FILE *f) {
    fprintf(f, "usage: wafer quantize IN.gguf OUT.gguf TYPE [-t THREADS]\n\n"
               "Rewrite a model with its weight matrices in another type. Norms and biases\n"
               "keep their type. The K mixes follow llama.cpp's: Q4_K_M/Q5_K_M keep the output\n"
               "matrix and some attn_v/ffn_down matrices in Q6_K.\n\n"
               "TYPE: %s\n", wf_quantize_ftype_names);
}

static void on_tensor(int64_t i, int64_t n, const char *name, void *user) {
    cli_progress_update(user, (double)i / (double)(n ? n : 1), name);
}

int cmd_quantize(int argc, char **argv) {
    const char *pos[3];
    int n_pos = 0;
    int32_t threads = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { usage(stdout); return 0; }
        if (!strcmp(argv[i], "-t") || !strcmp(argv[i], "--threads")) {
            if (i + 1 >= argc || !cli_parse_i32("--threads", argv[++i], 1, 1024, &threads)) return 2;
            continue;
        }
        if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "wafer quantize: unknown option '%s'\n\n", argv[i]);
            usage(stderr);
            return 2;
        }
        if (n_pos == 3) { usage(stderr); return 2; }
        pos[n_pos++] = argv[i];
    }
    if (n_pos != 3) { usage(stderr); return 2; }
    cli_progress pr;
    cli_progress_start(&pr, "quantize");
    wf_quantize_params p = {.ftype = pos[2], .n_threads = threads, .on_tensor = on_tensor, .user = &pr};
    wf_error err = {0};
    double t0 = wf_time_now_cli();
    wf_status st = wf_quantize_file(pos[0], pos[1], &p, &err);
    cli_progress_update(&pr, 1.0, "done");
    cli_progress_end(&pr);
    if (st) {
        fprintf(stderr, "wafer quantize: %s\n", err.msg[0] ? err.msg : wf_status_name(st));
        return 1;
    }
    fprintf(stderr, "wafer quantize: wrote %s (%s) in %.1f s\n", pos[1], pos[2], wf_time_now_cli() - t0);
    return 0;
}
