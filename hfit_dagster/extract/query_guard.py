"""The run-time half of the SQL guard: a template query checked against the source it is about to run on.

``template/query.py`` proves a query is one read-only SELECT of allowed functions. Here, on the provider's own
connection, the query is parsed under the provider's dialect, every table it reads must belong to the
provider's database (MySQL/MariaDB), schema (PostgreSQL) or main database (SQLite), and the statement sent is
the checked rendering of the query, never its raw text.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import TextClause, bindparam, text
from sqlalchemy.engine import Connection

from hfit_dagster.errors import QueryRefused
from hfit_dagster.template.query import ExportQuery, TableRef

# SQLAlchemy's dialect names -> sqlglot's
SQLGLOT_DIALECTS = {"mysql": "mysql", "mariadb": "mysql", "postgresql": "postgres", "sqlite": "sqlite"}


def sqlglot_dialect(conn: Connection) -> str:
    name = conn.dialect.name
    if name not in SQLGLOT_DIALECTS:
        raise QueryRefused(f"template queries cannot run on a {name} source",
                           hint="hfit reads MySQL/MariaDB, PostgreSQL and SQLite sources")
    return SQLGLOT_DIALECTS[name]


# conn.info key: the queries whose tables were checked in this snapshot (read_only_snapshot starts it empty),
# so an export read in many chunks of keys asks the server about its tables once
CHECKED_QUERIES = "hfit_checked_queries"


def guarded_clause(conn: Connection, query: ExportQuery, values: dict[str, Any], *, where: str) -> TextClause:
    """The statement to run for ``query`` on ``conn``: checked for the source's dialect and tables, params bound."""
    dialect = sqlglot_dialect(conn)
    checked: set[str] = conn.info.setdefault(CHECKED_QUERIES, set())
    if query.sql not in checked:
        ensure_own_tables(conn, dialect, query.tables(dialect), where=where)
        checked.add(query.sql)
    return query.to_clause(values, dialect=dialect)


def ensure_own_tables(conn: Connection, dialect: str, tables: tuple[TableRef, ...], *, where: str) -> None:
    """Refuse a table outside the provider's own database or schema."""
    if not tables:
        return
    if dialect == "mysql":
        own = conn.exec_driver_sql("SELECT DATABASE()").scalar()
        for ref in tables:
            if ref.schema is not None and (own is None or ref.schema.lower() != str(own).lower()):
                _refuse(where, ref)
    elif dialect == "postgres":
        own = conn.exec_driver_sql("SELECT current_schema()").scalar()
        for ref in tables:
            if ref.schema is not None and ref.schema != own and ref.schema.lower() != str(own):
                _refuse(where, ref)
        unqualified = sorted({ref.name for ref in tables if ref.schema is None})
        if unqualified:
            statement = text("SELECT table_name FROM information_schema.tables "
                             "WHERE table_schema = current_schema() AND lower(table_name) IN :names")
            rows = conn.execute(statement.bindparams(bindparam("names", expanding=True)),
                                {"names": [n.lower() for n in unqualified]})
            present = {str(r[0]).lower() for r in rows}
            for ref in tables:
                if ref.schema is None and ref.name.lower() not in present:
                    _refuse(where, ref)
    elif dialect == "sqlite":
        for ref in tables:
            if ref.schema is not None and ref.schema.lower() != "main":
                _refuse(where, ref)


def _refuse(where: str, ref: TableRef) -> None:
    shown = f"{ref.schema}.{ref.name}" if ref.schema else ref.name
    raise QueryRefused(f"{where}: table {shown} is not in the provider's own database or schema",
                       hint="a template reads only the tables of its provider's database (PostgreSQL: its "
                            "current schema); system catalogs and other schemas are never exported")
