"""The shape of an activity a client may send, as data (Swagger `Activity` definition).

A client activity is refused with 400 only for what would break the wire contract: not an
object, no string `type`, or a known field holding the wrong JSON type (activity spec A2003,
DL-SEND-006..008). Unknown fields are kept untouched (A2005, DL-SEND-012), and so are
`channelData` and `value`, which hold any JSON. `null` stands for an absent optional field.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from .errors import bad_argument, missing_property

__all__ = [
    "ACCOUNT_FIELDS",
    "ARRAY_FIELDS",
    "BOOLEAN_FIELDS",
    "OBJECT_FIELDS",
    "STRING_FIELDS",
    "check_activity_shape",
    "type_is",
    "utc_timestamp",
]

STRING_FIELDS = frozenset(
    {
        "type",
        "id",
        "timestamp",
        "localTimestamp",
        "localTimezone",
        "serviceUrl",
        "channelId",
        "textFormat",
        "attachmentLayout",
        "topicName",
        "locale",
        "text",
        "speak",
        "inputHint",
        "summary",
        "action",
        "replyToId",
        "label",
        "valueType",
        "name",
        "code",
        "expiration",
        "importance",
        "deliveryMode",
        "callerId",
    }
)
BOOLEAN_FIELDS = frozenset({"historyDisclosed"})
ACCOUNT_FIELDS = frozenset({"from", "recipient", "conversation"})
OBJECT_FIELDS = frozenset({"suggestedActions", "relatesTo", "semanticAction"})
ARRAY_FIELDS: dict[str, type] = {
    "attachments": dict,
    "entities": dict,
    "membersAdded": dict,
    "membersRemoved": dict,
    "reactionsAdded": dict,
    "reactionsRemoved": dict,
    "textHighlights": dict,
    "listenFor": str,
}
_ACCOUNT_STRINGS = ("id", "name", "role", "aadObjectId", "conversationType", "tenantId")
_ATTACHMENT_STRINGS = ("contentType", "contentUrl", "name", "thumbnailUrl")
_JSON_TYPE_NAMES = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}


def _is(value: Any, kind: type) -> bool:
    if kind is dict or kind is list or kind is str:
        return isinstance(value, kind)
    return type(value) is kind


def _expect(value: Any, kind: type, where: str) -> None:
    if value is not None and not _is(value, kind):
        raise bad_argument(f"'{where}' must be {_JSON_TYPE_NAMES[kind]}")


def _check_strings(obj: dict[str, Any], names: tuple[str, ...], where: str) -> None:
    for name in names:
        _expect(obj.get(name), str, f"{where}.{name}")


def check_activity_shape(value: Any) -> dict[str, Any]:
    """Return the activity if its known fields have the right JSON types, else raise 400."""
    if not isinstance(value, dict):
        raise bad_argument("The body must be one activity: a JSON object")
    if value.get("type") is None:
        raise missing_property("Missing 'Activity.Type' field")
    for name, field_value in value.items():
        if field_value is None:
            continue
        if name in STRING_FIELDS:
            _expect(field_value, str, name)
        elif name in BOOLEAN_FIELDS:
            _expect(field_value, bool, name)
        elif name in ACCOUNT_FIELDS:
            _expect(field_value, dict, name)
            _check_strings(field_value, _ACCOUNT_STRINGS, name)
            _expect(field_value.get("isGroup"), bool, f"{name}.isGroup")
        elif name in OBJECT_FIELDS:
            _expect(field_value, dict, name)
        elif name in ARRAY_FIELDS:
            _expect(field_value, list, name)
            for index, item in enumerate(field_value):
                _expect(item, ARRAY_FIELDS[name], f"{name}[{index}]")
    for index, attachment in enumerate(value.get("attachments") or ()):
        _check_strings(attachment, _ATTACHMENT_STRINGS, f"attachments[{index}]")
    for index, entity in enumerate(value.get("entities") or ()):
        _expect(entity.get("type"), str, f"entities[{index}].type")
    suggested = value.get("suggestedActions")
    if suggested:
        _expect(suggested.get("actions"), list, "suggestedActions.actions")
        _expect(suggested.get("to"), list, "suggestedActions.to")
    if not value["type"]:
        raise bad_argument("'type' must not be empty")
    return value


def type_is(activity: dict[str, Any], kind: str) -> bool:
    """Two types are equal only if ordinally identical (activity spec A2011)."""
    return activity.get("type") == kind


def utc_timestamp() -> str:
    """ISO 8601 UTC with microseconds and a `Z` (activity A2040, A2043)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
