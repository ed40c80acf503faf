/* common.c — option parsing, model loading, input and progress helpers
 * shared by the `wafer` subcommands. */
#include "cli.h"

#include "base/buf.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void cli_opts_init(cli_opts *o) {
    memset(o, 0, sizeof *o);
    o->batch = 512;
    o->isa = -1;
    o->kv = WF_KV_F16;
    o->n_predict = 256;
    o->sp = wf_sampler_default_params();
    o->parse_special = true;
    o->add_special = true;
}

bool cli_parse_i32(const char *flag, const char *s, int64_t lo, int64_t hi, int32_t *out) {
    char *end;
    errno = 0;
    long long v = s ? strtoll(s, &end, 10) : 0;
    if (!s || !*s || *end || errno || v < lo || v > hi) {
        fprintf(stderr, "wafer: %s expects an integer in [%lld, %lld], got '%s'\n", flag,
                (long long)lo, (long long)hi, s ? s : "");
        return false;
    }
    *out = (int32_t)v;
    return true;
}

bool cli_parse_f32(const char *flag, const char *s, double lo, double hi, float *out) {
    char *end;
    errno = 0;
    double v = s ? strtod(s, &end) : 0;
    if (!s || !*s || *end || errno || !isfinite(v) || v < lo || v > hi) {
        fprintf(stderr, "wafer: %s expects a number in [%g, %g], got '%s'\n", flag, lo, hi, s ? s : "");
        return false;
    }
    *out = (float)v;
    return true;
}

