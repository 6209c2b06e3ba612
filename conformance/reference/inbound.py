"""What a request brings that every handler needs: its body, size-capped, and the origin the
client addressed.

Kept apart from app.py so the Starlette handlers and the lean path of the hot routes
(hot_routes.py) read both the same way, from the raw ASGI scope and `receive`.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from starlette.types import Receive, Scope

from .errors import bad_argument, too_large

if TYPE_CHECKING:
    from .service import DirectLineService

__all__ = ["DRAIN_LIMIT", "addressed_origin", "receive_body"]

_HOST = re.compile(r"[A-Za-z0-9.\-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")
DRAIN_LIMIT = 32 * 1024 * 1024
"""Most bytes of an oversize body read (and dropped) so the client gets to read the 413."""


async def receive_body(
    receive: Receive, content_length: str, limit: int, what: str = "The request body"
) -> bytes:
    """The body, refused with 413 past `limit` bytes without ever holding more than that;
    an oversize body is drained (up to a bound) so the client can read the answer.
    `content_length` is the header's value ("" when absent)."""
    oversize = content_length.isdigit() and int(content_length) > limit
    chunks: list[bytes] = []
    total = 0
    while True:
        message = await receive()
        kind = message["type"]
        if kind == "http.disconnect":
            raise bad_argument("The client went away while sending the body")
        if kind != "http.request":
            continue
        chunk = message.get("body", b"")
        total += len(chunk)
        if total > limit:
            oversize = True
        if not oversize and chunk:
            chunks.append(chunk)
        if not message.get("more_body", False) or (oversize and total > DRAIN_LIMIT):
            break
    if oversize:
        raise too_large(f"{what} is larger than the limit of {limit} bytes")
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def addressed_origin(scope: Scope, host: str, service: DirectLineService) -> str:
    """The origin the client addressed (its Host header, else the socket we listen on),
    unless the service has a public URL."""
    if not _HOST.fullmatch(host):
        server = scope.get("server") or ("127.0.0.1", 80)
        address = f"[{server[0]}]" if ":" in str(server[0]) else str(server[0])
        host = f"{address}:{server[1]}"
    scheme = "https" if scope.get("scheme") in ("https", "wss") else "http"
    return service.public_origin(scheme, host)
