"""Tests of the report stage on small synthetic result files, and of its inputs: the
statistics, the main slice of the grid and the figure."""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import jinja2
import pandas as pd
import pytest
import yaml

from lossscale import grid
from lossscale.config import load_schema, validate_config
from lossscale.figures.alpha_sweep import plot_alpha_sweep
from lossscale.figures.theme import save_figure, set_theme
from lossscale.report import (
    LatexError,
    blocks_rows_from_markdown,
    build_pdf,
    claims_rows_from_markdown,
    fmt_num,
    parse_markdown_tables,
    render,
    render_paper,
    results_rows_from_markdown,
    tasks_rows_from_markdown,
    tex_escape,
    theory_rows_from_markdown,
    write_context,
)
from lossscale.report.bib import read_bib
from lossscale.report.context import direction
from lossscale.report.filters import (
    fmt_alpha,
    fmt_count,
    md_escape,
    md_unescape,
    parse_alpha,
    tex_alpha,
    tex_num,
)
from lossscale.report.render import cited_keys
from lossscale.stats import slices
from lossscale.stats.load import FINAL_COLUMNS, read_final, read_histories
from lossscale.stats.paired import compare_all
from lossscale.tables import (
    COMPARISON_COLUMNS,
    OPTIMIZER_LABELS,
    TRAIN_ID_COLUMNS,
    TRAIN_RECORD_COLUMNS,
)

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "paper/templates"
SCHEMA = ROOT / "workflow/schemas/config.schema.yaml"
NASTY = r"50%_{x} & $\input{...}$"
FIGURES = ("final_loss_vs_alpha",)


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


def make_config(blocks: dict, **tasks) -> dict:
    """The schema's defaults, validated like the workflow does, with ``blocks``."""
    schema = load_schema(SCHEMA)
    raw = {"train": {"seeds": 3, "blocks": blocks}}
    if tasks:
        raw["tasks"] = tasks
    return validate_config(raw, schema)


@pytest.fixture(scope="module")
def config() -> dict:
    return make_config(BLOCKS)


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
                    "mean": mean + shift,
                    "ref_mean": 0.5,
                    "effect": effect + shift,
                    "ci_low": lo + shift,
                    "ci_high": hi + shift,
                    "confidence": 0.95,
                }
            )
    return rows


MAIN = {"task": "diabetes", "precision": "float32", "regularization": "none"}
MAIN |= {"compensation": "none", "weight_decay": 0.0}


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


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path | list[Path]]:
    root = tmp_path_factory.mktemp("results")
    comparisons_frame().to_csv(root / "comparisons.csv", index=False)
    claims_frame().to_csv(root / "claims.csv", index=False)
    return {
        "claims": root / "claims.csv",
        "comparisons": root / "comparisons.csv",
        "figures": _write_figures(root / "figures"),
    }


