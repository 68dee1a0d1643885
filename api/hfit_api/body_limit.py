"""Request body limits, enforced before a body is read (ASGI middleware around the whole app).

A ``Content-Length`` above the route's limit is answered 413 at once, without reading a byte of the body.
A body without one (chunked) is counted as it arrives, and reading stops with 413 as soon as the count
passes the limit, so no route ever holds more than its limit in memory. Limits are per route family:
templates carry YAML (JSON-escaped), alerts a small JSON object, everything else a few parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hfit_api.errors import audit_refusal, error_body

KIB = 1024
DEFAULT_LIMIT = 16 * KIB
TEMPLATE_LIMIT = 1024 * KIB  # 256 KiB of YAML, JSON-escaped
ALERT_LIMIT = 64 * KIB
PAYLOAD_TOO_LARGE = "payload_too_large"


@dataclass(frozen=True)
class BodyLimits:
    default: int = DEFAULT_LIMIT
    templates: int = TEMPLATE_LIMIT
    alerts: int = ALERT_LIMIT

    def for_path(self, path: str) -> int:
        if path == "/templates" or path.startswith("/templates/"):
            return self.templates
        if path == "/alerts":
            return self.alerts
        return self.default


class BodyTooLarge(StarletteHTTPException):
    """Raised from ``receive`` when a body without Content-Length outgrows its limit (FastAPI re-raises it)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, detail=f"request body is larger than {limit} bytes")


class BodyLimit:
    def __init__(self, app: ASGIApp, limits: BodyLimits | None = None) -> None:
        self.app = app
        self.limits = limits or BodyLimits()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits.for_path(scope["path"])
        declared = _content_length(scope)
        if declared is not None and (declared < 0 or declared > limit):
            await self._refuse(scope, receive, send, limit, declared)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, counted, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, limit: int, declared: int) -> None:
        message = f"request body is larger than {limit} bytes" if declared >= 0 else "invalid Content-Length"
        status = 413 if declared >= 0 else 400
        code = PAYLOAD_TOO_LARGE if declared >= 0 else "invalid_request"
        audit_refusal(Request(scope, receive), status, code, f"{message} (Content-Length {declared})")
        response = JSONResponse(error_body(code, message), status_code=status, headers={"Connection": "close"})
        await response(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return -1
    return None
