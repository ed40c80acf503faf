/* gguf_write.c — the GGUF v3 writer.
 *
 * Metadata values are encoded into byte buffers as they are set (so setting
 * a key twice just replaces its bytes); tensors are referenced, not copied.
 * wf_gguf_writer_write lays out header, key/values, tensor infos, padding to
 * the alignment and the aligned tensor data, writing to PATH.tmp and renaming
 * it over PATH only when everything succeeded.
 */
#include "format/gguf.h"
#include "base/buf.h"

#include "format/quant.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "gguf_write.c copies numeric arrays as is: it assumes a little-endian host"
#endif

typedef struct wkv {
    char *key;
    uint32_t type;
    uint8_t *val;   /* [val_size] encoded value, little-endian */
    size_t val_size;
} wkv;

typedef struct wtensor {
    char *name;
    uint32_t type;
    uint32_t n_dims;
    int64_t ne[WF_GGUF_MAX_DIMS];
    const void *data; /* [nbytes] caller's, referenced */
    uint64_t nbytes;
} wtensor;

struct wf_gguf_writer {
    wkv *kv;
    size_t n_kv, cap_kv;
    wtensor *t;
    size_t n_t, cap_t;
};

/* ---- little-endian encoding --------------------------------------------- */

static void put_le(uint8_t *p, uint64_t v, int n) {
    for (int i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static char *dup_str(const char *s) {
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (d) memcpy(d, s, n + 1);
    return d;
}

wf_status wf_gguf_writer_create(wf_gguf_writer **out, wf_error *err) {
    if (!out) return wf_fail(err, WF_ERR_INVALID_ARG, "wf_gguf_writer_create: out is NULL");
    *out = calloc(1, sizeof **out);
    return *out ? WF_OK : wf_fail(err, WF_ERR_NOMEM, "gguf writer: out of memory");
}

void wf_gguf_writer_free(wf_gguf_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        free(w->kv[i].val);
    }
    for (size_t i = 0; i < w->n_t; i++) free(w->t[i].name);
    free(w->kv);
    free(w->t);
    free(w);
}

/* Store key = (type, val[size]); takes ownership of val. */
static wf_status set_raw(wf_gguf_writer *w, const char *key, uint32_t type, uint8_t *val, size_t size) {
    if (!w || !key) {
        free(val);
        return WF_ERR_INVALID_ARG;
    }
    for (size_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kv[i].key, key) == 0) {
            free(w->kv[i].val);
            w->kv[i].type = type;
            w->kv[i].val = val;
            w->kv[i].val_size = size;
            return WF_OK;
        }
    }
    if (w->n_kv == w->cap_kv && !WF_ARRAY_RESERVE(w->kv, w->cap_kv, w->n_kv + 1)) {
        free(val);
        return WF_ERR_NOMEM;
    }
    char *k = dup_str(key);
    if (!k) {
        free(val);
        return WF_ERR_NOMEM;
    }
    w->kv[w->n_kv++] = (wkv){k, type, val, size};
    return WF_OK;
}

static wf_status set_scalar(wf_gguf_writer *w, const char *key, uint32_t type, uint64_t bits, int n) {
    uint8_t *v = malloc((size_t)n);
    if (!v) return WF_ERR_NOMEM;
    put_le(v, bits, n);
    return set_raw(w, key, type, v, (size_t)n);
}

wf_status wf_gguf_writer_set_u32(wf_gguf_writer *w, const char *key, uint32_t v) {
    return set_scalar(w, key, WF_GGUF_UINT32, v, 4);
}
wf_status wf_gguf_writer_set_i32(wf_gguf_writer *w, const char *key, int32_t v) {
    return set_scalar(w, key, WF_GGUF_INT32, (uint32_t)v, 4);
}
wf_status wf_gguf_writer_set_u64(wf_gguf_writer *w, const char *key, uint64_t v) {
    return set_scalar(w, key, WF_GGUF_UINT64, v, 8);
}
wf_status wf_gguf_writer_set_f32(wf_gguf_writer *w, const char *key, float v) {
    uint32_t bits;
    memcpy(&bits, &v, 4);
    return set_scalar(w, key, WF_GGUF_FLOAT32, bits, 4);
}
wf_status wf_gguf_writer_set_bool(wf_gguf_writer *w, const char *key, bool v) {
    return set_scalar(w, key, WF_GGUF_BOOL, v ? 1 : 0, 1);
}

