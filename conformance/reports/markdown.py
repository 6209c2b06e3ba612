"""report.json -> report.md: the requirement matrix grouped by spec page, for a PR comment or a
wiki page. Pure function over the (already redacted) report dict."""

from __future__ import annotations

from typing import Any

from conformance.catalog import Level
from conformance.verdicts import Verdict

__all__ = ["display_reason", "group_by_page", "must_act", "render_markdown", "summary_table"]


def render_markdown(report: dict[str, Any]) -> str:
    """The whole report as GitHub-flavoured Markdown."""
    lines = [
        "# Direct Line 3.0 conformance report",
        "",
        f"**{_cell(report['conclusion'])}**",
        "",
        f"- target: `{report['target']['url']}`",
        f"- profile: {report['profile']['name']} ({report['profile']['source']}); "
        f"endOfConversation reading: {report['profile']['end_of_conversation']}; "
        f"fail on {report['fail_on'].upper()}",
    ]
    if report.get("expectations"):
        lines.append(f"- expectations: `{report['expectations']}`")
    lines += [
        f"- run: {report['started']} to {report['finished']} "
        f"({report.get('duration', 0):g} s); kit {report['kit_version']}, "
        f"Python {report['python']}",
        "",
        "## Summary",
        "",
        *summary_table(report),
        "",
    ]
    tests = {t["nodeid"]: t for t in report["tests"]}
    for page, rows in group_by_page(report["requirements"]).items():
        lines += [
            f"## {page}",
            "",
            "| ID | level | title | verdict | reason |",
            "|---|---|---|---|---|",
        ]
        for r in rows:
            lines.append(
                f"| {r['id']} | {r['level']} | {_cell(r['title'])} | {_verdict(r['verdict'])} "
                f"| {_cell(display_reason(r, tests))} |"
            )
        lines.append("")
    return "\n".join(lines)


def summary_table(report: dict[str, Any]) -> list[str]:
    """Counts per level (rows) and verdict (columns), only the verdicts that occur."""
    summary: dict[str, dict[str, int]] = report["summary"]
    present = [v.value for v in Verdict if any(v.value in counts for counts in summary.values())]
    lines = [
        "| level | " + " | ".join(present) + " |",
        "|---|" + "---|" * len(present),
    ]
    for level in [lvl.value for lvl in Level if lvl.value in summary]:
        counts = summary[level]
        lines.append(f"| {level} | " + " | ".join(str(counts.get(v, 0)) for v in present) + " |")
    return lines


def group_by_page(requirements: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Requirements by spec page, pages and rows in catalog order."""
    pages: dict[str, list[dict[str, Any]]] = {}
    for r in requirements:
        pages.setdefault(r.get("page") or r["area"], []).append(r)
    return pages


def display_reason(row: dict[str, Any], tests: dict[str, dict[str, Any]]) -> str:
    """One line saying why: for a failure whose reason only repeats the bug report's heading
    ("DL-X (MUST) title"), the expected and observed lines of its evidence instead; a rule the
    expectations file lists as informational says so first."""
    reason = _why(row, tests)
    if row.get("informational") and row["verdict"] != "pass":
        return _first_line(f"informational ({row['informational']}): {reason}")
    return reason


def _why(row: dict[str, Any], tests: dict[str, dict[str, Any]]) -> str:
    reason = _first_line(row["reason"])
    if row["verdict"] != "fail" or not reason.startswith(row["id"]):
        return reason
    for nodeid in row["tests"]:
        test = tests.get(nodeid)
        if not test or test["outcome"] != "failed":
            continue
        lines = [line.strip() for line in (test.get("evidence") or test["message"]).splitlines()]
        expected = next((x for x in lines if x.startswith("expected:")), "")
        observed = next((x for x in lines if x.startswith("observed:")), "")
        if expected or observed:
            return _first_line("; ".join(x for x in (expected, observed) if x))
    return reason


def must_act(row: dict[str, Any]) -> bool:
    """Whether the reader must act on the verdict: it fails the run or leaves it without a
    conclusion (informational rules never do)."""
    return Verdict(row["verdict"]).alarming and not row.get("informational")


def _verdict(verdict: str) -> str:
    """Bold the verdicts a reader must act on."""
    return f"**{verdict}**" if Verdict(verdict).alarming else verdict


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= 160 else line[:160] + "..."


def _cell(text: str) -> str:
    """Text safe inside a table cell: no pipes, no newlines, no HTML."""
    return (
        text.replace("\\", "\\\\")
        .replace("|", "\\|")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("\n", " ")
    )
