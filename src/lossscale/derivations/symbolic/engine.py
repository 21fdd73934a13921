"""The scaled run versus the transformed run, one step at a time, proved by induction.

Run A takes the base hyperparameters and the gradient ``alpha*g``; run B takes the
transformed hyperparameters and the gradient ``g``. A claim holds when, symbolically,

* base case: PyTorch's initial states correspond (A's = alpha^k times B's), and the first
  step (t = 1) from those initial states gives equal parameters and corresponding states;
* induction step: from an arbitrary state at an arbitrary step t, with A's state equal
  to alpha^k times B's, one step gives equal parameters and corresponding states.

Every difference must simplify to exactly zero. Simplification is targeted
(:func:`canonical`): bottom-up, each sum is put over a common denominator and its common
factors are pulled out (``together`` and ``gcd_terms``), ``Max``/``Min`` are rewritten
with ``Abs`` and functions of a ``Piecewise`` are folded into its branches, so sympy's
own evaluation of ``sqrt``, ``Abs`` and ``sign`` extracts the positive factor alpha
(alpha is a positive symbol; nothing is assumed beyond the symbols' declared signs). A difference left nonzero is evaluated (30 digits, exact rational inputs) at
the documented :data:`SAMPLE_POINT`: a nonzero value there proves it is not identically
zero and gives its size; one that vanishes there is handed to ``sympy.simplify``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

import sympy as sp

from lossscale.derivations.symbolic.rules import Rule, StepInput, StepResult

ALPHA = sp.Symbol("alpha", positive=True)
THETA = sp.Symbol("theta", real=True)
GRAD = sp.Symbol("g", real=True)
STEP = sp.Symbol("t", integer=True, positive=True)

#: Hyperparameter each weight-decay mode adds to a rule (the explicit L2 term is
#: lambda/2 * theta^2 added to the scaled loss, so it is not multiplied by alpha).
#: Below this relative size at the sample point a nonzero form goes to ``sympy.simplify``.
NEGLIGIBLE = 1e-20

DECAY_HYPERPARAMETER = {"coupled": "weight_decay", "decoupled": "weight_decay", "l2_loss": "lambda"}

#: The fixed point at which a nonzero difference is evaluated: alpha = 1e3, a tiny gradient
#: far below eps (the asker's regime), PyTorch's defaults where they are nonzero.
SAMPLE_POINT: dict[str, str] = {
    "alpha": "1e3",
    "theta": "1/2",
    "g": "-3e-9",
    "lr": "1e-3",
    "eps": "1e-8",
    "beta1": "9/10",
    "beta2": "999/1000",
    "weight_decay": "1e-2",
    "lambda": "1e-2",
    "momentum": "9/10",
    "dampening": "1/10",
    "momentum_decay": "4e-3",
    "smoothing": "99/100",
    "lr_decay": "1e-2",
    "initial_accumulator_value": "1e-18",
    "rho": "9/10",
    "lambd": "1e-4",
    "power": "3/4",
    "t0": "1e6",
    "etaminus": "1/2",
    "etaplus": "6/5",
    "step_size_min": "1e-6",
    "step_size_max": "50",
}

#: LaTeX for every symbol (PyTorch documentation notation where it has one).
LATEX_NAMES: dict[str, str] = {
    "alpha": r"\alpha",
    "theta": r"\theta",
    "g": "g",
    "t": "t",
    "lr": r"\gamma",
    "eps": r"\epsilon",
    "beta1": r"\beta_{1}",
    "beta2": r"\beta_{2}",
    "weight_decay": r"\lambda",
    "lambda": r"\lambda",
    "momentum": r"\mu",
    "dampening": r"\tau",
    "momentum_decay": r"\psi",
    "smoothing": r"\rho",
    "lr_decay": r"\eta",
    "initial_accumulator_value": r"s_{0}",
    "rho": r"\rho",
    "lambd": r"\lambda_{d}",
    "power": r"\kappa",
    "t0": r"t_{0}",
    "etaminus": r"\eta_{-}",
    "etaplus": r"\eta_{+}",
    "step_size_min": r"\Gamma_{\min}",
    "step_size_max": r"\Gamma_{\max}",
    "m": "m",
    "v": "v",
    "vmax": r"v^{\max}",
    "mu_product": r"\Pi",
    "g_avg": r"g^{\mathrm{ave}}",
    "buf": "b",
    "sum": "s",
    "u": "u",
    "eta": r"\eta",
    "mu": r"\mu",
    "ax": r"\bar{\theta}",
    "prev": r"g^{\mathrm{prev}}",
    "step_size": r"\Gamma",
}


@cache
def hp_symbol(name: str) -> sp.Symbol:
    """The positive symbol of a hyperparameter."""
    return sp.Symbol(name, positive=True)


@cache
def primed_symbol(name: str) -> sp.Symbol:
    """The unknown value of a hyperparameter solved for (``eps'``)."""
    return sp.Symbol(name + "'", positive=True)


@cache
def state_symbol(name: str, positive: bool) -> sp.Symbol:
    """The symbol of a state entry before the step (run B's value)."""
    return sp.Symbol(name, positive=True) if positive else sp.Symbol(name, real=True)


def latex(expr: sp.Basic) -> str:
    """Deterministic LaTeX with the notation of :data:`LATEX_NAMES`."""
    names = {s: LATEX_NAMES.get(s.name.rstrip("'"), s.name) for s in expr.free_symbols}
    names.update({s: names[s] + "'" for s in expr.free_symbols if s.name.endswith("'")})
    return sp.latex(expr, symbol_names=names)


@cache
def canonical(expr: sp.Basic) -> sp.Basic:
    """An equal expression in which positive factors have moved outwards.

    Bottom-up: Max/Min become Abs, a function of a Piecewise moves into its branches, and
    each sum is put over a common denominator with the factors common to its terms pulled
    out. Rebuilding each node re-runs sympy's evaluation, which moves positive factors out
    of ``sqrt``, ``Abs`` and ``sign`` (``sign(alpha*x) -> sign(x)`` for positive alpha).
    """
    if expr.is_Atom:
        return expr
    expr = expr.func(*(canonical(arg) for arg in expr.args))
    if isinstance(expr, sp.Max | sp.Min):
        return canonical(expr.rewrite(sp.Abs))
    if not isinstance(expr, sp.Piecewise) and any(isinstance(a, sp.Piecewise) for a in expr.args):
        return canonical(sp.piecewise_fold(expr))
    if expr.is_Add:
        return sp.gcd_terms(sp.together(expr))
    return expr


@dataclass(frozen=True)
class Quantity:
    """One compared quantity: A's value, alpha^k times B's, and B's scale for the relative size."""

    name: str
    power: int
    scaled: sp.Expr
    transformed: sp.Expr
    reference: sp.Expr


@dataclass(frozen=True)
class Stage:
    """The base case's initial states, the first step, or the generic step t."""

    name: str
    quantities: tuple[Quantity, ...]


@dataclass(frozen=True)
class Setup:
    """A rule with its weight decay, and both runs' hyperparameters."""

    rule: Rule
    decay: str
    hp_scaled: Mapping[str, sp.Expr]
    hp_transformed: Mapping[str, sp.Expr]


def apply_step(
    rule: Rule,
    decay: str,
    hp: Mapping[str, sp.Expr],
    theta: sp.Expr,
    grad: sp.Expr,
    state: Mapping[str, sp.Expr | None],
    t: sp.Expr,
) -> StepResult:
    """One step of ``rule`` with weight decay applied where PyTorch applies it.

    ``grad`` is the gradient of the (possibly scaled) loss without any L2 term.
    """
    if decay in ("coupled", "l2_loss"):
        grad = grad + hp[DECAY_HYPERPARAMETER[decay]] * theta
    elif decay == "decoupled":
        theta = theta * (1 - hp["lr"] * hp["weight_decay"])
    return rule.step(StepInput(theta, grad, t, hp, state))


def run_step(
    setup: Setup, scaled: bool, state: Mapping[str, sp.Expr | None], t: sp.Expr
) -> StepResult:
    """One step of run A (``scaled``: gradient alpha*g) or of run B (gradient g)."""
    hp = setup.hp_scaled if scaled else setup.hp_transformed
    grad = ALPHA * GRAD if scaled else GRAD
    return apply_step(setup.rule, setup.decay, hp, THETA, grad, state, t)


def _step_stage(
    setup: Setup,
    name: str,
    state_a: Mapping[str, sp.Expr | None],
    state_b: Mapping[str, sp.Expr | None],
    t: sp.Expr,
) -> Stage:
    theta_a, new_a = run_step(setup, True, state_a, t)
    theta_b, new_b = run_step(setup, False, state_b, t)
    quantities = [Quantity("theta", 0, theta_a, theta_b, theta_b - THETA)]
    for spec in setup.rule.states:
        a, b = new_a[spec.name], new_b[spec.name]
        if a is None and b is None:
            continue
        scaled_b = ALPHA**spec.power * b
        quantities.append(Quantity(spec.name, spec.power, a, scaled_b, scaled_b))
    return Stage(name, tuple(quantities))


def initial_states(setup: Setup, scaled: bool) -> dict[str, sp.Expr | None]:
    """PyTorch's initial state of run A (``scaled``) or run B."""
    hp = setup.hp_scaled if scaled else setup.hp_transformed
    return {spec.name: spec.init(hp) for spec in setup.rule.states}


def generic_states(setup: Setup) -> tuple[dict[str, sp.Expr], dict[str, sp.Expr]]:
    """An arbitrary state of run B, and run A's corresponding state alpha^k times it."""
    state_b = {s.name: state_symbol(s.name, s.positive) for s in setup.rule.states}
    state_a = {s.name: ALPHA**s.power * state_b[s.name] for s in setup.rule.states}
    return state_a, state_b


def stages(setup: Setup) -> tuple[Stage, ...]:
    """Base case (initial states, first step) where the rule has one, then the generic step."""
    out = []
    if setup.rule.first_step:
        init_a, init_b = initial_states(setup, True), initial_states(setup, False)
        init = []
        for spec in setup.rule.states:
            a, b = init_a[spec.name], init_b[spec.name]
            if a is not None and b is not None:
                scaled_b = ALPHA**spec.power * b
                init.append(Quantity(spec.name, spec.power, a, scaled_b, scaled_b))
        out.append(Stage("initial state", tuple(init)))
        out.append(_step_stage(setup, "first step", init_a, init_b, sp.S.One))
    state_a, state_b = generic_states(setup)
    out.append(_step_stage(setup, "step t", state_a, state_b, STEP))
    return tuple(out)


def sample_values(rule: Rule) -> dict[sp.Symbol, sp.Rational]:
    """Exact rational values of every symbol at :data:`SAMPLE_POINT` (t: the rule's sample t)."""
    values = {hp_symbol(name): sp.Rational(text) for name, text in SAMPLE_POINT.items()}
    values[ALPHA] = sp.Rational(SAMPLE_POINT["alpha"])
    values[THETA] = sp.Rational(SAMPLE_POINT["theta"])
    values[GRAD] = sp.Rational(SAMPLE_POINT["g"])
    values[STEP] = sp.Integer(rule.sample_t)
    for spec in rule.states:
        values[state_symbol(spec.name, spec.positive)] = sp.Rational(spec.sample)
    return values


def shortest(*forms: sp.Expr) -> sp.Expr:
    """The form with the shortest LaTeX (ties: sympy's sort order)."""
    return min(forms, key=lambda e: (len(latex(e)), sp.default_sort_key(e)))


@dataclass(frozen=True)
class Assessed:
    """A quantity with its simplified difference and the difference's relative size."""

    quantity: Quantity
    difference: sp.Expr
    size: float


def _size(diff: sp.Expr, reference: sp.Expr, values: Mapping[sp.Symbol, sp.Rational]) -> float:
    num = abs(sp.N(diff.xreplace(values), 30))
    den = abs(sp.N(reference.xreplace(values), 30))
    return float(num / den) if den != 0 else float(num)


def assess(quantity: Quantity, values: Mapping[sp.Symbol, sp.Rational]) -> Assessed:
    """Decide ``scaled - transformed``: exactly zero, or its relative size at ``values``.

    The canonical difference is usually 0 or visibly nonzero at the sample point (then it
    is not identically zero). Only a nonzero form that vanishes at the sample point is
    handed to ``sympy.simplify``. A nonzero difference is shown as it is or factored,
    whichever is shorter.
    """
    diff = canonical(quantity.scaled - quantity.transformed)
    if diff != 0 and _size(diff, quantity.reference, values) < NEGLIGIBLE:
        diff = sp.simplify(sp.piecewise_fold(diff))
    if diff == 0:
        return Assessed(quantity, sp.S.Zero, 0.0)
    return Assessed(
        quantity, shortest(diff, sp.factor(diff)), _size(diff, quantity.reference, values)
    )


def solve_first_difference(setup: Setup, name: str) -> list[sp.Expr]:
    """All values of hyperparameter ``name`` in run B that make the parameters equal.

    Solved on the first step (independent of any assumed state correspondence), or on the
    generic step for a rule without a first step.
    """
    unknown = primed_symbol(name)
    hp_b = {**setup.hp_transformed, name: unknown}
    trial = Setup(setup.rule, setup.decay, setup.hp_scaled, hp_b)
    theta = stages(trial)[-2 if setup.rule.first_step else -1].quantities[0]
    equation = sp.numer(sp.together(canonical(theta.scaled - theta.transformed)))
    solutions = sp.solve(equation, unknown)
    roots = {p for s in solutions for p in s.atoms(sp.Pow) if p.exp == sp.S.Half}
    roots = sorted(roots, key=sp.default_sort_key)
    return sorted(
        (shortest(s, sp.factor(s), sp.collect(s, roots)) for s in solutions),
        key=sp.default_sort_key,
    )
