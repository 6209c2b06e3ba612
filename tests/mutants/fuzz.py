"""Mutants found by the property tests (test_fuzz_activities) and the conversation state
machine (test_conversation_machine): content a channel alters, history it re-delivers."""

from __future__ import annotations

import hashlib
from typing import Any

from conformance.reference.config import ServerConfig
from conformance.reference.errors import DirectLineError, bad_argument, conversation_ended
from conformance.reference.service import DirectLineService, StreamSubscription
from conformance.reference.store import (
    Conversation,
    ConversationStore,
    Subscriber,
    activity_set,
)
from conformance.reference.tokens import STREAM
from conformance.reference.wire import dumps
from tests.mutants.framework import StampMutant, mutant

FUZZ = "test_fuzz_activities"
MACHINE = "test_conversation_machine"
#: The property each mutant proves able to fail (several tests of a module share requirements).
ACCEPTED = "test_generated_activity_is_accepted_with_an_id"
INTACT = "test_generated_activity_comes_back_intact"
UNIQUE = "test_generated_sends_answer_unique_ids"
REFUSED = "test_generated_invalid_activity_is_refused"
POLLING = "test_machine_polling_loses_nothing_and_repeats_nothing"
STREAMS = "test_machine_streams_deliver_once_in_order_across_reconnects"
REFUSED_AFTER_END = "test_machine_sends_after_end_are_refused"
ACCEPTED_AFTER_END = "test_machine_sends_after_end_are_accepted_when_forwarded"


class _TextMutant(StampMutant):
    """Records a client activity with its text changed by ``alter_text``."""

    def alter_text(self, text: str) -> str:
        return text

    def alter(self, activity: dict[str, Any]) -> None:
        if isinstance(activity.get("text"), str):
            activity["text"] = self.alter_text(activity["text"])


@mutant("DL-ACT-004", modules=FUZZ, tests=INTACT)
class TrimsWhitespaceFromText(_TextMutant):
    """Message text is recorded with the whitespace at its ends trimmed."""

    def alter_text(self, text: str) -> str:
        return text.strip()


@mutant("DL-ACT-004", modules=FUZZ, tests=INTACT)
class DropsAstralCharacters(_TextMutant):
    """Characters outside the Basic Multilingual Plane (emoji...) are dropped from text."""

    def alter_text(self, text: str) -> str:
        return "".join(c for c in text if ord(c) <= 0xFFFF)


@mutant("DL-ACT-004", modules=FUZZ, tests=INTACT)
class TruncatesLongText(_TextMutant):
    """Text longer than 10,000 characters is cut to 10,000."""

    def alter_text(self, text: str) -> str:
        return text[:10_000]


@mutant("DL-ACT-005", modules=FUZZ, tests=INTACT)
class DropsChannelData(StampMutant):
    """A client activity's channelData is not recorded."""

    def alter(self, activity: dict[str, Any]) -> None:
        activity.pop("channelData", None)


@mutant("DL-POLL-005", modules=MACHINE, tests=POLLING)
class RedeliversBelowTheWatermark(DirectLineService):
    """A non-empty answer to `?watermark=W` also carries the activity just before W again."""

    def get_activities(self, credential: Any, conversation_id: str, watermark: str | None) -> Any:
        body = super().get_activities(credential, conversation_id, watermark)
        if body["activities"] and watermark and watermark.isdigit() and int(watermark) > 0:
            conversation = self.store.get(conversation_id)
            body["activities"] = [conversation.activities[int(watermark) - 1], *body["activities"]]
        return body


# -- test_fuzz_activities: what only generated activities reach --------------------------------
def _nests_an_array(value: Any, inside: bool = False) -> bool:
    """Whether an array sits somewhere below an object in ``value``."""
    if isinstance(value, dict):
        return any(_nests_an_array(v, True) for v in value.values())
    if isinstance(value, list):
        return inside or any(_nests_an_array(v, inside) for v in value)
    return False


