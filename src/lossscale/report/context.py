"""Build the paper's context: every number and finding the text uses, from result files.

The context is plain JSON (``results/report/context.json``); the templates get numbers
only from it. It holds no dates, host names or timings, so that the same results render
byte-identical paper sources.
"""

from __future__ import annotations

import json
import logging
import platform
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from lossscale.io import write_json
from lossscale.provenance import git_commit, package_versions
from lossscale.report import findings, slices
from lossscale.report.evidence import knee_summary, magnitude_summary, roundoff_summary
from lossscale.report.filters import is_missing
from lossscale.report.phase import phase_summary
from lossscale.report.robustness import lr_choices, reference_means, robustness
from lossscale.report.theory import claim_list, derivations, ledger_counts, theory_table
from lossscale.study import cells, grid, optimizers
from lossscale.tables import (
    CELL,
    CLAIM_COLUMNS,
    COMPARISON_COLUMNS,
    KNEE_COLUMNS,
    LAYER_COLUMNS,
    MAGNITUDE_COLUMNS,
    OPTIMIZER_LABELS,
    PHASE_BOUNDARY_COLUMNS,
    PHASE_COLUMNS,
    ROUNDOFF_COLUMNS,
)

log = logging.getLogger(__name__)

REF_ALPHA = cells.REF_ALPHA

#: Label, citation key, textbook prediction and origin of every registered optimizer.
OPTIMIZER_INFO: dict[str, dict[str, Any]] = {
    o.name: {"label": o.label, "cite": o.cite, "textbook": o.textbook, "ours": o.ours}
    for o in optimizers.OPTIMIZERS.values()
}

_INT_COLUMNS = (
    "n_seeds",
    "family_size",
    "n_pairs",
    "n_diverged",
    "n_exploded",
    "seed",
    "layer",
    "n_params",
    "batch_size",
    "steps",
)
_BOOL_COLUMNS = (
    "power_of_two",
    "bitwise",
    "trains",
    "agrees",
    "update_first_agrees",
    "update_run_agrees",
    "output_scaled",
    "asker_pattern",
)
_NUMBERS = ("weight_decay", "alpha", "max_rel_deviation", "tolerance")
_TEXT_COLUMNS = frozenset(
    {*CELL, *CLAIM_COLUMNS, "quantity", "test", "verdict", "arm", "outcome", "boundary"}
    | {"other_task"}
    | {"predicted_regime", "measured_regime"}
) - set(_NUMBERS)


def _clean(value: Any, column: str) -> Any:
    """A JSON-ready cell: None for a missing value ("" for an empty ``censored``), int
    counts, bools, str for text columns, float otherwise."""
    if column.endswith("censored"):
        return "" if is_missing(value) else str(value)
    if is_missing(value):
        return None
    if column in _INT_COLUMNS:
        return int(value)
    if column in _BOOL_COLUMNS:
        return value if isinstance(value, bool) else str(value).lower() == "true"
    if column in _TEXT_COLUMNS:
        return str(value)
    return float(value)


def read_table(path: str | Path, columns: Sequence[str]) -> list[dict[str, Any]]:
    """Rows of a result CSV as dicts, checking that the expected columns are present."""
    df = pd.read_csv(path, keep_default_na=True)
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; found {list(df.columns)}")
    return [{c: _clean(row[c], c) for c in columns} for row in df.to_dict("records")]


def _order(values: Sequence[str]) -> dict[str, int]:
    return {v: i for i, v in enumerate(values)}


def _sort_key(row: Mapping[str, Any], orders: Mapping[str, dict[str, int]]) -> tuple:
    """Config order for the cell's axes (unknown values last), then weight decay, alpha
    and quantity."""
    key: list[Any] = []
    for col, order in orders.items():
        key += [order.get(row[col], len(order)), row[col]]
    return (*key, row.get("weight_decay") or 0.0, row["alpha"], row.get("quantity", ""))


