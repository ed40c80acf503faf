#!/usr/bin/python3
"""export.py — write a train.py checkpoint as a llama GGUF (F32 or F16
matrices) with the vocabulary of train_tokenizer.py, using wafer's Python
GGUF writer (tests/ref/gguf_py.py). Metadata keys and tensor names are
llama.cpp's. Q/K rows need no permutation: train.py's RoPE already rotates
adjacent pairs, GGUF's llama order.

usage: export.py --ckpt OUT/ckpt.pt --vocab vocab.gguf --out model.gguf [--type f32|f16]
                 [--template tools/chat_template.jinja]
A checkpoint with YaRN RoPE scaling (grow.py --yarn-factor) gets llama.cpp's
rope.scaling keys, and a context of original_context_length * factor.
"""
import argparse
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "ref"))
sys.dont_write_bytecode = True   # no __pycache__ in the source tree
sys.path.insert(0, HERE)
import gguf_py  # noqa: E402
from train import Llama  # noqa: E402


def load_model(ckpt):
    ck = torch.load(ckpt, map_location="cpu")
    m = Llama(ck["config"])
    m.load_state_dict(ck["model"])
    m.eval()
    return m, ck["config"], ck["step"]


def export(ckpt, vocab, out, ftype="f16", name="wafer-emb", template=None):
    model, c, step = load_model(ckpt)
    v = gguf_py.read_gguf(vocab)
    w = gguf_py.GGUFWriter(out)
    w.add_kv("general.architecture", "llama")
    w.add_kv("general.name", name)
    w.add_kv("general.file_type", 0 if ftype == "f32" else 1, gguf_py.UINT32)
    rs = c.get("rope_scaling")
    # with YaRN the model's context is the original one times the factor, as
    # Hugging Face's converter writes it for llama.cpp
    n_ctx = int(rs["orig_ctx"] * rs["factor"]) if rs else c["ctx"]
    w.add_kv("llama.context_length", n_ctx, gguf_py.UINT32)
    if rs:
        w.add_kv("llama.rope.scaling.type", rs["type"])
        w.add_kv("llama.rope.scaling.factor", float(rs["factor"]), gguf_py.FLOAT32)
        w.add_kv("llama.rope.scaling.original_context_length", int(rs["orig_ctx"]), gguf_py.UINT32)
    w.add_kv("llama.embedding_length", c["dim"], gguf_py.UINT32)
    w.add_kv("llama.block_count", c["layers"], gguf_py.UINT32)
    w.add_kv("llama.feed_forward_length", c["ff"], gguf_py.UINT32)
    w.add_kv("llama.attention.head_count", c["heads"], gguf_py.UINT32)
    w.add_kv("llama.attention.head_count_kv", c["kv_heads"], gguf_py.UINT32)
    w.add_kv("llama.attention.layer_norm_rms_epsilon", c["eps"], gguf_py.FLOAT32)
    w.add_kv("llama.rope.dimension_count", c["dim"] // c["heads"], gguf_py.UINT32)
    w.add_kv("llama.rope.freq_base", c["rope_base"], gguf_py.FLOAT32)
    w.add_kv("llama.vocab_size", c["vocab"], gguf_py.UINT32)
    for k, val in v.kv.items():
        if k.startswith("tokenizer.") and k != "tokenizer.chat_template":
            vt = v.kv_types[k]
            w.add_kv(k, val, vt, v.arr_types.get(k) if vt == gguf_py.ARRAY else None)
    if template:
        with open(template, encoding="utf-8") as f:
            w.add_kv("tokenizer.chat_template", f.read())
    if len(v.kv["tokenizer.ggml.tokens"]) != c["vocab"]:
        raise ValueError("vocabulary has %d tokens, model %d" % (len(v.kv["tokenizer.ggml.tokens"]), c["vocab"]))

    mat_dtype = np.float32 if ftype == "f32" else np.float16

    def put(name, t, matrix=True):
        a = t.detach().float().numpy()
        w.add_tensor(name, a.astype(mat_dtype if matrix else np.float32))

    put("token_embd.weight", model.tok.weight)           # (vocab, dim)
    for i, b in enumerate(model.blocks):
        p = "blk.%d." % i
        put(p + "attn_norm.weight", b.attn_norm.weight, False)
        put(p + "attn_q.weight", b.wq.weight)           # (heads*hd, dim)
        put(p + "attn_k.weight", b.wk.weight)           # (kv_heads*hd, dim)
        put(p + "attn_v.weight", b.wv.weight)
        put(p + "attn_output.weight", b.wo.weight)      # (dim, heads*hd)
        put(p + "ffn_norm.weight", b.ffn_norm.weight, False)
        put(p + "ffn_gate.weight", b.w_gate.weight)     # (ff, dim)
        put(p + "ffn_up.weight", b.w_up.weight)
        put(p + "ffn_down.weight", b.w_down.weight)     # (dim, ff)
    put("output_norm.weight", model.norm.weight, False)
    put("output.weight", model.out.weight)              # (vocab, dim)
    return w.write(), step


@torch.no_grad()
def torch_logprobs(model, ids):
    """Natural-log probability of ids[i+1] given ids[:i+1], for i < len-1."""
    x = torch.tensor([ids], dtype=torch.long)
    lp = torch.log_softmax(model(x)[0].double(), dim=-1)
    return [lp[i, ids[i + 1]].item() for i in range(len(ids) - 1)]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--vocab", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--type", choices=["f32", "f16"], default="f16")
    ap.add_argument("--name", default="wafer-emb")
    ap.add_argument("--template", help="chat template (Jinja) to write as tokenizer.chat_template")
    a = ap.parse_args()
    n, step = export(a.ckpt, a.vocab, a.out, a.type, a.name, a.template)
    print("export: step %d -> %s (%.1f MB, %s)" % (step, a.out, n / 1e6, a.type))


if __name__ == "__main__":
    main()
