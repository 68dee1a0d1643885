"""A brake on password guessing: N failed logins per (user name, client address) per minute, then 429.

In memory, per API process: enough against a script on one machine; several replicas behind a load
balancer each count on their own (a shared store would be the next step).
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque

from hfit_dagster.errors import RateLimited

WINDOW_SECONDS = 60.0


class LoginLimiter:
    def __init__(self, failures_per_window: int, window: float = WINDOW_SECONDS) -> None:
        self.limit, self.window = failures_per_window, window
        self._failures: dict[tuple[str, str], deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def check(self, user: str, client: str) -> None:
        """Raise RateLimited when this user+address has failed too often within the window."""
        with self._lock:
            recent = self._recent((user, client))
            if len(recent) >= self.limit:
                retry = int(self.window - (time.monotonic() - recent[0])) + 1
                raise RateLimited(f"too many failed logins for {user or 'this token'!r} from {client}; "
                                  f"try again in {retry} s", hint="check the user name and password")

    def failed(self, user: str, client: str) -> None:
        with self._lock:
            self._recent((user, client)).append(time.monotonic())

    def succeeded(self, user: str, client: str) -> None:
        with self._lock:
            self._failures.pop((user, client), None)

    def _recent(self, key: tuple[str, str]) -> deque[float]:
        stamps = self._failures[key]
        cutoff = time.monotonic() - self.window
        while stamps and stamps[0] < cutoff:
            stamps.popleft()
        return stamps