@pytest.fixture(scope="module")
def context(inputs: dict, config: dict, tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("report") / "context.json"
    write_context(
        inputs["claims"], inputs["comparisons"], config, "abc123", FIGURES, out, repo=None
    )
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def paper(context: dict, inputs: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A rendered paper directory: paper.tex, paper.md, refs.bib, figures/."""
    root = tmp_path_factory.mktemp("paper")
    (root / "context.json").write_text(json.dumps(context))
    render_paper(root / "context.json", TEMPLATES, root / "build", inputs["figures"])
    return root / "build"


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
    assert tex_num(1.23456e-5) == r"$1.23\times10^{-5}$"
    assert tex_num(1e5) == r"$10^{5}$"
    assert tex_num(-0.5) == "$-0.5$"
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
    assert tex_alpha(1024.0) == "$2^{10}$" and tex_alpha(1e5) == "$10^{5}$"


# --- context ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("effect", "low", "high", "expected"),
    [
        (-1.0, -2.0, -0.5, "lower"),
        (1.0, 0.5, 2.0, "higher"),
        (0.1, -0.1, 0.3, "none"),
        (0.0, 0.0, 0.0, "identical"),
        (None, None, None, "undetermined"),
        (math.nan, -1.0, 1.0, "undetermined"),
    ],
)
def test_direction(effect, low, high, expected) -> None:
    assert direction(effect, low, high) == expected


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
        "blocks",
        "asker",
        "focal",
        "summary",
        "figures",
        "provenance",
    }
    # findings: the main slice only (float32, no regularization, no compensation), one
    # per optimizer, in config order although the CSV lists adam first
    assert [f["optimizer"] for f in context["findings"]] == ["sgd", "adam", "nadam"]
    assert {(f["precision"], f["compensation"]) for f in context["findings"]} == {
        ("float32", "none")
    }
    sgd, adam, nadam = context["findings"]
    assert sgd["test"]["direction"] == "undetermined" and sgd["best"]["alpha"] == 1.0
    assert adam["test"]["direction"] == "lower" and adam["lower_alphas"] == [1e5]
    assert nadam["test"]["direction"] == "higher" and nadam["diverged_alphas"] == [1e5]
    assert context["summary"]["invariant_by_direction"]["lower"] == ["Adam"]
    assert context["summary"]["by_direction"]["undetermined"] == ["SGD"]
    assert context["summary"]["contradicted_claims"] == [NASTY]
    assert context["study"]["confidence_percent"] == pytest.approx(95)
    prov = context["provenance"]
    assert prov["config_hash"] == "abc123" and prov["commit"] == "unknown"
    assert {"torch", "snakemake", "numpy", "pandas", "scipy", "jinja2"} <= set(prov["versions"])
    # NaN becomes null, so the JSON is standard
    assert context["results"][1]["mean"] is None


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
    assert precision["alpha"] == 1e5 and precision["varies"]["precision"]
    by_precision = {s["precision"]: s for s in precision["settings"]}
    assert by_precision["float64"]["lower"] == ["Adam"]
    assert by_precision["float32"]["lower"] == ["Adam"]
    asker = {s["compensation"]: s for s in blocks["asker"]["settings"]}
    assert asker["lr_instead"]["undetermined"] == ["NAdam"]
    assert asker["none"]["higher"] == ["NAdam"]
    [alternative] = context["asker"]
    assert alternative["lr"]["direction"] == "undetermined" and alternative["lr"]["n_diverged"] == 3
    assert alternative["loss"]["direction"] == "higher"
    assert context["focal"] is None, "the synthetic grid trains no focal-loss task"


def test_context_rejects_missing_columns(inputs: dict, config: dict, tmp_path: Path) -> None:
    pd.read_csv(inputs["claims"]).drop(columns="tolerance").to_csv(tmp_path / "c.csv")
    with pytest.raises(ValueError, match="tolerance"):
        write_context(
            tmp_path / "c.csv", inputs["comparisons"], config, "h", FIGURES, tmp_path / "x"
        )


# --- rendering --------------------------------------------------------------------------


def test_render_writes_everything(paper: Path) -> None:
    for name in ("paper.tex", "paper.md", "refs.bib", "figures/final_loss_vs_alpha.pdf"):
        assert (paper / name).is_file(), name
    tex = (paper / "paper.tex").read_text()
    assert tex.startswith(r"\pdfinfoomitdate=1 \pdftrailerid{} \pdfsuppressptexinfo=-1")
    assert "keepaspectratio]{figures/final_loss_vs_alpha.pdf}" in tex
    assert "[sweep]: figures/final_loss_vs_alpha.png" in (paper / "paper.md").read_text()


def test_nasty_label_is_escaped_in_both_formats(paper: Path) -> None:
    tex = (paper / "paper.tex").read_text()
    assert NASTY not in tex
    plain = tex.replace(r"\allowbreak{}", "")  # break points the code filter adds
    assert r"\texttt{50\%\_\{x\} \& \$\textbackslash{}input\{...\}\$}" in plain
    assert "\\input{...}" not in tex
    claims = claims_rows_from_markdown((paper / "paper.md").read_text())
    assert claims[2]["claim_id"] == NASTY


def test_markdown_table_matches_comparisons(paper: Path, inputs: dict) -> None:
    """The e2e check: the results table, parsed back, equals the main slice of
    comparisons.csv at the table's alphas, via fmt_num."""
    table = results_rows_from_markdown((paper / "paper.md").read_text())
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
        }
        for r in csv.itertuples()
    ]
    assert table == expected and len(table) == 6


