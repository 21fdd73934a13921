"""One optimizer step per rule, for one scalar parameter coordinate, in sympy.

Each step function follows the single-tensor code path of ``torch.optim`` (PyTorch 2.13,
``maximize=False``, non-capturable, non-differentiable) line by line; its docstring gives
the formula in the notation of the PyTorch documentation (gamma = lr). Weight decay is
not written here: the engine applies it uniformly (coupled ``g + lambda*theta``,
decoupled ``theta*(1 - gamma*lambda)`` or an explicit L2 term in the loss) before the
step, exactly where PyTorch applies it.

A rule also declares its state and how each entry scales: the scaled run (gradient
alpha*g) is claimed to carry ``alpha**power`` times the transformed run's state.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import sympy as sp

Expr = sp.Expr
Hyper = Mapping[str, Expr]


@dataclass(frozen=True)
class StepInput:
    """What one step sees: parameter, gradient (decay already applied), step count t >= 1."""

    theta: Expr
    grad: Expr
    t: Expr
    hp: Hyper
    state: Mapping[str, Expr | None]


StepResult = tuple[Expr, dict[str, Expr | None]]


@dataclass(frozen=True)
class StateSpec:
    """One state entry: its scaling power, PyTorch's initial value and a sample value."""

    name: str
    power: int
    init: Callable[[Hyper], Expr | None]
    sample: str
    positive: bool = False


@dataclass(frozen=True)
class Rule:
    """A sympy step function with its hyperparameters, state and allowed weight decays."""

    name: str
    label: str
    step: Callable[[StepInput], StepResult]
    hyperparameters: tuple[str, ...]
    states: tuple[StateSpec, ...] = ()
    decays: tuple[str, ...] = ("none", "coupled", "l2_loss")
    first_step: bool = True
    sample_t: int = 10


def _zero(_: Hyper) -> Expr:
    return sp.S.Zero


def _one(_: Hyper) -> Expr:
    return sp.S.One


def _absent(_: Hyper) -> None:
    return None


def _ema(beta: Expr, avg: Expr, value: Expr) -> Expr:
    """``avg.lerp_(value, 1 - beta)`` = beta*avg + (1 - beta)*value."""
    return beta * avg + (1 - beta) * value


def sgd(x: StepInput, nesterov: bool) -> StepResult:
    """SGD: with mu = 0 theta -= gamma*g (no buffer); else b = g on the first step, then
    b = mu*b + (1 - tau)*g, d = g + mu*b with Nesterov (tau = 0), else d = b; theta -= gamma*d."""
    hp, g, buf = x.hp, x.grad, x.state["buf"]
    mu = hp["momentum"]
    tau = sp.S.Zero if nesterov else hp["dampening"]
    if mu.is_zero:
        return x.theta - hp["lr"] * g, {"buf": None}
    buf = g if buf is None else mu * buf + (1 - tau) * g
    direction = g + mu * buf if nesterov else buf
    return x.theta - hp["lr"] * direction, {"buf": buf}


def adam(x: StepInput, amsgrad: bool, eps_in_sqrt: bool) -> StepResult:
    """Adam: m = beta1*m + (1-beta1)*g, v = beta2*v + (1-beta2)*g^2 (AMSGrad: v_max =
    max(v_max, v), used in place of v); theta -= gamma/(1-beta1^t) * m /
    (sqrt(v)/sqrt(1-beta2^t) + eps). Keras-style variant: denominator sqrt(v/(1-beta2^t) + eps)."""
    hp, g = x.hp, x.grad
    m = _ema(hp["beta1"], x.state["m"], g)
    v = _ema(hp["beta2"], x.state["v"], g**2)
    state: dict[str, Expr | None] = {"m": m, "v": v}
    if amsgrad:
        v = state["vmax"] = sp.Max(x.state["vmax"], v)
    bc2 = 1 - hp["beta2"] ** x.t
    denom = sp.sqrt(v / bc2 + hp["eps"]) if eps_in_sqrt else sp.sqrt(v) / sp.sqrt(bc2) + hp["eps"]
    return x.theta - hp["lr"] / (1 - hp["beta1"] ** x.t) * m / denom, state


