"""Credentials and tokens: the Authorization header, generate, refresh, expiry."""

from __future__ import annotations

import time

import jwt
import pytest


def _operations(client, conversation_id):
    """(method, path, kwargs) of every authenticated operation."""
    base = f"/conversations/{conversation_id}"
    return [
        ("POST", "/tokens/generate", {}),
        ("POST", "/tokens/refresh", {}),
        ("POST", "/conversations", {}),
        ("GET", base, {}),
        ("GET", base + "/activities", {}),
        ("POST", base + "/activities", {"json": {"type": "message", "from": {"id": "u"}}}),
        ("POST", base + "/upload", {"params": {"userId": "u"}, "content": b"x"}),
    ]


def test_missing_authorization_is_401_on_every_operation(client):
    conversation = client.start()
    for method, path, kwargs in _operations(client, conversation.id):
        response = client.call(method, path, auth=None, **kwargs)
        client.assert_error(response, 401, "BadArgument")


@pytest.mark.parametrize(
    "header",
    ["Basic dXNlcjpwYXNz", "Bearer", "Bearer a b", "reference-test-secret", "Token x", ""],
)
def test_malformed_authorization_is_401(client, header):
    response = client.call("POST", "/conversations", auth=None, headers={"Authorization": header})
    client.assert_error(response, 401, "BadArgument")


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "Bearer"])
def test_bearer_scheme_is_case_insensitive(client, scheme):
    headers = {"Authorization": f"{scheme} {client.secret}"}
    response = client.call("POST", "/conversations", auth=None, headers=headers)
    assert response.status_code == 201, response.text


def test_unknown_secret_or_token_is_403(client):
    conversation = client.start()
    for method, path, kwargs in _operations(client, conversation.id):
        response = client.call(method, path, auth="not-a-real-secret", **kwargs)
        client.assert_error(response, 403, "BadArgument")


def test_forged_token_is_403(client):
    conversation = client.start()
    claims = jwt.decode(conversation.token, options={"verify_signature": False})
    forged = jwt.encode(claims, "guessed-key-" + "x" * 32, algorithm="HS256")
    client.assert_error(client.get(conversation.id, auth=forged), 403, "BadArgument")


def test_secret_works_on_every_operation(client):
    conversation = client.start()
    assert client.message(conversation.id, "hello")
    assert client.activities(conversation.id)["activities"]
    assert client.reconnect(conversation.id).status_code == 200
    assert client.upload(conversation.id, content=b"data").status_code == 200


def test_start_token_works_on_every_operation(client):
    conversation = client.start()
    token = conversation.token
    assert client.message(conversation.id, "hello", auth=token)
    assert client.activities(conversation.id, auth=token)["activities"]
    assert client.reconnect(conversation.id, auth=token).status_code == 200
    assert client.upload(conversation.id, content=b"data", auth=token).status_code == 200


# Generate ------------------------------------------------------------------------------------


def test_generate_answers_a_token_without_stream_url(client):
    response = client.call("POST", "/tokens/generate")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"conversationId", "token", "expires_in"}
    assert isinstance(body["conversationId"], str) and body["conversationId"]
    assert isinstance(body["token"], str) and body["token"]
    assert body["expires_in"] == 1800


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"content": b""},
        {"content": b"   "},
        {"content": b"null"},
        {"json": {}},
        {"json": {"user": {"id": "dl_abc", "name": "Ann"}}},
        {"json": {"User": {"Id": "dl_abc"}}},
        {"json": {"trustedOrigins": ["https://example.com"], "eTag": "x"}},
        {"json": {"user": {"id": ""}}},
    ],
    ids=["none", "empty", "blank", "null", "object", "user", "User-Id", "origins", "empty-id"],
)
def test_generate_accepts_no_body_and_token_parameters(client, kwargs):
    response = client.call("POST", "/tokens/generate", **kwargs)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "body",
    [
        b'{"user":',
        b"[1, 2]",
        b'"text"',
        b'{"user": "dl_x"}',
        b'{"user": {"id": 5}}',
        b'{"user": {"id": "dl_x", "name": 3}}',
        b'{"user": {"id": "dl_x", "role": -520}}',
        b'{"User": {"Id": "dl_x", "AadObjectId": []}}',
        b'{"trustedOrigins": "https://x"}',
        b'{"trustedOrigins": [1]}',
        b'{"eTag": 1}',
        b"\xff\xfe",
        b"\x0b",
        b"\x0c\x1c",
    ],
)
def test_generate_refuses_malformed_token_parameters(client, body):
    response = client.call("POST", "/tokens/generate", content=body)
    client.assert_error(response, 400, "BadArgument")


