"""The four report files: their content (from a canned run), their schema, and that none of them,
nor the terminal, ever holds the secret or a token (the real CLI against a broken server)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from conformance.catalog import load_catalog
from conformance.config.profile import load_profile
from conformance.evidence import Redactor
from conformance.reports.html import render_html
from conformance.reports.json import (
    REPORT_FORMAT,
    public_url,
    report_data,
    validate_report,
    write_reports,
)
from conformance.reports.junit import render_junit
from conformance.reports.markdown import render_markdown
from conformance.verdicts import Outcome, RunRecord, TestResult, compute_verdicts

pytest_plugins = ["pytester"]

SECRET = "reports-secret-Zq81xVb3kT"
TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJ0ZXN0Ijp0cnVlfQ.c2lnbmF0dXJl"
BUG_REPORT = (
    "DL-START-001 (MUST) New conversation answers 201 Created\n"
    "  expected: 201\n"
    f'  observed: 200 with body {{"token": "{TOKEN}"}} <script>alert(1)</script>\n'
    "  reproduce:\n"
    f"    curl -X POST -H 'Authorization: Bearer {SECRET}' http://127.0.0.1:9/v3/directline"
)


def canned_run() -> tuple[RunRecord, Redactor]:
    """A small run with every verdict, as the plugin records it, and the run's redactor."""
    catalog = load_catalog()
    results = [
        TestResult(
            "suite/test_start.py::test_created", ("DL-START-001",), Outcome.FAILED, 0.25, BUG_REPORT
        ),
        TestResult(
            "suite/test_start.py::test_id",
            ("DL-START-002",),
            Outcome.PASSED,
            0.5,
            cost={"requests": 1, "conversations": 1},
        ),
        TestResult(
            "suite/test_start.py::test_token",
            ("DL-START-003",),
            Outcome.ERROR,
            1.5,
            "error (not a verdict on DL-START-003): the target timed out after 10 s",
        ),
        TestResult(
            "suite/test_stream.py::test_ws",
            ("DL-STREAM-001",),
            Outcome.NOT_APPLICABLE,
            0.0,
            "not-applicable: profile 'x' does not declare websocket",
        ),
        TestResult(
            "suite/test_send.py::test_send",
            ("DL-SEND-001",),
            Outcome.FAILED,
            0.1,
            "DL-SEND-001 (MUST) ...\n  expected: 200\n  observed: 500",
        ),
        TestResult("suite/test_send.py::test_fixed", ("DL-SEND-002",), Outcome.PASSED, 0.1),
        TestResult(
            "suite/test_send.py::test_informational",
            ("DL-SEND-010",),
            Outcome.FAILED,
            0.1,
            "DL-SEND-010 (MUST) ...\n  expected: 4xx\n  observed: 500",
        ),
    ]
    expectations = {"DL-SEND-001": "known: answers 500", "DL-SEND-002": "known: was broken"}
    informational = {"DL-SEND-010": "undocumented on this target"}
    verdicts = compute_verdicts(catalog, results, expectations, informational=informational)
    redactor = Redactor()
    redactor.add_secret(SECRET)
    profile = load_profile("reference")
    record = RunRecord(
        target=public_url(f"http://user:{SECRET}@127.0.0.1:9/v3/directline?code={SECRET}"),
        embedded=False,
        profile={
            "name": profile.name,
            "source": profile.source,
            "end_of_conversation": profile.end_of_conversation,
            "features": sorted(profile.features),
            "timings": dict(vars(profile.timings)),
        },
        expectations="known.toml",
        header=(
            f"directline-conformance: target http://127.0.0.1:9/v3/directline?code={SECRET}",
            "  profile reference (built-in:reference); endOfConversation reading refuse",
        ),
        fail_on="should",
        started=1_800_000_000.0,
        finished=1_800_000_012.5,
        verdicts=tuple(verdicts),
        results=tuple(results),
        planned={"conversations": 2, "requests": 9, "streams": 0, "activities": 1, "minutes": 0.1},
        measured={"requests": 1, "conversations": 1, "sent_requests": 1, "sent_conversations": 1},
    )
    return record, redactor


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    return report_data(*canned_run())


