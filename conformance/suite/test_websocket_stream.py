"""Receive by WebSocket: the ``streamUrl`` (receive page § Receive activities via WebSocket
stream, § Timing considerations).

One socket per conversation at a time (DL-STREAM-013): every test opens at most one stream on a
conversation and closes it before another is opened there.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest

from conformance.client import Conversation, DirectLineClient
from conformance.config.profile import Profile
from conformance.errors import PreconditionFailed, StreamClosed, StreamRefused
from conformance.suite import expect, steps

requirement = pytest.mark.requirement
cost = pytest.mark.cost

Activities = list[dict[str, Any]]
event = steps.event
ids_of = steps.ids_of


def start(client: DirectLineClient, **kwargs: Any) -> Conversation:
    """A new conversation whose start answer has a streamUrl (precondition)."""
    return streamable(client.new_conversation(**kwargs))


def streamable(conversation: Conversation) -> Conversation:
    """The conversation, whose start answer has a streamUrl (precondition)."""
    if not conversation.stream_url:
        raise PreconditionFailed(
            "could not test: the start answer has no streamUrl (DL-START-005 judges that)",
            exchange=conversation.answer,
        )
    return conversation


def parse_frame(frame: str | bytes) -> Any:
    text = frame.decode("utf-8", "replace") if isinstance(frame, bytes) else frame
    try:
        return json.loads(text)
    except ValueError:
        return None


@cost(conversations=1, requests=2, streams=1)
@requirement("DL-STREAM-001")
def test_stream_url_upgrades_without_authorization(
    dl_client: DirectLineClient, dl_profile: Profile
) -> None:
    """The streamUrl upgrades to a WebSocket (101) with no Authorization header."""
    conversation = start(dl_client)
    url = conversation.stream_url or ""
    steps.expect_stream_opens(
        dl_client,
        url,
        expected="the streamUrl upgrades (101) to an open WebSocket without an Authorization "
        "header",
        exchanges=[conversation.answer],
        timeout=dl_profile.timings.request_timeout,
    )


@pytest.mark.smoke
@cost(conversations=1, requests=4, streams=1, activities=2)
@requirement("DL-STREAM-002")
def test_stream_messages_are_activity_sets(
    dl_client: DirectLineClient, dl_profile: Profile
) -> None:
    """Every non-empty stream message is a JSON object in a text message; one with
    ``activities`` is an ActivitySet whose ``watermark`` is a string (or null/absent when it
    carries only unrecorded activities such as typing)."""
    conversation = start(dl_client)
    with dl_client.open_stream(conversation.stream_url or "") as stream:
        steps.send_typing(dl_client, conversation)
        text = steps.unique_text("frames")
        said = steps.send(dl_client, conversation, steps.message(text))
        frames: list[str | bytes] = []
        seen: Activities = []
        deadline = time.monotonic() + dl_profile.timings.delivery_timeout
        while said not in ids_of(seen) or (
            dl_profile.supports("echo_bot")
            and not any(steps.answers(a, said, text, dl_profile.bot) for a in seen)
        ):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                frame = stream.recv_frame(remaining)
            except StreamClosed:
                break
            if frame is None:
                break
            frames.append(frame)
            data = parse_frame(frame)
            if isinstance(data, dict) and isinstance(data.get("activities"), list):
                seen.extend(a for a in data["activities"] if isinstance(a, dict))
        if said not in ids_of(seen) and not any(frame not in ("", b"") for frame in frames):
            raise PreconditionFailed(
                f"could not test: nothing arrived on the stream within "
                f"{dl_profile.timings.delivery_timeout:g} s of {said!r} (DL-STREAM-003 judges "
                "that)"
            )
        for number, frame in enumerate(frames, 1):
            where = f"stream message {number}"
            if frame in ("", b""):
                continue
            expect.that(
                isinstance(frame, str),
                f"{where}: a text message",
                f"a binary message of {len(frame)} bytes",
                [stream.exchange],
            )
            data = parse_frame(frame)
            expect.that(
                isinstance(data, dict),
                f"{where}: a JSON object",
                f"{str(frame)[:160]!r}",
                [stream.exchange],
            )
            if "activities" not in data:
                continue
            expect.conforms(data, "activity-set", [stream.exchange], what=where)
            if not isinstance(data.get("watermark"), str):
                kinds = [a.get("type") for a in data["activities"]]
                expect.that(
                    all(kind == "typing" for kind in kinds),
                    f"{where}: a string watermark (only a set of unrecorded typing may lack one)",
                    f"watermark {data.get('watermark')!r} on a set of {kinds!r}",
                    [stream.exchange],
                )


@cost(conversations=1, requests=3, streams=1, activities=1)
@requirement("DL-STREAM-003")
def test_own_and_bot_activities_arrive(dl_client: DirectLineClient, dl_profile: Profile) -> None:
    """Activities recorded while connected arrive: the client's own and the bot's."""
    conversation = start(dl_client)
    echo = dl_profile.supports("echo_bot")
    bot = dl_profile.bot
    with dl_client.open_stream(conversation.stream_url or "") as stream:
        text = steps.unique_text("arrive")
        said = steps.send(dl_client, conversation, steps.message(text))
        arrived = steps.collect(
            stream,
            lambda acts: (
                said in ids_of(acts)
                and (not echo or any(steps.answers(a, said, text, bot) for a in acts))
            ),
            dl_profile.timings.delivery_timeout,
        )
    expect.that(
        said in ids_of(arrived),
        f"the client's message {said!r} on the stream",
        f"stream delivered ids {ids_of(arrived)!r}",
        [stream.exchange],
    )
    if echo:
        expect.that(
            any(steps.answers(a, said, text, bot) for a in arrived),
            f"the bot's reply to {said!r} on the stream",
            f"stream delivered {[(a.get('id'), a.get('replyToId')) for a in arrived]!r}",
            [stream.exchange],
        )


@cost(conversations=1, requests=4, streams=1, activities=2)
@requirement("DL-STREAM-004")
def test_activities_posted_before_connecting_come_first(
    dl_client: DirectLineClient, dl_profile: Profile
) -> None:
    """An activity posted after the start but before the socket opened is delivered, before
    the activities posted later."""
    conversation = start(dl_client)
    early = steps.send(dl_client, conversation, event(steps.unique_text("before connect")))
    with dl_client.open_stream(conversation.stream_url or "") as stream:
        late = steps.send(dl_client, conversation, event(steps.unique_text("after connect")))
        arrived = steps.collect(
            stream, steps.has_ids(early, late), dl_profile.timings.delivery_timeout
        )
    ids = ids_of(arrived)
    expect.that(
        early in ids and late in ids and ids.index(early) < ids.index(late),
        f"{early!r} (posted before connecting) delivered, before {late!r}",
        f"stream delivered ids {ids!r}",
        [stream.exchange],
    )


@cost(conversations=1, requests=3, streams=1, activities=1)
@requirement("DL-STREAM-005")
def test_typing_is_delivered_on_the_stream(
    dl_client: DirectLineClient, dl_profile: Profile
) -> None:
    """The client's own ``typing`` comes back on its stream (one typing: at most one per 3 s)."""
    conversation = start(dl_client)
    with dl_client.open_stream(conversation.stream_url or "") as stream:
        steps.send_typing(dl_client, conversation)
        arrived = steps.collect(
            stream,
            lambda acts: any(a.get("type") == "typing" for a in acts),
            dl_profile.timings.delivery_timeout,
        )
    expect.that(
        any(a.get("type") == "typing" for a in arrived),
        f"the typing activity on the stream within {dl_profile.timings.delivery_timeout:g} s",
        f"stream delivered types {[a.get('type') for a in arrived]!r}",
        [stream.exchange],
    )


