#!/usr/bin/python3
"""forward_np.py — an independent numpy (float64) forward pass for the
llama / qwen2 / qwen3 GGUF models, written from the math, used as the
reference for wafer's logits.

    logits = forward(path_or_GGUFFile, token_ids)   # (n, n_vocab) float64

Reads the file with gguf_py.read_gguf and dequantizes with quants_np, so a
quantized file is checked against its own (exactly decoded) weights.

Math (per layer, x the residual stream, one row per token):
    h = rmsnorm(x) * attn_norm
    q, k, v = h Wq^T (+bq), h Wk^T (+bk), h Wv^T (+bv)
    qwen3: q, k = per-head rmsnorm(q) * q_norm, rmsnorm(k) * k_norm
    q, k = rope(q), rope(k)
    a = softmax(q k^T / sqrt(head_dim) + causal mask) v   (GQA: head h uses kv head h // (H/KV))
    x = x + a Wo^T
    x = x + (silu(rmsnorm(x) * ffn_norm Wg^T) * (rmsnorm(x) * ffn_norm Wu^T)) Wd^T
    logits = rmsnorm(x) * output_norm Wout^T   (Wout = token_embd when output.weight is absent)

RoPE inverse frequencies follow HF transformers' description:
    inv_freq_i = 1 / base^(2i/d)  (divided by rope_freqs[i] when present)
    linear: inv_freq / factor
    yarn:   low, high = find_correction_range(beta_fast, beta_slow, d, base, orig_ctx)
            (floor / ceil of d*ln(orig/(2*pi*beta)) / (2 ln base), clamped to [0, d-1])
            extrapolation_factor_i = 1 - clamp((i - low) / (high - low), 0, 1)
            inv_freq = inv_freq/factor * (1 - ef) + inv_freq * ef
            cos, sin *= attention_factor = attn_factor * (0.1 ln(factor) + 1)
llama rotates adjacent pairs (x[2i], x[2i+1]) — GGUF's llama Q/K rows are
permuted by the converter for that; qwen2/qwen3 rotate halves (x[i], x[i+d/2]).
"""
import math
import sys

import numpy as np

import gguf_py as G
import quants_np as Q


