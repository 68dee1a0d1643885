"""ENUM and SET labels that are personal data: an ENUM of account managers' names, a SET of team emails.

Such a column's values are personal data as much as its labels, and the labels reach the package's DDL. The
column is masked like any personal column (values faked by an operator), and its labels by the same operator
(:func:`~hfit_dagster.masking.operators.base.label_fakes`), so every masked value is still a label of the
type the package creates. Personal data is what masking's recognizers find in a label: the structured shapes
(emails, phones, SSNs, cards, IBANs) and the free-text rules (person names, cued ids, addresses).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import pyarrow as pa

from hfit_dagster.masking.catalog import COLUMN_OPERATORS
from hfit_dagster.masking.operators.base import label_fakes
from hfit_dagster.masking.operators.registry import get_operator
from hfit_dagster.masking.recognizers import find_all
from hfit_dagster.masking.value_patterns import entity_hits

if TYPE_CHECKING:
    from hfit_dagster.masking.plan import TableMaskingPlan


@dataclass(frozen=True)
class PersonalLabels:
    """What the personal labels of an enum type are: the most common entity among them, its column operator
    (``hash`` for an entity no operator fakes as a whole value) and how many labels hold personal data."""

    entity: str
    operator: str
    personal: int
    total: int

    def evidence(self, sql_type: str) -> str:
        return f"type {sql_type}: {self.personal}/{self.total} enum labels are personal data ({self.entity})"


@lru_cache(maxsize=4096)
def _shaped(label: str) -> str | None:
    """The structured entity (email, phone, SSN, card, IBAN) a label holds, or None."""
    shapes = [entity for entity, hits in entity_hits(pa.array([label], pa.string())).items() if hits.any()]
    return sorted(shapes)[0] if shapes else None


@lru_cache(maxsize=4096)
def label_entity(label: str) -> str | None:
    """The entity a label holds (a structured shape first, then the longest free-text finding), or None. A name
    alone counts when it has two words or more: a one-word label that is also a first name (``Asia``,
    ``Jordan``, ``Grace``) is more often a region, a country or a plan than a person."""
    if not label.strip():
        return None
    shaped = _shaped(label)
    if shaped is not None:
        return shaped
    findings = [f for f in find_all(label)
                if f.entity_type != "PERSON" or len(label[f.start:f.end].split()) >= 2]
    if not findings:
        return None
    return max(findings, key=lambda f: (f.end - f.start, f.entity_type)).entity_type


@lru_cache(maxsize=1024)
def personal_labels(labels: tuple[str, ...]) -> PersonalLabels | None:
    """How an enum type's labels hold personal data, or None when none does."""
    entities = Counter(e for e in (label_entity(label) for label in labels) if e is not None)
    if not entities:
        return None
    entity, _ = max(entities.items(), key=lambda item: (item[1], item[0]))
    return PersonalLabels(entity, COLUMN_OPERATORS.get(entity, "hash"), sum(entities.values()), len(labels))


def personal_members(labels: Sequence[str]) -> tuple[str, ...]:
    """The labels that hold personal data, in label order."""
    return tuple(label for label in labels if label_entity(label) is not None)


def package_labels(plan: TableMaskingPlan, key: bytes) -> dict[str, dict[str, str]]:
    """Per masked column of ``plan`` whose enum labels are personal data, ``{label: label in the package}``: what
    the package's DDL declares, so the masked values (each its label's fake) are members of the type. A nulled
    column's labels are left to the DDL's own sanitizing (no value needs them)."""
    out: dict[str, dict[str, str]] = {}
    for name, decision in plan.decisions.items():
        limits = plan.limits(name)
        if limits.labels and limits.personal_labels and decision.operator not in ("keep", "null"):
            out[name] = label_fakes(get_operator(decision.operator), key, limits.labels, limits.personal_labels)
    return out
