"""The live behaviour (`ServerConfig(behave="live")`): each departure of the hosted service that
docs/live-service.md records, reproduced on loopback; the § of each test is the doc's."""

from __future__ import annotations

import json
import re
import time
import uuid
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from websockets.exceptions import InvalidStatus

from conformance.reference import EmbeddedServer, ServerConfig
from conformance.reference.live import PLACEHOLDER_PATH, PLACEHOLDER_PNG

MESSAGE = {"type": "message", "from": {"id": "user1"}, "text": "hello"}
NO_MESSAGE_500 = b'{\r\n  "error": {\r\n    "code": "ServiceError"\r\n  }\r\n}'
"""§11: the captured over-limit answer had Content-Length 51; this body is 51 bytes."""


def pretty(value: object) -> bytes:
    """The live layout of an error body: two-space indent, CRLF line ends."""
    return json.dumps(value, indent=2).replace("\n", "\r\n").encode()


def error_body(code: str, message: str, **extra: object) -> dict:
    return {"error": {"code": code, "message": message}, **extra}


def assert_live_error(response: httpx.Response, status: int, body: dict) -> None:
    """Exactly this status and body, laid out the live way, with the live headers."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.content == pretty(body), response.content
    assert_live_headers(response.headers)


def assert_live_headers(headers: httpx.Headers) -> None:
    assert headers["cache-control"] == "no-cache"
    assert headers["pragma"] == "no-cache"
    assert headers["expires"] == "-1"
    assert headers["content-type"] == "application/json; charset=utf-8"
    assert headers["access-control-allow-origin"] == "*"
    assert re.fullmatch(r"\|[0-9a-f]{32}", headers["x-ms-request-id"]), headers


def claims(token: str) -> dict:
    """A token's claims, read without checking its signature (we only look at times)."""
    return jwt.decode(token, options={"verify_signature": False})


@pytest.fixture
def live(make_server, client_for):
    """A client of a fresh live server (0.5 s bot timeout, the rest at the live defaults)."""
    return client_for(make_server(behave="live"))


# Configuration -----------------------------------------------------------------------------


def test_live_defaults_follow_the_behaviour_and_explicit_values_win():
    live = ServerConfig(secret="s", behave="live")
    assert (live.token_lifetime, live.end_of_conversation) == (3600, "forward")  # §2, §7
    assert (live.stream_window, live.bot_timeout) == (60.0, 15.0)  # §5, §6
    reference = ServerConfig(secret="s")
    assert (reference.behave, reference.token_lifetime) == ("reference", 1800)
    assert reference.end_of_conversation == "refuse"
    assert ServerConfig(secret="s", behave="live", token_lifetime=7).token_lifetime == 7
    assert ServerConfig(secret="s", end_of_conversation="forward").token_lifetime == 1800


@pytest.mark.parametrize(
    ("fields", "complaint"),
    [
        ({"behave": "live", "end_of_conversation": "refuse"}, "forwards endOfConversation"),
        ({"behave": "hosted"}, "behave must be one of"),
        ({"transient_error_rate": 1.5}, "transient_error_rate"),
        ({"transient_error_rate": -0.1}, "transient_error_rate"),
        ({"transient_seed": "7"}, "transient_seed"),
    ],
)
def test_contradictory_or_malformed_settings_are_refused(fields, complaint):
    with pytest.raises(ValueError, match=complaint):
        ServerConfig(secret="s", **fields)


# §5: ids, answers, the streamUrl ----------------------------------------------------------


def test_ids_carry_a_region_suffix_and_activities_a_seven_digit_sequence(live):
    answer = live.call("POST", "/conversations").json()
    conversation_id = answer["conversationId"]
    assert re.fullmatch(r"[A-Za-z0-9]{22}-us", conversation_id), conversation_id
    assert answer["expires_in"] == 3600
    assert str(uuid.UUID(answer["referenceGrammarId"])) == answer["referenceGrammarId"]
    assert "eTag" not in answer
    posted = [live.message(conversation_id, f"m{n}") for n in range(3)]
    history = live.wait_for(conversation_id, lambda acts: len(acts) == 6)
    expected = [f"{conversation_id}|{n:07d}" for n in range(6)]
    assert [a["id"] for a in history] == expected
    assert posted == expected[0::2]  # each echo takes the next number
    page = live.activities(conversation_id, "2")
    assert page["watermark"] == "6" and [a["id"] for a in page["activities"]] == expected[2:]


