"""The client against a tampering server, a planted symlink and a failed build: every format is held to the
manifest's sha256, nothing unverified reaches stdout, ``.part`` is never written through a symlink, and
``hfit pkg-download X | mysql db`` does not exit 0 when the build failed (real ``hfit serve``, real CLI)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hfit_dagster.cli.api_client import verify_download
from hfit_dagster.errors import ServiceError
from tests.api.service_harness import HFIT, RunningServer

TEMPLATE = "integration-test-suite"
TAMPERED_VERSION = "20000101T000000000000Z-0badc0de"


def manifest_of(files: dict[str, bytes]) -> dict[str, Any]:
    return {"files": {name: {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
                      for name, data in files.items()}}


def tar_of(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", ["sql", "sql.gz", "parquet"])
def test_every_format_is_held_to_the_manifest(tmp_path: Path, fmt: str) -> None:
    files = {"package.sql": b"-- hfit package\nINSERT INTO t VALUES (1);\n", "parquet/t.parquet": b"PAR1...PAR1",
             "parquet/u.parquet": b"PAR1,,,PAR1"}
    manifest = manifest_of(files)
    parquet = {k: v for k, v in files.items() if k.startswith("parquet/")}
    good = {"sql": files["package.sql"], "sql.gz": gzip.compress(files["package.sql"]), "parquet": tar_of(parquet)}
    bad = {"sql": files["package.sql"].replace(b"1", b"2"),
           "sql.gz": gzip.compress(files["package.sql"].replace(b"1", b"2")),
           "parquet": tar_of({**parquet, "parquet/u.parquet": b"PAR1;;;PAR1"})}
    path = tmp_path / "download"
    path.write_bytes(good[fmt])
    verify_download(path, fmt, manifest)
    path.write_bytes(bad[fmt])
    with pytest.raises(ServiceError, match="does not match"):
        verify_download(path, fmt, manifest)
    path.write_bytes(good[fmt][: 600 if fmt == "parquet" else len(good[fmt]) // 2])  # cut inside the data
    with pytest.raises(ServiceError):
        verify_download(path, fmt, manifest)
    if fmt == "parquet":  # an extra member the manifest does not list is refused too
        path.write_bytes(tar_of({**parquet, "parquet/extra.parquet": b"x"}))
        with pytest.raises(ServiceError):
            verify_download(path, fmt, manifest)


@pytest.fixture(scope="module")
def tampered(server: RunningServer, built: dict[str, Any]) -> str:
    """A copy of the built package in the server's store whose files no longer match its manifest."""
    source = server.store / TEMPLATE / built["version"]
    copy = server.store / TEMPLATE / TAMPERED_VERSION
    if not copy.exists():
        shutil.copytree(source, copy)
        sql = copy / "package.sql"
        data = bytearray(sql.read_bytes())
        data[-40] = ord("X") if data[-40] != ord("X") else ord("Y")  # same size, one byte different
        sql.write_bytes(bytes(data))
        for parquet in sorted((copy / "parquet").glob("*.parquet"))[:1]:
            blob = bytearray(parquet.read_bytes())
            blob[len(blob) // 2] ^= 0xFF
            parquet.write_bytes(bytes(blob))
    return TAMPERED_VERSION


@pytest.fixture(scope="module")
def viewer(server: RunningServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    xdg = tmp_path_factory.mktemp("client-viewer")
    assert server.cli("login", "--token", server.user("client-sec", "viewer"), xdg=xdg).returncode == 0
    return xdg


@pytest.mark.parametrize("fmt", ["sql", "sql.gz", "parquet"])
def test_a_tampered_package_is_refused_in_every_format_and_nothing_is_left(
        server: RunningServer, tampered: str, viewer: Path, tmp_path: Path, fmt: str) -> None:
    target = tmp_path / f"fixture.{fmt}"
    result = server.cli("pkg-download", TEMPLATE, "--version", tampered, "--format", fmt, "-o", str(target),
                        xdg=viewer)
    assert result.returncode == 13 and "does not match" in result.stderr, result.stderr
    assert not target.exists() and not (tmp_path / f"fixture.{fmt}.part").exists()
    good = server.cli("pkg-download", TEMPLATE, "--version", "latest", "--format", fmt, "-o", str(target),
                      xdg=viewer)
    assert good.returncode == 0 and "sha256 verified" in good.stderr, good.stderr


def test_stdout_gets_nothing_unverified(server: RunningServer, tampered: str, viewer: Path) -> None:
    result = server.cli("pkg-download", TEMPLATE, "--version", tampered, xdg=viewer)
    assert result.returncode == 13
    assert "-- hfit package" not in result.stdout and "INSERT" not in result.stdout
    assert result.stdout.endswith("hfit_pkg_download_failed;\n")
    binary = server.cli("pkg-download", TEMPLATE, "--version", tampered, "--format", "parquet", xdg=viewer)
    assert binary.returncode == 13 and binary.stdout == ""


def test_a_planted_part_symlink_is_never_followed(server: RunningServer, built: dict[str, Any], viewer: Path,
                                                  tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    target = tmp_path / "fixture.sql"
    (tmp_path / "fixture.sql.part").symlink_to(victim)
    result = server.cli("pkg-download", TEMPLATE, "--version", built["version"], "-o", str(target), xdg=viewer)
    assert result.returncode != 0 and "symbolic link" in result.stderr
    assert victim.read_text() == "precious\n" and not target.exists()
    (tmp_path / "fixture.sql.part").unlink()
    (tmp_path / "fixture.sql.part.json").symlink_to(victim)
    result = server.cli("pkg-download", TEMPLATE, "--version", built["version"], "-o", str(target), xdg=viewer)
    assert result.returncode != 0 and victim.read_text() == "precious\n"


def test_a_failed_build_piped_into_mysql_does_not_exit_0(server: RunningServer, viewer: Path,
                                                          mariadb_database: Callable[[], str]) -> None:
    """Without pipefail the pipeline's status is mysql's: the statement hfit writes on failure makes it fail."""
    broken = (server.templates_dir / f"{TEMPLATE}.yaml").read_text().replace(
        f"templateName: {TEMPLATE}", "templateName: client-broken").replace("PROD_REPLICA", "BILLING")
    with server.client(server.user("client-author", "author")) as client:
        created = client.post("/templates", json={"yaml": broken.replace("status: approved", "status: draft")})
        assert created.status_code == 201, created.text
    with server.client(server.user("client-approver", "approver")) as client:
        approved = client.post("/templates/client-broken/approve",
                               json={"content_hash": created.json()["content_hash"]})
        assert approved.status_code == 200, approved.text
    database = mariadb_database()
    env = {**server.env, "XDG_CONFIG_HOME": str(viewer)}
    piped = subprocess.run(["bash", "-c", f"'{HFIT}' pkg-download client-broken | mysql {database}"], env=env,
                           capture_output=True, text=True, timeout=240, cwd=server.root)
    assert piped.returncode != 0, piped.stderr
    assert "build of client-broken failed" in piped.stderr
    status = json.loads(json.dumps(server.audit(action="build.finished", template="client-broken")[-1].outcome))
    assert status == "provider_error"
