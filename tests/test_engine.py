"""The stacked trainer: every replica equals the same run done alone with nn.Linear."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from families import FAMILIES
from torch import nn

from lossscale.models import build_model
from lossscale.optim import make_optimizer
from lossscale.tasks import Task
from lossscale.train.engine import train_stacked
from lossscale.train.minibatch import Minibatches

STEPS = 30
#: Base hyperparameters per optimizer: PyTorch's defaults, learning rates large enough to
#: move on the tiny test task within STEPS.
HYPER = {
    "sgd": {"lr": 1e4, "momentum": 0.9},
    "adam": {"lr": 1e-2, "eps": 1e-8},
    "adamw": {"lr": 1e-2, "weight_decay": 1e-2},
    "nadam": {"lr": 1e-2, "eps": 1e-7},
    "radam": {"lr": 1e-2},
    "adamax": {"lr": 1e-2},
    "rmsprop": {"lr": 1e-3},
    "adagrad": {"lr": 1e-1},
    "adadelta": {"lr": 1e4},
    "asgd": {"lr": 1e4},
    "rprop": {"lr": 1e-2},
    "lion": {"lr": 1e-3},
    "signsgd": {"lr": 1e-3},
    # no absolute tolerances: on the tiny loss they would stop L-BFGS at once
    "lbfgs": {
        "lr": 1e4,
        "max_iter": 2,
        "history_size": 5,
        "tolerance_grad": 0.0,
        "tolerance_change": 0.0,
    },
    "adafactor": {"lr": 1e-2},
    "muon": {"lr": 1e-2},
}


def solo_model(task, seed: int) -> nn.Module:
    """One replica as a lone nn.Module with the stacked model's initialization."""
    return build_model(task.model, [seed]).lone_module(0)


def solo_optimizers(optimizer: str, model: nn.Sequential, hyper: dict) -> list:
    """The textbook optimizers of one replica (Muon: hidden weight matrices, AdamW: the
    biases and the output layer)."""
    if optimizer != "muon":
        return [make_optimizer(optimizer, model.parameters(), hyper)]
    linears = [layer for layer in model.modules() if isinstance(layer, nn.Linear)]
    hidden = [layer.weight for layer in linears[:-1]]
    rest = [p for p in model.parameters() if all(p is not w for w in hidden)]
    muon = torch.optim.Muon(hidden, **hyper)
    adamw = torch.optim.AdamW(rest, lr=hyper["lr"], weight_decay=muon.defaults["weight_decay"])
    return [muon, adamw]


def solo_run(task, seed: int, alpha: float, optimizer: str, hyper: dict, steps: int, batches=None):
    """The textbook loop: nn.Sequential, loss = alpha * MSE, backward, step; with
    ``batches`` (step -> example indices) the step's loss is on those examples, the
    recorded one on the whole training split."""
    model = solo_model(task, seed)
    opts = solo_optimizers(optimizer, model, hyper)

    def objective(index=slice(None)) -> torch.Tensor:
        pred = model(task.x_train[index])
        return ((pred - task.y_train[index]) ** 2).mean()

    def closure(step: int = 0) -> torch.Tensor:
        model.zero_grad()
        loss = alpha * objective(slice(None) if batches is None else batches(step))
        loss.backward()
        return loss

    losses = []
    for step in range(steps + 1):
        with torch.no_grad():
            losses.append(objective().item())
        if step < steps:
            if optimizer == "lbfgs":
                opts[0].step(closure)
                continue
            closure(step)
            for opt in opts:
                opt.step()
    flat = [
        p.detach()
        for layer in model.modules()
        if isinstance(layer, nn.Linear)
        for p in (layer.weight.T, layer.bias[None, :])
    ]
    return np.array(losses), flat


