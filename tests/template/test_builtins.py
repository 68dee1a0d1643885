"""Built-in parameters every template accepts: row_limit, sample_rate, table_size_factor, time windows,
include_indexes, debug_mode."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from hfit_dagster.errors import ParameterError
from hfit_dagster.package.manifest import parameter_digests
from hfit_dagster.pipeline.local_build import build_package
from hfit_dagster.settings import HfitSettings
from hfit_dagster.template.builtins import prepare_build
from hfit_dagster.template.loader import parse_template, resolve_template
from tests.conftest import TEMPLATES


def spec(name: str):  # noqa: ANN201
    return resolve_template(name, TEMPLATES).spec


def test_unknown_parameter_lists_declared_and_builtin_ones() -> None:
    with pytest.raises(ParameterError) as info:
        prepare_build(spec("large-dataset"), {"colour": "red"})
    message = str(info.value)
    assert "unknown parameter colour" in message
    for name in ("row_limit", "sample_rate", "table_size_factor", "start_date", "end_time", "include_indexes",
                 "debug_mode"):
        assert name in message


def test_time_window_needs_a_time_column() -> None:
    with pytest.raises(ParameterError, match="names no time column"):
        prepare_build(spec("test-scenario"), {"start_date": "2024-01-01"})


def test_declared_parameter_wins_over_builtin() -> None:
    prepared = prepare_build(spec("daily-dev-scenario"), {"row_limit": "7"})
    assert prepared.params["row_limit"] == 7
    assert all(e.row_limit is None for e in prepared.spec.exports.values())


def test_window_on_time_column(settings: HfitSettings) -> None:
    """start_date/end_date keep only rows of timed exports inside the days given (end day inclusive)."""
    built = build_package(spec("large-dataset"), {"start_date": "2024-10-15", "end_date": "2024-10-15"}, settings)
    orders = pq.read_table(built.path / "parquet" / "orders.parquet")
    exported = [t for t in built.manifest.tables if t.name == "orders"][0]
    assert exported.rows > 0
    days = {d.date().isoformat() for d in orders.column("created_at").to_pylist()}
    assert "2024-10-15" in days
    payments = pq.read_table(built.path / "parquet" / "payments.parquet").column("created_at").to_pylist()
    assert {p.date().isoformat() for p in payments} == {"2024-10-15"}


def test_sample_rate_and_row_limit_shrink_exports(settings: HfitSettings) -> None:
    full = build_package(spec("performance-baseline"), {}, settings).manifest
    tenth = build_package(spec("performance-baseline"), {"table_size_factor": "0.1"}, settings).manifest
    limited = build_package(spec("large-dataset"), {"row_limit": "15"}, settings).manifest
    rows = {t.name: t.rows for t in full.tables}
    scaled = {t.name: t.rows for t in tenth.tables}
    assert 0 < scaled["customers"] < rows["customers"] * 0.2
    assert next(t.rows for t in limited.tables if t.name == "order_items") <= 15 + 0  # items export capped
    assert limited.params["row_limit"] == 15


def test_include_indexes_false_and_debug_mode(settings: HfitSettings) -> None:
    built = build_package(spec("my-scenario"), {"include_indexes": "false", "debug_mode": "true"}, settings)
    sql = (built.path / "package.sql").read_text()
    assert "CREATE INDEX" not in sql and "PRIMARY KEY" in sql
    manifest = json.loads((built.path / "manifest.json").read_text())
    debug = manifest["extra"]["debug"]
    assert set(debug["compiled_queries"]) == {"customers", "orders"}
    assert "stage_seconds" in debug["timings_seconds"]
    assert manifest["params"]["debug_mode"] is True
    plain = build_package(spec("my-scenario"), {}, settings)
    assert "CREATE INDEX" in (plain.path / "package.sql").read_text()
    assert json.loads((plain.path / "manifest.json").read_text())["extra"] == {}


CONTACT = """
templateName: contact-debug
status: approved
parameters:
  contact: {type: str, description: "a customer's e-mail address"}
  since: {type: datetime, default: "2000-01-01 00:00:00"}
exports:
  customers:
    provider: PROD_REPLICA
    query: SELECT * FROM customers WHERE email = :contact AND created_at >= :since
"""


def test_debug_mode_names_bound_parameters_without_their_values(settings: HfitSettings) -> None:
    """debug_mode=true tells a developer what was bound, and the package (which travels) still holds no parameter
    value: the manifest's debug block has the queries with their placeholders and each bound parameter's name and
    type, the manifest's params their digests; no file of the package (manifest, Parquet and its metadata,
    package.sql and its comments) holds the e-mail address the build was asked for."""
    source = Path(settings.providers["PROD_REPLICA"].removeprefix("sqlite:///"))
    with sqlite3.connect(source) as conn:
        email = conn.execute("SELECT email FROM customers WHERE email LIKE '%@%' ORDER BY id LIMIT 1").fetchone()[0]
    built = build_package(parse_template(CONTACT), {"contact": email, "debug_mode": "true"}, settings)
    manifest = json.loads((built.path / "manifest.json").read_text())
    debug = manifest["extra"]["debug"]
    assert debug["bound_parameters"] == {"contact": "str", "since": "datetime"}
    assert ":contact" in debug["compiled_queries"]["customers"]["sql"]
    digests = parameter_digests({"contact": email}, settings.masking_key_bytes())
    assert manifest["params"]["contact"] == digests["contact"]
    assert [t.rows for t in built.manifest.tables] == [1]
    files = [path for path in built.path.rglob("*") if path.is_file()]
    assert {p.suffix for p in files} >= {".json", ".sql", ".parquet"}
    assert [p.name for p in files if email.encode() in p.read_bytes()] == []
    metadata = pq.read_schema(built.path / "parquet" / "customers.parquet").metadata or {}
    assert all(email.encode() not in value for value in metadata.values())
