"""Published packages as the service sees them: versions with their manifests, and who may download them.

A package is served to someone other than the template's owner only when the template is approved now and
the package was built from approved content (its manifest's ``template_hash`` is one an approver approved,
or the approved YAML of templates/). So an author's dry run of a draft never reaches anyone else, even
though it is published into the same store.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from hfit_api.catalog import CatalogEntry
from hfit_api.state import ROLES, User
from hfit_dagster.errors import Forbidden, NotFound, StoreError
from hfit_dagster.package.store import PackageStore

log = logging.getLogger("hfit_api.packages")
MANIFEST = "manifest.json"
SQL = "package.sql"


@dataclass(frozen=True)
class PublishedPackage:
    template: str
    version: str
    path: Path
    manifest: dict[str, Any]

    @property
    def template_hash(self) -> str:
        return str(self.manifest.get("template_hash", ""))

    @property
    def created_at(self) -> datetime | None:
        try:
            return datetime.fromisoformat(str(self.manifest.get("created_at")))
        except ValueError:
            return None

    @property
    def files(self) -> dict[str, dict[str, Any]]:
        return dict(self.manifest.get("files") or {})

    @property
    def total_bytes(self) -> int:
        return sum(int(f.get("bytes", 0)) for f in self.files.values())

    @property
    def rows(self) -> int:
        return sum(int(t.get("rows", 0)) for t in self.manifest.get("tables") or [])

    def file(self, relative: str) -> tuple[Path, dict[str, Any]]:
        """A file listed in the manifest, proven to lie inside this package directory."""
        entry = self.files.get(relative)
        path = (self.path / relative).resolve()
        if entry is None or not path.is_relative_to(self.path.resolve()) or not path.is_file():
            raise NotFound(f"package {self.template} {self.version} has no file {relative}")
        return path, entry


class PackageIndex:
    """Reads versions and manifests from the package store (never writes)."""

    def __init__(self, store: PackageStore) -> None:
        self.store = store

    def versions(self, template: str) -> list[PublishedPackage]:
        """Newest first; a version with an unreadable manifest is skipped (and logged)."""
        found = []
        for version in self.store.versions(template):
            try:
                found.append(self.get(template, version))
            except (NotFound, StoreError) as exc:
                log.warning("skipping %s/%s: %s", template, version, exc)
        return found

    def get(self, template: str, version: str) -> PublishedPackage:
        try:
            path = self.store.package_dir(template, version)
        except StoreError:
            raise NotFound(f"template {template!r} has no package version {version}",
                           hint=f"GET /packages/{template} lists the versions") from None
        try:
            manifest = json.loads((path / MANIFEST).read_text())
        except (OSError, ValueError):
            raise NotFound(f"package {template} {version} has no readable manifest") from None
        return PublishedPackage(template=template, version=version, path=path, manifest=manifest)


@dataclass(frozen=True)
class PackageAccess:
    """What one user may see of one template's packages."""

    entry: CatalogEntry
    user: User
    approved_hashes: frozenset[str]
    provider_readers: Mapping[str, list[str]] = field(default_factory=dict)

    @property
    def sees_drafts(self) -> bool:
        return self.entry.is_owned_by(self.user) or self.user.has_role("admin")

    def check_template(self, action: str = "download packages of") -> None:
        if self.entry.status != "approved" and not self.sees_drafts:
            raise Forbidden(f"template {self.entry.name!r} is a draft; only its owner may {action} it until an "
                            "approver approves it", hint="ask an approver to run 'hfit pkg-tmpl approve'")
        self.check_providers(action)

    def check_providers(self, action: str) -> None:
        """The template reads only providers this user may read (``provider_readers``; unlisted: open)."""
        readers = {name.upper(): allowed for name, allowed in self.provider_readers.items()}
        for provider in sorted({e.provider.upper() for e in self.entry.spec.exports.values()}):
            allowed = readers.get(provider)
            if allowed is None:
                continue
            if self.user.name in allowed or any(r in ROLES and self.user.has_role(r) for r in allowed):
                continue
            raise Forbidden(f"template {self.entry.name!r} reads provider {provider}, which {self.user.name!r} may "
                            f"not read, so may not {action} it",
                            hint="an admin lists who may read a provider under provider_readers in the config")

    def allows(self, package: PublishedPackage) -> bool:
        return self.sees_drafts or package.template_hash in self.approved_hashes

    def check_package(self, package: PublishedPackage) -> None:
        self.check_template()
        if not self.allows(package):
            raise Forbidden(f"package {package.template} {package.version} was built from content of the template "
                            "that was never approved")

    def newest(self, packages: list[PublishedPackage]) -> PublishedPackage:
        for package in packages:
            if self.allows(package):
                return package
        raise NotFound(f"no package of template {self.entry.name!r} has been built yet",
                       hint=f"POST /packages/{self.entry.name}/builds, or 'hfit pkg-download {self.entry.name}'")
