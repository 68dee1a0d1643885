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


# operators that change only the digits (or the date) of what they are given and keep its words: a union faked by
# one of them would keep the words of a name or a street inside it
_KEEP_WORDS = frozenset({"phone", "national_id", "shape", "digits", "credit_card", "iban", "date_of_birth",
                         "postal_code"})


def _replaces_whole(entity: str) -> bool:
    return span_operator(entity) not in _KEEP_WORDS


def merge_spans(results: Sequence[RecognizerResult]) -> list[Span]:
    """Overlapping spans become their union, labelled by the longest member (then the strongest) among those
    whose operator replaces the whole span (a name, a street, an email, a tag), else among all.

    Why a union and not "keep the best": Presidio may report ``example.org`` as a URL inside an email, or
    a person inside a longer span; dropping the loser could leave part of a value in the text. Why that label:
    the union is faked whole by its label's operator, and an operator that changes digits only keeps the words
    around them (a phone's fake keeps letters: a street around a phone number must become a street, and a
    name run into the id after it, "Ivo Zemanová\nNI number: 4401...", a name).
    """
    merged: list[Span] = []
    best: list[tuple[bool, int, float]] = []
    for r in sorted(results, key=lambda r: (r.start, -r.end)):
        rank = (_replaces_whole(r.entity_type), r.end - r.start, r.score)
        if merged and r.start < merged[-1].end:
            m = merged[-1]
            if rank > best[-1]:
                m.entity, m.score = r.entity_type, r.score
                best[-1] = rank
            m.end = max(m.end, r.end)
        else:
            merged.append(Span(r.start, r.end, r.entity_type, r.score))
            best.append(rank)
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
