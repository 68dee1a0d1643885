"""Leak check, the collecting half: the originals of masked columns, held as 64-bit digests while a build masks.

Originals are never kept as text: each batch of a masked column is split into ``\\w+`` tokens and hashed (on a
background thread, compiled loops) into one 64-bit hash of its token sequence, and its strings are dropped.
An original leaks when its token sequence appears in the output; :mod:`hit_judgement` decides what a hit is.

Which originals are searched (written into the manifest, so the rule is visible):
* string values of masked columns, with at least 6 characters;
* single-token originals only when they contain a digit or are at least 8 characters long
  (a lone first name such as "Maria" can legitimately be produced as a fake for somebody else);
* single first names, last names and cities are not searched; where a table masks both a first and a last
  name, each row's ``first last`` is searched as a full name (``<table>.full_name``), like ``person_name``
  values (two words or more).
Digits are compared joined across separators, on both sides (:func:`digits_joined`): an original
``+1 415-555-0100`` is searched as ``+14155550100`` (the token ``14155550100``), and the scan reads every value so
too, so ``1 (415) 555 0100`` finds it. Dots join only phone-shaped runs (``415.555.0100``, ``+1.415.555.0100``:
3 to 5 groups, the first of 1 to 4 digits, the others of 2 to 4), never in a value holding an IPv4 address;
decimals (two groups) and versions (one-digit parts) keep their dots. A phone with a country code is also
searched by its national number, bare and after a trunk ``0`` (``4155550100``, ``04155550100``:
:func:`national_variants`).
Free-text columns (``redact_text``) are not searched for their whole original value: their PII spans are
searched through the columns they came from (emails, phones, names), which is what redaction removes. JSON
documents (``json_pii``) are searched through the string leaves that the key rules mask.

Each original also carries the entity of its row (:mod:`hfit_dagster.pipeline.leak_scan` says how rows are
named), kept as one digest per (original, entity) pair: the judgement asks "is this the original of the row it
was found in, or of an entity that row belongs to?" without any original in memory.

Memory: per searched original 13 bytes while collecting (hash, token count, origin) plus 8 per entity pair;
merged, 12 bytes per distinct sequence plus the pairs, beside the first tokens' 2 MB bit filter and the
sequences' filter (4 bytes per sequence, 2 to 16 MB). 10M originals take ~215 MB.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hfit_dagster.arrow_strings import as_utf8
from hfit_dagster.checks.digit_text import digit_dot_digit, only_digits, separators_between_digits_dropped
from hfit_dagster.checks.fake_spaces import FakeSpace, operator_space
from hfit_dagster.checks.token_hashes import (
    HASH_Q,
    TokenPatterns,
    add_first_tokens,
    first_token_filter,
    python_tokens,
    small_distinct,
    tokens_of,
)

UNSEARCHED_OPERATORS = frozenset({"keep", "redact_text", "null", "fixed", "date_of_birth",
                                  "first_name", "last_name", "city"})
FULL_NAME = "full_name"  # the searched "first last" of a table that masks both (origin <table>.full_name)
DEFAULT_MAX_ORIGINALS = 20_000_000
_PAIR_MIX = (np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB))


def pair_digests(hashes: np.ndarray, entities: np.ndarray) -> np.ndarray:
    """One 64-bit digest per (pattern hash, entity digest): broadcast, so ``hashes[:, None]`` against an
    ``(n, m)`` array of entities gives ``(n, m)`` digests. Equal pairs give equal digests; unequal ones share a
    digest with probability ~2**-64."""
    with np.errstate(over="ignore"):
        x = (hashes * _PAIR_MIX[0]) ^ entities
        x = (x ^ (x >> np.uint64(31))) * _PAIR_MIX[1]
        return x ^ (x >> np.uint64(29))


# a phone written with dots, alone between non-digits (a sentence's full stop may follow): its groups captured
_DOTTED_PHONE = (r"(^|[^0-9.])([0-9]{1,4})\.([0-9]{2,4})\.([0-9]{2,4})(?:\.([0-9]{2,4}))?(?:\.([0-9]{2,4}))?"
                 r"(\.?(?:[^0-9.]|$))")
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_IPV4 = rf"(?:^|[^0-9.]){_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}(?:\.?(?:[^0-9.]|$))"


def _dotted_phones_joined(values: pa.Array, fast: bool = True) -> pa.Array:
    """Each phone-shaped dotted run of digits joined (``call 415.555.0100.`` -> ``call 4155550100.``), except in
    values holding an IPv4 address (``192.168.10.20`` stays, and so does a phone beside it). ``fast``: the patterns
    read only the values holding a digit, a dot and a digit in a row (any match holds that), the others kept."""
    if fast:
        rows = np.flatnonzero(digit_dot_digit(values))
        if not rows.size:
            return values
        if rows.size == len(values):
            return _dotted_phones_joined(values, fast=False)
        mask = np.zeros(len(values), dtype=bool)
        mask[rows] = True
        return pc.replace_with_mask(values, pa.array(mask), _dotted_phones_joined(values.take(pa.array(rows)),
                                                                                  fast=False))
    dotted = pc.fill_null(pc.match_substring_regex(values, _DOTTED_PHONE), False)
    if not pc.any(dotted).as_py():  # most batches: no address looked for either
        return values
    dotted = pc.and_(dotted, pc.invert(pc.fill_null(pc.match_substring_regex(values, _IPV4), False)))
    joined = values
    for _ in range(2):  # a run's boundary character is consumed: the next run, one character on, joins next pass
        joined = pc.replace_substring_regex(joined, _DOTTED_PHONE, r"\1\2\3\4\5\6\7")
    return pc.if_else(dotted, joined, values)


def digits_joined(values: pa.Array, fast: bool = True) -> pa.Array:
    """Each string with the separators between two digits removed (``(415) 555-0100`` -> ``(4155550100``),
    and phone-shaped dotted runs joined (:func:`_dotted_phones_joined`); other text as it is, single digits
    between separators joined too (``1-2-3``). ``fast=False``: the RE2 reference
    (:func:`~hfit_dagster.checks.digit_text.separators_between_digits_dropped`)."""
    return separators_between_digits_dropped(_dotted_phones_joined(as_utf8(values), fast=fast), fast=fast)


def national_variants(operator: str, values: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """A phone's other writings: for each original of a ``phone`` column written with a country code, its national
    number's digits, bare and after a trunk ``0``; the variants and, per variant, the index of its original."""
    if operator != "phone" or not len(values):
        return pa.array([], pa.string()), np.zeros(0, dtype=np.int64)
    from hfit_dagster.masking.operators.phone_prefix import international_split

    international, _, rest = international_split(values)
    rest = only_digits(rest)
    usable = international & np.asarray(pc.fill_null(pc.greater_equal(pc.binary_length(rest), 6), False)
                                        .to_numpy(zero_copy_only=False), dtype=bool)
    if not usable.any():
        return pa.array([], pa.string()), np.zeros(0, dtype=np.int64)
    rows = np.flatnonzero(usable)
    national = rest.take(pa.array(rows)).cast(pa.string())
    return pa.concat_arrays([national, pc.binary_join_element_wise("0", national, "")]), np.concatenate([rows, rows])


def _has_digit(values: pa.Array) -> np.ndarray:
    """Per value: does it contain a digit (``str.isdigit``: Arabic-Indic, full-width ... count too)?"""
    found = pc.match_substring_regex(values, r"[0-9]").to_numpy(zero_copy_only=False).copy()
    for i in np.flatnonzero(~pc.string_is_ascii(values).to_numpy(zero_copy_only=False)).tolist():
        found[i] = any(ch.isdigit() for ch in values[i].as_py())
    return found


@dataclass(frozen=True)
class Origin:
    """Where searched originals came from (``table.column``) and which values their operator writes."""

    where: str
    space: FakeSpace


@dataclass
class OriginalDigests:
    """Digests of searched originals: per original its sequence hash, token count and origin index; per
    (original, entity of its row) one pair digest (:func:`pair_digests`)."""

    hashes: np.ndarray
    lengths: np.ndarray
    origins: np.ndarray
    pairs: np.ndarray

    @property
    def nbytes(self) -> int:
        return self.hashes.nbytes + self.lengths.nbytes + self.origins.nbytes + self.pairs.nbytes

    @staticmethod
    def empty() -> OriginalDigests:
        return OriginalDigests(np.zeros(0, np.uint64), np.zeros(0, np.uint8), np.zeros(0, np.int32),
                               np.zeros(0, np.uint64))


@dataclass
class SearchedOriginals:
    """What the output is searched for: the patterns (distinct token sequences, by length, each with the index
    of its first origin), the origins, and the sorted (pattern, entity) pair digests."""

    patterns: TokenPatterns
    origins: list[Origin]
    pairs: np.ndarray

    def same_entity(self, hashes: np.ndarray, entities: np.ndarray) -> np.ndarray:
        """Per hit: is ``hashes[i]`` an original of one of the entities ``entities[i]`` (0: none)?"""
        if not self.pairs.size or not hashes.size:
            return np.zeros(hashes.size, dtype=bool)
        wanted = pair_digests(hashes[:, None], entities)
        at = np.minimum(np.searchsorted(self.pairs, wanted), self.pairs.size - 1)
        return ((self.pairs[at] == wanted) & (entities != 0)).any(axis=1)

    @property
    def nbytes(self) -> int:
        patterns = sum(h.nbytes + self.patterns.origins[k].nbytes for k, h in self.patterns.by_length.items())
        filters = self.patterns.bits.nbytes + (self.patterns.first_bits.nbytes
                                               if self.patterns.first_bits is not None else 0)
        return patterns + filters + self.pairs.nbytes

    def digests(self) -> OriginalDigests:
        """The patterns back as digests (to merge more originals into them)."""
        if not self.patterns.by_length:
            return OriginalDigests(np.zeros(0, np.uint64), np.zeros(0, np.uint8), np.zeros(0, np.int32), self.pairs)
        lengths = [np.full(h.size, k, dtype=np.uint8) for k, h in self.patterns.by_length.items()]
        return OriginalDigests(np.concatenate(list(self.patterns.by_length.values())), np.concatenate(lengths),
                               np.concatenate(list(self.patterns.origins.values())).astype(np.int32), self.pairs)


@functools.lru_cache(maxsize=1)
def _hashing_thread() -> ThreadPoolExecutor:
    """One thread that hashes originals while the build goes on (compiled and numpy work, mostly without the GIL)."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="hfit-leak-hash")


def _digest(values: pa.Array, origins: np.ndarray, multi_token_only: bool, entities: np.ndarray | None,
            first_bits: np.ndarray) -> OriginalDigests:
    """The searched token sequences of one batch of originals (see the module docstring), hashed; the first
    token of each goes into ``first_bits`` (this runs on the hashing thread only)."""
    tokens = tokens_of(values)
    counts = tokens.counts(len(values))
    keep = counts > 1
    single = np.flatnonzero(counts == 1) if not multi_token_only else np.zeros(0, dtype=np.int64)
    if len(single):  # one-token values count only with a digit or 8+ characters (looked at for those alone)
        one = values.take(pa.array(single))
        keep[single] = _has_digit(one) | (pc.utf8_length(one).to_numpy(zero_copy_only=False) >= 8)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)
    rows = np.flatnonzero(keep)
    k_of = counts[rows]
    hashes = np.empty(rows.size, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in small_distinct(k_of):
            at = k_of == k
            first = starts[rows[at]]
            h = tokens.hashes[first].copy()
            for j in range(1, k):
                h = h * HASH_Q + tokens.hashes[first + j]
            hashes[at] = h
    add_first_tokens(first_bits, tokens.hashes[starts[rows]])
    pairs = np.zeros(0, dtype=np.uint64)
    if entities is not None and rows.size:
        mine = entities[rows]
        pairs = pair_digests(hashes[:, None], mine)[mine != 0]
    return OriginalDigests(hashes, k_of.astype(np.uint8), origins[rows].astype(np.int32), pairs)


def _joined(parts: list[OriginalDigests], name: str) -> np.ndarray:
    """One field of every part, concatenated; the parts' own arrays are let go (peak memory of a merge)."""
    joined = np.concatenate([getattr(p, name) for p in parts])
    for p in parts:
        setattr(p, name, np.empty(0, joined.dtype))  # no view of ``joined``: it is resized in place
    return joined


def _keep_in_place(values: np.ndarray, keep: np.ndarray, chunk: int = 1 << 20) -> None:
    """``values[keep]`` written over ``values``, which is then resized to it: no second array of the kept values
    (``values`` must own its buffer, with no other view of it). A chunk's kept values go to positions that are
    never after the chunk's own, so what a later chunk reads is not yet overwritten."""
    filled = 0
    for start in range(0, values.size, chunk):
        kept = values[start : start + chunk][keep[start : start + chunk]]
        values[filled : filled + kept.size] = kept
        filled += kept.size
    values.resize(filled, refcheck=False)


def _merge(parts: list[OriginalDigests], origins: list[Origin], first_bits: np.ndarray) -> SearchedOriginals:
    """Digests merged into searchable patterns (distinct per token count, the first origin of a hash wins) and
    the distinct pair digests, sorted. Takes the arrays out of ``parts``."""
    if not parts:
        parts = [OriginalDigests.empty()]
    pairs = _joined(parts, "pairs")
    pairs.sort()
    _keep_in_place(pairs, np.concatenate(([True], pairs[1:] != pairs[:-1])) if pairs.size else np.zeros(0, bool))
    hashes, lengths, where = _joined(parts, "hashes"), _joined(parts, "lengths"), _joined(parts, "origins")
    if not hashes.size:
        return SearchedOriginals(TokenPatterns({}, {}, np.zeros(1 << 21, dtype=np.uint8), first_bits),
                                 list(origins), pairs)
    return SearchedOriginals(TokenPatterns.build(hashes, lengths, where, first_bits=first_bits), list(origins), pairs)


def scan_values(searched: SearchedOriginals, values: Iterable[str | None]) -> set[str]:
    """Origins (``table.column``) of the patterns whose token sequence occurs in one of ``values``."""
    present = [v for v in values if v]
    present = digits_joined(pa.array(present, pa.string())).to_pylist() if present else present
    if not searched.patterns.by_length or not present:
        return set()
    return {searched.origins[origin].where for _, origin in searched.patterns.matches(python_tokens(present))}


@dataclass
class LeakCollector:
    """Collects the originals of masked columns while a build masks them, as digests (see the module docstring).

    Each batch is hashed on a background thread as it comes; :meth:`searched` merges them (with the originals
    merged before) into :class:`SearchedOriginals` when the output is scanned. A hash match counts as a match
    (see :mod:`token_hashes`). ``collisions`` counts the hits judged to be fakes equal to somebody's original
    (filled by the scan; reported in the manifest, never a failure).
    """

    max_originals: int = DEFAULT_MAX_ORIGINALS
    count: int = 0  # originals held (distinct once merged; the searched count is in summary())
    truncated: bool = False
    collisions: Counter[str] = field(default_factory=Counter)
    unchanged: Counter[str] = field(default_factory=Counter)  # masked values equal to their own original, per column
    _origins: list[Origin] = field(default_factory=list)
    _origin_index: dict[Origin, int] = field(default_factory=dict)
    _fresh: list[Future[OriginalDigests]] = field(default_factory=list)  # batches hashed since the last merge
    _merged: Future[SearchedOriginals] | None = None  # the last merge (each one takes the one before)
    _first_bits: np.ndarray = field(default_factory=first_token_filter)
    _merge_useless: bool = False
    version: int = 0  # changes whenever the searched originals do (a scan made before a change is stale)

    def _origin(self, where: str, space: FakeSpace) -> int:
        origin = Origin(where, space)
        if origin not in self._origin_index:
            self._origin_index[origin] = len(self._origins)
            self._origins.append(origin)
        return self._origin_index[origin]

    def add_column(self, table: str, column: str, operator: str, original: pa.Array,
                   entities: np.ndarray | None = None) -> None:
        """Remember the searchable originals of one masked column (see the module docstring).

        ``entities``: per row of ``original``, the digests of the entities the row belongs to (``(rows, m)``,
        0 for none); without them, each distinct value is searched with no entity.
        """
        searched = operator in ("json_pii", FULL_NAME) or (
            operator not in UNSEARCHED_OPERATORS
            and (pa.types.is_string(original.type) or pa.types.is_large_string(original.type)))
        if not searched:
            return
        if self.count >= self.max_originals:  # full: not even worth taking the values out of Arrow
            self.truncated = self.truncated or original.null_count < len(original)
            return
        where = f"{table}.{column}"
        if operator == "json_pii":  # a JSON document without PII is rightly unchanged: search its PII leaves
            from hfit_dagster.masking.json_pii import searchable_leaves

            values = pa.array(searchable_leaves(pc.unique(original).to_pylist()), pa.string())
            entities = None
        elif entities is None:
            values = pc.unique(original).cast(pa.string())
        else:
            values = original.cast(pa.string())
        wanted = pc.fill_null(pc.greater_equal(pc.utf8_length(values), 6), False)
        if entities is not None:
            entities = entities[np.asarray(wanted.to_numpy(zero_copy_only=False), dtype=bool)]
        values = values.filter(wanted)
        room = self.max_originals - self.count
        if len(values) > room and not self._merge_useless:
            before = self.count
            self._merge_now()
            self._merge_useless = before - self.count < self.max_originals // 10
            room = self.max_originals - self.count
        if len(values) > room:
            values, self.truncated = values.slice(0, room), True
            entities = entities[:room] if entities is not None else None
        if not len(values):
            return
        if operator == "json_pii":
            email = np.asarray(pc.match_substring(values, "@").to_numpy(zero_copy_only=False), dtype=bool)
            origins = np.where(email, self._origin(where, FakeSpace.EMAIL), self._origin(where, FakeSpace.ANY))
        else:
            space = FakeSpace.NAME if operator == FULL_NAME else operator_space(operator)
            origins = np.full(len(values), self._origin(where, space), dtype=np.int32)
        multi_only = operator in ("person_name", FULL_NAME)
        variants, of = national_variants(operator, values)
        self._fresh.append(_hashing_thread().submit(_digest, digits_joined(values), origins, multi_only, entities,
                                                    self._first_bits))
        self.count += len(values)
        if len(variants):
            self._fresh.append(_hashing_thread().submit(
                _digest, variants, origins[of], False, entities[of] if entities is not None else None,
                self._first_bits))
            self.count += len(variants)
        self.version += 1

    def count_unchanged(self, where: str, unchanged: int) -> None:
        """Masked values of ``where`` that equal their own original (see ``hit_judgement.unchanged_leaks``)."""
        if unchanged:
            self.unchanged[where] += unchanged

    def discard(self) -> None:
        """Drop hashing not started yet (a failed build: nothing will be scanned)."""
        for pending in self._fresh:
            pending.cancel()
        if self._merged is not None:
            self._merged.cancel()

    def _submit_merge(self) -> Future[SearchedOriginals]:
        """Merge the originals so far on the hashing thread (after their hashing, after the merge before): the
        merged state replaces the batches it took, so memory holds distinct patterns, not every batch."""
        fresh, before, origins = self._fresh, self._merged, list(self._origins)
        self._fresh = []

        def merge() -> SearchedOriginals:
            nonlocal before
            parts = ([before.result().digests()] if before is not None else []) + [f.result() for f in fresh]
            before = None
            fresh.clear()  # the parts hold the only references now: _merge lets them go as it concatenates
            return _merge(parts, origins, self._first_bits)

        self._merged = _hashing_thread().submit(merge)
        return self._merged

    def _merge_now(self) -> None:
        self.count = self._submit_merge().result().patterns.size
        self.version += 1

    def prepare_patterns(self) -> None:
        """Start merging the originals collected since the last merge, on the hashing thread (after their
        hashes); nothing to do when no original came since."""
        if self._fresh:
            self._submit_merge()

    def snapshot(self) -> tuple[int, Future[SearchedOriginals]] | None:
        """The originals collected so far as searched originals (merged on the hashing thread), and the
        :attr:`version` they belong to; None before any original. For a scan that runs while the build goes
        on: it touches nothing the build changes, and is stale once ``version`` moved."""
        self.prepare_patterns()
        return (self.version, self._merged) if self._merged is not None else None

    def searched(self) -> SearchedOriginals:
        """Every original collected, merged (hashed while collecting, merged once after)."""
        self.prepare_patterns()
        if self._merged is None:
            done: Future[SearchedOriginals] = Future()
            done.set_result(_merge([], self._origins, self._first_bits))
            self._merged = done
        merged = self._merged.result()
        self.count = merged.patterns.size
        return merged

    def patterns(self) -> TokenPatterns:
        """The searched originals as hashed token sequences."""
        return self.searched().patterns

    def scan(self, values: Iterable[str | None]) -> set[str]:
        """Columns (``table.column``) whose originals occur in ``values`` (found, not judged)."""
        return scan_values(self.searched(), values)

    def summary(self) -> dict[str, object]:
        searched = self.searched()
        return {
            "originals_searched": searched.patterns.size,
            "sampled": self.truncated,
            "digest_bytes": searched.nbytes,
            "collisions": dict(sorted(self.collisions.items())),
            "unchanged_by_masking": dict(sorted(self.unchanged.items())),
            "method": "token sequences of original values of masked string columns (and first+last names; "
            "with digits also joined across separators, phones also without their country code) searched in "
            "every string value of the package and in kept number columns, as 64-bit hashes; a hit fails the "
            "build when it is in a kept text column, is the original of the row or entity it was found in, or "
            "is a value the column's operator cannot write; a fake equal to somebody else's original is a "
            "collision",
        }
