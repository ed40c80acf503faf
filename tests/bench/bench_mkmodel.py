"""bench_mkmodel.py — bench/mkmodel writes models shaped like the real ones.

Checks, with an independent GGUF reader (bench_gguf.py), that the synthetic
Qwen2.5-Coder-0.5B / -1.5B files (layers and vocabulary cut down to keep the
test small) carry the architecture's hyper-parameters from the models'
config.json, every tensor with the right name, shape and type, norms of one,
gaussian weights of the requested spread, and that the seed makes the output
reproducible. Exit 77 (skip) when the tool is not built.
"""
import os
import sys
import tempfile

import numpy as np

import bench_gguf
import testlib as T
from testlib import check

# From Qwen/Qwen2.5-Coder-{0.5B,1.5B} config.json (typed in here, not taken
# from mkmodel's table).
CONFIGS = {
    "qwen2.5-coder-0.5b": dict(hidden=896, layers=24, heads=14, kv_heads=2, ff=4864,
                               vocab=151936, ctx=32768, theta=1e6, eps=1e-6),
    "qwen2.5-coder-1.5b": dict(hidden=1536, layers=28, heads=12, kv_heads=2, ff=8960,
                               vocab=151936, ctx=32768, theta=1e6, eps=1e-6),
}


def mkmodel_path():
    build = os.environ.get("WAFER_BUILD", "")
    p = os.path.join(build, "bench", "bench_mkmodel")
    return p if os.path.exists(p) else None


def run(tool, args):
    r = T.run([tool] + args, text=True)
    if r.returncode != 0:
        print(r.stdout, r.stderr)
    return r.returncode


def check_model(path, cfg, layers, vocab, wtype):
    g = bench_gguf.Reader(path)
    kv = g.kv
    check(g.version == 3, "GGUF version 3")
    check(kv.get("general.architecture") == "qwen2", "architecture qwen2")
    check(kv.get("qwen2.embedding_length") == cfg["hidden"], "embedding_length")
    check(kv.get("qwen2.block_count") == layers, "block_count")
    check(kv.get("qwen2.feed_forward_length") == cfg["ff"], "feed_forward_length")
    check(kv.get("qwen2.attention.head_count") == cfg["heads"], "head_count")
    check(kv.get("qwen2.attention.head_count_kv") == cfg["kv_heads"], "head_count_kv")
    check(kv.get("qwen2.context_length") == cfg["ctx"], "context_length")
    check(abs(kv.get("qwen2.rope.freq_base", 0) - cfg["theta"]) < 1, "rope.freq_base")
    check(abs(kv.get("qwen2.attention.layer_norm_rms_epsilon", 0) - cfg["eps"]) < 1e-9, "rms eps")

    h, hd = cfg["hidden"], cfg["hidden"] // cfg["heads"]
    q, kvd, ff = hd * cfg["heads"], hd * cfg["kv_heads"], cfg["ff"]
    want = {"token_embd.weight": ([h, vocab], wtype), "output_norm.weight": ([h], 0)}
    for i in range(layers):
        b = "blk.%d." % i
        want.update({
            b + "attn_norm.weight": ([h], 0), b + "ffn_norm.weight": ([h], 0),
            b + "attn_q.weight": ([h, q], wtype), b + "attn_q.bias": ([q], 0),
            b + "attn_k.weight": ([h, kvd], wtype), b + "attn_k.bias": ([kvd], 0),
            b + "attn_v.weight": ([h, kvd], wtype), b + "attn_v.bias": ([kvd], 0),
            b + "attn_output.weight": ([q, h], wtype),
            b + "ffn_gate.weight": ([h, ff], wtype), b + "ffn_up.weight": ([h, ff], wtype),
            b + "ffn_down.weight": ([ff, h], wtype),
        })
    check(set(g.tensors) == set(want), "tensor names (tied: no output.weight): extra %s missing %s"
          % (sorted(set(g.tensors) - set(want))[:4], sorted(set(want) - set(g.tensors))[:4]))
    for name, (ne, ty) in want.items():
        t = g.tensors.get(name)
        if t is None:
            continue
        check(t["ne"] == ne, "%s shape %s, want %s" % (name, t["ne"], ne))
        check(t["type"] == ty, "%s type %d, want %d" % (name, t["type"], ty))
    # norms are ones; weights gaussian with std 0.02 and mean 0
    check(np.all(g.floats("blk.0.attn_norm.weight") == 1.0), "attn_norm is ones")
    check(np.all(g.floats("output_norm.weight") == 1.0), "output_norm is ones")
    for name in ["blk.0.ffn_up.weight", "token_embd.weight", "blk.%d.attn_q.weight" % (layers - 1)]:
        x = g.floats(name)
        std, mean = float(x.std()), float(x.mean())
        print("%-24s n=%-9d std %.5f mean %+.6f" % (name, x.size, std, mean))
        check(abs(std - 0.02) < 0.0006, "%s std %.5f (want 0.02)" % (name, std))
        check(abs(mean) < 0.02 * 5 / np.sqrt(x.size) + 1e-4, "%s mean %.6f" % (name, mean))
        # gaussian, not uniform: kurtosis near 3
        kurt = float(((x - mean) ** 4).mean() / std ** 4)
        check(2.7 < kurt < 3.3, "%s kurtosis %.2f (gaussian: 3)" % (name, kurt))
    return g


def main():
    tool = mkmodel_path()
    if not tool:
        T.skip("bench_mkmodel not built")
    with tempfile.TemporaryDirectory() as d:
        for preset, layers, vocab in [("qwen2.5-coder-0.5b", 2, 2048), ("qwen2.5-coder-1.5b", 1, 1024)]:
            cfg = CONFIGS[preset]
            p = os.path.join(d, preset + ".gguf")
            check(run(tool, ["--preset", preset, "--layers", str(layers), "--vocab", str(vocab), p]) == 0,
                  "mkmodel %s" % preset)
            if os.path.exists(p):
                check_model(p, cfg, layers, vocab, 1)
        # reproducible with a seed, different with another
        a, b, c = (os.path.join(d, n) for n in ("a.gguf", "b.gguf", "c.gguf"))
        args = ["--preset", "tiny"]
        check(run(tool, args + [a]) == 0 and run(tool, args + [b]) == 0
              and run(tool, args + ["--seed", "7", c]) == 0, "mkmodel tiny x3")
        ga, gb, gc = bench_gguf.Reader(a), bench_gguf.Reader(b), bench_gguf.Reader(c)
        check(ga.buf == gb.buf, "same seed, same file")
        check(ga.raw("blk.0.ffn_up.weight") != gc.raw("blk.0.ffn_up.weight"), "other seed, other weights")
        # written directly as q8_0 (rows of 896 fit 32-element blocks)
        p = os.path.join(d, "q8.gguf")
        check(run(tool, ["--preset", "qwen2.5-coder-0.5b", "--layers", "1", "--vocab", "512",
                         "--type", "q8_0", p]) == 0, "mkmodel --type q8_0")
        if os.path.exists(p):
            check_model(p, CONFIGS["qwen2.5-coder-0.5b"], 1, 512, 8)
        # bad arguments are refused
        check(run(tool, ["--preset", "nope", os.path.join(d, "x.gguf")]) == 2, "unknown preset refused")
        check(run(tool, ["--type", "q9_9", os.path.join(d, "x.gguf")]) == 2, "unknown type refused")
        check(run(tool, ["--layers", "0", os.path.join(d, "x.gguf")]) == 2, "zero layers refused")
    return T.summary("bench_mkmodel")


if __name__ == "__main__":
    sys.exit(main())
