"""The text analyzer (Presidio and spaCy, seconds to load) is loaded by a build only when a column needs it:
a template whose columns are all decided by rules, names and types builds without importing either, and a
column that turns out to need it later still gets the analyzer's decision."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from hfit_dagster.pipeline.local_build import build_package
from hfit_dagster.template.loader import parse_template
from tests.conftest import TEST_MASKING_KEY, fill_mariadb, mariadb_source_settings, mariadb_url
from tests.fresh_process import run_python

pytestmark = pytest.mark.mariadb

STRUCTURED = """
templateName: structured
exports:
  customers:
    provider: SRC
    query: SELECT * FROM customers WHERE id <= 40
  orders:
    provider: SRC
    query: SELECT * FROM orders WHERE customer_id IN :customers.id
subset: {follow_parents: true}
masking:
  customers.name: person_name
  customers.email: email
  customers.note: "null"
  default: auto
"""
FREE_TEXT = STRUCTURED.replace('customers.note: "null"', "customers.note: redact_text")

# run in a fresh interpreter: which modules a build imported is only visible in a process of its own
BUILD_AND_LIST_MODULES = """
import json, sys
from hfit_dagster.pipeline.local_build import build_package
from hfit_dagster.settings import load_settings
from hfit_dagster.template.loader import parse_template
built = build_package(parse_template(sys.stdin.read()), {}, load_settings())
print(json.dumps({"rows": {t.name: t.rows for t in built.manifest.tables},
                  "modules": sorted(m for m in ("presidio_analyzer", "spacy", "dagster") if m in sys.modules)}))
"""


@pytest.fixture
def source(mariadb_database) -> str:
    name = mariadb_database()
    fill_mariadb(name, {
        "customers": ("id INT PRIMARY KEY, name VARCHAR(80), email VARCHAR(80), note TEXT, created_at DATETIME",
                      [(i, f"Quentin Zabrowski{i}", f"qz{i}@mail.example", f"Call Quentin at qz{i}@mail.example",
                        "2024-01-02 03:04:05") for i in range(1, 101)]),
        "orders": ("id INT PRIMARY KEY, customer_id INT NOT NULL, amount DECIMAL(8,2), placed_at DATETIME, "
                   "FOREIGN KEY (customer_id) REFERENCES customers (id)",
                   [(i, 1 + i % 100, i * 1.5, "2024-02-03 04:05:06") for i in range(1, 301)]),
    })
    return name


def _build_in_fresh_process(template: str, database: str, home: Path, **env: str) -> dict:
    return run_python(BUILD_AND_LIST_MODULES, stdin=template,
                      env={"HFIT_HOME": str(home), "HFIT_MASKING_KEY": TEST_MASKING_KEY,
                           "HFIT_PROVIDER_SRC_URL": mariadb_url(database), **env})


@pytest.mark.slow
def test_a_build_with_no_free_text_never_imports_presidio_or_spacy(source: str, tmp_path: Path) -> None:
    """A template whose columns are all decided by rules, names and types (no free text, nothing for Presidio to
    look at) builds without loading the text analyzer: no seconds spent importing Presidio and spaCy."""
    built = _build_in_fresh_process(STRUCTURED, source, tmp_path / "home", HFIT_ANALYZER_PROCESS="false")
    assert built["rows"] == {"customers": 40, "orders": 120}
    assert built["modules"] == []


@pytest.mark.slow
def test_a_build_masking_free_text_loads_the_analyzer(source: str, tmp_path: Path) -> None:
    """The same template with a free-text rule does load Presidio and spaCy (the check above can fail), in the
    build's process when told to."""
    built = _build_in_fresh_process(FREE_TEXT, source, tmp_path / "home", HFIT_ANALYZER_PROCESS="false")
    assert built["rows"] == {"customers": 40, "orders": 120}
    assert {"presidio_analyzer", "spacy"} <= set(built["modules"])


@pytest.mark.slow
def test_by_default_free_text_is_analyzed_in_the_analyzers_own_process(source: str, tmp_path: Path) -> None:
    """By default the build's process imports neither Presidio nor spaCy: the analyzer is built and run in a
    process of its own, and the notes are still redacted (the leak check would fail a build whose notes kept the
    customers' emails)."""
    built = _build_in_fresh_process(FREE_TEXT, source, tmp_path / "home")
    assert built["rows"] == {"customers": 40, "orders": 120}
    assert built["modules"] == []


def test_a_column_needing_the_analyzer_only_in_the_exported_rows_still_gets_its_decision(
        mariadb_database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A text column that is NULL in every row sampled across the table but holds names in the rows the export
    selects is classified by Presidio on those rows (the analyzer is built when that plan asks for it) and
    masked, as when the analyzer was always loaded."""
    name = mariadb_database()
    rows = [(i, "Quentin Zabrowski met Ingrid Lindqvist in Oslo" if 30 <= i <= 35 else None) for i in range(1, 1001)]
    fill_mariadb(name, {"visits": ("id INT PRIMARY KEY, headline VARCHAR(200)", rows)})
    settings = mariadb_source_settings(monkeypatch, tmp_path, name, batch_rows=100)
    template = parse_template("""
templateName: late-text
exports:
  visits:
    provider: SRC
    query: SELECT * FROM visits WHERE id BETWEEN 30 AND 35
masking:
  default: auto
""")
    built = build_package(template, {}, settings)
    [table] = built.manifest.tables
    decision = next(c.masking for c in table.columns if c.name == "headline")
    assert decision["source"] == "presidio", decision
    assert decision["operator"] != "keep"
    headlines = pq.read_table(built.path / "parquet" / "visits.parquet").column("headline").to_pylist()
    assert len(headlines) == 6
    assert not any("Zabrowski" in r for r in headlines if r)
