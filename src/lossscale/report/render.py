"""Render the paper's LaTeX and Markdown sources from one context with Jinja2.

Both formats use the same templates for their prose (``partials/``) and the same filter
names; a ``Format`` supplies what differs (escaping, math, citations). Every ``((( ... )))``
expression passes through ``finalize``: text is escaped for the format, numbers that did
not go through ``|num`` are an error, and only filter output (``Safe``) passes unchanged.
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from lossscale.figures import FIGURES, REGISTRY
from lossscale.io import atomic_path, read_json, write_text
from lossscale.report.bib import BibEntry, read_bib, reference_text
from lossscale.report.filters import (
    NA,
    Safe,
    fmt_count,
    is_missing,
    md_alpha,
    md_escape,
    md_num,
    tex_alpha,
    tex_escape,
    tex_num,
)
from lossscale.runtime import SUMMARY_KEYS

log = logging.getLogger(__name__)

FORMATS = ("tex", "md")
BIB_NAME = "refs.bib"
#: Keys every report context has (results/report/context.json), checked when it is read.
CONTEXT_KEYS = ("study", "figures", "provenance", "results")

#: Symbols the prose uses, as LaTeX math: ``$...$`` in both formats (GitHub renders
#: Markdown math).
SYMBOLS: dict[str, str] = {
    "alpha": r"\alpha",
    "alpha_star": r"\alpha^*",
    "eta": r"\eta",
    "eps": r"\epsilon",
    "lambda": r"\lambda",
    "times": r"\times",
    "approx": r"\approx",
    "adam_update": r"\eta\,\hat m_t / (\sqrt{\hat v_t} + \epsilon)",
    "eps_limit": r"(\eta/\epsilon)\,\hat m_t",
    "eta_over_eps": r"\eta/\epsilon",
    "alpha_eta": r"\alpha\eta",
    "lambda_over_alpha": r"\lambda/\alpha",
    "knee": r"\alpha^* = \epsilon / \mathrm{RMS}(g_0)",
    "loss_step": r"\eta\,\alpha\hat m_t / (\alpha\sqrt{\hat v_t} + \epsilon)",
    "lr_step": r"\alpha\eta\,\hat m_t / (\sqrt{\hat v_t} + \epsilon)",
    "eps_step": r"\alpha\eta\,\hat m_t / \epsilon",
    "grad_over_eps": r"\mathrm{RMS}(g_0)/\epsilon",
    "rms_g0": r"\mathrm{RMS}(g_0)",
    "m_hat": r"\hat m_t",
    "v_hat": r"\hat v_t",
    "eta_rms_over_eps": r"\eta\,\mathrm{RMS}(g_0)/\epsilon",
    "a": "a",
    "leq": r"\leq",
    "gt": ">",
    "ast": r"{}^{\ast}",
    "s": "s",
    "s_squared": "s^2",
    "a_s_squared": r"a\,s^2",
    "scaled_over_eps": r"a\,\mathrm{RMS}(g_0)/\epsilon",
    "eps_step_a": r"a\eta\,\hat m_t / \epsilon",
    "a_eta": r"a\eta",
    "P": "P",
    "P_over_eta": r"P/\eta",
    "sqrt_one_minus_rho": r"\sqrt{1-\rho}",
}
#: The percent sign, which is text, not math: (LaTeX, Markdown).
PERCENT = (r"\%", "%")

#: Numbered tables and figures of the paper and of its supplement, each in the order
#: shown (the figures follow ``lossscale.figures.FIGURES``); the LaTeX labels are
#: ``tab:<name>`` and ``fig:<name>``. The supplement numbers its own as S1, S2, ...
#: Items the context lacks (``present``) are skipped when numbering.
TABLES = {
    "paper": ("rule",),
    "supplement": (
        "tasks",
        "blocks",
        "theory",
        "results",
        "knee",
        "roundoff",
        "phase",
        "layers",
        "verdicts",
        "claims",
    ),
}
_MAIN_FIGURES = ("mechanism", "phase_diagram", "verdict_heatmap", "models_sweep")
FIGURES_IN = {
    "paper": tuple(f for f in FIGURES if f in _MAIN_FIGURES),
    "supplement": tuple(f for f in FIGURES if f not in _MAIN_FIGURES),
}
#: The documents rendered from one context: the paper and its supplement.
DOCUMENTS = tuple(TABLES)
#: The supplement's sections, cited from both documents as "Supplement S<n>".
#: The paper's numbered sections (LaTeX labels ``sec:<name>``), cited as ``<name>_section``.
PAPER_SECTIONS = ("question", "answer", "rule", "mechanism", "evidence", "limitations")
SECTIONS = ("setup", "derivations", "full_results", "answers", "ledger", "notes", "reproducibility")


def present(context: Mapping[str, Any], document: str = "paper") -> dict[str, list[str]]:
    """The tables and figures ``document`` shows for ``context``, in order."""
    empty = {
        "knee": not context["knee"]["rows"],
        "roundoff": not context["roundoff"]["rows"],
        "phase": not context["phase"]["n"],
        "layers": not (context["phase"]["n"] and context["phase"]["layers"]),
    }
    return {
        "tab": [t for t in TABLES[document] if not empty.get(t, False)],
        "fig": [f for f in FIGURES_IN[document] if f in context["figures"]],
    }


def references(fmt: Format, context: Mapping[str, Any], document: str = "paper") -> dict[str, Safe]:
    """Cross-references by name for ``document``: its own items by cleveref in LaTeX
    ("Table 3" in Markdown), the other document's as plain text ("Table S2"), the
    supplement's sections as "Supplement S3" (in the supplement: "Section S3")."""
    refs = {}
    for other in DOCUMENTS:
        prefix = "S" if other == "supplement" else ""
        for kind, names in present(context, other).items():
            word = "Table" if kind == "tab" else "Figure"
            for i, name in enumerate(names, 1):
                own = fmt is TEX and other == document
                refs[name] = Safe(f"\\cref{{{kind}:{name}}}" if own else f"{word} {prefix}{i}")
    word = "Supplement" if document == "paper" else "Section"
    for i, name in enumerate(SECTIONS, 1):
        refs[name] = Safe(f"{word} S{i}")
    for i, name in enumerate(PAPER_SECTIONS, 1):
        own = f"\\cref{{sec:{name}}}" if fmt is TEX else f"Section {i}"
        refs[f"{name}_section"] = Safe(own if document == "paper" else f"Section {i} of the paper")
    return refs


