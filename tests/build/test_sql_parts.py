"""INSERTs rendered while staging (``hfit build``) are the same bytes as INSERTs rendered afterwards from the
staged Parquet (the Dagster package asset), in every dialect; nothing of the parts is published."""

from __future__ import annotations

from pathlib import Path

import pytest

from hfit_dagster.build.package_writer import SQL_FILE, write_package
from hfit_dagster.build.staging import SQL_PARTS_DIR, stage_template
from hfit_dagster.settings import HfitSettings
from hfit_dagster.template.builtins import prepare_build
from hfit_dagster.template.loader import resolve_template
from tests.conftest import TEMPLATES


@pytest.mark.parametrize("dialect", ["mysql", "postgresql", "sqlite"])
def test_sql_rendered_while_staging_equals_sql_rendered_from_parquet(settings: HfitSettings, tmp_path: Path,
                                                                     dialect: str) -> None:
    prepared = prepare_build(resolve_template("daily-dev-scenario", TEMPLATES).spec, {"row_limit": "300"})
    scripts = {}
    for name, sql_dialect in (("during", dialect), ("after", None)):
        staging = tmp_path / name
        staging.mkdir()
        stage_template(prepared.spec, prepared.params, settings, staging, sql_dialect=sql_dialect)
        assert (staging / SQL_PARTS_DIR).is_dir() is (sql_dialect is not None)
        manifest = write_package(staging, "v1", dialect=dialect)
        assert not (staging / SQL_PARTS_DIR).exists()
        assert all(not path.startswith(SQL_PARTS_DIR) for path in manifest.files)
        scripts[name] = (staging / SQL_FILE).read_bytes()
    assert scripts["during"].count(b"INSERT INTO") > 5
    assert scripts["during"] == scripts["after"]


def test_parts_of_another_dialect_are_not_used(settings: HfitSettings, tmp_path: Path) -> None:
    """A staging directory rendered for MySQL still gives a PostgreSQL script when asked for one."""
    prepared = prepare_build(resolve_template("daily-dev-scenario", TEMPLATES).spec, {"row_limit": "100"})
    stage_template(prepared.spec, prepared.params, settings, tmp_path, sql_dialect="mysql")
    write_package(tmp_path, "v1", dialect="postgresql")
    script = (tmp_path / SQL_FILE).read_text()
    assert "INSERT INTO" in script and "`" not in script.split("INSERT INTO", 1)[1][:200]
    assert not (tmp_path / SQL_PARTS_DIR).exists()
