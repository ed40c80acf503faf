#!/usr/bin/python3
"""chat_data.py — chat-format training examples for the embedded model, made
from the corpus's Python files, rendered with the model's own chat template
(tools/chat_template.jinja, by Debian's python3-jinja2: the template the GGUF
carries, so training and inference see the same bytes).

Kinds of conversation (each one a list of messages, optionally with tools):
  edit     exactly what `wafer edit` sends (its system message, the
           instruction, "File: NAME", the file in a fenced block) and, as the
           answer, the edited file in the same fence. Instruction forms:
           rename OLD to NEW, change A to B in `LINE`, add `TEXT` after `LINE`,
           add a parameter `P` to `FUNC`, add the docstring "D" to `FUNC`,
           delete the line `LINE`.
  write    "write a function NAME(ARGS) that <docstring summary>" -> the
           function from the corpus in a fenced block.
  explain  a function in a fenced block, "what does it do?" -> its docstring's
           first paragraph.
  tool     tools in the system turn; the user asks about a file; the
           assistant calls read_file / search / run_tests, gets a
           <tool_response>, then answers (an edit, or an explanation).

usage: chat_data.py --corpus DIR --split train|heldout --out FILE.jsonl [--n 20000] [--seed 1]
       chat_data.py --edit-tasks DIR --files LIST --n 24 --seed 7
Each output line: {"kind": K, "messages": [...], "tools": [...]|null}.
--edit-tasks writes one folder per edit (input.py, instruction.txt,
expected.py): a held-out edit benchmark in bench/edit's layout.
"""
import argparse
import ast
import json
import os
import random
import re
import sys

EDIT_SYSTEM = ("You rewrite a file as the user instructs. Reply with the complete new file in one "
               "fenced code block and nothing else. Keep everything the instruction does not ask "
               "to change exactly as it is.")

IDENT_RE = re.compile(r"\b[A-Za-z_][A-Za-z0-9_]{2,}\b")
NUM_RE = re.compile(r"(?<![\w.])\d+(?![\w.])")
KEYWORDS = set("""False None True and as assert async await break class continue def del elif else
except finally for from global if import in is lambda nonlocal not or pass raise return try while
with yield self cls print len range str int float list dict set tuple object type super isinstance""".split())


def fence_of(text):
    """``` or one more backtick than the longest run that starts a line (cmd_edit.c's rule)."""
    n = 3
    for line in text.split("\n"):
        m = re.match(r"`+", line)
        if m and len(m.group()) >= n:
            n = len(m.group()) + 1
    return "`" * n


def fenced(text, lang="python", fence=None):
    fence = fence or fence_of(text)
    return fence + lang + "\n" + text + ("" if text.endswith("\n") or not text else "\n") + fence + "\n"


def edit_messages(instruction, name, text, new_text):
    fence = fence_of(text)
    user = instruction + "\n\nFile: " + name + "\n" + fenced(text, "python", fence)
    answer = fenced(new_text, "python", fence)[:-1]   # the closing fence ends the turn
    return [{"role": "system", "content": EDIT_SYSTEM}, {"role": "user", "content": user},
            {"role": "assistant", "content": answer}]


# ---------------------------------------------------------------- edits
class Pools:
    """Words and lines drawn from the corpus, for new names and added lines."""

    def __init__(self, texts, rng):
        idents, lines, docs = set(), [], []
        for t in texts:
            idents.update(n for n in IDENT_RE.findall(t) if n not in KEYWORDS and len(n) <= 24)
            for ln in t.split("\n"):
                s = ln.strip()
                if 6 <= len(s) <= 60 and not s.endswith((":", ",", "(", "[", "{", "\\")) and \
                        not s.startswith(("#", "def ", "class ", "@", "elif", "else", "except", "finally",
                                          "return", "raise", "break", "continue", "'", '"')) and \
                        s.count("(") == s.count(")") and s.count("[") == s.count("]") and "`" not in s:
                    lines.append(s)
            docs += [d for d in re.findall(r'"""([A-Z][^"\n]{8,70}\.)', t) if "`" not in d]
        self.idents = sorted(idents)
        rng.shuffle(self.idents)
        self.lines = lines
        self.docs = docs
        self.rng = rng

    def ident(self, avoid):
        for _ in range(20):
            w = self.rng.choice(self.idents)
            if w not in avoid:
                return w
        return "value_%d" % self.rng.randrange(100)


