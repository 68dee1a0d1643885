"""INSERTs rendered while staging (``hfit build``) are the same bytes as INSERTs rendered afterwards from the
staged Parquet (the Dagster package asset), in every dialect; nothing of the parts is published."""

from __future__ import annotations

from pathlib import Path

import pytest

from hfit_dagster.pipeline.package_writer import SQL_FILE, write_package
from hfit_dagster.pipeline.sql_assembly import SqlOptions
from hfit_dagster.pipeline.staging import StageOptions, stage_template
from hfit_dagster.pipeline.staging_layout import SQL_PARTS_DIR
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


@pytest.mark.parametrize("gzip_sql", [False, True])
def test_script_assembled_while_staging_is_the_script_write_package_writes(
        settings: HfitSettings, tmp_path: Path, gzip_sql: bool) -> None:
    """``hfit build`` puts the script together beside the leak check: same bytes as putting it together
    afterwards, and the manifest's digest is the file's; asked for other options, the script is redone."""
    import gzip
    import hashlib

    prepared = prepare_build(resolve_template("daily-dev-scenario", TEMPLATES).spec, {"row_limit": "300"})
    name = SQL_FILE + ".gz" if gzip_sql else SQL_FILE
    scripts = {}
    for run, options in (("during", SqlOptions(version="v1", dialect="mysql", gzip_sql=gzip_sql)), ("after", None)):
        staging = tmp_path / run
        staging.mkdir()
        stage_template(prepared.spec, prepared.params, settings, staging, sql_dialect="mysql", sql=options)
        assert (staging / name).exists() is (options is not None)
        manifest = write_package(staging, "v1", dialect="mysql", gzip_sql=gzip_sql)
        data = (staging / name).read_bytes()
        assert manifest.files[name].sha256 == hashlib.sha256(data).hexdigest()
        assert manifest.files[name].bytes == len(data)
        assert not (staging / SQL_PARTS_DIR).exists()
        scripts[run] = gzip.decompress(data) if gzip_sql else data
    assert scripts["during"].count(b"INSERT INTO") > 5
    assert scripts["during"] == scripts["after"]

    other = tmp_path / "other"
    other.mkdir()
    stage_template(prepared.spec, prepared.params, settings, other, sql=SqlOptions(version="v1", dialect="mysql"))
    write_package(other, "v2", dialect="postgresql")
    assert "(version v2)" in (other / SQL_FILE).read_text().splitlines()[0]
    assert "`" not in (other / SQL_FILE).read_text()


def test_parts_copied_in_many_chunks_hash_like_the_file(settings: HfitSettings, tmp_path: Path) -> None:
    """The kernel copies a part a chunk at a time while the digest thread hashes it, and the next part's copy
    starts before that hash ends: the script and its digest are still those of a script written in one go."""
    import hashlib

    prepared = prepare_build(resolve_template("daily-dev-scenario", TEMPLATES).spec, {"row_limit": "300"})
    scripts = {}
    for run, options in (("during", SqlOptions(version="v1", dialect="mysql")), ("after", None)):
        staging = tmp_path / run
        staging.mkdir()
        stage_template(prepared.spec, prepared.params, settings, staging, sql_dialect="mysql", sql=options,
                       options=StageOptions(sql_copy_chunk=1000))
        manifest = write_package(staging, "v1", dialect="mysql")
        scripts[run] = (staging / SQL_FILE).read_bytes()
        assert manifest.files[SQL_FILE].sha256 == hashlib.sha256(scripts[run]).hexdigest()
    assert len(scripts["during"]) > 20 * 1000
    assert scripts["during"] == scripts["after"]


def test_parts_are_copied_through_python_where_the_kernel_cannot(settings: HfitSettings, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Where copy_file_range is refused (another file system, an old kernel) the script is the same and its
    digest still the file's."""
    import errno
    import hashlib
    import os

    prepared = prepare_build(resolve_template("daily-dev-scenario", TEMPLATES).spec, {"row_limit": "200"})
    scripts = {}
    for run in ("kernel", "python"):
        if run == "python":
            def refuse(*_args: object) -> int:
                raise OSError(errno.EXDEV, "cross-device")
            monkeypatch.setattr(os, "copy_file_range", refuse)
        staging = tmp_path / run
        staging.mkdir()
        stage_template(prepared.spec, prepared.params, settings, staging, sql=SqlOptions(version="v1"))
        manifest = write_package(staging, "v1")
        scripts[run] = (staging / SQL_FILE).read_bytes()
        assert manifest.files[SQL_FILE].sha256 == hashlib.sha256(scripts[run]).hexdigest()
        assert manifest.files[SQL_FILE].bytes == len(scripts[run])
    assert scripts["kernel"] == scripts["python"] and scripts["kernel"].count(b"INSERT INTO") > 3