class GradientFree(sp.Function):
    """A function of hyperparameters and t only (never of the gradient or the state).

    Both runs evaluate it at the same arguments, so the proof may keep it opaque; the
    snippets show it by name (``tex``). It evaluates its ``formula`` once all arguments are
    numbers, or when the formula reduces to a number (RAdam's rho_1 = 1 for every beta2).
    """

    tex = ""

    @staticmethod
    def formula(*args: Expr) -> Expr:
        raise NotImplementedError

    @classmethod
    def eval(cls, *args: Expr) -> Expr | None:
        if all(arg.is_Number for arg in args):
            return cls.formula(*args)
        if args[-1].is_Number:
            value = sp.cancel(cls.formula(*args))
            if value.is_Number:
                return value
        return None

    def _latex(self, printer: Any, exp: Any = None) -> str:
        base = self.tex.format(t=printer._print(self.args[-1]))
        return base if exp is None else f"{base}^{{{printer._print(exp)}}}"


class NAdamMu(GradientFree):
    """NAdam's momentum schedule mu_t = beta1*(1 - 0.5*0.96^(t*psi)); args (beta1, psi, t)."""

    nargs = 3
    tex = r"\mu_{{{t}}}"

    @staticmethod
    def formula(beta1: Expr, psi: Expr, t: Expr) -> Expr:
        return beta1 * (1 - sp.Rational(1, 2) * sp.Rational(24, 25) ** (t * psi))


def _rho(beta2: Expr, t: Expr) -> Expr:
    return 2 / (1 - beta2) - 1 - 2 * t * beta2**t / (1 - beta2**t)


class RAdamRho(GradientFree):
    """RAdam's rho_t = rho_inf - 2*t*beta2^t/(1 - beta2^t), rho_inf = 2/(1 - beta2) - 1."""

    nargs = 2
    tex = r"\rho_{{{t}}}"

    @staticmethod
    def formula(beta2: Expr, t: Expr) -> Expr:
        return _rho(beta2, t)


class RAdamRect(GradientFree):
    """RAdam's r_t = sqrt((rho_t-4)(rho_t-2)rho_inf/((rho_inf-4)(rho_inf-2)rho_t))."""

    nargs = 2
    tex = r"r_{{{t}}}"

    @staticmethod
    def formula(beta2: Expr, t: Expr) -> Expr:
        rho, rho_inf = _rho(beta2, t), 2 / (1 - beta2) - 1
        return sp.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))


def nadam(x: StepInput) -> StepResult:
    """NAdam: mu_t = beta1*(1 - 0.5*0.96^(t*psi)), Pi = Pi*mu_t, m and v as in Adam,
    denom = sqrt(v/(1-beta2^t)) + eps; theta -= gamma*(1-mu_t)/(1-Pi) * g/denom
    + gamma*mu_{t+1}/(1 - Pi*mu_{t+1}) * m/denom."""
    hp, g = x.hp, x.grad
    mu = NAdamMu(hp["beta1"], hp["momentum_decay"], x.t)
    mu_next = NAdamMu(hp["beta1"], hp["momentum_decay"], x.t + 1)
    product = x.state["mu_product"] * mu
    m = _ema(hp["beta1"], x.state["m"], g)
    v = _ema(hp["beta2"], x.state["v"], g**2)
    denom = sp.sqrt(v / (1 - hp["beta2"] ** x.t)) + hp["eps"]
    theta = x.theta - hp["lr"] * (1 - mu) / (1 - product) * g / denom
    theta = theta - hp["lr"] * mu_next / (1 - product * mu_next) * m / denom
    return theta, {"m": m, "v": v, "mu_product": product}


