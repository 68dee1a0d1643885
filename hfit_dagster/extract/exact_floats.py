"""MySQL/MariaDB FLOAT columns read exactly: selected as ``CAST(col AS DOUBLE)``.

The text protocol sends a FLOAT with 6 significant digits (``16777217`` is stored as ``16777216`` and sent
as ``16777200``); cast to DOUBLE the server sends the stored 4-byte value exactly, and the reader keeps it
as float32. Two kinds of statement read a table:

* hfit's own SELECTs (rows by key, children): :func:`exact_float_columns` gives the select list;
* a template query: :func:`widen_float_projections` rewrites its outer projections where the output
  columns are known (``*``/``t.*`` of the export's table or of a derived table over it, named columns,
  aliases, ``t.*`` of the export's table in a join); set operations and a bare ``*`` over a join are left as
  they are (their FLOAT values keep the server's 6 digits). The rewritten query goes through the SQL guard
  like any other.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
import sqlglot
from sqlalchemy.dialects import mysql
from sqlglot import exp

from hfit_dagster.extract.arrow_types import arrow_type_for


def float_columns(table: sa.Table, dialect: str) -> set[str]:
    """Names of the 4-byte float columns of ``table`` on a MySQL/MariaDB source (else none)."""
    if dialect not in ("mysql", "mariadb"):
        return set()
    import pyarrow as pa

    return {c.name for c in table.columns if arrow_type_for(c.type, dialect) == pa.float32()}


def exact_float_columns(columns: list[Any], floats: set[str]) -> list[Any]:
    """The select list ``columns`` with each column named in ``floats`` cast to DOUBLE (same label)."""
    return [sa.cast(c, mysql.DOUBLE(asdecimal=False)).label(c.name) if c.name in floats else c for c in columns]


def widen_float_projections(sql: str, table: sa.Table, floats: set[str]) -> str | None:
    """``sql`` (already checked, MySQL) with its FLOAT output columns cast to DOUBLE, or None when nothing
    changes or its output columns cannot be known."""
    if not floats:
        return None
    try:
        tree = sqlglot.parse_one(sql, read="mysql")
    except sqlglot.errors.SqlglotError:
        return None
    if not isinstance(tree, exp.Select):
        return None
    changed = False
    projections: list[exp.Expression] = []
    for projection in tree.expressions:
        expanded = _expand_star(tree, projection, table)
        if expanded is None:
            return None
        for item in expanded:
            name = item.alias_or_name
            if name in floats:
                inner = item.this if isinstance(item, exp.Alias) else item
                item = exp.alias_(exp.Cast(this=inner.copy(), to=exp.DataType.build("DOUBLE")), name, quoted=True)
                changed = True
            projections.append(item)
    if not changed:
        return None
    tree = tree.copy()
    tree.set("expressions", projections)
    return tree.sql(dialect="mysql")


def _expand_star(select: exp.Select, projection: exp.Expression, table: sa.Table) -> list[exp.Expression] | None:
    """``projection`` as explicit columns (``*`` and ``t.*`` expanded), or None when its columns are unknown
    (``*`` over a join, a star of something that is not the export's table or a derived table over it)."""
    star = isinstance(projection, exp.Star) or (isinstance(projection, exp.Column)
                                                 and isinstance(projection.this, exp.Star))
    if not star:
        return [projection]
    source = select.args.get("from_") or select.args.get("from")
    if source is None:
        return None
    sources = [source.this, *(join.this for join in select.args.get("joins") or [])]
    qualifier = projection.table if isinstance(projection, exp.Column) else ""
    if qualifier:
        matching = [s for s in sources if s.alias_or_name == qualifier]
    else:
        matching = sources if len(sources) == 1 else []
    if len(matching) != 1:
        return None
    origin = matching[0]
    qualifier = origin.alias_or_name
    if isinstance(origin, exp.Table):
        if origin.name != table.name:
            return None
        names = [c.name for c in table.columns]
    elif isinstance(origin, exp.Subquery) and isinstance(origin.this, exp.Select):
        inner = origin.this
        names = []
        for item in inner.expressions:
            expanded = _expand_star(inner, item, table)
            if expanded is None:
                return None
            names += [e.alias_or_name for e in expanded]
    else:
        return None
    return [exp.column(name, table=qualifier, quoted=True) for name in names]
