"""The leak scan of a table whose export ended runs while the next exports are read; it must never make the
check weaker: originals found later and rows added later (parents followed) are still searched, and a table
that gets rows after its file was closed for the scan keeps every row."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from hfit_dagster.errors import LeakDetected
from hfit_dagster.pipeline.local_build import build_package
from hfit_dagster.template.loader import parse_template
from tests.conftest import fill_mariadb, mariadb_source_settings

pytestmark = pytest.mark.mariadb

EARLY = "(scanned while the next tables were read)"


@pytest.fixture
def settings(tmp_path: Path, mariadb_database, monkeypatch: pytest.MonkeyPatch):
    name = mariadb_database()
    fill_mariadb(name, {
        # the first ten customers have an email; the other ten none, but a copy of one of the first ten's
        "customers": ("id INT PRIMARY KEY, email VARCHAR(80), email_copy VARCHAR(80)",
                      [(i, f"person{i}@corp.example", None) for i in range(1, 11)]
                      + [(i, None, f"person{i - 10}@corp.example") for i in range(11, 21)]),
        "orders": ("id INT PRIMARY KEY, customer_id INT NOT NULL, FOREIGN KEY (customer_id) REFERENCES customers (id)",
                   [(i, (i - 1) % 20 + 1) for i in range(1, 41)]),
        # read before the people: its body names a person whose email only the people export masks
        "aaa_notes": ("id INT PRIMARY KEY, author_email VARCHAR(80), body VARCHAR(200)",
                      [(i, f"author{i}@corp.example", f"note {i}, copy to someone.else{i}@corp.example")
                       for i in range(1, 31)]),
        "zzz_people": ("id INT PRIMARY KEY, email VARCHAR(80)",
                       [(i, f"someone.else{i}@corp.example") for i in range(1, 31)]),
    })
    return mariadb_source_settings(monkeypatch, tmp_path, name, batch_rows=8)


def _customers_and_orders(copy_rule: str, customers_query: str = "SELECT * FROM customers",
                          follow_parents: bool = False) -> str:
    return f"""
templateName: early-scan
exports:
  customers:
    provider: SRC
    query: {customers_query}
  orders:
    provider: SRC
    query: SELECT * FROM orders
subset:
  follow_parents: {str(follow_parents).lower()}
masking:
  customers.email: email
  customers.email_copy: {copy_rule}
  default: keep
"""


def test_a_table_scanned_beside_the_next_export_passes_or_fails_as_before(settings) -> None:
    """customers is scanned while orders is read: a masked copy passes, an unmasked copy fails by column name."""
    messages: list[str] = []
    good = build_package(parse_template(_customers_and_orders("email")), {}, settings, progress=messages.append)
    assert good.manifest.checks["leak"]["passed"] is True
    assert f"leak check: customers {EARLY}" in messages

    messages.clear()
    with pytest.raises(LeakDetected, match=r"customers\.email in customers\.email_copy"):
        build_package(parse_template(_customers_and_orders("keep")), {}, settings, progress=messages.append)
    assert f"leak check: customers {EARLY}" in messages


def test_originals_found_after_a_table_was_scanned_are_searched_in_it_again(settings) -> None:
    """aaa_notes is scanned while zzz_people is read; the people's emails, collected after that scan, are in the
    notes' kept body: the table is scanned again at the end and the build fails."""
    template = """
templateName: early-scan-later-originals
exports:
  aaa_notes:
    provider: SRC
    query: SELECT * FROM aaa_notes
  zzz_people:
    provider: SRC
    query: SELECT * FROM zzz_people
masking:
  aaa_notes.author_email: email
  aaa_notes.body: keep
  zzz_people.email: email
  default: keep
"""
    messages: list[str] = []
    with pytest.raises(LeakDetected, match=r"zzz_people\.email in aaa_notes\.body"):
        build_package(parse_template(template), {}, settings, progress=messages.append)
    assert "leak check: aaa_notes" in messages and f"leak check: aaa_notes {EARLY}" not in messages


def test_parents_followed_into_a_table_closed_for_its_scan_are_kept_and_searched(settings) -> None:
    """customers exports ids 1-10, orders reference 1-20: ids 11-20 are followed into customers after its file was
    closed for the early scan. The package has all 20, masked. The followed rows bring no new original (no
    email) but unmasked copies of the first ten's: the early scan saw none of them, the table is scanned again
    and the build fails."""
    template = _customers_and_orders("email", "SELECT * FROM customers WHERE id <= 10", follow_parents=True)
    good = build_package(parse_template(template), {}, settings)
    customers = pq.read_table(good.path / "parquet" / "customers.parquet")
    assert sorted(customers.column("id").to_pylist()) == list(range(1, 21))
    assert not any("person" in str(value) for value in customers.column("email").to_pylist())
    assert {t.name: t.rows for t in good.manifest.tables}["customers"] == 20

    leaky = _customers_and_orders("keep", "SELECT * FROM customers WHERE id <= 10", follow_parents=True)
    with pytest.raises(LeakDetected, match=r"customers\.email in customers\.email_copy"):
        build_package(parse_template(leaky), {}, settings)


def test_the_last_export_of_a_chain_is_scanned_beside_the_exports_after_it(settings) -> None:
    """customers and orders need nothing from each other (one reader, back to back); zzz_people needs orders'
    ids, so it is read after them: orders, the last of the chain, is scanned while zzz_people is read (which
    adds no original, so both early scans count)."""
    template = """
templateName: early-scan-chain
exports:
  customers:
    provider: SRC
    query: SELECT * FROM customers
  orders:
    provider: SRC
    query: SELECT * FROM orders
  zzz_people:
    provider: SRC
    query: SELECT * FROM zzz_people WHERE id IN :orders.id
masking:
  customers.email: email
  customers.email_copy: email
  default: keep
"""
    messages: list[str] = []
    built = build_package(parse_template(template), {}, settings, progress=messages.append)
    assert built.manifest.checks["leak"]["passed"] is True
    assert f"leak check: customers {EARLY}" in messages and f"leak check: orders {EARLY}" in messages
