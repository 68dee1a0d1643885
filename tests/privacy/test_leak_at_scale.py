"""The leak check on an honest build whose fakes come from the same spaces as the originals: phones in one
local numbering range (7 digits: the phone operator's permutations land on other customers' numbers) and names
from common name lists (the name pools hold many of them; fake emails carry name pairs). It passes and counts
its collisions; one original planted in a kept column of the same row, or of another table, fails it by column
name, never by value."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from faker.providers.person.en_US import Provider as People

from hfit_dagster.errors import LeakDetected
from hfit_dagster.pipeline.local_build import build_package
from hfit_dagster.template.loader import parse_template
from tests.conftest import fill_mariadb, mariadb_source_settings

pytestmark = pytest.mark.mariadb

CUSTOMERS = 20_000
TEMPLATE = """
templateName: leak-at-scale
exports:
  customers:
    provider: SRC
    query: SELECT * FROM customers
  orders:
    provider: SRC
    query: SELECT * FROM orders
masking:
  customers.first_name: first_name
  customers.last_name: last_name
  customers.email: email
  customers.phone: phone
  default: keep
"""


def _customers(rng: random.Random) -> list[tuple]:
    first, last = list(People.first_names), list(People.last_names)
    rows, phones = [], set()
    for i in range(1, CUSTOMERS + 1):
        given, family = rng.choice(first), rng.choice(last)
        phone = f"{rng.randint(200, 999)}-{rng.randint(0, 9999):04d}"
        while phone in phones:
            phone = f"{rng.randint(200, 999)}-{rng.randint(0, 9999):04d}"
        phones.add(phone)
        email = f"{given}.{family}{i}@{rng.choice(['gmail.com', 'web.de', 'orange.fr'])}".lower()
        rows.append((i, given, family, email, phone, None, rng.choice(["standard", "premium"])))
    return rows


def _fill(mariadb_database, plant: str | None) -> str:
    rng = random.Random(18)
    customers = _customers(rng)
    orders = [(i, rng.randint(1, CUSTOMERS), None) for i in range(1, 5_001)]
    if plant == "same_row":  # customer 17's own phone in its kept alt_phone
        row = customers[16]
        customers[16] = row[:5] + (row[4],) + row[6:]
    elif plant == "other_table":  # customer 5's email in an order's kept contact column
        orders[99] = (100, orders[99][1], customers[4][3])
    name = mariadb_database()
    fill_mariadb(name, {
        "customers": ("id INT PRIMARY KEY, first_name VARCHAR(40), last_name VARCHAR(40), email VARCHAR(120), "
                      "phone VARCHAR(20), alt_phone VARCHAR(20), segment VARCHAR(20)", customers),
        "orders": ("id INT PRIMARY KEY, customer_id INT NOT NULL, contact VARCHAR(120), "
                   "FOREIGN KEY (customer_id) REFERENCES customers (id)", orders),
    })
    return name


@pytest.fixture
def build(tmp_path: Path, mariadb_database, monkeypatch: pytest.MonkeyPatch):
    def run(plant: str | None):
        settings = mariadb_source_settings(monkeypatch, tmp_path, _fill(mariadb_database, plant), batch_rows=5_000)
        return build_package(parse_template(TEMPLATE), {}, settings)

    return run


def test_an_honest_build_with_colliding_fakes_passes_and_counts_them(build) -> None:
    leak = build(None).manifest.checks["leak"]
    assert leak["passed"] is True and leak["columns_with_hits"] == []
    assert leak["collisions"]  # fakes equal to other customers' phones or names: counted, not failed
    assert any(found.startswith("customers.phone in customers.phone") for found in leak["collisions"])


def test_an_original_planted_in_a_kept_column_of_its_own_row_fails_by_column(build) -> None:
    with pytest.raises(LeakDetected) as failed:
        build("same_row")
    message = str(failed.value)
    assert "customers.phone in customers.alt_phone (kept column)" in message
    assert not any(ch.isdigit() for ch in message.split("original values of", 1)[1].replace("leak", ""))


def test_an_original_planted_in_a_kept_column_of_another_table_fails_by_column(build) -> None:
    with pytest.raises(LeakDetected) as failed:
        build("other_table")
    message = str(failed.value)
    assert "customers.email in orders.contact (kept column)" in message and "@" not in message
