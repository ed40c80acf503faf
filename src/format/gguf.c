/* gguf.c — the GGUF (v2, v3) reader.
 *
 * The file is mapped read-only (or taken from a caller's buffer) and parsed
 * once at open: every count, length, offset, shape and the alignment is
 * checked against the bytes that remain and against overflow BEFORE it is
 * used, so a hostile file can neither make us read out of bounds nor make us
 * allocate more than its own size justifies. Keys and tensor names are
 * indexed in sorted tables (binary search: no hash-flooding worst case);
 * string-array elements are indexed for O(1) access.
 * Values and tensor data are never copied: they point into the mapping.
 */
#include "format/gguf.h"

#include "format/quant.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define GGUF_MAX_ARRAY_DEPTH 8   /* arrays of arrays deeper than this are refused */
#define GGUF_MIN_KV_BYTES 13     /* key length (8) + type (4) + smallest value (1) */
#define GGUF_MIN_TENSOR_BYTES 32 /* name length (8) + n_dims (4) + ne (8) + type (4) + offset (8) */

typedef struct gguf_kv {
    wf_str key;
    wf_gguf_vtype type;
    const uint8_t *val;  /* encoded value (after the type id) */
    uint64_t val_size;
    /* arrays only */
    wf_gguf_vtype elem;
    uint64_t n;
    const uint8_t *arr_data; /* first element                                */
    uint64_t *str_off;       /* string arrays: element i's length field is at
                                arr_data + str_off[i]; NULL otherwise         */
} gguf_kv;

struct wf_gguf {
    char *path;
    const uint8_t *base; /* [size] whole file */
    uint64_t size;
    void *map;           /* mmap'd region, NULL for wf_gguf_open_mem */
    size_t map_size;
    uint32_t version;
    uint64_t alignment;
    uint64_t data_offset;
    int64_t n_kv;
    gguf_kv *kv;         /* [n_kv] */
    int64_t n_tensors;
    wf_gguf_tensor *tensors; /* [n_tensors] */
    struct name_ref *kv_sorted; /* [n_kv] keys in byte order, for lookup */
    struct name_ref *t_sorted;  /* [n_tensors] tensor names in byte order */
};

/* ---- byte cursor -------------------------------------------------------- */

typedef struct cursor {
    const uint8_t *base;
    uint64_t pos, size;
    const char *name; /* file name for messages */
    wf_error *err;
} cursor;

static uint64_t cur_left(const cursor *c) { return c->size - c->pos; }

static wf_status truncated(cursor *c, uint64_t need, const char *what) {
    return wf_fail(c->err, WF_ERR_FORMAT,
                   "%s: truncated file: %s at offset %" PRIu64 " needs %" PRIu64
                   " bytes, only %" PRIu64 " remain (file size %" PRIu64 ")",
                   c->name, what, c->pos, need, cur_left(c), c->size);
}

static wf_status rd_bytes(cursor *c, void *dst, uint64_t n, const char *what) {
    if (n > cur_left(c)) return truncated(c, n, what);
    memcpy(dst, c->base + c->pos, (size_t)n);
    c->pos += n;
    return WF_OK;
}

static wf_status rd_u32(cursor *c, uint32_t *v, const char *what) {
    uint8_t b[4] = {0};
    wf_status s = rd_bytes(c, b, 4, what);
    if (s) return s;
    *v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    return WF_OK;
}

static uint64_t le_u64(const uint8_t *b) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | b[i];
    return v;
}

static wf_status rd_u64(cursor *c, uint64_t *v, const char *what) {
    uint8_t b[8] = {0};
    wf_status s = rd_bytes(c, b, 8, what);
    if (s) return s;
    *v = le_u64(b);
    return WF_OK;
}

static wf_status rd_str(cursor *c, wf_str *out, const char *what) {
    uint64_t len;
    wf_status s = rd_u64(c, &len, what);
    if (s) return s;
    if (len > cur_left(c))
        return wf_fail(c->err, WF_ERR_FORMAT,
                       "%s: %s: string length %" PRIu64 " at offset %" PRIu64
                       " exceeds the %" PRIu64 " bytes left in the file",
                       c->name, what, len, c->pos - 8, cur_left(c));
    out->ptr = (const char *)c->base + c->pos;
    out->len = len;
    c->pos += len;
    return WF_OK;
}

/* Bytes of one element of a fixed-size type; 0 for string/array/unknown. */
static uint64_t vtype_size(uint32_t t) {
    switch (t) {
    case WF_GGUF_UINT8: case WF_GGUF_INT8: case WF_GGUF_BOOL: return 1;
    case WF_GGUF_UINT16: case WF_GGUF_INT16: return 2;
    case WF_GGUF_UINT32: case WF_GGUF_INT32: case WF_GGUF_FLOAT32: return 4;
    case WF_GGUF_UINT64: case WF_GGUF_INT64: case WF_GGUF_FLOAT64: return 8;
    default: return 0;
    }
}

