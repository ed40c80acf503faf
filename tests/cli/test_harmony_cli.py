#!/usr/bin/python3
"""test_harmony_cli.py — `wafer chat` and `wafer run` with a model that
answers in gpt-oss's harmony channels (the bigram chain models of
tests/serve/test_harmony_server.py: a reasoning message, then "Hello world!"
on the final channel, or a read_file tool call). Checks:
 - chat (pipe): stdout is the answer alone, the reasoning goes to stderr
   (--reasoning show), nowhere (hide), or the markup is printed as written
   (raw); no marker text otherwise;
 - the history: --save writes the answer as the assistant's content and the
   reasoning as reasoning_content / thinking; the second turn's prompt has
   as many tokens as Debian's python3-jinja2 rendering of the expected
   conversation with the model's own template (its text tokenized by
   `wafer tokenize --parse-special`), and not as many as the conversation
   with the raw markup kept as content;
 - run: the same split; a tool call shown as such; on a pseudo-terminal the
   reasoning dimmed (SGR 2) before the answer;
 - a bad --reasoning value: exit 2 and a message; --reasoning with a model
   that does not write harmony (no <|channel|> in its template, not gpt-oss):
   a note, the output as it is.
"""
import json
import os
import pty
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "serve"))

import test_harmony_server as H  # noqa: E402
import testlib as T  # noqa: E402
from testlib import check  # noqa: E402

MARKERS = H.MARKERS
ANSWER = "Hello world!"


def chat(model, text, *args):
    return T.wafer("chat", "-m", model, "--temp", "0", *args, input=text.encode(), text=True)


def prompt_tokens(stderr):
    return [int(x) for x in re.findall(r"\[wafer\] prompt (\d+) tokens", stderr)]


def n_tokens(model, tmp, text):
    p = os.path.join(tmp, "ref.txt")
    with open(p, "w", encoding="utf-8") as f:
        f.write(text)
    rc, out, err = T.wafer("tokenize", "-m", model, "--parse-special", "-f", p, text=True)
    return len(out.split()) if rc == 0 else -1


def chat_checks(a, b, tmp):
    rc, out, err = chat(a, "Say hello.\n", "-q")
    check(rc == 0 and out == ANSWER + "\n", "chat: stdout is the answer alone (%d %r)" % (rc, out))
    check(H.REASONING_A in err and not any(m in out + err for m in MARKERS),
          "chat: the reasoning on stderr, no marker text (%r)" % err)
    rc, out, err = chat(a, "Say hello.\n", "-q", "--reasoning", "hide")
    check(rc == 0 and out == ANSWER + "\n" and H.REASONING_A not in out + err, "chat --reasoning hide (%r %r)" % (out, err))
    rc, out, err = chat(a, "Say hello.\n", "-q", "--reasoning", "raw")
    check(rc == 0 and out.startswith("<|channel|>analysis<|message|>" + H.REASONING_A + "<|end|>") and
          out.rstrip("\n").endswith("<|channel|>final<|message|>" + ANSWER), "chat --reasoning raw: the markup (%r)" % out)

    # the history: what --save writes, and the second turn's prompt
    save = os.path.join(tmp, "conv.json")
    rc, out, err = chat(a, "Say hello.\nAgain.\n", "--save", save)
    turn = {"role": "assistant", "content": ANSWER, "reasoning_content": H.REASONING_A, "thinking": H.REASONING_A}
    want = [{"role": "user", "content": "Say hello."}, turn, {"role": "user", "content": "Again."}, turn]
    got = json.load(open(save, encoding="utf-8")) if os.path.exists(save) else None
    check(rc == 0 and got == want, "chat --save: the answer as content, the reasoning apart (%s)" % got)
    tmpl = open(os.path.join(H.SRC, "tests", "chat", "harmony.jinja"), encoding="utf-8").read()
    ref = H.jinja_render(tmpl, want[:3])
    raw_turn = {"role": "assistant", "content": "<|channel|>analysis<|message|>%s<|end|><|start|>assistant<|channel|>"
                "final<|message|>%s" % (H.REASONING_A, ANSWER)}
    bad = H.jinja_render(tmpl, [want[0], raw_turn, want[2]])
    pts = prompt_tokens(err)
    n_ref, n_bad = n_tokens(a, tmp, ref), n_tokens(a, tmp, bad)
    check(len(pts) == 2 and pts[1] == n_ref and n_ref != n_bad,
          "chat: turn 2's prompt is the jinja2 rendering of the expected history (%s; jinja2 %d; markup kept %d)" %
          (pts, n_ref, n_bad))

    rc, out, err = chat(b, "Look at a.c\n", "-q")
    check(rc == 0 and '[tool call read_file: {"path": "a.c"}]' in out and H.REASONING_B in err,
          "chat: a tool call shown as such (%r)" % out)


