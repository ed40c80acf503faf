#!/usr/bin/python3
"""train_tokenizer.py — train a byte-level BPE vocabulary (GPT-2 style) on the
corpus and write it as a vocabulary-only GGUF that wafer loads
(tokenizer.ggml.model "gpt2", tokenizer.ggml.pre "gpt-2").

Pre-tokenization mirrors wafer's "gpt2" pre-tokenizer (src/text/pretok.c, the
GPT-2 regex). Python's `re` has no \\p{L}/\\p{N}, so letters are [^\\W\\d_] and
numbers are \\d; these agree with Unicode classes on ASCII and on nearly all
code. The trainer only chooses merges: the training data is tokenized by wafer
itself (build_data.py), so a rare disagreement can only make a merge less
useful, never make data and model disagree.

Ids: 0..255 the 256 bytes (GPT-2's byte-to-unicode alphabet, in byte order),
then one token per merge, then the special tokens.

usage: train_tokenizer.py --files LIST.txt --vocab-size 8192 --out vocab.gguf
                          [--max-bytes N]
"""
import argparse
import collections
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "ref"))
import gguf_py  # noqa: E402  (wafer's Python GGUF writer)

SPECIALS = ["<|endoftext|>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>",
            "<|fim_pad|>", "<|file_sep|>"]

_L = r"[^\W\d_]"
PRETOK_RE = re.compile(
    r"'s|'t|'re|'ve|'m|'ll|'d| ?" + _L + r"+| ?\d+| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+")

TOKEN_NORMAL, TOKEN_CONTROL = 1, 3


