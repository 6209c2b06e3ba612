"""What reached the server, written down as it arrived: the upstream side of a proxy check.

``certify-proxy`` (and ``serve --record FILE``) put this server behind the proxy under test and
then compare what the client sent through the proxy with what arrived here. ``UpstreamRecorder``
appends one JSON object per line to a file, flushed at once, so another process can read the
file while the server runs:

- ``request``: ``seq``, ``t`` (``time.time()`` when the body was complete), ``method``,
  ``path``, ``query`` (a list of ``[name, value]`` pairs), ``headers`` (``[name, value]``,
  names lower case) and ``body`` (``size``, ``sha256``, and ``text`` when it is UTF-8 and at
  most ``TEXT_LIMIT`` characters). Written as soon as the body is in, so a request whose
  client gave up (a proxy's timeout) is recorded too.
- ``response``: ``seq``, ``t``, ``status``, ``headers``, ``body`` (as above).
- ``websocket``: a stream handshake (``seq``, ``t``, ``path``, ``query``, ``headers``);
  ``accept`` (``status`` 101) or a ``response`` (the refusal) follows it.
- ``frame``: ``seq`` of its handshake, ``t`` (before the frame leaves), ``direction`` (``down``:
  server to client, ``up``), ``index`` (per direction), ``size`` and ``text``.
- ``close``: ``seq``, ``t``, ``code``, ``by`` (``server`` or ``client``).

Credentials never reach the file: the credential of ``Authorization`` (and ``Cookie``,
``Set-Cookie``, ``Proxy-Authorization``), the ``t`` and ``token`` query values, and JSON
``token`` fields and ``t`` parameters of URLs in bodies are replaced by a fingerprint,
``sha256:`` and the first 16 hex digits of the value's SHA-256. A reader fingerprints what the
client sent the same way (``conformance.proxy.recording``) and compares.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from collections.abc import Iterable
from itertools import count
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["TEXT_LIMIT", "RecordingSink", "UpstreamRecorder", "fingerprint"]

#: The longest body or frame text written out (the hash and size are always there).
TEXT_LIMIT = 256 * 1024
#: Headers whose value is a credential: only its fingerprint is written.
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
#: Query parameters whose value is a credential.
_SECRET_PARAMETERS = frozenset({"t", "token"})
#: The ``t`` of a URL inside a body or frame (a streamUrl, a tokenized contentUrl).
_URL_TOKEN = re.compile(r"([?&]t=)([^&#\"'\s]+)")


def fingerprint(value: str) -> str:
    """What a credential becomes in the recording: enough to compare, nothing to reuse."""
    return "sha256:" + hashlib.sha256(value.encode("utf-8")).hexdigest()[:16]


def _credential(value: str) -> str:
    """``Bearer abc`` -> ``Bearer sha256:...``: the scheme stays readable."""
    parts = value.strip().split(None, 1)
    if len(parts) == 2:
        return f"{parts[0]} {fingerprint(parts[1].strip())}"
    return fingerprint(value)


def _headers(raw: Iterable[tuple[bytes, bytes]]) -> list[list[str]]:
    shown = []
    for name_bytes, value_bytes in raw:
        name = name_bytes.decode("latin-1").lower()
        value = value_bytes.decode("latin-1")
        if name in _SECRET_HEADERS:
            value = _credential(value) if "authorization" in name else fingerprint(value)
        shown.append([name, value])
    return shown


def _query(raw: bytes) -> list[list[str]]:
    pairs = parse_qsl(raw.decode("latin-1"), keep_blank_values=True)
    return [[k, fingerprint(v) if k in _SECRET_PARAMETERS else v] for k, v in pairs]


def _scrub(value: Any) -> Any:
    """A JSON value with its tokens (``"token"`` fields, ``t`` of URLs) fingerprinted."""
    if isinstance(value, dict):
        return {
            k: fingerprint(v) if k.lower() == "token" and isinstance(v, str) else _scrub(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    if isinstance(value, str):
        return _URL_TOKEN.sub(lambda m: m.group(1) + fingerprint(m.group(2)), value)
    return value


def _text(data: bytes) -> str | None:
    """The body as text fit for the file (tokens fingerprinted), None when it is not UTF-8 or
    too long."""
    if len(data) > TEXT_LIMIT * 4:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if len(text) > TEXT_LIMIT:
        return None
    try:
        parsed = json.loads(text)
    except ValueError:
        return _URL_TOKEN.sub(lambda m: m.group(1) + fingerprint(m.group(2)), text)
    return json.dumps(_scrub(parsed), ensure_ascii=False)


def _body(data: bytes) -> dict[str, Any]:
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "text": _text(data)}


class RecordingSink:
    """The file records go to, one JSON object per line, flushed at once. ``switch`` starts a
    new file (``certify-proxy`` keeps the upstream-only run apart from the proxied one)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._lock = threading.Lock()
        self._file: IO[str] | None = None
        self.path = Path(path)
        self.switch(path)

    def switch(self, path: str | os.PathLike[str]) -> None:
        """Write the records from now on to ``path`` (created empty)."""
        with self._lock:
            if self._file is not None:
                self._file.close()
            self.path = Path(path)
            self._file = self.path.open("w", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        # ASCII escapes: a body may hold lone surrogates ("\ud800"), which UTF-8 cannot
        line = json.dumps(record, ensure_ascii=True, separators=(",", ":"))
        with self._lock:
            if self._file is not None:
                self._file.write(line + "\n")
                self._file.flush()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


class UpstreamRecorder:
    """ASGI middleware: every request, answer and stream frame into a :class:`RecordingSink`."""

    def __init__(self, app: ASGIApp, sink: RecordingSink) -> None:
        self.app = app
        self.sink = sink
        self._numbers = count(1)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    def _head(self, scope: Scope, kind: str, seq: int) -> dict[str, Any]:
        return {
            "kind": kind,
            "seq": seq,
            "t": time.time(),
            "method": scope.get("method", "GET"),
            "path": scope.get("path", ""),
            "query": _query(scope.get("query_string", b"")),
            "headers": _headers(scope.get("headers", [])),
        }

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        seq = next(self._numbers)
        chunks: list[bytes] = []
        written = False
        answer: dict[str, Any] = {}
        answer_body = bytearray()

        def request_done() -> None:
            nonlocal written
            if not written:
                written = True
                record = self._head(scope, "request", seq)
                record["body"] = _body(b"".join(chunks))
                self.sink.write(record)

        async def tee() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    request_done()
            return message

        async def watch(message: Message) -> None:
            kind = message["type"]
            if kind == "http.response.start":
                request_done()  # an answer before the body was read (a refusal)
                answer.update(status=int(message["status"]), headers=message.get("headers", []))
            elif kind == "http.response.body":
                if len(answer_body) <= TEXT_LIMIT * 4:
                    answer_body.extend(message.get("body", b""))
                if not message.get("more_body", False):
                    self._answered(seq, answer, bytes(answer_body))
            await send(message)

        try:
            await self.app(scope, tee, watch)
        finally:
            request_done()

    def _answered(self, seq: int, answer: dict[str, Any], body: bytes) -> None:
        self.sink.write(
            {
                "kind": "response",
                "seq": seq,
                "t": time.time(),
                "status": answer.get("status", 0),
                "headers": _headers(answer.get("headers", [])),
                "body": _body(body),
            }
        )

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        seq = next(self._numbers)
        self.sink.write(self._head(scope, "websocket", seq))
        frames = {"down": 0, "up": 0}
        denial: dict[str, Any] = {}
        denial_body = bytearray()

        def frame(direction: str, message: Message) -> None:
            text = message.get("text")
            data = message.get("bytes")
            raw = text.encode("utf-8") if isinstance(text, str) else (data or b"")
            self.sink.write(
                {
                    "kind": "frame",
                    "seq": seq,
                    "t": time.time(),
                    "direction": direction,
                    "index": frames[direction],
                    "size": len(raw),
                    "text": _text(raw),
                }
            )
            frames[direction] += 1

        async def tee() -> Message:
            message = await receive()
            if message["type"] == "websocket.receive":
                frame("up", message)
            elif message["type"] == "websocket.disconnect":
                code = message.get("code", 1005)
                self.sink.write(
                    {"kind": "close", "seq": seq, "t": time.time(), "code": code, "by": "client"}
                )
            return message

        async def watch(message: Message) -> None:
            kind = message["type"]
            if kind == "websocket.accept":
                self.sink.write({"kind": "accept", "seq": seq, "t": time.time(), "status": 101})
            elif kind == "websocket.send":
                frame("down", message)
            elif kind == "websocket.close":
                code = message.get("code", 1000)
                self.sink.write(
                    {"kind": "close", "seq": seq, "t": time.time(), "code": code, "by": "server"}
                )
            elif kind == "websocket.http.response.start":
                denial.update(status=int(message["status"]), headers=message.get("headers", []))
            elif kind == "websocket.http.response.body":
                denial_body.extend(message.get("body", b""))
                if not message.get("more_body", False):
                    self._answered(seq, denial, bytes(denial_body))
            await send(message)

        await self.app(scope, tee, watch)
