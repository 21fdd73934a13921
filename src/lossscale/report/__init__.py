"""The report stage: result files -> context.json -> paper.{tex,md} -> paper.pdf.

- ``context``: build the JSON context from claims.csv, comparisons.csv, config, provenance
  (the main slice, the blocks and the grid from ``lossscale.stats.slices`` and
  ``lossscale.grid``).
- ``filters``: ``fmt_num`` (every number) and ``tex_escape`` / ``md_escape`` (every string).
- ``render``: Jinja2 (StrictUndefined) rendering of both formats from the same templates.
- ``latex``: the latexmk build of the PDF.
- ``markdown``: read the Markdown tables back (for tests comparing them with the CSVs).
"""

from lossscale.report.context import build_context, write_context
from lossscale.report.filters import fmt_num, md_escape, tex_escape
from lossscale.report.latex import LatexError, build_pdf
from lossscale.report.markdown import (
    blocks_rows_from_markdown,
    claims_rows_from_markdown,
    parse_markdown_table,
    parse_markdown_tables,
    results_rows_from_markdown,
    tasks_rows_from_markdown,
    theory_rows_from_markdown,
)
from lossscale.report.render import render, render_paper

__all__ = [
    "LatexError",
    "blocks_rows_from_markdown",
    "build_context",
    "build_pdf",
    "claims_rows_from_markdown",
    "fmt_num",
    "md_escape",
    "parse_markdown_table",
    "parse_markdown_tables",
    "render",
    "render_paper",
    "results_rows_from_markdown",
    "tasks_rows_from_markdown",
    "tex_escape",
    "theory_rows_from_markdown",
    "write_context",
]
