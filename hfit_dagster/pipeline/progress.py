"""How a build reports what it is doing: one line of text at a time, to a callback the caller chooses."""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[str], None]


def quiet(_: str) -> None:
    """The progress callback that reports nothing."""
    return None
