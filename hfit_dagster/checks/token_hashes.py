"""64-bit hashes of word tokens and of runs of tokens, computed with numpy over Arrow strings.

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

HASH_P = np.uint64(0x100000001B3)  # odd, so invertible modulo 2**64
HASH_Q = np.uint64(0x9E3779B97F4A7C15)
HASH_CHUNK_BYTES = 1 << 18
MAX_HASHED_TOKEN = 4096  # longer tokens are hashed one by one in Python (blake2b)
_TOKEN = re.compile(r"\w+")


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
    if values.type != pa.string():
        values = values.cast(pa.string())
    values = pc.fill_null(values, "")
    long = pc.greater(pc.binary_length(values), MAX_HASHED_TOKEN).to_numpy(zero_copy_only=False)
    if long.any():
        out = _short_string_hashes(pc.if_else(pa.array(long), pa.scalar("", pa.string()), values))
        for i in np.flatnonzero(long).tolist():
            digest = hashlib.blake2b(values[i].as_py().encode("utf-8"), digest_size=8).digest()
            out[i] = np.uint64(int.from_bytes(digest, "little"))
        return out
    return _short_string_hashes(values)


def _short_string_hashes(values: pa.Array) -> np.ndarray:
    """Polynomial hashes of strings of at most ``MAX_HASHED_TOKEN`` bytes, in chunks of ``HASH_CHUNK_BYTES``."""
    n = len(values)
    out = np.zeros(n, dtype=np.uint64)
    if n == 0:
        return out
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int32)[values.offset : values.offset + n + 1]
    offsets = offsets.astype(np.int64)
    data = np.frombuffer(values.buffers()[2], dtype=np.uint8) if values.buffers()[2] is not None else None
    lo = 0
    while lo < n:
        hi = int(np.searchsorted(offsets, offsets[lo] + HASH_CHUNK_BYTES, side="right")) - 1
        hi = min(max(hi, lo + 1), n)
        local = offsets[lo : hi + 1] - offsets[lo]
        size = int(local[-1])
        with np.errstate(over="ignore"):
            sums = np.zeros(size + 1, dtype=np.uint64)
            if size:
                assert data is not None
                chunk = data[offsets[lo] : offsets[hi]].astype(np.uint64) + np.uint64(1)
                np.cumsum(chunk * _UP[:size], dtype=np.uint64, out=sums[1:])
            lengths = (local[1:] - local[:-1]).astype(np.uint64)
            out[lo:hi] = (sums[local[1:]] - sums[local[:-1]]) * _DOWN[local[:-1]] + lengths
        lo = hi
    return out


def gram_hashes(token_hashes: np.ndarray, k: int) -> np.ndarray:
    """Hashes of every run of ``k`` consecutive tokens (row i: tokens i .. i+k-1)."""
    count = token_hashes.size - k + 1
    out = token_hashes[:count].copy()
    with np.errstate(over="ignore"):
        for j in range(1, k):
            out = out * HASH_Q + token_hashes[j : j + count]
    return out


@dataclass
class Tokens:
    """The tokens of many values, flat: ``hashes[i]`` belongs to value ``owner[i]``, in text order."""

    hashes: np.ndarray
    owner: np.ndarray

    def counts(self, n_values: int) -> np.ndarray:
        return np.bincount(self.owner, minlength=n_values) if self.owner.size else np.zeros(n_values, np.int64)


def ascii_tokens(values: pa.Array) -> Tokens:
    """Tokens of ASCII strings, split by Arrow (``[0-9a-z_]+`` after ASCII lower-casing)."""
    lists = pc.split_pattern_regex(pc.ascii_lower(values), pattern="[^0-9a-z_]+")
    tokens = pc.list_flatten(lists)
    keep = pc.greater(pc.binary_length(tokens), 0)
    owner = pc.list_parent_indices(lists).filter(keep).to_numpy(zero_copy_only=False).astype(np.int64)
    return Tokens(string_hashes(tokens.filter(keep)), owner)


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


@dataclass
class TokenPatterns:
    """Hashes of searched token sequences, per number of tokens: sorted, with the index of their origin, and
    a bit filter that rejects most runs with one lookup."""

    by_length: dict[int, np.ndarray]
    origins: dict[int, np.ndarray]
    bits: np.ndarray

    @classmethod
    def build(cls, hashes: np.ndarray, lengths: np.ndarray, origins: np.ndarray) -> TokenPatterns:
        """From one hash, token count and origin per searched sequence (the first origin of a hash wins)."""
        bits = np.zeros(1 << 21, dtype=np.uint8)
        by_length: dict[int, np.ndarray] = {}
        by_origin: dict[int, np.ndarray] = {}
        for k in np.unique(lengths).tolist():
            select = lengths == k
            h, o = hashes[select], origins[select]
            order = np.argsort(h, kind="stable")
            h, o = h[order], o[order]
            first = np.concatenate(([True], h[1:] != h[:-1])) if h.size else np.zeros(0, bool)
            by_length[int(k)], by_origin[int(k)] = h[first], o[first]
            top = (h[first] >> np.uint64(40)).astype(np.int64)
            np.bitwise_or.at(bits, top >> 3, (np.uint8(1) << (top & 7).astype(np.uint8)))
        return cls(by_length, by_origin, bits)

    @property
    def size(self) -> int:
        return sum(h.size for h in self.by_length.values())

    def lookup(self, k: int, grams: np.ndarray) -> np.ndarray:
        """Per gram: the index of its pattern among those of length ``k``, or -1."""
        wanted = self.by_length[k]
        found = np.full(grams.size, -1, dtype=np.int64)
        if not wanted.size or not grams.size:
            return found
        top = (grams >> np.uint64(40)).astype(np.int64)
        maybe = ((self.bits[top >> 3] >> (top & 7).astype(np.uint8)) & 1).astype(bool)
        if maybe.any():
            candidates = grams[maybe]
            index = np.searchsorted(wanted, candidates)
            index[index >= wanted.size] = wanted.size - 1
            found[np.flatnonzero(maybe)[wanted[index] == candidates]] = index[wanted[index] == candidates]
        return found

    def matches(self, tokens: Tokens) -> list[tuple[int, int]]:
        """(value index, origin index) for every run of a value's tokens that is a searched sequence."""
        out: list[tuple[int, int]] = []
        n = tokens.hashes.size
        for k in self.by_length:
            if n < k:
                continue
            grams = gram_hashes(tokens.hashes, k)
            at = tokens.owner[: n - k + 1]
            if k > 1:
                same = at == tokens.owner[k - 1 :]
                grams, at = grams[same], at[same]
            index = self.lookup(k, grams)
            hit = index >= 0
            out.extend(zip(at[hit].tolist(), self.origins[k][index[hit]].tolist(), strict=True))
        return out
