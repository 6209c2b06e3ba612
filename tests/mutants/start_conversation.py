"""Mutants of the start-conversation rules (suite module test_start_conversation)."""

from __future__ import annotations

from typing import Any

from conformance.reference.app import create_app
from conformance.reference.config import ServerConfig
from conformance.reference.service import DirectLineService
from tests.mutants.framework import mutant
from tests.mutants.wire import rewrite_response_start, set_header

MODULE = "test_start_conversation"


@mutant("DL-START-001", "DL-START-010", modules=MODULE)
class NewConversationAnswers200(DirectLineService):
    """A new conversation answers 200 instead of 201."""

    async def start_conversation(self, credential: Any, params: Any, origin: str) -> Any:
        status, body = await super().start_conversation(credential, params, origin)
        return (200 if status == 201 else status), body


@mutant("DL-START-002", modules=MODULE, preflight=True)
class ConversationIdUnderAnotherName(DirectLineService):
    """The start answer names the conversation `ConversationId` (wrong case): the preflight stops
    the run with one line naming DL-START-002, as nothing can be tested without the id."""

    async def start_conversation(self, credential: Any, params: Any, origin: str) -> Any:
        status, body = await super().start_conversation(credential, params, origin)
        body["ConversationId"] = body.pop("conversationId")
        return status, body


@mutant("DL-START-004", modules=MODULE)
class ExpiresInAsString(DirectLineService):
    """`expires_in` is the string "1800", not an integer."""

    async def start_conversation(self, credential: Any, params: Any, origin: str) -> Any:
        status, body = await super().start_conversation(credential, params, origin)
        body["expires_in"] = str(body["expires_in"])
        return status, body


@mutant("DL-START-003", modules=MODULE)
class EmptyToken(DirectLineService):
    """The start answer's token is an empty string."""

    async def start_conversation(self, credential: Any, params: Any, origin: str) -> Any:
        status, body = await super().start_conversation(credential, params, origin)
        if credential.is_secret:
            body["token"] = ""
        return status, body


@mutant("DL-START-005", modules=MODULE)
class NoStreamUrl(DirectLineService):
    """The start answer has no `streamUrl`."""

    async def start_conversation(self, credential: Any, params: Any, origin: str) -> Any:
        status, body = await super().start_conversation(credential, params, origin)
        body.pop("streamUrl", None)
        return status, body


@mutant("DL-START-005", modules=MODULE)
class StreamUrlForAnotherConversation(DirectLineService):
    """The streamUrl points at a conversation that does not exist (the handshake is refused)."""

    def stream_url(self, conversation: Any, watermark: int, origin: str) -> str:
        return (
            super()
            .stream_url(conversation, watermark, origin)
            .replace(conversation.id, conversation.id + "x", 1)
        )


@mutant("DL-START-006", modules=MODULE)
class SecretReusesTheFirstConversation(DirectLineService):
    """Every start with the secret answers 201 with the same conversation."""

    first: Any = None

    async def start_conversation(self, credential: Any, params: Any, origin: str) -> Any:
        if credential.is_secret and self.first is not None:
            await self.greet(self.first, params.user, origin)
            answer = self.conversation_answer(self.first, params.user, origin, self.first.watermark)
            return 201, answer
        status, body = await super().start_conversation(credential, params, origin)
        if credential.is_secret:
            self.first = self.store.get(body["conversationId"])
        return status, body


@mutant("DL-START-007", modules=MODULE)
class UsedTokenStartsAgain(DirectLineService):
    """A start with a token that already started answers 201 (as if new)."""

    async def start_conversation(self, credential: Any, params: Any, origin: str) -> Any:
        status, body = await super().start_conversation(credential, params, origin)
        return (201 if status == 200 else status), body


@mutant("DL-START-008", modules=MODULE)
class StartTokenCannotSend(DirectLineService):
    """The token start answers is refused (403) when it posts to its conversation."""

    async def post_activity(
        self, credential: Any, conversation_id: str, raw: bytes, origin: str
    ) -> Any:
        if not credential.is_secret:
            from conformance.reference.errors import invalid_credential

            raise invalid_credential("Security token not valid for this conversation")
        return await super().post_activity(credential, conversation_id, raw, origin)


@mutant("DL-START-009", modules=MODULE)
class NoWelcome(DirectLineService):
    """Starting with a user id never greets: the bot is not contacted."""

    async def greet(self, conversation: Any, user: Any, origin: str) -> None:
        return None


@mutant("DL-START-010", modules=MODULE)
class StartRejectsABody(DirectLineService):
    """A start with a TokenParameters body is refused with 400."""

    def parse_token_parameters(self, raw: bytes) -> Any:
        if raw.strip():
            from conformance.reference.errors import bad_argument

            raise bad_argument("no body expected")
        return super().parse_token_parameters(raw)


@mutant("DL-START-011", modules=MODULE)
def answers_as_plain_text(config: ServerConfig) -> Any:
    """Every answer says `Content-Type: text/plain` (the body is still JSON)."""

    def change(scope: dict[str, Any], message: dict[str, Any]) -> None:
        set_header(message, "content-type", "text/plain; charset=utf-8")

    return rewrite_response_start(create_app(config), change)
