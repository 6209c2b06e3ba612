"""Browsers and the official client's extras: CORS (Web Chat runs in browsers) and
``GET /session/getsessionid`` (the newer Swagger; the official client's ``getSessionId``)."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from conformance.client import Conversation, DirectLineClient
from conformance.evidence import Exchange
from conformance.suite import expect, steps

requirement = pytest.mark.requirement
cost = pytest.mark.cost
#: A conversation to aim the requests at (shared with the error probes).
probes_lane = pytest.mark.lane("probes")

ORIGIN = "https://webchat.example.org"
#: The headers the official client sends across origins (as a browser lists them: lower case).
CLIENT_HEADERS = ("authorization", "content-type", "x-ms-bot-agent")


def preflight(client: DirectLineClient, path: str, method: str) -> Exchange:
    """The OPTIONS request a browser sends before a cross-origin ``method`` on ``path``."""
    return client.request(
        "OPTIONS",
        path,
        auth=None,
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": ",".join(CLIENT_HEADERS),
        },
    )


def listed(exchange: Exchange, header: str) -> set[str]:
    return {
        name.strip().lower() for name in (exchange.header(header) or "").split(",") if name.strip()
    }


@probes_lane
@cost(requests=3)
@requirement("DL-HTTP-001")
def test_cors_preflight_allows_the_official_client(
    dl_client: DirectLineClient, dl_conversation: Conversation
) -> None:
    """A CORS preflight is answered 2xx with Access-Control-Allow-Origin and allows the headers
    Authorization, Content-Type and x-ms-bot-agent."""
    activities = f"/conversations/{quote(dl_conversation.id, safe='')}/activities"
    for path, method in (("/conversations", "POST"), (activities, "POST"), (activities, "GET")):
        answer = preflight(dl_client, path, method)
        expect.status(answer, range(200, 300), what=f"CORS preflight of {method} {path}", api=False)
        allowed_origin = answer.header("access-control-allow-origin")
        expect.that(
            allowed_origin in ("*", ORIGIN),
            f"Access-Control-Allow-Origin: * or {ORIGIN}",
            f"Access-Control-Allow-Origin: {allowed_origin!r}",
            [answer],
        )
        allowed = listed(answer, "access-control-allow-headers")
        # A wildcard covers every header but Authorization, which must be named (Fetch standard).
        missing = [
            name
            for name in CLIENT_HEADERS
            if name not in allowed and not (name != "authorization" and "*" in allowed)
        ]
        expect.that(
            not missing,
            "Access-Control-Allow-Headers allowing " + ", ".join(CLIENT_HEADERS),
            f"Access-Control-Allow-Headers: {answer.header('access-control-allow-headers')!r}"
            f" (missing {', '.join(missing)})",
            [answer],
        )


@probes_lane
@cost(requests=1)
@requirement("DL-HTTP-002")
def test_getsessionid_answers_200_json(
    dl_client: DirectLineClient, dl_conversation: Conversation
) -> None:
    """``GET /session/getsessionid`` answers 200 with JSON (a MAY: informational)."""
    answer = dl_client.request(
        "GET", "/session/getsessionid", auth=steps.credential(dl_conversation)
    )
    expect.status(answer, 200, what="GET /session/getsessionid")
    expect.json_body(answer)
