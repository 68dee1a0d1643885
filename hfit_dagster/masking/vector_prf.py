"""Keyed pseudo-random functions over whole columns: SipHash-2-4 on numpy ``uint64`` lanes.

Why not HMAC per value: one ``hmac.digest`` costs ~1-2 µs of Python per value and a digit permutation needs
eight of them, so a column of 100k distinct phone numbers would take over a second. SipHash-2-4 is a keyed PRF
designed for short inputs (128-bit key, 64-bit output), and it only needs 64-bit additions, rotations and
xors, so compiled loops compute it for every value of a column at once (~0.02-0.1 µs per value and lane).

Keys: every use gets its own 128-bit SipHash key, derived once per (secret, label) as
``HMAC-SHA256(secret, "siphash" + label)[:16]``, where the label names the operator and the purpose
(``"email/0"``, ``"phone/fpe/10/3"``). Nobody without the masking secret can compute or invert a fake.

Hashing a string (:func:`prf_strings`) and permuting its digits (:func:`permute_digits`) read the Arrow
buffers directly in compiled loops. The other operations handle strings as byte matrices (:class:`ByteRows`:
one zero-padded row of UTF-8 bytes per value), so "count the letters" or "fill these positions" are a few
numpy operations per column.

Building blocks (deterministic, vectorized, no Python per value):

* :func:`prf_strings` - one or more 64-bit lanes per string;
* :func:`prf_u64` - one lane per 64-bit integer;
* :func:`permute_digit_matrix` - a keyed permutation of all digit strings of one length (an FF1-like Feistel
  network, eight rounds), so distinct inputs stay distinct;
* :func:`map_digits` - rewrite the ASCII digits of each value in place, grouped by digit count;
* :func:`permute_digits` - :func:`permute_digit_matrix` applied to the digits of each value, compiled;
* :func:`shape_fakes` - digits permuted and letters keyed in place, everything else kept.
"""

from __future__ import annotations

import functools
import hmac
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hfit_dagster.arrow_strings import as_utf8, string_buffers
from hfit_dagster.jit import compiled

FEISTEL_ROUNDS = 8
MAX_FEISTEL_DIGITS = 36  # both halves fit a uint64 below 10**18
_SEP = b"\x1f"
_U64 = np.uint64
_C = (0x736F6D6570736575, 0x646F72616E646F6D, 0x6C7967656E657261, 0x7465646279746573)
_POW10 = np.array([10**i for i in range(20)], dtype=np.uint64)
HEX_DIGITS = _HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)

DigitMapper = Callable[[dict[int, np.ndarray]], dict[int, np.ndarray]]


@functools.lru_cache(maxsize=4096)
def sip_key(secret: bytes, label: str) -> tuple[int, int]:
    """The 128-bit SipHash key of one use, derived from the masking secret by HMAC-SHA256."""
    d = hmac.digest(secret, b"siphash" + _SEP + label.encode(), "sha256")
    return int.from_bytes(d[:8], "little"), int.from_bytes(d[8:16], "little")


# -------------------------------------------------------------------------------------------- SipHash


_R13, _R16, _R17, _R21, _R32 = (np.uint64(b) for b in (13, 16, 17, 21, 32))
_L13, _L16, _L17, _L21, _L32 = (np.uint64(64 - b) for b in (13, 16, 17, 21, 32))
_C0, _C1, _C2, _C3 = (np.uint64(c) for c in _C)
_FF = np.uint64(0xFF)


@compiled
def _sip_round(v0: int, v1: int, v2: int, v3: int) -> tuple[int, int, int, int]:  # pragma: no cover - compiled
    v0 += v1
    v1 = (v1 << _R13) | (v1 >> _L13)
    v1 ^= v0
    v0 = (v0 << _R32) | (v0 >> _L32)
    v2 += v3
    v3 = (v3 << _R16) | (v3 >> _L16)
    v3 ^= v2
    v0 += v3
    v3 = (v3 << _R21) | (v3 >> _L21)
    v3 ^= v0
    v2 += v1
    v1 = (v1 << _R17) | (v1 >> _L17)
    v1 ^= v2
    v2 = (v2 << _R32) | (v2 >> _L32)
    return v0, v1, v2, v3


