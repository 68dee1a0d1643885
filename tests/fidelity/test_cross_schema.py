"""Foreign keys into another schema (PostgreSQL) or database (MariaDB): the referenced rows are followed into the
package as tables of the package's own schema under their own names, so the package loads in every target with
its foreign keys and every child finds its parent; a parent whose name another table of the package already has
is refused with an error naming the foreign key."""

from __future__ import annotations

from pathlib import Path

import pymysql
import pytest

from hfit_dagster.errors import ProviderError
from hfit_dagster.pipeline.local_build import build_package
from hfit_dagster.settings import load_settings
from hfit_dagster.template.loader import parse_template
from tests.conftest import MARIADB, TEST_MASKING_KEY
from tests.fidelity.engines import ENGINES, read_rows, run_script, url

pytestmark = [pytest.mark.slow, pytest.mark.mariadb, pytest.mark.postgres]

PG_SETUP = """
CREATE SCHEMA sales; CREATE SCHEMA crm;
CREATE TABLE crm.customers (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE sales.orders (id int PRIMARY KEY, customer_id int REFERENCES crm.customers (id), total numeric(8,2));
INSERT INTO crm.customers VALUES (1, 'Ann'), (2, 'Bo'), (3, 'never ordered');
INSERT INTO sales.orders VALUES (10, 1, 5.50), (11, 2, 6), (12, NULL, 7), (13, 1, 8);
"""

TEMPLATE = """
templateName: cross-schema
providers:
  SRC: {schema: sales}
exports:
  orders: {provider: SRC, query: 'SELECT * FROM orders ORDER BY id'}
masking:
  default: keep
"""


def _database(engine: str, mariadb_database, postgres_database, tmp_path: Path) -> str:
    if engine == "mysql":
        return mariadb_database()
    if engine == "postgresql":
        return postgres_database()
    return str(tmp_path / "target.db")


def _use(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, source_url: str) -> None:
    monkeypatch.setenv("HFIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HFIT_MASKING_KEY", TEST_MASKING_KEY)
    monkeypatch.setenv("HFIT_PROVIDER_SRC_URL", source_url)


def _load_and_check(target: str, built, target_db: str, parent: str, want_parent: list[tuple],
                    want_child: list[tuple], child: str = "orders", fk: str = "customer_id") -> None:
    done = run_script(target, target_db, built.path / "package.sql")
    assert done.returncode == 0, done.stderr.decode()[-600:]
    assert not any(t.omitted_foreign_keys for t in built.manifest.tables)
    got_parent = read_rows(target, target_db, parent, ["id", "name"], "id")
    got_child = read_rows(target, target_db, child, ["id", fk], "id")
    assert [tuple(r) for r in got_parent] == want_parent
    assert [tuple(r) for r in got_child] == want_child
    script = (built.path / "package.sql").read_text(encoding="utf-8")
    assert "FOREIGN KEY" in script and "REFERENCES" in script


