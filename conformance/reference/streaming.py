"""Pumping one accepted WebSocket stream (receive page § Receive activities via WebSocket).

Two tasks per socket: one feeds the client (the backlog first, then the live ActivitySets,
and an empty text frame whenever `keepalive` seconds pass in silence); the other reads and
ignores whatever the client sends (the official client sends empty frames) until it
disconnects. The first to finish ends the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from .service import StreamSubscription
from .wire import dumps

__all__ = ["run_stream"]

_BEHIND = (1008, "stream fell too far behind; reconnect with your watermark")


async def _ignore_client_frames(websocket: WebSocket) -> None:
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return


async def _feed(
    websocket: WebSocket, subscription: StreamSubscription, keepalive: float
) -> tuple[int, str] | None:
    """Send until the client goes away (None) or the feed must be closed (code, reason)."""
    subscriber = subscription.subscriber
    getter: asyncio.Future[dict[str, Any]] | None = None
    try:
        for item in subscription.backlog:
            await websocket.send_text(dumps(item))
        while True:
            if subscriber.overflowed:
                return _BEHIND
            if getter is None:
                if not subscriber.queue.empty():  # fast path: no task, no timer
                    await websocket.send_text(dumps(subscriber.queue.get_nowait()))
                    continue
                getter = asyncio.ensure_future(subscriber.queue.get())
            done, _pending = await asyncio.wait({getter}, timeout=keepalive or None)
            if not done:
                await websocket.send_text("")
                continue
            item = getter.result()
            getter = None
            await websocket.send_text(dumps(item))
    except (WebSocketDisconnect, OSError, RuntimeError):
        return None
    finally:
        if getter is not None:
            getter.cancel()


async def run_stream(
    websocket: WebSocket, subscription: StreamSubscription, keepalive: float
) -> None:
    """Serve an accepted socket until either side ends it."""
    receiver = asyncio.ensure_future(_ignore_client_frames(websocket))
    sender = asyncio.ensure_future(_feed(websocket, subscription, keepalive))
    try:
        await asyncio.wait({receiver, sender}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (receiver, sender):
            task.cancel()
        await asyncio.gather(receiver, sender, return_exceptions=True)
    close = None
    if sender.done() and not sender.cancelled() and sender.exception() is None:
        close = sender.result()
    if receiver.done() and not receiver.cancelled():
        return  # the client left: nothing to close
    if websocket.application_state == WebSocketState.CONNECTED:
        code, reason = close or (1000, "")
        with contextlib.suppress(WebSocketDisconnect, OSError, RuntimeError):
            await websocket.close(code, reason)
