"""How a run's tests are spread over pytest-xdist workers: a lane's tests together, each timing
test alone and first.

A lane's tests share one conversation, started once per worker that runs them: the plan counts
one start per lane, so the lane must run on one worker. Each test that waits out a protocol
timing (the stream window, a token's lifetime) gets a worker of its own, first, so the waits
overlap and a run lasts about its longest wait.

pytest-xdist's own ``--dist loadgroup`` puts the group into the test's node id, which the pytest
this kit runs on no longer lets it do; so the workers write each test's group to the run folder
(``groups.json``) as they collect, and this scheduler reads it. Tests without a group are units
of their own, in collection order (timing tests first: the plugin collects them first).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from xdist.scheduler import LoadScopeScheduling

from conformance.plugin.markers import lane_name

__all__ = ["GROUPS_FILE", "GroupScheduling", "group_lanes", "schedule_timing_tests_first"]

#: The file of the run folder mapping a node id to its group.
GROUPS_FILE = "groups.json"


class GroupScheduling(LoadScopeScheduling):
    """Load scheduling by work units: a group's tests are one unit, every other test its own."""

    def __init__(self, config: Any, log: Any, groups_file: Path) -> None:
        super().__init__(config, log)
        # keep collection order (timing tests first), not the largest units first
        config.option.loadscopereorder = False
        self._groups_file = groups_file
        self._groups: dict[str, str] | None = None
        self._cancelled = False

    def cancel(self) -> None:
        """Send no test at all (the target failed the preflight): the run ends at once."""
        self._cancelled = True

    def schedule(self) -> None:
        if not self._cancelled:
            super().schedule()

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


def schedule_timing_tests_first(items: list[pytest.Item]) -> None:
    """Put the tests that wait out real protocol timings first, each in its own xdist group.

    With ``-n N --dist loadgroup`` every long wait then starts at once on its own worker, so a
    run lasts about its longest wait rather than the sum of them. The order is deterministic,
    as pytest-xdist requires of every worker's collection.
    """
    slow = [item for item in items if item.get_closest_marker("slow")]
    for item in slow:
        item.add_marker(pytest.mark.xdist_group(name=f"timing:{item.nodeid}"))
    items[:] = slow + [item for item in items if not item.get_closest_marker("slow")]
