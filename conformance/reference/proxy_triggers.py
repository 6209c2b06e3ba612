"""Answers a proxy check asks the upstream for: a late answer, a 429, a 502.

Some proxy rules are only seen when the service behind the proxy misbehaves: a proxy that
retries a send its upstream answers late (DL-PROXY-001), one that drops ``Retry-After``
(DL-PROXY-012) or turns an error into a success (DL-PROXY-013). When this server is the
recorded upstream of ``certify-proxy`` (or ``serve --record``), a message sent to it whose text
starts with one of these triggers is answered so:

- ``#upstream:delay N``: the send is held N seconds (default 3, at most 30), then handled as
  usual (the message is posted and echoed);
- ``#upstream:429 N``: answered 429 with ``Retry-After: N`` (default 1, at most 30) and an
  ErrorResponse, once per distinct body: the client's retry of the same send goes through;
- ``#upstream:502``: answered 502 with a ``BotError`` ErrorResponse, every time.

No ordinary client sends these texts; the suite's other tests never do.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections import OrderedDict

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import DirectLineError, error_response
from .middleware import RenderError

__all__ = ["TRIGGER_PREFIX", "ProxyTriggers"]

TRIGGER_PREFIX = "#upstream:"
_SENDS = re.compile(r"/conversations/[^/]+/activities$")
_TRIGGER = re.compile(r"#upstream:(delay|429|502)(?:\s+(\d+(?:\.\d+)?))?")
#: The most of a send's body read to look for a trigger (a bigger body is passed on unread).
_INSPECTED = 2 * 1024 * 1024
_LONGEST_WAIT = 30.0


class ProxyTriggers:
    """ASGI middleware: the answers of the module docstring, on sends whose text asks."""

    remembered = 10_000
    """Most 429 bodies awaiting their retry; the oldest are forgotten beyond this."""

    def __init__(self, app: ASGIApp, render: RenderError = error_response) -> None:
        self.app = app
        self.render = render
        self._throttled: OrderedDict[str, None] = OrderedDict()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not (
            scope["type"] == "http"
            and scope.get("method") == "POST"
            and _SENDS.search(scope.get("path", ""))
        ):
            await self.app(scope, receive, send)
            return
        read: list[Message] = []
        size = 0
        complete = False
        while size <= _INSPECTED:
            message = await receive()
            read.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if not message.get("more_body", False):
                complete = True
                break
        body = b"".join(m.get("body", b"") for m in read if m["type"] == "http.request")

        async def replay() -> Message:
            return read.pop(0) if read else await receive()

        trigger = _trigger(body) if complete else None
        if trigger is None:
            await self.app(scope, replay, send)
            return
        kind, number = trigger
        if kind == "delay":
            await asyncio.sleep(min(number if number is not None else 3.0, _LONGEST_WAIT))
        elif kind == "429" and self._first_time(body):
            seconds = min(number if number is not None else 1.0, _LONGEST_WAIT)
            refusal = DirectLineError(
                429,
                "TooManyRequests",
                "Too many requests (a throttle the proxy check asked for)",
                {"Retry-After": f"{seconds:g}"},
            )
            await self.render(refusal)(scope, replay, send)
            return
        elif kind == "502":
            failure = DirectLineError(
                502, "BotError", "Failed to send activity: bot returned an error (asked for)"
            )
            await self.render(failure)(scope, replay, send)
            return
        await self.app(scope, replay, send)

    def _first_time(self, body: bytes) -> bool:
        """Whether this send has not been refused with 429 yet (its retry goes through)."""
        key = hashlib.sha256(body).hexdigest()
        if key in self._throttled:
            del self._throttled[key]
            return False
        self._throttled[key] = None
        if len(self._throttled) > self.remembered:
            self._throttled.popitem(last=False)
        return True


def _trigger(body: bytes) -> tuple[str, float | None] | None:
    """(the trigger, its number) of a send whose text starts with one, else None."""
    try:
        activity = json.loads(body)
    except ValueError:
        return None
    text = activity.get("text") if isinstance(activity, dict) else None
    if not isinstance(text, str) or not text.startswith(TRIGGER_PREFIX):
        return None
    match = _TRIGGER.match(text)
    if match is None:
        return None
    return match.group(1), float(match.group(2)) if match.group(2) else None
