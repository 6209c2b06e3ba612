"""Pure ASGI middleware: CORS for browser clients, and the last-resort error guard.

Order in the stack (outermost first): Starlette's ServerErrorMiddleware, (`UpstreamRecorder`
with a recording file), (`TrafficCounter` with a traffic file), (`LiveHeaders` under
behave="live"), `CORSMiddleware`, (`ProxyTriggers` with a recording file), (`TransientFaults`
when enabled), `ErrorGuard`, `HotRoutes` (hot_routes.py: sends and polls answered without the
router), Starlette's ExceptionMiddleware, the router. So even the guard's 500 carries
`Access-Control-Allow-Origin`, and no exception escapes as Starlette's plain-text 500; and the
recorder, outermost, sees every request, the hot ones included.

A refusal is rendered by the `render` function given (the service's `error_response`), so the
live behaviour's error layout reaches these answers too.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import DirectLineError, error_response, service_error

__all__ = ["CORSMiddleware", "ErrorGuard", "LiveHeaders", "RenderError", "deny_websocket"]

logger = logging.getLogger("conformance.reference")

_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")

RenderError = Callable[[DirectLineError], Response]
"""How a refusal becomes an HTTP answer."""


async def deny_websocket(
    scope: Scope,
    receive: Receive,
    send: Send,
    err: DirectLineError,
    render: RenderError = error_response,
) -> None:
    """Refuse a WebSocket handshake with the error's status and ErrorResponse body when the
    server supports denial responses; otherwise a plain close (seen as HTTP 403)."""
    if "websocket.http.response" in scope.get("extensions", {}):
        await render(err)(scope, receive, send)
    else:  # pragma: no cover - uvicorn supports the extension
        await send(
            {"type": "websocket.close", "code": 1008, "reason": (err.message or err.code)[:120]}
        )


class CORSMiddleware:
    """Direct Line is called from browsers (Web Chat): any origin, and the headers the
    official client sends (DL-HTTP-001). Every OPTIONS is answered as a preflight."""

    allow_headers = ("Authorization", "Content-Type", "x-ms-bot-agent")
    allow_methods = "GET, POST, OPTIONS"

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":
            await self.preflight(scope)(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"access-control-allow-origin", b"*"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_cors)

    def preflight(self, scope: Scope) -> Response:
        requested = Headers(scope=scope).get("access-control-request-headers", "")
        allowed = list(self.allow_headers)
        known = {name.lower() for name in allowed}
        for name in (part.strip() for part in requested.split(",")):
            if _HEADER_NAME.fullmatch(name) and name.lower() not in known:
                allowed.append(name)
                known.add(name.lower())
        return Response(
            status_code=204,
            headers={
                "Access-Control-Allow-Origin": "*",
                "Access-Control-Allow-Methods": self.allow_methods,
                "Access-Control-Allow-Headers": ", ".join(allowed),
                "Access-Control-Max-Age": "600",
            },
        )


class LiveHeaders:
    """The response headers of the hosted service on every answer, errors and denied
    WebSocket handshakes included (docs/live-service.md §5): no caching, `Expires: -1`, and
    an `x-ms-request-id` of its own per request. A header the answer already has is kept."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] in ("http.response.start", "websocket.http.response.start"):
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _value in headers}
                for name, value in self.headers():
                    if name not in present:
                        headers.append((name, value))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)

    @staticmethod
    def headers() -> list[tuple[bytes, bytes]]:
        request_id = "|" + secrets.token_hex(16)
        return [
            (b"cache-control", b"no-cache"),
            (b"pragma", b"no-cache"),
            (b"expires", b"-1"),
            (b"x-ms-request-id", request_id.encode("ascii")),
        ]


class ErrorGuard:
    """Turns an unexpected exception into a 500 ServiceError with the error body.

    A last resort only: every client mistake is a DirectLineError answered with a 4xx before
    it gets here (DL-ERR-004).
    """

    def __init__(self, app: ASGIApp, render: RenderError = error_response) -> None:
        self.app = app
        self.render = render

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        started = False

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] in (
                "http.response.start",
                "websocket.accept",
                "websocket.close",
                "websocket.http.response.start",
            ):
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watched_send)
        except Exception:
            logger.exception("unexpected error serving %s %s", scope["type"], scope.get("path"))
            if started:
                return
            if scope["type"] == "http":
                await self.render(service_error())(scope, receive, send)
            else:
                await deny_websocket(scope, receive, send, service_error(), self.render)
