"""Leak check: no original value of a masked column may appear in the masked output.

Originals are collected in memory while masking (never written anywhere). The output is scanned as
word sequences: every string value of every staged table is split into ``\\w+`` tokens, and an original
leaks when its token sequence appears in that stream. This finds an email inside free text, a phone
written with other spacing in a note, or a column that was not masked at all, in one pass per table.

Which originals are searched (written into the manifest, so the rule is visible):
* string values of masked columns, with at least 6 characters;
* single-token originals only when they contain a digit or are at least 8 characters long
  (a lone first name such as "Maria" can legitimately be produced as a fake for somebody else);
* single first names, last names and cities are not searched: fakes are drawn from the same vocabulary
  as real names, so "Rossi" in the output is no evidence of a leak. Full names are not searched globally
  either (a fake "Maria Lopez" may be somebody else's real name): where a table masks both a first and a
  last name, each row's original "first last" must not appear in any masked string value of that same row
  (its email, its notes, ...).
Free-text columns (``redact_text``) are not searched for their whole original value: their PII spans are
searched through the columns they came from (emails, phones, names), which is what redaction removes.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

_TOKEN = re.compile(r"\w+")
UNSEARCHED_OPERATORS = frozenset({"keep", "redact_text", "null", "fixed", "date_of_birth",
                                  "first_name", "last_name", "city"})
DEFAULT_MAX_ORIGINALS = 500_000


def _tokens(text: str) -> tuple[str, ...]:
    return tuple(t.lower() for t in _TOKEN.findall(text))


@dataclass
class LeakCollector:
    """Collects the originals of masked columns while a build masks them (memory only)."""

    max_originals: int = DEFAULT_MAX_ORIGINALS
    _singles: set[tuple[str, ...]] = field(default_factory=set)
    _by_pair: dict[tuple[str, ...], set[tuple[str, ...]]] = field(default_factory=lambda: defaultdict(set))
    _where: dict[tuple[str, ...], str] = field(default_factory=dict)
    count: int = 0
    truncated: bool = False
    row_hits: set[str] = field(default_factory=set)

    def add_column(self, table: str, column: str, operator: str, original: pa.Array) -> None:
        """Remember the searchable originals of one masked column (see the module docstring)."""
        searched = operator == "json_pii" or (
            operator not in UNSEARCHED_OPERATORS
            and (pa.types.is_string(original.type) or pa.types.is_large_string(original.type)))
        if not searched:
            return
        if self.count >= self.max_originals:  # full: not even worth taking the values out of Arrow
            self.truncated = self.truncated or original.null_count < len(original)
            return
        if operator == "json_pii":  # a JSON document without PII is rightly unchanged: search its PII leaves
            from hfit_dagster.masking.json_pii import searchable_leaves

            self._add_values(f"{table}.{column}", searchable_leaves(pc.unique(original).to_pylist()),
                             multi_token_only=False)
            return
        self._add_values(f"{table}.{column}", pc.unique(original).to_pylist(),
                         multi_token_only=operator == "person_name")

    def check_row_full_names(self, table: str, first: pa.Array, last: pa.Array, masked: pa.RecordBatch) -> None:
        """Each row's original ``first last`` must not appear in that row's masked string values."""
        names = [(f, ln) for f, ln in zip(first.to_pylist(), last.to_pylist(), strict=True)]
        columns = [(n, masked.column(n).to_pylist()) for n in masked.schema.names
                   if pa.types.is_string(masked.schema.field(n).type)]
        for row, (given, family) in enumerate(names):
            if not given or not family:
                continue
            wanted = _tokens(f"{given} {family}")
            for column, values in columns:
                value = values[row]
                if value and wanted[0] in value.lower():
                    words = _tokens(value)
                    if any(words[i : i + len(wanted)] == wanted for i in range(len(words))):
                        self.row_hits.add(f"{table}.full_name in {table}.{column}")

    def _add_values(self, where: str, values: list[str | None], *, multi_token_only: bool) -> None:
        for value in values:
            if value is None or len(value) < 6:
                continue
            tokens = _tokens(value)
            if not tokens:
                continue
            if len(tokens) == 1 and (multi_token_only
                                     or not (any(ch.isdigit() for ch in value) or len(value) >= 8)):
                continue
            if self.count >= self.max_originals:
                self.truncated = True
                return
            if tokens not in self._where:
                if len(tokens) == 1:
                    self._singles.add(tokens)
                else:
                    self._by_pair[tokens[:2]].add(tokens)
                self._where[tokens] = where
                self.count += 1

    def scan(self, values: Iterable[str]) -> set[str]:
        """Columns (``table.column``) whose originals occur in ``values``; empty when nothing leaked."""
        hits: set[str] = set()
        if not self._where:
            return hits
        singles, by_pair = self._singles, self._by_pair
        for value in values:
            if value is None:
                continue
            words = _tokens(value)
            for i, word in enumerate(words):
                if (word,) in singles:
                    hits.add(self._where[(word,)])
                candidates = by_pair.get(words[i : i + 2])
                if candidates:
                    for tokens in candidates:
                        if words[i : i + len(tokens)] == tokens:
                            hits.add(self._where[tokens])
        return hits

    def scan_table(self, name: str, table: pa.Table) -> set[str]:
        """``"<origin> in <table.column>"`` for every column of ``table`` where an original was found."""
        hits: set[str] = set()
        for column_name, column in zip(table.column_names, table.columns, strict=True):
            if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
                hits |= {f"{origin} in {name}.{column_name}" for origin in self.scan(pc.unique(column).to_pylist())}
        return hits

    def summary(self) -> dict[str, object]:
        return {
            "originals_searched": self.count,
            "sampled": self.truncated,
            "method": "token sequences of original values of masked string columns searched in every "
            "string value of the package; first+last names searched in the masked values of their row",
        }
