"""Evidence made readable: an exchange as a transcript, and as a command that replays it.

Both take a :class:`~conformance.evidence.redaction.Redactor`: nothing leaves the kit without
passing through one. ``>`` lines are what the kit sent, ``<`` lines what came back; the
reproduction is a ``curl`` line (``python -m websockets`` for a stream) that reads the secret
from the environment.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import http
import re
import shlex
from collections.abc import Sequence

from conformance.evidence.exchange import Exchange, StreamEvent
from conformance.evidence.redaction import AUTH_SCHEMES, REDACTED_TOKEN, Redactor

__all__ = ["curl_command", "render_exchange", "render_transcript"]


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
    if not credential or (not scheme and credential.lower() in AUTH_SCHEMES):
        return shlex.quote(f"{name}: {value}")
    shown = f"{scheme} {REDACTED_TOKEN}" if scheme else REDACTED_TOKEN
    return shlex.quote(f"{name}: {shown}")
