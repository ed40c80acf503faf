"""gguf_py.py — an independent pure-Python (numpy) GGUF reader and writer.

Written from the format description, not from wafer's C code, so tests can
use it as the reference: to write synthetic models for the model tests and
to check files that wafer's writer produces.

Format (little-endian):
  u32 magic "GGUF", u32 version (2 or 3), u64 n_tensors, u64 n_kv,
  n_kv x { string key, u32 vtype, value },
  n_tensors x { string name, u32 n_dims, u64 ne[n_dims], u32 type, u64 offset },
  padding to `general.alignment` (default 32), then the data section.
  string = u64 length + bytes; array = u32 elem type + u64 count + elements.
  Tensor offsets are relative to the data section and aligned.

Writer:
    w = GGUFWriter(path, alignment=32)
    w.add_kv("general.architecture", "llama")          # type inferred
    w.add_kv("x.count", 5, UINT64)                       # explicit type
    w.add_kv("tokenizer.ggml.scores", [0.0, 1.5])        # ARRAY of FLOAT32
    w.add_kv("ids", [1, 2], ARRAY, elem_type=INT32)      # explicit element type
    w.add_tensor("tok_embd.weight", np.zeros((vocab, n_embd), np.float32))
    w.add_tensor("blk.0.q.weight", raw_bytes, ggml_type=GGML_Q8_0, shape=[ne0, ne1])
    w.write()

Reader:
    f = read_gguf(path_or_bytes)
    f.version, f.alignment, f.kv[key], f.kv_types[key], f.arr_types[key]
    t = f.tensors[name]; t.type, t.shape (ne list, ne[0] fastest), t.offset,
    t.data (np.uint8 view of the bytes), t.array() (numpy, for F32/F16/BF16)
"""

import os
import struct

import numpy as np

GGUF_MAGIC = 0x46554747  # b"GGUF" read as little-endian u32
DEFAULT_ALIGNMENT = 32

# metadata value types
UINT8, INT8, UINT16, INT16, UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY, \
    UINT64, INT64, FLOAT64 = range(13)

VTYPE_NAMES = {
    UINT8: "u8", INT8: "i8", UINT16: "u16", INT16: "i16", UINT32: "u32",
    INT32: "i32", FLOAT32: "f32", BOOL: "bool", STRING: "str", ARRAY: "arr",
    UINT64: "u64", INT64: "i64", FLOAT64: "f64",
}

# struct format per scalar value type
_SCALAR_FMT = {
    UINT8: "<B", INT8: "<b", UINT16: "<H", INT16: "<h", UINT32: "<I",
    INT32: "<i", FLOAT32: "<f", BOOL: "<?", UINT64: "<Q", INT64: "<q",
    FLOAT64: "<d",
}
_NP_DTYPE = {
    UINT8: "<u1", INT8: "<i1", UINT16: "<u2", INT16: "<i2", UINT32: "<u4",
    INT32: "<i4", FLOAT32: "<f4", UINT64: "<u8", INT64: "<i8", FLOAT64: "<f8",
}

# ggml tensor types: id -> (name, elements per block, bytes per block)
GGML_F32, GGML_F16, GGML_Q4_0, GGML_Q4_1 = 0, 1, 2, 3
GGML_Q5_0, GGML_Q5_1, GGML_Q8_0, GGML_Q8_1 = 6, 7, 8, 9
GGML_Q2_K, GGML_Q3_K, GGML_Q4_K, GGML_Q5_K, GGML_Q6_K, GGML_Q8_K = range(10, 16)
GGML_BF16 = 30
GGML_IQ4_NL, GGML_IQ4_XS, GGML_MXFP4 = 20, 23, 39

GGML_TYPES = {
    GGML_F32: ("f32", 1, 4),
    GGML_F16: ("f16", 1, 2),
    GGML_Q4_0: ("q4_0", 32, 18),
    GGML_Q4_1: ("q4_1", 32, 20),
    GGML_Q5_0: ("q5_0", 32, 22),
    GGML_Q5_1: ("q5_1", 32, 24),
    GGML_Q8_0: ("q8_0", 32, 34),
    GGML_Q8_1: ("q8_1", 32, 36),
    GGML_Q2_K: ("q2_K", 256, 84),
    GGML_Q3_K: ("q3_K", 256, 110),
    GGML_Q4_K: ("q4_K", 256, 144),
    GGML_Q5_K: ("q5_K", 256, 176),
    GGML_Q6_K: ("q6_K", 256, 210),
    GGML_Q8_K: ("q8_K", 256, 292),
    GGML_BF16: ("bf16", 1, 2),
    GGML_IQ4_NL: ("iq4_nl", 32, 18),
    GGML_IQ4_XS: ("iq4_xs", 256, 136),
    GGML_MXFP4: ("mxfp4", 32, 17),
}
GGML_TYPE_BY_NAME = {v[0].lower(): k for k, v in GGML_TYPES.items()}