static const char *vtype_name(uint32_t t) {
    static const char *const names[WF_GGUF_VTYPE_COUNT] = {
        "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64"};
    return t < WF_GGUF_VTYPE_COUNT ? names[t] : "unknown";
}

static bool str_has_nul(wf_str s) { return s.len && memchr(s.ptr, 0, (size_t)s.len) != NULL; }

/* Short printable form of a key/name for messages (escaped, cut with "..."). */
static void str_for_msg(wf_str s, char *buf, size_t cap) {
    size_t n = 0;
    uint64_t i = 0;
    for (; i < s.len && n + 8 < cap; i++) {
        unsigned char ch = (unsigned char)s.ptr[i];
        if (ch >= 0x20 && ch < 0x7f && ch != '\'')
            buf[n++] = (char)ch;
        else
            n += (size_t)snprintf(buf + n, cap - n, "\\x%02x", ch);
    }
    if (i < s.len) {
        memcpy(buf + n, "...", 3);
        n += 3;
    }
    buf[n] = '\0';
}

/* ---- values ------------------------------------------------------------- */

/* Validate (and skip) the elements of an array whose elem type and count have
 * been read. str_off, when non-NULL, receives each string's offset relative
 * to the first element. */
static wf_status skip_array(cursor *c, uint32_t elem, uint64_t n, int depth, const char *key,
                            uint64_t *str_off) {
    uint64_t start = c->pos;
    uint64_t esz = vtype_size(elem);
    if (esz) {
        uint64_t total;
        if (!wf_mul_u64(n, esz, &total) || total > cur_left(c))
            return wf_fail(c->err, WF_ERR_FORMAT,
                           "%s: key '%s': array of %" PRIu64 " %s elements at offset %" PRIu64
                           " does not fit in the %" PRIu64 " bytes left",
                           c->name, key, n, vtype_name(elem), c->pos, cur_left(c));
        if (elem == WF_GGUF_BOOL) {
            for (uint64_t i = 0; i < n; i++)
                if (c->base[c->pos + i] > 1)
                    return wf_fail(c->err, WF_ERR_FORMAT,
                                   "%s: key '%s': bool array element %" PRIu64 " is %u (not 0 or 1)",
                                   c->name, key, i, c->base[c->pos + i]);
        }
        c->pos += total;
        return WF_OK;
    }
    if (elem == WF_GGUF_STRING) {
        if (n > cur_left(c) / 8)
            return wf_fail(c->err, WF_ERR_FORMAT,
                           "%s: key '%s': array of %" PRIu64 " strings at offset %" PRIu64
                           " cannot fit in the %" PRIu64 " bytes left",
                           c->name, key, n, c->pos, cur_left(c));
        for (uint64_t i = 0; i < n; i++) {
            wf_str s;
            if (str_off) str_off[i] = c->pos - start;
            wf_status st = rd_str(c, &s, "string array element");
            if (st) return st;
        }
        return WF_OK;
    }
    if (elem == WF_GGUF_ARRAY) {
        if (depth >= GGUF_MAX_ARRAY_DEPTH)
            return wf_fail(c->err, WF_ERR_FORMAT, "%s: key '%s': arrays nested deeper than %d",
                           c->name, key, GGUF_MAX_ARRAY_DEPTH);
        if (n > cur_left(c) / 12)
            return wf_fail(c->err, WF_ERR_FORMAT,
                           "%s: key '%s': array of %" PRIu64 " arrays at offset %" PRIu64
                           " cannot fit in the %" PRIu64 " bytes left",
                           c->name, key, n, c->pos, cur_left(c));
        for (uint64_t i = 0; i < n; i++) {
            uint32_t sub;
            uint64_t sn;
            wf_status st = rd_u32(c, &sub, "nested array element type");
            if (!st) st = rd_u64(c, &sn, "nested array count");
            if (!st) st = skip_array(c, sub, sn, depth + 1, key, NULL);
            if (st) return st;
        }
        return WF_OK;
    }
    return wf_fail(c->err, WF_ERR_FORMAT, "%s: key '%s': unknown array element type %u",
                   c->name, key, elem);
}

