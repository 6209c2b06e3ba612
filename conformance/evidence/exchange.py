"""What a test did on the wire: exchanges, stream events, and the recorder that keeps them.

An :class:`Exchange` is one HTTP request and its answer (or the WebSocket handshake of a stream,
with the frames that followed in :attr:`Exchange.events`). A :class:`Recorder` keeps the exchanges
of one test in order: they are the evidence attached to every verdict, and the checks of the
suite judge nothing else.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from conformance.evidence.redaction import PATTERNS_ONLY

__all__ = ["Exchange", "Recorder", "StreamEvent"]


@dataclass
class StreamEvent:
    """One thing that happened on an open WebSocket after the handshake."""

    at: float  #: time.time() of the event
    direction: str  #: "recv", "send", "close" or "error"
    data: str | None  #: the frame (binary frames decoded utf-8 with replacement), or None
    detail: str = ""  #: e.g. "binary, 12 bytes", "code 1000 reason 'bye'"


@dataclass
class Exchange:
    """One HTTP request and its answer, or a WebSocket handshake (``kind="websocket"``)."""

    method: str
    url: str
    request_headers: list[tuple[str, str]]
    request_body: bytes | None
    status: int | None  #: None: no answer (see :attr:`error`)
    response_headers: list[tuple[str, str]]
    response_body: bytes | None
    started: float  #: time.time() when sent
    elapsed: float  #: seconds until the answer (or the failure)
    error: str | None = None  #: "timed out after 10.0 s", "connection refused", ...
    kind: str = "http"  #: "http" or "websocket"
    events: list[StreamEvent] = field(default_factory=list)
    #: What the kit did about this answer, e.g. "answered 503: retried after 0.5 s".
    note: str = ""
    #: Whether the body was cut at the run's cap (see :attr:`body_length`).
    truncated: bool = False
    #: When cut: the body's length as the answer declared it, -1 when it did not say.
    body_length: int | None = None

    def header(self, name: str) -> str | None:
        """The response header ``name`` (case-insensitive); repeated headers joined by ", "."""
        return _find_header(self.response_headers, name)

    def request_header(self, name: str) -> str | None:
        """The request header ``name`` (case-insensitive), as sent."""
        return _find_header(self.request_headers, name)

    @property
    def text(self) -> str:
        """The response body decoded as UTF-8 (invalid bytes replaced); "" when there is none."""
        return (self.response_body or b"").decode("utf-8", "replace")

    def json(self) -> Any:
        """The response body parsed as JSON (strict: no NaN/Infinity).

        Raises ValueError with a readable message (status, content type, the start of the body,
        credentials hidden) when there is no body or it is not JSON.
        """
        body = self.response_body
        if not body:
            raise ValueError(f"{self.summary}: the answer has no body, expected JSON")
        try:
            return json.loads(body, parse_constant=_reject_constant)
        except ValueError as exc:
            snippet = PATTERNS_ONLY.redact(self.text[:200])
            ctype = self.header("content-type") or "no content-type"
            raise ValueError(
                f"{self.summary}: the answer is not JSON ({exc}; {ctype}, "
                f"{len(body)} bytes): {snippet!r}"
            ) from None

    def json_or_none(self) -> Any | None:
        """The parsed response body, or None when it is absent or not JSON."""
        try:
            return self.json()
        except ValueError:
            return None

    @property
    def summary(self) -> str:
        """One line: "POST <url> -> 201" (the URL with stream tokens hidden)."""
        url = PATTERNS_ONLY.redact(self.url)
        outcome = str(self.status) if self.status is not None else f"no answer ({self.error})"
        return f"{self.method} {url} -> {outcome}"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _find_header(headers: Iterable[tuple[str, str]], name: str) -> str | None:
    wanted = name.lower()
    values = [v for k, v in headers if k.lower() == wanted]
    return ", ".join(values) if values else None


class Recorder:
    """The exchanges of one test, in the order they happened."""

    def __init__(self) -> None:
        self.exchanges: list[Exchange] = []
        self._lock = threading.Lock()

    def add(self, exchange: Exchange) -> Exchange:
        with self._lock:
            self.exchanges.append(exchange)
        return exchange

    def clear(self) -> None:
        with self._lock:
            self.exchanges.clear()

    @property
    def last(self) -> Exchange | None:
        return self.exchanges[-1] if self.exchanges else None

    def __len__(self) -> int:
        return len(self.exchanges)
