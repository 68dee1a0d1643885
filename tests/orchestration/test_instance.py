"""One Dagster instance per state directory: ``make dagster`` opens the directory ``hfit serve`` uses, and what
``hfit build`` publishes shows there as materializations of the template's assets."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import dagster as dg
import pytest
from typer.testing import CliRunner

from hfit_dagster.cli.main import app
from hfit_dagster.orchestration import instance
from hfit_dagster.settings import load_settings


def test_make_dagster_opens_the_state_directorys_instance(hfit_home: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """The directory `make dagster` exports as DAGSTER_HOME is the service's (<home>/dagster, private), or
    DAGSTER_HOME itself when the user set it."""
    instance.main()
    printed = Path(capsys.readouterr().out.strip())
    assert printed == (hfit_home / "dagster").resolve() == load_settings().dagster_instance_dir.resolve()
    assert stat.S_IMODE(printed.stat().st_mode) == 0o700
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "elsewhere"))
    instance.main()
    assert Path(capsys.readouterr().out.strip()) == tmp_path / "elsewhere"


def test_hfit_build_shows_its_package_in_the_instance(hfit_home: Path) -> None:
    """After `hfit build`, the instance holds a materialization of every exported table and of the package,
    with the published version, the requester and the parameters as the manifest records them."""
    result = CliRunner().invoke(app, ["build", "integration-test-suite", "row_limit=5"])
    assert result.exit_code == 0, result.output
    package = Path(result.stdout.strip().splitlines()[-1])
    manifest = json.loads((package / "manifest.json").read_text())
    with dg.DagsterInstance.from_config(str(hfit_home / "dagster")) as dagster:
        keys = {key.to_user_string() for key in dagster.get_asset_keys()}
        assert keys == {"integration-test-suite/customers", "integration-test-suite/orders",
                        "integration-test-suite/products", "integration-test-suite/order_items",
                        "integration-test-suite/package"}
        event = dagster.get_latest_materialization_event(dg.AssetKey(["integration-test-suite", "package"]))
        assert event is not None and event.run_id == ""  # runless: reported, not run by Dagster
        metadata = {k: getattr(v, "value", v) for k, v in event.asset_materialization.metadata.items()}
        customers = dagster.get_latest_materialization_event(dg.AssetKey(["integration-test-suite", "customers"]))
        customer_rows = customers.asset_materialization.metadata["rows"].value
    assert metadata["version"] == package.name == manifest["version"]
    assert metadata["path"] == str(package) and metadata["source"] == "hfit build"
    assert metadata["params"] == manifest["params"] and "row_limit" in metadata["params"]
    assert metadata["rows"] == sum(t["rows"] for t in manifest["tables"])
    assert customer_rows == next(t["rows"] for t in manifest["tables"] if t["name"] == "customers") == 5


def test_a_build_still_succeeds_when_the_instance_cannot_be_created(hfit_home: Path, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """An instance directory that cannot be created costs one note on stderr, not the published package."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("DAGSTER_HOME", str(blocker / "dagster"))
    result = CliRunner().invoke(app, ["build", "integration-test-suite", "row_limit=5"])
    assert result.exit_code == 0, result.output
    assert (Path(result.stdout.strip().splitlines()[-1]) / "package.sql").is_file()
    notes = [line for line in result.stderr.splitlines() if line.startswith("note: not recorded")]
    assert len(notes) == 1 and str(blocker / "dagster") in notes[0]
