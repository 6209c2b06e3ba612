"""Several clients of one conversation (start page, API reference § Start Conversation).

Every client here reads by polling (one socket per conversation, DL-STREAM-013).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from conformance.client import SECRET, Auth, Conversation, DirectLineClient
from conformance.config.profile import Profile
from conformance.evidence import Exchange
from conformance.suite import expect, steps

requirement = pytest.mark.requirement
cost = pytest.mark.cost
#: The clients of each test share one conversation: each finds its activities by id.
multi_lane = pytest.mark.lane("multi")

#: How many sends DL-MULTI-003 makes at once (the catalog's example sends 20; 6 at once, each
#: from its own client behind one barrier, show the same races at a third of the cost to a live
#: bot's message quota: the mutants of the rule are caught with 6).
CONCURRENT_SENDS = 6


def expect_reads(
    client: DirectLineClient,
    conversation: Conversation,
    auth: Auth,
    wanted: str,
    who: str,
    timeout: float,
) -> None:
    """``client`` (reading with ``auth``) finds the activity ``wanted`` within ``timeout``."""
    seen = steps.wait_for_history(
        client, conversation, lambda acts: wanted in ids(acts), timeout=timeout, auth=auth
    )
    expect.that(
        wanted in ids(seen),
        f"{who} reads the activity {wanted!r}",
        f"it reads {ids(seen)!r}",
        client.recorder.exchanges[-1:],
    )


ids = steps.ids_of


def sender(activity: dict[str, Any] | None) -> Any:
    found = (activity or {}).get("from")
    return found.get("id") if isinstance(found, dict) else None


@multi_lane
@cost(requests=2, activities=2, waits=2)
@requirement("DL-MULTI-001")
def test_secret_and_token_clients_see_each_other(
    dl_client_factory: Callable[[], DirectLineClient],
    dl_conversation: Conversation,
    dl_profile: Profile,
) -> None:
    """Two clients of one conversation, one with the secret and one with the token, see each
    other's activities."""
    with_secret = dl_client_factory()
    with_token = dl_client_factory()
    conversation = dl_conversation
    token = steps.credential(conversation)
    from_secret = steps.send(
        with_secret,
        conversation,
        steps.message(steps.unique_text("from the secret client"), user="dl_conformance_a"),
        auth=SECRET,
        what="sending with the secret",
    )
    from_token = steps.send(
        with_token,
        conversation,
        steps.message(steps.unique_text("from the token client"), user="dl_conformance_b"),
        auth=token,
        what="sending with the token",
    )
    timeout = dl_profile.timings.delivery_timeout
    expect_reads(with_token, conversation, token, from_secret, "the token client", timeout)
    expect_reads(with_secret, conversation, SECRET, from_token, "the secret client", timeout)


@multi_lane
@cost(requests=3, activities=3, pagings=1)
@requirement("DL-MULTI-002")
def test_one_client_speaks_for_several_users(
    dl_client: DirectLineClient, dl_conversation: Conversation
) -> None:
    """One client may send for several users: each activity keeps its own ``from.id``."""
    users = ["dl_conformance_alice", "dl_conformance_bob", "dl_conformance_alice"]
    sent = [
        steps.send(
            dl_client,
            dl_conversation,
            steps.message(steps.unique_text(f"from {user}"), user=user),
            what=f"sending as {user}",
        )
        for user in users
    ]
    by_id = {
        a.get("id"): a
        for a in steps.history(dl_client, dl_conversation, until=steps.has_ids(*sent))
    }
    expect.equal(
        [sender(by_id.get(activity_id)) for activity_id in sent],
        users,
        "from.id of the activities sent for each user, in order",
        dl_client.recorder.exchanges[-4:],
    )


@multi_lane
@cost(requests=CONCURRENT_SENDS, activities=CONCURRENT_SENDS, waits=1, pagings=2)
@requirement("DL-MULTI-003")
def test_concurrent_sends_are_all_recorded_once_in_one_order(
    dl_client_factory: Callable[[], DirectLineClient],
    dl_conversation: Conversation,
    dl_profile: Profile,
) -> None:
    """Concurrent sends to one conversation are all recorded with unique ids, and every reader
    sees them in one order (sends paced per conversation where the profile says so)."""
    owner = dl_client_factory()
    conversation = dl_conversation
    token = steps.credential(conversation)
    senders = [dl_client_factory() for _ in range(CONCURRENT_SENDS)]
    texts = [steps.unique_text(f"concurrent {n}") for n in range(CONCURRENT_SENDS)]
    start = threading.Barrier(CONCURRENT_SENDS, timeout=dl_profile.timings.request_timeout)

    def send(index: int) -> Exchange:
        start.wait()
        return senders[index].post_activity(
            conversation.id, steps.message(texts[index]), auth=token
        )

    with ThreadPoolExecutor(max_workers=CONCURRENT_SENDS) as pool:
        answers = list(pool.map(send, range(CONCURRENT_SENDS)))

    refused = [a for a in answers if a.status is None or not 200 <= a.status < 300]
    expect.that(
        not refused,
        f"all {CONCURRENT_SENDS} concurrent sends accepted (2xx)",
        f"{len(refused)} refused: {sorted({str(a.status) for a in refused})}",
        refused,
    )
    answered = [(a.json_or_none() or {}).get("id") for a in answers]
    expect.that(
        all(isinstance(i, str) and i for i in answered) and len(set(answered)) == len(answered),
        f"{CONCURRENT_SENDS} different ids",
        f"ids {answered!r}",
        answers,
    )
    wanted = set(answered)
    seen = steps.wait_for_history(
        owner,
        conversation,
        lambda acts: wanted <= set(ids(acts)),
        timeout=dl_profile.timings.delivery_timeout,
        auth=token,
    )
    mine = [a for a in seen if a.get("id") in wanted]
    missing = sorted(str(i) for i in wanted - set(ids(mine)))
    expect.that(
        not missing,
        f"all {CONCURRENT_SENDS} activities recorded",
        f"{len(missing)} missing from the history: {missing!r}",
        owner.recorder.exchanges[-1:],
    )
    duplicated = sorted({str(i) for i in ids(mine) if ids(mine).count(i) > 1})
    expect.that(
        not duplicated,
        "each activity recorded once",
        f"recorded more than once: {duplicated!r}",
        owner.recorder.exchanges[-1:],
    )
    expect.equal(
        sorted(a.get("text") for a in mine),
        sorted(texts),
        "the texts recorded under the answered ids",
        owner.recorder.exchanges[-1:],
    )
    other = dl_client_factory()
    orders = {
        "the token client": ids(mine),
        "a second client with the secret": [
            i for i in ids(steps.history(other, conversation, auth=SECRET)) if i in wanted
        ],
        "the token client again": [
            i for i in ids(steps.history(owner, conversation, auth=token)) if i in wanted
        ],
    }
    first = orders["the token client"]
    differing = {reader: order for reader, order in orders.items() if order != first}
    expect.that(
        not differing,
        f"every reader sees the {CONCURRENT_SENDS} activities in one order: {first!r}",
        "; ".join(f"{reader} sees {order!r}" for reader, order in differing.items()),
        owner.recorder.exchanges[-3:],
    )
