"""The Methods' context: the study's tasks, blocks, optimizers, settings and provenance,
from the validated config (no result file)."""

from __future__ import annotations

import platform
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lossscale.provenance import git_commit, package_versions
from lossscale.report import slices
from lossscale.study import cells, grid, optimizers
from lossscale.tables import OPTIMIZER_LABELS

#: Label, citation key, textbook prediction and origin of every registered optimizer.
OPTIMIZER_INFO: dict[str, dict[str, Any]] = {
    o.name: {"label": o.label, "cite": o.cite, "textbook": o.textbook, "ours": o.ours}
    for o in optimizers.OPTIMIZERS.values()
}


#: How the methods section names each family of networks.
MODEL_NAMES = {
    "mlp": "small multilayer perceptrons",
    "cnn": "a small convolutional network",
    "transformer": "a small transformer",
}


def network(settings: Mapping[str, Any]) -> str:
    """The task's network in a few words: an MLP's widths and activation, the CNN's
    channels, the transformer's width, blocks and heads."""
    kind = cells.task_model(settings)
    if kind == "cnn":
        return "CNN, channels " + "-".join(map(str, settings["channels"]))
    if kind == "transformer":
        blocks = settings["blocks"]
        return (
            f"transformer, width {settings['width']}, {blocks} block{'s' * (blocks > 1)}, "
            f"{settings['heads']} heads"
        )
    if kind != "mlp":
        return kind  # a registered model these words do not know: its name
    widths = "-".join(map(str, settings.get("hidden", [])))
    return f"MLP {widths}, {settings.get('activation', '')}".rstrip(", ")


def held_out_percent(settings: Mapping[str, Any]) -> float | None:
    """The share of the examples held out, in percent (None if the task has no split)."""
    if "test_fraction" in settings:
        return 100 * settings["test_fraction"]
    if "train_fraction" in settings:
        return 100 * (1 - settings["train_fraction"])
    return None


