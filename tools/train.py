#!/usr/bin/python3
"""train.py — train a small llama-architecture code model in PyTorch on the
token streams of build_data.py. Offline tool; the engine never needs torch.

The model is exactly what wafer runs for general.architecture "llama":
RMSNorm, attention with grouped KV heads and RoPE, SwiGLU feed-forward,
untied output matrix. RoPE rotates ADJACENT pairs (x[2i], x[2i+1]) — GGUF's
llama order — so export.py writes Q/K as they are, with no permutation
(a Hugging Face checkpoint rotates halves and needs wf_permute_qk instead).

usage: train.py --data DIR --out DIR [--layers 6 --dim 256 --heads 8 --kv-heads 4
                --ff 704 --ctx 256] [--batch 16 --steps 5000 --lr 1e-3 --warmup 200]
                [--ckpt-every 500] [--resume] [--threads 2]
                [--init CKPT] [--copy-rows 32 --copy-len 64]
                [--device cuda --max-seconds S --lr-by-time --weights-out FILE]
Checkpoints: OUT/ckpt.pt (model, optimizer, step, config), replaced atomically;
--weights-out also writes the weights alone in bfloat16 at the end (what
tools/device_train.sh brings back from a lent GPU machine; --init and
export.py read it). --max-seconds stops at a wall-clock budget.

Copy curriculum (--copy-rows N): every step also trains on N short synthetic
copy rows of --copy-len tokens, so the model learns to continue a passage it
has already seen (what prompt lookup and predicted outputs need). A copy row
is a series of pairs "A <|file_sep|> A' <|file_sep|>": A is either a run of
random tokens (uniform ids, or tokens drawn from the training stream; the loss
on this first occurrence is masked, it cannot be predicted) or a real window
of code, and A' is A with, half of the time, 1-3 tokens replaced, inserted or
deleted, so the model also learns to pick the copy up again after a
divergence. The rows are short so that attention is not spread over a long
context while the copying circuit forms. Every eval also reports the "copy
loss": the loss on the second occurrence of held-out windows repeated back
to back (near 0 for a model that copies; near the first occurrence's loss
for one that does not). --init starts a new run (fresh optimizer, step 0)
from a checkpoint's weights: the curriculum is a fine-tune of the base model.
"""
import argparse
import json
import math
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "ref"))
import gguf_py  # noqa: E402


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_freqs(head_dim, base, scaling=None):
    """Per-pair angle rates and the cos/sin scale, as src/model/rope.c computes
    them: plain RoPE, or YaRN (llama.cpp's ggml rope): pairs whose wavelength
    fits the original context many times keep their rate, long ones are
    interpolated by the factor, a ramp in between; cos/sin scaled by
    mscale = attn_factor * (1 + 0.1 ln factor)."""
    nd = head_dim
    inv = base ** (-torch.arange(0, nd, 2, dtype=torch.float64) / nd)     # (nd/2,)
    if not scaling or scaling.get("type") != "yarn" or scaling["factor"] == 1:
        return inv, 1.0
    f, orig = float(scaling["factor"]), int(scaling["orig_ctx"])

    def corr(b):
        return nd * math.log(orig / (b * 2 * math.pi)) / (2 * math.log(base))
    low = max(0.0, math.floor(corr(scaling["beta_fast"])))
    high = min(nd - 1.0, math.ceil(corr(scaling["beta_slow"])))
    i = torch.arange(nd // 2, dtype=torch.float64)
    y = ((i - low) / max(0.001, high - low)).clamp(0, 1)
    mix = 1 - y                                   # 1: keep the rate, 0: interpolate
    th = inv / f * (1 - mix) + inv * mix
    return th, scaling.get("attn_factor", 1.0) * (1 + 0.1 * math.log(f))


def rope_tables(ctx, head_dim, base, scaling=None):
    th, mscale = rope_freqs(head_dim, base, scaling)
    ang = torch.arange(ctx, dtype=torch.float64)[:, None] * th[None, :]   # (T, hd/2)
    return (torch.cos(ang) * mscale).float(), (torch.sin(ang) * mscale).float()


def apply_rope(x, cos, sin):
    """x: (B, H, T, hd); rotates adjacent pairs (GGUF llama / ggml 'normal' order)."""
    x0, x1 = x[..., 0::2], x[..., 1::2]
    y0 = x0 * cos - x1 * sin
    y1 = x0 * sin + x1 * cos
    return torch.stack((y0, y1), dim=-1).flatten(-2)


def causal_attention(q, k, v, scale, block=256):
    """softmax(q k^T * scale, causal) v. Long rows go by blocks of queries, each
    against the keys up to its end: half the work of the full square and no
    T x T score matrix at once."""
    T = q.shape[2]
    if q.is_cuda and hasattr(F, "scaled_dot_product_attention"):   # the same product, fused (torch >= 2.1)
        return F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=scale)
    if T <= block:
        att = (q @ k.transpose(-2, -1)) * scale
        mask = torch.ones(T, T, dtype=torch.bool, device=q.device).triu(1)
        return torch.softmax(att.masked_fill(mask, float("-inf")), dim=-1) @ v
    outs = []
    for s in range(0, T, block):
        e = min(T, s + block)
        att = (q[:, :, s:e] @ k[:, :, :e].transpose(-2, -1)) * scale       # (B, H, e-s, e)
        mask = torch.ones(e - s, e, dtype=torch.bool, device=q.device).triu(s + 1)
        outs.append(torch.softmax(att.masked_fill(mask, float("-inf")), dim=-1) @ v[:, :, :e])
    return torch.cat(outs, dim=2)


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, hd = c["dim"], c["dim"] // c["heads"]
        self.h, self.kvh, self.hd = c["heads"], c["kv_heads"], hd
        self.attn_norm = RMSNorm(d, c["eps"])
        self.wq = nn.Linear(d, c["heads"] * hd, bias=False)
        self.wk = nn.Linear(d, c["kv_heads"] * hd, bias=False)
        self.wv = nn.Linear(d, c["kv_heads"] * hd, bias=False)
        self.wo = nn.Linear(c["heads"] * hd, d, bias=False)
        self.ffn_norm = RMSNorm(d, c["eps"])
        self.w_gate = nn.Linear(d, c["ff"], bias=False)
        self.w_up = nn.Linear(d, c["ff"], bias=False)
        self.w_down = nn.Linear(c["ff"], d, bias=False)

    def forward(self, x, cos, sin):
        B, T, _ = x.shape
        h = self.attn_norm(x)
        q = self.wq(h).view(B, T, self.h, self.hd).transpose(1, 2)
        k = self.wk(h).view(B, T, self.kvh, self.hd).transpose(1, 2)
        v = self.wv(h).view(B, T, self.kvh, self.hd).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        rep = self.h // self.kvh
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        a = causal_attention(q, k, v, 1.0 / math.sqrt(self.hd))            # (B, H, T, hd)
        x = x + self.wo(a.transpose(1, 2).reshape(B, T, -1))
        h = self.ffn_norm(x)
        return x + self.w_down(F.silu(self.w_gate(h)) * self.w_up(h))


