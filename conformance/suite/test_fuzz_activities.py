"""Property-based tests of sending activities: generated activities (conformance.suite.strategies)
sent to a conversation, judged on the send answer and the recorded copy.

Each property runs its own Hypothesis loop inside the test (the level comes from the run's
settings: ``--dl-fuzz ci|live``, see conformance.suite.fuzzing). Every example gets its own
client and recorder (and, at the ci level, its own conversation), so a failure shows the
exchanges of the shrunk example (with curl lines, secrets redacted) and Hypothesis's falsifying
example and ``@reproduce_failure`` blob. What may be generated comes from the profile's
``[fuzz]`` table (the longest text, whether events may reach the bot).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from conformance.client import DirectLineClient
from conformance.config.costs import Cost
from conformance.config.profile import Profile
from conformance.suite import expect, steps
from conformance.suite.expect import describe_status
from conformance.suite.fuzzing import ExampleConversations, harnessed, run_inconclusive_aware

requirement = pytest.mark.requirement
cost = pytest.mark.cost

ExampleClient = Callable[[pytest.Item], DirectLineClient]
#: The most sends of one example of the unique-ids property.
BATCH = 3
Check = Callable[[DirectLineClient, ExampleConversations, Any], None]

#: Always tried first (Hypothesis explicit examples): the edges every run must cover.
SEED_ACTIVITIES: tuple[dict[str, Any], ...] = (
    {
        "type": "message",
        "from": {"id": "dl_fuzz", "name": "Fuzz"},
        "text": " \U0001f600 " + "long text, " * 1000 + "\u05e9\u05dc\u05d5\u05dd e\u0301\t\n",
        "channelData": {"nested": [1, 2.5, None, True, {"k": "v"}], "": ""},
        "value": ["any", 0],
        "attachments": [{"contentType": "image/png", "contentUrl": "https://example.com/a.png"}],
    },
)


def _triggers(profile: Profile) -> tuple[str, ...]:
    return profile.bot.triggers()


def _types(profile: Profile) -> tuple[str, ...]:
    return ("message", "event") if profile.fuzz.events else ("message",)


def _valid(profile: Profile) -> Any:
    from conformance.suite.strategies import valid_activities

    return valid_activities(
        _triggers(profile), types=_types(profile), max_text=profile.fuzz.max_text
    )


def _fuzz(
    request: pytest.FixtureRequest,
    fuzz: dict[str, Any],
    make_client: ExampleClient,
    strategy: Any,
    check: Check,
    explicit: Sequence[Any] = (),
) -> None:
    """Run ``check(client, conversations, value)`` for the ``explicit`` values, then generated
    ones, each with its own client; the first harness error ends the test as an error."""
    from hypothesis import example as explicit_example
    from hypothesis import given, seed

    from conformance.suite.strategies import hypothesis_settings

    conversations = ExampleConversations(fuzz["level"])

    @hypothesis_settings(fuzz["level"], database=fuzz["database"], shrink=fuzz["shrink"])
    @given(strategy)
    @harnessed
    def example(value: Any) -> None:
        with make_client(request.node) as client:
            check(client, conversations, value)

    for value in explicit:
        example = explicit_example(value)(example)
    if fuzz["seed"] is not None:
        example = seed(fuzz["seed"])(example)
    run_inconclusive_aware(example)


@cost(per_example=Cost(requests=1, activities=1), example_conversation=True)
@requirement("DL-SEND-001", "DL-ERR-004")
def test_generated_activity_is_accepted_with_an_id(
    request: pytest.FixtureRequest,
    dl_fuzz: dict[str, Any],
    dl_example_client: ExampleClient,
    dl_profile: Profile,
) -> None:
    """Any valid generated activity is accepted with a 2xx ResourceResponse id, never a 500."""

    def check(
        client: DirectLineClient, conversations: ExampleConversations, activity: dict[str, Any]
    ) -> None:
        conversation = conversations.get(client)
        answer = client.post_activity(
            conversation.id, activity, auth=steps.credential(conversation)
        )
        expect.that(
            answer.status != 500,
            "a valid activity never draws a 500",
            describe_status(answer),
            [answer],
            requirement="DL-ERR-004",
        )
        expect.status(answer, range(200, 300), requirement="DL-SEND-001", what="a valid send")
        body = expect.json_object(answer, requirement="DL-SEND-001")
        expect.conforms(
            body, "resource-response", [answer], requirement="DL-SEND-001", what="the answer"
        )

    _fuzz(request, dl_fuzz, dl_example_client, _valid(dl_profile), check)


def _same(field: str, sent: dict[str, Any], recorded: dict[str, Any], rid: str, ex: Any) -> None:
    """The recorded ``field`` equals the sent one. Null counts as absent for the field and for
    the members of the schema's own objects in it (an attachment's ``content: null`` may be
    dropped, as the Bot Framework's serializers drop nulls); opaque JSON (channelData, value,
    an attachment's content) must come back exactly."""
    if field in sent:
        wanted, got = sent[field], recorded.get(field)
        if field == "attachments":
            wanted, got = _members_without_nulls(wanted), _members_without_nulls(got)
        expect.equal(got, wanted, field, ex, requirement=rid)


