"""Mutants found by the property tests (test_fuzz_activities) and the conversation state
machine (test_conversation_machine): content a channel alters, history it re-delivers."""

from __future__ import annotations

from typing import Any

from conformance.reference.service import DirectLineService
from tests.mutants.framework import mutant

FUZZ = "test_fuzz_activities"
MACHINE = "test_conversation_machine"


class _TextMutant(DirectLineService):
    """Records a client activity with its text changed by ``alter``."""

    def alter(self, text: str) -> str:
        return text

    def stamp_client_activity(self, conversation: Any, activity: Any, *args: Any) -> Any:
        stamped = super().stamp_client_activity(conversation, activity, *args)
        if isinstance(stamped.get("text"), str):
            stamped["text"] = self.alter(stamped["text"])
        return stamped


@mutant("DL-ACT-004", modules=FUZZ)
class TrimsWhitespaceFromText(_TextMutant):
    """Message text is recorded with the whitespace at its ends trimmed."""

    def alter(self, text: str) -> str:
        return text.strip()


@mutant("DL-ACT-004", modules=FUZZ)
class DropsAstralCharacters(_TextMutant):
    """Characters outside the Basic Multilingual Plane (emoji...) are dropped from text."""

    def alter(self, text: str) -> str:
        return "".join(c for c in text if ord(c) <= 0xFFFF)


@mutant("DL-ACT-004", modules=FUZZ)
class TruncatesLongText(_TextMutant):
    """Text longer than 10,000 characters is cut to 10,000."""

    def alter(self, text: str) -> str:
        return text[:10_000]


@mutant("DL-ACT-005", modules=FUZZ)
class DropsChannelData(DirectLineService):
    """A client activity's channelData is not recorded."""

    def stamp_client_activity(self, conversation: Any, activity: Any, *args: Any) -> Any:
        stamped = super().stamp_client_activity(conversation, activity, *args)
        stamped.pop("channelData", None)
        return stamped


@mutant("DL-POLL-005", modules=MACHINE)
class RedeliversBelowTheWatermark(DirectLineService):
    """A non-empty answer to `?watermark=W` also carries the activity just before W again."""

    def get_activities(self, credential: Any, conversation_id: str, watermark: str | None) -> Any:
        body = super().get_activities(credential, conversation_id, watermark)
        if body["activities"] and watermark and watermark.isdigit() and int(watermark) > 0:
            conversation = self.store.get(conversation_id)
            body["activities"] = [conversation.activities[int(watermark) - 1], *body["activities"]]
        return body