def test_report_json_validates_and_carries_run_facts(report: dict[str, Any]) -> None:
    assert validate_report(report) == []
    assert report["format"] == REPORT_FORMAT
    assert report["started"] == "2027-01-15T08:00:00Z"
    assert report["duration"] == 12.5
    assert report["target"]["url"] == "http://127.0.0.1:9/v3/directline?code=<redacted>"
    assert report["run"][0] == (
        "directline-conformance: target http://127.0.0.1:9/v3/directline?code=<redacted>"
    )
    rows = {r["id"]: r for r in report["requirements"]}
    assert rows["DL-SEND-010"]["verdict"] == "fail"
    assert rows["DL-SEND-010"]["informational"] == "undocumented on this target"
    assert rows["DL-START-001"]["informational"] is None
    assert report["cost"]["planned"]["requests"] == 9 and report["stopped"] is None
    assert report["exit_status"] == 1  # DL-START-001; the informational failure alone would not
    assert rows["DL-START-001"]["verdict"] == "fail"
    assert rows["DL-START-001"]["page"] == "start-conversation"
    assert rows["DL-SEND-001"]["verdict"] == "expected-fail"
    assert rows["DL-SEND-002"]["verdict"] == "unexpected-pass"
    tests = {t["nodeid"]: t for t in report["tests"]}
    assert "expected: 201" in tests["suite/test_start.py::test_created"]["evidence"]
    assert tests["suite/test_start.py::test_id"]["evidence"] is None
    assert tests["suite/test_start.py::test_id"]["cost"] == {"requests": 1, "conversations": 1}


def test_schema_rejects_a_broken_report(report: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(report))
    broken["requirements"][0]["verdict"] = "passed-ish"
    del broken["tests"]
    problems = validate_report(broken)
    assert any("tests" in p for p in problems)
    assert any("requirements/0/verdict" in p for p in problems)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://u:pw@dl.example.com/v3/directline", "https://dl.example.com/v3/directline"),
        (
            "http://127.0.0.1:3000/v3/directline?t=abc&x",
            "http://127.0.0.1:3000/v3/directline?t=<redacted>&x",
        ),
        ("http://[::1]:8080/v3/directline", "http://[::1]:8080/v3/directline"),
    ],
)
def test_public_url_drops_credentials(url: str, shown: str) -> None:
    assert public_url(url) == shown


def test_no_writer_leaks_the_secret_or_a_token(report: dict[str, Any]) -> None:
    for text in (
        json.dumps(report),
        render_markdown(report),
        render_html(report),
        render_junit(report),
    ):
        assert SECRET not in text
        assert TOKEN not in text


def test_markdown_groups_the_matrix_by_spec_page(report: dict[str, Any]) -> None:
    md = render_markdown(report)
    lines = md.splitlines()
    assert lines[0] == "# Direct Line 3.0 conformance report"
    assert "**NOT conformant (exit 1)**" in lines
    verdicts = "fail | unexpected-pass | error | expected-fail | pass | not-applicable | not-tested"
    assert f"| level | {verdicts} |" in lines
    assert "## start-conversation" in lines
    assert "| ID | level | title | verdict | reason |" in lines
    assert (
        "| DL-START-001 | MUST | New conversation answers 201 Created | **fail** "
        '| expected: 201; observed: 200 with body {"token": "&lt;redacted&gt;"} '
        "&lt;script&gt;alert(1)&lt;/script&gt; |"
    ) in lines
    assert (
        "| DL-START-002 | MUST | Start answer has a non-empty conversationId | pass |  |" in lines
    )
    assert any(
        line.startswith("| DL-SEND-001 | MUST |") and "expected-fail | known: answers 500 |" in line
        for line in lines
    )
    assert lines.index("## authentication") < lines.index("## start-conversation")


