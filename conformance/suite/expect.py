"""Check helpers: pure functions over recorded exchanges that raise a typed Violation.

A suite test acts through the client and then calls one of these. A check never does I/O: it
judges what was recorded, so it can be unit-tested on canned exchanges. It raises ``Violation``
(expected / observed / the exchanges that show it); the plugin turns that into a bug report naming
the test's requirement, with the transcript and a curl line to reproduce it.

``precondition`` is different: it guards a step the test needs but does not judge (start a
conversation, send a message). When the target cannot even do that, the rule under test cannot
be judged: that is an *error* verdict, not a failure of this rule.

Two properties hold for every check here (tests/test_checks.py proves them):

- **No pass without a Direct Line answer.** A Direct Line service answers every request with a
  JSON object (a resource, an ActivitySet, an ErrorResponse). A status check passes only on such
  an answer: a right status with an HTML page, broken JSON, an array or a cut-off body is a
  failure of the rule under test, never a pass.
- **The bot is not the service.** A 502 or 504 whose ErrorResponse code is ``BotError`` says the
  bot behind the service failed (docs/live-service.md §6). Where the check did not allow that
  status, it raises BotFailure (an error naming the bot), not a failure of the service's rule.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from typing import Any

from conformance.catalog import validate
from conformance.errors import BotFailure, PreconditionFailed, Violation
from conformance.evidence import Exchange
from conformance.evidence.redaction import PATTERNS_ONLY

__all__ = [
    "BOT_ERROR_CODE",
    "BOT_ERROR_STATUSES",
    "Violation",
    "bot_failure",
    "conforms",
    "describe_status",
    "equal",
    "error_response",
    "json_body",
    "json_object",
    "not_direct_line",
    "precondition",
    "status",
    "that",
]

#: The ErrorResponse code of a failure of the bot behind the service.
BOT_ERROR_CODE = "BotError"
#: The statuses the service answers a bot's failure with (bot error, bot timeout).
BOT_ERROR_STATUSES = frozenset({502, 504})


def describe_status(exchange: Exchange) -> str:
    """A status as a person reads it: '403 with {"error": ...}' or 'no answer (timed out ...)'."""
    if exchange.status is None:
        return f"no answer ({exchange.error or 'unknown failure'})"
    body = _shorten(exchange.text.strip(), 160)
    return f"{exchange.status}" + (f" with body {body}" if body else " with an empty body")


def not_direct_line(exchange: Exchange) -> str | None:
    """Why ``exchange`` is not an answer of a Direct Line service (None: it is one): a Direct
    Line service answers every request with a JSON object."""
    if exchange.status is None:
        return f"no answer ({exchange.error or 'unknown failure'})"
    body = exchange.response_body or b""
    ctype = exchange.header("content-type") or "no Content-Type"
    if exchange.truncated:
        return f"a body larger than the kit reads ({len(body):,} bytes read, {ctype})"
    if not body.strip():
        return f"{exchange.status} with an empty body"
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return (
            f"{exchange.status} with a body that is not JSON ({ctype}, {len(body):,} bytes): "
            f"{_shorten(exchange.text.strip(), 120)!r}"
        )
    if not isinstance(data, dict):
        return f"{exchange.status} with JSON {type(data).__name__}, not an object"
    return None


def bot_failure(exchange: Exchange) -> str | None:
    """What the service said of its bot's failure (None when the answer is no BotError)."""
    if exchange.status not in BOT_ERROR_STATUSES:
        return None
    data = exchange.json_or_none()
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict) or error.get("code") != BOT_ERROR_CODE:
        return None
    message = error.get("message")
    return f"{exchange.status} {BOT_ERROR_CODE}" + (
        f" ({_shorten(message, 120)})" if isinstance(message, str) and message else ""
    )


def _blame_the_bot(exchange: Exchange, what: str) -> None:
    """Raise BotFailure when ``exchange`` is the service reporting its bot's failure."""
    said = bot_failure(exchange)
    if said is not None:
        prefix = f"{what}: " if what else ""
        raise BotFailure(
            f"the bot behind the target failed, so this rule cannot be judged: {prefix}the "
            f"service answered {said} (the bot's fault, not the service's; declare the bot's "
            "behaviour in the profile, or fix the bot)",
            exchange,
        )


def _allowed_text(allowed: Collection[int]) -> str:
    codes = sorted(allowed)
    if len(codes) > 3 and codes == list(range(codes[0], codes[-1] + 1)):
        return f"a status from {codes[0]} to {codes[-1]}"
    return " or ".join(str(code) for code in codes)


