"""Crafted training histories and phase tables for the phase-diagram tests: every value
chosen by hand, so that outcomes, regimes and boundaries can be checked by hand."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from lossscale.config import load_schema, validate_config
from lossscale.stats.phase import boundary_table, phase_table
from lossscale.tables import PHASE_ARMS, TRAIN_ID_COLUMNS, TRAIN_RECORD_COLUMNS

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow/schemas/config.schema.yaml"
ARMS = {arm: compensation for compensation, arm in PHASE_ARMS.items()}
#: Parameter RMS, NAdam's lr and eps (the schema's defaults) of the crafted runs.
PARAM_RMS = 0.1
LR, EPS = 2e-3, 1e-7
#: Unscaled gradient RMS at initialization per task (G / eps: 1e-3 and 1e-1).
GRADS = {"diabetes": 1e-10, "diabetes_e4": 1e-8}
#: The final training metric of each outcome (the initial one is 1).
FINAL = {"trains": 0.1, "stalls": 0.9, "explodes": 1e3}

#: Outcome of every (task, arm, factor) of NAdam: at 1e-4 the asker's observation (the
#: loss x 1e5 trains, the learning rate x 1e5 explodes), at 1e-5 both train.
OUTCOMES = {
    ("diabetes_e4", "loss", 1.0): "stalls",
    ("diabetes_e4", "loss", 1e5): "trains",
    ("diabetes_e4", "lr", 1.0): "stalls",
    ("diabetes_e4", "lr", 1e5): "explodes",
    ("diabetes_e4", "eps", 1.0): "stalls",
    ("diabetes_e4", "eps", 1e5): "trains",
    ("diabetes", "loss", 1.0): "stalls",
    ("diabetes", "loss", 1e5): "trains",
    ("diabetes", "lr", 1.0): "stalls",
    ("diabetes", "lr", 1e5): "trains",
    ("diabetes", "eps", 1.0): "stalls",
    ("diabetes", "eps", 1e5): "trains",
}


def config(blocks: dict | None = None) -> dict:
    """The schema's defaults with one phase block of NAdam on the two tasks."""
    blocks = blocks or {
        "phase": {
            "phase": True,
            "tasks": list(GRADS),
            "optimizers": ["nadam"],
            "alphas": [1, 1e5],
            "compensations": ["none", "lr_instead", "eps_instead"],
        }
    }
    tasks = {
        "diabetes": {"kind": "diabetes", "target_scale": 1e-5},
        "diabetes_e4": {"kind": "diabetes", "target_scale": 1e-4},
    }
    raw = {"train": {"seeds": 3, "steps": 10, "blocks": blocks}, "tasks": tasks}
    raw["phase"] = {"layers": {"task": None}}  # no deep network to probe among these tasks
    return validate_config(yaml.safe_load(yaml.safe_dump(raw)), load_schema(SCHEMA))


def update(task: str, arm: str, factor: float) -> float:
    """The crafted first update: the theory's, so that measured and predicted agree."""
    g = GRADS[task] * (factor if arm == "loss" else 1.0)
    lr = LR * (factor if arm == "lr" else 1.0)
    eps = EPS / (factor if arm == "eps" else 1.0)
    return lr * g / (g + eps)


def history(task: str, outcomes: dict = OUTCOMES, seeds: int = 3) -> pd.DataFrame:
    """One NAdam job's crafted training table: step 0 and step 10 of every replica."""
    rows = []
    for (name, arm, factor), outcome in outcomes.items():
        if name != task:
            continue
        for seed in range(seeds):
            base = {"task": task, "optimizer": "nadam", "precision": "float32"}
            base |= {"batch_size": 0, "steps": 10}  # the config's train.steps
            base |= {"regularization": "none", "compensation": ARMS[arm], "weight_decay": 0.0}
            base |= {"alpha": factor, "seed": seed}
            scale = factor if arm == "loss" else 1.0
            for step, metric in ((0, 1.0), (10, FINAL[outcome] * (1 + 0.01 * seed))):
                rows.append(
                    base
                    | {
                        "step": step,
                        "train_loss": metric,
                        "test_loss": metric,
                        "train_metric": metric,
                        "test_metric": metric * 1.5,
                        "grad_rms": GRADS[task] * scale,
                        "grad_zero_frac": 0.0,
                        "grad_nonfinite_frac": 0.0,
                        "param_rms": PARAM_RMS,
                        "update_rms": update(task, arm, factor) if step == 0 else float("nan"),
                        "diverged": False,
                    }
                )
    return pd.DataFrame(rows)[[*TRAIN_ID_COLUMNS, *TRAIN_RECORD_COLUMNS]]


def tables(outcomes: dict = OUTCOMES) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The crafted phase table and its boundaries, computed by the real statistics."""
    cfg = config()
    phase = phase_table([history(t, outcomes) for t in GRADS], cfg)
    settings = cfg["phase"]
    return phase, boundary_table(phase, settings["oversized"], settings["trains"], 10.0)


def layers() -> pd.DataFrame:
    """A crafted layer probe of a 3-layer network: the first layer deepest below eps."""
    rows = []
    grads = {1: 1e-12, 2: 1e-11, 3: 1e-9}
    for arm in ("loss", "lr"):
        for factor in (1.0, 1e5):
            for layer, g in grads.items():
                u = update_for(g, arm, factor)
                rows.append(
                    {
                        "task": "diabetes_deep",
                        "optimizer": "nadam",
                        "arm": arm,
                        "factor": factor,
                        "seed": 0,
                        "layer": layer,
                        "n_params": 10 * layer,
                        "grad_rms_init": g,
                        "grad_over_eps": g / EPS,
                        "param_rms_init": PARAM_RMS,
                        "update_rms_first": u / PARAM_RMS,
                        "distance": 100 * u / PARAM_RMS,
                        "train_metric": 0.5 if factor > 1 else 1.0,
                    }
                )
    return pd.DataFrame(rows)


def update_for(grad: float, arm: str, factor: float) -> float:
    """Adam's first update (RMS) for a gradient RMS ``grad``."""
    g = grad * (factor if arm == "loss" else 1.0)
    return LR * (factor if arm == "lr" else 1.0) * g / (g + EPS)
