"""The browser itself judges CORS, and Web Chat against the other targets of docs/webchat.md.

The page is served from its own origin, so every Direct Line call Web Chat makes is
cross-origin and preflighted (it sends `Authorization`). The CORS mutant answers those
preflights without `Access-Control-Allow-Headers`: Chromium must refuse to go on, and the
checks that pass against the faithful server must fail against it.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.emulators.harness import unavailable as emulators_unavailable

from .browser import ChatTimeout
from .checks import CHECKS, WELCOME, run_check
from .targets import serve_target

#: Chromium and Web Chat: minutes; deselected unless -m browser (tox -e browser, CI).
pytestmark = [pytest.mark.browser, pytest.mark.integration]

CORS_REFUSAL = "Access-Control-Allow-Headers"


def test_the_page_and_the_direct_line_server_are_different_origins() -> None:
    with serve_target("reference") as target:
        page, directline = urlsplit(target.page_origin), urlsplit(target.directline)
        assert (page.hostname, page.port) != (directline.hostname, directline.port)


def test_without_allow_headers_the_browser_refuses_the_server(chat_in) -> None:
    with serve_target("cors-mutant") as target:
        chat = chat_in(target.page_origin, "websocket")
        with pytest.raises(ChatTimeout):
            chat.wait_for_bubble("bot", WELCOME, timeout=5)
        refusals = [line for line in chat.console if CORS_REFUSAL in line]
        assert refusals, chat.console
        assert "authorization" in refusals[0].lower(), refusals[0]
        assert chat.transcript() == []


LIVE_EXPECTED: dict[str, bool | str] = {
    "welcome": True,
    "echo": True,
    "adaptive card": True,
    "typing (#bot:slow)": True,
    # docs/live-service.md §11: clients see a placeholder image instead of an uploaded file
    "upload": "the user's file link opens an image, not the file",
    "socket dropped": True,
    # §7: endOfConversation is inert on the service: the bot goes on, and so does the user
    "end (#bot:end)": "the bot's message after the end is shown; the next message was echoed",
}


@pytest.mark.parametrize("check", list(LIVE_EXPECTED))
def test_the_live_stand_in_as_docs_webchat_md_says(chat_in, live, check: str) -> None:
    outcome = run_check(CHECKS[check], chat_in(live.page_origin, "websocket"), live, "websocket")
    expected = LIVE_EXPECTED[check]
    if expected is True:
        assert outcome.ok, outcome.detail
    else:
        assert (outcome.ok, outcome.detail) == (False, expected)


@pytest.fixture(scope="module")
def live():
    with serve_target("live") as target:
        yield target


EMULATOR_EXPECTED = {
    # polling: what works against each npm emulator (nlpjs greets nobody: its
    # conversationUpdate has no conversation.id, DL-START-009 in docs/targets.md)
    "offline-directline": {"welcome": True, "echo": True, "adaptive card": True},
    "nlpjs": {"echo": True, "adaptive card": True},
}


@pytest.mark.skipif(bool(emulators_unavailable()), reason=emulators_unavailable() or "")
@pytest.mark.parametrize("name", sorted(EMULATOR_EXPECTED))
def test_the_npm_emulators_in_polling_mode(chat_in, name: str) -> None:
    with serve_target(name) as target:
        for check, expected in EMULATOR_EXPECTED[name].items():
            chat = chat_in(target.page_origin, "polling")
            outcome = run_check(CHECKS[check], chat, target, "polling")
            assert outcome.ok is expected, f"{check}: {outcome.detail}"


@pytest.mark.skipif(bool(emulators_unavailable()), reason=emulators_unavailable() or "")
def test_offline_directline_has_no_socket_for_web_chat(chat_in) -> None:
    """It answers no streamUrl: Web Chat opens `ws://<page>/undefined`, and its reconnect
    GET is refused by the emulator's preflight, so nothing ever shows."""
    with serve_target("offline-directline") as target:
        chat = chat_in(target.page_origin, "websocket")
        chat.wait_for_console("/undefined", timeout=10)
        chat.page.wait_for_timeout(1000)
        assert chat.transcript() == []
