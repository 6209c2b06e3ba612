"""Clocks: the timing tests that wait out one timing start their conversations together
(conformance.plugin.clocks), are scheduled as one group, and are planned as one wait.

The unit tests drive :class:`Clocks` with stand-in tests and clients; the last test runs the
packaged timing tests against the reference server and reads, at the server, the order in
which their requests came.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from conformance.client.wire import Conversation, TimedStart
from conformance.errors import PreconditionFailed
from conformance.evidence import Exchange
from conformance.plugin.clocks import Clocks, clock_of
from conformance.plugin.markers import NOT_APPLICABLE
from conformance.plugin.plan import Plan, PlannedTest
from conformance.plugin.scheduling import TIMING_GROUP, schedule_timing_tests_first
from conformance.reference.app import create_app
from tests.mutants.framework import new_secret, run_suite, server_config

_ids = itertools.count(1)


class StandIn:
    """What Clocks and the scheduler read of a collected test: node id, markers, session."""

    def __init__(self, name: str, *marks: pytest.MarkDecorator) -> None:
        self.nodeid = f"suite.py::{name}"
        self.marks = [mark.mark for mark in marks]
        self.session = SimpleNamespace(items=[])

    def get_closest_marker(self, name: str) -> Any:
        return next((mark for mark in reversed(self.marks) if mark.name == name), None)

    def add_marker(self, mark: pytest.MarkDecorator) -> None:
        self.marks.append(mark.mark)

    def __repr__(self) -> str:
        return self.nodeid


def timing_test(name: str, wait: str = "token_lifetime", **kwargs: Any) -> StandIn:
    return StandIn(name, pytest.mark.slow, pytest.mark.cost(conversations=1, wait=wait, **kwargs))


def plain_test(name: str) -> StandIn:
    return StandIn(name, pytest.mark.cost(requests=1))


def in_one_session(*items: StandIn) -> list[StandIn]:
    for item in items:
        item.session.items = list(items)
    return list(items)


class StandInClient:
    """A client whose every start answers a new conversation (or raises ``fails``)."""

    def __init__(self, started: list[str], owner: str, fails: Exception | None = None) -> None:
        self.started, self.owner, self.fails = started, owner, fails

    def timed_conversation(self) -> TimedStart:
        self.started.append(self.owner)
        if self.fails is not None:
            raise self.fails
        answer = Exchange("POST", "http://127.0.0.1/", [], None, 201, [], b"{}", 0.0, 0.0)
        conversation = Conversation(f"c{next(_ids)}", "token", None, None, answer)
        return TimedStart(conversation, 0.0, _now())

    def __enter__(self) -> StandInClient:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def _now() -> float:
    import time

    return time.monotonic()


def clocks_for(
    started: list[str],
    *,
    shared: bool = True,
    declared: bool = True,
    max_wait: float = 60.0,
    waits: dict[str, float] | None = None,
    fails: dict[str, Exception] | None = None,
) -> Clocks:
    return Clocks(
        lambda item: StandInClient(started, item.nodeid, (fails or {}).get(item.nodeid)),  # type: ignore[arg-type,return-value]
        lambda item: (waits or {}).get(item.nodeid, 10.0),
        timings_declared=lambda name: declared,
        max_wait=max_wait,
        shared=shared,
    )


def own_client(started: list[str], item: StandIn) -> Any:
    return StandInClient(started, item.nodeid)


# -- the clock --------------------------------------------------------------------------------
def test_the_first_test_of_a_clock_starts_the_later_ones_with_its_own() -> None:
    early, other_clock, plain, late, later = items = in_one_session(
        timing_test("early"),
        timing_test("window", wait="stream_connect_window"),
        plain_test("plain"),
        timing_test("late"),
        timing_test("later"),
    )
    started: list[str] = []
    clocks = clocks_for(started)
    first = clocks.start(early, own_client(started, early))  # type: ignore[arg-type]
    assert started == [early.nodeid, late.nodeid, later.nodeid]
    second = clocks.start(late, own_client(started, late))  # type: ignore[arg-type]
    third = clocks.start(later, own_client(started, later), latest=60.0)  # type: ignore[arg-type]
    assert len(started) == 3, "a test started ahead is handed that start, not a new one"
    assert len({first.conversation.id, second.conversation.id, third.conversation.id}) == 3
    assert clock_of(other_clock) == "stream_connect_window" and clock_of(plain) is None
    assert items[0] is early


def test_a_start_too_old_for_the_first_act_is_made_anew() -> None:
    early, late = in_one_session(timing_test("early"), timing_test("late"))
    started: list[str] = []
    clocks = clocks_for(started)
    clocks.start(early, own_client(started, early))  # type: ignore[arg-type]
    ahead = len(started)
    clocks.start(late, own_client(started, late), latest=-1.0)  # type: ignore[arg-type]
    assert started[ahead:] == [late.nodeid]


def test_a_start_that_failed_ahead_fails_in_its_own_test() -> None:
    early, late = in_one_session(timing_test("early"), timing_test("late"))
    refusal = PreconditionFailed("could not start a conversation: 500")
    started: list[str] = []
    clocks = clocks_for(started, fails={late.nodeid: refusal})
    clocks.start(early, own_client(started, early))  # type: ignore[arg-type]
    with pytest.raises(PreconditionFailed) as raised:
        clocks.start(late, own_client(started, late))  # type: ignore[arg-type]
    assert raised.value is refusal


@pytest.mark.parametrize(
    "why",
    ["not shared", "timing not declared", "not applicable", "wait past max_wait", "already run"],
)
def test_nothing_is_started_ahead_for_a_test_that_may_not_get_it(why: str) -> None:
    late = timing_test("late")
    if why == "not applicable":
        late.add_marker(pytest.mark.skip(reason=f"{NOT_APPLICABLE}no tokens"))
    early = timing_test("early")
    order = (late, early) if why == "already run" else (early, late)
    in_one_session(*order)
    started: list[str] = []
    clocks = clocks_for(
        started,
        shared=why != "not shared",
        declared=why != "timing not declared",
        waits={late.nodeid: 120.0} if why == "wait past max_wait" else None,
    )
    clocks.start(early, own_client(started, early))  # type: ignore[arg-type]
    assert started == [early.nodeid]


# -- scheduling and the plan ------------------------------------------------------------------
def test_a_clock_is_one_group_in_module_order_the_longest_clock_first() -> None:
    plain = plain_test("plain")
    window_late = timing_test("window_late", wait="stream_connect_window", before_the_end=True)
    token_late = timing_test("token_late", before_the_end=True)
    window_after = timing_test("window_after", wait="stream_connect_window")
    token_after = timing_test("token_after")
    items: list[Any] = [plain, window_late, token_late, window_after, token_after]
    waits = {window_late: 4.5, window_after: 7.5, token_late: 6.0, token_after: 10.0}
    schedule_timing_tests_first(items, lambda item: waits.get(item, 0.0))
    assert items == [token_late, token_after, window_late, window_after, plain]
    groups = [item.get_closest_marker("xdist_group") for item in items]
    names = [mark.kwargs["name"] if mark else None for mark in groups]
    token, window = f"{TIMING_GROUP}token_lifetime", f"{TIMING_GROUP}stream_connect_window"
    assert names == [token, token, window, window, None]


def test_a_clock_is_planned_as_one_wait_in_one_process() -> None:
    tests = [
        PlannedTest("a", (), wait=6.0, clock="token_lifetime"),
        PlannedTest("b", (), wait=10.0, clock="token_lifetime"),
        PlannedTest("c", (), wait=7.5, clock="stream_connect_window"),
        PlannedTest("d", (), wait=3.0),
    ]
    one = Plan(tests=tuple(tests), polls_per_wait=1, requests_per_second=None, workers=1)
    several = Plan(tests=tuple(tests), polls_per_wait=1, requests_per_second=None, workers=4)
    assert one.minutes * 60 == pytest.approx(10.0 + 7.5 + 3.0)
    assert several.minutes * 60 == pytest.approx(10.0)
    assert Plan.from_json(one.to_json()) == one


# -- the packaged timing tests, at the server -------------------------------------------------
class RequestLog:
    """ASGI middleware: (method, path, the test that sent it) of every request, in order."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.seen: list[tuple[str, str, str]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            headers = dict(scope.get("headers") or [])
            case = headers.get(b"x-dl-conformance-case", b"").decode()
            method = scope.get("method", "WS")
            self.seen.append((method, scope["path"], case.rsplit("::", 1)[-1]))
        await self.app(scope, receive, send)


