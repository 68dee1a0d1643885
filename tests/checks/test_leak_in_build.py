"""The leak check inside a real build: an original that reaches the staged output fails the build, names the
columns (never the value) and publishes nothing; the previous package stays."""

from __future__ import annotations

from pathlib import Path

import pytest

from hfit_dagster.errors import LeakDetected
from hfit_dagster.pipeline.local_build import build_package
from hfit_dagster.settings import load_settings
from hfit_dagster.template.loader import parse_template
from tests.conftest import fill_mariadb, mariadb_source_settings

pytestmark = pytest.mark.mariadb

ROWS = 3_000  # several Parquet row groups are not needed: batches of 500 make several scanned batches


def _template(copy_rule: str, twin_rule: str = "email") -> str:
    return f"""
templateName: leaky
exports:
  contacts:
    provider: SRC
    query: SELECT * FROM contacts
masking:
  contacts.email: email
  contacts.email_copy: {copy_rule}
  contacts.email_twin: {twin_rule}
  contacts.team: keep
  default: keep
"""


@pytest.fixture
def settings(tmp_path: Path, mariadb_database, monkeypatch: pytest.MonkeyPatch):
    name = mariadb_database()
    # email_copy repeats a few emails on many rows (a dictionary-encoded column), email_twin is every row's own
    # email again (distinct values: written without a dictionary), team is low-cardinality
    fill_mariadb(name, {"contacts": (
        "id INT PRIMARY KEY, email VARCHAR(80), email_copy VARCHAR(80), email_twin VARCHAR(80), team VARCHAR(40)",
        [(i, f"person{i}@corp.example", f"person{i % 7}@corp.example", f"person{i}@corp.example", f"team {i % 5}")
         for i in range(1, ROWS + 1)])})
    return mariadb_source_settings(monkeypatch, tmp_path, name, batch_rows=500)


def test_an_unmasked_copy_of_a_masked_column_fails_the_build_and_publishes_nothing(settings) -> None:
    """email is masked, email_copy kept: the originals found in email_copy fail the build by column name."""
    good = build_package(parse_template(_template("email")), {}, settings)
    assert good.manifest.checks["leak"]["passed"] is True
    before = sorted(p.name for p in good.path.parent.iterdir())

    with pytest.raises(LeakDetected) as failed:
        build_package(parse_template(_template("keep")), {}, settings)
    message = str(failed.value)
    assert "contacts.email in contacts.email_copy" in message and "nothing was published" in message
    assert "@corp.example" not in message  # the columns are named, no value is quoted
    assert sorted(p.name for p in good.path.parent.iterdir()) == before and good.path.is_dir()


def test_a_leak_in_a_column_written_without_a_dictionary_is_found(settings, monkeypatch) -> None:
    """Distinct values (every row's own email again) are written plain, not dictionary encoded: still scanned."""
    from hfit_dagster.pipeline.staging import StageOptions
    from hfit_dagster.pipeline.table_sink import dictionary_columns

    monkeypatch.setenv("HFIT_BATCH_ROWS", "1500")  # a first batch large enough to judge the columns by
    chosen: list[list[str]] = []
    options = StageOptions(choose_dictionaries=lambda first: chosen.append(dictionary_columns(first)) or chosen[-1])
    with pytest.raises(LeakDetected) as failed:
        build_package(parse_template(_template("email", twin_rule="keep")), {}, load_settings(), stage_options=options)
    assert chosen == [["email_copy", "team"]]  # email and email_twin are mostly distinct: no dictionary
    assert "contacts.email in contacts.email_twin" in str(failed.value)
