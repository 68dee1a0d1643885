"""Build parameters stored before they were kept as keyed digests, rewritten once when the service starts.

Build records and audit rows keep parameter values by the manifest's rule (``builds.shown_params``): keyed digests,
but for flags, nulls and the built-in knobs a template does not declare. Rows written before that rule held the
values as requested (``who=alice@example.com``), and a build's ``params_key`` was an unkeyed sha256 of them, which
a guess confirms. ``rewrite_stored_params`` gives those rows what a request made today would store: the digests
of the values as the template types them (equal to the manifest's), the keyed ``params_key``, and an audit row's
detail without the quoted values of its request. A value that no longer fits its template (the template changed
or is gone) is digested as stored. Rows already kept so are left as they are, so a run that stopped half-way is
finished by the next start; the database records when it is done (``applied_migrations``).
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from hfit_api.builds import as_manifest_json, has_masking_key, message_without_values, params_key, shown_params
from hfit_api.state import AuditEntry, Build, StateDB
from hfit_dagster.errors import HfitError
from hfit_dagster.package.manifest import PARAMETER_DIGEST, WITHHELD, parameter_digests
from hfit_dagster.settings import HfitSettings
from hfit_dagster.template.builtins import BUILTINS, prepare_build
from hfit_dagster.template.params import coerce
from hfit_dagster.template.spec import TemplateSpec

log = logging.getLogger("hfit_api.stored_params")
MIGRATION = "build-params-as-keyed-digests"
BATCH_ROWS = 500
_DIGEST = re.compile(re.escape(PARAMETER_DIGEST) + "[0-9a-f]{32}")  # a value parameter_digests wrote
STORED = "params"  # the name a value stored in place of the parameters' mapping (a list, a text) is digested under


def rewrite_stored_params(settings: HfitSettings, db: StateDB,
                          templates: Callable[[], Mapping[str, TemplateSpec]]) -> int:
    """Rewrite the build records and audit rows that still hold parameter values (once per database); returns how
    many rows were rewritten. ``templates`` gives the service's templates by name (how each types its values),
    read only when the database has not had the rewrite."""
    if db.migration_applied(MIGRATION):
        return 0
    specs = templates()
    rewritten = _rewrite_builds(settings, db, specs) + _rewrite_audit(settings, db, specs)
    db.record_migration(MIGRATION)
    if rewritten:
        log.warning("rewrote %d stored build record(s) and audit row(s) whose parameter values were kept as "
                    "given: they now hold keyed digests", rewritten)
    return rewritten


def _rewrite_builds(settings: HfitSettings, db: StateDB, templates: Mapping[str, TemplateSpec]) -> int:
    count = 0
    for batch in _batches(db, Build, Build.id):
        with db.session() as session:
            for build in session.scalars(sa.select(Build).where(Build.id.in_(batch))):
                spec = templates.get(build.template)
                if not _holds_values(build.params, spec):
                    continue
                stored = _as_mapping(build.params)
                given = {name: value for name, value in stored.items() if not _kept(name, value, spec)}
                if build.error_message:
                    build.error_message = message_without_values(build.error_message, given)
                if build.error_hint:
                    build.error_hint = message_without_values(build.error_hint, given)
                build.params, build.params_key = _build_params(settings, spec, stored)
                count += 1
    return count


def _rewrite_audit(settings: HfitSettings, db: StateDB, templates: Mapping[str, TemplateSpec]) -> int:
    count = 0
    for batch in _batches(db, AuditEntry, AuditEntry.id):
        with db.session() as session:
            for entry in session.scalars(sa.select(AuditEntry).where(AuditEntry.id.in_(batch))):
                spec = templates.get(entry.template or "")
                if entry.params is None or not _holds_values(entry.params, spec):
                    continue
                stored = _as_mapping(entry.params)
                given = {name: value for name, value in stored.items() if not _kept(name, value, spec)}
                if entry.detail:
                    entry.detail = message_without_values(entry.detail, given)
                entry.params = _digested(settings, spec, stored)
                count += 1
    return count


def _batches(db: StateDB, table: type[Build] | type[AuditEntry], key: Any) -> Iterator[list[Any]]:
    """The table's primary keys, a batch at a time (bounded memory over a long audit log)."""
    last: Any = None
    while True:
        statement = sa.select(key).order_by(key).limit(BATCH_ROWS)
        if last is not None:
            statement = statement.where(key > last)
        with db.session() as session:
            ids = list(session.scalars(statement))
        if not ids:
            return
        yield ids
        last = ids[-1]


def _visible(spec: TemplateSpec | None) -> set[str]:
    """The built-in knobs kept as given; for a template the service no longer has, none (digest everything)."""
    return set(BUILTINS) - set(spec.parameters) if spec is not None else set()


def _kept(name: str, value: Any, spec: TemplateSpec | None) -> bool:
    """Whether a stored value is as the manifest's rule keeps it (a digest, a flag, a null, a visible knob)."""
    if value is None or isinstance(value, bool) or value == WITHHELD or name in _visible(spec):
        return True
    return isinstance(value, str) and _DIGEST.fullmatch(value) is not None


def _holds_values(params: Any, spec: TemplateSpec | None) -> bool:
    """Whether stored parameters still hold a value: a mapping with a value not kept by the rule, or anything
    else stored in its place (a list, a text)."""
    if not isinstance(params, dict):
        return params is not None
    return not all(_kept(name, value, spec) for name, value in params.items())


def _as_mapping(params: Any) -> dict[str, Any]:
    """Stored parameters as a mapping: a value stored in place of one goes under the name ``STORED``."""
    return params if isinstance(params, dict) else {STORED: params}


def _build_params(settings: HfitSettings, spec: TemplateSpec | None,
                  params: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """A build's parameters and params_key as a request with the same values makes them today; when the template
    no longer takes the values, each value digested as stored and a random key that no request matches."""
    key = settings.masking_key_bytes() if has_masking_key(settings) else None
    raw = {name: str(value) for name, value in params.items() if value is not None}
    if spec is not None and key is not None:
        try:
            resolved = prepare_build(spec, raw).user_params
        except HfitError:
            pass
        else:
            return shown_params(settings, spec, resolved), params_key(spec, raw, resolved, key)
    return _digested(settings, spec, params), secrets.token_hex(32)


def _digested(settings: HfitSettings, spec: TemplateSpec | None, params: dict[str, Any]) -> dict[str, Any]:
    """Each value not yet kept by the manifest's rule as its keyed digest, typed as the template types it when
    it still can (``12847`` for a list[int] is the manifest's ``[12847]``); kept values stay as they are."""
    key = settings.masking_key_bytes() if has_masking_key(settings) else None
    now = datetime.now(UTC).replace(tzinfo=None)
    out: dict[str, Any] = {}
    for name, value in params.items():
        if _kept(name, value, spec):
            out[name] = value
            continue
        typed = value
        pspec = (spec.parameters.get(name) or BUILTINS.get(name)) if spec is not None else None
        if pspec is not None:
            try:
                typed = coerce(name, pspec, value, now=now)
            except HfitError:
                typed = value
        out[name] = parameter_digests(as_manifest_json({name: typed}), key)[name]
    return out
