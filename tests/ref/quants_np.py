"""quants_np.py — numpy reference dequantizers for GGUF element types.

Written from the format description (block layouts as GGUF/llama.cpp store
them), independent of wafer's C code. Vectorised: a few million elements
take well under a second.

    dequantize(type_id, raw_bytes, n_elements) -> np.ndarray (float32, n)
    BLOCK[type_id] = (elements per block, bytes per block)
    NAMES[type_id] = "q4_K", ...; TYPE_IDS["q4_K"] = 12

Arithmetic is done in float32 in the same order the format's reference
decoder uses (e.g. q4_K: (d*sc)*q - (dmin*m)), so results can be compared
bit for bit with a C decoder compiled without FMA contraction.
"""
import numpy as np

F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1 = 0, 1, 2, 3, 6, 7, 8, 9
Q4_K, Q5_K, Q6_K, Q8_K, BF16 = 12, 13, 14, 15, 30
Q2_K, Q3_K, IQ4_NL, IQ4_XS, MXFP4 = 10, 11, 20, 23, 39
QK_K = 256

# IQ4_NL / IQ4_XS levels, and the E2M1 magnitudes of MXFP4 (sign: bit 3)
IQ4NL_LEVELS = np.array([-127, -104, -83, -65, -49, -35, -22, -10,
                         1, 13, 25, 38, 53, 69, 89, 113], np.float32)
E2M1 = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0], np.float32)

BLOCK = {
    F32: (1, 4), F16: (1, 2), BF16: (1, 2),
    Q4_0: (32, 18), Q4_1: (32, 20), Q5_0: (32, 22), Q5_1: (32, 24),
    Q8_0: (32, 34), Q8_1: (32, 36),
    Q4_K: (256, 144), Q5_K: (256, 176), Q6_K: (256, 210), Q8_K: (256, 292),
    Q2_K: (256, 84), Q3_K: (256, 110), IQ4_NL: (32, 18), IQ4_XS: (256, 136),
    MXFP4: (32, 17),
}
NAMES = {F32: "f32", F16: "f16", BF16: "bf16", Q4_0: "q4_0", Q4_1: "q4_1",
         Q5_0: "q5_0", Q5_1: "q5_1", Q8_0: "q8_0", Q8_1: "q8_1",
         Q4_K: "q4_K", Q5_K: "q5_K", Q6_K: "q6_K", Q8_K: "q8_K",
         Q2_K: "q2_K", Q3_K: "q3_K", IQ4_NL: "iq4_nl", IQ4_XS: "iq4_xs",
         MXFP4: "mxfp4"}
TYPE_IDS = {v: k for k, v in NAMES.items()}


def row_bytes(type_id, n):
    bs, ts = BLOCK[type_id]
    if n % bs:
        raise ValueError("n=%d is not a multiple of block size %d" % (n, bs))
    return n // bs * ts


def _f16(b):
    """(nb, 2) uint8 -> (nb, 1) float32 from little-endian IEEE half."""
    return np.ascontiguousarray(b).view("<f2").astype(np.float32)


def _blocks(type_id, raw, n):
    bs, ts = BLOCK[type_id]
    need = row_bytes(type_id, n)
    buf = np.frombuffer(raw, dtype=np.uint8, count=need)
    return buf.reshape(-1, ts)


def _nibbles32(qs):
    """(nb, 16) bytes -> (nb, 32) codes: low nibbles first, then high."""
    return np.concatenate([qs & 0x0F, qs >> 4], axis=1)


def _qh_bits32(qh4):
    """(nb, 4) bytes of a little-endian u32 -> (nb, 32) bits, bit j = elem j."""
    u = np.ascontiguousarray(qh4).view("<u4")  # (nb, 1)
    return ((u >> np.arange(32, dtype=np.uint32)) & 1).astype(np.uint8)


def _k4_scales_mins(s):
    """(nb, 12) packed bytes -> scales (nb, 8), mins (nb, 8) as uint8 in 0..63."""
    s = s.astype(np.uint8)
    sc = np.empty((s.shape[0], 8), np.uint8)
    mn = np.empty((s.shape[0], 8), np.uint8)
    sc[:, :4] = s[:, 0:4] & 63
    mn[:, :4] = s[:, 4:8] & 63
    sc[:, 4:] = (s[:, 8:12] & 0x0F) | ((s[:, 0:4] >> 6) << 4)
    mn[:, 4:] = (s[:, 8:12] >> 4) | ((s[:, 4:8] >> 6) << 4)
    return sc, mn


