"""The Direct Line servers Web Chat is tried against, each with the page server beside it.

    reference            `directline-conformance serve` (the embedded reference server)
    live                 `serve --behave live`, the stand-in for the hosted service
    offline-directline   the npm emulators, with `directline-conformance bot` behind them
    nlpjs                (tests/emulators/harness.py starts them)
    cors-mutant          the reference server with `Access-Control-Allow-Headers` dropped from
                         its preflight answers: the browser must refuse to talk to it

Every server and the page server listen on 127.0.0.1, on ports of their own: the page's
origin is never the Direct Line server's, so every call Web Chat makes is cross-origin.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from conformance.reference import EmbeddedServer, ServerConfig
from conformance.reference.app import create_app
from tests.mutants.wire import rewrite_response_start

from .pageserver import PageSettings, create_page_app

SECRET = "webchat-browser-secret"
BOT_TIMEOUT = 2.0
"""The reference's bot timeout here: `#bot:slow` answers after 3 s, not 16."""
DROP_MARKER = "#drop-socket"
TOKEN_USER = "dl_webchat-user"
"""The user embedded in the page's token (Web Chat wants `dl_` ids to come from the token)."""
PLAIN_USER = "webchat-user"
"""The user of a page without a token (the emulators check no credential)."""
TARGETS = ("reference", "live", "offline-directline", "nlpjs")
"""The targets of docs/webchat.md's table, in its order."""


class SocketDropper:
    """ASGI wrapper: in each conversation, the first WebSocket frame that carries the drop
    marker is followed by a server-side close (1001, as a restarting server does), and what
    the app sends on that socket afterwards never arrives. Counts the sockets opened."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.sockets = 0
        self.dropped: set[str] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        self.sockets += 1
        conversation = scope["path"].split("/conversations/", 1)[-1].split("/", 1)[0]
        closed = False

        async def dropping_send(message: Message) -> None:
            nonlocal closed
            if closed:
                return
            await send(message)
            text = message.get("text") or ""
            if (
                message["type"] == "websocket.send"
                and DROP_MARKER in text
                and conversation not in self.dropped
            ):
                self.dropped.add(conversation)
                closed = True
                await send({"type": "websocket.close", "code": 1001, "reason": "going away"})

        await self.app(scope, receive, dropping_send)


def without_allow_headers(app: ASGIApp) -> ASGIApp:
    """The CORS mutant: preflight answers lose `Access-Control-Allow-Headers`, so a browser
    may not send `Authorization` (nor a JSON `Content-Type`) cross-origin."""

    def change(scope: dict[str, Any], message: Message) -> None:
        if scope["method"] == "OPTIONS":
            message["headers"] = [
                (name, value)
                for name, value in message.get("headers", [])
                if name.lower() != b"access-control-allow-headers"
            ]

    wrapped: ASGIApp = rewrite_response_start(app, change)
    return wrapped


@dataclass
class Target:
    """A running Direct Line server and the page that talks to it."""

    name: str
    directline: str
    secret: str | None
    page_origin: str
    user_id: str
    dropper: SocketDropper | None = None
    slow_reply: float = BOT_TIMEOUT + 1
    """Seconds after `#bot:slow` before the bot's echo."""

    def post_as_user(self, conversation_id: str, activity: dict[str, Any]) -> int:
        """Send an activity into the page's conversation from the test (server-side, with the
        secret when the target has one): a card cannot be typed into Web Chat's send box.
        The HTTP status."""
        headers = {"Authorization": f"Bearer {self.secret}"} if self.secret else {}
        url = f"{self.directline}/conversations/{conversation_id}/activities"
        answer = httpx.post(url, json=activity, headers=headers, timeout=10.0, trust_env=False)
        return answer.status_code

    def download(self, url: str) -> tuple[int, bytes]:
        """What a link in the transcript gives (status, body)."""
        answer = httpx.get(url, timeout=10.0, trust_env=False, follow_redirects=True)
        return answer.status_code, answer.content


def _reference_config(behave: str) -> ServerConfig:
    return ServerConfig(secret=SECRET, behave=behave, bot_timeout=BOT_TIMEOUT)  # type: ignore[arg-type]


@contextlib.contextmanager
def _page_for(directline: str, secret: str | None) -> Iterator[str]:
    user = TOKEN_USER if secret else PLAIN_USER
    settings = PageSettings(directline=directline, secret=secret, user_id=user)
    with EmbeddedServer(app=create_page_app(settings)) as page:
        assert page.origin is not None
        yield page.origin


@contextlib.contextmanager
def serve_target(name: str) -> Iterator[Target]:
    """Start target `name` and its page server; stop both on exit."""
    if name in ("reference", "live", "cors-mutant"):
        behave = "live" if name == "live" else "reference"
        app: ASGIApp = create_app(_reference_config(behave))
        if name == "cors-mutant":
            app = without_allow_headers(app)
        dropper = SocketDropper(app)
        with (
            EmbeddedServer(app=dropper) as server,
            _page_for(server.base_url or "", SECRET) as page,
        ):
            yield Target(name, server.base_url or "", SECRET, page, TOKEN_USER, dropper)
        return
    from tests.emulators.harness import running

    with running(name) as emulator, _page_for(emulator.url, None) as page:
        yield Target(name, emulator.url, None, page, PLAIN_USER, slow_reply=25.0)
