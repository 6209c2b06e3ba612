"""Send and receive by polling: ids, content preserved, validation, watermarks, the echo bot."""

from __future__ import annotations

import json
import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

RICH_TEXT = "  tabs\tand\nnewlines, emoji 🎉👩‍👩‍👧, RTL שלום مرحبا, combining é, astral 𝔸  "


def _by_id(activities):
    return {a["id"]: a for a in activities}


def test_send_answers_200_with_an_id_in_the_live_format(client):
    conversation = client.start()
    response = client.send(conversation.id, {"type": "message", "from": {"id": "u"}, "text": "x"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"id": f"{conversation.id}|0000000"}


def test_ids_are_unique_also_under_concurrent_sends(client):
    conversation = client.start()

    def send(index):
        return client.message(conversation.id, f"m{index}")

    with ThreadPoolExecutor(max_workers=10) as pool:
        ids = list(pool.map(send, range(20)))
    assert len(set(ids)) == 20
    activities = client.wait_for(conversation.id, lambda a: len(a) == 40)
    assert len({a["id"] for a in activities}) == 40
    assert set(ids) <= {a["id"] for a in activities}


def test_the_channel_sets_its_fields(client):
    conversation = client.start()
    sent = client.message(conversation.id, "hello", id="mine", channelId="other")
    activity = _by_id(client.activities(conversation.id)["activities"])[sent]
    assert activity["type"] == "message"
    assert activity["channelId"] == "directline"
    assert activity["conversation"] == {"id": conversation.id}
    assert activity["serviceUrl"] == client.origin + "/"
    assert activity["recipient"]["id"] == "reference-bot"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", activity["timestamp"])


def test_every_field_comes_back_as_sent(client):
    conversation = client.start()
    fields = {
        "type": "message",
        "from": {"id": "user-x", "name": "X Person"},
        "text": RICH_TEXT,
        "channelData": {"nested": {"list": [1, 2.5, None, True, "s"]}, "empty": {}},
        "value": [{"a": 1}, "b", None],
        "attachments": [
            {"contentType": "image/png", "contentUrl": "https://example.com/a.png", "name": "a"},
            {
                "contentType": "application/vnd.microsoft.card.hero",
                "content": {"title": "Hero", "buttons": [{"type": "imBack", "value": "x"}]},
                "thumbnailUrl": "https://example.com/t.png",
            },
            {
                "contentType": "image/gif",
                "contentUrl": "data:image/gif;base64,R0lGODlhAQABAAAAACw=",
            },
        ],
        "entities": [{"type": "mention", "text": "@bot"}],
        "locale": "he-IL",
        "textFormat": "markdown",
        "attachmentLayout": "carousel",
        "suggestedActions": {"to": ["u"], "actions": [{"type": "imBack", "title": "t"}]},
        "name": "a-name",
        "localTimestamp": "2026-11-24T10:00:00.000+02:00",
        "localTimezone": "Asia/Jerusalem",
        "x-custom": {"anything": ["goes", 1]},
        "summary": None,
    }
    sent = client.send(conversation.id, fields).json()["id"]
    fields["replyToId"] = sent
    second = client.send(conversation.id, fields).json()["id"]
    stored = _by_id(client.activities(conversation.id)["activities"])
    for activity_id in (sent, second):
        activity = stored[activity_id]
        for key, value in fields.items():
            if key == "replyToId" and activity_id == sent:
                continue
            if value is None:  # null stands for absent: not stored, so never echoed as null
                assert key not in activity, key
            else:
                assert activity[key] == value, key


def test_lone_surrogates_round_trip_without_a_500(client):
    conversation = client.start()
    body = b'{"type":"message","from":{"id":"u"},"text":"half \\ud83c pair"}'
    sent = client.send(conversation.id, body)
    assert sent.status_code == 200
    activity = _by_id(client.activities(conversation.id)["activities"])[sent.json()["id"]]
    assert activity["text"] == "half \ud83c pair"


def test_from_is_kept_when_no_user_is_bound(client):
    conversation = client.start()
    sent = client.message(
        conversation.id, "x", **{"from": {"id": "a", "name": "Ann", "role": "user"}}
    )
    activity = _by_id(client.activities(conversation.id)["activities"])[sent]
    assert activity["from"] == {"id": "a", "name": "Ann", "role": "user"}


@pytest.mark.parametrize("sender", [None, {}, {"id": ""}, {"name": "no id"}])
def test_a_send_without_from_id_is_400_when_no_user_is_bound(client, sender):
    conversation = client.start()
    activity = {"type": "message", "text": "x"}
    if sender is not None:
        activity["from"] = sender
    client.assert_error(client.send(conversation.id, activity), 400, "MissingProperty")


@pytest.mark.parametrize(
    "body",
    [
        b'{"type":',
        b"",
        b"not json",
        b'[{"type": "message"}, {"type": "message"}]',
        b'"text"',
        b"42",
        b"null",
        b'{"type": "message", "value": NaN}',
        b"\xff\xfe\x00",
        b"[" * 5000 + b"]" * 5000,
    ],
    ids=[
        "truncated",
        "empty",
        "text",
        "array",
        "string",
        "number",
        "null",
        "nan",
        "binary",
        "deep",
    ],
)
def test_a_body_that_is_not_one_activity_is_400(client, body):
    conversation = client.start()
    client.assert_error(client.send(conversation.id, body), 400)
    assert client.activities(conversation.id)["activities"] == []


def test_an_activity_without_type_is_400(client):
    conversation = client.start()
    response = client.send(conversation.id, {"text": "x", "from": {"id": "u"}})
    client.assert_error(response, 400, "MissingProperty")


@pytest.mark.parametrize(
    "fields",
    [
        {"type": 5},
        {"type": ""},
        {"text": 5},
        {"text": ["a"]},
        {"from": "u"},
        {"from": {"id": 7}},
        {"from": {"id": "u", "name": {}}},
        {"attachments": {"contentType": "x"}},
        {"attachments": [1]},
        {"attachments": [{"contentUrl": 5}]},
        {"entities": {}},
        {"entities": [{"type": 1}]},
        {"conversation": "c"},
        {"recipient": []},
        {"timestamp": 1700000000},
        {"localTimestamp": False},
        {"suggestedActions": []},
        {"suggestedActions": {"actions": {}}},
        {"historyDisclosed": "yes"},
        {"replyToId": 3},
        {"listenFor": [1]},
    ],
)
def test_a_field_of_the_wrong_json_type_is_400(client, fields):
    conversation = client.start()
    activity = {"type": "message", "from": {"id": "u"}, **fields}
    client.assert_error(client.send(conversation.id, activity), 400)
    assert client.activities(conversation.id)["activities"] == []


@pytest.mark.parametrize(
    "kind", ["invoke", "conversationUpdate", "contactRelationUpdate", "handoff"]
)
def test_types_a_client_may_not_send_are_400(client, kind):
    conversation = client.start()
    response = client.send(conversation.id, {"type": kind, "from": {"id": "u"}})
    client.assert_error(response, 400, "BadArgument")


def test_event_and_custom_types_are_recorded_without_a_reply(client):
    conversation = client.start()
    event = client.send(
        conversation.id, {"type": "event", "name": "ping", "from": {"id": "u"}, "value": 1}
    )
    custom = client.send(conversation.id, {"type": "x-custom-type", "from": {"id": "u"}})
    assert event.status_code == 200 and custom.status_code == 200
    activities = client.activities(conversation.id)["activities"]
    assert [a["type"] for a in activities] == ["event", "x-custom-type"]


def test_an_activity_over_the_size_limit_is_413(client):
    conversation = client.start()
    activity = {"type": "message", "from": {"id": "u"}, "text": "x" * 300_000}
    client.assert_error(client.send(conversation.id, activity), 413, "MessageSizeTooBig")
    assert client.activities(conversation.id)["activities"] == []


def test_a_large_activity_under_150k_round_trips(client):
    conversation = client.start()
    text = "ab\u00e9\U0001f600" * 35_000
    sent = client.message(conversation.id, text)
    assert _by_id(client.activities(conversation.id)["activities"])[sent]["text"] == text


def test_unknown_conversation_is_404_with_the_secret(client):
    client.assert_error(client.get("unknown-ref"), 404, "BadArgument")
    response = client.send("unknown-ref", {"type": "message", "from": {"id": "u"}})
    client.assert_error(response, 404, "BadArgument")


# Polling and watermarks ----------------------------------------------------------------------


def test_get_on_a_fresh_conversation_is_an_empty_set_with_a_string_watermark(client):
    conversation = client.start()
    response = client.get(conversation.id)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"activities": [], "watermark": "0"}