@mutant("DL-ERR-004", modules=FUZZ, tests=ACCEPTED)
class CrashesOnArraysInChannelData(DirectLineService):
    """A channelData object holding an array crashes the server (500), a flattening bug that
    only JSON nested the generated way sets off."""

    def validate_client_activity(self, value: Any) -> Any:
        activity = super().validate_client_activity(value)
        if _nests_an_array(activity.get("channelData")):
            raise RuntimeError("channelData: cannot flatten an array below an object")
        return activity


@mutant("DL-SEND-001", modules=FUZZ, tests=ACCEPTED)
class RefusesAstralTextWithNewlines(DirectLineService):
    """Text holding both a character outside the BMP and a newline is refused with 400 (a
    line splitter counting UTF-16 units), though the activity is valid."""

    def validate_client_activity(self, value: Any) -> Any:
        activity = super().validate_client_activity(value)
        text = activity.get("text")
        if isinstance(text, str) and "\n" in text and any(ord(c) > 0xFFFF for c in text):
            raise bad_argument("'text' has a line that cannot be split")
        return activity


class _ContentIdConversation(Conversation):
    """Ids a digest of the content (a misused idempotency key), not a sequence."""

    __slots__ = ()

    def record(self, activity: dict[str, Any]) -> dict[str, Any]:
        content = {k: v for k, v in activity.items() if k not in ("id", "timestamp")}
        digest = hashlib.sha256(dumps(content).encode("utf-8")).hexdigest()[:16]
        activity["id"] = f"{self.id}|{digest}"
        self.activities.append(activity)
        self.broadcast(activity_set([activity], self.watermark))
        return activity


class _ContentIdStore(ConversationStore):
    def create(self, user: dict[str, str] | None = None) -> Conversation:
        plain = super().create(user)
        conversation = _ContentIdConversation(plain.id, user=user)
        self._conversations[plain.id] = conversation
        return conversation


@mutant("DL-SEND-002", modules=FUZZ, tests=UNIQUE)
class IdsFromContent(DirectLineService):
    """An activity's id is a digest of its content, so two identical sends in one
    conversation are answered the same id."""

    def __init__(self, config: ServerConfig, store: ConversationStore | None = None) -> None:
        super().__init__(config, store if store is not None else _ContentIdStore())


@mutant("DL-SEND-007", modules=FUZZ, tests=REFUSED)
class TypelessActivityIsAMessage(DirectLineService):
    """An activity without a type is accepted as a message instead of refused."""

    def validate_client_activity(self, value: Any) -> Any:
        if isinstance(value, dict) and value.get("type") is None:
            value = {**value, "type": "message"}
        return super().validate_client_activity(value)


@mutant("DL-SEND-008", modules=FUZZ, tests=REFUSED)
class AcceptsAttachmentsThatAreNoArray(DirectLineService):
    """`attachments` holding an object, a string or a number is accepted and recorded."""

    def validate_client_activity(self, value: Any) -> Any:
        if isinstance(value, dict) and not isinstance(value.get("attachments"), list | None):
            rest = {k: v for k, v in value.items() if k != "attachments"}
            return {**super().validate_client_activity(rest), "attachments": value["attachments"]}
        return super().validate_client_activity(value)


@mutant("DL-ERR-004", modules=FUZZ, tests=REFUSED)
class CrashesOnStructuredText(DirectLineService):
    """`text` holding an array or an object crashes the server (500) instead of a 400."""

    def validate_client_activity(self, value: Any) -> Any:
        if isinstance(value, dict) and isinstance(value.get("text"), list | dict):
            raise TypeError("'text' is not a string")
        return super().validate_client_activity(value)


@mutant("DL-ERR-004", modules=FUZZ, tests=REFUSED)
class CrashesOnNullItems(DirectLineService):
    """An attachments or entities array holding null crashes the server (500) instead of a
    400: reading each item's fields without checking it is an object. Schemathesis found the
    reference doing this (tests/schemathesis)."""

    def validate_client_activity(self, value: Any) -> Any:
        if isinstance(value, dict):
            for name in ("attachments", "entities"):
                items = value.get(name)
                if isinstance(items, list) and None in items:
                    raise AttributeError("'NoneType' object has no attribute 'get'")
        return super().validate_client_activity(value)