def bytes_to_unicode():
    """GPT-2's reversible map from bytes to printable unicode characters."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    out = {}
    extra = 0
    for b in range(256):
        if b in keep:
            out[b] = chr(b)
        else:
            out[b] = chr(256 + extra)
            extra += 1
    return out


def pretokenize(text):
    return PRETOK_RE.findall(text)


def count_words(paths, max_bytes):
    counts = collections.Counter()
    total = 0
    for p in paths:
        with open(p, "rb") as f:
            data = f.read()
        total += len(data)
        counts.update(pretokenize(data.decode("utf-8")))
        if max_bytes and total >= max_bytes:
            break
    return counts, total


def train_bpe(word_counts, n_merges, log=None):
    """Standard BPE on byte sequences with incremental pair counts.
    Returns a list of merges, each a pair of byte strings."""
    words = []   # list of lists of symbols (bytes)
    freqs = []
    for w, c in word_counts.items():
        words.append([bytes([b]) for b in w.encode("utf-8")])
        freqs.append(c)
    pair_count = collections.Counter()
    pair_where = collections.defaultdict(set)
    for i, w in enumerate(words):
        for a, b in zip(w, w[1:]):
            pair_count[(a, b)] += freqs[i]
            pair_where[(a, b)].add(i)
    merges = []
    t0 = time.time()
    while len(merges) < n_merges and pair_count:
        # ties broken by the pair itself, so training is deterministic
        best = max(pair_count.items(), key=lambda kv: (kv[1], kv[0]))
        pair, cnt = best
        if cnt < 2:
            break
        merges.append(pair)
        a, b = pair
        ab = a + b
        for i in list(pair_where[pair]):
            w = words[i]
            f = freqs[i]
            for x, y in zip(w, w[1:]):          # remove the word's old pairs
                pair_count[(x, y)] -= f
                if pair_count[(x, y)] <= 0:
                    del pair_count[(x, y)]
                pair_where[(x, y)].discard(i)
            nw = []
            j = 0
            while j < len(w):
                if j + 1 < len(w) and w[j] == a and w[j + 1] == b:
                    nw.append(ab)
                    j += 2
                else:
                    nw.append(w[j])
                    j += 1
            words[i] = nw
            for x, y in zip(nw, nw[1:]):
                pair_count[(x, y)] += f
                pair_where[(x, y)].add(i)
        pair_where.pop(pair, None)
        pair_count.pop(pair, None)
        if log and len(merges) % 1000 == 0:
            log("  %d merges, %.1f s" % (len(merges), time.time() - t0))
    return merges


def write_vocab_gguf(path, merges, name="wafer-emb"):
    b2u = bytes_to_unicode()

    def enc(bs):
        return "".join(b2u[b] for b in bs)

    tokens = [enc(bytes([b])) for b in range(256)]
    types = [TOKEN_NORMAL] * 256
    merge_strs = []
    for a, b in merges:
        merge_strs.append(enc(a) + " " + enc(b))
        tokens.append(enc(a + b))
        types.append(TOKEN_NORMAL)
    sid = {}
    for s in SPECIALS:
        sid[s] = len(tokens)
        tokens.append(s)
        types.append(TOKEN_CONTROL)
    w = gguf_py.GGUFWriter(path)
    w.add_kv("general.architecture", "llama")
    w.add_kv("general.name", name)
    w.add_kv("tokenizer.ggml.model", "gpt2")
    w.add_kv("tokenizer.ggml.pre", "gpt-2")   # llama.cpp knows "gpt-2", not "gpt2"
    w.add_kv("tokenizer.ggml.tokens", tokens, gguf_py.ARRAY, gguf_py.STRING)
    w.add_kv("tokenizer.ggml.token_type", types, gguf_py.ARRAY, gguf_py.INT32)
    w.add_kv("tokenizer.ggml.merges", merge_strs, gguf_py.ARRAY, gguf_py.STRING)
    eot = sid["<|endoftext|>"]
    for key, v in [("bos_token_id", eot), ("eos_token_id", eot), ("padding_token_id", sid["<|fim_pad|>"]),
                   ("fim_pre_token_id", sid["<|fim_prefix|>"]), ("fim_suf_token_id", sid["<|fim_suffix|>"]),
                   ("fim_mid_token_id", sid["<|fim_middle|>"]), ("fim_pad_token_id", sid["<|fim_pad|>"]),
                   ("fim_sep_token_id", sid["<|file_sep|>"])]:
        w.add_kv("tokenizer.ggml." + key, v, gguf_py.UINT32)
    w.add_kv("tokenizer.ggml.add_bos_token", False, gguf_py.BOOL)
    w.add_kv("tokenizer.ggml.add_eos_token", False, gguf_py.BOOL)
    w.write()
    return len(tokens), sid


class BPE:
    """Reference encoder for a vocabulary written by this tool: pre-tokenize,
    then apply merges in rank order inside each word. Used to check that wafer
    tokenizes exactly as the trainer assumed (the test compares the two)."""

    def __init__(self, tokens, merges):
        self.id = {t: i for i, t in enumerate(tokens)}
        self.rank = {tuple(m.split(" ")): r for r, m in enumerate(merges)}
        self.b2u = bytes_to_unicode()

    @classmethod
    def from_gguf(cls, path):
        g = gguf_py.read_gguf(path)
        return cls(list(g.kv["tokenizer.ggml.tokens"]), list(g.kv["tokenizer.ggml.merges"]))

    def encode_word(self, word):
        sym = [self.b2u[b] for b in word.encode("utf-8")]
        while len(sym) > 1:
            best = min(range(len(sym) - 1), key=lambda i: self.rank.get((sym[i], sym[i + 1]), 1 << 60))
            if (sym[best], sym[best + 1]) not in self.rank:
                break
            sym[best:best + 2] = [sym[best] + sym[best + 1]]
        return [self.id[s] for s in sym]

    def encode(self, text):
        out = []
        for w in pretokenize(text):
            out += self.encode_word(w)
        return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", required=True, help="text file listing one corpus path per line")
    ap.add_argument("--vocab-size", type=int, default=8192)
    ap.add_argument("--max-bytes", type=int, default=0, help="train on at most this many bytes")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    n_merges = a.vocab_size - 256 - len(SPECIALS)
    if n_merges < 0:
        sys.exit("train_tokenizer: vocab size must be at least %d" % (256 + len(SPECIALS)))
    with open(a.files, encoding="utf-8") as f:
        paths = [l.rstrip("\n") for l in f if l.strip()]
    t0 = time.time()
    counts, total = count_words(paths, a.max_bytes)
    print("train_tokenizer: %d bytes, %d distinct words" % (total, len(counts)))
    merges = train_bpe(counts, n_merges, log=print)
    n, _ = write_vocab_gguf(a.out, merges)
    print("train_tokenizer: %d tokens (%d merges) -> %s in %.1f s" % (n, len(merges), a.out, time.time() - t0))


if __name__ == "__main__":
    main()