def test_junit_has_one_testcase_per_requirement(report: dict[str, Any]) -> None:
    root = ET.fromstring(render_junit(report))
    suite = root.find("testsuite")
    assert suite is not None
    cases = {c.get("name", "").split(" ")[0]: c for c in suite.iter("testcase")}
    assert len(cases) == len(report["requirements"]) == int(suite.get("tests", 0))
    start = cases["DL-START-001"]
    assert start.get("classname") == "START"
    assert start.get("name") == "DL-START-001 New conversation answers 201 Created"
    assert start.get("time") == "0.250"
    failure = start.find("failure")
    assert failure is not None and "expected: 201" in (failure.text or "")
    props = {p.get("name"): p.get("value") for p in start.iter("property")}
    assert props == {"level": "MUST", "verdict": "fail"}
    error = cases["DL-START-003"].find("error")
    assert error is not None and "timed out" in error.get("message", "")
    skipped = cases["DL-SEND-001"].find("skipped")
    assert skipped is not None and skipped.get("message") == "expected failure: known: answers 500"
    unexpected = cases["DL-SEND-002"].find("failure")
    assert unexpected is not None and unexpected.get("message", "").startswith("unexpected pass:")
    na = cases["DL-STREAM-001"].find("skipped")
    assert na is not None and na.get("message", "").startswith("not-applicable: ")
    assert (
        cases["DL-START-002"].find("failure") is None
        and cases["DL-START-002"].find("skipped") is None
    )
    counts = {k: int(suite.get(k, -1)) for k in ("failures", "errors", "skipped")}
    assert counts["failures"] == 2 and counts["errors"] == 1


def test_html_is_self_contained_escaped_and_opens_the_first_failure(report: dict[str, Any]) -> None:
    page = render_html(report)
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page), "no external assets"
    assert "@import" not in page and "url(" not in page
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert '<tbody id="DL-START-001" data-verdict="fail" data-level="MUST">' in page
    assert page.count("<details open>") == 1
    assert page.index("<details open>") > page.index('id="DL-START-001"')
    assert '<span class="exp">  expected: 201</span>' in page
    assert 'value="unexpected-pass" checked' in page


def test_write_reports_writes_four_files(tmp_path: Path) -> None:
    paths = write_reports(tmp_path / "out", *canned_run())
    assert [p.name for p in paths] == ["report.json", "report.md", "report.html", "junit.xml"]
    assert validate_report(json.loads(paths[0].read_text())) == []


def test_terminal_summary_lists_unexpected_passes_and_report_files(
    pytester: pytest.Pytester,
) -> None:
    pytester.makefile(".toml", expect='[expected]\n"DL-START-002" = "known, long ago"\n')
    pytester.makepyfile(
        """
        import pytest
        from conformance.suite.expect import Violation
        @pytest.mark.requirement("DL-START-001")
        def test_created():
            raise Violation("201", "200")
        @pytest.mark.requirement("DL-START-002")
        def test_fixed():
            pass
        """
    )
    out = pytester.path / "out"
    result = pytester.runpytest(
        "--dl-target",
        "http://127.0.0.1:9",
        "--dl-expect",
        "expect.toml",
        "--dl-report-dir",
        str(out),
    )
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            "MUST    1 fail, 1 unexpected-pass, 99 not-tested",
            "failing requirements (fail the run):",
            "  DL-START-001 (MUST) New conversation answers 201 Created",
            "*unexpected passes*",
            "  DL-START-002 (MUST) *",
            f"report: {out / 'report.json'}",
            f"report: {out / 'report.md'}",
            f"report: {out / 'report.html'}",
            f"report: {out / 'junit.xml'}",
            "directline-conformance: NOT conformant (exit 1)",
        ]
    )
    assert validate_report(json.loads((out / "report.json").read_text())) == []


