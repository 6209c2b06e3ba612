"""JSON on the wire: strict parsing of what clients send, safe serialising of what we answer.

Kept apart so that no client input can turn into a 500: NaN/Infinity and absurd nesting are
refused as 400 at the door, and text holding lone surrogates (legal in JSON escapes, not in
UTF-8) is still answered, escaped, instead of failing to encode.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from starlette.background import BackgroundTask
from starlette.responses import Response
from starlette.types import Send

__all__ = [
    "JSON_MEDIA_TYPE",
    "MAX_DEPTH",
    "JSONAnswer",
    "JSONInputError",
    "PrettyJSONAnswer",
    "copy_json",
    "dumps",
    "dumps_pretty",
    "loads",
    "send_json",
]

JSON_MEDIA_TYPE = "application/json; charset=utf-8"
_JSON_MEDIA_TYPE_BYTES = JSON_MEDIA_TYPE.encode("latin-1")
MAX_DEPTH = 100
"""Deepest nesting of arrays/objects accepted in a request body."""


class JSONInputError(ValueError):
    """The text is not JSON we accept (syntax, NaN/Infinity, nesting too deep)."""


def _reject_constant(name: str) -> Any:
    raise JSONInputError(f"{name} is not valid JSON")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
"""One decoder for every body: json.loads(text, parse_constant=...) builds a new one per call."""


def _depth(value: Any) -> int:
    """Nesting depth of a decoded JSON value, computed without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in item.values())
        elif isinstance(item, list):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in item)
    return deepest


def loads(text: str) -> Any:
    """Parse client JSON; raise JSONInputError for anything we would not answer cleanly."""
    try:
        if text.startswith("\ufeff"):  # what json.loads says; the decoder itself does not check
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
        value = _DECODER.decode(text)
    except JSONInputError:
        raise
    except RecursionError:
        raise JSONInputError("JSON nested too deeply") from None
    except ValueError as exc:
        raise JSONInputError(str(exc)) from None
    # every level opens with a bracket: text with few of them needs no walk
    shallow = text.count("{") + text.count("[") <= MAX_DEPTH
    if not shallow and _depth(value) > MAX_DEPTH:
        raise JSONInputError(f"JSON nested deeper than {MAX_DEPTH} levels")
    return value


def copy_json(value: Any) -> Any:
    """A deep copy of decoded JSON (dicts, lists, scalars), several times faster than
    `copy.deepcopy`; anything else is deep-copied the general way."""
    if isinstance(value, dict):
        return {key: copy_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [copy_json(item) for item in value]
    if value is None or isinstance(value, (str, int, float)):
        return value
    return copy.deepcopy(value)


_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_COMPACT_ASCII = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"))
"""json.dumps with any option set builds a new encoder per call; these are built once."""


def dumps(value: Any) -> str:
    """Compact JSON; non-ASCII kept as is unless it cannot be UTF-8 encoded."""
    text = _COMPACT.encode(value)
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = _COMPACT_ASCII.encode(value)
    return text


def dumps_pretty(value: Any) -> str:
    """Two-space indented JSON with CRLF line ends, the layout of the live service's error
    bodies (docs/live-service.md §5). JSON strings never hold a raw newline, so every `\n`
    of the indented text is a line end."""
    return json.dumps(value, ensure_ascii=True, indent=2).replace("\n", "\r\n")


async def send_json(send: Send, content: Any, status: int = 200) -> None:
    """Answer `content` as JSONAnswer(content, status) would, byte for byte (same headers, in
    the same order), without building a Response: the hot routes answer this way."""
    body = dumps(content).encode("utf-8")
    headers = [
        (b"cache-control", b"no-cache"),
        (b"content-length", str(len(body)).encode("latin-1")),
        (b"content-type", _JSON_MEDIA_TYPE_BYTES),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class JSONAnswer(Response):
    """A JSON response with `application/json; charset=utf-8` and no caching."""

    media_type = JSON_MEDIA_TYPE

    def __init__(
        self,
        content: Any,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        background: BackgroundTask | None = None,
    ) -> None:
        merged = {"Cache-Control": "no-cache"}
        merged.update(headers or {})
        super().__init__(content, status_code, merged, self.media_type, background)

    def render(self, content: Any) -> bytes:
        return dumps(content).encode("utf-8")


class PrettyJSONAnswer(JSONAnswer):
    """A JSONAnswer laid out by dumps_pretty."""

    def render(self, content: Any) -> bytes:
        return dumps_pretty(content).encode("utf-8")
