"""The reference server in its own process, as a user starts it: `directline-conformance serve`.

Port 0 lets the server bind a free loopback port itself (no race between picking a port and
binding it); the port is read from the line it announces. The secret goes through the
environment (`DIRECTLINE_SECRET`), so it never shows in a process list. The server writes to a
log file, not a pipe: nobody reads a pipe during the run, and a full one would stall the server.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

__all__ = ["ServeError", "ServedReference"]

_ANNOUNCE = re.compile(r"reference server: (http://127\.0\.0\.1:\d+)/v3/directline")


class ServeError(RuntimeError):
    """The server did not come up (the message says why, in one line)."""


@dataclass
class ServedReference:
    """`directline-conformance serve --port 0` on 127.0.0.1, stopped on exit."""

    secret: str
    log: Path
    startup_timeout: float = 20.0
    origin: str = ""
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> str:
        """Start the server; return its origin (`http://127.0.0.1:PORT`)."""
        env = {**os.environ, "DIRECTLINE_SECRET": self.secret}
        command = [sys.executable, "-m", "conformance.cli", "serve", "--host", "127.0.0.1"]
        with self.log.open("wb") as sink:
            self.process = subprocess.Popen(
                [*command, "--port", "0"], stdout=sink, stderr=subprocess.STDOUT, env=env
            )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            found = _ANNOUNCE.search(self.log_text())
            if found:
                self.origin = found.group(1)
                return self.origin
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        lines = self.log_text().strip().splitlines()
        said = lines[-1] if lines else "nothing"
        raise ServeError(
            f"the reference server did not announce its address within "
            f"{self.startup_timeout:g} s (last line: {said})"
        )

    def log_text(self) -> str:
        """What the server printed so far."""
        try:
            return self.log.read_text("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate the server we started (by its own pid) and wait for it."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)

    def __enter__(self) -> ServedReference:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
