"""A broken rule told as a bug report: what was expected, what came back, the exchanges, and
the commands that replay them.

The plugin turns every check's ``Violation`` into one of these; it is text, not an exception
(the one failure a check raises is ``Violation``)::

    DL-START-001 (MUST) New conversation answers 201 Created
      expected: 201 Created
      observed: 200 OK
      exchanges:
        [1/1] ...
      reproduce:
        curl ...

Everything in it passes through the redactor (a pattern-only one when none is given).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from conformance.evidence.exchange import Exchange
from conformance.evidence.redaction import Redactor
from conformance.evidence.transcript import curl_command, render_transcript

__all__ = ["MAX_EXCHANGES_SHOWN", "BugReport"]

#: How many of a test's exchanges a bug report shows (the last ones).
MAX_EXCHANGES_SHOWN = 20


@dataclass(frozen=True)
class BugReport:
    """The text shown for a broken requirement."""

    requirement_id: str
    level: str
    title: str
    expected: str
    observed: str
    exchanges: Sequence[Exchange] = ()
    redactor: Redactor = field(default_factory=Redactor)
    hint: str = ""

    @property
    def headline(self) -> str:
        """The first line: "DL-START-001 (MUST) New conversation answers 201 Created"."""
        return self.redactor.redact(f"{self.requirement_id} ({self.level}) {self.title}")

    def __str__(self) -> str:
        r = self.redactor
        lines = [self.headline]
        lines.append(_field("expected", r.redact(self.expected)))
        lines.append(_field("observed", r.redact(self.observed)))
        if self.hint:
            lines.append(_field("hint", r.redact(self.hint)))
        if self.exchanges:
            transcript = render_transcript(self.exchanges, r, max_exchanges=MAX_EXCHANGES_SHOWN)
            lines.append("  exchanges:")
            lines.append(_indent(transcript, "    "))
            shown = self.exchanges[-MAX_EXCHANGES_SHOWN:]
            commands = [curl_command(exchange, r) for exchange in shown]
            lines.append("  reproduce:")
            if len(commands) > 1:
                lines.append("    # the steps in order")
            if any("<redacted" in command for command in commands):
                lines.append("    # put fresh values in place of <redacted-token> and <redacted>")
            lines.append(_indent("\n".join(commands), "    "))
        return "\n".join(lines)


def _field(name: str, value: str) -> str:
    first, *rest = (value or "(nothing)").splitlines() or [""]
    out = [f"  {name}: {first}"]
    out.extend(" " * (len(name) + 4) + line for line in rest)
    return "\n".join(out)


def _indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line if line else line for line in text.splitlines())
