"""The templates the service knows: the repository's templates/ folder plus those made through the API.

Repository templates carry their status in the YAML (approved there means approved by code review).
Templates created through the API live in the state database, which records owner, status and approvals,
and are mirrored as YAML files under ``<home>/templates/`` (what a build or a Dagster code location can load).

Four eyes: an approval names the content hash the approver reviewed, and the approver is neither the
template's author (owner) nor its last editor. A change to an approved template, or to any repository
template, does not replace it: it is stored beside it as a proposed revision, and the approved content keeps
building (and keeps its owner and readers) until someone else approves the revision's hash. Only a draft
that was never approved is edited in place.

The YAML text of an API template always states the status the database holds (the ``status:`` line is
rewritten), so the content hash identifies exactly what was approved: a draft and its approved twin differ.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import uuid
from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Literal

import sqlalchemy as sa

from hfit_api.state import Approval, StateDB, TemplateRecord, TemplateRevision, User, utcnow
from hfit_dagster.errors import Conflict, Forbidden, InvalidRequest, TemplateError, TemplateNotFound
from hfit_dagster.orchestration.job_names import job_name, slug
from hfit_dagster.package.store import PackageStore
from hfit_dagster.settings import HfitSettings
from hfit_dagster.template.loader import TEMPLATE_SUFFIXES, TemplateFile, load_template_file, parse_template
from hfit_dagster.template.spec import TemplateSpec

log = logging.getLogger("hfit_api.catalog")
MAX_TEMPLATE_BYTES = 256 * 1024
_STATUS_LINE = re.compile(r"^status:[^\n]*$", re.MULTILINE)
_NAME_LINE = re.compile(r"^templateName:[^\n]*$", re.MULTILINE)


@dataclass(frozen=True)
class ProposedRevision:
    """A change waiting for approval: its YAML (as a draft), hash, who proposed it and what it would replace."""

    spec: TemplateSpec
    yaml_text: str
    content_hash: str
    base_hash: str
    proposed_by: str
    proposed_at: datetime


@dataclass(frozen=True)
class CatalogEntry:
    """One template as the service sees it: what it builds from and who may use it."""

    spec: TemplateSpec
    yaml_text: str
    source: Literal["repository", "api"]
    folder: str
    path: Path
    owner: str | None
    updated_by: str | None = None
    updated_at: datetime | None = None
    approved_by: str | None = None
    approved_at: datetime | None = None
    ever_approved: bool = False
    revision: ProposedRevision | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def status(self) -> str:
        return self.spec.status

    @property
    def content_hash(self) -> str:
        return self.spec.content_hash()

    def is_owned_by(self, user: User) -> bool:
        return self.owner is not None and self.owner == user.name

    def template_file(self) -> TemplateFile:
        return TemplateFile(spec=self.spec, path=self.path, folder=self.folder)


class TemplateCatalog:
    def __init__(self, settings: HfitSettings, db: StateDB) -> None:
        self.settings = settings
        self.db = db
        self.api_dir = settings.home / "templates"
        self._lock = threading.Lock()
        self._repo_cache: tuple[tuple[tuple[str, int, int], ...], dict[str, CatalogEntry]] | None = None

    # -- reading -----------------------------------------------------------------------------------------
    def entries(self) -> dict[str, CatalogEntry]:
        found = dict(self._repository())
        with self.db.session() as session:
            for record in session.scalars(sa.select(TemplateRecord)):
                try:
                    found[record.name] = self._api_entry(record)
                except TemplateError as exc:
                    log.warning("stored template %s no longer validates: %s", record.name, exc.message)
            for pending in session.scalars(sa.select(TemplateRevision)):
                if pending.name in found:
                    try:
                        found[pending.name] = replace(found[pending.name], revision=_revision(pending))
                    except TemplateError as exc:
                        log.warning("proposed revision of %s no longer validates: %s", pending.name, exc.message)
        return found

    def get(self, name: str) -> CatalogEntry:
        PackageStore.check_template_name(name)
        entry = self.entries().get(name)
        if entry is None:
            raise TemplateNotFound(f"no template named {name!r}", hint="GET /templates lists them")
        return entry

    def approved_hashes(self, entry: CatalogEntry) -> set[str]:
        """Every content hash of this template that was ever approved (packages built from these serve)."""
        with self.db.session() as session:
            hashes = set(session.scalars(sa.select(Approval.content_hash).where(Approval.template == entry.name)))
        repo = self._repository().get(entry.name)
        if repo is not None and repo.status == "approved":
            hashes.add(repo.content_hash)
        if entry.status == "approved":
            hashes.add(entry.content_hash)
        return hashes

    # -- changing ----------------------------------------------------------------------------------------
    def create(self, yaml_text: str, user: User) -> CatalogEntry:
        spec = self._validate(yaml_text, "draft")
        if spec.name in self.entries():
            raise Conflict(f"template {spec.name!r} already exists",
                           hint=f"use 'hfit pkg-tmpl update' (PUT /templates/{spec.name}) to change it")
        text = with_status(yaml_text, "draft")
        now = utcnow()
        record = TemplateRecord(name=spec.name, yaml_text=text, owner=user.name, status="draft",
                                content_hash=spec.content_hash(), folder="", created_at=now, updated_at=now,
                                updated_by=user.name)
        with self._lock, self.db.session() as session:
            if session.get(TemplateRecord, spec.name) is not None:
                raise Conflict(f"template {spec.name!r} already exists")
            _check_job_name_free(spec.name, {*self._repository(), *session.scalars(sa.select(TemplateRecord.name))})
            session.add(record)
            self._mirror(record)
        return self._api_entry(record)

    def update(self, name: str, yaml_text: str, user: User) -> CatalogEntry:
        """New content for a template.

        A draft that was never approved is edited in place (by its owner or an approver). An approved API
        template or any repository template gets a proposed revision instead, and keeps building as it is.
        """
        current = self.get(name)
        if current.source == "api" and not current.is_owned_by(user) and not user.has_role("approver"):
            raise Forbidden(f"template {name!r} belongs to {current.owner}; only its owner or an approver may edit it")
        spec = self._validate(yaml_text, "draft")
        if spec.name != name:
            raise InvalidRequest(f"the YAML says templateName {spec.name!r}, but the request is for {name!r}",
                                 hint="rename by creating a new template")
        text = with_status(yaml_text, "draft")
        now = utcnow()
        with self._lock, self.db.session() as session:
            record = session.get(TemplateRecord, name)
            if record is not None and not current.ever_approved:
                record.yaml_text, record.content_hash = text, spec.content_hash()
                record.updated_at, record.updated_by = now, user.name
                self._mirror(record)
                session.flush()
                return self._api_entry(record)
            pending = session.get(TemplateRevision, name)
            if pending is not None and pending.proposed_by != user.name:
                raise Conflict(f"a revision of {name!r} by {pending.proposed_by} is waiting for approval "
                               f"(content hash {pending.content_hash[:12]})",
                               hint="ask an approver to approve or its author to change it first")
            if pending is None:
                pending = TemplateRevision(name=name, proposed_by=user.name)
                session.add(pending)
            pending.yaml_text, pending.content_hash = text, spec.content_hash()
            pending.base_hash, pending.proposed_at = current.content_hash, now
            session.flush()
            return replace(current, revision=_revision(pending))

    def approve(self, name: str, user: User, content_hash: str) -> CatalogEntry:
        """Approve the content under review (a proposed revision, else the draft), named by its hash.

        The approver is neither the template's author nor the last editor of that content; a hash that is
        not the one under review (it changed after the review) is a conflict, never approved unseen.
        """
        current = self.get(name)
        revision = current.revision
        if revision is not None:
            if revision.base_hash != current.content_hash:
                raise Conflict(f"the revision of {name!r} was proposed against {revision.base_hash[:12]}, but the "
                               f"approved content is now {current.content_hash[:12]}",
                               hint="its author proposes it again on top of the current content")
            under_review, editor, changed_at = revision.yaml_text, revision.proposed_by, revision.proposed_at
            reviewed_hash = revision.content_hash
        elif current.status == "approved":
            raise Conflict(f"template {name!r} is approved already (content hash {current.content_hash[:12]}) and "
                           "no revision of it is waiting for approval")
        else:
            under_review, editor, changed_at = current.yaml_text, current.updated_by, current.updated_at
            reviewed_hash = current.content_hash
        if content_hash != reviewed_hash:
            when = f" at {changed_at:%Y-%m-%d %H:%M:%S} UTC" if changed_at is not None else ""
            raise Conflict(f"content hash {content_hash[:12]} is not what is waiting for approval: {name!r} is now "
                           f"{reviewed_hash[:12]} (last changed by {editor or 'the repository'}{when})",
                           hint=f"review it again (GET /templates/{name}) and approve the hash you reviewed")
        authors = {who for who in (current.owner, editor) if who}
        if user.name in authors:
            raise Forbidden(f"{user.name} wrote or last changed this content of {name!r}; someone else approves it "
                            "(four eyes)", hint="ask another approver")
        text = with_status(under_review, "approved")
        spec = self._validate(text, "approved")
        now = utcnow()
        with self._lock, self.db.session() as session:
            record = session.get(TemplateRecord, name)
            if record is None:  # a repository template: its owner stays its owner, whoever proposed the change
                record = TemplateRecord(name=name, owner=current.owner or "", folder=current.folder,
                                        created_at=now)
                session.add(record)
            record.yaml_text, record.status, record.content_hash = text, "approved", spec.content_hash()
            record.updated_at, record.updated_by = changed_at or now, editor or user.name
            record.approved_by, record.approved_at, record.approved_hash = user.name, now, spec.content_hash()
            session.add(Approval(template=name, content_hash=spec.content_hash(), approved_by=user.name,
                                 approved_at=now))
            pending = session.get(TemplateRevision, name)
            if pending is not None:
                session.delete(pending)
            self._mirror(record)
            session.flush()
            return self._api_entry(record)

    # -- internals ---------------------------------------------------------------------------------------
    def _validate(self, yaml_text: str, status: str) -> TemplateSpec:
        if len(yaml_text.encode()) > MAX_TEMPLATE_BYTES:
            raise InvalidRequest(f"template is larger than {MAX_TEMPLATE_BYTES // 1024} KiB")
        spec = parse_template(with_status(yaml_text, status), "template.yaml")
        if spec.status != status:
            raise TemplateError("template.yaml: could not set its status",
                                hint="write 'status: draft' on a line of its own at the top level")
        return spec

    def _api_entry(self, record: TemplateRecord) -> CatalogEntry:
        spec = parse_template(record.yaml_text, f"{record.name}.yaml")
        return CatalogEntry(spec=spec, yaml_text=record.yaml_text, source="api", folder=record.folder,
                            path=self.api_dir / f"{record.name}.yaml", owner=record.owner,
                            updated_by=record.updated_by, updated_at=record.updated_at,
                            approved_by=record.approved_by, approved_at=record.approved_at,
                            ever_approved=record.approved_hash is not None or record.status == "approved")

    def _mirror(self, record: TemplateRecord) -> None:
        self.api_dir.mkdir(parents=True, exist_ok=True, mode=0o750)
        target = self.api_dir / f"{PackageStore.check_template_name(record.name)}.yaml"
        tmp = self.api_dir / f".{record.name}.{uuid.uuid4().hex}.tmp"
        tmp.write_text(record.yaml_text, encoding="utf-8")
        tmp.chmod(0o640)
        os.replace(tmp, target)

    def _repository(self) -> dict[str, CatalogEntry]:
        """templates/ (cached until a file changes); a broken file is logged and skipped, not fatal."""
        root = self.settings.templates_dir
        files = sorted(p for p in root.rglob("*") if p.suffix in TEMPLATE_SUFFIXES and p.is_file()) \
            if root.is_dir() else []
        fingerprint = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files)
        cached = self._repo_cache
        if cached is not None and cached[0] == fingerprint:
            return cached[1]
        found: dict[str, CatalogEntry] = {}
        for path in files:
            try:
                spec = load_template_file(path)
                text = path.read_text(encoding="utf-8")
            except (TemplateError, TemplateNotFound, OSError) as exc:
                log.warning("skipping template file %s: %s", path, exc)
                continue
            if spec.name in found:
                log.warning("template name %s is used twice (%s, %s); keeping the first",
                            spec.name, found[spec.name].path, path)
                continue
            folder = path.parent.relative_to(root).as_posix()
            found[spec.name] = CatalogEntry(spec=spec, yaml_text=text, source="repository",
                                            folder="" if folder == "." else folder, path=path, owner=spec.owner)
        self._repo_cache = (fingerprint, found)
        return found


def _check_job_name_free(name: str, names: Collection[str]) -> None:
    """Conflict when another template of ``names`` already has the Dagster job this name would get: the code
    location would leave the new template out (``service_templates.py``) and none of its builds could run."""
    taken = sorted(other for other in names if other != name and slug(other) == slug(name))
    if taken:
        raise Conflict(f"template {name!r} would build as Dagster job {job_name(name)}, which template {taken[0]!r} "
                       "already has (names that differ only in '-', '.' and '_' share a job)",
                       hint=f"choose a name that differs from {taken[0]!r} in a letter or a digit")


def _revision(pending: TemplateRevision) -> ProposedRevision:
    spec = parse_template(pending.yaml_text, f"{pending.name}.yaml (proposed revision)")
    return ProposedRevision(spec=spec, yaml_text=pending.yaml_text, content_hash=pending.content_hash,
                            base_hash=pending.base_hash, proposed_by=pending.proposed_by,
                            proposed_at=pending.proposed_at)


def with_status(yaml_text: str, status: str) -> str:
    """The same YAML with its top-level ``status:`` line saying ``status`` (added when missing)."""
    line = f"status: {status}"
    if _STATUS_LINE.search(yaml_text):
        return _STATUS_LINE.sub(line, yaml_text, count=1)
    match = _NAME_LINE.search(yaml_text)
    if match:
        return yaml_text[: match.end()] + "\n" + line + yaml_text[match.end():]
    return line + "\n" + yaml_text
