"""test_gguf_py.py — wafer's GGUF reader and writer against the independent
Python implementation (tests/ref/gguf_py.py).

1. Files written by gguf_py (every value type, nested and empty arrays,
   several tensor types, alignments 1, 32, 64, 4096) are printed by
   gguf_dump (wafer's reader) and every key, value, tensor shape, offset and
   data checksum is compared with what Python wrote.
2. The sample written by wafer's writer (gguf_dump --write-sample) is read
   by gguf_py and compared with the values the C code is meant to write,
   spelled out again here.
3. Broken files from Python (truncated, bad alignment) make gguf_dump fail.
4. The vocab GGUFs in $WAFER_SHARED/vocab (written by llama.cpp's tools) are
   read by both and compared key by key (skipped when absent).
"""

import os
import struct
import sys
import tempfile

import numpy as np

import gguf_py as G
import testlib as T
from testlib import check

DUMP = os.environ.get("GGUF_DUMP") or os.path.join(os.environ.get("WAFER_BUILD", "."), "tests", "gguf_dump")


def fnv1a(b):
    h = 1469598103934665603
    for x in bytes(b):
        h = ((h ^ x) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h


# ---- expected dump text, computed from the Python values ------------------

def hexs(s):
    b = s if isinstance(s, (bytes, bytearray)) else s.encode("utf-8", "surrogateescape")
    return "h:" + b.hex()


def expect_value(vtype, value, elem=None):
    """Tokens gguf_dump should print for a value (format in gguf_dump.c)."""
    if vtype == G.STRING:
        return hexs(value)
    if vtype == G.BOOL:
        return "1" if value else "0"
    if vtype == G.FLOAT32:
        return "0x%08x" % struct.unpack("<I", struct.pack("<f", value))[0]
    if vtype == G.FLOAT64:
        return "0x%016x" % struct.unpack("<Q", struct.pack("<d", value))[0]
    if vtype == G.ARRAY:
        if elem is None:
            elem = G._infer_vtype(value)[1]
        parts = ["[", vtype_word(elem), str(len(value))]
        for v in value:
            sub = G._infer_vtype(v)[1] if elem == G.ARRAY else None
            parts.append(expect_value(elem, v, sub))
        parts.append("]")
        return " ".join(parts)
    return str(int(value))


def vtype_word(t):
    return {G.STRING: "string", G.ARRAY: "array"}.get(t, G.VTYPE_NAMES[t])


def run_dump(path):
    p = T.run([DUMP, path], text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def parse_dump(text):
    out = {"kv": [], "tensors": [], "strs": {}}
    for line in text.splitlines():
        w = line.split(" ")
        if w[0] in ("version", "alignment", "data_offset", "n_kv", "n_tensors"):
            out[w[0]] = int(w[1])
        elif w[0] == "kv":
            out["kv"].append((w[1], w[2], " ".join(w[3:])))
        elif w[0] == "strs":
            out["strs"][w[1]] = w[2:]
        elif w[0] == "tensor":
            out["tensors"].append((w[1], int(w[2]), [int(x) for x in w[3].split(",")],
                                   int(w[4]), int(w[5]), int(w[6], 16)))
    return out


# ---- 1. Python writes, wafer reads ----------------------------------------

def python_file(path, alignment):
    rng = np.random.default_rng(alignment)
    w = G.GGUFWriter(path, alignment=alignment)
    kvs = [
        ("general.architecture", "llama", None, None),
        ("k.u8", 255, G.UINT8, None),
        ("k.i8", -128, G.INT8, None),
        ("k.u16", 65535, G.UINT16, None),
        ("k.i16", -32768, G.INT16, None),
        ("k.u32", 4000000000, G.UINT32, None),
        ("k.i32", -5, G.INT32, None),
        ("k.f32", 3.14159, G.FLOAT32, None),
        ("k.bool", True, G.BOOL, None),
        ("k.str", "h\u00e9llo \u4e16\u754c\n", G.STRING, None),
        ("k.empty", "", G.STRING, None),
        ("k.u64", 2**64 - 1, G.UINT64, None),
        ("k.i64", -2**63, G.INT64, None),
        ("k.f64", 1e300, G.FLOAT64, None),
        ("k.nan", float("inf"), G.FLOAT32, None),
        ("a.u8", [0, 1, 255], G.ARRAY, G.UINT8),
        ("a.i8", [-1, 2], G.ARRAY, G.INT8),
        ("a.u16", [7], G.ARRAY, G.UINT16),
        ("a.i16", [-7, 300], G.ARRAY, G.INT16),
        ("a.u32", [1, 2, 3], G.ARRAY, G.UINT32),
        ("a.i32", [-1, 0, 1], G.ARRAY, G.INT32),
        ("a.f32", [0.5, -2.25, 1e-30], G.ARRAY, G.FLOAT32),
        ("a.bool", [True, False], G.ARRAY, G.BOOL),
        ("a.u64", [2**63, 5], G.ARRAY, G.UINT64),
        ("a.i64", [-2**62], G.ARRAY, G.INT64),
        ("a.f64", [0.1, -0.0], G.ARRAY, G.FLOAT64),
        ("a.str", ["<s>", "", "\u0120the", "a b c"], G.ARRAY, G.STRING),
        ("a.empty", [], G.ARRAY, G.FLOAT32),
        ("a.empty_str", [], G.ARRAY, G.STRING),
        ("a.nested", [[1, 2], ["x", ""], []], G.ARRAY, G.ARRAY),
    ]
    for k, v, t, e in kvs:
        w.add_kv(k, v, t, e)
    tensors = []
    a = rng.standard_normal((3, 8)).astype(np.float32)
    w.add_tensor("tok_embd.weight", a)
    h = rng.standard_normal((2, 3, 4)).astype(np.float16)
    w.add_tensor("blk.0.f16", h)
    q8 = rng.integers(0, 256, 34 * 2 * 3, dtype=np.uint8).tobytes()
    w.add_tensor("blk.0.q8_0", q8, G.GGML_Q8_0, [64, 3])
    q4k = rng.integers(0, 256, 144 * 2, dtype=np.uint8).tobytes()
    w.add_tensor("blk.0.q4_K", q4k, G.GGML_Q4_K, [512, 1])
    q6k = rng.integers(0, 256, 210 * 2, dtype=np.uint8).tobytes()
    w.add_tensor("blk.0.q6_K", q6k, G.GGML_Q6_K, [256, 1, 1, 2])
    bf = rng.integers(0, 65536, 6, dtype=np.uint16).tobytes()
    w.add_tensor("norm.bf16", bf, G.GGML_BF16, [6])
    tensors = [("tok_embd.weight", G.GGML_F32, [8, 3], a.tobytes()),
               ("blk.0.f16", G.GGML_F16, [4, 3, 2], h.tobytes()),
               ("blk.0.q8_0", G.GGML_Q8_0, [64, 3], q8),
               ("blk.0.q4_K", G.GGML_Q4_K, [512, 1], q4k),
               ("blk.0.q6_K", G.GGML_Q6_K, [256, 1, 1, 2], q6k),
               ("norm.bf16", G.GGML_BF16, [6], bf)]
    w.write()
    return w.kvs, tensors


def test_python_to_c(tmp):
    for alignment in (1, 32, 64, 4096):
        path = os.path.join(tmp, "py_%d.gguf" % alignment)
        kvs, tensors = python_file(path, alignment)
        rc, out, err = run_dump(path)
        check(rc == 0, "gguf_dump failed on the python file (align %d): %s" % (alignment, err))
        if rc:
            continue
        d = parse_dump(out)
        check(d["version"] == 3, "version")
        check(d["alignment"] == alignment, "alignment %s != %d" % (d.get("alignment"), alignment))
        check(d["data_offset"] % alignment == 0, "data offset aligned")
        check(d["n_kv"] == len(kvs), "n_kv %d != %d" % (d["n_kv"], len(kvs)))
        check(len(d["kv"]) == len(kvs), "kv lines")
        for (key, vtype, value, elem), (dk, dt, dv) in zip(kvs, d["kv"]):
            check(dk == hexs(key), "key order/name: %s vs %s" % (dk, hexs(key)))
            check(dt == vtype_word(vtype), "%s: type %s vs %s" % (key, dt, vtype_word(vtype)))
            want = expect_value(vtype, value, elem)
            check(dv == want, "%s: value %r vs expected %r" % (key, dv, want))
            if vtype == G.ARRAY and elem == G.STRING:
                got = d["strs"].get(hexs(key))
                check(got == [hexs(s) for s in value], "%s: indexed strings %r" % (key, got))
        check(len(d["tensors"]) == len(tensors), "tensor count")
        off = 0
        for (name, gt, shape, raw), (dn, dtype, dshape, doff, dnb, dsum) in zip(tensors, d["tensors"]):
            check(dn == hexs(name), "tensor name %s" % name)
            check(dtype == gt, "%s: type %d vs %d" % (name, dtype, gt))
            check(dshape == shape, "%s: shape %r vs %r" % (name, dshape, shape))
            check(doff == off, "%s: offset %d vs %d" % (name, doff, off))
            check(dnb == len(raw), "%s: nbytes %d vs %d" % (name, dnb, len(raw)))
            check(dsum == fnv1a(raw), "%s: data checksum" % name)
            off = (off + len(raw) + alignment - 1) // alignment * alignment
        # the Python reader agrees with the Python writer too
        f = G.read_gguf(path)
        check(f.alignment == alignment and f.kv["a.nested"] == [[1, 2], ["x", ""], []], "python self-check")


# ---- 2. wafer writes, Python reads -----------------------------------------

def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


SAMPLE_KV = [  # mirrors sample() in gguf_dump.c
    ("general.architecture", G.STRING, "llama"),
    ("s.u8", G.UINT8, 250),
    ("s.i8", G.INT8, -120),
    ("s.u16", G.UINT16, 65000),
    ("s.i16", G.INT16, -32000),
    ("s.u32", G.UINT32, 4294967295),
    ("s.i32", G.INT32, -2147483648),
    ("s.f32", G.FLOAT32, 0.15625),
    ("s.bool", G.BOOL, False),
    ("s.str", G.STRING, "caf\u00e9 \U0001F600"),
    ("s.empty", G.STRING, ""),
    ("s.u64", G.UINT64, 18446744073709551615),
    ("s.i64", G.INT64, -9223372036854775807),
    ("s.f64", G.FLOAT64, -2.5e-300),
    ("a.i32", (G.ARRAY, G.INT32), [1, -2, 3]),
    ("a.f32", (G.ARRAY, G.FLOAT32), [-1.5, 0.0, f32(1e-3)]),
    ("a.bool", (G.ARRAY, G.BOOL), [True, True, False]),
    ("a.u64", (G.ARRAY, G.UINT64), [0, 1 << 60]),
    ("a.empty", (G.ARRAY, G.UINT8), []),
    ("a.str", (G.ARRAY, G.STRING), ["<unk>", "", "\u0120the", "a b"]),
    ("general.alignment", G.UINT32, 64),
]


def sample_bytes(j, n):
    return bytes(((k * 7 + j * 13) & 255) for k in range(n))


SAMPLE_TENSORS = [
    ("t.f32", G.GGML_F32, [3, 2], 24),
    ("t.f16", G.GGML_F16, [2, 2, 2], 16),
    ("t.q8_0", G.GGML_Q8_0, [64, 2], 136),
    ("t.bf16", G.GGML_BF16, [5], 10),
]


def test_c_to_python(tmp):
    path = os.path.join(tmp, "c_sample.gguf")
    p = T.run([DUMP, "--write-sample", path], text=True, timeout=60)
    check(p.returncode == 0, "write-sample failed: %s" % p.stderr)
    if p.returncode:
        return
    check(not os.path.exists(path + ".tmp"), "temporary file left behind")
    f = G.read_gguf(path)
    check(f.version == 3, "C writer version %d" % f.version)
    check(f.alignment == 64, "C writer alignment %d" % f.alignment)
    check(list(f.kv.keys()) == [k for k, _, _ in SAMPLE_KV], "key order %r" % list(f.kv.keys()))
    for key, t, v in SAMPLE_KV:
        if isinstance(t, tuple):
            check(f.kv_types.get(key) == G.ARRAY and f.arr_types.get(key) == t[1],
                  "%s: array type %r/%r" % (key, f.kv_types.get(key), f.arr_types.get(key)))
        else:
            check(f.kv_types.get(key) == t, "%s: type %r vs %r" % (key, f.kv_types.get(key), t))
        got = f.kv.get(key)
        if t == G.FLOAT32:
            v = f32(v)
        check(got == v, "%s: %r vs %r" % (key, got, v))
    check(f.data_offset % 64 == 0, "data offset aligned")
    off = 0
    for j, (name, gt, shape, nbytes) in enumerate(SAMPLE_TENSORS):
        t = f.tensors.get(name)
        check(t is not None, "tensor %s missing" % name)
        if t is None:
            continue
        check(t.type == gt and t.shape == shape and t.nbytes == nbytes, "%s: %r %r %r" % (name, t.type, t.shape, t.nbytes))
        check(t.offset == off, "%s: offset %d vs %d" % (name, t.offset, off))
        check(bytes(t.data) == sample_bytes(j, nbytes), "%s: data" % name)
        off = (off + nbytes + 63) // 64 * 64
    # the whole file: padding bytes are zero and the size is as laid out
    raw = open(path, "rb").read()
    check(len(raw) == f.data_offset + off, "file size %d vs %d" % (len(raw), f.data_offset + off))
    # gguf_dump of the same file agrees with the python reader on every key
    rc, out, err = run_dump(path)
    check(rc == 0, "dump of the C sample: %s" % err)
    d = parse_dump(out)
    for (key, t, v), (dk, dt, dv) in zip(SAMPLE_KV, d["kv"]):
        vt, elem = (t if isinstance(t, tuple) else (t, None))
        check(dk == hexs(key) and dv == expect_value(vt, v, elem), "dump %s: %r" % (key, dv))


# ---- 3. broken files ---------------------------------------------------------

def test_broken(tmp):
    path = os.path.join(tmp, "good.gguf")
    python_file(path, 32)
    raw = open(path, "rb").read()
    for cut in (3, 20, 40, len(raw) // 2, len(raw) - 40):
        bad = os.path.join(tmp, "cut.gguf")
        open(bad, "wb").write(raw[:cut])
        rc, out, err = run_dump(bad)
        check(rc == 1 and "cut.gguf" in err, "truncated at %d: rc %d, %r" % (cut, rc, err))
    # alignment 48 declared: not a power of two
    w = G.GGUFWriter(os.path.join(tmp, "a48.gguf"))
    w.add_kv("general.alignment", 48, G.UINT32)
    w.add_tensor("t", np.zeros(4, np.float32))
    w.write()
    rc, out, err = run_dump(os.path.join(tmp, "a48.gguf"))
    check(rc == 1 and "power of two" in err, "alignment 48: %r" % err)


# ---- 4. real files written by llama.cpp's tools (vocab-only GGUFs) ---------

def test_real_files():
    shared = os.environ.get("WAFER_SHARED", "")
    vdir = os.path.join(shared, "vocab")
    if not shared or not os.path.isdir(vdir):
        print("no shared vocab files: real-file comparison skipped")
        return
    names = sorted(n for n in os.listdir(vdir) if n.endswith(".gguf"))
    for name in names:
        path = os.path.join(vdir, name)
        f = G.read_gguf(path)
        rc, out, err = run_dump(path)
        check(rc == 0, "%s: gguf_dump failed: %s" % (name, err))
        if rc:
            continue
        d = parse_dump(out)
        check(d["version"] == f.version and d["alignment"] == f.alignment, "%s: header" % name)
        check(d["n_kv"] == len(f.kv) and d["n_tensors"] == len(f.tensors), "%s: counts" % name)
        for (key, value), (dk, dt, dv) in zip(f.kv.items(), d["kv"]):
            vt = f.kv_types[key]
            check(dk == hexs(key) and dt == vtype_word(vt), "%s: key %s" % (name, key))
            want = expect_value(vt, value, f.arr_types.get(key))
            check(dv == want, "%s: value of %s differs" % (name, key))
        for (tn, t), row in zip(f.tensors.items(), d["tensors"]):
            check(row[0] == hexs(tn) and row[1] == t.type and row[2] == t.shape and row[3] == t.offset
                  and row[5] == fnv1a(t.data), "%s: tensor %s" % (name, tn))
    print("compared %d real GGUF files" % len(names))


def main():
    if not os.path.exists(DUMP):
        T.skip("gguf_dump not built at " + DUMP)
    with tempfile.TemporaryDirectory() as tmp:
        test_python_to_c(tmp)
        test_c_to_python(tmp)
        test_broken(tmp)
    test_real_files()
    return T.summary("test_gguf_py")


if __name__ == "__main__":
    sys.exit(main())
