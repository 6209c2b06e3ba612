"""Proxies: what a proxy between client and service changes (the PROXY rules; RFC 9110's rules
for intermediaries, and the Direct Line pages a proxy must keep true for its clients).

These tests apply to a run through a proxy that ``directline-conformance certify-proxy`` set up:
it names the upstream behind the proxy (and, when the kit serves the upstream itself, the
upstream's recording) in ``DIRECTLINE_PROXY_CONTEXT``. A plain run has no proxy to judge, so
every test here is not-applicable and plans nothing.

Each test starts its own conversation through the proxy, does a few things, and then compares
what the client sent and received with what the upstream recorded for that conversation (or,
for the rules a client can see alone, with the upstream's origin). The sends that need the
upstream to misbehave on purpose (a late answer, a 429, a 502) use the ``#upstream:`` triggers
of the kit's recording upstream (conformance/reference/proxy_triggers.py).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from conformance.client import SECRET, Conversation, DirectLineClient, UploadFile
from conformance.config.profile import Profile
from conformance.config.target import Target
from conformance.errors import PreconditionFailed, StreamClosed
from conformance.evidence import Exchange
from conformance.proxy import checks
from conformance.proxy.context import ProxyContext, load_context
from conformance.proxy.recording import Frame, Recording, Request, client_request
from conformance.suite import expect, steps

requirement = pytest.mark.requirement
cost = pytest.mark.cost

#: The plugin's prefix of a skip reason that makes the verdict not-applicable.
NOT_APPLICABLE = "not-applicable: "
#: The proxy under test, as certify-proxy describes it (None: a run with no proxy).
CONTEXT: ProxyContext | None = load_context()
if CONTEXT is None:
    pytestmark = pytest.mark.skip(
        reason=NOT_APPLICABLE + "no proxy under test: the PROXY rules are judged by "
        "`directline-conformance certify-proxy`"
    )

#: The trigger prefix of the kit's recording upstream (conformance/reference/proxy_triggers.py).
TRIGGER = "#upstream:"
#: Seconds the upstream holds the late send (a proxy retrying sooner sends it twice).
LATE_SECONDS = 3.0
#: Seconds after the last request a proxy's own requests have to show up upstream.
SETTLE_SECONDS = 1.0
#: Messages sent while a stream is open, to watch their frames come through.
STREAM_MESSAGES = 3
#: Seconds of silence on a stream after which nothing more is on its way.
QUIET_SECONDS = 0.5
#: The browser origin of the CORS checks.
BROWSER_ORIGIN = "https://webchat.example"
FILE = UploadFile("proxy-check.txt", "byte for byte: ✓\n".encode(), "text/plain")


def _recorded() -> Callable[[Any], Any]:
    """Mark a test that judges the upstream's recording: not-applicable without one."""
    if CONTEXT is not None and CONTEXT.recording is None:
        return pytest.mark.skip(
            reason=NOT_APPLICABLE + "what reached the upstream was not recorded (certify-proxy "
            "records it when it serves the upstream; with --upstream, name a `serve --record` "
            "file with --recording)"
        )
    return lambda function: function


recorded = _recorded()


# --- the two sides -----------------------------------------------------------------------------
def context() -> ProxyContext:
    assert CONTEXT is not None  # the module is skipped without one
    return CONTEXT


def bases(target: Target) -> list[str]:
    """The base paths a request may have been sent under: the proxy's, the upstream's."""
    return [urlsplit(target.base_url).path, urlsplit(context().upstream).path]


def sent(client: DirectLineClient, target: Target) -> list[Request]:
    """What the client sent, in the recording's terms."""
    return [client_request(exchange, bases(target)) for exchange in client.recorder.exchanges]


def arrived(
    client: DirectLineClient, conversation_ids: Sequence[str], *, settle: float = 0.0
) -> list[Request]:
    """What reached the upstream for these conversations (after ``settle`` seconds)."""
    if settle:
        time.sleep(settle)
    path = context().recording
    assert path is not None  # @recorded
    recording = Recording.read(path, context().upstream)
    return recording.of_conversations(conversation_ids, client.case_id)


