"""The one place that decides what a refusal says on the wire.

Every 4xx/5xx of the server is a `DirectLineError` turned into status + ErrorResponse
`{"error": {"code", "message"}}` (API reference § Errors, DL-ERR-001/007). Codes follow what the
live service answers (docs/live-service.md): `BadArgument`, `MissingProperty`, `TokenExpired`,
`BotError`, `ServiceError`; where nothing is documented the code names the situation
(`NotFound`, `MethodNotAllowed`, `MessageSizeTooBig`, `ConversationEnded`). The live behaviour
renames a few and lays the body out its own way (live.py).

Messages may change; the statuses and codes are the contract.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.responses import Response

from .wire import JSONAnswer

__all__ = [
    "DirectLineError",
    "bad_argument",
    "bot_error",
    "bot_timed_out",
    "conversation_ended",
    "error_payload",
    "error_response",
    "forbidden_conversation",
    "invalid_credential",
    "malformed_credential",
    "method_not_allowed",
    "missing_credential",
    "missing_property",
    "missing_stream_token",
    "path_not_found",
    "service_error",
    "token_expired",
    "too_large",
    "unknown_conversation",
]


class DirectLineError(Exception):
    """A refusal with its HTTP status, stable error code and human message.

    `message` None leaves it out of the body, and `extra` adds top-level members next to
    `error`: both exist only because the live service answers that way (docs/live-service.md
    §6 `httpStatusCode`, §11 a ServiceError with no message).
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str | None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message or '(no message)'}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})

    def payload(self) -> dict[str, Any]:
        """The body of this refusal."""
        body = error_payload(self.code, self.message)
        body.update(self.extra)
        return body


def error_payload(code: str, message: str | None) -> dict[str, Any]:
    """The ErrorResponse object of the API reference (no `message` when it is None)."""
    error: dict[str, Any] = {"code": code}
    if message is not None:
        error["message"] = message
    return {"error": error}


def error_response(err: DirectLineError) -> Response:
    """The HTTP answer for a refusal."""
    return JSONAnswer(err.payload(), err.status, err.headers)


# Client mistakes -------------------------------------------------------------------------


def bad_argument(message: str, status: int = 400) -> DirectLineError:
    return DirectLineError(status, "BadArgument", message)


def missing_property(message: str) -> DirectLineError:
    return DirectLineError(400, "MissingProperty", message)


def too_large(message: str) -> DirectLineError:
    return DirectLineError(413, "MessageSizeTooBig", message)


def path_not_found() -> DirectLineError:
    return DirectLineError(404, "NotFound", "Unknown path")


def method_not_allowed(allow: str | None = None) -> DirectLineError:
    headers = {"Allow": allow} if allow else None
    return DirectLineError(405, "MethodNotAllowed", "Method not allowed on this path", headers)


# Credentials (auth § HTTP status codes; decision 6 of the catalog) ----------------------


def missing_credential() -> DirectLineError:
    return DirectLineError(401, "BadArgument", "Missing token or secret")


def malformed_credential() -> DirectLineError:
    return DirectLineError(
        401, "BadArgument", "Malformed Authorization header: expected 'Bearer <secret or token>'"
    )


def missing_stream_token() -> DirectLineError:
    return DirectLineError(401, "BadArgument", "Missing stream token (t)")


def invalid_credential(message: str = "Invalid token or secret") -> DirectLineError:
    return DirectLineError(403, "BadArgument", message)


def token_expired() -> DirectLineError:
    return DirectLineError(403, "TokenExpired", "Token expired")


def forbidden_conversation() -> DirectLineError:
    return DirectLineError(403, "BadArgument", "Security token not valid for this conversation")


# Conversation state --------------------------------------------------------------------


def unknown_conversation() -> DirectLineError:
    return DirectLineError(404, "BadArgument", "Unknown conversation")


def conversation_ended() -> DirectLineError:
    return DirectLineError(
        409, "ConversationEnded", "The conversation has ended (endOfConversation)"
    )


# The bot and ourselves -----------------------------------------------------------------


def bot_error(message: str = "Failed to send activity: bot returned an error") -> DirectLineError:
    return DirectLineError(502, "BotError", message)


def bot_timed_out() -> DirectLineError:
    return DirectLineError(504, "BotError", "Failed to send activity: bot timed out")


def service_error(message: str = "Internal error in the reference server") -> DirectLineError:
    return DirectLineError(500, "ServiceError", message)
