"""The masking plan of a template, before any build: every table's column decisions, nothing written.

``plan_template`` opens each provider exactly as a build does (read-only snapshot, reflection), runs each
export query with the template's default parameters (or the given ones) and takes the first batch as the
classification sample, then builds each table's plan with the arguments the build uses: the template's
rules for exported tables, the masking default, the configured analyzer (spaCy model, custom
recognizers), the plans of the tables planned before it (foreign keys to masked columns) and the sample
size. Children and followed parents are sampled by the keys of the sampled rows, in the build's order.

What differs from a build: only first batches are read, so an export that references an upstream
export's keys (``IN :customers.id``) is sampled with the keys of the upstream's first batch rather than of
all its rows, and parents/children are fetched for sampled rows only. The decision logic is the same;
the sampled rows can differ. No masking key is needed (nothing is masked), no row is written, and the
result holds decisions and evidence, never values.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hfit_dagster.errors import ProviderError
from hfit_dagster.extract.arrow_types import rows_to_batch, schema_for
from hfit_dagster.extract.source import (
    create_source_engine,
    describe_db_error,
    read_only_snapshot,
    reflect_tables,
    stream_query,
    stream_rows_by_keys,
)
from hfit_dagster.masking import TableMaskingPlan, build_table_plan
from hfit_dagster.masking.factory import text_analyzer
from hfit_dagster.pipeline.staging import _conform, column_infos
from hfit_dagster.pipeline.subset import (
    REFERENCE_CHUNK,
    child_foreign_key,
    children_statement,
    chunkable_reference,
    sample_mask,
)
from hfit_dagster.template.builtins import prepare_build
from hfit_dagster.template.query import reference_bind_name

if TYPE_CHECKING:
    from hfit_dagster.masking import TextAnalyzer
    from hfit_dagster.settings import HfitSettings
    from hfit_dagster.template.spec import TemplateSpec

KeyTuple = tuple[Any, ...]


def plan_template(
    spec: TemplateSpec,
    settings: HfitSettings,
    params: dict[str, Any] | None = None,
    *,
    analyzer: TextAnalyzer | None = None,
) -> dict[str, TableMaskingPlan]:
    """Every table's masking plan as a build with these parameters would decide it (in build order).

    ``params`` are raw ``key=value`` values (strings or typed), resolved like a build's: declared
    parameters with their defaults, built-ins (``row_limit``, ``sample_rate``, time windows ...) applied.
    """
    prepared = prepare_build(spec, dict(params or {}))
    return _Preview(prepared.spec, prepared.params, settings, analyzer or text_analyzer(settings)).run()


class _Preview:
    def __init__(self, spec: TemplateSpec, params: dict[str, Any], settings: HfitSettings,
                 analyzer: TextAnalyzer) -> None:
        self.spec, self.params, self.settings, self.analyzer = spec, params, settings, analyzer
        self.plans: dict[str, TableMaskingPlan] = {}
        self.first: dict[str, pa.RecordBatch] = {}
        self.reference_keys: dict[tuple[str, str], set[Any]] = {
            ref: set() for query in spec.queries().values() for ref in query.references
        }
        self.needed: dict[str, dict[tuple[str, ...], set[KeyTuple]]] = defaultdict(lambda: defaultdict(set))
        self.requested: dict[str, set[tuple[str, ...]]] = defaultdict(set)

    # -- planning ---------------------------------------------------------------------------------------
    def _plan(self, table: sa.Table, batch: pa.RecordBatch, dialect: sa.engine.Dialect) -> None:
        """The build's ``_state``: the first batch of a table is its sample; later batches change nothing."""
        if table.name in self.plans:
            return
        sample = pa.Table.from_batches([batch]).slice(0, self.settings.classification_sample_size)
        self.plans[table.name] = build_table_plan(
            table.name, column_infos(table, dialect), sample,
            rules=self.spec.masking_rules(table.name) if table.name in self.spec.exports else {},
            default=self.spec.masking_default, analyzer=self.analyzer,
            parent_plans=dict(self.plans),
            sample_size=self.settings.classification_sample_size,
        )  # fmt: skip
        self.first[table.name] = batch
        for fk in table.foreign_key_constraints:
            child_cols = [e.parent.name for e in fk.elements]
            if all(c in batch.schema.names for c in child_cols):
                parent_cols = tuple(e.column.name for e in fk.elements)
                keys = zip(*(batch.column(c).to_pylist() for c in child_cols), strict=True)
                self.needed[fk.referred_table.name][parent_cols].update(k for k in keys if None not in k)

    def _take_first(self, batches: Iterator[pa.RecordBatch], table: sa.Table, export: str | None,
                    dialect: sa.engine.Dialect) -> bool:
        """Plan ``table`` from the first non-empty batch (after the export's sampling filter); stop reading."""
        try:
            for batch in batches:
                if batch.num_rows == 0:
                    continue
                batch = _conform(batch, table)
                export_spec = self.spec.exports.get(export) if export is not None else None
                if export_spec is not None and export_spec.sample is not None:
                    pk = [c.name for c in table.primary_key.columns if c.name in batch.schema.names]
                    batch = batch.filter(sample_mask(batch, pk, export_spec.sample, export_spec.sample_seed))
                    if batch.num_rows == 0:
                        continue
                self._plan(table, batch, dialect)
                if export is not None:
                    for (ref_export, column), keyset in self.reference_keys.items():
                        if ref_export == export and column in batch.schema.names:
                            keyset.update(v for v in batch.column(column).to_pylist() if v is not None)
                return True
        finally:
            close = getattr(batches, "close", None)
            if close is not None:
                close()
        return False

    # -- reading ----------------------------------------------------------------------------------------
    def run(self) -> dict[str, TableMaskingPlan]:
        spec = self.spec
        order = spec.export_order()
        by_provider: dict[str, list[str]] = defaultdict(list)
        for name in order:
            by_provider[spec.exports[name].provider.upper()].append(name)
        queries = spec.queries()
        with ExitStack() as stack:
            connections: dict[str, tuple[Connection, sa.MetaData]] = {}
            for provider, exports in by_provider.items():
                engine = create_source_engine(provider, self.settings.provider_url(provider))
                stack.callback(engine.dispose)
                conn = stack.enter_context(read_only_snapshot(provider, engine))
                try:
                    wanted = [spec.source_table(e) for e in exports]
                    wanted += [child for e in exports for child in spec.exports[e].children]
                    metadata = reflect_tables(provider, conn, wanted)
                except sa.exc.SQLAlchemyError as exc:
                    raise describe_db_error(provider, exc) from None
                connections[provider] = (conn, metadata)
            for name in order:
                provider = spec.exports[name].provider.upper()
                conn, metadata = connections[provider]
                table = metadata.tables[spec.source_table(name)]
                query = queries[name]
                missing = [p for p in query.params if p not in self.params]
                if missing:
                    raise ProviderError(f"export {name!r} uses :{missing[0]}, which is not a template parameter",
                                        hint="declare it under 'parameters:' in the template")
                values = {p: self.params.get(p) for p in query.params}
                keysets = {reference_bind_name(*ref): sorted(self.reference_keys[ref], key=repr) or [None]
                           for ref in query.references}
                if keysets:
                    largest = max(keysets, key=lambda bind: len(keysets[bind]))
                    if len(keysets[largest]) > REFERENCE_CHUNK and chunkable_reference(query.sql, largest):
                        keysets[largest] = keysets[largest][:REFERENCE_CHUNK]
                try:
                    batches = stream_query(conn, table, query, {**values, **keysets}, self.settings.batch_rows,
                                           fast_read=self.settings.fast_read)
                    self._take_first(batches, table, name, conn.dialect)
                    for child_name, child_spec in spec.exports[name].children.items():
                        self._children(provider, conn, metadata, table, child_name, child_spec)
                except sa.exc.SQLAlchemyError as exc:
                    raise describe_db_error(provider, exc) from None
            if spec.subset.follow_parents:
                for provider, (conn, metadata) in connections.items():
                    self._parents(provider, conn, metadata)
            for name in order:  # an export without rows is still planned (from its empty schema)
                conn, metadata = connections[spec.exports[name].provider.upper()]
                table = metadata.tables[spec.source_table(name)]
                if table.name not in self.plans:
                    schema = schema_for(table, [c.name for c in table.columns])
                    self._plan(table, pa.RecordBatch.from_pylist([], schema=schema), conn.dialect)
        return self.plans

    def _children(self, provider: str, conn: Connection, metadata: sa.MetaData, parent: sa.Table,
                  child_name: str, child_spec: Any) -> None:
        if child_name not in metadata.tables:
            raise ProviderError(f"provider {provider!r} has no table {child_name!r} (children of {parent.name!r})")
        child = metadata.tables[child_name]
        try:
            fk = child_foreign_key(child, parent, child_spec.via)
        except ValueError as exc:
            raise ProviderError(f"children of {parent.name!r}: {exc}") from None
        first = self.first.get(parent.name)
        parent_cols = tuple(e.column.name for e in fk.elements)
        if first is None or not all(c in first.schema.names for c in parent_cols):
            return
        keys = sorted(set(zip(*(first.column(c).to_pylist() for c in parent_cols), strict=True)), key=repr)
        keys = keys[:REFERENCE_CHUNK]
        if not keys:
            return
        bound = [k[0] for k in keys] if len(parent_cols) == 1 else keys
        result = conn.execute(children_statement(child, fk, child_spec.max_per_parent), {"keys": bound})
        schema = schema_for(child, [c.name for c in child.columns])
        batches = (rows_to_batch(rows, schema) for rows in result.partitions(self.settings.batch_rows))
        try:
            self._take_first(batches, child, None, conn.dialect)
        finally:
            result.close()

    def _parents(self, provider: str, conn: Connection, metadata: sa.MetaData) -> None:
        """Tables referenced by sampled rows and not planned yet, transitively, in the build's order."""
        while True:
            fetched = False
            for parent_name in sorted(self.needed):
                if parent_name not in metadata.tables or parent_name in self.plans:
                    continue
                parent = metadata.tables[parent_name]
                for cols, keys in sorted(self.needed[parent_name].items()):
                    if cols in self.requested[parent_name] or not keys or parent_name in self.plans:
                        continue
                    self.requested[parent_name].add(cols)
                    fetched = True
                    try:
                        batches = stream_rows_by_keys(conn, parent, cols, sorted(keys, key=repr),
                                                      self.settings.batch_rows, fast_read=self.settings.fast_read)
                        self._take_first(batches, parent, None, conn.dialect)
                    except sa.exc.SQLAlchemyError as exc:
                        raise describe_db_error(provider, exc) from None
            if not fetched:
                return
