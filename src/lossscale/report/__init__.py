"""The report stage: result files -> context.json -> paper.{tex,md} -> paper.pdf.

- ``context``: build the JSON context from claims.csv, comparisons.csv, config, provenance
  (the main slice, the blocks and the grid from ``lossscale.report.slices`` and
  ``lossscale.study.grid``).
- ``filters``: ``fmt_num`` (every number) and ``tex_escape`` / ``md_escape`` (every string).
- ``render``: Jinja2 (StrictUndefined) rendering of both formats from the same templates.
- ``latex``: the latexmk build of the PDF.
"""
