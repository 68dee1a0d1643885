"""Enum types of first names on real sources: a MariaDB ENUM('Olivia', 'Mateo', ...) is masked (labels in the DDL
and values) while a status ENUM beside it is kept; a PostgreSQL enum type used by a masked column and by a lookup
column the template keeps is one type in the package, its labels faked once, the kept column's values their
labels' fakes, so the package loads into MariaDB and PostgreSQL, joins on the name still match, and no original
label is anywhere in package.sql, the Parquet files or the manifest."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import psycopg
import pymysql
import pytest
from faker import Faker

from hfit_dagster.errors import BuildError
from hfit_dagster.pipeline.local_build import build_package
from hfit_dagster.settings import load_settings
from hfit_dagster.template.loader import parse_template
from tests.conftest import MARIADB, TEST_MASKING_KEY, fill_mariadb, mariadb_source_settings
from tests.pipeline.test_local_build import load_into_mariadb
from tests.privacy.column_outputs import originals_found

ROWS = 60


def first_names() -> list[str]:
    """Single first names drawn from several locales' pools (ASCII-free ones too)."""
    names: list[str] = []
    for i, locale in enumerate(["en_US", "es_ES", "de_DE", "pl_PL", "fr_FR", "sv_SE"]):
        f = Faker(locale)
        f.seed_instance(i)
        names += [n for n in (f.first_name() for _ in range(6)) if " " not in n][:2]
    return list(dict.fromkeys(names))


def _operators(built) -> dict[tuple[str, str], str]:
    return {(t.name, c.name): c.masking["operator"] for t in built.manifest.tables for c in t.columns}


def _psql(database: str, package: Path) -> None:
    loaded = subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", database, "-v", "ON_ERROR_STOP=1",
                             "-q", "-X", "-f", str(package / "package.sql")], capture_output=True, timeout=300)
    assert loaded.returncode == 0, loaded.stderr.decode()[:500]


def _load_and_query(built, dialect: str, queries: list[str], postgres_database: Callable[[], str],
                    mariadb_database: Callable[[], str]) -> tuple[str, list[tuple]]:
    """The package loaded with its dialect's client into a fresh database of that server (psql into PostgreSQL,
    mysql into MariaDB); the database's name and each query's first row."""
    if dialect == "postgresql":
        target = postgres_database()
        _psql(target, built.path)
        with psycopg.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={target}") as conn:
            return target, [tuple(conn.execute(query).fetchone()) for query in queries]
    target = mariadb_database()
    load_into_mariadb(built.path, target)
    rows = []
    with pymysql.connect(**MARIADB, database=target) as conn, conn.cursor() as cur:
        for query in queries:
            cur.execute(query)
            rows.append(tuple(cur.fetchone()))
    return target, rows


def _use_postgres_source(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database: str) -> None:
    """Builds of this test read provider SRC from ``database`` in the local PostgreSQL, with their own home."""
    monkeypatch.setenv("HFIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HFIT_MASKING_KEY", TEST_MASKING_KEY)
    monkeypatch.setenv("HFIT_PROVIDER_SRC_URL", f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}")

