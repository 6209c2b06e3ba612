"""Compare two report.json files: what changed between a baseline run and a new one.

The rule (also in the README). A requirement's verdict says one of three things about the
target: it *meets* the rule (``pass``, ``unexpected-pass``), it *breaks* it (``fail``,
``expected-fail``), or the run could not tell (``error``, ``not-applicable``, ``not-tested``).

- **regression**: met in BASE, and in NEW broken or ``error``. ``pass -> expected-fail`` counts:
  the target did get worse, even if someone listed it the same day (it is reported once; the next
  comparison starts from expected-fail). ``pass -> error`` counts: a rule that was shown to hold
  and can no longer be shown to (a target that now hangs or dies) must not slip by a nightly gate.
- **fix**: broken or ``error`` in BASE, met in NEW.
- **new** / **removed**: the ID is only in NEW / only in BASE (the catalog changed).
- **other change**: any other verdict change, e.g. ``fail -> expected-fail`` (an expectation was
  added), ``not-tested -> fail`` (never shown to hold: a newly exercised rule, not a regression),
  ``pass -> not-tested`` (deselected: a loss of coverage, not of conformance).
- **informational change**: any verdict change of a rule either report lists as informational
  (behaviour the target does not document): shown, never a regression.

``compare`` exits 1 when there is at least one regression, else 0; a missing, unreadable or
invalid report is one line on stderr and exit 2 (see the CLI). Pure functions over the dicts.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance.errors import KitError
from conformance.verdicts import Verdict

__all__ = [
    "Change",
    "Comparison",
    "ReportError",
    "compare_reports",
    "load_report",
    "render",
]


def _met(verdict: str | None) -> bool:
    """Whether the verdict says the target meets the rule."""
    return verdict is not None and Verdict(verdict).standing == "met"


def _broken_or_error(verdict: str) -> bool:
    """Whether the verdict says the target breaks the rule, or can no longer be shown to meet
    it: what a met rule turns into in a regression, and what a fix starts from."""
    return Verdict(verdict).standing == "broke" or verdict == Verdict.ERROR


class ReportError(KitError):
    """A report file is missing, unreadable, not JSON, or not a directline-conformance report."""


@dataclass(frozen=True)
class Change:
    """One requirement whose verdict differs between the two runs (None: absent from a run)."""

    id: str
    level: str
    title: str
    base: str | None
    new: str | None
    reason: str = ""


@dataclass
class Comparison:
    """Every difference, by kind, in catalog order of NEW (then BASE for removed ones)."""

    base: dict[str, Any]
    new: dict[str, Any]
    regressions: list[Change] = field(default_factory=list)
    fixes: list[Change] = field(default_factory=list)
    added: list[Change] = field(default_factory=list)
    removed: list[Change] = field(default_factory=list)
    changed: list[Change] = field(default_factory=list)
    informational: list[Change] = field(default_factory=list)

    @property
    def exit_status(self) -> int:
        """1 on any regression, else 0."""
        return 1 if self.regressions else 0

    def notes(self) -> list[str]:
        """Differences of context that make a comparison less meaningful."""
        notes = []
        facts: tuple[tuple[str, Callable[[dict[str, Any]], Any]], ...] = (
            ("target", lambda r: r["target"]["url"]),
            ("profile", lambda r: r["profile"]["name"]),
            ("endOfConversation reading", lambda r: r["profile"]["end_of_conversation"]),
        )
        for label, get in facts:
            before, after = get(self.base), get(self.new)
            if before != after:
                notes.append(f"the {label} differs: {before} (base) vs {after} (new)")
        return notes


def load_report(path: str | Path) -> dict[str, Any]:
    """Read and check a report.json; raises ReportError with one line naming what is wrong."""
    from conformance.reports.json import REPORT_FORMAT, validate_report

    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReportError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportError(f"{path}: cannot read it ({exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportError(f"{path}: not JSON ({exc})") from None
    if not isinstance(data, dict) or "format" not in data:
        raise ReportError(f"{path}: not a directline-conformance report (no format field)")
    if data["format"] != REPORT_FORMAT:
        raise ReportError(
            f"{path}: report format {data['format']!r} is not {REPORT_FORMAT!r} "
            "(written by another version of the kit?)"
        )
    problems = validate_report(data)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ReportError(f"{path}: invalid report: {problems[0]}{more}")
    seen: set[str] = set()
    for row in data["requirements"]:
        if row["id"] in seen:
            raise ReportError(
                f"{path}: invalid report: requirement {row['id']} is listed twice (which verdict "
                "counts could hide a regression)"
            )
        seen.add(row["id"])
    return data


def compare_reports(base: dict[str, Any], new: dict[str, Any]) -> Comparison:
    """Classify every requirement's verdict change (see the module docstring for the rule)."""
    before = {r["id"]: r for r in base["requirements"]}
    after = {r["id"]: r for r in new["requirements"]}
    result = Comparison(base, new)
    for rid, row in after.items():
        old = before.get(rid)
        if old is None:
            result.added.append(_change(row, None, row["verdict"]))
            continue
        if old["verdict"] == row["verdict"]:
            continue
        change = _change(row, old["verdict"], row["verdict"])
        if row.get("informational") or old.get("informational"):
            result.informational.append(change)
        elif _met(old["verdict"]) and _broken_or_error(row["verdict"]):
            result.regressions.append(change)
        elif _broken_or_error(old["verdict"]) and _met(row["verdict"]):
            result.fixes.append(change)
        else:
            result.changed.append(change)
    result.removed = [
        _change(r, r["verdict"], None) for rid, r in before.items() if rid not in after
    ]
    return result