@pytest.mark.parametrize("target", ENGINES)
def test_postgresql_parent_in_another_schema_is_followed(target: str, postgres_database, mariadb_database,
                                                         tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """sales.orders.customer_id -> crm.customers.id with a template reading schema sales: the customers the orders
    reference (not the one without orders) are in the package as its table customers, and the orders' foreign
    key loads (PostgreSQL checks it after the data)."""
    source = postgres_database()
    done = run_script("postgresql", source, PG_SETUP)
    assert done.returncode == 0, done.stderr.decode()
    _use(monkeypatch, tmp_path, url("postgresql", source))
    built = build_package(parse_template(TEMPLATE), {}, load_settings(), dialect=target)
    assert {t.name: (t.role, t.rows) for t in built.manifest.tables} == {
        "customers": ("parent", 2), "orders": ("export", 4)}
    _load_and_check(target, built, _database(target, mariadb_database, postgres_database, tmp_path),
                    "customers", [(1, "Ann"), (2, "Bo")], [(10, 1), (11, 2), (12, None), (13, 1)])


@pytest.mark.parametrize("target", ENGINES)
def test_mariadb_parent_in_another_database_is_followed(target: str, postgres_database, mariadb_database,
                                                        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A MariaDB foreign key into another database (db1.items.product_id -> db2.products.id): the referenced
    products are followed into the package as its table products, loaded with the foreign key."""
    db1, db2 = mariadb_database(), mariadb_database()
    with pymysql.connect(**MARIADB, charset="utf8mb4") as conn, conn.cursor() as cur:
        cur.execute(f"CREATE TABLE `{db2}`.products (id INT PRIMARY KEY, name VARCHAR(20) NOT NULL)")
        cur.execute(f"CREATE TABLE `{db1}`.items (id INT PRIMARY KEY, product_id INT, "
                    f"FOREIGN KEY (product_id) REFERENCES `{db2}`.products (id))")
        cur.execute(f"INSERT INTO `{db2}`.products VALUES (1, 'nut'), (2, 'bolt'), (3, 'unused')")
        cur.execute(f"INSERT INTO `{db1}`.items VALUES (10, 2), (11, NULL), (12, 1)")
        conn.commit()
    _use(monkeypatch, tmp_path, url("mysql", db1))
    template = """
templateName: cross-database
exports:
  items: {provider: SRC, query: 'SELECT * FROM items ORDER BY id'}
masking:
  default: keep
"""
    built = build_package(parse_template(template), {}, load_settings(), dialect=target)
    _load_and_check(target, built, _database(target, mariadb_database, postgres_database, tmp_path),
                    "products", [(1, "nut"), (2, "bolt")], [(10, 2), (11, None), (12, 1)],
                    child="items", fk="product_id")


def test_a_parent_whose_name_the_package_has_is_refused(postgres_database, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """When schema sales has a customers table of its own in the package, crm.customers cannot join it under the
    same name: the build fails naming the foreign key and both tables, instead of wiring the key to the wrong
    table."""
    source = postgres_database()
    done = run_script("postgresql", source, PG_SETUP + "CREATE TABLE sales.customers (id int PRIMARY KEY);")
    assert done.returncode == 0, done.stderr.decode()
    _use(monkeypatch, tmp_path, url("postgresql", source))
    template = """
templateName: cross-schema-collision
providers:
  SRC: {schema: sales}
exports:
  customers: {provider: SRC, query: 'SELECT * FROM customers'}
  orders: {provider: SRC, query: 'SELECT * FROM orders ORDER BY id'}
masking:
  default: keep
"""
    with pytest.raises(ProviderError) as refused:
        build_package(parse_template(template), {}, load_settings(), dialect="postgresql")
    message = str(refused.value)
    assert "orders(customer_id) -> crm.customers(id)" in message and "customers" in message
    assert "Ann" not in message


def test_without_following_the_foreign_key_is_left_out_and_listed(postgres_database, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """With follow_parents off, the orders load without crm.customers: the foreign key is left out of the DDL and
    listed in the manifest, the customer ids kept."""
    source = postgres_database()
    done = run_script("postgresql", source, PG_SETUP)
    assert done.returncode == 0, done.stderr.decode()
    _use(monkeypatch, tmp_path, url("postgresql", source))
    template = TEMPLATE.replace("masking:", "subset:\n  follow_parents: false\nmasking:")
    built = build_package(parse_template(template), {}, load_settings(), dialect="postgresql")
    assert [(t.name, t.omitted_foreign_keys) for t in built.manifest.tables] == [
        ("orders", ["orders.customer_id -> customers.id"])]
    target = postgres_database()
    done = run_script("postgresql", target, built.path / "package.sql")
    assert done.returncode == 0, done.stderr.decode()[-600:]
    assert [tuple(r) for r in read_rows("postgresql", target, "orders", ["id", "customer_id"], "id")] == [
        (10, 1), (11, 2), (12, None), (13, 1)]
