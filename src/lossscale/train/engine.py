"""Train R replicas at once; replica r minimizes ``alphas[r]`` times its own loss.

The task names the model (any registered stacked model, ``lossscale.models``).

Because the replicas share no parameters, the gradient of ``sum_r alpha_r * L_r`` with
respect to replica r's slice is exactly ``alpha_r * grad L_r``: one backward pass gives
every replica the gradient it would get alone. The stacked optimizers
(``lossscale.train.stacked_optim``) update each slice as the matching ``torch.optim``
class would update a lone model, with per-replica hyperparameters where given.

A replica whose training loss turns non-finite is frozen (its parameters stop changing)
and flagged; the others keep training. Divergence is an outcome, not an error.

Training is full batch, or on minibatches (``lossscale.train.minibatch``: one data
order per seed); the recorded training metrics are always those of the whole training
split, the recorded gradient statistics those of the step's batch (at the last step, the
batch the next step would take).
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from lossscale.models import StackedModel, build_model
from lossscale.tables import TRAIN_RECORD_COLUMNS as RECORD_COLUMNS
from lossscale.tasks import Task
from lossscale.train.checkpoint import ignore, load_checkpoint, save_checkpoint
from lossscale.train.minibatch import Minibatches
from lossscale.train.precision import PRECISIONS, Precision, StackedGradScaler
from lossscale.train.stacked_optim import make_stacked_optimizer

log = logging.getLogger(__name__)


@dataclass
class History:
    """Records at the recorded steps ``steps`` (every ``record_every``-th and the last),
    each an array of shape ``[len(steps), R]``.

    The record of step t holds the state at parameters theta_t (before update t+1):
    losses, metrics, statistics of the gradient the optimizer sees (of the scaled
    objective), the parameters' RMS and the RMS of update t+1, theta_{t+1} - theta_t
    (NaN at the last step, which has no update).
    """

    steps: np.ndarray
    columns: dict[str, np.ndarray]
    params: list[torch.Tensor]


def _evaluate(
    task: Task, model: StackedModel, x: torch.Tensor, y: torch.Tensor, precision: Precision
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-replica loss and metric on (x, y); the forward pass in ``precision``."""
    with precision.context(x.device):
        pred = model(x)
    pred = pred.to(task.dtype)  # the loss in the parameters' type, as in mixed precision
    loss = task.loss(pred, y)
    return loss, task.metric(pred.detach(), y, loss.detach())


