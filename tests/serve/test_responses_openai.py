#!/usr/bin/python3
"""test_responses_openai.py — `wafer serve`'s Responses API with the official
OpenAI SDK for JavaScript (npm `openai`, pinned by tests/server-node's
package.json and package-lock.json) as the client:
tests/serve/test_responses_openai.mjs (plain, streamed event order, function
call + function_call_output, previous_response_id with cached tokens,
retrieve/delete, a 400, cancel). The SDK's plain answer is checked against
the numpy reference here. No node/npm or no install -> exit 77 (skipped)."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import forward_np
import test_server_common as C
import test_server_openai as O
import testlib as T
from testlib import check

T.print_ok = True


def main():
    T.need_wafer()
    node, d = O.ensure_node()
    shutil.copyfile(os.path.join(O.SRC, "tests", "serve", "test_responses_openai.mjs"), os.path.join(d, "test_responses_openai.mjs"))
    tmp = tempfile.mkdtemp(prefix="wf_resp_oai_")
    small, big, tool = (os.path.join(tmp, n + ".gguf") for n in ("small", "big", "tool"))
    C.make_server_model(small)
    C.make_server_model(big, big=True)
    C.make_tool_model(tool)
    with C.Server(small, "--kv", "f32") as s, C.Server(tool) as t, C.Server(big, "--parallel", "1") as b:
        try:
            r = T.run([node, os.path.join(d, "test_responses_openai.mjs"), s.url, t.url, b.url], cwd=d, text=True,
                      timeout=100)
        except subprocess.TimeoutExpired:
            T.fail("the SDK script timed out")
            return T.summary("test_responses_openai")
        log = "\n".join(s.log)
    print(r.stdout)
    if r.stderr.strip():
        print(r.stderr[-3000:])
    check(r.returncode == 0, "the SDK script's checks pass (exit %d)" % r.returncode)
    res = {}
    for line in r.stdout.splitlines():
        if line.startswith("RESULT "):
            o = json.loads(line[7:])
            res[o["name"]] = o["value"]
    plain = res.get("plain")
    if not check(plain, "a result from the SDK script"):
        return T.summary("test_responses_openai")
    im_s, im_e = C.special_id("<|im_start|>"), C.special_id("<|im_end|>")
    ids = []
    for role, content in (("system", "You are terse."), ("user", "Write a function.")):
        ids += [im_s] + list((role + "\n" + content).encode()) + [im_e, 10]
    ids += [im_s] + list(b"assistant\n")
    gen = list(plain["text"].encode())
    logits = forward_np.forward(forward_np.Model(small), ids + gen)
    gap = max(float(logits[len(ids) - 1 + i].max() - logits[len(ids) - 1 + i][tk]) for i, tk in enumerate(gen))
    ok = plain["input_tokens"] == len(ids) and gap <= 2e-3
    check(ok, "the SDK's answer == numpy greedy on the ChatML prompt (gap %.2g)" % gap)
    check("POST /v1/responses 200" in log, "the server log shows POST /v1/responses 200")
    check(not C.SANITIZER_REPORTS, "no sanitizer reports")
    return T.summary("test_responses_openai")


if __name__ == "__main__":
    sys.exit(main())
