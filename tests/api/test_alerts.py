"""Alert-triggered extraction end to end: a signed POST /alerts on a real server → the Dagster sensor asks for
exactly one run with the window around the alert; unsigned, forged or stale alerts are refused and audited."""

from __future__ import annotations

import json
import time

import dagster as dg
import pytest

from hfit_api.alert_signature import sign
from hfit_dagster.definitions import build_definitions
from hfit_dagster.orchestration.alert_sensor import SENSOR_NAME
from hfit_dagster.orchestration.resources import HfitResource
from hfit_dagster.orchestration.sealed_params import open_params
from tests.api.service_harness import ALERT_SECRET, RunningServer
from tests.conftest import TEST_MASKING_KEY

ALERT = {"id": "pd-incident-4711", "service": "payments", "at": "2024-10-15T14:45:00Z",
         "customer_ids": [12847, 15923, 18442], "summary": "Invalid payment method for customer ID 12847"}


def post_alert(server: RunningServer, payload: dict, *, secret: str = ALERT_SECRET, skew: int = 0,
               signature: str | None = None):  # noqa: ANN201
    body = json.dumps(payload).encode()
    timestamp = int(time.time()) - skew
    headers = {"X-Hfit-Timestamp": str(timestamp), "Content-Type": "application/json",
               "X-Hfit-Signature": signature or sign(secret.encode(), timestamp, body)}
    with server.client() as client:
        return client.post("/alerts", content=body, headers=headers)


def test_signed_alert_leads_to_exactly_one_run(server: RunningServer, monkeypatch: pytest.MonkeyPatch) -> None:
    response = post_alert(server, ALERT)
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["created"] is True
    assert accepted["matching_templates"] == ["payment-incident-2024-1015"]
    again = post_alert(server, ALERT)  # redelivered by the monitoring system
    assert again.json() == {**accepted, "created": False}

    monkeypatch.setenv("HFIT_MASKING_KEY", TEST_MASKING_KEY)  # the code location's, which the service's runs use
    defs = build_definitions(server.templates_dir, home=server.home)
    sensor = defs.resolve_sensor_def(SENSOR_NAME)
    instance = dg.DagsterInstance.ephemeral()
    resources = {"hfit": HfitResource(home=str(server.home))}
    result = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, resources=resources, definitions=defs))
    requests = [r for r in result.run_requests if r.tags["hfit/alert"] == str(accepted["alert_id"])]
    assert len(requests) == 1
    sealed = requests[0].run_config["ops"]["payment_incident_2024_1015__tables"]["config"]["sealed_params"]
    assert open_params("payment-incident-2024-1015", sealed, TEST_MASKING_KEY.encode()) == {
        "customer_ids": "12847,15923,18442", "start_time": "2024-10-15 14:30:00", "end_time": "2024-10-15 15:00:00"}
    later = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=result.cursor,
                                                         resources=resources, definitions=defs))
    assert later.run_requests == []
    assert server.audit(action="alerts.receive", outcome="accepted")


@pytest.mark.parametrize(("kind", "kwargs"), [
    ("forged", {"secret": "not-the-secret"}),
    ("stale", {"skew": 3600}),
    ("garbage", {"signature": "sha256=00"}),
])
def test_bad_signatures_are_refused_and_audited(server: RunningServer, kind: str, kwargs: dict) -> None:
    response = post_alert(server, {**ALERT, "id": f"bad-{kind}"}, **kwargs)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert any(e.status == 401 for e in server.audit(action="alerts.receive"))


def test_unsigned_alert_is_refused(server: RunningServer) -> None:
    with server.client() as client:
        response = client.post("/alerts", json=ALERT)
    assert response.status_code == 401
    assert "not signed" in response.json()["error"]["message"]