@mutant("DL-SEND-008", modules=FUZZ, tests=REFUSED)
class AcceptsMalformedDateTimes(DirectLineService):
    """A localTimestamp or expiration that is no date-time (minute 99, February 30) is
    accepted and echoed back as sent, as Schemathesis found the reference doing."""

    def validate_client_activity(self, value: Any) -> Any:
        if not isinstance(value, dict):
            return super().validate_client_activity(value)
        dates = {
            k: value[k] for k in ("localTimestamp", "expiration") if isinstance(value.get(k), str)
        }
        rest = {k: v for k, v in value.items() if k not in dates}
        return {**super().validate_client_activity(rest), **dates}


#: The fields test_generated_invalid_activity_is_refused gives a wrong type, and their type.
_FIELD_TYPES: dict[str, type] = {"text": str, "from": dict, "attachments": list, "entities": list}


@mutant("DL-ERR-001", modules=FUZZ, tests=REFUSED)
class ErrorMessageIsTheOffendingValue(DirectLineService):
    """The 400 for a wrongly typed field carries the field's value as its `message`: not a
    string whenever the value is not one."""

    def validate_client_activity(self, value: Any) -> Any:
        try:
            return super().validate_client_activity(value)
        except DirectLineError as err:
            for name, kind in _FIELD_TYPES.items():
                field = value.get(name) if isinstance(value, dict) else None
                if field is not None and not isinstance(field, kind):
                    raise DirectLineError(err.status, err.code, field) from None
            raise


# -- test_conversation_machine: streams across reconnects, sends after the end ------------------
@mutant("DL-EOC-003", modules=MACHINE, tests=REFUSED_AFTER_END)
class EventsAcceptedAfterEnd(DirectLineService):
    """After the client's endOfConversation, messages are refused but events still accepted."""

    async def post_activity(
        self, credential: Any, conversation_id: str, raw: bytes, origin: str
    ) -> Any:
        conversation = self.authorize(credential, conversation_id)
        activity = self.validate_client_activity(self.parse_activity_body(raw))
        if activity.get("type") != "event":
            self.check_open(conversation)
        return await self.accept_client_activity(conversation, activity, credential, origin)


@mutant(
    "DL-EOC-007",
    modules=MACHINE,
    end_of_conversation="forward",
    server_end_of_conversation="forward",
    tests=ACCEPTED_AFTER_END,
)
class EventsRefusedAfterEndWhenForwarded(DirectLineService):
    """Under the forward reading, events sent after the client's endOfConversation are refused
    (409); messages are accepted."""

    def __init__(self, config: ServerConfig, store: ConversationStore | None = None) -> None:
        super().__init__(config, store)
        self.ended: set[str] = set()

    async def post_activity(
        self, credential: Any, conversation_id: str, raw: bytes, origin: str
    ) -> Any:
        conversation = self.authorize(credential, conversation_id)
        activity = self.validate_client_activity(self.parse_activity_body(raw))
        if conversation.id in self.ended and activity.get("type") == "event":
            raise conversation_ended()
        if activity.get("type") == "endOfConversation":
            self.ended.add(conversation.id)
        return await self.accept_client_activity(conversation, activity, credential, origin)


class _TwiceSubscriber(Subscriber):
    """A feed that queues every live ActivitySet twice."""

    __slots__ = ()

    def push(self, item: dict[str, Any]) -> None:
        super().push(item)
        super().push(item)


@mutant("DL-STREAM-007", modules=MACHINE, tests=STREAMS)
class ResumedStreamsRepeatLiveActivities(DirectLineService):
    """A stream opened from a reconnect's streamUrl (a watermark past 0) sends every live
    ActivitySet twice, as if the resumed socket were subscribed once per connection."""

    def open_stream(self, conversation_id: str, stream_token: str | None) -> Any:
        subscription = super().open_stream(conversation_id, stream_token)
        if stream_token and (self.tokens.verify(stream_token, STREAM).watermark or 0) > 0:
            conversation = subscription.conversation
            conversation.unsubscribe(subscription.subscriber)
            twice = _TwiceSubscriber(self.stream_queue_size)
            conversation.subscribe(twice, conversation.watermark)
            subscription = StreamSubscription(conversation, twice, subscription.backlog)
        return subscription