class Llama(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.tok = nn.Embedding(c["vocab"], c["dim"])
        self.blocks = nn.ModuleList(Block(c) for _ in range(c["layers"]))
        self.norm = RMSNorm(c["dim"], c["eps"])
        self.out = nn.Linear(c["dim"], c["vocab"], bias=False)
        self.rope_len = 0
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)

    def forward(self, idx):
        """idx: (B, T) token ids -> logits (B, T, vocab)."""
        T = idx.shape[1]
        x = self.tok(idx)
        if T > self.rope_len:      # tables grow to the longest row seen
            c = self.c
            cos, sin = rope_tables(max(T, c["ctx"]), c["dim"] // c["heads"], c["rope_base"], c.get("rope_scaling"))
            self.cos, self.sin = cos.to(idx.device), sin.to(idx.device)
            self.rope_len = self.cos.shape[0]
        cos, sin = self.cos[:T], self.sin[:T]
        for b in self.blocks:
            x = b(x, cos, sin)
        return self.out(self.norm(x))


def dev_of(model):
    return next(model.parameters()).device


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def load_tokens(path, dtype):
    return np.fromfile(path, dtype=np.dtype(dtype).newbyteorder("<")).astype(np.int64)


def lr_at(step, a, elapsed=0.0):
    """Linear warm-up over --warmup steps, then a cosine to --min-lr over the
    rest of --steps, or (--lr-by-time) over --max-seconds of training."""
    if step < a.warmup:
        return a.lr * (step + 1) / a.warmup
    if a.lr_by_time and a.max_seconds > 0:
        t = min(1.0, elapsed / a.max_seconds)
    else:
        t = min(1.0, (step - a.warmup) / max(1, a.steps - a.warmup))
    return a.min_lr + 0.5 * (a.lr - a.min_lr) * (1 + math.cos(math.pi * t))


@torch.no_grad()
def eval_loss(model, data, ctx, batches, gen):
    model.eval()
    losses = []
    for _ in range(batches):
        x, y = get_batch(data, ctx, 8, gen)
        x, y = x.to(dev_of(model)), y.to(dev_of(model))
        losses.append(F.cross_entropy(model(x).flatten(0, 1), y.flatten()).item())
    model.train()
    return sum(losses) / len(losses)


def get_batch(data, ctx, bs, gen):
    ix = torch.randint(0, len(data) - ctx - 1, (bs,), generator=gen)
    x = torch.stack([torch.from_numpy(data[i:i + ctx]) for i in ix.tolist()])
    y = torch.stack([torch.from_numpy(data[i + 1:i + ctx + 1]) for i in ix.tolist()])
    return x, y


def mutate(seq, rng, n_vocab):
    """A copy of seq with, half of the time, 1-3 tokens replaced, inserted or deleted."""
    out = list(seq)
    if rng.random() < 0.5:
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(out))
            op = rng.randrange(3)
            if op == 0:
                out[i] = rng.randrange(n_vocab)
            elif op == 1:
                out.insert(i, rng.randrange(n_vocab))
            elif len(out) > 2:
                del out[i]
    return out