def test_the_stream_url_replays_from_dash_with_a_ticket_that_lives_for_the_window(
    make_server, client_for
):
    dl = client_for(make_server(behave="live", stream_window=30))
    conversation = dl.start()
    url = urlsplit(conversation.stream_url)
    assert url.scheme == "ws" and url.netloc == urlsplit(dl.origin).netloc
    assert url.path == f"/v3/directline/conversations/{conversation.id}/stream"
    assert url.query.startswith("watermark=-&t=")
    ticket = parse_qs(url.query)["t"][0]
    assert ticket != conversation.token
    ticket_claims, token_claims = claims(ticket), claims(conversation.token)
    assert ticket_claims["exp"] - ticket_claims["iat"] == pytest.approx(30, abs=0.01)
    assert token_claims["exp"] - token_claims["iat"] == pytest.approx(3600, abs=0.01)
    first = dl.message(conversation.id, "before the socket")
    with dl.open_stream(conversation.stream_url) as ws:
        replayed = [a["id"] for a in dl.receive_activities(ws, 2)]
    assert replayed == [first, f"{conversation.id}|0000001"]
    reconnected = dl.reconnect(conversation.id, "1").json()
    assert "watermark=1&t=" in reconnected["streamUrl"]
    with dl.open_stream(reconnected["streamUrl"]) as ws:
        assert [a["text"] for a in dl.receive_activities(ws, 1)] == ["before the socket"]


def test_a_stale_ticket_is_refused_with_403_and_no_token_expired_code(make_server, client_for):
    dl = client_for(make_server(behave="live", stream_window=1.5))
    conversation = dl.start()
    time.sleep(1.7)
    with pytest.raises(InvalidStatus) as caught, dl.open_stream(conversation.stream_url):
        pass
    response = caught.value.response
    assert response.status_code == 403
    assert bytes(response.body) == pretty(error_body("BadArgument", "Invalid token or secret"))
    assert response.headers["pragma"] == "no-cache"
    assert response.headers["x-ms-request-id"].startswith("|")
    fresh = dl.reconnect(conversation.id).json()["streamUrl"]
    with dl.open_stream(fresh) as ws:
        dl.assert_silent(ws, 0.1)


# §6: the bot -------------------------------------------------------------------------------


def test_a_failing_bot_is_502_with_its_status(live):
    conversation = live.start()
    response = live.send(conversation.id, {**MESSAGE, "text": "#bot:error"})
    message = "Failed to send activity: bot returned an error"
    assert_live_error(response, 502, error_body("BotError", message, httpStatusCode=500))


def refusing_bot(status: int) -> Starlette:
    async def messages(request: Request) -> JSONResponse:
        activity = await request.json()
        return JSONResponse({}, status_code=200 if activity["type"] != "message" else status)

    return Starlette(routes=[Route("/api/messages", messages, methods=["POST"])])


def test_an_external_bots_own_status_is_passed_on(make_server, client_for):
    with EmbeddedServer(app=refusing_bot(417)) as bot:
        dl = client_for(make_server(behave="live", bot_url=f"{bot.origin}/api/messages"))
        conversation = dl.start()
        response = dl.send(conversation.id, MESSAGE)
    message = "Failed to send activity: bot returned an error"
    assert_live_error(response, 502, error_body("BotError", message, httpStatusCode=417))


def test_a_slow_bot_is_504_and_the_activity_and_late_reply_still_arrive(live):
    conversation = live.start()
    response = live.send(conversation.id, {**MESSAGE, "text": "#bot:slow"})
    message = "Failed to send activity: bot timed out"
    assert_live_error(response, 504, error_body("BotError", message, httpStatusCode=504))
    history = live.wait_for(conversation.id, lambda acts: len(acts) == 2, timeout=5)
    user, reply = history
    assert (user["text"], user["from"]["id"]) == ("#bot:slow", "user1")
    assert (reply["text"], reply["replyToId"], reply["from"]["role"]) == (
        "#bot:slow",
        user["id"],
        "bot",
    )


# §8, §11: size limits ----------------------------------------------------------------------


def test_an_activity_over_the_limit_is_500_service_error_without_message(live):
    conversation = live.start()
    response = live.send(conversation.id, {**MESSAGE, "text": "x" * 262_144})
    assert response.status_code == 500
    assert response.content == NO_MESSAGE_500 and len(response.content) == 51
    assert_live_headers(response.headers)
    assert live.activities(conversation.id)["activities"] == []


