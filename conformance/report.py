"""Verdicts -> report files a person and a CI can read (report.json, versioned).

Everything written passes through the run's Redactor once more: a report never holds the
secret or a token, whatever a test message contained.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import conformance

if TYPE_CHECKING:
    from conformance.plugin import DirectLinePlugin

__all__ = ["REPORT_FORMAT", "build_report", "redact_strings", "write_json_report"]

#: Bump when a field changes meaning; readers check it.
REPORT_FORMAT = "directline-conformance/report/1"


def build_report(plugin: DirectLinePlugin, *, finished: float) -> dict[str, Any]:
    """The whole run as one JSON-able dict."""
    from conformance.plugin import session_status
    from conformance.verdicts import exit_status, summary_counts

    profile = plugin.profile
    target = plugin.settings.get("target") or "embedded reference server"
    return {
        "format": REPORT_FORMAT,
        "kit_version": conformance.__version__,
        "python": platform.python_version(),
        "target": {"url": target, "embedded": plugin.embedded},
        "profile": {
            "name": profile.name,
            "source": profile.source,
            "end_of_conversation": profile.end_of_conversation,
            "features": sorted(profile.features),
            "timings": dict(vars(profile.timings)),
        },
        "fail_on": plugin.fail_on,
        "started": _iso(plugin.started),
        "finished": _iso(finished),
        "exit_status": exit_status(plugin.verdicts, plugin.fail_on),
        "conclusion": session_status(plugin.verdicts, plugin.fail_on),
        "summary": {
            level: dict(counts) for level, counts in summary_counts(plugin.verdicts).items()
        },
        "requirements": [
            {
                "id": v.requirement.id,
                "level": v.requirement.level,
                "area": v.requirement.area,
                "title": v.requirement.title,
                "verdict": v.verdict.value,
                "reason": v.reason,
                "tests": [t.nodeid for t in v.tests],
            }
            for v in plugin.verdicts
        ],
        "tests": [
            {
                "nodeid": t.nodeid,
                "requirements": list(t.requirements),
                "outcome": t.outcome.value,
                "duration": round(t.duration, 4),
                "message": t.message,
            }
            for t in plugin.results.values()
        ],
    }


def write_json_report(directory: str | Path, plugin: DirectLinePlugin, *, finished: float) -> Path:
    """Write ``report.json`` into ``directory`` (created if needed); returns its path."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    report = redact_strings(build_report(plugin, finished=finished), plugin.redactor.redact)
    path = folder / "report.json"
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


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


def _iso(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))
