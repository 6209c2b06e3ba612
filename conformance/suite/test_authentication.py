"""Authentication and tokens: the ``Authorization`` header, the secret, conversation tokens,
``tokens/generate`` and ``tokens/refresh`` (authentication page, API reference § Headers,
§ HTTP status codes, § Token operations).

Credentials: a conversation's operations use the token its start answered (decision 7 of the
catalog); the rules about the secret use the secret. Wrong credentials are 401 or 403 where the
catalog allows both (decision 6). Expiry rules wait out the token lifetime: the profile's
``token_lifetime``, else the ``expires_in`` the target answered.

The tests that only need *a* conversation and its token share the ``auth`` lane's, and the
token rules judge one shared generate answer; the tests that refresh the lane's token come
last in the lane (a refresh must not leave a later test with a spent token).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from conformance.client import (
    NOBODY,
    SECRET,
    Auth,
    Conversation,
    DirectLineClient,
    RawAuth,
    TimedStart,
    UploadFile,
)
from conformance.config.costs import Cost
from conformance.config.profile import Profile
from conformance.errors import PreconditionFailed
from conformance.evidence import Exchange
from conformance.suite import expect, steps

requirement = pytest.mark.requirement
cost = pytest.mark.cost
auth_lane = pytest.mark.lane("auth")
#: The one generate the token rules of the lane judge together.
SHARED_GENERATE = Cost(conversations=1, requests=1)

#: A credential no Direct Line service ever issued (well-formed: one token68 word).
UNKNOWN_CREDENTIAL = "not-a-real-secret-" + uuid.uuid4().hex
#: The official client refreshes its token on a fixed 15-minute timer (DL-TOKEN-013).
MIN_TOKEN_LIFETIME = 900

Operation = tuple[str, Callable[[Auth], Exchange]]


# --- helpers ----------------------------------------------------------------------------------


def operations(
    client: DirectLineClient, conversation: Conversation, profile: Profile
) -> list[Operation]:
    """Every operation the target declares, each as (name, call with a given credential)."""
    cid = conversation.id
    ops: list[Operation] = [
        ("start (POST /conversations)", lambda auth: client.start_conversation(auth=auth)),
        (
            "send (POST /conversations/{id}/activities)",
            lambda auth: client.post_activity(
                cid, steps.message(steps.unique_text("auth")), auth=auth
            ),
        ),
        (
            "GET /conversations/{id}/activities",
            lambda auth: client.get_activities(cid, auth=auth),
        ),
    ]
    if profile.supports("reconnect"):
        ops.append(
            ("reconnect (GET /conversations/{id})", lambda auth: client.reconnect(cid, auth=auth))
        )
    if profile.supports("upload"):
        ops.append(
            (
                "upload (POST /conversations/{id}/upload)",
                lambda auth: client.upload(
                    cid,
                    [UploadFile("auth.txt", b"authentication check\n", "text/plain")],
                    user_id=steps.USER_ID,
                    single=True,
                    auth=auth,
                ),
            )
        )
    if profile.supports("tokens"):
        ops.append(
            ("POST /tokens/generate", lambda auth: client.generate_token(auth=auth)),
        )
    return ops


def judge_each(
    answers: list[tuple[str, Exchange]],
    allowed: range | tuple[int, ...],
    expected: str,
    *,
    error_body: bool = False,
) -> None:
    """Every answer has an allowed status (and an ErrorResponse if asked); one Violation naming
    every operation that did not."""
    bad: list[str] = []
    shown: list[Exchange] = []
    for name, answer in answers:
        if answer.status not in allowed:
            bad.append(f"{name}: {expect.describe_status(answer)}")
            shown.append(answer)
            continue
        if error_body:
            try:
                expect.error_response(answer)
            except expect.Violation as missing:
                bad.append(f"{name}: {answer.status} without an ErrorResponse ({missing.observed})")
                shown.append(answer)
    expect.that(not bad, expected, "; ".join(bad), shown)


def _accepted(answer: Exchange) -> bool:
    return answer.status is not None and 200 <= answer.status < 300


start_token = steps.start_token


def answered_token(answer: Exchange, what: str) -> str:
    """The ``token`` of a 2xx answer (precondition)."""
    body = expect.precondition(answer, what)
    token = body.get("token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise PreconditionFailed(f"could not test: {what} answered no token", exchange=answer)
    return token


def shared_generate(client: DirectLineClient, state: dict[str, Any]) -> Exchange:
    """The lane's one generate with the secret and no body (made now when no test did yet)."""
    if "generate" not in state:
        with client.meter.for_the_lane():
            state["generate"] = client.generate_token()
    answer: Exchange = state["generate"]
    if answer not in client.recorder.exchanges:
        client.recorder.add(answer)
    return answer


