#!/usr/bin/python3
"""test_llamacpp.py — wafer against an independent engine: the prebuilt
llama.cpp shipped in npm's node-llama-cpp (test-time only, CPU, never linked
into wafer).

wafer's numpy reference (tests/ref/forward_np.py) shares the team's reading of
the formats; llama.cpp does not, so this catches convention mistakes (RoPE pair
order, YaRN, Q/K norm placement, GQA mapping, biases, quant block layouts).

For each synthetic model (tests/ref/make_model.py) and quantized variants made
by `$WAFER quantize` (so llama.cpp also reads wafer's quantized blocks), on the
same token ids, both engines with an f32 KV cache:
  * log P(token i+1 | tokens 0..i) at every position: wafer `score --json`
    vs log-softmax of llama.cpp's full logit rows (tests/node/logits.mjs);
  * wafer's top-10 at every position: the same log-probs in llama.cpp, and the
    same set (a token may cross the 10th place only within the tolerance);
  * greedy generation (16 tokens, `wafer run --temp 0 --print-ids`): every
    token wafer picks must be llama.cpp's argmax on the same prefix, or within
    the tolerance of it (a near tie); whether llama.cpp's own greedy run gives
    the identical tokens is reported too.

Tolerances (|log P_wafer - log P_llama.cpp|, nats; see docs/crosscheck.md):
  f32 weights: 1e-3 (seen: <= 5e-5). f16 weights: 2e-2 (seen <= 7e-3; the two
  engines round activations for F16 matmuls differently).
  Quantized: both engines quantize activations (q8_0 / q8_K) and one rounding
  flip in an int8 activation moves these small random models' log-probs by up
  to ~0.1 nat -- wafer's own scalar vs AVX2 vs AVX-512 kernels differ that
  much on the same file (printed per case as "self"). So quantized cases are
  held to a mean over positions and a max: K-quants mean <= 0.04, legacy
  (q8_0 activations, where wafer rounds the fp16 scale up and llama.cpp does
  not) mean <= 0.06, both max <= 0.3. Seen: K-quants mean <= 0.023, legacy
  <= 0.035, max <= 0.16. A negative control checks the limits still reject a
  small real difference (wafer on the q4_K_S file vs llama.cpp on q4_K_M),
  and the f32 limits a wrong expert choice (llama.cpp given the same MoE
  weights with one more expert per token).

Known convention difference (kept failing on purpose until the lead decides;
see KNOWN): for the llama / qwen2 / qwen3 architectures llama.cpp ignores
`<arch>.rope.scaling.yarn_beta_fast` / `yarn_beta_slow` (it always uses 32 / 1)
while wafer honours them, so make_model's llama_yarn config (beta_fast 4)
disagrees by several nats. llama_yarn_defbeta (same model, default betas)
agrees to 1e-5.

Setup: if tests/node/node_modules is missing it runs `npm install` there, under
the lock file test_vocab_js.py takes too (/tmp/wafer-tests-node-install.lock; prebuilt
CPU binary only, no llama.cpp download/compile). No node/npm, a failed install,
or a binary that does not load -> exit 77 (skipped) with the reason.
Environment: WAFER, WAFER_SRC (set by ctest); LLAMACPP_KEEP=1 keeps the
temporary directory; LLAMACPP_CASES=a,b runs only the named cases (and no
negative controls unless LLAMACPP_NEG=1).
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

import make_model
import testlib as T
from testlib import skip

TOP = 10
N_GEN = 16

# weight type -> (max |d| per position, mean |d| over positions or None)
TOL = {"f32": (1e-3, None), "f16": (2e-2, None)}
for _q in ("q6_K", "q5_K_M", "q5_K_S", "q4_K_M", "q4_K_S", "q3_K_S", "q3_K_M", "q3_K_L", "q2_K", "iq4_xs"):
    TOL[_q] = (0.3, 0.04)
for _q in ("q8_0", "q5_0", "q5_1", "q4_0", "q4_1", "iq4_nl", "f32+mxfp4"):
    TOL[_q] = (0.3, 0.06)

# (case, make_model config, config overrides, source weight type,
#  quantization or None, number of input tokens). YaRN cases run past the
#  original context (128).
CASES = [
    ("llama", "llama", {}, "f32", None, 48),
    ("llama_tied", "llama_tied", {}, "f32", None, 48),
    ("qwen2", "qwen2", {}, "f32", None, 48),
    ("qwen3", "qwen3", {}, "f32", None, 48),
    ("llama_yarn", "llama_yarn", {}, "f32", None, 200),
    ("llama_yarn_defbeta", "llama_yarn", {"beta_fast": None, "beta_slow": None}, "f32", None, 200),
    ("qwen2_yarn", "qwen2_yarn", {}, "f32", None, 200),
    ("llama_kq", "llama_kq", {}, "f32", None, 48),
    ("qwen3_kq", "qwen3_kq", {}, "f32", None, 48),
    ("llama_f16", "llama", {}, "f16", None, 48),
    ("qwen3_f16", "qwen3", {}, "f16", None, 48),
    ("llama_kq.q8_0", "llama_kq", {}, "f32", "q8_0", 48),
    ("llama_kq.q6_K", "llama_kq", {}, "f32", "q6_K", 48),
    ("llama_kq.q5_K_M", "llama_kq", {}, "f32", "q5_K_M", 48),
    ("llama_kq.q4_K_M", "llama_kq", {}, "f32", "q4_K_M", 48),
    ("llama_kq.q4_K_S", "llama_kq", {}, "f32", "q4_K_S", 48),
    ("llama_kq.q4_0", "llama_kq", {}, "f32", "q4_0", 48),
    ("llama_kq.q5_1", "llama_kq", {}, "f32", "q5_1", 48),
    # the low-bit and codebook types: Q2_K (+Q3_K) / Q3_K (+Q4_K, Q5_K) /
    # IQ4_XS / IQ4_NL weights as wafer quantizes them (MXFP4: llama.cpp only
    # takes it in MoE expert tensors; the architecture tests check it there).
    # One architecture: the block layouts do not depend on it.
    ("llama_kq.q2_K", "llama_kq", {}, "f32", "q2_K", 48),
    ("llama_kq.q3_K_M", "llama_kq", {}, "f32", "q3_K_M", 48),
    ("llama_kq.q3_K_L", "llama_kq", {}, "f32", "q3_K_L", 48),
    ("llama_kq.iq4_xs", "llama_kq", {}, "f32", "iq4_xs", 48),
    ("llama_kq.iq4_nl", "llama_kq", {}, "f32", "iq4_nl", 48),
    ("qwen3_kq.q8_0", "qwen3_kq", {}, "f32", "q8_0", 48),
    ("qwen3_kq.q6_K", "qwen3_kq", {}, "f32", "q6_K", 48),
    ("qwen3_kq.q4_K_M", "qwen3_kq", {}, "f32", "q4_K_M", 48),
    # mixture of experts: router, top-k, renormalised weights, stacked experts
    ("qwen3moe", "qwen3moe", {}, "f32", None, 48),
    ("qwen3moe_f16", "qwen3moe", {}, "f16", None, 48),
    ("qwen3moe_kq", "qwen3moe_kq", {}, "f32", None, 48),
    # (no q8_0 MoE case: wafer rounds q8_0 activation scales up, llama.cpp to
    # nearest; in a MoE that moves router logits enough to tip near-tied
    # experts, seen 1.16 nats at one position. The q8_K activations of the
    # K-quants round alike in both; q4_K_M agrees within the K-quant limits
    # (seen 4e-6 to 0.11, the latter where wafer's own kernels differ as much).
    # test_model.py checks q8_0 MoE files against numpy with wafer's rounding.)
    ("qwen3moe_kq.q4_K_M", "qwen3moe_kq", {}, "f32", "q4_K_M", 48),
    # gpt-oss: sinks, a sliding window of 8 on the even layers, biases, the
    # clamped SwiGLU, YaRN past the original context (128)
    ("gpt-oss", "gpt-oss", {}, "f32", None, 200),
    ("gpt-oss_f16", "gpt-oss", {}, "f16", None, 48),
    # MXFP4 experts (written by make_model, the rest f32): the activations
    # into them are q8_0-rounded by both engines, so held to the q8_0 limits;
    # one layer, so that the router sees no rounding (over 3 layers the two
    # engines' q8_0 scale rounding tips near-tied experts: seen 0.93 nats)
    ("gpt-oss_mxfp4", "gpt-oss", {"n_layer": 1}, "f32+mxfp4", None, 48),
]

# Cases whose failure is a known, explained convention difference. Empty on
# purpose: the lead decides whether "llama_yarn" goes here (then it is
# reported as XFAIL and must keep failing) or wafer changes.
KNOWN = {
    # Decided: wafer honours {arch}.rope.scaling.yarn_beta_fast/_slow when a
    # file has them (Hugging Face's meaning of rope_scaling.beta_fast/slow);
    # llama.cpp ignores them for llama/qwen2/qwen3 and always uses 32/1. The
    # same model with the default betas agrees (llama_yarn_defbeta).
    "llama_yarn": "llama.cpp ignores yarn_beta_fast/slow for this architecture; wafer uses them",
}

# Negative controls: (config, wafer's overrides and quantization, llama.cpp's
# overrides and quantization). The quantized limits must reject a small but
# real weight difference (q4_K_S vs q4_K_M); the f32 limits must reject one
# more expert per token (the same weights, expert_used_count 3 instead of 2:
# what a wrong expert choice looks like), and a gpt-oss file without its sinks
# or without its sliding window.
NEG_CONTROLS = [("llama_kq", {}, "q4_K_S", {}, "q4_K_M"),
                ("qwen3moe", {}, None, {"n_expert_used": 3}, None),
                ("gpt-oss", {}, None, {"sinks": False}, None),
                ("gpt-oss", {}, None, {"swa": 1000}, None)]


def ensure_node(node_dir):
    """node_modules present or installed; returns the node binary."""
    node = shutil.which("node")
    if not node:
        skip("node is not installed (apt-get install nodejs npm)")
    have = lambda: os.path.isdir(os.path.join(node_dir, "node_modules", "node-llama-cpp"))
    # Versions pinned by package.json and package-lock.json. --omit=optional:
    # only the CPU binary package (a direct dependency), not the CUDA / Vulkan /
    # other-OS ones; --ignore-scripts: node-llama-cpp's postinstall could
    # otherwise try to download or build llama.cpp. `npm ci` is not used: npm
    # 11 leaves other platforms' optional packages out of the lock file and
    # then refuses it; --no-save keeps the lock file untouched.
    # test_vocab_js.py installs into the same folder under the same lock file.
    T.npm_install(node_dir, have, ["install", "--no-save", "--no-audit", "--no-fund", "--omit=optional",
                                   "--ignore-scripts"],
                  "node-llama-cpp", "wafer-tests-node-install.lock",
                  env=dict(os.environ, NODE_LLAMA_CPP_SKIP_DOWNLOAD="true"))
    return node


def llama_cpp(node, node_dir, jobs, tmp):
    """Runs logits.mjs on jobs; a list of results, or an error string."""
    path = os.path.join(tmp, "jobs.json")
    with open(path, "w") as f:
        json.dump(jobs, f)
    env = dict(os.environ, NODE_LLAMA_CPP_SKIP_DOWNLOAD="true")
    try:
        r = T.run([node, os.path.join(node_dir, "logits.mjs"), "--jobs", path],
                  cwd=node_dir, env=env, text=True, timeout=180)
    except subprocess.TimeoutExpired:
        return "logits.mjs timed out"
    if r.returncode == 3:
        skip("the prebuilt llama.cpp does not load: " + r.stderr.strip()[-600:])
    if r.returncode != 0:
        return "logits.mjs exited %d: %s" % (r.returncode, r.stderr.strip()[-600:])
    res = json.loads(r.stdout)
    errs = [x["error"] for x in res if x["error"]]
    return "; ".join(errs) if errs else res


def wafer(args):
    return T.wafer_ok(*args, text=True, timeout=120)[0]


def wafer_score(path, ids, extra=()):
    return json.loads(wafer(["score", "-m", path, "--ids", " ".join(map(str, ids)), "--json",
                             "--top", str(TOP), "--kv", "f32", "-q", "-t", "1", "--no-special"]
                            + list(extra)))


def next_lps(sc):
    return np.array([p["next_logprob"] for p in sc["positions"][:-1]], dtype=np.float64)


def log_softmax(rows):
    x = np.asarray(rows, dtype=np.float64)
    if not np.isfinite(x).all():
        raise ValueError("llama.cpp logits are incomplete or not finite")
    m = x.max(axis=1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=1, keepdims=True))


def compare_scores(sc, lp, ids, tmax, tmean):
    """Returns (max |d next|, mean |d next|, max |d top|, problems)."""
    pos = sc["positions"]
    if sc["tokens"] != ids or len(pos) != len(ids) or lp.shape[0] != len(ids):
        return np.inf, np.inf, np.inf, ["wafer scored %d tokens / llama.cpp %d rows for %d ids"
                                        % (len(pos), lp.shape[0], len(ids))]
    d = np.abs(next_lps(sc) - lp[np.arange(len(ids) - 1), ids[1:]])
    problems, set_problems = [], []
    worst_top = 0.0
    for i, p in enumerate(pos):
        for t, v in p["top"]:
            worst_top = max(worst_top, abs(v - lp[i, t]))
        ltop = np.argsort(-lp[i], kind="stable")[:TOP]
        tenth = lp[i, ltop[-1]]
        for t in set(t for t, _ in p["top"]) ^ set(int(x) for x in ltop):
            if abs(lp[i, t] - tenth) > tmax:  # only a near tie may cross 10th place
                set_problems.append("pos %d: token %d in only one top-%d (llama.cpp lp %.4f, "
                                    "10th %.4f)" % (i, t, TOP, lp[i, t], tenth))
    if d.max() > tmax:
        problems.append("next-token log-prob differs by %.3g at position %d (limit %.3g)"
                        % (d.max(), int(d.argmax()), tmax))
    if tmean is not None and d.mean() > tmean:
        problems.append("mean next-token log-prob difference %.3g (limit %.3g)" % (d.mean(), tmean))
    if worst_top > tmax:
        problems.append("top-%d log-probs differ by up to %.3g (limit %.3g)" % (TOP, worst_top, tmax))
    return d.max(), d.mean(), worst_top, problems + set_problems


def compare_greedy(prompt, wgen, path_lp, own_gen, eos, tol):
    """wgen: wafer's greedy ids; path_lp: llama.cpp log-probs along
    prompt + wgen; own_gen: llama.cpp's own greedy ids. (message, ok)."""
    n0 = len(prompt) - 1
    if not wgen:
        return "wafer generated nothing", False
    for j, t in enumerate(wgen):
        row = path_lp[n0 + j]
        gap = row.max() - row[t]
        if gap > tol:
            return ("step %d: wafer picked %d, llama.cpp's argmax is %d (%.3g nats higher)"
                    % (j, t, int(row.argmax()), gap)), False
    if len(wgen) < N_GEN:  # wafer stopped: at EOS, which llama.cpp must also pick
        row = path_lp[n0 + len(wgen)]
        if row.max() - row[eos] > tol:
            return "wafer stopped after %d tokens, llama.cpp does not pick EOS there" % len(wgen), False
    own = own_gen[:-1] if own_gen and own_gen[-1] == eos else own_gen
    same = own == wgen
    return ("%d tokens ok, %s" % (len(wgen), "identical to llama.cpp's" if same
                                  else "near-tie split from llama.cpp's own run")), True


