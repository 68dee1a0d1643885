"""Tables of hfit's own state (the service's state database, the alert table) grow nullable columns between
releases: a database created by an older release gets them added in place when it is opened."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa


def add_missing_columns(engine: sa.Engine, tables: Iterable[sa.Table]) -> None:
    """Add each nullable column of ``tables`` that the database's table lacks. Identifiers are quoted by the
    dialect's preparer and the column rendered by SQLAlchemy's DDL compiler; a column another replica of the
    service added at the same time is not an error."""
    for table in tables:
        present = {column["name"] for column in sa.inspect(engine).get_columns(table.name)}
        missing = [column for column in table.columns if column.name not in present and column.nullable]
        table_name = engine.dialect.identifier_preparer.format_table(table)
        for column in missing:
            added = sa.schema.CreateColumn(column).compile(dialect=engine.dialect)
            try:
                with engine.begin() as conn:
                    conn.execute(sa.text(f"ALTER TABLE {table_name} ADD COLUMN {added}"))
            except sa.exc.DBAPIError:
                if column.name not in {c["name"] for c in sa.inspect(engine).get_columns(table.name)}:
                    raise
