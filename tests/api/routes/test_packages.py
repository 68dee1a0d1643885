"""``/packages``: versions and downloads of a real package (every format, ETag, Range, 304), name and version
validation, and the audit row of every download, in process."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from hfit_dagster.package.manifest import PARAMETER_DIGEST
from tests.api.routes.conftest import PACKAGE_TEMPLATE, InProcessApi

URL = f"/packages/{PACKAGE_TEMPLATE}/versions"


@pytest.fixture
def version(api: InProcessApi, built_package: Path) -> str:
    return api.publish_package(built_package)


def test_versions_list_the_published_package_newest_first(api: InProcessApi, version: str) -> None:
    """`hfit pkg-download --list`: each version with its parameters (declared ones as keyed digests, as the
    manifest holds them), rows and file digests."""
    listing = api.client.get(f"/packages/{PACKAGE_TEMPLATE}", headers=api.auth("vera")).json()
    assert listing["latest"] == version
    [entry] = listing["versions"]
    manifest = json.loads((api.settings.package_store / PACKAGE_TEMPLATE / version / "manifest.json").read_text())
    assert entry["approved"] is True and entry["params"] == manifest["params"]
    assert entry["params"]["row_limit"].startswith(PARAMETER_DIGEST)
    assert entry["rows"] > 0 and entry["files"]["package.sql"]["sha256"]


def test_sql_download_has_etag_range_and_304(api: InProcessApi, version: str) -> None:
    """A download is package.sql with the manifest's sha256 as ETag; Range resumes with the exact rest,
    a changed If-Range gets the whole file, If-None-Match answers 304."""
    headers = api.auth("vera")
    manifest = api.client.get(f"{URL}/{version}", params={"format": "manifest"}, headers=headers).json()
    sha = manifest["files"]["package.sql"]["sha256"]
    full = api.client.get(f"{URL}/{version}", headers=headers)
    assert full.status_code == 200 and full.headers["etag"] == f'"{sha}"'
    assert hashlib.sha256(full.content).hexdigest() == sha and full.content.startswith(b"-- hfit package")
    assert full.headers["x-hfit-version"] == version
    assert int(full.headers["content-length"]) == manifest["files"]["package.sql"]["bytes"]

    rest = api.client.get(f"{URL}/{version}", headers={**headers, "Range": "bytes=100-", "If-Range": f'"{sha}"'})
    assert rest.status_code == 206 and rest.content == full.content[100:]
    assert rest.headers["content-range"] == f"bytes 100-{len(full.content) - 1}/{len(full.content)}"
    tail = api.client.get(f"{URL}/{version}", headers={**headers, "Range": "bytes=-64"})
    assert tail.status_code == 206 and tail.content == full.content[-64:]
    changed = api.client.get(f"{URL}/{version}", headers={**headers, "Range": "bytes=100-", "If-Range": '"x"'})
    assert changed.status_code == 200 and changed.content == full.content
    assert api.client.get(f"{URL}/latest", headers={**headers, "If-None-Match": f'"{sha}"'}).status_code == 304

    rows = api.audit(action="packages.download", version=version, user="vera")
    assert [(r.detail, r.bytes, r.outcome) for r in rows] == [
        ("format manifest", rows[0].bytes, "ok"), ("format sql", len(full.content), "ok"),
        ("format sql", len(full.content) - 100, "ok"), ("format sql", 64, "ok"),
        ("format sql", len(full.content), "ok"), ("format sql", 0, "not_modified")]
    assert all(r.params == manifest["params"] for r in rows)


def test_gzip_and_parquet_formats_carry_the_same_package(api: InProcessApi, version: str) -> None:
    """`--format sql.gz` is package.sql compressed; `--format parquet` is a tar of every table's Parquet file
    with the digests of the manifest."""
    headers = api.auth("vera")
    manifest = json.loads((api.settings.package_store / PACKAGE_TEMPLATE / version / "manifest.json").read_text())
    sql = api.client.get(f"{URL}/{version}", headers=headers).content
    gz = api.client.get(f"{URL}/{version}", params={"format": "sql.gz"}, headers=headers)
    assert gz.headers["content-type"] == "application/gzip" and gzip.decompress(gz.content) == sql
    tar = api.client.get(f"{URL}/latest", params={"format": "parquet"}, headers=headers)
    assert int(tar.headers["content-length"]) == len(tar.content)
    with tarfile.open(fileobj=io.BytesIO(tar.content)) as archive:
        members = {m.name: archive.extractfile(m).read() for m in archive.getmembers()}  # type: ignore[union-attr]
    parquet = {k: v for k, v in manifest["files"].items() if k.startswith("parquet/")}
    assert parquet and set(members) == set(parquet)
    assert all(hashlib.sha256(members[k]).hexdigest() == v["sha256"] for k, v in parquet.items())


@pytest.mark.parametrize("path", [
    f"{URL}/..%2f..%2fmanifest.json",
    f"{URL}/%2e%2e",
    f"{URL}/not-a-version",
    f"{URL}/latest?format=..%2f..%2fetc%2fpasswd",
    f"{URL}/latest?format=sql%00",
    "/packages/Integration-Test-Suite/versions/latest",
    "/packages/..%5c..%5cwindows/versions/latest",
    "/builds/..%2f..%2fstate.db",
])
def test_names_versions_and_formats_that_leave_the_store_are_refused(api: InProcessApi, version: str,
                                                                     path: str) -> None:
    """A URL that tries to leave the package store gets a 400/404 error body (audited), never a file."""
    response = api.client.get(path, headers=api.auth("vera"))
    assert response.status_code in (400, 404), response.text
    assert response.json()["error"]["code"] in ("invalid_request", "not_found", "template_not_found")
    assert "root:" not in response.text
    assert [r.status for r in api.audit(user="vera")] == [response.status_code]


def test_latest_of_a_template_without_packages_says_how_to_build_one(api: InProcessApi) -> None:
    """Asking for `latest` before any build is a 404 whose hint names the build route."""
    response = api.client.get("/packages/daily-dev-scenario/versions/latest", headers=api.auth("vera"))
    assert response.status_code == 404
    assert "POST /packages/daily-dev-scenario/builds" in response.json()["error"]["hint"]


def test_a_package_of_never_approved_content_is_not_served(api: InProcessApi, version: str) -> None:
    """A package whose template hash no approver approved is listed to nobody and downloads as 403."""
    manifest_path = api.settings.package_store / PACKAGE_TEMPLATE / version / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest_path.write_text(json.dumps({**manifest, "template_hash": "0" * 64}))
    headers = api.auth("vera")
    assert api.client.get(f"/packages/{PACKAGE_TEMPLATE}", headers=headers).json()["versions"] == []
    refused = api.client.get(f"{URL}/{version}", headers=headers)
    assert refused.status_code == 403 and "never approved" in refused.json()["error"]["message"]
