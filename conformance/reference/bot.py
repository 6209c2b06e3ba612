"""The bot behind the channel: an in-process echo bot, or an external bot reached over the
Bot Framework connector protocol.

Both sit behind one small interface, `Bot.on_activity(conversation_id, activity)`: it returns
when the bot has taken the activity, raises `BotFailed` when the bot refuses or cannot be
reached, and may take as long as it likes (the service bounds the wait). Replies do not come
back as return values but through the channel, as on the real service: the echo bot calls the
`post` callback it was given; an external bot POSTs to the connector routes of the server.

Echo bot triggers (exact `text` of a `message`, configurable in ServerConfig):
    #bot:error   the bot fails (like an HTTP 500)      -> the send answers 502 BotError
    #bot:end     endOfConversation, then one message   -> the message is dropped (refuse reading)
    #bot:slow    typing at once, the echo after bot_timeout + 1
                                                       -> the send answers 504, echo still arrives
    #bot:many N  N replies "1".."N" (1 <= N <= 50)
    anything else: one reply repeating the text and the attachments, replyToId set.
A `conversationUpdate` that adds a user other than the bot gets the welcome text.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import httpx

from .config import ServerConfig
from .wire import copy_json, dumps

__all__ = ["Bot", "BotFailed", "EchoBot", "ForwardingBot", "PostActivity"]

Activity = dict[str, Any]
PostActivity = Callable[[str, Activity], Awaitable[str | None]]
"""Channel callback: record a bot activity in a conversation; the id, or None if dropped."""

MANY_LIMIT = 50


class BotFailed(Exception):
    """The bot refused the activity or could not be reached."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Bot(Protocol):
    """What the channel needs of a bot. `on_activity` gets the activity as the conversation
    recorded it, not a copy: a bot reads it and copies what it sends back, never changes it."""

    async def on_activity(self, conversation_id: str, activity: Activity) -> None: ...

    async def aclose(self) -> None: ...


class EchoBot:
    """The reference bot: answers every message, and offers every bot feature of the catalog."""

    def __init__(self, config: ServerConfig, post: PostActivity, account: dict[str, str]) -> None:
        self.config = config
        self.post = post
        self.account = account

    async def aclose(self) -> None:
        return None

    async def on_activity(self, conversation_id: str, activity: Activity) -> None:
        kind = activity.get("type")
        if kind == "conversationUpdate":
            await self.on_conversation_update(conversation_id, activity)
        elif kind == "message":
            await self.on_message(conversation_id, activity)

    async def on_conversation_update(self, conversation_id: str, activity: Activity) -> None:
        for member in activity.get("membersAdded") or ():
            if isinstance(member, dict) and member.get("id") not in (None, self.account["id"]):
                welcome = {
                    "type": "message",
                    "from": dict(self.account),
                    "text": self.config.welcome_text,
                }
                welcome["recipient"] = copy_json(member)
                await self.post(conversation_id, welcome)

    async def on_message(self, conversation_id: str, activity: Activity) -> None:
        text = activity.get("text")
        config = self.config
        if text == config.trigger_error:
            raise BotFailed("the echo bot was asked to fail", status=500)
        if text == config.trigger_end:
            end = self.reply(activity, type="endOfConversation", code="completedSuccessfully")
            await self.post(conversation_id, end)
            await self.post(conversation_id, self.reply(activity, text="after the end"))
            return
        if text == config.trigger_slow:
            # typing first, as a real bot does before a long turn: a client (Web Chat) shows
            # its typing indicator; typing is never recorded, so it reaches open streams only
            await self.post(conversation_id, self.reply(activity, type="typing"))
            await asyncio.sleep(config.bot_timeout + 1.0)
            await self.post(conversation_id, self.echo(activity))
            return
        count = self.many_count(text)
        if count is not None:
            for index in range(1, count + 1):
                await self.post(conversation_id, self.reply(activity, text=str(index)))
            return
        await self.post(conversation_id, self.echo(activity))

    def many_count(self, text: Any) -> int | None:
        """N of `#bot:many N`, or None when the text is not that trigger."""
        prefix = self.config.trigger_many
        if not isinstance(text, str) or not text.startswith(prefix + " "):
            return None
        number = text[len(prefix) + 1 :]
        if not (number.isascii() and number.isdigit() and len(number) <= 3):
            return None
        count = int(number)
        return count if 1 <= count <= MANY_LIMIT else None

    def reply(self, to: Activity, **fields: Any) -> Activity:
        """A bot activity answering `to` (replyToId, recipient = the sender)."""
        reply: Activity = {"type": "message", "from": dict(self.account)}
        if isinstance(to.get("from"), dict):
            reply["recipient"] = copy_json(to["from"])
        reply["replyToId"] = to.get("id")
        reply.update(fields)
        return reply

    def echo(self, to: Activity) -> Activity:
        """The user's text, exactly, and the user's attachments, unchanged."""
        reply = self.reply(to)
        if to.get("text") is not None:
            reply["text"] = to["text"]
        if to.get("attachments") is not None:
            reply["attachments"] = copy_json(to["attachments"])
        return reply


class ForwardingBot:
    """An external bot: each activity is POSTed to its messaging endpoint as JSON.

    The activity carries `serviceUrl` (this server's connector base), `channelId`,
    `conversation` and `recipient`, so the bot replies through
    `POST {serviceUrl}v3/conversations/{id}/activities[/{activityId}]`.
    A non-2xx answer or a connection failure is a BotFailed.
    """

    def __init__(self, bot_url: str, request_timeout: float) -> None:
        self.bot_url = bot_url
        self.request_timeout = request_timeout
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.request_timeout), trust_env=False
            )
        return self._client

    async def on_activity(self, conversation_id: str, activity: Activity) -> None:
        try:
            response = await self._http().post(
                self.bot_url,
                content=dumps(activity).encode("utf-8"),
                headers={"Content-Type": "application/json; charset=utf-8"},
            )
        except httpx.HTTPError as exc:
            raise BotFailed(f"the bot could not be reached ({type(exc).__name__})") from None
        if not 200 <= response.status_code < 300:
            raise BotFailed(f"the bot answered HTTP {response.status_code}", response.status_code)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
