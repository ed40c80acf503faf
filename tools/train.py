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
Checkpoints: OUT/ckpt.pt (model, optimizer, step, config), replaced atomically.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_tables(ctx, head_dim, base):
    inv = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)  # (hd/2,)
    ang = torch.arange(ctx, dtype=torch.float64)[:, None] * inv[None, :]           # (T, hd/2)
    return torch.cos(ang).float(), torch.sin(ang).float()


def apply_rope(x, cos, sin):
    """x: (B, H, T, hd); rotates adjacent pairs (GGUF llama / ggml 'normal' order)."""
    x0, x1 = x[..., 0::2], x[..., 1::2]
    y0 = x0 * cos - x1 * sin
    y1 = x0 * sin + x1 * cos
    return torch.stack((y0, y1), dim=-1).flatten(-2)


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
        att = (q @ k.transpose(-2, -1)) / math.sqrt(self.hd)           # (B, H, T, T)
        mask = torch.ones(T, T, dtype=torch.bool, device=x.device).triu(1)
        a = torch.softmax(att.masked_fill(mask, float("-inf")), dim=-1) @ v  # (B, H, T, hd)
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
        cos, sin = rope_tables(c["ctx"], c["dim"] // c["heads"], c["rope_base"])
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)

    def forward(self, idx):
        """idx: (B, T) token ids -> logits (B, T, vocab)."""
        T = idx.shape[1]
        x = self.tok(idx)
        cos, sin = self.cos[:T], self.sin[:T]
        for b in self.blocks:
            x = b(x, cos, sin)
        return self.out(self.norm(x))


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def load_tokens(path, dtype):
    return np.fromfile(path, dtype=np.dtype(dtype).newbyteorder("<")).astype(np.int64)


def lr_at(step, a):
    if step < a.warmup:
        return a.lr * (step + 1) / a.warmup
    t = min(1.0, (step - a.warmup) / max(1, a.steps - a.warmup))
    return a.min_lr + 0.5 * (a.lr - a.min_lr) * (1 + math.cos(math.pi * t))


@torch.no_grad()
def eval_loss(model, data, ctx, batches, gen):
    model.eval()
    losses = []
    for _ in range(batches):
        x, y = get_batch(data, ctx, 8, gen)
        losses.append(F.cross_entropy(model(x).flatten(0, 1), y.flatten()).item())
    model.train()
    return sum(losses) / len(losses)


def get_batch(data, ctx, bs, gen):
    ix = torch.randint(0, len(data) - ctx - 1, (bs,), generator=gen)
    x = torch.stack([torch.from_numpy(data[i:i + ctx]) for i in ix.tolist()])
    y = torch.stack([torch.from_numpy(data[i + 1:i + ctx + 1]) for i in ix.tolist()])
    return x, y


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
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
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
        opt = torch.optim.AdamW(model.parameters(), lr=a.lr, betas=(0.9, 0.95), weight_decay=a.wd)
        opt.load_state_dict(ck["opt"])
        step = ck["step"]
        gen.set_state(ck["rng"])
        print("train: resumed at step %d" % step)
    else:
        if a.dim % a.heads or a.heads % a.kv_heads or (a.dim // a.heads) % 2:
            sys.exit("train: dim must divide by heads, heads by kv-heads, head size must be even")
        cfg = {"vocab": info["n_vocab"], "dim": a.dim, "layers": a.layers, "heads": a.heads,
               "kv_heads": a.kv_heads, "ff": a.ff, "ctx": a.ctx, "eps": 1e-5, "rope_base": 10000.0}
        model = Llama(cfg)
        opt = torch.optim.AdamW(model.parameters(), lr=a.lr, betas=(0.9, 0.95), weight_decay=a.wd)
        step = 0
    ctx = cfg["ctx"]
    if len(train) <= ctx + 1 or len(held) <= ctx + 1:
        sys.exit("train: data shorter than the context")
    print("train: %.2fM params, %d train / %d held-out tokens, ctx %d, batch %d"
          % (n_params(model) / 1e6, len(train), len(held), ctx, a.batch))
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)

    t0, tok_seen = time.time(), 0
    while step < a.steps:
        for g in opt.param_groups:
            g["lr"] = lr_at(step, a)
        x, y = get_batch(train, ctx, a.batch, gen)
        loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        tok_seen += x.numel()
        if step % a.log_every == 0 or step == a.steps:
            dt = time.time() - t0
            print("step %d loss %.4f lr %.2e %.0f tok/s" % (step, loss.item(), lr_at(step - 1, a), tok_seen / dt),
                  flush=True)
        if step % a.ckpt_every == 0 or step == a.steps:
            hl = eval_loss(model, held, ctx, a.eval_batches, torch.Generator().manual_seed(0))
            print("step %d held-out loss %.4f (ppl %.2f)" % (step, hl, math.exp(hl)), flush=True)
            save_ckpt(ckpt_path, model, opt, step, cfg, gen)


if __name__ == "__main__":
    main()