def origins(target: Target) -> list[tuple[str, str]]:
    """(upstream origin, proxy origin) pairs, http and ws forms: what a proxy rewrites."""
    pairs = []
    for scheme, ws in (("http", "ws"), ("https", "wss")):
        up, mine = urlsplit(context().upstream), urlsplit(target.base_url)
        if up.scheme == scheme:
            pairs.append((f"{scheme}://{up.netloc}", f"{mine.scheme}://{mine.netloc}"))
            mine_ws = "wss" if mine.scheme == "https" else "ws"
            pairs.append((f"{ws}://{up.netloc}", f"{mine_ws}://{mine.netloc}"))
    return pairs


def judge(problems: list[str], expected: str, exchanges: Sequence[Exchange]) -> None:
    expect.that(not problems, expected, "; ".join(problems[:8]), list(exchanges)[-8:])


def start(client: DirectLineClient) -> Conversation:
    return client.new_conversation()


def message(label: str) -> dict[str, Any]:
    return steps.message(steps.unique_text(label))


def trigger(kind: str) -> dict[str, Any]:
    return steps.message(f"{TRIGGER}{kind} {uuid.uuid4().hex[:12]}")


# --- what reaches the upstream -----------------------------------------------------------------
@recorded
@cost(conversations=1, requests=5, activities=2)
@requirement("DL-PROXY-001")
def test_each_client_request_reaches_the_upstream_once(
    dl_client: DirectLineClient, dl_target: Target, dl_profile: Profile
) -> None:
    """A start, two sends (the upstream answers the second late, as a busy service does) and
    two reads: each POST arrives exactly once, each GET at least once."""
    conversation = start(dl_client)
    auth = steps.credential(conversation)
    steps.send(dl_client, conversation, message("proxy once"))
    late = dl_client.post_activity(
        conversation.id,
        trigger(f"delay {LATE_SECONDS:g}"),
        auth=auth,
        timeout=dl_profile.timings.request_timeout + LATE_SECONDS,
    )
    expect.precondition(late, "a send the upstream answers late")
    first = dl_client.get_activities(conversation.id, auth=auth)
    body = expect.precondition(first, "reading the activities")
    watermark = body.get("watermark") if isinstance(body, dict) else None
    if isinstance(watermark, str):
        dl_client.get_activities(conversation.id, auth=auth, watermark=watermark)
    client_side = sent(dl_client, dl_target)
    judge(
        checks.arrivals(client_side, arrived(dl_client, [conversation.id])),
        "each POST the client sent through the proxy received upstream exactly once, each GET "
        "at least once",
        dl_client.recorder.exchanges,
    )


@recorded
@cost(conversations=1, requests=3, activities=2)
@requirement("DL-PROXY-002")
def test_no_request_reaches_the_upstream_unasked(
    dl_client: DirectLineClient, dl_target: Target
) -> None:
    """A start and two sends, then a pause: nothing else reaches the upstream for the
    conversation (no poll, read or send of the proxy's own)."""
    conversation = start(dl_client)
    for label in ("proxy unasked one", "proxy unasked two"):
        steps.send(dl_client, conversation, message(label))
    upstream = arrived(dl_client, [conversation.id], settle=SETTLE_SECONDS)
    judge(
        checks.uninvited(sent(dl_client, dl_target), upstream),
        "only the client's own requests reach the upstream for its conversation",
        dl_client.recorder.exchanges,
    )


@recorded
@cost(conversations=1, requests=3, activities=2)
@requirement("DL-PROXY-003")
def test_request_bodies_reach_the_upstream_unchanged(
    dl_client: DirectLineClient, dl_target: Target, dl_profile: Profile
) -> None:
    """A message with nested channelData, numbers, Unicode and a named sender, and (where the
    profile declares uploads) a multipart upload: each body arrives as sent."""
    conversation = start(dl_client)
    auth = steps.credential(conversation)
    rich = steps.message(
        steps.unique_text("proxy body ✓ 𝄞 ‏עברית‏"),
        locale="fr-FR",
        channelData={"nested": {"list": [1, 2.5, True, None, "x"], "empty": {}}},
        value={"answer": 42, "ratio": 0.1},
    )
    rich["from"] = {"id": steps.USER_ID, "name": "Zoë Proxy"}
    answer = dl_client.post_activity(conversation.id, rich, auth=auth)
    expect.precondition(answer, "sending a message")
    if dl_profile.supports("upload"):
        upload = dl_client.upload(
            conversation.id,
            [FILE],
            user_id=steps.USER_ID,
            activity=message("proxy upload"),
            auth=auth,
        )
        expect.precondition(upload, "uploading a file")
    pairs = checks.paired(sent(dl_client, dl_target), arrived(dl_client, [conversation.id]))
    judge(
        checks.body_changes(pairs),
        "each request body received upstream as the client sent it (JSON-equivalent, or byte "
        "for byte)",
        dl_client.recorder.exchanges,
    )


