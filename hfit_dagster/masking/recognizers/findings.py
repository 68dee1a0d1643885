"""What a free-text rule reports: an entity over a character range, scored like a Presidio result."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Finding:
    """One span of personal data (the attributes :func:`~hfit_dagster.masking.span_fakes.merge_spans` reads)."""

    entity_type: str
    start: int
    end: int
    score: float = 0.8
