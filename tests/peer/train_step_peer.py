#!/usr/bin/env python3
"""The PyTorch peer of `cosae bench train`: cosae's training step written the way a Python
user would write it, to compare LibTorch C++ against Python PyTorch on the same machine.

Same architecture as cosae's presets (src/model/: encoder of stride-2 conv + GELU + residual
blocks, per-level gains, factorised prior, learnable frequencies, decoder with residual and
shifted-window attention blocks with grouped-query heads, sub-pixel upsampling), same loss
(lambda * 255^2 * MSE + bpp), AdamW with gradient clipping, an Adam on the prior's quantiles.
The harmonic synthesis is the naive broadcast formulation (cosae has its own kernels), and
the batch is generated on the device, so this times the network and optimiser only (cosae's
benchmark also includes its data loader). It prints the parameter count to check it matches
`cosae train`'s.

    python3 tests/peer/train_step_peer.py --device cuda --config default --batch 16 --crop 256
    build/cosae bench train --device cuda --config default --batch 16 --crop 256
"""
import argparse
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

CONFIGS = {  # mirrors src/model/config.cpp
    "default": dict(D=64, U=4, K=256, enc=[64, 96, 128, 192, 256, 320], C=128, blocks=4, window=8,
                    heads=4, kv_heads=2, filters=[3, 3, 3]),
    "tiny": dict(D=16, U=4, K=8, enc=[8, 12, 16, 16], C=16, blocks=1, window=4, heads=2, kv_heads=1,
                 filters=[3]),
}
LAMBDAS = [0.0018, 0.0035, 0.0067, 0.0130, 0.0250, 0.0483]


class ResBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return x + self.conv2(F.gelu(self.conv1(x)))


