"""Injection payloads through the API's build requests: every one is refused as a typed parameter error (400)
before anything runs, or is a well-typed value."""

from __future__ import annotations

import re

from tests.api.service_harness import RunningServer
from tests.security.injection_payloads import PAYLOADS

TYPED = {"customer_ids": "list[int]", "start_time": "datetime"}


def test_payloads_in_build_parameters_get_typed_errors(server: RunningServer) -> None:
    token = server.user("injector", "viewer")
    refused = 0
    with server.client(token) as client:
        for payload in PAYLOADS[:150]:
            for name in TYPED:
                response = client.post("/packages/payment-incident-2024-1015/builds",
                                       json={"params": {name: payload}})
                if re.fullmatch(r"\s*-?\d+(\s*,\s*-?\d+)*\s*", payload) and name == "customer_ids":
                    assert response.status_code in (200, 202)
                    continue
                assert response.status_code == 400, (payload, response.text)
                body = response.json()["error"]
                assert body["code"] == "bad_parameter" and f"'{name}'" in body["message"]
                refused += 1
    assert refused >= 250
    assert len(server.audit(user="injector", status=400)) >= refused
