"""Targets that look like Direct Line where a preflight looks, and are not beyond it.

`DirectLineLikeHandler` answers ``POST tokens/generate`` (200) and ``POST conversations`` (201)
under /v3/directline with the documented fields (conversationId, token, expires_in, streamUrl).
What it does with every other request, and which conversationId it hands out, are options:

- ``rest="hang"``: never answer anything else (the connection is held open, nothing written);
- ``rest="404"``: a Direct Line ErrorResponse 404 for anything else;
- ``conversation_id``: any JSON value (default a short string): a 2 MB string, a number, ...
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from .http_garbage import GarbageHandler
from .server import hold

__all__ = ["HUGE_ID", "DirectLineLikeHandler"]

HUGE_ID = "c" * (2 * 1024 * 1024)
"""A 2 MB conversationId."""

EXPIRES_IN = 1800


class DirectLineLikeHandler(GarbageHandler):
    """Answers the start and the token generate like Direct Line; see the module doc."""

    server_version = "Kestrel"

    def answer(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        base = self.server.path
        if self.command == "POST" and path == f"{base}/tokens/generate":
            self._json(200, self._grant(stream=False))
        elif self.command == "POST" and path == f"{base}/conversations":
            self._json(201, self._grant(stream=True))
        elif self.server.options.get("rest", "hang") == "hang":
            self.close_connection = True
            hold(self.request, self.server.stopping)
        else:
            error = {"error": {"code": "BadArgument", "message": "Conversation not found"}}
            self._json(404, error)

    def _grant(self, *, stream: bool) -> dict[str, Any]:
        conversation_id = self.server.options.get("conversation_id", "hostile-c1")
        token = "hostile-token-" + secrets.token_urlsafe(24)
        self.server.issued.append(token)
        grant: dict[str, Any] = {
            "conversationId": conversation_id,
            "token": token,
            "expires_in": EXPIRES_IN,
        }
        if stream:
            host, port = self.server.server_address[:2]
            name = conversation_id if isinstance(conversation_id, str) else "x"
            grant["streamUrl"] = (
                f"ws://{host}:{port}{self.server.path}/conversations/{name}"
                f"/stream?watermark=-&t={token}"
            )
            grant["referenceGrammarId"] = "hostile-grammar"
        return grant

    def _json(self, status: int, body: Any) -> None:
        self.send(status, "application/json; charset=utf-8", json.dumps(body).encode())
