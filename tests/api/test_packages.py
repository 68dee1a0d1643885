"""Builds and downloads through a real server: freshness, formats, Range/ETag, traversal, a 200 MB package."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import tarfile
import threading
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from hfit_dagster.package.manifest import PARAMETER_DIGEST
from hfit_dagster.package.store import new_version
from hfit_dagster.template.loader import load_template_file
from tests.api.service_harness import LARGE_TEMPLATE, RunningServer, wait_for_build

MIB = 1 << 20


def dagster_runs(server: RunningServer) -> int:
    import dagster as dg

    instance = dg.DagsterInstance.from_config(str(server.home / "dagster"))
    try:
        return instance.get_runs_count()
    finally:
        instance.dispose()


def test_fresh_package_is_served_without_a_rebuild(server: RunningServer) -> None:
    """The same template and parameters within the freshness window get the same package, and no new run.

    An identical request while the first build still runs joins it instead of starting a second run.
    """
    with server.client(server.user("vera", "viewer")) as client, \
            server.client(server.user("vic", "viewer")) as colleague:
        first = client.post("/packages/daily-dev-scenario/builds", json={"params": {"row_limit": 3}})
        joined = colleague.post("/packages/daily-dev-scenario/builds", json={"params": {"row_limit": "3"}})
        assert first.status_code == 202 and first.json()["outcome"] == "launched"
        assert joined.json()["outcome"] == "joined" and joined.json()["id"] == first.json()["id"]
        done = wait_for_build(colleague, joined.json())  # the colleague follows the build they joined
        assert done["status"] == "succeeded", (done["error"], server.log_tail())
        runs = dagster_runs(server)
        again = client.post("/packages/daily-dev-scenario/builds", json={"params": {"row_limit": 3}})
        other = client.post("/packages/daily-dev-scenario/builds", json={"params": {"row_limit": "x"}})
    assert again.status_code == 200
    assert again.json()["outcome"] == "fresh" and again.json()["fresh"] is True
    assert again.json()["version"] == done["version"]
    assert dagster_runs(server) == runs
    assert other.status_code == 400 and other.json()["error"]["code"] == "bad_parameter"
    outcomes = [r.outcome for r in server.audit(action="builds.request", template="daily-dev-scenario")]
    assert outcomes[-4:] == ["launched", "joined", "fresh", "bad_parameter"]
    refused = server.audit(action="builds.request", outcome="bad_parameter")[-1]
    assert refused.params["row_limit"].startswith(PARAMETER_DIGEST)  # declared by the template: its digest


def test_build_is_a_tagged_dagster_run(server: RunningServer, built: dict[str, Any]) -> None:
    """A build is a Dagster run in the instance `dagster dev` would show, tagged with requester and template."""
    import dagster as dg

    instance = dg.DagsterInstance.from_config(str(server.home / "dagster"))
    try:
        run = instance.get_run_by_id(built["run_id"])
    finally:
        instance.dispose()
    assert run is not None and run.is_success
    assert run.tags["hfit/requester"] == "vera" and run.tags["hfit/template"] == "integration-test-suite"
    assert run.tags["hfit/build"] == built["id"]


def test_download_formats_etag_and_range(server: RunningServer, built: dict[str, Any]) -> None:
    """Downloads stream every format; the ETag is the manifest's sha256; Range resumes with the exact rest."""
    version = built["version"]
    url = f"/packages/integration-test-suite/versions/{version}"
    with server.client(server.user("vera", "viewer")) as client:
        manifest = client.get(url, params={"format": "manifest"}).json()
        full = client.get(url)
        sha = manifest["files"]["package.sql"]["sha256"]
        assert full.status_code == 200 and full.headers["etag"] == f'"{sha}"'
        assert int(full.headers["content-length"]) == manifest["files"]["package.sql"]["bytes"]
        assert hashlib.sha256(full.content).hexdigest() == sha
        assert full.headers["x-hfit-version"] == version

        rest = client.get(url, headers={"Range": "bytes=1000-", "If-Range": f'"{sha}"'})
        assert rest.status_code == 206 and rest.content == full.content[1000:]
        assert rest.headers["content-range"] == f"bytes 1000-{len(full.content) - 1}/{len(full.content)}"
        tail = client.get(url, headers={"Range": "bytes=-64"})
        assert tail.status_code == 206 and tail.content == full.content[-64:]
        changed = client.get(url, headers={"Range": "bytes=1000-", "If-Range": '"not-the-etag"'})
        assert changed.status_code == 200 and changed.content == full.content
        assert client.get(url, headers={"If-None-Match": f'"{sha}"'}).status_code == 304

        gz = client.get(url, params={"format": "sql.gz"})
        assert gzip.decompress(gz.content) == full.content
        tar = client.get(url, params={"format": "parquet"})
        assert int(tar.headers["content-length"]) == len(tar.content)
        with tarfile.open(fileobj=io.BytesIO(tar.content)) as archive:
            members = {m.name: archive.extractfile(m).read() for m in archive.getmembers()}  # type: ignore[union-attr]
        parquet = {k: v for k, v in manifest["files"].items() if k.startswith("parquet/")}
        assert set(members) == set(parquet)
        assert all(hashlib.sha256(members[k]).hexdigest() == v["sha256"] for k, v in parquet.items())

        latest = client.get("/packages/integration-test-suite").json()
        assert version in [v["version"] for v in latest["versions"]]
    rows = server.audit(action="packages.download", version=version, user="vera")
    assert {(r.detail, r.bytes) for r in rows} >= {("format sql", len(full.content)),
                                                   ("format sql", len(full.content) - 1000),
                                                   ("format sql", 64)}
    assert all(r.params == manifest["params"] for r in rows)


