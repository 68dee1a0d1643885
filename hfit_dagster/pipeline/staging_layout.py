"""The staging directory's layout: what stage one leaves for stage two, by name.

``parquet/<table>.parquet``: each table, masked; ``sql-parts/``: each table's INSERTs, rendered while staging
when the SQL dialect is known; ``schema.pickle``: the reflected table definitions (no data); ``stage.json``:
counts, masking plans, check results, and the SQL script when staging wrote it already.
"""

from __future__ import annotations

from pathlib import Path

PARQUET_DIR = "parquet"
SQL_PARTS_DIR = "sql-parts"
STAGE_FILE = "stage.json"
SCHEMA_FILE = "schema.pickle"
ASSEMBLED_SQL = "assembled_sql"  # stage.json: the package's SQL script, when staging assembled it already


def parquet_path(staging: Path, table: str) -> Path:
    """Where a staged table's masked rows are."""
    return staging / PARQUET_DIR / f"{table}.parquet"
