"""A small pre-norm transformer for token sequences, stacked.

Token and position embeddings, ``blocks`` pre-norm blocks (LayerNorm, multi-head
self-attention, residual; LayerNorm, a 4x MLP with GELU, residual), a final LayerNorm
and a linear head on the last position. The LayerNorms make everything between them
invariant to the scale of their inputs, which is what sets these networks apart in the
loss-scale story.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

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


def _linear(h: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """Each replica's ``nn.Linear`` on ``h [R, ..., in]`` (weights ``[R, out, in]``): one
    batched product over the flattened middle dimensions."""
    flat = h.reshape(h.shape[0], -1, h.shape[-1])
    return torch.baddbmm(bias.unsqueeze(1), flat, weight.mT).view(*h.shape[:-1], -1)


def _norm(h: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """Each replica's ``nn.LayerNorm`` (default eps) over the last dimension."""
    shape = (weight.shape[0],) + (1,) * (h.dim() - 2) + (weight.shape[-1],)
    normed = functional.layer_norm(h, h.shape[-1:])
    return torch.addcmul(bias.view(shape), normed, weight.view(shape))


def stacked_forward(params: dict[str, Tensor], tokens: Tensor, heads: int) -> Tensor:
    """:class:`TinyTransformer` of every replica at once: ``params`` by parameter name,
    each ``[R, ...]``; ``tokens`` shared ``[N, L]`` or ``[R, N, L]``; logits ``[R, N, C]``.
    The same operations as the module, batched over replicas with batched products."""
    embed = params["embed.weight"]
    rows = torch.arange(embed.shape[0], device=embed.device).view(-1, 1, 1)
    h = embed[:, tokens] if tokens.dim() == 2 else embed[rows, tokens]
    h = h + params["position"].unsqueeze(1)
    r, n, length, width = h.shape
    blocks = sorted({k.split(".")[1] for k in params if k.startswith("blocks.")}, key=int)
    for i in blocks:
        p = {k.removeprefix(f"blocks.{i}."): v for k, v in params.items()}
        qkv = _linear(_norm(h, p["norm1.weight"], p["norm1.bias"]), p["qkv.weight"], p["qkv.bias"])
        q, k, v = (
            t.reshape(r, n, length, heads, -1).transpose(2, 3) for t in qkv.split(width, dim=-1)
        )
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
        attended = (torch.softmax(scores, dim=-1) @ v).transpose(2, 3).reshape(r, n, length, width)
        h = h + _linear(attended, p["proj.weight"], p["proj.bias"])
        inner = functional.gelu(
            _linear(_norm(h, p["norm2.weight"], p["norm2.bias"]), p["fc1.weight"], p["fc1.bias"])
        )
        h = h + _linear(inner, p["fc2.weight"], p["fc2.bias"])
    last = _norm(h[:, :, -1], params["norm.weight"], params["norm.bias"])
    return _linear(last, params["head.weight"], params["head.bias"])


class StackedTransformer(StackedModule):
    """R replicas of :class:`TinyTransformer`, evaluated by :func:`stacked_forward` (about
    1.3 times faster than ``vmap`` over the module on a CPU, measured by the benchmark),
    one replica after another under autocast."""

    module = TinyTransformer
    example_dims = 1
    not_hidden = ("embed", "head")

    def apply(self, params: Sequence[Tensor], x: Tensor) -> Tensor:
        if torch.is_autocast_enabled(x.device.type):
            return super().apply(params, x)
        named = dict(zip(self.names, params, strict=True))
        return stacked_forward(named, x, self.args["heads"])
