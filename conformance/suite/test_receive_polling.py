"""Receive by polling: ``GET /v3/directline/conversations/{id}/activities[?watermark=]``
(receive page § Retrieve activities with HTTP GET, API reference § ActivitySet).

The watermark is the heart of polling: paging by the watermarks the service returns yields every
recorded activity exactly once, in record order, and nothing already delivered comes back.

Most tests share the ``polling`` lane's conversation: each judges its own activities (found by
the ids its sends answered, or from the watermark it took), never the whole history. The test
that needs the conversation quiet comes first; the ones needing a fresh conversation, a user
joining, or an endOfConversation have their own.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from conformance.client import Conversation, DirectLineClient
from conformance.config.costs import HISTORY_PAGES
from conformance.config.profile import Profile
from conformance.errors import PreconditionFailed, StreamClosed
from conformance.evidence import Exchange
from conformance.suite import expect, steps

requirement = pytest.mark.requirement
cost = pytest.mark.cost
polling_lane = pytest.mark.lane("polling")

#: Most pages a test reads while paging (a service that never answers an empty page is stopped).
MAX_PAGES = HISTORY_PAGES
event = steps.event
ids_of = steps.ids_of
from_bot = steps.from_bot


def read_page(
    client: DirectLineClient, conversation: Conversation, watermark: str | None = None
) -> tuple[Exchange, list[dict[str, Any]], Any]:
    """One GET (a precondition: 200 with an activities list): (exchange, activities, watermark)."""
    answer = client.get_activities(
        conversation.id, auth=steps.credential(conversation), watermark=watermark
    )
    body = expect.precondition(answer, "reading the conversation's activities")
    batch = body.get("activities") if isinstance(body, dict) else None
    if not isinstance(batch, list) or not all(isinstance(a, dict) for a in batch):
        raise PreconditionFailed(
            f"could not test: GET activities answered no activities list ({answer.summary})",
            exchange=answer,
        )
    return answer, batch, body.get("watermark")


def page_through(
    client: DirectLineClient, conversation: Conversation, watermark: str | None = None
) -> tuple[list[dict[str, Any]], Any, list[Exchange]]:
    """Page by the returned watermarks until an empty page (or a page with no string watermark
    to advance with, or MAX_PAGES): (every activity returned, in order, repeats kept; the
    watermark of the last non-empty page, or the one given; the exchanges)."""
    activities: list[dict[str, Any]] = []
    exchanges: list[Exchange] = []
    current = watermark
    client.meter.pagings += 1
    client.meter.paging = True
    try:
        for _ in range(MAX_PAGES):
            answer, batch, new = read_page(client, conversation, current)
            exchanges.append(answer)
            if not batch:
                break
            activities.extend(batch)
            if not isinstance(new, str):
                break
            current = new
    finally:
        client.meter.paging = False
    return activities, current, exchanges


def expect_whole_history(answer: Exchange, said: str) -> None:
    """The answer to a GET whose watermark counts as absent holds the whole history, including
    the activity ``said``."""
    body = expect.json_object(answer)
    batch = body.get("activities")
    ids = ids_of(batch) if isinstance(batch, list) else []
    expect.that(
        said in ids,
        f"the whole history, as without a watermark (it holds {said!r})",
        f"activity ids {ids!r}",
        [answer],
    )


def no_string_watermark(page: Exchange) -> None:
    """Stop a paging test whose target answered no string watermark. The failure is DL-POLL-002's
    (named in the Violation), so the test's own requirement is reported inconclusive
    (not-tested) rather than a harness error: a target with numeric watermarks, as the
    open-source emulators have, can still be certified."""
    try:
        body = json.loads(page.response_body) if page.response_body else None
    except (ValueError, UnicodeDecodeError):
        body = None
    watermark = body.get("watermark") if isinstance(body, dict) else None
    raise expect.Violation(
        "a string watermark to page with (stopped here: this test cannot judge its own rule)",
        f"GET answered the watermark {watermark!r}",
        [page],
        requirement="DL-POLL-002",
    )


@pytest.mark.smoke
@polling_lane
@cost(requests=2, activities=1)
@requirement("DL-POLL-001")
def test_get_answers_an_activity_set(
    dl_client: DirectLineClient, dl_conversation: Conversation
) -> None:
    """GET activities answers 200 with an ActivitySet (``activities`` array, ``watermark``)."""
    conversation = dl_conversation
    steps.send(dl_client, conversation, event(steps.unique_text("poll")))
    answer = dl_client.get_activities(conversation.id, auth=steps.credential(conversation))
    expect.status(answer, 200, what="GET activities")
    body = expect.json_object(answer)
    expect.conforms(body, "activity-set", [answer], what="the GET answer")


@polling_lane
@cost(requests=2, activities=1)
@requirement("DL-POLL-002")
def test_watermark_is_a_string(dl_client: DirectLineClient, dl_conversation: Conversation) -> None:
    """Once something is recorded, the GET answer's ``watermark`` is a string (``"3"``, not 3)."""
    conversation = dl_conversation
    steps.send(dl_client, conversation, event(steps.unique_text("watermark")))
    answer = dl_client.get_activities(conversation.id, auth=steps.credential(conversation))
    expect.precondition(answer, "GET activities")
    body = expect.json_object(answer)
    value = body.get("watermark")
    expect.that(
        isinstance(value, str),
        "watermark: a string (an activity is recorded)",
        f"watermark: {value!r}" if "watermark" in body else "no watermark field",
        [answer],
    )