@recorded
@cost(conversations=1, requests=4, activities=1)
@requirement("DL-PROXY-004")
def test_clients_credential_reaches_the_upstream(
    dl_client: DirectLineClient, dl_target: Target, dl_profile: Profile
) -> None:
    """Reads with the conversation's token and with the secret, and a send: the upstream gets
    each request's own credential (a declared token-exchanging proxy: one it accepts)."""
    conversation = start(dl_client)
    auth = steps.credential(conversation)
    expect.precondition(dl_client.get_activities(conversation.id, auth=auth), "reading")
    expect.precondition(dl_client.get_activities(conversation.id, auth=SECRET), "reading")
    steps.send(dl_client, conversation, message("proxy credential"))
    pairs = checks.paired(sent(dl_client, dl_target), arrived(dl_client, [conversation.id]))
    exchange = dl_profile.proxy.token_exchange
    judge(
        checks.credential_changes(pairs, token_exchange=exchange),
        "a credential the upstream accepts from the token-exchanging proxy"
        if exchange
        else "each request's Authorization received upstream as the client sent it",
        dl_client.recorder.exchanges,
    )


@recorded
@cost(conversations=1, requests=3, activities=1)
@requirement("DL-PROXY-005")
def test_nothing_the_client_did_not_send_reaches_the_upstream(
    dl_client: DirectLineClient, dl_target: Target, dl_profile: Profile
) -> None:
    """A start, a send and a read: the upstream sees no header the client did not send, but
    for those an intermediary adds by design (checks.INTERMEDIARY_HEADERS)."""
    conversation = start(dl_client)
    steps.send(dl_client, conversation, message("proxy headers"))
    read = dl_client.get_activities(conversation.id, auth=steps.credential(conversation))
    expect.precondition(read, "reading the activities")
    pairs = checks.paired(sent(dl_client, dl_target), arrived(dl_client, [conversation.id]))
    judge(
        checks.added_headers(pairs, token_exchange=dl_profile.proxy.token_exchange),
        "no header the client did not send (an intermediary's own aside) received upstream",
        dl_client.recorder.exchanges,
    )


@recorded
@cost(conversations=1, requests=7, streams=1, activities=2)
@requirement("DL-PROXY-006")
def test_query_parameters_reach_the_upstream_unchanged(
    dl_client: DirectLineClient, dl_target: Target, dl_profile: Profile
) -> None:
    """Reads with and without a watermark, a reconnect with one, the stream's handshake (its
    t) and an upload's userId: each query arrives unchanged."""
    conversation = start(dl_client)
    auth = steps.credential(conversation)
    steps.send(dl_client, conversation, message("proxy query"))
    body = expect.precondition(dl_client.get_activities(conversation.id, auth=auth), "reading")
    watermark = body.get("watermark") if isinstance(body, dict) else None
    if not isinstance(watermark, str):
        raise PreconditionFailed("could not test: GET activities answered no watermark")
    expect.precondition(
        dl_client.get_activities(conversation.id, auth=auth, watermark=watermark), "reading on"
    )
    if dl_profile.supports("reconnect"):
        answer = dl_client.reconnect(conversation.id, auth=auth, watermark=watermark)
        expect.precondition(answer, "reconnecting with a watermark")
    if dl_profile.supports("websocket") and conversation.stream_url:
        dl_client.open_stream(conversation.stream_url).close()
    if dl_profile.supports("upload"):
        upload = dl_client.upload(conversation.id, [FILE], user_id=steps.USER_ID, auth=auth)
        expect.precondition(upload, "uploading a file with userId")
    pairs = checks.paired(sent(dl_client, dl_target), arrived(dl_client, [conversation.id]))
    judge(
        checks.query_changes(pairs),
        "each request's query (watermark, t, userId) received upstream unchanged",
        dl_client.recorder.exchanges,
    )