@pytest.fixture
def timing_run(tmp_path: Path) -> Iterator[tuple[Any, RequestLog]]:
    secret = new_secret()
    log = RequestLog(create_app(server_config(secret)))
    run = run_suite(
        log,
        secret=secret,
        modules=("test_authentication", "test_websocket_stream"),
        workdir=tmp_path,
        marks="slow",
    )
    yield run, log


@pytest.mark.integration
def test_the_packaged_timing_tests_start_each_clock_together(
    timing_run: tuple[Any, RequestLog],
) -> None:
    """In one process, each token test's conversation is started before any of them uses a
    token, and the stream test that connects after the window has its URL before the other
    connects late: one wait per clock. Each start is counted on its own test's meter."""
    run, log = timing_run
    assert run.returncode == 0, run.output[-3000:]
    token_tests = {
        "test_token_accepted_for_its_whole_lifetime",
        "test_refresh_renews_the_lifetime",
        "test_expired_token_answers_403_token_expired",
        "test_expired_token_cannot_be_refreshed",
    }
    token_requests = [
        (method, path, case) for method, path, case in log.seen if case in token_tests
    ]
    starts = [
        i
        for i, (m, p, _) in enumerate(token_requests)
        if m == "POST" and p.endswith("/conversations")
    ]
    assert {token_requests[i][2] for i in starts} == token_tests
    assert starts == list(range(len(token_tests))), token_requests
    late, after = (
        "test_stream_url_connectable_late_in_its_window",
        "test_unused_stream_url_refused_after_its_window",
    )
    after_start = next(i for i, (m, _, c) in enumerate(log.seen) if c == after and m == "POST")
    late_connects = [i for i, (m, _, c) in enumerate(log.seen) if c == late and m == "WS"]
    assert late_connects and after_start < late_connects[-1], log.seen
    assert not run.overspent, run.overspent
