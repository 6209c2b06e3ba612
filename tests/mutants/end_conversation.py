"""Mutants of the endOfConversation rules (suite module test_end_conversation)."""

from __future__ import annotations

from typing import Any

from conformance.reference.app import create_app
from conformance.reference.config import ServerConfig
from conformance.reference.errors import DirectLineError, conversation_ended
from conformance.reference.service import DirectLineService
from tests.mutants.framework import mutant
from tests.mutants.wire import replace_error_body, with_request_body

MODULE = "test_end_conversation"


@mutant("DL-EOC-001", modules=MODULE)
def end_answers_202(config: ServerConfig) -> Any:
    """A posted endOfConversation answers 202 (with its id) instead of 200."""

    def change(scope: dict[str, Any], body: bytes, message: dict[str, Any]) -> None:
        if (
            scope["method"] == "POST"
            and scope["path"].endswith("/activities")
            and b"endOfConversation" in body
            and message["status"] == 200
        ):
            message["status"] = 202

    return with_request_body(create_app(config), change)


@mutant("DL-EOC-002", modules=MODULE)
class GetRefusedAfterEnd(DirectLineService):
    """After the end, GET activities is refused (409)."""

    def get_activities(self, credential: Any, conversation_id: str, watermark: str | None) -> Any:
        conversation = self.store.get(conversation_id)
        if conversation is not None and conversation.ended:
            raise conversation_ended()
        return super().get_activities(credential, conversation_id, watermark)


@mutant(
    "DL-EOC-003", "DL-EOC-004", "DL-EOC-005", "DL-EOC-009",
    modules=MODULE, server_end_of_conversation="forward",
)  # fmt: skip
class SendsAcceptedAfterEnd(DirectLineService):
    """Claims the refuse reading but accepts everything after endOfConversation (forwards it)."""


@mutant(
    "DL-EOC-007", modules=MODULE, end_of_conversation="forward", server_end_of_conversation="refuse"
)
class RefusesUnderTheForwardReading(DirectLineService):
    """Claims the forward reading but refuses sends after endOfConversation."""


@mutant("DL-EOC-011", modules=MODULE)
class RefusedWith403(DirectLineService):
    """The refusal after the end is a 403 (the official client reads it as an expired token)."""

    def check_open(self, conversation: Any) -> None:
        if conversation.ended:
            raise DirectLineError(403, "BadArgument", "Conversation ended")


@mutant("DL-EOC-003", "DL-EOC-004", modules=MODULE)
def refusal_without_error_body(config: ServerConfig) -> Any:
    """The refusal after the end is a 409 whose body is plain text, not an ErrorResponse."""
    return replace_error_body(create_app(config), 409, b"conversation ended")


@mutant("DL-EOC-006", modules=MODULE)
class EndNotOnTheStream(DirectLineService):
    """The client's endOfConversation is recorded but never pushed to open streams."""

    async def accept_client_activity(
        self, conversation: Any, activity: Any, credential: Any, origin: str
    ) -> Any:
        if activity.get("type") != "endOfConversation":
            return await super().accept_client_activity(conversation, activity, credential, origin)
        subscribers, conversation.subscribers = conversation.subscribers, None
        try:
            stamped = self.stamp_client_activity(conversation, activity, credential, origin)
            conversation.record(stamped)
            conversation.ended = self.ends_conversation(stamped)
        finally:
            conversation.subscribers = subscribers
        await self.deliver_to_bot(conversation, stamped)
        return {"id": stamped["id"]}


@mutant("DL-EOC-008", modules=MODULE)
class EndingEndsNewerConversations(DirectLineService):
    """Ending a conversation also ends every conversation created after it."""

    async def accept_client_activity(
        self, conversation: Any, activity: Any, credential: Any, origin: str
    ) -> Any:
        answer = await super().accept_client_activity(conversation, activity, credential, origin)
        if conversation.ended:
            for other in self.store:
                if other.created > conversation.created:
                    other.ended = True
        return answer


@mutant("DL-EOC-009", modules=MODULE)
class BotMessagesAfterItsEndDelivered(DirectLineService):
    """After the bot's endOfConversation, its next message is still recorded and delivered."""

    async def receive_from_bot(self, conversation_id: str, activity: Any) -> str | None:
        conversation = self.store.get(conversation_id)
        if conversation is None or not conversation.ended:
            return await super().receive_from_bot(conversation_id, activity)
        conversation.ended = False
        try:
            return await super().receive_from_bot(conversation_id, activity)
        finally:
            conversation.ended = True
