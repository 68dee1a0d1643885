"""ENUM and SET labels that are personal data: an ENUM of account managers' names, a SET of team emails.

Such a column's values are personal data as much as its labels, and the labels reach the package's DDL. The
column is masked like any personal column (values faked by an operator), and its labels by the same operator
(:func:`~hfit_dagster.masking.operators.base.label_fakes`), so every masked value is still a label of the
type the package creates. Personal data is what masking's recognizers find in a label: the structured shapes
(emails, phones, SSNs, cards, IBANs) and the free-text rules (person names, cued ids, addresses).

A one-word name alone is no evidence (``Asia``, ``Jordan``, ``Grace`` are regions, countries and plans too), but
a type whose labels are mostly first names is a type of names (``ENUM('Olivia', 'Mateo', 'Aiko', 'Chidi')``):
:func:`first_name_labels` reads each label against the name gazetteers (:mod:`.recognizers.names`) and judges
the type as a whole. Its labels are faked by ``first_name``.

The labels' fakes belong to the type, not to a column: they are made by the operator of the labels' entity
(``first_name``, ``person_name``, ``email`` ...), whatever rule a column of the type has, so two columns of one
PostgreSQL enum type (one masked, one kept by the template) declare and hold the same fakes.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import pyarrow as pa

from hfit_dagster.masking.catalog import COLUMN_OPERATORS
from hfit_dagster.masking.operators.base import label_fakes
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
    from hfit_dagster.masking.recognizers import find_all  # the recognizers load when a label is judged

    shaped = _shaped(label)
    if shaped is not None:
        return shaped
    findings = [f for f in find_all(label)
                if f.entity_type != "PERSON" or len(label[f.start:f.end].split()) >= 2]
    if not findings:
        return None
    return max(findings, key=lambda f: (f.end - f.start, f.entity_type)).entity_type


def _is_word(text: str) -> bool:
    """Letters (with their combining marks), hyphens and apostrophes only, starting with a letter."""
    return text[:1].isalpha() and all(ch.isalpha() or ch in "-'’" or unicodedata.category(ch).startswith("M")
                                      for ch in text)


def _word_kind(word: str) -> str | None:
    """How a word of a label reads: a listed name, an ambiguous one, a common word, an unknown capitalised word,
    or a word of a script the word lists do not cover (FOREIGN); None when it is no word."""
    from hfit_dagster.masking.recognizers.gazetteers import words
    from hfit_dagster.masking.recognizers.names import AMBIGUOUS, COMMON, FOREIGN, NAME, UNKNOWN, word_class

    if not _is_word(word):
        return None
    if word.isupper() and len(word) <= 3:  # a code: US, EUR, XL
        return COMMON
    lower = word.lower()
    if not _latin(word[0]):
        return NAME if lower in words("first_names") or lower in words("last_names") else FOREIGN
    if any(ch.isupper() for ch in word[1:]) and not word.isupper():  # CamelCase: HotPink, SeaGreen
        return COMMON
    kind = word_class(word, "LATIN")
    # in small letters, only a listed name is one ("none", "will", "rose": placeholders and words)
    return COMMON if kind in (UNKNOWN, AMBIGUOUS) and not word[0].isupper() else kind


def _latin(ch: str) -> bool:
    return unicodedata.name(ch, "").startswith("LATIN")


def _label_kind(label: str) -> str | None:
    """A label of up to three words read as one: a name when a word is a listed name and none is common."""
    from hfit_dagster.masking.recognizers.names import COMMON, NAME, UNKNOWN

    parts = label.split()
    if not parts or len(parts) > 3:
        return None
    kinds = [_word_kind(part) for part in parts]
    if None in kinds:
        return None
    if len(kinds) == 1:
        return kinds[0]
    return COMMON if COMMON in kinds else NAME if NAME in kinds else UNKNOWN


@lru_cache(maxsize=1024)
def first_name_labels(labels: tuple[str, ...]) -> tuple[str, ...]:
    """The name labels of a type of first names, or () for any other type.

    A type is one of names when at least 70% of its non-blank labels read as names (listed, ambiguous, unknown
    capitalised words, words of an unlisted script), and either two or more (and 30% or more) are listed names,
    or three or more (and half) are listed names or words of a script without word lists (CJK, Thai, Greek ...).
    Measured on generated enums (tests/masking/test_enum_name_labels.py): ~96% of Faker first-name enums of 33
    locales found, ~2% of statuses, tiers, colours, countries, languages, cities and code names taken for names.
    """
    from hfit_dagster.masking.recognizers.names import AMBIGUOUS, FOREIGN, NAME, UNKNOWN

    kinds = {label: _label_kind(label.strip()) for label in labels if label.strip()}
    counts = Counter(kinds.values())
    total = len(kinds)
    named, foreign = counts[NAME], counts[FOREIGN]
    likely = named + counts[AMBIGUOUS] + counts[UNKNOWN] + foreign
    if not total or likely * 10 < total * 7:
        return ()
    if not ((named >= 2 and named * 10 >= total * 3) or (named + foreign >= 3 and (named + foreign) * 2 >= total)):
        return ()
    return tuple(label for label, kind in kinds.items() if kind in (NAME, AMBIGUOUS, UNKNOWN, FOREIGN))


@lru_cache(maxsize=1024)
def personal_labels(labels: tuple[str, ...]) -> PersonalLabels | None:
    """How an enum type's labels hold personal data, or None when none does."""
    names = set(first_name_labels(labels))
    found = {label: label_entity(label) or ("PERSON" if label in names else None) for label in labels}
    entities = Counter(e for e in found.values() if e is not None)
    if not entities:
        return None
    entity, _ = max(entities.items(), key=lambda item: (item[1], item[0]))
    operator = COLUMN_OPERATORS.get(entity, "hash")
    people = [label for label, e in found.items() if e == entity]
    if entity == "PERSON" and names and sum(len(label.split()) == 1 for label in people) * 2 >= len(people):
        operator = "first_name"  # mostly one-word names ("María José" among them): first names
    return PersonalLabels(entity, operator, sum(entities.values()), len(labels))


def personal_members(labels: Sequence[str]) -> tuple[str, ...]:
    """The labels that hold personal data, in label order."""
    names = set(first_name_labels(tuple(labels)))
    return tuple(label for label in labels if label in names or label_entity(label) is not None)


def package_labels(plan: TableMaskingPlan, key: bytes) -> dict[str, dict[str, str]]:
    """Per column of ``plan`` whose enum labels are personal data, ``{label: label in the package}``: what the
    package's DDL declares, the labels' fakes by their entity's operator (the type's, whatever the column's rule),
    so the values (each its label's fake) are members of the type and every column of one type agrees. A kept
    column (masking default ``keep``) is left to the DDL's own sanitizing, which relabels its values too."""
    out: dict[str, dict[str, str]] = {}
    for name, decision in plan.decisions.items():
        limits = plan.limits(name)
        if limits.labels and limits.personal_labels and limits.label_operator and decision.operator != "keep":
            out[name] = label_fakes(limits.label_operator, key, limits.labels, limits.personal_labels)
    return out
