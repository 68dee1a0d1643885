"""One Dagster instance per state directory: ``make dagster`` opens the directory ``hfit serve`` uses, and what
``hfit build`` publishes shows there as materializations of the template's assets."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import time
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


def _latest(directory: Path, key: list[str], timeout: float = 90.0) -> dg.EventLogEntry:
    """The latest materialization of ``key`` in the instance, waiting for the detached recorder to write it."""
    deadline = time.monotonic() + timeout
    while True:
        with dg.DagsterInstance.from_config(str(directory)) as dagster:
            event = dagster.get_latest_materialization_event(dg.AssetKey(key))
        if event is not None:
            return event
        if time.monotonic() > deadline:
            log = directory / instance.LOG_NAME
            pytest.fail(f"nothing recorded for {key}; recorder log: {log.read_text() if log.exists() else '-'}")
        time.sleep(0.5)


def test_hfit_build_shows_its_package_in_the_instance(hfit_home: Path) -> None:
    """Once the instance exists (make dagster or hfit serve made it), a package `hfit build` publishes shows
    there: a materialization of every exported table and of the package, with the published version, the
    requester and the parameters as the manifest records them."""
    directory = instance.prepared_instance_dir(load_settings())
    result = CliRunner().invoke(app, ["build", "integration-test-suite", "row_limit=5"])
    assert result.exit_code == 0, result.output
    package = Path(result.stdout.strip().splitlines()[-1])
    manifest = json.loads((package / "manifest.json").read_text())
    event = _latest(directory, ["integration-test-suite", "package"])
    assert event.run_id == ""  # runless: reported, not run by Dagster
    metadata = {k: getattr(v, "value", v) for k, v in event.asset_materialization.metadata.items()}
    customers = _latest(directory, ["integration-test-suite", "customers"])
    customer_rows = customers.asset_materialization.metadata["rows"].value
    with dg.DagsterInstance.from_config(str(directory)) as dagster:
        keys = {key.to_user_string() for key in dagster.get_asset_keys()}
    assert keys == {"integration-test-suite/customers", "integration-test-suite/orders",
                    "integration-test-suite/products", "integration-test-suite/order_items",
                    "integration-test-suite/package"}
    assert metadata["version"] == package.name == manifest["version"]
    assert metadata["path"] == str(package) and metadata["source"] == "hfit build"
    assert metadata["params"] == manifest["params"] and "row_limit" in metadata["params"]
    assert metadata["rows"] == sum(t["rows"] for t in manifest["tables"])
    assert customer_rows == next(t["rows"] for t in manifest["tables"] if t["name"] == "customers") == 5


def test_a_build_on_a_home_without_an_instance_creates_none(hfit_home: Path) -> None:
    """A home that never ran make dagster or hfit serve gets no Dagster directory from `hfit build` (and the
    command does not pay for Dagster): nothing is recorded, no note is printed."""
    result = CliRunner().invoke(app, ["build", "integration-test-suite", "row_limit=5"])
    assert result.exit_code == 0, result.output
    assert not (hfit_home / "dagster").exists()
    assert "note:" not in result.stderr


def test_a_build_still_succeeds_when_the_instance_cannot_be_opened(hfit_home: Path) -> None:
    """A broken instance (an unreadable dagster.yaml) costs a line in the recorder's log, not the published
    package nor the command's exit code."""
    directory = instance.instance_dir(load_settings())
    (directory / "dagster.yaml").write_text("storage: [this is not a storage section\n")
    result = CliRunner().invoke(app, ["build", "integration-test-suite", "row_limit=5"])
    assert result.exit_code == 0, result.output
    assert (Path(result.stdout.strip().splitlines()[-1]) / "package.sql").is_file()
    log = directory / instance.LOG_NAME
    deadline = time.monotonic() + 90
    while not (log.exists() and log.stat().st_size) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert log.read_text().strip(), "the recorder wrote no error"


@pytest.mark.slow  # four processes importing Dagster
def test_recorders_started_together_on_a_new_instance_all_record_and_leave_it_usable(tmp_path: Path) -> None:
    """Builds finishing together on a home whose instance has no storage yet (a new `DAGSTER_HOME`): their
    recorders create the storage once between them, every one records, and the instance opens afterwards (SQLite
    storage created by two processes at once gets two schema heads and never opens again)."""
    directory = tmp_path / "dagster"
    directory.mkdir()
    events = [{"asset_key": ["race", "package"], "metadata": {"version": ["plain", "v1"]}}]
    children = [subprocess.Popen([sys.executable, "-m", "hfit_dagster.orchestration.instance", "record",
                                  str(directory)], stdin=subprocess.PIPE, stderr=subprocess.PIPE)
                for _ in range(4)]
    for child in children:
        assert child.stdin is not None
        child.stdin.write(json.dumps(events).encode())
        child.stdin.close()
    outcomes = [(child.wait(timeout=120), child.stderr.read().decode()[-2000:]) for child in children]  # type: ignore[union-attr]
    assert [code for code, _ in outcomes] == [0] * 4, outcomes
    with dg.DagsterInstance.from_config(str(directory)) as dagster:
        recorded = dagster.fetch_materializations(dg.AssetKey(["race", "package"]), limit=10).records
    assert len(recorded) == 4
