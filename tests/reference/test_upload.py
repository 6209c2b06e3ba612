"""Upload: a raw single file, multipart with and without an activity part, served bytes."""

from __future__ import annotations

import json

import httpx
import pytest

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
BOUNDARY = "----reference-test-boundary"


def multipart(*parts: tuple[dict[str, str], bytes]) -> tuple[bytes, dict[str, str]]:
    """A multipart/form-data body from (headers, data) parts, built by hand."""
    chunks = []
    for headers, data in parts:
        lines = [f"--{BOUNDARY}"] + [f"{k}: {v}" for k, v in headers.items()]
        chunks.append("\r\n".join(lines).encode("utf-8") + b"\r\n\r\n" + data + b"\r\n")
    body = b"".join(chunks) + f"--{BOUNDARY}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


def file_part(name: str, content_type: str, data: bytes) -> tuple[dict[str, str], bytes]:
    disposition = f'form-data; name="file"; filename="{name}"'
    return {"Content-Disposition": disposition, "Content-Type": content_type}, data


def activity_part(activity: dict) -> tuple[dict[str, str], bytes]:
    headers = {
        "Content-Disposition": 'form-data; name="activity"; filename="blob"',
        "Content-Type": "application/vnd.microsoft.activity",
    }
    return headers, json.dumps(activity).encode()


def _uploaded(client, conversation_id, activity_id):
    return {a["id"]: a for a in client.activities(conversation_id)["activities"]}[activity_id]


def test_a_single_raw_file_becomes_a_message_with_one_attachment(client):
    conversation = client.start()
    headers = {
        "Content-Type": "image/png",
        "Content-Disposition": 'name="file"; filename="eel.png"',
    }
    response = client.upload(conversation.id, "user7", content=PNG, headers=headers)
    assert response.status_code == 200
    activity = _uploaded(client, conversation.id, response.json()["id"])
    assert activity["type"] == "message"
    assert activity["from"]["id"] == "user7"
    [attachment] = activity["attachments"]
    assert attachment["contentType"] == "image/png"
    assert attachment["name"] == "eel.png"
    served = httpx.get(attachment["contentUrl"], trust_env=False, timeout=5)
    assert served.status_code == 200
    assert served.content == PNG
    assert served.headers["content-type"] == "image/png"


def test_a_raw_file_name_may_come_as_filename_star(client):
    conversation = client.start()
    headers = {
        "Content-Type": "text/plain; charset=utf-8",
        "Content-Disposition": (
            "attachment; filename=\"fallback.txt\"; filename*=UTF-8''r%C3%A9sum%C3%A9.txt"
        ),
    }
    response = client.upload(conversation.id, content="héllo".encode(), headers=headers)
    attachment = _uploaded(client, conversation.id, response.json()["id"])["attachments"][0]
    assert attachment["name"] == "résumé.txt"
    assert attachment["contentType"] == "text/plain; charset=utf-8"
    assert httpx.get(attachment["contentUrl"], trust_env=False).content == "héllo".encode()


def test_multipart_with_an_activity_part_sends_that_activity_with_every_file(client):
    conversation = client.start()
    text = "Hey I just IM'd you\n\nand this is crazy"
    body, headers = multipart(
        file_part("one.png", "image/png", PNG),
        activity_part(
            {"type": "message", "from": {"id": "user1"}, "text": text, "channelData": {"k": 1}}
        ),
        file_part("two.txt", "text/plain", b"second"),
    )
    response = client.upload(conversation.id, "user1", content=body, headers=headers)
    assert response.status_code == 200
    activity = _uploaded(client, conversation.id, response.json()["id"])
    assert activity["text"] == text
    assert activity["channelData"] == {"k": 1}
    assert [(a["name"], a["contentType"]) for a in activity["attachments"]] == [
        ("one.png", "image/png"),
        ("two.txt", "text/plain"),
    ]
    contents = [
        httpx.get(a["contentUrl"], trust_env=False).content for a in activity["attachments"]
    ]
    assert contents == [PNG, b"second"]


def test_multipart_without_an_activity_part_wraps_the_files_in_an_empty_message(client):
    conversation = client.start()
    body, headers = multipart(file_part("a.bin", "application/octet-stream", b"\x00\x01"))
    response = client.upload(conversation.id, "user9", content=body, headers=headers)
    activity = _uploaded(client, conversation.id, response.json()["id"])
    assert activity["type"] == "message"
    assert activity["from"]["id"] == "user9"
    assert "text" not in activity
    assert [a["name"] for a in activity["attachments"]] == ["a.bin"]


