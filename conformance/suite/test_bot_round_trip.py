"""The bot behind the channel: replies, failures, order, slowness (send-activity page § Response,
receive page § Timing considerations, docs/live-service.md §6).

What the bot does comes from the profile (its features and its ``[bot]`` table): the kit's test
bot, the Bot Framework sample echo bot, or the user's own. The tests share the ``bot`` lane's
conversation but the slow one, whose late reply would land in the next test's wait.
"""

from __future__ import annotations

from typing import Any

import pytest

from conformance.client import Conversation, DirectLineClient
from conformance.config.profile import Profile
from conformance.errors import PreconditionFailed, TargetTimeout, TargetUnreachable
from conformance.suite import expect, steps

requirement = pytest.mark.requirement
cost = pytest.mark.cost
bot_lane = pytest.mark.lane("bot")
#: Lane state: the refused send of a conversation that stopped taking sends after a bot failure.
REFUSING_AFTER_FAILURE = "refusing after a bot failure"


def _show(activities: list[dict[str, Any]]) -> str:
    shown = []
    for a in activities:
        sender = a.get("from")
        sender_id = sender.get("id") if isinstance(sender, dict) else None
        shown.append((a.get("type"), sender_id, a.get("replyToId"), a.get("text")))
    return f"(type, from.id, replyToId, text): {shown!r:.600}"


@pytest.mark.smoke
@pytest.mark.bot("reply_to_id")
@bot_lane
@cost(requests=1, activities=1, waits=1)
@requirement("DL-BOT-001")
def test_bot_reply_reaches_the_client(
    dl_client: DirectLineClient, dl_conversation: Conversation, dl_profile: Profile
) -> None:
    """A message reaches the bot, and the reply reaches the client with ``replyToId`` = the
    message's id, a ``from.id`` that is not the user's, and the text the profile says the bot
    answers (``[bot] reply``)."""
    conversation = dl_conversation
    text = steps.unique_text("echo me")
    sent = steps.send(dl_client, conversation, steps.message(text))
    timeout = dl_profile.timings.delivery_timeout

    def replied(acts: list[dict[str, Any]]) -> bool:
        return any(
            steps.bot_message(a)
            and a.get("replyToId") == sent
            and dl_profile.bot.is_reply(a.get("text"), text)
            for a in acts
        )

    activities = steps.wait_for_history(dl_client, conversation, replied, timeout=timeout)
    wanted = dl_profile.bot.reply_text(text)
    expect.that(
        replied(activities),
        f"within {timeout:g} s a message from the bot (from.id not {steps.USER_ID!r}) with "
        f"replyToId {sent!r} and " + ("a text" if wanted is None else f"the text {wanted!r}"),
        _show(activities),
        dl_client.recorder.exchanges[-1:],
    )


@pytest.mark.bot("many")
@bot_lane
@cost(requests=1, activities=1, waits=1)
@requirement("DL-BOT-004")
def test_bot_activities_keep_the_bot_order(
    dl_client: DirectLineClient, dl_conversation: Conversation, dl_profile: Profile
) -> None:
    """Several replies in a row (the profile's ``[bot] many`` trigger for 5: its replies
    ``many_reply`` 1..5) reach the client in the bot's order."""
    conversation = dl_conversation
    trigger = dl_profile.bot.many.replace("{n}", "5")
    sent = steps.send(dl_client, conversation, steps.message(trigger), what="asking for 5 replies")
    wanted = dl_profile.bot.many_texts(5)
    timeout = dl_profile.timings.delivery_timeout

    def replies(acts: list[dict[str, Any]]) -> list[str]:
        ids = [a.get("id") for a in acts]
        start = ids.index(sent) + 1 if sent in ids else 0
        return [
            str(a["text"]) for a in acts[start:] if steps.bot_message(a) and a.get("text") in wanted
        ]

    activities = steps.wait_for_history(
        dl_client,
        conversation,
        lambda acts: sorted(replies(acts)) == wanted,
        timeout=timeout,
    )
    texts = replies(activities)
    if sorted(texts) != wanted:
        raise PreconditionFailed(
            f"could not test: the bot did not send the replies 1..5 within {timeout:g} s of "
            f"{trigger!r} (got {texts!r})"
        )
    expect.equal(
        texts,
        wanted,
        "the texts of the bot's replies, in history order",
        dl_client.recorder.exchanges[-1:],
    )


