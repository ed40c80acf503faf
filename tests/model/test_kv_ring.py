#!/usr/bin/python3
"""test_kv_ring.py — gpt-oss's sliding-window layers keep a ring of window +
2 n_batch KV rows instead of the whole context: tests/progs/kv_ring_check
runs a synthetic gpt-oss model (tests/ref/make_model.py, window 8) in a ring
context and in one that keeps every position (kv_full) and requires
bit-identical logits through chunked prefill, decode, rollback of rejected
tokens, truncation (refused before the rings' window), snapshots (export,
import whole and as a prefix) and sessions with lookup drafts and a prefix
cache; plus the memory the ring saves."""
import os
import sys
import tempfile

import make_model
import testlib as T

BUILD = os.environ.get("WAFER_BUILD", "build")
TOOL = os.path.join(BUILD, "tests", "kv_ring_check")


def main():
    if not os.path.exists(TOOL):
        T.skip("kv_ring_check is not built")
    tmp = tempfile.mkdtemp(prefix="wf_kv_ring_")
    path = os.path.join(tmp, "oss.gguf")
    cfg = dict(make_model.CONFIGS["gpt-oss"], n_ctx=512)
    make_model.make(path, cfg, wtype="f32", seed=5)
    r = T.run([TOOL, path], text=True, timeout=240)
    print(r.stdout)
    if r.stderr.strip():
        print(r.stderr[-2000:])
    T.check(r.returncode == 0 and "0 failed" in r.stdout, "kv_ring_check passes (exit %d)" % r.returncode)
    return T.summary("test_kv_ring")


if __name__ == "__main__":
    sys.exit(main())