@cost(conversations=1, requests=3, streams=1, activities=1)
@requirement("DL-STREAM-006")
def test_empty_client_messages_are_ignored(
    dl_client: DirectLineClient, dl_profile: Profile
) -> None:
    """Empty messages from the client are ignored: the stream stays open and keeps delivering."""
    conversation = start(dl_client)
    with dl_client.open_stream(conversation.stream_url or "") as stream:
        try:
            stream.send_text("")
            stream.send_text("")
        except StreamClosed as closed:
            raise expect.Violation(
                "the stream stays open while the client sends empty messages",
                f"closed: {closed}",
                [stream.exchange],
            ) from None
        said = steps.send(dl_client, conversation, event(steps.unique_text("after empty")))
        arrived = steps.collect(stream, steps.has_ids(said), dl_profile.timings.delivery_timeout)
        expect.that(
            said in ids_of(arrived),
            f"{said!r} delivered after the client's empty messages",
            "the stream closed" if stream.closed else f"stream delivered ids {ids_of(arrived)!r}",
            [stream.exchange],
        )


@cost(conversations=1, requests=5, streams=1, activities=3, pagings=1)
@requirement("DL-STREAM-007")
def test_no_duplicates_and_record_order(dl_client: DirectLineClient, dl_profile: Profile) -> None:
    """No activity is delivered twice on one stream, and stream order is record order (the
    order GET returns)."""
    conversation = start(dl_client)
    with dl_client.open_stream(conversation.stream_url or "") as stream:
        sent = [
            steps.send(dl_client, conversation, event(steps.unique_text(f"order {n}")))
            for n in (1, 2, 3)
        ]
        steps.collect(stream, steps.has_ids(*sent), dl_profile.timings.delivery_timeout)
        # anything already on its way (a duplicate) arrives in this short extra read
        steps.collect(stream, lambda acts: False, min(1.0, dl_profile.timings.delivery_timeout))
        streamed = [i for i in ids_of(stream.activities) if i is not None]
    history = ids_of(steps.history(dl_client, conversation))
    repeated = sorted({i for i in streamed if streamed.count(i) > 1})
    expect.that(
        not repeated,
        "every activity delivered once on the stream",
        f"delivered more than once: {repeated!r}",
        [stream.exchange],
    )
    recorded = [i for i in streamed if i in history]
    expect.equal(
        recorded,
        [i for i in history if i in recorded],
        "the stream's activity ids in the order they arrived (record order, as GET returns it)",
        [stream.exchange],
    )


