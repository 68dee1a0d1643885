"""Compact sets of row keys for staging: primary keys seen, keys present, keys referenced, keys requested.

Why not Python sets of tuples: a key ``(12345,)`` costs ~120 bytes in a ``set`` (tuple, int, hash slot), and
staging keeps several such sets per table, so memory grew with the table (several GB for ten million rows)
and every batch paid a Python loop per row. Almost every key hfit records is one integer column (surrogate
primary keys and the foreign keys pointing at them), so a :class:`KeySet` keeps those as numpy data:

* **dense** integers (auto-increment ids: the range is at most ``DENSE_FACTOR`` times the number of keys)
  as a byte map over ``[base, base + len)``: one byte per id of the range, O(1) vectorized lookups;
* **sparse** integers as a few sorted unique ``int64`` runs merged like a log-structured merge tree
  (8 bytes a key, ``searchsorted`` lookups, O(log n) runs);
* anything else (composite keys, text, NULLs in a key, unsigned values past 2^63) as the Python set of
  tuples it always was; a set switches to that form when it meets such keys, so results never change.

Keys passed in and out are a :data:`KeyBatch`: an ``int64`` numpy array (integer single-column keys) or
a list of tuples. Sorted output is numeric for integer keys and ``repr`` order otherwise; both are
deterministic, which is what chunked queries need.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hfit_dagster.extract.arrow_types import is_decimal_text

KeyBatch = np.ndarray | list[tuple[Any, ...]]
DENSE_FACTOR = 8  # a byte map is used while its range is at most this many bytes per key
MIN_DENSE_RANGE = 1 << 16  # ... or at most this many bytes in all
_INT64_MAX = np.iinfo(np.int64).max


def batch_keys(batch: pa.RecordBatch | pa.Table, columns: Sequence[str], *, drop_nulls: bool = False) -> KeyBatch:
    """The keys of ``batch`` over ``columns``: one per row, or only non-NULL ones with ``drop_nulls``.

    A single integer column gives an ``int64`` array; anything else a list of tuples (a tuple with a NULL
    is dropped by ``drop_nulls``).
    """
    if len(columns) == 1:
        column = batch.column(columns[0])
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        if pa.types.is_integer(column.type) and (column.null_count == 0 or drop_nulls):
            if column.null_count:
                column = column.drop_null()
            values = column.to_numpy(zero_copy_only=False)
            if values.dtype == np.uint64:
                if values.size and int(values.max()) > _INT64_MAX:
                    return [(int(v),) for v in values.tolist()]
            return values.astype(np.int64, copy=False)
    arrays = [_canonical(batch.column(c)) if is_decimal_text(batch.schema.field(c)) else batch.column(c)
              for c in columns]
    keys = list(zip(*(a.to_pylist() for a in arrays), strict=True))
    if drop_nulls:
        keys = [k for k in keys if None not in k]
    return keys


def _canonical(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """A PostgreSQL ``numeric`` key read as its text, written as one number is written whatever its scale
    (``1.50`` and ``1.5`` are one key to the server, which compares numerically; as text they were two, so a
    ``numeric(8,2)`` reference to a ``numeric`` key found no parent): zeros ending a fraction dropped, then a
    fraction left empty. The text ``numeric`` gives has no exponent, sign ``+`` or ``-0``; NaN stays."""
    trimmed = pc.replace_substring_regex(values, r"^(-?[0-9]+\.[0-9]*?)0+$", r"\1")
    return pc.replace_substring_regex(trimmed, r"^(-?[0-9]+)\.$", r"\1")


def values_of(keys: KeyBatch) -> list[Any]:
    """Single-column keys as plain values (for binding ``IN`` lists)."""
    if isinstance(keys, np.ndarray):
        return keys.tolist()
    return [k[0] for k in keys]


def key_count(keys: KeyBatch) -> int:
    return int(keys.size) if isinstance(keys, np.ndarray) else len(keys)


def _as_tuples(keys: KeyBatch) -> list[tuple[Any, ...]]:
    return [(k,) for k in keys.tolist()] if isinstance(keys, np.ndarray) else keys


class KeySet:
    """A set of keys of one column tuple (see the module docstring for the three representations)."""

    __slots__ = ("_base", "_map", "_count", "_runs", "_objects")

    def __init__(self, keys: KeyBatch | None = None) -> None:
        self._base = 0
        self._map: np.ndarray | None = None  # dense: bool per id in [base, base + len(map))
        self._count: int | None = 0  # number of keys in the dense map (None: count it when asked)
        self._runs: list[np.ndarray] | None = None  # sparse: sorted unique int64 runs
        self._objects: set[tuple[Any, ...]] | None = None  # generic
        if keys is not None:
            self.add(keys)

    # -- size and form ------------------------------------------------------------------------------------
    def __len__(self) -> int:
        if self._objects is not None:
            return len(self._objects)
        if self._map is not None:
            if self._count is None:
                self._count = int(np.count_nonzero(self._map))
            return self._count
        return sum(r.size for r in self._runs) if self._runs else 0

    @property
    def form(self) -> str:
        """``dense``, ``sparse``, ``objects`` or ``empty`` (for tests and progress messages)."""
        if self._objects is not None:
            return "objects"
        if self._map is not None:
            return "dense"
        return "sparse" if self._runs else "empty"

    @property
    def nbytes(self) -> int:
        """Memory held by the numpy forms (the generic form is not counted)."""
        if self._map is not None:
            return int(self._map.nbytes)
        return sum(int(r.nbytes) for r in self._runs or [])

    def _integers(self) -> np.ndarray:
        """All keys of an integer form, sorted."""
        if self._map is not None:
            return np.flatnonzero(self._map).astype(np.int64) + self._base
        self._compact()
        return self._runs[0] if self._runs else np.empty(0, dtype=np.int64)

    def _to_objects(self) -> set[tuple[Any, ...]]:
        if self._objects is None:
            self._objects = {(k,) for k in self._integers().tolist()}
            self._map, self._runs, self._count = None, None, 0
        return self._objects

    # -- updates ------------------------------------------------------------------------------------------
    def add(self, keys: KeyBatch) -> None:
        if isinstance(keys, np.ndarray):
            if keys.size == 0:
                return
            if self._objects is None:
                self._add_integers(keys)
                return
        elif not keys:
            return
        self._to_objects().update(_as_tuples(keys))

    def add_new(self, keys: KeyBatch) -> np.ndarray:
        """Add ``keys``; True for each key not in the set before (and not earlier in ``keys``)."""
        if isinstance(keys, np.ndarray) and self._objects is None:
            fresh = np.zeros(keys.size, dtype=bool)
            if keys.size == 0:
                return fresh
            if _is_sorted(keys):  # strictly increasing (a scan in key order): no key twice, no sort needed
                fresh = ~self.contains(keys)
                if fresh.any():
                    self._add_integers(keys[fresh], unique=True)
                return fresh
            unique, first = np.unique(keys, return_index=True)
            new = ~self.contains(unique)
            fresh[first[new]] = True
            self._add_integers(unique[new], unique=True)
            return fresh
        objects = self._to_objects()
        mask = np.zeros(key_count(keys), dtype=bool)
        for i, key in enumerate(_as_tuples(keys)):
            if key not in objects:
                objects.add(key)
                mask[i] = True
        return mask

    def discard(self, keys: KeyBatch) -> None:
        if isinstance(keys, np.ndarray) and self._objects is None:
            if keys.size == 0:
                return
            if self._map is not None:
                index = keys - self._base
                self._map[index[(index >= 0) & (index < self._map.size)]] = False
                self._count = None
            elif self._runs:
                self._runs = [r[~np.isin(r, keys)] for r in self._runs]
                self._runs = [r for r in self._runs if r.size]
            return
        if keys is not None and key_count(keys):
            self._to_objects().difference_update(_as_tuples(keys))

    def _add_integers(self, keys: np.ndarray, *, unique: bool = False) -> None:
        keys = keys.astype(np.int64, copy=False)
        lo, hi = int(keys.min()), int(keys.max())
        if self._map is None and not self._runs:
            span = hi - lo + 1
            if span <= max(MIN_DENSE_RANGE, DENSE_FACTOR * keys.size):
                self._base, self._map, self._count = lo, np.zeros(span, dtype=bool), 0
        if self._map is not None:
            if lo < self._base or hi >= self._base + self._map.size:
                if not self._grow(lo, hi, keys.size):
                    self._runs = [self._integers()]
                    self._map, self._count = None, 0
                    self._add_run(keys, unique)
                    return
            self._map[keys - self._base] = True  # duplicates are harmless: no np.unique (a sort)
            self._count = None
            return
        self._add_run(keys, unique)

    def _grow(self, lo: int, hi: int, incoming: int) -> bool:
        assert self._map is not None
        new_lo = min(lo, self._base)
        new_hi = max(hi, self._base + self._map.size - 1)
        span = new_hi - new_lo + 1
        if span > max(MIN_DENSE_RANGE, DENSE_FACTOR * (len(self) + incoming)):
            return False
        # grow geometrically towards the side that needs it, so appending ids costs O(1) amortized
        extra = max(span - self._map.size, self._map.size // 2)
        if new_lo < self._base:
            new_lo = min(new_lo, self._base - extra)
            span = new_hi - new_lo + 1
        else:
            span = max(span, self._map.size + extra)
        grown = np.zeros(span, dtype=bool)
        offset = self._base - new_lo
        grown[offset : offset + self._map.size] = self._map
        self._base, self._map = new_lo, grown
        return True

    def _add_run(self, keys: np.ndarray, unique: bool) -> None:
        run = keys if unique and _is_sorted(keys) else np.unique(keys)
        if self._runs:
            run = run[~self.contains(run)]
            if run.size == 0:
                return
        runs = self._runs if self._runs is not None else []
        runs.append(run)
        while len(runs) > 1 and runs[-2].size <= 2 * runs[-1].size:
            top = runs.pop()
            runs[-1] = np.union1d(runs[-1], top)
        self._runs = runs
        self._maybe_dense()

    def _compact(self) -> None:
        if self._runs and len(self._runs) > 1:
            merged = self._runs[0]
            for run in self._runs[1:]:
                merged = np.union1d(merged, run)
            self._runs = [merged]

    def _maybe_dense(self) -> None:
        runs = self._runs
        if not runs:
            return
        count = sum(r.size for r in runs)
        lo = min(int(r[0]) for r in runs)
        hi = max(int(r[-1]) for r in runs)
        if hi - lo + 1 <= max(MIN_DENSE_RANGE, DENSE_FACTOR * count) and count >= 1024:
            dense = np.zeros(hi - lo + 1, dtype=bool)
            for r in runs:
                dense[r - lo] = True
            self._base, self._map, self._count, self._runs = lo, dense, count, None

    # -- queries ------------------------------------------------------------------------------------------
    def contains(self, keys: KeyBatch) -> np.ndarray:
        """Membership of each key, as a boolean array."""
        if isinstance(keys, np.ndarray) and self._objects is None:
            found = np.zeros(keys.size, dtype=bool)
            if keys.size == 0:
                return found
            if self._map is not None:
                index = keys - self._base
                inside = (index >= 0) & (index < self._map.size)
                found[inside] = self._map[index[inside]]
            for run in self._runs or []:
                at = np.searchsorted(run, keys)
                at[at >= run.size] = run.size - 1
                found |= run[at] == keys
            return found
        if self._objects is None:
            if self._map is None and not self._runs:
                return np.zeros(key_count(keys), dtype=bool)
            objects: set[tuple[Any, ...]] = {(k,) for k in self._integers().tolist()}
        else:
            objects = self._objects
        return np.fromiter((k in objects for k in _as_tuples(keys)), dtype=bool, count=key_count(keys))

    def keys(self) -> KeyBatch:
        """Every key, sorted (numerically for integer keys, by ``repr`` otherwise)."""
        if self._objects is not None:
            return sorted(self._objects, key=repr)
        return self._integers()

    def difference(self, *others: KeySet) -> KeyBatch:
        """The keys of this set in none of ``others``, sorted as :meth:`keys`."""
        if self._map is not None and not self._runs and all(o._objects is None for o in others):
            # a byte map minus integer sets stays a byte map: no array of every key to look up
            remaining = self._map.copy()
            for other in others:
                other._clear_from(remaining, self._base)
            return np.flatnonzero(remaining).astype(np.int64) + self._base
        keys = self.keys()
        if isinstance(keys, np.ndarray):
            if any(o._objects is not None and len(o._objects) for o in others):
                keys = _as_tuples(keys)
            else:
                for other in others:
                    if keys.size == 0:
                        break
                    keys = keys[~other.contains(keys)]
                return keys
        remaining = [k for k in keys if not any(o._contains_one(k) for o in others)]
        return sorted(remaining, key=repr)

    def _clear_from(self, dense: np.ndarray, base: int) -> None:
        """Unset in the byte map ``dense`` (key ``base + i`` at ``i``) every key of this integer set."""
        if self._map is not None:
            lo, hi = max(base, self._base), min(base + dense.size, self._base + self._map.size)
            if lo < hi:
                dense[lo - base : hi - base] &= ~self._map[lo - self._base : hi - self._base]
        for run in self._runs or []:
            inside = run[(run >= base) & (run < base + dense.size)]
            dense[inside - base] = False

    def _contains_one(self, key: tuple[Any, ...]) -> bool:
        if self._objects is not None:
            return key in self._objects
        if len(key) != 1 or not isinstance(key[0], int) or isinstance(key[0], bool):
            return False
        return bool(self.contains(np.asarray([key[0]], dtype=np.int64))[0]) if -2**63 <= key[0] <= _INT64_MAX \
            else False


def _is_sorted(values: np.ndarray) -> bool:
    return bool(values.size < 2 or (values[1:] > values[:-1]).all())
