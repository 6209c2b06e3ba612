"""An echo bot written on the official Bot Framework SDK for Python (botbuilder-core 4.17.1 +
botbuilder-integration-aiohttp 4.17.1), for tests/test_sdk_bot.py.

It runs in its own test-only virtualenv (the SDK pins its own aiohttp, msrest, msal...), as a
subprocess on 127.0.0.1, with no app id or password: the SDK's emulator mode, no auth both
ways. It is wired the way the SDK's samples wire a bot (CloudAdapter +
ConfigurationBotFrameworkAuthentication + an aiohttp app on /api/messages), so what the
reference server sees is what a real bot sends over the connector protocol.

    python sdk_echo_bot.py --port 3978 [--slow-seconds 3]

Message texts (anything else is echoed as "echo: <text>", a reply with replyToId):
    proactive  "proactive: scheduled" now, then "proactive hello" a moment later through
               continue_conversation with the saved conversation reference (no replyToId)
    end        an endOfConversation activity
    slow       sleeps --slow-seconds (past the server's bot_timeout), then "slow reply"
A conversationUpdate adding someone other than the bot gets "welcome from the SDK bot".
GET /health answers 200 once the bot listens (the test waits for it).
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from aiohttp import web
from botbuilder.core import ActivityHandler, MessageFactory, TurnContext
from botbuilder.integration.aiohttp import (
    CloudAdapter,
    ConfigurationBotFrameworkAuthentication,
)
from botbuilder.schema import (
    Activity,
    ActivityTypes,
    ChannelAccount,
    ConversationReference,
    EndOfConversationCodes,
)

PROACTIVE_DELAY = 0.3


class Settings:
    """What ConfigurationBotFrameworkAuthentication reads: no app id = no auth (emulator)."""

    APP_ID = ""
    APP_PASSWORD = ""
    APP_TYPE = "MultiTenant"
    APP_TENANTID = ""


async def reply(turn_context: TurnContext, activity: Activity) -> None:
    """Send `activity` as a reply to the incoming one.

    The Python SDK leaves replyToId out on the directline and webchat channels
    (TurnContext.get_conversation_reference sets no activity_id there, unlike the C# SDK,
    which only drops it for conversationUpdate), so a plain send_activity arrives without it.
    Setting it explicitly makes the SDK use the connector's reply route,
    POST v3/conversations/{id}/activities/{activityId}.
    """
    activity.reply_to_id = turn_context.activity.id
    await turn_context.send_activity(activity)


class EchoBot(ActivityHandler):
    """Echo, proactive message, end of conversation and a slow answer, on SDK primitives."""

    def __init__(self, adapter: CloudAdapter, slow_seconds: float) -> None:
        self.adapter = adapter
        self.slow_seconds = slow_seconds
        self.background: set[asyncio.Task[None]] = set()

    async def on_members_added_activity(
        self, members_added: list[ChannelAccount], turn_context: TurnContext
    ) -> None:
        for member in members_added:
            if member.id != turn_context.activity.recipient.id:
                await turn_context.send_activity("welcome from the SDK bot")

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        text = (turn_context.activity.text or "").strip()
        if text == "proactive":
            reference = TurnContext.get_conversation_reference(turn_context.activity)
            task = asyncio.ensure_future(self.send_proactive(reference))
            self.background.add(task)
            task.add_done_callback(self.background.discard)
            await reply(turn_context, MessageFactory.text("proactive: scheduled"))
        elif text == "end":
            end = Activity(
                type=ActivityTypes.end_of_conversation,
                code=EndOfConversationCodes.completed_successfully,
            )
            await reply(turn_context, end)
        elif text == "slow":
            await asyncio.sleep(self.slow_seconds)
            await reply(turn_context, MessageFactory.text("slow reply"))
        else:
            await reply(turn_context, MessageFactory.text(f"echo: {text}"))

    async def send_proactive(self, reference: ConversationReference) -> None:
        """Later, outside any turn: the way the SDK documents proactive messages."""
        await asyncio.sleep(PROACTIVE_DELAY)

        async def say(turn_context: TurnContext) -> None:
            await turn_context.send_activity("proactive hello")

        try:
            await self.adapter.continue_conversation(reference, say, bot_app_id="")
        except Exception as exc:  # printed for the test's log; the bot keeps running
            print(f"proactive send failed: {exc!r}", file=sys.stderr, flush=True)


def create_app(slow_seconds: float) -> web.Application:
    adapter = CloudAdapter(ConfigurationBotFrameworkAuthentication(Settings()))
    bot = EchoBot(adapter, slow_seconds)

    async def messages(request: web.Request) -> web.Response:
        response = await adapter.process(request, bot)
        return response if response is not None else web.Response(status=201)

    async def health(_request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/api/messages", messages)
    app.router.add_get("/health", health)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--slow-seconds", type=float, default=3.0)
    args = parser.parse_args()
    web.run_app(create_app(args.slow_seconds), host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    main()
