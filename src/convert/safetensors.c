/* safetensors.c — validating, mmap-based reader for Hugging Face
 * *.safetensors files, single or sharded (model.safetensors.index.json).
 *
 * Format: u64 little-endian header length N, N bytes of JSON
 * {"name": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]},
 *  "__metadata__": {...}}, then the data; offsets are relative to byte 8 + N.
 * Everything from the file is hostile: the header length, every entry, dtype,
 * shape and offset range is checked against the file size and for overflow,
 * and tensors may not overlap.
 */
#include "convert/convert.h"
#include "base/buf.h"

#include "format/quant.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define ST_MAX_HEADER (256u << 20) /* 256 MiB of JSON is far beyond any real file */
#define ST_MAX_SHARDS 4096

typedef struct st_shard {
    char *path;
    void *map;
    uint64_t size;
} st_shard;

struct wf_safetensors {
    st_shard *shards;
    int n_shards;
    size_t cap_shards;
    wf_st_tensor *t;
    int64_t n;
    size_t cap;
};

void wf_st_close(wf_safetensors *s) {
    if (!s) return;
    for (int i = 0; i < s->n_shards; i++) {
        if (s->shards[i].map) munmap(s->shards[i].map, s->shards[i].size);
        free(s->shards[i].path);
    }
    for (int64_t i = 0; i < s->n; i++) free(s->t[i].name);
    free(s->shards);
    free(s->t);
    free(s);
}

int64_t wf_st_n_tensors(const wf_safetensors *s) { return s ? s->n : 0; }

const wf_st_tensor *wf_st_tensor_at(const wf_safetensors *s, int64_t i) {
    return s && i >= 0 && i < s->n ? &s->t[i] : NULL;
}

const wf_st_tensor *wf_st_find(const wf_safetensors *s, const char *name) {
    for (int64_t i = 0; s && i < s->n; i++)
        if (!strcmp(s->t[i].name, name)) return &s->t[i];
    return NULL;
}

static int dtype_of(const char *s, uint64_t *esize) {
    if (!strcmp(s, "F32")) { *esize = 4; return WF_TYPE_F32; }
    if (!strcmp(s, "F16")) { *esize = 2; return WF_TYPE_F16; }
    if (!strcmp(s, "BF16")) { *esize = 2; return WF_TYPE_BF16; }
    return -1;
}

static bool known_other_dtype(const char *s) {
    static const char *const other[] = {"F64", "I64", "I32", "I16", "I8", "U8", "U16", "U32",
                                        "U64", "BOOL", "F8_E4M3", "F8_E5M2", NULL};
    for (int i = 0; other[i]; i++)
        if (!strcmp(s, other[i])) return true;
    return false;
}

typedef struct span {
    uint64_t b, e;
    int64_t idx;
} span;

static int span_cmp(const void *a, const void *b) {
    const span *x = a, *y = b;
    return x->b < y->b ? -1 : x->b > y->b ? 1 : 0;
}

