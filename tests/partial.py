"""Partial Direct Line emulators, simulated: what real emulators lack, built around the reference.

Open-source emulators typically live under ``/directline`` instead of ``/v3/directline``, check
no credentials, have no token endpoints, no WebSocket stream, no reconnect and no upload. These
ASGI wrappers strip those parts off the reference server so the kit can be shown certifying such
a target with a profile, and a variant hangs on some routes so the timeouts can be shown to hold.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from conformance.reference.app import create_app
from conformance.reference.config import ServerConfig

__all__ = ["PARTIAL_PROFILE", "hanging", "partial_emulator"]

PARTIAL_PROFILE = """\
name = "partial"
description = "an emulator under /directline with no auth, tokens, stream, reconnect or upload"
end_of_conversation = "forward"

[features]
echo_bot = true

[timings]
request_timeout = {request_timeout}
delivery_timeout = 3
bot_timeout = 1
"""

MISSING_PREFIXES = ("/tokens/", "/upload")


def partial_emulator(config: ServerConfig) -> Any:
    """The reference server under /directline, answering without credentials, with no token
    endpoints, no stream, no reconnect and no upload (404 for each)."""
    app = create_app(config)
    secret = f"Bearer {config.secret}".encode()

    async def emulator(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await app(scope, receive, send)
            return
        path = scope["path"]
        if not path.startswith("/directline/") or scope["type"] == "websocket":
            await _not_found(scope, send)
            return
        rest = path[len("/directline") :]
        reconnect = (
            scope["method"] == "GET" and rest.count("/") == 2 and rest.startswith("/conversations/")
        )
        if reconnect or any(prefix in rest for prefix in MISSING_PREFIXES):
            await _not_found(scope, send)
            return
        headers = [(k, v) for k, v in scope["headers"] if k != b"authorization"]
        headers.append((b"authorization", secret))  # no auth: every caller is the owner
        inner = dict(scope, path="/v3" + path, raw_path=("/v3" + path).encode(), headers=headers)
        await app(inner, receive, _without_stream_url(send))

    return emulator


def hanging(app: Any, *, path_suffixes: tuple[str, ...], seconds: float = 30.0) -> Any:
    """Wrap ``app`` so HTTP requests whose path ends with one of ``path_suffixes`` never get an
    answer within ``seconds`` (the suite's request timeout must end the wait, not the server)."""

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].endswith(path_suffixes):
            await asyncio.sleep(seconds)
        await app(scope, receive, send)

    return wrapped


def _without_stream_url(send: Any) -> Any:
    """Drop ``streamUrl`` from JSON answers: the emulator has no stream to offer."""
    pending: dict[str, Any] = {}

    async def edited(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            pending["start"] = message
            return
        if message["type"] == "http.response.body" and "start" in pending:
            body = message.get("body", b"")
            start = pending.pop("start")
            if b'"streamUrl"' in body and not message.get("more_body"):
                data = json.loads(body)
                data.pop("streamUrl", None)
                body = json.dumps(data).encode()
                headers = [(k, v) for k, v in start["headers"] if k != b"content-length"]
                length = (b"content-length", str(len(body)).encode())
                start = dict(start, headers=[*headers, length])
                message = dict(message, body=body)
            await send(start)
        await send(message)

    return edited


async def _not_found(scope: dict[str, Any], send: Any) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})
        return
    body = b"Cannot " + scope["method"].encode() + b" " + scope["path"].encode()
    await send(
        {
            "type": "http.response.start",
            "status": 404,
            "headers": [
                (b"content-type", b"text/plain"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
