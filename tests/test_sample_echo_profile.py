"""A profile can describe a bot that is not the kit's: the whole catalog, certified through the
reference server (``serve --bot-url``) forwarding to Microsoft's sample echo bot ("Echo: {text}",
no replyToId, a greeting, no misbehaviour triggers), described by tests/bots/sample-echo.toml.

Every rule must end in a verdict (pass, or not-applicable where the bot lacks what the rule
needs), never in ``error``: a test that waits for a reply knows the reply by what the profile
says. Skipped with the reason when the SDK's virtualenv cannot be built (tests/bots/sdk.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.reference import EmbeddedServer, ServerConfig
from tests.bots.sdk import sample_echo_bot

pytestmark = pytest.mark.integration

SECRET = "sample-echo-profile-secret"
PROFILE = Path(__file__).parent / "bots" / "sample-echo.toml"


def test_sample_echo_bot_is_certified_with_no_error(tmp_path: Path) -> None:
    with sample_echo_bot() as bot_url:
        config = ServerConfig(  # at the profile's timings
            secret=SECRET, stream_window=6, token_lifetime=20, bot_timeout=8, bot_url=bot_url
        )
        with EmbeddedServer(config) as server:
            environment = {k: v for k, v in os.environ.items() if not k.startswith("DIRECTLINE_")}
            environment["DIRECTLINE_SECRET"] = SECRET
            result = subprocess.run(
                [sys.executable, "-m", "conformance.cli", "run", "--target",
                 str(server.base_url), "--profile", str(PROFILE), "--report-dir",
                 str(tmp_path / "report"), "-q"],
                capture_output=True, text=True, timeout=600, env=environment, check=False,
            )  # fmt: skip
    report = json.loads((tmp_path / "report" / "report.json").read_text(encoding="utf-8"))
    verdicts = {r["id"]: r["verdict"] for r in report["requirements"]}
    errors = sorted(rid for rid, verdict in verdicts.items() if verdict == "error")
    assert errors == [], result.stdout[-6000:]
    assert result.returncode == 0, result.stdout[-6000:]
    # the bot's replies were judged by their text: the reply rules ran, replyToId's did not
    assert verdicts["DL-POLL-007"] == "pass"
    assert verdicts["DL-BOT-001"] == "not-applicable"
    assert verdicts["DL-START-009"] == "pass"  # the greeting, known by its text
