#!/usr/bin/python3
"""test_tokenizer_cli.py — `wafer tokenize` / `wafer detokenize`, checked
against an independent pure-Python tokenizer written from the published
algorithm descriptions (not from wafer's C code):

  * GPT-2 byte-level BPE: bytes_to_unicode, the GPT-2 pre-tokenizer regex
    's|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)
    evaluated by hand with unicodedata categories (the stdlib `re` has no
    \\p{..}), with llama.cpp's split rule (matches and the gaps between them
    are both words); StarCoder first splits off every digit. Merges are applied
    the classic way: repeatedly merge every occurrence of the lowest-ranked pair.
  * SentencePiece BPE: ' ' -> U+2581 with a leading one, merge the adjacent
    pair whose concatenation has the highest score (leftmost on ties),
    unknown pieces -> <0xXX> byte tokens.

The sample text is a slice of Python and C sources from the system.
Needs $WAFER (the CLI) and $WAFER_SHARED/vocab; exit 77 when absent.
"""
import glob
import heapq
import json
import os
import sys
import unicodedata

from gguf_py import read_gguf
import testlib as T
from testlib import check, skip

WAFER = os.environ.get("WAFER")
SHARED = os.environ.get("WAFER_SHARED")
VOCAB = os.path.join(SHARED, "vocab") if SHARED else None
if not WAFER or not os.path.exists(WAFER) or not VOCAB or not os.path.isdir(VOCAB):
    skip("needs WAFER and WAFER_SHARED/vocab")


# ---- reference tokenizers ------------------------------------------------

def bytes_to_unicode():
    keep = list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    m, n = {}, 0
    for b in range(256):
        if b in keep:
            m[b] = chr(b)
        else:
            m[b] = chr(256 + n)
            n += 1
    return m


B2U = bytes_to_unicode()
WS = set(map(chr, [9, 10, 11, 12, 13, 32, 0x85, 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000]
              + list(range(0x2000, 0x200B))))


def is_l(c):
    return unicodedata.category(c)[0] == "L"


def is_n(c):
    return unicodedata.category(c)[0] == "N"


def is_ws(c):
    return c in WS


def is_other(c):
    return not (is_ws(c) or is_l(c) or is_n(c))


def gpt2_split(s):
    """Words of s under the GPT-2 pattern: matches and unmatched gaps."""
    out, i, n, gap = [], 0, len(s), ""
    while i < n:
        j = None
        c = s[i]
        if c == "'" and i + 1 < n:
            if s[i + 1:i + 3] in ("re", "ve", "ll"):
                j = i + 3
            elif s[i + 1] in "stmd":
                j = i + 2
        if j is None:
            for cls in (is_l, is_n, is_other):
                k = i + 1 if (c == " " and i + 1 < n and cls(s[i + 1])) else i
                if k < n and cls(s[k]):
                    while k < n and cls(s[k]):
                        k += 1
                    j = k
                    break
        if j is None and is_ws(c):
            k = i
            while k < n and is_ws(s[k]):
                k += 1
            if k == n:
                j = n
            elif k - i >= 2:
                j = k - 1  # \s+(?!\S) backs off one character
        if j is None:
            gap += c
            i += 1
            continue
        if gap:
            out.append(gap)
            gap = ""
        out.append(s[i:j])
        i = j
    if gap:
        out.append(gap)
    return out


def starcoder_split(s):
    words, cur = [], ""
    for c in s:
        if is_n(c):
            if cur:
                words.extend(gpt2_split(cur))
                cur = ""
            words.append(c)
        else:
            cur += c
    if cur:
        words.extend(gpt2_split(cur))
    return words


