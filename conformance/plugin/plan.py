"""The run's plan: what the selected tests will cost the target, known before the first request.

Each selected test's cost marker is read into a :class:`PlannedTest` (conformance.config.costs
multiplies out Hypothesis examples and polling waits); the :class:`Plan` adds them up. It is
computed at collection (by the one process, or by each pytest-xdist worker, which all collect
the same tests), printed in the header, and checked against the profile's limits: a run that
does not fit stops before its first request, with exit status 2 and the numbers. Because the
figures come from the selection alone, scheduling can never change what runs. The kit's own
tests run the whole suite and check that no test sends more than it declares.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import pytest

from conformance.config.costs import HISTORY_PAGES, Cost, declared_cost, polls_per_wait
from conformance.config.profile import Profile, Timings
from conformance.plugin.clocks import clock_of
from conformance.plugin.lanes import LANE_LIFETIME
from conformance.plugin.markers import NOT_APPLICABLE, TARGET_FIXTURE, lane_name, requirement_ids

__all__ = ["COST_MARKER", "Plan", "PlannedTest", "declared_wait", "plan_selection"]

COST_MARKER = "cost"
#: Seconds the default deadline adds to the plan's own estimate (start-up, slow answers).
DEADLINE_SLACK = 120.0


def declared_wait(item: pytest.Item, timings: Timings) -> float:
    """Seconds of protocol timing a test's cost marker says it waits out (0: none)."""
    mark = item.get_closest_marker(COST_MARKER)
    return declared_cost(dict(mark.kwargs), timings, "ci")[1] if mark else 0.0


@dataclass(frozen=True)
class PlannedTest:
    """One selected test as the plan sees it."""

    nodeid: str
    requirements: tuple[str, ...]
    #: Why it will not run against this target ("" when it will): a missing feature.
    not_applicable: str = ""
    #: Its whole cost (Hypothesis examples multiplied out); zero when not applicable.
    cost: Cost = field(default_factory=Cost)
    #: Seconds of protocol timing it waits out (slow tests), overlapping other tests.
    wait: float = 0.0
    #: The timing it waits out with the other tests of its clock ("": none), whose waits
    #: overlap even in one process (conformance.plugin.clocks).
    clock: str = ""


@dataclass(frozen=True)
class Plan:
    """The selection's cost, and how it compares with a profile's limits."""

    tests: tuple[PlannedTest, ...]
    #: Requests one polling wait sends at most (from the profile's timings).
    polls_per_wait: int
    requests_per_second: float | None
    #: Worker processes that share the run (1 without pytest-xdist).
    workers: int = 1
    #: Tests without a cost declaration (a suite bug: they make the plan unknown).
    undeclared: tuple[str, ...] = ()
    #: What the run sends besides its tests (the preflight).
    overhead: Cost = field(default_factory=Cost)
    #: Whether any test to run uses the target (none: no preflight, no secret needed).
    reaches_target: bool = True

    @classmethod
    def build(
        cls,
        tests: Iterable[PlannedTest],
        profile: Profile,
        *,
        workers: int = 1,
        undeclared: Iterable[str] = (),
        overhead: Cost | None = None,
        reaches_target: bool = True,
    ) -> Plan:
        return cls(
            tests=tuple(tests),
            polls_per_wait=polls_per_wait(profile.timings),
            requests_per_second=profile.limits.requests_per_second,
            workers=max(1, workers),
            undeclared=tuple(undeclared),
            overhead=overhead or Cost(),
            reaches_target=reaches_target,
        )

    # -- figures ----------------------------------------------------------------------------
    @property
    def applicable(self) -> list[PlannedTest]:
        return [t for t in self.tests if not t.not_applicable]

    @property
    def total(self) -> Cost:
        total = self.overhead
        for test in self.applicable:
            total = total + test.cost
        return total

    @property
    def requests(self) -> int:
        """Requests at most, every wait's polls and every paged read's pages included."""
        total = self.total
        return total.requests + total.waits * self.polls_per_wait + total.pagings * HISTORY_PAGES

    @property
    def longest_wait(self) -> float:
        return max((t.wait for t in self.applicable), default=0.0)

    @property
    def minutes(self) -> float:
        """About how long the run takes: its requests at the profile's rate (every worker
        shares one rate), or its timing waits when they take longer (they overlap on several
        workers, and add up in one process)."""
        spans: dict[str, float] = {}  # a clock's tests wait out one span together
        for test in self.applicable:
            key = test.clock or test.nodeid
            spans[key] = max(spans.get(key, 0.0), test.wait)
        waits = spans.values()
        timing = max(waits, default=0.0) if self.workers > 1 else sum(waits)
        paced = self.requests / self.requests_per_second if self.requests_per_second else 0.0
        return max(paced, timing) / 60.0

    def deadline(self, timings: Timings) -> float:
        """Seconds the run may take: the profile's ``deadline``, else twice the estimate plus
        the longest single wait and some slack."""
        if timings.deadline is not None:
            return timings.deadline
        return math.ceil(2 * self.minutes * 60 + timings.max_wait + DEADLINE_SLACK)

    # -- judgement ----------------------------------------------------------------------------
    def problems(self, profile: Profile, deadline: float) -> list[str]:
        """What does not fit (empty: the run fits), each with the key or flag that changes it."""
        limits = profile.limits
        total = self.total
        found: list[str] = []
        limited = any(
            value is not None
            for value in (
                limits.conversations,
                limits.requests,
                limits.activities,
                limits.requests_per_second,
            )
        )
        if self.undeclared and limited:
            found.append(
                f"{len(self.undeclared)} selected test(s) declare no cost, so the run cannot be "
                f"planned (first: {self.undeclared[0]})"
            )
        checks = (
            ("conversations", total.conversations, limits.conversations),
            ("requests", self.requests, limits.requests),
            ("activities", total.activities, limits.activities),
        )
        for key, needed, allowed in checks:
            if allowed is not None and needed > allowed:
                found.append(
                    f"needs at most {needed} {_noun(key)}, the profile allows {allowed} "
                    f"([limits] {key} in {profile.source}; or select fewer tests with -k)"
                )
        seconds = self.minutes * 60
        if seconds > deadline:
            found.append(
                f"takes about {seconds / 60:.1f} min at {self.requests_per_second:g} requests/s, "
                f"more than the run's deadline of {deadline / 60:.1f} min "
                "(--deadline, or [timings] deadline in the profile)"
            )
        return found

    def lines(self, profile: Profile, deadline: float) -> list[str]:
        """The plan as the header prints it."""
        total = self.total
        skipped = len(self.tests) - len(self.applicable)
        rate = (
            f"{self.requests_per_second:g} requests/s"
            if self.requests_per_second
            else "no rate limit"
        )
        lines = [
            f"  plan: {len(self.applicable)} tests ({skipped} not applicable): at most "
            f"{total.conversations} conversations, {self.requests} requests "
            f"({total.waits} polling waits of up to {self.polls_per_wait}, {total.pagings} paged "
            f"reads of up to {HISTORY_PAGES}), {total.streams} "
            f"streams, {total.activities} activities to the bot; about {self.minutes:.1f} min at "
            f"{rate}; deadline {deadline / 60:.1f} min",
        ]
        limits = profile.limits
        allowed = [
            f"{value} {_noun(key)}"
            for key, value in (
                ("conversations", limits.conversations),
                ("requests", limits.requests),
                ("activities", limits.activities),
            )
            if value is not None
        ]
        if allowed:
            lines.append(f"  limits of profile {profile.name}: " + ", ".join(allowed))
        return lines

    # -- transport between processes ---------------------------------------------------------
    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Plan:
        data: dict[str, Any] = json.loads(text)
        tests = tuple(
            PlannedTest(
                nodeid=t["nodeid"],
                requirements=tuple(t["requirements"]),
                not_applicable=t["not_applicable"],
                cost=Cost(**t["cost"]),
                wait=t["wait"],
                clock=t.get("clock", ""),
            )
            for t in data["tests"]
        )
        return cls(
            tests=tests,
            polls_per_wait=data["polls_per_wait"],
            requests_per_second=data["requests_per_second"],
            workers=data["workers"],
            undeclared=tuple(data["undeclared"]),
            overhead=Cost(**data["overhead"]),
            reaches_target=bool(data.get("reaches_target", True)),
        )


