"""Tests of the report stage on small synthetic result files, and of its inputs: the
statistics, the main slice of the grid and the figure."""

from __future__ import annotations

import copy
import json
import math
import re
import shutil
from pathlib import Path

import jinja2
import pandas as pd
import phase_data
import pytest
import yaml
from markdown_tables import (
    blocks_rows_from_markdown,
    claims_rows_from_markdown,
    knee_rows_from_markdown,
    md_unescape,
    parse_alpha,
    parse_markdown_table,
    parse_markdown_tables,
    results_rows_from_markdown,
    roundoff_rows_from_markdown,
    tasks_rows_from_markdown,
    theory_rows_from_markdown,
)

from lossscale.config import load_schema, validate_config
from lossscale.io import write_json
from lossscale.report import findings, slices
from lossscale.report import render as rendering
from lossscale.report.bib import read_bib
from lossscale.report.context import write_context
from lossscale.report.evidence import magnitude_summary, roundoff_summary
from lossscale.report.filters import (
    fmt_alpha,
    fmt_count,
    fmt_num,
    md_alpha,
    md_escape,
    tex_alpha,
    tex_escape,
    tex_num,
)
from lossscale.report.findings import setting_outcome
from lossscale.report.latex import REFERENCES_LABEL, LatexError, build_pdf, label_page
from lossscale.report.phase import _band_outcome, _bands
from lossscale.report.prose import main_text, repeated_sentences
from lossscale.report.render import (
    BIB_NAME,
    DOCUMENTS,
    FIGURES,
    MD,
    SHA_DIGITS,
    TEX,
    Source,
    file_sha256,
    make_environment,
    references,
    render_paper,
    render_runtime,
)
from lossscale.report.robustness import base_task, lr_choices, robustness
from lossscale.runtime import read_benchmark, rule_times, summarize
from lossscale.stats.load import FINAL_COLUMNS, read_final, read_histories, read_outcomes
from lossscale.stats.paired import compare_all
from lossscale.study import cells, grid
from lossscale.tables import (
    COMPARISON_COLUMNS,
    KNEE_COLUMNS,
    OPTIMIZER_LABELS,
    ROUNDOFF_COLUMNS,
    TRAIN_ID_COLUMNS,
    TRAIN_RECORD_COLUMNS,
    VERDICTS,
)

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "paper/templates"
SCHEMA = ROOT / "workflow/schemas/config.schema.yaml"
NASTY = r"50%_{x} & $\input{...}$"


# --- synthetic inputs -------------------------------------------------------------------

#: The synthetic grid: the asker's block (3 optimizers), a precision block and the
#: asker's alternative (the learning rate scaled instead of the loss).
BLOCKS = {
    "main": {"tasks": ["diabetes"], "optimizers": ["sgd", "adam", "nadam"], "alphas": [1, 10, 1e5]},
    "precision": {
        "tasks": ["diabetes"],
        "optimizers": ["adam"],
        "precisions": ["float64", "float32"],
        "alphas": [1, 1e5],
    },
    "asker": {
        "tasks": ["diabetes"],
        "optimizers": ["nadam"],
        "alphas": [1, 1e5],
        "compensations": ["none", "lr_instead"],
    },
}


#: Result files named in captions when a test renders from a context alone (their hashes
#: stand in; ``test_captions_name_each_file_with_its_hash`` checks real ones).
ITEMS = (*rendering.TABLES["paper"], *rendering.TABLES["supplement"], *FIGURES)
STAND_IN = {
    i: [Source(f"results/{i}.csv", "0" * SHA_DIGITS, "r", "workflow/rules/r.smk", 1)] for i in ITEMS
}


def render(fmt_name: str, context: dict, template_dir: str | Path, **kw) -> str:
    """The paper and its supplement rendered from ``context``, one after the other."""
    return "\n".join(
        rendering.render(fmt_name, context, template_dir, name=d, sources=STAND_IN, **kw)
        for d in DOCUMENTS
    )


def sources_of(inputs: dict) -> dict[str, list[dict]]:
    """The workflow's description of each item's result file, on the test's files
    (relative to their folder, which holds a copy of the context as well)."""
    base = inputs["comparisons"].parent
    files = {"rule": "context.json", "tasks": "context.json", "blocks": "context.json"}
    table = {"results": "comparisons", "verdicts": "comparisons", "knee": "knee",
             "roundoff": "roundoff", "phase": "phase_boundaries", "layers": "layers",
             "theory": "claims", "claims": "claims"}  # fmt: skip
    out = {}
    for item in ITEMS:
        path = inputs["figures"][0] if item in FIGURES else inputs.get(table.get(item, ""))
        path = Path(path).relative_to(base) if path is not None else files[item]
        out[item] = [{"path": str(path), "rule": "r", "rule_file": "workflow/rules/r.smk",
                      "rule_line": 3}]  # fmt: skip
    return out


def cited_keys(fmt_name: str, context: dict, template_dir: str | Path) -> list[str]:
    """The ``refs.bib`` keys the rendered paper cites, in citation order."""
    template_dir = Path(template_dir)
    bib = read_bib(template_dir / BIB_NAME)
    cited: dict[str, None] = {}
    fmt = {"tex": TEX, "md": MD}[fmt_name]
    for document in DOCUMENTS:
        env = make_environment(fmt, template_dir, bib, cited)
        env.globals["ref"] = references(fmt, context, document)
        env.globals["source"] = lambda item: ""
        env.get_template(f"{document}.{fmt_name}.j2").render(**context)
    return list(cited)


def make_config(blocks: dict, **tasks) -> dict:
    """The schema's defaults, validated like the workflow does, with ``blocks``."""
    schema = load_schema(SCHEMA)
    raw = {"train": {"seeds": 3, "blocks": blocks}}
    if tasks:  # tasks of its own: no per-layer probe of the default's deep network
        raw["tasks"] = tasks
        raw["phase"] = {"layers": {"task": None}}
    return validate_config(raw, schema)


@pytest.fixture(scope="module")
def config() -> dict:
    return make_config(BLOCKS)


def _verdict(alpha: float, lo: float, hi: float, div: int) -> str:
    """The synthetic rows' verdict: as the statistics decide it from the CI's position."""
    if alpha == 1.0:
        return "reference"
    if div:
        return "diverged"
    if lo > -MARGIN and hi < MARGIN:
        return "equivalent"
    return "better" if hi < 0 else "worse" if lo > 0 else "inconclusive"


MARGIN = 0.02


def _rows(cell: dict, values: dict) -> list[dict]:
    """Test and train rows of one cell; ``values``: alpha -> (mean, effect, lo, hi, div)."""
    rows = []
    for alpha, (mean, effect, lo, hi, div) in values.items():
        for quantity, shift in (("test", 0.0), ("train", -0.01)):
            rows.append(
                {
                    **cell,
                    "quantity": quantity,
                    "alpha": alpha,
                    "n_seeds": 3,
                    "n_pairs": 3 - div,
                    "n_diverged": div,
                    "n_exploded": 0,
                    "mean": mean + shift,
                    "ref_mean": 0.5,
                    "effect": effect + shift,
                    "ci_low": lo + shift,
                    "ci_high": hi + shift,
                    "confidence": 0.95,
                    "test": "t",
                    "p_value": 0.001 if alpha != 1.0 else math.nan,
                    "family_size": 2,
                    "p_adj": 0.002 if alpha != 1.0 else math.nan,
                    "margin": MARGIN,
                    "tost_p": 0.3 if alpha != 1.0 else math.nan,
                    "tost_p_adj": 0.6 if alpha != 1.0 else math.nan,
                    "progress": 0.5,
                    "ref_progress": 0.5,
                    "verdict": _verdict(alpha, lo + shift, hi + shift, div),
                }
            )
    return rows


MAIN = {"task": "diabetes", "precision": "float32", "regularization": "none"}
MAIN |= {"compensation": "none", "weight_decay": 0.0, "batch_size": 0, "steps": 500}


def comparisons_frame() -> pd.DataFrame:
    """Comparisons of the synthetic grid (with NaNs), cells in the order compare_all
    writes them (sorted by name), so the context must reorder them by the config."""
    nan = math.nan
    cells = {
        ("adam", "float32", "none"): {
            1.0: (0.93, 0.0, 0.0, 0.0, 0),
            10.0: (0.93, 0.0, 0.0, 0.0, 0),
            1e5: (0.000123456, -0.9298765, -0.95, -0.91, 0),
        },
        ("adam", "float64", "none"): {
            1.0: (0.9, 0.0, 0.0, 0.0, 0),
            1e5: (0.5, -0.4, -0.5, -0.3, 0),
        },
        ("nadam", "float32", "lr_instead"): {
            1.0: (0.9, 0.0, 0.0, 0.0, 0),
            1e5: (nan, nan, nan, nan, 3),
        },
        ("nadam", "float32", "none"): {
            1.0: (0.9, 0.0, 0.0, 0.0, 0),
            10.0: (0.8, -0.1, -0.3, 0.05, 0),
            1e5: (12345.6, 12344.7, 1.5e3, 2.5e4, 1),
        },
        ("sgd", "float32", "none"): {
            1.0: (0.52, 0.0, 0.0, 0.0, 0),
            10.0: (0.61234, 0.0923, -0.01, 0.2, 0),
            1e5: (nan, nan, nan, nan, 3),
        },
    }
    rows = []
    for (opt, precision, comp), values in cells.items():
        cell = {**MAIN, "optimizer": opt, "precision": precision, "compensation": comp}
        rows += _rows(cell, values)
    return pd.DataFrame(rows)[list(COMPARISON_COLUMNS)]


def claims_frame() -> pd.DataFrame:
    base = {"method": "float64 trajectory", "tolerance": 1e-9}
    return pd.DataFrame(
        [
            {**base, "claim_id": "sgd_lr", "optimizer": "sgd", "transformation": "lr*alpha",
             "alpha": 10.0, "expected": "holds", "observed": "holds",
             "max_rel_deviation": 3.2e-16, "verdict": "confirmed"},
            {**base, "claim_id": "adam_eps", "optimizer": "adam", "transformation": "eps/alpha",
             "alpha": 1e5, "expected": "holds", "observed": "holds",
             "max_rel_deviation": 0.0, "verdict": "confirmed"},
            {**base, "claim_id": NASTY, "optimizer": "nadam", "transformation": "none",
             "alpha": 1e5, "expected": "holds", "observed": "fails",
             "max_rel_deviation": 0.37, "verdict": "contradicted"},
        ]
    )  # fmt: skip


