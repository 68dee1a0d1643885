"""Referentially complete subsets over a real MariaDB: cycles, self-references, samples, capped children."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq
import pymysql
import pytest

from hfit_dagster.extract.source import stream_query
from hfit_dagster.pipeline.local_build import build_package
from hfit_dagster.pipeline.staging import StageOptions
from hfit_dagster.settings import load_settings
from hfit_dagster.template.loader import parse_template
from tests.conftest import MARIADB, TEST_MASKING_KEY, mariadb_url
from tests.pipeline.test_local_build import dangling_foreign_keys, load_into_mariadb, row_counts

pytestmark = pytest.mark.mariadb

SCHEMA = [
    "CREATE TABLE departments (id INT PRIMARY KEY, name VARCHAR(50) NOT NULL, head_id INT NULL)",
    """CREATE TABLE employees (id INT PRIMARY KEY, full_name VARCHAR(80) NOT NULL, email VARCHAR(120) NOT NULL,
       manager_id INT NULL, department_id INT NOT NULL,
       CONSTRAINT fk_emp_manager FOREIGN KEY (manager_id) REFERENCES employees (id),
       CONSTRAINT fk_emp_dept FOREIGN KEY (department_id) REFERENCES departments (id))""",
    "ALTER TABLE departments ADD CONSTRAINT fk_dept_head FOREIGN KEY (head_id) REFERENCES employees (id)",
    """CREATE TABLE tickets (id INT PRIMARY KEY, employee_id INT NOT NULL, title VARCHAR(100) NOT NULL,
       CONSTRAINT fk_ticket_emp FOREIGN KEY (employee_id) REFERENCES employees (id))""",
]
EMPLOYEES = 2000


@pytest.fixture(scope="module")
def cyclic_source() -> str:
    """A MariaDB schema with a self-reference (manager) and a two-table cycle (department head)."""
    name = "hfit_t_cycles_" + format(random.getrandbits(32), "x")
    rng = random.Random(5)
    with pymysql.connect(**MARIADB) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}`")
        cur.execute(f"USE `{name}`")
        cur.execute("SET FOREIGN_KEY_CHECKS=0")
        for statement in SCHEMA:
            cur.execute(statement)
        cur.executemany("INSERT INTO departments VALUES (%s, %s, %s)",
                        [(d, f"Department {d}", rng.randint(1, EMPLOYEES)) for d in range(1, 21)])
        cur.executemany(
            "INSERT INTO employees VALUES (%s, %s, %s, %s, %s)",
            [(e, f"Employee Person{e}", f"person{e}@corp.example", rng.randint(1, e - 1) if e > 1 else None,
              rng.randint(1, 20)) for e in range(1, EMPLOYEES + 1)],
        )
        tickets = [(t, rng.randint(1, EMPLOYEES), f"ticket {t}") for t in range(1, 12001)]
        cur.executemany("INSERT INTO tickets VALUES (%s, %s, %s)", tickets)
        cur.execute("SET FOREIGN_KEY_CHECKS=1")
        conn.commit()
    yield mariadb_url(name)
    with pymysql.connect(**MARIADB) as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")


TEMPLATE = """
templateName: cycles
exports:
  employees:
    provider: SRC
    query: SELECT * FROM employees
    sample: 1%
    sample_seed: 3
    children:
      tickets: {max_per_parent: 2}
subset: {follow_parents: true}
"""


def recording_reader(statements: list[str]) -> Callable[..., object]:
    """The real export reader, recording the SQL of each statement it runs into ``statements`` (a spy, not a fake)."""
    def read(conn, table, query, values, batch_rows, **options):
        statements.append(query.sql)
        return stream_query(conn, table, query, values, batch_rows, **options)

    return read


@pytest.fixture
def source_settings(tmp_path: Path, cyclic_source: str, monkeypatch: pytest.MonkeyPatch) -> Callable[[], object]:
    monkeypatch.setenv("HFIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HFIT_MASKING_KEY", TEST_MASKING_KEY)
    monkeypatch.setenv("HFIT_PROVIDER_SRC_URL", cyclic_source)
    return load_settings


def test_one_percent_subset_of_a_cyclic_schema_terminates_and_loads(source_settings, mariadb_database) -> None:
    """A 1% sample over a self-reference and a two-table cycle ends with every FK satisfied."""
    built = build_package(parse_template(TEMPLATE), {}, source_settings())
    tables = {t.name: t for t in built.manifest.tables}
    assert tables["departments"].role == "parent" and tables["tickets"].role == "child"
    assert EMPLOYEES * 0.005 < tables["employees"].rows < EMPLOYEES * 0.2  # sample plus managers and heads
    assert built.manifest.checks["foreign_keys"]["dangling_references"] == 0
    tickets = pq.read_table(built.path / "parquet" / "tickets.parquet").column("employee_id").to_pylist()
    assert max(tickets.count(e) for e in set(tickets)) <= 2
    database = mariadb_database()
    load_into_mariadb(built.path, database)
    assert row_counts(database) == {name: t.rows for name, t in tables.items()}
    assert set(dangling_foreign_keys(database).values()) == {0}


def test_sample_is_deterministic(source_settings) -> None:
    """The same seed picks the same rows in every run; another seed picks others."""
    def ids(text: str) -> list[int]:
        built = build_package(parse_template(text), {}, source_settings())
        return sorted(pq.read_table(built.path / "parquet" / "employees.parquet").column("id").to_pylist())

    first = ids(TEMPLATE)
    assert first == ids(TEMPLATE)
    assert first != ids(TEMPLATE.replace("sample_seed: 3", "sample_seed: 4"))


REFERENCE_TEMPLATE = """
templateName: refs_by_key
exports:
  employees:
    provider: SRC
    query: SELECT * FROM employees WHERE id <= 400
  tickets:
    provider: SRC
    query: {tickets}
