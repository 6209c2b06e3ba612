"""Serving the test bot in the foreground with uvicorn, until SIGINT or SIGTERM.

The socket is bound before the ready line is printed, so whoever waits for that line (a test
harness, a script) can connect at once. Loopback only unless the user says otherwise: the bot
posts to whatever ``serviceUrl`` an activity names, which is nothing to expose by accident.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from types import FrameType

import uvicorn
from starlette.types import ASGIApp

from .app import MESSAGES_PATH

__all__ = ["is_loopback", "serve"]

PARENT_POLL = 0.5
"""Seconds between checks that the parent (``--parent``) is still there."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (localhost, 127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: any free port)."""
    family, kind, proto, _name, address = socket.getaddrinfo(
        host.strip("[]"), port, type=socket.SOCK_STREAM
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def messages_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}{MESSAGES_PATH}"


def serve(
    app: ASGIApp,
    *,
    host: str = "127.0.0.1",
    port: int = 3979,
    allow_public: bool = False,
    parent: int | None = None,
    announce: Callable[[str], object] = print,
) -> None:
    """Serve ``app`` until SIGINT, SIGTERM or (with ``parent``) the parent process ends.

    Announces ``READY <messages URL>`` once the socket listens. Raises ValueError for a
    non-loopback host without ``allow_public``, OSError when the address cannot be bound.
    """
    if not allow_public and not is_loopback(host):
        raise ValueError(
            f"refusing to listen on {host!r}: not a loopback address (give --allow-public "
            "to expose the test bot)"
        )
    sock = bind(host, port)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            http="h11",
            lifespan="on",
            log_level="warning",
            access_log=False,
            proxy_headers=False,
            timeout_graceful_shutdown=1,
        )
    )

    def stop(_signum: int, _frame: FrameType | None) -> None:
        server.should_exit = True

    # SIGINT and SIGTERM ask the server to stop, whenever they come: uvicorn handles them
    # itself while it serves (a graceful shutdown), then raises them again, which lands here;
    # one that comes before uvicorn took over (right after the ready line) makes it stop as
    # soon as it has started. (Left to Python's default, a Ctrl-C in that moment would cancel
    # asyncio's main task halfway through uvicorn's start-up, which could then serve on.)
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        announce(f"READY {messages_url(sock)}")
        if parent:
            threading.Thread(target=_watch_parent, args=(parent, server), daemon=True).start()
        server.run(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()


def _watch_parent(parent: int, server: uvicorn.Server) -> None:
    """Stop serving once the process that started us is gone (we get another parent then)."""
    while os.getppid() == parent:
        time.sleep(PARENT_POLL)
    server.should_exit = True
