#!/usr/bin/python3
"""forward_np.py — an independent numpy (float64) forward pass for the
llama / qwen2 / qwen3 / qwen3moe / gpt-oss GGUF models, written from the math, used as the
reference for wafer's logits.

    logits = forward(path_or_GGUFFile, token_ids)   # (n, n_vocab) float64
    logits = forward(path, ids, emulate_act=True)    # see below

emulate_act: a quantized weight's dot products in wafer (as in llama.cpp)
take the activations quantized to the weight's "vec_dot_type": q8_0 blocks
of 32 for q4_0/q5_0/q8_0 (q8_1 for q4_1/q5_1: the same values), q8_K blocks
of 256 for the K-quants. With emulate_act the reference rounds the
activations the same way before those matmuls (q8_0: f16 d = amax/127
rounded up, q = round(x/d); q8_K: f32 d = max/-127), so a quantized model
can be checked tightly; without it, the difference is the (much larger)
activation rounding error. Because wafer's and numpy's activations differ
by float rounding (~1e-7), an activation sitting on a rounding boundary can
still quantize one step apart: a few positions may then differ by ~1e-3.

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

qwen3moe replaces the feed-forward line by a mixture of experts (Qwen3-MoE,
norm_topk_prob = true), with h = rmsnorm(x) * ffn_norm:
    p = softmax(h Wr^T)                       (Wr = ffn_gate_inp, one row per expert)
    S = the expert_used_count largest p;  w_e = p_e / sum_{s in S} p_s
    x = x + sum_{e in S} w_e * (silu(h Wg_e^T) * (h Wu_e^T)) Wd_e^T
where Wg_e, Wu_e, Wd_e are expert e's slices of ffn_{gate,up,down}_exps
(GGUF ne [n_embd, n_ff_exp, n_expert]: numpy [expert, row, column]).

gpt-oss (from the model card and the format's tensors): Q/K/V and output
biases; each head h has a sink logit s_h, so its attention weights are
    p_j = exp(a_j) / (sum_i exp(a_i) + exp(s_h)),  a_j = q.k_j / sqrt(head_dim)
over the visible keys: all earlier ones on odd layers, only the last
`sliding_window` positions (i - j < window) on even layers; the feed-forward
norm is post_attention_norm; the MoE block adds biases to the router and to
each expert's gate/up/down, takes the top-k logits with weights
softmax(chosen logits), and its gated unit is
    x = min(g, 7);  y = clamp(u, -7, 7);  x * sigmoid(1.702 x) * (y + 1).

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
        if a not in ("llama", "qwen2", "qwen3", "qwen3moe", "gpt-oss"):
            raise ValueError("unsupported arch " + a)
        self.arch = a
        g = lambda k, d=None: kv.get(a + "." + k, d)
        self.E = g("embedding_length")
        self.L = g("block_count")
        self.H = g("attention.head_count")
        self.KV = g("attention.head_count_kv", self.H)
        self.HD = g("attention.key_length", self.E // self.H)
        self.FF = g("feed_forward_length")
        self.NE = g("expert_count", 0)
        self.K = g("expert_used_count", 0)
        self.oss = a == "gpt-oss"
        self.swa = g("attention.sliding_window", 0) if self.oss else 0
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
                ffn_norm=self.vec(p + ("post_attention_norm.weight" if self.oss else "ffn_norm.weight"))))
            if self.oss:
                self.layers[-1].update(
                    bo=self.vec(p + "attn_output.bias"), sinks=self.vec(p + "attn_sinks.weight"),
                    window=self.swa if l % 2 == 0 else 0, br=self.vec(p + "ffn_gate_inp.bias"),
                    bg=self.vecs(p + "ffn_gate_exps.bias"), bu=self.vecs(p + "ffn_up_exps.bias"),
                    bd=self.vecs(p + "ffn_down_exps.bias"))
            if self.NE:
                self.layers[-1].update(
                    router=self.mat(p + "ffn_gate_inp.weight"), wg=self.exps(p + "ffn_gate_exps.weight"),
                    wu=self.exps(p + "ffn_up_exps.weight"), wd=self.exps(p + "ffn_down_exps.weight"))
            else:
                self.layers[-1].update(
                    wg=self.mat(p + "ffn_gate.weight"), wu=self.mat(p + "ffn_up.weight"),
                    wd=self.mat(p + "ffn_down.weight"))
        self.inv_freq, self.mscale = self.rope_freqs_table()

    def mat(self, name):
        t = self.f.tensors[name]
        ne0, ne1 = t.shape[0], (t.shape[1] if len(t.shape) > 1 else 1)
        x = Q.dequantize(t.type, t.data, ne0 * ne1)
        mat = Mat(x.astype(np.float64).reshape(ne1, ne0), t.type)
        if t.type in Q_MIN_TYPES:  # per-block minimum m (f16 at bytes 2..3)
            bs = Q.BLOCK[t.type][1]
            raw = np.ascontiguousarray(np.asarray(t.data).reshape(-1, bs)[:, 2:4])
            mat.mins = raw.view("<f2").astype(np.float64).reshape(ne1, ne0 // 32)
        return mat

    def exps(self, name):
        """A stacked expert tensor [ne0, ne1, n_expert] as one Mat per expert."""
        t = self.f.tensors[name]
        ne0, ne1, ne2 = t.shape
        if ne2 != self.NE:
            raise ValueError("%s: %d experts, expert_count %d" % (name, ne2, self.NE))
        x = Q.dequantize(t.type, t.data, ne0 * ne1 * ne2).astype(np.float64).reshape(ne2, ne1, ne0)
        return [Mat(x[e], t.type) for e in range(ne2)]

    def vecs(self, name):
        """[n, rows] -> numpy (rows, n)"""
        t = self.f.tensors[name]
        return Q.dequantize(t.type, t.data, t.shape[0] * t.shape[1]).astype(np.float64).reshape(t.shape[1], t.shape[0])

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


Q8_0_ACT = {2, 6, 8, 3, 7, 9, 20, 39}  # q4_0 q5_0 q8_0 q4_1 q5_1 q8_1 iq4_nl mxfp4 -> q8_0/q8_1
Q8_K_ACT = {10, 11, 12, 13, 14, 23}     # K-quants, iq4_xs -> q8_K activations
Q_MIN_TYPES = {3, 7}                # q4_1, q5_1: w = d*q + m, dotted with q8_1


class Mat:
    """A weight matrix (rows, n) as float64 plus its GGUF type."""

    def __init__(self, w, type_id):
        self.w, self.type = w, type_id
        self.shape = w.shape

    def __getitem__(self, k):
        return self.w[k]


def act_roundtrip(x, type_id):
    """x (n, k) as wafer's matmul sees it for a weight of type type_id."""
    if type_id in Q8_0_ACT:
        b = x.astype(np.float32).reshape(-1, 32)
        amax = np.max(np.abs(b), axis=1, keepdims=True)
        d = (amax / np.float32(127)).astype(np.float32)
        # the scale is stored as fp16, rounded up when rounding to nearest
        # would shrink it (so no value needs more than 127 steps); the codes
        # are taken with the stored scale: q = round-half-even(x * (1/d16))
        h = d.astype(np.float16)
        h = np.where(h.astype(np.float32) < d, np.nextafter(h, np.float16(np.inf)), h)
        d16 = h.astype(np.float32)
        inv = np.where(d16 > 0, np.float32(1) / np.where(d16 > 0, d16, 1), 0).astype(np.float32)
        q = np.clip(np.rint((b * inv).astype(np.float32)), -127, 127)
        return (q * d16.astype(np.float64)).reshape(x.shape)
    if type_id in Q8_K_ACT:
        b = x.astype(np.float32).reshape(-1, 256)
        idx = np.argmax(np.abs(b), axis=1)
        mx = b[np.arange(len(b)), idx][:, None]
        iscale = np.where(mx != 0, np.float32(-127) / np.where(mx != 0, mx, 1), 0).astype(np.float32)
        q = np.minimum(np.round(iscale * b), 127)
        d = np.where(iscale != 0, np.float32(1) / np.where(iscale != 0, iscale, 1), 0).astype(np.float32)
        return (q.astype(np.float64) * d.astype(np.float64)).reshape(x.shape)
    return x