def plain_checks(tmp):
    p = os.path.join(tmp, "plain.gguf")
    H.make_harmony_chain(p, H.ANSWER_A, template="{% for m in messages %}{{ m.content }}{% endfor %}")
    rc, out, err = T.wafer("run", "-m", p, "-p", "t", "--temp", "0", "--reasoning", "hide", text=True)
    check(rc == 0 and out.startswith("<|channel|>analysis") and "--reasoning applies to models that answer in harmony" in err,
          "run: --reasoning on a model without harmony: a note, the text as it is (%r %r)" % (out[:60], err[:200]))
    rc, out, err = chat(p, "x\n", "--reasoning", "hide")
    check(rc == 0 and "--reasoning applies to models that answer in harmony" in err, "chat: the same note (%r)" % err[:200])


def run_checks(a, b):
    base = ("run", "-m", a, "-p", "<|start|>assistant", "-q", "--temp", "0")
    rc, out, err = T.wafer(*base, text=True)
    check(rc == 0 and out == ANSWER and H.REASONING_A in err and not any(m in out + err for m in MARKERS),
          "run: the answer on stdout, the reasoning on stderr (%r / %r)" % (out, err))
    rc, out, err = T.wafer(*base, "--reasoning", "hide", text=True)
    check(rc == 0 and out == ANSWER and H.REASONING_A not in err, "run --reasoning hide (%r)" % out)
    rc, out, err = T.wafer(*base, "--reasoning", "raw", text=True)
    check(rc == 0 and out == "<|channel|>analysis<|message|>%s<|end|><|start|>assistant<|channel|>final<|message|>%s" %
          (H.REASONING_A, ANSWER), "run --reasoning raw: the markup (%r)" % out)
    rc, out, err = T.wafer("run", "-m", b, "-p", "<|start|>assistant", "-q", "--temp", "0", text=True)
    check(rc == 0 and out == '[tool call read_file: {"path": "a.c"}]\n', "run: a tool call (%r)" % out)
    rc, out, err = T.wafer(*base, "--reasoning", "loud", text=True)
    check(rc == 2 and "--reasoning takes show, hide or raw" in err, "run: a bad --reasoning value (%d %r)" % (rc, err))
    rc, out, err = chat(a, "x\n", "--reasoning")
    check(rc == 2 and "--reasoning" in err, "chat: --reasoning without a value (%d %r)" % (rc, err))

    # on a terminal: the reasoning dimmed, then the answer
    master, slave = pty.openpty()
    p = subprocess.Popen([T.WAFER, *base], stdout=slave, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    os.close(slave)
    buf = b""
    while True:
        try:
            d = os.read(master, 4096)
        except OSError:
            break
        if not d:
            break
        buf += d
    p.wait(timeout=60)
    os.close(master)
    s = buf.decode("utf-8", "replace").replace("\r\n", "\n")
    check(p.returncode == 0 and s == "\x1b[2m%s\x1b[0m\n\n%s" % (H.REASONING_A, ANSWER),
          "run on a terminal: dimmed reasoning, then the answer (%r)" % s)


def main():
    T.need_wafer()
    tmp = tempfile.mkdtemp(prefix="wf_harmony_cli_")
    a, b = os.path.join(tmp, "answer.gguf"), os.path.join(tmp, "tool.gguf")
    H.make_harmony_chain(a, H.ANSWER_A)
    H.make_harmony_chain(b, H.ANSWER_B)
    chat_checks(a, b, tmp)
    run_checks(a, b)
    plain_checks(tmp)
    return T.summary("test_harmony_cli")


if __name__ == "__main__":
    sys.exit(main())
