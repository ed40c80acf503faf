#!/usr/bin/python3
"""test_moe_hostile.py — hostile mixture-of-experts files in the layouts the
real downloads use, written by tests/ref/make_model.py with one thing
changed: gpt-oss with MXFP4 experts and expert biases, and qwen3moe with
f32 experts. Each must fail to load with a clear error naming
the key or tensor (`wafer info`'s "wafer can run: no — ..." line; `wafer
run` exits 1 with it), never crash or load; the unchanged
files load (the controls). test_model_c covers the same for qwen3moe files
written in C; this adds gpt-oss's MXFP4 tensors and its expert biases."""
import os
import sys
import tempfile

import gguf_py as G
import make_model
import testlib as T
from testlib import check

REAL_WRITER = G.GGUFWriter


def hostile_writer(kv=None, drop_expert=None, tensor_shape=None):
    """A GGUFWriter that overrides metadata values (kv: key -> value), drops
    the last expert of one stacked tensor (drop_expert: name), or writes one
    f32 tensor with a row too many (tensor_shape: name)."""

    class W(REAL_WRITER):
        def add_kv(self, key, value, vtype=None, elem_type=None):
            if kv and key in kv:
                value = kv[key]
            return super().add_kv(key, value, vtype, elem_type)

        def add_tensor(self, name, data, ggml_type=None, shape=None):
            if name == drop_expert:
                if isinstance(data, bytes):  # MXFP4: bytes and a shape [ne0, ne1, n_expert]
                    per = len(data) // shape[2]
                    data, shape = data[:len(data) - per], [shape[0], shape[1], shape[2] - 1]
                else:
                    data = data[:-1]
            if name == tensor_shape:
                import numpy as np
                data = np.concatenate([data, data[-1:]])
            return super().add_tensor(name, data, ggml_type, shape)

    return W


def write(path, cfg, exp_wtype=None, **change):
    make_model.G.GGUFWriter = hostile_writer(**change)
    try:
        make_model.make(path, make_model.CONFIGS[cfg], exp_wtype=exp_wtype)
    finally:
        make_model.G.GGUFWriter = REAL_WRITER


def main():
    T.need_wafer()
    tmp = tempfile.mkdtemp(prefix="wf_moe_hostile_")
    cases = [
        # (label, config, experts' type, change, text the error must hold)
        ("oss control", "gpt-oss", "mxfp4", {}, None),
        ("oss expert_count 0", "gpt-oss", "mxfp4", {"kv": {"gpt-oss.expert_count": 0}}, "expert_count = 0"),
        ("oss expert_count 16 (tensors hold 8)", "gpt-oss", "mxfp4", {"kv": {"gpt-oss.expert_count": 16}},
         "ffn_gate_inp"),
        ("oss expert_count 4 (tensors hold 8)", "gpt-oss", "mxfp4", {"kv": {"gpt-oss.expert_count": 4}},
         "ffn_gate_inp"),
        ("oss expert_used_count 9 > 8", "gpt-oss", "mxfp4", {"kv": {"gpt-oss.expert_used_count": 9}},
         "expert_used_count = 9"),
        ("oss expert_used_count 0", "gpt-oss", "mxfp4", {"kv": {"gpt-oss.expert_used_count": 0}},
         "expert_used_count = 0"),
        ("oss MXFP4 up experts: 7 of 8", "gpt-oss", "mxfp4", {"drop_expert": "blk.1.ffn_up_exps.weight"},
         "blk.1.ffn_up_exps.weight"),
        ("oss MXFP4 down experts: 7 of 8", "gpt-oss", "mxfp4", {"drop_expert": "blk.2.ffn_down_exps.weight"},
         "blk.2.ffn_down_exps.weight"),
        ("oss gate expert bias: 7 of 8", "gpt-oss", "mxfp4", {"drop_expert": "blk.0.ffn_gate_exps.bias"},
         "blk.0.ffn_gate_exps.bias"),
        ("oss down expert bias: a row too many", "gpt-oss", "mxfp4", {"tensor_shape": "blk.0.ffn_down_exps.bias"},
         "blk.0.ffn_down_exps.bias"),
        ("oss router bias: 7 of 8", "gpt-oss", "mxfp4", {"drop_expert": "blk.0.ffn_gate_inp.bias"},
         "blk.0.ffn_gate_inp.bias"),
        ("qwen3moe control", "qwen3moe", None, {}, None),
        ("qwen3moe expert_used_count > expert_count", "qwen3moe", None, {"kv": {"qwen3moe.expert_used_count": 99}},
         "expert_used_count = 99"),
        ("qwen3moe gate experts: one fewer", "qwen3moe", None, {"drop_expert": "blk.0.ffn_gate_exps.weight"},
         "blk.0.ffn_gate_exps.weight"),
    ]
    for i, (label, cfg, xt, change, want) in enumerate(cases):
        p = os.path.join(tmp, "m%d.gguf" % i)
        write(p, cfg, exp_wtype=xt, **change)
        # `wafer info` loads the file through the engine and says why it cannot run it
        rc, out, err = T.wafer("info", "-m", p, text=True, timeout=60)
        verdict = [ln for ln in out.splitlines() if ln.startswith("wafer can run: no")]
        if want is None:
            check(rc == 0 and not verdict and "experts:" in out, "%s: loads (%d %s)" % (label, rc, (out + err)[-300:]))
        else:
            check(rc == 0 and len(verdict) == 1 and want in verdict[0] and "Sanitizer" not in err,
                  "%s: a clear error naming %r (%s)" % (label, want, verdict or (out + err)[-300:]))
        # and a command that needs the model fails with it
        if want is not None and i % 4 == 1:
            rc, out, err = T.wafer("run", "-m", p, "--ids", "1", "-n", "1", "-q", text=True, timeout=60)
            check(rc == 1 and want in err, "%s: wafer run exits 1 with the error (%d %s)" % (label, rc, err[-300:]))
        os.remove(p)
    return T.summary("test_moe_hostile")


if __name__ == "__main__":
    sys.exit(main())
