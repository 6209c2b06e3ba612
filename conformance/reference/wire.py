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
]

JSON_MEDIA_TYPE = "application/json; charset=utf-8"
MAX_DEPTH = 100
"""Deepest nesting of arrays/objects accepted in a request body."""


class JSONInputError(ValueError):
    """The text is not JSON we accept (syntax, NaN/Infinity, nesting too deep)."""


def _reject_constant(name: str) -> Any:
    raise JSONInputError(f"{name} is not valid JSON")


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
        value = json.loads(text, parse_constant=_reject_constant)
    except JSONInputError:
        raise
    except RecursionError:
        raise JSONInputError("JSON nested too deeply") from None
    except ValueError as exc:
        raise JSONInputError(str(exc)) from None
    if _depth(value) > MAX_DEPTH:
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


def dumps(value: Any) -> str:
    """Compact JSON; non-ASCII kept as is unless it cannot be UTF-8 encoded."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(value, ensure_ascii=True, separators=(",", ":"))
    return text


def dumps_pretty(value: Any) -> str:
    """Two-space indented JSON with CRLF line ends, the layout of the live service's error
    bodies (docs/live-service.md §5). JSON strings never hold a raw newline, so every `\n`
    of the indented text is a line end."""
    return json.dumps(value, ensure_ascii=True, indent=2).replace("\n", "\r\n")


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
