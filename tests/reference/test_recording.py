"""`serve --record FILE`: the server as the recorded upstream of a proxy check. Everything that
reaches it is written down as it arrives (credentials fingerprinted), and sends can ask it for a
late answer, a 429 or a 502."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus

from conformance.reference.recording import fingerprint
from tests.reference.conftest import SECRET, WAIT

MESSAGE = {"type": "message", "from": {"id": "user1"}, "text": "hi"}


def records(path: Path, kind: str | None = None) -> list[dict[str, Any]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    found = [json.loads(line) for line in lines if line]
    return [r for r in found if kind is None or r["kind"] == kind]


@pytest.fixture
def recorded(make_server, client_for, tmp_path: Path):
    path = tmp_path / "recording.jsonl"
    return client_for(make_server(recording_file=str(path))), path


def test_requests_and_answers_are_recorded_with_credentials_fingerprinted(recorded) -> None:
    dl, path = recorded
    conversation = dl.start()
    sent = b'{"type": "message", "from": {"id": "user1"}, "text": "hello"}'
    assert dl.send(conversation.id, sent, auth=conversation.token).status_code == 200
    dl.get(conversation.id, watermark="0")
    requests = records(path, "request")
    assert [(r["method"], r["path"]) for r in requests] == [
        ("POST", "/v3/directline/conversations"),
        ("POST", f"/v3/directline/conversations/{conversation.id}/activities"),
        ("GET", f"/v3/directline/conversations/{conversation.id}/activities"),
    ]
    headers = dict(requests[1]["headers"])
    assert headers["authorization"] == f"Bearer {fingerprint(conversation.token)}"
    assert json.loads(requests[1]["body"]["text"])["text"] == "hello"
    assert requests[1]["body"]["size"] == len(sent)
    assert requests[1]["body"]["sha256"] == hashlib.sha256(sent).hexdigest()
    assert requests[2]["query"] == [["watermark", "0"]]
    answers = {r["seq"]: r for r in records(path, "response")}
    start = answers[requests[0]["seq"]]
    assert start["status"] == 201
    answered = json.loads(start["body"]["text"])
    assert answered["conversationId"] == conversation.id
    assert answered["token"] == fingerprint(conversation.token)
    # sends and polls are answered by hot_routes.py, before the router: the recorder, outermost,
    # still sees both and their answers
    assert answers[requests[1]["seq"]]["status"] == 200
    assert json.loads(answers[requests[1]["seq"]]["body"]["text"])["id"]
    polled = json.loads(answers[requests[2]["seq"]]["body"]["text"])
    assert [a.get("text") for a in polled["activities"]][-1] == "hello"
    text = path.read_text(encoding="utf-8")
    assert SECRET not in text and conversation.token not in text
    assert conversation.stream_url.split("t=")[1] not in text


def test_stream_frames_are_recorded_in_order_with_their_time(recorded) -> None:
    dl, path = recorded
    conversation = dl.start()
    with dl.open_stream(conversation.stream_url) as ws:
        before = time.time()
        dl.message(conversation.id, "one")
        dl.message(conversation.id, "two")
        dl.receive_activities(ws, 4)  # each message and its echo
    deadline = time.monotonic() + WAIT
    while not records(path, "close") and time.monotonic() < deadline:
        time.sleep(0.05)
    handshake = records(path, "websocket")[0]
    assert handshake["path"].endswith(f"/conversations/{conversation.id}/stream")
    assert [name for name, _ in handshake["query"]] == ["watermark", "t"]
    assert handshake["query"][1][1].startswith("sha256:")
    assert records(path, "accept")[0]["seq"] == handshake["seq"]
    frames = [f for f in records(path, "frame") if f["text"]]
    texts = [a["text"] for f in frames for a in json.loads(f["text"])["activities"]]
    assert texts == ["one", "one", "two", "two"]
    assert [f["index"] for f in records(path, "frame")] == list(range(len(records(path, "frame"))))
    assert all(f["t"] >= before and f["direction"] == "down" for f in frames)
    assert records(path, "close")[0]["seq"] == handshake["seq"]


def test_a_refused_handshake_is_recorded_with_its_answer(recorded) -> None:
    dl, path = recorded
    conversation = dl.start()
    refused = conversation.stream_url.split("t=")[0] + "t=not-a-ticket"
    with pytest.raises(InvalidStatus), dl.open_stream(refused):
        pass
    handshake = records(path, "websocket")[0]
    answer = next(r for r in records(path, "response") if r["seq"] == handshake["seq"])
    assert answer["status"] >= 400 and json.loads(answer["body"]["text"])["error"]["code"]


def test_a_late_send_is_recorded_when_it_arrives_and_answered_after_the_delay(recorded) -> None:
    dl, path = recorded
    conversation = dl.start()
    started = time.monotonic()
    response = dl.send(conversation.id, {**MESSAGE, "text": "#upstream:delay 1 abc"})
    assert response.status_code == 200
    assert time.monotonic() - started >= 1.0
    request, answer = records(path, "request")[1], records(path, "response")[1]
    assert answer["t"] - request["t"] >= 1.0  # recorded on arrival, answered a second later


def test_a_throttled_send_is_refused_once_with_retry_after(recorded) -> None:
    dl, path = recorded
    conversation = dl.start()
    throttled = {**MESSAGE, "text": "#upstream:429 2 abc"}
    first = dl.send(conversation.id, throttled)
    dl.assert_error(first, 429, "TooManyRequests")
    assert first.headers["retry-after"] == "2"
    assert first.headers["access-control-allow-origin"] == "*"
    assert dl.send(conversation.id, throttled).status_code == 200  # the retry goes through
    assert [r["status"] for r in records(path, "response")][1:] == [429, 200]


def test_a_failing_send_is_answered_502_bot_error(recorded) -> None:
    dl, _ = recorded
    conversation = dl.start()
    dl.assert_error(dl.send(conversation.id, {**MESSAGE, "text": "#upstream:502"}), 502, "BotError")
    dl.assert_error(dl.send(conversation.id, {**MESSAGE, "text": "#upstream:502"}), 502, "BotError")


def test_triggers_are_off_without_a_recording(make_server, client_for) -> None:
    dl = client_for(make_server())
    conversation = dl.start()
    assert dl.send(conversation.id, {**MESSAGE, "text": "#upstream:502"}).status_code == 200


def test_a_body_with_lone_surrogates_is_recorded(recorded) -> None:
    dl, path = recorded
    conversation = dl.start()
    raw = b'{"type": "message", "from": {"id": "user1"}, "text": "\\ud800 lone"}'
    dl.send(conversation.id, raw)
    assert "\ud800 lone" in records(path, "request")[1]["body"]["text"]


def test_serve_record_says_so_and_refuses_an_unwritable_file(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "conformance.cli", "serve", "--port", "0", "--secret", "s3cr3t",
         "--record", str(tmp_path / "missing" / "recording.jsonl")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "recording.jsonl" in result.stderr and "Traceback" not in result.stderr
