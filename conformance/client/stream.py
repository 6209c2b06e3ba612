"""The stream: opening a stream URL as a WebSocket, and reading what it carries.

Uses the sync client of ``websockets``. The handshake is recorded as an exchange of kind
``"websocket"``, every frame (and the close) as one of its events. Every wait takes a timeout;
a frame larger than the run's body cap closes the stream (1009) instead of filling memory.

A frame that is not an ActivitySet object breaks DL-STREAM-002 ("every stream message is an
ActivitySet"): reading it raises a Violation naming that rule, so a test whose own rule is
something else reports it, and its own rule is inconclusive rather than an error.
"""

from __future__ import annotations

import functools
import inspect
import json
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from conformance.client.limits import Meter, RunGovernor
from conformance.client.wire import CASE_HEADER, USER_AGENT, query_value, stream_ws_url
from conformance.errors import (
    StreamClosed,
    StreamRefused,
    TargetTimeout,
    TargetUnreachable,
    Violation,
)
from conformance.evidence import Exchange, Recorder, Redactor, StreamEvent

__all__ = ["STREAM_SHAPE_RULE", "StreamConnection", "StreamOpener"]

#: Close handshake timeout of a stream, seconds.
STREAM_CLOSE_TIMEOUT: Final = 2.0
#: How much of a refused handshake's body its error message quotes.
REFUSAL_BODY_CHARS: Final = 300
#: The rule every frame's shape answers to.
STREAM_SHAPE_RULE: Final = "DL-STREAM-002"


@dataclass
class StreamOpener:
    """What opening a stream needs from the client that opens it."""

    recorder: Recorder
    redactor: Redactor
    governor: RunGovernor
    meter: Meter
    case_id: str | None
    verify: bool
    max_size: int
    register_auth: Callable[[str], None]

    def open(
        self, stream_url: str, *, timeout: float, headers: Mapping[str, str] | None = None
    ) -> StreamConnection:
        """Open ``stream_url`` (http(s) mapped to ws(s), ``&amp;`` unescaped).

        A refused handshake (no 101) raises StreamRefused with its status and the recorded
        answer; a network failure raises TargetUnreachable or TargetTimeout. Redirects are not
        followed (a 3xx is a refusal).
        """
        from websockets.exceptions import InvalidHandshake, InvalidStatus, InvalidURI
        from websockets.sync.client import connect
        from websockets.uri import parse_uri

        url = stream_ws_url(stream_url)
        self.redactor.add(query_value(url, "t"))
        sent_headers: list[tuple[str, str]] = [("User-Agent", _ws_user_agent())]
        if self.case_id:
            sent_headers.append((CASE_HEADER, self.case_id))
        for name, value in (headers or {}).items():  # the caller's headers win, any case
            sent_headers = [(k, v) for k, v in sent_headers if k.lower() != name.lower()]
            sent_headers.append((name, value))
        for name, value in sent_headers:
            if name.lower() == "authorization":
                self.register_auth(value)

        started = time.time()
        t0 = time.perf_counter()

        def record(
            status: int | None = None,
            response_headers: list[tuple[str, str]] | None = None,
            body: bytes | None = None,
            error: str | None = None,
            request_headers: list[tuple[str, str]] | None = None,
        ) -> Exchange:
            exchange = Exchange(
                method="GET",
                url=url,
                request_headers=request_headers or list(sent_headers),
                request_body=None,
                status=status,
                response_headers=response_headers or [],
                response_body=body[: self.max_size] if body else body,
                started=started,
                elapsed=time.perf_counter() - t0,
                error=error,
                kind="websocket",
            )
            self.meter.count_request(retry=False)
            self.governor.settle(answered=status is not None, status=status)
            return self.recorder.add(exchange)

        try:
            ws_uri = parse_uri(url)
        except InvalidURI as exc:
            exchange = self.recorder.add(
                Exchange("GET", url, list(sent_headers), None, None, [], None, started, 0.0,
                         error=f"not a WebSocket URL: {exc}", kind="websocket")
            )  # fmt: skip
            raise StreamRefused(
                None,
                exchange,
                self.redactor.redact(f"cannot open the stream: {url} is not a WebSocket URL"),
            ) from None

        self.governor.admit()
        what = self.redactor.redact(f"WebSocket handshake with {url}")
        try:
            sock = socket.create_connection((ws_uri.host, ws_uri.port), timeout=timeout)
        except TimeoutError:
            exchange = record(error=f"timed out after {timeout:g} s (connect)")
            raise TargetTimeout(f"{what}: no connection within {timeout:g} s", exchange) from None
        except OSError as exc:
            text = os_error_text(exc)
            exchange = record(error=text)
            raise TargetUnreachable(f"{what}: {text}", exchange) from None

        remaining = max(0.001, timeout - (time.perf_counter() - t0))
        kwargs: dict[str, Any] = dict(_ws_connect_extra())
        if ws_uri.secure:
            kwargs["ssl"] = _ssl_context(self.verify)
        try:
            connection = connect(
                url,
                sock=sock,
                open_timeout=remaining,
                close_timeout=STREAM_CLOSE_TIMEOUT,
                ping_interval=None,  # like a browser: the kit sends no pings of its own
                max_size=self.max_size,
                user_agent_header=None,
                additional_headers=sent_headers,
                **kwargs,
            )
        except Exception as exc:
            sock.close()
            status_exc = exc if isinstance(exc, InvalidStatus) else exc.__cause__
            if isinstance(status_exc, InvalidStatus):
                response = status_exc.response
                exchange = record(
                    status=response.status_code,
                    response_headers=list(response.headers.raw_items()),
                    body=bytes(response.body) if response.body is not None else None,
                )
                said = bytes(response.body or b"").decode("utf-8", "replace").strip()
                said = self.redactor.redact(said[:REFUSAL_BODY_CHARS]) if said else ""
                raise StreamRefused(
                    response.status_code,
                    exchange,
                    f"{what}: refused with HTTP {response.status_code} (expected 101)"
                    + (f", body {said}" if said else ""),
                ) from None
            if isinstance(exc, TimeoutError):
                exchange = record(error=f"timed out after {timeout:g} s (handshake)")
                raise TargetTimeout(
                    f"{what}: no handshake answer within {timeout:g} s", exchange
                ) from None
            if isinstance(exc, InvalidHandshake):
                text = self.redactor.redact(f"invalid handshake: {exc}")
                exchange = record(error=text)
                raise StreamRefused(None, exchange, f"{what}: {text}") from None
            if isinstance(exc, (OSError, EOFError)):
                text = os_error_text(exc)
                exchange = record(error=text)
                raise TargetUnreachable(f"{what}: {text}", exchange) from None
            raise
        response = connection.response
        exchange = record(
            status=response.status_code,
            response_headers=list(response.headers.raw_items()),
            body=bytes(response.body) if response.body else None,
            request_headers=list(connection.request.headers.raw_items()),
        )
        self.meter.streams += 1
        return StreamConnection(connection, exchange, self.redactor)


