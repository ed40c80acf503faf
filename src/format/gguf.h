/* gguf.h — bounded, validating GGUF (v2, v3) reader and a writer.
 *
 * The reader maps the file read-only; tensor data and string values point
 * into the mapping (never copied). Every count, length, offset, shape and
 * alignment is checked against the file size and against overflow before use.
 * Errors name the file and the problem.
 */
#ifndef WF_GGUF_H
#define WF_GGUF_H

#include "base/common.h"

#define WF_GGUF_MAGIC 0x46554747u /* "GGUF" little-endian */
#define WF_GGUF_DEFAULT_ALIGNMENT 32
#define WF_GGUF_MAX_DIMS 4

typedef enum wf_gguf_vtype {
    WF_GGUF_UINT8 = 0,
    WF_GGUF_INT8 = 1,
    WF_GGUF_UINT16 = 2,
    WF_GGUF_INT16 = 3,
    WF_GGUF_UINT32 = 4,
    WF_GGUF_INT32 = 5,
    WF_GGUF_FLOAT32 = 6,
    WF_GGUF_BOOL = 7,
    WF_GGUF_STRING = 8,
    WF_GGUF_ARRAY = 9,
    WF_GGUF_UINT64 = 10,
    WF_GGUF_INT64 = 11,
    WF_GGUF_FLOAT64 = 12,
    WF_GGUF_VTYPE_COUNT
} wf_gguf_vtype;

/* A length-delimited string inside the mapping (not NUL-terminated). */
typedef struct wf_str {
    const char *ptr;
    uint64_t len;
} wf_str;

typedef struct wf_gguf_tensor {
    char *name;          /* NUL-terminated copy                              */
    uint32_t type;       /* wf_type value (ggml type id); checked known      */
    uint32_t n_dims;     /* 1..4                                             */
    int64_t ne[WF_GGUF_MAX_DIMS]; /* elements per dim, ne[0] fastest; unused dims = 1 */
    uint64_t offset;     /* relative to the start of the data section         */
    uint64_t nbytes;     /* size of the data, from type and shape            */
    const void *data;    /* into the mapping                                 */
} wf_gguf_tensor;

typedef struct wf_gguf wf_gguf;

/* Open and validate a file (mmap). */
wf_status wf_gguf_open(const char *path, wf_gguf **out, wf_error *err);
/* Validate a buffer already in memory (tests, fuzzing). The buffer must
 * outlive the handle; name is used in messages. */
wf_status wf_gguf_open_mem(const void *data, size_t size, const char *name,
                           wf_gguf **out, wf_error *err);
void wf_gguf_close(wf_gguf *g);

uint32_t wf_gguf_version(const wf_gguf *g);
uint64_t wf_gguf_alignment(const wf_gguf *g);
const char *wf_gguf_path(const wf_gguf *g);
uint64_t wf_gguf_file_size(const wf_gguf *g);
/* Absolute file offset of the data section (tensor offsets are relative to it). */
uint64_t wf_gguf_data_offset(const wf_gguf *g);

/* ---- metadata ---- */
int64_t wf_gguf_n_kv(const wf_gguf *g);
int64_t wf_gguf_find_key(const wf_gguf *g, const char *key); /* -1 if absent */
wf_str wf_gguf_key_at(const wf_gguf *g, int64_t i);
wf_gguf_vtype wf_gguf_type_at(const wf_gguf *g, int64_t i);
/* For arrays: element type and count (else WF_ERR_INVALID_ARG). */
wf_status wf_gguf_arr_info_at(const wf_gguf *g, int64_t i, wf_gguf_vtype *elem, uint64_t *n);

/* Typed getters by key. Return WF_ERR_NOT_FOUND when the key is absent and
 * WF_ERR_FORMAT (message names key and types) when the type does not fit.
 * Integer getters accept any integer type whose value fits the target. */
wf_status wf_gguf_get_u32(const wf_gguf *g, const char *key, uint32_t *out, wf_error *err);
wf_status wf_gguf_get_i64(const wf_gguf *g, const char *key, int64_t *out, wf_error *err);
wf_status wf_gguf_get_u64(const wf_gguf *g, const char *key, uint64_t *out, wf_error *err);
wf_status wf_gguf_get_f32(const wf_gguf *g, const char *key, float *out, wf_error *err); /* f32 or f64 */
wf_status wf_gguf_get_bool(const wf_gguf *g, const char *key, bool *out, wf_error *err);
wf_status wf_gguf_get_str(const wf_gguf *g, const char *key, wf_str *out, wf_error *err);
/* Array by key: element type, count, and for numeric arrays a pointer to the
 * packed little-endian elements (may be unaligned: read with memcpy). */
