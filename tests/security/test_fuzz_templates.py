"""Fuzzing the edges a user controls: any YAML text and any parameter string give a typed error or a result,
never a crash (no exception other than an HfitError)."""

from __future__ import annotations

from datetime import datetime

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hfit_dagster.errors import HfitError
from hfit_dagster.template.builtins import prepare_build
from hfit_dagster.template.loader import parse_template
from hfit_dagster.template.params import coerce
from hfit_dagster.template.query import ExportQuery
from hfit_dagster.template.spec import PARAM_TYPES, ParamSpec

SQL_WORDS = ["SELECT", "*", "FROM", "customers", "WHERE", "id", "IN", ":ids", ":customers.id", "=", "'x'", ";",
             "DELETE", "UNION", "(", ")", "LIMIT", "1", "--", "/*", "*/", "INTO", "OUTFILE", "FOR", "UPDATE",
             "SLEEP(1)", "JOIN", "orders", "o", "ON", "AND", "OR", "NOT", "WITH", "AS", "\"", "`", "\\", "\x00"]

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=30))
yaml_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)), max_leaves=20)
sql = st.lists(st.sampled_from(SQL_WORDS), min_size=1, max_size=14).map(" ".join)


def template_like() -> st.SearchStrategy[dict]:
    export = st.fixed_dictionaries({"provider": st.sampled_from(["P", "p-1", "", "PROD_REPLICA"]), "query": sql},
                                   optional={"table": st.text(max_size=10), "sample": yaml_values,
                                             "row_limit": yaml_values, "children": yaml_values})
    return st.fixed_dictionaries(
        {"templateName": st.one_of(st.text(max_size=20), st.just("fuzz-ok")),
         "exports": st.dictionaries(st.sampled_from(["customers", "orders", "bad name", "x"]), export, max_size=3)},
        optional={"parameters": st.dictionaries(st.text(max_size=8), st.fixed_dictionaries(
            {"type": st.sampled_from([*PARAM_TYPES, "bogus"])}, optional={"default": scalars}), max_size=3),
            "masking": st.dictionaries(st.text(max_size=15), st.text(max_size=10), max_size=3),
            "status": st.sampled_from(["draft", "approved", "other"]), "subset": yaml_values,
            "triggers": yaml_values, "schedule": yaml_values})


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(template_like())
def test_any_template_mapping_validates_or_fails_with_a_template_error(data: dict) -> None:
    try:
        spec = parse_template(yaml.safe_dump(data), "fuzz.yaml")
    except HfitError:
        return
    spec.export_order()
    spec.content_hash()


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.text(max_size=300))
def test_any_text_is_a_template_or_a_template_error(text: str) -> None:
    try:
        parse_template(text, "fuzz.yaml")
    except HfitError:
        pass


@settings(max_examples=400, deadline=None, derandomize=True)
@given(sql)
def test_any_query_is_accepted_as_one_select_or_refused(query: str) -> None:
    try:
        parsed = ExportQuery.parse(query)
    except HfitError:
        return
    assert parsed.sql


@settings(max_examples=500, deadline=None, derandomize=True)
@given(st.sampled_from(PARAM_TYPES), st.text(max_size=40))
def test_any_parameter_string_is_typed_or_refused(type_: str, value: str) -> None:
    try:
        coerce("p", ParamSpec(type=type_, min=-1e12, max=1e12), value, now=datetime(2026, 1, 1))
    except HfitError:
        pass


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.dictionaries(st.sampled_from(["row_limit", "sample_rate", "table_size_factor", "start_date", "end_date",
                                        "start_time", "end_time", "include_indexes", "debug_mode", "since", "zz"]),
                       st.text(max_size=25), max_size=5))
def test_any_builtin_parameters_prepare_or_fail_clearly(raw: dict[str, str]) -> None:
    spec = parse_template("""
templateName: fuzz
parameters:
  since: {type: datetime, default: now-30d}
exports:
  orders:
    provider: P
    time_column: created_at
    query: SELECT * FROM orders WHERE created_at >= :since
""")
    try:
        prepare_build(spec, raw)
    except HfitError:
        pass
