"""The wire schemas: well-formed, self-contained, true to the docs' examples, strict enough."""

from __future__ import annotations

import json
import re
import shutil
import urllib.request
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator, Draft202012Validator
from referencing.exceptions import Unresolvable

from conformance import catalog
from conformance.catalog import CatalogError, schema, schema_names, validate

UPSTREAM_DOCS = Path(__file__).resolve().parents[2] / "shared" / "spec" / "upstream" / "docs"

WIRE_OBJECTS = {
    "activity",
    "activity-set",
    "attachment",
    "card-action",
    "channel-account",
    "conversation",
    "conversation-account",
    "conversation-reference",
    "delivered-activity",
    "entity",
    "error-response",
    "generate-token-answer",
    "message-reaction",
    "reconnect-answer",
    "refresh-token-answer",
    "resource-response",
    "semantic-action",
    "start-conversation-answer",
    "suggested-actions",
    "text-highlight",
    "token-parameters",
}
ANSWER_VIEWS = [
    "start-conversation-answer",
    "generate-token-answer",
    "refresh-token-answer",
    "reconnect-answer",
]
# Keywords draft-07 reads the same way (so hypothesis-jsonschema can use the files), plus the
# document's own $schema/$id. allOf is draft-07 too; it is how delivered-activity extends activity.
DRAFT07_SUBSET = {
    "$schema",
    "$id",
    "$ref",
    "$comment",
    "title",
    "description",
    "type",
    "properties",
    "required",
    "items",
    "enum",
    "const",
    "minLength",
    "minimum",
    "pattern",
    "format",
    "additionalProperties",
    "oneOf",
    "anyOf",
    "allOf",
}
BASE = "https://directline-conformance.dev/schemas/directline-3.0/"

# --- the docs' own examples, quoted (checked against the pages below when they are present) ---

DOC_TOKEN = (
    "RCurR_XV9ZA.cwA.BKA.iaJrC8xpy8qbOF5xnR2vtCX7CZj0LdjAPGfiCpg4Fv0"
    "y8qbOF5xPGfiCpg4Fv0y8qqbOF5x8qbOF5xn"
)
DOC_REFRESHED_TOKEN = (
    "RCurR_XV9ZA.cwA.BKA.y8qbOF5xPGfiCpg4Fv0y8qqbOF5x8qbOF5xn"
    "iaJrC8xpy8qbOF5xnR2vtCX7CZj0LdjAPGfiCpg4Fv0"
)
# start § Open a new conversation > Response
START_ANSWER = {
    "conversationId": "abc123",
    "token": DOC_TOKEN,
    "expires_in": 1800,
    "streamUrl": "https://directline.botframework.com/v3/directline/conversations/abc123/stream"
    "?t=RCurR_XV9ZA.cwA...",
}
# auth § Generate a Direct Line token > Response
GENERATE_ANSWER = {
    "conversationId": "abc123",
    "token": DOC_TOKEN,
    "expires_in": 1800,
}
# auth § Refresh a Direct Line token > Response
REFRESH_ANSWER = {
    "conversationId": "abc123",
    "token": DOC_REFRESHED_TOKEN,
    "expires_in": 1800,
}
# reconnect § Generate a new WebSocket stream URL > Response (its '&amp;' kept verbatim)
RECONNECT_ANSWER = {
    "conversationId": "abc123",
    "token": DOC_TOKEN,
    "streamUrl": "https://directline.botframework.com/v3/directline/conversations/abc123/stream"
    "?watermark=000a-4&amp;t=RCurR_XV9ZA.cwA...",
}
# receive § Receive activities via WebSocket stream > Receive messages
STREAM_ACTIVITY_SET = {
    "activities": [
        {
            "type": "message",
            "channelId": "directline",
            "conversation": {"id": "abc123"},
            "id": "abc123|0000",
            "from": {"id": "user1"},
            "text": "hello",
        }
    ],
    "watermark": "0000a-42",
}
# receive § Retrieve activities with HTTP GET > Response
GET_ACTIVITY_SET = {
    "activities": [
        {
            "type": "message",
            "channelId": "directline",
            "conversation": {"id": "abc123"},
            "id": "abc123|0000",
            "from": {"id": "user1"},
            "text": "hello",
        },
        {
            "type": "message",
            "channelId": "directline",
            "conversation": {"id": "abc123"},
            "id": "abc123|0001",
            "from": {"id": "bot1"},
            "text": "Nice to see you, user1!",
        },
    ],
    "watermark": "0001a-95",
}
# ref § HTTP status codes > Errors > Response
ERROR_502 = {
    "error": {
        "code": "BotRejectedActivity",
        "message": "Failed to send activity: bot returned an error",
    }
}
# send § Send an activity > Request
SEND_REQUEST = {"locale": "en-EN", "type": "message", "from": {"id": "user1"}, "text": "hello"}
# send § Send an activity > Response
SEND_ANSWER = {"id": "0001"}
# send § Send a single attachment by upload > Response
UPLOAD_ANSWER = {"id": "0003"}
# end § Send an endOfConversation activity > Request / > Response
EOC_REQUEST = {"type": "endOfConversation", "from": {"id": "user1"}}
EOC_ANSWER = {"id": "0004"}
# auth § Generate a Direct Line token > Request
TOKEN_PARAMETERS = {"user": {"id": "string", "name": "string"}, "trustedOrigins": ["string"]}