class Model:
    def __init__(self, src):
        f = src if isinstance(src, G.GGUFFile) else G.read_gguf(src)
        self.f = f
        kv = f.kv
        a = kv["general.architecture"]
        if a not in ("llama", "qwen2", "qwen3"):
            raise ValueError("unsupported arch " + a)
        self.arch = a
        g = lambda k, d=None: kv.get(a + "." + k, d)
        self.E = g("embedding_length")
        self.L = g("block_count")
        self.H = g("attention.head_count")
        self.KV = g("attention.head_count_kv", self.H)
        self.HD = g("attention.key_length", self.E // self.H)
        self.FF = g("feed_forward_length")
        self.eps = float(g("attention.layer_norm_rms_epsilon", 1e-5))
        self.base = float(g("rope.freq_base", 10000.0))
        self.rd = g("rope.dimension_count", self.HD)
        self.neox = a != "llama"
        st = g("rope.scaling.type", None)
        factor = float(g("rope.scaling.factor", 1.0) or 1.0)
        if st is None:
            st = "linear" if factor != 1.0 else "none"
        self.scaling, self.factor = st, factor
        self.orig = g("rope.scaling.original_context_length", g("context_length"))
        self.beta_fast = float(g("rope.scaling.yarn_beta_fast", 32.0))
        self.beta_slow = float(g("rope.scaling.yarn_beta_slow", 1.0))
        self.attn_factor = float(g("rope.scaling.attn_factor", 1.0))
        self.tok_embd = self.mat("token_embd.weight")
        self.V = self.tok_embd.shape[0]
        self.out_norm = self.vec("output_norm.weight")
        self.out = self.mat("output.weight") if "output.weight" in f.tensors else self.tok_embd
        self.rope_freqs = self.vec("rope_freqs.weight") if "rope_freqs.weight" in f.tensors else None
        self.layers = []
        for l in range(self.L):
            p = "blk.%d." % l
            opt = lambda n: self.vec(p + n) if p + n in f.tensors else None
            self.layers.append(dict(
                attn_norm=self.vec(p + "attn_norm.weight"),
                wq=self.mat(p + "attn_q.weight"), wk=self.mat(p + "attn_k.weight"),
                wv=self.mat(p + "attn_v.weight"), wo=self.mat(p + "attn_output.weight"),
                bq=opt("attn_q.bias"), bk=opt("attn_k.bias"), bv=opt("attn_v.bias"),
                qn=opt("attn_q_norm.weight"), kn=opt("attn_k_norm.weight"),
                ffn_norm=self.vec(p + "ffn_norm.weight"),
                wg=self.mat(p + "ffn_gate.weight"), wu=self.mat(p + "ffn_up.weight"),
                wd=self.mat(p + "ffn_down.weight")))
        self.inv_freq, self.mscale = self.rope_freqs_table()

    def mat(self, name):
        t = self.f.tensors[name]
        ne0, ne1 = t.shape[0], (t.shape[1] if len(t.shape) > 1 else 1)
        x = Q.dequantize(t.type, t.data, ne0 * ne1)
        return x.astype(np.float64).reshape(ne1, ne0)

    def vec(self, name):
        t = self.f.tensors[name]
        return Q.dequantize(t.type, t.data, t.shape[0]).astype(np.float64)

    def rope_freqs_table(self):
        d = self.rd
        inv = 1.0 / self.base ** (np.arange(0, d, 2, dtype=np.float64) / d)
        if self.rope_freqs is not None:
            inv = inv / self.rope_freqs
        mscale = 1.0
        if self.scaling == "linear":
            inv = inv / self.factor
        elif self.scaling == "yarn":
            def corr_dim(n_rot):
                return d * math.log(self.orig / (n_rot * 2 * math.pi)) / (2 * math.log(self.base))
            low = max(math.floor(corr_dim(self.beta_fast)), 0)
            high = min(math.ceil(corr_dim(self.beta_slow)), d - 1)
            if low == high:
                high += 0.001
            ramp = np.clip((np.arange(d // 2, dtype=np.float64) - low) / (high - low), 0, 1)
            extrap = 1.0 - ramp
            inv = (inv / self.factor) * (1 - extrap) + inv * extrap
            mscale = self.attn_factor * (0.1 * math.log(self.factor) + 1.0 if self.factor > 1 else 1.0)
        return inv, mscale

    def rope(self, x, pos):
        """x (n, heads, hd), pos (n,)"""
        d = self.rd
        ang = pos[:, None].astype(np.float64) * self.inv_freq[None, :]  # (n, d/2)
        c = (np.cos(ang) * self.mscale)[:, None, :]
        s = (np.sin(ang) * self.mscale)[:, None, :]
        y = x.copy()
        if self.neox:
            a, b = x[..., : d // 2], x[..., d // 2: d]
            y[..., : d // 2] = a * c - b * s
            y[..., d // 2: d] = a * s + b * c
        else:
            a, b = x[..., 0:d:2], x[..., 1:d:2]
            y[..., 0:d:2] = a * c - b * s
            y[..., 1:d:2] = a * s + b * c
        return y


def rmsnorm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def forward(src, tokens):
    m = src if isinstance(src, Model) else Model(src)
    toks = np.asarray(tokens, dtype=np.int64)
    n = len(toks)
    pos = np.arange(n)
    x = m.tok_embd[toks].copy()
    grp = m.H // m.KV
    CH = 1024  # query rows per attention step: long sequences never form n x n
    for ly in m.layers:
        h = rmsnorm(x, ly["attn_norm"], m.eps)
        q, k, v = h @ ly["wq"].T, h @ ly["wk"].T, h @ ly["wv"].T
        if ly["bq"] is not None:
            q, k, v = q + ly["bq"], k + ly["bk"], v + ly["bv"]
        q = q.reshape(n, m.H, m.HD)
        k = k.reshape(n, m.KV, m.HD)
        v = v.reshape(n, m.KV, m.HD)
        if ly["qn"] is not None:
            q = rmsnorm(q, ly["qn"], m.eps)
            k = rmsnorm(k, ly["kn"], m.eps)
        q, k = m.rope(q, pos), m.rope(k, pos)
        att = np.empty((n, m.H, m.HD))
        for c0 in range(0, n, CH):
            c1 = min(n, c0 + CH)
            # causal: query i sees keys 0..i
            mask = np.where(np.arange(c1)[None, :] > np.arange(c0, c1)[:, None], -np.inf, 0.0)
            for hh in range(m.H):
                kh = hh // grp
                s = q[c0:c1, hh, :] @ k[:c1, kh, :].T / math.sqrt(m.HD) + mask
                s = s - s.max(axis=1, keepdims=True)
                p = np.exp(s)
                p /= p.sum(axis=1, keepdims=True)
                att[c0:c1, hh, :] = p @ v[:c1, kh, :]
        x = x + att.reshape(n, m.H * m.HD) @ ly["wo"].T
        h = rmsnorm(x, ly["ffn_norm"], m.eps)
        g = h @ ly["wg"].T
        u = h @ ly["wu"].T
        x = x + ((g / (1.0 + np.exp(-g))) * u) @ ly["wd"].T
    return rmsnorm(x, m.out_norm, m.eps) @ m.out.T


if __name__ == "__main__":
    lg = forward(sys.argv[1], [int(t) for t in sys.argv[2].split(",")])
    np.set_printoptions(precision=4, suppress=True)
    print(lg[:, :8])
