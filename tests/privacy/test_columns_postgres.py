"""Whole columns on a real PostgreSQL source: late and NULL-headed emails, an email primary key with a foreign
key to it (the join survives loading the package into PostgreSQL), bytea holding text and SSNs as BIGINT;
none of the originals reaches package.sql, the Parquet values or metadata, or the manifest."""

from __future__ import annotations

import subprocess
from pathlib import Path

import psycopg
import pytest

from hfit_dagster.errors import MaskingError
from hfit_dagster.pipeline.local_build import build_package
from hfit_dagster.settings import load_settings
from hfit_dagster.template.loader import parse_template
from tests.conftest import TEST_MASKING_KEY
from tests.privacy.column_outputs import originals_found
from tests.privacy.test_columns_mariadb import ACCOUNTS, CUSTOMERS, LOGINS, TEMPLATE, customer_rows, originals

pytestmark = pytest.mark.postgres


def connect(database: str) -> psycopg.Connection:
    return psycopg.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={database}")


@pytest.fixture
def source(tmp_path: Path, postgres_database, monkeypatch: pytest.MonkeyPatch):
    name = postgres_database()
    with connect(name) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE customers (id INT PRIMARY KEY, contact VARCHAR(80), backup_contact VARCHAR(80), "
                    "legacy VARCHAR(80), tax_ref BIGINT, profile BYTEA)")
        cur.executemany("INSERT INTO customers VALUES (%s, %s, %s, %s, %s, %s)", customer_rows())
        cur.execute("CREATE TABLE accounts (account_key VARCHAR(80) PRIMARY KEY, tier VARCHAR(20))")
        cur.executemany("INSERT INTO accounts VALUES (%s, %s)", ACCOUNTS)
        cur.execute("CREATE TABLE logins (id INT PRIMARY KEY, owner VARCHAR(80) NOT NULL "
                    "REFERENCES accounts (account_key))")
        cur.executemany("INSERT INTO logins VALUES (%s, %s)", LOGINS)
        cur.execute("CREATE TABLE feedback (id INT PRIMARY KEY, remarks TEXT, attachment BYTEA)")
        cur.executemany("INSERT INTO feedback VALUES (%s, %s, %s)",
                        [(i, "fine, thanks", f"call +44 20 7946 {i:04d}".encode() if i == 330 else b"\x89PNG")
                         for i in range(1, CUSTOMERS + 1)])
        conn.commit()
    monkeypatch.setenv("HFIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HFIT_MASKING_KEY", TEST_MASKING_KEY)
    monkeypatch.setenv("HFIT_PROVIDER_SRC_URL", f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}")
    monkeypatch.setenv("HFIT_BATCH_ROWS", "100")
    return load_settings()


def test_hidden_personal_columns_of_a_postgres_source_are_masked(source, postgres_database) -> None:
    built = build_package(parse_template(TEMPLATE), {}, source, dialect="postgresql")
    columns = {(t.name, c.name): c.masking for t in built.manifest.tables for c in t.columns}
    assert columns[("customers", "contact")]["operator"] == "email"
    assert columns[("customers", "backup_contact")]["operator"] == "email"
    assert columns[("customers", "legacy")]["operator"] == "null"
    assert columns[("customers", "tax_ref")]["operator"] == "national_id"
    assert columns[("customers", "profile")]["operator"] == "null"
    assert columns[("accounts", "account_key")]["operator"] == "email"
    assert columns[("logins", "owner")]["operator"] == "email"

    assert originals_found(built.path, originals()) == []

    target = postgres_database()
    loaded = subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", target, "-v", "ON_ERROR_STOP=1",
                             "-q", "-X", "-f", str(built.path / "package.sql")], capture_output=True, timeout=300)
    assert loaded.returncode == 0, loaded.stderr.decode()[:500]
    with connect(target) as conn:
        joined = conn.execute("SELECT COUNT(*) FROM logins l JOIN accounts a ON a.account_key = l.owner").fetchone()
        assert joined[0] == len(LOGINS)
        assert conn.execute("SELECT COUNT(*) FROM customers").fetchone()[0] == CUSTOMERS


def test_a_phone_late_in_a_kept_bytea_column_fails_the_build_naming_the_column(source) -> None:
    """Row 330 of a bytea column of image headers holds text with a phone number: no sample sees it, the watch
    over kept columns does, and names the column, never the number."""
    template = """
templateName: privacy-late-phone
exports:
  feedback:
    provider: SRC
    query: SELECT * FROM feedback
"""
    with pytest.raises(MaskingError) as failure:
        build_package(parse_template(template), {}, source, dialect="postgresql")
    message = str(failure.value)
    assert "feedback.attachment" in message and "PHONE_NUMBER" in message
    assert "7946" not in message
    assert 'feedback.attachment: "null"' in message  # quoted: YAML reads a bare null as no value
