"""Certifying partial emulators: a profile that says what is missing, timeouts that hold against a
target that hangs, and a target that dies mid-run reported once rather than as a cascade."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from conformance.reference.config import ServerConfig
from conformance.reference.server import EmbeddedServer
from tests.partial import PARTIAL_PROFILE, hanging, partial_emulator

pytestmark = pytest.mark.integration

SECRET = "partial-emulator-secret"


def config(**changes: Any) -> ServerConfig:
    fields: dict[str, Any] = {
        "secret": SECRET,
        "stream_window": 4.0,
        "token_lifetime": 6,
        "bot_timeout": 1.0,
        "end_of_conversation": "forward",
        **changes,
    }
    return ServerConfig(**fields)


def certify(
    base_url: str, profile: Path, report: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DIRECTLINE_")}
    environment["DIRECTLINE_SECRET"] = SECRET
    return subprocess.run(
        [sys.executable, "-m", "conformance.cli", "run", "-n", "0", "-q", "--target", base_url,
         "--profile", str(profile), "--report-dir", str(report), *extra],
        capture_output=True, text=True, timeout=300, env=environment, check=False,
    )  # fmt: skip


def verdicts(report: Path) -> dict[str, str]:
    data = json.loads((report / "report.json").read_text())
    return {r["id"]: r["verdict"] for r in data["requirements"]}


def test_partial_emulator_is_certified_with_a_profile(tmp_path: Path) -> None:
    profile = tmp_path / "partial.toml"
    profile.write_text(PARTIAL_PROFILE.format(request_timeout=5))
    with EmbeddedServer(app=partial_emulator(config())) as server:
        result = certify(f"{server.origin}/directline", profile, tmp_path / "report")
    assert result.returncode == 0, result.stdout[-4000:]
    found = verdicts(tmp_path / "report")
    assert found["DL-START-003"] == "not-applicable"  # no tokens
    assert found["DL-STREAM-001"] == "not-applicable"  # no stream
    assert found["DL-AUTH-001"] == "not-applicable"  # no auth
    assert found["DL-START-001"] == "pass"
    assert found["DL-BOT-001"] == "pass"
    assert "fail" not in found.values() and "error" not in found.values()


def test_a_route_that_hangs_gets_no_answer_within_the_timeout(tmp_path: Path) -> None:
    profile = tmp_path / "hang.toml"
    profile.write_text(
        PARTIAL_PROFILE.format(request_timeout=1).replace("[features]", "[features]\nupload = true")
    )
    app = hanging(partial_emulator(config()), path_suffixes=("/upload",), seconds=30)
    started = time.monotonic()
    with EmbeddedServer(app=app) as server:
        result = certify(
            f"{server.origin}/directline", profile, tmp_path / "report", "-k", "upload or errors"
        )
    found = verdicts(tmp_path / "report")
    assert found["DL-UPLOAD-001"] == "error"
    assert "no answer within 1 s" in result.stdout
    assert found["DL-ERR-008"] == "fail"  # the errors module sends an upload too
    assert time.monotonic() - started < 120


def test_a_target_that_dies_is_reported_once(tmp_path: Path) -> None:
    profile = tmp_path / "partial.toml"
    profile.write_text(PARTIAL_PROFILE.format(request_timeout=5))
    holder: dict[str, EmbeddedServer] = {}
    served = 0

    async def dies_after_a_few(scope: dict[str, Any], receive: Any, send: Any) -> None:
        nonlocal served
        if scope["type"] == "http":
            served += 1
            if served == 12:
                threading.Thread(target=holder["server"].stop, kwargs={"drain": False}).start()
            if served >= 12:
                # dead from here on: no answer while the server goes down (a fast client
                # would otherwise be answered until uvicorn notices it is to stop)
                await asyncio.Event().wait()
        await inner(scope, receive, send)

    inner = partial_emulator(config())
    server = EmbeddedServer(app=dies_after_a_few)
    holder["server"] = server
    server.start()
    try:
        result = certify(
            f"{server.origin}/directline", profile, tmp_path / "report",
            "-k", "start_conversation or receive_polling",
        )  # fmt: skip
    finally:
        server.stop()
    assert result.returncode == 2, result.stdout[-3000:]
    assert result.stdout.count("the run stopped early: the target is not answering") == 1
    data = json.loads((tmp_path / "report" / "report.json").read_text())
    assert data["stopped"].startswith("the target is not answering")
    not_run = [t for t in data["tests"] if "not run: the target is not answering" in t["message"]]
    assert len(not_run) >= 5
    assert {t["outcome"] for t in not_run} == {"error"}
