"""The pytest plugin end to end through pytester: markers, applicability, reports, exit codes."""

from __future__ import annotations

import json

import pytest

pytest_plugins = ["pytester"]

SECRET = "plugin-test-secret-value"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The caller's DIRECTLINE_* variables must not leak into the inner runs."""
    import os

    for name in list(os.environ):
        if name.startswith("DIRECTLINE_"):
            monkeypatch.delenv(name)


def test_unknown_requirement_id_is_a_collection_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        @pytest.mark.requirement("DL-NOPE-999")
        def test_x():
            pass
        """
    )
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stdout.fnmatch_lines(["*unknown requirement 'DL-NOPE-999'*"])


def test_tests_without_marker_are_left_alone(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_plain():\n    assert True\n")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    assert "directline-conformance: target" not in result.stdout.str()


def test_missing_feature_makes_a_test_not_applicable(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".toml",
        nows="""
        name = "nows"
        [features]
        auth = true
        """,
    )
    pytester.makepyfile(
        """
        import pytest
        @pytest.mark.requirement("DL-STREAM-001")
        def test_stream():
            raise AssertionError("must not run")
        @pytest.mark.requirement("DL-START-006")
        def test_plain():
            pass
        """
    )
    result = pytester.runpytest(
        "--dl-target", "http://127.0.0.1:9", "--dl-profile", "nows.toml", "-rs"
    )
    result.stdout.fnmatch_lines(["*not-applicable: profile 'nows' does not declare websocket*"])
    result.assert_outcomes(passed=1, skipped=1)
    assert result.ret == 0


def test_violation_reads_like_a_bug_report(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        f"""
        import pytest
        from conformance.expect import Violation
        @pytest.mark.requirement("DL-START-001")
        def test_created():
            raise Violation("201", "200 with body {{\\"token\\": \\"tok-{SECRET}\\"}}")
        """
    )
    result = pytester.runpytest("--dl-target", "http://127.0.0.1:9")
    assert result.ret == 1
    out = result.stdout.str()
    assert "DL-START-001 (MUST) New conversation answers 201 Created" in out
    assert "expected: 201" in out
    assert "observed: 200" in out
    assert SECRET not in out


def test_should_failure_fails_the_run_unless_relaxed(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        from conformance.expect import Violation
        @pytest.mark.requirement("DL-SEND-013")
        def test_should():
            raise Violation("200", "202")
        @pytest.mark.requirement("DL-START-006")
        def test_must():
            pass
        """
    )
    assert pytester.runpytest("--dl-target", "http://127.0.0.1:9").ret == 1
    relaxed = pytester.runpytest("--dl-target", "http://127.0.0.1:9", "--dl-fail-on", "must")
    assert relaxed.ret == 0
    relaxed.stdout.fnmatch_lines(["*do not fail the run*", "*DL-SEND-013 (SHOULD)*"])


def test_may_failure_never_fails_the_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        from conformance.expect import Violation
        @pytest.mark.requirement("DL-HTTP-002")
        def test_may():
            raise Violation("200", "404")
        @pytest.mark.requirement("DL-START-006")
        def test_must():
            pass
        """
    )
    assert pytester.runpytest("--dl-target", "http://127.0.0.1:9").ret == 0


def test_harness_error_is_its_own_outcome(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        from conformance.errors import TargetTimeout
        @pytest.mark.requirement("DL-START-001")
        def test_times_out():
            raise TargetTimeout("POST /conversations: no answer within 10 s")
        """
    )
    result = pytester.runpytest("--dl-target", "http://127.0.0.1:9")
    assert result.ret == 2
    result.stdout.fnmatch_lines(["*could not be judged*", "*DL-START-001*no answer within 10 s*"])


def test_run_that_exercises_nothing_exits_2(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        @pytest.mark.requirement("DL-START-001")
        def test_skipped():
            pytest.skip("not today")
        """
    )
    result = pytester.runpytest("--dl-target", "http://127.0.0.1:9")
    assert result.ret == 2
    result.stdout.fnmatch_lines(["*no requirement was exercised*"])


def test_failure_naming_one_requirement_blames_only_that_one(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        from conformance.expect import Violation
        @pytest.mark.requirement("DL-SEND-001", "DL-ACT-004")
        def test_both():
            raise Violation("the text intact", "trimmed", requirement="DL-ACT-004")
        @pytest.mark.requirement("DL-SEND-001")
        def test_send():
            pass
        """
    )
    report_dir = pytester.path / "out"
    result = pytester.runpytest(
        "--dl-target", "http://127.0.0.1:9", "--dl-report-dir", str(report_dir)
    )
    assert result.ret == 1
    report = json.loads((report_dir / "report.json").read_text())
    verdicts = {r["id"]: r["verdict"] for r in report["requirements"]}
    assert verdicts["DL-ACT-004"] == "fail"
    assert verdicts["DL-SEND-001"] == "pass"
    assert verdicts["DL-START-001"] == "not-tested"


