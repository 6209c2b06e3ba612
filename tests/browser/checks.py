"""What a person checks in Web Chat, one function per check, each on a fresh conversation.

A check returns an `Outcome`: ok (the person saw what a faithful Direct Line server gives),
not ok with what was seen instead, or not applicable. The pytest tests assert on outcomes;
`python -m tests.browser.report` puts them in docs/webchat.md's table, target x check.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from .browser import WAIT, Bubble, Chat, ChatTimeout
from .targets import DROP_MARKER, Target

WELCOME = "Welcome!"
ECHO_TEXT = "hello from Web Chat"
CARD_TITLE = "Card from the kit"
CARD_BUTTON = "Press me"
CARD = {
    "type": "AdaptiveCard",
    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
    "version": "1.3",
    "body": [
        {"type": "TextBlock", "text": CARD_TITLE, "weight": "Bolder", "size": "Medium"},
        {"type": "FactSet", "facts": [{"title": "sent by", "value": "the test, as the user"}]},
    ],
    "actions": [{"type": "Action.Submit", "title": CARD_BUTTON, "data": {"pressed": True}}],
}
FILE_NAME = "notes.txt"
FILE_DATA = b"a file picked with Web Chat's attachment button\n"
FILE_MESSAGE = "here is a file"
PNG = b"\x89PNG"
AFTER_END = "after the end"
RECONNECT_WAIT = 25.0
"""DirectLineJS waits 3 to 15 s (at random) before it reconnects a dropped socket."""
END_SETTLE = 2.0
"""Seconds to wait for what the bot sends after endOfConversation (it comes at once)."""


@dataclass(frozen=True)
class Outcome:
    ok: bool | None  # None: not applicable to this target or mode
    detail: str

    def cell(self) -> str:
        """The table cell: yes / no / n/a, with what was seen."""
        word = "n/a" if self.ok is None else ("yes" if self.ok else "**no**")
        return f"{word}: {self.detail}"


def welcome(chat: Chat, target: Target) -> Outcome:
    """The bot's greeting shows up when the page opens (the bot greets a joining user)."""
    chat.wait_for_bubble("bot", WELCOME)
    return Outcome(True, "the bot's greeting is shown")


def echo(chat: Chat, target: Target) -> Outcome:
    """A typed message is shown as sent, and the bot's echo renders under it."""
    chat.wait_online()
    chat.send(ECHO_TEXT)
    chat.wait_for_bubble("user", ECHO_TEXT)
    chat.wait_for_bubble("bot", ECHO_TEXT)
    bubbles = chat.transcript()
    order = [b.who for b in bubbles if b.says(ECHO_TEXT)]
    if order != ["user", "bot"]:
        return Outcome(False, f"message and echo shown as {order}")
    mine = next(b for b in bubbles if b.who == "user" and b.says(ECHO_TEXT))
    if mine.failed:
        return Outcome(False, f"the message says {mine.status!r} though the echo came")
    return Outcome(True, "the echo renders under the message")


def card(chat: Chat, target: Target) -> Outcome:
    """An Adaptive Card sent as the user comes back from the bot and renders as a card (the
    test posts it: DirectLineJS uploads every attachment, so Web Chat cannot send one inline)."""
    chat.wait_online()
    conversation_id = chat.conversation_id()
    if conversation_id is None:
        return Outcome(False, "the page has no conversation id")
    user = {"id": target.user_id, "name": "Web Chat user"}
    attachment = {"contentType": "application/vnd.microsoft.card.adaptive", "content": CARD}
    activity = {"type": "message", "from": user, "attachments": [attachment]}
    status = target.post_as_user(conversation_id, activity)
    if status != 200:
        return Outcome(False, f"posting the card answered HTTP {status}")

    def bot_card(bubbles: list[Bubble]) -> Bubble | None:
        return next((b for b in bubbles if b.who == "bot" and b.cards and b.says(CARD_TITLE)), None)

    shown = chat.wait_for(bot_card, "the bot's Adaptive Card")
    if not shown.says(CARD_BUTTON):
        return Outcome(False, "the card renders without its button")
    return Outcome(True, "the bot's card renders with its text, facts and button")


def typing(chat: Chat, target: Target) -> Outcome:
    """`#bot:slow`: the typing indicator shows while the bot works, then the late echo."""
    chat.wait_online()
    trigger = "#bot:slow"
    started = time.monotonic()
    chat.send(trigger)
    deadline = started + target.slow_reply + WAIT
    typing_at: float | None = None
    while time.monotonic() < deadline:
        if typing_at is None and chat.typing_shown():
            typing_at = time.monotonic() - started
        if any(b.who == "bot" and b.says(trigger) for b in chat.transcript()):
            waited = time.monotonic() - started
            if typing_at is None:
                return Outcome(False, f"no typing indicator; the echo came after {waited:.0f} s")
            return Outcome(
                True, f"indicator after {typing_at:.1f} s, the echo after {waited:.0f} s"
            )
        chat.page.wait_for_timeout(100)
    seen = "the indicator" if typing_at is not None else "no indicator"
    return Outcome(False, f"{seen}, and no echo within {deadline - started:.0f} s")


