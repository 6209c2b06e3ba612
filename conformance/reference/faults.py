"""Transient faults for dry runs: a seeded fraction of polling and reconnect GETs fail once.

The hosted service answers the odd 500/503 ServiceError and tells clients to retry with backoff
(docs/live-service.md §6). `TransientFaults` lets a client, or the suite, rehearse that against a
server on loopback: each GET of `/conversations/{id}` (reconnect) or
`/conversations/{id}/activities` (polling) is refused with 503 ServiceError with probability
`rate`, and the next request with the same path and query is always let through, so one retry
succeeds. The draws come from `random.Random(seed)`: the same seed and the same requests in the
same order fail the same way. POSTs, the stream handshake and every other path are never
touched.
"""

from __future__ import annotations

import random
import re
from collections import OrderedDict

from starlette.types import ASGIApp, Receive, Scope, Send

from .errors import DirectLineError, error_response
from .middleware import RenderError
from .service import BASE_PATH

__all__ = ["TransientFaults", "transient_error"]

_FAULTY_PATH = re.compile(re.escape(BASE_PATH) + r"/conversations/[^/]+(/activities)?")


def transient_error() -> DirectLineError:
    return DirectLineError(
        503,
        "ServiceError",
        "Transient fault, injected for a dry run: retry the request",
    )


class TransientFaults:
    """ASGI middleware: refuse a seeded fraction of polling and reconnect GETs, once each."""

    remembered = 10_000
    """Most refused requests awaiting their retry; the oldest are forgotten beyond this."""

    def __init__(
        self, app: ASGIApp, rate: float, seed: int, render: RenderError = error_response
    ) -> None:
        self.app = app
        self.rate = rate
        self.render = render
        self._random = random.Random(seed)
        self._awaiting_retry: OrderedDict[str, None] = OrderedDict()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "GET"
            and _FAULTY_PATH.fullmatch(scope["path"])
            and self.should_fail(self.request_key(scope))
        ):
            await self.render(transient_error())(scope, receive, send)
            return
        await self.app(scope, receive, send)

    @staticmethod
    def request_key(scope: Scope) -> str:
        query = scope.get("query_string", b"").decode("latin-1")
        return f"{scope['path']}?{query}"

    def should_fail(self, key: str) -> bool:
        """Draw for this request, unless it retries one just refused (then it passes)."""
        if key in self._awaiting_retry:
            del self._awaiting_retry[key]
            return False
        if self._random.random() >= self.rate:
            return False
        self._awaiting_retry[key] = None
        if len(self._awaiting_retry) > self.remembered:
            self._awaiting_retry.popitem(last=False)
        return True
