"""A refused build parameter told without its value, for what Dagster keeps: tick errors, sensor logs, run failures.

``ParameterError`` quotes the refused value last (``parameter 'contact' expects int, got 'alice@example.com'``) so
that a person at the CLI or the API sees what they typed. A build that no person typed (an alert's payload, a
schedule, sealed parameters opened in a run) reports the refusal where Dagster stores and shows it, and there the
value, which may name someone, is left out: the parameter, its type and the hint stay.
"""

from __future__ import annotations

import re

from hfit_dagster.errors import ParameterError

_REFUSED_VALUE = re.compile(r",? got .*$", re.DOTALL)


def without_value(exc: ParameterError) -> ParameterError:
    """``exc`` with the quoted value it refused replaced by a word; every other message comes through as it is."""
    return ParameterError(_REFUSED_VALUE.sub(", got a value of another type", exc.message), hint=exc.hint)
