"""The export walk: which rows of which tables a template's package holds, read from the sources in order.

One walk serves the build (staging) and the plan preview, so both read the same tables the same way:

1. every provider opened once, in one read-only snapshot, its tables reflected (:func:`open_sources`);
2. exports in the template's order; consecutive plain exports of one provider read back to back by one
   reader thread (:func:`export_runs`); an export that binds another export's keys (``IN :customers.id``)
   runs once per chunk of those keys where that gives the same rows (``subset.keys_connectives``);
3. a sampled export keeps the rows whose keyed primary-key hash falls under its rate, reading its keys
   first where that is exact (``subset.keys_first_sample``); exports that bind its keys are not sampled
   again (``subset.samples_at_roots``); a row limit and duplicate primary keys are applied as rows come;
4. ``children:`` of an export fetched by the keys of its rows, at most ``max_per_parent`` each;
5. with ``follow_parents``, every referenced row not yet read fetched by key, transitively, until nothing
   is missing: each key is requested once, so cycles end;
6. an export that selected no rows still opens its (empty) table.

The walk keeps the keys (:class:`TableKeys`, references, requests) and hands the rows to a
:class:`WalkTarget`: staging masks and writes them, the preview plans each table from its first rows. In
``first_batches`` mode (the preview) a table needs only its first non-empty batch: reading stops there,
nothing is read ahead and a sample is read by a plain query.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hfit_dagster.errors import ProviderError
from hfit_dagster.extract.arrow_types import schema_for
from hfit_dagster.extract.source import (
    create_source_engine,
    describe_db_error,
    read_only_snapshot,
    reflect_tables,
    stream_query,
    stream_rows_by_keys,
    stream_statement,
)
from hfit_dagster.package.sql_script import EXPORTED_COLUMNS
from hfit_dagster.pipeline.keysets import KeySet, batch_keys, key_count, values_of
from hfit_dagster.pipeline.prefetch import prefetched
from hfit_dagster.pipeline.progress import Progress, quiet
from hfit_dagster.pipeline.subset import (
    KEYS_FIRST_MAX_RATE,
    RANGE_SAMPLE_MAX,
    REFERENCE_CHUNK,
    SAMPLE_KEYS_BIND,
    child_foreign_key,
    children_statement,
    key_range_sample,
    keys_connectives,
    keys_first_sample,
    keys_then_rows,
    overlapping,
    sample_mask,
    sampled_in_range,
    samples_at_roots,
    selects_columns,
)
from hfit_dagster.pipeline.table_samples import spread_samples
from hfit_dagster.settings import HfitSettings
from hfit_dagster.template.query import ExportQuery, reference_bind_name
from hfit_dagster.template.spec import ChildSpec, TemplateSpec

Columns = tuple[str, ...]
# (connection, table, query, bound values, batch rows, fast_read=...) -> the query's rows as Arrow batches
QueryReader = Callable[..., Iterator[pa.RecordBatch]]


@dataclass
class Source:
    """One provider of a walk: its connection (one read-only snapshot) and its reflected tables."""

    provider: str
    conn: Connection
    metadata: sa.MetaData
    samples: dict[str, pa.Table] = field(default_factory=dict)  # classification samples, spread over each table
    sample_seconds: float = 0.0

    @property
    def dialect(self) -> sa.engine.Dialect:
        return self.conn.dialect


@dataclass
class TableKeys:
    """The keys one table holds: primary keys kept, and every column tuple other tables refer to."""

    pk: Columns
    referenced: list[Columns]
    pk_seen: KeySet = field(default_factory=KeySet)
    present: dict[Columns, KeySet] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.pk:  # the keys present under the primary key are exactly the primary keys kept: one set
            self.present[self.pk] = self.pk_seen

    def present_keys(self, cols: Columns) -> KeySet:
        keys = self.present.get(cols)
        if keys is None:
            keys = self.present[cols] = KeySet()
        return keys


class WalkTarget(Protocol):
    """What receives the walk's rows (staging, the plan preview)."""

    def sources_opened(self, sources: dict[str, Source]) -> None:
        """Every provider is open and reflected; no row is read yet."""

    def open_table(self, table: sa.Table, role: str, first: pa.RecordBatch, dialect: sa.engine.Dialect) -> None:
        """A table's first rows (sampled, not yet de-duplicated), before any of its rows is taken."""

    def take_rows(self, table: sa.Table, batch: pa.RecordBatch) -> None:
        """Rows of the package: sampled, de-duplicated by primary key, within the export's row limit."""

    def export_starting(self, name: str) -> None:
        """The export ``name`` is about to be read."""

    def export_ended(self, name: str) -> None:
        """The export ``name`` and its children are read (followed parents may still add rows)."""


