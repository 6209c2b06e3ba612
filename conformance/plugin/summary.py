"""The terminal summary of a run: counts, what fails the run, what could not be judged.

A function of the RunRecord alone. Bounded whatever the target did: requirements that share one
reason (a target that stopped answering gives a hundred) are shown a few at a time with a count
of the rest, and every reason is cut to one short line.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from conformance.verdicts import (
    RequirementVerdict,
    RunRecord,
    Verdict,
    failing,
    summary_counts,
)

__all__ = ["plan_lines", "summary_lines"]

#: Characters of a reason shown on one line.
REASON_CHARS = 160

Line = tuple[str, dict[str, Any]]


def summary_lines(record: RunRecord, shown: int = 3) -> list[Line]:
    """The summary as (text, terminal style) lines."""
    lines: list[Line] = [(line, {}) for line in record.header]
    for level, counts in summary_counts(record.verdicts).items():
        text = ", ".join(f"{counts[v.value]} {v.value}" for v in Verdict if counts.get(v.value))
        lines.append((f"{level:<7} {text}", {}))
    if record.measured:
        m = record.measured
        lines.append(
            (
                f"sent: {m.get('sent_requests', 0)} requests ({m.get('retries', 0)} retries on "
                f"top), {m.get('sent_conversations', 0)} conversations, {m.get('streams', 0)} "
                "streams, "
                f"{m.get('sent_activities', m.get('activities', 0))} activities to the bot",
                {},
            )
        )
        over = [r for r in record.results if r.overspent]
        if over:
            first = over[0]
            lines.append(
                (
                    f"kit bug: {len(over)} test(s) sent more than their cost marker declares "
                    f"(the plan did not hold), e.g. {first.nodeid}: {', '.join(first.overspent)}",
                    {"yellow": True},
                )
            )
    if record.stopped:
        lines.append((f"the run stopped early: {record.stopped}", {"red": True, "bold": True}))
    bad = failing(record.verdicts, record.fail_on)
    alarm = {"red": True, "bold": True}
    failed = [v for v in bad if v.verdict is Verdict.FAIL]
    if failed:
        lines.append(("failing requirements (fail the run):", alarm))
        lines += _titled(failed)
    unexpected = [v for v in bad if v.verdict is Verdict.UNEXPECTED_PASS]
    if unexpected:
        lines.append(
            (
                "failing requirements (fail the run): unexpected passes, listed in the "
                "expectations file but passed (remove them from it):",
                alarm,
            )
        )
        lines += _titled(unexpected)
    ignored = [v for v in record.verdicts if v.verdict is Verdict.FAIL and v not in bad]
    if ignored:
        lines.append(
            (
                "failing requirements that do not fail the run (MAY, informational, or below "
                "the fail-on level):",
                {},
            )
        )
        lines += _titled(ignored)
    expected = [v for v in record.verdicts if v.verdict is Verdict.EXPECTED_FAIL]
    if expected:
        lines.append(("expected failures (listed in the expectations file):", {}))
        lines += _by_reason(expected, shown)
    errors = [v for v in record.verdicts if v.verdict is Verdict.ERROR]
    if errors:
        lines.append(
            ("requirements that could not be judged (harness or target errors):", {"yellow": True})
        )
        lines += _by_reason(errors, shown)
    return lines


def plan_lines(header: Iterable[str], problems: Iterable[str]) -> list[Line]:
    """The summary of a run that only planned (``--plan``, or a plan that does not fit)."""
    lines: list[Line] = [(line, {}) for line in header]
    problems = list(problems)
    if problems:
        lines.append(
            (
                "directline-conformance: the run does not fit the profile's limits, so nothing "
                "was sent (exit 2):",
                {"red": True, "bold": True},
            )
        )
        lines += [(f"  it {problem}", {}) for problem in problems]
    else:
        lines.append(("directline-conformance: the plan fits; nothing was sent (--plan)", {}))
    return lines


def _titled(verdicts: Iterable[RequirementVerdict]) -> list[Line]:
    return [
        (f"  {v.requirement.id} ({v.requirement.level}) {v.requirement.title}", {})
        for v in verdicts
    ]


def _by_reason(verdicts: list[RequirementVerdict], shown: int) -> list[Line]:
    """One line per requirement, but at most ``shown`` per distinct reason, then a count."""
    groups: dict[str, list[RequirementVerdict]] = {}
    for v in verdicts:
        groups.setdefault(_one_line(v.reason), []).append(v)
    lines: list[Line] = []
    for reason, members in groups.items():
        for v in members[:shown]:
            lines.append((f"  {v.requirement.id}: {reason}", {}))
        if len(members) > shown:
            lines.append((f"  ... and {len(members) - shown} more with the same reason", {}))
    return lines


def _one_line(text: str) -> str:
    first = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return first if len(first) <= REASON_CHARS else first[:REASON_CHARS] + "..."