def _k4_codes(qs):
    """(nb, 128) bytes -> (nb, 256) 4-bit codes. Per 64-element group g the
    32 bytes qs[32g:32g+32] hold elements 64g..64g+31 in the low nibbles and
    64g+32..64g+63 in the high nibbles."""
    q = qs.reshape(-1, 4, 32)
    return np.stack([q & 0x0F, q >> 4], axis=2).reshape(-1, 256)


def dequantize(type_id, raw, n):
    """Decode n elements of type type_id from raw bytes (bytes, bytearray,
    memoryview or uint8 array; extra trailing bytes are ignored). Inf/NaN
    scales decode to Inf/NaN silently, as the C decoders do."""
    with np.errstate(all="ignore"):
        return _dequantize(type_id, raw, n)


def _dequantize(type_id, raw, n):
    n = int(n)
    if type_id == F32:
        return np.frombuffer(raw, dtype="<f4", count=n).astype(np.float32)
    if type_id == F16:
        return np.frombuffer(raw, dtype="<f2", count=n).astype(np.float32)
    if type_id == BF16:
        u = np.frombuffer(raw, dtype="<u2", count=n).astype(np.uint32) << 16
        return u.view(np.float32)
    if type_id not in BLOCK:
        raise ValueError("unknown type id %r" % (type_id,))
    b = _blocks(type_id, raw, n)
    f32 = np.float32

    if type_id == Q4_0:
        d = _f16(b[:, 0:2])
        q = _nibbles32(b[:, 2:18]).astype(np.int32) - 8
        return (q.astype(f32) * d).reshape(-1)
    if type_id == Q4_1:
        d, m = _f16(b[:, 0:2]), _f16(b[:, 2:4])
        q = _nibbles32(b[:, 4:20])
        return (q.astype(f32) * d + m).reshape(-1)
    if type_id == Q5_0:
        d = _f16(b[:, 0:2])
        q = _nibbles32(b[:, 6:22]) | (_qh_bits32(b[:, 2:6]) << 4)
        return ((q.astype(np.int32) - 16).astype(f32) * d).reshape(-1)
    if type_id == Q5_1:
        d, m = _f16(b[:, 0:2]), _f16(b[:, 2:4])
        q = _nibbles32(b[:, 8:24]) | (_qh_bits32(b[:, 4:8]) << 4)
        return (q.astype(f32) * d + m).reshape(-1)
    if type_id == Q8_0:
        d = _f16(b[:, 0:2])
        q = b[:, 2:34].view(np.int8)
        return (q.astype(f32) * d).reshape(-1)
    if type_id == Q8_1:
        d = _f16(b[:, 0:2])  # b[:, 2:4] is s = d*sum(q), not needed to decode
        q = b[:, 4:36].view(np.int8)
        return (q.astype(f32) * d).reshape(-1)

    if type_id in (Q4_K, Q5_K):
        d, dmin = _f16(b[:, 0:2]), _f16(b[:, 2:4])
        sc, mn = _k4_scales_mins(b[:, 4:16])
        d1 = (d * sc.astype(f32))        # (nb, 8)
        m1 = (dmin * mn.astype(f32))     # (nb, 8)
        if type_id == Q4_K:
            q = _k4_codes(b[:, 16:144])
        else:
            qh = b[:, 16:48]             # (nb, 32): bit k of qh[l] -> element 32k + l
            hbits = (qh[:, None, :] >> np.arange(8, dtype=np.uint8)[None, :, None]) & 1
            q = _k4_codes(b[:, 48:176]) | (hbits.reshape(-1, 256) << 4)
        q = q.astype(f32).reshape(-1, 8, 32)
        y = d1[:, :, None] * q - m1[:, :, None]
        return y.astype(f32).reshape(-1)

    if type_id == Q6_K:
        ql = b[:, 0:128].reshape(-1, 2, 64)
        qh = b[:, 128:192].reshape(-1, 2, 32)
        scales = b[:, 192:208].view(np.int8)     # (nb, 16)
        d = _f16(b[:, 208:210])                  # (nb, 1)
        # per half: quarter k (32 elements each): low 4 bits from
        # ql[32*(k&1):+32], low nibble for k<2, high for k>=2; top 2 bits are
        # bits 2k..2k+1 of qh.
        lo = np.stack([ql[:, :, 0:32] & 0x0F, ql[:, :, 32:64] & 0x0F,
                       ql[:, :, 0:32] >> 4, ql[:, :, 32:64] >> 4], axis=2)   # (nb,2,4,32)
        hi = np.stack([(qh >> (2 * k)) & 3 for k in range(4)], axis=2)       # (nb,2,4,32)
        q = (lo | (hi << 4)).astype(np.int32).reshape(-1, 16, 16) - 32
        ds = d * scales.astype(f32)                                           # (nb,16)
        return (ds[:, :, None] * q.astype(f32)).astype(f32).reshape(-1)

    if type_id in (Q2_K, Q3_K):
        # 2-bit fields: element 128h + 32j + l is bits 2j..2j+1 of byte
        # 32h + l of qs (h half, j quarter, l < 32); sub-block of 16 = 8h+2j+l//16
        qs = b[:, 16:80] if type_id == Q2_K else b[:, 32:96]
        q = qs.reshape(-1, 2, 1, 32) >> (2 * np.arange(4, dtype=np.uint8))[None, None, :, None]
        q = (q & 3).reshape(-1, 256).astype(np.int32)                         # element order
        if type_id == Q2_K:
            sc = b[:, 0:16]
            d, dmin = _f16(b[:, 80:82]), _f16(b[:, 82:84])
            dl = d * (sc & 0x0F).astype(f32)                                  # (nb,16)
            ml = dmin * (sc >> 4).astype(f32)
            y = dl[:, :, None] * q.reshape(-1, 16, 16).astype(f32) - ml[:, :, None]
            return y.astype(f32).reshape(-1)
        hm = b[:, 0:32]                                                       # bit 4h+j of hm[l]
        hb = (hm[:, None, :] >> np.arange(8, dtype=np.uint8)[None, :, None]) & 1   # (nb, 8=4h+j, 32)
        q = q + (hb.reshape(-1, 256).astype(np.int32) << 2) - 4
        s12 = b[:, 96:108].astype(np.int32)
        lo = np.concatenate([s12[:, 0:8] & 0x0F, s12[:, 0:8] >> 4], axis=1)   # scale s: s<8 low, else high nibble of s-8
        hi = np.stack([(s12[:, 8 + s % 4] >> (2 * (s // 4))) & 3 for s in range(16)], axis=1)
        sc = (lo | (hi << 4)) - 32
        d = _f16(b[:, 108:110])
        dl = d * sc.astype(f32)
        return (dl[:, :, None] * q.reshape(-1, 16, 16).astype(f32)).astype(f32).reshape(-1)

    if type_id == IQ4_NL:
        d = _f16(b[:, 0:2])
        return (d * IQ4NL_LEVELS[_nibbles32(b[:, 2:18])]).astype(f32).reshape(-1)
    if type_id == IQ4_XS:
        d = _f16(b[:, 0:2])
        sh = np.ascontiguousarray(b[:, 2:4]).view("<u2").astype(np.int32)     # (nb,1)
        sl = b[:, 4:8].astype(np.int32)
        j = np.arange(8)
        ls = ((sl[:, j // 2] >> (4 * (j % 2))) & 0x0F) | (((sh >> (2 * j)) & 3) << 4)
        dl = d * (ls - 32).astype(f32)                                        # (nb, 8)
        lev = IQ4NL_LEVELS[_nibbles32(b[:, 8:136].reshape(-1, 16))].reshape(-1, 8, 32)
        return (dl[:, :, None] * lev).astype(f32).reshape(-1)
    if type_id == MXFP4:
        # value = E2M1(code) * 2^(e - 127); every e is a finite power of two
        e = b[:, 0:1].astype(np.int32)
        codes = _nibbles32(b[:, 1:17])
        # code 8 (E2M1's negative zero) decodes to +0, as the integer table
        # llama.cpp reads it with does
        v = E2M1[codes & 7] * np.where(codes & 8, np.float32(-1), np.float32(1)) + np.float32(0)
        # v * 2^(e-127) exactly: scale in float64 (no rounding: the values
        # have 2 significant bits) and round once to float32
        return (v.astype(np.float64) * np.ldexp(1.0, e - 127)).astype(f32).reshape(-1)

    if type_id == Q8_K:
        d = np.ascontiguousarray(b[:, 0:4]).view("<f4")                       # (nb,1)
        q = b[:, 4:260].view(np.int8)
        return (d * q.astype(f32)).reshape(-1)
    raise ValueError("no decoder for type %r" % (type_id,))


def q8_k_bsums(raw, n):
    """The stored bsums of Q8_K blocks: (nb, 16) int16."""
    b = _blocks(Q8_K, raw, n)
    return np.ascontiguousarray(b[:, 260:292]).view("<i2")


def q8_1_s(raw, n):
    """The stored s field of Q8_1 blocks: (nb,) float32."""
    b = _blocks(Q8_1, raw, n)
    return _f16(b[:, 2:4]).reshape(-1)