def task_settings(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The tasks the grid trains, in grid order: kind, loss, metric and settings."""
    out = []
    for name in cells.grid_orders(config)["task"]:
        settings = dict(config["tasks"].get(name, {}))
        objective = cells.task_objective(settings)
        task = {
            "name": name,
            "kind": settings.get("kind", name),
            "objective": objective,
            "loss": slices.LOSS_NAMES.get(objective, objective),
            "loss_short": slices.LOSS_SHORT.get(objective, objective),
            "metric": slices.metric_name(settings),
            "metric_short": "error rate" if cells.is_classification(settings) else "normalized MSE",
            "classification": cells.is_classification(settings),
            "target_scale": settings.get("target_scale"),
            "scale_output": settings.get("scale_output", True),
            "hidden": list(settings.get("hidden", [])),
            "activation": settings.get("activation"),
            "network": network(settings),
            "model": cells.task_model(settings),
            "test_percent": held_out_percent(settings),
            "modulus": settings.get("modulus"),
            "channels": list(settings.get("channels", [])),
        }
        shown = {"kind", "objective", "target_scale", "scale_output", "hidden", "activation"}
        shown |= {
            "test_fraction",
            "train_fraction",
            "model",
            "channels",
            "width",
            "heads",
            "modulus",
        }
        shown.add("blocks")
        task["other"] = [{"name": k, "value": v} for k, v in settings.items() if k not in shown]
        out.append(task)
    return out


def block_settings(config: Mapping[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The blocks (one row each, sizes from ``lossscale.study.grid.summary``) and the grid's size."""
    sizes = {row["block"]: row for row in grid.summary(config)}
    rows = []
    for name, block in cells.blocks(config).items():
        alphas = sorted(float(a) for a in block["alphas"])
        rows.append(
            {
                "name": name,
                "tasks": list(block["tasks"]),
                "optimizers": [OPTIMIZER_LABELS.get(o, o) for o in block["optimizers"]],
                "alphas": alphas,
                "n_alphas": len(alphas),
                "alpha_min": alphas[0],
                "alpha_max": alphas[-1],
                "precisions": list(block["precisions"]),
                "regularizations": list(block["regularizations"]),
                "compensations": list(block["compensations"]),
                "weight_decay": float(block["weight_decay"]),
                "seeds": int(block["seeds"]),
                "steps": int(block["steps"]),
                "batch_size": int(block["batch_size"]),
                **{k: sizes[name][k] for k in ("jobs", "replicas", "replica_steps")},
            }
        )
    total = {k: sizes["grid"][k] for k in ("jobs", "replicas", "replica_steps")}
    return rows, total


def study_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """The configuration facts the methods section reports."""
    train, stats = config["train"], config["stats"]
    blocks, total = block_settings(config)
    orders = cells.grid_orders(config)
    alphas = sorted({a for b in blocks for a in b["alphas"]})
    main = slices.main_slice(config)
    main_block = next(b for b in blocks if b["name"] == main["block"])
    tasks = task_settings(config)
    main_task = next(t for t in tasks if t["name"] == main["task"])
    models = list(dict.fromkeys(t["model"] for t in tasks))
    decays = sorted({b["weight_decay"] for b in blocks if set(b["regularizations"]) - {"none"}})
    return {
        "tasks": tasks,
        "kinds": list(dict.fromkeys(t["kind"] for t in tasks)),
        "objectives": list(dict.fromkeys(t["objective"] for t in tasks)),
        "models": models,
        "model_names": [MODEL_NAMES.get(m, f"a small {m} network") for m in models],
        "minibatches": sorted({b["batch_size"] for b in cells.blocks(config).values()} - {0}),
        "blocks": blocks,
        "grid": total,
        "main": {
            **main,
            "metric": main_task["metric"],
            "classification": main_task["classification"],
            "kind": main_task["kind"],
            "alphas": main_block["alphas"],
            "n_alphas": main_block["n_alphas"],
            "alpha_min": main_block["alpha_min"],
            "alpha_max": main_block["alpha_max"],
            "table_alphas": [],  # from the data (build_context)
        },
        "alphas": alphas,
        "alpha_min": alphas[0],
        "alpha_max": alphas[-1],
        "n_alphas": len(alphas),
        "ref_alpha": cells.REF_ALPHA,
        "seeds": train["seeds"],
        "steps": train["steps"],
        "record_every": train["record_every"],
        "scaler_growth_interval": train["scaler_growth_interval"],
        "precisions": orders["precision"],
        "regularizations": orders["regularization"],
        "compensations": orders["compensation"],
        "weight_decays": decays,
        "confidence": stats["confidence"],
        "confidence_percent": 100 * stats["confidence"],
        "bootstrap_resamples": stats["bootstrap_resamples"],
        "test": stats["test"],
        "margin": stats["margin"],
        "level": stats["level"],
        "untrained": stats["untrained"],
        "untrained_percent": 100 * stats["untrained"],
        "family_size": None,  # from the data (build_context)
        "knee_factor": stats["knee_factor"],
        # all signs equal: the smallest two-sided p of the signed-rank test
        "wilcoxon_min_p": 2.0 ** (1 - train["seeds"]),
        "phase": {k: config["phase"][k] for k in ("trains", "explode", "oversized")},
        "derivation_steps": config["derivations"]["steps"],
        "derivation_tolerance": config["derivations"]["tolerance"],
    }


def optimizer_settings(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every optimizer of the grid, in config order, with names, citation and
    hyperparameters."""
    out = []
    for name in cells.grid_orders(config)["optimizer"]:
        hps = config["optimizers"].get(name, {})
        out.append(
            {
                "name": name,
                **OPTIMIZER_INFO[name],
                "hyperparameters": [{"name": k, "value": v} for k, v in hps.items()],
            }
        )
    return out


def provenance(config_hash: str, repo: str | Path | None) -> dict[str, Any]:
    """Package versions, Python version, config hash and commit: no dates, hosts or times."""
    return {
        "versions": package_versions(),
        "python": platform.python_version(),
        "config_hash": config_hash,
        "commit": "unknown" if repo is None else git_commit(repo),
    }


def probe_settings(config: Mapping[str, Any]) -> dict[str, Any] | None:
    """The network of the per-layer probe (config phase.layers), None without one."""
    task = config["phase"]["layers"]["task"]
    if task is None:
        return None
    settings = config["tasks"][task]
    keys = ("hidden", "activation", "target_scale")
    return {"task": task} | {k: settings.get(k) for k in keys}
