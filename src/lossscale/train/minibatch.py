"""Minibatches of a stacked run: one data order per seed, shared by that seed's replicas.

Each epoch reshuffles the training split with a generator seeded by (seed, epoch) and
cuts it into ``n // batch_size`` batches (the last partial batch is dropped, so every
step sees ``batch_size`` examples). Step t of a run uses batch ``t mod n_batches`` of
epoch ``t // n_batches``: the batches depend on the seed and the step only, so every
alpha and variant of one seed sees the same data (the comparisons stay paired by
seed), and a run resumed from a checkpoint sees what an uninterrupted one sees.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

#: Mixed into the order's seed, so that the data order is not the initialization's
#: random stream (``lossscale.models.init_mlp`` seeds its generator with the seed alone).
_ORDER_TAG = 0x6D62  # "mb"


class Minibatches:
    """The example indices ``[R, batch_size]`` of every replica at any step."""

    def __init__(self, examples: int, batch_size: int, seeds: Sequence[int], device) -> None:
        if not 0 < batch_size < examples:
            raise ValueError(
                f"batch_size: value {batch_size} is not allowed for a training split of "
                f"{examples} examples; allowed: 0 (full batch) or 1 to {examples - 1}"
            )
        self.examples, self.size = examples, batch_size
        self.per_epoch = examples // batch_size
        self.seeds = sorted(set(seeds))
        row = {seed: i for i, seed in enumerate(self.seeds)}
        self.rows = torch.tensor([row[s] for s in seeds], device=device)
        self.device = device
        self._epoch: int | None = None
        self._orders = torch.empty(0)

    def order(self, seed: int, epoch: int) -> torch.Tensor:
        """The permutation of the training split that ``seed`` uses in ``epoch``."""
        state = np.random.SeedSequence([_ORDER_TAG, seed, epoch]).generate_state(1)[0]
        gen = torch.Generator().manual_seed(int(state))
        return torch.randperm(self.examples, generator=gen)

    def indices(self, step: int) -> torch.Tensor:
        """Replica r's examples at ``step`` (row r), ``[R, batch_size]``."""
        epoch, k = divmod(step, self.per_epoch)
        if epoch != self._epoch:
            orders = [self.order(seed, epoch) for seed in self.seeds]
            self._orders = torch.stack(orders).to(self.device)
            self._epoch = epoch
        return self._orders[:, k * self.size : (k + 1) * self.size][self.rows]