subset: {{follow_parents: false}}
masking: {{default: keep}}
"""


def test_large_key_sets_are_bound_in_chunks(source_settings) -> None:
    """A reference to many keys runs in chunks of bound keys and returns exactly the rows of one big IN."""
    text = REFERENCE_TEMPLATE.format(tickets="SELECT * FROM tickets WHERE employee_id IN :employees.id")
    whole = build_package(parse_template(text), {}, source_settings()).manifest
    runs: list[str] = []
    # the query per chunk (reading keys first, then rows by key, has tests of its own below)
    options = StageOptions(reference_chunk=7, read_query=recording_reader(runs), rows_by_key=False)
    chunked = build_package(parse_template(text), {}, source_settings(), stage_options=options).manifest
    assert len(runs) == 1 + 400 // 7 + 1  # employees once, tickets once per chunk of 7 keys
    assert [(t.name, t.rows) for t in chunked.tables] == [(t.name, t.rows) for t in whole.tables]
    assert next(t.rows for t in whole.tables if t.name == "tickets") > 1000



BY_KEY_SQL = "SELECT * FROM tickets WHERE id IN :hfit_sample_keys"


def _rows(built, table: str) -> list[tuple]:
    read = pq.read_table(built.path / "parquet" / f"{table}.parquet")
    return sorted(zip(*(read.column(c).to_pylist() for c in read.column_names), strict=True))


@pytest.mark.parametrize("tickets", [
    "SELECT * FROM tickets WHERE employee_id IN :employees.id",
    "SELECT t.* FROM tickets t WHERE t.employee_id IN :employees.id AND t.title LIKE 'ticket 1%'",
    "SELECT * FROM tickets WHERE employee_id IN :employees.id OR id <= 30",  # rows matched by several chunks
])
def test_a_chunked_reference_read_keys_first_then_by_key_keeps_exactly_the_rows_per_chunk(
        source_settings, tickets: str) -> None:
    """The tickets of many employees, scattered over the tickets table: read as their keys (per chunk of
    employees) and then their rows by primary key, the package holds exactly the rows the template's query
    returns chunk by chunk, and every statement the template's SQL is in binds the employees' keys."""
    text = REFERENCE_TEMPLATE.format(tickets=tickets)
    statements: list[str] = []
    recording_stream_query = recording_reader(statements)

    by_key = build_package(parse_template(text), {}, source_settings(),
                           stage_options=StageOptions(reference_chunk=60, read_query=recording_stream_query))
    ticket_statements = [sql for sql in statements if "tickets" in sql]
    by_key_statements = [sql for sql in ticket_statements if sql == BY_KEY_SQL]
    per_chunk_statements = [sql for sql in ticket_statements if sql != BY_KEY_SQL]
    assert len(per_chunk_statements) == -(-400 // 60)  # one statement per chunk of employees
    assert per_chunk_statements[0].startswith("SELECT hfit_keys.id FROM (\n") and by_key_statements
    if " OR " not in tickets:  # scattered tickets: keys of every chunk first (with OR the server's plan decides)
        assert all(sql.startswith("SELECT hfit_keys.id FROM (\n") for sql in per_chunk_statements)
    per_chunk = build_package(parse_template(text), {}, source_settings(),
                              stage_options=StageOptions(reference_chunk=60, rows_by_key=False))
    assert _rows(by_key, "tickets") == _rows(per_chunk, "tickets")
    assert len(_rows(by_key, "tickets")) > 100
    database = source_settings().provider_url("SRC").rsplit("/", 1)[1].split("?")[0]
    sql = tickets.replace(":employees.id", "(SELECT id FROM employees WHERE id <= 400)")
    with pymysql.connect(**MARIADB, database=database) as conn, conn.cursor() as cur:
        cur.execute(sql)
        assert len(_rows(by_key, "tickets")) == len(cur.fetchall())


def test_a_chunked_reference_whose_keys_come_in_key_order_is_read_per_chunk(source_settings) -> None:
    """Rows that lie together in key order (here tickets by their own ids) gain nothing from being read by key:
    after the first chunk's keys show it, the other chunks run the template's query, and the package holds
    the same rows as the query per chunk."""
    text = REFERENCE_TEMPLATE.format(tickets="SELECT * FROM tickets WHERE id IN :employees.id")
    statements: list[str] = []
    recording_stream_query = recording_reader(statements)

    in_order = build_package(parse_template(text), {}, source_settings(),
                             stage_options=StageOptions(reference_chunk=60, read_query=recording_stream_query))
    ticket_statements = [sql for sql in statements if "tickets" in sql]
    assert ticket_statements[0].startswith("SELECT hfit_keys.id FROM (\n") and ticket_statements[1] == BY_KEY_SQL
    assert ticket_statements[2:] == [text.split("query: ")[2].split("\n")[0].replace(":employees.id",
                                                                                  ":ref__employees__id")] * 6
    per_chunk = build_package(parse_template(text), {}, source_settings(),
                              stage_options=StageOptions(reference_chunk=60, rows_by_key=False))
    assert _rows(in_order, "tickets") == _rows(per_chunk, "tickets") and len(_rows(in_order, "tickets")) == 400


def test_rows_by_key_take_unsigned_keys_above_int64_and_leave_invisible_columns_out(
        mariadb_database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """BIGINT UNSIGNED keys above 2**63, scattered against the reference, and a MariaDB INVISIBLE column (which
    ``SELECT *`` does not return): rows read by key are the rows and values of the query per chunk."""
    from tests.conftest import fill_mariadb, mariadb_source_settings

    database = mariadb_database()
    rng = random.Random(3)
    kids = [((1 << 63) + i * 7919 % 5_000, rng.randint(1, 200), f"kid {i}", i) for i in range(5_000)]
    fill_mariadb(database, {
        "parents": ("id INT PRIMARY KEY", [(i,) for i in range(1, 201)]),
        "kids": ("id BIGINT UNSIGNED PRIMARY KEY, parent_id INT NOT NULL, name VARCHAR(20), "
                 "secret INT NOT NULL DEFAULT 0 INVISIBLE, KEY ix_parent (parent_id)", []),
    })
    with pymysql.connect(**MARIADB, database=database) as conn, conn.cursor() as cur:
        cur.executemany("INSERT INTO kids (id, parent_id, name, secret) VALUES (%s, %s, %s, %s)", kids)
        conn.commit()
    settings = mariadb_source_settings(monkeypatch, tmp_path, database, 1_000)
    text = """
