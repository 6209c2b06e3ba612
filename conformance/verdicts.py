"""Test outcomes -> one verdict per requirement -> the run's exit status, and the record of a run.

The vocabulary is fixed (see the report legend):

- ``pass``: every test of the requirement that ran passed;
- ``fail``: a test showed the target breaking the rule;
- ``error``: the harness could not judge (the target timed out, a precondition failed, the bot
  behind the target failed, the run stopped); never counted as a pass, never silently as a fail;
- ``expected-fail``: failed, and the expectations file lists it with a reason;
- ``unexpected-pass``: listed as expected to fail, but passed (the deviation was fixed: say so);
- ``not-applicable``: the profile says the target lacks a feature the rule needs;
- ``not-tested``: no test ran for it (no test yet, deselected, or only inconclusive results).

MAY requirements, and those the expectations file lists as *informational* (behaviour the
target does not document), are judged and reported but never fail the run.

:class:`RunRecord` is everything a run leaves behind; the reports, ``compare`` and the terminal
summary read only it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from conformance.catalog import Catalog, Level, Requirement

__all__ = [
    "EXIT_ERROR",
    "EXIT_FAILED",
    "EXIT_OK",
    "Outcome",
    "RequirementVerdict",
    "RunRecord",
    "TestResult",
    "Verdict",
    "compute_verdicts",
    "conclusion",
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

    @property
    def rank(self) -> int:
        """How much an outcome tells: of a test reported twice (setup, call, teardown), the
        higher rank is kept."""
        return _OUTCOME_RANK.index(self)


_OUTCOME_RANK = (
    Outcome.SKIPPED,
    Outcome.NOT_APPLICABLE,
    Outcome.PASSED,
    Outcome.ERROR,
    Outcome.FAILED,
)


class Verdict(str, Enum):
    """What the run concludes about one requirement, in report order (worst first)."""

    FAIL = "fail"
    UNEXPECTED_PASS = "unexpected-pass"
    ERROR = "error"
    EXPECTED_FAIL = "expected-fail"
    PASS = "pass"
    NOT_APPLICABLE = "not-applicable"
    NOT_TESTED = "not-tested"

    def __str__(self) -> str:
        return self.value

    @property
    def rank(self) -> int:
        """Position in report order: 0 is the worst."""
        return list(Verdict).index(self)

    @property
    def standing(self) -> str:
        """What the verdict says of the target: it ``met`` the rule, ``broke`` it, or the run
        could not tell (``unknown``)."""
        if self in (Verdict.PASS, Verdict.UNEXPECTED_PASS):
            return "met"
        if self in (Verdict.FAIL, Verdict.EXPECTED_FAIL):
            return "broke"
        return "unknown"

    @property
    def alarming(self) -> bool:
        """Whether a reader must act on it: ``fail`` and ``unexpected-pass`` fail the run (a rule
        the run judges by), ``error`` leaves it without a conclusion."""
        return self in (Verdict.FAIL, Verdict.UNEXPECTED_PASS, Verdict.ERROR)

    @property
    def exercised(self) -> bool:
        """Whether the rule was exercised against the target (met or broke it)."""
        return self.standing != "unknown"


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
    #: What the test sent (conformance.client.limits.Meter.as_dict()).
    cost: Mapping[str, int] = field(default_factory=dict)
    #: What its cost marker declares (a conformance.config.costs.Cost as a dict; empty when
    #: unplanned).
    planned: Mapping[str, int] = field(default_factory=dict)
    #: Where it sent more than declared (conformance.config.costs.overspent).
    overspent: tuple[str, ...] = ()

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
    #: Why the expectations file lists it as informational ("" when it does not).
    informational_because: str = ""

    @property
    def informational(self) -> bool:
        """MAY rules, and rules listed as informational, never fail a run."""
        return self.requirement.level is Level.MAY or bool(self.informational_because)


def compute_verdicts(
    catalog: Catalog,
    results: Iterable[TestResult],
    expectations: Mapping[str, str] | None = None,
    *,
    informational: Mapping[str, str] | None = None,
) -> list[RequirementVerdict]:
    """One verdict per catalog requirement, in catalog order.

    ``expectations``: known deviations (ID -> reason); ``informational``: rules that never fail
    the run (ID -> reason). A requirement no test ran for gives its ``untested`` reason.
    """
    expectations = expectations or {}
    informational = informational or {}
    by_requirement: dict[str, list[TestResult]] = {}
    for result in results:
        # a failure naming another rule (a stream frame of the wrong shape, a send answered
        # without an id) is that rule's failure too, whichever test met it
        for rid in dict.fromkeys((*result.requirements, *result.failed_requirements)):
            by_requirement.setdefault(rid, []).append(result)
    verdicts = []
    for requirement in catalog:
        tests = by_requirement.get(requirement.id, [])
        verdict, reason = _judge(requirement, tests)
        if requirement.id in expectations:
            if verdict is Verdict.FAIL:
                verdict, reason = Verdict.EXPECTED_FAIL, expectations[requirement.id]
            elif verdict is Verdict.PASS:
                verdict = Verdict.UNEXPECTED_PASS
                reason = f"listed as expected to fail ({expectations[requirement.id]}) but passed"
        verdicts.append(
            RequirementVerdict(
                requirement, verdict, tests, reason, informational.get(requirement.id, "")
            )
        )
    return verdicts


def _judge(requirement: Requirement, tests: Sequence[TestResult]) -> tuple[Verdict, str]:
    rid = requirement.id
    if not tests:
        return Verdict.NOT_TESTED, requirement.untested or "no test ran for this requirement"
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
    """Verdicts that fail the run: unexpected passes, and failures at or above ``fail_on``
    (informational rules never do)."""
    lowest = Level(fail_on.upper())
    return [
        v
        for v in verdicts
        if not v.informational_because
        and (
            v.verdict is Verdict.UNEXPECTED_PASS
            or (v.verdict is Verdict.FAIL and v.requirement.level.rank <= lowest.rank)
        )
    ]


def exit_status(
    verdicts: Sequence[RequirementVerdict], fail_on: str = "should", *, stopped: str | None = None
) -> int:
    """0 all good; 1 a conformance failure; 2 a run that stopped early (deadline, dead target,
    interrupted), nothing exercised, or a harness error on a rule that can fail the run."""
    if stopped:
        return EXIT_ERROR
    if failing(verdicts, fail_on):
        return EXIT_FAILED
    if not any(v.verdict.exercised for v in verdicts):
        return EXIT_ERROR
    if any(v.verdict is Verdict.ERROR and not v.informational_because for v in verdicts):
        return EXIT_ERROR
    return EXIT_OK


def conclusion(
    verdicts: Sequence[RequirementVerdict], fail_on: str, *, stopped: str | None = None
) -> str:
    """The one-line conclusion of a run."""
    code = exit_status(verdicts, fail_on, stopped=stopped)
    if stopped:
        return f"the run stopped early ({stopped}): no conclusion (exit 2)"
    if code == EXIT_OK:
        return "conformant for every exercised requirement (exit 0)"
    if code == EXIT_FAILED:
        return "NOT conformant (exit 1)"
    if not any(v.verdict.exercised for v in verdicts):
        return "no requirement was exercised: this run proves nothing (exit 2)"
    return "harness or target errors prevented a verdict (exit 2)"


def summary_counts(verdicts: Iterable[RequirementVerdict]) -> dict[str, Counter[str]]:
    """Counts of each verdict per level: {"MUST": Counter({"pass": 80, ...}), ...}."""
    counts: dict[str, Counter[str]] = {}
    for v in verdicts:
        counts.setdefault(v.requirement.level, Counter())[v.verdict.value] += 1
    return counts


@dataclass(frozen=True)
class RunRecord:
    """Everything a run leaves behind, as the reports, ``compare`` and the summary read it."""

    #: The target as it may be shown (user info and query values removed), or the embedded one.
    target: str
    embedded: bool
    #: The profile's name, source, reading, features and timings (JSON-able).
    profile: Mapping[str, Any]
    #: The expectations file used, if any.
    expectations: str | None
    #: The run's header lines as printed (target, profile, timings, plan).
    header: tuple[str, ...]
    fail_on: str
    started: float
    finished: float
    verdicts: tuple[RequirementVerdict, ...]
    results: tuple[TestResult, ...]
    #: What the plan allowed for, and what was sent (requests, conversations, streams,
    #: activities; retries apart), both JSON-able; None when unknown.
    planned: Mapping[str, Any] | None = None
    measured: Mapping[str, int] | None = None
    #: Why the run stopped early (deadline, dead target, interrupted); None when it did not.
    stopped: str | None = None

    @property
    def exit_status(self) -> int:
        return exit_status(self.verdicts, self.fail_on, stopped=self.stopped)

    @property
    def conclusion(self) -> str:
        return conclusion(self.verdicts, self.fail_on, stopped=self.stopped)
