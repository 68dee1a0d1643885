"""Progress of long work on stderr: rich's spinner on a terminal, plain timestamped lines anywhere else.

A spinner redraws one line in place, which a CI log or a file cannot show, so there nothing appeared until
the work ended. Off a terminal each update becomes a line such as ``[hfit 12:01:03] customers: 20000 rows``:
always when the phase changes (the text before the first ``:``, e.g. a table name), otherwise at most one
line per ``interval`` seconds. The last update of a phase that the interval held back is written when the
phase ends, so a log always shows each phase's final count.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Protocol

from rich.console import Console

DEFAULT_INTERVAL = 1.0


class ProgressStatus(Protocol):
    def update(self, message: str) -> None: ...


class PlainProgress:
    """Timestamped progress lines through ``write``, one per phase change or per ``interval`` seconds."""

    def __init__(self, write: Callable[[str], None], *, interval: float = DEFAULT_INTERVAL,
                 clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], datetime] = datetime.now) -> None:
        self._write = write
        self._interval = interval
        self._clock = clock
        self._wall_clock = wall_clock
        self._phase: str | None = None
        self._last_line_at: float | None = None
        self._held: str | None = None

    def update(self, message: str) -> None:
        phase = message.split(":", 1)[0]
        now = self._clock()
        if phase != self._phase:
            self.flush()
            self._phase = phase
        elif self._last_line_at is not None and now - self._last_line_at < self._interval:
            self._held = message
            return
        self._line(message, now)

    def flush(self) -> None:
        """Write the update the interval held back, if any."""
        if self._held is not None:
            self._line(self._held, self._clock())

    def _line(self, message: str, now: float) -> None:
        self._held = None
        self._last_line_at = now
        self._write(f"[hfit {self._wall_clock():%H:%M:%S}] {message}")


@contextmanager
def progress_status(console: Console, message: str, *,
                    interval: float = DEFAULT_INTERVAL) -> Iterator[ProgressStatus]:
    """``console.status(message)`` on a terminal; elsewhere ``message`` and each update as plain lines."""
    if console.is_terminal:
        with console.status(message) as status:
            yield status
        return

    def write(line: str) -> None:
        console.file.write(line + "\n")
        console.file.flush()

    plain = PlainProgress(write, interval=interval)
    plain.update(message)
    try:
        yield plain
    finally:
        plain.flush()