TRAVERSALS = [
    "/packages/..%2f..%2fetc%2fpasswd",
    "/packages/%2e%2e/versions/latest",
    "/packages/%2e%2e%2f%2e%2e%2fetc/versions/latest",
    "/packages/integration-test-suite/versions/..%2f..%2fmanifest.json",
    "/packages/integration-test-suite/versions/%2e%2e",
    "/packages/integration-test-suite/versions/20261126T194555777860Z-dfc5ff88%00",
    "/packages/integration-test-suite/versions/latest?format=..%2f..%2fetc%2fpasswd",
    "/packages/integration-test-suite/versions/latest?format=sql%00",
    "/packages/integration-test-suite/versions/latest?format=../manifest.json",
    "/packages/Integration-Test-Suite/versions/latest",
    "/packages/%2fetc%2fpasswd/versions/latest",
    "/packages/..%5c..%5cwindows/versions/latest",
    "/templates/..%2f..%2fconfig.yaml",
    "/templates/%2e%2e",
    "/builds/..%2f..%2fstate.db",
]


def test_path_traversal_is_refused_and_audited(server: RunningServer, built: dict[str, Any]) -> None:
    """Names, versions and formats that try to leave the store get 400/404 JSON errors, each audited."""
    token = server.user("vera", "viewer")
    before = len([r for r in server.audit() if r.status in (400, 404)])
    for path in TRAVERSALS:
        status, body = server.raw_get(path, token)
        assert status in (400, 404), (path, status, body)
        assert body["error"]["code"] in ("invalid_request", "not_found", "template_not_found"), (path, body)
        assert "root:" not in json.dumps(body)
    refusals = [r for r in server.audit() if r.status in (400, 404)][before:]
    assert len(refusals) == len(TRAVERSALS)
    assert all(r.user == "vera" and r.client == "127.0.0.1" for r in refusals)


