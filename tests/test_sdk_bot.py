"""A bot on the official Bot Framework SDK for Python behind the reference server.

`--bot-url` forwarding must work with what real bots send over the connector protocol, not
only with our own tiny test bot: replies, proactive messages, the bot ending the
conversation, a bot that is down (502, the server stays up, nothing lost) and a slow bot
(504 after bot_timeout, the late reply still delivered).

The SDK (botbuilder-core / botbuilder-integration-aiohttp 4.17.1) pins its own aiohttp,
msrest and msal, so it lives in a test-only virtualenv under .tox/sdkbot-venv (tests/bots/sdk.py
builds it once and skips with the reason when it cannot be installed). The bot
(tests/bots/sdk_echo_bot.py) runs there as a subprocess on 127.0.0.1 in emulator mode (no app
id, no auth).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conformance.reference import EmbeddedServer, ServerConfig
from tests.bots import sdk
from tests.external import free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent
BOT_SCRIPT = ROOT / "tests" / "bots" / "sdk_echo_bot.py"
SECRET = "sdk-bot-secret"
BOT_TIMEOUT = 2.0
SLOW_SECONDS = 3.0
WAIT = 8.0


@pytest.fixture(scope="session")
def sdk_python() -> str:
    """The Python of the SDK's virtualenv, built once (skip with the reason if impossible)."""
    return sdk.sdk_python()


