"""Build requests: validate parameters, serve a fresh package when there is one, else launch a run.

"Fresh" means a package of the same template content (hash) and the same parameters, published within
``package_fresh_minutes``. Parameters compare as the request states them: a relative default such as
``now-30d`` counts as itself, not as the instant it resolved to, so asking twice within the window for
"the last 30 days" gets the same package. Identical requests while a build is still running join it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import socket
import threading
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from hfit_api.audit import AuditLog
from hfit_api.catalog import CatalogEntry
from hfit_api.launcher import BuildJob, BuildLauncher
from hfit_api.packages import PackageIndex
from hfit_api.state import Build, StateDB, User, utcnow
from hfit_dagster.errors import HfitError, InvalidRequest, NotFound
from hfit_dagster.package.manifest import parameter_digests
from hfit_dagster.settings import HfitSettings
from hfit_dagster.template.builtins import BUILTINS, prepare_build
from hfit_dagster.template.loader import TemplateFile
from hfit_dagster.template.spec import RetentionSpec, TemplateSpec

ACTIVE = ("queued", "running")
DRY_RUN_KEEP_VERSIONS = 1_000_000_000
_RELATIVE = re.compile(r"^now(\s*[+-]\s*\d+\s*[smhdw])?$", re.IGNORECASE)
_QUOTED = re.compile(r"'([^'\n]*)'|\"([^\"\n]*)\"")
HOST = socket.gethostname()


def params_as_strings(raw: dict[str, Any]) -> dict[str, str]:
    """JSON parameter values as ``hfit build`` would receive them on the command line."""
    out: dict[str, str] = {}
    for name, value in raw.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[name] = "true" if value else "false"
        elif isinstance(value, list | tuple):
            out[name] = ",".join(str(item) for item in value)
        elif isinstance(value, str | int | float):
            out[name] = str(value)
        else:
            raise InvalidRequest(f"parameter {name[:40]!r}: expected a string, number, boolean or list")
    return out


def params_key(spec: TemplateSpec, raw: dict[str, str], resolved: dict[str, Any], key: bytes) -> str:
    """What identical requests share (to join a running build or find a fresh one): a keyed digest, since it is
    stored beside every build and an unkeyed hash of an email or a small id is found by trying candidates."""
    canonical: dict[str, Any] = {}
    for name, value in resolved.items():
        stated = raw.get(name, spec.parameters[name].default if name in spec.parameters else None)
        if isinstance(stated, str) and _RELATIVE.match(stated.strip()):
            canonical[name] = re.sub(r"\s+", "", stated.lower())
        else:
            canonical[name] = value
    text = json.dumps(canonical, sort_keys=True, default=str)
    derived = hmac.new(key, b"hfit/build-params-key", hashlib.sha256).digest()
    return hmac.new(derived, text.encode(), hashlib.sha256).hexdigest()


def shown_params(settings: HfitSettings, spec: TemplateSpec, values: dict[str, Any]) -> dict[str, Any]:
    """Parameters as builds, audit rows and API answers keep them: the manifest's rule (``parameter_digests``),
    so a value that names someone is stored nowhere in the clear, and its digest matches the manifest's."""
    key = settings.masking_key_bytes() if has_masking_key(settings) else None
    return parameter_digests(as_manifest_json(values), key, set(BUILTINS) - set(spec.parameters))


def has_masking_key(settings: HfitSettings) -> bool:
    return settings.masking_key is not None and bool(settings.masking_key.get_secret_value())


def as_manifest_json(value: Any) -> Any:
    """Parameters as the manifest stores them (the package writer's JSON conventions)."""
    return json.loads(json.dumps(value, default=_json_default))


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def message_without_values(message: str, raw: dict[str, Any]) -> str:
    """A refusal's message for the audit row: a quoted excerpt of a value the request sent (``got 'x'``) is
    replaced, so the row keeps parameter names and the reason, not the values (its params hold their digests)."""
    sent: set[str] = set()
    for value in raw.values():
        items = value if isinstance(value, list | tuple) else [value]
        texts = [",".join(str(item) for item in items), *(str(item).strip() for item in items)]
        sent.update(text for text in texts if text)

    def hide(match: re.Match[str]) -> str:
        quoted = match.group(1) if match.group(1) is not None else match.group(2)
        shown = quoted[:-1] if quoted.endswith("…") else None  # an excerpt of a longer value
        if quoted in sent or (shown and any(text.startswith(shown) for text in sent)):
            return "<value>"
        return match.group(0)

    return _QUOTED.sub(hide, message)


def job_template(entry: CatalogEntry) -> TemplateFile:
    """What a run builds. A draft's dry run never prunes: its retention keeps every version, so no dry run
    can delete an approved package whatever the draft's ``retention`` says."""
    found = entry.template_file()
    if entry.status == "approved":
        return found
    keep_all = RetentionSpec(keep_versions=DRY_RUN_KEEP_VERSIONS, max_age_days=None)
    return replace(found, spec=found.spec.model_copy(update={"retention": keep_all}))


