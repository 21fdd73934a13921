"""Number formatting and escaping shared by the LaTeX and Markdown renderings.

``fmt_num`` is the one place where a number becomes text; the format-specific
filters (``tex_num``, ``md_num``) only restyle its output, so both renderings of a
number always carry the same digits.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from numbers import Integral, Real

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
    if isinstance(x, Integral) and abs(int(x)) < 10**4:
        return str(int(x))
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


def fmt_count(n: int) -> str:
    """An exact count with thousands separators: ``12,105``."""
    if isinstance(n, bool) or not isinstance(n, Integral):
        raise TypeError(f"fmt_count expects an integer, got {type(n).__name__}: {n!r}")
    return f"{int(n):,}"


def power_of_two(x: float | int | None) -> int | None:
    """``k`` when ``x`` is 2^k and ``fmt_num`` cannot show it exactly (1024 prints as
    1020), else None: such loss scales print as ``2^k``."""
    if is_missing(x) or isinstance(x, bool) or not isinstance(x, Real) or x <= 0:
        return None
    mantissa, exponent = math.frexp(float(x))
    if mantissa != 0.5 or float(fmt_num(x)) == float(x):
        return None
    return exponent - 1


def fmt_alpha(x: float | int | None) -> str:
    """A loss scale: ``2^10`` for a power of two that ``fmt_num`` would round, else
    ``fmt_num``."""
    k = power_of_two(x)
    return fmt_num(x) if k is None else f"2^{k}"


def tex_num(x: float | int | None, digits: int = 3) -> Safe:
    """``fmt_num`` typeset for LaTeX by siunitx: ``\\num{1.23e-5}``, "n/a" as text.

    The preamble sets ``print-unity-mantissa=false``, so ``\\num{1e5}`` prints 10^5.
    """
    text = fmt_num(x, digits)
    if text == NA:
        return Safe(NA)
    if text in ("inf", "-inf"):
        return Safe(f"${'-' if text[0] == '-' else ''}\\infty$")
    return Safe(f"\\num{{{text}}}")


def md_num(x: float | int | None, digits: int = 3) -> Safe:
    """``fmt_num`` for Markdown: the same characters, nothing to escape."""
    return Safe(fmt_num(x, digits))


def tex_alpha(x: float | int | None) -> Safe:
    """``fmt_alpha`` typeset for LaTeX (``$2^{10}$``)."""
    k = power_of_two(x)
    return tex_num(x) if k is None else Safe(f"$2^{{{k}}}$")


def md_alpha(x: float | int | None) -> Safe:
    """``fmt_alpha`` for Markdown: the same characters, ``$2^{10}$`` as math."""
    k = power_of_two(x)
    return md_num(x) if k is None else Safe(f"$2^{{{k}}}$")
