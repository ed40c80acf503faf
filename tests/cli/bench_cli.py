"""bench_cli.py — `wafer bench` end to end on small synthetic models.

Checks the command line (help, refusals), that the reported weight bytes and
elements per token and the parameter count equal what an independent GGUF
reader (bench_gguf.py) sums from the file (tied and untied output matrix),
that the reported times fit inside the wall-clock time of the process
measured from outside, that medians and bounds follow from the per-run
numbers, and that peak memory is read. Exit 77 (skip) when the tools are not
built.
"""
import json
import os
import sys
import tempfile
import time

import bench_gguf
import testlib as T
from testlib import check


def run(args, timeout=300):
    t0 = time.monotonic()
    r = T.run(args, text=True, timeout=timeout)
    return r, time.monotonic() - t0


def expected(path):
    g = bench_gguf.Reader(path)
    out = "output.weight" if "output.weight" in g.tensors else "token_embd.weight"
    by, el, npar = 0, 0, 0
    for name, t in g.tensors.items():
        npar += t["n"]
        if (name.startswith("blk.") and len(t["ne"]) >= 2) or name == out:
            by += t["nbytes"]
            el += t["n"]
    return by, el, npar, out == "token_embd.weight"


def median(v):
    s = sorted(v)
    n = len(s)
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])


def check_json(path, j, wall, n_prompt, n_gen, reps, membw):
    by, el, npar, tied = expected(path)
    check(j["weight_bytes_per_token"] == by, "weight bytes %d, file says %d" % (j["weight_bytes_per_token"], by))
    check(j["weight_elems_per_token"] == el, "weight elems %d, file says %d" % (j["weight_elems_per_token"], el))
    check(j["n_params"] == npar, "n_params %d, file says %d" % (j["n_params"], npar))
    check(j["tied_output"] == tied, "tied_output")
    check(sum(j["weight_types"].values()) == by, "type breakdown sums to weight bytes")
    check(j["n_prompt"] == n_prompt and j["n_gen"] == n_gen and j["reps"] == reps, "echoed sizes")
    check(j["n_ctx"] >= n_prompt + n_gen + 1, "context holds prompt + gen")
    for key in ("prefill_tok_s", "ttft_ms", "decode_tok_s"):
        runs = j[key + "_runs"]
        check(len(runs) == reps and all(x > 0 for x in runs), "%s runs" % key)
        check(abs(median(runs) - j[key]) <= 1e-3 * max(1.0, j[key]), "%s is the median of runs" % key)
    for pt, tt in zip(j["prefill_tok_s_runs"], j["ttft_ms_runs"]):
        # TTFT covers the whole prefill: it cannot be shorter than n_prompt / rate
        check(tt >= 1000.0 * n_prompt / pt * 0.999, "ttft %.3f ms vs prefill %.1f tok/s" % (tt, pt))
    # everything timed happened inside the process's wall-clock time
    timed = sum(j["ttft_ms_runs"]) / 1000.0 + sum(n_gen / d for d in j["decode_tok_s_runs"])
    timed += j["load_s"] + j["warmup_s"]
    check(timed <= wall, "timed %.3f s within wall %.3f s" % (timed, wall))
    check(j["decode_ms_p50"] <= j["decode_ms_p90"] <= j["decode_ms_max"], "latency percentiles ordered")
    check(abs(j["decode_gbps"] - j["decode_tok_s"] * by / 1e9) < 1e-3 * max(1, j["decode_gbps"]) + 1e-3,
          "decode GB/s = rate x bytes")
    if membw:
        bound = membw * 1e9 / by
        check(abs(j["bound_tok_s"] - bound) <= 1e-3 * bound + 1e-3, "bound = bandwidth / bytes")
        check(abs(j["pct_of_bound"] - 100 * j["decode_tok_s"] / bound) < 0.01 + 1e-4 * j["pct_of_bound"], "pct of bound")
    check(0 < j["rss_after_load_bytes"] <= j["peak_rss_bytes"], "RSS after load <= peak")
    check(j["peak_rss_bytes"] < 4 << 30, "peak RSS plausible")
    check(0 <= j["last_token"] < j["n_vocab"], "last token in vocabulary")


def main():
    wafer = os.environ.get("WAFER", "")
    build = os.environ.get("WAFER_BUILD", "")
    mk = os.path.join(build, "bench", "bench_mkmodel")
    if not (os.path.exists(wafer) and os.path.exists(mk)):
        T.skip("wafer or bench_mkmodel not built")
    r, _ = run([wafer, "bench", "--help"])
    check(r.returncode == 0 and "--prompt" in r.stdout and "--json" in r.stdout, "--help")
    r, _ = run([wafer, "bench", "--no-such-option"])
    check(r.returncode == 2, "unknown option: exit 2")
    r, _ = run([wafer, "bench", "-m", "x.gguf", "--prompt", "0"])
    check(r.returncode == 2, "--prompt 0 refused")
    r, _ = run([wafer, "bench", "-m", "x.gguf", "--kv", "q3"])
    check(r.returncode == 2, "--kv q3 refused")
    r, _ = run([wafer, "bench", "-m", "x.gguf", "--isa", "sse9"])
    check(r.returncode == 2, "--isa sse9 refused")
    with tempfile.TemporaryDirectory() as d:
        r, _ = run([wafer, "bench", "-m", os.path.join(d, "missing.gguf")])
        check(r.returncode == 1 and "missing.gguf" in r.stderr, "missing file: exit 1 with its name")
        for extra in ([], ["--untied"]):
            path = os.path.join(d, "tiny%s.gguf" % "".join(extra))
            r, _ = run([mk, "--preset", "tiny"] + extra + [path])
            check(r.returncode == 0, "mkmodel tiny %s" % extra)
            if r.returncode:
                continue
            n_prompt, n_gen, reps, membw = 40, 9, 3, 50.0
            args = [wafer, "bench", "-m", path, "--prompt", str(n_prompt), "--gen", str(n_gen),
                    "--reps", str(reps), "--threads", "2", "--membw", str(membw), "--json"]
            r, wall = run(args)
            check(r.returncode == 0, "bench %s: exit %d %s" % (extra, r.returncode, r.stderr[-300:]))
            if r.returncode == 0:
                j = json.loads(r.stdout)
                check_json(path, j, wall, n_prompt, n_gen, reps, membw)
                print("%s: prefill %.0f tok/s, decode %.0f tok/s, %d weight bytes/token"
                      % (os.path.basename(path), j["prefill_tok_s"], j["decode_tok_s"],
                         j["weight_bytes_per_token"]))
            # the scalar reference kernels on request
            r, _ = run([wafer, "bench", "-m", path, "--prompt", "8", "--gen", "2", "--reps", "1",
                        "--isa", "scalar", "--json"])
            check(r.returncode == 0 and json.loads(r.stdout)["isa"] == "scalar", "--isa scalar")
            # text output, chunked prefill, q8_0 KV cache
            r, _ = run([wafer, "bench", "-m", path, "--prompt", "33", "--gen", "4", "--reps", "1",
                        "--batch", "8", "--kv", "q8_0"])
            check(r.returncode == 0 and "prefill" in r.stdout and "decode" in r.stdout
                  and "peak RSS" in r.stdout, "text output (batch 8, kv q8_0)")
            r, _ = run([wafer, "bench", "-m", path, "--prompt", "100", "--gen", "100", "-c", "64"])
            check(r.returncode == 2, "context smaller than prompt + gen refused")
    return T.summary("bench_cli")


if __name__ == "__main__":
    sys.exit(main())
