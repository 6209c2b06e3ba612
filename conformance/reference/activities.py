"""The shape of an activity a client may send, as data (Swagger `Activity` and the definitions it
refers to: ChannelAccount, ConversationAccount, Attachment, Entity, SuggestedActions,
CardAction, MessageReaction, TextHighlight, ConversationReference, SemanticAction).

A client activity is refused with 400 for what would break the wire contract: not an object, no
string `type`, or a known field, at any depth, holding the wrong JSON type, a null item in an
array, a date-time that is not RFC 3339 or an int32 out of range (activity spec A2003,
DL-SEND-006..008). Whatever is stored is echoed back by GET and the stream, so this is also what
keeps every answer valid against the Swagger.

Unknown fields are kept untouched (A2005, DL-SEND-012), and so are `channelData`, `value`,
`Attachment.content` and `CardAction.value`/`channelData`, which hold any JSON (the Swagger's
`object` there is C#'s `object`, see specs/directline-3.0/schemas/activity.json). `null` in a
known field stands for an absent field: it is accepted, and left out of what is stored.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from .errors import bad_argument, missing_property

__all__ = [
    "ACCOUNT_FIELDS",
    "ARRAY_FIELDS",
    "BOOLEAN_FIELDS",
    "DATE_TIME_FIELDS",
    "OBJECT_FIELDS",
    "STRING_FIELDS",
    "check_activity_shape",
    "is_date_time",
    "type_is",
    "utc_timestamp",
]


# -- the kinds of values ----------------------------------------------------------------------
@dataclass(frozen=True)
class Scalar:
    """A JSON string, boolean or integer, with an optional extra rule (a format, a range)."""

    kind: type
    what: str  #: how the error message names it: "a string", "an RFC 3339 date-time"
    rule: Callable[[Any], bool] | None = None

    def accepts(self, value: Any) -> bool:
        # bool is an int to Python, not to JSON: only strings may be a subclass
        right_type = isinstance(value, str) if self.kind is str else type(value) is self.kind
        return right_type and (self.rule is None or self.rule(value))


@dataclass(frozen=True)
class Shape:
    """An object whose named members have known kinds; other members are free."""

    members: Mapping[str, Kind]


@dataclass(frozen=True)
class ArrayOf:
    """An array whose items all have one kind (never null)."""

    item: Kind


@dataclass(frozen=True)
class MapOf:
    """An object whose values all have one kind (Swagger `additionalProperties`)."""

    value: Kind


class AnyJson:
    """Any JSON value, kept exactly as sent."""


Kind = Scalar | Shape | ArrayOf | MapOf | AnyJson

STRING = Scalar(str, "a string")
BOOLEAN = Scalar(bool, "a boolean")
INT32 = Scalar(int, "a 32-bit integer", lambda n: -(2**31) <= n < 2**31)
DATE_TIME = Scalar(
    str,
    "an RFC 3339 date-time such as 2016-09-23T13:07:49.4714686-07:00",
    lambda text: is_date_time(text),
)
ANY = AnyJson()


def _strings(*names: str) -> dict[str, Kind]:
    return dict.fromkeys(names, STRING)


CHANNEL_ACCOUNT = Shape(_strings("id", "name", "aadObjectId", "role"))
CONVERSATION_ACCOUNT = Shape(
    {
        **_strings("id", "name", "aadObjectId", "role", "conversationType", "tenantId"),
        "isGroup": BOOLEAN,
    }
)
ATTACHMENT = Shape(
    {**_strings("contentType", "contentUrl", "name", "thumbnailUrl"), "content": ANY}
)
ENTITY = Shape(_strings("type"))
MESSAGE_REACTION = Shape(_strings("type"))
CARD_ACTION = Shape(
    {
        **_strings("type", "title", "image", "imageAltText", "text", "displayText"),
        "value": ANY,
        "channelData": ANY,
    }
)
SUGGESTED_ACTIONS = Shape({"to": ArrayOf(STRING), "actions": ArrayOf(CARD_ACTION)})
TEXT_HIGHLIGHT = Shape({"text": STRING, "occurrence": INT32})
CONVERSATION_REFERENCE = Shape(
    {
        **_strings("activityId", "channelId", "serviceUrl", "locale"),
        "user": CHANNEL_ACCOUNT,
        "bot": CHANNEL_ACCOUNT,
        "conversation": CONVERSATION_ACCOUNT,
    }
)
SEMANTIC_ACTION = Shape({**_strings("state", "id"), "entities": MapOf(ENTITY)})

ACTIVITY = Shape(
    {
        **_strings(
            "type",
            "id",
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
            "importance",
            "deliveryMode",
            "callerId",
        ),
        "timestamp": DATE_TIME,
        "localTimestamp": DATE_TIME,
        "expiration": DATE_TIME,
        "historyDisclosed": BOOLEAN,
        "from": CHANNEL_ACCOUNT,
        "recipient": CHANNEL_ACCOUNT,
        "conversation": CONVERSATION_ACCOUNT,
        "suggestedActions": SUGGESTED_ACTIONS,
        "relatesTo": CONVERSATION_REFERENCE,
        "semanticAction": SEMANTIC_ACTION,
        "attachments": ArrayOf(ATTACHMENT),
        "entities": ArrayOf(ENTITY),
        "membersAdded": ArrayOf(CHANNEL_ACCOUNT),
        "membersRemoved": ArrayOf(CHANNEL_ACCOUNT),
        "reactionsAdded": ArrayOf(MESSAGE_REACTION),
        "reactionsRemoved": ArrayOf(MESSAGE_REACTION),
        "textHighlights": ArrayOf(TEXT_HIGHLIGHT),
        "listenFor": ArrayOf(STRING),
        "channelData": ANY,
        "value": ANY,
    }
)

# Field groups by kind (the mutants name the known fields through these).
_TOP = ACTIVITY.members
STRING_FIELDS = frozenset(n for n, k in _TOP.items() if isinstance(k, Scalar) and k.kind is str)
DATE_TIME_FIELDS = frozenset(n for n, k in _TOP.items() if k is DATE_TIME)
BOOLEAN_FIELDS = frozenset(n for n, k in _TOP.items() if k is BOOLEAN)
ACCOUNT_FIELDS = frozenset({"from", "recipient", "conversation"})
OBJECT_FIELDS = frozenset(
    n for n, k in _TOP.items() if isinstance(k, Shape) and n not in ACCOUNT_FIELDS
)
ARRAY_FIELDS: dict[str, type] = {
    n: str if k.item is STRING else dict for n, k in _TOP.items() if isinstance(k, ArrayOf)
}


# -- RFC 3339 date-times ----------------------------------------------------------------------
_DATE_TIME = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d):(\d\d)(?:\.\d+)?(?:[Zz]|[+-](\d\d):(\d\d))",
    re.ASCII,
)


def is_date_time(value: str) -> bool:
    """Whether `value` is an RFC 3339 `date-time` (the Swagger's format): a real calendar day,
    hours 00-23, minutes and seconds 00-59, an offset of at most 23:59. Stricter than the RFC
    on two rare points, so whatever is accepted also passes any validator: a leap second (:60)
    and the year 0000 are refused. (rfc3339-validator is no help: its `$` lets a trailing
    newline through.)"""
    match = _DATE_TIME.fullmatch(value)
    if match is None:
        return False
    year, month, day, hour, minute, second, off_hour, off_minute = match.groups()
    try:
        date(int(year), int(month), int(day))
    except ValueError:
        return False
    if int(hour) > 23 or int(minute) > 59 or int(second) > 59:
        return False
    return off_hour is None or (int(off_hour) <= 23 and int(off_minute) <= 59)


# -- checking ---------------------------------------------------------------------------------
def _describe(kind: Kind) -> str:
    if isinstance(kind, Scalar):
        return kind.what
    if isinstance(kind, ArrayOf):
        return "an array"
    return "an object"


def _check(value: Any, kind: Kind, where: str) -> Any:
    """`value` as stored (null members of known shapes left out), or a 400 naming `where`."""
    if isinstance(kind, AnyJson):
        return value
    if isinstance(kind, Scalar):
        if not kind.accepts(value):
            raise bad_argument(f"'{where}' must be {kind.what}")
        return value
    if isinstance(kind, ArrayOf):
        if not isinstance(value, list):
            raise bad_argument(f"'{where}' must be an array")
        for index, item in enumerate(value):
            if item is None:
                raise bad_argument(f"'{where}[{index}]' must be {_describe(kind.item)}, not null")
        return [_check(item, kind.item, f"{where}[{index}]") for index, item in enumerate(value)]
    if not isinstance(value, dict):
        raise bad_argument(f"'{where}' must be an object")
    if isinstance(kind, MapOf):
        for key, item in value.items():
            if item is None:
                raise bad_argument(f"'{where}.{key}' must be {_describe(kind.value)}, not null")
        return {key: _check(item, kind.value, f"{where}.{key}") for key, item in value.items()}
    return _check_members(value, kind, where + ".")


def _check_members(value: dict[str, Any], shape: Shape, prefix: str) -> dict[str, Any]:
    checked: dict[str, Any] = {}
    for name, member in value.items():
        kind = shape.members.get(name)
        if kind is None:
            checked[name] = member
        elif member is not None:
            checked[name] = _check(member, kind, prefix + name)
    return checked


def check_activity_shape(value: Any) -> dict[str, Any]:
    """The activity as it is to be stored (see the module docstring), or a 400."""
    if not isinstance(value, dict):
        raise bad_argument("The body must be one activity: a JSON object")
    if value.get("type") is None:
        raise missing_property("Missing 'Activity.Type' field")
    activity = _check_members(value, ACTIVITY, "")
    if not activity["type"]:  # an empty type names no type at all
        raise missing_property("Missing 'Activity.Type' field: the type is empty")
    return activity


def type_is(activity: dict[str, Any], kind: str) -> bool:
    """Two types are equal only if ordinally identical (activity spec A2011)."""
    return activity.get("type") == kind


_last_second: tuple[int, str] = (-1, "")
"""The last whole second stamped, formatted (one tuple, so threads never see half of it):
every activity is stamped, and formatting a date costs more than the rest of the stamp."""


def utc_timestamp() -> str:
    """ISO 8601 UTC with microseconds and a `Z` (activity A2040, A2043)."""
    global _last_second
    now = time.time()
    second = int(now)
    last = _last_second
    if last[0] != second:
        last = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
        _last_second = last
    return f"{last[1]}.{int((now - second) * 1_000_000):06d}Z"
