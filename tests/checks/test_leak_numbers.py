"""The leak check in a real MariaDB build over numbers and dotted digits: a masked phone kept as a BIGINT in a
table without any text column, or written with dots in a kept text column of its row, fails the build by column
name; IP addresses, version numbers and decimals beside the phones do not."""

from __future__ import annotations

from pathlib import Path

import pytest

from hfit_dagster.errors import LeakDetected
from hfit_dagster.pipeline.local_build import build_package
from hfit_dagster.template.loader import parse_template
from tests.conftest import fill_mariadb, mariadb_source_settings

pytestmark = pytest.mark.mariadb

CUSTOMERS = 300


def _phone(i: int) -> str:
    return f"+1 415-555-{i:04d}"


def _customers() -> tuple[str, list[tuple]]:
    return ("id INT PRIMARY KEY, name VARCHAR(40), phone VARCHAR(32)",
            [(i, f"Customer {i}", _phone(i)) for i in range(1, CUSTOMERS + 1)])


def _callbacks_template() -> str:
    return """
templateName: callbacks-leak
exports:
  customers: {provider: SRC, query: 'SELECT * FROM customers'}
  callbacks: {provider: SRC, query: 'SELECT * FROM callbacks'}
masking:
  customers.phone: phone
  callbacks.dialled: keep
  default: keep
"""


def _build_callbacks(tmp_path: Path, mariadb_database, monkeypatch: pytest.MonkeyPatch, dialled: dict[int, int]):
    name = mariadb_database()
    # callbacks has no text column: ids, a foreign key to its customer and the number dialled
    fill_mariadb(name, {
        "customers": _customers(),
        "callbacks": ("id INT PRIMARY KEY, customer_id INT, dialled BIGINT, "
                      "FOREIGN KEY (customer_id) REFERENCES customers(id)",
                      [(i, i, dialled.get(i, 2_000_000_000 + i * 7919)) for i in range(1, CUSTOMERS + 1)])})
    settings = mariadb_source_settings(monkeypatch, tmp_path, name, batch_rows=100)
    return build_package(parse_template(_callbacks_template()), {}, settings)


def test_a_masked_phone_kept_as_a_bigint_in_a_table_without_text_is_a_leak(
        tmp_path: Path, mariadb_database, monkeypatch: pytest.MonkeyPatch) -> None:
    """customers.phone is masked; callbacks (no text column) keeps, by a template rule the watch does not
    second-guess, the number dialled as a BIGINT: the customer's own phone there fails the build naming the
    column, never the number."""
    with pytest.raises(LeakDetected) as leak:
        _build_callbacks(tmp_path, mariadb_database, monkeypatch, {150: 4155550150})
    message = str(leak.value)
    assert "customers.phone in callbacks.dialled" in message
    assert "4155550150" not in message and "555" not in message


def test_numbers_that_are_no_phone_of_their_row_pass_in_a_table_without_text(
        tmp_path: Path, mariadb_database, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same tables with unrelated numbers dialled build, and the leak check passed over them."""
    built = _build_callbacks(tmp_path, mariadb_database, monkeypatch, {})
    assert built.manifest.checks["leak"]["passed"] is True


def _build_notes(tmp_path: Path, mariadb_database, monkeypatch: pytest.MonkeyPatch, notes: dict[int, str]):
    name = mariadb_database()
    phones = {151: "+1 192-168-1020"}  # its national digits are those of the IP address 192.168.10.20
    fill_mariadb(name, {"customers": ("id INT PRIMARY KEY, phone VARCHAR(32), notes VARCHAR(120)",
                                      [(i, phones.get(i, _phone(i)), notes.get(i, f"note {i}"))
                                       for i in range(1, CUSTOMERS + 1)])})
    settings = mariadb_source_settings(monkeypatch, tmp_path, name, batch_rows=100)
    template = """
templateName: dotted-leak
exports:
  customers: {provider: SRC, query: 'SELECT * FROM customers'}
masking:
  customers.phone: phone
  default: keep
"""
    return build_package(parse_template(template), {}, settings)


@pytest.mark.parametrize("written", ["call 415.555.0150.", "+1.415.555.0150", "1.415.555.0150 (cell)"])
def test_a_phone_written_with_dots_in_a_kept_column_of_its_row_is_a_leak(
        written: str, tmp_path: Path, mariadb_database, monkeypatch: pytest.MonkeyPatch) -> None:
    """The row's phone +1 415-555-0150, masked in its column, written with dots in the kept notes of the same row
    fails the build naming the column."""
    with pytest.raises(LeakDetected) as leak:
        _build_notes(tmp_path, mariadb_database, monkeypatch, {150: written})
    assert "customers.phone in customers.notes" in str(leak.value)
    assert "0150" not in str(leak.value)


def test_ip_addresses_versions_and_decimals_with_a_rows_phone_digits_are_no_leak(
        tmp_path: Path, mariadb_database, monkeypatch: pytest.MonkeyPatch) -> None:
    """Dotted digits that are not a phone are not joined: an IP address, a version number and decimals whose
    digits, run together, are their row's phone pass the leak check."""
    built = _build_notes(tmp_path, mariadb_database, monkeypatch, {
        150: "build 4.15.5.550150, total 415555.0150, ratio 4155.550150",
        151: "host 192.168.10.20 answered"})
    assert built.manifest.checks["leak"]["passed"] is True