def generated(
    client: DirectLineClient, *, body: object = NOBODY, answer: Exchange | None = None
) -> tuple[str, str, Exchange]:
    """(conversationId, token, answer) of a generate with the secret (precondition): a new one,
    or ``answer`` when given."""
    answer = client.generate_token(body=body) if answer is None else answer
    token = answered_token(answer, "generating a token")
    data = answer.json_or_none()
    conversation_id = data.get("conversationId") if isinstance(data, dict) else None
    if not isinstance(conversation_id, str) or not conversation_id:
        raise PreconditionFailed(
            "could not test: tokens/generate answered no conversationId", exchange=answer
        )
    return conversation_id, token, answer


def lifetime(profile: Profile, conversation: Conversation) -> float:
    """Seconds the start token lives: the profile's token_lifetime, else the answered
    expires_in (precondition: an integer > 0)."""
    declared = profile.timings.token_lifetime
    if declared is not None:
        return float(declared)
    if conversation.expires_in is None or conversation.expires_in <= 0:
        raise PreconditionFailed(
            "could not test: the start answer has no integer expires_in > 0 to wait out",
            exchange=conversation.answer,
        )
    return float(conversation.expires_in)


def margin(seconds: float) -> float:
    """The timing margin of the brief: min(5 s, a quarter of the period)."""
    return min(5.0, seconds / 4)


def late_in_life(seconds: float) -> float:
    """When to use a token "near the end" of its lifetime: at 90% of it (the catalog, for clock
    skew), but never closer to the end than the timing margin, so a short compressed lifetime
    still leaves room for a loaded machine's latency."""
    return min(0.9 * seconds, seconds - margin(seconds))


def within_max_wait(profile: Profile, wait: float, what: str) -> None:
    if wait > profile.timings.max_wait:
        pytest.skip(
            f"not-applicable: {what} needs a wait of {wait:g} s, more than the profile's "
            f"max_wait of {profile.timings.max_wait:g} s"
        )


def sleep_until(client: DirectLineClient, deadline: float) -> None:
    """Wait until the monotonic ``deadline`` (ended early when the run stops meanwhile)."""
    client.pause(deadline - time.monotonic())


def late_start(profile: Profile) -> float | None:
    """The oldest a conversation started ahead may be for a test that first acts late in the
    token's life: a quarter margin past that instant (None: the profile declares no lifetime,
    and nothing was started ahead)."""
    declared = profile.timings.token_lifetime
    if declared is None:
        return None
    return late_in_life(declared) + margin(declared) / 4


def age_of(started: TimedStart) -> float:
    """Seconds since the start request went out: at least the token's age."""
    return round(time.monotonic() - started.before, 1)


def expired_token(
    client: DirectLineClient, timed_start: steps.TimedStarter, profile: Profile
) -> tuple[Conversation, str, float]:
    """A started conversation and its start token once the token's lifetime (plus the margin)
    has passed, with its age in seconds; not-applicable when the wait exceeds max_wait. (Any
    conversation started ahead will do: an older token is no less expired.)"""
    started = timed_start(None)
    token = start_token(started.conversation)
    life = lifetime(profile, started.conversation)
    age = life + margin(life)
    within_max_wait(profile, age, "waiting out the token lifetime")
    sleep_until(client, started.before + age)
    return started.conversation, token, age_of(started)


