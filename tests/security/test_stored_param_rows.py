"""Build records and audit rows the one-time rewrite of stored parameters (``stored_params.rewrite_stored_params``)
meets in a state database as it may be: parameters in an unexpected shape (a list, a text, a nested value, a value
that only looks like a digest), a failed build whose error quotes the value, and two service replicas rewriting
one PostgreSQL state database at once. The rewrite finishes and no requested value is left in any row.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from hfit_api.state import AuditEntry, Build, StateDB
from hfit_api.stored_params import rewrite_stored_params
from hfit_dagster.package.manifest import PARAMETER_DIGEST
from hfit_dagster.settings import HfitSettings
from hfit_dagster.template.loader import parse_template
from tests.conftest import TEST_MASKING_KEY
from tests.security.customer_lookup import LOOKUP, TEMPLATE

EMAIL = "alice.legacy@example.com"
SPECS = {TEMPLATE: parse_template(LOOKUP, f"{TEMPLATE}.yaml")}


def _settings(tmp_path: Path, state_url: str) -> HfitSettings:
    return HfitSettings(home=tmp_path / "home", masking_key=TEST_MASKING_KEY, state_url=state_url)


def _build(params: Any, **extra: Any) -> Build:
    return Build(id=uuid.uuid4().hex, template=TEMPLATE, template_hash="0" * 64, params=params, params_key="1" * 64,
                 requested_by="vera", status=extra.pop("status", "succeeded"), **extra)


def _dump(db: StateDB) -> str:
    with db.session() as session:
        return repr([tuple(row) for table in ("builds", "audit")
                     for row in session.execute(sa.text(f"SELECT * FROM {table} ORDER BY id"))])


def test_rows_of_an_unexpected_shape_keep_no_value(tmp_path: Path) -> None:
    """Parameters stored as a list or a text, a nested value, a value starting like a digest, and a failed build
    whose error message and hint quote the value it refused: after the rewrite no row holds the e-mail."""
    settings = _settings(tmp_path, f"sqlite:///{tmp_path / 'state.db'}")
    db = StateDB(settings.state_database_url)
    try:
        with db.session() as session:
            session.add_all([
                _build([EMAIL]),
                _build(f"who={EMAIL}"),
                _build({"who": {"email": EMAIL}}),
                _build({"who": PARAMETER_DIGEST + EMAIL}),
                _build({"customer_ids": EMAIL}, status="failed",
                       error_message=f"parameter 'customer_ids' expects an int, got '{EMAIL}'",
                       error_hint=f"customer_ids='{EMAIL}' is not a list of ids"),
                AuditEntry(user="vera", action="builds.request", outcome="launched", template=TEMPLATE,
                           params=[EMAIL], detail="build"),
            ])
        rewrite_stored_params(settings, db, lambda: SPECS)
        assert EMAIL not in _dump(db)
    finally:
        db.dispose()


@pytest.mark.postgres
def test_two_replicas_rewriting_at_once_both_finish_and_keep_no_value(
        tmp_path: Path, postgres_database: Callable[[], str]) -> None:
    """Two replicas of the service starting together on one PostgreSQL state database both run the rewrite over
    the same rows: both finish, and every row holds the digests one rewrite gives."""
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{postgres_database()}"
    settings = _settings(tmp_path, url)
    db = StateDB(url)
    try:
        with db.session() as session:
            session.add_all([_build({"who": f"{i}.{EMAIL}", "customer_ids": str(i)}) for i in range(300)])
        errors: list[BaseException] = []

        def replica() -> None:
            other = StateDB(url)
            try:
                rewrite_stored_params(settings, other, lambda: SPECS)
            except BaseException as exc:  # noqa: BLE001 - reported by the test
                errors.append(exc)
            finally:
                other.dispose()

        threads = [threading.Thread(target=replica) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not errors, [type(e).__name__ for e in errors]
        assert EMAIL not in _dump(db)
        with db.session() as session:
            params = [b.params for b in session.scalars(sa.select(Build))]
        assert all(str(v).startswith(PARAMETER_DIGEST) for p in params for v in p.values())
    finally:
        db.dispose()


@pytest.mark.postgres
def test_a_rewrite_killed_between_rows_is_finished_by_the_next_start(
        tmp_path: Path, postgres_database: Callable[[], str]) -> None:
    """A service killed while rewriting (its first batch committed, the second waiting on a row another
    transaction holds) leaves each build as stored or rewritten whole, records no finished rewrite, and the next
    start rewrites the rest: no value left, every row's digests those one rewrite gives."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import psycopg

    from hfit_api import stored_params
    from tests.conftest import PG_ADMIN

    database = postgres_database()
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}"
    settings = _settings(tmp_path, url)
    total = stored_params.BATCH_ROWS + 100
    db = StateDB(url)
    builds = [_build({"who": f"{i}.{EMAIL}"}) for i in range(total)]
    with db.session() as session:
        session.add_all(builds)
    ids = sorted(b.id for b in builds)
    script = ("import sys; from pathlib import Path; from hfit_api.state import StateDB; "
              "from hfit_api.stored_params import rewrite_stored_params; "
              "from tests.security.test_stored_param_rows import SPECS, _settings; "
              "rewrite_stored_params(_settings(Path(sys.argv[2]), sys.argv[1]), StateDB(sys.argv[1]), lambda: SPECS)")
    holder = sa.create_engine(url)
    try:
        with holder.begin() as conn:
            conn.execute(sa.text("SELECT id FROM builds WHERE id = :id FOR UPDATE"),
                         {"id": ids[stored_params.BATCH_ROWS + 50]})
            child = subprocess.Popen([sys.executable, "-c", script, url, str(tmp_path)], cwd=Path.cwd(),
                                     env={**os.environ, "HFIT_MASKING_KEY": TEST_MASKING_KEY})
            for _ in range(600):
                with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                    waiting = admin.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND "
                                            "wait_event_type = 'Lock'", [database]).fetchone()[0]
                if waiting or child.poll() is not None:
                    break
                time.sleep(0.05)
            assert waiting and child.poll() is None
            child.send_signal(signal.SIGKILL)
            child.wait(10)
        with db.session() as session:
            params = {b.id: b.params for b in session.scalars(sa.select(Build))}
        assert all(str(params[i]["who"]).startswith(PARAMETER_DIGEST) for i in ids[: stored_params.BATCH_ROWS])
        assert all(EMAIL in params[i]["who"] for i in ids[stored_params.BATCH_ROWS:])
    finally:
        holder.dispose()
    try:
        assert rewrite_stored_params(settings, db, lambda: SPECS) == 100
        assert EMAIL not in _dump(db)
    finally:
        db.dispose()
