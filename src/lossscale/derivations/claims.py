"""The reviewed claims ledger: every ``*.yaml`` file in the ``claims/`` directory.

Numeric claims (method ``float64 trajectory``, optionally with ``bitwise`` alphas) are
validated strictly here; entries with ``method: symbolic`` are only checked for ``id``
and ``expected`` and handed to the symbolic module, which validates the rest. The keys
are described at the top of ``claims/trajectory.yaml``. Adding a claim is a data-only
change.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import torch
import yaml

from lossscale.derivations.problems import LOSSES, PROBLEMS
from lossscale.derivations.trajectories import Training
from lossscale.derivations.transforms import TRAINING_SETTINGS, transform
from lossscale.optim import optimizer_class
from lossscale.tables import SYMBOLIC, TRAJECTORY

OUTCOMES = ("holds", "fails")

_REQUIRED = {"id", "optimizer", "transformation", "expected"}
_OPTIONAL = {
    "alphas",
    "method",
    "hyperparameters",
    "training",
    "problem",
    "target_scale",
    "scaled_gradient_rms",
    "bitwise",
    "min_steps",
    "note",
}
_COUNTER_REQUIRED = {"id", "counter_of", "transformation", "expected"}
_COUNTER_OPTIONAL = {"method", "alphas", "note"}
#: What a counter-check takes from the claim it counters.
_INHERITED = ("optimizer", "alphas", "hyperparameters", "training", "problem")
_INHERITED += ("target_scale", "scaled_gradient_rms", "min_steps")


class ClaimsFileError(ValueError):
    """A claims file is malformed; the message names the claim and the key."""


@dataclass(frozen=True)
class Claim:
    """'loss x alpha is equivalent to ``transformation``' for one optimizer and setup."""

    id: str
    optimizer: str
    transformation: str
    alphas: tuple[float, ...]
    expected: str
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    training: Training = field(default_factory=Training)
    problem: str = "regression"
    target_scale: float = 1.0
    scaled_gradient_rms: float | None = None
    bitwise: tuple[float, ...] = ()
    min_steps: int = 1
    counter_of: str | None = None
    note: str = ""

    @property
    def optimizer_cls(self) -> type[torch.optim.Optimizer]:
        """The optimizer class named by ``optimizer``."""
        cls = optimizer_class(self.optimizer)
        assert cls is not None, self.optimizer  # validated on load
        return cls

    @property
    def family(self) -> str:
        """The claim's id, or the id of the claim it counters."""
        return self.counter_of or self.id


@dataclass(frozen=True)
class Ledger:
    """All claims of a claims directory: numeric ones parsed, symbolic ones raw."""

    claims: list[Claim]
    symbolic: list[dict[str, Any]]


def default_claims_dir() -> Path:
    """The reviewed claims directory shipped with the package."""
    return Path(str(files("lossscale.derivations") / "claims"))