class Attention(nn.Module):
    def __init__(self, c, heads, kv_heads):
        super().__init__()
        self.heads, self.kv_heads, self.d = heads, kv_heads, c // heads
        self.to_q = nn.Linear(c, heads * self.d)
        self.to_kv = nn.Linear(c, 2 * kv_heads * self.d)
        self.to_out = nn.Linear(heads * self.d, c)

    def forward(self, x, mask):
        B, L, _ = x.shape
        q = self.to_q(x).view(B, L, self.heads, self.d).transpose(1, 2)
        kv = self.to_kv(x).view(B, L, 2, self.kv_heads, self.d)
        k, v = kv[:, :, 0].transpose(1, 2), kv[:, :, 1].transpose(1, 2)
        if self.kv_heads != self.heads:
            k = k.repeat_interleave(self.heads // self.kv_heads, 1)
            v = v.repeat_interleave(self.heads // self.kv_heads, 1)
        if hasattr(F, "scaled_dot_product_attention"):
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        else:  # PyTorch 1.x
            logits = q @ k.transpose(-2, -1) / math.sqrt(self.d)
            out = torch.softmax(logits if mask is None else logits + mask, -1) @ v
        return self.to_out(out.transpose(1, 2).reshape(B, L, -1))


def shifted_window_mask(H, W, win, device):
    region = torch.zeros(H, W, dtype=torch.long)
    s, r = win // 2, 0
    for hs in (slice(0, -win), slice(-win, -s), slice(-s, None)):
        for ws in (slice(0, -win), slice(-win, -s), slice(-s, None)):
            region[hs, ws] = r
            r += 1
    w = region.view(H // win, win, W // win, win).permute(0, 2, 1, 3).reshape(-1, win * win)
    return torch.where(w[:, :, None] == w[:, None, :], 0.0, -1e9).to(device)


class WindowBlock(nn.Module):
    def __init__(self, c, heads, kv_heads, win, shifted):
        super().__init__()
        self.win, self.shifted = win, shifted
        self.norm1, self.norm2 = nn.LayerNorm(c), nn.LayerNorm(c)
        self.attention = Attention(c, heads, kv_heads)
        self.mlp = nn.Sequential(nn.Linear(c, 2 * c), nn.GELU(), nn.Linear(2 * c, c))

    def forward(self, x):
        B, C, H, W = x.shape
        w = self.win
        t = x.float().permute(0, 2, 3, 1)  # residual stream and layer norms in float32, as cosae
        shift = self.shifted and (H > w or W > w)
        if shift:
            t = torch.roll(t, (-(w // 2), -(w // 2)), (1, 2))
        nh, nw = H // w, W // w
        tokens = t.reshape(B, nh, w, nw, w, C).permute(0, 1, 3, 2, 4, 5).reshape(B * nh * nw, w * w, C)
        mask = shifted_window_mask(H, W, w, x.device).repeat(B, 1, 1).unsqueeze(1) if shift else None
        n = self.norm1(tokens)
        tokens = tokens + self.attention(n, mask)
        tokens = tokens + self.mlp(self.norm2(tokens))
        t = tokens.view(B, nh, nw, w, w, C).permute(0, 1, 3, 2, 4, 5).reshape(B, H, W, C)
        if shift:
            t = torch.roll(t, (w // 2, w // 2), (1, 2))
        return t.permute(0, 3, 1, 2)


class Prior(nn.Module):
    """Factorised prior (Balle et al. 2018), as cosae's EntropyBottleneck."""

    def __init__(self, channels, filters, init_scale=10.0):
        super().__init__()
        widths = [1] + filters + [1]
        scale = init_scale ** (1 / (len(widths) - 1))
        self.matrices, self.biases, self.factors = nn.ParameterList(), nn.ParameterList(), nn.ParameterList()
        for i in range(len(widths) - 1):
            init = math.log(math.expm1(1 / scale / widths[i + 1]))
            self.matrices.append(nn.Parameter(torch.full((channels, widths[i + 1], widths[i]), init)))
            self.biases.append(nn.Parameter(torch.rand(channels, widths[i + 1], 1) - 0.5))
            if i + 2 < len(widths):
                self.factors.append(nn.Parameter(torch.zeros(channels, widths[i + 1], 1)))
        self.quantiles = nn.Parameter(torch.tensor([-init_scale, 0.0, init_scale]).repeat(channels, 1, 1))

    def logits(self, x):
        for i, m in enumerate(self.matrices):
            x = F.softplus(m) @ x + self.biases[i]
            if i < len(self.factors):
                x = x + torch.tanh(self.factors[i]) * torch.tanh(x)
        return x

    def likelihood(self, y):
        B, C, h, w = y.shape
        v = y.transpose(0, 1).reshape(C, 1, -1)
        lower, upper = self.logits(v - 0.5), self.logits(v + 0.5)
        sign = -torch.sign(lower + upper).detach()
        like = (torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower)).abs().clamp_min(1e-9)
        return like.reshape(C, B, h, w).transpose(0, 1)

    def aux_loss(self):
        t = math.log(2 / 1e-9 - 1)
        target = torch.tensor([-t, 0.0, t], device=self.quantiles.device).view(1, 1, 3)
        return (self.logits(self.quantiles) - target).abs().sum()


class CosAE(nn.Module):
    def __init__(self, c):
        super().__init__()
        K, T, C = c["K"], c["D"] // c["U"], c["C"]
        self.K, self.T = K, T
        layers, cin = [], 3
        for cout in c["enc"]:
            layers += [nn.Conv2d(cin, cout, 3, stride=2, padding=1), nn.GELU(), ResBlock(cout)]
            cin = cout
        layers.append(nn.Conv2d(cin, 2 * K, 1))
        self.encoder = nn.Sequential(*layers)
        init = torch.tensor([0.5 * math.log(l / LAMBDAS[-1]) + math.log(4.0) for l in LAMBDAS]).view(-1, 1)
        self.log_gains = nn.Parameter(init.repeat(1, 2 * K))
        self.log_inverse_gains = nn.Parameter((-init).repeat(1, 2 * K))
        self.prior = Prior(2 * K, c["filters"])
        self.frequencies = nn.Parameter(torch.rand(K, 2) * T - T / 2)  # (u, v) in cycles per tile
        self.project = nn.Conv2d(K, C, 1)
        body = []
        for i in range(c["blocks"]):
            body += [ResBlock(C), WindowBlock(C, c["heads"], c["kv_heads"], c["window"], i % 2 == 1)]
        self.body = nn.Sequential(*body)
        up, ch, u = [], C, c["U"]
        while u > 1:
            nxt = max(ch // 2, 16)
            up += [nn.Conv2d(ch, 4 * nxt, 3, padding=1), nn.PixelShuffle(2), nn.GELU()]
            ch, u = nxt, u // 2
        up.append(nn.Conv2d(ch, 3, 3, padding=1))
        self.upsample = nn.Sequential(*up)

    def synthesis(self, latent):
        """Naive broadcast HCM: H[k, i*T+y, j*T+x] = a cos(theta) + b sin(theta)."""
        a, b = latent[:, : self.K], latent[:, self.K:]
        B, K, h, w = a.shape
        pos = (torch.arange(self.T, device=a.device, dtype=a.dtype) + 0.5) / self.T - 0.5
        theta = 2 * math.pi * (self.frequencies[:, 0, None, None] * pos[None, None, :]
                               + self.frequencies[:, 1, None, None] * pos[None, :, None])  # [K, T(y), T(x)]
        cos, sin = torch.cos(theta), torch.sin(theta)
        H = a[..., None, None] * cos[None, :, None, None] + b[..., None, None] * sin[None, :, None, None]
        return H.permute(0, 1, 2, 4, 3, 5).reshape(B, K, h * self.T, w * self.T)

    def forward(self, x, levels):
        # As cosae under --bf16: the latent, the prior and the synthesis stay float32.
        y = self.encoder(x - 0.5).float() * torch.exp(self.log_gains[levels])[:, :, None, None]
        noisy = y + torch.empty_like(y).uniform_(-0.5, 0.5)
        with torch.autocast(y.device.type, enabled=False):
            like = self.prior.likelihood(noisy)
        med = self.prior.quantiles[:, 0, 1].detach().view(1, -1, 1, 1)
        y_hat = y + (torch.round(y - med) + med - y).detach()
        z = y_hat * torch.exp(self.log_inverse_gains[levels])[:, :, None, None]
        rec = self.upsample(self.body(self.project(self.synthesis(z)))) + 0.5
        return rec, -torch.log2(like).flatten(1).sum(1)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--config", default="default", choices=sorted(CONFIGS))
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--crop", type=int, default=256)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--bf16", action="store_true", help="autocast to bfloat16")
    p.add_argument("--json", help="also write the result here")
    o = p.parse_args()
    dev = torch.device(o.device)
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.manual_seed(0)
    net = CosAE(CONFIGS[o.config]).to(dev)
    main_params = [q for n, q in net.named_parameters() if n != "prior.quantiles"]
    opt = torch.optim.AdamW(main_params, lr=1e-4, weight_decay=0.0)
    aux_opt = torch.optim.Adam([net.prior.quantiles], lr=1e-3)
    lambdas = torch.tensor(LAMBDAS, device=dev)
    x = torch.rand(o.batch, 3, o.crop, o.crop, device=dev)

    def step():
        levels = torch.randint(len(LAMBDAS), (o.batch,), device=dev)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=o.bf16):
            rec, bits = net(x, levels)
        mse = (rec.float() - x).pow(2).flatten(1).mean(1)
        loss = (lambdas[levels] * 255 ** 2 * mse + bits / (o.crop * o.crop)).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(main_params, 1.0)
        opt.step()
        aux_opt.zero_grad()
        net.prior.aux_loss().backward()
        aux_opt.step()
        return loss.item()  # one host copy per step, as cosae's loop

    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    for _ in range(o.warmup):
        step()
    sync()
    times = []
    for _ in range(o.steps):
        t0 = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t0)
    times.sort()
    mean = sum(times) / len(times)
    result = {
        "benchmark": "train-peer-pytorch", "torch": torch.__version__, "device": str(dev), "config": o.config,
        "parameters": sum(q.numel() for q in net.parameters()), "batch": o.batch, "crop": o.crop,
        "precision": "bf16 autocast" if o.bf16 else "fp32", "step_ms": 1e3 * times[len(times) // 2],
        "images_per_s": o.batch / mean, "megapixels_per_s": o.batch * o.crop * o.crop / mean / 1e6,
    }
    print(f"{'config':10} {'params':>9} {'batch':>5} {'crop':>5} {'precision':>9} {'step ms':>9} {'images/s':>9}")
    print(f"{o.config:10} {result['parameters']:9d} {o.batch:5d} {o.crop:5d} {result['precision']:>9} "
          f"{result['step_ms']:9.1f} {result['images_per_s']:9.1f}")
    if o.json:
        with open(o.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