class RefBPE:
    def __init__(self, g, split):
        self.tok = {t: i for i, t in enumerate(g.kv["tokenizer.ggml.tokens"])}
        self.rank = {}
        for r, m in enumerate(g.kv["tokenizer.ggml.merges"]):
            k = m.index(" ", 1)  # the separator: first space after position 0
            a, b = m[:k], m[k + 1:]
            self.rank.setdefault((a, b), r)
        self.split = split
        self.cache = {}

    def word(self, w):
        if w in self.cache:
            return self.cache[w]
        syms = [B2U[b] for b in w.encode("utf-8")]
        while len(syms) > 1:
            best = min(((self.rank.get(p, 1 << 30), p) for p in zip(syms, syms[1:])))
            if best[0] == 1 << 30:
                break
            a, b = best[1]
            out, i = [], 0
            while i < len(syms):
                if i + 1 < len(syms) and syms[i] == a and syms[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(syms[i])
                    i += 1
            syms = out
        ids = [self.tok[x] for x in syms]
        self.cache[w] = ids
        return ids

    def encode(self, s):
        ids = []
        for w in self.split(s):
            ids.extend(self.word(w))
        return ids


class RefSPM:
    def __init__(self, g):
        toks = g.kv["tokenizer.ggml.tokens"]
        self.tok = {t: i for i, t in enumerate(toks)}
        self.score = g.kv["tokenizer.ggml.scores"]

    def encode(self, s):
        s = "\u2581" + s.replace(" ", "\u2581")
        syms = list(s)
        alive = [True] * len(syms)
        nxt = list(range(1, len(syms))) + [-1]
        prv = list(range(-1, len(syms) - 1))
        heap = []

        def push(i, j):
            if i < 0 or j < 0:
                return
            t = self.tok.get(syms[i] + syms[j])
            if t is not None:
                heapq.heappush(heap, (-self.score[t], i, j, syms[i] + syms[j]))

        for i in range(len(syms) - 1):
            push(i, i + 1)
        while heap:
            _, i, j, text = heapq.heappop(heap)
            if not (alive[i] and alive[j] and nxt[i] == j and syms[i] + syms[j] == text):
                continue
            syms[i] = text
            alive[j] = False
            nxt[i] = nxt[j]
            if nxt[j] >= 0:
                prv[nxt[j]] = i
            push(prv[i], i)
            push(i, nxt[i])
        ids, i = [], 0
        while i != -1:
            t = self.tok.get(syms[i])
            if t is not None:
                ids.append(t)
            else:
                ids.extend(self.tok["<0x%02X>" % b] for b in syms[i].encode("utf-8"))
            i = nxt[i]
        return ids


# ---- sample text ---------------------------------------------------------

def sample(nbytes):
    parts, total = [], 0
    files = sorted(glob.glob("/usr/lib/python3*/*.py"))[:40] + sorted(glob.glob("/usr/include/*.h"))[:40]
    for f in files:
        try:
            t = open(f, encoding="utf-8").read()
        except (UnicodeDecodeError, OSError):
            continue
        parts.append(t)
        total += len(t)
        if total >= nbytes:
            break
    s = "".join(parts)[:nbytes]
    # a little non-ASCII: letters, digits, symbols, odd spaces
    return s + "\ncafé naïve Ωμέγα 中文 ١٢٣ ½ 🙂\u00a0x \u3000y\t\t z  \n"


def tokenize_cli(path, text, extra=()):
    tmp = os.path.join(os.environ.get("WAFER_BUILD", "/tmp"), "tok_cli_sample.txt")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    rc, out, err = T.wafer("tokenize", "-m", path, "-f", tmp, *extra)
    check(rc == 0, "tokenize rc %d: %s" % (rc, err))
    return [int(x) for x in out.split()]


def compare(name, ref_ids, got):
    if ref_ids == got:
        print("%-15s %6d tokens match the reference" % (name, len(got)))
        return
    k = next((i for i, (a, b) in enumerate(zip(ref_ids, got)) if a != b), min(len(ref_ids), len(got)))
    check(False, "%s: differs from the reference at token %d: want %s got %s (lengths %d/%d)"
          % (name, k, ref_ids[k:k + 8], got[k:k + 8], len(ref_ids), len(got)))


def main():
    text = sample(120_000)
    for name, mk in (("gpt-2", lambda g: RefBPE(g, gpt2_split)),
                     ("starcoder", lambda g: RefBPE(g, starcoder_split)),
                     ("refact", lambda g: RefBPE(g, starcoder_split)),
                     ("llama-spm", RefSPM)):
        path = os.path.join(VOCAB, "ggml-vocab-%s.gguf" % name)
        if not os.path.exists(path):
            print("skip", name)
            continue
        ref = mk(read_gguf(path))
        t = text if name != "llama-spm" else text[:40_000]
        got = tokenize_cli(path, t)
        compare(name, ref.encode(t), got)
        # detokenize gives the text back exactly
        rc, out, err = T.wafer("detokenize", "-m", path, *got[:3000])
        back = out.decode("utf-8")
        check(rc == 0 and t.startswith(back) and len(back) > 1000,
              "%s: detokenize round trip (rc %d, %d chars)" % (name, rc, len(back)))

    gpt2 = os.path.join(VOCAB, "ggml-vocab-gpt-2.gguf")
    spm = os.path.join(VOCAB, "ggml-vocab-llama-spm.gguf")
    # output format: one line, single spaces
    rc, out, _ = T.wafer("tokenize", "-m", gpt2, "-p", "Hello world")
    check(rc == 0 and out == b"15496 995\n", "plain output format: %r" % out)
    # special tokens: plain text unless --parse-special
    rc, out, _ = T.wafer("tokenize", "-m", gpt2, "-p", "a<|endoftext|>")
    check(rc == 0 and b"50256" not in out.split(), "special text not parsed by default: %r" % out)
    rc, out, _ = T.wafer("tokenize", "-m", gpt2, "-p", "a<|endoftext|>", "--parse-special")
    check(rc == 0 and out.split()[-1] == b"50256", "--parse-special: %r" % out)
    # BOS only with --add-special (llama-spm adds BOS = 1)
    rc, out, _ = T.wafer("tokenize", "-m", spm, "-p", "Hello")
    rc2, out2, _ = T.wafer("tokenize", "-m", spm, "-p", "Hello", "--add-special")
    check(rc == 0 and rc2 == 0 and out2.split() == [b"1"] + out.split(), "--add-special: %r %r" % (out, out2))
    # --json equals the plain ids; --pieces has one line per token
    rc, out, _ = T.wafer("tokenize", "-m", gpt2, "-p", "int main(void) { return 0; }", "--json")
    rc2, out2, _ = T.wafer("tokenize", "-m", gpt2, "-p", "int main(void) { return 0; }")
    check(rc == 0 and json.loads(out) == [int(x) for x in out2.split()], "--json: %r" % out)
    rc, out, _ = T.wafer("tokenize", "-m", gpt2, "-p", "a\nb", "--pieces")
    check(rc == 0 and out == b"64\ta\n198\t\\n\n65\tb\n", "--pieces: %r" % out)
    rc, out, _ = T.wafer("tokenize", "-m", gpt2, "-p", "x\"\n", "--pieces", "--json")
    check(rc == 0 and [d["piece"] for d in json.loads(out)] == ["x", "\"", "\n"], "--pieces --json: %r" % out)
    # a token ending inside a character: the JSON piece shows U+FFFD
    # detokenize: ids as separate args or one comma list; SPM leading space dropped
    rc, out, _ = T.wafer("detokenize", "-m", gpt2, "15496,995")
    check(rc == 0 and out == b"Hello world", "detokenize list: %r" % out)
    rc, out, _ = T.wafer("detokenize", "-m", spm, *[x.decode() for x in T.wafer("tokenize", "-m", spm, "-p", "Hello world")[1].split()])
    check(rc == 0 and out == b"Hello world", "detokenize spm: %r" % out)
    # a byte token alone is not valid UTF-8: U+FFFD
    rc, out, _ = T.wafer("detokenize", "-m", spm, str(3 + 0xE4))
    check(rc == 0 and out == "\ufffd".encode(), "detokenize lone byte: %r" % out)
    # errors: exit 1 with a message on stderr
    for args in (["tokenize", "-m", "/nonexistent.gguf", "-p", "x"],
                 ["tokenize", "-m", gpt2],
                 ["tokenize", "-m", gpt2, "-p", "x", "--bogus"],
                 ["detokenize", "-m", gpt2, "50257"],
                 ["detokenize", "-m", gpt2, "abc"]):
        rc, out, err = T.wafer(*args)
        check(rc == 1 and err.strip() != "", "error exit for %s: rc %d" % (args, rc))
    for cmd in ("tokenize", "detokenize"):
        rc, out, _ = T.wafer(cmd, "--help")
        check(rc == 0 and b"usage" in out, "%s --help" % cmd)

    return T.summary("test_tokenizer_cli")


if __name__ == "__main__":
    sys.exit(main())
