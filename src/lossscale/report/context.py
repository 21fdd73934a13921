"""Build the paper's context: every number and finding the text uses, from result files.

The context is plain JSON (``results/report/context.json``); the templates get numbers
only from it. It holds no dates, host names or timings, so that the same results render
byte-identical paper sources.
"""

from __future__ import annotations

import json
import logging
import platform
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from lossscale.io import write_json
from lossscale.provenance import git_commit, package_versions
from lossscale.report.filters import is_missing
from lossscale.report.theory import claim_list, derivations, ledger_counts, theory_table
from lossscale.tables import CLAIM_COLUMNS, COMPARISON_COLUMNS, OPTIMIZER_LABELS

log = logging.getLogger(__name__)

REF_ALPHA = 1.0
DIRECTIONS = ("lower", "higher", "none", "identical", "undetermined")

#: Which reference the paper cites for each optimizer, and what the textbook answer
#: predicts for loss x alpha without regularization ("lr": same as lr x alpha,
#: "invariant": no effect).
_CITES = {"adam": "kingma2015adam", "nadam": "dozat2016nadam"}
_TEXTBOOK = {"sgd": "lr", "adam": "invariant", "nadam": "invariant"}
#: optimizers this package implements (the others are PyTorch's)
_OURS = ("lion", "signsgd")
OPTIMIZER_INFO: dict[str, dict[str, Any]] = {
    name: {
        "label": label,
        "cite": _CITES.get(name),
        "textbook": _TEXTBOOK.get(name, "unknown"),
        "ours": name in _OURS,
    }
    for name, label in OPTIMIZER_LABELS.items()
}

_INT_COLUMNS = ("n_seeds", "n_pairs", "n_diverged")
_FLOAT_COLUMNS = ("alpha", "max_rel_deviation", "tolerance", "mean", "ref_mean", "effect")
_FLOAT_COLUMNS += ("ci_low", "ci_high", "confidence")


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
    """Config order for task/optimizer/precision (unknown values last), then alpha."""
    key: list[Any] = []
    for col in ("task", "optimizer", "precision"):
        key += [orders[col].get(row[col], len(orders[col])), row[col]]
    return (*key, row["alpha"], row.get("quantity", ""))


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
    """What one (task, precision, optimizer) cell's comparisons say, for the answer text."""
    test = sorted((r for r in rows if r["quantity"] == "test"), key=lambda r: r["alpha"])
    train = {r["alpha"]: r for r in rows if r["quantity"] == "train"}
    top = test[-1]
    finite = [r for r in test if not is_missing(r["mean"])]
    best = min(finite, key=lambda r: (r["mean"], r["alpha"])) if finite else None
    directions = [(r["alpha"], direction(r["effect"], r["ci_low"], r["ci_high"])) for r in test]
    return {
        "task": top["task"],
        "precision": top["precision"],
        "optimizer": top["optimizer"],
        "label": label,
        "textbook": textbook,
        "alpha": top["alpha"],
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
    """One finding per (task, precision, optimizer) cell that has test rows, in row order."""
    cells: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for row in comparisons:
        cells.setdefault((row["task"], row["precision"], row["optimizer"]), []).append(row)
    out = []
    for (_, _, opt), rows in cells.items():
        if not any(r["quantity"] == "test" for r in rows):
            continue
        info = optimizers.get(opt, {})
        out.append(_finding(rows, info.get("label", opt), info.get("textbook", "unknown")))
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
        "invariant_changed": names(f for f in invariant if f["test"]["changed"]),
        "invariant_unchanged": names(f for f in invariant if unchanged(f)),
        "invariant_by_direction": {
            d: names(f for f in invariant if f["test"]["direction"] == d) for d in DIRECTIONS
        },
        "n_claims": len(claims),
        "n_confirmed": len(claims) - len(contradicted),
        "n_contradicted": len(contradicted),
        "contradicted_claims": [c["claim_id"] for c in contradicted],
        "multiple_tasks": len({f["task"] for f in found}) > 1,
        "multiple_precisions": len({f["precision"] for f in found}) > 1,
    }


def study_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """The configuration facts the methods section reports."""
    train, stats = config["train"], config["stats"]
    alphas = sorted(float(a) for a in train["alphas"])
    tasks = []
    for name in train["tasks"]:
        settings = dict(config["tasks"].get(name, {}))
        if "test_fraction" in settings:
            settings["test_percent"] = 100 * settings["test_fraction"]
        tasks.append({"name": name, **settings})
    return {
        "tasks": tasks,
        "alphas": alphas,
        "alpha_min": alphas[0],
        "alpha_max": alphas[-1],
        "n_alphas": len(alphas),
        "ref_alpha": REF_ALPHA,
        "seeds": train["seeds"],
        "steps": train["steps"],
        "precisions": list(train["precisions"]),
        "confidence": stats["confidence"],
        "confidence_percent": 100 * stats["confidence"],
        "bootstrap_resamples": stats["bootstrap_resamples"],
        "derivation_steps": config["derivations"]["steps"],
        "derivation_tolerance": config["derivations"]["tolerance"],
    }


def optimizer_settings(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The trained optimizers, in config order, with names, citation and hyperparameters."""
    out = []
    for name in config["train"]["optimizers"]:
        info = OPTIMIZER_INFO.get(
            name, {"label": name, "cite": None, "textbook": "unknown", "ours": False}
        )
        hps = config["optimizers"].get(name, {})
        out.append(
            {
                "name": name,
                **info,
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
    """
    study = study_settings(config)
    optimizers = optimizer_settings(config)
    orders = {
        "task": _order(config["train"]["tasks"]),
        "optimizer": _order(config["train"]["optimizers"]),
        "precision": _order(config["train"]["precisions"]),
    }
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
    found = findings(comparisons, {o["name"]: o for o in optimizers})
    ledger = _read_json(ledger_json)
    return {
        "study": study,
        "optimizers": optimizers,
        "claims": claims,
        "theory": theory_table(claims, ledger),
        "claim_list": claim_list(claims, ledger),
        "derivations": derivations(claims, _read_json(symbolic_json)),
        "ledger_counts": ledger_counts(claims),
        "comparisons": comparisons,
        "results": [r for r in comparisons if r["quantity"] == "test"],
        "findings": found,
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
        "wrote %s: %d claims, %d comparisons, %d findings",
        out,
        len(context["claims"]),
        len(context["comparisons"]),
        len(context["findings"]),
    )
    return context
