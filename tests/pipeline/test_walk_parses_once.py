"""A small build's fixed costs: the export walk parses each export's SQL a bounded number of times."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from hfit_dagster.pipeline.local_build import build_package
from hfit_dagster.settings import HfitSettings
from hfit_dagster.template.loader import resolve_template
from hfit_dagster.template.query import ExportQuery
from tests.conftest import TEMPLATES

PARAMS = {"since": "2020-01-01", "row_limit": "40"}


def test_a_build_parses_each_export_query_twice_after_loading(settings: HfitSettings,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A small build's fixed cost: each parse (sqlglot, the read-only guard) costs about a millisecond a query,
    so a build of a loaded template parses each export's query twice (the walk's queries and its export order),
    not again at every step that needs them (six times)."""
    spec = resolve_template("daily-dev-scenario", TEMPLATES).spec
    parses: Counter[str] = Counter()
    parse = ExportQuery.parse.__func__  # type: ignore[attr-defined]

    def counted(cls: type[ExportQuery], sql: str, *args: Any, **kwargs: Any) -> ExportQuery:
        parses[kwargs.get("where") or sql] += 1
        return parse(cls, sql, *args, **kwargs)

    monkeypatch.setattr(ExportQuery, "parse", classmethod(counted))
    built = build_package(spec, PARAMS, settings)
    assert built.manifest.tables
    assert parses and max(parses.values()) <= 2, parses
