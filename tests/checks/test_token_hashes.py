"""The vectorized tokenizer finds exactly the tokens Python's ``\\w+`` and ``str.lower`` find in ASCII text,
with the same hashes, so the leak check's fast and exact paths agree."""

from __future__ import annotations

import random
import string

import pyarrow as pa

from hfit_dagster.checks.token_hashes import MAX_HASHED_TOKEN, ascii_tokens, python_tokens


def _random_ascii(rng: random.Random) -> str | None:
    if rng.random() < 0.05:
        return None
    alphabet = string.ascii_letters + string.digits + "_ .,-@+()'\n\t"
    text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
    if rng.random() < 0.01:
        text += " " + "Q" * (MAX_HASHED_TOKEN + rng.randint(1, 50)) + " end"
    return text


def test_ascii_tokens_equal_python_tokens_on_random_text() -> None:
    rng = random.Random(11)
    values = [_random_ascii(rng) for _ in range(3_000)]
    array = pa.array(["padding", *values], pa.string()).slice(1)  # an array with an offset, as batches are
    fast = ascii_tokens(array)
    present = [(i, v) for i, v in enumerate(values) if v is not None]
    slow = python_tokens([v for _, v in present])
    assert fast.owner.tolist() == [present[i][0] for i in slow.owner.tolist()]
    assert fast.hashes.tolist() == slow.hashes.tolist()


def test_no_token_runs_across_two_values() -> None:
    tokens = ascii_tokens(pa.array(["ab", "cd", "", "e f"]))
    assert tokens.owner.tolist() == [0, 1, 3, 3]


def test_a_sequence_searched_for_several_origins_is_reported_for_the_first() -> None:
    """The same original in two masked columns (and many unrelated sequences): a hit names the column that
    collected it first, whatever order sorting puts the copies in."""
    import numpy as np

    from hfit_dagster.checks.token_hashes import TokenPatterns

    rng = np.random.default_rng(3)
    hashes = rng.integers(1, 2**63, 20_000, dtype=np.int64).astype(np.uint64)
    hashes[10_000:] = hashes[:10_000]  # every sequence twice: origin 0 first, then origin 1
    origins = np.repeat(np.array([0, 1]), 10_000)
    patterns = TokenPatterns.build(hashes[::-1].copy(), np.full(20_000, 1), origins[::-1].copy())
    assert set(patterns.origins[1].tolist()) == {1}  # reversed: origin 1 collected each sequence first
    patterns = TokenPatterns.build(hashes, np.full(20_000, 1), origins)
    assert set(patterns.origins[1].tolist()) == {0} and patterns.by_length[1].size == 10_000


def test_patterns_sorted_a_bucket_at_a_time_equal_one_sort_of_all() -> None:
    """The leak check merges its originals a bucket of hashes at a time (its peak memory): the searched
    patterns and the origin each reports are those of one sort of all hashes, whatever the hashes' spread
    (many repeats, all in one bucket, sizes around the bucketing threshold, bucket counts not a power of two)."""
    import numpy as np

    from hfit_dagster.checks.token_hashes import _BUCKETED_FROM, distinct_first

    rng = np.random.default_rng(5)
    for size in (0, 1, _BUCKETED_FROM - 1, _BUCKETED_FROM, 300_000):
        spread = rng.integers(0, 2**63, size, dtype=np.int64).astype(np.uint64) << np.uint64(rng.integers(0, 2))
        narrow = rng.integers(0, 1_000, size, dtype=np.int64).astype(np.uint64)  # one bucket, many repeats
        for hashes in (spread, narrow, np.concatenate([spread[: size // 2], spread[: size - size // 2]])):
            origins = rng.integers(0, 40, hashes.size).astype(np.int32)
            expected = distinct_first(hashes, origins, buckets=1)
            for buckets in (2, 7, 16):
                found = distinct_first(hashes, origins, buckets=buckets)
                assert found[0].tolist() == expected[0].tolist()
                assert found[1].tolist() == expected[1].tolist()
                assert found[0].dtype == np.uint64 and found[1].dtype == np.int32


def test_the_sequence_filter_sized_to_the_patterns_finds_what_a_search_of_every_run_finds() -> None:
    """The bit filter in front of the patterns only spares binary searches: sized to a few thousand or to
    millions of patterns, the runs found in text are those a search of every run finds (a filter with every bit
    set), patterns of one to four tokens, planted and absent."""
    import numpy as np

    from hfit_dagster.checks.token_hashes import TokenPatterns, pattern_filter_bits, sequence_hashes

    rng = random.Random(9)
    words = ["".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(2, 7))) for _ in range(3_000)]
    texts = [" ".join(rng.choice(words) for _ in range(rng.randint(1, 12))) for _ in range(20_000)]
    for planted in (2_000, 3_000_000):
        originals = [" ".join(rng.choice(words) for _ in range(rng.randint(1, 4))) for _ in range(2_000)]
        tokens = ascii_tokens(pa.array(originals))
        hashes = sequence_hashes(tokens, len(originals))
        lengths = tokens.counts(len(originals))
        if planted > len(originals):  # millions of other patterns, as a large table's originals give
            extra = np.random.default_rng(1).integers(1, 2**63, planted, dtype=np.int64).astype(np.uint64)
            hashes, lengths = np.concatenate([hashes, extra]), np.concatenate([lengths, np.ones(planted, np.int64)])
        patterns = TokenPatterns.build(hashes, lengths, np.zeros(hashes.size, np.int32))
        assert patterns.bits.size * 8 == pattern_filter_bits(hashes.size)
        everything = TokenPatterns(patterns.by_length, patterns.origins, np.full(patterns.bits.size, 255, np.uint8))
        scanned = ascii_tokens(pa.array(texts))
        found, expected = patterns.find(scanned), everything.find(scanned)
        assert found.size == expected.size > 1_000
        assert sorted(zip(found.value.tolist(), found.start.tolist(), found.length.tolist(), strict=True)) == sorted(
            zip(expected.value.tolist(), expected.start.tolist(), expected.length.tolist(), strict=True))