_SAFE_PATH = re.compile(r"^[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)*$")


@dataclass(frozen=True)
class Format:
    """What differs between the LaTeX and the Markdown rendering."""

    name: str
    escape: Callable[[object], Safe]
    num: Callable[..., Safe]
    alpha: Callable[..., Safe]
    math: Callable[[str], Safe]
    code: Callable[[object], Safe]
    display: Callable[[str], Safe]
    emph: Callable[[object], Safe]
    quote: Callable[[object], Safe]
    cite: Callable[[Sequence[BibEntry], bool], Safe]
    subsection: Callable[[str], Safe]


def _md_code(text: object) -> Safe:
    """A Markdown code span (bars escaped, as GitHub tables require)."""
    body = str(text).replace("|", "\\|")
    fence = "``" if "`" in body else "`"
    return Safe(f"{fence}{body}{fence}")


def _tex_code(text: object) -> Safe:
    """Typewriter text that may break after _ / * . - and inside long runs (commit hashes)."""
    body = re.sub(r"(\\_|[/*.-])", r"\1\\allowbreak{}", tex_escape(text))
    body = re.sub(
        r"(?<![\\A-Za-z0-9])[0-9A-Za-z]{16,}",
        lambda m: "\\allowbreak{}".join(re.findall(".{1,8}", m.group())),
        body,
    )
    return Safe(f"\\texttt{{{body}}}")


