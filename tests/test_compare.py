"""``compare``: the regression rule on canned reports, its output, and its exit codes."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conformance.reports.compare import ReportError, compare_reports, load_report, render
from conformance.reports.json import REPORT_FORMAT, validate_report


def row(rid: str, verdict: str, level: str = "MUST", reason: str = "") -> dict[str, Any]:
    area = rid.split("-")[1]
    return {
        "id": rid,
        "level": level,
        "area": area,
        "title": f"title of {rid}",
        "page": "start-conversation",
        "section": "s",
        "verdict": verdict,
        "reason": reason,
        "tests": [],
    }


def report(
    *rows: dict[str, Any], target: str = "http://127.0.0.1:3000/v3/directline"
) -> dict[str, Any]:
    return {
        "format": REPORT_FORMAT,
        "kit_version": "0.1.0",
        "python": "3.12.1",
        "target": {"url": target, "embedded": False},
        "profile": {
            "name": "spec",
            "source": "built-in:spec",
            "end_of_conversation": "refuse",
            "features": [],
            "timings": {"request_timeout": 10.0, "token_lifetime": None},
        },
        "fail_on": "should",
        "started": "2026-11-24T02:00:00Z",
        "finished": "2026-11-24T02:01:00Z",
        "exit_status": 0,
        "conclusion": "conformant for every exercised requirement (exit 0)",
        "summary": {},
        "requirements": list(rows),
        "tests": [],
    }


def test_canned_reports_are_valid() -> None:
    assert validate_report(report(row("DL-START-001", "pass"))) == []


@pytest.mark.parametrize(
    ("before", "after", "kind"),
    [
        ("pass", "fail", "regressions"),
        ("pass", "error", "regressions"),
        ("pass", "expected-fail", "regressions"),
        ("unexpected-pass", "fail", "regressions"),
        ("fail", "pass", "fixes"),
        ("error", "pass", "fixes"),
        ("expected-fail", "unexpected-pass", "fixes"),
        ("expected-fail", "pass", "fixes"),
        ("fail", "expected-fail", "changed"),
        ("expected-fail", "fail", "changed"),
        ("not-tested", "fail", "changed"),
        ("not-applicable", "fail", "changed"),
        ("pass", "not-tested", "changed"),
        ("pass", "not-applicable", "changed"),
        ("fail", "error", "changed"),
        ("pass", "unexpected-pass", "changed"),
    ],
)
def test_the_regression_rule(before: str, after: str, kind: str) -> None:
    comparison = compare_reports(
        report(row("DL-START-001", before)), report(row("DL-START-001", after))
    )
    kinds = {k: len(getattr(comparison, k)) for k in ("regressions", "fixes", "changed")}
    assert kinds == {k: int(k == kind) for k in kinds}
    assert comparison.exit_status == (1 if kind == "regressions" else 0)


def test_new_removed_and_unchanged() -> None:
    base = report(row("DL-START-001", "pass"), row("DL-START-002", "fail"))
    new = report(row("DL-START-001", "pass"), row("DL-START-003", "fail"))
    comparison = compare_reports(base, new)
    assert [c.id for c in comparison.added] == ["DL-START-003"]
    assert [c.id for c in comparison.removed] == ["DL-START-002"]
    assert not comparison.regressions and not comparison.changed
    assert comparison.exit_status == 0


def test_text_output_names_each_change() -> None:
    base = report(row("DL-START-001", "pass"), row("DL-SEND-001", "fail", reason="500"))
    new = report(
        row("DL-START-001", "fail", reason="expected: 201; observed: 200"),
        row("DL-SEND-001", "pass"),
        target="http://127.0.0.1:4000/v3/directline",
    )
    lines = render(compare_reports(base, new), "text").splitlines()
    assert "regressions (1):" in lines
    assert (
        "  DL-START-001 (MUST) pass -> fail  title of DL-START-001: expected: 201; observed: 200"
        in lines
    )
    assert "fixes (1):" in lines
    assert "  DL-SEND-001 (MUST) fail -> pass  title of DL-SEND-001" in lines
    assert any(line.startswith("note: the target differs") for line in lines)
    assert lines[-1] == (
        "REGRESSED (exit 1): 1 regressions, 1 fixes, 0 new requirements, "
        "0 removed requirements, 0 other changes, 0 informational changes (never a regression)"
    )


def test_json_and_markdown_output() -> None:
    base = report(row("DL-START-001", "pass"))
    new = report(row("DL-START-001", "error", reason="timed out"))
    data = json.loads(render(compare_reports(base, new), "json"))
    assert data["regressed"] is True and data["exit_status"] == 1
    assert data["regressions"][0] == {
        "id": "DL-START-001",
        "level": "MUST",
        "title": "title of DL-START-001",
        "base": "pass",
        "new": "error",
        "reason": "timed out",
    }
    md = render(compare_reports(base, new), "markdown").splitlines()
    assert md[0].startswith("**REGRESSED (exit 1)")
    assert "### regressions (1)" in md
    assert "| DL-START-001 | MUST | pass -> error | title of DL-START-001 |" in md


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("{not json", "not JSON"),
        ("[1, 2]", "not a directline-conformance report"),
        (
            '{"format": "directline-conformance/report/0"}',
            "is not 'directline-conformance/report/1'",
        ),
        ('{"format": "directline-conformance/report/1"}', "invalid report"),
    ],
)
def test_malformed_reports_are_one_clear_error(
    tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "report.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ReportError, match=message):
        load_report(path)


# -- the command -------------------------------------------------------------------------------
def cli(*args: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DIRECTLINE_")}
    return subprocess.run(
        [sys.executable, "-m", "conformance.cli", "compare", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=environment,
        check=False,
    )


def save(path: Path, data: dict[str, Any]) -> str:
    path.write_text(json.dumps(data))
    return str(path)


def test_command_exits_1_exactly_on_a_regression(tmp_path: Path) -> None:
    good = report(row("DL-START-001", "pass"), row("DL-START-002", "fail"))
    fixed = copy.deepcopy(good)
    fixed["requirements"][1]["verdict"] = "pass"
    broken = copy.deepcopy(good)
    broken["requirements"][0]["verdict"] = "fail"
    base = save(tmp_path / "base.json", good)
    same = cli(base, base)
    assert same.returncode == 0, same.stderr
    assert "no regression (exit 0)" in same.stdout
    better = cli(base, save(tmp_path / "fixed.json", fixed))
    assert better.returncode == 0
    assert "fixes (1):" in better.stdout
    worse = cli(base, save(tmp_path / "broken.json", broken), "--format", "markdown")
    assert worse.returncode == 1
    assert "### regressions (1)" in worse.stdout


def test_command_with_a_bad_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    base = save(tmp_path / "base.json", report(row("DL-START-001", "pass")))
    result = cli(base, str(tmp_path / "missing.json"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"directline-conformance: error: {tmp_path / 'missing.json'}: no such file"
    ]
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    result = cli(str(bad), base)
    assert result.returncode == 2
    assert "not JSON" in result.stderr and "Traceback" not in result.stderr
    assert cli(base).returncode == 2  # usage error: one report only


def test_informational_changes_are_listed_apart_and_never_regress() -> None:
    before = report(row("DL-START-001", "pass"))
    after = report(row("DL-START-001", "fail") | {"informational": "undocumented on the target"})
    comparison = compare_reports(before, after)
    assert comparison.regressions == [] and comparison.exit_status == 0
    assert [c.id for c in comparison.informational] == ["DL-START-001"]
    assert "informational changes (never a regression) (1):" in render(comparison)


def test_a_report_listing_an_id_twice_is_refused(tmp_path: Path) -> None:
    """With an ID twice, which verdict counts? Either choice could hide a regression."""
    doubled = report(row("DL-START-001", "pass"), row("DL-START-001", "fail"))
    path = tmp_path / "doubled.json"
    path.write_text(json.dumps(doubled))
    with pytest.raises(ReportError, match="DL-START-001 is listed twice"):
        load_report(path)
    base = save(tmp_path / "base.json", report(row("DL-START-001", "pass")))
    assert cli(base, str(path)).returncode == 2


def test_a_closed_pipe_is_quiet_and_keeps_the_exit_status(tmp_path: Path) -> None:
    """``compare A B | head -1``: no BrokenPipeError, and the status is still the comparison's
    (exit 1 means "regression" to a nightly job)."""
    many = [row(f"DL-START-{n:03d}", "pass") for n in range(1, 12)]
    fixed = [row(f"DL-START-{n:03d}", "fail") for n in range(1, 12)]
    base = save(tmp_path / "base.json", report(*fixed))
    new = save(tmp_path / "new.json", report(*many))
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DIRECTLINE_")}
    result = subprocess.run(
        f"{sys.executable} -m conformance.cli compare {base} {new} | head -1; "
        'echo "status=${PIPESTATUS[0]}"',
        shell=True,
        executable="/bin/bash",
        capture_output=True,
        text=True,
        timeout=60,
        env=environment,
        check=False,
    )
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr
    assert result.stdout.strip().endswith("status=0"), result.stdout
