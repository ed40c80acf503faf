"""test_quant_np.py — wafer's reference conversions against numpy.

Usage: test_quant_np.py QUANT_TOOL

(1) Random raw blocks (random bytes, sane fp16 scales) decoded by the C
    to_float must equal tests/ref/quants_np.py bit for bit, every type.
(2) Random floats (gaussian, uniform, outliers, all-zero blocks, tiny and
    large values) quantized by the C from_float: numpy and C decoders must
    agree bit for bit on the result, and the error (RMSE relative to the
    signal RMS) must stay within the per-type bounds below (measured values
    are printed; see docs/quant.md).
"""
import os
import sys
import tempfile

import numpy as np
import quants_np as Q
import testlib as T
from testlib import fail

TOOL = sys.argv[1] if len(sys.argv) > 1 else None
if not TOOL or not os.path.exists(TOOL):
    print("quant_tool not given or missing")
    sys.exit(2)

TMP = tempfile.mkdtemp(prefix="wf_quant_")


def run_tool(cmd, name, data):
    src = os.path.join(TMP, "in.bin")
    dst = os.path.join(TMP, "out.bin")
    with open(src, "wb") as f:
        f.write(data)
    r = T.run([TOOL, cmd, name, src, dst], text=True, timeout=None)
    if r.returncode != 0:
        raise RuntimeError("quant_tool %s %s failed: %s" % (cmd, name, r.stderr))
    with open(dst, "rb") as f:
        return f.read()


def c_dequant(tid, raw):
    return np.frombuffer(run_tool("dequantize", Q.NAMES[tid], raw), dtype="<f4").copy()


def c_quant(tid, x):
    return run_tool("quantize", Q.NAMES[tid], np.asarray(x, "<f4").tobytes())


def same_bits(a, b):
    a = np.asarray(a, np.float32)
    b = np.asarray(b, np.float32)
    if a.shape != b.shape:
        return False, "shape %s vs %s" % (a.shape, b.shape)
    ua, ub = a.view(np.uint32), b.view(np.uint32)
    bad = np.nonzero(ua != ub)[0]
    if bad.size:
        i = bad[0]
        return False, "%d differ, first at %d: %r vs %r" % (bad.size, i, a[i], b[i])
    return True, ""


rng = np.random.default_rng(1234)


def put_f16(blocks, off, lo=1e-4, hi=1.0, signed=True):
    nb = blocks.shape[0]
    mag = np.exp(rng.uniform(np.log(lo), np.log(hi), size=nb))
    if signed:
        mag *= rng.choice([-1.0, 1.0], size=nb)
    blocks[:, off:off + 2] = mag.astype("<f2").view(np.uint8).reshape(nb, 2)


# ---- (1) random raw blocks: C decode == numpy decode, bit for bit --------------

def random_raw(tid, nblocks):
    bs, ts = Q.BLOCK[tid]
    b = rng.integers(0, 256, size=(nblocks, ts), dtype=np.uint8)
    if tid == Q.F16:
        h = b.view("<u2").reshape(-1)
        exp = (h >> 10) & 0x1F
        h[exp == 0x1F] &= 0xBFFF  # no Inf/NaN here (tested separately)
        h[:8] = [0x0000, 0x8000, 0x0001, 0x83FF, 0x0400, 0x7BFF, 0xFBFF, 0x3C00]
    elif tid == Q.BF16:
        h = b.view("<u2").reshape(-1)
        exp = (h >> 7) & 0xFF
        h[exp == 0xFF] &= 0xBFFF
        h[:6] = [0x0000, 0x8000, 0x0001, 0x807F, 0x7F7F, 0x3F80]
    elif tid == Q.F32:
        u = b.view("<u4").reshape(-1)
        exp = (u >> 23) & 0xFF
        u[exp == 0xFF] &= 0xBFFFFFFF
    elif tid in (Q.Q4_0, Q.Q5_0, Q.Q8_0):
        put_f16(b, 0)
    elif tid in (Q.Q4_1, Q.Q5_1):
        put_f16(b, 0)
        put_f16(b, 2)
    elif tid == Q.Q8_1:
        put_f16(b, 0)
        put_f16(b, 2, 1e-2, 100.0)
    elif tid in (Q.Q4_K, Q.Q5_K):
        put_f16(b, 0, 1e-5, 1e-1, signed=False)
        put_f16(b, 2, 1e-5, 1e-1, signed=False)
        # a few blocks with a negative super-scale: legal bits, must decode the same
        b[:2, 1] |= 0x80
    elif tid == Q.Q6_K:
        put_f16(b, 208, 1e-5, 1e-1)
    elif tid == Q.Q2_K:
        put_f16(b, 80, 1e-5, 1e-1, signed=False)
        put_f16(b, 82, 1e-5, 1e-1, signed=False)
    elif tid == Q.Q3_K:
        put_f16(b, 108, 1e-5, 1e-1)
    elif tid in (Q.IQ4_NL, Q.IQ4_XS):
        put_f16(b, 0, 1e-5, 1e-1)
    elif tid == Q.MXFP4:
        # every exponent byte is legal: the extremes decode to subnormal and
        # overflowing (Inf) values, which must match too
        b[:4, 0] = [0, 1, 254, 255]
    elif tid == Q.Q8_K:
        d = np.exp(rng.uniform(np.log(1e-5), 0, size=nblocks)) * rng.choice([-1.0, 1.0], size=nblocks)
        b[:, 0:4] = d.astype("<f4").view(np.uint8).reshape(nblocks, 4)
    return b.tobytes()


