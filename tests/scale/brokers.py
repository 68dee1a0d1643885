"""Celery workers and a broker for the scale-out test: found on this machine or started by the test.

A broker is, in order: the Redis on 127.0.0.1:6379; a ``redis-server`` this module starts on a free port (no
persistence, stopped afterwards); the RabbitMQ on 127.0.0.1:5672. Workers are ``dagster-celery worker start``
processes, each in its own process group so that stopping one stops the Celery pool under it too.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

BIN = Path(sys.executable).parent
REDIS_HOST = "127.0.0.1"
REDIS_PORT = 6379
RABBITMQ_PORT = 5672


@dataclass(frozen=True)
class Broker:
    broker_url: str
    backend_url: str
    description: str


def _port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host, port)) == 0


def _redis_answers(port: int) -> bool:
    import redis

    client = redis.Redis(host=REDIS_HOST, port=port, socket_connect_timeout=1, socket_timeout=1)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_process_group(proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM the process group ``proc`` leads (it was started with its own session), then SIGKILL."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    try:  # the Celery pool children may outlive their parent for a moment
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=grace)


@contextmanager
def celery_broker(log_dir: Path) -> Iterator[Broker]:
    """The broker the test uses; raises when neither Redis nor RabbitMQ is available (not a skip)."""
    if _redis_answers(REDIS_PORT):
        url = f"redis://{REDIS_HOST}:{REDIS_PORT}/0"
        yield Broker(url, url, f"Redis on {REDIS_HOST}:{REDIS_PORT}")
        return
    server = shutil.which("redis-server")
    if server is not None:
        port = _free_port()
        with (log_dir / "redis.log").open("wb") as log:
            proc = subprocess.Popen([server, "--port", str(port), "--bind", REDIS_HOST, "--save", "",
                                     "--appendonly", "no", "--daemonize", "no"],
                                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 15
            while not _redis_answers(port):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start: {(log_dir / 'redis.log').read_text()[-2000:]}")
                time.sleep(0.1)
            url = f"redis://{REDIS_HOST}:{port}/0"
            yield Broker(url, url, f"redis-server started by the test on port {port}")
        finally:
            stop_process_group(proc)
        return
    if _port_open(RABBITMQ_PORT):
        yield Broker(f"pyamqp://guest:guest@127.0.0.1:{RABBITMQ_PORT}//", "rpc://",
                     f"RabbitMQ on 127.0.0.1:{RABBITMQ_PORT}")
        return
    raise RuntimeError("no Celery broker: Redis is not running on 127.0.0.1:6379, redis-server is not installed "
                       "and RabbitMQ is not running on 127.0.0.1:5672 (apt-get install redis-server)")


@contextmanager
def celery_workers(names: list[str], queue: str, config_yaml: Path, env: Mapping[str, str], cwd: Path,
                   log_dir: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``dagster-celery worker start`` per name, listening on ``queue`` only; always stopped on exit."""
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for name in names:
            with (log_dir / f"{name}.log").open("wb") as log:
                procs.append(subprocess.Popen(
                    [str(BIN / "dagster-celery"), "worker", "start", "-A", "dagster_celery.app",
                     "-y", str(config_yaml), "-q", queue, "-n", name, "--loglevel", "INFO",
                     "--", "--concurrency=1", "--without-gossip", "--without-mingle"],
                    cwd=cwd, env=dict(env), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                ))
        yield procs
    finally:
        for proc in procs:
            stop_process_group(proc)


def forget_queue(broker: Broker, queue: str) -> None:
    """Remove what the test left in a shared broker for ``queue``: the RabbitMQ queue, kombu's Redis keys."""
    if broker.broker_url.startswith("redis://"):
        import redis

        client = redis.Redis.from_url(broker.broker_url, socket_connect_timeout=2, socket_timeout=2)
        try:
            keys = list(client.scan_iter(match=f"*{queue}*", count=500))
            if keys:
                client.delete(*keys)
        except redis.RedisError:
            pass
        finally:
            client.close()
        return
    from kombu import Connection

    try:
        with Connection(broker.broker_url, connect_timeout=2) as conn:
            conn.default_channel.queue_delete(queue)
    except Exception:  # best effort: a leftover empty queue is harmless
        pass


def wait_for_workers(broker_url: str, names: list[str], procs: list[subprocess.Popen[bytes]],
                     timeout: float = 45.0) -> dict[str, str]:
    """Block until every named worker answers a broadcast ping; returns name → full node name."""
    from celery import Celery

    app = Celery("hfit-scale-probe", broker=broker_url)
    try:
        deadline = time.monotonic() + timeout
        found: dict[str, str] = {}
        while True:
            for reply in app.control.ping(timeout=1.0) or []:
                for node in reply:
                    prefix = node.split("@", 1)[0]
                    if prefix in names:
                        found[prefix] = node
            if len(found) == len(names):
                return found
            dead = [p.args for p in procs if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                raise RuntimeError(f"workers not ready (answered: {sorted(found)}, exited: {dead})")
    finally:
        app.close()
