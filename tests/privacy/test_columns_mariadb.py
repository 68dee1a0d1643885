"""Whole columns on a real MariaDB source: personal data the first rows do not show, keys that are personal
data, and types that hide it. None of the originals may reach package.sql, the Parquet values or metadata,
or the manifest; joins on a masked key survive loading the package."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pymysql
import pytest

from hfit_dagster.errors import MaskingError
from hfit_dagster.package.manifest import PARAMETER_DIGEST
from hfit_dagster.pipeline.local_build import build_package
from hfit_dagster.pipeline.plan_preview import plan_template
from hfit_dagster.pipeline.table_samples import spread_starts
from hfit_dagster.template.loader import parse_template
from tests.conftest import MARIADB, fill_mariadb, mariadb_source_settings
from tests.pipeline.test_local_build import load_into_mariadb
from tests.privacy.column_outputs import originals_found

pytestmark = pytest.mark.mariadb

CUSTOMERS = 1000


def ssn_like(count: int, seed: int = 7) -> list[int]:
    """Valid-looking US SSNs as integers (area 100-665, group and serial not zero), in random order."""
    rng = np.random.default_rng(seed)
    return [int(a) * 1_000_000 + int(g) * 10_000 + int(s) for a, g, s in
            zip(rng.integers(100, 666, count), rng.integers(10, 100, count), rng.integers(1000, 10_000, count),
                strict=True)]


def customer_rows() -> list[tuple]:
    ssns = ssn_like(CUSTOMERS)
    return [(i,
             "n/a" if i <= 400 else f"person{i}@mail.example",  # 'n/a' for the first 400 rows
             None if i <= 500 else f"backup{i}@mail.example",  # NULL for the first 500 rows
             None,  # never filled
             ssns[i - 1],
             f"Profile of customer {i}: reach me at home{i}@home.example, evenings only please".encode())
            for i in range(1, CUSTOMERS + 1)]


CUSTOMERS_DDL = ("id INT PRIMARY KEY, contact VARCHAR(80), backup_contact VARCHAR(80), legacy VARCHAR(80), "
                 "tax_ref BIGINT, profile BLOB")
ACCOUNTS = [(f"acct{i}@corp.example", "gold" if i % 3 else "basic") for i in range(1, 51)]
LOGINS = [(i, ACCOUNTS[i % 50][0]) for i in range(1, 201)]

TEMPLATE = """
templateName: privacy-columns
exports:
  logins:
    provider: SRC
    query: SELECT * FROM logins
  accounts:
    provider: SRC
    query: SELECT * FROM accounts
  customers:
    provider: SRC
    query: SELECT * FROM customers
masking:
  default: auto
"""


@pytest.fixture
def source(tmp_path: Path, mariadb_database, monkeypatch: pytest.MonkeyPatch):
    name = mariadb_database()
    fill_mariadb(name, {
        "customers": (CUSTOMERS_DDL, customer_rows()),
        "accounts": ("account_key VARCHAR(80) PRIMARY KEY, tier VARCHAR(20)", ACCOUNTS),
        "logins": ("id INT PRIMARY KEY, owner VARCHAR(80) NOT NULL, "
                   "FOREIGN KEY (owner) REFERENCES accounts (account_key)", LOGINS),
        "partners": ("code VARCHAR(20) PRIMARY KEY, contact VARCHAR(80)",
                     [(f"P-{i:05d}", "n/a" if i <= 600 else f"partner{i}@mail.example") for i in range(1, 1001)]),
        "feedback": ("id INT PRIMARY KEY, remarks VARCHAR(80)",
                     [(i, f"write to late{i}@mail.example" if i == 220 else "fine, thanks")
                      for i in range(1, CUSTOMERS + 1)]),
    })
    return mariadb_source_settings(monkeypatch, tmp_path, name, batch_rows=100)


def originals() -> list[str]:
    values = [f"person{i}@mail.example" for i in range(401, CUSTOMERS + 1)]
    values += [f"backup{i}@mail.example" for i in range(501, CUSTOMERS + 1)]
    values += [f"home{i}@home.example" for i in range(1, CUSTOMERS + 1)]
    values += [str(v) for v in ssn_like(CUSTOMERS)]
    values += [email for email, _ in ACCOUNTS]
    return values


def test_hidden_personal_columns_are_masked_and_none_of_their_values_is_published(
        source, mariadb_database) -> None:
    built = build_package(parse_template(TEMPLATE), {}, source)
    columns = {(t.name, c.name): c.masking for t in built.manifest.tables for c in t.columns}

    assert columns[("customers", "contact")]["operator"] == "email"  # 'n/a' in its first 400 rows
    assert columns[("customers", "backup_contact")]["operator"] == "email"  # NULL in its first 500 rows
    legacy = columns[("customers", "legacy")]
    assert (legacy["operator"], legacy["source"]) == ("null", "default")  # no value seen: never kept silently
    assert "no non-empty value" in legacy["evidence"]
    assert columns[("customers", "tax_ref")]["operator"] == "national_id"  # SSNs stored as BIGINT
    assert columns[("customers", "profile")]["operator"] == "null"  # a BLOB holding text with emails
    assert columns[("accounts", "account_key")]["operator"] == "email"  # an email as primary key
    assert columns[("logins", "owner")]["operator"] == "email"  # ... and the foreign key to it
    assert columns[("logins", "owner")]["source"] == "key"

    assert originals_found(built.path, originals()) == []

    target = mariadb_database()
    load_into_mariadb(built.path, target)
    with pymysql.connect(**MARIADB, database=target) as conn, conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM logins l JOIN accounts a ON a.account_key = l.owner")
        assert cur.fetchone()[0] == len(LOGINS)  # the join survives masking
        cur.execute("SELECT COUNT(DISTINCT account_key) FROM accounts")
        assert cur.fetchone()[0] == len(ACCOUNTS)


def test_an_email_late_in_a_kept_column_fails_the_build_naming_the_column(source) -> None:
    """One email in row 220 of a column of 'fine, thanks': no sample sees it, the watch over kept columns does."""
    template = """