def radam(x: StepInput, phase: str) -> StepResult:
    """RAdam: m, v as in Adam, m_hat = m/(1-beta1^t); if rho_t > 5: theta -= gamma*m_hat*r_t*
    sqrt(1-beta2^t)/(sqrt(v) + eps) with r_t = sqrt((rho_t-4)(rho_t-2)rho_inf/((rho_inf-4)
    (rho_inf-2)rho_t)); else (always at t = 1, where rho_1 = 1) theta -= gamma*m_hat."""
    hp, g = x.hp, x.grad
    m = _ema(hp["beta1"], x.state["m"], g)
    v = _ema(hp["beta2"], x.state["v"], g**2)
    m_hat = m / (1 - hp["beta1"] ** x.t)
    rho = RAdamRho(hp["beta2"], x.t)
    adaptive = sp.sqrt(1 - hp["beta2"] ** x.t) / (sp.sqrt(v) + hp["eps"])
    rectified = hp["lr"] * m_hat * RAdamRect(hp["beta2"], x.t) * adaptive
    unrectified = hp["lr"] * m_hat
    step = {
        "rectified": rectified,
        "unrectified": unrectified,
        "both": sp.Piecewise((rectified, rho > 5), (unrectified, True)),
    }[phase]
    return x.theta - step, {"m": m, "v": v}


def rmsprop(x: StepInput, centered: bool, momentum: bool, keras: bool = False) -> StepResult:
    """RMSprop (torch's alpha is called smoothing here): v = a*v + (1-a)*g^2; centered:
    g_avg = a*g_avg + (1-a)*g and w = v - g_avg^2, else w = v; d = sqrt(w) + eps (Keras:
    d = sqrt(w + eps)); with momentum b = mu*b + g/d, theta -= gamma*b, else theta -=
    gamma*g/d."""
    hp, g = x.hp, x.grad
    a = hp["smoothing"]
    v = _ema(a, x.state["v"], g**2)
    state: dict[str, Expr | None] = {"v": v}
    spread = v
    if centered:
        g_avg = state["g_avg"] = _ema(a, x.state["g_avg"], g)
        spread = v - g_avg**2
    denom = sp.sqrt(spread + hp["eps"]) if keras else sp.sqrt(spread) + hp["eps"]
    if momentum:
        buf = state["buf"] = hp["momentum"] * x.state["buf"] + g / denom
        return x.theta - hp["lr"] * buf, state
    return x.theta - hp["lr"] * g / denom, state


def adagrad(x: StepInput, keras: bool = False) -> StepResult:
    """Adagrad: s = s + g^2 (s starts at initial_accumulator_value); torch: gamma_t =
    gamma/(1 + (t-1)*eta), theta -= gamma_t * g/(sqrt(s) + eps); Keras: theta -= gamma *
    g/sqrt(s + eps)."""
    hp, g = x.hp, x.grad
    total = x.state["sum"] + g**2
    if keras:
        return x.theta - hp["lr"] * g / sp.sqrt(total + hp["eps"]), {"sum": total}
    clr = hp["lr"] / (1 + (x.t - 1) * hp["lr_decay"])
    return x.theta - clr * g / (sp.sqrt(total) + hp["eps"]), {"sum": total}


def adamax(x: StepInput) -> StepResult:
    """Adamax: m = beta1*m + (1-beta1)*g, u = max(beta2*u, |g| + eps) (eps inside the max);
    theta -= gamma/(1-beta1^t) * m/u."""
    hp, g = x.hp, x.grad
    m = _ema(hp["beta1"], x.state["m"], g)
    u = sp.Max(hp["beta2"] * x.state["u"], sp.Abs(g) + hp["eps"])
    return x.theta - hp["lr"] / (1 - hp["beta1"] ** x.t) * m / u, {"m": m, "u": u}


def adadelta(x: StepInput) -> StepResult:
    """Adadelta: v = rho*v + (1-rho)*g^2, delta = sqrt(u + eps)/sqrt(v + eps) * g,
    u = rho*u + (1-rho)*delta^2; theta -= gamma*delta (eps in numerator and denominator)."""
    hp, g = x.hp, x.grad
    v = _ema(hp["rho"], x.state["v"], g**2)
    delta = sp.sqrt(x.state["u"] + hp["eps"]) / sp.sqrt(v + hp["eps"]) * g
    u = _ema(hp["rho"], x.state["u"], delta**2)
    return x.theta - hp["lr"] * delta, {"v": v, "u": u}