def _noun(key: str) -> str:
    return "activities sent to the bot" if key == "activities" else key


def plan_selection(
    marked: Sequence[pytest.Item],
    profile: Profile,
    *,
    level: str,
    workers: int,
    embedded: bool,
    deadline: float | None,
) -> Plan:
    """The plan of the selected suite tests (``marked``, with the not-applicable ones already
    marked skipped) at fuzz ``level`` on ``workers`` processes: each test's declared cost, the
    preflight's probes, and each lane's starts (once per half token lifetime within the
    ``deadline``, None: the plan's own)."""
    tests: list[PlannedTest] = []
    undeclared: list[str] = []
    for item in marked:
        skip = item.get_closest_marker("skip")
        reason = str(skip.kwargs.get("reason", "")) if skip else ""
        if reason.startswith(NOT_APPLICABLE):
            reason = reason[len(NOT_APPLICABLE) :]
        mark = item.get_closest_marker(COST_MARKER)
        if mark is None:
            undeclared.append(item.nodeid)
        cost, wait = (
            declared_cost(dict(mark.kwargs), profile.timings, level)
            if mark is not None and not reason
            else (Cost(), 0.0)
        )
        tests.append(
            PlannedTest(
                item.nodeid, requirement_ids(item), reason or "", cost, wait, clock_of(item) or ""
            )
        )
    # the preflight: one start, and one generate where the profile has tokens; none when no
    # test to run uses the target
    reaches = any(
        TARGET_FIXTURE in getattr(item, "fixturenames", ())
        for item, planned in zip(marked, tests, strict=True)
        if not planned.not_applicable
    )
    probes = (
        0
        if embedded or not reaches
        else 1 + (profile.supports("tokens") and profile.supports("auth"))
    )
    overhead = Cost(conversations=probes, requests=probes)
    draft = Plan.build(tests, profile, workers=workers, undeclared=undeclared, overhead=overhead)
    deadline = deadline or draft.deadline(profile.timings)
    lanes: dict[str, tuple[int, Cost]] = {}
    for item, planned in zip(marked, tests, strict=True):
        name = lane_name(item)
        if name is None or planned.not_applicable:
            continue
        count, once = lanes.get(name, (0, Cost()))
        mark = item.get_closest_marker(COST_MARKER)
        extra = mark.kwargs.get("lane_once", Cost()) if mark is not None else Cost()
        lanes[name] = (count + 1, once.widest(extra))
    lifetime = profile.timings.token_lifetime or LANE_LIFETIME
    for count, once in lanes.values():
        # a lane starts again (and does its shared steps again) each time its token is half
        # spent
        starts = min(count, math.ceil(float(deadline) / (lifetime / 2)))
        overhead = overhead + (Cost(conversations=1, requests=1) + once).times(starts)
    return Plan.build(
        tests,
        profile,
        workers=workers,
        undeclared=undeclared,
        overhead=overhead,
        reaches_target=reaches,
    )
