"""The `hfit` command: clear errors, non-zero exit codes, and nothing published on failure."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from hfit_dagster.cli.main import app
from hfit_dagster.package.store import PackageStore

runner = CliRunner()

BAD_TEMPLATE = """
templateName: broken
exports:
  customers:
    provider: PROD_REPLICA
    query: {query}
"""


def assert_manifest_digests(package: Path) -> None:
    """Every file of the package is listed with the sha256 and size of its bytes on disk (the SQL script's
    digest is taken while it is written, the others by reading them)."""
    import hashlib
    import json

    files = json.loads((package / "manifest.json").read_text())["files"]
    on_disk = {p.relative_to(package).as_posix() for p in package.rglob("*") if p.is_file()} - {"manifest.json"}
    assert set(files) == on_disk and any(name.startswith("package.sql") for name in files)
    for name, entry in files.items():
        data = (package / name).read_bytes()
        assert (entry["sha256"], entry["bytes"]) == (hashlib.sha256(data).hexdigest(), len(data)), name


def store_versions(home: Path) -> list[str]:
    store = PackageStore(home / "packages")
    return [v for t in store.templates() for v in store.versions(t)]


def test_build_prints_the_package_directory(hfit_home: Path) -> None:
    """`hfit build NAME key=value` publishes and prints the package directory on stdout."""
    result = runner.invoke(app, ["build", "integration-test-suite", "row_limit=5"])
    assert result.exit_code == 0, result.output
    path = Path(result.stdout.strip().splitlines()[-1])
    assert (path / "package.sql").is_file() and (path / "manifest.json").is_file()
    assert path.parent.name == "integration-test-suite"


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        (["build", "integration-test-suite", "colour=blue"], "unknown parameter colour", 5),
        (["build", "integration-test-suite", "row_limit=lots"], "parameter 'row_limit' expects int", 5),
        (["build", "payment-incident"], "parameter 'customer_ids' (list[int]) is required", 5),
        (["build", "no-such-template"], "no template named 'no-such-template'", 4),
    ],
)
def test_bad_input_fails_clearly_and_publishes_nothing(hfit_home: Path, args: list[str], message: str,
                                                       code: int) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == code
    assert message in result.output
    assert "Traceback" not in result.output
    assert store_versions(hfit_home) == []


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("DELETE FROM customers", "only a SELECT is allowed"),
        ('"SELECT * FROM customers; SELECT 1"', "exactly one statement"),
    ],
)
def test_refused_queries_fail_validation_and_build(hfit_home: Path, tmp_path: Path, query: str, message: str) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(BAD_TEMPLATE.format(query=query))
    for args in (["pkg-tmpl", "validate", str(path)], ["build", str(path)]):
        result = runner.invoke(app, args)
        assert result.exit_code == 3, result.output
        assert message in result.output and "line 6" in result.output
    assert store_versions(hfit_home) == []


def test_unknown_provider_fails_clearly(hfit_home: Path, tmp_path: Path) -> None:
    path = tmp_path / "other.yaml"
    path.write_text(BAD_TEMPLATE.format(query="SELECT * FROM customers").replace("PROD_REPLICA", "BILLING"))
    result = runner.invoke(app, ["build", str(path)])
    assert result.exit_code == 6
    assert "provider 'BILLING' is not configured" in result.output
    assert "HFIT_PROVIDER_BILLING_URL" in result.output
    assert store_versions(hfit_home) == []


def test_dead_source_fails_and_keeps_the_previous_package(hfit_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A source that cannot be reached fails the build; the previously published package stays latest."""
    ok = runner.invoke(app, ["build", "integration-test-suite", "row_limit=3"])
    assert ok.exit_code == 0, ok.output
    before = store_versions(hfit_home)
    monkeypatch.setenv("HFIT_PROVIDER_PROD_REPLICA_URL", "mysql+pymysql://root@127.0.0.1:1/nowhere")
    result = runner.invoke(app, ["build", "integration-test-suite", "row_limit=3"])
    assert result.exit_code == 6
    assert "provider 'PROD_REPLICA': database error" in result.output
    assert store_versions(hfit_home) == before
    assert PackageStore(hfit_home / "packages").latest_version("integration-test-suite") == before[0]


def test_missing_masking_key_is_an_error(hfit_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HFIT_MASKING_KEY")
    result = runner.invoke(app, ["build", "integration-test-suite"])
    assert result.exit_code == 7
    assert "no masking key configured" in result.output


def test_template_list_and_show(hfit_home: Path) -> None:
    listed = runner.invoke(app, ["pkg-tmpl", "list"])
    assert listed.exit_code == 0 and "payment-incident" in listed.output and "bug-investigation" in listed.output
    shown = runner.invoke(app, ["pkg-tmpl", "show", "payment-incident", "--debug"])
    assert shown.exit_code == 0
    assert "# dependency order: customers → payment_methods → payments" in shown.output
    assert ":ref__customers__id" in shown.output


def test_build_gzip_and_dialects(hfit_home: Path) -> None:
    """`--gzip` writes package.sql.gz (listed with its sha256); `--dialect` picks the SQL dialect."""
    import gzip

    result = runner.invoke(app, ["build", "test-scenario", "--gzip", "--dialect", "postgresql"])
    assert result.exit_code == 0, result.output
    path = Path(result.stdout.strip().splitlines()[-1])
    assert not (path / "package.sql").exists()
    text = gzip.open(path / "package.sql.gz", "rt").read()
    assert "psql" in text.splitlines()[3] and 'CREATE TABLE "customers"' in text
    assert_manifest_digests(path)
    plain = runner.invoke(app, ["build", "test-scenario"])
    assert plain.exit_code == 0, plain.output
    assert_manifest_digests(Path(plain.stdout.strip().splitlines()[-1]))
    bad = runner.invoke(app, ["build", "test-scenario", "--dialect", "oracle"])
    assert bad.exit_code == 9 and "unknown SQL dialect 'oracle'" in bad.output


@pytest.mark.e2e
def test_the_hfit_process_flushes_its_output_and_keeps_exit_codes(hfit_home: Path, tmp_path: Path) -> None:
    """The command exits without interpreter teardown; what it printed and its exit code still arrive."""
    import subprocess
    import sys

    command = [sys.executable, "-m", "hfit_dagster.cli.main"]
    listed = subprocess.run([*command, "pkg-tmpl", "list"], capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0 and "daily-dev-scenario" in listed.stdout and listed.stdout.endswith("\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD_TEMPLATE.format(query="DELETE FROM customers"))
    refused = subprocess.run([*command, "pkg-tmpl", "validate", str(bad)], capture_output=True, text=True,
                             timeout=120)
    assert refused.returncode != 0 and "DELETE" in refused.stderr and "Traceback" not in refused.stderr
    unknown = subprocess.run([*command, "no-such-command"], capture_output=True, text=True, timeout=120)
    assert unknown.returncode == 2 and "No such command" in unknown.stderr
