"""``dagster-daemon run`` as a child of ``hfit serve``: someone must take the service's runs off the queue.

On a single machine nothing else runs a daemon, so ``hfit serve`` starts one on the same instance
(``DAGSTER_HOME`` = ``settings.dagster_instance_dir``) and the same workspace file as its own launcher, restarts
it when it exits, and stops it when the service stops. The daemon also runs the schedules and the alert sensor.
Where a daemon runs anyway (compose, Kubernetes, ``make dagster`` on the same instance), set
``HFIT_DAGSTER_DAEMON=external``: two daemons on one instance would both dequeue.

The daemon runs in a session of its own, so a Ctrl-C meant for the service reaches it through ``stop`` (in
order: the service first, then the daemon), and the runs it started are left to finish; a restarted service
follows them again. On Linux the daemon is also told to stop when the service dies without stopping it.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from hfit_dagster.errors import HfitError
from hfit_dagster.settings import HfitSettings

log = logging.getLogger("hfit_api.dagster_daemon")
RESTART_DELAY_SECONDS = 5.0
# how long the service waits for its daemon to stop; a daemon still finishing its tick then stops by itself
STOP_GRACE_SECONDS = 5.0


def executable(name: str) -> str:
    beside = Path(sys.executable).with_name(name)
    found = str(beside) if beside.is_file() else shutil.which(name)
    if found is None:
        raise HfitError(f"{name} is not installed beside hfit",
                        hint="reinstall hfit (dagster is a dependency), or set HFIT_DAGSTER_DAEMON=external and run "
                        "a daemon on the same DAGSTER_HOME yourself")
    return found


def create_storage_in_subprocess(directory: Path) -> None:
    """``dagster instance migrate``: the instance's storage created (or brought up to date) by a process of its
    own, so that loading Dagster does not slow the service's start."""
    env = {**os.environ, "DAGSTER_HOME": str(directory)}
    done = subprocess.run([executable("dagster"), "instance", "migrate"], env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise HfitError(f"dagster instance migrate failed for {directory} (exit {done.returncode})",
                        hint=done.stderr.strip().splitlines()[-1][:300] if done.stderr.strip() else None)


def _stop_with_parent() -> None:
    """In the child before exec: on Linux, SIGTERM when the service dies without stopping it (killed)."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


class DaemonProcess:
    """One ``dagster-daemon run`` child, restarted while the service runs.

    ``start`` returns at once: a monitor thread prepares the instance (``prepare``), then starts the daemon and
    restarts it when it exits, so the service answers while Dagster loads. Every start happens in that thread,
    which lives until ``stop``: the parent-death signal is tied to the thread that started the child.
    """

    def __init__(self, settings: HfitSettings, prepare: Callable[[], Path], log_level: str = "warning") -> None:
        self.command = [executable("dagster-daemon"), "run", "-w", str(settings.dagster_workspace_file.resolve()),
                        "--log-level", log_level]
        self.prepare = prepare
        self._process: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._monitor = threading.Thread(target=self._keep_running, name="hfit-dagster-daemon", daemon=True)

    def start(self) -> None:
        self._monitor.start()

    def stop(self) -> None:
        with self._lock:
            self._stopping.set()
            process = self._process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            log.warning("dagster-daemon (pid %d) is still stopping; leaving it to finish", process.pid)

    def _spawn(self, env: dict[str, str]) -> subprocess.Popen[bytes] | None:
        with self._lock:
            if self._stopping.is_set():
                return None
            self._process = subprocess.Popen(self.command, env=env, stdin=subprocess.DEVNULL,
                                             start_new_session=True, preexec_fn=_stop_with_parent)
        # on stderr beside uvicorn's lines: an operator (or a test cleaning up) finds the daemon's session here
        print(f"dagster-daemon pid {self._process.pid} started on {env['DAGSTER_HOME']}", file=sys.stderr, flush=True)
        return self._process

    def _keep_running(self) -> None:
        try:
            env = {**os.environ, "DAGSTER_HOME": str(self.prepare())}
        except HfitError as exc:  # the service still serves packages; builds fail with the same message
            log.error("no dagster-daemon started: %s%s", exc.message, f" (hint: {exc.hint})" if exc.hint else "")
            return
        except Exception:  # noqa: BLE001 - as above, with Dagster's traceback for the operator
            log.exception("could not prepare the Dagster instance; no dagster-daemon started")
            return
        while True:
            process = self._spawn(env)
            if process is None:
                return
            code = process.wait()
            if self._stopping.is_set():
                return
            log.error("dagster-daemon exited with %s; starting it again in %.0f s (queued builds wait meanwhile)",
                      code, RESTART_DELAY_SECONDS)
            if self._stopping.wait(RESTART_DELAY_SECONDS):
                return
