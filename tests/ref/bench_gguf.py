"""bench_gguf.py — a small independent GGUF reader for the benchmark tests.

Written from the GGUF format description (header, key/values, tensor infos,
aligned data section), not from wafer's reader, so the tests can check what
bench_mkmodel writes and what `wafer bench` reports against it.
"""
import struct

import numpy as np

# ggml type id -> (name, elements per block, bytes per block)
TYPES = {
    0: ("f32", 1, 4), 1: ("f16", 1, 2), 2: ("q4_0", 32, 18), 3: ("q4_1", 32, 20),
    6: ("q5_0", 32, 22), 7: ("q5_1", 32, 24), 8: ("q8_0", 32, 34), 9: ("q8_1", 32, 36),
    10: ("q2_K", 256, 84), 11: ("q3_K", 256, 110), 12: ("q4_K", 256, 144),
    13: ("q5_K", 256, 176), 14: ("q6_K", 256, 210), 15: ("q8_K", 256, 292),
    30: ("bf16", 1, 2),
}

_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
            10: "<Q", 11: "<q", 12: "<d"}


class Reader:
    def __init__(self, path):
        with open(path, "rb") as f:
            self.buf = f.read()
        self.pos = 0
        if self.buf[:4] != b"GGUF":
            raise ValueError("bad magic")
        self.pos = 4
        self.version = self._u32()
        n_tensors = self._u64()
        n_kv = self._u64()
        self.kv = {}
        for _ in range(n_kv):
            key = self._str()
            vtype = self._u32()
            self.kv[key] = self._value(vtype)
        self.tensors = {}
        order = []
        for _ in range(n_tensors):
            name = self._str()
            n_dims = self._u32()
            ne = [self._u64() for _ in range(n_dims)]
            ttype = self._u32()
            off = self._u64()
            self.tensors[name] = {"ne": ne, "type": ttype, "offset": off}
            order.append(name)
        align = self.kv.get("general.alignment", 32)
        self.data_start = (self.pos + align - 1) // align * align
        for name in order:
            t = self.tensors[name]
            _, bs, ts = TYPES[t["type"]]
            n = int(np.prod(t["ne"]))
            assert t["ne"][0] % bs == 0
            t["nbytes"] = n // bs * ts
            t["n"] = n
            start = self.data_start + t["offset"]
            assert start + t["nbytes"] <= len(self.buf), name
            t["start"] = start

    def _u32(self):
        v = struct.unpack_from("<I", self.buf, self.pos)[0]
        self.pos += 4
        return v

    def _u64(self):
        v = struct.unpack_from("<Q", self.buf, self.pos)[0]
        self.pos += 8
        return v

    def _str(self):
        n = self._u64()
        s = self.buf[self.pos:self.pos + n].decode("utf-8")
        self.pos += n
        return s

    def _value(self, vtype):
        if vtype == 8:
            return self._str()
        if vtype == 9:
            et = self._u32()
            n = self._u64()
            return [self._value(et) for _ in range(n)]
        fmt = _SCALARS[vtype]
        v = struct.unpack_from(fmt, self.buf, self.pos)[0]
        self.pos += struct.calcsize(fmt)
        return v

    def raw(self, name):
        t = self.tensors[name]
        return self.buf[t["start"]:t["start"] + t["nbytes"]]

    def floats(self, name):
        """Tensor values as float32 (f32, f16, q8_0), flattened."""
        t = self.tensors[name]
        raw = self.raw(name)
        if t["type"] == 0:
            return np.frombuffer(raw, dtype="<f4").astype(np.float32)
        if t["type"] == 1:
            return np.frombuffer(raw, dtype="<f2").astype(np.float32)
        if t["type"] == 8:  # blocks of (f16 scale d, 32 x int8 q): x = d * q
            blk = np.frombuffer(raw, dtype=np.dtype([("d", "<f2"), ("q", "i1", 32)]))
            return (blk["d"].astype(np.float32)[:, None] * blk["q"].astype(np.float32)).ravel()
        raise ValueError("type %d not decoded here" % t["type"])
