"""``/docs`` and ``/redoc`` render without internet: their pages point only at assets this service serves."""

from __future__ import annotations

import re

import pytest

from tests.api.routes.conftest import InProcessApi

ASSET_URL = re.compile(r"""(?:src|href)=["']([^"']+)["']""")


def page_urls(html: str) -> list[str]:
    """The script, stylesheet and icon URLs a documentation page loads (plus the OpenAPI URL it fetches)."""
    return ASSET_URL.findall(html) + re.findall(r"""(?:url|spec-url)\s*[:=]\s*['"]([^'"]+)['"]""", html)


@pytest.mark.parametrize(("page", "bundle"), [("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")])
def test_docs_pages_load_only_the_services_own_urls(api: InProcessApi, page: str, bundle: str) -> None:
    """No CDN (and no Google Fonts): every URL the page loads is a path on this service, and each one answers."""
    response = api.client.get(page)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    html = response.text
    assert "http://" not in html and "https://" not in html and "//cdn" not in html
    urls = page_urls(html)
    assert f"/docs-assets/{bundle}" in urls and "/openapi.json" in urls
    for url in urls:
        assert url.startswith("/"), url
        assert api.client.get(url).status_code == 200, url


@pytest.mark.parametrize(("asset", "content_type"), [
    ("swagger-ui-bundle.js", "javascript"), ("swagger-ui.css", "text/css"),
    ("redoc.standalone.js", "javascript"), ("favicon.png", "image/png"),
])
def test_assets_are_served_with_their_content_type(api: InProcessApi, asset: str, content_type: str) -> None:
    response = api.client.get(f"/docs-assets/{asset}")
    assert response.status_code == 200
    assert content_type in response.headers["content-type"]
    assert len(response.content) > 1000


def test_docs_and_their_assets_leave_audit_rows(api: InProcessApi) -> None:
    """The audit middleware sees the pages and the static files like any read: one row each; a missing asset
    is the usual 404 error body, audited by the error handler."""
    for url in ("/docs", "/docs-assets/swagger-ui.css", "/docs-assets/no-such-file.js"):
        api.client.get(url)
    details = [entry.detail for entry in api.audit()]
    assert details.count("GET /docs") == 1
    assert details.count("GET /docs-assets/swagger-ui.css") == 1
    missing = [entry for entry in api.audit() if entry.detail.startswith("GET /docs-assets/no-such-file.js")]
    assert len(missing) == 1 and missing[0].status == 404 and missing[0].outcome == "not_found"


def test_docs_pages_stay_out_of_the_openapi_document(api: InProcessApi) -> None:
    paths = api.client.get("/openapi.json").json()["paths"]
    assert not any(path.startswith(("/docs", "/redoc")) for path in paths)