def test_markdown_blocks_and_tasks_tables_match_the_grid(paper: Path, config: dict) -> None:
    md = (paper / "paper.md").read_text()
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


def test_markdown_claims_table_matches_claims(paper: Path, inputs: dict) -> None:
    table = claims_rows_from_markdown((paper / "paper.md").read_text())
    csv = pd.read_csv(inputs["claims"])  # one check per claim in the synthetic ledger
    assert [r["claim_id"] for r in table] == list(csv["claim_id"])
    assert [r["transformation"] for r in table] == list(csv["transformation"])
    assert [r["deviation"] for r in table] == [fmt_num(x) for x in csv["max_rel_deviation"]]
    assert [r["n_checks"] for r in table] == ["1"] * len(csv)


def test_markdown_theory_table_has_one_row_per_subject(paper: Path, inputs: dict) -> None:
    table = theory_rows_from_markdown((paper / "paper.md").read_text())
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
    return text.split("Answer", 1)[1]


def test_finding_sentence_follows_the_data(context: dict) -> None:
    answer = _answer(context)
    assert "The interval lies below zero: scaling the loss lowered the test error." in answer
    assert "the data disagree with it" in answer
    assert (
        "the final test error was detectably lower for Adam; detectably higher for NAdam;" in answer
    )
    flipped = json.loads(json.dumps(context))
    for f in flipped["findings"]:  # Adam's effect at the largest alpha: now CI contains zero
        if f["optimizer"] == "adam":
            f["test"].update(effect=0.01, ci_low=-0.02, ci_high=0.04, direction="none")
            f["test"]["changed"] = False
    flipped["summary"]["invariant_by_direction"] = {"lower": [], "higher": ["NAdam"]}
    answer = _answer(flipped)
    adam = answer.split("For Adam", 1)[1].split("For NAdam", 1)[0]
    assert "The interval contains zero: no change was detectable" in adam
    assert "lowered the test error" not in adam
    assert "higher for NAdam" in answer


def test_asker_alternative_and_blocks_follow_the_data(context: dict) -> None:
    answer = _answer(context)
    assert "the learning rate multiplied by 1e5,\nno comparison was possible, as 3 of 3" in answer
    md = render("md", context, TEMPLATES)
    blocks = md.split("### Blocks of the grid", 1)[1].split("## Answer", 1)[0]
    assert "In float64 precision, the test metric was detectably lower for Adam." in blocks
    assert "With compensation `lr_instead`, the test metric was not comparable" in blocks
    assert "Block `main`" not in blocks, "a block with nothing beyond the answer says nothing"
    flipped = json.loads(json.dumps(context))
    precision = next(b for b in flipped["blocks"] if b["name"] == "precision")
    float64 = next(s for s in precision["settings"] if s["precision"] == "float64")
    float64["clauses"] = [{"direction": "higher", "labels": ["Adam"]}]
    md = render("md", flipped, TEMPLATES)
    assert "In float64 precision, the test metric was detectably higher for Adam." in md
    assert "this configuration trains no focal-loss task" in answer


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
    assert "Loshchilov" not in references and "Kingma" in references


