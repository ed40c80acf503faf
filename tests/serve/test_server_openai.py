#!/usr/bin/python3
"""test_server_openai.py — `wafer serve` with the official OpenAI SDK for
JavaScript (npm `openai`, version pinned by tests/server-node/package.json
and package-lock.json) as the client: tests/serve/test_server_openai.mjs.

Setup: the package is installed with `npm ci` into WAFER_BUILD/server-node
(the source tree stays clean), under a lock so parallel ctest runs do not
race. No node/npm, or an install that fails (no registry access) -> exit 77
(skipped) with the reason. Three servers: the small model (plain), the same
with --api-key, and the slower model with --parallel 1 --queue 0 (abort and
429), and a model whose answer is a tool call. The greedy chat answer the SDK received is checked against the numpy
reference here (tests/ref/forward_np.py)."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import forward_np
import test_server_common as C
import testlib as T
from testlib import check, skip

T.print_ok = True

SRC = os.environ.get("WAFER_SRC", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BUILD = os.environ.get("WAFER_BUILD", tempfile.gettempdir())


def ensure_node():
    node = shutil.which("node")
    if not node:
        skip("node is not installed (apt-get install nodejs npm)")
    d = T.npm_folder("server-node")
    shutil.copyfile(os.path.join(SRC, "tests", "serve", "test_server_openai.mjs"), os.path.join(d, "test_server_openai.mjs"))
    have = lambda: os.path.isfile(os.path.join(d, "node_modules", "openai", "package.json"))
    T.npm_install(d, have, ["ci", "--no-audit", "--no-fund", "--ignore-scripts"], "the openai SDK",
                  "wafer-tests-server-node.lock")
    return node, d


def main():
    T.need_wafer()
    node, d = ensure_node()
    tmp = tempfile.mkdtemp(prefix="wf_server_oai_")
    small, big = os.path.join(tmp, "small.gguf"), os.path.join(tmp, "big.gguf")
    C.make_server_model(small)
    C.make_server_model(big, big=True)
    tool = os.path.join(tmp, "tool.gguf")
    C.make_tool_model(tool)
    key = "sk-wafer-test-0123456789"
    with C.Server(small, "--kv", "f32") as main_s, C.Server(small, "--api-key", key) as auth_s, \
            C.Server(big, "--parallel", "1", "--queue", "0") as busy_s, C.Server(tool) as tool_s:
        try:
            r = T.run([node, os.path.join(d, "test_server_openai.mjs"), main_s.url, auth_s.url, key, busy_s.url,
                       tool_s.url], cwd=d, text=True, timeout=150)
        except subprocess.TimeoutExpired as e:
            print((e.stdout or b"")[-3000:] if isinstance(e.stdout, bytes) else e.stdout)
            T.fail("the SDK script timed out")
            return T.summary("test_server_openai")
    print(r.stdout)
    if r.stderr.strip():
        print(r.stderr[-3000:])
    results = {}
    for line in r.stdout.splitlines():
        if line.startswith("RESULT "):
            o = json.loads(line[7:])
            results[o["name"]] = o["value"]
    check(r.returncode == 0, "the SDK script's checks pass (exit %d)" % r.returncode)
    # the SDK's greedy chat answer against the numpy reference
    chat = results.get("chat")
    if not check(chat, "a chat result from the SDK script"):
        return T.summary("test_server_openai")
    msgs = [("system", "You are terse."), ("user", "Write a function.")]
    ids = []
    im_s, im_e = C.special_id("<|im_start|>"), C.special_id("<|im_end|>")
    for role, content in msgs:
        ids += [im_s] + list((role + "\n" + content).encode()) + [im_e] + [10]
    ids += [im_s] + list(b"assistant\n")
    gen = list(chat["content"].encode())
    logits = forward_np.forward(forward_np.Model(small), ids + gen)
    gaps = [float(logits[len(ids) - 1 + i].max() - logits[len(ids) - 1 + i][t]) for i, t in enumerate(gen)]
    ok = chat["usage"]["prompt_tokens"] == len(ids) and max(gaps) <= 2e-3
    check(ok, f"SDK chat answer == numpy greedy on the ChatML prompt (gap {max(gaps):.2g}, prompt {len(ids)})")
    check(not C.SANITIZER_REPORTS, "no sanitizer reports from the servers")
    if "abort" in results:
        print(f"     abort -> slot free in {results['abort']['slot_free_ms']} ms, {results['abort']['generated']} tokens generated")
    return T.summary("test_server_openai")


if __name__ == "__main__":
    sys.exit(main())
