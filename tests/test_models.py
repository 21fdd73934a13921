"""The stacked MLP: every replica computes what nn.Linear layers with its slices compute."""

from __future__ import annotations

import itertools

import pytest
import torch
from families import FAMILIES
from torch import nn

from lossscale.models import (
    ACTIVATIONS,
    MODELS,
    ModelSpec,
    StackedMLP,
    build_model,
    forward,
    init_mlp,
    mlp_spec,
)

MODULES = {"tanh": nn.Tanh, "relu": nn.ReLU, "silu": nn.SiLU}  # the textbook modules
#: Layer sizes: one output (the multiply-and-sum last layer), several outputs (a
#: classifier), and a single layer (no hidden activation).
SHAPES = [(10, 8, 8, 1), (6, 7, 4), (5, 1)]
SEEDS = [0, 1, 2, 1, 3]
TOL = {"rtol": 1e-12, "atol": 1e-12}


def solo_model(sizes, seed: int, activation: str) -> nn.Sequential:
    """One replica as nn.Linear layers and activation modules, in float64."""
    init = init_mlp(sizes, seed)
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
        linear = nn.Linear(fan_in, fan_out, dtype=torch.float64)
        with torch.no_grad():
            linear.weight.copy_(init[2 * i].T)
            linear.bias.copy_(init[2 * i + 1][0])
        layers += [linear, MODULES[activation]()]
    return nn.Sequential(*layers[:-1])


def inputs(sizes, n: int = 23) -> torch.Tensor:
    return torch.randn(n, sizes[0], generator=torch.Generator().manual_seed(7), dtype=torch.float64)


def test_activations_are_the_textbook_modules():
    assert set(ACTIVATIONS) == set(MODULES)
    x = torch.linspace(-3, 3, 13, dtype=torch.float64)
    for name, fn in ACTIVATIONS.items():
        torch.testing.assert_close(fn(x), MODULES[name]()(x), rtol=0, atol=0)


def test_default_activation_is_tanh():
    assert StackedMLP((3, 4, 1), [0]).activation == "tanh"


@pytest.mark.parametrize("sizes", SHAPES)
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_stacked_outputs_and_gradients_equal_solo_models(sizes, activation):
    scale = 0.37
    model = StackedMLP(sizes, SEEDS, output_scale=scale, activation=activation)
    x = inputs(sizes)
    out = model(x)
    assert out.shape == (
        (len(SEEDS), len(x)) if sizes[-1] == 1 else (len(SEEDS), len(x), sizes[-1])
    )
    # a loss that weights replicas and outputs differently
    weights = torch.linspace(0.5, 2.0, out.numel(), dtype=torch.float64).reshape(out.shape)
    (weights * out).sum().backward()
    for r, seed in enumerate(SEEDS):
        solo = solo_model(sizes, seed, activation)
        expected = solo(x).squeeze(-1) * scale
        torch.testing.assert_close(out[r].detach(), expected.detach(), **TOL)
        (weights[r] * expected).sum().backward()
        linears = [m for m in solo if isinstance(m, nn.Linear)]
        solo_grads = [g for m in linears for g in (m.weight.grad.T, m.bias.grad[None, :])]
        for stacked, grad in zip(model.params, solo_grads, strict=True):
            torch.testing.assert_close(stacked.grad[r], grad, **TOL)


@pytest.mark.parametrize("sizes", SHAPES)
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("per_replica", [False, True])
def test_hand_written_backward_passes_gradcheck(sizes, activation, per_replica):
    """The written-out backward pass (tanh, ReLU) agrees with finite differences for
    every parameter and the inputs, shared or a minibatch per replica."""
    model = StackedMLP(sizes, SEEDS[:2], activation=activation)
    shape = (2, 5, sizes[0]) if per_replica else (5, sizes[0])
    x = torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    params = [p.detach().clone().requires_grad_() for p in model.params]

    def run(*tensors):
        return forward(list(tensors[:-1]), tensors[-1], activation, 0.37)

    assert torch.autograd.gradcheck(run, (*params, x.requires_grad_()))


@pytest.mark.parametrize("sizes", SHAPES)
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_forward_on_one_replica_equals_its_stacked_slice(sizes, activation):
    model = StackedMLP(sizes, SEEDS, output_scale=2.5, activation=activation)
    x = inputs(sizes)
    out = model(x)
    torch.testing.assert_close(model.apply(model.params, x), out, rtol=0, atol=0)
    for r in range(len(SEEDS)):
        # what the trainer's LBFGS closure does: leaf tensors of one replica, unsqueezed
        leaves = [p[r].detach().clone().requires_grad_() for p in model.params]
        single = forward([leaf.unsqueeze(0) for leaf in leaves], x, activation, 2.5)
        assert single.shape == (1, *out.shape[1:])
        torch.testing.assert_close(single[0], out[r], **TOL)
        torch.testing.assert_close(model.apply([p[r : r + 1] for p in model.params], x)[0], out[r])
        single.sum().backward()
        grads = torch.autograd.grad(out[r].sum(), model.params, retain_graph=True)
        for leaf, grad in zip(leaves, grads, strict=True):
            torch.testing.assert_close(leaf.grad, grad[r], **TOL)
            assert grad[:r].abs().sum() == 0 and grad[r + 1 :].abs().sum() == 0


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_autocast_forward_runs_in_low_precision(activation):
    """Under autocast the layers are matmul plus bias (the type autocast gives each op)."""
    sizes = (10, 8, 8, 1)
    model = StackedMLP(sizes, SEEDS, activation=activation, dtype=torch.float32)
    x = inputs(sizes).float()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = model(x)
    low.float().sum().backward()
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in model.params)
    torch.testing.assert_close(low.float(), model(x).detach(), rtol=0.05, atol=0.05)


