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
    #: Conversations created: the distinct conversationIds that starts and token generates
    #: answered (a generated token names its conversation, as on the hosted service; starting
    #: it later is not another one).
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
        self._conversations: set[str] = set()
        self._write()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        self.traffic.requests += 1
        route = str(scope.get("path", ""))
        method = scope.get("method", "GET")
        creates = method == "POST" and bool(_STARTS.search(route) or _GENERATES.search(route))
        status = 0
        body = bytearray()
        done = False

        def finish() -> None:
            # before the answer's last bytes leave: a client that has its answer reads a file
            # that already counts it
            nonlocal done
            if not done:
                done = True
                self._count(scope["type"], method, route, status, bytes(body))
                self._write()

        async def watch(message: Message) -> None:
            nonlocal status
            kind = message["type"]
            if kind == "http.response.start":
                status = int(message["status"])
            elif kind == "http.response.body":
                if creates:
                    body.extend(message.get("body", b""))
                if not message.get("more_body", False):
                    finish()
            elif kind == "websocket.accept":
                status = 101
                finish()
            elif kind in ("websocket.close", "websocket.http.response.body"):
                finish()
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            finish()

    def _count(self, kind: str, method: str, route: str, status: int, body: bytes) -> None:
        if kind == "websocket":
            self.traffic.streams += status == 101
            return
        if method != "POST" or not 200 <= status < 300:
            return
        if _POSTS_ACTIVITY.search(route):
            self.traffic.activities += 1
            return
        try:
            answer = json.loads(body) if body else None
        except ValueError:
            return
        conversation = answer.get("conversationId") if isinstance(answer, dict) else None
        if isinstance(conversation, str):
            self._conversations.add(conversation)
            self.traffic.conversations = len(self._conversations)

    def _write(self) -> None:
        partial = self.path.with_name(self.path.name + ".partial")
        partial.write_text(json.dumps(asdict(self.traffic)), encoding="utf-8")
        os.replace(partial, self.path)
