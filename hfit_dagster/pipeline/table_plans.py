"""A table's masking plan as a build decides it: from the table's reflected columns and its first rows.

Shared by staging and the plan preview, so both decide with the same arguments: the template's rules for
exported tables, the masking default, the configured analyzer, the plans of the tables planned before
(foreign keys to masked columns) and the classification sample size.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import sqlalchemy as sa

from hfit_dagster.masking import ColumnInfo, TableMaskingPlan, build_table_plan
from hfit_dagster.settings import HfitSettings
from hfit_dagster.template.spec import TemplateSpec


def column_infos(table: sa.Table, dialect: sa.engine.Dialect) -> list[ColumnInfo]:
    """What the planner knows of each column: SQL type, key, foreign key, uniqueness, nullability."""
    unique_single = {next(iter(c.columns)).name for c in table.constraints
                     if isinstance(c, sa.UniqueConstraint) and len(c.columns) == 1}
    unique_single |= {next(iter(i.columns)).name for i in table.indexes if i.unique and len(i.columns) == 1}
    infos = []
    for col in table.columns:
        fk = next(iter(col.foreign_keys), None)
        try:
            sql_type = col.type.compile(dialect=dialect)
        except Exception:
            sql_type = type(col.type).__name__
        infos.append(ColumnInfo(
            name=col.name, sql_type=sql_type, primary_key=col.primary_key,
            foreign_key=f"{fk.column.table.name}.{fk.column.name}" if fk is not None else None,
            unique=col.name in unique_single, nullable=bool(col.nullable),
        ))
    return infos


def plan_table(spec: TemplateSpec, settings: HfitSettings, table: sa.Table, first: pa.RecordBatch,
               dialect: sa.engine.Dialect, analyzer: Any,
               parent_plans: dict[str, TableMaskingPlan]) -> TableMaskingPlan:
    """The plan of ``table``, classified on the start of its first batch (``first``)."""
    sample = pa.Table.from_batches([first]).slice(0, settings.classification_sample_size)
    return build_table_plan(
        table.name, column_infos(table, dialect), sample,
        rules=spec.masking_rules(table.name) if table.name in spec.exports else {},
        default=spec.masking_default, analyzer=analyzer, parent_plans=parent_plans,
        sample_size=settings.classification_sample_size,
    )
