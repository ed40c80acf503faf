#!/usr/bin/python3
"""test_chat.py — `wafer chat` end to end, on a synthetic model.

The model comes from tests/ref/make_model.py (random weights, a tiny gpt2
vocabulary) with <|im_start|>/<|im_end|> added as control tokens and a ChatML
tokenizer.chat_template written into the GGUF (text written here from the
ChatML description, not taken from wafer). The output rows of the control
tokens are zeroed so that the random model does not end its turns by chance
(answers run until -n, the context, Ctrl-C or a redirect).

Checks:
  pipe mode (stdin not a terminal):
    - turn 1's greedy answer equals `wafer run --temp 0` on the prompt that
      `wafer template` renders for the same messages (so the chat's prompt
      construction is checked against the template engine independently);
    - turn 2's greedy answer equals `wafer run --ids` on the ids built here:
      turn 1's prompt ids + turn 1's answer ids (`wafer run --print-ids`) +
      the ids of the rest of the re-rendered conversation (`wafer tokenize`);
      its timings must report cached >= turn 1's prompt + answer - 1 tokens;
    - --save writes the conversation as JSON messages; --once; --spec lookup
      and --spec draft:MODEL (the model as its own draft) give the same
      answers;
    - a template that renders earlier turns differently: a note on stderr,
      turn 2 equals `wafer run` on the whole re-rendered conversation and
      reuses exactly the tokens before the first difference.
  a pseudo-terminal (python's pty module):
    - the answer streams (text arrives long before it would end);
    - Ctrl-C mid-answer returns to the prompt quickly ("stopped:
      interrupted"), the next turn works and reuses the cache (cached >= the
      first prompt's tokens), the partial answer is kept in the conversation;
    - Enter alone mid-answer changes nothing; a line typed + Enter redirects: the answer stops ("stopped:
      redirected"), a new one starts on the typed instruction, the saved
      conversation is user, assistant (partial), user (the redirect), ...;
    - history: the up arrow recalls the previous line;
    - Ctrl-C at an empty prompt and Ctrl-D both exit with code 0.
"""
import json
import os
import pty
import re
import select
import signal
import sys
import tempfile
import time

import numpy as np

import gguf_py as G
import make_model
import testlib
from testlib import check, wafer_ok

testlib.print_ok = True

WAFER = os.environ.get("WAFER")

CHATML = ("{% for message in messages %}"
          "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
          "{% endfor %}"
          "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")

SPECIALS = ["<|im_start|>", "<|im_end|>", "<|endoftext|>"]


def chat_vocab_kv(w, n_vocab):
    """make_model's byte vocabulary with the last three ids as control tokens"""
    toks = make_model.byte_tokens()
    i = 0
    while len(toks) < n_vocab - len(SPECIALS):
        toks.append("tok%d" % i)
        i += 1
    toks += SPECIALS
    types = [1] * (n_vocab - len(SPECIALS)) + [3] * len(SPECIALS)
    w.add_kv("tokenizer.ggml.model", "gpt2")
    w.add_kv("tokenizer.ggml.pre", "default")
    w.add_kv("tokenizer.ggml.tokens", toks, G.ARRAY, elem_type=G.STRING)
    w.add_kv("tokenizer.ggml.token_type", types, G.ARRAY, elem_type=G.INT32)
    w.add_kv("tokenizer.ggml.merges", [], G.ARRAY, elem_type=G.STRING)
    w.add_kv("tokenizer.ggml.eos_token_id", n_vocab - 1, G.UINT32)
    w.add_kv("tokenizer.chat_template", CHATML)


def make_chat_model(path, cfg):
    """make_model.make with the chat vocabulary, control rows of output zeroed"""
    orig_vocab, orig_add = make_model.vocab_kv, G.GGUFWriter.add_tensor
    V = cfg["n_vocab"]

    def add_tensor(self, name, data, *a, **k):
        if name == "output.weight":
            data = np.array(data)
            data[V - len(SPECIALS):] = 0
        return orig_add(self, name, data, *a, **k)
    make_model.vocab_kv, G.GGUFWriter.add_tensor = chat_vocab_kv, add_tensor
    try:
        make_model.make(path, cfg, wtype="f16")
    finally:
        make_model.vocab_kv, G.GGUFWriter.add_tensor = orig_vocab, orig_add


TIMING_RE = re.compile(r"prompt (\d+) tokens, (\d+) cached, (\d+) new .*?(\d+) generated.*?stopped: ([a-z ]+)")


def timings(err):
    return [dict(prompt=int(m[0]), cached=int(m[1]), new=int(m[2]), gen=int(m[3]), stop=m[4].strip())
            for m in TIMING_RE.findall(err)]


