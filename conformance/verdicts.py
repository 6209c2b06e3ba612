"""Test outcomes -> one verdict per requirement -> the run's exit status.

The vocabulary is fixed (see the report legend):

- ``pass``: every test of the requirement that ran passed;
- ``fail``: a test showed the target breaking the rule;
- ``error``: the harness could not judge (the target timed out, a precondition failed, a bug in a
  test); never counted as a pass, never silently as a fail;
- ``expected-fail``: failed, and the expectations file lists it with a reason;
- ``unexpected-pass``: listed as expected to fail, but passed (the deviation was fixed: say so);
- ``not-applicable``: the profile says the target lacks a feature the rule needs;
- ``not-tested``: no test ran for it (no test yet, deselected, or only inconclusive results).

MAY requirements are informational: their failures are reported, never fail the run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum

from conformance.catalog import Catalog, Requirement

__all__ = [
    "EXIT_ERROR",
    "EXIT_FAILED",
    "EXIT_OK",
    "Outcome",
    "RequirementVerdict",
    "TestResult",
    "Verdict",
    "compute_verdicts",
    "exit_status",
    "failing",
    "summary_counts",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_ERROR = 2


class Outcome(str, Enum):
    """What one test did."""

    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    NOT_APPLICABLE = "not-applicable"
    SKIPPED = "skipped"


class Verdict(str, Enum):
    """What the run concludes about one requirement."""

    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"
    EXPECTED_FAIL = "expected-fail"
    UNEXPECTED_PASS = "unexpected-pass"
    NOT_APPLICABLE = "not-applicable"
    NOT_TESTED = "not-tested"


#: Verdicts that mean the requirement was exercised against the target.
EXERCISED = frozenset({Verdict.PASS, Verdict.FAIL, Verdict.EXPECTED_FAIL, Verdict.UNEXPECTED_PASS})


@dataclass
class TestResult:
    """The outcome of one test, with the requirements it speaks for."""

    __test__ = False  # not a pytest test class, despite the name

    nodeid: str
    requirements: tuple[str, ...]
    outcome: Outcome
    duration: float = 0.0
    #: Redacted failure or error text, or the reason of a skip.
    message: str = ""
    #: For a failure: the requirements the failing check named (empty: all of the test's).
    failed_requirements: tuple[str, ...] = ()

    def blames(self, rid: str) -> bool:
        """Whether this failed test shows ``rid`` broken (not merely stopped before judging it)."""
        return self.outcome is Outcome.FAILED and (
            not self.failed_requirements or rid in self.failed_requirements
        )


@dataclass
class RequirementVerdict:
    """One requirement's verdict with the tests behind it."""

    requirement: Requirement
    verdict: Verdict
    tests: list[TestResult] = field(default_factory=list)
    reason: str = ""

    @property
    def informational(self) -> bool:
        """MAY rules never fail a run."""
        return self.requirement.level == "MAY"


def compute_verdicts(
    catalog: Catalog,
    results: Iterable[TestResult],
    expectations: Mapping[str, str] | None = None,
) -> list[RequirementVerdict]:
    """One verdict per catalog requirement, in catalog order."""
    expectations = expectations or {}
    by_requirement: dict[str, list[TestResult]] = {}
    for result in results:
        for rid in result.requirements:
            by_requirement.setdefault(rid, []).append(result)
    verdicts = []
    for requirement in catalog:
        tests = by_requirement.get(requirement.id, [])
        verdict, reason = _judge(requirement.id, tests)
        if requirement.id in expectations:
            if verdict is Verdict.FAIL:
                verdict, reason = Verdict.EXPECTED_FAIL, expectations[requirement.id]
            elif verdict is Verdict.PASS:
                verdict = Verdict.UNEXPECTED_PASS
                reason = f"listed as expected to fail ({expectations[requirement.id]}) but passed"
        verdicts.append(RequirementVerdict(requirement, verdict, tests, reason))
    return verdicts


def _judge(rid: str, tests: Sequence[TestResult]) -> tuple[Verdict, str]:
    if not tests:
        from conformance.suite.untested import UNTESTED

        return Verdict.NOT_TESTED, UNTESTED.get(rid, "no test ran for this requirement")
    failed = [t for t in tests if t.blames(rid)]
    if failed:
        return Verdict.FAIL, failed[0].message.splitlines()[0] if failed[0].message else ""
    errors = [t for t in tests if t.outcome is Outcome.ERROR]
    if errors:
        return Verdict.ERROR, errors[0].message.splitlines()[0] if errors[0].message else ""
    if any(t.outcome is Outcome.PASSED for t in tests):
        return Verdict.PASS, ""
    not_applicable = [t for t in tests if t.outcome is Outcome.NOT_APPLICABLE]
    if not_applicable:
        return Verdict.NOT_APPLICABLE, not_applicable[0].message
    inconclusive = [t for t in tests if t.outcome is Outcome.FAILED]
    if inconclusive:
        return (
            Verdict.NOT_TESTED,
            f"inconclusive: {inconclusive[0].nodeid} stopped at another failure",
        )
    return Verdict.NOT_TESTED, tests[0].message or "skipped"


def failing(
    verdicts: Iterable[RequirementVerdict], fail_on: str = "should"
) -> list[RequirementVerdict]:
    """Verdicts that fail the run: unexpected passes, and failures at or above ``fail_on``."""
    levels = {"MUST"} if fail_on == "must" else {"MUST", "SHOULD"}
    return [
        v
        for v in verdicts
        if v.verdict is Verdict.UNEXPECTED_PASS
        or (v.verdict is Verdict.FAIL and v.requirement.level in levels)
    ]


def exit_status(verdicts: Sequence[RequirementVerdict], fail_on: str = "should") -> int:
    """0 all good; 1 a conformance failure; 2 nothing exercised, or a harness error."""
    if failing(verdicts, fail_on):
        return EXIT_FAILED
    if not any(v.verdict in EXERCISED for v in verdicts):
        return EXIT_ERROR
    if any(v.verdict is Verdict.ERROR for v in verdicts):
        return EXIT_ERROR
    return EXIT_OK


def summary_counts(verdicts: Iterable[RequirementVerdict]) -> dict[str, Counter[str]]:
    """Counts of each verdict per level: {"MUST": Counter({"pass": 80, ...}), ...}."""
    counts: dict[str, Counter[str]] = {}
    for v in verdicts:
        counts.setdefault(v.requirement.level, Counter())[v.verdict.value] += 1
    return counts
