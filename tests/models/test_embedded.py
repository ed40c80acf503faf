#!/usr/bin/python3
"""test_embedded.py — the embedded model (models/wafer-embedded.gguf) works out
of the box.

Checks:
  1. it is committed, is a llama GGUF with its own vocabulary and FIM/file
     separator tokens, and commands without -m use it (`wafer info`,
     `wafer tokenize`, `wafer run`), while $WAFER_MODEL overrides it;
  2. `def fibonacci(n):` completed with --temp 0.3 --repeat-penalty 1.2
     (the other sampling settings wafer run's defaults; chosen on seeds
     101-124 with an earlier checkpoint, see models/README.md) in up to 400
     tokens, over seeds 1-24: the prompt plus the
     function the model writes (its lines up to the first line that starts
     at column 0, where the next top-level statement begins) parses as Python
     (`ast.parse`, the check `python3 -c "import ast; ast.parse(...)"` makes)
     more often than not; the rate is printed. A completion that runs out of
     tokens before the function ends counts as a failure. (The prompt has no
     newline at its end: with this model's GPT-2 pre-tokenizer a newline and
     the next line's indentation are one token, so a bare newline token would
     tell the model that the next line is not indented.)
  3. held-out perplexity: the files listed in models/heldout.tsv (kept out of
     training by corpus.py) scored by `wafer score`, exp(mean negative
     log-probability over all their scored tokens), is under the value in the
     model card (models/README.md). The files are Debian's; when one is
     missing or differs from the sha256 recorded at training time, that part
     reports itself skipped (the other checks still run);
  4. greedy output is identical with and without speculation on this model
     (`wafer run --spec lookup`, and `--predict` with a file the model is
     likely to copy), and lookup accepts tokens (the model continues code, so
     n-gram candidates pay off); `wafer edit` writes the same bytes with the
     file as the prediction and without (--no-predict);
  5. it copies from its context: the openings of the held-out files (~700
     bytes each) repeated twice are predicted with under half the perplexity
     the second time (a model that does not copy scores both copies alike;
     files that are missing or changed are left out), and
     `wafer edit --print-prompt` gives the raw edit format of docs/edit.md.
"""
import ast
import hashlib
import json
import math
import os
import re
import sys
import tempfile

import testlib as T
from testlib import check

T.print_ok = True

WAFER = os.environ.get("WAFER")
SRC = os.environ.get("WAFER_SRC") or os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODEL = os.path.join(SRC, "models", "wafer-embedded.gguf")
CARD = os.path.join(SRC, "models", "README.md")
HELDOUT = os.path.join(SRC, "models", "heldout.tsv")
SEEDS = 24


def run(args, env=None, timeout=300):
    e = dict(os.environ)
    e.pop("WAFER_MODEL", None)
    if env:
        e.update(env)
    return T.run([WAFER] + args, timeout=timeout, env=e)


FIB_PROMPT = "def fibonacci(n):"
COPY_RATIO = 2.0  # the second copy's perplexity must be under half the first's
FIB_SAMPLING = ["--temp", "0.3", "--repeat-penalty", "1.2"]
FIB_TOKENS = 400


def fib_completion(seed):
    """The function body the model writes after FIB_PROMPT: its lines up to
    the first line that starts at column 0 (the next top-level statement).
    Returns (source, ended); ended is False when FIB_TOKENS went by without
    such a line (the function may be cut off: counted as a failure)."""
    r = run(["run", "-p", FIB_PROMPT, "-n", FIB_TOKENS, "-s", seed, "-q"] + FIB_SAMPLING)
    if r.returncode != 0:
        return None, False
    lines = r.stdout.decode("utf-8", "replace").split("\n")
    body, ended = [lines[0]], False
    for line in lines[1:]:
        if line and not line[0].isspace():
            ended = True
            break
        body.append(line)
    return FIB_PROMPT + "\n".join(body) + "\n", ended


def parses(src):
    try:
        ast.parse(src)
        return True
    except (SyntaxError, ValueError):
        return False


def card_ppl():
    with open(CARD, encoding="utf-8") as f:
        m = re.search(r"held-out perplexity[^|\n]*\|\s*\**([0-9.]+)", f.read())
    return float(m.group(1)) if m else None


