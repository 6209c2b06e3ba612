"""HTTP around the operations: unknown paths, wrong methods, CORS, media types."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/nowhere"),
        ("POST", "/conversations/"),
        ("GET", "/conversations/abc/nothing"),
        ("POST", "/tokens"),
        ("GET", "/../v2/x"),
    ],
)
def test_an_unknown_path_is_404_with_an_error_body(client, method, path):
    client.assert_error(client.call(method, path), 404, "NotFound")


def test_unknown_paths_outside_the_base_are_404_too(client):
    client.assert_error(client.call("GET", client.origin + "/"), 404, "NotFound")
    client.assert_error(client.call("GET", client.origin + "/v3/other"), 404, "NotFound")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", "/conversations"),
        ("GET", "/conversations"),
        ("GET", "/tokens/generate"),
        ("PUT", "/conversations/abc/activities"),
        ("DELETE", "/conversations/abc"),
        ("GET", "/conversations/abc/upload"),
    ],
)
def test_a_wrong_method_is_405_with_an_error_body(client, method, path):
    response = client.call(method, path)
    client.assert_error(response, 405, "MethodNotAllowed")
    assert response.headers["allow"]


def test_cors_preflight_allows_the_official_clients_headers(client):
    headers = {
        "Origin": "https://chat.example.com",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type, x-ms-bot-agent, x-extra",
    }
    response = client.call("OPTIONS", "/conversations", auth=None, headers=headers)
    assert 200 <= response.status_code < 300
    assert response.headers["access-control-allow-origin"] == "*"
    allowed = {
        h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")
    }
    assert {"authorization", "content-type", "x-ms-bot-agent", "x-extra"} <= allowed
    assert "POST" in response.headers["access-control-allow-methods"]


def test_answers_and_errors_carry_the_cors_origin(client):
    headers = {"Origin": "https://chat.example.com"}
    ok = client.call("POST", "/conversations", headers=headers)
    assert ok.headers["access-control-allow-origin"] == "*"
    error = client.call("POST", "/conversations", auth="wrong", headers=headers)
    assert error.status_code == 403
    assert error.headers["access-control-allow-origin"] == "*"


def test_every_answer_of_an_operation_is_json(client):
    conversation = client.start()
    answers = [
        client.call("POST", "/tokens/generate"),
        client.call("POST", "/tokens/refresh", auth=conversation.token),
        client.call("POST", "/conversations"),
        client.reconnect(conversation.id),
        client.get(conversation.id),
        client.send(conversation.id, {"type": "message", "from": {"id": "u"}}),
        client.upload(conversation.id, content=b"x"),
    ]
    for response in answers:
        assert response.status_code in (200, 201), response.text
        assert response.headers["content-type"] == "application/json; charset=utf-8"
