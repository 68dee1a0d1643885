"""``/docs`` and ``/redoc`` of a real ``hfit serve`` render in a browser with no internet: every operation of the
OpenAPI document appears on the page as Swagger UI and ReDoc draw it, and the screenshots are not blank.

tests/api/routes/test_docs_offline.py proves the pages point only at assets the service serves; these tests prove
the assets work: headless Chromium (tests/browser.py) runs the pages' scripts with the network closed apart from
loopback, and the rendered DOM and a screenshot are checked.
"""

from __future__ import annotations

from pathlib import Path

from tests.api.service_harness import RunningServer
from tests.browser import assert_not_blank, parse_dom, render

METHODS = ("get", "put", "post", "delete", "patch")


def operations(server: RunningServer) -> list[tuple[str, str, str, str]]:
    """(method, path, summary, tag) of every operation in the service's OpenAPI document."""
    with server.client() as client:
        document = client.get("/openapi.json").json()
    found = [(method.upper(), path, op["summary"], op["tags"][0])
             for path, item in document["paths"].items() for method, op in item.items() if method in METHODS]
    assert len(found) >= 10 and any(path == "/packages/{template}/builds" for _m, path, _s, _t in found)
    return found


def test_swagger_ui_renders_every_operation_offline(server: RunningServer, tmp_path: Path) -> None:
    """A developer opening /docs on a machine without internet sees Swagger UI with every operation: its method,
    path and summary, grouped under its tag, as a non-blank page."""
    page = render(f"{server.url}/docs", tmp_path, "docs")
    dom = parse_dom(page.dom)
    rendered = [
        (method.text.strip(), path.attrs["data-path"], summary.text.strip())
        for method, path, summary in zip(dom.with_class("opblock-summary-method"),
                                         dom.with_class("opblock-summary-path"),
                                         dom.with_class("opblock-summary-description"), strict=True)
    ]
    expected = operations(server)
    assert sorted(rendered) == sorted((method, path, summary) for method, path, summary, _tag in expected)
    tags = {element.attrs.get("data-tag") for element in dom.with_class("opblock-tag")}
    assert {tag for *_rest, tag in expected} <= tags
    assert "Masked fixture packages from approved templates." in dom.text  # the API description, as markdown
    assert not dom.with_class("errors-wrapper"), "Swagger UI reports errors reading the OpenAPI document"
    assert_not_blank(page.screenshot)


def test_redoc_renders_every_operation_offline(server: RunningServer, tmp_path: Path) -> None:
    """/redoc without internet shows ReDoc's reference: a section per tag, an entry per operation (anchored by
    its operation id, titled by its summary, with its path), the API's title, version and description, as a
    non-blank page."""
    page = render(f"{server.url}/redoc", tmp_path, "redoc")
    dom = parse_dom(page.dom)
    anchors = {element.attrs["id"] for element in dom.elements if "id" in element.attrs}
    titles = {" ".join(element.text.split()) for element in dom.by_tag("h2")}
    with server.client() as client:
        document = client.get("/openapi.json").json()
    for method, path, summary, tag in operations(server):
        operation_id = document["paths"][path][method.lower()]["operationId"]
        assert f"tag/{tag}" in anchors and f"tag/{tag}/operation/{operation_id}" in anchors, (tag, operation_id)
        assert summary in titles and path in dom.text, (summary, path)
    info = document["info"]
    assert [element.text.strip() for element in dom.by_tag("h1")] == [f"{info['title']} ({info['version']})"]
    assert "Masked fixture packages from approved templates." in dom.text
    assert_not_blank(page.screenshot)
