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
from markdown_tables import (
    blocks_rows_from_markdown,
    knee_rows_from_markdown,
    parse_alpha,
    results_rows_from_markdown,
    roundoff_rows_from_markdown,
    theory_rows_from_markdown,
)

from lossscale.config import load_schema, validate_config
from lossscale.report import slices
from lossscale.report.filters import fmt_count, fmt_num
from lossscale.report.latex import MAX_MAIN_PAGES, REFERENCES_LABEL, label_page
from lossscale.study import cells, grid
from lossscale.tables import OPTIMIZER_LABELS, TRAIN_ID_COLUMNS, TRAIN_RECORD_COLUMNS

pytestmark = pytest.mark.slow


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
    for axis in cells.SETTING_AXES:
        keep &= csv[axis] == main[axis]
    in_slice = csv[keep]
    shown = slices.table_alphas(in_slice["alpha"])
    assert shown == [1.0, 1e5]
    order = cells.grid_orders(smoke_config)["optimizer"]
    expected = (
        in_slice[in_slice["alpha"].isin(shown)]
        .assign(rank=lambda f: f["optimizer"].map(order.index))
        .sort_values(["rank", "alpha"])
    )
    table = results_rows_from_markdown((work / "paper/build/supplement.md").read_text())
    # adam, sgd and signsgd of block main, nadam of block asker (its none compensation)
    assert len(table) == len(expected) == 8
    for row, exact in zip(table, expected.itertuples(), strict=True):
        assert row["optimizer"] == OPTIMIZER_LABELS[exact.optimizer]
        assert parse_alpha(row["alpha"]) == exact.alpha
        assert row["verdict"] == exact.verdict
        for key in ("n_seeds", "n_diverged", "mean", "effect", "ci_low", "ci_high"):
            assert _close(_number(row[key]), float(getattr(exact, key))), (key, row, exact)
        for key in ("p_adj", "tost_p_adj"):
            assert _close(_number(row[key]), float(getattr(exact, key))), (key, row, exact)
        twins = csv[(csv["optimizer"] == exact.optimizer) & (csv["alpha"] == exact.alpha)]
        for axis in cells.SETTING_AXES:
            twins = twins[twins[axis] == main[axis]]
        [train] = twins.loc[twins["quantity"] == "train", "verdict"]
        [best] = twins.loc[twins["quantity"] == "test_best", "mean"]
        assert row["train_verdict"] == train and _close(_number(row["best_mean"]), best)


def test_comparisons_cover_every_cell_of_the_grid(smoke, smoke_config):
    """One comparison per cell (task, optimizer, precision, batch size, steps,
    regularization, compensation, weight decay), quantity and alpha of the grid: the
    regularization block's cells too."""
    work, _ = smoke
    csv = pd.read_csv(work / "results/stats/comparisons.csv")
    expected = set()
    for job, replicas in grid.expand(smoke_config).items():
        for r in replicas:
            cell = (job.task, job.optimizer, job.precision, job.batch_size, job.steps)
            cell += (r.regularization, r.compensation)
            quantities = ("train", "test", "test_best")
            expected |= {(*cell, r.weight_decay, q, r.alpha) for q in quantities}
    keys = ["task", "optimizer", "precision", "batch_size", "steps", "regularization"]
    keys += ["compensation"]
    shown = set(map(tuple, csv[[*keys, "weight_decay", "quantity", "alpha"]].to_numpy()))
    assert shown == expected and len(csv) == len(expected)
    assert set(csv["regularization"]) == {"none", "coupled", "l2"}
    assert (csv["n_seeds"] == smoke_config["train"]["seeds"]).all()


