"""Start a conversation: ``POST /v3/directline/conversations`` (start-conversation page, seed 004,
API reference § Start Conversation).

The rules about the start answer itself (201, conversationId, token, expires_in, streamUrl, the
start token, JSON) are judged from one start, the ``start`` lane's: a nightly run against a shared
service starts one conversation for them, not seven.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from conformance.client import Conversation, DirectLineClient
from conformance.config.profile import Profile
from conformance.errors import PreconditionFailed
from conformance.evidence import Exchange
from conformance.suite import expect, steps

requirement = pytest.mark.requirement
cost = pytest.mark.cost
#: The tests judging the one shared start answer.
start_lane = pytest.mark.lane("start")


@pytest.mark.smoke
@start_lane
@cost()
@requirement("DL-START-001")
def test_new_conversation_answers_201(dl_start_answer: Exchange) -> None:
    """A start that opens a new conversation answers 201 Created."""
    expect.status(dl_start_answer, 201, what="starting a new conversation with the secret")


@start_lane
@cost(requests=1, streams=1)
@requirement("DL-START-005")
def test_stream_url_opens_a_websocket(
    dl_client: DirectLineClient, dl_start_answer: Exchange, dl_profile: Profile
) -> None:
    """The answer has ``streamUrl``, and a WebSocket client opens it (http(s) mapped to ws(s))."""
    answer = dl_start_answer
    expect.precondition(answer, "starting a conversation")
    body = expect.json_object(answer)
    url = body.get("streamUrl")
    expect.that(
        isinstance(url, str) and url != "",
        "streamUrl: a non-empty string",
        f"streamUrl: {url!r}" if "streamUrl" in body else "no streamUrl field",
        [answer],
    )
    steps.expect_stream_opens(
        dl_client,
        str(url),  # a non-empty string: checked just above
        expected="the stream URL upgrades to an open WebSocket (101)",
        exchanges=[answer],
        timeout=dl_profile.timings.request_timeout,
    )


@start_lane
@cost()
@requirement("DL-START-002")
def test_answer_has_conversation_id(dl_start_answer: Exchange) -> None:
    """The start answer has ``conversationId``, a non-empty string."""
    answer = dl_start_answer
    expect.precondition(answer, "starting a conversation")
    body = expect.json_object(answer)
    value = body.get("conversationId")
    expect.that(
        isinstance(value, str) and value != "",
        "conversationId: a non-empty string",
        f"conversationId: {value!r}" if "conversationId" in body else "no conversationId field",
        [answer],
    )


@start_lane
@cost()
@requirement("DL-START-003")
def test_answer_has_token(dl_start_answer: Exchange) -> None:
    """The start answer has ``token``, a non-empty string."""
    answer = dl_start_answer
    expect.precondition(answer, "starting a conversation")
    body = expect.json_object(answer)
    value = body.get("token")
    expect.that(
        isinstance(value, str) and value != "",
        "token: a non-empty string",
        f"token of type {type(value).__name__}" if "token" in body else "no token field",
        [answer],
    )


@start_lane
@cost()
@requirement("DL-START-004")
def test_answer_has_integer_expires_in(dl_start_answer: Exchange) -> None:
    """The start answer has ``expires_in``, an integer number of seconds > 0 (not a string)."""
    answer = dl_start_answer
    expect.precondition(answer, "starting a conversation")
    body = expect.json_object(answer)
    value = body.get("expires_in")
    expect.that(
        isinstance(value, int) and not isinstance(value, bool) and value > 0,
        "expires_in: an integer number of seconds greater than 0",
        f"expires_in: {value!r}" if "expires_in" in body else "no expires_in field",
        [answer],
    )


@start_lane
@cost(conversations=1, requests=1)
@requirement("DL-START-006")
def test_each_start_creates_a_new_conversation(
    dl_client: DirectLineClient, dl_conversation: Conversation
) -> None:
    """Two starts with the secret give two different conversations."""
    first = dl_conversation
    second = dl_client.new_conversation()
    expect.that(
        first.id != second.id,
        "two different conversationIds",
        f"the same conversationId twice: {first.id!r}",
        [first.answer, second.answer],
    )


@cost(conversations=1, requests=7)
@requirement("DL-START-007")
def test_start_with_used_token_answers_200_and_creates_nothing(
    dl_client: DirectLineClient,
) -> None:
    """A start with a token that already started its conversation answers 200, same
    conversationId, and adds nothing to the conversation."""
    generated = dl_client.generate_token()
    token_body = expect.precondition(generated, "generating a token")
    token = (token_body or {}).get("token") if isinstance(token_body, dict) else None
    if not isinstance(token, str) or not token:
        raise PreconditionFailed(
            "could not test: tokens/generate answered no token", exchange=generated
        )
    first = dl_client.new_conversation(auth=token)
    before = steps.history(dl_client, first, auth=token)
    again = dl_client.start_conversation(auth=token)
    expect.status(again, 200, what="starting again with a token that already started")
    body = expect.json_object(again)
    expect.equal(body.get("conversationId"), first.id, "conversationId", [first.answer, again])
    after = steps.history(dl_client, first, auth=token)
    expect.equal(
        [a.get("id") for a in after],
        [a.get("id") for a in before],
        "the conversation's activity ids after the second start",
        [again],
    )


@start_lane
@cost(requests=2, activities=1)
@requirement("DL-START-008")
def test_start_token_works_for_its_conversation(
    dl_client: DirectLineClient, dl_conversation: Conversation
) -> None:
    """The token returned by start can send to and read its conversation."""
    conversation = dl_conversation
    steps.start_token(conversation)
    sent = dl_client.post_activity(
        conversation.id, steps.message(steps.unique_text("start token")), auth=conversation.token
    )
    expect.status(sent, range(200, 300), what="sending with the start token")
    read = dl_client.get_activities(conversation.id, auth=conversation.token)
    expect.status(read, 200, what="reading with the start token")


@cost(conversations=1, requests=1, waits=1)
@requirement("DL-START-009")
def test_start_with_user_delivers_the_bot_greeting(
    dl_client: DirectLineClient, dl_profile: Profile
) -> None:
    """Starting with a user id contacts the bot: its greeting (the profile's ``[bot] welcome``)
    reaches the client."""
    conversation = dl_client.new_conversation(body={"user": {"id": steps.USER_ID}})

    def greeted(acts: list[dict[str, Any]]) -> bool:
        return any(_is_greeting(a, dl_profile) for a in acts)

    activities = steps.wait_for_history(
        dl_client, conversation, greeted, timeout=dl_profile.timings.delivery_timeout
    )
    welcome = dl_profile.bot.welcome
    expect.that(
        greeted(activities),
        f"the bot's greeting ({'any message' if welcome == '*' else repr(welcome)}) within "
        f"{dl_profile.timings.delivery_timeout:g} s of the start",
        f"{len(activities)} activities: "
        + repr([(a.get("type"), a.get("text")) for a in activities if steps.from_bot(a)])[:300],
        dl_client.recorder.exchanges[-1:],
    )


@cost(conversations=1, requests=1)
@requirement("DL-START-010")
def test_start_accepts_token_parameters_body(dl_client: DirectLineClient) -> None:
    """Start accepts the optional TokenParameters body the official client sends."""
    answer = dl_client.start_conversation(
        body={"user": {"id": steps.USER_ID, "name": "Conformance"}, "locale": "en-US"}
    )
    expect.status(answer, 201, what="starting with a TokenParameters body")


@start_lane
@cost(conversations=1, requests=5, activities=1)
@requirement("DL-START-011")
def test_answers_are_json(
    dl_client: DirectLineClient,
    dl_start_answer: Exchange,
    dl_conversation: Conversation,
    dl_profile: Profile,
) -> None:
    """Every operation answers with a JSON media type when the client accepts JSON (the start
    judged on the lane's start answer; the refresh with a generated token of its own)."""
    accept = {"Accept": "application/json"}
    conversation_id = quote(dl_conversation.id, safe="")
    auth = steps.credential(dl_conversation)
    answers = [dl_start_answer]
    answers.append(
        dl_client.request(
            "POST",
            f"/conversations/{conversation_id}/activities",
            auth=auth,
            headers={**accept, "Content-Type": "application/json"},
            content=_json(steps.message(steps.unique_text("json"))),
        )
    )
    answers.append(
        dl_client.request(
            "GET", f"/conversations/{conversation_id}/activities", auth=auth, headers=accept
        )
    )
    if dl_profile.supports("reconnect"):
        answers.append(
            dl_client.request("GET", f"/conversations/{conversation_id}", auth=auth, headers=accept)
        )
    if dl_profile.supports("tokens"):
        generated = dl_client.request("POST", "/tokens/generate", headers=accept)
        answers.append(generated)
        token = (generated.json_or_none() or {}).get("token") if generated.status == 200 else None
        if isinstance(token, str) and token:
            answers.append(dl_client.request("POST", "/tokens/refresh", headers=accept, auth=token))
    for answer in answers:
        expect.precondition(answer, f"{answer.method} {answer.url}")
        media = (answer.header("content-type") or "").split(";")[0].strip().lower()
        expect.that(
            media == "application/json" or media.endswith("+json"),
            "Content-Type: application/json",
            f"Content-Type: {answer.header('content-type')!r} on {answer.method} {answer.url}",
            [answer],
        )


def _is_greeting(activity: dict[str, Any], profile: Profile) -> bool:
    return (
        activity.get("type") == "message"
        and steps.from_bot(activity)
        and profile.bot.is_welcome(activity.get("text"))
    )


def _json(value: object) -> bytes:
    import json

    return json.dumps(value).encode()
