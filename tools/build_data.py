#!/usr/bin/python3
"""build_data.py — turn the corpus into token streams for training.

Every training file gives one plain document; with the given probabilities it
also gives a fill-in-the-middle example (Qwen2.5-Coder's PSM order) and an edit
example (a chunk of the file, then a lightly edited copy):

  plain  <text> <|endoftext|>
  FIM    <|fim_prefix|> prefix <|fim_suffix|> suffix <|fim_middle|> middle <|endoftext|>
  edit   <instruction> "\n" <|file_sep|> <chunk> <|file_sep|> <edited chunk> <|endoftext|>
         (--edit-format instruction-first, the default), or, as the base
         model was trained (--edit-format file-first):
         <chunk> <|file_sep|> <instruction> "\n" <|file_sep|> <edited chunk> <|endoftext|>

Instruction first puts the file right after the first separator, so the
copy's first token is what followed the previous separator: a model that
copies by matching (an induction head) starts the copy without having to
find where the file began.

Edits, each with a one-line instruction saying what changed: rename an
identifier everywhere ("rename OLD to NEW"), change a numeric literal
("change 10 to 11 in `<line>`"), or add a line ("add `pass` after `<line>`").
`wafer edit` builds the same prompt for a model without a chat template whose
vocabulary has a file-separator token. Text is tokenized by `wafer tokenize` (segment by segment, so source
text that happens to contain "<|...|>" stays plain text); special ids come
from the vocabulary. Output: OUT/train.bin and OUT/heldout.bin (held-out
files as plain documents only), little-endian uint16 when the vocabulary has
< 65536 tokens else uint32, and OUT/data.json describing them.

usage: build_data.py --wafer PATH --vocab vocab.gguf --corpus CORPUSDIR --out DIR
                     [--fim 0.5] [--fim-chars 0] [--edit 0.3] [--edit-chars 1200]
                     [--repeats 1] [--seed 1] [--edit-format instruction-first|file-first]
"""
import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "ref"))
import gguf_py  # noqa: E402


