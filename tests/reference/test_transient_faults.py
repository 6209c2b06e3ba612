"""Transient faults for dry runs: a seeded fraction of polling and reconnect GETs answer 503
ServiceError once; nothing else is ever touched."""

from __future__ import annotations

import json

import pytest

from conformance.reference.faults import TransientFaults

MESSAGE = {"type": "message", "from": {"id": "user1"}, "text": "hi"}


def assert_transient(response) -> None:
    assert response.status_code == 503, (response.status_code, response.text)
    error = json.loads(response.content)["error"]
    assert error["code"] == "ServiceError"
    assert isinstance(error["message"], str) and error["message"]
    assert response.headers["access-control-allow-origin"] == "*"


def fault_pattern(dl, requests: int) -> list[bool]:
    """Poll `requests` times (retrying each refused poll once): which polls were refused."""
    conversation = dl.start()
    refused = []
    for _ in range(requests):
        first = dl.get(conversation.id)
        refused.append(first.status_code == 503)
        if first.status_code == 503:
            assert_transient(first)
            assert dl.get(conversation.id).status_code == 200  # the retry always passes
        else:
            assert first.status_code == 200
    return refused


def test_every_first_poll_and_reconnect_fails_once_at_rate_one(make_server, client_for):
    dl = client_for(make_server(transient_error_rate=1.0))
    conversation = dl.start()
    for call in (lambda: dl.get(conversation.id, "0"), lambda: dl.reconnect(conversation.id)):
        assert_transient(call())
        assert call().status_code == 200
        assert_transient(call())  # the next attempt draws again
    other_query = dl.get(conversation.id, "0")
    assert other_query.status_code == 200  # it retried the refused `watermark=0` poll
    assert_transient(dl.get(conversation.id))  # no query: another request


def test_posts_the_stream_and_other_paths_are_never_refused(make_server, client_for):
    dl = client_for(make_server(transient_error_rate=1.0))
    conversation = dl.start()
    assert dl.send(conversation.id, MESSAGE).status_code == 200
    assert dl.call("POST", "/tokens/refresh", auth=conversation.token).status_code == 200
    assert dl.call("GET", "/session/getsessionid").status_code == 200
    with dl.open_stream(conversation.stream_url) as ws:
        assert [a["text"] for a in dl.receive_activities(ws, 2)] == ["hi", "hi"]


def test_the_same_seed_fails_the_same_requests(make_server, client_for):
    patterns = {
        seed: [
            fault_pattern(client_for(make_server(transient_error_rate=0.3, transient_seed=s)), 60)
            for s in (seed, seed)
        ]
        for seed in (7, 8)
    }
    for first, second in patterns.values():
        assert first == second
        assert 5 <= sum(first) <= 35  # about 0.3 of 60
    assert patterns[7][0] != patterns[8][0]


def test_no_fault_without_a_rate(client):
    conversation = client.start()
    assert all(client.get(conversation.id).status_code == 200 for _ in range(50))


def test_the_live_behaviour_lays_the_fault_out_its_way(make_server, client_for):
    dl = client_for(make_server(behave="live", transient_error_rate=1.0))
    conversation = dl.start()
    response = dl.get(conversation.id)
    assert_transient(response)
    assert response.content.startswith(b'{\r\n  "error": {\r\n    "code": "ServiceError",')
    assert response.headers["pragma"] == "no-cache"


def test_refused_requests_awaiting_their_retry_are_bounded(monkeypatch):
    monkeypatch.setattr(TransientFaults, "remembered", 3)
    faults = TransientFaults(app=None, rate=1.0, seed=0)  # type: ignore[arg-type]
    assert [faults.should_fail(f"/r{n}") for n in range(5)] == [True] * 5
    assert faults.should_fail("/r0") is True  # forgotten: it draws again
    assert faults.should_fail("/r4") is False  # still awaiting its retry


@pytest.mark.parametrize("rate", [0.0, 1.0])
def test_the_rate_bounds_are_honoured(rate):
    faults = TransientFaults(app=None, rate=rate, seed=1)  # type: ignore[arg-type]
    assert {faults.should_fail(f"/r{n}") for n in range(100)} == {bool(rate)}