def render(comparison: Comparison, fmt: str = "text") -> str:
    """The comparison as ``text`` (terminal), ``json`` (machines) or ``markdown`` (PR comments)."""
    if fmt == "json":
        return json.dumps(_as_json(comparison), indent=2, ensure_ascii=False)
    if fmt == "markdown":
        return _as_markdown(comparison)
    return _as_text(comparison)


_SECTIONS = (
    ("regressions", "regressions"),
    ("fixes", "fixes"),
    ("added", "new requirements"),
    ("removed", "removed requirements"),
    ("changed", "other changes"),
    ("informational", "informational changes (never a regression)"),
)


def _change(row: dict[str, Any], base: str | None, new: str | None) -> Change:
    return Change(row["id"], row["level"], row["title"], base, new, _first_line(row["reason"]))


def _arrow(change: Change) -> str:
    return f"{change.base or '(absent)'} -> {change.new or '(absent)'}"


def _headline(c: Comparison) -> str:
    counts = ", ".join(f"{len(getattr(c, key))} {label}" for key, label in _SECTIONS)
    verdict = "REGRESSED (exit 1)" if c.regressions else "no regression (exit 0)"
    return f"{verdict}: {counts}"


def _as_text(c: Comparison) -> str:
    lines = [f"base: {_run(c.base)}", f"new:  {_run(c.new)}"]
    lines += [f"note: {note}" for note in c.notes()]
    for key, label in _SECTIONS:
        changes: list[Change] = getattr(c, key)
        if not changes:
            continue
        lines.append(f"{label} ({len(changes)}):")
        for ch in changes:
            reason = f": {ch.reason}" if ch.reason and not _met(ch.new) else ""
            lines.append(f"  {ch.id} ({ch.level}) {_arrow(ch)}  {ch.title}{reason}")
    lines.append(_headline(c))
    return "\n".join(lines)


def _as_markdown(c: Comparison) -> str:
    lines = [f"**{_headline(c)}**", ""]
    lines += [f"- base: {_run(c.base)}", f"- new: {_run(c.new)}"]
    lines += [f"- note: {note}" for note in c.notes()]
    for key, label in _SECTIONS:
        changes: list[Change] = getattr(c, key)
        if not changes:
            continue
        lines += ["", f"### {label} ({len(changes)})", "", "| ID | level | change | title |"]
        lines.append("|---|---|---|---|")
        lines += [f"| {ch.id} | {ch.level} | {_arrow(ch)} | {_cell(ch.title)} |" for ch in changes]
    return "\n".join(lines)


def _as_json(c: Comparison) -> dict[str, Any]:
    return {
        "regressed": bool(c.regressions),
        "exit_status": c.exit_status,
        "notes": c.notes(),
        **{
            key: [
                {
                    "id": ch.id,
                    "level": ch.level,
                    "title": ch.title,
                    "base": ch.base,
                    "new": ch.new,
                    "reason": ch.reason,
                }
                for ch in getattr(c, key)
            ]
            for key, _ in _SECTIONS
        },
    }


def _run(report: dict[str, Any]) -> str:
    return (
        f"{report['started']} {report['target']['url']} (profile {report['profile']['name']}, "
        f"kit {report['kit_version']})"
    )


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= 160 else line[:160] + "..."
