"""endOfConversation under both readings: refuse (the default) and forward."""

from __future__ import annotations

import pytest

EOC = {"type": "endOfConversation", "from": {"id": "user1"}, "code": "userCancelled", "text": "bye"}


def test_client_eoc_is_recorded_then_sends_are_refused_with_409(client):
    conversation = client.start()
    client.message(conversation.id, "before")
    with client.open_stream(conversation.stream_url) as ws:
        client.receive_activities(ws, 2)
        response = client.send(conversation.id, EOC)
        assert response.status_code == 200
        eoc_id = response.json()["id"]
        streamed = client.receive_activities(ws, 1)
    assert streamed[0]["id"] == eoc_id and streamed[0]["type"] == "endOfConversation"

    before = client.activities(conversation.id)
    ended = before["activities"][-1]
    assert ended["id"] == eoc_id
    assert (ended["code"], ended["text"]) == ("userCancelled", "bye")

    message = {"type": "message", "from": {"id": "user1"}, "text": "after"}
    for auth in (client.secret, conversation.token):
        client.assert_error(
            client.send(conversation.id, message, auth=auth), 409, "ConversationEnded"
        )
    typing = {"type": "typing", "from": {"id": "user1"}}
    client.assert_error(client.send(conversation.id, typing), 409, "ConversationEnded")
    client.assert_error(client.send(conversation.id, EOC), 409, "ConversationEnded")
    upload = client.upload(conversation.id, content=b"file", headers={"Content-Type": "text/plain"})
    client.assert_error(upload, 409, "ConversationEnded")
    assert client.activities(conversation.id) == before


def test_after_the_end_reading_still_works(client):
    conversation = client.start()
    eoc_id = client.send(conversation.id, EOC).json()["id"]
    assert client.reconnect(conversation.id, "0").status_code == 200
    again = client.call("POST", "/conversations", auth=conversation.token)
    assert again.status_code == 200
    with client.open_stream(again.json()["streamUrl"]) as ws:
        client.assert_silent(ws, 0.2)
    stream_url = client.reconnect(conversation.id, "0").json()["streamUrl"]
    with client.open_stream(stream_url) as ws:
        assert [a["id"] for a in client.receive_activities(ws, 1)] == [eoc_id]


def test_the_bots_eoc_ends_it_and_its_later_message_is_dropped(client):
    conversation = client.start()
    sent = client.message(conversation.id, "#bot:end")
    activities = client.activities(conversation.id)["activities"]
    assert [a["type"] for a in activities] == ["message", "endOfConversation"]
    assert activities[1]["code"] == "completedSuccessfully"
    assert activities[1]["from"]["id"] == "reference-bot"
    assert activities[1]["replyToId"] == sent
    assert all(a.get("text") != "after the end" for a in activities)
    response = client.send(conversation.id, {"type": "message", "from": {"id": "u"}, "text": "x"})
    client.assert_error(response, 409, "ConversationEnded")


def test_the_end_of_one_conversation_does_not_affect_another(client):
    ended = client.start()
    other = client.start()
    client.send(ended.id, EOC)
    assert client.message(other.id, "still open")


@pytest.fixture
def forward_client(make_server, client_for):
    return client_for(make_server(end_of_conversation="forward"))


def test_forward_reading_records_eoc_and_goes_on(forward_client):
    dl = forward_client
    conversation = dl.start()
    eoc = dl.send(conversation.id, EOC)
    assert eoc.status_code == 200
    assert dl.message(conversation.id, "after the client's end")
    dl.message(conversation.id, "#bot:end")
    texts = [(a["type"], a.get("text")) for a in dl.activities(conversation.id)["activities"]]
    assert texts == [
        ("endOfConversation", "bye"),
        ("message", "after the client's end"),
        ("message", "after the client's end"),
        ("message", "#bot:end"),
        ("endOfConversation", None),
        ("message", "after the end"),
    ]
    upload = dl.upload(conversation.id, content=b"f", headers={"Content-Type": "text/plain"})
    assert upload.status_code == 200
