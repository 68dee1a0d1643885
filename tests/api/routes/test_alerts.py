"""``POST /alerts``: signed alerts are stored once and matched to templates; everything else is refused, in
process. (That the Dagster sensor turns a stored alert into one run: tests/api/test_alerts.py.)"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from hfit_api.alert_signature import sign
from tests.api.routes.conftest import InProcessApi
from tests.api.service_harness import ALERT_SECRET

ALERT = {"id": "pd-incident-4711", "service": "payments", "at": "2024-10-15T14:45:00Z",
         "customer_ids": [12847, 15923, 18442], "summary": "Invalid payment method for customer ID 12847"}


def post_alert(api: InProcessApi, payload: Any, *, secret: str = ALERT_SECRET, skew: int = 0,
               signature: str | None = None) -> httpx.Response:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    timestamp = int(time.time()) - skew
    headers = {"X-Hfit-Timestamp": str(timestamp), "Content-Type": "application/json",
               "X-Hfit-Signature": signature or sign(secret.encode(), timestamp, body)}
    return api.client.post("/alerts", content=body, headers=headers)


def test_a_signed_alert_is_stored_once_and_names_the_matching_templates(api: InProcessApi) -> None:
    """The monitoring system gets 202 with the templates its alert triggers; a redelivery is not stored twice."""
    response = post_alert(api, ALERT)
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["created"] is True and accepted["matching_templates"] == ["payment-incident-2024-1015"]
    again = post_alert(api, ALERT)
    assert again.status_code == 202 and again.json() == {**accepted, "created": False}
    assert [r.outcome for r in api.audit(action="alerts.receive")] == ["accepted", "duplicate"]


@pytest.mark.parametrize(("kind", "kwargs", "message"), [
    ("forged", {"secret": "not-the-secret"}, "does not match"),
    ("stale", {"skew": 3600}, "too old"),
    ("garbage", {"signature": "sha256=00"}, "does not match"),
])
def test_forged_or_stale_alerts_get_401_and_are_audited(api: InProcessApi, kind: str, kwargs: dict[str, Any],
                                                        message: str) -> None:
    """A forged, replayed or malformed signature never stores an alert (so never starts a build); the
    refusal says why and is audited."""
    response = post_alert(api, {**ALERT, "id": f"bad-{kind}"}, **kwargs)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized" and message in response.json()["error"]["message"]
    assert [r.status for r in api.audit(action="alerts.receive")] == [401]


def test_an_unsigned_alert_is_refused_with_a_hint(api: InProcessApi) -> None:
    """An alert without signature headers is a 401 whose hint tells the sender to sign it."""
    response = api.client.post("/alerts", json=ALERT)
    assert response.status_code == 401
    assert "not signed" in response.json()["error"]["message"] and response.json()["error"]["hint"]


@pytest.mark.parametrize(("body", "message"), [
    (b"not json", "not JSON"),
    (b"[1, 2]", "JSON object"),
    (b"{" + b" " * (64 * 1024) + b"}", "larger than"),
])
def test_signed_bodies_that_are_not_an_alert_get_400(api: InProcessApi, body: bytes, message: str) -> None:
    """A correctly signed body that is not a JSON object, or is too large, is refused with the reason."""
    response = post_alert(api, body)
    assert response.status_code == (413 if message == "larger than" else 400)  # 413: refused before reading
    assert message in response.json()["error"]["message"]


def test_without_a_secret_the_webhook_answers_503_with_the_setting_to_set(api: InProcessApi) -> None:
    """A server without HFIT_ALERT_SECRET refuses alerts (503) and says how to configure them."""
    api.service.settings = api.settings.model_copy(update={"alert_secret": None})
    response = post_alert(api, ALERT)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "alerts_not_configured"
    assert "HFIT_ALERT_SECRET" in response.json()["error"]["hint"]