/* Parse one entry of the header. */
static wf_status parse_entry(wf_safetensors *s, const char *path, const char *key, json_t *v,
                             const uint8_t *data, uint64_t data_size, wf_error *err) {
    if (!json_is_object(v))
        return wf_fail(err, WF_ERR_FORMAT, "%s: header entry '%.64s' is not an object", path, key);
    json_t *jd = json_object_get(v, "dtype"), *js = json_object_get(v, "shape"),
           *jo = json_object_get(v, "data_offsets");
    if (!json_is_string(jd) || !json_is_array(js) || !json_is_array(jo) || json_array_size(jo) != 2)
        return wf_fail(err, WF_ERR_FORMAT,
                       "%s: tensor '%.64s' needs \"dtype\" (string), \"shape\" (array) and \"data_offsets\" ([begin, end])",
                       path, key);
    uint64_t esize = 0;
    const char *ds = json_string_value(jd);
    int type = dtype_of(ds, &esize);
    if (type < 0) {
        if (known_other_dtype(ds))
            return wf_fail(err, WF_ERR_UNSUPPORTED, "%s: tensor '%.64s' has dtype %s; the converter reads F32, F16 and BF16",
                           path, key, ds);
        return wf_fail(err, WF_ERR_FORMAT, "%s: tensor '%.64s' has an unknown dtype '%.32s'", path, key, ds);
    }
    size_t nd = json_array_size(js);
    if (nd < 1 || nd > WF_ST_MAX_DIMS)
        return wf_fail(err, WF_ERR_UNSUPPORTED, "%s: tensor '%.64s' has %zu dimensions (1..%d supported)", path, key,
                       nd, WF_ST_MAX_DIMS);
    wf_st_tensor t = {0};
    t.type = (uint32_t)type;
    t.n_dims = (uint32_t)nd;
    uint64_t n = 1;
    for (size_t d = 0; d < nd; d++) {
        json_t *x = json_array_get(js, d);
        if (!json_is_integer(x) || json_integer_value(x) < 0 || json_integer_value(x) > ((json_int_t)1 << 40))
            return wf_fail(err, WF_ERR_FORMAT, "%s: tensor '%.64s': shape[%zu] is not a valid size", path, key, d);
        t.shape[d] = (int64_t)json_integer_value(x);
        if (!wf_mul_u64(n, (uint64_t)t.shape[d], &n))
            return wf_fail(err, WF_ERR_FORMAT, "%s: tensor '%.64s': element count overflows", path, key);
    }
    for (size_t d = nd; d < WF_ST_MAX_DIMS; d++) t.shape[d] = 1;
    t.n_elem = n;
    if (!wf_mul_u64(n, esize, &t.nbytes))
        return wf_fail(err, WF_ERR_FORMAT, "%s: tensor '%.64s': byte size overflows", path, key);
    json_t *b = json_array_get(jo, 0), *e = json_array_get(jo, 1);
    if (!json_is_integer(b) || !json_is_integer(e) || json_integer_value(b) < 0 ||
        json_integer_value(e) < json_integer_value(b))
        return wf_fail(err, WF_ERR_FORMAT, "%s: tensor '%.64s': data_offsets are not a valid [begin, end]", path, key);
    uint64_t ob = (uint64_t)json_integer_value(b), oe = (uint64_t)json_integer_value(e);
    if (oe > data_size)
        return wf_fail(err, WF_ERR_FORMAT,
                       "%s: tensor '%.64s': data_offsets [%" PRIu64 ", %" PRIu64 ") run past the end of the data (%" PRIu64
                       " bytes; truncated file?)",
                       path, key, ob, oe, data_size);
    if (oe - ob != t.nbytes)
        return wf_fail(err, WF_ERR_FORMAT,
                       "%s: tensor '%.64s': data_offsets span %" PRIu64 " bytes but dtype %s and the shape need %" PRIu64,
                       path, key, oe - ob, ds, t.nbytes);
    t.data = data + ob;
    if (!WF_ARRAY_RESERVE(s->t, s->cap, (size_t)s->n + 1)) return wf_fail(err, WF_ERR_NOMEM, "%s: out of memory", path);
    t.name = strdup(key);
    if (!t.name) return wf_fail(err, WF_ERR_NOMEM, "%s: out of memory", path);
    s->t[s->n++] = t;
    return WF_OK;
}

