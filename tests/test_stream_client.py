"""DirectLineClient.open_stream and StreamConnection against a tiny WebSocket server on loopback.

The server's behaviour is chosen by the request path: `/stream` sends an empty keep-alive frame,
an ActivitySet and closes with 1000 "bye"; `/two` sends two sets and waits; `/echo` echoes;
`/silent` says nothing; `/notjson` sends text; `/array` a bare JSON array; `/refuse` answers
403; `/redirect` answers 302.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import ServerConnection, serve

from conformance import __version__
from conformance.client import DirectLineClient, RunGovernor
from conformance.errors import (
    StreamClosed,
    StreamRefused,
    TargetError,
    TargetTimeout,
    TargetUnreachable,
    Violation,
)
from conformance.evidence import REDACTED, render_exchange

ACTIVITY_SET = {
    "activities": [
        {"type": "message", "id": "c1|0000", "from": {"id": "user1"}, "text": "hello"},
        {"type": "message", "id": "c1|0001", "from": {"id": "bot"}, "text": "echo: hello"},
    ],
    "watermark": "1",
}
SECOND_SET = {"activities": [{"type": "typing", "id": "c1|0002"}], "watermark": None}
STREAM_T = "stream-token.cwA.0123456789abcdef"


def handler(ws: ServerConnection) -> None:
    path = ws.request.path if ws.request is not None else ""
    try:
        if path.startswith("/stream"):
            ws.send("")
            ws.send(json.dumps(ACTIVITY_SET))
            ws.close(1000, "bye")
        elif path.startswith("/two"):
            ws.send(json.dumps(ACTIVITY_SET))
            ws.send("")
            ws.send(json.dumps(SECOND_SET))
            ws.recv(timeout=10)
        elif path.startswith("/echo"):
            for _ in range(10):
                ws.send(ws.recv(timeout=10))
        elif path.startswith("/notjson"):
            ws.send(f"not json ?t={STREAM_T}")
            ws.recv(timeout=10)
        elif path.startswith("/array"):
            ws.send(json.dumps(ACTIVITY_SET["activities"]))
            ws.recv(timeout=10)
        else:  # /silent
            ws.recv(timeout=10)
    except (ConnectionClosed, TimeoutError):
        pass


def process_request(connection: ServerConnection, request: Request) -> Response | None:
    if request.path.startswith("/refuse"):
        return connection.respond(403, "Forbidden: stream token expired\n")
    if request.path.startswith("/redirect"):
        response = connection.respond(302, "")
        response.headers["Location"] = "/stream"
        return response
    return None


class Server:
    def __init__(self, port: int, requests: list[Request]) -> None:
        self.port = port
        self.requests = requests

    def url(self, path: str, scheme: str = "ws") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    @property
    def last_headers(self) -> Headers:
        return self.requests[-1].headers


@pytest.fixture
def server() -> Iterator[Server]:
    requests: list[Request] = []

    def recording(connection: ServerConnection, request: Request) -> Response | None:
        requests.append(request)
        return process_request(connection, request)

    with serve(handler, "127.0.0.1", 0, process_request=recording) as ws_server:
        port = ws_server.socket.getsockname()[1]
        thread = threading.Thread(target=ws_server.serve_forever, daemon=True)
        thread.start()
        yield Server(port, requests)
        ws_server.shutdown()
    thread.join(timeout=5)


@pytest.fixture
def client() -> Iterator[DirectLineClient]:
    with DirectLineClient("http://127.0.0.1:9/v3/directline", timeout=5.0, case_id="case-7") as c:
        yield c


def test_activity_set_after_a_keep_alive(server: Server, client: DirectLineClient) -> None:
    stream = client.open_stream(server.url(f"/stream?t={STREAM_T}"))
    handshake = stream.exchange
    assert handshake.kind == "websocket" and handshake.status == 101
    assert handshake.method == "GET" and handshake.url == server.url(f"/stream?t={STREAM_T}")
    assert client.recorder.exchanges == [handshake]
    assert handshake.header("upgrade") == "websocket"

    assert stream.recv_activity_set(timeout=5) == ACTIVITY_SET
    assert stream.empty_frames == 1
    assert stream.sets == [ACTIVITY_SET]
    assert [e.direction for e in handshake.events] == ["recv", "recv"]
    assert handshake.events[0].data == ""


def test_server_close_raises_stream_closed(server: Server, client: DirectLineClient) -> None:
    stream = client.open_stream(server.url("/stream"))
    stream.recv_activity_set(timeout=5)
    with pytest.raises(StreamClosed) as info:
        stream.recv_frame(timeout=5)
    assert (info.value.code, info.value.reason) == (1000, "bye")
    assert isinstance(info.value, TargetError) and info.value.exchange is stream.exchange
    assert stream.closed and (stream.close_code, stream.close_reason) == (1000, "bye")
    assert stream.exchange.events[-1].direction == "close"
    assert "code 1000" in stream.exchange.events[-1].detail
    with pytest.raises(StreamClosed):  # and again, without touching the socket
        stream.recv_activity_set(timeout=1)
    stream.close()  # idempotent after a server close


def test_close_after_an_unnoticed_server_close(server: Server, client: DirectLineClient) -> None:
    stream = client.open_stream(server.url("/stream"))
    stream.recv_activity_set(timeout=5)
    for _ in range(250):  # wait, at most 5 s, for the server's close to arrive unread
        if stream.closed:
            break
        time.sleep(0.02)
    stream.close()
    assert stream.close_code == 1000
    assert stream.exchange.events[-1].detail.startswith("found closed by the server: code 1000")


def test_collect_accumulates_until_the_predicate(server: Server, client: DirectLineClient) -> None:
    stream = client.open_stream(server.url("/two"))
    got = stream.collect(lambda acts: any(a["type"] == "typing" for a in acts), timeout=5)
    assert [a["id"] for a in got] == ["c1|0000", "c1|0001", "c1|0002"]
    assert stream.sets == [ACTIVITY_SET, SECOND_SET]
    assert stream.empty_frames == 1
    assert stream.activities == got


def test_collect_returns_what_arrived_at_the_timeout(
    server: Server, client: DirectLineClient
) -> None:
    stream = client.open_stream(server.url("/two"))
    got = stream.collect(lambda acts: False, timeout=1.0)
    assert len(got) == 3 and len(stream.sets) == 2


def test_recv_timeout_returns_none(server: Server, client: DirectLineClient) -> None:
    stream = client.open_stream(server.url("/silent"))
    assert stream.recv_frame(timeout=0.05) is None
    assert stream.recv_activity_set(timeout=0.05) is None
    assert stream.collect(lambda acts: bool(acts), timeout=0.05) == []
    assert not stream.closed
    stream.close()
    assert stream.closed
    assert stream.exchange.events[-1].detail == "closed by the kit"


def test_send_text_is_recorded(server: Server, client: DirectLineClient) -> None:
    with client.open_stream(server.url("/echo")) as stream:
        stream.send_text("")
        assert stream.recv_frame(timeout=5) == ""
        stream.send_text("ping")
        assert stream.recv_frame(timeout=5) == "ping"
        directions = [(e.direction, e.data) for e in stream.exchange.events]
        assert directions == [("send", ""), ("recv", ""), ("send", "ping"), ("recv", "ping")]


def test_non_json_frame_fails_stream_002_with_the_frame_redacted(
    server: Server, client: DirectLineClient
) -> None:
    stream = client.open_stream(server.url(f"/notjson?t={STREAM_T}"))
    with pytest.raises(Violation, match="not JSON") as info:
        stream.recv_activity_set(timeout=5)
    assert info.value.requirement == "DL-STREAM-002"
    assert STREAM_T not in str(info.value) and REDACTED in str(info.value)


def test_a_bare_array_frame_fails_stream_002(server: Server, client: DirectLineClient) -> None:
    stream = client.open_stream(server.url("/array"))
    with pytest.raises(Violation, match="JSON list") as info:
        stream.collect(lambda acts: False, timeout=5)
    assert info.value.requirement == "DL-STREAM-002"


def test_http_url_is_mapped_and_amp_unescaped(server: Server, client: DirectLineClient) -> None:
    given = server.url(f"/stream?watermark=-&amp;t={STREAM_T}", scheme="http")
    stream = client.open_stream(given)
    assert stream.exchange.url == server.url(f"/stream?watermark=-&t={STREAM_T}")
    assert server.requests[-1].path == f"/stream?watermark=-&t={STREAM_T}"
    assert STREAM_T in client.redactor
    assert stream.recv_activity_set(timeout=5) == ACTIVITY_SET


def test_handshake_carries_case_id_and_user_agent(server: Server, client: DirectLineClient) -> None:
    stream = client.open_stream(server.url("/silent"), headers={"Origin": "https://x.test"})
    headers = server.last_headers
    assert headers["x-dl-conformance-case"] == "case-7"
    assert headers["User-Agent"].startswith(f"directline-conformance/{__version__} websockets/")
    stream.close()
    client.open_stream(server.url("/silent"), headers={"user-agent": "browser"}).close()
    assert server.last_headers.get_all("User-Agent") == ["browser"]
    stream = client.open_stream(server.url("/silent"), headers={"Origin": "https://x.test"})
    headers = server.last_headers
    assert headers["Origin"] == "https://x.test"
    assert "Authorization" not in headers
    assert stream.exchange.request_header("sec-websocket-key")
    stream.close()


def test_refused_handshake_raises_stream_refused(server: Server, client: DirectLineClient) -> None:
    with pytest.raises(StreamRefused) as info:
        client.open_stream(server.url(f"/refuse?t={STREAM_T}"))
    error = info.value
    assert error.status == 403 and "refused with HTTP 403" in str(error)
    assert STREAM_T not in str(error)
    assert error.exchange is client.recorder.exchanges[-1]
    assert error.exchange.kind == "websocket" and error.exchange.status == 403
    assert error.exchange.response_body == b"Forbidden: stream token expired\n"
    text = render_exchange(error.exchange, client.redactor)
    assert "< 403 Forbidden" in text and STREAM_T not in text


def test_redirects_are_not_followed(server: Server, client: DirectLineClient) -> None:
    with pytest.raises(StreamRefused) as info:
        client.open_stream(server.url("/redirect"))
    assert info.value.status == 302
    assert info.value.exchange is not None and info.value.exchange.header("location") == "/stream"
    assert len(server.requests) == 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_refused_connection_raises_target_unreachable(client: DirectLineClient) -> None:
    with pytest.raises(TargetUnreachable, match="connection refused") as info:
        client.open_stream(f"ws://127.0.0.1:{free_port()}/stream?t={STREAM_T}")
    assert info.value.exchange is client.recorder.exchanges[-1]
    assert info.value.exchange.status is None
    assert STREAM_T not in str(info.value)


@pytest.fixture
def mute_listener() -> Iterator[int]:
    """A TCP port that accepts connections and never answers."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(timeout=5)
    for sock in accepted:
        sock.close()
    listener.close()


