#!/usr/bin/python3
"""test_llamacpp.py — wafer against an independent engine: the prebuilt
llama.cpp shipped in npm's node-llama-cpp (test-time only, CPU, never linked
into wafer).

wafer's numpy reference (tests/ref/forward_np.py) shares the team's reading of
the formats; llama.cpp does not, so this catches convention mistakes (RoPE pair
order, YaRN, Q/K norm placement, GQA mapping, biases, quant block layouts).

For each synthetic model (tests/ref/make_model.py) and quantized variants made
by `$WAFER quantize`, on the same token ids:
  * log P(token i+1 | tokens 0..i) at every position: wafer `score --json`
    vs log-softmax of llama.cpp's full logit rows (tests/node/logits.mjs);
  * wafer's top-10 at every position: same log-probs in llama.cpp, and the
    same set (a token may cross the 10th place only within the tolerance);
  * greedy generation (16 tokens): `wafer run --temp 0 --print-ids` vs
    llama.cpp's greedy tokens; a divergence is accepted only at a near tie
    (llama.cpp's top-2 gap below the tolerance), after which the rest of the
    two continuations are no longer comparable.
Both engines keep the KV cache in f32. Tolerances (absolute, in nats, on
log-probabilities) are per weight type and printed with the worst difference.

Setup: if tests/node/node_modules is missing it runs `npm ci` there (prebuilt
CPU binary only, no llama.cpp download/compile). No node/npm, a failed install,
or a binary that does not load -> exit 77 (skipped) with the reason.
Environment: WAFER, WAFER_SRC (set by ctest); LLAMACPP_KEEP=1 keeps the
temporary directory; LLAMACPP_CASES=a,b runs only the named cases.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

import make_model

SKIP = 77
TOP = 10
N_GEN = 16

# Tolerances on |log P_wafer - log P_llama.cpp| (nats). f32: both engines do
# f32 math in different orders. f16 weights: llama.cpp rounds the activations
# to f16 for F16 matmuls (vec_dot_type F16); wafer may not. Quantized: both
# quantize activations to q8_0 / q8_K, but rounding and accumulation order
# differ. Measured worst values are printed; see docs/crosscheck.md.
TOL = {"f32": 2e-3, "f16": 2e-2, "q8_0": 5e-2, "q6_K": 5e-2, "q5_K_M": 8e-2,
       "q4_K_M": 1e-1, "q4_0": 1e-1, "q5_0": 8e-2}

# (case name, make_model config, weight type of the source, quantization or
#  None, number of input tokens). YaRN cases run past the original context.
CASES = [
    ("llama", "llama", "f32", None, 48),
    ("llama_tied", "llama_tied", "f32", None, 48),
    ("qwen2", "qwen2", "f32", None, 48),
    ("qwen3", "qwen3", "f32", None, 48),
    ("llama_yarn", "llama_yarn", "f32", None, 200),
    ("qwen2_yarn", "qwen2_yarn", "f32", None, 200),
    ("llama_kq", "llama_kq", "f32", None, 48),
    ("qwen3_kq", "qwen3_kq", "f32", None, 48),
    ("llama_f16", "llama", "f16", None, 48),
    ("qwen3_f16", "qwen3", "f16", None, 48),
    ("llama_kq.q8_0", "llama_kq", "f32", "q8_0", 48),
    ("llama_kq.q6_K", "llama_kq", "f32", "q6_K", 48),
    ("llama_kq.q4_K_M", "llama_kq", "f32", "q4_K_M", 48),
    ("llama_kq.q5_K_M", "llama_kq", "f32", "q5_K_M", 48),
    ("llama_kq.q4_0", "llama_kq", "f32", "q4_0", 48),
    ("qwen3_kq.q8_0", "qwen3_kq", "f32", "q8_0", 48),
    ("qwen3_kq.q6_K", "qwen3_kq", "f32", "q6_K", 48),
    ("qwen3_kq.q4_K_M", "qwen3_kq", "f32", "q4_K_M", 48),
]


def skip(msg):
    print("SKIP: " + msg)
    sys.exit(SKIP)


def ensure_node(node_dir):
    """node_modules present or installed; returns the node binary."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node:
        skip("node is not installed (apt-get install nodejs npm)")
    if os.path.isdir(os.path.join(node_dir, "node_modules", "node-llama-cpp")):
        return node
    if not npm:
        skip("npm is not installed and tests/node/node_modules is missing")
    env = dict(os.environ, NODE_LLAMA_CPP_SKIP_DOWNLOAD="true")
    # --omit=optional: only the CPU binary package (listed as a direct
    # dependency), not the CUDA/Vulkan/other-OS ones; --ignore-scripts: the
    # postinstall step could try to download or build llama.cpp.
    cmd = [npm, "ci", "--no-audit", "--no-fund", "--omit=optional", "--ignore-scripts"]
    print("installing node-llama-cpp: " + " ".join(cmd[1:]), flush=True)
    try:
        r = subprocess.run(cmd, cwd=node_dir, env=env, capture_output=True, text=True,
                           timeout=240)
    except subprocess.TimeoutExpired:
        skip("npm ci timed out (no registry access?)")
    if r.returncode != 0:
        skip("npm ci failed (%d): %s" % (r.returncode, (r.stderr or r.stdout)[-800:]))
    return node


