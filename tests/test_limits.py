"""The run's limits (conformance.client.limits): one ledger for every process of a run, the
rate, the budgets, per-conversation pacing, and the stops (deadline, dead target, 429s)."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from conformance.client import Allowance, Ledger, Meter, RateLimiter, RunGovernor
from conformance.client.limits import DEAD_AFTER, DEAD_WINDOW, SendPacer
from conformance.errors import BudgetExhausted, ConfigError, RunStopped


class FakeTime:
    """A clock that only moves when someone sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _count_in(folder: str, times: int) -> None:
    ledger = Ledger(Path(folder))
    for _ in range(times):
        with ledger.state() as data:
            data["n"] = data.get("n", 0) + 1


def test_a_file_ledger_is_one_state_for_several_processes(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_count_in, args=(str(tmp_path), 50)) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    assert Ledger(tmp_path).read()["n"] == 150


def test_the_rate_is_one_for_the_whole_run_not_a_share_per_worker(tmp_path: Path) -> None:
    """Two workers (two limiters on one run folder) take turns: every request 0.5 s apart."""
    time = FakeTime()
    first = RateLimiter(2.0, Ledger(tmp_path), clock=time.clock, sleep=time.sleep)
    second = RateLimiter(2.0, Ledger(tmp_path), clock=time.clock, sleep=time.sleep)
    first.acquire()
    second.acquire()
    first.acquire()
    assert time.sleeps == [0.5, 0.5]
    time.now += 10  # idle time does not bank a burst
    second.acquire()
    first.acquire()
    assert time.sleeps == [0.5, 0.5, 0.5]


def test_unlimited_rate_never_sleeps() -> None:
    time = FakeTime()
    limiter = RateLimiter(None, clock=time.clock, sleep=time.sleep)
    for _ in range(5):
        limiter.acquire()
    assert time.sleeps == []
    with pytest.raises(ConfigError):
        RateLimiter(0)


def test_sends_are_paced_per_conversation() -> None:
    time = FakeTime()
    pacer = SendPacer(0.5, clock=time.clock, sleep=time.sleep)
    pacer.acquire("a")
    pacer.acquire("b")  # another conversation: no wait
    pacer.acquire("a")
    assert time.sleeps == [2.0]


def test_budgets_are_enforced_for_the_whole_ledger(tmp_path: Path) -> None:
    allowance = Allowance(conversations=1, requests=3)
    one = RunGovernor(ledger=Ledger(tmp_path), allowance=allowance)
    two = RunGovernor(ledger=Ledger(tmp_path), allowance=allowance)
    one.admit(creates_conversation=True)
    one.settle(answered=True, status=201, created_conversation=True)
    with pytest.raises(BudgetExhausted, match="1 conversations"):
        two.admit(creates_conversation=True)
    two.admit()
    two.settle(answered=True, status=200)
    one.admit()
    one.settle(answered=True, status=200, reached_bot=True)
    with pytest.raises(BudgetExhausted, match="3 requests"):
        two.admit()
    assert one.counts() == {"requests": 3, "conversations": 1, "activities": 1}


def test_a_target_that_stops_answering_is_declared_dead_once_for_everyone(tmp_path: Path) -> None:
    """Dead: 3 of the last 6 requests unanswered, whoever sent them; answered starts in
    between (a target that answers its starts and nothing else) do not keep it alive."""
    one = RunGovernor(ledger=Ledger(tmp_path))
    two = RunGovernor(ledger=Ledger(tmp_path))
    for _ in range(DEAD_AFTER - 1):
        one.settle(answered=False)
        two.settle(answered=True, status=201)
    assert one.stopped() is None
    for _ in range(DEAD_WINDOW):
        one.settle(answered=True, status=200)  # a slow answer long ago is forgotten
    one.settle(answered=False)
    two.settle(answered=True, status=201)
    one.settle(answered=False)
    assert one.stopped() is None
    two.settle(answered=False)
    assert "3 of the last 6 requests got no answer" in (two.stopped() or "")
    with pytest.raises(RunStopped, match="not answering"):
        one.admit()


def test_repeated_429s_trip_the_circuit_breaker(tmp_path: Path) -> None:
    governor = RunGovernor(ledger=Ledger(tmp_path), allowance=Allowance(max_throttled=3))
    governor.settle(answered=True, status=429)
    governor.settle(answered=True, status=429)
    governor.settle(answered=True, status=200)
    assert governor.stopped() is None
    for _ in range(3):
        governor.settle(answered=True, status=429)
    reason = governor.stopped() or ""
    assert "429" in reason and "requests_per_second" in reason


def test_the_deadline_stops_the_run_and_the_first_reason_wins(tmp_path: Path) -> None:
    time = FakeTime()
    governor = RunGovernor(ledger=Ledger(tmp_path), deadline=time.now + 5, clock=time.clock)
    governor.admit()
    time.now += 6
    with pytest.raises(RunStopped, match="deadline"):
        governor.admit()
    governor.stop("something later")
    assert "deadline" in (RunGovernor(ledger=Ledger(tmp_path)).stopped() or "")


def test_the_meter_files_each_request_where_the_plan_counts_it() -> None:
    meter = Meter()
    meter.count_request(retry=False)
    meter.polling = True
    meter.count_request(retry=False)
    meter.polling = False
    meter.paging = True
    meter.count_request(retry=False)
    meter.count_request(retry=True)
    meter.paging = False
    meter.starting_lane = True
    meter.count_request(retry=False)
    meter.count_conversation()
    meter.starting_lane = False
    meter.count_conversation()
    counts = meter.as_dict()
    assert (counts["requests"], counts["polls"], counts["pages"], counts["retries"]) == (1, 1, 1, 1)
    assert (counts["lane_requests"], counts["lane_conversations"], counts["conversations"]) == (
        1,
        1,
        1,
    )


def test_a_pause_ends_as_soon_as_another_process_stops_the_run(tmp_path: Path) -> None:
    """A timing test waiting out a 65 s window learns within a slice that the run stopped
    (a dead target seen by another worker) instead of sleeping on."""
    other = RunGovernor(ledger=Ledger(tmp_path))
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) == 2:
            other.stop("the target is not answering")

    pausing = RunGovernor(ledger=Ledger(tmp_path), sleep=sleep)
    with pytest.raises(RunStopped, match="the target is not answering"):
        pausing.pause(65.0)
    assert len(slept) == 2 and max(slept) <= 0.5


def test_a_pause_of_a_run_that_goes_on_sleeps_its_time_in_slices() -> None:
    fake = FakeTime()
    governor = RunGovernor(clock=fake.clock, sleep=fake.sleep)
    governor.pause(1.2)
    assert fake.sleeps == pytest.approx([0.5, 0.5, 0.2])
    governor.pause(0.0)
    assert len(fake.sleeps) == 3
