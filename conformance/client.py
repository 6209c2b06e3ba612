"""A Direct Line 3.0 client for the suite: one method per operation, every exchange recorded.

The client is deliberately neutral: an HTTP error status is not an exception (tests judge
statuses), bodies are whatever the test asks for, and nothing is retried except a 429 (as the
live service asks). It raises only when it could not get an answer at all
(:class:`~conformance.errors.TargetTimeout`, :class:`~conformance.errors.TargetUnreachable`) or
when a run limit is reached (:class:`~conformance.errors.BudgetExhausted`).

Everything it sends or receives lands in its :class:`~conformance.evidence.Recorder`; every
credential it sends, and every ``token`` or stream ``t`` it receives, is registered with its
:class:`~conformance.evidence.Redactor` so later output hides it.

Streams (:meth:`DirectLineClient.open_stream`) use the sync client of ``websockets``; the
handshake is recorded as an exchange of kind ``"websocket"`` and the frames as its events.
"""

from __future__ import annotations

import email.utils
import enum
import functools
import inspect
import json
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal
from urllib.parse import parse_qs, quote, urlsplit

import httpx

from conformance import __version__
from conformance.errors import (
    BudgetExhausted,
    ConfigError,
    PreconditionFailed,
    StreamClosed,
    StreamRefused,
    TargetError,
    TargetTimeout,
    TargetUnreachable,
)
from conformance.evidence import Exchange, Recorder, Redactor, StreamEvent

__all__ = [
    "NOBODY",
    "SECRET",
    "Auth",
    "Conversation",
    "ConversationBudget",
    "DirectLineClient",
    "RateLimiter",
    "RawAuth",
    "StreamConnection",
    "UploadFile",
    "parse_retry_after",
    "stream_ws_url",
]

#: The header that ties every request to the test that sent it (for the target's logs).
CASE_HEADER: Final = "x-dl-conformance-case"
USER_AGENT: Final = f"directline-conformance/{__version__}"
#: How often a 429 is retried (so at most 4 attempts).
MAX_RETRIES: Final = 3
#: The wait before retrying a 429 that has no (readable) Retry-After.
DEFAULT_BACKOFF: Final = 1.0
#: Close handshake timeout of a stream, seconds.
STREAM_CLOSE_TIMEOUT: Final = 2.0
#: Largest WebSocket message accepted (activity sets with inline attachments can be big).
STREAM_MAX_SIZE: Final = 32 * 2**20
#: How much of a refused handshake's body its error message quotes.
REFUSAL_BODY_CHARS: Final = 300


class _SecretType(enum.Enum):
    SECRET = "SECRET"

    def __repr__(self) -> str:
        return "SECRET"


class _NoBodyType(enum.Enum):
    NOBODY = "NOBODY"

    def __repr__(self) -> str:
        return "NOBODY"


#: ``auth=SECRET``: authenticate with the client's secret (no header when it has none).
SECRET: Final = _SecretType.SECRET
#: ``body=NOBODY``: send no body at all (any other value, None included, is sent as JSON).
NOBODY: Final = _NoBodyType.NOBODY


@dataclass(frozen=True)
class RawAuth:
    """``auth=RawAuth("Basic abc")``: send exactly this Authorization header value."""

    header_value: str


#: str: "Bearer <str>"; RawAuth: verbatim; None: no Authorization header; SECRET: the secret.
Auth = str | RawAuth | None | Literal[_SecretType.SECRET]


@dataclass
class UploadFile:
    name: str
    content: bytes
    content_type: str = "application/octet-stream"


@dataclass
class Conversation:
    """A started conversation, read leniently from a start answer (a 2xx with a conversationId):
    the fields the suite needs, None when absent or of the wrong type (tests judge the shape)."""

    id: str
    token: str | None
    stream_url: str | None
    expires_in: int | None
    answer: Exchange


