"""Builds of several exports from one MariaDB source. Exports that need nothing from each other are read back
to back by one reader (the next query starts while the previous table's last batches are masked): the same
package as reading them one by one, and a failing query still fails the build cleanly. Row bounds per export."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from hfit_dagster.errors import BuildError, ProviderError
from hfit_dagster.pipeline.export_walk import export_runs
from hfit_dagster.pipeline.local_build import build_package
from hfit_dagster.pipeline.staging import StageOptions
from hfit_dagster.template.loader import parse_template
from tests.conftest import fill_mariadb, mariadb_source_settings

pytestmark = pytest.mark.mariadb

TEMPLATE = """
templateName: chained
exports:
  teams:
    provider: SRC
    query: SELECT * FROM teams
  people:
    provider: SRC
    query: SELECT * FROM people WHERE id <= :last_id
  badges:
    provider: SRC
    query: SELECT * FROM badges WHERE id > 100
  links:
    provider: SRC
    query: SELECT * FROM links WHERE team_id IN :teams.id AND id < 20
parameters:
  last_id: {type: int, default: 600}
masking:
  people.email: email
  default: keep
"""


@pytest.fixture
def settings(tmp_path: Path, mariadb_database, monkeypatch: pytest.MonkeyPatch):
    name = mariadb_database()
    fill_mariadb(name, {
        "teams": ("id INT PRIMARY KEY, label VARCHAR(20)", [(i, f"team {i}") for i in range(1, 6)]),
        "people": ("id INT PRIMARY KEY, team_id INT, email VARCHAR(80), FOREIGN KEY (team_id) REFERENCES teams (id)",
                   [(i, i % 5 + 1, f"p{i}@corp.example") for i in range(1, 1001)]),
        "badges": ("id INT PRIMARY KEY, label VARCHAR(20)", [(i, f"badge {i}") for i in range(1, 301)]),
        "links": ("id INT PRIMARY KEY, team_id INT, FOREIGN KEY (team_id) REFERENCES teams (id)",
                  [(i, i % 5 + 1) for i in range(1, 101)]),
    })
    return mariadb_source_settings(monkeypatch, tmp_path, name, batch_rows=64)  # several batches per export


def _tables(path: Path) -> dict[str, object]:
    return {p.stem: pq.read_table(p) for p in sorted((path / "parquet").iterdir())}


def test_plain_exports_read_back_to_back_give_the_package_of_one_by_one(settings) -> None:
    """Plain exports next to each other share one reader; links (it uses teams.id) is read on its own."""
    spec = parse_template(TEMPLATE)
    runs = export_runs(spec, spec.export_order(), spec.queries())
    assert ["links"] in runs and any(len(run) > 1 for run in runs)
    assert sorted(name for run in runs for name in run) == ["badges", "links", "people", "teams"]

    chained = build_package(parse_template(TEMPLATE), {}, settings)
    one_by_one = build_package(parse_template(TEMPLATE), {}, settings, stage_options=StageOptions(chain_exports=False))
    assert _tables(chained.path) == _tables(one_by_one.path)
    assert chained.manifest.checks["row_counts"]["rows"] == {"teams": 5, "people": 600, "badges": 200,
                                                             "links": 19}


def test_a_failing_query_in_the_middle_of_a_chain_fails_the_build_and_publishes_nothing(settings) -> None:
    broken = TEMPLATE.replace("SELECT * FROM badges WHERE id > 100", "SELECT * FROM badges WHERE no_such > 100")
    with pytest.raises(ProviderError) as failed:
        build_package(parse_template(broken), {}, settings)
    assert "SRC" in str(failed.value)  # the provider is named (the server's message may quote the SQL)
    assert not any((Path(settings.package_store) / "chained").glob("2*"))


def test_row_bounds_are_checked_against_the_rows_each_export_selected(settings) -> None:
    """min_rows and max_rows hold without a row_limit too (they used to see 0 rows unless one was set)."""
    within = TEMPLATE.replace("    query: SELECT * FROM badges WHERE id > 100",
                              "    min_rows: 150\n    max_rows: 250\n    query: SELECT * FROM badges WHERE id > 100")
    built = build_package(parse_template(within), {}, settings)
    assert built.manifest.checks["row_counts"]["passed"] is True
    assert built.manifest.checks["row_counts"]["rows"]["badges"] == 200

    too_many = within.replace("max_rows: 250", "max_rows: 199")
    with pytest.raises(BuildError, match="row_counts_within_bounds"):
        build_package(parse_template(too_many), {}, settings)
