"""Every check of the suite (conformance.suite.expect) on canned exchanges: one the check passes,
one it fails. The mutant runs prove that the suite wires each check to the right rule; these
prove the checks themselves, without a server.

The two properties the checks module promises are pinned here too: no pass without a Direct
Line answer (a right status with a body that is not a JSON object is a failure), and the bot is
not the service (a 502/504 BotError the check did not allow is a BotFailure, an error).
"""

from __future__ import annotations

import inspect
import json
import sys
from typing import Any

import pytest

from conformance.errors import BotFailure, PreconditionFailed, Violation
from conformance.evidence import Exchange
from conformance.suite import expect

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJjb252In0.c2lnbmF0dXJlLXZhbHVl"


def answer(
    status: int | None = 200,
    body: Any = None,
    *,
    raw: bytes | None = None,
    content_type: str = "application/json",
    **fields: Any,
) -> Exchange:
    """A recorded answer: ``body`` as JSON, or ``raw`` bytes as they came."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
    return Exchange(
        method="POST",
        url="http://127.0.0.1:9/v3/directline/conversations",
        request_headers=[("Authorization", "Bearer secret-value-123")],
        request_body=None,
        status=status,
        response_headers=[("Content-Type", content_type)] if status is not None else [],
        response_body=data if status is not None else None,
        started=1_700_000_000.0,
        elapsed=0.01,
        **fields,
    )


START = {"conversationId": "abc", "token": TOKEN, "expires_in": 1800}
ERROR = {"error": {"code": "BadArgument", "message": "no such conversation"}}
BOT_ERROR = {"error": {"code": "BotError", "message": "the bot timed out"}}
NO_ANSWER = answer(None, error="timed out after 10.0 s")


def violation(check: Any, *args: Any, **kwargs: Any) -> Violation:
    with pytest.raises(Violation) as caught:
        check(*args, **kwargs)
    return caught.value


# -- describe_status ---------------------------------------------------------------------------
def test_describe_status_passes_on_an_answer_with_a_body() -> None:
    assert expect.describe_status(answer(403, ERROR)).startswith('403 with body {"error"')


def test_describe_status_fails_to_find_an_answer_and_says_why() -> None:
    assert expect.describe_status(NO_ANSWER) == "no answer (timed out after 10.0 s)"
    assert expect.describe_status(answer(204)) == "204 with an empty body"


def test_describe_status_hides_a_token_before_cutting_the_body() -> None:
    long = answer(200, {"token": TOKEN + "x" * 400})
    shown = expect.describe_status(long)
    assert TOKEN not in shown and "<redacted>" in shown


# -- not_direct_line ---------------------------------------------------------------------------
def test_not_direct_line_passes_on_a_json_object() -> None:
    assert expect.not_direct_line(answer(201, START)) is None


@pytest.mark.parametrize(
    ("exchange", "said"),
    [
        (NO_ANSWER, "no answer (timed out after 10.0 s)"),
        (answer(200), "200 with an empty body"),
        (answer(200, raw=b"<html>hi</html>", content_type="text/html"), "not JSON (text/html"),
        (answer(200, [1, 2]), "200 with JSON list, not an object"),
        (answer(200, raw=b'{"a": 1', truncated=True), "a body larger than the kit reads"),
    ],
)
def test_not_direct_line_fails_on_what_no_direct_line_service_answers(
    exchange: Exchange, said: str
) -> None:
    problem = expect.not_direct_line(exchange)
    assert problem is not None and said in problem


# -- bot_failure -------------------------------------------------------------------------------
def test_bot_failure_passes_on_a_bot_error() -> None:
    assert expect.bot_failure(answer(502, BOT_ERROR)) == "502 BotError (the bot timed out)"
    assert expect.bot_failure(answer(504, {"error": {"code": "BotError"}})) == "504 BotError"


@pytest.mark.parametrize(
    "exchange",
    [
        answer(500, {"error": {"code": "BotError", "message": "x"}}),  # not a bot status
        answer(502, {"error": {"code": "ServiceError", "message": "x"}}),
        answer(502, raw=b"Bad Gateway", content_type="text/plain"),
        NO_ANSWER,
    ],
)
def test_bot_failure_fails_on_anything_but_a_bot_error(exchange: Exchange) -> None:
    assert expect.bot_failure(exchange) is None


# -- status ------------------------------------------------------------------------------------
def test_status_passes_on_an_allowed_status_with_a_json_object() -> None:
    assert expect.status(answer(201, START), 200, 201) == 201
    assert expect.status(answer(204, {}), range(200, 300)) == 204


def test_status_fails_on_another_status() -> None:
    caught = violation(
        expect.status, answer(200, START), 201, what="starting", requirement="DL-START-001"
    )
    assert caught.expected == "starting: 201"
    assert caught.observed.startswith("200 with body {")
    assert caught.requirement == "DL-START-001" and len(caught.exchanges) == 1


def test_status_fails_on_a_right_status_without_a_direct_line_answer() -> None:
    html = answer(201, raw=b"<html>created</html>", content_type="text/html")
    caught = violation(expect.status, html, 201)
    assert caught.expected == "201 from a Direct Line service (a JSON object body)"
    assert "not JSON (text/html" in caught.observed


def test_status_passes_a_refusal_on_its_status_alone() -> None:
    """A 4xx is the rule's evidence; its body is DL-ERR-001's to judge."""
    assert expect.status(answer(403, raw=b"Forbidden", content_type="text/plain"), 403) == 403


def test_status_passes_what_is_no_api_answer_without_json() -> None:
    file = answer(200, raw=b"\x89PNG...", content_type="image/png")
    assert expect.status(file, 200, api=False) == 200


def test_status_names_a_range_of_codes() -> None:
    caught = violation(expect.status, answer(500, ERROR), range(400, 500))
    assert caught.expected == "a status from 400 to 499"


def test_status_blames_the_bot_for_a_bot_error_it_did_not_allow() -> None:
    with pytest.raises(BotFailure) as caught:
        expect.status(answer(502, BOT_ERROR), 200, what="sending a message")
    assert "sending a message: the service answered 502 BotError" in str(caught.value)


def test_status_passes_a_bot_error_it_allows() -> None:
    assert expect.status(answer(502, BOT_ERROR), 502) == 502


# -- json_body / json_object -------------------------------------------------------------------
def test_json_body_passes_on_json() -> None:
    assert expect.json_body(answer(200, [1, "two"])) == [1, "two"]


def test_json_body_fails_on_a_body_that_is_not_json() -> None:
    caught = violation(expect.json_body, answer(200, raw=b"nope"), requirement="DL-X-001")
    assert caught.expected == "a JSON body" and "'nope'" in caught.observed
    assert caught.requirement == "DL-X-001"


def test_json_object_passes_on_an_object() -> None:
    assert expect.json_object(answer(201, START)) == START


def test_json_object_fails_on_other_json() -> None:
    caught = violation(expect.json_object, answer(200, ["a"]))
    assert caught.expected == "a JSON object" and caught.observed.startswith("JSON list")


# -- conforms ----------------------------------------------------------------------------------
def test_conforms_passes_a_valid_instance() -> None:
    expect.conforms(ERROR, "error-response")


def test_conforms_fails_an_invalid_instance_with_the_schema_lines() -> None:
    bad = answer(400, {"error": {"code": ""}})
    caught = violation(expect.conforms, {"error": {"code": ""}}, "error-response", [bad])
    assert caught.expected == "a value valid against the error-response schema"
    assert "$.error" in caught.observed and caught.exchanges == (bad,)


def test_conforms_shows_at_most_five_problems() -> None:
    six = {"id": 1, "type": 2, "from": 3, "text": 4, "timestamp": 5, "channelId": 6}
    caught = violation(expect.conforms, six, "activity", what="the activity")
    assert caught.expected == "the activity valid against the activity schema"
    assert caught.observed.count("; ") == 4 and caught.observed.endswith("(and 1 more)")


# -- error_response ----------------------------------------------------------------------------
def test_error_response_passes_on_an_error_response() -> None:
    assert expect.error_response(answer(404, ERROR)) == ERROR


def test_error_response_fails_on_a_body_that_is_not_json() -> None:
    caught = violation(expect.error_response, answer(404, raw=b"Not Found"))
    assert caught.observed == "404 with a body that is not JSON: 'Not Found'"


def test_error_response_fails_on_json_of_another_shape() -> None:
    caught = violation(expect.error_response, answer(404, {"message": "gone"}))
    assert caught.expected == "the error body valid against the error-response schema"


# -- equal / that ------------------------------------------------------------------------------
def test_equal_passes_on_equal_values() -> None:
    expect.equal({"a": [1]}, {"a": [1]}, "the body")


def test_equal_fails_showing_both_values_as_json() -> None:
    caught = violation(expect.equal, "é", "e", "text", requirement="DL-ACT-004")
    assert (caught.expected, caught.observed) == ('text = "e"', 'text = "é"')
    assert caught.requirement == "DL-ACT-004"


def test_that_passes_when_the_condition_holds() -> None:
    expect.that(True, "anything", "nothing")


def test_that_fails_with_what_was_expected_and_observed() -> None:
    caught = violation(expect.that, False, "a 60 s window", "closed after 5 s", hint="see ref")
    assert (caught.expected, caught.observed, caught.hint) == (
        "a 60 s window",
        "closed after 5 s",
        "see ref",
    )


# -- precondition ------------------------------------------------------------------------------
def test_precondition_passes_with_the_answer_body() -> None:
    assert expect.precondition(answer(201, START), "starting") == START
    assert expect.precondition(answer(204), "ending") is None


@pytest.mark.parametrize(
    ("exchange", "said"),
    [
        (answer(500, ERROR), "could not test: starting answered 500 with body"),
        (NO_ANSWER, "could not test: starting answered no answer (timed out"),
        (
            answer(200, raw=b"<html/>", content_type="text/html"),
            "not JSON (text/html, 7 bytes): '<html/>', not a Direct Line answer",
        ),
    ],
)
def test_precondition_fails_as_an_error_not_a_verdict(exchange: Exchange, said: str) -> None:
    with pytest.raises(PreconditionFailed) as caught:
        expect.precondition(exchange, "starting")
    assert said in str(caught.value) and caught.value.exchange is exchange


def test_precondition_blames_the_bot_for_a_bot_error() -> None:
    with pytest.raises(BotFailure):
        expect.precondition(answer(502, BOT_ERROR), "sending")


# -- every check has its pass and its failure ---------------------------------------------------
def test_every_check_is_tested_passing_and_failing() -> None:
    checks = {
        name
        for name in expect.__all__
        if inspect.isfunction(getattr(expect, name))
        and getattr(expect, name).__module__ == expect.__name__
    }
    tests = [name for name in vars(sys.modules[__name__]) if name.startswith("test_")]
    untested = [
        check
        for check in sorted(checks)
        if not any(t.startswith(f"test_{check}_passes") for t in tests)
        or not any(t.startswith(f"test_{check}_fails") for t in tests)
    ]
    assert untested == []
