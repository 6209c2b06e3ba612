"""Microsoft's sample echo bot (BotBuilder-Samples, "02.echo-bot" for Python), on the official
Bot Framework SDK for Python (botbuilder-core + botbuilder-integration-aiohttp 4.17.1).

It behaves as the published sample does: a message gets one reply ``"Echo: {text}"``; a
conversationUpdate adding members other than the bot gets "Hello and welcome!" for each; a turn
that raises gets the sample's two error messages. It is wired the way the sample is (an
ActivityHandler, CloudAdapter with ConfigurationBotFrameworkAuthentication, an aiohttp app on
``/api/messages``), so what a channel sees is what the sample sends, not what this kit would.
Only the start differs, for tests: loopback only, any free port, a ready line, no app id (the
SDK's emulator mode: no auth either way), and ``--parent`` to end with the test run.

    python sample_echo_bot.py [--port 0] [--parent PID]

Prints ``READY http://127.0.0.1:<port>/api/messages`` once it accepts connections. It runs in
the SDK's own virtualenv (tests/bots/sdk.py builds it), never in the kit's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import traceback

from aiohttp import web
from aiohttp.web import Request, Response
from botbuilder.core import ActivityHandler, MessageFactory, TurnContext
from botbuilder.integration.aiohttp import (
    CloudAdapter,
    ConfigurationBotFrameworkAuthentication,
)
from botbuilder.schema import ChannelAccount

PARENT_POLL = 0.5


class EchoBot(ActivityHandler):
    """The sample's bot: greet who joins, echo what is said."""

    async def on_members_added_activity(
        self, members_added: list[ChannelAccount], turn_context: TurnContext
    ) -> None:
        for member in members_added:
            if member.id != turn_context.activity.recipient.id:
                await turn_context.send_activity("Hello and welcome!")

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        await turn_context.send_activity(MessageFactory.text(f"Echo: {turn_context.activity.text}"))


class DefaultConfig:
    """The sample's settings, read by ConfigurationBotFrameworkAuthentication. The sample takes
    them from the environment; here there is no app id: the SDK's emulator mode."""

    APP_ID = ""
    APP_PASSWORD = ""
    APP_TYPE = "MultiTenant"
    APP_TENANTID = ""


async def on_turn_error(context: TurnContext, error: Exception) -> None:
    """As the sample: log the error, tell the user the bot failed."""
    print(f"\n [on_turn_error] unhandled error: {error}", file=sys.stderr)
    traceback.print_exc()
    await context.send_activity("The bot encountered an error or bug.")
    await context.send_activity("To continue to run this bot, please fix the bot source code.")


def create_app() -> web.Application:
    adapter = CloudAdapter(ConfigurationBotFrameworkAuthentication(DefaultConfig()))
    adapter.on_turn_error = on_turn_error
    bot = EchoBot()

    async def messages(request: Request) -> Response:
        return await adapter.process(request, bot)

    app = web.Application()
    app.router.add_post("/api/messages", messages)
    return app


async def serve(port: int, parent: int | None) -> None:
    """Serve on 127.0.0.1 until cancelled (SIGTERM/SIGINT) or the parent is gone."""
    runner = web.AppRunner(create_app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    actual = runner.addresses[0][1]
    print(f"READY http://127.0.0.1:{actual}/api/messages", flush=True)
    try:
        while parent is None or os.getppid() == parent:
            await asyncio.sleep(PARENT_POLL)
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free)")
    parser.add_argument("--parent", type=int, help="stop when this process (our parent) ends")
    options = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(options.port, options.parent))


if __name__ == "__main__":
    main()
