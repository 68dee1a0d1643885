"""Free text in worker processes: the same redactions as in process, the model loaded once per worker."""

from __future__ import annotations

import time

import pytest

from hfit_dagster.errors import MaskingError
from hfit_dagster.masking import TextAnalyzer, TextRedactor
from hfit_dagster.masking.text_redactor import PARALLEL_MIN_TEXTS

FIRST = ["Maria", "John", "Aisha", "Kenji", "Olga", "Pedro", "Grace", "Lukas"]


def _notes(n: int) -> list[str]:
    return [
        f"Ticket {i}: {FIRST[i % 8]} Smith called from +44 20 7946 {i:04d}; "
        f"reply to {FIRST[i % 8].lower()}{i}@mail.test"
        for i in range(n)
    ] + ["Gift wrap requested"] * 20


def test_two_workers_redact_exactly_like_one_process(analyzer: TextAnalyzer, key: bytes) -> None:
    """Parallel redaction is an implementation detail: same output, same statistics, workers stopped after."""
    notes = _notes(max(PARALLEL_MIN_TEXTS, 96))
    local = TextRedactor(analyzer, key)
    expected = local.redact_many(notes)
    with TextRedactor(analyzer, key, workers=2) as parallel:
        start = time.perf_counter()
        got = parallel.redact_many(notes)
        print(f"\n2 workers (incl. start-up, model load per worker): {time.perf_counter() - start:.1f}s")
        assert got == expected
        assert parallel.stats.analyzed == local.stats.analyzed
        assert parallel.stats.by_entity == local.stats.by_entity
        assert parallel.redact_many(notes[:3]) == expected[:3]  # small batches and cache hits stay in process
    assert parallel._pool is None


def test_workers_must_be_positive(analyzer: TextAnalyzer, key: bytes) -> None:
    with pytest.raises(MaskingError, match="at least 1"):
        TextRedactor(analyzer, key, workers=0)
