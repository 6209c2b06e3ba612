"""What an activity carries, and that it comes back as sent (API reference § Activities, the
Activity spec's basic structure, receive page examples).

The round trips share the ``content`` lane's conversation: each finds its activities by the ids
its sends answered. The test that reads the stream and the one sending an endOfConversation have
their own.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import pytest

from conformance.client import SECRET, Auth, Conversation, DirectLineClient
from conformance.config.profile import Profile
from conformance.errors import PreconditionFailed
from conformance.evidence import Exchange
from conformance.suite import expect, steps

requirement = pytest.mark.requirement
cost = pytest.mark.cost
content_lane = pytest.mark.lane("content")
from_bot = steps.from_bot

ISO_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z")


def _round_trip(
    client: DirectLineClient,
    conversation: Conversation,
    activities: list[dict[str, Any]],
    *,
    auth: Auth | None = None,
) -> tuple[list[tuple[dict[str, Any], dict[str, Any]]], list[Exchange]]:
    """Send each activity, then read the history: (sent, as read back) pairs, and the GETs.

    Precondition: every send answers 2xx with an id, and GET shows an activity under each id
    (DL-SEND-001 and DL-SEND-003 judge those)."""
    ids = [
        steps.send(client, conversation, activity, auth=auth, what=f"sending a {activity['type']}")
        for activity in activities
    ]
    read, _, pages = client.collect_activities(
        conversation.id,
        auth=steps.credential(conversation) if auth is None else auth,
        until=steps.has_ids(*ids),
    )
    for page in pages:
        expect.precondition(page, "reading the conversation's activities")
    by_id = {a.get("id"): a for a in read}
    pairs = []
    for activity_id, activity in zip(ids, activities, strict=True):
        if activity_id not in by_id:
            raise PreconditionFailed(
                f"could not test: GET shows no activity with the id {activity_id!r} the send "
                "answered (DL-SEND-003 judges that)",
                exchange=pages[-1],
            )
        pairs.append((activity, by_id[activity_id]))
    return pairs, pages


def _small_exchange(
    client: DirectLineClient,
    profile: Profile,
    conversation: Conversation,
    *,
    with_stream: bool = False,
) -> tuple[list[dict[str, Any]], list[Exchange], list[dict[str, Any]], list[Exchange]]:
    """A small exchange with the bot: a message (and its reply when the bot replies) and an
    event; with a stream (``with_stream`` and the target has one), one typing too. Returns what
    GET returns (and its exchanges), and what the stream delivered (and its handshake)."""
    stream = None
    if with_stream and profile.supports("websocket") and conversation.stream_url:
        stream = client.open_stream(conversation.stream_url)
    try:
        said = steps.unique_text("fields")
        sent = steps.send(client, conversation, steps.message(said))
        steps.send(
            client,
            conversation,
            {"type": "event", "name": "conformance.fields", "from": {"id": steps.USER_ID}},
        )
        timeout = profile.timings.delivery_timeout
        if stream is not None:
            steps.send_typing(client, conversation)
        if profile.supports("echo_bot"):
            steps.wait_for_history(
                client,
                conversation,
                lambda acts: any(steps.answers(a, sent, said, profile.bot) for a in acts),
                timeout=timeout,
            )
        read, _, pages = client.collect_activities(
            conversation.id, auth=steps.credential(conversation)
        )
        for page in pages:
            expect.precondition(page, "reading the conversation's activities")
        delivered: list[dict[str, Any]] = []
        handshake: list[Exchange] = []
        if stream is not None:
            wanted = {a.get("id") for a in read}
            delivered = stream.collect(
                lambda acts: (
                    wanted <= {a.get("id") for a in acts}
                    and any(a.get("type") == "typing" for a in acts)
                ),
                timeout=timeout,
            )
            handshake = [stream.exchange]
    finally:
        if stream is not None:
            stream.close()
    return read, pages, delivered, handshake


def _label(activity: dict[str, Any]) -> str:
    return f"the {activity.get('type')!r} activity {activity.get('id')!r}"


@cost(conversations=1, requests=5, streams=1, activities=3, waits=1, pagings=1)
@requirement("DL-ACT-001")
def test_delivered_activities_have_the_required_fields(
    dl_client: DirectLineClient, dl_profile: Profile
) -> None:
    """Every activity delivered (GET and stream) has ``type``, ``id``, ``channelId``,
    ``from.id`` and ``conversation.id`` = the conversation."""
    conversation = dl_client.new_conversation()
    read, pages, delivered, handshake = _small_exchange(
        dl_client, dl_profile, conversation, with_stream=True
    )
    if not read:
        raise PreconditionFailed(
            "could not test: GET returns none of the exchange's activities", exchange=pages[-1]
        )
    for where, activities, evidence in (("GET", read, pages), ("stream", delivered, handshake)):
        for activity in activities:
            expect.conforms(
                activity,
                "delivered-activity",
                evidence,
                what=f"{_label(activity)} delivered by {where}",
            )
            expect.equal(
                activity["conversation"].get("id"),
                conversation.id,
                f"conversation.id of {_label(activity)} delivered by {where}",
                evidence,
            )


@content_lane
@cost(requests=2, activities=2, waits=1, pagings=1)
@requirement("DL-ACT-002")
def test_channel_id_is_directline(
    dl_client: DirectLineClient, dl_conversation: Conversation, dl_profile: Profile
) -> None:
    """``channelId`` is ``directline`` on every activity GET returns."""
    read, pages, _, _ = _small_exchange(dl_client, dl_profile, dl_conversation)
    for activity in read:
        expect.equal(
            activity.get("channelId"), "directline", f"channelId of {_label(activity)}", pages
        )


@content_lane
@cost(requests=2, activities=2, waits=1, pagings=1)
@requirement("DL-ACT-003")
def test_timestamp_is_iso_8601_utc(
    dl_client: DirectLineClient, dl_conversation: Conversation, dl_profile: Profile
) -> None:
    """``timestamp`` is an ISO 8601 UTC datetime ending in ``Z`` on every activity GET returns."""
    read, pages, _, _ = _small_exchange(dl_client, dl_profile, dl_conversation)
    for activity in read:
        value = activity.get("timestamp")
        parses = isinstance(value, str) and ISO_UTC.fullmatch(value) is not None
        if parses:
            try:  # the calendar fields; not fromisoformat, which rejects "Z" before 3.11
                datetime.strptime(str(value)[:19], "%Y-%m-%dT%H:%M:%S")
            except ValueError:
                parses = False
        expect.that(
            parses,
            f"timestamp of {_label(activity)}: an ISO 8601 UTC datetime ending in Z",
            f"timestamp {value!r}" if "timestamp" in activity else "no timestamp",
            pages,
        )


TEXTS = {
    "emoji and other astral-plane characters": "😀 👩‍👩‍👧‍👦 🏳️‍🌈 𝄞 𝕬𝖇𝖈 𠜎𠜱 🇫🇷",
    "right-to-left scripts": "مرحبا بالعالم \u2014 שלום עולם \u2014 سلام دنیا \u200f(RTL)\u200f",
    "combining marks (not normalized)": "e\u0301 a\u0308 n\u0303 Z\u0324\u0354\u0367 ก\u0e49\u0e33",
    "mixed scripts": "Привет, 世界! こんにちは 안녕하세요 Ελληνικά हिन्दी ქართული",
    "a long text in many scripts": ("Ünïcødé 😀 שלום 世界 e\u0301 " * 200).strip(),
}


@pytest.mark.smoke
@content_lane
@cost(requests=5, activities=5, pagings=1)
@requirement("DL-ACT-004")
def test_text_comes_back_exactly(
    dl_client: DirectLineClient, dl_conversation: Conversation
) -> None:
    """``text`` comes back exactly as sent in any script: astral planes, right-to-left,
    combining marks."""
    conversation = dl_conversation
    pairs, pages = _round_trip(
        dl_client, conversation, [steps.message(text) for text in TEXTS.values()]
    )
    for what, (sent, read) in zip(TEXTS, pairs, strict=True):
        kept = read.get("text")
        expect.that(
            kept == sent["text"],
            f"text ({what}) = {_code_points(sent['text'])}",
            f"text = {_code_points(kept)}",
            pages,
        )


def _code_points(text: Any) -> str:
    """Text as escaped code points (so NFC and NFD, or lost marks, show), shortened."""
    if not isinstance(text, str):
        return f"{text!r} (not a string)"
    shown = ascii(text)
    return shown if len(shown) <= 240 else f"{shown[:240]}... ({len(text)} characters)"


CHANNEL_DATA: dict[str, Any] = {
    "string": "value",
    "unicode": "ünï 😀 שלום",
    "integer": 42,
    "negative": -7,
    "float": 3.25,
    "zero": 0,
    "true": True,
    "false": False,
    "null": None,
    "emptyObject": {},
    "emptyArray": [],
    "array": [1, "two", {"three": [3]}, None, False],
    "nested": {"level1": {"level2": {"level3": ["deep", {"x": 1}]}}},
    "keys with spaces and ünicode": {"clientActivityID": "not-yours-to-change"},
}


@content_lane
@cost(requests=2, activities=2, pagings=1)
@requirement("DL-ACT-005")
def test_channel_data_round_trips(
    dl_client: DirectLineClient, dl_conversation: Conversation
) -> None:
    """``channelData`` (arbitrary JSON) comes back exactly as sent."""
    conversation = dl_conversation
    sent = steps.message(steps.unique_text("channelData"), channelData=CHANNEL_DATA)
    event = {
        "type": "event",
        "name": "conformance.channelData",
        "from": {"id": steps.USER_ID},
        "channelData": [CHANNEL_DATA, "array root"],
    }
    pairs, pages = _round_trip(dl_client, conversation, [sent, event])
    for sent_activity, read in pairs:
        expect.equal(
            read.get("channelData"),
            sent_activity["channelData"],
            f"channelData of {_label(read)}",
            pages,
        )


@content_lane
@cost(requests=3, activities=3, pagings=1)
@requirement("DL-ACT-006")
def test_value_round_trips(dl_client: DirectLineClient, dl_conversation: Conversation) -> None:
    """``value`` (arbitrary JSON) comes back exactly as sent."""
    conversation = dl_conversation
    activities = [
        {
            "type": "event",
            "name": "conformance.value",
            "from": {"id": steps.USER_ID},
            "value": CHANNEL_DATA,
        },
        steps.message(steps.unique_text("value"), value=[1, "two", {"three": None}]),
        {"type": "event", "name": "conformance.scalar", "from": {"id": steps.USER_ID}, "value": 0},
    ]
    pairs, pages = _round_trip(dl_client, conversation, activities)
    for sent, read in pairs:
        expect.equal(read.get("value"), sent["value"], f"value of {_label(read)}", pages)


ATTACHMENTS: list[dict[str, Any]] = [
    {
        "contentType": "image/png",
        "contentUrl": "https://example.com/conformance/first.png",
        "name": "first.png",
        "thumbnailUrl": "https://example.com/conformance/first-thumb.png",
    },
    {
        "contentType": "application/vnd.microsoft.card.hero",
        "content": {
            "title": "Second",
            "subtitle": "a hero card",
            "images": [{"url": "https://example.com/conformance/hero.png"}],
            "buttons": [{"type": "imBack", "title": "Yes", "value": "yes"}],
        },
        "name": "second",
    },
    {
        "contentType": "application/pdf",
        "contentUrl": "https://example.com/conformance/third.pdf",
        "name": "third.pdf",
    },
]


@content_lane
@cost(requests=1, activities=1, pagings=1)
@requirement("DL-ACT-007")
def test_attachments_round_trip_in_order(
    dl_client: DirectLineClient, dl_conversation: Conversation
) -> None:
    """``attachments`` (contentType, https contentUrl, content, name, thumbnailUrl) come back
    equal, in the order sent."""
    conversation = dl_conversation
    pairs, pages = _round_trip(
        dl_client,
        conversation,
        [steps.message(steps.unique_text("attachments"), attachments=ATTACHMENTS)],
    )
    read = pairs[0][1]
    kept = read.get("attachments")
    if isinstance(kept, list) and len(kept) == len(ATTACHMENTS):
        in_order = [k for k in kept if k in ATTACHMENTS]
        if len(in_order) == len(ATTACHMENTS) and kept != ATTACHMENTS:
            raise expect.Violation(
                "the attachments in the order sent: " + ", ".join(a["name"] for a in ATTACHMENTS),
                "the same attachments in another order: "
                + ", ".join(str(a.get("name")) for a in kept),
                pages,
            )
    expect.equal(kept, ATTACHMENTS, "attachments", pages)


@content_lane
@cost(requests=3, activities=3, pagings=1)
@requirement("DL-ACT-008")
def test_optional_fields_round_trip(
    dl_client: DirectLineClient, dl_conversation: Conversation
) -> None:
    """``entities``, ``locale``, ``textFormat``, ``attachmentLayout``, ``suggestedActions``,
    ``replyToId``, ``name``, ``localTimestamp`` and ``localTimezone`` come back equal."""
    conversation = dl_conversation
    first = steps.send(dl_client, conversation, steps.message(steps.unique_text("replied to")))
    fields: dict[str, Any] = {
        "entities": [
            {"type": "mention", "mentioned": {"id": "reference-bot"}, "text": "@bot"},
            {"type": "https://schema.org/Place", "name": "Paris"},
        ],
        "locale": "fr-FR",
        "textFormat": "markdown",
        "attachmentLayout": "carousel",
        "suggestedActions": {
            "to": [steps.USER_ID],
            "actions": [{"type": "imBack", "title": "Red", "value": "red"}],
        },
        "replyToId": first,
        "name": "conformance-name",
        "localTimestamp": "2026-11-24T10:15:30.123+01:00",
        "localTimezone": "Europe/Paris",
    }
    plain = {"textFormat": "plain", "locale": "en-US"}
    pairs, pages = _round_trip(
        dl_client,
        conversation,
        [
            steps.message(steps.unique_text("**fields**"), **fields),
            steps.message(steps.unique_text("plain"), **plain),
        ],
    )
    for sent, read in pairs:
        for name in sorted(set(fields) | set(plain)):
            if name in sent:
                expect.equal(read.get(name), sent[name], f"{name} of {_label(read)}", pages)


@content_lane
@cost(requests=1, activities=1, pagings=1)
@requirement("DL-ACT-009")
def test_from_kept_without_a_token_user(
    dl_client: DirectLineClient, dl_conversation: Conversation
) -> None:
    """``from.id`` and ``from.name`` are kept as sent when the credential embeds no user (the
    secret)."""
    conversation = dl_conversation
    sender = {"id": steps.USER_ID, "name": "Conformance Tester ünï"}
    pairs, pages = _round_trip(
        dl_client,
        conversation,
        [{"type": "message", "from": sender, "text": steps.unique_text("from")}],
        auth=SECRET,
    )
    read = pairs[0][1]
    seen = read.get("from")
    kept = seen if isinstance(seen, dict) else {}
    expect.equal({"id": kept.get("id"), "name": kept.get("name")}, sender, "from (id, name)", pages)


CARDS = [
    {
        "contentType": "application/vnd.microsoft.card.hero",
        "content": {
            "title": "Hero",
            "subtitle": "a card",
            "text": "Hero card text",
            "images": [{"url": "https://example.com/conformance/hero.png", "alt": "hero"}],
            "buttons": [
                {"type": "openUrl", "title": "Open", "value": "https://example.com/"},
                {"type": "imBack", "title": "Say hi", "value": "hi"},
            ],
        },
    },
    {
        "contentType": "application/vnd.microsoft.card.adaptive",
        "content": {
            "type": "AdaptiveCard",
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "version": "1.5",
            "body": [
                {"type": "TextBlock", "text": "Adaptive 😀", "wrap": True, "size": "Large"},
                {"type": "Input.Text", "id": "answer", "placeholder": "type here"},
                {
                    "type": "ColumnSet",
                    "columns": [{"type": "Column", "width": "auto", "items": []}],
                },
            ],
            "actions": [{"type": "Action.Submit", "title": "Send", "data": {"x": 1, "y": None}}],
        },
    },
]


@content_lane
@cost(requests=1, activities=1, waits=1)
@requirement("DL-ACT-010")
def test_bot_cards_reach_the_client_unchanged(
    dl_client: DirectLineClient, dl_conversation: Conversation, dl_profile: Profile
) -> None:
    """The bot's attachment cards (a hero card, an adaptive card) reach the client unchanged."""
    conversation = dl_conversation
    said = steps.unique_text("cards")
    sent = steps.send(
        dl_client,
        conversation,
        steps.message(said, attachments=CARDS),
        what="sending a message with cards",
    )
    timeout = dl_profile.timings.delivery_timeout

    def echoes(acts: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [a for a in acts if steps.answers(a, sent, said, dl_profile.bot)]

    activities = steps.wait_for_history(
        dl_client, conversation, lambda acts: bool(echoes(acts)), timeout=timeout
    )
    replies = echoes(activities)
    if not replies:
        raise PreconditionFailed(
            f"could not test: no reply of the bot to {sent!r} within {timeout:g} s "
            "(DL-BOT-001 judges that)"
        )
    expect.equal(
        replies[0].get("attachments"),
        CARDS,
        "attachments of the bot's echo",
        dl_client.recorder.exchanges[-1:],
    )


WHITESPACE = [
    "  two leading spaces and two trailing  ",
    "\ttab first, newline last\n",
    "\n\nlines\nwith\r\nbreaks\n\n",
    " \t mixed \u00a0 whitespace \t ",
]


@content_lane
@cost(requests=4, activities=4, pagings=1)
@requirement("DL-ACT-011")
def test_text_keeps_whitespace(dl_client: DirectLineClient, dl_conversation: Conversation) -> None:
    """``text`` keeps leading and trailing whitespace, newlines and tabs."""
    conversation = dl_conversation
    pairs, pages = _round_trip(dl_client, conversation, [steps.message(t) for t in WHITESPACE])
    for sent, read in pairs:
        expect.equal(read.get("text"), sent["text"], "text", pages)


@cost(conversations=1, requests=2, activities=1, pagings=1)
@requirement("DL-ACT-012")
def test_end_of_conversation_code_and_text_come_back(dl_client: DirectLineClient) -> None:
    """An ``endOfConversation``'s ``code`` and ``text`` come back as sent."""
    conversation = dl_client.new_conversation()
    end = {
        "type": "endOfConversation",
        "from": {"id": steps.USER_ID},
        "code": "userCancelled",
        "text": steps.unique_text("goodbye"),
    }
    pairs, pages = _round_trip(dl_client, conversation, [end])
    read = pairs[0][1]
    expect.equal(
        {"code": read.get("code"), "text": read.get("text")},
        {"code": end["code"], "text": end["text"]},
        "(code, text) of the endOfConversation",
        pages,
    )
