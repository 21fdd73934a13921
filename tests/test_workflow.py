"""End to end: the whole workflow on the smoke config, in a fresh directory."""

from __future__ import annotations

import json
import math
import shutil

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml
from conftest import run_workflow

from lossscale import grid
from lossscale.config import load_schema, validate_config
from lossscale.report import (
    blocks_rows_from_markdown,
    fmt_num,
    results_rows_from_markdown,
    theory_rows_from_markdown,
)
from lossscale.report.filters import fmt_count, parse_alpha
from lossscale.stats import slices
from lossscale.tables import OPTIMIZER_LABELS, TRAIN_ID_COLUMNS, TRAIN_RECORD_COLUMNS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smoke(root, tmp_path_factory):
    """Run `snakemake` on the smoke config in an empty directory; return (dir, stderr)."""
    work = tmp_path_factory.mktemp("smoke")
    result = run_workflow(work, root / "workflow/configs/smoke.yaml")
    assert result.returncode == 0, result.stderr[-4000:]
    return work, result.stderr


@pytest.fixture(scope="module")
def smoke_config(root):
    """The smoke config as the workflow sees it: validated, defaults filled in."""
    raw = yaml.safe_load((root / "workflow/configs/smoke.yaml").read_text())
    return validate_config(raw, load_schema(root / "workflow/schemas/config.schema.yaml"))


def _number(cell: str) -> float:
    return math.nan if cell == "n/a" else float(cell)


def _close(shown: float, exact: float) -> bool:
    """``shown`` is ``exact`` rounded to 3 significant digits."""
    if math.isnan(exact):
        return math.isnan(shown)
    return math.isclose(shown, exact, rel_tol=5e-3, abs_tol=1e-300)


def test_every_number_in_the_markdown_table_equals_the_stats_csv(smoke, smoke_config):
    """Table 4 is the main slice of comparisons.csv (the asker's task at the main
    settings, every optimizer) at the table's alphas, in config order."""
    work, _ = smoke
    csv = pd.read_csv(work / "results/stats/comparisons.csv")
    main = slices.main_slice(smoke_config)
    keep = csv["quantity"] == "test"
    for axis in slices.SETTING_AXES:
        keep &= csv[axis] == main[axis]
    in_slice = csv[keep]
    shown = slices.table_alphas(in_slice["alpha"])
    assert shown == [1.0, 1e5]
    order = slices.grid_orders(smoke_config)["optimizer"]
    expected = (
        in_slice[in_slice["alpha"].isin(shown)]
        .assign(rank=lambda f: f["optimizer"].map(order.index))
        .sort_values(["rank", "alpha"])
    )
    table = results_rows_from_markdown((work / "paper/build/paper.md").read_text())
    assert len(table) == len(expected) == 4
    for row, exact in zip(table, expected.itertuples(), strict=True):
        assert row["optimizer"] == OPTIMIZER_LABELS[exact.optimizer]
        assert parse_alpha(row["alpha"]) == exact.alpha
        for key in ("n_seeds", "n_diverged", "mean", "effect", "ci_low", "ci_high"):
            assert _close(_number(row[key]), float(getattr(exact, key))), (key, row, exact)


def test_comparisons_cover_every_cell_of_the_grid(smoke, smoke_config):
    """One comparison per cell (task, optimizer, precision, regularization, compensation,
    weight decay), quantity and alpha of the grid: the regularization block's cells too."""
    work, _ = smoke
    csv = pd.read_csv(work / "results/stats/comparisons.csv")
    expected = set()
    for job, replicas in grid.expand(smoke_config).items():
        for r in replicas:
            cell = (job.task, job.optimizer, job.precision, r.regularization, r.compensation)
            expected |= {(*cell, r.weight_decay, q, r.alpha) for q in ("train", "test")}
    keys = ["task", "optimizer", "precision", "regularization", "compensation"]
    shown = set(map(tuple, csv[[*keys, "weight_decay", "quantity", "alpha"]].to_numpy()))
    assert shown == expected and len(csv) == len(expected)
    assert set(csv["regularization"]) == {"none", "coupled", "l2"}
    assert (csv["n_seeds"] == smoke_config["train"]["seeds"]).all()