def copy_row(data, length, code_max, sep, eot, edit_frac, n_vocab, rng):
    """One synthetic copy row: (x, y) of length tokens, y = -100 where not scored.
    Random runs are 4..length/4 tokens, code windows 8..code_max. With
    probability edit_frac a code pair takes build_data.py's edit format
    instead: <eot> R <sep> A <sep> A' <eot>, R a short random run standing
    for the instruction (not scored)."""
    toks, score = [], []
    while len(toks) < length + 1:
        if rng.random() < 0.5:      # random run: uniform ids, or tokens drawn from the stream
            n = rng.randint(4, max(4, length // 4))
            if rng.random() < 0.5:
                a = [rng.randrange(n_vocab) for _ in range(n)]
            else:
                a = [int(data[rng.randrange(len(data))]) for _ in range(n)]
            scored = False
        else:                       # a real window of code
            n = rng.randint(8, max(8, code_max))
            i = rng.randrange(len(data) - n)
            a = [int(t) for t in data[i:i + n]]
            scored = True
        b = mutate(a, rng, n_vocab)
        if scored and edit_frac > 0 and rng.random() < edit_frac:
            r = [int(data[rng.randrange(len(data))]) for _ in range(rng.randint(3, 16))]
            toks += [eot] + r + [sep] + a + [sep] + b + [eot]
            score += [False] * (len(r) + 2) + [True] * (len(a) + len(b) + 2)
        else:
            toks += a + [sep] + b + [sep]
            score += [scored] * len(a) + [True] * (len(b) + 2)
    toks, score = toks[:length + 1], score[:length + 1]
    x = torch.tensor(toks[:-1])
    y = torch.tensor([t if s else -100 for t, s in zip(toks[1:], score[1:])])
    return x, y


def exact_copy_row(data, length, code_max, sep, rng, synth=0.0, n_vocab=0):
    """One row of exact copies: A <sep> A <sep> ..., A a window of 32..code_max
    tokens of the code stream, only the second A (and its <sep>) scored. No
    mutations: the model learns to trust the copy, as an edit needs for the
    99%+ of a file it keeps. With probability synth A is instead a random
    string over an alphabet of 2..16 tokens: its bigrams repeat, so only
    matching a longer run of the tokens already copied finds the place in A
    (the skill that copying repetitive code needs)."""
    toks, score = [], []
    while len(toks) < length + 1:
        n = rng.randint(min(32, code_max), code_max)
        if synth > 0 and rng.random() < synth:
            alpha = [rng.randrange(n_vocab) for _ in range(rng.randint(2, 16))]
            a = [rng.choice(alpha) for _ in range(n)]
        else:
            i = rng.randrange(len(data) - n)
            a = [int(t) for t in data[i:i + n]]
        toks += a + [sep] + a + [sep]
        score += [False] * (n + 1) + [True] * (n + 1)
    toks, score = toks[:length + 1], score[:length + 1]
    x = torch.tensor(toks[:-1])
    y = torch.tensor([t if s else -100 for t, s in zip(toks[1:], score[1:])])
    return x, y


def copy_batch(data, rows, length, code_max, sep, eot, edit_frac, n_vocab, rng, exact=False, synth=0.0):
    if exact:
        xy = [exact_copy_row(data, length, code_max, sep, rng, synth, n_vocab) for _ in range(rows)]
        return torch.stack([x for x, _ in xy]), torch.stack([y for _, y in xy])
    xy = [copy_row(data, length, code_max, sep, eot, edit_frac, n_vocab, rng) for _ in range(rows)]
    return torch.stack([x for x, _ in xy]), torch.stack([y for _, y in xy])


@torch.no_grad()
def copy_loss(model, data, ctx, n=8):
    """Mean loss on the second occurrence of held-out windows repeated back to back
    (fixed windows, so evals are comparable), and on their first occurrence."""
    model.eval()
    half = ctx // 2
    step = max(1, (len(data) - half) // n)
    xs = [np.concatenate([data[i:i + half], data[i:i + half]]) for i in range(0, step * n, step)]
    x = torch.from_numpy(np.stack(xs)).to(dev_of(model))
    logp = F.log_softmax(model(x[:, :-1]), dim=-1)
    nll = -logp.gather(-1, x[:, 1:, None])[..., 0]
    model.train()
    return nll[:, half - 1:].mean().item(), nll[:, :half - 1].mean().item()


def chat_batch(chat, rows, length, rng):
    """Rows packed with whole chat examples from a random one on (build_data.py
    --chat): x, y = -100 where the token is not part of an assistant turn, and
    the per-token loss weights (chat.mask)."""
    tok, mask, idx = chat
    # the examples lie back to back in chat.bin: a row is the length + 1
    # tokens from an example's start on, wrapping to the first example
    total = int(idx[-1])
    starts = np.array([idx[rng.randrange(len(idx) - 1)] for _ in range(rows)], dtype=np.int64)
    pos = (starts[:, None] + np.arange(length + 1)[None, :]) % total
    t, m = tok[pos], mask[pos]
    y = np.where(m[:, 1:] != 0, t[:, 1:], -100)
    return torch.from_numpy(t[:, :-1]), torch.from_numpy(y), torch.from_numpy(m[:, 1:].astype(np.float32))


def long_batch(data, starts, rows, length, rng):
    """Rows of length tokens of the code stream that begin at a document start."""
    xs, ys = [], []
    for _ in range(rows):
        i = starts[rng.randrange(len(starts))]
        i = min(i, len(data) - length - 2)
        xs.append(torch.from_numpy(data[i:i + length]))
        ys.append(torch.from_numpy(data[i + 1:i + length + 1]))
    return torch.stack(xs), torch.stack(ys)


@torch.no_grad()
def long_eval(model, data, starts, length, n=2):
    """Mean loss of the tokens past length/2 in rows of length tokens, and of
    the same tokens read in rows of length/8 (does far context help?)."""
    model.eval()
    far, near = [], []
    k = length // 8
    for j in range(n):
        i = min(starts[(j * 7919) % len(starts)], len(data) - length - 2)
        x = torch.from_numpy(data[i:i + length + 1])[None].to(dev_of(model))
        lp = F.log_softmax(model(x[:, :-1]), dim=-1).gather(-1, x[:, 1:, None])[0, :, 0]
        far.append(-lp[length // 2:].mean().item())
        nl = []
        for s0 in range(length // 2, length, k):
            xx = x[:, s0:s0 + k + 1]
            l2 = F.log_softmax(model(xx[:, :-1]), dim=-1).gather(-1, xx[:, 1:, None])[0, :, 0]
            nl.append(-l2.mean().item())
        near.append(sum(nl) / len(nl))
    model.train()
    return sum(far) / n, sum(near) / n


def step_loss(model, a, train, ctx, gen, chat, cmax, sep, eot, cfg, starts, crng, step):
    """One step's loss over its code, copy, chat and long rows (floats: under
    bf16 autocast the logits are bf16, the cross-entropy runs in float32).
    Rows are made on the CPU and moved to the model's device."""
    dev = dev_of(model)
    x, y = get_batch(train, ctx, a.batch, gen)
    x, y = x.to(dev), y.to(dev)
    loss = F.cross_entropy(model(x).float().flatten(0, 1), y.flatten())
    n_copy = n_chat = n_long = 0
    if a.copy_rows > 0:
        cx, cy = copy_batch(train, a.copy_rows, a.copy_len, cmax, sep, eot, a.copy_edit, cfg["vocab"], crng,
                            a.copy_exact, a.copy_synth)
        cx, cy = cx.to(dev), cy.to(dev)
        loss = loss + F.cross_entropy(model(cx).float().flatten(0, 1), cy.flatten(), ignore_index=-100)
        n_copy = cx.numel()
    if chat is not None:
        hx, hy, hw = (t.to(dev) for t in chat_batch(chat, a.chat_rows, a.chat_len, crng))
        ce = F.cross_entropy(model(hx).float().flatten(0, 1), hy.flatten(), ignore_index=-100, reduction="none")
        loss = loss + (ce * hw.flatten()).sum() / hw.sum().clamp(min=1)
        n_chat = hx.numel()
    if a.long_rows > 0 and step % a.long_every == 0:
        lx, ly = long_batch(train, starts, a.long_rows, a.long_len, crng)
        lx, ly = lx.to(dev), ly.to(dev)
        loss = loss + F.cross_entropy(model(lx).float().flatten(0, 1), ly.flatten())
        n_long = lx.numel()
    return loss, n_chat, n_long, n_copy, x


def save_weights(path, state, step, cfg):
    """The weights alone in bfloat16 (a quarter of a checkpoint: what goes to
    and comes back from a device machine), loadable by --init and export.py."""
    tmp = path + ".tmp"
    sd = {k: v.detach().to("cpu", torch.bfloat16) for k, v in state.items()}
    torch.save({"model": sd, "step": step, "config": cfg}, tmp)
    os.replace(tmp, path)


def save_ckpt(path, model, opt, step, cfg, gen):
    tmp = path + ".tmp"
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "config": cfg,
                "rng": gen.get_state()}, tmp)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--kv-heads", type=int, default=4)
    ap.add_argument("--ff", type=int, default=704)
    ap.add_argument("--ctx", type=int, default=256)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=5000)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--min-lr", type=float, default=1e-4)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--wd", type=float, default=0.1)
    ap.add_argument("--ckpt-every", type=int, default=500)
    ap.add_argument("--log-every", type=int, default=10)
    ap.add_argument("--eval-batches", type=int, default=4)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--init", help="start from this checkpoint's weights (new optimizer, step 0)")
    ap.add_argument("--copy-rows", type=int, default=0, help="copy rows per step (0: no curriculum)")
    ap.add_argument("--copy-len", type=int, default=64, help="tokens per copy row")
    ap.add_argument("--copy-code-max", type=int, default=0,
                    help="longest code window in a copy pair (0: copy-len / 2 - 1)")
    ap.add_argument("--copy-edit", type=float, default=0.0,
                    help="probability that a code copy pair is in the edit format")
    ap.add_argument("--copy-exact", action="store_true",
                    help="copy rows are exact copies of code windows (32..--copy-code-max tokens), no mutations "
                         "and no random runs")
    ap.add_argument("--copy-synth", type=float, default=0.0,
                    help="with --copy-exact: the share of copies that are random strings over a 2..16-token alphabet")
    ap.add_argument("--chat", help="folder with chat.bin / chat.mask / chat.idx (build_data.py --chat)")
    ap.add_argument("--chat-rows", type=int, default=0, help="chat rows per step")
    ap.add_argument("--chat-len", type=int, default=1024)
    ap.add_argument("--long-rows", type=int, default=0, help="long code rows per step")
    ap.add_argument("--long-len", type=int, default=4096)
    ap.add_argument("--long-every", type=int, default=1, help="long rows on every Nth step")
    ap.add_argument("--bf16", action="store_true",
                    help="bfloat16 autocast for the forward and backward matmuls (weights and the optimizer stay "
                         "float32); 2.5x faster on CPUs with AMX or AVX512-BF16")
    ap.add_argument("--stop-after", type=int, default=0,
                    help="stop after this step although the schedule runs to --steps")
    ap.add_argument("--max-seconds", type=float, default=0,
                    help="stop (and checkpoint) at the first step past this many seconds of training")
    ap.add_argument("--lr-by-time", action="store_true",
                    help="the cosine runs over --max-seconds instead of --steps (a run on a lent GPU, whose "
                         "speed is not known beforehand)")
    ap.add_argument("--device", default="cpu", help="cpu, or cuda on a machine with a GPU (tools/device_train.sh)")
    ap.add_argument("--weights-out", help="at the end, also write the weights alone in bfloat16 here")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    torch.manual_seed(a.seed)
    with open(os.path.join(a.data, "data.json")) as f:
        info = json.load(f)
    train = load_tokens(os.path.join(a.data, "train.bin"), info["dtype"])
    held = load_tokens(os.path.join(a.data, "heldout.bin"), info["dtype"])
    os.makedirs(a.out, exist_ok=True)
    ckpt_path = os.path.join(a.out, "ckpt.pt")
    gen = torch.Generator().manual_seed(a.seed)

    if a.resume and os.path.exists(ckpt_path):
        ck = torch.load(ckpt_path, map_location="cpu")
        cfg = ck["config"]
        model = Llama(cfg)
        model.load_state_dict(ck["model"])
        model.to(dev)
        opt = torch.optim.AdamW(model.parameters(), lr=a.lr, betas=(0.9, 0.95), weight_decay=a.wd)
        opt.load_state_dict(ck["opt"])
        step = ck["step"]
        gen.set_state(ck["rng"])
        print("train: resumed at step %d" % step)
    elif a.init:
        ck = torch.load(a.init, map_location="cpu")
        cfg = ck["config"]
        model = Llama(cfg)
        model.load_state_dict(ck["model"])   # a bfloat16 --weights-out file is cast to float32
        model.to(dev)
        opt = torch.optim.AdamW(model.parameters(), lr=a.lr, betas=(0.9, 0.95), weight_decay=a.wd)
        step = 0
        print("train: initialised from %s (its step %d)" % (a.init, ck["step"]))
    else:
        if a.dim % a.heads or a.heads % a.kv_heads or (a.dim // a.heads) % 2:
            sys.exit("train: dim must divide by heads, heads by kv-heads, head size must be even")
        cfg = {"vocab": info["n_vocab"], "dim": a.dim, "layers": a.layers, "heads": a.heads,
               "kv_heads": a.kv_heads, "ff": a.ff, "ctx": a.ctx, "eps": 1e-5, "rope_base": 10000.0}
        model = Llama(cfg).to(dev)
        opt = torch.optim.AdamW(model.parameters(), lr=a.lr, betas=(0.9, 0.95), weight_decay=a.wd)
        step = 0
    ctx = cfg["ctx"]
    if len(train) <= ctx + 1 or len(held) <= ctx + 1:
        sys.exit("train: data shorter than the context")
    print("train: %.2fM params, %d train / %d held-out tokens, ctx %d, batch %d"
          % (n_params(model) / 1e6, len(train), len(held), ctx, a.batch))
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)

    sep = eot = None
    cmax = a.copy_code_max or a.copy_len // 2 - 1   # the longest code window of a copy pair
    if a.copy_rows < 0 or not 0 <= a.copy_edit <= 1:
        sys.exit("train: --copy-rows must be >= 0 and --copy-edit in [0, 1]")
    if a.copy_rows > 0:
        if a.copy_len < 16 or not 8 <= cmax < len(train):
            sys.exit("train: --copy-len must be >= 16 and the longest code window (--copy-code-max) "
                     "8..%d tokens" % (len(train) - 1))
        g = gguf_py.read_gguf(info["vocab"])
        names = list(g.kv["tokenizer.ggml.tokens"])
        sep, eot = names.index("<|file_sep|>"), names.index("<|endoftext|>")
    chat = None
    if a.chat_rows > 0:
        with open(os.path.join(a.chat, "chat.json")) as f:
            cinfo = json.load(f)
        chat = (load_tokens(os.path.join(a.chat, "chat.bin"), cinfo["dtype"]),
                np.fromfile(os.path.join(a.chat, "chat.mask"), dtype=np.uint8),
                np.fromfile(os.path.join(a.chat, "chat.idx"), dtype="<i8"))
        print("train: %d chat examples, %d tokens" % (len(chat[2]) - 1, len(chat[0])))
    eot_id = int(info.get("eot", -1))
    starts = (np.nonzero(train == eot_id)[0] + 1).tolist() if eot_id >= 0 else [0]
    hstarts = (np.nonzero(held == eot_id)[0] + 1).tolist() if eot_id >= 0 else [0]
    hstarts = [0] + [i for i in hstarts if i < len(held) - a.long_len - 2]
    crng = random.Random(a.seed * 7919 + step)   # the copy rows of a resumed run differ; fine
    t0, tok_seen = time.time(), 0
    end = min(a.steps, a.stop_after) if a.stop_after > 0 else a.steps
    while step < end:
        lr = lr_at(step, a, time.time() - t0)
        for g in opt.param_groups:
            g["lr"] = lr
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=a.bf16):
            loss, n_chat, n_long, n_copy, x = step_loss(model, a, train, ctx, gen, chat, cmax, sep, eot, cfg,
                                                        starts, crng, step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        tok_seen += x.numel() + n_copy + n_chat + n_long
        if a.max_seconds > 0 and time.time() - t0 >= a.max_seconds:
            end = step
        last = step == end
        if step % a.log_every == 0 or last:
            dt = time.time() - t0
            print("step %d loss %.4f lr %.2e %.0f tok/s" % (step, loss.item(), lr, tok_seen / dt),
                  flush=True)
        if step % a.ckpt_every == 0 or last:
            hl = eval_loss(model, held, ctx, a.eval_batches, torch.Generator().manual_seed(0))
            c2, c1 = copy_loss(model, held, ctx)
            print("step %d held-out loss %.4f (ppl %.2f) copy loss %.4f (first occurrence %.4f)"
                  % (step, hl, math.exp(hl), c2, c1), flush=True)
            if a.long_rows > 0:
                far, near = long_eval(model, held, hstarts, a.long_len)
                print("step %d long rows of %d: loss past the middle %.4f in one row, %.4f in rows of %d"
                      % (step, a.long_len, far, near, a.long_len // 8), flush=True)
            save_ckpt(ckpt_path, model, opt, step, cfg, gen)
    if a.weights_out:
        save_weights(a.weights_out, model.state_dict(), step, cfg)
        print("train: weights of step %d in %s" % (step, a.weights_out))


if __name__ == "__main__":
    main()
