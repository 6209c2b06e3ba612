"""Reading the upstream's recording, and putting the client's own requests in the same terms.

The recording is the JSON-lines file the kit's upstream writes
(``conformance/reference/recording.py`` documents its records). This module reads it without
importing the server (the suite never imports the reference server): the record format and the
credential fingerprint are the contract between the two, and a kit test checks they agree.

Both sides are put in one shape, :class:`Request`: method, the path relative to the base URL
it was sent to (the proxy's and the upstream's may differ), the query pairs with credential
values fingerprinted, the headers, the body, and for a stream the frames.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from conformance.evidence import Exchange

__all__ = [
    "CASE_HEADER",
    "Body",
    "Frame",
    "Recording",
    "Request",
    "client_request",
    "fingerprint",
    "relative_path",
]

#: The header the kit's client tags each request with (conformance.client.wire.CASE_HEADER).
CASE_HEADER = "x-dl-conformance-case"
#: Query parameters whose value is a credential (fingerprinted in the recording).
SECRET_PARAMETERS = frozenset({"t", "token"})


def fingerprint(value: str) -> str:
    """A credential as the recording shows it: ``sha256:`` and 16 hex digits of its SHA-256."""
    return "sha256:" + hashlib.sha256(value.encode("utf-8")).hexdigest()[:16]


def credential_fingerprint(value: str | None) -> str | None:
    """An ``Authorization`` value as the recording shows it (``Bearer sha256:...``)."""
    if value is None:
        return None
    parts = value.strip().split(None, 1)
    if len(parts) == 2:
        return f"{parts[0]} {fingerprint(parts[1].strip())}"
    return fingerprint(value)


@dataclass(frozen=True)
class Body:
    """A body as recorded: its size, SHA-256 and (UTF-8, not too long) text."""

    size: int = 0
    sha256: str = hashlib.sha256(b"").hexdigest()
    text: str | None = ""

    @classmethod
    def of(cls, data: bytes | None) -> Body:
        data = data or b""
        try:
            text: str | None = data.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        return cls(len(data), hashlib.sha256(data).hexdigest(), text)

    def json(self) -> Any:
        """The body parsed as JSON; None when it is not (or was not kept)."""
        if not self.text:
            return None
        try:
            return json.loads(self.text)
        except ValueError:
            return None


@dataclass(frozen=True)
class Frame:
    """One stream frame: when, which way, and what (``down``: service to client)."""

    t: float
    direction: str
    text: str | None
    size: int = 0


@dataclass
class Request:
    """One request (or stream handshake) and what answered it, on either side of the proxy."""

    method: str
    #: The path under the base URL it was sent to ("/conversations/abc/activities").
    path: str
    #: (name, value) pairs; credential values fingerprinted.
    query: tuple[tuple[str, str], ...]
    #: (lower-case name, value) pairs; credentials fingerprinted.
    headers: tuple[tuple[str, str], ...]
    body: Body
    t: float
    kind: str = "http"
    status: int | None = None
    response_headers: tuple[tuple[str, str], ...] = ()
    response_body: Body | None = None
    frames: list[Frame] = field(default_factory=list)
    #: The client's exchange this was made from (None for an upstream record).
    exchange: Exchange | None = None
    #: Seconds the client waited for the answer (None for an upstream record).
    elapsed: float | None = None

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k == name.lower()]
        return ", ".join(values) if values else None

    def response_header(self, name: str) -> str | None:
        values = [v for k, v in self.response_headers if k.lower() == name.lower()]
        return ", ".join(values) if values else None

    @property
    def key(self) -> tuple[str, str]:
        """What two sides of one request share however a proxy treats it: method and path."""
        return (self.method.upper(), self.path)

    def describe(self) -> str:
        query = "&".join(f"{k}={v}" for k, v in self.query)
        return f"{self.method} {self.path}" + (f"?{query}" if query else "")

    def answered_conversation(self) -> str | None:
        """The conversationId a start (or generate) was answered with, if any."""
        data = self.response_body.json() if self.response_body is not None else None
        value = data.get("conversationId") if isinstance(data, dict) else None
        return value if isinstance(value, str) else None


def relative_path(path: str, bases: Sequence[str]) -> str:
    """``path`` (decoded) under the first of ``bases`` (base URL paths) it starts with."""
    decoded = unquote(path)
    for base in bases:
        base = unquote(base).rstrip("/")
        if base and (decoded == base or decoded.startswith(base + "/")):
            return decoded[len(base) :] or "/"
    return decoded


def _query(pairs: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    return tuple((k, fingerprint(v) if k in SECRET_PARAMETERS else v) for k, v in pairs)


def client_request(exchange: Exchange, bases: Sequence[str]) -> Request:
    """The kit client's exchange in the recording's terms (its path relative to whichever of
    ``bases``, the proxy's or the upstream's, it was sent under)."""
    parts = urlsplit(exchange.url)
    headers = []
    for name, value in exchange.request_headers:
        lowered = name.lower()
        if lowered in ("authorization", "proxy-authorization"):
            value = credential_fingerprint(value) or ""
        elif lowered in ("cookie", "set-cookie"):
            value = fingerprint(value)
        headers.append((lowered, value))
    frames = [
        Frame(event.at, "down", event.data, len((event.data or "").encode("utf-8")))
        for event in exchange.events
        if event.direction == "recv"
    ]
    return Request(
        method=exchange.method.upper(),
        path=relative_path(parts.path, bases),
        query=_query(parse_qsl(parts.query, keep_blank_values=True)),
        headers=tuple(headers),
        body=Body.of(exchange.request_body),
        t=exchange.started,
        kind=exchange.kind,
        status=exchange.status,
        response_headers=tuple((k.lower(), v) for k, v in exchange.response_headers),
        response_body=Body.of(exchange.response_body),
        frames=frames,
        exchange=exchange,
        elapsed=exchange.elapsed,
    )


def _body(data: Any) -> Body:
    if not isinstance(data, dict):
        return Body()
    text = data.get("text")
    return Body(int(data.get("size", 0)), str(data.get("sha256", "")), text)


def _pairs(data: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(data, list):
        return ()
    return tuple(
        (str(p[0]), str(p[1])) for p in data if isinstance(p, list | tuple) and len(p) == 2
    )


class Recording:
    """The records of one recording file, joined into :class:`Request` objects."""

    def __init__(self, requests: list[Request], base_path: str) -> None:
        self.requests = requests
        self.base_path = base_path

    @classmethod
    def read(cls, path: str | Path, upstream: str) -> Recording:
        """Read the file (a line still being written is skipped); ``upstream`` is the base URL
        the paths are made relative to."""
        base_path = urlsplit(upstream).path
        by_seq: dict[int, Request] = {}
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            lines = []
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                cls._take(record, by_seq, base_path)
        return cls([by_seq[seq] for seq in sorted(by_seq)], base_path)

    @staticmethod
    def _take(record: dict[str, Any], by_seq: dict[int, Request], base_path: str) -> None:
        kind, seq = record.get("kind"), record.get("seq")
        if not isinstance(seq, int):
            return
        if kind in ("request", "websocket"):
            by_seq[seq] = Request(
                method=str(record.get("method", "GET")).upper(),
                path=relative_path(str(record.get("path", "")), [base_path]),
                query=_pairs(record.get("query")),
                headers=tuple((k.lower(), v) for k, v in _pairs(record.get("headers"))),
                body=_body(record.get("body")),
                t=float(record.get("t", 0.0)),
                kind="websocket" if kind == "websocket" else "http",
            )
            return
        held = by_seq.get(seq)
        if held is None:
            return
        if kind == "response":
            held.status = int(record.get("status", 0))
            held.response_headers = _pairs(record.get("headers"))
            held.response_body = _body(record.get("body"))
        elif kind == "accept":
            held.status = 101
        elif kind == "frame":
            held.frames.append(
                Frame(
                    float(record.get("t", 0.0)),
                    str(record.get("direction", "down")),
                    record.get("text"),
                    int(record.get("size", 0)),
                )
            )

    def of_conversations(
        self, conversation_ids: Iterable[str], case_id: str | None
    ) -> list[Request]:
        """What reached the upstream for these conversations: every request on their paths,
        the starts answered with one of them, and the starts tagged with the test's case."""
        ids = set(conversation_ids)
        prefixes = tuple(f"/conversations/{cid}" for cid in ids)
        found = []
        for request in self.requests:
            on_path = any(
                request.path == prefix or request.path.startswith(prefix + "/")
                for prefix in prefixes
            )
            starts = request.key == ("POST", "/conversations")
            mine = starts and (
                request.answered_conversation() in ids
                or (case_id is not None and request.header(CASE_HEADER) == case_id)
            )
            if on_path or mine:
                found.append(request)
        return found
