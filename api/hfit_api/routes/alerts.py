"""``/alerts``: the alert webhook. A signed alert is stored durably; Dagster's ``hfit_alerts`` sensor turns it
into one build run per matching template (``triggers.alerts`` in the template). The payload is stored sealed
(``hfit_dagster/alerts/sealed_payload.py``); ``GET /alerts`` lists alerts for admins without it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request

from hfit_api.alert_signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from hfit_api.body_limit import ALERT_LIMIT
from hfit_api.builds import has_masking_key
from hfit_api.deps import AdminUser, ClientAddress, ServiceDep, client
from hfit_api.schemas import ERROR_RESPONSES, AlertAccepted, AlertPublic, ErrorPublic
from hfit_dagster.alerts.matching import matches
from hfit_dagster.alerts.store import AlertStore, StoredAlert, alert_time
from hfit_dagster.errors import AlertsNotConfigured, InvalidRequest

router = APIRouter(tags=["alerts"])
MAX_BODY = ALERT_LIMIT  # enforced before reading by BodyLimit; checked again here for other mounts
WEBHOOK_USER = "alert-webhook"
MAX_ALERT_ID = 2**31 - 1  # the id column is a 32-bit INTEGER on PostgreSQL


@router.post("/alerts", name="alerts.receive", response_model=AlertAccepted, status_code=202,
             responses={401: {"model": ErrorPublic}, 400: {"model": ErrorPublic}, 503: {"model": ErrorPublic}})
async def receive_alert(request: Request, service: ServiceDep) -> AlertAccepted:
    """Store a signed alert (JSON object; ``id`` makes redelivery idempotent, else the signature does; ``at``
    is when it happened)."""
    request.state.attempted_user = WEBHOOK_USER
    secret = service.settings.alert_secret
    if secret is None or not secret.get_secret_value():
        raise AlertsNotConfigured("alerts are not configured on this server",
                                  hint="set HFIT_ALERT_SECRET to a shared secret and sign alerts with it")
    body = await request.body()
    if len(body) > MAX_BODY:
        raise InvalidRequest(f"alert body is larger than {MAX_BODY} bytes")
    verify(secret.get_secret_value().encode(), request.headers.get(TIMESTAMP_HEADER),
           request.headers.get(SIGNATURE_HEADER), body, service.settings.alert_max_skew_seconds)
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequest("alert body is not JSON") from None
    if not isinstance(payload, dict):
        raise InvalidRequest("alert body must be a JSON object")
    # an alert without an id is known by its signature: a replay of the same signed request is stored once
    signature = (request.headers.get(SIGNATURE_HEADER) or "").strip().lower()
    source_id = str(payload["id"])[:200] if payload.get("id") not in (None, "") else f"signature:{signature}"
    if not has_masking_key(service.settings):
        raise AlertsNotConfigured("alerts are not stored on this server: it has no masking key to seal them with",
                                  hint="set HFIT_MASKING_KEY (the alert sensor's code location needs the same)")
    store = AlertStore(service.settings.state_database_url, service.settings.masking_key_bytes())
    try:
        alert_id, created = store.add(payload, source_id=source_id)
    finally:
        store.dispose()
    now = datetime.now(UTC).replace(tzinfo=None)
    stored = StoredAlert(id=alert_id, source_id=source_id, received_at=now, occurred_at=alert_time(payload, now),
                         payload=payload)
    matching = sorted(name for name, entry in service.catalog.entries().items()
                      if entry.status == "approved" and matches(entry.spec, stored))
    service.audit.record(action="alerts.receive", outcome="accepted" if created else "duplicate",
                         user=WEBHOOK_USER, client=client(request), status=202,
                         detail=f"alert {alert_id}; matching templates: {', '.join(matching) or 'none'}")
    return AlertAccepted(alert_id=alert_id, created=created, matching_templates=matching)


@router.get("/alerts", name="alerts.list", response_model=list[AlertPublic], responses=ERROR_RESPONSES)
def list_alerts(user: AdminUser, service: ServiceDep, client_address: ClientAddress,
                before: Annotated[int | None, Query(ge=1, le=MAX_ALERT_ID,
                                                    description="only alerts with a lower id")] = None,
                limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[AlertPublic]:
    """Stored alerts, newest first, without their payloads (reading the list is audited)."""
    service.audit.record(action="alerts.list", outcome="ok", user=user.name, client=client_address,
                         detail=f"before={before} limit={limit}")
    store = AlertStore(service.settings.state_database_url)
    try:
        summaries = store.summaries(limit=limit, before=before)
    finally:
        store.dispose()
    return [AlertPublic.model_validate(summary, from_attributes=True) for summary in summaries]
