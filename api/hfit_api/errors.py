"""Every failure leaves the API as ``{"error": {"code", "message", "hint"}}`` and lands in the audit log.

Codes are the ``HfitError.code`` of the failure (stable: clients map them back to exit codes), plus a few
for what FastAPI itself refuses (``not_found`` for an unknown route, ``invalid_request`` for a malformed
parameter or body). A 500 never carries the exception text: it may hold data; the server log has it.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from hfit_dagster.errors import (
    AlertsNotConfigured,
    AuthError,
    Conflict,
    Forbidden,
    HfitError,
    InvalidRequest,
    NotFound,
    ParameterError,
    ProviderError,
    RateLimited,
    TemplateError,
    TemplateNotFound,
)

log = logging.getLogger("hfit_api")


class NotImplementedYet(HfitError):
    code = "not_implemented"


class RangeNotSatisfiable(HfitError):
    """A Range header this service does not serve: malformed, several ranges, or outside the file."""

    code = "range_not_satisfiable"

    def __init__(self, message: str, size: int, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.size = size


HTTP_STATUS: list[tuple[type[HfitError], int]] = [
    (AuthError, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (TemplateNotFound, 404),
    (Conflict, 409),
    (RateLimited, 429),
    (InvalidRequest, 400),
    (ParameterError, 400),
    (TemplateError, 400),
    (RangeNotSatisfiable, 416),
    (NotImplementedYet, 501),
    (AlertsNotConfigured, 503),
    (ProviderError, 503),
    (HfitError, 500),
]


def status_of(exc: HfitError) -> int:
    return next(status for cls, status in HTTP_STATUS if isinstance(exc, cls))


def error_body(code: str, message: str, hint: str | None = None) -> dict[str, dict[str, str | None]]:
    return {"error": {"code": code, "message": message, "hint": hint}}


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def audit_refusal(request: Request, status: int, code: str, message: str) -> None:
    """Record a refused or failed request; auditing must never turn the refusal into a crash."""
    service = getattr(request.app.state, "service", None)
    if service is None:
        return
    route = request.scope.get("route")
    action = getattr(route, "name", None) or f"http.{request.method.lower()}"
    user = getattr(request.state, "user", None) or _identify(request, service)
    params = request.scope.get("path_params") or {}
    template = params.get("template") or params.get("name") or getattr(request.state, "template", None)
    try:
        service.audit.record(
            action=action, outcome=code, status=status, client=client_address(request),
            user=user.name if user is not None else getattr(request.state, "attempted_user", None),
            template=template, version=params.get("version"), params=getattr(request.state, "audit_params", None),
            detail=f"{request.method} {request.url.path}: {getattr(request.state, 'audit_message', None) or message}",
        )
    except Exception:  # noqa: BLE001
        log.exception("could not write the audit row for a refused request")


def _identify(request: Request, service: Any) -> Any:
    """Who sent a request that was refused before authentication ran (e.g. a route that does not exist)."""
    header = request.headers.get("authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret:
        return None
    from hfit_api.accounts import authenticate_token

    try:
        with service.db.session() as session:
            return authenticate_token(session, secret.strip())[0]
    except HfitError:
        return None


async def on_hfit_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HfitError)
    status = status_of(exc)
    if status >= 500 and not isinstance(exc, NotImplementedYet):
        log.error("%s %s failed: %s", request.method, request.url.path, exc.message)
    audit_refusal(request, status, exc.code, exc.message)
    headers = {}
    if isinstance(exc, AuthError):
        headers["WWW-Authenticate"] = "Bearer"
    elif isinstance(exc, RateLimited):
        headers["Retry-After"] = str(getattr(exc, "retry_after", 60))
    elif isinstance(exc, RangeNotSatisfiable):
        headers["Content-Range"] = f"bytes */{exc.size}"
    return JSONResponse(error_body(exc.code, exc.message, exc.hint), status_code=status, headers=headers)


async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(exc.status_code, "http_error")
    message = "no such route" if exc.status_code == 404 else str(exc.detail)
    audit_refusal(request, exc.status_code, code, message)
    return JSONResponse(error_body(code, message), status_code=exc.status_code, headers=exc.headers)


async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for error in exc.errors()[:5]:
        where = ".".join(str(part) for part in error.get("loc", ()))
        problems.append(f"{where}: {error.get('msg', 'invalid')}")
    message = "invalid request: " + "; ".join(problems)
    audit_refusal(request, 400, InvalidRequest.code, message)
    return JSONResponse(error_body(InvalidRequest.code, message), status_code=400)


async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("%s %s crashed", request.method, request.url.path)
    audit_refusal(request, 500, "internal_error", exc.__class__.__name__)
    return JSONResponse(error_body("internal_error", "internal error; the server log has the details"),
                        status_code=500)


def install(app: FastAPI) -> None:
    app.add_exception_handler(HfitError, on_hfit_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(Exception, on_unexpected)