def heldout_files():
    """(path, bytes, why): bytes None when the held-out file is missing or
    differs from the sha256 recorded in models/heldout.tsv (why says which)."""
    with open(HELDOUT, encoding="utf-8") as f:
        rows = [l.rstrip("\n").split("\t") for l in f if l.strip() and not l.startswith("#")]
    out = []
    for path, sha in rows:
        try:
            data = open(path, "rb").read()
        except OSError:
            out.append((path, None, "%s is missing" % path))
            continue
        ok = hashlib.sha256(data).hexdigest() == sha
        out.append((path, data if ok else None, "" if ok else "%s differs from the training machine's copy" % path))
    return out


def heldout_ppl():
    nll, n = 0.0, 0
    rows = heldout_files()
    for path, data, why in rows:
        if data is None:
            return None, why
        r = run(["score", "-f", path, "--json"])
        if r.returncode != 0:
            return None, "score failed on %s: %s" % (path, r.stderr.decode(errors="replace")[-300:])
        js = json.loads(r.stdout)
        lps = [p["next_logprob"] for p in js["positions"] if p["next_logprob"] is not None]
        nll -= sum(lps)
        n += len(lps)
    return math.exp(nll / n), "%d files, %d scored tokens" % (len(rows), n)


def copy_ppl():
    """The opening (~700 bytes, whole lines) of every held-out file twice in a
    row, scored token by token: perplexity over all first copies and over all
    second copies, token count, file count (None when no file matches)."""
    first, second, files = [], [], 0
    for _, data, _ in heldout_files():
        if data is None:
            continue
        text = data[:700].decode("utf-8", "ignore")
        text = text[:text.rfind("\n") + 1]
        ids = json.loads(run(["tokenize", "-p", text, "--json"]).stdout)
        n = len(ids)
        js = json.loads(run(["score", "--json", "--ids", " ".join(map(str, ids + ids))]).stdout)
        lp = [p["next_logprob"] for p in js["positions"]]
        first += lp[:n - 1]
        second += lp[n - 1:2 * n - 1]
        files += 1
    if not files:
        return None
    return (math.exp(-sum(first) / len(first)), math.exp(-sum(second) / len(second)), len(second), files)


