"""The optimizer registry: one entry per optimizer the study trains.

An entry states everything the pipeline knows about an optimizer: its config name, the
label and citation the paper uses, its keywords (names, PyTorch's defaults, bounds) and
the study's own defaults, how its weight decay acts, whether eps sits in its
denominator, which compensations undo loss x alpha exactly, what the textbook predicts,
and where its implementation lives. The config schema's optimizer sections and enums,
the tables' labels, the knee's and round-off's selections, the report's citations and
the training engine all read this module, which imports no torch: implementations are
named by import path and loaded by :func:`implementation` only where training runs.

Adding an element-wise optimizer: write its stacked class (``name`` set to the entry's
name), add its entry here, and its claims (see ``docs/extending.md``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from lossscale.imports import load
from lossscale.study.spec import (
    Choice,
    Flag,
    Integer,
    Numbers,
    Pairs,
    Real,
    Spec,
    keyword_schema,
    public_defaults,
)

#: How an optimizer's ``weight_decay`` acts.
DECAYS = ("coupled", "decoupled", "flag", "none")
#: Keywords the blocks' regularizations set per replica (never configured directly).
DECAY_KEYWORDS = frozenset({"weight_decay", "decoupled_weight_decay"})
#: What the textbook predicts for loss x alpha: equivalent to lr x alpha (``lr``),
#: no effect (``invariant``), or nothing stated (``unknown``).
TEXTBOOK = ("lr", "invariant", "unknown")
_STACKED = "lossscale.train.stacked_optim"


@dataclass(frozen=True)
class Optimizer:
    """One optimizer of the study (see the module docstring for the fields' roles)."""

    name: str
    label: str
    #: ``module:Class`` of the training implementation (stacked, or run per replica)
    implementation: str
    #: ``module:Class`` of the lone optimizer the implementation reproduces
    reference: str
    spec: Spec
    pairs: Pairs = field(default_factory=dict)
    #: ``stacked`` (element-wise, all replicas in one update) or ``per_replica``
    kind: str = "stacked"
    #: per replica: each instance sees the slices as a lone ``nn.Module`` holds them (the
    #: model's lone views), for optimizers that read tensor shapes
    lone_layout: bool = False
    decay: str = "coupled"
    cite: str | None = None
    eps_in_denominator: bool = False
    #: compensations that undo loss x alpha exactly (``none``: scale-invariant)
    exact: tuple[str, ...] = ()
    textbook: str = "unknown"
    #: implemented by this package (not PyTorch)
    ours: bool = False
    #: the study's defaults where they differ from the spec's (PyTorch's)
    defaults: Mapping[str, Any] = field(default_factory=dict)
    #: keyword descriptions for the schema, beyond the common ones
    docs: Mapping[str, str] = field(default_factory=dict)
    #: one line on the implementation, for the schema
    note: str = ""

    def __post_init__(self) -> None:
        if self.decay not in DECAYS or self.textbook not in TEXTBOOK:
            raise ValueError(
                f"optimizer {self.name!r}: decay or textbook not in {DECAYS}, {TEXTBOOK}"
            )
        if self.kind not in ("stacked", "per_replica"):
            raise ValueError(f"optimizer {self.name!r}: kind {self.kind!r} is not allowed")

    @property
    def keywords(self) -> dict[str, Any]:
        """The keywords as a user passes them, with the implementation's defaults."""
        return public_defaults(self.spec, self.pairs)

    def schema(self) -> dict[str, Any]:
        """The config schema of ``optimizers.<name>`` (weight decay is the blocks')."""
        how = (
            "stacked, per-replica implementation"
            if self.kind == "stacked"
            else ("one instance per replica")
        )
        reference = self.reference.replace(":", ".")
        return {
            "type": "object",
            "additionalProperties": False,
            "default": {},
            "description": f"{reference} ({how}).{' ' + self.note if self.note else ''}",
            "properties": keyword_schema(
                self.spec, self.pairs, defaults=self.defaults, docs=self.docs, skip=DECAY_KEYWORDS
            ),
        }


def _betas(beta1: float, beta2: float) -> dict[str, Real]:
    return {
        "beta1": Real(beta1, 0.0, 1.0, high_open=True),
        "beta2": Real(beta2, 0.0, 1.0, high_open=True),
    }


_BETAS = {"betas": ("beta1", "beta2")}
_FLAG = Flag(False, per_replica=True)  # decoupled_weight_decay, settable per replica
_ALPHA_DOC = "Smoothing constant (RMSprop) or eta's decay power (ASGD)."
_ADAM = {"lr": Real(1e-3), **_betas(0.9, 0.999), "eps": Real(1e-8), "weight_decay": Real(0.0)}


def _adam_type(name: str, label: str, cls: str, cite: str, spec: Spec, **kw: Any) -> Optimizer:
    """An Adam-type entry: eps in the denominator, undone exactly by eps x alpha."""
    kw.setdefault("exact", ("eps",))
    return Optimizer(
        name,
        label,
        f"{_STACKED}.adaptive:Stacked{cls}",
        f"torch.optim:{cls}",
        spec,
        _BETAS,
        cite=cite,
        eps_in_denominator=True,
        **kw,
    )


_ENTRIES = (
    Optimizer(
        "sgd",
        "SGD",
        f"{_STACKED}.first_order:StackedSGD",
        "torch.optim:SGD",
        {
            "lr": Real(1e-3),
            "momentum": Real(0.0),
            "dampening": Real(0.0, None),
            "weight_decay": Real(0.0),
            "nesterov": Flag(False),
        },
        exact=("lr",),
        textbook="lr",
        defaults={"lr": 1e3},
        docs={
            "lr": "Learning rate (torch's default is 1e-3; 1e3 lets SGD move on the tiny "
            "default loss within the alpha grid)."
        },
    ),
    _adam_type(
        "adam",
        "Adam",
        "Adam",
        "kingma2015adam",
        {**_ADAM, "amsgrad": Flag(False), "decoupled_weight_decay": _FLAG},
        decay="flag",
        textbook="invariant",
    ),
    _adam_type(
        "adamw",
        "AdamW",
        "AdamW",
        "loshchilov2019decoupled",
        {**_ADAM, "weight_decay": Real(1e-2), "amsgrad": Flag(False)},
        decay="decoupled",
    ),
    _adam_type(
        "nadam",
        "NAdam",
        "NAdam",
        "dozat2016nadam",
        {
            **_ADAM,
            "lr": Real(2e-3),
            "momentum_decay": Real(4e-3),
            "decoupled_weight_decay": _FLAG,
        },
        decay="flag",
        textbook="invariant",
        defaults={"eps": 1e-7},
        docs={
            "eps": "Denominator epsilon (Keras' 1e-7, the asker's setting; torch's default "
            "is 1e-8).",
            "momentum_decay": "NAdam's momentum decay psi.",
        },
    ),
    # RAdam's un-rectified first steps (lr * m_hat) scale with alpha: eps x alpha does not
    # undo loss x alpha exactly
    _adam_type(
        "radam",
        "RAdam",
        "RAdam",
        "liu2020radam",
        {**_ADAM, "decoupled_weight_decay": _FLAG},
        decay="flag",
        exact=(),
    ),
    _adam_type("adamax", "Adamax", "Adamax", "kingma2015adam", {**_ADAM, "lr": Real(2e-3)}),
    Optimizer(
        "rmsprop",
        "RMSprop",
        f"{_STACKED}.adaptive:StackedRMSprop",
        "torch.optim:RMSprop",
        {
            "lr": Real(1e-2),
            "alpha": Real(0.99),
            "eps": Real(1e-8),
            "weight_decay": Real(0.0),
            "momentum": Real(0.0),
            "centered": Flag(False),
        },
        cite="tieleman2012rmsprop",
        eps_in_denominator=True,
        exact=("eps",),
        docs={
            "alpha": _ALPHA_DOC,
            "centered": "Centered RMSprop (divides by the estimated variance).",
        },
    ),
    Optimizer(
        "adagrad",
        "Adagrad",
        f"{_STACKED}.adaptive:StackedAdagrad",
        "torch.optim:Adagrad",
        {
            "lr": Real(1e-2),
            "lr_decay": Real(0.0),
            "weight_decay": Real(0.0),
            "initial_accumulator_value": Real(0.0),
            "eps": Real(1e-10),
        },
        cite="duchi2011adagrad",
        eps_in_denominator=True,
        exact=("eps",),
        docs={
            "lr_decay": "Learning-rate decay.",
            "initial_accumulator_value": "Initial value of the squared-gradient accumulator.",
        },
    ),
    Optimizer(
        "adadelta",
        "Adadelta",
        f"{_STACKED}.adaptive:StackedAdadelta",
        "torch.optim:Adadelta",
        {"lr": Real(1.0), "rho": Real(0.9, 0.0, 1.0), "eps": Real(1e-6), "weight_decay": Real(0.0)},
        cite="zeiler2012adadelta",
        docs={"rho": "Running-average coefficient."},
    ),
    Optimizer(
        "asgd",
        "ASGD",
        f"{_STACKED}.first_order:StackedASGD",
        "torch.optim:ASGD",
        {
            "lr": Real(1e-2),
            "lambd": Real(1e-4, None),
            "alpha": Real(0.75, None),
            "t0": Real(1e6, None),
            "weight_decay": Real(0.0),
        },
        cite="polyak1992averaging",
        docs={"lambd": "Decay term.", "alpha": _ALPHA_DOC, "t0": "Step at which averaging starts."},
    ),
    Optimizer(
        "rprop",
        "Rprop",
        f"{_STACKED}.first_order:StackedRprop",
        "torch.optim:Rprop",
        {
            "lr": Real(1e-2),
            "etaminus": Real(0.5, 0.0, 1.0, low_open=True, high_open=True),
            "etaplus": Real(1.2, 1.0, low_open=True),
            "step_size_min": Real(1e-6, None),
            "step_size_max": Real(50.0, None),
        },
        {"etas": ("etaminus", "etaplus"), "step_sizes": ("step_size_min", "step_size_max")},
        decay="none",
        cite="riedmiller1993rprop",
        exact=("none",),
        docs={
            "etas": "The pair (etaminus, etaplus).",
            "step_sizes": "The pair (step_size_min, step_size_max).",
        },
    ),
    Optimizer(
        "lion",
        "Lion",
        f"{_STACKED}.first_order:StackedLion",
        "lossscale.optim.lion:Lion",
        {"lr": Real(1e-4, low_open=True), **_betas(0.9, 0.99), "weight_decay": Real(0.0)},
        _BETAS,
        decay="decoupled",
        cite="chen2023lion",
        exact=("none",),
        ours=True,
    ),
    Optimizer(
        "signsgd",
        "signSGD",
        f"{_STACKED}.first_order:StackedSignSGD",
        "lossscale.optim.signsgd:SignSGD",
        {"lr": Real(1e-4, low_open=True), "momentum": Real(0.0, 0.0, 1.0, high_open=True)},
        decay="none",
        exact=("none",),
        ours=True,
    ),
    Optimizer(
        "lbfgs",
        "L-BFGS",
        "torch.optim:LBFGS",
        "torch.optim:LBFGS",
        {
            "lr": Real(1.0, low_open=True),
            "max_iter": Integer(20, 1, 10_000),
            "max_eval": Integer(None, 1, 100_000, nullable=True),
            "tolerance_grad": Real(1e-7),
            "tolerance_change": Real(1e-9),
            "history_size": Integer(100, 1, 10_000),
            "line_search_fn": Choice(None, (None, "strong_wolfe")),
        },
        kind="per_replica",
        decay="none",
        cite="liu1989lbfgs",
        defaults={"max_iter": 1, "history_size": 10},
        docs={
            "lr": "Learning rate (step length of each iteration).",
            "max_iter": "Iterations per optimizer step (torch's default is 20; 1 makes a "
            "training step one L-BFGS iteration, comparable with the other optimizers' steps).",
            "max_eval": "Function evaluations per step (null - torch's default, max_iter * 5 / 4).",
            "tolerance_grad": "Stop when the largest absolute gradient entry is at most this.",
            "tolerance_change": "Stop when the loss or the step changes by at most this.",
            "history_size": "Curvature pairs kept (torch's default is 100; 10 keeps a step cheap).",
            "line_search_fn": "Line search (null - a fixed step of length lr).",
        },
        note="One optimizer step per training step.",
    ),
    Optimizer(
        "adafactor",
        "Adafactor",
        "torch.optim:Adafactor",
        "torch.optim:Adafactor",
        {
            "lr": Real(1e-2, low_open=True),
            "beta2_decay": Real(-0.8, None, 0.0),
            "eps": Numbers((None, 1e-3), nullable=True),
            "d": Real(1.0, low_open=True),
            "weight_decay": Real(0.0),
        },
        kind="per_replica",
        lone_layout=True,
        decay="decoupled",
        cite="shazeer2018adafactor",
        docs={
            "beta2_decay": "Decay exponent of the second-moment averaging.",
            "eps": "The pair (eps1, eps2) - eps1 floors the second moments (null - the dtype's "
            "machine epsilon), eps2 floors the parameter scale of the update.",
            "d": "Clipping threshold of the update's RMS.",
        },
        note="Factored second moments.",
    ),
    Optimizer(
        "muon",
        "Muon",
        "torch.optim:Muon",
        "torch.optim:Muon",
        {
            "lr": Real(1e-3, low_open=True),
            "weight_decay": Real(0.1),
            "momentum": Real(0.95, 0.0, 1.0, high_open=True),
            "nesterov": Flag(True),
            "ns_coefficients": Numbers((3.4445, -4.775, 2.0315)),
            "eps": Real(1e-7, low_open=True),
            "ns_steps": Integer(5, 1, 99),
            "adjust_lr_fn": Choice(None, (None, "original", "match_rms_adamw")),
        },
        kind="per_replica",
        lone_layout=True,
        decay="decoupled",
        docs={
            "ns_coefficients": "Coefficients of the quintic Newton-Schulz iteration.",
            "eps": "Floor of the gradient norm before orthogonalization.",
            "ns_steps": "Newton-Schulz iterations.",
            "adjust_lr_fn": "Learning-rate adjustment to the matrix shape (null - torch's "
            "default).",
        },
        note="Muon trains the weight matrices the model names; the other parameters are "
        "trained by stacked AdamW with the same lr (AdamW's other defaults).",
    ),
)

#: The registry, in the order the tables and figures list optimizers.
OPTIMIZERS: Mapping[str, Optimizer] = MappingProxyType({o.name: o for o in _ENTRIES})


def get(name: str, key: str = "optimizer") -> Optimizer:
    """The entry called ``name``; an unknown name is a ``KeyError`` naming the allowed."""
    if name not in OPTIMIZERS:
        raise KeyError(f"{key}: value {name!r} is not allowed; allowed: {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[name]


def names(**where: Any) -> tuple[str, ...]:
    """The registered names whose entries have every ``field=value`` in ``where``."""
    return tuple(
        o.name for o in OPTIMIZERS.values() if all(getattr(o, k) == v for k, v in where.items())
    )


def eps_optimizers() -> tuple[str, ...]:
    """Optimizers with eps in the denominator (the knee's and the phase diagram's)."""
    return names(eps_in_denominator=True)


def exact_optimizers(compensation: str) -> tuple[str, ...]:
    """Optimizers for which ``compensation`` undoes loss x alpha exactly."""
    return tuple(o.name for o in OPTIMIZERS.values() if compensation in o.exact)


def implementation(name: str) -> type:
    """The training implementation of optimizer ``name`` (imports it: torch)."""
    return load(get(name).implementation)


def reference(name: str) -> type:
    """The lone optimizer class that optimizer ``name``'s implementation reproduces."""
    return load(get(name).reference)
