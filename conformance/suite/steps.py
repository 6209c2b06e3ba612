"""Protocol steps the suite's tests share: preconditions, never judgements.

A step does what a test needs done before it can judge its own rule (send a message, read the
history, wait for an activity). When the target cannot do the step at all, the step raises
PreconditionFailed: the rule under test could not be judged, which is an error verdict, not a
failure of that rule. When the step's failure is itself a broken rule (a send answering 2xx
without an id breaks DL-SEND-001), the step names that rule instead, and the rule under test is
reported inconclusive (not-tested) rather than an error.

Waiting is polling: one GET per poll, by watermark after the first (so a long history costs no
more), pausing 0.05 s and doubling up to the profile's ``poll_interval``
(conformance.config.costs counts the polls a wait may send). Each poll is counted on the test
as a poll, not a request.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from conformance.client import (
    SECRET,
    Auth,
    Conversation,
    DirectLineClient,
    StreamConnection,
    TimedStart,
)
from conformance.config.costs import poll_delays
from conformance.config.profile import Bot
from conformance.errors import PreconditionFailed, StreamClosed, StreamRefused
from conformance.evidence import Exchange
from conformance.suite import expect

__all__ = [
    "SUITE_USER_PREFIX",
    "USER_ID",
    "TimedStarter",
    "answers",
    "bot_message",
    "collect",
    "credential",
    "event",
    "expect_stream_opens",
    "from_bot",
    "has_ids",
    "history",
    "ids_of",
    "message",
    "open_stream_judged",
    "send",
    "start_token",
    "typing",
    "unique_text",
    "wait_for_history",
]

#: What the ``dl_timed_start`` fixture hands a timing test: ``start(latest)`` is its
#: conversation, started together with those of the other tests of its clock
#: (conformance.plugin.clocks), or anew when older than ``latest`` seconds (None: any age).
TimedStarter = Callable[[float | None], TimedStart]

#: The user the suite speaks for (``dl_`` prefix: the live service's enhanced auth wants it).
USER_ID = "dl_conformance_user"
#: Every user id the suite's activities carry starts so: anything else in a history is the bot's.
SUITE_USER_PREFIX = "dl_"

Activities = list[dict[str, Any]]


def unique_text(label: str) -> str:
    """A message text no other test or run uses, so it can be found in a shared history."""
    return f"{label} {uuid.uuid4().hex[:12]}"


def message(text: str, *, user: str = USER_ID, **fields: Any) -> dict[str, Any]:
    """A minimal message activity as the docs' examples send it."""
    return {"type": "message", "from": {"id": user}, "text": text, **fields}


def typing(*, user: str = USER_ID) -> dict[str, Any]:
    """A typing activity (never recorded: it reaches streams only)."""
    return {"type": "typing", "from": {"id": user}}


def event(name: str) -> dict[str, Any]:
    """An ``event`` activity: the test bot does not answer it, so the history stays quiet."""
    return {"type": "event", "name": name, "from": {"id": USER_ID}, "value": name}


def ids_of(activities: Iterable[Any]) -> list[Any]:
    """The ids of the activities, in order (None for one without an id)."""
    return [a.get("id") for a in activities if isinstance(a, dict)]


def has_ids(*wanted: Any) -> Callable[[Activities], bool]:
    """A predicate of what arrived: every one of ``wanted`` ids is in it (compared by value, so
    an id of any JSON type a target sends is looked at, not a crash)."""
    return lambda activities: all(w in ids_of(activities) for w in wanted)


def from_bot(activity: dict[str, Any]) -> bool:
    """Whether the bot sent ``activity``: its sender says it is a bot, or is none of the users
    the suite speaks for (every one of them has a ``dl_`` id)."""
    sender = activity.get("from")
    if not isinstance(sender, dict):
        return False
    sender_id = sender.get("id")
    return sender.get("role") == "bot" or not (
        isinstance(sender_id, str) and sender_id.startswith(SUITE_USER_PREFIX)
    )


