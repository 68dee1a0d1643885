"""A table's masking plan as a build decides it: from the table's reflected columns, rows sampled across the
whole table (``table_samples``) and its first rows.

Shared by staging and the plan preview, so both decide with the same arguments: the template's rules for
exported tables, the masking default, the configured analyzer, the plans of the tables planned before
(foreign keys follow their parent column) and the classification sample size.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql

from hfit_dagster.extract.arrow_types import type_name
from hfit_dagster.masking import ColumnInfo, TableMaskingPlan, build_table_plan
from hfit_dagster.masking.enum_labels import package_labels
from hfit_dagster.masking.plan import largest_whole, type_label_operators
from hfit_dagster.package.sql.table_plan import KEEP_COMMENTS, LABEL_FAKES
from hfit_dagster.pipeline.export_walk import Source
from hfit_dagster.settings import HfitSettings
from hfit_dagster.template.spec import TemplateSpec


def column_infos(table: sa.Table, dialect: sa.engine.Dialect) -> list[ColumnInfo]:
    """What the planner knows of each column: SQL type, key, foreign key, uniqueness, nullability, the PostgreSQL
    enum type it is of, and the narrowest limits of the columns joined with it by foreign keys."""
    unique_single = {next(iter(c.columns)).name for c in table.constraints
                     if isinstance(c, sa.UniqueConstraint) and len(c.columns) == 1}
    unique_single |= {next(iter(i.columns)).name for i in table.indexes if i.unique and len(i.columns) == 1}
    joined = _key_limits(table, dialect)
    infos = []
    for col in table.columns:
        fk = next(iter(col.foreign_keys), None)
        length, size, largest = joined.get(col.name, (None, None, None))
        infos.append(ColumnInfo(
            name=col.name, sql_type=_sql_type(col, dialect), primary_key=col.primary_key,
            foreign_key=f"{fk.column.table.name}.{fk.column.name}" if fk is not None else None,
            unique=col.name in unique_single, nullable=bool(col.nullable),
            max_length=_narrowest(_max_length(col.type), length), labels=_labels(col.type),
            max_bytes=_narrowest(_max_bytes(col.type), size),
            largest=largest,
            enum_type=enum_type_name(col.type),
        ))
    return infos


def enum_type_name(column_type: sa.types.TypeEngine) -> str | None:
    """A PostgreSQL enum type's name, schema-qualified when reflected with a schema (``sales.tier``); None for
    other types (a MySQL ENUM belongs to its column alone)."""
    if not isinstance(column_type, postgresql.ENUM) or not column_type.name:
        return None
    return f"{column_type.schema}.{column_type.name}" if column_type.schema else str(column_type.name)


def _sql_type(col: sa.Column[Any], dialect: sa.engine.Dialect) -> str:
    try:  # enum and set labels stay out of the type text: it reaches plan evidence and the manifest
        return type_name(col) if _labels(col.type) else col.type.compile(dialect=dialect)
    except Exception:
        return type(col.type).__name__


def _key_limits(table: sa.Table, dialect: sa.engine.Dialect) -> dict[str, tuple[int | None, int | None, int | None]]:
    """Per column of ``table`` joined to others by foreign keys (of the tables reflected with it, followed from
    parent to child and back, however many steps), the narrowest (characters, bytes, largest whole number) of
    all those columns: a masked key's fakes go into every one of them and must be equal in all, so each fits the
    narrowest (a parent VARCHAR(64) referenced by a VARCHAR(20) gets fakes of at most 20 characters; a BIGINT
    key referenced by an INT column, or referencing one, gets hashes wrapped into the INT)."""
    if table.metadata is None:
        return {}
    linked: dict[sa.Column[Any], set[sa.Column[Any]]] = {}
    for other in table.metadata.tables.values():
        for fk in other.foreign_keys:
            try:
                parent = fk.column
            except (sa.exc.NoReferencedTableError, sa.exc.NoReferencedColumnError):
                continue
            if fk.parent is not parent:
                linked.setdefault(parent, set()).add(fk.parent)
                linked.setdefault(fk.parent, set()).add(parent)
    limits: dict[str, tuple[int | None, int | None, int | None]] = {}
    for col in table.columns:
        if col not in linked:
            continue
        group, todo = {col}, [col]
        while todo:
            for near in linked.get(todo.pop(), ()):
                if near not in group:
                    group.add(near)
                    todo.append(near)
        length = size = largest = None
        for member in group:
            length = _narrowest(length, _max_length(member.type))
            size = _narrowest(size, _max_bytes(member.type))
            largest = _narrowest(largest, largest_whole(_sql_type(member, dialect)))
        limits[col.name] = (length, size, largest)
    return limits


def _narrowest(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


# bytes a MySQL/MariaDB TEXT-family value holds (whatever its character set; LONGTEXT's 4 GiB is no limit here)
_TEXT_BYTES = ((mysql.TINYTEXT, 255), (mysql.MEDIUMTEXT, 16_777_215), (mysql.LONGTEXT, None), (mysql.TEXT, 65_535))


def _max_bytes(column_type: sa.types.TypeEngine) -> int | None:
    """The bytes a MySQL TEXT-family column holds (``TINYTEXT``: 255): its limit counts bytes, not characters,
    so a multibyte fake of 255 characters does not fit; None for other types."""
    for cls, size in _TEXT_BYTES:
        if isinstance(column_type, cls):
            return size
    return None


def _max_length(column_type: sa.types.TypeEngine) -> int | None:
    """The characters a string column holds (``VARCHAR(24)``: 24; ``VARCHAR(20)[]``: 20 per element), the bytes
    of a binary column (``VARBINARY(8)``: 8); None for unbounded text and other types."""
    if isinstance(column_type, sa.ARRAY):
        column_type = column_type.item_type
    length = getattr(column_type, "length", None)
    bounded = isinstance(column_type, sa.String | sa.types._Binary) and isinstance(length, int) and length > 0
    return length if bounded else None


def _labels(column_type: sa.types.TypeEngine) -> tuple[str, ...] | None:
    """An enum type's labels (MySQL ENUM and SET, PostgreSQL CREATE TYPE ... AS ENUM); None for other types."""
    if isinstance(column_type, mysql.SET):  # any one label is a valid SET value
        return tuple(str(v) for v in column_type.values) or None
    enums = getattr(column_type, "enums", None) if isinstance(column_type, sa.Enum) else None
    return tuple(str(e) for e in enums) if enums else None


