"""The SQL guard holds against classes of attack, not a list: generated variants of each class are refused when a
template is loaded, and again on the source's own connection (MariaDB, PostgreSQL, SQLite) when the parse at load
time is bypassed; legitimate queries still run and return exactly the rows their raw text returns."""

from __future__ import annotations

import itertools
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pymysql
import pytest
import sqlalchemy as sa

from hfit_dagster.errors import QueryRefused
from hfit_dagster.extract.query_guard import guarded_clause
from hfit_dagster.extract.source import reflect_tables, stream_query
from hfit_dagster.template.query import ExportQuery
from tests.conftest import MARIADB, mariadb_url

# Calls that read files, run SQL from a string, change state, wait, lock, or tell about the server.
DANGEROUS_CALLS = [
    "LOAD_FILE('/etc/passwd')", "pg_read_file('/etc/passwd')", "pg_read_binary_file('/etc/passwd')",
    "pg_ls_dir('.')", "pg_stat_file('postgresql.conf')", "lo_import('/etc/passwd')", "lo_export(1, '/tmp/x')",
    "lo_create(0)", "lo_get(1)", "lo_open(1, 262144)", "lo_unlink(1)",
    "query_to_xml('select 1', true, true, '')", "query_to_xml_and_xmlschema('select 1', true, true, '')",
    "table_to_xml('pg_authid', true, true, '')", "cursor_to_xml('c', 1, true, true, '')",
    "database_to_xml(true, true, '')", "schema_to_xml('public', true, true, '')", "xpath('/a', '<a/>')",
    "query_to_json('select 1')", "dblink('host=x', 'select 1')", "dblink_exec('host=x', 'drop table t')",
    "pg_advisory_lock(1)", "pg_advisory_lock_shared(1)", "pg_advisory_xact_lock_shared(1)",
    "pg_try_advisory_lock(1)", "pg_notify('c', 'p')", "pg_stat_reset()", "pg_stat_reset_shared('bgwriter')",
    "pg_switch_wal()", "pg_create_restore_point('x')", "pg_terminate_backend(1)", "pg_cancel_backend(1)",
    "pg_reload_conf()", "pg_rotate_logfile()", "set_config('log_statement', 'none', false)",
    "current_setting('data_directory')", "nextval('s')", "setval('s', 1)", "currval('s')", "txid_current()",
    "pg_sleep(1)", "pg_sleep_for('1 s')", "pg_logical_emit_message(true, 'p', 'x')", "version()",
    "inet_server_addr()", "pg_backend_pid()", "current_user", "session_user", "current_database()",
    "SLEEP(1)", "BENCHMARK(1000, MD5('a'))", "GET_LOCK('a', 1)", "RELEASE_LOCK('a')", "IS_FREE_LOCK('a')",
    "MASTER_POS_WAIT('f', 1)", "MASTER_GTID_WAIT('0-1-1')", "SOURCE_POS_WAIT('f', 1)",
    "WAIT_FOR_EXECUTED_GTID_SET('x')", "SYS_EXEC('id')", "VERSION()", "DATABASE()", "USER()", "SYSTEM_USER()",
    "CONNECTION_ID()", "LAST_INSERT_ID()", "FOUND_ROWS()", "ROW_COUNT()", "UUID_SHORT()", "NEXTVAL(s)",
    "LASTVAL(s)", "SETVAL(s, 1)", "JSON_TABLE('[1]', '$[*]' COLUMNS (a INT PATH '$'))",
    "load_extension('x')", "readfile('/etc/passwd')", "writefile('/tmp/x', 'y')", "edit('x')",
    "fts3_tokenizer('x')", "sqlite_version()", "my_schema.my_function(1)", "public.f(1)",
]
# Where a call can hide in a SELECT.
POSITIONS = [
    "SELECT {call} FROM customers",
    "SELECT id FROM customers WHERE id = {call}",
    "SELECT id FROM customers WHERE EXISTS (SELECT {call})",
    "SELECT id FROM (SELECT id, {call} AS x FROM customers) AS t",
    "WITH c AS (SELECT {call} AS x) SELECT id FROM customers, c",
    "SELECT id FROM customers ORDER BY {call}",
    "SELECT id FROM customers GROUP BY id HAVING COUNT(*) > {call}",
    "SELECT id FROM customers UNION SELECT {call}",
    "SELECT c.id FROM customers c JOIN orders o ON o.customer_id = c.id AND {call} IS NOT NULL",
    "SELECT CASE WHEN id > 0 THEN {call} END FROM customers",
    "SELECT COALESCE(NULL, {call}) FROM customers",
]
EXECUTABLE_COMMENTS = ["/*!", "/*!50000", "/*!999999", "/*M!", "/*m!", "/*M!100000", "/*+", "/* +", "/*!32302"]
COMMENT_BODIES = [
    " UNION SELECT 2, LOAD_FILE('/etc/os-release') */", "INTO OUTFILE '/tmp/hfit_guard_x' */",
    " AND SLEEP(1) */", " NO_INDEX(customers) */", "*/",
]
SYSTEM_TABLES = [
    "mysql.user", "`mysql`.`user`", "MySQL.User", "information_schema.tables", "INFORMATION_SCHEMA.COLUMNS",
    "performance_schema.threads", "sys.session", "pg_catalog.pg_authid", '"pg_catalog"."pg_shadow"',
    "PG_CATALOG.PG_ROLES", "pg_authid", "pg_shadow", "pg_stat_activity", "pg_settings", "pg_file_settings",
    "pg_hba_file_rules", "PG_USER", "pg_toast.pg_toast_1", "sqlite_master", "sqlite_schema", "SQLITE_TEMP_MASTER",
    "temp.t", "other_db.some_schema.t", "catalog.db.t",
]
VARIABLES = ["@a", "@@version", "@@global.general_log", "@a := 1", "@@session.sql_mode", "$1"]


