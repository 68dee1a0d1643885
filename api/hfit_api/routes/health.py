"""``/healthz``: is the service up, and can it reach its state database and package store."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter

from hfit_api.deps import ServiceDep
from hfit_api.schemas import HealthPublic

router = APIRouter(tags=["health"])


@router.get("/healthz", name="health", response_model=HealthPublic)
def healthz(service: ServiceDep) -> HealthPublic:
    from hfit_api import __version__

    with service.db.session() as session:
        session.execute(sa.text("SELECT 1"))
    store = service.packages.store.root
    return HealthPublic(status="ok", version=__version__, state_db="ok",
                        package_store="ok" if store.is_dir() else "missing (created by the first build)")
