"""The target dialects by name: ``dialect_for("mysql")`` is the MySQL/MariaDB dialect, and so on."""

from __future__ import annotations

from hfit_dagster.errors import BuildError
from hfit_dagster.package.sql.base import SqlDialect
from hfit_dagster.package.sql.mysql import MySqlDialect
from hfit_dagster.package.sql.postgresql import PostgreSqlDialect
from hfit_dagster.package.sql.sqlite import SqliteDialect

DIALECTS: dict[str, type[SqlDialect]] = {cls.name: cls for cls in (MySqlDialect, PostgreSqlDialect, SqliteDialect)}
SUPPORTED_DIALECTS = tuple(DIALECTS)


def dialect_for(name: str) -> SqlDialect:
    """The dialect called `name` (one of ``SUPPORTED_DIALECTS``); a BuildError names the choices otherwise."""
    cls = DIALECTS.get(name)
    if cls is None:
        raise BuildError(f"unsupported SQL dialect {name!r}", hint=f"choose one of {', '.join(SUPPORTED_DIALECTS)}")
    return cls()
