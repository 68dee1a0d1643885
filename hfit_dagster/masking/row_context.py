"""Row context for free text: a note that names its own row's customer is masked with that row's fakes.

NER misses names it has not seen (spaCy's small English model misses many non-English names). But the
row itself says who it is about: its ``first_name``, ``email``, ``phone`` columns. Every original value of
those columns that appears in a free-text cell of the same row (whole words, case-insensitive) becomes
exactly the fake the column got, so "Lilly Preiß sent proof from lprei2@web.de" reads with the row's fake
name and fake email, consistent with the structured columns.

The rest of the text still goes through Presidio, as a *skeleton*: the text with each of the row's own
values replaced by a fixed stand-in of its kind (``Jordan Avery``, ``jordan.avery@example.org``, ...).
Spans Presidio finds outside the stand-ins are mapped back to the original text and faked as usual. Two
rows whose notes differ only in their own customer's values have the same skeleton, so system-written
notes ("Called <name> on <phone>; wants updates at <email>.") are analyzed once, however many rows hold
them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from hfit_dagster.masking.catalog import STAND_INS

MIN_LENGTH = 3

Known = tuple[str | None, str | None, str]  # (original value, its fake, operator of its column)


@dataclass(frozen=True)
class KnownSpan:
    """Where a row's own value sits in its text, and what it becomes."""

    start: int
    end: int
    fake: str
    operator: str


@dataclass(frozen=True)
class Skeleton:
    """A text with its row's own values replaced by stand-ins, and how to map offsets back."""

    text: str
    known: tuple[KnownSpan, ...]
    # (skeleton start, original start, length) of every piece of original text kept in the skeleton
    kept: tuple[tuple[int, int, int], ...]
    # (skeleton start, skeleton end) of each known span's stand-in, in the order of ``known``
    stand_ins: tuple[tuple[int, int], ...] = ()

    def known_under(self, start: int, end: int) -> list[int]:
        """Indexes of the known spans whose stand-ins a skeleton span overlaps."""
        return [i for i, (a, b) in enumerate(self.stand_ins) if a < end and start < b]

    def to_original_range(self, start: int, end: int) -> tuple[int, int]:
        """A skeleton span as one original range; a stand-in it touches counts whole."""
        a_orig: int | None = None
        b_orig: int | None = None
        for i, (s_start, s_end) in enumerate(self.stand_ins):
            if s_start <= start < s_end:
                a_orig = self.known[i].start
            if s_start < end <= s_end:
                b_orig = self.known[i].end
        for s_start, o_start, length in self.kept:
            if a_orig is None and s_start <= start < s_start + length:
                a_orig = o_start + start - s_start
            if b_orig is None and s_start < end <= s_start + length:
                b_orig = o_start + end - s_start
        if a_orig is None or b_orig is None:
            raise ValueError(f"span {start}..{end} is outside the skeleton")
        return a_orig, b_orig

    def to_original(self, start: int, end: int) -> list[tuple[int, int]]:
        """The parts of a skeleton span that lie in kept original text, in original offsets."""
        out = []
        for s_start, o_start, length in self.kept:
            a, b = max(start, s_start), min(end, s_start + length)
            if a < b:
                out.append((o_start + a - s_start, o_start + b - s_start))
        return out


def find_known_spans(text: str, row: list[Known]) -> list[KnownSpan]:
    """Occurrences of the row's own values in ``text``: whole words, case-insensitive, longest value first,
    never overlapping, in text order."""
    lowered = text.lower()
    usable = sorted(
        ((o, f, op) for o, f, op in row if o and f is not None and len(o) >= MIN_LENGTH and o.lower() in lowered),
        key=lambda p: len(p[0]), reverse=True,
    )
    found: list[KnownSpan] = []
    for original, fake, operator in usable:
        for start, end in _occurrences(text, lowered, original):
            if not any(start < k.end and k.start < end for k in found):
                found.append(KnownSpan(start, end, fake, operator))
    return sorted(found, key=lambda k: k.start)


def _occurrences(text: str, lowered: str, original: str) -> list[tuple[int, int]]:
    """Whole-word, case-insensitive occurrences of ``original``; ``str.find`` on lower-cased text where
    lower-casing keeps offsets (almost always), a regex otherwise. Why not always the regex: a pattern per
    row's value is compiled per row (Python caches 512), ~25 s for 1M notes."""
    needle = original.lower()
    if len(lowered) != len(text) or len(needle) != len(original):
        return [m.span() for m in re.finditer(rf"(?<!\w){re.escape(original)}(?!\w)", text, re.IGNORECASE)]
    out = []
    start = lowered.find(needle)
    while start >= 0:
        end = start + len(needle)
        if not (start > 0 and _is_word(text[start - 1])) and not (end < len(text) and _is_word(text[end])):
            out.append((start, end))
            start = lowered.find(needle, end)
        else:
            start = lowered.find(needle, start + 1)
    return out


def _is_word(char: str) -> bool:
    return char.isalnum() or char == "_"


def skeleton(text: str, known: list[KnownSpan]) -> Skeleton:
    """``text`` with each known span replaced by the stand-in of its kind."""
    pieces: list[str] = []
    kept: list[tuple[int, int, int]] = []
    stand_ins: list[tuple[int, int]] = []
    pos = length = 0
    for span in known:
        if span.start > pos:
            kept.append((length, pos, span.start - pos))
            pieces.append(text[pos : span.start])
            length += span.start - pos
        stand_in = STAND_INS.get(span.operator, STAND_INS["person_name"])
        pieces.append(stand_in)
        stand_ins.append((length, length + len(stand_in)))
        length += len(stand_in)
        pos = span.end
    if pos < len(text):
        kept.append((length, pos, len(text) - pos))
        pieces.append(text[pos:])
    return Skeleton("".join(pieces), tuple(known), tuple(kept), tuple(stand_ins))


def splice(text: str, replacements: Iterable[tuple[int, int, str]]) -> str:
    """``text`` with each ``(start, end, new)`` range replaced; ranges in text order, not overlapping."""
    pieces: list[str] = []
    pos = 0
    for start, end, new in replacements:
        pieces.append(text[pos:start])
        pieces.append(new)
        pos = end
    pieces.append(text[pos:])
    return "".join(pieces)


def substitute_row_values(texts: list[str | None], rows: list[list[Known]]) -> list[str | None]:
    """Replace, per row, each original value found in the text by its fake (used before JSON redaction)."""
    return [splice(text, ((k.start, k.end, k.fake) for k in find_known_spans(text, row))) if text else text
            for text, row in zip(texts, rows, strict=True)]