wf_status wf_gguf_writer_set_i64(wf_gguf_writer *w, const char *key, int64_t v) {
    return set_scalar(w, key, WF_GGUF_INT64, (uint64_t)v, 8);
}
wf_status wf_gguf_writer_set_f64(wf_gguf_writer *w, const char *key, double v) {
    uint64_t bits;
    memcpy(&bits, &v, 8);
    return set_scalar(w, key, WF_GGUF_FLOAT64, bits, 8);
}

wf_status wf_gguf_writer_set_scalar(wf_gguf_writer *w, const char *key, wf_gguf_vtype type, const void *v) {
    if (!v) return WF_ERR_INVALID_ARG;
    if (type == WF_GGUF_BOOL) return wf_gguf_writer_set_bool(w, key, *(const bool *)v);
    uint64_t n = wf_gguf_vtype_size(type), bits = 0;
    if (n == 0) return WF_ERR_INVALID_ARG;
    uint8_t b[8];
    memcpy(b, v, (size_t)n); /* host is little-endian, as the file is */
    for (uint64_t i = n; i-- > 0;) bits = bits << 8 | b[i];
    return set_scalar(w, key, (uint32_t)type, bits, (int)n);
}

wf_status wf_gguf_writer_set_str(wf_gguf_writer *w, const char *key, const char *v, size_t len) {
    if (!v && len) return WF_ERR_INVALID_ARG;
    if (len > SIZE_MAX - 8) return WF_ERR_NOMEM;
    uint8_t *b = malloc(8 + len);
    if (!b) return WF_ERR_NOMEM;
    put_le(b, len, 8);
    if (len) memcpy(b + 8, v, len);
    return set_raw(w, key, WF_GGUF_STRING, b, 8 + len);
}

wf_status wf_gguf_writer_set_arr(wf_gguf_writer *w, const char *key, wf_gguf_vtype elem,
                                 const void *data, uint64_t n) {
    uint64_t esz = wf_gguf_vtype_size(elem), bytes;
    if (esz == 0 || (!data && n)) return WF_ERR_INVALID_ARG;
    if (!wf_mul_u64(n, esz, &bytes) || bytes > SIZE_MAX - 12) return WF_ERR_NOMEM;
    uint8_t *b = malloc((size_t)(12 + bytes));
    if (!b) return WF_ERR_NOMEM;
    put_le(b, (uint32_t)elem, 4);
    put_le(b + 4, n, 8);
    if (bytes) memcpy(b + 12, data, (size_t)bytes); /* host is little-endian (x86, arm64) */
    if (elem == WF_GGUF_BOOL)
        for (uint64_t i = 0; i < n; i++) b[12 + i] = b[12 + i] ? 1 : 0;
    return set_raw(w, key, WF_GGUF_ARRAY, b, (size_t)(12 + bytes));
}

wf_status wf_gguf_writer_set_arr_str(wf_gguf_writer *w, const char *key, const wf_str *items, uint64_t n) {
    if (!items && n) return WF_ERR_INVALID_ARG;
    uint64_t total = 12;
    for (uint64_t i = 0; i < n; i++) {
        if (!items[i].ptr && items[i].len) return WF_ERR_INVALID_ARG;
        if (!wf_add_u64(total, 8, &total) || !wf_add_u64(total, items[i].len, &total)) return WF_ERR_NOMEM;
    }
    if (total > SIZE_MAX) return WF_ERR_NOMEM;
    uint8_t *b = malloc((size_t)total);
    if (!b) return WF_ERR_NOMEM;
    put_le(b, WF_GGUF_STRING, 4);
    put_le(b + 4, n, 8);
    size_t p = 12;
    for (uint64_t i = 0; i < n; i++) {
        put_le(b + p, items[i].len, 8);
        p += 8;
        if (items[i].len) memcpy(b + p, items[i].ptr, (size_t)items[i].len);
        p += (size_t)items[i].len;
    }
    return set_raw(w, key, WF_GGUF_ARRAY, b, (size_t)total);
}

wf_status wf_gguf_writer_copy_kv(wf_gguf_writer *w, const wf_gguf *src, int64_t i) {
    const void *p;
    uint64_t size;
    if (!w || !src || wf_gguf_raw_value_at(src, i, &p, &size) != WF_OK) return WF_ERR_INVALID_ARG;
    wf_str k = wf_gguf_key_at(src, i); /* NUL-free: checked by the reader */
    char *key = malloc((size_t)k.len + 1);
    uint8_t *val = malloc(size ? (size_t)size : 1);
    if (!key || !val) {
        free(key);
        free(val);
        return WF_ERR_NOMEM;
    }
    memcpy(key, k.ptr, (size_t)k.len);
    key[k.len] = '\0';
    memcpy(val, p, (size_t)size);
    wf_status s = set_raw(w, key, (uint32_t)wf_gguf_type_at(src, i), val, (size_t)size);
    free(key);
    return s;
}

