"""Train R replicas at once; replica r minimizes ``alphas[r]`` times its own loss.

Because the replicas share no parameters, the gradient of ``sum_r alpha_r * L_r`` with
respect to replica r's slice is exactly ``alpha_r * grad L_r``: one backward pass gives
every replica the gradient it would get alone. The stacked optimizers
(``lossscale.train.stacked_optim``) update each slice as the matching ``torch.optim``
class would update a lone model, with per-replica hyperparameters where given.

A replica whose training loss turns non-finite is frozen (its parameters stop changing)
and flagged; the others keep training. Divergence is an outcome, not an error.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from lossscale.models import StackedMLP
from lossscale.tables import TRAIN_RECORD_COLUMNS as RECORD_COLUMNS
from lossscale.tasks import Task
from lossscale.train.checkpoint import load_checkpoint, save_checkpoint
from lossscale.train.precision import PRECISIONS, Precision, StackedGradScaler
from lossscale.train.stacked_optim import make_stacked_optimizer

log = logging.getLogger(__name__)


@dataclass
class History:
    """Per-step records, each an array of shape ``[steps + 1, R]``.

    Row t holds the state at parameters theta_t (before update t+1): losses, metrics,
    and statistics of the gradient the optimizer sees (of ``alpha * loss``).
    """

    columns: dict[str, np.ndarray]
    params: list[torch.Tensor]


def _evaluate(
    task: Task, model: StackedMLP, x: torch.Tensor, y: torch.Tensor, precision: Precision
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-replica loss and metric on (x, y); the forward pass in ``precision``."""
    with precision.context(x.device):
        pred = model(x)
    pred = pred.to(x.dtype)  # the loss in the parameters' type, as in mixed precision
    loss = task.loss(pred, y)
    return loss, task.metric(pred.detach(), y, loss.detach())


def _grad_stats(params: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    """Per-replica gradient RMS, fraction of zero and of non-finite entries."""
    grads = [p.grad.reshape(p.shape[0], -1) for p in params]
    flat = torch.cat(grads, dim=1)
    n = flat.shape[1]
    rms = torch.sqrt((flat.double() ** 2).sum(dim=1) / n)
    zero = (flat == 0).sum(dim=1).double() / n
    nonfinite = (~torch.isfinite(flat)).sum(dim=1).double() / n
    return rms, zero, nonfinite


def train_stacked(
    task: Task,
    seeds: Sequence[int],
    alphas: Sequence[float],
    optimizer: str,
    hyper: dict,
    steps: int,
    label: str = "",
    progress_every: int = 0,
    checkpoint: str | Path | None = None,
    checkpoint_every: int = 0,
    fingerprint: str = "",
    precision: Precision | None = None,
) -> History:
    """Train one replica per (seed, alpha) pair, all at once, full batch.

    ``seeds[r]`` fixes replica r's initialization and ``alphas[r]`` its loss scale.
    With ``checkpoint``, the state is saved every ``checkpoint_every`` steps under
    ``fingerprint``, and a run finding a checkpoint with the same fingerprint resumes from
    it; the result equals an uninterrupted run's. ``precision`` (default: the task's
    dtype, no autocast) may run the forward pass under autocast and scale each replica's
    loss with its own :class:`StackedGradScaler`; a replica whose scaled gradients
    overflow skips that step (its parameters and optimizer state stay; the stack's step
    count, shared by all replicas, advances).
    """
    if len(seeds) != len(alphas):
        raise ValueError("seeds and alphas must have one entry per replica")
    dtype, device = task.x_train.dtype, task.x_train.device
    model = StackedMLP(task.layer_sizes, seeds, task.output_scale, dtype=dtype, device=device)
    opt = make_stacked_optimizer(optimizer, model.params, len(seeds), hyper)
    scale = torch.as_tensor(alphas, dtype=dtype, device=device)
    diverged = torch.zeros(len(seeds), dtype=torch.bool, device=device)
    precision = precision or PRECISIONS[str(dtype).removeprefix("torch.")]
    scaler = StackedGradScaler(len(seeds), device) if precision.scaled else None
    rows: dict[str, list[torch.Tensor]] = {c: [] for c in RECORD_COLUMNS}
    first = 0
    saved = load_checkpoint(checkpoint, fingerprint)
    if saved is not None:
        with torch.no_grad():
            for p, value in zip(model.params, saved["params"], strict=True):
                p.copy_(value)
        opt.load_state_dict(saved["optimizer"])
        if scaler is not None:
            scaler.load_state_dict(saved["scaler"])
        diverged.copy_(saved["diverged"])
        rows, first = saved["rows"], saved["next_step"]
        log.info("%s: resuming from %s at step %d", label, checkpoint, first)
    start = time.perf_counter()

    for step in range(first, steps + 1):
        opt.zero_grad(set_to_none=False)
        train_loss, train_metric = _evaluate(task, model, task.x_train, task.y_train, precision)
        diverged |= ~torch.isfinite(train_loss)
        factor = scale if scaler is None else scale * scaler.scale.to(dtype)
        objective = (torch.where(diverged, 0.0, train_loss) * factor).sum()
        objective.backward()
        with torch.no_grad():
            skipped = None if scaler is None else scaler.unscale_(model.params) & ~diverged
            test_loss, test_metric = _evaluate(task, model, task.x_test, task.y_test, precision)
            rms, zero, nonfinite = _grad_stats(model.params)
            stats = (
                train_loss,
                test_loss,
                train_metric,
                test_metric,
                rms,
                zero,
                nonfinite,
                diverged.clone(),
            )
            for column, value in zip(RECORD_COLUMNS, stats, strict=True):
                rows[column].append(value.detach().to("cpu"))
            if step == steps:
                break
            frozen = diverged if skipped is None else diverged | skipped
            opt.step(frozen=frozen if frozen.any() else None)
            if scaler is not None:
                scaler.update(skipped)
        done = step + 1
        if checkpoint is not None and checkpoint_every and done % checkpoint_every == 0:
            state = {
                "params": [p.detach().cpu() for p in model.params],
                "optimizer": opt.state_dict(),
                "diverged": diverged.cpu(),
                "rows": rows,
                "next_step": done,
                "scaler": None if scaler is None else scaler.state_dict(),
            }
            save_checkpoint(checkpoint, fingerprint, state)
        if progress_every and done % progress_every == 0:
            rate = (done - first) / (time.perf_counter() - start)
            log.info(
                "%s step %d/%d (%.0f steps/s), %d/%d replicas diverged",
                label,
                done,
                steps,
                rate,
                int(diverged.sum()),
                len(seeds),
            )

    columns = {c: torch.stack(v).to(torch.float64).numpy() for c, v in rows.items()}
    columns["diverged"] = columns["diverged"].astype(bool)
    return History(columns=columns, params=[p.detach() for p in model.params])
