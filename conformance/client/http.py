"""The HTTP side of the client: one method per Direct Line operation, every exchange recorded.

The client is deliberately neutral: an HTTP error status is not an exception (tests judge
statuses), bodies are whatever the test asks for. It raises only when it could not get an answer
at all (:class:`~conformance.errors.TargetTimeout`, :class:`~conformance.errors.TargetUnreachable`),
when the run's limits say no (:class:`~conformance.errors.BudgetExhausted`,
:class:`~conformance.errors.RunStopped`), or when the target answered something no test can go
on from (a conversation id that cannot be put in a URL: a Violation of the rule that gave it).

Retries, and only these: a 429 is retried after its ``Retry-After`` (the run's circuit breaker
counts them); a GET answered 500 or 503 (the hosted service's transient ``ServiceError``,
docs/live-service.md §6) is retried twice with back-off. Every attempt is recorded, the ones
retried carry a note, and the test judges the last answer: a retry never makes a pass by itself.

At most the run's body cap of any answer is read (the rest is dropped and its length noted), so
a target answering gigabytes cannot fill the memory.

Everything it sends or receives lands in its :class:`~conformance.evidence.Recorder`; every
credential it sends, and every ``token`` or stream ``t`` it receives, is registered with its
:class:`~conformance.evidence.Redactor` so later output hides it.
"""

from __future__ import annotations

import functools
import json
import re
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final
from urllib.parse import urlsplit

import httpx

from conformance.client.limits import Meter, RunGovernor
from conformance.client.multipart import multipart_body, quote_filename
from conformance.client.stream import StreamConnection, StreamOpener
from conformance.client.wire import (
    CASE_HEADER,
    NOBODY,
    SECRET,
    USER_AGENT,
    Auth,
    Conversation,
    RawAuth,
    TimedStart,
    UploadFile,
    id_problem,
    parse_retry_after,
    query_value,
    segment,
)
from conformance.config.costs import HISTORY_PAGES
from conformance.errors import (
    ConfigError,
    PreconditionFailed,
    TargetError,
    TargetTimeout,
    TargetUnreachable,
    Violation,
)
from conformance.evidence import Exchange, Recorder, Redactor

__all__ = ["MAX_BODY", "DirectLineClient"]

#: How often a 429 is retried (so at most 4 attempts).
MAX_RETRIES: Final = 3
#: How often a GET answered 500/503 is retried, and the pauses before each retry.
TRANSIENT_RETRIES: Final = (0.5, 1.5)
TRANSIENT_STATUSES: Final = frozenset({500, 503})
#: The wait before retrying a 429 that has no (readable) Retry-After.
DEFAULT_BACKOFF: Final = 1.0
#: The most of an answer read by default (a profile sets its own: [limits] max_body).
MAX_BODY: Final = 1024 * 1024
#: The rule a start answer's conversationId answers to.
CONVERSATION_ID_RULE: Final = "DL-START-002"


@functools.cache
def _tls_context(verify: bool) -> ssl.SSLContext:
    """The SSL context httpx would make for ``verify`` (certifi's CA bundle), once per process:
    reading the bundle costs ~30 ms of CPU, and a run makes a client per test and per
    Hypothesis example (an SSL context may be shared)."""
    return httpx.create_ssl_context(verify=verify, trust_env=False)


