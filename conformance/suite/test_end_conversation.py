"""End a conversation: the ``endOfConversation`` activity (end-conversation page, seeds 000-003,
Swagger API overview § Ending a conversation).

The sources disagree on what follows an endOfConversation; the profile names the reading a target
is certified under. ``eoc_refuse`` (the seeds' normative text): afterwards neither side may send.
``eoc_forward`` (the notes, the live service): the activity is passed on, the conversation
goes on.

The rules about what follows the client's endOfConversation share one ended conversation (the
``ended`` lane): its first test says something, posts the endOfConversation (the answer is what
DL-EOC-001 judges) and leaves both ids in the lane's state; the others judge what comes after.
"""

from __future__ import annotations

from typing import Any

import pytest

from conformance.client import Conversation, DirectLineClient, UploadFile
from conformance.config.costs import Cost
from conformance.config.profile import Profile
from conformance.errors import PreconditionFailed
from conformance.suite import expect, steps

requirement = pytest.mark.requirement
cost = pytest.mark.cost
ended_lane = pytest.mark.lane("ended")
#: What the lane does once before its end: start the bystander, say something.
BEFORE_THE_END = Cost(conversations=1, requests=2, activities=1)
#: ...and the end itself, posted by the ``ended`` fixture when no test of the lane did yet (a
#: lane that starts again once its token is half spent ends its new conversation too)
THROUGH_THE_END = BEFORE_THE_END + Cost(requests=1, activities=1)
from_bot = steps.from_bot


def end_of_conversation(**fields: object) -> dict[str, Any]:
    """The docs' endOfConversation request body."""
    return {"type": "endOfConversation", "from": {"id": steps.USER_ID}, **fields}


def is_end(activity: dict[str, Any]) -> bool:
    return activity.get("type") == "endOfConversation"


def said_before_the_end(
    client: DirectLineClient, conversation: Conversation, state: dict[str, Any]
) -> str:
    """The id of what the lane said before its end (said now when nothing was: precondition).
    A bystander conversation is started then too, before the end: DL-EOC-008 judges that the
    end leaves a conversation that was already there alone."""
    if "said" not in state:
        with client.meter.for_the_lane():
            state["bystander"] = client.new_conversation()
            state["said"] = steps.send(
                client, conversation, steps.event(steps.unique_text("before end"))
            )
    return str(state["said"])


@pytest.fixture
def ended(
    dl_client: DirectLineClient, dl_conversation: Conversation, dl_lane_state: dict[str, Any]
) -> str:
    """The id of the lane's endOfConversation (posted now when no test did yet: precondition)."""
    said_before_the_end(dl_client, dl_conversation, dl_lane_state)
    if "ended" not in dl_lane_state:
        with dl_client.meter.for_the_lane():
            dl_lane_state["ended"] = steps.send(
                dl_client, dl_conversation, end_of_conversation(), what="posting endOfConversation"
            )
    return str(dl_lane_state["ended"])


@pytest.mark.smoke
@ended_lane
@cost(requests=1, activities=1, lane_once=BEFORE_THE_END)
@requirement("DL-EOC-001")
def test_end_of_conversation_answers_200_with_id(
    dl_client: DirectLineClient, dl_conversation: Conversation, dl_lane_state: dict[str, Any]
) -> None:
    """Posting an endOfConversation answers 200 with the activity's id."""
    said_before_the_end(dl_client, dl_conversation, dl_lane_state)
    if "ended" in dl_lane_state:
        raise PreconditionFailed(
            "could not test: the lane's conversation was ended before this test, its first one"
        )
    conversation = dl_conversation
    answer = dl_client.post_activity(
        conversation.id, end_of_conversation(), auth=steps.credential(conversation)
    )
    expect.status(answer, 200, what="posting endOfConversation")
    body = expect.json_object(answer)
    expect.that(
        isinstance(body.get("id"), str) and body["id"] != "",
        'a ResourceResponse {"id": <non-empty string>}',
        f"body {body!r:.200}",
        [answer],
    )
    dl_lane_state["ended"] = body["id"]