# --- what reaches the client -------------------------------------------------------------------
def stream_through(
    client: DirectLineClient, profile: Profile
) -> tuple[Conversation, Exchange, float]:
    """A stream opened through the proxy while a few messages are sent, one at a time, each
    read off the stream before the next (so a frame's receipt time is when it came); read on
    until the stream has been quiet a while. Returns (conversation, the stream's exchange,
    when the client stopped reading)."""
    conversation = start(client)
    if not conversation.stream_url:
        raise PreconditionFailed(
            "could not test: the start answer has no streamUrl", exchange=conversation.answer
        )
    stream = client.open_stream(conversation.stream_url)
    try:
        with_reply = profile.supports("echo_bot")
        for number in range(STREAM_MESSAGES):
            text = steps.unique_text(f"proxy frame {number}")
            sent_id = steps.send(client, conversation, steps.message(text))

            def arrived_all(
                activities: list[dict[str, Any]], wanted: str = sent_id, said: str = text
            ) -> bool:
                seen = stream.activities
                replied = any(steps.answers(a, wanted, said, profile.bot) for a in seen)
                return wanted in steps.ids_of(seen) and (replied or not with_reply)

            try:
                stream.collect(arrived_all, timeout=profile.timings.delivery_timeout)
            except StreamClosed:
                break
        quiet_until = time.monotonic() + profile.timings.delivery_timeout
        while time.monotonic() < quiet_until:
            try:
                if stream.recv_frame(QUIET_SECONDS) is None:
                    break
            except StreamClosed:
                break
    finally:
        stopped = time.time()
        stream.close()
    return conversation, stream.exchange, stopped


def stream_frames(
    client: DirectLineClient, conversation: Conversation
) -> tuple[list[Frame], list[Request]]:
    """The frames the upstream sent on the conversation's streams, in order of sending."""
    upstream = [r for r in arrived(client, [conversation.id]) if r.kind == "websocket"]
    frames = sorted((f for r in upstream for f in r.frames), key=lambda f: f.t)
    return frames, upstream


@recorded
@cost(conversations=1, requests=5, streams=1, activities=STREAM_MESSAGES)
@requirement("DL-PROXY-007")
def test_stream_frames_reach_the_client_in_order(
    dl_client: DirectLineClient, dl_target: Target, dl_profile: Profile
) -> None:
    """The frames the client receives through the proxy are the upstream's, in order, none
    lost or added."""
    conversation, exchange, stopped = stream_through(dl_client, dl_profile)
    upstream_frames, upstream = stream_frames(dl_client, conversation)
    if not upstream:
        raise PreconditionFailed(
            "could not test: no stream of the conversation reached the upstream"
        )
    received = client_request(exchange, bases(dl_target)).frames
    judge(
        checks.frame_order(
            received, upstream_frames, origins=origins(dl_target), closed_at=stopped
        ),
        "every non-empty upstream frame received by the client, in order, and nothing else",
        [exchange],
    )


@recorded
@cost(conversations=1, requests=5, streams=1, activities=STREAM_MESSAGES)
@requirement("DL-PROXY-008")
def test_stream_frames_pass_through_promptly(
    request: pytest.FixtureRequest,
    dl_client: DirectLineClient,
    dl_target: Target,
    dl_profile: Profile,
) -> None:
    """The delay the proxy adds to each frame, upstream send to client receipt: the median
    under checks.PROMPT_SECONDS. Every figure goes to the report."""
    conversation, exchange, _ = stream_through(dl_client, dl_profile)
    upstream_frames, _ = stream_frames(dl_client, conversation)
    received = client_request(exchange, bases(dl_target)).frames
    delays = checks.frame_delays(received, upstream_frames, origins=origins(dl_target))
    if not delays:
        raise PreconditionFailed("could not test: no upstream frame reached the client")
    figures = context().figures
    if figures:
        lines = "".join(
            json.dumps({"test": request.node.nodeid, "index": i, "ms": d * 1000}) + "\n"
            for i, d in enumerate(delays)
        )
        with Path(figures).open("a", encoding="utf-8") as sink:
            sink.write(lines)
    slow = checks.slow_frames(delays)
    judge(
        [slow] if slow else [],
        f"frames passed on as they come: a median delay under {checks.PROMPT_SECONDS:g} s",
        [exchange],
    )