templateName: kids
exports:
  parents: {provider: SRC, query: SELECT * FROM parents WHERE id <= 150}
  kids: {provider: SRC, query: 'SELECT * FROM kids WHERE parent_id IN :parents.id'}
subset: {follow_parents: false}
masking: {default: keep}
"""
    statements: list[str] = []
    recording_stream_query = recording_reader(statements)

    by_key = build_package(parse_template(text), {}, settings,
                           stage_options=StageOptions(reference_chunk=40, read_query=recording_stream_query))
    assert "SELECT * FROM kids WHERE id IN :hfit_sample_keys" in statements
    assert sum(sql.startswith("SELECT hfit_keys.id FROM (") for sql in statements) == -(-150 // 40)  # all scattered
    per_chunk = build_package(parse_template(text), {}, settings,
                              stage_options=StageOptions(reference_chunk=40, rows_by_key=False))
    # the package's table has every column; what SELECT * does not return stays NULL, read by key or not
    assert (pq.read_table(by_key.path / "parquet" / "kids.parquet").column_names
            == pq.read_table(per_chunk.path / "parquet" / "kids.parquet").column_names)
    expected = sorted((k[0], k[1], k[2], None) for k in kids if k[1] <= 150)
    assert _rows(by_key, "kids") == _rows(per_chunk, "kids") == expected


@pytest.mark.parametrize("tickets", [
    "SELECT * FROM tickets WHERE (employee_id IN :employees.id) = FALSE",
    "SELECT * FROM tickets WHERE IF(employee_id IN :employees.id, 0, 1) = 1 AND id <= 3000",
    "SELECT * FROM tickets WHERE employee_id IN :employees.id AND id IN :employees.id",
    "SELECT SQL_NO_CACHE * FROM tickets WHERE employee_id IN :employees.id",
])
def test_references_that_do_not_split_into_chunks_keep_the_rows_of_one_query(source_settings, tickets: str) -> None:
    """A reference whose rows are not the union of its chunks' rows (the predicate negated by a comparison, the
    keys used twice) and a query MariaDB refuses inside a derived table (SQL_NO_CACHE): the package holds the
    rows of the query over all the keys at once, whatever the chunk size or read path."""
    text = REFERENCE_TEMPLATE.format(tickets=tickets)
    chunked = build_package(parse_template(text), {}, source_settings(),
                            stage_options=StageOptions(reference_chunk=30))
    database = source_settings().provider_url("SRC").rsplit("/", 1)[1].split("?")[0]
    sql = tickets.replace(":employees.id", "(SELECT id FROM employees WHERE id <= 400)")
    with pymysql.connect(**MARIADB, database=database) as conn, conn.cursor() as cur:
        cur.execute(sql)
        expected = sorted(cur.fetchall())
    assert _rows(chunked, "tickets") == [tuple(row) for row in expected] and expected


@pytest.mark.parametrize("tickets", [
    "SELECT id, employee_id, title FROM tickets WHERE employee_id IN :employees.id",  # not every column
    "SELECT * FROM tickets WHERE employee_id IN :employees.id ORDER BY title",
    "SELECT DISTINCT * FROM tickets WHERE employee_id IN :employees.id",
])
def test_a_chunked_reference_is_read_per_chunk_where_keys_first_would_not_be_exact(
        source_settings, tickets: str) -> None:
    """A reference query that does not select exactly the table's columns, or orders its rows, keeps its own
    statement per chunk of keys."""
    statements: list[str] = []
    recording_stream_query = recording_reader(statements)

    build_package(parse_template(REFERENCE_TEMPLATE.format(tickets=tickets)), {}, source_settings(),
                  stage_options=StageOptions(reference_chunk=60, read_query=recording_stream_query))
    ticket_statements = [sql for sql in statements if "tickets" in sql]
    assert ticket_statements and not any("hfit_keys" in sql for sql in ticket_statements)


@pytest.mark.parametrize("kids", [
    "WITH x AS (SELECT id, parent_id, CONCAT(name, '!') AS name FROM kids) SELECT * FROM x "
    "WHERE parent_id IN :parents.id",
    "WITH kids AS (SELECT id, parent_id, 'blank' AS name FROM kids) SELECT * FROM kids WHERE parent_id IN :parents.id",
    "SELECT * FROM kids_view WHERE parent_id IN :parents.id",  # a view that blanks a column, for table kids
    "SELECT * FROM kids_old WHERE parent_id IN :parents.id",  # another table with the same keys
    "MyISAM",  # kids itself, but not ordered by key nor read in the build's snapshot
])
def test_rows_by_key_only_from_the_table_the_query_reads(mariadb_database, monkeypatch: pytest.MonkeyPatch,
                                                         tmp_path: Path, kids: str) -> None:
    """A query that reads the export's rows through a CTE, a view or another table keeps its own statement per
    chunk: rows read by key from the export's table would carry that table's values (a view's blanked column
    in the clear). So does a MyISAM table (no key order, no snapshot between the keys and the rows)."""
    from tests.conftest import fill_mariadb, mariadb_source_settings

    database = mariadb_database()
    rng = random.Random(5)
    rows = [(i * 7919 % 3_000 + 1, rng.randint(1, 100), f"raw {i}") for i in range(3_000)]
    fill_mariadb(database, {
        "parents": ("id INT PRIMARY KEY", [(i,) for i in range(1, 101)]),
        "kids": ("id INT PRIMARY KEY, parent_id INT NOT NULL, name VARCHAR(20), KEY ix_parent (parent_id)", rows),
        "kids_old": ("id INT PRIMARY KEY, parent_id INT NOT NULL, name VARCHAR(20), KEY ix_parent (parent_id)",
                     [(i, p, f"old {n}") for i, p, n in rows]),
    })
    with pymysql.connect(**MARIADB, database=database) as conn, conn.cursor() as cur:
        cur.execute("CREATE VIEW kids_view AS SELECT id, parent_id, 'blank' AS name FROM kids")
    myisam = kids == "MyISAM"
    if myisam:
        with pymysql.connect(**MARIADB, database=database) as conn, conn.cursor() as cur:
            cur.execute("ALTER TABLE kids ENGINE=MyISAM")
        kids = "SELECT * FROM kids WHERE parent_id IN :parents.id"
    settings = mariadb_source_settings(monkeypatch, tmp_path, database, 1_000)
    text = f"""
