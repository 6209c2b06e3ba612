"""Microsoft's sample echo bot (tests/bots/sample_echo_bot.py, on the real SDK) behind the
reference server's `--bot-url` forwarding: it greets, and answers "hi" with "Echo: hi".

A smoke test of the bot itself, so a profile and a certification run can rely on it. Skipped
with the reason when the SDK's virtualenv cannot be built (tests/bots/sdk.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from conformance.reference import EmbeddedServer, ServerConfig
from tests.bots.sdk import sample_echo_bot

pytestmark = pytest.mark.integration

SECRET = "sample-echo-bot-secret"
USER = "dl_sample_user"
WAIT = 10.0


@pytest.fixture(scope="module")
def sample_bot_url() -> Iterator[str]:
    """The sample echo bot's messaging endpoint on a free loopback port."""
    with sample_echo_bot() as url:
        yield url


@pytest.fixture
def channel(sample_bot_url: str) -> Iterator[httpx.Client]:
    """A Direct Line client of a reference server forwarding to the sample bot."""
    config = ServerConfig(secret=SECRET, bot_url=sample_bot_url, bot_timeout=5.0)
    with (
        EmbeddedServer(config) as server,
        httpx.Client(
            base_url=str(server.base_url),
            headers={"Authorization": f"Bearer {SECRET}"},
            trust_env=False,
            timeout=15,
        ) as client,
    ):
        yield client


def wait_for(
    client: httpx.Client, conversation: str, found: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT
    while True:
        answer = client.get(f"/conversations/{conversation}/activities")
        assert answer.status_code == 200, answer.text
        activities = answer.json()["activities"]
        matching = [a for a in activities if found(a)]
        if matching:
            return matching[0]
        if time.monotonic() > deadline:
            pytest.fail(f"nothing matching within {WAIT} s; got {activities}")
        time.sleep(0.05)


def test_the_sample_echo_bot_greets_and_echoes(channel: httpx.Client) -> None:
    started = channel.post("/conversations", json={"user": {"id": USER}})
    assert started.status_code == 201, started.text
    conversation = started.json()["conversationId"]
    greeting = wait_for(channel, conversation, lambda a: a.get("text") == "Hello and welcome!")
    assert greeting["from"]["id"] != USER

    sent = channel.post(
        f"/conversations/{conversation}/activities",
        json={"type": "message", "from": {"id": USER}, "text": "hi"},
    )
    assert sent.status_code == 200, sent.text
    echo = wait_for(channel, conversation, lambda a: a.get("text") == "Echo: hi")
    assert echo["type"] == "message"
    assert echo["from"]["id"] != USER
    # The Python SDK sends a turn's replies on the directline channel without replyToId
    # (TurnContext.get_conversation_reference leaves the activity id out there): a profile of
    # this bot cannot expect replyToId on its echo.
    assert "replyToId" not in echo
