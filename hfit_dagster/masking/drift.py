"""Schema drift: a column the previous package did not have is masked until a masking rule reviews it.

Deny by default applies across versions too: a column that appeared in the source since the last package
was classified on a sample only, so a ``keep`` there is not trusted. Its decision becomes ``null`` (a
nullable column) or ``shape`` (a NOT NULL text or integer column, whose format is kept); a NOT NULL column
of another type keeps its decision and is reported by the drift check. Decisions from a template rule or
for keys stand.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace

import pyarrow as pa

from hfit_dagster.masking import ColumnDecision, TableMaskingPlan

DRIFT_EVIDENCE = "new since the previous package: masked until a masking rule reviews it"


def drift_masked_plan(plan: TableMaskingPlan, previous_columns: Collection[str], schema: pa.Schema,
                      nullable: Collection[str]) -> tuple[TableMaskingPlan, list[str]]:
    """``plan`` with its new columns held masked, and the new columns (in plan order).

    ``previous_columns`` are the table's columns in the previous package, ``schema`` the Arrow types of the
    table's columns and ``nullable`` the names of its nullable columns.
    """
    new = [name for name in plan.decisions if name not in previous_columns]
    if not new:
        return plan, new
    decisions = dict(plan.decisions)
    for name in new:
        decision = decisions[name]
        if decision.operator != "keep" or decision.source in ("rule", "key"):
            continue
        arrow_type = schema.field(name).type
        if name in nullable:
            operator = "null"
        elif pa.types.is_string(arrow_type) or pa.types.is_integer(arrow_type):
            operator = "shape"
        else:
            continue  # nothing fits a NOT NULL non-text column; reported in the drift check
        decisions[name] = ColumnDecision(column=name, operator=operator, entity=decision.entity,
                                         confidence=decision.confidence, evidence=DRIFT_EVIDENCE, source="drift")
    return replace(plan, decisions=decisions), new