def test_an_upload_over_4_mb_is_500_and_one_at_the_limit_is_accepted(live):
    conversation = live.start()
    limit = 4 * 1024 * 1024
    headers = {"Content-Type": "application/octet-stream"}
    over = live.upload(conversation.id, content=b"\0" * (limit + 1), headers=headers)
    assert over.status_code == 500 and over.content == NO_MESSAGE_500
    assert over.headers["access-control-allow-origin"] == "*"
    under = live.upload(conversation.id, content=b"\0" * limit, headers=headers)
    assert under.status_code == 200, under.text


# §11: uploads --------------------------------------------------------------------------------


def test_the_bot_gets_a_tokenized_url_and_clients_the_placeholder(live):
    conversation = live.start()
    live.message(conversation.id, "first")
    data = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    headers = {"Content-Type": "image/png", "Content-Disposition": 'filename="eel one.png"'}
    with live.open_stream(conversation.stream_url) as ws:
        live.receive_activities(ws, 2)
        response = live.upload(conversation.id, "user1", content=data, headers=headers)
        assert response.status_code == 200, response.text
        uploaded_id = response.json()["id"]
        streamed = live.receive_activities(ws, 2)
    history = live.activities(conversation.id)["activities"]
    for view in (streamed, history[2:]):
        shown, echo = view
        assert shown["id"] == uploaded_id == f"{conversation.id}|0000002"
        assert (echo["id"], echo["replyToId"]) == (f"{conversation.id}|0000003", uploaded_id)
        [attachment] = shown["attachments"]
        assert attachment["contentUrl"] == live.origin + PLACEHOLDER_PATH
        assert (attachment["contentType"], attachment["name"]) == ("image/png", "eel one.png")
    # the echo bot repeats what it received: the URL only the bot was given
    [received] = history[3]["attachments"]
    url = urlsplit(received["contentUrl"])
    assert f"{url.scheme}://{url.netloc}" == live.origin
    assert url.path == f"/attachments/{conversation.id}/2/0/eel%20one.png"
    assert re.fullmatch(r"t=[A-Za-z0-9_\-]{32}", url.query), url.query
    # the placeholder itself is served by the stand-in: no run needs the internet
    image = live.http.get(live.origin + PLACEHOLDER_PATH)
    assert (image.status_code, image.content) == (200, PLACEHOLDER_PNG)
    served = httpx.get(received["contentUrl"], trust_env=False, timeout=5)
    assert served.status_code == 200 and served.content == data
    assert served.headers["content-type"] == "image/png"
    for query in ("", "?t=wrong"):
        missing = httpx.get(live.origin + url.path + query, trust_env=False, timeout=5)
        assert_live_error(missing, 404, error_body("BadArgument", "File not found"))


def test_attachments_a_client_links_itself_are_left_alone(live):
    conversation = live.start()
    attachment = {"contentType": "image/png", "contentUrl": "https://example.com/a.png"}
    live.message(conversation.id, "see", attachments=[attachment])
    [sent, _echo] = live.wait_for(conversation.id, lambda acts: len(acts) == 2)
    assert sent["attachments"] == [attachment]


# §5: error layout and headers; §13 CORS ------------------------------------------------------


