"""What a client made the server do, counted at the server: requests, conversations, streams,
activities posted.

A client's own count can be wrong (a retry it forgot, a request it never knew went out); the
server's count is the one a budget is judged by. ``serve --count FILE`` keeps FILE up to date
with a JSON object of the figures after every request, written atomically, so it can be read
while the server runs and survives the server being killed.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["Traffic", "TrafficCounter"]

#: Paths that post a client activity (a send or an upload), under any base path.
_POSTS_ACTIVITY = re.compile(r"/conversations/[^/]+/(activities|upload)$")
_STARTS = re.compile(r"/conversations$")
_GENERATES = re.compile(r"/tokens/generate$")


@dataclass
class Traffic:
    """The figures, as counted so far."""

    #: HTTP requests and WebSocket handshakes, every one (CORS preflights too).
    requests: int = 0
    #: Conversations created: starts answered 201, and generated tokens (each names a new
    #: conversation, as on the hosted service).
    conversations: int = 0
    #: WebSocket handshakes accepted.
    streams: int = 0
    #: Client activities accepted (sends and uploads answered 2xx): what reaches the bot.
    activities: int = 0


class TrafficCounter:
    """ASGI middleware that counts into a ``Traffic`` and writes it to ``path`` after each
    request."""

    def __init__(self, app: ASGIApp, path: str | os.PathLike[str]) -> None:
        self.app = app
        self.path = Path(path)
        self.traffic = Traffic()
        self._write()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        self.traffic.requests += 1
        route = str(scope.get("path", ""))
        method = scope.get("method", "GET")
        status = 0

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "websocket.accept":
                status = 101
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            self._count(scope["type"], method, route, status)
            self._write()

    def _count(self, kind: str, method: str, route: str, status: int) -> None:
        if kind == "websocket":
            self.traffic.streams += status == 101
            return
        if method != "POST" or not 200 <= status < 300:
            return
        if _POSTS_ACTIVITY.search(route):
            self.traffic.activities += 1
        elif (_STARTS.search(route) and status == 201) or _GENERATES.search(route):
            self.traffic.conversations += 1

    def _write(self) -> None:
        partial = self.path.with_name(self.path.name + ".partial")
        partial.write_text(json.dumps(asdict(self.traffic)), encoding="utf-8")
        os.replace(partial, self.path)
