"""What a test did on the wire, made safe to show.

An :class:`Exchange` is one HTTP request and its answer (or the WebSocket handshake of a stream,
with the frames that followed in :attr:`Exchange.events`). A :class:`Recorder` keeps the exchanges
of one test in order. They are the evidence attached to every failure.

Nothing leaves the kit without passing through a :class:`Redactor`: the transcript
(:func:`render_exchange`, :func:`render_transcript`) and the reproduction
(:func:`curl_command`) both take one. The redactor hides every value registered with it (the
secret, every token the target handed out) and, by pattern, whatever looks like a credential:
the credential of an ``Authorization`` header, ``Bearer <x>``, the ``t=`` of a stream URL and
the value of a JSON ``"token"`` field.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import http
import json
import re
import shlex
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, quote_plus

__all__ = [
    "REDACTED",
    "Exchange",
    "Recorder",
    "Redactor",
    "StreamEvent",
    "curl_command",
    "render_exchange",
    "render_transcript",
]

#: What a hidden value is replaced with.
REDACTED = "<redacted>"
#: What a (non-secret) credential becomes in a reproduction line.
REDACTED_TOKEN = "<redacted-token>"
#: The environment variable a reproduction line reads the secret from.
SECRET_ENV = "DIRECTLINE_SECRET"

_MIN_SECRET_LENGTH = 6
_PLACEHOLDERS = (REDACTED, REDACTED_TOKEN)
# Authentication schemes: a lone one of these after "Authorization:" is not a credential.
_SCHEMES = frozenset({"bearer", "basic", "digest", "negotiate", "ntlm", "token", "hoba", "mutual"})


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
            snippet = _PATTERN_REDACTOR.redact(self.text[:200])
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
        url = _PATTERN_REDACTOR.redact(self.url)
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


# --- redaction ---------------------------------------------------------------------------------

# "Authorization: <value>" in a header line, a JSON object or a Python dict; the value runs to
# the end of the line or the closing quote.
_AUTH_LINE = re.compile(
    r"""((?:proxy-)?authorization["']?[ \t]*[:=][ \t]*["']?)([^\r\n"']*)""", re.I
)
# "Bearer <token68>" of 6 characters or more (shorter is no secret, e.g. "Bearer token"),
# unless already a placeholder or an auth-param such as realm="...".
_BEARER = re.compile(r"""\b(Bearer[ \t]+)(?![A-Za-z_-]+=")([A-Za-z0-9\-._~+/]{6,}=*)""", re.I)
# the t= of a (stream) URL, also after an HTML-escaped "&amp;"
_T_PARAM = re.compile(r"""([?&;]t=)([^&#\s"'<>]+)""")
# the value of a JSON "token" field (non-empty strings only: an empty one is evidence)
#: The value of a JSON "token" field, up to its closing quote or the end of a cut-off text.
_JSON_TOKEN = re.compile(r'("token"\s*:\s*")((?:[^"\\]|\\.)+)', re.I)