def test_training_table_has_every_replica_and_recorded_step(smoke, smoke_config):
    work, _ = smoke
    train = smoke_config["train"]
    jobs = grid.expand(smoke_config)
    job = grid.Job("diabetes", "adam", "float32", 0, train["steps"])
    frame = pd.read_parquet(work / job.path)
    assert list(frame.columns) == [*TRAIN_ID_COLUMNS, *TRAIN_RECORD_COLUMNS]
    # adam: main's 4 alphas x 2 seeds, and the regularization block's 2 x 2 x 2
    assert len(jobs[job]) == 16
    replicas = frame[["regularization", "compensation", "weight_decay", "alpha", "seed"]]
    assert set(map(tuple, replicas.drop_duplicates().to_numpy())) == {
        (r.regularization, r.compensation, r.weight_decay, r.alpha, r.seed) for r in jobs[job]
    }
    recorded = list(range(0, train["steps"] + 1, train["record_every"]))
    assert recorded == [0, 5, 10, 15, 20]
    steps = frame.groupby(["regularization", "alpha", "seed"])["step"].apply(list)
    assert len(steps) == 16 and all(s == recorded for s in steps)
    assert len(frame) == 16 * len(recorded)
    provenance = json.loads(pq.read_schema(work / job.path).metadata[b"lossscale"])
    assert {"commit", "config_hash", "versions", "device", "threads"} <= set(provenance)
    assert provenance["versions"]["torch"].startswith("2.13.0")


def test_the_asker_cell_trains_only_with_the_large_loss_scale(smoke):
    work, _ = smoke
    csv = pd.read_csv(work / "results/stats/comparisons.csv")
    adam = (csv["optimizer"] == "adam") & (csv["regularization"] == "none")
    adam &= csv["precision"] == "float32"
    train = csv[adam & (csv["quantity"] == "train") & (csv["alpha"] == 1e5)]
    assert len(train) == 1
    assert train.iloc[0]["ci_high"] < 0, "alpha = 1e5 should lower Adam's training error"


def test_paper_describes_the_grid_block_by_block(smoke, smoke_config):
    work, _ = smoke
    md = (work / "paper/build/supplement.md").read_text()
    blocks = blocks_rows_from_markdown(md)
    sizes = grid.summary(smoke_config)
    assert (
        [b["block"] for b in blocks]
        == [s["block"] for s in sizes]
        == ["main", "regularization", "precision", "asker", "phase", "models", "grid"]
    )
    for shown, size in zip(blocks, sizes, strict=True):
        assert (shown["jobs"], shown["replicas"]) == (
            fmt_count(size["jobs"]),
            fmt_count(size["replicas"]),
        )
    assert blocks[1]["regularizations"] == "coupled, l2"
    section = md.split("### Regularization", 1)[1].split("### Precision", 1)[0]
    assert "Block `regularization` trains `diabetes` with Adam at 2 loss scales." in section
    assert "With regularization `coupled`, at $\\alpha$ = $2^{10}$ the test metric was" in section
    assert "With regularization `l2`, at $\\alpha$ = $2^{10}$ the test metric was" in section
    assert "In float16\\_scaled precision, at $\\alpha$ = 1e5 the test metric was" in md


def test_models_section_reports_the_transformer_from_its_files(smoke):
    """The section on other networks names the block's network with its parameter count
    (networks.csv), each reference's final training metric (comparisons.csv) and shows
    its figure; the block is not reported again under Other blocks."""
    work, _ = smoke
    md = (work / "paper/build/supplement.md").read_text()
    section = md.split("### Networks other than multilayer perceptrons", 1)[1]
    section = section.split("### Every comparison of the grid", 1)[0]
    networks = pd.read_csv(work / "results/stats/networks.csv").set_index("task")
    parameters = networks.loc["modular", "parameters"]
    assert networks.loc["modular", "model"] == "transformer"
    assert "`modular` (transformer, width" in section
    assert f"; {fmt_count(int(parameters))} parameters)" in section
    comparisons = pd.read_csv(work / "results/stats/comparisons.csv")
    for optimizer in ("adam", "sgd"):
        rows = comparisons[
            (comparisons["task"] == "modular")
            & (comparisons["optimizer"] == optimizer)
            & (comparisons["quantity"] == "train")
        ]
        label = OPTIMIZER_LABELS[optimizer]
        assert f"{fmt_num(rows['ref_mean'].iloc[0])} with {label}" in section
    assert "Figure 4" in section
    assert "figures/models_sweep.png" in (work / "paper/build/paper.md").read_text()


