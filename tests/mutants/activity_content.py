"""Mutants of the activity content rules (suite module test_activity_content)."""

from __future__ import annotations

import json
import unicodedata
from datetime import datetime, timezone
from typing import Any

from conformance.reference.service import DirectLineService
from tests.mutants.framework import mutant, recorded_activity

MODULE = "test_activity_content"


class ClientActivityMutant(DirectLineService):
    """Base: change the client's activity as recorded (the bot still gets it as sent)."""

    def change(self, activity: dict[str, Any]) -> None:
        raise NotImplementedError

    async def accept_client_activity(
        self, conversation: Any, activity: Any, credential: Any, origin: str
    ) -> Any:
        answer = await super().accept_client_activity(conversation, activity, credential, origin)
        recorded = recorded_activity(conversation, answer["id"])
        if recorded is not None:
            self.change(recorded)
        return answer


@mutant("DL-ACT-001", modules=MODULE)
class BotActivitiesWithoutConversation(DirectLineService):
    """The bot's activities reach the client without a conversation field."""

    def stamp_bot_activity(self, conversation: Any, activity: Any) -> Any:
        stamped = super().stamp_bot_activity(conversation, activity)
        stamped.pop("conversation", None)
        return stamped


@mutant("DL-ACT-001", modules=MODULE)
class TypingOnTheStreamWithoutFrom(DirectLineService):
    """A typing activity pushed to the stream has no from (GET never shows typing)."""

    def publish_unrecorded(self, conversation: Any, activity: Any, prefix: str) -> None:
        activity.pop("from", None)
        super().publish_unrecorded(conversation, activity, prefix)


@mutant("DL-ACT-002", modules=MODULE)
class ChannelIdWebchat(DirectLineService):
    """Activities carry channelId "webchat"."""

    def stamp_bot_activity(self, conversation: Any, activity: Any) -> Any:
        stamped = super().stamp_bot_activity(conversation, activity)
        stamped["channelId"] = "webchat"
        return stamped


@mutant("DL-ACT-003", modules=MODULE)
class TimestampWithOffset(ClientActivityMutant):
    """Client activities are stamped with "+00:00" instead of "Z"."""

    def change(self, activity: dict[str, Any]) -> None:
        activity["timestamp"] = datetime.now(timezone.utc).isoformat()


@mutant("DL-ACT-004", modules=MODULE)
class TextNormalizedToNfc(ClientActivityMutant):
    """Message text is Unicode-normalized (NFC): combining marks are composed."""

    def change(self, activity: dict[str, Any]) -> None:
        if isinstance(activity.get("text"), str):
            activity["text"] = unicodedata.normalize("NFC", activity["text"])


@mutant("DL-ACT-004", modules=MODULE)
class AstralCharactersReplaced(ClientActivityMutant):
    """Characters outside the Basic Multilingual Plane (emoji) are replaced by U+FFFD."""

    def change(self, activity: dict[str, Any]) -> None:
        if isinstance(activity.get("text"), str):
            activity["text"] = "".join("\ufffd" if ord(c) > 0xFFFF else c for c in activity["text"])


@mutant("DL-ACT-005", modules=MODULE)
class ChannelDataGainsAKey(ClientActivityMutant):
    """channelData gets a key of the service's own (an object) or is dropped (anything else)."""

    def change(self, activity: dict[str, Any]) -> None:
        data = activity.get("channelData")
        if isinstance(data, dict):
            activity["channelData"] = {**data, "serviceStamp": "added"}
        elif data is not None:
            del activity["channelData"]


@mutant("DL-ACT-006", modules=MODULE)
class ValueAsString(ClientActivityMutant):
    """value is recorded as its JSON text."""

    def change(self, activity: dict[str, Any]) -> None:
        if "value" in activity and not isinstance(activity["value"], str):
            activity["value"] = json.dumps(activity["value"])


@mutant("DL-ACT-007", modules=MODULE)
class RecordedAttachmentsReversed(ClientActivityMutant):
    """Attachments are recorded in reverse order."""

    def change(self, activity: dict[str, Any]) -> None:
        if isinstance(activity.get("attachments"), list):
            activity["attachments"] = activity["attachments"][::-1]


@mutant("DL-ACT-007", modules=MODULE)
class ThumbnailUrlDropped(ClientActivityMutant):
    """Attachments lose their thumbnailUrl."""

    def change(self, activity: dict[str, Any]) -> None:
        if isinstance(activity.get("attachments"), list):
            activity["attachments"] = [
                {k: v for k, v in a.items() if k != "thumbnailUrl"} for a in activity["attachments"]
            ]


@mutant("DL-ACT-008", modules=MODULE)
class LocalTimestampInUtc(ClientActivityMutant):
    """localTimestamp is rewritten in UTC (the sender's offset lost)."""

    def change(self, activity: dict[str, Any]) -> None:
        value = activity.get("localTimestamp")
        if isinstance(value, str):
            moment = datetime.fromisoformat(value).astimezone(timezone.utc)
            activity["localTimestamp"] = moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@mutant("DL-ACT-008", modules=MODULE)
class ReplyToIdDropped(ClientActivityMutant):
    """The client's replyToId is not recorded."""

    def change(self, activity: dict[str, Any]) -> None:
        activity.pop("replyToId", None)


@mutant("DL-ACT-009", modules=MODULE)
class FromNameDropped(ClientActivityMutant):
    """from.name is dropped from client activities."""

    def change(self, activity: dict[str, Any]) -> None:
        if isinstance(activity.get("from"), dict):
            activity["from"] = {k: v for k, v in activity["from"].items() if k != "name"}


@mutant("DL-ACT-010", modules=MODULE)
class BotCardsLoseTheirContent(DirectLineService):
    """The bot's attachments reach the client without their content (cards flattened)."""

    def stamp_bot_activity(self, conversation: Any, activity: Any) -> Any:
        stamped = super().stamp_bot_activity(conversation, activity)
        if isinstance(stamped.get("attachments"), list):
            stamped["attachments"] = [
                {k: v for k, v in a.items() if k != "content"} for a in stamped["attachments"]
            ]
        return stamped


@mutant("DL-ACT-011", modules=MODULE)
class TextTrimmed(ClientActivityMutant):
    """Message text is trimmed of leading and trailing whitespace."""

    def change(self, activity: dict[str, Any]) -> None:
        if isinstance(activity.get("text"), str):
            activity["text"] = activity["text"].strip()


@mutant("DL-ACT-012", modules=MODULE)
class EndOfConversationCodeDropped(ClientActivityMutant):
    """An endOfConversation is recorded without its code."""

    def change(self, activity: dict[str, Any]) -> None:
        if activity.get("type") == "endOfConversation":
            activity.pop("code", None)