MAX_DIMS = 4


def ggml_nbytes(ggml_type, shape):
    """Bytes of a tensor of the given type and ne list (ne[0] fastest)."""
    if ggml_type not in GGML_TYPES:
        raise ValueError("unknown ggml type %r" % (ggml_type,))
    _, blck, tsize = GGML_TYPES[ggml_type]
    shape = [int(x) for x in shape]
    if not shape or any(x < 0 for x in shape):
        raise ValueError("bad shape %r" % (shape,))
    if shape[0] % blck:
        raise ValueError("ne[0]=%d is not a multiple of the block size %d of %s"
                         % (shape[0], blck, GGML_TYPES[ggml_type][0]))
    n = shape[0] // blck * tsize
    for d in shape[1:]:
        n *= d
    return n


def _pad(n, align):
    return (n + align - 1) // align * align


def _enc_str(s):
    if isinstance(s, (bytes, bytearray, memoryview)):
        b = bytes(s)
    else:
        b = str(s).encode("utf-8", errors="surrogateescape")
    return struct.pack("<Q", len(b)) + b


def _infer_int_type(values, prefer_signed=False):
    """Scalars: UINT32 when non-negative (as GGUF hparams are), else INT32.
    Lists: INT32 when it fits (token types, ids). Wider values go 64-bit."""
    lo = min(values)
    hi = max(values)
    if lo >= 0 and hi < 2**32 and not (prefer_signed and hi < 2**31):
        return UINT32
    if lo >= -2**31 and hi < 2**31:
        return INT32
    if lo >= 0 and hi < 2**32:
        return UINT32
    if lo >= -2**63 and hi < 2**63:
        return INT64
    if lo >= 0 and hi < 2**64:
        return UINT64
    raise ValueError("integer out of 64-bit range")


def _infer_vtype(value):
    """(vtype, elem_type or None) for a python value."""
    if isinstance(value, (bool, np.bool_)):
        return BOOL, None
    if isinstance(value, (int, np.integer)):
        return _infer_int_type([int(value)]), None
    if isinstance(value, (float, np.floating)):
        return FLOAT32, None
    if isinstance(value, (str, bytes, bytearray)):
        return STRING, None
    if isinstance(value, np.ndarray):
        dt = value.dtype
        m = {np.dtype("uint8"): UINT8, np.dtype("int8"): INT8,
             np.dtype("uint16"): UINT16, np.dtype("int16"): INT16,
             np.dtype("uint32"): UINT32, np.dtype("int32"): INT32,
             np.dtype("float32"): FLOAT32, np.dtype("bool"): BOOL,
             np.dtype("uint64"): UINT64, np.dtype("int64"): INT64,
             np.dtype("float64"): FLOAT64}
        if dt.newbyteorder("=") in m:
            return ARRAY, m[dt.newbyteorder("=")]
        raise ValueError("unsupported numpy dtype %s for metadata" % dt)
    if isinstance(value, (list, tuple)):
        if len(value) == 0:
            return ARRAY, INT32  # arbitrary element type for an empty list
        if all(isinstance(v, (bool, np.bool_)) for v in value):
            return ARRAY, BOOL
        if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value):
            return ARRAY, _infer_int_type([int(v) for v in value], prefer_signed=True)
        if all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
               for v in value):
            return ARRAY, FLOAT32
        if all(isinstance(v, (str, bytes, bytearray)) for v in value):
            return ARRAY, STRING
        if all(isinstance(v, (list, tuple, np.ndarray)) for v in value):
            return ARRAY, ARRAY
        raise ValueError("cannot infer a GGUF type for a mixed list")
    raise ValueError("cannot infer a GGUF type for %r" % type(value))


def encode_value(vtype, value, elem_type=None):
    """Bytes of a value of the given type (without the leading type id)."""
    if vtype == STRING:
        return _enc_str(value)
    if vtype == BOOL:
        return struct.pack("<B", 1 if value else 0)
    if vtype in _SCALAR_FMT:
        return struct.pack(_SCALAR_FMT[vtype], value)
    if vtype == ARRAY:
        if elem_type is None:
            elem_type = _infer_vtype(value)[1]
        out = [struct.pack("<IQ", elem_type, len(value))]
        if elem_type == STRING:
            out.extend(_enc_str(v) for v in value)
        elif elem_type == ARRAY:
            for v in value:
                sub_elem = _infer_vtype(v)[1]
                out.append(encode_value(ARRAY, v, sub_elem))
        elif elem_type == BOOL:
            out.append(bytes(1 if v else 0 for v in value))
        elif elem_type in _NP_DTYPE:
            out.append(np.asarray(value).astype(_NP_DTYPE[elem_type]).tobytes())
        else:
            raise ValueError("bad array element type %r" % (elem_type,))
        return b"".join(out)
    raise ValueError("bad value type %r" % (vtype,))


