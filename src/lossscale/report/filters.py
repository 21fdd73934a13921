"""Number formatting and escaping shared by the LaTeX and Markdown renderings.

``fmt_num`` is the one place where a number becomes text; the format-specific
filters (``tex_num``, ``md_num``) only restyle its output, so both renderings of a
number always carry the same digits.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from numbers import Real

NA = "n/a"


class Safe(str):
    """Text that is already valid markup in the target format; never escaped again."""


def is_missing(x: object) -> bool:
    """True for None and NaN (a number that is not there)."""
    return x is None or (isinstance(x, Real) and math.isnan(float(x)))


def fmt_num(x: float | int | None, digits: int = 3) -> str:
    """Format a number with ``digits`` significant digits.

    Scientific notation (``1.23e-5``, ``1e5``) when the rounded magnitude is below 1e-3
    or at least 1e4, plain decimals otherwise (``0.0123``, ``1230``); "n/a" for None/NaN,
    "inf"/"-inf" for infinities; integers below 1e4 print exactly as integers.
    """
    if is_missing(x):
        return NA
    if isinstance(x, bool) or not isinstance(x, Real):
        raise TypeError(f"fmt_num expects a number, got {type(x).__name__}: {x!r}")
    value = float(x)
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    rounded = float(f"{value:.{digits}g}")
    if rounded == 0:
        return "0"
    if abs(rounded) < 1e-3 or abs(rounded) >= 1e4:
        mantissa, exponent = f"{rounded:.{digits - 1}e}".split("e")
        if "." in mantissa:
            mantissa = mantissa.rstrip("0").rstrip(".")
        return f"{mantissa}e{int(exponent)}"
    return format(Decimal(f"{value:.{digits}g}"), "f")


_TEX_CHARS = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "$": r"\$",
    "&": r"\&",
    "%": r"\%",
    "#": r"\#",
    "_": r"\_",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
    '"': r"\textquotedbl{}",
    "'": r"\textquotesingle{}",
    "`": r"\textasciigrave{}",
    "\N{GREEK SMALL LETTER ALPHA}": r"$\alpha$",
    "ε": r"$\epsilon$",
    "η": r"$\eta$",
    "λ": r"$\lambda$",
    "μ": r"$\mu$",
    "\N{MULTIPLICATION SIGN}": r"$\times$",
    "\N{MINUS SIGN}": r"$-$",
    "≈": r"$\approx$",
    "≤": r"$\leq$",
    "≥": r"$\geq$",
    "\N{EN DASH}": "--",
    "—": "---",
}
_TEX_RE = re.compile("|".join(re.escape(c) for c in _TEX_CHARS) + r"|-(?=-)")


def tex_escape(text: object) -> Safe:
    """Escape ``text`` so that LaTeX prints it literally (no commands, no ligatures)."""
    if isinstance(text, Safe):
        return text
    return Safe(_TEX_RE.sub(lambda m: _TEX_CHARS.get(m.group(), "-{}"), str(text)))


_MD_RE = re.compile(r"([\\`*_\[\]<>|$#~])")


def md_escape(text: object) -> Safe:
    """Backslash-escape Markdown punctuation so that ``text`` renders literally."""
    if isinstance(text, Safe):
        return text
    return Safe(_MD_RE.sub(r"\\\1", str(text)))


def md_unescape(text: str) -> str:
    """Undo ``md_escape`` (and GitHub's ``\\|`` inside table cells)."""
    return re.sub(r"\\([\\`*_\[\]<>|$#~])", r"\1", text)


def tex_num(x: float | int | None, digits: int = 3) -> Safe:
    """``fmt_num`` typeset for LaTeX: math mode, ``1.2\\times10^{-5}``, "n/a" as text."""
    text = fmt_num(x, digits)
    if text == NA:
        return Safe(NA)
    if text in ("inf", "-inf"):
        return Safe(f"${'-' if text[0] == '-' else ''}\\infty$")
    if "e" in text:
        mantissa, exponent = text.split("e")
        sign = "-" if mantissa.startswith("-") else ""
        mantissa = mantissa.lstrip("-")
        body = f"10^{{{exponent}}}" if mantissa == "1" else f"{mantissa}\\times10^{{{exponent}}}"
        return Safe(f"${sign}{body}$")
    return Safe(f"${text}$")


def md_num(x: float | int | None, digits: int = 3) -> Safe:
    """``fmt_num`` for Markdown: the same characters, nothing to escape."""
    return Safe(fmt_num(x, digits))
