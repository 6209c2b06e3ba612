"""The socket server every hand-made hostile target runs on.

A `socketserver.TCPServer` on 127.0.0.1 and a free port, serving each connection in its own
thread, so a handler may misbehave at the socket level (close, reset, read forever, write
forever) without blocking the others. The server counts connections and requests, because a
test must be able to say "the kit sent nothing" and mean it. `stop()` ends everything it
started: the accept loop, every live connection and every handler thread, or says which did not.
"""

from __future__ import annotations

import contextlib
import select
import socket
import socketserver
import threading
import time
from types import TracebackType
from typing import Any

__all__ = ["HostileServer", "hold"]

BASE_PATH = "/v3/directline"


class HostileServer(socketserver.TCPServer):
    """A misbehaving target on loopback; the handler class decides how it misbehaves."""

    allow_reuse_address = True
    #: connections queued before the accept loop runs (the kit may open many at once)
    request_queue_size = 128

    def __init__(
        self,
        handler: type[socketserver.BaseRequestHandler],
        *,
        name: str,
        path: str = BASE_PATH,
        **options: Any,
    ) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.name = name
        self.path = path
        #: handler-specific settings (a body size, the conversationId to answer, ...)
        self.options = options
        #: set by stop(): a handler that waits or writes forever checks it
        self.stopping = threading.Event()
        self.connections = 0
        self.requests = 0
        #: tokens this server handed out (a test checks none reaches the kit's output)
        self.issued: list[str] = []
        self._lock = threading.Lock()
        self._live: set[socket.socket] = set()
        self._handlers: list[threading.Thread] = []
        self._loop: threading.Thread | None = None

    # -- what a test reads ---------------------------------------------------------------------
    @property
    def origin(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def target_url(self) -> str:
        """The URL to give the kit's --target."""
        return self.origin + self.path

    def count_request(self) -> None:
        with self._lock:
            self.requests += 1

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> HostileServer:
        """Serve in a background thread (once: a started server is returned as it is)."""
        if self._loop is not None:
            return self
        self._loop = threading.Thread(
            target=self.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"hostile-{self.name}",
            daemon=True,
        )
        self._loop.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop accepting, cut every live connection, and wait for every handler thread."""
        self.stopping.set()
        if self._loop is not None:
            self.shutdown()
            self._loop.join(timeout)
            self._loop = None
        self.server_close()
        with self._lock:
            live, handlers = list(self._live), list(self._handlers)
        for sock in live:
            with contextlib.suppress(OSError):  # already closed or reset by its handler
                sock.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + timeout
        for thread in handlers:
            thread.join(max(0.0, deadline - time.monotonic()))
        stuck = [t.name for t in handlers if t.is_alive()]
        if stuck:
            raise RuntimeError(f"hostile server {self.name}: handlers did not stop: {stuck}")

    def __enter__(self) -> HostileServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- socketserver hooks: one thread per connection, every socket tracked ---------------------
    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        with self._lock:
            self.connections += 1
            self._live.add(sock)
        return sock, address

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self._serve_one,
            args=(request, client_address),
            name=f"hostile-{self.name}-{self.connections}",
            daemon=True,
        )
        with self._lock:
            self._handlers = [t for t in self._handlers if t.is_alive()]
            self._handlers.append(thread)
        thread.start()

    def _serve_one(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except OSError:
            pass  # the peer went away or the test stopped us: expected here
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)

    def shutdown_request(self, request: Any) -> None:
        with self._lock:
            self._live.discard(request)
        super().shutdown_request(request)


def hold(sock: socket.socket, stopping: threading.Event) -> None:
    """Read and drop whatever the peer sends, never answer, until it hangs up or we stop."""
    while not stopping.is_set():
        try:
            ready, _, _ = select.select([sock], [], [], 0.2)
            if ready and not sock.recv(65536):
                return  # the peer closed its side
        except (OSError, ValueError):
            return  # reset, or closed by stop()
