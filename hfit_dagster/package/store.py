"""The package store: versions of each template's package, published atomically.

Layout::

    <root>/<template>/<version>/{package.sql, manifest.json, parquet/<table>.parquet}
    <root>/<template>/LATEST          name of the newest published version
    <root>/.staging/<build-id>/       work in progress; renamed into place on publish

A build writes only into its staging directory. Publishing is one ``rename`` of that directory (same
filesystem) followed by an atomic replace of ``LATEST``, so readers see either the old package or the
new one, never half of one, and a failed build leaves the previous package untouched.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path

from hfit_dagster.errors import StoreError

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
VERSION_PATTERN = re.compile(r"^\d{8}T\d{12}Z-[0-9a-f]{8}$")
LATEST = "LATEST"
DIR_MODE = 0o750
FILE_MODE = 0o640


def new_version(now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return f"{now.strftime('%Y%m%dT%H%M%S%f')}Z-{uuid.uuid4().hex[:8]}"


class PackageStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    # -- names -------------------------------------------------------------------------------------------
    @staticmethod
    def check_template_name(name: str) -> str:
        if not NAME_PATTERN.match(name or "") or ".." in name:
            raise StoreError(f"invalid template name {name[:60]!r}")
        return name

    @staticmethod
    def check_version(version: str) -> str:
        if not VERSION_PATTERN.match(version or ""):
            raise StoreError(f"invalid package version {version[:60]!r}",
                             hint="versions look like 20261126T191500123456Z-1a2b3c4d")
        return version

    def _inside(self, path: Path) -> Path:
        resolved = path.resolve()
        if not resolved.is_relative_to(self.root.resolve()):
            raise StoreError("path leaves the package store")
        return resolved

    # -- writing -----------------------------------------------------------------------------------------
    def create_staging(self) -> Path:
        staging_root = self.root / ".staging"
        try:
            staging_root.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
            path = staging_root / uuid.uuid4().hex
            path.mkdir(mode=0o700)
        except OSError as exc:
            raise StoreError(f"cannot write to the package store {self.root} ({exc.strerror or exc})",
                             hint="check that the directory exists, is writable and has free space") from None
        return path

    def discard(self, staging: Path) -> None:
        shutil.rmtree(staging, ignore_errors=True)

    def publish(self, template: str, staging: Path, version: str, *, move_latest: bool = True) -> Path:
        """Move a finished staging directory into place and (unless ``move_latest`` is off) point LATEST at it."""
        self.check_template_name(template)
        self.check_version(version)
        template_dir = self.root / template
        target = template_dir / version
        try:
            template_dir.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
            for path in [staging, *staging.rglob("*")]:
                path.chmod(DIR_MODE if path.is_dir() else FILE_MODE)
            os.rename(staging, target)
            if not move_latest:
                return target
            pointer_tmp = template_dir / f".{LATEST}.{uuid.uuid4().hex}"
            pointer_tmp.write_text(version + "\n")
            pointer_tmp.chmod(FILE_MODE)
            os.replace(pointer_tmp, template_dir / LATEST)
        except OSError as exc:
            raise StoreError(f"cannot publish into {template_dir} ({exc.strerror or exc})") from None
        return target

    def prune(self, template: str, keep_versions: int, max_age_days: int | None = None,
              now: datetime | None = None) -> list[str]:
        """Remove versions beyond the newest ``keep_versions`` or older than ``max_age_days``; never LATEST."""
        latest = self.latest_version(template)
        now = now or datetime.now(UTC)
        removed = []
        for index, version in enumerate(self.versions(template)):
            created = datetime.strptime(version[:21], "%Y%m%dT%H%M%S%f").replace(tzinfo=UTC)
            too_many = index >= keep_versions
            too_old = max_age_days is not None and (now - created).days >= max_age_days
            if version != latest and (too_many or too_old):
                shutil.rmtree(self.root / template / version, ignore_errors=True)
                removed.append(version)
        return removed

    # -- reading -----------------------------------------------------------------------------------------
    def versions(self, template: str) -> list[str]:
        template_dir = self.root / self.check_template_name(template)
        if not template_dir.is_dir():
            return []
        return sorted((p.name for p in template_dir.iterdir() if VERSION_PATTERN.match(p.name)), reverse=True)

    def latest_version(self, template: str) -> str | None:
        pointer = self.root / self.check_template_name(template) / LATEST
        try:
            version = pointer.read_text().strip()
        except FileNotFoundError:
            return None
        return self.check_version(version)

    def package_dir(self, template: str, version: str | None = None) -> Path:
        """Directory of a published package (the latest when ``version`` is None)."""
        self.check_template_name(template)
        version = version or self.latest_version(template)
        if version is None:
            raise StoreError(f"no package of template {template!r} has been built yet",
                             hint=f"run 'hfit build {template}'")
        path = self._inside(self.root / template / self.check_version(version))
        if not path.is_dir():
            raise StoreError(f"template {template!r} has no package version {version}")
        return path

    def latest_columns(self, template: str) -> dict[str, set[str]] | None:
        """Columns per table of the latest package (for the schema-drift rule), or None if there is none."""
        try:
            manifest = json.loads((self.package_dir(template) / "manifest.json").read_text())
        except (StoreError, OSError, ValueError):
            return None
        return {t["name"]: {c["name"] for c in t["columns"]} for t in manifest.get("tables", [])}

    def templates(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and NAME_PATTERN.match(p.name))