static wf_status parse_kv(cursor *c, gguf_kv *kv, int64_t idx) {
    char what[64], key[160];
    snprintf(what, sizeof what, "key %" PRId64, idx);
    wf_status s = rd_str(c, &kv->key, what);
    if (s) return s;
    str_for_msg(kv->key, key, sizeof key);
    if (str_has_nul(kv->key))
        return wf_fail(c->err, WF_ERR_FORMAT, "%s: key %" PRId64 " ('%s') contains a NUL byte",
                       c->name, idx, key);
    uint32_t type;
    if ((s = rd_u32(c, &type, "value type"))) return s;
    if (type >= WF_GGUF_VTYPE_COUNT)
        return wf_fail(c->err, WF_ERR_FORMAT, "%s: key '%s' has unknown value type %u",
                       c->name, key, type);
    kv->type = (wf_gguf_vtype)type;
    kv->val = c->base + c->pos;
    uint64_t start = c->pos;
    if (type == WF_GGUF_STRING) {
        wf_str v;
        if ((s = rd_str(c, &v, "string value"))) return s;
    } else if (type == WF_GGUF_ARRAY) {
        uint32_t elem;
        uint64_t n;
        if ((s = rd_u32(c, &elem, "array element type"))) return s;
        if ((s = rd_u64(c, &n, "array count"))) return s;
        if (elem >= WF_GGUF_VTYPE_COUNT)
            return wf_fail(c->err, WF_ERR_FORMAT, "%s: key '%s': unknown array element type %u",
                           c->name, key, elem);
        kv->elem = (wf_gguf_vtype)elem;
        kv->n = n;
        kv->arr_data = c->base + c->pos;
        if (elem == WF_GGUF_STRING) {
            /* bounded by the file: every string takes at least 8 bytes */
            if (n > cur_left(c) / 8)
                return wf_fail(c->err, WF_ERR_FORMAT,
                               "%s: key '%s': array of %" PRIu64 " strings at offset %" PRIu64
                               " cannot fit in the %" PRIu64 " bytes left",
                               c->name, key, n, c->pos, cur_left(c));
            if (n) {
                kv->str_off = malloc((size_t)n * sizeof *kv->str_off);
                if (!kv->str_off)
                    return wf_fail(c->err, WF_ERR_NOMEM, "%s: key '%s': no memory for %" PRIu64
                                   " string offsets", c->name, key, n);
            }
        }
        if ((s = skip_array(c, elem, n, 0, key, kv->str_off))) return s;
    } else {
        uint64_t sz = vtype_size(type);
        if (sz > cur_left(c)) return truncated(c, sz, "scalar value");
        if (type == WF_GGUF_BOOL && c->base[c->pos] > 1)
            return wf_fail(c->err, WF_ERR_FORMAT, "%s: key '%s': bool value is %u (not 0 or 1)",
                           c->name, key, c->base[c->pos]);
        c->pos += sz;
    }
    kv->val_size = c->pos - start;
    return WF_OK;
}

/* ---- name index --------------------------------------------------------- */

/* Keys and tensor names sorted by their bytes. Sorting (rather than hashing)
 * keeps lookups and the duplicate check O(n log n) whatever names a hostile
 * file chooses. */
typedef struct name_ref {
    const char *ptr;
    uint64_t len;
    int64_t idx;
} name_ref;

static int cmp_bytes(const char *a, uint64_t an, const char *b, uint64_t bn) {
    uint64_t n = an < bn ? an : bn;
    int c = n ? memcmp(a, b, (size_t)n) : 0;
    if (c) return c;
    return an < bn ? -1 : an > bn;
}

static int cmp_name_ref(const void *x, const void *y) {
    const name_ref *a = x, *b = y;
    int c = cmp_bytes(a->ptr, a->len, b->ptr, b->len);
    if (c) return c;
    return a->idx < b->idx ? -1 : a->idx > b->idx; /* stable: first occurrence first */
}

/* Sort refs[n]; on a duplicate name return the index of its second
 * occurrence (else -1). */
static int64_t index_names(name_ref *refs, int64_t n) {
    if (n > 1) qsort(refs, (size_t)n, sizeof *refs, cmp_name_ref);
    for (int64_t i = 0; i + 1 < n; i++)
        if (cmp_bytes(refs[i].ptr, refs[i].len, refs[i + 1].ptr, refs[i + 1].len) == 0) return refs[i + 1].idx;
    return -1;
}

static int64_t find_name(const name_ref *refs, int64_t n, const char *p, uint64_t len) {
    int64_t lo = 0, hi = n; /* [lo, hi) */
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = cmp_bytes(refs[mid].ptr, refs[mid].len, p, len);
        if (c == 0) return refs[mid].idx;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* ---- tensors ------------------------------------------------------------ */

static wf_status parse_tensor_info(cursor *c, wf_gguf_tensor *t, int64_t idx) {
    char what[64], name[160];
    snprintf(what, sizeof what, "name of tensor %" PRId64, idx);
    wf_str nm;
    wf_status s = rd_str(c, &nm, what);
    if (s) return s;
    str_for_msg(nm, name, sizeof name);
    if (str_has_nul(nm))
        return wf_fail(c->err, WF_ERR_FORMAT, "%s: tensor %" PRId64 " name '%s' contains a NUL byte",
                       c->name, idx, name);
    t->name = malloc((size_t)nm.len + 1);
    if (!t->name) return wf_fail(c->err, WF_ERR_NOMEM, "%s: no memory for a tensor name", c->name);
    memcpy(t->name, nm.ptr, (size_t)nm.len);
    t->name[nm.len] = '\0';

    if ((s = rd_u32(c, &t->n_dims, "tensor n_dims"))) return s;
    if (t->n_dims < 1 || t->n_dims > WF_GGUF_MAX_DIMS)
        return wf_fail(c->err, WF_ERR_FORMAT, "%s: tensor '%s' has %u dimensions (1..%d supported)",
                       c->name, name, t->n_dims, WF_GGUF_MAX_DIMS);
    for (int d = 0; d < WF_GGUF_MAX_DIMS; d++) t->ne[d] = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) {
        uint64_t ne;
        if ((s = rd_u64(c, &ne, "tensor dimension"))) return s;
        if (ne > (uint64_t)INT64_MAX)
            return wf_fail(c->err, WF_ERR_FORMAT, "%s: tensor '%s': ne[%u] = %" PRIu64 " is out of range",
                           c->name, name, d, ne);
        t->ne[d] = (int64_t)ne;
    }
    if ((s = rd_u32(c, &t->type, "tensor type"))) return s;
    if ((s = rd_u64(c, &t->offset, "tensor offset"))) return s;
    return WF_OK;
}

