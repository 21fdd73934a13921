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

from lossscale.report import fmt_num, results_rows_from_markdown, theory_rows_from_markdown

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
    return yaml.safe_load((root / "workflow/configs/smoke.yaml").read_text())


def _number(cell: str) -> float:
    return math.nan if cell == "n/a" else float(cell)


def _close(shown: float, exact: float) -> bool:
    """``shown`` is ``exact`` rounded to 3 significant digits."""
    if math.isnan(exact):
        return math.isnan(shown)
    return math.isclose(shown, exact, rel_tol=5e-3, abs_tol=1e-300)


def test_every_number_in_the_markdown_table_equals_the_stats_csv(smoke):
    work, _ = smoke
    csv = pd.read_csv(work / "results/stats/comparisons.csv")
    csv = csv[csv["quantity"] == "test"].reset_index(drop=True)
    table = results_rows_from_markdown((work / "paper/build/paper.md").read_text())
    assert len(table) == len(csv) > 0
    for shown, exact in zip(table, csv.itertuples(), strict=True):
        assert (shown["task"], shown["optimizer"]) == (exact.task, exact.optimizer)
        for key in ("alpha", "n_seeds", "n_diverged", "mean", "effect", "ci_low", "ci_high"):
            assert _close(_number(shown[key]), float(getattr(exact, key))), (key, shown, exact)


def test_training_table_has_every_replica_and_step(smoke, smoke_config):
    work, _ = smoke
    train = smoke_config["train"]
    path = work / f"results/train/diabetes/{train['optimizers'][0]}/float32.parquet"
    frame = pd.read_parquet(path)
    replicas = len(train["alphas"]) * train["seeds"]
    assert len(frame) == replicas * (train["steps"] + 1)
    assert sorted(frame["alpha"].unique()) == sorted(float(a) for a in train["alphas"])
    assert frame.groupby(["alpha", "seed"]).size().eq(train["steps"] + 1).all()
    provenance = json.loads(pq.read_schema(path).metadata[b"lossscale"])
    assert {"commit", "config_hash", "versions", "device", "threads"} <= set(provenance)
    assert provenance["versions"]["torch"].startswith("2.13.0")


def test_the_asker_cell_trains_only_with_the_large_loss_scale(smoke):
    work, _ = smoke
    csv = pd.read_csv(work / "results/stats/comparisons.csv")
    train = csv[(csv["quantity"] == "train") & (csv["alpha"] == 1e5)].iloc[0]
    assert train["ci_high"] < 0, "alpha = 1e5 should lower Adam's training error on a tiny loss"


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