class Tokenizer:
    """wafer's tokenizer, through the CLI."""

    def __init__(self, wafer, vocab):
        self.wafer, self.vocab = wafer, vocab
        g = gguf_py.read_gguf(vocab)
        toks = list(g.kv["tokenizer.ggml.tokens"])
        self.n_vocab = len(toks)
        self.special = {t: i for i, t in enumerate(toks) if t.startswith("<|") and t.endswith("|>")}

    def encode(self, text):
        if not text:
            return []
        with tempfile.NamedTemporaryFile(suffix=".txt") as f:
            f.write(text.encode("utf-8"))
            f.flush()
            r = subprocess.run([self.wafer, "tokenize", "-m", self.vocab, "-f", f.name, "--json"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if r.returncode != 0:
            raise RuntimeError("wafer tokenize failed: " + r.stderr.decode(errors="replace"))
        return json.loads(r.stdout)

    def encode_special(self, text):
        """Tokenize text in which <|...|> control tokens are written out (the
        caller makes sure no source text contains "<|")."""
        with tempfile.NamedTemporaryFile(suffix=".txt") as f:
            f.write(text.encode("utf-8"))
            f.flush()
            r = subprocess.run([self.wafer, "tokenize", "-m", self.vocab, "-f", f.name, "--json", "--parse-special"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if r.returncode != 0:
            raise RuntimeError("wafer tokenize failed: " + r.stderr.decode(errors="replace"))
        return json.loads(r.stdout)

    def decode(self, ids):
        r = subprocess.run([self.wafer, "detokenize", "-m", self.vocab] + [str(i) for i in ids],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if r.returncode != 0:
            raise RuntimeError("wafer detokenize failed: " + r.stderr.decode(errors="replace"))
        return r.stdout.decode("utf-8")


IDENT_RE = re.compile(r"\b[A-Za-z_][A-Za-z0-9_]{2,}\b")
NUM_RE = re.compile(r"(?<![\w.])\d+(?![\w.])")
KEYWORDS = set("""False None True and as assert async await break class continue def del elif else
except finally for from global if import in is lambda nonlocal not or pass raise return try while
with yield self cls print len range str int""".split())


def edit_rename(rng, text):
    names = [n for n in IDENT_RE.findall(text) if n not in KEYWORDS]
    if not names:
        return None
    old = rng.choice(names)
    new = old + rng.choice(["_v2", "_new", "x", "_tmp", "2"])
    how = rng.choice(["rename %s to %s", "Rename %s to %s", "rename `%s` to `%s`"])
    return re.sub(r"\b%s\b" % re.escape(old), new, text), how % (old, new)


def line_of(text, pos):
    a = text.rfind("\n", 0, pos) + 1
    b = text.find("\n", pos)
    return text[a:b if b >= 0 else len(text)].strip()


def edit_literal(rng, text):
    ms = list(NUM_RE.finditer(text))
    if not ms:
        return None
    m = rng.choice(ms)
    v = int(m.group()) + rng.choice([1, 2, 10, -1]) if m.group() != "0" else rng.choice([1, 2])
    edited = text[:m.start()] + str(abs(v)) + text[m.end():]
    return edited, "change %s to %d in `%s`" % (m.group(), abs(v), line_of(text, m.start()))


def edit_add_line(rng, text):
    lines = text.split("\n")
    if len(lines) < 2:
        return None
    i = rng.randrange(1, len(lines))
    if not lines[i - 1].strip():
        return None
    indent = re.match(r"[ \t]*", lines[i - 1]).group()
    extra = rng.choice(["# note: keep this in sync", "pass", "assert True", "# TODO: check the bounds"])
    edited = "\n".join(lines[:i] + [indent + extra] + lines[i:])
    return edited, "add `%s` after `%s`" % (extra, lines[i - 1].strip())


EDITS = [edit_rename, edit_literal, edit_add_line]


def fim_split(rng, text, fim_chars):
    """(prefix, suffix, middle) of a FIM example: text, or a window of
    fim_chars starting at a line (so the example fits the context), cut at
    two random characters."""
    span = text
    if fim_chars and len(text) > fim_chars:
        s = rng.randrange(0, len(text) - fim_chars)
        nl = text.rfind("\n", 0, s)
        s = nl + 1 if nl >= 0 else 0
        span = text[s:s + fim_chars]
    i, j = sorted(rng.sample(range(1, len(span)), 2))
    return span[:i], span[j:], span[i:j]


def add_examples(a, rng, tok, text, ids, n, special):
    """Append at most one FIM and one edit example drawn from text to ids."""
    eot, fp, fs, fm, sep = special
    if rng.random() < a.fim and len(text) > 20:
        pre, suf, mid = fim_split(rng, text, a.fim_chars)
        ids += [fp] + tok.encode(pre) + [fs] + tok.encode(suf) + [fm] + tok.encode(mid) + [eot]
        n["fim"] += 1
    if rng.random() < a.edit:
        s = rng.randrange(0, max(1, len(text) - a.edit_chars))
        chunk = text[s:s + a.edit_chars]
        nl = chunk.find("\n")          # start on a line boundary
        if 0 <= nl < len(chunk) - 1:
            chunk = chunk[nl + 1:]
        r = rng.choice(EDITS)(rng, chunk)
        if r is not None and r[0] != chunk:
            edited, instruction = r
            if a.edit_format == "file-first":
                ids += (tok.encode(chunk) + [sep] + tok.encode(instruction + "\n") + [sep]
                        + tok.encode(edited) + [eot])
            else:
                ids += (tok.encode(instruction + "\n") + [sep] + tok.encode(chunk) + [sep]
                        + tok.encode(edited) + [eot])
            n["edit"] += 1


def render_chat(tpl, conv):
    """Segments (text, scored) of one conversation rendered by the chat
    template: each assistant turn's content and its <|im_end|> scored, the
    rest (system, user, tool turns, the generation prompt) not."""
    msgs, tools = conv["messages"], conv.get("tools")
    segs, done = [], ""
    for k, m in enumerate(msgs):
        if m["role"] != "assistant":
            continue
        prompt = tpl.render(messages=msgs[:k], tools=tools, add_generation_prompt=True)
        full = tpl.render(messages=msgs[:k + 1], tools=tools, add_generation_prompt=False)
        if not prompt.startswith(done) or not full.startswith(prompt) or not full.endswith("<|im_end|>\n"):
            raise ValueError("template is not prefix-consistent on %r" % conv["kind"])
        segs += [(prompt[len(done):], False), (full[len(prompt):-1], True)]
        done = full[:-1]
    return segs


def novel_tokens(src, ans, k=4, reach=96):
    """For each answer token, whether it is not a copy of the prompt src: a
    copy pointer walks src from where the answer's first k tokens occur; on a
    mismatch the token is novel and the pointer moves to the next place
    (within reach) where the following k answer tokens occur."""
    j = None
    for n in range(min(k, len(ans)), 0, -1):     # where the copy starts (an edit answer: at the fence)
        j = next((i for i in range(len(src) - n + 1) if src[i:i + n] == ans[:n]), None)
        if j is not None:
            break
    if j is None:
        return [True] * len(ans)
    out = []
    for i, t in enumerate(ans):
        if j < len(src) and src[j] == t:
            out.append(False)
            j += 1
            continue
        out.append(True)
        nxt = ans[i + 1:i + 1 + k]
        for jj in range(j, min(len(src) - len(nxt) + 1, j + reach)):
            if src[jj:jj + len(nxt)] == nxt:
                j = jj
                break
    return out


def build_chat(a, tok):
    """OUT/chat.bin (tokens), chat.mask (1 byte per token: its loss weight, 0
    for tokens not scored), chat.idx
    (int64 start of every example, then the end) from a chat_data.py file."""
    import jinja2
    env = jinja2.Environment()
    # as Hugging Face's chat templates and wafer's Jinja do it: keys in their
    # order, no HTML escaping (jinja2's own tojson sorts and escapes)
    env.filters["tojson"] = lambda x, indent=None: json.dumps(x, ensure_ascii=False, indent=indent)
    with open(a.template) as f:
        tpl = env.from_string(f.read())
    sep = "<|fim_pad|>"
    sep_id = tok.special[sep]
    convs = [json.loads(l) for l in open(a.chat)]
    ids, mask, idx = [], [], [0]
    kinds = {}
    B = 400
    for b0 in range(0, len(convs), B):
        batch = convs[b0:b0 + B]
        segs = [render_chat(tpl, c) for c in batch]
        flat = [t for ss in segs for t, _ in ss]
        if any(sep in t for t in flat):
            raise ValueError("a conversation contains " + sep)
        out = tok.encode_special(sep.join(flat) + sep)
        parts, cur = [], []
        for t in out:
            if t == sep_id:
                parts.append(cur)
                cur = []
            else:
                cur.append(t)
        if len(parts) != len(flat):
            raise RuntimeError("segments %d != %d" % (len(parts), len(flat)))
        k = 0
        for c, ss in zip(batch, segs):
            ex_ids, ex_mask = [], []
            for (_, scored) in ss:
                w = [0] * len(parts[k])
                if scored:
                    w = [1] * len(parts[k])
                    if a.novel_weight > 1 and c["kind"] == "edit":
                        # the tokens an edit answer does not copy from the prompt (the
                        # change itself) weigh more: copying is most of the answer
                        # and alone never teaches the edit
                        w = [a.novel_weight if nv else 1 for nv in novel_tokens(ex_ids, parts[k])]
                ex_ids += parts[k]
                ex_mask += w
                k += 1
            # the conversation's trailing newline (after the last <|im_end|>) closes the example
            ex_ids.append(tok.encode("\n")[0])
            ex_mask.append(0)
            if len(ex_ids) > a.chat_max:
                continue
            ids += ex_ids
            mask += ex_mask
            idx.append(len(ids))
            kinds[c["kind"]] = kinds.get(c["kind"], 0) + 1
        print("build_data: chat %d/%d" % (min(b0 + B, len(convs)), len(convs)), flush=True)
    os.makedirs(a.out, exist_ok=True)
    dtype = np.uint16 if tok.n_vocab < 65536 else np.uint32
    np.asarray(ids, dtype=dtype).astype(np.dtype(dtype).newbyteorder("<")).tofile(os.path.join(a.out, "chat.bin"))
    np.asarray(mask, dtype=np.uint8).tofile(os.path.join(a.out, "chat.mask"))
    np.asarray(idx, dtype="<i8").tofile(os.path.join(a.out, "chat.idx"))
    info = {"dtype": np.dtype(dtype).name, "examples": len(idx) - 1, "tokens": len(ids),
            "scored": int(sum(1 for m in mask if m)), "novel": int(sum(1 for m in mask if m > 1)), "kinds": kinds, "max_tokens": a.chat_max, "template": os.path.abspath(a.template)}
    with open(os.path.join(a.out, "chat.json"), "w") as f:
        json.dump(info, f, indent=1)
    print("build_data: chat: %s" % info)


def build_code_fast(a, tok):
    """The code stream (plain documents and FIM examples, no raw edit
    examples) tokenized in a few calls with control tokens written out; files
    whose text contains "<|" are left out so no source can inject one."""
    rng = random.Random(a.seed)
    dtype = np.uint16 if tok.n_vocab < 65536 else np.uint32
    info = {"vocab": os.path.abspath(a.vocab), "n_vocab": tok.n_vocab, "dtype": np.dtype(dtype).name,
            "seed": a.seed, "fim": a.fim, "fim_chars": a.fim_chars, "repeats": a.repeats, "eot": tok.special["<|endoftext|>"]}
    for split in ("train", "heldout"):
        with open(os.path.join(a.corpus, split + ".txt"), encoding="utf-8") as f:
            paths = [l.rstrip("\n") for l in f if l.strip()]
        docs, n = [], {"plain": 0, "fim": 0, "skipped": 0}
        for p in paths:
            with open(p, encoding="utf-8") as f:
                text = f.read()
            if "<|" in text:
                n["skipped"] += 1
                continue
            docs.append(text + "<|endoftext|>")
            n["plain"] += 1
            for _ in range(a.repeats if split == "train" else 0):
                if rng.random() < a.fim and len(text) > 20:
                    pre, suf, mid = fim_split(rng, text, a.fim_chars)
                    docs.append("<|fim_prefix|>" + pre + "<|fim_suffix|>" + suf + "<|fim_middle|>" + mid + "<|endoftext|>")
                    n["fim"] += 1
        ids = []
        for b0 in range(0, len(docs), 100):
            ids += tok.encode_special("".join(docs[b0:b0 + 100]))
        arr = np.asarray(ids, dtype=dtype)
        arr.astype(np.dtype(dtype).newbyteorder("<")).tofile(os.path.join(a.out, split + ".bin"))
        info[split] = {"files": len(paths), "tokens": int(arr.size), "examples": n}
        print("build_data: %s: %d files, %d tokens, %s" % (split, len(paths), arr.size, n), flush=True)
    with open(os.path.join(a.out, "data.json"), "w") as f:
        json.dump(info, f, indent=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wafer", required=True)
    ap.add_argument("--vocab", required=True)
    ap.add_argument("--corpus", required=True, help="folder written by corpus.py")
    ap.add_argument("--out", required=True)
    ap.add_argument("--fim", type=float, default=0.5, help="probability of a FIM example per file")
    ap.add_argument("--edit", type=float, default=0.3, help="probability of an edit example per file")
    ap.add_argument("--fim-chars", type=int, default=0,
                    help="FIM examples from a window of this many characters (0 = the whole file)")
    ap.add_argument("--edit-chars", type=int, default=1200, help="chunk size of edit examples")
    ap.add_argument("--repeats", type=int, default=1,
                    help="rounds of FIM/edit draws per file (fresh examples for multi-epoch runs)")
    ap.add_argument("--max-files", type=int, default=0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--edit-format", choices=("instruction-first", "file-first"), default="instruction-first")
    ap.add_argument("--chat", help="chat_data.py conversations: write OUT/chat.* instead of the code stream")
    ap.add_argument("--template", help="with --chat: the chat template (Jinja) to render them with")
    ap.add_argument("--chat-max", type=int, default=1024, help="with --chat: drop longer examples")
    ap.add_argument("--novel-weight", type=int, default=1,
                    help="with --chat: loss weight of edit-answer tokens not copied from the prompt (1..255)")
    ap.add_argument("--fast", action="store_true",
                    help="code stream without raw edit examples, tokenized in batches (v2 data)")
    a = ap.parse_args()

    tok = Tokenizer(a.wafer, a.vocab)
    os.makedirs(a.out, exist_ok=True)
    if a.chat:
        return build_chat(a, tok)
    if a.fast:
        return build_code_fast(a, tok)
    sp = tok.special
    eot, fp, fs, fm, sep = (sp["<|endoftext|>"], sp["<|fim_prefix|>"], sp["<|fim_suffix|>"],
                            sp["<|fim_middle|>"], sp["<|file_sep|>"])
    rng = random.Random(a.seed)
    os.makedirs(a.out, exist_ok=True)
    dtype = np.uint16 if tok.n_vocab < 65536 else np.uint32
    info = {"vocab": os.path.abspath(a.vocab), "n_vocab": tok.n_vocab, "dtype": np.dtype(dtype).name,
            "seed": a.seed, "fim": a.fim, "fim_chars": a.fim_chars, "edit": a.edit,
            "edit_chars": a.edit_chars, "repeats": a.repeats, "edit_format": a.edit_format}
    for split in ("train", "heldout"):
        with open(os.path.join(a.corpus, split + ".txt"), encoding="utf-8") as f:
            paths = [l.rstrip("\n") for l in f if l.strip()]
        if a.max_files:
            paths = paths[:a.max_files]
        ids = []
        n = {"plain": 0, "fim": 0, "edit": 0}
        for p in paths:
            with open(p, encoding="utf-8") as f:
                text = f.read()
            ids += tok.encode(text) + [eot]
            n["plain"] += 1
            for _ in range(a.repeats if split == "train" else 0):
                add_examples(a, rng, tok, text, ids, n, (eot, fp, fs, fm, sep))
        arr = np.asarray(ids, dtype=dtype)
        arr.astype(np.dtype(dtype).newbyteorder("<")).tofile(os.path.join(a.out, split + ".bin"))
        info[split] = {"files": len(paths), "tokens": int(arr.size), "examples": n}
        print("build_data: %s: %d files, %d tokens, %s" % (split, len(paths), arr.size, n))
    with open(os.path.join(a.out, "data.json"), "w") as f:
        json.dump(info, f, indent=1)


if __name__ == "__main__":
    main()
