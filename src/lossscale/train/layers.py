"""Per-layer gradients against eps: does scaling the loss help the earliest layers most?

The asker guessed that multiplying the loss "fights vanishing gradients in the earlier
layers". Under an Adam-type optimizer a layer whose gradient RMS is below eps takes
eps-dominated steps (about ``lr * g / eps``): multiplying the loss by ``a`` multiplies
them by ``a`` until the layer's scaled gradient reaches eps, after which its step stays
near ``lr``. The layers deepest in the eps regime (the smallest gradient RMS / eps) are
the last to saturate, so at a large factor their steps have grown the most. Multiplying
the learning rate by ``a`` instead grows every layer's step by ``a``, saturated or not.

``layer_table`` measures this on one network: per layer (its weight and bias together),
the unscaled gradient RMS at initialization against eps, the RMS of the first update and
the distance travelled over the run, both relative to the layer's parameter RMS at
initialization, for the loss and for the learning rate multiplied by each factor.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import torch

from lossscale.device import make_deterministic, resolve_device
from lossscale.models import build_model
from lossscale.tables import LAYER_COLUMNS, PHASE_ARMS
from lossscale.tasks import make_task
from lossscale.train.engine import train_stacked
from lossscale.train.variants import Replica, replica_setup

log = logging.getLogger(__name__)

#: The arms probed: the loss times the factor, the learning rate times it.
ARMS = ("none", "lr_instead")


def _layer_rms(tensors: Sequence[torch.Tensor], layers: Sequence[Sequence[int]]) -> torch.Tensor:
    """``[R, L]``: per replica, the RMS of each layer's tensors (``layers``: their indices)."""
    return torch.stack(
        [
            torch.cat([tensors[i].reshape(tensors[i].shape[0], -1) for i in layer], dim=1)
            .double()
            .pow(2)
            .mean(dim=1)
            .sqrt()
            for layer in layers
        ],
        dim=1,
    )


def layer_table(
    task: str,
    task_settings: Mapping[str, Any],
    optimizer: str,
    hyper: Mapping[str, Any],
    alphas: Sequence[float],
    seeds: int,
    steps: int,
    device: str,
    threads: int,
) -> pd.DataFrame:
    """One row per (arm, factor, seed, layer) (``LAYER_COLUMNS``); layers counted from the
    input (1) to the output layer. ``hyper`` is the optimizer's validated config section
    (its ``eps`` is what the gradients are compared with). float32, as the grid."""
    make_deterministic(threads)
    dev = resolve_device(device)
    data = make_task(task, dict(task_settings), torch.float32, dev)
    replicas = [
        Replica("none", arm, 0.0, float(alpha), seed)
        for arm, alpha, seed in itertools.product(ARMS, alphas, range(seeds))
    ]
    setup = replica_setup(optimizer, hyper, replicas)
    model = build_model(data.model, setup.seeds, dtype=torch.float32, device=dev)
    data.loss(model(data.x_train), data.y_train).sum().backward()
    start = [p.detach() for p in model.params]
    layers = model.layers()
    grads = _layer_rms([p.grad for p in model.params], layers)
    scale = _layer_rms(start, layers)

    def moved(params: Sequence[torch.Tensor]) -> torch.Tensor:
        changes = [p.double() - s.double() for p, s in zip(params, start, strict=True)]
        return _layer_rms(changes, layers) / scale

    args = (data, setup.seeds, setup.loss_scales, optimizer, setup.hyper)
    log.info("%s/%s: %d replicas, %d layers", task, optimizer, len(replicas), grads.shape[1])
    first = moved(train_stacked(*args, 1).params)
    label = f"{task}/{optimizer} layers"
    run = train_stacked(*args, steps, label, max(1, steps // 10), record_every=steps)
    distance = moved(run.params)
    final_metric = run.columns["train_metric"][-1]
    eps = float(hyper["eps"])
    rows = []
    for r, rep in enumerate(replicas):
        for layer, n in enumerate(sum(start[i][0].numel() for i in ids) for ids in layers):
            rows.append(
                {
                    "task": task,
                    "optimizer": optimizer,
                    "arm": PHASE_ARMS[rep.compensation],
                    "factor": rep.alpha,
                    "seed": rep.seed,
                    "layer": layer + 1,
                    "n_params": n,
                    "grad_rms_init": float(grads[r, layer]),
                    "grad_over_eps": float(grads[r, layer]) / eps,
                    "param_rms_init": float(scale[r, layer]),
                    "update_rms_first": float(first[r, layer]),
                    "distance": float(distance[r, layer]),
                    "train_metric": float(final_metric[r]),
                }
            )
    return pd.DataFrame(rows, columns=list(LAYER_COLUMNS))
