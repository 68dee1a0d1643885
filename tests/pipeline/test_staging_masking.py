"""Free text masked in two halves on two threads (structured columns of one batch beside the text of the one
before it) gives the same package as masking each batch whole: every row, in source order, the same fakes."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from hfit_dagster.pipeline.local_build import build_package
from hfit_dagster.pipeline.staging import StageOptions
from hfit_dagster.template.loader import parse_template
from tests.conftest import fill_mariadb, mariadb_source_settings

pytestmark = pytest.mark.mariadb

ROWS = 1_200
TEMPLATE = """
templateName: notes
exports:
  people:
    provider: SRC
    query: SELECT * FROM people
masking:
  people.name: person_name
  people.email: email
  people.note: redact_text
  default: keep
"""


@pytest.fixture
def settings(tmp_path: Path, mariadb_database, monkeypatch: pytest.MonkeyPatch):
    name = mariadb_database()
    notes = ["Called {name}; wants updates at {email}.", "Prefers phone calls.", None, "Wrote to {email}."]
    rows = [(i, f"Quentin Zabrowski{i}", f"qz{i}@mail.example", notes[i % 4]) for i in range(1, ROWS + 1)]
    fill_mariadb(name, {"people": ("id INT PRIMARY KEY, name VARCHAR(80), email VARCHAR(80), note TEXT",
                                   [(i, person, email, note and note.format(name=person, email=email))
                                    for i, person, email, note in rows])})
    return mariadb_source_settings(monkeypatch, tmp_path, name, batch_rows=100)  # twelve batches, two threads


def test_text_masked_beside_the_next_batch_equals_masking_each_batch_whole(settings) -> None:
    pipelined = pq.read_table(build_package(parse_template(TEMPLATE), {}, settings).path / "parquet/people.parquet")
    whole_batches = StageOptions(pipelined_text=False)  # every batch masked whole, one at a time
    whole = pq.read_table(build_package(parse_template(TEMPLATE), {}, settings, stage_options=whole_batches).path
                          / "parquet/people.parquet")
    assert pipelined.column("id").to_pylist() == list(range(1, ROWS + 1))
    assert pipelined.equals(whole)
    notes = pipelined.column("note").to_pylist()
    names, emails = pipelined.column("name").to_pylist(), pipelined.column("email").to_pylist()
    assert notes[3] == f"Called {names[3]}; wants updates at {emails[3]}."  # id 4: its own fakes, in place
    assert not any("Zabrowski" in n or "qz" in n for n in notes if n)
