"""Web Chat (botframework-webchat from npm) in headless Chromium against the reference server.

Each test opens the page (served from its own origin, with a token its server fetched) on a
new conversation, in WebSocket mode and in polling mode (`webSocket: false`), and checks what
a person sees. The checks themselves are in checks.py; docs/webchat.md tabulates them for
every target.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .browser import ONLINE
from .checks import card, echo, end, reconnect, typing, upload, welcome
from .report import tour
from .targets import Target, serve_target

#: Chromium and Web Chat: minutes; deselected unless -m browser (tox -e browser, CI).
pytestmark = [pytest.mark.browser, pytest.mark.integration]

MODES = ["websocket", "polling"]
FAILED_TO_CONNECT, ENDED = 4, 5


@pytest.fixture(scope="module")
def reference() -> Iterator[Target]:
    with serve_target("reference") as target:
        yield target


@pytest.mark.parametrize("mode", MODES)
def test_welcome_then_the_echo_under_the_message(chat_in, reference: Target, mode: str) -> None:
    chat = chat_in(reference.page_origin, mode)
    greeted = welcome(chat, reference)
    assert greeted.ok, greeted.detail
    echoed = echo(chat, reference)
    assert echoed.ok, echoed.detail
    statuses = chat.statuses()
    assert ONLINE in statuses and not {FAILED_TO_CONNECT, ENDED} & set(statuses), statuses
    errors = [line for line in chat.console if line.startswith("error:")]
    assert not errors, errors


@pytest.mark.parametrize("mode", MODES)
def test_an_adaptive_card_from_the_bot_renders(chat_in, reference: Target, mode: str) -> None:
    outcome = card(chat_in(reference.page_origin, mode), reference)
    assert outcome.ok, outcome.detail


@pytest.mark.parametrize("mode", MODES)
def test_a_file_from_the_attachment_button(chat_in, reference: Target, mode: str) -> None:
    outcome = upload(chat_in(reference.page_origin, mode), reference)
    assert outcome.ok, outcome.detail


def test_the_typing_indicator_before_a_slow_reply(chat_in, reference: Target) -> None:
    outcome = typing(chat_in(reference.page_origin, "websocket"), reference)
    assert outcome.ok, outcome.detail


def test_polling_never_shows_typing_but_the_slow_reply_comes(chat_in, reference: Target) -> None:
    """Typing is never recorded (it goes to open streams only), so a polling page sees the
    late echo and no indicator: what docs/webchat.md says for polling."""
    outcome = typing(chat_in(reference.page_origin, "polling"), reference)
    assert not outcome.ok
    assert outcome.detail.startswith("no typing indicator; the echo came after"), outcome.detail


def test_reconnect_after_the_server_drops_the_socket(chat_in, reference: Target) -> None:
    outcome = reconnect(chat_in(reference.page_origin, "websocket"), reference, "websocket")
    assert outcome.ok, outcome.detail


@pytest.mark.parametrize("mode", MODES)
def test_the_bot_ends_the_conversation(chat_in, reference: Target, mode: str) -> None:
    outcome = end(chat_in(reference.page_origin, mode), reference)
    assert outcome.ok, outcome.detail


def test_a_whole_conversation_and_its_screenshot(
    chat_in, reference: Target, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Greeting, a message, a card and a file in one conversation, photographed as in
    docs/webchat.png (`python -m tests.browser.report --screenshot` makes that one)."""
    chat = chat_in(reference.page_origin, "websocket")
    outcomes = tour(chat, reference)
    assert all(o.ok for o in outcomes), [o.detail for o in outcomes]
    chosen = request.config.getoption("--browser-artifacts", default=None)
    directory = Path(chosen) if chosen else tmp_path
    directory.mkdir(parents=True, exist_ok=True)
    shot = directory / "conversation.png"
    chat.page.screenshot(path=str(shot))
    assert shot.read_bytes()[:4] == b"\x89PNG" and shot.stat().st_size > 10_000
