"""Read the paper's GitHub-Markdown pipe tables back, for tests that compare them with CSVs.

Each table in ``paper.md`` follows a ``<!-- table: NAME -->`` marker; cells are compared
as the strings ``fmt_num`` produced.
"""

from __future__ import annotations

import math
import re

from lossscale.report.filters import NA

_MARKER = re.compile(r"^<!--\s*table:\s*([\w-]+)\s*-->\s*$")
_DELIMITER = re.compile(r"^\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$")

#: Column order of the results table, as named in ``results/stats/comparisons.csv``
#: (one task and setting, named in the caption; the optimizer by its display label).
RESULTS_KEYS = (
    "optimizer",
    "alpha",
    "n_seeds",
    "n_diverged",
    "mean",
    "best_mean",
    "effect",
    "ci",
    "p_adj",
    "tost_p_adj",
    "verdict",
    "train_verdict",
)
#: Column order of the claims-ledger table (one row per claim, see report.theory).
CLAIMS_KEYS = (
    "claim_id",
    "subject",
    "transformation",
    "methods",
    "n_checks",
    "expected",
    "deviation",
    "counter_of",
)
#: Column order of the tasks table (Methods).
TASKS_KEYS = (
    "task",
    "kind",
    "loss",
    "target_scale",
    "network",
    "parameters",
    "test_percent",
    "metric",
)
#: Column order of the blocks table (Methods), as named by ``lossscale.study.grid.summary``.
BLOCKS_KEYS = (
    "block",
    "tasks",
    "optimizers",
    "n_alphas",
    "precisions",
    "regularizations",
    "compensations",
    "seeds",
    "steps",
    "batch",
    "jobs",
    "replicas",
    "replica_steps",
)
#: Column order of the theory table (one row per subject, see report.theory).
THEORY_KEYS = ("subject", "transforms", "symbolic", "float64", "bitwise", "counter")
KNEE_KEYS = ("task", "steps", "batch", "optimizer", "eps", "grad_rms_init", "predicted", "measured")
KNEE_KEYS += ("ratio", "agrees", "update_first", "update_agrees")
ROUNDOFF_KEYS = ("task", "optimizer", "compensation", "trains", "bitwise", "max_ratio")
ROUNDOFF_KEYS += ("max_uncompensated_ratio",)


def _split_row(line: str) -> list[str]:
    """Cells of one pipe-table row (``\\|`` is a literal bar, not a separator)."""
    line = line.strip()
    line = line.removeprefix("|")
    if line.endswith("|") and not line.endswith("\\|"):
        line = line[:-1]
    cells = re.split(r"(?<!\\)\|", line)
    return [_cell_text(c.strip()) for c in cells]


def _cell_text(cell: str) -> str:
    if len(cell) >= 2 and cell.startswith("`") and cell.endswith("`"):
        return cell[1:-1].replace("\\|", "|")
    return md_unescape(cell)


def parse_markdown_tables(text: str) -> dict[str, list[dict[str, str]]]:
    """All marked pipe tables in ``text``: name -> rows, each a dict keyed by header text."""
    lines = text.splitlines()
    tables: dict[str, list[dict[str, str]]] = {}
    for i, line in enumerate(lines):
        marker = _MARKER.match(line.strip())
        if not marker:
            continue
        j = i + 1
        while j < len(lines) and not lines[j].strip():
            j += 1
        if j + 1 >= len(lines) or not _DELIMITER.match(lines[j + 1]):
            raise ValueError(f"marker {marker.group(1)!r} is not followed by a pipe table")
        header = _split_row(lines[j])
        rows = []
        for row_line in lines[j + 2 :]:
            if not row_line.strip().startswith("|"):
                break
            cells = _split_row(row_line)
            if len(cells) != len(header):
                raise ValueError(f"table {marker.group(1)!r}: row {row_line!r} has wrong width")
            rows.append(dict(zip(header, cells, strict=True)))
        tables[marker.group(1)] = rows
    return tables


def parse_markdown_table(text: str, name: str) -> list[dict[str, str]]:
    """The rows of the table marked ``<!-- table: name -->``, keyed by header text."""
    tables = parse_markdown_tables(text)
    if name not in tables:
        raise KeyError(f"no table {name!r} in the Markdown (found: {sorted(tables)})")
    return tables[name]


def _keyed(rows: list[dict[str, str]], keys: tuple[str, ...], name: str) -> list[dict[str, str]]:
    out = []
    for row in rows:
        if len(row) != len(keys):
            raise ValueError(f"table {name!r} has {len(row)} columns, expected {len(keys)}")
        out.append(dict(zip(keys, row.values(), strict=True)))
    return out


def _split_ci(text: str) -> tuple[str, str]:
    if text == NA:
        return NA, NA
    low, high = text.strip("[]").split(",")
    return low.strip(), high.strip()


def results_rows_from_markdown(text: str) -> list[dict[str, str]]:
    """The results table, keyed like comparisons.csv (the CI column becomes ci_low/ci_high).

    Every value is the string ``fmt_num`` (or the CSV's text) gave, so an end-to-end test
    compares it with ``fmt_num(csv_value)``; the rows are the ``quantity == "test"`` rows
    of the main slice (``lossscale.report.slices``) at the table's alphas.
    """
    rows = []
    for row in _keyed(parse_markdown_table(text, "results"), RESULTS_KEYS, "results"):
        row["ci_low"], row["ci_high"] = _split_ci(row.pop("ci"))
        rows.append(row)
    return rows


def tasks_rows_from_markdown(text: str) -> list[dict[str, str]]:
    """The tasks table (Methods), one row per task."""
    return _keyed(parse_markdown_table(text, "tasks"), TASKS_KEYS, "tasks")


def blocks_rows_from_markdown(text: str) -> list[dict[str, str]]:
    """The blocks table (Methods): one row per block, then the whole grid's row."""
    return _keyed(parse_markdown_table(text, "blocks"), BLOCKS_KEYS, "blocks")


def claims_rows_from_markdown(text: str) -> list[dict[str, str]]:
    """The claims-ledger table (Appendix A), one row per claim."""
    return _keyed(parse_markdown_table(text, "claims"), CLAIMS_KEYS, "claims")


def theory_rows_from_markdown(text: str) -> list[dict[str, str]]:
    """The theory table, one row per subject."""
    return _keyed(parse_markdown_table(text, "theory"), THEORY_KEYS, "theory")


def knee_rows_from_markdown(text: str) -> list[dict[str, str]]:
    """The knee table, one row per setting (empty when the paper has none)."""
    if "<!-- table: knee -->" not in text:
        return []
    return _keyed(parse_markdown_table(text, "knee"), KNEE_KEYS, "knee")


def roundoff_rows_from_markdown(text: str) -> list[dict[str, str]]:
    """The round-off table, one row per setting (empty when the paper has none)."""
    if "<!-- table: roundoff -->" not in text:
        return []
    return _keyed(parse_markdown_table(text, "roundoff"), ROUNDOFF_KEYS, "roundoff")


def md_unescape(text: str) -> str:
    """Undo ``md_escape`` (and GitHub's ``\\|`` inside table cells)."""
    return re.sub(r"\\([\\`*_\[\]<>|$#~])", r"\1", text)


def parse_alpha(text: str) -> float:
    """The loss scale ``fmt_alpha`` or ``md_alpha`` wrote (to 3 significant digits unless
    ``2^k`` or ``$2^{k}$``)."""
    if text == NA:
        return math.nan
    power = re.fullmatch(r"\$?2\^\{?(-?\d+)\}?\$?", text)
    if power:
        return 2.0 ** int(power.group(1))
    return float(text)