@polling_lane
@cost(requests=3, activities=3, pagings=1)
@requirement("DL-POLL-003")
def test_paging_yields_the_whole_history_oldest_first(
    dl_client: DirectLineClient, dl_conversation: Conversation
) -> None:
    """Paging from no watermark by the returned watermarks yields every sent activity, oldest
    first."""
    conversation = dl_conversation
    sent = [
        steps.send(dl_client, conversation, event(steps.unique_text(f"history {n}")))
        for n in range(1, 4)
    ]
    activities, _, pages = page_through(dl_client, conversation)
    seen = list(dict.fromkeys(i for i in ids_of(activities) if i in sent))
    expect.equal(seen, sent, "the client's activities found by paging, in order", pages)


@polling_lane
@cost(requests=3, activities=2, pagings=1)
@requirement("DL-POLL-005")
def test_watermark_returns_only_newer_activities(
    dl_client: DirectLineClient, dl_conversation: Conversation
) -> None:
    """With ``watermark=W`` only activities recorded after W come back: nothing re-delivered."""
    conversation = dl_conversation
    steps.send(dl_client, conversation, event(steps.unique_text("before")))
    first, watermark, pages = page_through(dl_client, conversation)
    if not isinstance(watermark, str):
        no_string_watermark(pages[-1])
    later = steps.send(dl_client, conversation, event(steps.unique_text("after")))
    answer, batch, _ = read_page(dl_client, conversation, watermark)
    delivered = set(ids_of(first))
    again = [i for i in ids_of(batch) if i in delivered]
    expect.that(
        not again,
        f"only activities recorded after watermark {watermark!r} (such as {later!r})",
        f"already delivered activities returned again: {again!r}",
        [*pages, answer],
    )


@polling_lane
@cost(requests=3, activities=3, pagings=3)
@requirement("DL-POLL-006")
def test_paging_by_watermark_loses_nothing(
    dl_client: DirectLineClient, dl_conversation: Conversation
) -> None:
    """Sends interleaved with polls by watermark: every activity is returned exactly once."""
    conversation = dl_conversation
    sent: list[str] = []
    received: list[dict[str, Any]] = []
    exchanges: list[Exchange] = []
    watermark: Any = None
    for n in range(1, 4):
        sent.append(steps.send(dl_client, conversation, event(steps.unique_text(f"event {n}"))))
        batch, watermark, pages = page_through(dl_client, conversation, watermark)
        received.extend(batch)
        exchanges.extend(pages)
        if not isinstance(watermark, str):
            no_string_watermark(pages[-1])
    ids = ids_of(received)
    counts = {i: ids.count(i) for i in sent}
    wrong = {i: c for i, c in counts.items() if c != 1}
    expect.that(
        not wrong,
        f"each of the {len(sent)} sent activities returned exactly once while paging",
        "; ".join(f"{i!r} returned {c} times" for i, c in wrong.items()),
        exchanges[-8:],
    )


@polling_lane
@cost(requests=5, activities=2, pagings=1)
@requirement("DL-POLL-008")
def test_nothing_new_gives_an_empty_set_and_a_working_watermark(
    dl_client: DirectLineClient, dl_conversation: Conversation
) -> None:
    """With nothing new, ``activities`` is empty, and the watermark of that answer works as well
    as the one it was asked with."""
    conversation = dl_conversation
    steps.send(dl_client, conversation, event(steps.unique_text("first")))
    _, watermark, pages = page_through(dl_client, conversation)
    if not isinstance(watermark, str):
        no_string_watermark(pages[-1])
    idle, batch, returned = read_page(dl_client, conversation, watermark)
    expect.equal(ids_of(batch), [], "activities after the last watermark (nothing new)", [idle])
    next_mark = returned if isinstance(returned, str) else watermark
    steps.send(dl_client, conversation, event(steps.unique_text("later")))
    with_old, from_old, _ = read_page(dl_client, conversation, watermark)
    with_new, from_new, _ = read_page(dl_client, conversation, next_mark)
    expect.equal(
        ids_of(from_new),
        ids_of(from_old),
        f"activities after the idle answer's watermark {next_mark!r} (as after {watermark!r})",
        [idle, with_old, with_new],
    )


