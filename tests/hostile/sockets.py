"""Targets that misbehave below HTTP: they accept the connection and never send an answer.

`ClosingHandler` reads the request and hangs up cleanly (FIN), `ResettingHandler` reads it and
resets the connection (RST, via SO_LINGER 0), `SilentHandler` reads everything and never writes.
"""

from __future__ import annotations

import socket
import socketserver
import struct
import time

from .server import HostileServer, hold

__all__ = ["ClosingHandler", "ResettingHandler", "SilentHandler"]

HEAD_WAIT = 2.0
"""Seconds spent reading a request head before acting on what arrived."""


class _SocketHandler(socketserver.BaseRequestHandler):
    server: HostileServer
    request: socket.socket

    def read_head(self) -> bytes:
        """What the peer sends up to the end of the request head (or HEAD_WAIT seconds).

        Reading first matters: closing a socket with unread data makes Linux send a reset,
        and the closing target must close, not reset."""
        received = b""
        deadline = time.monotonic() + HEAD_WAIT
        while b"\r\n\r\n" not in received and not self.server.stopping.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.request.settimeout(min(left, 0.2))
            try:
                data = self.request.recv(65536)
            except TimeoutError:
                continue
            if not data:
                break
            received += data
        if b"\r\n\r\n" in received:
            self.server.count_request()
        return received


class ClosingHandler(_SocketHandler):
    """Read the request, then close the connection without a byte of answer."""

    def handle(self) -> None:
        self.read_head()
        self.request.settimeout(0.2)
        try:  # also drop a request body already on its way, so the close stays a FIN
            while self.request.recv(65536):
                pass
        except (TimeoutError, OSError):
            pass


class ResettingHandler(_SocketHandler):
    """Read the request, then reset the connection."""

    def handle(self) -> None:
        self.read_head()
        self.request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.request.close()


class SilentHandler(_SocketHandler):
    """Read whatever arrives, never write, until the peer gives up or the test stops us."""

    def handle(self) -> None:
        self.read_head()
        hold(self.request, self.server.stopping)