def expired_refusal(answer: Exchange, what: str) -> None:
    """403 with an ErrorResponse whose ``error.code`` is ``TokenExpired``."""
    expect.status(answer, 403, what=what)
    body = expect.error_response(answer)
    expect.equal(body["error"].get("code"), "TokenExpired", "error.code", [answer])


# --- Authentication -------------------------------------------------------------------------


@pytest.mark.smoke
@auth_lane
@cost(requests=6)
@requirement("DL-AUTH-001")
def test_missing_authorization_answers_401(
    dl_client: DirectLineClient, dl_conversation: Conversation, dl_profile: Profile
) -> None:
    """Every operation without an ``Authorization`` header is refused with 401 and an
    ErrorResponse."""
    answers = [
        (name, call(None)) for name, call in operations(dl_client, dl_conversation, dl_profile)
    ]
    judge_each(
        answers,
        (401,),
        "401 with an ErrorResponse on every operation sent without an Authorization header",
        error_body=True,
    )


@auth_lane
@cost(requests=14)
@requirement("DL-AUTH-002")
def test_malformed_authorization_answers_401(
    dl_client: DirectLineClient, dl_conversation: Conversation, dl_profile: Profile
) -> None:
    """A malformed ``Authorization`` header is refused with 401 on every operation; the scheme
    name is case-insensitive, so ``bearer <credential>`` is accepted (judged on the reads, which
    create nothing)."""
    secret = dl_client.secret or ""
    malformed = {
        "Basic credentials": RawAuth("Basic ZGlyZWN0bGluZTpjb25mb3JtYW5jZQ=="),
        "'Bearer' with no credential": RawAuth("Bearer"),
        "a credential without a scheme": RawAuth(secret),
    }
    ops = operations(dl_client, dl_conversation, dl_profile)
    forms = list(malformed.items())
    # every operation with two of the three forms, each form on two thirds of the operations
    answers = [
        (f"{name} with {form}", call(auth))
        for index, (name, call) in enumerate(ops)
        for form, auth in (forms[index % 3], forms[(index + 1) % 3])
    ]
    judge_each(answers, (401,), "401 on every operation with a malformed Authorization header")
    # the conversation's own credential, which every operation must take (DL-AUTH-004 and
    # DL-AUTH-005 judge which credential works where)
    own = dl_conversation.token or secret
    shown = "<token>" if dl_conversation.token else "<secret>"
    lowered = RawAuth(f"bearer {own}")
    cid = dl_conversation.id
    lower = [(f"GET activities with 'bearer {shown}'", dl_client.get_activities(cid, auth=lowered))]
    if dl_profile.supports("reconnect"):
        lower.append((f"reconnect with 'bearer {shown}'", dl_client.reconnect(cid, auth=lowered)))
    judge_each(
        lower,
        range(200, 300),
        "a 2xx on every operation with the scheme written 'bearer' (RFC 7235: case-insensitive)",
    )


@auth_lane
@cost(requests=6)
@requirement("DL-AUTH-003")
def test_unknown_credential_is_refused(
    dl_client: DirectLineClient, dl_conversation: Conversation, dl_profile: Profile
) -> None:
    """A well-formed but unknown secret or token is refused with 403 (401 tolerated) on every
    operation."""
    answers = [
        (name, call(UNKNOWN_CREDENTIAL))
        for name, call in operations(dl_client, dl_conversation, dl_profile)
    ]
    judge_each(answers, (403, 401), "403 (or 401) on every operation with an unknown credential")


@auth_lane
@cost(conversations=1, requests=8, activities=2)
@requirement("DL-AUTH-004")
def test_secret_works_on_every_operation(
    dl_client: DirectLineClient,
    dl_start_answer: Exchange,
    dl_conversation: Conversation,
    dl_profile: Profile,
) -> None:
    """The secret starts conversations and can use every operation of any of the bot's
    conversations (one it started, and one started with a generated token)."""
    answers: list[tuple[str, Exchange]] = [("start with the secret", dl_start_answer)]
    targets = [("a conversation started with the secret", dl_conversation)]
    if dl_profile.supports("tokens"):
        _, token, _ = generated(dl_client)
        targets.append(
            (
                "a conversation started with a generated token",
                dl_client.new_conversation(auth=token),
            )
        )
    for label, target in targets:
        answers.append(
            (
                f"send to {label}",
                dl_client.post_activity(
                    target.id, steps.message(steps.unique_text("secret")), auth=SECRET
                ),
            )
        )
        answers.append((f"GET activities of {label}", dl_client.get_activities(target.id)))
        if dl_profile.supports("reconnect"):
            answers.append((f"reconnect to {label}", dl_client.reconnect(target.id)))
    judge_each(answers, range(200, 300), "a 2xx on every operation made with the secret")


