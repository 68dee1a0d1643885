"""Each target dialect against its own tables (tests/package/test_dialect_<name>.py): the literal of each value
through the compiled row writer and its Arrow reference, the DDL of each column, the load header and footer,
and a parent/child schema's DDL. The round trips through each dialect's stock client stay in those files."""

from __future__ import annotations

from types import ModuleType

import pytest

from tests.package import test_dialect_mysql, test_dialect_postgresql, test_dialect_sqlite
from tests.package.dialect_cases import (
    DdlCase,
    LiteralCase,
    column_ddl,
    ddl_statements,
    empty_script,
    literal,
    parent_child_tables,
)

TABLES: list[ModuleType] = [test_dialect_mysql, test_dialect_postgresql, test_dialect_sqlite]


def _cases(attribute: str) -> list[object]:
    return [pytest.param(t.DIALECT, case, id=f"{t.DIALECT}-{case.id}")
            for t in TABLES for case in getattr(t, attribute)]


@pytest.mark.parametrize(("dialect", "case"), _cases("LITERALS"))
def test_compiled_and_reference_literal(dialect: str, case: LiteralCase) -> None:
    """The compiled row writer and the Arrow path (its reference) write the expected literal."""
    assert literal(dialect, case, compiled=True) == case.literal
    assert literal(dialect, case, compiled=False) == case.literal


@pytest.mark.parametrize(("dialect", "case"), _cases("COLUMNS"))
def test_column_ddl(dialect: str, case: DdlCase) -> None:
    assert column_ddl(dialect, case) == case.ddl


@pytest.mark.parametrize("tables", TABLES, ids=lambda t: t.DIALECT)
def test_load_header_and_footer(tables: ModuleType) -> None:
    assert empty_script(tables.DIALECT) == tables.SCRIPT_FRAME


@pytest.mark.parametrize("tables", TABLES, ids=lambda t: t.DIALECT)
def test_table_ddl(tables: ModuleType) -> None:
    assert ddl_statements(tables.DIALECT, parent_child_tables()) == tables.PARENT_CHILD_DDL