wf_status wf_gguf_writer_set_alignment(wf_gguf_writer *w, uint32_t alignment) {
    if (alignment == 0 || (alignment & (alignment - 1))) return WF_ERR_INVALID_ARG;
    return wf_gguf_writer_set_u32(w, "general.alignment", alignment);
}

wf_status wf_gguf_writer_add_tensor(wf_gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                                    const int64_t *ne, const void *data, uint64_t nbytes, wf_error *err) {
    if (!w || !name || !ne) return wf_fail(err, WF_ERR_INVALID_ARG, "gguf writer: NULL argument");
    const wf_type_traits *tr = wf_type_get(type);
    if (!tr) return wf_fail(err, WF_ERR_INVALID_ARG, "gguf writer: tensor '%s': unknown type id %u", name, type);
    if (n_dims < 1 || n_dims > WF_GGUF_MAX_DIMS)
        return wf_fail(err, WF_ERR_INVALID_ARG, "gguf writer: tensor '%s': %u dimensions (1..%d)", name,
                       n_dims, WF_GGUF_MAX_DIMS);
    for (size_t i = 0; i < w->n_t; i++)
        if (strcmp(w->t[i].name, name) == 0)
            return wf_fail(err, WF_ERR_INVALID_ARG, "gguf writer: duplicate tensor name '%s'", name);
    wtensor t = {0};
    t.type = type;
    t.n_dims = n_dims;
    for (int d = 0; d < WF_GGUF_MAX_DIMS; d++) t.ne[d] = 1;
    for (uint32_t d = 0; d < n_dims; d++) {
        if (ne[d] < 0)
            return wf_fail(err, WF_ERR_INVALID_ARG, "gguf writer: tensor '%s': ne[%u] = %" PRId64 " < 0", name,
                           d, ne[d]);
        t.ne[d] = ne[d];
    }
    if (t.ne[0] % tr->blck_size)
        return wf_fail(err, WF_ERR_INVALID_ARG,
                       "gguf writer: tensor '%s': ne[0] = %" PRId64 " is not a multiple of the %s block size %d",
                       name, t.ne[0], tr->name, tr->blck_size);
    uint64_t want = (uint64_t)(t.ne[0] / tr->blck_size);
    bool ok = wf_mul_u64(want, tr->type_size, &want);
    for (int d = 1; d < WF_GGUF_MAX_DIMS && ok; d++) ok = wf_mul_u64(want, (uint64_t)t.ne[d], &want);
    if (!ok) return wf_fail(err, WF_ERR_INVALID_ARG, "gguf writer: tensor '%s': size overflows", name);
    if (want != nbytes)
        return wf_fail(err, WF_ERR_INVALID_ARG,
                       "gguf writer: tensor '%s': %" PRIu64 " bytes given, %s of this shape needs %" PRIu64, name,
                       nbytes, tr->name, want);
    if (!data && nbytes) return wf_fail(err, WF_ERR_INVALID_ARG, "gguf writer: tensor '%s': NULL data", name);
    t.data = data;
    t.nbytes = nbytes;
    if (w->n_t == w->cap_t && !WF_ARRAY_RESERVE(w->t, w->cap_t, w->n_t + 1))
        return wf_fail(err, WF_ERR_NOMEM, "gguf writer: out of memory");
    t.name = dup_str(name);
    if (!t.name) return wf_fail(err, WF_ERR_NOMEM, "gguf writer: out of memory");
    w->t[w->n_t++] = t;
    return WF_OK;
}

/* ---- output ------------------------------------------------------------- */

typedef struct out {
    FILE *f;
    uint64_t pos;
    bool failed;
} out;

static void emit(out *o, const void *p, size_t n) {
    if (o->failed || n == 0) return;
    if (fwrite(p, 1, n, o->f) != n) o->failed = true;
    o->pos += n;
}

static void emit_u32(out *o, uint32_t v) {
    uint8_t b[4];
    put_le(b, v, 4);
    emit(o, b, 4);
}

static void emit_u64(out *o, uint64_t v) {
    uint8_t b[8];
    put_le(b, v, 8);
    emit(o, b, 8);
}

