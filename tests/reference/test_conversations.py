"""Start, start again, the welcome, reconnect, getsessionid."""

from __future__ import annotations

import pytest


def test_start_with_the_secret_answers_201_and_a_conversation(client):
    response = client.call("POST", "/conversations")
    assert response.status_code == 201
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert isinstance(body["conversationId"], str) and body["conversationId"]
    assert isinstance(body["token"], str) and body["token"]
    assert type(body["expires_in"]) is int and body["expires_in"] > 0
    stream_url = body["streamUrl"]
    assert stream_url.startswith("ws://127.0.0.1:")
    assert f"/v3/directline/conversations/{body['conversationId']}/stream?" in stream_url
    assert "t=" in stream_url


def test_each_start_with_the_secret_is_a_new_conversation(client):
    assert client.start().id != client.start().id


def test_start_accepts_the_official_clients_body(client):
    body = {"user": {"id": "dl_official"}, "locale": "en-US"}
    conversation = client.start(json=body)
    sent = client.message(conversation.id, "hi", auth=conversation.token, **{"from": {"id": "z"}})
    activities = client.activities(conversation.id)["activities"]
    assert [a["from"]["id"] for a in activities if a["id"] == sent] == ["dl_official"]


@pytest.mark.parametrize("body", [b"{", b"[]", b'{"user": 1}'])
def test_start_refuses_a_malformed_body(client, body):
    client.assert_error(client.call("POST", "/conversations", content=body), 400, "BadArgument")


def test_start_again_with_the_start_token_is_200_and_creates_nothing(client):
    conversation = client.start(json={"user": {"id": "dl_again"}})
    history = client.wait_for(conversation.id, lambda a: len(a) == 1)
    for token in (
        conversation.token,
        client.call("POST", "/tokens/refresh", auth=conversation.token).json()["token"],
    ):
        response = client.call("POST", "/conversations", auth=token)
        assert response.status_code == 200
        body = response.json()
        assert body["conversationId"] == conversation.id
        assert body["streamUrl"] and body["token"]
    assert client.activities(conversation.id)["activities"] == history


def test_start_with_a_known_user_is_welcomed(client):
    conversation = client.start(json={"user": {"id": "dl_welcome", "name": "Wendy"}})
    activities = client.activities(conversation.id)["activities"]
    assert [a["text"] for a in activities] == ["Welcome!"]
    welcome = activities[0]
    assert welcome["from"]["id"] == "reference-bot"
    assert welcome["from"]["role"] == "bot"
    assert welcome["recipient"]["id"] == "dl_welcome"
    assert "replyToId" not in welcome


def test_generated_user_is_welcomed_when_the_token_starts(client):
    generated = client.call("POST", "/tokens/generate", json={"user": {"id": "dl_gen"}}).json()
    assert client.activities(generated["conversationId"])["activities"] == []
    client.call("POST", "/conversations", auth=generated["token"])
    activities = client.activities(generated["conversationId"])["activities"]
    assert [a["text"] for a in activities] == ["Welcome!"]


def test_start_without_a_user_is_not_welcomed(client):
    conversation = client.start()
    assert client.activities(conversation.id) == {"activities": [], "watermark": "0"}


def test_conversation_update_never_reaches_the_client(client):
    conversation = client.start(json={"user": {"id": "dl_cu"}})
    client.message(conversation.id, "hello")
    with client.open_stream(conversation.stream_url) as ws:
        streamed = client.receive_activities(ws, 3)
    polled = client.activities(conversation.id)["activities"]
    assert all(a["type"] != "conversationUpdate" for a in streamed + polled)


# Reconnect -----------------------------------------------------------------------------------


def test_reconnect_with_secret_and_token(client):
    conversation = client.start()
    client.message(conversation.id, "before")
    for auth in (client.secret, conversation.token):
        response = client.reconnect(conversation.id, auth=auth)
        assert response.status_code == 200
        body = response.json()
        assert body["conversationId"] == conversation.id
        assert body["token"] and body["streamUrl"].startswith("ws://")
        assert isinstance(body["expires_in"], int)
        assert client.message(conversation.id, "with the reconnect token", auth=body["token"])
    texts = [a.get("text") for a in client.activities(conversation.id)["activities"]]
    assert texts[0] == "before"


def test_reconnect_to_an_unknown_conversation_is_404(client):
    client.assert_error(client.reconnect("nope-ref"), 404, "BadArgument")


@pytest.mark.parametrize("watermark", ["zzz", "99", "-1", "1.5", " 1", "0x1", "１"])
def test_reconnect_with_a_watermark_never_issued_is_400(client, watermark):
    conversation = client.start()
    client.message(conversation.id, "one")
    client.assert_error(client.reconnect(conversation.id, watermark), 400, "BadArgument")


@pytest.mark.parametrize("watermark", ["", "-", "0", "2"])
def test_reconnect_accepts_issued_empty_and_dash_watermarks(client, watermark):
    conversation = client.start()
    client.message(conversation.id, "one")
    response = client.reconnect(conversation.id, watermark)
    assert response.status_code == 200, response.text


def test_get_session_id(client):
    response = client.call("GET", "/session/getsessionid")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert isinstance(response.json()["sessionId"], str)
