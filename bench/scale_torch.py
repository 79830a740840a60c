"""PyTorch side of bench/scale.ts: one epoch of the attention net (triplet + v2 regulariser, AdamW, batch 256) over
<dir>/features.npy read as the original reads it: numpy.load(mmap_mode="r") and a shuffled DataLoader that indexes one
row at a time. Prints one JSON line."""
import json
import resource
import sys
import time

t_start = time.perf_counter()
import numpy as np
import torch
import torch.nn.functional as F
from torch_nets import AttentionNet

folder, threads, batch, max_steps, layers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), [int(x) for x in sys.argv[5].split(",")]
torch.set_num_threads(threads)
torch.manual_seed(0)
features = np.load(f"{folder}/features.npy", mmap_mode="r")
row_labels = np.load(f"{folder}/labels.npy").astype(np.int64)
n = features.shape[0]
in_dim = len(layers) * features.shape[2]
out_dim, n_labels = 384, 56
label_emb = torch.randn(n_labels, out_dim)


class Rows(torch.utils.data.Dataset):
    def __len__(self):
        return n

    def __getitem__(self, i):
        return torch.from_numpy(np.ascontiguousarray(features[i, layers]).reshape(-1)), int(row_labels[i])


net = AttentionNet(in_dim, out_dim)
opt = torch.optim.AdamW(net.parameters(), lr=1e-4, weight_decay=0.01)
loader = torch.utils.data.DataLoader(Rows(), batch_size=batch, shuffle=True, num_workers=0)
net.train()
steps = 0
samples = 0
t0 = time.perf_counter()
for x, y in loader:
    pos = label_emb[y]
    neg = label_emb[torch.randint(0, n_labels, (len(y), 5))].mean(1)
    clusters = y % 12
    a = net(x)
    loss = F.relu(F.cosine_similarity(a, neg) - F.cosine_similarity(a, pos) + 1).mean()
    s = a @ a.T
    other = clusters[:, None] != clusters[None, :]
    nn_ = (s * other).sum(1) / other.sum(1).clamp(min=1)
    loss = loss + 2.5 * F.relu(nn_ + 1).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    steps += 1
    samples += len(y)
    if max_steps > 0 and steps >= max_steps:
        break
train_s = time.perf_counter() - t0
io = dict(line.split(": ") for line in open("/proc/self/io").read().strip().split("\n"))
print(
    json.dumps(
        {
            "rows": n,
            "steps": steps,
            "samples": samples,
            "train_s": train_s,
            "wall_s": time.perf_counter() - t_start,
            "samples_per_s": samples / train_s,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "read_bytes": int(io["read_bytes"]),
            "rchar": int(io["rchar"]),
        }
    )
)