# -- the real CLI against a broken server: nothing secret anywhere ---------------------------
JWT = re.compile(r"eyJ[A-Za-z0-9_\-]{17,}(?:\.[A-Za-z0-9_\-]*)*")


class BrokenRun(NamedTuple):
    """The CLI's run against the broken server: its process, its report folder, and every token
    the server handed out."""

    result: subprocess.CompletedProcess[str]
    out: Path
    issued: set[str]


@pytest.fixture(scope="module")
def broken_run(tmp_path_factory: pytest.TempPathFactory) -> BrokenRun:
    """``directline-conformance run`` against a server answering 200 instead of 201, with every
    token the server handed out captured on its way out."""
    from conformance.reference.app import create_app
    from conformance.reference.config import ServerConfig
    from conformance.reference.server import EmbeddedServer
    from conformance.reference.service import DirectLineService

    class Answers200(DirectLineService):
        async def start_conversation(self, credential: Any, params: Any, origin: str) -> Any:
            status, body = await super().start_conversation(credential, params, origin)
            return (200 if status == 201 else status), body

    issued: set[str] = set()
    app = create_app(
        ServerConfig(secret=SECRET, stream_window=4.0, token_lifetime=6, bot_timeout=1.0),
        service_class=Answers200,
    )

    async def capturing(scope: Any, receive: Any, send: Any) -> None:
        async def spy(message: Any) -> None:
            if message.get("type") in ("http.response.body", "websocket.send"):
                data = message.get("body") or message.get("bytes") or message.get("text") or b""
                text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
                issued.update(JWT.findall(text))
                issued.update(re.findall(r'"token"\s*:\s*"([^"]{8,})"', text))
            await send(message)

        await app(scope, receive, spy)

    out = tmp_path_factory.mktemp("broken") / "reports"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DIRECTLINE_")}
    environment["DIRECTLINE_SECRET"] = SECRET
    with EmbeddedServer(app=capturing) as server:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "conformance.cli",
                "run",
                "-n",
                "0",
                "--target",
                str(server.base_url),
                "--profile",
                "reference",
                "-k",
                "test_start_conversation",
                "--report-dir",
                str(out),
            ],
            capture_output=True,
            text=True,
            timeout=300,
            env=environment,
            check=False,
        )
    return BrokenRun(result=result, out=out, issued=issued)


def test_broken_server_run_writes_four_reports_without_secrets(broken_run: BrokenRun) -> None:
    result, out = broken_run.result, broken_run.out
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-2000:]
    names = sorted(p.name for p in out.iterdir())
    assert names == ["junit.xml", "report.html", "report.json", "report.md"]
    assert broken_run.issued, "the server issued no token: the grep below would prove nothing"
    texts = {p.name: p.read_text(encoding="utf-8") for p in out.iterdir()}
    texts["stdout"], texts["stderr"] = result.stdout, result.stderr
    for name, text in texts.items():
        assert SECRET not in text, name
        for token in broken_run.issued:
            assert token not in text, (name, token[:12])
        assert not JWT.findall(text), (name, JWT.findall(text)[:1])


def test_broken_server_failure_shows_its_evidence(broken_run: BrokenRun) -> None:
    out = broken_run.out
    report = json.loads((out / "report.json").read_text())
    assert validate_report(report) == []
    verdicts = {r["id"]: r["verdict"] for r in report["requirements"]}
    assert verdicts["DL-START-001"] == "fail"
    evidence = next(
        t["evidence"]
        for t in report["tests"]
        if "DL-START-001" in t["requirements"] and t["outcome"] == "failed"
    )
    assert "observed:" in evidence and "curl" in evidence
    page = (out / "report.html").read_text()
    assert "<details open>" in page and "curl" in page
    case = ET.parse(out / "junit.xml").find(".//testcase[@classname='START']/failure")
    assert case is not None
    assert "report: " in broken_run.result.stdout
