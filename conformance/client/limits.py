"""The run's limits, shared by every client of every process: pace, budget, and when to stop.

One :class:`RunGovernor` per process governs every request the run sends. With pytest-xdist the
workers are separate processes, so what must hold for the *whole* run lives in a :class:`Ledger`
file of the run's folder, changed under a file lock: the request rate (one limiter for every
worker, not a share each), the counts of conversations, requests and activities against the
profile's limits, the run of 429 answers that trips the circuit breaker, and the run of
unanswered requests after which the target is declared dead. Without a folder (one process, or
an embedded target with no limits) the ledger lives in memory.

A stop (deadline passed, target dead, circuit breaker) is written once and seen by everyone: the
request under way and every test not yet run end as errors naming the reason, never as verdicts.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.errors import BudgetExhausted, ConfigError, RunStopped

__all__ = [
    "DEAD_AFTER",
    "Allowance",
    "Ledger",
    "Meter",
    "RateLimiter",
    "RunGovernor",
    "SendPacer",
]

#: Unanswered requests among the last DEAD_WINDOW after which the target is declared dead: a
#: target that answers its starts but nothing after them (every other request unanswered) is
#: as dead as one that answers nothing.
DEAD_AFTER = 3
DEAD_WINDOW = 6
#: Seconds a pause sleeps between looks at whether the run has stopped.
PAUSE_SLICE = 0.5


class Ledger:
    """A small JSON state shared by the run's processes (a file under a lock), or by the threads
    of one process (in memory, ``folder=None``)."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self._memory: dict[str, Any] = {}
        self._thread_lock = threading.Lock()
        self._file_lock: Any = None
        if folder is not None:
            from filelock import FileLock

            folder.mkdir(parents=True, exist_ok=True)
            self._file_lock = FileLock(str(folder / "ledger.lock"))

    @property
    def path(self) -> Path | None:
        return None if self.folder is None else self.folder / "ledger.json"

    @contextlib.contextmanager
    def state(self) -> Iterator[dict[str, Any]]:
        """The state, locked for the block; what the block changes is saved."""
        with self._thread_lock:
            if self._file_lock is None:
                yield self._memory
                return
            with self._file_lock:
                path = self.folder / "ledger.json"  # type: ignore[operator]
                try:
                    data = json.loads(path.read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    data = {}
                yield data
                temporary = path.with_suffix(".tmp")
                temporary.write_text(json.dumps(data), encoding="utf-8")
                temporary.replace(path)

    def read(self) -> dict[str, Any]:
        with self.state() as data:
            return dict(data)


class RateLimiter:
    """Requests at least ``1/per_second`` apart, for the whole ledger (every process of the run
    when the ledger is a file). ``None`` means unlimited."""

    def __init__(
        self,
        per_second: float | None,
        ledger: Ledger | None = None,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if per_second is not None and not per_second > 0:
            raise ConfigError(f"requests per second must be more than 0, not {per_second!r}")
        self.per_second = per_second
        self.ledger = ledger if ledger is not None else Ledger(None)
        self._clock = clock
        self._sleep = sleep

    def acquire(self) -> None:
        """Wait (if need be) until the next request may go."""
        if self.per_second is None:
            return
        with self.ledger.state() as data:
            now = self._clock()
            slot = max(now, float(data.get("next_slot", float("-inf"))))
            data["next_slot"] = slot + 1.0 / self.per_second
        if slot > now:
            self._sleep(slot - now)


class SendPacer:
    """Sends to one conversation at most ``per_second`` a second (a conversation belongs to
    one test, so this is per process)."""

    def __init__(
        self,
        per_second: float | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.per_second = per_second
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next: dict[str, float] = {}

    def acquire(self, conversation_id: str) -> None:
        if self.per_second is None:
            return
        with self._lock:
            now = self._clock()
            slot = max(now, self._next.get(conversation_id, float("-inf")))
            self._next[conversation_id] = slot + 1.0 / self.per_second
        if slot > now:
            self._sleep(slot - now)


@dataclass
class Meter:
    """What one test sent, counted as the plan counts it (conformance.config.costs.Cost); retries of
    transient errors and of 429s are counted apart, as they come on top of any plan."""

    requests: int = 0
    conversations: int = 0
    streams: int = 0
    activities: int = 0
    #: Polling waits, and the requests they sent (not in ``requests``).
    waits: int = 0
    polls: int = 0
    #: Paged reads of a whole history, and the pages they fetched (not in ``requests``).
    pagings: int = 0
    pages: int = 0
    retries: int = 0
    #: What starting a lane's shared conversation sent (the plan counts it once per lane).
    lane_requests: int = 0
    lane_conversations: int = 0
    lane_activities: int = 0
    #: True while a polling wait runs: its requests count as polls.
    polling: bool = False
    #: True while a history is read page by page: its requests count as pages.
    paging: bool = False
    #: True while a lane's conversation is started: its cost is the lane's.
    starting_lane: bool = False

    @contextlib.contextmanager
    def for_the_lane(self) -> Iterator[None]:
        """What is sent inside is the lane's cost: counted once per lane (the plan's
        ``lane_once``), not on the test that happened to send it first."""
        self.starting_lane = True
        try:
            yield
        finally:
            self.starting_lane = False

    def count_request(self, *, retry: bool) -> None:
        if retry:
            self.retries += 1
        elif self.starting_lane:
            self.lane_requests += 1
        elif self.polling:
            self.polls += 1
        elif self.paging:
            self.pages += 1
        else:
            self.requests += 1

    def count_conversation(self) -> None:
        if self.starting_lane:
            self.lane_conversations += 1
        else:
            self.conversations += 1

    def count_activity(self) -> None:
        if self.starting_lane:
            self.lane_activities += 1
        else:
            self.activities += 1

    def as_dict(self) -> dict[str, int]:
        return {
            "requests": self.requests,
            "conversations": self.conversations,
            "streams": self.streams,
            "activities": self.activities,
            "waits": self.waits,
            "polls": self.polls,
            "pagings": self.pagings,
            "pages": self.pages,
            "retries": self.retries,
            "lane_requests": self.lane_requests,
            "lane_conversations": self.lane_conversations,
            "lane_activities": self.lane_activities,
        }


@dataclass(frozen=True)
class Allowance:
    """The hard limits of the run (None: unlimited)."""

    conversations: int | None = None
    requests: int | None = None
    activities: int | None = None
    max_throttled: int = 5


class RunGovernor:
    """Every request of the process asks :meth:`admit` first and reports with :meth:`settle`."""

    def __init__(
        self,
        *,
        ledger: Ledger | None = None,
        rate: float | None = None,
        sends_per_conversation: float | None = None,
        allowance: Allowance | None = None,
        deadline: float | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.ledger = ledger if ledger is not None else Ledger(None)
        self.limiter = RateLimiter(rate, self.ledger, clock=clock, sleep=sleep)
        self.pacer = SendPacer(sends_per_conversation, sleep=sleep)
        self.allowance = allowance if allowance is not None else Allowance()
        #: time.time() after which nothing more is sent.
        self.deadline = deadline
        self._clock = clock
        self._sleep = sleep
        self._stop_seen: str | None = None
        #: The file every process of the run looks at: present once the run has stopped.
        self._stop_path = None if self.ledger.folder is None else self.ledger.folder / "stop"

    # -- stopping ---------------------------------------------------------------------------
    def pause(self, seconds: float) -> None:
        """Sleep ``seconds`` (a test waiting out a protocol timing), but end with RunStopped as
        soon as the run stops meanwhile: a dead target or a passed deadline must not keep a
        run waiting out a 65 s stream window."""
        end = self._clock() + seconds
        while True:
            reason = self.stopped()
            if reason is not None:
                raise RunStopped(f"stopped while waiting: {reason}")
            left = end - self._clock()
            if left <= 0:
                return
            self._sleep(min(left, PAUSE_SLICE))

    def stop(self, reason: str) -> None:
        """Stop the run (the first reason given wins)."""
        if self._stop_path is not None:
            with contextlib.suppress(FileExistsError, OSError), open(self._stop_path, "x") as out:
                out.write(reason)
        if self._stop_seen is None:
            self._stop_seen = self.stopped() or reason

    def stopped(self) -> str | None:
        """Why the run stopped, or None while it goes on (the deadline included)."""
        if self._stop_seen is not None:
            return self._stop_seen
        if self._stop_path is not None and self._stop_path.exists():
            with contextlib.suppress(OSError):
                self._stop_seen = self._stop_path.read_text(encoding="utf-8") or "stopped"
                return self._stop_seen
        if self.deadline is not None and self._clock() >= self.deadline:
            self.stop("the run's deadline passed")
            return self._stop_seen
        return None

    def check(self) -> None:
        """Raise RunStopped when the run has stopped."""
        reason = self.stopped()
        if reason is not None:
            raise RunStopped(reason)

    # -- requests ---------------------------------------------------------------------------
    def admit(self, *, creates_conversation: bool = False, send_to: str | None = None) -> None:
        """Before a request: stopped? within the limits? then wait for its turn."""
        self.check()
        allowance = self.allowance
        if allowance.requests is not None or (
            creates_conversation and allowance.conversations is not None
        ):
            with self.ledger.state() as data:
                if allowance.requests is not None and data.get("requests", 0) >= allowance.requests:
                    raise BudgetExhausted(
                        f"the request budget of this run is spent: {allowance.requests} requests "
                        "([limits] requests of the profile)"
                    )
                if (
                    creates_conversation
                    and allowance.conversations is not None
                    and data.get("conversations", 0) >= allowance.conversations
                ):
                    raise BudgetExhausted(
                        f"the conversation budget of this run is spent: "
                        f"{allowance.conversations} conversations ([limits] conversations of "
                        "the profile)"
                    )
        if send_to is not None:
            self.pacer.acquire(send_to)
        self.limiter.acquire()

    def settle(
        self,
        *,
        answered: bool,
        status: int | None = None,
        created_conversation: bool = False,
        reached_bot: bool = False,
    ) -> None:
        """After a request: count it, and stop the run when the target is dead or throttles."""
        throttled_limit = self.allowance.max_throttled
        with self.ledger.state() as data:
            data["requests"] = data.get("requests", 0) + 1
            if created_conversation:
                data["conversations"] = data.get("conversations", 0) + 1
            if reached_bot:
                data["activities"] = data.get("activities", 0) + 1
            recent = [*data.get("recent", []), bool(answered)][-DEAD_WINDOW:]
            data["recent"] = recent
            data["throttled"] = data.get("throttled", 0) + 1 if status == 429 else 0
            unanswered = recent.count(False)
            throttled = data["throttled"]
        if unanswered >= DEAD_AFTER:
            self.stop(
                f"the target is not answering: {unanswered} of the last {len(recent)} requests "
                "got no answer; check that it is up and answering"
            )
        if throttled >= throttled_limit:
            self.stop(
                f"the target throttles the run: {throttled} answers in a row were 429 Too Many "
                "Requests (lower [limits] requests_per_second of the profile, or run later)"
            )

    def counts(self) -> dict[str, int]:
        """Requests, conversations and activities counted so far, for the whole ledger."""
        data = self.ledger.read()
        return {k: int(data.get(k, 0)) for k in ("requests", "conversations", "activities")}