class GGUFWriter:
    """Collects metadata and tensors, then writes one GGUF file."""

    def __init__(self, path, alignment=DEFAULT_ALIGNMENT, version=3):
        if alignment <= 0 or alignment & (alignment - 1):
            raise ValueError("alignment must be a power of two")
        self.path = path
        self.alignment = alignment
        self.version = version
        self.kvs = []       # (key, vtype, value, elem_type)
        self.tensors = []   # (name, ggml_type, shape, bytes)
        if alignment != DEFAULT_ALIGNMENT:
            self.add_kv("general.alignment", alignment, UINT32)

    def add_kv(self, key, value, vtype=None, elem_type=None):
        if vtype is None:
            vtype, inferred_elem = _infer_vtype(value)
            if elem_type is None:
                elem_type = inferred_elem
        elif vtype == ARRAY and elem_type is None:
            elem_type = _infer_vtype(value)[1]
        for i, kv in enumerate(self.kvs):
            if kv[0] == key:
                self.kvs[i] = (key, vtype, value, elem_type)
                return
        self.kvs.append((key, vtype, value, elem_type))

    def add_tensor(self, name, data, ggml_type=None, shape=None):
        if isinstance(data, np.ndarray) and ggml_type is None:
            if data.dtype == np.float32:
                ggml_type = GGML_F32
            elif data.dtype == np.float16:
                ggml_type = GGML_F16
            else:
                raise ValueError("give ggml_type for dtype %s" % data.dtype)
        if isinstance(data, np.ndarray):
            if shape is None:
                shape = list(reversed(data.shape)) or [1]
            if ggml_type in (GGML_F32, GGML_F16) and data.dtype != np.uint8:
                data = data.astype("<f4" if ggml_type == GGML_F32 else "<f2")
            raw = np.ascontiguousarray(data).tobytes()
        else:
            raw = bytes(data)
        if ggml_type is None or shape is None:
            raise ValueError("raw tensor data needs ggml_type and shape")
        shape = [int(x) for x in shape]
        need = ggml_nbytes(ggml_type, shape)
        if need != len(raw):
            raise ValueError("tensor %s: %d bytes given, type %s shape %s needs %d"
                             % (name, len(raw), GGML_TYPES[ggml_type][0], shape, need))
        if any(t[0] == name for t in self.tensors):
            raise ValueError("duplicate tensor name %s" % name)
        self.tensors.append((name, ggml_type, shape, raw))

    def to_bytes(self):
        out = bytearray()
        out += struct.pack("<IIQQ", GGUF_MAGIC, self.version, len(self.tensors), len(self.kvs))
        for key, vtype, value, elem in self.kvs:
            out += _enc_str(key)
            out += struct.pack("<I", vtype)
            out += encode_value(vtype, value, elem)
        offset = 0
        offsets = []
        for name, gt, shape, raw in self.tensors:
            offsets.append(offset)
            out += _enc_str(name)
            out += struct.pack("<I", len(shape))
            out += struct.pack("<%dQ" % len(shape), *shape)
            out += struct.pack("<IQ", gt, offset)
            offset = _pad(offset + len(raw), self.alignment)
        out += b"\0" * (_pad(len(out), self.alignment) - len(out))
        for (name, gt, shape, raw), off in zip(self.tensors, offsets):
            out += raw
            out += b"\0" * (_pad(len(raw), self.alignment) - len(raw))
        return bytes(out)

    def write(self):
        data = self.to_bytes()
        tmp = str(self.path) + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, self.path)
        return len(data)


class GGUFTensor:
    """One tensor of a read file. Attribute or dict access."""

    def __init__(self, name, ggml_type, shape, offset, abs_offset, nbytes, data):
        self.name = name
        self.type = ggml_type
        self.shape = shape          # ne list, ne[0] fastest
        self.offset = offset        # relative to the data section
        self.abs_offset = abs_offset
        self.nbytes = nbytes
        self.data = data            # np.uint8 array (view of the file bytes)

    def __getitem__(self, k):
        return getattr(self, k)

    def array(self):
        """numpy array (shape reversed from ne) for F32 / F16 / BF16."""
        shp = tuple(reversed(self.shape))
        if self.type == GGML_F32:
            return self.data.view("<f4").reshape(shp)
        if self.type == GGML_F16:
            return self.data.view("<f2").reshape(shp)
        if self.type == GGML_BF16:
            u = self.data.view("<u2").astype(np.uint32) << 16
            return u.view(np.float32).reshape(shp)
        raise ValueError("array() only for f32/f16/bf16; use .data for %s"
                         % GGML_TYPES[self.type][0])