wf_status wf_gguf_get_arr(const wf_gguf *g, const char *key, wf_gguf_vtype *elem,
                          uint64_t *n, const void **data, wf_error *err);
/* Element i of a string array (by kv index). O(1): offsets are indexed at open. */
wf_status wf_gguf_arr_str(const wf_gguf *g, int64_t kv, uint64_t i, wf_str *out);
/* The encoded value bytes of kv i (after its type id; arrays include their
 * element type and count), little-endian as in the file. For copying and
 * dumping values of any type. */
wf_status wf_gguf_raw_value_at(const wf_gguf *g, int64_t i, const void **p, uint64_t *size);
/* "u32", "string", "array", ... ("unknown" out of range); bytes of one
 * element of a fixed-size type (0 for string, array and unknown). */
const char *wf_gguf_vtype_name(wf_gguf_vtype t);
uint64_t wf_gguf_vtype_size(wf_gguf_vtype t);
/* Scalar value of kv i as a formatted string (for `wafer info`), arrays as
 * "[type x n]". Writes at most cap bytes incl. NUL. */
void wf_gguf_format_value(const wf_gguf *g, int64_t i, char *buf, size_t cap);

/* ---- tensors ---- */
int64_t wf_gguf_n_tensors(const wf_gguf *g);
const wf_gguf_tensor *wf_gguf_tensor_at(const wf_gguf *g, int64_t i);
const wf_gguf_tensor *wf_gguf_find_tensor(const wf_gguf *g, const char *name);

/* ---- writer ---- */
typedef struct wf_gguf_writer wf_gguf_writer;

wf_status wf_gguf_writer_create(wf_gguf_writer **out, wf_error *err);
void wf_gguf_writer_free(wf_gguf_writer *w);
/* Metadata (keys must be unique; setting an existing key replaces it). */
wf_status wf_gguf_writer_set_u32(wf_gguf_writer *w, const char *key, uint32_t v);
wf_status wf_gguf_writer_set_i32(wf_gguf_writer *w, const char *key, int32_t v);
wf_status wf_gguf_writer_set_u64(wf_gguf_writer *w, const char *key, uint64_t v);
wf_status wf_gguf_writer_set_f32(wf_gguf_writer *w, const char *key, float v);
wf_status wf_gguf_writer_set_bool(wf_gguf_writer *w, const char *key, bool v);
wf_status wf_gguf_writer_set_i64(wf_gguf_writer *w, const char *key, int64_t v);
wf_status wf_gguf_writer_set_f64(wf_gguf_writer *w, const char *key, double v);
/* Any fixed-size scalar type (u8 ... f64, bool); v points to a host value of
 * that type (uint8_t, int16_t, ..., double, bool). */
wf_status wf_gguf_writer_set_scalar(wf_gguf_writer *w, const char *key, wf_gguf_vtype type,
                                    const void *v);
wf_status wf_gguf_writer_set_str(wf_gguf_writer *w, const char *key, const char *v, size_t len);
/* Numeric array of n elements of elem type (packed little-endian). */
wf_status wf_gguf_writer_set_arr(wf_gguf_writer *w, const char *key, wf_gguf_vtype elem,
                                 const void *data, uint64_t n);
wf_status wf_gguf_writer_set_arr_str(wf_gguf_writer *w, const char *key,
                                     const wf_str *items, uint64_t n);
/* Copy key/value i of an open file (any type, arrays included). */
wf_status wf_gguf_writer_copy_kv(wf_gguf_writer *w, const wf_gguf *src, int64_t i);
/* Custom data alignment (power of two); written as general.alignment. */
wf_status wf_gguf_writer_set_alignment(wf_gguf_writer *w, uint32_t alignment);
/* Add a tensor. data is referenced, not copied: it must stay valid until
 * wf_gguf_writer_write returns. nbytes must equal the size implied by type
 * and shape. */
wf_status wf_gguf_writer_add_tensor(wf_gguf_writer *w, const char *name, uint32_t type,
                                    uint32_t n_dims, const int64_t *ne,
                                    const void *data, uint64_t nbytes, wf_error *err);
/* Write a GGUF v3 file (to a temporary name, then rename). progress may be
 * NULL. */
wf_status wf_gguf_writer_write(wf_gguf_writer *w, const char *path,
                               wf_progress_fn progress, void *user, wf_error *err);

#endif /* WF_GGUF_H */
