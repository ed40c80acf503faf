#!/usr/bin/python3
"""make_model.py — small synthetic GGUF transformer models for the model tests.

Random weights, but the real architectures' metadata keys and tensor names
(as llama.cpp's converter writes them), plus a small byte-level "gpt2"
vocabulary so that each file is a complete model.

    make_model.py CONFIG OUT.gguf [--wtype f32|f16|bf16] [--no-vocab] [--seed N]
    make_model.py --list

or from Python: make(path, CONFIGS[name], wtype="f16").
"""
import sys

import numpy as np

import gguf_py as G

# name -> hyper-parameters. hd = head_dim; the K-quant config keeps every row
# length (n_embd, n_head*hd, n_ff) a multiple of 256.
BASE = dict(arch="llama", n_embd=128, n_head=4, n_kv=2, hd=32, n_ff=192,
            n_layer=2, n_vocab=300, n_ctx=512, base=10000.0, eps=1e-5,
            tied=False, bias=False, qk_norm=False, scaling=None, factor=1.0,
            orig_ctx=None, beta_fast=None, beta_slow=None, attn_factor=None,
            rope_freqs=False, norm_f16=False, write_key_length=False,
            write_vocab_size=False, rope_dim=None,
            n_expert=0, n_expert_used=0, n_ff_exp=0, router_scale=1.0, swa=0, sinks=True)

CONFIGS = {
    "llama": dict(BASE),
    # tied output, Llama-3.1-style rope_freqs divisors, linear scaling x2
    "llama_tied": dict(BASE, tied=True, rope_freqs=True, scaling="linear", factor=2.0,
                       write_vocab_size=True),
    "qwen2": dict(BASE, arch="qwen2", bias=True, n_vocab=333, base=1000000.0, eps=1e-6),
    # head_dim 64 != n_embd / n_head = 32; norms stored f16
    "qwen3": dict(BASE, arch="qwen3", qk_norm=True, hd=64, write_key_length=True,
                  norm_f16=True, eps=1e-6, base=1000000.0),
    # YaRN, custom beta_fast so the ramp starts above 0: orig ctx 128, factor 4
    "llama_yarn": dict(BASE, n_embd=128, hd=64, n_head=2, n_kv=1, n_ctx=512,
                       scaling="yarn", factor=4.0, orig_ctx=128, beta_fast=4.0,
                       beta_slow=1.0),
    # YaRN with the default betas, NEOX order, attention factor key
    "qwen2_yarn": dict(BASE, arch="qwen2", bias=True, hd=64, n_head=2, n_kv=2,
                       n_ctx=1024, scaling="yarn", factor=8.0, orig_ctx=128,
                       attn_factor=0.9),
    # partial rotation (rope dims 16 of head_dim 32), NEOX and adjacent pairs
    "qwen2_partial": dict(BASE, arch="qwen2", bias=True, rope_dim=16),
    "llama_partial": dict(BASE, rope_dim=16, rope_freqs=True),
    # rows of 256 for K-quants (q4_K, q6_K) and q8_0
    "llama_kq": dict(BASE, n_embd=256, n_head=4, n_kv=2, hd=64, n_ff=512, n_vocab=320),
    "qwen3_kq": dict(BASE, arch="qwen3", qk_norm=True, n_embd=256, n_head=4, n_kv=2,
                     hd=128, n_ff=512, n_vocab=320, write_key_length=True),
    # tiny, for the long-context run (q8_0 KV needs hd % 32 == 0)
    # mixture of experts (Qwen3-MoE / Qwen3-Coder-30B-A3B layout): 8 experts,
    # 2 per token; the router's logits are spread (scale 4) so the top-2 are
    # seldom near a tie, and the experts' outputs are large enough (scale 2)
    # that one wrong choice moves the log-probs by far more than the limits
    "qwen3moe": dict(BASE, arch="qwen3moe", qk_norm=True, hd=64, write_key_length=True,
                     eps=1e-6, base=1000000.0, n_expert=8, n_expert_used=2, n_ff_exp=64,
                     router_scale=4.0),
    # rows of 256 for K-quants: 16 experts, 4 per token
    "qwen3moe_kq": dict(BASE, arch="qwen3moe", qk_norm=True, n_embd=256, n_head=4, n_kv=2,
                        hd=64, n_ff=512, n_vocab=320, write_key_length=True, eps=1e-6,
                        n_expert=16, n_expert_used=4, n_ff_exp=256, router_scale=4.0),
    # gpt-oss (gpt-oss-20b layout): Q/K/V/output biases, a sink logit per head,
    # a sliding window (here 8, so that it bites within the tests' prompts)
    # on the even layers, router and expert biases, the clamped SwiGLU, YaRN.
    # Sinks spread over [-2, 4] so that dropping them moves the log-probs;
    # gate/up weights scaled 3 so that the clamp at 7 is reached.
    "gpt-oss": dict(BASE, arch="gpt-oss", bias=True, hd=32, n_head=4, n_kv=2,
                    write_key_length=True, eps=1e-5, base=150000.0, n_expert=8,
                    n_expert_used=2, n_ff_exp=64, router_scale=4.0, swa=8, n_layer=3,
                    n_ctx=1024, scaling="yarn", factor=8.0, orig_ctx=128),
    "tiny_long": dict(BASE, arch="qwen2", bias=True, n_embd=64, n_head=2, n_kv=1, hd=32,
                      n_ff=128, n_layer=1, n_vocab=260, n_ctx=8192, scaling="yarn",
                      factor=8.0, orig_ctx=8192),
}