@cost(conversations=1, requests=5, streams=1, activities=2)
@requirement("DL-STREAM-008")
def test_stream_watermark_works_with_get(dl_client: DirectLineClient, dl_profile: Profile) -> None:
    """The stream's watermark given to GET returns exactly what came after it: nothing already
    delivered, nothing lost."""
    conversation = start(dl_client)
    with dl_client.open_stream(conversation.stream_url or "") as stream:
        first = steps.send(dl_client, conversation, event(steps.unique_text("streamed")))
        arrived = steps.collect(stream, steps.has_ids(first), dl_profile.timings.delivery_timeout)
        if first not in ids_of(arrived):
            raise PreconditionFailed(
                f"could not test: {first!r} did not arrive on the stream (DL-STREAM-003)"
            )
        marks = [s.get("watermark") for s in stream.sets if isinstance(s.get("watermark"), str)]
        if not marks:
            raise PreconditionFailed(
                "could not test: the stream sent no string watermark (DL-STREAM-002)"
            )
        watermark = marks[-1]
        delivered = set(ids_of(stream.activities))
    later = steps.send(dl_client, conversation, event(steps.unique_text("after the watermark")))
    answer = dl_client.get_activities(
        conversation.id, auth=steps.credential(conversation), watermark=watermark
    )
    body = expect.precondition(answer, f"GET activities with the stream's watermark {watermark!r}")
    batch = body.get("activities") if isinstance(body, dict) else None
    ids = [a.get("id") for a in batch if isinstance(a, dict)] if isinstance(batch, list) else []
    again = [i for i in ids if i in delivered]
    expect.that(
        later in ids and not again,
        f"GET with the stream's watermark {watermark!r} returns {later!r} and nothing "
        "the stream already delivered",
        f"activity ids {ids!r}" + (f" (already streamed: {again!r})" if again else ""),
        [stream.exchange, answer],
    )


def _timing_wait(profile: Profile, wait: float, what: str) -> None:
    if wait > profile.timings.max_wait:
        pytest.skip(
            f"not-applicable: {what} needs a {wait:g} s wait, more than the profile's "
            f"max_wait of {profile.timings.max_wait:g} s"
        )


def _margin(profile: Profile) -> float:
    return min(5.0, profile.timings.stream_connect_window / 4)


@pytest.mark.slow
@cost(conversations=2, requests=4, streams=2, wait="stream_connect_window", before_the_end=True)
@requirement("DL-STREAM-009")
def test_stream_url_connectable_late_in_its_window(
    dl_client: DirectLineClient, dl_profile: Profile, dl_timed_start: steps.TimedStarter
) -> None:
    """A stream URL can still be connected to near the end of its connect window."""
    window = dl_profile.timings.stream_connect_window
    wait = window - _margin(dl_profile)
    _timing_wait(dl_profile, wait, "connecting at the end of the stream window")
    control = start(dl_client)
    try:
        dl_client.open_stream(control.stream_url or "").close()
    except StreamRefused as refused:
        raise PreconditionFailed(
            f"could not test: even a fresh stream URL is refused ({refused}); "
            "DL-STREAM-001 judges that",
            exchange=refused.exchange,
        ) from None
    # started together with the clock's other test (conformance.plugin.clocks), unless that
    # start is already too old to connect at the intended instant
    conversation = streamable(dl_timed_start(wait + _margin(dl_profile) / 4).conversation)
    issued = conversation.answer.started
    dl_client.pause(issued + wait - time.time())
    age = time.time() - issued
    steps.expect_stream_opens(
        dl_client,
        conversation.stream_url or "",
        expected=f"the stream URL opens a WebSocket {age:.1f} s after it was issued (connect "
        f"window {window:g} s)",
        exchanges=[conversation.answer],
        timeout=dl_profile.timings.request_timeout,
    )


