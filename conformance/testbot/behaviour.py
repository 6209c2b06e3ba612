"""What the test bot answers to one incoming activity: a pure decision, no I/O.

Kept apart from the HTTP glue so the rules the profiles rely on (echo, the trigger texts, the
greeting) read in one place and can be checked without a server.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

__all__ = ["MANY_LIMIT", "Outgoing", "Triggers", "Turn", "respond"]

Activity = dict[str, Any]

MANY_LIMIT = 50
"""Most replies one many-trigger asks for: enough to test ordering, too few to flood a channel."""

END_CODE = "completedSuccessfully"
AFTER_END_TEXT = "after the end"
FALLBACK_ACCOUNT = {"id": "directline-conformance-bot", "name": "directline-conformance test bot"}
"""The bot's account when the channel does not say who the bot is (no ``recipient``)."""


@dataclass(frozen=True)
class Triggers:
    """Exact message texts that make the bot misbehave on purpose (a profile's ``[bot]`` table).

    ``many`` is a template holding ``{n}``, the number of replies wanted.
    """

    error: str = "#bot:error"
    end: str = "#bot:end"
    slow: str = "#bot:slow"
    many: str = "#bot:many {n}"

    def __post_init__(self) -> None:
        if "{n}" not in self.many:
            raise ValueError(f"the many trigger must contain {{n}}, not {self.many!r}")
        for name in ("error", "end", "slow", "many"):
            if not getattr(self, name).strip():
                raise ValueError(f"the {name} trigger must not be empty")

    def many_count(self, text: object) -> int | None:
        """N when ``text`` is the many trigger with 1 <= N <= MANY_LIMIT, else None."""
        if not isinstance(text, str):
            return None
        prefix, _, suffix = self.many.partition("{n}")
        if len(text) <= len(prefix) + len(suffix):
            return None
        if not (text.startswith(prefix) and text.endswith(suffix)):
            return None
        number = text[len(prefix) : len(text) - len(suffix)]
        if not (number.isascii() and number.isdigit() and len(number) <= 3):
            return None
        count = int(number)
        return count if 1 <= count <= MANY_LIMIT else None


@dataclass(frozen=True)
class Outgoing:
    """One activity the bot sends: as a reply to ``reply_to`` (the connector's reply route) or,
    when that is None, into the conversation (SendToConversation)."""

    activity: Activity
    reply_to: str | None = None


@dataclass(frozen=True)
class Turn:
    """The bot's whole answer to one activity: wait ``delay`` seconds, send ``replies`` in
    order, then answer the channel 200, or 500 when ``fail`` (nothing is sent then)."""

    replies: tuple[Outgoing, ...] = ()
    fail: bool = False
    delay: float = 0.0


def respond(activity: Activity, triggers: Triggers, welcome: str, slow_seconds: float) -> Turn:
    """The turn for ``activity``: messages are echoed or trigger a behaviour, a member joining
    is greeted, everything else is taken without a word."""
    kind = activity.get("type")
    if kind == "message":
        return _on_message(activity, triggers, slow_seconds)
    if kind == "conversationUpdate":
        return _on_conversation_update(activity, welcome)
    return Turn()


def _on_message(activity: Activity, triggers: Triggers, slow_seconds: float) -> Turn:
    text = activity.get("text")
    if text == triggers.error:
        return Turn(fail=True)
    if text == triggers.end:
        end = _reply(activity, type="endOfConversation", code=END_CODE)
        after = _reply(activity, text=AFTER_END_TEXT)
        return Turn(replies=(_as_reply(activity, end), _as_reply(activity, after)))
    if text == triggers.slow:
        return Turn(replies=(_as_reply(activity, _echo(activity)),), delay=slow_seconds)
    count = triggers.many_count(text)
    if count is not None:
        numbered = (_reply(activity, text=str(i)) for i in range(1, count + 1))
        return Turn(replies=tuple(_as_reply(activity, r) for r in numbered))
    return Turn(replies=(_as_reply(activity, _echo(activity)),))


def _on_conversation_update(activity: Activity, welcome: str) -> Turn:
    """Greet once when someone other than the bot joins a conversation the bot can address.

    Channels that name the members added (the hosted service, the reference server) are greeted
    only when a member other than the bot is listed. The npm emulators announce a new
    conversation with empty ``membersAdded`` and ``membersRemoved`` lists: that, too, is someone
    joining, since only a client starts a conversation there.
    """
    conversation = activity.get("conversation")
    if not isinstance(conversation, dict) or not conversation.get("id"):
        return Turn()
    added = activity.get("membersAdded") or []
    removed = activity.get("membersRemoved") or []
    if not isinstance(added, list) or not isinstance(removed, list):
        return Turn()
    bot_id = _account(activity.get("recipient")).get("id")
    newcomers = [m for m in added if isinstance(m, dict) and m.get("id") not in (None, bot_id)]
    announced = not added and not removed
    if not newcomers and not announced:
        return Turn()
    greeting = _reply(activity, text=welcome)
    greeting.pop("replyToId", None)
    if newcomers:
        greeting["recipient"] = copy.deepcopy(newcomers[0])
    else:
        greeting.pop("recipient", None)
    return Turn(replies=(Outgoing(greeting),))


def _echo(activity: Activity) -> Activity:
    """The user's text and attachments, unchanged (absent stays absent)."""
    fields: Activity = {}
    if activity.get("text") is not None:
        fields["text"] = activity["text"]
    if activity.get("attachments") is not None:
        fields["attachments"] = copy.deepcopy(activity["attachments"])
    return _reply(activity, **fields)


def _reply(activity: Activity, **fields: Any) -> Activity:
    """A bot activity answering ``activity``: from the bot's account as the channel named it,
    to the sender, in the same conversation, ``replyToId`` = the incoming id."""
    reply: Activity = {
        "type": "message",
        "from": _account(activity.get("recipient")) or dict(FALLBACK_ACCOUNT),
    }
    sender = _account(activity.get("from"))
    if sender:
        reply["recipient"] = sender
    conversation = activity.get("conversation")
    if isinstance(conversation, dict) and conversation.get("id"):
        reply["conversation"] = copy.deepcopy(conversation)
    if isinstance(activity.get("channelId"), str):
        reply["channelId"] = activity["channelId"]
    if activity.get("id") is not None:
        reply["replyToId"] = activity["id"]
    reply.update(fields)
    return reply


def _as_reply(activity: Activity, reply: Activity) -> Outgoing:
    incoming = activity.get("id")
    return Outgoing(reply, str(incoming) if isinstance(incoming, str) and incoming else None)


def _account(value: object) -> Activity:
    """A copy of a channel account with an id, or {} when there is none."""
    if isinstance(value, dict) and isinstance(value.get("id"), str) and value["id"]:
        return copy.deepcopy(value)
    return {}