def ids_of(model, text):
    with tempfile.NamedTemporaryFile(suffix=".txt") as f:
        f.write(text.encode())
        f.flush()
        out, _ = wafer_ok("tokenize", "-m", model, "--parse-special", "-f", f.name)
    return [int(x) for x in out.split()]


# ---- pipe mode ---------------------------------------------------------------

def test_pipe(model, tmp):
    N = 24
    q1, q2 = "write a function that adds two numbers", "now make it multiply"
    save = os.path.join(tmp, "conv.json")
    r = testlib.run([WAFER, "chat", "-m", model, "--temp", "0", "-n", str(N), "--save", save],
                    input=(q1 + "\n" + q2 + "\n").encode(), timeout=60)
    err = r.stderr.decode("utf-8", "replace")
    check(r.returncode == 0, f"pipe chat exits 0 (got {r.returncode})")
    if r.returncode != 0:
        print(err[-2000:])
    t = timings(err)
    check(len(t) == 2, f"two timings lines (got {len(t)})")
    conv = json.load(open(save))
    check([m["role"] for m in conv] == ["user", "assistant", "user", "assistant"],
          "--save: user, assistant, user, assistant")
    a1, a2 = conv[1]["content"], conv[3]["content"]
    check(r.stdout.decode() == a1 + "\n" + a2 + "\n", "stdout is the two answers, one newline after each")

    # turn 1 against wafer template + wafer run
    msgs1 = os.path.join(tmp, "m1.json")
    json.dump([{"role": "user", "content": q1}], open(msgs1, "w"))
    p1, _ = wafer_ok("template", "-m", model, "--messages", msgs1)
    expect = ("<|im_start|>user\n" + q1 + "<|im_end|>\n<|im_start|>assistant\n").encode()
    check(p1 == expect, "wafer template renders the ChatML written here")
    pf = os.path.join(tmp, "p1.txt")
    open(pf, "wb").write(p1)
    ref1, _ = wafer_ok("run", "-m", model, "-f", pf, "--no-special", "--temp", "0", "-n", N, "-q")
    check(ref1.decode() == a1, f"turn 1 answer == wafer run on the rendered prompt ({len(a1)} bytes)")
    ids1, _ = wafer_ok("run", "-m", model, "-f", pf, "--no-special", "--temp", "0", "-n", N, "-q", "--print-ids")
    ans_ids = [int(x) for x in ids1.split()]
    pids1 = ids_of(model, p1.decode())
    check(t and t[0]["prompt"] == len(pids1), f"turn 1 prompt tokens {t[0]['prompt'] if t else None} == {len(pids1)}")

    # turn 2: prompt 1 ids + answer ids + the rest of the re-rendered conversation
    msgs2 = os.path.join(tmp, "m2.json")
    json.dump([{"role": "user", "content": q1}, {"role": "assistant", "content": a1},
               {"role": "user", "content": q2}], open(msgs2, "w"))
    p2, _ = wafer_ok("template", "-m", model, "--messages", msgs2)
    base = p1 + a1.encode()
    check(p2.startswith(base), "the re-rendered conversation starts with prompt 1 + answer 1")
    ids2 = pids1 + ans_ids + ids_of(model, p2[len(base):].decode())
    ref2, _ = wafer_ok("run", "-m", model, "--ids", " ".join(map(str, ids2)), "--temp", "0", "-n", N, "-q")
    check(ref2.decode() == a2, "turn 2 answer == wafer run --ids on prompt 1 + answer 1 ids + the new turn")
    if len(t) == 2:
        check(t[1]["prompt"] == len(ids2), f"turn 2 prompt tokens {t[1]['prompt']} == {len(ids2)}")
        need = len(pids1) + len(ans_ids) - 1
        check(t[1]["cached"] >= need, f"turn 2 cached {t[1]['cached']} >= {need} (prompt 1 + answer 1 - 1)")
        print(f"     turn 2: {t[1]['cached']} cached, {t[1]['new']} new tokens")

    # a template that renders earlier turns differently (it marks the last
    # user message): a note, and turn 2 is the plain tokenization of the
    # whole rendered conversation (checked with wafer template + wafer run)
    tf = os.path.join(tmp, "last.jinja")
    open(tf, "w").write("{% for m in messages %}<|im_start|>{{ m.role }}\n"
                        "{% if loop.last and m.role == 'user' %}LAST {% endif %}{{ m.content }}<|im_end|>\n"
                        "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    r3 = testlib.run([WAFER, "chat", "-m", model, "--chat-template", tf, "--temp", "0", "-n", str(N),
                      "--save", save], input=(q1 + "\n" + q2 + "\n").encode(), timeout=60)
    err3 = r3.stderr.decode("utf-8", "replace")
    check(r3.returncode == 0 and "renders earlier turns differently" in err3, "re-rendering template: a note")
    conv = json.load(open(save))
    json.dump(conv[:3], open(msgs2, "w"))
    p3, _ = wafer_ok("template", "--chat-template", tf, "--messages", msgs2)
    open(pf, "wb").write(p3)
    ref3, _ = wafer_ok("run", "-m", model, "-f", pf, "--no-special", "--temp", "0", "-n", N, "-q")
    check(len(conv) == 4 and conv[3]["content"] == ref3.decode(),
          "re-rendering template: turn 2 == wafer run on the whole re-rendered conversation")
    t3 = timings(err3)
    first_diff = len(ids_of(model, "<|im_start|>user\n"))
    check(len(t3) == 2 and t3[1]["cached"] == first_diff,
          f"re-rendering template: turn 2 reuses the tokens before the difference ({t3[1]['cached'] if len(t3) == 2 else None} == {first_diff})")

    # speculative decoding changes nothing at temperature 0
    for spec in ("lookup", "draft:" + model):
        r2 = testlib.run([WAFER, "chat", "-m", model, "--temp", "0", "-n", str(N), "--spec", spec],
                         input=(q1 + "\n" + q2 + "\n").encode(), timeout=60)
        check(r2.returncode == 0 and r2.stdout == r.stdout, f"--spec {spec.split(':')[0]}: the same answers")

    # --once: the whole stdin is one message (two lines)
    out, err = wafer_ok("chat", "-m", model, "--temp", "0", "-n", 8, "--once", "--save", save,
                        input=b"line one\nline two\n")
    conv = json.load(open(save))
    check(len(conv) == 2 and conv[0]["content"] == "line one\nline two\n", "--once: one user message")


