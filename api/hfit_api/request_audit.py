"""One audit row per request, reads included (ASGI middleware, outermost of the app's own).

Handlers record what they did (a download, an approval) and the error handlers record refusals; a request
that neither recorded — a successful read such as ``/auth/me``, ``/templates`` or ``/builds/{id}`` — gets
its row here, written before the response's first byte is sent. Whether a row was written for the current
request is tracked by a marker in a context variable that ``AuditLog.record`` ticks (context variables
follow the request into FastAPI's worker threads), so no request gets two rows from this middleware.
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hfit_api.audit import CURRENT_REQUEST, AuditLog, RequestMarker


class RequestAudit:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        marker = RequestMarker()
        reset = CURRENT_REQUEST.set(marker)

        async def audited_send(message: Message) -> None:
            if message["type"] == "http.response.start" and marker.rows == 0:
                await anyio.to_thread.run_sync(self._record, scope, int(message["status"]))
            await send(message)

        try:
            await self.app(scope, receive, audited_send)
        finally:
            CURRENT_REQUEST.reset(reset)

    def _record(self, scope: Scope, status: int) -> None:
        service: Any = getattr(scope.get("app"), "state", None)
        service = getattr(service, "service", None)
        if service is None:
            return
        route = scope.get("route")
        state = scope.get("state") or {}
        user = state.get("user")
        params = scope.get("path_params") or {}
        query = scope.get("query_string", b"").decode("latin-1")
        path = scope.get("path", "")
        # no row, no answer: a failure here becomes a 500 before anything was sent
        AuditLog(service.db).record(
            action=getattr(route, "name", None) or f"http.{scope['method'].lower()}",
            outcome="ok" if status < 400 else f"http_{status}", status=status,
            user=user.name if user is not None else None,
            template=params.get("template") or params.get("name"), version=params.get("version"),
            client=(scope.get("client") or ("unknown",))[0],
            detail=f"{scope['method']} {path}" + (f"?{query}" if query else ""),
        )