def _is_text_number(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        float(value)
    except ValueError:
        return False
    return True


def _number(value: Any, where: str, minimum: float = 0.0, strict: bool = True) -> float:
    """A finite number above (or, not ``strict``, at least) ``minimum``; text is refused."""
    if _is_text_number(value):
        raise ClaimsFileError(f"{where}: {value!r} is text; write numbers as 1.0e-7, not 1e-7")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ClaimsFileError(f"{where}: {value!r} is not a number")
    ok = value > minimum if strict else value >= minimum
    if not (math.isfinite(value) and ok):
        bound = f"> {minimum:g}" if strict else f">= {minimum:g}"
        raise ClaimsFileError(f"{where}: {value!r} is not a finite number {bound}")
    return float(value)


def _steps(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ClaimsFileError(f"{where}: {value!r} is not a whole number >= 1")
    return value


def _alphas(value: Any, where: str) -> tuple[float, ...]:
    if not isinstance(value, list) or not value:
        raise ClaimsFileError(f"{where} must be a non-empty list")
    return tuple(_number(a, where) for a in value)


def _keys(entry: dict, cid: str, required: set[str], optional: set[str]) -> None:
    missing = sorted(required - entry.keys())
    unknown = sorted(entry.keys() - required - optional)
    if missing or unknown:
        raise ClaimsFileError(f"claim {cid}: missing keys {missing}, unknown keys {unknown}")


def _hyperparameters(entry: dict, cid: str, cls: type) -> dict[str, Any]:
    hp = entry.get("hyperparameters") or {}
    if not isinstance(hp, dict):
        raise ClaimsFileError(f"claim {cid}: hyperparameters must be a mapping")
    accepted = set(inspect.signature(cls).parameters) - {"params"}
    if hp.keys() - accepted:
        raise ClaimsFileError(
            f"claim {cid}: {entry['optimizer']} has no hyperparameters {sorted(hp.keys() - accepted)}"
        )
    flat = [
        (k, v) for k, value in hp.items() for v in (value if isinstance(value, list) else [value])
    ]
    text = sorted({k for k, v in flat if _is_text_number(v)})
    if text:
        raise ClaimsFileError(
            f"claim {cid}: hyperparameters {text} are text; write numbers as 1.0e-7, not 1e-7"
        )
    return {k: tuple(v) if isinstance(v, list) else v for k, v in hp.items()}


def _training(entry: dict, cid: str) -> Training:
    raw = entry.get("training") or {}
    if not isinstance(raw, dict):
        raise ClaimsFileError(f"claim {cid}: training must be a mapping")
    unknown = sorted(raw.keys() - set(TRAINING_SETTINGS))
    if unknown:
        raise ClaimsFileError(
            f"claim {cid}: training has no settings {unknown}; known: {list(TRAINING_SETTINGS)}"
        )
    values = {
        k: v if k == "loss" else _number(v, f"claim {cid}: training.{k}", strict=False)
        for k, v in raw.items()
    }
    return Training(**values)


def _problem(entry: dict, cid: str) -> dict[str, Any]:
    """The entry's problem and its target scale (or scaled gradient RMS)."""
    problem = entry.get("problem", "regression")
    if problem not in PROBLEMS:
        raise ClaimsFileError(f"claim {cid}: problem {problem!r} not in {PROBLEMS}")
    scales = {"target_scale", "scaled_gradient_rms"} & entry.keys()
    if len(scales) > 1 or (problem == "classification" and scales):
        raise ClaimsFileError(
            f"claim {cid}: give at most one of target_scale, scaled_gradient_rms "
            "(neither for the classification problem)"
        )
    return {"problem": problem} | {k: _number(entry[k], f"claim {cid}: {k}") for k in scales}


def _check_setup(claim: Claim) -> None:
    """Raise ``ValueError`` unless the claim's runs can be set up at alpha = 2."""
    family = "classification" if claim.problem == "classification" else "regression"
    hp_b, training_b = transform(
        claim.optimizer_cls, claim.hyperparameters, claim.training, claim.transformation, 2.0
    )
    for training in (claim.training, training_b):
        if training.loss is not None and training.loss not in LOSSES[family]:
            raise ValueError(f"loss {training.loss!r} is not one of {LOSSES[family]}")
    shape = (2, 2)  # a matrix: Muon accepts matrices only
    for hp in (claim.hyperparameters, hp_b):
        claim.optimizer_cls([torch.zeros(shape, requires_grad=True)], **hp)


def _parse_claim(entry: dict, cid: str) -> Claim:
    entry = dict(entry)
    counter_of = entry.pop("counter_of", None)
    _keys(entry, cid, _REQUIRED, _OPTIONAL)
    if entry.get("method", TRAJECTORY) != TRAJECTORY:
        raise ClaimsFileError(
            f"claim {cid}: method {entry['method']!r} is not one of {[TRAJECTORY, SYMBOLIC]} "
            "(bitwise checks are a claim's `bitwise:` alphas)"
        )
    cls = optimizer_class(str(entry["optimizer"]))
    if cls is None:
        raise ClaimsFileError(
            f"claim {cid}: optimizer {entry['optimizer']!r} not in torch.optim or lossscale.optim"
        )
    if not ({"alphas", "bitwise"} & entry.keys()):
        raise ClaimsFileError(f"claim {cid}: give alphas, bitwise alphas or both")
    alphas, bitwise = (
        _alphas(entry[k], f"claim {cid}: {k}") if k in entry else () for k in ("alphas", "bitwise")
    )
    claim = Claim(
        id=cid,
        optimizer=str(entry["optimizer"]),
        transformation=str(entry["transformation"]),
        alphas=alphas,
        expected=entry["expected"],
        hyperparameters=_hyperparameters(entry, cid, cls),
        training=_training(entry, cid),
        bitwise=bitwise,
        min_steps=_steps(entry.get("min_steps", 1), f"claim {cid}: min_steps"),
        counter_of=counter_of,
        note=str(entry.get("note", "")).strip(),
        **_problem(entry, cid),
    )
    try:
        _check_setup(claim)
    except (ValueError, TypeError) as err:
        raise ClaimsFileError(f"claim {cid}: {err}") from None
    return claim


def _resolve_counter(entry: dict, cid: str, parents: dict[str, dict]) -> dict:
    """A counter-check's entry completed with what it inherits from its claim."""
    _keys(entry, cid, _COUNTER_REQUIRED, _COUNTER_OPTIONAL)
    parent = parents.get(entry["counter_of"])
    if parent is None or "counter_of" in parent:
        raise ClaimsFileError(f"claim {cid}: counter_of {entry['counter_of']!r} is not a claim")
    if parent["expected"] != "holds" or entry["expected"] != "fails":
        raise ClaimsFileError(
            f"claim {cid}: a counter-check expects fails, of a claim that expects holds"
        )
    return {**{k: parent[k] for k in _INHERITED if k in parent}, **entry}


def _entries(path: Path) -> list[dict]:
    try:
        with open(path) as fh:
            data = yaml.safe_load(fh)
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ClaimsFileError(f"{path}: not a readable YAML claims file ({err})") from None
    if not isinstance(data, dict) or not isinstance(data.get("claims"), list):
        raise ClaimsFileError(f"{path}: expected a top-level 'claims:' list")
    for i, entry in enumerate(data["claims"]):
        if not isinstance(entry, dict):
            raise ClaimsFileError(f"{path}: claims[{i}]: expected a mapping, got {entry!r}")
        if not isinstance(entry.get("id"), str) or not entry["id"]:
            raise ClaimsFileError(f"{path}: claims[{i}]: id {entry.get('id')!r} is not a name")
        if entry.get("expected") not in OUTCOMES:
            raise ClaimsFileError(
                f"{path}: claim {entry['id']}: expected {entry.get('expected')!r} not in {OUTCOMES}"
            )
    return data["claims"]


ClaimsPath = str | Path | Sequence[str | Path] | None


def claims_files(path: ClaimsPath = None) -> list[Path]:
    """The claims files: a directory's ``*.yaml`` in name order, one file, or a list.

    The default is the packaged claims directory.
    """
    if path is None or isinstance(path, str | Path):
        path = default_claims_dir() if path is None else Path(path)
        return sorted(path.glob("*.yaml")) if path.is_dir() else [path]
    return [Path(p) for p in path]


def load_ledger(path: ClaimsPath = None) -> Ledger:
    """Read and validate the claims files (see :func:`claims_files`)."""
    entries = [e for p in claims_files(path) for e in _entries(p)]
    ids = [e["id"] for e in entries]
    duplicated = sorted({i for i in ids if ids.count(i) > 1})
    if duplicated:
        raise ClaimsFileError(f"duplicated claim ids {duplicated}")
    symbolic = [e for e in entries if e.get("method") == SYMBOLIC]
    numeric = [e for e in entries if e.get("method") != SYMBOLIC]
    parents = {e["id"]: e for e in numeric}
    claims = []
    for entry in numeric:
        cid = entry["id"]
        if "counter_of" in entry:
            entry = _resolve_counter(entry, cid, parents)
        claims.append(_parse_claim(entry, cid))
    return Ledger(claims=claims, symbolic=symbolic)


def load_claims(path: ClaimsPath = None) -> list[Claim]:
    """The numeric claims of the claims files (see :func:`claims_files`)."""
    return load_ledger(path).claims