def _flat(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """Stacked ``tensors`` (replicas along dimension 0) as one ``[R, n]`` matrix."""
    return torch.cat([t.reshape(t.shape[0], -1) for t in tensors], dim=1)


def grad_stats(grads: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    """Per-replica RMS, fraction of zero and of non-finite entries of stacked ``grads``.

    Non-finite entries are counted only when some replica's sum of squares (in float64)
    is not finite, which any non-finite entry makes it.
    """
    flat = _flat(grads)
    n = flat.shape[1]
    squares = (flat.double() ** 2).sum(dim=1)
    root = torch.sqrt(squares / n)
    zero = (n - torch.count_nonzero(flat, dim=1)).double() / n
    if bool(torch.isfinite(squares).all()):
        nonfinite = torch.zeros_like(root)
    else:
        nonfinite = (~torch.isfinite(flat)).sum(dim=1).double() / n
    return root, zero, nonfinite


def update_rms(params: Sequence[torch.Tensor], before: Sequence[torch.Tensor]) -> torch.Tensor:
    """Per-replica RMS of ``params - before``, in float64: the exact change of the
    (float32) parameters."""
    return rms([p.double() - b.double() for p, b in zip(params, before, strict=True)])


def rms(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """Per-replica root mean square over all entries of stacked ``tensors`` (in float64)."""
    return torch.sqrt((_flat(tensors).double() ** 2).mean(dim=1))


def _penalty(params: Sequence[torch.Tensor], l2: torch.Tensor) -> torch.Tensor:
    """Per-replica explicit L2 term ``l2 / 2 * |theta|^2``."""
    squares = sum((p.reshape(p.shape[0], -1) ** 2).sum(dim=1) for p in params)
    return 0.5 * l2 * squares


def _lbfgs_closure(task, model, scale, l2, train_loss, precision):
    """LBFGS's per-replica closure: its first call hands over the stacked step's gradient
    (already computed at these parameters); later calls (line search, ``max_iter > 1``)
    evaluate replica r alone at its leaf tensors."""
    calls: set[int] = set()

    def closure(r: int, leaves: list[torch.Tensor]) -> torch.Tensor:
        if r not in calls:
            calls.add(r)
            for leaf, p in zip(leaves, model.params, strict=True):
                leaf.grad = p.grad[r].clone()
            value = train_loss[r] * scale[r]
            if l2 is not None:
                value = value + _penalty([p[r : r + 1] for p in model.params], l2[r : r + 1])[0]
            return value.detach()
        stacked = [leaf.unsqueeze(0) for leaf in leaves]
        with precision.context(task.x_train.device):
            pred = model.apply(stacked, task.x_train)
        loss = task.loss(pred.to(task.dtype), task.y_train)[0] * scale[r]
        if l2 is not None:
            loss = loss + _penalty(stacked, l2[r : r + 1])[0]
        loss.backward()
        return loss.detach()

    return closure


def _resume(saved: dict, model, opt, scaler, diverged: torch.Tensor, path) -> bool:
    """Load a checkpoint's state into the run, or, where it does not fit (a damaged or
    foreign state that passed the fingerprint), put the fresh state back and say so."""
    fresh = (
        [p.detach().clone() for p in model.params],
        copy.deepcopy(opt.state_dict()),
        None if scaler is None else copy.deepcopy(scaler.state_dict()),
        diverged.clone(),
    )

    def load(params, optimizer, scaling, frozen) -> None:
        with torch.no_grad():
            for p, value in zip(model.params, params, strict=True):
                if value.shape != p.shape:
                    raise ValueError(f"a parameter of shape {tuple(value.shape)}, not {p.shape}")
                p.copy_(value)
        opt.load_state_dict(optimizer)
        if scaler is not None:
            scaler.load_state_dict(scaling)
        diverged.copy_(frozen)

    try:
        load(saved["params"], saved["optimizer"], saved["scaler"], saved["diverged"])
        for key, kind in (("rows", dict), ("recorded", list), ("next_step", int)):
            if not isinstance(saved[key], kind):
                raise TypeError(f"{key} is a {type(saved[key]).__name__}, not a {kind.__name__}")
        if set(saved["rows"]) != set(RECORD_COLUMNS):
            raise KeyError(f"recorded columns {sorted(saved['rows'])}")
    except Exception as err:  # any mismatch: the state is not this run's
        load(*fresh)
        ignore(path, f"its state does not fit this run ({type(err).__name__}: {err})")
        return False
    return True


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
    l2: Sequence[float] | None = None,
    record_every: int = 1,
    batch_size: int = 0,
    growth_interval: int = 2000,
) -> History:
    """Train one replica per (seed, alpha) pair, all at once, full batch or (with
    ``batch_size`` > 0) on minibatches whose order depends on the seed only.

    ``seeds[r]`` fixes replica r's initialization and ``alphas[r]`` the factor of its
    loss; ``l2[r]`` (default none) adds ``l2[r] / 2 * |theta_r|^2`` to its objective, not
    multiplied by the factor. ``hyper`` values are shared or given per replica. Records
    are kept every ``record_every`` steps and at the last step.

    With ``checkpoint``, the state is saved every ``checkpoint_every`` steps under
    ``fingerprint``, and a run finding a checkpoint with the same fingerprint resumes from
    it; the result equals an uninterrupted run's. ``precision`` (default: the task's
    dtype, no autocast) may run the forward pass under autocast and scale each replica's
    loss with its own :class:`StackedGradScaler` (doubling after ``growth_interval``
    finite steps); a replica whose scaled gradients
    overflow skips that step (its parameters and optimizer state stay; the stack's step
    count, shared by all replicas, advances).
    """
    if len(seeds) != len(alphas) or (l2 is not None and len(l2) != len(seeds)):
        raise ValueError("seeds, alphas and l2 must have one entry per replica")
    if record_every < 1:
        raise ValueError(f"record_every: value {record_every!r} is not allowed; allowed: >= 1")
    dtype, device = task.dtype, task.x_train.device
    model = build_model(task.model, seeds, dtype=dtype, device=device)
    opt = make_stacked_optimizer(optimizer, model, hyper)
    needs_closure = optimizer == "lbfgs"
    if needs_closure and batch_size:
        raise ValueError(
            "batch_size: L-BFGS trains full batch only (its line search and "
            "closure evaluate the whole training split); allowed: 0"
        )
    batches = Minibatches(len(task.y_train), batch_size, seeds, device) if batch_size else None
    scale = torch.as_tensor(alphas, dtype=dtype, device=device)
    decay = None
    if l2 is not None and any(l2):
        decay = torch.as_tensor(l2, dtype=dtype, device=device)
    diverged = torch.zeros(len(seeds), dtype=torch.bool, device=device)
    precision = precision or PRECISIONS[str(dtype).removeprefix("torch.")]
    scaler = None
    if precision.scaled:
        scaler = StackedGradScaler(len(seeds), device, growth_interval=growth_interval)
    rows: dict[str, list[torch.Tensor]] = {c: [] for c in RECORD_COLUMNS}
    recorded: list[int] = []
    first = 0
    saved = load_checkpoint(checkpoint, fingerprint)
    if saved is not None and _resume(saved, model, opt, scaler, diverged, checkpoint):
        rows, recorded, first = saved["rows"], saved["recorded"], saved["next_step"]
        log.info("%s: resuming from %s at step %d", label, checkpoint, first)
    start = time.perf_counter()

    for step in range(first, steps + 1):
        opt.zero_grad(set_to_none=False)
        records = step % record_every == 0 or step == steps
        if batches is None:
            train_loss, train_metric = _evaluate(task, model, task.x_train, task.y_train, precision)
            seen = train_loss
        else:
            index = batches.indices(step)
            seen = _evaluate(task, model, task.x_train[index], task.y_train[index], precision)[0]
            if records:  # the recorded training metrics: on the whole training split
                with torch.no_grad():
                    train_loss, train_metric = _evaluate(
                        task, model, task.x_train, task.y_train, precision
                    )
                diverged |= ~torch.isfinite(train_loss)
        diverged |= ~torch.isfinite(seen)
        factor = scale if scaler is None else scale * scaler.scale.to(dtype)
        objective = torch.where(diverged, 0.0, seen) * factor
        if decay is not None:
            objective = objective + torch.where(diverged, 0.0, _penalty(model.params, decay))
        objective.sum().backward()
        with torch.no_grad():
            skipped = None if scaler is None else scaler.unscale_(model.params) & ~diverged
            if records:
                test_loss, test_metric = _evaluate(task, model, task.x_test, task.y_test, precision)
                grad_rms, zero, nonfinite = grad_stats([p.grad for p in model.params])
                stats = {
                    "train_loss": train_loss,
                    "test_loss": test_loss,
                    "train_metric": train_metric,
                    "test_metric": test_metric,
                    "grad_rms": grad_rms,
                    "grad_zero_frac": zero,
                    "grad_nonfinite_frac": nonfinite,
                    "param_rms": rms(model.params),
                    "diverged": diverged.clone(),
                }
                for column, value in stats.items():
                    # a fresh copy: keeping the step's own result tensors alive for the
                    # whole run pins memory (a 245-replica diabetes job peaked at
                    # 1.14 GB with them, 0.82 GB with copies)
                    rows[column].append(value.detach().to("cpu", copy=True))
                recorded.append(step)
                before = [p.detach().clone() for p in model.params]
            else:
                before = None
            if step == steps:
                rows["update_rms"].append(torch.full((len(seeds),), torch.nan, dtype=torch.float64))
                break
            frozen = diverged if skipped is None else diverged | skipped
            frozen = frozen if frozen.any() else None
            if needs_closure:
                closure = _lbfgs_closure(task, model, scale, decay, train_loss, precision)
                with torch.enable_grad():
                    opt.step(closure, frozen=frozen)
            else:
                opt.step(frozen=frozen)
            if scaler is not None:
                scaler.update(skipped)
            if before is not None:
                rows["update_rms"].append(update_rms(model.params, before).cpu())
        done = step + 1
        if checkpoint is not None and checkpoint_every and done % checkpoint_every == 0:
            state = {
                "params": [p.detach().cpu() for p in model.params],
                "optimizer": opt.state_dict(),
                "diverged": diverged.cpu(),
                "rows": rows,
                "recorded": recorded,
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
    return History(
        steps=np.asarray(recorded), columns=columns, params=[p.detach() for p in model.params]
    )
