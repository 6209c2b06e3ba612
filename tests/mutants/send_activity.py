"""Mutants of the send rules (suite module test_send_activity)."""

from __future__ import annotations

from typing import Any

from conformance.reference.activities import (
    ACCOUNT_FIELDS,
    ARRAY_FIELDS,
    BOOLEAN_FIELDS,
    OBJECT_FIELDS,
    STRING_FIELDS,
)
from conformance.reference.app import create_app
from conformance.reference.config import ServerConfig
from conformance.reference.errors import DirectLineError, bad_argument, service_error
from conformance.reference.service import DirectLineService
from tests.mutants.framework import StampMutant, mutant, recorded_activity
from tests.mutants.wire import with_request_body

MODULE = "test_send_activity"


@mutant("DL-SEND-001", modules=MODULE)
class SendAnswersNoId(DirectLineService):
    """A send answers 200 with an empty object: no ResourceResponse id."""

    async def post_activity(
        self, credential: Any, conversation_id: str, raw: bytes, origin: str
    ) -> Any:
        await super().post_activity(credential, conversation_id, raw, origin)
        return {}


@mutant("DL-SEND-002", modules=MODULE)
class EveryActivityUnderOneId(DirectLineService):
    """Every recorded activity of a conversation gets the same id (answered and recorded)."""

    async def accept_client_activity(
        self, conversation: Any, activity: Any, credential: Any, origin: str
    ) -> Any:
        answer = await super().accept_client_activity(conversation, activity, credential, origin)
        recorded = recorded_activity(conversation, answer["id"])
        if recorded is not None:
            recorded["id"] = answer["id"] = f"{conversation.id}|same"
        return answer


@mutant("DL-SEND-003", modules=MODULE)
class AnswersAnIdItNeverRecorded(DirectLineService):
    """A send answers an id other than the one the activity is recorded under."""

    async def accept_client_activity(
        self, conversation: Any, activity: Any, credential: Any, origin: str
    ) -> Any:
        answer = await super().accept_client_activity(conversation, activity, credential, origin)
        return {"id": answer["id"] + "-answered"}


@mutant("DL-SEND-004", modules=MODULE)
class RefusesCustomTypes(DirectLineService):
    """Activities of a type the server does not know (a custom type) are refused with 400."""

    def validate_client_activity(self, value: Any) -> Any:
        activity = super().validate_client_activity(value)
        if activity["type"] not in {"message", "typing", "event", "endOfConversation"}:
            raise bad_argument(f"Unknown activity type {activity['type']!r}")
        return activity


@mutant("DL-SEND-005", modules=MODULE)
class NonJsonAnswers422(DirectLineService):
    """A body that is not JSON is refused with 422 instead of 400."""

    def parse_activity_text(self, text: str) -> Any:
        try:
            return super().parse_activity_text(text)
        except DirectLineError as exc:
            if exc.status == 400:
                raise bad_argument(exc.message, status=422) from None
            raise


@mutant("DL-SEND-006", modules=MODULE)
class ArrayTakesTheFirstActivity(DirectLineService):
    """A JSON array of activities is accepted: the first one is sent."""

    def validate_client_activity(self, value: Any) -> Any:
        if isinstance(value, list) and value:
            value = value[0]
        return super().validate_client_activity(value)


@mutant("DL-SEND-007", modules=MODULE)
class TypeDefaultsToMessage(DirectLineService):
    """An activity without type is accepted as a message."""

    def validate_client_activity(self, value: Any) -> Any:
        if isinstance(value, dict) and value.get("type") is None:
            value = {**value, "type": "message"}
        return super().validate_client_activity(value)


@mutant("DL-SEND-008", modules=MODULE)
class TextOfAnyType(DirectLineService):
    """A non-string text is accepted (turned into a string)."""

    def validate_client_activity(self, value: Any) -> Any:
        if isinstance(value, dict) and isinstance(value.get("text"), int | float):
            value = {**value, "text": str(value["text"])}
        return super().validate_client_activity(value)


@mutant("DL-SEND-009", modules=MODULE, max_activity_chars=100_000)
class LimitAt100KCharacters(DirectLineService):
    """Activities over 100,000 characters are refused (413), under the recommended 150K."""


@mutant("DL-SEND-010", modules=MODULE, max_activity_chars=1_000_000)
class NoSizeLimit(DirectLineService):
    """Activities up to a million characters are accepted (300,000 characters pass)."""


@mutant("DL-SEND-010", modules=MODULE)
class OversizeAnswers500(DirectLineService):
    """An oversize activity answers 500 ServiceError (as the live service reportedly does)."""

    def parse_activity_text(self, text: str) -> Any:
        if len(text) > self.config.max_activity_chars:
            raise service_error()
        return super().parse_activity_text(text)


@mutant("DL-SEND-011", modules=MODULE)
class DropsPlainHttpAttachments(StampMutant):
    """Attachments whose contentUrl is plain http are silently dropped."""

    def alter(self, activity: dict[str, Any]) -> None:
        if isinstance(activity.get("attachments"), list):
            activity["attachments"] = [
                a
                for a in activity["attachments"]
                if not str(a.get("contentUrl", "")).startswith("http:")
            ]


@mutant("DL-SEND-011", modules=MODULE)
class DropsDataUrls(StampMutant):
    """A data: URL attachment loses its contentUrl (neither kept nor rehosted)."""

    def alter(self, activity: dict[str, Any]) -> None:
        if isinstance(activity.get("attachments"), list):
            activity["attachments"] = [
                {k: v for k, v in a.items() if not str(v).startswith("data:")}
                for a in activity["attachments"]
            ]


KNOWN_FIELDS = (
    STRING_FIELDS
    | BOOLEAN_FIELDS
    | ACCOUNT_FIELDS
    | OBJECT_FIELDS
    | set(ARRAY_FIELDS)
    | {"channelData", "value"}
)


@mutant("DL-SEND-012", modules=MODULE)
class RefusesUnknownFields(DirectLineService):
    """An activity with a field the Activity schema does not name is refused with 400."""

    def validate_client_activity(self, value: Any) -> Any:
        activity = super().validate_client_activity(value)
        unknown = sorted(set(activity) - KNOWN_FIELDS)
        if unknown:
            raise bad_argument(f"Unknown field {unknown[0]!r}")
        return activity


@mutant("DL-SEND-013", modules=MODULE)
def send_answers_201(config: ServerConfig) -> Any:
    """A send answers 201 Created (with its id) instead of 200."""

    def change(scope: dict[str, Any], body: bytes, message: dict[str, Any]) -> None:
        if (
            scope["method"] == "POST"
            and scope["path"].endswith("/activities")
            and message["status"] == 200
        ):
            message["status"] = 201

    return with_request_body(create_app(config), change)
