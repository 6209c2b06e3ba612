"""Two runs -> one standing per requirement: what the proxy changes between client and service.

The suite ran against the upstream directly and through the proxy, with one profile and one
seed. Each requirement's two verdicts give its standing:

- ``holds``: met on both sides (a PROXY rule, which only the proxied run judges: met there);
- ``broken-by-proxy``: met upstream, broken through the proxy (a PROXY rule: broken);
- ``inherited``: broken on both sides: the service's fault, passed on, not the proxy's;
- ``fixed-by-proxy``: broken upstream, met through the proxy;
- ``not-judged``: either run could not tell (not-applicable, not-tested, error).

"Met" and "broken" are the verdicts' own (``pass``/``unexpected-pass`` meet a rule,
``fail``/``expected-fail`` break it; see conformance.verdicts.Verdict.standing). Exit status:
2 when either run stopped early or wrote no report, or the proxied run exercised nothing; 1 when
the proxy breaks a requirement that fails a run (MUST, or SHOULD unless ``--fail-on must``; never
a MAY, an informational rule, or one the expectations file lists: ``expected-fail`` through the
proxy); else 2 when a requirement that could fail the run is not judged because of an error on
either side; else 0.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from conformance.verdicts import Verdict

__all__ = [
    "PROXY_AREA",
    "STANDINGS",
    "Row",
    "TwoSided",
    "combine",
]

#: The catalog area only a run through a proxy judges.
PROXY_AREA = "PROXY"
#: The standings, in report order (worst first).
STANDINGS = ("broken-by-proxy", "not-judged", "inherited", "fixed-by-proxy", "holds")


def _standing(verdict: str | None) -> str:
    """The verdict's own standing (met, broke, unknown); a missing or unknown verdict: unknown."""
    try:
        return Verdict(verdict).standing
    except ValueError:
        return "unknown"


@dataclass(frozen=True)
class Row:
    """One requirement with its verdict on each side and what they make of the proxy."""

    id: str
    level: str
    area: str
    title: str
    page: str
    upstream: str
    proxy: str
    standing: str
    reason: str
    #: Why the rule never fails a run (the expectations file's reason, or "MAY"); "" otherwise.
    informational: str
    upstream_reason: str
    proxy_reason: str

    def fails_run(self, fail_on: str) -> bool:
        """Whether this standing makes the certification fail (exit 1)."""
        levels = ("MUST",) if fail_on == "must" else ("MUST", "SHOULD")
        return (
            self.standing == "broken-by-proxy"
            and self.proxy == "fail"  # an expected-fail is a deviation the user has listed
            and self.level in levels
            and not self.informational
        )

    def undecided(self, fail_on: str) -> bool:
        """Whether an error on either side leaves a rule that could fail the run unjudged."""
        levels = ("MUST",) if fail_on == "must" else ("MUST", "SHOULD")
        return (
            self.standing == "not-judged"
            and Verdict.ERROR.value in (self.upstream, self.proxy)
            and self.level in levels
            and not self.informational
        )