def byte_tokens():
    """GPT-2's printable mapping of the 256 byte values."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + \
        list(range(0xAE, 0xFF + 1))
    cs = keep[:]
    n = 0
    for b in range(256):
        if b not in keep:
            keep.append(b)
            cs.append(256 + n)
            n += 1
    table = dict(zip(keep, cs))
    return [chr(table[b]) for b in range(256)]


def vocab_kv(w, n_vocab):
    toks = byte_tokens()
    i = 0
    while len(toks) < n_vocab - 1:
        toks.append("tok%d" % i)
        i += 1
    toks.append("<|endoftext|>")
    toks = toks[:n_vocab]
    types = [1] * n_vocab
    types[-1] = 3  # control
    w.add_kv("tokenizer.ggml.model", "gpt2")
    w.add_kv("tokenizer.ggml.pre", "default")
    w.add_kv("tokenizer.ggml.tokens", toks, G.ARRAY, elem_type=G.STRING)
    w.add_kv("tokenizer.ggml.token_type", types, G.ARRAY, elem_type=G.INT32)
    w.add_kv("tokenizer.ggml.merges", [], G.ARRAY, elem_type=G.STRING)
    w.add_kv("tokenizer.ggml.eos_token_id", n_vocab - 1, G.UINT32)


def special_vocab_kv(w, n_vocab, specials, eos, extra=(), chat_template=None):
    """A byte vocabulary with control tokens: ids 0-255 the bytes, then
    `specials` (type control), then `extra` token texts (byte-level BPE
    spelling) and filler "tokN" up to n_vocab; no merges. eos: an id."""
    toks = byte_tokens() + list(specials) + list(extra)
    i = 0
    while len(toks) < n_vocab:
        toks.append("tok%d" % i)
        i += 1
    types = [1] * 256 + [3] * len(specials) + [1] * (n_vocab - 256 - len(specials))
    w.add_kv("tokenizer.ggml.model", "gpt2")
    w.add_kv("tokenizer.ggml.pre", "default")
    w.add_kv("tokenizer.ggml.tokens", toks, G.ARRAY, elem_type=G.STRING)
    w.add_kv("tokenizer.ggml.token_type", types, G.ARRAY, elem_type=G.INT32)
    w.add_kv("tokenizer.ggml.merges", [], G.ARRAY, elem_type=G.STRING)
    w.add_kv("tokenizer.ggml.eos_token_id", eos, G.UINT32)
    if chat_template is not None:
        w.add_kv("tokenizer.chat_template", chat_template)


E2M1 = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0])


def mxfp4_bytes(a):
    """GGUF MXFP4 blocks of a (rows of a multiple of 32): per 32 values one
    E8M0 byte e (scale 2^(e-127), the smallest with |x|/scale <= 6) and 16
    bytes of E2M1 codes (sign bit 3; values 0..15 low nibbles, 16..31 high),
    each the nearest magnitude."""
    b = np.asarray(a, dtype=np.float64).reshape(-1, 32)
    amax = np.abs(b).max(axis=1)
    e = np.where(amax > 0, np.ceil(np.log2(np.maximum(amax, 1e-30) / 6.0)), -126) + 127
    e = np.clip(e, 1, 254).astype(np.int64)
    mag = np.abs(b) / np.ldexp(1.0, e - 127)[:, None]
    code = np.argmin(np.abs(mag[..., None] - E2M1), axis=-1) | np.where(b < 0, 8, 0)
    qs = (code[:, :16] | (code[:, 16:] << 4)).astype(np.uint8)
    return np.concatenate([e.astype(np.uint8)[:, None], qs], axis=1).tobytes()


def make(path, c, wtype="f32", vocab=True, seed=1234, exp_wtype=None):
    """exp_wtype "mxfp4": the stacked expert tensors in MXFP4 (as gpt-oss
    ships them), everything else in wtype."""
    rng = np.random.default_rng(seed)
    a = c["arch"]
    E, H, KV, HD, FF, V = c["n_embd"], c["n_head"], c["n_kv"], c["hd"], c["n_ff"], c["n_vocab"]
    w = G.GGUFWriter(path)
    w.add_kv("general.architecture", a)
    w.add_kv("general.name", "wafer synthetic %s" % a)
    w.add_kv(a + ".context_length", c["n_ctx"], G.UINT32)
    w.add_kv(a + ".embedding_length", E, G.UINT32)
    w.add_kv(a + ".block_count", c["n_layer"], G.UINT32)
    w.add_kv(a + ".feed_forward_length", FF, G.UINT32)
    w.add_kv(a + ".attention.head_count", H, G.UINT32)
    w.add_kv(a + ".attention.head_count_kv", KV, G.UINT32)
    w.add_kv(a + ".attention.layer_norm_rms_epsilon", float(c["eps"]), G.FLOAT32)
    w.add_kv(a + ".rope.freq_base", float(c["base"]), G.FLOAT32)
    RD = c["rope_dim"] or HD
    w.add_kv(a + ".rope.dimension_count", RD, G.UINT32)
    if c["write_key_length"]:
        w.add_kv(a + ".attention.key_length", HD, G.UINT32)
        w.add_kv(a + ".attention.value_length", HD, G.UINT32)
    elif HD * H != E:
        raise ValueError("head_dim must be n_embd/n_head unless key_length is written")
    if c["write_vocab_size"]:
        w.add_kv(a + ".vocab_size", V, G.UINT32)
    if c["scaling"]:
        w.add_kv(a + ".rope.scaling.type", c["scaling"])
        w.add_kv(a + ".rope.scaling.factor", float(c["factor"]), G.FLOAT32)
    if c["orig_ctx"]:
        w.add_kv(a + ".rope.scaling.original_context_length", c["orig_ctx"], G.UINT32)
    if c["beta_fast"] is not None:
        w.add_kv(a + ".rope.scaling.yarn_beta_fast", float(c["beta_fast"]), G.FLOAT32)
    if c["beta_slow"] is not None:
        w.add_kv(a + ".rope.scaling.yarn_beta_slow", float(c["beta_slow"]), G.FLOAT32)
    if c["attn_factor"] is not None:
        w.add_kv(a + ".rope.scaling.attn_factor", float(c["attn_factor"]), G.FLOAT32)
    if c["n_expert"]:
        w.add_kv(a + ".expert_count", c["n_expert"], G.UINT32)
        w.add_kv(a + ".expert_used_count", c["n_expert_used"], G.UINT32)
        w.add_kv(a + ".expert_feed_forward_length", c["n_ff_exp"], G.UINT32)
    if c["swa"]:
        w.add_kv(a + ".attention.sliding_window", c["swa"], G.UINT32)
    if vocab:
        vocab_kv(w, V)

    wdt = np.float16 if wtype == "f16" else np.float32
    ndt = np.float16 if c["norm_f16"] else np.float32

    def add_w(name, a):  # a matrix in the requested weight type
        if wtype == "bf16":  # round to nearest even, keep the top 16 bits
            u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
            h = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype("<u2")
            w.add_tensor(name, h.tobytes(), ggml_type=G.GGML_BF16, shape=list(reversed(a.shape)))
        else:
            w.add_tensor(name, a)

    def mat(rows, cols, scale=1.0):  # numpy (rows, cols) = GGUF ne [cols, rows]
        return (rng.standard_normal((rows, cols)) * scale / np.sqrt(cols)).astype(wdt)

    def add_exps(name, a):  # stacked experts (NE, rows, cols)
        if exp_wtype == "mxfp4":
            w.add_tensor(name, mxfp4_bytes(a), ggml_type=G.GGML_MXFP4, shape=list(reversed(a.shape)))
        else:
            add_w(name, a)

    def norm(n):
        return (1.0 + 0.2 * rng.standard_normal(n)).astype(ndt)

    add_w("token_embd.weight", rng.standard_normal((V, E)).astype(wdt))
    w.add_tensor("output_norm.weight", norm(E))
    if not c["tied"]:
        add_w("output.weight", mat(V, E, 2.0))
    if c["rope_freqs"]:
        w.add_tensor("rope_freqs.weight", rng.uniform(1.0, 8.0, RD // 2).astype(np.float32))
    for l in range(c["n_layer"]):
        p = "blk.%d." % l
        w.add_tensor(p + "attn_norm.weight", norm(E))
        add_w(p + "attn_q.weight", mat(H * HD, E, 2.0))
        add_w(p + "attn_k.weight", mat(KV * HD, E, 2.0))
        add_w(p + "attn_v.weight", mat(KV * HD, E))
        add_w(p + "attn_output.weight", mat(E, H * HD))
        oss = a == "gpt-oss"
        if oss:
            w.add_tensor(p + "attn_output.bias", (0.3 * rng.standard_normal(E)).astype(np.float32))
            sk = rng.uniform(-2.0, 4.0, H).astype(np.float32)
            # sinks=False (negative controls): -30, a sink that takes no mass
            w.add_tensor(p + "attn_sinks.weight", sk if c["sinks"] else np.full(H, -30.0, np.float32))
        if c["bias"]:
            w.add_tensor(p + "attn_q.bias", (0.3 * rng.standard_normal(H * HD)).astype(ndt))
            w.add_tensor(p + "attn_k.bias", (0.3 * rng.standard_normal(KV * HD)).astype(ndt))
            w.add_tensor(p + "attn_v.bias", (0.3 * rng.standard_normal(KV * HD)).astype(ndt))
        if c["qk_norm"]:
            w.add_tensor(p + "attn_q_norm.weight", norm(HD) * 2)
            w.add_tensor(p + "attn_k_norm.weight", norm(HD))
        w.add_tensor(p + ("post_attention_norm.weight" if oss else "ffn_norm.weight"), norm(E))
        if c["n_expert"]:  # router (n_expert, E); experts stacked as [E, n_ff_exp, n_expert]
            NE, FE = c["n_expert"], c["n_ff_exp"]
            gs = 3.0 if oss else 1.0
            # the router stays f32, as llama.cpp's converter and quantizer keep it
            w.add_tensor(p + "ffn_gate_inp.weight", mat(NE, E, c["router_scale"]).astype(np.float32))
            add_exps(p + "ffn_gate_exps.weight", np.stack([mat(FE, E, gs) for _ in range(NE)]))
            add_exps(p + "ffn_up_exps.weight", np.stack([mat(FE, E, gs) for _ in range(NE)]))
            add_exps(p + "ffn_down_exps.weight", np.stack([mat(E, FE, 2.0) for _ in range(NE)]))
            if oss:  # biases: router (NE), gate/up [FE, NE], down [E, NE]
                f32 = lambda *sh: (0.5 * rng.standard_normal(sh)).astype(np.float32)
                w.add_tensor(p + "ffn_gate_inp.bias", f32(NE))
                w.add_tensor(p + "ffn_gate_exps.bias", f32(NE, FE))
                w.add_tensor(p + "ffn_up_exps.bias", f32(NE, FE))
                w.add_tensor(p + "ffn_down_exps.bias", f32(NE, E))
            continue
        add_w(p + "ffn_gate.weight", mat(FF, E))
        add_w(p + "ffn_up.weight", mat(FF, E))
        add_w(p + "ffn_down.weight", mat(E, FF))
    w.write()


def main(argv):
    if "--list" in argv:
        print(" ".join(CONFIGS))
        return 0
    args = [a for a in argv if not a.startswith("--")]
    if len(args) != 2 or args[0] not in CONFIGS:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    wtype = argv[argv.index("--wtype") + 1] if "--wtype" in argv else "f32"
    seed = int(argv[argv.index("--seed") + 1]) if "--seed" in argv else 1234
    args = [a for a in args if a not in (wtype, str(seed))]
    make(args[1], CONFIGS[args[0]], wtype=wtype, vocab="--no-vocab" not in argv, seed=seed)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
