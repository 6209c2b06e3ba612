"""The exceptions the kit raises on purpose.

Two families never mix: a *conformance failure* says the target broke a requirement (a verdict);
a *harness error* says the kit could not judge (the target did not answer, the configuration is
wrong, the run's budget is spent). A harness error is never counted as a pass or as a failure.

Exception tree::

    KitError                      base of every harness error below
    └── HarnessError              the harness or its configuration is at fault: never a verdict
        ├── ConfigError           bad user input (option, profile file, environment)
        ├── TargetError           the target did not answer usably      .exchange
        │   ├── TargetTimeout     no answer within the declared timeout
        │   ├── TargetUnreachable connection refused, DNS failure, reset
        │   ├── StreamRefused     the WebSocket handshake was not a 101   .status
        │   └── StreamClosed      the server closed the WebSocket         .code .reason
        ├── BudgetExhausted       a limit of the profile for this run is spent
        ├── RunStopped            the run stopped: deadline, dead target, circuit breaker
        ├── BotFailure            the bot behind the target failed (502/504 BotError): the
        │                         service's rule under test cannot be judged   .exchange
        └── PreconditionFailed    a step a test relies on (not the one it judges) failed
                                                                           .exchange

    AssertionError
    └── Violation                 a check saw the target break a rule: expected / observed /
                                  the exchanges; .requirement when a test speaks for several

A Violation is the one failure a check raises; the plugin tells it as a bug report
(conformance.evidence.BugReport).

The messages of these exceptions are one clear line, with credentials already hidden by whoever
raised them; the recorded exchange, when there is one, rides along for the report.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conformance.evidence import Exchange

__all__ = [
    "BotFailure",
    "BudgetExhausted",
    "ConfigError",
    "HarnessError",
    "KitError",
    "PreconditionFailed",
    "RunStopped",
    "StreamClosed",
    "StreamRefused",
    "TargetError",
    "TargetTimeout",
    "TargetUnreachable",
    "Violation",
]


class KitError(Exception):
    """Base of everything the kit raises on purpose (except Violation, a verdict)."""


class HarnessError(KitError):
    """The harness or its configuration is at fault: never a conformance verdict."""


class ConfigError(HarnessError):
    """Bad user input: an option, a profile file, an environment variable. The message names
    the source of the bad value."""


class TargetError(HarnessError):
    """The target did not answer usably: timeout, refused connection, reset, TLS."""

    def __init__(self, message: str, exchange: Exchange | None = None) -> None:
        super().__init__(message)
        self.exchange = exchange

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (type(self), (str(self), self.exchange))


class TargetTimeout(TargetError):
    """No answer within the declared timeout (the message says which request and how long)."""


class TargetUnreachable(TargetError):
    """Connection refused, DNS failure, connection reset."""


class StreamRefused(TargetError):
    """The WebSocket handshake was refused: ``status`` is the HTTP status of the answer (None
    when there was no usable answer, e.g. an invalid handshake response or stream URL)."""

    def __init__(
        self, status: int | None, exchange: Exchange | None = None, message: str | None = None
    ) -> None:
        text = message or (
            f"WebSocket handshake refused with HTTP {status}"
            if status is not None
            else "WebSocket handshake failed"
        )
        super().__init__(text, exchange)
        self.status = status

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (type(self), (self.status, self.exchange, str(self)))


class StreamClosed(TargetError):
    """The server closed the WebSocket (``code``/``reason`` of its close frame, None if none)."""

    def __init__(
        self,
        code: int | None,
        reason: str | None,
        exchange: Exchange | None = None,
        message: str | None = None,
    ) -> None:
        if message is None:
            if code is None:
                message = "the WebSocket was closed without a close frame"
            else:
                message = f"the WebSocket was closed: code {code}, reason {reason or ''!r}"
        super().__init__(message, exchange)
        self.code = code
        self.reason = reason

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (type(self), (self.code, self.reason, self.exchange, str(self)))


class BudgetExhausted(HarnessError):
    """A limit of the profile for this run (conversations, requests, activities) is spent."""


class RunStopped(HarnessError):
    """The run has stopped (its deadline passed, the target was declared dead, or it throttled
    the run): nothing more is sent, and what was not judged stays unjudged."""


class BotFailure(HarnessError):
    """The bot behind the target failed: a 502 or 504 whose ErrorResponse code is ``BotError``
    (docs/live-service.md §6). The service did what the docs say it does when its bot fails, so
    the service rule under test cannot be judged from that answer: an error naming the bot."""

    def __init__(self, message: str, exchange: Exchange | None = None) -> None:
        super().__init__(message)
        self.exchange = exchange

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (type(self), (str(self), self.exchange))


class PreconditionFailed(HarnessError):
    """A step the test relies on but does not judge failed (e.g. starting a conversation): the
    test cannot reach its verdict. ``exchange`` is the answer that stopped it."""

    def __init__(self, message: str, exchange: Exchange | None = None) -> None:
        super().__init__(message)
        self.exchange = exchange

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (type(self), (str(self), self.exchange))


class Violation(AssertionError):
    """A check saw the target break the rule: what was expected, what was observed, the proof.

    ``requirement`` names the rule when the raiser knows better than the test which one is
    broken (a test speaking for several, or a step whose failure is another rule's)."""

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
        self.requirement = requirement
        self.hint = hint

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (
            _violation,
            (self.expected, self.observed, self.exchanges, self.requirement, self.hint),
        )


def _violation(
    expected: str, observed: str, exchanges: Sequence[Exchange], requirement: str | None, hint: str
) -> Violation:
    return Violation(expected, observed, exchanges, requirement=requirement, hint=hint)
