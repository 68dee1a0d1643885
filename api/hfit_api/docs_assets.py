"""``/docs`` (Swagger UI) and ``/redoc`` (ReDoc) from assets the service serves itself, so they render offline.

FastAPI's own pages load Swagger UI and ReDoc from a CDN; without internet they stay white. The JavaScript,
CSS and favicon come from the installed ``fastapi-offline`` package (its ``static`` folder ships
``swagger-ui-bundle.js``, ``swagger-ui.css``, ``redoc.standalone.js`` and ``favicon.png``); only that folder
is used, mounted under ``/docs-assets``. The pages are FastAPI's own HTML pointed at those URLs.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_PATH = "/docs-assets"
ASSET_FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png")


def assets_dir() -> Path:
    """The installed folder holding the Swagger UI and ReDoc bundles."""
    return Path(str(files("fastapi_offline") / "static"))


def install(app: FastAPI, docs_url: str = "/docs", redoc_url: str = "/redoc") -> None:
    """Mount the assets and add the two documentation pages (the app is created with docs_url=redoc_url=None)."""
    folder = assets_dir()
    missing = [name for name in ASSET_FILES if not (folder / name).is_file()]
    if missing:
        raise RuntimeError(f"fastapi-offline's static folder {folder} lacks {', '.join(missing)}")
    app.mount(ASSETS_PATH, StaticFiles(directory=folder), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"
    oauth2_redirect_url = app.swagger_ui_oauth2_redirect_url
    favicon = f"{ASSETS_PATH}/favicon.png"

    @app.get(docs_url, include_in_schema=False, name="docs")
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=openapi_url, title=f"{app.title} - Swagger UI",
                                   oauth2_redirect_url=oauth2_redirect_url,
                                   swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css", swagger_favicon_url=favicon)

    if oauth2_redirect_url:
        @app.get(oauth2_redirect_url, include_in_schema=False, name="docs-oauth2-redirect")
        def swagger_ui_redirect() -> HTMLResponse:
            return get_swagger_ui_oauth2_redirect_html()

    @app.get(redoc_url, include_in_schema=False, name="redoc")
    def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url=openapi_url, title=f"{app.title} - ReDoc",
                              redoc_js_url=f"{ASSETS_PATH}/redoc.standalone.js", redoc_favicon_url=favicon,
                              with_google_fonts=False)
