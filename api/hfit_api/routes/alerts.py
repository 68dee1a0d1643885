"""``/alerts``: the alert webhook that starts incident builds. Not built yet: answers 501, clearly."""

from __future__ import annotations

from fastapi import APIRouter

from hfit_api.errors import NotImplementedYet
from hfit_api.schemas import ErrorPublic

router = APIRouter(tags=["alerts"])


@router.post("/alerts", name="alerts.receive", response_model=ErrorPublic, status_code=501,
             responses={501: {"model": ErrorPublic, "description": "alert-triggered builds are not available yet"}})
def receive_alert() -> ErrorPublic:
    """Reserved for alert-triggered builds (a template's ``triggers.alerts``); not implemented in this version."""
    raise NotImplementedYet("alert-triggered builds are not available yet",
                            hint="request a build with POST /packages/{template}/builds")