static void emit_str(out *o, const char *s) {
    size_t n = strlen(s);
    emit_u64(o, n);
    emit(o, s, n);
}

static void emit_pad(out *o, uint64_t align) {
    static const uint8_t zeros[256];
    uint64_t rem = o->pos % align, n = rem ? align - rem : 0;
    while (n) {
        size_t k = n > sizeof zeros ? sizeof zeros : (size_t)n;
        emit(o, zeros, k);
        n -= k;
    }
}

static uint64_t align_up(uint64_t x, uint64_t a) {
    uint64_t rem = x % a;
    return rem ? x + (a - rem) : x;
}

/* The alignment the file will declare: general.alignment if set (validated). */
static wf_status writer_alignment(const wf_gguf_writer *w, uint64_t *align, wf_error *err) {
    *align = WF_GGUF_DEFAULT_ALIGNMENT;
    for (size_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kv[i].key, "general.alignment") != 0) continue;
        if (w->kv[i].type != WF_GGUF_UINT32)
            return wf_fail(err, WF_ERR_INVALID_ARG, "gguf writer: general.alignment must be u32");
        const uint8_t *v = w->kv[i].val;
        uint32_t a = (uint32_t)v[0] | (uint32_t)v[1] << 8 | (uint32_t)v[2] << 16 | (uint32_t)v[3] << 24;
        if (a == 0 || (a & (a - 1)))
            return wf_fail(err, WF_ERR_INVALID_ARG, "gguf writer: general.alignment %u is not a power of two", a);
        *align = a;
    }
    return WF_OK;
}

wf_status wf_gguf_writer_write(wf_gguf_writer *w, const char *path, wf_progress_fn progress, void *user,
                               wf_error *err) {
    if (!w || !path) return wf_fail(err, WF_ERR_INVALID_ARG, "gguf writer: NULL argument");
    uint64_t align;
    wf_status s = writer_alignment(w, &align, err);
    if (s) return s;

    size_t plen = strlen(path);
    char *tmp = malloc(plen + 5);
    if (!tmp) return wf_fail(err, WF_ERR_NOMEM, "%s: out of memory", path);
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    out o = {fopen(tmp, "wb"), 0, false};
    if (!o.f) {
        s = wf_fail(err, WF_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
        free(tmp);
        return s;
    }
    setvbuf(o.f, NULL, _IOFBF, 1 << 20);

    emit_u32(&o, WF_GGUF_MAGIC);
    emit_u32(&o, 3);
    emit_u64(&o, w->n_t);
    emit_u64(&o, w->n_kv);
    for (size_t i = 0; i < w->n_kv; i++) {
        emit_str(&o, w->kv[i].key);
        emit_u32(&o, w->kv[i].type);
        emit(&o, w->kv[i].val, w->kv[i].val_size);
    }
    uint64_t offset = 0, total = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        emit_str(&o, t->name);
        emit_u32(&o, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims; d++) emit_u64(&o, (uint64_t)t->ne[d]);
        emit_u32(&o, t->type);
        emit_u64(&o, offset);
        offset = align_up(offset + t->nbytes, align);
        total += t->nbytes;
    }
    emit_pad(&o, align);
    uint64_t done = 0;
    for (size_t i = 0; i < w->n_t && !o.failed; i++) {
        const wtensor *t = &w->t[i];
        emit(&o, t->data, (size_t)t->nbytes);
        emit_pad(&o, align);
        done += t->nbytes;
        if (progress && !progress(done, total, user)) {
            fclose(o.f);
            remove(tmp);
            free(tmp);
            return wf_fail(err, WF_ERR_CANCELLED, "%s: writing cancelled", path);
        }
    }
    int e = errno;
    if (fflush(o.f) != 0) o.failed = true, e = errno;
    if (!o.failed && fsync(fileno(o.f)) != 0) o.failed = true, e = errno;
    if (fclose(o.f) != 0 && !o.failed) o.failed = true, e = errno;
    if (o.failed) {
        remove(tmp);
        free(tmp);
        return wf_fail(err, WF_ERR_IO, "%s: write failed: %s", path, strerror(e));
    }
    if (rename(tmp, path) != 0) {
        e = errno;
        s = wf_fail(err, WF_ERR_IO, "%s: cannot rename %s into place: %s", path, tmp, strerror(e));
        remove(tmp);
        free(tmp);
        return s;
    }
    free(tmp);
    return WF_OK;
}
