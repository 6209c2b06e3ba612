"""Send an activity: ``POST /v3/directline/conversations/{id}/activities`` (send-activity page,
API reference § Send an Activity, § Activities)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from conformance.client import Conversation, DirectLineClient
from conformance.config.profile import Profile
from conformance.errors import PreconditionFailed, TargetTimeout, TargetUnreachable
from conformance.evidence import Exchange
from conformance.suite import expect, steps

requirement = pytest.mark.requirement
cost = pytest.mark.cost
#: Tests sharing one conversation: each finds its own activities by the ids its sends answered.
send_lane = pytest.mark.lane("send")

JSON_HEADERS = {"Content-Type": "application/json"}
#: Sends whose ids must all differ (DL-SEND-002; the catalog's example sends 20, and the fuzz
#: test of the same rule sends many more batches at the ci level).
UNIQUE_SENDS = 4


def _post_raw(client: DirectLineClient, conversation: Conversation, body: str) -> Exchange:
    """POST a body exactly as given (for bad input the client's JSON encoder would not make)."""
    return client.request(
        "POST",
        f"/conversations/{conversation.id}/activities",
        auth=steps.credential(conversation),
        headers=JSON_HEADERS,
        content=body,
    )


def _recorded(
    client: DirectLineClient, conversation: Conversation, activity_id: str
) -> dict[str, Any]:
    """The recorded activity with ``activity_id`` (precondition: GET shows it; DL-SEND-003
    judges that). Several activities under that id break DL-SEND-002, not the caller's rule:
    which of them the send made cannot be told."""
    history = steps.history(client, conversation, until=steps.has_ids(activity_id))
    found = [activity for activity in history if activity.get("id") == activity_id]
    if len(found) > 1:
        raise expect.Violation(
            f"one recorded activity under the id {activity_id!r} the send answered",
            f"{len(found)} activities under it",
            client.recorder.exchanges[-1:],
            requirement="DL-SEND-002",
        )
    if found:
        return found[0]
    raise PreconditionFailed(
        f"could not test: GET shows no activity with the id {activity_id!r} the send answered "
        "(DL-SEND-003 judges that)"
    )


@pytest.mark.smoke
@send_lane
@cost(requests=1, activities=1)
@requirement("DL-SEND-001")
def test_send_answers_2xx_with_resource_response(
    dl_client: DirectLineClient, dl_conversation: Conversation
) -> None:
    """A send of a message answers 2xx with a ResourceResponse ``{"id": <non-empty string>}``."""
    conversation = dl_conversation
    answer = dl_client.post_activity(
        conversation.id,
        steps.message(steps.unique_text("send")),
        auth=steps.credential(conversation),
    )
    expect.status(answer, range(200, 300), what="sending a message")
    body = expect.json_object(answer)
    expect.conforms(body, "resource-response", [answer], what="the send answer")


@send_lane
@cost(requests=UNIQUE_SENDS, activities=UNIQUE_SENDS)
@requirement("DL-SEND-002")
def test_send_ids_are_unique(dl_client: DirectLineClient, dl_conversation: Conversation) -> None:
    """The ids answered by 6 sends to one conversation are all different."""
    conversation = dl_conversation
    ids = [
        steps.send(dl_client, conversation, steps.event(steps.unique_text(f"unique {n}")))
        for n in range(UNIQUE_SENDS)
    ]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    expect.that(
        not repeated,
        f"{UNIQUE_SENDS} sends answer {UNIQUE_SENDS} different ids",
        f"{len(set(ids))} different ids; repeated: {repeated!r}",
        dl_client.recorder.exchanges[-UNIQUE_SENDS:],
    )


@cost(conversations=1, requests=5, activities=1, streams=1)
@requirement("DL-SEND-003")
def test_sent_activity_is_recorded_under_its_id(
    dl_client: DirectLineClient, dl_profile: Profile
) -> None:
    """The posted activity is recorded under the answered id: GET (and the stream) show it."""
    conversation = dl_client.new_conversation()
    text = steps.unique_text("recorded")
    sent = steps.send(dl_client, conversation, steps.message(text))
    activities, _, pages = dl_client.collect_activities(
        conversation.id, auth=steps.credential(conversation), until=steps.has_ids(sent)
    )
    for page in pages:
        expect.precondition(page, "reading the conversation's activities")
    found = [a for a in activities if a.get("id") == sent]
    expect.that(
        any(a.get("text") == text for a in found),
        f"GET shows an activity with the answered id {sent!r} and the text {text!r}",
        f"activities (id, text): {[(a.get('id'), a.get('text')) for a in activities]!r}",
        pages,
    )
    if not (dl_profile.supports("websocket") and conversation.stream_url):
        return
    with dl_client.open_stream(conversation.stream_url) as stream:
        delivered = stream.collect(
            lambda acts: any(a.get("id") == sent for a in acts),
            timeout=dl_profile.timings.delivery_timeout,
        )
    expect.that(
        any(a.get("id") == sent and a.get("text") == text for a in delivered),
        f"the stream delivers the activity {sent!r} with its text within "
        f"{dl_profile.timings.delivery_timeout:g} s",
        f"stream delivered (id, text): {[(a.get('id'), a.get('text')) for a in delivered]!r}",
        [stream.exchange],
    )


@send_lane
@cost(requests=4, activities=4)
@requirement("DL-SEND-004")
def test_activities_of_any_type_are_accepted(
    dl_client: DirectLineClient, dl_conversation: Conversation
) -> None:
    """``message``, ``typing``, ``event`` (with a name) and a custom type are all accepted."""
    conversation = dl_conversation
    kinds = [
        steps.message(steps.unique_text("any type")),
        steps.typing(),
        {"type": "event", "name": "conformance.event", "from": {"id": steps.USER_ID}},
        {"type": "x-conformance-custom", "from": {"id": steps.USER_ID}, "text": "custom"},
    ]
    for activity in kinds:
        answer = dl_client.post_activity(
            conversation.id, activity, auth=steps.credential(conversation)
        )
        expect.status(answer, range(200, 300), what=f"sending a {activity['type']!r} activity")


@send_lane
@cost(requests=1)
@requirement("DL-SEND-005")
def test_body_that_is_not_json_answers_400(
    dl_client: DirectLineClient, dl_conversation: Conversation
) -> None:
    """A body that is not JSON is refused with 400 and an ErrorResponse."""
    answer = _post_raw(dl_client, dl_conversation, '{"type":')
    expect.status(answer, 400, what="sending a body that is not JSON")
    expect.error_response(answer)


@send_lane
@cost(requests=3, activities=3)
@requirement("DL-SEND-006")
def test_array_or_non_object_answers_400(
    dl_client: DirectLineClient, dl_conversation: Conversation
) -> None:
    """One activity per request: an array of activities, a JSON string or number is refused
    with 400."""
    conversation = dl_conversation
    one = steps.message(steps.unique_text("in an array"))
    bodies = {
        "an array of two activities": json.dumps([one, one]),
        "a JSON string": json.dumps("text"),
        "a JSON number": "42",
    }
    for what, body in bodies.items():
        answer = _post_raw(dl_client, conversation, body)
        expect.status(answer, 400, what=f"sending {what}")


@send_lane
@cost(requests=1, activities=1)
@requirement("DL-SEND-007")
def test_activity_without_type_answers_400(
    dl_client: DirectLineClient, dl_conversation: Conversation
) -> None:
    """An activity without ``type`` is refused with 400."""
    conversation = dl_conversation
    answer = dl_client.post_activity(
        conversation.id,
        {"text": steps.unique_text("no type"), "from": {"id": steps.USER_ID}},
        auth=steps.credential(conversation),
    )
    expect.status(answer, 400, what="sending an activity without type")


@send_lane
@cost(requests=2, activities=2)
@requirement("DL-SEND-008")
def test_fields_of_the_wrong_type_answer_400(
    dl_client: DirectLineClient, dl_conversation: Conversation
) -> None:
    """Fields of the wrong JSON type (``"text": 5``, ``"from": "u"``) are refused with 400."""
    conversation = dl_conversation
    bodies = {
        '"text": 5': {"type": "message", "from": {"id": steps.USER_ID}, "text": 5},
        '"from": "u"': {"type": "message", "from": steps.USER_ID, "text": "from as a string"},
    }
    for what, activity in bodies.items():
        answer = dl_client.post_activity(
            conversation.id, activity, auth=steps.credential(conversation)
        )
        expect.status(answer, 400, what=f"sending an activity with {what}")


@send_lane
@cost(requests=3, activities=1)
@requirement("DL-SEND-009")
def test_140k_characters_accepted_and_kept(
    dl_client: DirectLineClient, dl_conversation: Conversation
) -> None:
    """An activity under 150K characters of JSON (a 140,000-character text) is accepted and
    comes back intact."""
    conversation = dl_conversation
    head = steps.unique_text("long")
    text = head + " " + ("0123456789" * 14_000)[: 140_000 - len(head) - 1]
    answer = dl_client.post_activity(
        conversation.id, steps.message(text), auth=steps.credential(conversation)
    )
    expect.status(answer, range(200, 300), what="sending a 140,000-character text")
    body = expect.json_object(answer)
    activity_id = body.get("id")
    if not isinstance(activity_id, str) or not activity_id:
        raise PreconditionFailed(
            "could not test: the send answered no id (DL-SEND-001 judges that)", exchange=answer
        )
    recorded = _recorded(dl_client, conversation, activity_id)
    kept = recorded.get("text")
    expect.that(
        kept == text,
        "the 140,000-character text back intact",
        "no text"
        if not isinstance(kept, str)
        else f"a text of {len(kept)} characters"
        + ("" if len(kept) != len(text) else " that differs from the one sent"),
        dl_client.recorder.exchanges[-1:],
    )


@send_lane
@cost(requests=1)
@requirement("DL-SEND-010")
def test_over_256k_characters_refused_with_4xx(
    dl_client: DirectLineClient, dl_conversation: Conversation, dl_profile: Profile
) -> None:
    """An activity over 256K characters (a 300,000-character text) is refused with a 4xx and an
    ErrorResponse: never a 5xx, never a hang."""
    conversation = dl_conversation
    text = ("abcdefghij" * 30_000)[:300_000]
    timeout = dl_profile.timings.request_timeout
    try:
        answer = dl_client.post_activity(
            conversation.id, steps.message(text), auth=steps.credential(conversation)
        )
    except (TargetTimeout, TargetUnreachable) as failure:
        raise expect.Violation(
            f"a 4xx answer within the request timeout ({timeout:g} s)",
            f"no answer: {failure}",
            [failure.exchange] if failure.exchange else [],
        ) from None
    expect.status(answer, range(400, 500), what="sending a 300,000-character text")
    expect.error_response(answer)


@send_lane
@cost(requests=3, activities=1)
@requirement("DL-SEND-011")
def test_attachments_by_url_are_kept(
    dl_client: DirectLineClient, dl_conversation: Conversation
) -> None:
    """Attachments given by ``http``, ``https`` and ``data:`` URL are accepted and kept on the
    activity (a ``data:`` URL may be rehosted: the attachment is still there, with a
    contentUrl)."""
    conversation = dl_conversation
    sent = [
        {
            "contentType": "image/png",
            "contentUrl": "http://example.com/conformance/plain.png",
            "name": "plain.png",
        },
        {
            "contentType": "image/png",
            "contentUrl": "https://example.com/conformance/secure.png",
            "name": "secure.png",
        },
        {
            "contentType": "text/plain",
            "contentUrl": "data:text/plain;base64,aGVsbG8gY29uZm9ybWFuY2UK",
            "name": "inline.txt",
        },
    ]
    activity_id = steps.send(
        dl_client,
        conversation,
        steps.message(steps.unique_text("attachments by URL"), attachments=sent),
        what="sending a message with attachments by URL",
    )
    recorded = _recorded(dl_client, conversation, activity_id)
    kept = recorded.get("attachments")
    kept = [a for a in kept if isinstance(a, dict)] if isinstance(kept, list) else []
    evidence = dl_client.recorder.exchanges[-1:]
    for index, attachment in enumerate(sent):
        same_name = [a for a in kept if a.get("name") == attachment["name"]]
        match = same_name[0] if same_name else (kept[index] if index < len(kept) else None)
        scheme = attachment["contentUrl"].split(":", 1)[0]
        if match is None:
            raise expect.Violation(
                f"the {scheme} attachment {attachment['name']!r} kept on the activity",
                f"{len(kept)} attachments: {kept!r:.300}",
                evidence,
            )
        expect.equal(
            match.get("contentType"),
            attachment["contentType"],
            f"contentType of the {scheme} attachment",
            evidence,
        )
        url = match.get("contentUrl")
        if scheme == "data":
            expect.that(
                isinstance(url, str) and url != "",
                "the data: attachment kept or rehosted, with a contentUrl",
                f"contentUrl {url!r}",
                evidence,
            )
        else:
            expect.equal(
                url, attachment["contentUrl"], f"contentUrl of the {scheme} attachment", evidence
            )


@send_lane
@cost(requests=3, activities=1)
@requirement("DL-SEND-012")
def test_unknown_fields_are_accepted(
    dl_client: DirectLineClient, dl_conversation: Conversation
) -> None:
    """Unknown fields are accepted and do not break the activity."""
    conversation = dl_conversation
    text = steps.unique_text("unknown fields")
    unknown: dict[str, Any] = {
        "x-custom": {"nested": [1, "two", {"three": True}]},
        "conformanceExtra": 7,
    }
    activity = steps.message(text, **unknown)
    answer = dl_client.post_activity(conversation.id, activity, auth=steps.credential(conversation))
    expect.status(answer, range(200, 300), what="sending an activity with unknown fields")
    body = expect.json_object(answer)
    activity_id = body.get("id")
    if not isinstance(activity_id, str) or not activity_id:
        raise PreconditionFailed(
            "could not test: the send answered no id (DL-SEND-001 judges that)", exchange=answer
        )
    recorded = _recorded(dl_client, conversation, activity_id)
    expect.equal(
        (recorded.get("type"), recorded.get("text")),
        ("message", text),
        "(type, text) of the activity sent with unknown fields",
        dl_client.recorder.exchanges[-1:],
    )


@send_lane
@cost(requests=1, activities=1)
@requirement("DL-SEND-013")
def test_send_answers_exactly_200(
    dl_client: DirectLineClient, dl_conversation: Conversation
) -> None:
    """A send answers exactly 200."""
    conversation = dl_conversation
    answer = dl_client.post_activity(
        conversation.id,
        steps.message(steps.unique_text("exactly 200")),
        auth=steps.credential(conversation),
    )
    expect.status(answer, 200, what="sending a message")
