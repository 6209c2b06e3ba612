"""Forwarding to an external bot over the Bot Framework connector protocol."""

from __future__ import annotations

import socket
from urllib.parse import quote

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from conformance.reference import EmbeddedServer


def connector_bot(received: list[dict], status: int = 200) -> Starlette:
    """A tiny bot: records what it gets, replies through serviceUrl, answers `status`."""

    async def messages(request: Request) -> JSONResponse:
        activity = await request.json()
        received.append(activity)
        base = activity["serviceUrl"] + "v3/conversations/" + quote(activity["conversation"]["id"])
        reply = {"type": "message", "from": {"id": "ext-bot", "name": "External"}}
        async with httpx.AsyncClient(trust_env=False, timeout=5) as http:
            if activity["type"] == "message" and status == 200:
                url = f"{base}/activities/{quote(activity['id'], safe='')}"
                await http.post(url, json={**reply, "text": "re: " + activity.get("text", "")})
            elif activity["type"] == "conversationUpdate" and len(activity["membersAdded"]) > 1:
                await http.post(f"{base}/activities", json={**reply, "text": "hello from outside"})
                typing = {"type": "typing", "from": {"id": "ext-bot"}}
                await http.post(f"{base}/activities", json=typing)
        return JSONResponse({}, status_code=status)

    return Starlette(routes=[Route("/api/messages", messages, methods=["POST"])])


@pytest.fixture
def external_bot():
    """Start a connector bot on loopback; yields (url, received activities)."""
    servers: list[EmbeddedServer] = []

    def start(status: int = 200) -> tuple[str, list[dict]]:
        received: list[dict] = []
        bot = EmbeddedServer(app=connector_bot(received, status))
        bot.start()
        servers.append(bot)
        return f"{bot.origin}/api/messages", received

    yield start
    for bot in servers:
        bot.stop()


def test_activities_go_to_the_bot_and_its_replies_come_back(external_bot, make_server, client_for):
    bot_url, received = external_bot()
    dl = client_for(make_server(bot_url=bot_url, bot_timeout=5))
    conversation = dl.start(json={"user": {"id": "dl_fwd"}})
    update = received[0]
    assert update["type"] == "conversationUpdate"
    assert [m["id"] for m in update["membersAdded"]] == ["reference-bot", "dl_fwd"]
    assert [a["text"] for a in dl.activities(conversation.id)["activities"]] == [
        "hello from outside"
    ]

    sent = dl.message(conversation.id, "hi bot", auth=conversation.token)
    forwarded = received[-1]
    assert forwarded["id"] == sent
    assert forwarded["serviceUrl"] == dl.origin + "/"
    assert forwarded["channelId"] == "directline"
    assert forwarded["conversation"]["id"] == conversation.id
    assert forwarded["recipient"]["id"] == "reference-bot"
    assert forwarded["from"]["id"] == "dl_fwd"
    reply = dl.activities(conversation.id)["activities"][-1]
    assert reply["text"] == "re: hi bot"
    assert reply["replyToId"] == sent
    assert reply["from"] == {"id": "ext-bot", "name": "External"}


def test_the_connector_routes_refuse_bad_input(make_server, client_for):
    dl = client_for(make_server())
    conversation = dl.start()
    connector = dl.origin + "/v3/conversations/"
    posted = dl.call(
        "POST",
        connector + conversation.id + "/activities",
        auth=None,
        json={"type": "message", "text": "pushed"},
    )
    assert posted.status_code == 200
    assert posted.json()["id"] == f"{conversation.id}|0000000"
    unknown = dl.call("POST", connector + "nope/activities", auth=None, json={"type": "message"})
    dl.assert_error(unknown, 404, "BadArgument")
    bad = dl.call("POST", connector + conversation.id + "/activities", auth=None, content=b"{")
    dl.assert_error(bad, 400, "BadArgument")
    update = {"type": "conversationUpdate", "membersAdded": []}
    dropped = dl.call("POST", connector + conversation.id + "/activities", auth=None, json=update)
    assert dropped.status_code == 200
    assert [a["text"] for a in dl.activities(conversation.id)["activities"]] == ["pushed"]


def test_a_bot_answering_500_is_502(external_bot, make_server, client_for):
    bot_url, received = external_bot(status=500)
    dl = client_for(make_server(bot_url=bot_url, bot_timeout=5))
    conversation = dl.start()
    response = dl.send(conversation.id, {"type": "message", "from": {"id": "u"}, "text": "x"})
    dl.assert_error(response, 502, "BotError")
    assert received[-1]["text"] == "x"
    assert [a["text"] for a in dl.activities(conversation.id)["activities"]] == ["x"]


def test_an_unreachable_bot_is_502(make_server, client_for):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dl = client_for(make_server(bot_url=f"http://127.0.0.1:{port}/api/messages"))
    conversation = dl.start()
    response = dl.send(conversation.id, {"type": "message", "from": {"id": "u"}, "text": "x"})
    dl.assert_error(response, 502, "BotError")