def _variants() -> Iterator[str]:
    for call, position in itertools.product(DANGEROUS_CALLS, POSITIONS):
        yield position.format(call=call)
        yield position.format(call=call.swapcase())
    for opener, body in itertools.product(EXECUTABLE_COMMENTS, COMMENT_BODIES):
        yield f"SELECT id FROM customers {opener}{body}"
        yield f"SELECT id {opener}{body} FROM customers"
    for table in SYSTEM_TABLES:
        yield f"SELECT * FROM {table}"
        yield f"SELECT c.id FROM customers c JOIN {table} s ON 1 = 1"
        yield f"SELECT id FROM customers WHERE id IN (SELECT 1 FROM {table})"
        yield f"WITH x AS (SELECT * FROM {table}) SELECT * FROM x"
    for variable in VARIABLES:
        yield f"SELECT {variable} FROM customers"
        yield f"SELECT id FROM customers WHERE id = {variable}"


ATTACKS = list(dict.fromkeys(_variants()))

ACCEPTED = [
    "SELECT * FROM customers WHERE last_purchase_date >= DATE_SUB(NOW(), INTERVAL 30 DAY) LIMIT 50",
    "SELECT c.* FROM customers c WHERE c.id IN :ids AND c.email LIKE 'a\\_%' ORDER BY c.id",
    "SELECT o.* FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.total BETWEEN 10 AND 20",
    "SELECT DATE_FORMAT(created_at, '%Y-%m') AS m, COUNT(*) FROM `orders` GROUP BY m",
    "SELECT o.total::text, o.note ILIKE '%x%' FROM orders o WHERE o.created_at >= now() - INTERVAL '7 days'",
    "SELECT strftime('%Y', created_at), total FROM orders WHERE customer_id IN :customers.id",
    "SELECT * FROM customers /* a reviewer's note; not executable */ WHERE id > 0 -- trailing note",
    "SELECT id, ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY created_at) AS n FROM orders",
    "SELECT * FROM customers WHERE EXISTS (SELECT 1 FROM orders WHERE orders.customer_id = customers.id)",
    "SELECT COALESCE(note, ''), UPPER(LEFT(name, 1)), LENGTH(name), ROUND(total, 2) FROM customers, orders",
]


