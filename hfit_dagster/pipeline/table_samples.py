"""Classification samples: rows spread over a whole table, read in the build's snapshot before any export.

A column can be 'n/a' or NULL in its first few hundred rows and hold emails after; a sample of the first rows
would keep it. The sample is read in ``SAMPLE_PROBES`` short probes spread over the table, before the exports
stream (one connection, one read-only snapshot, so the sample sees the rows the build reads):

* a primary key whose first column is an integer or text: its smallest and largest value, then
  ``WHERE pk >= start ORDER BY pk LIMIT k`` at evenly spaced starts (text keys spaced by code points) - index
  range reads, milliseconds per table whatever its size;
* any other key, or none: ``COUNT(*)`` and ``LIMIT k OFFSET o`` at evenly spaced offsets (ordered by the key
  when there is one) - the server walks up to the table's size per probe, seconds on millions of rows.

A table no larger than the sample is read whole.
"""

from __future__ import annotations

import time

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hfit_dagster.extract.arrow_types import schema_for
from hfit_dagster.extract.source import stream_statement

SAMPLE_PROBES = 8
FAST_READ_MIN_ROWS = 10_000  # smaller samples take the plain read: the fast decoder's start-up costs more


def _read(conn: Connection, statement: sa.Select, schema: pa.Schema, fast_read: bool) -> list[pa.RecordBatch]:
    return list(stream_statement(conn, statement, {}, schema, FAST_READ_MIN_ROWS, fast_read=fast_read))


def spread_sample(conn: Connection, table: sa.Table, rows: int, *, fast_read: bool = True) -> pa.Table:
    """About ``rows`` rows of ``table`` spread over all of it (see the module docstring), every column.

    ``fast_read`` applies from ``FAST_READ_MIN_ROWS`` rows: a sample of a few hundred rows read by the fast
    MySQL decoder would load its compiled code (about 1.5 s once per process, 7 s when it compiles) before the
    export needs it."""
    fast_read = fast_read and rows >= FAST_READ_MIN_ROWS
    schema = schema_for(table, [c.name for c in table.columns])
    per_probe = max(1, -(-rows // SAMPLE_PROBES))
    pk = list(table.primary_key.columns)
    key = pk[0] if pk else None
    if key is not None and isinstance(key.type, sa.Integer | sa.String):
        low, high = conn.execute(sa.select(sa.func.min(key), sa.func.max(key))).one()
        if low is None:
            return schema.empty_table()
        starts = spread_starts(low, high, rows)
        ordered = sa.select(table).order_by(*pk)
        if starts is None:
            statements = [ordered.limit(rows)]
        else:
            statements = [ordered.where(key >= start).limit(per_probe) for start in starts]
    else:
        count = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() or 0
        ordered = sa.select(table).order_by(*pk) if pk else sa.select(table)
        if count <= rows:
            statements = [ordered.limit(rows)]
        else:
            offsets = sorted({count * i // SAMPLE_PROBES for i in range(SAMPLE_PROBES)})
            statements = [ordered.limit(per_probe).offset(offset) for offset in offsets]
    batches = [batch for statement in statements for batch in _read(conn, statement, schema, fast_read)]
    sample = pa.Table.from_batches(batches, schema=schema)
    if sample.num_rows < rows // 2 and len(statements) > 1:  # text starts past most keys (collation order)
        sample = pa.concat_tables([sample, *[pa.Table.from_batches(_read(conn, statements[0].limit(rows), schema,
                                                                          fast_read), schema=schema)]])
    return sample


def spread_starts(low: object, high: object, rows: int) -> list[object] | None:
    """``SAMPLE_PROBES`` keys evenly spaced from ``low`` to ``high`` (None: the key range is narrower than the
    sample, read it from the start). Text keys are spaced by the code points of the four characters after
    their common prefix: the server's collation may order them differently, so a start is only somewhere
    between (a probe past the last key reads nothing, and the sample is topped up from the start)."""
    if isinstance(low, int) and isinstance(high, int):
        if high - low < rows:
            return None
        return sorted({low + (high - low) * i // SAMPLE_PROBES for i in range(SAMPLE_PROBES)})
    low_text, high_text = str(low), str(high)
    prefix = 0
    while prefix < min(len(low_text), len(high_text)) and low_text[prefix] == high_text[prefix]:
        prefix += 1

    tails = low_text[prefix : prefix + 4] + high_text[prefix : prefix + 4]
    base = 127 if tails.isascii() else 0xD800  # below the surrogates: every start encodes as UTF-8

    def number(text: str) -> int:
        digits = [min(max(ord(c), 32), base - 1) for c in text[prefix : prefix + 4]]
        digits += [32] * (4 - len(digits))
        return sum(d * base ** (3 - i) for i, d in enumerate(digits))

    first, last = number(low_text), number(high_text)
    if last <= first:
        return None
    starts = []
    for i in range(SAMPLE_PROBES):
        value = first + (last - first) * i // SAMPLE_PROBES
        chars = "".join(chr(max(value // base ** (3 - k) % base, 32)) for k in range(4))
        starts.append(low_text[:prefix] + chars.rstrip(" "))
    return sorted(set(starts))


def spread_samples(conn: Connection, tables: list[sa.Table], rows: int, *,
                   fast_read: bool = True) -> tuple[dict[str, pa.Table], float]:
    """Every table's spread sample, and the seconds they took together."""
    started = time.monotonic()
    samples = {table.name: spread_sample(conn, table, rows, fast_read=fast_read) for table in tables}
    return samples, time.monotonic() - started
