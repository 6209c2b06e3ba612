"""Folding test outcomes into requirement verdicts, and verdicts into the exit status."""

from __future__ import annotations

from conformance.catalog import load_catalog
from conformance.verdicts import (
    EXIT_ERROR,
    EXIT_FAILED,
    EXIT_OK,
    Outcome,
    TestResult,
    Verdict,
    compute_verdicts,
    exit_status,
)

CATALOG = load_catalog()


def verdict_of(
    rid: str, *results: TestResult, expectations: dict[str, str] | None = None
) -> Verdict:
    verdicts = compute_verdicts(CATALOG, results, expectations)
    return next(v.verdict for v in verdicts if v.requirement.id == rid)


def result(outcome: Outcome, *rids: str, failed: tuple[str, ...] = ()) -> TestResult:
    return TestResult(f"t::{outcome.value}", rids, outcome, failed_requirements=failed)


def test_requirement_without_tests_is_not_tested() -> None:
    assert verdict_of("DL-START-001") is Verdict.NOT_TESTED


def test_one_failing_test_fails_the_requirement() -> None:
    assert (
        verdict_of(
            "DL-START-001",
            result(Outcome.PASSED, "DL-START-001"),
            result(Outcome.FAILED, "DL-START-001"),
        )
        is Verdict.FAIL
    )


def test_error_is_never_a_pass() -> None:
    assert (
        verdict_of(
            "DL-START-001",
            result(Outcome.PASSED, "DL-START-001"),
            result(Outcome.ERROR, "DL-START-001"),
        )
        is Verdict.ERROR
    )


def test_failure_naming_another_requirement_is_inconclusive_here() -> None:
    failed = result(Outcome.FAILED, "DL-SEND-001", "DL-ACT-004", failed=("DL-ACT-004",))
    assert verdict_of("DL-ACT-004", failed) is Verdict.FAIL
    assert verdict_of("DL-SEND-001", failed) is Verdict.NOT_TESTED
    assert verdict_of("DL-SEND-001", failed, result(Outcome.PASSED, "DL-SEND-001")) is Verdict.PASS


def test_not_applicable_only_when_nothing_ran() -> None:
    assert verdict_of("DL-STREAM-001", result(Outcome.NOT_APPLICABLE, "DL-STREAM-001")) is (
        Verdict.NOT_APPLICABLE
    )


def test_expected_failure_and_unexpected_pass() -> None:
    expectations = {"DL-START-001": "answers 200, see issue 12"}
    assert (
        verdict_of(
            "DL-START-001", result(Outcome.FAILED, "DL-START-001"), expectations=expectations
        )
        is Verdict.EXPECTED_FAIL
    )
    assert (
        verdict_of(
            "DL-START-001", result(Outcome.PASSED, "DL-START-001"), expectations=expectations
        )
        is Verdict.UNEXPECTED_PASS
    )


def test_exit_status_levels() -> None:
    passed = compute_verdicts(CATALOG, [result(Outcome.PASSED, "DL-START-001")])
    assert exit_status(passed) == EXIT_OK
    should_failed = compute_verdicts(
        CATALOG, [result(Outcome.PASSED, "DL-START-001"), result(Outcome.FAILED, "DL-SEND-013")]
    )
    assert exit_status(should_failed, "should") == EXIT_FAILED
    assert exit_status(should_failed, "must") == EXIT_OK
    may_failed = compute_verdicts(
        CATALOG, [result(Outcome.PASSED, "DL-START-001"), result(Outcome.FAILED, "DL-HTTP-002")]
    )
    assert exit_status(may_failed) == EXIT_OK


def test_nothing_exercised_is_exit_2() -> None:
    assert exit_status(compute_verdicts(CATALOG, [])) == EXIT_ERROR
    only_na = compute_verdicts(CATALOG, [result(Outcome.NOT_APPLICABLE, "DL-STREAM-001")])
    assert exit_status(only_na) == EXIT_ERROR


def test_harness_error_without_failures_is_exit_2() -> None:
    verdicts = compute_verdicts(
        CATALOG, [result(Outcome.PASSED, "DL-START-001"), result(Outcome.ERROR, "DL-START-002")]
    )
    assert exit_status(verdicts) == EXIT_ERROR
