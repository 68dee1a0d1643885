"""The watch over kept columns: every batch of a column the plan keeps is searched for personal data.

A plan is decided on a sample; a column kept on that evidence may still hold an email in its millionth row.
Before a batch is masked, each of its kept text-like columns - text and JSON, BLOB/VARBINARY/bytea searched
as bytes (the first 64 KiB of each value), whole numbers that could be identifiers (integers, and decimals of
scale 0 or unbounded whose values are all whole, MySQL DECIMAL and PostgreSQL numeric alike: a numeric read as
its text to keep NaN is a number here, not text) - is searched by the
structured recognizers of :mod:`hfit_dagster.masking.value_patterns` (emails, phone numbers, US SSNs,
payment cards with Luhn, IBANs; SSN- and phone-shaped integers), vectorized over the batch.

A hit fails the build: batches are written as they come, so earlier batches of the column are staged as
kept and the column can no longer be masked consistently in this build; the error names the column, what
was found (never a value) and the rule to add, and nothing is published.

Not watched: columns kept by a template rule (``keep`` is a reviewed decision), every column when the
template's masking default is ``keep``, integer keys, numbers named as counts, amounts or ids, and decimals
with a fractional scale (amounts, measures).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hfit_dagster.errors import MaskingError
from hfit_dagster.extract.arrow_types import decimal_scale, is_decimal_text
from hfit_dagster.masking import TableMaskingPlan
from hfit_dagster.masking.classifier import name_tokens
from hfit_dagster.masking.value_patterns import (
    ENTITY_OPERATORS,
    entity_hits,
    integer_entity,
    may_be_identifier,
)

BINARY_SCAN_BYTES = 65_536  # of each distinct binary value, searched as bytes
_NON_FINITE = r"^[+-]?(nan|inf|infinity)$"  # a decimal text's NaN and infinities


class PersonalDataInKeptColumn(MaskingError):
    """A kept column holds personal data found while staging."""


def _watched_kind(column: pa.Array, f: pa.Field, decision_source: str, name: str) -> str | None:
    t = column.type
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_decimal(t) or is_decimal_text(f):
        # a number, whatever holds it (a PostgreSQL numeric is its text, to keep NaN): whole numbers that
        # could be identifiers are watched as integers, others (amounts, measures) are not looked at
        scale = decimal_scale(f)
        whole = scale is None or scale <= 0
        if not whole or decision_source == "key" or not may_be_identifier(name_tokens(name)):
            return None
        return "whole decimal" if scale == 0 else "decimal"  # NUMERIC(p,0) is masked as integers are
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "text"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return "binary"
    if pa.types.is_integer(t) and decision_source != "key" and may_be_identifier(name_tokens(name)):
        return "integer"
    return None


def _whole_numbers(column: pa.Array) -> pa.Array | None:
    """The distinct values of an integer or decimal column as int64, without NaN and infinities; None when one
    of them is not a whole number (a column of fractions holds no identifier). Values over 18 digits are left
    out: no SSN or phone number has them."""
    if pa.types.is_dictionary(column.type):
        column = column.dictionary
    if pa.types.is_integer(column.type):
        return column
    text = pc.utf8_trim_whitespace(pc.cast(pc.unique(column.drop_null()), pa.string()))
    text = text.filter(pc.invert(pc.match_substring_regex(text, _NON_FINITE, ignore_case=True)))
    if not pc.all(pc.match_substring_regex(text, r"^[+-]?[0-9]+$")).as_py():
        return None
    return pc.cast(text.filter(pc.less_equal(pc.utf8_length(text), 18)), pa.int64())


def _text_values(column: pa.Array, kind: str) -> pa.Array:
    """The batch's distinct values of a text-like column (a dictionary's values as they are); binary values
    as bytes, their first ``BINARY_SCAN_BYTES``: text inside a BLOB is found whatever surrounds it, and a
    column of images costs one pass over a bounded prefix of each, not over every byte."""
    if pa.types.is_dictionary(column.type):
        column = column.dictionary
    else:
        column = pc.unique(column)  # hashing is cheaper than a regular expression per repeated value
    if kind == "binary":
        column = pc.binary_slice(column, 0, BINARY_SCAN_BYTES)
    return column


@dataclass
class KeptColumnWatch:
    """Checks each batch of a table's kept columns before it is masked (see the module docstring).

    ``enabled`` is off when the template keeps everything by default (local experiments).
    """

    enabled: bool = True
    batches: Counter[str] = field(default_factory=Counter)  # "table.column" -> batches checked

    def check(self, table: str, plan: TableMaskingPlan, batch: pa.RecordBatch) -> None:
        """Raise :class:`PersonalDataInKeptColumn` when a kept column of ``batch`` holds personal data."""
        if not self.enabled:
            return
        for name, decision in plan.decisions.items():
            if decision.operator != "keep" or decision.source == "rule" or name not in batch.schema.names:
                continue
            column = batch.column(name)
            kind = _watched_kind(column, batch.schema.field(name), decision.source, name)
            if kind is None or column.null_count == len(column):
                continue
            self.batches[f"{table}.{name}"] += 1
            if kind in ("integer", "whole decimal", "decimal"):
                numbers = _whole_numbers(column)
                finding = integer_entity(numbers) if numbers is not None else None
                if finding is not None:
                    raise self._error(table, name, kind, {finding.entity: finding.matched}, decision.evidence)
                continue
            found = entity_hits(_text_values(column, kind))
            if found:
                counts = {entity: int(np.count_nonzero(rows)) for entity, rows in found.items()}
                raise self._error(table, name, kind, counts, decision.evidence)

    @staticmethod
    def _error(table: str, column: str, kind: str, counts: dict[str, int],
               evidence: str) -> PersonalDataInKeptColumn:
        found = ", ".join(f"{n} {entity}" for entity, n in sorted(counts.items()))
        entity = max(counts, key=lambda e: counts[e])
        if kind in ("binary", "decimal"):  # no operator fakes an unbounded NUMERIC value: it is nulled
            operator = "null"
        elif kind in ("integer", "whole decimal"):
            operator = ENTITY_OPERATORS.get(entity, "hash")
        else:
            operator = "redact_text"
        shaped = ENTITY_OPERATORS.get(entity, operator)
        # YAML reads a bare null as no value at all: the null operator is written quoted
        written = '"null"' if operator == "null" else operator
        whole = "" if kind == "decimal" else f"({shaped} if every value is one {entity}), "
        return PersonalDataInKeptColumn(
            f"{table}.{column} was kept ({evidence}) but a batch of it holds personal data: {found} "
            "distinct value(s) found while staging; nothing was published",
            hint=f"add a masking rule to the template, e.g. 'masking: {{{table}.{column}: {written}}}' "
                 f"{whole}or '{table}.{column}: keep' to publish the column as it is",
        )

    def summary(self) -> dict[str, object]:
        """What was watched, for the stage's checks (column names and batch counts, never values)."""
        return {"enabled": self.enabled, "passed": True, "columns": dict(sorted(self.batches.items()))}

