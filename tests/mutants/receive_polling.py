"""Mutants of the receive-by-polling rules (suite module test_receive_polling)."""

from __future__ import annotations

from typing import Any

from conformance.reference.errors import DirectLineError, bad_argument, service_error
from conformance.reference.service import DirectLineService
from tests.mutants.framework import mutant

MODULE = "test_receive_polling"
STANDARD_TYPES = frozenset({"message", "event", "endOfConversation", "typing"})


@mutant("DL-POLL-001", modules=MODULE)
class NullInTheActivities(DirectLineService):
    """A GET without watermark adds a `null` entry to a non-empty activities array."""

    def get_activities(self, credential: Any, conversation_id: str, watermark: str | None) -> Any:
        body = super().get_activities(credential, conversation_id, watermark)
        if watermark is None and body["activities"]:
            body["activities"] = [*body["activities"], None]
        return body


@mutant("DL-POLL-001", "DL-POLL-002", modules=MODULE)
class WatermarkAsNumber(DirectLineService):
    """The GET answer's watermark is a JSON number (3), not a string ("3")."""

    def get_activities(self, credential: Any, conversation_id: str, watermark: str | None) -> Any:
        body = super().get_activities(credential, conversation_id, watermark)
        body["watermark"] = int(body["watermark"])
        return body


@mutant("DL-POLL-003", "DL-POLL-007", modules=MODULE)
class NewestFirst(DirectLineService):
    """GET answers the activities newest first."""

    def get_activities(self, credential: Any, conversation_id: str, watermark: str | None) -> Any:
        body = super().get_activities(credential, conversation_id, watermark)
        body["activities"] = list(reversed(body["activities"]))
        return body


@mutant("DL-POLL-007", modules=MODULE)
class ClientActivitiesBeforeBotOnes(DirectLineService):
    """Each GET page lists the client's activities first, then the bot's."""

    def get_activities(self, credential: Any, conversation_id: str, watermark: str | None) -> Any:
        body = super().get_activities(credential, conversation_id, watermark)
        bot = self.bot_account["id"]
        mine = [a for a in body["activities"] if a.get("from", {}).get("id") != bot]
        theirs = [a for a in body["activities"] if a.get("from", {}).get("id") == bot]
        body["activities"] = mine + theirs
        return body


@mutant("DL-POLL-004", modules=MODULE)
class MessageSendAnswersAnotherId(DirectLineService):
    """A message send answers an id other than the one the message is recorded under."""

    async def post_activity(
        self, credential: Any, conversation_id: str, raw: bytes, origin: str
    ) -> Any:
        answer = await super().post_activity(credential, conversation_id, raw, origin)
        conversation = self.store.get(conversation_id)
        recorded = [a for a in conversation.activities if a.get("id") == answer["id"]]
        if recorded and recorded[0].get("type") == "message":
            return {"id": answer["id"] + "-answered"}
        return answer


@mutant("DL-POLL-005", "DL-POLL-006", modules=MODULE)
class WatermarkRedeliversTheLast(DirectLineService):
    """A non-empty answer to `?watermark=W` starts one early: the activity before W comes again."""

    def get_activities(self, credential: Any, conversation_id: str, watermark: str | None) -> Any:
        body = super().get_activities(credential, conversation_id, watermark)
        if body["activities"] and watermark and watermark.isdigit() and int(watermark) > 0:
            conversation = self.store.get(conversation_id)
            body["activities"] = [conversation.activities[int(watermark) - 1], *body["activities"]]
        return body


@mutant("DL-POLL-006", modules=MODULE)
class WatermarkSkipsTheFirstNew(DirectLineService):
    """An answer to `?watermark=W` leaves out the first activity after W (it is never returned)."""

    def get_activities(self, credential: Any, conversation_id: str, watermark: str | None) -> Any:
        body = super().get_activities(credential, conversation_id, watermark)
        if watermark and watermark.isdigit() and int(watermark) > 0:
            body["activities"] = body["activities"][1:]
        return body


@mutant("DL-POLL-008", modules=MODULE)
class IdleAnswerResetsTheWatermark(DirectLineService):
    """An empty answer to `?watermark=W` carries watermark "0": the next poll re-reads it all."""

    def get_activities(self, credential: Any, conversation_id: str, watermark: str | None) -> Any:
        body = super().get_activities(credential, conversation_id, watermark)
        if watermark and not body["activities"]:
            body["watermark"] = "0"
        return body


@mutant("DL-POLL-009", modules=MODULE)
class TypingRecorded(DirectLineService):
    """`typing` is recorded like any activity (so GET returns it)."""

    def publish_unrecorded(self, conversation: Any, activity: Any, prefix: str) -> None:
        conversation.record(activity)


@mutant("DL-POLL-010", modules=MODULE)
class ConversationUpdateRecorded(DirectLineService):
    """The conversationUpdate sent to the bot on start is recorded too (GET and stream)."""

    async def deliver_to_bot(self, conversation: Any, activity: Any) -> None:
        if activity.get("type") == "conversationUpdate":
            conversation.record(dict(activity))
        await super().deliver_to_bot(conversation, activity)


@mutant("DL-POLL-011", modules=MODULE)
class GetHidesCustomTypes(DirectLineService):
    """GET leaves out activities of a custom type."""

    def get_activities(self, credential: Any, conversation_id: str, watermark: str | None) -> Any:
        body = super().get_activities(credential, conversation_id, watermark)
        body["activities"] = [a for a in body["activities"] if a.get("type") in STANDARD_TYPES]
        return body


@mutant("DL-POLL-012", modules=MODULE)
class UnknownWatermarkIs500(DirectLineService):
    """A watermark that is not a number answers 500."""

    def parse_watermark(self, raw: str | None, conversation: Any) -> int | None:
        if raw and not raw.isdigit() and raw != "-":
            raise service_error("invalid literal for int()")
        return super().parse_watermark(raw, conversation)


@mutant("DL-POLL-013", modules=MODULE)
class EmptyWatermarkRefused(DirectLineService):
    """`GET …/activities?watermark=` (empty) answers 400."""

    def get_activities(self, credential: Any, conversation_id: str, watermark: str | None) -> Any:
        if watermark == "":
            raise bad_argument("Invalid watermark ''")
        return super().get_activities(credential, conversation_id, watermark)


@mutant("DL-POLL-014", modules=MODULE)
class FreshConversationIs404(DirectLineService):
    """GET activities of a conversation with nothing recorded answers 404."""

    def get_activities(self, credential: Any, conversation_id: str, watermark: str | None) -> Any:
        body = super().get_activities(credential, conversation_id, watermark)
        conversation = self.store.get(conversation_id)
        if conversation is not None and conversation.watermark == 0:
            raise DirectLineError(404, "BadArgument", "Conversation not found")
        return body
