"""End to end: the reference server forwards to `directline-conformance bot`, and the suite's bot
tests pass through it under the `reference` profile, as they do with the server's own echo bot.

This is what a user does with an emulator or a proxy: the shipped bot behind a Direct Line
channel, the shipped suite in front of it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.reference import EmbeddedServer, ServerConfig
from tests.emulators.harness import REPO, Process

pytestmark = pytest.mark.integration

SECRET = "testbot-forwarding-secret"
BOT_TIMEOUT = 2.0
SLOW_SECONDS = 3.0
"""Past the server's bot timeout: the slow trigger's send answers 504, the echo comes later."""
SELECTION = "bot_round_trip or bot_cards or bot_greeting or after_bot_end or after_its_end"
REQUIREMENTS = {
    "DL-BOT-001": "pass",
    "DL-BOT-002": "pass",
    "DL-BOT-003": "pass",
    "DL-BOT-004": "pass",
    "DL-BOT-005": "pass",
    "DL-ACT-010": "pass",
    "DL-START-009": "pass",
    "DL-EOC-004": "pass",
    "DL-EOC-009": "pass",
}
"""Every bot feature of the test bot, judged through the channel (cards, greeting, end too)."""


@pytest.fixture
def forwarding_server() -> Iterator[str]:
    """A reference server with the shipped test bot behind it; yields the Direct Line base URL."""
    bot = Process(
        [sys.executable, "-m", "conformance.cli", "bot", "--port", "0",
         "--slow-seconds", str(SLOW_SECONDS), "--parent", str(os.getpid())]
    )  # fmt: skip
    try:
        config = ServerConfig(secret=SECRET, bot_url=bot.ready_url(), bot_timeout=BOT_TIMEOUT)
        with EmbeddedServer(config) as server:
            assert server.base_url is not None
            yield server.base_url
    finally:
        bot.stop()
    assert not any("Traceback" in line for line in bot.lines), bot.lines


def test_the_suite_passes_the_bot_tests_through_the_test_bot(
    forwarding_server: str, tmp_path: Path
) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DIRECTLINE_")}
    environment["DIRECTLINE_SECRET"] = SECRET
    result = subprocess.run(
        [sys.executable, "-m", "conformance.cli", "run", "-n", "0", "-q",
         "--target", forwarding_server, "--profile", "reference",
         "--report-dir", str(tmp_path), "-k", SELECTION],
        capture_output=True, text=True, timeout=300, env=environment, cwd=str(REPO), check=False,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    report = json.loads((tmp_path / "report.json").read_text())
    verdicts = {r["id"]: r["verdict"] for r in report["requirements"]}
    assert {rid: verdicts.get(rid) for rid in REQUIREMENTS} == REQUIREMENTS
    assert SECRET not in output
