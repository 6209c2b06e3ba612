"""ASGI wrappers for mutants that break the wire format rather than a service rule."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Message = dict[str, Any]


def rewrite_response_start(app: Any, change: Callable[[dict[str, Any], Message], None]) -> Any:
    """Wrap ``app`` so ``change(scope, message)`` may edit every ``http.response.start``."""

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return

        async def edited_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                change(scope, message)
            await send(message)

        await app(scope, receive, edited_send)

    return wrapped


def set_header(message: Message, name: str, value: str) -> None:
    """Replace (or add) one response header of an ``http.response.start`` message."""
    key = name.lower().encode()
    headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != key]
    headers.append((key, value.encode()))
    message["headers"] = headers


def replace_error_body(app: Any, status: int, text: bytes) -> Any:
    """Wrap ``app`` so every answer with ``status`` carries ``text`` as plain text instead."""

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        state = {"replacing": False, "sent": False}

        async def edited_send(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == status:
                state["replacing"] = True
                set_header(message, "content-type", "text/plain; charset=utf-8")
                set_header(message, "content-length", str(len(text)))
            elif message["type"] == "http.response.body" and state["replacing"]:
                if state["sent"]:
                    return
                state["sent"] = True
                message = {"type": "http.response.body", "body": text, "more_body": False}
            await send(message)

        await app(scope, receive, edited_send)

    return wrapped


def with_request_body(app: Any, change: Callable[[dict[str, Any], bytes, Message], None]) -> Any:
    """Wrap ``app`` so ``change(scope, request_body, message)`` may edit the response start of a
    request whose whole body it has seen (the body is replayed to ``app`` unchanged)."""

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        async def edited_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                change(scope, body, message)
            await send(message)

        await app(scope, replay, edited_send)

    return wrapped
