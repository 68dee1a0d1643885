"""Build parameters: typed, bounded, and refused with a message naming the parameter."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from hfit_dagster.errors import ParameterError
from hfit_dagster.template.loader import parse_template
from hfit_dagster.template.params import parse_assignments, resolve_params

SPEC = parse_template("""
templateName: p
parameters:
  since: {type: datetime, default: now-30d}
  day: {type: date, required: false}
  ids: {type: "list[int]", required: false}
  limit: {type: int, default: 50, min: 1, max: 100}
  flag: {type: bool, default: false}
  region: {type: str, default: EU, choices: [EU, US]}
exports:
  t:
    provider: P
    query: SELECT * FROM t WHERE a > :since LIMIT :limit
""")
NOW = datetime(2026, 1, 31, 12, 0)


def test_defaults_and_relative_times() -> None:
    values = resolve_params(SPEC, {}, now=NOW)
    assert values["since"] == datetime(2026, 1, 1, 12, 0)
    assert values["limit"] == 50 and values["flag"] is False and values["ids"] is None


def test_typed_values_from_strings() -> None:
    raw = parse_assignments(["ids=12847,15923,18442", "day=2024-10-15", "flag=yes", "since=2024-10-15 14:30:00"])
    values = resolve_params(SPEC, raw, now=NOW)
    assert values["ids"] == [12847, 15923, 18442]
    assert values["day"] == date(2024, 10, 15)
    assert values["flag"] is True
    assert values["since"] == datetime(2024, 10, 15, 14, 30)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"nope": "1"}, "unknown parameter nope .*accepted: day, flag, ids, limit, region, since"),
        ({"limit": "abc"}, "parameter 'limit' expects int"),
        ({"limit": "1000"}, "at most 100"),
        ({"limit": "0"}, "at least 1"),
        ({"ids": "1,x"}, "parameter 'ids' expects int"),
        ({"since": "yesterday-ish"}, "parameter 'since' expects datetime"),
        ({"region": "APAC"}, "must be one of"),
        ({"limit": "1 OR 1=1"}, "expects int"),
    ],
)
def test_bad_parameters_are_refused_with_the_parameter_named(raw: dict[str, str], message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        resolve_params(SPEC, raw, now=NOW)


def test_assignment_without_equals_is_an_error() -> None:
    with pytest.raises(ParameterError, match="expected key=value"):
        parse_assignments(["row_limit"])