templateName: kids
exports:
  parents: {{provider: SRC, query: SELECT * FROM parents}}
  kids: {{provider: SRC, table: kids, query: "{kids}"}}
subset: {{follow_parents: false}}
masking: {{default: keep}}
"""
    statements: list[str] = []
    by_key = build_package(parse_template(text), {}, settings,
                           stage_options=StageOptions(reference_chunk=20, read_query=recording_reader(statements)))
    assert not any("hfit_keys" in sql or "hfit_sample_keys" in sql for sql in statements)
    per_chunk = build_package(parse_template(text), {}, settings,
                              stage_options=StageOptions(reference_chunk=20, rows_by_key=False))
    names = {row[2] for row in _rows(by_key, "kids")}
    assert _rows(by_key, "kids") == _rows(per_chunk, "kids") and len(_rows(by_key, "kids")) == 3_000
    if not myisam:
        assert not names & {name for _, _, name in rows}  # none of the table's own values


@pytest.mark.parametrize(("sql", "chunkable"), [
    ("SELECT * FROM t WHERE x IN :k", True), ("SELECT * FROM t WHERE a = 1 AND (x IN :k OR b = 2)", True),
    ("SELECT t.* FROM t JOIN u ON u.id = t.u WHERE x IN :k", True), ("SELECT * FROM t WHERE x IN :k ORDER BY a", True),
    ("SELECT * FROM t WHERE (x IN :k) = FALSE", False), ("SELECT * FROM t WHERE x IN :k IS FALSE", False),
    ("SELECT * FROM t WHERE NOT x IN :k", False), ("SELECT * FROM t WHERE x NOT IN :k", False),
    ("SELECT * FROM t WHERE IF(x IN :k, 0, 1) = 1", False), ("SELECT * FROM t WHERE (x IN :k) < 1", False),
    ("SELECT * FROM t WHERE x IN :k XOR TRUE", False),
    ("SELECT * FROM t WHERE CASE WHEN x IN :k THEN 0 ELSE 1 END = 1", False),
    ("SELECT * FROM t WHERE a IN :k AND b IN :k", False), ("SELECT *, x IN :k AS f FROM t", False),
    ("SELECT t.* FROM t LEFT JOIN u ON u.id = t.u AND u.id IN :k", False),
    ("SELECT * FROM t WHERE x IN :k LIMIT 5", False),
    ("SELECT * FROM t WHERE id IN (SELECT x FROM u WHERE y IN :k)", False),
])
def test_a_reference_is_chunked_only_where_its_rows_are_the_union_of_the_chunks(sql: str, chunkable: bool) -> None:
    from hfit_dagster.pipeline.subset import chunkable_reference

    assert chunkable_reference(sql, "k") is chunkable


@pytest.mark.parametrize("sql", [
    "WITH w AS (SELECT * FROM t) SELECT * FROM t WHERE a IN :ref__u__id", "SELECT * FROM u WHERE a IN :ref__u__id",
    "SELECT SQL_NO_CACHE * FROM t WHERE a IN :ref__u__id", "SELECT HIGH_PRIORITY * FROM t WHERE a IN :ref__u__id",
    "SELECT * FROM other_db.t WHERE a IN :ref__u__id", "SELECT * FROM T WHERE a IN :ref__u__id",
    "SELECT * FROM t FOR SYSTEM_TIME AS OF TIMESTAMP '2020-01-01' WHERE a IN :ref__u__id",
    "SELECT * FROM t WHERE a IN :ref__u__id LIMIT 10", "SELECT a, b FROM t WHERE a IN :ref__u__id",
    "SELECT t.*, 1 AS one FROM t WHERE a IN :ref__u__id", "SELECT t.* FROM t JOIN u ON u.id = t.a",
    "SELECT * FROM t WHERE a IN :ref__u__id GROUP BY a", "SELECT * FROM t WHERE a IN :ref__u__id AND RAND() < 0.5",
    "SELECT * FROM t WHERE a IN :ref__u__id UNION SELECT * FROM u",
])
def test_keys_then_rows_is_refused_where_it_would_not_be_exact(sql: str) -> None:
    import sqlalchemy as sa

    from hfit_dagster.pipeline.subset import keys_then_rows

    table = sa.Table("t", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True), sa.Column("a", sa.Integer))
    assert keys_then_rows(sql, ["ref__u__id"], table, "id", lambda name: f"`{name}`") is None
    assert keys_then_rows("SELECT t.* FROM t WHERE t.a IN :ref__u__id", ["ref__u__id"], table, "id",
                          lambda name: f"`{name}`") is not None
    assert keys_then_rows("SELECT x.* FROM t AS x USE INDEX (ix) WHERE x.a IN :ref__u__id", ["ref__u__id"], table,
                          "id", str) is not None
    elsewhere = sa.Table("t", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True), schema="other_db")
    assert keys_then_rows("SELECT * FROM t WHERE a IN :ref__u__id", ["ref__u__id"], elsewhere, "id", str) is None
    assert keys_then_rows("SELECT * FROM other_db.t WHERE a IN :ref__u__id", ["ref__u__id"], elsewhere, "id",
                          str) is not None


def test_row_limit_per_export(source_settings) -> None:
    text = TEMPLATE.replace("    sample: 1%\n", "    row_limit: 25\n").replace("      tickets: {max_per_parent: 2}\n",
                                                                            "      tickets: {}\n")
    built = build_package(parse_template(text), {}, source_settings())
    employees = pq.read_table(built.path / "parquet" / "employees.parquet")
    exported = employees.num_rows - len(set(employees.column("id").to_pylist()) - set(range(1, 26)))
    assert exported == 25



@pytest.mark.parametrize(("setup", "query", "sample"), [
    ("CREATE TABLE t (id INT PRIMARY KEY, a INT, b VARCHAR(10))", "SELECT a, b FROM t", None),
    ("CREATE TABLE t (id INT NOT NULL AUTO_INCREMENT INVISIBLE PRIMARY KEY, a INT, b VARCHAR(10))",
     "SELECT * FROM t", None),  # SELECT * leaves an INVISIBLE key out
    ("CREATE TABLE t (id INT PRIMARY KEY, a INT, b VARCHAR(10))", "SELECT a, b FROM t", 0.5),
    ("CREATE TABLE t (id INT NOT NULL AUTO_INCREMENT INVISIBLE PRIMARY KEY, a INT, b VARCHAR(10))",
     "SELECT * FROM t", 0.1),  # a small sample of SELECT * reads keys first, where the key is returned
])
def test_an_export_without_its_primary_key_keeps_every_row(mariadb_database, monkeypatch: pytest.MonkeyPatch,
                                                           tmp_path: Path, setup: str, query: str,
                                                           sample: float | None) -> None:
    """A query that does not select its table's primary key (a column list, or SELECT * and an INVISIBLE key):
    its rows cannot be told apart by key, and none is dropped as a duplicate of another (they were, all but
    one, on a key of NULLs); the package loads with every row."""
    from tests.conftest import mariadb_source_settings
    from tests.pipeline.test_local_build import load_into_mariadb, row_counts

    database = mariadb_database()
    with pymysql.connect(**MARIADB, database=database) as conn, conn.cursor() as cur:
        cur.execute(setup)
        cur.executemany("INSERT INTO t (a, b) VALUES (%s, %s)" if "INVISIBLE" in setup else
                        "INSERT INTO t (id, a, b) VALUES (%s, %s, %s)",
                        [(i % 7, f"v{i}") if "INVISIBLE" in setup else (i, i % 7, f"v{i}") for i in range(1, 201)])
        conn.commit()
    settings = mariadb_source_settings(monkeypatch, tmp_path, database, 64)
    sampled = f", sample: {sample}" if sample is not None else ""
    text = (f"templateName: nokey\nexports:\n  t: {{provider: SRC, query: '{query}'{sampled}}}\n"
            "masking: {default: keep}\n")
    built = build_package(parse_template(text), {}, settings)
    rows = pq.read_table(built.path / "parquet" / "t.parquet").num_rows
    if sample is None:
        assert rows == 200
    else:
        assert 0.5 * sample * 200 < rows < 1.5 * sample * 200  # sampled by their values (not all or none)
    target = mariadb_database()
    load_into_mariadb(built.path, target)
    assert row_counts(target) == {"t": rows}

def test_sampling_takes_unsigned_and_null_integer_keys() -> None:
    """BIGINT UNSIGNED ids above 2**63 and a NULL key sample like any other key, the same in every batch."""
    import pyarrow as pa

    from hfit_dagster.pipeline.subset import sample_mask

    ids = pa.array([(1 << 63) + i for i in range(2_000)] + [None], pa.uint64())
    batch = pa.RecordBatch.from_pydict({"id": ids})
    kept = sample_mask(batch, ["id"], 0.5, 7).to_pylist()
    assert 800 < sum(kept) < 1_200
    split = sample_mask(batch.slice(0, 1_000), ["id"], 0.5, 7).to_pylist()
    split += sample_mask(batch.slice(1_000), ["id"], 0.5, 7).to_pylist()
    assert split == kept
    assert sample_mask(batch, ["id"], 0.5, 8).to_pylist() != kept


def _sampled_ids(built) -> set[int]:
    employees = pq.read_table(built.path / "parquet" / "employees.parquet")
    roles = {t.name: t.role for t in built.manifest.tables}
    assert roles["employees"] == "export"
    return set(employees.column("id").to_pylist())


def test_a_sample_reads_keys_first_and_keeps_exactly_the_rows_of_a_full_read(source_settings) -> None:
    """A sampled export reads its keys, then only the sampled rows by key: the same rows as reading them all."""
    import pyarrow as pa

    from hfit_dagster.pipeline.subset import sample_mask

    text = """