def export_runs(spec: TemplateSpec, order: list[str], queries: dict[str, ExportQuery]) -> list[list[str]]:
    """Exports in order, consecutive ones that can be read back to back grouped together: same provider,
    plain one-statement queries (no reference to another export, no sample, no children)."""
    def plain(name: str) -> bool:
        export = spec.exports[name]
        return not queries[name].references and export.sample is None and not export.children

    def provider(name: str) -> str:
        return spec.exports[name].provider.upper()

    runs: list[list[str]] = []
    for name in order:
        last = runs[-1][-1] if runs else None
        if last is not None and plain(last) and plain(name) and provider(last) == provider(name):
            runs[-1].append(name)
        else:
            runs.append([name])
    return runs


def _invisible(conn: sa.Connection, table: sa.Table) -> set[str]:
    """The INVISIBLE columns of a MySQL/MariaDB ``table`` (none elsewhere): ``SELECT *`` does not return them."""
    if conn.dialect.name not in ("mysql", "mariadb"):
        return set()
    rows = conn.execute(sa.text("SELECT COLUMN_NAME, EXTRA FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = "
                                "COALESCE(:db, DATABASE()) AND TABLE_NAME = :t"),
                        {"db": table.schema, "t": table.name}).all()
    return {str(name) for name, extra in rows if "INVISIBLE" in str(extra or "").upper()}


def _estimated_rows(conn: sa.Connection, table: sa.Table) -> int | None:
    """The server's estimate of ``table``'s rows (its statistics; no scan), or None where it has none."""
    dialect = conn.dialect.name
    if dialect in ("mysql", "mariadb"):
        rows = conn.execute(sa.text("SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = "
                                    "COALESCE(:db, DATABASE()) AND TABLE_NAME = :t"),
                            {"db": table.schema, "t": table.name}).scalar()
    elif dialect == "postgresql":
        name = conn.dialect.identifier_preparer.format_table(table)
        rows = conn.execute(sa.text("SELECT reltuples FROM pg_class WHERE oid = to_regclass(:name)"),
                            {"name": name}).scalar()
    else:
        return None
    return int(rows) if rows is not None and rows >= 0 else None


def open_sources(spec: TemplateSpec, order: list[str], settings: HfitSettings, stack: ExitStack) -> dict[str, Source]:
    """Every provider of ``spec`` in one read-only snapshot, with its exported tables (and their children
    and referenced tables) reflected and a classification sample of each read (``table_samples``: rows
    spread over the whole table, before any export streams); closed when ``stack`` closes. ``order`` is
    ``spec.export_order()``."""
    by_provider: dict[str, list[str]] = defaultdict(list)
    for name in order:
        by_provider[spec.exports[name].provider.upper()].append(name)
    sources: dict[str, Source] = {}
    for provider, exports in by_provider.items():
        engine = create_source_engine(provider, settings.provider_url(provider),
                                      read_timeout=settings.source_read_timeout_s)
        stack.callback(engine.dispose)
        conn = stack.enter_context(read_only_snapshot(provider, engine, schema=spec.provider_schema(provider)))
        try:
            wanted = [spec.source_table(e) for e in exports]
            wanted += [child for e in exports for child in spec.exports[e].children]
            metadata = reflect_tables(provider, conn, wanted)
            samples, seconds = spread_samples(conn, list(metadata.tables.values()),
                                              settings.classification_sample_size, fast_read=settings.fast_read)
        except sa.exc.SQLAlchemyError as exc:
            raise describe_db_error(provider, exc) from None
        sources[provider] = Source(provider=provider, conn=conn, metadata=metadata, samples=samples,
                                   sample_seconds=seconds)
    return sources


