"""Running ``certify-proxy`` against one of our proxies, as a user would: the proxy served on
loopback by the kit's EmbeddedServer (in this process), the command in a subprocess, the
verdicts read back from the two-sided report.json."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.reference.server import EmbeddedServer
from tests.proxies.faithful import Proxy

__all__ = ["Certification", "certify", "free_port"]

#: Far above a two-sided run's minutes: only a hang reaches it.
RUN_TIMEOUT = 1500


@dataclass
class Certification:
    """What one certify-proxy run concluded."""

    code: int
    output: str
    report: dict[str, Any] | None
    report_dir: Path

    def standing(self, *standings: str) -> set[str]:
        """The requirement IDs with one of these standings."""
        rows = self.report["requirements"] if self.report else []
        return {row["id"] for row in rows if row["standing"] in standings}

    def rows(self) -> dict[str, dict[str, Any]]:
        return {row["id"]: row for row in (self.report or {}).get("requirements", [])}

    def undecided(self) -> set[str]:
        """Requirements an error left unjudged."""
        return {
            rid
            for rid, row in self.rows().items()
            if row["standing"] == "not-judged" and "error" in (row["upstream"], row["proxy"])
        }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def certify(
    build: Callable[..., Proxy],
    workdir: Path,
    *,
    modules: Sequence[str] | None = None,
    upstream: str | None = None,
    recording: Path | None = None,
    secret: str | None = None,
    args: Sequence[str] = (),
    pytest_args: Sequence[str] = (),
) -> Certification:
    """Serve ``build(upstream, secret=...)`` and certify it. Without ``upstream`` the command
    serves (and records) the upstream itself on a free port the proxy forwards to. ``modules``:
    the suite modules run besides test_proxy (None: the whole suite)."""
    secret = secret or "proxy-check-" + secrets.token_urlsafe(12)
    port = free_port()
    forwards_to = upstream or f"http://127.0.0.1:{port}/v3/directline"
    report_dir = workdir / "reports"
    with EmbeddedServer(app=build(forwards_to, secret=secret)) as server:
        command = [
            sys.executable, "-m", "conformance.cli", "certify-proxy",
            "--target", str(server.base_url), "--report-dir", str(report_dir),
            "--shrink", "no", "-q", *args,
        ]  # fmt: skip
        if upstream is None:
            command += ["--upstream-port", str(port)]
        else:
            command += ["--upstream", upstream]
            if recording is not None:
                command += ["--recording", str(recording)]
        if modules is not None:
            command += ["-k", " or ".join(["test_proxy", *modules])]
        else:
            command += ["-n", "2"]
        if pytest_args:
            command += ["--", *pytest_args]
        environment = {k: v for k, v in os.environ.items() if not k.startswith("DIRECTLINE_")}
        environment["DIRECTLINE_SECRET"] = secret
        completed = subprocess.run(
            command,
            env=environment,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            cwd=workdir,
            check=False,
        )
    path = report_dir / "report.json"
    report = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    return Certification(
        completed.returncode, completed.stdout + completed.stderr, report, report_dir
    )