def _md_cite(entries: Sequence[BibEntry], textual: bool) -> Safe:
    if textual:
        return md_escape("; ".join(f"{e.label()} ({e.year})" for e in entries))
    return md_escape("(" + "; ".join(f"{e.label()}, {e.year}" for e in entries) + ")")


def _tex_cite(entries: Sequence[BibEntry], textual: bool) -> Safe:
    return Safe(("\\citet{" if textual else "\\citep{") + ",".join(e.key for e in entries) + "}")


TEX = Format(
    name="tex",
    escape=tex_escape,
    num=tex_num,
    alpha=tex_alpha,
    math=lambda tex: Safe(f"${tex}$"),
    code=_tex_code,
    display=lambda tex: Safe(f"\\fiteq{{{tex}}}"),
    emph=lambda s: Safe(f"\\emph{{{tex_escape(s)}}}"),
    quote=lambda s: Safe(f"``{tex_escape(s)}''"),
    cite=_tex_cite,
    subsection=lambda title: Safe(f"\\subsection{{{tex_escape(title)}}}"),
)
MD = Format(
    name="md",
    escape=md_escape,
    num=md_num,
    alpha=md_alpha,
    math=lambda tex: Safe(f"${tex}$"),
    code=_md_code,
    display=lambda tex: Safe(f"$$\n{tex}\n$$"),
    emph=lambda s: Safe(f"*{md_escape(s)}*"),
    quote=lambda s: Safe(f"“{md_escape(s)}”"),
    cite=_md_cite,
    subsection=lambda title: Safe(f"### {md_escape(title)}"),
)


def _finalize(fmt: Format) -> Callable[[Any], Safe]:
    def finalize(value: Any) -> Safe:
        if isinstance(value, Safe):
            return value
        if value is None:  # a missing cell, e.g. an empty CSV field
            return Safe(NA)
        if isinstance(value, str):
            return fmt.escape(value)
        raise TypeError(
            f"{value!r} reached the {fmt.name} template unformatted: "
            "numbers go through |num, other values through a filter"
        )

    return finalize


def _and_join(fmt: Format, items: Iterable[Any]) -> Safe:
    """``A``, ``A and B``, ``A, B and C``, each item escaped (or numbers formatted)."""
    parts = [_text(fmt, x) for x in items]
    if len(parts) <= 1:
        return Safe("".join(parts))
    return Safe(", ".join(parts[:-1]) + " and " + parts[-1])


def _text(fmt: Format, x: Any) -> Safe:
    """A number formatted, anything else escaped (filter output passes unchanged)."""
    return fmt.num(x) if isinstance(x, int | float) and not isinstance(x, bool) else fmt.escape(x)


def _ci(fmt: Format, row: Mapping[str, Any]) -> Safe:
    """A confidence interval ``[low, high]`` from a row's ci_low/ci_high; n/a when absent."""
    low, high = row["ci_low"], row["ci_high"]
    if is_missing(low) and is_missing(high):
        return Safe(NA)
    return Safe(f"[{fmt.num(low)}, {fmt.num(high)}]")


def _path(text: str) -> Safe:
    """A relative file path used verbatim (\\includegraphics, Markdown image links)."""
    if not _SAFE_PATH.match(text) or ".." in text.split("/"):
        raise ValueError(f"unsafe figure path {text!r}: use letters, digits, _ . - and /")
    return Safe(text)


@dataclass(frozen=True)
class Source:
    """A result file behind a table or figure: its path (relative to the run folder),
    the first hex digits of its sha256, and the workflow rule that made it (with the
    rule file and line, relative to the repository, for the Markdown link)."""

    path: str
    sha256: str
    rule: str
    rule_file: str
    rule_line: int


#: Hex digits of a file's sha256 that a caption shows.
SHA_DIGITS = 10
#: How the Markdown paper (paper/build/) reaches the run folder and the repository.
MD_ROOT = "../../"


