"""Every hostile target by name: what it does, and how to start it.

A target is started with the secret the kit will send (only the reference-based ones check it)
and gives back something with ``target_url``, ``requests``, ``connections``, ``issued`` (tokens
it handed out) and ``stop()``; it is also a context manager.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from .directline_like import HUGE_ID, DirectLineLikeHandler
from .http_garbage import (
    BrokenJsonHandler,
    EndlessBodyHandler,
    Error500Handler,
    HtmlWelcomeHandler,
    HugeBodyHandler,
)
from .reference_based import ReferenceTarget, bare_array_stream
from .server import HostileServer
from .sockets import ClosingHandler, ResettingHandler, SilentHandler

__all__ = ["HOSTILES", "Hostile", "Running", "start_hostile"]


class Running(Protocol):
    """A started hostile target."""

    requests: int
    connections: int
    issued: list[str]

    @property
    def target_url(self) -> str:
        """The URL to give the kit's --target."""
        ...

    def stop(self) -> None: ...

    def __enter__(self) -> Any: ...

    def __exit__(self, *exc: object) -> None: ...


@dataclass(frozen=True)
class Hostile:
    name: str
    doc: str
    start: Callable[[str], Running]


def _socket(handler: type, **options: Any) -> Callable[[str], Running]:
    def start(secret: str) -> Running:
        return HostileServer(handler, name=handler.__name__, **options).start()

    return start


def _reference(**options: Any) -> Callable[[str], Running]:
    def start(secret: str) -> Running:
        return ReferenceTarget(secret, **options).start()

    return start


HOSTILES: dict[str, Hostile] = {
    h.name: h
    for h in (
        Hostile("html", "200 text/html welcome page to every request", _socket(HtmlWelcomeHandler)),
        Hostile("500-body", "500 with an HTML body to every request", _socket(Error500Handler)),
        Hostile(
            "500-empty",
            "500 with an empty body to every request",
            _socket(Error500Handler, body=False),
        ),
        Hostile(
            "broken-json",
            '201/200 application/json, cut off after {"conversationId":, to every request',
            _socket(BrokenJsonHandler),
        ),
        Hostile("huge-body", "a 50 MB body to every request", _socket(HugeBodyHandler)),
        Hostile(
            "endless-body", "an endless chunked body to every request", _socket(EndlessBodyHandler)
        ),
        Hostile(
            "close", "accepts, reads the request, closes without answering", _socket(ClosingHandler)
        ),
        Hostile(
            "reset", "accepts, reads the request, resets the connection", _socket(ResettingHandler)
        ),
        Hostile("silent", "accepts and reads, never writes a byte", _socket(SilentHandler)),
        Hostile(
            "start-then-hang",
            "answers tokens/generate and conversations like Direct Line, never anything else",
            _socket(DirectLineLikeHandler, rest="hang"),
        ),
        Hostile(
            "huge-id",
            "Direct Line-like, but the conversationId is 2 MB long (404 to anything else)",
            _socket(DirectLineLikeHandler, rest="404", conversation_id=HUGE_ID),
        ),
        Hostile(
            "number-id",
            "Direct Line-like, but the conversationId is a number (404 to anything else)",
            _socket(DirectLineLikeHandler, rest="404", conversation_id=4242),
        ),
        Hostile(
            "object-id",
            "Direct Line-like, but the conversationId is an object (404 to anything else)",
            _socket(DirectLineLikeHandler, rest="404", conversation_id={"id": "c1"}),
        ),
        Hostile(
            "root-path",
            "the reference server, the target URL its bare origin (no /v3/directline)",
            _reference(path="/"),
        ),
        Hostile(
            "v3-path",
            "the reference server, the target URL ending in /v3 (no /directline)",
            _reference(path="/v3"),
        ),
        Hostile(
            "bare-array-stream",
            "the reference server, its stream sending bare activity arrays, not ActivitySets",
            _reference(wrap=bare_array_stream),
        ),
    )
}


def start_hostile(name: str, secret: str) -> Running:
    """Start the named hostile target on 127.0.0.1 and a free port."""
    return HOSTILES[name].start(secret)
