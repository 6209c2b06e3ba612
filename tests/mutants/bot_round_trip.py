"""Mutants of the bot round-trip rules (suite module test_bot_round_trip)."""

from __future__ import annotations

import copy
from typing import Any

from conformance.reference.app import create_app
from conformance.reference.bot import BotFailed, EchoBot
from conformance.reference.config import ServerConfig
from conformance.reference.errors import DirectLineError, bot_error, service_error
from conformance.reference.service import DirectLineService
from tests.mutants.framework import mutant
from tests.mutants.wire import replace_error_body

MODULE = "test_bot_round_trip"


@mutant("DL-BOT-001", modules=MODULE)
class RepliesWithoutReplyToId(DirectLineService):
    """The bot's replies reach the client without replyToId."""

    def stamp_bot_activity(self, conversation: Any, activity: Any) -> Any:
        stamped = super().stamp_bot_activity(conversation, activity)
        stamped.pop("replyToId", None)
        return stamped


@mutant("DL-BOT-001", modules=MODULE)
class RepliesFromTheUser(DirectLineService):
    """The bot's replies reach the client with the user's from.id (the sender set to the
    recipient)."""

    def stamp_bot_activity(self, conversation: Any, activity: Any) -> Any:
        stamped = super().stamp_bot_activity(conversation, activity)
        if isinstance(stamped.get("recipient"), dict):
            stamped["from"] = copy.deepcopy(stamped["recipient"])
        return stamped


@mutant("DL-BOT-002", modules=MODULE)
class BotFailureAnswers500(DirectLineService):
    """A bot failure answers 500 ServiceError instead of 502."""

    async def deliver_to_bot(self, conversation: Any, activity: Any) -> None:
        try:
            await super().deliver_to_bot(conversation, activity)
        except DirectLineError as err:
            if err.status == 502:
                raise service_error("the bot failed") from None
            raise


@mutant("DL-BOT-002", modules=MODULE)
def bot_failure_without_error_body(config: ServerConfig) -> Any:
    """A bot failure answers 502 with a plain-text body, not an ErrorResponse."""
    return replace_error_body(create_app(config), 502, b"Bad Gateway")


@mutant("DL-BOT-003", modules=MODULE)
class BotFailureBreaksTheConversation(DirectLineService):
    """After a bot failure, the conversation refuses every further send (409)."""

    async def deliver_to_bot(self, conversation: Any, activity: Any) -> None:
        try:
            await super().deliver_to_bot(conversation, activity)
        except DirectLineError as err:
            if err.status == 502:
                conversation.ended = True
            raise


@mutant("DL-BOT-003", modules=MODULE)
class BotFailureForgetsTheHistory(DirectLineService):
    """A bot failure loses what the conversation had recorded before it."""

    async def deliver_to_bot(self, conversation: Any, activity: Any) -> None:
        try:
            await super().deliver_to_bot(conversation, activity)
        except DirectLineError as err:
            if err.status == 502:
                for index, recorded in enumerate(conversation.activities[:-1]):
                    conversation.activities[index] = {**recorded, "id": f"lost-{index}"}
            raise


class ReversedManyBot(EchoBot):
    """An echo bot whose "many N" replies come N..1."""

    async def on_message(self, conversation_id: str, activity: Any) -> None:
        count = self.many_count(activity.get("text"))
        if count is None:
            await super().on_message(conversation_id, activity)
            return
        for index in range(count, 0, -1):
            await self.post(conversation_id, self.reply(activity, text=str(index)))


@mutant("DL-BOT-004", modules=MODULE)
class ManyRepliesOutOfOrder(DirectLineService):
    """The bot's replies in a row reach the client in reverse order."""

    def create_bot(self) -> Any:
        return ReversedManyBot(self.config, self.receive_from_bot, dict(self.bot_account))


@mutant("DL-BOT-005", modules=MODULE)
class WaitsForTheSlowBot(DirectLineService):
    """A send waits for a slow bot as long as it takes, then answers 200."""

    async def deliver_to_bot(self, conversation: Any, activity: Any) -> None:
        try:
            await self.bot.on_activity(conversation.id, copy.deepcopy(activity))
        except BotFailed:
            raise bot_error() from None


@mutant("DL-BOT-005", modules=MODULE)
class SlowBotActivityForgotten(DirectLineService):
    """A send the bot answers too late for is answered 504 and removed from the history."""

    async def accept_client_activity(
        self, conversation: Any, activity: Any, credential: Any, origin: str
    ) -> Any:
        try:
            return await super().accept_client_activity(conversation, activity, credential, origin)
        except DirectLineError as err:
            if err.status == 504:
                conversation.activities[:] = [
                    a for a in conversation.activities if a.get("text") != activity.get("text")
                ]
            raise
