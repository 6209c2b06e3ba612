"""Fixtures for the reference server's own tests: real servers on loopback, a tiny client.

Every server here is an `EmbeddedServer` bound to 127.0.0.1 on a free port. Timings are
compressed per server (token lifetime, stream window, bot timeout), so the tests that wait
for an expiry wait seconds, not minutes. The client is deliberately small and local: these
tests must not depend on the kit's own client.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from conformance.reference import EmbeddedServer, ServerConfig

SECRET = "reference-test-secret"
WAIT = 5.0
"""Upper bound of every wait for something that should happen at once."""


@dataclass
class Conversation:
    """What a start answered."""

    id: str
    token: str
    stream_url: str
    expires_in: int


class Client:
    """Direct Line calls over httpx, raw enough to provoke every error."""

    secret = SECRET

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.origin = base_url.rsplit("/v3/directline", 1)[0]
        self.http = httpx.Client(trust_env=False, timeout=10.0)

    def close(self) -> None:
        self.http.close()

    def call(
        self,
        method: str,
        path: str,
        *,
        auth: str | None = SECRET,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        merged = dict(headers or {})
        if auth is not None:
            merged["Authorization"] = f"Bearer {auth}"
        url = path if path.startswith("http") else self.base_url + path
        return self.http.request(method, url, headers=merged, **kwargs)

    def start(self, auth: str = SECRET, **kwargs: Any) -> Conversation:
        response = self.call("POST", "/conversations", auth=auth, **kwargs)
        assert response.status_code == 201, response.text
        body = response.json()
        return Conversation(
            body["conversationId"], body["token"], body["streamUrl"], body["expires_in"]
        )

    def send(self, conversation_id: str, activity: Any, auth: str = SECRET) -> httpx.Response:
        path = f"/conversations/{conversation_id}/activities"
        if isinstance(activity, bytes):
            return self.call("POST", path, auth=auth, content=activity)
        return self.call("POST", path, auth=auth, json=activity)

    def message(self, conversation_id: str, text: str, auth: str = SECRET, **fields: Any) -> str:
        activity = {"type": "message", "from": {"id": "user1"}, "text": text, **fields}
        response = self.send(conversation_id, activity, auth)
        assert response.status_code == 200, response.text
        return response.json()["id"]

    def get(
        self, conversation_id: str, watermark: str | None = None, auth: str = SECRET
    ) -> httpx.Response:
        params = {} if watermark is None else {"watermark": watermark}
        path = f"/conversations/{conversation_id}/activities"
        return self.call("GET", path, auth=auth, params=params)

    def activities(
        self, conversation_id: str, watermark: str | None = None, auth: str = SECRET
    ) -> dict[str, Any]:
        response = self.get(conversation_id, watermark, auth)
        assert response.status_code == 200, response.text
        return response.json()

    def wait_for(
        self,
        conversation_id: str,
        predicate: Callable[[list[dict]], bool],
        timeout: float = WAIT,
    ) -> list[dict]:
        """Poll GET until predicate(all activities) holds; fail after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            activities = self.activities(conversation_id)["activities"]
            if predicate(activities):
                return activities
            if time.monotonic() > deadline:
                pytest.fail(f"condition not met within {timeout} s: {activities}")
            time.sleep(0.05)

    def upload(
        self,
        conversation_id: str,
        user_id: str | None = "user1",
        auth: str = SECRET,
        **kwargs: Any,
    ) -> httpx.Response:
        params = {} if user_id is None else {"userId": user_id}
        path = f"/conversations/{conversation_id}/upload"
        return self.call("POST", path, auth=auth, params=params, **kwargs)

    def reconnect(
        self, conversation_id: str, watermark: str | None = None, auth: str = SECRET
    ) -> httpx.Response:
        params = {} if watermark is None else {"watermark": watermark}
        return self.call("GET", f"/conversations/{conversation_id}", auth=auth, params=params)

    # Helpers (methods, so tests need no import of this file) --------------------

    @staticmethod
    def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict:
        """Status, a JSON media type and an ErrorResponse body (and its code, when given)."""
        assert response.status_code == status, (response.status_code, response.text)
        assert response.headers["content-type"].startswith("application/json"), response.headers
        body = response.json()
        assert set(body) == {"error"}, body
        assert isinstance(body["error"]["code"], str) and body["error"]["code"], body
        assert isinstance(body["error"]["message"], str), body
        if code is not None:
            assert body["error"]["code"] == code, body
        return body

    @staticmethod
    def open_stream(url: str) -> AbstractContextManager[ClientConnection]:
        return connect(url, open_timeout=WAIT, close_timeout=2, proxy=None)

    @staticmethod
    def receive_sets(ws: ClientConnection, count: int, timeout: float = WAIT) -> list[dict]:
        """ActivitySets until `count` activities arrived (empty keep-alive frames skipped)."""
        deadline = time.monotonic() + timeout
        sets: list[dict] = []
        seen = 0
        while seen < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pytest.fail(f"only {seen} of {count} activities arrived: {sets}")
            frame = ws.recv(timeout=remaining)
            if frame == "":
                continue
            activity_set = json.loads(frame)
            sets.append(activity_set)
            seen += len(activity_set["activities"])
        return sets

    @classmethod
    def receive_activities(
        cls, ws: ClientConnection, count: int, timeout: float = WAIT
    ) -> list[dict]:
        return [a for s in cls.receive_sets(ws, count, timeout) for a in s["activities"]]

    @staticmethod
    def assert_silent(ws: ClientConnection, seconds: float) -> None:
        """No non-empty frame arrives for `seconds`."""
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                frame = ws.recv(timeout=remaining)
            except TimeoutError:
                return
            assert frame == "", f"unexpected frame: {frame}"

    @staticmethod
    def wait_until(moment: float) -> None:
        """Sleep until time.monotonic() reaches `moment`."""
        delay = moment - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def make_config(**overrides: Any) -> ServerConfig:
    settings: dict[str, Any] = {"secret": SECRET, "bot_timeout": 0.5}
    settings.update(overrides)
    return ServerConfig(**settings)


