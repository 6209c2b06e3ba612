"""Check helpers: pure functions over recorded exchanges that raise a typed Violation.

A suite test acts through the client and then calls one of these. A check never does I/O: it
judges what was recorded, so it can be unit-tested on canned exchanges. It raises ``Violation``
(expected / observed / the exchanges that show it); the plugin turns that into a bug report naming
the test's requirement, with the transcript and a curl line to reproduce it.

``precondition`` is different: it guards a step the test needs but does not judge (start a
conversation, send a message). When the target cannot even do that, the rule under test cannot
be judged: that is an *error* verdict, not a failure of this rule.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from typing import Any

from conformance.catalog import validate
from conformance.errors import PreconditionFailed
from conformance.evidence import Exchange, Redactor

__all__ = [
    "Violation",
    "conforms",
    "equal",
    "error_response",
    "json_body",
    "json_object",
    "precondition",
    "status",
    "that",
]


class Violation(AssertionError):
    """A check saw the target break the rule: what was expected, what was observed, the proof."""

    def __init__(
        self,
        expected: str,
        observed: str,
        exchanges: Sequence[Exchange] = (),
        *,
        requirement: str | None = None,
        hint: str = "",
    ) -> None:
        super().__init__(f"expected {expected}; observed {observed}")
        self.expected = expected
        self.observed = observed
        self.exchanges = tuple(exchanges)
        #: The requirement this check judges, when a test speaks for several.
        self.requirement = requirement
        self.hint = hint


def describe_status(exchange: Exchange) -> str:
    """A status as a person reads it: '403 with {"error": ...}' or 'no answer (timed out ...)'."""
    if exchange.status is None:
        return f"no answer ({exchange.error or 'unknown failure'})"
    body = _shorten(exchange.text.strip(), 160)
    return f"{exchange.status}" + (f" with body {body}" if body else " with an empty body")


def _allowed_text(allowed: Collection[int]) -> str:
    codes = sorted(allowed)
    if len(codes) > 3 and codes == list(range(codes[0], codes[-1] + 1)):
        return f"a status from {codes[0]} to {codes[-1]}"
    return " or ".join(str(code) for code in codes)


def status(
    exchange: Exchange, *allowed: int | range, requirement: str | None = None, what: str = ""
) -> int:
    """The answer's status is one of ``allowed`` (ints or ranges); returns it."""
    codes: set[int] = set()
    for item in allowed:
        codes.update(item if isinstance(item, range) else (item,))
    if exchange.status not in codes:
        prefix = f"{what}: " if what else ""
        raise Violation(
            f"{prefix}{_allowed_text(codes)}",
            describe_status(exchange),
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
    return body


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
        raise PreconditionFailed(
            f"could not test: {what} answered {describe_status(exchange)}", exchange=exchange
        )
    try:
        return json.loads(exchange.response_body) if exchange.response_body else None
    except (ValueError, UnicodeDecodeError):
        return None


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=repr)
    return _shorten(text, 300)


_PATTERNS_ONLY = Redactor()


def _shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, credentials hidden *before* the cut: a token cut in
    half no longer matches its registered value, so it could not be hidden afterwards."""
    text = _PATTERNS_ONLY.redact(text)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"
