"""A Hypothesis state machine over one conversation: send, poll by watermark, read the stream,
reconnect, refresh the token, upload, end. Each run of the machine (an example) has its own
client, recorder and conversation. The first harness error ends the test as an error (see
conformance.suite.fuzzing).

The machine runs at the ci level only: a walk is worth something over many examples, and the one
or two a shared service's budget allows would mostly be Hypothesis's simplest (the same rule,
step after step), judging nothing. Every rule the machine judges has its own test besides.

Rules needing an optional feature are disabled by preconditions read from the profile; a test
judges only the requirements of its marker (the other rules still run, to mix the traffic), so
each test is gated by the plugin on exactly what it judges.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from typing import Any

import pytest

from conformance.client import Auth, DirectLineClient, StreamConnection, UploadFile
from conformance.config.costs import Cost
from conformance.config.profile import Profile
from conformance.errors import HarnessError, PreconditionFailed
from conformance.evidence import Exchange
from conformance.suite import expect, steps
from conformance.suite.fuzzing import Inconclusive, harnessed, run_inconclusive_aware

requirement = pytest.mark.requirement

ExampleClient = Callable[[pytest.Item], DirectLineClient]
#: How long one read of the stream waits for frames.
STREAM_READ = 0.05
#: Polls of one ``drain`` step at most (then the history is read whole, one page and an
#: empty one): with a few steps, one poll holds everything and the next comes back empty.
DRAIN_POLLS = 3
#: One example: a conversation (and its stream); each step sends at most what ``drain`` does,
#: or one activity, or reconnects a stream.
cost = pytest.mark.cost(
    per_example=Cost(conversations=1, requests=2, streams=1),
    per_step=Cost(requests=DRAIN_POLLS + 2, activities=1, streams=1),
)
ci_only = pytest.mark.fuzz_level("ci")


def _run_machine(
    request: pytest.FixtureRequest,
    fuzz: dict[str, Any],
    make_client: ExampleClient,
    profile: Profile,
    judged: Collection[str],
    *,
    stream: bool = False,
    end: bool = False,
) -> None:
    """Run the conversation machine at the run's fuzz level, judging ``judged``."""
    from hypothesis import seed
    from hypothesis import strategies as st
    from hypothesis.stateful import (
        RuleBasedStateMachine,
        get_state_machine_test,
        precondition,
        rule,
    )

    from conformance.suite.strategies import hypothesis_settings, machine_activities

    types = ("message", "event") if profile.fuzz.events else ("message",)
    activities = machine_activities(profile.bot.triggers(), types)
    tokens = profile.supports("tokens")
    uploads = profile.supports("upload")
    reconnects = stream and profile.supports("reconnect")

    class ConversationMachine(RuleBasedStateMachine):
        """One conversation driven by random steps."""

        def __init__(self) -> None:
            super().__init__()
            self.client = make_client(request.node)
            try:
                self.conversation = self.client.new_conversation()
            except HarnessError as error:
                self.client.close()
                raise Inconclusive(error) from None
            self.auth = steps.credential(self.conversation)
            self.renew_at = self._renewal_time(self.conversation.expires_in)
            self.sent: list[str] = []  # ids answered to accepted sends, in order
            self.seen: list[dict[str, Any]] = []  # activities polled by watermark
            self.watermark: str | None = None
            self.ended = False
            self.reconnected = False
            self.streams: list[StreamConnection] = []
            self.stream_watermark: str | None = None
            if stream:
                harnessed(lambda: self.streams.append(self._open(self.conversation.stream_url)))()

        # -- helpers ------------------------------------------------------------------------
        def check(self, rid: str, ok: bool, want: str, saw: str, ex: Sequence[Exchange]) -> None:
            if rid in judged:
                expect.that(ok, want, saw, ex, requirement=rid)

        def _renewal_time(self, expires_in: Any) -> float | None:
            """When a token answered with ``expires_in`` is half spent (None: no token)."""
            if isinstance(self.auth, str) and isinstance(expires_in, int) and expires_in > 0:
                return time.monotonic() + expires_in / 2
            return None

        def credential(self) -> Auth:
            """The token, refreshed once half spent: a long example (slow shrinking against a
            broken server) must not outlive it and turn the verdict into TokenExpired errors."""
            if self.renew_at is not None and time.monotonic() >= self.renew_at:
                self._refresh("keeping the machine's token fresh")
            return self.auth

        def _refresh(self, why: str) -> None:
            answer = self.client.refresh_token(auth=self.auth)
            body = expect.precondition(answer, why)
            if isinstance(body, dict) and isinstance(body.get("token"), str):
                self.auth = body["token"]
                self.renew_at = self._renewal_time(body.get("expires_in"))

        def _open(self, url: str | None) -> StreamConnection:
            if not url:
                raise PreconditionFailed("could not test: no streamUrl to read the stream with")
            return self.client.open_stream(url)

        def _read(self, timeout: float) -> None:
            connection = self.streams[-1]
            while True:
                data = connection.recv_activity_set(timeout)
                if data is None:
                    return
                if isinstance(data.get("watermark"), str):
                    self.stream_watermark = data["watermark"]
                timeout = STREAM_READ

        # -- rules --------------------------------------------------------------------------
        @rule(activity=activities)
        @harnessed
        def send(self, activity: dict[str, Any]) -> None:
            answer = self.client.post_activity(
                self.conversation.id, activity, auth=self.credential()
            )
            if self.ended:
                if profile.end_of_conversation == "refuse":
                    self.check(
                        "DL-EOC-003",
                        answer.status is not None and 400 <= answer.status < 500,
                        "a send after the client's endOfConversation refused with a 4xx",
                        expect.describe_status(answer),
                        [answer],
                    )
                    if "DL-EOC-003" in judged:
                        expect.error_response(answer, requirement="DL-EOC-003")
                    return
                self.check(
                    "DL-EOC-007",
                    answer.status is not None and 200 <= answer.status < 300,
                    "a send after endOfConversation accepted (forward reading)",
                    expect.describe_status(answer),
                    [answer],
                )
            body = expect.precondition(answer, "sending an activity")
            if isinstance(body, dict) and isinstance(body.get("id"), str):
                self.sent.append(body["id"])

        @rule()
        @harnessed
        def poll(self) -> None:
            answer = self.client.get_activities(
                self.conversation.id, auth=self.credential(), watermark=self.watermark
            )
            body = expect.precondition(answer, "polling with the watermark")
            page = body.get("activities") if isinstance(body, dict) else None
            if not isinstance(page, list):
                raise PreconditionFailed("could not test: the poll answer has no activities list")
            known = set(steps.ids_of(self.seen))
            again = [
                i
                for n, i in enumerate(steps.ids_of(page))
                if i in known or i in steps.ids_of(page)[:n]
            ]
            self.check(
                "DL-POLL-005",
                not again,
                f"a poll with watermark {self.watermark!r} returns only activities not yet "
                "delivered",
                f"re-delivered {again!r}",
                [answer],
            )
            new = body.get("watermark")
            self.check(
                "DL-POLL-005",
                not page or new is None or new != self.watermark,
                "the watermark moves forward when activities come",
                f"watermark stayed {new!r} after {len(page)} activities",
                [answer],
            )
            self.seen.extend(a for a in page if isinstance(a, dict))
            if isinstance(new, str):
                self.watermark = new

        @rule()
        @harnessed
        def drain(self) -> None:
            """Poll until a page is empty, then compare what came with the whole history."""
            for _ in range(DRAIN_POLLS):
                before = len(self.seen)
                self.poll()
                if len(self.seen) == before:
                    break
            history = steps.history(self.client, self.conversation, auth=self.credential())
            shown = self.client.recorder.exchanges[-6:]
            full = steps.ids_of(history)
            seen = steps.ids_of(self.seen)
            reached = max((full.index(i) for i in seen if i in full), default=-1)
            lost = [i for i in full[: reached + 1] if i not in seen]
            lost += [i for i in self.sent if i in full and i not in seen and i not in lost]
            self.check(
                "DL-POLL-006",
                not lost,
                "paging by the watermark returns every recorded activity",
                f"never returned: {lost!r}",
                shown,
            )
            first = list(dict.fromkeys(i for i in seen if i in full))
            self.check(
                "DL-POLL-007",
                first == [i for i in full if i in first],
                "polled activities in record order",
                f"polled {first!r}; recorded {full!r}",
                shown,
            )
            if stream:
                self._judge_stream(history)

        def _judge_stream(self, history: list[dict[str, Any]]) -> None:
            full = steps.ids_of(history)
            deadline = time.monotonic() + profile.timings.delivery_timeout
            while time.monotonic() < deadline and not set(full) <= {
                i for c in self.streams for i in steps.ids_of(c.activities)
            }:
                self._read(STREAM_READ)
            for connection in self.streams:
                got = steps.ids_of(connection.activities)
                twice = sorted({str(i) for i in got if got.count(i) > 1})
                self.check(
                    "DL-STREAM-007",
                    not twice,
                    "no activity delivered twice on one stream",
                    f"delivered twice: {twice!r}",
                    [connection.exchange],
                )
                recorded = [i for i in got if i in full]
                self.check(
                    "DL-STREAM-007",
                    recorded == [i for i in full if i in recorded],
                    "stream order is record order",
                    f"stream {recorded!r}; recorded {full!r}",
                    [connection.exchange],
                )
            if self.reconnected:
                got_any = {i for c in self.streams for i in steps.ids_of(c.activities)}
                lost = [i for i in full if i not in got_any]
                self.check(
                    "DL-RECON-003",
                    not lost,
                    "streams reconnected with the watermark deliver every activity",
                    f"never delivered on any stream: {lost!r}",
                    [c.exchange for c in self.streams],
                )

        @precondition(lambda self: stream)
        @rule()
        @harnessed
        def read_stream(self) -> None:
            self._read(STREAM_READ)

        @precondition(lambda self: reconnects)
        @rule()
        @harnessed
        def reconnect(self) -> None:
            """Drop the stream as a network failure would, frames still unread, and resume from
            the last watermark it delivered: what was unread must come again on the new stream.

            With no watermark in hand yet a reconnect would stream from now (nothing for
            DL-RECON-003 to judge), so the step then only reads. (Preconditions must not hang on
            what the network did, or Hypothesis cannot replay an example.)"""
            if self.stream_watermark is None:
                self._read(STREAM_READ)
                return
            self.streams[-1].close()
            answer = self.client.reconnect(
                self.conversation.id, auth=self.credential(), watermark=self.stream_watermark
            )
            body = expect.precondition(answer, "reconnecting")
            url = body.get("streamUrl") if isinstance(body, dict) else None
            self.streams.append(self._open(url if isinstance(url, str) else None))
            self.reconnected = True

        @precondition(lambda self: tokens and bool(self.conversation.token))
        @rule()
        @harnessed
        def refresh(self) -> None:
            self._refresh("refreshing the token")

        @precondition(lambda self: uploads and not self.ended)
        @rule(content=st.binary(min_size=1, max_size=64))
        @harnessed
        def upload(self, content: bytes) -> None:
            answer = self.client.upload(
                self.conversation.id,
                [UploadFile("fuzz.bin", content)],
                user_id=steps.USER_ID,
                single=True,
                auth=self.credential(),
            )
            body = expect.precondition(answer, "uploading a file")
            if isinstance(body, dict) and isinstance(body.get("id"), str):
                self.sent.append(body["id"])

        @precondition(lambda self: end and not self.ended)
        @rule()
        @harnessed
        def end_conversation(self) -> None:
            answer = self.client.post_activity(
                self.conversation.id,
                {"type": "endOfConversation", "from": {"id": steps.USER_ID}},
                auth=self.credential(),
            )
            body = expect.precondition(answer, "sending endOfConversation")
            if isinstance(body, dict) and isinstance(body.get("id"), str):
                self.sent.append(body["id"])
            self.ended = True

        def teardown(self) -> None:
            self.client.close()

    settings = hypothesis_settings(
        fuzz["level"], machine=True, database=fuzz["database"], shrink=fuzz["shrink"]
    )
    machine_test = get_state_machine_test(ConversationMachine, settings=settings)
    if fuzz["seed"] is not None:
        machine_test = seed(fuzz["seed"])(machine_test)
    run_inconclusive_aware(machine_test)