@pytest.fixture(scope="session")
def server() -> Iterator[EmbeddedServer]:
    """The default reference server (spec timings, but a 0.5 s bot timeout)."""
    with EmbeddedServer(make_config()) as running:
        yield running


@pytest.fixture(scope="session")
def short_server() -> Iterator[EmbeddedServer]:
    """A server with a 2 s token lifetime and a 1.5 s stream connect window."""
    with EmbeddedServer(make_config(token_lifetime=2, stream_window=1.5)) as running:
        yield running


@pytest.fixture
def make_server() -> Iterator[Callable[..., EmbeddedServer]]:
    """Start a server with a config of its own; stopped after the test."""
    started: list[EmbeddedServer] = []

    def factory(**overrides: Any) -> EmbeddedServer:
        running = EmbeddedServer(make_config(**overrides))
        running.start()
        started.append(running)
        return running

    yield factory
    for running in started:
        running.stop()


@pytest.fixture
def client(server: EmbeddedServer) -> Iterator[Client]:
    assert server.base_url is not None
    dl = Client(server.base_url)
    yield dl
    dl.close()


@pytest.fixture
def short_client(short_server: EmbeddedServer) -> Iterator[Client]:
    assert short_server.base_url is not None
    dl = Client(short_server.base_url)
    yield dl
    dl.close()


@pytest.fixture
def client_for() -> Iterator[Callable[[EmbeddedServer], Client]]:
    clients: list[Client] = []

    def factory(running: EmbeddedServer) -> Client:
        assert running.base_url is not None
        dl = Client(running.base_url)
        clients.append(dl)
        return dl

    yield factory
    for dl in clients:
        dl.close()
