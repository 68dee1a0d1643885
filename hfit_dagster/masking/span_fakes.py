"""Fakes for PII spans found in free text: each span becomes the fake its entity's operator gives the same value
in a structured column (same key, same fake), or an ``<ENTITY>`` tag when no operator fakes that entity.

Which operator fakes which entity is the catalog's :data:`~hfit_dagster.masking.catalog.SPAN_OPERATORS`; a
custom recognizer's own operator (``entity_operators``) comes first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa

from hfit_dagster.masking.catalog import SPAN_OPERATORS
from hfit_dagster.masking.operators.registry import OPERATORS
from hfit_dagster.masking.row_context import splice

if TYPE_CHECKING:
    from presidio_analyzer import RecognizerResult


@dataclass
class Span:
    """One merged PII span of a text."""

    start: int
    end: int
    entity: str
    score: float


def span_operator(entity: str, entity_operators: Mapping[str, str] | None = None) -> str | None:
    """The operator that fakes a span of ``entity`` in free text (custom entities first), or None (tag)."""
    if entity_operators and entity in entity_operators:
        return entity_operators[entity]
    return SPAN_OPERATORS.get(entity)


def fakes_for_spans(
    spans: list[tuple[str, str]], key: bytes, entity_operators: Mapping[str, str] | None = None
) -> list[str]:
    """Fakes for many (entity, span text) pairs: one vectorized call per operator over the distinct spans.

    Entities whose operator gives no per-value fake (``null``, ``fixed``, none at all) become an
    ``<ENTITY>`` tag.
    """
    out: list[str] = [f"<{entity}>" for entity, _ in spans]
    by_operator: dict[str, dict[str, list[int]]] = {}
    for i, (entity, text) in enumerate(spans):
        name = span_operator(entity, entity_operators)
        if name is not None and text.strip():
            by_operator.setdefault(name, {}).setdefault(text, []).append(i)
    for name, positions in by_operator.items():
        op = OPERATORS.get(name)
        fakes = op.fake_texts(pa.array(list(positions), pa.string()), key) if op is not None else None
        if fakes is None:
            continue
        for fake, idxs in zip(fakes.to_pylist(), positions.values(), strict=True):
            for i in idxs:
                out[i] = fake
    return out


def merge_spans(results: Sequence[RecognizerResult]) -> list[Span]:
    """Overlapping spans become their union, labelled by the longest member (then the strongest).

    Why a union and not "keep the best": Presidio may report ``example.org`` as a URL inside an email, or
    a person inside a longer span; dropping the loser could leave part of a value in the text. Why the longest:
    the union is faked whole by its label's operator, and a short member's operator may keep what the long one
    holds (a phone's fake keeps letters: a street around a phone number must become a street).
    """
    merged: list[Span] = []
    longest: list[int] = []
    for r in sorted(results, key=lambda r: (r.start, -r.end)):
        if merged and r.start < merged[-1].end:
            m = merged[-1]
            if (r.end - r.start, r.score) > (longest[-1], m.score):
                m.entity, m.score = r.entity_type, r.score
                longest[-1] = r.end - r.start
            m.end = max(m.end, r.end)
        else:
            merged.append(Span(r.start, r.end, r.entity_type, r.score))
            longest.append(r.end - r.start)
    return merged


def redact_texts(
    texts: Sequence[str],
    results: Sequence[Sequence[RecognizerResult]],
    key: bytes,
    entity_operators: Mapping[str, str] | None = None,
) -> list[str]:
    """Redact many texts at once: spans merged per text, then every span's fake computed in one vectorized
    call per operator (:func:`fakes_for_spans`), so fakes match the structured columns' fakes."""
    return with_fakes(texts, [merge_spans(found) if found else [] for found in results], key, entity_operators)


def with_fakes(texts: Sequence[str], merged: Sequence[Sequence[Span]], key: bytes,
               entity_operators: Mapping[str, str] | None) -> list[str]:
    """Each text with its (merged, non-overlapping) spans replaced by fakes of their kind."""
    wanted = [(span.entity, text[span.start : span.end]) for text, spans in zip(texts, merged, strict=True)
              for span in spans]
    fakes = iter(fakes_for_spans(wanted, key, entity_operators))
    return [splice(text, ((span.start, span.end, next(fakes)) for span in spans)) if spans else text
            for text, spans in zip(texts, merged, strict=True)]