@ci_only
@cost
@requirement("DL-POLL-005", "DL-POLL-006", "DL-POLL-007")
def test_machine_polling_loses_nothing_and_repeats_nothing(
    request: pytest.FixtureRequest,
    dl_fuzz: dict[str, Any],
    dl_example_client: ExampleClient,
    dl_profile: Profile,
) -> None:
    """Across random sends, uploads, refreshes and polls, paging by watermark returns every
    recorded activity once, in record order, and the watermark moves forward."""
    judged = {"DL-POLL-005", "DL-POLL-006", "DL-POLL-007"}
    _run_machine(request, dl_fuzz, dl_example_client, dl_profile, judged)


@ci_only
@cost
@requirement("DL-STREAM-007", "DL-RECON-003")
def test_machine_streams_deliver_once_in_order_across_reconnects(
    request: pytest.FixtureRequest,
    dl_fuzz: dict[str, Any],
    dl_example_client: ExampleClient,
    dl_profile: Profile,
) -> None:
    """Across random steps, each stream delivers every activity at most once in record order,
    and streams reconnected with the watermark lose nothing."""
    judged = {"DL-STREAM-007", "DL-RECON-003"}
    _run_machine(request, dl_fuzz, dl_example_client, dl_profile, judged, stream=True)


@ci_only
@cost
@requirement("DL-EOC-003")
def test_machine_sends_after_end_are_refused(
    request: pytest.FixtureRequest,
    dl_fuzz: dict[str, Any],
    dl_example_client: ExampleClient,
    dl_profile: Profile,
) -> None:
    """At whatever point the client ends the conversation, its later sends are refused with a
    4xx and an ErrorResponse."""
    _run_machine(request, dl_fuzz, dl_example_client, dl_profile, {"DL-EOC-003"}, end=True)


@ci_only
@cost
@requirement("DL-EOC-007")
def test_machine_sends_after_end_are_accepted_when_forwarded(
    request: pytest.FixtureRequest,
    dl_fuzz: dict[str, Any],
    dl_example_client: ExampleClient,
    dl_profile: Profile,
) -> None:
    """Under the forward reading, sends after the client's endOfConversation are accepted."""
    _run_machine(request, dl_fuzz, dl_example_client, dl_profile, {"DL-EOC-007"}, end=True)