def test_every_generated_attack_is_refused_when_the_template_is_loaded() -> None:
    """Each class (dangerous calls in every position and casing, executable comments, system catalogs, other
    databases, variables) is refused as a typed error before anything connects; the figure is printed."""
    held = []
    for sql in ATTACKS:
        try:
            ExportQuery.parse(sql)
        except QueryRefused:
            held.append(sql)
    print(f"SQL guard at load: {len(held)}/{len(ATTACKS)} attacks refused")
    assert set(held) == set(ATTACKS), [a for a in ATTACKS if a not in held][:10]


@pytest.mark.parametrize("sql", ACCEPTED)
def test_ordinary_queries_are_accepted(sql: str) -> None:
    """Templates keep working: dialect-specific functions, comments, windows, parameters and references."""
    ExportQuery.parse(sql)


@pytest.mark.parametrize("dialect", ["mysql", "postgres", "sqlite"])
def test_attacks_are_refused_on_the_source_dialect_too(dialect: str) -> None:
    """The run-time parse (under the provider's dialect) refuses every attack as well, so a query that reached
    the extract step without the load-time check still never runs."""
    # In MySQL/MariaDB and SQLite these spellings are plain column names (the server answers "unknown column").
    columns_there = ("session_user", "$1") if dialect in ("mysql", "sqlite") else ()
    attacks = [a for a in ATTACKS if not any(c in a.lower() for c in columns_there)]
    held = 0
    for sql in attacks:
        try:
            ExportQuery(sql=sql, params=(), references=()).sql_for(dialect)
        except QueryRefused:
            held += 1
    print(f"SQL guard on {dialect}: {held}/{len(attacks)} attacks refused")
    assert held == len(attacks)


def test_code_hidden_from_one_dialect_is_seen_in_another() -> None:
    """A string that ends early in PostgreSQL (no backslash escapes) hides a call from a MySQL parse: the
    load-time check reads the query under every dialect, and the PostgreSQL reading is refused."""
    sql = "SELECT * FROM customers WHERE name = 'a\\' UNION SELECT pg_read_file('/etc/passwd') -- '"
    with pytest.raises(QueryRefused, match="PG_READ_FILE"):
        ExportQuery.parse(sql)
    with pytest.raises(QueryRefused, match="not allowed"):
        ExportQuery(sql=sql, params=(), references=()).sql_for("postgres")


def test_what_runs_is_the_checked_tree_without_comments() -> None:
    """Comments never reach the server, and placeholders stay bound names in every dialect."""
    query = ExportQuery.parse("SELECT * FROM customers /* x */ WHERE id IN :ids -- y\n AND name = :who")
    for dialect in ("mysql", "postgres", "sqlite"):
        rendered = query.sql_for(dialect)
        assert "/*" not in rendered and "--" not in rendered
        assert ":ids" in rendered and ":who" in rendered


# -- on real servers ------------------------------------------------------------------------------------------

def _rows(conn: sa.Connection, clause: sa.TextClause) -> list[tuple]:
    return [tuple(r) for r in conn.execute(clause)]


@pytest.fixture
def mariadb_pair(mariadb_database: Callable[[], str]) -> Iterator[tuple[sa.Engine, str, str]]:
    """A provider database with customers/orders and, beside it on the same server, another application's
    database with a secrets table."""
    own, other = mariadb_database(), mariadb_database()
    with pymysql.connect(**MARIADB, database=own) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR(40), email VARCHAR(60), "
                    "note TEXT, last_purchase_date DATETIME)")
        cur.execute("CREATE TABLE orders (id INT PRIMARY KEY, customer_id INT, total DECIMAL(8,2), "
                    "created_at DATETIME, note TEXT)")
        cur.executemany("INSERT INTO customers VALUES (%s, %s, %s, %s, NOW())",
                        [(i, f"name {i}", f"a_{i}@example.com", None) for i in range(1, 21)])
        cur.executemany("INSERT INTO orders VALUES (%s, %s, %s, NOW(), NULL)",
                        [(i, 1 + i % 20, 5 + i) for i in range(1, 41)])
        conn.commit()
    with pymysql.connect(**MARIADB, database=other) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE secrets (id INT PRIMARY KEY, secret VARCHAR(40))")
        cur.execute("INSERT INTO secrets VALUES (1, 'the other application''s secret')")
        conn.commit()
    engine = sa.create_engine(mariadb_url(own))
    yield engine, own, other
    engine.dispose()


