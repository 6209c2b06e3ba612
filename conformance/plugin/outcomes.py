"""What one test's failure means: a broken rule (a bug report), or no verdict at all (an error).

A check's ``Violation`` is a failure of the rule it names (or of the test's rules), told as a
bug report with the test's last exchanges. A harness error (the target timed out, a step the
test needs failed, the run stopped) and a Hypothesis example seen both to pass and fail are
errors: never counted as a pass, never as a failure. Anything else the test raised is a plain
failure (an assert) or an error (a crash), shown as pytest shows it. Every text is redacted
and bounded, whatever the target answered.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from conformance.catalog import Catalog, Level
from conformance.errors import HarnessError, KitError, Violation
from conformance.evidence import BugReport, Exchange, Redactor, render_transcript
from conformance.verdicts import Outcome

__all__ = ["MESSAGE_CHARS", "bug_report", "classify", "clip", "skip_reason"]

#: The longest failure or error text kept per test (a target answering megabytes must not make
#: megabyte reports).
MESSAGE_CHARS = 20_000
#: How many of a test's last exchanges its failure or error text shows.
EXCHANGES_SHOWN = 8


def classify(
    call: pytest.CallInfo[None],
    ids: tuple[str, ...],
    exchanges: Sequence[Exchange],
    *,
    catalog: Catalog,
    redactor: Redactor,
) -> tuple[Outcome, tuple[str, ...], str]:
    """(outcome, the requirements a failure names, the redacted text shown for it) of a test
    of ``ids`` that did not pass."""
    exc = first_cause(call.excinfo.value) if call.excinfo else None
    if isinstance(exc, Violation) and call.when == "call":
        named = (exc.requirement,) if exc.requirement else ids
        return (
            Outcome.FAILED,
            tuple(r for r in named if r),
            bug_report(exc, named, exchanges, catalog=catalog, redactor=redactor),
        )
    if exc is not None and (isinstance(exc, HarnessError) or is_flaky(exc)):
        detail = str(exc) if isinstance(exc, HarnessError) else flaky_text(exc)
        text = f"error (not a verdict on {', '.join(ids)}): {detail}"
        if exchanges and not str(detail).startswith("not run: "):
            shown = render_transcript(exchanges[-EXCHANGES_SHOWN:], redactor)
            text += "\n  exchanges:\n" + _indent(shown, 4)
        return Outcome.ERROR, (), clip(redactor.redact(text), MESSAGE_CHARS)
    longrepr = redactor.redact(str(call.excinfo.getrepr(style="short")) if call.excinfo else "")
    if isinstance(exc, AssertionError) and call.when == "call":
        return Outcome.FAILED, (), clip(longrepr, MESSAGE_CHARS)
    return Outcome.ERROR, (), clip(longrepr, MESSAGE_CHARS)


def bug_report(
    violation: Violation,
    named: Sequence[str],
    exchanges: Sequence[Exchange],
    *,
    catalog: Catalog,
    redactor: Redactor,
) -> str:
    """A failure message that reads like a bug report, secrets removed."""
    requirements = [catalog[rid] for rid in named if rid in catalog]
    first = requirements[0]
    title = first.title if len(requirements) == 1 else "; ".join(r.title for r in requirements)
    shown = list(exchanges[-EXCHANGES_SHOWN:]) or list(violation.exchanges)
    for exchange in violation.exchanges:
        if exchange not in shown:
            shown.append(exchange)
    report = BugReport(
        ", ".join(named),
        Level.strongest(r.level for r in requirements),
        title,
        violation.expected,
        violation.observed,
        shown,
        redactor=redactor,
        hint=violation.hint or first.rule,
    )
    # Hypothesis attaches its falsifying example and @reproduce_failure blob as notes
    notes = "\n".join(clip(str(n), 4000) for n in getattr(violation, "__notes__", ()))
    text = str(report) + (f"\n{notes}" if notes else "")
    return clip(redactor.redact(text), MESSAGE_CHARS)


def first_cause(exc: BaseException) -> BaseException:
    """The exception that says what happened: inside an exception group, the first one the kit
    raised on purpose (a Violation, a harness error), else the first of the group."""
    group = getattr(exc, "exceptions", None)
    if not isinstance(group, tuple) or not group:
        return exc
    flat = [first_cause(inner) for inner in group]
    for inner in flat:
        if isinstance(inner, Violation | KitError):
            return inner
    return flat[0]


def is_flaky(exc: BaseException | None) -> bool:
    """Hypothesis saw the same example pass and fail: a verdict cannot stand on that."""
    return exc is not None and any(k.__name__.startswith("Flaky") for k in type(exc).__mro__)


def flaky_text(exc: BaseException) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return (
        "inconclusive: Hypothesis saw the same example both pass and fail against the target "
        f"({type(exc).__name__}: {clip(first, 300)})"
    )


def skip_reason(report: pytest.TestReport) -> str:
    """Why pytest skipped a test, without pytest's "Skipped: " prefix."""
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        reason = str(longrepr[2])
        return reason[len("Skipped: ") :] if reason.startswith("Skipped: ") else reason
    return str(longrepr or "")


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, saying how long it was."""
    return text if len(text) <= limit else text[:limit] + f"... ({len(text):,} characters)"


def _indent(text: str, spaces: int) -> str:
    pad = " " * spaces
    return "\n".join(pad + line for line in text.splitlines())