def _members_without_nulls(items: Any) -> Any:
    """A list of objects with their null-valued members left out (other values as they are)."""
    if not isinstance(items, list):
        return items
    return [
        {k: v for k, v in item.items() if v is not None} if isinstance(item, dict) else item
        for item in items
    ]


@cost(per_example=Cost(requests=3, activities=1), example_conversation=True, explicit=1)
@requirement(
    "DL-SEND-003",
    "DL-ACT-001",
    "DL-ACT-004",
    "DL-ACT-005",
    "DL-ACT-006",
    "DL-ACT-007",
    "DL-ACT-009",
)
def test_generated_activity_comes_back_intact(
    request: pytest.FixtureRequest,
    dl_fuzz: dict[str, Any],
    dl_example_client: ExampleClient,
    dl_profile: Profile,
) -> None:
    """A generated activity comes back by GET under its id with the same type, text,
    channelData, value, attachments and from, and every delivered activity has the fields the
    channel adds."""

    def check(
        client: DirectLineClient, conversations: ExampleConversations, activity: dict[str, Any]
    ) -> None:
        conversation = conversations.get(client)
        activity_id = steps.send(client, conversation, activity)
        activities = steps.history(client, conversation, until=steps.has_ids(activity_id))
        shown = client.recorder.exchanges[-3:]
        for delivered in activities:
            expect.conforms(
                delivered,
                "delivered-activity",
                shown,
                requirement="DL-ACT-001",
                what=f"the delivered activity {delivered.get('id')!r}",
            )
            expect.equal(
                (delivered.get("conversation") or {}).get("id"),
                conversation.id,
                "conversation.id of a delivered activity",
                shown,
                requirement="DL-ACT-001",
            )
        found = [a for a in activities if a.get("id") == activity_id]
        expect.that(
            len(found) == 1,
            f"the activity the send answered {activity_id!r} for, once in GET",
            f"{len(found)} activities with that id among {len(activities)}",
            shown,
            requirement="DL-SEND-003",
        )
        recorded = found[0]
        _same("type", activity, recorded, "DL-SEND-003", shown)
        _same("text", activity, recorded, "DL-ACT-004", shown)
        _same("channelData", activity, recorded, "DL-ACT-005", shown)
        _same("value", activity, recorded, "DL-ACT-006", shown)
        _same("attachments", activity, recorded, "DL-ACT-007", shown)
        sender = recorded.get("from") or {}
        for key in ("id", "name"):
            if key in activity["from"]:
                expect.equal(
                    sender.get(key),
                    activity["from"][key],
                    f"from.{key}",
                    shown,
                    requirement="DL-ACT-009",
                )

    _fuzz(
        request,
        dl_fuzz,
        dl_example_client,
        _valid(dl_profile),
        check,
        explicit=SEED_ACTIVITIES,
    )


@cost(per_example=Cost(requests=BATCH, activities=BATCH), example_conversation=True)
@requirement("DL-SEND-002")
def test_generated_sends_answer_unique_ids(
    request: pytest.FixtureRequest,
    dl_fuzz: dict[str, Any],
    dl_example_client: ExampleClient,
    dl_profile: Profile,
) -> None:
    """The ids answered to a run of generated sends in one conversation are all different."""
    from hypothesis import strategies as st

    from conformance.suite.strategies import machine_activities

    def check(
        client: DirectLineClient,
        conversations: ExampleConversations,
        batch: list[dict[str, Any]],
    ) -> None:
        conversation = conversations.get(client)
        ids = [steps.send(client, conversation, activity) for activity in batch]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        expect.that(
            not repeated,
            f"{len(ids)} sends answer {len(ids)} different ids",
            f"repeated ids {repeated!r}",
            client.recorder.exchanges[-len(ids) :],
            requirement="DL-SEND-002",
        )

    one = machine_activities(_triggers(dl_profile), _types(dl_profile))
    batches = st.lists(one, min_size=2, max_size=BATCH)
    _fuzz(request, dl_fuzz, dl_example_client, batches, check)


@cost(per_example=Cost(requests=1, activities=1), example_conversation=True)
@requirement("DL-SEND-007", "DL-SEND-008", "DL-ERR-001", "DL-ERR-004")
def test_generated_invalid_activity_is_refused(
    request: pytest.FixtureRequest,
    dl_fuzz: dict[str, Any],
    dl_example_client: ExampleClient,
) -> None:
    """An activity without type, or with text/from/attachments/entities of the wrong JSON
    type, is refused with 400 and an ErrorResponse, never a 500."""
    from conformance.suite.strategies import invalid_activities

    def check(
        client: DirectLineClient,
        conversations: ExampleConversations,
        case: tuple[str, dict[str, Any]],
    ) -> None:
        fault, activity = case
        conversation = conversations.get(client)
        answer = client.post_activity(
            conversation.id, activity, auth=steps.credential(conversation)
        )
        expect.that(
            answer.status is not None and answer.status < 500,
            f"an activity with {fault} is client input: a 4xx, never a 5xx",
            describe_status(answer),
            [answer],
            requirement="DL-ERR-004",
        )
        rid = "DL-SEND-007" if fault == "missing type" else "DL-SEND-008"
        expect.status(answer, 400, requirement=rid, what=f"an activity with {fault}")
        expect.error_response(answer, requirement="DL-ERR-001")

    _fuzz(request, dl_fuzz, dl_example_client, invalid_activities(), check)