/* Shape, type, size and placement of one tensor, once the data section
 * start and the alignment are known. */
static wf_status check_tensor(wf_gguf *g, wf_gguf_tensor *t, wf_error *err) {
    char name[160];
    wf_str nm = {t->name, strlen(t->name)};
    str_for_msg(nm, name, sizeof name);
    const wf_type_traits *tr = wf_type_get(t->type);
    if (!tr)
        return wf_fail(err, WF_ERR_UNSUPPORTED, "%s: tensor '%s' has unknown type id %u",
                       g->path, name, t->type);
    uint64_t nel = 1;
    for (int d = 0; d < WF_GGUF_MAX_DIMS; d++) {
        if (!wf_mul_u64(nel, (uint64_t)t->ne[d], &nel) || nel > (uint64_t)INT64_MAX)
            return wf_fail(err, WF_ERR_FORMAT,
                           "%s: tensor '%s': element count of shape [%" PRId64 ", %" PRId64 ", %" PRId64
                           ", %" PRId64 "] overflows",
                           g->path, name, t->ne[0], t->ne[1], t->ne[2], t->ne[3]);
    }
    if (t->ne[0] % tr->blck_size)
        return wf_fail(err, WF_ERR_FORMAT,
                       "%s: tensor '%s': ne[0] = %" PRId64 " is not a multiple of the %s block size %d",
                       g->path, name, t->ne[0], tr->name, tr->blck_size);
    uint64_t nbytes = (uint64_t)(t->ne[0] / tr->blck_size);
    bool ok = wf_mul_u64(nbytes, tr->type_size, &nbytes);
    for (int d = 1; d < WF_GGUF_MAX_DIMS && ok; d++) ok = wf_mul_u64(nbytes, (uint64_t)t->ne[d], &nbytes);
    if (!ok)
        return wf_fail(err, WF_ERR_FORMAT, "%s: tensor '%s': byte size overflows", g->path, name);
    t->nbytes = nbytes;
    if (t->offset % g->alignment)
        return wf_fail(err, WF_ERR_FORMAT,
                       "%s: tensor '%s': data offset %" PRIu64 " is not a multiple of the alignment %" PRIu64,
                       g->path, name, t->offset, g->alignment);
    uint64_t start, end;
    if (!wf_add_u64(g->data_offset, t->offset, &start) || !wf_add_u64(start, nbytes, &end) ||
        end > g->size)
        return wf_fail(err, WF_ERR_FORMAT,
                       "%s: tensor '%s' data [%" PRIu64 ", %" PRIu64 "+%" PRIu64
                       ") extends past end of file (size %" PRIu64 ")",
                       g->path, name, start, start, nbytes, g->size);
    t->data = g->base + start;
    return WF_OK;
}

typedef struct span {
    uint64_t begin, end;
    int64_t idx;
} span;