@pytest.mark.mariadb
def test_mariadb_refuses_other_databases_and_catalogs_at_run_time(mariadb_pair: tuple[sa.Engine, str, str]) -> None:
    """On MariaDB, a query naming another database, mysql.* or information_schema is refused on the provider's
    connection even when the load-time check was skipped; the provider's own database by name is fine."""
    engine, own, other = mariadb_pair
    refused = [f"SELECT * FROM `{other}`.secrets", "SELECT * FROM mysql.user",
               "SELECT * FROM information_schema.tables",
               f"SELECT c.* FROM customers c JOIN `{other}`.secrets s ON s.id = c.id",
               "SELECT id FROM customers /*!50000 UNION SELECT 2 */", "SELECT id FROM customers WHERE id = @@port"]
    with engine.connect() as conn:
        table = reflect_tables("SRC", conn, ["customers"]).tables["customers"]
        for sql in refused:
            with pytest.raises(QueryRefused):
                list(stream_query(conn, table, ExportQuery(sql=sql, params=(), references=()), {}, 100))
        own_by_name = ExportQuery.parse(f"SELECT * FROM `{own}`.customers WHERE id <= :n")
        batches = list(stream_query(conn, table, own_by_name, {"n": 5}, 100))
        assert sum(b.num_rows for b in batches) == 5


@pytest.mark.mariadb
def test_mariadb_checked_rendering_returns_the_same_rows(mariadb_pair: tuple[sa.Engine, str, str]) -> None:
    """The statement that runs is sqlglot's rendering of the checked query: on MariaDB it returns exactly the
    rows of the raw query for MySQL-flavoured SQL (backslash escapes, DATE_SUB, backticks, expanding lists)."""
    engine, _, _ = mariadb_pair
    queries = [
        ("SELECT * FROM customers WHERE last_purchase_date >= DATE_SUB(NOW(), INTERVAL 30 DAY) ORDER BY id", {}),
        ("SELECT c.id, c.email FROM `customers` c WHERE c.email LIKE 'a\\_1%' AND c.id IN :ids ORDER BY c.id",
         {"ids": [1, 10, 11, 12]}),
        ("SELECT customer_id, COUNT(*), SUM(total) FROM orders GROUP BY customer_id HAVING COUNT(*) > 1 "
         "ORDER BY customer_id", {}),
        ("SELECT id, IFNULL(note, 'none'), CONCAT_WS('-', name, email) FROM customers ORDER BY id LIMIT :n", {"n": 3}),
    ]
    with engine.connect() as conn:
        for sql, values in queries:
            query = ExportQuery.parse(sql)
            raw = _rows(conn, query.to_clause(values))
            assert raw, sql
            assert _rows(conn, guarded_clause(conn, query, values, where="test")) == raw, sql


@pytest.fixture
def postgres_source(postgres_database: Callable[[], str]) -> Iterator[sa.Engine]:
    """A PostgreSQL provider: customers/orders in public, another application's schema with a secrets table
    that the database's search_path also reaches."""
    import psycopg

    name = postgres_database()
    with psycopg.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={name}", autocommit=True) as conn:
        conn.execute("CREATE TABLE customers (id int PRIMARY KEY, name text, email text, note text)")
        conn.execute("CREATE TABLE orders (id int PRIMARY KEY, customer_id int, total numeric(8,2), "
                     "created_at timestamptz DEFAULT now(), meta jsonb)")
        conn.execute("INSERT INTO customers SELECT i, 'name ' || i, 'a_' || i || '@example.com', NULL "
                     "FROM generate_series(1, 20) i")
        conn.execute("""INSERT INTO orders SELECT i, 1 + i % 20, 5 + i, now(), '{"k": "v"}' """
                     "FROM generate_series(1, 40) i")
        conn.execute("CREATE SCHEMA other")
        conn.execute("CREATE TABLE other.secrets (id int, secret text)")
        conn.execute("INSERT INTO other.secrets VALUES (1, 'the other schema''s secret')")
        conn.execute(f'ALTER DATABASE "{name}" SET search_path = public, other')
    engine = sa.create_engine(f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}")
    yield engine
    engine.dispose()


