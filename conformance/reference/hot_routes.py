"""A lean ASGI path for the route clients hit in a loop: POST (send) and GET (poll) of
`/v3/directline/conversations/{id}/activities`.

Why: on a send, Starlette's router (a regular expression per route until one matches), its
Request and Response objects and its exception middleware cost about a fifth of the server's
CPU (benchmarks/side_by_side.py). This middleware sits innermost in the stack, so every other
middleware (CORS, the error guard, live headers, traffic counting, transient faults) still wraps
it. It calls the same `DirectLineService` methods as the Starlette handler in app.py (a mutant
overriding one still takes effect), answers the same bytes, and renders a refusal with the
service's `error_response`; an unexpected exception propagates to the error guard as before.
Everything else (other paths and methods, an app mounted under a root_path) goes on to
Starlette unchanged.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import QueryParams
from starlette.routing import compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

from .errors import DirectLineError
from .inbound import addressed_origin, receive_body
from .service import BASE_PATH, DirectLineService
from .wire import send_json

__all__ = ["ACTIVITIES_PATH", "HotRoutes"]

ACTIVITIES_PATH = BASE_PATH + "/conversations/{conversation_id}/activities"
#: The very expression Starlette's router matches that path with.
_ACTIVITIES = compile_path(ACTIVITIES_PATH)[0]


class HotRoutes:
    """ASGI middleware answering sends and polls itself, and passing on everything else."""

    def __init__(self, app: ASGIApp, service: DirectLineService) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            method = scope["method"]
            if method == "POST" or method == "GET":
                match = _ACTIVITIES.match(scope["path"])
                if match is not None:
                    try:
                        answer = await self.activities(scope, receive, method, match.group(1))
                    except DirectLineError as err:
                        await self.service.error_response(err)(scope, receive, send)
                        return
                    await send_json(send, answer)
                    return
        await self.app(scope, receive, send)

    async def activities(
        self, scope: Scope, receive: Receive, method: str, conversation_id: str
    ) -> dict[str, Any]:
        """What app.activities answers, in the same order of checks."""
        authorization, content_length, host = _headers(scope)
        service = self.service
        credential = service.authenticate(authorization)
        if method == "POST":
            limit = service.config.max_activity_chars * 4
            raw = await receive_body(receive, content_length, limit, "The activity")
            origin = addressed_origin(scope, host, service)
            return await service.post_activity(credential, conversation_id, raw, origin)
        query = scope.get("query_string", b"")
        watermark = QueryParams(query).get("watermark") if query else None
        return service.get_activities(credential, conversation_id, watermark)


def _headers(scope: Scope) -> tuple[str | None, str, str]:
    """Authorization (None when absent), Content-Length and Host ("" when absent): the first
    of each, as Starlette's Headers.get reads them (names arrive lower-cased)."""
    authorization: str | None = None
    content_length: str | None = None
    host: str | None = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            if authorization is None:
                authorization = value.decode("latin-1")
        elif name == b"content-length":
            if content_length is None:
                content_length = value.decode("latin-1")
        elif name == b"host" and host is None:
            host = value.decode("latin-1")
    return authorization, content_length or "", host or ""