def test_paging_by_watermark_loses_nothing_and_repeats_nothing(client):
    conversation = client.start()
    seen: list[str] = []
    sent: list[str] = []
    watermark = None
    for index in range(5):
        sent.append(client.message(conversation.id, f"m{index}"))
        page = client.activities(conversation.id, watermark)
        assert isinstance(page["watermark"], str)
        seen.extend(a["id"] for a in page["activities"])
        watermark = page["watermark"]
    final = client.activities(conversation.id, watermark)
    assert final == {"activities": [], "watermark": watermark}
    assert len(seen) == len(set(seen)) == 10
    everything = client.activities(conversation.id)["activities"]
    assert seen == [a["id"] for a in everything]
    assert set(sent) <= set(seen)


def test_empty_and_dash_watermarks_mean_from_the_start(client):
    conversation = client.start()
    client.message(conversation.id, "one")
    everything = client.activities(conversation.id)
    assert client.activities(conversation.id, "") == everything
    assert client.activities(conversation.id, "-") == everything
    assert client.activities(conversation.id, "1")["activities"] == everything["activities"][1:]


@pytest.mark.parametrize("watermark", ["zzz", "3", "-2", "0001a-42"])
def test_a_watermark_never_issued_is_400(client, watermark):
    conversation = client.start()
    client.message(conversation.id, "one")
    client.assert_error(client.get(conversation.id, watermark), 400, "BadArgument")