def fabricate_package(server: RunningServer, size: int) -> tuple[str, str]:
    """A published ~``size`` byte package of the approved large-fixture template; content streamed to disk."""
    spec = load_template_file(server.templates_dir / f"{LARGE_TEMPLATE}.yaml")
    version = new_version()
    target = server.store / LARGE_TEMPLATE / version
    target.mkdir(parents=True)
    line = b"INSERT INTO `customers` (`id`, `note`) VALUES (1, 'masked fixture row of the large package test');\n"
    block = line * (MIB // len(line) + 1)
    digest = hashlib.sha256()
    written = 0
    with (target / "package.sql").open("wb") as out:
        while written < size:
            chunk = block[: min(len(block), size - written)]
            out.write(chunk)
            digest.update(chunk)
            written += len(chunk)
    manifest = {
        "format": 1, "template": LARGE_TEMPLATE, "template_hash": spec.content_hash(), "version": version,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"), "params": {}, "providers": {},
        "dialect": "mysql", "follow_parents": True, "tables": [],
        "files": {"package.sql": {"sha256": digest.hexdigest(), "bytes": written}},
    }
    (target / "manifest.json").write_text(json.dumps(manifest))
    return version, digest.hexdigest()


class RssSampler(threading.Thread):
    def __init__(self, server: RunningServer) -> None:
        super().__init__(daemon=True)
        self.server, self.peak, self.running, self.samples = server, server.rss_kib(), True, 0

    def run(self) -> None:
        while self.running:
            self.peak = max(self.peak, self.server.rss_kib())
            self.samples += 1
            time.sleep(0.02)


@pytest.mark.slow
def test_200mb_download_keeps_server_memory_flat_and_resumes(server: RunningServer,
                                                             record_property: Any) -> None:
    """A 200 MB package streams with flat server memory (measured RSS), and an interrupted download resumes
    with Range to exactly the same bytes."""
    size = 200 * MIB
    version, sha = fabricate_package(server, size)
    url = f"/packages/{LARGE_TEMPLATE}/versions/{version}"
    try:
        with server.client(server.user("vera", "viewer")) as client:
            client.get("/healthz")
            sampler = RssSampler(server)
            before = sampler.peak
            sampler.start()
            digest, received, started = hashlib.sha256(), 0, time.perf_counter()
            with client.stream("GET", url) as response:
                assert response.status_code == 200
                assert response.headers["etag"] == f'"{sha}"' and int(response.headers["content-length"]) == size
                for chunk in response.iter_raw(MIB):
                    digest.update(chunk)
                    received += len(chunk)
            seconds = time.perf_counter() - started
            sampler.running = False
            sampler.join()
            assert received == size and digest.hexdigest() == sha
            assert sampler.samples >= 5  # memory was watched while the bytes flowed
            growth_mib = (sampler.peak - before) / 1024
            record_property("rss_growth_mib", round(growth_mib, 1))
            record_property("throughput_mib_s", round(size / MIB / seconds, 1))
            print(f"\n200 MiB download: {size / MIB / seconds:.0f} MiB/s, server RSS {before / 1024:.0f} MiB → "
                  f"peak {sampler.peak / 1024:.0f} MiB (+{growth_mib:.1f} MiB)")
            assert growth_mib < 50

            # interrupted after ~60 MB, then resumed
            partial = hashlib.sha256()
            got = 0
            with client.stream("GET", url) as response:
                for chunk in response.iter_raw(MIB):
                    partial.update(chunk)
                    got += len(chunk)
                    if got >= 60 * MIB:
                        break
            rest = 0
            with client.stream("GET", url, headers={"Range": f"bytes={got}-", "If-Range": f'"{sha}"'}) as response:
                assert response.status_code == 206
                assert int(response.headers["content-length"]) == size - got
                for chunk in response.iter_raw(MIB):
                    partial.update(chunk)
                    rest += len(chunk)
            assert got + rest == size and partial.hexdigest() == sha
        rows = server.audit(action="packages.download", template=LARGE_TEMPLATE)
        assert [r.bytes for r in rows][-3:] == [size, size, size - got]
    finally:
        shutil.rmtree(server.store / LARGE_TEMPLATE / version, ignore_errors=True)
