"""Reconnect: ``GET /v3/directline/conversations/{id}[?watermark=]`` (reconnect page, API
reference § Get Conversation Information).

A reconnect answers a fresh token and stream URL for the same conversation; with a watermark the
new stream replays what came after it, without one only what is recorded afterwards. One socket
per conversation (DL-STREAM-013): the old socket is closed before the new one is opened.

The tests share the ``reconnect`` lane's conversation (a reconnect changes nothing a later test
relies on), but the one replaying what a dropped socket missed, which needs the start's stream.
"""

from __future__ import annotations

from typing import Any

import pytest

from conformance.client import SECRET, Conversation, DirectLineClient
from conformance.config.profile import Profile
from conformance.errors import PreconditionFailed
from conformance.evidence import Exchange
from conformance.suite import expect, steps

requirement = pytest.mark.requirement
cost = pytest.mark.cost
reconnect_lane = pytest.mark.lane("reconnect")

Activities = list[dict[str, Any]]
event = steps.event
ids_of = steps.ids_of


def reconnect(
    client: DirectLineClient, conversation: Conversation, watermark: str | None = None
) -> tuple[Exchange, dict[str, Any]]:
    """A reconnect the test needs but does not judge: 200 with a streamUrl (precondition)."""
    answer = client.reconnect(
        conversation.id, auth=steps.credential(conversation), watermark=watermark
    )
    body = expect.precondition(answer, "reconnecting")
    if not isinstance(body, dict) or not isinstance(body.get("streamUrl"), str):
        raise PreconditionFailed(
            "could not test: the reconnect answer has no streamUrl (DL-RECON-001 judges that)",
            exchange=answer,
        )
    return answer, body


def watermark_after(
    client: DirectLineClient, conversation: Conversation, wanted: str
) -> tuple[str, list[Exchange]]:
    """The watermark after the whole history, which must hold ``wanted`` (precondition)."""
    activities, watermark, pages = client.collect_activities(
        conversation.id, auth=steps.credential(conversation)
    )
    if wanted not in ids_of(activities) or not isinstance(watermark, str):
        raise PreconditionFailed(
            f"could not test: no string watermark after {wanted!r} by GET",
            exchange=pages[-1] if pages else None,
        )
    return watermark, pages


@pytest.mark.smoke
@reconnect_lane
@cost(requests=1)
@requirement("DL-RECON-001")
def test_reconnect_answers_the_same_conversation(
    dl_client: DirectLineClient, dl_conversation: Conversation
) -> None:
    """Reconnect answers 200 with the same ``conversationId``, a ``token`` and a ``streamUrl``."""
    conversation = dl_conversation
    answer = dl_client.reconnect(conversation.id, auth=steps.credential(conversation))
    expect.status(answer, 200, what="reconnecting")
    body = expect.json_object(answer)
    expect.conforms(body, "reconnect-answer", [answer], what="the reconnect answer")
    expect.equal(
        body.get("conversationId"), conversation.id, "conversationId", [conversation.answer, answer]
    )


@reconnect_lane
@cost(requests=2, streams=1)
@requirement("DL-RECON-002")
def test_reconnect_stream_url_is_connectable(
    dl_client: DirectLineClient, dl_conversation: Conversation, dl_profile: Profile
) -> None:
    """The reconnect ``streamUrl`` opens as a WebSocket (no other socket of the conversation
    open)."""
    answer, body = reconnect(dl_client, dl_conversation)
    steps.expect_stream_opens(
        dl_client,
        body["streamUrl"],
        expected="the reconnect streamUrl upgrades to an open WebSocket (101)",
        exchanges=[answer],
        timeout=dl_profile.timings.request_timeout,
    )


@cost(conversations=1, requests=7, streams=2, activities=3, pagings=1)
@requirement("DL-RECON-003")
def test_reconnect_with_watermark_replays_what_was_missed(
    dl_client: DirectLineClient, dl_profile: Profile
) -> None:
    """With ``watermark=W`` the new stream replays everything recorded after W."""
    conversation = dl_client.new_conversation()
    if not conversation.stream_url:
        raise PreconditionFailed("could not test: the start answer has no streamUrl")
    with dl_client.open_stream(conversation.stream_url) as stream:
        seen = steps.send(dl_client, conversation, event(steps.unique_text("while connected")))
        steps.collect(
            stream, lambda acts: seen in ids_of(acts), dl_profile.timings.delivery_timeout
        )
    watermark, _ = watermark_after(dl_client, conversation, seen)
    missed = [
        steps.send(dl_client, conversation, event(steps.unique_text(f"while away {n}")))
        for n in (1, 2)
    ]
    answer, body = reconnect(dl_client, conversation, watermark)
    with dl_client.open_stream(body["streamUrl"]) as stream:
        arrived = steps.collect(
            stream,
            lambda acts: all(m in ids_of(acts) for m in missed),
            dl_profile.timings.delivery_timeout,
        )
    lost = [m for m in missed if m not in ids_of(arrived)]
    expect.that(
        not lost,
        f"the activities recorded after watermark {watermark!r} replayed on the new stream",
        f"never arrived: {lost!r}; the stream delivered {ids_of(arrived)!r}",
        [answer, stream.exchange],
    )