/* Map one file and append its tensors. */
static wf_status add_file(wf_safetensors *s, const char *path, wf_error *err) {
    if (s->n_shards >= ST_MAX_SHARDS) return wf_fail(err, WF_ERR_RANGE, "%s: too many shards", path);
    if (!WF_ARRAY_RESERVE(s->shards, s->cap_shards, (size_t)s->n_shards + 1))
        return wf_fail(err, WF_ERR_NOMEM, "%s: out of memory", path);
    st_shard *sh = &s->shards[s->n_shards];
    memset(sh, 0, sizeof *sh);
    sh->path = strdup(path);
    if (!sh->path) return wf_fail(err, WF_ERR_NOMEM, "%s: out of memory", path);
    s->n_shards++;

    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return wf_fail(err, WF_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat stt;
    if (fstat(fd, &stt) != 0 || !S_ISREG(stt.st_mode)) {
        close(fd);
        return wf_fail(err, WF_ERR_IO, "%s: not a regular file", path);
    }
    uint64_t size = (uint64_t)stt.st_size;
    if (size < 8) {
        close(fd);
        return wf_fail(err, WF_ERR_FORMAT, "%s: %" PRIu64 " bytes is too short for a safetensors file (truncated?)", path,
                       size);
    }
    void *map = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return wf_fail(err, WF_ERR_IO, "%s: mmap failed: %s", path, strerror(errno));
    sh->map = map;
    sh->size = size;
    const uint8_t *p = map;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | p[i];
    if (hlen > size - 8)
        return wf_fail(err, WF_ERR_FORMAT,
                       "%s: header length %" PRIu64 " runs past the end of the file (%" PRIu64 " bytes; truncated or not safetensors)",
                       path, hlen, size);
    if (hlen < 2 || hlen > ST_MAX_HEADER)
        return wf_fail(err, WF_ERR_FORMAT, "%s: header length %" PRIu64 " is not plausible", path, hlen);
    json_error_t je;
    json_t *h = json_loadb((const char *)p + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &je);
    if (!h) return wf_fail(err, WF_ERR_FORMAT, "%s: header JSON: %s (line %d)", path, je.text, je.line);
    wf_status st = WF_OK;
    if (!json_is_object(h)) {
        st = wf_fail(err, WF_ERR_FORMAT, "%s: header JSON is not an object", path);
        goto done;
    }
    const uint8_t *data = p + 8 + hlen;
    uint64_t data_size = size - 8 - hlen;
    int64_t first = s->n;
    const char *key;
    json_t *v;
    json_object_foreach(h, key, v) {
        if (!strcmp(key, "__metadata__")) continue;
        if ((st = parse_entry(s, path, key, v, data, data_size, err)) != WF_OK) goto done;
    }
    /* no two tensors of this file may share bytes */
    int64_t nt = s->n - first;
    if (nt > 1) {
        span *sp = malloc((size_t)nt * sizeof *sp);
        if (!sp) { st = wf_fail(err, WF_ERR_NOMEM, "%s: out of memory", path); goto done; }
        for (int64_t i = 0; i < nt; i++) {
            const wf_st_tensor *t = &s->t[first + i];
            sp[i].b = (uint64_t)((const uint8_t *)t->data - data);
            sp[i].e = sp[i].b + t->nbytes;
            sp[i].idx = first + i;
        }
        qsort(sp, (size_t)nt, sizeof *sp, span_cmp);
        uint64_t end = 0; /* furthest end so far, and whose */
        int64_t who = -1;
        for (int64_t i = 0; i < nt; i++) {
            if (sp[i].e == sp[i].b) continue; /* empty tensors own no bytes */
            if (who >= 0 && sp[i].b < end) {
                st = wf_fail(err, WF_ERR_FORMAT, "%s: tensors '%.64s' and '%.64s' overlap", path, s->t[who].name,
                             s->t[sp[i].idx].name);
                break;
            }
            end = sp[i].e;
            who = sp[i].idx;
        }
        free(sp);
    }
    for (int64_t i = first; st == WF_OK && i < s->n; i++) s->t[i].file = sh->path;
done:
    json_decref(h);
    return st;
}

static int name_cmp(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A name in two shards (or twice in one index) is an error, not a choice. */
static wf_status check_unique(const wf_safetensors *s, const char *where, wf_error *err) {
    if (s->n < 2) return WF_OK;
    const char **names = malloc((size_t)s->n * sizeof *names);
    if (!names) return wf_fail(err, WF_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < s->n; i++) names[i] = s->t[i].name;
    qsort(names, (size_t)s->n, sizeof *names, name_cmp);
    wf_status st = WF_OK;
    for (int64_t i = 1; i < s->n && !st; i++)
        if (!strcmp(names[i - 1], names[i]))
            st = wf_fail(err, WF_ERR_FORMAT, "%s: tensor '%.64s' appears in more than one shard", where, names[i]);
    free(names);
    return st;
}

/* jansson rejects integers beyond 64 bits ("too big integer"), and real
 * tokenizer_config.json files carry model_max_length = 1e30 written as an
 * integer. Such literals (outside strings) get a ".0" so they parse as reals;
 * nothing the converter reads is one. Returns a new buffer. */
/* s[i] (a digit outside strings) starts the integer part of a number: not
 * after another digit, a '.', or an exponent's 'e' / sign. */
static bool number_start(const char *s, size_t i) {
    if (i == 0) return true;
    char p = s[i - 1];
    if ((p >= '0' && p <= '9') || p == '.' || p == 'e' || p == 'E') return false;
    if (p == '+' || p == '-') return !(i >= 2 && (s[i - 2] == 'e' || s[i - 2] == 'E'));
    return true;
}

static char *widen_big_ints(const char *s, size_t n, size_t *out_n) {
    size_t extra = 0;
    bool in_str = false;
    for (size_t i = 0; i < n; i++) {
        if (in_str) {
            if (s[i] == '\\') i++;
            else if (s[i] == '"') in_str = false;
        } else if (s[i] == '"') {
            in_str = true;
        } else if (s[i] >= '0' && s[i] <= '9' && number_start(s, i)) {
            size_t j = i;
            while (j < n && s[j] >= '0' && s[j] <= '9') j++;
            if (j - i > 18 && (j == n || !strchr(".eE", s[j]))) extra += 2;
            i = j - 1;
        }
    }
    char *o = malloc(n + extra + 1);
    if (!o) return NULL;
    size_t k = 0;
    in_str = false;
    for (size_t i = 0; i < n; i++) {
        if (in_str) {
            o[k++] = s[i];
            if (s[i] == '\\' && i + 1 < n) o[k++] = s[++i];
            else if (s[i] == '"') in_str = false;
        } else if (s[i] == '"') {
            in_str = true;
            o[k++] = s[i];
        } else if (s[i] >= '0' && s[i] <= '9' && number_start(s, i)) {
            size_t j = i;
            while (j < n && s[j] >= '0' && s[j] <= '9') j++;
            memcpy(o + k, s + i, j - i);
            k += j - i;
            if (j - i > 18 && (j == n || !strchr(".eE", s[j]))) { o[k++] = '.'; o[k++] = '0'; }
            i = j - 1;
        } else {
            o[k++] = s[i];
        }
    }
    o[k] = 0;
    *out_n = k;
    return o;
}

#define MAX_JSON_FILE (1u << 30)

wf_status wf_conv_load_json(const char *path, json_t **out, wf_error *err) {
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return wf_fail(err, WF_ERR_NOT_FOUND, "%s: not found", path);
        return wf_fail(err, WF_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    }
    struct stat stt;
    if (fstat(fd, &stt) != 0 || !S_ISREG(stt.st_mode) || (uint64_t)stt.st_size > MAX_JSON_FILE) {
        close(fd);
        return wf_fail(err, WF_ERR_IO, "%s: not a regular file of at most 1 GiB", path);
    }
    size_t n = (size_t)stt.st_size, got = 0;
    char *buf = malloc(n + 1);
    if (!buf) { close(fd); return wf_fail(err, WF_ERR_NOMEM, "%s: out of memory", path); }
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r <= 0) {
            if (r < 0 && errno == EINTR) continue;
            break;
        }
        got += (size_t)r;
    }
    close(fd);
    if (got != n) { free(buf); return wf_fail(err, WF_ERR_IO, "%s: read failed", path); }
    size_t wn;
    char *wide = widen_big_ints(buf, n, &wn);
    free(buf);
    if (!wide) return wf_fail(err, WF_ERR_NOMEM, "%s: out of memory", path);
    json_error_t je;
    json_t *j = json_loadb(wide, wn, JSON_REJECT_DUPLICATES, &je);
    free(wide);
    if (!j) return wf_fail(err, WF_ERR_FORMAT, "%s: invalid JSON: %s (line %d, column %d)", path, je.text, je.line, je.column);
    *out = j;
    return WF_OK;
}

