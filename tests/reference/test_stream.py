"""The WebSocket stream: replay, live delivery, typing, keep-alives, the connect window."""

from __future__ import annotations

import json
import time

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus


def refused(client, url: str, status: int, code: str) -> None:
    """The handshake is refused with `status` and an ErrorResponse carrying `code`."""
    with pytest.raises(InvalidStatus) as caught, client.open_stream(url):
        pass
    response = caught.value.response
    assert response.status_code == status
    body = json.loads(bytes(response.body).decode("utf-8"))
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str)


def test_activities_sent_before_the_socket_opened_come_first(client):
    conversation = client.start()
    first = client.message(conversation.id, "one")
    second = client.message(conversation.id, "two")
    with client.open_stream(conversation.stream_url) as ws:
        sets = client.receive_sets(ws, 4)
        replayed = [a for s in sets for a in s["activities"]]
        assert [a["text"] for a in replayed] == ["one", "one", "two", "two"]
        assert [replayed[0]["id"], replayed[2]["id"]] == [first, second]
        assert sets[-1]["watermark"] == "4"
        assert all(isinstance(s["watermark"], str) for s in sets)
        third = client.message(conversation.id, "three")
        live = client.receive_sets(ws, 2)
    assert live[0]["activities"][0]["id"] == third
    assert live[-1]["watermark"] == "6"


def test_every_streamed_activity_is_available_by_get_under_the_same_id(client):
    conversation = client.start(json={"user": {"id": "dl_s"}})
    with client.open_stream(conversation.stream_url) as ws:
        client.message(conversation.id, "#bot:many 3")
        streamed = client.receive_activities(ws, 5)
        client.assert_silent(ws, 0.2)
    polled = client.activities(conversation.id)["activities"]
    assert [a["id"] for a in streamed] == [a["id"] for a in polled]
    assert len({a["id"] for a in streamed}) == 5
    assert [a["text"] for a in streamed] == ["Welcome!", "#bot:many 3", "1", "2", "3"]


def test_typing_reaches_the_stream_only(client):
    conversation = client.start()
    with client.open_stream(conversation.stream_url) as ws:
        response = client.send(conversation.id, {"type": "typing", "from": {"id": "u"}})
        [typing_set] = client.receive_sets(ws, 1)
    [typing] = typing_set["activities"]
    assert typing["type"] == "typing"
    assert typing["id"] == response.json()["id"]
    assert typing["from"]["id"] == "u"
    assert client.activities(conversation.id)["activities"] == []


def test_empty_and_other_client_frames_are_ignored(client):
    conversation = client.start()
    with client.open_stream(conversation.stream_url) as ws:
        ws.send("")
        ws.send("")
        ws.send('{"activities": []}')
        ws.send(b"\x00binary")
        sent = client.message(conversation.id, "still delivered")
        assert client.receive_activities(ws, 2)[0]["id"] == sent


def test_the_server_sends_empty_keepalive_frames(make_server, client_for):
    dl = client_for(make_server(keepalive_interval=0.1))
    conversation = dl.start()
    with dl.open_stream(conversation.stream_url) as ws:
        assert ws.recv(timeout=2) == ""
        assert ws.recv(timeout=2) == ""


def test_several_sockets_on_one_conversation_are_all_served(client):
    conversation = client.start()
    second_url = client.reconnect(conversation.id, "0").json()["streamUrl"]
    with client.open_stream(conversation.stream_url) as one, client.open_stream(second_url) as two:
        sent = client.message(conversation.id, "both")
        assert client.receive_activities(one, 2)[0]["id"] == sent
        assert client.receive_activities(two, 2)[0]["id"] == sent


def test_reconnect_with_a_watermark_replays_from_it(client):
    conversation = client.start()
    with client.open_stream(conversation.stream_url) as ws:
        client.message(conversation.id, "seen")
        watermark = client.receive_sets(ws, 2)[-1]["watermark"]
    missed = client.message(conversation.id, "missed while away")
    stream_url = client.reconnect(conversation.id, watermark).json()["streamUrl"]
    with client.open_stream(stream_url) as ws:
        replayed = client.receive_activities(ws, 2)
        client.assert_silent(ws, 0.2)
    assert replayed[0]["id"] == missed
    newer = client.activities(conversation.id, watermark)["activities"]
    assert [a["id"] for a in newer] == [a["id"] for a in replayed]


