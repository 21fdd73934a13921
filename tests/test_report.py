"""Tests of the report stage on small synthetic result files."""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import jinja2
import pandas as pd
import pytest

from lossscale.config import load_schema, validate_config
from lossscale.report import (
    LatexError,
    build_pdf,
    claims_rows_from_markdown,
    fmt_num,
    parse_markdown_tables,
    render,
    render_paper,
    results_rows_from_markdown,
    tex_escape,
    theory_rows_from_markdown,
    write_context,
)
from lossscale.report.bib import read_bib
from lossscale.report.context import direction
from lossscale.report.filters import md_escape, md_unescape, tex_num

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "paper/templates"
NASTY = r"50%_{x} & $\input{...}$"
FIGURES = ("final_loss_vs_alpha",)


# --- synthetic inputs -------------------------------------------------------------------


@pytest.fixture(scope="module")
def config() -> dict:
    """The schema's defaults, validated like the workflow does, with a small grid."""
    schema = load_schema(ROOT / "workflow/schemas/config.schema.yaml")
    return validate_config(
        {"train": {"alphas": [1, 10, 1e5], "seeds": 3, "optimizers": ["sgd", "adam", "nadam"]}},
        schema,
    )


def comparisons_frame() -> pd.DataFrame:
    """Test and train rows for three optimizers at alpha = 1, 10, 1e5 (with NaNs)."""
    rows = []
    # (optimizer, alpha) -> (mean, effect, ci_low, ci_high, n_diverged)
    cells = {
        ("sgd", 1.0): (0.52, 0.0, 0.0, 0.0, 0),
        ("sgd", 10.0): (0.61234, 0.0923, -0.01, 0.2, 0),
        ("sgd", 1e5): (math.nan, math.nan, math.nan, math.nan, 3),
        ("adam", 1.0): (0.93, 0.0, 0.0, 0.0, 0),
        ("adam", 10.0): (0.93, 0.0, 0.0, 0.0, 0),
        ("adam", 1e5): (0.000123456, -0.9298765, -0.95, -0.91, 0),
        ("nadam", 1.0): (0.9, 0.0, 0.0, 0.0, 0),
        ("nadam", 10.0): (0.8, -0.1, -0.3, 0.05, 0),
        ("nadam", 1e5): (12345.6, 12344.7, 1.5e3, 2.5e4, 1),
    }
    for (opt, alpha), (mean, effect, lo, hi, div) in cells.items():
        for quantity, shift in (("test", 0.0), ("train", -0.01)):
            rows.append(
                {
                    "task": "diabetes",
                    "optimizer": opt,
                    "precision": "float32",
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
    return pd.DataFrame(rows)


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


def test_context_content(context: dict, config: dict) -> None:
    assert set(context) == {
        "study",
        "optimizers",
        "claims",
        "theory",
        "claim_list",
        "derivations",
        "ledger_counts",
        "comparisons",
        "results",
        "findings",
        "summary",
        "figures",
        "provenance",
    }
    assert [f["optimizer"] for f in context["findings"]] == ["sgd", "adam", "nadam"]
    sgd, adam, nadam = context["findings"]
    assert sgd["test"]["direction"] == "undetermined" and sgd["best"]["alpha"] == 1.0
    assert adam["test"]["direction"] == "lower" and adam["lower_alphas"] == [1e5]
    assert nadam["test"]["direction"] == "higher" and nadam["diverged_alphas"] == [1e5]
    assert context["summary"]["invariant_by_direction"]["lower"] == ["Adam"]
    assert context["summary"]["contradicted_claims"] == [NASTY]
    assert context["study"]["alphas"] == [1.0, 10.0, 1e5]
    assert context["study"]["confidence_percent"] == pytest.approx(95)
    prov = context["provenance"]
    assert prov["config_hash"] == "abc123" and prov["commit"] == "unknown"
    assert {"torch", "snakemake", "numpy", "pandas", "scipy", "jinja2"} <= set(prov["versions"])
    # NaN becomes null, so the JSON is standard
    assert context["results"][2]["mean"] is None


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
    assert r"\includegraphics[width=0.8\linewidth]{figures/final_loss_vs_alpha.pdf}" in tex
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
    """The e2e check: the results table, parsed back, equals comparisons.csv via fmt_num."""
    table = results_rows_from_markdown((paper / "paper.md").read_text())
    csv = pd.read_csv(inputs["comparisons"])
    csv = csv[csv["quantity"] == "test"]
    expected = [
        {
            "task": r.task,
            "optimizer": r.optimizer,
            "precision": r.precision,
            **{
                k: fmt_num(getattr(r, k))
                for k in ("alpha", "n_seeds", "n_diverged", "mean", "effect", "ci_low", "ci_high")
            },
        }
        for r in csv.itertuples()
    ]
    assert table == expected


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


def test_shared_partials_need_no_escaping() -> None:
    """Literal prose in partials is valid LaTeX and Markdown as it stands."""
    tag = re.compile(r"\(\(\(.*?\)\)\)|\(\(\*.*?\*\)\)|\(\(=.*?=\)\)", re.S)
    for path in sorted((TEMPLATES / "partials").glob("*.j2")):
        text = tag.sub("", path.read_text())
        bad = sorted(set(re.findall(r"[\\{}$&%#_^~*\[\]<>|`\"]|--|\(\(\(", text)))
        assert not bad, f"{path.name}: {bad}"
        assert text.isascii(), path.name


def test_every_reference_is_cited(paper: Path) -> None:
    tex = (paper / "paper.tex").read_text()
    cited = {k for group in re.findall(r"\\cite[tp]\{([^}]*)\}", tex) for k in group.split(",")}
    assert cited == set(read_bib(TEMPLATES / "refs.bib"))
    md = (paper / "paper.md").read_text()
    assert md.count("\n- ") >= len(cited)


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