static int cmp_span(const void *a, const void *b) {
    const span *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

static wf_status check_overlaps(wf_gguf *g, wf_error *err) {
    if (g->n_tensors < 2) return WF_OK;
    span *sp = malloc((size_t)g->n_tensors * sizeof *sp);
    if (!sp) return wf_fail(err, WF_ERR_NOMEM, "%s: no memory to sort tensors", g->path);
    for (int64_t i = 0; i < g->n_tensors; i++) {
        /* no overflow: offset + nbytes was checked against the file size */
        sp[i] = (span){g->tensors[i].offset, g->tensors[i].offset + g->tensors[i].nbytes, i};
    }
    qsort(sp, (size_t)g->n_tensors, sizeof *sp, cmp_span);
    wf_status s = WF_OK;
    for (int64_t i = 0; i + 1 < g->n_tensors; i++) {
        if (sp[i + 1].begin < sp[i].end) {
            s = wf_fail(err, WF_ERR_FORMAT,
                        "%s: tensors '%.100s' [%" PRIu64 ", %" PRIu64 ") and '%.100s' [%" PRIu64 ", %" PRIu64
                        ") overlap in the data section",
                        g->path, g->tensors[sp[i].idx].name, sp[i].begin, sp[i].end,
                        g->tensors[sp[i + 1].idx].name, sp[i + 1].begin, sp[i + 1].end);
            break;
        }
    }
    free(sp);
    return s;
}

/* ---- open --------------------------------------------------------------- */

static wf_status parse(wf_gguf *g, wf_error *err) {
    cursor c = {g->base, 0, g->size, g->path, err};
    wf_status s;
    uint32_t magic;
    if (g->size < 4 || (s = rd_u32(&c, &magic, "magic")))
        return wf_fail(err, WF_ERR_FORMAT, "%s: not a GGUF file (only %" PRIu64 " bytes)", g->path,
                       g->size);
    if (magic != WF_GGUF_MAGIC)
        return wf_fail(err, WF_ERR_FORMAT, "%s: not a GGUF file (bad magic 0x%08x)", g->path, magic);
    if ((s = rd_u32(&c, &g->version, "version"))) return s;
    if (g->version == 1)
        return wf_fail(err, WF_ERR_UNSUPPORTED,
                       "%s: GGUF version 1 is not supported (it uses 32-bit counts); "
                       "convert the file to GGUF v3", g->path);
    if (g->version == 0x02000000u || g->version == 0x03000000u)
        return wf_fail(err, WF_ERR_UNSUPPORTED, "%s: big-endian GGUF files are not supported", g->path);
    if (g->version != 2 && g->version != 3)
        return wf_fail(err, WF_ERR_UNSUPPORTED, "%s: unsupported GGUF version %u (2 and 3 are supported)",
                       g->path, g->version);
    uint64_t n_tensors, n_kv;
    if ((s = rd_u64(&c, &n_tensors, "tensor count"))) return s;
    if ((s = rd_u64(&c, &n_kv, "key/value count"))) return s;
    /* Counts must be justified by the bytes left before anything is allocated. */
    uint64_t need_kv, need_t, need;
    if (!wf_mul_u64(n_kv, GGUF_MIN_KV_BYTES, &need_kv) ||
        !wf_mul_u64(n_tensors, GGUF_MIN_TENSOR_BYTES, &need_t) || !wf_add_u64(need_kv, need_t, &need) ||
        need > cur_left(&c))
        return wf_fail(err, WF_ERR_FORMAT,
                       "%s: header claims %" PRIu64 " key/values and %" PRIu64
                       " tensors, which cannot fit in the %" PRIu64 " bytes left",
                       g->path, n_kv, n_tensors, cur_left(&c));

    g->n_kv = (int64_t)n_kv;
    g->kv = calloc(n_kv ? (size_t)n_kv : 1, sizeof *g->kv);
    g->kv_sorted = malloc((n_kv ? (size_t)n_kv : 1) * sizeof *g->kv_sorted);
    if (!g->kv || !g->kv_sorted) return wf_fail(err, WF_ERR_NOMEM, "%s: no memory for %" PRIu64 " keys", g->path, n_kv);
    for (int64_t i = 0; i < g->n_kv; i++) {
        if ((s = parse_kv(&c, &g->kv[i], i))) return s;
        g->kv_sorted[i] = (name_ref){g->kv[i].key.ptr, g->kv[i].key.len, i};
    }
    int64_t dup = index_names(g->kv_sorted, g->n_kv);
    if (dup >= 0) {
        char key[160];
        str_for_msg(g->kv[dup].key, key, sizeof key);
        return wf_fail(err, WF_ERR_FORMAT, "%s: duplicate key '%s'", g->path, key);
    }

    g->alignment = WF_GGUF_DEFAULT_ALIGNMENT;
    int64_t ai = wf_gguf_find_key(g, "general.alignment");
    if (ai >= 0) {
        const gguf_kv *kv = &g->kv[ai];
        if (kv->type != WF_GGUF_UINT32)
            return wf_fail(err, WF_ERR_FORMAT, "%s: general.alignment has type %s (must be u32)", g->path,
                           vtype_name(kv->type));
        uint32_t a = (uint32_t)kv->val[0] | (uint32_t)kv->val[1] << 8 | (uint32_t)kv->val[2] << 16 |
                     (uint32_t)kv->val[3] << 24;
        if (a == 0 || (a & (a - 1)))
            return wf_fail(err, WF_ERR_FORMAT, "%s: general.alignment = %u is not a power of two", g->path, a);
        g->alignment = a;
    }

    g->n_tensors = (int64_t)n_tensors;
    g->tensors = calloc(n_tensors ? (size_t)n_tensors : 1, sizeof *g->tensors);
    g->t_sorted = malloc((n_tensors ? (size_t)n_tensors : 1) * sizeof *g->t_sorted);
    if (!g->tensors || !g->t_sorted)
        return wf_fail(err, WF_ERR_NOMEM, "%s: no memory for %" PRIu64 " tensors", g->path, n_tensors);
    for (int64_t i = 0; i < g->n_tensors; i++) {
        if ((s = parse_tensor_info(&c, &g->tensors[i], i))) return s;
        g->t_sorted[i] = (name_ref){g->tensors[i].name, strlen(g->tensors[i].name), i};
    }
    dup = index_names(g->t_sorted, g->n_tensors);
    if (dup >= 0)
        return wf_fail(err, WF_ERR_FORMAT, "%s: duplicate tensor name '%.200s'", g->path, g->tensors[dup].name);

    /* The data section starts at the next multiple of the alignment. */
    uint64_t rem = c.pos % g->alignment;
    if (!wf_add_u64(c.pos, rem ? g->alignment - rem : 0, &g->data_offset))
        return wf_fail(err, WF_ERR_FORMAT, "%s: data section offset overflows", g->path);
    if (g->n_tensors > 0 && g->data_offset > g->size)
        return wf_fail(err, WF_ERR_FORMAT,
                       "%s: data section would start at %" PRIu64 ", past the end of the file (size %" PRIu64 ")",
                       g->path, g->data_offset, g->size);
    for (int64_t i = 0; i < g->n_tensors; i++)
        if ((s = check_tensor(g, &g->tensors[i], err))) return s;
    return check_overlaps(g, err);
}

static wf_status open_common(wf_gguf *g, wf_gguf **out, wf_error *err) {
    wf_status s = parse(g, err);
    if (s) {
        wf_gguf_close(g);
        return s;
    }
    *out = g;
    return WF_OK;
}

static wf_gguf *gguf_new(const char *name) {
    wf_gguf *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    size_t n = strlen(name);
    g->path = malloc(n + 1);
    if (!g->path) {
        free(g);
        return NULL;
    }
    memcpy(g->path, name, n + 1);
    return g;
}

wf_status wf_gguf_open_mem(const void *data, size_t size, const char *name, wf_gguf **out,
                           wf_error *err) {
    if (!out) return wf_fail(err, WF_ERR_INVALID_ARG, "wf_gguf_open_mem: out is NULL");
    *out = NULL;
    if (!name) name = "<memory>";
    if (!data && size) return wf_fail(err, WF_ERR_INVALID_ARG, "%s: NULL buffer", name);
    wf_gguf *g = gguf_new(name);
    if (!g) return wf_fail(err, WF_ERR_NOMEM, "%s: out of memory", name);
    g->base = data;
    g->size = size;
    return open_common(g, out, err);
}

wf_status wf_gguf_open(const char *path, wf_gguf **out, wf_error *err) {
    if (!out || !path) return wf_fail(err, WF_ERR_INVALID_ARG, "wf_gguf_open: NULL argument");
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return wf_fail(err, WF_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return wf_fail(err, WF_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return wf_fail(err, WF_ERR_IO, "%s: not a regular file", path);
    }
    if (st.st_size < 24) {
        close(fd);
        return wf_fail(err, WF_ERR_FORMAT, "%s: not a GGUF file (only %lld bytes)", path,
                       (long long)st.st_size);
    }
    if ((uint64_t)st.st_size > SIZE_MAX) {
        close(fd);
        return wf_fail(err, WF_ERR_RANGE, "%s: file too large to map", path);
    }
    size_t size = (size_t)st.st_size;
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (map == MAP_FAILED) return wf_fail(err, WF_ERR_IO, "%s: mmap failed: %s", path, strerror(e));
    wf_gguf *g = gguf_new(path);
    if (!g) {
        munmap(map, size);
        return wf_fail(err, WF_ERR_NOMEM, "%s: out of memory", path);
    }
    g->map = map;
    g->map_size = size;
    g->base = map;
    g->size = size;
    return open_common(g, out, err);
}

void wf_gguf_close(wf_gguf *g) {
    if (!g) return;
    if (g->kv)
        for (int64_t i = 0; i < g->n_kv; i++) free(g->kv[i].str_off);
    if (g->tensors)
        for (int64_t i = 0; i < g->n_tensors; i++) free(g->tensors[i].name);
    free(g->kv);
    free(g->tensors);
    free(g->kv_sorted);
    free(g->t_sorted);
    if (g->map) munmap(g->map, g->map_size);
    free(g->path);
    free(g);
}

uint32_t wf_gguf_version(const wf_gguf *g) { return g->version; }
uint64_t wf_gguf_alignment(const wf_gguf *g) { return g->alignment; }
const char *wf_gguf_path(const wf_gguf *g) { return g->path; }
uint64_t wf_gguf_file_size(const wf_gguf *g) { return g->size; }
uint64_t wf_gguf_data_offset(const wf_gguf *g) { return g->data_offset; }

/* ---- metadata access ---------------------------------------------------- */

int64_t wf_gguf_n_kv(const wf_gguf *g) { return g->n_kv; }

int64_t wf_gguf_find_key(const wf_gguf *g, const char *key) {
    if (!g || !key || !g->kv_sorted) return -1;
    return find_name(g->kv_sorted, g->n_kv, key, strlen(key));
}

wf_str wf_gguf_key_at(const wf_gguf *g, int64_t i) {
    wf_str none = {"", 0};
    return i >= 0 && i < g->n_kv ? g->kv[i].key : none;
}

wf_gguf_vtype wf_gguf_type_at(const wf_gguf *g, int64_t i) {
    return i >= 0 && i < g->n_kv ? g->kv[i].type : WF_GGUF_VTYPE_COUNT;
}

wf_status wf_gguf_arr_info_at(const wf_gguf *g, int64_t i, wf_gguf_vtype *elem, uint64_t *n) {
    if (i < 0 || i >= g->n_kv || g->kv[i].type != WF_GGUF_ARRAY) return WF_ERR_INVALID_ARG;
    if (elem) *elem = g->kv[i].elem;
    if (n) *n = g->kv[i].n;
    return WF_OK;
}

wf_status wf_gguf_raw_value_at(const wf_gguf *g, int64_t i, const void **p, uint64_t *size) {
    if (i < 0 || i >= g->n_kv) return WF_ERR_INVALID_ARG;
    *p = g->kv[i].val;
    *size = g->kv[i].val_size;
    return WF_OK;
}

/* Look up key; on absence fail with NOT_FOUND. */
static const gguf_kv *get_kv(const wf_gguf *g, const char *key, wf_error *err, wf_status *s) {
    int64_t i = wf_gguf_find_key(g, key);
    if (i < 0) {
        *s = wf_fail(err, WF_ERR_NOT_FOUND, "%s: key '%s' not found", g->path, key);
        return NULL;
    }
    *s = WF_OK;
    return &g->kv[i];
}

static wf_status type_mismatch(const wf_gguf *g, const char *key, const gguf_kv *kv, const char *want,
                               wf_error *err) {
    return wf_fail(err, WF_ERR_FORMAT, "%s: key '%s' has type %s, expected %s", g->path, key,
                   vtype_name(kv->type), want);
}

/* Read an integer kv as a signed/unsigned pair: *neg tells if it is < 0. */
static bool kv_int(const gguf_kv *kv, uint64_t *mag, bool *neg) {
    const uint8_t *v = kv->val;
    uint64_t u = 0;
    uint64_t sz = vtype_size(kv->type);
    bool is_signed;
    switch (kv->type) {
    case WF_GGUF_UINT8: case WF_GGUF_UINT16: case WF_GGUF_UINT32: case WF_GGUF_UINT64: is_signed = false; break;
    case WF_GGUF_INT8: case WF_GGUF_INT16: case WF_GGUF_INT32: case WF_GGUF_INT64: is_signed = true; break;
    default: return false;
    }
    for (uint64_t b = sz; b-- > 0;) u = u << 8 | v[b];
    *neg = false;
    if (is_signed && (u >> (sz * 8 - 1)) & 1) {
        /* sign-extend, then take the magnitude */
        if (sz < 8) u |= ~0ull << (sz * 8);
        *neg = true;
        *mag = (~u) + 1; /* |value|; INT64_MIN gives 2^63 */
    } else {
        *mag = u;
    }
    return true;
}

static wf_status get_int(const wf_gguf *g, const char *key, bool want_signed, uint64_t max_pos,
                         const char *want, uint64_t *mag, bool *neg, wf_error *err) {
    wf_status s;
    const gguf_kv *kv = get_kv(g, key, err, &s);
    if (!kv) return s;
    if (!kv_int(kv, mag, neg)) return type_mismatch(g, key, kv, want, err);
    bool fits = *neg ? (want_signed && *mag <= (uint64_t)INT64_MAX + 1) : *mag <= max_pos;
    if (!fits)
        return wf_fail(err, WF_ERR_FORMAT, "%s: key '%s' value %s%" PRIu64 " does not fit %s", g->path, key,
                       *neg ? "-" : "", *mag, want);
    return WF_OK;
}

wf_status wf_gguf_get_u32(const wf_gguf *g, const char *key, uint32_t *out, wf_error *err) {
    uint64_t m = 0;
    bool neg;
    wf_status s = get_int(g, key, false, UINT32_MAX, "u32", &m, &neg, err);
    if (!s) *out = (uint32_t)m;
    return s;
}

wf_status wf_gguf_get_u64(const wf_gguf *g, const char *key, uint64_t *out, wf_error *err) {
    uint64_t m = 0;
    bool neg;
    wf_status s = get_int(g, key, false, UINT64_MAX, "u64", &m, &neg, err);
    if (!s) *out = m;
    return s;
}

wf_status wf_gguf_get_i64(const wf_gguf *g, const char *key, int64_t *out, wf_error *err) {
    uint64_t m = 0;
    bool neg;
    wf_status s = get_int(g, key, true, INT64_MAX, "i64", &m, &neg, err);
    if (!s) *out = neg ? (int64_t)(0 - m) : (int64_t)m; /* 0 - 2^63 wraps to INT64_MIN's bits */
    return s;
}

wf_status wf_gguf_get_f32(const wf_gguf *g, const char *key, float *out, wf_error *err) {
    wf_status s;
    const gguf_kv *kv = get_kv(g, key, err, &s);
    if (!kv) return s;
    if (kv->type == WF_GGUF_FLOAT32) {
        memcpy(out, kv->val, 4);
    } else if (kv->type == WF_GGUF_FLOAT64) {
        double d;
        memcpy(&d, kv->val, 8);
        *out = (float)d;
    } else {
        return type_mismatch(g, key, kv, "f32 or f64", err);
    }
    return WF_OK;
}

wf_status wf_gguf_get_bool(const wf_gguf *g, const char *key, bool *out, wf_error *err) {
    wf_status s;
    const gguf_kv *kv = get_kv(g, key, err, &s);
    if (!kv) return s;
    if (kv->type != WF_GGUF_BOOL) return type_mismatch(g, key, kv, "bool", err);
    *out = kv->val[0] != 0;
    return WF_OK;
}

wf_status wf_gguf_get_str(const wf_gguf *g, const char *key, wf_str *out, wf_error *err) {
    wf_status s;
    const gguf_kv *kv = get_kv(g, key, err, &s);
    if (!kv) return s;
    if (kv->type != WF_GGUF_STRING) return type_mismatch(g, key, kv, "string", err);
    out->len = le_u64(kv->val);
    out->ptr = (const char *)kv->val + 8;
    return WF_OK;
}

wf_status wf_gguf_get_arr(const wf_gguf *g, const char *key, wf_gguf_vtype *elem, uint64_t *n,
                          const void **data, wf_error *err) {
    wf_status s;
    const gguf_kv *kv = get_kv(g, key, err, &s);
    if (!kv) return s;
    if (kv->type != WF_GGUF_ARRAY) return type_mismatch(g, key, kv, "array", err);
    if (elem) *elem = kv->elem;
    if (n) *n = kv->n;
    if (data) *data = kv->arr_data;
    return WF_OK;
}

wf_status wf_gguf_arr_str(const wf_gguf *g, int64_t i, uint64_t j, wf_str *out) {
    if (i < 0 || i >= g->n_kv) return WF_ERR_INVALID_ARG;
    const gguf_kv *kv = &g->kv[i];
    if (kv->type != WF_GGUF_ARRAY || kv->elem != WF_GGUF_STRING) return WF_ERR_INVALID_ARG;
    if (j >= kv->n) return WF_ERR_RANGE;
    const uint8_t *p = kv->arr_data + kv->str_off[j];
    out->len = le_u64(p);
    out->ptr = (const char *)p + 8;
    return WF_OK;
}

/* Append printable text to buf (escaping control bytes), NUL-terminated. */
static void put_escaped(char *buf, size_t cap, size_t *n, const char *s, uint64_t len) {
    for (uint64_t i = 0; i < len && *n + 5 < cap; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '\n') {
            buf[(*n)++] = '\\';
            buf[(*n)++] = 'n';
        } else if (ch < 0x20 || ch == 0x7f) {
            *n += (size_t)snprintf(buf + *n, cap - *n, "\\x%02x", ch);
        } else {
            buf[(*n)++] = (char)ch;
        }
    }
    buf[*n] = '\0';
}

void wf_gguf_format_value(const wf_gguf *g, int64_t i, char *buf, size_t cap) {
    if (!buf || cap == 0) return;
    buf[0] = '\0';
    if (i < 0 || i >= g->n_kv) return;
    const gguf_kv *kv = &g->kv[i];
    const uint8_t *v = kv->val;
    uint64_t mag;
    bool neg;
    if (kv_int(kv, &mag, &neg)) {
        snprintf(buf, cap, "%s%" PRIu64, neg ? "-" : "", mag);
        return;
    }
    switch (kv->type) {
    case WF_GGUF_FLOAT32: {
        float f;
        memcpy(&f, v, 4);
        snprintf(buf, cap, "%.9g", (double)f);
        break;
    }
    case WF_GGUF_FLOAT64: {
        double d;
        memcpy(&d, v, 8);
        snprintf(buf, cap, "%.17g", d);
        break;
    }
    case WF_GGUF_BOOL: snprintf(buf, cap, "%s", v[0] ? "true" : "false"); break;
    case WF_GGUF_STRING: {
        size_t n = 0;
        put_escaped(buf, cap, &n, (const char *)v + 8, le_u64(v));
        break;
    }
    case WF_GGUF_ARRAY: snprintf(buf, cap, "[%s x %" PRIu64 "]", vtype_name(kv->elem), kv->n); break;
    default: break;
    }
}

const char *wf_gguf_vtype_name(wf_gguf_vtype t) { return vtype_name((uint32_t)t); }

uint64_t wf_gguf_vtype_size(wf_gguf_vtype t) { return vtype_size((uint32_t)t); }

/* ---- tensors ------------------------------------------------------------ */

int64_t wf_gguf_n_tensors(const wf_gguf *g) { return g->n_tensors; }

const wf_gguf_tensor *wf_gguf_tensor_at(const wf_gguf *g, int64_t i) {
    return i >= 0 && i < g->n_tensors ? &g->tensors[i] : NULL;
}

const wf_gguf_tensor *wf_gguf_find_tensor(const wf_gguf *g, const char *name) {
    if (!g || !name || !g->t_sorted) return NULL;
    int64_t i = find_name(g->t_sorted, g->n_tensors, name, strlen(name));
    return i >= 0 ? &g->tensors[i] : NULL;
}