class Redactor:
    """The single place secrets are removed from anything printed, logged or saved.

    ``redact`` replaces every registered value (longest first, also in its URL-encoded forms)
    with ``<redacted>``, then by pattern: the credential of any ``Authorization`` header line,
    ``Bearer <x>``, the value of a ``t=`` query parameter and of any JSON ``"token"`` field.
    It is idempotent. Values shorter than 6 characters are not registered (they would mangle
    ordinary text and are no secret).
    """

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._secrets: dict[str, str] = {}
        self._pattern: re.Pattern[str] | None = None
        for value in values:
            self.add(value)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def add(self, value: str | None) -> None:
        """Hide ``value`` wherever it appears (None, empty and very short values are ignored)."""
        if not value or len(value) < _MIN_SECRET_LENGTH:
            return
        if any(value in placeholder for placeholder in _PLACEHOLDERS):
            return
        forms = {value, quote(value, safe=""), quote_plus(value, safe="")}
        with self._lock:
            if forms <= self._values:
                return
            self._values |= forms
            self._pattern = None  # rebuilt on the next redact(): adding must stay cheap

    def add_secret(self, value: str | None, *, env_var: str = SECRET_ENV) -> None:
        """Register the Direct Line secret: hidden like any value, and written as ``"$ENV_VAR"``
        in reproduction lines. The first registration of a value keeps its variable name."""
        if not value or len(value) < _MIN_SECRET_LENGTH:
            return
        self.add(value)
        with self._lock:
            self._secrets.setdefault(value, env_var)

    def secret_env(self, value: str) -> str | None:
        """The environment variable holding ``value`` if it is a registered secret, else None."""
        return self._secrets.get(value)

    def __contains__(self, value: object) -> bool:
        return value in self._values

    def _compiled(self) -> re.Pattern[str] | None:
        """One alternation of every registered value, longest first, compiled once per change."""
        with self._lock:
            if self._pattern is None and self._values:
                ordered = sorted(self._values, key=len, reverse=True)
                self._pattern = re.compile("|".join(re.escape(v) for v in ordered))
            return self._pattern

    def redact(self, text: str) -> str:
        if not text:
            return text
        pattern = self._compiled()
        if pattern is not None:
            text = pattern.sub(REDACTED, text)
        text = _AUTH_LINE.sub(_redact_auth_match, text)
        text = _BEARER.sub(lambda m: m.group(1) + REDACTED, text)
        text = _T_PARAM.sub(lambda m: m.group(1) + REDACTED, text)
        return _JSON_TOKEN.sub(lambda m: m.group(1) + REDACTED, text)

    def redact_headers(
        self, headers: Mapping[str, str] | Iterable[tuple[str, str]]
    ) -> list[tuple[str, str]]:
        """Header pairs with credentials hidden: the scheme of an Authorization header is kept,
        cookie values are hidden, every other value goes through :meth:`redact`."""
        pairs = headers.items() if isinstance(headers, Mapping) else headers
        out: list[tuple[str, str]] = []
        for name, value in pairs:
            lower = name.lower()
            if lower in ("authorization", "proxy-authorization"):
                value = _redact_auth_value(self.redact(value))
            elif lower == "cookie":
                value = re.sub(r"=[^;]*", "=" + REDACTED, value)
            elif lower == "set-cookie":
                value = re.sub(r"^([^=;]*=)[^;]*", r"\g<1>" + REDACTED, value)
            else:
                value = self.redact(value)
            out.append((name, value))
        return out


def _redact_auth_value(value: str) -> str:
    """``Bearer abc`` -> ``Bearer <redacted>``; a lone scheme or a placeholder is left alone."""
    stripped = value.strip()
    if not stripped:
        return value
    parts = stripped.split(None, 1)
    if len(parts) == 1:
        word = parts[0]
        if word.lower() in _SCHEMES or _is_placeholder(word):
            return value
        return REDACTED
    scheme, credential = parts
    if _is_placeholder(credential):
        return value
    return f"{scheme} {REDACTED}"


def _is_placeholder(text: str) -> bool:
    return text.startswith("<redacted") or text.startswith("$")


def _redact_auth_match(match: re.Match[str]) -> str:
    return match.group(1) + _redact_auth_value(match.group(2))


# Pattern-only redactor for messages built where no registered values are at hand.
_PATTERN_REDACTOR = Redactor()


# --- rendering ---------------------------------------------------------------------------------