def bot_message(activity: dict[str, Any]) -> bool:
    """Whether ``activity`` is a message the bot sent."""
    return activity.get("type") == "message" and from_bot(activity)


def answers(activity: dict[str, Any], sent_id: str, sent_text: str, bot: Bot) -> bool:
    """Whether ``activity`` is the bot's reply to the message ``sent_id`` (with text
    ``sent_text``), as the profile's bot replies (by replyToId, or by text)."""
    return bot_message(activity) and bot.answers(activity, sent_id, sent_text)


def credential(conversation: Conversation) -> Auth:
    """The credential a client uses on its conversation: the token start answered (decision 7 of
    the catalog), or the secret when the target hands out no token."""
    return conversation.token if conversation.token else SECRET


def start_token(conversation: Conversation) -> str:
    """The token start answered (precondition: there is one; DL-START-003 judges its absence)."""
    if not conversation.token:
        raise PreconditionFailed(
            "could not test: the start answer has no token (DL-START-003 judges that)",
            exchange=conversation.answer,
        )
    return conversation.token


def open_stream_judged(
    client: DirectLineClient,
    url: str,
    *,
    expected: str,
    exchanges: list[Exchange],
    timeout: float | None = None,
) -> StreamConnection:
    """Open a stream whose refusal IS the failure under test: a Violation naming ``expected``,
    with the handshake among the evidence, rather than a harness error."""
    try:
        return client.open_stream(url, timeout=timeout)
    except StreamRefused as refused:
        raise expect.Violation(
            expected,
            f"handshake refused: {refused}",
            exchanges + ([refused.exchange] if refused.exchange else []),
        ) from None


def collect(
    stream: StreamConnection, predicate: Callable[[Activities], bool], timeout: float
) -> Activities:
    """The activities the stream delivers from now until ``predicate`` holds of them or
    ``timeout`` passes; a stream the server closes just ends the collection (the caller judges
    what arrived)."""
    before = len(stream.activities)
    with contextlib.suppress(StreamClosed):
        stream.collect(lambda acts: predicate(stream.activities[before:]), timeout=timeout)
    return list(stream.activities[before:])


def expect_stream_opens(
    client: DirectLineClient,
    url: str,
    *,
    expected: str,
    exchanges: list[Exchange],
    timeout: float | None = None,
) -> None:
    """The stream URL upgrades (101) to a WebSocket that is not closed at once; a refusal or an
    immediate close is the failure ``expected`` names. The stream is closed afterwards."""
    with open_stream_judged(
        client, url, expected=expected, exchanges=exchanges, timeout=timeout
    ) as stream:
        expect.that(
            stream.exchange.status == 101 and not stream.closed,
            expected,
            f"status {stream.exchange.status}, closed at once (code {stream.close_code})"
            if stream.closed
            else f"status {stream.exchange.status}",
            [*exchanges, stream.exchange],
        )


def send(
    client: DirectLineClient,
    conversation: Conversation,
    activity: dict[str, Any],
    *,
    auth: Auth | None = None,
    what: str = "sending an activity",
) -> str:
    """Post ``activity`` and return the id the target answered (precondition: 2xx with an id)."""
    answer = client.post_activity(
        conversation.id, activity, auth=credential(conversation) if auth is None else auth
    )
    body = expect.precondition(answer, what)
    activity_id = body.get("id") if isinstance(body, dict) else None
    if not isinstance(activity_id, str) or not activity_id:
        if activity.get("type") != "message":
            raise PreconditionFailed(
                f"could not test: {what} answered {answer.status} without an id",
                exchange=answer,
            )
        # DL-SEND-001's failure (a message send answers its id), named as such: the calling
        # test's own rule is then inconclusive, not failed
        raise expect.Violation(
            f"{what}: a 2xx answer with the activity's id",
            f"{answer.status} without an id",
            [answer],
            requirement="DL-SEND-001",
        )
    return activity_id


