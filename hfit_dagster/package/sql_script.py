"""The SQL script writer's public names, where the pipeline imports them (the code lives in ``package.sql``)."""

from hfit_dagster.package.sql import (
    EXPORTED_COLUMNS,
    MASKED_COLUMNS,
    SUPPORTED_DIALECTS,
    SqlScriptWriter,
    dialect_for,
    referred_table,
    tables_in_dependency_order,
)

__all__ = ["EXPORTED_COLUMNS", "MASKED_COLUMNS", "SUPPORTED_DIALECTS", "SqlScriptWriter", "dialect_for",
           "referred_table", "tables_in_dependency_order"]
