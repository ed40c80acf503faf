/* cmd_info.c — `wafer info MODEL`: architecture, hyper-parameters, tokenizer,
 * tensor types and sizes, and the memory a run needs. */
#include "cli.h"

#include "format/gguf.h"
#include "model/model.h"
#include "format/quant.h"
#include "text/tokenizer.h"
#include "serve/server.h"

#include <string.h>

static void usage(FILE *f) {
    fprintf(f, "usage: wafer info [[-m] MODEL.gguf] [--kv] [--tensors]\n\n"
               "Describe a GGUF model: architecture, hyper-parameters, tokenizer, tensor\n"
               "types and sizes, and the memory needed to run it.\n\n"
               "  --kv        print every metadata key and value\n"
               "  --tensors   print every tensor (name, type, shape, bytes)\n");
}

static double mib(uint64_t b) { return (double)b / (1024.0 * 1024.0); }

/* The context the commands and the server take without -c, and what its KV
 * cache costs (K and V are the same size: n_head_kv x head_dim per token and
 * layer each; sliding-window layers keep a ring). */
static void print_default_ctx(const wf_model *m) {
    const wf_hparams *hp = wf_model_hparams(m);
    const wf_context_params cp = wf_context_default_params();
    const char *kvt = wf_kv_type_name(cp.kv_type);
    char why[256];
    int32_t n = wf_context_default_n_ctx(m, &cp, why, sizeof why);
    uint64_t kv = wf_kv_bytes_ctx(hp, n, cp.kv_full ? 0 : cp.n_batch, cp.kv_type);
    printf("default ctx:   %d tokens for run, chat, edit and score without -c (%s)\n", n,
           why[0] ? why : "the training context");
    printf("  KV cache (%s): %.1f MiB = K %.1f MiB + V %.1f MiB\n", kvt, mib(kv), mib(kv / 2), mib(kv - kv / 2));
    wf_server_config sc;
    wf_server_config_init(&sc);
    int32_t ns = wf_server_default_n_ctx(m);
    uint64_t kvs = wf_kv_bytes_ctx(hp, ns, sc.ctx.kv_full ? 0 : sc.ctx.n_batch, sc.ctx.kv_type);
    printf("  wafer serve: %d tokens per slot (the training context, at most %d), KV cache (%s) %.1f MiB = K %.1f MiB + "
           "V %.1f MiB per slot, %.1f MiB for its %d slots\n",
           ns, WF_SERVER_SLOT_CTX_MAX, wf_kv_type_name(sc.ctx.kv_type), mib(kvs), mib(kvs / 2), mib(kvs - kvs / 2),
           mib(kvs * (uint64_t)sc.n_parallel), sc.n_parallel);
    int32_t t = hp->n_ctx_train;
    printf("  wafer complete: %d tokens (the training context, at most %d: its prompt is trimmed to fit)\n",
           t > 0 && t < CLI_COMPLETE_CTX_MAX ? t : CLI_COMPLETE_CTX_MAX, CLI_COMPLETE_CTX_MAX);
}