for tid in sorted(Q.NAMES):
    bs, ts = Q.BLOCK[tid]
    nblocks = 4096 if bs == 1 else (517 if bs == 32 else 129)
    raw = random_raw(tid, nblocks)
    ok, why = same_bits(c_dequant(tid, raw), Q.dequantize(tid, raw, nblocks * bs))
    print("raw decode %-5s %6d elements: %s" % (Q.NAMES[tid], nblocks * bs, "bit-exact" if ok else why))
    if not ok:
        fail("raw decode %s: %s" % (Q.NAMES[tid], why))

# F16 specials: Inf/NaN decode (NaN compared as NaN, Inf bit-exact)
spec = np.array([0x7C00, 0xFC00, 0x7E00, 0xFE00, 0x7C01], "<u2")
got = c_dequant(Q.F16, spec.tobytes())
want = spec.view(np.float16).astype(np.float32)
if not (np.array_equal(got[:2], want[:2]) and np.all(np.isnan(got[2:]))):
    fail("f16 inf/nan decode: %r" % (got,))

# ---- (2) quantize random floats --------------------------------------------------

N = 256 * 192  # 49152 elements: a multiple of every block size


def dist(name):
    if name == "gaussian":
        return rng.standard_normal(N)
    if name == "uniform":
        return rng.uniform(-1, 1, N)
    if name == "outliers":  # gaussian with ~0.5% values 30-100x larger
        x = rng.standard_normal(N)
        k = rng.random(N) < 0.005
        x[k] *= rng.uniform(30, 100, k.sum())
        return x
    if name == "zeros":  # whole zero blocks mixed with gaussian blocks
        x = rng.standard_normal(N)
        for blk in range(0, N, 256):
            if (blk // 256) % 3 == 0:
                x[blk:blk + 256] = 0.0
        return x
    if name == "tiny":  # scales fall into fp16 subnormals
        return rng.standard_normal(N) * 1e-6
    if name == "large":
        return rng.standard_normal(N) * 1e3
    if name == "offset":  # all-positive, shifted: exercises the min of *_1 / K types
        return rng.standard_normal(N) * 0.1 + 1.0
    raise ValueError(name)


# Relative RMSE bounds (measured values in docs/quant.md, margin ~25%) for
# the gaussian and uniform distributions; the other distributions get a
# looser, type-independent sanity bound below.
BOUND = {
    Q.Q8_0: 0.0068, Q.Q8_1: 0.0068, Q.Q8_K: 0.0088,
    Q.Q4_0: 0.11, Q.Q4_1: 0.10, Q.Q5_0: 0.055, Q.Q5_1: 0.05,
    Q.Q4_K: 0.085, Q.Q5_K: 0.043, Q.Q6_K: 0.022,
    Q.Q2_K: 0.33, Q.Q3_K: 0.18, Q.IQ4_NL: 0.093, Q.IQ4_XS: 0.094, Q.MXFP4: 0.14,
    Q.F16: 0.0004, Q.BF16: 0.003, Q.F32: 0.0,
}

measured = {}
dists = ["gaussian", "uniform", "outliers", "zeros", "tiny", "large", "offset"]
data = {d: dist(d).astype(np.float32) for d in dists}
for tid in sorted(Q.NAMES):
    name = Q.NAMES[tid]
    for dn in dists:
        x = data[dn]
        raw = c_quant(tid, x)
        if len(raw) != Q.row_bytes(tid, N):
            fail("%s %s: quantized size %d, want %d" % (name, dn, len(raw), Q.row_bytes(tid, N)))
            continue
        y_np = Q.dequantize(tid, raw, N)
        ok, why = same_bits(c_dequant(tid, raw), y_np)
        if not ok:
            fail("%s %s: C vs numpy decode of quantized data: %s" % (name, dn, why))
        if not np.all(np.isfinite(y_np)):
            fail("%s %s: non-finite output" % (name, dn))
            continue
        rms = float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))
        err = float(np.sqrt(np.mean((y_np.astype(np.float64) - x) ** 2)))
        rel = err / rms
        measured[(name, dn)] = rel
        if dn == "zeros":
            zb = np.arange(N) // 256 % 3 == 0
            if np.any(y_np[zb] != 0):
                fail("%s: all-zero blocks do not decode to zero" % name)
        if dn in ("gaussian", "uniform"):
            if rel > BOUND[tid]:
                fail("%s %s: rel RMSE %.5f > bound %.5f" % (name, dn, rel, BOUND[tid]))
        elif dn == "tiny" and tid in (Q.BF16, Q.F32):
            pass
        else:
            # outliers stretch the block range; tiny values hit fp16 subnormal
            # scales: still bounded, and never worse than 4x the type's bound
            # (0.3 for tiny: fp16 subnormal d has few significant bits)
            lim = 0.35 if dn == "tiny" and tid != Q.Q8_K else max(4 * BOUND[tid], 1e-3)
            if rel > lim:
                fail("%s %s: rel RMSE %.5f > %.5f" % (name, dn, rel, lim))

        # format invariants the dot kernels rely on
        if tid == Q.Q8_K:
            b = np.frombuffer(raw, np.uint8).reshape(-1, 292)
            qs = b[:, 4:260].view(np.int8).astype(np.int32).reshape(-1, 16, 16).sum(axis=2)
            if not np.array_equal(qs, Q.q8_k_bsums(raw, N).astype(np.int32)):
                fail("q8_K %s: bsums are not the sums of 16 qs" % dn)
        if tid == Q.Q8_1:
            b = np.frombuffer(raw, np.uint8).reshape(-1, 36)
            d = b[:, 0:2].copy().view("<f2").astype(np.float32).reshape(-1)
            sq = b[:, 4:36].view(np.int8).astype(np.int32).sum(axis=1)
            want_s = (d * sq.astype(np.float32)).astype(np.float16).astype(np.float32)
            if not np.array_equal(want_s, Q.q8_1_s(raw, N)):
                fail("q8_1 %s: s != fp16(d * sum(qs))" % dn)

    print("%-5s rel RMSE: " % name + "  ".join("%s=%.5f" % (dn, measured.get((name, dn), -1)) for dn in dists))

