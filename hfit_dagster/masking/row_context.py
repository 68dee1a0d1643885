"""Row context for free text: a note that names its own row's customer is masked with that row's fakes.

NER misses names it has not seen (spaCy's small English model misses many non-English names). But the
row itself says who it is about: its ``first_name``, ``email``, ``phone`` columns. Before Presidio runs
on a free-text cell, every original value of those columns in the same row is replaced by the fake the
column got, so "Lilly Preiß sent proof from lprei2@web.de" becomes the row's fake name and fake email,
consistent with the structured columns.
"""

from __future__ import annotations

import re

CONTEXT_OPERATORS = frozenset({
    "person_name", "first_name", "last_name", "email", "phone", "street_address", "credit_card", "iban",
    "national_id", "ip_address", "postal_code",
})
MIN_LENGTH = 3


def substitute_row_values(texts: list[str | None],
                          pairs_per_row: list[list[tuple[str | None, str | None]]]) -> list[str | None]:
    """Replace, per row, each original value (whole words, case-insensitive) by its fake; longest first."""
    out: list[str | None] = []
    for text, pairs in zip(texts, pairs_per_row, strict=True):
        if not text:
            out.append(text)
            continue
        usable = sorted(
            ((o, f) for o, f in pairs if o and f is not None and len(o) >= MIN_LENGTH and o.lower() in text.lower()),
            key=lambda p: len(p[0]), reverse=True,
        )
        for original, fake in usable:
            pattern = re.compile(rf"(?<!\w){re.escape(original)}(?!\w)", re.IGNORECASE)
            text = pattern.sub(lambda _m, f=fake: f, text)
        out.append(text)
    return out