def _refuse_name_collision(table: sa.Table, fk: sa.ForeignKeyConstraint) -> None:
    """A foreign key into another schema is followed into the package under the parent's own name: refused when
    another reflected table already has that name (the package would hold two tables of one name)."""
    parent = fk.referred_table
    same = sorted(str(t.fullname) for t in table.metadata.tables.values() if t.name == parent.name and t is not parent)
    if not same:
        return
    child_cols = ", ".join(e.parent.name for e in fk.elements)
    parent_cols = ", ".join(e.column.name for e in fk.elements)
    raise ProviderError(
        f"foreign key {table.name}({child_cols}) -> {parent.fullname}({parent_cols}) points into schema "
        f"{parent.schema!r}, and its table's name is taken by {', '.join(same)} in this package: a package holds "
        "one table per name, so its rows cannot be followed",
        hint=f"leave {child_cols} out of the export's query (the foreign key goes with it), or export the tables "
             "of one schema per template")


def conform(batch: pa.RecordBatch, table: sa.Table) -> pa.RecordBatch:
    """The batch with every column of ``table`` in table order; columns the query did not select are NULL."""
    names = [c.name for c in table.columns]
    if batch.schema.names == names:
        return batch
    full = schema_for(table, names)
    arrays = [batch.column(n) if n in batch.schema.names else pa.nulls(batch.num_rows, full.field(n).type)
              for n in names]
    return pa.RecordBatch.from_arrays(arrays, schema=full)


def referenced_column_sets(table: sa.Table) -> list[Columns]:
    """Column tuples of ``table`` that other reflected tables point at with foreign keys, and its primary key."""
    sets: set[Columns] = set()
    for other in table.metadata.tables.values():
        for fk in other.foreign_key_constraints:
            if fk.referred_table is table:
                sets.add(tuple(e.column.name for e in fk.elements))
    pk = tuple(c.name for c in table.primary_key.columns)
    if pk:
        sets.add(pk)
    return sorted(sets)


