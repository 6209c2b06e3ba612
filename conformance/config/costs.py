"""What a test may cost the target: the figures of a cost marker, polls and paged reads.

Every suite test declares what it sends at most with ``@pytest.mark.cost(...)``: conversations it
creates, requests (polls apart), WebSocket streams, activities that reach the bot, and polling
waits. A polling wait costs at most :func:`polls_per_wait` requests (polls back off to the
profile's ``poll_interval`` within its ``delivery_timeout``); a read of a whole history at most
:data:`HISTORY_PAGES`. Hypothesis tests declare the cost of one example (``per_example=True``):
:func:`declared_cost` multiplies it by the examples of the run's fuzz level.

The client and the suite's steps poll and page by these same figures, and the plan
(conformance.plugin.plan) adds them up, so what a run declares is an upper bound, not a hope.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from typing import Any

from conformance.config.profile import Timings

__all__ = [
    "FUZZ_LEVELS",
    "HISTORY_PAGES",
    "Cost",
    "FuzzLevel",
    "declared_cost",
    "overspent",
    "poll_delays",
    "polls_per_wait",
]

#: The first pause between two polls; pauses double up to the profile's poll_interval.
FIRST_POLL_DELAY = 0.05
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
    slow test waits out (``stream_connect_window``, ``token_lifetime``, ``bot_timeout``);
    ``before_the_end=True``: it acts a margin before that timing ends, not a margin after.
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
            # whether the run of steps is usable, and Hypothesis discards a run whose draws
            # overrun its buffer after some steps were taken: a discarded one costs too
            # (measured against the reference: up to 5 discarded beside 10 kept examples)
            count += 1 + count // 2
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
        span = timings.max_wait if value is None else float(value)
        margin = min(5.0, (value or 0) / 4)
        # a test that acts near the end of the timing waits up to a margin before it,
        # one that judges what follows it waits a margin past it
        wait = span - margin if declared.get("before_the_end") else span + margin
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
