"""Verdicts -> the report data (report.json, versioned) and the one entry that writes every file.

The run is turned into one JSON-able dict, redacted once, and every writer (Markdown, HTML,
JUnit) renders that dict: what a person reads can never hold more than report.json does, and
report.json never holds the secret or a token, whatever a test message contained.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import conformance

if TYPE_CHECKING:
    from conformance.evidence import Redactor
    from conformance.verdicts import RunRecord

__all__ = [
    "REPORT_FORMAT",
    "REPORT_SCHEMA_FILE",
    "build_report",
    "public_url",
    "redact_strings",
    "report_schema",
    "validate_report",
    "write_files",
    "write_reports",
]

#: Bump when a field changes meaning; readers check it.
REPORT_FORMAT = "directline-conformance/report/1"
#: The JSON Schema of report.json, shipped beside the catalog.
REPORT_SCHEMA_FILE = "report.schema.json"
#: Outcomes whose message is the evidence of a verdict (the others carry a skip reason).
_EVIDENCE_OUTCOMES = ("failed", "error")


def build_report(record: RunRecord) -> dict[str, Any]:
    """The whole run as one JSON-able dict (not yet redacted: see :func:`report_data`)."""
    from conformance.verdicts import summary_counts

    return {
        "format": REPORT_FORMAT,
        "kit_version": conformance.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "target": {"url": record.target, "embedded": record.embedded},
        "profile": dict(record.profile),
        "expectations": record.expectations,
        # the header as printed, with the target shown as in "target" above
        "run": list(record.header),
        "fail_on": record.fail_on,
        "started": _iso(record.started),
        "finished": _iso(record.finished),
        "duration": round(max(0.0, record.finished - record.started), 3),
        "exit_status": record.exit_status,
        "conclusion": record.conclusion,
        "stopped": record.stopped,
        "cost": {"planned": record.planned, "measured": record.measured},
        "summary": {
            level: dict(counts) for level, counts in summary_counts(record.verdicts).items()
        },
        "requirements": [
            {
                "id": v.requirement.id,
                "level": v.requirement.level,
                "area": v.requirement.area,
                "title": v.requirement.title,
                "page": v.requirement.source.page,
                "section": v.requirement.source.section,
                "verdict": v.verdict.value,
                "reason": v.reason,
                "informational": v.informational_because or None,
                "tests": [t.nodeid for t in v.tests],
            }
            for v in record.verdicts
        ],
        "tests": [
            {
                "nodeid": t.nodeid,
                "requirements": list(t.requirements),
                "outcome": t.outcome.value,
                "duration": round(t.duration, 4),
                "message": t.message,
                # the bug report (expected, observed, exchanges, curl) of a failure or error
                "evidence": t.message if t.outcome.value in _EVIDENCE_OUTCOMES else None,
                "cost": dict(t.cost) or None,
                "planned": dict(t.planned) or None,
                "overspent": list(t.overspent),
            }
            for t in record.results
        ],
    }


def report_data(record: RunRecord, redactor: Redactor) -> dict[str, Any]:
    """:func:`build_report` with every string passed through the run's Redactor once more."""
    report: dict[str, Any] = redact_strings(build_report(record), redactor.redact)
    return report


def write_reports(directory: str | Path, record: RunRecord, redactor: Redactor) -> list[Path]:
    """Write report.json, report.md, report.html and junit.xml into ``directory``.

    All four render the same redacted dict; returns their paths in that order.
    """
    from conformance.reports.html import render_html
    from conformance.reports.junit import render_junit
    from conformance.reports.markdown import render_markdown

    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    report = report_data(record, redactor)
    files = {
        "report.json": json.dumps(report, indent=2, ensure_ascii=False) + "\n",
        "report.md": render_markdown(report),
        "report.html": render_html(report),
        "junit.xml": render_junit(report),
    }
    return write_files(folder, files)


def write_files(folder: Path, files: dict[str, str]) -> list[Path]:
    """Write each report file into ``folder`` (made already); their paths, in order."""
    paths = []
    for name, text in files.items():
        path = folder / name
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


def redact_strings(value: Any, redact: Callable[[str], str]) -> Any:
    """A copy of a JSON-able value with every string (keys included) passed through ``redact``.

    Redacting the serialized text instead could break JSON escaping.
    """
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(str(k)): redact_strings(v, redact) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_strings(v, redact) for v in value]
    return value


def public_url(url: str) -> str:
    """A target URL fit for a report: user info and query values removed (either may carry a
    credential, e.g. ``https://user:secret@host`` or ``?code=...``)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<unparseable target URL>"
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    query = "&".join(
        f"{pair.split('=', 1)[0]}=<redacted>" if "=" in pair else pair
        for pair in parts.query.split("&")
        if pair
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def report_schema() -> dict[str, Any]:
    """The JSON Schema of report.json (draft 2020-12), from the packaged specs."""
    from conformance.catalog import spec_path

    schema: dict[str, Any] = json.loads(spec_path(REPORT_SCHEMA_FILE).read_text(encoding="utf-8"))
    return schema


def validate_report(report: object) -> list[str]:
    """Problems of a report.json document against its schema, one line each (empty: valid)."""
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(report_schema())
    problems = []
    for error in sorted(validator.iter_errors(report), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        message = error.message if len(error.message) <= 200 else error.message[:200] + "..."
        problems.append(f"{where}: {message}")
    return problems


def _iso(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))