# ---- a pseudo-terminal -------------------------------------------------------

class Term:
    """wafer chat on a pty: stdin, stdout and stderr are the terminal"""

    def __init__(self, args):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.environ["TERM"] = "xterm"
            os.execv(WAFER, [WAFER, *args])
        self.out = b""
        self.status = None

    def read(self, t=0.05):
        end = time.time() + t
        while True:
            left = end - time.time()
            r, _, _ = select.select([self.fd], [], [], max(left, 0))
            if r:
                try:
                    data = os.read(self.fd, 65536)
                except OSError:
                    return False
                if not data:
                    return False
                self.out += data
            elif left <= 0:
                return True

    def wait_for(self, pattern, start=0, timeout=10.0):
        """time until pattern (bytes regex) appears after offset start, or None"""
        t0 = time.time()
        rx = re.compile(pattern)
        while time.time() - t0 < timeout:
            m = rx.search(self.out, start)
            if m:
                return m
            if not self.read(0.02):
                m = rx.search(self.out, start)
                return m
        return None

    def wait_bytes(self, n, start, timeout=10.0):
        """wait until n bytes arrived after offset start"""
        t0 = time.time()
        while time.time() - t0 < timeout and len(self.out) - start < n:
            if not self.read(0.02):
                break
        return len(self.out) - start >= n

    def send(self, b):
        os.write(self.fd, b)

    def wait_exit(self, timeout=5.0):
        t0 = time.time()
        while time.time() - t0 < timeout:
            self.read(0.05)
            pid, st = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(st)
                return self.status
        return None

    def close(self):
        if self.status is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except OSError:
                pass
        os.close(self.fd)


PROMPT = rb"(^|\n)> "
AFTER = rb"stopped: [a-z ]+\r?\n> "  # the prompt after an answer's timings