class ExportWalk:
    """One walk over a template's sources (see the module docstring); :meth:`run` reads everything once.

    ``reference_chunk`` keys are bound per ``IN`` list of a chunked reference, a sample's keys and a
    parent's children; ``chain_exports`` reads plain consecutive exports back to back on one reader
    thread (off: one by one, the same rows); ``read_query`` reads an export query (``stream_query``);
    ``rows_by_key`` reads a chunked reference from a MySQL/MariaDB source keys first, then its rows by
    primary key, where that is exact (``subset.keys_then_rows``; off: its query per chunk, the same rows);
    ``sample_by_range`` samples a whole table with an integer key by enumerating its key range rather than
    reading its keys, where the range is not much wider than the table (``subset.key_range_sample``; off: its
    keys read, the same rows).
    """

    def __init__(self, spec: TemplateSpec, params: dict[str, Any], settings: HfitSettings, target: WalkTarget, *,
                 first_batches: bool = False, progress: Progress = quiet, reference_chunk: int = REFERENCE_CHUNK,
                 chain_exports: bool = True, read_query: QueryReader = stream_query, rows_by_key: bool = True,
                 sample_by_range: bool = True) -> None:
        # each query parsed once per walk (sqlglot: ~1 ms a query, a sizeable share of a small build's work);
        # the copy with samples at the roots has the same queries and order
        self.queries, self.order = spec.queries(), spec.export_order()
        self.spec = samples_at_roots(spec, self.queries, self.order)
        self.params, self.settings, self.target = params, settings, target
        self.first_batches, self.progress = first_batches, progress
        self.reference_chunk, self.chain_exports, self.read_query = reference_chunk, chain_exports, read_query
        self.rows_by_key, self.sample_by_range = rows_by_key, sample_by_range
        self._hidden: dict[tuple[str, str], set[str]] = {}  # per provider's table, its INVISIBLE columns
        self.tables: dict[str, TableKeys] = {}
        self.needed: dict[str, dict[Columns, KeySet]] = defaultdict(lambda: defaultdict(KeySet))
        self.requested: dict[str, dict[Columns, KeySet]] = defaultdict(lambda: defaultdict(KeySet))
        self.reference_keys: dict[tuple[str, str], KeySet] = {
            ref: KeySet() for query in self.queries.values() for ref in query.references}
        self.export_rows: dict[str, int] = defaultdict(int)
        self.exported_tables = {spec.source_table(e) for e in spec.exports}

    # -- the walk ----------------------------------------------------------------------------------------
    def run(self) -> None:
        """Read every table of the package from its source; the sources are closed when this returns."""
        spec, order, queries = self.spec, self.order, self.queries
        with ExitStack() as stack:
            sources = open_sources(spec, order, self.settings, stack)
            self.target.sources_opened(sources)
            runs = export_runs(spec, order, queries) if self.chain_exports and not self.first_batches else [
                [name] for name in order]
            for run in runs:
                source = sources[spec.exports[run[0]].provider.upper()]
                for name in run:
                    missing = [p for p in queries[name].params if p not in self.params]
                    if missing:
                        raise ProviderError(f"export {name!r} uses :{missing[0]}, which is not a template "
                                            "parameter", hint="declare it under 'parameters:' in the template")
                try:
                    if len(run) > 1:
                        self._read_chained(source, run, queries)
                    else:
                        self._read_export(source, run[0], queries[run[0]])
                except sa.exc.SQLAlchemyError as exc:
                    raise describe_db_error(source.provider, exc) from None
            if spec.subset.follow_parents:
                for source in sources.values():
                    self._follow_parents(source)
            for name in order:  # an export that selected no rows is still an (empty) table of the package
                source = sources[spec.exports[name].provider.upper()]
                table = source.metadata.tables[spec.source_table(name)]
                if table.name not in self.tables:
                    empty = pa.RecordBatch.from_pylist([], schema=schema_for(table, [c.name for c in table.columns]))
                    self._open(table, "export", empty, source.dialect)

    def _read_export(self, source: Source, name: str, query: ExportQuery) -> None:
        table = source.metadata.tables[self.spec.source_table(name)]
        values = {p: self.params.get(p) for p in query.params}
        self.target.export_starting(name)
        chunks = list(self._reference_chunks(query, values, partial(self._selects_key, source, table, query)))
        if len(chunks) > 1 and not self.first_batches and self.spec.exports[name].sample is None:
            # the chunks back to back on one reader thread: the next chunk's query goes to the server while the
            # rows before it are masked (or wait for the text analyzer's build), the same statements in order
            keys_sql = self._keys_then_rows_sql(source, table, name, query)
            make = (partial(self._rows_by_key_batches, source, table, name, query, chunks, keys_sql)
                    if keys_sql is not None else partial(self._chunk_batches, source, table, query, chunks))
            self._read(table, self._read_batches(make), "export", name, source.dialect)
        else:
            for bound in chunks:
                if self._read(table, self._export_batches(source, table, name, query, bound), "export", name,
                              source.dialect) and self.first_batches:
                    break
        for child, child_spec in self.spec.exports[name].children.items():
            self._fetch_children(source, table, child, child_spec)
        self.target.export_ended(name)

    def _read_chained(self, source: Source, run: list[str], queries: dict[str, ExportQuery]) -> None:
        """Exports that need nothing from each other, read back to back by one reader thread: the next query
        goes to the server as soon as the previous result is read, while its last batches are still being
        masked and written (one connection, one snapshot, the same SQL and bound values as one by one)."""
        jobs = [(name, source.metadata.tables[self.spec.source_table(name)], queries[name]) for name in run]

        def read() -> Iterator[tuple[str, sa.Table, pa.RecordBatch]]:
            for name, table, query in jobs:
                values = {p: self.params.get(p) for p in query.params}
                for batch in self.read_query(source.conn, table, query, values, self.settings.batch_rows,
                                             fast_read=self.settings.fast_read):
                    yield name, table, batch

        current = None
        for name, table, batch in prefetched(read):
            if name != current:
                if current is not None:
                    self.target.export_ended(current)
                self.target.export_starting(name)
                current = name
            self._take(table, batch, "export", name, source.dialect)
        if current is not None:
            self.target.export_ended(current)

    def _read(self, table: sa.Table, batches: Iterator[pa.RecordBatch], role: str, export: str | None,
              dialect: sa.engine.Dialect) -> bool:
        """Take the rows of ``batches``; whether any batch reached the target (in ``first_batches`` mode the
        reading stops there)."""
        taken = False
        try:
            for batch in batches:
                taken = self._take(table, batch, role, export, dialect) or taken
                if taken and self.first_batches:
                    break
        finally:
            close = getattr(batches, "close", None)
            if close is not None:
                close()
        return taken

    def _read_batches(self, make: Callable[[], Iterator[pa.RecordBatch]]) -> Iterator[pa.RecordBatch]:
        """``make()``'s batches, read ahead on a thread unless only first batches are wanted."""
        return make() if self.first_batches else prefetched(make)

    # -- one batch ---------------------------------------------------------------------------------------
    def _open(self, table: sa.Table, role: str, first: pa.RecordBatch, dialect: sa.engine.Dialect) -> TableKeys:
        keys = self.tables.get(table.name)
        if keys is None:
            self.target.open_table(table, role, first, dialect)
            keys = self.tables[table.name] = TableKeys(pk=tuple(c.name for c in table.primary_key.columns),
                                                       referenced=referenced_column_sets(table))
        return keys

    def _take(self, table: sa.Table, batch: pa.RecordBatch, role: str, export: str | None,
              dialect: sa.engine.Dialect) -> bool:
        """Record the keys of one batch and hand its package rows to the target; False when the export's
        sample left no row (the table was not opened by it)."""
        if batch.num_rows == 0:
            return False
        if table.name not in self.tables:  # the SQL writer creates only the columns the rows come with
            table.info.setdefault(EXPORTED_COLUMNS, tuple(batch.schema.names))
        # the key tells rows apart only when the query selected all of it: conform fills what it did not select
        # with NULLs, which would make every row a duplicate of the first
        selected = set(batch.schema.names)
        pk = [c.name for c in table.primary_key.columns]
        pk = pk if all(name in selected for name in pk) else []
        batch = conform(batch, table)
        export_spec = self.spec.exports.get(export) if export is not None else None
        if export_spec is not None and export_spec.sample is not None:
            batch = batch.filter(sample_mask(batch, pk, export_spec.sample, export_spec.sample_seed))
            if batch.num_rows == 0:
                return False
        keys = self._open(table, role, batch, dialect)
        if pk:
            fresh = keys.pk_seen.add_new(batch_keys(batch, pk))
            if not fresh.all():
                batch = batch.filter(pa.array(fresh))
        if export_spec is not None and export_spec.row_limit is not None:
            room = export_spec.row_limit - self.export_rows[export]
            if batch.num_rows > room:
                if pk:
                    keys.pk_seen.discard(batch_keys(batch.slice(max(room, 0)), pk))
                batch = batch.slice(0, max(room, 0))
        if export_spec is not None:  # what the export selected: its row limit and min_rows/max_rows
            self.export_rows[export] += batch.num_rows
        if batch.num_rows == 0:
            return True
        for cols in keys.referenced:
            if cols != keys.pk and all(c in batch.schema.names for c in cols):
                keys.present_keys(cols).add(batch_keys(batch, cols, drop_nulls=True))
        for fk in table.foreign_key_constraints:
            child_cols = [e.parent.name for e in fk.elements]
            if not all(c in batch.schema.names for c in child_cols):
                continue
            parent_cols = tuple(e.column.name for e in fk.elements)
            if fk.referred_table.schema != table.schema:
                _refuse_name_collision(table, fk)
            self.needed[fk.referred_table.name][parent_cols].add(batch_keys(batch, child_cols, drop_nulls=True))
        if export is not None:
            for (ref_export, column), keyset in self.reference_keys.items():
                if ref_export == export and column in batch.schema.names:
                    keyset.add(batch_keys(batch, [column], drop_nulls=True))
        self.target.take_rows(table, batch)
        return True

    # -- exports -----------------------------------------------------------------------------------------
    def _export_batches(self, source: Source, table: sa.Table, name: str, query: ExportQuery,
                        bound: dict[str, Any]) -> Iterator[pa.RecordBatch]:
        """An export's rows; a sample reads its keys first and then only the sampled rows, where that is exact.

        1% of 1M customers would read every row's columns to keep 10,000 of them; with keys first the server
        sends 1M ids and then 10,000 rows by primary key (see ``keys_first_sample``). :meth:`_take` applies
        the sample again, so either way the same rows are kept.
        """
        conn, batch_rows, fast_read = source.conn, self.settings.batch_rows, self.settings.fast_read
        export = self.spec.exports[name]
        pk = list(table.primary_key.columns)
        plan = None
        # integer or text keys only: they come back from the driver as values that compare equal when bound
        # (not an INVISIBLE key: SELECT * does not return it, and the sample then hashes the rows' values)
        if (export.sample is not None and export.sample <= KEYS_FIRST_MAX_RATE and export.row_limit is None
                and len(pk) == 1 and isinstance(pk[0].type, sa.Integer | sa.String) and not self.first_batches
                and pk[0].name not in self._invisible(source, table)):
            plan = keys_first_sample(query.sql, pk[0].name, conn.dialect.identifier_preparer.quote)
        if plan is None:
            yield from self._read_batches(partial(self.read_query, conn, table, query, bound, batch_rows,
                                                  fast_read=fast_read))
            return
        keys_sql, rows_sql = plan
        keys = self._sampled_from_range(source, table, query, bound, export.sample, export.sample_seed)
        if keys is None:
            key = [pk[0].name]
            sampled = [batch.column(0).filter(sample_mask(batch, key, export.sample, export.sample_seed))
                       for batch in self.read_query(conn, table, replace(query, sql=keys_sql), bound, batch_rows,
                                                    fast_read=fast_read)]
            keys_array = pa.concat_arrays(sampled) if sampled else pa.array([], type=pa.int64())
            keys = keys_array.take(pc.sort_indices(keys_array)).to_pylist()
        self.progress(f"{name}: {len(keys)} sampled keys")
        by_key = ExportQuery(sql=rows_sql, params=(*query.params, SAMPLE_KEYS_BIND), references=query.references)
        chunk = self.reference_chunk
        for start in range(0, len(keys), chunk):
            yield from prefetched(partial(self.read_query, conn, table, by_key,
                                          {**bound, SAMPLE_KEYS_BIND: keys[start : start + chunk]}, batch_rows,
                                          fast_read=fast_read))

    def _sampled_from_range(self, source: Source, table: sa.Table, query: ExportQuery, bound: dict[str, Any],
                            rate: float, seed: int) -> list[int] | None:
        """The keys a sample of a whole table keeps, from its key range (``sample_by_range``), or None to read its
        keys. Why: reading 1M customers' keys to keep 1% of them scans the whole table (the clustered index of a
        table without a smaller one: every row's page), where the smallest and largest key are the index's two
        ends and the kept keys of the range are computed here; rows of keys the table does not have are simply
        not found. Only where the range holds at most ``RANGE_SAMPLE_MAX`` keys and the rows looked up by key
        are at most twice the rows the table has (as the server estimates them)."""
        pk = table.primary_key.columns[0]  # type: ignore[index]
        plan = key_range_sample(query.sql, pk.name, source.dialect.identifier_preparer.quote) if (
            self.sample_by_range and isinstance(pk.type, sa.Integer)) else None
        if plan is None:
            return None
        ends = []
        for sql in plan:
            batches = list(self.read_query(source.conn, table, replace(query, sql=sql), bound, 16, fast_read=False))
            values = [v for batch in batches for v in batch.column(0).to_pylist()]
            ends.append(values[0] if values else None)
        low, high = ends
        if low is None or high is None:
            return []
        low, high = int(low), int(high)
        estimate = _estimated_rows(source.conn, table)
        if (high - low + 1 > RANGE_SAMPLE_MAX or high > np.iinfo(np.int64).max
                or estimate is None or (high - low + 1) > 2 * max(estimate, 1)):
            return None
        return sampled_in_range(low, high, rate, seed).tolist()

    def _chunk_batches(self, source: Source, table: sa.Table, query: ExportQuery,
                       chunks: list[dict[str, Any]]) -> Iterator[pa.RecordBatch]:
        """The rows of ``query`` run once per chunk of bound keys, one run after the other."""
        for bound in chunks:
            yield from self.read_query(source.conn, table, query, bound, self.settings.batch_rows,
                                       fast_read=self.settings.fast_read)

    def _keys_then_rows_sql(self, source: Source, table: sa.Table, name: str, query: ExportQuery) -> str | None:
        """The keys statement of a chunked reference read keys first, then rows by key (``rows_by_key``): an
        InnoDB table of a MySQL/MariaDB source, stored in primary-key order and read in the build's snapshot
        (MyISAM, Aria and MEMORY tables are neither; PostgreSQL reads the heap pages of an ``IN`` list's
        matches in their order already), one integer primary key, no row limit (which would keep other rows
        in another order)."""
        pk = list(table.primary_key.columns)
        dialect = source.dialect.name
        if (not self.rows_by_key or dialect not in ("mysql", "mariadb") or len(pk) != 1
                or str(table.kwargs.get(f"{dialect}_engine", "")).lower() != "innodb"
                or not isinstance(pk[0].type, sa.Integer) or self.spec.exports[name].row_limit is not None
                or pk[0].name in self._invisible(source, table)):
            return None
        return keys_then_rows(query.sql, [reference_bind_name(*ref) for ref in query.references], table, pk[0].name,
                              source.dialect.identifier_preparer.quote)

    def _rows_by_key_batches(self, source: Source, table: sa.Table, name: str, query: ExportQuery,
                             chunks: list[dict[str, Any]], keys_sql: str) -> Iterator[pa.RecordBatch]:
        """A chunked reference's primary keys (its query per chunk, selecting the key only), then its rows by
        those keys in key order (see ``subset.keys_then_rows``).

        The first chunk's keys decide: when they come out of the reference's index in key order (order items
        stored order by order), its rows lie together and the query per chunk reads them as well (reading the
        keys first cost ~0.7 s more for the 79,000 items of 30,000 orders); the first chunk's rows are then
        read by its keys and the other chunks by the query itself. Each time a key is smaller than the one
        before, the query per chunk starts another pass over the table's pages."""
        batch_rows, fast_read = self.settings.batch_rows, self.settings.fast_read
        keys_query = replace(query, sql=keys_sql)

        def keys_of(bound: dict[str, Any]) -> list[np.ndarray]:
            # one integer type in every batch (int64, or uint64 for BIGINT UNSIGNED keys above 2**63); no empty
            # array of another type is ever joined to them (numpy would make floats of int64 and uint64)
            return [batch.column(0).to_numpy(zero_copy_only=False)
                    for batch in self.read_query(source.conn, table, keys_query, bound, batch_rows,
                                                 fast_read=fast_read) if batch.num_rows]

        first = keys_of(chunks[0])
        head = np.concatenate(first) if first else np.zeros(0, dtype=np.int64)
        # compared, not subtracted: a difference of unsigned keys wraps around instead of going below 0
        if not (head[1:] < head[:-1]).any():
            yield from self._rows_of_keys(source, table, np.unique(head))
            yield from self._chunk_batches(source, table, query, chunks[1:])
            return
        parts = [*first, *(part for bound in chunks[1:] for part in keys_of(bound))]
        keys = np.unique(np.concatenate(parts))
        self.progress(f"{name}: {keys.size} rows to read by primary key")
        yield from self._rows_of_keys(source, table, keys)

    def _rows_of_keys(self, source: Source, table: sa.Table, keys: np.ndarray) -> Iterator[pa.RecordBatch]:
        """``SELECT * FROM table WHERE pk IN :keys``, ``reference_chunk`` keys a statement, read as export queries
        are: the same columns as the template's ``SELECT *`` (MariaDB's INVISIBLE columns left out, FLOAT
        columns sent exactly), which reading the table's reflected columns would not give."""
        preparer = source.dialect.identifier_preparer
        pk = table.primary_key.columns[0].name  # type: ignore[index]
        rows_sql = (f"SELECT * FROM {preparer.format_table(table)} "  # noqa: S608 (quoted identifiers, bound keys)
                    f"WHERE {preparer.quote(pk)} IN :{SAMPLE_KEYS_BIND}")
        by_key = ExportQuery(sql=rows_sql, params=(SAMPLE_KEYS_BIND,), references=())
        for start in range(0, keys.size, self.reference_chunk):
            yield from self.read_query(source.conn, table, by_key,
                                       {SAMPLE_KEYS_BIND: keys[start : start + self.reference_chunk].tolist()},
                                       self.settings.batch_rows, fast_read=self.settings.fast_read)

    def _invisible(self, source: Source, table: sa.Table) -> set[str]:
        where = (source.provider, table.fullname)
        if where not in self._hidden:
            self._hidden[where] = _invisible(source.conn, table)
        return self._hidden[where]

    def _selects_key(self, source: Source, table: sa.Table, query: ExportQuery) -> bool:
        """Whether ``query``'s rows carry ``table``'s whole primary key (so a row read twice is kept once)."""
        pk = [c.name for c in table.primary_key.columns]
        hidden = self._invisible(source, table)
        return bool(pk) and selects_columns(query.sql, pk, [c.name for c in table.columns if c.name not in hidden])

    def _reference_chunks(self, query: ExportQuery, values: dict[str, Any],
                          keyed: Callable[[], bool]) -> Iterator[dict[str, Any]]:
        """Bound values for each run of ``query``: large key sets of a reference split into chunks when safe."""
        keysets = {reference_bind_name(*ref): values_of(self.reference_keys[ref].keys()) or [None]
                   for ref in query.references}
        if not keysets:
            yield values
            return
        largest = max(keysets, key=lambda name: len(keysets[name]))
        keys = keysets[largest]
        chunk = self.reference_chunk
        # chunks whose rows overlap (an OR beside the keys) are only joined where the rows' keys tell repeats apart
        connectives = keys_connectives(query.sql, largest) if len(keys) > chunk else None
        if connectives is None or (overlapping(connectives) and not keyed()):
            yield {**values, **keysets}
            return
        for start in range(0, len(keys), chunk):
            yield {**values, **keysets, largest: keys[start : start + chunk]}

    # -- children and parents ----------------------------------------------------------------------------
    def _fetch_children(self, source: Source, parent: sa.Table, child_name: str, child_spec: ChildSpec) -> None:
        """Each parent row's children (at most ``max_per_parent`` each), fetched by key."""
        if child_name not in source.metadata.tables:
            raise ProviderError(f"provider {source.provider!r} has no table {child_name!r} "
                                f"(children of {parent.name!r})")
        child = source.metadata.tables[child_name]
        try:
            fk = child_foreign_key(child, parent, child_spec.via)
        except ValueError as exc:
            raise ProviderError(f"children of {parent.name!r}: {exc}") from None
        if self.first_batches and child.name in self.tables:
            return
        parent_cols = tuple(e.column.name for e in fk.elements)
        held = self.tables.get(parent.name)
        keys = held.present_keys(parent_cols).keys() if held else []
        statement = children_statement(child, fk, child_spec.max_per_parent)
        role = "export" if child_name in self.exported_tables else "child"
        self.progress(f"{child_name}: children of {key_count(keys)} {parent.name} rows")
        schema = schema_for(child, [c.name for c in child.columns])
        chunk = self.reference_chunk
        for start in range(0, key_count(keys), chunk):
            part = keys[start : start + chunk]
            bound = values_of(part) if len(parent_cols) == 1 else list(part)
            batches = self._read_batches(partial(stream_statement, source.conn, statement, {"keys": bound}, schema,
                                                 self.settings.batch_rows, fast_read=self.settings.fast_read))
            if self._read(child, batches, role, None, source.dialect) and self.first_batches:
                return

    def _follow_parents(self, source: Source) -> None:
        """Fetch every referenced parent row not yet read, transitively, until nothing is missing."""
        # by name: a parent in another schema (PostgreSQL schema, MySQL database) is followed too, and held in the
        # package under its own name (``_refuse_name_collision`` keeps that name unique)
        by_name = {t.name: t for t in source.metadata.tables.values() if t.schema is None}
        by_name.update({t.name: t for t in source.metadata.tables.values() if t.name not in by_name})
        while True:
            fetched_any = False
            for parent_name in sorted(self.needed):
                if parent_name not in by_name:
                    continue
                parent = by_name[parent_name]
                for cols, keys in sorted(self.needed[parent_name].items(), key=lambda item: item[0]):
                    if self.first_batches and parent_name in self.tables:
                        break
                    held = self.tables.get(parent_name)
                    present = held.present_keys(cols) if held else KeySet()
                    missing = keys.difference(present, self.requested[parent_name][cols])
                    if not key_count(missing):
                        continue
                    self.requested[parent_name][cols].add(missing)
                    fetched_any = True
                    role = "export" if parent_name in self.exported_tables else "parent"
                    self.progress(f"{parent_name}: fetching {key_count(missing)} referenced rows")
                    try:
                        batches = stream_rows_by_keys(source.conn, parent, cols, missing, self.settings.batch_rows,
                                                      fast_read=self.settings.fast_read)
                        self._read(parent, batches, role, None, source.dialect)
                    except sa.exc.SQLAlchemyError as exc:
                        raise describe_db_error(source.provider, exc) from None
            if not fetched_any:
                return

    # -- what the walk found -----------------------------------------------------------------------------
    def dangling_foreign_keys(self) -> dict[str, Any]:
        """Referenced keys that are not in the package (source's own dangling rows, or parents not followed)."""
        details: dict[str, int] = {}
        for parent_name, by_cols in self.needed.items():
            held = self.tables.get(parent_name)
            for cols, keys in by_cols.items():
                missing = key_count(keys.difference(held.present_keys(cols))) if held else len(keys)
                if missing:
                    details[f"{parent_name}({', '.join(cols)})"] = missing
        return {"dangling_references": sum(details.values()), "by_parent": details}
