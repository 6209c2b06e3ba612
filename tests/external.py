"""Helpers for the tests that use real outside software (the official JavaScript client, a
bot on the Bot Framework SDK): one-time installs shared by pytest-xdist workers, free ports.

Each xdist worker is a session of its own, so "install once per session" needs an
inter-process lock, or four workers would run `npm ci` into the same folder at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["free_port", "install_lock"]


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
