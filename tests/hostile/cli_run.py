"""Run the kit's CLI as a user would, and measure what a hostile target made it do.

The CLI runs in its own process group with its output going to files (a kit that dumps a 50 MB
body must not take the test's memory with it). It is reaped with ``os.wait4``, whose resource
usage is that process's and its reaped descendants' (the pytest-xdist workers) alone: the
peak RSS of this run, not of whatever ran earlier in the test process. A run past its timeout
is killed with its whole process group, and so is anything it leaves behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

__all__ = ["CliRun", "cli_environment", "run_cli"]

MEMORY_CAP_MB = 1024
"""A run whose process holds more than this is killed at once (the tests' bound is lower)."""
READ_LIMIT = 2 * 1024 * 1024
"""Bytes of each stream kept for the checks (the size is measured on the whole stream)."""


@dataclass(frozen=True)
class CliRun:
    """What one CLI run did."""

    args: tuple[str, ...]
    #: exit status, or None when it was killed (see killed_for)
    returncode: int | None
    seconds: float
    stdout: str
    stderr: str
    #: bytes written to stdout and stderr together
    output_bytes: int
    #: peak resident set size of the CLI or any of its descendants, in MB
    max_rss_mb: float
    #: why the run was killed (None: it ended by itself)
    killed_for: str | None = None

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def summary(self, lines: int = 4) -> str:
        """Exit, time, size, memory and the last lines: the observation a test reports."""
        status = f"killed: {self.killed_for}" if self.killed_for else f"exit {self.returncode}"
        tail = [line for line in self.output.splitlines() if line.strip()][-lines:]
        shown = "\n    ".join(line[:300] for line in tail)
        return (
            f"{status}, {self.seconds:.1f} s, {self.output_bytes} bytes of output, "
            f"peak RSS {self.max_rss_mb:.0f} MB; last lines:\n    {shown}"
        )


def cli_environment(secret: str | None, **extra: str) -> dict[str, str]:
    """This environment without any DIRECTLINE_* setting, plus the given secret."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DIRECTLINE_")}
    if secret is not None:
        environment["DIRECTLINE_SECRET"] = secret
    environment.update(extra)
    return environment


def run_cli(
    args: Sequence[str],
    *,
    env: Mapping[str, str],
    timeout: float,
    cwd: str | Path | None = None,
    stdout: int | None = None,
    memory_cap_mb: int = MEMORY_CAP_MB,
) -> CliRun:
    """Run ``python -m conformance.cli ARGS``; never longer than ``timeout`` seconds.

    A run is killed (with its process group) past ``timeout`` seconds or as soon as one of
    its processes holds more than ``memory_cap_mb``: a kit reading an endless body must not
    take the machine down with it. ``stdout`` may be a file descriptor to write to instead of
    a captured file (a pipe whose reader is gone, say); then the returned stdout is empty."""
    command = [sys.executable, "-m", "conformance.cli", *args]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out if stdout is None else stdout,
            stderr=err,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
        )
        returncode, rss_kb, killed_for = _reap(process, timeout, memory_cap_mb * 1024)
        seconds = time.monotonic() - started
        return CliRun(
            args=tuple(args),
            returncode=returncode,
            seconds=seconds,
            stdout=_read(out),
            stderr=_read(err),
            output_bytes=_size(out) + _size(err),
            max_rss_mb=rss_kb / 1024,
            killed_for=killed_for,
        )


def _reap(
    process: subprocess.Popen[bytes], timeout: float, memory_cap_kb: int
) -> tuple[int | None, int, str | None]:
    """Wait for the process, killing its group at the timeout or when one of its processes
    holds more than the memory cap; exit status, peak RSS (KB) and why it was killed.

    The exit is first seen without reaping (WNOWAIT), so the group is still ours when what the
    CLI left behind is killed; then wait4 reaps it and gives its resource usage. RSS is also
    sampled while it runs: a worker killed with its group is never reaped by the CLI."""
    deadline = time.monotonic() + timeout
    killed_for: str | None = None
    sampled = 0
    while os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
        biggest = max(_group_rss_kb(process.pid), default=0)
        sampled = max(sampled, biggest)
        if biggest > memory_cap_kb:
            killed_for = f"one of its processes held {biggest // 1024} MB"
        elif time.monotonic() > deadline:
            killed_for = f"still running after {timeout:g} s"
        if killed_for:
            _kill_group(process.pid)
            break
        time.sleep(0.1)
    _kill_group(process.pid)  # workers left behind by a CLI that exited first
    _pid, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)  # so Popen never waits again
    returncode = None if killed_for else process.returncode
    return returncode, max(sampled, usage.ru_maxrss), killed_for


def _group_rss_kb(pgid: int) -> list[int]:
    """Resident set sizes (KB) of the live processes in the process group."""
    page_kb = os.sysconf("SC_PAGE_SIZE") // 1024
    sizes = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[2]) != pgid:
                continue
            sizes.append(int(Path(f"/proc/{entry}/statm").read_text().split()[1]) * page_kb)
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
    return sizes


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # nothing left in the group
        os.killpg(pgid, signal.SIGKILL)


def _size(stream: IO[bytes]) -> int:
    stream.seek(0, os.SEEK_END)
    return stream.tell()


def _read(stream: IO[bytes]) -> str:
    """The first READ_LIMIT bytes and, if there is more, the last READ_LIMIT bytes."""
    size = _size(stream)
    stream.seek(0)
    head = stream.read(READ_LIMIT)
    if size > 2 * READ_LIMIT:
        stream.seek(size - READ_LIMIT)
        head += b"\n[...]\n" + stream.read()
    elif size > READ_LIMIT:
        head += stream.read()
    return head.decode("utf-8", errors="replace")
