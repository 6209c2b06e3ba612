"""Running the reference server: embedded in a background thread, or in the foreground.

`EmbeddedServer` is what the plugin, the self-tests and the mutants use: uvicorn on its own
event loop in a daemon thread, on a socket we bind ourselves (so port 0 gives a free port
known before the loop starts). It serves any ASGI app, so a mutant is served the same way.

`serve` is what `directline-conformance serve` calls: foreground, until Ctrl-C or SIGTERM.
Both bind loopback only unless told otherwise: a reference server with a known secret is not
something to expose by accident.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from .app import create_app
from .config import ServerConfig
from .service import BASE_PATH

__all__ = ["EmbeddedServer", "ServerStartError", "serve"]


class ServerStartError(RuntimeError):
    """The embedded server did not come up."""


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind_socket(host: str, port: int) -> socket.socket:
    """A bound, listening TCP socket: connections queue up even before uvicorn's loop runs."""
    family, kind, proto, _name, address = socket.getaddrinfo(
        host.strip("[]"), port, type=socket.SOCK_STREAM
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


def http_origin(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


class _DenialNoiseFilter(logging.Filter):
    """uvicorn's websockets-sansio protocol logs "returned without completing handshake"
    after every WebSocket denial response, though the denial went out correctly."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "without completing handshake" not in record.getMessage()


_DENIAL_FILTER = _DenialNoiseFilter()


def _uvicorn_config(app: ASGIApp, **overrides: Any) -> uvicorn.Config:
    error_logger = logging.getLogger("uvicorn.error")
    if _DENIAL_FILTER not in error_logger.filters:
        error_logger.addFilter(_DENIAL_FILTER)
    settings: dict[str, Any] = {
        # httptools (llhttp, in C) parses and answers HTTP for about 40 % less CPU per send
        # than h11 (benchmarks/side_by_side.py)
        "http": "httptools",
        "ws": "websockets-sansio",
        "lifespan": "auto",
        "log_level": "warning",
        "access_log": False,
        "proxy_headers": False,
        "timeout_graceful_shutdown": 2,
    }
    settings.update(overrides)
    return uvicorn.Config(app, **settings)


class EmbeddedServer:
    """A reference (or mutant) Direct Line server on loopback, in a background thread.

    with EmbeddedServer(ServerConfig(secret="s")) as server:
        server.base_url  # http://127.0.0.1:PORT/v3/directline
    """

    def __init__(
        self,
        config: ServerConfig | None = None,
        app: ASGIApp | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        startup_timeout: float = 10.0,
        allow_public: bool = False,
    ) -> None:
        if app is None and config is None:
            raise ValueError("EmbeddedServer needs a ServerConfig or an ASGI app")
        if not allow_public and not is_loopback(host):
            raise ValueError(f"refusing to bind {host!r}: not a loopback address")
        self.config = config
        self.app: ASGIApp = app if app is not None else create_app(config)  # type: ignore[arg-type]
        self.host = host
        self.port = port
        self.startup_timeout = startup_timeout
        self.base_url: str | None = None
        self.origin: str | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def start(self) -> str:
        """Start serving and return the base URL once the server accepts connections."""
        if self._thread is not None:
            raise RuntimeError("this EmbeddedServer was already started")
        sock = bind_socket(self.host, self.port)
        self.origin = http_origin(sock)
        self._server = uvicorn.Server(_uvicorn_config(self.app, log_config=None))
        self._thread = threading.Thread(
            target=self._run, args=(self._server, sock), name="directline-reference", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + self.startup_timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                cause = f": {self._error!r}" if self._error else ""
                raise ServerStartError(
                    f"the embedded Direct Line server did not start within "
                    f"{self.startup_timeout:g} s{cause}"
                )
            time.sleep(0.01)
        self.base_url = self.origin + BASE_PATH
        return self.base_url

    def _run(self, server: uvicorn.Server, sock: socket.socket) -> None:
        try:
            asyncio.run(server.serve(sockets=[sock]))
        except BaseException as exc:  # reported by start(); a thread must not die silently
            self._error = exc
        finally:
            sock.close()

    def stop(self, timeout: float = 10.0, *, drain: bool = True, wait: bool = True) -> None:
        """Stop serving (idempotent); open sockets are closed, pending work cancelled.

        ``drain``: first let open connections and running tasks finish (up to uvicorn's
        graceful timeout, 2 s); False when no client is left to answer (the end of a run).
        ``wait``: False only asks the server to stop (a later ``stop()`` waits for it), so
        its shutdown can overlap other work."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.should_exit = True
        server.force_exit = server.force_exit or not drain
        if not wait:
            return
        thread.join(timeout)
        if thread.is_alive():
            server.force_exit = True
            thread.join(timeout)

    def __enter__(self) -> EmbeddedServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


GC_THRESHOLD = 50_000
"""Allocations between young-generation collections in a stand-alone server (default 700)."""


def tune_collector() -> None:
    """For a process that is only the server: every request allocates many short-lived
    containers, so collect the young generation less often (about 10 % less CPU per request
    under load, see benchmarks/throughput.py), and freeze what startup built so full
    collections skip it. Not done for the embedded server, which shares pytest's process."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD)


def serve(
    config: ServerConfig,
    host: str = "127.0.0.1",
    port: int = 3978,
    *,
    announce: Callable[[str], object] = print,
    allow_public: bool = False,
    show_secret: bool = False,
) -> None:
    """Serve in the foreground until Ctrl-C or SIGTERM.

    Announces the base URL first (and the secret when `show_secret`, which the caller sets
    when it generated the secret itself). Refuses non-loopback hosts unless allow_public.
    """
    if not allow_public and not is_loopback(host):
        raise ValueError(
            f"refusing to bind {host!r}: not a loopback address (--allow-public, or "
            "allow_public=True, exposes the reference server)"
        )
    sock = bind_socket(host, port)
    try:
        what = "live stand-in" if config.behave == "live" else "reference server"
        announce(f"Direct Line 3.0 {what}: {http_origin(sock)}{BASE_PATH}")
        if show_secret:
            announce(f"Secret: {config.secret}")
        if config.transient_error_rate > 0:
            percent = config.transient_error_rate * 100
            announce(
                f"Transient errors: {percent:g}% of polling and reconnect GETs answer 503 once "
                f"(seed {config.transient_seed})"
            )
        if config.recording_file:
            announce(f"Recording what reaches it into {config.recording_file}")
        server = uvicorn.Server(_uvicorn_config(create_app(config)))
        tune_collector()
        with contextlib.suppress(KeyboardInterrupt):
            server.run(sockets=[sock])
    finally:
        sock.close()
