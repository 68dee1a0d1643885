"""Fast read path for PostgreSQL: the rows of an executed query as Arrow, read as a binary COPY.

Why: psycopg builds a Python tuple per row and the reference path turns those into Arrow (~2 µs a row of the
benchmark's tables, holding the GIL), which made a PostgreSQL build about 13 times ``pg_dump``. The fast path
runs the query as ``COPY (...) TO STDOUT (FORMAT binary)`` and decodes the binary rows into Arrow arrays with
no Python object per value, by one of two decoders (``Connection.info[FAST_DECODER]``):

* :data:`SOCKET` (the default): ``postgres_copy``'s compiled loops over the bytes read from the socket of a
  connection of its own, one per query (about a third of ADBC's client CPU for the benchmark's tables); a
  connection that would be encrypted is not read this way, and ADBC reads instead;
* :data:`ADBC`: Apache Arrow's ADBC PostgreSQL driver (``adbc-driver-postgresql``), which decodes in C++ a row
  at a time through libpq, on one connection per snapshot connection.

What stays as on the reference path:

* the statement: SQLAlchemy executes the guarded clause on the build's snapshot connection first (a
  server-side cursor: planned, no row fetched); its description says the result's column types, and only
  when every one is in :data:`FAST_TYPES` (with the Arrow type the reference path gives it) is the result
  taken over, else the reference path reads it (the whole query: the fallback is explicit, per query);
* the parameters: psycopg, the reference driver, merges them into the statement with its own adapters
  (``ClientCursor.mogrify``, the client-side binding psycopg itself uses for ``COPY``), never string
  formatting here;
* the snapshot: the fast read's connection runs ``REPEATABLE READ, READ ONLY`` with ``SET TRANSACTION
  SNAPSHOT`` of the snapshot the build's connection exported (``pg_export_snapshot()``, once), and the same
  ``search_path``: both connections see the very same rows;
* the values: each column is converted to the reference path's Arrow type; ``numeric`` keeps the server's
  text, cast by the server (``numeric::text`` over the statement's columns; ADBC's own numeric decoding built
  a ``std::string`` per value, about half of its decoding time for the benchmark's tables), ``infinity`` and
  ``-infinity`` dates and timestamps (which ADBC shifts past the type's range) become the Arrow type's largest
  and smallest value as on the reference path; batches are cut at ``batch_rows`` rows like the reference
  path's (``tests/extract/test_postgres_fast.py`` compares the two paths type by type).

Errors name the provider and the export, with the server's first line cleaned of values (``db_errors``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from hfit_dagster.errors import ProviderError
from hfit_dagster.extract.db_errors import describe_db_error
from hfit_dagster.extract.sessions import (
    READ_TIMEOUT_OPTION,
    READ_TIMEOUT_S,
    connect_args,
)

try:  # an optional dependency: without it every PostgreSQL result takes the reference path
    import adbc_driver_manager
    import adbc_driver_postgresql.dbapi as adbc_postgresql
except ImportError:  # pragma: no cover
    adbc_postgresql = None

#: ``Connection.info`` key of a snapshot connection's :class:`FastReader`
FAST_READER = "hfit_postgres_fast_reader"
#: ``Connection.info`` key choosing the fast path's decoder for that connection: :data:`SOCKET` (the default:
#: ``postgres_copy``'s compiled loops over the socket, ADBC where the connection would be encrypted) or
#: :data:`ADBC` (ADBC's PostgreSQL driver only)
FAST_DECODER = "hfit_postgres_fast_decoder"
SOCKET, ADBC = "socket", "adbc"
# ADBC's batches (its default is 16 MiB): about one build batch of the bench's widest table, so a batch cut
# from one (a zero-copy slice) keeps little more than itself alive while it waits in the pipeline
ADBC_BATCH_BYTES = 4 << 20

_TEXT = pa.string()
_SERVER_TEXT = frozenset({"numeric", "jsonb"})  # read as the text the server casts them to
#: PostgreSQL result types the fast path decodes exactly, with the Arrow type the reference path gives each
FAST_TYPES: dict[str, tuple[pa.DataType, ...]] = {
    "int2": (pa.int64(),), "int4": (pa.int64(),), "int8": (pa.int64(),),
    "float4": (pa.float32(),), "float8": (pa.float64(),), "bool": (pa.bool_(),),
    "numeric": (_TEXT,), "text": (_TEXT,), "varchar": (_TEXT,), "bpchar": (_TEXT,), "json": (_TEXT,),
    "jsonb": (_TEXT,), "bytea": (pa.binary(),), "date": (pa.date32(),), "timestamp": (pa.timestamp("us"),),
    "timestamptz": (pa.timestamp("us", tz="UTC"),), "time": (pa.time64("us"),),
}
# ADBC moves PostgreSQL's days and microseconds since 2000-01-01 to the Unix epoch by adding these, so its
# infinity (the type's largest value) wraps around to the smallest value plus the offset minus one
_DAYS_2000 = 10_957
_MICROS_2000 = _DAYS_2000 * 86_400 * 1_000_000


def fast_batches(result: sa.engine.CursorResult[Any], schema: pa.Schema,
                 batch_rows: int) -> Iterator[pa.RecordBatch] | None:
    """Batches of ``result`` read by ADBC, or None when the fast path does not apply to it (the caller then
    reads ``result`` by the reference path)."""
    if adbc_postgresql is None:
        return None
    context = getattr(result, "context", None)
    cursor = getattr(result, "cursor", None)
    if context is None or cursor is None or context.dialect.name != "postgresql" or context.dialect.driver != "psycopg":
        return None
    description = cursor.description
    if description is None or len(description) != len(schema) or context.executemany:
        return None
    types = cursor.adapters.types
    names = []
    for column, field in zip(description, schema, strict=True):
        info = types.get(column.type_code)  # an array's code finds its element's info: compare the codes
        if info is None or info.oid != column.type_code or field.type not in FAST_TYPES.get(info.name, ()):
            return None
        names.append(info.name)
    if cursor.connection.info.encoding not in ("utf-8", "utf8"):
        return None
    conn: sa.Connection = context.root_connection
    reader = conn.info.get(FAST_READER)
    if reader is None:
        reader = conn.info[FAST_READER] = FastReader(conn, conn.info.get(FAST_DECODER, SOCKET))
    statement = _numerics_as_text(_bound_statement(cursor.connection, context.statement, context.parameters[0]),
                                  names)
    if not reader.acquire():  # another fast read of this snapshot is still open: this one takes the reference path
        return None
    result.close()  # the server-side cursor: planned only, no row fetched
    return _released(reader, reader.batches(statement, names, schema, batch_rows))


def _bound_statement(dbapi_conn: Any, statement: str, parameters: Any) -> str:
    """The statement with its parameters merged by psycopg's adapters (client-side binding, as psycopg's own COPY)."""
    import psycopg

    # SQLAlchemy sends psycopg a dict, empty or not, and so a statement whose literal % are written %%
    with psycopg.ClientCursor(dbapi_conn) as client:
        return client.mogrify(statement, parameters if parameters is not None else {})


def _numerics_as_text(statement: str, pg_types: list[str]) -> str:
    """``statement`` with its ``numeric`` and ``jsonb`` columns cast to text by the server (the same text psycopg
    reads), the others as they are: the result's columns are renamed by position (``AS hfit_fast(c0, c1, ...)``),
    so repeated or unnamed columns are taken as well; a derived table that only projects keeps the rows' order."""
    if not _SERVER_TEXT.intersection(pg_types):
        return statement
    names = [f"c{i}" for i in range(len(pg_types))]
    columns = ", ".join(f"{name}::text" if pg_type in _SERVER_TEXT else name
                        for name, pg_type in zip(names, pg_types, strict=True))
    # the guarded statement (its parameters merged by psycopg) and generated names only
    return f"SELECT {columns} FROM (\n{statement}\n) AS hfit_fast({', '.join(names)})"  # noqa: S608


