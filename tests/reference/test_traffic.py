"""`serve --count FILE`: what clients made the server do, counted at the server and kept in FILE
after every request (the evidence a run's budget is judged by)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.reference.conftest import WAIT

MESSAGE = {"type": "message", "from": {"id": "user1"}, "text": "hi"}


def counted(path: Path) -> dict[str, int]:
    return dict(json.loads(path.read_text(encoding="utf-8")))


def test_every_request_conversation_stream_and_activity_is_counted(
    make_server, client_for, tmp_path: Path
) -> None:
    traffic = tmp_path / "traffic.json"
    dl = client_for(make_server(traffic_file=str(traffic)))
    assert counted(traffic) == {"requests": 0, "conversations": 0, "streams": 0, "activities": 0}
    conversation = dl.start()
    assert dl.send(conversation.id, MESSAGE).status_code == 200
    assert dl.send(conversation.id, b"{").status_code == 400  # refused: not an activity
    assert dl.get(conversation.id).status_code == 200
    with dl.open_stream(conversation.stream_url) as ws:
        dl.receive_activities(ws, 2)
    deadline = time.monotonic() + WAIT  # a stream is counted once the server has closed it
    while counted(traffic)["streams"] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert counted(traffic) == {"requests": 5, "conversations": 1, "streams": 1, "activities": 1}


def test_a_generated_token_and_its_start_are_one_conversation(
    make_server, client_for, tmp_path: Path
) -> None:
    traffic = tmp_path / "traffic.json"
    dl = client_for(make_server(traffic_file=str(traffic)))
    generated = dl.call("POST", "/tokens/generate")
    assert generated.status_code == 200
    token = generated.json()["token"]
    assert dl.call("POST", "/conversations", auth=token).status_code == 201
    assert dl.call("POST", "/conversations", auth=token).status_code == 200  # the same one
    dl.start()
    assert counted(traffic)["conversations"] == 2
    assert counted(traffic)["requests"] == 4