def render_exchange(exchange: Exchange, redactor: Redactor, *, max_body: int = 2000) -> str:
    """The exchange as a readable transcript, credentials hidden.

    ``>`` lines are what the kit sent, ``<`` lines what came back; bodies longer than
    ``max_body`` characters are cut (with a note saying how much), binary bodies summarised,
    multipart bodies shown part by part, and the frames of a WebSocket listed after its handshake.
    """
    lines: list[str] = []
    url = redactor.redact(exchange.url)
    suffix = "  (WebSocket handshake)" if exchange.kind == "websocket" else ""
    lines.append(f"> {exchange.method} {url}{suffix}")
    for name, value in redactor.redact_headers(exchange.request_headers):
        lines.append(f"> {name}: {value}")
    req_ctype = exchange.request_header("content-type")
    for line in _render_body(exchange.request_body, req_ctype, redactor, max_body):
        lines.append(f"> {line}" if line else ">")
    ms = round(exchange.elapsed * 1000)
    if exchange.status is None:
        lines.append(f"< no answer: {redactor.redact(exchange.error or 'unknown error')} ({ms} ms)")
    else:
        reason = _reason(exchange.status)
        note = f"; {redactor.redact(exchange.error)}" if exchange.error else ""
        lines.append(f"< {exchange.status}{reason} ({ms} ms{note})")
    for name, value in redactor.redact_headers(exchange.response_headers):
        lines.append(f"< {name}: {value}")
    resp_ctype = exchange.header("content-type")
    for line in _render_body(exchange.response_body, resp_ctype, redactor, max_body):
        lines.append(f"< {line}" if line else "<")
    if exchange.truncated:
        kept = len(exchange.response_body or b"")
        whole = (
            f"{exchange.body_length:,} bytes"
            if exchange.body_length is not None and exchange.body_length >= 0
            else "more, of an undeclared length"
        )
        lines.append(f"< [the kit read the first {kept:,} bytes of the body; it held {whole}]")
    if exchange.note:
        lines.append(f"  ({redactor.redact(exchange.note)})")
    for event in exchange.events:
        lines.append(_render_event(event, exchange.started, redactor, max_body))
    return "\n".join(lines)


def render_transcript(
    exchanges: Sequence[Exchange],
    redactor: Redactor,
    *,
    max_body: int = 2000,
    max_exchanges: int | None = None,
) -> str:
    """Every exchange rendered and numbered, with its UTC start time.

    With ``max_exchanges``, only the last ones are shown and a note says how many were left out.
    """
    if not exchanges:
        return "(no exchanges recorded)"
    total = len(exchanges)
    first = 0
    blocks: list[str] = []
    if max_exchanges is not None and total > max_exchanges:
        first = total - max_exchanges
        blocks.append(f"({first} earlier exchanges not shown)")
    for index in range(first, total):
        exchange = exchanges[index]
        stamp = _dt.datetime.fromtimestamp(exchange.started, _dt.timezone.utc)
        header = f"[{index + 1}/{total}] {stamp.strftime('%Y-%m-%d %H:%M:%S.%f')[:-3]} UTC"
        blocks.append(header + "\n" + render_exchange(exchange, redactor, max_body=max_body))
    return "\n\n".join(blocks)


def _reason(status: int) -> str:
    try:
        return " " + http.HTTPStatus(status).phrase
    except ValueError:
        return ""


def _render_event(event: StreamEvent, started: float, redactor: Redactor, max_body: int) -> str:
    offset = f"+{event.at - started:.3f} s"
    detail = f" ({redactor.redact(event.detail)})" if event.detail else ""
    if event.data is None:
        return f"  [{offset}] {event.direction}{detail}"
    if event.data == "":
        return f"  [{offset}] {event.direction} empty frame{detail}"
    data = _truncate(redactor.redact(event.data), max_body).replace("\n", "\\n")
    return f"  [{offset}] {event.direction}{detail} {data}"


def _is_text(body: bytes) -> str | None:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if any(ord(c) < 32 and c not in "\t\r\n" for c in text):
        return None
    return text


def _truncate(text: str, max_body: int) -> str:
    if len(text) <= max_body:
        return text
    cut = len(text[max_body:].encode("utf-8"))
    return text[:max_body] + f"... [{cut} more bytes not shown]"


def _binary_summary(body: bytes, content_type: str | None) -> str:
    digest = hashlib.sha256(body).hexdigest()[:16]
    ctype = f", {content_type}" if content_type else ""
    return f"[binary body: {len(body)} bytes{ctype}, sha256 {digest}...]"


def _render_body(
    body: bytes | None, content_type: str | None, redactor: Redactor, max_body: int
) -> list[str]:
    if not body:
        return []
    text = _is_text(body)
    if text is not None:
        return ["", *_truncate(redactor.redact(text), max_body).splitlines()]
    boundary = _multipart_boundary(content_type)
    if boundary:
        parts = _render_multipart(body, boundary, redactor, max_body)
        if parts is not None:
            return ["", *parts]
    return ["", _binary_summary(body, content_type)]


