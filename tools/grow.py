#!/usr/bin/python3
"""grow.py — start a new training stage from a released GGUF: its weights
become a train.py checkpoint, with control tokens appended to the vocabulary
(the chat turn markers the v2 model needs) and the rows of the new tokens in
the embedding and output matrices set to the mean of the existing rows.

Reads F32, F16 and Q8_0 tensors (the released file is Q8_0: each block of 32
weights is an f16 scale and 32 int8 values, weight = scale * q).

usage: grow.py --gguf models/wafer-embedded.gguf --add '<|im_start|>,<|im_end|>'
               --vocab-out vocab.gguf --ckpt-out DIR/ckpt.pt [--ctx 1024]
               [--yarn-factor 32 --yarn-orig 512]
"""
import argparse
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "ref"))
sys.dont_write_bytecode = True
sys.path.insert(0, HERE)
import gguf_py  # noqa: E402
from train import Llama  # noqa: E402

TOKEN_CONTROL = 3


def tensor_f32(t):
    shp = tuple(reversed(t.shape))
    if t.type in (gguf_py.GGML_F32, gguf_py.GGML_F16, gguf_py.GGML_BF16):
        return np.asarray(t.array(), dtype=np.float32)
    if t.type == gguf_py.GGML_Q8_0:
        b = t.data.reshape(-1, 34)
        d = b[:, :2].copy().view("<f2").astype(np.float32)          # (blocks, 1)
        q = b[:, 2:].copy().view(np.int8).astype(np.float32)         # (blocks, 32)
        return (d * q).reshape(shp)
    raise ValueError("%s: type %d not handled" % (t.name, t.type))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gguf", required=True)
    ap.add_argument("--add", default="<|im_start|>,<|im_end|>")
    ap.add_argument("--vocab-out", required=True)
    ap.add_argument("--ckpt-out", required=True)
    ap.add_argument("--ctx", type=int, default=1024)
    ap.add_argument("--yarn-factor", type=float, default=0)
    ap.add_argument("--yarn-orig", type=int, default=0)
    a = ap.parse_args()
    g = gguf_py.read_gguf(a.gguf)
    kv = g.kv
    tokens = list(kv["tokenizer.ggml.tokens"])
    types = list(kv["tokenizer.ggml.token_type"])
    new = [t for t in a.add.split(",") if t and t not in tokens]
    tokens += new
    types += [TOKEN_CONTROL] * len(new)

    # the vocabulary-only GGUF: the old tokenizer keys, the grown token lists
    w = gguf_py.GGUFWriter(a.vocab_out)
    w.add_kv("general.architecture", "llama")
    w.add_kv("general.name", kv.get("general.name", "wafer-emb"))
    for k, val in kv.items():
        if not k.startswith("tokenizer.") or k == "tokenizer.chat_template":
            continue
        if k == "tokenizer.ggml.tokens":
            val = tokens
        elif k == "tokenizer.ggml.token_type":
            val = types
        vt = g.kv_types[k]
        w.add_kv(k, val, vt, g.arr_types.get(k) if vt == gguf_py.ARRAY else None)
    w.write()

    arch = kv["general.architecture"]
    T = {n: tensor_f32(t) for n, t in g.tensors.items()}
    n_old = T["token_embd.weight"].shape[0]
    cfg = {"vocab": len(tokens), "dim": int(kv[arch + ".embedding_length"]), "layers": int(kv[arch + ".block_count"]),
           "heads": int(kv[arch + ".attention.head_count"]), "kv_heads": int(kv[arch + ".attention.head_count_kv"]),
           "ff": int(kv[arch + ".feed_forward_length"]), "ctx": a.ctx,
           "eps": float(kv[arch + ".attention.layer_norm_rms_epsilon"]),
           "rope_base": float(kv[arch + ".rope.freq_base"])}
    if a.yarn_factor > 1:
        cfg["rope_scaling"] = {"type": "yarn", "factor": a.yarn_factor, "orig_ctx": a.yarn_orig,
                               "beta_fast": 32.0, "beta_slow": 1.0, "attn_factor": 1.0}
    m = Llama(cfg)

    def grow(x):
        extra = np.repeat(x.mean(0, keepdims=True), len(tokens) - n_old, axis=0)
        return np.concatenate([x, extra + np.random.default_rng(0).normal(0, 0.01, extra.shape).astype(np.float32)])

    sd = {"tok.weight": grow(T["token_embd.weight"]), "norm.weight": T["output_norm.weight"],
          "out.weight": grow(T["output.weight"])}
    for i in range(cfg["layers"]):
        p = "blk.%d." % i
        for ours, theirs in (("attn_norm.weight", "attn_norm.weight"), ("wq.weight", "attn_q.weight"),
                             ("wk.weight", "attn_k.weight"), ("wv.weight", "attn_v.weight"),
                             ("wo.weight", "attn_output.weight"), ("ffn_norm.weight", "ffn_norm.weight"),
                             ("w_gate.weight", "ffn_gate.weight"), ("w_up.weight", "ffn_up.weight"),
                             ("w_down.weight", "ffn_down.weight")):
            sd["blocks.%d.%s" % (i, ours)] = T[p + theirs]
    m.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in sd.items()})
    os.makedirs(os.path.dirname(os.path.abspath(a.ckpt_out)), exist_ok=True)
    torch.save({"model": m.state_dict(), "opt": None, "step": 0, "config": cfg, "rng": None}, a.ckpt_out)
    print("grow: %s -> %d tokens (+%s), checkpoint %s" % (a.gguf, len(tokens), new, a.ckpt_out))


if __name__ == "__main__":
    main()