@pytest.mark.parametrize("optimizer", sorted(HYPER))
def test_stacked_replicas_equal_solo_runs(tiny_task, optimizer):
    """Every optimizer of the grid: each stacked replica is the lone textbook run."""
    seeds = [0, 1, 0, 1, 2]
    alphas = [1.0, 1.0, 1e3, 1e-2, 37.5]
    history = train_stacked(tiny_task, seeds, alphas, optimizer, HYPER[optimizer], STEPS)
    for r, (seed, alpha) in enumerate(zip(seeds, alphas, strict=True)):
        losses, params = solo_run(tiny_task, seed, alpha, optimizer, HYPER[optimizer], STEPS)
        np.testing.assert_allclose(history.columns["train_loss"][:, r], losses, rtol=1e-10)
        for stacked, solo in zip(history.params, params, strict=True):
            np.testing.assert_allclose(stacked[r].numpy(), solo.numpy(), rtol=1e-9, atol=1e-13)
    # the comparison means something: the reference replica's loss moved
    first, final = history.columns["train_loss"][0, 0], history.columns["train_loss"][-1, 0]
    assert abs(final - first) > 1e-3 * first, optimizer


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_minibatch_replicas_equal_solo_runs_on_their_seeds_batches(tiny_task, optimizer):
    """On minibatches, each replica is the lone textbook run on the batches of its seed
    (replicas of one seed share them), and the recorded loss is the whole split's."""
    seeds, alphas, size = [0, 1, 0], [1.0, 1.0, 1e3], 64
    history = train_stacked(
        tiny_task, seeds, alphas, optimizer, HYPER[optimizer], STEPS, batch_size=size
    )
    n = len(tiny_task.y_train)
    for r, (seed, alpha) in enumerate(zip(seeds, alphas, strict=True)):
        order = Minibatches(n, size, [seed], "cpu")
        losses, params = solo_run(
            tiny_task,
            seed,
            alpha,
            optimizer,
            HYPER[optimizer],
            STEPS,
            lambda t, order=order: order.indices(t)[0],
        )
        np.testing.assert_allclose(history.columns["train_loss"][:, r], losses, rtol=1e-10)
        for stacked, solo in zip(history.params, params, strict=True):
            np.testing.assert_allclose(stacked[r].numpy(), solo.numpy(), rtol=1e-9, atol=1e-13)
    full = train_stacked(tiny_task, seeds, alphas, optimizer, HYPER[optimizer], STEPS)
    # the batches matter: full-batch training ends elsewhere
    assert not np.allclose(
        full.columns["train_loss"][-1], history.columns["train_loss"][-1], rtol=1e-3, atol=0
    )


def test_minibatch_order_is_a_reshuffle_per_epoch_and_seed():
    batches = Minibatches(10, 3, [4, 7, 4], "cpu")
    assert batches.per_epoch == 3  # the tenth example waits for the next epoch
    epoch = torch.cat([batches.indices(t) for t in range(3)], dim=1)
    assert epoch.shape == (3, 9)
    for row in epoch:
        assert len(set(row.tolist())) == 9  # no example twice within an epoch
    assert torch.equal(epoch[0], epoch[2]) and not torch.equal(epoch[0], epoch[1])
    assert not torch.equal(batches.indices(3), batches.indices(0))  # a new epoch, a new order
    again = Minibatches(10, 3, [7, 4], "cpu")
    assert torch.equal(again.indices(4), batches.indices(4)[[1, 0]])  # step and seed decide
    with pytest.raises(ValueError, match="batch_size: value 10 is not allowed for a training"):
        Minibatches(10, 10, [0], "cpu")


def test_lbfgs_refuses_minibatches(tiny_task):
    with pytest.raises(ValueError, match="batch_size: L-BFGS trains full batch only"):
        train_stacked(tiny_task, [0], [1.0], "lbfgs", HYPER["lbfgs"], 2, batch_size=16)


def test_divergent_replica_is_frozen_and_others_unaffected(tiny_task):
    hyper = {"lr": 1e9, "momentum": 0.0}
    alphas = [1.0, 1e6]
    history = train_stacked(tiny_task, [0, 0], alphas, "sgd", hyper, STEPS)
    diverged = history.columns["diverged"]
    assert not diverged[:, 0].any()
    assert diverged[-1, 1]
    first = int(np.argmax(diverged[:, 1]))
    assert not np.isfinite(history.columns["train_loss"][first, 1])
    losses, _ = solo_run(tiny_task, 0, alphas[0], "sgd", hyper, STEPS)
    np.testing.assert_allclose(history.columns["train_loss"][:, 0], losses, rtol=1e-11)


def test_gradient_statistics_are_of_the_scaled_loss(tiny_task):
    history = train_stacked(tiny_task, [0, 0], [1.0, 1e4], "adam", HYPER["adam"], 0)
    rms = history.columns["grad_rms"][0]
    np.testing.assert_allclose(rms[1] / rms[0], 1e4, rtol=1e-12)
    assert history.columns["grad_zero_frac"][0].max() < 0.5
    assert history.columns["grad_nonfinite_frac"][0].max() == 0.0


def test_mismatched_replica_lists_are_rejected(tiny_task):
    with pytest.raises(ValueError, match="one entry per replica"):
        train_stacked(tiny_task, [0, 1], [1.0], "adam", HYPER["adam"], 1)


