"""Schema text reaches package.sql only as structure: no comments, no DEFAULT of a masked column or holding
personal data, no generated expression with a literal, index and constraint names built from table and columns,
ENUM/SET labels holding personal data replaced in the DDL and in the values alike."""

from __future__ import annotations

import io

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql

from hfit_dagster.package.sql import SqlScriptWriter
from hfit_dagster.package.sql.schema_text import expression_has_literal, holds_personal_data, masked_labels
from hfit_dagster.package.sql.table_plan import MASKED_COLUMNS


def _script(dialect: str, table: sa.Table, batch: pa.RecordBatch | None = None) -> str:
    out = io.BytesIO()
    writer = SqlScriptWriter(out, dialect)
    writer.set_written_tables({str(table.name)})
    writer.write_preamble([])
    writer.write_create_table(table)
    if batch is not None:
        writer.write_rows(table, batch)
    writer.write_postamble()
    return out.getvalue().decode("utf-8")


def _mysql_table() -> sa.Table:
    table = sa.Table(
        "people", sa.MetaData(),
        sa.Column("id", mysql.INTEGER, primary_key=True),
        sa.Column("email", mysql.VARCHAR(80), server_default=sa.text("'jane.doe@example.com'"),
                  comment="owner jane.doe@example.com"),
        sa.Column("status", mysql.VARCHAR(10), server_default=sa.text("'active'")),
        sa.Column("note", mysql.VARCHAR(40), server_default=sa.text("'ask Jane Doe'")),
        sa.Column("manager", mysql.ENUM("none", "Jane Doe", "John Smith")),
        sa.Column("teams", mysql.SET("red", "Jane Doe")),
        sa.Column("price", mysql.DECIMAL(10, 2)),
        sa.Column("total", mysql.DECIMAL(11, 2), sa.Computed("price * 2", persisted=True)),
        sa.Column("label", mysql.VARCHAR(80), sa.Computed("concat('jane.doe@example.com ', id)")),
        sa.Index("idx_for_jane_doe", "price"), sa.UniqueConstraint("email", name="uq_jane_doe_email"),
        comment="table owned by jane.doe@example.com", mysql_engine="InnoDB",
    )
    table.info["hfit_source_dialect"] = "mysql"
    table.info[MASKED_COLUMNS] = ["email"]
    return table


def test_personal_schema_text_never_reaches_the_script() -> None:
    table = _mysql_table()
    batch = pa.record_batch(
        [pa.array([1]), pa.array(["x@y.test"]), pa.array(["active"]), pa.array(["n"]), pa.array(["Jane Doe"]),
         pa.array(["red,Jane Doe"]), pa.array([pa.scalar(3, pa.decimal128(10, 2)).as_py()], pa.decimal128(10, 2)),
         pa.array([pa.scalar(6, pa.decimal128(11, 2)).as_py()], pa.decimal128(11, 2)), pa.array(["z"])],
        names=["id", "email", "status", "note", "manager", "teams", "price", "total", "label"])
    for dialect in ("mysql", "postgresql", "sqlite"):
        script = _script(dialect, table, batch)
        lowered = script.lower()
        assert "jane" not in lowered and "john" not in lowered and "owner" not in lowered, dialect
        assert "DEFAULT 'active'" in script  # a plain text default stays
        assert "people_price_idx" in script and "people_email_key" in script
    mysql_script = _script("mysql", table, batch)
    assert "ENUM('none','manager_2','manager_3','')" in mysql_script
    assert "SET('red','teams_2')" in mysql_script
    assert "'manager_2','red,teams_2'" in mysql_script  # values follow their labels
    assert "GENERATED ALWAYS AS (price * 2) STORED" in mysql_script  # no literal: kept
    assert "`label` VARCHAR(80)," in mysql_script  # a literal: a plain column with the exported values
    assert "COMMENT" not in mysql_script


def test_postgresql_enum_type_labels_are_replaced_where_personal() -> None:
    mood = postgresql.ENUM("sad", "ok", "Jane Doe", name="mood")
    table = sa.Table("t", sa.MetaData(), sa.Column("id", postgresql.INTEGER, primary_key=True),
                     sa.Column("mo", mood), comment="ask Jane Doe")
    table.info["hfit_source_dialect"] = "postgresql"
    script = _script("postgresql", table, pa.record_batch([pa.array([1]), pa.array(["Jane Doe"])],
                                                          names=["id", "mo"]))
    assert "CREATE TYPE \"mood\" AS ENUM (E'sad', E'ok', E'mo_3')" in script
    assert "E'mo_3'" in script.split("INSERT INTO")[1] and "Jane" not in script


def test_recognizers_judge_schema_text() -> None:
    assert holds_personal_data("jane.doe@example.com") and holds_personal_data("ask Jane Doe")
    assert not any(holds_personal_data(t) for t in ("small", "medium", "active", "n/a", "price * 2"))
    assert masked_labels("size", ["small", "medium", "large"]) is None
    assert expression_has_literal("concat('x', id)") and expression_has_literal("id + 4711")
    assert not expression_has_literal("price * 2") and not expression_has_literal("`col_100` + 1")
