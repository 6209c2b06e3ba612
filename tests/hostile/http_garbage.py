"""HTTP targets that are not Direct Line at all: they answer every request the same wrong way.

Each is a `BaseHTTPRequestHandler` (HTTP/1.1, keep-alive) whose every method lands in
`answer()`: an nginx-like welcome page, a 500, a cut-off JSON body, a 50 MB body or a chunked
body that never ends. The request body is read first, so the misbehaviour is the answer and
never a stalled upload.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler

from .server import HostileServer

__all__ = [
    "BrokenJsonHandler",
    "EndlessBodyHandler",
    "Error500Handler",
    "GarbageHandler",
    "HtmlWelcomeHandler",
    "HugeBodyHandler",
]

WELCOME_PAGE = b"""<!DOCTYPE html>
<html>
<head>
<title>Welcome to nginx!</title>
<style>body { width: 35em; margin: 0 auto; font-family: sans-serif; }</style>
</head>
<body>
<h1>Welcome to nginx!</h1>
<p>The web server is installed and answering. Nothing has been configured behind it yet.</p>
<p><em>Thank you for using nginx.</em></p>
</body>
</html>
"""

#: A Direct Line start answer cut off after its first key: looks like JSON, is not.
CUT_OFF_JSON = b'{"conversationId":'
CHUNK = 64 * 1024
MAX_UPLOAD = 64 * 1024 * 1024
"""Request bodies up to this size are read and dropped; a larger one ends the connection."""


class GarbageHandler(BaseHTTPRequestHandler):
    """Base: count the request, drop its body, then `answer()`."""

    protocol_version = "HTTP/1.1"
    server: HostileServer
    #: an idle keep-alive connection is dropped after this many seconds
    timeout = 30
    server_version = "nginx/1.24.0"
    sys_version = ""

    def _dispatch(self) -> None:
        self.server.count_request()
        self._drop_body()
        self.answer()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _dispatch

    def answer(self) -> None:
        raise NotImplementedError

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: a hostile server's access log is noise in the test output."""

    # -- helpers -------------------------------------------------------------------------------
    def _drop_body(self) -> None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self.close_connection = True  # not worth parsing: answer, then hang up
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        if length > MAX_UPLOAD:
            self.close_connection = True
            return
        while length > 0:
            data = self.rfile.read(min(length, CHUNK))
            if not data:
                break
            length -= len(data)

    def send(self, status: int, content_type: str | None, body: bytes) -> None:
        """A complete answer with a Content-Length (no body to a HEAD)."""
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    @property
    def stopping(self) -> threading.Event:
        return self.server.stopping


class HtmlWelcomeHandler(GarbageHandler):
    """Every request: 200 text/html, a web server's welcome page (a proxy with nothing behind)."""

    def answer(self) -> None:
        self.send(200, "text/html", WELCOME_PAGE)


class Error500Handler(GarbageHandler):
    """Every request: 500, with a short HTML body, or an empty one (option ``body=False``)."""

    def answer(self) -> None:
        if self.server.options.get("body", True):
            page = b"<html><body><h1>500 Internal Server Error</h1></body></html>\n"
            self.send(500, "text/html", page)
        else:
            self.send(500, None, b"")


class BrokenJsonHandler(GarbageHandler):
    """Every request: 201 to a POST and 200 otherwise, application/json, a cut-off object."""

    def answer(self) -> None:
        self.send(201 if self.command == "POST" else 200, "application/json", CUT_OFF_JSON)


class HugeBodyHandler(GarbageHandler):
    """Every request: 200 application/json with a ``size``-byte body (default 50 MB) that opens
    like a Direct Line answer and never closes its string. Written in chunks as the peer reads;
    the server never holds the body in memory."""

    def answer(self) -> None:
        size = int(self.server.options.get("size", 50 * 1024 * 1024))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        if self.command == "HEAD":
            return
        head = b'{"conversationId": "'
        self.wfile.write(head)
        filler = b"x" * CHUNK
        left = size - len(head)
        while left > 0 and not self.stopping.is_set():
            piece = filler[: min(left, CHUNK)]
            self.wfile.write(piece)
            left -= len(piece)


class EndlessBodyHandler(GarbageHandler):
    """Every request: 200 application/json, chunked, and the chunks never stop."""

    def answer(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if self.command == "HEAD":
            return
        self._chunk(b'{"activities": ["')
        filler = b"x" * CHUNK
        while not self.stopping.is_set():
            self._chunk(filler)
        self.close_connection = True  # the body was never finished

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
