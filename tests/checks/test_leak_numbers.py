"""The leak check in a real MariaDB build over numbers: a masked phone kept as a BIGINT in a table without any
text column fails the build by column name."""

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

