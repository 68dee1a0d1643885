"""A template can name a schema and never reads or reflects another schema's table of the same name: on
PostgreSQL (``sales.region`` beside ``public.region``) and on MariaDB (a second database)."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pyarrow.parquet as pq
import pymysql
import pytest

from hfit_dagster.errors import HfitError
from hfit_dagster.pipeline.local_build import build_package
from hfit_dagster.settings import load_settings
from hfit_dagster.template.loader import parse_template
from tests.conftest import MARIADB, PG_ADMIN, TEST_MASKING_KEY, mariadb_url

SCHEMA_TEMPLATES = {
    "per export": """
templateName: sales
exports:
  region: {provider: SRC, schema: sales, query: "SELECT * FROM region"}
  orders: {provider: SRC, schema: sales, query: "SELECT * FROM orders WHERE region_id IN :region.id"}
masking: {default: keep}
""",
    "per provider, qualified query": """
templateName: sales
providers: {SRC: {schema: sales}}
exports:
  region: {provider: SRC, query: "SELECT r.* FROM sales.region AS r"}
  orders: {provider: SRC, query: "SELECT * FROM orders"}
masking: {default: keep}
""",
}


def use_source(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, url: str) -> None:
    monkeypatch.setenv("HFIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HFIT_MASKING_KEY", TEST_MASKING_KEY)
    monkeypatch.setenv("HFIT_PROVIDER_SRC_URL", url)


@pytest.fixture
def postgres_schemas(postgres_database) -> str:
    name = postgres_database()
    with psycopg.connect(PG_ADMIN.replace("dbname=postgres", f"dbname={name}"), autocommit=True) as conn:
        conn.execute("CREATE SCHEMA sales")
        conn.execute("CREATE TABLE public.region (id int PRIMARY KEY, public_only text)")
        conn.execute("CREATE TABLE public.orders (id int PRIMARY KEY)")
        conn.execute("CREATE TABLE sales.region (id int PRIMARY KEY, name text NOT NULL)")
        conn.execute("CREATE TABLE sales.orders (id int PRIMARY KEY, region_id int REFERENCES sales.region (id))")
        conn.execute("INSERT INTO public.region VALUES (7, 'wrong')")
        conn.execute("INSERT INTO sales.region VALUES (1, 'north'), (2, 'south')")
        conn.execute("INSERT INTO sales.orders VALUES (10, 1), (11, 2), (12, NULL)")
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def sales_rows(path: Path) -> tuple[list[str], list[dict], int]:
    region = pq.read_table(path / "parquet" / "region.parquet")
    orders = pq.read_table(path / "parquet" / "orders.parquet")
    return region.schema.names, sorted(region.to_pylist(), key=lambda r: r["id"]), orders.num_rows


@pytest.mark.postgres
@pytest.mark.parametrize("variant", sorted(SCHEMA_TEMPLATES))
def test_postgres_template_reads_its_schema(postgres_schemas: str, tmp_path: Path, monkeypatch, variant: str) -> None:
    use_source(monkeypatch, tmp_path, postgres_schemas)
    built = build_package(parse_template(SCHEMA_TEMPLATES[variant]), {}, load_settings(), dialect="sqlite")
    names, regions, orders = sales_rows(built.path)
    assert names == ["id", "name"] and regions == [{"id": 1, "name": "north"}, {"id": 2, "name": "south"}]
    assert orders == (2 if "IN :region.id" in SCHEMA_TEMPLATES[variant] else 3)  # order 12 has no region
    assert built.manifest.checks["foreign_keys"]["dangling_references"] == 0


@pytest.mark.postgres
def test_postgres_other_schemas_stay_out(postgres_schemas: str, tmp_path: Path, monkeypatch) -> None:
    """Without ``schema:`` a query on sales.region is refused (never read with public.region's definition);
    with ``schema: sales`` a query on public.region is refused; an unknown schema is named."""
    use_source(monkeypatch, tmp_path, postgres_schemas)
    unnamed = "templateName: t\nexports:\n  region: {provider: SRC, query: SELECT * FROM sales.region}\n"
    with pytest.raises(HfitError, match="sales.region is not in the provider's own"):
        build_package(parse_template(unnamed), {}, load_settings(), dialect="sqlite")
    other = ("templateName: t\nexports:\n  region: {provider: SRC, schema: sales, "
             "query: SELECT * FROM public.region}\n")
    with pytest.raises(HfitError, match="public.region is not in the provider's own"):
        build_package(parse_template(other), {}, load_settings(), dialect="sqlite")
    missing = "templateName: t\nexports:\n  region: {provider: SRC, schema: nosuch, query: SELECT * FROM region}\n"
    with pytest.raises(HfitError, match="has no schema 'nosuch'"):
        build_package(parse_template(missing), {}, load_settings(), dialect="sqlite")


@pytest.mark.mariadb
def test_mariadb_template_reads_its_database(mariadb_database, tmp_path: Path, monkeypatch) -> None:
    home, sales = mariadb_database(), mariadb_database()
    with pymysql.connect(**MARIADB) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE TABLE `{home}`.region (id INT PRIMARY KEY, public_only TEXT)")
        cur.execute(f"CREATE TABLE `{sales}`.region (id INT PRIMARY KEY, name VARCHAR(20) NOT NULL)")
        cur.execute(f"CREATE TABLE `{sales}`.orders (id INT PRIMARY KEY, region_id INT, "
                    "FOREIGN KEY (region_id) REFERENCES region (id))")
        cur.execute(f"INSERT INTO `{sales}`.region VALUES (1, 'north'), (2, 'south')")
        cur.execute(f"INSERT INTO `{sales}`.orders VALUES (10, 1), (11, 2), (12, NULL)")
        conn.commit()
    use_source(monkeypatch, tmp_path, mariadb_url(home))
    template = SCHEMA_TEMPLATES["per export"].replace("schema: sales", f"schema: {sales}")
    built = build_package(parse_template(template), {}, load_settings(), dialect="sqlite")
    names, regions, orders = sales_rows(built.path)
    assert names == ["id", "name"] and regions == [{"id": 1, "name": "north"}, {"id": 2, "name": "south"}]
    assert orders == 2
    missing = "templateName: t\nexports:\n  region: {provider: SRC, schema: nosuch, query: SELECT * FROM region}\n"
    with pytest.raises(HfitError, match="has no database 'nosuch'"):
        build_package(parse_template(missing), {}, load_settings(), dialect="sqlite")
