"""A small faithful Direct Line proxy (httpx + websockets), as a team would put in front of the
service: every request forwarded as it came, every answer passed back, and the one change a
proxy must make, the upstream's origin in the URLs it hands out (``streamUrl``, ``contentUrl``)
replaced by its own. A plain ASGI app, so the kit's EmbeddedServer serves it on loopback.

Broken variants (tests/proxies/broken.py) override one hook each: ``forward`` (sending a
request upstream), ``request_headers`` / ``request_query`` / ``request_body`` (what goes up),
``answer`` (what comes back), ``rewrite`` (the URLs of a JSON value) and ``deliver`` (a stream
frame to the client).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
from starlette.types import Message, Receive, Scope, Send

__all__ = ["HOP_BY_HOP", "Answer", "Proxy"]

#: Headers of one connection, never forwarded (RFC 9110 § 7.6.1), and the ones the next hop
#: sets itself (Host, the framing of a body the proxy re-sends whole).
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
#: WebSocket handshake headers of the client's own connection.
_HANDSHAKE = frozenset(
    {
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-extensions",
        "sec-websocket-accept",
        "sec-websocket-protocol",
    }
)
VIA = "1.1 directline-conformance-proxy"
Headers = list[tuple[str, str]]


class Answer:
    """An upstream answer on its way back: status, headers, body."""

    def __init__(self, status: int, headers: Headers, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body


class Proxy:
    """ASGI app forwarding everything under any path to ``upstream`` (a base URL; the proxy
    serves the same paths on its own origin)."""

    #: Seconds an upstream answer may take (the slow-bot rules wait out the bot timeout).
    timeout = 60.0

    def __init__(self, upstream: str, *, secret: str | None = None) -> None:
        parts = urlsplit(upstream)
        self.upstream_origin = f"{parts.scheme}://{parts.netloc}"
        self.upstream_ws_origin = (
            "wss" if parts.scheme == "https" else "ws"
        ) + f"://{parts.netloc}"
        #: What a proxy holding the service's secret could use (the credential-swapping variant).
        self.secret = secret
        self.client: httpx.AsyncClient | None = None

    # --- ASGI ------------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.client = httpx.AsyncClient(
                    timeout=httpx.Timeout(self.timeout), trust_env=False, follow_redirects=False
                )
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.client is not None:
                    await self.client.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # --- HTTP ------------------------------------------------------------------------------------
    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body.extend(message.get("body", b""))
            if not message.get("more_body", False):
                break
        method = scope["method"]
        path = scope.get("raw_path", scope["path"].encode()).decode("latin-1")
        query = self.request_query(method, path, scope.get("query_string", b"").decode("latin-1"))
        headers = self.request_headers(method, path, _headers(scope))
        content = self.request_body(method, path, bytes(body))
        url = self.upstream_origin + path + (f"?{query}" if query else "")
        answer = await self.forward(method, url, headers, content)
        answer = self.answer(method, path, answer, self._own_origin(scope))
        await send(
            {
                "type": "http.response.start",
                "status": answer.status,
                "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in answer.headers],
            }
        )
        await send({"type": "http.response.body", "body": answer.body})

    def request_query(self, method: str, path: str, query: str) -> str:
        """The query sent upstream (faithful: the client's, byte for byte)."""
        return query

    def request_headers(self, method: str, path: str, headers: Headers) -> Headers:
        """The headers sent upstream: the client's, less those of its own connection, plus Via."""
        kept = [(k, v) for k, v in headers if k.lower() not in HOP_BY_HOP]
        return [*kept, ("via", VIA)]

    def request_body(self, method: str, path: str, body: bytes) -> bytes:
        """The body sent upstream (faithful: the client's)."""
        return body

    async def forward(self, method: str, url: str, headers: Headers, body: bytes) -> Answer:
        """Send one request upstream; a failure becomes the 502/504 a gateway answers."""
        return await self.send_upstream(method, url, headers, body, self.timeout)

    async def send_upstream(
        self, method: str, url: str, headers: Headers, body: bytes, timeout: float
    ) -> Answer:
        assert self.client is not None, "the proxy serves after its lifespan startup"
        try:
            response = await self.client.request(
                method, url, headers=headers, content=body or None, timeout=timeout
            )
        except httpx.TimeoutException:
            return _gateway_error(504, "the upstream did not answer in time")
        except httpx.HTTPError as exc:
            return _gateway_error(502, f"the upstream could not be reached ({type(exc).__name__})")
        kept = [
            (k, v)
            for k, v in response.headers.multi_items()
            if k.lower() not in HOP_BY_HOP | {"content-encoding", "server", "date"}
        ]
        return Answer(response.status_code, [*kept, ("via", VIA)], response.content)

    def answer(self, method: str, path: str, answer: Answer, own_origin: str) -> Answer:
        """The answer passed back: the upstream's, its URLs rewritten to the proxy's origin."""
        content_type = next((v for k, v in answer.headers if k.lower() == "content-type"), "")
        if "json" in content_type.lower() and answer.body:
            try:
                value = json.loads(answer.body)
            except ValueError:
                pass
            else:
                answer.body = json.dumps(self.rewrite(value, own_origin)).encode("utf-8")
        answer.headers = [(k, v) for k, v in answer.headers if k.lower() != "content-length"]
        answer.headers.append(("content-length", str(len(answer.body))))
        return answer

    def rewrite(self, value: Any, own_origin: str, key: str | None = None) -> Any:
        """A JSON value with the upstream's origin (http and ws forms) replaced by the proxy's."""
        if isinstance(value, dict):
            return {k: self.rewrite(v, own_origin, k) for k, v in value.items()}
        if isinstance(value, list):
            return [self.rewrite(v, own_origin, key) for v in value]
        if isinstance(value, str):
            own_ws = ("wss" if own_origin.startswith("https") else "ws") + own_origin[
                own_origin.index(":") :
            ]
            return value.replace(self.upstream_origin, own_origin).replace(
                self.upstream_ws_origin, own_ws
            )
        return value

    @staticmethod
    def _own_origin(scope: Scope) -> str:
        """The origin the client addressed this proxy by."""
        host = dict(_headers(scope)).get("host") or "{}:{}".format(*scope["server"][:2])
        secure = scope.get("scheme") in ("https", "wss")
        return f"{'https' if secure else 'http'}://{host}"

    # --- the stream ------------------------------------------------------------------------------
    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import InvalidHandshake, InvalidStatus

        if (await receive())["type"] != "websocket.connect":
            return
        path = scope.get("raw_path", scope["path"].encode()).decode("latin-1")
        query = scope.get("query_string", b"").decode("latin-1")
        url = self.upstream_ws_origin + path + (f"?{query}" if query else "")
        headers = [
            (k, v)
            for k, v in self.request_headers("GET", path, _headers(scope))
            if k.lower() not in _HANDSHAKE
        ]
        try:
            upstream = await connect(
                url,
                additional_headers=headers,
                user_agent_header=None,
                proxy=None,
                open_timeout=10,
                ping_interval=None,
                close_timeout=2,
                max_size=None,
                compression=None,
            )
        except InvalidStatus as refused:
            response = refused.response
            await self._deny(send, response.status_code, list(response.headers.raw_items()),
                             bytes(response.body or b""))  # fmt: skip
            return
        except (InvalidHandshake, OSError, TimeoutError) as exc:
            await self._deny(send, 502, [], f"upstream stream failed: {exc}".encode())
            return
        own_origin = self._own_origin(scope)
        await send({"type": "websocket.accept"})
        down = asyncio.create_task(self._down(upstream, send, own_origin))
        up = asyncio.create_task(self._up(upstream, receive))
        _, pending = await asyncio.wait({down, up}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        for task in (down, up):  # every outcome retrieved: a closed peer is no error here
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await upstream.close()

    async def _deny(self, send: Send, status: int, headers: Headers, body: bytes) -> None:
        kept = [(k, v) for k, v in headers if k.lower() not in HOP_BY_HOP]
        kept.append(("content-length", str(len(body))))
        await send(
            {
                "type": "websocket.http.response.start",
                "status": status,
                "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in kept],
            }
        )
        await send({"type": "websocket.http.response.body", "body": body})

    async def _down(self, upstream: Any, send: Send, own_origin: str) -> None:
        """Upstream frames to the client, then the upstream's close."""
        from websockets.exceptions import ConnectionClosed

        try:
            async for frame in upstream:
                await self.deliver(send, self._rewrite_frame(frame, own_origin))
            await self.flush(send)
        except ConnectionClosed:
            pass  # the upstream went away: its close is passed on below
        except OSError:
            return  # the client went away (uvicorn's ClientDisconnected): nothing to pass on
        code = upstream.close_code
        if code in (None, 1005):
            code = 1000
        elif code == 1006:
            code = 1011
        with contextlib.suppress(Exception):
            await send(
                {"type": "websocket.close", "code": code, "reason": upstream.close_reason or ""}
            )

    def _rewrite_frame(self, frame: str | bytes, own_origin: str) -> str | bytes:
        if isinstance(frame, bytes) or not frame.strip():
            return frame
        try:
            value = json.loads(frame)
        except ValueError:
            return frame
        return json.dumps(self.rewrite(value, own_origin))

    async def deliver(self, send: Send, frame: str | bytes) -> None:
        """One frame to the client (faithful: at once)."""
        await send(_frame_message(frame))

    async def flush(self, send: Send) -> None:
        """Frames held back, sent before the close (the faithful proxy holds none)."""

    async def _up(self, upstream: Any, receive: Receive) -> None:
        """Client frames to the upstream, then the client's close."""
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                code = message.get("code", 1000)
                await upstream.close(
                    code if code in range(1000, 5000) and code not in (1005, 1006) else 1000
                )
                return
            if message["type"] == "websocket.receive":
                if message.get("text") is not None:
                    await upstream.send(message["text"])
                elif message.get("bytes") is not None:
                    await upstream.send(message["bytes"])


def _frame_message(frame: str | bytes) -> Message:
    if isinstance(frame, bytes):
        return {"type": "websocket.send", "bytes": frame}
    return {"type": "websocket.send", "text": frame}


def _headers(scope: Scope) -> Headers:
    return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope.get("headers", [])]


def _gateway_error(status: int, message: str) -> Answer:
    code = "ServiceError"
    body = json.dumps({"error": {"code": code, "message": f"proxy: {message}"}}).encode()
    return Answer(status, [("content-type", "application/json; charset=utf-8")], body)


def query_without(query: str, name: str) -> str:
    """``query`` with every ``name`` parameter dropped (for the watermark-dropping variant)."""
    pairs = parse_qsl(query, keep_blank_values=True)
    return urlencode([(k, v) for k, v in pairs if k != name])
