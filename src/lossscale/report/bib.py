"""A small reader for the paper's own ``refs.bib``: author-year citations for the Markdown.

LaTeX cites through natbib and BibTeX; the Markdown rendering gets the same labels and
reference list from here. Only the plain BibTeX subset that ``refs.bib`` uses is read:
``@type{key, field = {value}, ...}`` with braced values.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

_ENTRY = re.compile(r"@(\w+)\s*\{\s*([^,\s]+)\s*,")
_FIELD = re.compile(r"\s*(\w+)\s*=\s*")
_ACCENT = re.compile(r"\{?\\([\"'`^~])\{?([A-Za-z])\}?\}?")
_COMBINING = {'"': "\u0308", "'": "\u0301", "`": "\u0300", "^": "\u0302", "~": "\u0303"}


@dataclass(frozen=True)
class BibEntry:
    """One reference: its type, key and fields (TeX markup already reduced to text)."""

    kind: str
    key: str
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def surnames(self) -> list[str]:
        """Family names of the authors (a braced corporate name counts as one)."""
        names = [n.strip() for n in self.fields.get("author", "").split(" and ")]
        return [n.split(",")[0].strip() for n in names if n]

    def label(self) -> str:
        """Author part of a citation: ``Kingma and Ba``, ``Paszke et al.``."""
        names = self.surnames
        if "others" in names:
            names = [*names[: names.index("others")], "others"]
        if len(names) == 1:
            return names[0]
        if len(names) == 2 and names[1] != "others":
            return f"{names[0]} and {names[1]}"
        return f"{names[0]} et al."

    @property
    def year(self) -> str:
        return self.fields.get("year", "n.d.")


def _braced(text: str, start: int) -> tuple[str, int]:
    """The content of the brace group opening at ``text[start]``, and the index after it."""
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1 : i], i + 1
    raise ValueError(f"unbalanced braces in BibTeX near {text[start : start + 40]!r}")


def tex_to_text(value: str) -> str:
    """Reduce the TeX used in ``refs.bib`` values to plain text."""
    value = _ACCENT.sub(lambda m: unicodedata.normalize("NFC", m[2] + _COMBINING[m[1]]), value)
    value = value.replace(r"\&", "&").replace("---", "—").replace("--", "\N{EN DASH}")
    value = re.sub(r"\\url\{([^}]*)\}", r"\1", value)
    value = value.replace("{", "").replace("}", "")
    return re.sub(r"\s+", " ", value).strip()


def parse_bib(text: str) -> dict[str, BibEntry]:
    """Entries of a BibTeX file, by key, in file order."""
    entries: dict[str, BibEntry] = {}
    for match in _ENTRY.finditer(text):
        body, _ = _braced(text, text.index("{", match.start()))
        pos = body.index(",") + 1
        fields: dict[str, str] = {}
        while True:
            fmatch = _FIELD.match(body, pos)
            if not fmatch or fmatch.end() >= len(body) or body[fmatch.end()] != "{":
                break
            raw, pos = _braced(body, fmatch.end())
            fields[fmatch.group(1).lower()] = tex_to_text(raw)
            pos = body.find(",", pos) + 1 if "," in body[pos:] else len(body)
        key = match.group(2)
        if key in entries:
            raise ValueError(f"duplicate BibTeX key {key!r}")
        entries[key] = BibEntry(match.group(1).lower(), key, fields)
    return entries


def read_bib(path: str | Path) -> dict[str, BibEntry]:
    """Parse the BibTeX file at ``path``."""
    return parse_bib(Path(path).read_text(encoding="utf-8"))


def reference_text(entry: BibEntry, max_authors: int = 5) -> str:
    """A plain-text reference-list line: authors (year). Title. Venue, details. URL."""
    f = entry.fields
    names = [n.strip() for n in f.get("author", "").split(" and ") if n.strip()]
    if len(names) > max_authors or "others" in names:
        authors = f"{names[0]} et al."
    else:
        authors = "; ".join(names)
    title = f.get("title", "")
    venue = f.get("journal") or f.get("booktitle") or f.get("howpublished") or ""
    if "volume" in f:
        venue = f"{venue} {f['volume']}" + (f":{f['pages']}" if "pages" in f else "")
    elif "pages" in f:
        venue = f"{venue}, pages {f['pages']}"
    details = ", ".join(d for d in (venue, f.get("publisher", ""), f.get("note", "")) if d)
    parts = [f"{authors} ({entry.year}).", title if title[-1:] in "?!." else f"{title}."]
    if details:
        parts.append(f"{details}.")
    if "url" in f:
        parts.append(f["url"])
    return " ".join(parts)