DOC_EXAMPLES = [
    ("start-conversation-answer", START_ANSWER),
    ("conversation", START_ANSWER),
    ("generate-token-answer", GENERATE_ANSWER),
    ("refresh-token-answer", REFRESH_ANSWER),
    ("reconnect-answer", RECONNECT_ANSWER),
    ("activity-set", STREAM_ACTIVITY_SET),
    ("activity-set", GET_ACTIVITY_SET),
    ("error-response", ERROR_502),
    ("activity", SEND_REQUEST),
    ("resource-response", SEND_ANSWER),
    ("resource-response", UPLOAD_ANSWER),
    ("activity", EOC_REQUEST),
    ("resource-response", EOC_ANSWER),
    ("token-parameters", TOKEN_PARAMETERS),
]
DOC_EXAMPLE_IDS = [
    "start",
    "start-as-conversation",
    "generate",
    "refresh",
    "reconnect",
    "stream-activity-set",
    "get-activity-set",
    "error-502",
    "send-request",
    "send-answer",
    "upload-answer",
    "eoc-request",
    "eoc-answer",
    "token-parameters",
]


def _json_blocks(text: str) -> list[Any]:
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", text, flags=re.DOTALL)]


def _walk_schemas(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every subschema of a schema document (property names are not schemas)."""
    yield node
    for key, value in node.items():
        if key == "properties":
            for sub in value.values():
                yield from _walk_schemas(sub)
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            yield from _walk_schemas(value)
        elif key in ("allOf", "anyOf", "oneOf"):
            for sub in value:
                yield from _walk_schemas(sub)


# --- the files themselves ----------------------------------------------------------------------


def test_schema_names_list_every_wire_object() -> None:
    assert set(schema_names()) == WIRE_OBJECTS
    assert schema_names() == sorted(schema_names())


@pytest.mark.parametrize("name", sorted(WIRE_OBJECTS))
def test_schema_is_valid_draft_2020_12(name: str) -> None:
    Draft202012Validator.check_schema(schema(name))


@pytest.mark.parametrize("name", sorted(WIRE_OBJECTS))
def test_schema_is_also_valid_draft_07(name: str) -> None:
    document = schema(name)
    document.pop("$schema")
    Draft7Validator.check_schema(document)


@pytest.mark.parametrize("name", sorted(WIRE_OBJECTS))
def test_schema_states_dialect_id_title_and_sources(name: str) -> None:
    document = schema(name)
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert document["$id"] == f"{BASE}{name}.json"
    assert document["title"]
    assert len(document["description"]) > 80, "description should say where the facts come from"


@pytest.mark.parametrize("name", sorted(WIRE_OBJECTS))
def test_every_ref_resolves_to_a_packaged_schema(name: str) -> None:
    document = schema(name)
    resolver = catalog.schemas._registry().resolver(base_uri=document["$id"])
    refs = [sub["$ref"] for sub in _walk_schemas(document) if "$ref" in sub]
    for ref in refs:
        assert re.fullmatch(r"[a-z-]+\.json", ref), f"{ref!r} is not a relative file URI"
        assert resolver.lookup(ref).contents["$id"] == BASE + ref


@pytest.mark.parametrize("name", sorted(WIRE_OBJECTS))
def test_schema_keywords_stay_in_the_draft07_subset(name: str) -> None:
    used = {key for sub in _walk_schemas(schema(name)) for key in sub}
    assert used - DRAFT07_SUBSET == set()


@pytest.mark.parametrize("name", sorted(WIRE_OBJECTS))
def test_ref_has_no_sibling_keywords(name: str) -> None:
    # Draft-07 ignores everything beside a $ref; keep the meaning the same under both drafts.
    crowded = [sub for sub in _walk_schemas(schema(name)) if "$ref" in sub and len(sub) > 1]
    assert crowded == []


@pytest.mark.parametrize("name", ANSWER_VIEWS)
def test_answer_view_keeps_the_conversation_types(name: str) -> None:
    base = schema("conversation")["properties"]
    view = schema(name)["properties"]
    assert set(view) == set(base)
    assert {field: view[field]["type"] for field in base} == {
        field: spec["type"] for field, spec in base.items()
    }


def test_unknown_schema_name_lists_the_known_ones() -> None:
    with pytest.raises(CatalogError, match=r"unknown schema 'activities'; known: activity, "):
        schema("activities")
    with pytest.raises(CatalogError, match="unknown schema"):
        validate({}, "activities")


def test_schema_returns_a_copy() -> None:
    schema("activity")["properties"].clear()
    assert "text" in schema("activity")["properties"]


def test_validators_are_built_once() -> None:
    assert catalog.schemas._validator("activity-set") is catalog.schemas._validator("activity-set")


def test_registry_never_fetches_a_remote_ref(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("the schema registry tried the network")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    with pytest.raises(Unresolvable):
        catalog.schemas._registry().resolver().lookup("https://example.com/activity.json")


# --- the docs' examples validate ------------------------------------------------------------


@pytest.mark.parametrize(("name", "example"), DOC_EXAMPLES, ids=DOC_EXAMPLE_IDS)
def test_doc_example_validates(name: str, example: object) -> None:
    assert validate(example, name) == []


@pytest.mark.skipif(not UPSTREAM_DOCS.is_dir(), reason=f"{UPSTREAM_DOCS} not present")
@pytest.mark.parametrize(("name", "example"), DOC_EXAMPLES, ids=DOC_EXAMPLE_IDS)
def test_doc_example_is_quoted_from_the_docs(name: str, example: object) -> None:
    blocks = [
        block
        for page in sorted(UPSTREAM_DOCS.glob("*.md"))
        for block in _json_blocks(page.read_text(encoding="utf-8"))
    ]
    assert example in blocks


@pytest.mark.parametrize("activity_set", [STREAM_ACTIVITY_SET, GET_ACTIVITY_SET])
def test_doc_example_activities_are_delivered_activities(activity_set: dict[str, Any]) -> None:
    for activity in activity_set["activities"]:
        assert validate(activity, "delivered-activity") == []


def test_live_start_answer_validates() -> None:
    # LIVE.md § 5: wss URL with a watermark, 3600 s, referenceGrammarId, no eTag.
    answer = {
        "conversationId": "K3aBcDeFgHiJkLmNoPqRsT-us",
        "token": "eyJhbGciOiJSUzI1NiJ9.e30.sig",
        "expires_in": 3600,
        "streamUrl": "wss://directline.botframework.com/v3/directline/conversations/"
        "K3aBcDeFgHiJkLmNoPqRsT-us/stream?watermark=-&t=eyJ0",
        "referenceGrammarId": "0b1c8a9e-5f2d-4b7a-9c3e-1d2f3a4b5c6d",
    }
    assert validate(answer, "start-conversation-answer") == []


def test_error_response_allows_the_live_httpStatusCode() -> None:
    # LIVE.md § 6: bot errors carry a top-level httpStatusCode.
    body = {
        "error": {"code": "BotError", "message": "Failed to send activity: bot returned an error"},
        "httpStatusCode": 400,
    }
    assert validate(body, "error-response") == []


def test_unknown_fields_are_allowed_everywhere() -> None:
    activity = dict(SEND_REQUEST, **{"x-custom": {"nested": [1, 2]}})
    activity["from"] = {"id": "user1", "x-extra": True}
    assert validate(activity, "activity") == []
    assert validate(dict(START_ANSWER, eTag="W/1", extra=1), "start-conversation-answer") == []


@pytest.mark.parametrize("value", [{"a": 1}, [1, "two"], "text", 42, 1.5, True, None])
def test_value_channel_data_and_content_take_any_json(value: object) -> None:
    activity = {
        "type": "event",
        "name": "custom",
        "value": value,
        "channelData": value,
        "attachments": [{"contentType": "application/json", "content": value}],
        "suggestedActions": {"actions": [{"type": "postBack", "value": value}]},
    }
    assert validate(activity, "activity") == []


def test_adaptive_card_content_is_accepted() -> None:
    card = {
        "contentType": "application/vnd.microsoft.card.adaptive",
        "content": {
            "type": "AdaptiveCard",
            "version": "1.5",
            "body": [{"type": "TextBlock", "text": "Hi"}],
        },
    }
    assert validate({"type": "message", "attachments": [card]}, "activity") == []


def test_watermark_may_be_null_or_absent() -> None:
    assert validate({"activities": [], "watermark": None}, "activity-set") == []
    assert validate({"activities": []}, "activity-set") == []


def test_reconnect_answer_may_omit_expires_in() -> None:
    assert "expires_in" not in RECONNECT_ANSWER
    assert validate(RECONNECT_ANSWER, "reconnect-answer") == []


# --- the known-bad shapes are refused, readably ------------------------------------------------


def test_expires_in_as_a_string_is_refused() -> None:
    answer = dict(START_ANSWER, expires_in="1800")
    expected = ["$.expires_in: '1800' is not of type 'integer'"]
    assert validate(answer, "start-conversation-answer") == expected
    assert validate(answer, "conversation") == expected
    assert validate(dict(GENERATE_ANSWER, expires_in="1800"), "generate-token-answer") == expected
    assert validate(dict(RECONNECT_ANSWER, expires_in="1800"), "reconnect-answer") == expected


def test_start_answer_without_stream_url_is_refused() -> None:
    answer = {k: v for k, v in START_ANSWER.items() if k != "streamUrl"}
    assert validate(answer, "start-conversation-answer") == [
        "$: 'streamUrl' is a required property"
    ]


def test_numeric_watermark_is_refused() -> None:
    assert validate(dict(GET_ACTIVITY_SET, watermark=3), "activity-set") == [
        "$.watermark: 3 is not of type 'string', 'null'"
    ]


def test_delivered_activity_without_id_is_refused() -> None:
    activity = {k: v for k, v in GET_ACTIVITY_SET["activities"][0].items() if k != "id"}
    assert validate(activity, "activity") == []
    assert validate(activity, "delivered-activity") == ["$: 'id' is a required property"]


def test_delivered_activity_without_from_id_is_refused() -> None:
    activity = dict(GET_ACTIVITY_SET["activities"][0], **{"from": {"name": "User"}})
    assert validate(activity, "delivered-activity") == ["$.from: 'id' is a required property"]


def test_plain_text_error_body_is_refused() -> None:
    assert validate("Bad request", "error-response") == ["$: 'Bad request' is not of type 'object'"]


def test_error_without_code_is_refused() -> None:
    body = {"error": {"message": "Failed to send activity: bot returned an error"}}
    assert validate(body, "error-response") == ["$.error: 'code' is a required property"]


def test_live_error_without_message_is_refused() -> None:
    # LIVE.md § 11: an oversize upload answered {"error":{"code":"ServiceError"}}.
    assert validate({"error": {"code": "ServiceError"}}, "error-response") == [
        "$.error: 'message' is a required property"
    ]


@pytest.mark.parametrize(
    ("name", "instance", "line"),
    [
        (
            "start-conversation-answer",
            dict(START_ANSWER, conversationId=""),
            "$.conversationId: '' should be non-empty",
        ),
        (
            "start-conversation-answer",
            dict(START_ANSWER, expires_in=0),
            "$.expires_in: 0 is less than the minimum of 1",
        ),
        (
            "start-conversation-answer",
            dict(START_ANSWER, streamUrl="/v3/directline/stream"),
            "$.streamUrl: '/v3/directline/stream' does not match",
        ),
        (
            "generate-token-answer",
            {"conversationId": "abc123"},
            "$: 'token' is a required property",
        ),
        ("activity-set", {"watermark": "1"}, "$: 'activities' is a required property"),
        ("resource-response", {"id": ""}, "$.id: '' should be non-empty"),
        ("resource-response", {"id": 1}, "$.id: 1 is not of type 'string'"),
        (
            "error-response",
            {"message": "BadArgument:Site missing or disabled"},
            "$: 'error' is a required property",
        ),
        ("activity", {"type": "message", "text": 5}, "$.text: 5 is not of type 'string'"),
        ("activity", {"type": "message", "from": "u"}, "$.from: 'u' is not of type 'object'"),
        (
            "token-parameters",
            {"trustedOrigins": "https://example.com"},
            "$.trustedOrigins: 'https://example.com' is not of type 'array'",
        ),
    ],
    ids=[
        "empty-conversationId",
        "zero-expires_in",
        "relative-streamUrl",
        "generate-without-token",
        "set-without-activities",
        "empty-resource-id",
        "numeric-resource-id",
        "flat-2016-error",
        "numeric-text",
        "string-from",
        "string-trustedOrigins",
    ],
)
def test_bad_shape_is_refused_with_its_path(name: str, instance: object, line: str) -> None:
    assert any(found.startswith(line) for found in validate(instance, name)), validate(
        instance, name
    )


def test_nested_error_names_the_activity() -> None:
    activity_set = json.loads(json.dumps(GET_ACTIVITY_SET))
    activity_set["activities"][1]["from"] = "bot1"
    assert validate(activity_set, "activity-set") == [
        "$.activities[1].from: 'bot1' is not of type 'object'"
    ]


def test_each_error_is_one_line_once() -> None:
    # type and from are wrong for activity.json and for the delivered view: reported once each.
    activity = dict(GET_ACTIVITY_SET["activities"][0], type=5, **{"from": "u"})
    assert validate(activity, "delivered-activity") == [
        "$.from: 'u' is not of type 'object'",
        "$.type: 5 is not of type 'string'",
    ]


def test_huge_values_are_shortened_in_messages() -> None:
    lines = validate(dict(START_ANSWER, expires_in="9" * 100_000), "start-conversation-answer")
    assert len(lines) == 1 and "\n" not in lines[0]
    assert len(lines[0]) < 300
    assert lines[0].startswith("$.expires_in: '999") and lines[0].endswith("of type 'integer'")


# --- a broken schema file says what is wrong ---------------------------------------------------


@pytest.fixture
def spec_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A writable copy of the spec directory that the schema loader reads instead."""
    target = tmp_path / "directline-3.0"
    with resources.as_file(catalog.spec_path()) as source:
        shutil.copytree(source, target)
    monkeypatch.setattr(catalog.files, "_SPECS", target)
    catalog._clear_caches()
    yield target
    catalog._clear_caches()


def _rewrite(spec: Path, name: str, **changes: object) -> None:
    path = spec / "schemas" / f"{name}.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    document.update(changes)
    path.write_text(json.dumps(document), encoding="utf-8")


def test_invalid_schema_file_is_named(spec_copy: Path) -> None:
    _rewrite(spec_copy, "entity", type="thing")
    with pytest.raises(CatalogError, match=r"entity\.json: not a valid draft 2020-12 schema"):
        schema_names()


def test_unparsable_schema_file_is_named(spec_copy: Path) -> None:
    (spec_copy / "schemas" / "entity.json").write_text("{", encoding="utf-8")
    with pytest.raises(CatalogError, match=r"entity\.json: not valid JSON \(line 1"):
        schema("activity")


def test_wrong_schema_id_is_named(spec_copy: Path) -> None:
    _rewrite(spec_copy, "entity", **{"$id": "https://example.com/entity.json"})
    with pytest.raises(CatalogError, match=r"entity\.json: \$id is 'https://example.com/"):
        schema_names()


def test_dangling_ref_is_named(spec_copy: Path) -> None:
    _rewrite(spec_copy, "suggested-actions", properties={"actions": {"$ref": "missing.json"}})
    with pytest.raises(
        CatalogError, match=r"suggested-actions\.json: \$ref 'missing\.json' does not resolve"
    ):
        validate({}, "activity")
