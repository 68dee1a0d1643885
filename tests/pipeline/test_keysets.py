"""Compact key sets behave exactly like the Python sets of tuples they replace; the leak pre-filter misses nothing."""

from __future__ import annotations

import random
import string

import numpy as np
import pyarrow as pa
import pytest

from hfit_dagster.checks.leak import LeakCollector
from hfit_dagster.pipeline.keysets import KeySet, batch_keys, key_count, values_of
from hfit_dagster.pipeline.leak_scan import leak_candidates


def as_set(keys) -> set[tuple]:
    return {(int(k),) for k in keys.tolist()} if isinstance(keys, np.ndarray) else set(keys)


@pytest.mark.parametrize("layout", ["dense", "sparse", "growing", "negative"])
def test_integer_keys_match_a_python_set(layout: str) -> None:
    rng = np.random.default_rng(7)
    keys, model = KeySet(), set()
    for step in range(60):
        if layout == "dense":
            batch = rng.integers(1, 50_000, 700)
        elif layout == "sparse":
            batch = rng.integers(-2**62, 2**62, 500)
        elif layout == "growing":
            batch = np.arange(step * 3_000, step * 3_000 + 4_000) if step % 7 else rng.integers(0, 10**9, 50)
        else:
            batch = rng.integers(-5_000, 5_000, 300)
        batch = batch.astype(np.int64)
        if step % 4 == 3:  # plain add (foreign keys: duplicates, any order)
            keys.add(np.concatenate([batch, batch[::-1]]))
        else:
            fresh = keys.add_new(batch)
            expected, seen = [], set()
            for k in batch.tolist():
                expected.append((k,) not in model and k not in seen)
                seen.add(k)
            assert fresh.tolist() == expected
        model |= {(k,) for k in batch.tolist()}
        if step % 5 == 0:
            gone = batch[: len(batch) // 3]
            keys.discard(gone)
            model -= {(k,) for k in gone.tolist()}
        probe = np.concatenate([batch, rng.integers(-10**6, 10**6, 200)]).astype(np.int64)
        assert keys.contains(probe).tolist() == [(k,) in model for k in probe.tolist()]
        assert len(keys) == len(model)
    assert as_set(keys.keys()) == model
    assert keys.keys().tolist() == sorted(k for (k,) in model)  # integer keys come out in numeric order


def test_dense_ids_cost_about_a_byte_each() -> None:
    keys = KeySet()
    for start in range(0, 1_000_000, 10_000):
        keys.add(np.arange(start + 1, start + 10_001, dtype=np.int64))
    assert keys.form == "dense" and len(keys) == 1_000_000
    assert keys.nbytes <= 2 * 1_000_000
    sparse = KeySet(np.random.default_rng(1).integers(0, 2**60, 100_000))
    assert sparse.form == "sparse" and sparse.nbytes <= 8 * 100_000 * 1.01


def test_difference_and_mixed_forms() -> None:
    needed = KeySet(np.array([1, 2, 3, 4, 5, 900_000_000], dtype=np.int64))
    present = KeySet(np.array([2, 4], dtype=np.int64))
    requested = KeySet(np.array([5], dtype=np.int64))
    assert needed.difference(present, requested).tolist() == [1, 3, 900_000_000]
    # text keys turn a set into the generic form; comparisons keep Python semantics
    text = KeySet([("a",), ("b",)])
    assert text.form == "objects"
    assert text.difference(KeySet([("b",)])) == [("a",)]
    assert needed.difference(KeySet([(3,), ("x",)]), present) == [(1,), (5,), (900_000_000,)]
    mixed = KeySet(np.array([10, 11], dtype=np.int64))
    mixed.add([("z",)])
    assert mixed.form == "objects" and as_set(mixed.keys()) == {(10,), (11,), ("z",)}
    assert mixed.add_new(np.array([11, 12, 12], dtype=np.int64)).tolist() == [False, True, False]
    assert values_of(KeySet([(3,), (1,)]).keys()) == [1, 3]


@pytest.mark.parametrize("other_layout", ["dense", "sparse", "dense_offset", "empty", "dense_and_sparse"])
def test_difference_of_a_dense_set_matches_python_sets(other_layout: str) -> None:
    """The parents a build still needs (and the dangling keys it reports) are a dense set minus others, done
    on byte maps: the same keys, in order, as Python sets give, whatever form the other sets take (a range
    only partly overlapping, sparse keys inside and outside the dense range, several sets at once)."""
    rng = np.random.default_rng(13)
    for _ in range(20):
        lo = int(rng.integers(-1_000, 1_000))
        needed_keys = rng.integers(lo, lo + 40_000, 30_000).astype(np.int64)
        needed = KeySet()
        needed.add(needed_keys)
        assert needed.form == "dense"
        others: list[KeySet] = []
        if other_layout in ("dense", "dense_and_sparse"):
            others.append(KeySet(np.arange(lo + 5_000, lo + 25_000, dtype=np.int64)))
        if other_layout == "dense_offset":  # overlaps only the upper part, reaches past the end
            others.append(KeySet(np.arange(lo + 30_000, lo + 90_000, dtype=np.int64)))
        if other_layout in ("sparse", "dense_and_sparse"):
            others.append(KeySet(np.concatenate([rng.choice(needed_keys, 2_000),
                                                 rng.integers(-2**62, 2**62, 2_000)]).astype(np.int64)))
        if other_layout == "empty":
            others.append(KeySet())
        assert needed.form == "dense"
        expected = sorted({int(k) for k in needed_keys.tolist()}
                          - {int(k) for o in others for k in o.keys().tolist()})
        found = needed.difference(*others)
        assert isinstance(found, np.ndarray) and found.dtype == np.int64
        assert found.tolist() == expected


def test_batch_keys_forms() -> None:
    batch = pa.RecordBatch.from_pydict({
        "id": pa.array([3, 1, 2], pa.int32()),
        "maybe": pa.array([1, None, 2], pa.int64()),
        "big": pa.array([1, 2**64 - 1, 3], pa.uint64()),
        "code": pa.array(["x", "y", None]),
    })
    ids = batch_keys(batch, ["id"])
    assert isinstance(ids, np.ndarray) and ids.dtype == np.int64 and ids.tolist() == [3, 1, 2]
    assert batch_keys(batch, ["maybe"]) == [(1,), (None,), (2,)]  # a NULL in a key: generic form, one per row
    assert batch_keys(batch, ["maybe"], drop_nulls=True).tolist() == [1, 2]
    assert batch_keys(batch, ["big"]) == [(1,), (2**64 - 1,), (3,)]
    assert batch_keys(batch, ["id", "code"], drop_nulls=True) == [(3, "x"), (1, "y")]
    assert key_count(batch_keys(batch, ["code"])) == 3


def _word(rng: random.Random) -> str:
    return "".join(rng.choice(string.ascii_letters + string.digits + "_") for _ in range(rng.randint(1, 9)))


def test_leak_prefilter_keeps_every_value_the_exact_scan_would_flag() -> None:
    rng = random.Random(3)
    originals = [" ".join(_word(rng) for _ in range(rng.randint(1, 5))) + rng.choice(["", "@example.org", "-12"])
                 for _ in range(5_000)]
    originals += ["Zoë Ångström", "x" * 5_000 + " tail"]
    leaks = LeakCollector()
    leaks.add_column("t", "c", "email", pa.array(originals))
    values = [" ".join(_word(rng) for _ in range(rng.randint(0, 8))) for _ in range(20_000)]
    values += [f"see {o.upper()}!" for o in rng.sample(originals, 200)]  # case and punctuation differ
    values += ["about zoë ångström", "X" * 5_000 + " TAIL", "", None, "  ", "a__b"]
    candidates = set(leak_candidates(pa.array(values, pa.string()), leaks.patterns()).to_pylist())
    flagged = [v for v in values if v is not None and leaks.scan([v])]
    assert len(flagged) > 150
    assert [v for v in flagged if v not in candidates] == []
    assert len(candidates) < len(flagged) + 200  # and it does filter: few values go to the exact scan


def test_leak_prefilter_with_nothing_searched() -> None:
    values = pa.array(["a b", None, "c"])
    assert len(leak_candidates(values, LeakCollector().patterns())) == 0
    assert leak_candidates(values, None).to_pylist() == ["a b", "c"]


def test_numeric_keys_read_as_text_are_one_key_whatever_their_scale() -> None:
    """A PostgreSQL ``numeric`` key (read as its text, which keeps its scale's zeros) and a reference to it of
    another scale are the same key, as the server compares them (``1.50`` references ``1.5``); other text keys
    keep every character."""
    from hfit_dagster.extract.arrow_types import TEXT_OF

    numeric = pa.field("u", pa.string(), metadata={TEXT_OF: "numeric"})
    parents = pa.record_batch([pa.array(["1.5", "2", "0", "-3.25", "NaN", "100.01"])], schema=pa.schema([numeric]))
    kids = pa.record_batch([pa.array(["1.50", "2.00", "0.000", "-3.2500", "NaN", "100.0100", None])],
                           schema=pa.schema([numeric]))
    present = KeySet(batch_keys(parents, ["u"]))
    assert present.contains(batch_keys(kids, ["u"], drop_nulls=True)).all()
    text = pa.schema([pa.field("u", pa.string())])
    plain = KeySet(batch_keys(pa.record_batch([pa.array(["1.5"])], schema=text), ["u"]))
    assert not plain.contains(batch_keys(pa.record_batch([pa.array(["1.50"])], schema=text), ["u"])).any()