@bot_lane
@cost(requests=4, activities=2, pagings=1)
@requirement("DL-BOT-003")
def test_bot_failure_leaves_the_conversation_usable(
    dl_client: DirectLineClient,
    dl_conversation: Conversation,
    dl_profile: Profile,
    dl_lane_state: dict[str, Any],
) -> None:
    """A bot failure loses nothing already recorded: GET still answers the earlier activities,
    and the next send is accepted. (The lane's last tests: the failure must not spoil the
    conversation for tests that come after it.)"""
    conversation = dl_conversation
    before_id = steps.send(dl_client, conversation, steps.message(steps.unique_text("before")))
    failed = dl_client.post_activity(
        conversation.id, steps.message(dl_profile.bot.error), auth=steps.credential(conversation)
    )
    if failed.status is not None and 200 <= failed.status < 300:
        raise PreconditionFailed(
            f"could not test: the bot-error trigger was accepted ({failed.status}); "
            "DL-BOT-002 judges that",
            exchange=failed,
        )
    read = dl_client.get_activities(conversation.id, auth=steps.credential(conversation))
    expect.status(read, 200, what="GET activities after the bot failed")
    activities, pages = steps.read_on(dl_client, conversation, read, until=steps.has_ids(before_id))
    ids = [a.get("id") for a in activities]
    expect.that(
        before_id in ids,
        f"the activity {before_id!r} sent before the failure still in the history",
        f"activity ids {ids!r}",
        [failed, *pages],
    )
    after = dl_client.post_activity(
        conversation.id,
        steps.message(steps.unique_text("after")),
        auth=steps.credential(conversation),
    )
    if after.status is None or not 200 <= after.status < 300:
        dl_lane_state[REFUSING_AFTER_FAILURE] = after
    expect.status(after, range(200, 300), what="the next send after the bot failed")


@bot_lane
@cost(requests=1)
@requirement("DL-BOT-002")
def test_bot_failure_answers_502(
    dl_client: DirectLineClient,
    dl_conversation: Conversation,
    dl_profile: Profile,
    dl_lane_state: dict[str, Any],
) -> None:
    """When the bot fails, the send answers 502 with an ErrorResponse."""
    conversation = dl_conversation
    refused = dl_lane_state.get(REFUSING_AFTER_FAILURE)
    if refused is not None:
        raise PreconditionFailed(
            f"could not test: the conversation refuses sends since an earlier bot failure "
            f"({refused.status}); DL-BOT-003 judges that",
            exchange=refused,
        )
    answer = dl_client.post_activity(
        conversation.id, steps.message(dl_profile.bot.error), auth=steps.credential(conversation)
    )
    expect.status(answer, 502, what=f"sending the bot-error trigger {dl_profile.bot.error!r}")
    expect.error_response(answer)


@cost(conversations=1, requests=2, activities=1, pagings=1)
@requirement("DL-BOT-005")
def test_slow_bot_gets_a_bounded_5xx(dl_client: DirectLineClient, dl_profile: Profile) -> None:
    """A bot that does not answer in time: the send answers 502 or 504 with an ErrorResponse
    within the bot timeout (plus the request margin), and the activity stays recorded."""
    conversation = dl_client.new_conversation()
    timings = dl_profile.timings
    bound = timings.bot_timeout + timings.request_timeout
    trigger = dl_profile.bot.slow
    try:
        answer = dl_client.post_activity(
            conversation.id,
            steps.message(trigger),
            auth=steps.credential(conversation),
            timeout=bound,
        )
    except (TargetTimeout, TargetUnreachable) as failure:
        raise expect.Violation(
            f"a 502 or 504 answer within {bound:g} s (bot timeout {timings.bot_timeout:g} s "
            f"+ request timeout {timings.request_timeout:g} s)",
            f"no answer: {failure}",
            [failure.exchange] if failure.exchange else [],
        ) from None
    expect.status(answer, 502, 504, what=f"sending the slow-bot trigger {trigger!r}")
    expect.error_response(answer)
    activities = steps.history(dl_client, conversation)
    expect.that(
        any(a.get("text") == trigger and not steps.bot_message(a) for a in activities),
        f"the message {trigger!r} still recorded after the {answer.status}",
        _show(activities),
        [answer, *dl_client.recorder.exchanges[-1:]],
    )