@auth_lane
@cost(requests=1)
@requirement("DL-AUTH-006")
def test_generate_refuses_a_token(
    dl_client: DirectLineClient, dl_conversation: Conversation
) -> None:
    """``tokens/generate`` needs the secret: a conversation token is refused there."""
    token = start_token(dl_conversation)
    answer = dl_client.generate_token(auth=token)
    expect.status(answer, 401, 403, what="tokens/generate with a conversation token")


# --- Tokens ---------------------------------------------------------------------------------


@auth_lane
@cost(lane_once=SHARED_GENERATE)
@requirement("DL-TOKEN-001")
def test_generate_answers_200_with_conversation(
    dl_client: DirectLineClient, dl_lane_state: dict[str, Any]
) -> None:
    """Generate with the secret answers 200 with conversationId, token (strings) and an integer
    expires_in > 0."""
    answer = shared_generate(dl_client, dl_lane_state)
    expect.status(answer, 200, what="tokens/generate with the secret")
    expect.conforms(
        expect.json_object(answer), "generate-token-answer", [answer], what="the generate answer"
    )


@auth_lane
@cost(lane_once=SHARED_GENERATE)
@requirement("DL-TOKEN-002")
def test_generate_answers_no_stream_url(
    dl_client: DirectLineClient, dl_lane_state: dict[str, Any]
) -> None:
    """Generate creates no stream URL: it does not start the conversation."""
    answer = shared_generate(dl_client, dl_lane_state)
    body = expect.precondition(answer, "generating a token")
    url = body.get("streamUrl") if isinstance(body, dict) else None
    expect.that(url is None, "no streamUrl in the generate answer", f"streamUrl {url!r}", [answer])


@auth_lane
@cost(conversations=1, requests=1, lane_once=SHARED_GENERATE)
@requirement("DL-TOKEN-003")
def test_each_generate_is_a_new_conversation(
    dl_client: DirectLineClient, dl_lane_state: dict[str, Any]
) -> None:
    """Two generates give two different conversation ids and two different tokens."""
    first_id, first_token, first = generated(
        dl_client, answer=shared_generate(dl_client, dl_lane_state)
    )
    second_id, second_token, second = generated(dl_client)
    expect.that(
        first_id != second_id,
        "two different conversationIds",
        f"the conversationId {first_id!r} twice",
        [first, second],
    )
    expect.that(
        first_token != second_token,
        "two different tokens",
        "the same token twice",
        [first, second],
    )


@auth_lane
@cost(requests=1, lane_once=SHARED_GENERATE)
@requirement("DL-TOKEN-004")
def test_generated_token_starts_its_own_conversation(
    dl_client: DirectLineClient, dl_lane_state: dict[str, Any]
) -> None:
    """A start with a generated token answers 201 for the conversation generate named."""
    conversation_id, token, answer = generated(
        dl_client, answer=shared_generate(dl_client, dl_lane_state)
    )
    started = dl_client.start_conversation(auth=token)
    expect.status(started, 201, what="starting with a generated token")
    body = expect.json_object(started)
    expect.equal(body.get("conversationId"), conversation_id, "conversationId", [answer, started])


@auth_lane
@cost(conversations=1, requests=1, lane_once=SHARED_GENERATE)
@requirement("DL-TOKEN-005")
def test_generate_accepts_no_body_and_token_parameters(
    dl_client: DirectLineClient, dl_lane_state: dict[str, Any]
) -> None:
    """Generate answers 200 with no body and with a TokenParameters body."""
    bare = shared_generate(dl_client, dl_lane_state)
    expect.status(bare, 200, what="tokens/generate without a body")
    with_body = dl_client.generate_token(
        body={
            "user": {"id": steps.USER_ID, "name": "Conformance"},
            "trustedOrigins": ["https://conformance.example"],
        }
    )
    expect.status(with_body, 200, what="tokens/generate with a TokenParameters body")


