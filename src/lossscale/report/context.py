"""Build the paper's context: every number and finding the text uses, from result files.

The context is plain JSON (``results/report/context.json``); the templates get numbers
only from it. It holds no dates, host names or timings, so that the same results render
byte-identical paper sources.
"""

from __future__ import annotations

import itertools
import json
import logging
import platform
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from lossscale import grid
from lossscale.io import write_json
from lossscale.provenance import git_commit, package_versions
from lossscale.report.filters import is_missing
from lossscale.report.theory import claim_list, derivations, ledger_counts, theory_table
from lossscale.stats import slices
from lossscale.tables import CELL, CLAIM_COLUMNS, COMPARISON_COLUMNS, OPTIMIZER_LABELS

log = logging.getLogger(__name__)

REF_ALPHA = slices.REF_ALPHA
DIRECTIONS = ("lower", "higher", "none", "identical", "undetermined")

#: Which reference the paper cites for each optimizer, and what the textbook answer
#: predicts for loss x alpha without regularization ("lr": same as lr x alpha,
#: "invariant": no effect).
_CITES = {
    "adam": "kingma2015adam",
    "adamw": "loshchilov2019decoupled",
    "nadam": "dozat2016nadam",
    "radam": "liu2020radam",
    "adamax": "kingma2015adam",
    "rmsprop": "tieleman2012rmsprop",
    "adagrad": "duchi2011adagrad",
    "adadelta": "zeiler2012adadelta",
    "asgd": "polyak1992averaging",
    "rprop": "riedmiller1993rprop",
    "lion": "chen2023lion",
    "lbfgs": "liu1989lbfgs",
    "adafactor": "shazeer2018adafactor",
}
_TEXTBOOK = {"sgd": "lr", "adam": "invariant", "nadam": "invariant"}
#: optimizers this package implements (the others are PyTorch's)
_OURS = ("lion", "signsgd")


def optimizer_info(name: str) -> dict[str, Any]:
    """Label, citation key, textbook prediction and origin of optimizer ``name``."""
    return {
        "label": OPTIMIZER_LABELS.get(name, name),
        "cite": _CITES.get(name),
        "textbook": _TEXTBOOK.get(name, "unknown"),
        "ours": name in _OURS,
    }


OPTIMIZER_INFO: dict[str, dict[str, Any]] = {
    name: optimizer_info(name) for name in OPTIMIZER_LABELS
}

_INT_COLUMNS = ("n_seeds", "n_pairs", "n_diverged")
_FLOAT_COLUMNS = ("alpha", "max_rel_deviation", "tolerance", "mean", "ref_mean", "effect")
_FLOAT_COLUMNS += ("ci_low", "ci_high", "confidence", "weight_decay")


def _clean(value: Any, column: str) -> Any:
    """A JSON-ready cell: None for NaN, int counts, float numbers, str otherwise."""
    if is_missing(value):
        return None
    if column in _INT_COLUMNS:
        return int(value)
    if column in _FLOAT_COLUMNS:
        return float(value)
    return str(value)


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


def direction(effect: float | None, ci_low: float | None, ci_high: float | None) -> str:
    """What the CI of a paired effect says about alpha vs alpha = 1.

    "lower" / "higher": the interval excludes zero on that side; "identical": effect and
    interval are exactly zero; "none": the interval contains zero; "undetermined": any
    of them is missing (e.g. every seed diverged).
    """
    if is_missing(effect) or is_missing(ci_low) or is_missing(ci_high):
        return "undetermined"
    if ci_high < 0:
        return "lower"
    if ci_low > 0:
        return "higher"
    if effect == 0 and ci_low == 0 and ci_high == 0:
        return "identical"
    return "none"


