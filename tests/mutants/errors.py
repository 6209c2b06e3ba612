"""Mutants of the error rules (suite module test_errors)."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.responses import PlainTextResponse

from conformance.reference.app import create_app
from conformance.reference.config import ServerConfig
from conformance.reference.errors import (
    DirectLineError,
    error_response,
    invalid_credential,
    unknown_conversation,
)
from conformance.reference.service import DirectLineService
from tests.mutants.framework import mutant
from tests.mutants.wire import replace_error_body, rewrite_response_start, set_header

MODULE = "test_errors"

#: Longer than the request timeout the mutant runner declares (10 s).
HANG_SECONDS = 15.0


@mutant("DL-ERR-001", modules=MODULE)
def bad_request_as_plain_text(config: ServerConfig) -> Any:
    """Every 400 carries a plain-text body, not an ErrorResponse."""
    return replace_error_body(create_app(config), 400, b"Bad Request")


@mutant("DL-ERR-002", modules=MODULE)
class UnknownConversationIsForbidden(DirectLineService):
    """An unknown conversation answers 403 (with an ErrorResponse) instead of 404."""

    def authorize(self, credential: Any, conversation_id: str) -> Any:
        try:
            return super().authorize(credential, conversation_id)
        except DirectLineError as err:
            if err.status == unknown_conversation().status:
                raise invalid_credential("Unknown conversation") from None
            raise


@mutant("DL-ERR-003", modules=MODULE)
def unknown_path_answers_400(config: ServerConfig) -> Any:
    """An unknown path answers 400 BadArgument (with an ErrorResponse) instead of 404."""
    app = create_app(config)

    async def bad_request(scope: Any, receive: Any, send: Any) -> None:
        await error_response(DirectLineError(400, "BadArgument", "Bad path"))(scope, receive, send)

    app.router.default = bad_request
    return app


@mutant("DL-ERR-004", modules=MODULE)
class BadJsonCrashes(DirectLineService):
    """A send whose body is not JSON crashes the handler: 500 ServiceError."""

    def parse_activity_text(self, text: str) -> Any:
        import json

        return json.loads(text)


@mutant("DL-ERR-005", modules=MODULE)
def wrong_method_as_plain_text(config: ServerConfig) -> Any:
    """A wrong method answers 405 with a plain-text body, not an ErrorResponse."""
    return replace_error_body(create_app(config), 405, b"Method Not Allowed")


@mutant("DL-ERR-005", modules=MODULE)
def wrong_method_answers_400(config: ServerConfig) -> Any:
    """A wrong method answers 400 (with an ErrorResponse) instead of 404 or 405."""

    def change(scope: dict[str, Any], message: dict[str, Any]) -> None:
        if message["status"] == 405:
            message["status"] = 400

    return rewrite_response_start(create_app(config), change)


@mutant("DL-ERR-007", modules=MODULE)
def unknown_path_as_plain_text(config: ServerConfig) -> Any:
    """An unknown path answers 404 with a plain-text body (the documented operations are fine)."""
    app = create_app(config)

    async def plain_not_found(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await PlainTextResponse("Not Found", 404)(scope, receive, send)

    app.router.default = plain_not_found
    return app


@mutant("DL-ERR-008", modules=MODULE)
def negative_watermark_hangs(config: ServerConfig) -> Any:
    """GET activities with `watermark=-1` never answers within the request timeout."""
    app = create_app(config)

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if (
            scope["type"] == "http"
            and scope["path"].endswith("/activities")
            and b"watermark=-1" in scope.get("query_string", b"")
        ):
            await asyncio.sleep(HANG_SECONDS)
        await app(scope, receive, send)

    return wrapped


@mutant("DL-ERR-007", modules=MODULE)
def refused_upgrade_as_plain_text(config: ServerConfig) -> Any:
    """A refused WebSocket handshake answers its status with a plain-text body."""
    app = create_app(config)
    text = b"Forbidden"

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            await app(scope, receive, send)
            return

        async def edited_send(message: dict[str, Any]) -> None:
            if message["type"] == "websocket.http.response.start":
                set_header(message, "content-type", "text/plain; charset=utf-8")
                set_header(message, "content-length", str(len(text)))
            elif message["type"] == "websocket.http.response.body":
                if message.get("more_body"):
                    return
                message = {**message, "body": text}
            await send(message)

        await app(scope, receive, edited_send)

    return wrapped