@pytest.mark.postgres
def test_postgres_refuses_catalogs_other_schemas_and_evaluators(postgres_source: sa.Engine) -> None:
    """On PostgreSQL, pg_catalog relations (reachable without a schema), another schema (also through the
    search_path) and SQL-evaluating functions are refused on the provider's connection."""
    refused = ["SELECT * FROM pg_authid", "SELECT * FROM pg_catalog.pg_shadow", "SELECT * FROM other.secrets",
               "SELECT * FROM secrets", "SELECT c.* FROM customers c JOIN secrets s ON s.id = c.id",
               "SELECT * FROM customers WHERE id IN (SELECT id FROM secrets)",
               "SELECT query_to_xml('select * from other.secrets', true, true, '') FROM customers",
               "SELECT * FROM customers WHERE name = 'a\\' UNION SELECT 1, pg_read_file('/etc/passwd'), '', '' -- '",
               "SELECT pg_advisory_lock_shared(1) FROM customers", "SELECT lo_create(0) FROM customers"]
    with postgres_source.connect() as conn:
        table = reflect_tables("SRC", conn, ["customers"]).tables["customers"]
        for sql in refused:
            with pytest.raises(QueryRefused):
                list(stream_query(conn, table, ExportQuery(sql=sql, params=(), references=()), {}, 100))
        assert conn.exec_driver_sql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'").scalar() == 0


@pytest.mark.postgres
def test_postgres_checked_rendering_returns_the_same_rows(postgres_source: sa.Engine) -> None:
    """PostgreSQL-flavoured SQL (casts, ILIKE, jsonb operators, intervals, expanding lists) returns exactly the
    rows of the raw query after the check and rendering."""
    queries = [
        ("SELECT id, total::text, meta ->> 'k' FROM orders WHERE created_at >= now() - INTERVAL '7 days' "
         "AND customer_id IN :ids ORDER BY id", {"ids": [1, 2, 3]}),
        ("SELECT c.* FROM customers c WHERE c.email ILIKE 'A\\_1%' ORDER BY c.id", {}),
        ("SELECT customer_id, count(*) FILTER (WHERE total > 10), string_agg(id::text, ',' ORDER BY id) "
         "FROM orders GROUP BY customer_id ORDER BY customer_id", {}),
        ("SELECT * FROM public.customers WHERE id <= :n ORDER BY id", {"n": 4}),
    ]
    with postgres_source.connect() as conn:
        for sql, values in queries:
            query = ExportQuery.parse(sql)
            raw = _rows(conn, query.to_clause(values))
            assert raw, sql
            assert _rows(conn, guarded_clause(conn, query, values, where="test")) == raw, sql


def test_sqlite_refuses_attached_databases_and_its_catalog(tmp_path: Path) -> None:
    """On SQLite, the schema table and an attached database are refused; main.<table> is the provider's own."""
    path = tmp_path / "src.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
        db.executemany("INSERT INTO customers VALUES (?, ?)", [(i, f"n{i}") for i in range(1, 6)])
    engine = sa.create_engine(f"sqlite:///{path}")
    other = tmp_path / f"other-{uuid.uuid4().hex}.db"
    sqlite3.connect(other).close()
    with engine.connect() as conn:
        conn.exec_driver_sql(f"ATTACH DATABASE '{other}' AS other")
        table = reflect_tables("SRC", conn, ["customers"]).tables["customers"]
        for sql in ["SELECT * FROM sqlite_master", "SELECT * FROM other.t", "SELECT * FROM temp.t"]:
            with pytest.raises(QueryRefused):
                list(stream_query(conn, table, ExportQuery(sql=sql, params=(), references=()), {}, 100))
        rows = list(stream_query(conn, table, ExportQuery.parse("SELECT * FROM main.customers"), {}, 100))
        assert sum(b.num_rows for b in rows) == 5
    engine.dispose()

