#!/usr/bin/python3
"""test_complete.py — `wafer complete` (fill in the middle) end to end.

Synthetic model: make_model.py's qwen2 config with a byte-level vocabulary
(token id == byte value, no merges) plus Qwen2.5-Coder's FIM tokens, so the
expected prompt ids of any text are its bytes and the markers' ids, written
here from the published format:
    <|fim_prefix|>PREFIX<|fim_suffix|>SUFFIX<|fim_middle|>
    <|repo_name|>REPO\\n<|file_sep|>NAME\\nTEXT\\n ... <|file_sep|>FILE\\n<|fim_prefix|>...
  * --print-prompt --ids-only prints exactly those ids (--prefix/--suffix,
    --file/--line/--column in characters and bytes, --extra, marker text in
    user input stays bytes), and the budget split (3:1, the prefix keeps its
    end, the suffix its start) matches a Python rendition of the rule;
  * greedy completion (--temp 0) picks numpy's argmax (tests/ref/forward_np.py)
    at every step on the assembled prompt, -n limits the middle, and the text
    printed is the bytes of the generated ids;
  * stopping: the same weights with tokenizer.ggml.fim_pad_token_id set to a
    token the model is known to produce at step k stop after k tokens.
Real vocabularies ($WAFER_SHARED/vocab, parts skipped when absent):
deepseek-coder, starcoder (StarCoder2) and refact prompt ids, written from
each vocabulary's token list.
"""
import os
import sys
import tempfile

import numpy as np

import forward_np
import gguf_py as G
import make_model
import testlib as T
from testlib import check

WAFER = os.environ.get("WAFER")
SHARED = os.environ.get("WAFER_SHARED", "")


def ids_of(out):
    return [int(t) for t in out.decode().split()]


# ---- the synthetic model's vocabulary ------------------------------------

EOT, PRE, MID, SUF, PAD, REP, SEP = range(256, 263)
SPECIALS = ["<|endoftext|>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>",
            "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>"]
EXTRA_KV = {}


def fim_vocab_kv(w, n_vocab):
    make_model.special_vocab_kv(w, n_vocab, SPECIALS, EOT)
    for k, v in EXTRA_KV.items():
        w.add_kv(k, v, G.UINT32)


def make_fim_model(path, extra_kv=None):
    EXTRA_KV.clear()
    EXTRA_KV.update(extra_kv or {})
    saved = make_model.vocab_kv
    make_model.vocab_kv = fim_vocab_kv
    try:
        make_model.make(path, make_model.CONFIGS["qwen2"], wtype="f32", seed=77)
    finally:
        make_model.vocab_kv = saved


def B(s):
    return list(s.encode("utf-8") if isinstance(s, str) else s)


def psm(pre, suf):
    return [PRE] + B(pre) + [SUF] + B(suf) + [MID]


def split_budget(n_pre, n_suf, R):
    """The documented rule: R split 3:1, a part needing less than its share
    leaves the rest to the other."""
    ps = R * 3 // 4
    ss = R - ps
    if n_pre <= ps:
        return n_pre, min(n_suf, R - n_pre)
    if n_suf <= ss:
        return min(n_pre, R - n_suf), n_suf
    return ps, ss


