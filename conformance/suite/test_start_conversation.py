"""Start a conversation: ``POST /v3/directline/conversations`` (start-conversation page, seed 004,
API reference § Start Conversation)."""

from __future__ import annotations

import pytest

from conformance import expect
from conformance.client import DirectLineClient
from conformance.errors import PreconditionFailed
from conformance.profile import Profile
from conformance.suite import steps

requirement = pytest.mark.requirement


@pytest.mark.smoke
@requirement("DL-START-001")
def test_new_conversation_answers_201(dl_client: DirectLineClient) -> None:
    """A start that opens a new conversation answers 201 Created."""
    answer = dl_client.start_conversation()
    expect.status(answer, 201, what="starting a new conversation with the secret")


@requirement("DL-START-002")
def test_answer_has_conversation_id(dl_client: DirectLineClient) -> None:
    """The start answer has ``conversationId``, a non-empty string."""
    answer = dl_client.start_conversation()
    expect.precondition(answer, "starting a conversation")
    body = expect.json_object(answer)
    value = body.get("conversationId")
    expect.that(
        isinstance(value, str) and value != "",
        "conversationId: a non-empty string",
        f"conversationId: {value!r}" if "conversationId" in body else "no conversationId field",
        [answer],
    )


@requirement("DL-START-003")
def test_answer_has_token(dl_client: DirectLineClient) -> None:
    """The start answer has ``token``, a non-empty string."""
    answer = dl_client.start_conversation()
    expect.precondition(answer, "starting a conversation")
    body = expect.json_object(answer)
    value = body.get("token")
    expect.that(
        isinstance(value, str) and value != "",
        "token: a non-empty string",
        f"token of type {type(value).__name__}" if "token" in body else "no token field",
        [answer],
    )


@requirement("DL-START-004")
def test_answer_has_integer_expires_in(dl_client: DirectLineClient) -> None:
    """The start answer has ``expires_in``, an integer number of seconds > 0 (not a string)."""
    answer = dl_client.start_conversation()
    expect.precondition(answer, "starting a conversation")
    body = expect.json_object(answer)
    value = body.get("expires_in")
    expect.that(
        isinstance(value, int) and not isinstance(value, bool) and value > 0,
        "expires_in: an integer number of seconds greater than 0",
        f"expires_in: {value!r}" if "expires_in" in body else "no expires_in field",
        [answer],
    )


@requirement("DL-START-005")
def test_stream_url_opens_a_websocket(dl_client: DirectLineClient, dl_profile: Profile) -> None:
    """The answer has ``streamUrl``, and a WebSocket client opens it (http(s) mapped to ws(s))."""
    answer = dl_client.start_conversation()
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
        url,
        expected="the stream URL upgrades to an open WebSocket (101)",
        exchanges=[answer],
        timeout=dl_profile.timings.request_timeout,
    )


@requirement("DL-START-006")
def test_each_start_creates_a_new_conversation(dl_client: DirectLineClient) -> None:
    """Two starts with the secret give two different conversations."""
    first = dl_client.new_conversation()
    second = dl_client.new_conversation()
    expect.that(
        first.id != second.id,
        "two different conversationIds",
        f"the same conversationId twice: {first.id!r}",
        [first.answer, second.answer],
    )


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


@requirement("DL-START-008")
def test_start_token_works_for_its_conversation(dl_client: DirectLineClient) -> None:
    """The token returned by start can send to and read its conversation."""
    conversation = dl_client.new_conversation()
    if not conversation.token:
        raise PreconditionFailed(
            "could not test: the start answer has no token (DL-START-003 judges that)",
            exchange=conversation.answer,
        )
    sent = dl_client.post_activity(
        conversation.id, steps.message(steps.unique_text("start token")), auth=conversation.token
    )
    expect.status(sent, range(200, 300), what="sending with the start token")
    read = dl_client.get_activities(conversation.id, auth=conversation.token)
    expect.status(read, 200, what="reading with the start token")


@requirement("DL-START-009")
def test_start_with_user_delivers_the_bot_greeting(
    dl_client: DirectLineClient, dl_profile: Profile
) -> None:
    """Starting with a user id contacts the bot: its greeting reaches the client."""
    conversation = dl_client.new_conversation(body={"user": {"id": steps.USER_ID}})
    activities = steps.wait_for_history(
        dl_client,
        conversation,
        lambda acts: any(_from_bot(a) for a in acts),
        timeout=dl_profile.timings.delivery_timeout,
    )
    expect.that(
        any(_from_bot(a) for a in activities),
        f"a message from the bot within {dl_profile.timings.delivery_timeout:g} s of the start",
        f"{len(activities)} activities, none from the bot",
        dl_client.recorder.exchanges[-1:],
    )


@requirement("DL-START-010")
def test_start_accepts_token_parameters_body(dl_client: DirectLineClient) -> None:
    """Start accepts the optional TokenParameters body the official client sends."""
    answer = dl_client.start_conversation(
        body={"user": {"id": steps.USER_ID, "name": "Conformance"}, "locale": "en-US"}
    )
    expect.status(answer, 201, what="starting with a TokenParameters body")


@requirement("DL-START-011")
def test_answers_are_json(dl_client: DirectLineClient, dl_profile: Profile) -> None:
    """Every operation answers with a JSON media type when the client accepts JSON."""
    accept = {"Accept": "application/json"}
    answers = [dl_client.request("POST", "/conversations", headers=accept)]
    expect.precondition(answers[0], "starting a conversation")
    body = expect.json_object(answers[0])
    conversation_id = str(body.get("conversationId", ""))
    token = body.get("token")
    answers.append(
        dl_client.request(
            "POST",
            f"/conversations/{conversation_id}/activities",
            headers={**accept, "Content-Type": "application/json"},
            content=_json(steps.message(steps.unique_text("json"))),
        )
    )
    answers.append(
        dl_client.request("GET", f"/conversations/{conversation_id}/activities", headers=accept)
    )
    if dl_profile.supports("reconnect"):
        answers.append(
            dl_client.request("GET", f"/conversations/{conversation_id}", headers=accept)
        )
    if dl_profile.supports("tokens"):
        answers.append(dl_client.request("POST", "/tokens/generate", headers=accept))
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


def _from_bot(activity: dict) -> bool:
    sender = activity.get("from")
    return (
        activity.get("type") == "message"
        and isinstance(sender, dict)
        and sender.get("id") != steps.USER_ID
    )


def _json(value: object) -> bytes:
    import json

    return json.dumps(value).encode()