class StreamConnection:
    """An open stream. ``exchange`` is its recorded handshake; every frame received or sent,
    and the close, is appended to ``exchange.events``. Every wait takes a timeout."""

    def __init__(self, connection: Any, exchange: Exchange, redactor: Redactor) -> None:
        self._connection = connection
        self.exchange = exchange
        self.redactor = redactor
        self.sets: list[dict[str, Any]] = []  #: every ActivitySet received, in order
        self.activities: list[dict[str, Any]] = []  #: the activities of all sets, in order
        self.empty_frames = 0  #: empty keep-alive frames received
        self._closed = False
        self._close_code: int | None = None
        self._close_reason: str | None = None

    # --- receiving -----------------------------------------------------------------------------

    def recv_frame(self, timeout: float) -> str | bytes | None:
        """The next frame, or None when none arrives within ``timeout`` seconds.

        Raises StreamClosed (with the close code and reason) when the server closed the stream.
        """
        from websockets.exceptions import ConnectionClosed

        if self._closed:
            raise self._closed_error()
        try:
            frame: str | bytes = self._connection.recv(timeout=max(0.0, timeout))
        except TimeoutError:
            return None
        except ConnectionClosed as exc:
            self._mark_closed(exc)
            raise self._closed_error() from None
        self._record_frame("recv", frame)
        return frame

    def recv_activity_set(self, timeout: float) -> dict[str, Any] | None:
        """The next non-empty frame parsed as an ActivitySet (empty keep-alive frames are
        recorded, counted and skipped); None when none arrives within ``timeout`` seconds.

        Raises a Violation of DL-STREAM-002 for a frame that is not a JSON object with an
        ``activities`` list of objects.
        """
        deadline = time.monotonic() + timeout
        while True:
            frame = self.recv_frame(max(0.0, deadline - time.monotonic()))
            if frame is None:
                return None
            if frame in ("", b""):
                self.empty_frames += 1
                continue
            data = self._parse_set(frame)
            self.sets.append(data)
            self.activities.extend(data["activities"])
            return data

    def _parse_set(self, frame: str | bytes) -> dict[str, Any]:
        text = frame.decode("utf-8", "replace") if isinstance(frame, bytes) else frame
        shown = self.redactor.redact(text[:300]) + ("..." if len(text) > 300 else "")
        kind = "a binary message" if isinstance(frame, bytes) else "a text message"
        try:
            data = json.loads(text)
        except ValueError:
            data = None
            observed = f"{kind} that is not JSON: {shown!r}"
        else:
            observed = f"{kind} holding JSON {type(data).__name__}: {shown!r}"
        if not isinstance(data, dict) or not isinstance(data.get("activities"), list):
            if isinstance(data, dict):
                observed = f"{kind} holding an object without an activities list: {shown!r}"
            raise Violation(
                "every stream message an ActivitySet: a JSON object with an activities list",
                observed,
                [self.exchange],
                requirement=STREAM_SHAPE_RULE,
            )
        if not all(isinstance(a, dict) for a in data["activities"]):
            raise Violation(
                "every stream message an ActivitySet whose activities are objects",
                f"activities {shown!r}",
                [self.exchange],
                requirement=STREAM_SHAPE_RULE,
            )
        return data

    def collect(
        self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float
    ) -> list[dict[str, Any]]:
        """Receive activity sets until ``predicate`` holds for the activities received during
        this call, or ``timeout`` seconds pass; return those activities (the sets themselves
        are in ``sets``). StreamClosed propagates if the server closes first."""
        deadline = time.monotonic() + timeout
        collected: list[dict[str, Any]] = []
        while not predicate(collected):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            data = self.recv_activity_set(remaining)
            if data is None:
                break
            collected.extend(data["activities"])
        return collected

    # --- sending and closing -------------------------------------------------------------------

    def send_text(self, text: str) -> None:
        from websockets.exceptions import ConnectionClosed

        if self._closed:
            raise self._closed_error()
        try:
            self._connection.send(text)
        except ConnectionClosed as exc:
            self._mark_closed(exc)
            raise self._closed_error() from None
        self._record_frame("send", text)

    @property
    def closed(self) -> bool:
        from websockets.protocol import State

        return self._closed or self._connection.state is State.CLOSED

    @property
    def close_code(self) -> int | None:
        return self._close_code if self._closed else self._connection.close_code

    @property
    def close_reason(self) -> str | None:
        return self._close_reason if self._closed else self._connection.close_reason

    def close(self) -> None:
        """Close the stream (idempotent; the close handshake waits at most 2 s)."""
        from websockets.protocol import State

        if self._closed:
            return
        already = self._connection.state is State.CLOSED
        try:
            self._connection.close()
        finally:
            self._closed = True
            self._close_code = self._connection.close_code
            self._close_reason = self._connection.close_reason
            if already:
                detail = (
                    f"found closed by the server: code {self._close_code}, "
                    f"reason {self._close_reason!r}"
                )
            else:
                detail = "closed by the kit"
            self.exchange.events.append(StreamEvent(time.time(), "close", None, detail))

    def __enter__(self) -> StreamConnection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- internals -----------------------------------------------------------------------------

    def _record_frame(self, direction: str, frame: str | bytes) -> None:
        if isinstance(frame, bytes):
            event = StreamEvent(
                time.time(),
                direction,
                frame.decode("utf-8", "replace"),
                f"binary, {len(frame)} bytes",
            )
        else:
            event = StreamEvent(time.time(), direction, frame)
        self.exchange.events.append(event)

    def _mark_closed(self, exc: Any) -> None:
        received = getattr(exc, "rcvd", None)
        self._closed = True
        self._close_code = received.code if received is not None else None
        self._close_reason = received.reason if received is not None else None
        if received is not None:
            detail = f"by the server: code {received.code}, reason {received.reason!r}"
        else:
            detail = "without a close frame"
        self.exchange.events.append(StreamEvent(time.time(), "close", None, detail))

    def _closed_error(self) -> StreamClosed:
        return StreamClosed(self._close_code, self._close_reason, self.exchange)


# --- small helpers ---------------------------------------------------------------------------


@functools.cache
def _ws_connect_extra() -> dict[str, Any]:
    """Keyword arguments only recent websockets versions take: no proxy from the environment
    (15+), and the direct-connection form of connect() without a deprecation warning (17.1+)."""
    from websockets.sync.client import connect

    parameters = inspect.signature(connect).parameters
    extra: dict[str, Any] = {}
    if "proxy" in parameters:
        extra["proxy"] = None
    if "legacy" in parameters:
        extra["legacy"] = True
    return extra


def _ws_user_agent() -> str:
    from websockets.version import version

    return f"{USER_AGENT} websockets/{version}"


@functools.cache
def _ssl_context(verify: bool) -> ssl.SSLContext:
    """One per process and ``verify``: loading the CA certificates costs ~30 ms of CPU, and a
    run opens streams in most tests (an SSL context may be shared)."""
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def os_error_text(exc: BaseException) -> str:
    """A network failure as a person reads it."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return f"host name not found ({exc})"
    if isinstance(exc, ConnectionResetError):
        return "connection reset"
    if isinstance(exc, EOFError):
        return f"connection closed during the handshake ({exc})"
    return f"{type(exc).__name__}: {exc}"
