"""One person's fakes agree, on real MariaDB and PostgreSQL sources: an email built from the row's name is faked
from the row's fake name (``jane.doe42@mail.com`` of Jane Doe becomes ``<fake first>.<fake last>.<hex>@...``),
the same address gets the same fake in another table (joins on it survive), and phone fakes keep the country
code of numbers written in many countries' formats. No original reaches the package."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import psycopg
import pyarrow.parquet as pq
import pytest

from hfit_dagster.pipeline.local_build import build_package
from hfit_dagster.settings import load_settings
from hfit_dagster.template.loader import parse_template
from tests.conftest import TEST_MASKING_KEY, fill_mariadb, mariadb_source_settings
from tests.privacy.column_outputs import originals_found

PEOPLE = [("Jane", "Doe"), ("Omar", "Haddad"), ("Li", "Wei"), ("Ingrid", "Svensson"), ("Kwame", "Mensah"),
          ("Maria", "Garcia"), ("Aarav", "Sharma"), ("Chloe", "Martin"), ("Yuki", "Tanaka"), ("Sean", "Murphy")]
# (number, the country prefix its fake keeps)
PHONES = [("+44 20 7946 0958", "+44 "), ("0049 30 901820", "0049 "), ("+1 415-555-0100", "+1 "),
          ("+33 1 42 68 53 00", "+33 "), ("+81 3-3224-9999", "+81 "), ("+353 1 671 1111", "+353 "),
          ("+971 4 330 0000", "+971 "), ("+86 138 0013 8000", "+86 "), ("+91 98765 43210", "+91 "),
          ("+55 11 91234-5678", "+55 ")]
TEMPLATE = """
templateName: privacy-person-fakes
exports:
  customers:
    provider: SRC
    query: SELECT * FROM customers
  orders:
    provider: SRC
    query: SELECT * FROM orders
  contacts:
    provider: SRC
    query: SELECT * FROM contacts
"""


def email_of(i: int) -> str:
    first, last = PEOPLE[i % len(PEOPLE)]
    return f"{first.lower()}.{last.lower()}{i}@mail{i % 3}.example"


def customer_rows() -> list[tuple]:
    return [(i, *PEOPLE[i % len(PEOPLE)], email_of(i), PHONES[i % len(PHONES)][0]) for i in range(1, 41)]


def order_rows() -> list[tuple]:
    return [(100 + i, email_of(i)) for i in range(1, 41)]


def contact_rows() -> list[tuple]:
    return [(i, " ".join(PEOPLE[i % len(PEOPLE)]), f"{PEOPLE[i % len(PEOPLE)][0].lower()}_"
             f"{PEOPLE[i % len(PEOPLE)][1].lower()}@firm.example") for i in range(1, 21)]


def slug(name: str) -> str:
    return re.sub(r"[^a-z]", "", name.lower())


def check_package(package: Path) -> None:
    customers = pq.read_table(package / "parquet" / "customers.parquet").to_pylist()
    orders = {row["id"]: row["contact_email"] for row in pq.read_table(package / "parquet" / "orders.parquet")
              .to_pylist()}
    for row in customers:
        assert row["email"].startswith(f"{slug(row['first_name'])}.{slug(row['last_name'])}.")  # the fake name
        assert re.fullmatch(r"[a-z]+\.[a-z]+\.[0-9a-f]{12}@example\.(com|net|org)", row["email"])
        assert orders[100 + row["id"]] == row["email"]  # the same address, the same fake in another table
        original, prefix = PHONES[row["id"] % len(PHONES)]
        assert row["phone"].startswith(prefix) and row["phone"] != original  # the country code kept
        assert re.sub(r"\d", "0", row["phone"]) == re.sub(r"\d", "0", original)  # and the format
    for row in pq.read_table(package / "parquet" / "contacts.parquet").to_pylist():
        first, last = row["full_name"].split(" ")
        assert row["email"].startswith(f"{slug(first)}.{slug(last)}.")  # from a full-name column too
    originals = [email_of(i) for i in range(1, 41)] + [phone for phone, _ in PHONES]
    originals += [f"{first} {last}" for first, last in PEOPLE]
    assert originals_found(package, originals) == []


@pytest.mark.mariadb
def test_person_fakes_agree_on_a_mariadb_source(mariadb_database: Callable[[], str],
                                                 monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    source = mariadb_database()
    fill_mariadb(source, {
        "customers": ("id INT PRIMARY KEY, first_name VARCHAR(40), last_name VARCHAR(40), email VARCHAR(120), "
                      "phone VARCHAR(30)", customer_rows()),
        "orders": ("id INT PRIMARY KEY, contact_email VARCHAR(120)", order_rows()),
        "contacts": ("id INT PRIMARY KEY, full_name VARCHAR(80), email VARCHAR(120)", contact_rows()),
    })
    built = build_package(parse_template(TEMPLATE), {}, mariadb_source_settings(monkeypatch, tmp_path, source, 16))
    check_package(built.path)


@pytest.mark.postgres
def test_person_fakes_agree_on_a_postgres_source(postgres_database: Callable[[], str],
                                                  monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    source = postgres_database()
    with psycopg.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={source}") as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE customers (id INT PRIMARY KEY, first_name TEXT, last_name TEXT, email TEXT, "
                    "phone TEXT)")
        cur.executemany("INSERT INTO customers VALUES (%s, %s, %s, %s, %s)", customer_rows())
        cur.execute("CREATE TABLE orders (id INT PRIMARY KEY, contact_email TEXT)")
        cur.executemany("INSERT INTO orders VALUES (%s, %s)", order_rows())
        cur.execute("CREATE TABLE contacts (id INT PRIMARY KEY, full_name TEXT, email TEXT)")
        cur.executemany("INSERT INTO contacts VALUES (%s, %s, %s)", contact_rows())
        conn.commit()
    monkeypatch.setenv("HFIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HFIT_MASKING_KEY", TEST_MASKING_KEY)
    monkeypatch.setenv("HFIT_PROVIDER_SRC_URL", f"postgresql+psycopg://postgres@127.0.0.1:5432/{source}")
    monkeypatch.setenv("HFIT_BATCH_ROWS", "16")
    built = build_package(parse_template(TEMPLATE), {}, load_settings(), dialect="postgresql")
    check_package(built.path)
