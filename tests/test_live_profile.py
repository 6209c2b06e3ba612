"""Dry run of the live profile: the hosted service cannot be reached from here, so the reference
server is started with the live profile's timings (forward reading, 3600 s tokens, 60 s stream
window) and certified with ``--profile live``.

How the dry run treats live.expect.toml, honestly: those entries are failures of the *real*
service; the reference server passes them, which strict expectations report as unexpected
passes (exit 1). So the main dry run gives an empty expectations file (``--expect``), and a
second, short run with the shipped file checks that exactly the listed IDs come back as
unexpected passes and nothing else fails. Against the live limits (2 requests/s) the whole
suite takes many minutes, so CI runs the start and end-of-conversation modules;
docs/targets.md gives the full command.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from conformance.catalog import load_catalog
from conformance.expectations import load_expectations
from conformance.profile import companion_expectations, load_profile

SECRET = "live-dry-run-secret"
#: The live profile's limits (2 requests/s, 40 conversations) make a whole run take many
#: minutes, as they should on the shared service; CI runs the modules that show the profile
#: and the endOfConversation reading at work. The full dry run is run by hand (see docs).
DRY_RUN_SELECTION = "(start_conversation or end_conversation) and not slow"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def live_like_reference() -> Iterator[str]:
    """The reference server with the live profile's timings, in its own process group."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "conformance.cli", "serve", "--port", str(port), "--secret",
         SECRET, "--end-of-conversation", "forward", "--token-lifetime", "3600",
         "--stream-window", "60"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            assert process.poll() is None, "the reference server exited at start-up"
            time.sleep(0.1)
        else:
            raise AssertionError("the reference server did not listen within 20 s")
        yield f"http://127.0.0.1:{port}/v3/directline"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def run_live(target: str, report: Path, *extra: str) -> tuple[int, str, dict]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DIRECTLINE_")}
    environment["DIRECTLINE_SECRET"] = SECRET
    result = subprocess.run(
        [sys.executable, "-m", "conformance.cli", "run", "--profile", "live", "--target", target,
         "--report-dir", str(report), "-q", *extra],
        capture_output=True, text=True, timeout=300, env=environment, check=False,
    )  # fmt: skip
    return result.returncode, result.stdout, json.loads((report / "report.json").read_text())


def test_live_profile_dry_run_against_the_reference(tmp_path: Path) -> None:
    empty = tmp_path / "none.expect.toml"
    empty.write_text('target = "reference server as a stand-in for the live service"\n')
    started = time.monotonic()
    with live_like_reference() as target:
        code, output, report = run_live(
            target, tmp_path / "report", "--expect", str(empty), "-k", DRY_RUN_SELECTION
        )
    print(f"live dry run: {time.monotonic() - started:.1f} s")
    assert code == 0, output[-5000:]
    assert report["profile"]["name"] == "live"
    assert report["profile"]["end_of_conversation"] == "forward"
    assert "profile live" in output and "endOfConversation reading forward" in output
    verdicts = {r["id"]: r["verdict"] for r in report["requirements"]}
    assert verdicts["DL-EOC-007"] == "pass"  # the forward reading was exercised
    assert verdicts["DL-EOC-003"] == "not-applicable"  # the refuse reading was not


def test_shipped_live_expectations_are_exactly_the_unexpected_passes(tmp_path: Path) -> None:
    listed = load_expectations(companion_expectations(load_profile("live")), load_catalog())
    with live_like_reference() as target:
        code, output, report = run_live(
            target, tmp_path / "report", "-k", "over_256k or content_url_serves"
        )
    unexpected = {r["id"] for r in report["requirements"] if r["verdict"] == "unexpected-pass"}
    failed = {r["id"] for r in report["requirements"] if r["verdict"] in ("fail", "error")}
    assert code == 1, output[-3000:]
    assert unexpected == set(listed) and not failed, output[-3000:]