char *wf_conv_path_join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    size_t k = a;
    if (a && dir[a - 1] != '/') p[k++] = '/';
    memcpy(p + k, name, b + 1);
    return p;
}

static bool ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

/* Sharded: every file the index names, every mapped tensor in its file. */
static wf_status open_index(wf_safetensors *s, const char *dir, const char *ipath, wf_error *err) {
    json_t *idx;
    wf_status st = wf_conv_load_json(ipath, &idx, err);
    if (st) return st;
    json_t *wm = json_object_get(idx, "weight_map");
    const char **files = NULL;
    size_t nf = 0;
    if (!json_is_object(wm) || json_object_size(wm) == 0) {
        st = wf_fail(err, WF_ERR_FORMAT, "%s: no \"weight_map\" object", ipath);
        goto done;
    }
    files = calloc(json_object_size(wm), sizeof *files);
    if (!files) { st = wf_fail(err, WF_ERR_NOMEM, "out of memory"); goto done; }
    const char *key;
    json_t *v;
    json_object_foreach(wm, key, v) {
        const char *f = json_string_value(v);
        if (!f || !*f || strchr(f, '/') || !strcmp(f, "..") || !strcmp(f, ".")) {
            st = wf_fail(err, WF_ERR_FORMAT, "%s: weight_map['%.64s'] is not a file name in the folder", ipath, key);
            goto done;
        }
        size_t k = 0;
        while (k < nf && strcmp(files[k], f)) k++;
        if (k == nf) files[nf++] = f;
    }
    for (size_t k = 0; k < nf; k++) {
        char *p = wf_conv_path_join(dir, files[k]);
        if (!p) { st = wf_fail(err, WF_ERR_NOMEM, "out of memory"); goto done; }
        st = add_file(s, p, err);
        free(p);
        if (st) goto done;
    }
    json_object_foreach(wm, key, v) {
        const wf_st_tensor *t = wf_st_find(s, key);
        if (!t) {
            st = wf_fail(err, WF_ERR_FORMAT, "%s: tensor '%.64s' is mapped to %s but that file does not have it", ipath,
                         key, json_string_value(v));
            goto done;
        }
        char *want = wf_conv_path_join(dir, json_string_value(v));
        bool same = want && !strcmp(want, t->file);
        free(want);
        if (!same) {
            st = wf_fail(err, WF_ERR_FORMAT, "%s: tensor '%.64s' is mapped to %s but found in %s", ipath, key,
                         json_string_value(v), t->file);
            goto done;
        }
    }
    st = check_unique(s, ipath, err);
done:
    free(files);
    json_decref(idx);
    return st;
}