def _multipart_boundary(content_type: str | None) -> str | None:
    if not content_type or not content_type.lower().startswith("multipart/"):
        return None
    match = re.search(r'boundary="?([^";]+)"?', content_type, re.I)
    return match.group(1) if match else None


def _render_multipart(
    body: bytes, boundary: str, redactor: Redactor, max_body: int
) -> list[str] | None:
    """A multipart body with its text parts shown and its binary parts summarised."""
    delimiter = b"--" + boundary.encode("latin-1")
    chunks = body.split(delimiter)
    if len(chunks) < 3:
        return None
    lines: list[str] = []
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            lines.append(f"--{boundary}--")
            break
        lines.append(f"--{boundary}")
        head, sep, content = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        if not sep:
            return None
        headers = head.decode("latin-1").split("\r\n")
        lines.extend(redactor.redact(h) for h in headers)
        lines.append("")
        content = content.removesuffix(b"\r\n")
        part_type = next(
            (h.split(":", 1)[1].strip() for h in headers if h.lower().startswith("content-type:")),
            None,
        )
        text = _is_text(content)
        if text is not None:
            lines.extend(_truncate(redactor.redact(text), max_body).splitlines())
        else:
            lines.append(_binary_summary(content, part_type))
    return lines


# --- reproduction ------------------------------------------------------------------------------

_CURL_SKIP = frozenset({"host", "content-length", "user-agent", "accept-encoding"})
_MAX_INLINE_BODY = 4096


def curl_command(exchange: Exchange, redactor: Redactor, *, max_time: float = 30.0) -> str:
    """A shell-safe command line reproducing the exchange, never containing the secret.

    HTTP: a curl line; the secret is read from ``$DIRECTLINE_SECRET`` (or the variable it was
    registered with), any other credential is written ``<redacted-token>`` to be replaced by a
    fresh one. A body over 4 KB or binary is not inlined: a comment line asks to save it to a file.
    WebSocket: a ``python -m websockets`` line with the stream token hidden.
    """
    url = redactor.redact(exchange.url)
    if exchange.kind == "websocket":
        return f"python -m websockets {shlex.quote(url)}"
    words = ["curl", "-sS", "-i", "-X", shlex.quote(exchange.method), shlex.quote(url)]
    for name, value in exchange.request_headers:
        lower = name.lower()
        if lower in _CURL_SKIP:
            continue
        if lower in ("authorization", "proxy-authorization"):
            words += ["-H", _curl_auth_header(name, value, redactor)]
        else:
            (_, safe_value) = redactor.redact_headers([(name, value)])[0]
            words += ["-H", shlex.quote(f"{name}: {safe_value}")]
    note = ""
    body = exchange.request_body
    if body:
        text = _is_text(body)
        if text is None or len(body) > _MAX_INLINE_BODY:
            kind = "binary" if text is None else "long"
            note = (
                f"# the {kind} request body ({len(body)} bytes) is not inlined: "
                "save it as request-body.bin, then run:\n"
            )
            words += ["--data-binary", "@request-body.bin"]
        else:
            words += ["--data-binary", shlex.quote(redactor.redact(text))]
    words += ["--max-time", f"{max_time:g}"]
    return note + " ".join(words)


def _curl_auth_header(name: str, value: str, redactor: Redactor) -> str:
    parts = value.strip().split(None, 1)
    scheme, credential = (parts[0], parts[1]) if len(parts) == 2 else ("", value.strip())
    env = redactor.secret_env(credential) or redactor.secret_env(value)
    if env is not None:
        prefix = f"{name}: {scheme} " if scheme else f"{name}: "
        return shlex.quote(prefix) + f'"${env}"'
    if not credential or (not scheme and credential.lower() in _SCHEMES):
        return shlex.quote(f"{name}: {value}")
    shown = f"{scheme} {REDACTED_TOKEN}" if scheme else REDACTED_TOKEN
    return shlex.quote(f"{name}: {shown}")
