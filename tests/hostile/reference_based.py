"""Targets built on the real reference server: misaddressed, or broken on the stream's wire.

`ReferenceTarget` serves `conformance.reference` (or an ASGI wrapper of it) with
`EmbeddedServer` on 127.0.0.1 and a free port, and hands the kit a target URL that may be
wrong on purpose: the origin alone, or ``/v3`` without ``/directline``. It counts the HTTP
requests and WebSocket connections the app sees.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from types import TracebackType
from typing import Any

from conformance.reference import EmbeddedServer, ServerConfig
from conformance.reference.app import create_app

__all__ = ["ReferenceTarget", "bare_array_stream"]

Message = dict[str, Any]
ASGIApp = Callable[..., Any]


def bare_array_stream(app: ASGIApp) -> ASGIApp:
    """Wrap ``app`` so every ActivitySet on a WebSocket stream goes out as its bare
    ``activities`` array (``[...]`` instead of ``{"activities": [...], "watermark": ...}``).
    Keep-alive frames (empty text) pass unchanged."""

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            await app(scope, receive, send)
            return

        async def edited_send(message: Message) -> None:
            text = message.get("text") if message["type"] == "websocket.send" else None
            if text:
                data = json.loads(text)
                if isinstance(data, dict) and "activities" in data:
                    message = {**message, "text": json.dumps(data["activities"])}
            await send(message)

        await app(scope, receive, edited_send)

    return wrapped


class ReferenceTarget:
    """The reference server behind a (possibly wrong) target URL."""

    def __init__(
        self,
        secret: str,
        *,
        path: str = "/v3/directline",
        wrap: Callable[[ASGIApp], ASGIApp] | None = None,
    ) -> None:
        app = create_app(ServerConfig(secret=secret))
        if wrap is not None:
            app = wrap(app)
        self.path = path
        self.requests = 0
        self.connections = 0  # not counted at the socket level here: use `requests`
        self.issued: list[str] = []  # the reference server's tokens are not tracked here
        self._server = EmbeddedServer(app=self._counting(app))

    def _counting(self, app: ASGIApp) -> ASGIApp:
        async def counted(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] in ("http", "websocket"):
                self.requests += 1
            await app(scope, receive, send)

        return counted

    @property
    def target_url(self) -> str:
        origin = self._server.origin
        assert origin is not None, "start() the target first"
        return origin + self.path

    def start(self) -> ReferenceTarget:
        """Serve in a background thread (once: a started target is returned as it is)."""
        if self._server.origin is None:
            self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> ReferenceTarget:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