@pytest.mark.mariadb
def test_an_enum_of_first_names_of_mariadb_is_masked_and_a_status_enum_kept(
        mariadb_database: Callable[[], str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """ENUM labels that are single first names were kept as 'not a person' one by one: the column named
    'assignee' of such a type is now masked by first_name, its labels faked in the DDL, no name left anywhere; a
    status ENUM of the same table stays as it is, and the package loads in strict mode."""
    names = first_names()
    source = mariadb_database()
    labels = ", ".join(f"'{n}'" for n in [*names, "unassigned"])
    fill_mariadb(source, {"tickets": (
        f"id INT PRIMARY KEY, assignee ENUM({labels}), state ENUM('open', 'pending', 'closed')",
        [(i, "unassigned" if i % 7 == 0 else names[i % len(names)], ("open", "pending", "closed")[i % 3])
         for i in range(1, ROWS + 1)])})
    settings = mariadb_source_settings(monkeypatch, tmp_path, source, batch_rows=25)
    template = """
templateName: privacy-enum-first-names
exports:
  tickets: {provider: SRC, query: 'SELECT * FROM tickets'}
"""
    built = build_package(parse_template(template), {}, settings)
    assert _operators(built)[("tickets", "assignee")] == "first_name"
    assert _operators(built)[("tickets", "state")] == "keep"
    assert originals_found(built.path, names) == []
    target = mariadb_database()
    load_into_mariadb(built.path, target)
    with pymysql.connect(**MARIADB, database=target) as conn, conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM tickets WHERE assignee = 'unassigned'")
        assert cur.fetchone()[0] == ROWS // 7
        cur.execute("SELECT COUNT(DISTINCT assignee), SUM(state = 'pending') FROM tickets")
        distinct, pending = cur.fetchone()
    assert distinct == len(names) + 1 and pending == ROWS // 3


@pytest.mark.postgres
def test_a_postgres_enum_type_shared_by_a_masked_and_a_kept_column_is_one_faked_type(
        postgres_database: Callable[[], str], mariadb_database: Callable[[], str],
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """``CREATE TYPE person_name AS ENUM(...)`` used by customers.first_name (masked) and by name_days.name, kept by
    the template: the package declared the type once per script with one column's labels and wrote the other's
    values (originals in Parquet, position labels or originals in package.sql). Now both columns take the type's
    label fakes: the PostgreSQL package loads (one CREATE TYPE), the MySQL one into MariaDB, customers join
    name_days on the name, and no original label is in the package."""
    names = first_names()
    source = postgres_database()
    labels = ", ".join(f"'{n}'" for n in [*names, "unknown"])
    with psycopg.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={source}") as conn, conn.cursor() as cur:
        cur.execute(f"CREATE TYPE person_name AS ENUM ({labels})")
        cur.execute("CREATE TABLE name_days (name person_name PRIMARY KEY, day_of_year INT)")
        cur.executemany("INSERT INTO name_days VALUES (%s, %s)", [(n, i * 17 + 1) for i, n in enumerate(names)])
        cur.execute("CREATE TABLE customers (id INT PRIMARY KEY, first_name person_name, segment VARCHAR(10))")
        cur.executemany("INSERT INTO customers VALUES (%s, %s, %s)",
                        [(i, names[i % len(names)] if i % 9 else "unknown", "retail") for i in range(1, ROWS + 1)])
        conn.commit()
    _use_postgres_source(monkeypatch, tmp_path, source)
    spec = parse_template("""
templateName: privacy-shared-enum-type
exports:
  customers: {provider: SRC, query: 'SELECT * FROM customers'}
  name_days: {provider: SRC, query: 'SELECT * FROM name_days'}
masking:
  name_days.name: keep
""")
    joined = ROWS - ROWS // 9
    for dialect in ("postgresql", "mysql"):
        built = build_package(spec, {}, load_settings(), dialect=dialect)
        operators = _operators(built)
        assert operators[("customers", "first_name")] == operators[("name_days", "name")] == "first_name", dialect
        assert originals_found(built.path, names) == [], dialect
        if dialect == "postgresql":
            assert (built.path / "package.sql").read_text().count('CREATE TYPE "person_name"') == 1
        target, [(count,)] = _load_and_query(
            built, dialect, ["SELECT COUNT(*) FROM customers c JOIN name_days d ON d.name = c.first_name"],
            postgres_database, mariadb_database)
        assert count == joined, dialect
        if dialect == "postgresql":
            with psycopg.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={target}") as conn:
                in_type = [r[0] for r in conn.execute("SELECT unnest(enum_range(NULL::person_name))::text")]
            assert len(in_type) == len(names) + 1 and "unknown" in in_type


@pytest.mark.postgres
def test_labels_only_the_writer_replaces_are_named_after_their_postgres_type(
        postgres_database: Callable[[], str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A PostgreSQL enum of regions with one stray first name ('Olivia') is no type of names, yet the SQL writer
    replaces the label it takes for a person in the DDL and the values: used by two kept columns of different
    names, the replacements were named after each column (home_6, region_6) while the type is created once, so
    the second table's values were no member of it. Named after the type, the package loads."""
    source = postgres_database()
    with psycopg.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={source}") as conn, conn.cursor() as cur:
        cur.execute("CREATE TYPE area AS ENUM ('Europe', 'Asia', 'Africa', 'Oceania', 'Antarctica', 'Olivia')")
        cur.execute("CREATE TABLE offices (id INT PRIMARY KEY, home area)")
        cur.execute("CREATE TABLE routes (id INT PRIMARY KEY, region area)")
        for table in ("offices", "routes"):
            cur.executemany(f"INSERT INTO {table} VALUES (%s, %s)",  # noqa: S608 - the test's own names
                            [(i, ("Europe", "Olivia", "Africa")[i % 3]) for i in range(1, 31)])
        conn.commit()
    _use_postgres_source(monkeypatch, tmp_path, source)
    spec = parse_template("""
templateName: privacy-shared-region-type
exports:
  offices: {provider: SRC, query: 'SELECT * FROM offices'}
  routes: {provider: SRC, query: 'SELECT * FROM routes'}
""")
    built = build_package(spec, {}, load_settings(), dialect="postgresql")
    sql = (built.path / "package.sql").read_text()
    assert "'Olivia'" not in sql and sql.count('CREATE TYPE "area"') == 1
    target = postgres_database()
    _psql(target, built.path)
    with psycopg.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={target}") as conn:
        rows = conn.execute("SELECT COUNT(*) FROM offices o JOIN routes r ON r.region = o.home AND r.id = o.id")
        assert rows.fetchone()[0] == 30


def _unlisted_names_type(source: str) -> list[str]:
    """``CREATE TYPE given`` of names no gazetteer lists (Turkish ones), used by name_days.day_name (nothing says
    names: written first) and people.first_name (named like names); 20 rows each, row i holding name i % 5."""
    names = ["Nesip", "Mükrüme", "Hansultan", "Zeynelabidin", "Necva"]
    labels = ", ".join(f"'{n}'" for n in names)
    with psycopg.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={source}") as conn, conn.cursor() as cur:
        cur.execute(f"CREATE TYPE given AS ENUM ({labels})")
        cur.execute("CREATE TABLE name_days (id INT PRIMARY KEY, day_name given)")
        cur.execute("CREATE TABLE people (id INT PRIMARY KEY, first_name given)")
        for table in ("name_days", "people"):
            cur.executemany(f"INSERT INTO {table} VALUES (%s, %s)",  # noqa: S608 - the test's own names
                            [(i, names[i % len(names)]) for i in range(1, 21)])
        conn.commit()
    return names


@pytest.mark.postgres
@pytest.mark.parametrize(("rules", "operator"), [("", "first_name"),
                                                 ("masking:\n  people.first_name: person_name\n", "person_name")])
def test_a_postgres_type_named_names_by_one_column_is_masked_in_every_column_of_it(
        postgres_database: Callable[[], str], mariadb_database: Callable[[], str],
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, rules: str, operator: str) -> None:
    """Names no gazetteer lists in a type used by name_days.day_name (written first, nothing in its name says
    names) and people.first_name (masked by its name, or by a template rule, every label faked): the type's labels
    are decided once for the type, so name_days takes the same fakes by the same operator. The PostgreSQL package
    loads with psql (one CREATE TYPE), the MySQL one into MariaDB, the tables join on the name row for row, and no
    name is anywhere in either package (the PostgreSQL build failed on the type, asking for a rule)."""
    source = postgres_database()
    names = _unlisted_names_type(source)
    _use_postgres_source(monkeypatch, tmp_path, source)
    spec = parse_template("""
templateName: privacy-type-named-by-one-column
exports:
  name_days: {provider: SRC, query: 'SELECT * FROM name_days'}
  people: {provider: SRC, query: 'SELECT * FROM people'}
""" + rules)
    join = "SELECT COUNT(*), COUNT(DISTINCT p.first_name) FROM people p JOIN name_days d ON d.day_name = p.first_name"
    for dialect in ("postgresql", "mysql"):
        built = build_package(spec, {}, load_settings(), dialect=dialect)
        operators = _operators(built)
        assert operators[("people", "first_name")] == operators[("name_days", "day_name")] == operator, dialect
        assert originals_found(built.path, names) == [], dialect
        if dialect == "postgresql":
            assert (built.path / "package.sql").read_text().count('CREATE TYPE "given"') == 1
        _, [joined, (same_rows,)] = _load_and_query(
            built, dialect, [join, "SELECT COUNT(*) FROM people p JOIN name_days d ON d.id = p.id "
                                   "AND d.day_name = p.first_name"], postgres_database, mariadb_database)
        # each of the 5 names is held by 4 rows of each table: 5 x 4 x 4 pairs, and every row meets its own id
        assert tuple(joined) == (80, 5) and same_rows == 20, dialect


@pytest.mark.postgres
def test_a_postgres_type_masked_by_rule_and_kept_by_the_keep_default_fails_by_name_not_by_leaking(
        postgres_database: Callable[[], str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """With the masking default 'keep' (local experiments keep what no rule masks, enum labels too), a rule
    masking people.first_name and name_days.day_name of the same type kept: PostgreSQL creates the type once, so
    one of the two cannot be what it asks. The build fails naming the type and the rule to give, without a name
    in the error, and publishes nothing."""
    source = postgres_database()
    names = _unlisted_names_type(source)
    _use_postgres_source(monkeypatch, tmp_path, source)
    spec = parse_template("""
templateName: privacy-type-kept-and-masked
exports:
  name_days: {provider: SRC, query: 'SELECT * FROM name_days'}
  people: {provider: SRC, query: 'SELECT * FROM people'}
masking:
  people.first_name: first_name
  default: keep
""")
    with pytest.raises(BuildError) as failed:
        build_package(spec, {}, load_settings(), dialect="postgresql")
    assert "given" in str(failed.value) and "same masking rule" in (failed.value.hint or "")
    assert not any(n in str(failed.value) for n in names)
    assert not list((tmp_path / "home").rglob("package.sql"))