templateName: sampled
parameters:
  last_department: {type: int, default: 12}
exports:
  employees:
    provider: SRC
    query: SELECT * FROM employees WHERE department_id <= :last_department
    sample: 10%
    sample_seed: 11
subset: {follow_parents: false}
masking: {default: keep}
"""
    statements: list[str] = []
    recording_stream_query = recording_reader(statements)

    options = StageOptions(reference_chunk=50, read_query=recording_stream_query)  # several chunks of sampled keys
    keys_first = build_package(parse_template(text), {}, source_settings(), stage_options=options)
    assert statements[0].startswith("SELECT hfit_sample.id FROM (\nSELECT * FROM employees WHERE")
    assert all("IN :hfit_sample_keys" in sql for sql in statements[1:]) and len(statements) >= 3

    database = source_settings().provider_url("SRC").rsplit("/", 1)[1].split("?")[0]
    with pymysql.connect(**MARIADB, database=database) as conn, conn.cursor() as cur:
        cur.execute("SELECT id FROM employees WHERE department_id <= 12")
        ids = pa.record_batch([pa.array([r[0] for r in cur.fetchall()], pa.int32())], names=["id"])
    expected = set(ids.filter(sample_mask(ids, ["id"], 0.1, 11)).column("id").to_pylist())
    assert _sampled_ids(keys_first) == expected and 50 < len(expected) < 250

    # ORDER BY is not taken keys first (rows would come in key order): the full read keeps the same rows
    statements.clear()
    ordered = build_package(parse_template(text.replace(":last_department\n", ":last_department ORDER BY id\n")),
                            {}, source_settings(), stage_options=options)
    assert len(statements) == 1 and "hfit_sample" not in statements[0]
    assert _sampled_ids(ordered) == expected


@pytest.mark.parametrize("sql", [
    "SELECT * FROM t LIMIT 10", "SELECT * FROM t ORDER BY id", "SELECT t.* FROM t JOIN u ON u.t_id = t.id",
    "SELECT name FROM t", "SELECT * FROM (SELECT * FROM t) x", "SELECT * FROM t UNION SELECT * FROM u",
    "SELECT id, count(*) FROM t GROUP BY id", "SELECT * FROM t WHERE id IN (SELECT max(id) FROM u)",
])
def test_keys_first_sampling_is_refused_where_it_would_not_be_exact(sql: str) -> None:
    from hfit_dagster.pipeline.subset import keys_first_sample

    assert keys_first_sample(sql, "id", lambda name: f"`{name}`") is None
    assert keys_first_sample("SELECT t.* FROM t WHERE a = :a", "id", lambda name: f"`{name}`") is not None


@pytest.mark.parametrize("where", [
    "created_at > NOW() - INTERVAL 1 DAY", "RAND() < 0.5", "d = CURDATE()", "a = @v", "u = UUID()",
    "ts > UNIX_TIMESTAMP()", "ts > CURRENT_TIMESTAMP",
])
def test_keys_first_sampling_is_refused_for_clock_chance_and_session_values(where: str) -> None:
    """The WHERE runs in the keys statement and again by key: it must give the same answer both times."""
    from hfit_dagster.pipeline.subset import keys_first_sample

    assert keys_first_sample(f"SELECT * FROM t WHERE {where}", "id", lambda name: name) is None
    assert keys_first_sample("SELECT DISTINCT * FROM t", "id", lambda name: name) is None


def test_wrapped_template_queries_survive_a_trailing_comment(mariadb_database) -> None:
    """A template query ending in a -- comment still runs when hfit wraps it (sampling keys first, time windows)."""
    from datetime import datetime

    import sqlalchemy as sa

    from hfit_dagster.pipeline.subset import keys_first_sample
    from hfit_dagster.template.builtins import _windowed

    name = mariadb_database()
    with pymysql.connect(**MARIADB, database=name) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY, at DATETIME)")
        cur.executemany("INSERT INTO t VALUES (%s, %s)", [(i, datetime(2024, 1, i)) for i in range(1, 11)])
        conn.commit()
    query = "SELECT * FROM t\nWHERE id > 2 -- the first two are test rows"
    keys_sql, rows_sql = keys_first_sample(query, "id", lambda n: f"`{n}`")
    windowed = _windowed(query, "at", {"hfit_window_from": datetime(2024, 1, 5)})
    engine = sa.create_engine(mariadb_url(name))
    with engine.connect() as conn:
        assert [r[0] for r in conn.execute(sa.text(keys_sql))] == list(range(3, 11))
        rows = conn.execute(sa.text(rows_sql).bindparams(sa.bindparam("hfit_sample_keys", expanding=True)),
                            {"hfit_sample_keys": [3, 4, 9]})
        assert [r[0] for r in rows] == [3, 4, 9]
        assert [r[0] for r in conn.execute(sa.text(windowed), {"hfit_window_from": datetime(2024, 1, 5)})] == \
            list(range(5, 11))
    engine.dispose()


@pytest.mark.parametrize("condition", ["", " OR name LIKE 'kid 1%'"])
@pytest.mark.parametrize("kids", [
    "id INT NOT NULL AUTO_INCREMENT INVISIBLE PRIMARY KEY, parent_id INT NOT NULL, name VARCHAR(20), "
    "KEY ix_parent (parent_id)",
    "`k``ey` INT NOT NULL AUTO_INCREMENT PRIMARY KEY, parent_id INT NOT NULL, name VARCHAR(20), "
    "KEY ix_parent (parent_id)",
])
def test_a_chunked_reference_to_a_table_with_an_odd_primary_key_keeps_its_rows(
        mariadb_database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, kids: str, condition: str) -> None:
    """A reference read in chunks from a table whose primary key ``SELECT *`` does not return (MariaDB
    INVISIBLE) or whose name holds a backtick, alone or OR another condition (rows that match every chunk: kept
    once, by their key, or, without a key to tell them apart, the keys bound in one list): the package holds
    the query's rows, whichever read path takes them, and loads."""
    from tests.conftest import fill_mariadb, mariadb_source_settings

    database = mariadb_database()
    rng = random.Random(4)
    fill_mariadb(database, {"parents": ("id INT PRIMARY KEY", [(i,) for i in range(1, 201)]), "kids": (kids, [])})
    with pymysql.connect(**MARIADB, database=database) as conn, conn.cursor() as cur:
        cur.executemany("INSERT INTO kids (parent_id, name) VALUES (%s, %s)",
                        [(rng.randint(1, 200), f"kid {i}") for i in range(3_000)])
        conn.commit()
    settings = mariadb_source_settings(monkeypatch, tmp_path, database, 500)
    text = ("templateName: kids\nexports:\n  parents: {provider: SRC, query: SELECT * FROM parents WHERE id <= 150}\n"
            f'  kids: {{provider: SRC, query: "SELECT * FROM kids WHERE parent_id IN :parents.id{condition}"}}\n'
            "subset: {follow_parents: false}\nmasking: {default: keep}\n")
    by_key = build_package(parse_template(text), {}, settings, stage_options=StageOptions(reference_chunk=40))
    per_chunk = build_package(parse_template(text), {}, settings,
                              stage_options=StageOptions(reference_chunk=40, rows_by_key=False))
    with pymysql.connect(**MARIADB, database=database) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT COUNT(*) FROM kids WHERE parent_id <= 150{condition.replace('%', '%%')}")
        expected = cur.fetchone()[0]
    assert len(_rows(by_key, "kids")) == expected > 1_000
    assert _rows(by_key, "kids") == _rows(per_chunk, "kids")
    target = mariadb_database()
    load_into_mariadb(by_key.path, target)
    assert row_counts(target) == {"parents": 150, "kids": expected}