@pytest.mark.parametrize(
    "make",
    [
        lambda: StackedMLP((3, 4, 1), [0], activation="gelu"),
        lambda: forward(init_mlp((3, 1), 0), torch.zeros(2, 3), "gelu"),
    ],
)
def test_unknown_activation_is_an_error_naming_the_allowed_ones(make):
    message = "activation: value 'gelu' is not allowed; allowed: relu, silu, tanh"
    with pytest.raises(ValueError, match=f"^{message}$"):
        make()


@pytest.mark.parametrize("sizes", SHAPES)
def test_lone_module_is_the_textbook_replica(sizes):
    """``lone_module(r)`` holds replica r's parameters as nn.Linear does and computes its
    outputs; ``lone_view`` maps each stacked slice onto that layout (a view)."""
    model = build_model(mlp_spec(sizes, "silu", output_scale=0.5), SEEDS)
    x = inputs(sizes)
    for r, seed in enumerate(SEEDS):
        lone = model.lone_module(r)
        linears = [m for m in lone.modules() if isinstance(m, nn.Linear)]
        textbook = [m for m in solo_model(sizes, seed, "silu") if isinstance(m, nn.Linear)]
        lone_params = [t for m in linears for t in (m.weight, m.bias)]
        textbook_params = [t for m in textbook for t in (m.weight, m.bias)]
        for i, (got, want) in enumerate(zip(lone_params, textbook_params, strict=True)):
            assert torch.equal(got, want)
            view = model.lone_view(i, model.params[i][r])
            assert torch.equal(view, want) and view.data_ptr() == model.params[i][r].data_ptr()
        torch.testing.assert_close(lone(x), model(x)[r].detach(), **TOL)


def test_hidden_matrices_and_layers_of_the_mlp():
    """Muon's matrices: every weight but the output layer's, none with a side of 1."""
    assert StackedMLP((3, 4, 1), [0]).hidden_matrices() == [0]
    assert StackedMLP((10, 8, 8, 1), [0]).hidden_matrices() == [0, 2]
    assert StackedMLP((5, 1, 3), [0]).hidden_matrices() == []  # a [5, 1] column
    assert StackedMLP((5, 1), [0]).hidden_matrices() == []
    assert StackedMLP((10, 8, 8, 1), [0]).layers() == [[0, 1], [2, 3], [4, 5]]


def test_build_model_by_registered_name():
    model = build_model(ModelSpec("mlp", {"sizes": (3, 4, 1), "activation": "relu"}), [0, 2])
    assert isinstance(model, StackedMLP) and model.replicas == 2 and "mlp" in MODELS
    assert [tuple(p.shape) for p in model.params] == [(2, 3, 4), (2, 1, 4), (2, 4, 1), (2, 1, 1)]
    with pytest.raises(
        ValueError, match=r"^model: value 'resnet' is not allowed; allowed: cnn, mlp, transformer$"
    ):
        build_model(ModelSpec("resnet"), [0])


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_stacked_family_equals_its_one_replica_modules(family):
    """Outputs and gradients of every replica equal those of the nn.Module built from its
    seed (float64, to 1e-12), for shared inputs and for per-replica minibatches."""
    from lossscale.imports import load
    from lossscale.models.base import MODELS
    from lossscale.models.functional import seeded

    spec, make_inputs = FAMILIES[family]
    module = load(MODELS[spec.name]).module
    model = build_model(spec, SEEDS)
    gen = torch.Generator().manual_seed(5)
    x = make_inputs(gen)
    out = model(x)
    assert out.shape == (len(SEEDS), 7, 5)
    weights = torch.linspace(0.5, 2.0, out.numel(), dtype=torch.float64).reshape(out.shape)
    (weights * out).sum().backward()
    for r, seed in enumerate(SEEDS):
        lone = seeded(module, seed, **spec.args).double()
        expected = lone(x)
        torch.testing.assert_close(out[r].detach(), expected.detach(), **TOL)
        (weights[r] * expected).sum().backward()
        for name, p in zip(model.names, model.params, strict=True):
            torch.testing.assert_close(p.grad[r], lone.get_parameter(name).grad, **TOL)
        torch.testing.assert_close(model.lone_module(r)(x), out[r].detach(), **TOL)
    batches = torch.stack([make_inputs(gen) for _ in SEEDS])  # [R, 7, ...]
    per_replica = model(batches)
    for r in range(len(SEEDS)):
        torch.testing.assert_close(per_replica[r], model(batches[r])[r], **TOL)
    assert not torch.equal(out[0], out[1])  # seeds 0 and 1 differ


def test_generic_families_name_their_muon_matrices_and_layers():
    cnn = build_model(FAMILIES["cnn"][0], [0])
    assert cnn.hidden_matrices() == []  # convolution kernels are not matrices; the head is out
    assert cnn.layers() == [[0, 1], [2, 3], [4, 5]]
    transformer = build_model(FAMILIES["transformer"][0], [0])
    hidden = [transformer.names[i] for i in transformer.hidden_matrices()]
    assert hidden == [
        f"blocks.{b}.{m}.weight" for b in (0, 1) for m in ("qkv", "proj", "fc1", "fc2")
    ]


def test_the_cnn_runs_the_same_in_vmap_and_one_replica_at_a_time():
    """On a CPU the CNN runs its replicas one after another (faster than vmap's grouped
    convolutions); both paths give the same outputs (float64, to 1e-12)."""
    model = build_model(FAMILIES["cnn"][0], SEEDS)
    x = FAMILIES["cnn"][1](torch.Generator().manual_seed(3))
    assert model.sequential_on_cpu
    looped = model(x)
    model.sequential_on_cpu = False
    torch.testing.assert_close(model(x), looped, **TOL)