def test_the_official_clients_form_yields_one_attachment_per_file(client):
    conversation = client.start()
    declared = [
        {"contentType": "image/png", "name": "p.png"},
        {"contentType": "text/plain", "name": "t.txt"},
    ]
    activity = {
        "type": "message",
        "from": {"id": "user1"},
        "text": "files",
        "attachments": declared,
    }
    body, headers = multipart(
        activity_part(activity),
        file_part("p.png", "image/png", PNG),
        file_part("t.txt", "text/plain", b"text"),
    )
    response = client.upload(conversation.id, "user1", content=body, headers=headers)
    stored = _uploaded(client, conversation.id, response.json()["id"])
    assert len(stored["attachments"]) == 2
    assert [a["name"] for a in stored["attachments"]] == ["p.png", "t.txt"]
    assert all(a["contentUrl"].startswith(client.origin) for a in stored["attachments"])


def test_the_bot_receives_the_upload_and_echoes_its_attachments(client):
    conversation = client.start()
    body, headers = multipart(file_part("a.png", "image/png", PNG))
    sent = client.upload(conversation.id, content=body, headers=headers).json()["id"]
    reply = client.activities(conversation.id)["activities"][-1]
    assert reply["replyToId"] == sent
    assert reply["attachments"] == _uploaded(client, conversation.id, sent)["attachments"]


def test_a_token_user_overrides_user_id(client):
    conversation = client.start(json={"user": {"id": "dl_owner"}})
    response = client.upload(
        conversation.id,
        "someone-else",
        auth=conversation.token,
        content=b"x",
        headers={"Content-Type": "text/plain"},
    )
    assert _uploaded(client, conversation.id, response.json()["id"])["from"]["id"] == "dl_owner"


@pytest.mark.parametrize("user_id", [None, ""])
def test_upload_without_user_id_is_400(client, user_id):
    conversation = client.start()
    response = client.upload(conversation.id, user_id, content=b"x")
    client.assert_error(response, 400, "MissingProperty")
    assert client.activities(conversation.id)["activities"] == []


@pytest.mark.parametrize(
    "body_and_type",
    [
        (b"--x\r\n", "multipart/form-data"),
        (b"garbage", f"multipart/form-data; boundary={BOUNDARY}"),
        (b"", "application/octet-stream"),
    ],
    ids=["no-boundary", "no-parts", "empty-file"],
)
def test_a_malformed_upload_is_400(client, body_and_type):
    body, content_type = body_and_type
    conversation = client.start()
    response = client.upload(conversation.id, content=body, headers={"Content-Type": content_type})
    client.assert_error(response, 400, "BadArgument")


def test_two_activity_parts_or_a_bad_activity_part_are_400(client):
    conversation = client.start()
    part = activity_part({"type": "message"})
    for parts in (
        [part, part],
        [({"Content-Type": "application/vnd.microsoft.activity"}, b"{oops")],
    ):
        body, headers = multipart(*parts, file_part("a.txt", "text/plain", b"a"))
        response = client.upload(conversation.id, content=body, headers=headers)
        client.assert_error(response, 400)
    wrong_type = activity_part({"type": "message", "text": 5})
    body, headers = multipart(wrong_type, file_part("a.txt", "text/plain", b"a"))
    client.assert_error(client.upload(conversation.id, content=body, headers=headers), 400)


def test_an_upload_over_the_limit_is_413(make_server, client_for):
    dl = client_for(make_server(max_upload_bytes=4096))
    conversation = dl.start()
    response = dl.upload(
        conversation.id, content=b"x" * 5000, headers={"Content-Type": "text/plain"}
    )
    dl.assert_error(response, 413, "MessageSizeTooBig")
    assert dl.upload(conversation.id, content=b"x" * 4000).status_code == 200


def test_an_unknown_attachment_is_404(client):
    response = client.call("GET", "/attachments/not-a-key/file.png", auth=None)
    client.assert_error(response, 404, "BadArgument")


def test_upload_to_an_unknown_conversation_is_404(client):
    response = client.upload("unknown-ref", content=b"x", headers={"Content-Type": "text/plain"})
    client.assert_error(response, 404, "BadArgument")