def test_answers_carry_the_live_headers_and_a_request_id_each(live):
    conversation = live.start()
    first = live.get(conversation.id)
    second = live.get(conversation.id)
    for response in (first, second):
        assert response.status_code == 200
        assert_live_headers(response.headers)
        assert b"\r\n" not in response.content  # only error bodies are indented
    assert first.headers["x-ms-request-id"] != second.headers["x-ms-request-id"]
    preflight = live.call(
        "OPTIONS",
        f"/conversations/{conversation.id}/activities",
        auth=None,
        headers={"Origin": "https://a.example", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.headers["access-control-allow-origin"] == "*"


def test_unknown_paths_and_methods_are_laid_out_the_live_way(live):
    assert_live_error(live.call("GET", "/nowhere"), 404, error_body("NotFound", "Unknown path"))
    response = live.call("DELETE", "/conversations")
    assert response.status_code == 405 and response.content.startswith(b'{\r\n  "error": {\r\n')


# §1, §2, §3, §4: credentials -----------------------------------------------------------------


def test_credential_refusals_match_the_service(live):
    conversation = live.start()
    other = live.start()
    path = f"/conversations/{conversation.id}/activities"
    assert_live_error(
        live.call("GET", path, auth=None),
        401,
        error_body("BadArgument", "Missing token or secret"),
    )
    assert_live_error(
        live.call("POST", "/tokens/generate", auth="not-the-secret"),
        403,
        error_body("BadArgument", "Invalid token or secret"),
    )
    foreign = live.send(other.id, MESSAGE, auth=conversation.token)
    assert foreign.status_code == 403
    assert json.loads(foreign.content)["error"]["code"] == "BadArgument"
    assert_live_error(
        live.send("NoSuchConversation0000-us", MESSAGE),
        404,
        error_body("BadArgument", "Unknown conversation"),
    )


def test_an_expired_token_is_a_plain_403(make_server, client_for):
    dl = client_for(make_server(behave="live", token_lifetime=1))
    conversation = dl.start()
    time.sleep(1.2)
    expired = error_body("BadArgument", "Invalid token or secret")
    assert_live_error(dl.send(conversation.id, MESSAGE, auth=conversation.token), 403, expired)
    assert_live_error(dl.get(conversation.id, auth=conversation.token), 403, expired)
    refresh = dl.call("POST", "/tokens/refresh", auth=conversation.token)
    assert_live_error(refresh, 403, expired)


# §5, §8: the token's user --------------------------------------------------------------------


def test_the_tokens_user_replaces_from_and_a_missing_from_is_accepted(live):
    generated = live.call("POST", "/tokens/generate", json={"user": {"id": "dl_abc"}}).json()
    conversation = live.start(auth=generated["token"])
    token = conversation.token
    without_from = live.send(conversation.id, {"type": "message", "text": "no from"}, auth=token)
    assert without_from.status_code == 200, without_from.text
    live.message(conversation.id, "as user1", auth=token)
    history = live.activities(conversation.id)["activities"]
    sent = [a for a in history if a["from"].get("role") != "bot"]
    assert [(a["text"], a["from"]["id"]) for a in sent] == [
        ("no from", "dl_abc"),
        ("as user1", "dl_abc"),
    ]


# §7, §9, §12: endOfConversation, typing, keep-alive, getsessionid ----------------------------


def test_end_of_conversation_is_inert_from_either_side(live):
    conversation = live.start()
    eoc = {"type": "endOfConversation", "from": {"id": "user1"}}
    assert live.send(conversation.id, eoc).json()["id"] == f"{conversation.id}|0000000"
    live.message(conversation.id, "#bot:end")
    live.message(conversation.id, "still here")
    history = live.wait_for(conversation.id, lambda acts: len(acts) == 6)
    assert [(a["type"], a.get("text")) for a in history] == [
        ("endOfConversation", None),
        ("message", "#bot:end"),
        ("endOfConversation", None),
        ("message", "after the end"),
        ("message", "still here"),
        ("message", "still here"),
    ]


def test_typing_goes_to_the_stream_only_and_keepalives_are_empty_frames(make_server, client_for):
    dl = client_for(make_server(behave="live", keepalive_interval=0.2))
    conversation = dl.start()
    with dl.open_stream(conversation.stream_url) as ws:
        typing = dl.send(conversation.id, {"type": "typing", "from": {"id": "user1"}})
        assert typing.status_code == 200
        [streamed] = dl.receive_activities(ws, 1)
        assert streamed["type"] == "typing"
        assert ws.recv(timeout=2) == ""
    assert dl.activities(conversation.id) == {"activities": [], "watermark": "0"}


def test_getsessionid_without_trusted_origins_is_refused(live):
    response = live.call("GET", "/session/getsessionid")
    body = error_body("ServiceError", "Trusted Origin list is empty.")
    assert_live_error(response, 403, body)


def test_the_reference_behaviour_keeps_its_own_answers(client):
    """The live departures stay out of the default server."""
    conversation = client.start()
    assert conversation.id.endswith("-ref") and conversation.expires_in == 1800
    assert "watermark=0&t=" in conversation.stream_url
    response = client.send(conversation.id, {**MESSAGE, "text": "#bot:error"})
    assert json.loads(response.content) == error_body(
        "BotError", "Failed to send activity: bot returned an error"
    )
    assert b"\r\n" not in response.content and "pragma" not in response.headers
    assert client.call("GET", "/session/getsessionid").status_code == 200
