"""The official JavaScript client (botframework-directlinejs) against the reference server.

Web Chat reaches Direct Line through this client, so the reference server must work with it
as it is, in polling and in WebSocket mode, with a secret and with a token: no delay added
anywhere. `tests/clients/directlinejs/drive.mjs` runs one scenario with the real `DirectLine`
class and prints one JSON line; the assertions are here.

Needs `node` and `npm`: the packages are installed once (`npm ci`, from the committed lock
file) into tests/clients/directlinejs/node_modules. Without node/npm, or without a registry
to install from, the tests are skipped with the reason (`.ci/run` installs them first, so in
CI they run).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from conformance.reference import EmbeddedServer, ServerConfig
from conformance.reference.app import create_app
from tests.external import install_lock

pytestmark = pytest.mark.integration

CLIENT_DIR = Path(__file__).parent / "clients" / "directlinejs"
DRIVER = CLIENT_DIR / "drive.mjs"
SECRET = "official-client-secret"
DRIVER_TIMEOUT_MS = 30_000
INSTALL_TIMEOUT = 300
MODES = ["ws", "polling"]
CREDENTIALS = ["secret", "token"]
DROP_MARKER = "#drop-socket"

Online, ExpiredToken, FailedToConnect, Ended = 2, 3, 4, 5
"""DirectLineJS ConnectionStatus values."""


def _installed_matches_lock() -> bool:
    """node_modules holds exactly what package-lock.json pins (npm's hidden lock file)."""
    hidden = CLIENT_DIR / "node_modules" / ".package-lock.json"
    if not hidden.is_file():
        return False

    def versions(path: Path) -> dict[str, str]:
        packages = json.loads(path.read_text())["packages"]
        return {k: v.get("version", "") for k, v in packages.items() if k}

    return versions(hidden) == versions(CLIENT_DIR / "package-lock.json")


@pytest.fixture(scope="session")
def node() -> str:
    """The node binary, with the client's packages installed (once; skip if impossible)."""
    node_bin, npm_bin = shutil.which("node"), shutil.which("npm")
    if node_bin is None or npm_bin is None:
        pytest.skip("node and npm are needed to run the official JavaScript client")
    with install_lock(CLIENT_DIR):
        if not _installed_matches_lock():
            try:
                done = subprocess.run(
                    [npm_bin, "ci", "--no-audit", "--no-fund", "--prefix", str(CLIENT_DIR)],
                    capture_output=True,
                    text=True,
                    timeout=INSTALL_TIMEOUT,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                pytest.skip(f"npm ci did not finish within {INSTALL_TIMEOUT} s (no registry?)")
            if done.returncode != 0:
                pytest.skip(f"npm ci failed (no registry reachable?): {done.stderr[-600:]}")
    return node_bin


class DropOnce:
    """Wraps the reference app: logs every request, and closes the first WebSocket that
    delivers the drop marker right after that frame, as a server restart would (code 1001).
    Frames the app sends on that socket afterwards are swallowed: they never arrive."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.requests: list[tuple[str, str, str]] = []
        self.dropped = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        method = scope.get("method", "WS")
        self.requests.append((method, scope["path"], scope["query_string"].decode()))
        if scope["type"] == "http":
            await self.app(scope, receive, send)
            return
        closed = False

        async def dropping_send(message: Message) -> None:
            nonlocal closed
            if closed:
                return
            await send(message)
            text = message.get("text") or ""
            if message["type"] == "websocket.send" and DROP_MARKER in text and not self.dropped:
                self.dropped = closed = True
                await send({"type": "websocket.close", "code": 1001, "reason": "going away"})

        await self.app(scope, receive, dropping_send)


def _config(**overrides: Any) -> ServerConfig:
    settings: dict[str, Any] = {"secret": SECRET, "keepalive_interval": 0.5, "bot_timeout": 5}
    settings.update(overrides)
    return ServerConfig(**settings)


@pytest.fixture(scope="module")
def server() -> Iterator[EmbeddedServer]:
    """Spec behaviour, but server keep-alive frames every 0.5 s (the client must ignore them)."""
    with EmbeddedServer(_config()) as running:
        yield running


@pytest.fixture(scope="module")
def short_token_server() -> Iterator[EmbeddedServer]:
    """Tokens live 8 s, so the refresh test outlives the first token."""
    with EmbeddedServer(_config(token_lifetime=8)) as running:
        yield running


@pytest.fixture
def dropping_server() -> Iterator[tuple[EmbeddedServer, DropOnce]]:
    app = DropOnce(create_app(_config()))
    with EmbeddedServer(app=app) as running:
        yield running, app


def generate_token(base_url: str) -> str:
    """A token from POST /tokens/generate (what a web page's backend hands to Web Chat)."""
    response = httpx.post(
        base_url + "/tokens/generate",
        headers={"Authorization": f"Bearer {SECRET}"},
        trust_env=False,
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return str(response.json()["token"])


@pytest.fixture
def drive(node: str) -> Callable[..., dict[str, Any]]:
    """Run one driver scenario; its JSON result (the driver's own timeout is the bound)."""

    def run(
        server: EmbeddedServer, mode: str, scenario: str, credential: str = "secret", **extra: Any
    ) -> dict[str, Any]:
        assert server.base_url is not None
        options: dict[str, Any] = {
            "domain": server.base_url,
            "mode": mode,
            "scenario": scenario,
            "timeoutMs": DRIVER_TIMEOUT_MS,
            **extra,
        }
        if credential == "secret":
            options["secret"] = SECRET
        else:
            options["token"] = generate_token(server.base_url)
        done = subprocess.run(
            [node, str(DRIVER), json.dumps(options)],
            cwd=CLIENT_DIR,
            capture_output=True,
            text=True,
            timeout=DRIVER_TIMEOUT_MS / 1000 + 15,
            check=False,
        )
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        assert lines, f"no result from the driver (rc {done.returncode}): {done.stderr[-2000:]}"
        result: dict[str, Any] = json.loads(lines[-1])
        assert result["ok"], json.dumps(result, indent=1) + "\n" + done.stderr[-2000:]
        assert done.returncode == 0
        return result

    return run


def echoes(result: dict[str, Any], post_id: str) -> list[dict[str, Any]]:
    return [a for a in result["received"] if a.get("replyToId") == post_id]


def assert_healthy(result: dict[str, Any]) -> None:
    """Online, and never expired, failed or ended on the way."""
    assert Online in result["statuses"], result["statuses"]
    bad = {ExpiredToken, FailedToConnect, Ended} & set(result["statuses"])
    assert not bad, result["notes"]["statusNames"]


def assert_once_in_order(result: dict[str, Any]) -> None:
    ids = [a["id"] for a in result["received"]]
    assert len(ids) == len(set(ids)), f"delivered twice: {ids}"
    assert ids == sorted(ids), f"out of order: {ids}"


@pytest.mark.parametrize("credential", CREDENTIALS)
@pytest.mark.parametrize("mode", MODES)
def test_start_post_and_receive_the_echo(drive, server, mode: str, credential: str) -> None:
    """The client posts as soon as it is online, before its socket has opened: the stream
    replays from the start watermark, so the echo (and the post itself) still arrive."""
    result = drive(server, mode, "echo", credential)
    (posted,) = result["posts"]
    (echo,) = echoes(result, posted["id"])
    assert echo["text"] == "hello from directlinejs"
    assert echo["from"] == "reference-bot"
    assert posted["id"] in [a["id"] for a in result["received"]]
    assert_healthy(result)
    assert_once_in_order(result)
    opens = [e for e in result["socketEvents"] if e["event"] == "open"]
    assert len(opens) == (1 if mode == "ws" else 0)


@pytest.mark.parametrize("mode", MODES)
def test_token_refresh_keeps_the_client_working(drive, short_token_server, mode: str) -> None:
    """The client's refreshToken path (POST /tokens/refresh with the token it holds) gives it
    a token that outlives the first one; its posts and polls go on after the first expired.

    The driver counts from its first round trip, after the token was issued: it refreshes 4 s
    later (the first token at most 4 s plus that round trip old, of 8 s) and asks with the
    first token 8.7 s later (expired, whenever it was issued), which leaves the refreshed one
    3.3 s for the last round trip."""
    result = drive(
        short_token_server, mode, "refresh", "token", refreshAtMs=4000, waitExpiryMs=8700
    )
    notes = result["notes"]
    assert notes["tokenChanged"] is True
    assert notes["hadRefreshLoop"] is True  # a token client schedules refreshes itself
    assert notes["firstTokenStatusAfterExpiry"] == 403  # so the refresh is what kept it going
    first, second = result["posts"]
    assert echoes(result, first["id"]) and echoes(result, second["id"])
    assert_healthy(result)


@pytest.mark.parametrize("credential", CREDENTIALS)
def test_reconnect_after_the_server_drops_the_socket(
    drive, dropping_server, credential: str
) -> None:
    """After a server-side close the client asks GET /conversations/{id}?watermark=W and
    opens the new streamUrl: what was posted while it was away arrives, nothing twice."""
    server, app = dropping_server
    result = drive(server, "ws", "drop", credential)
    assert app.dropped
    opens = [e for e in result["socketEvents"] if e["event"] == "open"]
    assert len(opens) == 2, result["socketEvents"]
    reconnects = [
        query
        for method, path, query in app.requests
        if method == "GET" and path.count("/") == 4 and path.startswith("/v3/directline/conv")
    ]
    assert len(reconnects) == 1, app.requests
    assert reconnects[0].startswith("watermark=") and reconnects[0] != "watermark=", reconnects
    for post_id in result["notes"]["expected"]:
        assert len(echoes(result, post_id)) == 1, (post_id, result["received"])
    assert len(result["received"]) == 2 * len(result["notes"]["expected"])
    assert_once_in_order(result)
    assert_healthy(result)


@pytest.mark.parametrize("credential", CREDENTIALS)
@pytest.mark.parametrize("mode", MODES)
def test_resume_with_conversation_id_and_watermark(
    drive, server, mode: str, credential: str
) -> None:
    """A new client given conversationId + watermark reconnects (GET ?watermark=W) and gets
    only what came after W: the message sent while away and its echo."""
    result = drive(server, mode, "resume", credential)
    notes = result["notes"]
    after = result["received"][notes["leftAt"] :]
    assert [a["id"] for a in after][:1] == [notes["awayId"]]
    assert [a.get("replyToId") for a in after] == [None, notes["awayId"]]
    assert notes["resumedConversationId"] in notes["awayId"]
    assert_once_in_order(result)


@pytest.mark.parametrize("mode", MODES)
def test_end_of_conversation_then_a_post_is_refused(drive, server, mode: str) -> None:
    """postActivity(endOfConversation) succeeds and comes back to the client; a later post is
    refused with 409 ConversationEnded, which the client hands to the caller as an ajax error
    (a 4xx other than 403 is fatal to that post) without changing its connection status."""
    result = drive(server, mode, "eoc")
    _before, end, after = result["posts"]
    assert end["type"] == "endOfConversation" and end["id"]
    assert end["id"] in [a["id"] for a in result["received"]]
    assert after["status"] == 409, after
    assert after["body"]["error"]["code"] == "ConversationEnded"
    assert result["notes"]["finalStatus"] == Online
    assert_healthy(result)


def test_keep_alive_frames_both_ways(drive, server) -> None:
    """The client pings with "" every `timeout` (1 s here, 20 s by default) and the server
    sends "" every 0.5 s: the one socket stays open and keeps delivering."""
    result = drive(server, "ws", "keepalive")
    events = [e["event"] for e in result["socketEvents"]]
    assert events == ["create", "open"], result["socketEvents"]
    first, second = result["posts"]
    assert second["sent"] - first["answered"] > 2000
    assert echoes(result, second["id"])
    assert_healthy(result)