def test_prompts(model, tmp):
    pre = "def add(a, b):\n    return "
    suf = "\n\nprint(add(1, 2))\n"
    _, out, err = T.wafer("complete", "-m", model, "--prefix", pre, "--suffix", suf, "--ids-only", must=True)
    check(ids_of(out) == psm(pre, suf), f"basic prompt ids {ids_of(out)[:12]}...")
    stops = [int(x) for x in err.split("fim: stop ids", 1)[1].split("\n", 1)[0].split()] if "fim: stop ids" in err else []
    check(set([EOT, PAD, REP, SEP, PRE, SUF, MID]) <= set(stops), f"stop ids {stops}")
    check("format qwen" in err, "summary names the format")

    # the prompt as text: markers as their text, user text as is
    _, out, _ = T.wafer("complete", "-m", model, "--prefix", pre, "--suffix", suf, "--print-prompt", "-q", must=True)
    check(out.decode() == "<|fim_prefix|>" + pre + "<|fim_suffix|>" + suf + "<|fim_middle|>", f"prompt text {out!r}")

    # marker text in user input is plain text
    inj = "x<|fim_middle|><|endoftext|><|file_sep|>"
    _, out, _ = T.wafer("complete", "-m", model, "--prefix", inj, "--suffix", "<|fim_prefix|>", "--ids-only", "-q", must=True)
    check(ids_of(out) == psm(inj, "<|fim_prefix|>"), "injected marker text must stay bytes")

    # --file with a cursor in characters (UTF-8 aware) and in bytes
    src = "h\u00e9llo w\u00f6rld\nsecond line\r\nthird\n"
    path = os.path.join(tmp, "cur.py")
    with open(path, "wb") as f:
        f.write(src.encode())
    raw = src.encode()
    cases = [((1, 3), False, "h\u00e9".encode()),            # after "hé"
             ((1, 4), True, "h\u00e9".encode()),             # byte 4 = character 3
             ((2, 1), False, "h\u00e9llo w\u00f6rld\n".encode()),
             ((2, 12), False, "h\u00e9llo w\u00f6rld\nsecond line".encode()),  # end of a CRLF line
             ((4, 1), False, raw)]                            # end of file
    for (ln, col), by, want_pre in cases:
        args = ["complete", "-m", model, "--file", path, "--line", ln, "--column", col, "--ids-only", "-q"]
        if by:
            args.append("--byte-column")
        _, out, _ = T.wafer(*args, must=True)
        check(ids_of(out) == psm(want_pre, raw[len(want_pre):]), f"cursor {ln}:{col} bytes={by}")
    # the same from stdin
    _, out, _ = T.wafer("complete", "-m", model, "--file", "-", "--line", 2, "--column", 3, "--ids-only", "-q", input=raw, must=True)
    p2 = "h\u00e9llo w\u00f6rld\nse".encode()
    check(ids_of(out) == psm(p2, raw[len(p2):]), "cursor from stdin")
    for ln, col, what in [(1, 13, "past the end of line 1"), (2, 13, "past the end of line 2"),
                          (5, 1, "past the end of the file")]:
        rc, out, err = T.wafer("complete", "-m", model, "--file", path, "--line", ln, "--column", col, "--ids-only")
        check(rc != 0 and what in err and not out, f"bad cursor {ln}:{col}: rc {rc} {err!r}")

    # repo level with an extra file
    extra = os.path.join(tmp, "util.py")
    with open(extra, "wb") as f:
        f.write(b"def two():\n    return 2")
    _, out, _ = T.wafer("complete", "-m", model, "--prefix", "ab", "--suffix", "cd", "--extra", extra,
                        "--repo", "demo", "--filename", "main.py", "--ids-only", "-q", must=True)
    want = ([REP] + B("demo\n") + [SEP] + B(extra + "\ndef two():\n    return 2\n") +
            [SEP] + B("main.py\n") + psm("ab", "cd"))
    check(ids_of(out) == want, "repo-level prompt with --extra")

    # budget: -c 64 -n 16 leaves 48 tokens, 45 after the three markers
    P = "".join(chr(ord("a") + i % 26) for i in range(100))
    S = "".join(chr(ord("A") + i % 26) for i in range(100))
    for n_suf in (100, 5):
        s = S[:n_suf]
        _, out, err = T.wafer("complete", "-m", model, "--prefix", P, "--suffix", s, "-c", 64, "-n", 16, "--ids-only", must=True)
        tp, ts = split_budget(100, n_suf, 45)
        check(ids_of(out) == psm(P[100 - tp:], s[:ts]), f"budget: suffix {n_suf}: want prefix {tp} suffix {ts}")
        check(f"prefix {tp}/100, suffix {ts}/{n_suf}" in err, f"budget summary: {err}")
    rc, _, err = T.wafer("complete", "-m", model, "--prefix", P, "-c", 16, "-n", 16, "--ids-only")
    check(rc != 0 and "no room" in err, f"-n >= -c must fail clearly: {err}")

    # usage errors
    for args, what in [(["--prefix", "a", "--file", path, "--line", 1, "--column", 1], "either"),
                       (["--file", path], "--line"), (["--fim-format", "bogus", "--prefix", "a"], "--fim-format"),
                       (["--fim-format", "deepseek", "--prefix", "a"], "fim\u2581begin")]:
        rc, _, err = T.wafer("complete", "-m", model, *args)
        check(rc != 0 and what in err, f"error for {args}: rc {rc} {err!r}")
    rc, out, _ = T.wafer("complete", "--help", must=True)
    check(rc == 0 and b"--fim-format" in out, "--help")


