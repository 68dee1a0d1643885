"""Source databases: engines, read-only snapshots, reflection and streaming reads.

Every read runs inside one read-only transaction per build (a consistent snapshot where the database
offers one), with parameters bound by the driver. Errors name the provider, never a value or a URL
password.

Two read paths give the same batches: the reference path (:func:`reference_batches`, SQLAlchemy rows
converted batch by batch, every driver) and the fast paths, for PyMySQL (``mysql_fast.fast_batches``, the
result packets decoded column-wise) and for psycopg (``postgres_fast.fast_batches``, the same statement read
as a binary COPY on the same snapshot, decoded by compiled loops or by ADBC). ``fast_read`` (the ``fast_read``
setting) chooses; a fast path falls back to the reference path wherever it does not apply.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from decimal import Decimal
from types import ModuleType
from typing import Any

import numpy as np
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.engine.url import make_url

from hfit_dagster.errors import ProviderError
from hfit_dagster.extract.arrow_types import DIALECT_INFO, UnreadableValue, rows_to_batch, schema_for
from hfit_dagster.extract.db_errors import describe_db_error
from hfit_dagster.extract.exact_floats import exact_float_columns, float_columns, widen_float_projections
from hfit_dagster.extract.mysql_fast import fast_batches
from hfit_dagster.extract.mysql_reflection import install_unescaping_parser
from hfit_dagster.extract.query_guard import CHECKED_QUERIES, guarded_clause, sqlglot_dialect
from hfit_dagster.extract.sessions import (
    READ_TIMEOUT_OPTION,
    READ_TIMEOUT_S,
    SOURCE_VALUES,
    connect_args,
    install_postgres_loaders,
)
from hfit_dagster.template.query import ExportQuery

KEY_CHUNK = 1000
PROVIDER_INFO = "hfit_provider"  # Connection.info key: the provider a snapshot connection reads


def create_source_engine(provider: str, url: str, *, read_timeout: float = READ_TIMEOUT_S) -> Engine:
    """The engine of a source; a read waiting ``read_timeout`` seconds for the source's next bytes fails (see
    ``sessions.connect_args``)."""
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError:
        raise ProviderError(f"provider {provider!r}: its URL is not a valid SQLAlchemy URL") from None
    backend = parsed.get_backend_name()
    try:
        engine = sa.create_engine(parsed, connect_args=connect_args(backend, read_timeout), pool_pre_ping=True,
                                  execution_options={READ_TIMEOUT_OPTION: read_timeout})
    except (sa.exc.ArgumentError, ImportError, ModuleNotFoundError) as exc:
        raise ProviderError(f"provider {provider!r}: cannot use its URL ({exc.__class__.__name__})") from None
    if backend == "postgresql" and engine.dialect.driver == "psycopg":
        sa.event.listen(engine, "before_cursor_execute", _source_value_loaders)
    if backend in ("mysql", "mariadb"):
        install_unescaping_parser(engine)
    return engine


def _source_value_loaders(conn: Connection, cursor: Any, statement: str, parameters: Any, context: Any,
                          executemany: bool) -> None:
    """psycopg loaders that keep the server's text (``sessions``), on the cursors that read source rows."""
    if context is not None and context.execution_options.get(SOURCE_VALUES):
        install_postgres_loaders(cursor)


