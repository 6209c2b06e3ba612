"""What Schemathesis found (tests/schemathesis): null items, malformed date-times and wrongly
typed nested fields are a 400 with an ErrorResponse, never a 500; and nothing the reference
stores, so nothing GET echoes, violates the official Swagger's ActivitySet."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.reference.activities import ARRAY_FIELDS

SWAGGER = Path(__file__).resolve().parent.parent / "schemathesis" / "directline-3.0.json"
SENDER = {"id": "user1"}
DATE_TIME_FIELDS = ("timestamp", "localTimestamp", "expiration")

#: Items of the wrong kind, by array field: an object for every array of objects, else a number.
_WRONG_ITEM = {name: (5 if kind is dict else {"a": 1}) for name, kind in ARRAY_FIELDS.items()}


def _activity(**fields: Any) -> dict[str, Any]:
    return {"type": "message", "from": dict(SENDER), **fields}


def _stored(client, conversation_id: str, activity_id: str) -> dict[str, Any]:
    found = [a for a in client.activities(conversation_id)["activities"] if a["id"] == activity_id]
    assert len(found) == 1, found
    return found[0]


def _refused(client, activity: Any, code: str = "BadArgument") -> str:
    conversation = client.start()
    body = client.assert_error(client.send(conversation.id, activity), 400, code)
    assert client.activities(conversation.id)["activities"] == []
    return body["error"]["message"]


@pytest.mark.parametrize("field", sorted(ARRAY_FIELDS))
def test_a_null_item_in_an_array_is_400(client, field):
    message = _refused(client, _activity(**{field: [None]}))
    assert f"{field}[0]" in message


@pytest.mark.parametrize("field", sorted(ARRAY_FIELDS))
def test_an_item_of_the_wrong_kind_is_400(client, field):
    message = _refused(client, _activity(**{field: [_WRONG_ITEM[field]]}))
    assert f"{field}[0]" in message


@pytest.mark.parametrize(
    "value",
    [
        "2024-01-01T12:99:00Z",
        "2024-02-30T10:00:00Z",
        "2024-01-01T24:00:00Z",
        "2024-01-01T12:00:60Z",
        "2024-01-01T12:00:00",
        "2024-01-01 12:00:00Z",
        "2024-01-01T12:00:00+24:00",
        "2024-01-01T12:00:00+0100",
        "2024-01-01T12:00:00Z\n",
        "2024-01-01",
        "yesterday",
        "",
    ],
)
@pytest.mark.parametrize("field", DATE_TIME_FIELDS)
def test_a_malformed_date_time_is_400(client, field, value):
    message = _refused(client, _activity(**{field: value}))
    assert field in message


@pytest.mark.parametrize(
    "value",
    [
        "2016-09-23T13:07:49.4714686-07:00",
        "2024-02-29T23:59:59Z",
        "2024-01-01t12:00:00z",
        "2024-01-01T12:00:00+23:59",
    ],
)
def test_a_valid_date_time_comes_back_unchanged(client, value):
    conversation = client.start()
    sent = client.message(conversation.id, "x", localTimestamp=value, expiration=value)
    stored = _stored(client, conversation.id, sent)
    assert (stored["localTimestamp"], stored["expiration"]) == (value, value)


@pytest.mark.parametrize(
    "fields",
    [
        {"membersAdded": [{"id": 5}]},
        {"membersRemoved": [{"id": "u", "role": []}]},
        {"reactionsAdded": [{"type": 1}]},
        {"textHighlights": [{"text": "a", "occurrence": "1"}]},
        {"textHighlights": [{"occurrence": 2**31}]},
        {"textHighlights": [{"occurrence": True}]},
        {"suggestedActions": {"to": [5]}},
        {"suggestedActions": {"to": [None]}},
        {"suggestedActions": {"actions": [{"title": 5}]}},
        {"suggestedActions": {"actions": [None]}},
        {"relatesTo": []},
        {"relatesTo": {"user": {"id": 5}}},
        {"relatesTo": {"conversation": {"isGroup": "no"}}},
        {"semanticAction": {"entities": {"a": {"type": 5}}}},
        {"semanticAction": {"entities": {"a": None}}},
        {"semanticAction": {"entities": []}},
        {"conversation": {"id": "c", "isGroup": "yes"}},
        {"attachments": [{"contentType": "image/png", "name": 5}]},
        {"entities": [{"type": None}, {"type": 5}]},
    ],
)
def test_a_nested_field_of_the_wrong_type_is_400(client, fields):
    _refused(client, _activity(**fields))


def test_null_in_a_known_field_is_absent_and_unknown_fields_are_untouched(client):
    conversation = client.start()
    sent = client.send(
        conversation.id,
        _activity(
            text=None,
            localTimestamp=None,
            suggestedActions={"to": None, "actions": [{"type": "imBack", "title": None}]},
            attachments=[{"contentType": "image/png", "name": None}],
            extra=None,
            custom={"keep": None},
        ),
    )
    assert sent.status_code == 200, sent.text
    stored = _stored(client, conversation.id, sent.json()["id"])
    assert "text" not in stored and "localTimestamp" not in stored
    assert stored["suggestedActions"] == {"actions": [{"type": "imBack"}]}
    assert stored["attachments"] == [{"contentType": "image/png"}]
    assert stored["extra"] is None and stored["custom"] == {"keep": None}


def test_members_holding_any_json_keep_scalars(client):
    """channelData, value, an attachment's content and a card action's value are C# `object`s
    in the Swagger: any JSON, carried unchanged (catalog DL-ACT-005, DL-ACT-006)."""
    conversation = client.start()
    fields = {
        "channelData": "plain",
        "value": [1, None],
        "attachments": [{"contentType": "text/plain", "content": 5}],
        "suggestedActions": {"actions": [{"type": "imBack", "value": "v", "channelData": 1}]},
    }
    sent = client.message(conversation.id, "x", **fields)
    stored = _stored(client, conversation.id, sent)
    assert {key: stored[key] for key in fields} == fields


def test_the_connector_refuses_a_null_item_too(client):
    conversation = client.start()
    url = f"{client.origin}/v3/conversations/{conversation.id}/activities"
    answer = client.call("POST", url, auth=None, json={"type": "message", "entities": [None]})
    client.assert_error(answer, 400, "BadArgument")


# -- what GET answers conforms to the official Swagger ----------------------------------------
def _activity_set_validator() -> Any:
    jsonschema_rs = pytest.importorskip("jsonschema_rs")
    swagger = json.loads(SWAGGER.read_text(encoding="utf-8"))
    definitions = swagger["definitions"]
    # The kit reads these C# `object` members as any JSON (see the module docstring of
    # conformance/reference/activities.py and tests/schemathesis/baseline.toml).
    for owner, member in [
        ("Activity", "channelData"),
        ("Activity", "value"),
        ("Attachment", "content"),
        ("CardAction", "value"),
        ("CardAction", "channelData"),
    ]:
        definitions[owner]["properties"][member] = {}
    schema = {"$ref": "#/definitions/ActivitySet", "definitions": definitions}
    return jsonschema_rs.validator_for(schema, validate_formats=True)


def test_a_rich_activity_comes_back_valid_against_the_swagger(client):
    validator = _activity_set_validator()
    conversation = client.start()
    client.message(
        conversation.id,
        "rich",
        localTimestamp="2016-09-23T13:07:49.4714686-07:00",
        expiration="2030-01-01T00:00:00Z",
        summary=None,
        membersAdded=[{"id": "m", "name": None}],
        textHighlights=[{"text": "r", "occurrence": 1}],
        relatesTo={"activityId": "a", "user": {"id": "u"}, "conversation": {"isGroup": False}},
        semanticAction={"id": "s", "state": "start", "entities": {"e": {"type": "t"}}},
        attachments=[{"contentType": "application/json", "content": {"k": [1]}}],
        entities=[{"type": "mention", "text": "@bot"}],
        listenFor=["yes"],
        value={"v": 1},
    )
    answer = client.get(conversation.id)
    assert answer.status_code == 200
    assert len(answer.json()["activities"]) == 2  # the message and the echo bot's reply
    errors = [e.message for e in validator.iter_errors(answer.json())]
    assert errors == []


# -- the date-time rule never accepts what a strict RFC 3339 validator refuses -----------------
_DIGITS = st.text("0123456789", min_size=1, max_size=5)
_NEAR_DATE_TIMES = st.builds(
    "{}-{}-{}{}{}:{}:{}{}{}".format,
    _DIGITS,
    _DIGITS,
    _DIGITS,
    st.sampled_from("Tt xZ"),
    _DIGITS,
    _DIGITS,
    _DIGITS,
    st.sampled_from(["", ".5", ".", ".1234567", ","]),
    st.sampled_from(["Z", "z", "+01:00", "-23:59", "+24:00", "+0100", "", "Z\n", "+1:00"]),
)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(_NEAR_DATE_TIMES)
def test_an_accepted_date_time_is_valid_rfc_3339(text):
    from conformance.reference.activities import is_date_time

    jsonschema_rs = pytest.importorskip("jsonschema_rs")
    strict = jsonschema_rs.validator_for({"format": "date-time"}, validate_formats=True)
    if is_date_time(text):
        assert strict.is_valid(text), text


def test_an_empty_type_is_a_missing_type(client):
    """The Swagger allows "" for `type`; the Activity spec wants a type (A2010): an empty one
    is refused like an absent one, MissingProperty."""
    _refused(client, _activity(type=""), code="MissingProperty")