class RateLimiter:
    """Thread-safe request spacing shared by every client of a run (a token bucket holding one
    token: requests are at least ``1/per_second`` apart). ``None`` means unlimited.

    Each process has its own limiter: with several workers, give each its share of the rate.
    """

    def __init__(
        self,
        per_second: float | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if per_second is not None and not per_second > 0:
            raise ConfigError(f"requests per second must be more than 0, not {per_second!r}")
        self.per_second = per_second
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next = float("-inf")

    def acquire(self) -> None:
        """Wait (if need be) until the next request may go."""
        if self.per_second is None:
            return
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + 1.0 / self.per_second
        if slot > now:
            self._sleep(slot - now)


class ConversationBudget:
    """Thread-safe count of the conversations this run may still create (None: no limit)."""

    def __init__(self, limit: int | None) -> None:
        if limit is not None and limit < 0:
            raise ConfigError(f"the conversation budget must be 0 or more, not {limit!r}")
        self.limit = limit
        self.spent = 0
        self._lock = threading.Lock()

    def spend(self) -> None:
        with self._lock:
            if self.limit is not None and self.spent >= self.limit:
                raise BudgetExhausted(
                    f"the conversation budget of this run is spent: {self.limit} conversations "
                    "(raise the profile's conversation limit to run more tests)"
                )
            self.spent += 1

    @property
    def remaining(self) -> int | None:
        return None if self.limit is None else max(0, self.limit - self.spent)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait according to a ``Retry-After`` value, None when absent or unreadable.

    Accepts integer (or decimal) seconds, an HTTP date, and explicit units ("1500ms", "2s").
    A bare number above 1000 is read as milliseconds, as the official JavaScript client reads
    every value (LIVE.md §10): no service asks for a 17-minute pause.
    """
    if value is None:
        return None
    text = value.strip()
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(ms|s)?", text, re.I)
    if match:
        number = float(match.group(1))
        unit = (match.group(2) or "").lower()
        if unit == "ms" or (not unit and number > 1000):
            return number / 1000.0
        return number
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def stream_ws_url(stream_url: str) -> str:
    """The URL to open a stream with: ``&amp;`` unescaped (the docs' reconnect example is
    HTML-escaped) and ``http(s)`` mapped to ``ws(s)`` as WebSocket clients do (catalog
    decision 1). Any other scheme is left for the WebSocket client to refuse."""
    url = stream_url.strip().replace("&amp;", "&")
    scheme, sep, rest = url.partition("://")
    mapped = {"http": "ws", "https": "wss"}.get(scheme.lower())
    return f"{mapped}{sep}{rest}" if sep and mapped else url


def _query_value(url: str, name: str) -> str | None:
    values = parse_qs(urlsplit(url).query, keep_blank_values=True).get(name)
    return values[0] if values else None


def _segment(value: str) -> str:
    """A path segment: percent-encode only what a segment cannot hold."""
    return quote(value, safe="-._~!$&'()*+,;=:@")


class DirectLineClient:
    """One client per test: records what it does in ``recorder``; hides credentials with
    ``redactor``; tags requests with ``case_id``; obeys the run's ``limiter`` and ``budget``.

    ``sleep`` and ``clock`` can be replaced (tests do, so nothing really waits).
    """

    def __init__(
        self,
        base_url: str,
        secret: str | None = None,
        *,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        recorder: Recorder | None = None,
        redactor: Redactor | None = None,
        case_id: str | None = None,
        limiter: RateLimiter | None = None,
        budget: ConversationBudget | None = None,
        max_retry_after: float = 30.0,
        verify: bool = True,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not timeout > 0:
            raise ConfigError(f"the request timeout must be more than 0 seconds, not {timeout!r}")
        self.base_url = base_url.rstrip("/")
        self.secret = secret
        self.timeout = timeout
        self.recorder = recorder if recorder is not None else Recorder()
        self.redactor = redactor if redactor is not None else Redactor()
        self.case_id = case_id
        self.limiter = limiter if limiter is not None else RateLimiter(None)
        self.budget = budget if budget is not None else ConversationBudget(None)
        self.max_retry_after = max_retry_after
        self.verify = verify
        self._sleep = sleep
        self._clock = clock
        self._streams: list[StreamConnection] = []
        self.redactor.add_secret(secret)
        self._http = httpx.Client(
            transport=transport,
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            trust_env=False,
            verify=verify,
        )

    # --- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        """Close every stream this client opened, then its HTTP connections."""
        for stream in self._streams:
            stream.close()
        self._streams.clear()
        self._http.close()

    def __enter__(self) -> DirectLineClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- operations --------------------------------------------------------------------------

    def generate_token(self, *, auth: Auth = SECRET, body: Any = NOBODY) -> Exchange:
        """POST /tokens/generate (``body``: TokenParameters as JSON, or NOBODY)."""
        return self._send("POST", "/tokens/generate", auth=auth, json_body=body)

    def refresh_token(self, *, auth: Auth) -> Exchange:
        """POST /tokens/refresh with the token to refresh as credential."""
        return self._send("POST", "/tokens/refresh", auth=auth)

    def start_conversation(self, *, auth: Auth = SECRET, body: Any = NOBODY) -> Exchange:
        """POST /conversations. Spends one conversation of the run's budget first."""
        self.budget.spend()
        return self._send("POST", "/conversations", auth=auth, json_body=body)

    def reconnect(
        self, conversation_id: str, *, auth: Auth = SECRET, watermark: str | None = None
    ) -> Exchange:
        """GET /conversations/{id}[?watermark=] (``watermark=""`` sends ``watermark=``)."""
        params = None if watermark is None else {"watermark": watermark}
        return self._send(
            "GET", f"/conversations/{_segment(conversation_id)}", auth=auth, params=params
        )

    def get_activities(
        self, conversation_id: str, *, auth: Auth = SECRET, watermark: str | None = None
    ) -> Exchange:
        """GET /conversations/{id}/activities[?watermark=]."""
        params = None if watermark is None else {"watermark": watermark}
        return self._send(
            "GET",
            f"/conversations/{_segment(conversation_id)}/activities",
            auth=auth,
            params=params,
        )

    def post_activity(
        self,
        conversation_id: str,
        activity: Any,
        *,
        auth: Auth = SECRET,
        timeout: float | None = None,
    ) -> Exchange:
        """POST /conversations/{id}/activities with ``activity`` as JSON."""
        return self._send(
            "POST",
            f"/conversations/{_segment(conversation_id)}/activities",
            auth=auth,
            json_body=activity,
            timeout=timeout,
        )

    def upload(
        self,
        conversation_id: str,
        files: Sequence[UploadFile],
        *,
        user_id: str | None,
        activity: dict[str, Any] | None = None,
        single: bool = False,
        auth: Auth = SECRET,
        activity_first: bool = True,
    ) -> Exchange:
        """POST /conversations/{id}/upload[?userId=].

        ``single=True``: exactly one file as the raw body, with its Content-Type and
        ``Content-Disposition: name="file"; filename="..."`` (the send page's single form).
        Otherwise multipart/form-data: one ``file`` part per file and, when ``activity`` is
        given, an ``activity`` part of type ``application/vnd.microsoft.activity`` (first, as
        the official client sends it, unless ``activity_first=False``).
        """
        path = f"/conversations/{_segment(conversation_id)}/upload"
        params = None if user_id is None else {"userId": user_id}
        if single:
            if len(files) != 1 or activity is not None:
                raise ValueError("a single upload carries exactly one file and no activity")
            (file,) = files
            headers = {
                "Content-Type": file.content_type,
                "Content-Disposition": f'name="file"; filename="{_quote_filename(file.name)}"',
            }
            return self._send(
                "POST", path, auth=auth, params=params, headers=headers, content=file.content
            )
        body, content_type = _multipart(files, activity, activity_first=activity_first)
        return self._send(
            "POST",
            path,
            auth=auth,
            params=params,
            headers={"Content-Type": content_type},
            content=body,
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        auth: Auth = SECRET,
        headers: Mapping[str, str] | None = None,
        content: bytes | str | None = None,
        params: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> Exchange:
        """A raw request for bad-input tests; ``path`` is relative to ``base_url``
        ("/conversations") or an absolute URL. ``headers`` override the client's own.

        A POST to a path ending in ``/conversations`` may start one: it spends the budget too.
        """
        if method.upper() == "POST" and urlsplit(path).path.rstrip("/").endswith("/conversations"):
            self.budget.spend()
        if isinstance(content, str):
            content = content.encode("utf-8")
        return self._send(
            method,
            path,
            auth=auth,
            headers=headers,
            content=content,
            params=params,
            timeout=timeout,
        )

    # --- helpers built on the operations ------------------------------------------------------

    def new_conversation(self, *, auth: Auth = SECRET, body: Any = NOBODY) -> Conversation:
        """Start a conversation and read its answer leniently.

        Raises PreconditionFailed when the answer is not a 2xx JSON object with a string
        ``conversationId`` (the test needing a conversation cannot go on).
        """
        answer = self.start_conversation(auth=auth, body=body)
        data = answer.json_or_none()
        if (
            answer.status is None
            or not 200 <= answer.status < 300
            or not isinstance(data, dict)
            or not isinstance(data.get("conversationId"), str)
            or not data["conversationId"]
        ):
            raise PreconditionFailed(
                f"could not start a conversation: {self.redactor.redact(answer.summary)} "
                "(expected a 2xx JSON object with a string conversationId)",
                answer,
            )
        expires = data.get("expires_in")
        if not isinstance(expires, int) or isinstance(expires, bool):
            expires = None
        return Conversation(
            id=data["conversationId"],
            token=data["token"] if isinstance(data.get("token"), str) else None,
            stream_url=data["streamUrl"] if isinstance(data.get("streamUrl"), str) else None,
            expires_in=expires,
            answer=answer,
        )

    def collect_activities(
        self,
        conversation_id: str,
        *,
        auth: Auth = SECRET,
        watermark: str | None = None,
        max_pages: int = 50,
    ) -> tuple[list[dict[str, Any]], str | None, list[Exchange]]:
        """Page through GET /activities by watermark until a page comes back empty.

        Returns (the activities in order, the last watermark seen, the GET exchanges). Stops
        early when a page has no watermark to advance with. Raises PreconditionFailed on a
        non-2xx or non-ActivitySet answer, on a watermark that does not move while activities
        keep coming, and after ``max_pages`` pages without an empty one.
        """
        activities: list[dict[str, Any]] = []
        exchanges: list[Exchange] = []
        current = watermark
        for _ in range(max_pages):
            exchange = self.get_activities(conversation_id, auth=auth, watermark=current)
            exchanges.append(exchange)
            page = self._activity_set(exchange, "page through the activities")
            batch = page["activities"]
            activities.extend(batch)
            new = page.get("watermark")
            if not batch:
                if isinstance(new, str):
                    current = new
                return activities, current, exchanges
            if not isinstance(new, str):
                return activities, current, exchanges
            if new == current:
                raise PreconditionFailed(
                    "could not page through the activities: the watermark stayed "
                    f"{new!r} while activities kept coming ({exchange.summary})",
                    exchange,
                )
            current = new
        raise PreconditionFailed(
            f"could not page through the activities: still not at an empty page after "
            f"{max_pages} pages ({len(activities)} activities so far)",
            exchanges[-1] if exchanges else None,
        )

    def wait_for_activities(
        self,
        conversation_id: str,
        predicate: Callable[[list[dict[str, Any]]], bool],
        *,
        auth: Auth = SECRET,
        timeout: float,
        interval: float = 0.1,
    ) -> list[dict[str, Any]]:
        """Poll GET /activities (the whole history, no watermark) until ``predicate`` holds for
        it or ``timeout`` seconds pass; return the activities seen last (the caller asserts).

        Raises PreconditionFailed on a non-2xx or non-ActivitySet answer.
        """
        deadline = self._clock() + timeout
        while True:
            exchange = self.get_activities(conversation_id, auth=auth)
            activities = list(self._activity_set(exchange, "poll the activities")["activities"])
            if predicate(activities):
                return activities
            remaining = deadline - self._clock()
            if remaining <= 0:
                return activities
            self._sleep(min(interval, remaining))

    def _activity_set(self, exchange: Exchange, doing: str) -> dict[str, Any]:
        data = exchange.json_or_none()
        if (
            exchange.status is None
            or not 200 <= exchange.status < 300
            or not isinstance(data, dict)
            or not isinstance(data.get("activities"), list)
            or not all(isinstance(a, dict) for a in data["activities"])
        ):
            raise PreconditionFailed(
                f"could not {doing}: {self.redactor.redact(exchange.summary)} "
                "(expected a 2xx ActivitySet with an activities list)",
                exchange,
            )
        return data

    # --- streams -----------------------------------------------------------------------------

    def open_stream(
        self,
        stream_url: str,
        *,
        timeout: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> StreamConnection:
        """Open a stream URL as a WebSocket (http(s) mapped to ws(s), ``&amp;`` unescaped).

        The handshake is recorded as a ``websocket`` exchange. A refused handshake (no 101)
        raises StreamRefused with its status and the recorded answer; a network failure raises
        TargetUnreachable or TargetTimeout. Redirects are not followed (a 3xx is a refusal).
        """
        from websockets.exceptions import InvalidHandshake, InvalidStatus, InvalidURI
        from websockets.sync.client import connect
        from websockets.uri import parse_uri

        open_timeout = self.timeout if timeout is None else timeout
        url = stream_ws_url(stream_url)
        self.redactor.add(_query_value(url, "t"))
        sent_headers: list[tuple[str, str]] = [("User-Agent", _ws_user_agent())]
        if self.case_id:
            sent_headers.append((CASE_HEADER, self.case_id))
        for name, value in (headers or {}).items():  # the caller's headers win, any case
            sent_headers = [(k, v) for k, v in sent_headers if k.lower() != name.lower()]
            sent_headers.append((name, value))
        for name, value in sent_headers:
            if name.lower() == "authorization":
                self._register_auth_value(value)

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
                response_body=body,
                started=started,
                elapsed=time.perf_counter() - t0,
                error=error,
                kind="websocket",
            )
            return self.recorder.add(exchange)

        try:
            ws_uri = parse_uri(url)
        except InvalidURI as exc:
            exchange = record(error=f"not a WebSocket URL: {exc}")
            raise StreamRefused(
                None,
                exchange,
                self.redactor.redact(f"cannot open the stream: {url} is not a WebSocket URL"),
            ) from None

        self.limiter.acquire()
        what = self.redactor.redact(f"WebSocket handshake with {url}")
        try:
            sock = socket.create_connection((ws_uri.host, ws_uri.port), timeout=open_timeout)
        except TimeoutError:
            exchange = record(error=f"timed out after {open_timeout:g} s (connect)")
            raise TargetTimeout(
                f"{what}: no connection within {open_timeout:g} s", exchange
            ) from None
        except OSError as exc:
            text = _os_error_text(exc)
            exchange = record(error=text)
            raise TargetUnreachable(f"{what}: {text}", exchange) from None

        remaining = max(0.001, open_timeout - (time.perf_counter() - t0))
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
                max_size=STREAM_MAX_SIZE,
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
                exchange = record(error=f"timed out after {open_timeout:g} s (handshake)")
                raise TargetTimeout(
                    f"{what}: no handshake answer within {open_timeout:g} s", exchange
                ) from None
            if isinstance(exc, InvalidHandshake):
                text = self.redactor.redact(f"invalid handshake: {exc}")
                exchange = record(error=text)
                raise StreamRefused(None, exchange, f"{what}: {text}") from None
            if isinstance(exc, (OSError, EOFError)):
                text = _os_error_text(exc)
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
        stream = StreamConnection(connection, exchange, self.redactor)
        self._streams.append(stream)
        return stream

    # --- the one place requests are sent ------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        *,
        auth: Auth,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        json_body: Any = NOBODY,
        timeout: float | None = None,
    ) -> Exchange:
        url = path if re.match(r"(?i)^[a-z][a-z0-9+.-]*://", path) else self.base_url + path
        all_headers: dict[str, str] = {"User-Agent": USER_AGENT}
        if self.case_id:
            all_headers[CASE_HEADER] = self.case_id
        authorization = self._authorization(auth)
        if authorization is not None:
            all_headers["Authorization"] = authorization
        if json_body is not NOBODY:
            content = json.dumps(json_body, ensure_ascii=False).encode("utf-8")
            all_headers["Content-Type"] = "application/json"
        for name, value in (headers or {}).items():  # the caller's headers win, any case
            for existing in [k for k in all_headers if k.lower() == name.lower()]:
                del all_headers[existing]
            all_headers[name] = value
        for name, value in all_headers.items():
            if name.lower() == "authorization":
                self._register_auth_value(value)
        request_timeout = self.timeout if timeout is None else timeout
        request = self._http.build_request(
            method,
            url,
            params=dict(params) if params is not None else None,
            headers=all_headers,
            content=content,
            timeout=httpx.Timeout(request_timeout),
        )
        body = request.read() if content is not None else None
        request_headers = [
            (k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw
        ]
        attempt = 0
        while True:
            self.limiter.acquire()
            started = time.time()
            t0 = time.perf_counter()
            exchange = Exchange(
                method=method,
                url=str(request.url),
                request_headers=request_headers,
                request_body=body,
                status=None,
                response_headers=[],
                response_body=None,
                started=started,
                elapsed=0.0,
            )
            try:
                response = self._http.send(request)
                try:
                    response.read()
                finally:
                    response.close()
            except httpx.TimeoutException as exc:
                exchange.elapsed = time.perf_counter() - t0
                phase = _timeout_phase(exc)
                exchange.error = f"timed out after {request_timeout:g} s ({phase})"
                self.recorder.add(exchange)
                raise TargetTimeout(
                    self.redactor.redact(
                        f"{method} {url}: no answer within {request_timeout:g} s ({phase})"
                    ),
                    exchange,
                ) from None
            except httpx.TransportError as exc:
                exchange.elapsed = time.perf_counter() - t0
                exchange.error = _transport_error_text(exc)
                self.recorder.add(exchange)
                raise TargetUnreachable(
                    self.redactor.redact(f"{method} {url}: {exchange.error}"), exchange
                ) from None
            except httpx.RequestError as exc:  # e.g. an undecodable compressed body
                exchange.elapsed = time.perf_counter() - t0
                exchange.error = f"{type(exc).__name__}: {exc}"
                self.recorder.add(exchange)
                raise TargetError(
                    self.redactor.redact(f"{method} {url}: unusable answer: {exchange.error}"),
                    exchange,
                ) from None
            exchange.elapsed = time.perf_counter() - t0
            exchange.status = response.status_code
            exchange.response_headers = [
                (k.decode("latin-1"), v.decode("latin-1")) for k, v in response.headers.raw
            ]
            exchange.response_body = response.content
            self.recorder.add(exchange)
            self._register_answer(exchange)
            if response.status_code != 429 or attempt >= MAX_RETRIES:
                return exchange
            attempt += 1
            delay = parse_retry_after(exchange.header("retry-after"))
            if delay is None:
                delay = DEFAULT_BACKOFF
            self._sleep(min(delay, self.max_retry_after))

    def _authorization(self, auth: Auth) -> str | None:
        if auth is SECRET:
            return f"Bearer {self.secret}" if self.secret is not None else None
        if auth is None:
            return None
        if isinstance(auth, RawAuth):
            return auth.header_value
        if isinstance(auth, str):
            return f"Bearer {auth}"
        raise TypeError(f"auth must be SECRET, a token string, RawAuth or None, not {auth!r}")

    def _register_auth_value(self, value: str) -> None:
        self.redactor.add(value)
        parts = value.strip().split(None, 1)
        if len(parts) == 2:
            self.redactor.add(parts[1].strip())

    def _register_answer(self, exchange: Exchange) -> None:
        """Hide every token and stream ``t`` an answer hands out."""
        data = exchange.json_or_none()
        if not isinstance(data, dict):
            return
        token = data.get("token")
        if isinstance(token, str):
            self.redactor.add(token)
        stream_url = data.get("streamUrl")
        if isinstance(stream_url, str):
            self.redactor.add(_query_value(stream_url.replace("&amp;", "&"), "t"))


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
            frame = self._connection.recv(timeout=max(0.0, timeout))
        except TimeoutError:
            return None
        except ConnectionClosed as exc:
            self._mark_closed(exc)
            raise self._closed_error() from None
        self._record_frame("recv", frame)
        return frame

    def recv_activity_set(self, timeout: float) -> dict[str, Any] | None:
        """The next non-empty frame parsed as a JSON object (empty keep-alive frames are
        recorded, counted and skipped); None when none arrives within ``timeout`` seconds.

        Raises ValueError (with the frame, redacted) for a frame that is not a JSON object.
        """
        deadline = time.monotonic() + timeout
        while True:
            frame = self.recv_frame(max(0.0, deadline - time.monotonic()))
            if frame is None:
                return None
            if frame in ("", b""):
                self.empty_frames += 1
                continue
            text = frame.decode("utf-8", "replace") if isinstance(frame, bytes) else frame
            try:
                data = json.loads(text)
            except ValueError as exc:
                shown = self.redactor.redact(text[:500])
                raise ValueError(f"stream frame is not JSON ({exc}): {shown!r}") from None
            if not isinstance(data, dict):
                shown = self.redactor.redact(text[:500])
                raise ValueError(f"stream frame is JSON but not an object: {shown!r}")
            self.sets.append(data)
            batch = data.get("activities")
            if isinstance(batch, list):
                self.activities.extend(a for a in batch if isinstance(a, dict))
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
            batch = data.get("activities")
            if isinstance(batch, list):
                collected.extend(a for a in batch if isinstance(a, dict))
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
    import websockets

    return f"{USER_AGENT} websockets/{websockets.__version__}"


def _ssl_context(verify: bool) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _quote_filename(name: str) -> str:
    """A file name as a quoted-string value (HTML form encoding of ", CR and LF)."""
    return name.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def _multipart(
    files: Sequence[UploadFile], activity: dict[str, Any] | None, *, activity_first: bool
) -> tuple[bytes, str]:
    import uuid

    boundary = f"----dl-conformance-{uuid.uuid4().hex}"
    parts: list[bytes] = []
    for file in files:
        head = (
            f'Content-Disposition: form-data; name="file"; filename="{_quote_filename(file.name)}"'
            f"\r\nContent-Type: {file.content_type}\r\n\r\n"
        )
        parts.append(head.encode("utf-8") + file.content)
    if activity is not None:
        head = (
            'Content-Disposition: form-data; name="activity"\r\n'
            "Content-Type: application/vnd.microsoft.activity\r\n\r\n"
        )
        part = head.encode("utf-8") + json.dumps(activity, ensure_ascii=False).encode("utf-8")
        if activity_first:
            parts.insert(0, part)
        else:
            parts.append(part)
    delimiter = f"--{boundary}\r\n".encode("ascii")
    body = b"".join(delimiter + part + b"\r\n" for part in parts)
    body += f"--{boundary}--\r\n".encode("ascii")
    return body, f"multipart/form-data; boundary={boundary}"


def _timeout_phase(exc: httpx.TimeoutException) -> str:
    if isinstance(exc, httpx.ConnectTimeout):
        return "connect"
    if isinstance(exc, httpx.WriteTimeout):
        return "write"
    if isinstance(exc, httpx.PoolTimeout):
        return "pool"
    return "read"


def _transport_error_text(exc: httpx.TransportError) -> str:
    detail = str(exc) or type(exc).__name__
    lowered = detail.lower()
    if "refused" in lowered:
        return f"connection refused ({detail})"
    if "name or service" in lowered or "nodename" in lowered or "getaddrinfo" in lowered:
        return f"host name not found ({detail})"
    if isinstance(exc, httpx.RemoteProtocolError) or "reset" in lowered:
        return f"connection closed without an answer ({detail})"
    if isinstance(exc, httpx.ConnectError):
        return f"could not connect ({detail})"
    return f"{type(exc).__name__}: {detail}"


def _os_error_text(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return f"host name not found ({exc})"
    if isinstance(exc, ConnectionResetError):
        return "connection reset"
    if isinstance(exc, EOFError):
        return f"connection closed during the handshake ({exc})"
    return f"{type(exc).__name__}: {exc}"