def send_typing(
    client: DirectLineClient, conversation: Conversation, *, what: str = "sending typing"
) -> str | None:
    """Post a typing activity (precondition: 2xx); its id when the answer has one. Typing is
    not recorded, so a target may answer it without an id (NLP.js answers ``{}``): no rule
    about typing needs the id."""
    answer = client.post_activity(conversation.id, typing(), auth=credential(conversation))
    body = expect.precondition(answer, what)
    activity_id = body.get("id") if isinstance(body, dict) else None
    return activity_id if isinstance(activity_id, str) and activity_id else None


def history(
    client: DirectLineClient,
    conversation: Conversation,
    *,
    auth: Auth | None = None,
    until: Callable[[Activities], bool] | None = None,
) -> Activities:
    """Every activity of the conversation, paged by watermark (precondition: GET answers 200);
    with ``until``, the pages up to the first that makes it hold (see has_ids)."""
    activities, _, exchanges = client.collect_activities(
        conversation.id, auth=credential(conversation) if auth is None else auth, until=until
    )
    for exchange in exchanges:
        expect.precondition(exchange, "reading the conversation's activities")
    return activities


def read_on(
    client: DirectLineClient,
    conversation: Conversation,
    first: Exchange,
    until: Callable[[Activities], bool],
) -> tuple[Activities, list[Exchange]]:
    """The activities of ``first`` (a GET of the whole history a test has judged already),
    paged on from its watermark only when ``until`` does not hold for them yet: the judged
    read is not paid for twice. Returns them with the exchanges read."""
    body = first.json_or_none()
    batch = body.get("activities") if isinstance(body, dict) else None
    activities: Activities = (
        [a for a in batch if isinstance(a, dict)] if isinstance(batch, list) else []
    )
    watermark = body.get("watermark") if isinstance(body, dict) else None
    if until(activities) or not isinstance(watermark, str):
        return activities, [first]
    more, _, pages = client.collect_activities(
        conversation.id, auth=credential(conversation), watermark=watermark, until=until
    )
    return activities + more, [first, *pages]


def wait_for_history(
    client: DirectLineClient,
    conversation: Conversation,
    predicate: Callable[[Activities], bool],
    *,
    timeout: float,
    auth: Auth | None = None,
) -> Activities:
    """Poll the history (with ``auth``, default the conversation's credential) until
    ``predicate`` holds for it or ``timeout`` passes; returns the history seen (each activity
    once, in the order GET gave them).

    One GET per poll: the first without a watermark, then from the last watermark answered.
    The caller judges the result: this never raises for a predicate that stays false.
    """
    chosen = credential(conversation) if auth is None else auth
    seen: Activities = []
    known: set[Any] = set()
    watermark: str | None = None
    meter = client.meter
    meter.waits += 1
    meter.polling = True
    try:
        delays = poll_delays(timeout, client.poll_interval)
        deadline = time.monotonic() + timeout
        while True:
            answer = client.get_activities(conversation.id, auth=chosen, watermark=watermark)
            body = expect.precondition(answer, "reading the conversation's activities")
            batch = body.get("activities") if isinstance(body, dict) else None
            if not isinstance(batch, list):
                raise PreconditionFailed(
                    f"could not test: GET activities answered no activities list "
                    f"({answer.summary})",
                    exchange=answer,
                )
            for activity in batch:
                key = activity.get("id") if isinstance(activity, dict) else None
                if isinstance(activity, dict) and (key is None or key not in known):
                    known.add(key)
                    seen.append(activity)
            if isinstance(body.get("watermark"), str):
                watermark = body["watermark"]
            pause = next(delays, None)
            if predicate(seen) or pause is None or time.monotonic() >= deadline:
                return seen
            time.sleep(pause)
    finally:
        meter.polling = False