def test_silent_handshake_raises_target_timeout(
    mute_listener: int, client: DirectLineClient
) -> None:
    with pytest.raises(TargetTimeout, match=r"no handshake answer within 0\.3 s") as info:
        client.open_stream(f"ws://127.0.0.1:{mute_listener}/stream", timeout=0.3)
    assert info.value.exchange is not None and info.value.exchange.status is None


def test_not_a_websocket_url(client: DirectLineClient) -> None:
    with pytest.raises(StreamRefused, match="not a WebSocket URL") as info:
        client.open_stream(f"ftp://127.0.0.1/stream?t={STREAM_T}")
    assert info.value.status is None and STREAM_T not in str(info.value)
    assert client.recorder.exchanges[-1].error is not None


def test_governor_is_asked_before_connecting(server: Server) -> None:
    calls: list[str] = []

    class Governor(RunGovernor):
        def admit(self, **kwargs: Any) -> None:
            calls.append("admit")

    with DirectLineClient("http://127.0.0.1:9", governor=Governor()) as c:
        c.open_stream(server.url("/silent")).close()
        assert c.meter.streams == 1 and c.meter.requests == 1
    assert calls == ["admit"]


def test_client_close_closes_its_streams(server: Server) -> None:
    c = DirectLineClient("http://127.0.0.1:9")
    stream = c.open_stream(server.url("/silent"))
    c.close()
    assert stream.closed
