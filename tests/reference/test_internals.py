"""Pieces that the wire cannot reach deterministically: overflow, memory, the foreground serve."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import tracemalloc

import httpx
from starlette.websockets import WebSocketState

from conformance.reference.service import StreamSubscription
from conformance.reference.store import Conversation, ConversationStore, Subscriber
from conformance.reference.streaming import run_stream
from conformance.reference.uploads import filename_from_disposition, parse_header_params


def test_a_subscriber_that_falls_behind_is_marked_not_grown():
    subscriber = Subscriber(max_pending=2)
    for index in range(5):
        subscriber.push({"n": index})
    assert subscriber.overflowed
    assert subscriber.queue.qsize() == 2


def test_subscribe_returns_the_backlog_and_feeds_the_rest_without_gap():
    conversation = Conversation("c-ref")
    conversation.record({"type": "message"})
    subscriber = Subscriber(10)
    backlog = conversation.subscribe(subscriber, 0)
    conversation.record({"type": "message"})
    assert [a["id"] for a in backlog] == ["c-ref|0000000"]
    live = subscriber.queue.get_nowait()
    assert live == {"activities": [conversation.activities[1]], "watermark": "2"}
    conversation.unsubscribe(subscriber)
    assert conversation.subscribers is None


class FakeSocket:
    """Just enough of Starlette's WebSocket for run_stream."""

    def __init__(self) -> None:
        self.application_state = WebSocketState.CONNECTED
        self.sent: list[str] = []
        self.closed: tuple[int, str] | None = None
        self._gone = asyncio.Event()

    async def receive(self) -> dict:
        await self._gone.wait()
        return {"type": "websocket.disconnect", "code": 1000}

    async def send_text(self, text: str) -> None:
        self.sent.append(text)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed = (code, reason)
        self.application_state = WebSocketState.DISCONNECTED


def test_a_stream_that_falls_too_far_behind_is_closed():
    async def scenario() -> FakeSocket:
        conversation = Conversation("c-ref")
        subscriber = Subscriber(1)
        subscriber.overflowed = True
        socket = FakeSocket()
        subscription = StreamSubscription(conversation, subscriber, [])
        await asyncio.wait_for(run_stream(socket, subscription, 0), 5)  # type: ignore[arg-type]
        return socket

    socket = asyncio.run(scenario())
    assert socket.closed is not None and socket.closed[0] == 1008


def test_idle_conversations_are_small():
    store = ConversationStore()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(10_000):
            store.create(user={"id": "dl_user"})
        used = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert used / 10_000 < 2048, f"{used / 10_000:.0f} bytes per idle conversation"


def test_content_disposition_parsing():
    assert parse_header_params('form-data; name="a;b"; filename="x\\"y.png"') == (
        "form-data",
        {"name": "a;b", "filename": 'x"y.png'},
    )
    assert filename_from_disposition('name="file"; filename="C:\\dir\\eel.jpg"') == "eel.jpg"
    assert filename_from_disposition("attachment; filename*=UTF-8''%E2%82%AC.txt") == "€.txt"
    assert filename_from_disposition("attachment; filename*=bogus") is None
    assert filename_from_disposition(None) is None


def test_serve_announces_its_url_serves_and_stops_on_sigint():
    code = (
        "from conformance.reference import serve, ServerConfig\n"
        "serve(ServerConfig(secret='s'), port=0, announce=lambda line: print(line, flush=True),"
        " show_secret=True)\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline().strip()
        second = process.stdout.readline().strip()
        assert first.startswith("Direct Line 3.0 reference server: http://127.0.0.1:")
        assert second == "Secret: s"
        base_url = first.split(": ", 1)[1]
        response = httpx.post(
            base_url + "/conversations",
            headers={"Authorization": "Bearer s"},
            trust_env=False,
            timeout=5,
        )
        assert response.status_code == 201
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=5)


def test_utc_timestamp_is_now_in_utc_with_microseconds_and_a_z():
    from datetime import datetime, timedelta, timezone

    from conformance.reference.activities import is_date_time, utc_timestamp

    # datetime.now rounds to the microsecond, the stamp truncates: a microsecond of slack
    before = datetime.now(timezone.utc) - timedelta(microseconds=1)
    stamps = [utc_timestamp() for _ in range(1000)]
    after = datetime.now(timezone.utc)
    assert stamps == sorted(stamps)
    for stamp in (stamps[0], stamps[-1]):
        assert len(stamp) == 27 and stamp.endswith("Z") and is_date_time(stamp), stamp
        moment = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
        assert before <= moment <= after
