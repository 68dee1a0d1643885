"""A brake on password guessing: failed logins counted per user+address, per account (across addresses) and per
address (across accounts: password spraying), each within a sliding minute; over a limit the answer is 429
with Retry-After.

In memory, per API process: enough against a script on one machine; several replicas behind a load
balancer each count on their own (a shared store would be the next step).
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass

from hfit_dagster.errors import RateLimited

WINDOW_SECONDS = 60.0
# an account and an address each tolerate a few user+address brakes' worth of failures before they stop too
SPREAD_FACTOR = 3


class LoginThrottled(RateLimited):
    """Too many failed logins; ``retry_after`` seconds until the oldest counted failure leaves the window."""

    def __init__(self, message: str, retry_after: int, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.retry_after = retry_after


@dataclass(frozen=True)
class LoginLimits:
    per_user_and_address: int
    per_account: int
    per_address: int

    @classmethod
    def from_failures_per_minute(cls, failures: int) -> LoginLimits:
        return cls(per_user_and_address=failures, per_account=failures * SPREAD_FACTOR,
                   per_address=failures * SPREAD_FACTOR)


class LoginLimiter:
    def __init__(self, failures_per_window: int, window: float = WINDOW_SECONDS,
                 limits: LoginLimits | None = None) -> None:
        self.limits = limits or LoginLimits.from_failures_per_minute(failures_per_window)
        self.window = window
        self._failures: dict[tuple[str, ...], deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def check(self, user: str, client: str) -> None:
        """Raise LoginThrottled when this user+address, this account or this address failed too often."""
        with self._lock:
            for key, limit, what in self._buckets(user, client):
                recent = self._recent(key)
                if len(recent) >= limit:
                    retry = int(self.window - (time.monotonic() - recent[0])) + 1
                    raise LoginThrottled(f"too many failed logins {what}; try again in {retry} s", retry,
                                         hint="check the user name and password")

    def failed(self, user: str, client: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key, _limit, _what in self._buckets(user, client):
                self._recent(key).append(now)

    def succeeded(self, user: str, client: str) -> None:
        """A good password clears its own user+address count; the account and address counts stay."""
        with self._lock:
            self._failures.pop(("pair", user, client), None)

    def _buckets(self, user: str, client: str) -> list[tuple[tuple[str, ...], int, str]]:
        buckets = [(("pair", user, client), self.limits.per_user_and_address,
                    f"for {user or 'API tokens'!r} from {client}"),
                   (("address", client), self.limits.per_address, f"from {client}")]
        if user:  # API token exchanges have no account to count against
            buckets.append((("account", user), self.limits.per_account, f"for {user!r}"))
        return buckets

    def _recent(self, key: tuple[str, ...]) -> deque[float]:
        stamps = self._failures[key]
        cutoff = time.monotonic() - self.window
        while stamps and stamps[0] < cutoff:
            stamps.popleft()
        return stamps
