"""The schema-drift rule on plans: a column the previous package did not have is held masked until a rule
reviews it; rules, keys and columns already masked keep their decisions."""

from __future__ import annotations

import pyarrow as pa

from hfit_dagster.masking import ColumnDecision, TableMaskingPlan
from hfit_dagster.masking.drift import drift_masked_plan


def _decision(column: str, operator: str = "keep", source: str = "heuristic") -> ColumnDecision:
    return ColumnDecision(column=column, operator=operator, entity=None, confidence=0.0, evidence="-", source=source)


def test_new_columns_are_held_masked_by_type_and_nullability() -> None:
    plan = TableMaskingPlan(table="people", decisions={d.column: d for d in [
        _decision("id", source="key"), _decision("name", "person_name"), _decision("nick"), _decision("code"),
        _decision("score"), _decision("born"), _decision("ruled", source="rule"), _decision("old"),
    ]})
    schema = pa.schema([("id", pa.int64()), ("name", pa.string()), ("nick", pa.string()), ("code", pa.int32()),
                        ("score", pa.float64()), ("born", pa.date32()), ("ruled", pa.string()), ("old", pa.string())])
    drifted, new = drift_masked_plan(plan, {"old"}, schema, nullable={"nick", "born"})
    assert new == ["id", "name", "nick", "code", "score", "born", "ruled"]
    operators = {name: (d.operator, d.source) for name, d in drifted.decisions.items()}
    assert operators == {
        "id": ("keep", "key"), "name": ("person_name", "heuristic"), "nick": ("null", "drift"),
        "code": ("shape", "drift"), "score": ("keep", "heuristic"), "born": ("null", "drift"),
        "ruled": ("keep", "rule"), "old": ("keep", "heuristic"),
    }
    assert plan.decisions["nick"].operator == "keep"  # the plan given is left as it was


def test_no_new_column_leaves_the_plan_alone() -> None:
    plan = TableMaskingPlan(table="t", decisions={"a": _decision("a")})
    assert drift_masked_plan(plan, {"a"}, pa.schema([("a", pa.string())]), nullable={"a"}) == (plan, [])
