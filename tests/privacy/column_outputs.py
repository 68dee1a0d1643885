"""Where a package could carry a source value, read back for the privacy tests: package.sql, every Parquet
value, every Parquet metadata field and the manifest."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq


def package_texts(package: Path) -> dict[str, str]:
    """Every readable text of a package by where it comes from (values as their Python text)."""
    texts = {"package.sql": (package / "package.sql").read_text(errors="replace"),
             "manifest.json": (package / "manifest.json").read_text()}
    for path in sorted((package / "parquet").glob("*.parquet")):
        table = pq.read_table(path)
        texts[f"{path.name} values"] = json.dumps(table.to_pylist(), default=repr)
        metadata = pq.read_metadata(path)
        parts = [str(metadata.metadata), str(table.schema.metadata)]
        parts += [str(field.metadata) for field in table.schema]
        for group in range(metadata.num_row_groups):
            for column in range(metadata.num_columns):
                stats = metadata.row_group(group).column(column).statistics
                if stats is not None and stats.has_min_max:
                    parts.append(f"{stats.min!r} {stats.max!r}")
        texts[f"{path.name} metadata"] = "\n".join(parts)
    return texts


def originals_found(package: Path, originals: list[str]) -> list[str]:
    """``original in place`` for each original value found anywhere in the package."""
    return [f"{value} in {where}" for where, text in package_texts(package).items()
            for value in originals if value in text]