def _released(reader: FastReader, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    try:
        yield from batches
    finally:
        reader.release()


def close_fast_reader(conn: sa.Connection) -> None:
    """Close the ADBC connection a snapshot connection opened for fast reads, if any (its transaction ends)."""
    reader = conn.info.pop(FAST_READER, None)
    if reader is not None:
        reader.close()


class FastReader:
    """One ADBC connection reading the snapshot of one SQLAlchemy connection, one query at a time."""

    def __init__(self, conn: sa.Connection, decoder: str = SOCKET) -> None:
        self.sa_conn = conn
        self.provider = str(conn.info.get("hfit_provider", "postgresql"))
        self.decoder = decoder
        self._lock = threading.Lock()
        self._adbc: Any = None
        self._snapshot: tuple[str, str, str] | None = None
        self.read_timeout = float(conn.engine.get_execution_options().get(READ_TIMEOUT_OPTION, READ_TIMEOUT_S))

    def acquire(self) -> bool:
        return self._lock.acquire(blocking=False)

    def release(self) -> None:
        self._lock.release()

    def _exported(self) -> tuple[str, str, str]:
        """``(conninfo, snapshot, search_path)``: how the fast reads connect, and the snapshot they read (exported
        once by the build's connection, valid while its transaction lasts)."""
        if self._snapshot is None:
            import psycopg

            exported, search_path = self.sa_conn.exec_driver_sql(
                "SELECT pg_export_snapshot(), current_setting('search_path')").one()
            url = self.sa_conn.engine.url
            # the session settings, keepalives and timeouts of every source connection (``sessions``)
            kwargs = {"user": url.username, "password": url.password, "host": url.host, "port": url.port,
                      "dbname": url.database, "application_name": "hfit fast read",
                      **connect_args("postgresql", self.read_timeout),
                      **{k: v for k, v in url.query.items() if isinstance(v, str)}}
            conninfo = psycopg.conninfo.make_conninfo(**{k: v for k, v in kwargs.items() if v is not None})
            self._snapshot = (conninfo, exported, search_path)
        return self._snapshot

    def _copy_connection(self) -> Any | None:
        """A connection of its own for one read by ``postgres_copy``, or None (ADBC reads instead)."""
        import psycopg

        from hfit_dagster.extract.postgres_copy import open_copy_connection

        try:
            return open_copy_connection(*self._exported())
        except psycopg.Error as exc:
            raise describe_db_error(self.provider, exc, where="the fast read's snapshot") from None

    def _connection(self) -> Any:
        if self._adbc is not None:
            return self._adbc
        conninfo, exported, search_path = self._exported()
        dbapi_conn = self.sa_conn.connection.dbapi_connection
        try:
            adbc = adbc_postgresql.connect(conninfo, autocommit=True)
        except adbc_driver_manager.Error as exc:
            raise _described(self.provider, exc, "the fast read's connection") from None
        try:
            with adbc.cursor() as cur:
                cur.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                cur.execute(_bound_statement(dbapi_conn, "SET TRANSACTION SNAPSHOT %s", [exported]))
                cur.execute(_bound_statement(dbapi_conn, "SELECT set_config('search_path', %s, true)",
                                             [search_path]))
                cur.fetchall()
        except adbc_driver_manager.Error as exc:
            adbc.close()
            raise _described(self.provider, exc, "the fast read's snapshot") from None
        self._adbc = adbc
        return adbc

    def batches(self, statement: str, pg_types: list[str], schema: pa.Schema,
                batch_rows: int) -> Iterator[pa.RecordBatch]:
        copy_conn = self._copy_connection() if self.decoder == SOCKET else None
        if copy_conn is None:
            self.decoder = ADBC  # an encrypted connection stays so: the next reads of this snapshot go to ADBC at once
            yield from self._adbc_batches(statement, pg_types, schema, batch_rows)
            return
        from hfit_dagster.extract.postgres_copy import CopyProtocolError, CopyTimeout, ServerError, copy_batches

        try:
            yield from copy_batches(copy_conn, statement, pg_types, schema, batch_rows, self.read_timeout)
        except ServerError as exc:
            raise describe_db_error(self.provider, exc, where="a fast read") from None
        except CopyTimeout as exc:
            raise ProviderError(f"provider {self.provider!r}: reading a fast read failed: {exc} (a server that "
                                "stopped answering, or a network that dropped the connection)",
                                hint="check the source server and the network to it; a server that is only slow "
                                "takes a larger source_read_timeout_s") from None
        except ConnectionError as exc:  # reset, refused or broken: the server or the network went away
            raise ProviderError(f"provider {self.provider!r}: the connection was lost during a fast read "
                                f"({type(exc).__name__})",
                                hint="check the source server and the network to it, then build again") from None
        except (CopyProtocolError, OSError) as exc:
            raise ProviderError(f"provider {self.provider!r}: reading a fast read failed: {exc}",
                                hint="set fast_read: false to read through psycopg") from None

    def _adbc_batches(self, statement: str, pg_types: list[str], schema: pa.Schema,
                      batch_rows: int) -> Iterator[pa.RecordBatch]:
        converters = [_converter(name, field.type) for name, field in zip(pg_types, schema, strict=True)]
        batch_rows = max(1, batch_rows)
        cur = self._connection().cursor()
        try:
            cur.adbc_statement.set_options(**{"adbc.postgresql.batch_size_hint_bytes": str(ADBC_BATCH_BYTES)})
            cur.execute(statement)
            reader = cur.fetch_record_batch()
            pending: list[pa.RecordBatch] = []
            held = 0
            for raw in reader:
                batch = pa.RecordBatch.from_arrays(
                    [convert(column) for convert, column in zip(converters, raw.columns, strict=True)], schema=schema)
                pending.append(batch)
                held += batch.num_rows
                while held >= batch_rows:
                    table = pa.Table.from_batches(pending, schema=schema)
                    yield table.slice(0, batch_rows).combine_chunks().to_batches()[0]
                    rest = table.slice(batch_rows)
                    pending, held = rest.to_batches(), rest.num_rows
            if held:
                yield pa.Table.from_batches(pending, schema=schema).combine_chunks().to_batches()[0]
        except (adbc_driver_manager.Error, OSError) as exc:  # an error after the first rows comes as Arrow's OSError
            raise _described(self.provider, exc, "a fast read") from None
        finally:
            cur.close()

    def close(self) -> None:
        if self._adbc is None:
            return
        try:
            with self._adbc.cursor() as cur:
                cur.execute("ROLLBACK")
        except adbc_driver_manager.Error:
            pass
        finally:
            self._adbc.close()
            self._adbc = None


class _DriverError(Exception):
    """An ADBC error's SQLSTATE and first line, in the shape ``describe_db_error`` reads (the lines after the
    first repeat the statement, with its bound values)."""

    def __init__(self, exc: Exception) -> None:
        text = str(exc).strip()
        super().__init__(text.splitlines()[0] if text else type(exc).__name__)
        self.sqlstate = getattr(exc, "sqlstate", None)
        primary = dict(getattr(exc, "details", None) or ()).get(b"PG_DIAG_MESSAGE_PRIMARY")
        self.message_primary = primary.decode("utf-8", "replace") if isinstance(primary, bytes) else None


def _described(provider: str, exc: Exception, where: str) -> ProviderError:
    return describe_db_error(provider, _DriverError(exc), where=where)


def _converter(pg_type: str, target: pa.DataType) -> Callable[[pa.Array], pa.Array]:
    """How one ADBC column becomes the reference path's array of ``target``."""
    if pg_type in ("date", "timestamp", "timestamptz"):
        return lambda array: _temporal(array, target)
    return lambda array: _plain(array, target)


def _plain(array: pa.Array, target: pa.DataType) -> pa.Array:
    if isinstance(array.type, pa.BaseExtensionType):  # json, jsonb: the server's text
        array = array.storage
    return array if array.type == target else array.cast(target)


def _temporal(array: pa.Array, target: pa.DataType) -> pa.Array:
    """Dates and timestamps as ADBC gives them, ``infinity``/``-infinity`` made the type's largest/smallest value."""
    is_date = pa.types.is_date32(target)
    storage, bounds, offset = ((pa.int32(), np.iinfo(np.int32), _DAYS_2000) if is_date
                               else (pa.int64(), np.iinfo(np.int64), _MICROS_2000))
    plus, minus = int(bounds.min) + offset - 1, int(bounds.min) + offset  # where ADBC's infinities land
    numbers = array.cast(storage) if array.type != storage else array
    low = pc.min(numbers).as_py()
    if low is not None and low <= minus:
        values = pc.fill_null(numbers, 0).to_numpy(zero_copy_only=False).copy()
        values[values == plus] = bounds.max
        values[values == minus] = bounds.min
        numbers = pa.array(values, type=storage, mask=np.asarray(numbers.is_null()))
    return numbers.cast(target) if numbers.type != target else numbers