@cost(conversations=1, requests=3, activities=1, pagings=1)
@requirement("DL-TOKEN-006")
def test_embedded_user_is_the_only_sender(dl_client: DirectLineClient, dl_profile: Profile) -> None:
    """With a token embedding a ``dl_`` user, a send claiming another ``from.id`` is recorded
    under the embedded id (or, with enhanced_auth, refused); the other id is never recorded."""
    embedded = f"dl_bound_{uuid.uuid4().hex[:10]}"
    impostor = f"dl_other_{uuid.uuid4().hex[:10]}"
    _, generated_token, _ = generated(dl_client, body={"user": {"id": embedded}})
    conversation = dl_client.new_conversation(auth=generated_token)
    token = conversation.token or generated_token
    text = steps.unique_text("impostor")
    sent = dl_client.post_activity(conversation.id, steps.message(text, user=impostor), auth=token)
    activities = steps.history(dl_client, conversation, auth=token)
    recorded_as = [
        (a.get("from") or {}).get("id") for a in activities if isinstance(a.get("from"), dict)
    ]
    expect.that(
        impostor not in recorded_as,
        f"no activity recorded from the client-claimed from.id {impostor!r}",
        f"from.ids in the history: {recorded_as!r}",
        [sent],
    )
    if sent.status is not None and 400 <= sent.status < 500:
        expect.that(
            dl_profile.supports("enhanced_auth"),
            f"the send recorded under the embedded user {embedded!r} (a refusal is allowed "
            "only with enhanced_auth)",
            f"refused: {expect.describe_status(sent)}",
            [sent],
        )
        return
    body = expect.precondition(sent, "sending with a forged from.id")
    activity_id = body.get("id") if isinstance(body, dict) else None
    mine = [a for a in activities if a.get("id") == activity_id or a.get("text") == text]
    expect.that(
        bool(mine),
        f"the accepted send {activity_id!r} in the history",
        f"{len(activities)} activities, not it",
        [sent],
    )
    expect.equal(
        (mine[0].get("from") or {}).get("id"), embedded, "from.id of the recorded send", [sent]
    )


# --- Tests that refresh the lane's token: last in the lane ---------------------------------


@auth_lane
@cost(requests=8, activities=3)
@requirement("DL-AUTH-005")
def test_conversation_tokens_authorize_every_operation(
    dl_client: DirectLineClient, dl_conversation: Conversation, dl_profile: Profile
) -> None:
    """The token start answered authorizes every operation on its conversation; so do the
    tokens reconnect and refresh answer."""
    conversation = dl_conversation
    token = start_token(conversation)
    cid = conversation.id
    answers: list[tuple[str, Exchange]] = [
        (
            "send with the start token",
            dl_client.post_activity(cid, steps.message(steps.unique_text("token")), auth=token),
        ),
        ("GET activities with the start token", dl_client.get_activities(cid, auth=token)),
    ]
    if dl_profile.supports("upload"):
        answers.append(
            (
                "upload with the start token",
                dl_client.upload(
                    cid,
                    [UploadFile("token.txt", b"uploaded with the start token\n", "text/plain")],
                    user_id=steps.USER_ID,
                    single=True,
                    auth=token,
                ),
            )
        )
    if dl_profile.supports("reconnect"):
        reconnected = dl_client.reconnect(cid, auth=token)
        answers.append(("reconnect with the start token", reconnected))
        if reconnected.status == 200:
            again = answered_token(reconnected, "reconnecting")
            answers.append(
                (
                    "send with the token reconnect answered",
                    dl_client.post_activity(
                        cid, steps.message(steps.unique_text("reconnect token")), auth=again
                    ),
                )
            )
            answers.append(
                (
                    "GET activities with the token reconnect answered",
                    dl_client.get_activities(cid, auth=again),
                )
            )
    if dl_profile.supports("tokens"):
        refreshed = answered_token(dl_client.refresh_token(auth=token), "refreshing the token")
        answers.append(
            (
                "GET activities with the token refresh answered",
                dl_client.get_activities(cid, auth=refreshed),
            )
        )
    judge_each(answers, range(200, 300), "a 2xx on every operation with the conversation's tokens")


