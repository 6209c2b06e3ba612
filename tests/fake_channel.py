"""A fake Bot Framework channel for the test bot's tests: the connector routes a bot replies to,
and an OAuth token endpoint, on loopback, recording everything they are sent.

The conversation id steers the connector: one containing ``hang`` is answered only after
HANG_SECONDS (a channel that does not answer), one containing ``refuse`` gets a 500.
"""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from conformance.reference import EmbeddedServer

__all__ = ["FakeChannel", "Received", "TokenRequest"]

HANG_SECONDS = 4.0


@dataclass(frozen=True)
class Received:
    """One activity the bot posted to the connector."""

    raw_path: str
    conversation: str
    reply_to: str | None
    authorization: str | None
    activity: dict[str, Any]


@dataclass(frozen=True)
class TokenRequest:
    """One call of the token endpoint: its form fields."""

    form: dict[str, str]


class FakeChannel:
    """Connector routes + token endpoint; use as a context manager (it serves in a thread)."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.token_requests: list[TokenRequest] = []
        self.token_status = 200
        self.token_lifetime: int | str = 3600
        self._lock = threading.Lock()
        self._server = EmbeddedServer(app=self._app())
        self.origin = ""

    def __enter__(self) -> FakeChannel:
        self._server.start()
        assert self._server.origin is not None
        self.origin = self._server.origin
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()

    @property
    def service_url(self) -> str:
        return self.origin + "/"

    @property
    def token_url(self) -> str:
        return self.origin + "/token"

    def in_conversation(self, conversation: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.conversation == conversation]

    def _app(self) -> Starlette:
        async def connector(request: Request) -> JSONResponse:
            conversation = request.path_params["conversation"]  # decoded by Starlette
            raw = request.path_params.get("activity")
            if "hang" in conversation:
                await asyncio.sleep(HANG_SECONDS)
            if "refuse" in conversation:
                return JSONResponse({"error": {"code": "Refused"}}, status_code=500)
            entry = Received(
                raw_path=request.scope["raw_path"].decode(),
                conversation=conversation,
                reply_to=raw,
                authorization=request.headers.get("authorization"),
                activity=json.loads(await request.body()),
            )
            with self._lock:
                self.received.append(entry)
                number = len(self.received)
            return JSONResponse({"id": f"{conversation}|{number:07d}"})

        async def token(request: Request) -> JSONResponse:
            form = {k: str(v) for k, v in (await request.form()).items()}
            with self._lock:
                self.token_requests.append(TokenRequest(form))
                count = len(self.token_requests)
            if self.token_status != 200:
                return JSONResponse(
                    {
                        "error": "invalid_client",
                        "error_description": f"bad secret for {form.get('client_id')}",
                    },
                    status_code=self.token_status,
                )
            return JSONResponse(
                {
                    "token_type": "Bearer",
                    "expires_in": self.token_lifetime,
                    "access_token": f"fake-token-{count}",
                }
            )

        routes = [
            Route("/v3/conversations/{conversation}/activities", connector, methods=["POST"]),
            Route(
                "/v3/conversations/{conversation}/activities/{activity}",
                connector,
                methods=["POST"],
            ),
            Route("/token", token, methods=["POST"]),
        ]
        return Starlette(routes=routes)
