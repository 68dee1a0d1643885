"""Masked values equal to their own originals: counted as chance allows, a leak beyond it. The phone operator
leaves digit-free values ("unknown") as they are, which is no leak; it also leaves digits of other scripts as they
are, which is one."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pyarrow as pa

from hfit_dagster.masking import ColumnDecision, TableMaskingPlan
from hfit_dagster.masking.operators.base import MaskContext
from hfit_dagster.masking.operators.registry import OPERATORS
from hfit_dagster.pipeline.leak_scan import LeakScan

PLAN = TableMaskingPlan("customers", {"phone": ColumnDecision("phone", "phone", None, 1.0, "test", "rule")})


def _leaks(phones: list[str | None]) -> set[str]:
    original = pa.RecordBatch.from_pydict({"phone": pa.array(phones, pa.string())})
    masked = pa.RecordBatch.from_pydict({"phone": OPERATORS.get("phone").operate(original.column("phone"),
                                                                                MaskContext(key=b"k" * 32))})

    def staged_text(name: str, rows: int, also: Sequence[str],
                    numbers: Sequence[str]) -> Iterator[pa.RecordBatch]:
        yield masked

    scan = LeakScan(staged_text)
    scan.collect("customers", PLAN, original)
    scan.compare_masked("customers", PLAN, original, masked)
    leaks = scan.hits(["customers"], lambda _: None)
    scan.close()
    return leaks


def test_digit_free_values_left_as_they_are_are_no_leak() -> None:
    assert _leaks(["unknown", "not given"] * 50 + [f"+33 6 12 34 {i:02d} 78" for i in range(100)]) == set()


def test_phones_the_operator_left_unchanged_leak() -> None:
    """Arabic-Indic digits are not permuted: each such phone is its own 'fake', far beyond chance."""
    leaks = _leaks(["٠٦١٢٣٤٥٦٧٨", "٠٧١٢٣٤٥٦٧٨"] + [f"+33 6 12 34 {i:02d} 78" for i in range(100)])
    assert leaks == {"customers.phone in customers.phone (left unchanged by masking)"}
