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

import functools
import re
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hfit_dagster.checks.token_hashes import HASH_Q, TokenPatterns, python_tokens, tokens_of

_TOKEN = re.compile(r"\w+")
UNSEARCHED_OPERATORS = frozenset({"keep", "redact_text", "null", "fixed", "date_of_birth",
                                  "first_name", "last_name", "city"})
DEFAULT_MAX_ORIGINALS = 5_000_000


def _tokens(text: str) -> tuple[str, ...]:
    return tuple(t.lower() for t in _TOKEN.findall(text))


def _has_digit(values: pa.Array) -> np.ndarray:
    """Per value: does it contain a digit (``str.isdigit``: Arabic-Indic, full-width ... count too)?"""
    found = pc.match_substring_regex(values, r"[0-9]").to_numpy(zero_copy_only=False).copy()
    for i in np.flatnonzero(~pc.string_is_ascii(values).to_numpy(zero_copy_only=False)).tolist():
        found[i] = any(ch.isdigit() for ch in values[i].as_py())
    return found


# (token count, sequence hashes, first-token hashes) of one batch of originals, one triple per token count
EntryPatterns = list[tuple[int, np.ndarray, np.ndarray]]


@functools.lru_cache(maxsize=1)
def _hashing_thread() -> ThreadPoolExecutor:
    """One thread that hashes originals while the build goes on (compiled and numpy work, mostly without the GIL)."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="hfit-leak-hash")


def _hash_later(values: pa.Array, multi_token_only: bool) -> Future[EntryPatterns]:
    return _hashing_thread().submit(_entry_patterns, values, multi_token_only)


def _build_patterns(columns: list[tuple[str, pa.Array, bool]],
                    hashed: list[Future[EntryPatterns]]) -> tuple[TokenPatterns, list[str]]:
    """The patterns of collected originals (``LeakCollector._columns`` and their hashes) and their origins."""
    hashes, lengths, origins, firsts = [], [], [], []
    names = []
    for origin, ((where, _, _), patterns) in enumerate(zip(columns, hashed, strict=True)):
        names.append(where)
        for k, h, first in patterns.result():
            hashes.append(h)
            firsts.append(first)
            lengths.append(np.full(h.size, k, dtype=np.int64))
            origins.append(np.full(h.size, origin, dtype=np.int64))
    if not hashes:
        return TokenPatterns({}, {}, np.zeros(1 << 21, dtype=np.uint8)), names
    return TokenPatterns.build(np.concatenate(hashes), np.concatenate(lengths), np.concatenate(origins),
                               np.concatenate(firsts)), names


def _entry_patterns(values: pa.Array, multi_token_only: bool) -> EntryPatterns:
    """The searched token sequences of one batch of originals (see the module docstring), hashed."""
    tokens = tokens_of(values)
    counts = tokens.counts(len(values))
    keep = counts > 1
    single = np.flatnonzero(counts == 1) if not multi_token_only else np.zeros(0, dtype=np.int64)
    if len(single):  # one-token values count only with a digit or 8+ characters (looked at for those alone)
        one = values.take(pa.array(single))
        keep[single] = _has_digit(one) | (pc.utf8_length(one).to_numpy(zero_copy_only=False) >= 8)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)
    out: EntryPatterns = []
    with np.errstate(over="ignore"):
        for k in np.unique(counts[keep]).tolist():
            first = starts[keep & (counts == k)]
            h = tokens.hashes[first].copy()
            for j in range(1, k):
                h = h * HASH_Q + tokens.hashes[first + j]
            out.append((int(k), h, tokens.hashes[first]))
    return out


def scan_values(patterns: TokenPatterns, origins: list[str], values: Iterable[str | None]) -> set[str]:
    """Origins (``table.column``) of the patterns whose token sequence occurs in one of ``values``."""
    present = [v for v in values if v]
    if not patterns.by_length or not present:
        return set()
    return {origins[origin] for _, origin in patterns.matches(python_tokens(present))}


@dataclass
class LeakCollector:
    """Collects the originals of masked columns while a build masks them (memory only).

    Originals are kept as the distinct values of each masked batch (Arrow strings, in memory); each batch is
    hashed into token sequences on a background thread as it comes, and :meth:`patterns` gathers them into
    :class:`TokenPatterns` when the output is first scanned. A hash match counts as a match (see
    :mod:`token_hashes`).
    """

    max_originals: int = DEFAULT_MAX_ORIGINALS
    count: int = 0  # original values collected (before the token rules; the searched count is in summary())
    truncated: bool = False
    row_hits: set[str] = field(default_factory=set)
    _columns: list[tuple[str, pa.Array, bool]] = field(default_factory=list)  # (origin, originals, multi only)
    _hashed: list[Future[EntryPatterns]] = field(default_factory=list)  # _columns' patterns, hashed meanwhile
    _patterns: TokenPatterns | None = None
    _prepared: Future[tuple[TokenPatterns, list[str]]] | None = None  # patterns of the originals so far, building
    _origins: list[str] = field(default_factory=list)
    _compaction_useless: bool = False
    version: int = 0  # changes whenever the searched originals do (a scan made before a change is stale)

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

            values = pa.array(searchable_leaves(pc.unique(original).to_pylist()), pa.string())
        else:
            values = pc.unique(original).cast(pa.string())
        values = values.filter(pc.fill_null(pc.greater_equal(pc.utf8_length(values), 6), False))
        room = self.max_originals - self.count
        if len(values) > room and not self._compaction_useless:
            before = self.count
            self._compact()
            self._compaction_useless = before - self.count < self.max_originals // 10
            room = self.max_originals - self.count
        if len(values) > room:
            values, self.truncated = values.slice(0, room), True
        if len(values):
            self._columns.append((f"{table}.{column}", values, operator == "person_name"))
            self._hashed.append(_hash_later(values, operator == "person_name"))
            self.count += len(values)
            self._patterns = self._prepared = None
            self.version += 1

    def discard(self) -> None:
        """Drop hashing not started yet (a failed build: nothing will be scanned)."""
        for pending in self._hashed:
            pending.cancel()
        if self._prepared is not None:
            self._prepared.cancel()

    def _compact(self) -> None:
        """One array of distinct values per column instead of one per batch (values repeat across batches:
        postcodes, shared addresses, a customer's email on each of their orders)."""
        merged: dict[tuple[str, bool], list[pa.Array]] = {}
        for where, values, multi in self._columns:
            merged.setdefault((where, multi), []).append(values)
        self._columns = [(where, pc.unique(pa.concat_arrays(parts)), multi) for (where, multi), parts in merged.items()]
        for pending in self._hashed:
            pending.cancel()
        self._hashed = [_hash_later(values, multi) for _, values, multi in self._columns]
        self.count = sum(len(values) for _, values, _ in self._columns)
        self._patterns = self._prepared = None
        self.version += 1

    def prepare_patterns(self) -> None:
        """Start building the patterns of the originals collected so far, on the hashing thread (after their
        hashes); :meth:`patterns` takes that build unless an original was added since (which drops it)."""
        if self._patterns is None and self._prepared is None and self._columns:  # not for the same originals twice
            self._prepared = _hashing_thread().submit(_build_patterns, list(self._columns), list(self._hashed))

    def snapshot(self) -> tuple[int, Future[tuple[TokenPatterns, list[str]]]] | None:
        """The originals collected so far as patterns (built on the hashing thread) with their origins, and
        the :attr:`version` they belong to; None before any original. For a scan that runs while the build
        goes on: it touches nothing the build changes, and is stale once ``version`` moved."""
        if not self._columns:
            return None
        if self._patterns is not None:
            done: Future[tuple[TokenPatterns, list[str]]] = Future()
            done.set_result((self._patterns, list(self._origins)))
            return self.version, done
        self.prepare_patterns()
        assert self._prepared is not None
        return self.version, self._prepared

    def searched(self) -> tuple[TokenPatterns, list[str]]:
        """The patterns of every original collected and the origin (``table.column``) of each pattern."""
        return self.patterns(), self._origins

    def patterns(self) -> TokenPatterns:
        """The searched originals as hashed token sequences (hashed while collecting, built once after)."""
        if self._patterns is None:
            prepared, self._prepared = self._prepared, None
            self._patterns, self._origins = (prepared.result() if prepared is not None
                                             else _build_patterns(self._columns, self._hashed))
        return self._patterns

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

    def scan(self, values: Iterable[str | None]) -> set[str]:
        """Columns (``table.column``) whose originals occur in ``values``; empty when nothing leaked."""
        return scan_values(self.patterns(), self._origins, values)

    def summary(self) -> dict[str, object]:
        return {
            "originals_searched": self.patterns().size,
            "sampled": self.truncated,
            "method": "token sequences of original values of masked string columns searched in every "
            "string value of the package (as 64-bit hashes); first+last names searched in the masked values "
            "of their row",
        }