def test_chunks_overlap_where_an_or_stands_above_the_keys_and_selected_columns_are_read_from_the_sql() -> None:
    """What decides whether chunks of keys may be joined without a key to tell repeated rows apart: an OR above
    the keys' IN (a row can match every chunk), and whether the query's rows carry the primary key (``*`` gives
    the columns SELECT * returns; a column or an alias its own name; other parameters and casts parse)."""
    from hfit_dagster.pipeline.subset import chunks_overlap, selects_columns

    keys = "ref__parents__id"
    assert chunks_overlap(f"SELECT * FROM kids WHERE parent_id IN :{keys} OR name LIKE 'a%'", keys)
    assert chunks_overlap(f"SELECT * FROM kids WHERE (a = 1 OR (parent_id IN :{keys} AND b = 2))", keys)
    assert not chunks_overlap(f"SELECT * FROM kids WHERE (parent_id IN :{keys} AND a = 1) AND b = :since", keys)
    assert selects_columns(f"SELECT * FROM kids WHERE parent_id IN :{keys}", ["id"], ["id", "name"])
    assert not selects_columns(f"SELECT * FROM kids WHERE parent_id IN :{keys}", ["id"], ["name"])  # INVISIBLE id
    assert selects_columns(f"SELECT k.ID AS id, k.name FROM kids k WHERE k.parent_id IN :{keys} AND k.t >= :since",
                           ["id"], [])
    assert selects_columns("SELECT k.*, p.x FROM kids k JOIN p ON p.id = k.p", ["Id"], ["id", "p"])
    assert not selects_columns(f"SELECT name, parent_id AS pid FROM kids WHERE parent_id IN :{keys}", ["id"], ["id"])
    assert not selects_columns("SELECT a FROM t; DROP TABLE t", ["a"], [])


