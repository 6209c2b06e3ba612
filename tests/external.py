"""Helpers for the tests that use real outside software (the official JavaScript client, a
bot on the Bot Framework SDK) or run the kit's own server as a user would: one-time installs
shared by pytest-xdist workers, free ports, `directline-conformance serve` in a process of its
own.

Each xdist worker is a session of its own, so "install once per session" needs an
inter-process lock, or four workers would run `npm ci` into the same folder at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

__all__ = ["free_port", "install_lock", "serve_process"]


@contextlib.contextmanager
def install_lock(target: Path) -> Iterator[None]:
    """Hold an exclusive lock named after `target` (outside the tree, so nothing to ignore)."""
    digest = hashlib.sha256(str(target.resolve()).encode()).hexdigest()[:16]
    path = Path(tempfile.gettempdir()) / f"directline-conformance-{digest}.lock"
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def free_port() -> int:
    """A loopback port nobody listens on right now (for a bot that is down, or restarts)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def serve_process(arguments: Sequence[str], *, writes: Path | None = None) -> Iterator[str]:
    """``directline-conformance serve ARGUMENTS`` on a free loopback port, in a process group
    of its own (stopped whole afterwards); yields its base URL once it listens and, when
    ``writes`` is given, once that file exists."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "conformance.cli", "serve", "--port", str(port), *arguments],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while (writes is not None and not writes.is_file()) or not _listening(port):
            assert process.poll() is None, "`serve` exited at start-up"
            assert time.monotonic() < deadline, "`serve` did not listen within 20 s"
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/v3/directline"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
        return True
    return False
