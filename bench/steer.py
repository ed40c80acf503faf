#!/usr/bin/python3
"""steer.py — what steering a coding agent costs on `wafer serve`.

A user interrupts an agent: the client aborts the stream and sends the
transcript again with a new instruction (Codex CLI sends the whole input
every turn). With the prefix cache the steered request should compute only
its new tokens. This measures the time to the first output token (TTFT,
first response.output_text.delta) of

  cold     a 10k-token Codex-shaped context (instructions + developer
           message + user turns + function_call / function_call_output
           items) never seen before (a nonce at its start), and
  steered  the same context after a request on it was aborted mid-answer,
           plus one new user message,

side by side in rounds, on a Qwen2.5-Coder-0.5B-shaped Q8_0 model
(bench_mkmodel, random weights, placeholder byte-level vocabulary: 1 byte =
1 token). Medians and the ratio are printed.

  bench/steer.py [--build build] [--rounds 3] [--tokens 10000] [-t 2]
"""
import argparse
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time


def codex_context(n_bytes, nonce):
    """Input items shaped like a Codex CLI session, about n_bytes long."""
    instr = ("You are a coding agent running in a terminal. Keep going until the task is done. "
             "Use the tools to read and edit files; prefer small, reviewable patches. ") * 8
    items = [{"type": "message", "role": "developer",
              "content": [{"type": "input_text", "text": "<permissions>sandbox: workspace-write; approvals: on-request</permissions>"}]},
             {"type": "message", "role": "user",
              "content": [{"type": "input_text", "text": "<environment_context>cwd: /src/proj shell: bash</environment_context>"}]},
             {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Fix the failing test in parser.c"}]}]
    i = 0
    body = "static int parse_expr(struct parser *p, int prec) {\n    struct token t = next(p);\n    return t.kind;\n}\n"
    while len(json.dumps(items)) + len(instr) < n_bytes:
        cid = "call_%d" % i
        items.append({"type": "function_call", "call_id": cid, "name": "shell",
                      "arguments": json.dumps({"command": ["sed", "-n", "%d,%dp" % (i * 40, i * 40 + 40), "src/parser.c"]})})
        items.append({"type": "function_call_output", "call_id": cid, "output": body * 6})
        i += 1
    return "[%s] %s" % (nonce, instr), items


def post_stream(port, body, abort_after=None):
    """Stream a /v1/responses request; return (ttft seconds, usage or None)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    t0 = time.time()
    c.request("POST", "/v1/responses", body=json.dumps(body), headers={"Content-Type": "application/json"})
    r = c.getresponse()
    ttft, n_delta, buf, usage = None, 0, b"", None
    while True:
        chunk = r.read1(65536)
        if not chunk:
            break
        buf += chunk
        while b"\n\n" in buf:
            ev, buf = buf.split(b"\n\n", 1)
            if b"response.output_text.delta" in ev:
                n_delta += 1
                if ttft is None:
                    ttft = time.time() - t0
                if abort_after and n_delta >= abort_after:
                    c.close()  # the user interrupts: the client drops the stream
                    return ttft, None
            m = re.search(rb"^data: (.*)$", ev, re.M)
            if m and (b"response.completed" in ev or b"response.incomplete" in ev):
                usage = json.loads(m.group(1))["response"]["usage"]
    c.close()
    return ttft, usage


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--tokens", type=int, default=10000)
    ap.add_argument("-t", "--threads", type=int, default=2)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="wf_steer_")
    model = os.path.join(tmp, "q05.gguf")
    subprocess.run([os.path.join(a.build, "bench", "bench_mkmodel"), "--preset", "qwen2.5-coder-0.5b", "--type", "q8_0",
                    "--dummy-vocab", model], check=True, stdout=subprocess.DEVNULL)
    srv = subprocess.Popen([os.path.join(a.build, "wafer"), "serve", "-m", model, "--port", "0", "-t", str(a.threads),
                            "-c", "16384", "--parallel", "1", "--no-ui", "--timeout", "3600"], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    port = None
    for line in srv.stderr:
        m = re.search(rb"listening on http://[^ ]*:(\d+)", line)
        if m:
            port = int(m.group(1))
            break
    cold, steered, cached = [], [], []
    try:
        for rnd in range(a.rounds):
            instr, items = codex_context(a.tokens, "session %d %f" % (rnd, time.time()))
            base = {"model": "m", "instructions": instr, "input": items, "stream": True, "store": False,
                    "temperature": 0, "max_output_tokens": 8}
            t_cold, u = post_stream(port, base)
            cold.append(t_cold)
            n_prompt = u["input_tokens"] if u else None
            # the agent answers again on the same context; the user interrupts
            post_stream(port, dict(base, max_output_tokens=200), abort_after=3)
            steer = dict(base, input=items + [{"type": "message", "role": "user",
                                               "content": [{"type": "input_text", "text": "Stop. Use a hash map instead."}]}])
            t_steer, u2 = post_stream(port, steer)
            steered.append(t_steer)
            cached.append((u2["input_tokens_details"]["cached_tokens"], u2["input_tokens"]) if u2 else None)
            print("round %d: prompt %s tokens, cold TTFT %.0f ms, steered TTFT %.0f ms (cached %s)" %
                  (rnd + 1, n_prompt, t_cold * 1000, t_steer * 1000, cached[-1]), flush=True)
    finally:
        srv.terminate()
        srv.wait()
    mc, ms = statistics.median(cold), statistics.median(steered)
    print("median cold TTFT %.0f ms, steered TTFT %.0f ms: %.1fx" % (mc * 1000, ms * 1000, mc / ms))


if __name__ == "__main__":
    sys.exit(main())
