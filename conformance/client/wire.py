"""The client's vocabulary: credentials, bodies, conversations, and reading values off the wire.

Shared by the HTTP client (``http.py``) and the stream (``stream.py``); no I/O here.
"""

from __future__ import annotations

import email.utils
import enum
import re
import time
from dataclasses import dataclass
from typing import Final, Literal
from urllib.parse import parse_qs, quote, urlsplit

from conformance import __version__
from conformance.evidence import Exchange

__all__ = [
    "CASE_HEADER",
    "MAX_ID_CHARS",
    "NOBODY",
    "SECRET",
    "USER_AGENT",
    "Auth",
    "Conversation",
    "RawAuth",
    "TimedStart",
    "UploadFile",
    "id_problem",
    "parse_retry_after",
    "query_value",
    "segment",
    "stream_ws_url",
]

#: The header that ties every request to the test that sent it (for the target's logs).
CASE_HEADER: Final = "x-dl-conformance-case"
USER_AGENT: Final = f"directline-conformance/{__version__}"
#: The longest id the kit puts into a URL. The hosted service's ids are about 25 characters
#: (docs/live-service.md §5); one of thousands cannot be used in a request line.
MAX_ID_CHARS: Final = 1024


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


@dataclass(frozen=True)
class TimedStart:
    """A started conversation with the monotonic instants just before its start request and
    just after its answer: its token and stream URL were issued in between, so a timing test
    counts a lifetime or a connect window from these."""

    conversation: Conversation
    before: float
    after: float


def id_problem(value: object) -> str | None:
    """Why ``value`` cannot serve as an id in the API's URLs (None: it can)."""
    if not isinstance(value, str):
        return f"a JSON {type(value).__name__}, not a string"
    if not value:
        return "an empty string"
    if len(value) > MAX_ID_CHARS:
        return f"{len(value):,} characters long (the kit uses ids of at most {MAX_ID_CHARS:,})"
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in value):
        return "a string holding control characters"
    return None


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait according to a ``Retry-After`` value, None when absent or unreadable.

    RFC 9110 gives seconds or an HTTP date; both are read, and so are explicit units ("1500ms",
    "2s"). The official JavaScript client reads every value as milliseconds
    (docs/live-service.md §10) and the hosted service's values were never published, so a bare
    number above 1000 is read as milliseconds: no service asks for a 17-minute pause, while
    "10" read as milliseconds would retry at once against a service asking for 10 seconds.
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


def query_value(url: str, name: str) -> str | None:
    """The first value of query parameter ``name`` of ``url`` (None when absent)."""
    values = parse_qs(urlsplit(url).query, keep_blank_values=True).get(name)
    return values[0] if values else None


def segment(value: str) -> str:
    """A path segment: percent-encode only what a segment cannot hold."""
    return quote(value, safe="-._~!$&'()*+,;=:@")
