"""The API restarts in the middle of a download: `hfit pkg-download -o FILE` resumes from where it stopped
(Range + If-Range) on the restarted server and checks the sha256 — or, if the server stays down, says
clearly what happened and how to continue."""

from __future__ import annotations

import hashlib
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.service_harness import HFIT, RunningServer, free_port, start_server
from tests.api.test_packages import MIB, fabricate_package

pytestmark = pytest.mark.slow


class CuttingProxy(threading.Thread):
    """127.0.0.1:<port> → the server; the first connection carrying more than ``cut_after`` response bytes is
    cut, and ``on_cut`` runs (here: the server restarts). Later connections are forwarded untouched."""

    def __init__(self, target_port: int, cut_after: int, on_cut: callable) -> None:  # type: ignore[valid-type]
        super().__init__(daemon=True)
        self.port, self.target_port, self.cut_after, self.on_cut = free_port(), target_port, cut_after, on_cut
        self.listener = socket.create_server(("127.0.0.1", self.port))
        self.cut = threading.Event()

    def run(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=30)
        except OSError:
            client.close()
            return
        threading.Thread(target=self._pipe, args=(client, upstream, False), daemon=True).start()
        self._pipe(upstream, client, True)

    def _pipe(self, source: socket.socket, sink: socket.socket, response: bool) -> None:
        sent = 0
        try:
            while chunk := source.recv(1 << 16):
                sink.sendall(chunk)
                sent += len(chunk)
                if response and not self.cut.is_set() and sent > self.cut_after:
                    self.cut.set()
                    for s in (source, sink):  # shutdown, not just close: wakes the other direction's recv
                        s.shutdown(socket.SHUT_RDWR)
                    self.on_cut()
                    return
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def own_server(tmp_path_factory: pytest.TempPathFactory, demo_source: str) -> Iterator[RunningServer]:
    yield from start_server(tmp_path_factory.mktemp("restart"), demo_source)


def restart(server: RunningServer) -> None:
    """Stop the server process and start a new one on the same port over the same state."""
    server.process.terminate()
    server.process.wait(timeout=30)  # it stops its dagster-daemon child too
    log = (server.root / "server.log").open("ab")
    server.process = subprocess.Popen([str(HFIT), "serve", "--port", str(server.port), "--log-level", "warning"],
                                      env=server.env, stdout=log, stderr=subprocess.STDOUT, cwd=server.root)


def download_through(proxy: CuttingProxy, server: RunningServer, token: str, version: str,
                     target: Path) -> subprocess.CompletedProcess[str]:
    """`hfit pkg-download large-fixture -o target` as a user runs it, talking to the server through ``proxy``."""
    env = {**server.env, "HFIT_SERVER_URL": f"http://127.0.0.1:{proxy.port}", "HFIT_TOKEN": token,
           "XDG_CONFIG_HOME": str(target.parent / "xdg")}
    return subprocess.run([str(HFIT), "pkg-download", "large-fixture", "--version", version, "-o", str(target)],
                          env=env, capture_output=True, text=True, timeout=90)


def test_download_resumes_across_a_server_restart(own_server: RunningServer, tmp_path: Path) -> None:
    size = 64 * MIB
    version, sha = fabricate_package(own_server, size)
    token = own_server.user("resumer", "viewer")
    proxy = CuttingProxy(own_server.port, cut_after=20 * MIB, on_cut=lambda: restart(own_server))
    proxy.start()
    target = tmp_path / "large.sql"
    try:
        done = download_through(proxy, own_server, token, version, target)
    finally:
        proxy.close()
    assert proxy.cut.is_set(), "the transfer was never cut"
    assert done.returncode == 0, done.stderr
    assert hashlib.sha256(target.read_bytes()).hexdigest() == sha
    downloads = own_server.audit(action="packages.download", user="resumer")
    assert len(downloads) >= 2  # the first request and the resumed one, on the restarted server


def test_server_down_for_good_is_reported_clearly(own_server: RunningServer, tmp_path: Path) -> None:
    version, _ = fabricate_package(own_server, 32 * MIB)
    token = own_server.user("stranded", "viewer")

    def stop_for_good() -> None:
        own_server.process.terminate()

    proxy = CuttingProxy(own_server.port, cut_after=8 * MIB, on_cut=stop_for_good)
    proxy.start()
    target = tmp_path / "partial.sql"
    try:
        done = download_through(proxy, own_server, token, version, target)
    finally:
        proxy.close()
    assert done.returncode == 11, done.stderr
    assert "interrupted after" in done.stderr and "run the same command again" in done.stderr
    assert "Traceback" not in done.stderr
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{own_server.url}/healthz", timeout=1)