EMULATE = [False]


def mm(x, m):
    """x (n, k) @ W^T for a Mat W (rows, k)."""
    if not EMULATE[0]:
        return x @ m.w.T
    xq = act_roundtrip(x, m.type)
    y = xq @ m.w.T
    if m.type in Q_MIN_TYPES:
        # q4_1/q5_1 dots add m * s per block, where q8_1's s = d * sum(q) is
        # stored as f16: emulate that rounding of the block sums
        s = xq.reshape(x.shape[0], -1, 32).sum(axis=2)             # (n, k/32) exact
        s16 = s.astype(np.float32).astype(np.float16).astype(np.float64)
        y = y + (s16 - s) @ m.mins.T
    return y


def rmsnorm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def moe(m, ly, h):
    """The qwen3moe expert block for h (n, E): softmax router, top-k, the
    chosen probabilities renormalised, weighted sum of SwiGLU experts."""
    lg = mm(h, ly["router"])                                  # (n, NE)
    if m.oss:
        lg = lg + ly["br"]
    p = np.exp(lg - lg.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    out = np.zeros_like(h)
    for t in range(h.shape[0]):
        sel = np.argsort(-p[t], kind="stable")[:m.K]           # ties: lower index first
        w = p[t, sel] / p[t, sel].sum()  # = softmax over the chosen logits (gpt-oss's form)
        for e, we in zip(sel, w):
            ht = h[t:t + 1]
            g, u = mm(ht, ly["wg"][e]), mm(ht, ly["wu"][e])
            if m.oss:
                g, u = g + ly["bg"][e], u + ly["bu"][e]
                xg = np.minimum(g, 7.0)
                act = xg / (1.0 + np.exp(-1.702 * xg)) * (np.clip(u, -7.0, 7.0) + 1.0)
                out[t] += we * (mm(act, ly["wd"][e])[0] + ly["bd"][e])
            else:
                out[t] += we * mm((g / (1.0 + np.exp(-g))) * u, ly["wd"][e])[0]
    return out


def forward(src, tokens, emulate_act=False):
    EMULATE[0] = emulate_act
    m = src if isinstance(src, Model) else Model(src)
    toks = np.asarray(tokens, dtype=np.int64)
    n = len(toks)
    pos = np.arange(n)
    x = m.tok_embd.w[toks].copy()
    grp = m.H // m.KV
    CH = 1024  # query rows per attention step: long sequences never form n x n
    for ly in m.layers:
        h = rmsnorm(x, ly["attn_norm"], m.eps)
        q, k, v = mm(h, ly["wq"]), mm(h, ly["wk"]), mm(h, ly["wv"])
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
            if ly.get("window"):  # sliding window: key j visible to query i when i - j < window
                mask = np.where(np.arange(c0, c1)[:, None] - np.arange(c1)[None, :] >= ly["window"], -np.inf, mask)
            for hh in range(m.H):
                kh = hh // grp
                s = q[c0:c1, hh, :] @ k[:c1, kh, :].T / math.sqrt(m.HD) + mask
                sink = ly["sinks"][hh] if m.oss else -np.inf
                mx = np.maximum(s.max(axis=1, keepdims=True), sink)
                p = np.exp(s - mx)
                p /= p.sum(axis=1, keepdims=True) + np.exp(sink - mx)
                att[c0:c1, hh, :] = p @ v[:c1, kh, :]
        x = x + mm(att.reshape(n, m.H * m.HD), ly["wo"]) + (ly["bo"] if m.oss else 0.0)
        h = rmsnorm(x, ly["ffn_norm"], m.eps)
        if m.NE:
            x = x + moe(m, ly, h)
            continue
        g = mm(h, ly["wg"])
        u = mm(h, ly["wu"])
        x = x + mm((g / (1.0 + np.exp(-g))) * u, ly["wd"])
    return mm(rmsnorm(x, m.out_norm, m.eps), m.out)


if __name__ == "__main__":
    lg = forward(sys.argv[1], [int(t) for t in sys.argv[2].split(",")])
    np.set_printoptions(precision=4, suppress=True)
    print(lg[:, :8])