def _effect(row: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    keys = ("alpha", "mean", "ref_mean", "effect", "ci_low", "ci_high")
    out = {k: row[k] for k in (*keys, "n_seeds", "n_pairs", "n_diverged")}
    out["direction"] = direction(row["effect"], row["ci_low"], row["ci_high"])
    out["changed"] = out["direction"] in ("lower", "higher")
    return out


def _finding(rows: list[dict[str, Any]], label: str, textbook: str) -> dict[str, Any]:
    """What one cell's comparisons say, for the answer text."""
    test = sorted((r for r in rows if r["quantity"] == "test"), key=lambda r: r["alpha"])
    train = {r["alpha"]: r for r in rows if r["quantity"] == "train"}
    top = test[-1]
    finite = [r for r in test if not is_missing(r["mean"])]
    best = min(finite, key=lambda r: (r["mean"], r["alpha"])) if finite else None
    directions = [(r["alpha"], direction(r["effect"], r["ci_low"], r["ci_high"])) for r in test]
    return {
        **{c: top[c] for c in CELL},
        "label": label,
        "textbook": textbook,
        "alpha": top["alpha"],
        "n_alphas": len(test),
        "test": _effect(top),
        "train": _effect(train.get(top["alpha"])),
        "best": None if best is None else {"alpha": best["alpha"], "mean": best["mean"]},
        "lower_alphas": [a for a, d in directions if d == "lower"],
        "higher_alphas": [a for a, d in directions if d == "higher"],
        "diverged_alphas": [r["alpha"] for r in test if (r["n_diverged"] or 0) > 0],
    }


def findings(
    comparisons: list[dict[str, Any]], optimizers: Mapping[str, Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """One finding per cell (``CELL``) that has test rows, in row order.

    The paper passes the main slice's rows (one cell per optimizer); each finding
    reports the cell's largest alpha and, over all its alphas, where the test metric
    was detectably lower or higher than at alpha = 1.
    """
    cells: dict[tuple, list[dict[str, Any]]] = {}
    for row in comparisons:
        cells.setdefault(tuple(row[c] for c in CELL), []).append(row)
    out = []
    for rows in cells.values():
        if not any(r["quantity"] == "test" for r in rows):
            continue
        info = optimizers.get(rows[0]["optimizer"]) or optimizer_info(rows[0]["optimizer"])
        out.append(_finding(rows, info["label"], info["textbook"]))
    return out


def summarize(found: list[dict[str, Any]], claims: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts and name lists that the abstract and the answer paragraph branch on."""

    def names(items: Iterable[dict[str, Any]]) -> list[str]:
        return list(dict.fromkeys(f["label"] for f in items))

    def unchanged(f: dict[str, Any]) -> bool:
        return f["test"]["direction"] in ("none", "identical")

    invariant = [f for f in found if f["textbook"] == "invariant"]
    contradicted = [c for c in claims if c["verdict"] != "confirmed"]
    return {
        "n_findings": len(found),
        "changed": names(f for f in found if f["test"]["changed"]),
        "unchanged": names(f for f in found if unchanged(f)),
        "undetermined": names(f for f in found if f["test"]["direction"] == "undetermined"),
        "by_direction": {
            d: names(f for f in found if f["test"]["direction"] == d) for d in DIRECTIONS
        },
        "clauses": [
            {"direction": d, "labels": names(f for f in found if f["test"]["direction"] == d)}
            for d in DIRECTIONS
            if any(f["test"]["direction"] == d for f in found)
        ],
        "invariant_changed": names(f for f in invariant if f["test"]["changed"]),
        "invariant_unchanged": names(f for f in invariant if unchanged(f)),
        "invariant_by_direction": {
            d: names(f for f in invariant if f["test"]["direction"] == d) for d in DIRECTIONS
        },
        "largest_alphas": sorted({f["alpha"] for f in found}),
        "n_claims": len(claims),
        "n_confirmed": len(claims) - len(contradicted),
        "n_contradicted": len(contradicted),
        "contradicted_claims": [c["claim_id"] for c in contradicted],
    }


# --- the grid's blocks, compared within each -------------------------------------------


def _index(comparisons: Iterable[Mapping[str, Any]]) -> dict[tuple, Mapping[str, Any]]:
    """Test rows by (cell..., alpha)."""
    return {(*(r[c] for c in CELL), r["alpha"]): r for r in comparisons if r["quantity"] == "test"}


def setting_outcome(
    index: Mapping[tuple, Mapping[str, Any]],
    setting: Mapping[str, Any],
    optimizers: Sequence[str],
    alpha: float,
) -> dict[str, Any]:
    """Every optimizer's direction at ``alpha`` in one setting (task, precision,
    regularization, compensation, weight decay): optimizer labels by direction."""
    out: dict[str, Any] = {d: [] for d in DIRECTIONS}
    n = 0
    for opt in optimizers:
        key = (
            setting["task"],
            opt,
            setting["precision"],
            setting["regularization"],
            setting["compensation"],
            setting["weight_decay"],
            alpha,
        )
        row = index.get(key)
        if row is None:
            continue
        n += 1
        out[direction(row["effect"], row["ci_low"], row["ci_high"])].append(
            OPTIMIZER_LABELS.get(opt, opt)
        )
    out["n"] = n
    out["changed"] = out["lower"] + out["higher"]
    out["clauses"] = [{"direction": d, "labels": out[d]} for d in DIRECTIONS if out[d]]
    return out


def block_findings(
    comparisons: list[dict[str, Any]], config: Mapping[str, Any], main: Mapping[str, str]
) -> list[dict[str, Any]]:
    """Per block, per setting of the block (its tasks x precisions x regularizations x
    compensations): which optimizers' test metric changed at the block's largest alpha.

    The main block's main setting is left out (the answer reports it in full); the
    ``varies`` flags say which axes the block crosses, so the text names only those.
    """
    index = _index(comparisons)
    out = []
    for name, block in slices.blocks(config).items():
        alpha = max(float(a) for a in block["alphas"])
        varies = {axis: len(block[key]) > 1 for axis, key in slices.AXES.items()}
        settings = []
        for task, precision, reg, comp in itertools.product(
            block["tasks"], block["precisions"], block["regularizations"], block["compensations"]
        ):
            setting = {
                "task": task,
                "precision": precision,
                "regularization": reg,
                "compensation": comp,
                "weight_decay": float(block["weight_decay"]) if reg != "none" else 0.0,
            }
            if name == main["block"] and slices.in_setting(setting, main):
                continue
            outcome = setting_outcome(index, setting, block["optimizers"], alpha)
            if outcome["n"]:
                settings.append({**setting, **outcome})
        out.append({"name": name, "alpha": alpha, "varies": varies, "settings": settings})
    return out


def asker_findings(
    comparisons: list[dict[str, Any]], config: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """The asker's alternative: wherever a block trains compensation ``lr_instead``
    (the loss unscaled, the learning rate times alpha), its largest alpha against the
    loss times the same alpha (compensation ``none``) where the grid has that too."""
    index = _index(comparisons)
    out = []
    for name, block in slices.blocks(config).items():
        if "lr_instead" not in block["compensations"]:
            continue
        alpha = max(float(a) for a in block["alphas"])
        for task, opt, precision, reg in itertools.product(
            block["tasks"], block["optimizers"], block["precisions"], block["regularizations"]
        ):
            decay = float(block["weight_decay"]) if reg != "none" else 0.0
            cell = (task, opt, precision, reg)
            lr = index.get((*cell, "lr_instead", decay, alpha))
            if lr is None:
                continue
            loss = index.get((*cell, "none", decay, alpha))
            out.append(
                {
                    "block": name,
                    "task": task,
                    "optimizer": opt,
                    "label": OPTIMIZER_LABELS.get(opt, opt),
                    "precision": precision,
                    "regularization": reg,
                    "alpha": alpha,
                    "lr": _effect(lr),
                    "loss": _effect(loss),
                }
            )
    return out


def focal_findings(
    comparisons: list[dict[str, Any]],
    study: Mapping[str, Any],
    main: Mapping[str, str],
    optimizers: Sequence[str],
) -> dict[str, Any] | None:
    """The focal-loss tasks against the cross-entropy ones, at the main settings and the
    largest alpha each was trained at (tasks without comparisons left out; None when the
    grid trains no focal-loss task)."""
    if "focal" not in {t["objective"] for t in study["tasks"]}:
        return None
    index = _index(comparisons)
    groups: dict[str, list[dict[str, Any]]] = {"focal": [], "cross_entropy": []}
    for task in study["tasks"]:
        if task["objective"] not in groups:
            continue
        setting = {axis: main[axis] for axis in slices.SETTING_AXES} | {
            "task": task["name"],
            "weight_decay": 0.0,
        }
        alphas = [
            k[-1]
            for k in index
            if all(k[i] == setting[c] for i, c in enumerate(CELL) if c != "optimizer")
        ]
        if not alphas:
            continue
        outcome = setting_outcome(index, setting, optimizers, max(alphas))
        groups[task["objective"]].append({"task": task["name"], "alpha": max(alphas), **outcome})
    return groups


# --- the configuration ------------------------------------------------------------------


def task_settings(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The tasks the grid trains, in grid order: kind, loss, metric and settings."""
    out = []
    for name in slices.grid_orders(config)["task"]:
        settings = dict(config["tasks"].get(name, {}))
        objective = slices.task_objective(settings)
        task = {
            "name": name,
            "kind": settings.get("kind", name),
            "objective": objective,
            "loss": slices.LOSS_NAMES.get(objective, objective),
            "loss_short": slices.LOSS_SHORT.get(objective, objective),
            "metric": slices.metric_name(settings),
            "metric_short": "error rate"
            if slices.is_classification(settings)
            else "normalized MSE",
            "classification": slices.is_classification(settings),
            "target_scale": settings.get("target_scale"),
            "hidden": list(settings.get("hidden", [])),
            "activation": settings.get("activation"),
            "test_percent": 100 * settings["test_fraction"]
            if "test_fraction" in settings
            else None,
        }
        shown = {"kind", "objective", "target_scale", "hidden", "activation", "test_fraction"}
        task["other"] = [{"name": k, "value": v} for k, v in settings.items() if k not in shown]
        out.append(task)
    return out


def block_settings(config: Mapping[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The blocks (one row each, sizes from ``lossscale.grid.summary``) and the grid's size."""
    sizes = {row["block"]: row for row in grid.summary(config)}
    rows = []
    for name, block in slices.blocks(config).items():
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
                **{k: sizes[name][k] for k in ("jobs", "replicas", "replica_steps")},
            }
        )
    total = {k: sizes["grid"][k] for k in ("jobs", "replicas", "replica_steps")}
    return rows, total


def study_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """The configuration facts the methods section reports."""
    train, stats = config["train"], config["stats"]
    blocks, total = block_settings(config)
    orders = slices.grid_orders(config)
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
        "precisions": orders["precision"],
        "regularizations": orders["regularization"],
        "compensations": orders["compensation"],
        "weight_decays": decays,
        "confidence": stats["confidence"],
        "confidence_percent": 100 * stats["confidence"],
        "bootstrap_resamples": stats["bootstrap_resamples"],
        "derivation_steps": config["derivations"]["steps"],
        "derivation_tolerance": config["derivations"]["tolerance"],
    }


def optimizer_settings(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every optimizer of the grid, in config order, with names, citation and
    hyperparameters."""
    out = []
    for name in slices.grid_orders(config)["optimizer"]:
        hps = config["optimizers"].get(name, {})
        out.append(
            {
                "name": name,
                **optimizer_info(name),
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


def _read_json(path: str | Path | None) -> dict[str, Any]:
    return {} if path is None else json.loads(Path(path).read_text())


def build_context(
    claims_csv: str | Path,
    comparisons_csv: str | Path,
    config: Mapping[str, Any],
    config_hash: str,
    figures: Sequence[str],
    repo: str | Path | None = None,
    symbolic_json: str | Path | None = None,
    ledger_json: str | Path | None = None,
) -> dict[str, Any]:
    """The whole context, from the result files, the validated config and provenance.

    ``config`` needs the keys train, tasks, optimizers, stats and derivations;
    ``figures`` names the figures (``results/figures/{name}.pdf|png``) the paper shows;
    ``symbolic_json`` and ``ledger_json`` are the derivation stage's sympy snippets and
    per-claim notes (optional: without them the paper shows no derivations or notes).

    The results table, the findings and the answer use the main slice
    (``lossscale.stats.slices.main_slice``): the asker's task at the main settings, every
    optimizer; the table shows a few of its alphas (``slices.table_alphas``).
    """
    study = study_settings(config)
    optimizers = optimizer_settings(config)
    orders = {axis: _order(v) for axis, v in slices.grid_orders(config).items()}
    orders = {c: orders[c] for c in CELL if c in orders}
    claims = read_table(claims_csv, CLAIM_COLUMNS)
    comparisons = sorted(
        read_table(comparisons_csv, COMPARISON_COLUMNS), key=lambda r: _sort_key(r, orders)
    )
    levels = {r["confidence"] for r in comparisons if r["confidence"] is not None}
    if len(levels) > 1:
        raise ValueError(f"{comparisons_csv}: several confidence levels {sorted(levels)}")
    if levels:  # the level the statistics actually used
        study["confidence"] = levels.pop()
        study["confidence_percent"] = 100 * study["confidence"]
    main = slices.main_slice(config)
    in_main = [r for r in comparisons if slices.in_setting(r, main)]
    shown = slices.table_alphas(r["alpha"] for r in in_main)
    study["main"]["table_alphas"] = shown
    labels = {o["name"]: o for o in optimizers}
    results = [
        {**r, "label": optimizer_info(r["optimizer"])["label"]}
        for r in in_main
        if r["quantity"] == "test" and r["alpha"] in shown
    ]
    found = findings(in_main, labels)
    ledger = _read_json(ledger_json)
    return {
        "study": study,
        "optimizers": optimizers,
        "claims": claims,
        "theory": theory_table(claims, ledger),
        "claim_list": claim_list(claims, ledger),
        "derivations": derivations(claims, _read_json(symbolic_json)),
        "ledger_counts": ledger_counts(claims),
        "results": results,
        "findings": found,
        "blocks": block_findings(comparisons, config, main),
        "asker": asker_findings(comparisons, config),
        "focal": focal_findings(comparisons, study, main, [o["name"] for o in optimizers]),
        "summary": summarize(found, claims),
        "figures": {n: {"pdf": f"figures/{n}.pdf", "png": f"figures/{n}.png"} for n in figures},
        "provenance": provenance(config_hash, repo),
    }


def write_context(
    claims_csv: str | Path,
    comparisons_csv: str | Path,
    config: Mapping[str, Any],
    config_hash: str,
    figures: Sequence[str],
    out: str | Path,
    repo: str | Path | None = None,
    symbolic_json: str | Path | None = None,
    ledger_json: str | Path | None = None,
) -> dict[str, Any]:
    """Build the context and write it atomically to ``out`` (sorted-key JSON)."""
    context = build_context(
        claims_csv, comparisons_csv, config, config_hash, figures, repo, symbolic_json, ledger_json
    )
    write_json(context, out)
    log.info(
        "wrote %s: %d claims, %d results rows, %d findings",
        out,
        len(context["claims"]),
        len(context["results"]),
        len(context["findings"]),
    )
    return context
