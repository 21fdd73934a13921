"""A small pre-norm transformer for token sequences, stacked.

Token and position embeddings, ``blocks`` pre-norm blocks (LayerNorm, multi-head
self-attention, residual; LayerNorm, a 4x MLP with GELU, residual), a final LayerNorm
and a linear head on the last position. The LayerNorms make everything between them
invariant to the scale of their inputs, which is what sets these networks apart in the
loss-scale story.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional

from lossscale.models.functional import StackedModule


class Block(nn.Module):
    """Pre-norm self-attention and MLP, each with a residual connection."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width)
        self.fc1 = nn.Linear(width, 4 * width)
        self.fc2 = nn.Linear(4 * width, width)

    def forward(self, h: Tensor) -> Tensor:
        n, length, width = h.shape
        q, k, v = self.qkv(self.norm1(h)).split(width, dim=-1)
        q, k, v = (t.view(n, length, self.heads, -1).transpose(1, 2) for t in (q, k, v))
        # softmax(q k^T / sqrt(d)) v written out: vmap batches these products (it has no
        # batching rule for the fused CPU kernel of scaled_dot_product_attention)
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
        attended = torch.softmax(scores, dim=-1) @ v
        h = h + self.proj(attended.transpose(1, 2).reshape(n, length, width))
        return h + self.fc2(functional.gelu(self.fc1(self.norm2(h))))


class TinyTransformer(nn.Module):
    """``[N, length]`` token ids to ``[N, classes]`` logits (read at the last position)."""

    def __init__(
        self, vocab: int, length: int, width: int, heads: int, blocks: int, classes: int
    ) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, width)
        self.position = nn.Parameter(torch.randn(length, width) * 0.02)
        self.blocks = nn.ModuleList(Block(width, heads) for _ in range(blocks))
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, classes)

    def forward(self, tokens: Tensor) -> Tensor:
        h = self.embed(tokens) + self.position
        for block in self.blocks:
            h = block(h)
        return self.head(self.norm(h[..., -1, :]))


class StackedTransformer(StackedModule):
    """R replicas of :class:`TinyTransformer`."""

    module = TinyTransformer
    example_dims = 1
    not_hidden = ("embed", "head")
