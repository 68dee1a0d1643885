"""``hfit build`` of a template whose tables are all exports writes the script while it reads (no part files to
copy and hash at the end): each table's INSERTs in the order the tables are read, the same script as one
assembled afterwards where that is foreign-key order, loadable whatever the order (followed parents' rows
after their children's), and nothing left behind by a build that fails."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from hfit_dagster.pipeline.package_writer import SQL_FILE, write_package
from hfit_dagster.pipeline.sql_assembly import SqlOptions
from hfit_dagster.pipeline.staging import stage_template
from hfit_dagster.pipeline.staging_layout import ASSEMBLED_SQL, SQL_PARTS_DIR, STAGE_FILE
from hfit_dagster.template.loader import parse_template
from tests.conftest import fill_mariadb, mariadb_source_settings
from tests.pipeline.test_local_build import dangling_foreign_keys, load_into_mariadb, row_counts

pytestmark = pytest.mark.mariadb

STREAMED = f"{SQL_FILE}: written while the tables are read"


@pytest.fixture
def settings(tmp_path: Path, mariadb_database, monkeypatch: pytest.MonkeyPatch):
    name = mariadb_database()
    fill_mariadb(name, {
        "customers": ("id INT PRIMARY KEY, email VARCHAR(80), note VARCHAR(200)",
                      [(i, f"person{i}@corp.example", f"call person{i}@corp.example" if i % 3 else None)
                       for i in range(1, 41)]),
        "orders": ("id INT PRIMARY KEY, customer_id INT NOT NULL, total DECIMAL(8,2), "
                   "FOREIGN KEY (customer_id) REFERENCES customers (id)",
                   [(i, (i * 7) % 40 + 1, i * 1.5) for i in range(1, 121)]),
        "shipments": ("id INT PRIMARY KEY, order_id INT NOT NULL, sku VARCHAR(20), "
                  "FOREIGN KEY (order_id) REFERENCES orders (id)",
                  [(i, (i * 5) % 120 + 1, f"SKU-{i % 13}") for i in range(1, 301)]),
        "other": ("id INT PRIMARY KEY, customer_id INT, FOREIGN KEY (customer_id) REFERENCES customers (id)",
                  [(1, 1)]),
    })
    # batches larger than the tables: one INSERT statement per table, as rendered from the staged Parquet
    return mariadb_source_settings(monkeypatch, tmp_path, name, batch_rows=1000)


def _template(customers_query: str = "SELECT * FROM customers", note_rule: str = "redact_text") -> str:
    # read by export name: customers, orders, shipments - foreign-key order too
    return f"""
templateName: streamed
exports:
  shipments:
    provider: SRC
    query: SELECT * FROM shipments
  orders:
    provider: SRC
    query: SELECT * FROM orders
  customers:
    provider: SRC
    query: {customers_query}
subset:
  follow_parents: true
masking:
  customers.email: email
  customers.note: {note_rule}
  default: keep
"""


def _stage(settings, staging: Path, template: str, sql: SqlOptions | None) -> list[str]:
    messages: list[str] = []
    staging.mkdir()
    stage_template(parse_template(template), {}, settings, staging, progress=messages.append, sql=sql)
    return messages


@pytest.mark.parametrize("dialect", ["mysql", "postgresql", "sqlite"])
def test_script_written_while_reading_is_the_script_assembled_afterwards(settings, tmp_path: Path,
                                                                        dialect: str) -> None:
    """Read in foreign-key order: the same bytes as the script rendered from the staged Parquet, and the
    manifest's digest is the file's; no part file is written."""
    scripts = {}
    for run, sql in (("streamed", SqlOptions(version="v1", dialect=dialect)), ("after", None)):
        staging = tmp_path / run
        messages = _stage(settings, staging, _template(), sql)
        assert (STREAMED in messages) is (sql is not None)
        assert not (staging / SQL_PARTS_DIR).exists()
        if sql is not None:
            assert json.loads((staging / STAGE_FILE).read_text())[ASSEMBLED_SQL] is not None
        manifest = write_package(staging, "v1", dialect=dialect)
        scripts[run] = (staging / SQL_FILE).read_bytes()
        assert manifest.files[SQL_FILE].sha256 == hashlib.sha256(scripts[run]).hexdigest()
        assert manifest.files[SQL_FILE].bytes == len(scripts[run])
    assert scripts["streamed"] == scripts["after"]
    text = scripts["streamed"].decode()
    assert text.count("INSERT INTO") == 3 and text.count("\n(") > 400
    positions = [text.index(f"INSERT INTO {q}{name}{q}") for q in ("`" if dialect == "mysql" else '"',)
                 for name in ("customers", "orders", "shipments")]
    assert positions == sorted(positions)


def test_rows_of_followed_parents_after_their_children_still_load(settings, tmp_path: Path, mariadb_database) -> None:
    """customers exports only a few rows; the others its orders need are fetched at the end, after the orders
    and shipments were written: their INSERTs come last, and the script loads with every foreign key satisfied."""
    staging = tmp_path / "built"
    messages = _stage(settings, staging, _template("SELECT * FROM customers WHERE id <= 5"),
                      SqlOptions(version="v1"))
    assert STREAMED in messages
    write_package(staging, "v1")
    text = (staging / SQL_FILE).read_text()
    assert text.rindex("INSERT INTO `customers`") > text.rindex("INSERT INTO `shipments`")
    database = mariadb_database()
    load_into_mariadb(staging, database)
    assert row_counts(database) == {"customers": 40, "orders": 120, "shipments": 300}
    assert set(dangling_foreign_keys(database).values()) == {0}


def test_a_table_outside_the_exports_means_parts_as_before(settings, tmp_path: Path) -> None:
    """A foreign key to a table no export reads (following parents may add it) or an export's children (which
    may stay empty, out of the package): the tables are not certain before reading, so the INSERTs go to part
    files assembled at the end, as before."""
    head = "templateName: parts\nsubset:\n  follow_parents: true\nexports:\n"
    orders = "  orders:\n    provider: SRC\n    query: SELECT * FROM orders\n"
    no_customers = head + orders + "  shipments:\n    provider: SRC\n    query: SELECT * FROM shipments\n"
    children = (head + orders + "    children:\n      shipments: {}\n"
                + "  customers:\n    provider: SRC\n    query: SELECT * FROM customers\n"
                + "masking:\n  customers.email: email\n  customers.note: redact_text\n")
    for n, template in enumerate((no_customers, children)):
        staging = tmp_path / str(n)
        messages = _stage(settings, staging, template, SqlOptions(version="v1"))
        assert STREAMED not in messages
        manifest = write_package(staging, "v1")
        assert manifest.files[SQL_FILE].sha256 == hashlib.sha256((staging / SQL_FILE).read_bytes()).hexdigest()
        assert sorted(t.name for t in manifest.tables) == ["customers", "orders", "shipments"]


def test_a_build_failing_while_reading_leaves_no_script(settings, tmp_path: Path) -> None:
    """A failure half-way (here: the build is stopped when the second table is queried) removes the script
    that was being written; nothing of it stays in the staging directory."""
    staging = tmp_path / "failed"
    staging.mkdir()

    def stop_at_orders(message: str) -> None:
        if message == "orders: querying":
            assert (staging / SQL_FILE).exists()  # being written: header, the customers' rows
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        stage_template(parse_template(_template()), {}, settings, staging, progress=stop_at_orders,
                       sql=SqlOptions(version="v1"))
    assert not (staging / SQL_FILE).exists()
