"""End to end: a template becomes a masked package that loads into a real MariaDB."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pymysql
import pytest
import sqlalchemy as sa

from hfit_dagster.pipeline.local_build import BuiltPackage, build_package
from hfit_dagster.settings import HfitSettings, load_settings
from hfit_dagster.template.loader import resolve_template
from tests.conftest import DEMO_CUSTOMERS, DEMO_NOW, MARIADB, TEMPLATES, mariadb_url

pytestmark = pytest.mark.mariadb

WINDOW = {"start_time": "2024-10-15 14:30:00", "end_time": "2024-10-15 15:00:00"}


@pytest.fixture(scope="module")
def incident_customers(demo_source: str) -> list[int]:
    """Customers of the demo source with a failed payment in the incident window (found by SQL)."""
    engine = sa.create_engine(demo_source)
    with engine.connect() as conn:
        ids = conn.execute(sa.text(
            "SELECT DISTINCT o.customer_id FROM payments p JOIN orders o ON o.id = p.order_id "
            "WHERE p.status = 'failed' AND p.created_at BETWEEN :s AND :e ORDER BY 1"
        ), {"s": WINDOW["start_time"], "e": WINDOW["end_time"] + ".999999"}).scalars().all()
    engine.dispose()
    assert len(ids) >= 3
    return list(ids[:3])


def build(name: str, settings: HfitSettings, **params: str) -> BuiltPackage:
    return build_package(resolve_template(name, TEMPLATES).spec, params, settings)


def load_into_mariadb(package: Path, database: str) -> None:
    with (package / "package.sql").open("rb") as script:
        done = subprocess.run(["mariadb", "-h127.0.0.1", "-uroot", database], stdin=script,
                              capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()[:500]


def dangling_foreign_keys(database: str) -> dict[str, int]:
    """Every FK in the loaded database checked by a LEFT JOIN: child rows whose parent is missing."""
    counts: dict[str, int] = {}
    with pymysql.connect(**MARIADB, database=database) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT TABLE_NAME, COLUMN_NAME, REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME "
            "FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = %s AND REFERENCED_TABLE_NAME IS NOT NULL",
            (database,),
        )
        for table, column, parent, parent_column in cur.fetchall():
            cur.execute(
                f"SELECT COUNT(*) FROM `{table}` c LEFT JOIN `{parent}` p ON c.`{column}` = p.`{parent_column}` "
                f"WHERE c.`{column}` IS NOT NULL AND p.`{parent_column}` IS NULL"
            )
            counts[f"{table}.{column}"] = cur.fetchone()[0]
    return counts


def row_counts(database: str) -> dict[str, int]:
    with pymysql.connect(**MARIADB, database=database) as conn, conn.cursor() as cur:
        cur.execute("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s", (database,))
        tables = [r[0] for r in cur.fetchall()]
        out = {}
        for table in tables:
            quoted = table.replace("`", "``")
            cur.execute(f"SELECT COUNT(*) FROM `{quoted}`")
            out[table] = cur.fetchone()[0]
    return out


def test_demo_package_loads_into_mariadb_with_no_dangling_keys(settings: HfitSettings, mariadb_database) -> None:
    """`mysql test_db < package.sql` works; counts match the manifest; every FK is satisfied."""
    built = build("daily-dev-scenario", settings)
    manifest = json.loads((built.path / "manifest.json").read_text())
    assert {t["name"] for t in manifest["tables"]} >= {"customers", "orders", "order_items", "payments", "products"}
    assert next(t for t in manifest["tables"] if t["name"] == "products")["role"] == "parent"
    database = mariadb_database()
    load_into_mariadb(built.path, database)
    assert row_counts(database) == {t["name"]: t["rows"] for t in manifest["tables"]}
    assert manifest["tables"][0]["rows"] > 0
    dangling = dangling_foreign_keys(database)
    assert dangling and set(dangling.values()) == {0}
    for name, entry in manifest["files"].items():
        assert len(entry["sha256"]) == 64, name


def _source_pii(url: str) -> dict[str, set[str]]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT first_name, last_name, email, phone FROM customers").fetchall()
        cards = conn.exec_driver_sql(
            "SELECT card_number FROM payment_methods WHERE card_number IS NOT NULL").fetchall()
    engine.dispose()
    return {
        "full_name": {f"{r[0]} {r[1]}" for r in rows},
        "email": {r[2] for r in rows},
        "phone": {r[3] for r in rows if r[3]},
        "card": {r[0] for r in cards},
    }


def _package_text(path: Path) -> str:
    """Every byte of the package as text: the SQL and manifest as written, Parquet values decoded."""
    parts = [(path / "package.sql").read_text(), (path / "manifest.json").read_text()]
    for parquet in sorted((path / "parquet").glob("*.parquet")):
        parts.append(json.dumps(pq.read_table(parquet).to_pylist(), default=str))
    return "\n".join(parts)


def test_no_personal_value_of_the_source_appears_in_the_package(settings: HfitSettings, demo_source: str) -> None:
    """No email, phone, card number or full name of the demo source appears anywhere in the package."""
    built = build("daily-dev-scenario", settings, row_limit="400")
    text = _package_text(built.path)
    pii = _source_pii(demo_source)
    for kind, values in pii.items():
        leaked = sorted(v for v in values if v in text)
        assert not leaked, f"{kind}: {len(leaked)} source values found in the package"
    assert "@example." in text  # masked emails are still emails


def test_same_template_twice_gives_the_same_masked_values(settings: HfitSettings) -> None:
    """Stable fakes: two builds of the same rows mask every value identically (joins across builds work)."""
    first = build("integration-test-suite", settings)
    second = build("integration-test-suite", settings)
    assert first.path != second.path
    for parquet in (first.path / "parquet").glob("*.parquet"):
        assert pq.read_table(parquet).equals(pq.read_table(second.path / "parquet" / parquet.name)), parquet.name


def test_payment_incident_window(settings: HfitSettings, incident_customers: list[int]) -> None:
    """The incident template returns the customers asked for, their methods and only payments in the window."""
    ids = ",".join(map(str, incident_customers))
    built = build("payment-incident", settings, customer_ids=ids, **WINDOW)
    tables = {p.stem: pq.read_table(p) for p in (built.path / "parquet").glob("*.parquet")}
    assert sorted(tables["customers"].column("id").to_pylist()) == incident_customers
    assert tables["payments"].num_rows >= 3
    for created in tables["payments"].column("created_at").to_pylist():
        assert "2024-10-15 14:30:00" <= created.isoformat(sep=" ") <= "2024-10-15 15:00:00"
    assert "orders" in tables  # parent of payments, added by follow_parents


@pytest.fixture
def mariadb_demo_source(mariadb_database) -> str:
    from hfit_dagster.demo.shop_generator import generate_shop

    url = mariadb_url(mariadb_database())
    generate_shop(url, customers=DEMO_CUSTOMERS, now=DEMO_NOW)
    return url


@pytest.mark.parametrize("template", ["daily-dev-scenario", "integration-test-suite", "payment-incident"])
def test_mariadb_source_gives_the_same_rows_as_sqlite(template: str, hfit_home: Path, mariadb_demo_source: str,
                                                      incident_customers: list[int],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The same template over a MariaDB copy of the demo source gives the same row counts as over SQLite."""
    incident = {"customer_ids": ",".join(map(str, incident_customers)), **WINDOW}
    params = incident if template == "payment-incident" else {"since": DEMO_NOW.replace(day=1).isoformat()}
    on_sqlite = build(template, load_settings(), **params).manifest
    monkeypatch.setenv("HFIT_PROVIDER_PROD_REPLICA_URL", mariadb_demo_source)
    on_mariadb = build(template, load_settings(), **params).manifest
    assert on_mariadb.providers == {"PROD_REPLICA": "mysql"}
    assert {t.name: t.rows for t in on_mariadb.tables} == {t.name: t.rows for t in on_sqlite.tables}
    assert on_sqlite.total_rows() > 0


def test_package_sql_has_no_unmasked_email_shape(settings: HfitSettings) -> None:
    """Every email-like string in the SQL is on a reserved example domain."""
    built = build("daily-dev-scenario", settings)
    emails = re.findall(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", (built.path / "package.sql").read_text())
    assert emails
    assert all(re.search(r"@example\.(com|net|org)$", e) for e in emails), emails[:5]
