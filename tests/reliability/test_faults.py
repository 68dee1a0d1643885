"""Faults lose nothing: a source dying mid-extract, a full disk, a bad path — clear errors, no half package."""

from __future__ import annotations

import os
import resource
import signal
import socket
import struct
import subprocess
import sys
import threading
from pathlib import Path

import pymysql
import pytest

from hfit_dagster.demo.shop_generator import generate_shop
from hfit_dagster.errors import ProviderError, StoreError
from hfit_dagster.package.store import PackageStore
from hfit_dagster.pipeline.local_build import build_package
from hfit_dagster.settings import load_settings
from hfit_dagster.template.loader import resolve_template
from tests.conftest import DEMO_NOW, MARIADB, TEMPLATES, mariadb_url

TEMPLATE = "daily-dev-scenario"


@pytest.mark.mariadb
def test_source_dying_mid_extract_publishes_nothing(hfit_home: Path, mariadb_database,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The source connection is killed after the first batch: clear error, previous package still latest."""
    database = mariadb_database()
    generate_shop(mariadb_url(database), customers=300, now=DEMO_NOW)
    monkeypatch.setenv("HFIT_PROVIDER_PROD_REPLICA_URL", mariadb_url(database))
    monkeypatch.setenv("HFIT_BATCH_ROWS", "50")
    spec = resolve_template(TEMPLATE, TEMPLATES).spec
    first = build_package(spec, {"row_limit": "300", "since": "2000-01-01"}, load_settings())
    store = PackageStore(load_settings().package_store)

    def kill_source_connections(message: str) -> None:
        if "rows" not in message:
            return
        with pymysql.connect(**MARIADB) as conn, conn.cursor() as cur:
            cur.execute("SELECT id FROM information_schema.PROCESSLIST WHERE db = %s AND id <> CONNECTION_ID()",
                        (database,))
            for (thread,) in cur.fetchall():
                cur.execute(f"KILL {int(thread)}")

    with pytest.raises(ProviderError, match="provider 'PROD_REPLICA': database error"):
        build_package(spec, {"row_limit": "300", "since": "2000-01-01"}, load_settings(),
                      progress=kill_source_connections)
    assert store.versions(TEMPLATE) == [first.path.name]
    assert store.latest_version(TEMPLATE) == first.path.name
    assert not list((store.root / ".staging").iterdir())


class FreezingProxy:
    """A TCP relay to the PostgreSQL server on 127.0.0.1:5432 that, on a connection whose client sends a binary
    COPY, stops relaying the server's bytes and keeps both ends open: a network path that drops traffic without a
    word (or a server that stopped answering), as the client sees it. With ``reset``, it resets the client's
    connection instead (a firewall or a restarted proxy)."""

    def __init__(self, reset: bool = False) -> None:
        self.reset = reset
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = [self.listener]
        self.frozen = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", 5432))
            self.sockets += [client, server]
            frozen = threading.Event()
            threading.Thread(target=self._pump, args=(client, server, frozen, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, frozen, False), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, frozen: threading.Event, upstream: bool) -> None:
        while True:
            try:
                data = source.recv(1 << 16)
            except OSError:
                return
            if not data:
                return
            if upstream and b"COPY (" in data and not frozen.is_set():
                frozen.set()
                self.frozen += 1
                if self.reset:  # an RST to the client: SO_LINGER on, zero seconds, then close
                    source.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    source.close()
                    return
            if upstream or not frozen.is_set():
                try:
                    target.sendall(data)
                except OSError:
                    return

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()


@pytest.mark.postgres
def test_a_postgres_connection_reset_mid_read_says_the_connection_was_lost(
        hfit_home: Path, postgres_database, monkeypatch: pytest.MonkeyPatch) -> None:
    """A reset of the fast read's connection mid-COPY: the build fails saying the connection was lost (not that
    the fast read is broken), and nothing is published."""
    database = postgres_database()
    generate_shop(f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}", customers=100, now=DEMO_NOW)
    spec = resolve_template(TEMPLATE, TEMPLATES).spec
    proxy = FreezingProxy(reset=True)
    try:
        monkeypatch.setenv("HFIT_PROVIDER_PROD_REPLICA_URL",
                           f"postgresql+psycopg://postgres@127.0.0.1:{proxy.port}/{database}?sslmode=disable")
        with pytest.raises(ProviderError, match="the connection was lost during a fast read") as caught:
            build_package(spec, {"row_limit": "100", "since": "2000-01-01"}, load_settings())
    finally:
        proxy.close()
    assert "network" in str(caught.value.hint)
    store = PackageStore(load_settings().package_store)
    assert store.versions(TEMPLATE) == [] and not list((store.root / ".staging").iterdir())


@pytest.mark.postgres
@pytest.mark.timeout(120)  # without the read timeout the build waits forever
def test_a_postgres_source_that_stops_answering_mid_read_fails_after_the_timeout(
        hfit_home: Path, postgres_database, monkeypatch: pytest.MonkeyPatch) -> None:
    """A PostgreSQL source whose rows stop coming mid-build (the connection open, nothing sent): the build fails
    after ``source_read_timeout_s`` with an error that says so, instead of waiting forever; the previous package
    stays the latest and nothing is left staged."""
    database = postgres_database()
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}"
    generate_shop(url, customers=300, now=DEMO_NOW)
    spec = resolve_template(TEMPLATE, TEMPLATES).spec
    monkeypatch.setenv("HFIT_PROVIDER_PROD_REPLICA_URL", url)
    first = build_package(spec, {"row_limit": "300", "since": "2000-01-01"}, load_settings())
    proxy = FreezingProxy()
    try:
        monkeypatch.setenv("HFIT_PROVIDER_PROD_REPLICA_URL",
                           f"postgresql+psycopg://postgres@127.0.0.1:{proxy.port}/{database}?sslmode=disable")
        monkeypatch.setenv("HFIT_SOURCE_READ_TIMEOUT_S", "1")
        with pytest.raises(ProviderError, match="the server sent nothing for 1 s") as caught:
            build_package(spec, {"row_limit": "300", "since": "2000-01-01"}, load_settings())
    finally:
        proxy.close()
    assert proxy.frozen >= 1 and "source_read_timeout_s" in str(caught.value.hint)
    store = PackageStore(load_settings().package_store)
    assert store.versions(TEMPLATE) == [first.path.name]
    assert not list((store.root / ".staging").iterdir())


@pytest.mark.timeout(120)  # without a lock timeout the build waits for the lock forever (PostgreSQL) or a year
@pytest.mark.parametrize("engine", [pytest.param("postgresql", marks=pytest.mark.postgres),
                                    pytest.param("mariadb", marks=pytest.mark.mariadb)])
def test_a_source_table_locked_by_another_session_fails_the_build_after_the_timeout(
        hfit_home: Path, postgres_database, mariadb_database, monkeypatch: pytest.MonkeyPatch, engine: str) -> None:
    """A table the build reads is locked by another session (a migration's ALTER TABLE, LOCK TABLES): the build
    fails within ``source_read_timeout_s`` with the server's lock error (its lock wait is half the read timeout,
    so the client's read timeout never cuts the connection first), instead of waiting for the lock; nothing is
    published."""
    import psycopg

    if engine == "postgresql":
        database = postgres_database()
        url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}"
    else:
        database = mariadb_database()
        url = mariadb_url(database)
    generate_shop(url, customers=50, now=DEMO_NOW)
    monkeypatch.setenv("HFIT_PROVIDER_PROD_REPLICA_URL", url)
    monkeypatch.setenv("HFIT_SOURCE_READ_TIMEOUT_S", "3")
    spec = resolve_template(TEMPLATE, TEMPLATES).spec
    if engine == "postgresql":
        holder = psycopg.connect(f"host=127.0.0.1 user=postgres dbname={database}")
        holder.execute("LOCK TABLE customers IN ACCESS EXCLUSIVE MODE")  # in the transaction psycopg opened
    else:
        holder = pymysql.connect(**MARIADB, database=database)
        holder.cursor().execute("LOCK TABLES customers WRITE")
    try:
        with pytest.raises(ProviderError, match="timed out or cancelled"):
            build_package(spec, {"row_limit": "50", "since": "2000-01-01"}, load_settings())
    finally:
        holder.close()
    store = PackageStore(load_settings().package_store)
    assert store.versions(TEMPLATE) == [] and not list((store.root / ".staging").iterdir())


@pytest.mark.parametrize("timeout", ["inf", "nan", "0", "-1", "3000000"])
def test_a_read_timeout_no_driver_can_take_is_refused_as_a_setting(hfit_home: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   timeout: str) -> None:
    """An infinite, zero or negative read timeout, or one past a day (libpq's TCP user timeout is a 32-bit count of
    milliseconds), is a settings error naming the setting, not a driver's overflow at the first connection."""
    from pydantic import ValidationError

    monkeypatch.setenv("HFIT_SOURCE_READ_TIMEOUT_S", timeout)
    with pytest.raises(ValidationError, match="source_read_timeout_s"):
        load_settings()


def _build_with_file_size_limit(limit: int) -> subprocess.CompletedProcess[str]:
    def limit_writes() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run([sys.executable, "-m", "hfit_dagster.cli.main", "build", TEMPLATE, "row_limit=400"],
                          capture_output=True, text=True, preexec_fn=limit_writes, env=os.environ.copy(),
                          timeout=300)


def test_full_disk_fails_clearly_and_leaves_no_half_package(hfit_home: Path) -> None:
    """Writing stops (file size limit, as on a full disk): clear error, no version, no staging left."""
    result = _build_with_file_size_limit(20_000)
    assert result.returncode == 10, result.stderr
    assert "cannot write the package" in result.stderr and "Traceback" not in result.stderr
    store = PackageStore(hfit_home / "packages")
    assert store.versions(TEMPLATE) == []
    assert not list((store.root / ".staging").iterdir())


@pytest.mark.parametrize("name", ["../etc", "a/../../b", "..", "x/y", "", ".hidden", "A" * 200, "a\x00b"])
def test_store_refuses_names_that_leave_it(tmp_path: Path, name: str) -> None:
    store = PackageStore(tmp_path)
    with pytest.raises(StoreError):
        store.package_dir(name)


@pytest.mark.parametrize("version", ["../../etc", "latest/../x", "20261126T191500123456Z-1a2b3c4", "x"])
def test_store_refuses_bad_versions(tmp_path: Path, version: str) -> None:
    with pytest.raises(StoreError):
        PackageStore(tmp_path).package_dir("t", version)


def test_published_packages_are_not_world_readable(settings) -> None:
    built = build_package(resolve_template("integration-test-suite", TEMPLATES).spec, {}, settings)
    for path in [built.path, *built.path.rglob("*")]:
        assert path.stat().st_mode & 0o007 == 0, path
