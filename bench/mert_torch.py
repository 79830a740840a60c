"""PyTorch eager side of bench/mert.ts: the MERT-v1-95M architecture (HuBERT-style, as tools/make-mert-fixture.ts
builds it in ONNX) with random weights, timed on the same input shape and thread count. Prints one JSON line.

    /usr/bin/python3 bench/mert_torch.py BATCH SAMPLES RUNS WARMUP THREADS
"""
import json
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

KERNELS = [10, 3, 3, 3, 3, 2, 2]
STRIDES = [5, 2, 2, 2, 2, 2, 2]


class FeatureEncoder(nn.Module):
    def __init__(self, dim=512):
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Conv1d(1 if i == 0 else dim, dim, k, stride=s, bias=False) for i, (k, s) in enumerate(zip(KERNELS, STRIDES))
        )
        self.norm0 = nn.GroupNorm(dim, dim)

    def forward(self, x):
        x = x[:, None]
        for i, conv in enumerate(self.convs):
            x = conv(x)
            if i == 0:
                x = self.norm0(x)
            x = F.gelu(x)
        return x


class Layer(nn.Module):
    def __init__(self, hidden, heads, ffn):
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(hidden, hidden)
        self.k = nn.Linear(hidden, hidden)
        self.v = nn.Linear(hidden, hidden)
        self.o = nn.Linear(hidden, hidden)
        self.norm1 = nn.LayerNorm(hidden)
        self.ff1 = nn.Linear(hidden, ffn)
        self.ff2 = nn.Linear(ffn, hidden)
        self.norm2 = nn.LayerNorm(hidden)

    def forward(self, x):
        b, t, h = x.shape
        hd = h // self.heads
        split = lambda y: y.view(b, t, self.heads, hd).transpose(1, 2)
        q = split(self.q(x)) * (1.0 / math.sqrt(hd))
        k = split(self.k(x))
        v = split(self.v(x))
        # Hugging Face's HuBERT/MERT attention in eager mode: explicit matmul + softmax.
        probs = torch.softmax(q @ k.transpose(-1, -2), dim=-1)
        ctx = (probs @ v).transpose(1, 2).reshape(b, t, h)
        x = self.norm1(x + self.o(ctx))
        return self.norm2(x + self.ff2(F.gelu(self.ff1(x))))


class Mert(nn.Module):
    def __init__(self, conv=512, hidden=768, layers=12, heads=12, ffn=3072, pos_kernel=128, pos_groups=16):
        super().__init__()
        self.encoder = FeatureEncoder(conv)
        self.proj_norm = nn.LayerNorm(conv)
        self.proj = nn.Linear(conv, hidden)
        self.pos_conv = nn.Conv1d(hidden, hidden, pos_kernel, padding=pos_kernel // 2, groups=pos_groups)
        self.norm = nn.LayerNorm(hidden)
        self.layers = nn.ModuleList(Layer(hidden, heads, ffn) for _ in range(layers))

    def forward(self, x):
        x = self.encoder(x).transpose(1, 2)
        x = self.proj(self.proj_norm(x))
        pos = self.pos_conv(x.transpose(1, 2))[:, :, :-1]
        x = self.norm(x + F.gelu(pos).transpose(1, 2))
        hidden = [x]
        for layer in self.layers:
            x = layer(x)
            hidden.append(x)
        return torch.stack(hidden, dim=1)


def main():
    batch, samples, runs, warmup, threads = (int(a) for a in sys.argv[1:6])
    torch.manual_seed(0)
    torch.set_num_threads(threads)
    model = Mert().eval()
    x = torch.randn(batch, samples)
    with torch.inference_mode():
        for _ in range(warmup):
            out = model(x)
        start = time.perf_counter()
        for _ in range(runs):
            out = model(x)
        seconds = time.perf_counter() - start
    print(json.dumps({
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "shape": list(out.shape),
        "seconds": seconds,
        "segments_per_s": batch * runs / seconds,
    }))


if __name__ == "__main__":
    main()