# --- the configuration ------------------------------------------------------------------


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
            "test_percent": 100 * settings["test_fraction"]
            if "test_fraction" in settings
            else None,
        }
        shown = {"kind", "objective", "target_scale", "scale_output", "hidden", "activation"}
        shown.add("test_fraction")
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
    decays = sorted({b["weight_decay"] for b in blocks if set(b["regularizations"]) - {"none"}})
    return {
        "tasks": tasks,
        "kinds": list(dict.fromkeys(t["kind"] for t in tasks)),
        "objectives": list(dict.fromkeys(t["objective"] for t in tasks)),
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
        "ref_alpha": REF_ALPHA,
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


def _probe(config: Mapping[str, Any]) -> dict[str, Any] | None:
    """The network of the per-layer probe (config phase.layers), None without one."""
    task = config["phase"]["layers"]["task"]
    if task is None:
        return None
    settings = config["tasks"][task]
    keys = ("hidden", "activation", "target_scale")
    return {"task": task} | {k: settings.get(k) for k in keys}


def _optional_table(
    inputs: Mapping[str, str | Path], name: str, columns: Sequence[str]
) -> list[dict[str, Any]]:
    """The rows of result file ``inputs[name]``, none where it is not given."""
    return read_table(inputs[name], columns) if inputs.get(name) else []


def _read_json(path: str | Path | None) -> dict[str, Any]:
    return {} if path is None else json.loads(Path(path).read_text())


def build_context(
    inputs: Mapping[str, str | Path],
    config: Mapping[str, Any],
    config_hash: str,
    figures: Sequence[str],
    repo: str | Path | None = None,
) -> dict[str, Any]:
    """The whole context, from the result files, the validated config and provenance.

    ``inputs`` names the result files: ``claims``, ``comparisons``, ``knee`` and
    ``roundoff`` (CSV), and optionally ``magnitude``, ``phase``, ``phase_boundaries`` and ``layers``
    (the phase diagram's CSVs: without them the paper has no phase diagram) and
    ``symbolic`` and ``ledger`` (the derivation stage's JSON: without them the paper
    shows no derivations or notes). ``config``
    needs the keys train, tasks, optimizers, stats and derivations; ``figures`` names
    the figures (``results/figures/{name}.pdf|png``) the paper shows.

    The results table, the findings and the answer use the main slice
    (``lossscale.report.slices.main_slice``): the asker's task at the main settings, every
    optimizer; the table shows a few of its alphas (``slices.table_alphas``).
    """
    study = study_settings(config)
    optimizers = optimizer_settings(config)
    orders = {axis: _order(v) for axis, v in cells.grid_orders(config).items()}
    orders = {c: orders[c] for c in CELL if c in orders}
    claims = read_table(inputs["claims"], CLAIM_COLUMNS)
    comparisons = sorted(
        read_table(inputs["comparisons"], COMPARISON_COLUMNS), key=lambda r: _sort_key(r, orders)
    )
    for key, column in (
        ("confidence", "confidence"),
        ("margin", "margin"),
        ("test", "test"),
        ("family_size", "family_size"),
    ):
        used = {r[column] for r in comparisons if r[column] is not None}
        if len(used) > 1:
            raise ValueError(f"{inputs['comparisons']}: several values of {column}: {used}")
        if used:  # what the statistics actually used
            study[key] = used.pop()
    study["confidence_percent"] = 100 * study["confidence"]
    study["lr_choices"] = lr_choices(config)
    main = slices.main_slice(config)
    in_main = [r for r in comparisons if cells.in_setting(r, main)]
    shown = slices.table_alphas(r["alpha"] for r in in_main)
    study["main"]["table_alphas"] = shown
    others = {(r["optimizer"], r["alpha"], r["quantity"]): r for r in in_main}

    def other(r: dict, quantity: str, key: str) -> Any:
        row = others.get((r["optimizer"], r["alpha"], quantity))
        return None if row is None else row[key]

    results = [
        {**r, "label": findings.label(r["optimizer"])}
        | {
            "best_mean": other(r, "test_best", "mean"),
            "train_verdict": other(r, "train", "verdict"),
        }
        for r in in_main
        if r["quantity"] == "test" and r["alpha"] in shown
    ]
    found = findings.cell_findings(in_main)
    ledger = _read_json(inputs.get("ledger"))
    names = [o["name"] for o in optimizers]
    blocks = findings.block_findings(comparisons, config, main)
    return {
        "study": study,
        "optimizers": optimizers,
        "claims": claims,
        "theory": theory_table(claims, ledger),
        "claim_list": claim_list(claims, ledger),
        "derivations": derivations(claims, _read_json(inputs.get("symbolic"))),
        "ledger_counts": ledger_counts(claims),
        "results": results,
        "findings": found,
        "verdicts": {
            "main": findings.verdict_counts(in_main),
            "main_train": findings.verdict_counts(in_main, "train"),
            "grid": findings.verdict_counts(comparisons),
            "grid_train": findings.verdict_counts(comparisons, "train"),
        },
        "blocks": blocks,
        "by_axis": {
            axis: findings.by_axis(blocks, axis)
            for axis in ("compensation", "regularization", "precision")
        },
        "asker": findings.asker_findings(comparisons, config),
        "focal": findings.focal_findings(comparisons, study["tasks"], main, names),
        "robustness": robustness(comparisons, config),
        "regularization_at_one": reference_means(
            comparisons, config, slices.regularization_block(config)
        ),
        "knee": knee_summary(read_table(inputs["knee"], KNEE_COLUMNS)),
        "roundoff": roundoff_summary(read_table(inputs["roundoff"], ROUNDOFF_COLUMNS)),
        "magnitude": magnitude_summary(_optional_table(inputs, "magnitude", MAGNITUDE_COLUMNS)),
        "phase": phase_summary(
            _optional_table(inputs, "phase", PHASE_COLUMNS),
            _optional_table(inputs, "phase_boundaries", PHASE_BOUNDARY_COLUMNS),
            _optional_table(inputs, "layers", LAYER_COLUMNS),
            config["phase"],
        )
        | {"blocks": [n for n, b in cells.blocks(config).items() if b["phase"]]},
        "probe": _probe(config),
        "summary": findings.summarize(found, claims),
        "figures": {n: {"pdf": f"figures/{n}.pdf", "png": f"figures/{n}.png"} for n in figures},
        "provenance": provenance(config_hash, repo),
    }


def write_context(
    inputs: Mapping[str, str | Path],
    config: Mapping[str, Any],
    config_hash: str,
    figures: Sequence[str],
    out: str | Path,
    repo: str | Path | None = None,
) -> dict[str, Any]:
    """Build the context and write it atomically to ``out`` (sorted-key JSON)."""
    context = build_context(inputs, config, config_hash, figures, repo)
    write_json(context, out)
    log.info(
        "wrote %s: %d claims, %d results rows, %d findings",
        out,
        len(context["claims"]),
        len(context["results"]),
        len(context["findings"]),
    )
    return context