def test_training_table_has_every_replica_and_recorded_step(smoke, smoke_config):
    work, _ = smoke
    train = smoke_config["train"]
    jobs = grid.expand(smoke_config)
    job = grid.Job("diabetes", "adam", "float32")
    frame = pd.read_parquet(work / job.path)
    assert list(frame.columns) == [*TRAIN_ID_COLUMNS, *TRAIN_RECORD_COLUMNS]
    # adam: main's 2 alphas x 2 seeds, and the regularization block's 2 x 2 x 2
    assert len(jobs[job]) == 12
    replicas = frame[["regularization", "compensation", "weight_decay", "alpha", "seed"]]
    assert set(map(tuple, replicas.drop_duplicates().to_numpy())) == {
        (r.regularization, r.compensation, r.weight_decay, r.alpha, r.seed) for r in jobs[job]
    }
    recorded = list(range(0, train["steps"] + 1, train["record_every"]))
    assert recorded == [0, 5, 10, 15, 20]
    steps = frame.groupby(["regularization", "alpha", "seed"])["step"].apply(list)
    assert len(steps) == 12 and all(s == recorded for s in steps)
    assert len(frame) == 12 * len(recorded)
    provenance = json.loads(pq.read_schema(work / job.path).metadata[b"lossscale"])
    assert {"commit", "config_hash", "versions", "device", "threads"} <= set(provenance)
    assert provenance["versions"]["torch"].startswith("2.13.0")


def test_the_asker_cell_trains_only_with_the_large_loss_scale(smoke):
    work, _ = smoke
    csv = pd.read_csv(work / "results/stats/comparisons.csv")
    adam = (csv["optimizer"] == "adam") & (csv["regularization"] == "none")
    train = csv[adam & (csv["quantity"] == "train") & (csv["alpha"] == 1e5)]
    assert len(train) == 1
    assert train.iloc[0]["ci_high"] < 0, "alpha = 1e5 should lower Adam's training error"


def test_paper_describes_the_grid_block_by_block(smoke, smoke_config):
    work, _ = smoke
    md = (work / "paper/build/paper.md").read_text()
    blocks = blocks_rows_from_markdown(md)
    sizes = grid.summary(smoke_config)
    assert (
        [b["block"] for b in blocks]
        == [s["block"] for s in sizes]
        == [
            "main",
            "regularization",
            "grid",
        ]
    )
    for shown, size in zip(blocks, sizes, strict=True):
        assert (shown["jobs"], shown["replicas"]) == (
            fmt_count(size["jobs"]),
            fmt_count(size["replicas"]),
        )
    assert blocks[1]["regularizations"] == "coupled, l2"
    results = md.split("### Blocks of the grid", 1)[1].split("## Answer", 1)[0]
    assert (
        "Block `regularization`, on `diabetes` with Adam, at \N{GREEK SMALL LETTER ALPHA} = 2^10:"
        in results
    )
    assert "With regularization `coupled`, the test metric was" in results
    assert "With regularization `l2`, the test metric was" in results


def test_claims_are_all_confirmed(smoke):
    work, _ = smoke
    claims = pd.read_csv(work / "results/derivations/claims.csv")
    assert set(claims["verdict"]) == {"confirmed"}
    assert (claims["expected"] == "fails").any(), "the counter-check must be in the ledger"


def test_paper_sources_and_pdf(smoke):
    work, stderr = smoke
    build = work / "paper/build"
    tex = (build / "paper.tex").read_text()
    assert "\\toprule" in tex and "\\includegraphics" in tex and "\\citep" in tex
    assert (build / "figures/final_loss_vs_alpha.png").stat().st_size > 10_000
    if shutil.which("latexmk"):
        assert (build / "paper.pdf").read_bytes().startswith(b"%PDF")
    else:
        assert "latexmk not found" in stderr
        assert not (build / "paper.pdf").exists()


def test_no_partial_files_are_left(smoke):
    work, _ = smoke
    assert not list(work.rglob("*.part"))


def test_theory_table_summarizes_the_claims_csv(smoke):
    work, _ = smoke
    claims = pd.read_csv(work / "results/derivations/claims.csv")
    table = theory_rows_from_markdown((work / "paper/build/paper.md").read_text())
    assert [r["subject"] for r in table] == list(dict.fromkeys(claims["optimizer"]))
    for shown in table:
        mine = claims[claims["optimizer"] == shown["subject"]]
        exact = mine[(mine["expected"] == "holds") & (mine["method"] == "float64 trajectory")]
        if len(exact):
            assert shown["float64"] == fmt_num(exact["max_rel_deviation"].max()), shown
        failing = mine[mine["expected"] == "fails"]
        if len(failing):
            assert shown["counter"] == fmt_num(failing["max_rel_deviation"].min()), shown
