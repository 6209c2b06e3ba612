"""The kit's canonical test bot, ``directline-conformance bot``, on the Bot Framework connector
protocol: put it behind an emulator, a proxy or an Azure bot registration, and the built-in
profiles' bot features (``echo_bot``, ``bot_cards``, ``bot_error``, ``bot_end``, ``bot_slow``,
``bot_welcome``, the ``[bot]`` trigger texts) describe it.

It stands alone: nothing of the reference server or of the suite is imported, so the bot a user
runs is the same whatever the kit certifies. Modules, one job each: ``behaviour`` (what the bot
answers, no I/O), ``credentials`` (the app's token for an Azure registration), ``connector``
(replies through ``serviceUrl``), ``app`` (the Starlette app), ``server`` (uvicorn in the
foreground), ``command`` (the CLI options turned into a running bot).
"""

from __future__ import annotations

from .app import MESSAGES_PATH, BotSettings, create_app
from .behaviour import Triggers

__all__ = ["MESSAGES_PATH", "BotSettings", "Triggers", "create_app"]
