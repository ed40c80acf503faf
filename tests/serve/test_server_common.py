"""test_server_common.py — shared by the `wafer serve` tests: a synthetic
model with a chat template and FIM tokens, and a server process started on
a free port and always stopped.

The model: tests/ref/make_model.py's random weights with a byte-level
vocabulary plus ChatML and Qwen-style FIM control tokens; the ChatML
template text is written here from the ChatML description. The output rows
of every token but printable ASCII and newline are zeroed: the random model
never ends a turn by itself (answers run to max_tokens, a stop string or a
cancel) and its text is plain ASCII, whose bytes are its token ids (the
vocabulary has no merges), so texts and ids can be checked independently."""
import http.client
import json
import os
import re
import signal
import subprocess
import threading
import time

import numpy as np

import gguf_py as G
import make_model

WAFER = os.environ.get("WAFER")
SRC = os.environ.get("WAFER_SRC", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
# lines of a sanitizer report seen in any server's stderr (an ASan build of
# wafer run under these tests); the tests fail when there are any
SANITIZER_REPORTS = []

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|fim_prefix|>", "<|fim_middle|>",
            "<|fim_suffix|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>"]
CHATML = ("{% for message in messages %}"
          "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
          "{% endfor %}"
          "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")


def special_id(name):
    return 256 + SPECIALS.index(name)


def _vocab_kv(w, n_vocab):
    make_model.special_vocab_kv(w, n_vocab, SPECIALS, special_id("<|endoftext|>"), chat_template=CHATML)


def make_server_model(path, big=False):
    """big: slow enough (a few ms per token) that cancellation is observable."""
    if big:
        cfg = dict(make_model.BASE, n_embd=384, n_head=6, n_kv=2, hd=64, n_ff=1024, n_layer=6,
                   n_vocab=400, n_ctx=4096)
    else:
        cfg = dict(make_model.BASE, n_vocab=300, n_ctx=2048)
    orig_vocab, orig_add = make_model.vocab_kv, G.GGUFWriter.add_tensor
    V = cfg["n_vocab"]

    def add_tensor(self, name, data, *a, **k):
        if name == "output.weight":
            data = np.array(data)
            keep = np.zeros(V, dtype=bool)
            keep[32:127] = True
            keep[10] = True
            data[~keep] = 0
        return orig_add(self, name, data, *a, **k)
    make_model.vocab_kv, G.GGUFWriter.add_tensor = _vocab_kv, add_tensor
    try:
        make_model.make(path, cfg, wtype="f16" if big else "f32", seed=4321)
    finally:
        make_model.vocab_kv, G.GGUFWriter.add_tensor = orig_vocab, orig_add
    return cfg


