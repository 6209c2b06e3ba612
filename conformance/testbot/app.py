"""The ASGI app of the test bot: ``POST /api/messages`` in, replies out through the connector.

The bot sends its replies *before* it answers the channel, so a channel that waits for the bot
(the npm emulators, the reference server) has the reply recorded by the time the client's send
returns, and the suite's timing does not depend on a race.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .behaviour import Triggers, respond
from .connector import Connector, ReplyFailed
from .credentials import ClientCredentials

__all__ = ["MESSAGES_PATH", "BotSettings", "create_app"]

MESSAGES_PATH = "/api/messages"
MAX_BODY_BYTES = 4 * 1024 * 1024
"""Largest activity the bot reads (Direct Line's own limit is far below: 256K characters)."""


@dataclass(frozen=True)
class BotSettings:
    """How one test bot behaves (the ``bot`` command's options, checked)."""

    triggers: Triggers = field(default_factory=Triggers)
    welcome: str = "Welcome!"
    slow_seconds: float = 20.0
    reply_timeout: float = 10.0
    credentials: ClientCredentials | None = None
    trusted_origins: frozenset[str] = frozenset()


def _stderr(line: str) -> None:
    print(f"directline-conformance bot: {line}", file=sys.stderr, flush=True)


def create_app(settings: BotSettings, log: Callable[[str], object] = _stderr) -> Starlette:
    """The bot as a Starlette app; ``log`` gets one line per reply the channel did not take."""
    connector = Connector(
        timeout=settings.reply_timeout,
        credentials=settings.credentials,
        trusted_origins=settings.trusted_origins,
    )

    async def messages(request: Request) -> Response:
        body = await _read_body(request)
        if body is None:
            return _problem(413, f"the activity is larger than {MAX_BODY_BYTES} bytes")
        try:
            activity = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return _problem(400, "the body is not JSON")
        if not isinstance(activity, dict):
            return _problem(400, "the body is not a JSON object (an activity)")
        turn = respond(activity, settings.triggers, settings.welcome, settings.slow_seconds)
        if turn.fail:
            return _problem(500, "the test bot was asked to fail")
        if turn.delay:
            await asyncio.sleep(turn.delay)
        for index, outgoing in enumerate(turn.replies):
            try:
                await connector.send(activity, outgoing)
            except ReplyFailed as exc:
                skipped = len(turn.replies) - index - 1
                rest = f"; {skipped} more not sent" if skipped else ""
                log(f"{_describe(activity, outgoing.activity)} not delivered: {exc}{rest}")
                break
        return Response(status_code=200)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await connector.aclose()

    return Starlette(routes=[Route(MESSAGES_PATH, messages, methods=["POST"])], lifespan=lifespan)


async def _read_body(request: Request) -> bytes | None:
    """The request body, or None when it exceeds MAX_BODY_BYTES (not read further)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _problem(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": "TestBot", "message": message}}, status_code=status)


def _describe(incoming: dict[str, object], outgoing: dict[str, object]) -> str:
    """Which activity went missing, for the log line (ids only: no user text in the log)."""
    conversation = incoming.get("conversation")
    conversation_id = conversation.get("id") if isinstance(conversation, dict) else None
    return (
        f"{outgoing.get('type')} for {incoming.get('type')} {incoming.get('id')!r:.60} "
        f"in conversation {conversation_id!r:.80}"
    )