def status(
    exchange: Exchange,
    *allowed: int | range,
    requirement: str | None = None,
    what: str = "",
    api: bool = True,
) -> int:
    """The answer's status is one of ``allowed`` (ints or ranges), and (``api``, the default)
    a 2xx answer is a Direct Line answer, a JSON object; returns the status. ``api=False`` for
    what is not an API answer: an uploaded file's bytes, a CORS preflight.

    A 4xx or 5xx is judged on its status alone: the refusal is the rule's evidence, and its
    body is DL-ERR-001's and DL-ERR-007's (a plain-text refusal must fail those, not every
    rule that expects a refusal). A 2xx without a JSON object is no evidence of anything."""
    codes: set[int] = set()
    for item in allowed:
        codes.update(item if isinstance(item, range) else (item,))
    prefix = f"{what}: " if what else ""
    if exchange.status not in codes:
        _blame_the_bot(exchange, what)
        raise Violation(
            f"{prefix}{_allowed_text(codes)}",
            describe_status(exchange),
            [exchange],
            requirement=requirement,
        )
    problem = not_direct_line(exchange) if api and exchange.status < 400 else None
    if problem is not None:
        raise Violation(
            f"{prefix}{_allowed_text(codes)} from a Direct Line service (a JSON object body)",
            problem,
            [exchange],
            requirement=requirement,
        )
    return exchange.status


def json_body(exchange: Exchange, *, requirement: str | None = None) -> Any:
    """The answer's body parsed as JSON (a Violation when it is not JSON)."""
    try:
        return json.loads(exchange.response_body or b"")
    except (ValueError, UnicodeDecodeError):
        raise Violation(
            "a JSON body",
            f"a body that is not JSON: {_shorten(exchange.text, 160)!r}",
            [exchange],
            requirement=requirement,
        ) from None


def json_object(exchange: Exchange, *, requirement: str | None = None) -> dict[str, Any]:
    """The answer's body as a JSON object."""
    body = json_body(exchange, requirement=requirement)
    if not isinstance(body, dict):
        raise Violation(
            "a JSON object",
            f"JSON {type(body).__name__}: {body!r:.160}",
            [exchange],
            requirement=requirement,
        )
    return body


def conforms(
    instance: Any,
    schema_name: str,
    exchanges: Sequence[Exchange] = (),
    *,
    requirement: str | None = None,
    what: str = "",
) -> None:
    """``instance`` is valid against the packaged JSON Schema ``schema_name``."""
    problems = validate(instance, schema_name)
    if problems:
        shown = "; ".join(problems[:5]) + (
            f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        )
        raise Violation(
            f"{what or 'a value'} valid against the {schema_name} schema",
            shown,
            exchanges,
            requirement=requirement,
        )


def error_response(exchange: Exchange, *, requirement: str | None = None) -> dict[str, Any]:
    """The answer carries an ErrorResponse ``{"error": {"code", "message"}}`` (DL-ERR-001)."""
    try:
        body = json.loads(exchange.response_body or b"")
    except (ValueError, UnicodeDecodeError):
        raise Violation(
            'an ErrorResponse body {"error": {"code": ..., "message": ...}}',
            f"{exchange.status} with a body that is not JSON: {_shorten(exchange.text, 160)!r}",
            [exchange],
            requirement=requirement,
        ) from None
    conforms(body, "error-response", [exchange], requirement=requirement, what="the error body")
    error: dict[str, Any] = body  # an object: the schema says so
    return error


def equal(
    observed: Any,
    expected: Any,
    what: str,
    exchanges: Sequence[Exchange] = (),
    *,
    requirement: str | None = None,
) -> None:
    """``observed == expected``; the message shows both, JSON-encoded."""
    if observed != expected:
        raise Violation(
            f"{what} = {_show(expected)}",
            f"{what} = {_show(observed)}",
            exchanges,
            requirement=requirement,
        )


def that(
    condition: bool,
    expected: str,
    observed: str,
    exchanges: Sequence[Exchange] = (),
    *,
    requirement: str | None = None,
    hint: str = "",
) -> None:
    """A general check: ``condition`` must hold."""
    if not condition:
        raise Violation(expected, observed, exchanges, requirement=requirement, hint=hint)


def precondition(exchange: Exchange, what: str) -> Any:
    """A step the test needs (not the rule it judges) answered 2xx; returns the JSON body if any."""
    if exchange.status is None or not 200 <= exchange.status < 300:
        _blame_the_bot(exchange, what)
        raise PreconditionFailed(
            f"could not test: {what} answered {describe_status(exchange)}", exchange=exchange
        )
    if not (exchange.response_body or b"").strip():
        return None
    problem = not_direct_line(exchange)
    if problem is not None:
        raise PreconditionFailed(
            f"could not test: {what} answered {problem}, not a Direct Line answer",
            exchange=exchange,
        )
    return json.loads(exchange.response_body or b"")


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=repr)
    return _shorten(text, 300)


def _shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, credentials hidden *before* the cut: a token cut in
    half no longer matches its registered value, so it could not be hidden afterwards."""
    text = PATTERNS_ONLY.redact(text)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"