class DirectLineClient:
    """One client per test: records what it does in ``recorder``; hides credentials with
    ``redactor``; tags requests with ``case_id``; asks the run's ``governor`` before each
    request (pace, limits, stop); counts what it sends in ``meter`` (the test's cost).

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
        governor: RunGovernor | None = None,
        meter: Meter | None = None,
        max_body: int = MAX_BODY,
        poll_interval: float = 1.0,
        max_retry_after: float = 30.0,
        verify: bool = True,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not timeout > 0 or timeout == float("inf"):
            raise ConfigError(
                f"the request timeout must be a finite number of seconds above 0, not {timeout!r}"
            )
        self.base_url = base_url.rstrip("/")
        self.secret = secret
        self.timeout = timeout
        self.recorder = recorder if recorder is not None else Recorder()
        self.redactor = redactor if redactor is not None else Redactor()
        self.case_id = case_id
        self.governor = governor if governor is not None else RunGovernor(sleep=sleep)
        self.meter = meter if meter is not None else Meter()
        self.max_body = max_body
        #: The longest pause between two polls of a wait (the profile's poll_interval).
        self.poll_interval = poll_interval
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
            verify=_tls_context(verify),
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
        return self._send(
            "POST", "/tokens/generate", auth=auth, json_body=body, creates=self._creates(auth)
        )

    def refresh_token(self, *, auth: Auth) -> Exchange:
        """POST /tokens/refresh with the token to refresh as credential."""
        return self._send("POST", "/tokens/refresh", auth=auth)

    def start_conversation(self, *, auth: Auth = SECRET, body: Any = NOBODY) -> Exchange:
        """POST /conversations (with a token: the token's own conversation, nothing new)."""
        return self._send(
            "POST",
            "/conversations",
            auth=auth,
            json_body=body,
            creates=self._creates(auth),
        )

    def reconnect(
        self, conversation_id: str, *, auth: Auth = SECRET, watermark: str | None = None
    ) -> Exchange:
        """GET /conversations/{id}[?watermark=] (``watermark=""`` sends ``watermark=``)."""
        params = None if watermark is None else {"watermark": watermark}
        return self._send(
            "GET", f"/conversations/{segment(conversation_id)}", auth=auth, params=params
        )

    def get_activities(
        self, conversation_id: str, *, auth: Auth = SECRET, watermark: str | None = None
    ) -> Exchange:
        """GET /conversations/{id}/activities[?watermark=]."""
        params = None if watermark is None else {"watermark": watermark}
        return self._send(
            "GET",
            f"/conversations/{segment(conversation_id)}/activities",
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
            f"/conversations/{segment(conversation_id)}/activities",
            auth=auth,
            json_body=activity,
            timeout=timeout,
            sends_to=conversation_id,
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
        path = f"/conversations/{segment(conversation_id)}/upload"
        params = None if user_id is None else {"userId": user_id}
        if single:
            if len(files) != 1 or activity is not None:
                raise ValueError("a single upload carries exactly one file and no activity")
            (file,) = files
            headers = {
                "Content-Type": file.content_type,
                "Content-Disposition": f'name="file"; filename="{quote_filename(file.name)}"',
            }
            return self._send(
                "POST",
                path,
                auth=auth,
                params=params,
                headers=headers,
                content=file.content,
                sends_to=conversation_id,
            )
        body, content_type = multipart_body(files, activity, activity_first=activity_first)
        return self._send(
            "POST",
            path,
            auth=auth,
            params=params,
            headers={"Content-Type": content_type},
            content=body,
            sends_to=conversation_id,
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

        A POST to a path ending in ``/conversations`` may start one, and a POST of activities
        reaches the bot when accepted: both are counted as such.
        """
        route = urlsplit(path).path.rstrip("/")
        post = method.upper() == "POST"
        starts = post and route.endswith("/conversations")
        sends = post and (route.endswith("/activities") or route.endswith("/upload"))
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
            creates=starts and self._creates(auth),
            sends_to=route if sends else None,
        )

    # --- helpers built on the operations ------------------------------------------------------

    def new_conversation(self, *, auth: Auth = SECRET, body: Any = NOBODY) -> Conversation:
        """Start a conversation and read its answer leniently.

        Raises PreconditionFailed when the answer is not a 2xx JSON object with a
        ``conversationId``; a Violation of DL-START-002 when that id cannot be used in the API's
        URLs (not a string, empty, thousands of characters long).
        """
        answer = self.start_conversation(auth=auth, body=body)
        data = answer.json_or_none()
        if (
            answer.status is None
            or not 200 <= answer.status < 300
            or not isinstance(data, dict)
            or "conversationId" not in data
        ):
            raise PreconditionFailed(
                f"could not start a conversation: {self.redactor.redact(answer.summary)} "
                "(expected a 2xx JSON object with a string conversationId)",
                answer,
            )
        problem = id_problem(data["conversationId"])
        if problem is not None:
            raise Violation(
                "a conversationId the API's URLs can hold: a short string",
                f"a conversationId that is {problem}",
                [answer],
                requirement=CONVERSATION_ID_RULE,
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

    def pause(self, seconds: float) -> None:
        """Wait ``seconds`` (none when not positive); RunStopped as soon as the run stops."""
        if seconds > 0:
            self.governor.pause(seconds)

    def timed_conversation(self) -> TimedStart:
        """:meth:`new_conversation`, with the instants around the start (a timing test counts
        its wait from them)."""
        before = time.monotonic()
        conversation = self.new_conversation()
        return TimedStart(conversation, before, time.monotonic())

    def collect_activities(
        self,
        conversation_id: str,
        *,
        auth: Auth = SECRET,
        watermark: str | None = None,
        max_pages: int = HISTORY_PAGES,
        until: Callable[[list[dict[str, Any]]], bool] | None = None,
    ) -> tuple[list[dict[str, Any]], str | None, list[Exchange]]:
        """Page through GET /activities by watermark until a page comes back empty, or (with
        ``until``) until what was read holds what the caller looks for: a test that wants one
        activity need not pay for the empty page that proves the end (the pages counted on the
        test as one paged read, conformance.config.costs.HISTORY_PAGES at most).

        Returns (the activities in order, the last watermark seen, the GET exchanges). Stops
        early when a page has no watermark to advance with. Raises PreconditionFailed on a
        non-2xx or non-ActivitySet answer, on a watermark that does not move while activities
        keep coming, and after ``max_pages`` pages without an empty one.
        """
        activities: list[dict[str, Any]] = []
        exchanges: list[Exchange] = []
        current = watermark
        self.meter.pagings += 1
        self.meter.paging = True
        try:
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
                if until is not None and until(activities):
                    return activities, new, exchanges
                if new == current:
                    raise PreconditionFailed(
                        "could not page through the activities: the watermark stayed "
                        f"{new!r} while activities kept coming ({exchange.summary})",
                        exchange,
                    )
                current = new
        finally:
            self.meter.paging = False
        raise PreconditionFailed(
            f"could not page through the activities: still not at an empty page after "
            f"{max_pages} pages ({len(activities)} activities so far)",
            exchanges[-1] if exchanges else None,
        )

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
        """Open a stream URL as a WebSocket (see :class:`~conformance.client.stream.StreamOpener`);
        it is closed with the client."""
        opener = StreamOpener(
            recorder=self.recorder,
            redactor=self.redactor,
            governor=self.governor,
            meter=self.meter,
            case_id=self.case_id,
            verify=self.verify,
            max_size=self.max_body,
            register_auth=self._register_auth_value,
        )
        stream = opener.open(
            stream_url, timeout=self.timeout if timeout is None else timeout, headers=headers
        )
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
        creates: bool = False,
        sends_to: str | None = None,
    ) -> Exchange:
        """Send one request (retrying only what the module docstring says) and record it.

        ``creates``: a 2xx answer creates a conversation; ``sends_to``: the conversation an
        activity is posted to (paced per conversation; a 2xx answer reaches the bot).
        """
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
        try:
            request = self._http.build_request(
                method,
                url,
                params=dict(params) if params is not None else None,
                headers=all_headers,
                content=content,
                timeout=httpx.Timeout(request_timeout),
            )
        except (httpx.InvalidURL, UnicodeEncodeError, ValueError) as exc:
            shown = url if len(url) <= 200 else f"{url[:200]}... ({len(url):,} characters)"
            raise TargetError(
                self.redactor.redact(f"cannot send {method} {shown}: {exc}"), None
            ) from None
        body = request.read() if content is not None else None
        request_headers = [
            (k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw
        ]
        sends = sends_to if method.upper() == "POST" else None
        attempt = 0
        while True:
            self.governor.admit(creates_conversation=creates, send_to=sends)
            exchange = self._attempt(method, url, request, request_headers, body, request_timeout)
            status = exchange.status
            accepted = status is not None and 200 <= status < 300
            self.meter.count_request(retry=attempt > 0)
            if accepted and creates:
                self.meter.count_conversation()
            if accepted and sends:
                self.meter.count_activity()
            self.governor.settle(
                answered=True,
                status=status,
                created_conversation=accepted and creates,
                reached_bot=accepted and sends is not None,
            )
            delay = self._retry_delay(method, exchange, attempt)
            if delay is None:
                return exchange
            attempt += 1
            exchange.note = f"answered {status}: retried after {delay:g} s" + (
                " (Retry-After)" if status == 429 else " (transient service error)"
            )
            self._sleep(delay)

    def _attempt(
        self,
        method: str,
        url: str,
        request: httpx.Request,
        request_headers: list[tuple[str, str]],
        body: bytes | None,
        request_timeout: float,
    ) -> Exchange:
        """Send the request once; the answer (body capped) recorded, or the failure raised."""
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
            response = self._http.send(request, stream=True)
            try:
                exchange.response_body, exchange.body_length = self._read_capped(
                    response, t0 + request_timeout
                )
                exchange.truncated = exchange.body_length is not None
            finally:
                response.close()
        except httpx.TimeoutException as exc:
            phase = _timeout_phase(exc)
            waited = f"{request_timeout:g} s ({phase})"
            failure = self._failed(
                exchange, t0, TargetTimeout, f"timed out after {waited}",
                f"{method} {url}: no answer within {waited}",
            )  # fmt: skip
            raise failure from None
        except httpx.TransportError as exc:
            text = _transport_error_text(exc)
            failure = self._failed(exchange, t0, TargetUnreachable, text, f"{method} {url}: {text}")
            raise failure from None
        except httpx.RequestError as exc:  # e.g. an undecodable compressed body
            text = f"{type(exc).__name__}: {exc}"
            failure = self._failed(
                exchange, t0, TargetError, text, f"{method} {url}: unusable answer: {text}",
                answered=True,
            )  # fmt: skip
            raise failure from None
        exchange.elapsed = time.perf_counter() - t0
        exchange.status = response.status_code
        exchange.response_headers = [
            (k.decode("latin-1"), v.decode("latin-1")) for k, v in response.headers.raw
        ]
        self.recorder.add(exchange)
        self._register_answer(exchange)
        return exchange

    def _failed(
        self,
        exchange: Exchange,
        t0: float,
        kind: type[TargetError],
        error: str,
        message: str,
        *,
        answered: bool = False,
    ) -> TargetError:
        """Record a request that got no usable answer, count it, and make its exception."""
        exchange.elapsed = time.perf_counter() - t0
        exchange.error = error
        self.recorder.add(exchange)
        self.meter.count_request(retry=False)
        self.governor.settle(answered=answered)
        return kind(self.redactor.redact(message), exchange)

    def _read_capped(self, response: httpx.Response, deadline: float) -> tuple[bytes, int | None]:
        """(at most ``max_body`` bytes of the body, its length when cut: the declared one, or
        -1 when unknown; None when the whole body was read).

        A body still arriving when the request's time is up is a timeout: a target trickling
        bytes forever must not hold the run."""
        kept = bytearray()
        total = 0
        for chunk in response.iter_bytes():
            total += len(chunk)
            room = self.max_body - len(kept)
            if room > 0:
                kept += chunk[:room]
            if total > self.max_body:
                declared = response.headers.get("content-length", "")
                return bytes(kept), int(declared) if declared.isdigit() else -1
            if time.perf_counter() > deadline:
                raise httpx.ReadTimeout("the body was still arriving", request=response.request)
        return bytes(kept), None

    def _retry_delay(self, method: str, exchange: Exchange, attempt: int) -> float | None:
        """Seconds to wait before sending the request again, or None: judge this answer."""
        status = exchange.status
        if status == 429 and attempt < MAX_RETRIES:
            delay = parse_retry_after(exchange.header("retry-after"))
            return min(DEFAULT_BACKOFF if delay is None else delay, self.max_retry_after)
        if (
            method.upper() == "GET"
            and status in TRANSIENT_STATUSES
            and attempt < len(TRANSIENT_RETRIES)
        ):
            delay = parse_retry_after(exchange.header("retry-after"))
            pause = TRANSIENT_RETRIES[attempt]
            return min(max(pause, delay or 0.0), self.max_retry_after)
        return None

    def _creates(self, auth: Auth) -> bool:
        """Whether a start or generate with ``auth`` creates a conversation when accepted: with
        the secret, or no credential on a target without authentication. A token starts its own
        conversation again; a wrong credential is refused (neither costs a conversation)."""
        return auth is SECRET or (auth is None and self.secret is None)

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
        """Hide a credential sent: the part after the scheme (``Bearer`` stays readable, so a
        reproduction line keeps it), or the whole value when it has no scheme."""
        parts = value.strip().split(None, 1)
        self.redactor.add(parts[1].strip() if len(parts) == 2 else value)

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
            self.redactor.add(query_value(stream_url.replace("&amp;", "&"), "t"))


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
