"""Checks on the rendered prose: the main text's extent and its repeated sentences."""

from __future__ import annotations

import re
from collections import Counter

#: Where the paper's main text ends in its Markdown rendering.
REFERENCES_HEADING = "## References"
_SENTENCE_END = re.compile(r"(?<=[.?!])\s+(?=[A-Z(])")
_SKIP = re.compile(r"^\s*(?:<!--|\||!\[|\[[^\]]+\]:|#)")


def main_text(markdown: str) -> str:
    """The Markdown paper before its references, without tables, images and headings."""
    body = markdown.split(REFERENCES_HEADING, 1)[0]
    return "\n".join(line for line in body.splitlines() if not _SKIP.match(line))


def sentences(text: str) -> list[str]:
    """The sentences of ``text``, one per line or ended by . ? ! before a capital."""
    out = []
    for line in text.splitlines():
        out += [s.strip() for s in _SENTENCE_END.split(line) if s.strip()]
    return out


def repeated_sentences(markdown: str, min_words: int = 8, min_count: int = 3) -> dict[str, int]:
    """Sentences of at least ``min_words`` words that the main text repeats at least
    ``min_count`` times, with their counts."""
    counts = Counter(s for s in sentences(main_text(markdown)) if len(s.split()) >= min_words)
    return {s: n for s, n in counts.items() if n >= min_count}