@ended_lane
@cost(requests=1, pagings=1, lane_once=THROUGH_THE_END)
@requirement("DL-EOC-002")
def test_get_still_works_after_end(
    dl_client: DirectLineClient,
    dl_conversation: Conversation,
    dl_lane_state: dict[str, Any],
    ended: str,
) -> None:
    """After the end, GET answers 200 and returns the activities, the endOfConversation too."""
    conversation = dl_conversation
    said = str(dl_lane_state["said"])
    answer = dl_client.get_activities(conversation.id, auth=steps.credential(conversation))
    expect.status(answer, 200, what="GET activities after endOfConversation")
    activities, pages = steps.read_on(
        dl_client, conversation, answer, until=steps.has_ids(said, ended)
    )
    ids = [a.get("id") for a in activities]
    expect.that(
        said in ids and ended in ids,
        f"the history holds the activity {said!r} and the endOfConversation {ended!r}",
        f"activity ids {ids!r}",
        pages,
    )


@ended_lane
@cost(requests=1, pagings=2, lane_once=THROUGH_THE_END)
@requirement("DL-EOC-003")
def test_sends_after_client_end_are_refused(
    dl_client: DirectLineClient, dl_conversation: Conversation, ended: str
) -> None:
    """After the client's endOfConversation, a send is refused with a 4xx and an ErrorResponse,
    and nothing is recorded."""
    conversation = dl_conversation
    before = steps.history(dl_client, conversation)
    refused = dl_client.post_activity(
        conversation.id,
        steps.message(steps.unique_text("after end")),
        auth=steps.credential(conversation),
    )
    expect.status(refused, range(400, 500), what="sending after endOfConversation")
    expect.error_response(refused)
    after = steps.history(dl_client, conversation)
    expect.equal(
        [a.get("id") for a in after],
        [a.get("id") for a in before],
        "activity ids after the refused send",
        [refused],
    )


@cost(conversations=1, requests=3, activities=1, waits=1)
@requirement("DL-EOC-004")
def test_sends_after_bot_end_are_refused(dl_client: DirectLineClient, dl_profile: Profile) -> None:
    """After the bot's endOfConversation, a send from the client is refused with a 4xx and an
    ErrorResponse."""
    conversation = dl_client.new_conversation()
    steps.send(
        dl_client, conversation, steps.message(dl_profile.bot.end), what="asking the bot to end"
    )
    activities = steps.wait_for_history(
        dl_client,
        conversation,
        lambda acts: any(is_end(a) and from_bot(a) for a in acts),
        timeout=dl_profile.timings.delivery_timeout,
    )
    if not any(is_end(a) and from_bot(a) for a in activities):
        raise PreconditionFailed(
            f"could not test: the bot sent no endOfConversation within "
            f"{dl_profile.timings.delivery_timeout:g} s of {dl_profile.bot.end!r}"
        )
    refused = dl_client.post_activity(
        conversation.id,
        steps.message(steps.unique_text("after bot end")),
        auth=steps.credential(conversation),
    )
    expect.status(refused, range(400, 500), what="sending after the bot's endOfConversation")
    expect.error_response(refused)


@ended_lane
@cost(requests=1, lane_once=THROUGH_THE_END)
@requirement("DL-EOC-005")
def test_upload_after_end_is_refused(
    dl_client: DirectLineClient, dl_conversation: Conversation, ended: str
) -> None:
    """After the end, an upload is refused with a 4xx too."""
    conversation = dl_conversation
    refused = dl_client.upload(
        conversation.id,
        [UploadFile("after-end.txt", b"uploaded after the end\n", "text/plain")],
        user_id=steps.USER_ID,
        auth=steps.credential(conversation),
    )
    expect.status(refused, range(400, 500), what="uploading after endOfConversation")


@cost(conversations=1, requests=3, streams=1, activities=1)
@requirement("DL-EOC-006")
def test_end_reaches_a_connected_stream(dl_client: DirectLineClient, dl_profile: Profile) -> None:
    """The endOfConversation activity is delivered on a connected WebSocket stream."""
    conversation = dl_client.new_conversation()
    if not conversation.stream_url:
        raise PreconditionFailed("could not test: the start answer has no streamUrl")
    with dl_client.open_stream(conversation.stream_url) as stream:
        ended = steps.send(
            dl_client, conversation, end_of_conversation(), what="posting endOfConversation"
        )
        delivered = stream.collect(
            lambda acts: any(a.get("id") == ended for a in acts),
            timeout=dl_profile.timings.delivery_timeout,
        )
        expect.that(
            any(a.get("id") == ended and is_end(a) for a in delivered),
            f"the endOfConversation {ended!r} on the stream within "
            f"{dl_profile.timings.delivery_timeout:g} s",
            f"stream delivered ids {[a.get('id') for a in delivered]!r}",
            [stream.exchange],
        )