@polling_lane
@cost(requests=2, activities=2, pagings=1)
@requirement("DL-POLL-009")
def test_typing_is_not_returned_by_get(
    dl_client: DirectLineClient, dl_conversation: Conversation
) -> None:
    """A ``typing`` activity is never returned by GET."""
    conversation = dl_conversation
    typing_id = steps.send_typing(dl_client, conversation)
    after = steps.send(dl_client, conversation, event(steps.unique_text("after typing")))
    activities, _, pages = page_through(dl_client, conversation)
    typing = [
        a.get("id")
        for a in activities
        if a.get("type") == "typing" or (typing_id is not None and a.get("id") == typing_id)
    ]
    if after not in ids_of(activities):
        raise PreconditionFailed(
            f"could not test: the event {after!r} sent after typing is not in the history"
        )
    expect.that(
        not typing,
        "no typing activity in the GET answers",
        f"typing returned: {typing!r}",
        pages,
    )


@cost(conversations=1, requests=3, activities=1, streams=1, pagings=1)
@requirement("DL-POLL-010")
def test_conversation_update_never_reaches_the_client(
    dl_client: DirectLineClient, dl_profile: Profile
) -> None:
    """A start with a user makes the service tell the bot (``conversationUpdate``); that
    activity never reaches the client, by GET or on the stream."""
    conversation = dl_client.new_conversation(body={"user": {"id": steps.USER_ID}})
    streamed: list[dict[str, Any]] = []
    stream_exchange: list[Exchange] = []
    if dl_profile.supports("websocket") and conversation.stream_url:
        with dl_client.open_stream(conversation.stream_url) as stream:
            stream_exchange.append(stream.exchange)
            marker = steps.send(dl_client, conversation, event(steps.unique_text("marker")))
            try:
                streamed = stream.collect(
                    lambda acts: marker in ids_of(acts),
                    timeout=dl_profile.timings.delivery_timeout,
                )
            except StreamClosed:
                streamed = list(stream.activities)
    else:
        marker = steps.send(dl_client, conversation, event(steps.unique_text("marker")))
    activities, _, pages = page_through(dl_client, conversation)
    if marker not in ids_of(activities):
        raise PreconditionFailed(f"could not test: the event {marker!r} is not in the history")
    updates = [
        f"{where}: {a.get('id')!r}"
        for where, batch in (("GET", activities), ("stream", streamed))
        for a in batch
        if a.get("type") == "conversationUpdate"
    ]
    expect.that(
        not updates,
        "no conversationUpdate delivered to the client",
        "; ".join(updates),
        [*pages, *stream_exchange],
    )


@cost(conversations=1, requests=4, activities=3, pagings=1)
@requirement("DL-POLL-011")
def test_end_event_and_custom_types_are_returned(dl_client: DirectLineClient) -> None:
    """``event``, custom-type and ``endOfConversation`` activities are returned by GET."""
    conversation = dl_client.new_conversation()
    sent = {
        "event": steps.send(dl_client, conversation, event(steps.unique_text("event"))),
        "x-conformance-custom": steps.send(
            dl_client,
            conversation,
            {"type": "x-conformance-custom", "from": {"id": steps.USER_ID}, "value": 1},
            what="sending a custom-type activity",
        ),
        "endOfConversation": steps.send(
            dl_client,
            conversation,
            {"type": "endOfConversation", "from": {"id": steps.USER_ID}},
            what="sending endOfConversation",
        ),
    }
    activities, _, pages = page_through(dl_client, conversation)
    types = {a.get("id"): a.get("type") for a in activities}
    missing = [f"{kind} {i!r}" for kind, i in sent.items() if types.get(i) != kind]
    expect.that(
        not missing,
        "the event, the custom-type activity and the endOfConversation in the GET answers",
        f"missing (or of another type): {', '.join(missing)}",
        pages,
    )


