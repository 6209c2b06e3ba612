"""How a run's tests are spread over pytest-xdist workers: a lane's tests together, each clock's
timing tests together and first.

A lane's tests share one conversation, started once per worker that runs them: the plan counts
one start per lane, so the lane must run on one worker. The timing tests that wait out one
protocol timing (the stream window, a token's lifetime) share a clock (conformance.plugin.clocks:
their conversations are started together, so their waits overlap): a clock's tests run on one
worker of their own, first, so the clocks' waits overlap too and a run lasts about its longest
wait.

pytest-xdist's own ``--dist loadgroup`` puts the group into the test's node id, which the pytest
this kit runs on no longer lets it do; so the workers write each test's group to the run folder
(``groups.json``) as they collect, and this scheduler reads it. Tests without a group are units
of their own, in collection order (timing tests first: the plugin collects them first).

One departure from pytest-xdist's own load scheduling, so a run lasts about its longest wait
and no more: **work starts with the first worker.** pytest-xdist waits until every worker has
collected; on a machine with fewer cores than workers that is seconds, every worker importing
the kit at once. Every worker collects the same suite (each later collection is still checked
against the first), so the first worker to be ready starts the first clock at once.
Behind a clock (a worker holds two units) goes the first unit that is no clock, never the next
clock, whose wait would then start late.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from xdist.scheduler import LoadScopeScheduling

from conformance.plugin.clocks import clock_of
from conformance.plugin.markers import lane_name

__all__ = [
    "GROUPED_DISTS",
    "GROUPS_FILE",
    "GroupScheduling",
    "group_lanes",
    "schedule_timing_tests_first",
]

#: The file of the run folder mapping a node id to its group.
GROUPS_FILE = "groups.json"
#: The group name of a clock's timing tests starts so (one group per clock).
TIMING_GROUP = "timing:"
#: The ``--dist`` modes a conformance run schedules with :class:`GroupScheduling` (the others
#: may give a lane's or a clock's tests to several workers).
GROUPED_DISTS = ("load", "loadgroup", "loadscope", "loadfile")


class GroupScheduling(LoadScopeScheduling):
    """Load scheduling by work units: a group's tests are one unit, every other test its own."""

    def __init__(self, config: Any, log: Any, groups_file: Path) -> None:
        super().__init__(config, log)
        #: The run's collection: the first worker's (pytest-xdist's own attribute, typed here).
        self.collection: list[str] | None = None
        # keep collection order (timing tests first), not the largest units first
        config.option.loadscopereorder = False
        self._groups_file = groups_file
        self._groups: dict[str, str] | None = None
        self._cancelled = False

    def cancel(self) -> None:
        """Send no test at all (the target failed the preflight): the run ends at once."""
        self._cancelled = True

    @property
    def collection_is_completed(self) -> bool:
        """True once one worker has collected: work starts with the first worker ready."""
        return bool(self.registered_collections)

    def schedule(self) -> None:
        """Called when a worker has collected: the first time, the work units are made from
        its collection; each time, every collected worker without work gets its first two
        units, as pytest-xdist gives them (a worker runs a test once it knows the next)."""
        if self._cancelled:
            return
        if self.collection is None:
            self.collection = list(next(iter(self.registered_collections.values())))
            for nodeid in self.collection:
                self.workqueue.setdefault(self._split_scope(nodeid), {})[nodeid] = False
        for node in self.nodes:
            if node in self.registered_collections and not self.assigned_work[node]:
                self._reschedule(node)
                self._reschedule(node)

    def _reschedule(self, node: Any) -> None:
        if node not in self.registered_collections:
            return  # still collecting: it gets work once it has
        assigned = self.assigned_work[node]
        waiting = any(
            scope.startswith(TIMING_GROUP) and not all(unit.values())
            for scope, unit in assigned.items()
        )
        if not waiting:
            super()._reschedule(node)
        elif self._pending_of(assigned) < 2:
            # A worker runs a test once it knows the next one, so a timing test needs a unit
            # behind it; never another timing test (its wait would start a wait late): the
            # first other unit in the queue, as pytest-xdist would give once all had one.
            follower = next((s for s in self.workqueue if not s.startswith(TIMING_GROUP)), None)
            if follower is not None:
                self.workqueue.move_to_end(follower, last=False)
                super()._reschedule(node)
            elif not self.workqueue:
                super()._reschedule(node)  # no more work: it is told to finish
            # else only timing tests are left: they go to other workers, and this one is
            # told to finish (so it runs its test) once the queue is empty, below
        if not self.workqueue:
            for other in self.nodes:
                if other in self.registered_collections and not other.shutting_down:
                    other.shutdown()

    def _split_scope(self, nodeid: str) -> str:
        if self._groups is None and self._groups_file.is_file():
            self._groups = json.loads(self._groups_file.read_text(encoding="utf-8"))
        group = (self._groups or {}).get(nodeid)
        if group is not None:
            return group
        return super()._split_scope(nodeid) if "@" in nodeid else nodeid


def group_lanes(items: list[pytest.Item]) -> None:
    """The tests of a lane run one after another on one pytest-xdist worker, so its
    conversation is started once."""
    for item in items:
        name = lane_name(item)
        if name is not None:
            item.add_marker(pytest.mark.xdist_group(name=f"lane:{name}"))


def schedule_timing_tests_first(
    items: list[pytest.Item], wait_of: Callable[[pytest.Item], float] | None = None
) -> None:
    """Put the tests that wait out real protocol timings first, the tests of each clock in one
    xdist group, the clock with the longest wait first (``wait_of``: a test's declared wait in
    seconds); within a clock, the tests keep their module order, the order they first act in.

    With ``-n N`` every clock then starts at once on its own worker, so a run lasts about its
    longest wait rather than the sum of them; the workers come up one after another, so the
    longest waits go to the first. The order is deterministic, as pytest-xdist requires of
    every worker's collection.
    """
    slow = [item for item in items if item.get_closest_marker("slow")]
    clocks: dict[str, list[pytest.Item]] = {}
    for item in slow:
        clocks.setdefault(clock_of(item) or item.nodeid, []).append(item)
    groups = list(clocks.items())
    if wait_of is not None:
        # stable: clocks of equal waits keep the module order
        groups.sort(key=lambda group: max(map(wait_of, group[1])), reverse=True)
    ordered = [item for _, members in groups for item in members]
    for name, members in groups:
        for item in members:
            item.add_marker(pytest.mark.xdist_group(name=f"{TIMING_GROUP}{name}"))
    items[:] = ordered + [item for item in items if not item.get_closest_marker("slow")]
