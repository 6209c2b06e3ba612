"""The official Bot Framework SDK for Python in a test-only virtualenv, and bots run from it.

The SDK (botbuilder-core / botbuilder-integration-aiohttp 4.17.1) pins its own aiohttp, msrest
and msal, so it cannot share the kit's environment: it lives in .tox/sdkbot-venv, built once
(under an inter-process lock, for pytest-xdist) and skipped with the reason when it cannot be
installed. Tests use `sdk_python()` for the interpreter and `sample_echo_bot()` for Microsoft's
sample echo bot (tests/bots/sample_echo_bot.py) on a free loopback port.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.emulators.harness import Process
from tests.external import install_lock

__all__ = ["REQUIREMENTS", "VENV", "sample_echo_bot", "sdk_python"]

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
VENV = ROOT / ".tox" / "sdkbot-venv"
REQUIREMENTS = ["botbuilder-core==4.17.1", "botbuilder-integration-aiohttp==4.17.1"]
SUPPORTED = ((3, 9), (3, 12))
"""Pythons the SDK 4.17 works on here (aiohttp >= 3.10; its metadata declares no bound)."""
PIP_OPTIONS = ["--disable-pip-version-check"]
INSTALL_TIMEOUT = 300
SAMPLE_SCRIPT = HERE / "sample_echo_bot.py"
START_TIMEOUT = 30.0


def _interpreter() -> str | None:
    """A base Python in SUPPORTED: this one, else one from pyenv (3.12, then 3.11)."""
    low, high = SUPPORTED
    if low <= sys.version_info[:2] <= high:
        return getattr(sys, "_base_executable", sys.executable)
    pyenv = shutil.which("pyenv")
    if pyenv is None:
        return None
    versions = subprocess.run(
        [pyenv, "versions", "--bare"], capture_output=True, text=True, timeout=30, check=False
    ).stdout.split()
    for minor in (12, 11):
        matching = [v for v in versions if v.startswith(f"3.{minor}.")]
        if matching:
            prefix = subprocess.run(
                [pyenv, "prefix", matching[-1]], capture_output=True, text=True, timeout=30
            ).stdout.strip()
            if prefix:
                return str(Path(prefix) / "bin" / "python3")
    return None


def sdk_python() -> str:
    """The Python of the SDK's virtualenv, built once; pytest.skip with the reason when it
    cannot be built."""
    python = VENV / "bin" / "python"
    stamp = VENV / ".installed"
    wanted = " ".join(REQUIREMENTS)
    with install_lock(VENV):
        if stamp.is_file() and stamp.read_text() == wanted and python.exists():
            return str(python)
        base = _interpreter()
        if base is None:
            pytest.skip(f"no Python {SUPPORTED[0]}..{SUPPORTED[1]} for the Bot Framework SDK")
        shutil.rmtree(VENV, ignore_errors=True)
        try:
            subprocess.run([base, "-m", "venv", str(VENV)], check=True, timeout=120)
            done = subprocess.run(
                [str(python), "-m", "pip", "install", "--quiet", *PIP_OPTIONS, *REQUIREMENTS],
                capture_output=True,
                text=True,
                timeout=INSTALL_TIMEOUT,
                check=False,
            )
        except (subprocess.SubprocessError, OSError) as exc:
            pytest.skip(f"could not build the SDK virtualenv: {exc!r}")
        if done.returncode != 0:
            pytest.skip(f"pip could not install the SDK (no index?): {done.stderr[-600:]}")
        stamp.write_text(wanted)
    return str(python)


@contextlib.contextmanager
def sample_echo_bot() -> Iterator[str]:
    """Microsoft's sample echo bot on the SDK, on a free 127.0.0.1 port; yields its messaging
    endpoint (``http://127.0.0.1:P/api/messages``) and stops it (its process group) after.

    Skips the test when the SDK's virtualenv cannot be built.
    """
    python = sdk_python()
    environment = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    bot = Process(
        [python, str(SAMPLE_SCRIPT), "--port", "0", "--parent", str(os.getpid())], env=environment
    )
    try:
        yield bot.ready_url(START_TIMEOUT)
    finally:
        bot.stop()
