"""Table and column comments are dropped from package.sql unless the template keeps them (``masking.comments:
keep``): then they are copied verbatim and the loaded MariaDB or PostgreSQL target has them; a draft's build
(content nobody approved) never keeps them; any other value of the switch is refused."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import psycopg
import pymysql
import pytest

from hfit_dagster.pipeline.local_build import build_package
from hfit_dagster.settings import load_settings
from hfit_dagster.template.loader import parse_template
from tests.conftest import MARIADB, TEST_MASKING_KEY, mariadb_source_settings
from tests.pipeline.test_local_build import load_into_mariadb

TABLE_COMMENT = "reference data owned by the billing team"
COLUMN_COMMENT = "ISO 4217 code, upper case"


def _template(comments: str | None) -> str:
    switch = f"\nmasking:\n  comments: {comments}\n" if comments else "\n"
    return ("templateName: comments-kept\nexports:\n  currencies:\n    provider: SRC\n"
            "    query: SELECT * FROM currencies\n" + switch)


def test_the_comments_switch_takes_drop_or_keep_and_drafts_never_keep() -> None:
    assert parse_template(_template("keep")).keeps_comments
    assert not parse_template(_template("drop")).keeps_comments
    assert not parse_template(_template(None)).keeps_comments
    assert not parse_template(_template("keep")).as_draft_build().keeps_comments
    with pytest.raises(Exception, match="masking.comments must be"):
        parse_template(_template("mask"))


@pytest.mark.mariadb
def test_kept_comments_reach_a_mariadb_target(mariadb_database: Callable[[], str], monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    source = mariadb_database()
    with pymysql.connect(**MARIADB, database=source) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE TABLE currencies (id INT PRIMARY KEY, code CHAR(3) COMMENT '{COLUMN_COMMENT}') "
                    f"COMMENT '{TABLE_COMMENT}'")
        cur.executemany("INSERT INTO currencies VALUES (%s, %s)", [(1, "EUR"), (2, "USD")])
        conn.commit()
    settings = mariadb_source_settings(monkeypatch, tmp_path, source, batch_rows=100)
    dropped = build_package(parse_template(_template(None)), {}, settings)
    assert COLUMN_COMMENT not in (dropped.path / "package.sql").read_text()
    kept = build_package(parse_template(_template("keep")), {}, settings)
    target = mariadb_database()
    load_into_mariadb(kept.path, target)
    with pymysql.connect(**MARIADB, database=target) as conn, conn.cursor() as cur:
        cur.execute("SELECT TABLE_COMMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s "
                    "AND TABLE_NAME = 'currencies'", (target,))
        assert cur.fetchone()[0] == TABLE_COMMENT
        cur.execute("SELECT COLUMN_COMMENT FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s "
                    "AND TABLE_NAME = 'currencies' AND COLUMN_NAME = 'code'", (target,))
        assert cur.fetchone()[0] == COLUMN_COMMENT


@pytest.mark.postgres
def test_kept_comments_reach_a_postgres_target(postgres_database: Callable[[], str],
                                               monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    source = postgres_database()
    with psycopg.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={source}") as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE currencies (id INT PRIMARY KEY, code CHAR(3))")
        cur.execute(f"COMMENT ON TABLE currencies IS '{TABLE_COMMENT}'")
        cur.execute(f"COMMENT ON COLUMN currencies.code IS '{COLUMN_COMMENT}'")
        cur.executemany("INSERT INTO currencies VALUES (%s, %s)", [(1, "EUR"), (2, "USD")])
        conn.commit()
    monkeypatch.setenv("HFIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HFIT_MASKING_KEY", TEST_MASKING_KEY)
    monkeypatch.setenv("HFIT_PROVIDER_SRC_URL", f"postgresql+psycopg://postgres@127.0.0.1:5432/{source}")
    kept = build_package(parse_template(_template("keep")), {}, load_settings(), dialect="postgresql")
    target = postgres_database()
    loaded = subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", target, "-v", "ON_ERROR_STOP=1",
                             "-q", "-X", "-f", str(kept.path / "package.sql")], capture_output=True, timeout=300)
    assert loaded.returncode == 0, loaded.stderr.decode()[:500]
    with psycopg.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={target}") as conn:
        row = conn.execute("SELECT obj_description('currencies'::regclass, 'pg_class'), "
                           "col_description('currencies'::regclass, 2)").fetchone()
    assert row == (TABLE_COMMENT, COLUMN_COMMENT)