def file_sha256(path: str | Path) -> str:
    """The sha256 of a file's bytes, in hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_sources(
    entries: Mapping[str, Sequence[Mapping[str, Any]]], root: str | Path = "."
) -> dict[str, list[Source]]:
    """``Source`` lists from the workflow's description of each item's files (path
    relative to ``root``, rule, rule_file, rule_line), each file hashed as it is now."""
    return {
        item: [
            Source(
                path=str(e["path"]),
                sha256=file_sha256(Path(root) / e["path"])[:SHA_DIGITS],
                rule=str(e["rule"]),
                rule_file=str(e["rule_file"]),
                rule_line=int(e["rule_line"]),
            )
            for e in files
        ]
        for item, files in entries.items()
    }


def _source_note(fmt: Format, item: str, sources: Mapping[str, Sequence[Source]]) -> Safe:
    """The provenance sentence of a caption: each file with its hash and rule."""
    if item not in sources:
        raise KeyError(f"no result file given for {item!r}: its caption needs one")
    parts = []
    for s in sources[item]:
        if fmt is TEX:
            parts.append(
                f"{_tex_code(s.path)} (sha256 {_tex_code(s.sha256)}, rule {_tex_code(s.rule)})"
            )
        else:
            path = _path(s.path)
            rule = f"{MD_ROOT}{_path(s.rule_file)}#L{s.rule_line}"
            parts.append(
                f"[{_md_code(path)}]({MD_ROOT}{path}) (sha256 {_md_code(s.sha256)}, "
                f"rule [{_md_code(s.rule)}]({rule}))"
            )
    return Safe("Source: " + "; ".join(parts) + ".")


def make_environment(
    fmt: Format,
    template_dir: str | Path,
    bib: Mapping[str, BibEntry],
    cited: dict[str, None] | None = None,
) -> jinja2.Environment:
    """A Jinja2 environment for ``fmt`` with StrictUndefined, the filters and globals.

    Every citation is recorded in ``cited`` (keys in citation order); the global
    ``references`` (the Markdown reference list) starts empty, ``render`` fills it with
    the cited entries.
    """
    cited = {} if cited is None else cited
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        finalize=_finalize(fmt),
        block_start_string="((*",
        block_end_string="*))",
        variable_start_string="(((",
        variable_end_string=")))",
        comment_start_string="((=",
        comment_end_string="=))",
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )

    def cite(keys: Sequence[str], textual: bool) -> Safe:
        unknown = [k for k in keys if k not in bib]
        if unknown:
            raise KeyError(f"citation key(s) {unknown} not in {BIB_NAME}")
        cited.update(dict.fromkeys(keys))
        return fmt.cite([bib[k] for k in keys], textual)

    env.filters.update(
        num=fmt.num,
        nums=lambda xs: Safe(", ".join(fmt.num(x) for x in xs)),
        alpha=fmt.alpha,
        alphas=lambda xs: Safe(", ".join(fmt.alpha(x) for x in xs)),
        count=lambda n: Safe(fmt_count(n)),
        esc=fmt.escape,
        tex_escape=tex_escape,
        md_escape=md_escape,
        code=fmt.code,
        emph=fmt.emph,
        quoted=fmt.quote,
        and_join=lambda xs: _and_join(fmt, xs),
        # "(" right before a ((( tag would open the tag early: wrap in parentheses here
        paren=lambda x: Safe(f"({_text(fmt, x)})"),
        ci=lambda row: _ci(fmt, row),
        path=_path,
        display=fmt.display,
        # the output of a shared macro (partials/theory_cells.j2): its pieces already
        # went through the filters above, so it must not be escaped a second time
        composed=Safe,
    )
    env.globals.update(
        format=fmt.name,
        subsection=fmt.subsection,
        sym={k: fmt.math(tex) for k, tex in SYMBOLS.items()}
        | {"percent": Safe(PERCENT[fmt is MD])},
        citet=lambda *keys: cite(keys, True),
        citep=lambda *keys: cite(keys, False),
        references=[],
        # figures the text does not place: shown under "Further figures" with these
        captions={f.name: f.caption for f in REGISTRY if f.caption},
    )
    return env


def _ref_order(entry: BibEntry) -> tuple[str, str, str]:
    return (entry.label().lower(), entry.year, entry.key)


def render(
    fmt_name: str,
    context: Mapping[str, Any],
    template_dir: str | Path,
    bib: Mapping[str, BibEntry] | None = None,
    name: str = "paper",
    sources: Mapping[str, Sequence[Source]] | None = None,
) -> str:
    """Render ``<name>.<fmt_name>.j2`` (the paper, its supplement, or a fragment such as
    ``runtime``) from ``context``; ``sources`` are the result files behind each table and
    figure (``source(name)`` in a caption; an error when a caption asks for one not given).

    Two passes: the first records which entries of ``refs.bib`` the text cites, the
    second renders with ``references`` holding exactly those (BibTeX lists only cited
    entries too, so both formats show the same reference list).
    """
    fmt = {"tex": TEX, "md": MD}[fmt_name]
    template_dir = Path(template_dir)
    bib = read_bib(template_dir / BIB_NAME) if bib is None else bib
    cited: dict[str, None] = {}
    env = make_environment(fmt, template_dir, bib, cited)
    if name in DOCUMENTS:
        env.globals["ref"] = references(fmt, context, name)
    env.globals["source"] = lambda item: _source_note(fmt, item, sources or {})
    template = env.get_template(f"{name}.{fmt_name}.j2")
    template.render(**context)
    env.globals["references"][:] = [
        reference_text(e) for e in sorted((bib[k] for k in cited), key=_ref_order)
    ]
    return template.render(**context)


def _copy(src: Path, dst: Path) -> None:
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)


def render_paper(
    context_path: str | Path,
    template_dir: str | Path,
    out_dir: str | Path,
    figures: Sequence[str | Path] = (),
    sources: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    root: str | Path = ".",
) -> dict[str, Path]:
    """Write the paper and its supplement (``paper.tex``, ``paper.md``,
    ``supplement.tex``, ``supplement.md``), ``refs.bib`` and ``figures/`` into ``out_dir``.

    ``figures`` are the figure files to copy (by file name) into ``out_dir/figures``;
    every figure the context names must be among them. ``sources`` describes the result
    files behind each table and figure (``read_sources``); their captions name them with
    their hashes (paths relative to ``root``, the run folder). Returns the written paths.
    """
    context = read_json(context_path, required=CONTEXT_KEYS)
    template_dir, out_dir = Path(template_dir), Path(out_dir)
    written: dict[str, Path] = {}
    for src in map(Path, figures):
        written[f"figures/{src.name}"] = out_dir / "figures" / src.name
        _copy(src, written[f"figures/{src.name}"])
    needed = {p for fig in context["figures"].values() for p in fig.values()}
    missing = sorted(needed - set(written))
    if missing:
        raise FileNotFoundError(f"figures named in the context but not given: {missing}")
    written[BIB_NAME] = out_dir / BIB_NAME
    _copy(template_dir / BIB_NAME, written[BIB_NAME])
    bib = read_bib(template_dir / BIB_NAME)
    hashed = read_sources(sources or {}, root)
    for document in DOCUMENTS:
        for name in FORMATS:
            path = written[f"{document}.{name}"] = out_dir / f"{document}.{name}"
            write_text(render(name, context, template_dir, bib, document, hashed), path)
            log.info("wrote %s", path)
    return written


def render_runtime(
    summary_path: str | Path, template_dir: str | Path, out_dir: str | Path
) -> dict[str, Path]:
    """Write the run-time fragment ``runtime.tex`` and ``runtime.md`` into ``out_dir``
    from ``results/runtime/summary.json`` (the paper's only run-dependent part)."""
    context = {"runtime": read_json(summary_path, required=SUMMARY_KEYS)}
    written = {}
    for fmt_name in FORMATS:
        written[f"runtime.{fmt_name}"] = Path(out_dir) / f"runtime.{fmt_name}"
        text = render(fmt_name, context, template_dir, bib={}, name="runtime")
        write_text(text, written[f"runtime.{fmt_name}"])
    return written