static const char *need_value(int argc, char **argv, int *i) {
    if (*i + 1 >= argc) {
        fprintf(stderr, "wafer: option %s needs a value\n", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

/* -t N: more threads than 4 per core only time-slice the same cores (and
 * -t 1024 on a small machine is a typo): capped there, with a warning. */
static bool parse_threads(const char *a, const char *v, int32_t *out) {
    if (!cli_parse_i32(a, v, 1, 1024, out)) return false;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int32_t cap = cores > 0 ? (int32_t)(4 * cores) : 1024;
    if (cap > 1024) cap = 1024;
    if (*out > cap) {
        fprintf(stderr, "wafer: warning: %s %d is more than 4 threads per core (%ld cores): using %d\n", a, *out, cores, cap);
        *out = cap;
    }
    return true;
}

int cli_take_opt(cli_opts *o, int groups, int argc, char **argv, int *i) {
    const char *a = argv[*i], *v;
#define IS(x) (!strcmp(a, x))
#define VAL() do { if (!(v = need_value(argc, argv, i))) return -1; } while (0)
    if (groups & CLI_G_MODEL) {
        if (IS("-m") || IS("--model")) { VAL(); o->model = v; return 1; }
        if (IS("-t") || IS("--threads")) { VAL(); return parse_threads(a, v, &o->threads) ? 1 : -1; }
        if (IS("--isa")) {
            VAL();
            if (!strcmp(v, "scalar")) o->isa = 0;
            else if (!strcmp(v, "avx2")) o->isa = 1;
            else if (!strcmp(v, "avx512")) o->isa = 2;
            else if (!strcmp(v, "auto")) o->isa = -1;
            else { fprintf(stderr, "wafer: --isa expects auto, scalar, avx2 or avx512, got '%s'\n", v); return -1; }
            return 1;
        }
    }
    if (groups & CLI_G_INPUT) {
        if (IS("-p") || IS("--prompt")) { VAL(); o->prompt = v; return 1; }
        if (IS("-f") || IS("--file")) { VAL(); o->file = v; return 1; }
        if (IS("--ids")) { VAL(); o->ids = v; return 1; }
        if (IS("--no-parse-special")) { o->parse_special = false; return 1; }
        if (IS("--parse-special")) { o->parse_special = true; return 1; }
        if (IS("--no-special")) { o->add_special = false; return 1; }
    }
    if (groups & CLI_G_CTX) {
        if (IS("-c") || IS("--ctx-size")) { VAL(); return cli_parse_i32(a, v, 0, 1 << 24, &o->ctx_size) ? 1 : -1; }
        if (IS("-b") || IS("--batch")) { VAL(); return cli_parse_i32(a, v, 1, 1 << 16, &o->batch) ? 1 : -1; }
        if (IS("--kv")) {
            VAL();
            if (!strcmp(v, "f16")) o->kv = WF_KV_F16;
            else if (!strcmp(v, "q8_0")) o->kv = WF_KV_Q8_0;
            else if (!strcmp(v, "f32")) o->kv = WF_KV_F32;
            else { fprintf(stderr, "wafer: --kv expects f16, q8_0 or f32, got '%s'\n", v); return -1; }
            return 1;
        }
    }
    if (groups & CLI_G_GEN) {
        if (IS("-n") || IS("--n-predict")) { VAL(); return cli_parse_i32(a, v, -1, 1 << 24, &o->n_predict) ? 1 : -1; }
        if (IS("--stop")) {
            VAL();
            if (!*v) { fprintf(stderr, "wafer: --stop needs a non-empty string\n"); return -1; }
            if (o->n_stops >= CLI_MAX_STOPS) { fprintf(stderr, "wafer: at most %d --stop strings\n", CLI_MAX_STOPS); return -1; }
            o->stops[o->n_stops++] = v;
            return 1;
        }
    }
    if (groups & CLI_G_SAMPLE) {
        wf_sampler_params *s = &o->sp;
        if (IS("--temp") || IS("--temperature")) { VAL(); return cli_parse_f32(a, v, 0, 100, &s->temperature) ? 1 : -1; }
        if (IS("--top-k")) { VAL(); return cli_parse_i32(a, v, 0, 1 << 30, &s->top_k) ? 1 : -1; }
        if (IS("--top-p")) { VAL(); return cli_parse_f32(a, v, 0, 1, &s->top_p) ? 1 : -1; }
        if (IS("--min-p")) { VAL(); return cli_parse_f32(a, v, 0, 1, &s->min_p) ? 1 : -1; }
        if (IS("--repeat-penalty")) { VAL(); return cli_parse_f32(a, v, 0.01, 100, &s->repeat_penalty) ? 1 : -1; }
        if (IS("--repeat-last-n")) { VAL(); return cli_parse_i32(a, v, -1, 1 << 24, &s->repeat_last_n) ? 1 : -1; }
        if (IS("--presence-penalty")) { VAL(); return cli_parse_f32(a, v, -10, 10, &s->presence_penalty) ? 1 : -1; }
        if (IS("--frequency-penalty")) { VAL(); return cli_parse_f32(a, v, -10, 10, &s->frequency_penalty) ? 1 : -1; }
        if (IS("-s") || IS("--seed")) {
            VAL();
            char *end;
            errno = 0;
            unsigned long long x = strtoull(v, &end, 10);
            if (!*v || *end || errno || *v == '-') { fprintf(stderr, "wafer: --seed expects a non-negative integer, got '%s'\n", v); return -1; }
            s->seed = x;
            return 1;
        }
    }
#undef IS
#undef VAL
    return 0;
}

void cli_print_opts_help(FILE *f, int groups) {
    if (groups & CLI_G_MODEL)
        fprintf(f, "  -m, --model FILE        GGUF model (default: $WAFER_MODEL, else the embedded\n"
                   "                          model models/wafer-embedded.gguf)\n"
                   "  -t, --threads N         worker threads (default: number of cores)\n"
                   "  --isa auto|scalar|avx2|avx512  kernels to use (default: the best the CPU has)\n");
    if (groups & CLI_G_INPUT)
        fprintf(f, "  -p, --prompt TEXT       input text\n"
                   "  -f, --file FILE         input text from a file\n"
                   "  --ids \"1 2 3\"           input as token ids (bypasses the tokenizer)\n"
                   "  --no-parse-special      treat special-token text (<|...|>) as plain text\n"
                   "  --no-special            do not add BOS/EOS even if the model asks for them\n");
    if (groups & CLI_G_CTX)
        fprintf(f, "  -c, --ctx-size N        context size in tokens (default: the model's training context, capped by free memory)\n"
                   "  -b, --batch N           tokens per forward pass in prefill (default 512)\n"
                   "  --kv f16|q8_0|f32       KV cache element type (default f16)\n");
    if (groups & CLI_G_GEN)
        fprintf(f, "  -n, --n-predict N       tokens to generate (default 256; -1: until the end)\n"
                   "  --stop TEXT             stop when TEXT is generated (repeatable)\n");
    if (groups & CLI_G_SAMPLE)
        fprintf(f, "  --temp T                temperature (default 0.8; 0 = greedy)\n"
                   "  --top-k K               keep the K most likely tokens (default 40; 0 = off)\n"
                   "  --top-p P               nucleus sampling (default 0.95; 1 = off)\n"
                   "  --min-p P               drop tokens below P x the top probability (default 0.05)\n"
                   "  --repeat-penalty X      penalise recent tokens (default 1.0 = off)\n"
                   "  --repeat-last-n N       window for the penalties (default 64; -1 = all)\n"
                   "  --presence-penalty X    OpenAI-style presence penalty (default 0)\n"
                   "  --frequency-penalty X   OpenAI-style frequency penalty (default 0)\n"
                   "  -s, --seed N            random seed (same seed, same output)\n");
}

/* ---- progress bar ---- */

void cli_progress_start(cli_progress *p, const char *label) {
    p->tty = isatty(2);
    p->last_pct = -1;
    p->label = label;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    p->t0 = ts.tv_sec + ts.tv_nsec * 1e-9;
}

void cli_progress_update(cli_progress *p, double frac, const char *what) {
    if (!p->tty) return;
    if (frac < 0) frac = 0;
    if (frac > 1) frac = 1;
    int pct = (int)(frac * 100.0);
    if (pct == p->last_pct && !what) return;
    p->last_pct = pct;
    char bar[31];
    int fill = (int)(frac * 30.0);
    for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
    bar[30] = 0;
    fprintf(stderr, "\r%s [%s] %3d%% %-40.40s", p->label, bar, pct, what ? what : "");
    fflush(stderr);
}

void cli_progress_end(cli_progress *p) {
    if (!p->tty || p->last_pct < 0) return;
    fprintf(stderr, "\r%*s\r", 100, "");
    fflush(stderr);
}

static bool load_progress(uint64_t done, uint64_t total, void *user) {
    cli_progress_update(user, total ? (double)done / (double)total : 1.0, NULL);
    return true;
}

#define CLI_EMBEDDED_NAME "wafer-embedded.gguf"

static bool is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

const char *cli_model_or_default(const char *given, char *buf, size_t cap) {
    if (given) return given;
    const char *env = getenv("WAFER_MODEL");
    if (env && *env) return env;
    char exe[CLI_PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) *slash = 0;
        static const char *const rel[] = {"/../models/", "/../share/wafer/", "/models/", "/"};
        for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
            int k = snprintf(buf, cap, "%s%s" CLI_EMBEDDED_NAME, exe, rel[i]);
            if (k > 0 && (size_t)k < cap && is_file(buf)) return buf;
        }
    }
#ifdef WAFER_SOURCE_DIR
    {
        int k = snprintf(buf, cap, "%s/models/" CLI_EMBEDDED_NAME, WAFER_SOURCE_DIR);
        if (k > 0 && (size_t)k < cap && is_file(buf)) return buf;
    }
#endif
    fprintf(stderr, "wafer: no model given (-m FILE.gguf) and the embedded model "
                    "models/" CLI_EMBEDDED_NAME " was not found (set WAFER_MODEL to choose one)\n");
    return NULL;
}

wf_model *cli_load_model(const cli_opts *o) {
    char buf[CLI_PATH_MAX];
    const char *path = cli_model_or_default(o->model, buf, sizeof buf);
    if (!path) return NULL;
    cli_progress pr;
    cli_progress_start(&pr, "loading");
    wf_model_params mp = wf_model_default_params();
    mp.isa = o->isa;
    if (!o->quiet) {
        mp.progress = load_progress;
        mp.progress_user = &pr;
    }
    wf_model *m = NULL;
    wf_error err = {0};
    wf_status st = wf_model_load(path, &mp, &m, &err);
    cli_progress_end(&pr);
    if (st) {
        fprintf(stderr, "wafer: %s\n", err.msg[0] ? err.msg : wf_status_name(st));
        return NULL;
    }
    return m;
}

wf_context *cli_make_context(wf_model *m, const cli_opts *o, int32_t min_ctx) {
    wf_context_params cp = wf_context_default_params();
    /* No -c: the library's default, the model's training context capped by
     * free memory (the KV cache is committed only as it fills, so a large
     * context costs nothing until used). min_ctx is what the job asks for;
     * commands stop at a full context with a clear message. */
    (void)min_ctx;
    cp.n_ctx = o->ctx_size;
    cp.n_threads = o->threads;
    cp.n_batch = o->batch;
    cp.kv_type = o->kv;
    wf_context *c = NULL;
    wf_error err = {0};
    wf_status st = wf_context_create(m, &cp, &c, &err);
    if (st) {
        fprintf(stderr, "wafer: %s\n", err.msg[0] ? err.msg : wf_status_name(st));
        return NULL;
    }
    const char *note = wf_context_notice(c);
    if (note && *note && !o->quiet) fprintf(stderr, "wafer: %s\n", note);
    return c;
}

char *cli_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "wafer: cannot open %s: %s\n", path, strerror(errno));
        return NULL;
    }
    struct stat sb;
    if (fstat(fileno(f), &sb) || !S_ISREG(sb.st_mode)) {
        fprintf(stderr, "wafer: %s is not a regular file\n", path);
        fclose(f);
        return NULL;
    }
    size_t n = (size_t)sb.st_size;
    char *buf = malloc(n + 1);
    if (!buf) {
        fprintf(stderr, "wafer: %s: out of memory (%zu bytes)\n", path, n);
        fclose(f);
        return NULL;
    }
    size_t got = fread(buf, 1, n, f);
    fclose(f);
    if (got != n) {
        fprintf(stderr, "wafer: %s: short read\n", path);
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

char *cli_read_stdin(const char *who, size_t max, size_t *len) {
    wf_buf b = {0};
    char tmp[65536];
    size_t k;
    wf_buf_add(&b, "", 0); /* an empty input is an empty string, not NULL */
    while ((k = fread(tmp, 1, sizeof tmp, stdin)) > 0) {
        if (k > max - b.n) {
            fprintf(stderr, "wafer %s: stdin is larger than %zu bytes\n", who, max);
            wf_buf_free(&b);
            return NULL;
        }
        wf_buf_add(&b, tmp, k);
    }
    if (b.failed || ferror(stdin)) {
        fprintf(stderr, "wafer %s: cannot read stdin: %s\n", who, b.failed ? "out of memory" : strerror(errno));
        wf_buf_free(&b);
        return NULL;
    }
    return wf_buf_take(&b, len);
}

static int32_t *parse_ids(const char *s, int32_t n_vocab, size_t *n) {
    size_t cap = 16, k = 0;
    int32_t *ids = malloc(cap * sizeof *ids);
    if (!ids) return NULL;
    const char *p = s;
    while (*p) {
        while (*p == ' ' || *p == ',' || *p == '\t' || *p == '\n') p++;
        if (!*p) break;
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (end == p || errno || v < 0 || v >= n_vocab) {
            fprintf(stderr, "wafer: --ids: bad token id near '%.20s' (the vocabulary has %d tokens)\n", p, n_vocab);
            free(ids);
            return NULL;
        }
        if (k == cap && !WF_ARRAY_RESERVE(ids, cap, k + 1)) {
            free(ids);
            return NULL;
        }
        ids[k++] = (int32_t)v;
        p = end;
    }
    if (k == 0) {
        fprintf(stderr, "wafer: --ids: no token ids given\n");
        free(ids);
        return NULL;
    }
    *n = k;
    return ids;
}

int32_t *cli_input_tokens(const cli_opts *o, const wf_model *m, size_t *n) {
    int given = !!o->prompt + !!o->file + !!o->ids;
    if (given != 1) {
        fprintf(stderr, "wafer: give exactly one of -p TEXT, -f FILE or --ids \"...\"\n");
        return NULL;
    }
    if (o->ids) return parse_ids(o->ids, wf_model_n_vocab(m), n);
    const wf_vocab *v = wf_model_vocab(m);
    if (!v) {
        fprintf(stderr, "wafer: %s has no tokenizer; use --ids\n", o->model ? o->model : "the model");
        return NULL;
    }
    size_t len = 0;
    char *text = NULL;
    const char *src = o->prompt;
    if (o->file) {
        if (!(text = cli_read_file(o->file, &len))) return NULL;
        src = text;
    } else {
        len = strlen(src);
    }
    int32_t *toks = NULL;
    wf_error err = {0};
    wf_status st = wf_tokenize(v, src, len, o->add_special, o->parse_special, &toks, n, &err);
    free(text);
    if (st) {
        fprintf(stderr, "wafer: tokenize: %s\n", err.msg[0] ? err.msg : wf_status_name(st));
        return NULL;
    }
    if (*n == 0) {
        fprintf(stderr, "wafer: the input is empty\n");
        free(toks);
        return NULL;
    }
    return toks;
}

double wf_time_now_cli(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void cli_note_draft_max(const wf_model *m, int32_t draft_max) {
    const int32_t exact = wf_model_exact_batch(m);
    if (draft_max > 0 && exact <= draft_max)
        fprintf(stderr,
                "wafer: --draft-max %d lowered to %d: with this CPU's kernels this model's weights keep a forward pass "
                "bit-identical to one-token decoding only up to %d tokens\n",
                (int)draft_max, (int)(exact - 1), (int)exact);
}

/* ---- speculative decoding flags ------------------------------------------ */

int cli_take_spec(cli_spec *s, const char *cmd, int argc, char **argv, int *i) {
    const char *flag = argv[*i];
    if (strcmp(flag, "--spec") && strcmp(flag, "--predict") && strcmp(flag, "--draft-max")) return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "wafer %s: %s needs a value\n", cmd, flag);
        return -1;
    }
    const char *val = argv[++*i];
    if (!strcmp(flag, "--predict")) {
        s->predict_path = val;
    } else if (!strcmp(flag, "--draft-max")) {
        if (!cli_parse_i32(flag, val, 1, WF_SPEC_DRAFT_MAX_LIMIT, &s->draft_max)) return -1;
    } else if (!strcmp(val, "lookup")) {
        s->mode = WF_SPEC_LOOKUP;
    } else if (!strcmp(val, "none")) {
        s->mode = WF_SPEC_NONE;
    } else if (!strncmp(val, "draft:", 6) && val[6]) {
        s->mode = WF_SPEC_DRAFT;
        s->draft_path = val + 6;
    } else {
        fprintf(stderr, "wafer %s: --spec takes lookup, draft:MODEL.gguf or none, not '%s'\n", cmd, val);
        return -1;
    }
    return 1;
}

bool cli_spec_attach_draft(const cli_spec *s, const char *cmd, const cli_opts *o, wf_session *sess, wf_model **dm) {
    if (s->mode != WF_SPEC_DRAFT) return true;
    cli_opts od = *o;
    od.model = s->draft_path;
    if (!(*dm = cli_load_model(&od))) return false;
    wf_error err = {0};
    if (wf_session_set_draft(sess, *dm, NULL, &err)) {
        fprintf(stderr, "wafer %s: --spec draft:%s: %s\n", cmd, s->draft_path, err.msg);
        return false;
    }
    return true;
}

void cli_spec_params(const cli_spec *s, wf_gen_params *gp) {
    gp->spec = s->mode;
    gp->draft_max = s->draft_max;
}
