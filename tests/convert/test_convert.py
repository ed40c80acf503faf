#!/usr/bin/python3
"""test_convert.py — `wafer convert` on synthetic Hugging Face checkpoints that
this test writes itself (config.json, safetensors single and sharded,
tokenizer.json, tokenizer_config.json, generation_config.json).

Checked against independent references written here from the formats' and
models' descriptions, never against wafer's own output:
  tensors   every GGUF tensor (read with tests/ref/gguf_py.py) equals the HF
            tensor in the output type (numpy rounding), llama's Q/K rows
            after undoing the permutation, 1-D tensors f32, no output.weight
            for a tied model
  metadata  llama.cpp's keys: architecture, hyper-parameters, rope scaling,
            file type, tokens / token types / merges / special ids / flags /
            chat template
  logits    `wafer score --json --kv f32` log-probabilities = a numpy forward
            in Hugging Face's conventions (rotate_half RoPE on the UNPERMUTED
            HF weights; llama3 / linear / yarn frequencies as transformers
            computes them) — this checks the permutation independently
  quantized --type q8_0 / q4_K_M: tensor types and a loose logits check
  errors    hostile safetensors (truncated, header length past the end, bad
            and unsupported dtypes, offsets out of range or not matching the
            shape, overlapping tensors, bad JSON, index naming a missing or
            outside file), missing config.json / tokenizer.json, unknown
            architecture, missing tensor, wrong shape: exit 1 with a message
            naming the file and the problem, never a crash
"""
import json
import math
import os
import shutil
import struct
import sys
import tempfile

import numpy as np

import forward_np
import gguf_py as G
import quants_np
import testlib as T
from testlib import check



# ---- numeric types ------------------------------------------------------------

def bf16_round(a):
    """float32 -> nearest-even bfloat16, returned as float32 values."""
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16) & 0xFFFF
    return (r.astype(np.uint32) << 16).view(np.float32)


def to_dtype(a, dt):
    """(values as float32 exactly representable in dt, raw bytes)."""
    a = np.asarray(a, dtype=np.float32)
    if dt == "F32":
        return a, a.astype("<f4").tobytes()
    if dt == "F16":
        h = a.astype("<f2")
        return h.astype(np.float32), h.tobytes()
    if dt == "BF16":
        v = bf16_round(a)
        return v, (v.view(np.uint32) >> 16).astype("<u2").tobytes()
    raise ValueError(dt)


# ---- safetensors writer (from the format description) ---------------------------