def llama_cpp_run(node, node_dir, jobs, tmp):
    path = os.path.join(tmp, "jobs.json")
    with open(path, "w") as f:
        json.dump(jobs, f)
    env = dict(os.environ, NODE_LLAMA_CPP_SKIP_DOWNLOAD="true")
    try:
        r = subprocess.run([node, os.path.join(node_dir, "logits.mjs"), "--jobs", path],
                           cwd=node_dir, env=env, capture_output=True, text=True, timeout=180)
    except subprocess.TimeoutExpired:
        print("FAIL: logits.mjs timed out")
        sys.exit(1)
    if r.returncode == 3:
        skip("the prebuilt llama.cpp does not load: " + r.stderr.strip()[-600:])
    if r.returncode != 0:
        print("FAIL: logits.mjs exited %d\n%s" % (r.returncode, r.stderr[-2000:]))
        sys.exit(1)
    return json.loads(r.stdout)


def wafer(args):
    r = subprocess.run([os.environ["WAFER"]] + args, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError("wafer %s exited %d: %s" % (args[0], r.returncode, r.stderr.strip()[-500:]))
    return r.stdout


def log_softmax(rows):
    x = np.asarray(rows, dtype=np.float64)
    m = x.max(axis=1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=1, keepdims=True))


def compare_scores(sc, lp, ids, tol):
    """Returns (worst next-logprob diff, worst top-K diff, list of problems)."""
    problems = []
    pos = sc["positions"]
    if sc["tokens"] != ids:
        problems.append("wafer scored tokens %s, not the input" % sc["tokens"][:8])
        return np.inf, np.inf, problems
    if len(pos) != len(ids) or lp.shape[0] != len(ids):
        problems.append("position counts: wafer %d, llama.cpp %d, input %d"
                        % (len(pos), lp.shape[0], len(ids)))
        return np.inf, np.inf, problems
    worst_next = worst_top = 0.0
    where = None
    for i, p in enumerate(pos):
        if i + 1 < len(ids):
            d = abs(p["next_logprob"] - lp[i, ids[i + 1]])
            if d > worst_next:
                worst_next, where = d, i
        wtop = [t for t, _ in p["top"]]
        for t, v in p["top"]:
            worst_top = max(worst_top, abs(v - lp[i, t]))
        ltop = np.argsort(-lp[i], kind="stable")[:TOP]
        tenth = lp[i, ltop[-1]]
        for t in set(wtop) ^ set(int(x) for x in ltop):
            # membership differs: only allowed for a near tie at 10th place
            if abs(lp[i, t] - tenth) > tol:
                problems.append("pos %d: token %d in only one top-%d (llama.cpp lp %.4f, "
                                "10th %.4f)" % (i, t, TOP, lp[i, t], tenth))
    if worst_next > tol:
        problems.append("next-token log-prob differs by %.3g at position %d" % (worst_next, where))
    if worst_top > tol:
        problems.append("top-%d log-probs differ by up to %.3g" % (TOP, worst_top))
    return worst_next, worst_top, problems


def compare_greedy(wgen, lgen, eos, lp_first, tol):
    """wgen/lgen: greedy ids; lp_first: llama.cpp log-probs after the prompt."""
    if lgen and lgen[-1] == eos:
        lgen = lgen[:-1]  # wafer stops at EOS without printing it
    n = min(len(wgen), len(lgen))
    for j in range(n):
        if wgen[j] != lgen[j]:
            if j == 0:
                s = np.sort(lp_first)[::-1]
                if s[0] - s[1] < tol:
                    return "diverge at 0 (near tie, gap %.2g)" % (s[0] - s[1]), True
            return "diverge at %d: wafer %s, llama.cpp %s" % (j, wgen[j:j + 4], lgen[j:j + 4]), False
    if len(wgen) != len(lgen):
        return "lengths differ: wafer %d, llama.cpp %d" % (len(wgen), len(lgen)), False
    return "identical (%d tokens)" % n, True