@dataclass(frozen=True)
class TwoSided:
    """The combined verdict of a proxy certification."""

    rows: tuple[Row, ...]
    fail_on: str
    #: Why the certification has no conclusion before any requirement is looked at (a run
    #: that stopped early, a missing report); None when both runs ended normally.
    stopped: str | None = None

    @property
    def counts(self) -> dict[str, int]:
        counted = Counter(row.standing for row in self.rows)
        return {standing: counted.get(standing, 0) for standing in STANDINGS}

    def broken(self) -> list[Row]:
        """The requirements the proxy breaks that fail the certification."""
        return [row for row in self.rows if row.fails_run(self.fail_on)]

    def undecided(self) -> list[Row]:
        return [row for row in self.rows if row.undecided(self.fail_on)]

    @property
    def exercised(self) -> bool:
        return any(_standing(row.proxy) != "unknown" for row in self.rows)

    @property
    def exit_status(self) -> int:
        if self.stopped:
            return 2
        if self.broken():
            return 1
        if not self.exercised or self.undecided():
            return 2
        return 0

    @property
    def conclusion(self) -> str:
        code = self.exit_status
        if self.stopped:
            return f"no conclusion: {self.stopped} (exit 2)"
        if code == 1:
            broken = self.broken()
            return (
                f"the proxy BREAKS {len(broken)} requirement(s) the upstream meets: "
                f"{', '.join(row.id for row in broken)} (exit 1)"
            )
        if not self.exercised:
            return "no requirement was exercised through the proxy: this proves nothing (exit 2)"
        if code == 2:
            undecided = self.undecided()
            return (
                f"errors left {len(undecided)} requirement(s) unjudged: "
                f"{', '.join(row.id for row in undecided[:10])} (exit 2)"
            )
        inherited, spared = self.counts["inherited"], self.counts["broken-by-proxy"]
        tail = f"; {inherited} inherited from the upstream" if inherited else ""
        if spared:
            tail += f"; {spared} broken by it that fail no run (MAY, informational or listed)"
            return f"the proxy keeps every requirement that fails a run{tail} (exit 0)"
        return f"the proxy keeps every requirement the upstream meets{tail} (exit 0)"


def _informational(row: Mapping[str, Any]) -> str:
    if row.get("informational"):
        return str(row["informational"])
    return "MAY" if row.get("level") == "MAY" else ""


def combine(
    upstream: Mapping[str, Any],
    proxy: Mapping[str, Any],
    *,
    fail_on: str = "should",
) -> TwoSided:
    """The two report.json documents (upstream first) -> the combined verdict."""
    theirs = {row["id"]: row for row in upstream.get("requirements", [])}
    stopped = [
        f"the {side} run stopped early ({report['stopped']})"
        for side, report in (("upstream", upstream), ("proxied", proxy))
        if report.get("stopped")
    ]
    rows = []
    for mine in proxy.get("requirements", []):
        other: Mapping[str, Any] = theirs.get(mine["id"], {})
        rows.append(_row(mine, other))
    return TwoSided(tuple(rows), fail_on, "; ".join(stopped) or None)


def _row(mine: Mapping[str, Any], other: Mapping[str, Any]) -> Row:
    up_verdict = str(other.get("verdict", "not-tested"))
    up_reason = str(other.get("reason", "")) if other else "not in the upstream run's report"
    verdict, reason = str(mine["verdict"]), str(mine.get("reason", ""))
    up, through = _standing(up_verdict), _standing(verdict)
    if mine["area"] == PROXY_AREA:
        standing = {"met": "holds", "broke": "broken-by-proxy"}.get(through, "not-judged")
        shown = reason
    elif up == "met" and through == "met":
        standing, shown = "holds", ""
    elif up == "met" and through == "broke":
        standing, shown = "broken-by-proxy", reason
    elif up == "broke" and through == "broke":
        standing, shown = "inherited", f"fails upstream too: {up_reason}"
    elif up == "broke" and through == "met":
        standing, shown = "fixed-by-proxy", f"fails upstream: {up_reason}"
    else:
        standing = "not-judged"
        shown = _unjudged(up_verdict, up_reason, verdict, reason)
    return Row(
        id=str(mine["id"]),
        level=str(mine["level"]),
        area=str(mine["area"]),
        title=str(mine["title"]),
        page=str(mine.get("page", "")),
        upstream=up_verdict if mine["area"] != PROXY_AREA else "not-applicable",
        proxy=verdict,
        standing=standing,
        reason=shown,
        informational=_informational(mine),
        upstream_reason=up_reason if mine["area"] != PROXY_AREA else "judged through a proxy only",
        proxy_reason=reason,
    )


def _unjudged(up_verdict: str, up_reason: str, verdict: str, reason: str) -> str:
    parts: Sequence[str] = [
        f"upstream {up_verdict}" + (f": {up_reason}" if up_reason else ""),
        f"through the proxy {verdict}" + (f": {reason}" if reason else ""),
    ]
    return "; ".join(parts)
