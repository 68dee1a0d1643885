"""The FastAPI app: ``create_app()`` wires settings, state, routers and error handling.

``hfit serve`` runs it under uvicorn; ``uvicorn --factory hfit_api.main:create_app`` works too.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from hfit_api import __version__, docs_assets, errors
from hfit_api.body_limit import BodyLimit
from hfit_api.launcher import BuildLauncher
from hfit_api.request_audit import RequestAudit
from hfit_api.routes import alerts, audit, auth, builds, health, packages, templates
from hfit_api.service import Service
from hfit_dagster.settings import HfitSettings, load_settings

log = logging.getLogger("hfit_api")

DESCRIPTION = """
Masked fixture packages from approved templates.

Authenticate with `POST /auth/token` (user name + password, or an API token) and send the returned token
as `Authorization: Bearer <token>`. Errors are `{"error": {"code", "message", "hint"}}`.
"""


def create_app(settings: HfitSettings | None = None, launcher: BuildLauncher | None = None) -> FastAPI:
    settings = settings or load_settings()
    service = Service.from_settings(settings, launcher)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        followed, interrupted = service.builds.resume()
        if followed:
            log.info("following %d build run(s) submitted before the last shutdown", followed)
        if interrupted:
            log.warning("%d build(s) were interrupted by the last shutdown and are now marked failed", interrupted)
        try:
            yield
        finally:
            service.close()

    app = FastAPI(title="hfit", version=__version__, description=DESCRIPTION, lifespan=lifespan,
                  generate_unique_id_function=lambda route: route.name, docs_url=None, redoc_url=None)
    app.state.service = service
    errors.install(app)
    app.add_middleware(BodyLimit)
    app.add_middleware(RequestAudit)  # added last, so outermost: it sees the body limit's refusals too
    for module in (auth, templates, packages, builds, audit, alerts, health):
        app.include_router(module.router)
    docs_assets.install(app)  # /docs and /redoc with assets served here, not from a CDN
    _document_400_not_422(app)
    return app


def _document_400_not_422(app: FastAPI) -> None:
    """Malformed requests are answered 400 with the usual error body (see errors.py), so say that in OpenAPI."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    responses = operation.get("responses", {})
                    if responses.pop("422", None) is not None and "400" not in responses:
                        responses["400"] = {"description": "invalid request",
                                            "content": {"application/json": {
                                                "schema": {"$ref": "#/components/schemas/ErrorPublic"}}}}
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