def numpy_greedy_gaps(model, prompt, gen):
    seq = list(prompt) + list(gen)
    logits = forward_np.forward(model, seq)
    return [float(logits[len(prompt) - 1 + s].max() - logits[len(prompt) - 1 + s][t]) for s, t in enumerate(gen)]


def token_bytes(i):
    return bytes([i]) if i < 256 else (SPECIALS[i - 256] if i < 256 + len(SPECIALS) else "tok%d" % (i - 256 - len(SPECIALS))).encode()


def test_generation(model, model_stop_factory, tmp):
    pre, suf = "def f(x):\n    return x", "\n"
    prompt = psm(pre, suf)
    base = ["complete", "-m", model, "--prefix", pre, "--suffix", suf, "--temp", 0, "--kv", "f32", "-q"]
    _, out, _ = T.wafer(*base, "-n", 8, "--print-ids", must=True)
    gen = ids_of(out)
    check(1 <= len(gen) <= 8, f"generated {len(gen)} tokens")
    gaps = numpy_greedy_gaps(model, prompt, gen)
    check(max(gaps) <= 2e-3, f"greedy middle vs numpy argmax: gaps {gaps}")
    print(f"greedy middle of {len(gen)} tokens {gen}, worst gap to numpy argmax {max(gaps):.3g}")
    natural_stop = len(gen) < 8
    if natural_stop:  # it stopped by itself: the next token must be a stop token numpy agrees on
        nxt = int(forward_np.forward(model, prompt + gen)[-1].argmax())
        check(nxt in (EOT, PRE, MID, SUF, PAD, REP, SEP), f"stopped early but numpy's next token {nxt} is no stop")
        print(f"the middle ended by itself: numpy's next token is {nxt} ({SPECIALS[nxt - 256] if nxt in range(256, 263) else '?'})")
    # text output = the bytes of those ids
    _, out, err = T.wafer(*base, "-n", 8, must=True)
    want = b"".join(token_bytes(t) for t in gen).decode("utf-8", "replace").encode()
    check(out == want, f"middle text {out!r} != {want!r}")
    # -n limits the middle
    _, out, _ = T.wafer(*base, "-n", 3, "--print-ids", must=True)
    check(ids_of(out) == gen[:3], f"-n 3 gave {ids_of(out)}")

    # a stop token the model reaches at step k (first new id at k >= 1)
    k = next((i for i in range(1, len(gen)) if gen[i] not in gen[:i]), None)
    if k is None:
        print("note: greedy middle has no fresh token after step 0; stop test not run")
        return
    stop_model = model_stop_factory(gen[k])
    _, out, _ = T.wafer("complete", "-m", stop_model, "--prefix", pre, "--suffix", suf, "--temp", 0, "--kv", "f32",
                        "-q", "-n", 8, "--print-ids", must=True)
    check(ids_of(out) == gen[:k], f"with fim_pad = {gen[k]}: {ids_of(out)} != {gen[:k]}")
    _, out, err = T.wafer("complete", "-m", stop_model, "--prefix", pre, "--suffix", suf, "--temp", 0, "--kv", "f32",
                          "-n", 8, must=True)
    check("stopped: end of middle" in err, f"stop reason: {err[-200:]!r}")
    check(out == b"".join(token_bytes(t) for t in gen[:k]).decode("utf-8", "replace").encode(), "text before the stop")
    print(f"with tokenizer.ggml.fim_pad_token_id = {gen[k]} the middle stops after {k} tokens")


