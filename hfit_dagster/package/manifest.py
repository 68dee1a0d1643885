"""``manifest.json``: what a package contains and how it was made. Never holds source data values."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Collection
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

MANIFEST_FORMAT = 1
PARAMETER_DIGEST = "hmac-sha256:"  # the prefix of a parameter value stored as its keyed digest
WITHHELD = "withheld"  # a parameter value recorded without a key to digest it with


class ColumnEntry(BaseModel):
    name: str
    sql_type: str
    masking: dict[str, Any]
    sql_note: str | None = Field(default=None, description="how package.sql represents the column's values where "
                                                           "the target dialect has no such type")


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
    params: dict[str, Any] = Field(description="parameter names; values as keyed digests (see parameter_digests)")
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


def parameter_digests(params: dict[str, Any], key: bytes | None, visible: Collection[str] = ()) -> dict[str, Any]:
    """Template parameters as a manifest keeps them: every name visible, every value a keyed digest.

    Why: parameter values are often personal data (``who=<email>``, ``customer_ids=12847``), and the manifest
    travels with the package. The digest is HMAC-SHA256 of the value's JSON text under a key derived from the
    masking key, so whoever holds the key can check which values a package was built for, and nobody else can
    read or guess them cheaply. Booleans and NULL stay as they are (a flag says nothing about anyone), and so do
    the ``visible`` parameters (hfit's own knobs such as ``row_limit``, which select no one). Without a key the
    values are recorded as ``withheld``.
    """
    derived = hmac.new(key, b"hfit/manifest-params", hashlib.sha256).digest() if key else None
    out: dict[str, Any] = {}
    for name, value in params.items():
        if value is None or isinstance(value, bool) or name in visible:
            out[name] = value
        elif derived is None:
            out[name] = WITHHELD
        else:
            text = json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)
            out[name] = PARAMETER_DIGEST + hmac.new(derived, text.encode(), hashlib.sha256).hexdigest()[:32]
    return out
