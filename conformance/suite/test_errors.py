"""Errors: statuses and the ErrorResponse body (API reference § HTTP status codes, § Errors;
the Swaggers' responses).

DL-ERR-006 (a 429, maybe with Retry-After) is a MAY that is never provoked: the client retries a
429 itself, and a run must not seek rate limits, so no test judges it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import pytest

from conformance.client import SECRET, Conversation, DirectLineClient, RawAuth, UploadFile
from conformance.config.profile import Profile
from conformance.errors import PreconditionFailed, StreamRefused, TargetTimeout
from conformance.evidence import Exchange
from conformance.suite import expect, steps

requirement = pytest.mark.requirement
cost = pytest.mark.cost
#: The tests needing a conversation to aim bad requests at share one.
errors_lane = pytest.mark.lane("probes")

JSON = {"Content-Type": "application/json"}
FILE = UploadFile("conformance-error.txt", b"error checks\n", "text/plain")


#: Requests the malformed-input test sends at most: 9 bodies, 1 text/plain, 3 watermarks (one
#: negative), 1 reconnect, 2 odd ids, 2 odd credentials, 2 starts, 1 generate, 1 refresh,
#: 3 uploads, 1 read (conversations: a start or a generate a lenient target accepts). A lone
#: "Bearer" is DL-AUTH-002's.
MALFORMED = 26
#: Activities a lenient target may take from it (and pass to its bot): the 9 bodies, the
#: text/plain one, the 3 uploads.
MALFORMED_ACCEPTED = 13


def unknown_id() -> str:
    """A conversation id no service issued."""
    return f"dlconformanceunknown{uuid.uuid4().hex}"


def is_error(exchange: Exchange) -> bool:
    return exchange.status is not None and 400 <= exchange.status < 600


@contextmanager
def answered_in_time(profile: Profile) -> Iterator[None]:
    """A request left unanswered past the request timeout breaks DL-ERR-008 (not an error)."""
    try:
        yield
    except TargetTimeout as timeout:
        raise expect.Violation(
            f"an answer within the request timeout ({profile.timings.request_timeout:g} s)",
            f"no answer: {timeout}",
            [timeout.exchange] if timeout.exchange is not None else [],
            requirement="DL-ERR-008",
        ) from None


def path(conversation_id: str, rest: str = "") -> str:
    return f"/conversations/{quote(conversation_id, safe='')}{rest}"


@errors_lane
@cost(requests=9, activities=4)
@requirement("DL-ERR-001")
def test_errors_of_documented_operations_carry_error_response(
    dl_client: DirectLineClient, dl_conversation: Conversation, dl_profile: Profile
) -> None:
    """Every 4xx/5xx of a documented operation carries an ErrorResponse
    ``{"error": {"code", "message"}}`` as JSON (operations the profile declares)."""
    conversation = dl_conversation
    token = steps.credential(conversation)
    activities = path(conversation.id, "/activities")
    message = steps.message(steps.unique_text("error check"))
    answers = [
        dl_client.post_activity(conversation.id, message, auth=None),
        dl_client.get_activities(conversation.id, auth=RawAuth("Basic bm90OmFzZWNyZXQ=")),
        dl_client.get_activities(conversation.id, auth="not-a-real-secret-or-token"),
        dl_client.request("POST", activities, auth=token, headers=JSON, content=b'{"type": '),
        dl_client.request("POST", activities, auth=token, headers=JSON, content=b"[]"),
        dl_client.get_activities(unknown_id()),
        dl_client.post_activity(unknown_id(), message),
        dl_client.get_activities(conversation.id, auth=token, watermark="zzz"),
    ]
    if dl_profile.supports("reconnect"):
        answers.append(dl_client.reconnect(unknown_id()))
    errors = [answer for answer in answers if is_error(answer)]
    if not errors:
        raise PreconditionFailed(
            f"could not test: none of {len(answers)} bad requests drew a 4xx or 5xx"
        )
    for answer in errors:
        expect.error_response(answer)


@pytest.mark.smoke
@cost(requests=4)
@requirement("DL-ERR-002")
def test_unknown_conversation_answers_404(dl_client: DirectLineClient, dl_profile: Profile) -> None:
    """An unknown conversation id asked with the secret answers 404 on GET activities, send,
    reconnect and upload (the last two where the profile declares them)."""
    message = steps.message(steps.unique_text("unknown conversation"))
    answer = dl_client.get_activities(unknown_id(), auth=SECRET)
    expect.status(answer, 404, what="GET activities of an unknown conversation")
    answer = dl_client.post_activity(unknown_id(), message, auth=SECRET)
    expect.status(answer, 404, what="sending to an unknown conversation")
    if dl_profile.supports("reconnect"):
        answer = dl_client.reconnect(unknown_id(), auth=SECRET)
        expect.status(answer, 404, what="reconnecting to an unknown conversation")
    if dl_profile.supports("upload"):
        answer = dl_client.upload(unknown_id(), [FILE], user_id=steps.USER_ID, auth=SECRET)
        expect.status(answer, 404, what="uploading to an unknown conversation")


@errors_lane
@cost(requests=2)
@requirement("DL-ERR-003")
def test_unknown_path_answers_404(
    dl_client: DirectLineClient, dl_conversation: Conversation
) -> None:
    """An unknown path under the base URL answers 404."""
    answer = dl_client.request("GET", f"/dl-conformance-no-such-path/{uuid.uuid4().hex}")
    expect.status(answer, 404, what="GET of an unknown path under the base URL")
    answer = dl_client.request(
        "GET",
        path(dl_conversation.id, "/no-such-operation"),
        auth=steps.credential(dl_conversation),
    )
    expect.status(answer, 404, what="GET of an unknown operation of a conversation")


@errors_lane
@cost(conversations=2, requests=MALFORMED, activities=MALFORMED_ACCEPTED)
@requirement("DL-ERR-004", "DL-ERR-008")
def test_malformed_requests_draw_no_500(
    dl_client: DirectLineClient, dl_conversation: Conversation, dl_profile: Profile
) -> None:
    """No request a client can make draws a 500 (malformed input is a 4xx), and every one is
    answered within the request timeout."""
    conversation = dl_conversation
    token = steps.credential(conversation)
    activities = path(conversation.id, "/activities")
    upload = path(conversation.id, "/upload")
    user = {"userId": steps.USER_ID}
    bad_bodies: list[bytes] = [
        b"",
        b"{",
        b"null",
        b"[]",
        b"42",
        b"\xff\xfe{}",
        b'{"type": 5}',
        # fields of the wrong JSON type: test_fuzz_activities generates every kind of them
        b'{"type": "message", "from": {"id": "dl_conformance_user"}, "timestamp": "yesterday"}',
        b'{"type": "message", "from": {"id": "dl_conformance_user"}, "text": "\\ud800"}',
    ]
    requests: list[Callable[[], Exchange]] = [
        *(
            (
                lambda body=body: dl_client.request(
                    "POST", activities, auth=token, headers=JSON, content=body
                )
            )
            for body in bad_bodies
        ),
        lambda: dl_client.request(
            "POST", activities, auth=token, headers={"Content-Type": "text/plain"}, content=b"hi"
        ),
        *(
            (
                lambda mark=mark: dl_client.get_activities(
                    conversation.id, auth=token, watermark=mark
                )
            )
            for mark in ("zzz", "-1", "99999999999999999999999999")
        ),
        lambda: dl_client.reconnect(conversation.id, auth=token, watermark="zzz"),
        lambda: dl_client.get_activities("\x00" + unknown_id()),
        lambda: dl_client.get_activities("x" * 2000),
        lambda: dl_client.get_activities(conversation.id, auth=RawAuth("Bearer a.b.c")),
        lambda: dl_client.get_activities(conversation.id, auth=RawAuth("Bearer " + "x" * 4000)),
        lambda: dl_client.request("POST", "/conversations", headers=JSON, content=b"{"),
        lambda: dl_client.request(
            "POST", "/conversations", headers=JSON, content=b'{"user": {"id": 5}}'
        ),
        lambda: dl_client.request("POST", "/tokens/generate", headers=JSON, content=b"[1]"),
        lambda: dl_client.request("POST", "/tokens/refresh", auth="a.b.c"),
    ]
    # Malformed uploads only where the profile declares upload: a target without it is not
    # judged on a route it does not offer (NLP.js's stub upload route kills its process).
    uploads: list[Callable[[], Exchange]] = [
        lambda: dl_client.request(
            "POST", upload, auth=token, params=user, headers={"Content-Type": "multipart/form-data"}
        ),
        lambda: dl_client.request(
            "POST",
            upload,
            auth=token,
            params=user,
            headers={"Content-Type": "multipart/form-data; boundary=zzz"},
            content=b"--zzz\r\nno headers and no end",
        ),
        lambda: dl_client.request(
            "POST",
            upload,
            auth=token,
            params=user,
            headers={
                "Content-Type": "multipart/form-data; boundary=zzz",
            },
            content=(
                b"--zzz\r\nContent-Type: application/vnd.microsoft.activity\r\n\r\n{\r\n--zzz--\r\n"
            ),
        ),
    ]
    if dl_profile.supports("upload"):
        requests += uploads
    # What the service accepted of all that must not break reading the conversation either.
    requests.append(lambda: dl_client.get_activities(conversation.id, auth=token))
    answers: list[Exchange] = []
    for send in requests:
        with answered_in_time(dl_profile):
            answers.append(send())
    faults = [a for a in answers if a.status is not None and a.status >= 500]
    faults = [a for a in faults if a.status not in (502, 504)]
    expect.that(
        not faults,
        f"no 5xx other than the bot's 502/504 for {len(answers)} malformed requests",
        "; ".join(f"{a.method} {a.url} -> {a.status}" for a in faults),
        faults,
        requirement="DL-ERR-004",
    )


@errors_lane
@cost(requests=3)
@requirement("DL-ERR-005")
def test_wrong_method_answers_404_or_405_with_error_response(
    dl_client: DirectLineClient, dl_conversation: Conversation
) -> None:
    """A wrong method on a known path answers 404 or 405 with an ErrorResponse."""
    token = steps.credential(dl_conversation)
    answers = [
        dl_client.request("DELETE", "/conversations"),
        dl_client.request("PUT", path(dl_conversation.id, "/activities"), auth=token),
        dl_client.request("DELETE", path(dl_conversation.id), auth=token),
    ]
    for answer in answers:
        expect.status(
            answer, 404, 405, what=f"{answer.method} on a path that has no {answer.method}"
        )
        expect.error_response(answer)


@errors_lane
@cost(requests=2, streams=1)
@requirement("DL-ERR-007")
def test_errors_outside_documented_operations_carry_error_response(
    dl_client: DirectLineClient, dl_conversation: Conversation, dl_profile: Profile
) -> None:
    """Errors outside the documented operations (an unknown path, a refused WebSocket upgrade)
    carry an ErrorResponse too."""
    answer = dl_client.request("GET", f"/dl-conformance-no-such-path/{uuid.uuid4().hex}")
    if not is_error(answer):
        raise PreconditionFailed(
            f"could not test: an unknown path answered {answer.status} (DL-ERR-003 judges that)",
            exchange=answer,
        )
    expect.error_response(answer)
    url = dl_conversation.stream_url
    if not url:
        return
    parts = urlsplit(url.replace("&amp;", "&"))
    query = [(k, "forged" + v if k == "t" else v) for k, v in parse_qsl(parts.query)]
    forged = urlunsplit(parts._replace(query=urlencode(query)))
    try:
        stream = dl_client.open_stream(forged, timeout=dl_profile.timings.request_timeout)
    except StreamRefused as refused:
        if refused.status is not None and refused.exchange is not None:
            expect.error_response(refused.exchange)
        return
    stream.close()


@cost(conversations=1, requests=8, activities=1)
@requirement("DL-ERR-008")
def test_every_operation_is_answered_in_time(
    dl_client: DirectLineClient, dl_profile: Profile
) -> None:
    """Every request gets an answer within the profile's request timeout."""
    with answered_in_time(dl_profile):
        conversation = dl_client.new_conversation()
        token = steps.credential(conversation)
        dl_client.post_activity(
            conversation.id, steps.message(steps.unique_text("in time")), auth=token
        )
        dl_client.get_activities(conversation.id, auth=token)
        dl_client.get_activities(conversation.id, auth=token, watermark="zzz")
        dl_client.reconnect(conversation.id, auth=token)
        dl_client.get_activities(unknown_id())
        dl_client.request("GET", f"/dl-conformance-no-such-path/{uuid.uuid4().hex}")
        dl_client.request("DELETE", "/conversations")
