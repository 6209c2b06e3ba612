"""Clocks: the tests that wait out one protocol timing start their conversations together.

A timing test waits out a token's lifetime or a stream URL's connect window, counted from the
start of a conversation of its own. Run one after another (in one process, or as one group on
one worker) four token tests would wait four lifetimes; started together, they wait one. So
the timing tests that wait out the same timing (the ``wait`` of their ``cost`` marker) share a
clock: the first of them to ask starts the conversation of every one of them still to run in
this process, each with that test's own client (its evidence, its meter, its budget), and each
test then takes its own and acts at its own instant.

The tests of a clock run in source order, which is the order they first act in (a clock's
module keeps them so). A test that comes to its conversation too late for its first act (the
order was changed: a plugin shuffled the tests, another timing test of the clock ran long)
starts a fresh one instead of judging at the wrong instant; the plan audit then shows the
extra start.

A clock starts nothing ahead when its timing is not declared by the profile (the tests learn it
from the answer, and may find it longer than max_wait), for a test that will not run (not
applicable, or a wait past max_wait), or when pytest-xdist spreads tests by a scheduler that
may give a clock's tests to several workers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from conformance.plugin.markers import NOT_APPLICABLE

if TYPE_CHECKING:
    from conformance.client import DirectLineClient, TimedStart

__all__ = ["Clocks", "clock_of"]

#: The marker keyword that names the timing a slow test waits out.
WAIT_KEYWORD = "wait"


def clock_of(item: pytest.Item) -> str | None:
    """The timing a slow test waits out (its clock), None for any other test."""
    if item.get_closest_marker("slow") is None:
        return None
    mark = item.get_closest_marker("cost")
    timing = mark.kwargs.get(WAIT_KEYWORD) if mark is not None else None
    return str(timing) if timing else None


def _will_run(item: pytest.Item) -> bool:
    skip = item.get_closest_marker("skip")
    return skip is None or not str(skip.kwargs.get("reason", "")).startswith(NOT_APPLICABLE)


class Clocks:
    """The conversations started ahead for the timing tests of this process, by node id."""

    def __init__(
        self,
        make_client: Callable[[pytest.Item], DirectLineClient],
        declared_wait: Callable[[pytest.Item], float],
        *,
        timings_declared: Callable[[str], bool],
        max_wait: float,
        shared: bool,
    ) -> None:
        """``make_client(item)``: a client recording into ``item``'s evidence and meter;
        ``declared_wait(item)``: the seconds its cost marker says it waits;
        ``timings_declared(name)``: whether the profile gives that timing; ``shared``: whether
        this process runs every test of a clock (no scheduler splits them)."""
        self._make_client = make_client
        self._declared_wait = declared_wait
        self._timings_declared = timings_declared
        self._max_wait = max_wait
        self._shared = shared
        self._ahead: dict[str, TimedStart | Exception] = {}

    def start(
        self, item: pytest.Item, client: DirectLineClient, latest: float | None = None
    ) -> TimedStart:
        """``item``'s conversation with the instants around its start: the one started ahead
        for it when that one is still young enough (its age at most ``latest`` seconds, None:
        any age), else a new one, with those of the clock's later tests started right after."""
        ahead = self._ahead.pop(item.nodeid, None)
        if isinstance(ahead, Exception):
            raise ahead  # what its start answer called for, raised in its own test
        if ahead is not None and (latest is None or time.monotonic() - ahead.after <= latest):
            return ahead
        own = client.timed_conversation()
        if ahead is None:
            self._start_ahead(item)
        return own

    def _start_ahead(self, item: pytest.Item) -> None:
        clock = clock_of(item)
        if not self._shared or clock is None or not self._timings_declared(clock):
            return
        items = item.session.items
        later = items[items.index(item) + 1 :] if item in items else []
        for other in later:
            if (
                clock_of(other) != clock
                or other.nodeid in self._ahead
                or not _will_run(other)
                or self._declared_wait(other) > self._max_wait
            ):
                continue
            with self._make_client(other) as client:
                try:
                    self._ahead[other.nodeid] = client.timed_conversation()
                except Exception as exc:  # raised again in its own test
                    self._ahead[other.nodeid] = exc