@contextmanager
def read_only_snapshot(provider: str, engine: Engine, *, schema: str | None = None) -> Iterator[Connection]:
    """A connection in one read-only transaction (consistent snapshot on MySQL/MariaDB and PostgreSQL).

    With ``schema`` (a template's ``schema:``) the connection reads that schema: MySQL/MariaDB select it,
    PostgreSQL's search path is that schema alone for the transaction. Unqualified names, reflected
    definitions and the SQL guard's "own schema" then all mean it, so no other schema's table of the same
    name is ever read or reflected. SQLite has only ``main``.
    """
    url = engine.url
    try:
        conn = engine.connect()
    except sa.exc.SQLAlchemyError as exc:
        raise describe_db_error(provider, exc, names=(url.database or "", url.host or "")) from None
    conn.info[PROVIDER_INFO] = provider
    conn.info[CHECKED_QUERIES] = set()  # a new snapshot (perhaps of another schema) checks its tables anew
    dialect = engine.dialect.name
    try:
        if dialect in ("mysql", "mariadb"):
            conn.exec_driver_sql("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            conn.exec_driver_sql("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
        elif dialect == "postgresql":
            conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        elif dialect == "sqlite":
            conn.exec_driver_sql("PRAGMA query_only = ON")
        if schema is not None:
            _use_schema(provider, conn, dialect, schema)
        yield conn
    except sa.exc.SQLAlchemyError as exc:
        raise describe_db_error(provider, exc, names=(url.database or "", url.host or "")) from None
    finally:
        try:
            if dialect == "postgresql":  # only PostgreSQL's fast reader opens a connection of its own
                _postgres_fast().close_fast_reader(conn)
            conn.rollback()
            if dialect == "sqlite":
                conn.exec_driver_sql("PRAGMA query_only = OFF")
        except sa.exc.SQLAlchemyError:
            pass
        conn.close()


def _use_schema(provider: str, conn: Connection, dialect: str, schema: str) -> None:
    if dialect in ("mysql", "mariadb"):
        found = conn.execute(sa.text("SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = :name"),
                             {"name": schema}).first()
        if found is None:
            raise ProviderError(f"provider {provider!r} has no database {schema!r}",
                                hint="check the template's 'schema:' against the source's databases")
        conn.connection.dbapi_connection.select_db(schema)  # the driver's COM_INIT_DB: no SQL text
        # SQLAlchemy lists a MySQL database's tables from the default schema it read at the engine's first
        # connection: make it the session's (each walk has its own engine per provider)
        conn.dialect.default_schema_name = schema
    elif dialect == "postgresql":
        found = conn.execute(sa.text("SELECT 1 FROM pg_namespace WHERE nspname = :name"), {"name": schema}).first()
        if found is None:
            raise ProviderError(f"provider {provider!r} has no schema {schema!r}",
                                hint="check the template's 'schema:' against the source's schemas")
        # search_path is a list of identifiers: the schema quoted by the dialect, passed as a bound value
        conn.execute(sa.text("SELECT set_config('search_path', :path, true)"),
                     {"path": conn.dialect.identifier_preparer.quote_identifier(schema)})
    elif schema.lower() != "main":
        raise ProviderError(f"provider {provider!r} is SQLite: its only schema is 'main', not {schema!r}",
                            hint="remove 'schema:' from the template for this provider")


def reflect_tables(provider: str, conn: Connection, tables: Iterable[str]) -> sa.MetaData:
    """Reflect the named tables and, through their foreign keys, every table they reference."""
    names = sorted(set(tables))
    existing = set(sa.inspect(conn).get_table_names())
    missing = [t for t in names if t not in existing]
    if missing:
        raise ProviderError(f"provider {provider!r} has no table(s) {', '.join(missing)}",
                            hint="check the export names (or their 'table:' field) against the source schema")
    metadata = sa.MetaData()
    try:
        metadata.reflect(bind=conn, only=names, resolve_fks=True)
    except sa.exc.DBAPIError as exc:
        raise describe_db_error(provider, exc, where="the tables' definitions", names=names) from None
    for table in metadata.tables.values():
        table.info[DIALECT_INFO] = conn.dialect.name
    return metadata


def _reading(conn: Connection, batch_rows: int) -> Connection:
    """``conn`` set to stream source rows ``batch_rows`` at a time, values loaded as ``sessions`` says."""
    return conn.execution_options(stream_results=True, yield_per=batch_rows, **{SOURCE_VALUES: True})


def _described(conn: Connection, batches: Iterator[pa.RecordBatch], where: str,
               names: Iterable[str]) -> Iterator[pa.RecordBatch]:
    """``batches``, with a database error or an unreadable value reported as a ProviderError that names the
    provider and ``where`` (see ``db_errors``)."""
    provider = str(conn.info.get(PROVIDER_INFO, conn.dialect.name))
    names = [*names, conn.engine.url.database or ""]
    try:
        yield from batches
    except sa.exc.DBAPIError as exc:
        raise describe_db_error(provider, exc, where=where, names=names) from None
    except UnreadableValue as exc:
        raise UnreadableValue(f"provider {provider!r}, {where}: {exc.message}", hint=exc.hint) from None


def stream_query(conn: Connection, table: sa.Table, query: ExportQuery, values: dict[str, Any],
                 batch_rows: int, *, fast_read: bool = True) -> Iterator[pa.RecordBatch]:
    """Rows of an export query as Arrow batches; the query's columns must be columns of ``table``."""
    names = [table.name, *(c.name for c in table.columns)]
    return _described(conn, _query_batches(conn, table, query, values, batch_rows, fast_read=fast_read),
                      f"export {table.name!r}", names)


def _query_batches(conn: Connection, table: sa.Table, query: ExportQuery, values: dict[str, Any],
                   batch_rows: int, *, fast_read: bool) -> Iterator[pa.RecordBatch]:
    floats = float_columns(table, conn.dialect.name)
    widened = widen_float_projections(query.sql_for(sqlglot_dialect(conn)), table, floats) if floats else None
    if widened is not None:  # the same rows, FLOAT columns sent exactly (see exact_floats)
        query = replace(query, sql=widened)
    clause = guarded_clause(conn, query, values, where=f"export {table.name!r}")
    result = _reading(conn, batch_rows).execute(clause)
    columns = list(result.keys())
    unknown = [c for c in columns if c not in table.c]
    if unknown:
        result.close()
        raise ProviderError(
            f"export {table.name!r} returns column(s) {', '.join(unknown)} that table {table.name!r} does not have",
            hint="an export is rows of one table: select that table's columns (e.g. SELECT t.* FROM t ...)",
        )
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:
        result.close()
        raise ProviderError(
            f"export {table.name!r} returns column(s) {', '.join(repeated)} more than once",
            hint="select each column of the table once (SELECT *, x AS id names id twice)",
        )
    schema = schema_for(table, columns)
    processors = [_result_processor(table.c[name].type, conn.dialect) for name in columns]
    yield from arrow_batches(result, schema, batch_rows, processors, fast_read=fast_read)


def arrow_batches(result: sa.CursorResult[Any], schema: pa.Schema, batch_rows: int,
                  processors: list[Any] | None = None, *, fast_read: bool = True) -> Iterator[pa.RecordBatch]:
    """An executed result as Arrow batches: with ``fast_read`` the fast MySQL or PostgreSQL reader where it
    applies, else :func:`reference_batches`."""
    fast = fast_batches(result, schema, batch_rows) if fast_read else None
    if fast is None and fast_read and _dialect_name(result) == "postgresql":
        fast = _postgres_fast().fast_batches(result, schema, batch_rows)
    if fast is not None:
        try:
            yield from fast
        finally:
            result.close()
        return
    yield from reference_batches(result, schema, batch_rows, processors)


def _postgres_fast() -> ModuleType:
    """The PostgreSQL fast reader, imported by PostgreSQL reads only: it imports ADBC and ``pyarrow.dataset``
    (~30 ms of CPU), and through them pandas where the process allows it (~0.2 s more)."""
    from hfit_dagster.extract import postgres_fast

    return postgres_fast


def _dialect_name(result: sa.CursorResult[Any]) -> str | None:
    context = getattr(result, "context", None)
    return None if context is None else str(context.dialect.name)


def reference_batches(result: sa.CursorResult[Any], schema: pa.Schema, batch_rows: int,
                      processors: list[Any] | None = None) -> Iterator[pa.RecordBatch]:
    """The reference read path: the driver's rows through SQLAlchemy, converted to Arrow a batch at a time."""
    for rows in result.partitions(batch_rows):
        yield rows_to_batch(rows, schema, processors)


def _result_processor(column_type: sa.types.TypeEngine[Any], dialect: sa.engine.Dialect) -> Any:
    """SQLite's conversion of raw values (text → datetime, int → bool, float → Decimal) for a textual query.

    Only SQLite needs it: MySQL and PostgreSQL drivers return native Python values, and SQLAlchemy's
    processors there would change them (MySQL TIME intervals → time of day, DOUBLE → Decimal rounded to
    10 places). Floats are left alone everywhere for the same reason.
    """
    if dialect.name != "sqlite" or isinstance(column_type, sa.Float):
        return None
    if isinstance(column_type, sa.Numeric):
        return _sqlite_decimal
    return column_type.dialect_impl(dialect).result_processor(dialect, None)


def _sqlite_decimal(value: Any) -> Decimal | None:
    """A SQLite NUMERIC/DECIMAL value as a Decimal: a REAL through its shortest text (what the stored double
    prints as, ``1.1``, not its binary expansion ``1.100000000000000088...``); text that is no number raises
    InvalidOperation, and the reader names the column."""
    if value is None:
        return None
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(value) if isinstance(value, int) else Decimal(str(value))


def stream_statement(conn: Connection, statement: sa.Executable, params: dict[str, Any], schema: pa.Schema,
                     batch_rows: int, *, fast_read: bool = True, where: str | None = None) -> Iterator[pa.RecordBatch]:
    """:func:`statement_batches`, errors named by provider and ``where`` (default: the table read)."""
    froms = statement.get_final_froms() if isinstance(statement, sa.Select) else []
    tables = [t for f in froms for t in sa.sql.util.find_tables(f)]
    names = [n for t in tables for n in (t.name, *(c.name for c in t.columns))]
    where = where or (f"table {tables[0].name!r}" if tables else "a read")
    return _described(conn, statement_batches(conn, statement, params, schema, batch_rows, fast_read=fast_read),
                      where, names)


def statement_batches(conn: Connection, statement: sa.Executable, params: dict[str, Any], schema: pa.Schema,
                      batch_rows: int, *, fast_read: bool = True) -> Iterator[pa.RecordBatch]:
    """Rows of a SELECT built by hfit (columns in ``schema`` order) as Arrow batches, streamed.

    Values arrive as the driver returns them and are converted as for a template query: SQLAlchemy's result
    processing (MySQL JSON parsed, BIT as an integer, TIME as a time of day) is left out, SQLite's text is
    typed by :func:`_result_processor`, MySQL FLOAT columns are read exactly (``exact_floats``).
    """
    processors = None
    if isinstance(statement, sa.Select):
        columns = list(statement.selected_columns)
        floats = ({f.name for f in schema if f.type == pa.float32()} if conn.dialect.name in ("mysql", "mariadb")
                  else set())
        processors = [_result_processor(c.type, conn.dialect) for c in columns]
        raw = [sa.type_coerce(c, sa.types.NullType()).label(c.name) for c in exact_float_columns(columns, floats)]
        statement = statement.with_only_columns(*raw, maintain_column_froms=True)
    result = _reading(conn, batch_rows).execute(statement, params)
    yield from arrow_batches(result, schema, batch_rows, processors, fast_read=fast_read)


def stream_rows_by_keys(conn: Connection, table: sa.Table, key_columns: tuple[str, ...],
                        keys: Iterable[tuple[Any, ...]] | np.ndarray, batch_rows: int, *,
                        fast_read: bool = True) -> Iterator[pa.RecordBatch]:
    """Rows of ``table`` whose ``key_columns`` take one of ``keys``: chunked, expanding bound parameters.

    ``keys`` are tuples, or (one key column) a numpy array of integer keys.
    """
    keys = keys if isinstance(keys, np.ndarray) else list(keys)
    if not len(keys):
        return
    schema = schema_for(table, [c.name for c in table.columns])
    if len(key_columns) == 1:
        column = table.c[key_columns[0]]
        condition = column.in_(sa.bindparam("keys", expanding=True))
    else:
        condition = sa.tuple_(*(table.c[c] for c in key_columns)).in_(sa.bindparam("keys", expanding=True))
    statement = sa.select(table).where(condition)
    text_keys = not isinstance(keys, np.ndarray) and any(isinstance(v, str) for v in keys[0])
    found: set[tuple[Any, ...]] = set()
    for start in range(0, len(keys), KEY_CHUNK):
        chunk = keys[start : start + KEY_CHUNK]
        if isinstance(chunk, np.ndarray):
            bound: list[Any] = chunk.tolist()
        else:
            bound = [k[0] for k in chunk] if len(key_columns) == 1 else chunk
        for batch in stream_statement(conn, statement, {"keys": bound}, schema, batch_rows, fast_read=fast_read):
            if text_keys:
                found.update(zip(*(batch.column(c).to_pylist() for c in key_columns), strict=True))
            yield batch
    if text_keys:
        refuse_collation_matches(str(conn.info.get(PROVIDER_INFO, conn.dialect.name)), table, key_columns,
                                 keys, found)


def refuse_collation_matches(provider: str, table: sa.Table, key_columns: tuple[str, ...],
                             requested: list[tuple[Any, ...]], found: set[tuple[Any, ...]]) -> None:
    """Refuse text keys that found their row only under the source's collation (``'ABC'`` found ``'abc'``
    in a case- or accent-insensitive MySQL column): a package compares keys exactly, so the referencing
    rows would dangle. The error names the foreign keys and says why, never the values."""
    unmatched = [tuple(k) for k in requested if tuple(k) not in found]
    if not unmatched:
        return
    folded = {_collation_fold(k) for k in found}
    loose = sum(1 for k in unmatched if _collation_fold(k) in folded)
    if not loose:
        return
    target = f"{table.name}({', '.join(key_columns)})"
    foreign_keys = sorted(
        f"{other.name}({', '.join(e.parent.name for e in fk.elements)}) -> {target}"
        for other in table.metadata.tables.values() for fk in other.foreign_key_constraints
        if fk.referred_table is table and tuple(e.column.name for e in fk.elements) == key_columns)
    raise ProviderError(
        f"provider {provider!r}: {loose} key(s) of {', '.join(foreign_keys) or target} match their {table.name!r} "
        "row only under the source's collation (they differ in letter case, accents or trailing spaces); "
        "a package compares keys exactly, so those rows would reference nothing",
        hint=f"make the referencing values equal to {target} in the source, or select the parent's spelling in "
             "the template query (join the parent and select its key)",
    )


def _collation_fold(key: tuple[Any, ...]) -> tuple[Any, ...]:
    """A key as a case- and accent-insensitive, PAD SPACE collation compares it (an approximation of MySQL's
    ``_ci`` collations, used only to explain a refusal)."""
    return tuple(_fold_text(v) if isinstance(v, str) else v for v in key)


def _fold_text(value: str) -> str:
    decomposed = unicodedata.normalize("NFKD", value.rstrip(" "))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