static int str_cmp(const void *a, const void *b) { return name_cmp(a, b); }

wf_status wf_st_open_dir(const char *dir, wf_safetensors **out, wf_error *err) {
    *out = NULL;
    wf_safetensors *s = calloc(1, sizeof *s);
    if (!s) return wf_fail(err, WF_ERR_NOMEM, "out of memory");
    wf_status st = WF_OK;
    char *ipath = wf_conv_path_join(dir, "model.safetensors.index.json");
    char **names = NULL;
    size_t nn = 0, names_cap = 0;
    if (!ipath) { st = wf_fail(err, WF_ERR_NOMEM, "out of memory"); goto done; }
    if (access(ipath, F_OK) == 0) {
        st = open_index(s, dir, ipath, err);
        goto done;
    }
    DIR *d = opendir(dir);
    if (!d) { st = wf_fail(err, WF_ERR_IO, "%s: cannot open the folder: %s", dir, strerror(errno)); goto done; }
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' || !ends_with(de->d_name, ".safetensors")) continue;
        if (!WF_ARRAY_RESERVE(names, names_cap, nn + 1) || !(names[nn] = strdup(de->d_name))) {
            closedir(d);
            st = wf_fail(err, WF_ERR_NOMEM, "out of memory");
            goto done;
        }
        nn++;
    }
    closedir(d);
    if (nn == 0) {
        st = wf_fail(err, WF_ERR_NOT_FOUND, "%s: no *.safetensors files (and no model.safetensors.index.json)", dir);
        goto done;
    }
    qsort(names, nn, sizeof *names, str_cmp);
    for (size_t k = 0; k < nn && !st; k++) {
        char *p = wf_conv_path_join(dir, names[k]);
        if (!p) { st = wf_fail(err, WF_ERR_NOMEM, "out of memory"); break; }
        st = add_file(s, p, err);
        free(p);
    }
    if (!st) st = check_unique(s, dir, err);
done:
    for (size_t k = 0; k < nn; k++) free(names[k]);
    free(names);
    free(ipath);
    if (st) { wf_st_close(s); return st; }
    *out = s;
    return WF_OK;
}

wf_status wf_st_open_file(const char *path, wf_safetensors **out, wf_error *err) {
    *out = NULL;
    wf_safetensors *s = calloc(1, sizeof *s);
    if (!s) return wf_fail(err, WF_ERR_NOMEM, "out of memory");
    wf_status st = add_file(s, path, err);
    if (st) { wf_st_close(s); return st; }
    *out = s;
    return WF_OK;
}
