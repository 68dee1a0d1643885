"""Classification samples: rows spread over a whole table, read in the build's snapshot before any export.

A column can be 'n/a' or NULL in its first few hundred rows and hold emails after; a sample of the first rows
would keep it. The sample is read in ``SAMPLE_PROBES`` short probes spread over the table, before the exports
stream (one connection, one read-only snapshot, so the sample sees the rows the build reads):

* a single integer primary key: its smallest and largest value, then ``WHERE pk >= start ORDER BY pk LIMIT k``
  at evenly spaced starts - index range reads, a few milliseconds per table whatever its size;
* any other key (text, composite, none): ``COUNT(*)`` and ``LIMIT k OFFSET o`` at evenly spaced offsets
  (ordered by the key when there is one) - the server walks up to the table's size per probe, so this costs
  a scan of the key's index per probe on large tables.

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


def _read(conn: Connection, statement: sa.Select, schema: pa.Schema, fast_read: bool) -> list[pa.RecordBatch]:
    return list(stream_statement(conn, statement, {}, schema, 10_000, fast_read=fast_read))


def spread_sample(conn: Connection, table: sa.Table, rows: int, *, fast_read: bool = True) -> pa.Table:
    """About ``rows`` rows of ``table`` spread over all of it (see the module docstring), every column."""
    schema = schema_for(table, [c.name for c in table.columns])
    per_probe = max(1, -(-rows // SAMPLE_PROBES))
    pk = list(table.primary_key.columns)
    if len(pk) == 1 and isinstance(pk[0].type, sa.Integer):
        key = pk[0]
        low, high = conn.execute(sa.select(sa.func.min(key), sa.func.max(key))).one()
        if low is None:
            return schema.empty_table()
        if high - low < rows:
            statements = [sa.select(table).order_by(key).limit(rows)]
        else:
            starts = sorted({low + (high - low) * i // SAMPLE_PROBES for i in range(SAMPLE_PROBES)})
            statements = [sa.select(table).where(key >= start).order_by(key).limit(per_probe) for start in starts]
    else:
        count = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() or 0
        ordered = sa.select(table).order_by(*pk) if pk else sa.select(table)
        if count <= rows:
            statements = [ordered.limit(rows)]
        else:
            offsets = sorted({count * i // SAMPLE_PROBES for i in range(SAMPLE_PROBES)})
            statements = [ordered.limit(per_probe).offset(offset) for offset in offsets]
    batches = [batch for statement in statements for batch in _read(conn, statement, schema, fast_read)]
    return pa.Table.from_batches(batches, schema=schema)


def spread_samples(conn: Connection, tables: list[sa.Table], rows: int, *,
                   fast_read: bool = True) -> tuple[dict[str, pa.Table], float]:
    """Every table's spread sample, and the seconds they took together."""
    started = time.monotonic()
    samples = {table.name: spread_sample(conn, table, rows, fast_read=fast_read) for table in tables}
    return samples, time.monotonic() - started