def test_report_json_has_no_secret(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIRECTLINE_SECRET", SECRET)
    pytester.makepyfile(
        f"""
        import pytest
        from conformance.expect import Violation
        @pytest.mark.requirement("DL-START-001")
        def test_leaky():
            raise Violation("201", "the secret {SECRET} in a message")
        """
    )
    report_dir = pytester.path / "out"
    result = pytester.runpytest(
        "--dl-target", "http://127.0.0.1:9", "--dl-report-dir", str(report_dir)
    )
    text = (report_dir / "report.json").read_text()
    assert SECRET not in text
    assert SECRET not in result.stdout.str()
    report = json.loads(text)
    assert report["format"] == "directline-conformance/report/1"
    assert report["exit_status"] == 1


def test_bad_profile_file_is_one_clear_line(pytester: pytest.Pytester) -> None:
    pytester.makefile(".toml", bad="[timings]\nstream_connect_window = 'soon'\n")
    pytester.makepyfile(
        """
        import pytest
        @pytest.mark.requirement("DL-START-001")
        def test_x():
            pass
        """
    )
    result = pytester.runpytest("--dl-target", "http://127.0.0.1:9", "--dl-profile", "bad.toml")
    assert result.ret == 2
    result.stdout.fnmatch_lines(["*timings.stream_connect_window must be a number*"])
    assert "Traceback" not in result.stdout.str()


def test_unreachable_target_is_one_clear_line(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIRECTLINE_SECRET", SECRET)
    pytester.makepyfile(
        """
        import pytest
        @pytest.mark.requirement("DL-START-001")
        def test_x(dl_client):
            pass
        """
    )
    result = pytester.runpytest("--dl-target", "http://127.0.0.1:9", "--dl-timeout", "2")
    assert result.ret == 2
    result.stdout.fnmatch_lines(
        [
            "*error: POST http://127.0.0.1:9/conversations: connection refused*"
            "check that the target is running at http://127.0.0.1:9"
        ]
    )
    assert "Traceback" not in result.stdout.str()


def test_missing_secret_for_a_foreign_target(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        @pytest.mark.requirement("DL-START-001")
        def test_x(dl_client):
            pass
        """
    )
    result = pytester.runpytest("--dl-target", "http://127.0.0.1:9")
    assert result.ret == 2
    result.stdout.fnmatch_lines(["*no secret for http://127.0.0.1:9: set DIRECTLINE_SECRET*"])


def test_header_names_target_profile_and_timings(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        @pytest.mark.requirement("DL-START-006")
        def test_x():
            pass
        """
    )
    result = pytester.runpytest(
        "--dl-target", "http://127.0.0.1:9/v3/directline", "--dl-eoc", "forward"
    )
    result.stdout.fnmatch_lines(
        [
            "directline-conformance: target http://127.0.0.1:9/v3/directline",
            "*profile spec (built-in:spec); endOfConversation reading forward*",
            "*stream window 60 s*",
        ]
    )


def test_embedded_reference_server_is_started_for_a_fixture(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        from conformance import expect
        @pytest.mark.requirement("DL-START-001")
        def test_start(dl_client, dl_target):
            assert dl_target.embedded
            assert dl_target.base_url.startswith("http://127.0.0.1:")
            expect.status(dl_client.start_conversation(), 201)
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    assert result.ret == 0


def test_expected_failure_does_not_fail_the_run_but_a_fix_does(pytester: pytest.Pytester) -> None:
    pytester.makefile(".toml", expect='[expected]\n"DL-START-001" = "answers 200, known"\n')
    pytester.makepyfile(
        test_broken="""
        import pytest
        from conformance.expect import Violation
        @pytest.mark.requirement("DL-START-001")
        def test_created():
            raise Violation("201", "200")
        """
    )
    result = pytester.runpytest("--dl-target", "http://127.0.0.1:9", "--dl-expect", "expect.toml")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*expected failures*", "*DL-START-001: answers 200, known*"])
    pytester.makepyfile(
        test_broken="""
        import pytest
        @pytest.mark.requirement("DL-START-001")
        def test_created():
            pass
        """
    )
    fixed = pytester.runpytest("--dl-target", "http://127.0.0.1:9", "--dl-expect", "expect.toml")
    assert fixed.ret == 1
    fixed.stdout.fnmatch_lines(["*failing requirements*", "*DL-START-001*"])


def test_expectations_file_with_unknown_id_is_rejected(pytester: pytest.Pytester) -> None:
    pytester.makefile(".toml", expect='[expected]\n"DL-NOPE-001" = "why"\n')
    pytester.makepyfile(
        """
        import pytest
        @pytest.mark.requirement("DL-START-001")
        def test_x():
            pass
        """
    )
    result = pytester.runpytest("--dl-target", "http://127.0.0.1:9", "--dl-expect", "expect.toml")
    assert result.ret == 2
    result.stdout.fnmatch_lines(["*'DL-NOPE-001' is not a requirement of the catalog*"])


def test_verdicts_and_exit_status_under_xdist(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        from conformance.expect import Violation
        @pytest.mark.requirement("DL-START-001")
        def test_created():
            raise Violation("201", "200")
        @pytest.mark.requirement("DL-START-006")
        def test_distinct():
            pass
        """
    )
    result = pytester.runpytest_subprocess("-n", "2")
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        ["*directline-conformance: target embedded reference server*", "*NOT conformant*"]
    )


def test_nothing_exercised_under_xdist_exits_2(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        @pytest.mark.requirement("DL-STREAM-001")
        def test_stream():
            pass
        """
    )
    pytester.makefile(".toml", nows='name = "nows"\n[features]\nauth = true\n')
    result = pytester.runpytest_subprocess("-n", "2", "--dl-profile", "nows.toml")
    assert result.ret == 2
    result.stdout.fnmatch_lines(["*no requirement was exercised*"])


PLANNED_TESTS = """
import pytest
@pytest.mark.cost(conversations=1, requests=2, activities=1)
@pytest.mark.requirement("DL-START-006")
def test_one(dl_client):
    raise AssertionError("must not run")
@pytest.mark.cost(conversations=1, requests=3, waits=1)
@pytest.mark.requirement("DL-START-001")
def test_two(dl_client):
    raise AssertionError("must not run")
"""


def test_plan_prints_what_the_run_needs_and_sends_nothing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(PLANNED_TESTS)
    result = pytester.runpytest(
        "--dl-target", "http://127.0.0.1:9/v3/directline", "--dl-secret", "abcdefgh", "--dl-plan"
    )
    assert result.ret == 0, result.stdout.str()
    # 2 tests + the preflight's start and generate: 5 + 2 requests and 1 wait of up to 10 polls
    result.stdout.fnmatch_lines(
        [
            "*plan: 2 tests (0 not applicable): at most 4 conversations, 17 requests*",
            "*the plan fits; nothing was sent (--plan)*",
        ]
    )
    assert "cannot be used" not in result.stdout.str()  # no preflight: nothing sent


def test_a_run_that_does_not_fit_the_limits_stops_before_its_first_request(
    pytester: pytest.Pytester,
) -> None:
    pytester.makefile(
        ".toml",
        small="""
        name = "small"
        [features]
        auth = true
        tokens = true
        [limits]
        conversations = 3
        activities = 1
        """,
    )
    pytester.makepyfile(PLANNED_TESTS)
    result = pytester.runpytest(
        "--dl-target",
        "http://127.0.0.1:9/v3/directline",
        "--dl-secret",
        "abcdefgh",
        "--dl-profile",
        "small.toml",
    )
    assert result.ret == 2, result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "*does not fit the profile's limits, so nothing was sent (exit 2)*",
            "*needs at most 4 conversations, the profile allows 3 ([[]limits] conversations in*",
        ]
    )
    assert "must not run" not in result.stdout.str()
    assert "cannot be used" not in result.stdout.str()


def test_an_undeclared_cost_cannot_be_planned_against_limits(pytester: pytest.Pytester) -> None:
    pytester.makefile(".toml", limited='name = "limited"\n[limits]\nrequests = 100\n')
    pytester.makepyfile(
        """
        import pytest
        @pytest.mark.requirement("DL-START-006")
        def test_x():
            pass
        """
    )
    result = pytester.runpytest("--dl-profile", "limited.toml")
    assert result.ret == 2
    result.stdout.fnmatch_lines(["*1 selected test(s) declare no cost*"])


def test_informational_rules_are_judged_but_never_fail_the_run(pytester: pytest.Pytester) -> None:
    pytester.makefile(".toml", expect='[informational]\n"DL-START-001" = "undocumented here"\n')
    pytester.makepyfile(
        """
        import pytest
        from conformance.expect import Violation
        @pytest.mark.requirement("DL-START-001")
        def test_created():
            raise Violation("201", "200")
        @pytest.mark.requirement("DL-START-006")
        def test_fine():
            pass
        """
    )
    result = pytester.runpytest("--dl-target", "http://127.0.0.1:9", "--dl-expect", "expect.toml")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "*failing requirements that do not fail the run (MAY, informational*",
            "*DL-START-001 (MUST)*",
            "*conformant for every exercised requirement (exit 0)*",
        ]
    )


def test_unreachable_target_under_xdist_is_checked_once(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        @pytest.mark.requirement("DL-START-001")
        def test_x(dl_client):
            pass
        """
    )
    result = pytester.runpytest_subprocess(
        "-n", "2", "--dl-target", "http://127.0.0.1:9", "--dl-secret", "abcdefgh"
    )
    assert result.ret == 2
    assert result.stdout.str().count("check that the target is running") == 1
