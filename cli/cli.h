/* cli.h — subcommands of the `wafer` executable and their shared helpers. */
#ifndef WF_CLI_H
#define WF_CLI_H

#include "wafer.h"
#include "gen/gen.h"
#include "base/buf.h"

#include <stdio.h>

int cmd_run(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_score(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_detokenize(int argc, char **argv);
int cmd_template(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_complete(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_edit(int argc, char **argv);
int cmd_serve(int argc, char **argv);

#define CLI_MAX_STOPS 16
/* `wafer complete` without -c: the training context, at most this (its
 * prompt is trimmed to the context; latency grows with the prompt). */
#define CLI_COMPLETE_CTX_MAX 4096

/* Options shared by the commands that load a model and generate. */
typedef struct cli_opts {
    const char *model;      /* -m                                        */
    const char *prompt;     /* -p                                        */
    const char *file;       /* -f                                        */
    const char *ids;        /* --ids "1 2 3"                             */
    int32_t threads;        /* -t, 0 = cores                             */
    int32_t isa;            /* --isa, -1 = best                          */
    int32_t ctx_size;       /* -c, 0 = model's                           */
    int32_t batch;          /* -b                                        */
    wf_kv_type kv;          /* --kv                                      */
    int32_t n_predict;      /* -n, -1 = until end of generation/context  */
    wf_sampler_params sp;
    const char *stops[CLI_MAX_STOPS];
    int n_stops;
    bool parse_special;     /* special-token text in the prompt           */
    bool add_special;       /* BOS/EOS as the vocabulary asks             */
    bool json;
    bool quiet;             /* no progress bar / timings                 */
} cli_opts;

void cli_opts_init(cli_opts *o);
/* Try to consume argv[*i] (and its value) as a shared option.
 * Returns 1 if consumed, 0 if not a shared option, -1 on a bad value
 * (message printed). Only the groups in `groups` are accepted. */
enum { CLI_G_MODEL = 1, CLI_G_INPUT = 2, CLI_G_CTX = 4, CLI_G_SAMPLE = 8, CLI_G_GEN = 16 };
int cli_take_opt(cli_opts *o, int groups, int argc, char **argv, int *i);
void cli_print_opts_help(FILE *f, int groups);

/* Number parsing with range checks; print a message naming the flag. */
bool cli_parse_i32(const char *flag, const char *s, int64_t lo, int64_t hi, int32_t *out);
/* --draft-max above what the model allows (wf_model_exact_batch - 1):
 * say on stderr that the engine lowers it. */
void cli_note_draft_max(const wf_model *m, int32_t draft_max);
bool cli_parse_f32(const char *flag, const char *s, double lo, double hi, float *out);

/* Speculative decoding flags shared by run, complete and edit:
 *   --spec lookup|draft:FILE|none   --predict FILE   --draft-max N */
typedef struct cli_spec {
    wf_spec_mode mode;
    const char *draft_path;   /* --spec draft:FILE                         */
    const char *predict_path; /* --predict FILE (each command reads it)    */
    int32_t draft_max;        /* 0: the engine's default                    */
} cli_spec;
/* Try to consume argv[*i] (and its value) as one of those flags; cmd names
 * the command in messages. Returns 1 if consumed, 0 if not ours, -1 on a
 * bad or missing value (message printed). */
int cli_take_spec(cli_spec *s, const char *cmd, int argc, char **argv, int *i);
/* With --spec draft:FILE, load the draft model (the other options as o) and
 * attach it to sess; *dm receives it (caller frees, after the session).
 * True when there is nothing to do or it worked; false after printing. */
bool cli_spec_attach_draft(const cli_spec *s, const char *cmd, const cli_opts *o, wf_session *sess, wf_model **dm);
/* The speculation settings into generation parameters (the prediction
 * tokens are the command's own). */
void cli_spec_params(const cli_spec *s, wf_gen_params *gp);

/* The model to use when -m is not given: $WAFER_MODEL if set, else the
 * embedded model (models/wafer-embedded.gguf) found next to the executable
 * (../models/, ../share/wafer/, its own folder) or in the source tree it was
 * built from. Returns NULL (after printing why) when there is none.
 * `given` is returned unchanged when not NULL; otherwise the path is
 * written to buf (cap bytes, CLI_PATH_MAX is enough). */
#define CLI_PATH_MAX 4096
const char *cli_model_or_default(const char *given, char *buf, size_t cap);

/* Load the model with a progress bar on a terminal. Prints errors.
 * o->model NULL means the default model (cli_model_or_default). */
wf_model *cli_load_model(const cli_opts *o);
wf_context *cli_make_context(wf_model *m, const cli_opts *o, int32_t min_ctx);

/* The input tokens: --ids, or the tokenized -p text / -f file.
 * Returns a malloc'd array (caller frees) or NULL after printing an error. */
int32_t *cli_input_tokens(const cli_opts *o, const wf_model *m, size_t *n);
/* Read a whole file (NUL-terminated; *len without it). */
char *cli_read_file(const char *path, size_t *len);
/* Read all of stdin, at most max bytes (NUL-terminated; *len without it).
 * NULL after printing "wafer WHO: ..." (too large, out of memory, a read
 * error). */
char *cli_read_stdin(const char *who, size_t max, size_t *len);

/* A progress bar on stderr when it is a terminal. */
typedef struct cli_progress {
    bool tty;
    int last_pct;
    double t0;
    const char *label;
} cli_progress;
void cli_progress_start(cli_progress *p, const char *label);
void cli_progress_update(cli_progress *p, double frac, const char *what);
void cli_progress_end(cli_progress *p);

/* ---- gpt-oss "harmony" answers on the terminal (harmony_view.c) -------- */

/* --reasoning show|hide|raw (chat and run). */
typedef enum cli_reasoning { CLI_REASONING_SHOW = 0, CLI_REASONING_HIDE, CLI_REASONING_RAW } cli_reasoning;
/* Consume --reasoning VALUE: 1 consumed, 0 not ours, -1 bad value (printed). */
int cli_take_reasoning(cli_reasoning *r, const char *cmd, int argc, char **argv, int *i);
/* Whether m answers in harmony channels: its vocabulary has the markers and
 * it is gpt-oss or its template (tmpl, may be NULL) writes them (the
 * server's rule). */
bool cli_is_harmony(const wf_model *m, const char *tmpl, size_t tmpl_len);
/* Write untrusted model text; escape: control bytes as ^X (a terminal). */
void cli_put_text(FILE *f, const char *s, size_t n, bool escape);

/* An answer being printed: fed the generated text as it comes. */
typedef struct cli_harmony {
    cli_reasoning mode;
    bool tty;                 /* stdout is a terminal: dim the reasoning   */
    wf_buf raw;               /* the markup generated so far               */
    size_t sent_r, sent_c;    /* reasoning / answer bytes printed          */
    int calls_shown;
    bool in_reasoning;
    bool ends_nl;             /* the last answer text printed ended a line */
    char *reasoning, *content; /* after the final feed: the split answer   */
    size_t reasoning_len, content_len;
} cli_harmony;
void cli_harmony_init(cli_harmony *h, cli_reasoning mode, bool tty);
/* Add n bytes and print what became showable; final: the answer is over
 * (closed: it ended at the end-of-generation token), the split is kept in
 * h->reasoning / h->content. False when out of memory. */
bool cli_harmony_feed(cli_harmony *h, const char *text, size_t n, bool final, bool closed);
void cli_harmony_free(cli_harmony *h);

/* Monotonic seconds. */
double wf_time_now_cli(void);

#endif