@ended_lane
@cost(requests=1, activities=1, pagings=1, lane_once=THROUGH_THE_END)
@requirement("DL-EOC-007")
def test_forward_reading_keeps_the_conversation_going(
    dl_client: DirectLineClient, dl_conversation: Conversation, ended: str
) -> None:
    """Under the forward reading, the endOfConversation is recorded like any activity and later
    sends are accepted."""
    conversation = dl_conversation
    later = dl_client.post_activity(
        conversation.id,
        steps.message(steps.unique_text("after end")),
        auth=steps.credential(conversation),
    )
    expect.status(later, range(200, 300), what="sending after endOfConversation (forward reading)")
    ids = [a.get("id") for a in steps.history(dl_client, conversation, until=steps.has_ids(ended))]
    expect.that(
        ended in ids,
        f"the endOfConversation {ended!r} recorded in the history",
        f"activity ids {ids!r}",
        [later],
    )


@ended_lane
@cost(requests=1, activities=1, lane_once=THROUGH_THE_END)
@requirement("DL-EOC-008")
def test_end_of_one_conversation_leaves_another_alone(
    dl_client: DirectLineClient, dl_lane_state: dict[str, Any], ended: str
) -> None:
    """Ending one conversation (the lane's) does not affect another that was there before."""
    other: Conversation = dl_lane_state["bystander"]
    answer = dl_client.post_activity(
        other.id, steps.message(steps.unique_text("other")), auth=steps.credential(other)
    )
    expect.status(answer, range(200, 300), what="sending to another conversation")


@cost(conversations=1, requests=1, activities=1, waits=2)
@requirement("DL-EOC-009")
def test_bot_messages_after_its_end_are_not_delivered(
    dl_client: DirectLineClient, dl_profile: Profile
) -> None:
    """After the bot's endOfConversation, the message the bot tries to send next never appears."""
    conversation = dl_client.new_conversation()
    steps.send(
        dl_client, conversation, steps.message(dl_profile.bot.end), what="asking the bot to end"
    )
    timeout = dl_profile.timings.delivery_timeout
    activities = steps.wait_for_history(
        dl_client,
        conversation,
        lambda acts: any(is_end(a) and from_bot(a) for a in acts),
        timeout=timeout,
    )
    if not any(is_end(a) and from_bot(a) for a in activities):
        raise PreconditionFailed(
            f"could not test: the bot sent no endOfConversation within {timeout:g} s"
        )

    def after_the_end(acts: list[dict[str, Any]]) -> list[dict[str, Any]]:
        end = next((i for i, a in enumerate(acts) if is_end(a) and from_bot(a)), len(acts))
        return [a for a in acts[end + 1 :] if from_bot(a)]

    watched = steps.wait_for_history(
        dl_client, conversation, lambda acts: bool(after_the_end(acts)), timeout=timeout
    )
    late = after_the_end(watched)
    expect.that(
        not late,
        f"no bot activity after the bot's endOfConversation (watched {timeout:g} s)",
        f"{len(late)} delivered: {[(a.get('type'), a.get('text')) for a in late]!r}",
        dl_client.recorder.exchanges[-1:],
    )


@ended_lane
@cost(requests=1, lane_once=THROUGH_THE_END)
@requirement("DL-EOC-011")
def test_refusal_after_end_is_not_401_403_404(
    dl_client: DirectLineClient, dl_conversation: Conversation, ended: str
) -> None:
    """The refusal after the end is not 401, 403 or 404, which the official client reads as bad
    credentials, an expired token or an ended poll."""
    conversation = dl_conversation
    refused = dl_client.post_activity(
        conversation.id,
        steps.message(steps.unique_text("after end")),
        auth=steps.credential(conversation),
    )
    if refused.status is not None and 200 <= refused.status < 300:
        raise PreconditionFailed(
            f"could not test: the send after the end was accepted ({refused.status}); "
            "DL-EOC-003 judges that",
            exchange=refused,
        )
    expect.that(
        refused.status not in (401, 403, 404),
        "a refusal other than 401, 403 or 404 (409 fits)",
        f"{refused.status}",
        [refused],
    )