def test_tty(model, tmp):
    save = os.path.join(tmp, "tty.json")
    T = Term(["chat", "-m", model, "-c", "8192", "-t", "1", "--temp", "0.7", "--save", save])
    try:
        check(T.wait_for(PROMPT, timeout=20) is not None, "tty: the prompt appears")

        # 1. streaming, then Ctrl-C mid-answer
        at = len(T.out)
        T.send(b"tell me a long story\r")
        m = T.wait_for(rb"story\r\n", at)
        first = T.wait_bytes(200, m.end() if m else at)
        check(first, "tty: the answer streams (200 bytes seen)")
        alive = T.wait_for(rb"\[wafer\] prompt", at, timeout=0.1) is None
        check(alive, "tty: the answer is still streaming when Ctrl-C is sent")
        t0 = time.time()
        at2 = len(T.out)
        T.send(b"\x03")
        st = T.wait_for(rb"stopped: (\w+)", at2, timeout=5)
        back = T.wait_for(AFTER, at2, timeout=5)
        dt = time.time() - t0
        check(st is not None and st.group(1) == b"interrupted", f"tty: Ctrl-C stops the answer ({st.group(1) if st else None})")
        check(back is not None and dt < 2.0, f"tty: back at the prompt {dt*1000:.0f} ms after Ctrl-C")
        t1 = timings(T.out[at:].decode("utf-8", "replace"))

        # 2. the next turn reuses the conversation; -n is unlimited, so Ctrl-C again
        at = len(T.out)
        T.send(b"and another one\r")
        T.wait_bytes(100, at)
        T.send(b"\r")  # Enter alone does not redirect
        check(T.wait_for(rb"stopped:", at, timeout=0.2) is None, "tty: Enter on an empty line does not stop the answer")
        T.send(b"\x03")
        T.wait_for(AFTER, at, timeout=5)
        t2 = timings(T.out[at:].decode("utf-8", "replace"))
        ok = t1 and t2 and t2[0]["cached"] >= t1[0]["prompt"] + t1[0]["gen"] - 1
        check(bool(ok), "tty: turn 2 cached %s >= turn 1 prompt + partial answer - 1 (%s)" %
              (t2[0]["cached"] if t2 else None, t1[0]["prompt"] + t1[0]["gen"] - 1 if t1 else None))
        conv = json.load(open(save))
        check([m["role"] for m in conv] == ["user", "assistant", "user", "assistant"]
              and len(conv[1]["content"]) > 0, "tty: the partial answer is kept as the assistant's turn")

        # 3. redirect: type a new instruction while the answer streams
        at = len(T.out)
        T.send(b"write a poem\r")
        T.wait_bytes(100, at)
        t0 = time.time()
        T.send(b"no, a haiku\r")
        st = T.wait_for(rb"stopped: (\w+)", at, timeout=5)
        dt = time.time() - t0
        check(st is not None and st.group(1) == b"redirected", f"tty: typing + Enter redirects ({dt*1000:.0f} ms)")
        # the new answer starts; stop it
        at3 = st.end() if st else at
        check(T.wait_bytes(50, at3), "tty: a new answer starts")
        T.send(b"\x03")
        T.wait_for(AFTER, at3, timeout=5)
        tr = timings(T.out[at:].decode("utf-8", "replace"))
        check(len(tr) == 2 and tr[1]["cached"] >= tr[0]["prompt"] + tr[0]["gen"] - 1,
              "tty: the redirected turn reuses the cache (%s)" % ([(x["cached"], x["prompt"], x["gen"]) for x in tr]))
        conv = json.load(open(save))
        roles = [m["role"] for m in conv]
        check(roles[4:] == ["user", "assistant", "user", "assistant"] and conv[4]["content"] == "write a poem"
              and conv[6]["content"] == "no, a haiku" and len(conv[5]["content"]) > 0,
              "tty: after a redirect: user, assistant (partial), user (the redirect), assistant")

        # 4. history: the up arrow brings back the last line typed at the prompt
        at = len(T.out)
        T.send(b"\x1b[A")
        check(T.wait_for(rb"write a poem", at, timeout=3) is not None, "tty: up arrow recalls history")
        T.send(b"\x03")  # Ctrl-C with text on the line: a fresh prompt, no exit
        check(T.wait_for(PROMPT, at, timeout=3) is not None and T.wait_exit(0.3) is None,
              "tty: Ctrl-C on an edited line gives a fresh prompt")

        # 5. Ctrl-C at the empty prompt exits with 0
        T.send(b"\x03")
        code = T.wait_exit(5)
        check(code == 0, f"tty: Ctrl-C at the empty prompt exits 0 (got {code})")
    finally:
        T.close()

    # Ctrl-D exits with 0
    T = Term(["chat", "-m", model, "-c", "1024", "-n", "8", "--temp", "0"])
    try:
        T.wait_for(PROMPT, timeout=20)
        at = len(T.out)
        T.send(b"hi\r")
        check(T.wait_for(rb"stopped: length", at, timeout=10) is not None, "tty: -n ends an answer")
        T.wait_for(AFTER, at, timeout=5)
        T.send(b"\x04")
        code = T.wait_exit(5)
        check(code == 0, f"tty: Ctrl-D exits 0 (got {code})")
    finally:
        T.close()


def main():
    testlib.need_wafer()
    tmp = tempfile.mkdtemp(prefix="wf_chat_")
    model = os.path.join(tmp, "chat.gguf")
    # big enough that an unlimited answer takes seconds to fill the context
    cfg = dict(make_model.BASE, n_embd=384, n_head=6, n_kv=2, hd=64, n_ff=1024, n_layer=6,
               n_vocab=400, n_ctx=8192)
    make_chat_model(model, cfg)
    test_pipe(model, tmp)
    test_tty(model, tmp)
    return testlib.summary("test_chat")


if __name__ == "__main__":
    sys.exit(main())
