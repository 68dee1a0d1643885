"""Cases of the per-dialect tables (test_dialect_<name>.py) and how each is evaluated.

A `LiteralCase` is one value of one Arrow type going into a column of one source type: the literal the script
writes (by the compiled row writer and by the Arrow path, which must agree) and the value the dialect's server
returns after loading it. A `DdlCase` is one source column and its line in the target's CREATE TABLE.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.types import TypeEngine

from hfit_dagster.package.sql import SqlScriptWriter, dialect_for
from hfit_dagster.package.sql.table_plan import TablePlanner

SAME = object()  # the server returns the Arrow value itself


@dataclass(frozen=True)
class LiteralCase:
    id: str
    column: TypeEngine  # the source column's type
    arrow: pa.DataType
    value: Any
    literal: str  # what the script writes
    read: Any = SAME  # what the server returns after the load
    family: str = "generic"  # the source's SQL family ("generic": SQLite or unknown)

    @property
    def expected(self) -> Any:
        return self.value if self.read is SAME else self.read


@dataclass(frozen=True)
class DdlCase:
    id: str
    column: TypeEngine
    ddl: str  # the column's line in CREATE TABLE, without the trailing comma
    family: str = "generic"
    options: dict[str, Any] = field(default_factory=dict)  # sa.Column keyword arguments


def source_table(name: str, columns: dict[str, TypeEngine], family: str,
                 options: dict[str, dict[str, Any]] | None = None) -> sa.Table:
    """A reflected-like source table: an integer key ``id`` and the given columns, from SQL `family`."""
    options = options or {}
    table = sa.Table(name, sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
                     *[sa.Column(n, t, **options.get(n, {})) for n, t in columns.items()])
    if family != "generic":
        table.info["hfit_source_dialect"] = family
    return table


def literal(dialect: str, case: LiteralCase, *, compiled: bool) -> str:
    """The literal the writer renders for the case's value (one row, one column)."""
    table = source_table("t", {"c": case.column}, case.family)
    writer = SqlScriptWriter(io.BytesIO(), dialect, compiled_rows=compiled)
    batch = pa.record_batch([pa.array([case.value], case.arrow)], names=["c"])
    text, _ = writer.row_source(table, batch).rows_text()
    row = bytes(text).decode("utf-8")
    assert row.startswith("(") and row.endswith("),\n")
    return row[1:-3]


def column_ddl(dialect: str, case: DdlCase) -> str:
    """The case column's line in the CREATE TABLE the target gets."""
    table = source_table("t", {"c": case.column}, case.family, {"c": case.options})
    create = next(s for s in TablePlanner(dialect_for(dialect)).plan(table).ddl if s.startswith("CREATE TABLE"))
    quoted = dialect_for(dialect).quote_identifier("c")
    lines = [line.strip().rstrip(",") for line in create.splitlines()]
    return next(line for line in lines if line.startswith(quoted + " "))


def ddl_statements(dialect: str, tables: list[sa.Table]) -> list[str]:
    """Every DDL statement of a script of `tables` (created in this order), the after-data ones last."""
    planner = TablePlanner(dialect_for(dialect))
    planner.set_written_tables({str(t.name) for t in tables})
    statements = [s for t in tables for s in planner.plan(t).ddl]
    return [" ".join(s.split()) for s in statements + planner.after_data]


def empty_script(dialect: str) -> str:
    """The script of a package without tables: the dialect's load header and footer."""
    out = io.BytesIO()
    writer = SqlScriptWriter(out, dialect)
    writer.set_written_tables(set())
    writer.write_preamble([])
    writer.write_postamble()
    return out.getvalue().decode("utf-8")


def round_trip_script(dialect: str, cases: list[LiteralCase]) -> bytes:
    """A whole script of table ``cases``: column ``c<i>`` per case, row 1 the values, row 2 all NULL (the cases
    come from one SQL family)."""
    family = cases[0].family
    assert all(case.family == family for case in cases)
    table = source_table("cases", {f"c{i}": case.column for i, case in enumerate(cases)}, family)
    batch = pa.record_batch(
        [pa.array([1, 2], pa.int32())]
        + [pa.array([case.value, None], case.arrow) for case in cases],
        names=["id"] + [f"c{i}" for i in range(len(cases))])
    out = io.BytesIO()
    writer = SqlScriptWriter(out, dialect)
    writer.set_written_tables({"cases"})
    writer.write_preamble(["dialect round trip"])
    writer.write_create_table(table)
    writer.write_rows(table, batch)
    writer.write_postamble()
    return out.getvalue()


def parent_child_tables() -> list[sa.Table]:
    """A parent with a unique code and a secondary index; a child with a composite unique key and a foreign key
    that cascades on delete."""
    md = sa.MetaData()
    parent = sa.Table("parent", md, sa.Column("id", sa.Integer, primary_key=True),
                      sa.Column("code", sa.String(20), nullable=False, unique=True),
                      sa.Column("name", sa.Text), sa.Index("ix_parent_name", "name"))
    child = sa.Table("child", md, sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("parent_id", sa.Integer, sa.ForeignKey("parent.id", name="fk_child_parent",
                                                                      ondelete="CASCADE"), nullable=False),
                     sa.Column("tag", sa.String(10)), sa.UniqueConstraint("parent_id", "tag", name="uq_child_tag"))
    return [parent, child]


def by_family(cases: list[LiteralCase]) -> dict[str, list[LiteralCase]]:
    """The cases grouped by their source family (a round-trip table holds one family)."""
    groups: dict[str, list[LiteralCase]] = {}
    for case in cases:
        groups.setdefault(case.family, []).append(case)
    return groups


def read_back_mismatches(cases: list[LiteralCase], row: tuple[Any, ...]) -> dict[str, tuple[Any, Any]]:
    """``{case id: (expected, read)}`` for every column of `row` that differs from its case (NaN equals NaN)."""
    def same(expected: Any, got: Any) -> bool:
        if isinstance(got, memoryview):
            got = bytes(got)
        if isinstance(expected, float) and isinstance(got, float) and math.isnan(expected):
            return math.isnan(got)
        return bool(type(expected) is type(got) and expected == got) or (expected is None and got is None)

    return {case.id: (case.expected, got) for case, got in zip(cases, row, strict=True)
            if not same(case.expected, got)}