@cost(conversations=1, requests=2)
@requirement("DL-PROXY-009")
def test_stream_url_points_at_the_proxy(
    dl_client: DirectLineClient, dl_target: Target, dl_profile: Profile
) -> None:
    """The streamUrl of a start (and of a reconnect) names the proxy's origin."""
    if dl_profile.proxy.direct_urls:
        pytest.skip(NOT_APPLICABLE + "the profile says clients reach the upstream directly")
    conversation = start(dl_client)
    urls = [("start", conversation.stream_url, conversation.answer)]
    if dl_profile.supports("reconnect"):
        answer = dl_client.reconnect(conversation.id, auth=steps.credential(conversation))
        body = expect.precondition(answer, "reconnecting")
        url = body.get("streamUrl") if isinstance(body, dict) else None
        urls.append(("reconnect", url if isinstance(url, str) else None, answer))
    proxy = checks.origin(dl_target.base_url)
    problems = [
        f"the {what} answer's streamUrl names {checks.origin(url)[1]}:{checks.origin(url)[2]}, "
        f"not the proxy ({proxy[1]}:{proxy[2]})"
        for what, url, _ in urls
        if url is not None and checks.origin(url) != proxy
    ]
    if all(url is None for _, url, _ in urls):
        raise PreconditionFailed("could not test: no streamUrl was answered")
    judge(problems, "streamUrl on the proxy's origin", [answer for _, _, answer in urls])


@cost(conversations=1, requests=2, waits=1, activities=1)
@requirement("DL-PROXY-010")
def test_content_url_does_not_point_at_the_upstream(
    dl_client: DirectLineClient, dl_target: Target, dl_profile: Profile
) -> None:
    """An upload, read back from the history: its contentUrl does not name the upstream."""
    if dl_profile.proxy.direct_urls:
        pytest.skip(NOT_APPLICABLE + "the profile says clients reach the upstream directly")
    conversation = start(dl_client)
    answer = dl_client.upload(
        conversation.id,
        [FILE],
        user_id=steps.USER_ID,
        activity=message("proxy content"),
        auth=steps.credential(conversation),
    )
    body = expect.precondition(answer, "uploading a file")
    uploaded = body.get("id") if isinstance(body, dict) else None
    if not isinstance(uploaded, str):
        raise PreconditionFailed("could not test: the upload answered no id", exchange=answer)
    history = steps.wait_for_history(
        dl_client,
        conversation,
        steps.has_ids(uploaded),
        timeout=dl_profile.timings.delivery_timeout,
    )
    activity = next((a for a in history if a.get("id") == uploaded), None)
    if activity is None:
        raise PreconditionFailed("could not test: the upload never showed in the history")
    attachments = activity.get("attachments")
    urls = [
        url
        for a in (attachments if isinstance(attachments, list) else [])
        if isinstance(a, dict) and isinstance(url := a.get("contentUrl"), str)
    ]
    if not urls:
        raise PreconditionFailed("could not test: the uploaded activity has no contentUrl")
    upstream = checks.origin(context().upstream)
    problems = [
        f"contentUrl {url} names the upstream ({upstream[1]}:{upstream[2]})"
        for url in urls
        if checks.origin(url) == upstream
    ]
    judge(problems, "contentUrl not on the upstream's origin", dl_client.recorder.exchanges)


