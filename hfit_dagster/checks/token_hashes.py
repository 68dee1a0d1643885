"""64-bit hashes of word tokens and of runs of tokens, computed over Arrow strings (compiled loops, numpy).

The leak check compares word sequences: an original value is its ``\\w+`` tokens, lower-cased, and it
leaks when that sequence appears in an output value. Comparing hashes instead of Python tuples keeps the
originals in a few arrays (8 bytes per original instead of ~700) and lets whole columns be tokenized and
hashed in C: Arrow's RE2 splits ASCII text (where ``[0-9a-z_]+`` after ASCII lower-casing is exactly
Python's ``\\w+`` and ``str.lower``), Python tokenizes the rest (Unicode word rules).

Hashes: a polynomial hash of each token's UTF-8 bytes (plus its length), and for a run of tokens
``h = h * Q + token`` from left to right. Equal sequences hash equally; two different sequences share a
hash with probability ~2**-64 per comparison, so a hash match is taken as a match.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hfit_dagster.arrow_strings import as_utf8, string_buffers
from hfit_dagster.jit import compiled

HASH_P = np.uint64(0x100000001B3)  # odd, so invertible modulo 2**64
HASH_Q = np.uint64(0x9E3779B97F4A7C15)
HASH_CHUNK_BYTES = 1 << 18
MAX_HASHED_TOKEN = 4096  # longer tokens are hashed one by one in Python (blake2b)
_TOKEN = re.compile(r"\w+")
_EMPTY_HASH = np.uint64(0)  # an empty segment: no bytes, length 0


def _powers(n: int, base: np.uint64) -> np.ndarray:
    with np.errstate(over="ignore"):
        out = np.empty(n, dtype=np.uint64)
        out[0] = 1
        if n > 1:
            out[1:] = np.cumprod(np.full(n - 1, base, dtype=np.uint64), dtype=np.uint64)
    return out


_UP = _powers(HASH_CHUNK_BYTES + MAX_HASHED_TOKEN + 1, HASH_P)
_DOWN = _powers(HASH_CHUNK_BYTES + MAX_HASHED_TOKEN + 1, np.uint64(pow(int(HASH_P), -1, 1 << 64)))


def string_hashes(values: pa.Array) -> np.ndarray:
    """A 64-bit hash of each string (equal strings, equal hashes); nulls hash like the empty string."""
    data, offsets = string_buffers(pc.fill_null(as_utf8(values), ""))
    if not data.size:
        return np.full(len(offsets) - 1, _EMPTY_HASH, dtype=np.uint64)
    return _segment_hashes(data, offsets[:-1], offsets[1:])


@dataclass
class Tokens:
    """The tokens of many values, flat: ``hashes[i]`` belongs to value ``owner[i]``, in text order."""

    hashes: np.ndarray
    owner: np.ndarray

    def counts(self, n_values: int) -> np.ndarray:
        return np.bincount(self.owner, minlength=n_values) if self.owner.size else np.zeros(n_values, np.int64)


_ASCII_LOWER = np.arange(256, dtype=np.uint8)
_ASCII_LOWER[ord("A") : ord("Z") + 1] += 32
_TOKEN_BYTE = np.zeros(256, dtype=bool)
for _first, _last in (("0", "9"), ("a", "z"), ("A", "Z"), ("_", "_")):
    _TOKEN_BYTE[ord(_first) : ord(_last) + 1] = True


def ascii_tokens(values: pa.Array) -> Tokens:
    """Tokens of ASCII strings (``[0-9a-z_]+`` after ASCII lower-casing), found and hashed by a compiled loop
    over the bytes (no GIL; one pass to count, one to hash).

    Why not Arrow's ``split_pattern_regex``: the same tokens, but RE2 runs per value, an order of magnitude
    more CPU over a table's text; a numpy formulation needs a dozen passes over the bytes. Tokens of NULL
    values are dropped.
    """
    values = as_utf8(values)
    n = len(values)
    data, offsets = string_buffers(values)
    raw = data[offsets[0] : offsets[-1]]
    if not raw.size:
        return Tokens(np.zeros(0, np.uint64), np.zeros(0, np.int64))
    valid = np.asarray(values.is_valid()) if values.null_count else np.ones(n, dtype=bool)
    count = _count_tokens(raw, offsets - offsets[0], valid, _TOKEN_BYTE)
    hashes = np.empty(count, dtype=np.uint64)
    owner = np.empty(count, dtype=np.int64)
    long = _hash_tokens(raw, offsets - offsets[0], valid, _TOKEN_BYTE, _ASCII_LOWER, MAX_HASHED_TOKEN,
                        HASH_P, hashes, owner)
    if long.size:  # tokens over MAX_HASHED_TOKEN bytes: hashed as _segment_hashes does (rare)
        starts, ends = long[0::3], long[1::3]
        hashes[long[2::3]] = _segment_hashes(_ASCII_LOWER[raw], starts, ends)
    return Tokens(hashes, owner)


@compiled
def _count_tokens(raw: np.ndarray, offsets: np.ndarray, valid: np.ndarray,
                  token_byte: np.ndarray) -> int:  # pragma: no cover - compiled
    count = 0
    for i in range(offsets.shape[0] - 1):
        if not valid[i]:
            continue
        inside = False
        for at in range(offsets[i], offsets[i + 1]):
            if token_byte[raw[at]]:
                if not inside:
                    count += 1
                    inside = True
            else:
                inside = False
    return count


@compiled
def _hash_tokens(raw: np.ndarray, offsets: np.ndarray, valid: np.ndarray, token_byte: np.ndarray,
                 lower: np.ndarray, max_hashed: int, p: np.uint64, hashes: np.ndarray,
                 owner: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """Each token's hash (``_segment_hashes``' polynomial) and owner, in text order, in one pass over the
    bytes; returns (start, end, index) triples of the tokens longer than ``max_hashed`` (left to the caller)."""
    long = []
    k = 0
    one = np.uint64(1)
    for i in range(offsets.shape[0] - 1):
        if not valid[i]:
            continue
        at, stop = offsets[i], offsets[i + 1]
        while at < stop:
            if not token_byte[raw[at]]:
                at += 1
                continue
            start = at
            h = np.uint64(0)
            power = one
            while at < stop and token_byte[raw[at]]:
                h += (np.uint64(lower[raw[at]]) + one) * power
                power *= p
                at += 1
            hashes[k] = h + np.uint64(at - start)
            owner[k] = i
            if at - start > max_hashed:
                long.append(start)
                long.append(at)
                long.append(k)
            k += 1
    return np.array(long, dtype=np.int64)


def _segment_hashes(data: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The hash of ``data[starts[i]:ends[i]]`` for sorted, non-overlapping segments, equal to
    :func:`string_hashes` of the same bytes as a string."""
    out = np.zeros(starts.size, dtype=np.uint64)
    long = (ends - starts) > MAX_HASHED_TOKEN
    if long.any():
        for i in np.flatnonzero(long).tolist():
            digest = hashlib.blake2b(data[starts[i] : ends[i]].tobytes(), digest_size=8).digest()
            out[i] = np.uint64(int.from_bytes(digest, "little"))
        ends = np.where(long, starts, ends)  # hashed above: empty segments below
    lo, n = 0, starts.size
    while lo < n:
        base = int(starts[lo])
        hi = max(int(np.searchsorted(ends, base + HASH_CHUNK_BYTES, side="right")), lo + 1)
        top = int(ends[hi - 1])
        with np.errstate(over="ignore"):
            sums = np.zeros(top - base + 1, dtype=np.uint64)
            np.cumsum((data[base:top].astype(np.uint64) + np.uint64(1)) * _UP[: top - base],
                      dtype=np.uint64, out=sums[1:])
            s, e = starts[lo:hi] - base, ends[lo:hi] - base
            hashed = (sums[e] - sums[s]) * _DOWN[s] + (e - s).astype(np.uint64)
        keep = ~long[lo:hi]
        out[lo:hi][keep] = hashed[keep]
        lo = hi
    return out