class BotProcess:
    """The SDK bot as a subprocess on a loopback port; stop() and start() again keep the port."""

    def __init__(self, python: str, port: int, log: Path) -> None:
        self.python = python
        self.port = port
        self.log = log
        self.url = f"http://127.0.0.1:{port}/api/messages"
        self.process: subprocess.Popen[bytes] | None = None

    def arguments(self) -> list[str]:
        return ["--port", str(self.port), "--slow-seconds", str(SLOW_SECONDS)]

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [self.python, str(BOT_SCRIPT), *self.arguments()],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
            )
        deadline = time.monotonic() + 30
        while True:
            if self.process.poll() is not None:
                pytest.fail(f"the SDK bot exited: {self.log.read_text()[-2000:]}")
            try:
                health = f"http://127.0.0.1:{self.port}/health"
                if httpx.get(health, trust_env=False, timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"the SDK bot did not come up: {self.log.read_text()[-2000:]}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


@pytest.fixture
def start_bot(sdk_python: str, tmp_path: Path) -> Iterator[Callable[[], BotProcess]]:
    bots: list[BotProcess] = []

    def start() -> BotProcess:
        bot = BotProcess(sdk_python, free_port(), tmp_path / f"bot{len(bots)}.log")
        bots.append(bot)
        bot.start()
        return bot

    yield start
    for bot in bots:
        bot.stop()


class Channel:
    """The client side of the reference server, over plain httpx."""

    def __init__(self, server: EmbeddedServer) -> None:
        assert server.base_url is not None
        self.http = httpx.Client(
            base_url=server.base_url,
            headers={"Authorization": f"Bearer {SECRET}"},
            trust_env=False,
            timeout=15,
        )

    def start(self, user: str = "dl_sdk_user") -> str:
        response = self.http.post("/conversations", json={"user": {"id": user}})
        assert response.status_code == 201, response.text
        return str(response.json()["conversationId"])

    def send(self, conversation: str, text: str) -> httpx.Response:
        activity = {"type": "message", "from": {"id": "dl_sdk_user"}, "text": text}
        return self.http.post(f"/conversations/{conversation}/activities", json=activity)

    def activities(self, conversation: str) -> list[dict[str, Any]]:
        response = self.http.get(f"/conversations/{conversation}/activities")
        assert response.status_code == 200, response.text
        return list(response.json()["activities"])

    def wait_for(
        self, conversation: str, predicate: Callable[[dict[str, Any]], bool], timeout: float = WAIT
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            activities = self.activities(conversation)
            found = [a for a in activities if predicate(a)]
            if found:
                return found[0]
            if time.monotonic() > deadline:
                pytest.fail(f"not delivered within {timeout} s; got {activities}")
            time.sleep(0.05)


@pytest.fixture
def channel_for() -> Iterator[Callable[[str], Channel]]:
    """A reference server forwarding to `bot_url`, and a client for it."""
    servers: list[EmbeddedServer] = []
    channels: list[Channel] = []

    def make(bot_url: str) -> Channel:
        config = ServerConfig(secret=SECRET, bot_url=bot_url, bot_timeout=BOT_TIMEOUT)
        server = EmbeddedServer(config)
        server.start()
        servers.append(server)
        channels.append(Channel(server))
        return channels[-1]

    yield make
    for channel in channels:
        channel.http.close()
    for server in servers:
        server.stop()


def sent_id(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


def test_welcome_and_replies_with_reply_to_id(start_bot, channel_for) -> None:
    bot = start_bot()
    dl = channel_for(bot.url)
    conversation = dl.start()
    welcome = dl.wait_for(conversation, lambda a: a.get("text") == "welcome from the SDK bot")
    assert welcome["from"]["id"] == "reference-bot"
    for text in ("hello", "ünïcode ✓ 🤖"):
        activity_id = sent_id(dl.send(conversation, text))
        reply = dl.wait_for(conversation, lambda a, i=activity_id: a.get("replyToId") == i)
        assert reply["text"] == f"echo: {text}"
        assert reply["from"]["id"] != "dl_sdk_user"
        assert reply["conversation"]["id"] == conversation


def test_a_proactive_message_arrives(start_bot, channel_for) -> None:
    dl = channel_for(start_bot().url)
    conversation = dl.start()
    activity_id = sent_id(dl.send(conversation, "proactive"))
    ack = dl.wait_for(conversation, lambda a: a.get("replyToId") == activity_id)
    assert ack["text"] == "proactive: scheduled"
    later = dl.wait_for(conversation, lambda a: a.get("text") == "proactive hello")
    assert later.get("replyToId") is None  # continue_conversation: not a reply
    ids = [a["id"] for a in dl.activities(conversation)]
    assert ids.index(later["id"]) > ids.index(ack["id"])


def test_the_bot_ends_the_conversation(start_bot, channel_for) -> None:
    dl = channel_for(start_bot().url)
    conversation = dl.start()
    activity_id = sent_id(dl.send(conversation, "end"))
    end = dl.wait_for(conversation, lambda a: a["type"] == "endOfConversation")
    assert end["replyToId"] == activity_id
    assert end["from"]["id"] == "reference-bot"
    refused = dl.send(conversation, "are you there?")
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "ConversationEnded"
    assert [a.get("text") for a in dl.activities(conversation)][-1] is None  # nothing recorded


def test_a_bot_that_is_down_is_502_and_nothing_is_lost(start_bot, channel_for) -> None:
    bot = start_bot()
    dl = channel_for(bot.url)
    conversation = dl.start()
    bot.stop()
    down = dl.send(conversation, "anyone?")
    assert down.status_code == 502, down.text
    body = down.json()
    assert body["error"]["code"] == "BotError"
    assert isinstance(body["error"]["message"], str)
    history = dl.activities(conversation)  # the server is still up
    assert "anyone?" in [a.get("text") for a in history]
    bot.start()  # back, on the same port
    activity_id = sent_id(dl.send(conversation, "back?"))
    reply = dl.wait_for(conversation, lambda a: a.get("replyToId") == activity_id)
    assert reply["text"] == "echo: back?"


def test_a_slow_bot_is_504_and_its_late_reply_arrives(start_bot, channel_for) -> None:
    dl = channel_for(start_bot().url)
    conversation = dl.start()
    began = time.monotonic()
    slow = dl.send(conversation, "slow")
    took = time.monotonic() - began
    assert slow.status_code == 504, slow.text
    assert slow.json()["error"]["code"] == "BotError"
    assert BOT_TIMEOUT - 0.1 <= took <= BOT_TIMEOUT + 1.0
    recorded = dl.wait_for(conversation, lambda a: a.get("text") == "slow")
    late = dl.wait_for(conversation, lambda a: a.get("text") == "slow reply")
    assert late["replyToId"] == recorded["id"]
