"""The lean path of sends and polls (hot_routes.py) answers exactly what Starlette's route does.

Two apps share one service: the real one (HotRoutes answers sends and polls) and the same
stack without HotRoutes (Starlette's router and the handler in app.py answer). Every request
goes to both; status, headers (names, values, order) and body must be the same bytes, with
only the conversation ids of state-changing requests told apart.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from conformance.reference.app import create_app
from conformance.reference.bot import EchoBot
from conformance.reference.errors import DirectLineError
from conformance.reference.hot_routes import HotRoutes
from conformance.reference.inbound import receive_body
from conformance.reference.service import DirectLineService
from conformance.reference.wire import JSONAnswer, send_json
from tests.reference.conftest import SECRET, make_config

BEARER = f"Bearer {SECRET}"


class AppClient:
    """httpx over ASGITransport, called synchronously on one event loop of its own."""

    def __init__(self, app: Any, root_path: str = "") -> None:
        self.loop = asyncio.new_event_loop()
        transport = httpx.ASGITransport(app=app, root_path=root_path)
        self.http = httpx.AsyncClient(transport=transport, base_url="http://testserver")

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.loop.run_until_complete(self.http.request(method, path, **kwargs))

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def close(self) -> None:
        self.loop.run_until_complete(self.http.aclose())
        self.loop.close()


@contextmanager
def app_client(app: Any, root_path: str = "") -> Iterator[AppClient]:
    client = AppClient(app, root_path)
    try:
        yield client
    finally:
        client.close()


def without_hot_routes(app: Starlette) -> Starlette:
    """A second app on the same service whose sends and polls reach Starlette's router."""
    config = app.state.config
    plain = create_app(config)
    plain.user_middleware = [m for m in plain.user_middleware if m.cls is not HotRoutes]
    plain.state.service = app.state.service
    return plain


@pytest.fixture
def pair() -> Iterator[tuple[AppClient, AppClient]]:
    hot = create_app(make_config(max_activity_chars=1024))
    assert any(m.cls is HotRoutes for m in hot.user_middleware)
    with app_client(hot) as fast, app_client(without_hot_routes(hot)) as plain:
        yield fast, plain


def start(client: AppClient) -> tuple[str, str]:
    answer = client.post("/v3/directline/conversations", headers={"Authorization": BEARER})
    assert answer.status_code == 201, answer.text
    return answer.json()["conversationId"], answer.json()["token"]


def answered(response: Any, conversation: str = "") -> tuple[int, list[Any], bytes]:
    """Status, raw headers and body, with the conversation's id replaced by a marker."""
    body = response.content
    if conversation:
        body = body.replace(conversation.encode(), b"<conversation>")
    return response.status_code, list(response.headers.raw), body


MESSAGE = {"type": "message", "from": {"id": "user1"}, "text": "hello"}
SENDS: dict[str, tuple[dict[str, str], bytes]] = {
    "a message": ({}, json.dumps(MESSAGE).encode()),
    "a typing activity": ({}, b'{"type":"typing","from":{"id":"user1"}}'),
    "a byte order mark first": ({}, b"\xef\xbb\xbf" + json.dumps(MESSAGE).encode()),
    "two byte order marks": ({}, b"\xef\xbb\xbf\xef\xbb\xbf{}"),
    "not JSON": ({}, b'{"type":'),
    "not UTF-8": ({}, b"\xff\xfe"),
    "an empty body": ({}, b""),
    "NaN": ({}, b'{"type":"message","value":NaN}'),
    "an array": ({}, b"[]"),
    "no type": ({}, b'{"from":{"id":"user1"}}'),
    "a type clients may not send": ({}, b'{"type":"invoke","from":{"id":"user1"}}'),
    "no sender": ({}, b'{"type":"message"}'),
    "a wrongly typed field": ({}, b'{"type":"message","from":{"id":"u"},"text":5}'),
    "too large": ({}, json.dumps({**MESSAGE, "text": "x" * 5000}).encode()),
    "the bot failing": ({}, json.dumps({**MESSAGE, "text": "#bot:error"}).encode()),
    "no credential": ({"Authorization": ""}, json.dumps(MESSAGE).encode()),
    "a Basic credential": ({"Authorization": "Basic abc"}, json.dumps(MESSAGE).encode()),
    "a forged token": ({"Authorization": "Bearer forged"}, json.dumps(MESSAGE).encode()),
}