class BuildService:
    def __init__(self, settings: HfitSettings, db: StateDB, index: PackageIndex, launcher: BuildLauncher,
                 audit: AuditLog) -> None:
        self.settings, self.db, self.index, self.launcher, self.audit = settings, db, index, launcher, audit
        self._lock = threading.Lock()
        # without a masking key no build can run; identical requests still join within this process
        self._params_key = settings.masking_key_bytes() if has_masking_key(settings) else secrets.token_bytes(32)

    def request(self, entry: CatalogEntry, raw_params: dict[str, Any], user: User) -> tuple[Build, str]:
        """The build answering this request and how: ``fresh``, ``joined`` (already running) or ``launched``."""
        spec = entry.spec
        raw = params_as_strings(raw_params)
        resolved = prepare_build(spec, raw).user_params  # declared and built-in parameters, as the manifest has them
        key = params_key(spec, raw, resolved, self._params_key)
        shown = shown_params(self.settings, spec, resolved)
        template_hash = spec.content_hash()
        with self._lock:
            fresh = self._fresh_version(spec, template_hash, key, shown)
            if fresh is not None:
                return self._record(entry, shown, key, user, status="succeeded", version=fresh, fresh=True), "fresh"
            running = self._running(spec.name, template_hash, key)
            if running is not None:
                return running, "joined"
            build = self._record(entry, shown, key, user, status="queued")
        # the run gets the values as given, in memory only: the build record keeps their digests
        self.launcher.launch(BuildJob(build_id=build.id, template=job_template(entry), params=raw,
                                      requester=user.name, dry_run=build.dry_run, template_hash=template_hash), self)
        return build, "launched"

    def get(self, build_id: str, user: User) -> Build:
        with self.db.session() as session:
            build = session.get(Build, build_id[:40])
        # ids are random: who has one may follow the build (an identical request joins it); dry runs of
        # drafts stay with their requester and approvers
        hidden = build is not None and build.dry_run and build.requested_by != user.name \
            and not user.has_role("approver")
        if build is None or hidden:
            raise NotFound(f"no build {build_id[:40]!r}")
        return build

    def resume(self) -> tuple[int, int]:
        """After a restart: follow again the runs of this host's unfinished builds; a build whose run was never
        submitted will never finish, so it is failed. Returns (followed, failed)."""
        with self.db.session() as session:
            unfinished = session.scalars(sa.select(Build).where(Build.status.in_(ACTIVE), Build.host == HOST)).all()
            orphans = [build for build in unfinished if build.run_id is None]
            for build in orphans:
                build.status, build.finished_at = "failed", utcnow()
                build.error_code, build.error_message = "build_failed", "interrupted: the service stopped"
            running = [(build.id, build.run_id) for build in unfinished if build.run_id is not None]
        for build_id, run_id in running:
            self.launcher.follow(build_id, run_id, self)
        return len(running), len(orphans)

    # -- BuildEvents -------------------------------------------------------------------------------------
    def submitted(self, build_id: str, run_id: str) -> None:
        self._update(build_id, run_id=run_id)

    def started(self, build_id: str) -> None:
        self._update(build_id, status="running", started_at=utcnow())

    def succeeded(self, build_id: str, version: str, run_id: str | None) -> None:
        build = self._update(build_id, status="succeeded", version=version, run_id=run_id, finished_at=utcnow())
        self.audit.record(action="build.finished", outcome="succeeded", user=build.requested_by,
                          template=build.template, params=build.params, version=version,
                          detail=f"build {build_id}, Dagster run {run_id}")

    def failed(self, build_id: str, error: HfitError, run_id: str | None) -> None:
        build = self._update(build_id, status="failed", run_id=run_id, finished_at=utcnow(), error_code=error.code,
                             error_message=error.message, error_hint=error.hint)
        self.audit.record(action="build.finished", outcome=error.code, user=build.requested_by,
                          template=build.template, params=build.params,
                          detail=f"build {build_id}, Dagster run {run_id}: {error.message}")

    # -- internals ---------------------------------------------------------------------------------------
    def _record(self, entry: CatalogEntry, shown: dict[str, Any], key: str, user: User, *, status: str,
                version: str | None = None, fresh: bool = False) -> Build:
        now = utcnow()
        build = Build(id=uuid.uuid4().hex, template=entry.name, template_hash=entry.content_hash, params=shown,
                      params_key=key, requested_by=user.name, status=status, fresh=fresh,
                      dry_run=entry.status != "approved", created_at=now, version=version, host=HOST,
                      finished_at=now if status == "succeeded" else None)
        with self.db.session() as session:
            session.add(build)
        return build

    def _update(self, build_id: str, **values: Any) -> Build:
        with self.db.session() as session:
            build = session.get(Build, build_id)
            if build is None:
                raise NotFound(f"no build {build_id!r}")
            for name, value in values.items():
                setattr(build, name, value)
            return build

    def _running(self, template: str, template_hash: str, key: str) -> Build | None:
        with self.db.session() as session:
            return session.scalars(sa.select(Build).where(
                Build.template == template, Build.template_hash == template_hash, Build.params_key == key,
                Build.status.in_(ACTIVE), Build.host == HOST,
            ).order_by(Build.created_at.desc()).limit(1)).first()

    def _fresh_version(self, spec: TemplateSpec, template_hash: str, key: str,
                       shown: dict[str, Any]) -> str | None:
        """A version built for this content and these parameters within the freshness window: one the service
        built (its build records), else one published by ``hfit build`` or a schedule, recognised by its
        manifest's parameter digests (which need the masking key)."""
        template = spec.name
        window = timedelta(minutes=self.settings.package_fresh_minutes)
        if not window:
            return None
        since = utcnow() - window
        with self.db.session() as session:
            candidates = session.scalars(sa.select(Build.version).where(
                Build.template == template, Build.template_hash == template_hash, Build.params_key == key,
                Build.status == "succeeded", Build.finished_at >= since, Build.version.is_not(None),
            ).order_by(Build.finished_at.desc()).limit(5)).all()
        for version in candidates:
            try:
                self.index.get(template, version)
            except NotFound:
                continue
            return version
        if not has_masking_key(self.settings):
            return None
        for package in self.index.versions(template):
            created = package.created_at
            if created is not None and created.tzinfo is None:
                created = created.replace(tzinfo=UTC)
            if created is None or created < since:
                break
            if package.template_hash == template_hash and package.manifest.get("params") == shown:
                return package.version
        return None