int cmd_info(int argc, char **argv) {
    const char *path = NULL;
    bool all_kv = false, all_tensors = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { usage(stdout); return 0; }
        if (!strcmp(argv[i], "--kv")) { all_kv = true; continue; }
        if (!strcmp(argv[i], "--tensors")) { all_tensors = true; continue; }
        if (!strcmp(argv[i], "-m") && i + 1 < argc) { path = argv[++i]; continue; }
        if (argv[i][0] == '-') {
            fprintf(stderr, "wafer info: unknown option '%s'\n\n", argv[i]);
            usage(stderr);
            return 2;
        }
        if (path) { usage(stderr); return 2; }
        path = argv[i];
    }
    char mbuf[CLI_PATH_MAX];
    if (!(path = cli_model_or_default(path, mbuf, sizeof mbuf))) return 2;

    wf_error err = {0};
    wf_gguf *g = NULL;
    if (wf_gguf_open(path, &g, &err)) {
        fprintf(stderr, "wafer info: %s\n", err.msg);
        return 1;
    }
    printf("file:          %s (GGUF v%u, %.1f MiB, alignment %llu)\n", path, wf_gguf_version(g),
           mib(wf_gguf_file_size(g)), (unsigned long long)wf_gguf_alignment(g));
    wf_str s;
    if (!wf_gguf_get_str(g, "general.name", &s, NULL) && s.len < 1024)
        printf("name:          %.*s\n", (int)s.len, s.ptr);

    /* Tensor summary by type. */
    uint64_t bytes_by_type[WF_TYPE_COUNT] = {0}, n_by_type[WF_TYPE_COUNT] = {0};
    uint64_t total = 0, params = 0;
    for (int64_t i = 0; i < wf_gguf_n_tensors(g); i++) {
        const wf_gguf_tensor *t = wf_gguf_tensor_at(g, i);
        uint64_t ne = 1;
        for (uint32_t d = 0; d < t->n_dims; d++) ne *= (uint64_t)t->ne[d];
        params += ne;
        total += t->nbytes;
        if (t->type < WF_TYPE_COUNT) {
            bytes_by_type[t->type] += t->nbytes;
            n_by_type[t->type]++;
        }
    }

    /* Load through the engine: hyper-parameters, and whether wafer runs it. */
    wf_model *m = NULL;
    wf_model_params mp = wf_model_default_params();
    wf_status st = wf_model_load(path, &mp, &m, &err);
    if (st == WF_OK) {
        const wf_hparams *hp = wf_model_hparams(m);
        printf("architecture:  %s\n", wf_arch_name(hp->arch));
        printf("layers:        %d\n", hp->n_layer);
        if (hp->n_expert > 0) {
            printf("width:         %d\n", hp->n_embd);
            printf("experts:       %d per layer, %d used per token (router: ffn_gate_inp), expert feed-forward %d\n",
                   hp->n_expert, hp->n_expert_used, hp->n_ff);
        } else {
            printf("width:         %d (feed-forward %d)\n", hp->n_embd, hp->n_ff);
        }
        printf("heads:         %d query, %d key/value (head dim %d)\n", hp->n_head, hp->n_head_kv, hp->head_dim);
        printf("vocabulary:    %d tokens\n", hp->n_vocab);
        printf("context:       %d tokens (training)\n", hp->n_ctx_train);
        printf("rms eps:       %g\n", (double)hp->rms_eps);
        printf("rope:          %s order, base %g, %d dims", hp->rope_order == WF_ROPE_NEOX ? "neox" : "normal",
               (double)hp->rope_base, hp->rope_dim);
        if (hp->rope_scaling == WF_ROPE_SCALING_LINEAR) printf(", linear scaling x%g", (double)hp->rope_factor);
        if (hp->rope_scaling == WF_ROPE_SCALING_YARN)
            printf(", YaRN x%g from %d", (double)hp->rope_factor, hp->rope_orig_ctx);
        printf("\n");
        printf("output:        %s\n", wf_model_output_tied(m) ? "tied to token embeddings" : "separate matrix");
        const wf_vocab *v = wf_model_vocab(m);
        if (v)
            printf("tokenizer:     %s (pre: %s), %d tokens, bos %d, eos %d\n", wf_vocab_model_name(v),
                   wf_vocab_pre_name(v), wf_vocab_n_tokens(v), wf_vocab_bos(v), wf_vocab_eos(v));
        else
            printf("tokenizer:     none (token ids only)\n");
    } else {
        wf_str a;
        if (!wf_gguf_get_str(g, "general.architecture", &a, NULL) && a.len < 256)
            printf("architecture:  %.*s\n", (int)a.len, a.ptr);
        printf("wafer can run: no — %s\n", err.msg);
    }
    if (st == WF_OK && wf_model_hparams(m)->n_expert > 0)
        printf("parameters:    %.1f M total, %.1f M active per token (%d of %d experts)\n", (double)params / 1e6,
               (double)wf_model_n_params_active(m) / 1e6, wf_model_hparams(m)->n_expert_used, wf_model_hparams(m)->n_expert);
    else
        printf("parameters:    %.1f M\n", (double)params / 1e6);
    printf("tensors:       %lld, %.1f MiB\n", (long long)wf_gguf_n_tensors(g), mib(total));
    for (int t = 0; t < WF_TYPE_COUNT; t++) {
        if (!n_by_type[t]) continue;
        char tb[32];
        printf("  %-8s %5llu tensors %10.1f MiB\n", wf_type_name((uint32_t)t, tb, sizeof tb),
               (unsigned long long)n_by_type[t], mib(bytes_by_type[t]));
    }
    if (st == WF_OK) {
        const wf_hparams *hp = wf_model_hparams(m);
        int32_t ctxs[] = {4096, 16384, 32768, hp->n_ctx_train, 131072};
        printf("memory:        weights %.1f MiB (mapped; %.1f MiB read per token)\n", mib(total),
               mib(wf_model_weight_bytes(m)));
        for (size_t i = 0; i < sizeof ctxs / sizeof ctxs[0]; i++) {
            if (ctxs[i] <= 0 || (i == 3 && (ctxs[i] == 4096 || ctxs[i] == 16384 || ctxs[i] == 32768 || ctxs[i] == 131072)))
                continue;
            /* n_batch 512 (the default): sliding-window layers keep a ring */
            const uint64_t f16 = wf_kv_bytes_ctx(hp, ctxs[i], 512, WF_KV_F16), all = wf_kv_bytes(hp, ctxs[i], WF_KV_F16);
            printf("  KV cache at %6d tokens: %8.1f MiB f16, %8.1f MiB q8_0", ctxs[i], mib(f16),
                   mib(wf_kv_bytes_ctx(hp, ctxs[i], 512, WF_KV_Q8_0)));
            if (f16 < all)
                printf(" (sliding-window layers: a ring of %d positions; %.1f MiB f16 if they kept all)",
                       wf_kv_ring_rows(hp->n_swa, ctxs[i], 512), mib(all));
            printf("\n");
        }
        print_default_ctx(m);
    }
    if (all_kv) {
        printf("\nmetadata (%lld keys):\n", (long long)wf_gguf_n_kv(g));
        char buf[512];
        for (int64_t i = 0; i < wf_gguf_n_kv(g); i++) {
            wf_str k = wf_gguf_key_at(g, i);
            wf_gguf_format_value(g, i, buf, sizeof buf);
            printf("  %.*s = %s\n", (int)(k.len < 200 ? k.len : 200), k.ptr, buf);
        }
    }
    if (all_tensors) {
        printf("\ntensors:\n");
        for (int64_t i = 0; i < wf_gguf_n_tensors(g); i++) {
            const wf_gguf_tensor *t = wf_gguf_tensor_at(g, i);
            char tb[32], shape[96] = "";
            size_t off = 0;
            for (uint32_t d = 0; d < t->n_dims && off < sizeof shape; d++)
                off += (size_t)snprintf(shape + off, sizeof shape - off, "%s%lld", d ? " x " : "", (long long)t->ne[d]);
            printf("  %-40s %-6s %-24s %10.2f MiB\n", t->name, wf_type_name(t->type, tb, sizeof tb), shape, mib(t->nbytes));
        }
    }
    wf_model_free(m);
    wf_gguf_close(g);
    return 0;
}
