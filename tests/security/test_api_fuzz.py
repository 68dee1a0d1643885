"""Schemathesis against the service's own OpenAPI document on a real server: no request makes it answer 500."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.api.service_harness import RunningServer


def test_no_generated_request_gets_a_server_error(server: RunningServer) -> None:
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    headers = {"Authorization": f"Bearer {server.user('fuzzer', 'admin')}"}
    failures: list[str] = []
    checked = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=12, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def call(case: schemathesis.Case) -> None:
            nonlocal checked
            response = case.call(base_url=server.url, headers=headers, timeout=60)
            checked += 1
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} -> {response.status_code}")

        call()
    print(f"\nschemathesis: {checked} generated requests over {len(list(schema.get_all_operations()))} operations")
    assert checked > 50
    assert not failures, failures[:10]