@pytest.mark.parametrize("ids", ["dense", "gaps and negatives", "sparse", "empty"])
def test_a_sample_of_a_whole_table_by_its_key_range_keeps_the_rows_of_a_sample_by_its_keys(
        mariadb_database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, ids: str) -> None:
    """A 10% sample of a whole table with an integer key: enumerated from the key range (its two ends read from
    the primary key) where the range is at most twice the table's rows, else its keys read; either way the rows
    of the sample by keys (``sample_by_range=False``) and of the sample's rule applied to every row."""
    import pyarrow as pa

    from hfit_dagster.pipeline.subset import sample_mask
    from tests.conftest import fill_mariadb, mariadb_source_settings

    keys = {"dense": range(1, 3_001), "gaps and negatives": [i for i in range(-500, 4_000) if i % 7 and i % 11],
            "sparse": range(1, 300_001, 100), "empty": []}[ids]
    database = mariadb_database()
    fill_mariadb(database, {"t": ("id INT PRIMARY KEY, v VARCHAR(10)", [(k, f"v{k}") for k in keys])})
    with pymysql.connect(**MARIADB, database=database) as conn, conn.cursor() as cur:
        cur.execute("ANALYZE TABLE t")  # the row estimate the range is weighed against
    settings = mariadb_source_settings(monkeypatch, tmp_path, database, 500)
    text = ("templateName: sampled\nexports:\n  t: {provider: SRC, query: SELECT * FROM t, sample: 10%, "
            "sample_seed: 5}\nsubset: {follow_parents: false}\nmasking: {default: keep}\n")
    statements: list[str] = []
    by_range = build_package(parse_template(text), {}, settings,
                             stage_options=StageOptions(read_query=recording_reader(statements)))
    by_keys = build_package(parse_template(text), {}, settings, stage_options=StageOptions(sample_by_range=False))
    batch = pa.record_batch([pa.array(list(keys), pa.int32())], names=["id"])
    expected = sorted(batch.filter(sample_mask(batch, ["id"], 0.1, 5)).column("id").to_pylist())
    assert _rows(by_range, "t") == _rows(by_keys, "t") == [(k, f"v{k}") for k in expected]
    read_keys = any(sql.startswith("SELECT hfit_sample.id FROM (") for sql in statements)
    assert read_keys == (ids == "sparse")  # a range 100 times the rows: its keys are read
    assert any(sql.startswith("SELECT MIN(") for sql in statements)
    if ids != "empty":
        assert len(expected) > 10