class GGUFFile:
    def __init__(self):
        self.version = None
        self.alignment = DEFAULT_ALIGNMENT
        self.kv = {}
        self.kv_types = {}
        self.arr_types = {}
        self.tensors = {}
        self.data_offset = None
        self.size = None


class _Reader:
    def __init__(self, buf):
        self.b = buf
        self.p = 0

    def take(self, n):
        if n < 0 or self.p + n > len(self.b):
            raise ValueError("truncated file: need %d bytes at offset %d, size %d"
                             % (n, self.p, len(self.b)))
        s = self.b[self.p:self.p + n]
        self.p += n
        return s

    def unpack(self, fmt):
        n = struct.calcsize(fmt)
        v = struct.unpack(fmt, self.take(n))
        return v[0] if len(v) == 1 else v

    def string(self):
        n = self.unpack("<Q")
        return bytes(self.take(n)).decode("utf-8", errors="surrogateescape")

    def value(self, vtype, depth=0):
        if vtype == STRING:
            return self.string()
        if vtype == BOOL:
            b = self.unpack("<B")
            if b > 1:
                raise ValueError("bool value %d" % b)
            return bool(b)
        if vtype in _SCALAR_FMT:
            return self.unpack(_SCALAR_FMT[vtype])
        if vtype == ARRAY:
            if depth > 8:
                raise ValueError("arrays nested too deep")
            elem, n = self.unpack("<IQ")
            if elem == STRING:
                return [self.string() for _ in range(n)]
            if elem == ARRAY:
                return [self.value(ARRAY, depth + 1) for _ in range(n)]
            if elem == BOOL:
                raw = self.take(n)
                return [bool(x) for x in raw]
            if elem in _NP_DTYPE:
                size = np.dtype(_NP_DTYPE[elem]).itemsize
                raw = self.take(n * size)
                return np.frombuffer(raw, dtype=_NP_DTYPE[elem]).tolist()
            raise ValueError("bad array element type %d" % elem)
        raise ValueError("bad value type %d" % vtype)


def read_gguf(src):
    """Parse a GGUF file (path, bytes or bytearray). Raises ValueError."""
    if isinstance(src, (bytes, bytearray, memoryview)):
        buf = bytes(src)
    else:
        with open(src, "rb") as f:
            buf = f.read()
    r = _Reader(buf)
    g = GGUFFile()
    g.size = len(buf)
    magic = r.unpack("<I")
    if magic != GGUF_MAGIC:
        raise ValueError("bad magic 0x%08x" % magic)
    g.version = r.unpack("<I")
    if g.version not in (2, 3):
        raise ValueError("unsupported GGUF version %d" % g.version)
    n_tensors, n_kv = r.unpack("<QQ")
    for _ in range(n_kv):
        key = r.string()
        if key in g.kv:
            raise ValueError("duplicate key %s" % key)
        vtype = r.unpack("<I")
        if vtype == ARRAY:
            elem = struct.unpack_from("<I", buf, r.p)[0] if r.p + 4 <= len(buf) else None
            g.arr_types[key] = elem
        g.kv[key] = r.value(vtype)
        g.kv_types[key] = vtype
    if "general.alignment" in g.kv:
        if g.kv_types["general.alignment"] != UINT32:
            raise ValueError("general.alignment is not u32")
        a = g.kv["general.alignment"]
        if a == 0 or a & (a - 1):
            raise ValueError("general.alignment %d is not a power of two" % a)
        g.alignment = a
    infos = []
    for _ in range(n_tensors):
        name = r.string()
        n_dims = r.unpack("<I")
        if not 1 <= n_dims <= MAX_DIMS:
            raise ValueError("tensor %s: n_dims %d" % (name, n_dims))
        shape = list(r.unpack("<%dQ" % n_dims)) if n_dims > 1 else [r.unpack("<Q")]
        gt, off = r.unpack("<IQ")
        if gt not in GGML_TYPES:
            raise ValueError("tensor %s: unknown type %d" % (name, gt))
        if off % g.alignment:
            raise ValueError("tensor %s: offset %d not aligned" % (name, off))
        infos.append((name, gt, shape, off))
    g.data_offset = _pad(r.p, g.alignment)
    whole = np.frombuffer(buf, dtype=np.uint8)
    spans = []
    for name, gt, shape, off in infos:
        if name in g.tensors:
            raise ValueError("duplicate tensor %s" % name)
        nb = ggml_nbytes(gt, shape)
        start = g.data_offset + off
        if start + nb > len(buf):
            raise ValueError("tensor %s: data past end of file" % name)
        spans.append((off, off + nb, name))
        g.tensors[name] = GGUFTensor(name, gt, shape, off, start, nb,
                                     whole[start:start + nb])
    spans.sort()
    for a, b in zip(spans, spans[1:]):
        if b[0] < a[1]:
            raise ValueError("tensors %s and %s overlap" % (a[2], b[2]))
    return g
