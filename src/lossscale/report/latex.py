"""Build paper.pdf with latexmk (pdflatex + BibTeX), never with shell escape.

The build runs in a fresh auxiliary directory beside the source; only a successful build
moves its PDF to the final name, so a failed build leaves no paper.pdf behind.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
from pathlib import Path

log = logging.getLogger(__name__)

LOG_TAIL_LINES = 40
#: Warnings of the final LaTeX run that fail the build: a reference, citation or label
#: that did not resolve would print as "??" in the PDF.
UNRESOLVED = re.compile(
    r"^(?:LaTeX|Package natbib|Package cleveref) Warning: (?:Reference|Citation|cref reference)"
    r" .*undefined.*$|^LaTeX Warning: There were (?:undefined references|multiply-defined labels)"
    r".*$|^LaTeX Warning: Label .* multiply defined.*$",
    re.MULTILINE,
)


class LatexError(RuntimeError):
    """latexmk is missing or the LaTeX build failed."""


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    if not path.exists():
        return f"(no {path.name} was written)"
    text = path.read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:])


def latexmk_command(tex_name: str, aux_dir: str, latexmk: str = "latexmk") -> list[str]:
    """The latexmk call: PDF via pdflatex, BibTeX, no rc files, no shell escape."""
    return [
        latexmk,
        "-norc",
        "-pdf",
        "-bibtex",
        "-interaction=nonstopmode",
        "-halt-on-error",
        "-file-line-error",
        "-latexoption=-no-shell-escape",
        f"-outdir={aux_dir}",
        tex_name,
    ]


def build_pdf(
    tex_path: str | Path,
    pdf_path: str | Path | None = None,
    latexmk: str = "latexmk",
    timeout: float = 300,
) -> Path:
    """Compile ``tex_path`` (with its ``.bib`` and figures beside it) into ``pdf_path``.

    ``pdf_path`` defaults to the ``.pdf`` beside the source. Raises LatexError naming
    latexmk when it is not installed, and with the tail of the LaTeX log when the build
    fails; in both cases no file is left at ``pdf_path``.
    """
    tex_path = Path(tex_path).resolve()
    pdf_path = tex_path.with_suffix(".pdf") if pdf_path is None else Path(pdf_path).resolve()
    pdf_path.unlink(missing_ok=True)
    exe = shutil.which(latexmk)
    if exe is None:
        raise LatexError(
            f"latexmk not found on PATH (looked for {latexmk!r}): install TeX Live and "
            "latexmk to build the PDF (paper.tex and paper.md do not need it)"
        )
    aux_dir = tex_path.parent / f".{tex_path.stem}-latex"
    shutil.rmtree(aux_dir, ignore_errors=True)
    aux_dir.mkdir(parents=True)
    env = {**os.environ, "BIBINPUTS": f"{tex_path.parent}{os.pathsep}"}
    try:
        proc = subprocess.run(
            latexmk_command(tex_path.name, aux_dir.name, exe),
            cwd=tex_path.parent,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as err:
        raise LatexError(f"latexmk did not finish within {timeout} s") from err
    built = aux_dir / f"{tex_path.stem}.pdf"
    if proc.returncode != 0 or not built.exists():
        latex_log = aux_dir / f"{tex_path.stem}.log"
        raise LatexError(
            f"latexmk failed (exit {proc.returncode}) on {tex_path}.\n"
            f"--- last lines of {latex_log.name} ---\n{_tail(latex_log)}\n"
            f"--- last lines of latexmk's output ---\n"
            + "\n".join((proc.stdout + proc.stderr).splitlines()[-15:])
        )
    latex_log = aux_dir / f"{tex_path.stem}.log"
    unresolved = sorted(set(UNRESOLVED.findall(latex_log.read_text(errors="replace"))))
    if unresolved:
        raise LatexError(
            f"{tex_path}: the build left unresolved references or citations "
            f"(see {latex_log}):\n" + "\n".join(unresolved)
        )
    pdf_path.parent.mkdir(parents=True, exist_ok=True)
    os.replace(built, pdf_path)
    log.info("wrote %s (LaTeX log in %s)", pdf_path, aux_dir)
    before = label_page(aux_dir / f"{tex_path.stem}.aux", REFERENCES_LABEL)
    if before is not None:
        log.info("%s: the references start on page %d", pdf_path.name, before)
        if before > MAX_MAIN_PAGES:
            log.warning("%s: the main text runs past %d pages", pdf_path.name, MAX_MAIN_PAGES)
    return pdf_path


#: The label the paper puts where its references start, and the pages allowed before it.
REFERENCES_LABEL = "references"
MAX_MAIN_PAGES = 10


def label_page(aux_path: str | Path, label: str) -> int | None:
    """The page of ``\\label{label}`` from a LaTeX .aux file (None: no such label)."""
    text = Path(aux_path).read_text(errors="replace") if Path(aux_path).exists() else ""
    found = re.search(r"\\newlabel\{" + re.escape(label) + r"\}\{\{[^{}]*\}\{(\d+)\}", text)
    return int(found.group(1)) if found else None