def upload(chat: Chat, target: Target) -> Outcome:
    """A file picked with the attachment button is sent with the next message, shows in the
    transcript, comes back from the bot, and its link opens the same bytes."""
    chat.wait_online()
    chat.attach(FILE_NAME, FILE_DATA, "text/plain")
    chat.send(FILE_MESSAGE)

    def settled(bubbles: list[Bubble]) -> Bubble | None:
        """The bot's echo, or the user's own message once it says it failed."""
        for bubble in bubbles:
            if bubble.says(FILE_MESSAGE) and (bubble.who == "bot" or bubble.failed):
                return bubble
        return None

    echoed = chat.wait_for(settled, "the bot's echo of the message with the file")
    mine = next(b for b in chat.transcript() if b.who == "user" and b.says(FILE_MESSAGE))
    if mine.failed:
        return Outcome(False, f"the message with the file says {mine.status!r}")
    if FILE_NAME not in mine.text or not mine.links:
        shown = " / ".join(line for line in mine.text.splitlines()[1:] if line)
        return Outcome(False, f"the sent message shows {shown!r}, no file link")
    if FILE_NAME not in echoed.text or not echoed.links:
        return Outcome(False, "the bot's echo has no file link")
    for whose, link in (("the user's", mine.links[0]), ("the bot's", echoed.links[0])):
        status, body = target.download(link)
        if status != 200:
            return Outcome(False, f"{whose} file link answers HTTP {status}")
        if body != FILE_DATA:
            kind = "an image" if body.startswith(PNG) else f"{len(body)} bytes"
            return Outcome(False, f"{whose} file link opens {kind}, not the file")
    return Outcome(True, "the file shows in both bubbles; its link opens the same bytes")


def reconnect(chat: Chat, target: Target, mode: str) -> Outcome:
    """The server drops the socket right after delivering a message: Web Chat reconnects and
    shows the bot's echo sent while it was away, then goes on working."""
    if mode != "websocket":
        return Outcome(None, "no socket in polling mode")
    if target.dropper is None:
        return Outcome(None, "the test cannot drop this server's sockets")
    chat.wait_online()
    before = target.dropper.sockets
    text = f"{DROP_MARKER} now"
    chat.send(text)
    chat.wait_for_bubble("bot", text, timeout=RECONNECT_WAIT)
    after = "back again"
    chat.send(after)
    chat.wait_for_bubble("bot", after)
    opened = target.dropper.sockets - before
    if opened < 1:
        return Outcome(False, "the echo came without a new socket: the drop did not happen")
    shown = [b.who for b in chat.transcript() if b.says(text)]
    if shown != ["user", "bot"]:
        return Outcome(False, f"after the reconnect the transcript shows {shown}")
    return Outcome(True, "reconnected; the echo sent while away is shown once")


def end(chat: Chat, target: Target) -> Outcome:
    """`#bot:end`: the bot ends the conversation. Web Chat shows nothing for
    endOfConversation itself; what a person sees is that the next message cannot be sent."""
    chat.wait_online()
    chat.send("#bot:end")
    chat.wait_for_bubble("user", "#bot:end")
    chat.page.wait_for_timeout(END_SETTLE * 1000)
    later = "still there?"
    chat.send(later)

    def settled(bubbles: list[Bubble]) -> str | None:
        mine = next((b for b in bubbles if b.who == "user" and b.says(later)), None)
        if mine is not None and mine.failed:
            return "refused"
        if any(b.who == "bot" and b.says(later) for b in bubbles):
            return "echoed"
        return None

    result = chat.wait_for(settled, "the message after #bot:end sent or refused")
    after_end = any(b.who == "bot" and b.says(AFTER_END) for b in chat.transcript())
    if result == "refused" and not after_end:
        return Outcome(True, "nothing after the end is shown; the next message shows Send failed")
    said = "the bot's message after the end is shown" if after_end else "nothing else shown"
    return Outcome(False, f"{said}; the next message was {result}")


Check = Callable[[Chat, Target, str], Outcome]

CHECKS: dict[str, Check] = {
    "welcome": lambda chat, target, mode: welcome(chat, target),
    "echo": lambda chat, target, mode: echo(chat, target),
    "adaptive card": lambda chat, target, mode: card(chat, target),
    "typing (#bot:slow)": lambda chat, target, mode: typing(chat, target),
    "upload": lambda chat, target, mode: upload(chat, target),
    "socket dropped": reconnect,
    "end (#bot:end)": lambda chat, target, mode: end(chat, target),
}
"""The checks of the table, in its column order."""


def run_check(check: Check, chat: Chat, target: Target, mode: str) -> Outcome:
    """The outcome of one check; a wait that ran out is a failed check, said in one line."""
    try:
        return check(chat, target, mode)
    except ChatTimeout as timeout:
        return Outcome(False, str(timeout))