def asgd(x: StepInput) -> StepResult:
    """ASGD (torch's alpha is called power here): theta = theta*(1 - lambd*eta) - eta*g,
    ax = ax + (theta - ax)*mu, eta = gamma/(1 + lambd*gamma*t)^power, mu = 1/max(1, t - t0)."""
    hp = x.hp
    eta = x.state["eta"]
    theta = x.theta * (1 - hp["lambd"] * eta) - eta * x.grad
    ax = x.state["ax"] + (theta - x.state["ax"]) * x.state["mu"]
    new_eta = hp["lr"] / (1 + hp["lambd"] * hp["lr"] * x.t) ** hp["power"]
    new_mu = 1 / sp.Max(1, x.t - hp["t0"])
    return theta, {"eta": new_eta, "mu": new_mu, "ax": ax}


def rprop(x: StepInput) -> StepResult:
    """Rprop: s = sign(g*g_prev); f = eta_plus if s > 0, eta_minus if s < 0, else 1;
    Delta = clamp(Delta*f, Delta_min, Delta_max); g = 0 where s < 0; theta -= sign(g)*Delta;
    g_prev = g."""
    hp, g = x.hp, x.grad
    s = sp.sign(g * x.state["prev"])
    factor = sp.Piecewise((hp["etaplus"], s > 0), (hp["etaminus"], s < 0), (1, True))
    size = sp.Min(sp.Max(x.state["step_size"] * factor, hp["step_size_min"]), hp["step_size_max"])
    g = sp.Piecewise((0, s < 0), (g, True))
    return x.theta - sp.sign(g) * size, {"prev": g, "step_size": size}


def lion(x: StepInput) -> StepResult:
    """Lion (Chen et al. 2023): c = beta1*m + (1-beta1)*g, theta -= gamma*sign(c),
    m = beta2*m + (1-beta2)*g (decoupled decay is applied before, as in AdamW)."""
    hp, g = x.hp, x.grad
    update = sp.sign(_ema(hp["beta1"], x.state["m"], g))
    return x.theta - hp["lr"] * update, {"m": _ema(hp["beta2"], x.state["m"], g)}


def signsgd(x: StepInput) -> StepResult:
    """signSGD: theta -= gamma*sign(g)."""
    return x.theta - x.hp["lr"] * sp.sign(x.grad), {}


def _s(name: str, power: int, sample: str, init=_zero, positive: bool = False) -> StateSpec:
    return StateSpec(name, power, init, sample, positive)


_M = _s("m", 1, "2e-9")
_V = _s("v", 2, "5e-18", positive=True)
_G_AVG = _s("g_avg", 1, "1e-9")
_SUM = _s("sum", 2, "7e-18", init=lambda hp: hp["initial_accumulator_value"], positive=True)
_ADAM_HP = ("lr", "beta1", "beta2", "eps")
_ADAM_DECAYS = ("none", "coupled", "decoupled", "l2_loss")


def _rule(name: str, label: str, step, hp, states=(), **kwargs) -> tuple[str, Rule]:
    return name, Rule(name, label, step, tuple(hp), tuple(states), **kwargs)