@pytest.mark.slow
@cost(conversations=1, requests=2, streams=1, wait="stream_connect_window")
@requirement("DL-STREAM-010")
def test_unused_stream_url_refused_after_its_window(
    dl_client: DirectLineClient, dl_profile: Profile, dl_timed_start: steps.TimedStarter
) -> None:
    """Once its connect window has passed, a stream URL never used is refused."""
    window = dl_profile.timings.stream_connect_window
    wait = window + _margin(dl_profile)
    _timing_wait(dl_profile, wait, "connecting after the stream window")
    conversation = streamable(dl_timed_start(None).conversation)  # any age: older is no less late
    answered = conversation.answer.started + conversation.answer.elapsed
    dl_client.pause(answered + wait - time.time())
    age = time.time() - answered
    try:
        stream = dl_client.open_stream(conversation.stream_url or "")
    except StreamRefused:
        return
    with stream:
        raise expect.Violation(
            f"the handshake refused {age:.1f} s after the URL was issued "
            f"(connect window {window:g} s)",
            f"101: the stream opened (status {stream.exchange.status})",
            [conversation.answer, stream.exchange],
        )


@cost(conversations=1, requests=4, streams=1, activities=2, pagings=1)
@requirement("DL-STREAM-011")
def test_streamed_activities_are_available_by_get(
    dl_client: DirectLineClient, dl_profile: Profile
) -> None:
    """Every activity the stream delivers (but typing) is also returned by GET, under the
    same id."""
    conversation = start(dl_client)
    with dl_client.open_stream(conversation.stream_url or "") as stream:
        said = steps.send(dl_client, conversation, steps.message(steps.unique_text("both")))
        noted = steps.send(dl_client, conversation, event(steps.unique_text("both")))
        steps.collect(stream, steps.has_ids(said, noted), dl_profile.timings.delivery_timeout)
        steps.collect(stream, lambda acts: False, min(1.0, dl_profile.timings.delivery_timeout))
        streamed = [a for a in stream.activities if a.get("type") != "typing"]
    wanted = [a.get("id") for a in streamed]
    history = set(ids_of(steps.history(dl_client, conversation, until=steps.has_ids(*wanted))))
    missing = [f"{a.get('type')} {a.get('id')!r}" for a in streamed if a.get("id") not in history]
    expect.that(
        not missing,
        "every streamed activity also returned by GET under the same id",
        f"only on the stream: {', '.join(missing)}",
        [stream.exchange, *dl_client.recorder.exchanges[-2:]],
    )


@cost(conversations=1, requests=2, streams=1)
@requirement("DL-STREAM-014")
def test_tampered_stream_token_is_refused(dl_client: DirectLineClient, dl_profile: Profile) -> None:
    """A stream URL whose token ``t`` is altered is refused at the handshake (no 101)."""
    conversation = start(dl_client)
    url = (conversation.stream_url or "").replace("&amp;", "&")
    match = re.search(r"([?&]t=)([^&#]+)", url)
    if match is None:
        raise PreconditionFailed(
            "could not test: the streamUrl has no t parameter", exchange=conversation.answer
        )
    token = match.group(2)
    index = len(token) // 2
    while index < len(token) - 1 and not token[index].isalnum():
        index += 1
    altered = token[:index] + ("A" if token[index] != "A" else "B") + token[index + 1 :]
    tampered = url[: match.start(2)] + altered + url[match.end(2) :]
    try:
        stream = dl_client.open_stream(tampered)
    except StreamRefused:
        return
    with stream:
        raise expect.Violation(
            "the handshake refused (401/403) for a streamUrl whose t was altered",
            f"101: the stream opened (status {stream.exchange.status})",
            [conversation.answer, stream.exchange],
        )
