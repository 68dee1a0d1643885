"""Which staged Parquet columns are dictionary encoded: repeating text yes, mostly distinct text and numbers no.
(Any choice gives the same values; this keeps the writer from building dictionaries it throws away.)"""

from __future__ import annotations

import pyarrow as pa

from hfit_dagster.pipeline.table_sink import DICTIONARY_PROBE_ROWS, dictionary_columns


def test_repeating_text_is_dictionary_encoded_distinct_text_and_numbers_are_not() -> None:
    n = 4 * DICTIONARY_PROBE_ROWS
    batch = pa.record_batch({
        "id": pa.array(range(n)),
        "status": pa.array(["open", "closed", "held"] * (n // 3) + ["open"] * (n % 3)),
        "email": pa.array([f"user{i}@example.org" for i in range(n)]),
        "half": pa.array([f"v{i // 2}" for i in range(n)]),  # each value twice: exactly half distinct
        "labels": pa.array(["a", "b"] * (n // 2)).dictionary_encode(),
    })
    assert dictionary_columns(batch) == ["status", "half", "labels"]
    small = batch.slice(0, DICTIONARY_PROBE_ROWS - 1)  # too few rows to judge: text keeps its dictionary
    assert dictionary_columns(small) == ["status", "email", "half", "labels"]