def main():
    if "WAFER" not in os.environ:
        print("WAFER is not set (run through ctest)")
        return 2
    src = os.environ.get("WAFER_SRC", os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    node_dir = os.path.join(src, "tests", "node")
    node = ensure_node(node_dir)
    only = [c for c in os.environ.get("LLAMACPP_CASES", "").split(",") if c]
    cases = [c for c in CASES if not only or c[0] in only]

    tmp = tempfile.mkdtemp(prefix="wafer_llamacpp_")
    try:
        return run(node, node_dir, cases, tmp)
    finally:
        if os.environ.get("LLAMACPP_KEEP"):
            print("kept " + tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def run(node, node_dir, cases, tmp):
    rng = np.random.default_rng(20261122)
    made = {}
    jobs, plans = [], []
    for name, cfg, wtype, quant, n_tok in cases:
        conf = make_model.CONFIGS[cfg]
        src_path = os.path.join(tmp, "%s.%s.gguf" % (cfg, wtype))
        if src_path not in made:
            make_model.make(src_path, conf, wtype=wtype)
            made[src_path] = True
        path = src_path
        if quant:
            path = os.path.join(tmp, "%s.%s.gguf" % (cfg, quant))
            try:
                wafer(["quantize", src_path, path, quant, "-t", "1"])
            except RuntimeError as e:
                plans.append((name, None, None, None, None, "wafer quantize failed: %s" % e))
                continue
        V = conf["n_vocab"]
        # ids: ordinary tokens only (the last id is the control/EOS token)
        ids = [int(x) for x in rng.integers(0, V - 1, size=n_tok)]
        prompt = ids[:8]
        jobs.append({"model": path, "ids": ids, "gen": 0, "kv": "f32"})
        jobs.append({"model": path, "ids": prompt, "gen": N_GEN, "kv": "f32"})
        plans.append((name, path, ids, prompt, V, None))

    results = llama_cpp_run(node, node_dir, jobs, tmp)
    ri = 0
    failed = []
    print("%-18s %9s %11s %11s  %s" % ("case", "tol", "max|d next|", "max|d top|", "greedy"))
    tols = {c[0]: TOL[c[3] or c[2]] for c in CASES}
    for name, path, ids, prompt, V, err in plans:
        tol = tols[name]
        if err:
            print("%-18s FAIL %s" % (name, err))
            failed.append(name)
            continue
        full, short = results[ri], results[ri + 1]
        ri += 2
        probs = []
        for r in (full, short):
            if r["error"]:
                probs.append("llama.cpp: " + r["error"])
        if not probs and full["n_vocab"] != V:
            probs.append("llama.cpp reports %s tokens, model has %d" % (full["n_vocab"], V))
        if probs:
            print("%-18s FAIL %s" % (name, "; ".join(probs)))
            failed.append(name)
            continue
        lp = log_softmax(full["logits"])
        ids_s = " ".join(map(str, ids))
        try:
            sc = json.loads(wafer(["score", "-m", path, "--ids", ids_s, "--json", "--top", str(TOP),
                                   "--kv", "f32", "-q", "-t", "1", "--no-special"]))
            wgen = [int(x) for x in wafer(["run", "-m", path, "--ids", " ".join(map(str, prompt)),
                                          "-n", str(N_GEN), "--temp", "0", "--print-ids", "-q",
                                          "--no-special", "--kv", "f32", "-t", "1"]).split()]
        except (RuntimeError, ValueError) as e:
            print("%-18s FAIL wafer: %s" % (name, e))
            failed.append(name)
            continue
        wn, wt, probs = compare_scores(sc, lp, ids, tol)
        lp_prompt = log_softmax(short["logits"])[-1]
        gmsg, gok = compare_greedy(wgen, short["gen"], V - 1, lp_prompt, tol)
        if not gok:
            probs.append("greedy: " + gmsg)
        print("%-18s %9.1e %11.3e %11.3e  %s" % (name, tol, wn, wt, gmsg))
        if probs:
            failed.append(name)
            for p in probs[:6]:
                print("    FAIL %s: %s" % (name, p))
    sys.stdout.flush()
    if failed:
        print("FAILED cases (wafer and llama.cpp disagree beyond tolerance): " + ", ".join(failed))
        return 1
    print("all %d cases agree with llama.cpp" % len(plans))
    return 0


if __name__ == "__main__":
    sys.exit(main())
