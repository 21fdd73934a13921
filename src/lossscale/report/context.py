"""Build the paper's context: every number and finding the text uses, from result files.

The context is plain JSON (``results/report/context.json``); the templates get numbers
only from it. It holds no dates, host names or timings, so that the same results render
byte-identical paper sources.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lossscale.io import write_json
from lossscale.report import findings, slices
from lossscale.report.evidence import knee_summary, magnitude_summary, roundoff_summary
from lossscale.report.methods import (
    optimizer_settings,
    probe_settings,
    provenance,
    study_settings,
)
from lossscale.report.models import models_summary
from lossscale.report.phase import phase_summary
from lossscale.report.robustness import lr_choices, reference_means, robustness
from lossscale.report.rows import optional_table, order, read_json, read_table, sort_key
from lossscale.report.theory import claim_list, derivations, ledger_counts, theory_table
from lossscale.study import cells
from lossscale.tables import (
    CELL,
    CLAIM_COLUMNS,
    COMPARISON_COLUMNS,
    KNEE_COLUMNS,
    LAYER_COLUMNS,
    MAGNITUDE_COLUMNS,
    NETWORK_COLUMNS,
    PHASE_BOUNDARY_COLUMNS,
    PHASE_COLUMNS,
    ROUNDOFF_COLUMNS,
)

log = logging.getLogger(__name__)


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
    shows no derivations or notes), and ``networks`` (the tasks' network sizes). ``config``
    needs the keys train, tasks, optimizers, stats and derivations; ``figures`` names
    the figures (``results/figures/{name}.pdf|png``) the paper shows.

    The results table, the findings and the answer use the main slice
    (``lossscale.report.slices.main_slice``): the asker's task at the main settings, every
    optimizer; the table shows a few of its alphas (``slices.table_alphas``).
    """
    study = study_settings(config)
    networks = {r["task"]: r for r in optional_table(inputs, "networks", NETWORK_COLUMNS)}
    for task in study["tasks"]:
        for key in ("parameters", "n_train", "n_test"):
            task[key] = networks.get(task["name"], {}).get(key)
    optimizers = optimizer_settings(config)
    orders = {axis: order(v) for axis, v in cells.grid_orders(config).items()}
    orders = {c: orders[c] for c in CELL if c in orders}
    claims = read_table(inputs["claims"], CLAIM_COLUMNS)
    comparisons = sorted(
        read_table(inputs["comparisons"], COMPARISON_COLUMNS), key=lambda r: sort_key(r, orders)
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
    ledger = read_json(inputs.get("ledger"))
    names = [o["name"] for o in optimizers]
    blocks = findings.block_findings(comparisons, config, main)
    knee = read_table(inputs["knee"], KNEE_COLUMNS)
    return {
        "study": study,
        "optimizers": optimizers,
        "claims": claims,
        "theory": theory_table(claims, ledger),
        "claim_list": claim_list(claims, ledger),
        "derivations": derivations(claims, read_json(inputs.get("symbolic"))),
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
        "knee": knee_summary(knee),
        "models": models_summary(comparisons, knee, config),
        "roundoff": roundoff_summary(read_table(inputs["roundoff"], ROUNDOFF_COLUMNS)),
        "magnitude": magnitude_summary(optional_table(inputs, "magnitude", MAGNITUDE_COLUMNS)),
        "phase": phase_summary(
            optional_table(inputs, "phase", PHASE_COLUMNS),
            optional_table(inputs, "phase_boundaries", PHASE_BOUNDARY_COLUMNS),
            optional_table(inputs, "layers", LAYER_COLUMNS),
            config["phase"],
        )
        | {"blocks": [n for n, b in cells.blocks(config).items() if b["phase"]]},
        "probe": probe_settings(config),
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
