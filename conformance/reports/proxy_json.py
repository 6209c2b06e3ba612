"""The report of a two-sided run: report.json (format ``directline-conformance/proxy-report/1``,
schema ``specs/directline-3.0/proxy-report.schema.json``) and the files rendered from it.

Every field comes from the two runs' own report.json (already redacted: no secret, no token)
and the per-frame delays the stream tests wrote; the Markdown, HTML and JUnit files render that
one dict, so none can hold more than report.json does.
"""

from __future__ import annotations

import json
import platform
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import conformance
from conformance.reports.json import public_url, write_files
from conformance.reports.proxy_combine import TwoSided

__all__ = [
    "PROXY_REPORT_FORMAT",
    "PROXY_REPORT_SCHEMA_FILE",
    "Sides",
    "build_proxy_report",
    "latency_summary",
    "read_figures",
    "validate_proxy_report",
    "write_proxy_reports",
]

PROXY_REPORT_FORMAT = "directline-conformance/proxy-report/1"
PROXY_REPORT_SCHEMA_FILE = "proxy-report.schema.json"


@dataclass(frozen=True)
class Sides:
    """Where the two runs went and what each concluded."""

    proxy_url: str
    upstream_url: str
    #: Whether the upstream is the kit's own recording server.
    kit_upstream: bool
    #: Whether what reached the upstream was recorded (and the PROXY rules judged from it).
    recorded: bool
    upstream_run: Mapping[str, Any]
    proxy_run: Mapping[str, Any]


def read_figures(path: str | Path | None) -> list[dict[str, Any]]:
    """The per-frame delays the stream tests appended (JSON lines), unreadable lines skipped."""
    if path is None or not Path(path).is_file():
        return []
    figures = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if isinstance(item, dict) and isinstance(item.get("ms"), int | float):
            figures.append(
                {"test": str(item.get("test", "")), "index": int(item.get("index", 0)),
                 "ms": round(float(item["ms"]), 1)}
            )  # fmt: skip
    return figures


def latency_summary(figures: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """Count, median, 95th percentile and maximum of the per-frame delays (None: no frames)."""
    values = sorted(float(f["ms"]) for f in figures)
    if not values:
        return None
    p95 = values[min(len(values) - 1, max(0, round(0.95 * len(values)) - 1))]
    return {
        "frames": list(figures),
        "count": len(values),
        "median_ms": round(statistics.median(values), 1),
        "p95_ms": round(p95, 1),
        "max_ms": round(values[-1], 1),
    }


def _run_summary(report: Mapping[str, Any], folder: str) -> dict[str, Any]:
    return {
        "report": f"{folder}/report.json",
        "target": report.get("target", {}).get("url", ""),
        "exit_status": report.get("exit_status"),
        "conclusion": report.get("conclusion", ""),
        "stopped": report.get("stopped"),
    }


def build_proxy_report(
    combined: TwoSided,
    sides: Sides,
    *,
    started: float,
    finished: float,
    figures: Sequence[Mapping[str, Any]] = (),
    recording: str | None = None,
) -> dict[str, Any]:
    """The two-sided run as one JSON-able dict."""
    proxy_run = sides.proxy_run
    return {
        "format": PROXY_REPORT_FORMAT,
        "kit_version": conformance.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "proxy": {"url": public_url(sides.proxy_url)},
        "upstream": {
            "url": public_url(sides.upstream_url),
            "kit": sides.kit_upstream,
            "recorded": sides.recorded,
        },
        "profile": dict(proxy_run.get("profile", {})),
        "expectations": proxy_run.get("expectations"),
        "fail_on": combined.fail_on,
        "started": _iso(started),
        "finished": _iso(finished),
        "duration": round(max(0.0, finished - started), 3),
        "exit_status": combined.exit_status,
        "conclusion": combined.conclusion,
        "stopped": combined.stopped,
        "runs": {
            "upstream": _run_summary(sides.upstream_run, "upstream"),
            "proxy": _run_summary(proxy_run, "proxy"),
        },
        "summary": combined.counts,
        "requirements": [asdict(row) for row in combined.rows],
        "latency": latency_summary(figures),
        "recording": recording,
    }


def proxy_report_schema() -> dict[str, Any]:
    """The JSON Schema of a two-sided report.json (draft 2020-12), from the packaged specs."""
    from conformance.catalog.files import read_json, spec_path

    schema: dict[str, Any] = read_json(spec_path(PROXY_REPORT_SCHEMA_FILE))
    return schema


def validate_proxy_report(report: object) -> list[str]:
    """Problems of a two-sided report.json against its schema, one line each (empty: valid)."""
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(proxy_report_schema())
    problems = []
    for error in sorted(validator.iter_errors(report), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        problems.append(f"{where}: {error.message[:200]}")
    return problems


def write_proxy_reports(directory: str | Path, report: Mapping[str, Any]) -> list[Path]:
    """Write report.json, report.md, report.html and junit.xml of the two-sided run."""
    from conformance.reports.proxy_html import render_proxy_html
    from conformance.reports.proxy_junit import render_proxy_junit
    from conformance.reports.proxy_markdown import render_proxy_markdown

    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "report.json": json.dumps(report, indent=2, ensure_ascii=False) + "\n",
        "report.md": render_proxy_markdown(report),
        "report.html": render_proxy_html(report),
        "junit.xml": render_proxy_junit(report),
    }
    return write_files(folder, files)


def _iso(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))
