"""The fixtures a suite test uses: the target, its profile, recording clients, conversations.

Every client a fixture makes records each exchange into the test's recorder (the evidence of
its verdict), counts what it sends on the test's meter, and asks the run's governor before each
request. A test in a lane (``@pytest.mark.lane(NAME)``) gets the lane's shared conversation and
start answer instead of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from conformance.config.profile import Profile
from conformance.config.target import Target
from conformance.evidence import Exchange, Recorder
from conformance.plugin.markers import lane_name
from conformance.plugin.session import METER_KEY, RECORDER_KEY, session_of

if TYPE_CHECKING:
    from conformance.client import Conversation, DirectLineClient, TimedStart

__all__ = [
    "dl_client",
    "dl_client_factory",
    "dl_conversation",
    "dl_example_client",
    "dl_fuzz",
    "dl_lane_state",
    "dl_profile",
    "dl_recorder",
    "dl_start_answer",
    "dl_target",
    "dl_timed_start",
]


@pytest.fixture(scope="session")
def dl_target(request: pytest.FixtureRequest) -> Target:
    """The Direct Line endpoint under test (starts the embedded reference server if none given)."""
    return session_of(request.config).ensure_target()


@pytest.fixture(scope="session")
def dl_profile(dl_target: Target) -> Profile:
    """The profile the target is judged by (features, timings, bot triggers)."""
    return dl_target.profile


@pytest.fixture
def dl_recorder(request: pytest.FixtureRequest) -> Recorder:
    """Every exchange of this test, in order: the evidence of its verdict."""
    from conformance.client import Meter

    # a timing test's conversation may have been started ahead (conformance.plugin.clocks):
    # its start is already in the test's evidence and on its meter
    recorder: Recorder = request.node.stash.setdefault(RECORDER_KEY, Recorder())
    request.node.stash.setdefault(METER_KEY, Meter())
    return recorder


@pytest.fixture
def dl_client_factory(
    request: pytest.FixtureRequest, dl_target: Target, dl_recorder: Recorder
) -> Iterator[Callable[[], DirectLineClient]]:
    """Make more clients for this test (several clients of one conversation); all are recorded."""
    session = session_of(request.config)
    clients: list[DirectLineClient] = []

    def make() -> DirectLineClient:
        client = session.make_client(
            dl_target,
            case_id=request.node.nodeid,
            recorder=dl_recorder,
            meter=request.node.stash[METER_KEY],
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def dl_client(dl_client_factory: Callable[[], DirectLineClient]) -> DirectLineClient:
    """A fresh recording client with the target's secret."""
    return dl_client_factory()


@pytest.fixture
def dl_timed_start(
    request: pytest.FixtureRequest, dl_client: DirectLineClient
) -> Callable[[float | None], TimedStart]:
    """For a timing test: ``dl_timed_start(latest)`` is its conversation with the instants
    around its start, started together with those of the other tests of its clock
    (conformance.plugin.clocks); ``latest``: the oldest (seconds since its answer) it may be
    for the test's first act, else it is started anew (None: any age)."""
    clocks = session_of(request.config).clocks

    def start(latest: float | None = None) -> TimedStart:
        return clocks.start(request.node, dl_client, latest)

    return start


@pytest.fixture
def dl_conversation(request: pytest.FixtureRequest, dl_client: DirectLineClient) -> Conversation:
    """A conversation started with the secret: the test's own, or, for a test marked
    ``@pytest.mark.lane(NAME)``, the lane's shared one (precondition: the start gave a usable
    conversation)."""
    name = lane_name(request.node)
    if name is None:
        return dl_client.new_conversation()
    held = session_of(request.config).lane(name, dl_client)
    if held.conversation is None:
        return dl_client.new_conversation()  # raises what the start's answer calls for
    return held.conversation


@pytest.fixture
def dl_lane_state(request: pytest.FixtureRequest, dl_conversation: Conversation) -> dict[str, Any]:
    """What the tests of the lane have done to its conversation so far (a dict they share); a
    fresh dict for a test that is in no lane."""
    name = lane_name(request.node)
    if name is None:
        return {}
    return session_of(request.config).lanes[name].state


@pytest.fixture
def dl_start_answer(request: pytest.FixtureRequest, dl_client: DirectLineClient) -> Exchange:
    """The answer to a start with the secret, as it came: the lane's (for a test marked
    ``@pytest.mark.lane(NAME)``, so several rules are judged from one start), else the test's."""
    name = lane_name(request.node)
    if name is None:
        return dl_client.start_conversation()
    return session_of(request.config).lane(name, dl_client).answer


@pytest.fixture(scope="session")
def dl_example_client(
    request: pytest.FixtureRequest, dl_target: Target
) -> Callable[[pytest.Item], DirectLineClient]:
    """For Hypothesis tests: ``dl_example_client(request.node)`` makes a fresh recording client
    for one example; its recorder replaces the test's, so a failure shows that example's
    exchanges (what every example sent is counted on the test). Close it after the example (it
    is a context manager)."""
    session = session_of(request.config)

    def make(node: pytest.Item) -> DirectLineClient:
        from conformance.client import Meter

        recorder = Recorder()
        node.stash[RECORDER_KEY] = recorder
        meter = node.stash.setdefault(METER_KEY, Meter())
        return session.make_client(dl_target, case_id=node.nodeid, recorder=recorder, meter=meter)

    return make


@pytest.fixture(scope="session")
def dl_fuzz(request: pytest.FixtureRequest, dl_target: Target) -> dict[str, Any]:
    """The fuzz settings of the run: ``level`` (ci or live: --dl-fuzz; default live when the
    profile has limits or the target is not on this machine, else ci), ``seed`` (the live
    level's: --dl-seed, else the profile's; None for ci, which is derandomized), ``database``
    (a directory for Hypothesis's example database, --dl-hypothesis-db; None: in memory only)
    and ``shrink`` (--dl-shrink: whether failing examples are shrunk)."""
    session = session_of(request.config)
    level, seed = session.fuzz_level()
    return {
        "level": level,
        "seed": seed,
        "database": session.settings.get("hypothesis_db"),
        "shrink": session.settings.get("shrink", "yes") == "yes",
    }
