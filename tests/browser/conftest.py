"""Fixtures of the browser tests: Web Chat installed from npm, one headless Chromium per
module, and evidence kept when a test fails.

On failure every page the test opened leaves a screenshot, its browser console and its
transcript in `--browser-artifacts DIR` (or $DIRECTLINE_BROWSER_ARTIFACTS), else in the
test's `tmp_path`; the report names the files.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.external import install_lock

from .browser import Chat, launch, open_chat, unavailable
from .pageserver import HERE, webchat_bundle

INSTALL_TIMEOUT = 300


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--browser-artifacts",
        metavar="DIR",
        default=None,
        help="browser tests: keep screenshots, console logs and transcripts of failures here",
    )


def _installed_matches_lock() -> bool:
    """node_modules holds what package-lock.json pins (npm's hidden lock file lists what was
    installed; optional packages for other platforms are left out by npm)."""
    hidden = HERE / "node_modules" / ".package-lock.json"
    if not hidden.is_file():
        return False
    installed = json.loads(hidden.read_text())["packages"]
    pinned = json.loads((HERE / "package-lock.json").read_text())["packages"]
    for name, entry in pinned.items():
        if not name:
            continue
        there = installed.get(name)
        if there is None:
            if not entry.get("optional"):
                return False
        elif there.get("version") != entry.get("version"):
            return False
    return all(name in pinned for name in installed)


@pytest.fixture(scope="session")
def webchat_installed() -> Path:
    """Web Chat's bundle, installed once from the lock file (skip when npm cannot)."""
    npm = shutil.which("npm")
    with install_lock(HERE):
        if not _installed_matches_lock():
            if npm is None:
                pytest.skip("npm is needed to install botframework-webchat (tests/browser)")
            try:
                done = subprocess.run(
                    [
                        npm,
                        "ci",
                        "--no-audit",
                        "--no-fund",
                        "--ignore-scripts",
                        "--prefix",
                        str(HERE),
                    ],
                    capture_output=True,
                    text=True,
                    timeout=INSTALL_TIMEOUT,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                pytest.skip(f"npm ci did not finish within {INSTALL_TIMEOUT} s (no registry?)")
            if done.returncode != 0:
                pytest.skip(f"npm ci failed (no registry reachable?): {done.stderr[-600:]}")
    bundle = webchat_bundle()
    if not bundle.is_file():
        pytest.fail(f"npm ci ran but {bundle} is missing")
    return bundle


@pytest.fixture(scope="module")
def browser(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The system Chromium, headless, with Web Chat installed (skip, with the reason, where
    either cannot be had: Chromium is looked for first, so no npm install is wasted)."""
    reason = unavailable()
    if reason:
        pytest.skip(reason)
    request.getfixturevalue("webchat_installed")
    with launch() as running:
        yield running


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """When a browser test fails, save what its pages show while they are still open."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    chats: list[Chat] | None = getattr(item, "browser_chats", None)
    if report.when != "call" or not report.failed or not chats:
        return
    directory = _artifacts_dir(item)
    saved: list[str] = []
    for index, chat in enumerate(chats):
        saved += [str(path) for path in chat.save(directory, f"page{index + 1}")]
    report.sections.append(("browser artifacts", "\n".join(saved)))


def _artifacts_dir(item: pytest.Item) -> Path:
    chosen = item.config.getoption("--browser-artifacts", default=None) or os.environ.get(
        "DIRECTLINE_BROWSER_ARTIFACTS"
    )
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", item.name)
    if chosen:
        return Path(chosen) / name
    tmp_path: Path = item.funcargs["tmp_path"]  # type: ignore[attr-defined]
    return tmp_path / "browser-artifacts"


@pytest.fixture
def chat_in(
    request: pytest.FixtureRequest, browser: Any, tmp_path: Path
) -> Iterator[Callable[[str, str], Chat]]:
    """`chat_in(page_origin, mode)`: a new Web Chat page, kept for the failure evidence and
    closed after the test."""
    chats: list[Chat] = []
    request.node.browser_chats = chats
    with ExitStack() as stack:

        def open_one(page_origin: str, mode: str) -> Chat:
            chat = stack.enter_context(open_chat(browser, page_origin, mode))
            chats.append(chat)
            return chat

        yield open_one