def new_name(rng, pools, old, text):
    """A plausible replacement for identifier old (not already in text)."""
    avoid = set(IDENT_RE.findall(text))
    forms = []
    parts = old.strip("_").split("_")
    if len(parts) > 1:
        forms.append(old.replace("_" + parts[-1], ""))                     # drop a part
        forms.append("_".join(reversed(parts)))
    if old.startswith(("is_", "get_", "has_")):
        forms.append(old.split("_", 1)[1])
    forms.append(old + rng.choice(["_list", "s", "_value", "_count", "2", "_new", "_all"]))
    forms.append(rng.choice(["new_", "old_", "the_", "my_", "cur_"]) + old.lstrip("_"))
    forms.append(old[:max(3, len(old) // 2)])
    for _ in range(3):
        forms.append(pools.ident(avoid))
    forms = [f for f in forms if IDENT_RE.fullmatch(f) and f not in avoid and f not in KEYWORDS and f != old]
    if not forms:
        return None
    # half the time a corpus word, so names are not always derived from the old one
    return rng.choice(forms[-3:]) if rng.random() < 0.4 and len(forms) >= 3 else rng.choice(forms)


def edit_rename(rng, pools, text):
    names = [n for n in IDENT_RE.findall(text) if n not in KEYWORDS and not n.startswith("__")]
    if not names:
        return None
    old = rng.choice(names)
    new = new_name(rng, pools, old, text)
    if not new:
        return None
    how = rng.choice(["rename %s to %s", "rename %s to %s", "Rename %s to %s", "rename `%s` to `%s`"])
    return re.sub(r"\b%s\b" % re.escape(old), new, text), how % (old, new)


def unique_line(lines, i):
    s = lines[i].strip()
    return s and sum(1 for l in lines if l.strip() == s) == 1


def edit_literal(rng, pools, text):
    lines = text.split("\n")
    cands = []
    for i, ln in enumerate(lines):
        if unique_line(lines, i) and len(ln.strip()) <= 90:
            ms = list(NUM_RE.finditer(ln))
            if len(ms) >= 1 and len({m.group() for m in ms}) == len(ms):
                cands += [(i, m) for m in ms]
    if not cands:
        return None
    i, m = rng.choice(cands)
    old = int(m.group())
    new = rng.choice([old + 1, old + 2, old * 2, old + 10, max(0, old - 1), rng.randrange(0, 100),
                      rng.choice([5, 8, 10, 16, 20, 30, 50, 64, 100, 128, 256, 1000])])
    if new == old:
        new = old + 1
    ln = lines[i]
    lines[i] = ln[:m.start()] + str(new) + ln[m.end():]
    how = rng.choice(["change %s to %d in `%s`", "change %s to %d in `%s`", "Change %s to %d in `%s`"])
    return "\n".join(lines), how % (m.group(), new, ln.strip())


def indent_of(s):
    return re.match(r"[ \t]*", s).group()


def edit_add_line(rng, pools, text):
    lines = text.split("\n")
    cands = [i for i in range(len(lines) - 1) if unique_line(lines, i) and len(lines[i].strip()) <= 90
             and not lines[i].rstrip().endswith(("\\", ",", "(", "[", "{"))]
    if not cands or not pools.lines:
        return None
    i = rng.choice(cands)
    ind = indent_of(lines[i]) + ("    " if lines[i].rstrip().endswith(":") else "")
    extra = rng.choice(pools.lines) if rng.random() < 0.7 else rng.choice(
        ["pass", "return None", "assert %s is not None" % pools.ident(()), "# TODO: check the bounds",
         "print(%s)" % pools.ident(()), "%s = None" % pools.ident(())])
    new = lines[:i + 1] + [ind + extra] + lines[i + 1:]
    how = rng.choice(["add `%s` after `%s`", "add `%s` after `%s`", "Add `%s` after `%s`"])
    return "\n".join(new), how % (extra, lines[i].strip())


DEF_RE = re.compile(r"^([ \t]*)def ([A-Za-z_][A-Za-z0-9_]*)\((.*)\)(\s*->\s*[^:]+)?:\s*$")


def defs_of(lines):
    out = []
    for i, ln in enumerate(lines):
        m = DEF_RE.match(ln)
        if m and "(" not in m.group(3) and sum(1 for l in lines if DEF_RE.match(l) and
                                               DEF_RE.match(l).group(2) == m.group(2)) == 1:
            out.append((i, m))
    return out


def edit_add_param(rng, pools, text):
    lines = text.split("\n")
    ds = defs_of(lines)
    if not ds:
        return None
    i, m = rng.choice(ds)
    args = m.group(3)
    if "*" in args or "/" in args:
        return None
    name = pools.ident(set(IDENT_RE.findall(text)))
    if len(name) > 16:
        name = name[:16].rstrip("_") or "flag"
    default = rng.choice(["None", "False", "True", "0", "1", "10", "''", "()"])
    p = name + ("=" + default if rng.random() < 0.8 else "")
    if "=" not in p and "=" in args:
        p += "=None"
    new_args = (args + ", " + p) if args.strip() else p
    s, e = m.span(3)
    lines[i] = lines[i][:s] + new_args + lines[i][e:]
    how = rng.choice(["add a parameter `%s` to `%s`", "add a parameter `%s` to `%s`", "Add a parameter `%s` to `%s`"])
    return "\n".join(lines), how % (p, m.group(2))


def edit_add_docstring(rng, pools, text):
    lines = text.split("\n")
    ds = [(i, m) for i, m in defs_of(lines) if i + 1 < len(lines) and not lines[i + 1].strip().startswith(('"""', "'''", 'r"""'))]
    if not ds or not pools.docs:
        return None
    i, m = rng.choice(ds)
    doc = rng.choice(pools.docs)
    lines.insert(i + 1, m.group(1) + "    " + '"""' + doc + '"""')
    how = rng.choice(['add the docstring "%s" to `%s`', 'add the docstring "%s" to `%s`', 'Add the docstring "%s" to `%s`'])
    return "\n".join(lines), how % (doc, m.group(2))


def edit_delete_line(rng, pools, text):
    lines = text.split("\n")
    cands = []
    for i in range(len(lines) - 1):
        s = lines[i].strip()
        if not unique_line(lines, i) or s.endswith((":", "\\", ",", "(", "[", "{")) or len(s) > 90:
            continue
        if s.startswith(("def ", "class ", "@", '"""', "'''", ")", "]", "}")):
            continue
        # the block must keep a statement: the next line is not less indented than this one
        # unless the previous line does not open a block
        prev = lines[i - 1].rstrip() if i else ""
        nxt = lines[i + 1]
        if prev.endswith(":") and len(indent_of(nxt)) < len(indent_of(lines[i])):
            continue
        cands.append(i)
    if not cands:
        return None
    i = rng.choice(cands)
    s = lines[i].strip()
    del lines[i]
    how = rng.choice(["delete the line `%s`", "delete the line `%s`", "Delete the line `%s`", "remove the line `%s`"])
    return "\n".join(lines), how % s


EDITS = [(edit_rename, 3), (edit_literal, 2), (edit_add_line, 2), (edit_add_param, 2),
         (edit_add_docstring, 2), (edit_delete_line, 2)]


def pick_edit(rng):
    tot = sum(w for _, w in EDITS)
    r = rng.uniform(0, tot)
    for f, w in EDITS:
        r -= w
        if r <= 0:
            return f
    return EDITS[-1][0]


def chunk_of(rng, text, max_lines, min_lines=0):
    """A window of whole lines, preferably starting at a def/class line."""
    lines = text.split("\n")
    if len(lines) <= max_lines:
        return text
    n = rng.randint(min_lines or max(4, max_lines // 4), max_lines)
    starts = [i for i, l in enumerate(lines[:len(lines) - n]) if l.lstrip().startswith(("def ", "class ", "@"))]
    s = rng.choice(starts) if starts and rng.random() < 0.8 else rng.randrange(0, len(lines) - n)
    chunk = lines[s:s + n]
    # dedent so that the chunk starts at column 0 when it starts inside a class
    ind = min((len(indent_of(l)) for l in chunk if l.strip()), default=0)
    chunk = [l[ind:] if l.strip() else l.strip(" \t") for l in chunk]
    return "\n".join(chunk).rstrip("\n") + "\n"


def make_edit(rng, pools, text, name, max_lines=36, min_lines=0):
    chunk = chunk_of(rng, text, max_lines, min_lines)
    if len(chunk) > 1500 or "<|" in chunk:
        return None
    for _ in range(4):
        r = pick_edit(rng)(rng, pools, chunk)
        if r and r[0] != chunk and "\n" not in r[1]:
            return r[1], chunk, r[0]
    return None


# ---------------------------------------------------------------- write / explain
def functions_of(text):
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return []
    out = []
    lines = text.split("\n")
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.end_lineno and node.end_lineno - node.lineno <= 40:
            doc = ast.get_docstring(node)
            if not doc or node.decorator_list:
                continue
            src = lines[node.lineno - 1:node.end_lineno]
            ind = len(indent_of(src[0]))
            src = "\n".join(l[ind:] if l.strip() else "" for l in src)
            first = doc.strip().split("\n\n")[0].replace("\n", " ")
            if 15 <= len(first) <= 300 and "<|" not in src:
                args = ", ".join(a.arg for a in node.args.args)
                out.append((node.name, args, src, first))
    return out


WRITE_FORMS = ["Write a Python function `{name}({args})`: {doc}", "Write a function {name}({args}). {doc}",
               "Implement `{name}({args})` in Python. {doc}", "write {name}({args}): {doc}"]
EXPLAIN_FORMS = ["What does this function do?\n\n{code}", "Explain this code:\n\n{code}",
                 "Explain `{name}`:\n\n{code}", "What is `{name}` for?\n\n{code}"]


def make_write(rng, fn):
    name, args, src, doc = fn
    user = rng.choice(WRITE_FORMS).format(name=name, args=args, doc=doc)
    return [{"role": "user", "content": user}, {"role": "assistant", "content": fenced(src)[:-1]}]


def make_explain(rng, fn):
    name, args, src, doc = fn
    user = rng.choice(EXPLAIN_FORMS).format(name=name, code=fenced(src)[:-1])
    return [{"role": "user", "content": user}, {"role": "assistant", "content": doc}]


# ---------------------------------------------------------------- tools
TOOLS = {
    "read_file": {"type": "function", "function": {
        "name": "read_file", "description": "Read a file of the project.",
        "parameters": {"type": "object", "properties": {"path": {"type": "string", "description": "the file's path"}},
                       "required": ["path"]}}},
    "search": {"type": "function", "function": {
        "name": "search", "description": "Search the project's files for a text.",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}}},
    "run_tests": {"type": "function", "function": {
        "name": "run_tests", "description": "Run the project's tests.",
        "parameters": {"type": "object", "properties": {"path": {"type": "string"}}, "required": []}}},
    "write_file": {"type": "function", "function": {
        "name": "write_file", "description": "Replace a file's content.",
        "parameters": {"type": "object", "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
                       "required": ["path", "content"]}}},
    "shell": {"type": "function", "function": {
        "name": "shell", "description": "Run a shell command.",
        "parameters": {"type": "object", "properties": {"command": {"type": "array", "items": {"type": "string"}}},
                       "required": ["command"]}}},
}


def call(name, args):
    return {"type": "function", "function": {"name": name, "arguments": args}}


def make_tool(rng, pools, text, name, fn):
    names = rng.sample(sorted(TOOLS), rng.randint(2, len(TOOLS)))
    if "read_file" not in names:
        names[0] = "read_file"
    tools = [TOOLS[n] for n in names]
    kind = rng.randrange(4)
    if kind == 0 and fn:    # read a file, then explain a function in it
        fname, args, src, doc = fn
        msgs = [{"role": "user", "content": rng.choice(["What does `%s` in %s do?", "Explain %s in %s."])
                 % (fname, name)},
                {"role": "assistant", "content": "", "tool_calls": [call("read_file", {"path": name})]},
                {"role": "tool", "content": src},
                {"role": "assistant", "content": doc}]
        return msgs, tools
    if kind == 1 and "search" in names:
        w = rng.choice([n for n in IDENT_RE.findall(text) if n not in KEYWORDS] or ["main"])
        msgs = [{"role": "user", "content": rng.choice(["Where is `%s` used?", "Find %s in the project.",
                                                         "search for %s"]) % w},
                {"role": "assistant", "content": "", "tool_calls": [call("search", {"query": w})]}]
        return msgs, tools
    if kind == 2 and "run_tests" in names:
        msgs = [{"role": "user", "content": rng.choice(["Run the tests.", "Do the tests pass?",
                                                         "run the tests for %s" % name])},
                {"role": "assistant", "content": "", "tool_calls": [call("run_tests", {"path": name}
                                                                         if rng.random() < 0.5 else {})]}]
        return msgs, tools
    r = make_edit(rng, pools, text, name, 30)   # read the file, then return it edited
    if not r:
        return None
    instruction, chunk, new = r
    msgs = [{"role": "user", "content": "In %s: %s" % (name, instruction)},
            {"role": "assistant", "content": "", "tool_calls": [call("read_file", {"path": name})]},
            {"role": "tool", "content": chunk},
            {"role": "assistant", "content": fenced(new)[:-1]}]
    return msgs, tools


# ---------------------------------------------------------------- main
def read_list(path):
    with open(path) as f:
        return [l.rstrip("\n") for l in f if l.strip()]


def edit_tasks(a):
    """A held-out edit benchmark: --n tasks from the files in --files, one of each form in turn."""
    rng = random.Random(a.seed)
    paths = [p for p in read_list(a.files) if os.path.exists(p)]
    texts = [open(p, encoding="utf-8").read() for p in paths]
    pools = Pools(texts, random.Random(a.seed))
    os.makedirs(a.edit_tasks, exist_ok=True)
    made, k = 0, 0
    while made < a.n and k < 50 * a.n:
        k += 1
        i = rng.randrange(len(texts))
        f, _ = EDITS[made % len(EDITS)]
        chunk = chunk_of(rng, texts[i], 30)
        if len(chunk) > 1500:
            continue
        r = f(rng, pools, chunk)
        if not r or r[0] == chunk:
            continue
        d = os.path.join(a.edit_tasks, "%02d_%s" % (made, f.__name__[5:]))
        os.makedirs(d, exist_ok=True)
        for fn, s in (("input.py", chunk), ("expected.py", r[0]), ("instruction.txt", r[1] + "\n")):
            with open(os.path.join(d, fn), "w", encoding="utf-8") as out:
                out.write(s)
        made += 1
    print("chat_data: %d edit tasks in %s" % (made, a.edit_tasks))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus")
    ap.add_argument("--split", default="train")
    ap.add_argument("--out")
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--mix", default="edit:0.62,write:0.14,explain:0.12,tool:0.12")
    ap.add_argument("--edit-lines", default="0:36",
                    help="MIN:MAX lines of the file in an edit conversation (MIN 0: a quarter of MAX, at least 4)")
    ap.add_argument("--edit-tasks", help="write a held-out edit benchmark into this folder")
    ap.add_argument("--files", help="with --edit-tasks: a file listing the source files")
    a = ap.parse_args()
    try:
        a.edit_lines = [int(v) for v in a.edit_lines.split(":")]
        if len(a.edit_lines) != 2 or not 0 <= a.edit_lines[0] <= a.edit_lines[1] or a.edit_lines[1] < 2:
            raise ValueError
    except ValueError:
        ap.error("--edit-lines wants MIN:MAX with 0 <= MIN <= MAX and MAX >= 2")
    if a.edit_tasks:
        return edit_tasks(a)
    rng = random.Random(a.seed)
    paths = read_list(os.path.join(a.corpus, a.split + ".txt"))
    texts = []
    for p in paths:
        with open(p, encoding="utf-8") as f:
            t = f.read()
        if "<|" not in t:
            texts.append((os.path.basename(p), t))
    pools = Pools([t for _, t in texts], random.Random(a.seed + 1))
    fns = {i: functions_of(t) for i, (_, t) in enumerate(texts)}
    mix = [(k, float(v)) for k, v in (kv.split(":") for kv in a.mix.split(","))]
    counts = {k: 0 for k, _ in mix}
    with open(a.out, "w") as out:
        made = 0
        while made < a.n:
            i = rng.randrange(len(texts))
            name, text = texts[i]
            if rng.random() < 0.15:
                name = rng.choice(["input.py", "main.py", "utils.py", "app.py", "lib.py", "test.py"])
            r, kind = rng.random() * sum(w for _, w in mix), None
            for k, w in mix:
                r -= w
                if r <= 0:
                    kind = k
                    break
            kind = kind or mix[-1][0]
            fn = rng.choice(fns[i]) if fns[i] else None
            tools = None
            if kind == "edit":
                e = make_edit(rng, pools, text, name, a.edit_lines[1], a.edit_lines[0])
                msgs = edit_messages(*e[:1], name, *e[1:]) if e else None
            elif kind == "write":
                msgs = make_write(rng, fn) if fn else None
            elif kind == "explain":
                msgs = make_explain(rng, fn) if fn else None
            else:
                r = make_tool(rng, pools, text, name, fn)
                msgs, tools = r if r else (None, None)
            if not msgs:
                continue
            if kind in ("write", "explain") and rng.random() < 0.3:
                msgs = [{"role": "system", "content": rng.choice(
                    ["You are a helpful coding assistant.", "You are a Python expert. Be brief.",
                     "You help with Python code."])}] + msgs
            out.write(json.dumps({"kind": kind, "messages": msgs, "tools": tools}) + "\n")
            counts[kind] += 1
            made += 1
    print("chat_data: %d conversations %s -> %s" % (made, counts, a.out))


if __name__ == "__main__":
    sys.exit(main())