def _write_figures(directory: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    directory.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.loglog([1, 10, 1e5], [0.5, 0.6, 1e-4], marker="o")
    paths = []
    for name in FIGURES:
        for ext, meta in (("pdf", {"CreationDate": None}), ("png", {"Software": None})):
            paths.append(directory / f"{name}.{ext}")
            fig.savefig(paths[-1], metadata=meta)
    plt.close(fig)
    return paths


def knee_frame() -> pd.DataFrame:
    """Two knees: Adam's agrees (ratio 0.5), NAdam's lies below the grid."""
    base = {**MAIN, "factor": 10.0, "eps": 1e-8, "grad_rms_init": 2e-12}
    return pd.DataFrame(
        [
            {**base, "optimizer": "adam", "predicted_knee": 5000.0, "measured_knee": 2500.0,
             "censored": "", "ratio": 0.5, "agrees": True, "update_knee_first": 4000.0,
             "update_first_censored": "", "update_first_agrees": True,
             "update_knee_run": 3000.0, "update_run_censored": "", "update_run_agrees": True},
            {**base, "optimizer": "nadam", "eps": 1e-7, "predicted_knee": 5e4,
             "measured_knee": 1.0, "censored": "below", "ratio": 2e-5, "agrees": False,
             "update_knee_first": 1e5, "update_first_censored": "", "update_first_agrees": True,
             "update_knee_run": 1.0, "update_run_censored": "below",
             "update_run_agrees": False},
        ]
    )[list(KNEE_COLUMNS)]  # fmt: skip


def roundoff_frame() -> pd.DataFrame:
    """Adam with eps scaled: bitwise at 2^10, round-off of 0.2 SD at 10."""
    base = {**MAIN, "optimizer": "adam", "compensation": "eps", "n_seeds": 3, "seed_sd": 0.05}
    base |= {"ref_progress": 0.4, "trains": True}
    return pd.DataFrame(
        [
            {**base, "alpha": 1024.0, "power_of_two": True, "bitwise": True,
             "max_abs_diff": 0.0, "ratio": 0.0, "uncompensated_abs_effect": 0.5,
             "uncompensated_ratio": 10.0},
            {**base, "alpha": 10.0, "power_of_two": False, "bitwise": False,
             "max_abs_diff": 0.01, "ratio": 0.2, "uncompensated_abs_effect": 0.1,
             "uncompensated_ratio": 2.0},
        ]
    )[list(ROUNDOFF_COLUMNS)]  # fmt: skip


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path | list[Path]]:
    root = tmp_path_factory.mktemp("results")
    phase, boundaries = phase_data.tables()
    frames = {
        "comparisons": comparisons_frame(),
        "claims": claims_frame(),
        "knee": knee_frame(),
        "roundoff": roundoff_frame(),
        "phase": phase,
        "phase_boundaries": boundaries,
        "layers": phase_data.layers(),
    }
    for name, frame in frames.items():
        frame.to_csv(root / f"{name}.csv", index=False)
    return {name: root / f"{name}.csv" for name in frames} | {
        "figures": _write_figures(root / "figures"),
        "benchmarks": _write_benchmarks(root / "runtime"),
        "runtime": root / "runtime",
    }


def csv_inputs(inputs: dict) -> dict[str, Path]:
    """The result files build_context reads (no figures, no run-time files)."""
    return {k: v for k, v in inputs.items() if k not in ("figures", "benchmarks", "runtime")}


