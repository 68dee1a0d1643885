"""``manifest.json``: what a package contains and how it was made. Never holds source data values."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

MANIFEST_FORMAT = 1


class ColumnEntry(BaseModel):
    name: str
    sql_type: str
    masking: dict[str, Any]


class TableEntry(BaseModel):
    name: str
    role: str = Field(description="'export' (selected by the template) or 'parent' (added to satisfy FKs)")
    rows: int
    columns: list[ColumnEntry]
    omitted_foreign_keys: list[str] = Field(default_factory=list)


class FileEntry(BaseModel):
    sha256: str
    bytes: int


class PackageManifest(BaseModel):
    format: int = MANIFEST_FORMAT
    template: str
    template_hash: str
    version: str
    created_at: str
    params: dict[str, Any]
    providers: dict[str, str] = Field(description="provider name → database dialect (never the URL)")
    dialect: str
    follow_parents: bool
    tables: list[TableEntry]
    files: dict[str, FileEntry] = Field(default_factory=dict)
    checks: dict[str, Any] = Field(default_factory=dict)
    sql_notes: dict[str, Any] = Field(default_factory=dict, description="what the SQL writer could not carry over")
    extra: dict[str, Any] = Field(default_factory=dict, description="debug details when asked for; never data")

    def total_rows(self) -> int:
        return sum(t.rows for t in self.tables)


def file_digest(path: Path) -> FileEntry:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return FileEntry(sha256=digest.hexdigest(), bytes=size)
