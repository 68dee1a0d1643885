"""Source sessions: every connection reads in UTC, and values arrive as the server holds them.

* MySQL/MariaDB: ``time_zone = '+00:00'``, so a TIMESTAMP reads as its UTC value whatever the server's
  or the user's default zone is (DATETIME has no zone and is unaffected).
* PostgreSQL: ``TimeZone = UTC``, ISO dates, ISO 8601 intervals (``P1Y2M3DT4H``), shortest exact floats.
  On the cursors that read rows (executions with the ``SOURCE_VALUES`` option; SQLAlchemy's own catalog
  queries keep psycopg's loaders, which its reflection expects), psycopg's loaders are replaced where they
  lose what the server sent:

  - ``json``/``jsonb``, ``interval``, ``timetz`` and ranges are read as the server's text: a JSON number
    keeps its text (``1.50``), a JSON ``null`` stays the JSON text ``null`` (not SQL NULL), an interval keeps
    its months and years (``P1M``, never 30 days), a ``timetz`` keeps its offset (``12:00:00+05:30``), a
    range is ``[1,5)`` as the server writes it;
  - ``date``, ``timestamp`` and ``timestamptz`` are read as the server's ISO text too, which Arrow parses a
    batch at a time (faster than a Python datetime per value); ``time`` uses psycopg's compiled loader. A
    value Python cannot hold (``infinity``, ``-infinity``, a BC date, a year after 9999, ``24:00:00``)
    arrives as text either way, and ``arrow_types`` turns it into the documented Arrow value
    (docs/templates.md).
"""

from __future__ import annotations

import math
from typing import Any

MYSQL_INIT = "SET time_zone = '+00:00'"
#: seconds a read may wait for the source's next bytes (``HfitSettings.source_read_timeout_s``)
READ_TIMEOUT_S = 600.0
#: the engine's execution option carrying that timeout to the PostgreSQL fast reader's own connections
READ_TIMEOUT_OPTION = "hfit_read_timeout"
POSTGRES_OPTIONS = "-c TimeZone=UTC -c DateStyle=ISO -c IntervalStyle=iso_8601 -c extra_float_digits=1"

#: the execution option that marks a read of source rows (see the module docstring)
SOURCE_VALUES = "hfit_source_values"
RANGE_TYPES = ("int4range", "int8range", "numrange", "daterange", "tsrange", "tstzrange", "int4multirange",
               "int8multirange", "nummultirange", "datemultirange", "tsmultirange", "tstzmultirange")
TEXT_TYPES = ("json", "jsonb", "interval", "timetz", "date", "timestamp", "timestamptz", *RANGE_TYPES)
EDGE_TEMPORAL_TYPES = ("time",)


def connect_args(backend: str, read_timeout: float = READ_TIMEOUT_S) -> dict[str, Any]:
    """Driver arguments for a source of ``backend`` (SQLAlchemy's backend name). ``read_timeout``: PyMySQL's
    wait for the server's next packet; libpq has none, so PostgreSQL connections get TCP keepalives (a peer
    that vanished is noticed within about a minute and a half) and a TCP user timeout (data left unacknowledged
    that long closes the connection); the binary COPY reader times its own socket. Both wait for a lock at most
    half of ``read_timeout`` (``_postgres_options``), so the server's lock error comes before the read timeout
    cuts the connection."""
    if backend in ("mysql", "mariadb"):
        init = f"{MYSQL_INIT}, SESSION lock_wait_timeout = {max(1, math.floor(read_timeout / 2))}"
        return {"connect_timeout": 10, "read_timeout": read_timeout, "charset": "utf8mb4", "init_command": init}
    if backend == "postgresql":
        return {"connect_timeout": 10, "options": _postgres_options(read_timeout),
                **_postgres_keepalives(read_timeout)}
    return {}


def _postgres_options(read_timeout: float) -> str:
    """The session settings of a PostgreSQL source connection: ``POSTGRES_OPTIONS`` and a lock timeout of half
    ``read_timeout`` (a read waiting for a lock, held by a migration's ALTER TABLE say, fails with the server's
    lock error instead of waiting for ever, libpq having no read timeout of its own, or of being cut by the
    COPY's socket timeout). MySQL/MariaDB get ``lock_wait_timeout`` the same way (whole seconds, at least 1)."""
    return f"{POSTGRES_OPTIONS} -c lock_timeout={max(1, int(read_timeout * 500))}"


def _postgres_keepalives(read_timeout: float) -> dict[str, Any]:
    """libpq's TCP keepalive and user-timeout parameters for a source connection."""
    return {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 6,
            "tcp_user_timeout": max(1, int(read_timeout * 1000))}


def install_postgres_loaders(target: Any) -> None:
    """Register the loaders described in the module docstring on one psycopg cursor (or connection)."""
    import psycopg
    from psycopg.types.string import TextLoader

    adapters = target.adapters
    text_format = psycopg.pq.Format.TEXT
    for name in TEXT_TYPES:
        info = adapters.types.get(name)
        if info is not None:
            adapters.register_loader(info.oid, TextLoader)
    for name in EDGE_TEMPORAL_TYPES:
        info = adapters.types.get(name)
        if info is None:
            continue
        base = adapters.get_loader(info.oid, text_format)
        if base is not None:
            adapters.register_loader(info.oid, _text_when_out_of_range(base, psycopg.DataError))


def _text_when_out_of_range(base: type, data_error: type[Exception]) -> type:
    """A loader that loads with psycopg's (compiled, not subclassable) ``base`` and returns the server's text
    where ``base`` cannot load the value."""
    from psycopg.adapt import Loader

    class EdgeLoader(Loader):
        def __init__(self, oid: int, context: Any = None) -> None:
            super().__init__(oid, context)
            self._load = base(oid, context).load

        def load(self, data: Any) -> Any:
            try:
                return self._load(data)
            except data_error:
                return bytes(data).decode("ascii", errors="replace")

    EdgeLoader.__name__ = f"Edge{base.__name__}"
    return EdgeLoader
