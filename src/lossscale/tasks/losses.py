"""Per-replica losses and metrics on stacked outputs.

Shapes: predictions ``[R, N]`` (regression) or logits ``[R, N, K]`` (classification);
targets ``[N]`` (shared by all replicas) or ``[R, N]`` (a minibatch per replica). Every
function returns one value per replica, ``[R]``, so that replica r's loss depends on
replica r's parameters only.
"""

from __future__ import annotations

import torch


def mse(pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean squared error per replica."""
    return ((pred - y) ** 2).mean(dim=1)


def _target_log_prob(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """log p(y_n | x_n) per replica and example, ``[R, N]``."""
    log_p = torch.log_softmax(logits, dim=-1)
    index = y.unsqueeze(-1) if y.dim() == 2 else y.view(1, -1, 1).expand(logits.shape[0], -1, 1)
    return log_p.gather(-1, index).squeeze(-1)


def cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood per replica (``F.cross_entropy`` per replica)."""
    return -_target_log_prob(logits, y).mean(dim=1)


def focal(logits: torch.Tensor, y: torch.Tensor, gamma: float = 2.0) -> torch.Tensor:
    """Focal loss (Lin et al. 2017): mean of ``-(1 - p_t)^gamma log p_t`` per replica."""
    log_pt = _target_log_prob(logits, y)
    return (-((1 - log_pt.exp()) ** gamma) * log_pt).mean(dim=1)


def error_rate(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Fraction of misclassified examples per replica."""
    return (logits.argmax(dim=-1) != y).to(logits.dtype).mean(dim=1)


LOSSES = {"mse": mse, "cross_entropy": cross_entropy, "focal": focal}
