"""The leak check inside a real MariaDB build, for rows linked by masked keys: an account keyed by its email
(masked, and the foreign key to it masked alike) is one entity with its logins, so an account's original left in
the free text of one of its logins is a leak, while the same value in another account's login is a collision."""

from __future__ import annotations

from pathlib import Path

import pytest

from hfit_dagster.errors import LeakDetected
from hfit_dagster.pipeline.local_build import build_package
from hfit_dagster.template.loader import parse_template
from tests.conftest import fill_mariadb, mariadb_source_settings

pytestmark = pytest.mark.mariadb

ACCOUNTS = 40
TEMPLATE = """
templateName: leak-masked-keys
exports:
  accounts:
    provider: SRC
    query: SELECT * FROM accounts
  logins:
    provider: SRC
    query: SELECT * FROM logins
masking:
  accounts.account_key: email
  accounts.member_no: national_id
  logins.note: redact_text
  default: keep
"""


def member_no(i: int) -> str:
    return f"{480_000_000 + i * 7919}"  # a bare 9-digit number: no shape, cue or check digit for the redactor


def _settings(tmp_path: Path, mariadb_database, monkeypatch: pytest.MonkeyPatch, note_of: int):
    name = mariadb_database()
    fill_mariadb(name, {
        "accounts": ("account_key VARCHAR(80) PRIMARY KEY, member_no VARCHAR(12)",
                     [(f"acct{i}@corp.example", member_no(i)) for i in range(1, ACCOUNTS + 1)]),
        "logins": ("id INT PRIMARY KEY, owner VARCHAR(80) NOT NULL, note VARCHAR(200), "
                   "FOREIGN KEY (owner) REFERENCES accounts (account_key)",
                   [(i, f"acct{i}@corp.example", f"signed in with card {member_no(note_of(i))} today")
                    for i in range(1, ACCOUNTS + 1)]),
    })
    return mariadb_source_settings(monkeypatch, tmp_path, name, batch_rows=16)


def test_an_accounts_original_in_its_own_logins_text_is_a_leak(tmp_path, mariadb_database, monkeypatch) -> None:
    settings = _settings(tmp_path, mariadb_database, monkeypatch, note_of=lambda i: i)
    with pytest.raises(LeakDetected) as failed:
        build_package(parse_template(TEMPLATE), {}, settings)
    assert "accounts.member_no in logins.note (same row or entity)" in str(failed.value)


def test_another_accounts_number_in_a_logins_text_is_a_collision(tmp_path, mariadb_database, monkeypatch) -> None:
    settings = _settings(tmp_path, mariadb_database, monkeypatch, note_of=lambda i: i % ACCOUNTS + 1)
    built = build_package(parse_template(TEMPLATE), {}, settings)
    leak = built.manifest.checks["leak"]
    assert leak["passed"] is True and leak["collisions"]["accounts.member_no in logins.note"] == ACCOUNTS