def test_knee_and_roundoff_tables_equal_their_csvs(smoke):
    work, _ = smoke
    md = (work / "paper/build/supplement.md").read_text()
    knee = pd.read_csv(work / "results/stats/knee.csv")
    assert list(knee["optimizer"]) == ["adam"], "Adam is main's only eps-type optimizer"
    [row] = knee_rows_from_markdown(md)
    assert row["predicted"] == fmt_num(knee["predicted_knee"].iloc[0])
    assert row["eps"] == fmt_num(knee["eps"].iloc[0])
    roundoff = pd.read_csv(work / "results/stats/roundoff.csv")
    # signSGD in block main; NAdam with eps scaled along in block asker
    assert set(roundoff["optimizer"]) == {"signsgd", "nadam"}
    powers = roundoff[roundoff["power_of_two"]]
    assert list(powers["alpha"]) == [1024.0] and powers["bitwise"].all()
    rows = roundoff_rows_from_markdown(md)
    assert [r["optimizer"] for r in rows] == ["NAdam", "signSGD"]
    shown = rows[1]
    assert shown["bitwise"] == "1 of 1"
    others = roundoff[(roundoff["optimizer"] == "signsgd") & ~roundoff["power_of_two"]]
    assert shown["max_ratio"] == fmt_num(others["ratio"].max())


def test_report_is_deterministic(smoke, root):
    """Rerunning the figures and the report gives byte-identical paper sources and
    figures; rebuilding the PDF from the same sources gives the same bytes. (Only
    results/runtime/ and the runtime fragment the PDF includes may differ between runs.)"""
    work, _ = smoke
    build = work / "paper/build"
    sources = ["paper.tex", "paper.md", "supplement.tex", "supplement.md"]
    names = [*sources, *(f"figures/{f.name}" for f in (build / "figures").iterdir())]

    def rerun(*rules: str) -> dict[str, bytes]:
        before = {name: (build / name).read_bytes() for name in names}
        result = run_workflow(
            work, root / "workflow/configs/smoke.yaml", extra=["--forcerun", *rules]
        )
        assert result.returncode == 0, result.stderr[-4000:]
        return {n for n in names if before[n] != (build / n).read_bytes()}

    assert rerun("plot_figure", "build_context", "render_paper") == set()
    assert len(names) == 4 + 2 * 8
    if shutil.which("latexmk"):
        names[:] = ["paper.pdf"]  # the supplement includes the run-time fragment
        assert rerun("build_pdf") == set()


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
    names = ("mechanism", "verdict_heatmap", "alpha_sweep", "asker_curves", "regularization")
    for name in (*names, "precision"):
        assert (build / f"figures/{name}.png").stat().st_size > 10_000, name
    supplement = (build / "supplement.tex").read_text()
    assert r"\input{runtime}" in supplement and (build / "runtime.md").is_file()
    if shutil.which("latexmk"):  # the main text's extent, from LaTeX's own labels
        assert label_page(build / ".paper-latex/paper.aux", REFERENCES_LABEL) <= MAX_MAIN_PAGES
    for pdf in ("paper.pdf", "supplement.pdf"):
        if shutil.which("latexmk"):
            assert (build / pdf).read_bytes().startswith(b"%PDF")
        else:
            assert "latexmk not found" in stderr
            assert not (build / pdf).exists()


def test_no_partial_files_are_left(smoke):
    work, _ = smoke
    assert not list(work.rglob("*.part"))


def test_theory_table_summarizes_the_claims_csv(smoke):
    work, _ = smoke
    claims = pd.read_csv(work / "results/derivations/claims.csv")
    table = theory_rows_from_markdown((work / "paper/build/supplement.md").read_text())
    assert [r["subject"] for r in table] == list(dict.fromkeys(claims["optimizer"]))
    for shown in table:
        mine = claims[claims["optimizer"] == shown["subject"]]
        exact = mine[(mine["expected"] == "holds") & (mine["method"] == "float64 trajectory")]
        if len(exact):
            assert shown["float64"] == fmt_num(exact["max_rel_deviation"].max()), shown
        failing = mine[mine["expected"] == "fails"]
        if len(failing):
            assert shown["counter"] == fmt_num(failing["max_rel_deviation"].min()), shown