@pytest.mark.parametrize(
    ("optimizer", "batch_size", "family"),
    [
        ("adam", 0, None),
        ("lbfgs", 0, None),
        ("muon", 0, None),
        ("adam", 100, None),
        ("adam", 3, "cnn"),
        ("muon", 3, "transformer"),
    ],
)
def test_interrupted_run_resumes_to_the_same_result(
    tiny_task, tmp_path, monkeypatch, optimizer, batch_size, family
):
    import lossscale.train.engine as engine

    task = tiny_task if family is None else _family_task(family)
    args = (task, [0, 1, 0], [1.0, 1.0, 1e3], optimizer, HYPER[optimizer], 20)
    ckpt = tmp_path / "cell.pt"
    whole = train_stacked(*args, batch_size=batch_size)
    saves = []

    def save_then_die(path, key, state):
        engine_save(path, key, state)
        saves.append(state["next_step"])
        if len(saves) == 2:
            raise KeyboardInterrupt  # killed right after the checkpoint at step 10

    engine_save = engine.save_checkpoint
    monkeypatch.setattr(engine, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        train_stacked(
            *args, checkpoint=ckpt, checkpoint_every=5, fingerprint="run", batch_size=batch_size
        )
    monkeypatch.setattr(engine, "save_checkpoint", engine_save)
    assert saves == [5, 10] and ckpt.exists()
    resumed = train_stacked(
        *args, checkpoint=ckpt, checkpoint_every=5, fingerprint="run", batch_size=batch_size
    )
    for column, values in whole.columns.items():
        np.testing.assert_array_equal(resumed.columns[column], values, err_msg=column)
    for a, b in zip(resumed.params, whole.params, strict=True):
        assert torch.equal(a, b)


def test_checkpoint_of_another_configuration_is_ignored(tiny_task, tmp_path):
    ckpt = tmp_path / "cell.pt"
    args = (tiny_task, [0], [1.0], "adam", HYPER["adam"], 10)
    train_stacked(*args, checkpoint=ckpt, checkpoint_every=10, fingerprint="old")
    fresh = train_stacked(*args, checkpoint=ckpt, checkpoint_every=0, fingerprint="new")
    assert fresh.columns["train_loss"].shape == (11, 1)  # trained from step 0, not resumed
    np.testing.assert_array_equal(
        fresh.columns["train_loss"], train_stacked(*args).columns["train_loss"]
    )


def test_allocator_keeps_freed_memory_on_glibc():
    """Training jobs ask glibc to reuse freed activations (this machine's libc is glibc)."""
    from lossscale.device import keep_freed_memory

    assert keep_freed_memory() is True


def test_gradient_statistics_count_zero_and_non_finite_entries():
    from lossscale.train.engine import grad_stats

    w = torch.zeros(3, 2, 2, dtype=torch.float32, requires_grad=True)
    w.grad = torch.tensor(
        [[[0.0, -0.0], [1.0, 2.0]], [[3.0, float("nan")], [float("inf"), 0.0]], [[1e30] * 2] * 2]
    )
    rms, zero, nonfinite = grad_stats([w.grad])
    assert zero.tolist() == [0.5, 0.25, 0.0]
    assert nonfinite.tolist() == [0.0, 0.5, 0.0]
    assert rms[0].item() == pytest.approx((5 / 4) ** 0.5) and rms[2].item() == pytest.approx(1e30)
    assert not torch.isfinite(rms[1])


def test_records_parameter_and_update_rms(tiny_task):
    """``param_rms`` is the RMS of the parameters at the recorded step, ``update_rms``
    that of the update which follows it (NaN at the last step, which has none)."""
    seeds, alphas = [0, 1], [1.0, 1e3]
    start = build_model(tiny_task.model, seeds).params
    one = train_stacked(tiny_task, seeds, alphas, "adam", {"lr": 1e-2}, 1).params
    run = train_stacked(tiny_task, seeds, alphas, "adam", {"lr": 1e-2}, 4, record_every=2)

    def rms(tensors, r):
        return float(torch.cat([t[r].detach().reshape(-1) for t in tensors]).pow(2).mean().sqrt())

    assert list(run.steps) == [0, 2, 4]
    for r in range(2):
        assert run.columns["param_rms"][0, r] == pytest.approx(rms(start, r), rel=1e-12)
        moved = [a - b for a, b in zip(one, start, strict=True)]
        assert run.columns["update_rms"][0, r] == pytest.approx(rms(moved, r), rel=1e-9)
        assert run.columns["param_rms"][-1, r] == pytest.approx(rms(run.params, r), rel=1e-12)
    assert np.isnan(run.columns["update_rms"][-1]).all()
    # Adam's first step is lr * g / (|g| + eps): the loss x 1e3 moves it further here
    assert run.columns["update_rms"][0, 1] > run.columns["update_rms"][0, 0] > 0


def test_a_training_job_loads_neither_scikit_learn_nor_pandas_nor_inductor():
    code = (
        "import sys, torch, lossscale.train.cell as c; c.make_deterministic(1); "
        "print(torch.are_deterministic_algorithms_enabled(), "
        "sorted({'sklearn', 'pandas', 'torch._inductor'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True []"


def test_the_benchmark_runs_and_ends_with_its_ratio(root: Path) -> None:
    """The benchmark (benchmarks/stacked_vs_loop.py) on tiny cells of every family: it
    runs on the default config's tasks, reports the three variants of each family, and
    ends with the MLP cell's ratios to torch.func and (last) to one by one."""
    script = root / "benchmarks/stacked_vs_loop.py"
    args = ["--replicas", "4", "--family-replicas", "2", "--steps", "3", "--repeats", "1"]
    done = subprocess.run(
        [sys.executable, str(script), *args, "--threads", "1"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert re.fullmatch(r"speedup vs torch\.func: \d+(\.\d+)?x", lines[-2])
    assert re.fullmatch(r"speedup: \d+(\.\d+)?x", lines[-1])
    for family in ("mlp", "cnn", "transformer"):
        assert any(line.startswith(f"{family}: task ") for line in lines), family
    assert sum("us per replica-step" in line for line in lines) == 9


def _family_task(family: str) -> Task:
    """A 5-class task on random inputs for a generic family (float64)."""
    spec, make_inputs = FAMILIES[family]
    gen = torch.Generator().manual_seed(11)
    x_train, x_test = make_inputs(gen), make_inputs(gen)
    y_train, y_test = (torch.randint(0, 5, (7,), generator=gen) for _ in range(2))
    return Task("tiny", x_train, y_train, x_test, y_test, spec, 1.0, "cross_entropy",
                param_dtype=torch.float64)  # fmt: skip


@pytest.mark.parametrize("family", ["cnn", "transformer"])
@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adafactor"])
def test_generic_families_train_replicas_as_lone_runs(family, optimizer):
    """A CNN and a transformer, stacked and trained with loss x alpha: each replica's
    parameters are those of its lone nn.Module trained with torch.optim, to 1e-9 relative
    (the CNN) or 1e-6 (the transformer, whose batched products round differently, which
    normalized updates of near-zero gradients amplify over the steps; float64)."""
    task = _family_task(family)
    seeds, alphas, steps = [0, 1, 0], [1.0, 1e2, 1e-2], 6
    # Adafactor's eps1 floors its second moments: its default (machine epsilon) would
    # normalize the attention key bias's gradient, which is zero up to round-off, to full
    # steps made of round-off
    hyper = {
        "sgd": {"lr": 0.01},
        "adam": {"lr": 1e-2},
        "adafactor": {"lr": 1e-2, "eps": (1e-8, 1e-3)},
    }[optimizer]
    history = train_stacked(task, seeds, alphas, optimizer, hyper, steps)
    names = build_model(task.model, [0]).names
    for r, (seed, alpha) in enumerate(zip(seeds, alphas, strict=True)):
        lone = build_model(task.model, [seed]).lone_module(0)
        opt = make_optimizer(optimizer, lone.parameters(), hyper)
        for _ in range(steps):
            opt.zero_grad()
            (alpha * task.loss(lone(task.x_train)[None], task.y_train)[0]).backward()
            opt.step()
        for name, stacked in zip(names, history.params, strict=True):
            np.testing.assert_allclose(
                stacked[r].numpy(),
                lone.get_parameter(name).detach().numpy(),
                rtol=1e-9 if family == "cnn" else 1e-6,
                atol=1e-12 if family == "cnn" else 1e-9,
            )
    assert history.columns["train_loss"][-1, 0] < history.columns["train_loss"][0, 0]


@pytest.mark.parametrize("family", ["cnn", "transformer"])
@pytest.mark.parametrize("precision", ["bfloat16", "float16_scaled"])
def test_generic_families_train_in_low_precision(family, precision):
    """The forward runs in the low type (autocast, which does not reach through vmap, so
    the generic path runs replicas one by one under it), parameters stay float32, losses stay finite and
    the unscaled run trains (float16 with per-replica loss scaling, whose scale starts at
    2^16 and halves at each overflow: the run at alpha = 1e4 may still be skipping)."""
    from dataclasses import replace

    from lossscale.train.precision import PRECISIONS

    task = _family_task(family)
    floats = {k: getattr(task, k).float() for k in ("x_train", "x_test") if family == "cnn"}
    task = replace(task, **floats, param_dtype=torch.float32)
    history = train_stacked(task, [0, 1], [1.0, 1e4], "adam", {"lr": 1e-2}, 8,
                            precision=PRECISIONS[precision])  # fmt: skip
    assert all(p.dtype == torch.float32 for p in history.params)
    losses = history.columns["train_loss"]
    assert np.isfinite(losses).all() and losses[-1, 0] < losses[0, 0]
    model = build_model(task.model, [0, 1], dtype=torch.float32)
    with PRECISIONS[precision].context(task.x_train.device):
        out = model(task.x_train)
        lone = model.lone_module(1)(task.x_train)
    assert out.dtype == lone.dtype == PRECISIONS[precision].autocast
    assert torch.equal(out[1], lone)