@pytest.mark.parametrize("case", sorted(SENDS))
def test_a_send_is_answered_the_same_bytes(pair, case):
    fast, plain = pair
    headers, body = SENDS[case]
    answers = []
    for client in (fast, plain):
        conversation, _token = start(client)
        sent = {"Authorization": BEARER, "Content-Type": "application/json", **headers}
        if not sent["Authorization"]:
            del sent["Authorization"]
        path = f"/v3/directline/conversations/{conversation}/activities"
        answers.append(answered(client.post(path, headers=sent, content=body), conversation))
    assert answers[0] == answers[1]
    assert (b"access-control-allow-origin", b"*") in answers[0][1]


def test_sends_with_tokens_and_to_strange_conversations_are_answered_the_same(pair):
    fast, plain = pair
    _other, other_token = start(fast)
    for name, (conversation_of, token_of) in {
        "own token": ("own", "own"),
        "another conversation's token": ("own", "other"),
        "unknown conversation": ("unknown", "secret"),
        "an ended conversation": ("ended", "own"),
    }.items():
        answers = []
        for client in (fast, plain):
            conversation, token = start(client)
            if conversation_of == "ended":
                path = f"/v3/directline/conversations/{conversation}/activities"
                end = {**MESSAGE, "text": "#bot:end"}
                assert client.post(path, headers={"Authorization": BEARER}, json=end).is_success
            target = "no-such-conversation" if conversation_of == "unknown" else conversation
            credential = {"own": token, "other": other_token, "secret": SECRET}[token_of]
            path = f"/v3/directline/conversations/{target}/activities"
            response = client.post(
                path, headers={"Authorization": f"Bearer {credential}"}, json=MESSAGE
            )
            answers.append(answered(response, conversation))
        assert answers[0] == answers[1], name


@pytest.mark.parametrize(
    "query",
    ["", "?watermark=", "?watermark=1", "?watermark=-", "?watermark=abc", "?watermark=99",
     "?watermark=1&watermark=2", "?other=1", "?watermark=%31"],
)  # fmt: skip
def test_a_poll_is_answered_the_same_bytes(pair, query):
    fast, plain = pair
    conversation, token = start(fast)
    path = f"/v3/directline/conversations/{conversation}/activities"
    for text in ("one", "two"):
        assert fast.post(path, headers={"Authorization": BEARER}, json={**MESSAGE, "text": text})
    for credential in (SECRET, token, "forged"):
        headers = {"Authorization": f"Bearer {credential}"}
        answers = [answered(c.get(path + query, headers=headers)) for c in (fast, plain)]
        assert answers[0] == answers[1], credential


def test_the_first_of_two_authorization_headers_counts_on_both_paths(pair):
    fast, plain = pair
    conversation, _token = start(fast)
    path = f"/v3/directline/conversations/{conversation}/activities"
    for first, second in ((BEARER, "Bearer forged"), ("Bearer forged", BEARER)):
        headers = [("Authorization", first), ("Authorization", second)]
        statuses = [c.get(path, headers=headers).status_code for c in (fast, plain)]
        assert statuses[0] == statuses[1] == (200 if first == BEARER else 403)


class MarkedService(DirectLineService):
    """Overrides the two operations, as mutants do."""

    def get_activities(self, credential: Any, conversation_id: str, watermark: Any) -> Any:
        return {"activities": [], "watermark": "marked"}

    async def post_activity(self, credential: Any, conversation_id: str, raw: bytes, origin: str):
        return {"id": "marked"}


def test_a_subclass_overriding_the_operations_takes_effect_on_the_hot_path():
    app = create_app(make_config(), service_class=MarkedService)
    with app_client(app) as client:
        conversation, _token = start(client)
        path = f"/v3/directline/conversations/{conversation}/activities"
        headers = {"Authorization": BEARER}
        assert client.get(path, headers=headers).json()["watermark"] == "marked"
        assert client.post(path, headers=headers, json=MESSAGE).json() == {"id": "marked"}


