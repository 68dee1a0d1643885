"""MySQL/MariaDB reflection of names holding quote characters (``extract/mysql_reflection.py``), on the real
MariaDB: every foreign key is found with its names as the server has them, and a build follows parents through
them into a package that loads."""

from __future__ import annotations

import warnings
from pathlib import Path

import pyarrow.parquet as pq
import pymysql
import pytest
import sqlalchemy as sa

from hfit_dagster.extract.source import create_source_engine
from hfit_dagster.pipeline.local_build import build_package
from hfit_dagster.template.loader import parse_template
from tests.conftest import MARIADB, mariadb_source_settings, mariadb_url
from tests.pipeline.test_local_build import load_into_mariadb, row_counts

pytestmark = pytest.mark.mariadb

SCHEMA = [
    "CREATE TABLE `par``ent` (id INT PRIMARY KEY, name VARCHAR(20))",
    "CREATE TABLE kids (id INT PRIMARY KEY, pid INT, FOREIGN KEY (pid) REFERENCES `par``ent` (id) ON DELETE CASCADE)",
    "CREATE TABLE ticks (`id``` INT PRIMARY KEY, ```` INT, UNIQUE KEY (````))",
    "CREATE TABLE marks (id INT PRIMARY KEY, a INT, b INT, FOREIGN KEY (a) REFERENCES ticks (`id```), "
    "FOREIGN KEY (b) REFERENCES ticks (````))",
    "CREATE TABLE pairs (id INT PRIMARY KEY, n INT, UNIQUE KEY (id, n))",
    "CREATE TABLE odd (id INT PRIMARY KEY, `p)id` INT, `x, y` INT, "
    "FOREIGN KEY (`p)id`, `x, y`) REFERENCES pairs (id, n))",
]


def test_foreign_keys_with_quotes_in_their_names_are_reflected(mariadb_database) -> None:
    """A referenced table or column with a backtick (inside, at its end, nothing else) and local columns holding
    ``)`` or ``, ``: each foreign key is reflected, without a warning, with the server's names (SQLAlchemy's own
    pattern skipped them with a warning, and a build followed no parent through them)."""
    database = mariadb_database()
    with pymysql.connect(**MARIADB, database=database) as conn, conn.cursor() as cur:
        for statement in SCHEMA:
            cur.execute(statement)
    engine = create_source_engine("SRC", mariadb_url(database))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            inspector = sa.inspect(engine)
            found = {table: [(fk["constrained_columns"], fk["referred_table"], fk["referred_columns"])
                             for fk in inspector.get_foreign_keys(table)] for table in ("kids", "marks", "odd")}
    finally:
        engine.dispose()
    assert found == {
        "kids": [(["pid"], "par`ent", ["id"])],
        "marks": sorted([(["a"], "ticks", ["id`"]), (["b"], "ticks", ["`"])]),
        "odd": [(["p)id", "x, y"], "pairs", ["id", "n"])],
    }


def test_a_build_follows_parents_through_a_table_named_with_a_backtick(
        mariadb_database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Kids whose parent table is named ``par`ent``: the parents they reference are in the package, with the
    foreign key, and it loads."""
    database = mariadb_database()
    with pymysql.connect(**MARIADB, database=database) as conn, conn.cursor() as cur:
        cur.execute(SCHEMA[0])
        cur.execute(SCHEMA[1])
        cur.executemany("INSERT INTO `par``ent` VALUES (%s, %s)", [(i, f"p{i}") for i in range(1, 21)])
        cur.executemany("INSERT INTO kids VALUES (%s, %s)", [(i, i % 20 + 1) for i in range(1, 11)])
        conn.commit()
    settings = mariadb_source_settings(monkeypatch, tmp_path, database, 100)
    text = ("templateName: kids\nexports:\n  kids: {provider: SRC, query: 'SELECT * FROM kids WHERE id <= 5'}\n"
            "subset: {follow_parents: true}\nmasking: {default: keep}\n")
    built = build_package(parse_template(text), {}, settings)
    assert sorted(pq.read_table(built.path / "parquet" / "par`ent.parquet").column("id").to_pylist()) == [2, 3, 4, 5, 6]
    assert "REFERENCES `par``ent`" in (built.path / "package.sql").read_text()
    target = mariadb_database()
    load_into_mariadb(built.path, target)
    assert row_counts(target) == {"kids": 5, "par`ent": 5}
