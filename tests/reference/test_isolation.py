"""A token is scoped to its conversation: it reaches no other."""

from __future__ import annotations


def test_a_token_of_a_cannot_use_b(client):
    a = client.start()
    b = client.start()
    refreshed = client.call("POST", "/tokens/refresh", auth=a.token).json()["token"]
    for token in (a.token, refreshed):
        client.assert_error(client.get(b.id, auth=token), 403, "BadArgument")
        message = {"type": "message", "from": {"id": "u"}, "text": "intruder"}
        client.assert_error(client.send(b.id, message, auth=token), 403, "BadArgument")
        client.assert_error(client.reconnect(b.id, auth=token), 403, "BadArgument")
        client.assert_error(client.upload(b.id, auth=token, content=b"x"), 403, "BadArgument")
    assert client.activities(b.id)["activities"] == []


def test_a_token_of_a_unknown_conversation_path_is_403_not_404(client):
    a = client.start()
    client.assert_error(client.get("unknown-ref", auth=a.token), 403, "BadArgument")


def test_a_generated_token_is_scoped_too(client):
    generated = client.call("POST", "/tokens/generate").json()
    other = client.start()
    client.assert_error(client.get(other.id, auth=generated["token"]), 403, "BadArgument")
