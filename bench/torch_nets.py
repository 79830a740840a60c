"""The reference attention net in PyTorch, shared by the PyTorch sides of bench/train.ts and bench/scale.ts."""
import torch.nn as nn
import torch.nn.functional as F


class AttentionNet(nn.Module):
    def __init__(self, in_dim, out_dim):
        super().__init__()
        self.input = nn.Linear(in_dim, 768)
        layer = nn.TransformerEncoderLayer(768, 8, 3072, 0.1, activation="relu", batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(768)
        self.output = nn.Linear(768, out_dim)

    def forward(self, x):
        h = self.encoder(self.input(x).unsqueeze(1)).squeeze(1)
        return F.normalize(self.output(self.norm(h)), dim=-1)