def main():
    if "WAFER" not in os.environ:
        print("WAFER is not set (run through ctest)")
        return 2
    src = os.environ.get("WAFER_SRC", os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    node_dir = os.path.join(src, "tests", "node")
    node = ensure_node(node_dir)
    only = [c for c in os.environ.get("LLAMACPP_CASES", "").split(",") if c]
    cases = [c for c in CASES if not only or c[0] in only]
    tmp = tempfile.mkdtemp(prefix="wafer_llamacpp_")
    try:
        return run(node, node_dir, cases, tmp, neg=not only or bool(os.environ.get("LLAMACPP_NEG")))
    finally:
        if os.environ.get("LLAMACPP_KEEP"):
            print("kept " + tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def model_file(tmp, cfg, over, wtype, quant):
    tag = cfg + "".join("_%s%s" % (k, v) for k, v in sorted(over.items()))
    conf = dict(make_model.CONFIGS[cfg], **over)
    # llama.cpp's CPU backend aborts on f16 norm weights ("binary_op:
    # unsupported types: dst: f32, src0: f32, src1: f16"); its converter always
    # writes norms as f32, so the cross-check does too.
    conf["norm_f16"] = False
    src = os.path.join(tmp, "%s.%s.gguf" % (tag, wtype))
    if not os.path.exists(src):
        wt, _, exp = wtype.partition("+")  # "f32+mxfp4": MXFP4 experts
        make_model.make(src, conf, wtype=wt, exp_wtype=exp or None)
    if not quant:
        return src, conf
    path = os.path.join(tmp, "%s.%s.gguf" % (tag, quant))
    if not os.path.exists(path):
        wafer(["quantize", src, path, quant, "-t", "1"])
    return path, conf


def run(node, node_dir, cases, tmp, neg):
    rng = np.random.default_rng(20261122)
    failed, xfailed = [], []
    print("%-19s %8s %10s %10s %10s %9s  %s" % ("case", "limit", "max|d|", "mean|d|", "top max|d|",
                                               "self", "greedy"))
    for name, cfg, over, wtype, quant, n_tok in cases:
        tmax, tmean = TOL[quant or wtype]
        V = make_model.CONFIGS[cfg]["n_vocab"]
        ids = [int(x) for x in rng.integers(0, V - 1, size=n_tok)]  # no EOS/control id
        prompt = ids[:8]
        try:
            path, conf = model_file(tmp, cfg, over, wtype, quant)
            sc = wafer_score(path, ids)
            self_noise = "-"
            if quant:  # wafer's own kernel-to-kernel spread on this file
                self_noise = "%.2e" % np.abs(next_lps(sc) - next_lps(wafer_score(
                    path, ids, ["--isa", "scalar"]))).max()
            wgen = [int(x) for x in wafer(["run", "-m", path, "--ids", " ".join(map(str, prompt)),
                                          "-n", str(N_GEN), "--temp", "0", "--print-ids", "-q",
                                          "--no-special", "--kv", "f32", "-t", "1"]).split()]
        except (RuntimeError, ValueError) as e:
            print("%-19s FAIL wafer: %s" % (name, e))
            failed.append(name)
            continue
        # one node process per case: an abort inside llama.cpp costs one case
        res = llama_cpp(node, node_dir, [
            {"model": path, "ids": ids},
            {"model": path, "ids": prompt + wgen},
            {"model": path, "ids": prompt, "gen": N_GEN}], tmp)
        if isinstance(res, str):
            print("%-19s FAIL llama.cpp: %s" % (name, res))
            failed.append(name)
            continue
        if res[0]["n_vocab"] != V:
            print("%-19s FAIL llama.cpp reports %s tokens, the model has %d" % (name, res[0]["n_vocab"], V))
            failed.append(name)
            continue
        try:
            lp, path_lp = log_softmax(res[0]["logits"]), log_softmax(res[1]["logits"])
        except ValueError as e:
            print("%-19s FAIL %s" % (name, e))
            failed.append(name)
            continue
        wmax, wmean, wtop, probs = compare_scores(sc, lp, ids, tmax, tmean)
        gmsg, gok = compare_greedy(prompt, wgen, path_lp, res[2]["gen"], V - 1, tmax)
        if not gok:
            probs.append("greedy: " + gmsg)
        print("%-19s %8.0e %10.2e %10.2e %10.2e %9s  %s" % (name, tmax, wmax, wmean, wtop, self_noise,
                                                            gmsg), flush=True)
        if probs:
            (xfailed if name in KNOWN else failed).append(name)
            for p in probs[:5]:
                print("    %s %s: %s" % ("XFAIL" if name in KNOWN else "FAIL", name, p))
            if name in KNOWN:
                print("    XFAIL %s: %s" % (name, KNOWN[name]))
        elif name in KNOWN:
            print("    XPASS %s: listed in KNOWN but agrees now; remove it" % name)
            failed.append(name)

    for cfg, wover, wq, lover, lq in (NEG_CONTROLS if neg else []):
        tmax, tmean = TOL[lq or "f32"]
        ids = [int(x) for x in rng.integers(0, make_model.CONFIGS[cfg]["n_vocab"] - 1, size=48)]
        label = "%s: wafer on %s%s vs llama.cpp on %s%s" % (cfg, wq or "f32", wover or "", lq or "f32", lover or "")
        try:
            wpath, _ = model_file(tmp, cfg, wover, "f32", wq)
            lpath, _ = model_file(tmp, cfg, lover, "f32", lq)
            res = llama_cpp(node, node_dir, [{"model": lpath, "ids": ids}], tmp)
            if isinstance(res, str):
                raise RuntimeError(res)
            wmax, wmean, _, probs = compare_scores(wafer_score(wpath, ids), log_softmax(res[0]["logits"]),
                                                   ids, tmax, tmean)
        except (RuntimeError, ValueError) as e:
            print("negative control %s: FAIL %s" % (label, e))
            failed.append("negative-control " + cfg)
        else:
            ok = bool(probs)
            print("negative control (%s): max %.3g mean %.3g -> %s"
                  % (label, wmax, wmean, "rejected, as it must be" if ok else
                     "ACCEPTED: the limits are too loose"))
            if not ok:
                failed.append("negative-control " + cfg)

    if xfailed:
        print("expected failures (KNOWN): " + ", ".join(xfailed))
    if failed:
        print("FAILED (wafer and llama.cpp disagree beyond the limits): " + ", ".join(failed))
        if "llama_yarn" in failed:
            print("  llama_yarn: llama.cpp ignores <arch>.rope.scaling.yarn_beta_fast/slow for "
                  "llama/qwen2/qwen3 (uses 32/1); wafer honours them. See docs/crosscheck.md.")
        return 1
    print("all %d cases agree with llama.cpp" % len(cases))
    return 0


if __name__ == "__main__":
    sys.exit(main())
