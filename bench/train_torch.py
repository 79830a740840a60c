"""PyTorch side of bench/train.ts: the same attention net, loss and optimiser, on random data of the same shape.
Prints one JSON line {"samples_per_s": ..., "median_samples_per_s": ..., "steps": ..., "seconds": ...}."""
import json
import sys
import time

import torch
import torch.nn.functional as F
from torch_nets import AttentionNet

in_dim, out_dim, batch, steps, warmup, threads = (int(a) for a in sys.argv[1:7])
torch.set_num_threads(threads)
torch.manual_seed(0)


net = AttentionNet(in_dim, out_dim)
opt = torch.optim.AdamW(net.parameters(), lr=1e-4, weight_decay=0.01)
x = torch.randn(batch, in_dim)
pos = torch.randn(batch, out_dim)
neg = torch.randn(batch, out_dim)
clusters = torch.randint(0, 8, (batch,))
same = clusters[:, None] == clusters[None, :]
eye = torch.eye(batch, dtype=torch.bool)
other = ~same


def step():
    a = net(x)
    loss = F.relu(F.cosine_similarity(a, neg) - F.cosine_similarity(a, pos) + 1).mean()
    s = a @ a.T
    n = (s * other).sum(1) / other.sum(1).clamp(min=1)
    loss = loss + 2.5 * F.relu(n + 1).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()


net.train()
for _ in range(warmup):
    step()
times = []
for _ in range(steps):
    t0 = time.perf_counter()
    step()
    times.append(time.perf_counter() - t0)
dt = sum(times)
median = sorted(times)[len(times) // 2]
print(json.dumps({"samples_per_s": steps * batch / dt, "median_samples_per_s": batch / median, "steps": steps, "seconds": dt}))
