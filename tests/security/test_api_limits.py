"""Limits against the real app: oversized bodies are refused before they are read (in process, and on a real
uvicorn whose memory must not grow by the body's size), a YAML alias bomb is refused without being expanded,
and a signed alert is stored once however often it is replayed, with little room for a clock ahead of ours."""

from __future__ import annotations

import json
import threading
import time
import tracemalloc
from collections.abc import Iterator

import httpx
import pytest
import yaml

from hfit_api.alert_signature import MAX_FUTURE_SKEW, sign
from hfit_api.body_limit import ALERT_LIMIT, DEFAULT_LIMIT
from hfit_dagster.errors import TemplateError
from hfit_dagster.template.loader import MAX_EXPANDED_NODES, measure_yaml, parse_template
from tests.api.routes.conftest import InProcessApi
from tests.api.routes.conftest import api as api  # noqa: PLC0414 - the in-process app fixture
from tests.api.service_harness import ALERT_SECRET, RunningServer


def alias_bomb(levels: int = 9, width: int = 9) -> str:
    """The classic 'billion laughs': each level an anchor made of ``width`` aliases of the one before."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    previous = "a"
    for name in "bcdefghijklmnop"[: levels - 1]:
        lines.append(f"{name}: &{name} [" + ",".join([f"*{previous}"] * width) + "]")
        previous = name
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_measured_without_expanding_it_and_refused() -> None:
    bomb = alias_bomb()
    assert len(bomb) < 600
    size = measure_yaml(yaml.compose(bomb))
    assert size.distinct_nodes < 50 and size.expanded_nodes > 10**8  # the work is the distinct nodes only
    tracemalloc.start()
    try:
        with pytest.raises(TemplateError, match="aliases are expanded"):
            parse_template(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 * 1024 * 1024
    with pytest.raises(TemplateError, match="refers to itself"):
        parse_template("x: &x [1, *x]")


def test_an_alias_bomb_sent_to_the_api_is_refused_and_audited(api: InProcessApi) -> None:
    response = api.client.post("/templates/validate", json={"yaml": alias_bomb()}, headers=api.auth("eve", "author"))
    assert response.status_code == 400 and "aliases" in response.json()["error"]["message"]
    assert str(MAX_EXPANDED_NODES) in response.json()["error"]["message"]
    assert [r.outcome for r in api.audit(action="templates.validate", user="eve")] == ["template_invalid"]


def test_an_alias_bomb_costs_a_real_server_no_memory(server: RunningServer) -> None:
    """The bomb is refused without being expanded: the server's memory after it is what it was before (measured
    after a small template went through the same route, so modules that route loads on first use are counted out)."""
    with server.client(server.user("bomber", "author")) as client:
        warm = client.post("/templates/validate", json={"yaml": "templateName: small\nexports: {}\n"})
        assert warm.status_code in (200, 400), warm.text
        before = server.rss_kib()
        response = client.post("/templates/validate", json={"yaml": alias_bomb()})
    assert response.status_code == 400 and "aliases" in response.json()["error"]["message"]
    assert server.rss_kib() - before < 20 * 1024
    assert [r.outcome for r in server.audit(action="templates.validate", user="bomber")] == ["template_invalid"] * 2


@pytest.mark.parametrize(("path", "limit"), [("/alerts", ALERT_LIMIT), ("/auth/token", DEFAULT_LIMIT),
                                             ("/packages/integration-test-suite/builds", DEFAULT_LIMIT)])
def test_a_declared_oversized_body_is_refused_before_it_is_read(api: InProcessApi, path: str, limit: int) -> None:
    def body() -> Iterator[bytes]:
        for _ in range(4):
            yield b" " * (limit // 2 + 1)

    response = api.client.post(path, content=body(), headers={"Content-Length": str(2 * limit + 4),
                                                               "Content-Type": "application/json"})
    assert response.status_code == 413 and response.json()["error"]["code"] == "payload_too_large"
    rows = api.audit(status=413)
    assert len(rows) == 1 and path in rows[0].detail


def test_a_chunked_body_is_cut_off_at_the_limit(api: InProcessApi) -> None:
    """Without Content-Length the body is counted as it arrives and refused once it passes the limit."""
    def body() -> Iterator[bytes]:
        for _ in range(100):
            yield b"{" + b" " * 4096

    response = api.client.post("/auth/token", content=body(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and response.json()["error"]["code"] == "payload_too_large"
    assert [r.action for r in api.audit(status=413)] == ["auth.token"]


def test_a_large_unauthenticated_alert_does_not_grow_a_real_servers_memory(server: RunningServer) -> None:
    """200 MB to POST /alerts on a real uvicorn: 413 from the Content-Length, memory grows by far less."""
    size = 200 * 1024 * 1024
    chunk = b"x" * (1 << 20)
    before = server.rss_kib()
    peak = before
    sampling = True

    def sample() -> None:
        nonlocal peak
        while sampling:
            peak = max(peak, server.rss_kib())
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            try:
                response = client.post("/alerts", content=(chunk for _ in range(size // len(chunk))),
                                       headers={"Content-Length": str(size), "X-Hfit-Timestamp": "1",
                                                "X-Hfit-Signature": "sha256=00"})
                status, body = response.status_code, response.json()
            except httpx.TransportError:  # the server answered and closed while we were still sending
                status, body = 413, {"error": {"code": "payload_too_large"}}
    finally:
        sampling = False
        sampler.join()
    assert status == 413 and body["error"]["code"] == "payload_too_large"
    assert (peak - before) < 50 * 1024, f"server grew {(peak - before) // 1024} MB"
    refused = server.audit(action="http.post", status=413)
    assert refused and "/alerts" in refused[-1].detail


def post_alert(api: InProcessApi, payload: dict, timestamp: int) -> httpx.Response:
    body = json.dumps(payload).encode()
    headers = {"X-Hfit-Timestamp": str(timestamp), "Content-Type": "application/json",
               "X-Hfit-Signature": sign(ALERT_SECRET.encode(), timestamp, body)}
    return api.client.post("/alerts", content=body, headers=headers)


def test_the_same_signed_alert_without_an_id_is_stored_once(api: InProcessApi) -> None:
    alert = {"service": "payments", "summary": "no id"}
    now = int(time.time())
    answers = [post_alert(api, alert, now).json() for _ in range(4)]
    assert [a["created"] for a in answers] == [True, False, False, False]
    assert len({a["alert_id"] for a in answers}) == 1
    # the same body signed at another moment is another alert
    assert post_alert(api, alert, now - 1).json()["created"] is True
    assert [r.outcome for r in api.audit(action="alerts.receive")] == ["accepted", *["duplicate"] * 3, "accepted"]


def test_an_alert_from_the_future_is_refused_beyond_a_few_seconds(api: InProcessApi) -> None:
    now = int(time.time())
    refused = post_alert(api, {"service": "payments", "id": "late"}, now + 299)
    assert refused.status_code == 401 and "future" in refused.json()["error"]["message"]
    assert post_alert(api, {"service": "payments", "id": "ok"}, now + MAX_FUTURE_SKEW - 2).status_code == 202
    assert [r.status for r in api.audit(action="alerts.receive")] == [401, 202]
