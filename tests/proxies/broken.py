"""Broken proxies: the faithful proxy with one known proxy failure each, and the requirements a
two-sided run must find broken by it (and only those). tests/test_proxies.py runs them.

``modules`` are the suite modules run besides test_proxy: those holding a rule the breakage
also breaks for clients (a proxy stripping CORS breaks DL-HTTP-001 as well).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.types import Send

from tests.proxies.faithful import Answer, Headers, Proxy, _frame_message, query_without

__all__ = ["BROKEN", "BrokenProxy", "broken"]


@dataclass(frozen=True)
class BrokenProxy:
    """One broken proxy and what it must be found to break."""

    name: str
    doc: str
    breaks: frozenset[str]
    modules: tuple[str, ...]
    build: Callable[..., Proxy]
    extra: dict[str, Any] = field(default_factory=dict)


BROKEN: list[BrokenProxy] = []


def broken(*breaks: str, modules: tuple[str, ...] = ()) -> Callable[[type[Proxy]], type[Proxy]]:
    """Register a broken proxy class with the requirements it breaks."""

    def register(cls: type[Proxy]) -> type[Proxy]:
        doc = (cls.__doc__ or cls.__name__).strip().splitlines()[0]
        BROKEN.append(BrokenProxy(cls.__name__, doc, frozenset(breaks), modules, cls))
        return cls

    return register


def _is_send(method: str, path: str) -> bool:
    return method == "POST" and path.endswith("/activities")


@broken("DL-PROXY-001")
class DuplicatesPostsOnTimeout(Proxy):
    """Sends a POST again when the upstream is slow to answer (DirectLineJS issues 105, 188)."""

    patience = 2.0

    async def forward(self, method: str, url: str, headers: Headers, body: bytes) -> Answer:
        if method != "POST":
            return await super().forward(method, url, headers, body)
        first = await self.send_upstream(method, url, headers, body, self.patience)
        if first.status != 504:
            return first
        return await self.send_upstream(method, url, headers, body, self.timeout)


@broken("DL-PROXY-002")
class InventsReads(Proxy):
    """Reads the conversation upstream after each send, to warm a cache nobody asked for."""

    async def forward(self, method: str, url: str, headers: Headers, body: bytes) -> Answer:
        answer = await super().forward(method, url, headers, body)
        if method == "POST" and url.endswith("/activities"):
            await self.send_upstream(
                "GET", url, [h for h in headers if h[0].lower() != "content-type"], b"", 10.0
            )
        return answer


@broken("DL-PROXY-003")
class RewritesFromId(Proxy):
    """Puts its own user id in every activity the client sends."""

    def request_body(self, method: str, path: str, body: bytes) -> bytes:
        if not _is_send(method, path):
            return body
        try:
            activity = json.loads(body)
        except ValueError:
            return body
        if isinstance(activity, dict) and isinstance(activity.get("from"), dict):
            activity["from"] = {**activity["from"], "id": "dl_proxy_user"}
            return json.dumps(activity).encode("utf-8")
        return body


@broken("DL-PROXY-004")
class SubstitutesTheSecret(Proxy):
    """Sends the service's secret upstream in place of whatever credential the client sent."""

    def request_headers(self, method: str, path: str, headers: Headers) -> Headers:
        kept = [(k, v) for k, v in super().request_headers(method, path, headers)]
        if not any(k.lower() == "authorization" for k, _ in kept):
            return kept
        return [(k, v) for k, v in kept if k.lower() != "authorization"] + [
            ("authorization", f"Bearer {self.secret}")
        ]


@broken("DL-PROXY-005")
class AddsItsCookie(Proxy):
    """Adds a session cookie of its own to every request it forwards."""

    def request_headers(self, method: str, path: str, headers: Headers) -> Headers:
        return [*super().request_headers(method, path, headers), ("cookie", "proxy-session=1")]


@broken(
    "DL-PROXY-006", "DL-POLL-005", "DL-POLL-006", "DL-POLL-008", modules=("test_receive_polling",)
)
class DropsWatermark(Proxy):
    """Forwards the polling GETs without their watermark parameter."""

    def request_query(self, method: str, path: str, query: str) -> str:
        polls = method == "GET" and path.endswith("/activities")
        return query_without(query, "watermark") if polls else query


@broken("DL-PROXY-007")
class RepeatsFrames(Proxy):
    """Passes every stream frame on twice."""

    async def deliver(self, send: Send, frame: str | bytes) -> None:
        await send(_frame_message(frame))
        if isinstance(frame, bytes) or frame.strip():
            await send(_frame_message(frame))


@broken("DL-PROXY-008")
class BuffersFrames(Proxy):
    """Holds each stream frame two seconds before passing it on (in order)."""

    hold = 2.0

    async def deliver(self, send: Send, frame: str | bytes) -> None:
        if not hasattr(self, "_held"):
            self._held: dict[int, asyncio.Task[None]] = {}
        previous = self._held.get(id(send))

        async def later() -> None:
            await asyncio.sleep(self.hold)
            if previous is not None:
                await previous
            await send(_frame_message(frame))

        self._held[id(send)] = asyncio.ensure_future(later())

    async def flush(self, send: Send) -> None:
        pending = getattr(self, "_held", {}).pop(id(send), None)
        if pending is not None:
            await pending


@broken("DL-PROXY-009")
class LeavesStreamUrl(Proxy):
    """Rewrites every URL but the streamUrl, which still names the upstream (Web Chat 3188)."""

    def rewrite(self, value: Any, own_origin: str, key: str | None = None) -> Any:
        if key == "streamUrl":
            return value
        return super().rewrite(value, own_origin, key)


@broken("DL-PROXY-010")
class LeavesContentUrl(Proxy):
    """Rewrites every URL but an attachment's contentUrl, which still names the upstream."""

    def rewrite(self, value: Any, own_origin: str, key: str | None = None) -> Any:
        if key == "contentUrl":
            return value
        return super().rewrite(value, own_origin, key)


@broken("DL-PROXY-011", "DL-HTTP-001", modules=("test_browsers",))
class StripsCors(Proxy):
    """Passes answers back without their Access-Control-* headers."""

    def answer(self, method: str, path: str, answer: Answer, own_origin: str) -> Answer:
        answer.headers = [
            (k, v) for k, v in answer.headers if not k.lower().startswith("access-control-")
        ]
        return super().answer(method, path, answer, own_origin)


@broken("DL-PROXY-012")
class DropsRetryAfter(Proxy):
    """Passes a 429 back without its Retry-After."""

    def answer(self, method: str, path: str, answer: Answer, own_origin: str) -> Answer:
        answer.headers = [(k, v) for k, v in answer.headers if k.lower() != "retry-after"]
        return super().answer(method, path, answer, own_origin)


@broken("DL-PROXY-013")
class SwallowsBadGateway(Proxy):
    """Answers 200 where the upstream answered 502."""

    def answer(self, method: str, path: str, answer: Answer, own_origin: str) -> Answer:
        if answer.status == 502:
            answer.status = 200
        return super().answer(method, path, answer, own_origin)