def python_tokens(values: Sequence[str]) -> Tokens:
    """Tokens of any strings with Python's Unicode rules (``\\w+``, ``str.lower``)."""
    words: list[str] = []
    owner: list[int] = []
    for i, value in enumerate(values):
        found = _TOKEN.findall(value)
        words.extend(w.lower() for w in found)
        owner.extend([i] * len(found))
    return Tokens(string_hashes(pa.array(words, pa.string())), np.asarray(owner, dtype=np.int64))


def tokens_of(values: pa.Array) -> Tokens:
    """Tokens of a string array without nulls: ASCII values by Arrow, the others by Python."""
    ascii_mask = pc.string_is_ascii(values).to_numpy(zero_copy_only=False)
    if ascii_mask.all():
        return ascii_tokens(values)
    plain_at = np.flatnonzero(ascii_mask)
    other_at = np.flatnonzero(~ascii_mask)
    plain = ascii_tokens(values.take(pa.array(plain_at))) if plain_at.size else Tokens(
        np.zeros(0, np.uint64), np.zeros(0, np.int64))
    other = python_tokens(values.take(pa.array(other_at)).to_pylist())
    hashes = np.concatenate([plain.hashes, other.hashes])
    owner = np.concatenate([plain_at[plain.owner], other_at[other.owner]])
    order = np.argsort(owner, kind="stable")  # back to value order, tokens of a value still in text order
    return Tokens(hashes[order], owner[order])