@reconnect_lane
@cost(requests=4, streams=1, activities=2)
@requirement("DL-RECON-004")
def test_reconnect_without_watermark_streams_only_what_follows(
    dl_client: DirectLineClient, dl_conversation: Conversation, dl_profile: Profile
) -> None:
    """Without a watermark the new stream carries only what is recorded after the reconnect."""
    conversation = dl_conversation
    old = steps.send(dl_client, conversation, event(steps.unique_text("before reconnect")))
    answer, body = reconnect(dl_client, conversation)
    with dl_client.open_stream(body["streamUrl"]) as stream:
        new = steps.send(dl_client, conversation, event(steps.unique_text("after reconnect")))
        arrived = steps.collect(
            stream, lambda acts: new in ids_of(acts), dl_profile.timings.delivery_timeout
        )
    ids = ids_of(arrived)
    expect.that(
        new in ids and old not in ids,
        f"only what followed the reconnect: {new!r}, not the earlier {old!r}",
        f"the stream delivered {ids!r}",
        [answer, stream.exchange],
    )


@reconnect_lane
@cost(requests=3, activities=2, pagings=2)
@requirement("DL-RECON-005")
def test_reconnect_keeps_the_history(
    dl_client: DirectLineClient, dl_conversation: Conversation
) -> None:
    """After a reconnect, GET still returns the earlier activities."""
    conversation = dl_conversation
    for n in (1, 2):
        steps.send(dl_client, conversation, event(steps.unique_text(f"kept {n}")))
    before = ids_of(steps.history(dl_client, conversation))
    answer, _ = reconnect(dl_client, conversation)
    after = ids_of(steps.history(dl_client, conversation))
    expect.equal(
        after[: len(before)],
        before,
        "the activity ids after the reconnect (those before it, first)",
        [answer],
    )


@reconnect_lane
@cost(requests=2)
@requirement("DL-RECON-006")
def test_reconnect_works_with_token_and_secret(
    dl_client: DirectLineClient, dl_conversation: Conversation, dl_profile: Profile
) -> None:
    """Reconnect answers 200 with the conversation's token and with the secret."""
    conversation = dl_conversation
    if not conversation.token:
        raise PreconditionFailed(
            "could not test: the start answer has no token", exchange=conversation.answer
        )
    with_token = dl_client.reconnect(conversation.id, auth=conversation.token)
    expect.status(with_token, 200, what="reconnecting with the conversation's token")
    with_secret = dl_client.reconnect(conversation.id, auth=SECRET)
    if dl_profile.supports("enhanced_auth") and with_secret.status == 400:
        body = with_secret.json_or_none()
        code = body.get("error", {}).get("code") if isinstance(body, dict) else None
        expect.that(
            code == "MissingProperty",
            "200, or (enhanced authentication) 400 MissingProperty, with the secret",
            f"400 with error code {code!r}",
            [with_secret],
        )
        return
    expect.status(with_secret, 200, what="reconnecting with the secret")


@reconnect_lane
@cost(requests=4, activities=1)
@requirement("DL-RECON-007")
def test_reconnect_token_authorizes_the_conversation(
    dl_client: DirectLineClient, dl_conversation: Conversation, dl_profile: Profile
) -> None:
    """The token reconnect answers can send to, read and refresh the conversation."""
    conversation = dl_conversation
    answer, body = reconnect(dl_client, conversation)
    token = body.get("token")
    if not isinstance(token, str) or not token:
        raise PreconditionFailed(
            "could not test: the reconnect answer has no token (DL-RECON-001)", exchange=answer
        )
    sent = dl_client.post_activity(
        conversation.id, steps.message(steps.unique_text("reconnect token")), auth=token
    )
    expect.status(sent, range(200, 300), what="sending with the reconnect token")
    read = dl_client.get_activities(conversation.id, auth=token)
    expect.status(read, 200, what="reading with the reconnect token")
    if dl_profile.supports("tokens"):
        refreshed = dl_client.refresh_token(auth=token)
        expect.status(refreshed, 200, what="refreshing the reconnect token")


@reconnect_lane
@cost(requests=1)
@requirement("DL-RECON-008")
def test_empty_watermark_on_reconnect_is_absent(
    dl_client: DirectLineClient, dl_conversation: Conversation
) -> None:
    """``GET /conversations/{id}?watermark=`` (empty, as the official client sends it)
    answers 200 like a reconnect without a watermark."""
    conversation = dl_conversation
    answer = dl_client.reconnect(conversation.id, auth=steps.credential(conversation), watermark="")
    expect.status(answer, 200, what="reconnecting with an empty watermark=")
    body = expect.json_object(answer)
    expect.equal(body.get("conversationId"), conversation.id, "conversationId", [answer])