@polling_lane
@cost(requests=2, activities=1)
@requirement("DL-POLL-012")
def test_unknown_watermark_is_400_or_ignored(
    dl_client: DirectLineClient, dl_conversation: Conversation
) -> None:
    """A watermark the service never issued is refused with 400 or treated as absent."""
    conversation = dl_conversation
    said = steps.send(dl_client, conversation, event(steps.unique_text("zzz")))
    answer = dl_client.get_activities(
        conversation.id, auth=steps.credential(conversation), watermark="zzz"
    )
    status = expect.status(answer, 200, 400, what="GET activities with watermark=zzz")
    if status == 200:
        expect_whole_history(answer, said)


@polling_lane
@cost(requests=2, activities=1)
@requirement("DL-POLL-013")
def test_empty_watermark_is_treated_as_absent(
    dl_client: DirectLineClient, dl_conversation: Conversation
) -> None:
    """``GET …/activities?watermark=`` (empty) answers as if no watermark was given."""
    conversation = dl_conversation
    said = steps.send(dl_client, conversation, event(steps.unique_text("empty watermark")))
    answer = dl_client.get_activities(
        conversation.id, auth=steps.credential(conversation), watermark=""
    )
    expect.status(answer, 200, what="GET activities with an empty watermark=")
    expect_whole_history(answer, said)


@polling_lane
@cost(requests=3, activities=3, waits=3, pagings=1)
@requirement("DL-POLL-007")
def test_activities_come_in_record_order(
    dl_client: DirectLineClient, dl_conversation: Conversation, dl_profile: Profile
) -> None:
    """Activities come in the order they were recorded: each message, then the bot's reply
    (where the profile says the bot replies), before the next message is sent."""
    conversation = dl_conversation
    order: list[Any] = []  # ids, in the order they were recorded
    for n in (1, 2, 3):
        text = steps.unique_text(f"order {n}")
        said = steps.send(dl_client, conversation, steps.message(text))
        order.append(said)
        if dl_profile.supports("echo_bot"):

            def replied(acts: list[dict[str, Any]], said: str = said, text: str = text) -> bool:
                return any(steps.answers(a, said, text, dl_profile.bot) for a in acts)

            activities = steps.wait_for_history(
                dl_client, conversation, replied, timeout=dl_profile.timings.delivery_timeout
            )
            replies = [a for a in activities if steps.answers(a, said, text, dl_profile.bot)]
            if not replies:
                raise PreconditionFailed(
                    f"could not test: the bot did not reply to {said!r} (DL-BOT-001 judges that)"
                )
            order.append(replies[0].get("id"))
    activities, _, pages = page_through(dl_client, conversation)
    returned = list(dict.fromkeys(i for i in ids_of(activities) if i in order))
    expect.equal(
        returned,
        order,
        "the ids of the messages and of the bot's replies, in the order GET returns them",
        pages,
    )


@polling_lane
@cost(requests=2, activities=2, pagings=1)
@requirement("DL-POLL-004")
def test_own_activities_come_under_the_answered_ids(
    dl_client: DirectLineClient, dl_conversation: Conversation
) -> None:
    """The client's own activities, an event and a message, are in the history under the ids
    the sends answered. (The lane's last test: the bot's reply to the message comes when it
    comes, and no later test of the lane waits for nothing new.)"""
    conversation = dl_conversation
    sent: dict[str, tuple[str, str]] = {}  # answered id -> (field, value)
    text = steps.unique_text("own event")
    sent[steps.send(dl_client, conversation, event(text))] = ("value", text)
    text = steps.unique_text("own message")
    sent[steps.send(dl_client, conversation, steps.message(text))] = ("text", text)
    activities = steps.history(dl_client, conversation, until=steps.has_ids(*sent))
    by_id = {a.get("id"): a for a in activities}
    for activity_id, (name, value) in sent.items():
        found = by_id.get(activity_id)
        expect.that(
            found is not None and found.get(name) == value,
            f"the activity {activity_id!r} with {name} {value!r} in the history",
            "no activity with that id"
            if found is None
            else f"that id holds {name} {found.get(name)!r}",
            dl_client.recorder.exchanges[-3:],
        )


@cost(conversations=1, requests=2)
@requirement("DL-POLL-014")
def test_fresh_conversation_answers_200(dl_client: DirectLineClient) -> None:
    """GET on a conversation that has recorded nothing yet answers 200 with an activities array."""
    conversation = dl_client.new_conversation()
    answer = dl_client.get_activities(conversation.id, auth=steps.credential(conversation))
    expect.status(answer, 200, what="GET activities right after the start")
    body = expect.json_object(answer)
    expect.that(
        isinstance(body.get("activities"), list),
        "an activities array",
        f"activities: {body.get('activities')!r:.120}" if "activities" in body else "none",
        [answer],
    )