@pytest.mark.parametrize("watermark", [None, ""])
def test_reconnect_without_a_watermark_streams_only_what_comes_after(client, watermark):
    conversation = client.start()
    client.message(conversation.id, "old")
    stream_url = client.reconnect(conversation.id, watermark).json()["streamUrl"]
    with client.open_stream(stream_url) as ws:
        client.assert_silent(ws, 0.2)
        sent = client.message(conversation.id, "new")
        assert client.receive_activities(ws, 2)[0]["id"] == sent


def test_reconnect_with_a_dash_replays_everything(client):
    conversation = client.start()
    client.message(conversation.id, "old")
    stream_url = client.reconnect(conversation.id, "-").json()["streamUrl"]
    with client.open_stream(stream_url) as ws:
        assert [a["text"] for a in client.receive_activities(ws, 2)] == ["old", "old"]


def test_a_stream_never_carries_another_conversations_activities(client):
    mine = client.start()
    other = client.start()
    with client.open_stream(mine.stream_url) as ws:
        client.message(other.id, "not for you")
        client.assert_silent(ws, 0.3)


# Refusals ------------------------------------------------------------------------------------


def test_a_tampered_stream_token_is_refused(client):
    conversation = client.start()
    url, token = conversation.stream_url.split("t=", 1)
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    refused(client, f"{url}t={tampered}", 403, "BadArgument")


def test_a_stream_url_without_t_is_refused(client):
    conversation = client.start()
    refused(client, conversation.stream_url.split("&t=", 1)[0], 401, "BadArgument")


def test_a_stream_url_moved_to_another_conversation_is_refused(client):
    mine = client.start()
    other = client.start()
    refused(client, mine.stream_url.replace(mine.id, other.id), 403, "BadArgument")


def test_a_conversation_token_is_not_a_stream_token(client):
    conversation = client.start()
    url = conversation.stream_url.split("t=", 1)[0] + "t=" + conversation.token
    refused(client, url, 403, "BadArgument")


def test_an_unknown_websocket_path_is_refused_with_404(client):
    url = client.origin.replace("http://", "ws://") + "/v3/directline/nowhere"
    refused(client, url, 404, "NotFound")


def test_a_plain_get_of_the_stream_url_asks_for_an_upgrade(client):
    conversation = client.start()
    url = conversation.stream_url.replace("ws://", "http://")
    response = client.call("GET", url, auth=None)
    client.assert_error(response, 426, "BadArgument")


# The connect window (1.5 s) -------------------------------------------------------------------


def test_a_stream_url_connects_within_the_window_and_stays_open_past_it(short_client):
    dl = short_client
    issued = time.monotonic()
    conversation = dl.start()
    dl.wait_until(issued + 1.0)
    with dl.open_stream(conversation.stream_url) as ws:
        dl.wait_until(issued + 2.0)
        sent = dl.message(conversation.id, "after the window")
        assert dl.receive_activities(ws, 2)[0]["id"] == sent


def test_a_stream_url_is_refused_once_its_window_has_passed(short_client):
    dl = short_client
    issued = time.monotonic()
    conversation = dl.start()
    dl.wait_until(issued + 1.8)
    refused(dl, conversation.stream_url, 403, "TokenExpired")
    fresh = dl.reconnect(conversation.id).json()["streamUrl"]
    with dl.open_stream(fresh) as ws, pytest.raises(TimeoutError):
        ws.recv(timeout=0.1)


def test_a_closed_socket_is_cleaned_up(client):
    conversation = client.start()
    with client.open_stream(conversation.stream_url) as ws:
        ws.close()
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=1)
    assert client.message(conversation.id, "nobody listening")
