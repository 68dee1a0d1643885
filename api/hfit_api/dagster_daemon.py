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
from pathlib import Path

from hfit_dagster.errors import HfitError
from hfit_dagster.settings import HfitSettings

log = logging.getLogger("hfit_api.dagster_daemon")
RESTART_DELAY_SECONDS = 5.0
STOP_GRACE_SECONDS = 20.0


def daemon_executable() -> str:
    beside = Path(sys.executable).with_name("dagster-daemon")
    found = str(beside) if beside.is_file() else shutil.which("dagster-daemon")
    if found is None:
        raise HfitError("dagster-daemon is not installed beside hfit",
                        hint="reinstall hfit (dagster is a dependency), or set HFIT_DAGSTER_DAEMON=external and run "
                        "a daemon on the same DAGSTER_HOME yourself")
    return found


def _stop_with_parent() -> None:
    """In the child before exec: on Linux, SIGTERM when the service dies without stopping it (killed)."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


class DaemonProcess:
    """One ``dagster-daemon run`` child, restarted while the service runs."""

    def __init__(self, settings: HfitSettings, instance_dir: Path, log_level: str = "warning") -> None:
        self.command = [daemon_executable(), "run", "-w", str(settings.dagster_workspace_file.resolve()),
                        "--log-level", log_level]
        self.env = {**os.environ, "DAGSTER_HOME": str(instance_dir)}
        self._process: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._monitor = threading.Thread(target=self._keep_running, name="hfit-dagster-daemon", daemon=True)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        self._spawn()
        self._monitor.start()

    def stop(self) -> None:
        self._stopping.set()
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            log.warning("dagster-daemon did not stop in %.0f s; killing it", STOP_GRACE_SECONDS)
            process.kill()
            process.wait(timeout=STOP_GRACE_SECONDS)

    def _spawn(self) -> None:
        self._process = subprocess.Popen(self.command, env=self.env, stdin=subprocess.DEVNULL,
                                         start_new_session=True, preexec_fn=_stop_with_parent)
        log.info("dagster-daemon started (pid %d)", self._process.pid)

    def _keep_running(self) -> None:
        while not self._stopping.is_set():
            process = self._process
            if process is None:
                return
            code = process.wait()
            if self._stopping.is_set():
                return
            log.error("dagster-daemon exited with %s; starting it again in %.0f s (queued builds wait meanwhile)",
                      code, RESTART_DELAY_SECONDS)
            if self._stopping.wait(RESTART_DELAY_SECONDS):
                return
            self._spawn()