@compiled
def _sip_absorb(v0: int, v1: int, v2: int, v3: int, w: int) -> tuple[int, int, int, int]:  # pragma: no cover
    """One message word through SipHash-2-4's compression (two rounds)."""
    v3 ^= w
    v0, v1, v2, v3 = _sip_round(v0, v1, v2, v3)
    v0, v1, v2, v3 = _sip_round(v0, v1, v2, v3)
    v0 ^= w
    return v0, v1, v2, v3


@compiled
def _sip_final(v0: int, v1: int, v2: int, v3: int) -> int:  # pragma: no cover - compiled
    """SipHash-2-4's finalization (four rounds) and output word."""
    v2 ^= _FF
    for _ in range(4):
        v0, v1, v2, v3 = _sip_round(v0, v1, v2, v3)
    return v0 ^ v1 ^ v2 ^ v3


@compiled
def _siphash_rows(k0: np.ndarray, k1: np.ndarray, words: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """SipHash-2-4 of each row of ``words``; key halves per row, or one pair (arrays of length 1)."""
    m, k = words.shape
    out = np.empty(m, dtype=np.uint64)
    per_row = k0.shape[0] > 1
    for i in range(m):
        a = k0[i] if per_row else k0[0]
        b = k1[i] if per_row else k1[0]
        v0, v1, v2, v3 = a ^ _C0, b ^ _C1, a ^ _C2, b ^ _C3
        for j in range(k):
            v0, v1, v2, v3 = _sip_absorb(v0, v1, v2, v3, words[i, j])
        out[i] = _sip_final(v0, v1, v2, v3)
    return out


def siphash_words(
    key: tuple[int, int] | tuple[np.ndarray, np.ndarray], words: np.ndarray
) -> np.ndarray:
    """SipHash-2-4 of every row of ``words`` (m x k little-endian message words, the last one the final
    block). ``key`` is one (k0, k1) pair or two arrays of m per-row key halves, so rows hashed under
    different keys (several lanes, several digit lengths) still take one pass. Compiled (no GIL): ~20 ns a
    row of two words, several times faster than a numpy formulation, which pays ~20 passes over the rows per round."""
    words = np.ascontiguousarray(words, dtype=np.uint64)
    if isinstance(key[0], np.ndarray):
        k0 = np.ascontiguousarray(key[0], dtype=np.uint64)
        k1 = np.ascontiguousarray(key[1], dtype=np.uint64)
    else:
        k0 = np.array([key[0]], dtype=np.uint64)
        k1 = np.array([key[1]], dtype=np.uint64)
    if words.shape[0] == 0:
        return np.empty(0, dtype=np.uint64)
    return _siphash_rows(k0, k1, words)


def _lane_keys(secret: bytes, labels: list[str], n: int) -> tuple[np.ndarray, np.ndarray]:
    keys = [sip_key(secret, label) for label in labels]
    k0 = np.repeat(np.array([k[0] for k in keys], dtype=np.uint64), n)
    k1 = np.repeat(np.array([k[1] for k in keys], dtype=np.uint64), n)
    return k0, k1


def siphash_lanes(secret: bytes, labels: list[str], words: np.ndarray) -> np.ndarray:
    """(n, len(labels)) lanes: each row of ``words`` hashed once per label, all in one pass."""
    n = words.shape[0]
    if n == 0:
        return np.zeros((0, len(labels)), dtype=np.uint64)
    tiled = np.tile(words, (len(labels), 1)) if len(labels) > 1 else words
    return siphash_words(_lane_keys(secret, labels, n), tiled).reshape(len(labels), n).T


def width_class(lengths: np.ndarray) -> np.ndarray:
    """The padded byte width a value of each length is hashed at: 8, 16, 32, ... (a power of two)."""
    lengths = np.maximum(np.asarray(lengths, dtype=np.int64), 1)
    return np.maximum(8, 1 << np.ceil(np.log2(lengths)).astype(np.int64))


def hash_rows(secret: bytes, labels: list[str], mat: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Keyed PRF of byte strings given as zero-padded rows: (n, len(labels)) uint64 lanes.

    The message is the value's bytes zero-padded to its width class (:func:`width_class`, a function of
    the length only) followed by one word holding the length, hashed with SipHash-2-4's compression and
    finalization. The encoding is injective, so this is a PRF of the string, and every value of a class
    has the same number of words: one numpy pass per class instead of one per length.
    """
    n = len(lengths)
    out = np.empty((n, len(labels)), dtype=np.uint64)
    if n == 0:
        return out
    classes = width_class(lengths)
    for w in np.unique(classes):
        idx = np.nonzero(classes == w)[0] if len(np.unique(classes)) > 1 else np.arange(n)
        sub = mat[idx, : int(w)]
        if sub.shape[1] < w:
            sub = np.concatenate([sub, np.zeros((len(idx), int(w) - sub.shape[1]), np.uint8)], axis=1)
        words = np.empty((len(idx), int(w) // 8 + 1), dtype=np.uint64)
        words[:, :-1] = np.ascontiguousarray(sub).view("<u8")
        words[:, -1] = lengths[idx].astype(np.uint64)
        out[idx] = siphash_lanes(secret, labels, words)
    return out


def prf_u64(secret: bytes, label: str, x: np.ndarray) -> np.ndarray:
    """SipHash-2-4 of each 64-bit integer (as 8 little-endian bytes)."""
    words = np.empty((len(x), 2), dtype=np.uint64)
    words[:, 0] = x
    words[:, 1] = _U64(8 << 56)
    return siphash_words(sip_key(secret, label), words)


# ------------------------------------------------------------------------------------------ byte rows


@compiled
def _padded_rows(data: np.ndarray, offsets: np.ndarray, width: int) -> np.ndarray:  # pragma: no cover - compiled
    """Row i: the bytes ``data[offsets[i]:offsets[i + 1]]`` (at most ``width``), zero padded to ``width``."""
    n = offsets.shape[0] - 1
    mat = np.zeros((n, width), dtype=np.uint8)
    for i in range(n):
        start = offsets[i]
        length = min(offsets[i + 1] - start, width)
        for j in range(length):
            mat[i, j] = data[start + j]
    return mat


@dataclass
class ByteRows:
    """Strings as an (n, width) uint8 matrix, zero padded, plus their byte lengths.

    ``width`` is a multiple of 8 with room for SipHash's length byte, so :meth:`prf` needs no copy
    of the values. Built from and turned back into Arrow string arrays without Python per value.
    """

    mat: np.ndarray
    lengths: np.ndarray

    @classmethod
    def from_array(cls, values: pa.Array, width: int | None = None) -> ByteRows:
        data, offsets = string_buffers(values)
        n = len(offsets) - 1
        lengths = np.diff(offsets)
        longest = int(lengths.max()) if n else 0
        width = width if width is not None else (longest // 8 + 1) * 8
        if n == 0 or longest == 0:
            return cls(np.zeros((n, width), dtype=np.uint8), lengths)
        return cls(_padded_rows(data, offsets, width), lengths)

    def to_array(self) -> pa.Array:
        n, width = self.mat.shape
        inside = np.arange(width)[None, :] < self.lengths[:, None]
        data = np.ascontiguousarray(self.mat[inside])
        offsets = np.zeros(n + 1, dtype=np.int32)
        np.cumsum(self.lengths, out=offsets[1:])
        return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))

    def prf(self, secret: bytes, labels: list[str]) -> np.ndarray:
        """Keyed lanes of each row's string (see :func:`hash_rows`)."""
        return hash_rows(secret, labels, self.mat, self.lengths)

    def take(self, idx: np.ndarray) -> ByteRows:
        return ByteRows(self.mat[idx], self.lengths[idx])


def by_width(
    values: pa.Array, fn: Callable[[ByteRows, np.ndarray], ByteRows | np.ndarray]
) -> list[tuple[np.ndarray, object]]:
    """Apply ``fn(rows, row indices)`` to the values packed in matrices of their width class (short values
    are not padded to the longest one); returns (row indices, result) per class."""
    values = as_utf8(values)
    lengths = pc.binary_length(values).fill_null(0).to_numpy(zero_copy_only=False)
    classes = width_class(lengths)
    out: list[tuple[np.ndarray, object]] = []
    for w in np.unique(classes):
        idx = np.nonzero(classes == w)[0]
        sub = values if len(idx) == len(values) else values.take(pa.array(idx))
        out.append((idx, fn(ByteRows.from_array(sub, int(w)), idx)))
    return out


def merge_strings(parts: list[tuple[np.ndarray, object]], n: int) -> pa.Array:
    if len(parts) == 1 and len(parts[0][0]) == n:
        result = parts[0][1]
        return result.to_array() if isinstance(result, ByteRows) else result  # type: ignore[return-value]
    arrays = [r.to_array() if isinstance(r, ByteRows) else r for _, r in parts]
    merged = pa.concat_arrays(arrays) if arrays else pa.array([], pa.string())
    positions = np.concatenate([idx for idx, _ in parts]) if parts else np.zeros(0, np.int64)
    inverse = np.empty(n, dtype=np.int64)
    inverse[positions] = np.arange(n)
    return merged.take(pa.array(inverse))


def prf_strings(secret: bytes, labels: list[str], values: pa.Array) -> np.ndarray:
    """One 64-bit lane per label for every (non-null) string: SipHash-2-4 of its UTF-8 bytes; (n, lanes).

    The message of each value is that of :func:`hash_rows` (its bytes zero-padded to its width class, then
    its length), read straight from the Arrow buffers by one compiled loop: no padded matrices per width
    class (emails: ~1.5 ms per 32k values and two lanes, about a third of the padded-matrix path)."""
    values = as_utf8(values)
    data, offsets = string_buffers(values)
    keys = [sip_key(secret, label) for label in labels]
    k0 = np.array([k[0] for k in keys], dtype=np.uint64)
    k1 = np.array([k[1] for k in keys], dtype=np.uint64)
    return _prf_spans(data, offsets, k0, k1)


@compiled
def _prf_spans(data: np.ndarray, offsets: np.ndarray, k0: np.ndarray,
               k1: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """:func:`hash_rows` of each value ``data[offsets[i]:offsets[i + 1]]`` under each key: (n, keys)."""
    n = offsets.shape[0] - 1
    lanes = k0.shape[0]
    out = np.empty((n, lanes), dtype=np.uint64)
    for i in range(n):
        start = offsets[i]
        length = offsets[i + 1] - start
        width = 8
        while width < length:
            width *= 2
        for lane in range(lanes):
            v0, v1, v2, v3 = k0[lane] ^ _C0, k1[lane] ^ _C1, k0[lane] ^ _C2, k1[lane] ^ _C3
            for j in range(width // 8):
                w = np.uint64(0)
                for b in range(8):
                    at = 8 * j + b
                    if at < length:
                        w |= np.uint64(data[start + at]) << np.uint64(8 * b)
                v0, v1, v2, v3 = _sip_absorb(v0, v1, v2, v3, w)
            v0, v1, v2, v3 = _sip_absorb(v0, v1, v2, v3, np.uint64(length))
            out[i, lane] = _sip_final(v0, v1, v2, v3)
    return out


# ------------------------------------------------------------------------------------- digit matrices


def digits_to_int(mat: np.ndarray) -> np.ndarray:
    """(n, k) ASCII digit matrix (k <= 19) -> uint64 values."""
    k = mat.shape[1]
    if k == 0:
        return np.zeros(mat.shape[0], dtype=np.uint64)
    return ((mat.astype(np.uint64) - _U64(48)) * _POW10[:k][::-1]).sum(axis=1, dtype=np.uint64)


def int_to_digits(x: np.ndarray, k: int) -> np.ndarray:
    """uint64 values -> (n, k) zero-padded ASCII digit matrix."""
    if k == 0:
        return np.zeros((len(x), 0), dtype=np.uint8)
    return ((x[:, None] // _POW10[:k][::-1][None, :]) % _U64(10) + _U64(48)).astype(np.uint8)


def int_to_hex(x: np.ndarray, nibbles: int = 16) -> np.ndarray:
    """uint64 values -> (n, nibbles) lower-case hex matrix of their low ``nibbles`` nibbles."""
    shifts = np.arange(nibbles - 1, -1, -1, dtype=np.uint64) * _U64(4)
    return _HEX[((x[:, None] >> shifts[None, :]) & _U64(0xF)).astype(np.intp)]


def matrix_to_strings(mat: np.ndarray) -> pa.Array:
    """(n, w) uint8 matrix of UTF-8 bytes -> Arrow string array of n values of w bytes each."""
    n, w = mat.shape
    offsets = np.arange(0, (n + 1) * w, w, dtype=np.int32) if w else np.zeros(n + 1, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(mat)))


def hex_strings(lanes: np.ndarray, nibbles: int) -> pa.Array:
    """Lower-case hex strings of ``nibbles`` characters from (n, k) uint64 lanes (16 nibbles per lane)."""
    cols = [int_to_hex(lanes[:, j]) for j in range(lanes.shape[1])]
    return matrix_to_strings(np.concatenate(cols, axis=1)[:, :nibbles])


def prf_digit_rows(secret: bytes, label: str, mat: np.ndarray) -> np.ndarray:
    """Keyed lane of fixed-width rows (e.g. digit strings of one length), as :func:`hash_rows`: (n, 1)."""
    n, k = mat.shape
    return hash_rows(secret, [label], mat, np.full(n, k, dtype=np.int64))


def keyed_digit_stream(secret: bytes, label: str, mat: np.ndarray, k: int) -> np.ndarray:
    """(n, k) keyed pseudo-random ASCII digits per row of ``mat`` (not a permutation)."""
    n, width = mat.shape
    lanes = max(1, -(-k // 8))
    h = hash_rows(secret, [f"{label}/{j}" for j in range(lanes)], mat, np.full(n, width, dtype=np.int64))
    return (np.ascontiguousarray(h).view(np.uint8).reshape(n, -1)[:, :k] % 10 + 48).astype(np.uint8)


def permute_digit_groups(secret: bytes, operator: str, groups: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
    """Keyed permutation of digit strings, per length n: ``groups[n]`` is an (m, n) ASCII matrix.

    Alternating Feistel network over the two halves (u = n // 2 and v = n - u digits), eight rounds,
    round function ``SipHash(key_{operator,n,round}, other half) mod 10^half``: a permutation for every
    length, so distinct inputs give distinct outputs. Lengths run together in one pass per round (keys and
    moduli per row). Longer than 36 digits (never an id): a keyed digit stream instead.
    """
    out: dict[int, np.ndarray] = {}
    for n, g in groups.items():
        if n == 0 or not len(g):
            out[n] = g.copy()
        elif n > MAX_FEISTEL_DIGITS:
            out[n] = keyed_digit_stream(secret, f"{operator}/long", g, n)
    # A half below 10^16 (n <= 32) fits SipHash's final block (7 bytes + length byte): one block per round.
    for short in (True, False):
        batch = {n: g for n, g in groups.items() if len(g) and 0 < n <= MAX_FEISTEL_DIGITS and (n <= 32) == short}
        if batch:
            out.update(_feistel(secret, operator, batch, short))
    return out


def _feistel(secret: bytes, operator: str, groups: dict[int, np.ndarray], short: bool) -> dict[int, np.ndarray]:
    lengths = list(groups)
    sizes = [len(groups[n]) for n in lengths]
    u = np.repeat(np.array([n // 2 for n in lengths]), sizes)
    v = np.repeat(np.array([n - n // 2 for n in lengths]), sizes)
    a = np.concatenate([digits_to_int(groups[n][:, : n // 2]) for n in lengths])
    b = np.concatenate([digits_to_int(groups[n][:, n // 2 :]) for n in lengths])
    mod_u, mod_v = _POW10[u], _POW10[v]
    words = np.empty((len(a), 1 if short else 2), dtype=np.uint64)
    if not short:
        words[:, 1] = _U64(8 << 56)
    head = _U64(7 << 56) if short else _U64(0)
    for i in range(FEISTEL_ROUNDS):
        keys = [sip_key(secret, f"{operator}/fpe/{n}/{i}") for n in lengths]
        k0 = np.repeat(np.array([k[0] for k in keys], dtype=np.uint64), sizes)
        k1 = np.repeat(np.array([k[1] for k in keys], dtype=np.uint64), sizes)
        if i % 2 == 0:
            words[:, 0] = b | head
            a = (a + siphash_words((k0, k1), words) % mod_u) % mod_u
        else:
            words[:, 0] = a | head
            b = (b + siphash_words((k0, k1), words) % mod_v) % mod_v
    out: dict[int, np.ndarray] = {}
    start = 0
    for n, size in zip(lengths, sizes, strict=True):
        part = slice(start, start + size)
        out[n] = np.concatenate([int_to_digits(a[part], n // 2), int_to_digits(b[part], n - n // 2)], axis=1)
        start += size
    return out


def permute_digit_matrix(secret: bytes, operator: str, mat: np.ndarray) -> np.ndarray:
    """:func:`permute_digit_groups` for digit strings of one length (rows of an (m, n) ASCII matrix)."""
    return permute_digit_groups(secret, operator, {mat.shape[1]: mat})[mat.shape[1]]


def _digit_mask(mat: np.ndarray) -> np.ndarray:
    return (mat >= 48) & (mat <= 57)


def map_digit_rows(rows: ByteRows, mapper: DigitMapper) -> ByteRows:
    """Rewrite each row's ASCII digits in place: ``mapper({count: (m, count) digit matrix})`` returns the
    new digit matrices (rows grouped by their digit count, in row order)."""
    mask = _digit_mask(rows.mat)
    counts = mask.sum(axis=1)
    present = [int(c) for c in np.unique(counts) if c]
    if not present:
        return rows
    mat = rows.mat.copy()
    index = {c: np.nonzero(counts == c)[0] for c in present}
    groups = {c: mat[idx][mask[idx]].reshape(len(idx), c) for c, idx in index.items()}
    for c, new in mapper(groups).items():
        idx = index[c]
        sub = mat[idx]
        sub[mask[idx]] = new.reshape(-1)
        mat[idx] = sub
    return ByteRows(mat, rows.lengths)


def map_digits(values: pa.Array, mapper: DigitMapper) -> pa.Array:
    """:func:`map_digit_rows` over an Arrow string array (mappers depend on the digits only)."""
    values = as_utf8(values)
    return merge_strings(by_width(values, lambda rows, _idx: map_digit_rows(rows, mapper)), len(values))


@functools.lru_cache(maxsize=64)
def _feistel_key_table(secret: bytes, operator: str) -> tuple[np.ndarray, np.ndarray]:
    """SipHash key halves of every Feistel round, per digit count: ``[count, round]`` (the keys of
    :func:`_feistel`)."""
    k0 = np.zeros((MAX_FEISTEL_DIGITS + 1, FEISTEL_ROUNDS), dtype=np.uint64)
    k1 = np.zeros_like(k0)
    for n in range(1, MAX_FEISTEL_DIGITS + 1):
        for i in range(FEISTEL_ROUNDS):
            k0[n, i], k1[n, i] = sip_key(secret, f"{operator}/fpe/{n}/{i}")
    return k0, k1


@compiled
def _siphash_block(k0: int, k1: int, first: int, last: int, two: bool) -> int:  # pragma: no cover - compiled
    """SipHash-2-4 of one final word, or (``two``) of ``first`` then the final word ``last``."""
    v0, v1, v2, v3 = k0 ^ _C0, k1 ^ _C1, k0 ^ _C2, k1 ^ _C3
    if two:
        v0, v1, v2, v3 = _sip_absorb(v0, v1, v2, v3, first)
    v0, v1, v2, v3 = _sip_absorb(v0, v1, v2, v3, last)
    return _sip_final(v0, v1, v2, v3)


@compiled
def _permute_digit_spans(data: np.ndarray, offsets: np.ndarray, k0: np.ndarray, k1: np.ndarray,
                         pow10: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """:func:`_feistel` on the ASCII digits of each value ``data[offsets[i]:offsets[i + 1]]``, in place.

    Returns the rows left alone because they have more than ``MAX_FEISTEL_DIGITS`` digits (the caller
    takes those another way)."""
    n = offsets.shape[0] - 1
    skipped = np.zeros(n, dtype=np.bool_)
    positions = np.empty(max(1, int(offsets[n] - offsets[0])), dtype=np.int64)
    ten = np.uint64(10)
    zero = np.uint64(48)
    short_head = np.uint64(7) << np.uint64(56)
    long_tail = np.uint64(8) << np.uint64(56)
    for i in range(n):
        count = 0
        for j in range(offsets[i], offsets[i + 1]):
            if 48 <= data[j] <= 57:
                positions[count] = j
                count += 1
        if count == 0:
            continue
        if count > MAX_FEISTEL_DIGITS:
            skipped[i] = True
            continue
        u = count // 2
        a = np.uint64(0)
        b = np.uint64(0)
        for t in range(u):
            a = a * ten + (np.uint64(data[positions[t]]) - zero)
        for t in range(u, count):
            b = b * ten + (np.uint64(data[positions[t]]) - zero)
        mod_u, mod_v = pow10[u], pow10[count - u]
        two = count > 32
        for r in range(FEISTEL_ROUNDS):
            half = b if r % 2 == 0 else a
            if two:
                h = _siphash_block(k0[count, r], k1[count, r], half, long_tail, True)
            else:
                h = _siphash_block(k0[count, r], k1[count, r], half, half | short_head, False)
            if r % 2 == 0:
                a = (a + h % mod_u) % mod_u
            else:
                b = (b + h % mod_v) % mod_v
        for t in range(u - 1, -1, -1):
            data[positions[t]] = np.uint8(a % ten + zero)
            a //= ten
        for t in range(count - 1, u - 1, -1):
            data[positions[t]] = np.uint8(b % ten + zero)
            b //= ten
    return skipped


def permute_digits(secret: bytes, operator: str, values: pa.Array) -> pa.Array:
    """``map_digits(values, permutation_mapper(secret, operator))`` in one compiled pass over the string bytes.

    Digits are rewritten in place (a value keeps its byte length), so the result shares the input's offsets
    and validity and gets a copy of its bytes: no padded matrices, no grouping by width or digit count
    (phones: ~5 ms per 32k values, about a third of the grouped path). Values with more digits than the
    Feistel network takes go the general way."""
    values = as_utf8(values)
    data, offsets = string_buffers(values)
    if not len(values) or not len(data):
        return values
    start, stop = int(offsets[0]), int(offsets[-1])
    out = data[start:stop].copy()
    k0, k1 = _feistel_key_table(secret, operator)
    skipped = _permute_digit_spans(out, offsets - start, k0, k1, _POW10)
    if skipped.any():
        idx = np.flatnonzero(skipped)
        long = map_digits(values.take(pa.array(idx)), permutation_mapper(secret, operator))
        long_data, long_offsets = string_buffers(long)
        for row, (a, b) in zip(idx.tolist(), zip(long_offsets[:-1].tolist(), long_offsets[1:].tolist(), strict=True),
                               strict=True):
            out[offsets[row] - start : offsets[row + 1] - start] = long_data[a:b]
    new_offsets = (offsets - start).astype(np.int32)
    validity = values.buffers()[0]
    if validity is not None and values.offset:
        validity = pa.py_buffer(np.packbits(values.is_valid().to_numpy(zero_copy_only=False), bitorder="little"))
    return pa.StringArray.from_buffers(len(values), pa.py_buffer(new_offsets), pa.py_buffer(out), validity,
                                       values.null_count)


def permutation_mapper(secret: bytes, operator: str) -> DigitMapper:
    """A :data:`DigitMapper` that applies the keyed digit permutation of ``operator``."""
    return functools.partial(permute_digit_groups, secret, operator)


# --------------------------------------------------------------------------------------------- shapes


def _keyed_letters(secret: bytes, operator: str, rows: ByteRows, counts: np.ndarray) -> np.ndarray:
    """(n, max count) keyed upper-case ASCII letters per row, derived from the whole original value."""
    top = int(counts.max()) if len(counts) else 0
    lanes = max(1, -(-top // 8))
    h = rows.prf(secret, [f"{operator}/letters/{j}" for j in range(lanes)])
    return (h.view(np.uint8).reshape(len(counts), -1)[:, :top] % 26 + 65).astype(np.uint8)


def shape_rows(secret: bytes, operator: str, rows: ByteRows, *, letters: bool = True) -> ByteRows:
    """Digits permuted (keyed, per digit count) and ASCII letters keyed per value, in place."""
    original = rows
    rows = map_digit_rows(rows, permutation_mapper(secret, operator))
    if not letters:
        return rows
    upper = (original.mat >= 65) & (original.mat <= 90)
    lower = (original.mat >= 97) & (original.mat <= 122)
    alpha = upper | lower
    counts = alpha.sum(axis=1)
    if not counts.any():
        return rows
    has = np.nonzero(counts)[0]
    keyed = _keyed_letters(secret, operator, original.take(has), counts[has])
    take = np.arange(keyed.shape[1])[None, :] < counts[has][:, None]
    mat = rows.mat
    sub, sub_alpha = mat[has], alpha[has]
    sub[sub_alpha] = keyed[take]
    sub[lower[has]] += 32
    mat[has] = sub
    return ByteRows(mat, rows.lengths)


def shape_fakes(secret: bytes, operator: str, values: pa.Array, *, letters: bool = True) -> pa.Array:
    """Same shape: digits permuted (keyed, per digit count), letters keyed per value, the rest kept.

    ASCII values are handled in numpy; the rare values with non-ASCII characters get the same digits, and
    their letters (a non-ASCII letter such as 'ß' too) from the same keyed letter stream, in Python.
    """
    values = as_utf8(values)
    if not letters:
        return permute_digits(secret, operator, values)
    is_ascii = pc.string_is_ascii(values).to_numpy(zero_copy_only=False)
    if is_ascii.all():
        return merge_strings(by_width(values, lambda r, _idx: shape_rows(secret, operator, r)), len(values))
    out = values.to_pylist()
    ascii_idx = np.nonzero(is_ascii)[0]
    if len(ascii_idx):
        done = shape_fakes(secret, operator, values.take(pa.array(ascii_idx)))
        for i, v in zip(ascii_idx.tolist(), done.to_pylist(), strict=True):
            out[i] = v
    other_idx = np.nonzero(~is_ascii)[0]
    other = values.take(pa.array(other_idx))
    digits = permute_digits(secret, operator, other)  # digits done, letters untouched
    counts = np.array([sum(c.isalpha() for c in v) for v in other.to_pylist()], dtype=np.int64)
    rows = ByteRows.from_array(other)  # hash_rows hashes each value at its own width class
    keyed = _keyed_letters(secret, operator, rows, counts) if counts.any() else np.zeros((len(counts), 0))
    for j, (i, value) in enumerate(zip(other_idx.tolist(), digits.to_pylist(), strict=True)):
        stream = iter(bytes(keyed[j, : counts[j]].astype(np.uint8)).decode("ascii"))
        out[i] = "".join((next(stream).lower() if c.islower() else next(stream)) if c.isalpha() else c for c in value)
    return pa.array(out, pa.string())


def fill_non_space(values: pa.Array, replacement: pa.Array) -> pa.Array:
    """Write ``replacement[i]`` (ASCII, as many characters as ``values[i]`` has non-space bytes) into the
    non-space positions of ``values[i]``, spaces kept (an IBAN printed in groups of four)."""
    values, replacement = as_utf8(values), as_utf8(replacement)

    def fill(rows: ByteRows, idx: np.ndarray) -> ByteRows:
        inside = np.arange(rows.mat.shape[1])[None, :] < rows.lengths[:, None]
        slots = inside & (rows.mat != 32)
        mat = rows.mat.copy()
        new = ByteRows.from_array(replacement.take(pa.array(idx)))
        new_inside = np.arange(new.mat.shape[1])[None, :] < new.lengths[:, None]
        mat[slots] = new.mat[new_inside]
        return ByteRows(mat, rows.lengths)

    return merge_strings(by_width(values, fill), len(values))