_FILTER_BITS = 1 << 24  # the first-token filter, 2 MB: a few % false positives at a few hundred thousand tokens
# the filter of whole sequences: at least this many bits per pattern (~3% false positives), within these bounds
_BITS_PER_PATTERN = 32
_PATTERN_FILTER_BITS = (1 << 24, 1 << 27)  # 2 MB to 16 MB


def pattern_filter_bits(patterns: int) -> int:
    """The bits of the filter in front of ``patterns`` sequences (a power of two): at 4M patterns a 2 MB filter
    had 21% of its bits set, and every fifth scanned token run went on to a binary search of the patterns."""
    low, high = _PATTERN_FILTER_BITS
    wanted = 1 << max(0, int(patterns * _BITS_PER_PATTERN - 1).bit_length())
    return min(max(wanted, low), high)


def _bit_positions(hashes: np.ndarray, bits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    top = (hashes >> np.uint64(_shift(bits))).astype(np.int64)
    return top >> 3, (top & 7).astype(np.uint8)


def _shift(bits: np.ndarray) -> int:
    """How far a hash is shifted right for its bit in ``bits`` (a power-of-two number of bytes): its top bits."""
    return 64 - (bits.size * 8).bit_length() + 1


@compiled
def _set_bits(bits: np.ndarray, hashes: np.ndarray, shift: int) -> None:  # pragma: no cover - compiled
    """Set the filter bit of each hash (its top bits); ``np.bitwise_or.at`` took ~50 ns a hash."""
    for i in range(hashes.shape[0]):
        top = np.int64(hashes[i] >> np.uint64(shift))
        bits[top >> 3] |= np.uint8(1 << (top & 7))


def set_bits(bits: np.ndarray, hashes: np.ndarray) -> None:
    """Set the bit of each hash in the filter ``bits``."""
    _set_bits(bits, hashes, _shift(bits))


def _test_bits(bits: np.ndarray, hashes: np.ndarray) -> np.ndarray:
    byte, bit = _bit_positions(hashes, bits)
    return ((bits[byte] >> bit) & 1).astype(bool)


SORT_BUCKETS = 16  # distinct_first sorts 1/16 of the hashes at a time: the leak check's peak memory
_BUCKETED_FROM = 1 << 16  # fewer hashes are sorted at once


def _distinct_first_all(h: np.ndarray, o: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values of ``h``, sorted, each with ``o`` at its first position: one sort of all of them."""
    # numpy's default sort of integers is vectorized (a stable one is several times slower); the origin kept
    # for a repeated hash is still its first one: the smallest position among its copies
    order = np.argsort(h)
    h = h[order]
    first = np.concatenate(([True], h[1:] != h[:-1])) if h.size else np.zeros(0, bool)
    distinct = h[first]
    del h
    runs = np.flatnonzero(first)
    del first
    earliest = np.minimum.reduceat(order, runs) if runs.size else order
    del order, runs
    return distinct, o[earliest]


def distinct_first(h: np.ndarray, o: np.ndarray, buckets: int = SORT_BUCKETS) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values of the hashes ``h``, sorted, each with the ``o`` of its first position.

    The same as one sort of all of them (``buckets=1``), a bucket of hashes at a time: the buckets split the
    hashes by their top bits, so bucket after bucket comes out in order, and the sort's temporaries (an index
    and a sorted copy per hash) are those of one bucket. This is the leak check's peak memory: tens of millions
    of hashes merged when a personal table ends, beside the build's batches in flight.
    """
    if buckets <= 1 or h.size < _BUCKETED_FROM:
        return _distinct_first_all(h, o)
    bits = (buckets - 1).bit_length()  # a power of two at least ``buckets``
    top = (h >> np.uint64(64 - bits)).astype(np.uint8 if bits <= 8 else np.uint32)
    distinct, origins = np.empty(h.size, h.dtype), np.empty(h.size, o.dtype)
    filled = 0
    for bucket in range(1 << bits):
        at = np.flatnonzero(top == bucket)  # ascending: the first position within a bucket is the first overall
        if not at.size:
            continue
        values, first = _distinct_first_all(h[at], at)
        distinct[filled : filled + values.size] = values
        origins[filled : filled + values.size] = o[first]
        filled += values.size
        del at, values, first
    # only the filled part was ever written (and so resident); the rest is given back in place
    distinct.resize(filled, refcheck=False)
    origins.resize(filled, refcheck=False)
    return distinct, origins


@dataclass
class TokenPatterns:
    """Hashes of searched token sequences, per number of tokens: sorted, with the index of their origin; a
    bit filter of the sequences, and one of their first tokens (a run can only match where a first token
    stands, so most positions of a text are never hashed further)."""

    by_length: dict[int, np.ndarray]
    origins: dict[int, np.ndarray]
    bits: np.ndarray
    first_bits: np.ndarray | None = None

    @classmethod
    def build(cls, hashes: np.ndarray, lengths: np.ndarray, origins: np.ndarray,
              first_tokens: np.ndarray | None = None, first_bits: np.ndarray | None = None) -> TokenPatterns:
        """From one hash, token count and origin per searched sequence (the first origin of a hash wins), and
        optionally the hash of each sequence's first token (or their filter, ``first_bits``, built already)."""
        bits = np.zeros(pattern_filter_bits(hashes.size) // 8, dtype=np.uint8)
        if first_tokens is not None:
            first_bits = first_token_filter()
            set_bits(first_bits, first_tokens)
        by_length: dict[int, np.ndarray] = {}
        by_origin: dict[int, np.ndarray] = {}
        counts = small_distinct(lengths)
        for k in counts:
            # one token count (the usual case) takes the arrays as they are
            h, o = (hashes, origins) if len(counts) == 1 else (hashes[lengths == k], origins[lengths == k])
            by_length[int(k)], by_origin[int(k)] = distinct_first(h, o)
            del h, o
            set_bits(bits, by_length[int(k)])
        return cls(by_length, by_origin, bits, first_bits)

    @property
    def size(self) -> int:
        return sum(h.size for h in self.by_length.values())

    def lookup(self, k: int, grams: np.ndarray) -> np.ndarray:
        """Per gram: the index of its pattern among those of length ``k``, or -1."""
        wanted = self.by_length[k]
        found = np.full(grams.size, -1, dtype=np.int64)
        if not wanted.size or not grams.size:
            return found
        maybe = _test_bits(self.bits, grams)
        if maybe.any():
            candidates = grams[maybe]
            index = np.searchsorted(wanted, candidates)
            index[index >= wanted.size] = wanted.size - 1
            found[np.flatnonzero(maybe)[wanted[index] == candidates]] = index[wanted[index] == candidates]
        return found

    def find(self, tokens: Tokens) -> PatternHits:
        """Every run of a value's tokens that is a searched sequence: where it stands and what it matched."""
        parts: list[tuple[np.ndarray, ...]] = []
        n = tokens.hashes.size
        starts = (np.flatnonzero(_test_bits(self.first_bits, tokens.hashes)) if self.first_bits is not None
                  else np.arange(n))
        for k in self.by_length:
            at_start = starts[starts + k <= n]
            if k > 1:
                at_start = at_start[tokens.owner[at_start] == tokens.owner[at_start + k - 1]]
            if not at_start.size:
                continue
            grams = tokens.hashes[at_start]
            with np.errstate(over="ignore"):
                for j in range(1, k):
                    grams = grams * HASH_Q + tokens.hashes[at_start + j]
            index = self.lookup(k, grams)
            hit = index >= 0
            parts.append((tokens.owner[at_start[hit]], at_start[hit], np.full(int(hit.sum()), k, dtype=np.int64),
                          grams[hit], self.origins[k][index[hit]].astype(np.int64)))
        if not parts:
            empty = np.zeros(0, dtype=np.int64)
            return PatternHits(empty, empty, empty, np.zeros(0, dtype=np.uint64), empty)
        return PatternHits(*(np.concatenate(column) for column in zip(*parts, strict=True)))

    def matches(self, tokens: Tokens) -> list[tuple[int, int]]:
        """(value index, origin index) for every run of a value's tokens that is a searched sequence."""
        found = self.find(tokens)
        return list(zip(found.value.tolist(), found.origin.tolist(), strict=True))


@dataclass
class PatternHits:
    """Runs of tokens that are searched sequences, one entry per run: the value it stands in, the index of its
    first token (in the :class:`Tokens` searched), its token count, its hash and the origin of the pattern."""

    value: np.ndarray
    start: np.ndarray
    length: np.ndarray
    hash: np.ndarray
    origin: np.ndarray

    @property
    def size(self) -> int:
        return int(self.value.size)

    def take(self, select: np.ndarray) -> PatternHits:
        return PatternHits(self.value[select], self.start[select], self.length[select], self.hash[select],
                           self.origin[select])


def small_distinct(values: np.ndarray) -> list[int]:
    """The distinct values of an array of small non-negative integers (token counts), sorted: a count per
    value, where ``np.unique``'s hash table takes seconds over millions of entries."""
    return np.flatnonzero(np.bincount(values)).tolist() if values.size else []


def first_token_filter() -> np.ndarray:
    """An empty bit filter of first tokens (``TokenPatterns.first_bits``), for :func:`add_first_tokens`."""
    return np.zeros(_FILTER_BITS // 8, dtype=np.uint8)


def add_first_tokens(bits: np.ndarray, first_tokens: np.ndarray) -> None:
    """Set the bits of ``first_tokens`` in a first-token filter (grows as originals come, never shrinks)."""
    set_bits(bits, first_tokens)


def sequence_hashes(tokens: Tokens, n_values: int) -> np.ndarray:
    """The hash of each value's whole token sequence (``h = h * Q + token``, as the patterns are hashed); 0 for
    a value without tokens."""
    counts = tokens.counts(n_values)
    out = np.zeros(n_values, dtype=np.uint64)
    if not tokens.hashes.size:
        return out
    first = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)
    position = np.arange(tokens.hashes.size, dtype=np.int64) - first[tokens.owner]
    exponent = counts[tokens.owner] - 1 - position
    powers = _powers(int(exponent.max()) + 1, HASH_Q)
    with np.errstate(over="ignore"):
        terms = tokens.hashes * powers[exponent]
        has = counts > 0
        out[has] = np.add.reduceat(terms, first[has])
    return out