@pytest.fixture(scope="module")
def context(inputs: dict, config: dict, tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("report") / "context.json"
    write_context(csv_inputs(inputs), config, "abc123", FIGURES, out, repo=None)
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def paper(context: dict, inputs: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A rendered paper directory: paper.tex, paper.md, refs.bib, figures/."""
    root = tmp_path_factory.mktemp("paper")
    (root / "context.json").write_text(json.dumps(context))
    (inputs["comparisons"].parent / "context.json").write_text(json.dumps(context))
    render_paper(
        root / "context.json",
        TEMPLATES,
        root / "build",
        inputs["figures"],
        sources_of(inputs),
        root=inputs["comparisons"].parent,
    )
    write_json(summarize(inputs["benchmarks"], inputs["runtime"], cores=2), root / "runtime.json")
    render_runtime(root / "runtime.json", TEMPLATES, root / "build")
    return root / "build"


BENCHMARK = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def _write_benchmarks(directory: Path) -> list[Path]:
    """Snakemake benchmark files: two training jobs and the claims check."""
    files = {
        "train_cell/diabetes/adam/float32.tsv": "12.5\t0:00:12\t800.5\t0\t0\t0\t0\t0\t90\t11.0\n",
        "train_cell/diabetes/sgd/float32.tsv": "7.5\t0:00:07\t900.0\t0\t0\t0\t0\t0\t90\t7.0\n",
        "check_claims.tsv": "40.0\t0:00:40\t950.0\t0\t0\t0\t0\t0\t60\t30.0\n",
    }
    paths = []
    for name, row in files.items():
        paths.append(directory / name)
        paths[-1].parent.mkdir(parents=True, exist_ok=True)
        paths[-1].write_text(BENCHMARK + row)
    return paths


# --- filters ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (math.nan, "n/a"),
        (None, "n/a"),
        (math.inf, "inf"),
        (-math.inf, "-inf"),
        (0.0, "0"),
        (-0.0, "0"),
        (1, "1"),
        (3, "3"),
        (1.0, "1"),
        (0.123456, "0.123"),
        (-0.0123456, "-0.0123"),
        (0.001, "0.001"),
        (0.00099996, "0.001"),
        (1.23456e-5, "1.23e-5"),
        (-2e-9, "-2e-9"),
        (1e-4, "1e-4"),
        (1234.5, "1230"),
        (999.94, "1000"),
        (9999.7, "1e4"),
        (12345.6, "1.23e4"),
        (-1e5, "-1e5"),
        (1e100, "1e100"),
    ],
)
def test_fmt_num(value: float | None, text: str) -> None:
    assert fmt_num(value) == text


def test_fmt_num_rejects_non_numbers() -> None:
    with pytest.raises(TypeError):
        fmt_num("0.5")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        fmt_num(True)


def test_tex_num_typesets_the_same_digits() -> None:
    assert tex_num(1.23456e-5) == r"\num{1.23e-5}"
    assert tex_num(1e5) == r"\num{1e5}"
    assert tex_num(-0.5) == r"\num{-0.5}"
    assert tex_num(math.inf) == r"$\infty$"
    assert tex_num(math.nan) == "n/a"


def test_tex_escape_nasty_label() -> None:
    escaped = tex_escape(NASTY)
    assert escaped == r"50\%\_\{x\} \& \$\textbackslash{}input\{...\}\$"
    assert tex_escape(escaped) is escaped  # already escaped text is not escaped twice
    assert tex_escape("a--b ~^") == r"a-{}-b \textasciitilde{}\textasciicircum{}"


def test_md_escape_roundtrip() -> None:
    for text in (NASTY, "lr*alpha | eps_1 [x] <y> `z` #", "plain"):
        assert md_unescape(md_escape(text)) == text


def test_integers_below_1e4_print_exactly() -> None:
    assert fmt_num(1575) == "1575" and fmt_num(9999) == "9999"
    assert fmt_num(12105) == "1.21e4"  # a count that large goes through fmt_count
    assert fmt_count(12105) == "12,105" and fmt_count(7) == "7"
    with pytest.raises(TypeError):
        fmt_count(1.5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("alpha", "text"),
    [
        (1024.0, "2^10"),
        (2.0**-20, "2^-20"),
        (2.0**20, "2^20"),
        (1e5, "1e5"),
        (1.0, "1"),
        (2.0, "2"),
        (0.5, "0.5"),
        (1e-8, "1e-8"),
        (math.nan, "n/a"),
    ],
)
def test_powers_of_two_print_exactly(alpha: float, text: str) -> None:
    assert fmt_alpha(alpha) == text
    back = parse_alpha(text)
    assert math.isnan(back) if math.isnan(alpha) else back == pytest.approx(alpha, rel=5e-3)


def test_tex_alpha() -> None:
    assert tex_alpha(1024.0) == "$2^{10}$" and tex_alpha(1e5) == r"\num{1e5}"
    assert md_alpha(1024.0) == "$2^{10}$" and parse_alpha(md_alpha(2.0**20)) == 2.0**20


# --- context ----------------------------------------------------------------------------


def test_context_content(context: dict) -> None:
    assert set(context) == {
        "study",
        "optimizers",
        "claims",
        "theory",
        "claim_list",
        "derivations",
        "ledger_counts",
        "results",
        "findings",
        "verdicts",
        "blocks",
        "by_axis",
        "asker",
        "focal",
        "knee",
        "models",
        "roundoff",
        "summary",
        "figures",
        "provenance",
        "phase",
        "probe",
        "magnitude",
        "robustness",
        "regularization_at_one",
    }
    # findings: the main slice only (float32, no regularization, no compensation), one
    # per optimizer, in config order although the CSV lists adam first
    assert [f["optimizer"] for f in context["findings"]] == ["sgd", "adam", "nadam"]
    assert {(f["precision"], f["compensation"]) for f in context["findings"]} == {
        ("float32", "none")
    }
    sgd, adam, nadam = context["findings"]
    assert sgd["test"]["verdict"] == "diverged" and sgd["best"]["alpha"] == 1.0
    assert sgd["by_verdict"]["inconclusive"] == [10.0]
    assert adam["test"]["verdict"] == "better" and adam["by_verdict"]["equivalent"] == [10.0]
    assert nadam["test"]["verdict"] == "diverged" and nadam["by_verdict"]["diverged"] == [1e5]
    assert context["summary"]["invariant_by_verdict"]["better"] == ["Adam"]
    assert context["summary"]["by_verdict"]["diverged"] == ["SGD", "NAdam"]
    assert context["verdicts"]["main"] == {
        "equivalent": 1,
        "better": 1,
        "worse": 0,
        "diverged": 2,
        "neither_trains": 0,
        "inconclusive": 2,
    }
    assert context["summary"]["contradicted_claims"] == [NASTY]
    assert context["study"]["confidence_percent"] == pytest.approx(95)
    assert (context["study"]["margin"], context["study"]["test"]) == (MARGIN, "t")
    prov = context["provenance"]
    assert prov["config_hash"] == "abc123" and prov["commit"] == "unknown"
    assert {"torch", "snakemake", "numpy", "pandas", "scipy", "jinja2"} <= set(prov["versions"])
    # NaN becomes null, so the JSON is standard
    assert context["results"][1]["mean"] is None


def test_knee_and_roundoff_summaries(context: dict) -> None:
    knee = context["knee"]
    assert (knee["n"], knee["agree"], knee["censored"], knee["n_uncensored"]) == (2, 1, 1, 1)
    assert knee["ratio_geomean"] == pytest.approx(0.5)
    assert [r["label"] for r in knee["disagree"]] == ["NAdam"]
    roundoff = context["roundoff"]
    assert (roundoff["n_powers"], roundoff["n_powers_bitwise"], roundoff["n_others"]) == (1, 1, 1)
    assert roundoff["max_ratio"] == pytest.approx(0.2)
    assert roundoff["max_uncompensated_ratio"] == pytest.approx(2.0)
    [row] = roundoff["rows"]
    assert (row["label"], row["n_powers_bitwise"], row["n_powers"]) == ("Adam", 1, 1)


def test_roundoff_exceptions_keep_their_quiet_scales_apart() -> None:
    """A setting whose round-off reached the seed spread at some scales is an exception,
    with its largest ratio there and at its other scales; the rest bound everything else."""
    base = {"precision": "float32", "regularization": "none", "compensation": "none"}
    base |= {"power_of_two": False, "bitwise": None, "uncompensated_ratio": None, "trains": True}
    rows = [
        base | {"task": "t", "optimizer": "rprop", "alpha": 1e-8, "ratio": 4.07},
        base | {"task": "t", "optimizer": "rprop", "alpha": 10.0, "ratio": 0.591},
        base | {"task": "t", "optimizer": "adam", "alpha": 10.0, "ratio": 0.0271},
    ]
    summary = roundoff_summary(rows)
    assert [e["noisy_alphas"] for e in summary["exceptions"]] == [[1e-8]]
    assert (summary["exceptions_max"], summary["exceptions_max_quiet"]) == (4.07, 0.591)
    assert summary["max_ratio_rest"] == 0.0271


def test_context_reads_the_grid_from_the_config(context: dict, config: dict) -> None:
    study = context["study"]
    assert {k: study["main"][k] for k in ("block", "task", "precision")} == {
        "block": "main",
        "task": "diabetes",
        "precision": "float32",
    }
    assert study["main"]["alphas"] == [1.0, 10.0, 1e5]
    assert study["alphas"] == [1.0, 10.0, 1e5]
    sizes = {row["block"]: row for row in grid.summary(config)}
    assert [b["name"] for b in study["blocks"]] == list(BLOCKS)
    for block in study["blocks"]:
        size = sizes[block["name"]]
        assert (block["jobs"], block["replicas"]) == (size["jobs"], size["replicas"])
        assert block["replica_steps"] == size["replica_steps"]
    assert (
        study["grid"]["replicas"]
        == sizes["grid"]["replicas"]
        < sum(b["replicas"] for b in study["blocks"])
    ), "runs that several blocks name train once"
    assert study["precisions"] == ["float32", "float64"]
    assert study["compensations"] == ["none", "lr_instead"]
    assert [t["name"] for t in study["tasks"]] == ["diabetes"]
    assert study["tasks"][0]["kind"] == "diabetes" and study["tasks"][0]["target_scale"] == 1e-5
    # every optimizer of the grid, with its citation where refs.bib has one
    assert [o["name"] for o in context["optimizers"]] == ["sgd", "adam", "nadam"]
    assert [o["cite"] for o in context["optimizers"]] == [None, "kingma2015adam", "dozat2016nadam"]


def test_results_are_the_main_slice_at_a_few_alphas(context: dict) -> None:
    """Table 4: the asker's task at the main settings, every optimizer, alpha = 1 and the
    largest alpha (10 is in the grid but not among the table's alphas)."""
    assert context["study"]["main"]["table_alphas"] == [1.0, 1e5]
    shown = [(r["label"], r["alpha"]) for r in context["results"]]
    assert shown == [(label, a) for label in ("SGD", "Adam", "NAdam") for a in (1.0, 1e5)]
    assert all(r["quantity"] == "test" and r["precision"] == "float32" for r in context["results"])
    assert all(r["compensation"] == "none" for r in context["results"])


def test_block_findings_compare_each_setting(context: dict) -> None:
    blocks = {b["name"]: b for b in context["blocks"]}
    assert blocks["main"]["settings"] == [], "the main setting is the answer's, not repeated"
    precision = blocks["precision"]
    assert precision["varies"]["precision"]
    by_precision = {s["precision"]: s for s in precision["settings"]}
    assert by_precision["float64"]["clauses"] == [{"verdict": "better", "labels": ["Adam"]}]
    assert by_precision["float32"]["changed"] == ["Adam"]
    assert by_precision["float32"]["alpha"] == 1e5
    asker = {s["compensation"]: s for s in blocks["asker"]["settings"]}
    assert asker["lr_instead"]["clauses"] == [{"verdict": "diverged", "labels": ["NAdam"]}]
    # only the block's own alphas (1, 1e5): nadam's alpha = 10 of block main is left out
    assert asker["none"]["counts"] == dict.fromkeys(VERDICTS, 0) | {"diverged": 1}
    assert context["by_axis"]["precision"]["float64"]["changed"] == ["Adam"]
    [alternative] = context["asker"]
    assert alternative["lr"]["verdict"] == "diverged" and alternative["lr"]["n_diverged"] == 3
    assert alternative["loss"]["verdict"] == "diverged"
    assert alternative["lr_train"]["verdict"] == "diverged", "the training metric's row"
    assert alternative["loss_train"]["effect"] == pytest.approx(12344.7 - 0.01)
    assert context["focal"] is None, "the synthetic grid trains no focal-loss task"


def test_context_rejects_missing_columns(inputs: dict, config: dict, tmp_path: Path) -> None:
    pd.read_csv(inputs["claims"]).drop(columns="tolerance").to_csv(tmp_path / "c.csv")
    broken = csv_inputs(inputs) | {"claims": tmp_path / "c.csv"}
    with pytest.raises(ValueError, match="tolerance"):
        write_context(broken, config, "h", FIGURES, tmp_path / "x")
    pd.read_csv(inputs["knee"]).drop(columns="agrees").to_csv(tmp_path / "k.csv")
    with pytest.raises(ValueError, match="agrees"):
        write_context(
            csv_inputs(inputs) | {"knee": tmp_path / "k.csv"}, config, "h", FIGURES, tmp_path / "x"
        )
    assert not (tmp_path / "x").exists()


# --- rendering --------------------------------------------------------------------------


def test_render_writes_everything(paper: Path) -> None:
    """Paper and supplement in both formats; each figure in the document that shows it,
    numbered in order (S1, S2, ... in the supplement); run-time fragment in the supplement."""
    names = ("paper.tex", "paper.md", "supplement.tex", "supplement.md", "refs.bib")
    for name in (*names, *(f"figures/{f}.pdf" for f in FIGURES)):
        assert (paper / name).is_file(), name
    for document in rendering.DOCUMENTS:
        tex = (paper / f"{document}.tex").read_text()
        md = (paper / f"{document}.md").read_text()
        assert tex.startswith(r"\pdfinfoomitdate=1 \pdftrailerid{} \pdfsuppressptexinfo=-1")
        prefix = "S" if document == "supplement" else ""
        for number, name in enumerate(rendering.FIGURES_IN[document], 1):
            assert f"keepaspectratio]{{figures/{name}.pdf}}" in tex
            assert f"\\label{{fig:{name}}}" in tex
            assert f"[{name}]: figures/{name}.png" in md
            assert f"**Figure {prefix}{number}.**" in md
    assert set(rendering.FIGURES_IN["paper"]) | set(rendering.FIGURES_IN["supplement"]) == set(
        FIGURES
    )
    supplement = (paper / "supplement.tex").read_text()
    assert r"\input{runtime}" in supplement
    assert r"\input{runtime}" not in (paper / "paper.tex").read_text()
    assert "[runtime.md](runtime.md)" in (paper / "supplement.md").read_text()
    # numbers through siunitx, math in $...$ in both formats
    assert (
        r"\num{1e-5}" in supplement and "$\\alpha$ = 1e5" in (paper / "supplement.md").read_text()
    )


def test_captions_name_each_file_with_its_hash(paper: Path, inputs: dict) -> None:
    """Every caption of both documents ends with its source: the file, the first digits
    of its sha256 (recomputed here from the file) and the rule, linked in Markdown."""
    base = inputs["comparisons"].parent
    note = re.compile(
        r"\[`([^`]+)`\]\(\.\./\.\./([^)]+)\) \(sha256 `([0-9a-f]+)`, rule \[`r`\]"
        r"\(\.\./\.\./workflow/rules/r\.smk#L3\)\)"
    )
    for document in rendering.DOCUMENTS:
        md = (paper / f"{document}.md").read_text()
        captions = re.findall(r"^\*\*(?:Table|Figure) S?\d+\.\*\*.*?(?=\n\n)", md, re.S | re.M)
        assert captions, document
        for caption in captions:
            found = note.findall(caption)
            assert found, caption[:80]
            for shown, link, digest in found:
                assert shown == link
                assert digest == file_sha256(base / shown)[:SHA_DIGITS] and len(digest) == 10
        tex = (paper / f"{document}.tex").read_text()
        n_captions = tex.count("\\caption{")
        assert n_captions == len(captions) == tex.count("(sha256 \\texttt{"), document
    # a file changed after rendering no longer matches its caption's hash
    assert file_sha256(base / "knee.csv")[:SHA_DIGITS] in (paper / "supplement.md").read_text()


def test_a_caption_without_its_file_is_an_error(context: dict) -> None:
    with pytest.raises(KeyError, match="no result file given for 'rule'"):
        rendering.render("md", context, TEMPLATES, sources={})


def test_main_text_repeats_no_sentence(paper: Path) -> None:
    """No sentence of 8 or more words appears 3 or more times before the references
    (the checker itself finds a repeated one)."""
    md = (paper / "paper.md").read_text()
    assert repeated_sentences(md) == {}
    sentence = "This sentence has exactly eight words in it."
    repeated = md.replace("## References", f"{sentence}\n{sentence} {sentence}\n\n## References")
    assert repeated_sentences(repeated) == {sentence: 3}
    assert "## References" in md and "Claims ledger" not in main_text(md)


def test_nasty_label_is_escaped_in_both_formats(paper: Path) -> None:
    tex = (paper / "supplement.tex").read_text()
    assert NASTY not in tex
    plain = tex.replace(r"\allowbreak{}", "")  # break points the code filter adds
    assert r"\texttt{50\%\_\{x\} \& \$\textbackslash{}input\{...\}\$}" in plain
    assert "\\input{...}" not in tex
    claims = claims_rows_from_markdown((paper / "supplement.md").read_text())
    assert claims[2]["claim_id"] == NASTY


def test_markdown_table_matches_comparisons(paper: Path, inputs: dict) -> None:
    """The e2e check: the results table, parsed back, equals the main slice of
    comparisons.csv at the table's alphas, via fmt_num."""
    table = results_rows_from_markdown((paper / "supplement.md").read_text())
    csv = pd.read_csv(inputs["comparisons"])
    main = (csv["quantity"] == "test") & csv["alpha"].isin([1.0, 1e5])
    for key, value in MAIN.items():
        main &= csv[key] == value
    csv = csv[main].copy()
    order = {"sgd": 0, "adam": 1, "nadam": 2}  # config order
    csv = csv.sort_values(
        ["optimizer", "alpha"], key=lambda c: c.map(order) if c.name == "optimizer" else c
    )
    expected = [
        {
            "optimizer": OPTIMIZER_LABELS[r.optimizer],
            "alpha": fmt_alpha(r.alpha),
            **{
                k: fmt_num(getattr(r, k))
                for k in ("n_seeds", "n_diverged", "mean", "effect", "ci_low", "ci_high")
            },
            "p_adj": fmt_num(r.p_adj),
            "tost_p_adj": fmt_num(r.tost_p_adj),
            "verdict": r.verdict,
        }
        for r in csv.itertuples()
    ]
    assert [{k: row[k] for k in expected[0]} for row in table] == expected
    assert len(table) == 6


def test_markdown_knee_and_roundoff_tables_match_the_csvs(paper: Path, inputs: dict) -> None:
    md = (paper / "supplement.md").read_text()
    knee = pd.read_csv(inputs["knee"])
    shown = knee_rows_from_markdown(md)
    assert [r["predicted"] for r in shown] == [fmt_num(x) for x in knee["predicted_knee"]]
    assert [r["measured"] for r in shown] == ["2500", "≤ 1"]
    assert [r["agrees"] for r in shown] == ["yes", "no"]
    assert [r["update_first"] for r in shown] == ["4000", "1e5"]
    assert [r["update_agrees"] for r in shown] == ["yes", "yes"]
    assert [r["steps"] for r in shown] == ["500", "500"]
    [row] = roundoff_rows_from_markdown(md)
    assert (row["bitwise"], row["max_ratio"], row["max_uncompensated_ratio"]) == (
        "1 of 1",
        "0.2",
        "2",
    )
    assert row["trains"] == "yes"


def test_markdown_blocks_and_tasks_tables_match_the_grid(paper: Path, config: dict) -> None:
    md = (paper / "supplement.md").read_text()
    blocks = blocks_rows_from_markdown(md)
    sizes = grid.summary(config)
    assert [r["block"] for r in blocks] == [r["block"] for r in sizes]
    for shown, size in zip(blocks, sizes, strict=True):
        for key in ("jobs", "replicas", "replica_steps"):
            assert shown[key] == fmt_count(size[key]), (key, shown)
    assert blocks[1]["precisions"] == "float64, float32"
    assert blocks[2]["compensations"] == "none, lr_instead"
    assert blocks[0]["optimizers"] == "SGD, Adam, NAdam" and blocks[0]["n_alphas"] == "3"
    tasks = tasks_rows_from_markdown(md)
    assert [(t["task"], t["kind"], t["loss"], t["target_scale"]) for t in tasks] == [
        ("diabetes", "diabetes", "MSE", "1e-5")
    ]
    assert tasks[0]["network"] == "MLP 32-32, relu"


def test_markdown_claims_table_matches_claims(paper: Path, inputs: dict) -> None:
    table = claims_rows_from_markdown((paper / "supplement.md").read_text())
    csv = pd.read_csv(inputs["claims"])  # one check per claim in the synthetic ledger
    assert [r["claim_id"] for r in table] == list(csv["claim_id"])
    assert [r["transformation"] for r in table] == list(csv["transformation"])
    assert [r["deviation"] for r in table] == [fmt_num(x) for x in csv["max_rel_deviation"]]
    assert [r["n_checks"] for r in table] == ["1"] * len(csv)


def test_markdown_theory_table_has_one_row_per_subject(paper: Path, inputs: dict) -> None:
    table = theory_rows_from_markdown((paper / "supplement.md").read_text())
    csv = pd.read_csv(inputs["claims"])
    assert [r["subject"] for r in table] == list(dict.fromkeys(csv["optimizer"]))
    sgd = table[0]
    assert sgd["transforms"] == "lr*alpha" and sgd["float64"] == fmt_num(3.2e-16)
    assert table[2]["float64"] == "fails (0.37)", "parentheses next to a tag survive"


def test_rendering_is_deterministic(context: dict) -> None:
    for fmt in ("tex", "md"):
        assert render(fmt, context, TEMPLATES) == render(fmt, context, TEMPLATES)


def test_strict_undefined(context: dict) -> None:
    broken = {k: v for k, v in context.items() if k != "provenance"}
    with pytest.raises(jinja2.UndefinedError):
        render("md", broken, TEMPLATES)


def test_unformatted_number_is_an_error(tmp_path: Path, context: dict) -> None:
    shutil.copy(TEMPLATES / "refs.bib", tmp_path / "refs.bib")
    (tmp_path / "paper.md.j2").write_text("((( study.seeds )))\n")
    with pytest.raises(TypeError, match=r"\|num"):
        render("md", context, tmp_path)


def _answer(context: dict, fmt: str = "md") -> str:
    text = render(fmt, context, TEMPLATES)
    return text.split("the comments, point by point", 1)[1]


def _flipped_context(inputs: dict, config: dict, tmp_path: Path, edit) -> dict:
    """The context rebuilt after ``edit(comparisons_frame)`` changed the input CSV."""
    frame = pd.read_csv(inputs["comparisons"])
    edit(frame)
    frame.to_csv(tmp_path / "comparisons.csv", index=False)
    flipped = csv_inputs(inputs) | {"comparisons": tmp_path / "comparisons.csv"}
    write_context(flipped, config, "abc123", FIGURES, tmp_path / "context.json")
    return json.loads((tmp_path / "context.json").read_text())


def _row(frame: pd.DataFrame, optimizer: str, alpha: float, **cell) -> pd.Series:
    mask = (frame["optimizer"] == optimizer) & (frame["alpha"] == alpha)
    mask &= frame["quantity"] == "test"
    for key, value in (MAIN | cell).items():
        mask &= frame[key] == value
    return mask


def test_finding_sentence_follows_the_data(
    context: dict, inputs: dict, config: dict, tmp_path: Path
) -> None:
    """Flip one input row (Adam at alpha = 1e5 becomes equivalent) and the answer's
    sentences change with it."""
    answer = _answer(context)
    results = render("md", context, TEMPLATES).split("### Loss scale sweeps", 1)[1]
    assert "the final test metric was detectably better for Adam; lost to divergence" in results
    assert "Scaling the loss changed the results of Adam, which the textbook" in answer

    def equivalent(frame: pd.DataFrame) -> None:
        mask = _row(frame, "adam", 1e5)
        frame.loc[mask, ["effect", "ci_low", "ci_high", "verdict"]] = [
            0.001,
            -0.01,
            0.01,
            "equivalent",
        ]

    flipped_context = _flipped_context(inputs, config, tmp_path, equivalent)
    flipped = _answer(flipped_context)
    assert "the final test metric was equivalent to the unscaled loss for Adam;" in render(
        "md", flipped_context, TEMPLATES
    )
    assert "Scaling the loss changed the results" not in flipped
    assert "For Adam, which the textbook answer calls invariant, the final test metric" in flipped


def test_asker_alternative_and_blocks_follow_the_data(
    context: dict, inputs: dict, config: dict, tmp_path: Path
) -> None:
    md = render("md", context, TEMPLATES)
    assert "With the learning rate raised,\n3 of 3 seeds diverged, as the asker reported." in md
    assert "made 3 of 3 seeds diverge on `diabetes`, as you observed" in md
    precision = md.split("### Precision", 1)[1].split("### Robustness", 1)[0]
    assert (
        "In float64 precision, at $\\alpha$ = 1e5 the test metric was detectably better for Adam."
        in precision
    )
    rows = [list(r.values()) for r in parse_markdown_table(md, "verdicts")]
    assert {r[0] for r in rows} == {b["name"] for b in context["blocks"] if b["settings"]}
    float64 = [r for r in rows if r[0] == "precision" and r[2] == "float64" and r[3] == "Adam"]
    assert [r[4:11] for r in float64] == [["0", "1", "0", "0", "0", "0", "yes"]]

    def worse(frame: pd.DataFrame) -> None:
        mask = _row(frame, "adam", 1e5, precision="float64")
        frame.loc[mask, ["effect", "ci_low", "ci_high", "verdict"]] = [0.4, 0.3, 0.5, "worse"]

    md = render("md", _flipped_context(inputs, config, tmp_path, worse), TEMPLATES)
    assert (
        "In float64 precision, at $\\alpha$ = 1e5 the test metric was detectably worse for Adam."
        in md
    )
    assert "this configuration trains no focal-loss task" in md


def _phase_context(inputs: dict, config: dict, tmp_path: Path, outcomes: dict) -> dict:
    """The context rebuilt from crafted phase outcomes (``phase_data.OUTCOMES`` edited)."""
    phase, boundaries = phase_data.tables(outcomes)
    phase.to_csv(tmp_path / "phase.csv", index=False)
    boundaries.to_csv(tmp_path / "phase_boundaries.csv", index=False)
    changed = csv_inputs(inputs) | {
        "phase": tmp_path / "phase.csv",
        "phase_boundaries": tmp_path / "phase_boundaries.csv",
    }
    write_context(changed, config, "abc123", FIGURES, tmp_path / "context.json")
    return json.loads((tmp_path / "context.json").read_text())


def test_phase_summary_and_tables(context: dict, paper: Path) -> None:
    phase = context["phase"]
    asker = phase["asker"]
    assert asker["factor"] == 1e5 and asker["reproduced"] == [1e-4]
    assert [s["case"] for s in asker["scan"]] == ["both_train", "reproduced"]
    assert asker["mine"]["task"] == "diabetes"
    assert asker["mine"]["grad_over_eps"] == pytest.approx(1e-3)
    assert phase["controls"]["eps"] == {
        "n": 2, "same_outcome": 2, "max_rel_diff": 0.0, "n_trains": 2, "max_rel_diff_trains": 0.0
    }  # fmt: skip
    assert phase["loss_blows_up"] == 0 and phase["lr_blows_up"] == 1 == phase["n_adaptive_lr"] - 1
    # the observation at 1e-4 x 1e5 (G / eps = 0.1, lifted to 1e4); both train at 1e-5 x 1e5
    pattern = phase["pattern"]
    assert pattern["n_reproduced"] == 1 and pattern["reproduced_min"] == pytest.approx(1e4)
    # where the scaled loss rescued a stalling loss: the raised learning rate trained at
    # 100 and blew up at 1e4, two decades apart: two bands
    assert pattern["n_rescued"] == 2 and pattern["n_oversized"] == 1
    assert [(b["min"], b["n"], b["outcome"], b["counts"]) for b in pattern["bands"]] == [
        (pytest.approx(100), 1, "trains", [["trains", 1]]),
        (pytest.approx(1e4), 1, "blows_up", [["blows_up", 1]]),
    ]
    # the only raised learning rate at 1e-4 blew up: none fit better than the scaled loss
    assert pattern["lr_better"]["n"] == 0 and pattern["test"]["n_best_smaller"] == 0
    # first updates / P of the lr arm at 1e5: 2e-3 * 1e5 * G / (G + eps) / 0.1, that is
    # 181.8 at 1e-4 (blew up) and 1.998 at 1e-5 (trained): both oversized, one stable
    lb = phase["lr_blowups"]
    assert lb["first_update_min"] == pytest.approx(200 / 1.1, rel=1e-6)
    assert (lb["n_oversized"], lb["n_oversized_stable"]) == (2, 1)
    counts = phase["counts"]["lr_blows_up"]
    # located at 10**2.5 (interpolated between 1 and 1e5), within a decade of 550
    assert (counts["n"], counts["n_located"], counts["agree_located"]) == (2, 1, 1)
    assert counts["n_midpoint"] == 1 and phase["half_step"] == pytest.approx(10**2.5)
    assert (
        counts["ratio_geomean"] == pytest.approx(10**2.5 / 550)
        and counts["later"] == counts["earlier"] == 0
    )
    layers = phase["layers"]
    assert layers["first_deepest"] and layers["n_layers"] == 3 and layers["deepest"] == 1
    assert layers["spread_loss"] < layers["spread_ref"]
    # macros and concatenated numbers reach LaTeX as markup, not as escaped text
    tex = (paper / "supplement.tex").read_text().split("{The asker's phase diagram}", 1)[1]
    assert "textbackslash" not in tex.split("\\subsection", 1)[0]
    md = (paper / "supplement.md").read_text()
    rows = [list(r.values()) for r in parse_markdown_table(md, "phase")]
    assert [r[2] for r in rows] == ["1e-5", "1e-4"]  # target scales, ascending
    assert [r[3] for r in rows] == ["0.001", "0.1"]  # gradient RMS / eps
    assert [r[4] for r in rows] == ["1000", "10"]  # alpha* = eps / G
    # the learning-rate arm's blow-up: predicted 550, located at 10**2.5 (agrees)
    assert rows[1][7] == "550" and rows[1][8] == "316"
    # the loss arm starts training at 1e-5 near 22.9, far from alpha* = 1000: an asterisk
    assert rows[0][6] == "22.9${}^{\\ast}$"
    assert rows[1][9] == "never" and rows[1][10] == "$>$ 1e5"
    layers_table = [list(r.values()) for r in parse_markdown_table(md, "layers")]
    assert [r[0] for r in layers_table] == ["1", "2", "3"]
    assert layers_table[0][2] == "1e-5"  # 1e-12 / 1e-7


def test_bands_merge_decades_with_one_outcome() -> None:
    """Decades of the scaled gradient over eps merge while all their cells agree; a decade
    with mixed outcomes stands alone and counts them."""
    cells = [(0.19, "trains"), (1.9, "trains"), (19.1, "blows_up"), (19.1, "trains")]
    cells += [(19.1, "stalls"), (191, "blows_up"), (1910, "blows_up"), (1.5e4, "stalls")]
    bands = _bands(cells)
    assert [(b["min"], b["max"], b["n"], b["outcome"]) for b in bands] == [
        (0.19, 1.9, 2, "trains"),
        (19.1, 19.1, 3, None),
        (191, 1910, 2, "blows_up"),
        (1.5e4, 1.5e4, 1, "stalls"),
    ]
    assert bands[1]["counts"] == [["trains", 1], ["stalls", 1], ["blows_up", 1]]
    # a setting that stalled while a minority of its seeds blew up is counted apart
    partly = {"outcome": "stalls", "n_diverged": 0, "n_exploded": 2}
    assert _band_outcome(partly) == "minority"
    assert _band_outcome(partly | {"n_exploded": 0}) == "stalls"


def test_asker_answer_follows_the_phase_diagram(
    context: dict, inputs: dict, config: dict, tmp_path: Path
) -> None:
    """At 1e-5 both the loss and the learning rate x 1e5 train: the answer says 'contrary
    to what you observed' for that regime only; once the learning rate blows up there too,
    the sentence goes and the observation is reproduced at both magnitudes."""
    answer = _answer(context)
    ratio = "$a\\,\\mathrm{RMS}(g_0)/\\epsilon$"
    assert f"in 1 of its cells, for NAdam, where {ratio} was 1e4 and" in answer
    assert "in it the raised learning rate's first update was already larger" in answer
    assert (
        f"the raised learning rate trained in the cell with {ratio} = 100; blew up in the cell "
        f"with {ratio} = 1e4."
    ) in answer
    contrary = "raising the learning rate by it did not blow up, contrary to what you observed"
    assert "your factor 1e5 has a gradient of only 100 times $\\epsilon$, and " + contrary in (
        answer
    )
    assert "made 3 of 3 seeds diverge on `diabetes`, as you observed" in answer
    assert "As for vanishing gradients in the earlier layers" not in answer  # loss went farther
    flipped = dict(phase_data.OUTCOMES) | {("diabetes", "lr", 1e5): "explodes"}
    context = _phase_context(inputs, config, tmp_path, flipped)
    changed = _answer(context)
    assert contrary not in changed
    assert f"in 2 of its cells, for NAdam, where {ratio} was 100 to 1e4 and" in changed
    # both cells blew up now: their decades merge into one band
    assert f"the raised learning rate blew up in both cells with {ratio} from 100 to 1e4." in (
        changed
    )
    assert "the map reproduces your observation there" in changed
    md = render("md", context, TEMPLATES)
    phase = md.split("### The asker's phase diagram", 1)[1].split("### The asker's scenario")[0]
    assert "At target scale 1e-5 both trained" not in phase
    assert (
        "blew up in 0 of its 2 settings with a factor above 1, the learning-rate arm in 2 of 2"
        in (phase)
    )


def test_shared_partials_need_no_escaping() -> None:
    """Literal prose in partials is valid LaTeX and Markdown as it stands."""
    tag = re.compile(r"\(\(\(.*?\)\)\)|\(\(\*.*?\*\)\)|\(\(=.*?=\)\)", re.S)
    for path in sorted((TEMPLATES / "partials").glob("*.j2")):
        text = tag.sub("", path.read_text())
        bad = sorted(set(re.findall(r"[\\{}$&%#_^~*\[\]<>|`\"]|--|\(\(\(", text)))
        assert not bad, f"{path.name}: {bad}"
        assert text.isascii(), path.name


def test_reference_lists_show_the_cited_entries(paper: Path) -> None:
    tex = (paper / "paper.tex").read_text()
    cited = {k for group in re.findall(r"\\cite[tp]\{([^}]*)\}", tex) for k in group.split(",")}
    bib = read_bib(TEMPLATES / "refs.bib")
    assert cited < set(bib), "the synthetic grid has three optimizers: not every paper"
    md = (paper / "paper.md").read_text()
    references = md.split("## References", 1)[1].split("\n## ", 1)[0]
    assert references.count("\n- ") == len(cited)
    assert "Shazeer" not in references and "Kingma" in references


def test_default_config_cites_every_reference(inputs: dict, tmp_path: Path) -> None:
    """refs.bib holds no entry that the default study leaves uncited."""
    default = yaml.safe_load((ROOT / "config.yaml").read_text())
    config = validate_config(default, load_schema(SCHEMA))
    write_context(csv_inputs(inputs), config, "h", FIGURES, tmp_path / "context.json")
    context = json.loads((tmp_path / "context.json").read_text())
    # every optimizer but AdamW: Adam with regularization `decoupled` is AdamW
    assert len(context["optimizers"]) == len(OPTIMIZER_LABELS) - 1 == 15
    assert set(cited_keys("tex", context, TEMPLATES)) == set(read_bib(TEMPLATES / "refs.bib"))
    # a focal-loss task in the grid, but no comparisons of it in the synthetic CSV
    assert context["focal"] == {"focal": [], "cross_entropy": []}
    md = render("md", context, TEMPLATES)
    assert "classified (Lin et al., 2017)" in md
    assert "trains no focal-loss task" not in md


def test_render_without_result_rows(inputs: dict, config: dict, tmp_path: Path) -> None:
    """Empty result tables still give a complete paper (the sentences say so)."""
    for name in ("claims", "comparisons", "knee", "roundoff"):
        pd.read_csv(inputs[name]).iloc[:0].to_csv(tmp_path / f"{name}.csv", index=False)
    empty = {
        name: tmp_path / f"{name}.csv" for name in ("claims", "comparisons", "knee", "roundoff")
    }
    write_context(empty, config, "h", FIGURES, tmp_path / "context.json")
    root = inputs["comparisons"].parent
    shutil.copy(tmp_path / "context.json", root / "context.json")
    render_paper(tmp_path / "context.json", TEMPLATES, tmp_path / "build", inputs["figures"],
                 sources_of(inputs), root=root)  # fmt: skip
    md = (tmp_path / "build/paper.md").read_text() + (tmp_path / "build/supplement.md").read_text()
    assert "No derivation checks were run" in md
    assert results_rows_from_markdown(md) == []
    assert knee_rows_from_markdown(md) == [] and "## 6. Limitations" in md


def test_render_paper_needs_the_figures(context: dict, tmp_path: Path) -> None:
    (tmp_path / "context.json").write_text(json.dumps(context))
    with pytest.raises(FileNotFoundError, match="verdict_heatmap"):
        render_paper(tmp_path / "context.json", TEMPLATES, tmp_path / "build", figures=[])


def test_unknown_citation_key_fails(tmp_path: Path, context: dict) -> None:
    shutil.copy(TEMPLATES / "refs.bib", tmp_path / "refs.bib")
    (tmp_path / "paper.tex.j2").write_text('((( citep("nobody2000") )))\n')
    with pytest.raises(KeyError, match="nobody2000"):
        render("tex", context, tmp_path)


def test_parse_markdown_tables_handles_escapes() -> None:
    text = "<!-- table: t -->\n| a | b |\n|:--|--:|\n| `x\\|y` | 1\\_2 |\n\nafter\n"
    assert parse_markdown_tables(text) == {"t": [{"a": "x|y", "b": "1_2"}]}


# --- PDF --------------------------------------------------------------------------------


def test_build_pdf_names_latexmk_when_missing(paper: Path, tmp_path: Path) -> None:
    with pytest.raises(LatexError, match="latexmk"):
        build_pdf(paper / "paper.tex", tmp_path / "x.pdf", latexmk="latexmk-not-installed")
    assert not (tmp_path / "x.pdf").exists()


def test_build_pdf(paper: Path, tmp_path: Path) -> None:
    build = tmp_path / "build"
    shutil.copytree(paper, build)
    if shutil.which("latexmk") is None:
        with pytest.raises(LatexError, match="latexmk"):
            build_pdf(build / "paper.tex")
        return
    pdf = build_pdf(build / "paper.tex")
    assert pdf == build / "paper.pdf"
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and b"CreationDate" not in data
    # a failing source leaves no paper.pdf and reports the LaTeX error
    (build / "paper.tex").write_text(
        (build / "paper.tex").read_text().replace(r"\end{document}", r"\undefinedmacro")
    )
    with pytest.raises(LatexError, match="Undefined control sequence"):
        build_pdf(build / "paper.tex")
    assert not pdf.exists()
    # an unresolved reference fails the build as well (it would print as ??)
    (build / "paper.tex").write_text(
        (paper / "paper.tex")
        .read_text()
        .replace(r"\end{document}", r"\cref{tab:nowhere}\end{document}")
    )
    with pytest.raises(LatexError, match="tab:nowhere"):
        build_pdf(build / "paper.tex")
    assert not pdf.exists()


def test_runtime_summary_per_rule(inputs: dict, tmp_path: Path) -> None:
    rules = rule_times(inputs["benchmarks"], inputs["runtime"])
    assert [r["rule"] for r in rules] == ["check_claims", "train_cell"]
    train = rules[1]
    assert (train["jobs"], train["wall_s"], train["max_wall_s"]) == (2, 20.0, 12.5)
    assert (train["cpu_s"], train["max_rss_mb"]) == (18.0, 900.0)
    (tmp_path / "bad.tsv").write_text("s\tcpu\n1\t2\n")
    with pytest.raises(ValueError, match=r"bad.tsv: cannot be read as a Snakemake benchmark file"):
        read_benchmark(tmp_path / "bad.tsv")


def test_runtime_fragment_is_separate_from_the_paper(paper: Path) -> None:
    """Wall times, date and hardware appear only in runtime.{tex,md}."""
    md = (paper / "runtime.md").read_text()
    table = parse_markdown_tables(md)["runtime"]
    assert [(r["Rule"], r["Jobs"], r["Wall time (s)"]) for r in table] == [
        ("check_claims", "1", "40"),
        ("train_cell", "2", "20"),
    ]
    assert r"\num{12.5}" in (paper / "runtime.tex").read_text()
    for name in ("paper.tex", "paper.md"):
        text = (paper / name).read_text()
        assert "UTC" not in text and "12.5" not in text


# --- the report's inputs: statistics, the main slice and the figure ----------------------
# (pure functions on small synthetic training tables; the smoke workflow runs them for real)


def history_frame(steps=(0, 5, 10, 15, 20)) -> pd.DataFrame:
    """A job's training table: regularizations none and coupled, alphas 1 and 2^10,
    three seeds, steps recorded every 5. The final metric is 1 + seed/10, lowered by 0.5
    at alpha = 2^10 with coupled decay; step 15 carries a decoy value. Seed 2 of
    (coupled, 2^10) diverges."""
    rows = []
    for reg, decay in (("none", 0.0), ("coupled", 0.01)):
        for alpha in (1.0, 1024.0):
            for seed in range(3):
                for step in steps:
                    final = 1 + seed / 10 - (0.5 if (reg, alpha) == ("coupled", 1024.0) else 0)
                    value = final if step == steps[-1] else 100.0 + step
                    diverged = (reg, alpha, seed) == ("coupled", 1024.0, 2) and step >= 10
                    rows.append(
                        {
                            "task": "diabetes",
                            "optimizer": "adam",
                            "precision": "float32",
                            "regularization": reg,
                            "compensation": "none",
                            "weight_decay": decay,
                            "batch_size": 0,
                            "steps": steps[-1],
                            "alpha": alpha,
                            "seed": seed,
                            "step": step,
                            **{c: value for c in TRAIN_RECORD_COLUMNS if c != "diverged"},
                            "diverged": diverged,
                        }
                    )
    frame = pd.DataFrame(rows)
    for c in ("train_metric", "test_metric"):
        frame.loc[frame["diverged"], c] = math.nan
    return frame[[*TRAIN_ID_COLUMNS, *TRAIN_RECORD_COLUMNS]]


def test_compare_all_pairs_each_cell_at_the_last_recorded_step() -> None:
    table = compare_all(history_frame(), confidence=0.95, resamples=200, seed=0)
    assert list(table.columns) == list(COMPARISON_COLUMNS)
    # one row per cell (regularization none / coupled) x quantity x alpha
    assert len(table) == 2 * 3 * 2
    test = table[table["quantity"] == "test"].set_index(["regularization", "alpha"])
    none, coupled = test.loc[("none", 1024.0)], test.loc[("coupled", 1024.0)]
    assert none["effect"] == 0 and none["n_diverged"] == 0 and none["weight_decay"] == 0.0
    # the final step (20), not the decoy at 15; the diverged seed counted, not paired
    assert coupled["effect"] == pytest.approx(-0.5) and coupled["n_diverged"] == 1
    assert (coupled["n_seeds"], coupled["n_pairs"]) == (3, 2)
    assert coupled["mean"] == pytest.approx(0.55) and coupled["weight_decay"] == 0.01
    assert coupled["ci_low"] == pytest.approx(-0.5) == coupled["ci_high"]
    again = compare_all(history_frame(), confidence=0.95, resamples=200, seed=0)
    pd.testing.assert_frame_equal(table, again)


def test_read_final_reads_only_the_final_rows_and_needed_columns(tmp_path: Path) -> None:
    history = history_frame(steps=(0, 7, 14, 20))  # the last step is not a multiple of 7
    paths = []
    for reg, part in history.groupby("regularization", sort=False):
        paths.append(tmp_path / f"{reg}.parquet")
        part.to_parquet(paths[-1])
    final = read_final(paths)
    assert set(final.columns) == set(FINAL_COLUMNS)
    assert len(final) == 12 and set(final["step"]) == {20}
    pd.testing.assert_frame_equal(
        compare_all(read_outcomes(paths), 0.95, 200, 0),
        compare_all(read_histories(paths), 0.95, 200, 0),
    )


def test_main_slice_of_the_default_and_other_grids() -> None:
    default = validate_config(
        yaml.safe_load((ROOT / "config.yaml").read_text()), load_schema(SCHEMA)
    )
    assert slices.main_slice(default) == {
        "block": "main",
        "task": "diabetes",
        "precision": "float32",
        "regularization": "none",
        "compensation": "none",
        "batch_size": 0,
        "steps": 500,
    }
    orders = cells.grid_orders(default)
    main = default["train"]["blocks"]["main"]["optimizers"]
    assert orders["optimizer"][: len(main)] == main and len(set(orders["optimizer"])) == 15
    assert orders["precision"][:2] == ["float32", "float64"]
    other = make_config(
        {
            "first": {
                "tasks": ["digits", "teacher_student"],
                "optimizers": ["adam"],
                "precisions": ["float64"],
                "compensations": ["eps"],
            }
        }
    )
    assert slices.main_slice(other) == {
        "block": "first",
        "task": "digits",
        "precision": "float64",
        "regularization": "none",
        "compensation": "eps",
        "batch_size": 0,
        "steps": 500,
    }


@pytest.mark.parametrize(
    ("alphas", "shown"),
    [
        ([1e-8, 1e-7, 1e-4, 1, 10, 1e4, 1e5, 1e8, 2.0**20], [1e-8, 1e-4, 1, 1e4, 1e8]),
        ([1e-2, 1, 2.0**10, 1e4, 2.0**20], [1, 1e4, 2.0**20]),
        ([1, 1e5], [1, 1e5]),
        ([1e-4, 1], [1e-4, 1]),
        ([], []),
    ],
)
def test_table_alphas(alphas: list[float], shown: list[float]) -> None:
    assert slices.table_alphas(alphas) == shown


# --- robustness, round-off on training cells, regularization strength, magnitude -------


def _cmp(task: str, alpha: float, verdict: str, effect: float, **cell) -> dict:
    """One training-metric comparison row of the robustness tests."""
    row = {**MAIN, "task": task, "optimizer": "nadam", "quantity": "train", "alpha": alpha}
    row |= {"verdict": verdict, "effect": effect, "ci_low": effect - 0.01}
    row |= {"ci_high": effect + 0.01, "mean": 0.5, "ref_mean": 0.5, "n_seeds": 3}
    row |= {"n_pairs": 3, "n_diverged": 0, "p_value": 0.01, "p_adj": 0.02, "tost_p_adj": 0.5}
    return row | cell


ROBUST_BLOCKS = {
    "main": {"tasks": ["diabetes"], "optimizers": ["nadam"], "alphas": [1, 10, 100]},
    "minibatch": {"tasks": ["diabetes"], "optimizers": ["nadam"], "alphas": [1, 10, 100],
                  "batch_size": 32},
    "activation": {"tasks": ["diabetes_tanh"], "optimizers": ["nadam"], "alphas": [1, 100]},
}  # fmt: skip


def test_robustness_matches_each_block_with_the_main_regime() -> None:
    config = make_config(
        ROBUST_BLOCKS,
        diabetes={"kind": "diabetes", "target_scale": 1e-5},
        diabetes_tanh={"kind": "diabetes", "target_scale": 1e-5, "activation": "tanh"},
    )
    rows = [
        _cmp("diabetes", 1.0, "reference", 0.0),
        _cmp("diabetes", 10.0, "better", -0.3),
        _cmp("diabetes", 100.0, "better", -0.4),
        _cmp("diabetes", 10.0, "better", -0.29, batch_size=32),  # same verdict
        _cmp("diabetes", 100.0, "neither_trains", -0.01, batch_size=32),  # changed, apart
        _cmp("diabetes_tanh", 100.0, "equivalent", -0.395),  # changed, overlapping
        _cmp("diabetes_tanh", 100.0, "worse", 0.2, quantity="test"),  # not the training metric
    ]
    assert base_task(config["tasks"], "diabetes_tanh") == "diabetes"
    assert base_task(config["tasks"], "diabetes") == "diabetes"
    found = robustness(rows, config)
    assert [b["name"] for b in found["blocks"]] == ["minibatch", "activation"]
    minibatch, activation = found["blocks"]
    assert minibatch["changes"] == ["batch_size"] and activation["changes"] == ["network"]
    assert (minibatch["n"], minibatch["n_same"]) == (2, 1)
    [differ] = minibatch["groups"][0]["differ"]
    assert differ["alpha"] == 100.0 and not differ["overlap"]
    assert differ["variant"]["verdict"] == "neither_trains"
    assert differ["base"]["verdict"] == "better"
    assert activation["groups"][0]["base_task"] == "diabetes"
    assert activation["groups"][0]["differ"][0]["overlap"]
    assert (found["n"], found["n_same"], found["n_overlap"]) == (3, 1, 1)
    assert found["reference"] == {
        "n": 1, "n_untrained": 0, "untrained_tasks": [], "n_diverged": 0, "diverged": []
    }  # fmt: skip
    # a reference that removes at most stats.untrained of its initial metric stalls
    stalled = [_cmp("diabetes", 1.0, "reference", 0.0, progress=0.01), *rows[1:]]
    reference = robustness(stalled, config)["reference"]
    assert (reference["n_untrained"], reference["untrained_tasks"]) == (1, ["diabetes"])
    moving = [_cmp("diabetes", 1.0, "reference", 0.0, progress=0.2), *rows[1:]]
    assert robustness(moving, config)["reference"]["n_untrained"] == 0
    # the held-out metric is matched too: a change from better to worse is a flip
    assert found["test"] == {"n": 0, "n_same": 0, "n_overlap": 0, "flips": []}
    held_out = [
        _cmp("diabetes", 100.0, "better", -0.2, quantity="test"),
        _cmp("diabetes", 100.0, "worse", 0.1, quantity="test", batch_size=32),
        _cmp("diabetes", 10.0, "better", -0.2, quantity="test"),
        _cmp("diabetes", 10.0, "better", -0.25, quantity="test", batch_size=32),
    ]
    test = robustness(rows + held_out, config)["test"]
    # (the tanh network's held-out row above now has a base as well: a second flip)
    assert (test["n"], test["n_same"], test["n_overlap"]) == (3, 1, 0)
    assert [(f["block"], f["alpha"], f["variant"]["verdict"]) for f in test["flips"]] == [
        ("minibatch", 100.0, "worse"),
        ("activation", 100.0, "worse"),
    ]


def test_learning_rate_choices_are_the_tasks_own(config: dict) -> None:
    own = make_config(BLOCKS, diabetes={"kind": "diabetes", "lr": {"sgd": 0.5}})
    assert lr_choices(own) == [
        {"task": "diabetes", "optimizer": "sgd", "label": "SGD", "lr": 0.5, "default": 1000.0}
    ]
    assert lr_choices(config) == []


def _robust(n_same: int, n_overlap: int) -> dict:
    return {"reference": {"n": 5, "n_diverged": 0, "diverged": []}, "blocks": [],
            "n": 10, "n_same": n_same, "n_overlap": n_overlap,
            "test": {"n": 0, "n_same": 0, "n_overlap": 0, "flips": []}}  # fmt: skip


def test_robustness_sentences_follow_the_data(context: dict) -> None:
    """The summary says the story holds only when every changed verdict is a threshold
    case (overlapping intervals)."""
    held = render("md", context | {"robustness": _robust(9, 1)}, TEMPLATES)
    assert "9 of 10 verdicts stayed the same; for every one that changed" in held
    assert "do not change the story" in held
    moved = render("md", context | {"robustness": _robust(7, 1)}, TEMPLATES)
    assert "for 1 of the 3 that changed" in moved and "do not change the story" not in moved
    assert "real differences of the regime" in moved
    assert "none of the grid's 5 reference settings diverged" in moved


def test_roundoff_bound_is_read_on_the_settings_that_train(
    inputs: dict, config: dict, tmp_path: Path
) -> None:
    frame = pd.read_csv(inputs["roundoff"])
    for trains, expected in ((True, "Over the settings that train"), (False, "None of these")):
        frame.assign(trains=trains).to_csv(tmp_path / "roundoff.csv", index=False)
        changed = csv_inputs(inputs) | {"roundoff": tmp_path / "roundoff.csv"}
        write_context(changed, config, "h", FIGURES, tmp_path / "context.json")
        md = render("md", json.loads((tmp_path / "context.json").read_text()), TEMPLATES)
        section = md.split("### Round-off against effect", 1)[1].split("###", 1)[0]
        assert expected in section
        assert ("| yes |" in section) is trains


def test_regularization_strength_sentence_follows_the_data(context: dict) -> None:
    at_one = [
        {"task": "t", "optimizer": "adam", "label": "Adam", "regularization": reg,
         "train": train, "test": 0.6, "test_best": 0.5, "weight_decay": 1.0}
        for reg, train in (("none", 0.1), ("coupled", 1.0), ("decoupled", 0.105))
    ]  # fmt: skip
    md = render("md", context | {"regularization_at_one": at_one}, TEMPLATES)
    assert "At this strength `decoupled` (Adam) moved the final training metric" in md
    at_one[2]["train"] = 0.2
    md = render("md", context | {"regularization_at_one": at_one}, TEMPLATES)
    assert "Every regularizer moved it by more than the equivalence margin" in md
    assert "even the reference from training" not in md
    # coupled decay that keeps the reference at its initial metric, and an L2 twin
    at_one[1]["progress"] = 0.001
    at_one.append(at_one[1] | {"regularization": "l2", "train": 1.001, "progress": 0.002})
    md = render("md", context | {"regularization_at_one": at_one}, TEMPLATES)
    assert "At this strength `coupled` and `l2` keep even the reference from training" in md
    assert "For Adam coupled decay and the L2 term add the same" in md
    at_one[-1]["train"] = 0.5
    md = render("md", context | {"regularization_at_one": at_one}, TEMPLATES)
    assert "For Adam coupled decay and the L2 term" not in md


def test_knee_by_update_follows_the_data(context: dict) -> None:
    md = render("md", context, TEMPLATES)
    # the synthetic knees: first updates at 4000 (predicted 5000) and 1e5 (predicted 5e4)
    assert "the knee was a factor of 1.26 above the prediction" in md
    assert "2 of 2 agreed within a factor of 10" in md
    assert "the knee of the first update, 1e5, is at or below it: at that factor the first" in md
    moved = copy.deepcopy(context)
    moved["knee"]["rows"][1]["update_knee_first"] = 1.47e5
    md = render("md", moved, TEMPLATES)
    assert "is above it: at that factor the first update is still below half its normalized" in md


def test_magnitude_summary_and_sentence() -> None:
    rows = [
        {"task": "a", "other_task": "b", "optimizer": "adam", "n_pairs": 3, "n_diverged": 0,
         "ratio": r, "max_abs_diff": 0.001}
        for r in (0.01, 0.5, 2.0)
    ]  # fmt: skip
    summary = magnitude_summary(rows)
    assert (summary["n"], summary["n_paired"], summary["n_within_sd"]) == (3, 3, 2)
    assert summary["max_ratio"] == 2.0 and summary["median_ratio"] == 0.5
    assert summary["pairs"] == [("a", "b")] and summary["optimizers"] == ["Adam"]


def test_cells_that_train_nowhere_are_not_called_equivalent() -> None:
    """A compensated cell whose runs never train is neither equivalent nor changed; one
    that is equivalent wherever it trains says so."""

    def cell(*verdicts: str) -> dict:
        rows = [_cmp("diabetes", 1.0, "reference", 0.0, quantity=q) for q in ("test", "train")]
        for i, v in enumerate(verdicts):
            rows += [_cmp("diabetes", 10.0**i + 1, v, 0.0, quantity=q) for q in ("test", "train")]
        return findings.cell_finding(rows)

    idle = cell("neither_trains", "neither_trains")
    assert idle["never_trained"] and not idle["all_equivalent"]
    assert not idle["equivalent_where_trained"] and not idle["changed"]
    mixed = cell("neither_trains", "equivalent")
    assert mixed["equivalent_where_trained"] and not mixed["never_trained"]
    moved = cell("neither_trains", "better")
    assert not (moved["equivalent_where_trained"] or moved["never_trained"]) and moved["changed"]


def _roundoff_row(optimizer: str, alpha: float, ratio: float) -> dict:
    """One round-off row of a training cell (only what the summary reads)."""
    cell = {"task": "t", "optimizer": optimizer, "precision": "float32", "regularization": "none"}
    return cell | {"compensation": "none", "alpha": alpha, "power_of_two": False,
                   "bitwise": False, "trains": True, "ratio": ratio,
                   "uncompensated_ratio": None}  # fmt: skip


def test_roundoff_exception_text_follows_where_it_occurs(context: dict) -> None:
    rows = [_roundoff_row("lion", a, 0.1) for a in (1e-4, 10.0)]
    rows += [_roundoff_row("rprop", 1e-8, 3.0), _roundoff_row("rprop", 10.0, 0.05)]
    summary = roundoff_summary(rows)
    assert summary["exceptions_alphas"] == [1e-8]
    md = render("md", context | {"roundoff": summary}, TEMPLATES)
    assert "by up to 3 at $\\alpha$ = 1e-8 and 0.05 at its other loss scales" in md
    assert "falls into float32's subnormal range" in md and "discrete decision" not in md
    # large at a big scale too: no underflow story there, the sign flip instead
    rows[-1] = _roundoff_row("rprop", 10.0, 0.5)
    rows.append(_roundoff_row("rprop", 1e8, 2.0))
    md = render("md", context | {"roundoff": roundoff_summary(rows)}, TEMPLATES)
    assert "subnormal range" not in md
    assert "other loss scales differ by up to 0.5 standard deviations" in md


def test_methods_say_how_many_references_stall(context: dict) -> None:
    choice = {"label": "SGD", "task": "t", "lr": 0.1, "default": 1000.0}
    context = context | {"study": context["study"] | {"lr_choices": [choice]}}
    reference = context["robustness"]["reference"] | {"n_untrained": 0, "untrained_tasks": []}
    md = render("md", context | {"robustness": context["robustness"] | {"reference": reference}},
                TEMPLATES)  # fmt: skip
    assert "a reference may stall" not in md
    reference |= {"n_untrained": 2, "untrained_tasks": ["diabetes"]}
    md = render("md", context | {"robustness": context["robustness"] | {"reference": reference}},
                TEMPLATES)  # fmt: skip
    assert (
        "reference settings (one per cell and setting, all seeds at $\\alpha$ = 1), on `diabetes`, remove at most"
        in md
    )
    assert "SGD on `t` uses 0.1 instead of 1000" in md


def test_settings_name_optimizers_that_changed_training_only() -> None:
    cell = {**MAIN, "task": "t", "optimizer": "adam"}
    rows = [
        cell | {"quantity": q, "alpha": a, "verdict": v, "mean": 0.5, "ref_mean": 0.5,
                "effect": 0.0, "ci_low": 0.0, "ci_high": 0.0, "n_seeds": 3, "n_pairs": 3,
                "n_diverged": 0, "p_value": 0.5, "p_adj": 0.5, "tost_p_adj": 0.5}
        for q, a, v in (("test", 1.0, "reference"), ("train", 1.0, "reference"),
                        ("test", 1e6, "inconclusive"), ("train", 1e6, "better"))
    ]  # fmt: skip
    found = setting_outcome(rows, {"task": "t"}, ["adam"])
    assert found["changed"] == [] and found["changed_train_only"] == ["Adam"]
    rows[2]["verdict"] = "better"
    found = setting_outcome(rows, {"task": "t"}, ["adam"])
    assert found["changed"] == ["Adam"] and found["changed_train_only"] == []


def test_precision_verdicts_that_differ_within_overlapping_intervals(context: dict) -> None:
    sentence = "the verdicts differ between precisions although every interval overlaps"
    assert sentence not in render("md", context, TEMPLATES)  # -0.4 [-0.5, -0.3] vs -0.93
    flipped = copy.deepcopy(context)
    [block] = [b for b in flipped["blocks"] if b["name"] == "precision"]
    cells = [c for s in block["settings"] for c in s["cells"] if c["label"] == "Adam"]
    cells[0]["test"] |= {"verdict": "inconclusive", "ci_low": -0.95, "ci_high": 0.1}
    cells[1]["test"] |= {"n_pairs": 6}
    md = render("md", flipped, TEMPLATES)
    assert f"For Adam {sentence} the others, so the data detect no effect of the precision" in md
    assert "a precision compared over more seeds has a test with more power" in md


def test_models_summary_groups_verdicts_around_the_knee():
    """Block ``models`` of the default study: one cell's held-out verdicts grouped by
    loss scale, its reference, and its verdicts a factor of knee_factor either side of
    the predicted knee."""
    import yaml

    from lossscale.config import load_schema, validate_config
    from lossscale.report.models import models_summary

    config = validate_config(yaml.safe_load(Path("config.yaml").read_text()), load_schema())
    block = config["train"]["blocks"]["models"]
    cell = {"task": "modular", "optimizer": "adam", "precision": "float32"}
    cell |= {"regularization": "none", "compensation": "none"}
    cell |= {"batch_size": block["batch_size"], "steps": block["steps"]}
    verdicts = {1e-8: "worse", 1e-7: "worse", 1e-6: "inconclusive", 1e-4: "equivalent"}
    verdicts |= {1.0: "reference", 1e4: "equivalent"}
    rows = [
        cell
        | {"quantity": q, "alpha": a, "verdict": v, "ref_mean": 0.1, "ref_progress": 0.9}
        | {"effect": 0.3, "ci_low": 0.2, "ci_high": 0.4}
        for a, v in verdicts.items()
        for q in ("train", "test")
    ]
    other_block = [r | {"steps": 1} for r in rows]  # another regime: not the block's
    knee = [cell | {"eps": 1e-8, "grad_rms_init": 1e-2, "predicted_knee": 1e-6,
                    "measured_knee": 5e-6, "ratio": 5.0, "censored": None,
                    "update_knee_first": 3e-6, "update_first_censored": "", "agrees": True}]  # fmt: skip
    summary = models_summary(rows + other_block, knee, config)
    assert summary["block"] == "models" and summary["seeds"] == block["seeds"]
    (task,) = summary["tasks"]
    (entry,) = task["optimizers"]
    assert task["name"] == "modular" and entry["ref_train"] == 0.1
    assert [(g["verdict"], g["alphas"]) for g in entry["test"]] == [
        ("worse", [1e-8, 1e-7]),
        ("inconclusive", [1e-6]),
        ("equivalent", [1e-4, 1e4]),
    ]
    assert entry["test"][1]["effects"] == [
        {"alpha": 1e-6, "effect": 0.3, "ci_low": 0.2, "ci_high": 0.4}
    ]
    factor = config["stats"]["knee_factor"]
    assert factor == 10
    assert entry["knee"]["test"]["above"] == {
        "alphas": [1e-4, 1e4], "equivalent": [1e-4, 1e4], "inconclusive": [], "worse": []
    }  # fmt: skip
    assert entry["knee"]["train"]["below"] == entry["knee"]["test"]["below"]
    assert entry["knee"]["test"]["below"] == {
        "alphas": [1e-8, 1e-7],
        "equivalent": [],
        "inconclusive": [],
        "worse": [1e-8, 1e-7],
    }
    assert entry["knee"]["ratio"] == 5.0
    assert models_summary(rows, knee, {**config, "train": {**config["train"], "blocks": {
        "main": config["train"]["blocks"]["main"]}}}) is None  # fmt: skip


def test_label_page_reads_the_aux_file(tmp_path: Path) -> None:
    """The page where the references start, from the labels LaTeX (with hyperref) writes."""
    aux = tmp_path / "paper.aux"
    aux.write_text(
        "\\newlabel{sec:rule}{{3}{2}{A rule}{section.3}{}}\n"
        "\\newlabel{references}{{6}{9}{Limitations}{section*.7}{}}\n"
    )
    assert label_page(aux, REFERENCES_LABEL) == 9
    assert label_page(aux, "sec:rule") == 2
    assert label_page(aux, "nowhere") is None
    assert label_page(tmp_path / "missing.aux", REFERENCES_LABEL) is None


def _main_text(context: dict) -> str:
    """The paper's Markdown before its references."""
    return rendering.render("md", context, TEMPLATES, sources=STAND_IN).split("## References")[0]


def test_main_text_answer_and_rule_follow_the_phase_map(
    context: dict, inputs: dict, config: dict, tmp_path: Path
) -> None:
    """The answer and the asker's row of the rule name the cells of the observation and
    the bands of the raised learning rate; once the raised learning rate blows up at
    the main magnitude too, the 'both remedies trained' sentence goes."""
    text = _main_text(context)
    ratio = "$a\\,\\mathrm{RMS}(g_0)/\\epsilon$"
    assert "blew up in 1 cell with the scaled gradient 1e4 times $\\epsilon$" in text
    assert "your factor of 1e5 lifts the gradient only to 100 times $\\epsilon$" in text
    assert "both remedies trained" in text
    row = next(line for line in text.splitlines() if line.startswith("| Adam-type, $\\mathrm"))
    assert "the asker's case" not in row  # the first Adam-type row is the normalized regime
    asker = next(line for line in text.splitlines() if "(the asker's case)" in line)
    assert (
        f"also trained in the one cell with {ratio} up to 100 and blew up in the one cell" in asker
    )
    flipped = dict(phase_data.OUTCOMES) | {("diabetes", "lr", 1e5): "explodes"}
    changed = _main_text(_phase_context(inputs, config, tmp_path, flipped))
    assert "both remedies trained" not in changed
    assert "blew up in 2 cells, all with the scaled gradient 100 to 1e4 times" in changed
    assert "the map shows your observation" in changed


def test_main_text_follows_invariance_roundoff_and_held_out_data(context: dict) -> None:
    """Flip the data behind three main-text claims and the sentences flip: Adam and NAdam
    unchanged by the loss scale; no exception to the round-off bound; the scaled loss's
    held-out error no worse than unscaled."""
    text = _main_text(context)
    assert "Your implementation is probably not wrong." in text
    summary = context["summary"] | {"invariant_changed": [], "invariant_unchanged": ["Adam"]}
    unchanged = _main_text(context | {"summary": summary})
    assert "Your implementation is probably not wrong." not in unchanged
    assert "left Adam equivalent to the unscaled loss at every loss scale" in unchanged
    assert "invariant to the loss scale except through" not in unchanged
    rows = [r | {"label": "Rprop", "trains": True, "max_ratio": 3.5} for r in
            context["roundoff"]["rows"][:1]] + context["roundoff"]["rows"]  # fmt: skip
    exceptions = [{"label": "Rprop", "compensation": "none"}]
    loud = _main_text(context | {"roundoff": context["roundoff"] | {"rows": rows,
                                 "exceptions": exceptions}})  # fmt: skip
    assert "for every optimizer but Rprop, whose test of the sign" in loud
    assert "(up to 3.5; Table S" in loud
    pattern = context["phase"]["pattern"]
    test = pattern["test"] | {"loss": pattern["test"]["ref"]}
    phase = context["phase"] | {"pattern": pattern | {"test": test}}
    fair = _main_text(context | {"phase": phase})
    overfit = "the better fit came with overfitting"
    assert (overfit in text) == (pattern["test"]["loss"]["min"] > pattern["test"]["ref"]["max"])
    assert overfit not in fair and "Fitting better is not generalizing better" not in fair