def write_safetensors(path, tensors):
    """tensors: list of (name, dtype, shape, raw bytes)."""
    header, off, blobs = {}, 0, []
    for name, dt, shape, raw in tensors:
        header[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


# ---- a tiny byte-level BPE tokenizer ------------------------------------------------

def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


QWEN_RE = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
LLAMA3_RE = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
TEMPLATE = "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"


def make_tokenizer(d, regex, pair_merges, n_vocab, bos, eos):
    b2u = bytes_to_unicode()
    vocab = {b2u[b]: b for b in range(256)}
    pairs = [("t", "h"), ("th", "e"), ("Ġ", "the"), ("i", "n"), ("Ġ", "in"), ("e", "r"), ("Ġ", "t")]
    merges = []
    for a, b in pairs:
        vocab[a + b] = len(vocab)
        merges.append([a, b] if pair_merges else a + " " + b)
    base = len(vocab)  # 263
    added = [
        {"id": base + 3, "content": "<|endoftext|>", "special": True},
        {"id": base + 4, "content": "<|im_start|>", "special": True},
        {"id": base + 5, "content": "<|im_end|>", "special": True},
        {"id": base + 6, "content": "<|fim_prefix|>", "special": False},  # looks special -> control
        {"id": base + 7, "content": "<think>", "special": False},        # user-defined
    ]
    for a in added:
        a.update({"single_word": False, "lstrip": False, "rstrip": False, "normalized": False})
    tj = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added, "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}]},
        "post_processor": None, "decoder": {"type": "ByteLevel"},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "byte_fallback": False,
                  "vocab": vocab, "merges": merges},
    }
    with open(os.path.join(d, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tj, f, ensure_ascii=False)
    tc = {"add_bos_token": False, "eos_token": eos, "chat_template": TEMPLATE,
          "model_max_length": 10 ** 30}  # a too-big integer, as real files have
    if bos:
        tc["bos_token"] = {"content": bos, "lstrip": False}
    with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
        # json.dumps writes 10**30 as a bare integer literal
        f.write(json.dumps(tc))
    # expected token table, written independently from the rules
    toks = ["[PAD%d]" % i for i in range(n_vocab)]
    types = [5] * n_vocab
    for s, i in vocab.items():
        toks[i], types[i] = s, 1
    for a in added:
        toks[a["id"]] = a["content"]
        types[a["id"]] = 3 if a["special"] or a["content"].startswith("<|") else 4
    ids = {a["content"]: a["id"] for a in added}
    return toks, types, [a + " " + b for a, b in pairs], ids


# ---- synthetic checkpoints ----------------------------------------------------------------

CASES = {
    # llama: GQA, f32 weights in one file, Llama 3 rope frequencies, untied
    "llama": dict(arch="LlamaForCausalLM", E=64, L=2, H=4, KV=2, hd=None, FF=96, V=280, dtype="F32",
                  shards=1, tied=False, bias=False, qk_norm=False, rope={"rope_type": "llama3", "factor": 8.0,
                  "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 64},
                  theta=10000.0, regex=LLAMA3_RE, pre="llama-bpe", bos="<|im_start|>", pair_merges=False),
    # qwen2: q/k/v biases, bf16 weights in 3 shards, linear scaling
    "qwen2": dict(arch="Qwen2ForCausalLM", E=64, L=2, H=4, KV=2, hd=None, FF=96, V=280, dtype="BF16",
                  shards=3, tied=False, bias=True, qk_norm=False, rope={"type": "linear", "factor": 2.0},
                  theta=1000000.0, regex=QWEN_RE, pre="qwen2", bos=None, pair_merges=True),
    # qwen3: q/k norms, head_dim != hidden/heads, f16 weights, tied, YaRN
    "qwen3": dict(arch="Qwen3ForCausalLM", E=64, L=2, H=4, KV=1, hd=32, FF=96, V=280, dtype="F16",
                  shards=1, tied=True, bias=False, qk_norm=True, rope={"rope_type": "yarn", "factor": 4.0,
                  "original_max_position_embeddings": 64},
                  theta=1000000.0, regex=QWEN_RE, pre="qwen2", bos=None, pair_merges=True),
}


def make_checkpoint(d, c, rng):
    os.makedirs(d, exist_ok=True)
    E, L, H, KV, FF, V = c["E"], c["L"], c["H"], c["KV"], c["FF"], c["V"]
    hd = c["hd"] or E // H
    W = {}

    def mat(name, shape, scale):
        W[name] = rng.standard_normal(shape).astype(np.float32) * np.float32(scale)

    mat("model.embed_tokens.weight", (V, E), 1.0)
    for l in range(L):
        p = "model.layers.%d." % l
        W[p + "input_layernorm.weight"] = (1 + 0.1 * rng.standard_normal(E)).astype(np.float32)
        W[p + "post_attention_layernorm.weight"] = (1 + 0.1 * rng.standard_normal(E)).astype(np.float32)
        mat(p + "self_attn.q_proj.weight", (H * hd, E), 0.25)
        mat(p + "self_attn.k_proj.weight", (KV * hd, E), 0.25)
        mat(p + "self_attn.v_proj.weight", (KV * hd, E), 0.2)
        mat(p + "self_attn.o_proj.weight", (E, H * hd), 0.15)
        if c["bias"]:
            mat(p + "self_attn.q_proj.bias", (H * hd,), 0.3)
            mat(p + "self_attn.k_proj.bias", (KV * hd,), 0.3)
            mat(p + "self_attn.v_proj.bias", (KV * hd,), 0.1)
        if c["qk_norm"]:
            W[p + "self_attn.q_norm.weight"] = (1 + 0.2 * rng.standard_normal(hd)).astype(np.float32)
            W[p + "self_attn.k_norm.weight"] = (1 + 0.2 * rng.standard_normal(hd)).astype(np.float32)
        mat(p + "mlp.gate_proj.weight", (FF, E), 0.15)
        mat(p + "mlp.up_proj.weight", (FF, E), 0.15)
        mat(p + "mlp.down_proj.weight", (E, FF), 0.12)
    W["model.norm.weight"] = (1 + 0.1 * rng.standard_normal(E)).astype(np.float32)
    if not c["tied"]:
        mat("lm_head.weight", (V, E), 0.3)
    W["model.layers.0.self_attn.rotary_emb.inv_freq"] = np.zeros(hd // 2, np.float32)  # skipped

    # round to the checkpoint dtype; the rounded values are the model
    entries = []
    for name, a in W.items():
        dt = c["dtype"] if a.ndim == 2 else "F32"
        v, raw = to_dtype(a, dt)
        W[name] = v.reshape(a.shape)
        entries.append((name, dt, a.shape, raw))
    del W["model.layers.0.self_attn.rotary_emb.inv_freq"]
    if c["shards"] == 1:
        write_safetensors(os.path.join(d, "model.safetensors"), entries)
    else:
        n = c["shards"]
        wm = {}
        for s in range(n):
            part = entries[s::n]
            fn = "model-%05d-of-%05d.safetensors" % (s + 1, n)
            write_safetensors(os.path.join(d, fn), part)
            for e in part:
                wm[e[0]] = fn
        with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": 0}, "weight_map": wm}, f)

    cfg = {"architectures": [c["arch"]], "hidden_size": E, "num_hidden_layers": L, "num_attention_heads": H,
           "num_key_value_heads": KV, "intermediate_size": FF, "rms_norm_eps": 1e-5, "rope_theta": c["theta"],
           "max_position_embeddings": 256, "tie_word_embeddings": c["tied"], "vocab_size": V,
           "rope_scaling": c["rope"], "bos_token_id": 266, "eos_token_id": 267, "torch_dtype": "float32"}
    if c["hd"]:
        cfg["head_dim"] = c["hd"]
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f)
    with open(os.path.join(d, "generation_config.json"), "w") as f:
        json.dump({"eos_token_id": [268, 266]}, f)
    tok = make_tokenizer(d, c["regex"], c["pair_merges"], V, c["bos"], "<|im_end|>")
    return W, cfg, tok


# ---- numpy forward in Hugging Face conventions ---------------------------------------------

def inv_freq_hf(cfg, hd):
    """transformers' rope initialisation: (inv_freq, attention_factor)."""
    base = cfg.get("rope_theta", 10000.0)
    inv = 1.0 / (base ** (np.arange(0, hd, 2, dtype=np.int64).astype(np.float32) / hd))
    inv = inv.astype(np.float64)
    rs = cfg.get("rope_scaling") or {}
    t = rs.get("rope_type", rs.get("type", "default"))
    att = 1.0
    if t == "linear":
        inv = inv / rs["factor"]
    elif t == "llama3":
        f, lo, hi, old = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"], rs["original_max_position_embeddings"]
        wl = 2 * math.pi / inv
        out = np.where(wl > old / lo, inv / f, inv)
        smooth = (old / wl - lo) / (hi - lo)
        smoothed = (1 - smooth) * out / f + smooth * out
        mid = ~(wl < old / hi) & ~(wl > old / lo)
        inv = np.where(mid, smoothed, out)
    elif t == "yarn":
        f = rs["factor"]
        orig = rs.get("original_max_position_embeddings", cfg["max_position_embeddings"])
        beta_fast, beta_slow = rs.get("beta_fast", 32), rs.get("beta_slow", 1)

        def corr_dim(rot):
            return (hd * math.log(orig / (rot * 2 * math.pi))) / (2 * math.log(base))

        low = max(math.floor(corr_dim(beta_fast)), 0)
        high = min(math.ceil(corr_dim(beta_slow)), hd - 1)
        if low == high:
            high += 0.001
        ramp = np.clip((np.arange(hd // 2, dtype=np.float64) - low) / (high - low), 0, 1)
        extrap = 1 - ramp
        inv = (inv / f) * (1 - extrap) + inv * extrap
        att = 0.1 * math.log(f) + 1.0
    return inv, att


def rmsnorm(x, w, eps):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w


def rotate_half(x):
    h = x.shape[-1] // 2
    return np.concatenate([-x[..., h:], x[..., :h]], axis=-1)


def hf_forward(W, cfg, ids):
    E, H, KV = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = cfg.get("head_dim") or E // H
    eps = cfg["rms_norm_eps"]
    n = len(ids)
    g = lambda k: W[k].astype(np.float64)
    x = g("model.embed_tokens.weight")[ids]
    inv, att = inv_freq_hf(cfg, hd)
    ang = np.outer(np.arange(n, dtype=np.float64), inv)
    emb = np.concatenate([ang, ang], axis=-1)
    cos, sin = np.cos(emb) * att, np.sin(emb) * att
    mask = np.triu(np.full((n, n), -np.inf), 1)
    for l in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % l
        h = rmsnorm(x, g(p + "input_layernorm.weight"), eps)
        q = h @ g(p + "self_attn.q_proj.weight").T
        k = h @ g(p + "self_attn.k_proj.weight").T
        v = h @ g(p + "self_attn.v_proj.weight").T
        if p + "self_attn.q_proj.bias" in W:
            q, k, v = q + g(p + "self_attn.q_proj.bias"), k + g(p + "self_attn.k_proj.bias"), v + g(p + "self_attn.v_proj.bias")
        q, k, v = q.reshape(n, H, hd), k.reshape(n, KV, hd), v.reshape(n, KV, hd)
        if p + "self_attn.q_norm.weight" in W:
            q = rmsnorm(q, g(p + "self_attn.q_norm.weight"), eps)
            k = rmsnorm(k, g(p + "self_attn.k_norm.weight"), eps)
        q = q * cos[:, None, :] + rotate_half(q) * sin[:, None, :]
        k = k * cos[:, None, :] + rotate_half(k) * sin[:, None, :]
        out = np.zeros((n, H, hd))
        for hh in range(H):
            kv = hh // (H // KV)
            s = q[:, hh, :] @ k[:, kv, :].T / math.sqrt(hd) + mask
            s = np.exp(s - s.max(-1, keepdims=True))
            s /= s.sum(-1, keepdims=True)
            out[:, hh, :] = s @ v[:, kv, :]
        x = x + out.reshape(n, H * hd) @ g(p + "self_attn.o_proj.weight").T
        h = rmsnorm(x, g(p + "post_attention_layernorm.weight"), eps)
        a = h @ g(p + "mlp.gate_proj.weight").T
        u = h @ g(p + "mlp.up_proj.weight").T
        x = x + (a / (1 + np.exp(-a)) * u) @ g(p + "mlp.down_proj.weight").T
    h = rmsnorm(x, g("model.norm.weight"), eps)
    out = g("lm_head.weight") if "lm_head.weight" in W else g("model.embed_tokens.weight")
    return h @ out.T


def log_softmax(x):
    m = x.max(-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(-1, keepdims=True))


def score_check(path, W, cfg, ids, tol, label, ref_logits=None):
    rc, out, err = T.wafer("score", "-m", path, "--ids", " ".join(map(str, ids)), "--top", 5, "--json", "-q",
                           "--kv", "f32", "-t", 2, text=True)
    check(rc == 0, f"{label}: wafer score failed: {err.strip()[-400:]}")
    if rc != 0:
        return
    j = json.loads(out)
    lp = log_softmax(hf_forward(W, cfg, ids) if ref_logits is None else ref_logits)
    worst = 0.0
    for i, pos in enumerate(j["positions"]):
        if pos["next"] is not None:
            worst = max(worst, abs(pos["next_logprob"] - lp[i, ids[i + 1]]))
        for tid, tlp in pos["top"]:
            worst = max(worst, abs(tlp - lp[i, tid]))
        if pos["top"]:
            worst = max(worst, abs(pos["top"][0][1] - lp[i].max()))
    what = "the HF-convention numpy forward" if ref_logits is None else "forward_np on the file's own weights"
    check(worst <= tol, f"{label}: logprobs differ from {what} by {worst:.3g} (tol {tol})")
    print(f"{label}: score vs {what}, worst |logprob diff| = {worst:.3g} (tolerance {tol})")
    return worst


# ---- checks of one converted file -------------------------------------------------------------

def unpermute(a, n_head):
    """GGUF llama rows -> HF rows: GGUF row h*hd + 2i + j is HF row h*hd + j*hd/2 + i."""
    rows = a.shape[0]
    hd = rows // n_head
    return a.reshape(n_head, hd // 2, 2, *a.shape[1:]).swapaxes(1, 2).reshape(a.shape)


HF2GG = [("input_layernorm.weight", "attn_norm.weight"), ("self_attn.q_proj.weight", "attn_q.weight"),
         ("self_attn.k_proj.weight", "attn_k.weight"), ("self_attn.v_proj.weight", "attn_v.weight"),
         ("self_attn.o_proj.weight", "attn_output.weight"), ("self_attn.q_proj.bias", "attn_q.bias"),
         ("self_attn.k_proj.bias", "attn_k.bias"), ("self_attn.v_proj.bias", "attn_v.bias"),
         ("self_attn.q_norm.weight", "attn_q_norm.weight"), ("self_attn.k_norm.weight", "attn_k_norm.weight"),
         ("post_attention_layernorm.weight", "ffn_norm.weight"), ("mlp.gate_proj.weight", "ffn_gate.weight"),
         ("mlp.up_proj.weight", "ffn_up.weight"), ("mlp.down_proj.weight", "ffn_down.weight")]


def expected_names(W, cfg):
    m = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight"}
    if "lm_head.weight" in W:
        m["lm_head.weight"] = "output.weight"
    for l in range(cfg["num_hidden_layers"]):
        for a, b in HF2GG:
            if "model.layers.%d.%s" % (l, a) in W:
                m["model.layers.%d.%s" % (l, a)] = "blk.%d.%s" % (l, b)
    return m


def check_tensors(f, W, cfg, arch, out_type, label):
    names = expected_names(W, cfg)
    extra = {"rope_freqs.weight"} if arch == "llama" else set()
    check(set(f.tensors) == set(names.values()) | extra,
          f"{label}: tensor names {sorted(set(f.tensors) ^ (set(names.values()) | extra))} differ")
    H, KV = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    worst = 0
    for hf, gg in names.items():
        if gg not in f.tensors:
            continue
        t = f.tensors[gg]
        ref = W[hf]
        want_type = G.GGML_F32 if ref.ndim == 1 else {"f32": G.GGML_F32, "f16": G.GGML_F16, "bf16": G.GGML_BF16}[out_type]
        check(t.type == want_type, f"{label}: {gg} has type {t.type}, expected {want_type}")
        check(t.shape == list(reversed(ref.shape)), f"{label}: {gg} ne {t.shape} vs HF shape {ref.shape}")
        if t.type != want_type or t.shape != list(reversed(ref.shape)):
            continue
        a = t.array().astype(np.float32)
        if arch == "llama" and gg.endswith(("attn_q.weight", "attn_q.bias")):
            a = unpermute(a, H)
        if arch == "llama" and gg.endswith(("attn_k.weight", "attn_k.bias")):
            a = unpermute(a, KV)
        if t.type == G.GGML_F16:
            exp = ref.astype(np.float16).astype(np.float32)
        elif t.type == G.GGML_BF16:
            exp = bf16_round(ref).reshape(ref.shape)
        else:
            exp = ref
        if not np.array_equal(a, exp):
            worst += 1
            check(False, f"{label}: {gg} != HF {hf} (max diff {np.abs(a - exp).max():.3g})")
    check(worst == 0, f"{label}: {worst} tensors differ")
    print(f"{label}: {len(names)} tensors equal to the HF ones ({out_type})")


def check_meta(f, cfg, case, tok, arch, label, file_type):
    kv = f.kv
    toks, types, merges, ids = tok
    E, H = cfg["hidden_size"], cfg["num_attention_heads"]
    hd = cfg.get("head_dim") or E // H
    want = {
        "general.architecture": arch,
        f"{arch}.context_length": 256, f"{arch}.embedding_length": E,
        f"{arch}.block_count": cfg["num_hidden_layers"], f"{arch}.feed_forward_length": cfg["intermediate_size"],
        f"{arch}.attention.head_count": H, f"{arch}.attention.head_count_kv": cfg["num_key_value_heads"],
        "tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": case["pre"],
        "tokenizer.ggml.eos_token_id": ids["<|im_end|>"],
        "tokenizer.ggml.add_bos_token": False, "tokenizer.chat_template": TEMPLATE,
        "tokenizer.ggml.normalizer": "none",  # tokenizer.json "normalizer": null
    }
    if file_type is not None:
        want["general.file_type"] = file_type
    # bos: tokenizer_config's token when given, else config.json's bos_token_id
    want["tokenizer.ggml.bos_token_id"] = ids[case["bos"]] if case["bos"] else 266
    if cfg.get("head_dim"):
        want[f"{arch}.attention.key_length"] = hd
        want[f"{arch}.attention.value_length"] = hd
    if arch == "llama":
        want[f"{arch}.rope.dimension_count"] = hd
    rs = cfg["rope_scaling"]
    t = rs.get("rope_type", rs.get("type"))
    if t == "linear":
        want[f"{arch}.rope.scaling.type"] = "linear"
    if t == "yarn":
        want[f"{arch}.rope.scaling.type"] = "yarn"
        want[f"{arch}.rope.scaling.original_context_length"] = rs["original_max_position_embeddings"]
    for k, v in want.items():
        check(kv.get(k) == v, f"{label}: {k} = {kv.get(k)!r}, expected {v!r}")
    for k, v in ((f"{arch}.rope.freq_base", cfg["rope_theta"]), (f"{arch}.attention.layer_norm_rms_epsilon", 1e-5)):
        check(k in kv and abs(kv[k] - v) <= 1e-6 * v, f"{label}: {k} = {kv.get(k)}, expected {v}")
    if t in ("linear", "yarn"):
        check(abs(kv.get(f"{arch}.rope.scaling.factor", 0) - rs["factor"]) < 1e-6, f"{label}: rope.scaling.factor")
    if t == "llama3":
        check(f"{arch}.rope.scaling.type" not in kv, f"{label}: llama3 rope writes no scaling type (rope_freqs instead)")
    check(kv.get("tokenizer.ggml.tokens") == toks, f"{label}: token table differs")
    check(kv.get("tokenizer.ggml.token_type") == types,
          f"{label}: token types differ at {[i for i, (a, b) in enumerate(zip(kv.get('tokenizer.ggml.token_type', []), types)) if a != b][:8]}")
    check(kv.get("tokenizer.ggml.merges") == merges, f"{label}: merges {kv.get('tokenizer.ggml.merges')} != {merges}")
    check(f.arr_types.get("tokenizer.ggml.token_type") == G.INT32, f"{label}: token_type is not an i32 array")


def check_quantized(f, W, cfg, arch, tol, label):
    """Each quantized matrix, decoded by quants_np, is the HF matrix (Q/K
    permutation undone) within the type's error: relative RMS error <= tol."""
    names = expected_names(W, cfg)
    H, KV = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    worst = 0.0
    for hf, gg in names.items():
        t = f.tensors.get(gg)
        ref = W[hf]
        if t is None or ref.ndim != 2:
            continue
        a = quants_np.dequantize(t.type, t.data, ref.size).reshape(ref.shape)
        if arch == "llama" and gg.endswith("attn_q.weight"):
            a = unpermute(a, H)
        if arch == "llama" and gg.endswith("attn_k.weight"):
            a = unpermute(a, KV)
        e = np.sqrt(((a - ref) ** 2).mean() / (ref ** 2).mean())
        worst = max(worst, e)
    check(worst <= tol, f"{label}: a decoded matrix differs from its HF matrix by relative RMS {worst:.3g} > {tol}")
    print(f"{label}: decoded matrices = HF matrices within relative RMS {worst:.3g} (tolerance {tol})")


def negative_control(f, path, W, cfg, ids, tmp):
    """The logits check must be able to see the permutation: the same file
    with the Q/K rows put back in HF order must score clearly differently."""
    w = G.GGUFWriter(os.path.join(tmp, "unpermuted.gguf"))
    for k, v in f.kv.items():
        w.add_kv(k, v, f.kv_types[k], f.arr_types.get(k))
    H, KV = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    for name, t in f.tensors.items():
        a = t.array()
        if name.endswith("attn_q.weight"):
            a = unpermute(a, H)
        if name.endswith("attn_k.weight"):
            a = unpermute(a, KV)
        w.add_tensor(name, np.ascontiguousarray(a, dtype=np.float32))
    w.write()
    rc, out, err = T.wafer("score", "-m", w.path, "--ids", " ".join(map(str, ids)), "--json", "-q", "--kv", "f32", text=True)
    check(rc == 0, "negative control: score failed: " + err[-300:])
    if rc == 0:
        lp = log_softmax(hf_forward(W, cfg, ids))
        d = max(abs(p["next_logprob"] - lp[i, ids[i + 1]]) for i, p in enumerate(json.loads(out)["positions"][:-1]))
        check(d > 0.05, f"negative control: without the Q/K permutation the logprobs still match ({d:.3g})")
        print(f"negative control: Q/K rows in HF order give |logprob diff| up to {d:.3g}")


def check_rope_freqs(f, cfg, label):
    """llama3 factors: rope_freqs[i] = HF's base inv_freq / llama3 inv_freq."""
    hd = cfg["hidden_size"] // cfg["num_attention_heads"]
    base = 1.0 / (cfg["rope_theta"] ** (np.arange(0, hd, 2, dtype=np.int64).astype(np.float32) / hd))
    inv, _ = inv_freq_hf(cfg, hd)
    want = base.astype(np.float64) / inv
    t = f.tensors.get("rope_freqs.weight")
    check(t is not None and t.type == G.GGML_F32 and t.shape == [hd // 2], f"{label}: rope_freqs.weight missing or wrong")
    if t is not None:
        got = t.array().astype(np.float64)
        check(np.allclose(got, want, rtol=1e-5), f"{label}: rope_freqs {got} != {want}")
        check(got.min() == 1.0 and got.max() == cfg["rope_scaling"]["factor"] and len(set(got.tolist())) > 2,
              f"{label}: the test's llama3 factors should cover the three regions: {got}")


# ---- error cases -------------------------------------------------------------------------------

def expect_error(args, words, label):
    rc, out, err = T.wafer("convert", *args, text=True)
    ok = rc == 1 and all(w.lower() in err.lower() for w in words)
    check(ok, f"{label}: expected exit 1 and {words} in the message, got {rc}: {err.strip()[-300:]}")


def hostile_cases(tmp, good_dir):
    base = os.path.join(tmp, "hostile")
    src = os.path.join(good_dir, "model.safetensors")
    raw = open(src, "rb").read()
    hlen = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + hlen])
    out = os.path.join(tmp, "hostile.gguf")

    def case(label, data, words, file_named=True):
        d = os.path.join(base, label)
        shutil.rmtree(d, ignore_errors=True)
        shutil.copytree(good_dir, d)
        with open(os.path.join(d, "model.safetensors"), "wb") as f:
            f.write(data)
        expect_error([d, out], (["model.safetensors"] if file_named else [label]) + words, label)

    def with_header(h, tail=None):
        hb = json.dumps(h).encode()
        return struct.pack("<Q", len(hb)) + hb + (raw[8 + hlen:] if tail is None else tail)

    case("truncated", raw[:len(raw) - 1000], ["past the end"])
    case("tiny", raw[:5], ["too short"])
    case("header_len", struct.pack("<Q", len(raw)) + raw[8:], ["header length"])
    case("header_json", struct.pack("<Q", hlen) + b"{" * hlen + raw[8 + hlen:], ["json"])
    name = "model.layers.0.mlp.up_proj.weight"
    h = json.loads(json.dumps(header)); h[name]["dtype"] = "Q9"
    case("bad_dtype", with_header(h), ["unknown dtype"])
    h = json.loads(json.dumps(header)); h[name]["dtype"] = "I64"
    case("unsupported_dtype", with_header(h), ["I64"])
    h = json.loads(json.dumps(header)); h[name]["data_offsets"] = [len(raw), len(raw) + 100]
    case("offsets_range", with_header(h), ["past the end"])
    h = json.loads(json.dumps(header)); h[name]["data_offsets"][1] -= 4
    case("offsets_shape", with_header(h), ["need"])
    h = json.loads(json.dumps(header)); h[name]["data_offsets"] = [2 ** 70, 2 ** 70 + 4]
    case("offsets_huge", with_header(h), ["header JSON", "too big"])
    h = json.loads(json.dumps(header)); h[name]["shape"] = [2 ** 40, 2 ** 40]
    case("shape_overflow", with_header(h), ["overflow"])
    h = json.loads(json.dumps(header))
    other = "model.layers.0.mlp.gate_proj.weight"
    h[name]["data_offsets"] = list(h[other]["data_offsets"])
    case("overlap", with_header(h), ["overlap"])
    h = json.loads(json.dumps(header)); h[name]["shape"] = [3, 5]; h[name]["data_offsets"][1] = h[name]["data_offsets"][0] + 60
    case("wrong_shape", with_header(h), ["shape"])
    h = json.loads(json.dumps(header)); del h[name]
    case("missing_tensor", with_header(h), [name], file_named=False)
    h = json.loads(json.dumps(header))
    h["model.layers.0.mlp.extra.weight"] = {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}
    case("unknown_tensor", with_header(h), ["cannot map", "extra"])

    # sharded index problems
    def index_case(label, wm_edit, words):
        d = os.path.join(base, label)
        shutil.rmtree(d, ignore_errors=True)
        shutil.copytree(good_dir, d)
        wm = {k: "model.safetensors" for k in header if k != "__metadata__"}
        wm_edit(wm)
        with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
            json.dump({"weight_map": wm}, f)
        expect_error([d, out], words, label)

    index_case("index_missing_file", lambda wm: wm.update({name: "model-2.safetensors"}), ["model-2.safetensors"])
    index_case("index_traversal", lambda wm: wm.update({name: "../model.safetensors"}), ["index.json", "not a file name"])
    index_case("index_phantom", lambda wm: wm.update({"model.layers.9.x.weight": "model.safetensors"}),
               ["index.json", "model.layers.9.x.weight"])

    # folder-level problems
    d = os.path.join(base, "no_config")
    shutil.rmtree(d, ignore_errors=True)
    shutil.copytree(good_dir, d)
    os.unlink(os.path.join(d, "config.json"))
    expect_error([d, out], ["config.json", "not found"], "missing config.json")
    d = os.path.join(base, "no_tokenizer")
    shutil.rmtree(d, ignore_errors=True)
    shutil.copytree(good_dir, d)
    os.unlink(os.path.join(d, "tokenizer.json"))
    expect_error([d, out], ["tokenizer.json", "not found"], "missing tokenizer.json")
    d = os.path.join(base, "bad_arch")
    shutil.rmtree(d, ignore_errors=True)
    shutil.copytree(good_dir, d)
    cfg = json.load(open(os.path.join(d, "config.json")))
    cfg["architectures"] = ["GPTNeoXForCausalLM"]
    json.dump(cfg, open(os.path.join(d, "config.json"), "w"))
    expect_error([d, out], ["config.json", "GPTNeoXForCausalLM", "not supported"], "unknown architecture")
    cfg["architectures"] = ["LlamaForCausalLM"]
    cfg["rope_scaling"] = {"rope_type": "dynamic", "factor": 2.0}
    json.dump(cfg, open(os.path.join(d, "config.json"), "w"))
    expect_error([d, out], ["rope", "dynamic", "not supported"], "unsupported rope type")
    del cfg["rope_scaling"]
    cfg["hidden_size"] = "big"
    json.dump(cfg, open(os.path.join(d, "config.json"), "w"))
    expect_error([d, out], ["config.json", "hidden_size"], "bad hidden_size")
    with open(os.path.join(d, "config.json"), "w") as f:
        f.write("{not json")
    expect_error([d, out], ["config.json", "invalid JSON"], "config.json not JSON")
    expect_error([good_dir, out, "--type", "q3_X"], ["q3_X"], "unknown output type")
    check(not os.path.exists(out), "no output file is left behind by a failed conversion")
    print("hostile inputs and bad folders: clear errors")


# ---- main ------------------------------------------------------------------------------------

def main():
    T.need_wafer()
    rng = np.random.default_rng(20261122)
    ids = [int(x) for x in rng.integers(0, 263, 24)]
    with tempfile.TemporaryDirectory(prefix="wafer_conv_") as tmp:
        dirs = {}
        for name, case in CASES.items():
            d = os.path.join(tmp, name)
            W, cfg, tok = make_checkpoint(d, case, rng)
            dirs[name] = d
            arch = {"LlamaForCausalLM": "llama", "Qwen2ForCausalLM": "qwen2", "Qwen3ForCausalLM": "qwen3"}[case["arch"]]
            for out_type in ("f32", "f16", "bf16"):
                label = f"{name} -> {out_type}"
                path = os.path.join(tmp, f"{name}-{out_type}.gguf")
                rc, _, err = T.wafer("convert", d, path, "--type", out_type, text=True)
                check(rc == 0, f"{label}: convert failed: {err.strip()[-400:]}")
                if rc != 0:
                    continue
                f = G.read_gguf(path)
                check_tensors(f, W, cfg, arch, out_type, label)
                check_meta(f, cfg, case, tok, arch, label, {"f32": 0, "f16": 1, "bf16": 32}[out_type])
                if arch == "llama" and out_type == "f32":
                    check_rope_freqs(f, cfg, label)
                    negative_control(f, path, W, cfg, ids, tmp)
                # the reference uses the weights as stored in the output type
                if out_type == "f32":
                    Wt = W
                elif out_type == "f16":
                    Wt = {k: (v.astype(np.float16).astype(np.float32) if v.ndim == 2 else v) for k, v in W.items()}
                else:
                    Wt = {k: (bf16_round(v).reshape(v.shape) if v.ndim == 2 else v) for k, v in W.items()}
                score_check(path, Wt, cfg, ids, 2e-3, label)
            # quantized outputs: types, then a loose check against the exact model
            for qt, tol in (("q8_0", 0.01), ("q4_K_M", 0.1)):
                label = f"{name} -> {qt}"
                path = os.path.join(tmp, f"{name}-{qt}.gguf")
                rc, _, err = T.wafer("convert", d, path, "--type", qt, text=True)
                check(rc == 0, f"{label}: convert failed: {err.strip()[-400:]}")
                if rc != 0:
                    continue
                check(not os.path.exists(path + ".convert.tmp.gguf"), f"{label}: intermediate file left behind")
                f = G.read_gguf(path)
                check(f.kv.get("general.file_type") == {"q8_0": 7, "q4_K_M": 15}[qt], f"{label}: general.file_type")
                one_d = [n for n, t in f.tensors.items() if len(t.shape) == 1]
                check(all(f.tensors[n].type == G.GGML_F32 for n in one_d), f"{label}: 1-D tensors stay f32")
                if qt == "q8_0":
                    check(all(t.type == G.GGML_Q8_0 for n, t in f.tensors.items() if len(t.shape) == 2),
                          f"{label}: all matrices q8_0")
                check_meta(f, cfg, case, tok, arch, label, None)
                check_quantized(f, W, cfg, arch, tol, label)
                # the quantized file runs: wafer = numpy reading the same file
                # (activations rounded as wafer's matmul does, see forward_np)
                score_check(path, W, cfg, ids, 5e-2, label,
                            ref_logits=forward_np.forward(path, ids, emulate_act=True))
            # vocab-only
            path = os.path.join(tmp, f"{name}-vocab.gguf")
            rc, _, err = T.wafer("convert", d, path, "--vocab-only", text=True)
            check(rc == 0, f"{name} vocab-only: {err.strip()[-300:]}")
            if rc == 0:
                f = G.read_gguf(path)
                check(len(f.tensors) == 0, f"{name} vocab-only: has tensors")
                check(f.kv.get("tokenizer.ggml.tokens") == tok[0] and f.kv.get("tokenizer.ggml.merges") == tok[2],
                      f"{name} vocab-only: tokens / merges differ")
                check(f"{arch}.block_count" not in f.kv, f"{name} vocab-only: has hyper-parameters")
                # the byte-level BPE runs: "the them" -> "the", "Ġthe", "m"; special
                # text is not parsed by default
                rc, out, err = T.wafer("tokenize", "-m", path, "-p", "the them<|im_end|>", text=True)
                v = {s: i for i, s in enumerate(tok[0])}
                want = [v["the"], v["Ġthe"], v["m"]] + [v[c] for c in "<|im_end|>"]
                check(rc == 0 and out.split() == [str(x) for x in want],
                      f"{name} vocab-only: tokenize gave {out.strip()} ({err.strip()[-200:]}), expected {want}")
            if name == "llama":
                # a vocab without config.json (only the tokenizer files)
                vd = os.path.join(tmp, "vocab_only_dir")
                os.makedirs(vd)
                for fn in ("tokenizer.json", "tokenizer_config.json"):
                    shutil.copy(os.path.join(d, fn), vd)
                rc, _, err = T.wafer("convert", vd, path, "--vocab-only", text=True)
                check(rc == 0, f"vocab-only without config.json: {err.strip()[-300:]}")
                if rc == 0:
                    f = G.read_gguf(path)
                    n = len(f.kv["tokenizer.ggml.tokens"])
                    check(n == 263 + 8, f"vocab-only without config.json: {n} tokens, expected 271 (max id + 1)")
                    check("tokenizer.ggml.eos_token_id" in f.kv and f.kv["tokenizer.ggml.eos_token_id"] == 268,
                          "vocab-only without config.json: eos from tokenizer_config")
                # tokenizer.json's normalizer -> tokenizer.ggml.normalizer (wafer's key);
                # normalizers wafer cannot apply are refused, not ignored
                tjp = os.path.join(vd, "tokenizer.json")
                tj0 = json.load(open(tjp, encoding="utf-8"))
                for nz, want in (({"type": "NFC"}, "NFC"),
                                 ({"type": "Sequence", "normalizers": [{"type": "NFKC"}]}, "NFKC"),
                                 ({"type": "Sequence", "normalizers": []}, "none"),
                                 ({"type": "Lowercase"}, None),
                                 ({"type": "Sequence", "normalizers": [{"type": "NFC"}, {"type": "Lowercase"}]}, None)):
                    json.dump(dict(tj0, normalizer=nz), open(tjp, "w", encoding="utf-8"))
                    if want is None:
                        expect_error([vd, path, "--vocab-only"], ["normalizer", "not supported"], f"normalizer {nz}")
                        continue
                    rc, _, err = T.wafer("convert", vd, path, "--vocab-only", text=True)
                    got = G.read_gguf(path).kv.get("tokenizer.ggml.normalizer") if rc == 0 else err.strip()[-200:]
                    check(got == want, f"normalizer {nz}: tokenizer.ggml.normalizer {got!r}, expected {want!r}")
                json.dump(tj0, open(tjp, "w", encoding="utf-8"))
        # matrices of 1 MiB and more are converted into file-backed scratch
        # mappings: a larger model checks that path
        big = dict(CASES["llama"], E=512, FF=1024, V=2048, H=8, KV=4)
        d = os.path.join(tmp, "big")
        W, cfg, _ = make_checkpoint(d, big, rng)
        path = os.path.join(tmp, "big-f16.gguf")
        rc, _, err = T.wafer("convert", d, path, "--type", "f16", text=True)
        check(rc == 0, f"big -> f16: convert failed: {err.strip()[-400:]}")
        if rc == 0:
            check_tensors(G.read_gguf(path), W, cfg, "llama", "f16", "big -> f16")
        check(not [n for n in os.listdir(tmp) if n.startswith(".wafer-convert")], "scratch files left behind")
        hostile_cases(tmp, dirs["llama"])
    sys.exit(T.summary("test_convert"))


if __name__ == "__main__":
    main()
