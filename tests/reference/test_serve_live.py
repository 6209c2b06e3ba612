"""`directline-conformance serve --behave live` and the transient-fault flags, as a user runs
them: the live defaults unless given, one-line errors, every flag explained."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

SECRET = "serve-live-secret"


def environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("DIRECTLINE_")}


@contextmanager
def serving(*args: str) -> Iterator[tuple[str, list[str]]]:
    """Run `serve` on a free loopback port; yield its base URL and its first output lines."""
    command = [sys.executable, "-m", "conformance.cli", "serve", "--port", "0", *args]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment(),
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline().strip()
        assert first, process.stderr.read() if process.stderr else "no output"
        lines = [first]
        if "--transient-errors" in args:
            lines.append(process.stdout.readline().strip())
        yield first.split(": ", 1)[1], lines
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=5)


def start(base_url: str) -> dict:
    response = httpx.post(
        base_url + "/conversations",
        headers={"Authorization": f"Bearer {SECRET}"},
        trust_env=False,
        timeout=5,
    )
    assert response.status_code == 201, response.text
    return response.json()


def run_serve(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "conformance.cli", "serve", "--port", "0", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env=environment(),
        check=False,
    )


def test_serve_behave_live_uses_the_live_defaults():
    with serving("--behave", "live", "--secret", SECRET) as (base_url, lines):
        assert lines[0].startswith("Direct Line 3.0 live stand-in: http://127.0.0.1:")
        answer = start(base_url)
        assert answer["expires_in"] == 3600
        assert answer["conversationId"].endswith("-us")
        assert "?watermark=-&t=" in answer["streamUrl"]
        eoc = {"type": "endOfConversation", "from": {"id": "user1"}}
        message = {"type": "message", "from": {"id": "user1"}, "text": "after"}
        path = f"{base_url}/conversations/{answer['conversationId']}/activities"
        headers = {"Authorization": f"Bearer {SECRET}"}
        for activity in (eoc, message):  # forward reading: the end is inert
            sent = httpx.post(path, json=activity, headers=headers, trust_env=False, timeout=5)
            assert sent.status_code == 200, sent.text


def test_explicit_values_win_over_the_live_defaults():
    args = ("--behave", "live", "--secret", SECRET, "--token-lifetime", "120")
    with serving(*args) as (base_url, _lines):
        assert start(base_url)["expires_in"] == 120


def test_serve_announces_and_injects_transient_faults():
    args = ("--secret", SECRET, "--transient-errors", "1", "--transient-seed", "3")
    with serving(*args) as (base_url, lines):
        assert lines[0].startswith("Direct Line 3.0 reference server: ")
        assert lines[1] == (
            "Transient errors: 100% of polling and reconnect GETs answer 503 once (seed 3)"
        )
        answer = start(base_url)
        url = f"{base_url}/conversations/{answer['conversationId']}/activities"
        headers = {"Authorization": f"Bearer {SECRET}"}
        codes = [
            httpx.get(url, headers=headers, trust_env=False, timeout=5).status_code
            for _ in range(2)
        ]
        assert codes == [503, 200]


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (("--behave", "live", "--end-of-conversation", "refuse"), "forwards endOfConversation"),
        (("--transient-errors", "1.5"), "must be a fraction from 0 to 1"),
        (("--transient-errors", "often"), "is not a number"),
        (("--transient-seed", "x"), "invalid int value"),
        (("--behave", "hosted"), "invalid choice"),
    ],
)
def test_bad_serve_options_are_one_line_errors(args, complaint):
    result = run_serve(*args)
    assert result.returncode == 2
    assert complaint in result.stderr
    assert "Traceback" not in result.stderr


def test_every_serve_flag_has_help_text():
    from conformance.cli import build_parser

    parser = build_parser()
    serve = next(
        action.choices["serve"]
        for action in parser._actions
        if getattr(action, "choices", None) and "serve" in action.choices
    )
    flags = [a for a in serve._actions if a.option_strings and a.dest != "help"]
    assert {a.dest for a in flags} >= {"behave", "transient_errors", "transient_seed"}
    undocumented = [a.option_strings[0] for a in flags if not a.help]
    assert undocumented == []