def test_typing_gets_an_id_but_never_reaches_get(client):
    conversation = client.start()
    response = client.send(conversation.id, {"type": "typing", "from": {"id": "u"}})
    assert response.status_code == 200
    assert response.json()["id"]
    assert client.activities(conversation.id) == {"activities": [], "watermark": "0"}


# The echo bot ----------------------------------------------------------------------------------


def test_the_bot_echoes_text_and_attachments_with_reply_to_id(client):
    conversation = client.start()
    card = {
        "contentType": "application/vnd.microsoft.card.adaptive",
        "content": {
            "type": "AdaptiveCard",
            "version": "1.5",
            "body": [{"type": "TextBlock", "text": "hi"}],
        },
    }
    sent = client.message(conversation.id, RICH_TEXT, attachments=[card])
    activities = client.activities(conversation.id)["activities"]
    reply = activities[-1]
    assert reply["replyToId"] == sent
    assert reply["text"] == RICH_TEXT
    assert reply["attachments"] == [card]
    assert reply["from"] == {"id": "reference-bot", "name": "Reference Echo Bot", "role": "bot"}
    assert reply["recipient"]["id"] == "user1"
    assert reply["conversation"] == {"id": conversation.id}
    assert reply["channelId"] == "directline"


def test_many_replies_come_in_order(client):
    conversation = client.start()
    sent = client.message(conversation.id, "#bot:many 5")
    replies = client.activities(conversation.id)["activities"][1:]
    assert [r["text"] for r in replies] == ["1", "2", "3", "4", "5"]
    assert all(r["replyToId"] == sent for r in replies)


@pytest.mark.parametrize("text", ["#bot:many 0", "#bot:many 51", "#bot:many x", "#bot:many"])
def test_many_out_of_range_is_a_plain_echo(client, text):
    conversation = client.start()
    client.message(conversation.id, text)
    assert [a["text"] for a in client.activities(conversation.id)["activities"]] == [text, text]


def test_a_failing_bot_is_502_and_the_conversation_stays_usable(client):
    conversation = client.start()
    response = client.send(
        conversation.id, {"type": "message", "from": {"id": "u"}, "text": "#bot:error"}
    )
    client.assert_error(response, 502, "BotError")
    assert [a["text"] for a in client.activities(conversation.id)["activities"]] == ["#bot:error"]
    client.message(conversation.id, "still there")
    texts = [a["text"] for a in client.activities(conversation.id)["activities"]]
    assert texts == ["#bot:error", "still there", "still there"]


def test_a_slow_bot_is_504_and_its_late_reply_still_arrives(client):
    conversation = client.start()
    began = time.monotonic()
    response = client.send(
        conversation.id, {"type": "message", "from": {"id": "u"}, "text": "#bot:slow"}
    )
    client.assert_error(response, 504, "BotError")
    assert time.monotonic() - began < 5
    user_activity = client.activities(conversation.id)["activities"]
    assert [a["text"] for a in user_activity] == ["#bot:slow"]
    activities = client.wait_for(conversation.id, lambda a: len(a) == 2)
    assert activities[1]["replyToId"] == user_activity[0]["id"]
    assert activities[1]["text"] == "#bot:slow"


def test_a_slow_bot_says_it_is_typing_on_the_stream_only(client):
    """Before a slow reply the bot sends typing (Web Chat shows its indicator): it reaches
    an open stream at once, as a reply to the trigger, and never the history."""
    conversation = client.start()
    with client.open_stream(conversation.stream_url) as ws:
        response = client.send(
            conversation.id, {"type": "message", "from": {"id": "u"}, "text": "#bot:slow"}
        )
        client.assert_error(response, 504, "BotError")
        trigger, typing = client.receive_activities(ws, 2)
        assert trigger["text"] == "#bot:slow"
        assert typing["type"] == "typing"
        assert typing["replyToId"] == trigger["id"]
        assert typing["from"]["id"] == "reference-bot"
        (echo,) = client.receive_activities(ws, 1)
        assert (echo["type"], echo["text"]) == ("message", "#bot:slow")
    history = client.activities(conversation.id)["activities"]
    assert [a["type"] for a in history] == ["message", "message"]


def test_json_answers_are_utf8_json(client):
    conversation = client.start()
    client.message(conversation.id, "ünïcödé 🎉")
    response = client.get(conversation.id)
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert json.loads(response.content.decode("utf-8"))["activities"][0]["text"] == "ünïcödé 🎉"