def test_other_methods_and_a_root_path_go_on_to_starlette(monkeypatch):
    async def not_here(*args: Any) -> Any:
        raise AssertionError("answered by the hot path")

    monkeypatch.setattr(HotRoutes, "activities", not_here)
    app = create_app(make_config())
    with app_client(app) as client:
        conversation, _token = start(client)
        path = f"/v3/directline/conversations/{conversation}/activities"
        refused = client.request("PUT", path, headers={"Authorization": BEARER})
        assert refused.status_code == 405
        assert refused.json()["error"]["code"] == "MethodNotAllowed"
        assert client.request("HEAD", path, headers={"Authorization": BEARER}).status_code == 200
    with app_client(app, root_path="/mounted") as client:
        answer = client.get(path, headers={"Authorization": BEARER})
        assert answer.status_code == 200 and answer.json()["watermark"] == "0"


@pytest.mark.parametrize(
    "content",
    [{"id": "c|0000001"}, {"text": "héllo ✓"}, {"text": "\ud800 lone"}, {"a": [1, None, True]}],
)
def test_send_json_sends_what_a_json_answer_sends(content):
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(send_json(send, content))
    expected = JSONAnswer(content)
    assert sent == [
        {"type": "http.response.start", "status": 200, "headers": expected.raw_headers},
        {"type": "http.response.body", "body": expected.body},
    ]


def body_messages(*messages: dict[str, Any]) -> Any:
    queue = list(messages)

    async def receive() -> dict[str, Any]:
        return queue.pop(0)

    return receive


def test_receive_body_joins_the_chunks_and_refuses_past_the_limit():
    chunks = body_messages(
        {"type": "http.request", "body": b"ab", "more_body": True},
        {"type": "http.request", "body": b"", "more_body": True},
        {"type": "http.request", "body": b"cd", "more_body": False},
    )
    assert asyncio.run(receive_body(chunks, "", 4)) == b"abcd"
    too_many = body_messages(
        {"type": "http.request", "body": b"abc", "more_body": True},
        {"type": "http.request", "body": b"de", "more_body": False},
    )
    with pytest.raises(DirectLineError) as refused:
        asyncio.run(receive_body(too_many, "", 4, "The activity"))
    assert refused.value.status == 413
    assert "The activity is larger than the limit of 4 bytes" in str(refused.value)
    declared = body_messages({"type": "http.request", "body": b"", "more_body": False})
    with pytest.raises(DirectLineError) as refused:
        asyncio.run(receive_body(declared, "5", 4))
    assert refused.value.status == 413
    gone = body_messages({"type": "http.request", "body": b"a", "more_body": True},
                         {"type": "http.disconnect"})  # fmt: skip
    with pytest.raises(DirectLineError) as refused:
        asyncio.run(receive_body(gone, "", 4))
    assert refused.value.status == 400


class StuckBot(EchoBot):
    async def on_message(self, conversation_id: str, activity: Any) -> None:
        await asyncio.sleep(3600)


class StuckBotService(DirectLineService):
    late_reply_grace = 0.2

    def create_bot(self) -> Any:
        return StuckBot(self.config, self.receive_from_bot, dict(self.bot_account))


def test_a_bot_call_is_cancelled_once_its_grace_after_the_504_is_over():
    service = StuckBotService(make_config(bot_timeout=0.2))

    async def scenario() -> tuple[int, int, int]:
        conversation = service.store.create()
        activity = {**MESSAGE, "id": "x"}
        with pytest.raises(DirectLineError) as late:
            await service.deliver_to_bot(conversation, activity)
        running = len(service._tasks)
        await asyncio.sleep(0.4)  # past bot_timeout + late_reply_grace
        return late.value.status, running, len(service._tasks)

    status, running_after_504, running_after_grace = asyncio.run(scenario())
    assert status == 504
    assert running_after_504 == 1
    assert running_after_grace == 0