@pytest.mark.smoke
@auth_lane
@cost(requests=1)
@requirement("DL-TOKEN-007")
def test_refresh_answers_new_token_same_conversation(
    dl_client: DirectLineClient, dl_conversation: Conversation
) -> None:
    """Refresh with a valid token answers 200 with a new token, an integer expires_in > 0 and
    the same conversationId."""
    conversation = dl_conversation
    token = start_token(conversation)
    answer = dl_client.refresh_token(auth=token)
    expect.status(answer, 200, what="tokens/refresh with a valid token")
    body = expect.json_object(answer)
    expect.conforms(body, "refresh-token-answer", [answer], what="the refresh answer")
    expect.equal(body["conversationId"], conversation.id, "conversationId", [answer])
    expect.that(
        body["token"] != token,
        "a new token",
        "the token that was refreshed, unchanged",
        [answer],
    )


@auth_lane
@cost(requests=3, activities=1)
@requirement("DL-TOKEN-008")
def test_refreshed_token_works_on_the_conversation(
    dl_client: DirectLineClient, dl_conversation: Conversation
) -> None:
    """A refreshed token can send to and read its conversation."""
    conversation = dl_conversation
    token = answered_token(
        dl_client.refresh_token(auth=start_token(conversation)), "refreshing the token"
    )
    sent = dl_client.post_activity(
        conversation.id, steps.message(steps.unique_text("refreshed")), auth=token
    )
    expect.status(sent, range(200, 300), what="sending with the refreshed token")
    read = dl_client.get_activities(conversation.id, auth=token)
    expect.status(read, 200, what="GET activities with the refreshed token")


@auth_lane
@cost(requests=3)
@requirement("DL-TOKEN-009")
def test_token_refreshes_repeatedly(
    dl_client: DirectLineClient, dl_conversation: Conversation
) -> None:
    """A token can be refreshed again and again: three refreshes in a chain answer 200."""
    token = start_token(dl_conversation)
    for round_ in (1, 2, 3):
        answer = dl_client.refresh_token(auth=token)
        expect.status(
            answer, 200, what=f"refresh number {round_} (of the previous refresh's token)"
        )
        token = answered_token(answer, f"refresh number {round_}")


@cost(requests=2)
@requirement("DL-TOKEN-012")
def test_refresh_needs_a_valid_credential(dl_client: DirectLineClient) -> None:
    """Refresh with no credential, or with an unknown one, is refused (401/403)."""
    answers = [
        ("tokens/refresh without an Authorization header", dl_client.refresh_token(auth=None)),
        (
            "tokens/refresh with an unknown token",
            dl_client.refresh_token(auth=UNKNOWN_CREDENTIAL),
        ),
    ]
    judge_each(answers, (401, 403), "401 or 403 for a refresh without a valid credential")


@auth_lane
@cost(requests=1, lane_once=SHARED_GENERATE)
@requirement("DL-TOKEN-013")
def test_expires_in_is_at_least_15_minutes(
    dl_client: DirectLineClient,
    dl_conversation: Conversation,
    dl_lane_state: dict[str, Any],
    dl_profile: Profile,
) -> None:
    """``expires_in`` of start, generate and refresh is at least 900 s (the official client
    refreshes every 15 minutes) unless the profile declares a shorter token lifetime."""
    declared = dl_profile.timings.token_lifetime
    if declared is not None and declared < MIN_TOKEN_LIFETIME:
        pytest.skip(
            f"not-applicable: the profile declares a token lifetime of {declared:g} s "
            f"(under {MIN_TOKEN_LIFETIME} s)"
        )
    conversation = dl_conversation
    answers = [
        ("start", conversation.answer),
        ("generate", shared_generate(dl_client, dl_lane_state)),
        ("refresh", dl_client.refresh_token(auth=start_token(conversation))),
    ]
    bad: list[str] = []
    for name, answer in answers:
        body = expect.precondition(answer, name)
        value = body.get("expires_in") if isinstance(body, dict) else None
        if not isinstance(value, int) or isinstance(value, bool) or value < MIN_TOKEN_LIFETIME:
            bad.append(f"{name}: expires_in {value!r}")
    expect.that(
        not bad,
        f"expires_in of at least {MIN_TOKEN_LIFETIME} s on start, generate and refresh",
        "; ".join(bad),
        [answer for _, answer in answers],
    )