@cost(requests=4)
@requirement("DL-PROXY-011")
def test_cors_headers_pass_through_the_proxy(
    dl_client: DirectLineClient, dl_target: Target
) -> None:
    """The same preflight, and the same ordinary request from a browser origin, sent to the
    upstream and through the proxy: the upstream's Access-Control-* headers come through."""
    preflight = {
        "Origin": BROWSER_ORIGIN,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type, x-ms-bot-agent",
    }
    unknown = f"/conversations/dlproxycheck{uuid.uuid4().hex}/activities"
    problems: list[str] = []
    exchanges: list[Exchange] = []
    for method, path, headers in (
        ("OPTIONS", "/conversations", preflight),
        ("GET", unknown, {"Origin": BROWSER_ORIGIN}),
    ):
        direct = dl_client.request(
            method, context().upstream + path, auth=None if method == "OPTIONS" else SECRET,
            headers=headers,
        )  # fmt: skip
        through = dl_client.request(
            method, path, auth=None if method == "OPTIONS" else SECRET, headers=headers
        )
        exchanges += [direct, through]
        if direct.status is None or through.status is None:
            continue
        problems += [
            f"{method} {path.split('/')[1]}: {problem}"
            for problem in checks.cors_changes(direct.response_headers, through.response_headers)
        ]
    if not any(
        name.lower().startswith("access-control-")
        for exchange in exchanges[::2]
        for name, _ in exchange.response_headers
    ):
        raise PreconditionFailed("could not test: the upstream answered no Access-Control-* header")
    judge(problems, "the upstream's Access-Control-* headers through the proxy", exchanges)


@recorded
@cost(conversations=1, requests=3, activities=1)
@requirement("DL-PROXY-012")
def test_retry_after_passes_through_with_its_429(
    dl_client: DirectLineClient, dl_target: Target
) -> None:
    """A send the upstream answers 429 with Retry-After (once; the client's retry goes
    through): the client sees that 429 and that Retry-After."""
    conversation = start(dl_client)
    throttled = trigger("429 1")
    dl_client.post_activity(conversation.id, throttled, auth=steps.credential(conversation))
    pairs = checks.paired(sent(dl_client, dl_target), arrived(dl_client, [conversation.id]))
    sends = [
        (mine, theirs)
        for mine, theirs in pairs
        if mine.key[0] == "POST" and mine.key[1] != "/conversations"
    ]
    if not sends or sends[0][1].status != 429:
        raise PreconditionFailed("could not test: the upstream did not answer the send 429")
    mine, theirs = sends[0]
    wanted = theirs.response_header("retry-after")
    got = mine.response_header("retry-after")
    problems = []
    if mine.status != 429:
        problems.append(f"the upstream answered 429, the client got {mine.status}")
    if got != wanted:
        problems.append(f"the upstream's Retry-After was {wanted!r}, the client got {got!r}")
    judge(problems, f"429 with Retry-After: {wanted}", dl_client.recorder.exchanges)


@recorded
@cost(conversations=1, requests=3, activities=1)
@requirement("DL-PROXY-013")
def test_upstream_errors_keep_their_status_and_body(
    dl_client: DirectLineClient, dl_target: Target
) -> None:
    """A send the upstream answers 502 (its bot failed), and a read of an unknown
    conversation (404): the client gets each status with the same ErrorResponse."""
    conversation = start(dl_client)
    dl_client.post_activity(conversation.id, trigger("502"), auth=steps.credential(conversation))
    unknown = f"dlproxycheck{uuid.uuid4().hex}"
    dl_client.get_activities(unknown, auth=SECRET)
    pairs = checks.paired(
        sent(dl_client, dl_target), arrived(dl_client, [conversation.id, unknown])
    )
    errors = [(m, t) for m, t in pairs if t.status is not None and t.status >= 400]
    if len(errors) < 2:
        raise PreconditionFailed("could not test: the upstream did not answer the two errors")
    problems = []
    for mine, theirs in errors:
        if mine.status != theirs.status:
            problems.append(
                f"{mine.describe()}: the upstream answered {theirs.status}, the client got "
                f"{mine.status}"
            )
            continue
        body, wanted = mine.response_body, theirs.response_body
        if body is None or wanted is None or body.json() is None or wanted.json() is None:
            continue
        if not checks.same_json(_rewritten(wanted.json(), dl_target), body.json()):
            problems.append(
                f"{mine.describe()}: the upstream answered {wanted.text}, the client got "
                f"{body.text}"
            )
    judge(
        problems,
        "each upstream error's status and body through the proxy",
        dl_client.recorder.exchanges,
    )


def _rewritten(value: Any, target: Target) -> Any:
    """An upstream body with its origins as the proxy would show them."""
    text = json.dumps(value)
    for upstream_origin, proxy_origin in origins(target):
        text = text.replace(upstream_origin, proxy_origin)
    return json.loads(text)
