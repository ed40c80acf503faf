/* cmd_template.c — `wafer template`: render a chat template (the model's
 * tokenizer.chat_template, a template file or a built-in format) with
 * messages from a JSON file, and print the prompt exactly as the model would
 * be given it. */
#include "cli.h"

#include "format/gguf.h"
#include "chat/template.h"
#include "text/tokenizer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void template_help(FILE *f) {
    fprintf(f,
            "usage: wafer template [-m MODEL | --chat-template FILE|NAME] --messages FILE.json\n"
            "                      [--no-generation-prompt] [--bos TEXT] [--eos TEXT] [--vars JSON]\n\n"
            "Render a chat template with OpenAI-style messages ([{\"role\", \"content\"}], content\n"
            "a string or an array of {\"type\":\"text\",\"text\":...} parts) and print the prompt\n"
            "exactly, without a newline added.\n\n"
            "  -m, --model FILE        GGUF model or vocabulary-only file: its\n"
            "                          tokenizer.chat_template, BOS and EOS text\n"
            "  --chat-template X       a template file, or a built-in format:");
    for (const char *const *n = wf_template_builtin_names(); *n; n++) fprintf(f, " %s", *n);
    fprintf(f,
            "\n"
            "  --messages FILE         the messages (JSON array; '-' reads stdin)\n"
            "  --no-generation-prompt  add_generation_prompt = false (default true)\n"
            "  --bos TEXT, --eos TEXT  bos_token / eos_token (default: the model's, or \"\")\n"
            "  --vars JSON             extra template variables as a JSON object,\n"
            "                          e.g. '{\"enable_thinking\": false}'\n"
            "  -h, --help              this help\n\n"
            "strftime_now() uses the current time, or WAFER_TEMPLATE_NOW (unix seconds).\n");
}

int cmd_template(int argc, char **argv) {
    const char *model = NULL, *tmpl_arg = NULL, *messages = NULL, *bos = NULL, *eos = NULL, *vars = NULL;
    bool gen = true;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_val = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            template_help(stdout);
            return 0;
        } else if ((!strcmp(a, "-m") || !strcmp(a, "--model")) && has_val) {
            model = argv[++i];
        } else if (!strcmp(a, "--chat-template") && has_val) {
            tmpl_arg = argv[++i];
        } else if (!strcmp(a, "--messages") && has_val) {
            messages = argv[++i];
        } else if (!strcmp(a, "--bos") && has_val) {
            bos = argv[++i];
        } else if (!strcmp(a, "--eos") && has_val) {
            eos = argv[++i];
        } else if (!strcmp(a, "--vars") && has_val) {
            vars = argv[++i];
        } else if (!strcmp(a, "--no-generation-prompt")) {
            gen = false;
        } else {
            fprintf(stderr, "wafer template: unknown option or missing value: %s\n", a);
            template_help(stderr);
            return 2;
        }
    }
    if (!messages) {
        fprintf(stderr, "wafer template: need --messages (and -m MODEL or --chat-template)\n");
        template_help(stderr);
        return 2;
    }
    char mbuf[CLI_PATH_MAX];
    if (!model && !tmpl_arg && !(model = cli_model_or_default(NULL, mbuf, sizeof mbuf))) return 2;
    int64_t now = 0;
    const char *env_now = getenv("WAFER_TEMPLATE_NOW");
    if (env_now && *env_now) {
        char *e;
        errno = 0;
        long long v = strtoll(env_now, &e, 10);
        if (errno || *e || v <= 0) {
            fprintf(stderr, "wafer template: WAFER_TEMPLATE_NOW must be unix seconds\n");
            return 2;
        }
        now = v;
    }

    int rc = 1;
    wf_error err = {0};
    wf_gguf *g = NULL;
    wf_vocab *voc = NULL;
    wf_template *t = NULL;
    char *file_src = NULL, *msg_text = NULL, *bos_text = NULL, *eos_text = NULL, *out = NULL;
    const char *src = NULL;
    size_t src_len = 0, msg_len = 0, out_len = 0;

    if (model) {
        if (wf_gguf_open(model, &g, &err) != WF_OK) {
            fprintf(stderr, "wafer template: %s\n", err.msg);
            goto done;
        }
        if (wf_vocab_load(g, &voc, &err) == WF_OK) {
            bos_text = wf_token_to_str(voc, wf_vocab_bos(voc));
            eos_text = wf_token_to_str(voc, wf_vocab_eos(voc));
        } else if (!bos || !eos) {
            fprintf(stderr, "wafer template: warning: %s: no vocabulary (%s); bos/eos are \"\"\n", model, err.msg);
        }
    }
    if (tmpl_arg) {
        src = wf_template_builtin(tmpl_arg);
        if (src) {
            src_len = strlen(src);
        } else {
            if (!(file_src = cli_read_file(tmpl_arg, &src_len))) {
                fprintf(stderr, "wafer template: --chat-template is neither a file nor a built-in format\n");
                goto done;
            }
            src = file_src;
        }
    } else if (wf_template_from_gguf(g, &src, &src_len, &err) != WF_OK) {
        fprintf(stderr, "wafer template: %s\n", err.msg);
        goto done;
    }
    if (wf_template_compile(src, src_len, &t, &err) != WF_OK) {
        fprintf(stderr, "wafer template: %s\n", err.msg);
        goto done;
    }
    msg_text = !strcmp(messages, "-") ? cli_read_stdin("template", (size_t)256 << 20, &msg_len)
                                      : cli_read_file(messages, &msg_len);
    if (!msg_text) goto done;

    wf_template_opts o;
    wf_template_opts_init(&o);
    o.add_generation_prompt = gen;
    o.bos_token = bos ? bos : bos_text ? bos_text : "";
    o.eos_token = eos ? eos : eos_text ? eos_text : "";
    o.now = now;
    o.extra_json = vars;
    if (wf_template_render_json(t, msg_text, msg_len, &o, &out, &out_len, &err) != WF_OK) {
        fprintf(stderr, "wafer template: %s\n", err.msg);
        goto done;
    }
    if (fwrite(out, 1, out_len, stdout) != out_len || fflush(stdout) != 0) {
        fprintf(stderr, "wafer template: write failed: %s\n", strerror(errno));
        goto done;
    }
    rc = 0;
done:
    free(out);
    free(msg_text);
    free(file_src);
    free(bos_text);
    free(eos_text);
    wf_template_free(t);
    if (voc) wf_vocab_free(voc);
    if (g) wf_gguf_close(g);
    return rc;
}