# --- Waiting out the token's lifetime -------------------------------------------------------
# The four tests share a clock (conformance.plugin.clocks): their conversations are started
# together, so they wait out one lifetime, not four. They stay in the order they first act in:
# late in the lifetime, then past its end.


@pytest.mark.slow
@cost(conversations=1, requests=2, wait="token_lifetime", before_the_end=True)
@requirement("DL-AUTH-008")
def test_token_accepted_for_its_whole_lifetime(
    dl_client: DirectLineClient, dl_profile: Profile, dl_timed_start: steps.TimedStarter
) -> None:
    """A token is accepted for its whole lifetime (tried late in it, see late_in_life)."""
    started = dl_timed_start(late_start(dl_profile))
    conversation = started.conversation
    token = start_token(conversation)
    life = lifetime(dl_profile, conversation)
    late = late_in_life(life)
    within_max_wait(dl_profile, late, "using a token near the end of its lifetime")
    sleep_until(dl_client, started.after + late)
    age = age_of(started)
    answer = dl_client.get_activities(conversation.id, auth=token)
    expect.status(
        answer, 200, what=f"GET activities with a token {age:g} s into its {life:g} s lifetime"
    )


@pytest.mark.slow
@cost(conversations=1, requests=3, wait="token_lifetime")
@requirement("DL-TOKEN-011")
def test_refresh_renews_the_lifetime(
    dl_client: DirectLineClient, dl_profile: Profile, dl_timed_start: steps.TimedStarter
) -> None:
    """A token refreshed near its end still works after the old token's expiry."""
    started = dl_timed_start(late_start(dl_profile))
    conversation = started.conversation
    token = start_token(conversation)
    life = lifetime(dl_profile, conversation)
    within_max_wait(dl_profile, life + margin(life), "waiting past the old token's expiry")
    sleep_until(dl_client, started.after + late_in_life(life))
    refreshed = answered_token(
        dl_client.refresh_token(auth=token), "refreshing near the end of the lifetime"
    )
    sleep_until(dl_client, started.before + life + margin(life))
    answer = dl_client.get_activities(conversation.id, auth=refreshed)
    expect.status(
        answer,
        200,
        what=f"GET activities with the refreshed token, {margin(life):g} s after the old "
        "token expired",
    )


@pytest.mark.slow
@cost(conversations=1, requests=2, wait="token_lifetime")
@requirement("DL-AUTH-007")
def test_expired_token_answers_403_token_expired(
    dl_client: DirectLineClient, dl_profile: Profile, dl_timed_start: steps.TimedStarter
) -> None:
    """A token used after its lifetime is refused with 403 and ``error.code`` TokenExpired."""
    conversation, token, age = expired_token(dl_client, dl_timed_start, dl_profile)
    answer = dl_client.get_activities(conversation.id, auth=token)
    expired_refusal(answer, f"GET activities with a token {age:g} s after it was issued")


@pytest.mark.slow
@cost(conversations=1, requests=2, wait="token_lifetime")
@requirement("DL-TOKEN-010")
def test_expired_token_cannot_be_refreshed(
    dl_client: DirectLineClient, dl_profile: Profile, dl_timed_start: steps.TimedStarter
) -> None:
    """Refreshing an expired token is refused with 403 and TokenExpired."""
    _conversation, token, age = expired_token(dl_client, dl_timed_start, dl_profile)
    answer = dl_client.refresh_token(auth=token)
    expired_refusal(answer, f"tokens/refresh {age:g} s after the token was issued")
