"""The leak check inside real MariaDB builds, for originals written differently from their source: a phone with
its digits run together or in national form, a phone stored as a number in a kept integer column, an email in
other case and spacing. Each is a
leak when it is the original of its own row. A kept number column is judged by row: numbers of the phone's shape
that are other rows' phones are collisions (any number column of random ids in a large table meets some), so an
honest build never fails on them."""

from __future__ import annotations

from pathlib import Path

import pytest

from hfit_dagster.errors import LeakDetected
from hfit_dagster.pipeline.local_build import build_package
from hfit_dagster.template.loader import parse_template
from tests.conftest import fill_mariadb, mariadb_source_settings

pytestmark = pytest.mark.mariadb

ROWS = 300


def _template(**rules: str) -> str:
    lines = "\n".join(f"  contacts.{column}: {operator}" for column, operator in rules.items())
    return f"""
templateName: leak-written-differently
exports:
  contacts:
    provider: SRC
    query: SELECT * FROM contacts
masking:
  contacts.phone: phone
{lines}
  default: keep
"""


@pytest.fixture
def settings(tmp_path: Path, mariadb_database, monkeypatch: pytest.MonkeyPatch):
    name = mariadb_database()
    fill_mariadb(name, {"contacts": (
        "id INT PRIMARY KEY, phone VARCHAR(30), phone_digits VARCHAR(30), phone_national VARCHAR(30), "
        "phone_number BIGINT, partner_number BIGINT, email VARCHAR(60), email_loud VARCHAR(60)",
        [(i, f"+1 415-555-{i:04d}", f"1415555{i:04d}", f"(415) 555 {i:04d}", int(f"1415555{i:04d}"),
          int(f"1415555{i % ROWS + 1:04d}"), f"jo.ann{i}@mail.example", f"  JO ANN{i} @ MAIL . EXAMPLE ")
         for i in range(1, ROWS + 1)])})
    return mariadb_source_settings(monkeypatch, tmp_path, name, batch_rows=100)


MASKED = {"phone_digits": "phone", "phone_national": "phone", "phone_number": "phone", "email": "email",
          "email_loud": "email"}


def test_other_rows_numbers_in_a_kept_number_column_are_collisions_and_the_build_passes(settings) -> None:
    """Every row's own number masked; the kept BIGINT holds the next row's number: another entity's number in a
    space any phone fake can take, counted, never a failure."""
    rules = {**MASKED, "partner_number": "keep"}
    built = build_package(parse_template(_template(**rules)), {}, settings)
    leak = built.manifest.checks["leak"]
    assert leak["passed"] is True
    assert leak["collisions"].get("contacts.phone in contacts.partner_number", 0) == ROWS


@pytest.mark.parametrize(("column", "original"), [("phone_digits", "phone"), ("phone_national", "phone"),
                                                  ("phone_number", "phone"), ("email_loud", "email")])
def test_a_rows_own_original_written_differently_in_a_kept_column_fails_the_build(settings, column: str,
                                                                                  original: str) -> None:
    """The row's own phone, digits run together (``14155550007``), in national form (``(415) 555 0007``) or as
    a BIGINT, or its email in capitals with spaces around its punctuation, in a column kept by rule: a leak
    naming both columns, never the value."""
    rules = {**MASKED, column: "keep", "partner_number": "phone"}
    with pytest.raises(LeakDetected) as failed:
        build_package(parse_template(_template(**rules)), {}, settings)
    message = str(failed.value)
    assert f"contacts.{original} in contacts.{column}" in message
    assert "415" not in message and "ann" not in message.lower()