templateName: privacy-late-email
exports:
  feedback:
    provider: SRC
    query: SELECT * FROM feedback
"""
    with pytest.raises(MaskingError) as failure:
        build_package(parse_template(template), {}, source)
    message = str(failure.value)
    assert "feedback.remarks" in message and "EMAIL_ADDRESS" in message
    assert "late220" not in message  # names the column and what was found, never the value
    assert "feedback.remarks: redact_text" in message


def test_parameter_values_are_stored_as_keyed_digests_with_their_names(source) -> None:
    """``who=<email>`` selects the rows; the manifest keeps the name ``who`` and a keyed digest, never the email."""
    template = """
templateName: privacy-params
parameters:
  who: {type: str, description: "an account's email"}
exports:
  accounts:
    provider: SRC
    query: SELECT * FROM accounts WHERE account_key = :who
"""
    built = build_package(parse_template(template), {"who": "acct7@corp.example"}, source)
    assert built.manifest.params["who"].startswith(PARAMETER_DIGEST)
    again = build_package(parse_template(template), {"who": "acct7@corp.example"}, source)
    assert again.manifest.params["who"] == built.manifest.params["who"]  # the same value, the same digest
    assert originals_found(built.path, ["acct7@corp.example", "acct7"]) == []


def test_a_table_with_a_text_key_is_sampled_across_its_length(source) -> None:
    """partners is keyed by text; its contact is 'n/a' for the first 600 keys: the preview (the build's planner
    and samples) still sees the emails after them."""
    template = """
templateName: privacy-text-key
exports:
  partners:
    provider: SRC
    query: SELECT * FROM partners
"""
    plans = plan_template(parse_template(template), source)
    assert plans["partners"].decisions["contact"].operator == "email"


def test_text_keys_are_spaced_between_the_smallest_and_largest() -> None:
    starts = spread_starts("key-1", "key-999999", 200)
    assert starts is not None and len(starts) == 8 and starts[0] == "key-1"
    assert all("key-1" <= start <= "key-999999" for start in starts)
    assert all(start.encode("utf-8") for start in spread_starts("Ærø", "Øst", 200) or [])
    assert spread_starts(1, 100, 200) is None  # narrower than the sample: read from the start


def test_schema_text_stays_out_of_parquet_metadata_and_the_manifest(
        mariadb_database: Callable[[], str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A person's name in an ENUM label, a column comment and a table comment reaches none of package.sql, the
    Parquet metadata or the manifest (the types are named there as ENUM(n labels))."""
    database = mariadb_database()
    with pymysql.connect(**MARIADB, database=database) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE staff (id INT PRIMARY KEY, "
                    "duty ENUM('driver', 'Jane Doe', 'clerk') NOT NULL COMMENT 'ask Jane Doe', "
                    "shifts SET('early', 'Jane Doe') NULL) COMMENT 'kept by Jane Doe'")
        cur.executemany("INSERT INTO staff VALUES (%s, %s, %s)",
                        [(i, "driver" if i % 2 else "clerk", "early") for i in range(1, 41)])
        conn.commit()
    settings = mariadb_source_settings(monkeypatch, tmp_path, database, 1000)
    spec = parse_template("templateName: schema-text\nexports:\n  staff:\n    provider: SRC\n"
                          "    query: SELECT * FROM staff\n")
    built = build_package(spec, {}, settings)
    assert originals_found(built.path, ["Jane Doe"]) == []
    manifest = (built.path / "manifest.json").read_text()
    assert "ENUM(3 labels)" in manifest and "SET(2 labels)" in manifest
