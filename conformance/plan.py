"""The run's plan: what the selected tests will cost the target, known before the first request.

Every suite test declares what it sends at most with ``@pytest.mark.cost(...)``: conversations it
creates, requests (polls apart), WebSocket streams, activities that reach the bot, and polling
waits. A polling wait costs at most :func:`polls_per_wait` requests (polls back off to the
profile's ``poll_interval`` within its ``delivery_timeout``). Hypothesis tests declare the cost
of one example (``per_example=True``): the plan multiplies it by the examples of the run's fuzz
level. The kit's own tests run the whole suite and check that no test sends more than it declares
(tests/test_plan.py), so the plan is an upper bound, not a hope.

The plan is computed at collection (by the one process, or by each pytest-xdist worker, which
all collect the same tests), printed in the header, and checked against the profile's limits:
a run that does not fit stops before its first request, with exit status 2 and the numbers.
Because the figures come from the selection alone, scheduling can never change what runs.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from conformance.profile import Profile, Timings

__all__ = [
    "COST_MARKER",
    "FUZZ_LEVELS",
    "HISTORY_PAGES",
    "Cost",
    "FuzzLevel",
    "Plan",
    "PlannedTest",
    "declared_cost",
    "poll_delays",
    "polls_per_wait",
]

COST_MARKER = "cost"
#: The first pause between two polls; pauses double up to the profile's poll_interval.
FIRST_POLL_DELAY = 0.05
#: Seconds the default deadline adds to the plan's own estimate (start-up, slow answers).
DEADLINE_SLACK = 120.0
#: Pages one read of a whole history fetches at most (the last one empty): a service pages its
#: answers, and a conversation of a few dozen activities fits in a few pages of any size.
HISTORY_PAGES = 4


@dataclass(frozen=True)
class Cost:
    """What a test (or one Hypothesis example of it) sends at most."""

    #: Conversations created (a start or a tokens/generate answered 2xx).
    conversations: int = 0
    #: HTTP requests and stream handshakes, the polls of its waits apart.
    requests: int = 0
    #: WebSocket streams opened.
    streams: int = 0
    #: Activities that reach the bot: sends and uploads the target accepts.
    activities: int = 0
    #: Polling waits (for a bot reply, an activity to show up), each :func:`polls_per_wait`.
    waits: int = 0
    #: Reads of a whole history, paged by watermark, each :data:`HISTORY_PAGES` requests at most.
    pagings: int = 0

    def __add__(self, other: Cost) -> Cost:
        return Cost(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )

    def times(self, count: int) -> Cost:
        return Cost(**{f.name: getattr(self, f.name) * count for f in fields(self)})

    def widest(self, other: Cost) -> Cost:
        """The larger of each figure of the two costs."""
        return Cost(
            **{f.name: max(getattr(self, f.name), getattr(other, f.name)) for f in fields(self)}
        )

    def within(self, other: Cost) -> bool:
        """Whether every figure of this cost is at most the other's."""
        return all(getattr(self, f.name) <= getattr(other, f.name) for f in fields(self))


def overspent(declared: Cost, measured: Mapping[str, int], polls_per_wait: int) -> list[str]:
    """Where a test sent more than its cost marker declares (``measured``: its Meter's figures),
    e.g. ``["requests 12 > 10"]``; empty when it kept to it. Requests are compared whole (its
    own, its polls and its pages against what the marker's requests, waits and pagings allow):
    a read the marker counts among its requests may be paged. A test that overspends makes
    every plan (and so every budget) a promise the kit cannot keep."""
    sent = {
        "requests": sum(measured.get(name, 0) for name in ("requests", "polls", "pages")),
        "conversations": measured.get("conversations", 0),
        "streams": measured.get("streams", 0),
        "activities": measured.get("activities", 0),
    }
    bounds = {
        "requests": declared.requests
        + declared.waits * polls_per_wait
        + declared.pagings * HISTORY_PAGES,
        "conversations": declared.conversations,
        "streams": declared.streams,
        "activities": declared.activities,
    }
    return [f"{name} {sent[name]} > {most}" for name, most in bounds.items() if sent[name] > most]


@dataclass(frozen=True)
class FuzzLevel:
    """Example counts of one Hypothesis level (``--fuzz``)."""

    name: str
    property_examples: int
    machine_examples: int
    stateful_steps: int
    derandomize: bool


#: ``ci``: many derandomized examples (the same every run: CI results and the mutant runs are
#: reproducible); ``live``: few seeded examples, for a shared service within its limits.
FUZZ_LEVELS: dict[str, FuzzLevel] = {
    "ci": FuzzLevel("ci", 50, 10, 15, derandomize=True),
    "live": FuzzLevel("live", 3, 1, 6, derandomize=False),
}
#: One start: the conversation an example needs (its own at the ci level, the test's at live).
_START = Cost(conversations=1, requests=1)


def declared_cost(declared: dict[str, Any], timings: Timings, level: str) -> tuple[Cost, float]:
    """(the whole cost, the seconds of protocol timing waited) of a test, from the keywords of
    its ``cost`` marker.

    Plain tests give their cost as keywords (``requests=3, waits=1``). Hypothesis tests give
    ``per_example=Cost(...)`` and, for a state machine, ``per_step=Cost(...)``: multiplied out
    by the level's examples (and steps), plus ``explicit`` examples always tried.
    ``example_conversation=True``: each example needs a conversation of its own at the ci
    level; at the live level the examples share the test's one. ``wait`` names the timing a
    slow test waits out (``stream_connect_window``, ``token_lifetime``, ``bot_timeout``).
    ``lane_once=Cost(...)``: what the first test of a lane to need it does once for the whole
    lane (a shared generate): counted with the lane, not with the test.
    """
    base = Cost(**{f.name: int(declared.get(f.name, 0)) for f in fields(Cost)})
    example = declared.get("per_example")
    step = declared.get("per_step")
    if example is not None or step is not None:
        chosen = FUZZ_LEVELS[level]
        count = (chosen.machine_examples if step is not None else chosen.property_examples) + int(
            declared.get("explicit", 0)
        )
        if step is not None:
            # a state machine starts its example (its conversation) before Hypothesis knows
            # whether the run of steps is usable: a discarded one costs too
            count += 1 + count // 10
        one = (example or Cost()) + (step or Cost()).times(chosen.stateful_steps)
        if declared.get("example_conversation"):
            if level == "live":
                base = base + _START
            else:
                one = one + _START
        base = base + one.times(count)
    wait = 0.0
    timing = declared.get("wait")
    if timing:
        value = getattr(timings, timing)
        wait = (timings.max_wait if value is None else float(value)) + min(5.0, (value or 0) / 4)
    return base, wait


def poll_delays(timeout: float, cap: float) -> Iterator[float]:
    """The pauses between polls of a wait of ``timeout`` seconds: 0.05 s, doubling up to
    ``cap`` (the profile's poll_interval), until the wait is over. A wait polls once, then once
    after each pause: fast while an answer is likely, then at the profile's pace."""
    delay = min(FIRST_POLL_DELAY, cap)
    spent = 0.0
    while spent < timeout:
        pause = min(delay, timeout - spent)
        yield pause
        spent += pause
        delay = min(delay * 2, cap)


def polls_per_wait(timings: Timings) -> int:
    """The most requests one polling wait sends: one poll, then one after each pause."""
    return 1 + sum(1 for _ in poll_delays(timings.delivery_timeout, timings.poll_interval))


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
        waits = [t.wait for t in self.applicable]
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