def classification_sample(first: pa.RecordBatch | None, spread: pa.Table | None, rows: int) -> pa.Table | None:
    """The rows a table is classified on: its spread sample (rows across the whole table) first, then the start
    of its first batch; None when there is neither."""
    parts = [t for t in (spread, pa.Table.from_batches([first]).slice(0, rows) if first is not None else None)
             if t is not None]
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    try:
        return pa.concat_tables(parts, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # an export's types differ from the table's: its own rows only
        return parts[1]


def plan_table(spec: TemplateSpec, settings: HfitSettings, table: sa.Table, first: pa.RecordBatch | None,
               dialect: sa.engine.Dialect, analyzer: Any, parent_plans: dict[str, TableMaskingPlan], *,
               spread: pa.Table | None = None, type_labels: dict[str, str] | None = None) -> TableMaskingPlan:
    """The plan of ``table``, classified on its spread sample and the start of its first batch (``first``);
    ``type_labels``: the PostgreSQL enum types whose every label is faked, by operator (:func:`enum_type_labels`)."""
    sample = classification_sample(first, spread, settings.classification_sample_size)
    return build_table_plan(
        table.name, column_infos(table, dialect), sample,
        rules=_rules(spec, table), default=spec.masking_default, analyzer=analyzer, parent_plans=parent_plans,
        sample_size=settings.classification_sample_size, type_label_operators=type_labels,
    )


def _rules(spec: TemplateSpec, table: sa.Table) -> dict[str, str]:
    return spec.masking_rules(table.name) if table.name in spec.exports else {}


def enum_type_labels(spec: TemplateSpec, sources: list[Source]) -> dict[str, str]:
    """Per PostgreSQL enum type of the sources' reflected tables, the operator faking all its labels when one of
    its columns is masked by a rule or name as names, emails ... (:func:`~hfit_dagster.masking.plan.
    type_label_operators`): decided over every table before any is planned, so a column of the type written
    first (kept, or planned before the one whose name says names) holds the same fakes as the others."""
    tables = [(table.name, column_infos(table, source.dialect), _rules(spec, table))
              for source in sources for table in source.metadata.tables.values()
              if any(enum_type_name(c.type) for c in table.columns)]
    return type_label_operators(tables, spec.masking_default)


class TablePlanner:
    """Plans the tables of one walk, each once, parents before children.

    Why parents first: a foreign key column takes its parent column's decision (an email as primary key and
    the column referring to it masked by the same operator, so joins survive). When a table refers to one
    not planned yet (a parent reached later by following keys), the parent is planned now from its spread
    sample, and keeps that plan when its rows come.
    """

    def __init__(self, spec: TemplateSpec, settings: HfitSettings, analyzer: Callable[[], Any]) -> None:
        self.spec, self.settings, self.analyzer = spec, settings, analyzer
        self.plans: dict[str, TableMaskingPlan] = {}
        self._sources: dict[str, Source] = {}
        self._planning: set[str] = set()
        self._type_labels: dict[str, str] = {}

    def sources_opened(self, sources: dict[str, Source]) -> None:
        for source in sources.values():
            for table in source.metadata.tables.values():  # by name: a parent followed from another schema too
                self._sources.setdefault(table.name, source)
        self._type_labels = enum_type_labels(self.spec, list(sources.values()))

    def plan(self, table: sa.Table, first: pa.RecordBatch | None) -> TableMaskingPlan:
        """The plan of ``table`` (decided on its first call; ``first`` is its first batch, if read)."""
        plan = self.plans.get(table.name)
        if plan is not None:
            return plan
        self._planning.add(table.name)
        for fk in table.foreign_key_constraints:
            parent = fk.referred_table
            if parent.name not in self.plans and parent.name not in self._planning and parent.name in self._sources:
                self.plan(parent, None)
        source = self._sources.get(table.name)
        plan = plan_table(self.spec, self.settings, table, first,
                          source.dialect if source is not None else sa.engine.default.DefaultDialect(),
                          self.analyzer(), dict(self.plans),
                          spread=source.samples.get(table.name) if source is not None else None,
                          type_labels=self._type_labels)
        self._planning.discard(table.name)
        self.plans[table.name] = plan
        table.info[KEEP_COMMENTS] = self.spec.keeps_comments  # package.sql copies comments only when kept
        if self.settings.masking_key is not None and self.settings.masking_key.get_secret_value():
            # the package's DDL declares the fakes of ENUM/SET labels that are personal data, as the values get them
            table.info[LABEL_FAKES] = package_labels(plan, self.settings.masking_key_bytes())
        return plan