class Server:
    """`wafer serve` on a free port; stop() (or the context manager) kills it."""

    def __init__(self, model, *args, timeout=30):
        self.log = []
        cmd = [WAFER, "serve", "-m", model, "--port", "0", "-t", "1", *map(str, args)]
        self.p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.port = None
        t_end = time.time() + timeout
        while time.time() < t_end:
            line = self.p.stderr.readline()
            if not line:
                break
            line = line.decode("utf-8", "replace").rstrip("\n")
            self.log.append(line)
            m = re.search(r"listening on http://[^ ]*:(\d+)", line)
            if m:
                self.port = int(m.group(1))
                break
        if self.port is None:
            self.stop()
            raise RuntimeError("wafer serve did not start: " + "\n".join(self.log))
        self._t = threading.Thread(target=self._drain, daemon=True)
        self._t.start()

    def _drain(self):
        for line in self.p.stderr:
            self.log.append(line.decode("utf-8", "replace").rstrip("\n"))

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def request(self, method, path, body=None, headers=None, timeout=60, raw=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        out = r.read()
        c.close()
        try:
            j = json.loads(out)
        except ValueError:
            j = None
        return r.status, j, out, dict(r.getheaders())

    def metrics(self):
        st, _, out, _ = self.request("GET", "/metrics")
        vals = {}
        for line in out.decode().splitlines():
            if line and not line.startswith("#"):
                k, v = line.rsplit(" ", 1)
                vals[k] = float(v)
        return vals

    def wait_busy(self, timeout=20):
        """Until a slot runs a request (a fixed sleep lost the race on a loaded machine)."""
        end = time.time() + timeout
        while time.time() < end:
            if self.metrics().get("wafer_slots_busy", 0) >= 1:
                return True
            time.sleep(0.01)
        return False

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self._t.join(5) if hasattr(self, "_t") else None
        bad = [l for l in self.log if "Sanitizer" in l or "runtime error:" in l]
        if bad:
            SANITIZER_REPORTS.extend(bad)
            print("\n".join(self.log[-80:]))
        return self.p.returncode

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.stop()


def sse_events(resp_bytes):
    """The data payloads of an SSE body, in order."""
    out = []
    for block in resp_bytes.decode("utf-8").split("\n\n"):
        if not block.strip():
            continue
        for line in block.split("\n"):
            if line.startswith("data: "):
                out.append(line[6:])
    return out


# ---- a model that answers a tool call ---------------------------------------

TOOL_PIECES = ["Let me check.\n", "<tool_call>\n", '{"name": "read_file", "arguments": {"path": "a.c"}}',
               "\n</tool_call>"]
TOOL_ANSWER = "".join(TOOL_PIECES)


def make_tool_model(path):
    """A bigram model whose greedy answer after a ChatML prompt is
    TOOL_ANSWER (make_chain_model): a Hermes/Qwen-style tool call to parse."""
    make_chain_model(path, TOOL_PIECES)


def write_chain_weights(path, cfg, vocab, chain, seed):
    """Write make_model's model with vocab(w, n_vocab) as its vocabulary and
    the weights of a bigram chain: attention and FFN outputs zeroed (the last
    hidden state is the current token's embedding), the output norm ones, and
    each output row chain[i+1] set to 2 x the unit embedding of chain[i], so
    greedy decoding from chain[0] walks the chain."""
    orig_vocab, orig_add = make_model.vocab_kv, G.GGUFWriter.add_tensor
    emb = {}

    def add_tensor(self, name, data, *a, **k):
        if name == "token_embd.weight":
            emb["w"] = np.array(data, dtype=np.float64)
        elif name == "output_norm.weight":
            data = np.ones_like(np.array(data))
        elif name.endswith("attn_output.weight") or name.endswith("ffn_down.weight"):
            data = np.zeros_like(np.array(data))
        elif name == "output.weight":
            data = np.array(data)
            for prev, nxt in zip(chain, chain[1:]):
                e = emb["w"][prev]
                data[nxt] = (2.0 * e / np.linalg.norm(e)).astype(data.dtype)
        return orig_add(self, name, data, *a, **k)
    make_model.vocab_kv, G.GGUFWriter.add_tensor = vocab, add_tensor
    try:
        make_model.make(path, cfg, wtype="f32", seed=seed)
    finally:
        make_model.vocab_kv, G.GGUFWriter.add_tensor = orig_vocab, orig_add


def make_chain_model(path, pieces, n_ctx=1024, **shape):
    """A bigram model (attention and FFN outputs zeroed, so the last hidden
    state is the current token's embedding) whose greedy answer after a
    ChatML prompt ("...assistant\\n") is the pieces, one vocabulary token per
    piece, then <|endoftext|>. shape: make_model config overrides (a smaller
    model prefills agents' long prompts faster)."""
    cfg = dict(make_model.BASE, n_vocab=300, n_ctx=n_ctx, **shape)
    table = make_model.byte_tokens()
    first = 256 + len(SPECIALS)
    chain = [10] + list(range(first, first + len(pieces))) + [special_id("<|endoftext|>")]

    def vocab(w, n_vocab):
        texts = ["".join(table[b] for b in p.encode()) for p in pieces]
        make_model.special_vocab_kv(w, n_vocab, SPECIALS, special_id("<|endoftext|>"), extra=texts,
                                    chat_template=CHATML)

    write_chain_weights(path, cfg, vocab, chain, seed=99)