def main():
    T.need_wafer()
    # 1. present, and the default
    check(os.path.isfile(MODEL), "models/wafer-embedded.gguf is committed")
    if not os.path.isfile(MODEL):
        return 1
    check(os.path.getsize(MODEL) < 30 * 2**20, "under 30 MB (%.1f MB)" % (os.path.getsize(MODEL) / 2**20))
    r = run(["info"])
    out = r.stdout.decode()
    check(r.returncode == 0 and "wafer-embedded.gguf" in out and "llama" in out, "`wafer info` without -m describes it")
    check("wafer can run: no" not in out, "wafer can run it")
    r = run(["tokenize", "-p", "<|fim_prefix|>x<|fim_suffix|>y<|fim_middle|><|file_sep|>", "--parse-special"])
    ids = r.stdout.split()
    check(r.returncode == 0 and len(ids) == 6, "FIM and file separator tokens are single special tokens: %s" % ids)
    r = run(["info"], env={"WAFER_MODEL": "/nonexistent/model.gguf"})
    check(r.returncode != 0 and b"/nonexistent/model.gguf" in r.stderr, "$WAFER_MODEL overrides the default")

    # 2. fibonacci parses more often than not
    good, texts = 0, []
    for seed in range(1, SEEDS + 1):
        src, ended = fib_completion(seed)
        if src is None:
            check(False, "wafer run failed for seed %d" % seed)
            continue
        texts.append(src)
        good += ended and parses(src)
    rate = good / SEEDS
    print("fibonacci (%s): %d of %d completions parse (%.0f%%)" % (" ".join(FIB_SAMPLING), good, SEEDS, 100 * rate))
    print("example (seed 1):\n" + (texts[0] if texts else "")[:600])
    check(rate > 0.5, "def fibonacci(n): completions parse more often than not (%d/%d)" % (good, SEEDS))

    # 3. held-out perplexity under the model card's value
    bound = card_ppl()
    check(bound is not None, "the model card records the held-out perplexity")
    ppl, why = heldout_ppl()
    if ppl is None:
        print("held-out perplexity: skipped (%s)" % why)
    elif bound is not None:
        check(ppl < bound, "held-out perplexity %.4f < %.2f from the model card (%s)" % (ppl, bound, why))

    # 4. speculation is exact on this model
    with tempfile.TemporaryDirectory() as d:
        prompt = ("import os\n\n\ndef read_lines(path):\n    with open(path) as f:\n        return f.read().splitlines()"
                  "\n\n\ndef write_lines(path, lines):\n    with open(path, \"w\") as f:")
        base = run(["run", "-p", prompt, "-n", "96", "--temp", "0", "--spec", "none"])
        look = run(["run", "-p", prompt, "-n", "96", "--temp", "0", "--spec", "lookup"])
        check(base.returncode == 0 and base.stdout == look.stdout, "greedy text identical with --spec lookup")
        print("lookup stats:", look.stderr.decode().strip().splitlines()[-1:] if look.stderr else "")
        pf = os.path.join(d, "pred.txt")
        with open(pf, "wb") as f:
            f.write(base.stdout[: len(base.stdout) // 2] + b"x = 1\n" + base.stdout[len(base.stdout) // 2:])
        pred = run(["run", "-p", prompt, "-n", "96", "--temp", "0", "--predict", pf])
        check(pred.returncode == 0 and base.stdout == pred.stdout, "greedy text identical with --predict")
        # Q8_0 weights: verification passes are exact at any width, so the
        # longest draft the CLI takes (255) is not lowered and stays exact
        pmax = run(["run", "-p", prompt, "-n", "96", "--temp", "0", "--predict", pf, "--draft-max", "255"])
        check(pmax.returncode == 0 and pmax.stdout == base.stdout and b"lowered" not in pmax.stderr,
              "greedy text identical with --draft-max 255")
        pbig = run(["run", "-p", prompt, "-n", "8", "--draft-max", "256"])
        check(pbig.returncode == 2 and b"[1, 255]" in pbig.stderr, "--draft-max 256 is refused: %r" % pbig.stderr[-200:])
        m = re.search(r"prediction: (\d+) accepted", pred.stderr.decode())
        check(m is not None and int(m.group(1)) > 0, "the prediction is accepted in part: %s" % (m.group(0) if m else pred.stderr.decode()[-300:]))

        src = os.path.join(d, "util.py")
        with open(src, "w") as f:
            f.write("def load_cfg(path):\n    with open(path) as f:\n        return f.read()\n\n\n"
                    "def main():\n    cfg = load_cfg(\"app.cfg\")\n    print(len(cfg))\n")
        outs = []
        for extra in ([], ["--no-predict"]):
            o = os.path.join(d, "out%d.py" % len(outs))
            r = run(["edit", src, "-i", "rename load_cfg to load_config", "-o", o, "--temp", "0", "-n", "200"] + extra)
            outs.append(open(o, "rb").read() if r.returncode in (0, 3) and os.path.exists(o) else None)
            print("edit%s: %s" % (" " + extra[0] if extra else "", r.stderr.decode().strip().splitlines()[-1:]))
        check(outs[0] is not None and outs[0] == outs[1], "wafer edit: same bytes with and without the prediction")
        if outs[0] is not None:
            print("edit output:\n" + outs[0].decode(errors="replace"))

    # 5. it copies from its context
    got = copy_ppl()
    if got is None:
        print("copying: skipped (no held-out file matches its recorded sha256)")
    else:
        p1, p2, ntok, files = got
        check(p2 * COPY_RATIO < p1, "held-out openings repeated (%d files, %d tokens a copy) are predicted far better "
              "the second time: perplexity %.2f then %.2f (need under 1/%g)" % (files, ntok, p1, p2, COPY_RATIO))
    # the raw edit format as docs/edit.md gives it
    with tempfile.TemporaryDirectory() as d:
        f = os.path.join(d, "a.py")
        with open(f, "w") as fh:
            fh.write("x = 1\n")
        r = run(["edit", f, "-i", "change 1 to 2 in `x = 1`", "--print-prompt"])
        want = b"<|endoftext|>change 1 to 2 in `x = 1`\n<|file_sep|>x = 1\n<|file_sep|>"
        check(r.returncode == 0 and r.stdout == want, "raw edit prompt: %r" % r.stdout[:200])

    return T.summary("test_embedded")


if __name__ == "__main__":
    sys.exit(main())