def test_each_generate_makes_a_new_conversation(client):
    first = client.call("POST", "/tokens/generate").json()
    second = client.call("POST", "/tokens/generate").json()
    assert first["conversationId"] != second["conversationId"]
    assert first["token"] != second["token"]


def test_generate_with_a_token_is_403(client):
    token = client.call("POST", "/tokens/generate").json()["token"]
    client.assert_error(client.call("POST", "/tokens/generate", auth=token), 403, "BadArgument")


def test_generated_token_starts_exactly_its_conversation(client):
    generated = client.call("POST", "/tokens/generate").json()
    response = client.call("POST", "/conversations", auth=generated["token"])
    assert response.status_code == 201
    assert response.json()["conversationId"] == generated["conversationId"]
    assert "streamUrl" in response.json()
    again = client.call("POST", "/conversations", auth=generated["token"])
    assert again.status_code == 200
    assert again.json()["conversationId"] == generated["conversationId"]


def test_generated_user_is_the_from_of_every_send(client):
    body = {"User": {"Id": "dl_bound", "Name": "Bound"}}
    generated = client.call("POST", "/tokens/generate", json=body).json()
    started = client.call("POST", "/conversations", auth=generated["token"]).json()
    token = started["token"]
    conversation_id = started["conversationId"]
    forged = client.message(conversation_id, "who am I", auth=token, **{"from": {"id": "other"}})
    anonymous = client.send(conversation_id, {"type": "message", "text": "no from"}, auth=token)
    assert anonymous.status_code == 200
    activities = client.activities(conversation_id)["activities"]
    by_id = {a["id"]: a for a in activities}
    assert by_id[forged]["from"]["id"] == "dl_bound"
    assert by_id[anonymous.json()["id"]]["from"]["id"] == "dl_bound"
    assert all(a["from"]["id"] != "other" for a in activities)


# Refresh -------------------------------------------------------------------------------------


def test_refresh_answers_a_new_token_for_the_same_conversation(client):
    conversation = client.start(json={"user": {"id": "dl_refresh"}})
    token = conversation.token
    for _ in range(3):
        response = client.call("POST", "/tokens/refresh", auth=token)
        assert response.status_code == 200
        body = response.json()
        assert body["conversationId"] == conversation.id
        assert isinstance(body["expires_in"], int) and body["expires_in"] > 0
        assert body["token"] != token
        token = body["token"]
    sent = client.message(conversation.id, "after refresh", auth=token, **{"from": {"id": "x"}})
    activities = client.activities(conversation.id, auth=token)["activities"]
    assert [a["from"]["id"] for a in activities if a["id"] == sent] == ["dl_refresh"]


def test_refresh_with_the_secret_is_403(client):
    client.assert_error(client.call("POST", "/tokens/refresh"), 403, "BadArgument")


def test_refresh_without_credential_is_401(client):
    client.assert_error(client.call("POST", "/tokens/refresh", auth=None), 401, "BadArgument")


def test_a_stream_token_is_not_a_credential(client):
    conversation = client.start()
    stream_token = conversation.stream_url.split("t=", 1)[1]
    client.assert_error(client.get(conversation.id, auth=stream_token), 403, "BadArgument")
    refresh = client.call("POST", "/tokens/refresh", auth=stream_token)
    client.assert_error(refresh, 403, "BadArgument")


# Expiry (2 s tokens) -----------------------------------------------------------------------


def test_token_lives_its_lifetime_then_expires_and_refresh_renews_it(short_client):
    dl = short_client
    issued = time.monotonic()
    conversation = dl.start()
    assert conversation.expires_in == 2

    dl.wait_until(issued + 1.2)
    assert dl.get(conversation.id, auth=conversation.token).status_code == 200
    refreshed = dl.call("POST", "/tokens/refresh", auth=conversation.token)
    assert refreshed.status_code == 200
    new_token = refreshed.json()["token"]

    dl.wait_until(issued + 2.4)
    old = conversation.token
    dl.assert_error(dl.get(conversation.id, auth=old), 403, "TokenExpired")
    dl.assert_error(dl.call("POST", "/tokens/refresh", auth=old), 403, "TokenExpired")
    dl.assert_error(dl.send(conversation.id, {"type": "message"}, auth=old), 403, "TokenExpired")
    dl.assert_error(dl.reconnect(conversation.id, auth=old), 403, "TokenExpired")
    assert dl.get(conversation.id, auth=new_token).status_code == 200