def test_default_config_cites_every_reference(inputs: dict, tmp_path: Path) -> None:
    """refs.bib holds no entry that the default study leaves uncited."""
    default = yaml.safe_load((ROOT / "config.yaml").read_text())
    write_context(
        inputs["claims"],
        inputs["comparisons"],
        validate_config(default, load_schema(SCHEMA)),
        "h",
        FIGURES,
        tmp_path / "context.json",
    )
    context = json.loads((tmp_path / "context.json").read_text())
    assert len(context["optimizers"]) == len(OPTIMIZER_LABELS) == 16
    assert set(cited_keys("tex", context, TEMPLATES)) == set(read_bib(TEMPLATES / "refs.bib"))
    # a focal-loss task in the grid, but no comparisons of it in the synthetic CSV
    assert context["focal"] == {"focal": [], "cross_entropy": []}
    md = render("md", context, TEMPLATES)
    assert "focal loss (Lin et al., 2017)" in md
    assert "trains no focal-loss task" not in md


def test_render_without_result_rows(inputs: dict, config: dict, tmp_path: Path) -> None:
    """Empty result tables still give a complete paper (the sentences say so)."""
    for name in ("claims", "comparisons"):
        pd.read_csv(inputs[name]).iloc[:0].to_csv(tmp_path / f"{name}.csv", index=False)
    write_context(
        tmp_path / "claims.csv",
        tmp_path / "comparisons.csv",
        config,
        "h",
        FIGURES,
        tmp_path / "context.json",
    )
    render_paper(tmp_path / "context.json", TEMPLATES, tmp_path / "build", inputs["figures"])
    md = (tmp_path / "build/paper.md").read_text()
    assert "No derivation checks were run" in md
    assert results_rows_from_markdown(md) == []


def test_render_paper_needs_the_figures(context: dict, tmp_path: Path) -> None:
    (tmp_path / "context.json").write_text(json.dumps(context))
    with pytest.raises(FileNotFoundError, match="final_loss_vs_alpha"):
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
    assert len(table) == 2 * 2 * 2
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
        compare_all(final, 0.95, 200, 0), compare_all(read_histories(paths), 0.95, 200, 0)
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
    }
    orders = slices.grid_orders(default)
    main = default["train"]["blocks"]["main"]["optimizers"]
    assert orders["optimizer"][: len(main)] == main and len(set(orders["optimizer"])) == 16
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


def test_alpha_sweep_figure_has_a_panel_per_task_at_the_main_settings(tmp_path: Path) -> None:
    set_theme()
    history = history_frame()
    digits = history.assign(task="digits", test_metric=history["test_metric"] / 10)
    other = history.assign(task="teacher_student", precision="float64")  # not main settings
    frame = pd.concat([history, digits, other], ignore_index=True)
    tasks = {"diabetes": {"kind": "diabetes"}, "digits": {"kind": "digits", "objective": "focal"}}
    fig = plot_alpha_sweep(frame, tasks, task_order=["digits", "diabetes"])
    panels = [ax for ax in fig.axes if ax.get_visible() and ax.axison]
    assert [ax.get_title() for ax in panels] == ["digits", "diabetes"]
    assert panels[0].get_yscale() == "linear" and "error rate" in panels[0].get_ylabel()
    assert panels[1].get_yscale() == "log" and "normalized MSE" in panels[1].get_ylabel()
    # one line per optimizer: regularization none only (coupled is another setting)
    [line] = [ln for ln in panels[1].get_lines() if len(set(ln.get_xdata())) > 1]
    assert list(line.get_xdata()) == [1.0, 1024.0]
    assert list(line.get_ydata()) == pytest.approx([1.1, 1.1])
    save_figure(fig, tmp_path / "a.pdf", tmp_path / "a.png")
    fig = plot_alpha_sweep(frame, tasks, task_order=["digits", "diabetes"])
    save_figure(fig, tmp_path / "b.pdf", tmp_path / "b.png")
    for ext in ("pdf", "png"):
        assert (tmp_path / f"a.{ext}").read_bytes() == (tmp_path / f"b.{ext}").read_bytes()
    assert b"CreationDate" not in (tmp_path / "a.pdf").read_bytes()
