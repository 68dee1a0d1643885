"""Durations as people write them in templates and on the command line: ``30m``, ``24h``, ``7d``, ``2w``."""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$", re.IGNORECASE)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    """``"30m"`` → 30 minutes; a ValueError that shows the accepted forms otherwise."""
    match = _DURATION.match(str(text))
    if not match:
        raise ValueError(f"{str(text)[:20]!r} is not a duration; write e.g. 30m, 24h, 7d or 2w")
    amount, unit = match.groups()
    return timedelta(**{_UNITS[unit.lower()]: int(amount)})