#: Every sympy step function, by the name claims use in their ``rule`` key.
RULES: dict[str, Rule] = dict(
    [
        _rule(
            "sgd",
            "SGD with momentum and dampening",
            partial(sgd, nesterov=False),
            ("lr", "momentum", "dampening"),
            [_s("buf", 1, "1e-9", init=_absent)],
        ),
        _rule(
            "sgd_nesterov",
            "SGD with Nesterov momentum",
            partial(sgd, nesterov=True),
            ("lr", "momentum"),
            [_s("buf", 1, "1e-9", init=_absent)],
        ),
        _rule(
            "adam",
            "Adam",
            partial(adam, amsgrad=False, eps_in_sqrt=False),
            _ADAM_HP,
            [_M, _V],
            decays=_ADAM_DECAYS,
        ),
        _rule(
            "adam_amsgrad",
            "Adam with AMSGrad",
            partial(adam, amsgrad=True, eps_in_sqrt=False),
            _ADAM_HP,
            [_M, _V, _s("vmax", 2, "6e-18", positive=True)],
            decays=_ADAM_DECAYS,
        ),
        _rule(
            "adam_eps_in_sqrt",
            "Adam with eps inside the square root (Keras-style)",
            partial(adam, amsgrad=False, eps_in_sqrt=True),
            _ADAM_HP,
            [_M, _V],
        ),
        _rule(
            "nadam",
            "NAdam",
            nadam,
            (*_ADAM_HP, "momentum_decay"),
            [_M, _V, _s("mu_product", 0, "1/2", init=_one, positive=True)],
            decays=_ADAM_DECAYS,
        ),
        _rule(
            "radam",
            "RAdam, both phases",
            partial(radam, phase="both"),
            _ADAM_HP,
            [_M, _V],
            decays=_ADAM_DECAYS,
        ),
        _rule(
            "radam_unrectified",
            "RAdam, un-rectified steps",
            partial(radam, phase="unrectified"),
            _ADAM_HP,
            [_M, _V],
            sample_t=3,
        ),
        _rule(
            "radam_rectified",
            "RAdam, rectified steps",
            partial(radam, phase="rectified"),
            _ADAM_HP,
            [_M, _V],
            first_step=False,
        ),
        _rule(
            "rmsprop",
            "RMSprop",
            partial(rmsprop, centered=False, momentum=False),
            ("lr", "smoothing", "eps"),
            [_V],
        ),
        _rule(
            "rmsprop_centered",
            "RMSprop, centered",
            partial(rmsprop, centered=True, momentum=False),
            ("lr", "smoothing", "eps"),
            [_V, _G_AVG],
        ),
        _rule(
            "rmsprop_momentum",
            "RMSprop with momentum",
            partial(rmsprop, centered=False, momentum=True),
            ("lr", "smoothing", "eps", "momentum"),
            [_V, _s("buf", 0, "1/3")],
        ),
        _rule(
            "rmsprop_keras",
            "RMSprop with eps inside the square root (Keras)",
            partial(rmsprop, centered=False, momentum=False, keras=True),
            ("lr", "smoothing", "eps"),
            [_V],
        ),
        _rule(
            "rmsprop_keras_centered",
            "RMSprop, centered, with eps inside the square root (Keras)",
            partial(rmsprop, centered=True, momentum=False, keras=True),
            ("lr", "smoothing", "eps"),
            [_V, _G_AVG],
        ),
        _rule(
            "adagrad",
            "Adagrad",
            adagrad,
            ("lr", "lr_decay", "eps", "initial_accumulator_value"),
            [_SUM],
        ),
        _rule(
            "adagrad_keras",
            "Adagrad with eps inside the square root (Keras)",
            partial(adagrad, keras=True),
            ("lr", "eps", "initial_accumulator_value"),
            [_SUM],
            decays=("none",),
        ),
        _rule(
            "adamax",
            "Adamax",
            adamax,
            _ADAM_HP,
            [_M, _s("u", 1, "4e-9", positive=True)],
        ),
        _rule(
            "adadelta",
            "Adadelta",
            adadelta,
            ("lr", "rho", "eps"),
            [_V, _s("u", 2, "4e-18", positive=True)],
        ),
        _rule(
            "asgd",
            "ASGD",
            asgd,
            ("lr", "lambd", "power", "t0"),
            [
                _s("eta", -1, "1e-3", init=lambda hp: hp["lr"], positive=True),
                _s("mu", 0, "1", init=_one, positive=True),
                _s("ax", 0, "1/4"),
            ],
        ),
        _rule(
            "rprop",
            "Rprop",
            rprop,
            ("lr", "etaminus", "etaplus", "step_size_min", "step_size_max"),
            [
                _s("prev", 1, "-1e-9"),
                _s("step_size", 0, "1e-3", init=lambda hp: hp["lr"], positive=True),
            ],
            decays=("none",),
        ),
        _rule(
            "lion",
            "Lion",
            lion,
            ("lr", "beta1", "beta2"),
            [_M],
            decays=("none", "decoupled"),
        ),
        _rule("signsgd", "signSGD", signsgd, ("lr",), decays=("none",)),
    ]
)
