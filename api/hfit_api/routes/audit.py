"""``/audit``: the audit log, newest first, for admins."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from hfit_api.audit import AuditFilter
from hfit_api.deps import AdminUser, ClientAddress, ServiceDep
from hfit_api.schemas import ERROR_RESPONSES, AuditPublic

router = APIRouter(tags=["audit"], responses=ERROR_RESPONSES)


@router.get("/audit", name="audit.list", response_model=list[AuditPublic])
def read_audit(user: AdminUser, service: ServiceDep, client: ClientAddress,
               by_user: Annotated[str | None, Query(alias="user", max_length=100)] = None,
               template: Annotated[str | None, Query(max_length=200)] = None,
               action: Annotated[str | None, Query(max_length=60)] = None,
               outcome: Annotated[str | None, Query(max_length=40)] = None,
               limit: Annotated[int, Query(ge=1, le=10_000)] = 100) -> list[AuditPublic]:
    """Audit rows filtered by user, template, action and outcome (reading the log is audited too)."""
    service.audit.record(action="audit.list", outcome="ok", user=user.name, client=client,
                         detail=f"user={by_user} template={template} action={action} outcome={outcome} limit={limit}")
    rows = service.audit.query(AuditFilter(user=by_user, template=template, action=action, outcome=outcome,
                                           limit=limit))
    return [AuditPublic.model_validate(row, from_attributes=True) for row in rows]