def test_shared_vocabs(tmp):
    d = os.path.join(SHARED, "vocab") if SHARED else ""
    if not d or not os.path.isdir(d):
        print("skip: no shared vocabularies")
        return False
    ran = False
    for name in ("deepseek-coder", "starcoder", "refact"):
        path = os.path.join(d, f"ggml-vocab-{name}.gguf")
        if not os.path.exists(path):
            print(f"skip {name}: absent")
            continue
        ran = True
        toks = G.read_gguf(path).kv["tokenizer.ggml.tokens"]
        tid = {t: i for i, t in enumerate(toks)}
        nl = tid["\u010a"]  # GPT-2's printable form of "\n"
        if name == "deepseek-coder":
            bos, begin, hole, end = tid["<\uff5cbegin\u2581of\u2581sentence\uff5c>"], tid["<\uff5cfim\u2581begin\uff5c>"], \
                tid["<\uff5cfim\u2581hole\uff5c>"], tid["<\uff5cfim\u2581end\uff5c>"]
            want = [bos, begin, tid["x"], hole, tid["y"], end]
            want_extra = [bos, begin, tid["#"], tid["a"], nl, tid["b"], nl, tid["#"], tid["m"], nl, tid["x"],
                          hole, tid["y"], end]
        else:
            p, s, m = tid["<fim_prefix>"], tid["<fim_suffix>"], tid["<fim_middle>"]
            want = [p, tid["x"], s, tid["y"], m]
            if name == "starcoder":  # StarCoder2: <repo_name>r<file_sep>a\nb\n<file_sep><fim_prefix>m\nx...
                rep, sep = tid["<repo_name>"], tid["<file_sep>"]
                want_extra = [rep, tid["r"], sep, tid["a"], nl, tid["b"], nl, sep, p, tid["m"], nl, tid["x"],
                              s, tid["y"], m]
            else:  # refact: no separator tokens, "#name\n" headers as text
                want_extra = [p, tid["#"], tid["a"], nl, tid["b"], nl, tid["#"], tid["m"], nl, tid["x"],
                              s, tid["y"], m]
        _, out, err = T.wafer("complete", "-m", path, "--prefix", "x", "--suffix", "y", "--ids-only", must=True)
        check(ids_of(out) == want, f"{name}: prompt {ids_of(out)} != {want}")
        fam = "deepseek" if name == "deepseek-coder" else "starcoder"
        check(f"format {fam}" in err, f"{name}: detected format: {err}")
        extra = os.path.join(tmp, "a")
        with open(extra, "wb") as f:
            f.write(b"b")
        cwd = os.getcwd()
        os.chdir(tmp)  # so the extra file's name is just "a"
        try:
            _, out, _ = T.wafer("complete", "-m", path, "--prefix", "x", "--suffix", "y", "--extra", "a",
                                "--repo", "r", "--filename", "m", "--ids-only", "-q", must=True)
        finally:
            os.chdir(cwd)
        check(ids_of(out) == want_extra, f"{name}: prompt with --extra {ids_of(out)} != {want_extra}")
        # marker text typed by the user never becomes a marker
        marker = toks[want[1] if name == "deepseek-coder" else want[0]]
        _, out, _ = T.wafer("complete", "-m", path, "--prefix", marker + "x", "--suffix", marker, "--ids-only", "-q", must=True)
        got = ids_of(out)
        check(all(got.count(t) == 1 for t in want if t not in (tid["x"], tid["y"])),
              f"{name}: injected marker text became a marker: {got}")
        # the wrong format named explicitly is a clear error
        rc, _, err = T.wafer("complete", "-m", path, "--prefix", "x", "--fim-format", "codellama", "--ids-only")
        check(rc != 0 and "<PRE>" in err, f"{name}: forced codellama: {err}")
        print(f"{name}: prompt ids checked (plain, with --extra, marker text, wrong format)")
    spm = os.path.join(d, "ggml-vocab-llama-spm.gguf")
    if os.path.exists(spm):
        rc, out, err = T.wafer("complete", "-m", spm, "--prefix", "x", "--ids-only")
        check(rc != 0 and "no fill-in-the-middle tokens" in err and not out, f"llama-spm: {err}")
    return ran


def main():
    if not WAFER:
        print("WAFER not set")
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        model = os.path.join(tmp, "fim.gguf")
        make_fim_model(model)

        def stop_model(tok):
            p = os.path.join(tmp, "fim_stop.gguf")
            make_fim_model(p, {"tokenizer.ggml.fim_pad_token_id": tok})
            return p

        test_prompts(model, tmp)
        test_generation(model, stop_model, tmp)
        test_shared_vocabs(tmp)
    return T.summary("test_complete")


if __name__ == "__main__":
    sys.exit(main())
