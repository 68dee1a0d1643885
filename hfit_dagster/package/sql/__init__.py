"""The package's SQL script, written for a target dialect: one module per dialect on a shared base.

``base.SqlDialect`` states what a target decides (quoting, literals, column types, DDL, load header and footer);
``mysql``, ``postgresql`` and ``sqlite`` are the targets, found by name with ``dialect_for``. ``writer`` streams
the script, ``table_plan`` adapts each table, ``arrow_literals`` (the reference) and ``compiled_rows`` (the fast
path) render the values.
"""

from hfit_dagster.package.sql.base import SqlDialect
from hfit_dagster.package.sql.order import referred_table, tables_in_dependency_order
from hfit_dagster.package.sql.registry import SUPPORTED_DIALECTS, dialect_for
from hfit_dagster.package.sql.table_plan import EXPORTED_COLUMNS, MASKED_COLUMNS
from hfit_dagster.package.sql.writer import SqlScriptWriter

__all__ = ["EXPORTED_COLUMNS", "MASKED_COLUMNS", "SUPPORTED_DIALECTS", "SqlDialect", "SqlScriptWriter", "dialect_for",
           "referred_table", "tables_in_dependency_order"]
