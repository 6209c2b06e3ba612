"""The end of a run: every test's outcome folded into the RunRecord the reports and summary read.

A run that stopped early still gets its record: the planned tests that never ran are errors
("not run: the reason"). Each result carries what its cost marker declared and where it sent
more (a kit bug the summary flags); the record adds up what the run really sent.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, replace

from conformance.catalog import Catalog
from conformance.config.costs import overspent
from conformance.config.expectations import Expectations
from conformance.config.profile import Profile
from conformance.plugin.plan import Plan
from conformance.reports.json import public_url
from conformance.verdicts import Outcome, RunRecord, TestResult, compute_verdicts

__all__ = ["EMBEDDED_TARGET", "build_record"]

#: How the record names the target of a run against the embedded reference server.
EMBEDDED_TARGET = "embedded reference server"


def build_record(
    *,
    catalog: Catalog,
    results: Mapping[str, TestResult],
    plan: Plan | None,
    profile: Profile,
    expectations: Expectations,
    expectations_path: str | None,
    target: str | None,
    header: Sequence[str],
    fail_on: str,
    started: float,
    stopped: str | None,
) -> RunRecord:
    """The record of a run. ``target``: the URL given (None: the embedded server), shown
    without credentials in the record and in the ``header`` lines as printed."""
    results = dict(results)
    if stopped and plan is not None:
        for planned in plan.tests:
            if planned.nodeid not in results and not planned.not_applicable:
                results[planned.nodeid] = TestResult(
                    nodeid=planned.nodeid,
                    requirements=planned.requirements,
                    outcome=Outcome.ERROR,
                    message=f"not run: {stopped}",
                )
    if plan is not None:
        results = _audited(results, plan)
    verdicts = compute_verdicts(
        catalog,
        results.values(),
        expectations.expected,
        informational=expectations.informational,
    )
    shown = public_url(target) if target else EMBEDDED_TARGET
    return RunRecord(
        target=shown,
        embedded=not target,
        profile={
            "name": profile.name,
            "source": profile.source,
            "end_of_conversation": profile.end_of_conversation,
            "features": sorted(profile.features),
            "timings": dict(vars(profile.timings)),
        },
        expectations=expectations_path if expectations.listed else None,
        header=tuple(line.replace(target, shown) if target else line for line in header),
        fail_on=fail_on,
        started=started,
        finished=time.time(),
        verdicts=tuple(verdicts),
        results=tuple(results.values()),
        planned=_planned(plan),
        measured=_measured(results.values()) or None,
        stopped=stopped,
    )


def _audited(results: dict[str, TestResult], plan: Plan) -> dict[str, TestResult]:
    """Each test's result with its planned cost, and where it sent more than that."""
    planned = {t.nodeid: t.cost for t in plan.tests}
    audited = {}
    for nodeid, result in results.items():
        declared = planned.get(nodeid)
        if declared is None:
            audited[nodeid] = result
            continue
        # a failing Hypothesis test shrinks and replays its example: only a pass is held to
        # its declaration (the run's governor holds every test to the budget regardless)
        audited_outcome = result.outcome is Outcome.PASSED and result.cost
        over = overspent(declared, result.cost, plan.polls_per_wait) if audited_outcome else []
        audited[nodeid] = replace(result, planned=asdict(declared), overspent=tuple(over))
    return audited


def _measured(results: Iterable[TestResult]) -> dict[str, int]:
    """What the tests sent, added up; ``sent_*``: what reached the target, however the plan
    files it (polls, pages, lane starts)."""
    measured: dict[str, int] = {}
    for result in results:
        for key, value in result.cost.items():
            measured[key] = measured.get(key, 0) + int(value)
    if measured:
        measured["sent_requests"] = sum(
            measured.get(key, 0) for key in ("requests", "polls", "pages", "lane_requests")
        )
        measured["sent_conversations"] = measured.get("conversations", 0) + measured.get(
            "lane_conversations", 0
        )
        measured["sent_activities"] = measured.get("activities", 0) + measured.get(
            "lane_activities", 0
        )
    return measured


def _planned(plan: Plan | None) -> dict[str, float] | None:
    """What the plan allowed for (JSON-able), None when there was no plan."""
    if plan is None:
        return None
    total = plan.total
    return {
        "conversations": total.conversations,
        "requests": plan.requests,
        "streams": total.streams,
        "activities": total.activities,
        "minutes": round(plan.minutes, 2),
    }