# F16 from_float must round like numpy's (IEEE round-to-nearest-even,
# overflow to Inf, subnormals), BF16 like truncation-with-RNE of the f32 bits.
edge = np.array([0.0, -0.0, 1.0, 65504.0, 65519.0, 65520.0, 1e6, -1e6, 6.1e-5, 5.96e-8,
                 2.98e-8, 2.99e-8, 1e-9, 1.0 + 2 ** -11, 1.0 + 3 * 2 ** -11, np.inf, -np.inf],
                np.float32)
xx = np.concatenate([edge, rng.standard_normal(4096).astype(np.float32) * np.float32(10.0) **
                     rng.integers(-9, 6, 4096).astype(np.float32)])
got = np.frombuffer(c_quant(Q.F16, xx), "<u2")
with np.errstate(over="ignore"):
    want = xx.astype(np.float16).view(np.uint16)
if not np.array_equal(got, want):
    i = np.nonzero(got != want)[0][0]
    fail("f16 from_float differs from numpy at %r: %#x vs %#x" % (xx[i], got[i], want[i]))
u = xx.view(np.uint32).astype(np.uint64)
want_bf = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
got_bf = np.frombuffer(c_quant(Q.BF16, xx), "<u2")
if not np.array_equal(got_bf, want_bf):
    i = np.nonzero(got_bf != want_bf)[0][0]
    fail("bf16 from_float differs at %r: %#x vs %#x" % (xx[i], got_bf[i], want_bf[i]))
nan = np.frombuffer(c_quant(Q.F16, np.array([np.nan], np.float32)), "<u2")[0]
if (nan & 0x7C00) != 0x7C00 or (nan & 0x3FF) == 0:
    fail("f16 from_float(NaN) = %#x is not a NaN" % nan)

sys.exit(T.summary("test_quant_np"))
