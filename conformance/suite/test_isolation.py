"""Isolation: a conversation's token and stream URL give access to that conversation only
(authentication page § Secrets and tokens, receive page § Receive activities via WebSocket).

Every check uses the token start answered for conversation A against conversation B and accepts
401 or 403 (decision 6 of the catalog). A is the ``isolation`` lane's conversation, B a second
one the lane starts once; the test refreshing A's token comes last.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import pytest

from conformance.client import Conversation, DirectLineClient, UploadFile
from conformance.config.costs import Cost
from conformance.config.profile import Profile
from conformance.errors import PreconditionFailed, StreamRefused
from conformance.evidence import Exchange
from conformance.suite import expect, steps

requirement = pytest.mark.requirement
cost = pytest.mark.cost
isolation_lane = pytest.mark.lane("isolation")
#: Conversation B, started once for the lane.
SECOND = Cost(conversations=1, requests=1)

REFUSED = (403, 401)

token_of = steps.start_token
ids = steps.ids_of


@pytest.fixture
def two(
    dl_client: DirectLineClient, dl_conversation: Conversation, dl_lane_state: dict[str, Any]
) -> tuple[Conversation, str, Conversation]:
    """Conversation A (the lane's) with its start token, and another conversation B."""
    if "b" not in dl_lane_state:
        with dl_client.meter.for_the_lane():
            dl_lane_state["b"] = dl_client.new_conversation()
    return dl_conversation, token_of(dl_conversation), dl_lane_state["b"]


def unchanged(before: list[dict[str, Any]], after: list[dict[str, Any]], what: Exchange) -> None:
    expect.equal(ids(after), ids(before), "B's activity ids after the refused request", [what])


@isolation_lane
@cost(requests=2, activities=1, lane_once=SECOND)
@requirement("DL-ISO-001")
def test_token_of_a_cannot_read_b(
    dl_client: DirectLineClient, two: tuple[Conversation, str, Conversation]
) -> None:
    """A's start token cannot read B's activities (403, 401 tolerated)."""
    _a, token, b = two
    steps.send(dl_client, b, steps.event(steps.unique_text("private to B")))
    answer = dl_client.get_activities(b.id, auth=token)
    expect.status(answer, *REFUSED, what="GET B's activities with A's token")


@isolation_lane
@cost(requests=1, pagings=2, lane_once=SECOND)
@requirement("DL-ISO-002")
def test_token_of_a_cannot_post_to_b(
    dl_client: DirectLineClient, two: tuple[Conversation, str, Conversation]
) -> None:
    """A's start token cannot post to B (403, 401 tolerated), and nothing is recorded in B."""
    _a, token, b = two
    before = steps.history(dl_client, b)
    answer = dl_client.post_activity(
        b.id, steps.message(steps.unique_text("from A's token")), auth=token
    )
    expect.status(answer, *REFUSED, what="posting to B with A's token")
    unchanged(before, steps.history(dl_client, b), answer)


@isolation_lane
@cost(requests=1, lane_once=SECOND)
@requirement("DL-ISO-003")
def test_token_of_a_cannot_reconnect_to_b(
    dl_client: DirectLineClient, two: tuple[Conversation, str, Conversation]
) -> None:
    """A's start token cannot reconnect to B (403, 401 tolerated)."""
    _a, token, b = two
    answer = dl_client.reconnect(b.id, auth=token)
    expect.status(answer, *REFUSED, what="reconnecting to B with A's token")


@isolation_lane
@cost(requests=1, pagings=2, lane_once=SECOND)
@requirement("DL-ISO-004")
def test_token_of_a_cannot_upload_to_b(
    dl_client: DirectLineClient, two: tuple[Conversation, str, Conversation]
) -> None:
    """A's start token cannot upload to B (403, 401 tolerated), and nothing is recorded in B."""
    _a, token, b = two
    before = steps.history(dl_client, b)
    answer = dl_client.upload(
        b.id,
        [UploadFile("from-a.txt", b"uploaded with A's token\n", "text/plain")],
        user_id=steps.USER_ID,
        single=True,
        auth=token,
    )
    expect.status(answer, *REFUSED, what="uploading to B with A's token")
    unchanged(before, steps.history(dl_client, b), answer)


def with_conversation(stream_url: str, old: str, new: str) -> str | None:
    """The stream URL with the path segment naming ``old`` replaced by ``new`` (None when the
    path does not name the conversation)."""
    parts = urlsplit(stream_url.replace("&amp;", "&"))
    segments = parts.path.split("/")
    names = {old, quote(old, safe="")}
    if not names.intersection(segments):
        return None
    path = "/".join(quote(new, safe="") if s in names else s for s in segments)
    return urlunsplit(parts._replace(path=path))


@isolation_lane
@cost(requests=5, streams=2, activities=2, lane_once=SECOND)
@requirement("DL-ISO-005")
def test_stream_url_of_a_gives_no_access_to_b(
    dl_client: DirectLineClient, two: tuple[Conversation, str, Conversation], dl_profile: Profile
) -> None:
    """A's stream URL with B's id put in its path is refused, and A's stream never carries B's
    activities (A's stream URL a fresh one, from a reconnect, where the profile has it)."""
    a, token, b = two
    url = fresh_stream_url(dl_client, a, token) if dl_profile.supports("reconnect") else None
    url = url or a.stream_url
    if not url:
        raise PreconditionFailed(
            "could not test: the start answer has no streamUrl", exchange=a.answer
        )
    forged = with_conversation(url, a.id, b.id)
    if forged is not None:
        try:
            stream = dl_client.open_stream(forged, timeout=dl_profile.timings.request_timeout)
        except StreamRefused:
            pass
        else:
            with stream:
                raise expect.Violation(
                    "A's stream URL with B's conversation id in its path refused at the handshake",
                    f"the handshake succeeded ({stream.exchange.status}): a socket on B",
                    [stream.exchange],
                )
    b_text = steps.unique_text("only for B")
    a_text = steps.unique_text("only for A")
    with dl_client.open_stream(url, timeout=dl_profile.timings.request_timeout) as stream:
        b_id = steps.send(dl_client, b, steps.message(b_text), what="sending to B")
        a_id = steps.send(dl_client, a, steps.message(a_text), auth=token, what="sending to A")
        delivered = stream.collect(
            lambda acts: any(x.get("id") == a_id for x in acts),
            timeout=dl_profile.timings.delivery_timeout,
        )
        if not any(x.get("id") == a_id for x in delivered):
            raise PreconditionFailed(
                f"could not test: A's own message {a_id!r} did not reach A's stream within "
                f"{dl_profile.timings.delivery_timeout:g} s (DL-STREAM-003 judges that)"
            )
        foreign = [
            x
            for x in stream.activities
            if x.get("id") == b_id
            or x.get("text") == b_text
            or (x.get("conversation") or {}).get("id") == b.id
        ]
        expect.that(
            not foreign,
            "no activity of conversation B on A's stream",
            f"{len(foreign)} of B's activities on A's stream: "
            f"{[(x.get('id'), x.get('text')) for x in foreign]!r}",
            [stream.exchange],
        )


def fresh_stream_url(client: DirectLineClient, conversation: Conversation, token: str) -> str:
    """A fresh stream URL of the conversation from a reconnect with its token (precondition)."""
    answer = client.reconnect(conversation.id, auth=token)
    body = expect.precondition(answer, "reconnecting to A for a fresh stream URL")
    url = body.get("streamUrl") if isinstance(body, dict) else None
    if not isinstance(url, str) or not url:
        raise PreconditionFailed(
            "could not test: the reconnect answer has no streamUrl", exchange=answer
        )
    return url


@isolation_lane
@cost(requests=4, lane_once=SECOND)
@requirement("DL-ISO-006")
def test_refreshed_token_of_a_stays_scoped_to_a(
    dl_client: DirectLineClient, two: tuple[Conversation, str, Conversation]
) -> None:
    """A refreshed token of A works on A and is refused on B (read and post)."""
    a, token, b = two
    refreshed = dl_client.refresh_token(auth=token)
    body = expect.precondition(refreshed, "refreshing A's token")
    new_token = body.get("token") if isinstance(body, dict) else None
    if not isinstance(new_token, str) or not new_token:
        raise PreconditionFailed("could not test: the refresh answered no token", refreshed)
    expect.precondition(
        dl_client.get_activities(a.id, auth=new_token), "reading A with A's refreshed token"
    )
    read = dl_client.get_activities(b.id, auth=new_token)
    expect.status(read, *REFUSED, what="GET B's activities with A's refreshed token")
    posted = dl_client.post_activity(
        b.id, steps.message(steps.unique_text("refreshed A")), auth=new_token
    )
    expect.status(posted, *REFUSED, what="posting to B with A's refreshed token")