def test_the_keys_a_range_sample_keeps_are_those_the_sample_keeps_of_every_key() -> None:
    """Enumerating a key range (in chunks, across the int64 sign) keeps exactly the keys ``sample_mask`` keeps."""
    import numpy as np
    import pyarrow as pa

    from hfit_dagster.pipeline import subset
    from hfit_dagster.pipeline.subset import sample_mask, sampled_in_range

    for low, high, rate in ((-5_000, 5_000, 0.1), (1, 1, 0.5), (10, 9, 0.1), (2**40, 2**40 + 20_000, 0.01)):
        every = np.arange(low, high + 1, dtype=np.int64)
        batch = pa.record_batch([pa.array(every)], names=["id"])
        expected = every[np.asarray(sample_mask(batch, ["id"], rate, 3))].tolist()
        assert sampled_in_range(low, high, rate, 3).tolist() == expected
    chunk = subset._RANGE_CHUNK
    try:
        subset._RANGE_CHUNK = 1_000  # several chunks, the last one short
        every = np.arange(-5_000, 5_501, dtype=np.int64)
        batch = pa.record_batch([pa.array(every)], names=["id"])
        assert sampled_in_range(-5_000, 5_500, 0.1, 3).tolist() == every[
            np.asarray(sample_mask(batch, ["id"], 0.1, 3))].tolist()
    finally:
        subset._RANGE_CHUNK = chunk


@pytest.mark.postgres
def test_a_postgres_sample_by_key_range_keeps_the_rows_of_a_sample_by_keys(
        postgres_database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """From PostgreSQL (row estimate from pg_class after ANALYZE): the range path reads the key's ends and keeps
    the rows of the sample by keys."""
    import psycopg

    from tests.conftest import TEST_MASKING_KEY

    database = postgres_database()
    with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={database}", autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id bigint PRIMARY KEY, v text)")
        conn.execute("INSERT INTO t SELECT i, 'v' || i FROM generate_series(-200, 4000) i WHERE i % 5 <> 0")
        conn.execute("ANALYZE t")
    monkeypatch.setenv("HFIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HFIT_MASKING_KEY", TEST_MASKING_KEY)
    monkeypatch.setenv("HFIT_PROVIDER_SRC_URL", f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}")
    text = ("templateName: sampled\nexports:\n  t: {provider: SRC, query: SELECT * FROM t, sample: 5%, "
            "sample_seed: 8}\nsubset: {follow_parents: false}\nmasking: {default: keep}\n")
    statements: list[str] = []
    by_range = build_package(parse_template(text), {}, load_settings(),
                             stage_options=StageOptions(read_query=recording_reader(statements)))
    by_keys = build_package(parse_template(text), {}, load_settings(),
                            stage_options=StageOptions(sample_by_range=False))
    assert _rows(by_range, "t") == _rows(by_keys, "t") and len(_rows(by_range, "t")) > 100
    assert any(sql.startswith("SELECT MIN(") for sql in statements)
    assert not any(sql.startswith("SELECT hfit_sample.id FROM (") for sql in statements)
